/*
 * test_tz.c: time zones as values: which names load, wall-clock fields
 * and abbreviations on both sides of DST changes, the gap and the
 * overlap, formatting, and that nothing depends on (or changes) TZ.
 *
 * Expected instants are epoch seconds from Python's calendar.timegm, with
 * the zone's rule noted beside each. One test compares every field with
 * the C library's own zone code (localtime_r under TZ=zone, set by the
 * test only): an implementation independent of the GLib one under test.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"
#include "tagdigest/core/tz.h"

static void test_names(void)
{
	static const char *const good[] = {
		"UTC", "Europe/Berlin", "Asia/Kolkata", "America/Argentina/Buenos_Aires",
		"Etc/GMT+5",
	};
	for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
		struct td_tz *tz = td_tz_load(good[i]);
		CHECK(tz != NULL);
		if (tz)
			CHECK_STR(td_tz_name(tz), good[i]);
		td_tz_free(tz);
	}
	/* not zones: unknown, paths, files in zoneinfo that are not zones,
	 * and a POSIX rule that GLib alone would take */
	static const char *const bad[] = {
		"", "Europe/Atlantis", "Mars/Olympus", "../../etc/passwd",
		"/etc/localtime", "/usr/share/zoneinfo/Europe/Berlin", "zone.tab",
		"leapseconds", "FOO3", "CET-1CEST,M3.5.0,M10.5.0/3", "Europe",
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		struct td_tz *tz = td_tz_load(bad[i]);
		if (tz)
			fprintf(stderr, "  '%s' loaded\n", bad[i]);
		CHECK(tz == NULL);
		td_tz_free(tz);
	}
	CHECK(td_tz_load(NULL) == NULL);
	CHECK_STR(td_tz_name(NULL), "UTC");
}

static void check_fields(const struct td_tz *tz, time_t t, int y, int mo, int d,
			 int h, int mi, int wday, int isdst, long off, const char *abbr)
{
	struct tm tm;
	td_tz_localtime(tz, t, &tm);
	CHECK(tm.tm_year == y - 1900 && tm.tm_mon == mo - 1 && tm.tm_mday == d);
	CHECK(tm.tm_hour == h && tm.tm_min == mi && tm.tm_sec == 0);
	CHECK(tm.tm_wday == wday);
	CHECK(tm.tm_isdst == isdst);
	CHECK(tm.tm_gmtoff == off);
	CHECK_STR(tm.tm_zone, abbr);
}

static void test_localtime(void)
{
	struct td_tz *berlin = td_tz_load("Europe/Berlin");
	struct td_tz *ny = td_tz_load("America/New_York");
	CHECK(berlin && ny);
	/* 2026-01-15 12:00Z, a Thursday: 13:00 CET; 07:00 EST */
	check_fields(berlin, 1768478400, 2026, 1, 15, 13, 0, 4, 0, 3600, "CET");
	check_fields(ny, 1768478400, 2026, 1, 15, 7, 0, 4, 0, -18000, "EST");
	/* 2026-07-15 12:00Z, a Wednesday: 14:00 CEST; 08:00 EDT */
	check_fields(berlin, 1784116800, 2026, 7, 15, 14, 0, 3, 1, 7200, "CEST");
	check_fields(ny, 1784116800, 2026, 7, 15, 8, 0, 3, 1, -14400, "EDT");
	/* Past the zone file's last listed change, its closing rule goes on:
	 * 2100-07-01 12:00Z, a Thursday, is 14:00 CEST. */
	check_fields(berlin, 4118126400, 2100, 7, 1, 14, 0, 4, 1, 7200, "CEST");
	/* The instant of a change belongs to the new offset: 2026-03-29
	 * 01:00Z is 03:00 CEST, a second before is 01:59:59 CET. */
	check_fields(berlin, 1774746000, 2026, 3, 29, 3, 0, 0, 1, 7200, "CEST");
	struct tm tm;
	td_tz_localtime(berlin, 1774746000 - 1, &tm);
	CHECK(tm.tm_hour == 1 && tm.tm_min == 59 && tm.tm_sec == 59 && tm.tm_gmtoff == 3600);
	/* NULL is UTC */
	check_fields(NULL, 1768478400, 2026, 1, 15, 12, 0, 4, 0, 0, "UTC");
	td_tz_free(berlin);
	td_tz_free(ny);
}

