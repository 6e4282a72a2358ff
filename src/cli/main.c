/*
 * main.c: the command line's entry. It parses the global options and
 * hands the rest to the command (one file each, see cli.h), which opens
 * what it needs, calls the module that does the work and prints the
 * result; the thinking lives in the modules. Exit codes are sysexits.h,
 * for cron.
 *
 * The commands are one table: the usage text, `help`, `help --commands`
 * (which the man page and the bash completion read) and the "did you
 * mean" of a mistyped command all come from it.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "tagdigest/core/log.h"
#include "tagdigest/core/version.h"
#include "tagdigest/sources/html.h"

#define DEFAULT_CONFIG "config/tagdigest.conf"

static int cmd_help(const struct td_cli_globals *g, int argc, char **argv);

static const struct command {
	const char *name;
	int (*fn)(const struct td_cli_globals *g, int argc, char **argv);
	const char *summary;
} commands[] = {
	{ "ingest", td_cli_ingest, "read all sources into the store" },
	{ "status", td_cli_status, "per reader: tags, schedule, posts waiting, next due time" },
	{ "preview", td_cli_preview, "the message one subscriber would get now (changes nothing)" },
	{ "send", td_cli_send, "deliver the digests that are due" },
	{ "run", td_cli_run, "ingest, then send, under a lock (what cron runs)" },
	{ "feed-dump", td_cli_feed_dump, "what tagdigest reads from one feed, as JSON" },
	{ "bounce-dump", td_cli_bounce_dump, "what tagdigest understands of returned mails, as JSON" },
	{ "bounces", td_cli_bounces, "read the bounce mailbox: suppress bounced, unsubscribe complaints" },
	{ "unsuppress", td_cli_unsuppress, "lift an unsubscribe or bounce for one subscriber" },
	{ "subscribers", td_cli_subscribers, "add, remove, list, show, import and export subscribers" },
	{ "serve", td_cli_serve, "the editors' preview in a browser; --public: unsubscribe pages" },
	{ "help", cmd_help, "this text, or a command's: help COMMAND [SUBCOMMAND]" },
};
#define NCOMMANDS (sizeof commands / sizeof *commands)

static void usage(FILE *out)
{
	fputs("usage: tagdigest [-c FILE] [-o SECTION.KEY=VALUE]... [-q | -v] COMMAND [ARGS]\n"
	      "\n"
	      "Weekly digests of tagged posts, by e-mail.\n"
	      "\n"
	      "commands:\n", out);
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(out, "  %-12s %s\n", commands[i].name, commands[i].summary);
	fputs("\n"
	      "options:\n"
	      "  -c FILE               config file (default: $TAGDIGEST_CONFIG or " DEFAULT_CONFIG ")\n"
	      "  -o SECTION.KEY=VALUE  override one config value for this run (repeatable)\n"
	      "  -q, --quiet           only errors on stderr\n"
	      "  -v, --verbose         more detail on stderr\n"
	      "  -h, --help            this text; `tagdigest help COMMAND` (or\n"
	      "                        `tagdigest COMMAND --help`) for a command\n"
	      "  -V, --version         print the version\n"
	      "\n"
	      "Results on stdout, diagnostics on stderr; -q leaves only errors.\n"
	      "\n"
	      "exit status: 0 done, 64 usage, 65 bad data (a source that is not a\n"
	      "feed, a bad subscriber row, preview of a reader who gets no digest),\n"
	      "66 missing input (a posts folder), 67 no such subscriber, 69 a server\n"
	      "unreachable (a feed that could not be fetched, the bounce mailbox), 70\n"
	      "internal error, 71 system error, 73 cannot create a file, 74 read or\n"
	      "write failed (an unreadable posts folder), 75 try again later, 76 the\n"
	      "bounce mailbox refused a command, 77 refused (the reader's word wins),\n"
	      "78 bad configuration (a wrong password, an SMTP certificate not\n"
	      "trusted); see sysexits.h. A failing source does not stop ingest or\n"
	      "run: the others are read, run still sends, and the exit\n"
	      "status says so (`run --help`).\n", out);
}

static const char help_help[] =
	"usage: tagdigest help [COMMAND [SUBCOMMAND]]\n"
	"       tagdigest help --commands\n\n"
	"Without a command, what `tagdigest --help` prints. With one, what\n"
	"`tagdigest COMMAND --help` prints (`help subscribers add`: what\n"
	"`tagdigest subscribers add --help` prints).\n"
	"  --commands   the command names only, one a line (for completion\n"
	"               and the man page)\n";

static const struct command *find(const char *name)
{
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (strcmp(name, commands[i].name) == 0)
			return &commands[i];
	return NULL;
}

/* A short answer, not the whole usage: the near command when there is one. */
static int unknown_command(const char *name)
{
	struct td_cli_near near = TD_CLI_NEAR_INIT;
	for (size_t i = 0; i < NCOMMANDS; i++)
		td_cli_near_consider(&near, name, commands[i].name);
	const char *best = td_cli_near_best(&near, name);
	fprintf(stderr, "tagdigest: unknown command '%s'", name);
	if (best)
		fprintf(stderr, "; did you mean `%s`?", best);
	fputc('\n', stderr);
	td_cli_see_help(NULL);
	return EX_USAGE;
}

/* `help [COMMAND [SUBCOMMAND]]`: the command's own --help, so the two
 * cannot differ. */
static int cmd_help(const struct td_cli_globals *g, int argc, char **argv)
{
	if (argc < 2) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--commands") == 0 && argc == 2) {
		for (size_t i = 0; i < NCOMMANDS; i++)
			puts(commands[i].name);
		return 0;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		fputs(help_help, stdout);
		return 0;
	}
	if (argc > 3 || argv[1][0] == '-')
		return td_cli_usage_error("help", "unexpected argument", argv[argc > 3 ? 3 : 1]);
	const struct command *c = find(argv[1]);
	if (!c)
		return unknown_command(argv[1]);
	if (c->fn == cmd_help) {
		fputs(help_help, stdout);
		return 0;
	}
	/* `help send extra`: a mistake in what was asked of help, which
	 * `send extra --help` would report as send's own */
	if (argc == 3 && c->fn != td_cli_subscribers) {
		char what[64];
		snprintf(what, sizeof what, "`%s` has no subcommands", c->name);
		return td_cli_usage_error("help", what, argv[2]);
	}
	/* "subscribers add --help" as the user would have typed it */
	char help_arg[] = "--help";
	char *cargv[] = { argv[1], argc > 2 ? argv[2] : help_arg, help_arg, NULL };
	return c->fn(g, argc, cargv);
}

int main(int argc, char **argv)
{
	struct td_cli_globals g = { NULL, { NULL }, 0 };
	/* before any thread (composers, the desk's workers) parses HTML */
	td_html_init();
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
			usage(stdout);
			return 0;
		case 'V':
			printf("tagdigest %s\n", TD_VERSION);
			return 0;
		default:
			/* getopt said what was wrong */
			td_cli_see_help(NULL);
			return EX_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return EX_USAGE;
	}
	if (!g.config_path)
		g.config_path = getenv("TAGDIGEST_CONFIG");
	if (!g.config_path || !*g.config_path)
		g.config_path = DEFAULT_CONFIG;

	const struct command *cmd = find(argv[optind]);
	if (!cmd)
		return unknown_command(argv[optind]);
	return cmd->fn(&g, argc - optind, argv + optind);
}
