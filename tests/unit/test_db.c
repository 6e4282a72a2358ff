/*
 * test_db.c: db.h, the store's one connection API, held to the same
 * checks on both backends: SQLite (a file in a temporary folder) and
 * PostgreSQL (the server TD_TEST_PG_URL names: `make test` starts one with
 * tests/pg_server.py; each check gets a fresh database there). Without
 * TD_TEST_PG_URL the PostgreSQL half is reported SKIPPED, loudly.
 *
 * What is checked: values of every bound type back as they went in (a
 * 64-bit integer, UTF-8 text, NULL, a blob with NUL bytes, a double to
 * the last bit), ?N and ? numbering, a ? inside literals, identifiers and
 * comments left alone, constraint and lock errors by code, the count of
 * changed rows, transactions and the autocommit state (and on PostgreSQL
 * the COMMIT that quietly rolled back, reported as the error it is),
 * reset and re-run, 200,000 rows walked with another statement run in the
 * middle and a reset half way, a read-only connection refusing a write;
 * and on PostgreSQL the connection's own errors: a URL with a password
 * refused without echoing it, an unreachable server, an unknown role, a
 * missing database, a connection the server dropped, the session
 * settings, a row lock waited for until its holder ends (a sender must
 * record what the relay took) unless a lock_timeout is asked for, then
 * busy, and a store's migration waiting for another's.
 */
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "harness.h"
#include "../../src/store/db.h"
#include "tagdigest/core/util.h"
#include "tagdigest/store/store.h"
#include "../../src/store/store_impl.h"

static char dir[64];
static const char *pg_url;  /* TD_TEST_PG_URL */
static bool on_pg;          /* which half runs */
static int n_opened;
static int pg_first;        /* the first database number on PostgreSQL */
static char where[1024];    /* the database the running check uses */

/* The URL of database name on TD_TEST_PG_URL's server. */
static void pg_url_for(char *out, size_t len, const char *name)
{
	const char *slash = strchr(pg_url + strlen("postgresql://"), '/');
	size_t host = slash ? (size_t)(slash - pg_url) : strlen(pg_url);
	snprintf(out, len, "%.*s/%s", (int)host, pg_url, name);
}

/* A fresh, empty database for the running check (its path or URL in
 * `where`), opened read-write; NULL (a failed check) when it cannot be. */
static struct td_db *fresh(void)
{
	struct td_err err = { 0, "" };
	struct td_db *db = NULL;
	n_opened++;
	if (!on_pg) {
		snprintf(where, sizeof where, "%s/db%d.sqlite", dir, n_opened);
	} else {
		char name[64], sql[128];
		snprintf(name, sizeof name, "td_db_%ld_%d", (long)getpid(), n_opened);
		struct td_db *admin = NULL;
		if (td_db_open(pg_url, false, false, &admin, &err)) {
			fprintf(stderr, "  admin connection: %s\n", err.msg);
			CHECK(!"admin connection");
			return NULL;
		}
		snprintf(sql, sizeof sql, "CREATE DATABASE %s", name);
		int rc = td_db_exec(admin, sql);
		if (rc)
			fprintf(stderr, "  %s: %s\n", sql, td_db_errmsg(admin));
		td_db_close(admin);
		CHECK(rc == TD_DB_OK);
		pg_url_for(where, sizeof where, name);
	}
	if (td_db_open(where, false, true, &db, &err)) {
		fprintf(stderr, "  open %s: %s\n", where, err.msg);
		CHECK(!"open");
		return NULL;
	}
	return db;
}

/* Drops the databases the PostgreSQL half made. */
static void drop_pg_databases(void)
{
	struct td_err err = { 0, "" };
	struct td_db *admin = NULL;
	if (td_db_open(pg_url, false, false, &admin, &err))
		return;
	for (int i = pg_first; i <= n_opened; i++) {
		char sql[128];
		snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS td_db_%ld_%d WITH (FORCE)",
			 (long)getpid(), i);
		td_db_exec(admin, sql);
	}
	td_db_close(admin);
}

/* Runs sql (no parameters) and returns its first column of the first
 * row as a malloc'd string ("(null)" for NULL, "(error)" on failure). */
static char *one(struct td_db *db, const char *sql)
{
	struct td_db_stmt *s;
	if (td_db_prepare(db, sql, &s) != TD_DB_OK)
		return td_xstrdup("(error)");
	int rc = td_db_step(s);
	char *v = rc == TD_DB_ROW ? td_xstrdup(td_db_column_text(s, 0) ?
					       td_db_column_text(s, 0) : "(null)")
				  : td_xstrdup("(error)");
	if (rc != TD_DB_ROW)
		fprintf(stderr, "  %s: %d %s\n", sql, rc, td_db_errmsg(db));
	td_db_finalize(s);
	return v;
}

#define CHECK_ONE(db, sql, want)                                            \
	do {                                                                \
		char *v_ = one(db, sql);                                    \
		CHECK_STR(v_, want);                                        \
		free(v_);                                                   \
	} while (0)

#define EXEC_OK(db, sql)                                                    \
	do {                                                                \
		int rc_ = td_db_exec(db, sql);                              \
		if (rc_ != TD_DB_OK)                                        \
			fprintf(stderr, "  %s: %s\n", sql, td_db_errmsg(db)); \
		REQUIRE(rc_ == TD_DB_OK);                                   \
	} while (0)

static const char CREATE_T_LITE[] =
	"CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL, note TEXT,"
	" data BLOB, score REAL)";
static const char CREATE_T_PG[] =
	"CREATE TABLE t (id BIGINT PRIMARY KEY, name TEXT NOT NULL, note TEXT,"
	" data BYTEA, score DOUBLE PRECISION)";

