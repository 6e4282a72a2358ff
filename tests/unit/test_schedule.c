/*
 * test_schedule.c: slot arithmetic at the edges: the exact slot second,
 * week wrap, both DST changes in Europe/Berlin, America/New_York and
 * Australia/Lord_Howe (a 30-minute change) for weekly, daily and monthly
 * slots, a half-hour zone, a reader's own zone and time over the site's,
 * and a property walk over many instants. Expected instants are computed
 * by hand from the zone rules (UTC offsets noted beside each; the change
 * instants checked against `zdump -v`), not taken from the code under
 * test.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"
#include "tagdigest/schedule/schedule.h"

static struct td_tz *utc_zone, *berlin, *kolkata, *new_york, *lord_howe, *tokyo;

/* The due rule every caller shares (td_schedule_due). Weekly, Monday
 * 08:00 UTC; the slot of Mon 23 Nov 2026 is the one "now" falls after. */
static void test_due_rule(void)
{
	struct td_schedule s = { 1, 8, 0, NULL, TD_FREQ_WEEKLY };
	struct td_prefs p = { 0 };
	time_t slot = utc(2026, 11, 23, 8, 0, 0), next = utc(2026, 11, 30, 8, 0, 0);
	time_t now = utc(2026, 11, 25, 12, 0, 0);
	/* never had one: due for this slot */
	struct td_due d = td_schedule_due(&s, &p, 0, 0, now);
	CHECK(d.now && d.slot == slot && d.next == slot);
	/* had this slot's: the next is next week's */
	d = td_schedule_due(&s, &p, 0, slot, now);
	CHECK(!d.now && d.slot == slot && d.next == next);
	/* had a later one (their day moved earlier): nothing more this week */
	d = td_schedule_due(&s, &p, 0, utc(2026, 11, 25, 8, 0, 0), now);
	CHECK(!d.now && d.next == next);
	/* confirmed on the form after the slot: the next slot is their first */
	d = td_schedule_due(&s, &p, utc(2026, 11, 24, 9, 0, 0), 0, now);
	CHECK(!d.now && d.next == next);
	/* confirmed before it: this slot is theirs */
	d = td_schedule_due(&s, &p, utc(2026, 11, 22, 9, 0, 0), 0, now);
	CHECK(d.now && d.next == slot);
	/* paused for two weeks: nothing now, the first slot after the pause */
	p.paused_until = utc(2026, 12, 9, 0, 0, 0);
	d = td_schedule_due(&s, &p, 0, 0, now);
	CHECK(!d.now && d.next == utc(2026, 12, 14, 8, 0, 0));
	/* a pause ending right at a slot leaves that slot theirs */
	p.paused_until = next;
	d = td_schedule_due(&s, &p, 0, slot, now);
	CHECK(!d.now && d.next == next);
	/* the pause is over: due again */
	p.paused_until = utc(2026, 11, 20, 0, 0, 0);
	d = td_schedule_due(&s, &p, 0, utc(2026, 11, 16, 8, 0, 0), now);
	CHECK(d.now && d.slot == slot);
}

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

/* ---- readers' own schedules ---- */

/* The site's rule: Monday 08:00 Berlin, weekly. */
static struct td_schedule site_rule(void)
{
	return (struct td_schedule){ 1, 8, 0, berlin, TD_FREQ_WEEKLY };
}

static void test_zones_cache(void)
{
	struct td_zones *z = td_zones_new();
	const struct td_tz *a = td_zones_get(z, "Asia/Tokyo");
	REQUIRE(a != NULL);
	CHECK_STR(td_tz_name(a), "Asia/Tokyo");
	/* loaded once: the same zone for every reader in it */
	CHECK(td_zones_get(z, "Asia/Tokyo") == a);
	const struct td_tz *b = td_zones_get(z, "America/New_York");
	CHECK(b != NULL && b != a);
	CHECK(td_zones_get(z, "Asia/Tokyo") == a);
	CHECK(td_zones_get(z, "Mars/Olympus_Mons") == NULL);
	CHECK(td_zones_get(z, "Mars/Olympus_Mons") == NULL);
	CHECK(td_zones_get(z, "../etc/passwd") == NULL);
	CHECK(td_zones_get(z, NULL) == NULL);
	CHECK(td_zones_get(NULL, "Asia/Tokyo") == NULL);
	/* many names that are no zone: bounded, and still answered */
	char name[32];
	for (int i = 0; i < 200; i++) {
		snprintf(name, sizeof name, "Nowhere/Zone_%d", i);
		CHECK(td_zones_get(z, name) == NULL);
	}
	CHECK(td_zones_get(z, "America/New_York") == b);
	td_zones_free(z);
	td_zones_free(NULL);
}

