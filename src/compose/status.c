/*
 * status.c: the `status` report (see status.h). Readers are read a page
 * of the roster at a time and printed as they come, so the report
 * streams whatever the number of readers; each line asks the store what
 * the send engine asks (deliver.h) to say when the reader is due.
 */
#include "tagdigest/compose/status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tagdigest/core/buf.h"
#include "tagdigest/core/log.h"
#include "tagdigest/schedule/readers.h"
#include "tagdigest/store/roster.h"

#define WHEN_FMT "%a %d %b %Y %H:%M %Z"

static void print_sources(FILE *out, const struct td_status_options *opt,
			  struct td_store *st)
{
	fprintf(out, "Sources:\n");
	for (size_t i = 0; i < opt->nsources; i++) {
		const struct td_source_config *src = &opt->sources[i];
		struct td_source_state s;
		if (td_store_source_state(st, src->name, &s, NULL) != 0)
			continue;
		char ok[64] = "never";
		if (s.last_success)
			td_tz_format(opt->schedule.tz, s.last_success, WHEN_FMT, ok, sizeof ok);
		fprintf(out, "  %-16s %-6s last success: %s; consecutive failures: %d%s%s\n",
			src->name, src->type, ok, s.failures,
			s.last_error[0] ? "; last error: " : "", s.last_error);
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

/* One reader's line. status: NULL for an active reader (their next due
 * time is worked out by the send engine's rule, deliver.h), else what
 * stands there instead ("unsubscribed", "pending", ...). */
static int print_reader(FILE *out, const struct td_status_options *opt,
			struct td_store *st, struct td_zones *zones,
			const struct td_subscriber *sub, const char *status_name,
			const char *status, time_t now, struct td_err *err)
{
	const struct td_tz *site_tz = opt->schedule.tz;
	struct td_schedule rs = td_schedule_for(&opt->schedule, &sub->prefs, zones);
	time_t S = td_schedule_last_slot(&rs, now);
	struct td_subscriber_state state;
	struct td_pending retry, pend;
	bool has_retry = false, has_pend = false;
	int rc;
	memset(&retry, 0, sizeof retry);
	memset(&pend, 0, sizeof pend);
	if ((rc = td_store_subscriber_state(st, sub->email, &state, err)) ||
	    (rc = td_store_pending_retry(st, sub->email, &retry, &has_retry, err)) ||
	    (rc = td_store_pending_get(st, sub->email, S, &pend, &has_pend, err))) {
		td_store_pending_free(&retry);
		td_store_pending_free(&pend);
		return rc;
	}
	struct td_digest d;
	if ((rc = td_digest_build(st, &opt->digest, sub, now, &d, err))) {
		td_store_pending_free(&retry);
		td_store_pending_free(&pend);
		return rc;
	}
	struct td_due rule = td_schedule_due(&rs, &sub->prefs, sub->not_before,
					     state.last_slot, now);
	bool fresh_due = rule.now;
	/* the retry that is still the reader's digest (deliver.c's rule) */
	bool retrying = has_retry && retry.slot > state.last_slot &&
			!(fresh_due && S > retry.slot);
	/* a digest of this slot that failed: what became of it */
	const struct td_pending *failed = retrying ? &retry : has_pend ? &pend : NULL;

	char due[64] = "", site_due[64] = "";
	time_t when = 0;
	if (status)
		snprintf(due, sizeof due, "%s", status);
	else if (d.suppressed)
		snprintf(due, sizeof due, "unsubscribed");
	else if (sub->prefs.paused_until > now)
		td_tz_format(rs.tz, sub->prefs.paused_until, "paused to %Y-%m-%d", due,
			     sizeof due);
	else if (retrying)
		when = retry.next_attempt_at;
	else if (fresh_due && has_pend && strcmp(pend.state, "expired") == 0)
		snprintf(due, sizeof due, "given up %s", period_word(rs.freq));
	else if (fresh_due && has_pend && strcmp(pend.state, "bounced") == 0)
		snprintf(due, sizeof due, "refused %s", period_word(rs.freq));
	else if (fresh_due)
		snprintf(due, sizeof due, "due now");
	else
		when = rule.next;
	if (when) {
		td_tz_format(rs.tz, when, retrying ? "retry %Y-%m-%d %H:%M %Z" :
			     "%Y-%m-%d %H:%M %Z", due, sizeof due);
		td_tz_format(site_tz, when, "%Y-%m-%d %H:%M %Z", site_due, sizeof site_due);
	}

	struct td_buf tags = TD_BUF_INIT;
	for (size_t t = 0; t < sub->tags.n; t++)
		td_buf_printf(&tags, "%s%s", t ? ";" : "", sub->tags.v[t]);
	char sched[96], last[64] = "never";
	describe(&rs, sched, sizeof sched);
	/* a clean start (store/start.h) is not a digest */
	if (state.started_last)
		td_tz_format(site_tz, state.started_at, "started clean %Y-%m-%d", last,
			     sizeof last);
	else if (state.last_slot)
		td_tz_format(site_tz, state.last_slot, "%Y-%m-%d %H:%M %Z", last, sizeof last);
	int bounces = td_store_bounce_count(st, sub->email);
	double score;
	int hard;
	if ((rc = td_store_bounce_score(st, sub->email, &opt->bounces, now, &score, &hard,
					err))) {
		td_buf_free(&tags);
		td_digest_free(&d);
		td_store_pending_free(&retry);
		td_store_pending_free(&pend);
		return rc;
	}
	fprintf(out, "  %-32s %-12s %-24s %-34s %9lld  %-22s %-26s %-22s %zu", sub->email,
		status_name, td_buf_cstr(&tags), sched, (long long)state.watermark, last,
		due, site_due[0] ? site_due : "-", d.total);
	if (failed && failed->last_error && *failed->last_error)
		fprintf(out, "  (attempt %d: %s)", failed->attempts, failed->last_error);
	if (bounces > 0)
		fprintf(out, "  (%d bounce%s in a row)", bounces, bounces == 1 ? "" : "s");
	/* what came back by mail: under 0.05 a score has decayed to nothing */
	if (score >= 0.05 || hard > 0)
		fprintf(out, "  (bounce score %.1f of %g, %d hard)", score,
			opt->bounces.soft_threshold, hard);
	fputc('\n', out);
	td_buf_free(&tags);
	td_digest_free(&d);
	td_store_pending_free(&retry);
	td_store_pending_free(&pend);
	return 0;
}

/* What td_readers_walk hands each reader to. */
struct walk {
	FILE *out;
	const struct td_status_options *opt;
	struct td_store *st;
	struct td_zones *zones;
	const char *path;
	time_t now;
	size_t fresh;            /* file rows not in the store, so far */
};

/* One line per reader: the store's whatever their status, then the
 * file's rows the store does not have yet (the next run's sync adds them,
 * import.h, on the site's schedule). */
static int print_walked(const struct td_member *m, const struct td_subscriber *sub,
			void *ctx, struct td_err *err)
{
	struct walk *w = ctx;
	if (!m) {
		if (!w->fresh++)
			fprintf(w->out, "Not in the store yet (%s: the next run adds them):\n",
				w->path);
		return print_reader(w->out, w->opt, w->st, w->zones, sub, "new", NULL,
				    w->now, err);
	}
	const char *name = td_member_status_name(m->status);
	return print_reader(w->out, w->opt, w->st, w->zones, sub, name,
			    m->status == TD_MEMBER_ACTIVE ? NULL :
			    m->status == TD_MEMBER_PENDING ? "not confirmed" : name,
			    w->now, err);
}

/* The events newest first, at most this many. */
#define BOUNCES_SHOWN 20

/* What came back by mail: the last 30 days by kind, the newest events. */
static int print_bounces(FILE *out, struct td_store *st, const struct td_tz *tz,
			 time_t now, struct td_err *err)
{
	size_t totals[4];
	struct td_bounce_event *ev;
	size_t n;
	int rc;
	if ((rc = td_store_bounce_totals(st, now - 30 * 86400, totals, err)) ||
	    (rc = td_store_bounce_events(st, NULL, BOUNCES_SHOWN, &ev, &n, err)))
		return rc;
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

int td_status_print(FILE *out, const struct td_status_options *opt,
		    struct td_store *st, const char *subscribers_path, time_t now,
		    struct td_err *err)
{
	const struct td_tz *tz = opt->schedule.tz;
	time_t slot = td_schedule_last_slot(&opt->schedule, now);
	time_t next = td_schedule_next_slot(&opt->schedule, now);
	char slot_s[64], next_s[64], rule[96];
	td_tz_format(tz, slot, WHEN_FMT, slot_s, sizeof slot_s);
	td_tz_format(tz, next, WHEN_FMT, next_s, sizeof next_s);
	describe(&opt->schedule, rule, sizeof rule);
	fprintf(out, "Site schedule: %s: last slot %s, next %s (a reader's own "
		"choice of frequency, day, time or zone goes first)\n", rule, slot_s, next_s);
	fprintf(out, "Store: %s: %zu posts, newest seq %lld\n", opt->store_path,
		td_store_post_count(st), (long long)td_store_max_seq(st));
	print_sources(out, opt, st);
	size_t counts[5];
	int rc = td_roster_counts(st, counts, err);
	if (rc)
		return rc;
	fprintf(out, "Readers (%zu active, %zu pending, %zu unsubscribed, %zu bounced, "
		"%zu complained):\n", counts[TD_MEMBER_ACTIVE], counts[TD_MEMBER_PENDING],
		counts[TD_MEMBER_UNSUBSCRIBED], counts[TD_MEMBER_BOUNCED],
		counts[TD_MEMBER_COMPLAINED]);
	fprintf(out, "  %-32s %-12s %-24s %-34s %9s  %-22s %-26s %-22s %s\n", "EMAIL",
		"STATUS", "TAGS", "SCHEDULE", "WATERMARK", "LAST DIGEST", "NEXT DUE",
		"(SITE TIME)", "WAITING");
	struct walk w = { out, opt, st, td_zones_new(), subscribers_path, now, 0 };
	struct td_err ferr;
	rc = td_readers_walk(st, subscribers_path, true, print_walked, &w, NULL, &ferr, err);
	td_zones_free(w.zones);
	if (rc)
		return rc;
	if (ferr.code)
		td_log_warnx("status: %s; the readers above are the store's only", ferr.msg);
	struct td_suppression *sup;
	size_t nsup;
	rc = td_store_suppressions(st, NULL, &sup, &nsup, err);
	if (rc)
		return rc;
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
	td_store_suppressions_free(sup, nsup);
	return print_bounces(out, st, tz, now, err);
}
