/*
 * hash.c: SHA-256 in hex behind hash.h.
 */
#include "tagdigest/core/hash.h"

#include <stdio.h>
#include <stdlib.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include "tagdigest/core/util.h"

char *td_sha256_hex(const void *a, size_t alen, const void *b, size_t blen)
{
	static const char digits[] = "0123456789abcdef";
	unsigned char d[32];
	gnutls_hash_hd_t h;

	if (gnutls_hash_init(&h, GNUTLS_DIG_SHA256) < 0 ||
	    gnutls_hash(h, a, alen) < 0 || (blen && gnutls_hash(h, b, blen) < 0)) {
		fprintf(stderr, "tagdigest: hash: SHA-256 is not available in GnuTLS\n");
		abort();
	}
	gnutls_hash_deinit(h, d);
	char *hex = td_xmalloc(2 * sizeof d + 1);
	for (size_t i = 0; i < sizeof d; i++) {
		hex[2 * i] = digits[d[i] >> 4];
		hex[2 * i + 1] = digits[d[i] & 15];
	}
	hex[2 * sizeof d] = '\0';
	return hex;
}
