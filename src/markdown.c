/*
 * markdown.c: Markdown post bodies to HTML, plain text and an excerpt.
 *
 * This is the only file that includes cmark. HTML comes from cmark's own
 * renderer in its default safe mode (raw HTML and javascript: links are
 * neutralised; we never pass CMARK_OPT_UNSAFE). cmark has no plain-text
 * renderer, so the text/plain side is written here as one walk over the
 * tree with cmark_iter: inline content of a paragraph or heading is
 * collected into a buffer, then word-wrapped behind a stack of prefixes
 * ("> " for quotes, "1. "/"- " markers and their continuation indent for
 * list items). Links to http/https/mailto get a " [n]" reference and a
 * "Links:" list at the end, which is what a mail reader can follow.
 *
 * Widths are the columns a terminal shows (td_utf8_width: East Asian wide
 * characters take two, combining marks none), and text without spaces
 * (Chinese, Japanese) may break between its characters
 * (td_utf8_unbreakable), as in the digest's text part.
 *
 * cmark 0.30 takes time quadratic in the nesting depth of containers for
 * some inputs (blank lines in deep lists, emphasis in deep quotes: fixed
 * upstream in 0.31 for GHSA-66g8-4hjf-77xh) and in the image brackets a
 * paragraph leaves open (CVE-2023-22486, fixed in 0.30.3): a 350 KB post
 * took minutes. bound_input() rewrites those inputs before cmark sees
 * them; posts that stay within the bounds reach cmark byte for byte.
 */
#include "tagdigest/markdown.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmark.h>

#include "tagdigest/buf.h"
#include "tagdigest/util.h"

#define MD_OPTS (CMARK_OPT_SMART | CMARK_OPT_VALIDATE_UTF8)

/* A hostile body can nest thousands of quotes or lists; repeating every
 * level's prefix on every line would make the output quadratic in the
 * input. Levels deeper than this still render, just without more indent. */
#define MD_MAX_LEVELS 16

/* Bound on the rendered text; 16 MiB is far beyond any real post (posts
 * are capped at 1 MiB) and keeps pathological input from running away. */
#define MD_MAX_OUT ((size_t)16 << 20)

/* What reaches cmark, per line: at most this many container markers
 * ('>', list markers) and this many columns up to the last of them, so no
 * container is nested deeper than about MD_MAX_PREFIX (a marker takes at
 * least one column, a list item's continuation two). */
#define MD_MAX_MARKERS 32
#define MD_MAX_PREFIX 64
/* Image brackets ("![") that may stay open in one block of lines; past
 * this they are escaped ("!\["), which cmark shows as the same text. */
#define MD_MAX_OPEN_IMAGES 64

enum level_kind { LV_QUOTE, LV_LIST, LV_ITEM };

struct level {
	enum level_kind kind;
	char marker[24];   /* LV_ITEM: "- " or "12. " */
	size_t marker_w;   /* its width, also the continuation indent */
	int used;          /* LV_ITEM: marker already printed on a line */
	long number;       /* LV_LIST: number of the next ordered item */
	int ordered;       /* LV_LIST */
	char delim;        /* LV_LIST: '.' or ')' */
};

