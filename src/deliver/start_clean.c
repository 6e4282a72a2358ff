/*
 * start_clean.c: the readers of a walk start clean (see start_clean.h).
 */
#include "tagdigest/deliver/start_clean.h"

#include <stdlib.h>
#include <string.h>

#include "tagdigest/core/util.h"
#include "tagdigest/store/runs.h"
#include "tagdigest/store/start.h"

/* The start's row in the run history (runs.h), in its transaction: the
 * desk's /history shows it next to the sends. The counts a send has
 * do not apply; the note says what the start did. */
static int record_run(struct td_store *st, const char *command,
		      const struct td_start_summary *sum, time_t now, struct td_err *err)
{
	int64_t id;
	int rc = td_store_run_begin(st, command, now, &id, err);
	if (rc)
		return rc;
	char *note = td_xasprintf("started clean: %zu reader%s (what the store held, "
				  "up to seq %lld, counts as seen; first digest at "
				  "their next slot), %zu left alone; nothing sent",
				  sum->started, sum->started == 1 ? "" : "s",
				  (long long)sum->upto_seq, sum->left_alone);
	struct td_run r = { .finished_at = now, .subscribers = sum->readers,
			    .slot = sum->slot, .note = note };
	rc = td_store_run_finish(st, id, &r, err);
	free(note);
	return rc;
}

int td_start_clean(const struct td_schedule *site, struct td_store *st,
		   struct td_subscriber_source *src, const char *command, bool dry_run,
		   time_t now, struct td_start_summary *sum, struct td_err *err)
{
	memset(sum, 0, sizeof *sum);
	sum->slot = td_schedule_last_slot(site, now);
	sum->next_slot = td_schedule_next_slot(site, now);
	int rc = dry_run ? td_store_begin_read(st, err) : td_store_begin(st, err);
	if (rc)
		return rc;
	/* read inside the transaction: no post can arrive between this and
	 * the last reader's start (ingest takes the run lock too, but the
	 * desk's ingest button is another process) */
	sum->upto_seq = td_store_max_seq(st);
	struct td_zones *zones = td_zones_new();
	const struct td_subscriber *sub;
	while ((rc = src->next(src->ctx, &sub, err)) == 1) {
		sum->readers++;
		/* the slot the send engine would serve now: counted as served */
		struct td_schedule rs = td_schedule_for(site, &sub->prefs, zones);
		struct td_due due = td_schedule_due(&rs, &sub->prefs, sub->not_before, 0, now);
		bool started = false, had = false;
		if (dry_run)
			rc = td_store_has_history(st, sub->email, &had, err);
		else if ((rc = td_store_start_clean(st, sub->email, due.slot, sum->upto_seq,
						    now, &started, err)) == 0)
			had = !started;
		if (rc)
			break;
		if (had)
			sum->left_alone++;
		else
			sum->started++;
	}
	td_zones_free(zones);
	if (!rc && !dry_run)
		rc = record_run(st, command, sum, now, err);
	if (rc) {
		td_store_rollback(st);
		return rc;
	}
	if ((rc = td_store_commit(st, err)))
		td_store_rollback(st);
	return rc;
}
