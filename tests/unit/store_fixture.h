/*
 * store_fixture.h: a fresh store for the unit tests that open one, on
 * either backend, so the same checks run on SQLite and on PostgreSQL.
 *
 * The backend is the environment's: TD_TEST_STORE=postgres runs the
 * test on the PostgreSQL server TD_TEST_PG_URL names (`make unit` starts
 * a throwaway one with tests/pg_server.py and runs the store's tests a
 * second time there); anything else, or nothing, is SQLite, a file in
 * the test's temporary folder as before. TD_TEST_STORE=postgres without
 * TD_TEST_PG_URL is the PostgreSQL half that cannot run: store_fixture_init
 * says so loudly (SKIPPED) and exits 0.
 *
 * Each store a test names gets its own place: on SQLite the file
 * dir/NAME.db, on PostgreSQL the schema td_NAME in the TD_TEST_PG_URL
 * database, reached with a URL whose search_path is that schema (so two
 * stores of one test are two stores, as two files are). "Fresh" means
 * the file removed or the schema dropped and made again: a schema costs
 * a few milliseconds where a database costs most of a second. The
 * schemas a process made are dropped by store_fixture_done().
 *
 * A test about SQLite itself (its file, WAL, PRAGMAs, migrations of old
 * SQLite stores) starts with SQLITE_ONLY("why"), which on PostgreSQL
 * reports the test skipped and returns.
 */
#ifndef TAGDIGEST_TEST_STORE_FIXTURE_H
#define TAGDIGEST_TEST_STORE_FIXTURE_H

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "../../src/store/db.h"
#include "tagdigest/store/store.h"

static bool store_on_pg;          /* TD_TEST_STORE=postgres */
static const char *store_pg_url;  /* TD_TEST_PG_URL */
static char store_pg_schemas[64][64];  /* the schemas made, to drop */
static int store_pg_nschemas;

/* Reads the backend from the environment; call first in main(). On the
 * PostgreSQL half without a server it prints SKIPPED and exits 0. */
static inline void store_fixture_init(const char *test)
{
	const char *which = getenv("TD_TEST_STORE");
	store_on_pg = which && strcmp(which, "postgres") == 0;
	store_pg_url = getenv("TD_TEST_PG_URL");
	if (!store_on_pg)
		return;
	if (!store_pg_url || !*store_pg_url) {
		printf("\n!!!! SKIPPED: %s on PostgreSQL: TD_TEST_STORE=postgres but "
		       "TD_TEST_PG_URL is not set (run: python3 tests/pg_server.py "
		       "run -- env TD_TEST_STORE=postgres build/asan/test_%s)\n\n",
		       test, test);
		exit(0);
	}
}

/* The name TD_DONE prints: the test's, and on which backend. */
static inline const char *store_fixture_label(const char *test)
{
	static char label[96];
	snprintf(label, sizeof label, "%s%s", test, store_on_pg ? " (PostgreSQL)" : "");
	return label;
}

/* SQL (no parameters, no rows) through an admin connection to
 * TD_TEST_PG_URL's database; a failure is a failed check. */
static inline int store_pg_admin(const char *sql)
{
	struct td_db *db = NULL;
	struct td_err err = { 0, "" };
	if (td_db_open(store_pg_url, false, false, &db, &err)) {
		fprintf(stderr, "  admin connection: %s\n", err.msg);
		CHECK(!"admin connection to TD_TEST_PG_URL");
		return -1;
	}
	int rc = td_db_exec(db, sql);
	if (rc != TD_DB_OK)
		fprintf(stderr, "  %s: %s\n", sql, td_db_errmsg(db));
	CHECK(rc == TD_DB_OK);
	td_db_close(db);
	return rc == TD_DB_OK ? 0 : -1;
}

/* td_NAME, NAME's letters and digits kept, anything else '_'. */
static inline void store_pg_schema(const char *name, char *out, size_t len)
{
	size_t n = (size_t)snprintf(out, len, "td_%s", name);
	for (size_t i = 3; i < n && i < len; i++)
		out[i] = isalnum((unsigned char)out[i]) ? (char)tolower((unsigned char)out[i])
							: '_';
}

