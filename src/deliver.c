/*
 * deliver.c: composing messages and the send loop (see deliver.h).
 */
#include "tagdigest/deliver.h"

#include <stdlib.h>
#include <string.h>

#include "tagdigest/address.h"
#include "tagdigest/log.h"
#include "tagdigest/mime.h"
#include "tagdigest/schedule.h"
#include "tagdigest/token.h"
#include "tagdigest/transport.h"
#include "tagdigest/util.h"

#define MAX_MESSAGE (16u << 20)

struct td_composer {
	const struct td_config *cfg;
	struct td_store *st;
	struct td_renderer *renderer;
	struct td_secret secret;
	const char *id_domain;    /* Message-ID right-hand side: the sender's domain */
};

int td_composer_new(const struct td_config *cfg, struct td_store *st,
		    struct td_composer **out, struct td_err *err)
{
	struct td_composer *c = td_xcalloc(1, sizeof *c);
	c->cfg = cfg;
	c->st = st;
	c->id_domain = td_address_domain(cfg->from_address);
	int rc = td_renderer_new(cfg, &c->renderer, err);
	if (!rc)
		rc = td_secret_load(cfg->token_secret_env, cfg->token_secret_file, true,
				    &c->secret, err);
	if (rc) {
		td_composer_free(c);
		*out = NULL;
		return rc;
	}
	*out = c;
	return 0;
}

void td_composer_free(struct td_composer *c)
{
	if (!c)
		return;
	td_renderer_free(c->renderer);
	td_secret_free(&c->secret);
	free(c);
}

int td_compose(struct td_composer *c, const struct td_subscriber *sub,
	       time_t now, struct td_composed *out, struct td_err *err)
{
	const struct td_config *cfg = c->cfg;
	memset(out, 0, sizeof *out);
	td_buf_init(&out->message, MAX_MESSAGE);
	/* All of one digest's queries read one snapshot. */
	int rc = td_store_begin_read(c->st, err);
	if (rc)
		return rc;
	rc = td_digest_build(c->st, cfg, sub, now, &out->digest, err);
	if (rc) {
		td_store_rollback(c->st);
		return rc;
	}
	if ((rc = td_store_commit(c->st, err))) {
		td_digest_free(&out->digest);
		return rc;
	}
	char *token = td_token_make(&c->secret, sub->email, "all");
	char *unsub = td_xasprintf("%s%s", cfg->unsubscribe_url, token);
	free(token);
	rc = td_render_digest(c->renderer, sub, &out->digest, unsub, now,
			      &out->parts, err);
	if (!rc) {
		out->message_id = td_mime_message_id(c->id_domain);
		struct td_mime_message m = {
			.from_name = cfg->from_name,
			.from_addr = cfg->from_address,
			.to_name = sub->name,
			.to_addr = sub->email,
			.subject = out->parts.subject,
			.text = out->parts.text,
			.html = out->parts.html,
			.date = now,
			.message_id = out->message_id,
			.list_name = cfg->site_name,
			.list_id = cfg->list_id,
			.unsubscribe_url = unsub,
		};
		rc = td_mime_build(&m, &out->message, err);
		if (rc)
			td_err_prefix(err, "mime: %s", sub->email);
	}
	free(unsub);
	if (rc)
		td_composed_free(out);
	return rc;
}

void td_composed_free(struct td_composed *m)
{
	td_digest_free(&m->digest);
	td_rendered_free(&m->parts);
	free(m->message_id);
	td_buf_free(&m->message);
	m->message_id = NULL;
}

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

