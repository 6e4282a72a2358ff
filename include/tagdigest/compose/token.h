/*
 * token: HMAC-signed unsubscribe tokens and the secret behind them.
 *
 * A token names a subscriber and a scope ("all", or one tag slug) and is
 * signed with HMAC-SHA256 under the site's secret:
 *
 *     base64url(email "\n" scope) "." base64url(HMAC(secret, "unsubscribe\n" email "\n" scope))
 *
 * so it fits in a URL path without escaping and verifies in constant time.
 * The same secret keys other MACs (td_mac), each under its own purpose
 * string, so a MAC made for one use never passes for another.
 *
 * The secret comes from the environment variable the config names, else
 * from the secret file; when neither exists, a random 32-byte secret is
 * created in the file (mode 0600, O_EXCL) and announced, so a fresh
 * install works. A secret file readable by group or others is refused.
 *
 * Ownership: struct td_secret owns its bytes; td_secret_free() wipes them.
 */
#ifndef TAGDIGEST_TOKEN_H
#define TAGDIGEST_TOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "tagdigest/core/err.h"

struct td_secret {
	unsigned char *bytes;
	size_t len;
};

#define TD_MAC_BYTES 32

/* env_name may be NULL. create: make the file when missing. Returns 0,
 * EX_CONFIG (unsafe permissions, too short) or EX_CANTCREAT / EX_NOINPUT. */
int td_secret_load(const char *env_name, const char *file, bool create,
		   struct td_secret *out, struct td_err *err);
void td_secret_free(struct td_secret *s);

/* HMAC-SHA256 under the secret of purpose "\n" data, for many messages:
 * the key is set up once in td_mac_new (for a short message that is a
 * good part of the work). purpose names the use ("message-id", ...),
 * holds no '\n' and is never "unsubscribe", the purpose tokens sign
 * under. One thread at a time; td_mac_free() releases it. */
struct td_mac;
struct td_mac *td_mac_new(const struct td_secret *s, const char *purpose);
void td_mac_compute(struct td_mac *m, const void *data, size_t len,
		    unsigned char mac[TD_MAC_BYTES]);
void td_mac_free(struct td_mac *m);

/* malloc'd token for (email, scope). */
char *td_token_make(const struct td_secret *s, const char *email,
		    const char *scope);
/* True when token is authentic; then *email and *scope are malloc'd. */
bool td_token_verify(const struct td_secret *s, const char *token,
		     char **email, char **scope);

/* Capabilities for the reader's other links, each signed under its own
 * purpose ("confirm", "preferences"; never "unsubscribe"), so one never
 * passes for another:
 *
 *     base64url(email "\n" detail "\n" expires) "." base64url(HMAC(secret,
 *         purpose "\n" email "\n" detail "\n" expires))
 *
 * detail is what the link is about (the sign-up's nonce for "confirm", ""
 * for "preferences"); expires is a Unix time, 0 for a link that does not
 * expire. Checking is constant-time on the MAC and tells an expired link
 * (authentic, but late: the page can say "sign up again") from a bad
 * one; a link is expired from the second `expires` on (now >= expires).
 *
 * td_token_make_for returns NULL, making no token, when purpose is empty,
 * "unsubscribe" or holds a '\n', when email or detail holds a '\n' (the
 * payload's separator) or expires is negative: a caller bug or hostile
 * input, never a link to send. td_token_check_for refuses those purposes
 * as TD_TOKEN_BAD. */
char *td_token_make_for(const struct td_secret *s, const char *purpose,
			const char *email, const char *detail, time_t expires);
enum td_token_check { TD_TOKEN_OK, TD_TOKEN_BAD, TD_TOKEN_EXPIRED };
/* On TD_TOKEN_OK and TD_TOKEN_EXPIRED *email and *detail are malloc'd;
 * on TD_TOKEN_BAD they are NULL. */
enum td_token_check td_token_check_for(const struct td_secret *s, const char *purpose,
				       const char *token, time_t now, char **email,
				       char **detail);

#endif
