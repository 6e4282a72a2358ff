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

int td_cli_usage_error(const char *cmd, const char *what, const char *arg)
{
	fprintf(stderr, "tagdigest: %s: %s%s%s\n(see `tagdigest %s --help`)\n", cmd,
		what, arg ? ": " : "", arg ? arg : "", cmd);
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
	if (nbad)
		td_log_warnx("subscribers: %s: %zu bad rows skipped (see above); "
			     "%zu good rows kept", cfg->subscribers_path, nbad, ngood);
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
			return td_cli_usage_error(cmd, "unknown argument", a);
	}
	return 0;
}

int td_cli_open_locked(const struct td_config *cfg, struct td_store **st, int *lockfd)
{
	struct td_err err = { 0, "" };
	int rc = td_lock_open_store(cfg->store_path, st, lockfd, &err);
	return rc ? td_cli_fail(&err) : 0;
}

int td_cli_open_writer(const struct td_config *cfg, bool dry_run, struct td_store **st,
		       int *lockfd)
{
	if (!dry_run)
		return td_cli_open_locked(cfg, st, lockfd);
	/* a dry run writes nothing, so it needs no lock */
	struct td_err err = { 0, "" };
	int rc = td_store_open(cfg->store_path, TD_STORE_READONLY, st, &err);
	return rc ? td_cli_fail(&err) : 0;
}

int td_cli_begin_writer(const struct td_cli_globals *g, const char *cmd,
			const char *help, int argc, char **argv,
			struct td_cli_opt *opts, size_t nopts, const bool *dry_run,
			bool *helped, struct td_config *cfg, struct td_store **st,
			int *lockfd)
{
	*st = NULL;
	*lockfd = -1;
	int rc = td_cli_parse_opts(cmd, help, argc, argv, opts, nopts, helped);
	if (rc || *helped)
		return rc;
	if ((rc = td_cli_load_config(g, cfg)))
		return rc;
	if ((rc = td_cli_open_writer(cfg, dry_run && *dry_run, st, lockfd)))
		td_cli_end_writer(cfg, *st, *lockfd);
	return rc;
}

void td_cli_end_writer(struct td_config *cfg, struct td_store *st, int lockfd)
{
	td_lock_close_store(st, lockfd);
	td_config_free(cfg);
}
