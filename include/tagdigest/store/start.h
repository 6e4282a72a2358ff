/*
 * start: a reader's clean start (rss2email's `run --no-send`): everything
 * the store holds now counts as seen and their current slot as served, so
 * their first digest comes at their next slot with only what arrives
 * after. For a new site, whose every post "arrived" at the first ingest,
 * and for a list imported onto a live site (deliver/start_clean.h walks
 * the readers; `run --no-send`, `send --no-send`, `subscribers import
 * --start-clean` call it).
 *
 * A start writes what a digest would leave (store.h: subscriber_state with
 * the watermark at upto_seq, last_slot at the slot, last_sent_at 0), so
 * the due rule (schedule.h: td_schedule_due) and the digest (digest.h)
 * treat the reader as one who has had a digest, with no case of their
 * own. It writes no delivery: nothing is counted as sent or skipped. A
 * row in clean_starts (migration 11) remembers it was a start, which
 * td_store_subscriber_state reports (started_at, started_last) so that
 * `status`, `subscribers show` and the desk say "started clean" instead
 * of calling it a digest.
 *
 * The starts also leave the site a clean-start point: the highest
 * upto_seq of them (td_store_clean_start_seq). What a start counted as
 * seen is the site's archive, not news, for a reader who joins later as
 * well: a first digest (digest.h) holds only what arrived after it.
 *
 * SQL in src/store/start.c.
 */
#ifndef TAGDIGEST_STORE_START_H
#define TAGDIGEST_STORE_START_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "tagdigest/core/err.h"
#include "tagdigest/store/store.h"

/* Whether email has a history a start must leave alone: a digest
 * recorded (sent or skipped), an earlier start, or a digest pending
 * (kept for a retry, given up or refused: store.h's td_pending). */
int td_store_has_history(struct td_store *st, const char *email, bool *has,
			 struct td_err *err);

/* Starts email clean at `at`: watermark upto_seq (td_store_max_seq()
 * when the start was decided), last_slot `slot` (the reader's slot at or
 * before `at`). A reader with a history is left alone: *started false,
 * nothing written. Idempotent; call it inside the caller's transaction
 * (td_store_begin), one for every reader started together, so a crash
 * starts all of them or none. */
int td_store_start_clean(struct td_store *st, const char *email, time_t slot,
			 int64_t upto_seq, time_t at, bool *started,
			 struct td_err *err);

/* The site's clean-start point: the highest upto_seq of every clean
 * start recorded, 0 when there was none. */
int td_store_clean_start_seq(struct td_store *st, int64_t *seq, struct td_err *err);

#endif