static void test_values(void)
{
	struct td_db *db = fresh();
	REQUIRE(db);
	EXEC_OK(db, td_db_pick(db, CREATE_T_LITE, CREATE_T_PG));

	static const char blob[] = { 'a', 0, 'b', 0, (char)0xff };
	const int64_t big = ((int64_t)1 << 40) + 7;
	const double score = 0.1 + 0.2; /* 0.30000000000000004: every bit counts */
	struct td_db_stmt *s;
	REQUIRE(td_db_prepare(db, "INSERT INTO t (id, name, note, data, score) "
			      "VALUES (?1, ?2, ?3, ?4, ?5)", &s) == TD_DB_OK);
	CHECK(td_db_bind_parameter_count(s) == 5);
	CHECK(td_db_bind_int64(s, 1, big) == TD_DB_OK);
	CHECK(td_db_bind_text(s, 2, "h\xc3\xa9llo, w\xc3\xb6rld") == TD_DB_OK);
	CHECK(td_db_bind_null(s, 3) == TD_DB_OK);
	CHECK(td_db_bind_blob(s, 4, blob, sizeof blob) == TD_DB_OK);
	CHECK(td_db_bind_double(s, 5, score) == TD_DB_OK);
	CHECK(td_db_step(s) == TD_DB_DONE);
	CHECK(td_db_changes(db) == 1);
	td_db_finalize(s);

	/* bare ?, numbered left to right; an empty blob is not NULL */
	REQUIRE(td_db_prepare(db, "INSERT INTO t (id, name, data) VALUES (?, ?, ?)",
			      &s) == TD_DB_OK);
	CHECK(td_db_bind_parameter_count(s) == 3);
	td_db_bind_int64(s, 1, 123);
	td_db_bind_text(s, 2, "second");
	td_db_bind_blob(s, 3, "", 0);
	CHECK(td_db_step(s) == TD_DB_DONE);
	td_db_finalize(s);

	REQUIRE(td_db_prepare(db, "SELECT id, name, note, data, score FROM t "
			      "WHERE id = ?1", &s) == TD_DB_OK);
	td_db_bind_int64(s, 1, big);
	REQUIRE(td_db_step(s) == TD_DB_ROW);
	CHECK(td_db_column_int64(s, 0) == big);
	CHECK(td_db_column_type(s, 0) == TD_DB_INTEGER);
	CHECK_STR(td_db_column_text(s, 1), "h\xc3\xa9llo, w\xc3\xb6rld");
	CHECK(td_db_column_type(s, 1) == TD_DB_TEXT);
	CHECK(td_db_column_bytes(s, 1) == 14);
	CHECK(td_db_column_text(s, 2) == NULL);
	CHECK(td_db_column_type(s, 2) == TD_DB_NULL);
	CHECK(td_db_column_type(s, 3) == TD_DB_BLOB);
	CHECK(td_db_column_bytes(s, 3) == (int)sizeof blob);
	const void *got = td_db_column_blob(s, 3);
	CHECK(got && memcmp(got, blob, sizeof blob) == 0);
	CHECK(td_db_column_type(s, 4) == TD_DB_FLOAT);
	CHECK(td_db_column_double(s, 4) == score);
	CHECK(td_db_step(s) == TD_DB_DONE);

	td_db_reset(s);
	td_db_bind_int64(s, 1, 123);
	REQUIRE(td_db_step(s) == TD_DB_ROW);
	CHECK_STR(td_db_column_text(s, 1), "second");
	CHECK(td_db_column_type(s, 3) == TD_DB_BLOB);
	CHECK(td_db_column_bytes(s, 3) == 0);
	CHECK(td_db_column_type(s, 4) == TD_DB_NULL);
	CHECK(td_db_step(s) == TD_DB_DONE);
	td_db_finalize(s);

	/* parameters nothing around them gives a type: NULL, text, and
	 * one left unbound, which is NULL */
	REQUIRE(td_db_prepare(db, "SELECT count(*) FROM t WHERE (?1 IS NULL OR name = ?1)"
			      " AND (?2 IS NULL OR ?2 || ',' = 'second,')", &s) == TD_DB_OK);
	td_db_bind_null(s, 1);
	int rc = td_db_step(s);
	CHECK(rc == TD_DB_ROW);
	if (rc == TD_DB_ROW)
		CHECK_STR(td_db_column_text(s, 0), "2");
	else
		fprintf(stderr, "  %s\n", td_db_errmsg(db));
	td_db_reset(s);
	td_db_bind_text(s, 2, "second");
	CHECK(td_db_step(s) == TD_DB_ROW);
	CHECK_STR(td_db_column_text(s, 0), "2");
	td_db_reset(s);
	td_db_bind_text(s, 1, "second");
	CHECK(td_db_step(s) == TD_DB_ROW);
	CHECK_STR(td_db_column_text(s, 0), "1");
	td_db_finalize(s);

	/* a comparison reads as 1 / 0 on both */
	CHECK_ONE(db, "SELECT count(*) > 1 FROM t", "1");
	td_db_close(db);
}

static void test_literals(void)
{
	struct td_db *db = fresh();
	REQUIRE(db);
	struct td_db_stmt *s;
	/* ? in a string (with '' inside), a quoted identifier and comments
	 * are no parameters: one parameter here */
	REQUIRE(td_db_prepare(db, "SELECT 'a?1''?b' AS \"w?2\", ?1 -- ?3\n"
			      ", /* ?4 */ 'x' || ?1", &s) == TD_DB_OK);
	CHECK(td_db_bind_parameter_count(s) == 1);
	td_db_bind_text(s, 1, "7");
	REQUIRE(td_db_step(s) == TD_DB_ROW);
	CHECK_STR(td_db_column_text(s, 0), "a?1'?b");
	CHECK_STR(td_db_column_text(s, 1), "7");
	CHECK_STR(td_db_column_text(s, 2), "x7");
	CHECK(td_db_step(s) == TD_DB_DONE);
	td_db_finalize(s);

	/* ?2 before ?1, and a number used twice */
	REQUIRE(td_db_prepare(db, "SELECT ?2 || '-' || ?1 || '-' || ?2", &s) == TD_DB_OK);
	CHECK(td_db_bind_parameter_count(s) == 2);
	td_db_bind_text(s, 1, "a");
	td_db_bind_text(s, 2, "b");
	REQUIRE(td_db_step(s) == TD_DB_ROW);
	CHECK_STR(td_db_column_text(s, 0), "b-a-b");
	td_db_finalize(s);

	/* a number left out: ?2 is bound and used nowhere */
	REQUIRE(td_db_prepare(db, "SELECT ?3 || ?1", &s) == TD_DB_OK);
	CHECK(td_db_bind_parameter_count(s) == 3);
	td_db_bind_text(s, 1, "a");
	td_db_bind_text(s, 2, "unused");
	td_db_bind_text(s, 3, "c");
	int rc = td_db_step(s);
	CHECK(rc == TD_DB_ROW);
	if (rc == TD_DB_ROW)
		CHECK_STR(td_db_column_text(s, 0), "ca");
	else
		fprintf(stderr, "  %s\n", td_db_errmsg(db));
	td_db_finalize(s);
	td_db_close(db);
}

