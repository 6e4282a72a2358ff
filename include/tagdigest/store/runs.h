/*
 * runs: what the store remembers of past sends, for the desk's history
 * (SQL in src/store/runs.c; a PostgreSQL backend implements the same
 * calls).
 *
 * A run is one real `send` or `run` (a dry run writes nothing), or a
 * clean start (deliver/start_clean.h: "run --no-send", "send --no-send",
 * "subscribers import --start-clean"), written whole in the start's
 * transaction: the readers walked in subscribers, the other counts 0,
 * what it did in the note. The delivery engine (deliver.c) writes a
 * send's row when the walk starts, with no finish time, and completes it
 * with the send summary's counts when the run ends, whatever way it ends
 * short of being killed: a row without a finish time is a run killed
 * midway ("interrupted") or one still going. The counts have the meaning of struct td_send_summary
 * (deliver.h); the store does not include it (deliver comes after the
 * store), so they are copied into struct td_run.
 *
 * A reader's recent digests are their deliveries (sent, or skipped as
 * empty) and the digests of theirs that are not done for their slot
 * (store.h's pending table: kept for a retry, given up, refused).
 *
 * Ownership: td_runs_free and td_reader_digests_free release what the
 * readers return.
 */
#ifndef TAGDIGEST_RUNS_H
#define TAGDIGEST_RUNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "tagdigest/core/err.h"
#include "tagdigest/store/store.h"

struct td_run {
	int64_t id;
	char *command;           /* "send", "run", "run --no-send", ... */
	time_t started_at;
	time_t finished_at;      /* 0: interrupted (killed), or still going */
	size_t subscribers, not_due, sent, skipped, suppressed, tempfail,
	       permfail, deferred, expired, bounced, resent;
	time_t slot;             /* the site's slot the run served */
	double seconds;
	int exit_code;           /* td_send_run's: 0, or a sysexits code */
	int stopped_by_signal;   /* SIGTERM / SIGINT number, or 0 */
	char *note;              /* why it stopped early or failed; "" */
};

/* A run starts: its row, finish time NULL; *id names it for the finish. */
int td_store_run_begin(struct td_store *st, const char *command, time_t started_at,
		       int64_t *id, struct td_err *err);
/* A run ends: r's counts, finished_at, exit_code, stopped_by_signal and
 * note are written to row id (r->id and r->command are not read). */
int td_store_run_finish(struct td_store *st, int64_t id, const struct td_run *r,
			struct td_err *err);
/* Runs newest first, `limit` from `offset`; *total counts them all. */
int td_store_runs(struct td_store *st, size_t offset, size_t limit, struct td_run **out,
		  size_t *n, size_t *total, struct td_err *err);
void td_runs_free(struct td_run *v, size_t n);

/* One of a reader's digests. outcome: "sent", "skipped" (nothing new),
 * "retrying" (failed temporarily, kept to resend), "failed" (given up or
 * refused for its slot). */
struct td_reader_digest {
	time_t slot;
	time_t at;               /* sent or skipped; for the others, the
				  * first attempt */
	const char *outcome;     /* static */
	size_t post_count;
	char *message_id;        /* "" when skipped */
	char *detail;            /* the last error of a retry or failure; "" */
	time_t next_attempt_at;  /* retrying: when; else 0 */
};
/* The last `limit` digests of email, newest slot first. */
int td_store_reader_digests(struct td_store *st, const char *email, size_t limit,
			    struct td_reader_digest **out, size_t *n, struct td_err *err);
void td_reader_digests_free(struct td_reader_digest *v, size_t n);

#endif
