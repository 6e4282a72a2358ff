/*
 * status.c: the `status` report (see status.h). Readers are read a page
 * of the roster at a time and printed as they come, so the report
 * streams whatever the number of readers; each line asks the store what
 * the send engine asks (deliver.h) to say when the reader is due.
 */
#include "tagdigest/compose/status.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tagdigest/core/buf.h"
#include "tagdigest/core/log.h"
#include "tagdigest/core/util.h"
#include "tagdigest/core/value.h"
#include "tagdigest/schedule/readers.h"
#include "tagdigest/store/roster.h"

#define WHEN_FMT "%a %d %b %Y %H:%M %Z"

/* One line per source: its last success and failures in a row, and its
 * last error with the time it happened; once the source works again the
 * error is shown as over ("ok since"), never as if it were current. */
static void print_sources(FILE *out, const struct td_status_options *opt,
			  struct td_store *st)
{
	fprintf(out, "Sources:\n");
	for (size_t i = 0; i < opt->nsources; i++) {
		const struct td_source_config *src = &opt->sources[i];
		struct td_source_state s;
		if (td_store_source_state(st, src->name, &s, NULL) != 0)
			continue;
		char ok[64] = "never", at[64] = "", since[64] = "";
		if (s.last_success)
			td_tz_format(opt->schedule.tz, s.last_success, WHEN_FMT, ok, sizeof ok);
		if (s.last_error_at)
			td_tz_format(opt->schedule.tz, s.last_error_at, WHEN_FMT, at, sizeof at);
		if (s.ok_since)
			td_tz_format(opt->schedule.tz, s.ok_since, WHEN_FMT, since,
				     sizeof since);
		fprintf(out, "  %-16s %-6s last success: %s; consecutive failures: %d",
			src->name, src->type, ok, s.failures);
		if (s.last_error[0] && s.failures)
			fprintf(out, "; last error %s: %s", at, s.last_error);
		else if (s.last_error[0] && s.ok_since)
			fprintf(out, "; ok since %s (last error %s: %s)", since, at,
				s.last_error);
		else if (s.last_error[0])
			fprintf(out, "; ok again (last error %s: %s)", at, s.last_error);
		fputc('\n', out);
		free(s.last_error);
	}
}

/* "weekly Mon 08:00 Asia/Tokyo", "daily 08:00 UTC", "monthly 1st Mon
 * 08:00 Europe/Berlin". */
static void describe(const struct td_schedule *s, char *out, size_t len)
{
	static const char *const days[] = { "Sun", "Mon", "Tue", "Wed", "Thu",
					    "Fri", "Sat" };
	const char *day = days[(unsigned)s->wday % 7];
	const char *zone = td_tz_name(s->tz);
	switch (s->freq) {
	case TD_FREQ_DAILY:
		snprintf(out, len, "daily %02d:%02d %s", s->hour, s->minute, zone);
		break;
	case TD_FREQ_MONTHLY:
		snprintf(out, len, "monthly 1st %s %02d:%02d %s", day, s->hour, s->minute,
			 zone);
		break;
	case TD_FREQ_WEEKLY:
	default:
		snprintf(out, len, "weekly %s %02d:%02d %s", day, s->hour, s->minute, zone);
		break;
	}
}

static const char *period_word(enum td_frequency f)
{
	return f == TD_FREQ_DAILY ? "today" : f == TD_FREQ_MONTHLY ? "this month" :
	       "this week";
}

/* "2026-12-07T07:00:00Z", as `subscribers show --json` writes times; JSON
 * null for 0 (never). */
static struct td_value *utc_value(time_t t)
{
	char s[32];
	if (!t)
		return td_value_null();
	td_tz_format(NULL, t, "%Y-%m-%dT%H:%M:%SZ", s, sizeof s);
	return td_value_string(s);
}