static void test_constraint(void)
{
	struct td_db *db = fresh();
	REQUIRE(db);
	EXEC_OK(db, td_db_pick(db, CREATE_T_LITE, CREATE_T_PG));
	EXEC_OK(db, "INSERT INTO t (id, name) VALUES (1, 'one')");

	struct td_db_stmt *s;
	REQUIRE(td_db_prepare(db, "INSERT INTO t (id, name) VALUES (?1, ?2)", &s) == TD_DB_OK);
	td_db_bind_int64(s, 1, 1);
	td_db_bind_text(s, 2, "again");
	CHECK(td_db_step(s) == TD_DB_CONSTRAINT);
	CHECK(td_db_errcode(db) == TD_DB_CONSTRAINT);
	const char *m = td_db_errmsg(db);
	CHECK(m && *m && !strchr(m, '\n'));
	if (on_pg)
		CHECK(strstr(m, "duplicate key") && strstr(m, "(23505)"));
	/* NOT NULL, and the statement works again after a reset */
	td_db_reset(s);
	td_db_bind_int64(s, 1, 2);
	td_db_bind_null(s, 2);
	CHECK(td_db_step(s) == TD_DB_CONSTRAINT);
	td_db_reset(s);
	td_db_bind_text(s, 2, "two");
	CHECK(td_db_step(s) == TD_DB_DONE);
	td_db_finalize(s);
	CHECK_ONE(db, "SELECT count(*) FROM t", "2");

	/* a plain error is TD_DB_ERROR */
	CHECK(td_db_exec(db, "SELECT * FROM no_such_table") == TD_DB_ERROR);
	CHECK(strstr(td_db_errmsg(db), "no_such_table") != NULL);
	td_db_close(db);
}

static void test_changes(void)
{
	struct td_db *db = fresh();
	REQUIRE(db);
	EXEC_OK(db, td_db_pick(db, CREATE_T_LITE, CREATE_T_PG));
	EXEC_OK(db, "INSERT INTO t (id, name) VALUES (1, 'a'), (2, 'b'), (3, 'c')");
	CHECK(td_db_changes(db) == 3);

	struct td_db_stmt *s;
	REQUIRE(td_db_prepare(db, "UPDATE t SET note = ?2 WHERE id >= ?1", &s) == TD_DB_OK);
	td_db_bind_int64(s, 1, 2);
	td_db_bind_text(s, 2, "n");
	CHECK(td_db_step(s) == TD_DB_DONE);
	CHECK(td_db_changes(db) == 2);
	td_db_finalize(s);

	/* a select leaves the count alone */
	CHECK_ONE(db, "SELECT count(*) FROM t", "3");
	CHECK(td_db_changes(db) == 2);

	/* RETURNING: rows as a select, counted once walked */
	REQUIRE(td_db_prepare(db, "DELETE FROM t WHERE id <> ?1 RETURNING id", &s) == TD_DB_OK);
	td_db_bind_int64(s, 1, 2);
	int rows = 0, rc;
	int64_t sum = 0;
	while ((rc = td_db_step(s)) == TD_DB_ROW && rows < 10) {
		rows++;
		sum += td_db_column_int64(s, 0);
	}
	CHECK(rc == TD_DB_DONE);
	CHECK(rows == 2 && sum == 4);
	CHECK(td_db_changes(db) == 2);
	td_db_finalize(s);

	EXEC_OK(db, "DELETE FROM t WHERE id = 99");
	CHECK(td_db_changes(db) == 0);
	td_db_close(db);
}

