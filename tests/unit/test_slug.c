/*
 * test_slug.c: tag names to slugs. Expected slugs follow the rules in
 * slug.h and src/sources/slug.c, worked out by hand: ASCII lowercased, dots and
 * apostrophes dropped, other punctuation and spaces folded into one '-',
 * Latin-1/Latin Extended-A/Greek/Cyrillic lowercased, other non-ASCII
 * kept, invalid UTF-8 dropped.
 */
#include <stdlib.h>

#include "harness.h"
#include "tagdigest/sources/slug.h"

static void check_slug(const char *name, const char *want, int line)
{
	char *got = td_slugify(name);
	if (strcmp(got, want) != 0) {
		td_test_failed++;
		fprintf(stderr, "%s:%d: td_slugify(\"%s\")\n  got:  \"%s\"\n"
			"  want: \"%s\"\n", __FILE__, line, name, got, want);
	} else {
		td_test_passed++;
	}
	free(got);
}

#define SLUG(name, want) check_slug(name, want, __LINE__)

static void test_ascii(void)
{
	SLUG("Sergey Lavrov", "sergey-lavrov");
	SLUG("North Korea", "north-korea");
	SLUG("NATO", "nato");
	SLUG("U.S.A.", "usa");
	SLUG("St. Petersburg", "st-petersburg");
	SLUG("G20", "g20");
	SLUG("  Donald   Trump  ", "donald-trump");
	SLUG("rock_and_roll", "rock-and-roll");
	SLUG("C++ / Rust!", "c-rust");
	SLUG("already-a-slug", "already-a-slug");
	SLUG("--a--b--", "a-b");
	SLUG("Non-proliferation", "non-proliferation");
	SLUG("Tab\there", "tab-here");
}

static void test_apostrophes(void)
{
	SLUG("Côte d'Ivoire", "côte-divoire");
	SLUG("Côte d\xE2\x80\x99Ivoire", "côte-divoire");  /* ’ U+2019 */
	SLUG("O'Brien", "obrien");
}

static void test_non_ascii(void)
{
	SLUG("Сергей Лавров", "сергей-лавров");
	SLUG("МАРИЯ ЗАХАРОВА", "мария-захарова");
	SLUG("Ёлка", "ёлка");                 /* U+0401 -> U+0451 */
	SLUG("Україна", "україна");           /* У -> у; і, ї are lower */
	SLUG("ЄВРОПА", "європа");             /* Є U+0404 -> U+0454 */
	SLUG("ÜMLÄÜTS", "ümläüts");
	SLUG("Łódź", "łódź");                 /* Ł U+0141 -> U+0142 */
	SLUG("ŽIŽEK", "žižek");               /* Ž U+017D -> U+017E */
	SLUG("ΑΘΉΝΑ", "αθήνα");               /* Ή U+0389 -> U+03AE */
	SLUG("Straße", "straße");             /* ß has no case here */
	SLUG("日本語 ニュース", "日本語-ニュース"); /* kept as is */
	SLUG("«Мария Захарова»", "мария-захарова");
	SLUG("EU–Russia", "eu-russia");        /* en dash separates */
	SLUG("Johnson—Lavrov", "johnson-lavrov"); /* em dash separates */
	SLUG("a\xC2\xA0" "b", "a-b");          /* no-break space */
	SLUG("\xEF\xBB\xBFTag", "tag");          /* BOM dropped */
}

static void test_invalid_utf8(void)
{
	SLUG("ab\xFF" "cd", "abcd");
	SLUG("x\xC3", "x");                    /* truncated sequence */
	SLUG("\xC0\xAF" "a", "a");             /* overlong '/' */
	SLUG("\xED\xA0\x80" "b", "b");         /* surrogate */
	SLUG("\xE2\x82", "");
}

static void test_empty(void)
{
	SLUG("", "");
	SLUG("...", "");
	SLUG("!!! ---", "");
	SLUG("''", "");
}

int main(void)
{
	TD_RUN(test_ascii);
	TD_RUN(test_apostrophes);
	TD_RUN(test_non_ascii);
	TD_RUN(test_invalid_utf8);
	TD_RUN(test_empty);
	return TD_DONE("test_slug");
}
