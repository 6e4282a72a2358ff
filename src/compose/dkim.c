/*
 * dkim.c: DKIM signatures (RFC 6376) with RSA-SHA256 or Ed25519-SHA256
 * (RFC 8463) for the digests tagdigest sends, so receivers can tie the
 * message, and above all its one-click unsubscribe headers (RFC 8058), to
 * the sending domain.
 *
 * The signer canonicalizes the finished message with relaxed/relaxed,
 * hashes the body into bh=, hashes the chosen header fields plus the new
 * DKIM-Signature header (b= still empty) and signs that with the private
 * key GnuTLS loaded from a PEM file. The header is then folded at 78
 * columns and put on top of the message. Everything is done in memory on
 * a message that is already CRLF and ready for SMTP; nothing here touches
 * the network or DNS.
 */
#include "tagdigest/compose/dkim.h"

#include <errno.h>
#include <fcntl.h>
#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tagdigest/core/base64.h"
#include "tagdigest/core/util.h"

/* A PEM key is a few kB at most (RSA 4096 is ~3.3 kB); anything far larger
 * is not a key file and should not be slurped into memory. */
#define KEY_FILE_MAX (64 * 1024)
/* RFC 8301 3.2: verifiers must not accept RSA keys under 1024 bits. */
#define RSA_MIN_BITS 1024
/* RFC 5322 2.1.1: lines SHOULD be at most 78 characters. */
#define FOLD_COL 78
#define SHA256_LEN 32

/* The fields that h= names, each once, when present. Reply-To and Cc are
 * what a reader sees (RFC 6376 5.4.1); MIME-Version, Content-Type and
 * Content-Transfer-Encoding decide how the signed body is read, so leaving
 * them out would let a relay re-label the parts without breaking the
 * signature. */
static const char *const signed_fields[] = {
	"From", "Reply-To", "To", "Cc", "Subject", "Date", "Message-ID",
	"MIME-Version", "Content-Type", "Content-Transfer-Encoding",
	"List-Id", "List-Unsubscribe", "List-Unsubscribe-Post",
};
#define N_SIGNED (sizeof signed_fields / sizeof signed_fields[0])

struct td_dkim {
	char *domain;
	char *selector;
	gnutls_privkey_t key;
	bool ed25519;           /* else RSA */
};

/* One header field as it sits in the message: folding included, the
 * final CRLF not. */
struct field {
	const char *p;
	size_t len;
};

static bool is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* d= and s= go into the tag-list verbatim and into a DNS name, so they
 * must be plain LDH labels (RFC 6376 3.5 "sub-domain"); an IDN domain must
 * be given in its A-label form. */
static bool valid_dns_name(const char *s)
{
	size_t n = strlen(s), label = 0;
	if (n == 0 || n > 253)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c == '.') {
			if (label == 0 || s[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '-';
		if (!ok || (label == 0 && c == '-') || ++label > 63)
			return false;
	}
	return label > 0 && s[n - 1] != '-';
}

static int load_key(const char *key_file, gnutls_privkey_t *key,
		    struct td_err *err)
{
	/* open first, then fstat the same file: the mode we check is the mode
	 * of the file we read, not of whatever the path names a moment later */
	int fd = open(key_file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return td_err_set(err, EX_NOINPUT, "dkim: key file %s: %s",
				  key_file, strerror(errno));
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int e = errno;
		close(fd);
		return td_err_set(err, EX_NOINPUT, "dkim: key file %s: %s",
				  key_file, strerror(e));
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return td_err_set(err, EX_CONFIG, "dkim: key file %s is not a "
				  "regular file", key_file);
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		close(fd);
		return td_err_set(err, EX_CONFIG,
				  "dkim: key file %s is open to group or others "
				  "(mode %03o): run `chmod 600 %s`", key_file,
				  (unsigned)(st.st_mode & 0777), key_file);
	}

	struct td_buf pem;
	td_buf_init(&pem, KEY_FILE_MAX);
	char chunk[4096];
	int rc = 0;
	for (;;) {
		ssize_t got = read(fd, chunk, sizeof chunk);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			rc = td_err_set(err, EX_NOINPUT, "dkim: read %s: %s",
					key_file, strerror(errno));
			break;
		}
		if (got == 0)
			break;
		if (td_buf_append(&pem, chunk, (size_t)got) < 0) {
			rc = td_err_set(err, EX_CONFIG, "dkim: key file %s is "
					"over %d bytes: not a PEM private key",
					key_file, KEY_FILE_MAX);
			break;
		}
	}
	close(fd);
	gnutls_memset(chunk, 0, sizeof chunk);

	if (rc == 0) {
		gnutls_datum_t d = { (unsigned char *)pem.data,
				     (unsigned)pem.len };
		int grc = gnutls_privkey_init(key);
		if (grc == 0)
			grc = gnutls_privkey_import_x509_raw(*key, &d,
							     GNUTLS_X509_FMT_PEM,
							     NULL, 0);
		if (grc < 0) {
			gnutls_privkey_deinit(*key);
			*key = NULL;
			rc = td_err_set(err, EX_CONFIG, "dkim: key file %s: not "
					"an unencrypted PEM private key (%s)",
					key_file, gnutls_strerror(grc));
		}
	}
	/* the key text must not linger in freed heap memory */
	if (pem.data)
		gnutls_memset(pem.data, 0, pem.len);
	td_buf_free(&pem);
	return rc;
}