static void test_transaction(void)
{
	struct td_db *db = fresh();
	REQUIRE(db);
	EXEC_OK(db, td_db_pick(db, CREATE_T_LITE, CREATE_T_PG));
	CHECK(td_db_autocommit(db));
	EXEC_OK(db, "BEGIN");
	CHECK(!td_db_autocommit(db));
	EXEC_OK(db, "INSERT INTO t (id, name) VALUES (1, 'kept')");
	EXEC_OK(db, "COMMIT");
	CHECK(td_db_autocommit(db));

	/* a failed statement inside a transaction */
	EXEC_OK(db, "BEGIN");
	EXEC_OK(db, "INSERT INTO t (id, name) VALUES (2, 'two')");
	CHECK(td_db_exec(db, "INSERT INTO t (id, name) VALUES (1, 'dup')") == TD_DB_CONSTRAINT);
	int rc = td_db_exec(db, "COMMIT");
	if (on_pg) {
		/* PostgreSQL answers this COMMIT with ROLLBACK: everything in
		 * the transaction is gone, and the caller must hear it */
		CHECK(rc == TD_DB_ERROR);
		const char *m = td_db_errmsg(db);
		CHECK(strncmp(m, "transaction was rolled back: ", 29) == 0);
		CHECK(strstr(m, "duplicate key") != NULL);
		CHECK_ONE(db, "SELECT count(*) FROM t", "1");
	} else {
		/* SQLite undoes the failed statement only */
		CHECK(rc == TD_DB_OK);
		CHECK_ONE(db, "SELECT count(*) FROM t", "2");
	}
	CHECK(td_db_autocommit(db));

	/* the same through a prepared COMMIT, after a select that failed
	 * past its first row (PostgreSQL; SQLite divides by zero quietly,
	 * so there a constraint fails instead) */
	struct td_db_stmt *commit, *bad;
	REQUIRE(td_db_prepare(db, "COMMIT", &commit) == TD_DB_OK);
	EXEC_OK(db, "BEGIN");
	EXEC_OK(db, "INSERT INTO t (id, name) VALUES (3, 'three')");
	REQUIRE(td_db_prepare(db, td_db_pick(db, "INSERT INTO t (id, name) VALUES (1, 'x')",
					     "SELECT 1 / (3 - g) FROM generate_series(1, 5) g"),
			      &bad) == TD_DB_OK);
	if (on_pg) {
		CHECK(td_db_step(bad) == TD_DB_ROW);
		CHECK(td_db_step(bad) == TD_DB_ROW);
	}
	CHECK((rc = td_db_step(bad)) != TD_DB_ROW && rc != TD_DB_DONE);
	td_db_finalize(bad);
	rc = td_db_step(commit);
	if (on_pg) {
		CHECK(rc == TD_DB_ERROR);
		CHECK(strstr(td_db_errmsg(db), "transaction was rolled back: ") != NULL);
		CHECK(strstr(td_db_errmsg(db), "division by zero") != NULL);
	} else {
		CHECK(rc == TD_DB_DONE);
	}
	CHECK(td_db_autocommit(db));

	/* a good transaction through the same prepared COMMIT */
	td_db_reset(commit);
	EXEC_OK(db, "BEGIN");
	EXEC_OK(db, "INSERT INTO t (id, name) VALUES (4, 'four')");
	CHECK(td_db_step(commit) == TD_DB_DONE);
	td_db_finalize(commit);
	CHECK_ONE(db, "SELECT name FROM t WHERE id = 4", "four");

	/* an explicit ROLLBACK is no error */
	EXEC_OK(db, "BEGIN");
	CHECK(td_db_exec(db, "INSERT INTO t (id, name) VALUES (4, 'dup')") == TD_DB_CONSTRAINT);
	CHECK(td_db_exec(db, "ROLLBACK") == TD_DB_OK);
	CHECK(td_db_autocommit(db));
	td_db_close(db);
}

/* Two connections to one database: a write lock the other cannot take
 * at once is TD_DB_BUSY. */
static void test_busy(void)
{
	struct td_db *a = fresh(), *b = NULL;
	struct td_err err = { 0, "" };
	REQUIRE(a);
	EXEC_OK(a, td_db_pick(a, CREATE_T_LITE, CREATE_T_PG));
	EXEC_OK(a, "INSERT INTO t (id, name) VALUES (1, 'one')");
	REQUIRE(td_db_open(where, false, false, &b, &err) == 0);
	if (on_pg)
		EXEC_OK(b, "SET lock_timeout = '200ms'");
	EXEC_OK(a, td_db_pick(a, "BEGIN IMMEDIATE", "BEGIN"));
	EXEC_OK(a, "UPDATE t SET name = 'a' WHERE id = 1");
	CHECK(td_db_exec(b, "UPDATE t SET name = 'b' WHERE id = 1") == TD_DB_BUSY);
	EXEC_OK(a, "COMMIT");
	CHECK(td_db_exec(b, "UPDATE t SET name = 'b' WHERE id = 1") == TD_DB_OK);
	CHECK_ONE(a, "SELECT name FROM t", "b");
	if (on_pg) {
		/* a serialization failure (40001) is busy too: try again */
		EXEC_OK(a, "BEGIN ISOLATION LEVEL REPEATABLE READ");
		CHECK_ONE(a, "SELECT name FROM t", "b");
		EXEC_OK(b, "UPDATE t SET name = 'c' WHERE id = 1");
		CHECK(td_db_exec(a, "UPDATE t SET name = 'a' WHERE id = 1") == TD_DB_BUSY);
		CHECK(strstr(td_db_errmsg(a), "(40001)") != NULL);
		CHECK(td_db_exec(a, "ROLLBACK") == TD_DB_OK);
	}
	td_db_close(b);
	td_db_close(a);
}

/* A lock wait that never ends fails the test instead of hanging it. */
static void on_alarm(int sig)
{
	static const char msg[] = "test_db: a lock wait did not end (alarm)\n";
	(void)sig;
	if (write(2, msg, sizeof msg - 1) < 0)
		_exit(3);
	_exit(2);
}

static void alarm_in(unsigned s)
{
	signal(SIGALRM, on_alarm);
	alarm(s);
}

/* PostgreSQL: the session as opened has no lock_timeout (a sender's
 * recorder must wait for an import's row locks, not give up on digests
 * the relay took); one that asks for a bound (td_store_set_busy_wait)
 * waits that long for a row another connection holds locked, then is
 * busy with a message that says to try again. */
static void test_pg_lock_wait(void)
{
	struct td_db *a = fresh(), *b = NULL;
	struct td_err err = { 0, "" };
	REQUIRE(a);
	EXEC_OK(a, CREATE_T_PG);
	EXEC_OK(a, "INSERT INTO t (id, name) VALUES (1, 'one')");
	REQUIRE(td_db_open(where, false, false, &b, &err) == 0);
	CHECK_ONE(b, "SHOW lock_timeout", "0");
	EXEC_OK(b, "SET lock_timeout = '5s'");
	EXEC_OK(a, "BEGIN");
	EXEC_OK(a, "UPDATE t SET name = 'a' WHERE id = 1");

	alarm_in(30);
	double t0 = td_mono_now();
	int rc = td_db_exec(b, "UPDATE t SET name = 'b' WHERE id = 1");
	double waited = td_mono_now() - t0;
	alarm(0);
	CHECK(rc == TD_DB_BUSY);
	CHECK(waited > 4.5 && waited < 8.0);
	if (!(waited > 4.5 && waited < 8.0))
		fprintf(stderr, "  waited %.2f s\n", waited);
	CHECK(strstr(td_db_errmsg(b), "(55P03)") != NULL);
	CHECK(strstr(td_db_errmsg(b), "try again later") != NULL);

	/* the same through a prepared statement, and once the lock is gone
	 * the write goes through */
	struct td_db_stmt *s;
	REQUIRE(td_db_prepare(b, "UPDATE t SET name = ?1 WHERE id = 1", &s) == TD_DB_OK);
	td_db_bind_text(s, 1, "b");
	alarm_in(30);
	CHECK(td_db_step(s) == TD_DB_BUSY);
	alarm(0);
	EXEC_OK(a, "COMMIT");
	CHECK(td_db_step(s) == TD_DB_DONE);
	td_db_finalize(s);
	CHECK_ONE(a, "SELECT name FROM t", "b");
	td_db_close(b);
	td_db_close(a);
}

