/*
 * markdown: Markdown bodies to safe HTML and an excerpt, with cmark.
 *
 * td_markdown_render() parses once and walks cmark's tree once: the HTML
 * it writes is already what html.h's sanitizer would make of cmark's own
 * HTML (its allowlist, no raw HTML, no control characters, link and image
 * URLs checked and made absolute against base_url), so it needs no second
 * parse. The excerpt is the first paragraph with text, as HTML (always
 * "<p>...</p>", its inline markup kept) and as one line of plain text
 * (emphasis shown as _x_ and *x*, images as [Image: alt]), both cut to
 * excerpt_max characters exactly where td_html_cut() and
 * td_html_cut_text() would cut them (0: not cut).
 *
 * Inputs that would make cmark slow (deep nesting, many open image
 * brackets) are bounded first; markdown.c says how.
 *
 * Ownership: td_markdown_free() frees every field.
 */
#ifndef TAGDIGEST_MARKDOWN_H
#define TAGDIGEST_MARKDOWN_H

#include <stddef.h>

#include "tagdigest/core/err.h"

/* Names the rules by which td_markdown_render() makes HTML and an excerpt
 * of Markdown. Change it whenever the same Markdown would come out
 * differently: it is part of a Markdown post's content hash (postsdir.h),
 * so posts stored by older rules are rendered again. */
#define TD_MARKDOWN_RULES "tagdigest-markdown-2"

struct td_markdown {
	char *html;          /* the whole document */
	char *excerpt_html;  /* "" when there is no paragraph with text */
	char *excerpt_text;  /* "" when there is no paragraph with text */
};

/* Invalid UTF-8 is replaced with U+FFFD. base_url resolves relative
 * links and images (NULL: they are dropped). Returns 0 or EX_DATAERR. */
int td_markdown_render(const char *md, size_t len, const char *base_url,
		       size_t excerpt_max, struct td_markdown *out,
		       struct td_err *err);
void td_markdown_free(struct td_markdown *m);

#endif
