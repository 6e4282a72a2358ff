/*
 * import.c: a subscriber CSV into the store's roster (see import.h).
 *
 * One reading of the file (subscribers.h's private copy), one store
 * transaction. The rules of what a row may change are the roster's
 * (td_roster_put); this file walks the rows, counts, and decides what a
 * bad row costs: a SYNC skips it (and removes nobody that run), an ADD
 * stores nothing.
 */
#include "tagdigest/schedule/import.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tagdigest/core/log.h"
#include "tagdigest/schedule/subscribers.h"
#include "tagdigest/store/roster.h"

static void count(struct td_import_summary *sum, enum td_roster_result r)
{
	switch (r) {
	case TD_ROSTER_ADDED: sum->added++; break;
	case TD_ROSTER_UPDATED: sum->updated++; break;
	case TD_ROSTER_UNCHANGED: sum->unchanged++; break;
	case TD_ROSTER_READER_KEPT: sum->reader_kept++; break;
	case TD_ROSTER_KEPT_OUT: sum->kept_out++; break;
	}
}

/* Every good row of the reader into the roster, inside the caller's
 * transaction. A row the roster refuses (its rules are stricter than
 * the reader's in places) is a bad row like the reader's own, reported
 * with FILE:LINE. Returns the store's error, if any. */
static int put_rows(struct td_store *st, struct td_subscriber_reader *r, const char *path,
		    enum td_import_mode mode, time_t now, struct td_import_summary *sum,
		    struct td_err *err)
{
	const struct td_subscriber *sub;
	int rc;
	char where[4096 + 16];
	while ((rc = td_subscribers_next(r, &sub, err)) == 1) {
		snprintf(where, sizeof where, "%s:%u", path, sub->line);
		struct td_roster_row row = {
			.email = sub->email, .name = sub->name, .tags = &sub->tags,
			.origin = mode == TD_IMPORT_SYNC ? "csv" : "import",
			.consent_from = where,
		};
		enum td_roster_result res;
		struct td_err rowerr = { 0, "" };
		rc = td_roster_put(st, &row, now, &res, &rowerr);
		if (rc == EX_DATAERR) {
			td_log_warnx("%s: %s", where, rowerr.msg);
			sum->bad++;
			continue;
		}
		if (rc) {
			*err = rowerr;
			return rc;
		}
		sum->rows++;
		count(sum, res);
		if (mode == TD_IMPORT_SYNC && (rc = td_roster_file_mark(st, sub->email, err)))
			return rc;
	}
	return rc;
}

int td_import_file(struct td_store *st, const char *path, enum td_import_mode mode,
		   bool dry_run, time_t now, struct td_import_summary *sum,
		   struct td_err *err)
{
	memset(sum, 0, sizeof *sum);
	struct td_subscriber_reader *r;
	int rc = td_subscribers_open(path, &r, err);
	if (rc)
		return rc;
	const char *digest = td_subscribers_digest(r);
	if (mode == TD_IMPORT_SYNC) {
		/* the same bytes as the last sync change nothing: whatever the
		 * store learned since (an unsubscribe) stands either way */
		char *last = NULL;
		rc = td_roster_file_fingerprint(st, path, &last, err);
		bool same = !rc && *digest && strcmp(last, digest) == 0;
		free(last);
		if (rc || same) {
			sum->skipped = same;
			td_subscribers_close(r);
			return rc;
		}
	}
	if ((rc = td_store_begin(st, err))) {
		td_subscribers_close(r);
		return rc;
	}
	if (mode == TD_IMPORT_SYNC)
		rc = td_roster_file_mark_begin(st, err);
	if (!rc)
		rc = put_rows(st, r, path, mode, now, sum, err);
	size_t nbad;
	td_subscribers_counts(r, NULL, &nbad);
	sum->bad += nbad;
	if (!rc && mode == TD_IMPORT_ADD && sum->bad)
		rc = td_err_set(err, EX_DATAERR, "%s: %zu bad row%s (above): nothing "
				"imported; fix them and import again", path, sum->bad,
				sum->bad == 1 ? "" : "s");
	if (!rc && mode == TD_IMPORT_SYNC) {
		if (sum->bad) {
			/* a broken row may be someone's: nobody is removed, and
			 * the file is read again next time, so the warnings
			 * repeat until it is fixed */
			td_log_warnx("%s: %zu bad row%s: no subscriber is removed by "
				     "this sync", path, sum->bad, sum->bad == 1 ? "" : "s");
		} else if (!(rc = td_roster_file_sweep(st, now, &sum->removed, err))) {
			rc = td_roster_set_file_fingerprint(st, path, digest, err);
		}
	}
	if (rc || dry_run)
		td_store_rollback(st);
	else
		rc = td_store_commit(st, err);
	td_subscribers_close(r);
	return rc;
}
