/*
 * verp.c: the VERP return path (verp.h): a short signed token in the
 * envelope sender's local part, and finding it again in what comes back.
 *
 * The token is base32 (RFC 4648 alphabet, lowercase, no padding) of
 * kind, LEB128 id, LEB128 minutes, truncated MAC. Decoding is strict (no
 * spare bits, minimal LEB128, exactly the MAC's length left), so one
 * mail has one token, whatever case an MTA gave it.
 */
#include "tagdigest/compose/verp.h"

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tagdigest/core/address.h"
#include "tagdigest/core/buf.h"
#include "tagdigest/core/util.h"

#define PLACEHOLDER "{token}"
#define LEB_MAX 9               /* 63 bits, 7 a byte */
#define RAW_MAX (1 + 2 * LEB_MAX + TD_VERP_MAC_BYTES)
#define LOCAL_MAX 64            /* RFC 5321 4.5.3.1.1 */

static const char b32[] = "abcdefghijklmnopqrstuvwxyz234567";

static int b32_value(char c)
{
	if (c >= 'a' && c <= 'z')
		return c - 'a';
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= '2' && c <= '7')
		return c - '2' + 26;
	return -1;
}

static void b32_put(struct td_buf *out, const unsigned char *in, size_t len)
{
	unsigned acc = 0;
	int bits = 0;
	for (size_t i = 0; i < len; i++) {
		acc = (acc << 8) | in[i];
		bits += 8;
		while (bits >= 5) {
			bits -= 5;
			td_buf_putc(out, b32[(acc >> bits) & 31]);
		}
	}
	if (bits > 0)
		td_buf_putc(out, b32[(acc << (5 - bits)) & 31]);
}

/* Strict: a length that no byte count encodes to, or spare bits that are
 * not zero, is refused. Returns the bytes written, or 0. */
static size_t b32_decode(const char *in, size_t len, unsigned char *out, size_t cap)
{
	size_t n = 0;
	unsigned acc = 0;
	int bits = 0;
	for (size_t i = 0; i < len; i++) {
		int d = b32_value(in[i]);
		if (d < 0)
			return 0;
		acc = (acc << 5) | (unsigned)d;
		bits += 5;
		if (bits >= 8) {
			bits -= 8;
			if (n == cap)
				return 0;
			out[n++] = (unsigned char)(acc >> bits);
		}
	}
	/* what is left must be padding: fewer than 5 bits, all zero */
	if (bits >= 5 || (acc & ((1u << bits) - 1)) != 0)
		return 0;
	return n;
}

static size_t leb_put(unsigned char *out, uint64_t v)
{
	size_t n = 0;
	do {
		unsigned char b = v & 0x7f;
		v >>= 7;
		out[n++] = v ? (unsigned char)(b | 0x80) : b;
	} while (v);
	return n;
}

/* Minimal LEB128 of at most 63 bits at in[*i]; false when malformed. */
static bool leb_get(const unsigned char *in, size_t len, size_t *i, uint64_t *out)
{
	uint64_t v = 0;
	for (size_t k = 0; k < LEB_MAX && *i < len; k++) {
		unsigned char b = in[(*i)++];
		v |= (uint64_t)(b & 0x7f) << (7 * k);
		if (!(b & 0x80)) {
			/* a zero last byte after others is an overlong form */
			if (k > 0 && b == 0)
				return false;
			*out = v;
			return true;
		}
	}
	return false;
}

/* kind, LEB128 id, LEB128 minutes: the signed part of the token. */
static size_t fields_put(unsigned char *out, char kind, int64_t member_id, time_t slot)
{
	size_t n = 0;
	out[n++] = (unsigned char)kind;
	n += leb_put(out + n, member_id > 0 ? (uint64_t)member_id : 0);
	n += leb_put(out + n, slot > 0 ? (uint64_t)(slot / 60) : 0);
	return n;
}

static void mac_of(const struct td_secret *s, const unsigned char *fields, size_t flen,
		   const char *email, unsigned char mac[TD_VERP_MAC_BYTES])
{
	struct td_buf msg = TD_BUF_INIT;
	td_buf_puts(&msg, "verp\n");
	td_buf_append(&msg, fields, flen);
	for (const char *c = email; *c; c++)
		td_buf_putc(&msg, (*c >= 'A' && *c <= 'Z') ? (char)(*c - 'A' + 'a') : *c);
	unsigned char full[32];
	gnutls_hmac_fast(GNUTLS_MAC_SHA256, s->bytes, s->len, msg.data, msg.len, full);
	memcpy(mac, full, TD_VERP_MAC_BYTES);
	td_buf_free(&msg);
}

