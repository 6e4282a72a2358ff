/*
 * test_digest.c: grouping by followed tag, one appearance per post, newest
 * first, the round-robin cap with "and N more", the watermark window and
 * a new subscriber's arrival window, and the site's clean-start point.
 */
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "store_fixture.h"
#include "tagdigest/compose/digest.h"
#include "tagdigest/store/start.h"

static char dir[64];

static void add_post(struct td_store *st, const char *guid, time_t published,
		     time_t arrived, const char *t1, const char *t2)
{
	struct td_post p;
	memset(&p, 0, sizeof p);
	p.guid = (char *)guid;
	p.url = (char *)"https://example.org/x";
	p.title = (char *)guid;
	p.author = (char *)"";
	p.published = published;
	p.excerpt_html = (char *)"";
	p.excerpt_text = (char *)"";
	p.content_html = (char *)"";
	p.content_hash = (char *)guid;
	td_strv_push(&p.tags, t1);
	td_strv_push(&p.tag_names, strcmp(t1, "nato") == 0 ? "NATO" : t1);
	if (t2) {
		td_strv_push(&p.tags, t2);
		td_strv_push(&p.tag_names, t2);
	}
	enum td_upsert r;
	struct td_err err;
	if (td_store_upsert_post(st, "s", &p, arrived, &r, &err) != 0)
		fprintf(stderr, "upsert: %s\n", err.msg);
	td_strv_free(&p.tags);
	td_strv_free(&p.tag_names);
}

static struct td_digest_options config(int max_posts)
{
	struct td_digest_options c;
	memset(&c, 0, sizeof c);
	c.max_posts = max_posts;
	c.first_digest_days = 7;
	c.tag_url = (char *)"https://example.org/tag/{tag}/";
	return c;
}

static const time_t NOW = 2000000000;

static void test_grouping_dedupe_order(void)
{
	char *path = store_fresh_dup(dir, "a");
	struct td_store *st;
	struct td_err err;
	CHECK(td_store_open(path, TD_STORE_READWRITE, &st, &err) == 0);
	add_post(st, "old-nato", 100, NOW - 10, "nato", NULL);
	add_post(st, "both", 300, NOW - 10, "usa", "nato");
	add_post(st, "new-nato", 200, NOW - 10, "nato", NULL);
	add_post(st, "other", 250, NOW - 10, "iran", NULL);
	add_post(st, "usa-only", 50, NOW - 10, "usa", NULL);

	struct td_subscriber sub = { (char *)"a@example.org", (char *)"A", TD_STRV_INIT, 1, { 0 }, 0, 0 };
	td_strv_push(&sub.tags, "nato");
	td_strv_push(&sub.tags, "usa");
	td_strv_push(&sub.tags, "north-korea");   /* followed, but no news */
	struct td_digest_options cfg = config(20);
	struct td_digest d;
	CHECK(td_digest_build(st, &cfg, &sub, NOW, &d, &err) == 0);
	CHECK(d.first && d.from_seq == 0 && d.upto_seq == 5);
	CHECK(d.total == 4 && d.shown == 4);
	REQUIRE(d.nsections == 2);
	CHECK_STR(d.sections[0].tag, "nato");
	CHECK_STR(d.sections[0].tag_name, "NATO");
	CHECK_STR(d.sections[0].archive_url, "https://example.org/tag/nato/");
	REQUIRE(d.sections[0].nposts == 3);
	CHECK_STR(d.sections[0].posts[0].title, "both");
	CHECK_STR(d.sections[0].posts[1].title, "new-nato");
	CHECK_STR(d.sections[0].posts[2].title, "old-nato");
	/* "both" was shown under nato: usa keeps only usa-only */
	REQUIRE(d.sections[1].nposts == 1);
	CHECK_STR(d.sections[1].posts[0].title, "usa-only");
	CHECK(d.sections[1].more == 0);
	td_digest_free(&d);

	/* after a delivery up to seq 5, only newer posts count */
	struct td_delivery del = { "a@example.org", NOW - 5, false, "m@x", "250", 0, 5, 4, NOW };
	CHECK(td_store_record_delivery(st, &del, &err) == 0);
	add_post(st, "later", 10, NOW, "usa", NULL);   /* backdated, but new */
	CHECK(td_digest_build(st, &cfg, &sub, NOW + 60, &d, &err) == 0);
	CHECK(!d.first && d.from_seq == 5 && d.upto_seq == 6);
	CHECK(d.total == 1);
	REQUIRE(d.nsections == 1 && d.sections[0].nposts == 1);
	CHECK_STR(d.sections[0].posts[0].title, "later");
	td_digest_free(&d);
	td_strv_free(&sub.tags);
	td_store_close(st);
	free(path);
}