static time_t wall(const struct td_tz *tz, int y, int mo, int d, int h, int mi)
{
	struct tm tm = {
		.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d,
		.tm_hour = h, .tm_min = mi,
		.tm_isdst = 1,   /* ignored */
	};
	return td_tz_mktime(tz, &tm);
}

static void test_mktime(void)
{
	struct td_tz *berlin = td_tz_load("Europe/Berlin");
	CHECK(berlin != NULL);
	CHECK(wall(berlin, 2026, 1, 15, 13, 0) == 1768478400);      /* CET */
	CHECK(wall(berlin, 2026, 7, 15, 14, 0) == 1784116800);      /* CEST */
	/* 02:30 does not exist on 2026-03-29 (02:00 -> 03:00): 03:30 CEST */
	CHECK(wall(berlin, 2026, 3, 29, 2, 30) == 1774747800);
	/* 02:30 occurs twice on 2026-10-25: the first, 00:30Z (CEST) */
	CHECK(wall(berlin, 2026, 10, 25, 2, 30) == 1792888200);
	/* and the hours around it once each: 01:30 CEST, 03:30 CET */
	CHECK(wall(berlin, 2026, 10, 25, 1, 30) == 1792888200 - 3600);
	CHECK(wall(berlin, 2026, 10, 25, 3, 30) == 1792891800 + 3600);
	/* days past the month's end carry: January 32nd is February 1st,
	 * 08:00 CET = 07:00Z */
	CHECK(wall(berlin, 2026, 1, 32, 8, 0) == 1769929200);
	/* NULL is UTC */
	CHECK(wall(NULL, 2026, 1, 15, 12, 0) == 1768478400);
	td_tz_free(berlin);
}

static void test_format(void)
{
	struct td_tz *kolkata = td_tz_load("Asia/Kolkata");
	CHECK(kolkata != NULL);
	char buf[64];
	/* 2026-11-23 02:30Z is 08:00 IST (+05:30), a Monday */
	td_tz_format(kolkata, 1795401000, "%a %d %b %Y %H:%M %z %Z", buf, sizeof buf);
	CHECK_STR(buf, "Mon 23 Nov 2026 08:00 +0530 IST");
	td_tz_format(NULL, 1795401000, "%e %B %Y %H:%M %Z", buf, sizeof buf);
	CHECK_STR(buf, "23 November 2026 02:30 UTC");
	/* too small: empty, not cut */
	td_tz_format(kolkata, 1795401000, "%Y-%m-%d", buf, 5);
	CHECK_STR(buf, "");
	td_tz_free(kolkata);
}

/* The process's TZ plays no part and is left as it was. */
static void test_tz_variable_untouched(void)
{
	setenv("TZ", "America/New_York", 1);
	tzset();
	const char *before = getenv("TZ");
	struct td_tz *berlin = td_tz_load("Europe/Berlin");
	char buf[64];
	td_tz_format(berlin, 1768478400, "%H:%M %Z", buf, sizeof buf);
	CHECK_STR(buf, "13:00 CET");
	CHECK(wall(berlin, 2026, 1, 15, 13, 0) == 1768478400);
	CHECK(getenv("TZ") == before);
	CHECK_STR(getenv("TZ"), "America/New_York");
	/* and the C library's local time still is New York's */
	time_t t = 1768478400;
	struct tm lt;
	localtime_r(&t, &lt);
	CHECK(lt.tm_hour == 7);
	td_tz_free(berlin);
	unsetenv("TZ");
	tzset();
}

