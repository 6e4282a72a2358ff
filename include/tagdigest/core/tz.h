/*
 * tz: a time zone as a value, handed to whoever shows a date or works out
 * the weekly slot.
 *
 * A td_tz holds the rules of one IANA zone, read once from the system's
 * zoneinfo (tzdata): UTC offsets, their abbreviations and when they
 * change. Nothing here reads or sets the TZ variable, so a zone may be
 * used from any thread at any time, and two zones side by side; the
 * process's own local time plays no part.
 *
 * td_tz_load() accepts "UTC" (always, even without tzdata) and the names
 * of zone files under /usr/share/zoneinfo ("Europe/Berlin"); it refuses
 * paths, ".." and files there that are not zones ("zone.tab",
 * "leapseconds"). The config loader calls it, so an unknown zone is
 * reported with file and line before anything runs.
 *
 * Every function taking a zone takes NULL as UTC.
 *
 * Known limit: past a zone file's last listed change, GLib 2.74 follows
 * the file's closing POSIX rule and misreads Europe/Dublin's
 * ("IST-1GMT0...", negative DST): winter there comes out at +02:00.
 * Debian's full zone files list changes to 2037, so this shows from
 * November 2038; on "slim" files it would show today.
 *
 * Ownership: td_tz_load() returns a zone the caller frees with
 * td_tz_free(); the strings it hands out (name, tm_zone) live as long as
 * the zone. A zone is never changed after loading: share it freely.
 */
#ifndef TAGDIGEST_TZ_H
#define TAGDIGEST_TZ_H

#include <stddef.h>
#include <time.h>

struct td_tz;

/* The zone named name, or NULL when the system does not know it. */
struct td_tz *td_tz_load(const char *name);
void td_tz_free(struct td_tz *tz);
/* The name it was loaded with ("UTC" for NULL). */
const char *td_tz_name(const struct td_tz *tz);

/* t as wall-clock time in tz, as localtime_r() gives it for TZ=zone:
 * every field, tm_isdst, tm_gmtoff and tm_zone (the abbreviation, "CET",
 * owned by tz). */
void td_tz_localtime(const struct td_tz *tz, time_t t, struct tm *out);

/* The instant at which the wall clock in tz shows `local` (its date and
 * time fields, normalised as timegm() does: a tm_mday past the month's
 * end is a day of the next month; tm_isdst and the rest are ignored).
 * A wall time that occurs twice (clocks set back) gives the first
 * instant; one that never occurs (clocks set forward) is read with the
 * offset in force before the change, so it lands as far past the change
 * as it was past the gap's start: 02:30 in a 02:00 -> 03:00 gap is
 * 03:30, as mktime() does. */
time_t td_tz_mktime(const struct td_tz *tz, const struct tm *local);

/* Formats t, as wall-clock time in tz, with strftime's fmt into out (an
 * empty string when it does not fit). %Z is the zone's abbreviation and
 * %z its offset at t. */
void td_tz_format(const struct td_tz *tz, time_t t, const char *fmt,
		  char *out, size_t outlen)
	__attribute__((format(strftime, 3, 0)));

#endif
