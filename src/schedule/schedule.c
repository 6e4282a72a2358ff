/*
 * schedule.c: a reader's slots (weekly, daily, monthly) as instants in
 * time, and the zones readers chose.
 *
 * A slot is wall-clock time in a zone: we step through local dates
 * (td_tz_localtime) and turn "hh:mm on that date" back into an instant
 * (td_tz_mktime), which handles the DST gap and overlap the way
 * schedule.h promises. Day and month offsets are normalised as calendar
 * days and months, which is exactly "same local time, N days later".
 *
 * Both directions look at candidate dates around now's local date and
 * take the nearest one on the right side of now, instead of stepping one
 * period from the other slot: a slot moved by a gap onto another local
 * date (a change at midnight) then still gives last <= now < next.
 */
#include "tagdigest/schedule/schedule.h"

#include <stdlib.h>
#include <string.h>

#include "tagdigest/core/util.h"

/* ---- the zones readers chose ---- */

/* Names that are no zone are remembered too (a reader whose zone left
 * tzdata would otherwise cost a stat per digest), up to this many. */
#define MAX_UNKNOWN_ZONES 64

struct zone_entry {
	char *name;
	struct td_tz *tz;        /* NULL: no such zone */
};

/* Sorted by name: a run looks a zone up per reader. */
struct td_zones {
	struct zone_entry *v;
	size_t n, cap, unknown;
};

struct td_zones *td_zones_new(void)
{
	return td_xcalloc(1, sizeof(struct td_zones));
}

void td_zones_free(struct td_zones *z)
{
	if (!z)
		return;
	for (size_t i = 0; i < z->n; i++) {
		free(z->v[i].name);
		td_tz_free(z->v[i].tz);
	}
	free(z->v);
	free(z);
}

const struct td_tz *td_zones_get(struct td_zones *z, const char *name)
{
	if (!z || !name)
		return NULL;
	size_t lo = 0, hi = z->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(name, z->v[mid].name);
		if (c == 0)
			return z->v[mid].tz;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	struct td_tz *tz = td_tz_load(name);
	if (!tz && z->unknown >= MAX_UNKNOWN_ZONES)
		return NULL;
	if (!tz)
		z->unknown++;
	if (z->n == z->cap) {
		z->cap = z->cap ? 2 * z->cap : 16;
		z->v = td_xrealloc(z->v, z->cap * sizeof *z->v);
	}
	memmove(&z->v[lo + 1], &z->v[lo], (z->n - lo) * sizeof *z->v);
	z->v[lo].name = td_xstrdup(name);
	z->v[lo].tz = tz;
	z->n++;
	return tz;
}

struct td_schedule td_schedule_for(const struct td_schedule *site,
				   const struct td_prefs *p, struct td_zones *zones)
{
	struct td_schedule s = *site;
	if (!p)
		return s;
	if ((unsigned)p->frequency <= TD_FREQ_MONTHLY)
		s.freq = p->frequency;
	/* A time the store should never hold is the site's, not a crash. */
	if (p->own_time && p->wday >= 0 && p->wday <= 6 && p->hour >= 0 &&
	    p->hour <= 23 && p->minute >= 0 && p->minute <= 59) {
		s.wday = p->wday;
		s.hour = p->hour;
		s.minute = p->minute;
	}
	if (p->timezone && p->timezone[0]) {
		const struct td_tz *tz = td_zones_get(zones, p->timezone);
		if (tz)
			s.tz = tz;
	}
	return s;
}

/* ---- slots ---- */

/* hh:mm on the local date base's date + day_offset days (+ months). */
static time_t local_slot(const struct td_schedule *s, const struct tm *base,
			 int month_offset, int day_offset)
{
	struct tm t;
	memset(&t, 0, sizeof t);
	t.tm_year = base->tm_year;
	t.tm_mon = base->tm_mon + month_offset;
	t.tm_mday = base->tm_mday + day_offset;
	t.tm_hour = s->hour;
	t.tm_min = s->minute;
	return td_tz_mktime(s->tz, &t);
}

/* The slot of the month `month_offset` months from base's: its first
 * s->wday. */
static time_t month_slot(const struct td_schedule *s, const struct tm *base,
			 int month_offset)
{
	struct tm first;
	memset(&first, 0, sizeof first);
	first.tm_year = base->tm_year;
	first.tm_mon = base->tm_mon + month_offset;
	first.tm_mday = 1;
	first.tm_hour = 12;
	/* timegm normalises the month and gives the 1st's weekday; no zone
	 * is involved, only the calendar. */
	time_t t = timegm(&first);
	gmtime_r(&t, &first);
	struct tm day = first;
	day.tm_mday = 1 + (s->wday - first.tm_wday + 7) % 7;
	return local_slot(s, &day, 0, 0);
}

/* The candidate slot k periods from the one of now's local date (k may
 * be negative). For weekly, k = 0 is the slot of the week that holds
 * local's date, counted from s->wday. */
static time_t candidate(const struct td_schedule *s, const struct tm *local, int k)
{
	switch (s->freq) {
	case TD_FREQ_DAILY:
		return local_slot(s, local, 0, k);
	case TD_FREQ_MONTHLY:
		return month_slot(s, local, k);
	case TD_FREQ_WEEKLY:
	default: {
		int back = (local->tm_wday - s->wday + 7) % 7;
		return local_slot(s, local, 0, 7 * k - back);
	}
	}
}

/* Candidates enough to get past any DST shift (hours) from k = 0: one
 * period either way is already more than the largest shift; two is a
 * margin for zones that skipped a whole day (Pacific/Apia, 2011). */
#define SEARCH 3

time_t td_schedule_last_slot(const struct td_schedule *s, time_t now)
{
	struct tm local;
	td_tz_localtime(s->tz, now, &local);
	time_t slot = candidate(s, &local, 1);
	for (int k = 1; k >= -SEARCH && slot > now; k--)
		slot = candidate(s, &local, k - 1);
	return slot;
}

struct td_due td_schedule_due(const struct td_schedule *s, const struct td_prefs *p,
			      time_t not_before, time_t last_slot, time_t now)
{
	struct td_due d = { td_schedule_last_slot(s, now), false, 0 };
	bool paused = p->paused_until > now;
	d.now = !paused && d.slot > last_slot && d.slot > not_before;
	if (d.now) {
		d.next = d.slot;
		return d;
	}
	time_t after = paused ? p->paused_until - 1 : now;
	if (last_slot > after)
		after = last_slot;
	if (not_before > after)
		after = not_before;
	d.next = td_schedule_next_slot(s, after);
	return d;
}

time_t td_schedule_next_slot(const struct td_schedule *s, time_t now)
{
	struct tm local;
	td_tz_localtime(s->tz, now, &local);
	time_t slot = candidate(s, &local, -1);
	for (int k = -1; k <= SEARCH && slot <= now; k++)
		slot = candidate(s, &local, k + 1);
	return slot;
}
