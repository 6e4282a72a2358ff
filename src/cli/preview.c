/*
 * preview.c: `preview`, the message one subscriber would get now,
 * composed as `send` composes it (compose.h); it changes nothing.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "tagdigest/compose/compose.h"
#include "tagdigest/core/log.h"
#include "tagdigest/cli/options.h"
#include "tagdigest/schedule/readers.h"

static const char preview_help[] =
	"usage: tagdigest preview --to EMAIL [--format eml|html|text] [--out FILE]\n\n"
	"Renders exactly the message EMAIL would get now, without sending it or\n"
	"changing the store.\n"
	"  --to EMAIL      a reader: in the store (with their own schedule), or a\n"
	"                  row of the subscriber file the next run adds\n"
	"  --format FMT    eml (the whole message, default), html or text (one part)\n"
	"  --out FILE      write there instead of standard output\n";

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
		rc = td_err_set(&err, EX_DATAERR, "preview: %s is neither in the store nor "
				"in %s", to, cfg.subscribers_path);
		td_cli_fail(&err);
		goto out;
	}
	if (reader.status != TD_MEMBER_ACTIVE) {
		rc = td_err_set(&err, EX_DATAERR, "preview: %s is %s: `send` would send "
				"them nothing%s", to, td_member_status_name(reader.status),
				reader.status == TD_MEMBER_PENDING ?
				" until they confirm their sign-up" : "");
		td_cli_fail(&err);
		goto out;
	}
	const struct td_subscriber *sub = &reader.view;
	struct td_compose_options co = td_options_compose(&cfg);
	if ((rc = td_composer_new(&co, st, &composer, &err))) {
		td_cli_fail(&err);
		goto out;
	}
	struct td_composed m;
	if ((rc = td_compose(composer, sub, time(NULL), &m, &err))) {
		td_cli_fail(&err);
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
