/*
 * cli.h: what the command line's files share; only they include it (the
 * module's contract is the usage text, README.md and exit codes). main.c
 * parses the global options and dispatches to one td_cli_* function per
 * command through its one table of commands (name, function, summary),
 * which the usage, `help` and `help --commands` print, each command in
 * its own file:
 *
 *   run.c         ingest, send and run: the commands that write the
 *                 store under the run lock (run is ingest then send)
 *   status.c      status
 *   preview.c     preview
 *   unsuppress.c  unsuppress
 *   subscribers.c subscribers add, remove, list, show, import, export
 *   serve.c       serve
 *   feed_dump.c   feed-dump
 *   bounce_dump.c bounce-dump
 *   bounces.c     bounces (and the reading `run` does before it sends)
 *   common.c      the helpers below
 *
 * The command line is the one place, with the config loader, that sees
 * the whole struct td_config: a command loads it, builds each module's
 * options from it (options.h) and frees it when the command is done.
 * Every td_cli_* command returns a sysexits code.
 */
#ifndef TAGDIGEST_CLI_H
#define TAGDIGEST_CLI_H

#include <stdbool.h>
#include <stddef.h>

#include "tagdigest/cli/config.h"
#include "tagdigest/core/err.h"
#include "tagdigest/store/lock.h"
#include "tagdigest/store/store.h"
#include "tagdigest/schedule/subscribers.h"

#define MAX_OVERRIDES 64

/* The global options, as main parsed them. */
struct td_cli_globals {
	const char *config_path;
	const char *overrides[MAX_OVERRIDES];
	size_t noverrides;
};

/* Logs err and returns its code (EX_SOFTWARE when it has none). */
int td_cli_fail(const struct td_err *err);
/* A command's summary of what it did, on stdout: nothing under -q (the
 * output rule in README.md). Data a command is asked for (status, a list,
 * a dump) is printed with printf, -q or not. */
void td_cli_result(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "tagdigest: CMD: WHAT: ARG" and a pointer to CMD's --help; EX_USAGE. */
int td_cli_usage_error(const char *cmd, const char *what, const char *arg);
/* The line every usage error ends with, on stderr: "(see `tagdigest CMD
 * --help`)", or "(see `tagdigest --help`)" for the top level (cmd NULL). */
void td_cli_see_help(const char *cmd);
/* The config with -c and the -o overrides; an error is reported. The
 * caller frees cfg with td_config_free. */
int td_cli_load_config(const struct td_cli_globals *g, struct td_config *cfg);
/* One warning about the bad subscriber rows skipped, when there were any. */
void td_cli_warn_bad_rows(const struct td_config *cfg, size_t nbad, size_t ngood);
/* The store under the run lock (lock.h), or the error reported; kind:
 * what a writer on PostgreSQL waits for or excludes (lock.h). */
int td_cli_open_locked(const struct td_config *cfg, enum td_lock_kind kind,
		       struct td_store **st, int *lockfd);
/* The store for a command that writes it: under the run lock, or, for a
 * dry run (which writes nothing), read-only without the lock (*lockfd
 * stays -1). The error reported. */
int td_cli_open_writer(const struct td_config *cfg, enum td_lock_kind kind, bool dry_run,
		       struct td_store **st, int *lockfd);

/* "Did you mean": the name nearest to a mistyped word, among names
 * offered one by one (td_cli_near_consider). Near means an optimal
 * string alignment distance (one insertion, deletion, change, or swap of
 * two neighbours each count one) of at most 1 for a word of up to four
 * characters and 2 for a longer one, or the word being the start of the
 * name; on a tie the first name offered wins, a typo before a start. */
struct td_cli_near {
	const char *best;
	size_t score;
};
#define TD_CLI_NEAR_INIT { NULL, 0 }
void td_cli_near_consider(struct td_cli_near *near, const char *word, const char *name);
/* The nearest name offered, or NULL when none is near enough. */
const char *td_cli_near_best(const struct td_cli_near *near, const char *word);

/* Parses a command's own options: --help always, and the ones given. */
struct td_cli_opt {
	const char *name;
	bool takes_arg;
	const char **value;   /* for options with an argument */
	bool *flag;           /* for flags */
};

/* Parses a command's own options (argv[0] is the command): --help or -h
 * prints help and sets *helped; an unknown argument or a missing value is
 * a usage error (an unknown option names the near one, td_cli_near). */
int td_cli_parse_opts(const char *cmd, const char *help, int argc,
		      char **argv, struct td_cli_opt *opts, size_t nopts,
		      bool *helped);
/* The start of a command that writes the store (ingest, send, run,
 * bounces): its options (as td_cli_parse_opts), the config, and the
 * store as td_cli_open_writer opens it (kind: lock.h); dry_run points at the flag among
 * opts (NULL: the command has none). Returns 0 with *helped after
 * --help, or 0 with the config and the store open for
 * td_cli_end_writer; else the exit status, with nothing left open. */
int td_cli_begin_writer(const struct td_cli_globals *g, const char *cmd,
			const char *help, int argc, char **argv,
			struct td_cli_opt *opts, size_t nopts, const bool *dry_run,
			enum td_lock_kind kind, bool *helped, struct td_config *cfg,
			struct td_store **st, int *lockfd);
void td_cli_end_writer(struct td_config *cfg, struct td_store *st, int lockfd);
/* The same, also taking up to maxpos positional arguments (anything not
 * an option, and everything after "--") into pos; *npos tells how many
 * were given. One more than maxpos is a usage error. */
int td_cli_parse_args(const char *cmd, const char *help, int argc, char **argv,
		      struct td_cli_opt *opts, size_t nopts, const char **pos,
		      size_t maxpos, size_t *npos, bool *helped);

/* The commands: argv[0] is the command's name. */
int td_cli_ingest(const struct td_cli_globals *g, int argc, char **argv);
int td_cli_send(const struct td_cli_globals *g, int argc, char **argv);
int td_cli_run(const struct td_cli_globals *g, int argc, char **argv);
int td_cli_status(const struct td_cli_globals *g, int argc, char **argv);
int td_cli_preview(const struct td_cli_globals *g, int argc, char **argv);
int td_cli_unsuppress(const struct td_cli_globals *g, int argc, char **argv);
int td_cli_subscribers(const struct td_cli_globals *g, int argc, char **argv);
int td_cli_serve(const struct td_cli_globals *g, int argc, char **argv);
int td_cli_feed_dump(const struct td_cli_globals *g, int argc, char **argv);
int td_cli_bounce_dump(const struct td_cli_globals *g, int argc, char **argv);
int td_cli_bounces(const struct td_cli_globals *g, int argc, char **argv);

/* Reads the bounce mailbox into st (process.h) with cfg's [bounces] and
 * prints the summary (on stdout when as_result, unless -q; else as a log line);
 * the caller holds the run lock unless dry_run. Returns the sysexits
 * code, the error reported. */
int td_cli_read_bounces(const struct td_config *cfg, struct td_store *st, bool dry_run,
			bool as_result);

#endif
