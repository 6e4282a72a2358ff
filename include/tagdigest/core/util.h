/*
 * util: allocation that cannot fail, a growable list of strings, UTF-8,
 * and the columns text takes in a terminal.
 *
 * Out of memory is not an error path in tagdigest: the td_x* allocators
 * print a message and abort, so callers never check for NULL.
 *
 * td_strv owns its strings: td_strv_push() copies, td_strv_free() frees
 * every element and the array.
 */
#ifndef TAGDIGEST_UTIL_H
#define TAGDIGEST_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

void *td_xmalloc(size_t n);
void *td_xcalloc(size_t count, size_t n);
void *td_xrealloc(void *p, size_t n);
char *td_xstrdup(const char *s);
char *td_xstrndup(const char *s, size_t n);
char *td_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* n and the noun, singular for 1 and plural otherwise ("1 source", "0
 * sources", "2 sources"), written into out (len bytes, truncated to fit);
 * returns out. The one way a message counts things, so none says "1 posts". */
const char *td_count(char *out, size_t len, size_t n, const char *one, const char *many);

struct td_strv {
	char **v;
	size_t n;
	size_t cap;
};

#define TD_STRV_INIT { NULL, 0, 0 }

void td_strv_push(struct td_strv *sv, const char *s);
/* Takes ownership of a malloc'd string. */
void td_strv_push_owned(struct td_strv *sv, char *s);
bool td_strv_contains(const struct td_strv *sv, const char *s);
void td_strv_free(struct td_strv *sv);

/* Strict UTF-8 (no overlong forms, surrogates or code points past
 * U+10FFFF). td_utf8_next decodes the sequence at s (n bytes available)
 * into *cp and returns its length, or 0 when it is not valid. */
size_t td_utf8_next_slow(const char *s, size_t n, uint32_t *cp);
static inline size_t td_utf8_next(const char *s, size_t n, uint32_t *cp)
{
	/* ASCII is most of every text: decode it without a call */
	if (n > 0 && (unsigned char)*s < 0x80) {
		*cp = (unsigned char)*s;
		return 1;
	}
	return td_utf8_next_slow(s, n, cp);
}
bool td_utf8_valid(const char *s, size_t n);
struct td_buf;
/* Appends code point cp (at most U+10FFFF) encoded as UTF-8. */
void td_utf8_put(struct td_buf *b, uint32_t cp);
/* Code points in s[0..n): the bytes that are not continuation bytes. */
size_t td_utf8_count(const char *s, size_t n);
/* Columns s[0..n) takes in a terminal: two for each East Asian Wide or
 * Fullwidth character (CJK, kana, Hangul, fullwidth forms, most emoji),
 * none for combining marks and format characters (ZWJ, variation
 * selectors), one for the rest and for each invalid byte. Unicode 14.0;
 * pure, no locale involved. Measure text-part columns with this, not
 * td_utf8_count. */
size_t td_utf8_width(const char *s, size_t n);
/* s[0..n) is a run without spaces (a "word"). Returns how many bytes at
 * its start must stay on one line: up to the first place a line may break
 * inside the run, or n; *cols is set to their td_utf8_width. A break is allowed after a wide CJK character
 * (not Hangul, not an opening bracket) unless closing punctuation ("。」、)"),
 * a small kana, "ー" or a mark of no width follows; so a Latin word never
 * breaks, and from the scheme of a URL ("xx://") to the run's end nothing
 * does. */
size_t td_utf8_unbreakable(const char *s, size_t n, size_t *cols);
/* C0 controls other than tab, line feed and carriage return, and DEL:
 * not text in HTML or in mail (ESC would drive a terminal), so text that
 * reaches a digest drops them (html.c for feeds, markdown.c for posts). */
static inline bool td_is_control(uint32_t cp)
{
	return (cp < 0x20 && cp != '\t' && cp != '\n' && cp != '\r') || cp == 0x7F;
}

struct td_err;
/* Creates the folders above path (mkdir -p of its dirname), mode 0755.
 * Returns 0 or EX_CANTCREAT naming the folder. */
int td_mkdir_parents(const char *path, struct td_err *err);

/* Reads a whole file (at most max bytes) into a NUL-terminated malloc'd
 * string. Returns 0, or -1 with errno set (EFBIG when over max). */
int td_read_file(const char *path, size_t max, char **out, size_t *len);

/* Reads a password from a file only its owner can read (mode 600 or
 * stricter: a secret others can read is refused): the whole file less
 * one trailing newline, at most 4096 bytes. *out is malloc'd; the caller wipes
 * (explicit_bzero) and frees it. Returns 0 or EX_CONFIG with "password
 * file PATH: ..." (the caller prefixes its module). Used by the SMTP
 * transport and the bounce mailbox. */
int td_secret_from_file(const char *path, char **out, struct td_err *err);

/* Seconds on the monotonic clock: for intervals and deadlines, which a
 * change of the wall clock must not stretch or cut. */
double td_mono_now(void);

#endif
