/*
 * test_roster.c: the subscriber list in the store (roster.h): the
 * editors' rows and the store-wins rule, the reader's sign-up,
 * confirmation and preferences, the send walk's cursor, the sender's
 * last check, and statuses kept in step with suppressions, also for a
 * store that version 6 filled.
 */
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "roster_fixture.h"
#include "tagdigest/store/roster.h"
#include "tagdigest/store/store.h"
#include "tagdigest/core/util.h"

static char dir[64];

/* "a,b" as a td_strv (the caller frees it). */
static struct td_strv tags_of(const char *list)
{
	struct td_strv v = TD_STRV_INIT;
	char *copy = td_xstrdup(list), *save = NULL;
	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
		td_strv_push(&v, t);
	free(copy);
	return v;
}

static char *joined(const struct td_strv *v)
{
	size_t len = 1;
	for (size_t i = 0; i < v->n; i++)
		len += strlen(v->v[i]) + 1;
	char *s = td_xmalloc(len);
	s[0] = '\0';
	for (size_t i = 0; i < v->n; i++) {
		if (i)
			strcat(s, ",");
		strcat(s, v->v[i]);
	}
	return s;
}

/* Puts one editor's row; returns the result, or -1 on an error. */
static int put(struct td_store *st, const char *email, const char *name,
	       const char *tags, const char *origin, time_t now)
{
	struct td_strv t = tags ? tags_of(tags) : (struct td_strv)TD_STRV_INIT;
	struct td_roster_row row = { email, name, tags ? &t : NULL, origin, "t.csv:2" };
	enum td_roster_result r;
	struct td_err err = { 0, "" };
	int rc = td_roster_put(st, &row, now, &r, &err);
	td_strv_free(&t);
	if (rc)
		fprintf(stderr, "  put %s: %s\n", email, err.msg);
	return rc ? -1 : (int)r;
}

/* The member's tags joined with ',' (malloc'd), or NULL when unknown. */
static char *tags_now(struct td_store *st, const char *email)
{
	struct td_member m;
	bool found;
	struct td_err err = { 0, "" };
	char *s = NULL;
	if (td_roster_get(st, email, &m, &found, &err) == 0 && found)
		s = joined(&m.tags);
	td_member_free(&m);
	return s;
}

static void check_tags(struct td_store *st, const char *email, const char *want)
{
	char *got = tags_now(st, email);
	CHECK_STR(got, want);
	free(got);
}

static bool may_send(struct td_store *st, const char *email, time_t now)
{
	bool ok = true;
	struct td_err err = { 0, "" };
	CHECK(td_roster_may_send(st, email, now, &ok, &err) == 0);
	return ok;
}

static void test_editor_rows(void)
{
	struct td_store *st = fresh_store(dir, "editor");
	REQUIRE(st);
	CHECK(put(st, "Ann@Example.org", "Ann", "nato,eu", "csv", 100) == TD_ROSTER_ADDED);
	/* keyed by the lowercased address; the address as first written */
	struct td_member m;
	bool found;
	struct td_err err = { 0, "" };
	CHECK(td_roster_get(st, "ann@EXAMPLE.org", &m, &found, &err) == 0 && found);
	CHECK_STR(m.email, "Ann@Example.org");
	CHECK_STR(m.name, "Ann");
	CHECK(m.status == TD_MEMBER_ACTIVE);
	CHECK_STR(m.origin, "csv");
	CHECK_STR(m.consent_how, "csv");
	CHECK_STR(m.consent_from, "t.csv:2");
	CHECK(m.created_at == 100 && m.consent_at == 100 && m.changed_at == 100);
	CHECK(!m.reader_choice);
	CHECK(m.prefs.frequency == TD_FREQ_WEEKLY && !m.prefs.own_time && !m.prefs.timezone);
	td_member_free(&m);
	check_tags(st, "ann@example.org", "nato,eu");
	/* the same row again changes nothing */
	CHECK(put(st, "ann@example.org", "Ann", "nato,eu", "csv", 200) == TD_ROSTER_UNCHANGED);
	CHECK(td_roster_get(st, "ann@example.org", &m, &found, &err) == 0 && found);
	CHECK(m.changed_at == 100);
	td_member_free(&m);
	/* tag order is the reader's order: a change */
	CHECK(put(st, "ann@example.org", "Ann", "eu,nato", "csv", 300) == TD_ROSTER_UPDATED);
	check_tags(st, "ann@example.org", "eu,nato");
	CHECK(put(st, "ann@example.org", "Ann S.", NULL, "cli", 400) == TD_ROSTER_UPDATED);
	CHECK(td_roster_get(st, "ann@example.org", &m, &found, &err) == 0 && found);
	CHECK_STR(m.name, "Ann S.");
	CHECK_STR(m.origin, "csv");             /* who added them stays */
	CHECK(m.changed_at == 400);
	td_member_free(&m);
	/* a new one needs tags; a bad address or tag is refused */
	struct td_roster_row row = { "new@example.org", "", NULL, "cli", "me" };
	enum td_roster_result r;
	CHECK(td_roster_put(st, &row, 500, &r, &err) == EX_DATAERR);
	CHECK(strstr(err.msg, "tag") != NULL);
	struct td_strv bad = tags_of("Not A Slug");
	row.email = "x@example.org";
	row.tags = &bad;
	CHECK(td_roster_put(st, &row, 500, &r, &err) == EX_DATAERR);
	td_strv_free(&bad);
	struct td_strv ok = tags_of("nato");
	row.email = "not an address";
	row.tags = &ok;
	CHECK(td_roster_put(st, &row, 500, &r, &err) == EX_DATAERR);
	row.email = "x@example.org";
	row.name = "two\nlines";
	CHECK(td_roster_put(st, &row, 500, &r, &err) == EX_DATAERR);
	td_strv_free(&ok);
	CHECK(status_of(st, "x@example.org") == -1);
	/* the check says what a put would do and writes nothing */
	struct td_strv nt = tags_of("eu");
	struct td_roster_row chk = { "chk@example.org", "C", &nt, "csv", "t.csv:9" };
	bool writes = false;
	CHECK(td_roster_put_check(st, &chk, &r, &writes, &err) == 0);
	CHECK(r == TD_ROSTER_ADDED && writes);
	CHECK(status_of(st, "chk@example.org") == -1);
	chk.email = "ann@example.org";
	chk.name = "Ann S.";
	struct td_strv same = tags_of("eu,nato");
	chk.tags = &same;
	CHECK(td_roster_put_check(st, &chk, &r, &writes, &err) == 0);
	CHECK(r == TD_ROSTER_UNCHANGED && !writes);
	chk.name = "Ann Smith";
	CHECK(td_roster_put_check(st, &chk, &r, &writes, &err) == 0);
	CHECK(r == TD_ROSTER_UPDATED && writes);
	CHECK(td_roster_get(st, "ann@example.org", &m, &found, &err) == 0 && found);
	CHECK_STR(m.name, "Ann S.");
	td_member_free(&m);
	chk.email = "bad address";
	CHECK(td_roster_put_check(st, &chk, &r, &writes, &err) == EX_DATAERR);
	td_strv_free(&nt);
	td_strv_free(&same);
	td_store_close(st);
}

