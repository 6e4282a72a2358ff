/*
 * runs.c: run history and a reader's recent digests in the SQLite store
 * (see runs.h; the table is migration 10 in store.c).
 */
#include "tagdigest/store/runs.h"

#include <stdlib.h>
#include <string.h>

#include "tagdigest/core/util.h"
#include "store_impl.h"

/* Asked once per run or page: prepared where used, not cached. */
static int prepare(struct td_store *st, const char *sql, struct td_db_stmt **s,
		   struct td_err *err, const char *what)
{
	if (td_db_prepare(td_store_db(st), sql, s) != TD_DB_OK) {
		*s = NULL;
		return td_store_db_error(st, err, what);
	}
	return 0;
}

int td_store_run_begin(struct td_store *st, const char *command, time_t started_at,
		       int64_t *id, struct td_err *err)
{
	struct td_db_stmt *s;
	int rc = prepare(st, "INSERT INTO runs (command, started_at) VALUES (?1, ?2)"
			 " RETURNING id", &s,
			 err, "prepare run start");
	if (rc)
		return rc;
	td_store_bind_text(s, 1, command);
	td_db_bind_int64(s, 2, (int64_t)started_at);
	if (td_db_step(s) != TD_DB_ROW)
		rc = td_store_db_error(st, err, "record the run's start");
	else
		*id = td_db_column_int64(s, 0);
	td_db_finalize(s);
	return rc;
}

int td_store_run_finish(struct td_store *st, int64_t id, const struct td_run *r,
			struct td_err *err)
{
	struct td_db_stmt *s;
	int rc = prepare(st,
			 "UPDATE runs SET finished_at = ?2, subscribers = ?3, not_due = ?4,"
			 " sent = ?5, skipped = ?6, suppressed = ?7, tempfail = ?8,"
			 " permfail = ?9, deferred = ?10, expired = ?11, bounced = ?12,"
			 " resent = ?13, slot = ?14, seconds = ?15, exit_code = ?16,"
			 " stopped_by_signal = ?17, note = ?18 WHERE id = ?1",
			 &s, err, "prepare run end");
	if (rc)
		return rc;
	const size_t counts[] = { r->subscribers, r->not_due, r->sent, r->skipped,
				  r->suppressed, r->tempfail, r->permfail, r->deferred,
				  r->expired, r->bounced, r->resent };
	td_db_bind_int64(s, 1, id);
	td_db_bind_int64(s, 2, (int64_t)r->finished_at);
	for (int i = 0; i < (int)(sizeof counts / sizeof *counts); i++)
		td_db_bind_int64(s, 3 + i, (int64_t)counts[i]);
	td_db_bind_int64(s, 14, (int64_t)r->slot);
	td_db_bind_double(s, 15, r->seconds);
	td_db_bind_int(s, 16, r->exit_code);
	td_db_bind_int(s, 17, r->stopped_by_signal);
	td_store_bind_text(s, 18, r->note);
	if (td_db_step(s) != TD_DB_DONE)
		rc = td_store_db_error(st, err, "record the run's end");
	td_db_finalize(s);
	return rc;
}

