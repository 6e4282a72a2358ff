/*
 * test_verp.c: VERP tokens round-trip, fit a 64-character local part,
 * survive an MTA that folds case, name nobody when made for another
 * address or changed by one byte, and are found inside hostile text
 * without reading past it; bad templates are refused with a reason.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "tagdigest/compose/verp.h"
#include "tagdigest/core/buf.h"
#include "tagdigest/core/util.h"

static struct td_secret secret = { (unsigned char *)"0123456789abcdef0123456789abcdef", 32 };

/* text as an exact-size heap block, no NUL after it: ASan sees any read
 * past len */
static char *exact(const char *text, size_t len)
{
	char *p = malloc(len ? len : 1);
	memcpy(p, text, len);
	return p;
}

/* the one token in text, decoded */
static bool find_one(const struct td_verp *v, const char *text, struct td_verp_token *tok)
{
	size_t len = strlen(text), pos = 0;
	char *buf = exact(text, len);
	bool found = td_verp_next(v, buf, len, &pos, tok);
	free(buf);
	return found;
}

static void test_known_answer(void)
{
	/* Worked out from verp.h's description with Python's hmac and
	 * base64 modules (kind 'd', id 300, slot 1733040000, the address
	 * lowercased), not from this code. */
	struct td_verp v;
	struct td_err err;
	REQUIRE(td_verp_init(&v, "bounces+{token}@example.org", &secret, &err) == 0);
	char *a = td_verp_address(&v, 'd', 300, "Ann.Lee@Example.ORG", 1733040000);
	CHECK_STR(a, "bounces+mswafihy4igwuwvspeyintzapg3q@example.org");
	free(a);
	td_verp_free(&v);
}

static void test_roundtrip(void)
{
	struct td_verp v;
	struct td_err err;
	REQUIRE(td_verp_init(&v, "bounces+{token}@news.example.org", &secret, &err) == 0);
	const char kinds[] = "dctw";
	for (size_t k = 0; k < 4; k++) {
		time_t slot = kinds[k] == 'd' ? 1764576000 + 8 * 3600 + 30 * 60 : 0;
		int64_t id = kinds[k] == 'c' ? 0 : 123456789;
		char *a = td_verp_address(&v, kinds[k], id, "reader@example.com", slot);
		char *text = td_xasprintf("Final-Recipient: rfc822; x\r\nTo: <%s>\r\n", a);
		struct td_verp_token tok;
		CHECK(find_one(&v, text, &tok));
		CHECK(tok.kind == kinds[k]);
		CHECK(tok.member_id == id);
		CHECK(tok.slot == slot);
		CHECK(td_verp_verify(&v, &tok, "reader@example.com"));
		/* the MAC covers the address as lowercased */
		CHECK(td_verp_verify(&v, &tok, "Reader@EXAMPLE.com"));
		free(text);
		free(a);
	}
	/* slots keep minutes: seconds are not part of the token */
	char *a = td_verp_address(&v, 'd', 7, "r@example.com", 1764576059);
	struct td_verp_token tok;
	CHECK(find_one(&v, a, &tok));
	CHECK(tok.slot == 1764576000);
	CHECK(td_verp_verify(&v, &tok, "r@example.com"));
	free(a);
	/* negative values are written as 0 */
	a = td_verp_address(&v, 't', -5, "r@example.com", -60);
	CHECK(find_one(&v, a, &tok));
	CHECK(tok.member_id == 0 && tok.slot == 0);
	CHECK(td_verp_verify(&v, &tok, "r@example.com"));
	free(a);
	td_verp_free(&v);
}

