/*
 * test_claims.c: batches of readers shared by several senders
 * (store/claims.h) and the roster's walk bounded to a batch (roster.h),
 * on SQLite and on PostgreSQL (the server TD_TEST_PG_URL names: `make
 * unit` starts one with tests/pg_server.py; without it the PostgreSQL
 * half is reported SKIPPED, loudly).
 *
 * Each sender is its own store connection, as each `send` process is:
 * two never get the same batch; a batch is done for a run that began
 * before it was finished, walked again by one that began after; a sender
 * that dies (a child process that claims and exits without a word) leaves
 * its batch to the others once its lease ran out, and not before; one
 * whose lease another sender took learns it from its renewing thread.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "../../src/store/db.h"
#include "tagdigest/core/util.h"
#include "tagdigest/store/claims.h"
#include "tagdigest/store/roster.h"
#include "tagdigest/store/store.h"

static char dir[64];
static const char *pg_url;   /* TD_TEST_PG_URL */
static bool on_pg;           /* which half runs */
static char where[1024];     /* the store the running check uses */
static int n_opened;

/* One more connection to the running check's store. */
static struct td_store *open_store(void)
{
	struct td_store *st = NULL;
	struct td_err err = { 0, "" };
	if (td_store_open(where, TD_STORE_READWRITE, &st, &err))
		fprintf(stderr, "  open %s: %s\n", where, err.msg);
	return st;
}

/* A store for the running check with n members (ids 1..n): a new file
 * on SQLite; on PostgreSQL the one database, emptied first. */
static struct td_store *fresh(int n)
{
	n_opened++;
	if (on_pg)
		snprintf(where, sizeof where, "%s", pg_url);
	else
		snprintf(where, sizeof where, "%s/claims%d.db", dir, n_opened);
	if (on_pg) {
		struct td_db *db = NULL;
		struct td_err err = { 0, "" };
		struct td_store *st = open_store();    /* makes the schema */
		td_store_close(st);
		if (td_db_open(where, false, false, &db, &err) == 0) {
			CHECK(td_db_exec(db, "DELETE FROM send_batches; DELETE FROM member_tags;"
					 " DELETE FROM members;"
					 " ALTER TABLE members ALTER COLUMN id RESTART WITH 1")
			      == TD_DB_OK);
			td_db_close(db);
		}
	}
	struct td_store *st = open_store();
	if (!st)
		return NULL;
	struct td_strv tags = TD_STRV_INIT;
	td_strv_push(&tags, "usa");
	struct td_err err = { 0, "" };
	CHECK(td_store_begin(st, &err) == 0);
	for (int i = 1; i <= n; i++) {
		char email[64];
		snprintf(email, sizeof email, "r%04d@example.org", i);
		struct td_roster_row row = { email, "", &tags, "csv", "test" };
		enum td_roster_result res;
		if (td_roster_put(st, &row, 1000, &res, &err))
			fprintf(stderr, "  put %s: %s\n", email, err.msg);
	}
	CHECK(td_store_commit(st, &err) == 0);
	td_strv_free(&tags);
	return st;
}

/* Runs sql on the running check's store through its own connection. */
static int exec_on_store(const char *sql)
{
	struct td_db *db = NULL;
	struct td_err err = { 0, "" };
	if (td_db_open(where, false, false, &db, &err))
		return -1;
	int rc = td_db_exec(db, sql);
	if (rc)
		fprintf(stderr, "  %s: %s\n", sql, td_db_errmsg(db));
	td_db_close(db);
	return rc;
}

static struct td_claims *begin(struct td_store *st, int width, int lease)
{
	struct td_claims *c = NULL;
	struct td_claims_options o = { width, lease };
	struct td_err err = { 0, "" };
	if (td_claims_begin(st, &o, &c, &err))
		fprintf(stderr, "  claims: %s\n", err.msg);
	return c;
}

/* The next batch's first id, or 0 when none is left (-1 on an error). */
static long long next_first(struct td_claims *c, long long *last)
{
	int64_t f = 0, l = 0;
	bool got;
	struct td_err err = { 0, "" };
	if (td_claims_next(c, &f, &l, &got, &err)) {
		fprintf(stderr, "  claim: %s\n", err.msg);
		return -1;
	}
	if (last)
		*last = got ? l : 0;
	return got ? f : 0;
}

/* The lease of senders that stay alive through a test. A sender with
 * nothing left to claim while another holds batches waits a lease and a
 * third for them (claims.h): with 30 s that was 40 s of waiting per
 * check, 160 s of `make unit`; 3 s is the shortest the config takes and
 * the renewing thread keeps it live as well. */
#define LIVE_LEASE 3

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* Two senders split 25 readers in batches of 10: each batch once. A run
 * that began before they finished counts their batches done; one that
 * begins after walks them all again. */