static void test_cap_round_robin(void)
{
	char *path = store_fresh_dup(dir, "b");
	struct td_store *st;
	struct td_err err;
	CHECK(td_store_open(path, TD_STORE_READWRITE, &st, &err) == 0);
	char guid[32];
	for (int i = 0; i < 6; i++) {
		snprintf(guid, sizeof guid, "a%d", i);
		add_post(st, guid, 100 + i, NOW - 10, "alpha", NULL);
	}
	for (int i = 0; i < 2; i++) {
		snprintf(guid, sizeof guid, "b%d", i);
		add_post(st, guid, 100 + i, NOW - 10, "beta", NULL);
	}
	/* arrived 8 days ago: outside a new subscriber's 7-day window */
	add_post(st, "stale", 500, NOW - 8 * 86400, "beta", NULL);

	struct td_subscriber sub = { (char *)"b@example.org", (char *)"", TD_STRV_INIT, 1, { 0 }, 0, 0 };
	td_strv_push(&sub.tags, "alpha");
	td_strv_push(&sub.tags, "beta");
	struct td_digest_options cfg = config(5);
	struct td_digest d;
	CHECK(td_digest_build(st, &cfg, &sub, NOW, &d, &err) == 0);
	CHECK(d.total == 8 && d.shown == 5);
	REQUIRE(d.nsections == 2);
	/* alpha, beta, alpha, beta, alpha */
	REQUIRE(d.sections[0].nposts == 3);
	CHECK(d.sections[0].more == 3);
	CHECK(d.sections[1].nposts == 2 && d.sections[1].more == 0);
	CHECK_STR(d.sections[0].posts[0].title, "a5");
	td_digest_free(&d);
	cfg.max_posts = 1;
	CHECK(td_digest_build(st, &cfg, &sub, NOW, &d, &err) == 0);
	CHECK(d.shown == 1);
	REQUIRE(d.nsections == 2);
	CHECK(d.sections[1].nposts == 0 && d.sections[1].more == 2);
	td_digest_free(&d);
	td_strv_free(&sub.tags);
	td_store_close(st);
	free(path);
}

