/*
 * serve_week.c: the desk's "This week" (see serve_impl.h): who gets what
 * at the next send.
 *
 * Nothing here decides who is due or what a digest holds: the readers
 * are walked as `send --dry-run` walks them (td_sync_walk, readers.h),
 * through the send engine's own dry run (td_send_run, deliver.h), and
 * its plan callback hands over each reader's outcome as the dry run
 * counts it. So the page's numbers are `send --dry-run`'s numbers. This
 * file only sums them up: per tag, the readers with nothing new, the
 * biggest digests, and when the readers not due now are due.
 */
#include <stdlib.h>
#include <string.h>

#include "serve_impl.h"
#include "tagdigest/compose/digest.h"
#include "tagdigest/core/value.h"
#include "tagdigest/schedule/readers.h"

#define TOP_DIGESTS 10        /* the biggest digests named */
#define MAX_NOTHING_NEW 200   /* readers with nothing new named */
#define WEEK (7 * 86400)
#define WHEN_FMT "%a %d %b %Y %H:%M %Z"

struct week_tag {
	char *slug, *name;
	size_t digests;       /* digests that would carry the tag */
	size_t posts;         /* its posts shown, summed over those digests */
	size_t most;          /* ... in the digest that shows the most */
};

struct week_big {
	char *email;
	size_t posts, bytes;
};

struct week_when {
	time_t at;
	size_t readers;
};

struct td_week {
	time_t now;
	struct td_send_summary sum;
	size_t due_now;       /* sent + skipped + permanent: their slot is served now */
	struct week_tag *tags;
	size_t ntags, tags_cap;
	struct week_big big[TOP_DIGESTS];
	size_t nbig;
	struct td_strv nothing_new;      /* emails, the first MAX_NOTHING_NEW */
	struct td_strv nothing_new_tags; /* their tags, joined */
	size_t nothing_new_count;
	struct week_when *later;         /* not due now, due within the week */
	size_t nlater, later_cap;
	size_t later_readers, beyond;    /* ... and due after the week */
};

static struct week_tag *tag_of(struct td_week *w, const char *slug, const char *name)
{
	for (size_t i = 0; i < w->ntags; i++)
		if (strcmp(w->tags[i].slug, slug) == 0)
			return &w->tags[i];
	if (w->ntags == w->tags_cap) {
		w->tags_cap = w->tags_cap ? 2 * w->tags_cap : 16;
		w->tags = td_xrealloc(w->tags, w->tags_cap * sizeof *w->tags);
	}
	struct week_tag *t = &w->tags[w->ntags++];
	memset(t, 0, sizeof *t);
	t->slug = td_xstrdup(slug);
	t->name = td_xstrdup(name ? name : slug);
	return t;
}

/* Keeps the TOP_DIGESTS biggest by posts, then bytes, in order. */
static void note_big(struct td_week *w, const char *email, size_t posts, size_t bytes)
{
	size_t i = w->nbig;
	while (i > 0 && (w->big[i - 1].posts < posts ||
			 (w->big[i - 1].posts == posts && w->big[i - 1].bytes < bytes)))
		i--;
	if (i >= TOP_DIGESTS)
		return;
	if (w->nbig == TOP_DIGESTS)
		free(w->big[--w->nbig].email);
	memmove(&w->big[i + 1], &w->big[i], (w->nbig - i) * sizeof *w->big);
	w->big[i] = (struct week_big){ td_xstrdup(email), posts, bytes };
	w->nbig++;
}

static void note_later(struct td_week *w, time_t at)
{
	if (at <= w->now || at > w->now + WEEK) {
		w->beyond++;
		return;
	}
	w->later_readers++;
	for (size_t i = 0; i < w->nlater; i++)
		if (w->later[i].at == at) {
			w->later[i].readers++;
			return;
		}
	if (w->nlater == w->later_cap) {
		w->later_cap = w->later_cap ? 2 * w->later_cap : 8;
		w->later = td_xrealloc(w->later, w->later_cap * sizeof *w->later);
	}
	w->later[w->nlater++] = (struct week_when){ at, 1 };
}