/* One reader's state, worked out once for the line and for the JSON. */
struct row {
	const struct td_subscriber *sub;
	const char *status_name;   /* the roster's word, "new" for a file row */
	struct td_schedule rs;     /* their schedule: their own over the site's */
	time_t last_slot;          /* of their last digest, 0: never */
	time_t started_at;         /* when a clean start (store/start.h) is
				    * their last record: its time, else 0 */
	char note[64];             /* what stands for the due time when there
				    * is none: "due now", "unsubscribed", ... */
	time_t when;               /* next due (or retry) time, 0: see note */
	bool due_now, retrying;
	time_t paused_until;       /* 0: not paused */
	size_t waiting;            /* posts the digest holds now */
	int bounces;               /* in a row */
	double score;
	int hard;
	int attempts;              /* of the slot's failed digest, if any */
	char *last_error;          /* its error, malloc'd; NULL: none */
};

/* Fills r for sub. status: NULL for an active reader (their next due
 * time is worked out by the send engine's rule, td_schedule_due), else
 * what stands there instead ("unsubscribed", "pending", ...). */
static int reader_row(const struct td_status_options *opt, struct td_store *st,
		      struct td_zones *zones, const struct td_subscriber *sub,
		      const char *status_name, const char *status, time_t now,
		      struct row *r, struct td_err *err)
{
	memset(r, 0, sizeof *r);
	r->sub = sub;
	r->status_name = status_name;
	r->rs = td_schedule_for(&opt->schedule, &sub->prefs, zones);
	time_t S = td_schedule_last_slot(&r->rs, now);
	struct td_subscriber_state state;
	struct td_pending retry, pend;
	bool has_retry = false, has_pend = false;
	int rc;
	memset(&retry, 0, sizeof retry);
	memset(&pend, 0, sizeof pend);
	struct td_digest d;
	memset(&d, 0, sizeof d);
	if ((rc = td_store_subscriber_state(st, sub->email, &state, err)) ||
	    (rc = td_store_pending_retry(st, sub->email, &retry, &has_retry, err)) ||
	    (rc = td_store_pending_get(st, sub->email, S, &pend, &has_pend, err)) ||
	    (rc = td_digest_build(st, &opt->digest, sub, now, &d, err)) ||
	    (rc = td_store_bounce_score(st, sub->email, &opt->bounces, now, &r->score,
					&r->hard, err)))
		goto out;
	r->last_slot = state.last_slot;
	/* a clean start (store/start.h) is not a digest */
	r->started_at = state.started_last ? state.started_at : 0;
	r->waiting = d.total;
	r->bounces = td_store_bounce_count(st, sub->email);
	struct td_due rule = td_schedule_due(&r->rs, &sub->prefs, sub->not_before,
					     state.last_slot, now);
	bool fresh_due = rule.now;
	/* the retry that is still the reader's digest (deliver.c's rule) */
	bool retrying = has_retry && retry.slot > state.last_slot &&
			!(fresh_due && S > retry.slot);
	/* a digest of this slot that failed: what became of it */
	const struct td_pending *failed = retrying ? &retry : has_pend ? &pend : NULL;
	if (failed && failed->last_error && *failed->last_error) {
		r->attempts = failed->attempts;
		r->last_error = td_xstrdup(failed->last_error);
	}
	if (status) {
		snprintf(r->note, sizeof r->note, "%s", status);
	} else if (d.suppressed) {
		snprintf(r->note, sizeof r->note, "unsubscribed");
	} else if (sub->prefs.paused_until > now) {
		r->paused_until = sub->prefs.paused_until;
		td_tz_format(r->rs.tz, sub->prefs.paused_until, "paused to %Y-%m-%d", r->note,
			     sizeof r->note);
	} else if (retrying) {
		r->when = retry.next_attempt_at;
		r->retrying = true;
	} else if (fresh_due && has_pend && strcmp(pend.state, "expired") == 0) {
		snprintf(r->note, sizeof r->note, "given up %s", period_word(r->rs.freq));
	} else if (fresh_due && has_pend && strcmp(pend.state, "bounced") == 0) {
		snprintf(r->note, sizeof r->note, "refused %s", period_word(r->rs.freq));
	} else if (fresh_due) {
		snprintf(r->note, sizeof r->note, "due now");
		r->due_now = true;
	} else {
		r->when = rule.next;
	}
out:
	td_digest_free(&d);
	td_store_pending_free(&retry);
	td_store_pending_free(&pend);
	return rc;
}

static void row_free(struct row *r)
{
	free(r->last_error);
}

/* The bytes of s[0..n) that fit in cols terminal columns (td_utf8_width),
 * never splitting a character; *used gets their columns. */
