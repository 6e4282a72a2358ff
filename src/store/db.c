/*
 * db.c: db.h's calls, passed to SQLite directly or to db_pg.c.
 */
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>
#include <sysexits.h>

#include "db.h"
#include "db_pg.h"
#include "tagdigest/core/util.h"

struct td_db {
	enum td_db_backend backend;
	sqlite3 *lite;
	struct td_pg *pg;
};

struct td_db_stmt {
	struct td_db *db;
	sqlite3_stmt *lite;
	struct td_pg_stmt *pg;
};

bool td_db_is_url(const char *where)
{
	return where && (strncmp(where, "postgresql://", 13) == 0 ||
			 strncmp(where, "postgres://", 11) == 0);
}

int td_db_open(const char *where, bool readonly, bool create,
	       struct td_db **out, struct td_err *err)
{
	struct td_db *db = td_xcalloc(1, sizeof *db);

	*out = NULL;
	if (td_db_is_url(where)) {
		db->backend = TD_DB_POSTGRES;
		int rc = td_pg_open(where, readonly, &db->pg, err);
		if (rc) {
			free(db);
			return rc;
		}
		*out = db;
		return 0;
	}
	db->backend = TD_DB_SQLITE;
	int flags = readonly ? SQLITE_OPEN_READONLY :
		    SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0);
	if (sqlite3_open_v2(where, &db->lite, flags,
			    NULL) != SQLITE_OK) {
		int rc = td_err_set(err, readonly ? EX_NOINPUT : EX_CANTCREAT,
				    "store: %s: %s", where,
				    db->lite ? sqlite3_errmsg(db->lite) : "out of memory");
		sqlite3_close(db->lite);
		free(db);
		return rc;
	}
	*out = db;
	return 0;
}

void td_db_close(struct td_db *db)
{
	if (!db)
		return;
	if (db->lite)
		sqlite3_close(db->lite);
	if (db->pg)
		td_pg_close(db->pg);
	free(db);
}

enum td_db_backend td_db_backend(const struct td_db *db)
{
	return db->backend;
}

struct sqlite3 *td_db_sqlite(struct td_db *db)
{
	return db->lite;
}

int td_db_errcode(struct td_db *db)
{
	return db->pg ? td_pg_errcode(db->pg) : sqlite3_errcode(db->lite) & 0xff;
}

const char *td_db_errmsg(struct td_db *db)
{
	return db->pg ? td_pg_errmsg(db->pg) : sqlite3_errmsg(db->lite);
}

int td_db_exec(struct td_db *db, const char *sql)
{
	return db->pg ? td_pg_exec(db->pg, sql) :
	       sqlite3_exec(db->lite, sql, NULL, NULL, NULL);
}

int td_db_prepare(struct td_db *db, const char *sql, struct td_db_stmt **out)
{
	struct td_db_stmt *s = td_xcalloc(1, sizeof *s);
	int rc;

	s->db = db;
	rc = db->pg ? td_pg_prepare(db->pg, sql, &s->pg) :
	     sqlite3_prepare_v2(db->lite, sql, -1, &s->lite, NULL);
	if (rc != TD_DB_OK) {
		free(s);
		*out = NULL;
		return rc;
	}
	*out = s;
	return TD_DB_OK;
}

int td_db_bind_int64(struct td_db_stmt *s, int i, int64_t v)
{
	return s->pg ? td_pg_bind_int64(s->pg, i, v) :
	       sqlite3_bind_int64(s->lite, i, (sqlite3_int64)v);
}

int td_db_bind_int(struct td_db_stmt *s, int i, int v)
{
	return td_db_bind_int64(s, i, v);
}

int td_db_bind_double(struct td_db_stmt *s, int i, double v)
{
	return s->pg ? td_pg_bind_double(s->pg, i, v) :
	       sqlite3_bind_double(s->lite, i, v);
}

int td_db_bind_text(struct td_db_stmt *s, int i, const char *v)
{
	if (!v)
		return td_db_bind_null(s, i);
	return s->pg ? td_pg_bind_text(s->pg, i, v) :
	       sqlite3_bind_text(s->lite, i, v, -1, SQLITE_TRANSIENT);
}

int td_db_bind_blob(struct td_db_stmt *s, int i, const void *p, size_t n)
{
	return s->pg ? td_pg_bind_blob(s->pg, i, p, n) :
	       sqlite3_bind_blob64(s->lite, i, p, (sqlite3_uint64)n,
				   SQLITE_TRANSIENT);
}

int td_db_bind_null(struct td_db_stmt *s, int i)
{
	return s->pg ? td_pg_bind_null(s->pg, i) : sqlite3_bind_null(s->lite, i);
}

int td_db_bind_parameter_count(struct td_db_stmt *s)
{
	return s->pg ? td_pg_bind_parameter_count(s->pg) :
	       sqlite3_bind_parameter_count(s->lite);
}

int td_db_step(struct td_db_stmt *s)
{
	if (s->pg)
		return td_pg_step(s->pg);
	int rc = sqlite3_step(s->lite);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? rc : rc & 0xff;
}

int td_db_column_type(struct td_db_stmt *s, int i)
{
	return s->pg ? td_pg_column_type(s->pg, i) : sqlite3_column_type(s->lite, i);
}

int64_t td_db_column_int64(struct td_db_stmt *s, int i)
{
	if (s->pg) {
		/* booleans read "1" / "0" already (db_pg.c), as SQLite's
		 * comparisons; text that is no number is 0, as on SQLite */
		const char *t = td_pg_column_text(s->pg, i);
		return t ? strtoll(t, NULL, 10) : 0;
	}
	return (int64_t)sqlite3_column_int64(s->lite, i);
}

int td_db_column_int(struct td_db_stmt *s, int i)
{
	return (int)td_db_column_int64(s, i);
}

double td_db_column_double(struct td_db_stmt *s, int i)
{
	if (s->pg) {
		const char *t = td_pg_column_text(s->pg, i);
		return t ? strtod(t, NULL) : 0.0;
	}
	return sqlite3_column_double(s->lite, i);
}

const char *td_db_column_text(struct td_db_stmt *s, int i)
{
	return s->pg ? td_pg_column_text(s->pg, i) :
	       (const char *)sqlite3_column_text(s->lite, i);
}

const void *td_db_column_blob(struct td_db_stmt *s, int i)
{
	return s->pg ? td_pg_column_blob(s->pg, i) : sqlite3_column_blob(s->lite, i);
}

int td_db_column_bytes(struct td_db_stmt *s, int i)
{
	return s->pg ? td_pg_column_bytes(s->pg, i) : sqlite3_column_bytes(s->lite, i);
}

int td_db_reset(struct td_db_stmt *s)
{
	return s->pg ? td_pg_reset(s->pg) : sqlite3_reset(s->lite) & 0xff;
}

void td_db_clear_bindings(struct td_db_stmt *s)
{
	if (s->pg)
		td_pg_clear_bindings(s->pg);
	else
		sqlite3_clear_bindings(s->lite);
}

void td_db_finalize(struct td_db_stmt *s)
{
	if (!s)
		return;
	if (s->pg)
		td_pg_finalize(s->pg);
	else
		sqlite3_finalize(s->lite);
	free(s);
}

int64_t td_db_changes(struct td_db *db)
{
	return db->pg ? td_pg_changes(db->pg) : sqlite3_changes(db->lite);
}

bool td_db_autocommit(struct td_db *db)
{
	return db->pg ? td_pg_autocommit(db->pg) : sqlite3_get_autocommit(db->lite) != 0;
}
