/*
 * deliver.c: the delivery engine (see deliver.h).
 *
 * Four kinds of threads share one mutex and a few queues:
 *
 *   composers     (one per online CPU, at most MAX_COMPOSERS) each own a
 *                 composer and a read-only store connection; each takes the
 *                 next subscriber from the source (one at a time, under
 *                 src_mu), decides and composes their digest and pushes it
 *                 onto the bounded send queue;
 *   N senders     each own one transport (one SMTP session); a sender takes
 *                 a job, sends it and hands it to the recorder, then takes
 *                 the next at once. Its transport's commit gate holds that
 *                 next message just before its end of data until the
 *                 sender's earlier messages are recorded;
 *   the recorder  owns a second store connection and is the only writer:
 *                 it takes every outcome queued so far and records them in
 *                 one transaction (group commit), then wakes the senders
 *                 whose messages those were, and queues in-run retries;
 *   the caller    starts the others, watches for SIGTERM / SIGINT, puts
 *                 in-run retries back on the send queue when their time
 *                 comes, reports progress and ends the run when everything
 *                 handed out is recorded.
 *
 * Why the gate: the gap between "the server said 250" and "the delivery is
 * committed" is where a crash makes a duplicate. A server cannot accept a
 * message before the end of its data, so holding the last byte until the
 * previous message is recorded keeps that gap to one message per session
 * (a SIGKILL repeats at most `connections` messages, and never loses one)
 * while MAIL, RCPT, DATA and the body of the next one overlap the commit.
 *
 * Why one writer with its own connection: SQLite connections must not be
 * shared across threads mid-transaction, and in WAL mode the composers'
 * read snapshots never block the recorder's commits.
 *
 * Relays and throttles (relays.h): each sender has one transport per
 * relay, all opened at the start on the calling thread, and sends through
 * the one its relay is. Right before a message goes out the sender asks
 * the pool where it should be (td_relay_settle): home, or another relay
 * while home is paused; or nowhere (it parks and hands the message back
 * to the queue, for the senders whose relays are up). A send the relay
 * refused as a whole (relay_down: no connection, a drop, a 421) pauses
 * that relay and goes out again at once through the next one, not
 * counted as an attempt: nobody refused the message. Only when every
 * relay is down does it fail as with one relay. A message for a
 * throttled domain that must wait for its turn is set aside (held, at
 * most sendq_cap of them) and the sender takes the next message, so other
 * domains go on; the caller puts it back at the head of the queue when
 * its time comes. One whose domain's hourly budget is spent is dropped
 * unsent and counted (throttled): nothing recorded, the reader stays due.
 *
 * Wake-ups are targeted: each sender has its own condition variable (a
 * new job wakes one idle sender, a commit wakes the senders whose
 * messages it held), composers wait on cv_comp (signalled as the send
 * queue empties), the caller on cv_main.
 */
#include "tagdigest/deliver/deliver.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
/* Composing threads at most: past the cores a run has, more only add
 * store connections and post caches. */
#define MAX_COMPOSERS 8

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
	struct sender *owner;  /* the sender whose gate waits for its record */
	/* filled by the sender */
	struct td_send_result res;
	struct td_err terr;
	/* filled by the recorder */
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

/* Ahead of everything queued: messages that were already due, or taken
 * and handed back. */