static size_t fit(const char *s, size_t n, size_t cols, size_t *used)
{
	size_t i = 0, w = 0;
	while (i < n) {
		uint32_t cp;
		size_t k = td_utf8_next(s + i, n - i, &cp);
		if (k == 0)
			k = 1;
		size_t cw = td_utf8_width(s + i, k);
		if (w + cw > cols)
			break;
		w += cw;
		i += k;
	}
	*used = w;
	return i;
}

/* s in a column cols wide and a blank after it: padded by the columns a
 * terminal gives it (wide CJK counts two), cut with "…" when longer. */
static void cell(FILE *out, const char *s, size_t cols)
{
	size_t n = strlen(s), w;
	if (td_utf8_width(s, n) > cols) {
		size_t k = fit(s, n, cols - 1, &w);
		fwrite(s, 1, k, out);
		fputs("\u2026", out);
		w++;
	} else {
		fputs(s, out);
		w = td_utf8_width(s, n);
	}
	fprintf(out, "%*s", (int)(cols - w + 1), "");
}

/* The tags for a column cols wide: as many whole tags as fit and how many
 * more there are ("nato;usa +7"), so a long list keeps the table in
 * line; `status --json` and `subscribers show` have them all. */
static void fit_tags(const struct td_strv *tags, size_t cols, struct td_buf *out)
{
	for (size_t t = 0; t < tags->n; t++)
		td_buf_printf(out, "%s%s", t ? ";" : "", tags->v[t]);
	if (td_utf8_width(out->data, out->len) <= cols)
		return;
	for (size_t k = tags->n - 1; k >= 1; k--) {
		td_buf_reset(out);
		for (size_t t = 0; t < k; t++)
			td_buf_printf(out, "%s%s", t ? ";" : "", tags->v[t]);
		char more[32];
		int m = snprintf(more, sizeof more, " +%zu", tags->n - k);
		if (td_utf8_width(out->data, out->len) + (size_t)m <= cols) {
			td_buf_puts(out, more);
			return;
		}
	}
	/* not even the first tag fits whole: cut it, keep the count */
	char more[32] = "";
	if (tags->n > 1)
		snprintf(more, sizeof more, " +%zu", tags->n - 1);
	size_t w, k = fit(tags->v[0], strlen(tags->v[0]), cols - 1 - strlen(more), &w);
	td_buf_reset(out);
	td_buf_append(out, tags->v[0], k);
	td_buf_printf(out, "\u2026%s", more);
}

/* The table's columns, in terminal columns; WAITING comes last. */
enum { COL_EMAIL = 32, COL_STATUS = 12, COL_TAGS = 24, COL_SCHEDULE = 34,
       COL_LAST = 24, COL_DUE = 27, COL_SITE = 22 };

static void print_header(FILE *out)
{
	fputs("  ", out);
	cell(out, "EMAIL", COL_EMAIL);
	cell(out, "STATUS", COL_STATUS);
	cell(out, "TAGS", COL_TAGS);
	cell(out, "SCHEDULE", COL_SCHEDULE);
	cell(out, "LAST DIGEST", COL_LAST);
	cell(out, "NEXT DUE", COL_DUE);
	cell(out, "(SITE TIME)", COL_SITE);
	fputs("WAITING\n", out);
}

/* One reader's line. The address is never cut (it is what people search
 * for); a longer one pushes the rest of its line. */