/* The reader's word wins: an unsubscribed, bounced or complained address
 * is never brought back by a row, and tags a reader chose stay theirs. */
static void test_store_wins(void)
{
	struct td_store *st = fresh_store(dir, "wins");
	REQUIRE(st);
	struct td_err err = { 0, "" };
	CHECK(put(st, "u@example.org", "U", "nato", "csv", 100) == TD_ROSTER_ADDED);
	CHECK(put(st, "b@example.org", "B", "nato", "csv", 100) == TD_ROSTER_ADDED);
	CHECK(put(st, "c@example.org", "C", "nato", "csv", 100) == TD_ROSTER_ADDED);
	CHECK(put(st, "r@example.org", "R", "nato", "csv", 100) == TD_ROSTER_ADDED);
	CHECK(td_roster_unsubscribe(st, "u@example.org", "one-click", 200, &err) == 0);
	CHECK(td_store_suppress(st, "b@example.org", "all", "bounced", "550", 200, &err) == 0);
	CHECK(td_store_suppress(st, "c@example.org", "all", "complained", "arf", 200, &err) == 0);
	CHECK(status_of(st, "u@example.org") == TD_MEMBER_UNSUBSCRIBED);
	CHECK(status_of(st, "b@example.org") == TD_MEMBER_BOUNCED);
	CHECK(status_of(st, "c@example.org") == TD_MEMBER_COMPLAINED);
	/* a per-tag unsubscribe is no status */
	CHECK(td_store_suppress(st, "r@example.org", "nato", "unsubscribed", "", 200, &err) == 0);
	CHECK(status_of(st, "r@example.org") == TD_MEMBER_ACTIVE);
	/* rows for those who left change nothing */
	CHECK(put(st, "u@example.org", "U2", "eu", "csv", 300) == TD_ROSTER_KEPT_OUT);
	CHECK(put(st, "B@example.org", "B", "nato", "cli", 300) == TD_ROSTER_KEPT_OUT);
	CHECK(put(st, "c@example.org", "C", "nato", "import", 300) == TD_ROSTER_KEPT_OUT);
	CHECK(status_of(st, "u@example.org") == TD_MEMBER_UNSUBSCRIBED);
	check_tags(st, "u@example.org", "nato");
	/* the reader chose their tags: the file's tags stay out, its name
	 * may still change */
	struct td_strv mine = tags_of("eu,usa");
	struct td_prefs p = { 0 };
	CHECK(td_roster_set_prefs(st, "r@example.org", &mine, &p, 400, &err) == 0);
	td_strv_free(&mine);
	CHECK(put(st, "r@example.org", "R", "nato", "csv", 500) == TD_ROSTER_READER_KEPT);
	check_tags(st, "r@example.org", "eu,usa");
	CHECK(put(st, "r@example.org", "Rita", "nato", "csv", 500) == TD_ROSTER_READER_KEPT);
	struct td_member m;
	bool found;
	CHECK(td_roster_get(st, "r@example.org", &m, &found, &err) == 0 && found);
	CHECK_STR(m.name, "Rita");
	CHECK(m.reader_choice);
	td_member_free(&m);
	check_tags(st, "r@example.org", "eu,usa");
	/* the same tags as the reader's: nothing to keep */
	CHECK(put(st, "r@example.org", "Rita", "eu,usa", "csv", 600) == TD_ROSTER_UNCHANGED);
	/* lifting the "all" suppression makes them active again */
	size_t removed = 0;
	CHECK(td_store_unsuppress(st, "b@example.org", "all", &removed, &err) == 0);
	CHECK(removed == 1);
	CHECK(status_of(st, "b@example.org") == TD_MEMBER_ACTIVE);
	CHECK(td_store_unsuppress(st, "c@example.org", NULL, &removed, &err) == 0);
	CHECK(status_of(st, "c@example.org") == TD_MEMBER_ACTIVE);
	/* a tag scope does not */
	CHECK(td_store_unsuppress(st, "u@example.org", "nato", &removed, &err) == 0);
	CHECK(status_of(st, "u@example.org") == TD_MEMBER_UNSUBSCRIBED);
	/* an address that left before the roster knew it keeps out when a
	 * row for it is put */
	CHECK(td_store_suppress(st, "gone@example.org", "all", "bounced", "", 700, &err) == 0);
	CHECK(put(st, "gone@example.org", "G", "nato", "csv", 800) == TD_ROSTER_KEPT_OUT);
	CHECK(status_of(st, "gone@example.org") == TD_MEMBER_BOUNCED);
	/* the editor's remove */
	bool known = false;
	CHECK(td_roster_remove(st, "rita@nowhere.example", "ed", 900, &known, &err) == 0);
	CHECK(!known);
	CHECK(td_roster_remove(st, "R@example.org", "ed", 900, &known, &err) == 0);
	CHECK(known);
	CHECK(status_of(st, "r@example.org") == TD_MEMBER_UNSUBSCRIBED);
	td_store_close(st);
}

