/*
 * tz.c: time zones as values (see tz.h), on GLib's GTimeZone.
 *
 * GLib reads a zone file once into a table of intervals (offset,
 * abbreviation, daylight flag), including the rule at the file's end
 * that carries a zone past its last listed change, and answers "which
 * interval holds this instant" without touching the environment. That is
 * all we ask of it: wall-clock fields come from gmtime_r() on the instant
 * plus its offset, and formatting stays strftime(), given tm_zone and
 * tm_gmtoff, so dates read exactly as they did when TZ was switched.
 * GLib is included here only.
 */
#include "tagdigest/core/tz.h"

#include <glib.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tagdigest/core/util.h"

#define ZONEINFO "/usr/share/zoneinfo"

struct td_tz {
	GTimeZone *zone;
	char *name;
};

/* Whether name is a zone file under ZONEINFO; its path into path. GLib
 * would take more (a path, a POSIX rule such as "FOO3"), and complains on
 * stderr about a file that is not a zone: only the zone names pass. */
static bool zone_file(const char *name, char *path, size_t pathlen)
{
	size_t n = strlen(name);
	if (n == 0 || n > 64 || name[0] == '/' || strstr(name, "..") ||
	    strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			 "0123456789/_+-") != n)
		return false;
	snprintf(path, pathlen, "%s/%s", ZONEINFO, name);
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

struct td_tz *td_tz_load(const char *name)
{
	if (!name)
		return NULL;
	GTimeZone *zone;
	if (strcmp(name, "UTC") == 0) {
		zone = g_time_zone_new_utc();
	} else {
		/* The file checked is the file loaded: GLib gets the path. */
		char path[sizeof ZONEINFO + 72];
		if (!zone_file(name, path, sizeof path))
			return NULL;
		zone = g_time_zone_new_identifier(path);
	}
	if (!zone)
		return NULL;
	struct td_tz *tz = td_xmalloc(sizeof *tz);
	tz->zone = zone;
	tz->name = td_xstrdup(name);
	return tz;
}

void td_tz_free(struct td_tz *tz)
{
	if (!tz)
		return;
	g_time_zone_unref(tz->zone);
	free(tz->name);
	free(tz);
}

const char *td_tz_name(const struct td_tz *tz)
{
	return tz ? tz->name : "UTC";
}

static gint32 offset_at(const struct td_tz *tz, gint64 t)
{
	if (!tz)
		return 0;
	return g_time_zone_get_offset(tz->zone,
		g_time_zone_find_interval(tz->zone, G_TIME_TYPE_UNIVERSAL, t));
}

void td_tz_localtime(const struct td_tz *tz, time_t t, struct tm *out)
{
	gint32 off = 0;
	int dst = 0;
	const char *abbr = "UTC";
	if (tz) {
		int i = g_time_zone_find_interval(tz->zone, G_TIME_TYPE_UNIVERSAL, t);
		off = g_time_zone_get_offset(tz->zone, i);
		dst = g_time_zone_is_dst(tz->zone, i) ? 1 : 0;
		abbr = g_time_zone_get_abbreviation(tz->zone, i);
	}
	time_t wall = t + off;
	memset(out, 0, sizeof *out);
	gmtime_r(&wall, out);
	out->tm_isdst = dst;
	out->tm_gmtoff = off;
	out->tm_zone = abbr;
}

time_t td_tz_mktime(const struct td_tz *tz, const struct tm *local)
{
	struct tm fields = *local;
	fields.tm_isdst = 0;
	/* The wall time's seconds counted as if it were UTC. */
	gint64 wall = timegm(&fields);
	/* An instant t shows wall when wall - t is the offset in force at t.
	 * Only the offsets in force around wall can be that: the ones a day
	 * before and after, and the one found by a first guess. */
	gint32 before = offset_at(tz, wall - 86400);
	gint32 tries[3] = { before, offset_at(tz, wall - before),
			    offset_at(tz, wall + 86400) };
	bool found = false;
	gint64 best = 0;
	for (size_t i = 0; i < 3; i++) {
		gint64 t = wall - tries[i];
		if (offset_at(tz, t) == tries[i] && (!found || t < best)) {
			best = t;
			found = true;
		}
	}
	/* None: clocks were set forward over wall. */
	return (time_t)(found ? best : wall - before);
}

void td_tz_format(const struct td_tz *tz, time_t t, const char *fmt, char *out,
		  size_t outlen)
{
	struct tm local;
	td_tz_localtime(tz, t, &local);
	/* fmt is checked at every call site through the header's attribute */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
	if (strftime(out, outlen, fmt, &local) == 0 && outlen)
		out[0] = '\0';
#pragma GCC diagnostic pop
}