static void test_two_senders_split(void)
{
	struct td_store *a = fresh(25), *b = open_store(), *c = open_store();
	REQUIRE(a && b && c);
	struct td_claims *ca = begin(a, 10, LIVE_LEASE), *cb = begin(b, 10, LIVE_LEASE);
	REQUIRE(ca && cb);
	CHECK(strcmp(td_claims_worker(ca), td_claims_worker(cb)) != 0);
	long long last;
	CHECK(next_first(ca, &last) == 1);
	CHECK(last == 10);
	CHECK(next_first(cb, &last) == 11);
	CHECK(last == 20);
	CHECK(next_first(ca, &last) == 21);
	CHECK(last == 30);
	CHECK(next_first(cb, NULL) == 0);
	CHECK(next_first(ca, NULL) == 0);
	CHECK(td_claims_count(ca) == 2 && td_claims_count(cb) == 1);
	/* a third sender of the same run: nothing left while they live */
	struct td_claims *cc = begin(c, 10, LIVE_LEASE);
	REQUIRE(cc);
	struct td_err err = { 0, "" };
	CHECK(td_claims_end(ca, true, &err) == 0);
	CHECK(td_claims_end(cb, true, &err) == 0);
	CHECK(next_first(cc, NULL) == 0);
	CHECK(td_claims_end(cc, true, &err) == 0);
	/* the next run looks at everyone again */
	sleep_ms(5);
	struct td_claims *cn = begin(a, 10, LIVE_LEASE);
	REQUIRE(cn);
	CHECK(next_first(cn, NULL) == 1);
	CHECK(next_first(cn, NULL) == 11);
	CHECK(next_first(cn, NULL) == 21);
	CHECK(next_first(cn, NULL) == 0);
	CHECK(td_claims_end(cn, true, &err) == 0);
	td_store_close(a);
	td_store_close(b);
	td_store_close(c);
}

/* A sender that stopped early hands its batches back at once, undone. */
static void test_handed_back(void)
{
	struct td_store *a = fresh(15), *b = open_store();
	REQUIRE(a && b);
	struct td_claims *ca = begin(a, 10, LIVE_LEASE), *cb = begin(b, 10, LIVE_LEASE);
	REQUIRE(ca && cb);
	CHECK(next_first(ca, NULL) == 1);
	CHECK(next_first(cb, NULL) == 11);
	struct td_err err = { 0, "" };
	CHECK(td_claims_end(ca, false, &err) == 0);
	CHECK(next_first(cb, NULL) == 1);
	CHECK(next_first(cb, NULL) == 0);
	CHECK(td_claims_end(cb, true, &err) == 0);
	td_store_close(a);
	td_store_close(b);
}

/* A sender killed with its batch claimed: the batch stays its own until
 * the lease runs out, and another sender of the same run, with nothing
 * else to claim, waits for that and takes it. */
static void test_dead_sender_expires(void)
{
	struct td_store *a = fresh(5);
	REQUIRE(a);
	/* forked before this process has threads of its own */
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		struct td_store *s = open_store();
		struct td_claims *c = s ? begin(s, 10, 2) : NULL;
		_exit(c && next_first(c, NULL) == 1 ? 0 : 1);   /* no end: a death */
	}
	int status = -1;
	REQUIRE(pid > 0 && waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	double t0 = td_mono_now();
	struct td_claims *ca = begin(a, 10, 2);
	REQUIRE(ca);
	/* its lease lives on: the claim waits for it to run out (at most a
	 * lease and a third), then takes the batch over in this run */
	long long got = next_first(ca, NULL);
	double waited = td_mono_now() - t0;
	CHECK(got == 1);
	CHECK(waited > 1.0 && waited < 3.5);
	struct td_err err = { 0, "" };
	CHECK(td_claims_end(ca, true, &err) == 0);
	td_store_close(a);
}

/* A live sender's leases are renewed: another sender does not get its
 * batch after the lease's length. */
static void test_renewed(void)
{
	struct td_store *a = fresh(5), *b = open_store();
	REQUIRE(a && b);
	struct td_claims *ca = begin(a, 10, 1), *cb = begin(b, 10, 1);
	REQUIRE(ca && cb);
	CHECK(next_first(ca, NULL) == 1);
	sleep_ms(2500);
	CHECK(next_first(cb, NULL) == 0);
	CHECK(!td_claims_lost(ca, 1));
	struct td_err err = { 0, "" };
	CHECK(td_claims_end(ca, true, &err) == 0);
	CHECK(td_claims_end(cb, true, &err) == 0);
	td_store_close(a);
	td_store_close(b);
}

/* A batch another sender took over (as after a stall longer than the
 * lease) is reported lost by the renewing thread. */
