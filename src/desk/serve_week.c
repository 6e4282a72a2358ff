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
 *
 * Six days of seven nobody is due, so "now" alone says nothing: when
 * some readers are not due now, the same dry run is made again as of the
 * site's next slot (its `now` is that slot; the store is as it is now),
 * and the page shows who gets what then.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve_impl.h"
#include "tagdigest/compose/digest.h"
#include "tagdigest/core/value.h"
#include "tagdigest/schedule/readers.h"
#include "tagdigest/schedule/schedule.h"

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

/* One dry run's figures (the plan callback's sums). */
struct week_plan {
	struct td_week *w;
	struct td_send_summary sum;
	struct week_tag *tags;
	size_t ntags, tags_cap;
	struct week_big big[TOP_DIGESTS];
	size_t nbig;
	struct td_strv nothing_new;      /* emails, the first MAX_NOTHING_NEW */
	struct td_strv nothing_new_tags; /* their tags, joined */
	size_t nothing_new_count;
};

struct td_week {
	time_t now;
	struct week_plan plan;           /* the dry run at now */
	size_t due_now;       /* sent + skipped + permanent: their slot is served now */
	time_t slot;                     /* the site's next slot */
	struct week_plan at_slot;        /* the dry run at slot (made when
					  * not everybody is due now) */
	bool have_slot;
	struct week_when *later;         /* not due now, due within the week */
	size_t nlater, later_cap;
	size_t later_readers, beyond;    /* ... and due after the week */
};

static struct week_tag *tag_of(struct week_plan *w, const char *slug, const char *name)
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
static void note_big(struct week_plan *w, const char *email, size_t posts, size_t bytes)
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
	struct week_plan *p = arg;
	switch (it->outcome) {
	case TD_PLAN_SEND:
		note_big(p, it->sub->email, it->posts, it->bytes);
		for (size_t i = 0; i < it->digest->nsections; i++) {
			const struct td_digest_section *s = &it->digest->sections[i];
			struct week_tag *t = tag_of(p, s->tag, s->tag_name);
			t->digests++;
			t->posts += s->nposts;
			if (s->nposts > t->most)
				t->most = s->nposts;
		}
		break;
	case TD_PLAN_SKIP:
		if (p->nothing_new.n < MAX_NOTHING_NEW) {
			struct td_buf b = TD_BUF_INIT;
			for (size_t i = 0; i < it->sub->tags.n; i++) {
				td_buf_puts(&b, i ? ", " : "");
				td_buf_puts(&b, it->sub->tags.v[i]);
			}
			td_strv_push(&p->nothing_new, it->sub->email);
			td_strv_push_owned(&p->nothing_new_tags, td_buf_steal(&b));
		}
		p->nothing_new_count++;
		break;
	case TD_PLAN_NOT_DUE:
	case TD_PLAN_DEFERRED:
		/* when the others are due: from the run at now only */
		if (p == &p->w->plan)
			note_later(p->w, it->next);
		break;
	case TD_PLAN_RESEND:
	case TD_PLAN_SUPPRESSED:
	case TD_PLAN_BAD:
		break;
	}
}

/* `send --dry-run` as it would run at `at`: the readers walked as a send
 * at `at` walks them (those the roster got after now are not there yet:
 * none can be), the store as it is now. */
static int plan_run(const struct td_deliver_options *dopt, struct td_store *st,
		    const char *subscribers_path, time_t now, time_t at,
		    struct week_plan *p, struct td_err *err)
{
	struct td_sync_walk *walk;
	int rc = td_sync_walk_open(st, subscribers_path, now, at, &walk, err);
	if (rc)
		return rc;
	struct td_subscriber_source src = { td_sync_walk_next, walk,
					    td_sync_walk_size_hint(walk), false };
	struct td_send_options opt = { .dry_run = true, .plan = on_plan, .plan_arg = p };
	rc = td_send_run(dopt, st, &src, &opt, at, &p->sum, err);
	td_sync_walk_close(walk);
	return rc;
}

int td_week_build(const struct td_deliver_options *dopt, struct td_store *st,
		  const char *subscribers_path, time_t now, struct td_week **out,
		  struct td_err *err)
{
	*out = NULL;
	struct td_week *w = td_xcalloc(1, sizeof *w);
	w->now = now;
	w->plan.w = w;
	w->at_slot.w = w;
	int rc = plan_run(dopt, st, subscribers_path, now, now, &w->plan, err);
	w->due_now = w->plan.sum.sent + w->plan.sum.skipped + w->plan.sum.permfail;
	/* Who gets what at the site's next slot, when some are not due now
	 * (six days of seven, nobody is): the same dry run, as of that slot.
	 * Posts that arrive before then are not in it; the page says so. */
	w->slot = td_schedule_next_slot(&dopt->compose.schedule, now);
	if (!rc && w->plan.sum.not_due + w->plan.sum.deferred > 0) {
		rc = plan_run(dopt, st, subscribers_path, now, w->slot, &w->at_slot, err);
		w->have_slot = true;
	}
	if (rc) {
		td_week_free(w);
		return rc;
	}
	*out = w;
	return 0;
}

static void plan_free(struct week_plan *p)
{
	for (size_t i = 0; i < p->ntags; i++) {
		free(p->tags[i].slug);
		free(p->tags[i].name);
	}
	free(p->tags);
	for (size_t i = 0; i < p->nbig; i++)
		free(p->big[i].email);
	td_strv_free(&p->nothing_new);
	td_strv_free(&p->nothing_new_tags);
}

