/*
 * html.c: feed HTML made safe (td_html_sanitize), made plain
 * (td_html_to_text) and cut down to a digest excerpt (td_html_excerpt,
 * td_html_cut, td_html_cut_text).
 *
 * All three parse with libxml2's forgiving HTML parser and then walk what
 * it found themselves. Nothing is written back with libxml2's serializer:
 * every byte of sanitized output is either a tag or attribute name from the
 * allowlist below or text we escaped, so a browser or mail client that
 * re-parses it sees exactly the tree we approved (no mutation-XSS through
 * raw-text elements, comments or odd attribute quoting).
 *
 * No libxml2 tree is built: the parser's SAX events (start tag, end tag,
 * text) are recorded into one flat array (struct frag), the tree in
 * document order, and the walks run over that. Building and freeing the
 * DOM cost as much as a third of the parse, in malloc. The parser's
 * choices do not depend on the tree (it decides from its own stack of
 * open names), so the events are the tree a DOM would have held, with
 * one exception kept by hand: libxml2's tree builder halts the parse
 * once more than XML_MAX_OPEN elements are open (xmlParserMaxDepth), and
 * without that halt its own name stack makes hostile nesting such as
 * "<b>"*N "</i>"*N cost N squared (sax_start stops the parser there).
 *
 * The walk is an iterative ENTER/LEAVE traversal over that array, so a
 * hostile nesting depth costs no C stack. Input is capped
 * (HTML_MAX_INPUT) and repaired to valid UTF-8 before parsing, because
 * libxml2 2.9.14 passes invalid bytes straight through when told the input
 * is UTF-8; sanitized output is capped too (HTML_MAX_OUTPUT), and tags still
 * open when the cap is reached are closed, so a cut never leaves half a tag.
 */
#include "tagdigest/sources/html.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libxml/HTMLparser.h>
#include <libxml/parserInternals.h>

#include "tagdigest/core/buf.h"
#include "tagdigest/core/util.h"
#include "tagdigest/core/uri.h"

#define HTML_MAX_INPUT ((size_t)8 << 20)   /* bytes handed to the parser */
#define HTML_MAX_OUTPUT TD_HTML_MAX_OUTPUT /* bytes of output before we stop */
#define HTML_MAX_DEPTH TD_HTML_MAX_DEPTH   /* open tags written, at most */
#define HTML_MAX_ATTR TD_HTML_MAX_ATTR     /* longer attribute values are dropped */
/* Room past HTML_MAX_OUTPUT for the closing tags written after a cut. */
#define HTML_CLOSE_RESERVE (HTML_MAX_DEPTH * 16 + 64)

#define UTF8_REPLACEMENT "\xEF\xBF\xBD"

/* ---- the allowlist ----------------------------------------------------- */

enum tag_kind {
	TAG_UNWRAP,     /* not written, children are (also: any unknown tag) */
	TAG_KEEP,       /* written with its allowed attributes */
	TAG_VOID,       /* written, never has content or a closing tag */
	TAG_DROP,       /* not written, nor is anything inside it */
};

enum tag_flag {
	F_BLOCK = 1,    /* paragraph break in text; not inside an excerpt <p> */
	F_CELL = 2,     /* table cell: a space in text; not inside an excerpt */
	F_LIST = 4,     /* ul, ol */
	F_ITEM = 8,     /* li */
	F_PRE = 16,     /* whitespace is content */
	F_BR = 32,
	F_IMG = 64,
	F_LINK = 128,   /* a */
};

/* Where a table part may be written: outside its context a browser would
 * drop the tag anyway, so we unwrap it and keep the text. */
enum tag_parent { IN_ANY, IN_TABLE, IN_ROWGROUP, IN_ROW };

struct tag {
	const char *name;
	unsigned char kind;
	unsigned char flags;
	unsigned char parent;
};

static const struct tag tags[] = {
	/* written */
	{ "a", TAG_KEEP, F_LINK, IN_ANY },
	{ "abbr", TAG_KEEP, 0, IN_ANY },
	{ "b", TAG_KEEP, 0, IN_ANY },
	{ "blockquote", TAG_KEEP, F_BLOCK, IN_ANY },
	{ "br", TAG_VOID, F_BR, IN_ANY },
	{ "caption", TAG_KEEP, F_BLOCK, IN_TABLE },
	{ "cite", TAG_KEEP, 0, IN_ANY },
	{ "code", TAG_KEEP, 0, IN_ANY },
	{ "dd", TAG_KEEP, F_BLOCK, IN_ANY },
	{ "div", TAG_KEEP, F_BLOCK, IN_ANY },
	{ "dl", TAG_KEEP, F_BLOCK, IN_ANY },
	{ "dt", TAG_KEEP, F_BLOCK, IN_ANY },
	{ "em", TAG_KEEP, 0, IN_ANY },
	{ "figcaption", TAG_KEEP, F_BLOCK, IN_ANY },
	{ "figure", TAG_KEEP, F_BLOCK, IN_ANY },
	{ "h1", TAG_KEEP, F_BLOCK, IN_ANY },
	{ "h2", TAG_KEEP, F_BLOCK, IN_ANY },
	{ "h3", TAG_KEEP, F_BLOCK, IN_ANY },
	{ "h4", TAG_KEEP, F_BLOCK, IN_ANY },
	{ "h5", TAG_KEEP, F_BLOCK, IN_ANY },
	{ "h6", TAG_KEEP, F_BLOCK, IN_ANY },
	{ "hr", TAG_VOID, F_BLOCK, IN_ANY },
	{ "i", TAG_KEEP, 0, IN_ANY },
	{ "img", TAG_VOID, F_IMG, IN_ANY },
	{ "kbd", TAG_KEEP, 0, IN_ANY },
	{ "li", TAG_KEEP, F_BLOCK | F_ITEM, IN_ANY },
	{ "ol", TAG_KEEP, F_BLOCK | F_LIST, IN_ANY },
	{ "p", TAG_KEEP, F_BLOCK, IN_ANY },
	{ "pre", TAG_KEEP, F_BLOCK | F_PRE, IN_ANY },
	{ "q", TAG_KEEP, 0, IN_ANY },
	{ "s", TAG_KEEP, 0, IN_ANY },
	{ "samp", TAG_KEEP, 0, IN_ANY },
	{ "span", TAG_KEEP, 0, IN_ANY },
	{ "strong", TAG_KEEP, 0, IN_ANY },
	{ "sub", TAG_KEEP, 0, IN_ANY },
	{ "sup", TAG_KEEP, 0, IN_ANY },
	{ "table", TAG_KEEP, F_BLOCK, IN_ANY },
	{ "tbody", TAG_KEEP, F_BLOCK, IN_TABLE },
	{ "td", TAG_KEEP, F_CELL, IN_ROW },
	{ "tfoot", TAG_KEEP, F_BLOCK, IN_TABLE },
	{ "th", TAG_KEEP, F_CELL, IN_ROW },
	{ "thead", TAG_KEEP, F_BLOCK, IN_TABLE },
	{ "tr", TAG_KEEP, F_BLOCK, IN_ROWGROUP },
	{ "u", TAG_KEEP, 0, IN_ANY },
	{ "ul", TAG_KEEP, F_BLOCK | F_LIST, IN_ANY },
	{ "var", TAG_KEEP, 0, IN_ANY },

	/* harmless wrappers: the text stays, the tag goes. Unknown tags are
	 * treated the same way; these are listed for their block flag or to
	 * say that they were considered. */
	{ "address", TAG_UNWRAP, F_BLOCK, IN_ANY },
	{ "article", TAG_UNWRAP, F_BLOCK, IN_ANY },
	{ "aside", TAG_UNWRAP, F_BLOCK, IN_ANY },
	{ "center", TAG_UNWRAP, F_BLOCK, IN_ANY },
	{ "details", TAG_UNWRAP, F_BLOCK, IN_ANY },
	{ "fieldset", TAG_UNWRAP, F_BLOCK, IN_ANY },
	{ "footer", TAG_UNWRAP, F_BLOCK, IN_ANY },
	{ "header", TAG_UNWRAP, F_BLOCK, IN_ANY },
	{ "hgroup", TAG_UNWRAP, F_BLOCK, IN_ANY },
	{ "main", TAG_UNWRAP, F_BLOCK, IN_ANY },
	{ "nav", TAG_UNWRAP, F_BLOCK, IN_ANY },
	{ "section", TAG_UNWRAP, F_BLOCK, IN_ANY },
	{ "summary", TAG_UNWRAP, F_BLOCK, IN_ANY },
	{ "big", TAG_UNWRAP, 0, IN_ANY },
	{ "body", TAG_UNWRAP, 0, IN_ANY },
	{ "del", TAG_UNWRAP, 0, IN_ANY },
	{ "font", TAG_UNWRAP, 0, IN_ANY },
	{ "html", TAG_UNWRAP, 0, IN_ANY },
	{ "ins", TAG_UNWRAP, 0, IN_ANY },
	{ "mark", TAG_UNWRAP, 0, IN_ANY },
	{ "small", TAG_UNWRAP, 0, IN_ANY },
	{ "time", TAG_UNWRAP, 0, IN_ANY },
	{ "tt", TAG_UNWRAP, 0, IN_ANY },

	/* embedded things no mail client plays or runs: what they hold is
	 * their fallback, written for a reader who cannot see them, which in
	 * mail is every reader (the tag and its src/data/srcdoc go). */
	{ "applet", TAG_UNWRAP, 0, IN_ANY },
	{ "audio", TAG_UNWRAP, 0, IN_ANY },
	{ "canvas", TAG_UNWRAP, 0, IN_ANY },
	{ "iframe", TAG_UNWRAP, 0, IN_ANY },
	{ "noembed", TAG_UNWRAP, 0, IN_ANY },
	{ "noframes", TAG_UNWRAP, 0, IN_ANY },
	{ "object", TAG_UNWRAP, 0, IN_ANY },
	{ "video", TAG_UNWRAP, 0, IN_ANY },
	/* void elements libxml2 2.9.14 does not know are void: it nests
	 * whatever follows inside them (the <img> after a <picture>'s
	 * <source>), so they are unwrapped to keep that. Nothing of their
	 * own is written. */
	{ "embed", TAG_UNWRAP, 0, IN_ANY },
	{ "source", TAG_UNWRAP, 0, IN_ANY },
	{ "track", TAG_UNWRAP, 0, IN_ANY },

	/* gone with everything inside: active content, forms, foreign
	 * content whose parsing rules differ, document metadata. noscript
	 * too: in feeds it holds analytics pixels that a browser with
	 * scripts never loads but a mail client would, on the reader's
	 * account, and "please enable JavaScript" notices. */
	{ "area", TAG_DROP, 0, IN_ANY },
	{ "base", TAG_DROP, 0, IN_ANY },
	{ "button", TAG_DROP, 0, IN_ANY },
	{ "col", TAG_DROP, 0, IN_ANY },
	{ "colgroup", TAG_DROP, 0, IN_ANY },
	{ "datalist", TAG_DROP, 0, IN_ANY },
	{ "dialog", TAG_DROP, 0, IN_ANY },
	{ "form", TAG_DROP, 0, IN_ANY },
	{ "frame", TAG_DROP, 0, IN_ANY },
	{ "frameset", TAG_DROP, 0, IN_ANY },
	{ "head", TAG_DROP, 0, IN_ANY },
	{ "input", TAG_DROP, 0, IN_ANY },
	{ "link", TAG_DROP, 0, IN_ANY },
	{ "map", TAG_DROP, 0, IN_ANY },
	{ "math", TAG_DROP, 0, IN_ANY },
	{ "meta", TAG_DROP, 0, IN_ANY },
	{ "noscript", TAG_DROP, 0, IN_ANY },
	{ "optgroup", TAG_DROP, 0, IN_ANY },
	{ "option", TAG_DROP, 0, IN_ANY },
	{ "param", TAG_DROP, 0, IN_ANY },
	{ "script", TAG_DROP, 0, IN_ANY },
	{ "select", TAG_DROP, 0, IN_ANY },
	{ "style", TAG_DROP, 0, IN_ANY },
	{ "svg", TAG_DROP, 0, IN_ANY },
	{ "template", TAG_DROP, 0, IN_ANY },
	{ "textarea", TAG_DROP, 0, IN_ANY },
	{ "title", TAG_DROP, 0, IN_ANY },
	{ "xml", TAG_DROP, 0, IN_ANY },
};

