/*
 * bounces.c: what came back by mail, in the SQLite store (see
 * store/bounces.h for the policy; migration 8 in store.c for the tables).
 *
 * A mail's events, the policy's consequences (a suppression through
 * td_store_suppress, so the roster's status follows) and the mail's key
 * are written in one transaction: a crash leaves either all of them or
 * none, and td_store_bounce_mail_seen then tells the caller whether the
 * mail may simply be removed. Bounce processing is not a hot path (a few
 * mails per run), so statements are prepared where used.
 */
#include "tagdigest/store/bounces.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_impl.h"

static const char *const kind_names[] = { "hard", "soft", "complaint", "note" };
static const char *const action_names[] = {
	"recorded", "suppressed", "unsubscribed", "already", "counted_before",
};

const char *td_bounce_kind_name(enum td_bounce_kind k)
{
	return (unsigned)k < 4 ? kind_names[k] : "note";
}

const char *td_bounce_action_name(enum td_bounce_action a)
{
	return (unsigned)a < 5 ? action_names[a] : "recorded";
}

static int kind_parse(const char *s)
{
	for (int i = 0; i < 4; i++)
		if (strcmp(s, kind_names[i]) == 0)
			return i;
	return TD_BOUNCE_NOTE;
}

static int action_parse(const char *s)
{
	for (int i = 0; i < 5; i++)
		if (strcmp(s, action_names[i]) == 0)
			return i;
	return TD_BOUNCE_RECORDED;
}

/* The policy as the store applies it: a config that left a value out
 * (0) gets the documented default, never a division by zero. */
static struct td_bounce_policy policy_or_default(const struct td_bounce_policy *p)
{
	struct td_bounce_policy d = { 1, 5.0, 7 };
	if (p) {
		if (p->hard_after >= 1)
			d.hard_after = p->hard_after;
		if (p->soft_threshold > 0)
			d.soft_threshold = p->soft_threshold;
		if (p->soft_half_life_days >= 1)
			d.soft_half_life_days = p->soft_half_life_days;
	}
	return d;
}

/* score as of `from`, halved every half-life up to `now` */
static double decayed(double score, time_t from, time_t now,
		      const struct td_bounce_policy *pol)
{
	if (score <= 0 || now <= from)
		return score > 0 ? score : 0;
	double half_lives = (double)(now - from) / (86400.0 * pol->soft_half_life_days);
	return score * pow(0.5, half_lives);
}

static struct td_db_stmt *prepare(struct td_store *st, const char *sql, struct td_err *err)
{
	struct td_db_stmt *s = NULL;
	if (td_db_prepare(td_store_db(st), sql, &s) != TD_DB_OK) {
		td_store_db_error(st, err, "prepare bounce statement");
		return NULL;
	}
	return s;
}

/* Steps s once: 1 a row, 0 done, else the store's error (s finalized
 * then). */
static int step(struct td_store *st, struct td_db_stmt *s, const char *what,
		struct td_err *err)
{
	int rc = td_db_step(s);
	if (rc == TD_DB_ROW)
		return 1;
	if (rc == TD_DB_DONE)
		return 0;
	td_store_db_error(st, err, what);
	td_db_finalize(s);
	return -1;
}

static int fail_code(struct td_err *err)
{
	return err && err->code ? err->code : EX_SOFTWARE;
}

int td_store_bounce_mail_outcome(struct td_store *st, const char *message_key,
				 char *outcome, size_t len, struct td_err *err)
{
	if (len)
		*outcome = '\0';
	struct td_db_stmt *s = prepare(st,
		"SELECT outcome FROM bounce_mail WHERE message_key = ?1", err);
	if (!s)
		return fail_code(err);
	td_store_bind_text(s, 1, message_key);
	int r = step(st, s, "read processed mail", err);
	if (r < 0)
		return fail_code(err);
	/* an outcome the store wrote is never empty */
	if (r == 1 && len)
		snprintf(outcome, len, "%s", *td_store_col_cstr(s, 0) ?
			 td_store_col_cstr(s, 0) : "?");
	td_db_finalize(s);
	return 0;
}