void td_week_free(struct td_week *w)
{
	if (!w)
		return;
	plan_free(&w->plan);
	plan_free(&w->at_slot);
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

/* A count as the desk shows it ("5,004": td_desk_count) and, under
 * key_n, as a number for sections and data- attributes. */
static void set_count(struct td_value *map, const char *key, size_t n)
{
	char key_n[64];
	snprintf(key_n, sizeof key_n, "%s_n", key);
	td_value_map_set(map, key, td_desk_count(n));
	td_value_map_set_int(map, key_n, (long long)n);
}

void td_week_due_values(const struct td_week *w, const struct td_tz *tz,
			time_t site_next, struct td_value *ctx)
{
	struct td_value *due = td_value_map_set(ctx, "due", td_value_map());
	set_count(due, "now", w->due_now);
	td_value_map_set_bool(due, "any", w->due_now > 0);
	td_value_map_set_bool(due, "one", w->due_now == 1);
	set_count(due, "send", w->plan.sum.sent);
	set_count(due, "skip", w->plan.sum.skipped);
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
		set_count(n, "readers", at_first);
		td_value_map_set_bool(n, "one", at_first == 1);
	}
}

/* One dry run's figures into map; pre prefixes the ids of its elements
 * (the page shows two runs). Sorts p's tags. */
static void plan_values(struct week_plan *p, const char *pre, struct td_value *map)
{
	const struct td_send_summary *s = &p->sum;
	td_value_map_set_str(map, "pre", pre);
	struct td_value *n = td_value_map_set(map, "counts", td_value_map());
	set_count(n, "readers", s->subscribers);
	set_count(n, "send", s->sent);
	set_count(n, "resend", s->resent);
	set_count(n, "skip", s->skipped);
	set_count(n, "not_due", s->not_due);
	set_count(n, "deferred", s->deferred);
	set_count(n, "suppressed", s->suppressed);
	set_count(n, "bad", s->permfail);

	if (p->ntags > 1)
		qsort(p->tags, p->ntags, sizeof *p->tags, by_digests);
	struct td_value *tags = td_value_map_set(map, "tags", td_value_list());
	for (size_t i = 0; i < p->ntags; i++) {
		const struct week_tag *t = &p->tags[i];
		struct td_value *v = td_value_list_push(tags, td_value_map());
		td_value_map_set_str(v, "slug", t->slug);
		td_value_map_set_str(v, "name", t->name);
		td_value_map_set(v, "slug_query", query_value(t->slug));
		set_count(v, "digests", t->digests);
		set_count(v, "posts", t->posts);
		set_count(v, "most", t->most);
	}

	struct td_value *big = td_value_map_set(map, "biggest", td_value_list());
	for (size_t i = 0; i < p->nbig; i++) {
		struct td_value *v = td_value_list_push(big, td_value_map());
		td_value_map_set_str(v, "email", p->big[i].email);
		td_value_map_set(v, "email_query", query_value(p->big[i].email));
		set_count(v, "posts", p->big[i].posts);
		td_value_map_set_bool(v, "one", p->big[i].posts == 1);
		td_value_map_set(v, "kb", td_value_string_owned(
			td_xasprintf("%.1f", (double)p->big[i].bytes / 1024.0)));
	}

	struct td_value *nn = td_value_map_set(map, "nothing_new", td_value_list());
	for (size_t i = 0; i < p->nothing_new.n; i++) {
		struct td_value *v = td_value_list_push(nn, td_value_map());
		td_value_map_set_str(v, "email", p->nothing_new.v[i]);
		td_value_map_set(v, "email_query", query_value(p->nothing_new.v[i]));
		td_value_map_set_str(v, "tags", p->nothing_new_tags.v[i]);
	}
	td_value_map_set_bool(map, "nothing_new_cut", p->nothing_new_count > p->nothing_new.n);
	set_count(map, "nothing_new_listed", p->nothing_new.n);
}

void td_week_values(struct td_week *w, const struct td_tz *tz, time_t site_next,
		    struct td_value *ctx)
{
	td_week_due_values(w, tz, site_next, ctx);
	set_time(ctx, "computed", tz, w->now);
	struct td_value *now = td_value_map_set(ctx, "at_now", td_value_map());
	plan_values(&w->plan, "", now);
	/* when the readers not due now are due */
	td_value_map_set_bool(now, "show_later", true);
	struct td_value *n = td_value_map_child(now, "counts", TD_VALUE_MAP);
	set_count(n, "later", w->later_readers);
	set_count(n, "beyond", w->beyond);
	if (w->have_slot) {
		struct td_value *at = td_value_map_set(ctx, "at_slot", td_value_map());
		plan_values(&w->at_slot, "slot-", at);
		set_time(at, "when", tz, w->slot);
	}

	if (w->nlater > 1)
		qsort(w->later, w->nlater, sizeof *w->later, by_time);
	struct td_value *later = td_value_map_set(ctx, "later", td_value_list());
	for (size_t i = 0; i < w->nlater; i++) {
		struct td_value *v = td_value_list_push(later, td_value_map());
		set_time(v, "at", tz, w->later[i].at);
		set_count(v, "readers", w->later[i].readers);
		td_value_map_set_bool(v, "one", w->later[i].readers == 1);
	}
}