/* Every field as glibc's localtime_r gives it under TZ=zone, at 31,942
 * instants 4 h 07 min apart (2020 to 2035, every hour of the day), in
 * zones with DST both ways, half-hour offsets and a half-hour DST. */
static void test_same_as_libc(void)
{
	static const char *const zones[] = {
		"Europe/Berlin", "America/New_York", "Asia/Kolkata", "Europe/Dublin",
		"Australia/Lord_Howe", "America/Sao_Paulo", "Pacific/Chatham",
		"Asia/Tehran", "America/St_Johns",
	};
	for (size_t z = 0; z < sizeof zones / sizeof *zones; z++) {
		struct td_tz *tz = td_tz_load(zones[z]);
		CHECK(tz != NULL);
		if (!tz)
			continue;
		setenv("TZ", zones[z], 1);
		tzset();
		size_t bad = 0;
		for (time_t t = 1577836800; t < 2051222400; t += 4 * 3600 + 7 * 60) {
			struct tm want, got;
			localtime_r(&t, &want);
			td_tz_localtime(tz, t, &got);
			if (want.tm_year != got.tm_year || want.tm_yday != got.tm_yday ||
			    want.tm_mon != got.tm_mon || want.tm_mday != got.tm_mday ||
			    want.tm_wday != got.tm_wday || want.tm_hour != got.tm_hour ||
			    want.tm_min != got.tm_min || want.tm_sec != got.tm_sec ||
			    want.tm_isdst != got.tm_isdst || want.tm_gmtoff != got.tm_gmtoff ||
			    strcmp(want.tm_zone, got.tm_zone) != 0) {
				if (bad++ < 3)
					fprintf(stderr, "  %s at %lld: libc %02d:%02d %s, got "
						"%02d:%02d %s\n", zones[z], (long long)t,
						want.tm_hour, want.tm_min, want.tm_zone,
						got.tm_hour, got.tm_min, got.tm_zone);
				continue;
			}
			/* and back: a wall time shown at t maps to t or earlier
			 * (earlier only for the second reading of an overlap) */
			time_t back = td_tz_mktime(tz, &got);
			if (back > t || t - back > 3600)
				bad++;
		}
		CHECK(bad == 0);
		td_tz_free(tz);
	}
	unsetenv("TZ");
	tzset();
}

/* Zones are shared between threads: two threads formatting in two zones
 * at once each get their own zone's answer every time. */
struct fmt_job {
	const struct td_tz *tz;
	const char *want;
	int wrong;
};

static void *format_many(void *arg)
{
	struct fmt_job *j = arg;
	char buf[64];
	for (int i = 0; i < 20000; i++) {
		td_tz_format(j->tz, 1768478400, "%H:%M %Z", buf, sizeof buf);
		if (strcmp(buf, j->want) != 0)
			j->wrong++;
	}
	return NULL;
}

static void test_threads(void)
{
	struct td_tz *berlin = td_tz_load("Europe/Berlin");
	struct td_tz *kolkata = td_tz_load("Asia/Kolkata");
	struct fmt_job jobs[2] = {
		{ berlin, "13:00 CET", 0 }, { kolkata, "17:30 IST", 0 },
	};
	pthread_t th[2];
	int started = 0;
	for (int i = 0; i < 2; i++)
		if (pthread_create(&th[i], NULL, format_many, &jobs[i]) == 0)
			started++;
	CHECK(started == 2);
	for (int i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	CHECK(jobs[0].wrong == 0);
	CHECK(jobs[1].wrong == 0);
	td_tz_free(berlin);
	td_tz_free(kolkata);
}

int main(void)
{
	TD_RUN(test_names);
	TD_RUN(test_localtime);
	TD_RUN(test_mktime);
	TD_RUN(test_format);
	TD_RUN(test_tz_variable_untouched);
	TD_RUN(test_same_as_libc);
	TD_RUN(test_threads);
	return TD_DONE("tz");
}
