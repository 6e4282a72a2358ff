/*
 * schedule.c: the weekly slot as instants in time.
 *
 * The slot is wall-clock time in the configured zone: we step through
 * local dates (td_tz_localtime) and turn "hh:mm on that date" back into
 * an instant (td_tz_mktime), which handles the DST gap and overlap the
 * way schedule.h promises. Day offsets are normalised as calendar days,
 * which is exactly "same local time, N days later".
 */
#include "tagdigest/schedule/schedule.h"

/* The local instant hh:mm on the day `day_offset` days from the local date
 * in `base`. */
static time_t local_slot(const struct td_schedule *s, const struct tm *base,
			 int day_offset)
{
	struct tm t = *base;
	t.tm_mday += day_offset;
	t.tm_hour = s->hour;
	t.tm_min = s->minute;
	t.tm_sec = 0;
	return td_tz_mktime(s->tz, &t);
}

time_t td_schedule_last_slot(const struct td_schedule *s, time_t now)
{
	struct tm local;
	td_tz_localtime(s->tz, now, &local);
	int back = (local.tm_wday - s->wday + 7) % 7;
	time_t slot = local_slot(s, &local, -back);
	if (slot > now)
		slot = local_slot(s, &local, -back - 7);
	return slot;
}

time_t td_schedule_next_slot(const struct td_schedule *s, time_t now)
{
	time_t last = td_schedule_last_slot(s, now);
	struct tm local;
	td_tz_localtime(s->tz, last, &local);
	/* From the last slot's own local date, one week on. */
	return local_slot(s, &local, 7);
}
