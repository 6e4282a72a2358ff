/*
 * post: one post as a source hands it to ingest (struct td_post).
 *
 * Every string is owned by the post (malloc'd); td_post_free() releases
 * them all. `tags` holds slugs (see slug.h) and `tag_names` the display
 * names in the same order, so tag_names.v[i] is how tags.v[i] is shown.
 * All text is UTF-8. HTML fields are already safe to put in a page
 * (rendered by cmark in safe mode, or sanitized).
 */
#ifndef TAGDIGEST_POST_H
#define TAGDIGEST_POST_H

#include <stdbool.h>
#include <time.h>

#include "tagdigest/core/util.h"

struct td_post {
	char *guid;          /* stable identity within its source */
	bool guid_local;     /* the guid means something only in its source,
			      * whatever it looks like: a relative reference
			      * the feed made absolute against its own URL */
	char *url;           /* absolute http(s) URL of the post */
	char *title;         /* plain text */
	char *author;        /* plain text, may be "" */
	time_t published;    /* UTC */
	time_t updated;      /* UTC; equals published when unknown */
	struct td_strv tags;      /* slugs */
	struct td_strv tag_names; /* display names, parallel to tags */
	char *excerpt_html;  /* first paragraph, <p>...</p>, up to
			      * TD_EXCERPT_MAX characters (the renderer
			      * cuts it to excerpt_chars) */
	char *excerpt_text;  /* the same as one line of plain text */
	char *content_html;  /* whole body */
	char *content_hash;  /* hex SHA-256 of what the source read; edits change it */
};

void td_post_free(struct td_post *post);

/*
 * Identity across sources. One article often reaches tagdigest through
 * several sources (WordPress publishes one feed per tag); the store makes
 * it one post when two sources' items share one of these keys (store.h).
 * Both return a malloc'd key, or NULL when the value identifies nothing
 * outside its own source.
 *
 * td_post_guid_key: a guid that names one post wherever it appears (an
 * http(s) URI with a host, such as WordPress's "https://site/?p=123", or
 * a tag: or urn: URI), together with the site the item's own link (url)
 * is on: its host, case-blind, without one leading "www." (whoever holds
 * a host holds its www. too; nothing wider is assumed, as a parent domain
 * may be a hosting service's). The guid is compared exactly otherwise,
 * except that its scheme and host are lowercased, http and https are one,
 * and a default port is dropped. WordPress guids are predictable: a
 * source that copies another site's guid next to a link of its own gets
 * another key, so it can neither take that site's article over nor be
 * taken for it, and two items one key joins link to one site. (A guid
 * that names another site than its link is still a key: a link blog's
 * posts carry their own guids and link elsewhere, and two link blogs'
 * posts about one page stay two.) A guid such as "1" or a file name is
 * NULL: two sites both have a post 1; so is any guid of an item without
 * an http(s) link. Neither is a guid "1" that a feed resolved to
 * "https://site/tag/a/1" (td_post.guid_local): the store does not ask for
 * its key.
 *
 * td_post_url_key: a normalised permalink (an absolute http(s) URL):
 * scheme and host lowercased, http and https one, default port, user
 * info and fragment dropped, an empty path is "/" and one trailing "/" of
 * a longer path is dropped ("/a/" and "/a" are one page on every blog
 * engine we know), the hex digits of %-escapes uppercased, and utm_*
 * query parameters (tracking added by feed services) dropped; the other
 * parameters keep their order ("?p=123" names the post). The path is
 * otherwise compared exactly: paths are case-sensitive. A fragment that
 * is a route ("#!/a", "#/a": a single-page site's pages) is a page and
 * is kept as written. A site's home page ("/", nothing else but
 * tracking) is NULL: feeds whose items all link it say nothing of which
 * article an item is.
 */
char *td_post_guid_key(const char *guid, const char *url);
char *td_post_url_key(const char *url);

#endif
