/*
 * test_util.c: the columns text takes in a terminal, and where CJK text
 * may break.
 *
 * The widths are the ones a terminal gives: checked by hand for the
 * characters a digest carries (East Asian Width W/F two, combining and
 * format marks none), and for every code point against glibc's wcwidth
 * when glibc's tables are the same Unicode version (14.0) as ours.
 */
#include <gnu/libc-version.h>
#include <locale.h>
#include <stdlib.h>
#include <wchar.h>

#include "harness.h"
#include "tagdigest/core/buf.h"
#include "tagdigest/core/util.h"

static void check_width(const char *s, size_t want, int line)
{
	size_t got = td_utf8_width(s, strlen(s));
	if (got == want) {
		td_test_passed++;
	} else {
		td_test_failed++;
		fprintf(stderr, "%s:%d: td_utf8_width(\"%s\") = %zu, want %zu\n",
			__FILE__, line, s, got, want);
	}
}

#define WIDTH(s, want) check_width(s, want, __LINE__)

static void test_width(void)
{
	WIDTH("", 0);
	WIDTH("abc", 3);
	WIDTH("Ümläüts", 7);                    /* precomposed: one each */
	WIDTH("\xC2\xAD", 1);                   /* soft hyphen, shown */
	/* CJK ideographs, kana, Hangul, fullwidth forms: two columns */
	WIDTH("日本語", 6);
	WIDTH("ニュース", 8);
	WIDTH("한국어", 6);
	WIDTH("ＡＢ１", 6);
	WIDTH("、。「」", 8);
	WIDTH("\xF0\xA0\x80\x8B", 2);           /* U+2000B, CJK Extension B */
	WIDTH("ｶﾀｶﾅ", 4);                      /* halfwidth katakana: one */
	/* emoji with emoji presentation: two; a skin tone is a second one */
	WIDTH("🦊", 2);
	WIDTH("Fox 🦊 news", 11);
	WIDTH("👍🏽", 4);
	/* text-presentation symbol, then VS16, which has no width itself */
	WIDTH("\xE2\x9D\xA4\xEF\xB8\x8F", 1);
	/* combining marks and format characters: none */
	WIDTH("cafe\xCC\x81", 4);               /* e + U+0301 */
	WIDTH("a\xE2\x83\x9D", 1);              /* U+20DD enclosing circle */
	WIDTH("a\xE2\x80\x8D" "b", 2);          /* ZWJ */
	WIDTH("a\xE2\x80\x8B" "b", 2);          /* ZERO WIDTH SPACE */
	WIDTH("か\xE3\x82\x99", 2);             /* か + combining dakuten */
	/* a Hangul syllable spelled as conjoining jamo is one syllable wide */
	WIDTH("\xE1\x84\x80\xE1\x85\xA1", 2);
	/* Arabic number sign: a format character that is printed */
	WIDTH("\xD8\x80", 1);
	/* invalid bytes: one column each, as the U+FFFD a terminal shows */
	WIDTH("\xFF", 1);
	WIDTH("a\xE6\x97", 3);
}

/*
 * glibc's wcwidth in the C.UTF-8 locale (set for this thread only) is an
 * independent reading of the same Unicode data. Where the two knowingly
 * differ: glibc makes U+3248-324F (EastAsianWidth A) and the Yijing
 * hexagrams U+4DC0-4DFF (N) wide; we follow EastAsianWidth.txt.
 */
static void test_width_against_glibc(void)
{
	const char *v = gnu_get_libc_version();
	int major = 0, minor = 0;
	sscanf(v, "%d.%d", &major, &minor);
	if (major != 2 || minor < 35 || minor > 37) {
		printf("util: SKIPPED the wcwidth comparison: glibc %s has other "
		       "Unicode tables than our 14.0\n", v);
		return;
	}
	locale_t loc = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
	if (!loc) {
		printf("util: SKIPPED the wcwidth comparison: no C.UTF-8 locale\n");
		return;
	}
	locale_t old = uselocale(loc);
	size_t compared = 0, differ = 0;
	for (uint32_t cp = 0x20; cp <= 0x10FFFF; cp++) {
		if ((cp >= 0xD800 && cp <= 0xDFFF) || (cp >= 0x3248 && cp <= 0x324F) ||
		    (cp >= 0x4DC0 && cp <= 0x4DFF))
			continue;
		int want = wcwidth((wchar_t)cp);
		if (want < 0)           /* unassigned or a control: no answer */
			continue;
		struct td_buf b = TD_BUF_INIT;
		td_utf8_put(&b, cp);
		size_t got = td_utf8_width(b.data, b.len);
		td_buf_free(&b);
		compared++;
		if (got != (size_t)want && differ++ < 20)
			fprintf(stderr, "  U+%04X: %zu columns, wcwidth says %d\n",
				(unsigned)cp, got, want);
	}
	uselocale(old);
	freelocale(loc);
	CHECK(compared > 100000);
	CHECK(differ == 0);
}