static void test_lost_lease(void)
{
	struct td_store *a = fresh(25);
	REQUIRE(a);
	struct td_claims *ca = begin(a, 10, 1);
	REQUIRE(ca);
	CHECK(next_first(ca, NULL) == 1);
	CHECK(next_first(ca, NULL) == 11);
	CHECK(exec_on_store("UPDATE send_batches SET worker = 'other' WHERE first_id = 1")
	      == 0);
	bool lost = false;
	for (int i = 0; i < 60 && !lost; i++) {     /* at most 3 s */
		sleep_ms(50);
		lost = td_claims_lost(ca, 1);
	}
	CHECK(lost);
	CHECK(!td_claims_lost(ca, 11));
	struct td_err err = { 0, "" };
	CHECK(td_claims_end(ca, true, &err) == 0);
	td_store_close(a);
}

/* A new width remakes the batches when no lease is live, and is put
 * off while one is. */
static void test_width_change(void)
{
	struct td_store *a = fresh(25), *b = open_store();
	REQUIRE(a && b);
	struct td_err err = { 0, "" };
	struct td_claims *ca = begin(a, 10, 30);
	REQUIRE(ca);
	CHECK(next_first(ca, NULL) == 1);
	struct td_claims *cb = begin(b, 20, 30);    /* a's lease lives */
	REQUIRE(cb);
	long long last;
	CHECK(next_first(cb, &last) == 11);
	CHECK(last == 20);
	CHECK(td_claims_end(ca, true, &err) == 0);
	CHECK(td_claims_end(cb, true, &err) == 0);
	struct td_claims *cc = begin(a, 20, 30);    /* none lives: remade */
	REQUIRE(cc);
	CHECK(next_first(cc, &last) == 1);
	CHECK(last == 20);
	CHECK(next_first(cc, &last) == 21);
	CHECK(last == 40);
	CHECK(next_first(cc, NULL) == 0);
	CHECK(td_claims_end(cc, true, &err) == 0);
	td_store_close(a);
	td_store_close(b);
}

/* The roster's walk bounded to a batch: its ids only, with the walk's
 * own filter (active, joined by the cutoff). */
static void test_range_cursor(void)
{
	struct td_store *a = fresh(30);
	REQUIRE(a);
	struct td_err err = { 0, "" };
	bool found;
	/* in a transaction of its own: a savepoint outside one is an error
	 * on PostgreSQL (the store's matter, not this test's) */
	CHECK(td_store_begin(a, &err) == 0);
	int rrc = td_roster_remove(a, "r0012@example.org", "test", 1000, &found, &err);
	CHECK(td_store_commit(a, &err) == 0);
	if (rrc)
		fprintf(stderr, "  remove: %s\n", err.msg);
	CHECK(rrc == 0);
	struct td_roster_cursor *cur = NULL;
	REQUIRE(td_roster_cursor_open_range(a, 2000, 2000, 11, 20, &cur, &err) == 0);
	CHECK(td_roster_cursor_total(cur) == 9);
	const struct td_member *m;
	int n = 0, rc;
	int64_t prev = 10;
	while ((rc = td_roster_cursor_next(cur, &m, &err)) == 1) {
		CHECK(m->id > prev && m->id <= 20 && m->id != 12);
		prev = m->id;
		n++;
	}
	CHECK(rc == 0);
	CHECK(n == 9);
	td_roster_cursor_close(cur);
	/* a cutoff before they joined: none */
	REQUIRE(td_roster_cursor_open_range(a, 999, 2000, 1, 30, &cur, &err) == 0);
	CHECK(td_roster_cursor_next(cur, &m, &err) == 0);
	td_roster_cursor_close(cur);
	td_store_close(a);
}

/* Every check on the backend on_pg names; failures say which it was. */
static void run_half(void)
{
	int before = td_test_failed;
	TD_RUN(test_two_senders_split);
	TD_RUN(test_handed_back);
	TD_RUN(test_dead_sender_expires);
	TD_RUN(test_renewed);
	TD_RUN(test_lost_lease);
	TD_RUN(test_width_change);
	TD_RUN(test_range_cursor);
	if (td_test_failed != before)
		fprintf(stderr, "  (the failures above: on %s)\n", on_pg ? "PostgreSQL" : "SQLite");
}

static void no_postgresql(void)
{
	TD_SKIP("the same checks on PostgreSQL: no TD_TEST_PG_URL (`make unit` "
		"gives one; alone: python3 tests/pg_server.py run -- build/asan/test_claims)");
}

int main(void)
{
	const char *url = getenv("TD_TEST_PG_URL");
	pg_url = url && *url ? url : NULL;
	strcpy(dir, "/tmp/td-claims-XXXXXX");
	if (!mkdtemp(dir))
		return 2;
	for (int half = 0; half < 2; half++) {
		on_pg = half == 1;
		if (on_pg && !pg_url)
			TD_RUN(no_postgresql);
		else
			run_half();
	}
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	return TD_DONE("claims");
}
