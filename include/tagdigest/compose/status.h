/*
 * status: what `tagdigest status` prints: the site's slot, each source's
 * health, and per reader in the store's roster (any status, in the order
 * they were added) their status, tags, schedule (their own frequency,
 * day, time and zone over the site's: td_schedule_for), last digest (or
 * "started clean" and its date while a clean start is their last record:
 * store/start.h), when the next one is due (td_schedule_due, the send
 * engine's rule: in their zone, and in the site's when theirs differs) and how many posts are
 * waiting for it; then the subscriber file's rows the store does not
 * have yet (the next run's sync adds them), the suppressions, and what
 * came back by mail (bounces.h: the last 30 days' events by kind, the
 * newest events; a reader's line shows their bounce score). Reads the
 * store only; the roster is read a page at a time and each line printed
 * as it is worked out.
 *
 * The table keeps its columns whatever the data: widths are counted in
 * terminal columns (td_utf8_width), a long tag list shows the tags that
 * fit and "+N" for the rest, other long cells are cut with an ellipsis. Only
 * an address longer than its column pushes the rest of its line.
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

/* The same as one JSON document (and a newline), streamed as the roster
 * is read. Times are UTC, "2026-12-07T07:00:00Z", null for never:
 *   now; site {schedule, timezone, last_slot, next_slot};
 *   store {path, posts, newest_seq};
 *   sources [{name, type, last_success, consecutive_failures, last_error,
 *            last_error_at, ok_since (the first success after the last
 *            error: that error is over; null while failing or unknown)}];
 *   counts {pending, active, unsubscribed, bounced, complained};
 *   readers [READER] (the store's), unsynced [READER] (the file's rows the
 *   next run adds; status "new"), subscriber_file_error (null: read);
 *   suppressions [{email, scope, reason, since, detail}];
 *   bounces {last_30_days {hard, soft, complaint, note}, events [{at,
 *            email, kind, status, reason, action, detail}]}.
 * READER: {email, name, status, tags [slug], schedule {frequency,
 *   timezone, text}, last_digest, next_due (null when due now or not
 *   due at all), due_now, retrying (next_due is the retry's), paused_until,
 *   note (what the table shows instead of a time: "due now" is due_now,
 *   else "unsubscribed", "not confirmed", "paused to ...", "given up this
 *   week", ...; null when next_due says it), posts_waiting, bounces
 *   {in_a_row, score, hard}, failed (null, or the slot's failed digest:
 *   {attempts, error})}.
 * An error midway leaves the document unfinished; the return says so. */
int td_status_print_json(FILE *out, const struct td_status_options *opt,
			 struct td_store *st, const char *subscribers_path, time_t now,
			 struct td_err *err);

#endif