/* An unknown element is unwrapped: its text is harmless once escaped. */
static const struct tag unknown_tag = { "", TAG_UNWRAP, 0, IN_ANY };

static const struct tag *tag_find(const xmlChar *name)
{
	if (!name)
		return &unknown_tag;
	/* the parser lowercases names; first letters rule out most entries */
	char first = (char)((name[0] >= 'A' && name[0] <= 'Z') ?
			    name[0] - 'A' + 'a' : name[0]);
	for (size_t i = 0; i < sizeof tags / sizeof tags[0]; i++)
		if (tags[i].name[0] == first &&
		    strcasecmp(tags[i].name, (const char *)name) == 0)
			return &tags[i];
	return &unknown_tag;
}

/* The only attributes ever written, each at most once per tag. */
enum attr_kind { A_NONE, A_TEXT, A_URL, A_LINK, A_NUM };

static const char *const attr_names[] = {
	"title", "href", "src", "alt", "width", "height", "colspan", "rowspan",
};
#define ATTR_NAMES (sizeof attr_names / sizeof attr_names[0])

/* The position of attribute `name` in attr_names, or ATTR_NAMES: no other
 * attribute is ever looked at, so no other is kept from the parse. */
static size_t attr_index(const char *name)
{
	/* the first letter rules out most: this runs for every attribute */
	char first = (char)((name[0] >= 'A' && name[0] <= 'Z') ? name[0] - 'A' + 'a' : name[0]);
	size_t i = 0;
	while (i < ATTR_NAMES &&
	       (attr_names[i][0] != first || strcasecmp(attr_names[i], name)))
		i++;
	return i;
}

/* What attribute number i of attr_names is on tag t (A_NONE: not
 * allowed). */
static enum attr_kind attr_kind(const struct tag *t, size_t i)
{
	const char *a = attr_names[i];
	if (strcmp(a, "title") == 0)
		return A_TEXT;
	if (strcmp(t->name, "a") == 0)
		return strcmp(a, "href") == 0 ? A_LINK : A_NONE;
	if (strcmp(t->name, "img") == 0) {
		if (strcmp(a, "src") == 0)
			return A_URL;
		if (strcmp(a, "alt") == 0)
			return A_TEXT;
		if (strcmp(a, "width") == 0 || strcmp(a, "height") == 0)
			return A_NUM;
		return A_NONE;
	}
	if (t->flags & F_CELL)
		if (strcmp(a, "colspan") == 0 || strcmp(a, "rowspan") == 0)
			return A_NUM;
	return A_NONE;
}

/* ---- parsing ------------------------------------------------------------ */

/* Copies s[0..n) into out as valid UTF-8: NUL bytes are dropped and each
 * invalid byte becomes U+FFFD. Stops (between characters) at out's cap. */
static void utf8_repair(struct td_buf *out, const char *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		size_t run = i, len;
		uint32_t cp;
		/* whole runs of valid characters are copied at once */
		while (run < n && s[run] != '\0' &&
		       (len = td_utf8_next(s + run, n - run, &cp)) > 0)
			run += len;
		if (run > i) {
			size_t room = out->max - out->len;
			if (run - i > room) {
				size_t k = i + room;
				while (k > i && ((unsigned char)s[k] & 0xC0) == 0x80)
					k--;
				td_buf_append(out, s + i, k - i);
				return;
			}
			td_buf_append(out, s + i, run - i);
		}
		if (run < n) {
			if (s[run] != '\0' &&
			    td_buf_puts(out, UTF8_REPLACEMENT) < 0)
				return;
			run++;
		}
		i = run;
	}
}

/* ---- the parsed fragment ------------------------------------------------ */

/* What the parser reported, in document order: the DOM's walk, flat. An
 * element is its START, its content, its END; text is one TEXT for what a
 * DOM would hold in one text node or more (adjacent text is joined, which
 * every walk below would do itself). Comments, processing instructions,
 * doctypes and the raw text of script and style are not recorded: no walk
 * looks at them. */
enum ev_type { EV_START, EV_END, EV_TEXT };

struct ev {
	unsigned char type;
	const struct tag *tag;  /* START, END */
	uint32_t off, len;      /* TEXT: in frag.text; START: attrs[off..off+len) */
	uint32_t pair;          /* START: index of its END; END: of its START */
};

/* An attribute of the allowlist (attr_names[idx]); the others are not
 * kept. has_value: written with a value (an empty one included). */
struct fattr {
	unsigned char idx;
	bool has_value;
	uint32_t off, len;      /* in frag.text */
};

struct frag {
	struct ev *ev;
	size_t nev, cap;
	struct fattr *at;
	size_t nat, cap_at;
	struct td_buf text;     /* the bytes of texts and attribute values */
	uint32_t *open;         /* while recording: STARTs not yet ended */
	size_t nopen, cap_open;
	htmlParserCtxtPtr ctxt; /* recording through libxml2: its parser */
};

static void frag_init(struct frag *f)
{
	memset(f, 0, sizeof *f);
	td_buf_init(&f->text, TD_BUF_NOLIMIT);
}

static void frag_free(struct frag *f)
{
	free(f->ev);
	free(f->at);
	free(f->open);
	td_buf_free(&f->text);
	memset(f, 0, sizeof *f);
}

static struct ev *frag_push(struct frag *f, enum ev_type type)
{
	if (f->nev == f->cap) {
		f->cap = f->cap ? f->cap * 2 : 256;
		f->ev = td_xrealloc(f->ev, f->cap * sizeof *f->ev);
	}
	struct ev *e = &f->ev[f->nev++];
	memset(e, 0, sizeof *e);
	e->type = (unsigned char)type;
	return e;
}

static void frag_start(struct frag *f, const struct tag *t)
{
	if (f->nopen == f->cap_open) {
		f->cap_open = f->cap_open ? f->cap_open * 2 : 64;
		f->open = td_xrealloc(f->open, f->cap_open * sizeof *f->open);
	}
	f->open[f->nopen++] = (uint32_t)f->nev;
	struct ev *e = frag_push(f, EV_START);
	e->tag = t;
	e->off = (uint32_t)f->nat;
}

static void frag_attr(struct frag *f, size_t idx, const char *v, size_t n)
{
	if (f->nat == f->cap_at) {
		f->cap_at = f->cap_at ? f->cap_at * 2 : 64;
		f->at = td_xrealloc(f->at, f->cap_at * sizeof *f->at);
	}
	struct fattr *a = &f->at[f->nat++];
	a->idx = (unsigned char)idx;
	a->has_value = v != NULL;
	a->off = (uint32_t)f->text.len;
	a->len = (uint32_t)n;
	if (n)
		td_buf_append(&f->text, v, n);
	f->ev[f->nev - 1].len++;
}

static void frag_end(struct frag *f)
{
	if (f->nopen == 0)
		return;
	uint32_t start = f->open[--f->nopen];
	struct ev *e = frag_push(f, EV_END);
	e->tag = f->ev[start].tag;
	e->pair = start;
	f->ev[start].pair = (uint32_t)(f->nev - 1);
}

static void frag_text(struct frag *f, const char *p, size_t n)
{
	if (n == 0)
		return;
	struct ev *last = f->nev ? &f->ev[f->nev - 1] : NULL;
	if (!last || last->type != EV_TEXT) {
		last = frag_push(f, EV_TEXT);
		last->off = (uint32_t)f->text.len;
	}
	td_buf_append(&f->text, p, n);
	last->len += (uint32_t)n;
}