int td_store_bounce_mail_seen(struct td_store *st, const char *message_key,
			      bool *seen, struct td_err *err)
{
	char outcome[16];
	int rc = td_store_bounce_mail_outcome(st, message_key, outcome, sizeof outcome, err);
	*seen = !rc && *outcome;
	return rc;
}

/* Whether key is kept out already: an "all" suppression, or a roster
 * status that is the reader's (or their mailbox's) word. */
static int kept_out(struct td_store *st, const char *key, bool *out, struct td_err *err)
{
	struct td_db_stmt *s = prepare(st,
		"SELECT EXISTS (SELECT 1 FROM suppressions WHERE email = ?1 AND scope = 'all')"
		" OR EXISTS (SELECT 1 FROM members WHERE email_key = ?1 AND"
		" status IN ('unsubscribed', 'bounced', 'complained'))", err);
	if (!s)
		return fail_code(err);
	td_store_bind_text(s, 1, key);
	int r = step(st, s, "read suppression", err);
	if (r < 0)
		return fail_code(err);
	*out = r == 1 && td_db_column_int(s, 0) != 0;
	td_db_finalize(s);
	return 0;
}

/* Whether a soft bounce of key for this digest counted already: the
 * same slot, or, for a mail without one, the same UTC day. */
static int soft_counted(struct td_store *st, const char *key, time_t slot, time_t at,
			bool *out, struct td_err *err)
{
	struct td_db_stmt *s = prepare(st,
		"SELECT EXISTS (SELECT 1 FROM bounce_events WHERE email = ?1"
		" AND kind = 'soft' AND action IN ('recorded', 'suppressed')"
		" AND slot = ?2 AND (?2 != 0 OR at / 86400 = ?3 / 86400))", err);
	if (!s)
		return fail_code(err);
	td_store_bind_text(s, 1, key);
	td_db_bind_int64(s, 2, (int64_t)slot);
	td_db_bind_int64(s, 3, (int64_t)at);
	int r = step(st, s, "read soft bounces", err);
	if (r < 0)
		return fail_code(err);
	*out = r == 1 && td_db_column_int(s, 0) != 0;
	td_db_finalize(s);
	return 0;
}

/* The score row of key as stored: score as of scored_at, hard count. */
static int read_raw(struct td_store *st, const char *key, double *score,
		    time_t *scored_at, int *hard, struct td_err *err)
{
	*score = 0;
	*scored_at = 0;
	*hard = 0;
	struct td_db_stmt *s = prepare(st,
		"SELECT score, scored_at, hard FROM bounce_scores WHERE email = ?1", err);
	if (!s)
		return fail_code(err);
	td_store_bind_text(s, 1, key);
	int r = step(st, s, "read bounce score", err);
	if (r < 0)
		return fail_code(err);
	if (r == 1) {
		*score = td_db_column_double(s, 0);
		*scored_at = (time_t)td_db_column_int64(s, 1);
		*hard = td_db_column_int(s, 2);
	}
	td_db_finalize(s);
	return 0;
}

/* The one integer sql gives, with key as ?1 and a, b as ?2, ?3 when it
 * has them. */
static int query_count(struct td_store *st, const char *sql, const char *key,
		       int64_t a, int64_t b, int64_t *out,
		       struct td_err *err)
{
	*out = 0;
	struct td_db_stmt *s = prepare(st, sql, err);
	if (!s)
		return fail_code(err);
	td_store_bind_text(s, 1, key);
	int np = td_db_bind_parameter_count(s);
	if (np >= 2)
		td_db_bind_int64(s, 2, a);
	if (np >= 3)
		td_db_bind_int64(s, 3, b);
	int r = step(st, s, "read bounce score", err);
	if (r < 0)
		return fail_code(err);
	if (r == 1)
		*out = td_db_column_int64(s, 0);
	td_db_finalize(s);
	return 0;
}

/* The score of key before a soft bounce for the digest of slot `upto`
 * (0: now, for reading), and the hard count. When the last soft bounce
 * counted carried a slot, the score halves once per digest delivered to
 * key after that slot and before upto: a reader's failing digests add
 * up whatever the schedule (weekly or daily), each good digest between
 * them halves the sum. When it carried none, the score halves every
 * half-life of time. */