static void test_may_send(void)
{
	struct td_store *st = fresh_store(dir, "maysend");
	REQUIRE(st);
	struct td_err err = { 0, "" };
	CHECK(put(st, "a@example.org", "A", "nato", "csv", 100) == TD_ROSTER_ADDED);
	CHECK(put(st, "p@example.org", "P", "nato", "csv", 100) == TD_ROSTER_ADDED);
	CHECK(may_send(st, "A@EXAMPLE.ORG", 200));
	CHECK(!may_send(st, "nobody@example.org", 200));
	/* paused until 1000: not at 999, again at 1000 */
	struct td_prefs p = { 0 };
	p.paused_until = 1000;
	CHECK(td_roster_set_prefs(st, "p@example.org", NULL, &p, 150, &err) == 0);
	CHECK(!may_send(st, "p@example.org", 999));
	CHECK(may_send(st, "p@example.org", 1000));
	check_tags(st, "p@example.org", "nato");   /* NULL tags: kept */
	/* the click lands while a run is sending: the next check says no */
	CHECK(td_roster_unsubscribe(st, "a@example.org", "one-click", 300, &err) == 0);
	CHECK(!may_send(st, "a@example.org", 300));
	td_store_close(st);
}

/* The walk reads pages of TD_ROSTER_PAGE by id: every active member
 * once, in order, across pages, without the paused, the ones who left,
 * the pending, and those who joined after the cutoff. */
static void test_cursor(void)
{
	struct td_store *st = fresh_store(dir, "cursor");
	REQUIRE(st);
	struct td_err err = { 0, "" };
	const int N = 2 * TD_ROSTER_PAGE + 37;
	CHECK(td_store_begin(st, &err) == 0);
	for (int i = 0; i < N; i++) {
		char email[64];
		snprintf(email, sizeof email, "r%04d@example.org", i);
		/* the last 10 joined at 2000, after the cutoff */
		if (put(st, email, "", i % 2 ? "nato" : "eu,nato", "csv",
			i >= N - 10 ? 2000 : 100) < 0)
			CHECK(!"put");
	}
	CHECK(td_store_commit(st, &err) == 0);
	/* one paused past now, one who left, one pending (a form sign-up) */
	struct td_prefs p = { 0 };
	p.paused_until = 5000;
	CHECK(td_roster_set_prefs(st, "r0003@example.org", NULL, &p, 150, &err) == 0);
	CHECK(td_roster_unsubscribe(st, "r0700@example.org", "link", 150, &err) == 0);
	struct td_strv t = tags_of("nato");
	struct td_signup su = { "new@example.org", "", &t, TD_FREQ_WEEKLY, "127.0.0.1", "test" };
	bool send;
	char *nonce = NULL;
	CHECK(td_roster_signup(st, &su, 150, 3, &send, &nonce, &err) == 0 && send);
	td_strv_free(&t);

	struct td_roster_cursor *c = NULL;
	CHECK(td_roster_cursor_open(st, 1000, 1500, &c, &err) == 0);
	REQUIRE(c);
	size_t want = (size_t)N - 10 - 2;
	CHECK(td_roster_cursor_total(c) == want);
	const struct td_member *m;
	size_t n = 0;
	int64_t last = 0;
	bool order = true, saw_paused = false, saw_left = false, two_tags = true;
	int rc;
	while ((rc = td_roster_cursor_next(c, &m, &err)) == 1 && n < 10 * (size_t)N) {
		order = order && m->id > last;
		last = m->id;
		saw_paused |= strcmp(m->email, "r0003@example.org") == 0;
		saw_left |= strcmp(m->email, "r0700@example.org") == 0;
		saw_left |= strcmp(m->email, "new@example.org") == 0;
		if (strcmp(m->email, "r0002@example.org") == 0)
			two_tags = m->tags.n == 2 && strcmp(m->tags.v[0], "eu") == 0;
		n++;
	}
	CHECK(rc == 0);
	CHECK(n == want);
	CHECK(order);
	CHECK(!saw_paused && !saw_left);
	CHECK(two_tags);
	/* at the end it stays at the end */
	CHECK(td_roster_cursor_next(c, &m, &err) == 0);
	td_roster_cursor_close(c);
	/* after the pause, with everyone's cutoff: the paused one and the
	 * late ones too; the confirmed form reader counts from confirming */
	int res;
	CHECK(td_roster_confirm(st, "new@example.org", nonce, "127.0.0.1", 3000, &res, &err) == 0);
	CHECK(res == 1);
	free(nonce);
	CHECK(td_roster_cursor_open(st, 2999, 6000, &c, &err) == 0);
	REQUIRE(c);
	CHECK(td_roster_cursor_total(c) == (size_t)N - 1);
	n = 0;
	while (td_roster_cursor_next(c, &m, &err) == 1 && n < 10 * (size_t)N)
		n++;
	CHECK(n == (size_t)N - 1);
	td_roster_cursor_close(c);
	CHECK(td_roster_cursor_open(st, 3000, 6000, &c, &err) == 0);
	REQUIRE(c);
	CHECK(td_roster_cursor_total(c) == (size_t)N);
	td_roster_cursor_close(c);
	td_store_close(st);
}

