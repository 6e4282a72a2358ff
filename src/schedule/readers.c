/*
 * readers.c: the readers a send would walk, store first (see readers.h).
 */
#include "tagdigest/schedule/readers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tagdigest/core/log.h"

int td_reader_find(struct td_store *st, const char *path, const char *email,
		   struct td_reader *out, struct td_err *err)
{
	memset(out, 0, sizeof *out);
	bool found = false;
	int rc = td_roster_get(st, email, &out->member, &found, err);
	if (rc)
		return rc;
	if (found) {
		out->found = out->in_store = true;
		out->status = out->member.status;
		td_member_subscriber(&out->member, &out->view);
		return 0;
	}
	if (!path)
		return 0;
	struct td_err ferr = { 0, "" };
	if (td_subscribers_load(path, &out->file, &ferr)) {
		td_log_warnx("%s", ferr.msg);
		return 0;
	}
	const struct td_subscriber *row = td_subscribers_find(&out->file, email);
	if (row) {
		out->found = true;
		out->status = TD_MEMBER_ACTIVE;   /* what the next sync makes it */
		out->view = *row;
	}
	return 0;
}

void td_reader_free(struct td_reader *r)
{
	if (!r)
		return;
	td_member_free(&r->member);
	td_subscribers_free(&r->file);
	memset(r, 0, sizeof *r);
}

/* An owned copy of view at the end of l (capacity *cap). */
static void push_copy(struct td_subscriber_list *l, size_t *cap,
		      const struct td_subscriber *view)
{
	if (l->n == *cap) {
		*cap = *cap ? 2 * *cap : 64;
		l->v = td_xrealloc(l->v, *cap * sizeof *l->v);
	}
	td_subscriber_copy(&l->v[l->n++], view);
}

int td_readers_walk(struct td_store *st, const char *path, bool all_statuses,
		    td_reader_fn fn, void *ctx, size_t *nbad, struct td_err *file_err,
		    struct td_err *err)
{
	file_err->code = 0;
	file_err->msg[0] = '\0';
	if (nbad)
		*nbad = 0;
	struct td_roster_filter f = { .any_status = all_statuses, .status = TD_MEMBER_ACTIVE,
				      .limit = TD_ROSTER_PAGE };
	int rc;
	for (;;) {
		struct td_member *v;
		size_t n;
		if ((rc = td_roster_list(st, &f, &v, &n, err)))
			return rc;
		for (size_t i = 0; !rc && i < n; i++) {
			struct td_subscriber view;
			td_member_subscriber(&v[i], &view);
			rc = fn(&v[i], &view, ctx, err);
			f.after_id = v[i].id;
		}
		td_members_free(v, n);
		if (rc)
			return rc;
		if (n < TD_ROSTER_PAGE)
			break;
	}
	struct td_subscriber_reader *r;
	if (!path || td_subscribers_open(path, &r, file_err))
		return 0;
	const struct td_subscriber *row;
	while ((rc = td_subscribers_next(r, &row, err)) == 1) {
		struct td_member m;
		bool found;
		rc = td_roster_get(st, row->email, &m, &found, err);
		td_member_free(&m);
		if (rc || (!found && (rc = fn(NULL, row, ctx, err))))
			break;
	}
	if (nbad)
		td_subscribers_counts(r, NULL, nbad);
	td_subscribers_close(r);
	return rc;
}

struct load_ctx {
	struct td_subscriber_list *out;
	size_t cap;
};

static int load_one(const struct td_member *m, const struct td_subscriber *sub, void *ctx,
		    struct td_err *err)
{
	(void)m;
	(void)err;
	struct load_ctx *l = ctx;
	push_copy(l->out, &l->cap, sub);
	return 0;
}

int td_readers_load(struct td_store *st, const char *path,
		    struct td_subscriber_list *out, struct td_err *file_err,
		    struct td_err *err)
{
	memset(out, 0, sizeof *out);
	struct load_ctx l = { out, 0 };
	int rc = td_readers_walk(st, path, false, load_one, &l, &out->nbad, file_err, err);
	if (rc)
		td_subscribers_free(out);
	return rc;
}

/* ---- the readers as the sync would leave them (readers.h) ---- */

struct td_sync_walk {
	struct td_store *st;
	const char *path;                    /* the file, for messages */
	struct td_subscriber_reader *file;   /* pass 1 */
	struct td_roster_cursor *cur;        /* pass 2, opened when 1 ends */
	time_t cutoff, now;
	struct td_member m;                  /* the row's reader, if known */
	struct td_subscriber view;
	struct td_import_summary sync;       /* what the sync would do */
	size_t file_walked, file_left;       /* the file's readers: in pass 1,
					      * and met again in pass 2 */
};

static bool from_file(const struct td_member *m)
{
	return m->origin && strcmp(m->origin, "csv") == 0;
}