static void q_push_front(struct queue *q, struct job *j)
{
	j->next = q->head;
	q->head = j;
	if (!q->tail)
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

/* One sender thread: its transport, and what its gate waits for. */
struct sender {
	struct engine *e;
	struct td_transport *tr; /* trs[relay]: the one it sends through */
	struct td_transport **trs;   /* one per relay (e->pool.n) */
	int home;                /* its relay while that one is up */
	int relay;               /* the relay it is on; -1: parked */
	struct td_store *rst;    /* the roster, read: NULL unless e->roster */
	pthread_t thread;
	pthread_cond_t cv;       /* a job, its records, a stop: under e->mu */
	size_t unrecorded;       /* its jobs handed to the recorder, not yet
				  * recorded */
	bool idle;               /* on e->idle, waiting for a job */
	bool last_failed;        /* its last message was not accepted */
	struct sender *next_idle;
};

/* One composing thread: what td_compose and prepare_one read with. */
struct composer {
	struct engine *e;
	struct td_composer *c;
	struct td_store *st;     /* read only: this thread's (the caller's
				  * for a dry run) */
	struct td_zones *zones;  /* readers' zones */
	bool own_st;             /* st is this thread's alone */
	pthread_t thread;
};

struct engine {
	const struct td_deliver_options *dopt;  /* the caller's, for the run */
	bool dry_run;                  /* compose and count; no thread, no write */
	td_plan_fn plan;               /* dry run: each reader's outcome, or NULL */
	void *plan_arg;
	struct td_store *st;           /* the caller's: the source's (roster) */
	struct td_store *wst;          /* the recorder's */
	bool roster;                   /* ask td_roster_may_send before each send */
	struct td_send_summary *sum;   /* counters: under mu */
	time_t now;                    /* the run's clock at t0 */
	double t0;

	pthread_mutex_t src_mu;        /* the source and rd: one reader at a
					* time; taken before mu, never inside */
	struct reading *rd;

	pthread_mutex_t mu;
	pthread_cond_t cv_comp;        /* composers: room, a stop, the end */
	pthread_cond_t cv_rec;         /* recorder: outcomes or shutdown */
	pthread_cond_t cv_main;        /* caller: something changed */

	struct queue sendq;            /* composed, waiting for a sender */
	struct queue recq;             /* outcomes waiting for the recorder */
	struct queue retries;          /* waiting for their retry_at (unsorted) */
	size_t sendq_cap;
	size_t busy;                   /* jobs held by senders */
	size_t unrecorded;             /* pushed to recq, not yet recorded */
	bool senders_quit;
	bool recorder_quit;
	bool held_abandon;             /* a record failed: gates say no */

	struct composer *comp;         /* a real run's composing threads */
	size_t ncomp;                  /* made (their composers and stores) */
	size_t ncthreads;              /* started */
	size_t walkers;                /* composing threads still running */
	size_t composing;              /* subscribers being prepared now */
	bool walk_halt;                /* composers: stop taking subscribers */
	int walk_rc;                   /* the first composer's error, or 0 */
	struct td_err walk_err;
	bool want_senders;             /* a message waits and no sender runs */
	struct sender *idle;           /* senders waiting for a job */

	bool probing;                  /* first message not yet answered */
	size_t sends_queued;
	enum stop_reason stop;
	struct td_err stop_err;
	int consecutive_temp;
	char last_temp[sizeof ((struct td_err *)0)->msg];

	double rate_interval;          /* seconds between message starts, 0 */
	double next_start;

	/* relays.h: under mu */
	struct td_relay_pool pool;
	struct td_transport_options *relay_topt;   /* each relay's transport */
	const char **relay_name;
	struct td_throttles throttles;
	struct queue held;             /* throttled, until retry_at (unsorted) */

	struct sender *senders;        /* sessions() of them, once started */
	size_t nsenders;               /* transports opened */
	size_t nthreads;               /* sender threads started */
	pthread_t recorder;
	bool recorder_started;
};

/* The run's wall clock: `now` as given, advanced by the time elapsed, so
 * a caller's fixed `now` (tests) and stored schedules agree. */
static time_t run_clock(const struct engine *e)
{
	return e->now + (time_t)(td_mono_now() - e->t0);
}

/* Every sender: a stop, the end of the run, or a failed record their gate
 * must see. Called with the lock held. */
static void wake_senders(struct engine *e)
{
	for (size_t i = 0; i < e->nthreads; i++)
		pthread_cond_signal(&e->senders[i].cv);
}

/* Called with the lock held: everyone who waits checks the stop. */
static void set_stop(struct engine *e, enum stop_reason why)
{
	if (e->stop != STOP_NONE)
		return;
	e->stop = why;
	pthread_cond_broadcast(&e->cv_comp);
	pthread_cond_broadcast(&e->cv_main);
	wake_senders(e);
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
		/* Its sender's next message must not be accepted now: a crash
		 * would repeat two. */
		e->held_abandon = true;
		wake_senders(e);
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
		bool was_probing = e->probing, main_wake = false;
		for (size_t i = 0; i < n; i++) {
			struct job *j = v[i];
			account(e, j, bounces[i]);
			e->unrecorded--;
			struct sender *owner = j->owner;
			if (owner && --owner->unrecorded == 0)
				pthread_cond_signal(&owner->cv);   /* its gate */
			if (j->kind == J_SEND && j->retry && e->stop == STOP_NONE) {
				j->retry_at = td_mono_now() + run_retry_delay(j->tries);
				j->owner = NULL;
				q_push(&e->retries, j);
				main_wake = true;
			} else {
				job_free(j);
			}
		}
		if (was_probing && !e->probing)
			pthread_cond_broadcast(&e->cv_comp);   /* compose ahead now */
		/* the caller: a retry to schedule, or the run may be over */
		if (main_wake || (!e->unrecorded && !e->walkers))
			pthread_cond_signal(&e->cv_main);
	}
	pthread_mutex_unlock(&e->mu);
	free(v);
	free(bounces);
	return NULL;
}

/* Waits for this sender's turn under the rate limit. Returns false when
 * the run stopped meanwhile. Called with the lock held. */
static bool rate_wait(struct engine *e, struct sender *sa)
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
		pthread_cond_timedwait(&sa->cv, &e->mu, &ts);
	}
	return e->stop == STOP_NONE;
}

/* A job a sender took but will not send. Called with the lock held. */
static void drop_unsent(struct engine *e, struct job *j)
{
	e->busy--;
	/* The first message was to be sent alone; the next one takes its
	 * place, or the caller would wait for an answer that never comes. */
	if (e->probing && e->sends_queued) {
		e->sends_queued--;
		pthread_cond_signal(&e->cv_comp);
	}
	job_free(j);
	pthread_cond_signal(&e->cv_main);
}

/* Whether the reader still wants this message: asked on the sender's own
 * connection at the last moment, because the public server records an
 * unsubscribe at once, whatever runs, and a reader who clicked while
 * their digest waited in the queue must get nothing after the click.
 * Not allowed: counted as unsubscribed, nothing recorded (no delivery, no
 * watermark move; a stored retry stays as it was). Called without the
 * lock; returns false when the job was dropped. */
static bool still_wanted(struct engine *e, struct sender *sa, struct job *j)
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
		e->held_abandon = true;
		wake_senders(e);
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

/* The commit gate (transport.h) of a sender's transport: this message may
 * be accepted once every earlier message of the sender is recorded, so a
 * crash repeats at most one per session. No when a record failed (the
 * earlier one may be lost to the store: a second would double the bound);
 * the message is then abandoned undelivered and its reader stays due. */
static bool gate_pass(void *arg)
{
	struct sender *sa = arg;
	struct engine *e = sa->e;
	pthread_mutex_lock(&e->mu);
	while (sa->unrecorded && !e->held_abandon)
		pthread_cond_wait(&sa->cv, &e->mu);
	bool ok = !e->held_abandon;
	pthread_mutex_unlock(&e->mu);
	return ok;
}

