/*
 * fuzz_frontmatter.c: libFuzzer target for a post file of the posts
 * folder as a whole, front matter first: the input is the file,
 * td_postsdir_parse reads it. (fuzz_markdown.c keeps the front matter
 * fixed and fuzzes the body.)
 *
 * Held to the contract in postsdir.h and post.h (a trap is a finding): a
 * refused file is EX_DATAERR with "fuzz.md:LINE: problem"; a read post has
 * a title, an absolute http(s) URL, at least one tag with a display name
 * for each, tags that are slugs, a content hash of 64 hex digits, and
 * plain-text fields that are valid UTF-8 without control characters, so
 * none of them can carry a line break into a header.
 *
 * Seeds: posts/ (tests/fuzz/seeds.py).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tagdigest/core/log.h"
#include "tagdigest/sources/postsdir.h"
#include "tagdigest/sources/slug.h"
#include "tagdigest/core/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_text(const char *s)
{
	if (!s || !td_utf8_valid(s, strlen(s)))
		__builtin_trap();
	for (const char *p = s; *p; p++)
		if (td_is_control((unsigned char)*p))
			__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	td_log_set_level(TD_LOG_QUIET);
	struct td_post p;
	struct td_err err = { 0, "" };
	int rc = td_postsdir_parse("fuzz.md", (const char *)data, size, &p, &err);
	if (rc != 0) {
		if (rc != EX_DATAERR || strncmp(err.msg, "fuzz.md:", 8) != 0)
			__builtin_trap();
		return 0;
	}
	check_text(p.title);
	check_text(p.author);
	check_text(p.guid);
	check_text(p.url);
	if (!*p.title || (strncasecmp(p.url, "http://", 7) != 0 &&
			 strncasecmp(p.url, "https://", 8) != 0))
		__builtin_trap();
	if (p.tags.n == 0 || p.tag_names.n != p.tags.n)
		__builtin_trap();
	for (size_t i = 0; i < p.tags.n; i++) {
		check_text(p.tags.v[i]);
		check_text(p.tag_names.v[i]);
		char *slug = td_slugify(p.tags.v[i]);
		if (!*slug || strcmp(slug, p.tags.v[i]) != 0)
			__builtin_trap();
		free(slug);
	}
	if (!p.content_hash || strlen(p.content_hash) != 64 ||
	    strspn(p.content_hash, "0123456789abcdef") != 64)
		__builtin_trap();
	check_text(p.excerpt_text);
	if (!p.excerpt_html || !p.content_html)
		__builtin_trap();
	td_post_free(&p);
	return 0;
}
