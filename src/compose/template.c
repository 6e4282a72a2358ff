/*
 * template.c: the Mustache engine behind template.h.
 *
 * A template is parsed once, in four passes over the source:
 *   1. tokenize: split into text and tags, following {{=<% %>=}} delimiter
 *      changes, matching every opener with its closer (errors carry
 *      LABEL:LINE:COL); text tokens hold at most one newline, at their end,
 *      so "a line" is a run of tokens ending in such a token;
 *   2. standalone lines: a line holding only whitespace and one
 *      section/comment/partial/delimiter/block tag (parent open/close tags
 *      do not count, so "{{<p}}{{$b}}" is standalone too) disappears, and a
 *      standalone partial or parent remembers the whitespace as indentation;
 *   3. block indentation: the body of a {{$block}} loses the block's own
 *      indentation at the definition site ({{$b}} on its own line: the
 *      indentation of the line after it; {{$b}} after leading whitespace:
 *      that whitespace), and gets the indentation of the expansion site
 *      back when rendered (spec ~inheritance, "Block reindentation");
 *   4. build the node tree.
 * Rendering walks the tree with a context stack. Indentation of standalone
 * partials is applied at render time, before every line of the partial's
 * own text (not inside interpolated values), which is what the spec's
 * "Standalone Indentation" test asks for.
 *
 * Truthiness: null, false, the empty list, the empty string and a number
 * equal to zero are falsy; everything else (any map, "0" as a string) is
 * truthy. The spec leaves strings and numbers to the host language; this
 * follows JavaScript/PHP/Python, so {{#summary}} hides an empty summary.
 */
#include "tagdigest/compose/template.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "tagdigest/core/util.h"
#include "tagdigest/compose/memo.h"

/* Partial/parent/override expansions deeper than this are treated as
 * runaway recursion rather than a template someone meant to write. */
#define TD_TEMPLATE_MAX_DEPTH 100
/* Sections/blocks nested in one template: keeps the recursive renderer and
 * free() far from the C stack limit on hostile templates. */
#define TD_TEMPLATE_MAX_NEST 100
/* Largest template file load_dir will read. */
#define TD_TEMPLATE_FILE_MAX (1024 * 1024)

static bool value_truthy(const struct td_value *v)
{
	switch (td_value_type(v)) {
	case TD_VALUE_NULL:
		return false;
	case TD_VALUE_BOOL:
		return td_value_get_bool(v);
	case TD_VALUE_NUMBER: {
		const char *s = td_value_text(v);
		char *end;
		double d = strtod(s, &end);
		/* Text that is not a number at all ("n/a") still shows. */
		return end == s || *end != '\0' || d != 0.0;
	}
	case TD_VALUE_STRING:
		return td_value_text(v)[0] != '\0';
	case TD_VALUE_LIST:
		return td_value_list_len(v) > 0;
	case TD_VALUE_MAP:
		return true;
	}
	return false;
}

/* The text a value interpolates as; lists and maps have none. */
static const char *value_text(const struct td_value *v)
{
	if (td_value_type(v) == TD_VALUE_BOOL)
		return td_value_get_bool(v) ? "true" : "false";
	const char *s = td_value_text(v);
	return s ? s : "";
}

/* ------------------------------------------------------------ node tree */

enum node_kind {
	N_ROOT,
	N_TEXT,
	N_VAR,
	N_SECTION,
	N_INVERTED,
	N_PARTIAL,
	N_PARENT,
	N_BLOCK,
};

/* A tag name, split on '.' once at parse time; "." has no parts. */
struct name {
	char *raw;
	char **parts;
	size_t nparts;
};

struct node {
	enum node_kind kind;
	unsigned line, col;
	char *text;             /* N_TEXT */
	size_t len;
	struct name name;       /* everything but N_TEXT/N_ROOT */
	bool escape;            /* N_VAR: {{x}} rather than {{{x}}} / {{&x}} */
	bool dynamic;           /* N_PARTIAL/N_PARENT: {{>*x}} */
	bool standalone;        /* N_PARTIAL/N_PARENT: alone on its line */
	char *indent;           /* N_PARTIAL/N_PARENT/N_BLOCK, never NULL */
	struct node **kids;     /* N_ROOT/N_SECTION/N_INVERTED/N_PARENT/N_BLOCK */
	size_t nkids, capkids;
};

struct td_template {
	char *name;
	char *label; /* what error messages call it: the name, or a path */
	struct node root;
};

static void name_init(struct name *nm, const char *s, size_t len)
{
	nm->raw = td_xstrndup(s, len);
	nm->parts = NULL;
	nm->nparts = 0;
	if (strcmp(nm->raw, ".") == 0)
		return;
	size_t count = 1;
	for (size_t i = 0; i < len; i++)
		count += s[i] == '.';
	nm->parts = td_xmalloc(count * sizeof *nm->parts);
	const char *p = nm->raw;
	for (;;) {
		const char *dot = strchr(p, '.');
		size_t n = dot ? (size_t)(dot - p) : strlen(p);
		nm->parts[nm->nparts++] = td_xstrndup(p, n);
		if (!dot)
			break;
		p = dot + 1;
	}
}

static void name_free(struct name *nm)
{
	for (size_t i = 0; i < nm->nparts; i++)
		free(nm->parts[i]);
	free(nm->parts);
	free(nm->raw);
}

static void node_free_fields(struct node *n)
{
	for (size_t i = 0; i < n->nkids; i++) {
		node_free_fields(n->kids[i]);
		free(n->kids[i]);
	}
	free(n->kids);
	free(n->text);
	free(n->indent);
	if (n->name.raw)
		name_free(&n->name);
}

