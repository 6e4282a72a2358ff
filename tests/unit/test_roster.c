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
#include "tagdigest/store/roster.h"
#include "tagdigest/store/store.h"
#include "tagdigest/core/util.h"

static char dir[64];

/* A fresh store of its own for each test. */
static struct td_store *fresh(const char *name)
{
	char path[160];
	snprintf(path, sizeof path, "%s/%s.db", dir, name);
	unlink(path);
	struct td_store *st = NULL;
	struct td_err err = { 0, "" };
	if (td_store_open(path, TD_STORE_READWRITE, &st, &err) != 0)
		fprintf(stderr, "open %s: %s\n", path, err.msg);
	return st;
}

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

/* The member's status, or -1 when unknown. */
static int status_of(struct td_store *st, const char *email)
{
	struct td_member m;
	bool found;
	struct td_err err = { 0, "" };
	int rc = td_roster_get(st, email, &m, &found, &err);
	int s = rc || !found ? -1 : (int)m.status;
	td_member_free(&m);
	return s;
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
	struct td_store *st = fresh("editor");
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
	td_store_close(st);
}

/* The reader's word wins: an unsubscribed, bounced or complained address
 * is never brought back by a row, and tags a reader chose stay theirs. */
static void test_store_wins(void)
{
	struct td_store *st = fresh("wins");
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
	struct td_store *st = fresh("maysend");
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
	struct td_store *st = fresh("cursor");
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
	struct td_store *st = fresh("list");
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
	TD_RUN(test_names);
	TD_RUN(test_editor_rows);
	TD_RUN(test_store_wins);
	TD_RUN(test_may_send);
	TD_RUN(test_cursor);
	TD_RUN(test_list_and_counts);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	return TD_DONE("roster");
}
