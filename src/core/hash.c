/*
 * hash.c: SHA-256 in hex behind hash.h.
 */
#include "tagdigest/core/hash.h"

#include <stdio.h>
#include <stdlib.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include "tagdigest/core/util.h"

__attribute__((noreturn)) static void broken(void)
{
	fprintf(stderr, "tagdigest: hash: SHA-256 is not available in GnuTLS\n");
	abort();
}

static char *to_hex(const unsigned char d[32])
{
	static const char digits[] = "0123456789abcdef";
	char *hex = td_xmalloc(2 * 32 + 1);
	for (size_t i = 0; i < 32; i++) {
		hex[2 * i] = digits[d[i] >> 4];
		hex[2 * i + 1] = digits[d[i] & 15];
	}
	hex[2 * 32] = '\0';
	return hex;
}

char *td_sha256_hex(const void *a, size_t alen, const void *b, size_t blen)
{
	unsigned char d[32];
	gnutls_hash_hd_t h;

	if (gnutls_hash_init(&h, GNUTLS_DIG_SHA256) < 0 ||
	    gnutls_hash(h, a, alen) < 0 || (blen && gnutls_hash(h, b, blen) < 0))
		broken();
	gnutls_hash_deinit(h, d);
	return to_hex(d);
}

struct td_sha256 {
	gnutls_hash_hd_t h;
};

struct td_sha256 *td_sha256_new(void)
{
	struct td_sha256 *s = td_xmalloc(sizeof *s);
	if (gnutls_hash_init(&s->h, GNUTLS_DIG_SHA256) < 0)
		broken();
	return s;
}

void td_sha256_add(struct td_sha256 *s, const void *p, size_t n)
{
	if (n && gnutls_hash(s->h, p, n) < 0)
		broken();
}

char *td_sha256_end(struct td_sha256 *s)
{
	unsigned char d[32];
	gnutls_hash_deinit(s->h, d);
	free(s);
	return to_hex(d);
}
