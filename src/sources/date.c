/*
 * date.c: the dates feeds carry, to seconds since the epoch (UTC).
 *
 * Two small hand-written parsers, tried in turn; each must consume the
 * whole string (after trimming whitespace) or the date is refused:
 *
 *   - ISO 8601 / RFC 3339 / W3C-DTF: "2003", "2003-12", "2003-12-31",
 *     "20031231", then optionally 'T' (or a space, as SQL servers write
 *     it) and hh:mm[:ss[.frac]] or hhmm[ss[.frac]], then Z, +hh:mm, +hhmm
 *     or +hh. Fractional seconds are truncated.
 *   - RFC 822 / 1123 / 2822 and what feeds really send: an optional day
 *     name (any word: feeds misspell them, and the date decides the day
 *     anyway), "dd Mon yyyy" with full or abbreviated English month names,
 *     Perforce's "yyyy/mm/dd", American "Mon dd, yyyy", asctime's
 *     "Mon dd hh:mm:ss [zone] yyyy", optional time and seconds, named or
 *     numeric zones, extra spaces and commas, a trailing "(comment)".
 *
 * Zone rules, and why:
 *   - No zone at all means UTC. RFC 3339 has no "local time", and the
 *     feed's local time is unknowable here. (feedparser guesses +09:00 for
 *     "yyyy-mm-dd hh:mm:ss", because it first met that format on Korean
 *     blogs; we do not guess.)
 *   - Military single letters (other than Z) are -0000, as RFC 2822
 *     section 4.3 advises: RFC 822 defined their signs backwards and
 *     senders used both conventions, so the letter carries no information.
 *   - Other unknown alphabetic zones of up to five letters are -0000 too,
 *     again per RFC 2822 section 4.3, rather than losing the whole date.
 *     An unknown Area/Location name (needs the tz database) is refused.
 *   - "Etc/GMT+5" is POSIX-style: five hours *behind* UTC.
 *
 * Two-digit years follow RFC 2822 section 4.3: 00-49 are 2000-2049, 50-99
 * are 1950-1999; three-digit years add 1900.
 *
 * Day, hour, minute and second past their range (31 June, 29 February
 * 2003, hour 25, minute 61) are carried into the next field, as feedparser
 * does: they come from generators that add an offset without carrying,
 * and the carried time is within a day of what was meant, where refusing
 * the date would leave the post dated when we happened to fetch it. The
 * carry is bounded: a day up to 31, an hour up to 47, minutes and seconds
 * up to 99 (what two digits hold); a month outside 1-12 or a day 0 is not a
 * date, since nothing says where it would land. Second 60 (a leap second)
 * and ISO 8601's 24:00:00 (end of day) are covered by the same carry.
 *
 * Nothing here reads the locale, the TZ variable or any global state:
 * character classes and names are plain ASCII tables, and the UTC
 * conversion is timegm() on a struct tm whose fields are range-checked
 * (timegm normalizes the carries).
 */
#include "tagdigest/sources/date.h"

#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <time.h>

/* What a parser found; off is the zone's offset east of UTC, in seconds. */
struct fields {
	int year, mon, day;
	int hour, min, sec;
	long off;
};

/* ASCII-only classes: <ctype.h> answers according to the locale. */
static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' ||
	       c == '\v';
}

