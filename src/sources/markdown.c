/*
 * markdown.c: Markdown post bodies to HTML and an excerpt.
 *
 * This is the only file that includes cmark. cmark parses (never with
 * CMARK_OPT_UNSAFE); everything is written here from its tree. The HTML
 * and the excerpt come from one walk each ("safe HTML from the tree"
 * below says by which rules); the excerpt's plain text is its
 * paragraph's inline content on one line (emphasis as _x_ and *x*,
 * images as [Image: alt]), gathered with cmark_iter.
 *
 * cmark 0.30 takes time quadratic in the nesting depth of containers for
 * some inputs (blank lines in deep lists, emphasis in deep quotes: fixed
 * upstream in 0.31 for GHSA-66g8-4hjf-77xh) and in the image brackets a
 * paragraph leaves open (CVE-2023-22486, fixed in 0.30.3): a 350 KB post
 * took minutes. bound_input() rewrites those inputs before cmark sees
 * them; posts that stay within the bounds reach cmark byte for byte. The
 * tree lives in an arena ("cmark's memory" below says why).
 */
#include "tagdigest/sources/markdown.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>

#include <cmark.h>

#include "tagdigest/core/buf.h"
#include "tagdigest/sources/html.h"
#include "tagdigest/core/util.h"

#define MD_OPTS (CMARK_OPT_SMART | CMARK_OPT_VALIDATE_UTF8)

/* Bound on the excerpt's text; 16 MiB is far beyond any real post (posts
 * are capped at 1 MiB) and keeps pathological input from running away. */
#define MD_MAX_OUT ((size_t)16 << 20)

/* What reaches cmark, per line: at most this many container markers
 * ('>', list markers) and this many columns up to the last of them, so no
 * container is nested deeper than MD_MAX_MARKERS (a marker takes at least
 * one column, a list item's continuation two). cmark's time on blank lines
 * grows with the depth they close: at 32 levels a 1 MiB post of them took
 * 0.4 s, at 16 levels 0.2 s (docs/BENCHMARKS.md); no post needs more. */
#define MD_MAX_MARKERS 16
#define MD_MAX_PREFIX 32
/* Image brackets ("![") that may stay open in one block of lines; past
 * this they are escaped ("!\["), which cmark shows as the same text. */
#define MD_MAX_OPEN_IMAGES 64

/* The excerpt's text, gathered from the tree. */
struct render {
	struct td_buf para;      /* inline content of the paragraph */
	int in_image;
	int in_link;
	size_t link_start;       /* para offset where the link text began */
	int full;                /* some buffer hit its cap */
};


static void put(struct render *r, struct td_buf *b, const char *s, size_t n)
{
	if (td_buf_append(b, s, n) < 0)
		r->full = 1;
}

static void puts_(struct render *r, struct td_buf *b, const char *s)
{
	put(r, b, s, strlen(s));
}

/*
 * Text from cmark, without the control characters the posts' authors
 * cannot see in their editor (and nor should the reader), nor the two
 * noncharacters U+FFFE and U+FFFF, which are no text in XML and which the
 * feeds' HTML parser drops. cmark validates its input, but writes the
 * character references &#xFFFE; and &#xFFFF; as the single bytes 0xFE
 * and 0xFF (its UTF-8 encoder's quirk): those, like any invalid byte,
 * become U+FFFD.
 */
static int append_text(struct td_buf *b, const char *s, size_t n)
{
	size_t i = 0, j;
	while (i < n) {
		for (j = i; j < n && (unsigned char)s[j] < 0x80 &&
		     !td_is_control((unsigned char)s[j]); j++)
			;
		if (td_buf_append(b, s + i, j - i) < 0)
			return -1;
		i = j;
		if (i == n)
			break;
		uint32_t cp;
		size_t k = td_utf8_next(s + i, n - i, &cp);
		if (k == 0) {
			if (td_buf_puts(b, "\xEF\xBF\xBD") < 0)
				return -1;
			k = 1;
		} else if (k > 1 && cp != 0xFFFE && cp != 0xFFFF &&
			   td_buf_append(b, s + i, k) < 0) {
			return -1;
		}
		i += k; /* k == 1: a control, dropped */
	}
	return 0;
}

/* Whether append_text() would copy s as it is, controls aside (which
 * td_html_put_escaped() drops too). */
static bool text_is_clean(const char *s, size_t n)
{
	for (size_t i = 0, k; i < n; i += k) {
		uint32_t cp;
		if ((unsigned char)s[i] < 0x80) {
			k = 1;
			continue;
		}
		if (!(k = td_utf8_next(s + i, n - i, &cp)) || cp == 0xFFFE ||
		    cp == 0xFFFF)
			return false;
	}
	return true;
}

static void put_text(struct render *r, struct td_buf *b, const char *s,
		     size_t n)
{
	if (append_text(b, s, n) < 0)
		r->full = 1;
}

/* Only links a reader can follow from a mail get a number; a control
 * character (cmark lets some through in a destination) is no text. */
static int followable(const char *url)
{
	for (const char *c = url; *c; c++)
		if (td_is_control((unsigned char)*c))
			return 0;
	return strncasecmp(url, "http://", 7) == 0 ||
	       strncasecmp(url, "https://", 8) == 0 ||
	       strncasecmp(url, "mailto:", 7) == 0;
}