static void on_plan(const struct td_plan_item *it, void *arg)
{
	struct td_week *w = arg;
	switch (it->outcome) {
	case TD_PLAN_SEND:
		note_big(w, it->sub->email, it->posts, it->bytes);
		for (size_t i = 0; i < it->digest->nsections; i++) {
			const struct td_digest_section *s = &it->digest->sections[i];
			struct week_tag *t = tag_of(w, s->tag, s->tag_name);
			t->digests++;
			t->posts += s->nposts;
			if (s->nposts > t->most)
				t->most = s->nposts;
		}
		break;
	case TD_PLAN_SKIP:
		if (w->nothing_new.n < MAX_NOTHING_NEW) {
			struct td_buf b = TD_BUF_INIT;
			for (size_t i = 0; i < it->sub->tags.n; i++) {
				td_buf_puts(&b, i ? ", " : "");
				td_buf_puts(&b, it->sub->tags.v[i]);
			}
			td_strv_push(&w->nothing_new, it->sub->email);
			td_strv_push_owned(&w->nothing_new_tags, td_buf_steal(&b));
		}
		w->nothing_new_count++;
		break;
	case TD_PLAN_NOT_DUE:
	case TD_PLAN_DEFERRED:
		note_later(w, it->next);
		break;
	case TD_PLAN_RESEND:
	case TD_PLAN_SUPPRESSED:
	case TD_PLAN_BAD:
		break;
	}
}

int td_week_build(const struct td_deliver_options *dopt, struct td_store *st,
		  const char *subscribers_path, time_t now, struct td_week **out,
		  struct td_err *err)
{
	*out = NULL;
	struct td_sync_walk *walk;
	int rc = td_sync_walk_open(st, subscribers_path, now, now, &walk, err);
	if (rc)
		return rc;
	struct td_week *w = td_xcalloc(1, sizeof *w);
	w->now = now;
	struct td_subscriber_source src = { td_sync_walk_next, walk,
					    td_sync_walk_size_hint(walk), false };
	struct td_send_options opt = { .dry_run = true, .plan = on_plan, .plan_arg = w };
	rc = td_send_run(dopt, st, &src, &opt, now, &w->sum, err);
	td_sync_walk_close(walk);
	if (rc) {
		td_week_free(w);
		return rc;
	}
	w->due_now = w->sum.sent + w->sum.skipped + w->sum.permfail;
	*out = w;
	return 0;
}

void td_week_free(struct td_week *w)
{
	if (!w)
		return;
	for (size_t i = 0; i < w->ntags; i++) {
		free(w->tags[i].slug);
		free(w->tags[i].name);
	}
	free(w->tags);
	for (size_t i = 0; i < w->nbig; i++)
		free(w->big[i].email);
	td_strv_free(&w->nothing_new);
	td_strv_free(&w->nothing_new_tags);
	free(w->later);
	free(w);
}

static void set_time(struct td_value *map, const char *key, const struct td_tz *tz,
		     time_t t)
{
	char s[64];
	td_tz_format(tz, t, WHEN_FMT, s, sizeof s);
	td_value_map_set_str(map, key, s);
}

static struct td_value *query_value(const char *s)
{
	struct td_buf b = TD_BUF_INIT;
	td_url_escape(&b, s);
	return td_value_string_owned(td_buf_steal(&b));
}

static int by_digests(const void *a, const void *b)
{
	const struct week_tag *x = a, *y = b;
	if (x->digests != y->digests)
		return x->digests < y->digests ? 1 : -1;
	return strcmp(x->slug, y->slug);
}

static int by_time(const void *a, const void *b)
{
	const struct week_when *x = a, *y = b;
	return (x->at > y->at) - (x->at < y->at);
}

