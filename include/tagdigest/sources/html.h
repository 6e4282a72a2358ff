/*
 * html: feed HTML made safe, and made plain.
 *
 * Feed content is hostile. td_html_sanitize() parses it with libxml2's HTML
 * parser (no network) and writes back only an allowlist: structural and
 * inline text elements (p, br, a, em, strong, b, i, u, s, code, pre,
 * blockquote, ul, ol, li, h1-h6, img, figure, figcaption, table parts, span,
 * div, hr, sub, sup, abbr, cite, q, dl/dt/dd...), and for them only safe
 * attributes (href on a, src/alt/width/height on img, title, colspan...).
 * Gone entirely, with their content: script, style, form and its
 * controls, svg, math, template, noscript. Gone, their fallback content
 * kept (no mail client plays them): iframe, object, embed, applet, video,
 * audio, canvas. Gone: every on* attribute, style, class and id
 * attributes; URLs that are not http(s) (or mailto: for links) after
 * resolving them against base_url, so no javascript:, data:, vbscript:,
 * file:. Links get rel="noopener noreferrer"; a link without such a URL is
 * its text, in an <a> with only its title when it has one.
 *
 * td_html_to_text() turns HTML into readable plain text: block elements
 * become paragraph breaks, <br> a line break, list items "- ", entities
 * decoded, whitespace collapsed.
 *
 * Excerpts: ingest stores a post's first paragraph cut only to the longest
 * excerpt any configuration may ask for (td_html_excerpt() with
 * TD_EXCERPT_MAX); the renderer cuts it to the configured length for each
 * run (td_html_cut(), td_html_cut_text()).
 *
 * Markdown posts (markdown.c) are not sanitized after cmark renders them:
 * markdown.c writes safe HTML from cmark's tree itself, with the rules
 * below (td_html_safe_link, td_html_put_escaped, the TD_HTML_MAX_ bounds)
 * and the sanitizer's vocabulary, so that its output is what the sanitizer
 * would have made of cmark's and no second parse is needed.
 *
 * Ownership: every returned string is malloc'd; the caller frees it.
 */
#ifndef TAGDIGEST_HTML_H
#define TAGDIGEST_HTML_H

#include <stdbool.h>
#include <stddef.h>

#include "tagdigest/core/buf.h"

/* Bounds of sanitized HTML: output past TD_HTML_MAX_OUTPUT bytes is cut
 * (the elements open there closed); elements nested deeper than
 * TD_HTML_MAX_DEPTH lose their tags, not their content; attribute values
 * longer than TD_HTML_MAX_ATTR bytes are dropped. */
#define TD_HTML_MAX_OUTPUT ((size_t)4 << 20)
#define TD_HTML_MAX_DEPTH 100
#define TD_HTML_MAX_ATTR 8192

/* Safe HTML fragment (UTF-8). base_url resolves relative URLs; may be NULL. */
char *td_html_sanitize(const char *html, size_t len, const char *base_url);

/* A URL from a feed as the rest of tagdigest may use it (a post's link),
 * or NULL when it cannot be made one. The rules of every href and src the
 * sanitizer keeps: leading and trailing spaces and controls stripped,
 * tabs and line breaks removed wherever they are (as browsers and the
 * WHATWG URL parser do), any other control refused, what a URI may not
 * hold (spaces, quotes, non-ASCII) percent-encoded, a relative URL
 * resolved against base_url (may be NULL: then it is refused), the scheme
 * lowercased, and only http and https kept; past 8 KiB, refused.
 * malloc'd. */
char *td_html_safe_url(const char *url, const char *base_url);

/* The same for the href of a link, which may also be a mailto: URL. */
char *td_html_safe_link(const char *url, const char *base_url);

/* Text s[0..n) as the sanitizer writes it: & < > escaped (and " when
 * attr), controls (td_is_control) dropped. Appends to b while b->len stays
 * within limit, text cut at a character boundary there: false when the
 * limit was hit. */
bool td_html_put_escaped(struct td_buf *b, const char *s, size_t n, bool attr,
			 size_t limit);

/* Fragments without markup skip the HTML parser, and so does markup it
 * would not repair (known tags closed in order, quoted attributes, ...):
 * html.c reads it itself into what the parser would have reported, with
 * the same output (html.c says what it reads; test_html.c holds both
 * paths to it). No libxml2 tree is built: the walks run over the parser's
 * events. */

/* libxml2's one-time set-up, on the main thread before any other thread
 * may parse (libxml2 2.9 asks for it: its lazy set-up is not
 * synchronized). Idempotent. */
void td_html_init(void);

/* Plain text of an HTML fragment (UTF-8, paragraphs separated by "\n\n"). */
char *td_html_to_text(const char *html, size_t len);

/* Excerpt of an already-sanitized fragment: the first paragraph with text,
 * as "<p>...</p>" (its inline markup kept) and as one line of plain text.
 * max_chars > 0 cuts both where the text passes max_chars code points, at
 * a word boundary (a single overlong word is cut inside), with "…": the
 * HTML inside the innermost element open there, every element closed
 * after it. 0: not cut. */
void td_html_excerpt(const char *safe_html, size_t len, size_t max_chars,
		     char **excerpt_html, char **excerpt_text);

/* An excerpt td_html_excerpt() made (uncut), cut to max_chars as above;
 * returned as it is when its text fits (or max_chars is 0). */
char *td_html_cut(const char *safe_html, size_t len, size_t max_chars);

/* One line of plain text (white space runs collapsed, controls dropped)
 * cut the same way; 0: not cut. */
char *td_html_cut_text(const char *text, size_t max_chars);

/* Where td_html_cut() and td_html_cut_text() cut, for a writer that cuts
 * its own markup (markdown.c): text[0..len) is the text of an excerpt as
 * an HTML renderer sees it, in document order; returns how many of its
 * bytes stay in front of the "…", or len when it is not cut. */
size_t td_html_cut_bytes(const char *text, size_t len, size_t max_chars);

#endif