static int read_score(struct td_store *st, const char *key,
		      const struct td_bounce_policy *pol, time_t now, time_t upto,
		      double *score, int *hard, struct td_err *err)
{
	double raw;
	time_t at;
	int rc = read_raw(st, key, &raw, &at, hard, err);
	if (rc || raw <= 0) {
		*score = 0;
		return rc;
	}
	int64_t last;
	if ((rc = query_count(st,
		"SELECT COALESCE((SELECT slot FROM bounce_events WHERE email = ?1"
		" AND kind = 'soft' AND action IN ('recorded', 'suppressed')"
		" ORDER BY id DESC LIMIT 1), 0)", key, 0, 0, &last, err)))
		return rc;
	if (last == 0) {
		*score = decayed(raw, at, now, pol);
		return 0;
	}
	int64_t good;
	if ((rc = query_count(st,
		"SELECT COUNT(*) FROM deliveries WHERE email = ?1 AND status = 'sent'"
		" AND slot > ?2 AND slot < ?3", key, last,
		upto ? (int64_t)upto : INT64_MAX, &good, err)))
		return rc;
	*score = raw * pow(0.5, (double)good);
	return 0;
}

static int write_score(struct td_store *st, const char *key, double score,
		       time_t scored_at, int hard, time_t now, struct td_err *err)
{
	struct td_db_stmt *s = prepare(st,
		"INSERT INTO bounce_scores (email, score, scored_at, hard, updated_at)"
		" VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (email) DO UPDATE SET"
		" score = ?2, scored_at = ?3, hard = ?4, updated_at = ?5", err);
	if (!s)
		return fail_code(err);
	td_store_bind_text(s, 1, key);
	td_db_bind_double(s, 2, score);
	td_db_bind_int64(s, 3, (int64_t)scored_at);
	td_db_bind_int(s, 4, hard);
	td_db_bind_int64(s, 5, (int64_t)now);
	int r = step(st, s, "store bounce score", err);
	if (r < 0)
		return fail_code(err);
	td_db_finalize(s);
	return 0;
}

static int insert_event(struct td_store *st, const char *key,
			const struct td_bounce_event *ev, const char *message_key,
			struct td_err *err)
{
	struct td_db_stmt *s = prepare(st,
		"INSERT INTO bounce_events (email, at, kind, status, reply_code, reason,"
		" feedback_type, slot, message_key, action, detail)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)", err);
	if (!s)
		return fail_code(err);
	td_store_bind_text(s, 1, key);
	td_db_bind_int64(s, 2, (int64_t)ev->at);
	td_store_bind_text(s, 3, td_bounce_kind_name(ev->kind));
	td_store_bind_text(s, 4, ev->status);
	td_store_bind_text(s, 5, ev->reply_code);
	td_store_bind_text(s, 6, ev->reason);
	td_store_bind_text(s, 7, ev->feedback_type);
	td_db_bind_int64(s, 8, (int64_t)ev->slot);
	td_store_bind_text(s, 9, message_key);
	td_store_bind_text(s, 10, td_bounce_action_name(ev->action));
	td_store_bind_text(s, 11, ev->detail);
	int r = step(st, s, "record bounce event", err);
	if (r < 0)
		return fail_code(err);
	td_db_finalize(s);
	return 0;
}

/* What the detail of a suppression says: the event's words. */
static void suppression_detail(const struct td_bounce_event *ev, char *out, size_t len)
{
	const char *what = ev->kind == TD_BOUNCE_COMPLAINT ? "complaint" :
			   ev->kind == TD_BOUNCE_HARD ? "hard bounce" : "soft bounces";
	snprintf(out, len, "%s%s%s%s%s%s%s", what,
		 ev->status && *ev->status ? " " : "", ev->status ? ev->status : "",
		 ev->reason && *ev->reason ? " " : "", ev->reason ? ev->reason : "",
		 ev->feedback_type && *ev->feedback_type ? " " : "",
		 ev->feedback_type ? ev->feedback_type : "");
}