static void test_list_and_counts(void)
{
	struct td_store *st = fresh_store(dir, "list");
	REQUIRE(st);
	struct td_err err = { 0, "" };
	CHECK(put(st, "a@example.org", "A", "nato", "csv", 100) == TD_ROSTER_ADDED);
	CHECK(put(st, "b@example.org", "B", "eu", "csv", 100) == TD_ROSTER_ADDED);
	CHECK(put(st, "c@example.org", "C", "eu,nato", "cli", 100) == TD_ROSTER_ADDED);
	CHECK(td_roster_unsubscribe(st, "c@example.org", "link", 200, &err) == 0);
	struct td_member *v;
	size_t n;
	struct td_roster_filter f = { .tag = "nato", .any_status = true };
	CHECK(td_roster_list(st, &f, &v, &n, &err) == 0);
	CHECK(n == 2 && strcmp(v[0].email, "a@example.org") == 0 &&
	      strcmp(v[1].email, "c@example.org") == 0);
	td_members_free(v, n);
	f = (struct td_roster_filter){ .tag = "nato", .status = TD_MEMBER_ACTIVE };
	CHECK(td_roster_list(st, &f, &v, &n, &err) == 0);
	CHECK(n == 1 && strcmp(v[0].email, "a@example.org") == 0);
	td_members_free(v, n);
	f = (struct td_roster_filter){ .any_status = true, .limit = 1 };
	CHECK(td_roster_list(st, &f, &v, &n, &err) == 0);
	REQUIRE(n == 1);
	int64_t after = v[0].id;
	td_members_free(v, n);
	f.after_id = after;
	f.limit = 0;
	CHECK(td_roster_list(st, &f, &v, &n, &err) == 0);
	CHECK(n == 2 && strcmp(v[0].email, "b@example.org") == 0);
	td_members_free(v, n);
	size_t counts[5];
	CHECK(td_roster_counts(st, counts, &err) == 0);
	CHECK(counts[TD_MEMBER_ACTIVE] == 2 && counts[TD_MEMBER_UNSUBSCRIBED] == 1 &&
	      counts[TD_MEMBER_PENDING] == 0);
	td_store_close(st);
}

/* Stores a post with these tags (slug = name), for max_seq and site tags. */
static void add_post(struct td_store *st, const char *guid, const char *tag1,
		     const char *tag2)
{
	struct td_post p;
	memset(&p, 0, sizeof p);
	char url[96];
	snprintf(url, sizeof url, "https://blog.example/%s", guid);
	p.guid = (char *)guid;
	p.url = url;
	p.title = (char *)"T";
	p.author = (char *)"";
	p.published = p.updated = 1000;
	p.excerpt_html = (char *)"<p>x</p>";
	p.excerpt_text = (char *)"x";
	p.content_html = (char *)"<p>x</p>";
	p.content_hash = (char *)guid;
	td_strv_push(&p.tags, tag1);
	td_strv_push(&p.tag_names, tag1);
	if (tag2) {
		td_strv_push(&p.tags, tag2);
		td_strv_push(&p.tag_names, tag2);
	}
	enum td_upsert r;
	struct td_err err = { 0, "" };
	CHECK(td_store_upsert_post(st, "posts", &p, 1000, &r, &err) == 0 && r == TD_UPSERT_NEW);
	td_strv_free(&p.tags);
	td_strv_free(&p.tag_names);
}

/* A sign-up with tags "a,b"; returns whether a mail is to go, the nonce
 * in *nonce (NULL when none; the caller frees it). */
static bool signup(struct td_store *st, const char *email, const char *tags,
		   enum td_frequency f, time_t now, char **nonce)
{
	struct td_strv t = tags_of(tags);
	struct td_signup su = { email, "Reader", &t, f, "192.0.2.7", "subscribe page" };
	bool send = false;
	struct td_err err = { 0, "" };
	*nonce = NULL;
	int rc = td_roster_signup(st, &su, now, 3, &send, nonce, &err);
	CHECK(rc == 0);
	if (rc)
		fprintf(stderr, "  signup %s: %s\n", email, err.msg);
	CHECK(send == (*nonce != NULL));
	td_strv_free(&t);
	return send;
}

static int confirm(struct td_store *st, const char *email, const char *nonce, time_t now)
{
	int res = 99;
	struct td_err err = { 0, "" };
	CHECK(td_roster_confirm(st, email, nonce, "198.51.100.9", now, &res, &err) == 0);
	return res;
}

static int64_t watermark(struct td_store *st, const char *email)
{
	struct td_subscriber_state s;
	struct td_err err = { 0, "" };
	CHECK(td_store_subscriber_state(st, email, &s, &err) == 0);
	return s.known ? s.watermark : -1;
}

/* New, pending (the nonce replaced), active; the confirmation; a second
 * click. */
