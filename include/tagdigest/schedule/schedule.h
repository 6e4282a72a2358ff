/*
 * schedule: the weekly slot ("monday 08:00 Europe/Berlin") in real time.
 *
 * A slot is a local wall-clock time in the configured IANA time zone,
 * so it stays at 08:00 local across DST changes (the UTC instant moves).
 * When the slot's local time does not exist (skipped by a spring-forward
 * change), it is read with the offset in force before the change, so it
 * lands as far past the gap's end as it was past its start (02:30 in a
 * 02:00 -> 03:00 gap is 03:30; td_tz_mktime, tz.h); when it occurs twice
 * (fall-back), the first occurrence counts.
 *
 * The zone is a value (tz.h) the schedule borrows: nothing here touches
 * the process's TZ, so any thread may work out a slot at any time.
 */
#ifndef TAGDIGEST_SCHEDULE_H
#define TAGDIGEST_SCHEDULE_H

#include <time.h>

#include "tagdigest/core/tz.h"

struct td_schedule {
	int wday;            /* 0 = Sunday .. 6 = Saturday */
	int hour, minute;
	const struct td_tz *tz;   /* borrowed; NULL: UTC */
};

/* The most recent slot at or before now. */
time_t td_schedule_last_slot(const struct td_schedule *s, time_t now);
/* The first slot strictly after now. */
time_t td_schedule_next_slot(const struct td_schedule *s, time_t now);

#endif
