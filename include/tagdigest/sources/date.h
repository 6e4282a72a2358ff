/*
 * date: the dates feeds carry, to UTC.
 *
 * RFC 822 / RFC 1123 (RSS pubDate) and the variants found in real feeds:
 * missing or misspelt day names, two-digit years, missing seconds, named
 * zones (UT, GMT, EST/EDT, CST/CDT, MST/MDT, PST/PDT, military letters),
 * numeric offsets with or without a colon, extra spaces and commas. ISO 8601
 * / RFC 3339 / W3C-DTF (Atom, dc:date): date only, hours and minutes only,
 * fractional seconds, Z or +hh:mm / +hhmm / +hh, basic format without
 * separators. Also asctime-style "Sun Jan  4 16:29:06 2004".
 *
 * Day, hour, minute and second a little past their range (31 June, hour
 * 25, minute 61) are carried into the next field, as feedparser does;
 * month 13, day 0 or 32 and hour 48 are not dates.
 */
#ifndef TAGDIGEST_DATE_H
#define TAGDIGEST_DATE_H

#include <stdbool.h>
#include <time.h>

/* True and *out set (seconds since the epoch, UTC) when s is a date. */
bool td_date_parse(const char *s, time_t *out);

#endif
