/*
 * test_runs.c: the desk's reads of the store: the reader search
 * (roster.h td_roster_search: substring of address or name, folded case
 * also outside ASCII, LIKE's wildcards taken literally, pages and the
 * total), the run history (runs.h: a started run is "interrupted" until
 * it is finished, newest first, pages) and a reader's recent digests
 * (deliveries and pending digests, with their outcome), and migration
 * 10 upgrading a store that main made (version 8).
 */
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "roster_fixture.h"
#include "tagdigest/core/buf.h"
#include "tagdigest/store/roster.h"
#include "tagdigest/store/runs.h"
#include "tagdigest/store/store.h"
#include "tagdigest/core/util.h"

static char dir[64];

static void add(struct td_store *st, const char *email, const char *name)
{
	struct td_strv t = TD_STRV_INIT;
	td_strv_push(&t, "news");
	struct td_roster_row row = { email, name, &t, "csv", "t.csv:2" };
	enum td_roster_result r;
	struct td_err err = { 0, "" };
	int rc = td_roster_put(st, &row, 100, &r, &err);
	CHECK(rc == 0 && r == TD_ROSTER_ADDED);
	if (rc)
		fprintf(stderr, "  put %s: %s\n", email, err.msg);
	td_strv_free(&t);
}

/* The addresses td_roster_search finds, joined with ' ', and *total. */
static char *found(struct td_store *st, const char *q, size_t offset, size_t limit,
		   size_t *total)
{
	struct td_member *v = NULL;
	size_t n = 0;
	struct td_err err = { 0, "" };
	int rc = td_roster_search(st, q, offset, limit, &v, &n, total, &err);
	CHECK(rc == 0);
	if (rc)
		fprintf(stderr, "  search '%s': %s\n", q, err.msg);
	struct td_buf b = TD_BUF_INIT;
	for (size_t i = 0; i < n; i++) {
		td_buf_puts(&b, i ? " " : "");
		td_buf_puts(&b, v[i].email);
	}
	td_members_free(v, n);
	return td_buf_steal(&b);
}

#define FOUND(q, offset, limit, want, want_total)                           \
	do {                                                                \
		size_t total_ = 999;                                        \
		char *got_ = found(st, q, offset, limit, &total_);          \
		CHECK_STR(got_, want);                                      \
		CHECK(total_ == (want_total));                              \
		free(got_);                                                 \
	} while (0)

static void test_search(void)
{
	struct td_store *st = fresh_store(dir, "search");
	REQUIRE(st);
	add(st, "Zoe.Miller@Example.org", "Zoë Miller");
	add(st, "anna@example.org", "Anna Schmidt");
	add(st, "bob@mail.example", "Bob 100% Sure");
	add(st, "eva@example.net", "ÉVA SZABÓ");
	add(st, "ivan@example.ru", "Иван Петров");
	add(st, "under_score@example.org", "");
	add(st, "underXscore@example.org", "");
	/* part of an address, any case; ordered by address */
	FOUND("EXAMPLE.ORG", 0, 10,
	      "anna@example.org under_score@example.org underXscore@example.org "
	      "Zoe.Miller@Example.org", 4);
	/* part of a name, folded outside ASCII both ways */
	FOUND("éva sz", 0, 10, "eva@example.net", 1);
	FOUND("ZOË", 0, 10, "Zoe.Miller@Example.org", 1);
	FOUND("пЕТР", 0, 10, "ivan@example.ru", 1);
	FOUND("schmidt", 0, 10, "anna@example.org", 1);
	/* % and _ are characters, not wildcards */
	FOUND("100%", 0, 10, "bob@mail.example", 1);
	FOUND("r_s", 0, 10, "under_score@example.org", 1);
	FOUND("%", 0, 10, "bob@mail.example", 1);
	FOUND("\\", 0, 10, "", 0);
	/* nothing, and everyone */
	FOUND("nobody", 0, 10, "", 0);
	FOUND("", 0, 3, "anna@example.org bob@mail.example eva@example.net", 7);
	/* pages */
	FOUND("example", 4, 2, "under_score@example.org underXscore@example.org", 7);
	FOUND("example", 6, 2, "Zoe.Miller@Example.org", 7);
	FOUND("example", 7, 2, "", 7);
	/* every status */
	struct td_err err = { 0, "" };
	CHECK(td_roster_unsubscribe(st, "anna@example.org", "link", 200, &err) == 0);
	FOUND("anna", 0, 10, "anna@example.org", 1);
	td_store_close(st);
}

/* 5,000 readers: a page of a search is read without a sort of them all
 * (the plan walks the covering index) and answers in milliseconds. */