bool td_verp_template_ok(const char *rp, char *why, size_t whylen)
{
	const char *t = rp ? strstr(rp, PLACEHOLDER) : NULL;
	const char *problem = NULL;
	char addr_why[128] = "";
	if (!t)
		problem = "has no {token} (like bounces+{token}@example.org)";
	else if (strstr(t + 1, PLACEHOLDER))
		problem = "has {token} twice; one names the mail";
	else if (memchr(rp, '@', (size_t)(t - rp)))
		problem = "has {token} in the domain; it belongs in the local part, "
			  "before the '@'";
	else if (!strchr(t, '@'))
		problem = "has no '@domain' after {token}";
	else if (b32_value(t[strlen(PLACEHOLDER)]) >= 0 ||
		 (t[strlen(PLACEHOLDER)] >= '0' && t[strlen(PLACEHOLDER)] <= '9'))
		/* the token is read as the run of letters and digits there */
		problem = "has a letter or digit right after {token}; put a "
			  "separator (like '-' or '@') there";
	if (problem) {
		snprintf(why, whylen, "%s", problem);
		return false;
	}
	size_t before = (size_t)(t - rp), after = (size_t)(strrchr(t, '@') - t) -
						strlen(PLACEHOLDER);
	size_t local = before + TD_VERP_TOKEN_MAX + after;
	if (local > LOCAL_MAX) {
		snprintf(why, whylen, "the local part would be %zu characters with the "
			 "longest token (%d), more than the %d an address may have: "
			 "shorten the part around {token} to at most %d characters",
			 local, TD_VERP_TOKEN_MAX, LOCAL_MAX, LOCAL_MAX - TD_VERP_TOKEN_MAX);
		return false;
	}
	/* The address as it will be, with the longest and shortest token. */
	static const int lens[] = { TD_VERP_TOKEN_MAX, TD_VERP_TOKEN_MIN };
	for (size_t i = 0; i < 2; i++) {
		char *addr = td_xasprintf("%.*s%.*s%s", (int)before, rp, lens[i],
					  "abcdefghijklmnopqrstuvwxyz234567abcdefghijklmnop",
					  t + strlen(PLACEHOLDER));
		bool ok = td_address_valid(addr, addr_why, sizeof addr_why);
		free(addr);
		if (!ok) {
			snprintf(why, whylen, "is not an address once {token} is filled "
				 "in: %s", addr_why);
			return false;
		}
	}
	return true;
}

int td_verp_init(struct td_verp *v, const char *return_path,
		 const struct td_secret *secret, struct td_err *err)
{
	memset(v, 0, sizeof *v);
	char why[256];
	if (!td_verp_template_ok(return_path, why, sizeof why))
		return td_err_set(err, EX_CONFIG, "[bounces] return_path: '%.100s' %s",
				  return_path ? return_path : "", why);
	const char *t = strstr(return_path, PLACEHOLDER);
	v->secret = secret;
	v->prefix = td_xstrndup(return_path, (size_t)(t - return_path));
	v->suffix = td_xstrdup(t + strlen(PLACEHOLDER));
	return 0;
}

void td_verp_free(struct td_verp *v)
{
	if (!v)
		return;
	free(v->prefix);
	free(v->suffix);
	memset(v, 0, sizeof *v);
}

char *td_verp_address(const struct td_verp *v, char kind, int64_t member_id,
		      const char *email, time_t slot)
{
	unsigned char raw[RAW_MAX];
	size_t n = fields_put(raw, kind, member_id, slot);
	mac_of(v->secret, raw, n, email, raw + n);
	n += TD_VERP_MAC_BYTES;
	struct td_buf out = TD_BUF_INIT;
	td_buf_puts(&out, v->prefix);
	b32_put(&out, raw, n);
	td_buf_puts(&out, v->suffix);
	return td_buf_steal(&out);
}

/* Decodes a token's characters; false when they are not one. */
static bool token_decode(const char *s, size_t len, struct td_verp_token *tok)
{
	unsigned char raw[RAW_MAX];
	size_t n = b32_decode(s, len, raw, sizeof raw), i = 1;
	uint64_t id, minutes;
	if (n < 1 + 2 + TD_VERP_MAC_BYTES || !raw[0] || !strchr("dctw", raw[0]) ||
	    !leb_get(raw, n, &i, &id) || !leb_get(raw, n, &i, &minutes) ||
	    n - i != TD_VERP_MAC_BYTES || id > (uint64_t)INT64_MAX ||
	    minutes > (uint64_t)INT64_MAX / 60)
		return false;
	tok->kind = (char)raw[0];
	tok->member_id = (int64_t)id;
	tok->slot = (time_t)(minutes * 60);
	memcpy(tok->mac, raw + i, TD_VERP_MAC_BYTES);
	return true;
}

bool td_verp_next(const struct td_verp *v, const char *text, size_t len,
		  size_t *pos, struct td_verp_token *tok)
{
	size_t plen = strlen(v->prefix), slen = strlen(v->suffix);
	for (size_t at = *pos; at < len && len - at >= plen + TD_VERP_TOKEN_MIN + slen;
	     at++) {
		if (plen && strncasecmp(text + at, v->prefix, plen) != 0)
			continue;
		/* a token is the longest run of base32 characters there, at
		 * most TD_VERP_TOKEN_MAX: a longer run is no token of ours */
		size_t start = at + plen, run = 0;
		while (start + run < len && run <= TD_VERP_TOKEN_MAX &&
		       b32_value(text[start + run]) >= 0)
			run++;
		if (run < TD_VERP_TOKEN_MIN || run > TD_VERP_TOKEN_MAX)
			continue;
		size_t end = start + run;
		if (len - end < slen || strncasecmp(text + end, v->suffix, slen) != 0 ||
		    !token_decode(text + start, run, tok))
			continue;
		*pos = end + slen;
		return true;
	}
	*pos = len;
	return false;
}

bool td_verp_verify(const struct td_verp *v, const struct td_verp_token *tok,
		    const char *email)
{
	if (!v->secret || !email)
		return false;
	unsigned char raw[RAW_MAX], mac[TD_VERP_MAC_BYTES];
	size_t n = fields_put(raw, tok->kind, tok->member_id, tok->slot);
	mac_of(v->secret, raw, n, email, mac);
	/* constant time: no early exit on the first differing byte */
	return gnutls_memcmp(mac, tok->mac, TD_VERP_MAC_BYTES) == 0;
}