/* A reader in Tokyo who chose Monday 08:00 gets slots at 08:00 in Tokyo,
 * which is 23:00 UTC on Sunday (JST is UTC+9, no DST). */
static void test_reader_tokyo(void)
{
	struct td_zones *z = td_zones_new();
	struct td_schedule site = site_rule();
	struct td_prefs p = { .frequency = TD_FREQ_WEEKLY, .own_time = true,
			      .wday = 1, .hour = 8, .minute = 0,
			      .timezone = (char *)"Asia/Tokyo" };
	struct td_schedule s = td_schedule_for(&site, &p, z);
	CHECK_STR(td_tz_name(s.tz), "Asia/Tokyo");
	time_t slot = utc(2026, 11, 22, 23, 0, 0);     /* Mon 23 Nov 08:00 JST */
	CHECK(td_schedule_last_slot(&s, slot) == slot);
	CHECK(td_schedule_last_slot(&s, slot - 1) == utc(2026, 11, 15, 23, 0, 0));
	CHECK(td_schedule_next_slot(&s, slot - 1) == slot);
	CHECK(td_schedule_next_slot(&s, slot) == utc(2026, 11, 29, 23, 0, 0));
	/* Monday 07:00 Berlin is past the Tokyo slot, before the site's */
	CHECK(td_schedule_last_slot(&s, utc(2026, 11, 23, 6, 0, 0)) == slot);
	CHECK(td_schedule_last_slot(&site, utc(2026, 11, 23, 6, 0, 0)) ==
	      utc(2026, 11, 16, 7, 0, 0));
	char buf[64];
	td_tz_format(s.tz, slot, "%a %H:%M %Z", buf, sizeof buf);
	CHECK_STR(buf, "Mon 08:00 JST");
	/* only the zone chosen: the site's Monday 08:00, read in Tokyo */
	struct td_prefs zone_only = { .timezone = (char *)"Asia/Tokyo" };
	s = td_schedule_for(&site, &zone_only, z);
	CHECK(s.wday == 1 && s.hour == 8 && s.minute == 0 && s.freq == TD_FREQ_WEEKLY);
	CHECK(td_schedule_last_slot(&s, slot + 3600) == slot);
	td_zones_free(z);
}

static void test_schedule_for(void)
{
	struct td_zones *z = td_zones_new();
	struct td_schedule site = site_rule();
	/* all zero: the site's rule, exactly */
	struct td_prefs none = { 0 };
	struct td_schedule s = td_schedule_for(&site, &none, z);
	CHECK(s.wday == 1 && s.hour == 8 && s.minute == 0 && s.tz == berlin &&
	      s.freq == TD_FREQ_WEEKLY);
	s = td_schedule_for(&site, NULL, NULL);
	CHECK(s.tz == berlin && s.freq == TD_FREQ_WEEKLY);
	/* daily at the site's time */
	struct td_prefs daily = { .frequency = TD_FREQ_DAILY };
	s = td_schedule_for(&site, &daily, NULL);
	CHECK(s.freq == TD_FREQ_DAILY && s.hour == 8 && s.tz == berlin);
	/* a zone that left tzdata (or never was): the site's zone */
	struct td_prefs gone = { .own_time = true, .wday = 3, .hour = 18,
				 .minute = 30, .timezone = (char *)"Atlantis/Capital" };
	s = td_schedule_for(&site, &gone, z);
	CHECK(s.tz == berlin && s.wday == 3 && s.hour == 18 && s.minute == 30);
	/* Wed 18:30 Berlin (CET, +1) = 17:30Z; 2026-11-25 is a Wednesday */
	CHECK(td_schedule_next_slot(&s, utc(2026, 11, 23, 0, 0, 0)) ==
	      utc(2026, 11, 25, 17, 30, 0));
	/* a time no form can give is not taken */
	struct td_prefs bad = { .own_time = true, .wday = 9, .hour = 25, .minute = 0 };
	s = td_schedule_for(&site, &bad, z);
	CHECK(s.wday == 1 && s.hour == 8);
	td_zones_free(z);
}

