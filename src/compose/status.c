/*
 * status.c: the `status` report (see status.h).
 */
#include "tagdigest/compose/status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tagdigest/core/buf.h"

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

int td_status_print(FILE *out, const struct td_status_options *opt,
		    struct td_store *st, const struct td_subscriber_list *subs,
		    time_t now, struct td_err *err)
{
	const struct td_tz *tz = opt->schedule.tz;
	time_t slot = td_schedule_last_slot(&opt->schedule, now);
	time_t next = td_schedule_next_slot(&opt->schedule, now);
	char slot_s[64], next_s[64];
	td_tz_format(tz, slot, WHEN_FMT, slot_s, sizeof slot_s);
	td_tz_format(tz, next, WHEN_FMT, next_s, sizeof next_s);
	fprintf(out, "Weekly slot: last %s, next %s\n", slot_s, next_s);
	fprintf(out, "Store: %s: %zu posts, newest seq %lld\n", opt->store_path,
		td_store_post_count(st), (long long)td_store_max_seq(st));
	print_sources(out, opt, st);
	fprintf(out, "Subscribers (%zu):\n", subs->n);
	fprintf(out, "  %-32s %-28s %9s  %-22s %-22s %s\n", "EMAIL", "TAGS",
		"WATERMARK", "LAST DIGEST", "NEXT DUE", "WAITING");
	for (size_t i = 0; i < subs->n; i++) {
		const struct td_subscriber *sub = &subs->v[i];
		struct td_subscriber_state state;
		bool done;
		int rc;
		if ((rc = td_store_subscriber_state(st, sub->email, &state, err)) ||
		    (rc = td_store_slot_done(st, sub->email, slot, &done, err)))
			return rc;
		struct td_digest d;
		if ((rc = td_digest_build(st, &opt->digest, sub, now, &d, err)))
			return rc;
		struct td_buf tags = TD_BUF_INIT;
		for (size_t t = 0; t < sub->tags.n; t++)
			td_buf_printf(&tags, "%s%s", t ? ";" : "", sub->tags.v[t]);
		char last[64] = "never", due[64] = "due now";
		if (state.last_slot)
			td_tz_format(tz, state.last_slot, "%Y-%m-%d %H:%M %Z",
				     last, sizeof last);
		/* a digest this slot that failed: say what became of it */
		struct td_pending pend;
		bool pending = false;
		if ((rc = td_store_pending_get(st, sub->email, slot, &pend, &pending, err))) {
			td_store_pending_free(&pend);
			td_buf_free(&tags);
			td_digest_free(&d);
			return rc;
		}
		if (d.suppressed)
			snprintf(due, sizeof due, "unsubscribed");
		else if (pending && strcmp(pend.state, "retry") == 0)
			td_tz_format(tz, pend.next_attempt_at,
				     "retry %Y-%m-%d %H:%M", due, sizeof due);
		else if (pending && strcmp(pend.state, "expired") == 0)
			snprintf(due, sizeof due, "given up this week");
		else if (pending && strcmp(pend.state, "bounced") == 0)
			snprintf(due, sizeof due, "refused this week");
		else if (done)
			td_tz_format(tz, next, "%Y-%m-%d %H:%M %Z", due,
				     sizeof due);
		int bounces = td_store_bounce_count(st, sub->email);
		fprintf(out, "  %-32s %-28s %9lld  %-22s %-22s %zu", sub->email,
			td_buf_cstr(&tags), (long long)state.watermark, last, due, d.total);
		if (pending && pend.last_error && *pend.last_error)
			fprintf(out, "  (attempt %d: %s)", pend.attempts, pend.last_error);
		if (bounces > 0)
			fprintf(out, "  (%d bounce%s in a row)", bounces, bounces == 1 ? "" : "s");
		fputc('\n', out);
		td_store_pending_free(&pend);
		td_buf_free(&tags);
		td_digest_free(&d);
	}
	struct td_suppression *sup;
	size_t nsup;
	int rc = td_store_suppressions(st, NULL, &sup, &nsup, err);
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
	return 0;
}
