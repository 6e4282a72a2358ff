/*
 * fuzz_csv.c: libFuzzer target for the subscriber file reader. The input
 * is a subscriber file, read both ways subscribers.h offers: in memory
 * (td_subscribers_parse) and streaming (td_subscribers_open/_next) from a
 * real file, through the consistent-reading copy a `send` takes. An input
 * without a final line end would make the streaming reader wait for the
 * editor to finish saving (TD_SUBSCRIBERS_SETTLE_MS), so such an input is
 * streamed through a pipe instead, the other kind of path it accepts.
 *
 * Held to the contract (a trap is a finding): both ways agree on the
 * result code, every good row (address, name, tags, line) and the count
 * of bad rows; each good row has a valid address, a display name
 * td_display_name_valid accepts, at least one tag, tags that are slugs
 * without duplicates.
 *
 * Seeds: subscribers/ (tests/fuzz/seeds.py).
 */
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tagdigest/core/address.h"
#include "tagdigest/core/log.h"
#include "tagdigest/sources/slug.h"
#include "tagdigest/schedule/subscribers.h"
#include "tagdigest/core/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_row(const struct td_subscriber *s)
{
	char why[128];
	if (!td_address_valid(s->email, why, sizeof why) ||
	    !td_display_name_valid(s->name, why, sizeof why) || s->tags.n == 0 || s->line == 0)
		__builtin_trap();
	for (size_t i = 0; i < s->tags.n; i++) {
		char *slug = td_slugify(s->tags.v[i]);
		if (!*s->tags.v[i] || strcmp(slug, s->tags.v[i]) != 0)
			__builtin_trap(); /* a tag is a slug already */
		free(slug);
		for (size_t j = 0; j < i; j++)
			if (strcmp(s->tags.v[i], s->tags.v[j]) == 0)
				__builtin_trap();
	}
}

static bool same_row(const struct td_subscriber *a, const struct td_subscriber *b)
{
	if (strcmp(a->email, b->email) != 0 || strcmp(a->name, b->name) != 0 ||
	    a->line != b->line || a->tags.n != b->tags.n)
		return false;
	for (size_t i = 0; i < a->tags.n; i++)
		if (strcmp(a->tags.v[i], b->tags.v[i]) != 0)
			return false;
	return true;
}

static char dir[] = "/tmp/td-fuzz-csv-XXXXXX";
static char file[64];

static void cleanup(void)
{
	unlink(file);
	rmdir(dir);
}

/* A path that reads as the input: a file in a private folder, or a pipe
 * holding it all (its write end closed). *fd is the pipe's read end to
 * close afterwards, or -1. */
static const char *path_of(const uint8_t *data, size_t size, int *fd)
{
	static char pipe_path[64];
	if (!file[0]) {
		if (!mkdtemp(dir))
			abort();
		snprintf(file, sizeof file, "%s/subscribers.csv", dir);
		atexit(cleanup);
	}
	*fd = -1;
	if (size && data[size - 1] == '\n') {
		FILE *f = fopen(file, "wb");
		if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0)
			abort();
		return file;
	}
	int p[2];
	if (pipe(p) < 0)
		abort();
	/* the whole input must fit before anyone reads */
	if (fcntl(p[1], F_SETPIPE_SZ, 1 << 20) < (int)size + 1)
		abort();
	if (size && write(p[1], data, size) != (ssize_t)size)
		abort();
	close(p[1]);
	*fd = p[0];
	snprintf(pipe_path, sizeof pipe_path, "/proc/self/fd/%d", p[0]);
	return pipe_path;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	td_log_set_level(TD_LOG_QUIET);
	if (size > (1u << 20) - 1)
		return 0;
	struct td_subscriber_list list;
	struct td_err err = { 0, "" };
	int rc = td_subscribers_parse("fuzz.csv", (const char *)data, size, &list, &err);

	int fd;
	const char *path = path_of(data, size, &fd);
	struct td_subscriber_reader *r = NULL;
	struct td_err serr = { 0, "" };
	int src = td_subscribers_open(path, &r, &serr);
	if (src != rc)
		__builtin_trap();
	if (rc == 0) {
		size_t i = 0;
		const struct td_subscriber *s;
		int n;
		while ((n = td_subscribers_next(r, &s, &serr)) == 1) {
			check_row(s);
			if (i >= list.n || !same_row(s, &list.v[i]))
				__builtin_trap();
			i++;
		}
		size_t ngood, nbad;
		td_subscribers_counts(r, &ngood, &nbad);
		if (n != 0 || i != list.n || ngood != list.n || nbad != list.nbad)
			__builtin_trap();
		td_subscribers_close(r);
		td_subscribers_free(&list);
	} else if (r) {
		__builtin_trap();
	}
	if (fd >= 0)
		close(fd);
	return 0;
}