static char lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/* Case-insensitive comparison of the n bytes at p with the whole of word. */
static bool word_is(const char *p, size_t n, const char *word)
{
	if (strlen(word) != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (lower(p[i]) != lower(word[i]))
			return false;
	return true;
}

static size_t digit_run(const char *p)
{
	size_t n = 0;
	while (is_digit(p[n]))
		n++;
	return n;
}

static size_t alpha_run(const char *p)
{
	size_t n = 0;
	while (is_alpha(p[n]))
		n++;
	return n;
}

/* Reads exactly n digits (n <= 4 in every caller, so no overflow). */
static bool take_digits(const char **pp, size_t n, int *out)
{
	int v = 0;
	for (size_t i = 0; i < n; i++) {
		if (!is_digit((*pp)[i]))
			return false;
		v = v * 10 + ((*pp)[i] - '0');
	}
	*pp += n;
	*out = v;
	return true;
}

/* Reads a whole run of digits whose length is within [min, max]. */
static bool take_number(const char **pp, size_t min, size_t max, int *out)
{
	size_t n = digit_run(*pp);
	if (n < min || n > max)
		return false;
	return take_digits(pp, n, out);
}

static void skip_space(const char **pp)
{
	while (is_space(**pp))
		(*pp)++;
}

/* Between the parts of an RFC 822 date feeds put spaces, commas and, in
 * "19-May-2002", hyphens. */
static void skip_seps(const char **pp, bool hyphens)
{
	while (is_space(**pp) || **pp == ',' || (hyphens && **pp == '-'))
		(*pp)++;
}

/* Checks every field against the carry bounds above, then converts;
 * timegm() carries day, hour, minute and second into the next field. The
 * year range keeps tm_year and the result far inside a 64-bit time_t. */
static bool finish(const struct fields *f, time_t *out)
{
	if (f->year < 0 || f->year > 9999)
		return false;
	if (f->mon < 1 || f->mon > 12)
		return false;
	if (f->day < 1 || f->day > 31)
		return false;
	if (f->hour < 0 || f->hour > 47 || f->min < 0 || f->min > 99 ||
	    f->sec < 0 || f->sec > 99)
		return false;

	struct tm tm;
	memset(&tm, 0, sizeof tm);
	tm.tm_year = f->year - 1900;
	tm.tm_mon = f->mon - 1;
	tm.tm_mday = f->day;
	tm.tm_hour = f->hour;
	tm.tm_min = f->min;
	tm.tm_sec = f->sec;
	/* timegm's -1 is also 1969-12-31T23:59:59; the fields are bounded,
	 * so it cannot mean overflow here */
	*out = timegm(&tm) - (time_t)f->off;
	return true;
}

/* "+hh", "+hhmm", "+hh:mm" (and '-'); a one-digit hour is seen in the
 * wild after "GMT". Offsets reach at most 23:59, as RFC 3339 allows. */
static bool numeric_zone(const char **pp, long *off)
{
	const char *p = *pp;
	int sign, hh = 0, mm = 0;

	if (*p != '+' && *p != '-')
		return false;
	sign = *p++ == '-' ? -1 : 1;
	size_t n = digit_run(p);
	if (n == 4) {
		take_digits(&p, 2, &hh);
		take_digits(&p, 2, &mm);
	} else if (n == 1 || n == 2) {
		take_digits(&p, n, &hh);
		if (*p == ':') {
			p++;
			if (!take_number(&p, 2, 2, &mm))
				return false;
		}
	} else {
		return false;
	}
	if (hh > 23 || mm > 59)
		return false;
	*off = sign * (hh * 3600L + mm * 60L);
	*pp = p;
	return true;
}

static const struct {
	const char *name;
	int hours;
} zones[] = {
	/* RFC 822 section 5 */
	{ "UT", 0 }, { "UTC", 0 }, { "GMT", 0 }, { "Z", 0 },
	{ "EST", -5 }, { "EDT", -4 }, { "CST", -6 }, { "CDT", -5 },
	{ "MST", -7 }, { "MDT", -6 }, { "PST", -8 }, { "PDT", -7 },
	/* the generic American names feeds use ("16:31:00 PT"); standard
	 * time, as feedparser reads them */
	{ "ET", -5 }, { "CT", -6 }, { "MT", -7 }, { "PT", -8 },
	/* common abbreviations with a single meaning */
	{ "WET", 0 }, { "WEST", 1 }, { "CET", 1 }, { "CEST", 2 },
	{ "EET", 2 }, { "EEST", 3 }, { "JST", 9 }, { "HST", -10 },
	{ "AKST", -9 }, { "AKDT", -8 },
	/* tz database names for UTC itself */
	{ "Etc/GMT", 0 }, { "Etc/UTC", 0 }, { "Etc/UCT", 0 },
	{ "Etc/Universal", 0 }, { "Etc/Zulu", 0 }, { "Etc/Greenwich", 0 },
};

/* A named zone, possibly followed by an offset ("GMT+0200", "UTC-05:00",
 * "Etc/GMT-3"). */
static bool named_zone(const char **pp, long *off)
{
	const char *p = *pp;
	size_t n = 0;
	bool slash = false;

	while (is_alpha(p[n]) || p[n] == '/' || p[n] == '_') {
		slash |= p[n] == '/';
		n++;
	}
	if (n == 0)
		return false;

	size_t i;
	for (i = 0; i < sizeof zones / sizeof zones[0]; i++)
		if (word_is(p, n, zones[i].name))
			break;
	if (i == sizeof zones / sizeof zones[0]) {
		/* RFC 2822 4.3: unknown (and military) zones are -0000 */
		if (slash || n > 5)
			return false;
		*off = 0;
		*pp = p + n;
		return true;
	}
	*off = zones[i].hours * 3600L;
	p += n;

	/* only names of UTC itself take an offset after them */
	bool utc_name = word_is(*pp, n, "GMT") || word_is(*pp, n, "UT") ||
			word_is(*pp, n, "UTC") || word_is(*pp, n, "Etc/GMT");
	long extra;
	if (utc_name && (*p == '+' || *p == '-') &&
	    numeric_zone(&p, &extra)) {
		/* POSIX names count hours west: Etc/GMT+5 is UTC-5 */
		*off = word_is(*pp, n, "Etc/GMT") ? -extra : extra;
	}
	*pp = p;
	return true;
}

/* ---- ISO 8601 / RFC 3339 / W3C-DTF ---- */

static bool parse_iso(const char *p, struct fields *f)
{
	size_t n = digit_run(p);

	if (n == 8) {
		/* basic format: 20031231 */
		take_digits(&p, 4, &f->year);
		take_digits(&p, 2, &f->mon);
		take_digits(&p, 2, &f->day);
	} else if (n == 4) {
		take_digits(&p, 4, &f->year);
		f->mon = f->day = 1;
		if (*p == '-') {
			p++;
			if (!take_number(&p, 2, 2, &f->mon))
				return false;
			if (*p == '-') {
				p++;
				if (!take_number(&p, 2, 2, &f->day))
					return false;
			} else {
				/* W3C-DTF's YYYY-MM: nothing may follow */
				return *p == '\0';
			}
		} else {
			return *p == '\0';
		}
	} else {
		return false;
	}

	if (*p == '\0')
		return true;
	/* RFC 3339 (5.6, NOTE) allows a space for the 'T'; SQL servers use it */
	if (!(*p == 'T' || *p == 't' || (*p == ' ' && is_digit(p[1]))))
		return false;
	p++;

	n = digit_run(p);
	if (n == 2 && p[2] == ':') {
		take_digits(&p, 2, &f->hour);
		p++;
		if (!take_number(&p, 2, 2, &f->min))
			return false;
		if (*p == ':') {
			p++;
			if (!take_number(&p, 2, 2, &f->sec))
				return false;
		}
	} else if (n == 4 || n == 6) {
		take_digits(&p, 2, &f->hour);
		take_digits(&p, 2, &f->min);
		if (n == 6)
			take_digits(&p, 2, &f->sec);
	} else {
		return false;
	}
	/* ISO 8601 allows ',' as the decimal sign; the fraction is dropped */
	if ((*p == '.' || *p == ',') && is_digit(p[1])) {
		p++;
		p += digit_run(p);
	}

	skip_space(&p);
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		if (!numeric_zone(&p, &f->off))
			return false;
	}
	return *p == '\0';
}

