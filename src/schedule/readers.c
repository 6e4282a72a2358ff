/*
 * readers.c: the readers a send would walk, store first (see readers.h).
 */
#include "tagdigest/schedule/readers.h"

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
	struct td_subscriber *s = &l->v[l->n++];
	memset(s, 0, sizeof *s);
	s->email = td_xstrdup(view->email);
	s->name = td_xstrdup(view->name ? view->name : "");
	for (size_t i = 0; i < view->tags.n; i++)
		td_strv_push(&s->tags, view->tags.v[i]);
	s->line = view->line;
	td_prefs_copy(&s->prefs, &view->prefs);
	s->not_before = view->not_before;
	s->member_id = view->member_id;
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
