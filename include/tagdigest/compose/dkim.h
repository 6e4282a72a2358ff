/*
 * dkim: DomainKeys Identified Mail signatures (RFC 6376, RFC 8463) for
 * the messages tagdigest sends, with GnuTLS.
 *
 * RSA-SHA256 or Ed25519-SHA256, chosen by the key in the PEM file;
 * relaxed/relaxed canonicalization; h= covers From, Reply-To, To, Cc,
 * Subject, Date, Message-ID, MIME-Version, Content-Type,
 * Content-Transfer-Encoding, List-Id, List-Unsubscribe and
 * List-Unsubscribe-Post (each that is present; the bottom-most instance
 * when one appears twice), so the one-click unsubscribe headers are signed
 * as RFC 8058 requires and the MIME structure cannot be swapped. The
 * signature is computed after every other header is in place and
 * prepended as a DKIM-Signature header folded at 78 columns.
 *
 * Ownership: td_dkim_new() returns a signer freed with td_dkim_free(); it
 * holds the private key for the run. Messages are borrowed.
 */
#ifndef TAGDIGEST_DKIM_H
#define TAGDIGEST_DKIM_H

#include <stddef.h>
#include <time.h>

#include "tagdigest/core/buf.h"
#include "tagdigest/core/err.h"

struct td_dkim;

/* Loads the key. The file must not be readable by group or others.
 * Returns 0, EX_NOINPUT (unreadable) or EX_CONFIG (bad key, unsafe mode,
 * unsupported key type) with a message naming the file. */
int td_dkim_new(const char *domain, const char *selector, const char *key_file,
		struct td_dkim **out, struct td_err *err);
void td_dkim_free(struct td_dkim *d);

/* Signs the CRLF message in msg (headers, blank line, body) and inserts
 * the DKIM-Signature header at its top. t= is `now`. Returns 0 or
 * EX_SOFTWARE / EX_DATAERR (message without a header/body separator). */
int td_dkim_sign(const struct td_dkim *d, struct td_buf *msg, time_t now,
		 struct td_err *err);

/* Relaxed canonicalization of a whole CRLF message (RFC 6376 3.4.2 and
 * 3.4.4), exposed for tests: every header field in order goes to headers
 * (each "name:value" + CRLF), the body to body. Returns 0, EX_DATAERR (no
 * header/body separator, a header line without a colon) or EX_SOFTWARE
 * (an output buffer's cap was hit). */
int td_dkim_canonicalize(const char *msg, size_t len, struct td_buf *headers,
			 struct td_buf *body, struct td_err *err);

#endif
