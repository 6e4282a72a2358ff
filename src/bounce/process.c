/*
 * process.c: `tagdigest bounces` (see process.h): each mail of the bounce
 * mailbox is fetched, keyed by the SHA-256 of its bytes, understood
 * (report.h), pinned on a reader (the VERP token, else the failed
 * address), recorded (store/bounces.h) and only then removed.
 *
 * The order is what makes a crash harmless: the store learns a mail's
 * key in the same transaction as its outcome, so a mail that is still in
 * the mailbox after a crash, a lost connection or a removal that did not
 * commit is recognised next time and only removed. A mail that is no
 * bounce, report or note is never recorded and stays where it is.
 */
#include "tagdigest/bounce/process.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tagdigest/bounce/report.h"
#include "tagdigest/core/buf.h"
#include "tagdigest/core/hash.h"
#include "tagdigest/core/log.h"
#include "tagdigest/core/util.h"
#include "tagdigest/store/roster.h"

/* Tokens looked at in one mail: each costs a roster read and a MAC, and
 * a hostile mail may carry thousands. A bounce quotes the return path a
 * handful of times (Return-Path, the DSN's envelope, the returned
 * headers). */
#define MAX_TOKENS 32

/* Feedback types that are not the reader's complaint (RFC 5965, 6591):
 * a "not spam" report, a report about authentication. */
static bool feedback_complains(const char *type)
{
	return strcasecmp(type, "not-spam") != 0 && strcasecmp(type, "auth-failure") != 0;
}

static enum td_bounce_kind kind_of(const struct td_bounce_report *r,
				   const struct td_bounce_recipient *rc)
{
	if (r->feedback)
		return feedback_complains(r->feedback) ? TD_BOUNCE_COMPLAINT : TD_BOUNCE_NOTE;
	const char *reason = rc->reason ? rc->reason : "";
	/* a DSN may list a delivered recipient beside a failed one */
	if (!r->bounce || strcmp(reason, "vacation") == 0 ||
	    strcmp(reason, "delivered") == 0 || strcmp(rc->action, "delivered") == 0 ||
	    strcmp(rc->action, "relayed") == 0 || strcmp(rc->action, "expanded") == 0)
		return TD_BOUNCE_NOTE;
	/* a delay warning is soft whatever it says: the mail may still arrive */
	return rc->hard && strcmp(rc->action, "delayed") != 0 ? TD_BOUNCE_HARD :
	       TD_BOUNCE_SOFT;
}

/* How much an event weighs when one reader has several in one mail: the
 * heaviest stands for them all (a mail counts once per reader). */
static int weight(enum td_bounce_kind k)
{
	return k == TD_BOUNCE_COMPLAINT ? 3 : k == TD_BOUNCE_HARD ? 2 :
	       k == TD_BOUNCE_SOFT ? 1 : 0;
}

/* The server's words kept with an event: enough to tell why, and a
 * hostile report's megabyte of "diagnostic" is not stored per mail. */
#define DETAIL_MAX 300

/* Cuts s (the report's own string) to at most DETAIL_MAX bytes, never
 * inside a UTF-8 character. */
static char *short_detail(char *s)
{
	if (!s)
		return (char *)"";
	size_t n = strlen(s);
	if (n > DETAIL_MAX) {
		n = DETAIL_MAX;
		while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
			n--;
		s[n] = '\0';
	}
	return s;
}

/* One mail's events, with the addresses they own. */
struct events {
	struct td_bounce_event *v;
	size_t n;
};

static void events_clear(struct events *e)
{
	for (size_t i = 0; i < e->n; i++)
		free(e->v[i].email);
	free(e->v);
	e->v = NULL;
	e->n = 0;
}

/* Adds the event recipient rc of r makes for email (copied), or lets it
 * replace a lighter one of the same reader. The event's strings other
 * than email point into r. */
static void events_add(struct events *e, const struct td_bounce_report *r,
		       const struct td_bounce_recipient *rc, const char *email,
		       time_t slot)
{
	struct td_bounce_event ev;
	memset(&ev, 0, sizeof ev);
	ev.kind = kind_of(r, rc);
	ev.status = (char *)rc->status;
	ev.reply_code = (char *)rc->reply_code;
	ev.reason = (char *)(rc->reason ? rc->reason : "");
	ev.feedback_type = r->feedback ? r->feedback : (char *)"";
	ev.slot = slot;
	ev.detail = short_detail(rc->diagnostic);
	for (size_t i = 0; i < e->n; i++) {
		if (strcasecmp(e->v[i].email, email) != 0)
			continue;
		if (weight(ev.kind) > weight(e->v[i].kind)) {
			ev.email = e->v[i].email;
			e->v[i] = ev;
		}
		return;
	}
	ev.email = td_xstrdup(email);
	e->v = td_xrealloc(e->v, (e->n + 1) * sizeof *e->v);
	e->v[e->n++] = ev;
}

/* A feedback report whose provider redacted the recipient still names
 * the reader through the token in the returned message. */
static const struct td_bounce_recipient redacted = {
	(char *)"", "", "", "feedback", false, (char *)"", (char *)"",
};