/* The policy for one event of key; sets ev->action. */
static int apply(struct td_store *st, const char *key, struct td_bounce_event *ev,
		 const struct td_bounce_policy *pol, time_t now, struct td_err *err)
{
	int rc;
	bool out, counted;
	ev->action = TD_BOUNCE_RECORDED;
	if (ev->kind == TD_BOUNCE_NOTE)
		return 0;
	if ((rc = kept_out(st, key, &out, err)))
		return rc;
	if (out) {
		ev->action = TD_BOUNCE_ALREADY;
		return 0;
	}
	char detail[160];
	suppression_detail(ev, detail, sizeof detail);
	if (ev->kind == TD_BOUNCE_COMPLAINT) {
		ev->action = TD_BOUNCE_UNSUBSCRIBED;
		return td_store_suppress(st, key, "all", "complained", detail, now, err);
	}
	if (ev->kind == TD_BOUNCE_SOFT) {
		if ((rc = soft_counted(st, key, ev->slot, ev->at, &counted, err)))
			return rc;
		if (counted) {
			ev->action = TD_BOUNCE_COUNTED_BEFORE;
			return 0;
		}
	}
	double score;
	int hard;
	if (ev->kind == TD_BOUNCE_HARD) {
		/* the soft score stays as stored, with its own reference */
		time_t at;
		if ((rc = read_raw(st, key, &score, &at, &hard, err)) ||
		    (rc = write_score(st, key, score, at, hard + 1, now, err)))
			return rc;
		hard++;
		score = 0;
	} else {
		if ((rc = read_score(st, key, pol, now, ev->slot, &score, &hard, err)))
			return rc;
		score += 1;
		if ((rc = write_score(st, key, score, now, hard, now, err)))
			return rc;
	}
	/* a small epsilon: five bounces a few seconds apart are five */
	if (hard >= pol->hard_after || score >= pol->soft_threshold - 1e-6) {
		ev->action = TD_BOUNCE_SUPPRESSED;
		return td_store_suppress(st, key, "all", "bounced", detail, now, err);
	}
	return 0;
}

/* The mail's row; *fresh false when its key was recorded already. */
static int insert_mail(struct td_store *st, const char *message_key, const char *outcome,
		       size_t n, time_t now, bool *fresh, struct td_err *err)
{
	struct td_db_stmt *s = prepare(st,
		"INSERT INTO bounce_mail (message_key, outcome, events, processed_at)"
		" VALUES (?1, ?2, ?3, ?4) ON CONFLICT (message_key) DO NOTHING", err);
	if (!s)
		return fail_code(err);
	td_store_bind_text(s, 1, message_key);
	td_store_bind_text(s, 2, outcome);
	td_db_bind_int64(s, 3, (int64_t)n);
	td_db_bind_int64(s, 4, (int64_t)now);
	int r = step(st, s, "record processed mail", err);
	if (r < 0)
		return fail_code(err);
	*fresh = td_db_changes(td_store_db(st)) == 1;
	td_db_finalize(s);
	return 0;
}

int td_store_bounce_record(struct td_store *st, const char *message_key,
			   const char *outcome, struct td_bounce_event *ev,
			   size_t n, const struct td_bounce_policy *pol,
			   time_t now, struct td_err *err)
{
	if (!message_key || !*message_key)
		return td_err_set(err, EX_SOFTWARE, "store: bounce without a message key");
	struct td_bounce_policy p = policy_or_default(pol);
	bool own;
	int rc = td_store_sp_begin(st, "bounce_record", &own, err);
	if (rc)
		return rc;
	bool fresh;
	rc = insert_mail(st, message_key, outcome, n, now, &fresh, err);
	for (size_t i = 0; !rc && i < n; i++) {
		if (!fresh) {
			/* recorded by an earlier run: count nothing twice */
			ev[i].action = TD_BOUNCE_ALREADY;
			continue;
		}
		if (!ev[i].email || !*ev[i].email) {
			rc = td_err_set(err, EX_SOFTWARE, "store: bounce event without an address");
			break;
		}
		if (!ev[i].at)
			ev[i].at = now;
		char *key = td_store_email_key(ev[i].email);
		rc = apply(st, key, &ev[i], &p, now, err);
		if (!rc)
			rc = insert_event(st, key, &ev[i], message_key, err);
		free(key);
	}
	return td_store_sp_end(st, "bounce_record", own, rc, err);
}