static void test_suppressions(void)
{
	char *path = store_fresh_dup(dir, "c");
	struct td_store *st;
	struct td_err err;
	CHECK(td_store_open(path, TD_STORE_READWRITE, &st, &err) == 0);
	add_post(st, "n1", 100, NOW - 10, "nato", NULL);
	add_post(st, "u1", 100, NOW - 10, "usa", NULL);
	struct td_subscriber sub = { (char *)"C@example.org", (char *)"", TD_STRV_INIT, 1, { 0 }, 0, 0 };
	td_strv_push(&sub.tags, "nato");
	td_strv_push(&sub.tags, "usa");
	struct td_digest_options cfg = config(20);
	struct td_digest d;

	/* left one tag: its posts and its name are gone */
	CHECK(td_store_suppress(st, "c@example.org", "nato", "unsubscribed", "", NOW, &err) == 0);
	CHECK(td_store_suppress(st, "c@example.org", "nato", "unsubscribed", "", NOW, &err) == 0);
	CHECK(td_digest_build(st, &cfg, &sub, NOW, &d, &err) == 0);
	CHECK(!d.suppressed && d.total == 1 && d.followed.n == 1);
	REQUIRE(d.nsections == 1);
	CHECK_STR(d.sections[0].tag, "usa");
	td_digest_free(&d);

	/* left everything */
	CHECK(td_store_suppress(st, "C@EXAMPLE.org", "all", "unsubscribed", "one-click",
				NOW, &err) == 0);
	CHECK(td_digest_build(st, &cfg, &sub, NOW, &d, &err) == 0);
	CHECK(d.suppressed && d.nsections == 0 && d.total == 0);
	td_digest_free(&d);
	struct td_suppression *v;
	size_t n;
	REQUIRE(td_store_suppressions(st, NULL, &v, &n, &err) == 0 && n == 2);
	CHECK_STR(v[0].scope, "all");
	CHECK_STR(v[0].detail, "one-click");
	td_store_suppressions_free(v, n);

	/* lifted */
	size_t removed = 0;
	CHECK(td_store_unsuppress(st, "c@example.org", NULL, &removed, &err) == 0 && removed == 2);
	CHECK(td_digest_build(st, &cfg, &sub, NOW, &d, &err) == 0);
	CHECK(!d.suppressed && d.total == 2);
	td_digest_free(&d);
	td_strv_free(&sub.tags);
	td_store_close(st);
	free(path);
}

/* Trimming for the clip limit takes from the section showing the most and
 * never a section's last post: a section that says "and N more" without
 * showing anything announces news it does not show (issue 9 item 3). */
static void test_trim_keeps_one_per_section(void)
{
	char *path = store_fresh_dup(dir, "trim");
	struct td_store *st;
	struct td_err err;
	CHECK(td_store_open(path, TD_STORE_READWRITE, &st, &err) == 0);
	add_post(st, "n1", 100, NOW - 10, "nato", NULL);
	add_post(st, "n2", 200, NOW - 10, "nato", NULL);
	add_post(st, "n3", 300, NOW - 10, "nato", NULL);
	add_post(st, "u1", 400, NOW - 10, "usa", NULL);
	struct td_digest_options cfg = config(0);
	struct td_subscriber sub = { (char *)"t@example.org", (char *)"", TD_STRV_INIT, 1, { 0 }, 0, 0 };
	td_strv_push(&sub.tags, "nato");
	td_strv_push(&sub.tags, "usa");
	struct td_digest d;
	CHECK(td_digest_build(st, &cfg, &sub, NOW, &d, &err) == 0);
	CHECK(d.shown == 4 && d.nsections == 2);
	CHECK(td_digest_trim_one(&d) && td_digest_trim_one(&d));
	CHECK(!td_digest_trim_one(&d));
	CHECK(d.shown == 2 && d.total == 4);
	REQUIRE(d.nsections == 2);
	REQUIRE(d.sections[0].nposts == 1);
	CHECK(d.sections[0].more == 2);
	CHECK_STR(d.sections[0].posts[0].title, "n3");     /* the newest stays */
	CHECK(d.sections[1].nposts == 1 && d.sections[1].more == 0);
	td_digest_free(&d);
	td_strv_free(&sub.tags);
	td_store_close(st);
	free(path);
}

/* One source's item of the article at `url`, tagged `tag`. */
static void add_item(struct td_store *st, const char *source, const char *url,
		     const char *hash, const char *tag, time_t arrived)
{
	struct td_post p;
	memset(&p, 0, sizeof p);
	p.guid = (char *)url;
	p.url = (char *)url;
	p.title = (char *)"X";
	p.author = (char *)"";
	p.published = 100;
	p.excerpt_html = p.excerpt_text = p.content_html = (char *)"";
	p.content_hash = (char *)hash;
	td_strv_push(&p.tags, tag);
	td_strv_push(&p.tag_names, tag);
	enum td_upsert r;
	struct td_err err;
	if (td_store_upsert_post(st, source, &p, arrived, &r, &err) != 0)
		fprintf(stderr, "upsert: %s\n", err.msg);
	td_strv_free(&p.tags);
	td_strv_free(&p.tag_names);
}

