/*
 * test_uri.c: td_uri_resolve held to RFC 3986's own examples (5.4.1
 * normal, 5.4.2 abnormal, base "http://a/b/c/d;p?q"), plus what it does
 * beyond them: bytes that are not ASCII kept (IRIs), feedparser's repairs,
 * ".." that never climbs into the authority. Expected values are the
 * RFC's, copied from its text; the rest worked out by hand.
 */
#include <stdlib.h>

#include "harness.h"
#include "tagdigest/core/uri.h"

static void check(const char *base, const char *ref, const char *want, int line)
{
	char *got = td_uri_resolve(base, ref);
	if (strcmp(got, want) != 0) {
		td_test_failed++;
		fprintf(stderr, "%s:%d: td_uri_resolve(\"%s\", \"%s\")\n  got:  \"%s\"\n"
			"  want: \"%s\"\n", __FILE__, line, base ? base : "(null)", ref,
			got, want);
	} else {
		td_test_passed++;
	}
	free(got);
}

#define RFC "http://a/b/c/d;p?q"
#define RESOLVE(base, ref, want) check(base, ref, want, __LINE__)

static void test_rfc3986_normal(void)
{
	static const char *const cases[][2] = {
		{ "g:h", "g:h" },
		{ "g", "http://a/b/c/g" },
		{ "./g", "http://a/b/c/g" },
		{ "g/", "http://a/b/c/g/" },
		{ "/g", "http://a/g" },
		{ "//g", "http://g" },
		{ "?y", "http://a/b/c/d;p?y" },
		{ "g?y", "http://a/b/c/g?y" },
		{ "#s", "http://a/b/c/d;p?q#s" },
		{ "g#s", "http://a/b/c/g#s" },
		{ "g?y#s", "http://a/b/c/g?y#s" },
		{ ";x", "http://a/b/c/;x" },
		{ "g;x", "http://a/b/c/g;x" },
		{ "g;x?y#s", "http://a/b/c/g;x?y#s" },
		{ "", "http://a/b/c/d;p?q" },
		{ ".", "http://a/b/c/" },
		{ "./", "http://a/b/c/" },
		{ "..", "http://a/b/" },
		{ "../", "http://a/b/" },
		{ "../g", "http://a/b/g" },
		{ "../..", "http://a/" },
		{ "../../", "http://a/" },
		{ "../../g", "http://a/g" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		RESOLVE(RFC, cases[i][0], cases[i][1]);
}

static void test_rfc3986_abnormal(void)
{
	static const char *const cases[][2] = {
		/* ".." past the root stays at the root: the host is kept */
		{ "../../../g", "http://a/g" },
		{ "../../../../g", "http://a/g" },
		{ "/./g", "http://a/g" },
		{ "/../g", "http://a/g" },
		{ "g.", "http://a/b/c/g." },
		{ ".g", "http://a/b/c/.g" },
		{ "g..", "http://a/b/c/g.." },
		{ "..g", "http://a/b/c/..g" },
		{ "./../g", "http://a/b/g" },
		{ "./g/.", "http://a/b/c/g/" },
		{ "g/./h", "http://a/b/c/g/h" },
		{ "g/../h", "http://a/b/c/h" },
		{ "g;x=1/./y", "http://a/b/c/g;x=1/y" },
		{ "g;x=1/../y", "http://a/b/c/y" },
		{ "g?y/./x", "http://a/b/c/g?y/./x" },
		{ "g?y/../x", "http://a/b/c/g?y/../x" },
		{ "g#s/./x", "http://a/b/c/g#s/./x" },
		{ "g#s/../x", "http://a/b/c/g#s/../x" },
		{ "http:g", "http:g" },   /* the strict reading */
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		RESOLVE(RFC, cases[i][0], cases[i][1]);
}

/* A base with no path, and ".." from the root: the authority is not
 * path, whatever the number of "..". */
static void test_dots_never_reach_the_host(void)
{
	RESOLVE("https://ex.com", "../g", "https://ex.com/g");
	RESOLVE("https://ex.com", "..", "https://ex.com/");
	RESOLVE("https://ex.com/dir/", "../../../g", "https://ex.com/g");
	RESOLVE("https://ex.com:8080/p?q#f", "/../g", "https://ex.com:8080/g");
	RESOLVE("https://ex.com/a/", "//other.example/x/../y", "https://other.example/y");
	RESOLVE("file:///x/y", "../../g", "file:///g");
}

static void test_bytes_kept(void)
{
	/* an IRI base and reference: resolved, nothing escaped */
	RESOLVE("https://ex.com/\xC3\xBC/x", "g", "https://ex.com/\xC3\xBC/g");
	RESOLVE("https://b\xC3\xBC" "cher.example/", "\xC3\xA9t\xC3\xA9",
		"https://b\xC3\xBC" "cher.example/\xC3\xA9t\xC3\xA9");
	/* escapes stay as written */
	RESOLVE("https://ex.com/%7Efoo/", "a%20b", "https://ex.com/%7Efoo/a%20b");
}

static void test_repairs(void)
{
	/* spaces and controls around it, tabs and line breaks in it */
	RESOLVE("http://a/b/", "  g\n", "http://a/b/g");
	RESOLVE("http://a/b/", "ht\ttp://x.example/\r\n", "http://x.example/");
	/* feedparser's "http:///host" */
	RESOLVE(NULL, "http:///x.example/p", "http://x.example/p");
	/* no base: the reference as it is */
	RESOLVE(NULL, "g/../h", "g/../h");
	RESOLVE("", "/g", "/g");
}

static void test_split(void)
{
	struct td_uri u;
	td_uri_split("HTTPS://h.example:8/p/q?x=1#f", &u);
	CHECK(u.has_scheme && td_uri_scheme_is(&u, "https"));
	CHECK(!td_uri_scheme_is(&u, "http"));
	CHECK(u.has_auth && u.auth_n == 11 && strncmp(u.auth, "h.example:8", 11) == 0);
	CHECK(u.path_n == 4 && strncmp(u.path, "/p/q", 4) == 0);
	CHECK(u.has_query && u.query_n == 3 && strncmp(u.query, "x=1", 3) == 0);
	CHECK(u.has_frag && u.frag_n == 1 && u.frag[0] == 'f');
	td_uri_split("g?", &u);
	CHECK(!u.has_scheme && !u.has_auth && u.has_query && u.query_n == 0 && !u.has_frag);
}

int main(void)
{
	TD_RUN(test_rfc3986_normal);
	TD_RUN(test_rfc3986_abnormal);
	TD_RUN(test_dots_never_reach_the_host);
	TD_RUN(test_bytes_kept);
	TD_RUN(test_repairs);
	TD_RUN(test_split);
	return TD_DONE("test_uri");
}
