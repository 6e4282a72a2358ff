/*
 * status.c: `status`, the slot, the sources' health and each
 * subscriber's state (status.h); it changes nothing.
 */
#include <stdio.h>
#include <time.h>

#include "cli.h"
#include "tagdigest/cli/options.h"
#include "tagdigest/compose/status.h"

static const char status_help[] =
	"usage: tagdigest status\n\n"
	"Shows the weekly slot, each source's health, and per subscriber: tags,\n"
	"watermark, last digest, next due time and posts waiting. Changes nothing.\n";

int td_cli_status(const struct td_cli_globals *g, int argc, char **argv)
{
	bool helped;
	int rc = td_cli_parse_opts("status", status_help, argc, argv, NULL, 0, &helped);
	if (rc || helped)
		return rc;
	struct td_config cfg;
	if ((rc = td_cli_load_config(g, &cfg)))
		return rc;
	struct td_subscriber_list subs = { 0 };
	struct td_store *st = NULL;
	struct td_err err = { 0, "" };
	struct td_status_options opt = td_options_status(&cfg);
	if (!(rc = td_cli_load_subscribers(&cfg, &subs))) {
		rc = td_store_open(cfg.store_path, TD_STORE_READONLY, &st, &err);
		if (!rc)
			rc = td_status_print(stdout, &opt, st, &subs, time(NULL), &err);
		if (rc)
			td_cli_fail(&err);
	}
	td_store_close(st);
	td_subscribers_free(&subs);
	td_config_free(&cfg);
	return rc;
}