static void node_add(struct node *parent, struct node *kid)
{
	if (parent->nkids == parent->capkids) {
		parent->capkids = parent->capkids ? parent->capkids * 2 : 4;
		parent->kids = td_xrealloc(parent->kids,
					   parent->capkids * sizeof *parent->kids);
	}
	parent->kids[parent->nkids++] = kid;
}

void td_template_free(struct td_template *t)
{
	if (!t)
		return;
	node_free_fields(&t->root);
	free(t->name);
	free(t->label);
	free(t);
}

/* ---------------------------------------------------------- tokenizer */

enum tok_kind {
	T_TEXT,
	T_VAR,      /* {{x}} */
	T_UNESC,    /* {{{x}}} {{&x}} */
	T_SECTION,  /* {{#x}} */
	T_INVERTED, /* {{^x}} */
	T_CLOSE,    /* {{/x}} */
	T_PARTIAL,  /* {{>x}} */
	T_PARENT,   /* {{<x}} */
	T_BLOCK,    /* {{$x}} */
	T_COMMENT,  /* {{!x}} */
	T_DELIM,    /* {{=a b=}} */
};

struct tok {
	enum tok_kind kind;
	size_t start, end;   /* the whole token in the source */
	size_t nstart, nlen; /* tags: the name */
	unsigned line, col;
	bool dynamic;
	bool removed;        /* text on a standalone line */
	bool standalone;     /* tag alone on its line */
	size_t lstrip;       /* text: leading bytes dropped (block indentation) */
	char *indent;        /* partial/parent indentation; block: raw indentation */
	char *rel;           /* block: indentation relative to the enclosing block */
	size_t match;        /* T_CLOSE: index of the opener */
};

struct parser {
	const char *label;
	const char *src;
	size_t len;
	struct tok *toks;
	size_t n, cap;
	/* line/col of cpos, advanced forward only */
	size_t cpos;
	unsigned cline, ccol;
	struct td_err *err;
};

static void cursor_to(struct parser *p, size_t pos, unsigned *line, unsigned *col)
{
	for (; p->cpos < pos; p->cpos++) {
		unsigned char c = (unsigned char)p->src[p->cpos];
		if (c == '\n') {
			p->cline++;
			p->ccol = 1;
		} else if ((c & 0xC0) != 0x80) {
			/* columns count characters, not UTF-8 bytes */
			p->ccol++;
		}
	}
	*line = p->cline;
	*col = p->ccol;
}

static struct tok *tok_add(struct parser *p, enum tok_kind kind, size_t start,
			   size_t end)
{
	if (p->n == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 64;
		p->toks = td_xrealloc(p->toks, p->cap * sizeof *p->toks);
	}
	struct tok *t = &p->toks[p->n++];
	memset(t, 0, sizeof *t);
	t->kind = kind;
	t->start = start;
	t->end = end;
	return t;
}

/* Text tokens end at each newline, which makes line handling a matter of
 * looking at token boundaries. */
static void add_text(struct parser *p, size_t from, size_t to)
{
	while (from < to) {
		const char *nl = memchr(p->src + from, '\n', to - from);
		size_t end = nl ? (size_t)(nl - p->src) + 1 : to;
		tok_add(p, T_TEXT, from, end);
		from = end;
	}
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' ||
	       c == '\v';
}

static void trim(const char *s, size_t *a, size_t *b)
{
	while (*a < *b && is_blank(s[*a]))
		(*a)++;
	while (*b > *a && is_blank(s[*b - 1]))
		(*b)--;
}

/* Finds close (clen bytes) at or after from, preceded by `before` when that
 * is not NUL (the '}' of a triple mustache, the '=' of a delimiter tag). */
static const char *find_close(const char *src, size_t len, size_t from,
			      const char *close, size_t clen, char before)
{
	size_t at = before ? from + 1 : from;
	while (at <= len) {
		const char *hit = memmem(src + at, len - at, close, clen);
		if (!hit)
			return NULL;
		if (!before || hit[-1] == before)
			return before ? hit - 1 : hit;
		at = (size_t)(hit - src) + 1;
	}
	return NULL;
}

struct delims {
	const char *open, *close;
	size_t olen, clen;
};

static int set_delims(struct parser *p, struct delims *d, size_t a, size_t b,
		      unsigned line, unsigned col)
{
	const char *s = p->src;
	trim(s, &a, &b);
	size_t o1 = a;
	while (a < b && !is_blank(s[a]))
		a++;
	size_t o2 = a;
	while (a < b && is_blank(s[a]))
		a++;
	size_t c1 = a;
	while (a < b && !is_blank(s[a]))
		a++;
	size_t c2 = a;
	if (o2 == o1 || c2 == c1 || c2 != b ||
	    memchr(s + o1, '=', o2 - o1) || memchr(s + c1, '=', c2 - c1))
		return td_err_set(p->err, EX_DATAERR,
				  "%s:%u:%u: bad set-delimiter tag: want two "
				  "delimiters without '=' or spaces, as in "
				  "{{=<%% %%>=}}", p->label, line, col);
	d->open = s + o1;
	d->olen = o2 - o1;
	d->close = s + c1;
	d->clen = c2 - c1;
	return 0;
}

static enum tok_kind sigil_kind(char c)
{
	switch (c) {
	case '#': return T_SECTION;
	case '^': return T_INVERTED;
	case '/': return T_CLOSE;
	case '>': return T_PARTIAL;
	case '<': return T_PARENT;
	case '$': return T_BLOCK;
	case '&': return T_UNESC;
	case '!': return T_COMMENT;
	default: return T_VAR;
	}
}