/* New York: EST (-5) until Sun 2026-03-08 07:00Z, EDT (-4) until Sun
 * 2026-11-01 06:00Z, then EST. */
static void test_new_york(void)
{
	/* daily 08:00: 13:00Z in winter, 12:00Z in summer */
	struct td_schedule d = { 0, 8, 0, new_york, TD_FREQ_DAILY };
	CHECK(td_schedule_next_slot(&d, utc(2026, 3, 7, 13, 0, 0)) ==
	      utc(2026, 3, 8, 12, 0, 0));          /* 23 hours later */
	CHECK(td_schedule_last_slot(&d, utc(2026, 3, 8, 11, 59, 59)) ==
	      utc(2026, 3, 7, 13, 0, 0));
	CHECK(td_schedule_last_slot(&d, utc(2026, 3, 8, 12, 0, 0)) ==
	      utc(2026, 3, 8, 12, 0, 0));
	CHECK(td_schedule_next_slot(&d, utc(2026, 10, 31, 12, 0, 0)) ==
	      utc(2026, 11, 1, 13, 0, 0));         /* 25 hours later */
	CHECK(td_schedule_last_slot(&d, utc(2026, 11, 1, 12, 59, 0)) ==
	      utc(2026, 10, 31, 12, 0, 0));
	/* daily 02:30 does not exist on Mar 8: read with EST, 07:30Z (03:30
	 * EDT); the day before and after are 07:30Z (EST) and 06:30Z (EDT) */
	struct td_schedule gap = { 0, 2, 30, new_york, TD_FREQ_DAILY };
	CHECK(td_schedule_next_slot(&gap, utc(2026, 3, 7, 7, 30, 0)) ==
	      utc(2026, 3, 8, 7, 30, 0));
	CHECK(td_schedule_last_slot(&gap, utc(2026, 3, 8, 8, 0, 0)) ==
	      utc(2026, 3, 8, 7, 30, 0));
	CHECK(td_schedule_next_slot(&gap, utc(2026, 3, 8, 7, 30, 0)) ==
	      utc(2026, 3, 9, 6, 30, 0));
	/* daily 01:30 happens twice on Nov 1: the first (EDT, 05:30Z) counts,
	 * and a run at the second reading finds it already past */
	struct td_schedule twice = { 0, 1, 30, new_york, TD_FREQ_DAILY };
	CHECK(td_schedule_next_slot(&twice, utc(2026, 10, 31, 6, 0, 0)) ==
	      utc(2026, 11, 1, 5, 30, 0));
	CHECK(td_schedule_last_slot(&twice, utc(2026, 11, 1, 6, 30, 0)) ==
	      utc(2026, 11, 1, 5, 30, 0));
	CHECK(td_schedule_next_slot(&twice, utc(2026, 11, 1, 6, 30, 0)) ==
	      utc(2026, 11, 2, 6, 30, 0));
	/* weekly Sunday 08:00 across the spring change */
	struct td_schedule w = { 0, 8, 0, new_york, TD_FREQ_WEEKLY };
	CHECK(td_schedule_last_slot(&w, utc(2026, 3, 8, 11, 0, 0)) ==
	      utc(2026, 3, 1, 13, 0, 0));
	CHECK(td_schedule_next_slot(&w, utc(2026, 3, 8, 11, 0, 0)) ==
	      utc(2026, 3, 8, 12, 0, 0));
	CHECK(td_schedule_next_slot(&w, utc(2026, 10, 25, 12, 0, 0)) ==
	      utc(2026, 11, 1, 13, 0, 0));
	/* monthly, first Sunday 08:00: Mar 1 (EST), Apr 5 (EDT), Oct 4 (EDT),
	 * Nov 1 (EST, the day of the change itself) */
	struct td_schedule m = { 0, 8, 0, new_york, TD_FREQ_MONTHLY };
	CHECK(td_schedule_last_slot(&m, utc(2026, 3, 31, 0, 0, 0)) ==
	      utc(2026, 3, 1, 13, 0, 0));
	CHECK(td_schedule_next_slot(&m, utc(2026, 3, 31, 0, 0, 0)) ==
	      utc(2026, 4, 5, 12, 0, 0));
	CHECK(td_schedule_next_slot(&m, utc(2026, 10, 4, 12, 0, 0)) ==
	      utc(2026, 11, 1, 13, 0, 0));
	CHECK(td_schedule_last_slot(&m, utc(2026, 11, 1, 12, 59, 59)) ==
	      utc(2026, 10, 4, 12, 0, 0));
	/* monthly first Sunday 01:30: twice on Nov 1, the first counts */
	struct td_schedule m2 = { 0, 1, 30, new_york, TD_FREQ_MONTHLY };
	CHECK(td_schedule_next_slot(&m2, utc(2026, 10, 20, 0, 0, 0)) ==
	      utc(2026, 11, 1, 5, 30, 0));
	CHECK(td_schedule_last_slot(&m2, utc(2026, 11, 1, 6, 45, 0)) ==
	      utc(2026, 11, 1, 5, 30, 0));
	CHECK(td_schedule_next_slot(&m2, utc(2026, 11, 1, 6, 45, 0)) ==
	      utc(2026, 12, 6, 6, 30, 0));         /* Dec 6, EST */
}