/* Where store NAME of this test lives, without touching it: the file
 * dir/NAME.db, or the URL of schema td_NAME. Returns out. */
static inline const char *store_where(const char *dir, const char *name, char *out,
				      size_t len)
{
	if (!store_on_pg) {
		snprintf(out, len, "%s/%s.db", dir, name);
		return out;
	}
	char schema[64];
	store_pg_schema(name, schema, sizeof schema);
	snprintf(out, len, "%s%coptions=-csearch_path%%3D%s", store_pg_url,
		 strchr(store_pg_url, '?') ? '&' : '?', schema);
	return out;
}

/* store_where, emptied first: the file (and its WAL) removed, or the
 * schema dropped and made again. NULL (a failed check) when it cannot. */
static inline const char *store_fresh_where(const char *dir, const char *name,
					    char *out, size_t len)
{
	store_where(dir, name, out, len);
	if (!store_on_pg) {
		char side[4200];
		unlink(out);
		snprintf(side, sizeof side, "%s-wal", out);
		unlink(side);
		snprintf(side, sizeof side, "%s-shm", out);
		unlink(side);
		return out;
	}
	char schema[64], sql[256];
	store_pg_schema(name, schema, sizeof schema);
	snprintf(sql, sizeof sql, "DROP SCHEMA IF EXISTS %s CASCADE; CREATE SCHEMA %s",
		 schema, schema);
	if (store_pg_admin(sql))
		return NULL;
	int i = 0;
	while (i < store_pg_nschemas && strcmp(store_pg_schemas[i], schema))
		i++;
	if (i == store_pg_nschemas && i < 64)
		snprintf(store_pg_schemas[store_pg_nschemas++], sizeof store_pg_schemas[0],
			 "%s", schema);
	return out;
}

/* store_fresh_where in a string of its own (free it); NULL when it cannot. */
static inline char *store_fresh_dup(const char *dir, const char *name)
{
	char where[4096];
	return store_fresh_where(dir, name, where, sizeof where) ? strdup(where) : NULL;
}

/* The [store] section of a test's config naming fresh store NAME (path =
 * the file, or url = the PostgreSQL schema's URL); "" when it cannot. */
static inline const char *store_fresh_conf(const char *dir, const char *name,
					   char *out, size_t len)
{
	char where[4096];
	if (!store_fresh_where(dir, name, where, sizeof where))
		return "";
	snprintf(out, len, "[store]\n%s = %s\n", store_on_pg ? "url" : "path", where);
	return out;
}

/* A fresh store NAME opened read-write (NULL, reported on stderr, when it
 * cannot be). */
static inline struct td_store *fresh_store(const char *dir, const char *name)
{
	char where[4096];
	struct td_store *st = NULL;
	struct td_err err = { 0, "" };
	if (!store_fresh_where(dir, name, where, sizeof where))
		return NULL;
	if (td_store_open(where, TD_STORE_READWRITE, &st, &err) != 0)
		fprintf(stderr, "open %s: %s\n", where, err.msg);
	return st;
}

/* Drops the schemas this process made (a server of one's own is left as
 * it was found). */
static inline void store_fixture_done(void)
{
	for (int i = 0; i < store_pg_nschemas; i++) {
		char sql[128];
		snprintf(sql, sizeof sql, "DROP SCHEMA IF EXISTS %s CASCADE",
			 store_pg_schemas[i]);
		store_pg_admin(sql);
	}
	store_pg_nschemas = 0;
}

/* The running test is about SQLite itself: on PostgreSQL it is reported
 * skipped and returns. */
#define SQLITE_ONLY(why)                                                    \
	do {                                                                \
		if (store_on_pg) {                                          \
			TD_SKIP("%s: SQLite only (%s)", __func__, why);    \
			return;                                             \
		}                                                           \
	} while (0)

#endif
