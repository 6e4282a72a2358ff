/*
 * header_reader.h: a header field read back as a mail reader reads it,
 * written from RFC 5322 2.2.3 and RFC 2047 6.2 independently of mime.c's
 * writer, for the tests that hold the writer to its contract
 * (tests/unit/test_mime.c, tests/fuzz/fuzz_header.c).
 *
 * read_field() checks a field's wire form and decodes it;
 * text_roundtrip() and mailbox_roundtrip() write a field with
 * td_mime_header_text / _mailbox and read it back: it must come back as
 * it was given. All static: each test program takes its own copy.
 */
#ifndef TAGDIGEST_TEST_HEADER_READER_H
#define TAGDIGEST_TEST_HEADER_READER_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tagdigest/core/buf.h"
#include "tagdigest/compose/mime.h"
#include "tagdigest/core/util.h"

static int b64val(char c)
{
	const char *a =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const char *p = c ? strchr(a, c) : NULL;
	return p ? (int)(p - a) : -1;
}

/* RFC 4648 base64, padding required; false on anything else. */
static bool b64_decode(const char *s, size_t n, struct td_buf *out)
{
	if (n % 4)
		return false;
	for (size_t i = 0; i < n; i += 4) {
		int v[4], pad = 0;
		for (int k = 0; k < 4; k++) {
			if (s[i + k] == '=' && i + 4 == n && k >= 2) {
				v[k] = 0;
				pad++;
			} else if (pad || (v[k] = b64val(s[i + k])) < 0) {
				return false;
			}
		}
		unsigned x = (unsigned)(v[0] << 18 | v[1] << 12 | v[2] << 6 | v[3]);
		td_buf_putc(out, (char)(x >> 16));
		if (pad < 2)
			td_buf_putc(out, (char)(x >> 8 & 0xFF));
		if (pad < 1)
			td_buf_putc(out, (char)(x & 0xFF));
	}
	return true;
}

/* Well-formed UTF-8 (RFC 3629), so a word holding half a character
 * fails. */
static bool utf8_valid(const unsigned char *p, size_t n)
{
	size_t i = 0;
	while (i < n) {
		unsigned c = p[i];
		size_t k;
		unsigned min;
		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xE0) == 0xC0) {
			k = 1;
			min = 0x80;
			c &= 0x1F;
		} else if ((c & 0xF0) == 0xE0) {
			k = 2;
			min = 0x800;
			c &= 0x0F;
		} else if ((c & 0xF8) == 0xF0) {
			k = 3;
			min = 0x10000;
			c &= 0x07;
		} else {
			return false;
		}
		if (i + k >= n)
			return false;
		for (size_t j = 1; j <= k; j++) {
			if ((p[i + j] & 0xC0) != 0x80)
				return false;
			c = c << 6 | (p[i + j] & 0x3F);
		}
		if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
			return false;
		i += k + 1;
	}
	return true;
}

/*
 * A header field as a reader sees it, from RFC 5322 2.2.3 and RFC 2047
 * 6.2, written here independently of the encoder. It first checks the wire
 * form: "Name:" at the start, CRLF only at the end and in front of a blank
 * (a fold), printable ASCII, lines within max, every "=?" token a
 * well-formed UTF-8 B-word of at most 75 characters holding whole
 * characters. Then it unfolds (takes out the CRLFs and nothing else),
 * drops the one blank after the colon and decodes: an encoded-word becomes
 * its text, blanks between two adjacent encoded-words go away, and all
 * other text and blanks stay as they are. In a phrase, a quoted-string
 * stands for its content. With `mailbox`, the value must end in
 * " <addr>", which is cut off and put in *addr (malloc'd), or be a bare
 * address (then the name is ""). Returns the decoded text, malloc'd, or
 * NULL with *why set.
 */