static void print_row(FILE *out, const struct td_status_options *opt, const struct row *r)
{
	const struct td_tz *site_tz = opt->schedule.tz;
	char due[64], site_due[64] = "-", sched[96], last[64] = "never";
	snprintf(due, sizeof due, "%s", r->note);
	if (r->when) {
		td_tz_format(r->rs.tz, r->when, r->retrying ? "retry %Y-%m-%d %H:%M %Z" :
			     "%Y-%m-%d %H:%M %Z", due, sizeof due);
		/* the site's clock only when the reader keeps another */
		if (strcmp(td_tz_name(r->rs.tz), td_tz_name(site_tz)) != 0)
			td_tz_format(site_tz, r->when, "%Y-%m-%d %H:%M %Z", site_due,
				     sizeof site_due);
	}
	describe(&r->rs, sched, sizeof sched);
	if (r->started_at)
		td_tz_format(site_tz, r->started_at, "started clean %Y-%m-%d", last,
			     sizeof last);
	else if (r->last_slot)
		td_tz_format(site_tz, r->last_slot, "%Y-%m-%d %H:%M %Z", last, sizeof last);
	struct td_buf tags = TD_BUF_INIT;
	fit_tags(&r->sub->tags, COL_TAGS, &tags);
	fputs("  ", out);
	size_t ew = td_utf8_width(r->sub->email, strlen(r->sub->email));
	fprintf(out, "%s%*s", r->sub->email, (int)(ew < COL_EMAIL ? COL_EMAIL - ew + 1 : 1),
		"");
	cell(out, r->status_name, COL_STATUS);
	cell(out, td_buf_cstr(&tags), COL_TAGS);
	cell(out, sched, COL_SCHEDULE);
	cell(out, last, COL_LAST);
	cell(out, due, COL_DUE);
	cell(out, site_due, COL_SITE);
	fprintf(out, "%zu", r->waiting);
	if (r->last_error)
		fprintf(out, "  (attempt %d: %s)", r->attempts, r->last_error);
	if (r->bounces > 0)
		fprintf(out, "  (%d bounce%s in a row)", r->bounces, r->bounces == 1 ? "" : "s");
	/* what came back by mail: under 0.05 a score has decayed to nothing */
	if (r->score >= 0.05 || r->hard > 0)
		fprintf(out, "  (bounce score %.1f of %g, %d hard)", r->score,
			opt->bounces.soft_threshold, r->hard);
	fputc('\n', out);
	td_buf_free(&tags);
}

/* One reader as a JSON object (status.h lists the fields). */
static struct td_value *row_json(const struct row *r)
{
	struct td_value *o = td_value_map();
	td_value_map_set_str(o, "email", r->sub->email);
	td_value_map_set_str(o, "name", r->sub->name ? r->sub->name : "");
	td_value_map_set_str(o, "status", r->status_name);
	struct td_value *tags = td_value_map_child(o, "tags", TD_VALUE_LIST);
	for (size_t t = 0; t < r->sub->tags.n; t++)
		td_value_list_push(tags, td_value_string(r->sub->tags.v[t]));
	char sched[96];
	describe(&r->rs, sched, sizeof sched);
	struct td_value *s = td_value_map_child(o, "schedule", TD_VALUE_MAP);
	td_value_map_set_str(s, "frequency", td_frequency_name(r->rs.freq));
	td_value_map_set_str(s, "timezone", td_tz_name(r->rs.tz));
	td_value_map_set_str(s, "text", sched);
	td_value_map_set(o, "last_digest", utc_value(r->started_at ? 0 : r->last_slot));
	td_value_map_set(o, "started_clean", utc_value(r->started_at));
	td_value_map_set(o, "next_due", utc_value(r->when));
	td_value_map_set_bool(o, "due_now", r->due_now);
	td_value_map_set_bool(o, "retrying", r->retrying);
	td_value_map_set(o, "paused_until", utc_value(r->paused_until));
	td_value_map_set(o, "note", r->when || r->due_now ? td_value_null() :
			 td_value_string(r->note));
	td_value_map_set_int(o, "posts_waiting", (long long)r->waiting);
	struct td_value *b = td_value_map_child(o, "bounces", TD_VALUE_MAP);
	td_value_map_set_int(b, "in_a_row", r->bounces);
	char score[32];
	snprintf(score, sizeof score, "%.2f", r->score);
	td_value_map_set(b, "score", td_value_number(score));
	td_value_map_set_int(b, "hard", r->hard);
	if (r->last_error) {
		struct td_value *f = td_value_map_child(o, "failed", TD_VALUE_MAP);
		td_value_map_set_int(f, "attempts", r->attempts);
		td_value_map_set_str(f, "error", r->last_error);
	} else {
		td_value_map_set(o, "failed", td_value_null());
	}
	return o;
}

/* What td_readers_walk hands each reader to. */
struct walk {
	FILE *out;
	const struct td_status_options *opt;
	struct td_store *st;
	struct td_zones *zones;
	const char *path;
	time_t now;
	bool json;
	struct td_buf buf;       /* one reader's JSON */
	size_t readers;          /* written so far in the current JSON list */
	size_t fresh;            /* file rows not in the store, so far */
};

