/*
 * start_clean.c: the readers of a walk start clean (see start_clean.h).
 */
#include "tagdigest/deliver/start_clean.h"

#include <string.h>

#include "tagdigest/store/start.h"

int td_start_clean(const struct td_schedule *site, struct td_store *st,
		   struct td_subscriber_source *src, bool dry_run, time_t now,
		   struct td_start_summary *sum, struct td_err *err)
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
	if (rc) {
		td_store_rollback(st);
		return rc;
	}
	if ((rc = td_store_commit(st, err)))
		td_store_rollback(st);
	return rc;
}