int td_dkim_new(const char *domain, const char *selector, const char *key_file,
		struct td_dkim **out, struct td_err *err)
{
	*out = NULL;
	if (!domain || !valid_dns_name(domain))
		return td_err_set(err, EX_CONFIG, "dkim: domain '%s' is not a "
				  "DNS name (letters, digits, '-' and '.'; IDNs "
				  "as xn--)", domain ? domain : "");
	if (!selector || !valid_dns_name(selector))
		return td_err_set(err, EX_CONFIG, "dkim: selector '%s' is not a "
				  "DNS name (letters, digits, '-' and '.')",
				  selector ? selector : "");

	gnutls_privkey_t key = NULL;
	int rc = load_key(key_file, &key, err);
	if (rc)
		return rc;

	unsigned bits = 0;
	int algo = gnutls_privkey_get_pk_algorithm(key, &bits);
	bool ed25519 = algo == GNUTLS_PK_EDDSA_ED25519;
	if (algo == GNUTLS_PK_RSA && bits < RSA_MIN_BITS) {
		gnutls_privkey_deinit(key);
		return td_err_set(err, EX_CONFIG, "dkim: key file %s: RSA key of "
				  "%u bits; DKIM needs at least %d (2048 is usual)",
				  key_file, bits, RSA_MIN_BITS);
	}
	if (algo != GNUTLS_PK_RSA && !ed25519) {
		/* RSA-PSS, ECDSA, Ed448...: DKIM defines only rsa-sha256 and
		 * ed25519-sha256 */
		const char *name = algo < 0 ? "unknown" :
			gnutls_pk_algorithm_get_name((gnutls_pk_algorithm_t)algo);
		gnutls_privkey_deinit(key);
		return td_err_set(err, EX_CONFIG, "dkim: key file %s: %s keys "
				  "cannot sign DKIM; use RSA (2048 bits) or Ed25519",
				  key_file, name ? name : "unknown");
	}

	struct td_dkim *d = td_xcalloc(1, sizeof *d);
	d->domain = td_xstrdup(domain);
	d->selector = td_xstrdup(selector);
	d->key = key;
	d->ed25519 = ed25519;
	*out = d;
	return 0;
}

void td_dkim_free(struct td_dkim *d)
{
	if (!d)
		return;
	gnutls_privkey_deinit(d->key);
	free(d->domain);
	free(d->selector);
	free(d);
}

/* Where the header block ends and the body starts. A message may have no
 * header fields at all (it then opens with the empty line). */
static int split_message(const char *msg, size_t len, size_t *hdr_end,
			 size_t *body, struct td_err *err)
{
	if (len >= 2 && msg[0] == '\r' && msg[1] == '\n') {
		*hdr_end = 0;
		*body = 2;
		return 0;
	}
	const char *sep = memmem(msg, len, "\r\n\r\n", 4);
	if (!sep)
		return td_err_set(err, EX_DATAERR, "dkim: message has no empty "
				  "line between header and body");
	*hdr_end = (size_t)(sep - msg) + 2;
	*body = (size_t)(sep - msg) + 4;
	return 0;
}

/* Splits the header block into fields: a field runs until a CRLF that is
 * not followed by WSP (RFC 5322 2.2.3 folding). */