/* One row of the file as the sync would take it (td_roster_put_check
 * decides, as it does for the sync): 1 with *out, 0 when the row would
 * not be walked here, or the store's error. */
static int sync_row(struct td_sync_walk *w, const struct td_subscriber *row,
		   const struct td_subscriber **out, struct td_err *err)
{
	char where[4096 + 16];
	snprintf(where, sizeof where, "%s:%u", w->path, row->line);
	struct td_roster_row put = { .email = row->email, .name = row->name,
				     .tags = &row->tags, .origin = "csv",
				     .consent_from = where };
	enum td_roster_result res;
	bool writes;
	struct td_err rowerr = { 0, "" };
	int rc = td_roster_put_check(w->st, &put, &res, &writes, &rowerr);
	if (rc == EX_DATAERR) {
		/* the roster's checks are stricter than the file reader's */
		td_log_warnx("%s: %s", where, rowerr.msg);
		w->sync.bad++;
		return 0;
	}
	if (rc) {
		*err = rowerr;
		return rc;
	}
	w->sync.rows++;
	switch (res) {
	case TD_ROSTER_ADDED:
		w->sync.added++;
		*out = row;        /* a new reader, on the site's schedule */
		return 1;
	case TD_ROSTER_KEPT_OUT:
		w->sync.kept_out++;
		return 0;
	case TD_ROSTER_UPDATED: w->sync.updated++; break;
	case TD_ROSTER_UNCHANGED: w->sync.unchanged++; break;
	case TD_ROSTER_READER_KEPT: w->sync.reader_kept++; break;
	}
	bool found;
	td_member_free(&w->m);     /* the last row's */
	if ((rc = td_roster_get(w->st, row->email, &w->m, &found, err)) || !found)
		return rc;
	/* A pending sign-up becomes the file's, active; the file's own
	 * readers take its name and tags; the others are pass 2's. */
	bool pending = w->m.status == TD_MEMBER_PENDING;
	if (!pending && !from_file(&w->m))
		return 0;
	if (w->m.prefs.paused_until > w->now)
		return 0;
	if (!pending)
		w->file_walked++;
	td_member_subscriber(&w->m, &w->view);
	if (!w->m.reader_choice)
		w->view.tags = row->tags;
	w->view.name = row->name;
	*out = &w->view;
	return 1;
}

int td_sync_walk_next(void *walk, const struct td_subscriber **out, struct td_err *err)
{
	struct td_sync_walk *w = walk;
	int rc;
	while (!w->cur) {
		const struct td_subscriber *row;
		if ((rc = td_subscribers_next(w->file, &row, err)) == 1) {
			if ((rc = sync_row(w, row, out, err)))
				return rc;
			continue;
		}
		if (rc)
			return rc;
		if ((rc = td_roster_cursor_open(w->st, w->cutoff, w->now, &w->cur, err)))
			return rc;
	}
	const struct td_member *m;
	while ((rc = td_roster_cursor_next(w->cur, &m, err)) == 1) {
		if (from_file(m)) {
			/* pass 1 had them, or the sync removes them */
			w->file_left++;
			continue;
		}
		td_member_subscriber(m, &w->view);
		*out = &w->view;
		return 1;
	}
	if (rc == 0) {
		size_t nbad;
		td_subscribers_counts(w->file, NULL, &nbad);
		w->sync.bad += nbad;
		/* a bad row may be someone's: the sync then removes nobody */
		if (!w->sync.bad && w->file_left > w->file_walked)
			w->sync.removed = w->file_left - w->file_walked;
	}
	return rc;
}

int td_sync_walk_open(struct td_store *st, const char *path, time_t cutoff, time_t now,
		      struct td_sync_walk **out, struct td_err *err)
{
	struct td_sync_walk *w = td_xcalloc(1, sizeof *w);
	w->st = st;
	w->path = path;
	w->cutoff = cutoff;
	w->now = now;
	int rc = td_subscribers_open(path, &w->file, err);
	/* the addresses met, in the store: memory stays flat (subscribers.h) */
	if (!rc)
		rc = td_subscribers_seen_in_store(w->file, st, err);
	if (rc) {
		td_subscribers_close(w->file);
		free(w);
		w = NULL;
	}
	*out = w;
	return rc;
}

size_t td_sync_walk_size_hint(const struct td_sync_walk *w)
{
	return w->file ? td_subscribers_size_hint(w->file) : 0;
}

const struct td_import_summary *td_sync_walk_summary(const struct td_sync_walk *w)
{
	return &w->sync;
}

void td_sync_walk_close(struct td_sync_walk *w)
{
	if (!w)
		return;
	td_roster_cursor_close(w->cur);
	td_member_free(&w->m);
	td_subscribers_close(w->file);
	free(w);
}
