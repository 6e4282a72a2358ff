/*
 * mailer.c: the mail thread of `serve --public` (mailer.h): confirmation
 * mails and welcome digests off the request path, and the purge of
 * expired sign-ups.
 *
 * The queue is a fixed ring under one mutex; the thread sleeps on a
 * condition variable until a job arrives, the purge is due or the server
 * stops. Sending happens with the mutex released, so handlers never wait
 * for a mail server.
 */
#include "mailer.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tagdigest/compose/compose.h"
#include "tagdigest/compose/notice.h"
#include "tagdigest/core/buf.h"
#include "tagdigest/core/log.h"
#include "tagdigest/schedule/subscribers.h"
#include "tagdigest/store/roster.h"
#include "tagdigest/store/store.h"
#include "tagdigest/core/util.h"

enum job_kind { JOB_CONFIRMATION, JOB_WELCOME };

struct job {
	enum job_kind kind;
	char *email, *name, *confirm_url, *frequency;
	struct td_strv tag_names;
};

struct td_mailer {
	struct td_mailer_options opt;
	struct td_store *st;                  /* the thread's own connection */
	struct td_notice_composer *notices;
	struct td_composer *digests;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t wake;
	struct job *ring[TD_MAILER_QUEUE];
	size_t head, count;
	bool stopping;
	double drain_until;        /* monotonic: when a stop gives up on the queue */
};

static void job_free(struct job *j)
{
	if (!j)
		return;
	free(j->email);
	free(j->name);
	free(j->confirm_url);
	free(j->frequency);
	td_strv_free(&j->tag_names);
	free(j);
}

/* The sign-up's row in the roster (it is pending), for the VERP token:
 * 0 without a return path or when it is gone. */
static int64_t pending_id(struct td_mailer *m, const char *email)
{
	if (!m->opt.deliver->verp)
		return 0;
	struct td_member mem;
	bool found = false;
	struct td_err err = { 0, "" };
	memset(&mem, 0, sizeof mem);
	int64_t id = 0;
	if (td_roster_get(m->st, email, &mem, &found, &err) == 0 && found)
		id = mem.id;
	td_member_free(&mem);
	return id;
}

static void send_confirmation(struct td_mailer *m, const struct job *j)
{
	struct td_confirmation c = {
		.email = j->email, .name = j->name ? j->name : "",
		.confirm_url = j->confirm_url, .expires_hours = m->opt.confirm_hours,
		.tag_names = &j->tag_names, .frequency = j->frequency,
	};
	struct td_buf msg = TD_BUF_INIT;
	struct td_err err = { 0, "" };
	char reply[256] = "";
	int rc = td_notice_confirmation(m->notices, &c, time(NULL), &msg, &err);
	if (!rc) {
		char *from = td_envelope_sender(m->opt.deliver, 'c', pending_id(m, j->email),
						j->email, 0);
		rc = td_send_one(m->opt.deliver, from, j->email, td_buf_cstr(&msg), msg.len,
				 reply, sizeof reply, &err);
		free(from);
	}
	if (rc)
		td_log_warnx("serve: confirmation mail to %s not sent: %s", j->email, err.msg);
	else
		td_log_info("serve: confirmation mail to %s: %s", j->email, reply);
	td_buf_free(&msg);
}

static void send_welcome(struct td_mailer *m, const struct job *j)
{
	struct td_err err = { 0, "" };
	struct td_member mem;
	bool found = false;
	memset(&mem, 0, sizeof mem);
	int rc = td_roster_get(m->st, j->email, &mem, &found, &err);
	if (rc || !found || mem.status != TD_MEMBER_ACTIVE) {
		if (rc)
			td_log_warnx("serve: welcome digest for %s: %s", j->email, err.msg);
		td_member_free(&mem);
		return;
	}
	struct td_subscriber sub;
	td_member_subscriber(&mem, &sub);
	/* the slot it is recorded for: the run's own slots start after the
	 * confirmation (not_before), so this one is the welcome's alone */
	time_t slot = mem.confirmed_at ? mem.confirmed_at : time(NULL);
	sub.not_before = 0;
	struct td_composed c;
	memset(&c, 0, sizeof c);
	time_t now = time(NULL);
	rc = td_compose(m->digests, &sub, now, &c, &err);
	if (rc) {
		td_log_warnx("serve: welcome digest for %s: %s", j->email, err.msg);
	} else if (c.digest.suppressed || c.digest.total == 0) {
		td_log_info("serve: welcome digest for %s: no posts in their tags yet",
			    j->email);
	} else {
		char reply[256] = "";
		char *from = td_envelope_sender(m->opt.deliver, 'w', mem.id, mem.email, slot);
		rc = td_send_one(m->opt.deliver, from, mem.email, td_buf_cstr(&c.message),
				 c.message.len, reply, sizeof reply, &err);
		free(from);
		if (rc) {
			td_log_warnx("serve: welcome digest to %s not sent: %s", j->email,
				     err.msg);
		} else {
			struct td_delivery d = {
				.email = mem.email, .slot = slot, .message_id = c.message_id,
				.reply = reply, .from_seq = c.digest.from_seq,
				.upto_seq = c.digest.upto_seq, .post_count = c.digest.shown,
				.at = now,
			};
			if (td_store_record_delivery(m->st, &d, &err))
				td_log_warnx("serve: welcome digest to %s sent but not "
					     "recorded: %s", j->email, err.msg);
			else {
				char posts[48];
				td_log_info("serve: welcome digest to %s: %s: %s", j->email,
					    td_count(posts, sizeof posts, c.digest.shown, "post",
						     "posts"), reply);
			}
		}
	}
	td_composed_free(&c);
	td_member_free(&mem);
}

