/*
 * test_dkim.c: relaxed canonicalization against the RFC 6376 3.4.5
 * example, bh= against the RFC 8463 appendix A body hash, the shape of
 * the DKIM-Signature header, and the key file checks (mode, junk, type).
 *
 * The signatures themselves are checked independently by
 * tests/e2e/test_dkim_verify.py with Python's dkim module, through two
 * extra modes of this binary:
 *
 *   test_dkim --sign KEYFILE DOMAIN SELECTOR < message > signed
 *   test_dkim --mime > message      (a digest built by td_mime_build)
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "tagdigest/compose/dkim.h"
#include "tagdigest/compose/mime.h"
#include "tagdigest/core/util.h"

/* Throwaway test keys made with `openssl genpkey`. */
static const char ed25519_pem[] =
	"-----BEGIN PRIVATE KEY-----\n"
	"MC4CAQAwBQYDK2VwBCIEIIBLHhXc0kUHKr6O8rzQbSO9m+Dg4u+uVOEKSogi7Y8O\n"
	"-----END PRIVATE KEY-----\n";
static const char rsa512_pem[] =
	"-----BEGIN PRIVATE KEY-----\n"
	"MIIBVAIBADANBgkqhkiG9w0BAQEFAASCAT4wggE6AgEAAkEA5yGCZvvYRgSCdgbl\n"
	"ATc/d4fFfKJwCLCLHLEXHaqTu8aXWOT9WA90FAcBbEoE+aUOQowin22hgH/K58K0\n"
	"DYdmeQIDAQABAkAG8MqprQZhk+EXCj32O2J8hGc5xub2W9bRlb/L9ENbcBycFFcw\n"
	"wGqNPrjoK2EXJx+uH2a4LvnB+SBJ69Bv3TzBAiEA/cWpY6QCHCmjgmzBV40Wvu47\n"
	"8JJHro8r5D4M/s1UGeMCIQDpKPZ9++h9rufmKq8EgmG2tkD/HQ7NWxlUk1KKGwoc\n"
	"8wIhALYyzSwR28X2i0Of66x9SsBocTaG/9ovRtcHSfNC3kf7AiA64hx2LrNFYnGw\n"
	"YCE5K1BQG3EIvKbrV9Fq2ZXjyPZh3wIgFzmF/YLkmuFp+rWQg7IVC6TeXmtnLgV9\n"
	"yYU3Dv98fTo=\n"
	"-----END PRIVATE KEY-----\n";
static const char p256_pem[] =
	"-----BEGIN PRIVATE KEY-----\n"
	"MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgMwfF/oAqOpxD9mry\n"
	"tN1nuXDEKdLvwENjS2jn4Y++WxGhRANCAAS36gidwVCzA7sk3wLu8dHCtMm/biLA\n"
	"CaFeMjSO1nh759jHzQwSQPK8KBAfh0iyXZDwVLUom/7LfRYGbN8Upxwb\n"
	"-----END PRIVATE KEY-----\n";

static char tmpdir[] = "/tmp/td-dkim-XXXXXX";

static char *write_key(const char *name, const char *text, mode_t mode)
{
	char *path = td_xasprintf("%s/%s", tmpdir, name);
	FILE *f = fopen(path, "w");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
	chmod(path, mode);
	return path;
}

/* Canonicalizes msg and compares both halves. */
static void check_canon(const char *msg, const char *want_h, const char *want_b)
{
	struct td_buf h = TD_BUF_INIT, b = TD_BUF_INIT;
	struct td_err err = { 0, "" };
	CHECK(td_dkim_canonicalize(msg, strlen(msg), &h, &b, &err) == 0);
	CHECK_STR(td_buf_cstr(&h), want_h);
	CHECK_STR(td_buf_cstr(&b), want_b);
	td_buf_free(&h);
	td_buf_free(&b);
}

