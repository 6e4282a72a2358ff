/*
 * harness.h: the tiny unit-test harness shared by tests/unit/test_*.c.
 *
 * Each test file defines test functions and a main() that calls
 * TD_RUN(fn) for each and returns TD_DONE(). CHECK() records a failure with
 * file and line and carries on; the closing line is "N passed, N failed",
 * counted per CHECK, and the exit status is non-zero when anything failed.
 */
#ifndef TAGDIGEST_TEST_HARNESS_H
#define TAGDIGEST_TEST_HARNESS_H

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int td_test_passed, td_test_failed;

#define CHECK(cond)                                                         \
	do {                                                                \
		if (cond) {                                                 \
			td_test_passed++;                                   \
		} else {                                                    \
			td_test_failed++;                                   \
			fprintf(stderr, "%s:%d: check failed: %s\n",        \
				__FILE__, __LINE__, #cond);                 \
		}                                                           \
	} while (0)

#define CHECK_STR(got, want)                                                \
	do {                                                                \
		const char *g_ = (got), *w_ = (want);                       \
		if (g_ && w_ && strcmp(g_, w_) == 0) {                      \
			td_test_passed++;                                   \
		} else {                                                    \
			td_test_failed++;                                   \
			fprintf(stderr,                                     \
				"%s:%d: %s\n  got:  \"%s\"\n  want: \"%s\"\n", \
				__FILE__, __LINE__, #got, g_ ? g_ : "(null)",   \
				w_ ? w_ : "(null)");                        \
		}                                                           \
	} while (0)

#define TD_RUN(fn)                                                          \
	do {                                                                \
		int before_ = td_test_failed;                               \
		fn();                                                       \
		if (td_test_failed != before_)                              \
			fprintf(stderr, "FAIL %s\n", #fn);                  \
	} while (0)

#define TD_DONE(name)                                                       \
	(printf("%s: %d passed, %d failed\n", name, td_test_passed,         \
		td_test_failed),                                            \
	 td_test_failed ? 1 : 0)

/* What the code under test logs goes to stderr: capture_start() sends it
 * to a file, capture_end() restores stderr and returns what was written
 * (the first 16 KiB), valid until the next capture. */
static char captured[16384];
static FILE *cap_file;
static int cap_saved = -1;

static inline void capture_start(void)
{
	fflush(stderr);
	cap_file = tmpfile();
	cap_saved = dup(2);
	dup2(fileno(cap_file), 2);
}

static inline const char *capture_end(void)
{
	fflush(stderr);
	dup2(cap_saved, 2);
	close(cap_saved);
	rewind(cap_file);
	size_t n = fread(captured, 1, sizeof captured - 1, cap_file);
	captured[n] = '\0';
	fclose(cap_file);
	return captured;
}

#endif
