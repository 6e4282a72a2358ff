/*
 * claims.c: batches of readers shared by several senders (see claims.h).
 */
#include "tagdigest/store/claims.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "tagdigest/core/log.h"
#include "tagdigest/core/util.h"
#include "store_impl.h"

/* The database's clock in milliseconds: PostgreSQL's is the one every
 * sender shares (clock_timestamp, not now(): that is the transaction's
 * start); SQLite's is this machine's, the only one there is. */
#define NOW_SQLITE "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)"
#define NOW_PG "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)"

/* The next batch after ?4 that no live lease holds and that is not done
 * since ?3 (the run's begin), leased to ?1 for ?2 ms. SKIP LOCKED: a
 * batch another sender is claiming right now is passed over, not waited
 * for. SQLite has one writer at a time and no row locks. */
#define CLAIM(NOW, LOCK) \
	"UPDATE send_batches SET worker = ?1, lease_until = " NOW " + ?2" \
	" WHERE first_id = (SELECT first_id FROM send_batches" \
	" WHERE first_id > ?4 AND done_at < ?3 AND lease_until < " NOW \
	" ORDER BY first_id LIMIT 1" LOCK ")" \
	" RETURNING first_id, last_id"
static const char claim_sqlite[] = CLAIM(NOW_SQLITE, "");
static const char claim_pg[] = CLAIM(NOW_PG, " FOR UPDATE SKIP LOCKED");

/* Whether anything is left to claim at all (td_claims_next's check). */
#define LEFT(NOW) \
	"SELECT 1 FROM send_batches WHERE done_at < ?1 AND lease_until < " NOW " LIMIT 1"
/* Whether another sender still holds a batch not done: alive, or dead
 * with a lease not run out yet. */
#define HELD(NOW) \
	"SELECT 1 FROM send_batches WHERE done_at < ?1 AND lease_until >= " NOW \
	" AND worker != ?2 LIMIT 1"

#define RENEW(NOW) \
	"UPDATE send_batches SET lease_until = " NOW " + ?2" \
	" WHERE worker = ?1 AND done_at < ?3"
#define END(NOW) \
	"UPDATE send_batches SET lease_until = 0," \
	" done_at = CASE WHEN ?3 = 1 THEN " NOW " ELSE done_at END" \
	" WHERE worker = ?1 AND done_at < ?2"

/* How often td_claims_next asks again when the pick came back empty
 * while batches were left (another sender's claim raced it). */
#define CLAIM_TRIES 10

struct held {
	int64_t first, last;
	bool lost;
};

struct td_claims {
	struct td_store *st;             /* the caller's: claims */
	struct td_store *rst;            /* the renewing thread's own */
	char worker[160];
	int64_t begun;                   /* the run's begin, database ms */
	int64_t lease_ms;
	int64_t after;                   /* the last first_id claimed */
	int64_t renewed_ms;              /* the last renewal that worked,
					  * this machine's monotonic ms */
	pthread_mutex_t mu;              /* held, nheld, quit */
	pthread_cond_t cv;
	struct held *held;
	size_t nheld, cap;
	bool quit;
	bool thread_started;
	pthread_t thread;
};

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A renewal failed (the server gone, the connection dropped). Past two
 * thirds of a lease since the last one that worked, the leases are as
 * good as expired: another sender may take the batches any moment, so
 * this one takes no more readers from them (what it has in flight may
 * reach them twice: the bound of a lost lease). The renewer's connection
 * is opened afresh for the next try. */
