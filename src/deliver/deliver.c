/*
 * deliver.c: the delivery engine (see deliver.h).
 *
 * Three kinds of threads share one mutex and a few queues:
 *
 *   the caller    walks the subscribers, composes each due digest (reading
 *                 the store through the caller's connection) and pushes it
 *                 onto the bounded send queue; it also puts in-run retries
 *                 back on that queue when their time comes, and watches for
 *                 SIGTERM / SIGINT;
 *   N senders     each own one transport (one SMTP session); a sender takes
 *                 a job, sends it, hands it to the recorder and waits until
 *                 it is recorded before taking the next;
 *   the recorder  owns a second store connection and is the only writer:
 *                 it takes every outcome queued so far and records them in
 *                 one transaction (group commit), then wakes the senders.
 *
 * Why a sender waits: the gap between "the server said 250" and "the
 * delivery is committed" is where a crash makes a duplicate. Waiting keeps
 * that gap to one message per session, so a SIGKILL repeats at most
 * `connections` messages, and never loses one.
 *
 * Why one writer with its own connection: SQLite connections must not be
 * shared across threads mid-transaction, and in WAL mode the composer's
 * read snapshots never block the recorder's commits.
 */
#include "tagdigest/deliver/deliver.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tagdigest/compose/compose.h"
#include "tagdigest/core/log.h"
#include "tagdigest/schedule/schedule.h"
#include "tagdigest/deliver/transport.h"
#include "tagdigest/store/runs.h"
#include "tagdigest/core/util.h"

/* In-run retries waiting for their time, at most; more wait for a later
 * run in the pending table, so memory stays bounded on a failing relay. */
#define MAX_RETRY_LIST 256
/* Backoff across runs never grows beyond this. */
#define MAX_BACKOFF (6 * 3600)

static const char *outcome_name(enum td_send_outcome o)
{
	switch (o) {
	case TD_SEND_OK: return "sent";
	case TD_SEND_TEMPFAIL: return "tempfail";
	case TD_SEND_PERMFAIL: return "permfail";
	case TD_SEND_FATAL: return "fatal";
	}
	return "?";
}

/* A fatal transport error stops the run with a code cron understands:
 * 78 when a person must fix the configuration (credentials, TLS, the
 * relay refusing our sender), 75 when waiting may be enough. */
static int fatal_exit_code(int code)
{
	switch (code) {
	case EX_CONFIG:
	case EX_NOPERM:
	case EX_PROTOCOL:
		return EX_CONFIG;
	default:
		return EX_TEMPFAIL;
	}
}

/* ---- the subscribers, one at a time ---- */

/* Where a run stands in its source: the rows read so far, and whether the
 * source is finished. */
struct reading {
	struct td_subscriber_source *src;
	size_t seen;
	bool ended;
};

/* The next subscriber (1), the end (0) or the source's error. Keeps
 * sum->subscribers a total progress can divide by: the source's hint
 * while it is read (never less than the rows seen), the exact count once
 * it ends. mu guards sum when other threads read it (NULL otherwise). */
static int read_next(struct reading *rd, pthread_mutex_t *mu,
		     struct td_send_summary *sum, const struct td_subscriber **sub,
		     struct td_err *err)
{
	int rc = rd->src->next(rd->src->ctx, sub, err);
	if (rc == 1)
		rd->seen++;
	else
		rd->ended = true;
	if (mu)
		pthread_mutex_lock(mu);
	if (rc == 0)
		sum->subscribers = rd->seen;
	else if (sum->subscribers < rd->seen)
		sum->subscribers = rd->seen;
	if (mu)
		pthread_mutex_unlock(mu);
	return rc;
}

/* ---- the engine ---- */

enum job_kind {
	J_SEND,       /* a message for a sender */
	J_SKIPPED,    /* an empty digest: record, send nothing */
	J_BADDATA,    /* the subscriber's data cannot make a message */
	J_CLOSE,      /* a stored retry a later slot's digest replaces:
		       * mark it expired (terr.msg says why) */
};

enum stop_reason { STOP_NONE, STOP_FATAL, STOP_TEMPFAILS, STOP_SIGNAL, STOP_STORE };

struct job {
	struct job *next;
	enum job_kind kind;
	/* A copy: the row it came from is gone once the next one is read. */
	char *email;
	int64_t member_id;     /* for the VERP envelope sender (verp.h) */
	time_t slot;           /* the reader's slot it is recorded under */
	char *message_id;
	char *msg;
	size_t len;
	int64_t from_seq, upto_seq;
	size_t post_count;
	bool resend;           /* bytes from the pending table */
	int prev_attempts;     /* failed attempts before this run */
	time_t first_attempt_at;
	int tries;             /* attempts in this run */
	/* filled by the sender */
	struct td_send_result res;
	struct td_err terr;
	/* filled by the recorder */
	bool recorded;
	bool retry;            /* try again in this run at retry_at */
	bool expired;          /* given up: too many attempts or too old */
	double retry_at;
};

struct queue {
	struct job *head, *tail;
	size_t n;
};

static void q_push(struct queue *q, struct job *j)
{
	j->next = NULL;
	if (q->tail)
		q->tail->next = j;
	else
		q->head = j;
	q->tail = j;
	q->n++;
}

static struct job *q_pop(struct queue *q)
{
	struct job *j = q->head;
	if (j) {
		q->head = j->next;
		if (!q->head)
			q->tail = NULL;
		q->n--;
		j->next = NULL;
	}
	return j;
}

static void job_free(struct job *j)
{
	if (!j)
		return;
	free(j->email);
	free(j->message_id);
	free(j->msg);
	free(j);
}

static void q_free(struct queue *q)
{
	struct job *j;
	while ((j = q_pop(q)))
		job_free(j);
}

struct engine {
	const struct td_deliver_options *dopt;  /* the caller's, for the run */
	bool dry_run;                  /* compose and count; no thread, no write */
	td_plan_fn plan;               /* dry run: each reader's outcome, or NULL */
	void *plan_arg;
	struct td_store *st;           /* the caller's: reads only, caller's thread */
	struct td_store *wst;          /* the recorder's */
	struct td_zones *zones;        /* readers' zones: the caller's thread */
	bool roster;                   /* ask td_roster_may_send before each send */
	struct td_send_summary *sum;   /* counters: under mu */
	time_t now;                    /* the run's clock at t0 */
	double t0;