static const char *frag_str(const struct frag *f, uint32_t off)
{
	return f->text.data ? f->text.data + off : "";
}

/* The first attribute number idx of element i, or NULL. */
static const struct fattr *frag_attr_find(const struct frag *f, size_t i,
					  size_t idx)
{
	const struct ev *e = &f->ev[i];
	for (uint32_t k = e->off; k < e->off + e->len; k++)
		if (f->at[k].idx == idx)
			return &f->at[k];
	return NULL;
}

void td_html_init(void)
{
	xmlInitParser();
}

/* The SAX handlers that record into a frag (the parser's userData). */
/* libxml2 2.9's tree builder (nodePush) stops the parse when more than
 * this many nodes are open: the same cut, at the same place, without the
 * tree (see the top of the file). */
#define XML_MAX_OPEN 256

static void sax_start(void *ctx, const xmlChar *name, const xmlChar **atts)
{
	struct frag *f = ctx;
	if (f->ctxt && f->nopen > XML_MAX_OPEN) {
		xmlStopParser(f->ctxt);
		return;
	}
	frag_start(f, tag_find(name));
	for (size_t k = 0; atts && atts[k]; k += 2) {
		size_t idx = attr_index((const char *)atts[k]);
		if (idx < ATTR_NAMES)
			frag_attr(f, idx, (const char *)atts[k + 1],
				  atts[k + 1] ? strlen((const char *)atts[k + 1]) : 0);
	}
}

static void sax_end(void *ctx, const xmlChar *name)
{
	(void)name;
	frag_end(ctx);
}

static void sax_text(void *ctx, const xmlChar *p, int n)
{
	frag_text(ctx, (const char *)p, n > 0 ? (size_t)n : 0);
}

/* script and style content: not text, and never written */
static void sax_raw(void *ctx, const xmlChar *p, int n)
{
	(void)ctx;
	(void)p;
	(void)n;
}

/* ---- the fast path: HTML the parser would not repair ------------------- */

/*
 * Most feed HTML is plain well-formed markup: known tags, each closed in
 * order, quoted attributes, character references that end in ';'. For it
 * libxml2's tree is the tags as written, and this reads them into the frag
 * itself at a fraction of the parser's cost (its tokenizer takes about 60
 * instructions a byte). It reports what libxml2 2.9.14's HTML parser
 * reports, events for events (HTMLparser.c: htmlParseStartTag,
 * htmlParseEndTag, htmlParseReference, htmlParseScript, htmlAutoClose), on
 * the input it accepts; anything else, anything the parser would repair
 * or has an opinion on, makes it answer false and the parser reads the
 * whole fragment:
 *
 *  - bytes: invalid UTF-8, NUL, CR (line ends are the parser's), other C0
 *    controls but tab and LF, U+FFFE and U+FFFF, a byte order mark;
 *  - markup: comments, doctypes, PIs, a '<' that does not start a tag,
 *    names with '-', ':', '_' or '.', unquoted attribute values, a tag
 *    outside the list below (html, head and body included), an end tag
 *    that is not the innermost open element's, a start tag libxml2 would
 *    close the open element for (htmlAutoCloseTag asks libxml2's own
 *    table), elements left open at the end, nesting past FAST_MAX_DEPTH;
 *  - references: a named one libxml2 does not know or without ';', a
 *    numeric one without ';' or outside the characters plain_fragment()
 *    accepts.
 *
 * test_html.c holds the two paths to the same output on a corpus (a BOM
 * in front of a fragment sends it to the parser).
 */
#define FAST_MAX_DEPTH 64

enum fast_kind { FAST_NORMAL, FAST_VOID, FAST_RAW };

/* The elements the fast path reads, and how libxml2 2.9.14 parses them:
 * VOID are "empty" in its element table, RAW are its script and style. */
static const struct {
	const char *name;
	unsigned char kind;
} fast_tags[] = {
	{ "a", FAST_NORMAL }, { "abbr", FAST_NORMAL }, { "article", FAST_NORMAL },
	{ "aside", FAST_NORMAL }, { "b", FAST_NORMAL }, { "big", FAST_NORMAL },
	{ "blockquote", FAST_NORMAL }, { "br", FAST_VOID }, { "center", FAST_NORMAL },
	{ "cite", FAST_NORMAL }, { "code", FAST_NORMAL }, { "dd", FAST_NORMAL },
	{ "del", FAST_NORMAL }, { "div", FAST_NORMAL }, { "dl", FAST_NORMAL },
	{ "dt", FAST_NORMAL }, { "em", FAST_NORMAL }, { "figcaption", FAST_NORMAL },
	{ "figure", FAST_NORMAL }, { "footer", FAST_NORMAL }, { "h1", FAST_NORMAL },
	{ "h2", FAST_NORMAL }, { "h3", FAST_NORMAL }, { "h4", FAST_NORMAL },
	{ "h5", FAST_NORMAL }, { "h6", FAST_NORMAL }, { "header", FAST_NORMAL },
	{ "hr", FAST_VOID }, { "i", FAST_NORMAL }, { "iframe", FAST_NORMAL },
	{ "img", FAST_VOID }, { "ins", FAST_NORMAL }, { "kbd", FAST_NORMAL },
	{ "li", FAST_NORMAL }, { "main", FAST_NORMAL }, { "mark", FAST_NORMAL },
	{ "nav", FAST_NORMAL }, { "ol", FAST_NORMAL }, { "p", FAST_NORMAL },
	{ "pre", FAST_NORMAL }, { "q", FAST_NORMAL }, { "s", FAST_NORMAL },
	{ "samp", FAST_NORMAL }, { "script", FAST_RAW }, { "section", FAST_NORMAL },
	{ "small", FAST_NORMAL }, { "span", FAST_NORMAL }, { "strong", FAST_NORMAL },
	{ "style", FAST_RAW }, { "sub", FAST_NORMAL }, { "sup", FAST_NORMAL },
	{ "time", FAST_NORMAL }, { "tt", FAST_NORMAL }, { "u", FAST_NORMAL },
	{ "ul", FAST_NORMAL }, { "var", FAST_NORMAL },
};

static bool is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_alnum(char c)
{
	return is_alpha(c) || (c >= '0' && c <= '9');
}

/* libxml2's IS_BLANK_CH, without CR (refused before) */
static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n';
}

static bool is_name_punct(char c)
{
	return c == '-' || c == ':' || c == '_' || c == '.';
}

/* A tag or attribute name at s[*i..n), lowercased into out (at most
 * outsz - 1 bytes, well under the parser's 100); false when it is not one
 * the fast path reads. The parser's names (htmlParseHTMLName) go on with
 * '-', ':', '_' and '.': an attribute's name may hold them, a tag's not. */
static bool fast_name(const char *s, size_t n, size_t *i, char *out,
		      size_t outsz, bool attr)
{
	size_t k = 0, j = *i;
	if (j >= n || !is_alpha(s[j]))
		return false;
	while (j < n && (is_alnum(s[j]) || is_name_punct(s[j]))) {
		if (k + 1 >= outsz || (!attr && is_name_punct(s[j])))
			return false;
		char c = s[j++];
		out[k++] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
	}
	out[k] = '\0';
	*i = j;
	return true;
}

/* The bytes the fast path reads: valid UTF-8 without NUL, CR and the
 * other C0 controls but tab and LF, without U+FFFE and U+FFFF; no BOM. */
static bool fast_bytes_ok(const char *s, size_t n)
{
	if (n >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0)
		return false;
	for (size_t j = 0, len; j < n; j += len) {
		/* eight bytes of printable ASCII at once: none below 0x20 or
		 * from 0x80 on */
		while (n - j >= 8) {
			uint64_t x;
			memcpy(&x, s + j, 8);
			if (((x - 0x2020202020202020u) | x) & 0x8080808080808080u)
				break;
			j += 8;
		}
		if (j >= n)
			break;
		unsigned char d = (unsigned char)s[j];
		if (d < 0x80) {
			if (d < 0x20 && d != '\t' && d != '\n')
				return false;
			len = 1;
			continue;
		}
		uint32_t cp;
		if (!(len = td_utf8_next_slow(s + j, n - j, &cp)) ||
		    cp == 0xFFFE || cp == 0xFFFF)
			return false;
	}
	return true;
}

/* The character reference at s[*i] ('&'), decoded into out as the parser
 * would; false when the fast path does not read it. */
static bool fast_ref(const char *s, size_t n, size_t *i, struct td_buf *out)
{
	size_t j = *i + 1;
	if (j >= n || is_blank(s[j])) {
		/* a lone '&': the parser finds no name and writes it */
		td_buf_putc(out, '&');
		*i = j;
		return true;
	}
	uint32_t cp = 0;
	if (s[j] == '#') {
		j++;
		bool hex = j < n && (s[j] == 'x' || s[j] == 'X');
		if (hex)
			j++;
		size_t digits = 0;
		for (; j < n && s[j] != ';'; j++, digits++) {
			int d = (s[j] >= '0' && s[j] <= '9') ? s[j] - '0' :
				hex && s[j] >= 'a' && s[j] <= 'f' ? s[j] - 'a' + 10 :
				hex && s[j] >= 'A' && s[j] <= 'F' ? s[j] - 'A' + 10 : -1;
			if (d < 0 || digits >= 7)
				return false;
			cp = cp * (hex ? 16 : 10) + (uint32_t)d;
		}
		if (j >= n || digits == 0)
			return false;
		/* plain_fragment()'s range: the parser's own handling of the
		 * others is its business */
		if (cp < 0x20 || (cp >= 0x7F && cp < 0xA0) || cp > 0x10FFFF ||
		    (cp >= 0xD800 && cp <= 0xDFFF) || cp == 0xFFFE || cp == 0xFFFF)
			return false;
	} else {
		char name[32];
		size_t k = 0;
		while (j < n && is_alnum(s[j]) && k + 1 < sizeof name)
			name[k++] = s[j++];
		name[k] = '\0';
		if (k == 0 || j >= n || s[j] != ';')
			return false;
		const htmlEntityDesc *ent = htmlEntityLookup((const xmlChar *)name);
		if (!ent || ent->value == 0)
			return false;
		cp = ent->value;
	}
	td_utf8_put(out, cp);
	*i = j + 1;
	return true;
}

