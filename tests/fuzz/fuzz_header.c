/*
 * fuzz_header.c: libFuzzer target for the header writer of mime.c
 * (td_mime_header_text for Subject, td_mime_header_mailbox for From/To).
 * The first byte picks the function; the rest is the text or display name
 * (the mailbox's address is fixed and valid, as td_mime_build makes sure).
 *
 * Held to the contract in mime.h (a trap is a finding): one field,
 * starting "Name: " (or "Name:" when empty) and ending in CRLF; no CR or LF other than a CRLF
 * followed by a blank (a fold), so no text can start a header of its own;
 * only printable ASCII, blanks and CRLF on the wire; unstructured text
 * folded within 78 characters a line; every line within 998 for a
 * display name td_display_name_valid accepts; every encoded-word within 75
 * characters. And read back as a mail reader reads it (RFC 5322 unfolding,
 * RFC 2047 decoding: tests/unit/header_reader.h, shared with test_mime.c),
 * a valid UTF-8 subject or a valid display name is exactly what was
 * given.
 *
 * Seeds: the names in subscribers/ and the titles in posts/ (written by
 * tests/fuzz/seeds.py).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "tagdigest/core/address.h"
#include "tagdigest/core/buf.h"
#include "tagdigest/core/log.h"
#include "tagdigest/compose/mime.h"
#include "tagdigest/core/util.h"

#include "header_reader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ADDR "digest@news.example.org"

/* The wire rules every header field keeps; max is the longest line
 * allowed, without its CRLF. */
static void check_field(const struct td_buf *b, const char *name, size_t max)
{
	const char *s = b->data;
	size_t n = b->len, nl = strlen(name);
	/* "Name: value" CRLF, or "Name:" CRLF for an empty value */
	if (n < nl + 3 || memcmp(s, name, nl) != 0 || s[nl] != ':' ||
	    (s[nl + 1] != ' ' && n != nl + 3) || s[n - 2] != '\r' || s[n - 1] != '\n')
		__builtin_trap();
	size_t line = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '\r') {
			if (i + 1 >= n || s[i + 1] != '\n')
				__builtin_trap(); /* a bare CR */
			/* a CRLF inside the field must be a fold */
			if (i + 2 < n && s[i + 2] != ' ' && s[i + 2] != '\t')
				__builtin_trap();
			if (line > max)
				__builtin_trap();
			line = 0;
			i++;
			continue;
		}
		if (c == '\n' || (c < 0x20 && c != '\t') || c >= 0x7f)
			__builtin_trap(); /* a bare LF, a control or a raw 8-bit byte */
		line++;
	}
	/* encoded-words "=?UTF-8?B?...?=" within 75 characters; the base64
	 * alphabet holds no '?', so the first "?=" after the prefix ends it */
	for (const char *w = strstr(s, "=?UTF-8?B?"); w; w = strstr(w + 10, "=?UTF-8?B?")) {
		const char *end = strstr(w + 10, "?=");
		if (!end || (size_t)(end + 2 - w) > 75)
			__builtin_trap();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	td_log_set_level(TD_LOG_QUIET);
	if (size == 0)
		return 0;
	/* the writers take C strings: the text ends at the first NUL */
	struct td_buf in = TD_BUF_INIT, out = TD_BUF_INIT;
	td_buf_append(&in, data + 1, size - 1);
	const char *text = td_buf_cstr(&in);
	if (data[0] & 1) {
		td_mime_header_text(&out, "Subject", text);
		check_field(&out, "Subject", 78);
		/* read back as a reader reads it, it is the text again */
		if (td_utf8_valid(text, strlen(text)) && !text_roundtrip("Subject", text, 78, NULL))
			__builtin_trap();
	} else {
		char why[128];
		bool valid = td_display_name_valid(text, why, sizeof why);
		td_mime_header_mailbox(&out, "From", text, ADDR);
		check_field(&out, "From", valid ? 998 : (size_t)-1);
		if (valid && !mailbox_roundtrip("From", text, ADDR, 998, NULL))
			__builtin_trap();
	}
	td_buf_free(&in);
	td_buf_free(&out);
	return 0;
}