/* Takes the next job, waiting on the idle list; NULL once the senders
 * quit. Called with the lock held. */
static struct job *take_job(struct engine *e, struct sender *sa)
{
	while (!e->sendq.n && !e->senders_quit) {
		if (!sa->idle) {
			sa->idle = true;
			sa->next_idle = e->idle;
			e->idle = sa;
		}
		pthread_cond_wait(&sa->cv, &e->mu);
	}
	if (sa->idle) {
		/* woken by something else than a job meant for it: off the list,
		 * or a job would wake it while another sender sleeps */
		for (struct sender **pp = &e->idle; *pp; pp = &(*pp)->next_idle)
			if (*pp == sa) {
				*pp = sa->next_idle;
				break;
			}
		sa->idle = false;
	}
	return q_pop(&e->sendq);
}

/* A job is on the send queue: one idle sender wakes for it. Called with
 * the lock held. */
static void wake_a_sender(struct engine *e)
{
	struct sender *sa = e->idle;
	if (!sa)
		return;   /* all busy: the next one free finds it queued */
	e->idle = sa->next_idle;
	sa->idle = false;
	pthread_cond_signal(&sa->cv);
}

static void abs_deadline(struct timespec *ts, double seconds);

/* Waits until `until` (monotonic seconds) on the sender's condition, in
 * slices, or until the run stops. Called with the lock held. */
static void sender_sleep(struct engine *e, struct sender *sa, double until)
{
	double now;
	while (e->stop == STOP_NONE && !e->senders_quit && (now = td_mono_now()) < until) {
		struct timespec ts;
		abs_deadline(&ts, until - now > 0.1 ? 0.1 : until - now);
		pthread_cond_timedwait(&sa->cv, &e->mu, &ts);
	}
}

/* A message held back because its domain's hourly budget is spent: said
 * once per domain, counted (the reader stays due for the next run).
 * Called with the lock held. */
static void note_spent(struct engine *e, const struct td_throttle *th, const char *email)
{
	if (th->spent == 1)
		td_log_info("send: the hour's budget of [throttle.%s] "
			    "per_hour is spent: its other readers wait "
			    "for the next run", th->domain);
	td_log_debug("send: %s: not sent: [throttle.%s] per_hour", email, th->domain);
	e->sum->throttled++;
	e->sum->done++;
}

/* Whether j's domain lets it go now ([throttle.DOMAIN]). False: j is no
 * longer the sender's: set aside until its turn (the sender goes on with
 * other mail), or, with the aside list full, waited for here; dropped
 * unsent when the domain's hourly budget is spent (counted: the reader
 * stays due) or the run stopped. Called with the lock held. */
static bool throttle_pass(struct engine *e, struct sender *sa, struct job *j)
{
	struct td_throttle *th = td_throttle_for(&e->throttles, j->email);
	while (th) {
		double at = 0;
		switch (td_throttle_take(th, td_mono_now(), &at)) {
		case TD_THROTTLE_GO:
			return true;
		case TD_THROTTLE_SPENT:
			note_spent(e, th, j->email);
			drop_unsent(e, j);
			return false;
		case TD_THROTTLE_WAIT:
			if (e->held.n < e->sendq_cap) {
				e->busy--;
				j->retry_at = at;
				q_push(&e->held, j);
				pthread_cond_signal(&e->cv_main);
				return false;
			}
			/* Many wait already: memory stays bounded, and this
			 * session waits with its message. */
			sender_sleep(e, sa, at);
			if (e->stop != STOP_NONE || e->senders_quit) {
				drop_unsent(e, j);
				return false;
			}
			break;
		}
	}
	return true;
}

/* A dry run's throttle_pass (`send --dry-run`): whether a message to
 * email would go out, its domain's hourly budget charged as the send
 * charges it; one the budget holds back is counted as the send counts
 * it. A turn per_second only delays is taken at once, the domain's clock
 * moved on to it: the send waits for it, then sends. A plan (the desk's
 * week) has no outcome for a held-back reader, so there every one goes. */
static bool dry_throttle_pass(struct engine *e, const char *email)
{
	if (e->plan)
		return true;
	pthread_mutex_lock(&e->mu);
	struct td_throttle *th = td_throttle_for(&e->throttles, email);
	enum td_throttle_verdict v = TD_THROTTLE_GO;
	double now = td_mono_now(), at = now;
	while (th && (v = td_throttle_take(th, now, &at)) == TD_THROTTLE_WAIT)
		now = at;
	if (v == TD_THROTTLE_SPENT)
		note_spent(e, th, email);
	pthread_mutex_unlock(&e->mu);
	return v != TD_THROTTLE_SPENT;
}

/* Puts the sender on the relay it should send through now
 * (td_relay_settle), or parks it (relay -1). Returns the transport it
 * left, to be hung up outside the lock, or NULL. Called with the lock
 * held. */
static struct td_transport *settle(struct engine *e, struct sender *sa)
{
	int was = sa->relay;
	if (e->pool.n < 2)
		return NULL;
	sa->relay = td_relay_settle(&e->pool, sa->home, was, td_mono_now());
	if (sa->relay == was)
		return NULL;
	if (sa->relay >= 0) {
		sa->tr = sa->trs[sa->relay];
		td_log_debug("send: a session moves to relay %s",
			     e->relay_name[sa->relay]);
	}
	return was >= 0 ? sa->trs[was] : NULL;
}

/* A parked sender waits for a relay with room (a pause ends, a session
 * moves). False once the senders quit. Called with the lock held. */