static void test_signup_and_confirm(void)
{
	struct td_store *st = fresh_store(dir, "signup");
	REQUIRE(st);
	struct td_err err = { 0, "" };
	char *n1, *n2;
	CHECK(signup(st, "New@Example.org", "nato,eu", TD_FREQ_DAILY, 1000, &n1));
	REQUIRE(n1);
	CHECK(strlen(n1) == 32);
	struct td_member m;
	bool found;
	CHECK(td_roster_get(st, "new@example.org", &m, &found, &err) == 0 && found);
	CHECK(m.status == TD_MEMBER_PENDING);
	CHECK_STR(m.origin, "form");
	CHECK_STR(m.confirm_nonce, n1);
	CHECK(m.confirm_sent_at == 1000 && m.confirm_mails == 1);
	CHECK(m.prefs.frequency == TD_FREQ_DAILY);
	CHECK(m.confirmed_at == 0);
	td_member_free(&m);
	check_tags(st, "new@example.org", "nato,eu");
	CHECK(!may_send(st, "new@example.org", 1000));
	/* signed up again: a new nonce, the first link is void */
	CHECK(signup(st, "new@example.org", "usa", TD_FREQ_MONTHLY, 1100, &n2));
	REQUIRE(n2);
	CHECK(strcmp(n1, n2) != 0);
	check_tags(st, "new@example.org", "usa");
	CHECK(confirm(st, "new@example.org", n1, 1200) == -1);
	CHECK(status_of(st, "new@example.org") == TD_MEMBER_PENDING);
	CHECK(confirm(st, "new@example.org", "", 1200) == -1);
	CHECK(confirm(st, "nobody@example.org", n2, 1200) == -1);
	CHECK(confirm(st, "NEW@example.org", n2, 1300) == 1);
	CHECK(td_roster_get(st, "new@example.org", &m, &found, &err) == 0 && found);
	CHECK(m.status == TD_MEMBER_ACTIVE);
	CHECK(m.confirmed_at == 1300 && m.consent_at == 1300);
	CHECK_STR(m.consent_how, "form");
	CHECK(strstr(m.consent_from, "198.51.100.9") != NULL);
	CHECK(strstr(m.consent_from, "192.0.2.7") != NULL);
	CHECK(strstr(m.consent_from, "subscribe page") != NULL);
	CHECK(m.prefs.frequency == TD_FREQ_MONTHLY);
	CHECK(m.reader_choice);
	td_member_free(&m);
	check_tags(st, "new@example.org", "usa");
	CHECK(may_send(st, "new@example.org", 1300));
	/* the second click is harmless, and so is the old link */
	CHECK(confirm(st, "new@example.org", n2, 1400) == 0);
	CHECK(confirm(st, "new@example.org", n1, 1400) == 0);
	/* a sign-up needs tags, a real address and a name without line breaks */
	struct td_strv none = TD_STRV_INIT, one = tags_of("eu");
	struct td_signup su = { "x@example.org", "", &none, TD_FREQ_WEEKLY, "c", "f" };
	bool send = true;
	char *nonce = (char *)"untouched";
	CHECK(td_roster_signup(st, &su, 1500, 3, &send, &nonce, &err) == EX_DATAERR);
	CHECK(!send && nonce == NULL);
	su.tags = &one;
	su.email = "x@@example.org";
	CHECK(td_roster_signup(st, &su, 1500, 3, &send, &nonce, &err) == EX_DATAERR);
	su.email = "x@example.org";
	su.name = "X\r\nBcc: y@example.org";
	CHECK(td_roster_signup(st, &su, 1500, 3, &send, &nonce, &err) == EX_DATAERR);
	CHECK(status_of(st, "x@example.org") == -1);
	td_strv_free(&one);
	/* an active reader signing up changes nothing and gets no mail */
	char *n3;
	CHECK(!signup(st, "new@example.org", "eu", TD_FREQ_WEEKLY, 1500, &n3));
	check_tags(st, "new@example.org", "usa");
	CHECK(status_of(st, "new@example.org") == TD_MEMBER_ACTIVE);
	free(n1);
	free(n2);
	td_store_close(st);
}

/* Bounced and complained addresses cannot sign up; an unsubscribed one
 * can, stays unsubscribed (with their old tags) until they confirm, and
 * comes back from now on, not from when they left. */
static void test_signup_after_leaving(void)
{
	struct td_store *st = fresh_store(dir, "leaving");
	REQUIRE(st);
	struct td_err err = { 0, "" };
	CHECK(put(st, "b@example.org", "B", "nato", "csv", 100) == TD_ROSTER_ADDED);
	CHECK(put(st, "c@example.org", "C", "nato", "csv", 100) == TD_ROSTER_ADDED);
	CHECK(put(st, "u@example.org", "U", "nato", "csv", 100) == TD_ROSTER_ADDED);
	CHECK(td_store_suppress(st, "b@example.org", "all", "bounced", "550", 200, &err) == 0);
	CHECK(td_store_suppress(st, "c@example.org", "all", "complained", "", 200, &err) == 0);
	CHECK(td_store_suppress(st, "never@example.org", "all", "bounced", "", 200, &err) == 0);
	char *n;
	CHECK(!signup(st, "b@example.org", "nato", TD_FREQ_WEEKLY, 300, &n));
	CHECK(!signup(st, "c@example.org", "nato", TD_FREQ_WEEKLY, 300, &n));
	CHECK(!signup(st, "never@example.org", "nato", TD_FREQ_WEEKLY, 300, &n));
	CHECK(status_of(st, "b@example.org") == TD_MEMBER_BOUNCED);
	CHECK(status_of(st, "never@example.org") == -1);

	/* u had a digest up to seq 1, then left; posts 2..4 came since */
	add_post(st, "p1", "nato", NULL);
	struct td_delivery d = { "u@example.org", 500, false, "m1@x", "250 ok", 0, 1, 1, 500 };
	CHECK(td_store_record_delivery(st, &d, &err) == 0);
	CHECK(td_roster_unsubscribe(st, "u@example.org", "one-click", 600, &err) == 0);
	add_post(st, "p2", "nato", NULL);
	add_post(st, "p3", "nato", NULL);
	add_post(st, "p4", "eu", NULL);
	CHECK(watermark(st, "u@example.org") == 1);
	CHECK(signup(st, "u@example.org", "eu", TD_FREQ_WEEKLY, 700, &n));
	REQUIRE(n);
	CHECK(status_of(st, "u@example.org") == TD_MEMBER_UNSUBSCRIBED);
	check_tags(st, "u@example.org", "nato");     /* not theirs until confirmed */
	CHECK(!may_send(st, "u@example.org", 700));
	CHECK(confirm(st, "u@example.org", n, 800) == 1);
	CHECK(status_of(st, "u@example.org") == TD_MEMBER_ACTIVE);
	check_tags(st, "u@example.org", "eu");
	CHECK(watermark(st, "u@example.org") == td_store_max_seq(st));
	struct td_suppression *sup;
	size_t nsup;
	CHECK(td_store_suppressions(st, "u@example.org", &sup, &nsup, &err) == 0);
	CHECK(nsup == 0);
	td_store_suppressions_free(sup, nsup);
	/* the form reader now: the file no longer sweeps them */
	struct td_member m;
	bool found;
	CHECK(td_roster_get(st, "u@example.org", &m, &found, &err) == 0 && found);
	CHECK_STR(m.origin, "form");
	CHECK(m.confirmed_at == 800);
	td_member_free(&m);
	free(n);

	/* an address unsubscribed before the roster knew it signs up: kept
	 * unsubscribed until confirmed */
	CHECK(td_roster_unsubscribe(st, "old@example.org", "link", 900, &err) == 0);
	CHECK(signup(st, "old@example.org", "eu", TD_FREQ_WEEKLY, 1000, &n));
	CHECK(status_of(st, "old@example.org") == TD_MEMBER_UNSUBSCRIBED);
	CHECK(confirm(st, "old@example.org", n, 1100) == 1);
	CHECK(status_of(st, "old@example.org") == TD_MEMBER_ACTIVE);
	free(n);
	/* a bounce after the sign-up voids its link */
	CHECK(signup(st, "late@example.org", "eu", TD_FREQ_WEEKLY, 1000, &n));
	CHECK(td_store_suppress(st, "late@example.org", "all", "bounced", "", 1050, &err) == 0);
	CHECK(confirm(st, "late@example.org", n, 1100) == -1);
	CHECK(status_of(st, "late@example.org") == TD_MEMBER_BOUNCED);
	free(n);
	td_store_close(st);
}