/* The digest each of these readers would get now, through one cache as a
 * send run builds them: its total. */
static void totals(struct td_store *st, struct td_subscriber *subs, size_t n,
		   size_t *total, struct td_digest *keep)
{
	struct td_digest_options cfg = config(20);
	struct td_post_cache *cache = td_post_cache_new();
	struct td_err err;
	for (size_t i = 0; i < n; i++) {
		struct td_digest d;
		CHECK(td_digest_build_cached(st, &cfg, &subs[i], NOW, cache, &d, &err) == 0);
		total[i] = d.total;
		if (keep && i == 0)
			*keep = d;
		else
			td_digest_free(&d);
	}
	td_post_cache_free(cache);
}

static void deliver(struct td_store *st, const char *email, time_t slot, int64_t upto)
{
	struct td_delivery dl = { email, slot, false, "m@x", "250 ok", 0, upto, 1, slot };
	struct td_err err;
	CHECK(td_store_record_delivery(st, &dl, &err) == 0);
}

/* Review of issue 9 item 2, A: article X came from the nato feed and went
 * out; then the usa feed brings it too. Its readers of usa alone get it,
 * once; nobody who had it gets it again. */
static void test_late_source(void)
{
	char *path = store_fresh_dup(dir, "late");
	struct td_store *st;
	struct td_err err;
	CHECK(td_store_open(path, TD_STORE_READWRITE, &st, &err) == 0);
	const char *x = "https://blog.test/2024/x/";
	add_item(st, "nato", x, "n1", "nato", NOW - 100);
	add_item(st, "usa", "https://blog.test/2024/y/", "y1", "usa", NOW - 100);
	struct td_subscriber subs[] = {
		{ (char *)"u@example.org", (char *)"", TD_STRV_INIT, 1, { 0 }, 0, 0 },
		{ (char *)"n@example.org", (char *)"", TD_STRV_INIT, 1, { 0 }, 0, 0 },
		{ (char *)"b@example.org", (char *)"", TD_STRV_INIT, 1, { 0 }, 0, 0 },
	};
	td_strv_push(&subs[0].tags, "usa");
	td_strv_push(&subs[1].tags, "nato");
	td_strv_push(&subs[2].tags, "usa");
	td_strv_push(&subs[2].tags, "nato");
	size_t total[3];
	totals(st, subs, 3, total, NULL);
	CHECK(total[0] == 1 && total[1] == 1 && total[2] == 2);
	int64_t upto = td_store_max_seq(st);
	for (size_t i = 0; i < 3; i++)
		deliver(st, subs[i].email, NOW - 50, upto);

	add_item(st, "usa", x, "u1", "usa", NOW - 10);
	struct td_digest d;
	totals(st, subs, 3, total, &d);
	CHECK(total[0] == 1 && total[1] == 0 && total[2] == 0);
	CHECK(d.total == 1 && d.upto_seq > upto);
	REQUIRE(d.nsections == 1 && d.sections[0].nposts == 1);
	CHECK_STR(d.sections[0].posts[0].url, x);
	int64_t upto2 = d.upto_seq;
	td_digest_free(&d);
	for (size_t i = 0; i < 3; i++)
		deliver(st, subs[i].email, NOW - 5, upto2);
	totals(st, subs, 3, total, NULL);
	CHECK(total[0] == 0 && total[1] == 0 && total[2] == 0);
	for (size_t i = 0; i < 3; i++)
		td_strv_free(&subs[i].tags);
	td_store_close(st);
	free(path);
}

/* After a clean start (store/start.h), what the store held is the site's
 * archive for a reader who joins later too: their first digest, and the
 * desk's count of what waits for them (td_digest_waiting), hold only
 * what arrived after the start; the started reader's first digest says
 * it follows a start (after_start). */