static void link_exit(struct render *r, cmark_node *n)
{
	const char *url = cmark_node_get_url(n);
	const char *text = td_buf_cstr(&r->para) + r->link_start;
	size_t tlen = r->para.len - r->link_start;

	if (!url || !*url)
		return;
	/* [](https://x) would leave nothing to read: show the address. */
	int empty = 1;
	for (size_t i = 0; i < tlen; i++)
		if (text[i] != ' ')
			empty = 0;
	if (empty && followable(url)) {
		r->para.len = r->link_start;
		puts_(r, &r->para, url);
	}
}

/* Inline nodes append to r->para. */
static void inline_event(struct render *r, cmark_node *n, int enter)
{
	const char *lit;
	switch (cmark_node_get_type(n)) {
	case CMARK_NODE_TEXT:
	case CMARK_NODE_CODE:
		lit = cmark_node_get_literal(n);
		put_text(r, &r->para, lit, strlen(lit));
		break;
	case CMARK_NODE_SOFTBREAK:
		puts_(r, &r->para, " ");
		break;
	case CMARK_NODE_LINEBREAK:
		puts_(r, &r->para, " ");   /* one line */
		break;
	case CMARK_NODE_EMPH:
		if (!r->in_image)
			puts_(r, &r->para, "_");
		break;
	case CMARK_NODE_STRONG:
		if (!r->in_image)
			puts_(r, &r->para, "*");
		break;
	case CMARK_NODE_LINK:
		/* Links inside an image description are just alt text. */
		if (r->in_image)
			break;
		if (enter) {
			r->in_link = 1;
			r->link_start = r->para.len;
		} else if (r->in_link) {
			r->in_link = 0;
			link_exit(r, n);
		}
		break;
	case CMARK_NODE_IMAGE:
		if (enter) {
			if (r->in_image++ == 0)
				puts_(r, &r->para, "[Image: ");
		} else if (--r->in_image == 0) {
			puts_(r, &r->para, "]");
		}
		break;
	default:
		/* HTML_INLINE: raw HTML has no place in plain text. */
		break;
	}
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* An excerpt's text is gathered only until html.c's cut to max_chars is
 * settled (td_html_cut_bytes() cuts what there is so far): the rest of a
 * long paragraph cannot change it. Checked when the text has doubled, so
 * that a paragraph costs its length once. */
#define MD_CUT_CHECK 4096

static bool cut_settled(const struct td_buf *b, size_t max_chars,
			size_t *check_at)
{
	if (max_chars == 0 || b->len < *check_at)
		return false;
	*check_at = 2 * b->len;
	return td_html_cut_bytes(td_buf_cstr(b), b->len, max_chars) < b->len;
}

/* Plain text of one paragraph on one line (enough of it for a cut to
 * max_chars; 0: all of it): runs of white space become one space, and the
 * ends are trimmed. */
static void excerpt_line(struct render *r, cmark_node *para, size_t max_chars,
			 struct td_buf *line)
{
	cmark_iter *it = cmark_iter_new(para);
	cmark_event_type ev;
	size_t check_at = MD_CUT_CHECK;

	td_buf_reset(&r->para);
	while (!cut_settled(&r->para, max_chars, &check_at) &&
	       (ev = cmark_iter_next(it)) != CMARK_EVENT_DONE)
		if (cmark_iter_get_node(it) != para)
			inline_event(r, cmark_iter_get_node(it),
				     ev == CMARK_EVENT_ENTER);
	cmark_iter_free(it);

	const char *s = td_buf_cstr(&r->para);
	size_t n = r->para.len;
	for (size_t i = 0, j; i < n; i = j) {
		for (j = i; j < n && !is_blank(s[j]); j++)
			;
		if (j > i) {
			if (line->len > 0)
				put(r, line, " ", 1);
			put(r, line, s + i, j - i);
		}
		while (j < n && is_blank(s[j]))
			j++;
	}
}

/* The first paragraph with something to read, its text in *line: one
 * that is nothing but raw HTML says nothing in an excerpt. */
static cmark_node *first_paragraph(struct render *r, cmark_node *doc,
				   size_t max_chars, struct td_buf *line)
{
	cmark_iter *it = cmark_iter_new(doc);
	cmark_event_type ev;
	cmark_node *found = NULL;

	while (!found && (ev = cmark_iter_next(it)) != CMARK_EVENT_DONE) {
		cmark_node *n = cmark_iter_get_node(it);
		if (ev != CMARK_EVENT_ENTER ||
		    cmark_node_get_type(n) != CMARK_NODE_PARAGRAPH)
			continue;
		td_buf_reset(line);
		excerpt_line(r, n, max_chars, line);
		if (line->len > 0)
			found = n;
	}
	cmark_iter_free(it);
	return found;
}

/* ---- safe HTML from the tree ---- */

/*
 * cmark's own HTML is not what a digest may carry: it writes comments for
 * raw HTML, start= and class= attributes, links without rel, keeps
 * data:image sources and relative URLs, and controls in text. Sanitizing
 * it meant parsing it again with libxml2, which cost more than cmark. So
 * the HTML is written here from the tree, in one walk, exactly as html.c's
 * sanitizer writes cmark's output: the same elements with the same
 * attributes in the same order, the same white space between blocks, text
 * escaped and rid of controls by html.c (td_html_put_escaped), URLs
 * checked and made absolute by html.c (td_html_safe_link for a link's
 * href, td_html_safe_url for an image's src, against the post's address),
 * and the sanitizer's bounds (TD_HTML_MAX_*). A link without an acceptable
 * URL is its text (in a bare <a> with its title when it has one), an image
 * without one is nothing.
 *
 * Where this differs from sanitizing cmark's HTML, the old way broke
 * something: a link inside a link (an autolink in link text) is text of
 * the outer one (libxml2 closed the outer <a> early); URLs are made safe
 * by html.c's rule alone (cmark's renderer had percent-encoded brackets
 * and controls first); an empty title is no title (cmark's API does not
 * tell it from none); and past 256 nested elements libxml2 dropped the
 * rest of the post, which now stays, its tags stopped at
 * TD_HTML_MAX_DEPTH like any other.
 */

/* Room past TD_HTML_MAX_OUTPUT for the end tags written after a cut, and
 * for the excerpt's "…</p>". */
#define MD_HTML_RESERVE (TD_HTML_MAX_DEPTH * 16 + 64)

struct html {
	struct td_buf out;
	struct td_buf tag;       /* a start tag being built */
	struct td_buf lit;       /* a literal, cleaned (append_text) */
	struct td_buf title;     /* an attribute value, cleaned */
	const char *base;        /* the post's address */
	bool full;               /* out reached TD_HTML_MAX_OUTPUT, or the cut */
	bool bol;                /* cmark's renderer would stand at the start
				  * of a line (its cr() would write nothing) */
	size_t in_a;             /* <a> elements open */
	cmark_node *skip;        /* an image, whose children are its alt text */
	size_t depth;
	struct {
		cmark_node *node;
		const char *name;
	} open[TD_HTML_MAX_DEPTH];
	/* an excerpt: bytes of its text (excerpt_raw) before this node, and
	 * where the cut is (SIZE_MAX: none) */
	size_t pos, cut;
};

static void html_init(struct html *h, const char *base)
{
	memset(h, 0, sizeof *h);
	td_buf_init(&h->out, TD_HTML_MAX_OUTPUT + MD_HTML_RESERVE);
	td_buf_init(&h->tag, TD_BUF_NOLIMIT);
	td_buf_init(&h->lit, TD_BUF_NOLIMIT);
	td_buf_init(&h->title, TD_BUF_NOLIMIT);
	h->base = base;
	h->bol = true;
	h->cut = SIZE_MAX;
}

static void html_free(struct html *h)
{
	td_buf_free(&h->out);
	td_buf_free(&h->tag);
	td_buf_free(&h->lit);
	td_buf_free(&h->title);
}

/* Markup goes in whole or not at all; past the bound the output is full. */
static void markup(struct html *h, const char *s, size_t n)
{
	if (h->full)
		return;
	if (h->out.len > TD_HTML_MAX_OUTPUT || n > TD_HTML_MAX_OUTPUT - h->out.len)
		h->full = true;
	else
		td_buf_append(&h->out, s, n);
}

static void text(struct html *h, const char *s, size_t n)
{
	if (!h->full && !td_html_put_escaped(&h->out, s, n, false,
					     TD_HTML_MAX_OUTPUT))
		h->full = true;
}

/* cmark's cr(): a line break unless at the start of a line. */
static void cr(struct html *h)
{
	if (!h->bol)
		text(h, "\n", 1);
	h->bol = true;
}

static void newline(struct html *h)
{
	text(h, "\n", 1);
	h->bol = true;
}

/* Opens element `name` for key (h->tag holds its start tag, or NULL for
 * a bare one); close() with the same key ends it. Beyond
 * TD_HTML_MAX_DEPTH the element is left out, its content is not. */
static void open_tag(struct html *h, cmark_node *key, const char *name,
		     const struct td_buf *tag)
{
	if (h->full || h->depth >= TD_HTML_MAX_DEPTH)
		return;
	if (tag) {
		markup(h, tag->data, tag->len);
	} else {
		char t[16];
		markup(h, t, (size_t)snprintf(t, sizeof t, "<%s>", name));
	}
	if (h->full)
		return;
	h->open[h->depth].node = key;
	h->open[h->depth].name = name;
	h->depth++;
}

/* The end tag is always written: the buffer keeps room for it. */
static void close_top(struct html *h)
{
	h->depth--;
	td_buf_append(&h->out, "</", 2);
	td_buf_puts(&h->out, h->open[h->depth].name);
	td_buf_putc(&h->out, '>');
}

static void close_tag(struct html *h, cmark_node *key)
{
	if (h->depth > 0 && h->open[h->depth - 1].node == key)
		close_top(h);
}

/* Appends name="v" to a start tag; v is clean text (append_text) or a
 * URL from html.c. */
static void attr(struct td_buf *b, const char *name, const char *v, size_t n)
{
	td_buf_putc(b, ' ');
	td_buf_puts(b, name);
	td_buf_append(b, "=\"", 2);
	td_html_put_escaped(b, v, n, true, TD_BUF_NOLIMIT);
	td_buf_putc(b, '"');
}

/* A title or alt text cleaned into *v; false when the sanitizer would
 * not keep it: too long, or an empty title (cmark's API does not tell
 * a title "" from none). */
static bool attr_value(struct td_buf *v, const char *s, bool may_be_empty)
{
	td_buf_reset(v);
	append_text(v, s, strlen(s));
	return v->len <= TD_HTML_MAX_ATTR && (v->len > 0 || may_be_empty);
}

/* A literal of the tree as text. In an excerpt its bytes are counted
 * (without controls, as excerpt_raw() counts them), and the cut, when it
 * falls in this literal, ends the output with "…". */
static void literal(struct html *h, const char *s)
{
	size_t n = strlen(s);
	if (n > 0)
		h->bol = s[n - 1] == '\n';
	/* td_html_put_escaped() drops controls itself; an excerpt counts
	 * its text without them */
	if (h->cut == SIZE_MAX && text_is_clean(s, n)) {
		text(h, s, n);
		return;
	}
	td_buf_reset(&h->lit);
	append_text(&h->lit, s, n);
	s = td_buf_cstr(&h->lit);
	n = h->lit.len;
	if (h->cut == SIZE_MAX || h->pos + n < h->cut) {
		text(h, s, n);
		h->pos += n;
		return;
	}
	text(h, s, h->cut - h->pos);
	if (!h->full)
		td_buf_puts(&h->out, "…");
	h->full = true;
}

/* A soft or hard line break: one byte of an excerpt's text. */
static void line_break(struct html *h, bool hard)
{
	if (hard)
		markup(h, "<br>", 4);
	newline(h);
	h->pos++;
}

static void a_enter(struct html *h, cmark_node *n)
{
	if (h->in_a)
		return;
	bool title = attr_value(&h->title, cmark_node_get_title(n), false);
	char *url = td_html_safe_link(cmark_node_get_url(n), h->base);
	if (url || title) {
		td_buf_reset(&h->tag);
		td_buf_puts(&h->tag, "<a");
		if (url)
			attr(&h->tag, "href", url, strlen(url));
		if (title)
			attr(&h->tag, "title", h->title.data, h->title.len);
		if (url)
			td_buf_puts(&h->tag, " rel=\"noopener noreferrer\"");
		td_buf_putc(&h->tag, '>');
		size_t depth = h->depth;
		open_tag(h, n, "a", &h->tag);
		h->in_a += h->depth > depth;
	}
	free(url);
}

static void a_exit(struct html *h, cmark_node *n)
{
	if (h->depth > 0 && h->open[h->depth - 1].node == n) {
		close_top(h);
		h->in_a--;
	}
}

/* <img> with its description as alt text (cmark's: the literals, breaks
 * as spaces); an image without an acceptable source is nothing. Its
 * children are not walked again. */
static void image(struct html *h, cmark_node *n)
{
	h->skip = n;
	char *src = td_html_safe_url(cmark_node_get_url(n), h->base);
	if (!src)
		return;
	struct td_buf alt = TD_BUF_INIT;
	cmark_iter *it = cmark_iter_new(n);
	cmark_event_type ev;
	while ((ev = cmark_iter_next(it)) != CMARK_EVENT_DONE) {
		cmark_node *c = cmark_iter_get_node(it);
		switch (cmark_node_get_type(c)) {
		case CMARK_NODE_TEXT:
		case CMARK_NODE_CODE:
		case CMARK_NODE_HTML_INLINE:
			td_buf_puts(&alt, cmark_node_get_literal(c));
			break;
		case CMARK_NODE_SOFTBREAK:
		case CMARK_NODE_LINEBREAK:
			td_buf_putc(&alt, ' ');
			break;
		default:
			break;
		}
	}
	cmark_iter_free(it);
	td_buf_reset(&h->tag);
	td_buf_puts(&h->tag, "<img");
	attr(&h->tag, "src", src, strlen(src));
	if (attr_value(&h->title, td_buf_cstr(&alt), true))
		attr(&h->tag, "alt", h->title.data, h->title.len);
	if (attr_value(&h->title, cmark_node_get_title(n), false))
		attr(&h->tag, "title", h->title.data, h->title.len);
	td_buf_putc(&h->tag, '>');
	markup(h, h->tag.data, h->tag.len);
	td_buf_free(&alt);
	free(src);
}

/* Whether a paragraph goes without <p>: in an item of a tight list. */
static bool tight_para(cmark_node *n)
{
	cmark_node *parent = cmark_node_parent(n);
	cmark_node *list = parent ? cmark_node_parent(parent) : NULL;
	return list && cmark_node_get_type(list) == CMARK_NODE_LIST &&
	       cmark_node_get_list_tight(list);
}

/* Inline nodes, in the document and in an excerpt. */
static void html_inline(struct html *h, cmark_node *n, bool enter)
{
	switch (cmark_node_get_type(n)) {
	case CMARK_NODE_TEXT:
		literal(h, cmark_node_get_literal(n));
		break;
	case CMARK_NODE_CODE:
		open_tag(h, NULL, "code", NULL);
		literal(h, cmark_node_get_literal(n));
		close_tag(h, NULL);
		h->bol = false;
		break;
	case CMARK_NODE_SOFTBREAK:
		line_break(h, false);
		break;
	case CMARK_NODE_LINEBREAK:
		line_break(h, true);
		break;
	case CMARK_NODE_EMPH:
	case CMARK_NODE_STRONG:
		if (enter)
			open_tag(h, n, cmark_node_get_type(n) == CMARK_NODE_EMPH ?
				 "em" : "strong", NULL);
		else
			close_tag(h, n);
		h->bol = false;
		break;
	case CMARK_NODE_LINK:
		if (enter)
			a_enter(h, n);
		else
			a_exit(h, n);
		h->bol = false;
		break;
	case CMARK_NODE_IMAGE:
		image(h, n);
		h->bol = false;
		break;
	default:
		/* HTML_INLINE: raw HTML is not written (cmark's renderer
		 * wrote a comment, which the sanitizer dropped) */
		h->bol = false;
		break;
	}
}

/* One node of the document. The white space around blocks is cmark's. */
static void html_node(struct html *h, cmark_node *n, bool enter)
{
	static const char *const headings[] = { "h1", "h2", "h3", "h4", "h5", "h6" };
	int level;
	switch (cmark_node_get_type(n)) {
	case CMARK_NODE_DOCUMENT:
		break;
	case CMARK_NODE_BLOCK_QUOTE:
		cr(h);
		if (enter)
			open_tag(h, n, "blockquote", NULL);
		else
			close_tag(h, n);
		newline(h);
		break;
	case CMARK_NODE_LIST:
		if (enter) {
			cr(h);
			/* no start=: the sanitizer keeps no such attribute */
			open_tag(h, n, cmark_node_get_list_type(n) == CMARK_ORDERED_LIST ?
				 "ol" : "ul", NULL);
		} else {
			close_tag(h, n);
		}
		newline(h);
		break;
	case CMARK_NODE_ITEM:
		if (enter) {
			cr(h);
			open_tag(h, n, "li", NULL);
			h->bol = false;
		} else {
			close_tag(h, n);
			newline(h);
		}
		break;
	case CMARK_NODE_HEADING:
		level = cmark_node_get_heading_level(n);
		if (enter) {
			cr(h);
			open_tag(h, n, headings[level >= 1 && level <= 6 ? level - 1 : 0],
				 NULL);
			h->bol = false;
		} else {
			close_tag(h, n);
			newline(h);
		}
		break;
	case CMARK_NODE_CODE_BLOCK:
		/* no class= from the info string, as the sanitizer */
		cr(h);
		open_tag(h, n, "pre", NULL);
		open_tag(h, NULL, "code", NULL);
		literal(h, cmark_node_get_literal(n));
		close_tag(h, NULL);
		close_tag(h, n);
		newline(h);
		break;
	case CMARK_NODE_HTML_BLOCK:
		/* cmark's renderer wrote a comment on a line of its own */
		cr(h);
		h->bol = false;
		cr(h);
		break;
	case CMARK_NODE_THEMATIC_BREAK:
		cr(h);
		markup(h, "<hr>", 4);
		newline(h);
		break;
	case CMARK_NODE_PARAGRAPH:
		if (tight_para(n))
			break;
		if (enter) {
			cr(h);
			open_tag(h, n, "p", NULL);
			h->bol = false;
		} else {
			close_tag(h, n);
			newline(h);
		}
		break;
	default:
		html_inline(h, n, enter);
		break;
	}
}

/* Walks root's subtree (root too when with_root) through html_node or
 * html_inline, until the output is full. */
static void html_walk(struct html *h, cmark_node *root, bool with_root,
		      void (*node)(struct html *, cmark_node *, bool))
{
	cmark_iter *it = cmark_iter_new(root);
	cmark_event_type ev;
	while (!h->full && (ev = cmark_iter_next(it)) != CMARK_EVENT_DONE) {
		cmark_node *n = cmark_iter_get_node(it);
		if (h->skip) {
			if (n == h->skip && ev == CMARK_EVENT_EXIT)
				h->skip = NULL;
			continue;
		}
		if (n != root || with_root)
			node(h, n, ev == CMARK_EVENT_ENTER);
	}
	cmark_iter_free(it);
	while (h->depth > 0)
		close_top(h);
}

/* The whole document as safe HTML (malloc'd). */
static char *html_document(cmark_node *doc, const char *base)
{
	struct html h;
	html_init(&h, base);
	html_walk(&h, doc, true, html_node);
	char *html = td_buf_steal(&h.out);
	html_free(&h);
	return html;
}

/* The text of a paragraph as html.c's excerpt cutter reads the HTML
 * written for it: the literals without controls, a line break for each
 * break, nothing of images (their alt text is no text on one line); as
 * much of it as a cut to max_chars needs. */
static void excerpt_raw(cmark_node *para, size_t max_chars, struct td_buf *raw)
{
	cmark_iter *it = cmark_iter_new(para);
	cmark_event_type ev;
	cmark_node *image_node = NULL;
	size_t check_at = MD_CUT_CHECK;
	while (!cut_settled(raw, max_chars, &check_at) &&
	       (ev = cmark_iter_next(it)) != CMARK_EVENT_DONE) {
		cmark_node *n = cmark_iter_get_node(it);
		if (image_node) {
			if (n == image_node && ev == CMARK_EVENT_EXIT)
				image_node = NULL;
			continue;
		}
		switch (cmark_node_get_type(n)) {
		case CMARK_NODE_TEXT:
		case CMARK_NODE_CODE: {
			const char *s = cmark_node_get_literal(n);
			append_text(raw, s, strlen(s));
			break;
		}
		case CMARK_NODE_SOFTBREAK:
		case CMARK_NODE_LINEBREAK:
			td_buf_putc(raw, '\n');
			break;
		case CMARK_NODE_IMAGE:
			image_node = n;
			break;
		default:
			break;
		}
	}
	cmark_iter_free(it);
}

/*
 * The excerpt's HTML: the paragraph as <p>...</p>, cut where
 * td_html_cut() cuts the sanitized paragraph (the same cut point, from
 * html.c, on the same text): "…" inside the element open there, every
 * element closed after it. Uncut, it is what the document has for that
 * paragraph, except that it is always in a <p>. Like td_html_cut(), a
 * paragraph with no text but more markup than max_chars (images only) has
 * no excerpt.
 */
static char *html_excerpt(cmark_node *para, const char *base, size_t max_chars)
{
	struct td_buf raw = TD_BUF_INIT;
	excerpt_raw(para, max_chars, &raw);
	size_t keep = td_html_cut_bytes(td_buf_cstr(&raw), raw.len, max_chars);

	struct html h;
	html_init(&h, base);
	if (keep < raw.len)
		h.cut = keep;
	open_tag(&h, para, "p", NULL);
	html_walk(&h, para, false, html_inline);
	if (keep == raw.len && max_chars > 0 &&
	    td_utf8_count(h.out.data, h.out.len) > max_chars) {
		char *line = td_html_cut_text(td_buf_cstr(&raw), 0);
		if (!*line)
			td_buf_reset(&h.out);
		free(line);
	}
	td_buf_free(&raw);
	char *html = td_buf_steal(&h.out);
	html_free(&h);
	return html;
}

/* ---- bounding what reaches cmark ---- */

/* Length of the container marker at s ('>', "-", "12." followed by white
 * space or the end of the line), or 0. */
static size_t marker_len(const char *s, size_t n)
{
	if (n == 0)
		return 0;
	if (s[0] == '>')
		return 1;
	size_t k = 0;
	if (s[0] == '-' || s[0] == '+' || s[0] == '*') {
		k = 1;
	} else {
		while (k < n && k < 9 && s[k] >= '0' && s[k] <= '9')
			k++;
		if (k == 0 || k == n || (s[k] != '.' && s[k] != ')'))
			return 0;
		k++;
	}
	return k == n || s[k] == ' ' || s[k] == '\t' || s[k] == '\r' ||
	       s[k] == '\n' ? k : 0;
}

/* Columns of the white space s[0..n) starting at column col. */
static size_t ws_width(const char *s, size_t n, size_t col)
{
	size_t c = col;
	for (size_t i = 0; i < n; i++)
		c = s[i] == '\t' ? c + 4 - c % 4 : c + 1;
	return c - col;
}

static size_t ws_run(const char *s, size_t n)
{
	size_t i = 0;
	while (i < n && (s[i] == ' ' || s[i] == '\t'))
		i++;
	return i;
}

/*
 * One line's container prefix, kept to MD_MAX_MARKERS markers ending by
 * column MD_MAX_PREFIX: white space before a marker is narrowed to make it
 * fit, markers that do not fit go (with the white space between them),
 * and the line's content follows after one space. A line within the
 * bounds is copied as it is.
 */
static void bound_prefix(const char *s, size_t n, struct td_buf *out)
{
	size_t i = 0, col = 0, markers = 0, m;
	bool over = false;
	for (;;) {
		size_t w = ws_run(s + i, n - i);
		if (!(m = marker_len(s + i + w, n - i - w)))
			break;
		col += ws_width(s + i, w, col) + m;
		i += w + m;
		if (++markers > MD_MAX_MARKERS || col > MD_MAX_PREFIX)
			over = true;
	}
	if (!over) {
		td_buf_append(out, s, n);
		return;
	}
	i = col = markers = 0;
	for (;;) {
		size_t w = ws_run(s + i, n - i);
		m = marker_len(s + i + w, n - i - w);
		if (!m || markers == MD_MAX_MARKERS || col + m > MD_MAX_PREFIX)
			break;
		size_t ww = ws_width(s + i, w, col);
		if (col + ww + m <= MD_MAX_PREFIX) {
			td_buf_append(out, s + i, w);
		} else {
			ww = MD_MAX_PREFIX - m - col;
			for (size_t k = 0; k < ww; k++)
				td_buf_putc(out, ' ');
		}
		td_buf_append(out, s + i + w, m);
		col += ww + m;
		markers++;
		i += w + m;
	}
	/* what did not fit: the rest of the prefix */
	for (;;) {
		size_t w = ws_run(s + i, n - i);
		m = marker_len(s + i + w, n - i - w);
		if (!m) {
			i += w;
			break;
		}
		i += w + m;
	}
	td_buf_putc(out, ' ');
	td_buf_append(out, s + i, n - i);
}

/* Whether the "![" at s[0] is closed by a ']' later on the line with
 * nothing between that could hide that ']' from cmark (a code span, raw
 * HTML, an escape) or push another bracket. */
static bool image_closes(const char *s, size_t n)
{
	for (size_t i = 2; i < n; i++) {
		if (s[i] == ']')
			return true;
		if (strchr("`<\\[", s[i]))
			return false;
	}
	return false;
}

/* Copies one line, escaping the image brackets past MD_MAX_OPEN_IMAGES
 * that may stay open in the block (*open counts them). */
static void bound_images(const char *s, size_t n, size_t *open,
			 struct td_buf *out)
{
	size_t from = 0;
	for (const char *p = memchr(s, '!', n); p;
	     p = memchr(p + 1, '!', n - (size_t)(p + 1 - s))) {
		size_t i = (size_t)(p - s), bs = 0;
		while (bs < i && s[i - 1 - bs] == '\\')
			bs++;
		/* an odd run of backslashes escapes the '!' */
		if (i + 1 >= n || s[i + 1] != '[' || bs % 2 == 1 ||
		    image_closes(s + i, n - i))
			continue;
		if (++*open <= MD_MAX_OPEN_IMAGES)
			continue;
		td_buf_append(out, s + from, i + 1 - from);
		td_buf_putc(out, '\\');
		from = i + 1;
	}
	td_buf_append(out, s + from, n - from);
}

/*
 * md within the bounds above, into out; false when it is within them
 * already (out is then unused). Only ASCII is looked at, so invalid UTF-8
 * and NUL bytes pass through for cmark to replace.
 */
static bool bound_input(const char *md, size_t len, struct td_buf *out)
{
	struct td_buf line = TD_BUF_INIT;
	size_t open = 0;
	bool changed = false;
	td_buf_init(out, TD_BUF_NOLIMIT);
	for (size_t i = 0; i < len;) {
		const char *nl = memchr(md + i, '\n', len - i);
		size_t n = nl ? (size_t)(nl - (md + i)) + 1 : len - i;
		const char *s = md + i;
		size_t w = ws_run(s, n);
		if (w == n || s[w] == '\n' || s[w] == '\r')
			open = 0;       /* a blank line ends every paragraph */
		td_buf_reset(&line);
		bound_prefix(s, n, &line);
		size_t before = out->len;
		bound_images(td_buf_cstr(&line), line.len, &open, out);
		if (out->len - before != n || memcmp(out->data + before, s, n) != 0)
			changed = true;
		i += n;
	}
	td_buf_free(&line);
	return changed;
}

/* ---- cmark's memory ---- */

/*
 * cmark allocates a node, and a buffer for its text, for every delimiter
 * and bracket of a paragraph before it merges them: a 1 MiB post of
 * unmatched "*a_" or "[a" makes two and a half million allocations, 150 MB
 * of them, and touching that memory one 4 KiB page at a time (page faults,
 * TLB misses) cost more than the parsing itself. So each document's tree
 * lives in an arena: allocations are carved from chunks that double in
 * size, nothing is freed before the whole tree goes at once, and chunks of
 * MD_ARENA_HUGE bytes or more are mapped on their own and offered to the
 * kernel for transparent huge pages (madvise; where there is no such
 * thing, only the arena remains). docs/BENCHMARKS.md has the figures.
 *
 * cmark's allocator interface carries no context, so the arena in use is
 * per thread (one document at a time in each).
 */
#define MD_ARENA_FIRST ((size_t)64 << 10)
#define MD_ARENA_HUGE ((size_t)4 << 20)
#define MD_ARENA_LARGEST ((size_t)64 << 20)
#define MD_ARENA_ALIGN 16

struct chunk {
	struct chunk *next;
	size_t size, used;       /* bytes after the header */
	bool mapped;             /* mmap'd (zeroed) rather than malloc'd */
	_Alignas(MD_ARENA_ALIGN) unsigned char data[];
};

struct arena {
	struct chunk *chunks;    /* the newest first: where allocations go */
	size_t next_size;
};

static _Thread_local struct arena *arena_now;

static struct chunk *chunk_new(size_t need)
{
	struct arena *a = arena_now;
	size_t size = a->next_size;
	while (size < need)
		size *= 2;
	if (a->next_size < MD_ARENA_LARGEST)
		a->next_size *= 2;
	struct chunk *c = NULL;
#if defined(MAP_ANONYMOUS)
	if (size >= MD_ARENA_HUGE) {
		void *m = mmap(NULL, sizeof *c + size, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (m != MAP_FAILED) {
#if defined(MADV_HUGEPAGE)
			madvise(m, sizeof *c + size, MADV_HUGEPAGE);
#endif
			c = m;
			c->mapped = true;
		}
	}
#endif
	if (!c) {
		c = td_xmalloc(sizeof *c + size);
		c->mapped = false;
	}
	c->size = size;
	c->used = 0;
	c->next = a->chunks;
	a->chunks = c;
	return c;
}

/* n bytes after a header that holds n (for realloc), aligned. */
static void *arena_alloc(size_t n, bool zero)
{
	const size_t head = MD_ARENA_ALIGN;
	if (n > SIZE_MAX / 4)
		return td_xmalloc(n); /* it cannot be had: aborts, out of memory */
	size_t need = head + ((n + MD_ARENA_ALIGN - 1) & ~(size_t)(MD_ARENA_ALIGN - 1));
	struct chunk *c = arena_now->chunks;
	if (!c || c->size - c->used < need)
		c = chunk_new(need);
	unsigned char *p = c->data + c->used;
	c->used += need;
	memcpy(p, &n, sizeof n);
	if (zero && !c->mapped)
		memset(p + head, 0, n);
	return p + head;
}

static size_t arena_size(const void *p)
{
	size_t n;
	memcpy(&n, (const unsigned char *)p - MD_ARENA_ALIGN, sizeof n);
	return n;
}

static void *arena_calloc(size_t count, size_t size)
{
	if (size && count > SIZE_MAX / size)
		return td_xcalloc(count, size); /* aborts, out of memory */
	return arena_alloc(count * size, true);
}

/* cmark grows its buffers by realloc: the last allocation of the chunk
 * grows where it is when there is room. */
static void *arena_realloc(void *p, size_t n)
{
	if (!p)
		return arena_alloc(n, false);
	size_t old = arena_size(p);
	if (n <= old)
		return p;
	struct chunk *c = arena_now->chunks;
	size_t had = (old + MD_ARENA_ALIGN - 1) & ~(size_t)(MD_ARENA_ALIGN - 1);
	size_t want = (n + MD_ARENA_ALIGN - 1) & ~(size_t)(MD_ARENA_ALIGN - 1);
	if ((unsigned char *)p + had == c->data + c->used &&
	    want - had <= c->size - c->used) {
		c->used += want - had;
		memcpy((unsigned char *)p - MD_ARENA_ALIGN, &n, sizeof n);
		return p;
	}
	void *q = arena_alloc(n, false);
	memcpy(q, p, old);
	return q;
}

static void arena_free(void *p)
{
	(void)p; /* the whole arena goes at once */
}

static cmark_mem arena_mem = { arena_calloc, arena_realloc, arena_free };

static void arena_release(struct arena *a)
{
	while (a->chunks) {
		struct chunk *c = a->chunks;
		a->chunks = c->next;
#if defined(MAP_ANONYMOUS)
		if (c->mapped) {
			munmap(c, sizeof *c + c->size);
			continue;
		}
#endif
		free(c);
	}
	if (arena_now == a)
		arena_now = NULL;
}

/* Parses md, bounded first, into a tree that lives in *a (made here):
 * the caller frees it with arena_release(), not cmark_node_free(). */
static int parse(const char *md, size_t len, struct arena *a, cmark_node **doc,
		 struct td_err *err)
{
	*doc = NULL;
	a->chunks = NULL;
	a->next_size = MD_ARENA_FIRST;
	if (!md && len > 0)
		return td_err_set(err, EX_DATAERR, "markdown: no input");
	struct td_buf bounded = TD_BUF_INIT;
	if (md && bound_input(md, len, &bounded)) {
		md = td_buf_cstr(&bounded);
		len = bounded.len;
	}
	arena_now = a;
	cmark_parser *parser = cmark_parser_new_with_mem(MD_OPTS, &arena_mem);
	cmark_parser_feed(parser, md ? md : "", len);
	*doc = cmark_parser_finish(parser);
	cmark_parser_free(parser);
	td_buf_free(&bounded);
	if (!*doc) {
		arena_release(a);
		return td_err_set(err, EX_DATAERR, "markdown: cannot parse");
	}
	return 0;
}

static void render_init(struct render *r)
{
	memset(r, 0, sizeof *r);
	td_buf_init(&r->para, MD_MAX_OUT);
}

static void render_free(struct render *r)
{
	td_buf_free(&r->para);
}

static int too_long(struct td_err *err)
{
	return td_err_set(err, EX_DATAERR, "markdown: rendered text exceeds %zu MiB",
			  MD_MAX_OUT >> 20);
}

int td_markdown_render(const char *md, size_t len, const char *base_url,
		       size_t excerpt_max, struct td_markdown *out,
		       struct td_err *err)
{
	memset(out, 0, sizeof *out);
	struct arena arena;
	cmark_node *doc;
	int rc = parse(md, len, &arena, &doc, err);
	if (rc)
		return rc;

	/* The excerpt's text: its paragraph on one line, without link
	 * numbers, cut as the renderer cuts text (html.h). */
	struct render r;
	render_init(&r);
	struct td_buf line = TD_BUF_INIT;
	cmark_node *para = first_paragraph(&r, doc, excerpt_max, &line);
	if (r.full) {
		rc = too_long(err);
	} else {
		out->html = html_document(doc, base_url);
		out->excerpt_html = para ? html_excerpt(para, base_url, excerpt_max) :
				    td_xstrdup("");
		out->excerpt_text = td_html_cut_text(td_buf_cstr(&line), excerpt_max);
	}
	td_buf_free(&line);
	render_free(&r);
	arena_release(&arena);
	return rc;
}

void td_markdown_free(struct td_markdown *m)
{
	if (!m)
		return;
	free(m->html);
	free(m->excerpt_html);
	free(m->excerpt_text);
	memset(m, 0, sizeof *m);
}
