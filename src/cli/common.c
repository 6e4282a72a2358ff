/*
 * common.c: what the commands share (see cli.h): reporting errors,
 * their own options, loading the config, the store under the run lock.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "tagdigest/store/lock.h"
#include "tagdigest/core/log.h"
#include "tagdigest/core/util.h"

int td_cli_fail(const struct td_err *err)
{
	td_log_warnx("%s", err->msg);
	return err->code ? err->code : EX_SOFTWARE;
}

void td_cli_result(const char *fmt, ...)
{
	if (td_log_get_level() < TD_LOG_INFO)
		return;
	va_list ap;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
}

void td_cli_see_help(const char *cmd)
{
	fprintf(stderr, "(see `tagdigest %s%s--help`)\n", cmd ? cmd : "", cmd ? " " : "");
}

int td_cli_usage_error(const char *cmd, const char *what, const char *arg)
{
	fprintf(stderr, "tagdigest: %s: %s%s%s\n", cmd, what, arg ? ": " : "", arg ? arg : "");
	td_cli_see_help(cmd);
	return EX_USAGE;
}

int td_cli_load_config(const struct td_cli_globals *g, struct td_config *cfg)
{
	struct td_err err = { 0, "" };
	if (td_config_load(cfg, g->config_path, g->overrides, g->noverrides, &err))
		return td_cli_fail(&err);
	return 0;
}

void td_cli_warn_bad_rows(const struct td_config *cfg, size_t nbad, size_t ngood)
{
	char bad[48], good[48];
	if (nbad)
		td_log_warnx("subscribers: %s: %s skipped (see above); %s kept",
			     cfg->subscribers_path, td_count(bad, sizeof bad, nbad, "bad row",
							     "bad rows"),
			     td_count(good, sizeof good, ngood, "good row", "good rows"));
}

/* Longer words are no typo of a command or option name. */
#define NEAR_MAX 64

/* The optimal string alignment distance between a and b (both at most
 * NEAR_MAX bytes): Levenshtein's, plus a swap of two neighbours ("sned",
 * "send") counting one. Three rows of the table are enough. */
static size_t osa_distance(const char *a, size_t la, const char *b, size_t lb)
{
	size_t rows[3][NEAR_MAX + 1];
	size_t *prev2 = rows[0], *prev = rows[1], *cur = rows[2];
	for (size_t j = 0; j <= lb; j++)
		prev[j] = j;
	for (size_t i = 1; i <= la; i++) {
		cur[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t cost = a[i - 1] != b[j - 1];
			size_t d = prev[j] + 1;
			if (cur[j - 1] + 1 < d)
				d = cur[j - 1] + 1;
			if (prev[j - 1] + cost < d)
				d = prev[j - 1] + cost;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    prev2[j - 2] + 1 < d)
				d = prev2[j - 2] + 1;
			cur[j] = d;
		}
		size_t *t = prev2;
		prev2 = prev;
		prev = cur;
		cur = t;
	}
	return prev[lb];
}

void td_cli_near_consider(struct td_cli_near *near, const char *word, const char *name)
{
	size_t la = strlen(word), lb = strlen(name);
	if (la == 0 || la > NEAR_MAX || lb > NEAR_MAX)
		return;
	size_t limit = la <= 4 ? 1 : 2;
	/* twice the distance, and one more for a mere start: a typo first */
	size_t d = osa_distance(word, la, name, lb);
	size_t score = d <= limit ? 2 * d : (size_t)-1;
	if (la >= 2 && la < lb && strncmp(word, name, la) == 0 && 3 < score)
		score = 3;
	if (score != (size_t)-1 && (!near->best || score < near->score)) {
		near->best = name;
		near->score = score;
	}
}

const char *td_cli_near_best(const struct td_cli_near *near, const char *word)
{
	/* the word itself is no suggestion */
	return near->best && strcmp(near->best, word) != 0 ? near->best : NULL;
}