static const char *opener_word(enum tok_kind k)
{
	switch (k) {
	case T_INVERTED: return "inverted section";
	case T_PARENT: return "parent";
	case T_BLOCK: return "block";
	default: return "section";
	}
}

/* Does closer c close opener o? A dynamic parent {{<*x}} may be closed
 * with or without the asterisk. */
static bool tok_name_eq(const struct parser *p, const struct tok *o,
			const struct tok *c)
{
	return (o->dynamic || !c->dynamic) && o->nlen == c->nlen &&
	       memcmp(p->src + o->nstart, p->src + c->nstart, o->nlen) == 0;
}

/* Section/parent/block bookkeeping while tokenizing: each closer must name
 * the innermost opener. */
struct openers {
	size_t *v;
	size_t n, cap;
};

static int match_tag(struct parser *p, struct openers *st, size_t ti)
{
	struct tok *t = &p->toks[ti];
	const char *nm = p->src + t->nstart;
	const char *star = t->dynamic ? "*" : "";
	if (t->kind == T_SECTION || t->kind == T_INVERTED ||
	    t->kind == T_PARENT || t->kind == T_BLOCK) {
		if (st->n >= TD_TEMPLATE_MAX_NEST)
			return td_err_set(p->err, EX_DATAERR,
					  "%s:%u:%u: sections nested more than "
					  "%d deep", p->label, t->line, t->col,
					  TD_TEMPLATE_MAX_NEST);
		if (st->n == st->cap) {
			st->cap = st->cap ? st->cap * 2 : 16;
			st->v = td_xrealloc(st->v, st->cap * sizeof *st->v);
		}
		st->v[st->n++] = ti;
		return 0;
	}
	if (t->kind != T_CLOSE)
		return 0;
	if (st->n == 0)
		return td_err_set(p->err, EX_DATAERR,
				  "%s:%u:%u: closing tag '%s%.*s' has no open "
				  "section", p->label, t->line, t->col, star,
				  (int)t->nlen, nm);
	const struct tok *o = &p->toks[st->v[st->n - 1]];
	if (!tok_name_eq(p, o, t))
		return td_err_set(p->err, EX_DATAERR,
				  "%s:%u:%u: closing tag '%s%.*s' does not "
				  "match %s '%s%.*s' (opened at %u:%u)",
				  p->label, t->line, t->col, star,
				  (int)t->nlen, nm, opener_word(o->kind),
				  o->dynamic ? "*" : "", (int)o->nlen,
				  p->src + o->nstart, o->line, o->col);
	t->match = st->v[--st->n];
	return 0;
}

/* Reads the tag whose open delimiter starts at `at`; returns where the
 * next text starts in *next. */
static int read_tag(struct parser *p, struct delims *d, struct openers *st,
		    size_t at, size_t *next)
{
	unsigned line, col;
	cursor_to(p, at, &line, &col);
	size_t q = at + d->olen;
	char sig = q < p->len ? p->src[q] : '\0';
	char before = sig == '{' ? '}' : sig == '=' ? '=' : '\0';
	const char *e = find_close(p->src, p->len, before ? q + 1 : q,
				   d->close, d->clen, before);
	if (!e)
		return td_err_set(p->err, EX_DATAERR,
				  "%s:%u:%u: unclosed tag: no '%.*s%.*s' after "
				  "'%.*s'", p->label, line, col, before ? 1 : 0,
				  &before, (int)d->clen, d->close,
				  (int)d->olen, d->open);
	size_t cend = (size_t)(e - p->src);
	size_t tend = cend + (before ? 1 : 0) + d->clen;
	*next = tend;
	if (sig == '=') {
		struct tok *t = tok_add(p, T_DELIM, at, tend);
		t->line = line;
		t->col = col;
		return set_delims(p, d, q + 1, cend, line, col);
	}
	enum tok_kind kind = sig == '{' ? T_UNESC : sigil_kind(sig);
	size_t a = (kind == T_VAR) ? q : q + 1, b = cend;
	struct tok *t = tok_add(p, kind, at, tend);
	t->line = line;
	t->col = col;
	if (kind == T_COMMENT)
		return 0;
	/* a close delimiter that is the sigil itself ({{=<% >=}} then
	 * "<%>") ends the tag before its name starts: an empty tag */
	if (a > b)
		a = b;
	trim(p->src, &a, &b);
	if ((kind == T_PARTIAL || kind == T_PARENT || kind == T_CLOSE) &&
	    a < b && p->src[a] == '*') {
		t->dynamic = true;
		a++;
		trim(p->src, &a, &b);
	}
	t->nstart = a;
	t->nlen = b - a;
	if (a == b)
		return td_err_set(p->err, EX_DATAERR, "%s:%u:%u: empty tag",
				  p->label, line, col);
	for (size_t i = a; i < b; i++)
		if (is_blank(p->src[i]))
			return td_err_set(p->err, EX_DATAERR,
					  "%s:%u:%u: tag name '%.*s' contains "
					  "whitespace", p->label, line, col,
					  (int)(b - a), p->src + a);
	return match_tag(p, st, p->n - 1);
}

static int tokenize(struct parser *p)
{
	struct delims d = { "{{", "}}", 2, 2 };
	struct openers st = { NULL, 0, 0 };
	size_t pos = 0;
	int rc = 0;
	while (pos < p->len) {
		const char *o = memmem(p->src + pos, p->len - pos, d.open, d.olen);
		size_t at = o ? (size_t)(o - p->src) : p->len;
		add_text(p, pos, at);
		if (!o)
			break;
		if ((rc = read_tag(p, &d, &st, at, &pos)))
			break;
	}
	if (!rc && st.n > 0) {
		const struct tok *t = &p->toks[st.v[st.n - 1]];
		rc = td_err_set(p->err, EX_DATAERR,
				"%s:%u:%u: unclosed %s '%s%.*s' (opened at %u:%u)",
				p->label, t->line, t->col, opener_word(t->kind),
				t->dynamic ? "*" : "", (int)t->nlen,
				p->src + t->nstart, t->line, t->col);
	}
	free(st.v);
	return rc;
}