#define FAST_NTAGS (sizeof fast_tags / sizeof fast_tags[0])
#define FAST_BODY FAST_NTAGS    /* "body", in fast_cache's second index */

/* What one fast_fragment() call has asked libxml2 and our table already:
 * autoclose[next][open] 0 unknown, 1 no, 2 yes; each tag's struct tag. */
struct fast_cache {
	unsigned char autoclose[FAST_NTAGS][FAST_NTAGS + 1];
	const struct tag *tag[FAST_NTAGS];
};

static int fast_tag_find(const char *name)
{
	for (size_t k = 0; k < sizeof fast_tags / sizeof fast_tags[0]; k++)
		if (fast_tags[k].name[0] == name[0] && !strcmp(fast_tags[k].name, name))
			return (int)k;
	return -1;
}

/* Whether libxml2 closes the element `open` when `next` starts: its own
 * table, through the one public door to it (htmlAutoCloseTag() checks
 * htmlCheckAutoClose(elem->name, name) for an element without children). */
static bool fast_autocloses(const char *next, const char *open)
{
	xmlNode probe;
	memset(&probe, 0, sizeof probe);
	probe.type = XML_ELEMENT_NODE;
	probe.name = (const xmlChar *)next;
	return strcmp(next, open) == 0 ||
	       htmlAutoCloseTag(NULL, (const xmlChar *)open, &probe) != 0;
}

static bool fast_autocloses_cached(struct fast_cache *c, int next, int open)
{
	unsigned char *v = &c->autoclose[next][open];
	if (!*v)
		*v = fast_autocloses(fast_tags[next].name, open == (int)FAST_BODY ?
				     "body" : fast_tags[open].name) ? 2 : 1;
	return *v == 2;
}

/* Reads s[0..n) into f as libxml2 would report "<body>" + s; false (f
 * left to be reset) where it does not know that it would. */
static bool fast_fragment(const char *s, size_t n, struct frag *f)
{
	if (n > HTML_MAX_INPUT || !fast_bytes_ok(s, n))
		return false;
	struct fast_cache cache;
	memset(&cache, 0, sizeof cache);
	int names[FAST_MAX_DEPTH];             /* open, past html and body */
	size_t depth = 0;
	struct td_buf tmp = TD_BUF_INIT;
	bool ok = false;
	frag_start(f, tag_find((const xmlChar *)"html"));
	frag_start(f, tag_find((const xmlChar *)"body"));
	size_t i = 0;
	while (i < n) {
		unsigned char c = (unsigned char)s[i];
		if (c == '<') {
			char name[16];
			size_t j = i + 1;
			if (j < n && s[j] == '/') {
				/* an end tag: the innermost open element's */
				j++;
				if (!fast_name(s, n, &j, name, sizeof name, false) || j >= n ||
				    s[j] != '>' || depth == 0 ||
				    strcmp(fast_tags[names[depth - 1]].name, name))
					goto out;
				frag_end(f);
				depth--;
				i = j + 1;
				continue;
			}
			if (!fast_name(s, n, &j, name, sizeof name, false))
				goto out;
			int k = fast_tag_find(name);
			if (k < 0 || depth == FAST_MAX_DEPTH ||
			    fast_autocloses_cached(&cache, k, depth > 0 ? names[depth - 1] :
						   (int)FAST_BODY))
				goto out;
			if (!cache.tag[k])
				cache.tag[k] = tag_find((const xmlChar *)name);
			frag_start(f, cache.tag[k]);
			/* attributes, up to '>' or "/>" */
			bool selfclose = false;
			for (;;) {
				while (j < n && is_blank(s[j]))
					j++;
				if (j >= n)
					goto out;
				if (s[j] == '>') {
					j++;
					break;
				}
				if (s[j] == '/' && j + 1 < n && s[j + 1] == '>') {
					selfclose = true;
					j += 2;
					break;
				}
				char an[64];
				if (!fast_name(s, n, &j, an, sizeof an, true))
					goto out;
				while (j < n && is_blank(s[j]))
					j++;
				size_t idx = attr_index(an);
				/* the parser drops a second one of a name */
				if (idx < ATTR_NAMES && frag_attr_find(f, f->nev - 1, idx))
					idx = ATTR_NAMES;
				if (j >= n || s[j] != '=') {
					if (idx < ATTR_NAMES)
						frag_attr(f, idx, NULL, 0);
					continue;
				}
				j++;
				while (j < n && is_blank(s[j]))
					j++;
				if (j >= n || (s[j] != '"' && s[j] != '\''))
					goto out;
				char q = s[j++];
				td_buf_reset(&tmp);
				while (j < n && s[j] != q) {
					if (s[j] == '&') {
						if (!fast_ref(s, n, &j, &tmp))
							goto out;
						continue;
					}
					size_t r = j;
					while (r < n && s[r] != q && s[r] != '&')
						r++;
					td_buf_append(&tmp, s + j, r - j);
					j = r;
				}
				if (j >= n)
					goto out;
				j++;
				if (idx < ATTR_NAMES)
					frag_attr(f, idx, tmp.len ? tmp.data : "", tmp.len);
			}
			i = j;
			if (selfclose || fast_tags[k].kind == FAST_VOID) {
				frag_end(f);
				continue;
			}
			if (fast_tags[k].kind == FAST_RAW) {
				/* raw text up to the first "</" and a letter, which
				 * must end this element */
				size_t e = i;
				while (e + 2 < n && !(s[e] == '<' && s[e + 1] == '/' &&
						      is_alpha(s[e + 2])))
					e++;
				size_t tl = strlen(name);
				if (e + 2 >= n || e + 2 + tl >= n ||
				    strncasecmp(s + e + 2, name, tl) || s[e + 2 + tl] != '>')
					goto out;
				frag_end(f);
				i = e + 3 + tl;
				continue;
			}
			names[depth++] = k;
			continue;
		}
		if (c == '&') {
			td_buf_reset(&tmp);
			if (!fast_ref(s, n, &i, &tmp))
				goto out;
			frag_text(f, tmp.data, tmp.len);
			continue;
		}
		/* a run of text */
		size_t j = i;
		while (j < n && s[j] != '<' && s[j] != '&')
			j++;
		frag_text(f, s + i, j - i);
		i = j;
	}
	if (depth == 0) {
		frag_end(f);    /* body */
		frag_end(f);    /* html */
		ok = true;
	}
out:
	td_buf_free(&tmp);
	return ok;
}

static void slow_fragment(const char *html, size_t len, struct frag *f);

/* Parses a fragment into f (empty when there is nothing to parse). */
static void parse_fragment(const char *html, size_t len, struct frag *f)
{
	frag_init(f);
	if (!html || len == 0)
		return;
	if (fast_fragment(html, len, f)) {
#ifdef HTML_FAST_CHECK
		struct frag g;
		frag_init(&g);
		slow_fragment(html, len, &g);
		bool same = f->nev == g.nev && f->text.len == g.text.len &&
			    (f->text.len == 0 || !memcmp(f->text.data, g.text.data, f->text.len));
		for (size_t k = 0; same && k < f->nev; k++)
			same = f->ev[k].type == g.ev[k].type && f->ev[k].tag == g.ev[k].tag &&
			       f->ev[k].len == g.ev[k].len && f->ev[k].pair == g.ev[k].pair &&
			       (f->ev[k].type != EV_START || f->ev[k].off == g.ev[k].off);
		for (size_t k = 0; same && k < f->nat; k++)
			same = f->at[k].idx == g.at[k].idx && f->at[k].len == g.at[k].len &&
			       f->at[k].has_value == g.at[k].has_value;
		if (!same) {
			fprintf(stderr, "FAST MISMATCH (%zu/%zu events):\n%.*s\n", f->nev, g.nev, (int)len, html);
			abort();
		}
		frag_free(&g);
#endif
		return;
	}
	frag_free(f);
	frag_init(f);
	slow_fragment(html, len, f);
}

/* The parser's path for parse_fragment(); f is initialized. */
static void slow_fragment(const char *html, size_t len, struct frag *f)
{
	/* a byte order mark is not content; after our prefix it would be */
	if (len >= 3 && memcmp(html, "\xEF\xBB\xBF", 3) == 0)
		html += 3, len -= 3;
	/* A leading <body> makes the parser put leading text straight into
	 * body: on its own it would invent a <p> around it. */
	static const char prefix[] = "<body>";
	struct td_buf in;
	td_buf_init(&in, sizeof prefix - 1 + HTML_MAX_INPUT);
	td_buf_puts(&in, prefix);
	utf8_repair(&in, html, len);
	/* NONET: no fetching; IGNORE_ENC: a <meta charset> in the content
	 * must not switch the decoding of what follows; no NOBLANKS, since
	 * the spaces between inline tags are text; no NOIMPLIED, which in
	 * 2.9.14 nests sibling paragraphs inside each other. */
	int opts = HTML_PARSE_NONET | HTML_PARSE_NOERROR |
		   HTML_PARSE_NOWARNING | HTML_PARSE_NODEFDTD |
		   HTML_PARSE_IGNORE_ENC;
	htmlParserCtxtPtr ctxt = htmlNewParserCtxt();
	if (!ctxt) {
		td_buf_free(&in);
		return;
	}
	/* only our handlers: no startDocument, so no document is built */
	memset(ctxt->sax, 0, sizeof *ctxt->sax);
	ctxt->sax->startElement = sax_start;
	ctxt->sax->endElement = sax_end;
	ctxt->sax->characters = sax_text;
	ctxt->sax->ignorableWhitespace = sax_text;
	ctxt->sax->cdataBlock = sax_raw;
	ctxt->sax->initialized = 1;
	ctxt->userData = f;
	f->ctxt = ctxt;
	/* what htmlReadMemory() does, with this context */
	htmlDocPtr doc = htmlCtxtReadMemory(ctxt, in.data, (int)in.len, NULL,
					    "UTF-8", opts);
	if (doc)
		xmlFreeDoc(doc);
	htmlFreeParserCtxt(ctxt);
	f->ctxt = NULL;
	td_buf_free(&in);
	/* the parser closes what is open at the end; should it not have */
	while (f->nopen)
		frag_end(f);
}

