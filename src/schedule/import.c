/*
 * import.c: a subscriber CSV into the store's roster (see import.h).
 *
 * One reading of the file (subscribers.h's private copy); an ADD writes
 * in one transaction, a SYNC in batches (SYNC_BATCH). The rules of what a row may change are the
 * roster's (td_roster_put); this file walks the rows, counts, and decides
 * what a bad row costs: a SYNC skips it (and removes nobody that run), an
 * ADD stores nothing. The rows are first compared in a read transaction
 * (td_roster_put_check), so the write lock, which the public server's
 * unsubscribes wait for, is held only to put what changed.
 */
#include "tagdigest/schedule/import.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tagdigest/core/log.h"
#include "tagdigest/core/util.h"
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

/* Rows that change something, held while the file is compared without
 * the store's write lock: up to IMPORT_STASH of them (a file of a
 * million rows where a few changed holds the lock for those few); past
 * that (a first sync, a big edit) the rest of the file is put under the
 * lock as it is read, so memory stays flat. */
#define IMPORT_STASH 4096

/* A SYNC under the write lock commits every SYNC_BATCH rows, so the
 * public server's unsubscribes wait for one batch (milliseconds), not for
 * the first sync of a big file (seconds). The marks live in a temporary
 * table that outlasts the commits, and the sweep runs only at the end of
 * a sync that read every row, so a sync cut short removes nobody; the
 * rows it committed are each a complete, valid change. An ADD stays one
 * transaction: it is all or nothing. */
#define SYNC_BATCH 1000

struct stashed {
	char *email, *name;
	struct td_strv tags;
	unsigned line;
};

struct rows {
	struct td_store *st;
	const char *path;
	enum td_import_mode mode;
	time_t now;
	struct td_import_summary *sum;
	bool locked;                 /* in the write transaction */
	bool batched;                /* commit every SYNC_BATCH puts */
	size_t since_commit;
	struct stashed stash[IMPORT_STASH];
	size_t nstash;
};

/* Puts one row (under the write lock) and marks it. A row the roster
 * refuses (its checks are stricter than the reader's in places) is a bad
 * row like the reader's own, reported with FILE:LINE. */
static int put_one(struct rows *x, const char *email, const char *name,
		   const struct td_strv *tags, unsigned line, struct td_err *err)
{
	char where[4096 + 16];
	snprintf(where, sizeof where, "%s:%u", x->path, line);
	struct td_roster_row row = {
		.email = email, .name = name, .tags = tags,
		.origin = x->mode == TD_IMPORT_SYNC ? "csv" : "import",
		.consent_from = where,
	};
	enum td_roster_result res;
	bool writes = true;
	struct td_err rowerr = { 0, "" };
	int rc = x->locked ? td_roster_put(x->st, &row, x->now, &res, &rowerr) :
			     td_roster_put_check(x->st, &row, &res, &writes, &rowerr);
	if (rc == EX_DATAERR) {
		td_log_warnx("%s: %s", where, rowerr.msg);
		x->sum->bad++;
		return 0;
	}
	if (rc) {
		*err = rowerr;
		return rc;
	}
	if (!x->locked && writes) {
		/* compared only: put it once the lock is held */
		struct stashed *s = &x->stash[x->nstash++];
		s->email = td_xstrdup(email);
		s->name = td_xstrdup(name);
		for (size_t i = 0; i < tags->n; i++)
			td_strv_push(&s->tags, tags->v[i]);
		s->line = line;
		return 0;
	}
	x->sum->rows++;
	count(x->sum, res);
	if (x->mode == TD_IMPORT_SYNC && (rc = td_roster_file_mark(x->st, email, err)))
		return rc;
	if (x->locked && x->batched && ++x->since_commit >= SYNC_BATCH) {
		x->since_commit = 0;
		if ((rc = td_store_commit(x->st, err)) || (rc = td_store_begin(x->st, err)))
			return rc;
	}
	return 0;
}

static void stash_clear(struct rows *x)
{
	for (size_t i = 0; i < x->nstash; i++) {
		free(x->stash[i].email);
		free(x->stash[i].name);
		td_strv_free(&x->stash[i].tags);
	}
	x->nstash = 0;
}

/* Ends the comparing (read) transaction, takes the write lock and puts
 * the rows held so far. */
static int take_lock(struct rows *x, struct td_err *err)
{
	int rc;
	if ((rc = td_store_commit(x->st, err)) || (rc = td_store_begin(x->st, err)))
		return rc;
	x->locked = true;
	for (size_t i = 0; i < x->nstash && !rc; i++)
		rc = put_one(x, x->stash[i].email, x->stash[i].name, &x->stash[i].tags,
			     x->stash[i].line, err);
	stash_clear(x);
	return rc;
}

/* Every good row of the reader into the roster. Starts in a read
 * transaction and returns in the write transaction, or in either with an
 * error or an ADD's bad rows. */
static int put_rows(struct rows *x, struct td_subscriber_reader *r, struct td_err *err)
{
	const struct td_subscriber *sub;
	int rc;
	while ((rc = td_subscribers_next(r, &sub, err)) == 1) {
		if ((rc = put_one(x, sub->email, sub->name, &sub->tags, sub->line, err)))
			return rc;
		if (!x->locked && x->nstash == IMPORT_STASH && (rc = take_lock(x, err)))
			return rc;
	}
	/* an ADD with bad rows stores nothing: no need for the lock */
	size_t nbad;
	td_subscribers_counts(r, NULL, &nbad);
	if (!rc && !x->locked && !(x->mode == TD_IMPORT_ADD && (nbad || x->sum->bad)))
		rc = take_lock(x, err);
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
	/* compared in one read snapshot; the marks go to a temporary table,
	 * which needs no lock on the store */
	if ((rc = td_store_begin_read(st, err))) {
		td_subscribers_close(r);
		return rc;
	}
	struct rows *x = td_xcalloc(1, sizeof *x);
	*x = (struct rows){ .st = st, .path = path, .mode = mode, .now = now, .sum = sum,
			    .batched = mode == TD_IMPORT_SYNC && !dry_run };
	if (mode == TD_IMPORT_SYNC)
		rc = td_roster_file_mark_begin(st, err);
	/* the addresses met so far in the store, not in memory: a file of a
	 * million rows would add 16 MiB to the run's peak */
	if (!rc)
		rc = td_subscribers_seen_in_store(r, st, err);
	if (!rc)
		rc = put_rows(x, r, err);
	stash_clear(x);
	free(x);
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
