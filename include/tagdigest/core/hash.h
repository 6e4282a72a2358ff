/*
 * hash: SHA-256 in hex, through GnuTLS, for the content hashes and
 * fallback guids that say whether a post changed (feed.h, postsdir.h).
 *
 * A GnuTLS without SHA-256 is a broken install, not an error path: the
 * program stops with a message, as it does when out of memory (util.h).
 *
 * Ownership: the caller frees the returned string.
 */
#ifndef TAGDIGEST_HASH_H
#define TAGDIGEST_HASH_H

#include <stddef.h>

/* SHA-256 of a[0..alen) followed by b[0..blen) (b may be NULL when blen
 * is 0), as 64 lowercase hex digits. Two parts, so a prefix (the rules a
 * post is rendered by) can be hashed with a file without copying it. */
char *td_sha256_hex(const void *a, size_t alen, const void *b, size_t blen);

/* The same digest over bytes that come in pieces (a file read a chunk at
 * a time): td_sha256_end returns the hex and frees h. */
struct td_sha256;
struct td_sha256 *td_sha256_new(void);
void td_sha256_add(struct td_sha256 *h, const void *p, size_t n);
char *td_sha256_end(struct td_sha256 *h);

#endif
