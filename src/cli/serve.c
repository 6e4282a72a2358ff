/*
 * serve.c: `serve`, the editors' desk or the reader's pages
 * (serve.h). The config is loaded here and lives until td_serve returns:
 * the desk borrows its strings while it runs.
 */
#include "cli.h"
#include "tagdigest/cli/options.h"
#include "tagdigest/desk/serve.h"

static const char serve_help[] =
	"usage: tagdigest serve [--listen ADDR:PORT] [--public]\n\n"
	"Serves the editors' desk: live previews of digests, test sends, source\n"
	"health. Runs until interrupted.\n"
	"  --listen ADDR:PORT   where to listen (default 127.0.0.1:8025)\n"
	"  --public             serve the reader's pages instead: sign-up,\n"
	"                       confirmation, preferences, one-click unsubscribe\n";

int td_cli_serve(const struct td_cli_globals *g, int argc, char **argv)
{
	bool helped, public_mode = false;
	const char *listen = "127.0.0.1:8025";
	struct td_cli_opt opts[] = {
		{ "--listen", true, &listen, NULL },
		{ "--public", false, NULL, &public_mode },
	};
	int rc = td_cli_parse_opts("serve", serve_help, argc, argv, opts, 2, &helped);
	if (rc || helped)
		return rc;
	/* a bad --listen is reported before the config is read */
	struct td_err err = { 0, "" };
	if ((rc = td_serve_check_listen(listen, public_mode, &err)))
		return td_cli_fail(&err);
	struct td_config cfg;
	if ((rc = td_cli_load_config(g, &cfg)))
		return rc;
	/* the desk borrows from cfg until td_serve returns */
	struct td_serve_options so = { listen, public_mode, td_options_desk(&cfg),
				       td_options_public(&cfg) };
	/* the mails it sends (tests, confirmations, welcomes) carry the
	 * return path; the public side never makes a secret of its own */
	struct td_verp_setup verp;
	rc = td_options_verp(&cfg, !public_mode, &verp, &err);
	so.desk.deliver.verp = verp.use;
	if (rc || (rc = td_serve(&so, &err)))
		td_cli_fail(&err);
	td_options_verp_free(&verp);
	td_config_free(&cfg);
	return rc;
}