/* Berlin: CET (+1), CEST (+2) from Sun 2026-03-29 01:00Z to Sun
 * 2026-10-25 01:00Z. */
static void test_berlin_daily_monthly(void)
{
	struct td_schedule d = { 0, 8, 0, berlin, TD_FREQ_DAILY };
	CHECK(td_schedule_next_slot(&d, utc(2026, 3, 28, 7, 0, 0)) ==
	      utc(2026, 3, 29, 6, 0, 0));
	CHECK(td_schedule_last_slot(&d, utc(2026, 3, 29, 5, 0, 0)) ==
	      utc(2026, 3, 28, 7, 0, 0));
	CHECK(td_schedule_next_slot(&d, utc(2026, 10, 24, 6, 0, 0)) ==
	      utc(2026, 10, 25, 7, 0, 0));
	CHECK(td_schedule_last_slot(&d, utc(2026, 10, 25, 6, 59, 59)) ==
	      utc(2026, 10, 24, 6, 0, 0));
	/* daily 02:30: gap on Mar 29 (01:30Z = 03:30 CEST), twice on Oct 25
	 * (first at 00:30Z) */
	struct td_schedule g = { 0, 2, 30, berlin, TD_FREQ_DAILY };
	CHECK(td_schedule_next_slot(&g, utc(2026, 3, 28, 12, 0, 0)) ==
	      utc(2026, 3, 29, 1, 30, 0));
	CHECK(td_schedule_next_slot(&g, utc(2026, 3, 29, 1, 30, 0)) ==
	      utc(2026, 3, 30, 0, 30, 0));
	CHECK(td_schedule_next_slot(&g, utc(2026, 10, 24, 12, 0, 0)) ==
	      utc(2026, 10, 25, 0, 30, 0));
	CHECK(td_schedule_next_slot(&g, utc(2026, 10, 25, 1, 30, 0)) ==
	      utc(2026, 10, 26, 1, 30, 0));
	/* monthly, first Monday 08:00: Mar 2 (CET), Apr 6 (CEST), Oct 5
	 * (CEST), Nov 2 (CET) */
	struct td_schedule m = { 1, 8, 0, berlin, TD_FREQ_MONTHLY };
	CHECK(td_schedule_next_slot(&m, utc(2026, 3, 2, 7, 0, 0)) ==
	      utc(2026, 4, 6, 6, 0, 0));
	CHECK(td_schedule_last_slot(&m, utc(2026, 4, 6, 5, 59, 59)) ==
	      utc(2026, 3, 2, 7, 0, 0));
	CHECK(td_schedule_next_slot(&m, utc(2026, 10, 5, 6, 0, 0)) ==
	      utc(2026, 11, 2, 7, 0, 0));
	CHECK(td_schedule_last_slot(&m, utc(2026, 11, 2, 6, 59, 59)) ==
	      utc(2026, 10, 5, 6, 0, 0));
}

/* Lord Howe Island moves its clocks by 30 minutes, both changes on the
 * first Sunday of the month: +11 -> +10:30 at Sat 2026-04-04 15:00Z
 * (01:30-02:00 happens twice), +10:30 -> +11 at Sat 2026-10-03 15:30Z
 * (02:00-02:30 does not happen). */