static void purge(struct td_mailer *m)
{
	struct td_err err = { 0, "" };
	size_t n = 0;
	/* The row also holds the address's count of confirmation mails for
	 * 24 hours: purged sooner, the count would start again and a
	 * short confirm_hours would let anyone mail a stranger far more
	 * than confirm_mails_per_day. The link is dead after confirm_hours
	 * either way (its token expires). */
	int hours = m->opt.confirm_hours > 24 ? m->opt.confirm_hours : 24;
	time_t before = time(NULL) - (time_t)hours * 3600;
	if (td_roster_purge_pending(m->st, before, &n, &err))
		td_log_warnx("serve: purging expired sign-ups: %s", err.msg);
	else if (n)
		td_log_info("serve: purged %zu sign-ups never confirmed", n);
}

static void *run(void *arg)
{
	struct td_mailer *m = arg;
	purge(m);
	double next_purge = td_mono_now() + TD_MAILER_PURGE_EVERY;
	pthread_mutex_lock(&m->mu);
	for (;;) {
		while (!m->stopping && m->count == 0 && td_mono_now() < next_purge) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += 1;   /* the purge is checked at least each second */
			pthread_cond_timedwait(&m->wake, &m->mu, &ts);
		}
		/* a stop (systemctl restart) first sends what readers were
		 * promised ("check your inbox"), for at most
		 * TD_MAILER_DRAIN seconds */
		if (m->stopping && (m->count == 0 || td_mono_now() > m->drain_until))
			break;
		struct job *j = NULL;
		if (m->count) {
			j = m->ring[m->head];
			m->head = (m->head + 1) % TD_MAILER_QUEUE;
			m->count--;
		}
		pthread_mutex_unlock(&m->mu);
		if (j && j->kind == JOB_CONFIRMATION)
			send_confirmation(m, j);
		else if (j)
			send_welcome(m, j);
		job_free(j);
		if (td_mono_now() >= next_purge) {
			purge(m);
			next_purge = td_mono_now() + TD_MAILER_PURGE_EVERY;
		}
		pthread_mutex_lock(&m->mu);
	}
	pthread_mutex_unlock(&m->mu);
	return NULL;
}

static void mailer_free(struct td_mailer *m)
{
	for (size_t i = 0; i < m->count; i++) {
		struct job *j = m->ring[(m->head + i) % TD_MAILER_QUEUE];
		td_log_warnx("serve: stopping: %s for %s not sent",
			     j->kind == JOB_CONFIRMATION ? "confirmation mail" :
							   "welcome digest", j->email);
		job_free(j);
	}
	td_notice_composer_free(m->notices);
	td_composer_free(m->digests);
	td_store_close(m->st);
	pthread_cond_destroy(&m->wake);
	pthread_mutex_destroy(&m->mu);
	free(m);
}

int td_mailer_start(const struct td_mailer_options *opt, struct td_mailer **out,
		    struct td_err *err)
{
	*out = NULL;
	struct td_mailer *m = td_xcalloc(1, sizeof *m);
	m->opt = *opt;
	pthread_mutex_init(&m->mu, NULL);
	pthread_cond_init(&m->wake, NULL);
	int rc = td_store_open(opt->store_path, TD_STORE_READWRITE, &m->st, err);
	if (!rc)
		rc = td_notice_composer_new(&opt->deliver->compose, &m->notices, err);
	if (!rc)
		rc = td_composer_new(&opt->deliver->compose, m->st, &m->digests, err);
	if (!rc && (errno = pthread_create(&m->thread, NULL, run, m)) != 0)
		rc = td_err_set(err, EX_OSERR, "serve: cannot start the mail thread: %s",
				strerror(errno));
	if (rc) {
		mailer_free(m);
		return rc;
	}
	*out = m;
	return 0;
}

void td_mailer_stop(struct td_mailer *m)
{
	if (!m)
		return;
	pthread_mutex_lock(&m->mu);
	m->stopping = true;
	m->drain_until = td_mono_now() + TD_MAILER_DRAIN;
	pthread_cond_signal(&m->wake);
	pthread_mutex_unlock(&m->mu);
	pthread_join(m->thread, NULL);
	mailer_free(m);
}

static bool enqueue(struct td_mailer *m, struct job *j)
{
	pthread_mutex_lock(&m->mu);
	bool ok = !m->stopping && m->count < TD_MAILER_QUEUE;
	if (ok) {
		m->ring[(m->head + m->count) % TD_MAILER_QUEUE] = j;
		m->count++;
		pthread_cond_signal(&m->wake);
	}
	pthread_mutex_unlock(&m->mu);
	if (!ok) {
		td_log_warnx("serve: mail queue full: %s for %s dropped",
			     j->kind == JOB_CONFIRMATION ? "confirmation mail" :
							   "welcome digest", j->email);
		job_free(j);
	}
	return ok;
}

bool td_mailer_confirmation(struct td_mailer *m, const char *email, const char *name,
			    const char *confirm_url, const struct td_strv *tag_names,
			    const char *frequency)
{
	struct job *j = td_xcalloc(1, sizeof *j);
	j->kind = JOB_CONFIRMATION;
	j->email = td_xstrdup(email);
	j->name = td_xstrdup(name ? name : "");
	j->confirm_url = td_xstrdup(confirm_url);
	j->frequency = td_xstrdup(frequency);
	for (size_t i = 0; tag_names && i < tag_names->n; i++)
		td_strv_push(&j->tag_names, tag_names->v[i]);
	return enqueue(m, j);
}

bool td_mailer_welcome(struct td_mailer *m, const char *email)
{
	struct job *j = td_xcalloc(1, sizeof *j);
	j->kind = JOB_WELCOME;
	j->email = td_xstrdup(email);
	return enqueue(m, j);
}