struct render {
	struct td_buf out;       /* finished text */
	struct td_buf para;      /* inline content of the current block */
	struct td_buf line;      /* scratch for one output line */
	struct level lv[MD_MAX_LEVELS];
	size_t nlv;
	size_t deep;             /* container levels beyond MD_MAX_LEVELS */
	int need_blank;          /* a blank line is due before the next block */
	int numbering;           /* link references on (off for the excerpt) */
	int oneline;             /* hard breaks become spaces (excerpt) */
	int in_image;
	int in_link;
	size_t link_start;       /* para offset where the link text began */
	struct td_strv links;    /* URLs; reference n is links.v[n-1] */
	size_t *slots;           /* hash of links: index + 1, 0 = empty */
	size_t nslots;           /* a power of two, or 0 */
	int full;                /* some buffer hit its cap */
	size_t width;
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

/* Text from cmark, without the control characters the posts' authors
 * cannot see in their editor (and nor should the reader). */
static void put_text(struct render *r, struct td_buf *b, const char *s,
		     size_t n)
{
	size_t i = 0, j;
	while (i < n) {
		for (j = i; j < n && !td_is_control((unsigned char)s[j]); j++)
			;
		put(r, b, s + i, j - i);
		i = j + 1;
	}
}

/* Prefix width is the same for the first and later lines of a block: an
 * item's continuation indent is as wide as its marker. */
static size_t prefix_width(const struct render *r)
{
	size_t w = 0;
	for (size_t i = 0; i < r->nlv; i++) {
		if (r->lv[i].kind == LV_QUOTE)
			w += 2;
		else if (r->lv[i].kind == LV_ITEM)
			w += r->lv[i].marker_w;
	}
	return w;
}

/*
 * Writes the prefix for one line into r->line. A content line prints the
 * marker of an item that has not shown it yet (and marks it shown); a
 * blank line stops before such an item, because the blank belongs above
 * the marker, not inside the item.
 */
static void build_prefix(struct render *r, int blank)
{
	td_buf_reset(&r->line);
	for (size_t i = 0; i < r->nlv; i++) {
		struct level *l = &r->lv[i];
		if (l->kind == LV_QUOTE) {
			puts_(r, &r->line, "> ");
		} else if (l->kind == LV_ITEM) {
			if (!l->used && blank)
				break;
			if (!l->used) {
				puts_(r, &r->line, l->marker);
				l->used = 1;
			} else {
				for (size_t k = 0; k < l->marker_w; k++)
					puts_(r, &r->line, " ");
			}
		}
	}
}

/* Trailing blanks are trimmed from every line: they are invisible, and
 * mail transports treat trailing white space badly. */
static void end_line(struct render *r)
{
	while (r->line.len > 0 && r->line.data[r->line.len - 1] == ' ')
		r->line.len--;
	put(r, &r->out, td_buf_cstr(&r->line), r->line.len);
	put(r, &r->out, "\n", 1);
	td_buf_reset(&r->line);
}

static void emit_line(struct render *r, const char *s, size_t n)
{
	build_prefix(r, 0);
	put(r, &r->line, s, n);
	end_line(r);
}

/* Called before anything a block prints: settles the pending blank line. */
static void block_start(struct render *r)
{
	if (r->need_blank && r->out.len > 0) {
		build_prefix(r, 1);
		end_line(r);
	}
	r->need_blank = 0;
}

/* Blocks are separated by a blank line, except inside the items of a
 * tight list, which stay together as the author wrote them. */
static int blank_after(cmark_node *n)
{
	cmark_node *parent = cmark_node_parent(n);
	if (parent && cmark_node_get_type(parent) == CMARK_NODE_ITEM) {
		cmark_node *list = cmark_node_parent(parent);
		if (list && cmark_node_get_list_tight(list))
			return 0;
	}
	return 1;
}

/*
 * Greedy word wrap of r->para at r->width columns (prefix included; 0
 * means no wrapping). Words are never split, except CJK text between its
 * characters, so a long URL gets a line of its own and may run past the
 * width. '\n' in the buffer is a hard break. Returns the widest line's
 * width without the prefix (for underlines).
 */
static size_t wrap_para(struct render *r)
{
	const char *s = td_buf_cstr(&r->para);
	size_t n = r->para.len, pw = prefix_width(r), widest = 0;
	struct td_buf cur = TD_BUF_INIT;
	size_t i = 0;

	for (;;) {
		size_t eol = i;
		while (eol < n && s[eol] != '\n')
			eol++;
		size_t curw = 0;
		td_buf_reset(&cur);
		size_t j = i;
		while (j < eol) {
			int space = 0;
			while (j < eol && (s[j] == ' ' || s[j] == '\t')) {
				j++;
				space = 1;
			}
			size_t end = j;
			while (end < eol && s[end] != ' ' && s[end] != '\t')
				end++;
			while (j < end) {
				size_t ww, k = td_utf8_unbreakable(s + j, end - j, &ww);
				size_t gap = space && cur.len > 0;
				if (cur.len > 0 && r->width > 0 &&
				    pw + curw + gap + ww > r->width) {
					emit_line(r, td_buf_cstr(&cur), cur.len);
					if (curw > widest)
						widest = curw;
					td_buf_reset(&cur);
					curw = 0;
					gap = 0;
				}
				if (gap)
					put(r, &cur, " ", 1);
				put(r, &cur, s + j, k);
				curw += gap + ww;
				space = 0;
				j += k;
			}
		}
		emit_line(r, td_buf_cstr(&cur), cur.len);
		if (curw > widest)
			widest = curw;
		if (eol >= n)
			break;
		i = eol + 1;
	}
	td_buf_free(&cur);
	return widest;
}

static int para_is_blank(const struct render *r)
{
	for (size_t i = 0; i < r->para.len; i++)
		if (r->para.data[i] != ' ' && r->para.data[i] != '\t' &&
		    r->para.data[i] != '\n')
			return 0;
	return 1;
}

/* Only links a reader can follow from a mail get a number. */
static int followable(const char *url)
{
	return strncasecmp(url, "http://", 7) == 0 ||
	       strncasecmp(url, "https://", 8) == 0 ||
	       strncasecmp(url, "mailto:", 7) == 0;
}

static size_t hash_str(const char *s)
{
	size_t h = 14695981039346656037u; /* FNV-1a */
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211u;
	return h;
}

/*
 * The reference number of url, adding it when new. A hash rather than a
 * scan of the list: a 1 MiB body can hold tens of thousands of links, and
 * a linear search per link took seconds.
 */
static size_t link_number(struct render *r, const char *url)
{
	if (2 * (r->links.n + 1) > r->nslots) {
		size_t n = r->nslots ? 2 * r->nslots : 64;
		free(r->slots);
		r->slots = td_xcalloc(n, sizeof *r->slots);
		r->nslots = n;
		for (size_t i = 0; i < r->links.n; i++) {
			size_t k = hash_str(r->links.v[i]) & (n - 1);
			while (r->slots[k])
				k = (k + 1) & (n - 1);
			r->slots[k] = i + 1;
		}
	}
	size_t k = hash_str(url) & (r->nslots - 1);
	while (r->slots[k]) {
		if (strcmp(r->links.v[r->slots[k] - 1], url) == 0)
			return r->slots[k];
		k = (k + 1) & (r->nslots - 1);
	}
	td_strv_push(&r->links, url);
	r->slots[k] = r->links.n;
	return r->links.n;
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
		return;
	}
	if (!r->numbering || !followable(url))
		return;
	/* An autolink shows its own address; numbering it repeats it. */
	if (strlen(url) == tlen && memcmp(url, text, tlen) == 0)
		return;
	if (strncasecmp(url, "mailto:", 7) == 0 && strlen(url + 7) == tlen &&
	    memcmp(url + 7, text, tlen) == 0)
		return;
	if (td_buf_printf(&r->para, " [%zu]", link_number(r, url)) < 0)
		r->full = 1;
}

