/*
 * token: HMAC-signed unsubscribe tokens and the secret behind them.
 *
 * A token names a subscriber and a scope ("all", or one tag slug) and is
 * signed with HMAC-SHA256 under the site's secret:
 *
 *     base64url(email "\n" scope) "." base64url(HMAC(secret, "unsubscribe\n" email "\n" scope))
 *
 * so it fits in a URL path without escaping and verifies in constant time.
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

#include "tagdigest/err.h"

struct td_secret {
	unsigned char *bytes;
	size_t len;
};

/* env_name may be NULL. create: make the file when missing. Returns 0,
 * EX_CONFIG (unsafe permissions, too short) or EX_CANTCREAT / EX_NOINPUT. */
int td_secret_load(const char *env_name, const char *file, bool create,
		   struct td_secret *out, struct td_err *err);
void td_secret_free(struct td_secret *s);

/* malloc'd token for (email, scope). */
char *td_token_make(const struct td_secret *s, const char *email,
		    const char *scope);
/* True when token is authentic; then *email and *scope are malloc'd. */
bool td_token_verify(const struct td_secret *s, const char *token,
		     char **email, char **scope);

#endif
