/*
 * bounce_dump.c: `bounce-dump`, what the bounce parser understands of
 * returned mails (report.h), one JSON line per file; it changes nothing.
 * Several files in one run, so a corpus costs one process.
 */
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "tagdigest/bounce/report.h"
#include "tagdigest/core/log.h"
#include "tagdigest/core/util.h"

static const char bounce_dump_help[] =
	"usage: tagdigest bounce-dump FILE...\n\n"
	"Parses each file as one mail (a bounce, a feedback report, an\n"
	"auto-reply or anything else; LF or CRLF, a leading mbox \"From \" line\n"
	"is skipped) and prints what tagdigest understood, one JSON object a\n"
	"line, in the order given:\n"
	"  {\"bounce\": true, \"feedback\": null, \"recipients\": [{\"address\":\n"
	"   \"user@example.com\", \"status\": \"5.1.1\", \"reply_code\": \"550\",\n"
	"   \"reason\": \"userunknown\", \"hard\": true}]}\n"
	"Changes nothing, needs no config. Exit status 66 when a file could not\n"
	"be read (the others are still printed).\n";

#define MAX_FILES 100000

int td_cli_bounce_dump(const struct td_cli_globals *g, int argc, char **argv)
{
	(void)g;
	bool helped;
	const char **files = td_xcalloc(MAX_FILES, sizeof *files);
	size_t nfiles = 0;
	int rc = td_cli_parse_args("bounce-dump", bounce_dump_help, argc, argv, NULL, 0,
				   files, MAX_FILES, &nfiles, &helped);
	if (rc || helped) {
		free(files);
		return rc;
	}
	if (!nfiles) {
		free(files);
		return td_cli_usage_error("bounce-dump", "a FILE is required", NULL);
	}
	struct td_buf json = TD_BUF_INIT;
	for (size_t i = 0; i < nfiles; i++) {
		char *data = NULL;
		size_t len = 0;
		/* the parser reads only TD_BOUNCE_MAX_BYTES of it */
		if (td_read_file(files[i], 64u << 20, &data, &len) < 0) {
			td_log_warn("bounce-dump: %s", files[i]);
			rc = EX_NOINPUT;
			continue;
		}
		struct td_bounce_report r;
		struct td_err err = { 0, "" };
		if (td_bounce_parse(data, len, &r, &err)) {
			td_err_prefix(&err, "bounce-dump: %s", files[i]);
			free(data);
			td_buf_free(&json);
			free(files);
			return td_cli_fail(&err);
		}
		td_buf_reset(&json);
		td_bounce_report_json(&r, &json);
		fwrite(json.data, 1, json.len, stdout);
		td_bounce_report_free(&r);
		free(data);
	}
	td_buf_free(&json);
	free(files);
	return rc;
}
