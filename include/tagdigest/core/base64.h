/*
 * base64: RFC 4648 encoding, in its two alphabets.
 *
 * TD_BASE64 is the standard alphabet with '=' padding (MIME encoded words,
 * DKIM's bh= and b=); TD_BASE64URL is the URL-safe alphabet without
 * padding (unsubscribe tokens, which live in a URL path).
 */
#ifndef TAGDIGEST_BASE64_H
#define TAGDIGEST_BASE64_H

#include <stddef.h>

#include "tagdigest/core/buf.h"

enum td_base64_alphabet { TD_BASE64, TD_BASE64URL };

/* Appends the encoding of in[0..len) to out. -1 when out's cap is hit. */
int td_base64_put(struct td_buf *out, const void *in, size_t len,
		  enum td_base64_alphabet alphabet);

#endif
