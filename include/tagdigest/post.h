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

#include <time.h>

#include "tagdigest/util.h"

struct td_post {
	char *guid;          /* stable identity within its source */
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

#endif