/* ---- the walk ----------------------------------------------------------- */

enum walk_rc { WALK_SKIP, WALK_DESCEND, WALK_STOP };

struct walker {
	/* Called for every START and TEXT in document order. WALK_DESCEND
	 * visits an element's content and then calls leave() with its
	 * START. */
	enum walk_rc (*enter)(void *ctx, const struct frag *f, size_t i);
	void (*leave)(void *ctx, const struct frag *f, size_t i);
};

/* Walks the events f->ev[from..to) (a whole fragment, or an element's
 * content), without recursion. */
static void walk(const struct frag *f, size_t from, size_t to,
		 const struct walker *w, void *ctx)
{
	size_t i = from;
	while (i < to) {
		const struct ev *e = &f->ev[i];
		if (e->type == EV_END) {
			w->leave(ctx, f, e->pair);
			i++;
			continue;
		}
		enum walk_rc rc = w->enter(ctx, f, i);
		if (rc == WALK_STOP)
			return;
		i = (e->type == EV_START && rc == WALK_SKIP) ? e->pair + 1 : i + 1;
	}
}

/* ---- sanitizing ---------------------------------------------------------- */

/* An excerpt is cut by the length of its text as the plain-text side sees
 * it (see "plain text" below), so a texter follows the sanitizer's walk
 * and counts. */
struct texter;
static struct texter *counter_new(void);
static void counter_free(struct texter *t);
static bool text_upto(struct texter *t, const char *p, size_t n, size_t keep,
		      size_t *used);
static enum walk_rc text_enter(void *ctx, const struct frag *f, size_t i);
static void text_leave(void *ctx, const struct frag *f, size_t i);

struct sanitizer {
	struct td_buf out;
	struct td_buf tag;      /* the start tag being built */
	struct td_buf val;      /* one attribute value */
	struct td_buf url;      /* the safe form of href/src */
	const char *base;
	bool inline_only;       /* excerpt: only phrasing content, in a <p> */
	bool sep;               /* inline_only: a block ended, space before more */
	size_t start;           /* out.len when the walk began */
	bool full;              /* out reached HTML_MAX_OUTPUT, or the cut */
	struct texter *counter; /* cutting: the one-line text written so far */
	size_t keep;            /* cutting: its code points to write */
	size_t depth;
	struct {
		size_t node;    /* its START */
		const struct tag *tag;
	} open[HTML_MAX_DEPTH];
};

/* Appends p[0..n) to b unless that would take b past limit; text that may
 * be split is cut at a character boundary. False when the limit was hit. */
static bool put_limited(struct td_buf *b, const char *p, size_t n,
			size_t limit, bool splittable)
{
	if (b->len > limit)
		return false;
	if (n > limit - b->len) {
		if (splittable) {
			size_t k = limit - b->len;
			while (k > 0 && ((unsigned char)p[k] & 0xC0) == 0x80)
				k--;
			td_buf_append(b, p, k);
		}
		return false;
	}
	td_buf_append(b, p, n);
	return true;
}

/* HTML-escapes p[0..n) into b: & < > always, " too in attribute values.
 * Controls (td_is_control) are not HTML text and are dropped. False when
 * b reached limit. */
static bool put_escaped(struct td_buf *b, const char *p, size_t n,
			bool attr, size_t limit)
{
	size_t i = 0;
	while (i < n) {
		size_t j = i;
		unsigned char c = 0;
		while (j < n) {
			c = (unsigned char)p[j];
			if (c == '&' || c == '<' || c == '>' ||
			    (c == '"' && attr) || td_is_control(c))
				break;
			j++;
		}
		if (j > i && !put_limited(b, p + i, j - i, limit, true))
			return false;
		if (j == n)
			break;
		const char *ent = c == '&' ? "&amp;" : c == '<' ? "&lt;" :
				  c == '>' ? "&gt;" : c == '"' ? "&quot;" : "";
		if (!put_limited(b, ent, strlen(ent), limit, false))
			return false;
		i = j + 1;
	}
	return true;
}

bool td_html_put_escaped(struct td_buf *b, const char *s, size_t n, bool attr,
			 size_t limit)
{
	return put_escaped(b, s, n, attr, limit);
}

/* The text of an attribute into s->val; false when it is too long to be
 * anything we want. The HTML parser has already decoded entities. */
static bool attr_value(struct sanitizer *s, const struct frag *f,
		       const struct fattr *a)
{
	td_buf_reset(&s->val);
	return a->len == 0 ||
	       td_buf_append(&s->val, frag_str(f, a->off), a->len) >= 0;
}

/* Length of the scheme at the start of u ("http" in "http:..."), or 0. */
static size_t scheme_len(const char *u)
{
	size_t i = 0;
	if (!((u[0] >= 'a' && u[0] <= 'z') || (u[0] >= 'A' && u[0] <= 'Z')))
		return 0;
	while ((u[i] >= 'a' && u[i] <= 'z') || (u[i] >= 'A' && u[i] <= 'Z') ||
	       (u[i] >= '0' && u[i] <= '9') || u[i] == '+' || u[i] == '-' ||
	       u[i] == '.')
		i++;
	return u[i] == ':' ? i : 0;
}

static bool is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
	       (c >= 'A' && c <= 'F');
}

/* The safe absolute form of URL raw[0..n) into out, or false when there is
 * none. Browsers strip leading and trailing controls and spaces and ignore
 * tabs and line breaks anywhere ("java\tscript:"), so we do the same before
 * looking at the scheme; any other control means the URL is refused. The
 * characters that may not appear in a URI (spaces, non-ASCII, quotes) are
 * percent-encoded (a URL is one ASCII token in a digest). Only http and
 * https survive, and mailto where mailto_ok. */
/* The ASCII that may not appear in a URI as it is. */
static const bool url_escape[128] = {
	[' '] = true, ['"'] = true, ['<'] = true, ['>'] = true, ['\\'] = true,
	['^'] = true, ['`'] = true, ['{'] = true, ['|'] = true, ['}'] = true,
};

static bool safe_url(const char *raw, size_t n, const char *base,
		     bool mailto_ok, struct td_buf *out)
{
	static const char hex[] = "0123456789ABCDEF";
	while (n > 0 && (unsigned char)raw[0] <= 0x20)
		raw++, n--;
	while (n > 0 && (unsigned char)raw[n - 1] <= 0x20)
		n--;
	if (n == 0 || n > HTML_MAX_ATTR)
		return false;

	td_buf_reset(out);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)raw[i];
		if (c == '\t' || c == '\n' || c == '\r')
			continue;
		if (c < 0x20 || c == 0x7F)
			return false;
		if (c >= 0x80 || (c < 0x80 && url_escape[c]) ||
		    (c == '%' && !(i + 2 < n && is_hex(raw[i + 1]) &&
				   is_hex(raw[i + 2])))) {
			char pct[3] = { '%', hex[c >> 4], hex[c & 15] };
			td_buf_append(out, pct, sizeof pct);
		} else {
			td_buf_putc(out, (char)c);
		}
	}
	if (out->len == 0)
		return false;

	size_t sl = scheme_len(out->data);
	if (sl == 0) {
		/* relative: only meaningful against the feed's own URL, and
		 * the result goes through these checks again, without a base,
		 * so a strange base cannot smuggle anything in */
		if (!base || !*base)
			return false;
		char *abs = td_uri_resolve(base, out->data);
		bool ok = safe_url(abs, strlen(abs), NULL, mailto_ok, out);
		free(abs);
		return ok;
	}
	for (size_t i = 0; i < sl; i++)
		if (out->data[i] >= 'A' && out->data[i] <= 'Z')
			out->data[i] = (char)(out->data[i] - 'A' + 'a');
	if ((sl == 4 && strncmp(out->data, "http", 4) == 0) ||
	    (sl == 5 && strncmp(out->data, "https", 5) == 0))
		return true;
	return mailto_ok && sl == 6 && strncmp(out->data, "mailto", 6) == 0;
}

static char *safe_url_dup(const char *url, const char *base_url, bool mailto_ok)
{
	struct td_buf b = TD_BUF_INIT;
	if (!url || !safe_url(url, strlen(url), base_url, mailto_ok, &b)) {
		td_buf_free(&b);
		return NULL;
	}
	return td_buf_steal(&b);
}

char *td_html_safe_url(const char *url, const char *base_url)
{
	return safe_url_dup(url, base_url, false);
}

char *td_html_safe_link(const char *url, const char *base_url)
{
	return safe_url_dup(url, base_url, true);
}

/* A width, colspan and the like: 1 to 5 digits, spaces around ignored. */
static bool number_value(const char *v, size_t *from, size_t *len)
{
	size_t i = 0, n = strlen(v);
	while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == '\n' ||
			 v[i] == '\r' || v[i] == '\f'))
		i++;
	size_t j = i;
	while (j < n && v[j] >= '0' && v[j] <= '9')
		j++;
	size_t k = j;
	while (k < n && (v[k] == ' ' || v[k] == '\t' || v[k] == '\n' ||
			 v[k] == '\r' || v[k] == '\f'))
		k++;
	if (k != n || j == i || j - i > 5)
		return false;
	*from = i;
	*len = j - i;
	return true;
}

