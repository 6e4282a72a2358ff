/*
 * markdown: Markdown bodies to HTML and to plain text, with cmark.
 *
 * cmark 0.30 is safe by default (raw HTML dropped, javascript: links
 * emptied); we never pass CMARK_OPT_UNSAFE. cmark has no plain-text
 * renderer, so td_markdown_render() walks the tree with cmark_iter and
 * writes wrapped plain text itself (headings underlined, lists marked,
 * quotes prefixed "> ", links numbered with a "Links:" list at the end).
 *
 * The excerpt is the whole first paragraph with text: as HTML
 * (<p>...</p>) and as plain text on one line without link numbers. It is
 * not cut here: the renderer cuts it to the configured length (html.h).
 *
 * Control characters (td_is_control) are dropped from the text; the HTML
 * is cmark's, which keeps them: callers sanitize it (postsdir.c).
 * Inputs that would make cmark slow (deep nesting, many open image
 * brackets) are bounded first; markdown.c says how.
 *
 * Ownership: td_markdown_free() frees every field.
 */
#ifndef TAGDIGEST_MARKDOWN_H
#define TAGDIGEST_MARKDOWN_H

#include <stddef.h>

#include "tagdigest/err.h"

struct td_markdown {
	char *html;          /* the whole document */
	char *text;          /* the whole document, wrapped at `width` columns */
	char *excerpt_html;  /* "" when there is no paragraph */
	char *excerpt_text;  /* "" when there is no paragraph */
};

/* Invalid UTF-8 is replaced with U+FFFD. Returns 0 or EX_DATAERR. */
int td_markdown_render(const char *md, size_t len, size_t width,
		       struct td_markdown *out, struct td_err *err);
void td_markdown_free(struct td_markdown *m);

#endif