struct holder {
	struct td_db *db;
	double hold_s;
};

/* Holds the lock its transaction took for hold_s, then commits. */
static void *hold_then_commit(void *arg)
{
	struct holder *h = arg;
	struct timespec ts = { (time_t)h->hold_s,
			       (long)((h->hold_s - (time_t)h->hold_s) * 1e9) };
	nanosleep(&ts, NULL);
	td_db_exec(h->db, "COMMIT");
	return NULL;
}

/* PostgreSQL: a store opened while another process migrates it waits for
 * that migration (store.c's advisory lock, 7031501) however long it
 * takes, and then opens. */
static void test_pg_migration_waits(void)
{
	struct td_db *a = fresh();
	struct td_err err = { 0, "" };
	REQUIRE(a);
	EXEC_OK(a, "BEGIN; SELECT pg_advisory_xact_lock(7031501)");
	struct holder h = { a, 6.5 };
	pthread_t t;
	REQUIRE(pthread_create(&t, NULL, hold_then_commit, &h) == 0);

	struct td_store *st = NULL;
	alarm_in(40);
	double t0 = td_mono_now();
	int rc = td_store_open(where, TD_STORE_READWRITE, &st, &err);
	double waited = td_mono_now() - t0;
	alarm(0);
	pthread_join(t, NULL);
	td_db_close(a);
	if (rc)
		fprintf(stderr, "  open: %s\n", err.msg);
	REQUIRE(rc == 0);
	CHECK(waited > 6.0);
	CHECK(td_store_schema_version(st) > 0);
	td_store_close(st);
}

/* PostgreSQL: td_store_set_busy_wait (the public pages' 60 s) is the
 * session's lock_timeout, as it is SQLite's busy timeout. */
static void test_pg_store_busy_wait(void)
{
	struct td_db *a = fresh();
	struct td_err err = { 0, "" };
	struct td_store *st = NULL;
	REQUIRE(a);
	td_db_close(a);
	REQUIRE(td_store_open(where, TD_STORE_READWRITE, &st, &err) == 0);
	/* none of its own (db_pg.c) */
	CHECK_ONE(td_store_db(st), "SELECT current_setting('lock_timeout')", "0");
	td_store_set_busy_wait(st, 60000);
	CHECK_ONE(td_store_db(st), "SELECT current_setting('lock_timeout')", "1min");
	td_store_close(st);
}

static void test_reset_rerun(void)
{
	struct td_db *db = fresh();
	REQUIRE(db);
	EXEC_OK(db, td_db_pick(db, CREATE_T_LITE, CREATE_T_PG));
	struct td_db_stmt *ins, *sel;
	REQUIRE(td_db_prepare(db, "INSERT INTO t (id, name) VALUES (?1, ?2)", &ins) == TD_DB_OK);
	for (int i = 1; i <= 5; i++) {
		char name[16];
		snprintf(name, sizeof name, "n%d", i);
		td_db_bind_int(ins, 1, i);
		td_db_bind_text(ins, 2, name);
		CHECK(td_db_step(ins) == TD_DB_DONE);
		td_db_reset(ins);
	}
	/* bindings stay across a reset; clear_bindings makes them NULL */
	td_db_clear_bindings(ins);
	td_db_bind_int(ins, 1, 6);
	CHECK(td_db_step(ins) == TD_DB_CONSTRAINT); /* name NOT NULL */
	td_db_finalize(ins);

	REQUIRE(td_db_prepare(db, "SELECT name FROM t WHERE id > ?1 ORDER BY id", &sel) == TD_DB_OK);
	td_db_bind_int(sel, 1, 3);
	REQUIRE(td_db_step(sel) == TD_DB_ROW);
	CHECK_STR(td_db_column_text(sel, 0), "n4");
	td_db_reset(sel); /* half way */
	REQUIRE(td_db_step(sel) == TD_DB_ROW);
	CHECK_STR(td_db_column_text(sel, 0), "n4");
	REQUIRE(td_db_step(sel) == TD_DB_ROW);
	CHECK_STR(td_db_column_text(sel, 0), "n5");
	CHECK(td_db_step(sel) == TD_DB_DONE);
	td_db_reset(sel);
	td_db_bind_int(sel, 1, 0);
	int n = 0;
	while (td_db_step(sel) == TD_DB_ROW && n < 10)
		n++;
	CHECK(n == 5);
	td_db_finalize(sel);
	td_db_close(db);
}

/* Booleans read as SQLite's comparisons do, 1 and 0, as integers and as
 * text; text that is no number reads 0 as an integer, "t" included. */
static void test_booleans(void)
{
	struct td_db *db = fresh();
	REQUIRE(db);
	struct td_db_stmt *s;
	REQUIRE(td_db_prepare(db, td_db_pick(db, "SELECT 1 = 1, 1 = 2, NULL, 't', 'f', '7'",
					     "SELECT 1 = 1, 1 = 2, NULL::boolean, 't', 'f', '7'"),
			      &s) == TD_DB_OK);
	REQUIRE(td_db_step(s) == TD_DB_ROW);
	CHECK(td_db_column_int64(s, 0) == 1);
	CHECK(td_db_column_int64(s, 1) == 0);
	CHECK(td_db_column_int64(s, 2) == 0);
	CHECK_STR(td_db_column_text(s, 0), "1");
	CHECK_STR(td_db_column_text(s, 1), "0");
	CHECK(td_db_column_text(s, 2) == NULL);
	CHECK(td_db_column_bytes(s, 0) == 1);
	CHECK(td_db_column_int64(s, 3) == 0);
	CHECK(td_db_column_int64(s, 4) == 0);
	CHECK(td_db_column_int64(s, 5) == 7);
	td_db_finalize(s);
	td_db_close(db);
}