	pthread_mutex_t mu;
	pthread_cond_t cv_send;        /* senders: a job or shutdown */
	pthread_cond_t cv_rec;         /* recorder: outcomes or shutdown */
	pthread_cond_t cv_done;        /* senders: their job is recorded */
	pthread_cond_t cv_main;        /* caller: something changed */

	struct queue sendq;            /* composed, waiting for a sender */
	struct queue recq;             /* outcomes waiting for the recorder */
	struct queue retries;          /* waiting for their retry_at (unsorted) */
	size_t sendq_cap;
	size_t busy;                   /* jobs held by senders */
	size_t unrecorded;             /* pushed to recq, not yet recorded */
	bool senders_quit;
	bool recorder_quit;

	bool probing;                  /* first message not yet answered */
	size_t sends_queued;
	enum stop_reason stop;
	struct td_err stop_err;
	int consecutive_temp;
	char last_temp[sizeof ((struct td_err *)0)->msg];

	double rate_interval;          /* seconds between message starts, 0 */
	double next_start;

	struct td_transport **tr;
	struct td_store **rst;         /* each sender's read connection (roster) */
	pthread_t *threads;
	size_t nthreads;
	pthread_t recorder;
	bool recorder_started;
};

/* The run's wall clock: `now` as given, advanced by the time elapsed, so
 * a caller's fixed `now` (tests) and stored schedules agree. */
static time_t run_clock(const struct engine *e)
{
	return e->now + (time_t)(td_mono_now() - e->t0);
}

static void set_stop(struct engine *e, enum stop_reason why)
{
	if (e->stop == STOP_NONE)
		e->stop = why;
}

/* Backoff before a later run may try again: retry_backoff doubled per
 * failed attempt, capped. */
static time_t backoff(const struct td_deliver_options *dopt, int attempts)
{
	double d = dopt->retry_backoff;
	for (int i = 1; i < attempts && d < MAX_BACKOFF; i++)
		d *= 2;
	return (time_t)(d > MAX_BACKOFF ? MAX_BACKOFF : d);
}

/* In-run retry k (1-based) waits 4^(k-1) seconds: 1 s, 4 s, 16 s ... */
static double run_retry_delay(int k)
{
	double d = 1;
	for (int i = 1; i < k; i++)
		d *= 4;
	return d;
}

/* Writes one outcome inside the recorder's open transaction. The job's
 * retry decision is made before, under the lock. */
static int record_one(struct engine *e, struct job *j, int *bounces,
		      struct td_err *err)
{
	const struct td_deliver_options *dopt = e->dopt;
	struct td_store *st = e->wst;
	time_t now = run_clock(e);
	const char *email = j->email;
	*bounces = 0;

	if (j->kind == J_SKIPPED) {
		struct td_delivery d = { .email = email, .slot = j->slot,
					 .skipped = true, .from_seq = j->from_seq,
					 .upto_seq = j->upto_seq, .at = e->now };
		return td_store_put_delivery(st, &d, err);
	}
	if (j->kind == J_BADDATA)
		return td_store_record_attempt(st, email, j->slot, "permfail",
					       j->terr.msg, now, err);
	if (j->kind == J_CLOSE) {
		struct td_pending p = {
			.email = (char *)email, .slot = j->slot, .state = (char *)"expired",
			.message_id = j->message_id, .message = (char *)"",
			.from_seq = j->from_seq, .upto_seq = j->upto_seq,
			.post_count = j->post_count, .attempts = j->prev_attempts,
			.first_attempt_at = j->first_attempt_at,
			.last_error = j->terr.msg,
		};
		return td_store_pending_put(st, &p, err);
	}

	enum td_send_outcome o = j->res.outcome;
	if (o == TD_SEND_OK) {
		struct td_delivery d = { .email = email, .slot = j->slot,
					 .message_id = j->message_id,
					 .reply = j->res.reply, .from_seq = j->from_seq,
					 .upto_seq = j->upto_seq,
					 .post_count = j->post_count, .at = e->now };
		return td_store_put_delivery(st, &d, err);
	}
	int rc = td_store_record_attempt(st, email, j->slot, outcome_name(o),
					 j->terr.msg, now, err);
	if (rc || o == TD_SEND_FATAL)
		return rc;
	int attempts = j->prev_attempts + j->tries;
	if (!j->first_attempt_at)
		j->first_attempt_at = now;
	struct td_pending p = {
		.email = (char *)email, .slot = j->slot,
		.message_id = j->message_id, .message = j->msg,
		.message_len = j->len, .from_seq = j->from_seq,
		.upto_seq = j->upto_seq, .post_count = j->post_count,
		.attempts = attempts,
		.first_attempt_at = j->first_attempt_at,
		.last_error = j->terr.msg,
	};
	if (o == TD_SEND_TEMPFAIL) {
		bool too_old = now - p.first_attempt_at >=
			       (time_t)dopt->retry_max_hours * 3600;
		j->expired = !j->retry && (attempts >= dopt->retry_max_attempts ||
					   too_old);
		if (j->expired) {
			p.state = (char *)"expired";
			p.next_attempt_at = 0;
		} else {
			p.state = (char *)"retry";
			/* Written before the in-run retry too: a crash while it
			 * waits leaves the same bytes for the next run. */
			p.next_attempt_at = j->retry ? now : now + backoff(dopt, attempts);
		}
		return td_store_pending_put(st, &p, err);
	}
	/* Permanent for this subscriber: close the slot, count the bounce. */
	p.state = (char *)"bounced";
	if ((rc = td_store_pending_put(st, &p, err)))
		return rc;
	if ((rc = td_store_bounce_note(st, email, j->res.reply[0] ? j->res.reply :
				       j->terr.msg, now, bounces, err)))
		return rc;
	if (*bounces >= dopt->max_permanent_failures)
		rc = td_store_suppress(st, email, "all", "bounced",
				       j->res.reply[0] ? j->res.reply : j->terr.msg,
				       now, err);
	return rc;
}