/* At most 3 confirmation mails per address in a fixed 24-hour window
 * that opens with its first mail. */
static void test_rate_limit(void)
{
	struct td_store *st = fresh_store(dir, "rate");
	REQUIRE(st);
	const time_t t0 = 100000, day = 24 * 3600;
	char *n[5];
	CHECK(signup(st, "r@example.org", "eu", TD_FREQ_WEEKLY, t0, &n[0]));
	CHECK(signup(st, "r@example.org", "eu", TD_FREQ_WEEKLY, t0 + 10, &n[1]));
	CHECK(signup(st, "r@example.org", "eu", TD_FREQ_WEEKLY, t0 + day / 2, &n[2]));
	/* the fourth: no mail, and the third link still works */
	CHECK(!signup(st, "r@example.org", "usa", TD_FREQ_WEEKLY, t0 + day - 1, &n[3]));
	check_tags(st, "r@example.org", "eu");
	/* another address is another count */
	char *other;
	CHECK(signup(st, "s@example.org", "eu", TD_FREQ_WEEKLY, t0 + day - 1, &other));
	free(other);
	/* the window is over: mails again */
	CHECK(signup(st, "r@example.org", "usa", TD_FREQ_WEEKLY, t0 + day, &n[4]));
	struct td_member m;
	bool found;
	struct td_err err = { 0, "" };
	CHECK(td_roster_get(st, "r@example.org", &m, &found, &err) == 0 && found);
	CHECK(m.confirm_mails == 1 && m.confirm_sent_at == t0 + day);
	td_member_free(&m);
	CHECK(confirm(st, "r@example.org", n[2], t0 + day) == -1);
	CHECK(confirm(st, "r@example.org", n[4], t0 + day) == 1);
	for (int i = 0; i < 5; i++)
		free(n[i]);
	td_store_close(st);
}

static void test_purge(void)
{
	struct td_store *st = fresh_store(dir, "purge");
	REQUIRE(st);
	struct td_err err = { 0, "" };
	char *a, *b, *c;
	CHECK(signup(st, "old@example.org", "eu", TD_FREQ_WEEKLY, 100, &a));
	CHECK(signup(st, "new@example.org", "eu", TD_FREQ_WEEKLY, 200, &b));
	CHECK(signup(st, "done@example.org", "eu", TD_FREQ_WEEKLY, 100, &c));
	CHECK(confirm(st, "done@example.org", c, 150) == 1);
	size_t purged = 99;
	CHECK(td_roster_purge_pending(st, 200, &purged, &err) == 0);
	CHECK(purged == 1);
	CHECK(status_of(st, "old@example.org") == -1);
	CHECK(status_of(st, "new@example.org") == TD_MEMBER_PENDING);
	CHECK(status_of(st, "done@example.org") == TD_MEMBER_ACTIVE);
	CHECK(confirm(st, "old@example.org", a, 300) == -1);
	struct td_roster_filter f = { .tag = "eu", .any_status = true };
	struct td_member *v;
	size_t n;
	CHECK(td_roster_list(st, &f, &v, &n, &err) == 0);
	CHECK(n == 2);      /* the purged one's tags went with them */
	td_members_free(v, n);
	free(a);
	free(b);
	free(c);
	td_store_close(st);
}