/* A statement run while a select is half read: the select's rows (NULLs,
 * blobs, numbers, booleans) read back the same after it. */
static void test_interleaved(void)
{
	struct td_db *db = fresh();
	REQUIRE(db);
	EXEC_OK(db, td_db_pick(db, CREATE_T_LITE, CREATE_T_PG));
	EXEC_OK(db, "CREATE TABLE log (x BIGINT)");
	struct td_db_stmt *ins, *sel, *logs;
	REQUIRE(td_db_prepare(db, "INSERT INTO t (id, name, note, data, score) "
			      "VALUES (?1, ?2, ?3, ?4, ?5)", &ins) == TD_DB_OK);
	for (int i = 1; i <= 6; i++) {
		char name[16], blob[3] = { 'b', 0, (char)i };
		snprintf(name, sizeof name, "n%d", i);
		td_db_bind_int(ins, 1, i);
		td_db_bind_text(ins, 2, name);
		if (i % 2)
			td_db_bind_text(ins, 3, "odd");
		else
			td_db_bind_null(ins, 3);
		td_db_bind_blob(ins, 4, blob, sizeof blob);
		td_db_bind_double(ins, 5, i / 4.0);
		CHECK(td_db_step(ins) == TD_DB_DONE);
		td_db_reset(ins);
	}
	td_db_finalize(ins);

	REQUIRE(td_db_prepare(db, "SELECT id, note, data, score, id > 3 FROM t ORDER BY id",
			      &sel) == TD_DB_OK);
	REQUIRE(td_db_prepare(db, "INSERT INTO log (x) VALUES (?1)", &logs) == TD_DB_OK);
	int n = 0, rc;
	while ((rc = td_db_step(sel)) == TD_DB_ROW && n < 10) {
		n++;
		/* a write on the same connection after every other row */
		if (n % 2) {
			td_db_bind_int(logs, 1, n);
			CHECK(td_db_step(logs) == TD_DB_DONE);
			td_db_reset(logs);
		}
		CHECK(td_db_column_int(sel, 0) == n);
		CHECK(td_db_column_type(sel, 0) == TD_DB_INTEGER);
		if (n % 2) {
			CHECK_STR(td_db_column_text(sel, 1), "odd");
		} else {
			CHECK(td_db_column_text(sel, 1) == NULL);
			CHECK(td_db_column_type(sel, 1) == TD_DB_NULL);
		}
		const char *b = td_db_column_blob(sel, 2);
		CHECK(td_db_column_type(sel, 2) == TD_DB_BLOB);
		CHECK(td_db_column_bytes(sel, 2) == 3 && b && b[0] == 'b' && b[1] == 0 &&
		      b[2] == n);
		CHECK(td_db_column_type(sel, 3) == TD_DB_FLOAT);
		CHECK(td_db_column_double(sel, 3) == n / 4.0);
		CHECK(td_db_column_int(sel, 4) == (n > 3));
	}
	CHECK(rc == TD_DB_DONE);
	CHECK(n == 6);
	td_db_finalize(sel);
	td_db_finalize(logs);
	CHECK_ONE(db, "SELECT count(*) FROM log", "3");
	td_db_close(db);
}

#define BIG 200000

static void test_big_select(void)
{
	struct td_db *db = fresh();
	REQUIRE(db);
	EXEC_OK(db, "CREATE TABLE big (id BIGINT PRIMARY KEY, v TEXT)");
	EXEC_OK(db, td_db_pick(db,
		"WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
		"WHERE x < 200000) INSERT INTO big SELECT x, 'row ' || x FROM c",
		"INSERT INTO big SELECT g, 'row ' || g FROM generate_series(1, 200000) g"));
	CHECK(td_db_changes(db) == BIG);

	struct td_db_stmt *s, *other;
	REQUIRE(td_db_prepare(db, "SELECT id, v FROM big ORDER BY id", &s) == TD_DB_OK);
	REQUIRE(td_db_prepare(db, "SELECT v FROM big WHERE id = ?1", &other) == TD_DB_OK);

	/* all of it, with another statement run on the same connection in
	 * the middle (PostgreSQL: the rows still coming are set aside) */
	int64_t n = 0, sum = 0, rc;
	bool in_order = true;
	while ((rc = td_db_step(s)) == TD_DB_ROW && n < BIG + 1) {
		n++;
		sum += td_db_column_int64(s, 0);
		in_order &= td_db_column_int64(s, 0) == n;
		if (n == 1000) {
			td_db_bind_int64(other, 1, 7);
			CHECK(td_db_step(other) == TD_DB_ROW);
			CHECK_STR(td_db_column_text(other, 0), "row 7");
			td_db_reset(other);
		}
	}
	CHECK(rc == TD_DB_DONE);
	CHECK(n == BIG);
	CHECK(sum == (int64_t)BIG * (BIG + 1) / 2);
	CHECK(in_order);

	/* reset half way: the connection is free for the next statement */
	td_db_reset(s);
	for (n = 0; n < BIG / 2 && td_db_step(s) == TD_DB_ROW; n++)
		;
	CHECK(n == BIG / 2);
	td_db_reset(s);
	td_db_bind_int64(other, 1, BIG);
	CHECK(td_db_step(other) == TD_DB_ROW);
	CHECK_STR(td_db_column_text(other, 0), "row 200000");
	td_db_reset(other);
	CHECK_ONE(db, "SELECT count(*) FROM big", "200000");

	/* and half way again, then finalized in the middle */
	for (n = 0; n < 10 && td_db_step(s) == TD_DB_ROW; n++)
		;
	CHECK(n == 10);
	td_db_finalize(s);
	td_db_finalize(other);
	CHECK_ONE(db, "SELECT v FROM big WHERE id = 3", "row 3");
	td_db_close(db);
}

