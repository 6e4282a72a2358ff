/*
 * preview.c: `preview`, the message one subscriber would get now,
 * composed as `send` composes it (compose.h); it changes nothing.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "tagdigest/compose/compose.h"
#include "tagdigest/core/buf.h"
#include "tagdigest/core/log.h"
#include "tagdigest/cli/options.h"
#include "tagdigest/schedule/readers.h"
#include "tagdigest/store/bounces.h"

static const char preview_help[] =
	"usage: tagdigest preview --to EMAIL [--format eml|html|text] [--out FILE]\n\n"
	"Renders exactly the message EMAIL would get now, without sending it or\n"
	"changing the store.\n"
	"  --to EMAIL      a reader: in the store (with their own schedule), or a\n"
	"                  row of the subscriber file the next run adds\n"
	"  --format FMT    eml (the whole message, default), html or text (one part)\n"
	"  --out FILE      write there instead of standard output\n\n"
	"A reader `send` would send nothing to is not previewed: one who\n"
	"unsubscribed, bounced, complained, has not confirmed, or paused their\n"
	"digests is named with the reason (when, how, what came back) on\n"
	"standard error. An active reader with nothing new is previewed (the\n"
	"empty digest `send` would skip), with a warning.\n\n"
	"exit status: 0 previewed, 64 usage, 65 the reader gets no digest (the\n"
	"reason is on standard error), 67 no such reader (neither in the store\n"
	"nor in the subscriber file), 73 or 74 --out cannot be written.\n";

/* "2026-12-05 04:09 CET", in the site's zone. */
static const char *site_time(const struct td_config *cfg, time_t t, char *out, size_t n)
{
	td_tz_format(cfg->tz, t, "%Y-%m-%d %H:%M %Z", out, n);
	return out;
}

/* Why `send` sends the reader nothing, as the store recorded it: since
 * when, how (the suppression's detail: "form", "subscribers remove by
 * ann"), for a bounce or complaint what came back (the newest event that
 * acted, as the desk shows it), and the way back. Appended to b. */
static void why_nothing(const struct td_config *cfg, struct td_store *st,
			const struct td_reader *r, struct td_buf *b)
{
	const char *email = r->view.email;
	char at[64];
	time_t since = r->in_store ? r->member.changed_at : 0;
	const char *how = "";
	struct td_suppression *sup = NULL;
	size_t nsup = 0;
	if (td_store_suppressions(st, email, &sup, &nsup, NULL) == 0)
		for (size_t i = 0; i < nsup; i++)
			if (strcmp(sup[i].scope, "all") == 0) {
				since = sup[i].created_at;
				how = sup[i].detail;
			}
	td_buf_printf(b, "%s is %s", email, r->status == TD_MEMBER_PENDING ?
		      "pending" : td_member_status_name(r->status));
	if (since)
		td_buf_printf(b, " since %s", site_time(cfg, since, at, sizeof at));
	if (*how)
		td_buf_printf(b, " (%s)", how);
	td_store_suppressions_free(sup, nsup);
	struct td_bounce_event *ev = NULL;
	size_t n = 0;
	if ((r->status == TD_MEMBER_BOUNCED || r->status == TD_MEMBER_COMPLAINED) &&
	    td_store_bounce_events(st, email, 20, &ev, &n, NULL) == 0) {
		for (size_t i = 0; i < n; i++) {
			if (ev[i].action != TD_BOUNCE_SUPPRESSED &&
			    ev[i].action != TD_BOUNCE_UNSUBSCRIBED)
				continue;
			td_buf_printf(b, "; what came back: %s%s%s%s%s on %s",
				      td_bounce_kind_name(ev[i].kind), *ev[i].status ? " " : "",
				      ev[i].status, *ev[i].reason ? " " : "", ev[i].reason,
				      site_time(cfg, ev[i].at, at, sizeof at));
			break;
		}
		td_bounce_events_free(ev, n);
	}
	td_buf_puts(b, ": `send` would send them nothing");
	switch (r->status) {
	case TD_MEMBER_PENDING:
		td_buf_puts(b, " until they confirm their sign-up");
		break;
	case TD_MEMBER_UNSUBSCRIBED:
		td_buf_puts(b, "; only the reader can subscribe again (preference centre "
			    "or sign-up page)");
		break;
	case TD_MEMBER_BOUNCED:
	case TD_MEMBER_COMPLAINED:
		td_buf_printf(b, "; `tagdigest unsuppress %s` lifts it%s", email,
			      r->status == TD_MEMBER_COMPLAINED ?
			      ", if the reader asks you to" : "");
		break;
	default:
		break;
	}
}