int td_store_runs(struct td_store *st, size_t offset, size_t limit, struct td_run **out,
		  size_t *n, size_t *total, struct td_err *err)
{
	*out = NULL;
	*n = 0;
	*total = 0;
	struct td_db_stmt *s;
	int rc = prepare(st, "SELECT COUNT(*) FROM runs", &s, err, "count runs");
	if (rc)
		return rc;
	if (td_db_step(s) == TD_DB_ROW)
		*total = (size_t)td_db_column_int64(s, 0);
	else
		rc = td_store_db_error(st, err, "count runs");
	td_db_finalize(s);
	if (rc || limit == 0 || offset >= *total)
		return rc;
	if ((rc = prepare(st,
			  "SELECT id, command, started_at, COALESCE(finished_at, 0),"
			  " subscribers, not_due, sent, skipped, suppressed, tempfail,"
			  " permfail, deferred, expired, bounced, resent, slot, seconds,"
			  " exit_code, stopped_by_signal, note"
			  " FROM runs ORDER BY id DESC LIMIT ?1 OFFSET ?2",
			  &s, err, "prepare run list")))
		return rc;
	td_db_bind_int64(s, 1, (int64_t)limit);
	td_db_bind_int64(s, 2, (int64_t)offset);
	int step;
	while ((step = td_db_step(s)) == TD_DB_ROW) {
		*out = td_xrealloc(*out, (*n + 1) * sizeof **out);
		struct td_run *r = &(*out)[(*n)++];
		memset(r, 0, sizeof *r);
		r->id = td_db_column_int64(s, 0);
		r->command = td_store_col_dup(s, 1);
		r->started_at = (time_t)td_db_column_int64(s, 2);
		r->finished_at = (time_t)td_db_column_int64(s, 3);
		size_t *counts[] = { &r->subscribers, &r->not_due, &r->sent, &r->skipped,
				     &r->suppressed, &r->tempfail, &r->permfail,
				     &r->deferred, &r->expired, &r->bounced, &r->resent };
		for (int i = 0; i < (int)(sizeof counts / sizeof *counts); i++)
			*counts[i] = (size_t)td_db_column_int64(s, 4 + i);
		r->slot = (time_t)td_db_column_int64(s, 15);
		r->seconds = td_db_column_double(s, 16);
		r->exit_code = td_db_column_int(s, 17);
		r->stopped_by_signal = td_db_column_int(s, 18);
		r->note = td_store_col_dup(s, 19);
	}
	if (step != TD_DB_DONE) {
		rc = td_store_db_error(st, err, "read runs");
		td_runs_free(*out, *n);
		*out = NULL;
		*n = 0;
	}
	td_db_finalize(s);
	return rc;
}

void td_runs_free(struct td_run *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].command);
		free(v[i].note);
	}
	free(v);
}

/* Both tables are keyed by (lowercased email, slot): each part is one
 * range read of that key, newest first. */
int td_store_reader_digests(struct td_store *st, const char *email, size_t limit,
			    struct td_reader_digest **out, size_t *n, struct td_err *err)
{
	*out = NULL;
	*n = 0;
	struct td_db_stmt *s;
	int rc = prepare(st,
			 "SELECT slot, at, outcome, post_count, message_id, detail, next_at FROM ("
			 " SELECT * FROM (SELECT slot, created_at AS at, status AS outcome,"
			 "  post_count, COALESCE(message_id, '') AS message_id, '' AS detail,"
			 "  0 AS next_at FROM deliveries WHERE email = ?1"
			 "  ORDER BY slot DESC LIMIT ?2) AS d"
			 " UNION ALL"
			 " SELECT * FROM (SELECT slot, first_attempt_at,"
			 "  CASE state WHEN 'retry' THEN 'retrying' ELSE 'failed' END,"
			 "  post_count, message_id, last_error,"
			 "  CASE state WHEN 'retry' THEN next_attempt_at ELSE 0 END"
			 "  FROM pending WHERE email = ?1 ORDER BY slot DESC LIMIT ?2) AS p)"
			 " AS u ORDER BY slot DESC LIMIT ?2",
			 &s, err, "prepare a reader's digests");
	if (rc)
		return rc;
	char *key = td_store_email_key(email);
	td_store_bind_text(s, 1, key);
	free(key);
	td_db_bind_int64(s, 2, (int64_t)limit);
	static const char *const outcomes[] = { "sent", "skipped", "retrying", "failed" };
	int step;
	while ((step = td_db_step(s)) == TD_DB_ROW) {
		*out = td_xrealloc(*out, (*n + 1) * sizeof **out);
		struct td_reader_digest *d = &(*out)[(*n)++];
		d->slot = (time_t)td_db_column_int64(s, 0);
		d->at = (time_t)td_db_column_int64(s, 1);
		const char *o = td_store_col_cstr(s, 2);
		d->outcome = outcomes[3];
		for (size_t i = 0; i < sizeof outcomes / sizeof *outcomes; i++)
			if (strcmp(o, outcomes[i]) == 0)
				d->outcome = outcomes[i];
		d->post_count = (size_t)td_db_column_int64(s, 3);
		d->message_id = td_store_col_dup(s, 4);
		d->detail = td_store_col_dup(s, 5);
		d->next_attempt_at = (time_t)td_db_column_int64(s, 6);
	}
	if (step != TD_DB_DONE) {
		rc = td_store_db_error(st, err, "read a reader's digests");
		td_reader_digests_free(*out, *n);
		*out = NULL;
		*n = 0;
	}
	td_db_finalize(s);
	return rc;
}

void td_reader_digests_free(struct td_reader_digest *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].message_id);
		free(v[i].detail);
	}
	free(v);
}