/* After the commit: counters, logs, and where the job goes next. Called
 * with the lock held. */
static void account(struct engine *e, struct job *j, int bounces)
{
	struct td_send_summary *sum = e->sum;
	const char *email = j->email;

	if (j->kind == J_SKIPPED) {
		sum->skipped++;
		sum->done++;
		return;
	}
	if (j->kind == J_BADDATA) {
		sum->permfail++;
		sum->done++;
		return;
	}
	if (j->kind == J_CLOSE) {
		/* the subscriber is counted by their other job */
		td_log_info("send: %s: %s", email, j->terr.msg);
		return;
	}
	e->probing = false;
	switch (j->res.outcome) {
	case TD_SEND_OK:
		e->consecutive_temp = 0;
		sum->sent++;
		sum->done++;
		if (j->resend)
			sum->resent++;
		td_log_debug("send: %s: accepted: %s", email, j->res.reply);
		break;
	case TD_SEND_TEMPFAIL:
		e->consecutive_temp++;
		snprintf(e->last_temp, sizeof e->last_temp, "%s", j->terr.msg);
		if (j->retry) {
			td_log_debug("send: %s: tempfail, retry in %.0f s: %s", email,
				     run_retry_delay(j->tries), j->terr.msg);
			break;
		}
		td_log_warnx("send: %s: tempfail: %s", email, j->terr.msg);
		char times[48];
		if (j->expired) {
			td_log_warnx("send: %s: given up after %s since %lld", email,
				     td_count(times, sizeof times,
					      (size_t)(j->prev_attempts + j->tries),
					      "attempt", "attempts"),
				     (long long)j->first_attempt_at);
			sum->expired++;
		} else {
			sum->tempfail++;
		}
		sum->done++;
		if (e->consecutive_temp >= e->dopt->max_consecutive_tempfails &&
		    e->stop == STOP_NONE) {
			set_stop(e, STOP_TEMPFAILS);
			td_err_set(&e->stop_err, EX_TEMPFAIL,
				   "send: stopped after %s in a row "
				   "(transport.max_consecutive_tempfails); the "
				   "relay looks broken: %s; the next run retries",
				   td_count(times, sizeof times, (size_t)e->consecutive_temp,
					    "temporary failure", "temporary failures"),
				   e->last_temp);
		}
		break;
	case TD_SEND_PERMFAIL:
		e->consecutive_temp = 0;
		td_log_warnx("send: %s: permfail: %s", email, j->terr.msg);
		sum->permfail++;
		sum->done++;
		if (bounces >= e->dopt->max_permanent_failures) {
			char fails[48];
			sum->bounced++;
			td_log_warnx("send: %s: suppressed after %s in a row; "
				     "`tagdigest unsuppress %s` lifts it", email,
				     td_count(fails, sizeof fails, (size_t)bounces,
					      "permanent failure", "permanent failures"),
				     email);
		}
		break;
	case TD_SEND_FATAL:
		if (e->stop == STOP_FATAL || e->stop == STOP_STORE) {
			td_log_debug("send: %s: fatal: %s", email, j->terr.msg);
			break;
		}
		td_log_warnx("send: %s: fatal: %s", email, j->terr.msg);
		set_stop(e, STOP_FATAL);
		td_err_set(&e->stop_err, fatal_exit_code(j->terr.code),
			   "send: stopped: %s", j->terr.msg);
		break;
	}
}

/* Records a batch in one transaction; on a failure, each job alone, so
 * one bad row cannot take the others' records with it. */
static void record_batch(struct engine *e, struct job **v, size_t n, int *bounces)
{
	struct td_err err = { 0, "" };
	int rc = td_store_begin(e->wst, &err);
	for (size_t i = 0; !rc && i < n; i++)
		rc = record_one(e, v[i], &bounces[i], &err);
	if (!rc && !(rc = td_store_commit(e->wst, &err)))
		return;
	td_store_rollback(e->wst);
	if (n == 1) {
		td_log_warnx("send: %s: cannot record: %s", v[0]->email, err.msg);
		pthread_mutex_lock(&e->mu);
		if (e->stop == STOP_NONE) {
			set_stop(e, STOP_STORE);
			e->stop_err = err;
		}
		pthread_mutex_unlock(&e->mu);
		return;
	}
	for (size_t i = 0; i < n; i++)
		record_batch(e, &v[i], 1, &bounces[i]);
}

static void *recorder_main(void *arg)
{
	struct engine *e = arg;
	size_t cap = 64;
	struct job **v = td_xmalloc(cap * sizeof *v);
	int *bounces = td_xmalloc(cap * sizeof *bounces);

	pthread_mutex_lock(&e->mu);
	for (;;) {
		while (!e->recq.n && !e->recorder_quit)
			pthread_cond_wait(&e->cv_rec, &e->mu);
		if (!e->recq.n)
			break;
		size_t n = 0;
		while (n < cap && e->recq.n) {
			struct job *j = q_pop(&e->recq);
			/* The in-run retry decision goes into the record. */
			if (j->kind == J_SEND && j->res.outcome == TD_SEND_TEMPFAIL)
				j->retry = e->stop == STOP_NONE &&
					   j->tries <= e->dopt->run_retries &&
					   e->retries.n < MAX_RETRY_LIST;
			v[n++] = j;
		}
		pthread_mutex_unlock(&e->mu);
		record_batch(e, v, n, bounces);
		pthread_mutex_lock(&e->mu);
		for (size_t i = 0; i < n; i++) {
			struct job *j = v[i];
			account(e, j, bounces[i]);
			e->unrecorded--;
			if (j->kind == J_SEND) {
				/* The sender owns it again and wakes on this. */
				j->recorded = true;
			} else {
				job_free(j);
			}
		}
		pthread_cond_broadcast(&e->cv_done);
		pthread_cond_broadcast(&e->cv_main);
	}
	pthread_mutex_unlock(&e->mu);
	free(v);
	free(bounces);
	return NULL;
}

