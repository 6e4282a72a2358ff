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
}

int td_readers_load(struct td_store *st, const char *path,
		    struct td_subscriber_list *out, struct td_err *file_err,
		    struct td_err *err)
{
	memset(out, 0, sizeof *out);
	file_err->code = 0;
	file_err->msg[0] = '\0';
	size_t cap = 0;
	int rc = 0;
	struct td_roster_filter f = { .status = TD_MEMBER_ACTIVE, .limit = TD_ROSTER_PAGE };
	for (;;) {
		struct td_member *v;
		size_t n;
		if ((rc = td_roster_list(st, &f, &v, &n, err)))
			goto fail;
		for (size_t i = 0; i < n; i++) {
			struct td_subscriber view;
			td_member_subscriber(&v[i], &view);
			push_copy(out, &cap, &view);
			f.after_id = v[i].id;
		}
		td_members_free(v, n);
		if (n < TD_ROSTER_PAGE)
			break;
	}
	if (!path)
		return 0;
	struct td_subscriber_list file;
	if (td_subscribers_load(path, &file, file_err))
		return 0;
	out->nbad = file.nbad;
	for (size_t i = 0; !rc && i < file.n; i++) {
		struct td_member m;
		bool found;
		rc = td_roster_get(st, file.v[i].email, &m, &found, err);
		td_member_free(&m);
		if (!rc && !found)
			push_copy(out, &cap, &file.v[i]);
	}
	td_subscribers_free(&file);
	if (!rc)
		return 0;
fail:
	td_subscribers_free(out);
	return rc;
}
