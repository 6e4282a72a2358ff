/*
 * test_token.c: tokens verify, forgeries and truncations do not, and the
 * secret file is created private and refused when others can read it;
 * purpose tokens (confirm, preferences) keep to their purpose and expire.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "tagdigest/compose/token.h"
#include "tagdigest/core/util.h"

static void test_roundtrip_and_forgery(void)
{
	struct td_secret s = { (unsigned char *)"0123456789abcdef0123456789abcdef", 32 };
	char *tok = td_token_make(&s, "jürgen@example.org", "all");
	char *email, *scope;
	CHECK(td_token_verify(&s, tok, &email, &scope));
	CHECK_STR(email, "jürgen@example.org");
	CHECK_STR(scope, "all");
	free(email);
	free(scope);
	/* URL-safe: no characters that need escaping in a path */
	CHECK(strspn(tok, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.") == strlen(tok));

	/* every single-character change is refused */
	size_t len = strlen(tok), refused = 0;
	for (size_t i = 0; i < len; i++) {
		char *t = strdup(tok);
		t[i] = t[i] == 'A' ? 'B' : 'A';
		if (!td_token_verify(&s, t, &email, &scope))
			refused++;
		else {
			free(email);
			free(scope);
		}
		free(t);
	}
	CHECK(refused == len);
	/* truncated */
	char *t = strdup(tok);
	t[len - 1] = '\0';
	CHECK(!td_token_verify(&s, t, &email, &scope));
	CHECK(email == NULL);
	free(t);
	/* another secret */
	struct td_secret other = { (unsigned char *)"fedcba9876543210fedcba9876543210", 32 };
	CHECK(!td_token_verify(&other, tok, &email, &scope));
	/* scope swapped: payload of another scope with this MAC */
	char *tag_tok = td_token_make(&s, "jürgen@example.org", "nato");
	char *mixed = td_xasprintf("%.*s%s", (int)(strchr(tag_tok, '.') - tag_tok),
				   tag_tok, strchr(tok, '.'));
	CHECK(!td_token_verify(&s, mixed, &email, &scope));
	CHECK(!td_token_verify(&s, "", &email, &scope));
	CHECK(!td_token_verify(&s, ".", &email, &scope));
	CHECK(!td_token_verify(&s, "no-dot-here", &email, &scope));
	free(mixed);
	free(tag_tok);
	free(tok);
}

/* Known answers, computed outside tagdigest (Python's hmac module): a
 * token is pinned byte for byte, so links already in readers' mailboxes
 * keep verifying, and a td_mac signs purpose "\n" data, the same answer
 * every time it is reused. */
static void test_known_answers(void)
{
	struct td_secret s = { (unsigned char *)"0123456789abcdef0123456789abcdef", 32 };
	char *tok = td_token_make(&s, "jürgen@example.org", "all");
	CHECK_STR(tok, "asO8cmdlbkBleGFtcGxlLm9yZwphbGw."
		       "ad2SKwcstSzlsd4nyXwHDrwX9DqmiOvl0tqZwKeJVWE");
	free(tok);
	struct td_mac *m = td_mac_new(&s, "message-id");
	for (int round = 0; round < 3; round++) {
		unsigned char mac[TD_MAC_BYTES];
		char hex[2 * TD_MAC_BYTES + 1];
		td_mac_compute(m, "abc", 3, mac);
		for (size_t i = 0; i < TD_MAC_BYTES; i++)
			snprintf(hex + 2 * i, 3, "%02x", mac[i]);
		CHECK_STR(hex, "1741414b651e7b55cd65a66083565aec"
			       "a1bbb921d82d13441c22f78979e3616b");
		td_mac_compute(m, "abd", 3, mac);
		CHECK(mac[0] != 0x17 || mac[1] != 0x41);
	}
	td_mac_free(m);
}

/* Purpose tokens (confirm, preferences): each part comes back, and a
 * change anywhere is refused. */
static void test_purpose_roundtrip(void)
{
	struct td_secret s = { (unsigned char *)"0123456789abcdef0123456789abcdef", 32 };
	char *tok = td_token_make_for(&s, "confirm", "jürgen@example.org", "n0nce",
				      1700000000);
	REQUIRE(tok != NULL);
	/* pinned: computed with Python's hmac and base64 from token.h's format */
	CHECK_STR(tok, "asO8cmdlbkBleGFtcGxlLm9yZwpuMG5jZQoxNzAwMDAwMDAw."
		       "mzWH3Ohk9aI_OdUP03n_faJJM6zdakJecZLl1-mZMLw");
	CHECK(strspn(tok, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.") == strlen(tok));
	char *email, *detail;
	CHECK(td_token_check_for(&s, "confirm", tok, 1699999999, &email, &detail) ==
	      TD_TOKEN_OK);
	CHECK_STR(email, "jürgen@example.org");
	CHECK_STR(detail, "n0nce");
	free(email);
	free(detail);

	/* every single-character change is refused: payload and MAC alike */
	size_t len = strlen(tok), refused = 0;
	for (size_t i = 0; i < len; i++) {
		char *t = td_xstrdup(tok);
		t[i] = t[i] == 'A' ? 'B' : 'A';
		if (td_token_check_for(&s, "confirm", t, 1699999999, &email, &detail) ==
		    TD_TOKEN_BAD && !email && !detail)
			refused++;
		free(email);
		free(detail);
		free(t);
	}
	CHECK(refused == len);

	/* truncated at every length */
	refused = 0;
	for (size_t cut = 0; cut < len; cut++) {
		char *t = td_xasprintf("%.*s", (int)cut, tok);
		if (td_token_check_for(&s, "confirm", t, 1699999999, &email, &detail) ==
		    TD_TOKEN_BAD)
			refused++;
		free(email);
		free(detail);
		free(t);
	}
	CHECK(refused == len);

	/* another secret */
	struct td_secret other = { (unsigned char *)"fedcba9876543210fedcba9876543210", 32 };
	CHECK(td_token_check_for(&other, "confirm", tok, 0, &email, &detail) == TD_TOKEN_BAD);
	CHECK(email == NULL && detail == NULL);

	/* a payload of another token with this one's MAC (tampered payload,
	 * each half authentic on its own) */
	char *later = td_token_make_for(&s, "confirm", "jürgen@example.org", "n0nce",
					1800000000);
	REQUIRE(later != NULL);
	char *mixed = td_xasprintf("%.*s%s", (int)(strchr(later, '.') - later), later,
				   strchr(tok, '.'));
	CHECK(td_token_check_for(&s, "confirm", mixed, 1750000000, &email, &detail) ==
	      TD_TOKEN_BAD);
	free(mixed);
	/* and this payload with a MAC of the other (tampered MAC) */
	mixed = td_xasprintf("%.*s%s", (int)(strchr(tok, '.') - tok), tok,
			     strchr(later, '.'));
	CHECK(td_token_check_for(&s, "confirm", mixed, 0, &email, &detail) == TD_TOKEN_BAD);
	free(mixed);
	free(later);

	CHECK(td_token_check_for(&s, "confirm", "", 0, &email, &detail) == TD_TOKEN_BAD);
	CHECK(td_token_check_for(&s, "confirm", ".", 0, &email, &detail) == TD_TOKEN_BAD);
	CHECK(td_token_check_for(&s, "confirm", "no-dot-here", 0, &email, &detail) ==
	      TD_TOKEN_BAD);
	free(tok);
}

/* A token made for one purpose never passes for another, nor does an
 * unsubscribe token pass for any; "unsubscribe" itself is refused. */
static void test_purpose_separation(void)
{
	struct td_secret s = { (unsigned char *)"0123456789abcdef0123456789abcdef", 32 };
	char *email, *detail;
	char *confirm = td_token_make_for(&s, "confirm", "a@example.org", "", 0);
	char *prefs = td_token_make_for(&s, "preferences", "a@example.org", "", 0);
	REQUIRE(confirm && prefs);
	CHECK(strcmp(confirm, prefs) != 0);
	CHECK(td_token_check_for(&s, "preferences", confirm, 0, &email, &detail) ==
	      TD_TOKEN_BAD);
	CHECK(td_token_check_for(&s, "confirm", prefs, 0, &email, &detail) == TD_TOKEN_BAD);
	CHECK(td_token_check_for(&s, "preferences", prefs, 0, &email, &detail) ==
	      TD_TOKEN_OK);
	free(email);
	free(detail);

	/* the old unsubscribe tokens and the new ones do not mix */
	char *unsub = td_token_make(&s, "a@example.org", "all");
	CHECK(td_token_check_for(&s, "preferences", unsub, 0, &email, &detail) ==
	      TD_TOKEN_BAD);
	CHECK(td_token_check_for(&s, "unsubscribe", unsub, 0, &email, &detail) ==
	      TD_TOKEN_BAD);
	char *scope;
	CHECK(!td_token_verify(&s, prefs, &email, &scope));
	CHECK(td_token_make_for(&s, "unsubscribe", "a@example.org", "", 0) == NULL);
	CHECK(td_token_make_for(&s, "", "a@example.org", "", 0) == NULL);
	CHECK(td_token_make_for(&s, "con\nfirm", "a@example.org", "", 0) == NULL);
	free(unsub);
	free(confirm);
	free(prefs);
}

/* Expired is authentic but late, and tells who it was for; 0 never
 * expires; a bad token is bad whatever the time. */
static void test_purpose_expiry(void)
{
	struct td_secret s = { (unsigned char *)"0123456789abcdef0123456789abcdef", 32 };
	char *email, *detail;
	char *tok = td_token_make_for(&s, "confirm", "b@example.org", "x", 1000);
	REQUIRE(tok != NULL);
	CHECK(td_token_check_for(&s, "confirm", tok, 999, &email, &detail) == TD_TOKEN_OK);
	free(email);
	free(detail);
	CHECK(td_token_check_for(&s, "confirm", tok, 1000, &email, &detail) ==
	      TD_TOKEN_EXPIRED);
	CHECK_STR(email, "b@example.org");
	CHECK_STR(detail, "x");
	free(email);
	free(detail);
	/* expired and tampered is bad, not expired */
	tok[2] = tok[2] == 'A' ? 'B' : 'A';
	CHECK(td_token_check_for(&s, "confirm", tok, 5000, &email, &detail) == TD_TOKEN_BAD);
	CHECK(email == NULL && detail == NULL);
	free(tok);

	tok = td_token_make_for(&s, "preferences", "b@example.org", "", 0);
	REQUIRE(tok != NULL);
	CHECK(td_token_check_for(&s, "preferences", tok, (time_t)4102444800LL, &email,
				 &detail) == TD_TOKEN_OK);
	CHECK_STR(detail, "");
	free(email);
	free(detail);
	free(tok);
	CHECK(td_token_make_for(&s, "confirm", "b@example.org", "", -1) == NULL);
}

/* The payload's separator cannot come from the address: an email with a
 * line break (hostile form input) gets no token at all. */
static void test_purpose_refuses_newlines(void)
{
	struct td_secret s = { (unsigned char *)"0123456789abcdef0123456789abcdef", 32 };
	CHECK(td_token_make_for(&s, "confirm", "a@example.org\nx", "", 0) == NULL);
	CHECK(td_token_make_for(&s, "confirm", "\n", "", 0) == NULL);
	CHECK(td_token_make_for(&s, "confirm", "a@example.org", "n\nonce", 0) == NULL);
}

static void test_secret_file(void)
{
	char dir[] = "/tmp/td-token-XXXXXX";
	if (!mkdtemp(dir))
		return;
	char *file = td_xasprintf("%s/secret", dir);
	struct td_secret s;
	struct td_err err = { 0, "" };
	unsetenv("TD_TEST_SECRET");
	CHECK(td_secret_load("TD_TEST_SECRET", file, false, &s, &err) == EX_NOINPUT);
	CHECK(td_secret_load("TD_TEST_SECRET", file, true, &s, &err) == 0);
	CHECK(s.len >= 32);
	struct stat st;
	CHECK(stat(file, &st) == 0 && (st.st_mode & 0777) == 0600);
	/* loading again gives the same secret */
	struct td_secret again;
	CHECK(td_secret_load("TD_TEST_SECRET", file, true, &again, &err) == 0);
	CHECK(again.len == s.len && memcmp(again.bytes, s.bytes, s.len) == 0);
	td_secret_free(&again);
	td_secret_free(&s);
	/* the environment wins over the file */
	setenv("TD_TEST_SECRET", "an environment secret of enough length", 1);
	CHECK(td_secret_load("TD_TEST_SECRET", file, true, &s, &err) == 0);
	CHECK(s.len == strlen("an environment secret of enough length"));
	td_secret_free(&s);
	setenv("TD_TEST_SECRET", "short", 1);
	CHECK(td_secret_load("TD_TEST_SECRET", file, true, &s, &err) == EX_CONFIG);
	unsetenv("TD_TEST_SECRET");
	/* group-readable file refused */
	chmod(file, 0640);
	CHECK(td_secret_load("TD_TEST_SECRET", file, true, &s, &err) == EX_CONFIG);
	CHECK(strstr(err.msg, "chmod 600") != NULL);
	unlink(file);
	rmdir(dir);
	free(file);
}

int main(void)
{
	TD_RUN(test_roundtrip_and_forgery);
	TD_RUN(test_known_answers);
	TD_RUN(test_purpose_roundtrip);
	TD_RUN(test_purpose_separation);
	TD_RUN(test_purpose_expiry);
	TD_RUN(test_purpose_refuses_newlines);
	TD_RUN(test_secret_file);
	return TD_DONE("token");
}
