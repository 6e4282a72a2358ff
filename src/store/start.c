/*
 * start.c: a reader's clean start (see start.h for the rule).
 *
 * The statements run once per reader of a start, which is rare (a new
 * site, an imported list), or once per send run or preview (the
 * clean-start point: digest.c keeps it for the run), so they are
 * prepared where used.
 */
#include "tagdigest/store/start.h"

#include <stdlib.h>

#include "store_impl.h"

/* The history a start leaves alone; ?1 is the lowercased address. */
#define HISTORY_SQL \
	"EXISTS (SELECT 1 FROM subscriber_state WHERE email = ?1) OR" \
	" EXISTS (SELECT 1 FROM pending WHERE email = ?1) OR" \
	" EXISTS (SELECT 1 FROM clean_starts WHERE email = ?1)"

int td_store_has_history(struct td_store *st, const char *email, bool *has,
			 struct td_err *err)
{
	struct td_db_stmt *s;
	*has = false;
	if (td_db_prepare(td_store_db(st), "SELECT " HISTORY_SQL, &s) !=
	    TD_DB_OK)
		return td_store_db_error(st, err, "prepare history");
	char *key = td_store_email_key(email);
	td_store_bind_text(s, 1, key);
	free(key);
	int step = td_db_step(s);
	if (step == TD_DB_ROW)
		*has = td_db_column_int(s, 0) != 0;
	td_db_finalize(s);
	return step == TD_DB_ROW ? 0 : td_store_db_error(st, err, "read history");
}

int td_store_start_clean(struct td_store *st, const char *email, time_t slot,
			 int64_t upto_seq, time_t at, bool *started,
			 struct td_err *err)
{
	struct td_db *db = td_store_db(st);
	struct td_db_stmt *state = NULL, *mark = NULL;
	int rc = 0;
	*started = false;
	/* One statement decides and writes, so there is no gap between the
	 * question "has a history?" and the row that answers it. */
	if (td_db_prepare(db,
			       "INSERT INTO subscriber_state (email, watermark, last_slot,"
			       " last_sent_at) SELECT ?1, ?2, ?3, 0 WHERE NOT (" HISTORY_SQL ")", &state) != TD_DB_OK ||
	    td_db_prepare(db,
			       "INSERT INTO clean_starts (email, slot, upto_seq, at)"
			       " VALUES (?1, ?2, ?3, ?4)", &mark) != TD_DB_OK) {
		rc = td_store_db_error(st, err, "prepare clean start");
		goto out;
	}
	char *key = td_store_email_key(email);
	td_store_bind_text(state, 1, key);
	td_db_bind_int64(state, 2, upto_seq);
	td_db_bind_int64(state, 3, (int64_t)slot);
	td_store_bind_text(mark, 1, key);
	td_db_bind_int64(mark, 2, (int64_t)slot);
	td_db_bind_int64(mark, 3, upto_seq);
	td_db_bind_int64(mark, 4, (int64_t)at);
	free(key);
	if (td_db_step(state) != TD_DB_DONE) {
		rc = td_store_db_error(st, err, "start clean");
		goto out;
	}
	if (td_db_changes(db) == 0)
		goto out;        /* a history: left alone */
	if (td_db_step(mark) != TD_DB_DONE) {
		rc = td_store_db_error(st, err, "record clean start");
		goto out;
	}
	*started = true;
out:
	td_db_finalize(state);
	td_db_finalize(mark);
	return rc;
}

int td_store_clean_start_seq(struct td_store *st, int64_t *seq, struct td_err *err)
{
	struct td_db_stmt *s;
	*seq = 0;
	if (td_db_prepare(td_store_db(st),
			       "SELECT COALESCE(MAX(upto_seq), 0) FROM clean_starts", &s) != TD_DB_OK)
		return td_store_db_error(st, err, "prepare clean-start point");
	int step = td_db_step(s);
	if (step == TD_DB_ROW)
		*seq = td_db_column_int64(s, 0);
	td_db_finalize(s);
	return step == TD_DB_ROW ? 0 : td_store_db_error(st, err, "read clean-start point");
}