static void split_fields(const char *h, size_t len, struct field **out,
			 size_t *n)
{
	size_t cap = 16, count = 0, pos = 0;
	struct field *f = td_xmalloc(cap * sizeof *f);
	while (pos < len) {
		size_t end = pos;
		for (;;) {
			const char *crlf = memmem(h + end, len - end, "\r\n", 2);
			if (!crlf) {
				end = len;
				break;
			}
			end = (size_t)(crlf - h);
			if (end + 2 < len && is_wsp(h[end + 2])) {
				end += 2;
				continue;
			}
			break;
		}
		if (count == cap) {
			cap *= 2;
			f = td_xrealloc(f, cap * sizeof *f);
		}
		f[count].p = h + pos;
		f[count].len = end - pos;
		count++;
		pos = end + 2;
	}
	*out = f;
	*n = count;
}

/* The field name with any WSP before the colon dropped (RFC 6376 3.4.2
 * deletes it), or 0 when the line has no colon. */
static size_t field_name_len(const struct field *f)
{
	const char *colon = memchr(f->p, ':', f->len);
	if (!colon)
		return 0;
	size_t n = (size_t)(colon - f->p);
	while (n > 0 && is_wsp(f->p[n - 1]))
		n--;
	return n;
}

/* Relaxed header canonicalization, RFC 6376 3.4.2: name lowercased, the
 * value unfolded, WSP runs made one SP, WSP around the colon and at the
 * end deleted. The caller has checked that the field has a colon. */
static int canon_field(const struct field *f, bool crlf, struct td_buf *out)
{
	const char *colon = memchr(f->p, ':', f->len);
	size_t nlen = field_name_len(f);
	for (size_t i = 0; i < nlen; i++) {
		char c = f->p[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (td_buf_putc(out, c) < 0)
			return -1;
	}
	if (td_buf_putc(out, ':') < 0)
		return -1;
	const char *v = colon + 1, *end = f->p + f->len;
	bool started = false, space = false;
	while (v < end) {
		/* unfolding removes exactly the CRLF pairs; the WSP after them
		 * is then collapsed like any other */
		if (v + 1 < end && v[0] == '\r' && v[1] == '\n') {
			v += 2;
			continue;
		}
		if (is_wsp(*v)) {
			space = started;
		} else {
			if (space && td_buf_putc(out, ' ') < 0)
				return -1;
			if (td_buf_putc(out, *v) < 0)
				return -1;
			started = true;
			space = false;
		}
		v++;
	}
	if (crlf && td_buf_append(out, "\r\n", 2) < 0)
		return -1;
	return 0;
}

/* Relaxed body canonicalization, RFC 6376 3.4.4: WSP at line ends
 * deleted, other WSP runs made one SP, empty lines at the end dropped, a
 * non-empty body ends with CRLF. An empty body stays empty: relaxed has no
 * "simple"-style CRLF for it (3.4.3 adds that for simple only; RFC 6376
 * 3.4.5 and errata 1384). A last line without CRLF is treated as if it had
 * one, which a message ready for SMTP never has anyway. */
static int canon_body(const char *b, size_t len, struct td_buf *out)
{
	size_t pos = 0, empty = 0;
	while (pos < len) {
		const char *crlf = memmem(b + pos, len - pos, "\r\n", 2);
		size_t end = crlf ? (size_t)(crlf - b) : len;
		size_t i = pos;
		while (i < end && is_wsp(b[i]))
			i++;
		if (i == end) {
			/* empty once its WSP is gone: only counts if text follows */
			empty++;
		} else {
			for (; empty > 0; empty--)
				if (td_buf_append(out, "\r\n", 2) < 0)
					return -1;
			bool space = false;
			for (i = pos; i < end; i++) {
				if (is_wsp(b[i])) {
					space = true;
					continue;
				}
				if (space && td_buf_putc(out, ' ') < 0)
					return -1;
				if (td_buf_putc(out, b[i]) < 0)
					return -1;
				space = false;
			}
			if (td_buf_append(out, "\r\n", 2) < 0)
				return -1;
		}
		pos = crlf ? end + 2 : len;
	}
	return 0;
}

int td_dkim_canonicalize(const char *msg, size_t len, struct td_buf *headers,
			 struct td_buf *body, struct td_err *err)
{
	size_t hdr_end, body_start;
	int rc = split_message(msg, len, &hdr_end, &body_start, err);
	if (rc)
		return rc;
	struct field *f;
	size_t n;
	split_fields(msg, hdr_end, &f, &n);
	for (size_t i = 0; i < n && rc == 0; i++) {
		if (!memchr(f[i].p, ':', f[i].len))
			rc = td_err_set(err, EX_DATAERR, "dkim: header line "
					"without a colon: '%.*s'",
					(int)(f[i].len > 60 ? 60 : f[i].len), f[i].p);
		else if (canon_field(&f[i], true, headers) < 0)
			rc = td_err_set(err, EX_SOFTWARE, "dkim: canonical "
					"header over its buffer's cap");
	}
	free(f);
	if (rc == 0 && canon_body(msg + body_start, len - body_start, body) < 0)
		rc = td_err_set(err, EX_SOFTWARE, "dkim: canonical body over "
				"its buffer's cap");
	return rc;
}

/* Builds the folded DKIM-Signature header line by line, keeping each line
 * within FOLD_COL. Breaks are CRLF TAB, placed only where RFC 6376 allows
 * FWS: between tags, around ':' in h=, inside base64 values. */
struct fold {
	struct td_buf *out;
	size_t col;
	bool failed;
};

static void fold_put(struct fold *f, const char *s, size_t n)
{
	if (td_buf_append(f->out, s, n) < 0)
		f->failed = true;
	f->col += n;
}

static void fold_break(struct fold *f)
{
	if (td_buf_append(f->out, "\r\n\t", 3) < 0)
		f->failed = true;
	f->col = 1;
}

/* A piece that must not be split; `space` puts one SP before it when it
 * stays on the current line. */
static void fold_word(struct fold *f, const char *s, size_t n, bool space)
{
	if (f->col > 1 && f->col + (space ? 1 : 0) + n > FOLD_COL)
		fold_break(f);
	else if (space)
		fold_put(f, " ", 1);
	fold_put(f, s, n);
}

/* base64 may carry FWS anywhere (RFC 6376 2.4), so a long value simply
 * runs to the margin and continues on the next line. */
static void fold_base64(struct fold *f, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (f->col + 1 > FOLD_COL)
			fold_break(f);
		fold_put(f, s + i, 1);
	}
}