/* The recipient that speaks for a mail pinned by its token: the one that
 * is the reader's address, else the heaviest. */
static const struct td_bounce_recipient *speaker(const struct td_bounce_report *r,
						 const char *email)
{
	const struct td_bounce_recipient *best = r->n ? NULL : &redacted;
	for (size_t i = 0; i < r->n; i++) {
		if (strcasecmp(r->v[i].address, email) == 0)
			return &r->v[i];
		if (!best || weight(kind_of(r, &r->v[i])) > weight(kind_of(r, best)))
			best = &r->v[i];
	}
	return best;
}

/* With VERP: the first token in the mail that verifies for the reader
 * its member id names. The mail is hostile: a token that decodes is only
 * a claim until its MAC matches the address we sent to. */
static int by_token(struct td_store *st, const struct td_verp *v, const struct td_buf *raw,
		    const struct td_bounce_report *r, struct events *e, struct td_err *err)
{
	size_t pos = 0;
	struct td_verp_token tok;
	for (int k = 0; k < MAX_TOKENS &&
	     td_verp_next(v, raw->data, raw->len, &pos, &tok); k++) {
		if (tok.member_id <= 0)
			continue;
		struct td_member m;
		bool found;
		int rc = td_roster_get_by_id(st, tok.member_id, &m, &found, err);
		if (rc) {
			td_member_free(&m);
			return rc;
		}
		if (found && td_verp_verify(v, &tok, m.email)) {
			events_add(e, r, speaker(r, m.email), m.email, tok.slot);
			td_member_free(&m);
			return 0;
		}
		td_member_free(&m);
	}
	return 0;
}

/* Without VERP: the report's recipients the roster knows. */
static int by_address(struct td_store *st, const struct td_bounce_report *r,
		      struct events *e, struct td_err *err)
{
	for (size_t i = 0; i < r->n; i++) {
		if (!*r->v[i].address)
			continue;
		struct td_member m;
		bool found;
		int rc = td_roster_get(st, r->v[i].address, &m, &found, err);
		if (!rc && found)
			events_add(e, r, &r->v[i], m.email, 0);
		td_member_free(&m);
		if (rc)
			return rc;
	}
	return 0;
}

/* What one mail was, as the store's outcome word says it. */
enum outcome { OUT_UNKNOWN, OUT_COMPLAINT, OUT_BOUNCE, OUT_NOTE };
static const char *const outcome_names[] = { "unknown", "complaint", "bounce", "note" };

static enum outcome mail_outcome(const struct td_bounce_report *r, const struct events *e)
{
	if (!e->n)
		return OUT_UNKNOWN;
	for (size_t i = 0; i < e->n; i++)
		if (e->v[i].kind == TD_BOUNCE_COMPLAINT)
			return OUT_COMPLAINT;
	/* a "not-spam" or "auth-failure" report is a note */
	return r->bounce ? OUT_BOUNCE : OUT_NOTE;
}

/* "hard 5.1.1 userunknown a@example.org (digest 2026-12-07 07:00 UTC):
 * suppressed" */
static void log_event(const struct td_bounce_options *o, const char *name,
		      const struct td_bounce_event *ev, const char *action)
{
	if (!o->log)
		return;
	char slot[40] = "";
	if (ev->slot) {
		struct tm tm;
		time_t t = ev->slot;
		gmtime_r(&t, &tm);
		strftime(slot, sizeof slot, " (digest %Y-%m-%d %H:%M UTC)", &tm);
	}
	fprintf(o->log, "bounces: %s: %s%s%s%s%s%s%s %s%s: %s\n", name,
		td_bounce_kind_name(ev->kind), *ev->status ? " " : "", ev->status,
		*ev->reply_code ? " " : "", ev->reply_code, *ev->reason ? " " : "",
		ev->reason, ev->email, slot, action);
}

static void log_line(const struct td_bounce_options *o, const char *name,
		     const char *what)
{
	if (o->log)
		fprintf(o->log, "bounces: %s: %s\n", name, what);
}

/* What one mail did, into the summary. */
static void count(struct td_bounce_summary *s, enum outcome outcome,
		  const struct events *e)
{
	size_t *n[] = { &s->unknown, &s->complaints, &s->bounces, &s->notes };
	(*n[outcome])++;
	for (size_t i = 0; i < e->n; i++) {
		if (e->v[i].action == TD_BOUNCE_SUPPRESSED)
			s->suppressed++;
		else if (e->v[i].action == TD_BOUNCE_UNSUBSCRIBED)
			s->unsubscribed++;
	}
}

/* Removes (or moves) message i after its outcome is in the store. A
 * failure leaves it for next time, where its key says it is done. */
static int finish(struct td_mailbox *mb, size_t i, const char *name,
		  struct td_bounce_summary *s, struct td_err *err)
{
	struct td_err derr = { 0, "" };
	int rc = td_mailbox_done(mb, i, &derr);
	/* gone already (another client took it): what we wanted */
	if (!rc || rc == EX_NOINPUT)
		return 0;
	s->failed++;
	td_log_warnx("bounces: %s: recorded, but not removed (it will be next "
		     "time): %s", name, derr.msg);
	/* a lost connection ends the run; one stuck mail does not */
	if (rc == EX_TEMPFAIL) {
		*err = derr;
		return rc;
	}
	return 0;
}