/* An unknown option, with the near one when there is one. */
static int unknown_option(const char *cmd, const char *arg, const struct td_cli_opt *opts,
			  size_t nopts)
{
	/* "--jsno=1" is compared as "--jsno" */
	char word[NEAR_MAX + 1];
	snprintf(word, sizeof word, "%.*s", (int)strcspn(arg, "="), arg);
	struct td_cli_near near = TD_CLI_NEAR_INIT;
	for (size_t k = 0; k < nopts; k++)
		td_cli_near_consider(&near, word, opts[k].name);
	td_cli_near_consider(&near, word, "--help");
	const char *best = td_cli_near_best(&near, word);
	if (!best)
		return td_cli_usage_error(cmd, "unknown argument", arg);
	fprintf(stderr, "tagdigest: %s: unknown argument: %s; did you mean %s?\n", cmd, arg,
		best);
	td_cli_see_help(cmd);
	return EX_USAGE;
}

int td_cli_parse_opts(const char *cmd, const char *help, int argc,
		      char **argv, struct td_cli_opt *opts, size_t nopts,
		      bool *helped)
{
	size_t npos;
	return td_cli_parse_args(cmd, help, argc, argv, opts, nopts, NULL, 0, &npos,
				 helped);
}

int td_cli_parse_args(const char *cmd, const char *help, int argc, char **argv,
		      struct td_cli_opt *opts, size_t nopts, const char **pos,
		      size_t maxpos, size_t *npos, bool *helped)
{
	*helped = false;
	*npos = 0;
	bool options_end = false;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		/* "--" ends the options: an address may begin with '-' */
		if (!options_end && strcmp(a, "--") == 0) {
			options_end = true;
			continue;
		}
		if (options_end || a[0] != '-' || a[1] == '\0') {
			if (*npos == maxpos)
				return td_cli_usage_error(cmd, "unexpected argument", a);
			pos[(*npos)++] = a;
			continue;
		}
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			fputs(help, stdout);
			*helped = true;
			return 0;
		}
		bool matched = false;
		for (size_t k = 0; k < nopts && !matched; k++) {
			size_t n = strlen(opts[k].name);
			if (strncmp(a, opts[k].name, n) != 0)
				continue;
			if (!opts[k].takes_arg && a[n] == '\0') {
				*opts[k].flag = true;
				matched = true;
			} else if (opts[k].takes_arg && a[n] == '=') {
				*opts[k].value = a + n + 1;
				matched = true;
			} else if (opts[k].takes_arg && a[n] == '\0') {
				if (i + 1 >= argc)
					return td_cli_usage_error(cmd, "this option needs a value",
								  opts[k].name);
				*opts[k].value = argv[++i];
				matched = true;
			}
		}
		if (!matched)
			return unknown_option(cmd, a, opts, nopts);
	}
	return 0;
}

int td_cli_open_locked(const struct td_config *cfg, enum td_lock_kind kind,
		       struct td_store **st, int *lockfd)
{
	struct td_err err = { 0, "" };
	int rc = td_lock_open_store(cfg->store_path, kind, st, lockfd, &err);
	return rc ? td_cli_fail(&err) : 0;
}

int td_cli_open_writer(const struct td_config *cfg, enum td_lock_kind kind, bool dry_run,
		       struct td_store **st, int *lockfd)
{
	if (!dry_run)
		return td_cli_open_locked(cfg, kind, st, lockfd);
	/* a dry run writes nothing, so it needs no lock */
	struct td_err err = { 0, "" };
	int rc = td_store_open(cfg->store_path, TD_STORE_READONLY, st, &err);
	return rc ? td_cli_fail(&err) : 0;
}

int td_cli_begin_writer(const struct td_cli_globals *g, const char *cmd,
			const char *help, int argc, char **argv,
			struct td_cli_opt *opts, size_t nopts, const bool *dry_run,
			enum td_lock_kind kind, bool *helped, struct td_config *cfg,
			struct td_store **st, int *lockfd)
{
	*st = NULL;
	*lockfd = -1;
	int rc = td_cli_parse_opts(cmd, help, argc, argv, opts, nopts, helped);
	if (rc || *helped)
		return rc;
	if ((rc = td_cli_load_config(g, cfg)))
		return rc;
	if ((rc = td_cli_open_writer(cfg, kind, dry_run && *dry_run, st, lockfd)))
		td_cli_end_writer(cfg, *st, *lockfd);
	return rc;
}

void td_cli_end_writer(struct td_config *cfg, struct td_store *st, int lockfd)
{
	td_lock_close_store(st, lockfd);
	td_config_free(cfg);
}
