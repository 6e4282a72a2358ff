/*
 * test_address.c: the address checks that keep CR/LF and friends out of
 * headers and envelopes. Each refusal is checked with its reason, so a
 * check that passes for the wrong reason still fails here.
 */
#include <string.h>

#include "harness.h"
#include "tagdigest/core/address.h"

/* True when addr is refused with a reason starting with want. */
static int refused_for(const char *addr, const char *want)
{
	char why[128] = "unset";
	if (td_address_valid(addr, why, sizeof why))
		return 0;
	if (strncmp(why, want, strlen(want)) != 0) {
		fprintf(stderr, "  '%s': reason \"%s\", want \"%s...\"\n", addr, why, want);
		return 0;
	}
	return 1;
}

static void test_valid(void)
{
	static const char *const ok[] = {
		"a@b.c",
		"anna.schmidt@example.org",
		"first.last+tag@sub.example.co.uk",
		"o'brien@example.com",
		"x_y-z=1!#$%&*/?^`{|}~@example.net",
		"user@xn--mller-kva.example",
		"a@1example.com",
		"A.B@EXAMPLE.ORG",
	};
	for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
		char why[128] = "";
		int valid = td_address_valid(ok[i], why, sizeof why);
		if (!valid)
			fprintf(stderr, "  '%s' refused: %s\n", ok[i], why);
		CHECK(valid);
	}
	/* A 64-character local part is the limit, not over it. */
	char local64[128];
	memset(local64, 'a', 64);
	strcpy(local64 + 64, "@example.org");
	CHECK(td_address_valid(local64, NULL, 0));
}

static void test_injection(void)
{
	CHECK(refused_for("a@b.c\r\nBcc: x@y.z", "contains a control character"));
	CHECK(refused_for("a@b.c\n", "contains a control character"));
	CHECK(refused_for("a\t@b.c", "contains a control character"));
	CHECK(refused_for("a\x7f@b.c", "contains a control character"));
	CHECK(refused_for("<a@b.c>", "contains '<' or '>'"));
	CHECK(refused_for("a@b.c>", "contains '<' or '>'"));
	CHECK(refused_for("a b@c.d", "contains a space"));
	CHECK(refused_for(" a@b.c", "contains a space"));
	CHECK(refused_for("\"a b\"@c.d", "contains a quote"));
	CHECK(refused_for("\"ab\"@c.d", "contains a quote"));
	CHECK(refused_for("ä@b.c", "non-ASCII characters are not supported"));
	CHECK(refused_for("a@bü.c", "non-ASCII characters are not supported"));
}

static void test_structure(void)
{
	CHECK(refused_for("", "empty"));
	CHECK(refused_for("abc", "no '@'"));
	CHECK(refused_for("a@b@c.d", "more than one '@'"));
	CHECK(refused_for("@b.c", "empty local part"));
	CHECK(refused_for("a@", "empty domain"));
	CHECK(refused_for(".a@b.c", "local part starts or ends with '.'"));
	CHECK(refused_for("a.@b.c", "local part starts or ends with '.'"));
	CHECK(refused_for("a..b@c.d", "local part contains '..'"));
	CHECK(refused_for("a(b)@c.d", "local part contains '('"));
	CHECK(refused_for("a,b@c.d", "local part contains ','"));
	CHECK(refused_for("a@b..c", "domain label '' invalid"));
	CHECK(refused_for("a@.b.c", "domain label '' invalid"));
	CHECK(refused_for("a@b.c.", "domain label '' invalid"));
	CHECK(refused_for("a@-b.c", "domain label '-b' invalid"));
	CHECK(refused_for("a@b-.c", "domain label 'b-' invalid"));
	CHECK(refused_for("a@b_c.d", "domain label 'b_c' invalid"));
	CHECK(refused_for("a@localhost", "domain 'localhost' has no '.'"));
	CHECK(refused_for("a@127.0.0.1", "domain label '1' invalid"));
	CHECK(refused_for("a@[127.0.0.1]", "domain label '[127' invalid"));

	char local65[128];
	memset(local65, 'a', 65);
	strcpy(local65 + 65, "@example.org");
	CHECK(refused_for(local65, "local part too long"));

	char label64[128] = "a@";
	memset(label64 + 2, 'b', 64);
	strcpy(label64 + 66, ".org");
	CHECK(refused_for(label64, "domain label 'bbbb"));

	/* 255 characters, every label fine: only the total is wrong. */
	char longaddr[300] = "a@";
	size_t n = 2;
	while (n < 251) {
		memcpy(longaddr + n, "bbbbbbbbb.", 10);
		n += 10;
	}
	strcpy(longaddr + n, "cc");
	n += 2;
	CHECK(strlen(longaddr) == 254);
	CHECK(td_address_valid(longaddr, NULL, 0));
	strcpy(longaddr + n, "c");
	CHECK(refused_for(longaddr, "too long"));
}

static void test_why_optional(void)
{
	/* No reason buffer: must not write anywhere. */
	CHECK(!td_address_valid("a b@c.d", NULL, 0));
	/* A tiny buffer is truncated, still NUL-terminated. */
	char tiny[5];
	CHECK(!td_address_valid("abc", tiny, sizeof tiny));
	CHECK_STR(tiny, "no '");
	/* A valid address clears the reason. */
	char why[32] = "stale";
	CHECK(td_address_valid("a@b.c", why, sizeof why));
	CHECK_STR(why, "");
	CHECK(!td_address_valid(NULL, why, sizeof why));
}

static void test_domain(void)
{
	CHECK_STR(td_address_domain("anna@example.org"), "example.org");
	CHECK_STR(td_address_domain("a.b+c@sub.example.net"), "sub.example.net");
	const char *addr = "x@y.z";
	CHECK(td_address_domain(addr) == addr + 2);
	CHECK(td_address_domain("no-at-sign") == NULL);
}

int main(void)
{
	TD_RUN(test_valid);
	TD_RUN(test_injection);
	TD_RUN(test_structure);
	TD_RUN(test_why_optional);
	TD_RUN(test_domain);
	return TD_DONE("test_address");
}
