/*
 * unsuppress.c: `unsuppress`, an unsubscribe or bounce lifted in the
 * store, under the run lock.
 */
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "tagdigest/store/lock.h"
#include "tagdigest/sources/slug.h"

static const char unsuppress_help[] =
	"usage: tagdigest unsuppress EMAIL [--tag TAG]\n\n"
	"Lifts what the store holds against EMAIL (an unsubscribe or a bounce),\n"
	"for every scope, or only for one tag with --tag. The subscriber file is\n"
	"not touched; the next send includes the subscriber again.\n";

int td_cli_unsuppress(const struct td_cli_globals *g, int argc, char **argv)
{
	bool helped;
	const char *tag = NULL, *email = NULL;
	struct td_cli_opt opts[] = { { "--tag", true, &tag, NULL } };
	if (argc > 1 && argv[1][0] != '-') {
		email = argv[1];
		argv++;
		argc--;
	}
	int rc = td_cli_parse_opts("unsuppress", unsuppress_help, argc, argv, opts, 1,
				   &helped);
	if (rc || helped)
		return rc;
	if (!email)
		return td_cli_usage_error("unsuppress", "an EMAIL is required", NULL);
	struct td_config cfg;
	if ((rc = td_cli_load_config(g, &cfg)))
		return rc;
	struct td_store *st = NULL;
	int lockfd = -1;
	size_t removed = 0;
	struct td_err err = { 0, "" };
	char *slug = tag ? td_slugify(tag) : NULL;
	if (!(rc = td_cli_open_locked(&cfg, TD_LOCK_ROSTER, &st, &lockfd))) {
		if ((rc = td_store_unsuppress(st, email, slug, &removed, &err)))
			td_cli_fail(&err);
		else
			td_cli_result("unsuppress: %s: %zu suppression%s lifted%s\n", email, removed,
			       removed == 1 ? "" : "s",
			       removed ? "" : " (there was none)");
	}
	free(slug);
	td_lock_close_store(st, lockfd);
	td_config_free(&cfg);
	return rc;
}
