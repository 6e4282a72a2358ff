/*
 * db_pg.c: db.h on PostgreSQL through libpq. (Placeholder until the libpq
 * side lands: every URL is refused with a message that says so.)
 */
#include <sysexits.h>

#include "db_pg.h"

int td_pg_open(const char *url, bool readonly, struct td_pg **out,
	       struct td_err *err)
{
	(void)readonly;
	*out = NULL;
	return td_err_set(err, EX_CONFIG, "store: %s: PostgreSQL is not built in yet",
			  url);
}
void td_pg_close(struct td_pg *pg) { (void)pg; }
int td_pg_errcode(struct td_pg *pg) { (void)pg; return 1; }
const char *td_pg_errmsg(struct td_pg *pg) { (void)pg; return "no PostgreSQL"; }
int td_pg_exec(struct td_pg *pg, const char *sql) { (void)pg; (void)sql; return 1; }
int64_t td_pg_changes(struct td_pg *pg) { (void)pg; return 0; }
bool td_pg_autocommit(struct td_pg *pg) { (void)pg; return true; }
int td_pg_prepare(struct td_pg *pg, const char *sql, struct td_pg_stmt **out)
{ (void)pg; (void)sql; *out = NULL; return 1; }
int td_pg_bind_int64(struct td_pg_stmt *s, int i, int64_t v) { (void)s; (void)i; (void)v; return 1; }
int td_pg_bind_double(struct td_pg_stmt *s, int i, double v) { (void)s; (void)i; (void)v; return 1; }
int td_pg_bind_text(struct td_pg_stmt *s, int i, const char *v) { (void)s; (void)i; (void)v; return 1; }
int td_pg_bind_blob(struct td_pg_stmt *s, int i, const void *p, size_t n)
{ (void)s; (void)i; (void)p; (void)n; return 1; }
int td_pg_bind_null(struct td_pg_stmt *s, int i) { (void)s; (void)i; return 1; }
int td_pg_bind_parameter_count(struct td_pg_stmt *s) { (void)s; return 0; }
int td_pg_step(struct td_pg_stmt *s) { (void)s; return 1; }
int td_pg_column_type(struct td_pg_stmt *s, int i) { (void)s; (void)i; return 5; }
const char *td_pg_column_text(struct td_pg_stmt *s, int i) { (void)s; (void)i; return NULL; }
const void *td_pg_column_blob(struct td_pg_stmt *s, int i) { (void)s; (void)i; return NULL; }
int td_pg_column_bytes(struct td_pg_stmt *s, int i) { (void)s; (void)i; return 0; }
int td_pg_reset(struct td_pg_stmt *s) { (void)s; return 0; }
void td_pg_clear_bindings(struct td_pg_stmt *s) { (void)s; }
void td_pg_finalize(struct td_pg_stmt *s) { (void)s; }
