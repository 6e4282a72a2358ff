/*
 * schedule.c: the weekly slot as instants in time.
 *
 * The slot is wall-clock time in the configured zone, so we let the C
 * library's zone rules do the work: switch TZ, use localtime_r/mktime with
 * tm_isdst = -1, switch back. mktime normalises a day offset across month
 * and DST boundaries, which is exactly "same local time, N days later".
 */
#include "tagdigest/schedule.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tagdigest/util.h"

struct tz_saved {
	char *old;
	bool had;
	bool unchanged;     /* TZ already was the zone: nothing to undo */
};

static struct tz_saved tz_enter(const char *tz)
{
	struct tz_saved s = { NULL, false, false };
	const char *want = tz && *tz ? tz : "UTC";
	const char *cur = getenv("TZ");
	/* A send run sets TZ to the schedule's zone once, before its threads
	 * start, so no setenv() races libcurl's getenv() in a sender. */
	if (cur && strcmp(cur, want) == 0) {
		s.unchanged = true;
		return s;
	}
	if (cur) {
		s.old = td_xstrdup(cur);
		s.had = true;
	}
	setenv("TZ", want, 1);
	tzset();
	return s;
}

static void tz_leave(struct tz_saved *s)
{
	if (s->unchanged)
		return;
	if (s->had)
		setenv("TZ", s->old, 1);
	else
		unsetenv("TZ");
	tzset();
	free(s->old);
}

/* The local instant hh:mm on the day `day_offset` days from the local date
 * of `base`. In a spring-forward gap mktime moves forward past the gap;
 * for a repeated hour we ask for the earlier (DST) reading first. */
static time_t local_slot(const struct td_schedule *s, const struct tm *base,
			 int day_offset)
{
	struct tm t = *base;
	t.tm_mday += day_offset;
	t.tm_hour = s->hour;
	t.tm_min = s->minute;
	t.tm_sec = 0;
	t.tm_isdst = -1;
	time_t when = mktime(&t);

	/* An ambiguous fall-back time: mktime may pick either reading. Take
	 * the earlier instant if the other reading maps to the same wall time. */
	struct tm probe = *base;
	probe.tm_mday += day_offset;
	probe.tm_hour = s->hour;
	probe.tm_min = s->minute;
	probe.tm_sec = 0;
	probe.tm_isdst = 1;
	time_t dst = mktime(&probe);
	if (dst != (time_t)-1 && dst < when) {
		struct tm check;
		localtime_r(&dst, &check);
		if (check.tm_hour == s->hour && check.tm_min == s->minute &&
		    check.tm_isdst > 0)
			when = dst;
	}
	return when;
}

time_t td_schedule_last_slot(const struct td_schedule *s, time_t now)
{
	struct tz_saved saved = tz_enter(s->tz);
	struct tm local;
	localtime_r(&now, &local);
	int back = (local.tm_wday - s->wday + 7) % 7;
	time_t slot = local_slot(s, &local, -back);
	if (slot > now)
		slot = local_slot(s, &local, -back - 7);
	tz_leave(&saved);
	return slot;
}

time_t td_schedule_next_slot(const struct td_schedule *s, time_t now)
{
	time_t last = td_schedule_last_slot(s, now);
	struct tz_saved saved = tz_enter(s->tz);
	struct tm local;
	localtime_r(&last, &local);
	/* From the last slot's own local date, one week on. */
	time_t next = local_slot(s, &local, 7);
	tz_leave(&saved);
	return next;
}

bool td_schedule_tz_valid(const char *tz)
{
	if (!tz)
		return false;
	if (strcmp(tz, "UTC") == 0)
		return true;
	size_t n = strlen(tz);
	if (n == 0 || n > 64 || tz[0] == '/' || strstr(tz, "..") ||
	    strspn(tz, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		       "0123456789/_+-") != n)
		return false;
	char path[128];
	snprintf(path, sizeof path, "/usr/share/zoneinfo/%s", tz);
	struct stat sb;
	if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
		return false;
	/* Files such as "leapseconds" sit there too; a zone starts "TZif". */
	FILE *f = fopen(path, "rb");
	char magic[4];
	bool ok = f && fread(magic, 1, 4, f) == 4 && memcmp(magic, "TZif", 4) == 0;
	if (f)
		fclose(f);
	return ok;
}

void td_schedule_format(time_t t, const char *tz, const char *fmt, char *out,
			size_t outlen)
{
	struct tz_saved saved = tz_enter(tz);
	struct tm local;
	localtime_r(&t, &local);
	/* fmt is checked at every call site through the header's attribute */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
	if (strftime(out, outlen, fmt, &local) == 0 && outlen)
		out[0] = '\0';
#pragma GCC diagnostic pop
	tz_leave(&saved);
}