static void test_search_many(void)
{
	struct td_store *st = fresh_store(dir, "many");
	REQUIRE(st);
	struct td_err err = { 0, "" };
	REQUIRE(td_store_begin(st, &err) == 0);
	for (int i = 0; i < 5000; i++) {
		char email[64], name[64];
		snprintf(email, sizeof email, "reader%04d@example.org", i);
		snprintf(name, sizeof name, "Reader %d%s", i, i % 500 == 7 ? " Ödön" : "");
		struct td_strv t = TD_STRV_INIT;
		td_strv_push(&t, "news");
		struct td_roster_row row = { email, name, &t, "csv", "t.csv:2" };
		enum td_roster_result r;
		if (td_roster_put(st, &row, 100, &r, &err) != 0)
			break;
		td_strv_free(&t);
	}
	CHECK(td_store_commit(st, &err) == 0);
	double t0 = td_mono_now();
	FOUND("ÖDÖN", 0, 3,
	      "reader0007@example.org reader0507@example.org reader1007@example.org", 10);
	FOUND("reader49", 95, 10,
	      "reader4995@example.org reader4996@example.org reader4997@example.org "
	      "reader4998@example.org reader4999@example.org", 100);
	double ms = (td_mono_now() - t0) * 1000;
	fprintf(stderr, "  two searches of 5,000 readers: %.1f ms\n", ms);
	CHECK(ms < 1000);
	td_store_close(st);
}

static void test_runs(void)
{
	struct td_store *st = fresh_store(dir, "runs");
	REQUIRE(st);
	struct td_err err = { 0, "" };
	struct td_run *v = NULL;
	size_t n = 9, total = 9;
	CHECK(td_store_runs(st, 0, 10, &v, &n, &total, &err) == 0);
	CHECK(n == 0 && total == 0 && v == NULL);
	int64_t a = 0, b = 0, c = 0;
	CHECK(td_store_run_begin(st, "send", 1000, &a, &err) == 0);
	struct td_run fin = { .finished_at = 1010, .subscribers = 50, .not_due = 1,
			      .sent = 40, .skipped = 5, .suppressed = 1, .tempfail = 2,
			      .permfail = 1, .deferred = 0, .expired = 0, .bounced = 0,
			      .resent = 3, .slot = 900, .seconds = 9.5, .note = (char *)"" };
	CHECK(td_store_run_finish(st, a, &fin, &err) == 0);
	/* killed midway: started, never finished */
	CHECK(td_store_run_begin(st, "run", 2000, &b, &err) == 0);
	CHECK(td_store_run_begin(st, "run", 3000, &c, &err) == 0);
	struct td_run stop = { .finished_at = 3005, .sent = 7, .exit_code = 75,
			       .stopped_by_signal = 15,
			       .note = (char *)"send: interrupted by SIGTERM" };
	CHECK(td_store_run_finish(st, c, &stop, &err) == 0);
	CHECK(a && b && c && a != b && b != c);

	CHECK(td_store_runs(st, 0, 10, &v, &n, &total, &err) == 0);
	REQUIRE(n == 3 && total == 3);
	/* newest first */
	CHECK(v[0].id == c && v[1].id == b && v[2].id == a);
	CHECK_STR(v[0].command, "run");
	CHECK(v[0].finished_at == 3005 && v[0].exit_code == 75 && v[0].stopped_by_signal == 15);
	CHECK_STR(v[0].note, "send: interrupted by SIGTERM");
	CHECK(v[1].started_at == 2000 && v[1].finished_at == 0 && v[1].sent == 0);
	CHECK_STR(v[2].command, "send");
	CHECK(v[2].started_at == 1000 && v[2].finished_at == 1010);
	CHECK(v[2].subscribers == 50 && v[2].not_due == 1 && v[2].sent == 40 &&
	      v[2].skipped == 5 && v[2].suppressed == 1 && v[2].tempfail == 2 &&
	      v[2].permfail == 1 && v[2].resent == 3 && v[2].slot == 900 &&
	      v[2].seconds > 9.4 && v[2].seconds < 9.6);
	CHECK_STR(v[2].note, "");
	td_runs_free(v, n);
	/* a page */
	CHECK(td_store_runs(st, 1, 1, &v, &n, &total, &err) == 0);
	CHECK(n == 1 && total == 3 && v[0].id == b);
	td_runs_free(v, n);
	CHECK(td_store_runs(st, 3, 1, &v, &n, &total, &err) == 0);
	CHECK(n == 0 && total == 3);
	td_runs_free(v, n);
	td_store_close(st);
}

