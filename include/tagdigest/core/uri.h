/*
 * uri: RFC 3986 references, split and resolved on bytes.
 *
 * The one URL resolver of tagdigest: the feed parser resolves links
 * against xml:base and the document's address with it, and the HTML
 * sanitizer (html.h) resolves relative links against a feed's or a post's
 * address. It works on bytes, so IRIs with non-ASCII hosts or paths
 * survive untouched (libxml2's xmlBuildURI refuses or escapes them); it
 * checks nothing: what a URL may be is the caller's rule (html.h).
 *
 * td_uri_resolve() also makes feedparser's repairs (Universal Feed
 * Parser's test suite holds it to them: tests/conformance/run_feeds.py):
 * spaces and controls around the reference and tabs and line breaks in it
 * are dropped, and "http:///host" becomes "http://host".
 *
 * Ownership: td_uri_split() points into the string it was given;
 * td_uri_resolve() returns a malloc'd string.
 */
#ifndef TAGDIGEST_URI_H
#define TAGDIGEST_URI_H

#include <stdbool.h>
#include <stddef.h>

/* The five parts of RFC 3986 3; each has_ says whether the part is there
 * at all ("http://h?" has an empty query, "http://h" none). */
struct td_uri {
	const char *scheme, *auth, *path, *query, *frag;
	size_t scheme_n, auth_n, path_n, query_n, frag_n;
	bool has_scheme, has_auth, has_query, has_frag;
};

void td_uri_split(const char *s, struct td_uri *u);
/* The scheme is name, compared without case. */
bool td_uri_scheme_is(const struct td_uri *u, const char *name);
/* ref resolved against base (RFC 3986 5.2; either may be NULL or "":
 * then ref comes back as it is, repaired). */
char *td_uri_resolve(const char *base, const char *ref);

#endif