/* One mail: 0, or an error that ends the run. */
static int one(struct td_store *st, const struct td_bounce_options *o,
	       struct td_mailbox *mb, size_t i, struct td_buf *raw,
	       struct td_bounce_summary *s, struct td_err *err)
{
	const char *name = td_mailbox_name(mb, i);
	struct td_err ferr = { 0, "" };
	int rc = td_mailbox_fetch(mb, i, raw, &ferr);
	if (rc == EX_NOINPUT) {
		/* another client took it since the listing: not ours to count */
		td_log_debug("bounces: %s: %s", name, ferr.msg);
		return 0;
	}
	if (rc) {
		s->failed++;
		td_log_warnx("bounces: %s: %s", name, ferr.msg);
		if (rc == EX_TEMPFAIL) {
			*err = ferr;
			return rc;
		}
		return 0;
	}
	s->mails++;
	char *key = td_sha256_hex(raw->data, raw->len, NULL, 0);
	bool seen;
	if ((rc = td_store_bounce_mail_seen(st, key, &seen, err)))
		goto out;
	if (seen) {
		/* recorded by a run that did not get to remove it */
		s->seen_before++;
		log_line(o, name, o->dry_run ? "seen before (would be removed)" :
			 "seen before: removed");
		if (!o->dry_run)
			rc = finish(mb, i, name, s, err);
		goto out;
	}
	struct td_bounce_report r;
	struct events e = { NULL, 0 };
	memset(&r, 0, sizeof r);
	if ((rc = td_bounce_parse(raw->data, raw->len, &r, err)))
		goto done;
	if (r.n == 0 && !r.feedback) {
		/* not ours to judge: a person's reply, spam, a newsletter */
		s->not_bounces++;
		td_log_debug("bounces: %s: neither a bounce nor a report: left in place",
			     name);
		goto done;
	}
	if ((rc = o->verp ? by_token(st, o->verp, raw, &r, &e, err) :
			    by_address(st, &r, &e, err)))
		goto done;
	enum outcome outcome = mail_outcome(&r, &e);
	if (!o->dry_run &&
	    (rc = td_store_bounce_record(st, key, outcome_names[outcome], e.v, e.n,
					 &o->policy, time(NULL), err)))
		goto done;
	count(s, outcome, &e);
	if (!e.n) {
		log_line(o, name, o->verp ? "unknown: names nobody we sent to (no valid "
			 "token); changes nothing" : "unknown: names nobody we sent to (no "
			 "recipient in the roster); changes nothing");
		if (o->log)
			for (size_t k = 0; k < r.n && k < 4; k++)
				fprintf(o->log, "bounces: %s:   %s %s %s\n", name,
					*r.v[k].address ? r.v[k].address : "(no address)",
					*r.v[k].status ? r.v[k].status : "-",
					r.v[k].reason ? r.v[k].reason : "-");
	}
	for (size_t k = 0; k < e.n; k++)
		log_event(o, name, &e.v[k], o->dry_run ? "would be recorded" :
			  td_bounce_action_name(e.v[k].action));
	if (!o->dry_run)
		rc = finish(mb, i, name, s, err);
done:
	events_clear(&e);
	td_bounce_report_free(&r);
out:
	free(key);
	return rc;
}

int td_bounces_process(struct td_store *st, const struct td_bounce_options *o,
		       struct td_bounce_summary *s, struct td_err *err)
{
	memset(s, 0, sizeof *s);
	struct td_mailbox *mb = NULL;
	struct td_mailbox_options mo = o->mailbox;
	mo.read_only = o->dry_run;  /* a dry run writes nothing on the server */
	int rc = td_mailbox_open(&mo, &mb, err);
	if (rc)
		return rc;
	size_t total = td_mailbox_count(mb);
	size_t max = o->max_messages ? o->max_messages : 10000;
	size_t n = total < max ? total : max;
	if (total > n)
		td_log_info("bounces: %zu mails in the mailbox; this run reads %zu "
			    "([bounces] max_messages), the next the rest", total, n);
	struct td_buf raw = TD_BUF_INIT;
	for (size_t i = 0; !rc && i < n; i++)
		rc = one(st, o, mb, i, &raw, s, err);
	td_buf_free(&raw);
	/* removals commit here (EXPUNGE, QUIT); after an error too, for the
	 * mails recorded before it */
	struct td_err cerr = { 0, "" };
	int crc = td_mailbox_close(mb, &cerr);
	if (crc && !rc) {
		*err = cerr;
		rc = crc;
	}
	if (!rc && s->failed)
		rc = td_err_set(err, EX_TEMPFAIL, "bounces: %zu mail%s could not be "
				"read or removed; the next run tries again", s->failed,
				s->failed == 1 ? "" : "s");
	return rc;
}
