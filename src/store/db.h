/*
 * db.h: the one SQL connection the store's files talk to, whichever
 * database is behind it: SQLite (a file path, the default) or PostgreSQL
 * (a postgresql:// URL). Only src/store/ includes it.
 *
 * The calls mirror SQLite's C API, which the store was written against:
 * prepare, bind (1-based), step until TD_DB_DONE, read columns (0-based),
 * reset, finalize. SQL is written once with numbered parameters (?1, ?2
 * ...); the PostgreSQL side turns them into $1, $2. Where the two
 * dialects differ the caller picks its text with td_db_pick().
 *
 * Ownership: a statement belongs to the connection it was prepared on and
 * must be finalized before td_db_close. Text a column returns stays valid
 * until the next step, reset or finalize of that statement. Text and
 * blobs bound are copied.
 *
 * Result codes are SQLite's numbers (TD_DB_OK, TD_DB_ROW, TD_DB_DONE and
 * the error classes below), so the store keeps one way of telling a
 * row from the end and a busy database from a broken statement.
 */
#ifndef TAGDIGEST_STORE_DB_H
#define TAGDIGEST_STORE_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tagdigest/core/err.h"

struct td_db;
struct td_db_stmt;
struct sqlite3;

enum td_db_backend { TD_DB_SQLITE, TD_DB_POSTGRES };

enum {
	TD_DB_OK = 0,
	TD_DB_ERROR = 1,
	TD_DB_BUSY = 5,        /* another connection holds the lock: try later */
	TD_DB_LOCKED = 6,
	TD_DB_READONLY = 8,
	TD_DB_IOERR = 10,
	TD_DB_FULL = 13,       /* out of disk */
	TD_DB_CONSTRAINT = 19, /* a unique or check constraint refused a row */
	TD_DB_ROW = 100,
	TD_DB_DONE = 101,
};

/* A column's type as td_db_column_type reports it; only NULL is told
 * apart reliably on both backends. */
enum { TD_DB_INTEGER = 1, TD_DB_FLOAT = 2, TD_DB_TEXT = 3, TD_DB_BLOB = 4,
       TD_DB_NULL = 5 };

/* Whether where names a PostgreSQL database (postgresql:// or postgres://)
 * rather than an SQLite file. */
bool td_db_is_url(const char *where);

/* SQLite: opens (creating when create) the file; readonly opens it so.
 * PostgreSQL: connects to the URL (store.h says where the password comes
 * from); readonly sets the session read-only. On failure *out is NULL and
 * err says why (EX_UNAVAILABLE when the server cannot be reached,
 * EX_NOPERM for a refused login, EX_CANTCREAT / EX_NOINPUT for files). */
int td_db_open(const char *where, bool readonly, bool create,
	       struct td_db **out, struct td_err *err);
void td_db_close(struct td_db *db);
enum td_db_backend td_db_backend(const struct td_db *db);
/* The SQLite handle for SQLite-only set-up (pragmas, functions); NULL on
 * PostgreSQL. */
struct sqlite3 *td_db_sqlite(struct td_db *db);

/* The SQL for this connection's backend. */
static inline const char *td_db_pick(const struct td_db *db, const char *sqlite,
				     const char *postgres)
{
	return td_db_backend(db) == TD_DB_POSTGRES ? postgres : sqlite;
}

/* The last error on db: its code (TD_DB_*) and its message. */
int td_db_errcode(struct td_db *db);
const char *td_db_errmsg(struct td_db *db);

/* Runs one or more statements with no parameters and no rows (schema,
 * BEGIN, COMMIT, ...). Returns TD_DB_OK or an error code. */
int td_db_exec(struct td_db *db, const char *sql);

int td_db_prepare(struct td_db *db, const char *sql, struct td_db_stmt **out);
int td_db_bind_int64(struct td_db_stmt *s, int i, int64_t v);
int td_db_bind_int(struct td_db_stmt *s, int i, int v);
int td_db_bind_double(struct td_db_stmt *s, int i, double v);
/* NULL binds SQL NULL. */
int td_db_bind_text(struct td_db_stmt *s, int i, const char *v);
int td_db_bind_blob(struct td_db_stmt *s, int i, const void *p, size_t n);
int td_db_bind_null(struct td_db_stmt *s, int i);
int td_db_bind_parameter_count(struct td_db_stmt *s);
/* TD_DB_ROW, TD_DB_DONE, or an error code (td_db_errmsg has the text). */
int td_db_step(struct td_db_stmt *s);
int td_db_column_type(struct td_db_stmt *s, int i);
int64_t td_db_column_int64(struct td_db_stmt *s, int i);
int td_db_column_int(struct td_db_stmt *s, int i);
double td_db_column_double(struct td_db_stmt *s, int i);
/* NULL for SQL NULL. */
const char *td_db_column_text(struct td_db_stmt *s, int i);
const void *td_db_column_blob(struct td_db_stmt *s, int i);
int td_db_column_bytes(struct td_db_stmt *s, int i);
int td_db_reset(struct td_db_stmt *s);
void td_db_clear_bindings(struct td_db_stmt *s);
void td_db_finalize(struct td_db_stmt *s);

/* Rows the last INSERT, UPDATE or DELETE on db changed. */
int64_t td_db_changes(struct td_db *db);
/* Whether no transaction is open on db. */
bool td_db_autocommit(struct td_db *db);

#endif