static void renewal_failed(struct td_claims *c, const char *why)
{
	td_log_warnx("send: %s; trying again in %" PRId64 " ms", why, c->lease_ms / 3);
	if (mono_ms() - c->renewed_ms >= c->lease_ms * 2 / 3) {
		for (size_t i = 0; i < c->nheld; i++)
			if (!c->held[i].lost) {
				c->held[i].lost = true;
				td_log_warnx("send: could not renew the lease on readers %"
					     PRId64 "-%" PRId64 " in time; taking no more "
					     "readers from them", c->held[i].first,
					     c->held[i].last);
			}
	}
	struct td_store *fresh;
	struct td_err err = { 0, "" };
	if (td_store_open(td_store_path(c->st), TD_STORE_READWRITE, &fresh, &err) == 0) {
		td_store_close(c->rst);
		c->rst = fresh;
	}
}

static const char *now_sql(struct td_store *st)
{
	return td_db_pick(td_store_db(st), "SELECT " NOW_SQLITE, "SELECT " NOW_PG);
}

/* One statement with up to three integer parameters; *row_value is the
 * first column of its first row, when it gives one (then *has_row). */
static int run_ints(struct td_store *st, const char *sql, const int64_t *args,
		    int nargs, int64_t *row_value, bool *has_row, const char *what,
		    struct td_err *err)
{
	struct td_db_stmt *s;
	if (td_db_prepare(td_store_db(st), sql, &s) != TD_DB_OK)
		return td_store_db_error(st, err, what);
	for (int i = 0; i < nargs; i++)
		td_db_bind_int64(s, i + 1, args[i]);
	int step = td_db_step(s);
	if (has_row)
		*has_row = step == TD_DB_ROW;
	if (step == TD_DB_ROW && row_value)
		*row_value = td_db_column_int64(s, 0);
	while (step == TD_DB_ROW)
		step = td_db_step(s);
	td_db_finalize(s);
	return step == TD_DB_DONE ? 0 : td_store_db_error(st, err, what);
}

/* host:pid:random, unique among the senders of one database even when
 * a pid comes back after a reboot or in another container. */