static int write_preview(const struct td_composed *m, const char *format,
			 const char *out_path)
{
	const char *data = m->message.data;
	size_t len = m->message.len;
	if (strcmp(format, "html") == 0) {
		data = m->parts.html;
		len = strlen(data);
	} else if (strcmp(format, "text") == 0) {
		data = m->parts.text;
		len = strlen(data);
	}
	FILE *f = out_path ? fopen(out_path, "wb") : stdout;
	if (!f) {
		td_log_warn("preview: %s", out_path);
		return EX_CANTCREAT;
	}
	bool ok = fwrite(data, 1, len, f) == len;
	if (out_path)
		ok = fclose(f) == 0 && ok;
	else
		ok = fflush(f) == 0 && ok;
	if (!ok) {
		td_log_warn("preview: write %s", out_path ? out_path : "standard output");
		return EX_IOERR;
	}
	return 0;
}

int td_cli_preview(const struct td_cli_globals *g, int argc, char **argv)
{
	bool helped;
	const char *to = NULL, *format = "eml", *out_path = NULL;
	struct td_cli_opt opts[] = {
		{ "--to", true, &to, NULL },
		{ "--format", true, &format, NULL },
		{ "--out", true, &out_path, NULL },
	};
	int rc = td_cli_parse_opts("preview", preview_help, argc, argv, opts, 3, &helped);
	if (rc || helped)
		return rc;
	if (!to)
		return td_cli_usage_error("preview", "--to EMAIL is required", NULL);
	if (strcmp(format, "eml") && strcmp(format, "html") && strcmp(format, "text"))
		return td_cli_usage_error("preview", "--format must be eml, html or text",
					  format);
	struct td_config cfg;
	if ((rc = td_cli_load_config(g, &cfg)))
		return rc;
	struct td_reader reader = { 0 };
	struct td_store *st = NULL;
	struct td_composer *composer = NULL;
	struct td_err err = { 0, "" };
	/* the reader as `send` walks them: the store's roster (their own
	 * schedule and first slot), else a file row the next run adds */
	if ((rc = td_store_open(cfg.store_path, TD_STORE_READONLY, &st, &err)) ||
	    (rc = td_reader_find(st, cfg.subscribers_path, to, &reader, &err))) {
		td_cli_fail(&err);
		goto out;
	}
	if (!reader.found) {
		rc = td_err_set(&err, EX_NOUSER, "preview: %s is neither in the store nor "
				"in %s", to, cfg.subscribers_path);
		td_cli_fail(&err);
		goto out;
	}
	const struct td_subscriber *sub = &reader.view;
	time_t now = time(NULL);
	if (reader.status != TD_MEMBER_ACTIVE) {
		struct td_buf why = TD_BUF_INIT;
		why_nothing(&cfg, st, &reader, &why);
		td_log_warnx("preview: %s", td_buf_cstr(&why));
		td_buf_free(&why);
		rc = EX_DATAERR;
		goto out;
	}
	if (sub->prefs.paused_until > now) {
		char until[64];
		td_log_warnx("preview: %s paused their digests until %s (preference "
			     "centre): `send` would send them nothing before then", sub->email,
			     site_time(&cfg, sub->prefs.paused_until, until, sizeof until));
		rc = EX_DATAERR;
		goto out;
	}
	struct td_compose_options co = td_options_compose(&cfg);
	if ((rc = td_composer_new(&co, st, &composer, &err))) {
		td_cli_fail(&err);
		goto out;
	}
	struct td_composed m;
	if ((rc = td_compose(composer, sub, now, &m, &err))) {
		td_cli_fail(&err);
		goto out;
	}
	/* active on the roster, yet left everything (a suppression the
	 * roster does not mirror): the digest says so, not "no new posts" */
	if (m.digest.suppressed) {
		td_log_warnx("preview: %s is suppressed (see `tagdigest status`): `send` "
			     "would send them nothing", sub->email);
		td_composed_free(&m);
		rc = EX_DATAERR;
		goto out;
	}
	if (m.digest.total == 0)
		td_log_warnx("preview: %s has no new posts in their tags: `send` would "
			     "skip this digest", sub->email);
	rc = write_preview(&m, format, out_path);
	td_composed_free(&m);
out:
	td_composer_free(composer);
	td_reader_free(&reader);
	td_store_close(st);
	td_config_free(&cfg);
	return rc;
}