/* ---- RFC 822 and relatives ---- */

static const char *const month_names[12] = {
	"january", "february", "march",     "april",   "may",      "june",
	"july",    "august",   "september", "october", "november", "december",
};

/* 1-12 for an English month name, full or in its three-letter form (plus
 * "Sept"); 0 otherwise. */
static int month_number(const char *p, size_t n)
{
	for (int m = 0; m < 12; m++) {
		char abbr[4];
		memcpy(abbr, month_names[m], 3);
		abbr[3] = '\0';
		if (word_is(p, n, month_names[m]) || word_is(p, n, abbr))
			return m + 1;
	}
	return word_is(p, n, "sept") ? 9 : 0;
}

static bool take_month_name(const char **pp, int *mon)
{
	size_t n = alpha_run(*pp);
	if ((*mon = month_number(*pp, n)) == 0)
		return false;
	*pp += n;
	return true;
}

/* Two-, three- or four-digit years; RFC 2822 section 4.3 for the short. */
static bool take_year(const char **pp, int *year)
{
	size_t n = digit_run(*pp);
	if (n < 2 || n > 4 || !take_digits(pp, n, year))
		return false;
	if (n == 2)
		*year += *year < 50 ? 2000 : 1900;
	else if (n == 3)
		*year += 1900;
	return true;
}