/* The header up to and including the empty "b=", which is exactly what
 * gets signed (RFC 6376 3.7); the signature is appended to it later. */
static void build_sig_header(const struct td_dkim *d, time_t now,
			     const struct field *const *chosen, size_t nchosen,
			     const char *bh, struct fold *f)
{
	fold_put(f, "DKIM-Signature:", 15);
	char tag[300];
	int n = snprintf(tag, sizeof tag, "v=1;");
	fold_word(f, tag, (size_t)n, true);
	n = snprintf(tag, sizeof tag, "a=%s;",
		     d->ed25519 ? "ed25519-sha256" : "rsa-sha256");
	fold_word(f, tag, (size_t)n, true);
	fold_word(f, "c=relaxed/relaxed;", 18, true);
	n = snprintf(tag, sizeof tag, "d=%s;", d->domain);
	fold_word(f, tag, (size_t)n, true);
	n = snprintf(tag, sizeof tag, "s=%s;", d->selector);
	fold_word(f, tag, (size_t)n, true);
	n = snprintf(tag, sizeof tag, "t=%lld;", (long long)now);
	fold_word(f, tag, (size_t)n, true);

	/* h=: the names as they appear in the message (case is kept, it is
	 * compared case-insensitively), one piece per name so a break can
	 * fall after any ':' */
	for (size_t i = 0; i < nchosen; i++) {
		size_t nl = field_name_len(chosen[i]);
		n = snprintf(tag, sizeof tag, "%s%.*s%c", i == 0 ? "h=" : "",
			     (int)nl, chosen[i]->p, i + 1 < nchosen ? ':' : ';');
		fold_word(f, tag, (size_t)n, i == 0);
	}

	n = snprintf(tag, sizeof tag, "bh=%s;", bh);
	fold_word(f, tag, (size_t)n, true);
	/* keep "b=" with at least a few characters of its value */
	fold_word(f, "b=", 2, true);
	if (f->col + 8 > FOLD_COL)
		fold_break(f);
}

