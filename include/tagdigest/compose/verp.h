/*
 * verp: the return path that names the reader and the mail (VERP).
 *
 * With [bounces] return_path = bounces+{token}@example.org every digest,
 * confirmation and test mail goes out with its own envelope sender, so a
 * bounce that comes back says whose mail it was even when the failed
 * address is a forward the reader never told us. The token is short
 * (a 64-character local part must hold it), signed, and holds no address
 * in clear:
 *
 *     base32 lowercase, no padding, of
 *         kind (1 byte: 'd' digest, 'c' confirmation, 't' test, 'w' welcome)
 *         member id (unsigned LEB128; roster.h td_member.id, 0 if none)
 *         slot / 60 (unsigned LEB128; the digest's slot, 0 if none)
 *         MAC (TD_VERP_MAC_BYTES of HMAC-SHA256 under the site's secret,
 *              purpose "verp", over kind, id, slot and the lowercased
 *              address the mail went to)
 *
 * Exactly: the first TD_VERP_MAC_BYTES bytes of HMAC-SHA256(secret,
 * "verp\n" kind LEB128(id) LEB128(slot / 60) address), the address with
 * its ASCII letters lowercased (the td_mac convention, token.h). LEB128
 * is minimal (no trailing 0x80 0x00); a negative id or slot is written as
 * 0. The longest token (id and slot / 60 near 2^63) is
 * TD_VERP_TOKEN_MAX characters, the shortest TD_VERP_TOKEN_MIN: the
 * template is refused when its local part could then pass 64 characters.
 *
 * Lowercase base32 survives MTAs that fold the local part's case (and an
 * upper-cased token still decodes). The MAC covers the address, so a
 * member id reused after a row was removed never passes for the new
 * owner: the bounce names nobody.
 *
 * Ownership: struct td_verp borrows the secret and owns the template's
 * two halves; td_verp_free() releases them.
 */
#ifndef TAGDIGEST_VERP_H
#define TAGDIGEST_VERP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "tagdigest/core/err.h"
#include "tagdigest/compose/token.h"

#define TD_VERP_MAC_BYTES 10
/* 1 + 9 + 9 + 10 bytes and 1 + 1 + 1 + 10 bytes, in base32 */
#define TD_VERP_TOKEN_MAX 47
#define TD_VERP_TOKEN_MIN 21

struct td_verp {
	const struct td_secret *secret;
	char *prefix;   /* "bounces+" */
	char *suffix;   /* "@example.org" */
};

/* Whether return_path is a usable template: one "{token}", in the local
 * part, and a valid address (address.h) with the shortest and the
 * longest token, local part at most 64 characters. On false a reason is
 * written to why ("has no {token}"); the config loader shows it with
 * the file and line. */
bool td_verp_template_ok(const char *return_path, char *why, size_t whylen);

/* Splits the template at its one "{token}" (in the local part). Returns 0
 * or EX_CONFIG ("[bounces] return_path: ..."). secret may be NULL for a
 * verp that only checks its template (then no address is made). */
int td_verp_init(struct td_verp *v, const char *return_path,
		 const struct td_secret *secret, struct td_err *err);
void td_verp_free(struct td_verp *v);

/* The envelope sender for one mail, malloc'd: prefix TOKEN suffix, at
 * most 64 characters before the '@'. */
char *td_verp_address(const struct td_verp *v, char kind, int64_t member_id,
		      const char *email, time_t slot);

struct td_verp_token {
	char kind;
	int64_t member_id;
	time_t slot;          /* minute resolution */
	unsigned char mac[TD_VERP_MAC_BYTES];
};

/* Finds the next prefix TOKEN suffix in text (case-insensitive) from
 * *pos on, decodes it (not yet verified: that needs the address the
 * member id names), and moves *pos past it. False when none is left
 * (then *pos is len). Text is hostile: each position costs at most the
 * template's length plus TD_VERP_TOKEN_MAX comparisons, and a candidate
 * that does not decode is skipped. */
bool td_verp_next(const struct td_verp *v, const char *text, size_t len,
		  size_t *pos, struct td_verp_token *tok);
/* Whether tok was made for email (constant time on the MAC). */
bool td_verp_verify(const struct td_verp *v, const struct td_verp_token *tok,
		    const char *email);

#endif