static void test_local_part_limit(void)
{
	struct td_verp v;
	struct td_err err;
	char why[256];
	/* 17 characters around the token: exactly 64 with the longest one */
	const char *tmpl = "bounces-tagdigest{token}@example.org";
	REQUIRE(td_verp_template_ok(tmpl, why, sizeof why));
	REQUIRE(td_verp_init(&v, tmpl, &secret, &err) == 0);
	char *a = td_verp_address(&v, 'd', INT64_MAX, "someone@example.org",
				  (time_t)INT64_MAX);
	size_t local = (size_t)(strchr(a, '@') - a);
	CHECK(local == 64);
	CHECK(local - strlen("bounces-tagdigest") == TD_VERP_TOKEN_MAX);
	struct td_verp_token tok;
	CHECK(find_one(&v, a, &tok));
	CHECK(tok.member_id == INT64_MAX);
	CHECK(tok.slot == (time_t)(INT64_MAX / 60 * 60));
	CHECK(td_verp_verify(&v, &tok, "someone@example.org"));
	free(a);
	a = td_verp_address(&v, 'c', 0, "someone@example.org", 0);
	CHECK(strchr(a, '@') - a - (long)strlen("bounces-tagdigest") == TD_VERP_TOKEN_MIN);
	free(a);
	td_verp_free(&v);
	/* one more character could make 65 */
	CHECK(!td_verp_template_ok("bounces-tagdigest1{token}@example.org", why, sizeof why));
	CHECK(strstr(why, "65 characters") != NULL);
	/* the part after the token counts the same */
	CHECK(td_verp_template_ok("{token}-bounces-tagdiges@example.org", why, sizeof why));
	CHECK(!td_verp_template_ok("{token}-bounces-tagdigest@example.org", why, sizeof why));
}

static void test_bad_templates(void)
{
	struct td_verp v;
	struct td_err err;
	char why[256];
	CHECK(!td_verp_template_ok("bounces@example.org", why, sizeof why));
	CHECK(strstr(why, "no {token}") != NULL);
	CHECK(!td_verp_template_ok("b+{token}+{token}@example.org", why, sizeof why));
	CHECK(strstr(why, "twice") != NULL);
	CHECK(!td_verp_template_ok("bounces@{token}.example.org", why, sizeof why));
	CHECK(strstr(why, "domain") != NULL);
	CHECK(!td_verp_template_ok("bounces+{token}", why, sizeof why));
	CHECK(!td_verp_template_ok("bounces+{token}x@example.org", why, sizeof why));
	CHECK(strstr(why, "right after {token}") != NULL);
	CHECK(!td_verp_template_ok("bo unces+{token}@example.org", why, sizeof why));
	CHECK(strstr(why, "not an address") != NULL);
	CHECK(!td_verp_template_ok("bounces+{token}@example..org", why, sizeof why));
	CHECK(!td_verp_template_ok("bounces+{token}@exa\r\nmple.org", why, sizeof why));
	CHECK(!td_verp_template_ok(NULL, why, sizeof why));
	CHECK(td_verp_template_ok("{token}@bounces.example.org", why, sizeof why));
	CHECK(td_verp_template_ok("bounces={token}@example.org", why, sizeof why));
	CHECK(td_verp_init(&v, "bounces@{token}.example.org", &secret, &err) == EX_CONFIG);
	CHECK(strncmp(err.msg, "[bounces] return_path: ", 23) == 0);
	CHECK(v.prefix == NULL && v.suffix == NULL);
	td_verp_free(&v);
}

static void test_case_folded_by_mta(void)
{
	struct td_verp v;
	struct td_err err;
	REQUIRE(td_verp_init(&v, "Bounces+{token}@Example.org", &secret, &err) == 0);
	char *a = td_verp_address(&v, 'd', 99, "Mixed.Case@Example.COM", 1764576000);
	/* one MTA upper-cases everything, another lower-cases everything */
	for (int up = 0; up < 2; up++) {
		char *t = td_xstrdup(a);
		for (char *c = t; *c; c++)
			if (up && *c >= 'a' && *c <= 'z')
				*c = (char)(*c - 'a' + 'A');
			else if (!up && *c >= 'A' && *c <= 'Z')
				*c = (char)(*c - 'A' + 'a');
		struct td_verp_token tok;
		CHECK(find_one(&v, t, &tok));
		CHECK(tok.member_id == 99);
		CHECK(td_verp_verify(&v, &tok, "mixed.case@example.com"));
		free(t);
	}
	free(a);
	td_verp_free(&v);
}