/* --------------------------------------------------- standalone lines */

static bool tok_ends_line(const struct parser *p, const struct tok *t)
{
	return t->kind == T_TEXT && p->src[t->end - 1] == '\n';
}

static bool text_is_space(const struct parser *p, const struct tok *t)
{
	size_t end = t->end;
	if (tok_ends_line(p, t)) {
		end--;
		if (end > t->start && p->src[end - 1] == '\r')
			end--;
	}
	for (size_t i = t->start; i < end; i++)
		if (p->src[i] != ' ' && p->src[i] != '\t')
			return false;
	return true;
}

/* Parent tags stand aside: "{{<p}}{{$b}}" and "{{<p}}{{/p}}" on a line of
 * their own are standalone (spec ~inheritance, "Standalone parent"/"block"). */
static bool tok_is_parent(const struct parser *p, const struct tok *t)
{
	return t->kind == T_PARENT ||
	       (t->kind == T_CLOSE && p->toks[t->match].kind == T_PARENT);
}

static char *leading_space(const struct parser *p, size_t pos)
{
	size_t e = pos;
	while (e < p->len && (p->src[e] == ' ' || p->src[e] == '\t'))
		e++;
	return td_xstrndup(p->src + pos, e - pos);
}

static void mark_line(struct parser *p, size_t a, size_t b)
{
	size_t ntags = 0, nother = 0;
	bool ok = true;
	for (size_t i = a; i <= b && ok; i++) {
		const struct tok *t = &p->toks[i];
		if (t->kind == T_TEXT)
			ok = text_is_space(p, t);
		else if (t->kind == T_VAR || t->kind == T_UNESC)
			ok = false;
		else {
			ntags++;
			nother += !tok_is_parent(p, t);
		}
	}
	bool standalone = ok && ntags > 0 && nother <= 1;
	size_t line_start = p->toks[a].start;
	bool clean_prefix = true; /* only blanks and parent tags so far */
	for (size_t i = a; i <= b; i++) {
		struct tok *t = &p->toks[i];
		if (t->kind == T_TEXT) {
			t->removed = standalone;
			clean_prefix = clean_prefix && text_is_space(p, t);
			continue;
		}
		t->standalone = standalone;
		if (standalone && (t->kind == T_PARTIAL || t->kind == T_PARENT))
			t->indent = leading_space(p, line_start);
		if (t->kind == T_BLOCK) {
			if (standalone)
				/* indentation is that of the block's content */
				t->indent = tok_ends_line(p, &p->toks[b]) ?
					leading_space(p, p->toks[b].end) :
					td_xstrdup("");
			else if (clean_prefix)
				t->indent = leading_space(p, line_start);
			else
				t->indent = td_xstrdup("");
		}
		clean_prefix = clean_prefix && tok_is_parent(p, t);
	}
}

static void mark_standalone(struct parser *p)
{
	size_t a = 0;
	while (a < p->n) {
		size_t b = a;
		while (b + 1 < p->n && !tok_ends_line(p, &p->toks[b]))
			b++;
		mark_line(p, a, b);
		a = b + 1;
	}
}

/* ------------------------------------------------- block indentation */

static size_t common_prefix(const char *a, size_t alen, const char *b)
{
	size_t i = 0;
	while (i < alen && b[i] && a[i] == b[i])
		i++;
	return i;
}

/* Strips the innermost enclosing block's indentation from the start of
 * every line inside it, and makes nested indentation relative to it. */
static void dedent_blocks(struct parser *p)
{
	const char **dstack = td_xmalloc((p->n + 1) * sizeof *dstack);
	size_t dn = 0;
	dstack[dn++] = "";
	bool bol = true;
	for (size_t i = 0; i < p->n; i++) {
		struct tok *t = &p->toks[i];
		const char *d = dstack[dn - 1];
		switch (t->kind) {
		case T_TEXT:
			if (!t->removed && bol && *d)
				t->lstrip = common_prefix(p->src + t->start,
							  t->end - t->start, d);
			if (!t->removed || tok_ends_line(p, t))
				bol = tok_ends_line(p, t);
			continue;
		case T_PARTIAL:
		case T_PARENT:
			if (t->indent) {
				size_t k = common_prefix(t->indent,
							 strlen(t->indent), d);
				memmove(t->indent, t->indent + k,
					strlen(t->indent + k) + 1);
			}
			break;
		case T_BLOCK:
			t->rel = td_xstrdup(t->indent + common_prefix(
				t->indent, strlen(t->indent), d));
			dstack[dn++] = t->indent;
			break;
		case T_CLOSE:
			if (p->toks[t->match].kind == T_BLOCK)
				dn--;
			break;
		default:
			break;
		}
		if (!t->standalone)
			bol = false;
	}
	free(dstack);
}

/* ----------------------------------------------------------- tree */

static struct node *node_new(enum node_kind kind, const struct parser *p,
			     const struct tok *t)
{
	struct node *n = td_xcalloc(1, sizeof *n);
	n->kind = kind;
	n->line = t->line;
	n->col = t->col;
	if (kind != N_TEXT)
		name_init(&n->name, p->src + t->nstart, t->nlen);
	return n;
}