static void test_join_after_clean_start(void)
{
	char *path = store_fresh_dup(dir, "start");
	struct td_store *st;
	struct td_err err;
	CHECK(td_store_open(path, TD_STORE_READWRITE, &st, &err) == 0);
	add_post(st, "archive", 100, NOW - 3600, "nato", NULL);
	int64_t seq = -1;
	CHECK(td_store_clean_start_seq(st, &seq, &err) == 0 && seq == 0);
	int64_t upto = td_store_max_seq(st);
	bool started = false;
	CHECK(td_store_begin(st, &err) == 0);
	CHECK(td_store_start_clean(st, "old@example.org", NOW - 1800, upto, NOW - 1800,
				   &started, &err) == 0 && started);
	CHECK(td_store_commit(st, &err) == 0);
	CHECK(td_store_clean_start_seq(st, &seq, &err) == 0 && seq == upto);
	add_post(st, "news", 200, NOW - 60, "nato", NULL);

	struct td_digest_options cfg = config(20);
	struct td_subscriber sub = { (char *)"joiner@example.org", (char *)"", TD_STRV_INIT, 1,
				     { 0 }, 0, 0 };
	td_strv_push(&sub.tags, "nato");
	struct td_digest d;
	struct td_post_cache *cache = td_post_cache_new();
	for (int cached = 0; cached < 2; cached++) {
		CHECK(td_digest_build_cached(st, &cfg, &sub, NOW, cached ? cache : NULL, &d,
					     &err) == 0);
		CHECK(d.first && !d.after_start && d.from_seq == upto && d.total == 1);
		REQUIRE(d.nsections == 1 && d.sections[0].nposts == 1);
		CHECK_STR(d.sections[0].posts[0].title, "news");
		td_digest_free(&d);
	}
	struct td_digest_reader rd = { 0, &sub.tags, true, NOW - 7 * 86400 };
	struct td_store_post *w = NULL;
	size_t nw = 0;
	CHECK(td_digest_waiting(st, cache, "nato", &rd, 1, td_store_max_seq(st), &w, &nw,
				&err) == 0);
	REQUIRE(nw == 1);
	CHECK_STR(w[0].title, "news");
	td_store_posts_free(w, nw);
	td_post_cache_free(cache);

	sub.email = (char *)"old@example.org";
	CHECK(td_digest_build(st, &cfg, &sub, NOW, &d, &err) == 0);
	CHECK(!d.first && d.after_start && d.total == 1);
	td_digest_free(&d);
	td_strv_free(&sub.tags);
	td_store_close(st);
	free(path);
}

/* The period a header shows (td_digest_period): a first digest of a new
 * site's backlog spans its posts' own dates; one whose posts are dated
 * within its period, and every later digest, keep since .. now. */