static bool park(struct engine *e, struct sender *sa)
{
	while (!e->senders_quit) {
		settle(e, sa);   /* from no relay: nothing to hang up */
		if (sa->relay >= 0)
			return true;
		double now = td_mono_now(), next = td_relay_next_up(&e->pool, now);
		/* a session leaving a relay frees room without a pause ending:
		 * look again within a second */
		struct timespec ts;
		abs_deadline(&ts, next > now && next - now < 1 ? next - now : 1);
		pthread_cond_timedwait(&sa->cv, &e->mu, &ts);
	}
	return false;
}

/* A taken job goes back to the head of the queue, unsent and not counted
 * as an attempt, for a sender whose relay is up. Called with the lock
 * held. */
static void give_back(struct engine *e, struct job *j)
{
	e->busy--;
	j->tries--;
	q_push_front(&e->sendq, j);
	wake_a_sender(e);
}

/* The relay refused the connection or the session as a whole: paused
 * (said once per pause), and the sender settles elsewhere. Returns the
 * transport it left (see settle). Called with the lock held. */
static struct td_transport *relay_failed(struct engine *e, struct sender *sa,
					 const struct job *j)
{
	if (td_relay_down(&e->pool, (size_t)sa->relay, td_mono_now()))
		td_log_warnx("send: relay %s: %s; paused for %.0f s, the other "
			     "relays take its messages", e->relay_name[sa->relay],
			     j->terr.msg, e->pool.pause);
	return settle(e, sa);
}

/* Sends j through the sender's relay; when that relay is down as a whole,
 * through the next one up (each failover pauses one relay, so at most
 * one per relay). Returns false when j went back to the queue (every
 * relay that is up is full: the sender parked). Called without the
 * lock. */
static bool send_through_relays(struct engine *e, struct sender *sa, struct job *j,
				const char *from)
{
	for (size_t hop = 0;; hop++) {
		td_transport_send(sa->tr, from, j->email, j->msg, j->len, &j->res,
				  &j->terr);
		if (e->pool.n < 2 || j->res.outcome != TD_SEND_TEMPFAIL ||
		    !j->res.relay_down || hop >= e->pool.n)
			return true;
		pthread_mutex_lock(&e->mu);
		if (e->stop != STOP_NONE || e->held_abandon) {
			pthread_mutex_unlock(&e->mu);
			return true;
		}
		struct td_transport *old = relay_failed(e, sa, j);
		bool parked = sa->relay < 0;
		bool moved = !parked && td_relay_up(&e->pool, (size_t)sa->relay,
						      td_mono_now());
		if (parked)
			give_back(e, j);
		pthread_mutex_unlock(&e->mu);
		td_transport_hangup(old);
		if (parked)
			return false;
		if (!moved)
			return true;   /* every relay is down: as with one */
		j->terr.code = 0;
		j->terr.msg[0] = '\0';
	}
}

static void *sender_main(void *arg)
{
	struct sender *sa = arg;
	struct engine *e = sa->e;

	pthread_mutex_lock(&e->mu);
	for (;;) {
		if (sa->relay < 0 && !park(e, sa))
			break;
		struct job *j = take_job(e, sa);
		if (!j)
			break;
		e->busy++;
		/* Room in the queue: the composers wake when it is half empty,
		 * all at once, and fill it again, rather than one per message. */
		if (2 * (e->sendq.n + e->composing) <= e->sendq_cap)
			pthread_cond_broadcast(&e->cv_comp);
		/* After a failure the next message waits for its record: the
		 * run may stop on it (transport.max_consecutive_tempfails, a
		 * fatal error), and a broken relay is not hammered meanwhile. */
		while (sa->last_failed && sa->unrecorded && !e->held_abandon)
			pthread_cond_wait(&sa->cv, &e->mu);
		if (e->stop != STOP_NONE) {
			/* Stopped before it was sent: the subscriber stays due. */
			drop_unsent(e, j);
			continue;
		}
		if (!throttle_pass(e, sa, j))
			continue;
		if (!rate_wait(e, sa)) {
			drop_unsent(e, j);
			continue;
		}
		struct td_transport *old = settle(e, sa);
		if (sa->relay < 0) {
			j->tries++;   /* give_back takes it off again */
			give_back(e, j);
			pthread_mutex_unlock(&e->mu);
			td_transport_hangup(old);
			pthread_mutex_lock(&e->mu);
			continue;
		}
		pthread_mutex_unlock(&e->mu);
		td_transport_hangup(old);

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
		bool kept = send_through_relays(e, sa, j, from);
		free(from);

		pthread_mutex_lock(&e->mu);
		if (!kept)
			continue;   /* back on the queue: this sender parked */
		if (e->held_abandon && j->res.outcome != TD_SEND_OK) {
			/* Its gate said no (or it failed while the run stops
			 * on the store): not sent, nothing to record. */
			drop_unsent(e, j);
			continue;
		}
		/* The recorder owns it now; this sender's next message waits at
		 * its gate until it is recorded. */
		e->busy--;
		j->owner = sa;
		sa->last_failed = j->res.outcome != TD_SEND_OK;
		sa->unrecorded++;
		q_push(&e->recq, j);
		e->unrecorded++;
		pthread_cond_signal(&e->cv_rec);
	}
	pthread_mutex_unlock(&e->mu);
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
	size_t n = (size_t)dopt->connections;
	if (dopt->nrelays) {
		/* never more than the relays take at once */
		size_t room = 0;
		for (size_t i = 0; i < dopt->nrelays; i++)
			room += dopt->relays[i].connections > 0 ?
				(size_t)dopt->relays[i].connections : 1;
		if (n > room)
			n = room;
	}
	return n;
}