static int sign_data(const struct td_dkim *d, const struct td_buf *data,
		     struct td_buf *b64, struct td_err *err)
{
	gnutls_datum_t in = { (unsigned char *)data->data, (unsigned)data->len };
	unsigned char digest[SHA256_LEN];
	gnutls_sign_algorithm_t algo = GNUTLS_SIGN_RSA_SHA256;
	if (d->ed25519) {
		/* RFC 8463 3: Ed25519-SHA256 signs the SHA-256 hash of the
		 * header data with PureEdDSA, not the data itself */
		if (gnutls_hash_fast(GNUTLS_DIG_SHA256, data->data, data->len,
				     digest) < 0)
			return td_err_set(err, EX_SOFTWARE, "dkim: SHA-256 failed");
		in.data = digest;
		in.size = SHA256_LEN;
		algo = GNUTLS_SIGN_EDDSA_ED25519;
	}
	gnutls_datum_t sig = { NULL, 0 };
	int grc = gnutls_privkey_sign_data2(d->key, algo, 0, &in, &sig);
	if (grc < 0)
		return td_err_set(err, EX_SOFTWARE, "dkim: signing failed: %s",
				  gnutls_strerror(grc));
	int rc = td_base64_put(b64, sig.data, sig.size, TD_BASE64);
	gnutls_free(sig.data);
	if (rc < 0)
		return td_err_set(err, EX_SOFTWARE, "dkim: signature over its "
				  "buffer's cap");
	return 0;
}

int td_dkim_sign(const struct td_dkim *d, struct td_buf *msg, time_t now,
		 struct td_err *err)
{
	const char *m = td_buf_cstr(msg);
	size_t hdr_end, body_start;
	int rc = split_message(m, msg->len, &hdr_end, &body_start, err);
	if (rc)
		return rc;

	/* body hash */
	struct td_buf body = TD_BUF_INIT;
	canon_body(m + body_start, msg->len - body_start, &body);
	unsigned char bh_raw[SHA256_LEN];
	if (gnutls_hash_fast(GNUTLS_DIG_SHA256, td_buf_cstr(&body), body.len,
			     bh_raw) < 0) {
		td_buf_free(&body);
		return td_err_set(err, EX_SOFTWARE, "dkim: SHA-256 failed");
	}
	td_buf_free(&body);
	struct td_buf bh = TD_BUF_INIT;
	td_base64_put(&bh, bh_raw, sizeof bh_raw, TD_BASE64);

	/* the fields to sign: for each name the bottom-most instance, since
	 * a verifier reading h= takes instances from the bottom up (RFC 6376
	 * 5.4.2) */
	struct field *fields;
	size_t nfields;
	split_fields(m, hdr_end, &fields, &nfields);
	const struct field *chosen[N_SIGNED];
	size_t nchosen = 0;
	bool have_from = false;
	for (size_t s = 0; s < N_SIGNED; s++) {
		size_t want = strlen(signed_fields[s]);
		for (size_t i = nfields; i-- > 0;) {
			if (field_name_len(&fields[i]) == want &&
			    strncasecmp(fields[i].p, signed_fields[s], want) == 0) {
				chosen[nchosen++] = &fields[i];
				have_from |= s == 0;
				break;
			}
		}
	}
	struct td_buf data = TD_BUF_INIT, hdr = TD_BUF_INIT, sig = TD_BUF_INIT;
	if (!have_from) {
		/* RFC 6376 5.4: From MUST be signed; without it there is
		 * nothing a receiver could align the signature with */
		rc = td_err_set(err, EX_DATAERR, "dkim: message has no From "
				"header to sign");
		goto out;
	}
	for (size_t i = 0; i < nchosen; i++)
		canon_field(chosen[i], true, &data);

	struct fold f = { &hdr, 0, false };
	build_sig_header(d, now, chosen, nchosen, td_buf_cstr(&bh), &f);
	/* the signature header itself, b= empty, and no CRLF (RFC 6376 3.7) */
	struct field self = { hdr.data, hdr.len };
	canon_field(&self, false, &data);
	if ((rc = sign_data(d, &data, &sig, err)))
		goto out;
	fold_base64(&f, sig.data, sig.len);
	fold_put(&f, "\r\n", 2);

	/* the signed message: the new header, then the message unchanged */
	struct td_buf signed_msg;
	td_buf_init(&signed_msg, msg->max);
	if (f.failed || td_buf_append(&signed_msg, hdr.data, hdr.len) < 0 ||
	    td_buf_append(&signed_msg, m, msg->len) < 0) {
		td_buf_free(&signed_msg);
		rc = td_err_set(err, EX_DATAERR, "dkim: signed message would be "
				"over the size limit of %zu bytes", msg->max);
		goto out;
	}
	td_buf_free(msg);
	*msg = signed_msg;
out:
	free(fields);
	td_buf_free(&bh);
	td_buf_free(&data);
	td_buf_free(&hdr);
	td_buf_free(&sig);
	return rc;
}