/* One line (or JSON object) per reader: the store's whatever their
 * status, then the file's rows the store does not have yet (the next
 * run's sync adds them, import.h, on the site's schedule). */
static int print_walked(const struct td_member *m, const struct td_subscriber *sub,
			void *ctx, struct td_err *err)
{
	struct walk *w = ctx;
	const char *name = m ? td_member_status_name(m->status) : "new";
	const char *status = !m || m->status == TD_MEMBER_ACTIVE ? NULL :
			     m->status == TD_MEMBER_PENDING ? "not confirmed" : name;
	if (!m && !w->fresh++) {
		if (w->json) {
			fputs("],\"unsynced\":[", w->out);
			w->readers = 0;
		} else {
			fprintf(w->out, "Not in the store yet (%s: the next run adds them):\n",
				w->path);
		}
	}
	struct row r;
	int rc = reader_row(w->opt, w->st, w->zones, sub, name, status, w->now, &r, err);
	if (rc == 0 && w->json) {
		struct td_value *v = row_json(&r);
		td_buf_reset(&w->buf);
		td_value_json(v, &w->buf);
		td_value_free(v);
		fprintf(w->out, "%s\n", w->readers++ ? "," : "");
		fwrite(w->buf.data, 1, w->buf.len, w->out);
	} else if (rc == 0) {
		print_row(w->out, w->opt, &r);
	}
	row_free(&r);
	return rc;
}

/* The events newest first, at most this many. */
#define BOUNCES_SHOWN 20

/* What came back by mail: the last 30 days by kind, the newest events. */
static int print_bounces(FILE *out, struct td_store *st, const struct td_tz *tz,
			 time_t now, bool json, struct td_err *err)
{
	size_t totals[4];
	struct td_bounce_event *ev;
	size_t n;
	int rc;
	if ((rc = td_store_bounce_totals(st, now - 30 * 86400, totals, err)) ||
	    (rc = td_store_bounce_events(st, NULL, BOUNCES_SHOWN, &ev, &n, err)))
		return rc;
	if (json) {
		struct td_value *b = td_value_map();
		struct td_value *t = td_value_map_child(b, "last_30_days", TD_VALUE_MAP);
		td_value_map_set_int(t, "hard", (long long)totals[TD_BOUNCE_HARD]);
		td_value_map_set_int(t, "soft", (long long)totals[TD_BOUNCE_SOFT]);
		td_value_map_set_int(t, "complaint", (long long)totals[TD_BOUNCE_COMPLAINT]);
		td_value_map_set_int(t, "note", (long long)totals[TD_BOUNCE_NOTE]);
		struct td_value *l = td_value_map_child(b, "events", TD_VALUE_LIST);
		for (size_t i = 0; i < n; i++) {
			struct td_value *e = td_value_list_push(l, td_value_map());
			td_value_map_set(e, "at", utc_value(ev[i].at));
			td_value_map_set_str(e, "email", ev[i].email);
			td_value_map_set_str(e, "kind", td_bounce_kind_name(ev[i].kind));
			td_value_map_set_str(e, "status", ev[i].status);
			td_value_map_set_str(e, "reason", ev[i].reason);
			td_value_map_set_str(e, "action", td_bounce_action_name(ev[i].action));
			td_value_map_set_str(e, "detail", ev[i].detail);
		}
		struct td_buf buf = TD_BUF_INIT;
		td_value_json(b, &buf);
		fprintf(out, ",\n\"bounces\":%s", td_buf_cstr(&buf));
		td_buf_free(&buf);
		td_value_free(b);
		td_bounce_events_free(ev, n);
		return 0;
	}
	fprintf(out, "Bounces and complaints (last 30 days: %zu hard, %zu soft, "
		"%zu complaint%s, %zu note%s):%s\n", totals[TD_BOUNCE_HARD],
		totals[TD_BOUNCE_SOFT], totals[TD_BOUNCE_COMPLAINT],
		totals[TD_BOUNCE_COMPLAINT] == 1 ? "" : "s", totals[TD_BOUNCE_NOTE],
		totals[TD_BOUNCE_NOTE] == 1 ? "" : "s",
		n ? "" : " none recorded (`tagdigest bounces` reads them)");
	for (size_t i = 0; i < n; i++) {
		char when[64];
		td_tz_format(tz, ev[i].at, "%Y-%m-%d %H:%M %Z", when, sizeof when);
		fprintf(out, "  %-22s %-32s %-9s %-7s %-14s %s%s%.120s\n", when, ev[i].email,
			td_bounce_kind_name(ev[i].kind), *ev[i].status ? ev[i].status : "-",
			*ev[i].reason ? ev[i].reason : "-",
			td_bounce_action_name(ev[i].action), *ev[i].detail ? ": " : "",
			ev[i].detail);
	}
	td_bounce_events_free(ev, n);
	return 0;
}