static char *read_field(const char *field, const char *name, bool phrase,
			size_t max, char **addr, const char **why)
{
	size_t nlen = strlen(name), flen = strlen(field);
	*why = NULL;
	if (strncmp(field, name, nlen) != 0 || field[nlen] != ':') {
		*why = "does not start with Name:";
		return NULL;
	}
	if (flen < 2 || strcmp(field + flen - 2, "\r\n") != 0) {
		*why = "does not end in CRLF";
		return NULL;
	}
	struct td_buf v = TD_BUF_INIT;
	for (size_t i = nlen + 1; i < flen - 2 && !*why; i++) {
		unsigned char c = (unsigned char)field[i];
		if (c == '\r') {
			if (field[i + 1] != '\n')
				*why = "bare CR";
			else if (field[i + 2] != ' ' && field[i + 2] != '\t')
				*why = "CRLF not followed by a blank";
			i++;
			continue;
		}
		if (c == '\n' || c < 0x09 || (c > 0x09 && c < 0x20) || c >= 0x7F)
			*why = "byte outside printable ASCII";
		td_buf_putc(&v, (char)c);
	}
	/* line lengths, the first line counting the name */
	for (const char *l = field; *l && !*why;) {
		const char *e = strstr(l, "\r\n");
		if (!e)
			break;
		if ((size_t)(e - l) > max)
			*why = "line too long";
		else if (l != field && strspn(l, " \t") == (size_t)(e - l))
			*why = "a line of blanks only";
		l = e + 2;
	}
	const char *s = td_buf_cstr(&v);
	if (!*why && *s && *s != ' ')
		*why = "no blank after the colon";
	if (*why) {
		td_buf_free(&v);
		return NULL;
	}
	if (*s)
		s++;
	size_t n = strlen(s);
	if (addr) {
		*addr = NULL;
		if (n > 2 && s[n - 1] == '>') {
			const char *lt = strrchr(s, '<');
			if (!lt || lt == s || (lt[-1] != ' ' && lt[-1] != '\t') || lt - 1 == s) {
				*why = "no blank before <addr>";
				td_buf_free(&v);
				return NULL;
			}
			*addr = td_xstrndup(lt + 1, (size_t)(s + n - 1 - lt - 1));
			n = (size_t)(lt - 1 - s);
		} else {
			*addr = td_xstrdup(s);
			n = 0;
		}
	}

	struct td_buf out = TD_BUF_INIT, word = TD_BUF_INIT, blanks = TD_BUF_INIT;
	bool prev_ew = false;
	size_t i = 0;
	while (i < n && !*why) {
		if (s[i] == ' ' || s[i] == '\t') {
			td_buf_putc(&blanks, s[i++]);
			continue;
		}
		size_t j = i;
		bool ew = false;
		td_buf_reset(&word);
		if (phrase && s[i] == '"') {
			for (j = i + 1; j < n && s[j] != '"'; j++) {
				if (s[j] == '\\' && j + 1 < n)
					j++;
				td_buf_putc(&word, s[j]);
			}
			if (j >= n)
				*why = "unterminated quoted-string";
			j++;
		} else {
			while (j < n && s[j] != ' ' && s[j] != '\t')
				j++;
			const char *t = s + i;
			size_t tn = j - i;
			if (tn >= 2 && t[0] == '=' && t[1] == '?') {
				ew = true;
				if (tn > 75)
					*why = "encoded-word longer than 75";
				else if (tn < 12 || strncmp(t, "=?UTF-8?B?", 10) != 0 ||
					 strncmp(t + tn - 2, "?=", 2) != 0)
					*why = "not a =?UTF-8?B?...?= word";
				else if (!b64_decode(t + 10, tn - 12, &word) || word.len == 0)
					*why = "bad base64";
				else if (!utf8_valid((const unsigned char *)td_buf_cstr(&word),
						     word.len))
					*why = "encoded-word splits a UTF-8 character";
			} else {
				td_buf_append(&word, t, tn);
				if (phrase && strpbrk(td_buf_cstr(&word), "\"()<>[]:;@\\,."))
					*why = "a special outside quotes in a phrase";
			}
		}
		if (!(ew && prev_ew))
			td_buf_append(&out, td_buf_cstr(&blanks), blanks.len);
		td_buf_reset(&blanks);
		td_buf_append(&out, td_buf_cstr(&word), word.len);
		prev_ew = ew;
		i = j;
	}
	td_buf_append(&out, td_buf_cstr(&blanks), blanks.len);
	td_buf_free(&word);
	td_buf_free(&blanks);
	td_buf_free(&v);
	if (*why) {
		td_buf_free(&out);
		if (addr) {
			free(*addr);
			*addr = NULL;
		}
		return NULL;
	}
	return td_buf_steal(&out);
}

/* Writes the field, reads it back; it must come back as text. (Unused by
 * a test that only reads fields: test_notice.c.) */
__attribute__((unused)) static bool text_roundtrip(const char *name, const char *text, size_t max,
			   char **wire)
{
	struct td_buf b = TD_BUF_INIT;
	td_mime_header_text(&b, name, text);
	const char *why;
	char *got = read_field(td_buf_cstr(&b), name, false, max, NULL, &why);
	bool ok = got && strcmp(got, text) == 0;
	if (!ok)
		fprintf(stderr, "  %s \"%.60s\" (%zu bytes): %s\n  wire: %.300s\n", name,
			text, strlen(text), why ? why : "decoded text differs",
			td_buf_cstr(&b));
	free(got);
	if (wire)
		*wire = td_buf_steal(&b);
	else
		td_buf_free(&b);
	return ok;
}

__attribute__((unused)) static bool mailbox_roundtrip(const char *name, const char *display,
			      const char *addr, size_t max, char **wire)
{
	struct td_buf b = TD_BUF_INIT;
	td_mime_header_mailbox(&b, name, display, addr);
	const char *why;
	char *got_addr = NULL;
	char *got = read_field(td_buf_cstr(&b), name, true, max, &got_addr, &why);
	bool ok = got && strcmp(got, display ? display : "") == 0 && got_addr &&
		  strcmp(got_addr, addr) == 0;
	if (!ok)
		fprintf(stderr, "  %s \"%.60s\": %s\n  wire: %.300s\n", name,
			display ? display : "(null)", why ? why : "decoded differs",
			td_buf_cstr(&b));
	free(got);
	free(got_addr);
	if (wire)
		*wire = td_buf_steal(&b);
	else
		td_buf_free(&b);
	return ok;
}

#endif