static void name_worker(char *out, size_t size)
{
	char host[64] = "";
	if (gethostname(host, sizeof host) != 0 || !host[0])
		snprintf(host, sizeof host, "localhost");
	host[sizeof host - 1] = '\0';
	uint32_t rnd = 0;
	if (getrandom(&rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
		rnd = (uint32_t)td_mono_now() ^ (uint32_t)getpid();
	snprintf(out, size, "%s:%ld:%08" PRIx32, host, (long)getpid(), rnd);
}

/* The batches for ids 1..the roster's highest, made in one transaction. */
static int make_batches(struct td_store *st, int width, struct td_err *err)
{
	struct td_db *db = td_store_db(st);
	int rc = td_store_begin(st, err);
	if (rc)
		return rc;
	int64_t max_id = 0, have = 0, w = 0, live = 0;
	bool row;
	if ((rc = run_ints(st, "SELECT COALESCE(MAX(id), 0) FROM members", NULL, 0, &max_id,
			   NULL, "read the roster's ids", err)) ||
	    (rc = run_ints(st, "SELECT COALESCE(MAX(last_id), 0) FROM send_batches", NULL, 0,
			   &have, NULL, "read the batches", err)) ||
	    (rc = run_ints(st, "SELECT last_id - first_id + 1 FROM send_batches"
			   " ORDER BY first_id LIMIT 1", NULL, 0, &w, &row,
			   "read the batches", err)) ||
	    (rc = run_ints(st, td_db_pick(db, "SELECT COUNT(*) FROM send_batches WHERE"
					  " lease_until > " NOW_SQLITE,
					  "SELECT COUNT(*) FROM send_batches WHERE"
					  " lease_until > " NOW_PG), NULL, 0, &live, NULL,
			   "read the batches", err)))
		goto fail;
	if (row && w != width) {
		if (live) {
			td_log_info("send: batches of %" PRId64 " readers kept while other "
				    "senders hold leases on them ([send] batch = %d "
				    "applies once none does)", w, width);
			width = (int)w;
		} else if ((rc = run_ints(st, "DELETE FROM send_batches", NULL, 0, NULL, NULL,
					  "remake the batches", err))) {
			goto fail;
		} else {
			have = 0;
		}
	}
	for (int64_t first = have + 1; first <= max_id; first += width) {
		int64_t args[] = { first, first + width - 1 };
		if ((rc = run_ints(st, "INSERT INTO send_batches (first_id, last_id)"
				   " VALUES (?1, ?2) ON CONFLICT DO NOTHING", args, 2, NULL,
				   NULL, "make the batches", err)))
			goto fail;
	}
	return td_store_commit(st, err);
fail:
	td_store_rollback(st);
	return rc;
}

/* ---- renewing ---- */

/* Renews every lease of c's; marks the batches another sender took as
 * lost. Called with c->mu held, so no claim comes in between the renewal
 * and the count. */
static void renew(struct td_claims *c)
{
	struct td_err err = { 0, "" };
	size_t mine = 0;
	for (size_t i = 0; i < c->nheld; i++)
		mine += !c->held[i].lost;
	if (!mine) {
		c->renewed_ms = mono_ms();   /* nothing to lose yet */
		return;
	}
	struct td_db *db = td_store_db(c->rst);
	int64_t args[] = { 0, c->lease_ms, c->begun };
	struct td_db_stmt *s;
	if (td_db_prepare(db, td_db_pick(db, RENEW(NOW_SQLITE), RENEW(NOW_PG)), &s) != TD_DB_OK) {
		td_store_db_error(c->rst, &err, "renew the leases");
		renewal_failed(c, err.msg);
		return;
	}
	td_db_bind_text(s, 1, c->worker);
	td_db_bind_int64(s, 2, args[1]);
	td_db_bind_int64(s, 3, args[2]);
	int step = td_db_step(s);
	td_db_finalize(s);
	if (step != TD_DB_DONE) {
		/* the leases may run out: then another sender walks the
		 * batches too, and the due rule keeps that to the messages in
		 * flight */
		td_store_db_error(c->rst, &err, "renew the leases");
		renewal_failed(c, err.msg);
		return;
	}
	c->renewed_ms = mono_ms();
	if ((size_t)td_db_changes(db) >= mine)
		return;
	/* Which ones went: those no longer under this sender's name. */
	if (td_db_prepare(db, "SELECT first_id FROM send_batches WHERE worker = ?1"
			  " AND done_at < ?2", &s) != TD_DB_OK) {
		td_store_db_error(c->rst, &err, "read the leases");
		td_log_warnx("send: %s", err.msg);
		return;
	}
	td_db_bind_text(s, 1, c->worker);
	td_db_bind_int64(s, 2, c->begun);
	bool *still = td_xcalloc(c->nheld, sizeof *still);
	while ((step = td_db_step(s)) == TD_DB_ROW) {
		int64_t f = td_db_column_int64(s, 0);
		for (size_t i = 0; i < c->nheld; i++)
			if (c->held[i].first == f)
				still[i] = true;
	}
	td_db_finalize(s);
	for (size_t i = 0; step == TD_DB_DONE && i < c->nheld; i++)
		if (!still[i] && !c->held[i].lost) {
			c->held[i].lost = true;
			td_log_warnx("send: lost the lease on readers %" PRId64 "-%" PRId64
				     " (not renewed for %" PRId64 " s: another sender took "
				     "them over); taking no more readers from them",
				     c->held[i].first, c->held[i].last, c->lease_ms / 1000);
		}
	free(still);
}

static void *renew_main(void *arg)
{
	struct td_claims *c = arg;
	pthread_mutex_lock(&c->mu);
	while (!c->quit) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		long long ns = ts.tv_nsec + (c->lease_ms / 3) * 1000000LL;
		ts.tv_sec += (time_t)(ns / 1000000000);
		ts.tv_nsec = (long)(ns % 1000000000);
		int w = 0;
		while (!c->quit && w != ETIMEDOUT)
			w = pthread_cond_timedwait(&c->cv, &c->mu, &ts);
		if (!c->quit)
			renew(c);
	}
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

/* ---- the calls ---- */

/* Stops the renewing thread (before the leases end: a renewal after
 * would lengthen a lease handed back). */
static void stop_renewing(struct td_claims *c)
{
	if (!c->thread_started)
		return;
	pthread_mutex_lock(&c->mu);
	c->quit = true;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
	pthread_join(c->thread, NULL);
	c->thread_started = false;
}

static void claims_free(struct td_claims *c)
{
	stop_renewing(c);
	td_store_close(c->rst);
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->mu);
	free(c->held);
	free(c);
}

int td_claims_begin(struct td_store *st, const struct td_claims_options *o,
		    struct td_claims **out, struct td_err *err)
{
	*out = NULL;
	int width = o->width > 0 ? o->width : 1;
	int lease = o->lease_seconds > 0 ? o->lease_seconds : 1;
	struct td_claims *c = td_xcalloc(1, sizeof *c);
	c->st = st;
	c->lease_ms = (int64_t)lease * 1000;
	c->renewed_ms = mono_ms();
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cv, NULL);
	name_worker(c->worker, sizeof c->worker);
	int rc = run_ints(st, now_sql(st), NULL, 0, &c->begun, NULL, "read the clock", err);
	if (!rc)
		rc = make_batches(st, width, err);
	if (!rc)
		rc = td_store_open(td_store_path(st), TD_STORE_READWRITE, &c->rst, err);
	if (!rc) {
		if (pthread_create(&c->thread, NULL, renew_main, c) != 0)
			rc = td_err_set(err, EX_OSERR, "send: cannot start the lease "
					"renewal thread: %s", strerror(errno));
		else
			c->thread_started = true;
	}
	if (rc) {
		claims_free(c);
		return rc;
	}
	td_log_debug("send: sender %s, batches of %d readers, leases of %d s", c->worker,
		     width, lease);
	*out = c;
	return 0;
}