/* Waits for this sender's turn under the rate limit. Returns false when
 * the run stopped meanwhile. Called with the lock held. */
static bool rate_wait(struct engine *e)
{
	if (e->rate_interval <= 0)
		return true;
	double now = td_mono_now();
	double start = e->next_start > now ? e->next_start : now;
	e->next_start = start + e->rate_interval;
	while (e->stop == STOP_NONE && (now = td_mono_now()) < start) {
		double left = start - now;
		if (left > 0.1)
			left = 0.1;
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		long long ns = ts.tv_nsec + (long long)(left * 1e9);
		ts.tv_sec += (time_t)(ns / 1000000000);
		ts.tv_nsec = (long)(ns % 1000000000);
		pthread_cond_timedwait(&e->cv_send, &e->mu, &ts);
	}
	return e->stop == STOP_NONE;
}

struct sender_arg {
	struct engine *e;
	struct td_transport *tr;
	struct td_store *rst;    /* the roster, read: NULL unless e->roster */
};

/* A job a sender took but will not send. Called with the lock held. */
static void drop_unsent(struct engine *e, struct job *j)
{
	e->busy--;
	/* The first message was to be sent alone; the next one takes its
	 * place, or the caller would wait for an answer that never comes. */
	if (e->probing && e->sends_queued)
		e->sends_queued--;
	job_free(j);
	pthread_cond_broadcast(&e->cv_main);
}

/* Whether the reader still wants this message: asked on the sender's own
 * connection at the last moment, because the public server records an
 * unsubscribe at once, whatever runs, and a reader who clicked while
 * their digest waited in the queue must get nothing after the click.
 * Not allowed: counted as unsubscribed, nothing recorded (no delivery, no
 * watermark move; a stored retry stays as it was). Called without the
 * lock; returns false when the job was dropped. */
static bool still_wanted(struct engine *e, struct sender_arg *sa, struct job *j)
{
	if (!sa->rst)
		return true;
	bool ok = false;
	struct td_err cerr = { 0, "" };
	int rc = td_roster_may_send(sa->rst, j->email, run_clock(e), &ok, &cerr);
	if (!rc && ok)
		return true;
	pthread_mutex_lock(&e->mu);
	if (rc) {
		/* Not knowing is not a yes: stop, the reader stays due. */
		td_log_warnx("send: %s: cannot check the roster: %s", j->email, cerr.msg);
		if (e->stop == STOP_NONE) {
			set_stop(e, STOP_STORE);
			e->stop_err = cerr;
		}
	} else {
		td_log_info("send: %s: unsubscribed or paused while the run was "
			    "sending: not sent", j->email);
		e->sum->suppressed++;
		e->sum->done++;
	}
	drop_unsent(e, j);
	pthread_mutex_unlock(&e->mu);
	return false;
}

static void *sender_main(void *arg)
{
	struct sender_arg *sa = arg;
	struct engine *e = sa->e;

	pthread_mutex_lock(&e->mu);
	for (;;) {
		while (!e->sendq.n && !e->senders_quit)
			pthread_cond_wait(&e->cv_send, &e->mu);
		struct job *j = q_pop(&e->sendq);
		if (!j)
			break;
		e->busy++;
		pthread_cond_broadcast(&e->cv_main);   /* room in the queue */
		if (!rate_wait(e)) {
			/* Stopped before it was sent: the subscriber stays due. */
			e->busy--;
			job_free(j);
			pthread_cond_broadcast(&e->cv_main);
			continue;
		}
		pthread_mutex_unlock(&e->mu);

		if (!still_wanted(e, sa, j)) {
			pthread_mutex_lock(&e->mu);
			continue;
		}
		j->tries++;
		j->terr.code = 0;
		j->terr.msg[0] = '\0';
		/* made here, not kept in the job: a retry has the same one */
		char *from = td_envelope_sender(e->dopt, 'd', j->member_id, j->email,
						j->slot);
		td_transport_send(sa->tr, from, j->email, j->msg, j->len, &j->res,
				  &j->terr);
		free(from);

		pthread_mutex_lock(&e->mu);
		j->recorded = false;
		q_push(&e->recq, j);
		e->unrecorded++;
		pthread_cond_signal(&e->cv_rec);
		while (!j->recorded)
			pthread_cond_wait(&e->cv_done, &e->mu);
		e->busy--;
		if (j->retry && e->stop == STOP_NONE) {
			j->retry_at = td_mono_now() + run_retry_delay(j->tries);
			q_push(&e->retries, j);
		} else {
			job_free(j);
		}
		pthread_cond_broadcast(&e->cv_main);
	}
	pthread_mutex_unlock(&e->mu);
	free(sa);
	return NULL;
}

/* ---- signals: finish what is in flight, then stop ---- */

static volatile sig_atomic_t stop_signal;

static void on_stop_signal(int sig)
{
	stop_signal = sig;
}

/* Opens the transports and starts the senders, from this thread: libcurl's
 * global init is not thread-safe. Workers block the stop signals (the
 * caller's thread handles them) and SIGPIPE (a dead peer is an error
 * return, not a death). */
static size_t sessions(const struct td_deliver_options *dopt)
{
	/* A Maildir is one local disk and its unique names count per process:
	 * parallel writers gain nothing there. */
	if (dopt->transport.type == TD_TRANSPORT_MAILDIR || dopt->connections < 1)
		return 1;
	return (size_t)dopt->connections;
}

/* Starts a thread that never takes SIGTERM, SIGINT or SIGPIPE: they are
 * the calling thread's to handle (finish the messages in flight). Returns
 * pthread_create's result. */
