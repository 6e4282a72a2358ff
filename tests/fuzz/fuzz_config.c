/*
 * fuzz_config.c: libFuzzer target for the config reader. The input is a
 * tagdigest.conf, written to a file in a private folder (td_config_load
 * takes a path and resolves relative paths against the file's folder) and
 * loaded as the command line loads it.
 *
 * Held to the contract in config.h (a trap is a finding): the result is 0
 * or EX_CONFIG; an error names the file ("PATH:LINE: ..." or "PATH: ...")
 * and leaves nothing to free; a loaded config has the required [site]
 * keys and at least one source, each with a name and a type, and loading
 * the same file again gives the same answer.
 *
 * Seeds: config/ (tests/fuzz/seeds.py).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tagdigest/cli/config.h"
#include "tagdigest/core/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[] = "/tmp/td-fuzz-config-XXXXXX";
static char path[64];

static void cleanup(void)
{
	unlink(path);
	rmdir(dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	td_log_set_level(TD_LOG_QUIET);
	if (!path[0]) {
		if (!mkdtemp(dir))
			abort();
		snprintf(path, sizeof path, "%s/tagdigest.conf", dir);
		atexit(cleanup);
	}
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0)
		abort();
	chmod(path, 0600); /* a config others can read may be refused */

	struct td_config cfg;
	struct td_err err = { 0, "" };
	int rc = td_config_load(&cfg, path, NULL, 0, &err);
	if (rc != 0) {
		size_t n = strlen(path);
		if (rc != EX_CONFIG || strncmp(err.msg, path, n) != 0 || err.msg[n] != ':' ||
		    cfg.site_name || cfg.sources)
			__builtin_trap();
	} else {
		if (!cfg.site_name || !cfg.site_url || !cfg.from_address || cfg.nsources == 0)
			__builtin_trap();
		for (size_t i = 0; i < cfg.nsources; i++)
			if (!cfg.sources[i].name || !cfg.sources[i].type)
				__builtin_trap();
		td_config_free(&cfg);
	}
	struct td_err again = { 0, "" };
	int rc2 = td_config_load(&cfg, path, NULL, 0, &again);
	if (rc2 != rc || strcmp(err.msg, again.msg) != 0)
		__builtin_trap();
	if (rc2 == 0)
		td_config_free(&cfg);
	return 0;
}