static void add_text_node(struct node *parent, const char *s, size_t len)
{
	if (len == 0)
		return;
	struct node *last = parent->nkids ? parent->kids[parent->nkids - 1] : NULL;
	if (last && last->kind == N_TEXT) {
		/* one node per run of text keeps rendering a single append */
		last->text = td_xrealloc(last->text, last->len + len + 1);
		memcpy(last->text + last->len, s, len);
		last->len += len;
		last->text[last->len] = '\0';
		return;
	}
	struct node *n = td_xcalloc(1, sizeof *n);
	n->kind = N_TEXT;
	n->text = td_xstrndup(s, len);
	n->len = len;
	node_add(parent, n);
}

static void build_tree(struct parser *p, struct node *root)
{
	struct node **stack = td_xmalloc((p->n + 1) * sizeof *stack);
	size_t sn = 0;
	stack[sn++] = root;
	for (size_t i = 0; i < p->n; i++) {
		struct tok *t = &p->toks[i];
		struct node *top = stack[sn - 1], *n = NULL;
		switch (t->kind) {
		case T_TEXT:
			if (!t->removed)
				add_text_node(top, p->src + t->start + t->lstrip,
					      t->end - t->start - t->lstrip);
			continue;
		case T_VAR:
		case T_UNESC:
			n = node_new(N_VAR, p, t);
			n->escape = t->kind == T_VAR;
			node_add(top, n);
			continue;
		case T_SECTION:
		case T_INVERTED:
			n = node_new(t->kind == T_SECTION ? N_SECTION : N_INVERTED,
				     p, t);
			break;
		case T_PARTIAL:
		case T_PARENT:
			n = node_new(t->kind == T_PARTIAL ? N_PARTIAL : N_PARENT,
				     p, t);
			n->dynamic = t->dynamic;
			n->standalone = t->standalone;
			n->indent = t->indent ? t->indent : td_xstrdup("");
			t->indent = NULL;
			if (t->kind == T_PARTIAL) {
				node_add(top, n);
				continue;
			}
			break;
		case T_BLOCK:
			n = node_new(N_BLOCK, p, t);
			n->indent = t->rel;
			t->rel = NULL;
			break;
		case T_CLOSE:
			sn--;
			continue;
		case T_COMMENT:
		case T_DELIM:
			continue;
		}
		node_add(top, n);
		stack[sn++] = n;
	}
	free(stack);
}

static int parse_labeled(const char *name, const char *label, const char *src,
			 size_t len, struct td_template **out, struct td_err *err)
{
	*out = NULL;
	struct parser p = { 0 };
	p.label = label;
	p.src = src ? src : "";
	p.len = src ? len : 0;
	p.cline = 1;
	p.ccol = 1;
	p.err = err;
	int rc = tokenize(&p);
	if (!rc) {
		mark_standalone(&p);
		dedent_blocks(&p);
		struct td_template *t = td_xcalloc(1, sizeof *t);
		t->name = td_xstrdup(name);
		t->label = td_xstrdup(label);
		t->root.kind = N_ROOT;
		build_tree(&p, &t->root);
		*out = t;
	}
	for (size_t i = 0; i < p.n; i++) {
		free(p.toks[i].indent);
		free(p.toks[i].rel);
	}
	free(p.toks);
	return rc;
}

int td_template_parse(const char *name, const char *src, size_t len,
		      struct td_template **out, struct td_err *err)
{
	return parse_labeled(name ? name : "template", name ? name : "template",
			     src, len, out, err);
}

/* ----------------------------------------------------------- render */

/* A parent being expanded: its {{$block}}s override the parent's. Frames
 * chain outwards; the outermost definition wins (spec: "Multi-level
 * inheritance"). */
struct frame {
	const struct node *parent;
	const struct frame *outer;
};

struct render {
	const struct td_template_set *set;
	const struct td_template *tpl; /* the one being rendered, for messages */
	bool escape;
	struct td_buf *out;
	struct td_err *err;
	const struct td_value **stack;
	size_t sn, scap;
	struct td_buf indent;
	bool pending; /* at a line start: indentation goes before more output */
	int depth;
	const struct frame *frame;
	/* td_template_render_memo: the memo, and while an item's output is
	 * being recorded for it, the item's place on the stack plus one
	 * (0: not recording) and whether the output turned out to depend on
	 * anything but the item's prototype. */
	struct td_memo *memo;
	size_t floor;
	bool impure;
	struct td_buf key;
};

static int render_nodes(struct render *r, const struct node *parent);

static int put(struct render *r, const char *s, size_t n)
{
	if (td_buf_append(r->out, s, n) == 0)
		return 0;
	return td_err_set(r->err, EX_DATAERR,
			  "%s: rendered output larger than %zu bytes",
			  r->tpl->label, r->out->max);
}

static int put_indent(struct render *r)
{
	if (!r->pending)
		return 0;
	r->pending = false;
	return r->indent.len ? put(r, r->indent.data, r->indent.len) : 0;
}

static int emit_text(struct render *r, const char *s, size_t n)
{
	while (n > 0) {
		int rc = put_indent(r);
		if (rc)
			return rc;
		const char *nl = memchr(s, '\n', n);
		size_t seg = nl ? (size_t)(nl - s) + 1 : n;
		if ((rc = put(r, s, seg)))
			return rc;
		r->pending = nl != NULL;
		s += seg;
		n -= seg;
	}
	return 0;
}

static int emit_escaped(struct render *r, const char *s)
{
	const char *run = s;
	int rc;
	for (; *s; s++) {
		const char *ent;
		switch (*s) {
		case '&': ent = "&amp;"; break;
		case '<': ent = "&lt;"; break;
		case '>': ent = "&gt;"; break;
		case '"': ent = "&quot;"; break;
		case '\'': ent = "&#39;"; break;
		default: continue;
		}
		if ((rc = put(r, run, (size_t)(s - run))) ||
		    (rc = put(r, ent, strlen(ent))))
			return rc;
		run = s + 1;
	}
	return put(r, run, (size_t)(s - run));
}