static void test_lord_howe(void)
{
	/* monthly, first Sunday 01:45: twice on Apr 5, the first (+11) counts */
	struct td_schedule a = { 0, 1, 45, lord_howe, TD_FREQ_MONTHLY };
	CHECK(td_schedule_next_slot(&a, utc(2026, 3, 20, 0, 0, 0)) ==
	      utc(2026, 4, 4, 14, 45, 0));
	CHECK(td_schedule_last_slot(&a, utc(2026, 4, 4, 15, 20, 0)) ==
	      utc(2026, 4, 4, 14, 45, 0));
	/* May 3 01:45 +10:30 */
	CHECK(td_schedule_next_slot(&a, utc(2026, 4, 4, 15, 20, 0)) ==
	      utc(2026, 5, 2, 15, 15, 0));
	/* monthly, first Sunday 02:15: absent on Oct 4, read with +10:30:
	 * 15:45Z, which the island's clocks show as 02:45 */
	struct td_schedule b = { 0, 2, 15, lord_howe, TD_FREQ_MONTHLY };
	time_t oct = utc(2026, 10, 3, 15, 45, 0);
	CHECK(td_schedule_next_slot(&b, utc(2026, 9, 30, 0, 0, 0)) == oct);
	CHECK(td_schedule_last_slot(&b, oct) == oct);
	CHECK(td_schedule_last_slot(&b, oct - 1) == utc(2026, 9, 5, 15, 45, 0));
	char buf[32];
	td_tz_format(lord_howe, oct, "%H:%M %z", buf, sizeof buf);
	CHECK_STR(buf, "02:45 +1100");
	/* daily 08:00 across the change: 21:00Z (+11), then 21:30Z (+10:30) */
	struct td_schedule d = { 0, 8, 0, lord_howe, TD_FREQ_DAILY };
	CHECK(td_schedule_next_slot(&d, utc(2026, 4, 3, 21, 0, 0)) ==
	      utc(2026, 4, 4, 21, 30, 0));
}

/* The first chosen weekday of each month, whatever the month's length. */
static void test_monthly_lengths(void)
{
	/* first Monday 09:00 UTC: 2026 and 2027's January, then the 2028
	 * leap February (Feb 1 is a Tuesday, Feb has 29 days, Mar 1 is a
	 * Wednesday) */
	static const int days[][3] = {
		{ 2026, 1, 5 }, { 2026, 2, 2 }, { 2026, 3, 2 }, { 2026, 4, 6 },
		{ 2026, 5, 4 }, { 2026, 6, 1 }, { 2026, 7, 6 }, { 2026, 8, 3 },
		{ 2026, 9, 7 }, { 2026, 10, 5 }, { 2026, 11, 2 }, { 2026, 12, 7 },
		{ 2027, 1, 4 },
	};
	struct td_schedule m = { 1, 9, 0, utc_zone, TD_FREQ_MONTHLY };
	time_t t = utc(2026, 1, 1, 0, 0, 0);
	for (size_t i = 0; i < sizeof days / sizeof days[0]; i++) {
		time_t want = utc(days[i][0], days[i][1], days[i][2], 9, 0, 0);
		t = td_schedule_next_slot(&m, t);
		CHECK(t == want);
		CHECK(td_schedule_last_slot(&m, want + 86400 * 20) == want);
	}
	CHECK(td_schedule_next_slot(&m, utc(2028, 1, 31, 0, 0, 0)) ==
	      utc(2028, 2, 7, 9, 0, 0));
	CHECK(td_schedule_next_slot(&m, utc(2028, 2, 29, 23, 0, 0)) ==
	      utc(2028, 3, 6, 9, 0, 0));
	/* a month whose 1st is the chosen day: the 1st itself (Sunday
	 * 2026-02-01), and a year's turn asked from December's 31st */
	struct td_schedule sun = { 0, 9, 0, utc_zone, TD_FREQ_MONTHLY };
	CHECK(td_schedule_next_slot(&sun, utc(2026, 1, 31, 12, 0, 0)) ==
	      utc(2026, 2, 1, 9, 0, 0));
	CHECK(td_schedule_next_slot(&sun, utc(2026, 12, 31, 12, 0, 0)) ==
	      utc(2027, 1, 3, 9, 0, 0));
	CHECK(td_schedule_last_slot(&sun, utc(2027, 1, 2, 12, 0, 0)) ==
	      utc(2026, 12, 6, 9, 0, 0));
}

