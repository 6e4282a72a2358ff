/*
 * schedule: the weekly slot ("monday 08:00 Europe/Berlin") in real time.
 *
 * A slot is a local wall-clock time in the configured IANA time zone,
 * so it stays at 08:00 local across DST changes (the UTC instant moves).
 * When the slot's local time does not exist (skipped by a spring-forward
 * change), the slot is the first instant after the gap; when it occurs
 * twice (fall-back), the first occurrence counts.
 *
 * Time zone conversions switch the process TZ temporarily and restore it;
 * tagdigest is single-threaded where it calls these.
 */
#ifndef TAGDIGEST_SCHEDULE_H
#define TAGDIGEST_SCHEDULE_H

#include <stdbool.h>
#include <time.h>

struct td_schedule {
	int wday;            /* 0 = Sunday .. 6 = Saturday */
	int hour, minute;
	const char *tz;      /* IANA name, borrowed */
};

/* The most recent slot at or before now. */
time_t td_schedule_last_slot(const struct td_schedule *s, time_t now);
/* The first slot strictly after now. */
time_t td_schedule_next_slot(const struct td_schedule *s, time_t now);
/* True when tz names a zone the system knows ("UTC" always). */
bool td_schedule_tz_valid(const char *tz);
/* Formats t in zone tz with strftime's fmt into out. */
void td_schedule_format(time_t t, const char *tz, const char *fmt,
			char *out, size_t outlen)
	__attribute__((format(strftime, 3, 0)));

#endif