/* The pool (one relay, `transport`, without [relay.NAME] sections), each
 * relay's transport options, and the throttles. */
static void relays_init(struct engine *e)
{
	const struct td_deliver_options *d = e->dopt;
	size_t n = d->nrelays ? d->nrelays : 1;
	int *caps = td_xcalloc(n, sizeof *caps), *weights = td_xcalloc(n, sizeof *weights);
	e->relay_topt = td_xcalloc(n, sizeof *e->relay_topt);
	e->relay_name = td_xcalloc(n, sizeof *e->relay_name);
	for (size_t i = 0; i < n; i++) {
		e->relay_topt[i] = d->transport;
		caps[i] = (int)sessions(d);
		weights[i] = 1;
		e->relay_name[i] = "transport";
		if (!d->nrelays)
			continue;
		const struct td_relay_config *r = &d->relays[i];
		e->relay_topt[i] = td_relay_transport(&d->transport, r);
		caps[i] = r->connections;
		weights[i] = r->weight;
		e->relay_name[i] = r->name;
	}
	td_relay_pool_init(&e->pool, n, caps, weights,
			   d->relay_pause > 0 ? d->relay_pause : 60);
	free(caps);
	free(weights);
	td_throttles_init(&e->throttles, d->throttles, d->nthrottles, td_mono_now());
}