/* The site's slot, the store and the sources, as the JSON document's
 * first members (its opening brace included). */
static void json_head(FILE *out, const struct td_status_options *opt, struct td_store *st,
		      time_t now, const size_t counts[5])
{
	struct td_value *h = td_value_map();
	td_value_map_set(h, "now", utc_value(now));
	char rule[96];
	describe(&opt->schedule, rule, sizeof rule);
	struct td_value *site = td_value_map_child(h, "site", TD_VALUE_MAP);
	td_value_map_set_str(site, "schedule", rule);
	td_value_map_set_str(site, "timezone", td_tz_name(opt->schedule.tz));
	td_value_map_set(site, "last_slot",
			 utc_value(td_schedule_last_slot(&opt->schedule, now)));
	td_value_map_set(site, "next_slot",
			 utc_value(td_schedule_next_slot(&opt->schedule, now)));
	struct td_value *store = td_value_map_child(h, "store", TD_VALUE_MAP);
	td_value_map_set_str(store, "path", opt->store_path);
	td_value_map_set_int(store, "posts", (long long)td_store_post_count(st));
	td_value_map_set_int(store, "newest_seq", (long long)td_store_max_seq(st));
	struct td_value *srcs = td_value_map_child(h, "sources", TD_VALUE_LIST);
	for (size_t i = 0; i < opt->nsources; i++) {
		struct td_source_state ss;
		if (td_store_source_state(st, opt->sources[i].name, &ss, NULL) != 0)
			continue;
		struct td_value *v = td_value_list_push(srcs, td_value_map());
		td_value_map_set_str(v, "name", opt->sources[i].name);
		td_value_map_set_str(v, "type", opt->sources[i].type);
		td_value_map_set(v, "last_success", utc_value(ss.last_success));
		td_value_map_set_int(v, "consecutive_failures", ss.failures);
		td_value_map_set(v, "last_error", ss.last_error[0] ?
				 td_value_string(ss.last_error) : td_value_null());
		td_value_map_set(v, "last_error_at", ss.last_error[0] ?
				 utc_value(ss.last_error_at) : td_value_null());
		/* the text view's "ok since": the last error is over */
		td_value_map_set(v, "ok_since", ss.failures ? td_value_null() :
				 utc_value(ss.ok_since));
		free(ss.last_error);
	}
	struct td_value *c = td_value_map_child(h, "counts", TD_VALUE_MAP);
	for (int k = TD_MEMBER_PENDING; k <= TD_MEMBER_COMPLAINED; k++)
		td_value_map_set_int(c, td_member_status_name((enum td_member_status)k),
				     (long long)counts[k]);
	struct td_buf buf = TD_BUF_INIT;
	td_value_json(h, &buf);
	/* the members go on: drop the closing brace */
	fwrite(buf.data, 1, buf.len - 1, out);
	td_buf_free(&buf);
	td_value_free(h);
}

