/*
 * start_clean: `run --no-send`, `send --no-send` and `subscribers import
 * --start-clean`: the readers who never had a digest start clean instead
 * of getting one (store/start.h has the rule: what the store holds now
 * counts as seen, their current slot as served). Readers with a history
 * (a digest recorded or pending, an earlier start) are left alone, so
 * the same command is right for a new site and for a list imported onto
 * a live one.
 *
 * The readers come from the send's walk (deliver.h's subscriber source:
 * the roster, or a dry run's overlay of the file), and each one's slot is
 * the one the send engine would serve now (td_schedule_for,
 * td_schedule_due): so the next send finds them not due until their next
 * slot, by its own rule. A real start is one store transaction for every
 * reader (a crash starts all of them or none; BEGIN IMMEDIATE, so the
 * public server's writes wait for it as for an import); a dry run reads
 * one snapshot and writes nothing. Nothing is sent and no delivery is
 * recorded; a real start writes a row of the run history (store/runs.h)
 * in the same transaction, named `command`, with the readers walked
 * (subscribers), the site's slot and a note of how many started and how
 * many were left alone, so the desk's history shows it.
 */
#ifndef TAGDIGEST_START_CLEAN_H
#define TAGDIGEST_START_CLEAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "tagdigest/core/err.h"
#include "tagdigest/deliver/deliver.h"
#include "tagdigest/schedule/schedule.h"
#include "tagdigest/store/store.h"

struct td_start_summary {
	size_t readers;          /* walked */
	size_t started;          /* started clean (dry run: would be) */
	size_t left_alone;       /* with a history: unchanged */
	int64_t upto_seq;        /* the store's counter: what counts as seen */
	time_t slot;             /* the site's slot at or before now */
	time_t next_slot;        /* the site's next slot */
};

/* site: the site's [schedule] (each reader's own choices go over it);
 * command: the history's name for it ("run --no-send", "send --no-send",
 * "subscribers import --start-clean"). Returns 0, or the source's or the
 * store's error (nothing written). */
int td_start_clean(const struct td_schedule *site, struct td_store *st,
		   struct td_subscriber_source *src, const char *command, bool dry_run,
		   time_t now, struct td_start_summary *sum, struct td_err *err);

#endif