static void test_period(void)
{
	char *path = store_fresh_dup(dir, "period");
	struct td_store *st;
	struct td_err err;
	CHECK(td_store_open(path, TD_STORE_READWRITE, &st, &err) == 0);
	const time_t day = 86400;
	/* the backlog: dated years back, arrived at the first ingest */
	add_post(st, "oldest", NOW - 3000 * day, NOW - 10, "nato", NULL);
	add_post(st, "old", NOW - 2000 * day, NOW - 10, "nato", "usa");
	add_post(st, "recent", NOW - 2 * day, NOW - 10, "iran", NULL);
	struct td_digest_options cfg = config(20);
	struct td_subscriber sub = { (char *)"p@example.org", (char *)"", TD_STRV_INIT, 1, { 0 }, 0, 0 };
	td_strv_push(&sub.tags, "nato");
	struct td_digest d;
	time_t since, until;
	CHECK(td_digest_build(st, &cfg, &sub, NOW, &d, &err) == 0);
	CHECK(d.first && d.shown == 2 && d.since == NOW - 7 * day);
	td_digest_period(&d, NOW, &since, &until);
	CHECK(since == NOW - 3000 * day);
	CHECK(until == NOW - 2000 * day);
	/* trimmed to one post: the range follows what is shown */
	CHECK(td_digest_trim_one(&d));
	REQUIRE(d.shown == 1);
	td_digest_period(&d, NOW, &since, &until);
	time_t left = d.sections[0].posts[0].published;
	CHECK(since == left && until == left);
	td_digest_free(&d);

	/* a first digest of posts dated within its period: since .. now */
	struct td_subscriber iran = { (char *)"i@example.org", (char *)"", TD_STRV_INIT, 1, { 0 }, 0, 0 };
	td_strv_push(&iran.tags, "iran");
	CHECK(td_digest_build(st, &cfg, &iran, NOW, &d, &err) == 0);
	CHECK(d.first && d.shown == 1);
	td_digest_period(&d, NOW, &since, &until);
	CHECK(since == NOW - 7 * day && until == NOW);
	td_digest_free(&d);

	/* a later digest holding a late source's old post: as always */
	deliver(st, "p@example.org", NOW - 5 * day, td_store_max_seq(st));
	add_post(st, "late", NOW - 4000 * day, NOW - day, "nato", NULL);
	CHECK(td_digest_build(st, &cfg, &sub, NOW, &d, &err) == 0);
	CHECK(!d.first && d.shown == 1);
	td_digest_period(&d, NOW, &since, &until);
	CHECK(since == NOW - 5 * day && until == NOW);
	td_digest_free(&d);

	td_strv_free(&sub.tags);
	td_strv_free(&iran.tags);
	td_store_close(st);
	free(path);
}

static void test_archive_url_escaping(void)
{
	char *u = td_digest_archive_url("https://x.org/tag/{tag}/?t={tag}", "сша-usa");
	CHECK_STR(u, "https://x.org/tag/%D1%81%D1%88%D0%B0-usa/?t=%D1%81%D1%88%D0%B0-usa");
	free(u);
}

/* The digest as a line: each section's tag, name, shown posts' seqs and
 * titles and "and N more", and the totals. */
static void digest_line(const struct td_digest *d, char *buf, size_t len)
{
	size_t at = (size_t)snprintf(buf, len, "total %zu shown %zu from %lld;", d->total,
				     d->shown, (long long)d->from_seq);
	for (size_t i = 0; i < d->nsections && at < len; i++) {
		const struct td_digest_section *s = &d->sections[i];
		at += (size_t)snprintf(buf + at, len - at, " %s (%s):", s->tag, s->tag_name);
		for (size_t j = 0; j < s->nposts && at < len; j++)
			at += (size_t)snprintf(buf + at, len - at, " %lld \"%s\"",
					       (long long)s->posts[j].seq, s->posts[j].title);
		if (at < len)
			at += (size_t)snprintf(buf + at, len - at, " +%zu;", s->more);
	}
}

static void edit_post(struct td_store *st, const char *guid, const char *title,
		      const char *nato_name)
{
	struct td_post p;
	memset(&p, 0, sizeof p);
	p.guid = (char *)guid;
	p.url = (char *)"https://example.org/x";
	p.title = (char *)title;
	p.author = (char *)"";
	p.published = 2000;   /* the newest: shown whatever the cap */
	p.excerpt_html = p.excerpt_text = p.content_html = (char *)"";
	p.content_hash = (char *)title;
	td_strv_push(&p.tags, "nato");
	td_strv_push(&p.tag_names, nato_name);
	enum td_upsert r;
	struct td_err err;
	CHECK(td_store_upsert_post(st, "s", &p, NOW - 100, &r, &err) == 0);
	td_strv_free(&p.tags);
	td_strv_free(&p.tag_names);
}

/* One cache serves readers whose watermarks differ (a tag's posts are
 * read for the lowest one and each reader's taken in memory): the same
 * digests as without it, in any order. What it read stays for the run
 * (an edit that moves no counter is not seen) until a digest is built at
 * another counter. */