int td_store_bounce_events(struct td_store *st, const char *email, size_t limit,
			   struct td_bounce_event **out, size_t *n,
			   struct td_err *err)
{
	*out = NULL;
	*n = 0;
#define EVENT_COLS "SELECT email, at, kind, status, reply_code, reason, feedback_type," \
	" slot, message_key, action, detail FROM bounce_events"
	/* two statements: "?1 IS NULL OR email = ?1" would keep SQLite from
	 * the address's index */
	struct td_db_stmt *s = prepare(st, email ?
		EVENT_COLS " WHERE email = ?1 ORDER BY at DESC, id DESC LIMIT ?2" :
		EVENT_COLS " ORDER BY at DESC, id DESC LIMIT ?2", err);
	if (!s)
		return fail_code(err);
	if (email) {
		char *key = td_store_email_key(email);
		td_store_bind_text(s, 1, key);
		free(key);
	}
	/* no limit: the largest (PostgreSQL refuses SQLite's -1) */
	td_db_bind_int64(s, 2, limit ? (int64_t)limit : INT64_MAX);
	size_t cap = 0;
	int r;
	while ((r = step(st, s, "read bounce events", err)) == 1) {
		if (*n == cap) {
			cap = cap ? cap * 2 : 8;
			*out = td_xrealloc(*out, cap * sizeof **out);
		}
		struct td_bounce_event *e = &(*out)[(*n)++];
		e->email = td_store_col_dup(s, 0);
		e->at = (time_t)td_db_column_int64(s, 1);
		e->kind = (enum td_bounce_kind)kind_parse(td_store_col_cstr(s, 2));
		e->status = td_store_col_dup(s, 3);
		e->reply_code = td_store_col_dup(s, 4);
		e->reason = td_store_col_dup(s, 5);
		e->feedback_type = td_store_col_dup(s, 6);
		e->slot = (time_t)td_db_column_int64(s, 7);
		e->message_key = td_store_col_dup(s, 8);
		e->action = (enum td_bounce_action)action_parse(td_store_col_cstr(s, 9));
		e->detail = td_store_col_dup(s, 10);
	}
	if (r < 0) {
		td_bounce_events_free(*out, *n);
		*out = NULL;
		*n = 0;
		return fail_code(err);
	}
	td_db_finalize(s);
	return 0;
}

void td_bounce_events_free(struct td_bounce_event *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].email);
		free(v[i].status);
		free(v[i].reply_code);
		free(v[i].reason);
		free(v[i].feedback_type);
		free(v[i].message_key);
		free(v[i].detail);
	}
	free(v);
}

int td_store_bounce_score(struct td_store *st, const char *email,
			  const struct td_bounce_policy *pol, time_t now,
			  double *score, int *hard, struct td_err *err)
{
	struct td_bounce_policy p = policy_or_default(pol);
	char *key = td_store_email_key(email);
	int rc = read_score(st, key, &p, now, 0, score, hard, err);
	free(key);
	return rc;
}

int td_store_bounce_totals(struct td_store *st, time_t since, size_t totals[4],
			   struct td_err *err)
{
	memset(totals, 0, 4 * sizeof totals[0]);
	struct td_db_stmt *s = prepare(st,
		"SELECT kind, COUNT(*) FROM bounce_events WHERE at >= ?1 GROUP BY kind", err);
	if (!s)
		return fail_code(err);
	td_db_bind_int64(s, 1, (int64_t)since);
	int r;
	while ((r = step(st, s, "count bounce events", err)) == 1)
		totals[kind_parse(td_store_col_cstr(s, 0))] +=
			(size_t)td_db_column_int64(s, 1);
	if (r < 0)
		return fail_code(err);
	td_db_finalize(s);
	return 0;
}

int td_store_bounce_score_clear(struct td_store *st, const char *key, struct td_err *err)
{
	struct td_db_stmt *s = prepare(st, "DELETE FROM bounce_scores WHERE email = ?1", err);
	if (!s)
		return fail_code(err);
	td_store_bind_text(s, 1, key);
	int r = step(st, s, "clear bounce score", err);
	if (r < 0)
		return fail_code(err);
	td_db_finalize(s);
	return 0;
}