static void push_ctx(struct render *r, const struct td_value *v)
{
	if (r->sn == r->scap) {
		r->scap = r->scap ? r->scap * 2 : 16;
		r->stack = td_xrealloc(r->stack, r->scap * sizeof *r->stack);
	}
	r->stack[r->sn++] = v;
}

/* Spec name resolution: the first part walks the context stack down, the
 * rest resolve only against what the previous part found. NULL: missing. */
static const struct td_value *lookup(struct render *r, const struct name *nm)
{
	if (nm->nparts == 0) {
		/* the recorded item itself: not its prototype */
		if (r->floor && r->sn == r->floor)
			r->impure = true;
		return r->sn ? r->stack[r->sn - 1] : NULL;
	}
	const struct td_value *v = NULL;
	size_t i = r->sn;
	while (i > 0 && !v)
		v = td_value_map_get(r->stack[--i], nm->parts[0]);
	/* While recording, a name must resolve above the item (in what the
	 * item led to) or in the item itself (its own keys, which the memo's
	 * key holds, or its prototype): not below it, and not nowhere (then
	 * it depends on the contexts below). */
	if (r->floor && (!v || i + 1 < r->floor))
		r->impure = true;
	for (size_t k = 1; v && k < nm->nparts; k++)
		v = td_value_map_get(v, nm->parts[k]);
	return v;
}

static int render_var(struct render *r, const struct node *n)
{
	int rc = put_indent(r);
	if (rc)
		return rc;
	const char *s = value_text(lookup(r, &n->name));
	if (r->escape && n->escape)
		return emit_escaped(r, s);
	return put(r, s, strlen(s));
}

/* The memo's key for n's body rendered with item: everything but the
 * prototype's contents that the output can depend on when every name
 * resolved in the item or above it (lookup). The prototype stands for its
 * contents by its address: the memo's owner keeps prototypes unchanged
 * while memo lives (template.h). False when the item has an own value
 * that is a list or a map (not memoized). */
static bool item_key(struct render *r, const struct node *n,
		     const struct td_value *item)
{
	struct td_buf *k = &r->key;
	const void *ptrs[3] = { n, td_value_map_proto(item), r->set };
	int state[3] = { r->escape, r->pending, r->depth };
	td_buf_reset(k);
	td_buf_append(k, ptrs, sizeof ptrs);
	td_buf_append(k, state, sizeof state);
	/* the item's own keys and values (type and text): what they shadow
	 * of the prototype, and what they say themselves */
	for (size_t i = 0, nk = td_value_map_len(item); i < nk; i++) {
		const char *name = td_value_map_key(item, i);
		const struct td_value *v = td_value_map_at(item, i);
		enum td_value_type type = td_value_type(v);
		if (type == TD_VALUE_LIST || type == TD_VALUE_MAP)
			return false;
		const char *text = value_text(v);
		td_buf_append(k, name, strlen(name) + 1);
		td_buf_putc(k, (char)('0' + (int)type));
		td_buf_append(k, text, strlen(text) + 1);
	}
	td_buf_putc(k, '\0');
	if (r->indent.len)
		td_buf_append(k, r->indent.data, r->indent.len);
	return true;
}

/* n's body for item (on the stack top), from the memo when it was
 * recorded before, else rendered and offered to the memo when it proved
 * to depend on the item's prototype alone. The value kept is the output
 * and one byte: whether it ended at a line start (pending); or the byte
 * ITEM_IMPURE alone: the item depends on more, render it as usual. */
#define ITEM_IMPURE 2
static int render_item_memo(struct render *r, const struct node *n,
			    const struct td_value *item)
{
	if (!item_key(r, n, item))
		return render_nodes(r, n);
	uint64_t h = td_memo_hash(r->key.data, r->key.len);
	size_t before = r->out->len;
	int got = td_memo_get(r->memo, h, r->key.data, r->key.len, r->out);
	if (got > 0) {
		char last = r->out->data[--r->out->len];
		r->out->data[r->out->len] = '\0';
		if (last == ITEM_IMPURE)
			return render_nodes(r, n);
		r->pending = last != 0;
		return 0;
	}
	r->floor = r->sn;
	r->impure = false;
	int rc = render_nodes(r, n);
	r->floor = 0;
	if (rc)
		return rc;
	if (r->impure) {
		/* remembered too, so the next time renders without recording */
		static const char impure = ITEM_IMPURE;
		td_memo_put(r->memo, h, r->key.data, r->key.len, &impure, 1);
	} else if (td_buf_putc(r->out, (char)r->pending) == 0) {
		td_memo_put(r->memo, h, r->key.data, r->key.len,
			    r->out->data + before, r->out->len - before);
		r->out->data[--r->out->len] = '\0';
	}
	return 0;
}

static int render_section(struct render *r, const struct node *n)
{
	const struct td_value *v = lookup(r, &n->name);
	bool truthy = value_truthy(v);
	if (n->kind == N_INVERTED)
		return truthy ? 0 : render_nodes(r, n);
	if (!truthy)
		return 0;
	int rc = 0;
	if (td_value_type(v) == TD_VALUE_LIST) {
		size_t len = td_value_list_len(v);
		for (size_t i = 0; i < len && !rc; i++) {
			const struct td_value *item = td_value_list_at(v, i);
			push_ctx(r, item);
			if (r->memo && !r->floor && td_value_map_proto(item))
				rc = render_item_memo(r, n, item);
			else
				rc = render_nodes(r, n);
			r->sn--;
		}
		return rc;
	}
	push_ctx(r, v);
	rc = render_nodes(r, n);
	r->sn--;
	return rc;
}

