/*
 * harness.h: the tiny unit-test harness shared by tests/unit/test_*.c.
 *
 * Each test file defines test functions and a main() that calls
 * TD_RUN(fn) for each and returns TD_DONE(). CHECK() records a failure with
 * file and line and carries on; REQUIRE() does the same and then returns
 * from the test function, for a condition the checks after it depend on
 * (so they fail instead of silently not running). The closing line is
 * "N passed, N failed", counted per CHECK, and the exit status is non-zero
 * when anything failed.
 *
 * A test function that made no check fails: a test that cannot fail is no
 * test. One that cannot run (its data is absent) says so with TD_SKIP(),
 * loudly, and is counted as skipped instead.
 *
 * Fixture helpers every test may use: write_file() and write_bytes() (a
 * file the code under test reads), utc() (a UTC calendar time as time_t).
 */
#ifndef TAGDIGEST_TEST_HARNESS_H
#define TAGDIGEST_TEST_HARNESS_H

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int td_test_passed, td_test_failed;
/* tests skipped; whether the running one called TD_SKIP (unused by a
 * runner that does not use TD_RUN, like test_mustache_spec.c) */
static int td_test_skipped __attribute__((unused));
static int td_test_skipping __attribute__((unused));

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

/* CHECK(cond), and when it failed, return from the test function. */
#define REQUIRE(cond)                                                       \
	do {                                                                \
		int failed_ = td_test_failed;                               \
		CHECK(cond);                                                \
		if (td_test_failed != failed_)                              \
			return;                                             \
	} while (0)

/* Says loudly why the running test cannot run (printf-style reason) and
 * marks it skipped; the test function returns right after. */
#define TD_SKIP(...)                                                        \
	do {                                                                \
		td_test_skipping = 1;                                       \
		printf("\n!!!! SKIPPED: ");                                 \
		printf(__VA_ARGS__);                                        \
		printf("\n\n");                                             \
	} while (0)

#define TD_RUN(fn)                                                          \
	do {                                                                \
		int before_ = td_test_failed;                               \
		int checks_ = td_test_passed + td_test_failed;              \
		td_test_skipping = 0;                                       \
		fn();                                                       \
		if (td_test_failed != before_) {                            \
			fprintf(stderr, "FAIL %s\n", #fn);                  \
		} else if (td_test_skipping) {                              \
			td_test_skipped++;                                  \
		} else if (td_test_passed + td_test_failed == checks_) {    \
			td_test_failed++;                                   \
			fprintf(stderr, "FAIL %s: made no check\n", #fn);   \
		}                                                           \
	} while (0)

#define TD_DONE(name)                                                       \
	(printf("%s: %d passed, %d failed", name, td_test_passed,           \
		td_test_failed),                                            \
	 td_test_skipped ? printf(", %d tests SKIPPED", td_test_skipped)    \
			 : 0,                                               \
	 printf("\n"), td_test_failed ? 1 : 0)

/* Writes len bytes of data to dir/name (to name when dir is NULL),
 * creating or truncating it. A fixture that cannot be written counts as a
 * failed check, reported at the caller's line. */
#define write_bytes(dir, name, data, len)                                   \
	td_test_write_file(__FILE__, __LINE__, dir, name, data, len)
#define write_file(dir, name, text)                                         \
	td_test_write_file(__FILE__, __LINE__, dir, name, text, strlen(text))

static inline void td_test_write_file(const char *file, int line,
				      const char *dir, const char *name,
				      const char *data, size_t len)
{
	char path[4096];
	if (dir)
		snprintf(path, sizeof path, "%s/%s", dir, name);
	else
		snprintf(path, sizeof path, "%s", name);
	FILE *f = fopen(path, "wb");
	int ok = f && fwrite(data, 1, len, f) == len;
	int e = errno;
	if (f && fclose(f) != 0 && ok) {
		ok = 0;
		e = errno;
	}
	if (ok)
		return;
	td_test_failed++;
	fprintf(stderr, "%s:%d: cannot write %s: %s\n", file, line, path,
		strerror(e));
}

/* The UTC calendar time y-mo-d h:mi:s as a time_t (timegm: fields past
 * their range carry over). */
static inline time_t utc(int y, int mo, int d, int h, int mi, int s)
{
	struct tm t = { 0 };
	t.tm_year = y - 1900;
	t.tm_mon = mo - 1;
	t.tm_mday = d;
	t.tm_hour = h;
	t.tm_min = mi;
	t.tm_sec = s;
	return timegm(&t);
}

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