static void test_prefs(void)
{
	struct td_store *st = fresh_store(dir, "prefs");
	REQUIRE(st);
	struct td_err err = { 0, "" };
	CHECK(put(st, "p@example.org", "P", "nato,eu", "csv", 100) == TD_ROSTER_ADDED);
	CHECK(td_store_suppress(st, "p@example.org", "usa", "unsubscribed", "", 150, &err) == 0);
	CHECK(td_store_suppress(st, "p@example.org", "asia", "unsubscribed", "", 150, &err) == 0);
	struct td_strv t = tags_of("usa,eu");
	struct td_prefs p = { TD_FREQ_DAILY, true, 0, 8, 30, (char *)"Asia/Tokyo", 5000 };
	CHECK(td_roster_set_prefs(st, "P@example.org", &t, &p, 200, &err) == 0);
	struct td_member m;
	bool found;
	CHECK(td_roster_get(st, "p@example.org", &m, &found, &err) == 0 && found);
	CHECK(m.prefs.frequency == TD_FREQ_DAILY && m.prefs.own_time);
	CHECK(m.prefs.wday == 0 && m.prefs.hour == 8 && m.prefs.minute == 30);
	CHECK_STR(m.prefs.timezone, "Asia/Tokyo");
	CHECK(m.prefs.paused_until == 5000);
	CHECK(m.reader_choice && m.changed_at == 200);
	td_member_free(&m);
	check_tags(st, "p@example.org", "usa,eu");
	/* the per-tag unsubscribe of a tag chosen again is lifted; the other stays */
	struct td_suppression *sup;
	size_t nsup;
	CHECK(td_store_suppressions(st, "p@example.org", &sup, &nsup, &err) == 0);
	CHECK(nsup == 1 && strcmp(sup[0].scope, "asia") == 0);
	td_store_suppressions_free(sup, nsup);
	/* back to the site's zone */
	p.timezone = NULL;
	CHECK(td_roster_set_prefs(st, "p@example.org", NULL, &p, 300, &err) == 0);
	CHECK(td_roster_get(st, "p@example.org", &m, &found, &err) == 0 && found);
	CHECK(m.prefs.timezone == NULL);
	td_member_free(&m);
	/* out of range, or a zone name that could carry a header line */
	struct td_prefs bad[] = {
		{ TD_FREQ_WEEKLY, true, 7, 8, 0, NULL, 0 },
		{ TD_FREQ_WEEKLY, true, -1, 8, 0, NULL, 0 },
		{ TD_FREQ_WEEKLY, true, 1, 24, 0, NULL, 0 },
		{ TD_FREQ_WEEKLY, true, 1, 8, 60, NULL, 0 },
		{ TD_FREQ_WEEKLY, true, 1, 8, 0, NULL, -1 },
		{ (enum td_frequency)3, false, 0, 0, 0, NULL, 0 },
		{ TD_FREQ_WEEKLY, true, 1, 8, 0, (char *)"Europe/Berlin\r\nBcc: x", 0 },
		{ TD_FREQ_WEEKLY, true, 1, 8, 0, (char *)"", 0 },
		{ TD_FREQ_WEEKLY, true, 1, 8, 0,
		  (char *)"America/Argentina/Buenos_Aires/America/Argentina/Buenos_Aires/Xyzw", 0 },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int rc = td_roster_set_prefs(st, "p@example.org", NULL, &bad[i], 400, &err);
		CHECK(rc == EX_DATAERR);
		if (rc != EX_DATAERR)
			fprintf(stderr, "  bad prefs %zu accepted\n", i);
	}
	CHECK(td_roster_get(st, "p@example.org", &m, &found, &err) == 0 && found);
	CHECK(m.changed_at == 300 && m.prefs.hour == 8);
	td_member_free(&m);
	struct td_strv badtags = tags_of("ok,Not-A-Slug");
	CHECK(td_roster_set_prefs(st, "p@example.org", &badtags, &p, 400, &err) == EX_DATAERR);
	td_strv_free(&badtags);
	CHECK(td_roster_set_prefs(st, "who@example.org", &t, &p, 400, &err) == EX_NOINPUT);
	td_strv_free(&t);
	check_tags(st, "p@example.org", "usa,eu");
	td_store_close(st);
}

static void test_resubscribe(void)
{
	struct td_store *st = fresh_store(dir, "resub");
	REQUIRE(st);
	struct td_err err = { 0, "" };
	CHECK(put(st, "u@example.org", "U", "nato", "csv", 100) == TD_ROSTER_ADDED);
	CHECK(put(st, "b@example.org", "B", "nato", "csv", 100) == TD_ROSTER_ADDED);
	add_post(st, "p1", "nato", NULL);
	struct td_delivery d = { "u@example.org", 500, false, "m1@x", "250 ok", 0, 1, 1, 500 };
	CHECK(td_store_record_delivery(st, &d, &err) == 0);
	CHECK(td_roster_unsubscribe(st, "u@example.org", "preferences", 600, &err) == 0);
	CHECK(td_roster_unsubscribe(st, "u@example.org", "again", 610, &err) == 0);
	add_post(st, "p2", "nato", NULL);
	add_post(st, "p3", "nato", NULL);
	CHECK(td_roster_resubscribe(st, "U@example.org", 700, &err) == 0);
	CHECK(status_of(st, "u@example.org") == TD_MEMBER_ACTIVE);
	CHECK(may_send(st, "u@example.org", 700));
	CHECK(watermark(st, "u@example.org") == 3);
	/* again: nothing to do */
	CHECK(td_roster_resubscribe(st, "u@example.org", 710, &err) == 0);
	/* a bounced address cannot, nor can an unknown one */
	CHECK(td_store_suppress(st, "b@example.org", "all", "bounced", "", 600, &err) == 0);
	CHECK(td_roster_resubscribe(st, "b@example.org", 700, &err) == EX_NOPERM);
	CHECK(status_of(st, "b@example.org") == TD_MEMBER_BOUNCED);
	CHECK(td_roster_resubscribe(st, "x@example.org", 700, &err) == EX_NOINPUT);
	/* a reader without a watermark yet has none made for them */
	CHECK(td_roster_unsubscribe(st, "b@example.org", "x", 800, &err) == 0);
	CHECK(watermark(st, "b@example.org") == -1);
	td_store_close(st);
}

