/*
 * test_schedule.c: slot arithmetic at the edges: the exact slot second,
 * week wrap, and both DST changes in Europe/Berlin and a half-hour zone.
 * Expected instants are computed by hand from the zone rules (UTC offsets
 * noted beside each), not taken from the code under test.
 */
#include <stdlib.h>
#include <time.h>

#include "harness.h"
#include "tagdigest/schedule/schedule.h"

static struct td_tz *utc_zone, *berlin, *kolkata;

static void test_slot_edge_utc(void)
{
	/* Monday 08:00 UTC; 2026-11-23 is a Monday. */
	struct td_schedule s = { 1, 8, 0, utc_zone, TD_FREQ_WEEKLY };
	time_t slot = utc(2026, 11, 23, 8, 0, 0);
	CHECK(td_schedule_last_slot(&s, slot) == slot);
	CHECK(td_schedule_last_slot(&s, slot - 1) == utc(2026, 11, 16, 8, 0, 0));
	CHECK(td_schedule_last_slot(&s, slot + 1) == slot);
	CHECK(td_schedule_next_slot(&s, slot) == utc(2026, 11, 30, 8, 0, 0));
	CHECK(td_schedule_next_slot(&s, slot - 1) == slot);
	/* Friday 2026-11-27 23:16 -> last Monday 23rd */
	CHECK(td_schedule_last_slot(&s, utc(2026, 11, 27, 23, 16, 0)) == slot);
}

static void test_week_wrap_sunday(void)
{
	/* Sunday 23:30 UTC, asked on Saturday: previous Sunday. 2026-11-28 is Sat. */
	struct td_schedule s = { 0, 23, 30, NULL, TD_FREQ_WEEKLY };   /* NULL is UTC too */
	CHECK(td_schedule_last_slot(&s, utc(2026, 11, 28, 12, 0, 0)) ==
	      utc(2026, 11, 22, 23, 30, 0));
	CHECK(td_schedule_next_slot(&s, utc(2026, 11, 28, 12, 0, 0)) ==
	      utc(2026, 11, 29, 23, 30, 0));
}

static void test_dst_berlin(void)
{
	struct td_schedule s = { 1, 8, 0, berlin, TD_FREQ_WEEKLY };
	/* Summer time starts Sun 2026-03-29. Mon 03-23 08:00 CET = 07:00Z,
	 * Mon 03-30 08:00 CEST = 06:00Z: the slot stays at 08:00 local. */
	CHECK(td_schedule_last_slot(&s, utc(2026, 3, 29, 12, 0, 0)) ==
	      utc(2026, 3, 23, 7, 0, 0));
	CHECK(td_schedule_next_slot(&s, utc(2026, 3, 29, 12, 0, 0)) ==
	      utc(2026, 3, 30, 6, 0, 0));
	CHECK(td_schedule_last_slot(&s, utc(2026, 3, 30, 6, 0, 0)) ==
	      utc(2026, 3, 30, 6, 0, 0));
	CHECK(td_schedule_last_slot(&s, utc(2026, 3, 30, 5, 59, 59)) ==
	      utc(2026, 3, 23, 7, 0, 0));
	/* Winter time from Sun 2026-10-25: Mon 10-19 06:00Z, Mon 10-26 07:00Z. */
	CHECK(td_schedule_next_slot(&s, utc(2026, 10, 20, 0, 0, 0)) ==
	      utc(2026, 10, 26, 7, 0, 0));
	CHECK(td_schedule_last_slot(&s, utc(2026, 10, 26, 6, 30, 0)) ==
	      utc(2026, 10, 19, 6, 0, 0));
}

static void test_dst_gap_and_overlap(void)
{
	/* Sunday 02:30 Berlin does not exist on 2026-03-29 (02:00 -> 03:00):
	 * read with the offset before the change, 03:30 CEST = 01:30Z. */
	struct td_schedule gap = { 0, 2, 30, berlin, TD_FREQ_WEEKLY };
	time_t got = td_schedule_last_slot(&gap, utc(2026, 3, 29, 12, 0, 0));
	CHECK(got == utc(2026, 3, 29, 1, 30, 0));
	/* Sunday 02:30 happens twice on 2026-10-25: first at 00:30Z (CEST). */
	struct td_schedule twice = { 0, 2, 30, berlin, TD_FREQ_WEEKLY };
	CHECK(td_schedule_last_slot(&twice, utc(2026, 10, 25, 12, 0, 0)) ==
	      utc(2026, 10, 25, 0, 30, 0));
	/* ...and a run between the two readings has already passed the slot. */
	CHECK(td_schedule_last_slot(&twice, utc(2026, 10, 25, 1, 15, 0)) ==
	      utc(2026, 10, 25, 0, 30, 0));
}

static void test_half_hour_zone(void)
{
	/* Asia/Kolkata is UTC+05:30: Monday 08:00 IST = 02:30Z. */
	struct td_schedule s = { 1, 8, 0, kolkata, TD_FREQ_WEEKLY };
	CHECK(td_schedule_last_slot(&s, utc(2026, 11, 27, 0, 0, 0)) ==
	      utc(2026, 11, 23, 2, 30, 0));
	char buf[64];
	td_tz_format(kolkata, utc(2026, 11, 23, 2, 30, 0), "%Y-%m-%d %H:%M %z", buf,
		     sizeof buf);
	CHECK_STR(buf, "2026-11-23 08:00 +0530");
}

/* The slot is the zone's, whatever the process's TZ says, and TZ is left
 * alone. */
static void test_tz_variable_ignored(void)
{
	setenv("TZ", "America/New_York", 1);
	tzset();
	struct td_schedule s = { 1, 8, 0, utc_zone, TD_FREQ_WEEKLY };
	CHECK(td_schedule_last_slot(&s, utc(2026, 11, 27, 0, 0, 0)) ==
	      utc(2026, 11, 23, 8, 0, 0));
	struct td_schedule b = { 1, 8, 0, berlin, TD_FREQ_WEEKLY };
	CHECK(td_schedule_next_slot(&b, utc(2026, 11, 27, 0, 0, 0)) ==
	      utc(2026, 11, 30, 7, 0, 0));
	CHECK_STR(getenv("TZ"), "America/New_York");
	unsetenv("TZ");
	tzset();
}

int main(void)
{
	utc_zone = td_tz_load("UTC");
	berlin = td_tz_load("Europe/Berlin");
	kolkata = td_tz_load("Asia/Kolkata");
	CHECK(utc_zone && berlin && kolkata);
	TD_RUN(test_slot_edge_utc);
	TD_RUN(test_week_wrap_sunday);
	TD_RUN(test_dst_berlin);
	TD_RUN(test_dst_gap_and_overlap);
	TD_RUN(test_half_hour_zone);
	TD_RUN(test_tz_variable_ignored);
	td_tz_free(utc_zone);
	td_tz_free(berlin);
	td_tz_free(kolkata);
	return TD_DONE("schedule");
}