void td_week_due_values(const struct td_week *w, const struct td_tz *tz,
			time_t site_next, struct td_value *ctx)
{
	struct td_value *due = td_value_map_set(ctx, "due", td_value_map());
	td_value_map_set_int(due, "now", (long long)w->due_now);
	td_value_map_set_bool(due, "any", w->due_now > 0);
	td_value_map_set_bool(due, "one", w->due_now == 1);
	td_value_map_set_int(due, "send", (long long)w->sum.sent);
	td_value_map_set_int(due, "skip", (long long)w->sum.skipped);
	set_time(due, "site_next", tz, site_next);
	/* the first time after now anyone not due now is due */
	time_t first = 0;
	size_t at_first = 0;
	for (size_t i = 0; i < w->nlater; i++)
		if (!first || w->later[i].at < first) {
			first = w->later[i].at;
			at_first = w->later[i].readers;
		}
	if (first) {
		struct td_value *n = td_value_map_set(due, "next", td_value_map());
		set_time(n, "at", tz, first);
		td_value_map_set_int(n, "readers", (long long)at_first);
	}
}

void td_week_values(struct td_week *w, const struct td_tz *tz, time_t site_next,
		    struct td_value *ctx)
{
	const struct td_send_summary *s = &w->sum;
	td_week_due_values(w, tz, site_next, ctx);
	set_time(ctx, "computed", tz, w->now);
	struct td_value *n = td_value_map_set(ctx, "counts", td_value_map());
	td_value_map_set_int(n, "readers", (long long)s->subscribers);
	td_value_map_set_int(n, "send", (long long)s->sent);
	td_value_map_set_int(n, "resend", (long long)s->resent);
	td_value_map_set_int(n, "skip", (long long)s->skipped);
	td_value_map_set_int(n, "not_due", (long long)s->not_due);
	td_value_map_set_int(n, "deferred", (long long)s->deferred);
	td_value_map_set_int(n, "suppressed", (long long)s->suppressed);
	td_value_map_set_int(n, "bad", (long long)s->permfail);
	td_value_map_set_int(n, "later", (long long)w->later_readers);
	td_value_map_set_int(n, "beyond", (long long)w->beyond);

	if (w->ntags > 1)
		qsort(w->tags, w->ntags, sizeof *w->tags, by_digests);
	struct td_value *tags = td_value_map_set(ctx, "tags", td_value_list());
	for (size_t i = 0; i < w->ntags; i++) {
		const struct week_tag *t = &w->tags[i];
		struct td_value *v = td_value_list_push(tags, td_value_map());
		td_value_map_set_str(v, "slug", t->slug);
		td_value_map_set_str(v, "name", t->name);
		td_value_map_set(v, "slug_query", query_value(t->slug));
		td_value_map_set_int(v, "digests", (long long)t->digests);
		td_value_map_set_int(v, "posts", (long long)t->posts);
		td_value_map_set_int(v, "most", (long long)t->most);
	}

	struct td_value *big = td_value_map_set(ctx, "biggest", td_value_list());
	for (size_t i = 0; i < w->nbig; i++) {
		struct td_value *v = td_value_list_push(big, td_value_map());
		td_value_map_set_str(v, "email", w->big[i].email);
		td_value_map_set(v, "email_query", query_value(w->big[i].email));
		td_value_map_set_int(v, "posts", (long long)w->big[i].posts);
		td_value_map_set(v, "kb", td_value_string_owned(
			td_xasprintf("%.1f", (double)w->big[i].bytes / 1024.0)));
	}

	struct td_value *nn = td_value_map_set(ctx, "nothing_new", td_value_list());
	for (size_t i = 0; i < w->nothing_new.n; i++) {
		struct td_value *v = td_value_list_push(nn, td_value_map());
		td_value_map_set_str(v, "email", w->nothing_new.v[i]);
		td_value_map_set(v, "email_query", query_value(w->nothing_new.v[i]));
		td_value_map_set_str(v, "tags", w->nothing_new_tags.v[i]);
	}
	td_value_map_set_bool(ctx, "nothing_new_cut", w->nothing_new_count > w->nothing_new.n);
	td_value_map_set_int(ctx, "nothing_new_listed", (long long)w->nothing_new.n);

	if (w->nlater > 1)
		qsort(w->later, w->nlater, sizeof *w->later, by_time);
	struct td_value *later = td_value_map_set(ctx, "later", td_value_list());
	for (size_t i = 0; i < w->nlater; i++) {
		struct td_value *v = td_value_list_push(later, td_value_map());
		set_time(v, "at", tz, w->later[i].at);
		td_value_map_set_int(v, "readers", (long long)w->later[i].readers);
	}
}