static int report(FILE *out, const struct td_status_options *opt, struct td_store *st,
		  const char *subscribers_path, time_t now, bool json, struct td_err *err)
{
	const struct td_tz *tz = opt->schedule.tz;
	size_t counts[5];
	int rc = td_roster_counts(st, counts, err);
	if (rc)
		return rc;
	if (json) {
		json_head(out, opt, st, now, counts);
		fputs(",\n\"readers\":[", out);
	} else {
		time_t slot = td_schedule_last_slot(&opt->schedule, now);
		time_t next = td_schedule_next_slot(&opt->schedule, now);
		char slot_s[64], next_s[64], rule[96];
		td_tz_format(tz, slot, WHEN_FMT, slot_s, sizeof slot_s);
		td_tz_format(tz, next, WHEN_FMT, next_s, sizeof next_s);
		describe(&opt->schedule, rule, sizeof rule);
		fprintf(out, "Site schedule: %s: last slot %s, next %s (a reader's own "
			"choice of frequency, day, time or zone goes first)\n", rule, slot_s,
			next_s);
		char posts[48];
		fprintf(out, "Store: %s: %s, newest seq %lld\n", opt->store_path,
			td_count(posts, sizeof posts, td_store_post_count(st), "post", "posts"),
			(long long)td_store_max_seq(st));
		print_sources(out, opt, st);
		fprintf(out, "Readers (%zu active, %zu pending, %zu unsubscribed, %zu bounced, "
			"%zu complained):\n", counts[TD_MEMBER_ACTIVE], counts[TD_MEMBER_PENDING],
			counts[TD_MEMBER_UNSUBSCRIBED], counts[TD_MEMBER_BOUNCED],
			counts[TD_MEMBER_COMPLAINED]);
		print_header(out);
	}
	struct walk w = { out, opt, st, td_zones_new(), subscribers_path, now, json,
			  TD_BUF_INIT, 0, 0 };
	struct td_err ferr;
	rc = td_readers_walk(st, subscribers_path, true, print_walked, &w, NULL, &ferr, err);
	td_zones_free(w.zones);
	td_buf_free(&w.buf);
	if (rc)
		return rc;
	if (ferr.code)
		td_log_warnx("status: %s; the readers above are the store's only", ferr.msg);
	struct td_suppression *sup;
	size_t nsup;
	rc = td_store_suppressions(st, NULL, &sup, &nsup, err);
	if (rc)
		return rc;
	if (json) {
		struct td_value *tail = td_value_map();
		td_value_map_set(tail, "subscriber_file_error", ferr.code ?
				 td_value_string(ferr.msg) : td_value_null());
		struct td_value *l = td_value_map_child(tail, "suppressions", TD_VALUE_LIST);
		for (size_t i = 0; i < nsup; i++) {
			struct td_value *v = td_value_list_push(l, td_value_map());
			td_value_map_set_str(v, "email", sup[i].email);
			td_value_map_set_str(v, "scope", sup[i].scope);
			td_value_map_set_str(v, "reason", sup[i].reason);
			td_value_map_set(v, "since", utc_value(sup[i].created_at));
			td_value_map_set_str(v, "detail", sup[i].detail);
		}
		struct td_buf buf = TD_BUF_INIT;
		td_value_json(tail, &buf);
		/* its members follow the readers' lists: no braces */
		fprintf(out, "%s],\n%.*s", w.fresh ? "" : "],\"unsynced\":[",
			(int)(buf.len - 2), buf.data + 1);
		td_buf_free(&buf);
		td_value_free(tail);
	} else {
		fprintf(out, "Suppressions (%zu):%s\n", nsup,
			nsup ? "" : " none (`tagdigest unsuppress EMAIL` lifts one)");
		for (size_t i = 0; i < nsup; i++) {
			char when[64];
			td_tz_format(tz, sup[i].created_at, "%Y-%m-%d %H:%M %Z",
				     when, sizeof when);
			fprintf(out, "  %-32s %-20s %-13s since %s%s%s\n", sup[i].email,
				sup[i].scope, sup[i].reason, when, sup[i].detail[0] ? ": " : "",
				sup[i].detail);
		}
	}
	td_store_suppressions_free(sup, nsup);
	rc = print_bounces(out, st, tz, now, json, err);
	if (rc == 0 && json)
		fputs("}\n", out);
	return rc;
}

int td_status_print(FILE *out, const struct td_status_options *opt,
		    struct td_store *st, const char *subscribers_path, time_t now,
		    struct td_err *err)
{
	return report(out, opt, st, subscribers_path, now, false, err);
}

int td_status_print_json(FILE *out, const struct td_status_options *opt,
			 struct td_store *st, const char *subscribers_path, time_t now,
			 struct td_err *err)
{
	return report(out, opt, st, subscribers_path, now, true, err);
}
