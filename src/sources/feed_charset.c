/*
 * feed_charset.c: a feed's bytes to UTF-8 (feed_charset.h), and the
 * windows-1252 readings that repair mislabelled text.
 */
#include "tagdigest/sources/feed_charset.h"

#include <ctype.h>
#include <errno.h>
#include <iconv.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tagdigest/core/util.h"
#include "feed_impl.h"

/* windows-1252 bytes 0x80..0x9F; the five holes keep their C1 value, as
 * browsers do. */
static const uint16_t cp1252_hi[32] = {
	0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
	0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x008D, 0x017D, 0x008F,
	0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
	0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178,
};

static uint32_t cp1252_char(unsigned char c)
{
	return c >= 0x80 && c < 0xA0 ? cp1252_hi[c - 0x80] : c;
}

char *td_feed_fix_c1(const char *s)
{
	/* Nearly all text has no C1 code point (U+0080..U+009F, which UTF-8
	 * writes as C2 80..C2 9F), and then nothing changes. */
	const char *c2 = strchr(s, '\xC2');
	while (c2 && !((unsigned char)c2[1] >= 0x80 && (unsigned char)c2[1] < 0xA0))
		c2 = strchr(c2 + 1, '\xC2');
	if (!c2)
		return td_xstrdup(s);
	struct td_buf b = TD_BUF_INIT;
	size_t n = strlen(s);
	for (size_t i = 0; i < n;) {
		uint32_t cp;
		size_t k = td_utf8_next(s + i, n - i, &cp);
		if (k == 0) {
			td_buf_putc(&b, s[i]);
			i++;
			continue;
		}
		if (cp >= 0x80 && cp < 0xA0)
			td_utf8_put(&b, cp1252_hi[cp - 0x80]);
		else
			td_buf_append(&b, s + i, k);
		i += k;
	}
	return td_buf_steal(&b);
}
/* Encodings.                                                           */

static bool enc_is(const char *enc, const char *const *names)
{
	char norm[64];
	size_t n = 0;
	for (const char *p = enc; *p && n + 1 < sizeof norm; p++)
		if (*p != '-' && *p != '_' && *p != ' ')
			norm[n++] = (char)tolower((unsigned char)*p);
	norm[n] = '\0';
	for (size_t i = 0; names[i]; i++)
		if (strcmp(norm, names[i]) == 0)
			return true;
	return false;
}

static const char *const ENC_UTF8[] = { "utf8", NULL };
static const char *const ENC_1252[] = {
	"iso88591", "latin1", "l1", "isolatin1", "iso885911987", "cp819",
	"ibm819", "usascii", "ascii", "ansix3.41968", "windows1252", "cp1252",
	"xcp1252", NULL,
};

/* The encoding named in an XML declaration at the start of data (ASCII
 * compatible bytes), or "" when there is none. */
static void xml_decl_encoding(const char *data, size_t len, char *out, size_t outsz)
{
	out[0] = '\0';
	if (len < 6 || strncmp(data, "<?xml", 5) != 0)
		return;
	size_t end = 5;
	while (end + 1 < len && end < 512 && !(data[end] == '?' && data[end + 1] == '>'))
		end++;
	for (size_t i = 5; i + 8 < end; i++) {
		if (strncmp(data + i, "encoding", 8) != 0)
			continue;
		size_t j = i + 8;
		while (j < end && td_feed_is_space((unsigned char)data[j]))
			j++;
		if (j >= end || data[j] != '=')
			return;
		j++;
		while (j < end && td_feed_is_space((unsigned char)data[j]))
			j++;
		if (j >= end || (data[j] != '"' && data[j] != '\''))
			return;
		char q = data[j++];
		size_t k = 0;
		while (j < end && data[j] != q && k + 1 < outsz)
			out[k++] = data[j++];
		out[k] = '\0';
		return;
	}
}

/* charset=... from a Content-Type, or "". */
static void http_charset(const char *ctype, char *out, size_t outsz)
{
	out[0] = '\0';
	if (!ctype)
		return;
	const char *p = ctype;
	while ((p = strchr(p, ';')) != NULL) {
		p++;
		while (td_feed_is_space((unsigned char)*p))
			p++;
		if (strncasecmp(p, "charset", 7) != 0)
			continue;
		p += 7;
		while (td_feed_is_space((unsigned char)*p))
			p++;
		if (*p != '=')
			continue;
		p++;
		while (td_feed_is_space((unsigned char)*p))
			p++;
		char q = (*p == '"' || *p == '\'') ? *p++ : 0;
		size_t k = 0;
		while (*p && k + 1 < outsz && (q ? *p != q : (*p != ';' && !td_feed_is_space((unsigned char)*p))))
			out[k++] = *p++;
		out[k] = '\0';
		return;
	}
}