/* next_slot(now) > now >= last_slot(now), always: every schedule below,
 * every instant of a walk through two years with an odd step (so it hits
 * every minute of the day and every weekday), and the two slots are
 * neighbours: one period apart give or take a DST change. */
static void test_property_walk(void)
{
	const struct td_tz *zones[] = { utc_zone, berlin, new_york, lord_howe,
					kolkata, tokyo };
	static const int times[][2] = { { 8, 0 }, { 2, 30 }, { 1, 30 }, { 0, 0 },
					{ 23, 59 }, { 2, 15 } };
	const time_t hour = 3600, day = 86400;
	size_t bad = 0, checked = 0;
	for (size_t zi = 0; zi < sizeof zones / sizeof zones[0]; zi++)
		for (int f = TD_FREQ_WEEKLY; f <= TD_FREQ_MONTHLY; f++)
			for (size_t ti = 0; ti < sizeof times / sizeof times[0]; ti++) {
				struct td_schedule s = { (int)(ti + zi) % 7, times[ti][0],
							 times[ti][1], zones[zi],
							 (enum td_frequency)f };
				time_t lo_gap = f == TD_FREQ_DAILY ? day - 2 * hour :
						f == TD_FREQ_WEEKLY ? 7 * day - 2 * hour :
						28 * day - 2 * hour;
				time_t hi_gap = f == TD_FREQ_DAILY ? day + 2 * hour :
						f == TD_FREQ_WEEKLY ? 7 * day + 2 * hour :
						35 * day + 2 * hour;
				/* 2026-01-01 .. 2028-01-01 in steps of 6h 7m 13s */
				for (time_t now = utc(2026, 1, 1, 0, 0, 0);
				     now < utc(2028, 1, 1, 0, 0, 0); now += 22033) {
					time_t last = td_schedule_last_slot(&s, now);
					time_t next = td_schedule_next_slot(&s, now);
					checked++;
					if (!(last <= now && now < next &&
					      next - last >= lo_gap && next - last <= hi_gap &&
					      td_schedule_last_slot(&s, last) == last &&
					      td_schedule_next_slot(&s, last) == next &&
					      td_schedule_last_slot(&s, next) == next)) {
						if (bad++ < 5)
							fprintf(stderr, "property: %s freq %d "
								"%02d:%02d wday %d at %lld: "
								"last %lld next %lld\n",
								td_tz_name(s.tz), f, s.hour,
								s.minute, s.wday, (long long)now,
								(long long)last, (long long)next);
					}
				}
			}
	CHECK(bad == 0);
	CHECK(checked > 250000);
}

int main(void)
{
	utc_zone = td_tz_load("UTC");
	berlin = td_tz_load("Europe/Berlin");
	kolkata = td_tz_load("Asia/Kolkata");
	new_york = td_tz_load("America/New_York");
	lord_howe = td_tz_load("Australia/Lord_Howe");
	tokyo = td_tz_load("Asia/Tokyo");
	CHECK(utc_zone && berlin && kolkata && new_york && lord_howe && tokyo);
	TD_RUN(test_slot_edge_utc);
	TD_RUN(test_due_rule);
	TD_RUN(test_week_wrap_sunday);
	TD_RUN(test_dst_berlin);
	TD_RUN(test_dst_gap_and_overlap);
	TD_RUN(test_half_hour_zone);
	TD_RUN(test_tz_variable_ignored);
	TD_RUN(test_zones_cache);
	TD_RUN(test_reader_tokyo);
	TD_RUN(test_schedule_for);
	TD_RUN(test_new_york);
	TD_RUN(test_berlin_daily_monthly);
	TD_RUN(test_lord_howe);
	TD_RUN(test_monthly_lengths);
	TD_RUN(test_property_walk);
	td_tz_free(utc_zone);
	td_tz_free(berlin);
	td_tz_free(kolkata);
	td_tz_free(new_york);
	td_tz_free(lord_howe);
	td_tz_free(tokyo);
	return TD_DONE("schedule");
}