static void test_readonly(void)
{
	struct td_db *db = fresh(), *ro = NULL;
	struct td_err err = { 0, "" };
	REQUIRE(db);
	EXEC_OK(db, td_db_pick(db, CREATE_T_LITE, CREATE_T_PG));
	EXEC_OK(db, "INSERT INTO t (id, name) VALUES (1, 'one')");
	td_db_close(db);

	REQUIRE(td_db_open(where, true, false, &ro, &err) == 0);
	CHECK_ONE(ro, "SELECT name FROM t", "one");
	CHECK(td_db_exec(ro, "INSERT INTO t (id, name) VALUES (2, 'two')") == TD_DB_READONLY);
	struct td_db_stmt *s;
	REQUIRE(td_db_prepare(ro, "UPDATE t SET name = ?1", &s) == TD_DB_OK);
	td_db_bind_text(s, 1, "x");
	CHECK(td_db_step(s) == TD_DB_READONLY);
	td_db_finalize(s);
	CHECK_ONE(ro, "SELECT name FROM t", "one");
	td_db_close(ro);
}

static void test_exec_script(void)
{
	struct td_db *db = fresh();
	REQUIRE(db);
	EXEC_OK(db, "CREATE TABLE a (x INTEGER); CREATE TABLE b (y INTEGER);\n"
		"INSERT INTO a VALUES (1); INSERT INTO b VALUES (2);");
	CHECK_ONE(db, "SELECT x + y FROM a, b", "3");
	CHECK(td_db_exec(db, "INSERT INTO a VALUES (5); INSERT INTO nowhere VALUES (1)")
	      == TD_DB_ERROR);
	td_db_close(db);
}

/* ---- PostgreSQL only ---------------------------------------------------- */

/* The PostgreSQL URL errors need no server (the first), or nothing
 * listening (the second): they run in both halves' absence. */
static void test_pg_url_password(void)
{
	static const char *const urls[] = {
		"postgresql://tagdigest:s3cr3tpw@127.0.0.1:1/digest",
		"postgresql://tagdigest@127.0.0.1:1/digest?password=s3cr3tpw",
		"postgres://127.0.0.1/digest?sslmode=require&password=s3cr3tpw",
	};
	for (size_t i = 0; i < sizeof urls / sizeof *urls; i++) {
		struct td_db *db = NULL;
		struct td_err err = { 0, "" };
		int rc = td_db_open(urls[i], false, false, &db, &err);
		CHECK(rc == EX_CONFIG && db == NULL);
		CHECK(strstr(err.msg, "s3cr3tpw") == NULL);
		CHECK(strstr(err.msg, "PGPASSWORD") && strstr(err.msg, "0600"));
		CHECK(strstr(err.msg, "127.0.0.1") != NULL);
		if (strstr(err.msg, "s3cr3tpw") || !strstr(err.msg, "PGPASSWORD"))
			fprintf(stderr, "  %s\n", err.msg);
	}
	struct td_db *db = NULL;
	struct td_err err = { 0, "" };
	CHECK(td_db_open("postgresql://[::1/db", false, false, &db, &err) == EX_CONFIG);
	CHECK(td_db_open("postgresql://h/db?nosuchoption=1", false, false, &db, &err)
	      == EX_CONFIG);
	CHECK(strstr(err.msg, "nosuchoption") != NULL);
}

static void test_pg_unreachable(void)
{
	/* a loopback port nothing listens on */
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof sa;
	REQUIRE(fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
		getsockname(fd, (struct sockaddr *)&sa, &len) == 0);
	close(fd);
	char url[128];
	snprintf(url, sizeof url, "postgresql://tagdigest@127.0.0.1:%d/digest",
		 ntohs(sa.sin_port));

	struct td_db *db = NULL;
	struct td_err err = { 0, "" };
	double t0 = td_mono_now();
	int rc = td_db_open(url, false, false, &db, &err);
	double took = td_mono_now() - t0;
	CHECK(rc == EX_UNAVAILABLE && db == NULL);
	CHECK(took < 2.0);
	CHECK(strstr(err.msg, url) != NULL);
	CHECK(strstr(err.msg, "cannot reach") != NULL);
	if (rc != EX_UNAVAILABLE)
		fprintf(stderr, "  %d %s\n", rc, err.msg);

	/* a server that takes the connection and never answers: the URL's
	 * connect_timeout bounds the wait */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	sa.sin_port = 0;
	REQUIRE(fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
		listen(fd, 4) == 0 &&
		getsockname(fd, (struct sockaddr *)&sa, &len) == 0);
	snprintf(url, sizeof url, "postgresql://tagdigest@127.0.0.1:%d/digest?"
		 "connect_timeout=2&sslmode=disable", ntohs(sa.sin_port));
	t0 = td_mono_now();
	rc = td_db_open(url, false, false, &db, &err);
	took = td_mono_now() - t0;
	close(fd);
	CHECK(rc == EX_UNAVAILABLE && db == NULL);
	CHECK(took >= 1.9 && took < 4.0);
	CHECK(strstr(err.msg, "no answer in 2 s") != NULL);
	if (rc != EX_UNAVAILABLE || took >= 4.0)
		fprintf(stderr, "  %d after %.1f s: %s\n", rc, took, err.msg);
}