static int start_thread(pthread_t *t, void *(*fn)(void *), void *arg)
{
	sigset_t block, old;
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	int prc = pthread_create(t, NULL, fn, arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return prc;
}

static int start_senders(struct engine *e, struct td_err *err)
{
	size_t n = sessions(e->dopt);
	e->tr = td_xcalloc(n, sizeof *e->tr);
	e->threads = td_xcalloc(n, sizeof *e->threads);
	if (e->roster)
		e->rst = td_xcalloc(n, sizeof *e->rst);
	for (size_t i = 0; i < n; i++) {
		int rc = td_transport_open(&e->dopt->transport, &e->tr[i], err);
		/* its own: a connection is one thread's at a time */
		if (!rc && e->rst)
			rc = td_store_open(td_store_path(e->st), TD_STORE_READONLY,
					   &e->rst[i], err);
		if (rc)
			return rc;
	}
	for (size_t i = 0; i < n; i++) {
		struct sender_arg *sa = td_xmalloc(sizeof *sa);
		sa->e = e;
		sa->tr = e->tr[i];
		sa->rst = e->rst ? e->rst[i] : NULL;
		int prc = start_thread(&e->threads[i], sender_main, sa);
		if (prc) {
			free(sa);
			return td_err_set(err, EX_OSERR, "send: cannot start a sender "
					  "thread: %s", strerror(prc));
		}
		e->nthreads++;
	}
	return 0;
}

static int start_recorder(struct engine *e, struct td_err *err)
{
	int rc = td_store_open(td_store_path(e->st), TD_STORE_READWRITE, &e->wst, err);
	if (rc)
		return rc;
	int prc = start_thread(&e->recorder, recorder_main, e);
	if (prc)
		return td_err_set(err, EX_OSERR, "send: cannot start the recorder "
				  "thread: %s", strerror(prc));
	e->recorder_started = true;
	return 0;
}

/* Hands a job over: the recorder for J_SKIPPED / J_BADDATA, the send
 * queue for messages. */
static void submit(struct engine *e, struct job *j)
{
	pthread_mutex_lock(&e->mu);
	if (j->kind == J_SEND) {
		q_push(&e->sendq, j);
		e->sends_queued++;
		pthread_cond_broadcast(&e->cv_send);
	} else {
		q_push(&e->recq, j);
		e->unrecorded++;
		pthread_cond_signal(&e->cv_rec);
	}
	pthread_mutex_unlock(&e->mu);
}

static void count(struct engine *e, size_t *field)
{
	pthread_mutex_lock(&e->mu);
	(*field)++;
	e->sum->done++;
	pthread_mutex_unlock(&e->mu);
}

/* A subscriber finished without a message to send: counted at once by a
 * dry run (nothing is recorded), else handed to the recorder. */
static void finish(struct engine *e, struct job *j, size_t *field)
{
	if (e->dry_run) {
		count(e, field);
		job_free(j);
	} else {
		submit(e, j);
	}
}

/* A dry run's plan item for sub (deliver.h), when someone asked. */
static void plan(struct engine *e, const struct td_subscriber *sub,
		 enum td_plan_outcome outcome, time_t slot, time_t next,
		 const struct td_composed *m, size_t posts)
{
	if (!e->plan)
		return;
	struct td_plan_item it = { .sub = sub, .outcome = outcome, .slot = slot,
				   .next = next, .posts = posts };
	if (m) {
		it.digest = &m->digest;
		it.posts = m->digest.shown;
		it.bytes = outcome == TD_PLAN_SEND ? m->message.len : 0;
	}
	e->plan(&it, e->plan_arg);
}

/* A stored retry as a job: J_SEND with the same bytes, Message-ID and
 * posts as the first attempt, or J_CLOSE (the digest of a later slot
 * replaces it; why says so). Takes r's strings. */
static struct job *pending_job(const struct td_subscriber *sub, struct td_pending *r,
			       enum job_kind kind)
{
	struct job *j = td_xcalloc(1, sizeof *j);
	j->email = td_xstrdup(sub->email);
	j->member_id = sub->member_id;
	j->kind = kind;
	j->slot = r->slot;
	j->resend = kind == J_SEND;
	j->message_id = r->message_id;
	r->message_id = NULL;
	if (kind == J_SEND) {
		j->msg = r->message;
		j->len = r->message_len;
		r->message = NULL;
	}
	j->from_seq = r->from_seq;
	j->upto_seq = r->upto_seq;
	j->post_count = r->post_count;
	j->prev_attempts = r->attempts;
	j->first_attempt_at = r->first_attempt_at;
	return j;
}

/* A retry kept for slot r->slot that no longer is the reader's digest:
 * marked expired (a real run; a dry run writes nothing). Its posts are
 * above the watermark still, so the reader's next digest carries them:
 * nothing is lost, and nothing comes twice. */
static void close_retry(struct engine *e, const struct td_subscriber *sub,
			struct td_pending *r, const char *why, time_t slot)
{
	if (e->dry_run)
		return;
	struct job *j = pending_job(sub, r, J_CLOSE);
	const struct td_tz *tz = e->dopt->compose.schedule.tz;
	char was[64], now[64];
	td_tz_format(tz, r->slot, "%Y-%m-%d %H:%M %Z", was, sizeof was);
	td_tz_format(tz, slot, "%Y-%m-%d %H:%M %Z", now, sizeof now);
	td_err_set(&j->terr, 0, "the digest kept for a retry (slot %s) is given up: "
		   "%s %s carries its posts", was, why, now);
	submit(e, j);
}

/* The reader's stored retry, if one is still theirs to send: *settled
 * when it decides the reader (resent, or not due to retry yet); else a
 * fresh digest may be due (fresh_due: their slot S is, by the rule in
 * prepare_one). A retry that a later digest replaced or would replace is
 * closed on the way. A dry run counts what the real run would do. */
static int prepare_retry(struct engine *e, const struct td_subscriber *sub,
			 const struct td_subscriber_state *state, time_t S,
			 bool fresh_due, bool *settled, struct td_err *err)
{
	struct td_pending r;
	bool found;
	*settled = false;
	int rc = td_store_pending_retry(e->st, sub->email, &r, &found, err);
	if (rc || !found) {
		td_store_pending_free(&r);
		return rc;
	}
	if (r.slot <= state->last_slot) {
		/* a digest for this slot or a later one is recorded already */
		close_retry(e, sub, &r, "the digest recorded for", state->last_slot);
	} else if (fresh_due && S > r.slot) {
		/* A slot of the reader's came after the retry's (time went on,
		 * or they moved their day): one digest for the new slot, from
		 * the unmoved watermark, instead of two. */
		close_retry(e, sub, &r, "the digest for", S);
	} else if (r.next_attempt_at > run_clock(e)) {
		/* Still the reader's digest for this period (even when their new
		 * schedule would put the period's slot earlier): one period,
		 * one digest. */
		td_log_debug("send: %s: kept from an earlier run; next try after %lld",
			     sub->email, (long long)r.next_attempt_at);
		count(e, &e->sum->deferred);
		plan(e, sub, TD_PLAN_DEFERRED, S, r.next_attempt_at, NULL, r.post_count);
		*settled = true;
	} else if (e->dry_run) {
		if (!e->plan)   /* with a plan, its items are the report */
			td_log_info("send: would resend to %s the digest kept since %lld",
				    sub->email, (long long)r.first_attempt_at);
		pthread_mutex_lock(&e->mu);
		e->sum->resent++;
		pthread_mutex_unlock(&e->mu);
		count(e, &e->sum->sent);
		plan(e, sub, TD_PLAN_RESEND, S, r.next_attempt_at, NULL, r.post_count);
		*settled = true;
	} else {
		submit(e, pending_job(sub, &r, J_SEND));
		*settled = true;
	}
	td_store_pending_free(&r);
	return 0;
}

/*
 * One subscriber, on the caller's thread: not due, a stored digest to
 * resend, or a fresh one to compose. Returns non-zero only when the run
 * must stop (store errors, templates).
 *
 * The reader's slot S is the last slot of their own schedule at the
 * run's now (schedule.h). A fresh digest is due when S is later than the
 * slot of their last recorded digest (sent or skipped) and than
 * not_before, and nothing closed S for them (refused, given up). Going by
 * the last digest's slot rather than "is S recorded" is what keeps a
 * schedule change safe: a reader who moves their day earlier has a new S
 * before the digest they already got, and waits for the next one instead
 * of getting two in one period; posts are chosen by the watermark, so a
 * change of frequency, zone or tags neither loses nor repeats one.
 */
static int prepare_one(struct engine *e, struct td_composer *c,
		       const struct td_subscriber *sub, struct td_err *err)
{
	struct td_schedule rs = td_schedule_for(&e->dopt->compose.schedule, &sub->prefs,
						e->zones);
	struct td_subscriber_state state;
	int rc;
	if ((rc = td_store_subscriber_state(e->st, sub->email, &state, err)))
		return rc;
	struct td_due due = td_schedule_due(&rs, &sub->prefs, sub->not_before,
					    state.last_slot, e->now);
	time_t S = due.slot;
	bool fresh_due = due.now;
	bool settled;
	if ((rc = prepare_retry(e, sub, &state, S, fresh_due, &settled, err)) || settled)
		return rc;
	if (fresh_due) {
		struct td_pending p;
		bool closed;
		if ((rc = td_store_pending_get(e->st, sub->email, S, &p, &closed, err))) {
			td_store_pending_free(&p);
			return rc;
		}
		/* refused or given up earlier in this slot */
		fresh_due = !closed || strcmp(p.state, "retry") == 0;
		td_store_pending_free(&p);
	}
	if (!fresh_due) {
		count(e, &e->sum->not_due);
		/* closed in this slot: due again as if it were served */
		plan(e, sub, TD_PLAN_NOT_DUE, S, due.now ? td_schedule_due(&rs, &sub->prefs,
			sub->not_before, S, e->now).next : due.next, NULL, 0);
		return 0;
	}

	struct job *j = td_xcalloc(1, sizeof *j);
	j->email = td_xstrdup(sub->email);
	j->member_id = sub->member_id;
	j->kind = J_SEND;
	j->slot = S;
	struct td_composed m;
	rc = td_compose(c, sub, e->now, &m, err);
	if (rc == EX_DATAERR) {
		/* This subscriber's data cannot make a valid message (the MIME
		 * checks refused it): the others still get theirs. */
		td_log_warnx("send: %s: not sent: %s", sub->email, err->msg);
		j->kind = J_BADDATA;
		j->terr = *err;
		plan(e, sub, TD_PLAN_BAD, S, S, NULL, 0);
		finish(e, j, &e->sum->permfail);
		return 0;
	}
	if (rc) {
		job_free(j);
		return rc;
	}
	j->from_seq = m.digest.from_seq;
	j->upto_seq = m.digest.upto_seq;
	j->post_count = m.digest.shown;
	if (m.digest.suppressed) {
		/* unsubscribed or bounced: the store overrides the file */
		td_log_debug("send: %s: suppressed: not sent", sub->email);
		count(e, &e->sum->suppressed);
		plan(e, sub, TD_PLAN_SUPPRESSED, S, 0, NULL, 0);
		job_free(j);
	} else if (m.digest.total == 0) {
		td_log_debug("send: %s: no new posts in their tags: skipped", sub->email);
		j->kind = J_SKIPPED;
		plan(e, sub, TD_PLAN_SKIP, S, S, &m, 0);
		finish(e, j, &e->sum->skipped);
	} else if (e->dry_run) {
		char posts[48];
		if (!e->plan)
			td_log_info("send: would send to %s: %s, %zu bytes, \"%s\"",
				    sub->email, td_count(posts, sizeof posts, m.digest.total,
							 "post", "posts"),
				    m.message.len, m.parts.subject);
		plan(e, sub, TD_PLAN_SEND, S, S, &m, 0);
		finish(e, j, &e->sum->sent);
	} else {
		j->len = m.message.len;
		j->msg = td_buf_steal(&m.message);
		j->message_id = m.message_id;
		m.message_id = NULL;
		submit(e, j);
	}
	td_composed_free(&m);
	return 0;
}

static void abs_deadline(struct timespec *ts, double seconds)
{
	clock_gettime(CLOCK_REALTIME, ts);
	long long ns = ts->tv_nsec + (long long)(seconds * 1e9);
	ts->tv_sec += (time_t)(ns / 1000000000);
	ts->tv_nsec = (long)(ns % 1000000000);
}

static void report_progress(struct engine *e, const struct td_send_options *opt,
			    size_t *last_done, bool force)
{
	if (!opt->progress)
		return;
	pthread_mutex_lock(&e->mu);
	struct td_send_summary snap = *e->sum;
	pthread_mutex_unlock(&e->mu);
	if (!force && snap.done == *last_done)
		return;
	*last_done = snap.done;
	snap.seconds = td_mono_now() - e->t0;
	snap.rate = snap.seconds > 0 ? (double)snap.sent / snap.seconds : 0;
	opt->progress(&snap, opt->progress_arg);
}

/* The caller's loop: compose ahead while the send queue has room, move
 * due retries back to it, and end when everything handed out is recorded. */
static int engine_run(struct engine *e, struct td_composer *c,
		      struct reading *rd, const struct td_send_options *opt,
		      struct td_err *err)
{
	size_t last_done = (size_t)-1;
	int rc = 0;

	for (;;) {
		pthread_mutex_lock(&e->mu);
		if (stop_signal && e->stop == STOP_NONE) {
			e->sum->stopped_by_signal = stop_signal;
			set_stop(e, STOP_SIGNAL);
			pthread_cond_broadcast(&e->cv_send);
		}
		if (e->stop != STOP_NONE) {
			/* Not sent yet: they stay due (and a stored retry stays
			 * in the pending table). */
			q_free(&e->sendq);
			q_free(&e->retries);
		}
		/* Due retries go first, ahead of fresh digests. */
		double now = td_mono_now(), wake = now + 0.05;
		for (struct job **pp = &e->retries.head; *pp;) {
			struct job *j = *pp;
			if (j->retry_at <= now && e->sendq.n < e->sendq_cap) {
				*pp = j->next;
				if (e->retries.tail == j) {
					e->retries.tail = NULL;
					for (struct job *k = e->retries.head; k; k = k->next)
						e->retries.tail = k;
				}
				e->retries.n--;
				j->retry = false;
				q_push(&e->sendq, j);
				pthread_cond_broadcast(&e->cv_send);
				continue;
			}
			if (j->retry_at < wake)
				wake = j->retry_at;
			pp = &(*pp)->next;
		}
		bool more = e->stop == STOP_NONE && !rd->ended;
		bool can_compose = more && e->sendq.n < e->sendq_cap &&
				   !(e->probing && e->sends_queued > 0);
		bool finished = !more && !e->sendq.n && !e->busy && !e->unrecorded &&
				!e->retries.n;
		if (finished) {
			pthread_mutex_unlock(&e->mu);
			break;
		}
		if (!can_compose) {
			struct timespec ts;
			abs_deadline(&ts, wake > now ? wake - now : 0.001);
			pthread_cond_timedwait(&e->cv_main, &e->mu, &ts);
			pthread_mutex_unlock(&e->mu);
			report_progress(e, opt, &last_done, false);
			continue;
		}
		pthread_mutex_unlock(&e->mu);

		/* Read here, not ahead: the row is only valid until the next
		 * read, and prepare_one copies what the queue needs. */
		const struct td_subscriber *sub;
		rc = read_next(rd, &e->mu, e->sum, &sub, err);
		if (rc == 0)
			continue;     /* the loop ends once the rest is recorded */
		if (rc != 1 || (rc = prepare_one(e, c, sub, err)))
			break;
		/* Transports open when the first message is ready: a run with
		 * nothing to send needs no relay. */
		if (!e->nthreads && e->sends_queued && (rc = start_senders(e, err)))
			break;
		report_progress(e, opt, &last_done, false);
	}
	return rc;
}

static void engine_shutdown(struct engine *e)
{
	pthread_mutex_lock(&e->mu);
	if (e->stop == STOP_NONE && (e->sendq.n || e->retries.n))
		set_stop(e, STOP_STORE);   /* an error path: drop what is unsent */
	q_free(&e->sendq);
	q_free(&e->retries);
	e->senders_quit = true;
	pthread_cond_broadcast(&e->cv_send);
	pthread_mutex_unlock(&e->mu);
	for (size_t i = 0; i < e->nthreads; i++)
		pthread_join(e->threads[i], NULL);
	if (e->recorder_started) {
		pthread_mutex_lock(&e->mu);
		e->recorder_quit = true;
		pthread_cond_broadcast(&e->cv_rec);
		pthread_mutex_unlock(&e->mu);
		pthread_join(e->recorder, NULL);
	}
	/* Senders that quit on a stop may have left retries behind. */
	q_free(&e->retries);
	size_t n = sessions(e->dopt);
	for (size_t i = 0; e->tr && i < n; i++)
		td_transport_close(e->tr[i]);
	for (size_t i = 0; e->rst && i < n; i++)
		td_store_close(e->rst[i]);
	free(e->rst);
	free(e->tr);
	free(e->threads);
	td_store_close(e->wst);
}

/* The run history (runs.h): bookkeeping, so a failure to write it is
 * logged and changes nothing about the send. */
static void record_run_start(struct td_store *st, const struct td_send_options *opt,
			     int64_t *id)
{
	struct td_err err = { 0, "" };
	if (td_store_run_begin(st, opt->command ? opt->command : "send", time(NULL), id,
			       &err)) {
		td_log_warnx("send: the run history: %s", err.msg);
		*id = 0;
	}
}

static void record_run_end(struct td_store *st, int64_t id,
			   const struct td_send_summary *sum, int rc,
			   const struct td_err *run_err)
{
	struct td_run r = {
		.finished_at = time(NULL), .subscribers = sum->subscribers,
		.not_due = sum->not_due, .sent = sum->sent, .skipped = sum->skipped,
		.suppressed = sum->suppressed, .tempfail = sum->tempfail,
		.permfail = sum->permfail, .deferred = sum->deferred,
		.expired = sum->expired, .bounced = sum->bounced, .resent = sum->resent,
		.slot = sum->slot, .seconds = sum->seconds, .exit_code = rc,
		.stopped_by_signal = sum->stopped_by_signal,
		.note = rc ? (char *)run_err->msg : (char *)"",
	};
	struct td_err err = { 0, "" };
	if (td_store_run_finish(st, id, &r, &err))
		td_log_warnx("send: the run history: %s", err.msg);
}

int td_send_run(const struct td_deliver_options *dopt, struct td_store *st,
		struct td_subscriber_source *src,
		const struct td_send_options *opt, time_t now,
		struct td_send_summary *sum, struct td_err *err)
{
	static const struct td_send_options defaults = { .dry_run = false };
	if (!opt)
		opt = &defaults;
	memset(sum, 0, sizeof *sum);
	double t0 = td_mono_now();
	sum->slot = td_schedule_last_slot(&dopt->compose.schedule, now);
	sum->next_slot = td_schedule_next_slot(&dopt->compose.schedule, now);
	sum->subscribers = src->total_hint;
	struct reading rd = { src, 0, false };

	struct td_composer *c = NULL;
	int rc = td_composer_new(&dopt->compose, st, &c, err);
	if (rc)
		return rc;
	/* the run lock keeps ingest out while we send: posts cannot change */
	td_composer_hold_posts(c);

	struct engine e;
	memset(&e, 0, sizeof e);
	e.dopt = dopt;
	e.dry_run = opt->dry_run;
	if (e.dry_run) {
		e.plan = opt->plan;
		e.plan_arg = opt->plan_arg;
	}
	e.st = st;
	e.sum = sum;
	e.now = now;
	e.t0 = t0;
	e.zones = td_zones_new();
	e.roster = src->from_roster;
	pthread_mutex_init(&e.mu, NULL);
	pthread_cond_init(&e.cv_send, NULL);
	pthread_cond_init(&e.cv_rec, NULL);
	pthread_cond_init(&e.cv_done, NULL);
	pthread_cond_init(&e.cv_main, NULL);
	e.sendq_cap = 2 * sessions(dopt) + 2;
	e.probing = true;
	double ivl = 0;
	if (dopt->rate_per_second > 0)
		ivl = 1.0 / dopt->rate_per_second;
	if (dopt->rate_per_hour > 0 && 3600.0 / dopt->rate_per_hour > ivl)
		ivl = 3600.0 / dopt->rate_per_hour;
	e.rate_interval = ivl;

	/* SA_RESETHAND: a second Ctrl-C kills at once, as people expect. A
	 * dry run has nothing in flight to finish: the signals keep their
	 * default. */
	struct sigaction sa, old_term, old_int;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_stop_signal;
	sa.sa_flags = SA_RESETHAND;
	sigemptyset(&sa.sa_mask);
	stop_signal = 0;
	if (!e.dry_run) {
		sigaction(SIGTERM, &sa, &old_term);
		sigaction(SIGINT, &sa, &old_int);
	}

	int64_t run_id = 0;
	if (!e.dry_run)
		record_run_start(st, opt, &run_id);
	/* a dry run writes nothing: no recorder, and no sender is started
	 * because nothing is queued */
	rc = e.dry_run ? 0 : start_recorder(&e, err);
	if (!rc)
		rc = engine_run(&e, c, &rd, opt, err);
	engine_shutdown(&e);

	if (!e.dry_run) {
		sigaction(SIGTERM, &old_term, NULL);
		sigaction(SIGINT, &old_int, NULL);
	}
	td_composer_free(c);
	td_zones_free(e.zones);

	sum->seconds = td_mono_now() - t0;
	sum->rate = sum->seconds > 0 ? (double)sum->sent / sum->seconds : 0;
	sum->stopped_early = e.stop != STOP_NONE;
	if (opt->progress)
		opt->progress(sum, opt->progress_arg);

	if (!rc) {
		/* an estimate when the source was not read to its end */
		size_t left = sum->subscribers > sum->done ? sum->subscribers - sum->done : 0;
		switch (e.stop) {
		case STOP_FATAL:
		case STOP_TEMPFAILS:
		case STOP_STORE:
			*err = e.stop_err;
			rc = err->code ? err->code : EX_SOFTWARE;
			break;
		case STOP_SIGNAL:
			rc = td_err_set(err, EX_TEMPFAIL,
					"send: interrupted by %s: the messages in "
					"flight were finished and recorded; %zu "
					"digests are still due and the next run "
					"sends them",
					sum->stopped_by_signal == SIGINT ? "SIGINT" : "SIGTERM",
					left + sum->tempfail);
			break;
		case STOP_NONE:
			if (sum->tempfail > 0) {
				char failed[48];
				rc = td_err_set(err, EX_TEMPFAIL,
						"send: %s failed temporarily; the next run "
						"retries %s", td_count(failed, sizeof failed,
								       sum->tempfail, "digest",
								       "digests"),
						sum->tempfail == 1 ? "it" : "them");
			}
			break;
		}
	}
	if (run_id)
		record_run_end(st, run_id, sum, rc, err);
	pthread_cond_destroy(&e.cv_send);
	pthread_cond_destroy(&e.cv_rec);
	pthread_cond_destroy(&e.cv_done);
	pthread_cond_destroy(&e.cv_main);
	pthread_mutex_destroy(&e.mu);
	return rc;
}

char *td_envelope_sender(const struct td_deliver_options *dopt, char kind,
			 int64_t member_id, const char *to, time_t slot)
{
	if (!dopt->verp)
		return td_xstrdup(dopt->compose.from_address);
	return td_verp_address(dopt->verp, kind, member_id, to, slot);
}

int td_send_one(const struct td_deliver_options *dopt, const char *from, const char *to,
		const char *msg, size_t len, char *reply, size_t reply_size,
		struct td_err *err)
{
	struct td_transport *tr = NULL;
	struct td_send_result res;
	memset(&res, 0, sizeof res);
	int rc = td_transport_open(&dopt->transport, &tr, err);
	if (rc)
		return rc;
	td_transport_send(tr, from ? from : dopt->compose.from_address, to, msg, len,
			  &res, err);
	td_transport_close(tr);
	snprintf(reply, reply_size, "%s", res.reply);
	if (res.outcome == TD_SEND_OK)
		return 0;
	return err->code ? err->code : td_err_set(err, EX_UNAVAILABLE, "send: %s: %s", to,
						    outcome_name(res.outcome));
}