/* RFC 6376 3.4.5, with <SP>, <TAB> and <CRLF> written out. */
static void test_rfc6376_example(void)
{
	check_canon("A: X\r\n"
		    "B : Y\t\r\n"
		    "\tZ  \r\n"
		    "\r\n"
		    " C \r\n"
		    "D \t E\r\n"
		    "\r\n"
		    "\r\n",
		    "a:X\r\n"
		    "b:Y Z\r\n",
		    " C\r\n"
		    "D E\r\n");
}

static void test_canon_edges(void)
{
	/* relaxed: an empty body stays empty (no CRLF, unlike simple) */
	check_canon("From: a@b\r\n\r\n", "from:a@b\r\n", "");
	check_canon("From: a@b\r\n\r\n\r\n \t\r\n", "from:a@b\r\n", "");
	/* a last line without CRLF gets one */
	check_canon("From: a@b\r\n\r\nabc", "from:a@b\r\n", "abc\r\n");
	/* blank lines before text are kept, whitespace-only ones become empty */
	check_canon("From: a@b\r\n\r\n  \r\nx\t\r\n\r\ny", "from:a@b\r\n",
		    "\r\nx\r\n\r\ny\r\n");
	/* folded value, empty value, name case, value starting on the next line */
	check_canon("SUBJECT:\r\n   hello \t  world  \r\n"
		    "X-Empty:\r\n"
		    "X-Tab:\tA\r\n"
		    "\r\nbody\r\n",
		    "subject:hello world\r\n"
		    "x-empty:\r\n"
		    "x-tab:A\r\n",
		    "body\r\n");
	/* no header fields at all */
	check_canon("\r\nbody\r\n", "", "body\r\n");

	struct td_buf h = TD_BUF_INIT, b = TD_BUF_INIT;
	struct td_err err = { 0, "" };
	const char *nosep = "From: a@b\r\nSubject: x\r\n";
	CHECK(td_dkim_canonicalize(nosep, strlen(nosep), &h, &b, &err) == EX_DATAERR);
	const char *nocolon = "From: a@b\r\nnot a header\r\n\r\nbody\r\n";
	CHECK(td_dkim_canonicalize(nocolon, strlen(nocolon), &h, &b, &err) == EX_DATAERR);
	td_buf_free(&h);
	td_buf_free(&b);
}

/* The value of tag `name` in the DKIM-Signature at the top of msg, with
 * the folding whitespace removed. malloc'd, "" when absent. */
static char *sig_tag(const char *msg, const char *name)
{
	const char *end = strstr(msg, "\r\n");
	while (end && (end[2] == '\t' || end[2] == ' '))
		end = strstr(end + 2, "\r\n");
	struct td_buf v = TD_BUF_INIT;
	size_t nl = strlen(name);
	const char *p = strchr(msg, ':') + 1;
	while (p && p < end) {
		while (p < end && strchr(" \t\r\n", *p))
			p++;
		const char *semi = memchr(p, ';', (size_t)(end - p));
		const char *tag_end = semi ? semi : end;
		if ((size_t)(tag_end - p) > nl && strncmp(p, name, nl) == 0 &&
		    p[nl] == '=') {
			for (const char *q = p + nl + 1; q < tag_end; q++)
				if (!strchr(" \t\r\n", *q))
					td_buf_putc(&v, *q);
			break;
		}
		p = semi ? semi + 1 : NULL;
	}
	return td_buf_steal(&v);
}

static int sign_text(const struct td_dkim *d, const char *text, time_t now,
		     struct td_buf *out)
{
	struct td_err err = { 0, "" };
	td_buf_puts(out, text);
	int rc = td_dkim_sign(d, out, now, &err);
	if (rc)
		fprintf(stderr, "  td_dkim_sign: %s\n", err.msg);
	return rc;
}

/* Every line of the DKIM-Signature field is at most 78 columns and the
 * field is followed by the message exactly as it was. */