static void test_cache_across_watermarks(void)
{
	char *path = store_fresh_dup(dir, "watermarks");
	struct td_store *st;
	struct td_err err;
	CHECK(td_store_open(path, TD_STORE_READWRITE, &st, &err) == 0);
	char guid[16];
	for (int i = 1; i <= 8; i++) {
		snprintf(guid, sizeof guid, "p%d", i);
		/* published out of arrival order; some in both tags */
		add_post(st, guid, 1000 + (i * 37) % 11, NOW - 3600, i % 3 ? "nato" : "usa",
			 i % 2 ? "usa" : NULL);
	}
	static const char *const who[] = { "high@example.org", "low@example.org",
					   "mid@example.org", "new@example.org" };
	deliver(st, who[0], NOW - 86400, 6);
	deliver(st, who[1], NOW - 86400, 1);
	deliver(st, who[2], NOW - 86400, 3);
	struct td_subscriber sub = { NULL, (char *)"", TD_STRV_INIT, 1, { 0 }, 0, 0 };
	td_strv_push(&sub.tags, "usa");
	td_strv_push(&sub.tags, "nato");
	struct td_digest_options cfg = config(3);
	struct td_post_cache *cache = td_post_cache_new();
	/* high first: the lower watermarks after it must read again */
	static const int order[] = { 0, 1, 2, 0, 3, 1 };
	for (size_t k = 0; k < sizeof order / sizeof order[0]; k++) {
		sub.email = (char *)who[order[k]];
		struct td_digest a, b;
		char la[512], lb[512];
		CHECK(td_digest_build_cached(st, &cfg, &sub, NOW, cache, &a, &err) == 0);
		CHECK(td_digest_build(st, &cfg, &sub, NOW, &b, &err) == 0);
		digest_line(&a, la, sizeof la);
		digest_line(&b, lb, sizeof lb);
		CHECK_STR(la, lb);
		CHECK(a.total > 0);
		td_digest_free(&a);
		td_digest_free(&b);
	}

	/* an edit in place moves no counter: the cache's posts and names stand */
	int64_t upto = td_store_max_seq(st);
	edit_post(st, "p8", "p8 edited", "N.A.T.O.");
	CHECK(td_store_max_seq(st) == upto);
	sub.email = (char *)who[1];
	struct td_digest d;
	char line[512];
	CHECK(td_digest_build_cached(st, &cfg, &sub, NOW, cache, &d, &err) == 0);
	digest_line(&d, line, sizeof line);
	CHECK(strstr(line, "(NATO)") && strstr(line, "\"p8\"") && !strstr(line, "edited"));
	td_digest_free(&d);
	CHECK(td_digest_build(st, &cfg, &sub, NOW, &d, &err) == 0);
	digest_line(&d, line, sizeof line);
	CHECK(strstr(line, "(N.A.T.O.)") && strstr(line, "p8 edited"));
	td_digest_free(&d);
	/* a new post moves it: the next digest reads everything again */
	add_post(st, "p9", 500, NOW - 60, "eu", NULL);
	CHECK(td_digest_build_cached(st, &cfg, &sub, NOW, cache, &d, &err) == 0);
	digest_line(&d, line, sizeof line);
	CHECK(strstr(line, "(N.A.T.O.)") && strstr(line, "p8 edited"));
	td_digest_free(&d);
	td_post_cache_free(cache);
	td_strv_free(&sub.tags);
	td_store_close(st);
	free(path);
}

int main(void)
{
	strcpy(dir, "/tmp/td-digest-XXXXXX");
	if (!mkdtemp(dir))
		return 2;
	store_fixture_init("digest");
	TD_RUN(test_grouping_dedupe_order);
	TD_RUN(test_cap_round_robin);
	TD_RUN(test_suppressions);
	TD_RUN(test_trim_keeps_one_per_section);
	TD_RUN(test_late_source);
	TD_RUN(test_period);
	TD_RUN(test_join_after_clean_start);
	TD_RUN(test_archive_url_escaping);
	TD_RUN(test_cache_across_watermarks);
	store_fixture_done();
	char *cmd = td_xasprintf("rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	free(cmd);
	return TD_DONE(store_fixture_label("digest"));
}