/* hh:mm[:ss[.frac]] */
static bool take_time(const char **pp, struct fields *f)
{
	const char *p = *pp;
	if (!take_number(&p, 1, 2, &f->hour) || *p++ != ':' ||
	    !take_number(&p, 2, 2, &f->min))
		return false;
	if (*p == ':') {
		p++;
		if (!take_number(&p, 2, 2, &f->sec))
			return false;
		if (*p == '.' && is_digit(p[1])) {
			p++;
			p += digit_run(p);
		}
	}
	*pp = p;
	return true;
}

static bool looks_like_time(const char *p)
{
	size_t n = digit_run(p);
	return (n == 1 || n == 2) && p[n] == ':';
}

static bool take_zone(const char **pp, long *off)
{
	if (**pp == '+' || **pp == '-')
		return numeric_zone(pp, off);
	if (is_alpha(**pp))
		return named_zone(pp, off);
	return true; /* none: UTC */
}

/* The end of an RFC 822 date: whitespace and RFC 2822's trailing
 * "(comment)", as in "+0000 (UTC)". */
static bool at_end(const char *p)
{
	skip_space(&p);
	if (*p == '(') {
		const char *close = strchr(p, ')');
		if (!close)
			return false;
		p = close + 1;
		skip_space(&p);
	}
	return *p == '\0';
}

static bool parse_rfc822(const char *p, struct fields *f)
{
	bool asctime_form = false;

	size_t n = alpha_run(p);
	if (n > 0 && month_number(p, n) == 0) {
		/* the day name: ignored, since feeds get it wrong */
		if (n > 9)
			return false;
		p += n;
		if (*p == '.')
			p++;
		skip_seps(&p, false);
	}

	if (is_alpha(*p)) {
		/* "Jan 4 16:29:06 2004" (asctime) or "January 26, 2004" */
		if (!take_month_name(&p, &f->mon))
			return false;
		skip_seps(&p, true);
		if (!take_number(&p, 1, 2, &f->day))
			return false;
		skip_seps(&p, false);
		if (looks_like_time(p)) {
			asctime_form = true;
		} else if (!take_year(&p, &f->year)) {
			return false;
		}
	} else if (digit_run(p) == 4 && (p[4] == '/' || p[4] == '-')) {
		/* Perforce: "2006/09/15" */
		char sep = p[4];
		take_digits(&p, 4, &f->year);
		if (*p++ != sep || !take_number(&p, 1, 2, &f->mon) ||
		    *p++ != sep || !take_number(&p, 1, 2, &f->day))
			return false;
	} else {
		/* "19 May 2002", "19-May-02", "26 January 2004" */
		if (!take_number(&p, 1, 2, &f->day))
			return false;
		skip_seps(&p, true);
		if (!take_month_name(&p, &f->mon))
			return false;
		skip_seps(&p, true);
		if (!take_year(&p, &f->year))
			return false;
	}

	skip_seps(&p, false);
	if (*p == '\0')
		return !asctime_form; /* a date without a time is midnight */
	if (!take_time(&p, f))
		return false;
	skip_space(&p);
	if (!take_zone(&p, &f->off))
		return false;
	if (asctime_form) {
		skip_space(&p);
		if (!take_year(&p, &f->year))
			return false;
	}
	return at_end(p);
}

bool td_date_parse(const char *s, time_t *out)
{
	if (!s)
		return false;
	skip_space(&s);

	/* trailing whitespace is cut by copying; dates are short, and a
	 * longer string is not a date */
	char buf[128];
	size_t len = strlen(s);
	while (len > 0 && is_space(s[len - 1]))
		len--;
	if (len == 0 || len >= sizeof buf)
		return false;
	memcpy(buf, s, len);
	buf[len] = '\0';

	struct fields f;
	memset(&f, 0, sizeof f);
	if (parse_iso(buf, &f))
		return finish(&f, out);
	memset(&f, 0, sizeof f);
	if (parse_rfc822(buf, &f))
		return finish(&f, out);
	return false;
}