/* UTF-8 with every invalid byte read as windows-1252: mixed-up feeds keep
 * the most text that way. Returns true when something was repaired. */
static bool utf8_repair(const char *in, size_t len, struct td_buf *out)
{
	/* valid documents, nearly all of them, are copied in one go */
	if (td_utf8_valid(in, len)) {
		td_buf_append(out, in, len);
		return false;
	}
	bool bad = false;
	for (size_t i = 0; i < len;) {
		uint32_t cp;
		size_t k = td_utf8_next(in + i, len - i, &cp);
		if (k == 0) {
			td_utf8_put(out, cp1252_char((unsigned char)in[i]));
			bad = true;
			i++;
		} else {
			td_buf_append(out, in + i, k);
			i += k;
		}
	}
	return bad;
}

/* Anything else through iconv; undecodable bytes become U+FFFD. Returns
 * -1 when iconv does not know the encoding, 1 when bytes were bad. */
static int iconv_to_utf8(const char *enc, const char *in, size_t len, struct td_buf *out)
{
	iconv_t cd = iconv_open("UTF-8", enc);
	if (cd == (iconv_t)-1)
		return -1;
	int bad = 0;
	char chunk[4096];
	char *ip = (char *)in;
	size_t il = len;
	while (il > 0) {
		char *op = chunk;
		size_t ol = sizeof chunk;
		size_t r = iconv(cd, &ip, &il, &op, &ol);
		td_buf_append(out, chunk, (size_t)(op - chunk));
		if (r == (size_t)-1) {
			if (errno == E2BIG)
				continue;
			bad = 1;
			td_utf8_put(out, 0xFFFD);
			if (errno == EINVAL)
				break;
			ip++;
			il--;
		}
	}
	iconv_close(cd);
	return bad;
}

/* Keeps the first problem: the one the feed's bozo_exception names. */
static void problem(const char **first, const char *msg)
{
	if (!*first)
		*first = msg;
}

const char *td_feed_decode(const char *data, size_t len, const char *content_type,
			   struct td_buf *out, char **encoding)
{
	const char *bozo = NULL;
	const unsigned char *u = (const unsigned char *)data;
	char declared[64], http[64];
	const char *enc = NULL;
	size_t skip = 0;
	http_charset(content_type, http, sizeof http);

	if (len >= 3 && u[0] == 0xEF && u[1] == 0xBB && u[2] == 0xBF) {
		enc = "utf-8";
		skip = 3;
	} else if (len >= 2 && ((u[0] == 0xFF && u[1] == 0xFE) || (u[0] == 0xFE && u[1] == 0xFF))) {
		enc = "utf-16"; /* iconv reads the BOM */
	} else if (len >= 4 && u[0] == '<' && u[1] == 0 && u[2] == '?' && u[3] == 0) {
		enc = "utf-16le";
	} else if (len >= 4 && u[0] == 0 && u[1] == '<' && u[2] == 0 && u[3] == '?') {
		enc = "utf-16be";
	}
	xml_decl_encoding(data + skip, len - skip, declared, sizeof declared);
	if (!enc)
		enc = *http ? http : *declared ? declared : "utf-8";
	else if (*http && !enc_is(http, ENC_UTF8) && !strcmp(enc, "utf-8"))
		problem(&bozo, "byte order mark and HTTP charset disagree");
	if (*http && *declared && strcasecmp(http, declared) != 0 &&
	    !(enc_is(http, ENC_UTF8) && enc_is(declared, ENC_UTF8)))
		problem(&bozo, "document declared one encoding but was served as another");

	char *name = td_xstrdup(enc);
	for (char *q = name; *q; q++)
		*q = (char)tolower((unsigned char)*q);
	if (enc_is(name, ENC_UTF8)) {
		free(name);
		name = td_xstrdup("utf-8");
	}
	*encoding = name;

	if (enc_is(enc, ENC_UTF8)) {
		if (utf8_repair(data + skip, len - skip, out))
			problem(&bozo, "document is not valid UTF-8");
	} else if (enc_is(enc, ENC_1252)) {
		/* ISO-8859-1 and US-ASCII labels mean windows-1252 in practice */
		for (size_t i = skip; i < len; i++)
			td_utf8_put(out, cp1252_char(u[i]));
	} else {
		int r = iconv_to_utf8(enc, data + skip, len - skip, out);
		if (r < 0) {
			problem(&bozo, "unknown character encoding");
			free(*encoding);
			*encoding = td_xstrdup("utf-8");
			td_buf_reset(out);
			utf8_repair(data + skip, len - skip, out);
		} else if (r > 0) {
			problem(&bozo, "document has bytes its encoding cannot have");
		}
	}
	return bozo;
}
