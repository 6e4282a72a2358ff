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

/* Feedback types that are the reader's complaint (RFC 5965): abuse,
 * fraud, opt-out, and a report that names no type. "other", "virus",
 * "not-spam", "auth-failure" (RFC 6591) and anything else are notes: the
 * reader did not ask to leave. */
static bool feedback_complains(const char *type)
{
	return !*type || strcmp(type, "abuse") == 0 || strcmp(type, "fraud") == 0 ||
	       strcmp(type, "opt-out") == 0;
}

/* Statuses the policy treats as a bad address whatever the parser's
 * `hard` (which stays Sisimai's in the JSON): RFC 3463's bad mailbox
 * (5.1.1), bad system (5.1.2), moved (5.1.6) and null MX (RFC 7505,
 * 5.1.10). */
static bool status_hard(const char *status)
{
	static const char *const bad[] = { "5.1.1", "5.1.2", "5.1.6", "5.1.10" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (strcmp(status, bad[i]) == 0)
			return true;
	return false;
}

/* What recipient rc of r is for the policy. `token`: the mail named its
 * reader by a valid VERP token. An opt-out without one is a note: Apple
 * Mail's X-Apple-Unsubscribe is a header anybody can write beside the
 * reader's From. */
static enum td_bounce_kind kind_of(const struct td_bounce_report *r,
				   const struct td_bounce_recipient *rc, bool token)
{
	if (r->feedback) {
		if (!feedback_complains(r->feedback) ||
		    (!token && strcmp(r->feedback, "opt-out") == 0))
			return TD_BOUNCE_NOTE;
		return TD_BOUNCE_COMPLAINT;
	}
	const char *reason = rc->reason ? rc->reason : "";
	/* a DSN may list a delivered recipient beside a failed one */
	if (!r->bounce || strcmp(reason, "vacation") == 0 ||
	    strcmp(reason, "delivered") == 0 || strcmp(rc->action, "delivered") == 0 ||
	    strcmp(rc->action, "relayed") == 0 || strcmp(rc->action, "expanded") == 0)
		return TD_BOUNCE_NOTE;
	/* a delay warning is soft whatever it says: the mail may still arrive */
	if (strcmp(rc->action, "delayed") == 0)
		return TD_BOUNCE_SOFT;
	return rc->hard || status_hard(rc->status) ? TD_BOUNCE_HARD : TD_BOUNCE_SOFT;
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
		       time_t slot, bool token, bool forward)
{
	struct td_bounce_event ev;
	memset(&ev, 0, sizeof ev);
	ev.kind = kind_of(r, rc, token);
	/* the address that failed is a forward of the reader's: it says
	 * nothing certain about the reader's own address */
	if (forward && ev.kind == TD_BOUNCE_HARD)
		ev.kind = TD_BOUNCE_SOFT;
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
 * is the reader's address, else the heaviest. *own tells whether the
 * reader's address is among them, or no failed recipient has an
 * address (nothing says it is someone else's). */
static const struct td_bounce_recipient *speaker(const struct td_bounce_report *r,
						 const char *email, bool *own)
{
	const struct td_bounce_recipient *best = r->n ? NULL : &redacted;
	*own = true;
	for (size_t i = 0; i < r->n; i++) {
		if (strcasecmp(r->v[i].address, email) == 0) {
			*own = true;
			return &r->v[i];
		}
		enum td_bounce_kind k = kind_of(r, &r->v[i], true);
		if (*r->v[i].address && (k == TD_BOUNCE_HARD || k == TD_BOUNCE_SOFT))
			*own = false;
		if (!best || weight(k) > weight(kind_of(r, best, true)))
			best = &r->v[i];
	}
	return best;
}

/* A digest's token older than this is refused: a reader's address may
 * have passed to someone else since, and an old digest is what a
 * forger would have kept. */
#define TOKEN_MAX_AGE (120 * 86400)

/* Outer headers that carry the address the bounce was sent to, and the
 * returned message's headers that carry our return path. Only these are
 * read for tokens: a body may quote anything, someone else's report
 * included. */
static const char *const outer_names[] = {
	"Delivered-To", "X-Original-To", "To", "Envelope-To", "X-Envelope-To",
	"X-Original-Recipient", NULL,
};
static const char *const returned_names[] = { "Return-Path", "From", NULL };
static const char *const no_names[] = { NULL };

/* The end of the line at pos (its LF, or len). */
static size_t eol(const char *p, size_t len, size_t pos)
{
	const char *nl = memchr(p + pos, '\n', len - pos);
	return nl ? (size_t)(nl - p) : len;
}

static bool blank(const char *p, size_t a, size_t b)
{
	return a == b || (b == a + 1 && p[a] == '\r');
}

static bool named(const char *p, size_t a, size_t colon, const char *const *names)
{
	for (size_t k = 0; names[k]; k++)
		if (strlen(names[k]) == colon - a && strncasecmp(p + a, names[k], colon - a) == 0)
			return true;
	return false;
}

/* Calls want on the value (with its folded lines) of every header of
 * the block at *pos whose name is in names, until want returns
 * non-zero; moves *pos past the block's blank line. */
static int header_block(const char *p, size_t len, size_t *pos, const char *const *names,
			int (*want)(const char *v, size_t n, void *arg), void *arg)
{
	size_t i = *pos;
	int rc = 0;
	while (i < len) {
		size_t e = eol(p, len, i);
		if (blank(p, i, e)) {
			i = e < len ? e + 1 : len;
			break;
		}
		/* the value runs on through the folded lines after it */
		size_t end = e;
		while (end + 1 < len && (p[end + 1] == ' ' || p[end + 1] == '\t'))
			end = eol(p, len, end + 1);
		const char *colon = memchr(p + i, ':', e - i);
		if (!rc && colon && named(p, i, (size_t)(colon - p), names))
			rc = want(colon + 1, end - (size_t)(colon - p) - 1, arg);
		i = end < len ? end + 1 : len;
	}
	*pos = i;
	return rc;
}

/* Whether the line [a, b) is a Content-Type of a returned message or
 * its header (RFC 3462, 6532). */
static bool returned_part(const char *p, size_t a, size_t b)
{
	static const char ct[] = "content-type:";
	if (b - a < sizeof ct - 1 || strncasecmp(p + a, ct, sizeof ct - 1) != 0)
		return false;
	a += sizeof ct - 1;
	while (a < b && (p[a] == ' ' || p[a] == '\t'))
		a++;
	static const char *const types[] = {
		"message/rfc822", "text/rfc822-headers", "message/global", NULL,
	};
	for (size_t k = 0; types[k]; k++)
		if (b - a >= strlen(types[k]) && strncasecmp(p + a, types[k], strlen(types[k])) == 0)
			return true;
	return false;
}

/* Calls want on the token-bearing header values of the mail: the outer
 * header's, then those of each returned message's header block. */
static int token_headers(const struct td_buf *raw,
			 int (*want)(const char *v, size_t n, void *arg), void *arg)
{
	const char *p = raw->data;
	size_t len = raw->len, pos = 0;
	if (len >= 5 && memcmp(p, "From ", 5) == 0) {
		size_t e = eol(p, len, 0);
		pos = e < len ? e + 1 : len;
	}
	int rc = header_block(p, len, &pos, outer_names, want, arg);
	while (!rc && pos < len) {
		size_t e = eol(p, len, pos);
		if (returned_part(p, pos, e)) {
			/* the part's own header, then the returned one */
			header_block(p, len, &pos, no_names, want, arg);
			rc = header_block(p, len, &pos, returned_names, want, arg);
			continue;
		}
		pos = e < len ? e + 1 : len;
	}
	return rc;
}

/* The search for the reader's token. */
struct token_search {
	struct td_store *st;
	const struct td_verp *v;
	int tried;
	time_t now;
	bool found, stale;
	struct td_member m;
	struct td_verp_token tok;
	struct td_err *err;
	int rc;
};

/* Returns 1 when the search is over (found, or an error in s->rc). */
static int try_tokens(const char *val, size_t n, void *arg)
{
	struct token_search *s = arg;
	size_t pos = 0;
	struct td_verp_token tok;
	while (s->tried < MAX_TOKENS && td_verp_next(s->v, val, n, &pos, &tok)) {
		s->tried++;
		if (tok.member_id <= 0)
			continue;
		bool found;
		int rc = td_roster_get_by_id(s->st, tok.member_id, &s->m, &found, s->err);
		if (rc) {
			s->rc = rc;
			return 1;
		}
		if (found && td_verp_verify(s->v, &tok, s->m.email)) {
			if (tok.kind == 'd' && tok.slot && tok.slot < s->now - TOKEN_MAX_AGE) {
				s->stale = true;
			} else {
				s->found = true;
				s->tok = tok;
				return 1;
			}
		}
		td_member_free(&s->m);
		memset(&s->m, 0, sizeof s->m);
	}
	return s->tried >= MAX_TOKENS;
}

/* With VERP: the first token in the mail's address headers that
 * verifies for the reader its member id names. The mail is hostile: a
 * token that decodes is only a claim until its MAC matches the address
 * we sent to, and only the headers that carry the return path are read.
 * *stale: a valid token of a digest older than TOKEN_MAX_AGE was
 * refused. */
static int by_token(struct td_store *st, const struct td_verp *v, const struct td_buf *raw,
		    const struct td_bounce_report *r, struct events *e, bool *stale,
		    struct td_err *err)
{
	struct token_search s;
	memset(&s, 0, sizeof s);
	s.st = st;
	s.v = v;
	s.now = time(NULL);
	s.err = err;
	token_headers(raw, try_tokens, &s);
	*stale = s.stale && !s.found;
	if (s.found) {
		bool own;
		const struct td_bounce_recipient *rc = speaker(r, s.m.email, &own);
		events_add(e, r, rc, s.m.email, s.tok.slot, true, !own);
	}
	td_member_free(&s.m);
	return s.rc;
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
			events_add(e, r, &r->v[i], m.email, 0, false, false);
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

/* Whether a mail that names nobody stays where it is: without a
 * processed_folder it would be deleted, and the operator could never
 * look at a bounce we could not place. */
static bool keep_unknown(const struct td_bounce_options *o)
{
	return !o->mailbox.processed_folder || !*o->mailbox.processed_folder;
}

static void log_unknown(const struct td_bounce_options *o, const char *name,
			const struct td_bounce_report *r, bool stale)
{
	if (!o->log)
		return;
	const char *why = stale ? "unknown: its token is of a digest older than 120 days" :
			  o->verp ? "unknown: names nobody we sent to (no valid token)" :
			  "unknown: names nobody we sent to (no recipient in the roster)";
	fprintf(o->log, "bounces: %s: %s; changes nothing%s\n", name, why,
		keep_unknown(o) ? ", left in the mailbox" : "");
	for (size_t k = 0; k < r->n && k < 4; k++)
		fprintf(o->log, "bounces: %s:   %s %s %s\n", name,
			*r->v[k].address ? r->v[k].address : "(no address)",
			*r->v[k].status ? r->v[k].status : "-",
			r->v[k].reason ? r->v[k].reason : "-");
}

/* One mail: 0, or an error that ends the run. *acted: the mail was
 * recorded now, or removed as recorded before (what max_messages
 * bounds). */
static int one(struct td_store *st, const struct td_bounce_options *o,
	       struct td_mailbox *mb, size_t i, struct td_buf *raw,
	       struct td_bounce_summary *s, bool *acted, struct td_err *err)
{
	const char *name = td_mailbox_name(mb, i);
	struct td_err ferr = { 0, "" };
	*acted = false;
	int rc = td_mailbox_fetch(mb, i, raw, &ferr);
	if (rc == EX_NOINPUT) {
		/* another client took it since the listing: not ours to count */
		td_log_debug("bounces: %s: %s", name, ferr.msg);
		return 0;
	}
	if (rc == EX_DATAERR) {
		/* too large to read (mailbox.h): left where it is, like any
		 * mail that is not a bounce, so it cannot fail every run */
		s->not_bounces++;
		td_log_warnx("bounces: %s: %s", name, ferr.msg);
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
	char was[16];
	if ((rc = td_store_bounce_mail_outcome(st, key, was, sizeof was, err)))
		goto out;
	if (*was && strcmp(was, "unknown") == 0 && keep_unknown(o)) {
		/* recorded before, left for the operator: counted, not again */
		s->unknown++;
		s->unknown_left++;
		td_log_debug("bounces: %s: names nobody we sent to (recorded before): "
			     "left in place", name);
		goto out;
	}
	if (*was) {
		/* recorded by a run that did not get to remove it */
		s->seen_before++;
		*acted = true;
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
	bool stale = false;
	if ((rc = o->verp ? by_token(st, o->verp, raw, &r, &e, &stale, err) :
			    by_address(st, &r, &e, err)))
		goto done;
	enum outcome outcome = mail_outcome(&r, &e);
	if (!o->dry_run &&
	    (rc = td_store_bounce_record(st, key, outcome_names[outcome], e.v, e.n,
					 &o->policy, time(NULL), err)))
		goto done;
	*acted = true;
	count(s, outcome, &e);
	if (!e.n)
		log_unknown(o, name, &r, stale);
	for (size_t k = 0; k < e.n; k++)
		log_event(o, name, &e.v[k], o->dry_run ? "would be recorded" :
			  td_bounce_action_name(e.v[k].action));
	if (!e.n && keep_unknown(o))
		s->unknown_left++;
	else if (!o->dry_run)
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
	/* max_messages bounds the mails acted on, not the mails read: what
	 * stays (a person's reply, a bounce nobody could be named for, a
	 * mail that failed to fetch) must not keep the bounces behind it
	 * from ever being read. The walk is bounded by the listing. */
	size_t total = td_mailbox_count(mb);
	size_t max = o->max_messages ? o->max_messages : 10000;
	size_t acted = 0, i = 0;
	struct td_buf raw = TD_BUF_INIT;
	for (; !rc && i < total && acted < max; i++) {
		bool did;
		rc = one(st, o, mb, i, &raw, s, &did, err);
		acted += did;
	}
	td_buf_free(&raw);
	if (!rc && i < total)
		td_log_info("bounces: %zu mails in the mailbox; this run acted on %zu "
			    "([bounces] max_messages), the next the rest", total, acted);
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