/* The safe URL of the first attribute named `name` into s->url. */
static bool find_url(struct sanitizer *s, const struct frag *f, size_t n,
		     const char *name, bool mailto_ok)
{
	const struct fattr *a = frag_attr_find(f, n, attr_index(name));
	return a && attr_value(s, f, a) &&
	       safe_url(s->val.data ? s->val.data : "", s->val.len, s->base,
			mailto_ok, &s->url);
}

/* ' name="' without going through printf: this runs for every attribute. */
static void put_attr_name(struct td_buf *b, const char *name)
{
	td_buf_putc(b, ' ');
	td_buf_puts(b, name);
	td_buf_append(b, "=\"", 2);
}

/* Builds the start tag of n in s->tag: allowed attributes in the order
 * they came, each once; the URL one already vetted in s->url, or left out
 * (with the link's rel) when there is none (!has_url). */
static void build_start_tag(struct sanitizer *s, const struct frag *f,
			    size_t n, const struct tag *t, bool has_url)
{
	unsigned seen = 0;
	td_buf_reset(&s->tag);
	td_buf_putc(&s->tag, '<');
	td_buf_puts(&s->tag, t->name);
	const struct ev *e = &f->ev[n];
	for (uint32_t ai = e->off; ai < e->off + e->len; ai++) {
		const struct fattr *a = &f->at[ai];
		size_t idx = a->idx;
		enum attr_kind k = attr_kind(t, idx);
		if (k == A_NONE || (seen & (1u << idx)) ||
		    ((k == A_URL || k == A_LINK) && !has_url))
			continue;
		seen |= 1u << idx;
		if (k == A_URL || k == A_LINK) {
			/* find_url() vetted the first one of this name */
			put_attr_name(&s->tag, attr_names[idx]);
			put_escaped(&s->tag, td_buf_cstr(&s->url), s->url.len,
				    true, TD_BUF_NOLIMIT);
			td_buf_putc(&s->tag, '"');
			continue;
		}
		if (!attr_value(s, f, a))
			continue;
		const char *v = td_buf_cstr(&s->val);
		size_t from = 0, len = s->val.len;
		if (k == A_NUM && !number_value(v, &from, &len))
			continue;
		put_attr_name(&s->tag, attr_names[idx]);
		put_escaped(&s->tag, v + from, len, true, TD_BUF_NOLIMIT);
		td_buf_putc(&s->tag, '"');
	}
	if ((t->flags & F_LINK) && has_url)
		td_buf_puts(&s->tag, " rel=\"noopener noreferrer\"");
	td_buf_putc(&s->tag, '>');
}

/* Whether table part t may open here; elsewhere it is unwrapped. */
static bool context_ok(const struct sanitizer *s, const struct tag *t)
{
	if (t->parent == IN_ANY)
		return true;
	if (s->depth == 0)
		return false;
	const char *up = s->open[s->depth - 1].tag->name;
	switch (t->parent) {
	case IN_TABLE:
		return strcmp(up, "table") == 0;
	case IN_ROWGROUP:
		return strcmp(up, "table") == 0 || strcmp(up, "thead") == 0 ||
		       strcmp(up, "tbody") == 0 || strcmp(up, "tfoot") == 0;
	case IN_ROW:
		return strcmp(up, "tr") == 0;
	default:
		return false;
	}
}

/* In an excerpt, a block boundary becomes one space, written only when
 * more content follows. */
static bool put_separator(struct sanitizer *s)
{
	if (s->sep && s->out.len > s->start) {
		s->sep = false;
		return put_limited(&s->out, " ", 1, HTML_MAX_OUTPUT, false);
	}
	s->sep = false;
	return true;
}

static enum walk_rc san_enter(void *ctx, const struct frag *f, size_t n)
{
	struct sanitizer *s = ctx;
	if (s->full)
		return WALK_STOP;
	/* comments, PIs, CDATA (the raw text of script/style) and doctypes
	 * are neither text nor elements, and are not recorded (frag) */
	const struct ev *e = &f->ev[n];
	if (e->type == EV_TEXT) {
		const char *text = frag_str(f, e->off);
		size_t len = e->len, use = len;
		bool cut = s->counter &&
			   text_upto(s->counter, text, len, s->keep, &use);
		if (!put_separator(s) ||
		    !put_escaped(&s->out, text, use, false, HTML_MAX_OUTPUT))
			s->full = true;
		if (cut && !s->full) {
			/* the excerpt ends here, inside whatever is open;
			 * output_init() left room for this */
			td_buf_puts(&s->out, "…");
			s->full = true;
		}
		return WALK_SKIP;
	}
	if (s->counter)
		text_enter(s->counter, f, n);

	const struct tag *t = e->tag;
	if (t->kind == TAG_DROP)
		return WALK_SKIP;
	bool blockish = (t->flags & (F_BLOCK | F_CELL)) != 0;
	if (s->inline_only && blockish) {
		s->sep = true;
		return WALK_DESCEND;
	}
	if (t->kind == TAG_UNWRAP || !context_ok(s, t))
		return WALK_DESCEND;
	if ((t->flags & F_IMG) && !find_url(s, f, n, "src", false))
		return WALK_SKIP;       /* an image without a safe source is nothing */
	bool has_url = !(t->flags & F_LINK) || find_url(s, f, n, "href", true);
	/* a link without a safe target is its text, and the title it
	 * carries, if any: a tooltip the author wrote, harmless in mail */
	if (!has_url && !frag_attr_find(f, n, attr_index("title")))
		return WALK_DESCEND;
	/* too deep: keep the content, lose the wrapper */
	if (t->kind == TAG_KEEP && s->depth >= HTML_MAX_DEPTH)
		return WALK_DESCEND;

	build_start_tag(s, f, n, t, has_url);
	if (!put_separator(s) ||
	    !put_limited(&s->out, s->tag.data, s->tag.len, HTML_MAX_OUTPUT,
			 false)) {
		s->full = true;
		return WALK_STOP;
	}
	if (t->kind == TAG_VOID)
		return WALK_SKIP;
	s->open[s->depth].node = n;
	s->open[s->depth].tag = t;
	s->depth++;
	return WALK_DESCEND;
}

static void close_top(struct sanitizer *s)
{
	s->depth--;
	/* the reserve past HTML_MAX_OUTPUT guarantees room for this */
	td_buf_append(&s->out, "</", 2);
	td_buf_puts(&s->out, s->open[s->depth].tag->name);
	td_buf_putc(&s->out, '>');
}

static void san_leave(void *ctx, const struct frag *f, size_t n)
{
	struct sanitizer *s = ctx;
	if (s->counter)
		text_leave(s->counter, f, n);
	if (s->depth > 0 && s->open[s->depth - 1].node == n)
		close_top(s);
	else if (s->inline_only &&
		 (f->ev[n].tag->flags & (F_BLOCK | F_CELL)))
		s->sep = true;
}

/* Writes the sanitized events f->ev[from..to) into out. An excerpt
 * (inline_only) stops after `keep` code points of its one-line text
 * (SIZE_MAX: all of it) with "…", and closes what is open. */
static void sanitize_tree(const struct frag *f, size_t from, size_t to,
			  const char *base, bool inline_only, size_t keep,
			  struct td_buf *out)
{
	static const struct walker w = { san_enter, san_leave };
	struct sanitizer s;
	memset(&s, 0, sizeof s);
	s.out = *out;
	s.start = out->len;
	td_buf_init(&s.tag, TD_BUF_NOLIMIT);
	td_buf_init(&s.val, HTML_MAX_ATTR);
	td_buf_init(&s.url, TD_BUF_NOLIMIT);
	s.base = base;
	s.inline_only = inline_only;
	/* the counter mirrors the walk only where both skip the same nodes:
	 * in an excerpt, blocks are descended into, never written */
	if (inline_only && keep != SIZE_MAX) {
		s.counter = counter_new();
		s.keep = keep;
	}
	walk(f, from, to, &w, &s);
	while (s.depth > 0)
		close_top(&s);
	counter_free(s.counter);
	td_buf_free(&s.tag);
	td_buf_free(&s.val);
	td_buf_free(&s.url);
	*out = s.out;
}

/* An output buffer with the room sanitize_tree() needs. */
static void output_init(struct td_buf *out)
{
	td_buf_init(out, HTML_MAX_OUTPUT + HTML_CLOSE_RESERVE + 16);
}

/* Everything written came from valid UTF-8 and was cut at character
 * boundaries; checked anyway, because a mistake here would put invalid
 * bytes into mail. */
static char *finish(struct td_buf *b)
{
	if (b->len > 0 && !td_utf8_valid(b->data, b->len)) {
		struct td_buf fixed;
		td_buf_init(&fixed, TD_BUF_NOLIMIT);
		utf8_repair(&fixed, b->data, b->len);
		td_buf_free(b);
		return td_buf_steal(&fixed);
	}
	return td_buf_steal(b);
}

/* ---- fragments without markup ------------------------------------------ */

/*
 * Many feed fields hold no markup at all: a WordPress summary is plain text
 * ending in "[&#8230;]". For those the HTML parser only decodes character
 * references, so we decode them here and skip it: that was most of what a
 * feed's ingest cost. Anything this does not fully understand (a '<', a
 * named entity beyond the basic ones, a reference to a control character,
 * invalid UTF-8, a BOM, NUL) answers false and takes the parser's path,
 * and a test holds both paths to the same output (it puts a BOM, which
 * the parser drops, in front of a fragment to take the parser's path).
 */
