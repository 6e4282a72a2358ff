/*
 * slug.c: tag display names to URL slugs, the way WordPress makes them.
 *
 * The slug is the tag's identity everywhere else (store, subscriptions,
 * digest sections), so the rules are fixed and small:
 *   - ASCII letters are lowercased, digits kept;
 *   - apostrophes (' ’ ‘ ʼ) and dots vanish: "Côte d'Ivoire" ->
 *     "côte-divoire", "U.S.A." -> "usa" (WordPress would give "u-s-a",
 *     which nobody would type; "St. Petersburg" -> "st-petersburg");
 *   - any other ASCII character, controls, and the punctuation blocks of
 *     Latin-1 and General Punctuation (dashes, quotes, no-break space)
 *     separate words, and a run of separators becomes one '-';
 *   - other non-ASCII characters are letters in some script and are kept,
 *     lowercased by code point arithmetic for Latin-1, Latin Extended-A,
 *     Greek and Cyrillic (the scripts of our tag archives); no locale or
 *     Unicode table is involved, so the result never depends on the host;
 *   - invalid UTF-8 bytes are dropped, as are U+FFFD and the BOM.
 */
#include "tagdigest/sources/slug.h"

#include <stddef.h>
#include <stdint.h>

#include "tagdigest/core/buf.h"
#include "tagdigest/core/util.h"

/* Decodes one strict UTF-8 sequence at s (no overlongs, surrogates or
 * values past U+10FFFF). Returns its length, or 0 when invalid. */
static size_t u8_decode(const unsigned char *s, uint32_t *cp)
{
	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	size_t n;
	uint32_t c, min;
	if (s[0] >= 0xC2 && s[0] <= 0xDF) {
		n = 2, c = s[0] & 0x1F, min = 0x80;
	} else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
		n = 3, c = s[0] & 0x0F, min = 0x800;
	} else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
		n = 4, c = s[0] & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	for (size_t i = 1; i < n; i++) {
		/* A NUL stops here too, so we never read past the string. */
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3F);
	}
	if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
		return 0;
	*cp = c;
	return n;
}


/* Lowercase for the scripts named in slug.h; everything else unchanged.
 * The exceptions are where the Unicode blocks break their own pattern. */
static uint32_t lower(uint32_t c)
{
	if (c >= 'A' && c <= 'Z')
		return c + 0x20;
	/* Latin-1: À..Þ, except × */
	if (c >= 0xC0 && c <= 0xDE && c != 0xD7)
		return c + 0x20;
	/* Latin Extended-A: pairs, upper case first. İ (U+0130) lowercases
	 * to plain i; ı, ĸ, ŉ and ſ have no upper case partner. */
	if (c == 0x130)
		return 'i';
	if (c == 0x178)
		return 0xFF; /* Ÿ -> ÿ */
	if ((c >= 0x100 && c <= 0x137) || (c >= 0x14A && c <= 0x177))
		return (c % 2 == 0) ? c + 1 : c;
	if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E))
		return (c % 2 == 1) ? c + 1 : c;
	/* Greek: tonos capitals, then Α..Ω (U+03A2 is unassigned). */
	if (c == 0x386)
		return 0x3AC;
	if (c >= 0x388 && c <= 0x38A)
		return c + 37;
	if (c == 0x38C)
		return 0x3CC;
	if (c == 0x38E || c == 0x38F)
		return c + 63;
	if (c >= 0x391 && c <= 0x3AB && c != 0x3A2)
		return c + 0x20;
	/* Cyrillic: Ѐ..Џ, А..Я, then the historic and national letters
	 * that come in upper/lower pairs. */
	if (c >= 0x400 && c <= 0x40F)
		return c + 0x50;
	if (c >= 0x410 && c <= 0x42F)
		return c + 0x20;
	if ((c >= 0x460 && c <= 0x481) || (c >= 0x48A && c <= 0x4BF) ||
	    (c >= 0x4D0 && c <= 0x4FF))
		return (c % 2 == 0) ? c + 1 : c;
	if (c == 0x4C0)
		return 0x4CF;
	if (c >= 0x4C1 && c <= 0x4CE)
		return (c % 2 == 1) ? c + 1 : c;
	return c;
}

enum cls { KEEP, DROP, SEP };

static enum cls classify(uint32_t c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return KEEP;
	if (c == '\'' || c == '.' || c == 0x2018 || c == 0x2019 ||
	    c == 0x2BC || c == 0xFEFF || c == 0xFFFD)
		return DROP;
	if (c < 0x80)
		return SEP;
	if (c <= 0xBF || c == 0xD7 || c == 0xF7)  /* C1 controls, NBSP, «» */
		return SEP;
	if (c >= 0x2000 && c <= 0x206F)           /* dashes, “”, …, spaces */
		return SEP;
	if (c >= 0x3000 && c <= 0x3003)           /* ideographic space, 、。 */
		return SEP;
	return KEEP;
}

char *td_slugify(const char *name)
{
	struct td_buf b = TD_BUF_INIT;
	const unsigned char *s = (const unsigned char *)(name ? name : "");
	int pending_sep = 0;

	while (*s) {
		uint32_t c;
		size_t n = u8_decode(s, &c);
		if (n == 0) {
			s++; /* invalid byte: dropped */
			continue;
		}
		s += n;
		switch (classify(c)) {
		case DROP:
			break;
		case SEP:
			pending_sep = 1;
			break;
		case KEEP:
			/* Separators only ever land between kept characters,
			 * which trims them at both ends for free. */
			if (pending_sep && b.len > 0)
				td_buf_putc(&b, '-');
			pending_sep = 0;
			td_utf8_put(&b, lower(c));
			break;
		}
	}
	return td_buf_steal(&b);
}