/* Inline nodes append to r->para; shared by the body and the excerpt. */
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
		puts_(r, &r->para, r->oneline ? " " : "\n");
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

static void push_level(struct render *r, enum level_kind kind)
{
	if (r->nlv == MD_MAX_LEVELS) {
		r->deep++;
		return;
	}
	struct level *l = &r->lv[r->nlv++];
	memset(l, 0, sizeof *l);
	l->kind = kind;
}

static void pop_level(struct render *r)
{
	if (r->deep > 0)
		r->deep--;
	else if (r->nlv > 0)
		r->nlv--;
}

static void enter_list(struct render *r, cmark_node *n)
{
	block_start(r);
	push_level(r, LV_LIST);
	if (r->deep)
		return;
	struct level *l = &r->lv[r->nlv - 1];
	l->ordered = cmark_node_get_list_type(n) == CMARK_ORDERED_LIST;
	l->number = cmark_node_get_list_start(n);
	l->delim = cmark_node_get_list_delim(n) == CMARK_PAREN_DELIM ? ')' : '.';
}

static void enter_item(struct render *r)
{
	block_start(r);
	struct level *list = r->nlv ? &r->lv[r->nlv - 1] : NULL;
	push_level(r, LV_ITEM);
	if (r->deep || !list || list->kind != LV_LIST)
		return;
	struct level *l = &r->lv[r->nlv - 1];
	if (list->ordered)
		snprintf(l->marker, sizeof l->marker, "%ld%c ",
			 list->number++, list->delim);
	else
		snprintf(l->marker, sizeof l->marker, "- ");
	l->marker_w = strlen(l->marker);
}