static int claim_once(struct td_claims *c, int64_t *first_id, int64_t *last_id,
		      bool *got, struct td_err *err);

/* Whether another sender holds a batch this one has not seen done. */
static int others_hold(struct td_claims *c, bool *held, struct td_err *err)
{
	struct td_db *db = td_store_db(c->st);
	struct td_db_stmt *s;
	if (td_db_prepare(db, td_db_pick(db, HELD(NOW_SQLITE), HELD(NOW_PG)), &s) != TD_DB_OK)
		return td_store_db_error(c->st, err, "claim a batch");
	td_db_bind_int64(s, 1, c->begun);
	td_db_bind_text(s, 2, c->worker);
	int step = td_db_step(s);
	td_db_finalize(s);
	*held = step == TD_DB_ROW;
	return step == TD_DB_ROW || step == TD_DB_DONE ? 0 :
	       td_store_db_error(c->st, err, "claim a batch");
}

/* When nothing is free but another sender holds batches, this one waits
 * a lease and a third for them: a dead sender's leases run out in that
 * time and its readers are taken over in this run, not an hour later;
 * a live sender renews its own, and this one ends. */
int td_claims_next(struct td_claims *c, int64_t *first_id, int64_t *last_id, bool *got,
		   struct td_err *err)
{
	int rc = claim_once(c, first_id, last_id, got, err);
	bool held = false;
	if (rc || *got || (rc = others_hold(c, &held, err)) || !held)
		return rc;
	int64_t until = mono_ms() + c->lease_ms * 4 / 3;
	int64_t step_ms = c->lease_ms / 6 < 1000 ? c->lease_ms / 6 : 1000;
	td_log_info("send: another sender holds readers; waiting up to %" PRId64
		    " s in case it stopped and its lease runs out", c->lease_ms * 4 / 3000);
	while (mono_ms() < until) {
		struct timespec ts = { (time_t)(step_ms / 1000), (long)(step_ms % 1000) * 1000000L };
		nanosleep(&ts, NULL);
		c->after = 0;
		if ((rc = claim_once(c, first_id, last_id, got, err)) || *got)
			return rc;
		if ((rc = others_hold(c, &held, err)) || !held)
			return rc;
	}
	return 0;
}