static void test_forgeries(void)
{
	struct td_verp v;
	struct td_err err;
	REQUIRE(td_verp_init(&v, "bounces+{token}@example.org", &secret, &err) == 0);
	char *a = td_verp_address(&v, 'd', 42, "ann@example.com", 1764576000);
	struct td_verp_token tok;
	REQUIRE(find_one(&v, a, &tok));
	/* made for another address: the member id was reused */
	CHECK(!td_verp_verify(&v, &tok, "bob@example.com"));
	CHECK(!td_verp_verify(&v, &tok, "ann@example.co"));
	/* another site's secret */
	struct td_secret other = { (unsigned char *)"fedcba9876543210fedcba9876543210", 32 };
	struct td_verp v2 = v;
	v2.secret = &other;
	CHECK(!td_verp_verify(&v2, &tok, "ann@example.com"));
	/* another kind, id or slot with this MAC */
	struct td_verp_token t2 = tok;
	t2.kind = 'w';
	CHECK(!td_verp_verify(&v, &t2, "ann@example.com"));
	t2 = tok;
	t2.member_id = 43;
	CHECK(!td_verp_verify(&v, &t2, "ann@example.com"));
	t2 = tok;
	t2.slot += 60;
	CHECK(!td_verp_verify(&v, &t2, "ann@example.com"));
	/* every one-character change of the token: not found, or found and
	 * refused */
	size_t start = strlen("bounces+"), end = (size_t)(strchr(a, '@') - a);
	size_t refused = 0;
	size_t tried = 0;
	for (size_t i = start; i < end; i++) {
		for (const char *c = "a7"; *c; c++) {
			if (a[i] == *c)
				continue;
			char *t = td_xstrdup(a);
			t[i] = *c;
			tried++;
			struct td_verp_token ft;
			if (!find_one(&v, t, &ft) || !td_verp_verify(&v, &ft, "ann@example.com"))
				refused++;
			free(t);
		}
	}
	CHECK(tried >= end - start);
	CHECK(refused == tried);
	free(a);
	td_verp_free(&v);
}

static void test_hostile_text(void)
{
	struct td_verp v;
	struct td_err err;
	REQUIRE(td_verp_init(&v, "bounces+{token}@example.org", &secret, &err) == 0);
	char *a1 = td_verp_address(&v, 'd', 1, "one@example.com", 1764576000);
	char *a2 = td_verp_address(&v, 'c', 2, "two@example.com", 0);
	char *long_run = td_xasprintf("bounces+%048d@example.org", 0);
	/* near misses first: a run too long, the wrong domain, a prefix
	 * without a token, a token cut short, NUL bytes; then two real ones
	 * inside headers; then a token at the very end with no NUL after */
	struct td_buf text = TD_BUF_INIT;
	td_buf_puts(&text, "bounces+bounces+bounces+");
	td_buf_puts(&text, long_run);
	td_buf_printf(&text, " %.*s@example.net ", (int)(strchr(a1, '@') - a1), a1);
	td_buf_printf(&text, " %.*s@example.org ", (int)(strchr(a1, '@') - a1) - 3, a1);
	td_buf_append(&text, "\0bounces+\0", 10);
	td_buf_printf(&text, "Return-Path: <%s>\r\nX-Original-To: =?utf-8?q?x?=%s\r\n", a1, a2);
	td_buf_puts(&text, a1);
	size_t len = text.len;
	char *buf = exact(text.data, len);
	size_t pos = 0, found = 0;
	struct td_verp_token tok;
	int64_t ids[3] = { 0 };
	while (found < 4 && td_verp_next(&v, buf, len, &pos, &tok)) {
		CHECK(pos <= len);
		if (found < 3)
			ids[found] = tok.member_id;
		found++;
	}
	CHECK(found == 3);
	CHECK(ids[0] == 1 && ids[1] == 2 && ids[2] == 1);
	CHECK(pos == len);
	free(buf);
	td_buf_free(&text);

	/* a megabyte of prefixes and base32 runs: nothing, and the scan ends */
	struct td_buf junk = TD_BUF_INIT;
	while (junk.len < (1u << 20))
		td_buf_puts(&junk, "BOUNCES+aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@example.or");
	buf = exact(junk.data, junk.len);
	pos = 0;
	CHECK(!td_verp_next(&v, buf, junk.len, &pos, &tok));
	CHECK(pos == junk.len);
	free(buf);
	td_buf_free(&junk);
	/* empty and tiny inputs */
	pos = 0;
	CHECK(!td_verp_next(&v, "", 0, &pos, &tok));
	pos = 5;
	CHECK(!td_verp_next(&v, "bounces+", 8, &pos, &tok));
	free(long_run);
	free(a1);
	free(a2);
	td_verp_free(&v);
}

int main(void)
{
	TD_RUN(test_known_answer);
	TD_RUN(test_roundtrip);
	TD_RUN(test_local_part_limit);
	TD_RUN(test_bad_templates);
	TD_RUN(test_case_folded_by_mta);
	TD_RUN(test_forgeries);
	TD_RUN(test_hostile_text);
	return TD_DONE("test_verp");
}