static int depth_enter(struct render *r, const struct node *n)
{
	const char *what = n->kind == N_PARTIAL ? "partial" :
			   n->kind == N_PARENT ? "parent" : "block";
	if (r->depth >= TD_TEMPLATE_MAX_DEPTH)
		return td_err_set(r->err, EX_DATAERR,
				  "%s:%u:%u: %s '%s%s' nested more than %d deep "
				  "(recursion?)", r->tpl->label, n->line, n->col,
				  what, n->dynamic ? "*" : "", n->name.raw,
				  TD_TEMPLATE_MAX_DEPTH);
	r->depth++;
	return 0;
}

/* {{>x}} and {{<x}}...{{/x}}: the other template renders in the current
 * context, indented when the tag stood alone on its line. */
static int render_include(struct render *r, const struct node *n)
{
	const char *nm = n->name.raw;
	if (n->dynamic) {
		const struct td_value *v = lookup(r, &n->name);
		nm = td_value_text(v);
		if (!nm)
			return 0;
	}
	const struct td_template *t = td_template_set_get(r->set, nm);
	if (!t)
		return 0; /* the spec renders a missing partial as nothing */
	int rc = depth_enter(r, n);
	if (rc)
		return rc;
	size_t saved = r->indent.len;
	if (n->standalone) {
		td_buf_puts(&r->indent, n->indent);
		r->pending = true;
	}
	if (r->floor && n->kind == N_PARENT)
		r->impure = true;    /* its blocks may come from outside */
	struct frame f = { n, r->frame };
	const struct frame *saved_frame = r->frame;
	const struct td_template *saved_tpl = r->tpl;
	if (n->kind == N_PARENT)
		r->frame = &f;
	r->tpl = t;
	rc = render_nodes(r, &t->root);
	r->tpl = saved_tpl;
	r->frame = saved_frame;
	r->indent.len = saved;
	if (r->indent.data)
		r->indent.data[saved] = '\0';
	if (n->standalone)
		r->pending = true; /* its line (and newline) went away */
	r->depth--;
	return rc;
}

static const struct node *find_override(const struct frame *f,
					const char *name)
{
	if (!f)
		return NULL;
	const struct node *o = find_override(f->outer, name);
	if (o)
		return o;
	for (size_t i = 0; i < f->parent->nkids; i++) {
		const struct node *k = f->parent->kids[i];
		if (k->kind == N_BLOCK && strcmp(k->name.raw, name) == 0)
			return k;
	}
	return NULL;
}

static int render_block(struct render *r, const struct node *n)
{
	if (r->floor)
		r->impure = true;    /* an override may come from outside */
	const struct node *body = find_override(r->frame, n->name.raw);
	int rc;
	/* An override may hold the same block again: count it like a
	 * partial so that cannot loop forever. */
	if (body && (rc = depth_enter(r, n)))
		return rc;
	size_t saved = r->indent.len;
	td_buf_puts(&r->indent, n->indent);
	rc = render_nodes(r, body ? body : n);
	r->indent.len = saved;
	if (r->indent.data)
		r->indent.data[saved] = '\0';
	if (body)
		r->depth--;
	return rc;
}

static int render_nodes(struct render *r, const struct node *parent)
{
	int rc = 0;
	for (size_t i = 0; i < parent->nkids && !rc; i++) {
		const struct node *n = parent->kids[i];
		switch (n->kind) {
		case N_TEXT:
			rc = emit_text(r, n->text, n->len);
			break;
		case N_VAR:
			rc = render_var(r, n);
			break;
		case N_SECTION:
		case N_INVERTED:
			rc = render_section(r, n);
			break;
		case N_PARTIAL:
		case N_PARENT:
			rc = render_include(r, n);
			break;
		case N_BLOCK:
			rc = render_block(r, n);
			break;
		case N_ROOT:
			break;
		}
	}
	return rc;
}

int td_template_render(const struct td_template *t,
		       const struct td_template_set *partials,
		       const struct td_value *ctx, bool escape_html,
		       struct td_buf *out, struct td_err *err)
{
	return td_template_render_memo(t, partials, ctx, escape_html, NULL, out, err);
}

int td_template_render_memo(const struct td_template *t,
			    const struct td_template_set *partials,
			    const struct td_value *ctx, bool escape_html,
			    struct td_memo *memo, struct td_buf *out,
			    struct td_err *err)
{
	struct render r = { 0 };
	r.memo = memo;
	td_buf_init(&r.key, TD_BUF_NOLIMIT);
	r.set = partials;
	r.tpl = t;
	r.escape = escape_html;
	r.out = out;
	r.err = err;
	r.pending = true;
	td_buf_init(&r.indent, TD_BUF_NOLIMIT);
	if (ctx)
		push_ctx(&r, ctx);
	int rc = render_nodes(&r, &t->root);
	free(r.stack);
	td_buf_free(&r.indent);
	td_buf_free(&r.key);
	return rc;
}

/* -------------------------------------------------------------- sets */

struct set_entry {
	char *name;
	struct td_template *t;
};

struct td_template_set {
	struct set_entry *v;
	size_t n, cap;
};

struct td_template_set *td_template_set_new(void)
{
	return td_xcalloc(1, sizeof(struct td_template_set));
}

void td_template_set_free(struct td_template_set *set)
{
	if (!set)
		return;
	for (size_t i = 0; i < set->n; i++) {
		free(set->v[i].name);
		td_template_free(set->v[i].t);
	}
	free(set->v);
	free(set);
}