static bool plain_fragment(const char *s, size_t n, struct td_buf *text)
{
	static const struct { const char *name; uint32_t cp; } named[] = {
		{ "amp", '&' }, { "lt", '<' }, { "gt", '>' }, { "quot", '"' },
		{ "apos", '\'' }, { "nbsp", 0xA0 },
	};
	if (n == 0 || memchr(s, '<', n) || memchr(s, '\0', n) ||
	    (n >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0) || !td_utf8_valid(s, n))
		return false;
	bool visible = false;
	for (size_t i = 0; i < n;) {
		unsigned char c = (unsigned char)s[i];
		if (c != '&') {
			if (c < 0x20 && c != '\t' && c != '\n' && c != '\r')
				return false;
			if (c > ' ')
				visible = true;
			td_buf_putc(text, (char)c);
			i++;
			continue;
		}
		const char *semi = memchr(s + i, ';', n - i < 12 ? n - i : 12);
		if (!semi)
			return false;
		const char *ref = s + i + 1;
		size_t rlen = (size_t)(semi - ref);
		uint32_t cp = 0;
		if (rlen >= 2 && ref[0] == '#') {
			bool hex = ref[1] == 'x' || ref[1] == 'X';
			size_t k = hex ? 2 : 1;
			if (k == rlen)
				return false;
			for (; k < rlen; k++) {
				int d = isdigit((unsigned char)ref[k]) ? ref[k] - '0' :
					hex && isxdigit((unsigned char)ref[k]) ?
					(tolower((unsigned char)ref[k]) - 'a' + 10) : -1;
				if (d < 0 || cp > 0x10FFFF)
					return false;
				cp = cp * (hex ? 16 : 10) + (uint32_t)d;
			}
			/* the parser's own handling of these is its business */
			if (cp < 0x20 || (cp >= 0x7F && cp < 0xA0) || cp > 0x10FFFF ||
			    (cp >= 0xD800 && cp <= 0xDFFF))
				return false;
		} else {
			size_t k = 0;
			while (k < sizeof named / sizeof named[0] &&
			       !(strlen(named[k].name) == rlen &&
				 memcmp(named[k].name, ref, rlen) == 0))
				k++;
			if (k == sizeof named / sizeof named[0])
				return false;
			cp = named[k].cp;
		}
		td_utf8_put(text, cp);
		visible = true;
		i = (size_t)(semi - s) + 1;
	}
	/* whitespace alone: let the parser decide what it is */
	return visible;
}

static char *sanitize_parsed(const char *html, size_t len, const char *base_url);

char *td_html_sanitize(const char *html, size_t len, const char *base_url)
{
	struct td_buf text = TD_BUF_INIT;
	if (len <= HTML_MAX_OUTPUT && plain_fragment(html, len, &text)) {
		struct td_buf out;
		output_init(&out);
		put_escaped(&out, td_buf_cstr(&text), text.len, false, HTML_MAX_OUTPUT);
		td_buf_free(&text);
		return finish(&out);
	}
	td_buf_free(&text);
	return sanitize_parsed(html, len, base_url);
}

static char *sanitize_parsed(const char *html, size_t len, const char *base_url)
{
	struct td_buf out;
	output_init(&out);
	struct frag f;
	parse_fragment(html, len, &f);
	sanitize_tree(&f, 0, f.nev, base_url, false, SIZE_MAX, &out);
	frag_free(&f);
	return finish(&out);
}

/* ---- plain text ------------------------------------------------------------ */

struct texter {
	struct td_buf out;
	size_t chars;           /* code points in out */
	bool one_line;          /* excerpt: breaks are spaces, no images */
	bool full;
	int brk;                /* line breaks owed before more text: 0-2 */
	bool space;             /* a space owed before more text */
	bool bullet;            /* a "- " owed before more text */
	bool pre_start;         /* just inside <pre>: its first newline is markup */
	int pre;                /* <pre> nesting */
	int lists;              /* ul/ol nesting */
};

static bool is_space_cp(uint32_t cp)
{
	/* U+00A0 counts: feeds use &nbsp; runs and "<p>&nbsp;</p>" as layout */
	return cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r' ||
	       cp == '\f' || cp == '\v' || cp == 0xA0;
}

static void text_put(struct texter *t, const char *p, size_t n)
{
	if (!t->full && !put_limited(&t->out, p, n, HTML_MAX_OUTPUT, false))
		t->full = true;
	else if (!t->full)
		t->chars += td_utf8_count(p, n);
}

/* Writes what is owed (breaks, a space, a bullet) before visible text. */
static void text_flush(struct texter *t)
{
	if (t->out.len > 0) {
		if (t->brk > 0 && !t->one_line) {
			/* no trailing blanks on a line; count newlines that are
			 * already there (a <pre> may end with one) */
			while (t->out.len > 0 &&
			       (t->out.data[t->out.len - 1] == ' ' ||
				t->out.data[t->out.len - 1] == '\t'))
				t->out.data[--t->out.len] = '\0';
			int have = 0;
			for (size_t i = t->out.len; i > 0 && have < 2 &&
			     t->out.data[i - 1] == '\n'; i--)
				have++;
			for (; have < t->brk; have++)
				text_put(t, "\n", 1);
		} else if (t->brk > 0 || t->space) {
			char last = t->out.data[t->out.len - 1];
			if (last != ' ' && last != '\n')
				text_put(t, " ", 1);
		}
	}
	if (t->bullet && !t->one_line) {
		for (int i = 1; i < t->lists; i++)
			text_put(t, "  ", 2);
		text_put(t, "- ", 2);
	}
	t->brk = 0;
	t->space = false;
	t->bullet = false;
}

/* Text content: whitespace runs become one space (owed, so none at the
 * ends of lines), except inside <pre>. */
static void text_add(struct texter *t, const char *p, size_t n)
{
	bool literal = t->pre > 0 && !t->one_line;
	size_t i = 0;
	while (i < n && !t->full) {
		uint32_t cp;
		size_t len = td_utf8_next(p + i, n - i, &cp);
		if (len == 0) {         /* cannot happen after utf8_repair */
			i++;
			continue;
		}
		if (literal && t->pre_start && cp == '\n') {
			t->pre_start = false;
			i += len;
			continue;
		}
		t->pre_start = false;
		if (!literal && is_space_cp(cp)) {
			t->space = true;
		} else if (cp == '\r' || td_is_control(cp)) {
			/* not text */
		} else {
			text_flush(t);
			text_put(t, p + i, len);
		}
		i += len;
	}
}

/* Owe a break of `level` newlines; inside lists one is enough. */
static void text_break(struct texter *t, int level)
{
	if (level > 1 && t->lists > 0)
		level = 1;
	if (t->brk < level)
		t->brk = level;
	t->space = false;
}

static void text_img(struct texter *t, const struct frag *f, size_t n)
{
	const struct fattr *alt = frag_attr_find(f, n, attr_index("alt"));
	if (!alt)
		return;
	const char *a = frag_str(f, alt->off);
	size_t len = alt->len, from = 0;
	/* only the alt text's ends are trimmed here: the inside collapses
	 * in text_add() */
	uint32_t cp;
	size_t k;
	while (from < len && (k = td_utf8_next(a + from, len - from, &cp)) &&
	       is_space_cp(cp))
		from += k;
	size_t to = len;
	while (to > from) {
		size_t st = to - 1;
		while (st > from && ((unsigned char)a[st] & 0xC0) == 0x80)
			st--;
		if (!td_utf8_next(a + st, to - st, &cp) || !is_space_cp(cp))
			break;
		to = st;
	}
	if (to > from) {
		text_add(t, "[", 1);
		text_add(t, a + from, to - from);
		text_add(t, "]", 1);
	}
}

static enum walk_rc text_enter(void *ctx, const struct frag *f, size_t n)
{
	struct texter *t = ctx;
	if (t->full)
		return WALK_STOP;
	const struct ev *e = &f->ev[n];
	if (e->type == EV_TEXT) {
		text_add(t, frag_str(f, e->off), e->len);
		return WALK_SKIP;
	}
	const struct tag *g = e->tag;
	if (g->kind == TAG_DROP)
		return WALK_SKIP;
	if (g->flags & F_BR) {
		if (t->one_line)
			t->space = true;
		else if (t->brk < 2)
			t->brk++;       /* two <br> make an empty line */
		return WALK_SKIP;
	}
	if (g->flags & F_IMG) {
		if (!t->one_line)
			text_img(t, f, n);
		return WALK_SKIP;
	}
	if (g->flags & F_CELL)
		t->space = true;
	if (g->flags & F_BLOCK)
		text_break(t, (g->flags & F_ITEM) ? 1 : 2);
	if (g->flags & F_ITEM)
		t->bullet = true;
	if (g->flags & F_LIST)
		t->lists++;
	if (g->flags & F_PRE) {
		t->pre++;
		t->pre_start = true;
	}
	return WALK_DESCEND;
}

static void text_leave(void *ctx, const struct frag *f, size_t n)
{
	struct texter *t = ctx;
	const struct tag *g = f->ev[n].tag;
	if (g->flags & F_LIST)
		t->lists--;
	if (g->flags & F_PRE) {
		t->pre--;
		t->pre_start = false;
	}
	if (g->flags & F_ITEM)
		t->bullet = false;      /* an empty item writes nothing */
	if (g->flags & F_CELL)
		t->space = true;
	if (g->flags & F_BLOCK)
		text_break(t, (g->flags & F_ITEM) ? 1 : 2);
}

static void texter_init(struct texter *t, bool one_line)
{
	memset(t, 0, sizeof *t);
	td_buf_init(&t->out, HTML_MAX_OUTPUT);
	t->one_line = one_line;
}

/* A one-line texter for counting the text an excerpt writes. */
static struct texter *counter_new(void)
{
	struct texter *t = td_xmalloc(sizeof *t);
	texter_init(t, true);
	return t;
}

static void counter_free(struct texter *t)
{
	if (t) {
		td_buf_free(&t->out);
		free(t);
	}
}