static void exit_item(struct render *r, cmark_node *n)
{
	/* An empty item still shows its marker. */
	if (!r->deep && r->nlv > 0 && r->lv[r->nlv - 1].kind == LV_ITEM &&
	    !r->lv[r->nlv - 1].used) {
		cmark_node *list = cmark_node_parent(n);
		emit_line(r, "", 0);
		r->need_blank = !(list && cmark_node_get_list_tight(list));
	}
	pop_level(r);
}

static void code_block(struct render *r, cmark_node *n)
{
	const char *s = cmark_node_get_literal(n);
	size_t len = s ? strlen(s) : 0;
	struct td_buf ln = TD_BUF_INIT;

	block_start(r);
	/* The literal ends with '\n'; a trailing empty piece is no line. */
	size_t i = 0;
	while (i < len) {
		size_t eol = i;
		while (eol < len && s[eol] != '\n')
			eol++;
		td_buf_reset(&ln);
		put(r, &ln, "    ", 4);
		put_text(r, &ln, s + i, eol - i);
		emit_line(r, td_buf_cstr(&ln), ln.len);
		i = eol + 1;
	}
	td_buf_free(&ln);
	r->need_blank = blank_after(n);
}

static void block_text_exit(struct render *r, cmark_node *n)
{
	if (para_is_blank(r)) /* e.g. a paragraph of raw HTML only */
		return;
	block_start(r);
	size_t w = wrap_para(r);
	if (cmark_node_get_type(n) == CMARK_NODE_HEADING) {
		char ch = cmark_node_get_heading_level(n) == 1 ? '=' : '-';
		struct td_buf u = TD_BUF_INIT;
		for (size_t i = 0; i < w; i++)
			put(r, &u, &ch, 1);
		emit_line(r, td_buf_cstr(&u), u.len);
		td_buf_free(&u);
	}
	r->need_blank = blank_after(n);
}

static void render_text(struct render *r, cmark_node *doc)
{
	cmark_iter *it = cmark_iter_new(doc);
	cmark_event_type ev;

	while ((ev = cmark_iter_next(it)) != CMARK_EVENT_DONE && !r->full) {
		cmark_node *n = cmark_iter_get_node(it);
		int enter = ev == CMARK_EVENT_ENTER;

		switch (cmark_node_get_type(n)) {
		case CMARK_NODE_DOCUMENT:
		case CMARK_NODE_HTML_BLOCK: /* dropped, like the HTML side */
			break;
		case CMARK_NODE_BLOCK_QUOTE:
			if (enter) {
				block_start(r);
				push_level(r, LV_QUOTE);
			} else {
				pop_level(r);
				r->need_blank = blank_after(n);
			}
			break;
		case CMARK_NODE_LIST:
			if (enter) {
				enter_list(r, n);
			} else {
				pop_level(r);
				r->need_blank = blank_after(n);
			}
			break;
		case CMARK_NODE_ITEM:
			if (enter)
				enter_item(r);
			else
				exit_item(r, n);
			break;
		case CMARK_NODE_CODE_BLOCK:
			code_block(r, n);
			break;
		case CMARK_NODE_THEMATIC_BREAK:
			block_start(r);
			emit_line(r, "* * *", 5);
			r->need_blank = blank_after(n);
			break;
		case CMARK_NODE_PARAGRAPH:
		case CMARK_NODE_HEADING:
			if (enter) {
				td_buf_reset(&r->para);
				r->in_link = r->in_image = 0;
			} else {
				block_text_exit(r, n);
			}
			break;
		default:
			inline_event(r, n, enter);
			break;
		}
	}
	cmark_iter_free(it);

	if (r->links.n > 0) {
		if (r->out.len > 0)
			puts_(r, &r->out, "\n");
		puts_(r, &r->out, "Links:\n");
		for (size_t i = 0; i < r->links.n; i++)
			if (td_buf_printf(&r->out, "[%zu] %s\n", i + 1,
					  r->links.v[i]) < 0)
				r->full = 1;
	}
}

/* Plain text of one paragraph on one line: runs of white space become
 * one space, and the ends are trimmed. */
static void excerpt_line(struct render *r, cmark_node *para,
			 struct td_buf *line)
{
	cmark_iter *it = cmark_iter_new(para);
	cmark_event_type ev;

	td_buf_reset(&r->para);
	while ((ev = cmark_iter_next(it)) != CMARK_EVENT_DONE)
		if (cmark_iter_get_node(it) != para)
			inline_event(r, cmark_iter_get_node(it),
				     ev == CMARK_EVENT_ENTER);
	cmark_iter_free(it);