/* The pieces td_utf8_unbreakable cuts s into, joined by '|'. */
static void check_pieces(const char *s, const char *want, int line)
{
	struct td_buf b = TD_BUF_INIT;
	size_t n = strlen(s);
	for (size_t i = 0, k; i < n; i += k) {
		size_t cols = (size_t)-1;
		k = td_utf8_unbreakable(s + i, n - i, &cols);
		if (k == 0 || k > n - i) {
			td_buf_puts(&b, "(bad length)");
			break;
		}
		if (cols != td_utf8_width(s + i, k))
			td_buf_puts(&b, "(bad width)");
		if (i > 0)
			td_buf_putc(&b, '|');
		td_buf_append(&b, s + i, k);
	}
	if (strcmp(td_buf_cstr(&b), want) == 0) {
		td_test_passed++;
	} else {
		td_test_failed++;
		fprintf(stderr, "%s:%d: pieces of \"%s\"\n  got:  \"%s\"\n  want: \"%s\"\n",
			__FILE__, line, s, td_buf_cstr(&b), want);
	}
	td_buf_free(&b);
}

#define PIECES(s, want) check_pieces(s, want, __LINE__)

static void test_breaks(void)
{
	/* a Latin word is one piece, so is a URL */
	PIECES("hello", "hello");
	PIECES("https://example.org/a/b?c=d", "https://example.org/a/b?c=d");
	/* ideographs and kana: after each */
	PIECES("東京で会談", "東|京|で|会|談");
	/* but never before closing punctuation, small kana or "ー", and
	 * never after an opening bracket */
	PIECES("会談、協議。", "会|談、|協|議。");
	PIECES("「東京」だ", "「東|京」|だ");
	PIECES("（東京）", "（東|京）");
	PIECES("コーヒーきょう", "コー|ヒー|きょ|う");
	PIECES("東京,", "東|京,");
	/* after a wide character a Latin word may start; a Latin word does
	 * not break before one (UAX #14 would; we keep "iPhone的" whole) */
	PIECES("東京Tokyo", "東|京|Tokyo");
	PIECES("Tokyo東京", "Tokyo東|京");
	PIECES("2026年の", "2026年|の");
	/* a combining mark stays with its base, and the base decides */
	PIECES("か\xE3\x82\x99き", "か\xE3\x82\x99|き");
	/* Hangul: Korean is written with spaces, its words stay whole */
	PIECES("한국어", "한국어");
	/* emoji: one sequence (ZWJ, skin tone) stays whole */
	PIECES("🦊🦊", "🦊|🦊");
	PIECES("👍🏽x", "👍🏽|x");
	PIECES("👨\xE2\x80\x8D👩\xE2\x80\x8D👧", "👨\xE2\x80\x8D👩\xE2\x80\x8D👧");
	/* a URL glued to Japanese text: the text breaks before it, the URL
	 * (which may hold CJK itself) to the end of the run does not */
	PIECES("見てhttps://例え.jp/東京", "見|て|https://例え.jp/東京");
	PIECES("https://ja.wikipedia.org/wiki/東京都", "https://ja.wikipedia.org/wiki/東京都");
	/* invalid bytes break nothing */
	PIECES("a\xFF" "b", "a\xFF" "b");
}

int main(void)
{
	TD_RUN(test_width);
	TD_RUN(test_width_against_glibc);
	TD_RUN(test_breaks);
	return TD_DONE("util");
}