static int claim_once(struct td_claims *c, int64_t *first_id, int64_t *last_id,
		      bool *got, struct td_err *err)
{
	*got = false;
	struct td_db *db = td_store_db(c->st);
	const char *claim = td_db_pick(db, claim_sqlite, claim_pg);
	for (int tries = 0; tries < CLAIM_TRIES; tries++) {
		struct td_db_stmt *s;
		if (td_db_prepare(db, claim, &s) != TD_DB_OK)
			return td_store_db_error(c->st, err, "claim a batch");
		td_db_bind_text(s, 1, c->worker);
		td_db_bind_int64(s, 2, c->lease_ms);
		td_db_bind_int64(s, 3, c->begun);
		td_db_bind_int64(s, 4, c->after);
		/* under the lock: the renewal counts the batches held */
		pthread_mutex_lock(&c->mu);
		int step = td_db_step(s);
		if (step == TD_DB_ROW) {
			*first_id = td_db_column_int64(s, 0);
			*last_id = td_db_column_int64(s, 1);
			if (c->nheld == c->cap) {
				c->cap = c->cap ? 2 * c->cap : 16;
				c->held = td_xrealloc(c->held, c->cap * sizeof *c->held);
			}
			c->held[c->nheld++] = (struct held){ *first_id, *last_id, false };
			step = td_db_step(s);
			*got = true;
		}
		pthread_mutex_unlock(&c->mu);
		td_db_finalize(s);
		if (step != TD_DB_DONE)
			return td_store_db_error(c->st, err, "claim a batch");
		if (*got) {
			c->after = *first_id;
			return 0;
		}
		/* Nothing after the last one: from the start again, for a
		 * batch whose sender died behind us. */
		if (c->after) {
			c->after = 0;
			continue;
		}
		/* The pick may come back empty while another sender's claim
		 * commits; ask whether anything is left before giving up. */
		bool left;
		int64_t args[] = { c->begun };
		int rc = run_ints(c->st, td_db_pick(db, LEFT(NOW_SQLITE), LEFT(NOW_PG)), args,
				  1, NULL, &left, "claim a batch", err);
		if (rc || !left)
			return rc;
	}
	return 0;
}

bool td_claims_lost(struct td_claims *c, int64_t first_id)
{
	bool lost = false;
	pthread_mutex_lock(&c->mu);
	for (size_t i = c->nheld; i-- > 0;)
		if (c->held[i].first == first_id) {
			lost = c->held[i].lost;
			break;
		}
	pthread_mutex_unlock(&c->mu);
	return lost;
}

const char *td_claims_worker(const struct td_claims *c)
{
	return c->worker;
}

size_t td_claims_count(const struct td_claims *c)
{
	return c->nheld;
}

int td_claims_end(struct td_claims *c, bool done, struct td_err *err)
{
	if (!c)
		return 0;
	struct td_store *st = c->st;
	struct td_db *db = td_store_db(st);
	struct td_db_stmt *s;
	int rc = 0;
	stop_renewing(c);
	if (td_db_prepare(db, td_db_pick(db, END(NOW_SQLITE), END(NOW_PG)), &s) != TD_DB_OK) {
		rc = td_store_db_error(st, err, "end the batches");
	} else {
		td_db_bind_text(s, 1, c->worker);
		td_db_bind_int64(s, 2, c->begun);
		td_db_bind_int64(s, 3, done ? 1 : 0);
		if (td_db_step(s) != TD_DB_DONE)
			rc = td_store_db_error(st, err, "end the batches");
		td_db_finalize(s);
	}
	claims_free(c);
	return rc;
}