static void test_site_tags(void)
{
	struct td_store *st = fresh_store(dir, "sitetags");
	REQUIRE(st);
	struct td_err err = { 0, "" };
	add_post(st, "p1", "nato", "eu");
	add_post(st, "p2", "eu", NULL);
	add_post(st, "p3", "eu", "asia");
	add_post(st, "p4", "nato", NULL);
	struct td_strv slugs = TD_STRV_INIT, names = TD_STRV_INIT;
	CHECK(td_roster_site_tags(st, &slugs, &names, &err) == 0);
	char *got = joined(&slugs);
	CHECK_STR(got, "eu,nato,asia");
	free(got);
	CHECK(names.n == 3);
	td_strv_free(&slugs);
	td_strv_free(&names);
	td_store_close(st);
}

/* A store that version 6 filled: suppressions, no roster. After the
 * migration the roster is empty; the first rows for suppressed addresses
 * take the status the suppression says. */
static void test_migration_7(void)
{
	SQLITE_ONLY("a version 6 store is an SQLite file");
	char path[160];
	snprintf(path, sizeof path, "%s/v6.db", dir);
	sqlite3 *db = NULL;
	CHECK(sqlite3_open(path, &db) == SQLITE_OK);
	/* the tables version 6 has that the roster reads, and `sources`,
	 * which migration 9 adds columns to */
	char *msg = NULL;
	int rc = sqlite3_exec(db,
		"CREATE TABLE sources (name TEXT PRIMARY KEY,"
		" last_success INTEGER NOT NULL DEFAULT 0,"
		" last_error TEXT NOT NULL DEFAULT '',"
		" last_error_at INTEGER NOT NULL DEFAULT 0,"
		" failures INTEGER NOT NULL DEFAULT 0, etag TEXT NOT NULL DEFAULT '',"
		" last_modified TEXT NOT NULL DEFAULT '');"
		"CREATE TABLE suppressions (email TEXT NOT NULL, scope TEXT NOT NULL,"
		" reason TEXT NOT NULL, detail TEXT NOT NULL DEFAULT '',"
		" created_at INTEGER NOT NULL, PRIMARY KEY (email, scope));"
		"INSERT INTO suppressions VALUES ('left@example.org', 'all', 'unsubscribed',"
		" 'one-click', 10), ('gone@example.org', 'all', 'bounced', '550', 10),"
		" ('tag@example.org', 'nato', 'unsubscribed', '', 10);"
		"CREATE TABLE subscriber_state (email TEXT PRIMARY KEY,"
		" watermark INTEGER NOT NULL, last_slot INTEGER NOT NULL DEFAULT 0,"
		" last_sent_at INTEGER NOT NULL DEFAULT 0);"
		"PRAGMA user_version = 6;", NULL, NULL, &msg);
	CHECK(rc == SQLITE_OK);
	if (rc)
		fprintf(stderr, "  sql: %s\n", msg ? msg : "?");
	sqlite3_free(msg);
	sqlite3_close(db);
	struct td_store *st = NULL;
	struct td_err err = { 0, "" };
	CHECK(td_store_open(path, TD_STORE_READWRITE, &st, &err) == 0);
	if (!st) {
		fprintf(stderr, "  %s\n", err.msg);
		return;
	}
	CHECK(td_store_schema_version(st) >= 7);
	size_t counts[5];
	CHECK(td_roster_counts(st, counts, &err) == 0);
	CHECK(counts[0] + counts[1] + counts[2] + counts[3] + counts[4] == 0);
	CHECK(put(st, "Left@example.org", "L", "nato", "csv", 100) == TD_ROSTER_KEPT_OUT);
	CHECK(put(st, "gone@example.org", "G", "nato", "csv", 100) == TD_ROSTER_KEPT_OUT);
	CHECK(put(st, "tag@example.org", "T", "nato", "csv", 100) == TD_ROSTER_ADDED);
	CHECK(status_of(st, "left@example.org") == TD_MEMBER_UNSUBSCRIBED);
	CHECK(status_of(st, "gone@example.org") == TD_MEMBER_BOUNCED);
	CHECK(status_of(st, "tag@example.org") == TD_MEMBER_ACTIVE);
	CHECK(!may_send(st, "left@example.org", 100));
	/* lifting the old suppression brings the reader back */
	CHECK(td_store_unsuppress(st, "left@example.org", NULL, NULL, &err) == 0);
	CHECK(status_of(st, "left@example.org") == TD_MEMBER_ACTIVE);
	td_store_close(st);
}

static void test_names(void)
{
	enum td_frequency f;
	CHECK(td_frequency_parse("daily", &f) == 0 && f == TD_FREQ_DAILY);
	CHECK(td_frequency_parse("hourly", &f) < 0);
	CHECK_STR(td_frequency_name(TD_FREQ_MONTHLY), "monthly");
	enum td_member_status s;
	CHECK(td_member_status_parse("complained", &s) == 0 && s == TD_MEMBER_COMPLAINED);
	CHECK(td_member_status_parse("Active", &s) < 0);
	CHECK_STR(td_member_status_name(TD_MEMBER_PENDING), "pending");
}

int main(void)
{
	strcpy(dir, "/tmp/td-roster-XXXXXX");
	if (!mkdtemp(dir))
		return 2;
	store_fixture_init("roster");
	TD_RUN(test_names);
	TD_RUN(test_editor_rows);
	TD_RUN(test_store_wins);
	TD_RUN(test_may_send);
	TD_RUN(test_cursor);
	TD_RUN(test_list_and_counts);
	TD_RUN(test_signup_and_confirm);
	TD_RUN(test_signup_after_leaving);
	TD_RUN(test_rate_limit);
	TD_RUN(test_purge);
	TD_RUN(test_prefs);
	TD_RUN(test_resubscribe);
	TD_RUN(test_site_tags);
	TD_RUN(test_migration_7);
	store_fixture_done();
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	return TD_DONE(store_fixture_label("roster"));
}