static void test_reader_digests(void)
{
	struct td_store *st = fresh_store(dir, "digests");
	REQUIRE(st);
	struct td_err err = { 0, "" };
	struct td_delivery d1 = { "Ann@example.org", 1000, false, "m1@x", "250 ok", 0, 5,
				  5, 1001 };
	struct td_delivery d2 = { "ann@example.org", 2000, true, NULL, NULL, 5, 5, 0, 2001 };
	struct td_delivery other = { "bob@example.org", 2500, false, "m9@x", "250 ok", 0,
				     5, 5, 2501 };
	CHECK(td_store_record_delivery(st, &d1, &err) == 0);
	CHECK(td_store_record_delivery(st, &d2, &err) == 0);
	CHECK(td_store_record_delivery(st, &other, &err) == 0);
	struct td_pending retry = { .email = (char *)"ann@example.org", .slot = 3000,
				    .state = (char *)"retry", .message_id = (char *)"m3@x",
				    .message = (char *)"x", .message_len = 1,
				    .from_seq = 5, .upto_seq = 8, .post_count = 3,
				    .attempts = 1, .first_attempt_at = 3001,
				    .next_attempt_at = 3600,
				    .last_error = (char *)"451 try later" };
	struct td_pending gone = retry;
	gone.slot = 1500;
	gone.state = (char *)"expired";
	gone.message_id = (char *)"m2@x";
	gone.first_attempt_at = 1501;
	gone.last_error = (char *)"421 gone";
	CHECK(td_store_pending_put(st, &retry, &err) == 0);
	CHECK(td_store_pending_put(st, &gone, &err) == 0);

	struct td_reader_digest *v = NULL;
	size_t n = 0;
	CHECK(td_store_reader_digests(st, "ANN@example.org", 10, &v, &n, &err) == 0);
	REQUIRE(n == 4);
	CHECK(v[0].slot == 3000 && strcmp(v[0].outcome, "retrying") == 0 &&
	      v[0].post_count == 3 && v[0].next_attempt_at == 3600 && v[0].at == 3001);
	CHECK_STR(v[0].detail, "451 try later");
	CHECK(v[1].slot == 2000 && strcmp(v[1].outcome, "skipped") == 0 &&
	      v[1].post_count == 0 && v[1].at == 2001);
	CHECK(v[2].slot == 1500 && strcmp(v[2].outcome, "failed") == 0);
	CHECK_STR(v[2].detail, "421 gone");
	CHECK(v[3].slot == 1000 && strcmp(v[3].outcome, "sent") == 0 &&
	      v[3].post_count == 5 && v[3].next_attempt_at == 0);
	CHECK_STR(v[3].message_id, "m1@x");
	td_reader_digests_free(v, n);
	/* the last N */
	CHECK(td_store_reader_digests(st, "ann@example.org", 2, &v, &n, &err) == 0);
	CHECK(n == 2 && v[0].slot == 3000 && v[1].slot == 2000);
	td_reader_digests_free(v, n);
	CHECK(td_store_reader_digests(st, "nobody@example.org", 5, &v, &n, &err) == 0);
	CHECK(n == 0);
	td_reader_digests_free(v, n);
	td_store_close(st);
}

/* A store main made (schema 8, no runs table, no search index) gains
 * both when opened, and keeps its members. */
static void test_migration_10(void)
{
	SQLITE_ONLY("a schema 8 store is an SQLite file");
	struct td_store *st = fresh_store(dir, "v8");
	REQUIRE(st);
	add(st, "kept@example.org", "Kept");
	td_store_close(st);
	char path[160];
	snprintf(path, sizeof path, "%s/v8.db", dir);
	sqlite3 *db = NULL;
	CHECK(sqlite3_open(path, &db) == SQLITE_OK);
	CHECK(sqlite3_exec(db, "DROP TABLE runs; DROP INDEX members_search;"
			   "PRAGMA user_version = 8;", NULL, NULL, NULL) == SQLITE_OK);
	sqlite3_close(db);
	/* READONLY refuses a store that needs the migration */
	struct td_err err = { 0, "" };
	st = NULL;
	CHECK(td_store_open(path, TD_STORE_READONLY, &st, &err) == EX_NOINPUT);
	td_store_close(st);
	st = NULL;
	REQUIRE(td_store_open(path, TD_STORE_READWRITE, &st, &err) == 0);
	CHECK(td_store_schema_version(st) >= 10);
	int64_t id = 0;
	CHECK(td_store_run_begin(st, "send", 5, &id, &err) == 0 && id > 0);
	FOUND("KEPT", 0, 5, "kept@example.org", 1);
	td_store_close(st);
	CHECK(sqlite3_open(path, &db) == SQLITE_OK);
	sqlite3_stmt *s = NULL;
	CHECK(sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE name = 'members_search'",
				 -1, &s, NULL) == SQLITE_OK);
	CHECK(sqlite3_step(s) == SQLITE_ROW);
	sqlite3_finalize(s);
	sqlite3_close(db);
}

int main(void)
{
	strcpy(dir, "/tmp/td-runs-XXXXXX");
	if (!mkdtemp(dir))
		return 2;
	store_fixture_init("runs");
	TD_RUN(test_search);
	TD_RUN(test_search_many);
	TD_RUN(test_runs);
	TD_RUN(test_reader_digests);
	TD_RUN(test_migration_10);
	store_fixture_done();
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	return TD_DONE(store_fixture_label("runs"));
}