/* One due subscriber. Returns non-zero only when the run must stop. */
static int send_one(struct td_composer *c, struct td_transport *tr,
		    const struct td_subscriber *sub, bool dry_run, time_t now,
		    struct td_send_summary *sum, struct td_err *err)
{
	struct td_composed m;
	int rc = td_compose(c, sub, now, &m, err);
	if (rc == EX_DATAERR) {
		/* This subscriber's data cannot make a valid message (the MIME
		 * checks refused it): the others still get theirs. */
		td_log_warnx("send: %s: not sent: %s", sub->email, err->msg);
		td_store_record_attempt(c->st, sub->email, sum->slot, "permfail",
					err->msg, now, NULL);
		sum->permfail++;
		return 0;
	}
	if (rc)
		return rc;
	struct td_delivery d = {
		.email = sub->email,
		.slot = sum->slot,
		.from_seq = m.digest.from_seq,
		.upto_seq = m.digest.upto_seq,
		.post_count = m.digest.shown,
		.at = now,
	};
	if (m.digest.suppressed) {
		/* unsubscribed or bounced: the store overrides the file */
		td_log_debug("send: %s: suppressed: not sent", sub->email);
		sum->suppressed++;
		goto out;
	}
	if (m.digest.total == 0) {
		td_log_debug("send: %s: no new posts in their tags: skipped", sub->email);
		sum->skipped++;
		d.skipped = true;
		if (!dry_run)
			rc = td_store_record_delivery(c->st, &d, err);
		goto out;
	}
	if (dry_run) {
		td_log_info("send: would send to %s: %zu posts, %zu bytes, \"%s\"",
			    sub->email, m.digest.total, m.message.len, m.parts.subject);
		sum->sent++;
		goto out;
	}

	struct td_send_result res;
	struct td_err terr = { 0, "" };
	td_transport_send(tr, c->cfg->from_address, sub->email, m.message.data,
			  m.message.len, &res, &terr);
	if (res.outcome == TD_SEND_OK) {
		d.message_id = m.message_id;
		d.reply = res.reply;
		/* The message is out: if this record fails, the next run sends
		 * it again (a duplicate), which beats losing it. */
		rc = td_store_record_delivery(c->st, &d, err);
		if (!rc) {
			sum->sent++;
			td_log_debug("send: %s: accepted: %s", sub->email, res.reply);
		}
		goto out;
	}
	td_log_warnx("send: %s: %s: %s", sub->email, outcome_name(res.outcome), terr.msg);
	struct td_err aerr;
	if (td_store_record_attempt(c->st, sub->email, sum->slot,
				    outcome_name(res.outcome), terr.msg, now, &aerr))
		td_log_warnx("%s", aerr.msg);
	if (res.outcome == TD_SEND_TEMPFAIL)
		sum->tempfail++;
	else if (res.outcome == TD_SEND_PERMFAIL)
		sum->permfail++;
	else
		rc = td_err_set(err, fatal_exit_code(terr.code),
				"send: stopped: %s", terr.msg);
out:
	td_composed_free(&m);
	return rc;
}

int td_send_due(const struct td_config *cfg, struct td_store *st,
		const struct td_subscriber_list *subs, bool dry_run, time_t now,
		struct td_send_summary *sum, struct td_err *err)
{
	memset(sum, 0, sizeof *sum);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	struct td_schedule sched = { cfg->slot_wday, cfg->slot_hour,
				     cfg->slot_minute, cfg->timezone };
	sum->slot = td_schedule_last_slot(&sched, now);
	sum->next_slot = td_schedule_next_slot(&sched, now);
	sum->subscribers = subs->n;

	struct td_composer *c = NULL;
	struct td_transport *tr = NULL;
	int rc = td_composer_new(cfg, st, &c, err);
	for (size_t i = 0; !rc && i < subs->n; i++) {
		const struct td_subscriber *sub = &subs->v[i];
		bool done;
		if ((rc = td_store_slot_done(st, sub->email, sum->slot, &done, err)))
			break;
		if (done) {
			sum->not_due++;
			continue;
		}
		/* Open the transport only when something is due: a run with
		 * nothing to send needs no relay. */
		if (!tr && !dry_run && (rc = td_transport_open(cfg, &tr, err)))
			break;
		rc = send_one(c, tr, sub, dry_run, now, sum, err);
	}
	if (tr)
		td_transport_close(tr);
	td_composer_free(c);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	sum->seconds = (double)(t1.tv_sec - t0.tv_sec) +
		       (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	if (!rc && sum->tempfail > 0)
		rc = td_err_set(err, EX_TEMPFAIL,
				"send: %zu digests failed temporarily; the next run "
				"retries them", sum->tempfail);
	return rc;
}