static void relays_free(struct engine *e)
{
	td_relay_pool_free(&e->pool);
	td_throttles_free(&e->throttles);
	free(e->relay_topt);
	free(e->relay_name);
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
	struct sender *v = td_xcalloc(n, sizeof *v);
	pthread_mutex_lock(&e->mu);
	e->senders = v;
	pthread_mutex_unlock(&e->mu);
	for (size_t i = 0; i < n; i++) {
		v[i].e = e;
		v[i].trs = td_xcalloc(e->pool.n, sizeof *v[i].trs);
		pthread_cond_init(&v[i].cv, NULL);
		e->nsenders++;
		int rc = 0;
		/* one per relay, opened here (no connection yet): a session
		 * that moves switches transports on its own thread */
		for (size_t r = 0; !rc && r < e->pool.n; r++) {
			rc = td_transport_open(&e->relay_topt[r], &v[i].trs[r], err);
			if (!rc)
				td_transport_set_gate(v[i].trs[r], gate_pass, &v[i]);
		}
		/* its own: a connection is one thread's at a time */
		if (!rc && e->roster)
			rc = td_store_open(td_store_path(e->st), TD_STORE_READONLY,
					   &v[i].rst, err);
		if (rc)
			return rc;
		/* home: spread by weight within the relays' caps */
		pthread_mutex_lock(&e->mu);
		int home = td_relay_pick(&e->pool, td_mono_now());
		v[i].home = home >= 0 ? home : 0;
		v[i].relay = td_relay_settle(&e->pool, v[i].home, -1, td_mono_now());
		if (v[i].relay < 0)
			v[i].relay = v[i].home;   /* a pool of one, all down: there */
		v[i].tr = v[i].trs[v[i].relay];
		pthread_mutex_unlock(&e->mu);
	}
	for (size_t i = 0; i < n; i++) {
		/* under the lock: wake_senders reads nthreads */
		pthread_mutex_lock(&e->mu);
		int prc = start_thread(&v[i].thread, sender_main, &v[i]);
		if (!prc)
			e->nthreads++;
		pthread_mutex_unlock(&e->mu);
		if (prc)
			return td_err_set(err, EX_OSERR, "send: cannot start a sender "
					  "thread: %s", strerror(prc));
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
	if (j->kind == J_SEND && e->stop != STOP_NONE) {
		job_free(j);   /* not sent: the subscriber stays due */
	} else if (j->kind == J_SEND) {
		q_push(&e->sendq, j);
		e->sends_queued++;
		if (e->nthreads) {
			wake_a_sender(e);
		} else if (!e->want_senders) {
			/* the caller opens the transports (see engine_run) */
			e->want_senders = true;
			pthread_cond_signal(&e->cv_main);
		}
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
static int prepare_retry(struct engine *e, struct td_store *st,
			 const struct td_subscriber *sub,
			 const struct td_subscriber_state *state, time_t S,
			 bool fresh_due, bool *settled, struct td_err *err)
{
	struct td_pending r;
	bool found;
	*settled = false;
	int rc = td_store_pending_retry(st, sub->email, &r, &found, err);
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
	} else if (e->dry_run && !dry_throttle_pass(e, sub->email)) {
		*settled = true;   /* held back, as the send would */
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
 * One subscriber, on a composing thread: not due, a stored digest to
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
static int prepare_due(struct composer *cs, const struct td_subscriber *sub,
		       const struct td_reader_view *view, time_t *slot, bool *compose,
		       struct td_err *err)
{
	struct engine *e = cs->e;
	struct td_schedule rs = td_schedule_for(&e->dopt->compose.schedule, &sub->prefs,
						cs->zones);
	const struct td_subscriber_state *state = &view->state;
	int rc;
	struct td_due due = td_schedule_due(&rs, &sub->prefs, sub->not_before,
					    state->last_slot, e->now);
	time_t S = due.slot;
	bool fresh_due = due.now;
	bool settled = false;
	/* without a pending row (most readers) there is no retry and no
	 * closed slot to look for */
	if (view->pending &&
	    ((rc = prepare_retry(e, cs->st, sub, state, S, fresh_due, &settled, err)) ||
	     settled))
		return rc;
	if (fresh_due && view->pending) {
		struct td_pending p;
		bool closed;
		if ((rc = td_store_pending_get(cs->st, sub->email, S, &p, &closed, err))) {
			td_store_pending_free(&p);
			return rc;
		}
		/* refused or given up earlier in this slot */
		fresh_due = !closed || strcmp(p.state, "retry") == 0;
		td_store_pending_free(&p);
	}
	if (!fresh_due) {
		/* of the not due, those still waiting for their first digest
		 * after a clean start: the summary must not say they have one */
		if (state->started_last) {
			pthread_mutex_lock(&e->mu);
			e->sum->started_clean++;
			pthread_mutex_unlock(&e->mu);
		}
		count(e, &e->sum->not_due);
		/* closed in this slot: due again as if it were served */
		plan(e, sub, TD_PLAN_NOT_DUE, S, due.now ? td_schedule_due(&rs, &sub->prefs,
			sub->not_before, S, e->now).next : due.next, NULL, 0);
		return 0;
	}
	*slot = S;
	*compose = true;
	return 0;
}

/* The reader's fresh digest for their slot S, composed and handed on. */
static int prepare_digest(struct composer *cs, const struct td_subscriber *sub,
			  const struct td_reader_view *view, time_t S, struct td_err *err)
{
	struct engine *e = cs->e;
	int rc;
	struct job *j = td_xcalloc(1, sizeof *j);
	j->email = td_xstrdup(sub->email);
	j->member_id = sub->member_id;
	j->kind = J_SEND;
	j->slot = S;
	struct td_composed m;
	rc = td_compose_view(cs->c, sub, view, e->now, &m, err);
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
	} else if (e->dry_run && !dry_throttle_pass(e, sub->email)) {
		job_free(j);   /* held back, as the send would */
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

/* The reader's view (store.h), in a snapshot that also serves their
 * pending rows. The view is one statement, a consistent snapshot by
 * itself: for a reader without a pending row (most of them) it is all
 * the per-reader reading there is (the posts and tag names come from the
 * composer's cache), so no transaction is opened for them, which on
 * PostgreSQL saves two round trips a reader. A reader with a pending row
 * is read again inside a read transaction (*txn), so their state, stored
 * retry and closed slot are one snapshot; it also takes SQLite's WAL
 * locks once rather than once per query. Not on the caller's connection
 * (a dry run), which the source may be reading: the transaction's
 * rollback would end the source's statement. */
static int read_view(struct composer *cs, const struct td_subscriber *sub,
		     struct td_reader_view *view, bool *txn, struct td_err *err)
{
	*txn = false;
	int rc = td_store_reader_view(cs->st, sub->email, view, err);
	if (rc || !view->pending || !cs->own_st)
		return rc;
	td_reader_view_free(view);
	if ((rc = td_store_begin_read(cs->st, err)))
		return rc;
	*txn = true;
	if ((rc = td_store_reader_view(cs->st, sub->email, view, err))) {
		td_store_rollback(cs->st);
		*txn = false;
	}
	return rc;
}

static int prepare_one(struct composer *cs, const struct td_subscriber *sub,
		       struct td_err *err)
{
	time_t S = 0;
	bool compose = false, txn;
	struct td_reader_view view;
	int rc = read_view(cs, sub, &view, &txn, err);
	if (rc)
		return rc;
	rc = prepare_due(cs, sub, &view, &S, &compose, err);
	if (!rc && compose)
		rc = prepare_digest(cs, sub, &view, S, err);
	td_reader_view_free(&view);
	if (txn)
		td_store_rollback(cs->st);
	return rc;
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

/* Whether a composer may take the next subscriber: the messages queued
 * and being composed stay within sendq_cap, and the first message goes
 * out alone (nothing more is composed until it is answered). Called with
 * the lock held. */
static bool room_to_compose(const struct engine *e)
{
	if (e->sendq.n + e->composing >= e->sendq_cap)
		return false;
	return !(e->probing && (e->sends_queued > 0 || e->composing > 0));
}

static bool walk_over(const struct engine *e)
{
	return e->stop != STOP_NONE || e->walk_halt;
}

/* A composing thread: the next subscriber (copied, so the source may
 * move on for the others), prepared on this thread's composer and store
 * connection, until the source ends, the run stops or a store error. */
static void *composer_main(void *arg)
{
	struct composer *cs = arg;
	struct engine *e = cs->e;
	struct td_err err = { 0, "" };

	pthread_mutex_lock(&e->mu);
	for (;;) {
		while (!walk_over(e) && !room_to_compose(e))
			pthread_cond_wait(&e->cv_comp, &e->mu);
		if (walk_over(e))
			break;
		e->composing++;
		pthread_mutex_unlock(&e->mu);

		const struct td_subscriber *row;
		struct td_subscriber sub;
		pthread_mutex_lock(&e->src_mu);
		int got = e->rd->ended ? 0 : read_next(e->rd, &e->mu, e->sum, &row, &err);
		if (got == 1)
			td_subscriber_copy(&sub, row);
		pthread_mutex_unlock(&e->src_mu);
		int rc = got == 1 ? 0 : got;
		if (got == 1) {
			rc = prepare_one(cs, &sub, &err);
			td_subscriber_clear(&sub);
		}

		pthread_mutex_lock(&e->mu);
		e->composing--;
		if (rc && !e->walk_rc) {
			e->walk_rc = rc;
			e->walk_err = err;
			pthread_cond_signal(&e->cv_main);
		}
		if (got != 1 || rc) {
			e->walk_halt = true;   /* the end, or an error: all stop */
			pthread_cond_broadcast(&e->cv_comp);
		}
	}
	if (--e->walkers == 0)
		pthread_cond_signal(&e->cv_main);
	pthread_mutex_unlock(&e->mu);
	return NULL;
}

/* How many compose: every online CPU, as composing is most of a run's
 * work, up to MAX_COMPOSERS. */
static size_t composer_count(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	if (n < 1)
		return 1;
	return n > MAX_COMPOSERS ? MAX_COMPOSERS : (size_t)n;
}

/* Each composing thread with its own composer and read connection (a
 * connection and a composer are one thread's at a time), made here on
 * the caller's thread so a bad template or key fails before any send. */
static int start_composers(struct engine *e, struct td_err *err)
{
	size_t n = composer_count();
	e->comp = td_xcalloc(n, sizeof *e->comp);
	for (size_t i = 0; i < n; i++) {
		struct composer *cs = &e->comp[i];
		cs->e = e;
		cs->zones = td_zones_new();
		cs->own_st = true;
		e->ncomp++;
		int rc = td_store_open(td_store_path(e->st), TD_STORE_READONLY, &cs->st, err);
		if (!rc)
			rc = td_composer_new(&e->dopt->compose, cs->st, &cs->c, err);
		if (rc)
			return rc;
		/* the run lock keeps ingest out while we send: posts cannot change */
		td_composer_hold_posts(cs->c);
	}
	/* the queue holds at most 2 messages per session beyond those being
	 * composed */
	pthread_mutex_lock(&e->mu);
	e->sendq_cap = 2 * sessions(e->dopt) + n;
	int prc = 0;
	for (size_t i = 0; !prc && i < n; i++) {
		prc = start_thread(&e->comp[i].thread, composer_main, &e->comp[i]);
		if (!prc) {
			e->ncthreads++;
			e->walkers++;
		}
	}
	pthread_mutex_unlock(&e->mu);
	if (prc)
		return td_err_set(err, EX_OSERR, "send: cannot start a composing "
				  "thread: %s", strerror(prc));
	return 0;
}

/* A dry run: the same walk and the same decisions, on the calling thread
 * (its plan and log lines come in walk order), counting instead of
 * sending. */
static int dry_walk(struct engine *e, struct composer *cs,
		    const struct td_send_options *opt, struct td_err *err)
{
	size_t last_done = (size_t)-1;
	for (;;) {
		const struct td_subscriber *sub;
		int rc = read_next(e->rd, &e->mu, e->sum, &sub, err);
		if (rc == 0)
			return 0;
		if (rc != 1 || (rc = prepare_one(cs, sub, err)))
			return rc;
		report_progress(e, opt, &last_done, false);
	}
}

/* A dry run without a plan composes on every core, as the real run
 * does: the caller waits for the composing threads, reporting progress.
 * Its "would send" lines come in the order digests are finished. */
static int dry_wait(struct engine *e, const struct td_send_options *opt,
		    struct td_err *err)
{
	size_t last_done = (size_t)-1;
	int rc = 0;
	pthread_mutex_lock(&e->mu);
	while (e->walkers && !e->walk_rc) {
		struct timespec ts;
		abs_deadline(&ts, 0.05);
		pthread_cond_timedwait(&e->cv_main, &e->mu, &ts);
		pthread_mutex_unlock(&e->mu);
		report_progress(e, opt, &last_done, false);
		pthread_mutex_lock(&e->mu);
	}
	if (e->walk_rc) {
		rc = e->walk_rc;
		*err = e->walk_err;
	}
	pthread_mutex_unlock(&e->mu);
	return rc;
}

/* Moves the jobs of q whose retry_at has come onto the send queue (front:
 * to its head, past the queue's cap), waking a sender for each. Returns
 * wake lowered to the earliest retry_at still waiting. Called with the
 * lock held. */
static double release_due(struct engine *e, struct queue *q, double now, double wake,
			  bool front)
{
	for (struct job **pp = &q->head; *pp;) {
		struct job *j = *pp;
		if (j->retry_at <= now && (front || e->sendq.n < e->sendq_cap)) {
			*pp = j->next;
			if (q->tail == j) {
				q->tail = NULL;
				for (struct job *k = q->head; k; k = k->next)
					q->tail = k;
			}
			q->n--;
			j->retry = false;
			if (front)
				q_push_front(&e->sendq, j);
			else
				q_push(&e->sendq, j);
			wake_a_sender(e);
			continue;
		}
		if (j->retry_at < wake)
			wake = j->retry_at;
		pp = &(*pp)->next;
	}
	return wake;
}

/* The caller's loop in a real run: open the transports when the first
 * message is ready, move due retries back to the send queue, watch for a
 * stop, report progress, and end when the walk is over and everything
 * handed out is recorded. */
static int engine_run(struct engine *e, const struct td_send_options *opt,
		      struct td_err *err)
{
	size_t last_done = (size_t)-1;
	int rc = 0;

	pthread_mutex_lock(&e->mu);
	for (;;) {
		if (stop_signal && e->stop == STOP_NONE) {
			e->sum->stopped_by_signal = stop_signal;
			set_stop(e, STOP_SIGNAL);
		}
		if (e->stop != STOP_NONE) {
			/* Not sent yet: they stay due (and a stored retry stays
			 * in the pending table). */
			q_free(&e->sendq);
			q_free(&e->retries);
			q_free(&e->held);
		}
		if (e->walk_rc) {
			rc = e->walk_rc;
			*err = e->walk_err;
			break;
		}
		/* Transports open when the first message is ready: a run with
		 * nothing to send needs no relay. Here, on the calling thread:
		 * libcurl's global init is not thread-safe. */
		if (e->want_senders && !e->nthreads && e->stop == STOP_NONE) {
			pthread_mutex_unlock(&e->mu);
			rc = start_senders(e, err);
			pthread_mutex_lock(&e->mu);
			if (rc)
				break;
			continue;
		}
		/* Due retries go first, ahead of fresh digests; throttled
		 * messages whose turn came ahead of those (composed already,
		 * they take no room). */
		double now = td_mono_now(), wake = now + 0.05;
		wake = release_due(e, &e->retries, now, wake, false);
		wake = release_due(e, &e->held, now, wake, true);
		if (!e->walkers && !e->sendq.n && !e->busy && !e->unrecorded &&
		    !e->retries.n && !e->held.n)
			break;
		struct timespec ts;
		abs_deadline(&ts, wake > now ? wake - now : 0.001);
		pthread_cond_timedwait(&e->cv_main, &e->mu, &ts);
		pthread_mutex_unlock(&e->mu);
		report_progress(e, opt, &last_done, false);
		pthread_mutex_lock(&e->mu);
	}
	pthread_mutex_unlock(&e->mu);
	return rc;
}

static void engine_shutdown(struct engine *e)
{
	pthread_mutex_lock(&e->mu);
	e->walk_halt = true;
	pthread_cond_broadcast(&e->cv_comp);
	pthread_mutex_unlock(&e->mu);
	for (size_t i = 0; i < e->ncthreads; i++)
		pthread_join(e->comp[i].thread, NULL);

	pthread_mutex_lock(&e->mu);
	if (e->stop == STOP_NONE && (e->sendq.n || e->retries.n || e->held.n))
		set_stop(e, STOP_STORE);   /* an error path: drop what is unsent */
	q_free(&e->sendq);
	q_free(&e->retries);
	q_free(&e->held);
	e->senders_quit = true;
	wake_senders(e);
	pthread_mutex_unlock(&e->mu);
	for (size_t i = 0; i < e->nthreads; i++)
		pthread_join(e->senders[i].thread, NULL);
	if (e->recorder_started) {
		pthread_mutex_lock(&e->mu);
		e->recorder_quit = true;
		pthread_cond_signal(&e->cv_rec);
		pthread_mutex_unlock(&e->mu);
		pthread_join(e->recorder, NULL);
	}
	/* Senders that quit on a stop may have left retries behind. */
	q_free(&e->retries);
	for (size_t i = 0; i < e->nsenders; i++) {
		for (size_t r = 0; r < e->pool.n; r++)
			td_transport_close(e->senders[i].trs[r]);
		free(e->senders[i].trs);
		td_store_close(e->senders[i].rst);
		pthread_cond_destroy(&e->senders[i].cv);
	}
	free(e->senders);
	for (size_t i = 0; i < e->ncomp; i++) {
		td_composer_free(e->comp[i].c);
		td_store_close(e->comp[i].st);
		td_zones_free(e->comp[i].zones);
	}
	free(e->comp);
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

	/* A dry run's composer; a real run makes one per composing thread,
	 * but this one fails first on a bad template or key, and creates a
	 * missing token secret before those threads read it. */
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
	e.roster = src->from_roster;
	e.rd = &rd;
	pthread_mutex_init(&e.src_mu, NULL);
	pthread_mutex_init(&e.mu, NULL);
	pthread_cond_init(&e.cv_comp, NULL);
	pthread_cond_init(&e.cv_rec, NULL);
	pthread_cond_init(&e.cv_main, NULL);
	e.probing = !e.dry_run;
	struct composer dry = { .e = &e, .c = c, .st = st, .zones = td_zones_new() };
	relays_init(&e);
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
	/* A dry run writes nothing. With a plan (the desk), or one CPU, it
	 * walks on the calling thread: the plan's items come in walk order. */
	if (e.dry_run && (e.plan || composer_count() == 1)) {
		rc = dry_walk(&e, &dry, opt, err);
	} else if (e.dry_run) {
		rc = start_composers(&e, err);
		if (!rc)
			rc = dry_wait(&e, opt, err);
	} else {
		rc = start_recorder(&e, err);
		if (!rc)
			rc = start_composers(&e, err);
		if (!rc)
			rc = engine_run(&e, opt, err);
	}
	engine_shutdown(&e);

	if (!e.dry_run) {
		sigaction(SIGTERM, &old_term, NULL);
		sigaction(SIGINT, &old_int, NULL);
	}
	td_composer_free(c);
	td_zones_free(dry.zones);
	relays_free(&e);

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
	pthread_cond_destroy(&e.cv_comp);
	pthread_cond_destroy(&e.cv_rec);
	pthread_cond_destroy(&e.cv_main);
	pthread_mutex_destroy(&e.mu);
	pthread_mutex_destroy(&e.src_mu);
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
	struct td_send_result res;
	memset(&res, 0, sizeof res);
	/* each relay in turn while they are down as a whole */
	size_t n = dopt->nrelays ? dopt->nrelays : 1;
	for (size_t i = 0; i < n; i++) {
		struct td_transport_options topt = dopt->nrelays ?
			td_relay_transport(&dopt->transport, &dopt->relays[i]) :
			dopt->transport;
		struct td_transport *tr = NULL;
		int rc = td_transport_open(&topt, &tr, err);
		if (rc)
			return rc;
		td_transport_send(tr, from ? from : dopt->compose.from_address, to, msg,
				  len, &res, err);
		td_transport_close(tr);
		if (res.outcome != TD_SEND_TEMPFAIL || !res.relay_down)
			break;
	}
	snprintf(reply, reply_size, "%s", res.reply);
	if (res.outcome == TD_SEND_OK)
		return 0;
	return err->code ? err->code : td_err_set(err, EX_UNAVAILABLE, "send: %s: %s", to,
						    outcome_name(res.outcome));
}