static void test_pg_login(void)
{
	char url[1024];
	struct td_db *db = NULL;
	struct td_err err = { 0, "" };

	/* the fixture trusts every login, but a role must exist: the server
	 * refuses one that does not (SQLSTATE class 28) */
	snprintf(url, sizeof url, "%s", pg_url);
	char *at = strstr(url, "://") + 3;
	char rest[1024];
	snprintf(rest, sizeof rest, "%s", strchr(at, '@') ? strchr(at, '@') + 1 : at);
	snprintf(at, sizeof url - (size_t)(at - url), "nosuchrole@%s", rest);
	int rc = td_db_open(url, false, false, &db, &err);
	CHECK(rc == EX_NOPERM && db == NULL);
	CHECK(strstr(err.msg, "refused the login") && strstr(err.msg, "nosuchrole"));
	CHECK(strstr(err.msg, "PGPASSWORD") != NULL);
	if (rc != EX_NOPERM)
		fprintf(stderr, "  %d %s\n", rc, err.msg);
	CHECK(strstr(err.msg, "readable by others") == NULL);

	/* a passfile others can read: libpq ignores it, and the message
	 * says so */
	char pf[128];
	snprintf(pf, sizeof pf, "%s/pgpass", dir);
	write_file(NULL, pf, "*:*:*:nosuchrole:pw\n");
	REQUIRE(chmod(pf, 0644) == 0);
	setenv("PGPASSFILE", pf, 1);
	rc = td_db_open(url, false, false, &db, &err);
	unsetenv("PGPASSFILE");
	CHECK(rc == EX_NOPERM);
	CHECK(strstr(err.msg, pf) && strstr(err.msg, "readable by others"));
	if (!strstr(err.msg, "readable by others"))
		fprintf(stderr, "  %s\n", err.msg);

	pg_url_for(url, sizeof url, "no_such_database");
	rc = td_db_open(url, false, false, &db, &err);
	CHECK(rc == EX_CONFIG && db == NULL);
	CHECK(strstr(err.msg, "no_such_database") != NULL);
	if (rc != EX_CONFIG)
		fprintf(stderr, "  %d %s\n", rc, err.msg);
}

static void test_pg_session(void)
{
	struct td_db *db = fresh();
	REQUIRE(db);
	CHECK_ONE(db, "SELECT current_setting('application_name')", "tagdigest");
	CHECK_ONE(db, "SELECT current_setting('idle_in_transaction_session_timeout')", "1min");
	/* a lock wait ends with its holder (db_pg.c) */
	CHECK_ONE(db, "SELECT current_setting('lock_timeout')", "0");
	CHECK_ONE(db, "SELECT current_setting('client_encoding')", "UTF8");
	CHECK_ONE(db, "SELECT current_setting('TimeZone')", "UTC");
	CHECK_ONE(db, "SELECT current_setting('default_transaction_read_only')", "off");
	CHECK(td_db_sqlite(db) == NULL);
	CHECK(td_db_backend(db) == TD_DB_POSTGRES);

	/* the server's notices: through log.h, a WARNING as a warning, the
	 * rest (and ROLLBACK with no transaction open) only with --verbose */
	EXEC_OK(db, "CREATE TABLE n (x INTEGER)");
	capture_start();
	int rc1 = td_db_exec(db, "CREATE TABLE IF NOT EXISTS n (x INTEGER)");
	int rc2 = td_db_exec(db, "ROLLBACK");
	int rc3 = td_db_exec(db, "DO $$ BEGIN RAISE WARNING 'careful: %', 42; END $$");
	const char *logged = capture_end();
	CHECK(rc1 == TD_DB_OK && rc2 == TD_DB_OK && rc3 == TD_DB_OK);
	CHECK_STR(logged, "tagdigest: store: PostgreSQL: careful: 42\n");

	/* the server drops the connection: TD_DB_IOERR, not a plain error */
	struct td_db *killer = NULL;
	struct td_err err = { 0, "" };
	REQUIRE(td_db_open(where, false, false, &killer, &err) == 0);
	char *pid = one(db, "SELECT pg_backend_pid()");
	char sql[128];
	snprintf(sql, sizeof sql, "SELECT pg_terminate_backend(%s)", pid);
	CHECK_ONE(killer, sql, "1");
	free(pid);
	td_db_close(killer);
	struct td_db_stmt *s;
	REQUIRE(td_db_prepare(db, "SELECT 1", &s) == TD_DB_OK);
	CHECK(td_db_step(s) == TD_DB_IOERR);
	td_db_finalize(s);
	CHECK(td_db_exec(db, "SELECT 1") == TD_DB_IOERR);
	CHECK(strstr(td_db_errmsg(db), "connection") != NULL);
	td_db_close(db);
}

static void pg_half_skipped(void)
{
	TD_SKIP("PostgreSQL half, TD_TEST_PG_URL not set "
		"(run: python3 tests/pg_server.py run -- build/asan/test_db)");
}

#define BOTH(fn)                                                            \
	do {                                                                \
		int f_ = td_test_failed;                                    \
		TD_RUN(fn);                                                 \
		if (td_test_failed != f_)                                   \
			fprintf(stderr, "  (on %s)\n", on_pg ? "PostgreSQL" : "SQLite"); \
	} while (0)

static void run_half(void)
{
	BOTH(test_values);
	BOTH(test_literals);
	BOTH(test_constraint);
	BOTH(test_changes);
	BOTH(test_transaction);
	BOTH(test_busy);
	BOTH(test_reset_rerun);
	BOTH(test_booleans);
	BOTH(test_interleaved);
	BOTH(test_big_select);
	BOTH(test_readonly);
	BOTH(test_exec_script);
}

int main(void)
{
	strcpy(dir, "/tmp/td-db-XXXXXX");
	if (!mkdtemp(dir))
		return 2;
	pg_url = getenv("TD_TEST_PG_URL");
	if (pg_url && !*pg_url)
		pg_url = NULL;

	on_pg = false;
	run_half();
	TD_RUN(test_pg_url_password);
	TD_RUN(test_pg_unreachable);
	if (pg_url) {
		on_pg = true;
		pg_first = n_opened + 1;
		run_half();
		TD_RUN(test_pg_login);
		TD_RUN(test_pg_session);
		TD_RUN(test_pg_lock_wait);
		TD_RUN(test_pg_migration_waits);
		TD_RUN(test_pg_store_busy_wait);
		drop_pg_databases();
	} else {
		TD_RUN(pg_half_skipped);
	}

	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	return TD_DONE("db");
}