static struct set_entry *set_find(const struct td_template_set *set,
				  const char *name)
{
	for (size_t i = 0; set && i < set->n; i++)
		if (strcmp(set->v[i].name, name) == 0)
			return &set->v[i];
	return NULL;
}

static void set_put(struct td_template_set *set, const char *name,
		    struct td_template *t)
{
	struct set_entry *e = set_find(set, name);
	if (e) {
		td_template_free(e->t);
		e->t = t;
		return;
	}
	if (set->n == set->cap) {
		set->cap = set->cap ? set->cap * 2 : 8;
		set->v = td_xrealloc(set->v, set->cap * sizeof *set->v);
	}
	set->v[set->n].name = td_xstrdup(name);
	set->v[set->n].t = t;
	set->n++;
}

static int set_add_labeled(struct td_template_set *set, const char *name,
			   const char *label, const char *src, size_t len,
			   struct td_err *err)
{
	struct td_template *t;
	int rc = parse_labeled(name, label, src, len, &t, err);
	if (rc)
		return rc;
	set_put(set, name, t);
	return 0;
}

int td_template_set_add(struct td_template_set *set, const char *name,
			const char *src, size_t len, struct td_err *err)
{
	return set_add_labeled(set, name, name, src, len, err);
}

const struct td_template *td_template_set_get(const struct td_template_set *set,
					      const char *name)
{
	const struct set_entry *e = name ? set_find(set, name) : NULL;
	return e ? e->t : NULL;
}

static const char SUFFIX[] = ".mustache";

static int is_template_file(const struct dirent *de)
{
	size_t n = strlen(de->d_name), s = sizeof SUFFIX - 1;
	return de->d_name[0] != '.' && n > s &&
	       strcmp(de->d_name + n - s, SUFFIX) == 0;
}

/* Loads dir/ *.mustache; `taken` collects names so a partial cannot
 * silently shadow a top-level template of the same name. */
static int load_one_dir(struct td_template_set *set, const char *dir,
			bool optional, struct td_strv *taken, struct td_err *err)
{
	struct dirent **list;
	int n = scandir(dir, &list, is_template_file, alphasort);
	if (n < 0) {
		if (optional && errno == ENOENT)
			return 0;
		return td_err_set(err, errno == ENOENT ? EX_NOINPUT : EX_IOERR,
				  "templates: %s: %s", dir, strerror(errno));
	}
	int rc = 0;
	for (int i = 0; i < n; i++) {
		char *path = td_xasprintf("%s/%s", dir, list[i]->d_name);
		char *name = td_xstrndup(list[i]->d_name,
					 strlen(list[i]->d_name) - (sizeof SUFFIX - 1));
		struct stat st;
		char *src = NULL;
		size_t len = 0;
		if (rc || stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
			/* a dangling link or a folder named x.mustache */
		} else if (td_strv_contains(taken, name)) {
			rc = td_err_set(err, EX_DATAERR,
					"templates: %s: name '%s' is already "
					"taken by another template", path, name);
		} else if (td_read_file(path, TD_TEMPLATE_FILE_MAX, &src, &len) != 0) {
			rc = td_err_set(err, EX_IOERR, "templates: %s: %s",
					path, strerror(errno));
		} else {
			rc = set_add_labeled(set, name, path, src, len, err);
			td_strv_push(taken, name);
		}
		free(src);
		free(name);
		free(path);
		free(list[i]);
	}
	free(list);
	return rc;
}

int td_template_set_load_dir(struct td_template_set *set, const char *dir,
			     struct td_err *err)
{
	struct td_strv taken = TD_STRV_INIT;
	int rc = load_one_dir(set, dir, false, &taken, err);
	if (!rc) {
		char *sub = td_xasprintf("%s/partials", dir);
		rc = load_one_dir(set, sub, true, &taken, err);
		free(sub);
	}
	td_strv_free(&taken);
	return rc;
}

struct check {
	const struct td_template_set *set;
	const struct td_template *t;
	struct td_err *err;
	size_t missing;
};

static void check_nodes(struct check *c, const struct node *parent)
{
	for (size_t i = 0; i < parent->nkids; i++) {
		const struct node *n = parent->kids[i];
		bool include = n->kind == N_PARTIAL || n->kind == N_PARENT;
		/* dynamic names are only known at render time */
		if (include && !n->dynamic && !set_find(c->set, n->name.raw) &&
		    c->missing++ == 0)
			td_err_set(c->err, EX_DATAERR,
				   "%s:%u:%u: unknown %s '%s'", c->t->label,
				   n->line, n->col,
				   n->kind == N_PARTIAL ? "partial" : "parent",
				   n->name.raw);
		/* inside a parent only the blocks are ever rendered */
		if (n->kind == N_PARENT) {
			for (size_t k = 0; k < n->nkids; k++)
				if (n->kids[k]->kind == N_BLOCK)
					check_nodes(c, n->kids[k]);
		} else {
			check_nodes(c, n);
		}
	}
}

int td_template_set_check(const struct td_template_set *set, struct td_err *err)
{
	struct td_err first = { 0 };
	struct check c = { set, NULL, &first, 0 };
	for (size_t i = 0; set && i < set->n; i++) {
		c.t = set->v[i].t;
		check_nodes(&c, &c.t->root);
	}
	if (c.missing == 0)
		return 0;
	if (c.missing == 1)
		return td_err_set(err, EX_DATAERR, "%s", first.msg);
	return td_err_set(err, EX_DATAERR, "%s (and %zu more)", first.msg,
			  c.missing - 1);
}
