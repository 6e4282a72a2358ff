/*
 * status: what `tagdigest status` prints: the site's slot, each source's
 * health, and per reader in the store's roster (any status, in the order
 * they were added) their status, tags, schedule (their own frequency,
 * day, time and zone over the site's: td_schedule_for), watermark, last
 * digest (or "started clean" and its date while a clean start is their
 * last record: store/start.h), when the next one is due (in their zone, and in the site's)
 * and how many posts are waiting for it; then the subscriber file's rows
 * the store does not have yet (the next run's sync adds them), the
 * suppressions, and what came back by mail (bounces.h: the last 30 days'
 * events by kind, the newest events; a reader's line shows their bounce
 * score). Reads the store only; the roster is read a page at a
 * time and each line printed as it is worked out.
 */
#ifndef TAGDIGEST_STATUS_H
#define TAGDIGEST_STATUS_H

#include <stdio.h>
#include <time.h>

#include "tagdigest/compose/digest.h"
#include "tagdigest/core/err.h"
#include "tagdigest/schedule/schedule.h"
#include "tagdigest/sources/source.h"
#include "tagdigest/store/bounces.h"
#include "tagdigest/store/store.h"
#include "tagdigest/schedule/subscribers.h"

/* What the report shows besides the store; borrowed for the call. */
struct td_status_options {
	struct td_schedule schedule;  /* the slot; its zone is the one every
				       * time is shown in */
	const char *store_path;       /* named in the report */
	const struct td_source_config *sources;  /* whose health is shown */
	size_t nsources;
	struct td_digest_options digest;  /* to count the posts waiting */
	struct td_bounce_policy bounces;  /* how a bounce score decays */
};

/* subscribers_path: the editors' file, for the rows not synced yet
 * (NULL: none; a file that cannot be read is a warning, not an error). */
int td_status_print(FILE *out, const struct td_status_options *opt,
		    struct td_store *st, const char *subscribers_path, time_t now,
		    struct td_err *err);

#endif
