/*
 * source: one configured source of posts, a [source.NAME] section.
 *
 * The config loader fills these (config.h); ingest reads them, and hands
 * each to the reader of its type (postsdir.h for "posts", feed.h for
 * "feed"). A header of its own so that those modules need not see the
 * rest of the config.
 *
 * Ownership: the config owns every string.
 */
#ifndef TAGDIGEST_SOURCE_H
#define TAGDIGEST_SOURCE_H

#include <stdbool.h>

#include "tagdigest/core/util.h"

struct td_source_config {
	char *name;          /* NAME from the section header */
	char *type;          /* "posts" (a folder of Markdown posts) or "feed" */
	char *path;          /* posts: folder, resolved */
	char *url;           /* feed: http://, https:// or file:// URL */
	bool categories;     /* feed: item categories become tags (default yes) */
	struct td_strv tags; /* fixed tags added to every post (display names),
			      * e.g. a WordPress tag feed's own tag */
};

/* The longest [digest] excerpt_chars. Ingest stores a post's first
 * paragraph up to this many characters (of text), so that the renderer can
 * cut any configured length from it, on the next run, for every post. */
#define TD_EXCERPT_MAX 5000

#endif