/* Feeds p[0..n) to t until its text holds keep code points; *used gets
 * the bytes taken. True when keep was reached. */
static bool text_upto(struct texter *t, const char *p, size_t n, size_t keep,
		      size_t *used)
{
	size_t i = 0;
	while (i < n && t->chars < keep) {
		uint32_t cp;
		size_t len = td_utf8_next(p + i, n - i, &cp);
		if (len == 0)
			len = 1;
		text_add(t, p + i, len);
		i += len;
	}
	*used = i;
	return t->chars >= keep;
}

/* The text of the events f->ev[from..to); trimmed, so "" when there is
 * none. */
static char *tree_text(const struct frag *f, size_t from, size_t to,
		       bool one_line)
{
	static const struct walker w = { text_enter, text_leave };
	struct texter t;
	texter_init(&t, one_line);
	walk(f, from, to, &w, &t);
	/* leading blanks can only come from <pre>; trailing ones too */
	while (t.out.len > 0 && (t.out.data[t.out.len - 1] == ' ' ||
				 t.out.data[t.out.len - 1] == '\t' ||
				 t.out.data[t.out.len - 1] == '\n'))
		t.out.data[--t.out.len] = '\0';
	size_t lead = 0;
	while (lead < t.out.len && (t.out.data[lead] == ' ' ||
				    t.out.data[lead] == '\t' ||
				    t.out.data[lead] == '\n'))
		lead++;
	if (lead > 0) {
		memmove(t.out.data, t.out.data + lead, t.out.len - lead + 1);
		t.out.len -= lead;
	}
	return finish(&t.out);
}

char *td_html_to_text(const char *html, size_t len)
{
	struct frag f;
	parse_fragment(html, len, &f);
	char *text = tree_text(&f, 0, f.nev, false);
	frag_free(&f);
	return text;
}

/* ---- excerpt ---------------------------------------------------------------- */

struct para_finder {
	bool found;
	size_t from, to;        /* its content */
	char *text;             /* its one-line text */
};

static enum walk_rc para_enter(void *ctx, const struct frag *fr, size_t n)
{
	struct para_finder *f = ctx;
	const struct ev *e = &fr->ev[n];
	if (e->type != EV_START)
		return WALK_SKIP;
	const struct tag *t = e->tag;
	if (t->kind == TAG_DROP)
		return WALK_SKIP;
	if (strcmp(t->name, "p") != 0)
		return WALK_DESCEND;
	char *text = tree_text(fr, n + 1, e->pair, true);
	if (*text) {
		f->found = true;
		f->from = n + 1;
		f->to = e->pair;
		f->text = text;
		return WALK_STOP;
	}
	free(text);
	return WALK_SKIP;       /* the parser never nests paragraphs */
}

static void para_leave(void *ctx, const struct frag *f, size_t n)
{
	(void)ctx;
	(void)f;
	(void)n;
}

/* Bytes of text to keep so that it holds at most max code points and ends
 * at a word boundary when there is one; trailing spaces and the
 * punctuation that would sit badly before "…" are dropped. */
static size_t cut_point(const char *text, size_t len, size_t max)
{
	size_t off = 0, count = 0;
	while (off < len && count < max) {
		off++;
		while (off < len && ((unsigned char)text[off] & 0xC0) == 0x80)
			off++;
		count++;
	}
	size_t cut = off;
	if (off < len && text[off] != ' ') {
		/* mid-word: back to the last space; a single overlong word
		 * is cut where it is */
		size_t sp = off;
		while (sp > 0 && text[sp - 1] != ' ')
			sp--;
		if (sp > 0)
			cut = sp;
	}
	size_t end = cut;
	while (end > 0 && strchr(" ,;:", text[end - 1]))
		end--;
	return end > 0 ? end : off;
}

/* One line: runs of white space (U+00A0 too) become one space, trimmed;
 * controls go, as in text_add(). It stops once it holds `most` code
 * points (SIZE_MAX: never): a cut to max_chars looks at no more than
 * cut_room(max_chars) of them. */
static char *one_line_text(const char *s, size_t n, size_t most)
{
	struct td_buf b = TD_BUF_INIT;
	bool space = false;
	size_t count = 0;
	for (size_t i = 0, k; i < n && count < most; i += k) {
		uint32_t cp;
		k = td_utf8_next(s + i, n - i, &cp);
		if (k == 0) {           /* an invalid byte: kept as it is */
			k = 1;
			cp = 0xFFFD;
		}
		if (is_space_cp(cp)) {
			space = b.len > 0;
			continue;
		}
		if (k == 1 && td_is_control(cp))
			continue;
		if (space) {
			td_buf_putc(&b, ' ');
			count++;
		}
		space = false;
		/* a run of printable ASCII goes in at once */
		if (k == 1)
			while (i + k < n && k < most - count &&
			       (unsigned char)s[i + k] > ' ' && (unsigned char)s[i + k] < 0x7F)
				k++;
		td_buf_append(&b, s + i, k);
		count += (unsigned char)s[i] < 0x80 ? k : 1;
	}
	return td_buf_steal(&b);
}

/* The code points of one-line text that cutting it to max code points
 * depends on: whether there are more than max, and the one after the
 * max-th (is the cut inside a word?). */
static size_t cut_room(size_t max)
{
	return max > 0 && max < SIZE_MAX - 2 ? max + 2 : SIZE_MAX;
}

/* Cuts one line of text (malloc'd; consumed) to at most max code points
 * at a word boundary and appends "…"; unchanged when it fits or max is 0.
 * *kept gets how many of its code points stay before the "…". */
static char *cut_line(char *text, size_t max, size_t *kept)
{
	size_t len = strlen(text), n = td_utf8_count(text, len);
	if (max == 0 || n <= max) {
		*kept = n;
		return text;
	}
	size_t cut = cut_point(text, len, max);
	*kept = td_utf8_count(text, cut);
	text = td_xrealloc(text, cut + sizeof "…");
	memcpy(text + cut, "…", sizeof "…");
	return text;
}

char *td_html_cut_text(const char *text, size_t max_chars)
{
	size_t kept;
	return cut_line(one_line_text(text, strlen(text), cut_room(max_chars)),
			max_chars, &kept);
}

/* Bytes of raw text whose one-line text holds its first `kept` code
 * points: where an excerpt writer stops. */
static size_t bytes_kept(const char *raw, size_t len, size_t kept)
{
	struct texter *t = counter_new();
	size_t use;
	text_upto(t, raw, len, kept, &use);
	counter_free(t);
	return use;
}

size_t td_html_cut_bytes(const char *text, size_t len, size_t max_chars)
{
	char *line = one_line_text(text, len, cut_room(max_chars));
	size_t total = td_utf8_count(line, strlen(line)), kept;
	free(cut_line(line, max_chars, &kept));
	return kept < total ? bytes_kept(text, len, kept) : len;
}

/* The shortcut's excerpt: the text as it stands (as the parser's path
 * keeps it), up to the cut. */
static void excerpt_of_text(const struct td_buf *plain, size_t max_chars,
			    struct td_buf *html, char **text_out)
{
	char *text = one_line_text(td_buf_cstr(plain), plain->len,
				   cut_room(max_chars));
	size_t total = td_utf8_count(text, strlen(text)), kept;
	text = cut_line(text, max_chars, &kept);
	if (*text) {
		size_t use = kept < total ?
			     bytes_kept(td_buf_cstr(plain), plain->len, kept) :
			     plain->len;
		td_buf_puts(html, "<p>");
		put_escaped(html, td_buf_cstr(plain), use, false, HTML_MAX_OUTPUT);
		if (kept < total)
			td_buf_puts(html, "…");
		td_buf_puts(html, "</p>");
	}
	*text_out = text;
}

void td_html_excerpt(const char *safe_html, size_t len, size_t max_chars,
		     char **excerpt_html, char **excerpt_text)
{
	struct td_buf html;
	output_init(&html);
	char *text = NULL;
	struct td_buf plain = TD_BUF_INIT;
	bool parsed = false;
	struct frag doc;
	if (len <= HTML_MAX_OUTPUT && plain_fragment(safe_html, len, &plain)) {
		excerpt_of_text(&plain, max_chars, &html, &text);
	} else {
		parse_fragment(safe_html, len, &doc);
		parsed = true;
	}
	td_buf_free(&plain);
	if (parsed) {
		static const struct walker w = { para_enter, para_leave };
		struct para_finder f = { false, 0, 0, NULL };
		walk(&doc, 0, doc.nev, &w, &f);
		if (!f.found) {
			/* no paragraph with text: the whole fragment */
			f.from = 0;
			f.to = doc.nev;
			f.text = tree_text(&doc, 0, doc.nev, true);
		}
		size_t total = td_utf8_count(f.text, strlen(f.text)), kept;
		text = cut_line(f.text, max_chars, &kept);
		if (*text) {
			/* the paragraph's own markup, made safe again, kept to
			 * what a <p> may hold, and cut where the text is */
			td_buf_puts(&html, "<p>");
			sanitize_tree(&doc, f.from, f.to, NULL, true,
				      kept < total ? kept : SIZE_MAX, &html);
			td_buf_puts(&html, "</p>");
		}
		frag_free(&doc);
	}
	if (!text)
		text = td_xstrdup("");
	if (excerpt_text)
		*excerpt_text = text;
	else
		free(text);
	if (excerpt_html)
		*excerpt_html = finish(&html);
	else
		td_buf_free(&html);
}

char *td_html_cut(const char *safe_html, size_t len, size_t max_chars)
{
	/* text is never longer than the markup that holds it: when the
	 * whole fragment has no more code points than max_chars, it fits */
	if (max_chars == 0 || td_utf8_count(safe_html, len) <= max_chars)
		return td_xstrndup(safe_html, len);
	char *html;
	td_html_excerpt(safe_html, len, max_chars, &html, NULL);
	return html;
}
