/*
 * db_pg.h: db.h's PostgreSQL side (libpq), which db.c dispatches to. The
 * calls mean what db.h says of their td_db_ namesakes; only db.c and
 * db_pg.c include this.
 */
#ifndef TAGDIGEST_STORE_DB_PG_H
#define TAGDIGEST_STORE_DB_PG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tagdigest/core/err.h"

struct td_pg;
struct td_pg_stmt;

int td_pg_open(const char *url, bool readonly, struct td_pg **out,
	       struct td_err *err);
void td_pg_close(struct td_pg *pg);
int td_pg_errcode(struct td_pg *pg);
const char *td_pg_errmsg(struct td_pg *pg);
int td_pg_exec(struct td_pg *pg, const char *sql);
int64_t td_pg_changes(struct td_pg *pg);
bool td_pg_autocommit(struct td_pg *pg);

int td_pg_prepare(struct td_pg *pg, const char *sql, struct td_pg_stmt **out);
int td_pg_bind_int64(struct td_pg_stmt *s, int i, int64_t v);
int td_pg_bind_double(struct td_pg_stmt *s, int i, double v);
int td_pg_bind_text(struct td_pg_stmt *s, int i, const char *v);
int td_pg_bind_blob(struct td_pg_stmt *s, int i, const void *p, size_t n);
int td_pg_bind_null(struct td_pg_stmt *s, int i);
int td_pg_bind_parameter_count(struct td_pg_stmt *s);
int td_pg_step(struct td_pg_stmt *s);
int td_pg_column_type(struct td_pg_stmt *s, int i);
const char *td_pg_column_text(struct td_pg_stmt *s, int i);
const void *td_pg_column_blob(struct td_pg_stmt *s, int i);
int td_pg_column_bytes(struct td_pg_stmt *s, int i);
int td_pg_reset(struct td_pg_stmt *s);
void td_pg_clear_bindings(struct td_pg_stmt *s);
void td_pg_finalize(struct td_pg_stmt *s);

#endif
