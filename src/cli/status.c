/*
 * status.c: `status`, the slot, the sources' health and each
 * reader's state (status.h); it changes nothing.
 */
#include <stdio.h>
#include <time.h>

#include "cli.h"
#include "tagdigest/cli/options.h"
#include "tagdigest/compose/status.h"

static const char status_help[] =
	"usage: tagdigest status [--json]\n\n"
	"Shows the site's slot, each source's health, and per reader in the store:\n"
	"status, tags, schedule (their own or the site's), last digest, next due\n"
	"time (in their zone, and the site's when it differs) and posts waiting;\n"
	"then the subscriber file's rows the next run adds, the suppressions and\n"
	"what came back by mail. A long tag list shows the tags that fit and \"+N\"\n"
	"for the rest. Changes nothing.\n"
	"  --json   the same as one JSON document (times as UTC,\n"
	"           \"2026-12-07T07:00:00Z\"; every tag)\n";

int td_cli_status(const struct td_cli_globals *g, int argc, char **argv)
{
	bool helped, json = false;
	struct td_cli_opt opts[] = { { "--json", false, NULL, &json } };
	int rc = td_cli_parse_opts("status", status_help, argc, argv, opts, 1, &helped);
	if (rc || helped)
		return rc;
	struct td_config cfg;
	if ((rc = td_cli_load_config(g, &cfg)))
		return rc;
	struct td_store *st = NULL;
	struct td_err err = { 0, "" };
	struct td_status_options opt = td_options_status(&cfg);
	rc = td_store_open(cfg.store_path, TD_STORE_READONLY, &st, &err);
	if (!rc)
		rc = (json ? td_status_print_json : td_status_print)(stdout, &opt, st,
								     cfg.subscribers_path,
								     time(NULL), &err);
	if (rc)
		td_cli_fail(&err);
	td_store_close(st);
	td_config_free(&cfg);
	return rc;
}
