/*
 * schedule: a reader's slot ("monday 08:00 Europe/Berlin", weekly, daily
 * or monthly) in real time.
 *
 * The site's [schedule] is everybody's default; a reader may choose their
 * own frequency, day, time and zone in the preference centre (struct
 * td_prefs, roster.h). td_schedule_for() combines the
 * two into the rule td_schedule_last_slot/next_slot work with:
 *   weekly    every week on wday at hour:minute
 *   daily     every day at hour:minute (wday is ignored)
 *   monthly   the first wday of each month at hour:minute
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

#include <stdbool.h>
#include <time.h>

#include "tagdigest/core/tz.h"
#include "tagdigest/store/roster.h"

struct td_schedule {
	int wday;            /* 0 = Sunday .. 6 = Saturday */
	int hour, minute;
	const struct td_tz *tz;   /* borrowed; NULL: UTC */
	enum td_frequency freq;   /* 0: weekly, as before readers chose */
};

/* Loaded zones by IANA name, so a run with a million readers in forty
 * zones loads forty. One thread at a time; the zones live until
 * td_zones_free. */
struct td_zones;
struct td_zones *td_zones_new(void);
void td_zones_free(struct td_zones *z);
/* The zone called name, or NULL when there is no such zone. */
const struct td_tz *td_zones_get(struct td_zones *z, const char *name);

/* The site's rule with the reader's choices applied. A reader zone that
 * no longer exists (zoneinfo changed) falls back to the site's zone.
 * zones may be NULL when p->timezone is NULL. */
struct td_schedule td_schedule_for(const struct td_schedule *site,
				   const struct td_prefs *p, struct td_zones *zones);

/* The most recent slot at or before now. */
time_t td_schedule_last_slot(const struct td_schedule *s, time_t now);
/* The first slot strictly after now. */
time_t td_schedule_next_slot(const struct td_schedule *s, time_t now);

/* The due rule, the one the send engine, `status` and `subscribers show`
 * all ask. The reader's slot is the last slot of s at or before now; a
 * fresh digest for it is theirs when it is later than the slot of their
 * last recorded digest (last_slot), later than not_before (subscribers.h)
 * and they are not paused at now. Going by the last digest's slot, not by
 * "is this slot recorded", keeps a schedule change safe: a reader who
 * moves their day earlier waits for their next slot instead of getting
 * two digests in one period. */
struct td_due {
	time_t slot;         /* the reader's last slot at or before now */
	bool now;            /* a fresh digest for it is due */
	time_t next;         /* when the next one is: `slot` when due now,
			      * else their first slot after now, last_slot,
			      * not_before and the end of a pause */
};
struct td_due td_schedule_due(const struct td_schedule *s, const struct td_prefs *p,
			      time_t not_before, time_t last_slot, time_t now);

#endif
