/*
 * store_impl.h: what the store's other files (roster.c, bounces.c) share with
 * store.c, the connection's owner. Only the store's own files include it: SQL
 * and the connection (db.h: SQLite or PostgreSQL) stay in the store.
 */
#ifndef TAGDIGEST_STORE_IMPL_H
#define TAGDIGEST_STORE_IMPL_H


#include "tagdigest/core/err.h"
#include "tagdigest/core/util.h"
#include "tagdigest/store/store.h"
#include "db.h"

struct td_db *td_store_db(struct td_store *st);

/* Slots for roster.c's statements, prepared once per connection like
 * store.c's own and finalized by td_store_close. */
#define TD_STORE_ROSTER_STMTS 40
struct td_db_stmt **td_store_roster_stmts(struct td_store *st);

/* The store's error for what just failed on st's connection (BUSY is
 * EX_TEMPFAIL, a full disk EX_IOERR, the rest EX_SOFTWARE). */
int td_store_db_error(struct td_store *st, struct td_err *err, const char *what);

/* Text in and out of statements, the same way in every store file: NULL
 * binds as "", and a NULL column reads as "". */
static inline void td_store_bind_text(struct td_db_stmt *s, int i, const char *v)
{
	td_db_bind_text(s, i, v ? v : "");
}
static inline const char *td_store_col_cstr(struct td_db_stmt *s, int i)
{
	const char *t = td_db_column_text(s, i);
	return t ? t : "";
}
static inline char *td_store_col_dup(struct td_db_stmt *s, int i)
{
	return td_xstrdup(td_store_col_cstr(s, i));
}

/* Calls that write several statements run in a transaction of their own
 * (taking the write lock first on SQLite: BEGIN IMMEDIATE; a read that
 * upgrades to a write can fail at once when another connection commits
 * in between, where taking the lock first waits), or in the savepoint
 * `name` inside a caller's transaction. (SQLite would open a transaction
 * for a savepoint outside one; PostgreSQL refuses it.) td_store_sp_end
 * commits or releases when rc is 0, else rolls back, and returns rc or
 * the commit's error. */
int td_store_sp_begin(struct td_store *st, const char *name, bool *own,
		      struct td_err *err);
int td_store_sp_end(struct td_store *st, const char *name, bool own, int rc,
		    struct td_err *err);

/* roster.c: registers the SQL functions its queries use (td_fold, the
 * reader search's case folding) on st's connection; td_store_open calls
 * it for every connection. */
int td_store_roster_functions(struct td_store *st, struct td_err *err);

/* The lowercased address subscribers are keyed by (malloc'd). */
char *td_store_email_key(const char *email);

/* bounces.c: forgets key's soft score and hard count (td_store_unsuppress
 * lifting an "all" suppression starts the address afresh). */
int td_store_bounce_score_clear(struct td_store *st, const char *key,
				struct td_err *err);

#endif
