/*
 * main.c: the command line's entry. It parses the global options and
 * hands the rest to the command (one file each, see cli.h), which opens
 * what it needs, calls the module that does the work and prints the
 * result; the thinking lives in the modules. Exit codes are sysexits.h,
 * for cron.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "tagdigest/core/log.h"
#include "tagdigest/core/version.h"

#define DEFAULT_CONFIG "config/tagdigest.conf"

static const char usage_text[] =
	"usage: tagdigest [-c FILE] [-o SECTION.KEY=VALUE]... [-q | -v] COMMAND [ARGS]\n"
	"\n"
	"Weekly digests of tagged posts, by e-mail.\n"
	"\n"
	"commands:\n"
	"  ingest     read all sources into the store\n"
	"  status     per subscriber: tags, watermark, next due time, posts waiting\n"
	"  preview    the message one subscriber would get now (changes nothing)\n"
	"  send       deliver the digests that are due\n"
	"  run        ingest, then send, under a lock (what cron runs)\n"
	"  feed-dump  what tagdigest reads from one feed, as JSON\n"
	"  bounce-dump what tagdigest understands of returned mails, as JSON\n"
	"  bounces    read the bounce mailbox: suppress bounced, unsubscribe complaints\n"
	"  unsuppress lift an unsubscribe or bounce for one subscriber\n"
	"  subscribers add, remove, list, show, import and export subscribers\n"
	"  serve      the editors' preview in a browser; --public: unsubscribe pages\n"
	"\n"
	"options:\n"
	"  -c FILE               config file (default: $TAGDIGEST_CONFIG or " DEFAULT_CONFIG ")\n"
	"  -o SECTION.KEY=VALUE  override one config value for this run (repeatable)\n"
	"  -q, --quiet           only errors on stderr\n"
	"  -v, --verbose         more detail on stderr\n"
	"  -h, --help            this text; `tagdigest COMMAND --help` for a command\n"
	"  -V, --version         print the version\n"
	"\n"
	"Results on stdout, diagnostics on stderr; -q leaves only errors.\n"
	"\n"
	"exit status: 0 done, 64 usage, 65 bad data (a source that is not a feed),\n"
	"66 missing input (a posts folder), 69 a server unreachable (a feed that\n"
	"could not be fetched), 75 try again later, 78 bad configuration (see\n"
	"sysexits.h). A failing source does not stop ingest or run: the others are\n"
	"read, run still sends, and the exit status says so (`run --help`).\n";

int main(int argc, char **argv)
{
	struct td_cli_globals g = { NULL, { NULL }, 0 };
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "verbose", no_argument, NULL, 'v' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	/* '+': stop at the command, so its own options are left for it */
	while ((c = getopt_long(argc, argv, "+c:o:qvhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			g.config_path = optarg;
			break;
		case 'o':
			if (g.noverrides == MAX_OVERRIDES) {
				fprintf(stderr, "tagdigest: at most %d -o options\n", MAX_OVERRIDES);
				return EX_USAGE;
			}
			g.overrides[g.noverrides++] = optarg;
			break;
		case 'q':
			td_log_set_level(TD_LOG_QUIET);
			break;
		case 'v':
			td_log_set_level(TD_LOG_DEBUG);
			break;
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		case 'V':
			printf("tagdigest %s\n", TD_VERSION);
			return 0;
		default:
			fputs(usage_text, stderr);
			return EX_USAGE;
		}
	}
	if (optind >= argc) {
		fputs(usage_text, stderr);
		return EX_USAGE;
	}
	if (!g.config_path)
		g.config_path = getenv("TAGDIGEST_CONFIG");
	if (!g.config_path || !*g.config_path)
		g.config_path = DEFAULT_CONFIG;

	const char *cmd = argv[optind];
	int cargc = argc - optind;
	char **cargv = argv + optind;
	if (strcmp(cmd, "ingest") == 0)
		return td_cli_ingest(&g, cargc, cargv);
	if (strcmp(cmd, "send") == 0)
		return td_cli_send(&g, cargc, cargv);
	if (strcmp(cmd, "run") == 0)
		return td_cli_run(&g, cargc, cargv);
	if (strcmp(cmd, "status") == 0)
		return td_cli_status(&g, cargc, cargv);
	if (strcmp(cmd, "preview") == 0)
		return td_cli_preview(&g, cargc, cargv);
	if (strcmp(cmd, "serve") == 0)
		return td_cli_serve(&g, cargc, cargv);
	if (strcmp(cmd, "unsuppress") == 0)
		return td_cli_unsuppress(&g, cargc, cargv);
	if (strcmp(cmd, "subscribers") == 0)
		return td_cli_subscribers(&g, cargc, cargv);
	if (strcmp(cmd, "feed-dump") == 0)
		return td_cli_feed_dump(&g, cargc, cargv);
	if (strcmp(cmd, "bounce-dump") == 0)
		return td_cli_bounce_dump(&g, cargc, cargv);
	if (strcmp(cmd, "bounces") == 0)
		return td_cli_bounces(&g, cargc, cargv);
	fprintf(stderr, "tagdigest: unknown command '%s'\n\n%s", cmd, usage_text);
	return EX_USAGE;
}