	const char *s = td_buf_cstr(&r->para);
	int space = 0;
	for (size_t i = 0; i < r->para.len; i++) {
		if (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' ||
		    s[i] == '\r') {
			space = line->len > 0;
			continue;
		}
		if (space)
			put(r, line, " ", 1);
		space = 0;
		put(r, line, s + i, 1);
	}
}

/* The first paragraph with something to read: one that is nothing but
 * raw HTML says nothing in an excerpt. */
static cmark_node *first_paragraph(struct render *r, cmark_node *doc)
{
	cmark_iter *it = cmark_iter_new(doc);
	cmark_event_type ev;
	cmark_node *found = NULL;

	while (!found && (ev = cmark_iter_next(it)) != CMARK_EVENT_DONE) {
		cmark_node *n = cmark_iter_get_node(it);
		if (ev != CMARK_EVENT_ENTER ||
		    cmark_node_get_type(n) != CMARK_NODE_PARAGRAPH)
			continue;
		struct td_buf probe = TD_BUF_INIT;
		excerpt_line(r, n, &probe);
		if (probe.len > 0)
			found = n;
		td_buf_free(&probe);
	}
	cmark_iter_free(it);
	return found;
}

static char *strip_newline(char *s)
{
	size_t n = strlen(s);
	while (n > 0 && s[n - 1] == '\n')
		s[--n] = '\0';
	return s;
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

int td_markdown_render(const char *md, size_t len, size_t width,
		       struct td_markdown *out, struct td_err *err)
{
	memset(out, 0, sizeof *out);
	if (!md && len > 0)
		return td_err_set(err, EX_DATAERR, "markdown: no input");

	struct td_buf bounded = TD_BUF_INIT;
	if (md && bound_input(md, len, &bounded)) {
		md = td_buf_cstr(&bounded);
		len = bounded.len;
	}
	cmark_node *doc = cmark_parse_document(md ? md : "", len, MD_OPTS);
	td_buf_free(&bounded);
	if (!doc)
		return td_err_set(err, EX_DATAERR, "markdown: cannot parse");

	char *html = cmark_render_html(doc, MD_OPTS);
	if (!html) {
		cmark_node_free(doc);
		return td_err_set(err, EX_DATAERR, "markdown: cannot render");
	}

	struct render r;
	memset(&r, 0, sizeof r);
	td_buf_init(&r.out, MD_MAX_OUT);
	td_buf_init(&r.para, MD_MAX_OUT);
	td_buf_init(&r.line, MD_MAX_OUT);
	r.numbering = 1;
	r.width = width;
	render_text(&r, doc);

	/* The excerpt renderer: no link numbers, all on one line. */
	r.numbering = 0;
	r.oneline = 1;
	r.in_link = r.in_image = 0;
	struct td_buf ex = TD_BUF_INIT;
	char *ex_html = NULL;
	cmark_node *para = first_paragraph(&r, doc);
	if (para) {
		excerpt_line(&r, para, &ex);
		char *h = cmark_render_html(para, MD_OPTS);
		if (h)
			ex_html = strip_newline(h);
	}
	cmark_node_free(doc);

	int rc = 0;
	if (r.full) {
		rc = td_err_set(err, EX_DATAERR,
				"markdown: rendered text exceeds %zu MiB",
				MD_MAX_OUT >> 20);
	} else if (para && !ex_html) {
		rc = td_err_set(err, EX_DATAERR,
				"markdown: cannot render the excerpt");
	}
	if (rc) {
		free(html);
		free(ex_html);
		td_buf_free(&ex);
	} else {
		/* cmark's default allocator is malloc, so free() fits. */
		out->html = html;
		out->text = td_buf_steal(&r.out);
		out->excerpt_html = ex_html ? ex_html : td_xstrdup("");
		out->excerpt_text = td_buf_steal(&ex);
	}
	td_buf_free(&r.out);
	td_buf_free(&r.para);
	td_buf_free(&r.line);
	td_strv_free(&r.links);
	free(r.slots);
	return rc;
}

void td_markdown_free(struct td_markdown *m)
{
	if (!m)
		return;
	free(m->html);
	free(m->text);
	free(m->excerpt_html);
	free(m->excerpt_text);
	memset(m, 0, sizeof *m);
}
