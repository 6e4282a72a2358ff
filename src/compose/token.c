/*
 * token.c: unsubscribe and purpose tokens (HMAC-SHA256 via GnuTLS) and their
 * secret.
 */
#include "tagdigest/compose/token.h"

#include <errno.h>
#include <fcntl.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tagdigest/core/base64.h"
#include "tagdigest/core/buf.h"
#include "tagdigest/core/log.h"
#include "tagdigest/core/util.h"

#define SECRET_BYTES 32
#define MIN_SECRET 16
#define MAC_BYTES TD_MAC_BYTES

static const char b64url[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static int b64url_value(char c)
{
	const char *p = c ? strchr(b64url, c) : NULL;
	return p ? (int)(p - b64url) : -1;
}

/* Strict decoder: no padding, no stray characters, no non-zero spare bits. */
static bool b64url_decode(const char *in, size_t len, struct td_buf *out)
{
	if (len % 4 == 1)
		return false;
	for (size_t i = 0; i < len; i += 4) {
		size_t chunk = len - i < 4 ? len - i : 4;
		unsigned v = 0;
		for (size_t j = 0; j < 4; j++) {
			int d = j < chunk ? b64url_value(in[i + j]) : 0;
			if (d < 0)
				return false;
			v = (v << 6) | (unsigned)d;
		}
		td_buf_putc(out, (char)(v >> 16));
		if (chunk > 2)
			td_buf_putc(out, (char)(v >> 8));
		else if (v & 0xffff)
			return false;
		if (chunk > 3)
			td_buf_putc(out, (char)v);
		else if (chunk == 3 && (v & 0xff))
			return false;
	}
	return true;
}

/* A token's two halves, decoded: a payload without NUL bytes and a MAC of
 * the right length. Checking the MAC is the caller's. */
static bool token_split(const char *token, struct td_buf *payload, struct td_buf *mac)
{
	const char *dot = strchr(token, '.');
	return dot && strlen(token) <= 2048 &&
	       b64url_decode(token, (size_t)(dot - token), payload) &&
	       b64url_decode(dot + 1, strlen(dot + 1), mac) &&
	       mac->len == MAC_BYTES && payload->len > 0 &&
	       memchr(payload->data, '\0', payload->len) == NULL;
}

static void mac_of(const struct td_secret *s, const char *email,
		   const char *scope, unsigned char mac[MAC_BYTES])
{
	struct td_buf msg = TD_BUF_INIT;
	td_buf_printf(&msg, "unsubscribe\n%s\n%s", email, scope);
	gnutls_hmac_fast(GNUTLS_MAC_SHA256, s->bytes, s->len, msg.data, msg.len, mac);
	td_buf_free(&msg);
}

struct td_mac {
	gnutls_hmac_hd_t h;       /* keyed; back at the start after each MAC */
	char *purpose;            /* purpose "\n" */
	size_t plen;
};

struct td_mac *td_mac_new(const struct td_secret *s, const char *purpose)
{
	struct td_mac *m = td_xcalloc(1, sizeof *m);
	/* Fails only without memory or without SHA-256: no MAC to go on with,
	 * like an allocator that returns NULL (util.h). */
	if (gnutls_hmac_init(&m->h, GNUTLS_MAC_SHA256, s->bytes, s->len) < 0) {
		fprintf(stderr, "tagdigest: secrets: HMAC-SHA256 is not available\n");
		abort();
	}
	m->purpose = td_xasprintf("%s\n", purpose);
	m->plen = strlen(m->purpose);
	return m;
}

void td_mac_compute(struct td_mac *m, const void *data, size_t len,
		    unsigned char mac[TD_MAC_BYTES])
{
	gnutls_hmac(m->h, m->purpose, m->plen);
	gnutls_hmac(m->h, data, len);
	/* outputs, and resets the handle to its keyed start for the next */
	gnutls_hmac_output(m->h, mac);
}

void td_mac_free(struct td_mac *m)
{
	if (!m)
		return;
	gnutls_hmac_deinit(m->h, NULL);
	free(m->purpose);
	free(m);
}

char *td_token_make(const struct td_secret *s, const char *email,
		    const char *scope)
{
	struct td_buf payload = TD_BUF_INIT, tok = TD_BUF_INIT;
	unsigned char mac[MAC_BYTES];
	td_buf_printf(&payload, "%s\n%s", email, scope);
	mac_of(s, email, scope, mac);
	td_base64_put(&tok, payload.data, payload.len, TD_BASE64URL);
	td_buf_putc(&tok, '.');
	td_base64_put(&tok, mac, sizeof mac, TD_BASE64URL);
	td_buf_free(&payload);
	return td_buf_steal(&tok);
}

bool td_token_verify(const struct td_secret *s, const char *token,
		     char **email, char **scope)
{
	*email = *scope = NULL;
	struct td_buf payload = TD_BUF_INIT, mac = TD_BUF_INIT;
	bool ok = token_split(token, &payload, &mac);
	char *nl = ok ? strchr(payload.data, '\n') : NULL;
	if (ok && nl) {
		*nl = '\0';
		unsigned char want[MAC_BYTES];
		mac_of(s, payload.data, nl + 1, want);
		/* constant time: no early exit on the first differing byte */
		ok = gnutls_memcmp(want, mac.data, MAC_BYTES) == 0;
		if (ok) {
			*email = td_xstrdup(payload.data);
			*scope = td_xstrdup(nl + 1);
		}
	} else {
		ok = false;
	}
	td_buf_free(&payload);
	td_buf_free(&mac);
	return ok;
}

/* A purpose token signs purpose "\n" payload; its payload is
 * email "\n" detail "\n" expires, so neither part may hold a '\n' (the
 * split would be ambiguous), and "unsubscribe" stays the old tokens' own. */
static bool purpose_ok(const char *purpose)
{
	return purpose && *purpose && !strchr(purpose, '\n') &&
	       strcmp(purpose, "unsubscribe") != 0;
}

static void purpose_mac(const struct td_secret *s, const char *purpose,
			const char *payload, size_t len, unsigned char mac[MAC_BYTES])
{
	struct td_buf msg = TD_BUF_INIT;
	td_buf_printf(&msg, "%s\n", purpose);
	td_buf_append(&msg, payload, len);
	gnutls_hmac_fast(GNUTLS_MAC_SHA256, s->bytes, s->len, msg.data, msg.len, mac);
	td_buf_free(&msg);
}

char *td_token_make_for(const struct td_secret *s, const char *purpose,
			const char *email, const char *detail, time_t expires)
{
	if (!purpose_ok(purpose) || strchr(email, '\n') || strchr(detail, '\n') ||
	    expires < 0)
		return NULL;
	struct td_buf payload = TD_BUF_INIT, tok = TD_BUF_INIT;
	unsigned char mac[MAC_BYTES];
	td_buf_printf(&payload, "%s\n%s\n%lld", email, detail, (long long)expires);
	purpose_mac(s, purpose, payload.data, payload.len, mac);
	td_base64_put(&tok, payload.data, payload.len, TD_BASE64URL);
	td_buf_putc(&tok, '.');
	td_base64_put(&tok, mac, sizeof mac, TD_BASE64URL);
	td_buf_free(&payload);
	return td_buf_steal(&tok);
}

/* The expiry as the maker wrote it: decimal digits, no sign, no leading
 * zero, within time_t. */
static bool parse_expires(const char *text, time_t *out)
{
	if (!*text || strspn(text, "0123456789") != strlen(text) ||
	    (text[0] == '0' && text[1]) || strlen(text) > 18)
		return false;
	*out = (time_t)strtoll(text, NULL, 10);
	return true;
}

enum td_token_check td_token_check_for(const struct td_secret *s, const char *purpose,
				       const char *token, time_t now, char **email,
				       char **detail)
{
	*email = *detail = NULL;
	struct td_buf payload = TD_BUF_INIT, mac = TD_BUF_INIT;
	bool ok = purpose_ok(purpose) && token_split(token, &payload, &mac);
	if (ok) {
		unsigned char want[MAC_BYTES];
		purpose_mac(s, purpose, payload.data, payload.len, want);
		/* constant time: no early exit on the first differing byte */
		ok = gnutls_memcmp(want, mac.data, MAC_BYTES) == 0;
	}
	/* Authentic from here on, so the fields are ours; still parsed
	 * strictly, a token from a future format is refused, not misread. */
	char *nl1 = ok ? strchr(payload.data, '\n') : NULL;
	char *nl2 = nl1 ? strchr(nl1 + 1, '\n') : NULL;
	time_t expires = 0;
	enum td_token_check rc = TD_TOKEN_BAD;
	if (nl2) {
		*nl1 = *nl2 = '\0';
		if (parse_expires(nl2 + 1, &expires)) {
			*email = td_xstrdup(payload.data);
			*detail = td_xstrdup(nl1 + 1);
			rc = expires != 0 && now >= expires ? TD_TOKEN_EXPIRED : TD_TOKEN_OK;
		}
	}
	td_buf_free(&payload);
	td_buf_free(&mac);
	return rc;
}

static int secret_from_text(const char *text, const char *origin,
			    struct td_secret *out, struct td_err *err)
{
	size_t len = strlen(text);
	while (len && (text[len - 1] == '\n' || text[len - 1] == '\r' ||
		       text[len - 1] == ' '))
		len--;
	if (len < MIN_SECRET)
		return td_err_set(err, EX_CONFIG,
				  "secrets: %s: the token secret is %zu bytes; use at "
				  "least %d (e.g. `head -c 32 /dev/urandom | base64`)",
				  origin, len, MIN_SECRET);
	out->bytes = td_xmalloc(len);
	memcpy(out->bytes, text, len);
	out->len = len;
	return 0;
}

static int create_secret_file(const char *file, struct td_err *err)
{
	unsigned char raw[SECRET_BYTES];
	if (gnutls_rnd(GNUTLS_RND_KEY, raw, sizeof raw) < 0)
		return td_err_set(err, EX_SOFTWARE, "secrets: no random bytes available");
	struct td_buf text = TD_BUF_INIT;
	td_base64_put(&text, raw, sizeof raw, TD_BASE64URL);
	td_buf_putc(&text, '\n');
	/* its folder too: next to an SQLite store it exists, but a store on
	 * a PostgreSQL server leaves var/ to be made here */
	int rc = td_mkdir_parents(file, err), fd = -1;
	if (!rc && (fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0)
		rc = td_err_set(err, EX_CANTCREAT, "secrets: create %s: %s", file,
				strerror(errno));
	if (fd >= 0) {
		if (write(fd, text.data, text.len) != (ssize_t)text.len || fsync(fd) < 0)
			rc = td_err_set(err, EX_IOERR, "secrets: write %s: %s", file,
					strerror(errno));
		close(fd);
		if (rc)
			unlink(file);
		else
			td_log_info("secrets: created a new token secret in %s (mode 0600); "
				    "keep it: unsubscribe links depend on it", file);
	}
	gnutls_memset(raw, 0, sizeof raw);
	td_buf_free(&text);
	return rc;
}

int td_secret_load(const char *env_name, const char *file, bool create,
		   struct td_secret *out, struct td_err *err)
{
	out->bytes = NULL;
	out->len = 0;
	const char *env = env_name && *env_name ? getenv(env_name) : NULL;
	if (env && *env) {
		char origin[256];
		snprintf(origin, sizeof origin, "$%s", env_name);
		return secret_from_text(env, origin, out, err);
	}
	struct stat st;
	if (stat(file, &st) < 0) {
		if (errno != ENOENT || !create)
			return td_err_set(err, EX_NOINPUT, "secrets: %s: %s (set $%s or "
					  "create the file)", file, strerror(errno),
					  env_name ? env_name : "TAGDIGEST_TOKEN_SECRET");
		int rc = create_secret_file(file, err);
		if (rc)
			return rc;
	} else if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		return td_err_set(err, EX_CONFIG,
				  "secrets: %s is readable by others (mode %03o): "
				  "run `chmod 600 %s`", file,
				  (unsigned)(st.st_mode & 0777), file);
	}
	char *text;
	if (td_read_file(file, 4096, &text, NULL) < 0)
		return td_err_set(err, EX_NOINPUT, "secrets: read %s: %s", file,
				  strerror(errno));
	int rc = secret_from_text(text, file, out, err);
	gnutls_memset(text, 0, strlen(text));
	free(text);
	return rc;
}

void td_secret_free(struct td_secret *s)
{
	if (s->bytes)
		gnutls_memset(s->bytes, 0, s->len);
	free(s->bytes);
	s->bytes = NULL;
	s->len = 0;
}