static void check_shape(const char *signed_msg, const char *orig)
{
	CHECK(strncmp(signed_msg, "DKIM-Signature: v=1; a=", 23) == 0);
	const char *line = signed_msg, *eol;
	size_t lines = 0;
	bool ok = true;
	while ((eol = strstr(line, "\r\n"))) {
		if ((size_t)(eol - line) > 78)
			ok = false;
		lines++;
		line = eol + 2;
		if (*line != '\t' && *line != ' ')
			break;
	}
	CHECK(ok);
	CHECK(lines >= 2);
	CHECK_STR(line, orig);
}

/* RFC 8463 A.3: the example body hashes to this bh= under relaxed. */
static const char rfc8463_msg[] =
	"From: Joe SixPack <joe@football.example.com>\r\n"
	"To: Suzie Q <suzie@shopping.example.net>\r\n"
	"Subject: Is dinner ready?\r\n"
	"Date: Fri, 11 Jul 2003 21:00:37 -0700 (PDT)\r\n"
	"Message-ID: <20030712040037.46341.5F8J@football.example.com>\r\n"
	"\r\n"
	"Hi.\r\n"
	"\r\n"
	"We lost the game.  Are you hungry yet?\r\n"
	"\r\n"
	"Joe.\r\n";

static void test_sign_ed25519(void)
{
	char *key = write_key("ed.pem", ed25519_pem, 0600);
	struct td_dkim *d = NULL;
	struct td_err err = { 0, "" };
	CHECK(td_dkim_new("football.example.com", "brisbane", key, &d, &err) == 0);
	if (!d) {
		fprintf(stderr, "  %s\n", err.msg);
		unlink(key);
		free(key);
		return;
	}
	struct td_buf m = TD_BUF_INIT;
	CHECK(sign_text(d, rfc8463_msg, 1528637909, &m) == 0);
	const char *s = td_buf_cstr(&m);
	check_shape(s, rfc8463_msg);
	char *v;
	CHECK_STR(v = sig_tag(s, "bh"), "2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=");
	free(v);
	CHECK_STR(v = sig_tag(s, "a"), "ed25519-sha256");
	free(v);
	CHECK_STR(v = sig_tag(s, "c"), "relaxed/relaxed");
	free(v);
	CHECK_STR(v = sig_tag(s, "d"), "football.example.com");
	free(v);
	CHECK_STR(v = sig_tag(s, "s"), "brisbane");
	free(v);
	CHECK_STR(v = sig_tag(s, "t"), "1528637909");
	free(v);
	CHECK_STR(v = sig_tag(s, "h"), "From:To:Subject:Date:Message-ID");
	free(v);
	/* 64-byte Ed25519 signature: 88 base64 characters */
	CHECK((v = sig_tag(s, "b")) && strlen(v) == 88);
	free(v);
	td_buf_free(&m);

	/* Ed25519 is deterministic: the same input signs the same */
	struct td_buf m2 = TD_BUF_INIT, m3 = TD_BUF_INIT;
	sign_text(d, rfc8463_msg, 1528637909, &m2);
	sign_text(d, rfc8463_msg, 1528637910, &m3);
	char *b1 = sig_tag(td_buf_cstr(&m2), "b");
	sign_text(d, rfc8463_msg, 1528637909, &m);
	char *b2 = sig_tag(td_buf_cstr(&m), "b");
	char *b3 = sig_tag(td_buf_cstr(&m3), "b");
	CHECK_STR(b1, b2);
	CHECK(strcmp(b1, b3) != 0); /* t= is signed */
	free(b1);
	free(b2);
	free(b3);
	td_buf_free(&m);
	td_buf_free(&m2);
	td_buf_free(&m3);

	/* empty body: bh is SHA-256 of nothing */
	sign_text(d, "From: a@example.org\r\n\r\n", 1, &m);
	CHECK_STR(v = sig_tag(td_buf_cstr(&m), "bh"),
		  "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
	free(v);
	td_buf_free(&m);

	/* the bottom-most of two Subjects; names kept once, in list order;
	 * headers not in the list are left out */
	const char *dup = "Subject: first\r\nX-Other: 1\r\nList-Unsubscribe-Post: "
			  "List-Unsubscribe=One-Click\r\nfrom: a@example.org\r\n"
			  "subject: second\r\nList-Unsubscribe: <https://x.test/u>\r\n"
			  "MIME-Version: 1.0\r\nContent-Type: text/plain\r\n"
			  "List-Id: <l.x.test>\r\n\r\nhi\r\n";
	sign_text(d, dup, 1, &m);
	CHECK_STR(v = sig_tag(td_buf_cstr(&m), "h"),
		  "from:subject:MIME-Version:Content-Type:List-Id:"
		  "List-Unsubscribe:List-Unsubscribe-Post");
	free(v);
	check_shape(td_buf_cstr(&m), dup);
	td_buf_free(&m);

	/* refusals: no separator, no From; msg is left as it was */
	td_buf_puts(&m, "From: a@example.org\r\nSubject: x\r\n");
	CHECK(td_dkim_sign(d, &m, 1, &err) == EX_DATAERR);
	CHECK_STR(td_buf_cstr(&m), "From: a@example.org\r\nSubject: x\r\n");
	td_buf_reset(&m);
	td_buf_puts(&m, "Subject: x\r\n\r\nbody\r\n");
	CHECK(td_dkim_sign(d, &m, 1, &err) == EX_DATAERR);
	CHECK(strstr(err.msg, "From") != NULL);
	td_buf_free(&m);

	/* the size cap of msg holds for the signed message too */
	td_buf_init(&m, strlen(rfc8463_msg) + 10);
	td_buf_puts(&m, rfc8463_msg);
	CHECK(td_dkim_sign(d, &m, 1, &err) == EX_DATAERR);
	CHECK_STR(td_buf_cstr(&m), rfc8463_msg);
	td_buf_free(&m);

	td_dkim_free(d);
	unlink(key);
	free(key);
}

static void test_key_files(void)
{
	struct td_dkim *d = NULL;
	struct td_err err = { 0, "" };

	char *open_key = write_key("open.pem", ed25519_pem, 0644);
	CHECK(td_dkim_new("example.org", "s1", open_key, &d, &err) == EX_CONFIG);
	CHECK(d == NULL);
	CHECK(strstr(err.msg, "chmod 600") != NULL);
	CHECK(strstr(err.msg, open_key) != NULL);
	chmod(open_key, 0640);
	CHECK(td_dkim_new("example.org", "s1", open_key, &d, &err) == EX_CONFIG);
	chmod(open_key, 0600);
	CHECK(td_dkim_new("example.org", "s1", open_key, &d, &err) == 0);
	td_dkim_free(d);
	d = NULL;

	char *junk = write_key("junk.pem", "this is not a key\n", 0600);
	err.msg[0] = '\0';
	CHECK(td_dkim_new("example.org", "s1", junk, &d, &err) == EX_CONFIG);
	CHECK(strstr(err.msg, junk) != NULL);
	CHECK(d == NULL);

	/* a public key is not a private key */
	char *pub = write_key("pub.pem", "-----BEGIN PUBLIC KEY-----\n"
			      "MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n"
			      "-----END PUBLIC KEY-----\n", 0600);
	CHECK(td_dkim_new("example.org", "s1", pub, &d, &err) == EX_CONFIG);

	/* key types DKIM cannot use */
	char *short_rsa = write_key("rsa512.pem", rsa512_pem, 0600);
	CHECK(td_dkim_new("example.org", "s1", short_rsa, &d, &err) == EX_CONFIG);
	CHECK(strstr(err.msg, "512") != NULL);
	char *ec = write_key("p256.pem", p256_pem, 0600);
	CHECK(td_dkim_new("example.org", "s1", ec, &d, &err) == EX_CONFIG);
	CHECK(d == NULL);

	char *missing = td_xasprintf("%s/missing.pem", tmpdir);
	CHECK(td_dkim_new("example.org", "s1", missing, &d, &err) == EX_NOINPUT);
	CHECK(strstr(err.msg, missing) != NULL);

	/* d= and s= must be DNS names: they go verbatim into the tag-list */
	CHECK(td_dkim_new("example.org; x=1", "s1", open_key, &d, &err) == EX_CONFIG);
	CHECK(td_dkim_new("", "s1", open_key, &d, &err) == EX_CONFIG);
	CHECK(td_dkim_new("example.org", "s 1", open_key, &d, &err) == EX_CONFIG);
	CHECK(td_dkim_new("ex..org", "s1", open_key, &d, &err) == EX_CONFIG);
	CHECK(td_dkim_new("-x.org", "s1", open_key, &d, &err) == EX_CONFIG);
	CHECK(td_dkim_new("xn--mnchen-3ya.de", "2024-01.mail", open_key, &d, &err) == 0);
	td_dkim_free(d);

	unlink(open_key);
	unlink(junk);
	unlink(pub);
	unlink(short_rsa);
	unlink(ec);
	free(open_key);
	free(junk);
	free(pub);
	free(short_rsa);
	free(ec);
	free(missing);
}

/* --mime: a digest as tagdigest builds it, non-ASCII subject and names. */
static int mime_mode(void)
{
	struct td_mime_message m = {
		.from_name = "K\xc3\xb6ln Weekly Digest",
		.from_addr = "digest@digest.example.org",
		.to_name = "J\xc3\xbcrgen M\xc3\xbcller",
		.to_addr = "juergen@example.net",
		.subject = "Your weekly digest \xe2\x80\x94 5 new posts \xc3\xbc"
			   "ber Stra\xc3\x9f" "enbahn and \xe6\x97\xa5\xe6\x9c\xac",
		.text = "Hello J\xc3\xbcrgen,\n\nFive new posts.  Trailing \n\n",
		.html = "<p>Hello J\xc3\xbcrgen,</p>\n<p>Five new posts.</p>\n",
		.date = 1700000000,
		.message_id = "1700000000.0123456789abcdef@digest.example.org",
		.list_name = "K\xc3\xb6ln Weekly",
		.list_id = "weekly.digest.example.org",
		.unsubscribe_url = "https://digest.example.org/u/3f9a1c0e?l=weekly",
	};
	struct td_buf out = TD_BUF_INIT;
	struct td_err err = { 0, "" };
	int rc = td_mime_build(&m, &out, &err);
	if (rc)
		fprintf(stderr, "test_dkim --mime: %s\n", err.msg);
	else
		fwrite(out.data, 1, out.len, stdout);
	td_buf_free(&out);
	return rc;
}

/* --sign KEYFILE DOMAIN SELECTOR: stdin signed to stdout, t= now. */
static int sign_mode(const char *key, const char *domain, const char *selector)
{
	struct td_dkim *d;
	struct td_err err = { 0, "" };
	int rc = td_dkim_new(domain, selector, key, &d, &err);
	if (rc) {
		fprintf(stderr, "test_dkim --sign: %s\n", err.msg);
		return rc;
	}
	struct td_buf msg = TD_BUF_INIT;
	char chunk[4096];
	size_t got;
	while ((got = fread(chunk, 1, sizeof chunk, stdin)) > 0)
		td_buf_append(&msg, chunk, got);
	rc = td_dkim_sign(d, &msg, time(NULL), &err);
	if (rc)
		fprintf(stderr, "test_dkim --sign: %s\n", err.msg);
	else
		fwrite(msg.data, 1, msg.len, stdout);
	td_buf_free(&msg);
	td_dkim_free(d);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc == 5 && strcmp(argv[1], "--sign") == 0)
		return sign_mode(argv[2], argv[3], argv[4]);
	if (argc == 2 && strcmp(argv[1], "--mime") == 0)
		return mime_mode();
	if (argc != 1) {
		fprintf(stderr, "usage: test_dkim [--mime | --sign KEYFILE DOMAIN SELECTOR]\n");
		return 64;
	}
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	TD_RUN(test_rfc6376_example);
	TD_RUN(test_canon_edges);
	TD_RUN(test_sign_ed25519);
	TD_RUN(test_key_files);
	rmdir(tmpdir);
	return TD_DONE("dkim");
}
