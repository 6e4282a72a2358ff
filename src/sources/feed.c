/*
 * feed.c: RSS 0.9x/2.0, RSS 1.0 (RDF), Atom 1.0 and 0.3 read with libxml2
 * into feedparser's data model: td_feed_parse runs the steps, the walk
 * over the DOM is here.
 *
 * The model is deliberately feedparser's (a tree of dicts, lists and
 * strings with its key names), because the feed module is held to
 * feedparser's own test suite (tests/conformance/run_feeds.py) and because
 * that model has already absorbed twenty years of odd feeds. The steps:
 *
 *   1. bytes -> UTF-8 ourselves (feed_charset.h), bozo set when they
 *      needed repair, so libxml2 always sees valid UTF-8;
 *   2. the entities the internal subset declares expanded, bounded, and
 *      the subset taken out; comments trimmed (feed_repair.h);
 *   3. a strict parse; when that fails, bozo is set and the text gets the
 *      repairs feedparser's loose parser makes implicitly before a RECOVER
 *      parse (feed_repair.h);
 *   4. a walk over the DOM that fills the model (text constructs, links,
 *      ids, dates, authors, tags, enclosures), resolving URLs against
 *      xml:base and the document's address (uri.h), sanitizing HTML
 *      (html.h);
 *   5. td_feed_posts() maps entries to posts (feed_post.c);
 *      td_feed_dump_json() prints the model for `tagdigest feed-dump` and
 *      the conformance runner.
 */
#include "tagdigest/sources/feed.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <libxml/HTMLparser.h>
#include <libxml/parser.h>
#include <libxml/tree.h>

#include "tagdigest/sources/date.h"
#include "tagdigest/sources/feed_charset.h"
#include "tagdigest/sources/feed_repair.h"
#include "tagdigest/sources/html.h"
#include "tagdigest/core/uri.h"
#include "tagdigest/core/util.h"
#include "tagdigest/core/value.h"
#include "feed_impl.h"

/* Small string helpers. */

/* Python's str.strip() for ASCII whitespace, in place. */
static char *strip(char *s)
{
	size_t n = strlen(s), a = 0;
	while (n > 0 && td_feed_is_space((unsigned char)s[n - 1]))
		n--;
	while (a < n && td_feed_is_space((unsigned char)s[a]))
		a++;
	memmove(s, s + a, n - a);
	s[n - a] = '\0';
	return s;
}

static bool starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* feedparser's 9-tuple for a UTC time (feed_impl.h). */
static struct td_value *time_tuple(time_t t)
{
	struct tm tm;
	gmtime_r(&t, &tm);
	const int f[9] = { tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
			   tm.tm_min, tm.tm_sec, (tm.tm_wday + 6) % 7, tm.tm_yday + 1, 0 };
	struct td_value *l = td_value_list();
	for (size_t i = 0; i < 9; i++)
		td_value_list_push(l, td_value_int(f[i]));
	return l;
}

/* Schemes an xml:base may switch to (feedparser's list, abridged): a
 * javascript: base must not make every relative link executable. */
static bool scheme_acceptable(const char *u)
{
	static const char *const ok[] = {
		"http", "https", "ftp", "file", "mailto", "news", "nntp",
		"gopher", "feed", "magnet", "tag", "urn", NULL,
	};
	struct td_uri p;
	td_uri_split(u, &p);
	if (!p.has_scheme)
		return false;
	for (size_t i = 0; ok[i]; i++)
		if (td_uri_scheme_is(&p, ok[i]))
			return true;
	return false;
}

/* Walking the document.                                                */

struct pctx {
	struct td_feed *f;
	const char *doc_base;   /* Content-Location / the document's URL */
	bool atom;              /* Atom rules for text constructs */
	bool atom10;
	size_t nentries;
	size_t id_local_cap;    /* f->id_local holds this many */
};

enum scope { SC_FEED, SC_ENTRY, SC_SOURCE };

struct container {
	struct td_value *d;
	enum scope sc;
	bool has_content;
	bool guidislink;
	bool id_local;     /* id: a relative guid made absolute */
};

/* Namespaces feedparser folds into the core vocabulary ("") or gives a
 * fixed prefix, so dc:creator means the same whatever the document calls
 * the prefix. Compared lowercased. */
static const struct {
	const char *uri, *prefix;
} ns_map[] = {
	{ "http://backend.userland.com/rss", "" },
	{ "http://blogs.law.harvard.edu/tech/rss", "" },
	{ "http://purl.org/rss/1.0/", "" },
	{ "http://my.netscape.com/rdf/simple/0.9/", "" },
	{ "http://example.com/newformat#", "" },
	{ "http://example.com/necho", "" },
	{ "http://purl.org/echo/", "" },
	{ "uri/of/echo/namespace#", "" },
	{ "http://purl.org/pie/", "" },
	{ "http://purl.org/atom/ns#", "" },
	{ "http://www.w3.org/2005/atom", "" },
	{ "http://purl.org/rss/1.0/modules/rss091#", "" },
	{ "http://purl.org/rss/1.0/modules/content/", "content" },
	{ "http://purl.org/dc/elements/1.1/", "dc" },
	{ "http://purl.org/dc/terms/", "dcterms" },
	{ "http://www.itunes.com/dtds/podcast-1.0.dtd", "itunes" },
	{ "http://example.com/dtds/podcast-1.0.dtd", "itunes" },
	{ "http://search.yahoo.com/mrss", "media" },
	{ "http://search.yahoo.com/mrss/", "media" },
	{ "http://www.w3.org/1999/02/22-rdf-syntax-ns#", "rdf" },
	{ "http://www.w3.org/1999/xhtml", "xhtml" },
	{ "http://wellformedweb.org/commentapi/", "wfw" },
	{ "http://purl.org/rss/1.0/modules/slash/", "slash" },
	{ "http://rssnamespace.org/feedburner/ext/1.0", "feedburner" },
	{ "http://purl.org/rss/1.0/modules/syndication/", "sy" },
	{ "http://www.w3.org/1999/xlink", "xlink" },
	{ "http://www.w3.org/xml/1998/namespace", "xml" },
};

/* "prefix:local" (or "local" for the core vocabulary), lowercased. */
static void canon_name(const xmlNode *n, char *out, size_t outsz)
{
	const char *prefix = "";
	char low[128];
	if (n->ns && n->ns->href) {
		size_t k = 0;
		for (const char *p = (const char *)n->ns->href; *p && k + 1 < sizeof low; p++)
			low[k++] = (char)tolower((unsigned char)*p);
		low[k] = '\0';
		bool found = false;
		if (strstr(low, "backend.userland.com/rss")) {
			found = true;
		} else {
			for (size_t i = 0; i < sizeof ns_map / sizeof ns_map[0]; i++) {
				if (strcmp(low, ns_map[i].uri) == 0) {
					prefix = ns_map[i].prefix;
					found = true;
					break;
				}
			}
		}
		/* an unknown default namespace counts as the core one */
		if (!found && n->ns->prefix)
			prefix = (const char *)n->ns->prefix;
	}
	snprintf(out, outsz, "%s%s%s", prefix, *prefix ? ":" : "", (const char *)n->name);
	for (char *p = out; *p; p++)
		*p = (char)tolower((unsigned char)*p);
}

static bool name_is(const char *name, const char *const *list)
{
	for (size_t i = 0; list[i]; i++)
		if (strcmp(name, list[i]) == 0)
			return true;
	return false;
}

/* An attribute by local name, in no namespace or the element's own. */
static char *attr(const xmlNode *n, const char *name)
{
	for (const xmlAttr *a = n->properties; a; a = a->next) {
		if (a->ns && a->ns != n->ns)
			continue;
		if (strcasecmp((const char *)a->name, name) != 0)
			continue;
		xmlChar *v = xmlNodeListGetString(n->doc, a->children, 1);
		char *s = td_xstrdup(v ? (const char *)v : "");
		xmlFree(v);
		return s;
	}
	return NULL;
}

static bool has_element_child(const xmlNode *n)
{
	for (const xmlNode *c = n->children; c; c = c->next)
		if (c->type == XML_ELEMENT_NODE)
			return true;
	return false;
}

/* Text of a node and its descendants. Entity references cannot occur:
 * declared entities were expanded before the parse (td_feed_expand_entities) and
 * documents still declaring any are refused after it. */
static void text_of(const xmlNode *n, struct td_buf *b, int depth)
{
	for (const xmlNode *c = n->children; c; c = c->next) {
		if (c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) {
			if (c->content)
				td_buf_puts(b, (const char *)c->content);
		} else if (c->type == XML_ELEMENT_NODE && depth < FEED_MAX_DEPTH) {
			text_of(c, b, depth + 1);
		}
	}
}

static char *node_text(const xmlNode *n)
{
	struct td_buf b = TD_BUF_INIT;
	text_of(n, &b, 0);
	return strip(td_buf_steal(&b));
}

void td_feed_escape_xml(struct td_buf *b, const char *s, bool in_attr)
{
	for (; *s; s++) {
		switch (*s) {
		case '&': td_buf_puts(b, "&amp;"); break;
		case '<': td_buf_puts(b, "&lt;"); break;
		case '>': td_buf_puts(b, "&gt;"); break;
		case '"':
			if (in_attr) {
				td_buf_puts(b, "&quot;");
				break;
			}
			/* fall through */
		default: td_buf_putc(b, *s);
		}
	}
}

static bool is_void_element(const char *name)
{
	static const char *const v[] = {
		"area", "base", "br", "col", "embed", "hr", "img", "input",
		"link", "meta", "param", "source", "track", "wbr", NULL,
	};
	return name_is(name, v);
}

/* Inline XHTML back to markup, without namespace prefixes (feedparser
 * writes local names). */
static void serialize(const xmlNode *n, struct td_buf *b, int depth)
{
	for (const xmlNode *c = n->children; c; c = c->next) {
		if (c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) {
			if (c->content)
				td_feed_escape_xml(b, (const char *)c->content, false);
			continue;
		}
		if (c->type != XML_ELEMENT_NODE || depth >= FEED_MAX_DEPTH)
			continue;
		const char *name = (const char *)c->name;
		td_buf_printf(b, "<%s", name);
		for (const xmlAttr *a = c->properties; a; a = a->next) {
			xmlChar *v = xmlNodeListGetString(c->doc, a->children, 1);
			td_buf_printf(b, " %s=\"", (const char *)a->name);
			td_feed_escape_xml(b, v ? (const char *)v : "", true);
			td_buf_putc(b, '"');
			xmlFree(v);
		}
		if (!c->children && is_void_element(name)) {
			td_buf_puts(b, " />");
			continue;
		}
		td_buf_putc(b, '>');
		serialize(c, b, depth + 1);
		td_buf_printf(b, "</%s>", name);
	}
}

/* The element's base URL: the document's, then each xml:base from the
 * root down. A base that resolves to a scheme outside the allowlist is
 * ignored (feedparser's make_safe_absolute_uri). */
static char *node_base(const struct pctx *p, const xmlNode *n)
{
	const xmlNode *chain[FEED_MAX_DEPTH];
	size_t k = 0;
	for (const xmlNode *x = n; x && x->type == XML_ELEMENT_NODE && k < FEED_MAX_DEPTH;
	     x = x->parent)
		chain[k++] = x;
	char *base = td_xstrdup(p->doc_base ? p->doc_base : "");
	while (k-- > 0) {
		xmlChar *xb = xmlGetNsProp(chain[k], (const xmlChar *)"base", XML_XML_NAMESPACE);
		if (!xb)
			continue;
		char *nb = td_uri_resolve(base, (const char *)xb);
		xmlFree(xb);
		if (!*base || scheme_acceptable(nb)) {
			free(base);
			base = nb;
		} else {
			free(nb);
		}
	}
	return base;
}

static char *resolve_here(const struct pctx *p, const xmlNode *n, const char *ref)
{
	char *base = node_base(p, n);
	char *out = td_uri_resolve(base, ref);
	free(base);
	return out;
}

static const char *map_type(const char *t)
{
	if (!strcasecmp(t, "text") || !strcasecmp(t, "plain"))
		return "text/plain";
	if (!strcasecmp(t, "html"))
		return "text/html";
	if (!strcasecmp(t, "xhtml"))
		return "application/xhtml+xml";
	return NULL;
}

bool td_feed_is_html_type(const char *t)
{
	return !strcmp(t, "text/html") || !strcmp(t, "application/xhtml+xml");
}

/* HTML elements feedparser's sanitizer accepts; text outside Atom that
 * uses only these (and has a closing tag or an entity) is taken as HTML. */
static bool acceptable_element(const char *t)
{
	static const char *const ok[] = {
		"a", "abbr", "acronym", "address", "area", "article", "aside",
		"audio", "b", "big", "blockquote", "br", "button", "canvas",
		"caption", "center", "cite", "code", "col", "colgroup", "command",
		"datagrid", "datalist", "dd", "del", "details", "dfn", "dialog",
		"dir", "div", "dl", "dt", "em", "event-source", "fieldset",
		"figcaption", "figure", "font", "footer", "form", "h1", "h2",
		"h3", "h4", "h5", "h6", "header", "hr", "i", "img", "input",
		"ins", "kbd", "keygen", "label", "legend", "li", "m", "map",
		"menu", "meter", "multicol", "nav", "nextid", "noscript", "ol",
		"optgroup", "option", "output", "p", "pre", "progress", "q", "s",
		"samp", "section", "select", "small", "sound", "source", "spacer",
		"span", "strike", "strong", "sub", "sup", "table", "tbody", "td",
		"textarea", "tfoot", "th", "thead", "time", "tr", "tt", "u", "ul",
		"var", "video", NULL,
	};
	char low[32];
	size_t k = 0;
	for (; t[k] && k + 1 < sizeof low; k++)
		low[k] = (char)tolower((unsigned char)t[k]);
	low[k] = '\0';
	return name_is(low, ok);
}

static bool looks_like_html(const char *s)
{
	bool close_or_entity = false;
	for (const char *p = s; *p; p++) {
		if (p[0] == '<' && p[1] == '/' && isalnum((unsigned char)p[2])) {
			const char *q = p + 2;
			while (isalnum((unsigned char)*q) || *q == '_')
				q++;
			if (*q == '>')
				close_or_entity = true;
		}
		if (p[0] == '&') {
			const char *q = p + 1 + (p[1] == '#');
			const char *w = q;
			while (isalnum((unsigned char)*q) || *q == '_')
				q++;
			if (q > w && *q == ';')
				close_or_entity = true;
		}
	}
	if (!close_or_entity)
		return false;
	for (const char *p = s; *p; p++) {
		if (*p == '<') {
			const char *q = p + 1 + (p[1] == '/');
			char tag[32];
			size_t k = 0;
			while ((isalnum((unsigned char)*q) || *q == '_') && k + 1 < sizeof tag)
				tag[k++] = *q++;
			tag[k] = '\0';
			if (k && !acceptable_element(tag))
				return false;
		} else if (*p == '&' && p[1] != '#') {
			const char *q = p + 1;
			char name[40];
			size_t k = 0;
			while ((isalnum((unsigned char)*q) || *q == '_') && k + 1 < sizeof name)
				name[k++] = *q++;
			name[k] = '\0';
			if (k && *q == ';' && !htmlEntityLookup((const xmlChar *)name))
				return false;
		}
	}
	return true;
}

static int b64_value(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Base64 to text; NULL when it is not base64 of UTF-8 text. */
static char *b64_decode(const char *s)
{
	struct td_buf b = TD_BUF_INIT;
	unsigned acc = 0;
	int bits = 0;
	for (; *s; s++) {
		if (td_feed_is_space((unsigned char)*s))
			continue;
		if (*s == '=')
			break;
		int v = b64_value((unsigned char)*s);
		if (v < 0) {
			td_buf_free(&b);
			return NULL;
		}
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			td_buf_putc(&b, (char)((acc >> bits) & 0xFF));
		}
	}
	if (!td_utf8_valid(td_buf_cstr(&b), b.len) || memchr(td_buf_cstr(&b), 0, b.len)) {
		td_buf_free(&b);
		return NULL;
	}
	return td_buf_steal(&b);
}

/* A text construct (title, summary, content, ...) as feedparser's detail
 * dict: type, value, base, language (+ src). The value of HTML types is
 * sanitized, with relative URLs resolved against the element's base. */
static struct td_value *text_construct(const struct pctx *p, const xmlNode *n,
				  const char *deftype)
{
	char *tattr = attr(n, "type");
	char *mode = attr(n, "mode");
	const char *mt = tattr ? map_type(tattr) : NULL;
	char *type = td_xstrdup(mt ? mt : tattr ? tattr : deftype);
	for (char *q = type; *q; q++)
		*q = (char)tolower((unsigned char)*q);
	char *value;

	if (has_element_child(n)) {
		bool xmlish = ends_with(type, "xml");
		const xmlNode *only = NULL;
		size_t nel = 0;
		for (const xmlNode *c = n->children; c; c = c->next)
			if (c->type == XML_ELEMENT_NODE) {
				only = c;
				nel++;
			}
		if (!xmlish && nel == 1 && !strcmp((const char *)only->name, "div") &&
		    !has_element_child(only)) {
			/* escaped markup wrapped in a div (TypePad does this) */
			value = node_text(n);
		} else {
			if (!xmlish) {
				/* declared as text or escaped HTML, but it is inline markup */
				free(type);
				type = td_xstrdup("application/xhtml+xml");
			}
			const xmlNode *from = n;
			if (p->atom10 && !strcmp(type, "application/xhtml+xml") && nel == 1 &&
			    !strcmp((const char *)only->name, "div")) {
				/* Atom 1.0's wrapper div is not content, unless
				 * something else sits beside it */
				bool alone = true;
				for (const xmlNode *c = n->children; c; c = c->next)
					if ((c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) &&
					    c->content) {
						for (const char *t = (const char *)c->content; *t; t++)
							if (!td_feed_is_space((unsigned char)*t))
								alone = false;
					}
				if (alone)
					from = only;
			}
			struct td_buf b = TD_BUF_INIT;
			serialize(from, &b, 0);
			value = strip(td_buf_steal(&b));
		}
	} else {
		value = node_text(n);
	}

	bool b64 = (mode && !strcasecmp(mode, "base64")) ||
		   (!starts_with(type, "text/") && !ends_with(type, "+xml") &&
		    !ends_with(type, "/xml"));
	if (b64) {
		char *d = b64_decode(value);
		if (d) {
			free(value);
			value = d;
		}
	}
	if (!p->atom && !strcmp(type, "text/plain") && looks_like_html(value)) {
		free(type);
		type = td_xstrdup("text/html");
	}
	char *base = node_base(p, n);
	if (td_feed_is_html_type(type)) {
		char *safe = td_html_sanitize(value, strlen(value), *base ? base : NULL);
		free(value);
		value = safe ? safe : td_xstrdup("");
	}
	char *fixed = td_feed_fix_c1(value);
	free(value);

	struct td_value *d = td_value_map();
	td_value_map_set(d, "type", td_value_string_owned(type));
	td_value_map_set(d, "value", td_value_string_owned(fixed));
	td_value_map_set(d, "base", td_value_string_owned(base));
	xmlChar *lang = xmlNodeGetLang(n);
	if (lang && *lang)
		td_value_map_set_str(d, "language", (const char *)lang);
	else
		td_value_map_set(d, "language", td_value_null());
	xmlFree(lang);
	char *src = attr(n, "src");
	if (src) {
		td_value_map_set(d, "src", td_value_string_owned(resolve_here(p, n, src)));
		free(src);
	}
	free(tattr);
	free(mode);
	return d;
}

static void set_text(struct td_value *d, const char *key, struct td_value *detail)
{
	td_value_map_set_str(d, key, td_value_map_get_str(detail, "value"));
	char k2[64];
	snprintf(k2, sizeof k2, "%s_detail", key);
	td_value_map_set(d, k2, detail);
}

static void set_date(struct td_value *d, const char *key, const xmlNode *n)
{
	char *s = node_text(n);
	char *fixed = td_feed_fix_c1(s);
	free(s);
	time_t t;
	char k2[64];
	snprintf(k2, sizeof k2, "%s_parsed", key);
	if (td_date_parse(fixed, &t)) {
		td_value_map_set(d, k2, time_tuple(t));
	}
	td_value_map_set(d, key, td_value_string_owned(fixed));
}

/* An RSS author string: "me@example.com (Name)", "Name <me@example.com>",
 * "Name (me@example.com)" -> name and email, as feedparser splits it. */
static void split_author(const char *s, struct td_value *detail)
{
	const char *at = strchr(s, '@');
	char *email = NULL, *name = td_xstrdup(s);
	while (at) {
		const char *a = at, *b = at + 1;
		while (a > s && (isalnum((unsigned char)a[-1]) || strchr("_.+-", a[-1])))
			a--;
		bool dot = false;
		while (isalnum((unsigned char)*b) || *b == '.' || *b == '-') {
			if (*b == '.' && isalnum((unsigned char)b[1]))
				dot = true;
			b++;
		}
		while (b > at + 1 && b[-1] == '.')
			b--;
		if (a < at && dot) {
			email = td_xstrndup(a, (size_t)(b - a));
			break;
		}
		at = strchr(at + 1, '@');
	}
	if (email) {
		struct td_buf o = TD_BUF_INIT;
		const char *p = name;
		const char *hit = strstr(name, email);
		td_buf_append(&o, p, (size_t)(hit - p));
		td_buf_puts(&o, hit + strlen(email));
		free(name);
		name = td_buf_steal(&o);
		static const char *const junk[] = { "()", "<>", "&lt;&gt;", NULL };
		for (size_t i = 0; junk[i]; i++) {
			char *q;
			while ((q = strstr(name, junk[i])) != NULL)
				memmove(q, q + strlen(junk[i]), strlen(q + strlen(junk[i])) + 1);
		}
		strip(name);
		size_t l = strlen(name);
		if (l && name[0] == '(')
			memmove(name, name + 1, l--);
		if (l && name[l - 1] == ')')
			name[--l] = '\0';
		strip(name);
	}
	if (*name)
		td_value_map_set_str(detail, "name", name);
	if (email)
		td_value_map_set_str(detail, "email", email);
	free(name);
	free(email);
}

static void handle_author(const struct pctx *p, struct td_value *d, const xmlNode *n,
			  const char *key)
{
	char kd[64], ks[64];
	snprintf(kd, sizeof kd, "%s_detail", key);
	snprintf(ks, sizeof ks, "%ss", key);
	struct td_value *person = td_value_map();
	if (has_element_child(n)) {
		/* Atom person construct */
		for (const xmlNode *c = n->children; c; c = c->next) {
			if (c->type != XML_ELEMENT_NODE)
				continue;
			char cn[128];
			canon_name(c, cn, sizeof cn);
			char *t = node_text(c);
			char *ft = td_feed_fix_c1(t);
			free(t);
			if (!strcmp(cn, "name") || !strcmp(cn, "itunes:name"))
				td_value_map_set_str(person, "name", ft);
			else if (!strcmp(cn, "email") || !strcmp(cn, "itunes:email"))
				td_value_map_set_str(person, "email", ft);
			else if (!strcmp(cn, "uri") || !strcmp(cn, "url") || !strcmp(cn, "homepage"))
				td_value_map_set(person, "href", td_value_string_owned(resolve_here(p, c, ft)));
			free(ft);
		}
		const char *nm = td_value_map_get_str(person, "name"), *em = td_value_map_get_str(person, "email");
		if (nm && em) {
			char *s = td_xasprintf("%s (%s)", nm, em);
			td_value_map_set(d, key, td_value_string_owned(s));
		} else if (nm || em) {
			td_value_map_set_str(d, key, nm ? nm : em);
		}
	} else {
		char *t = node_text(n);
		char *ft = td_feed_fix_c1(t);
		free(t);
		if (!*ft) {
			free(ft);
			td_value_free(person);
			return;
		}
		split_author(ft, person);
		td_value_map_set(d, key, td_value_string_owned(ft));
	}
	if (td_value_map_len(person))
		td_value_map_set(d, kd, td_value_copy(person));
	td_value_list_push(td_value_map_child(d, ks, TD_VALUE_LIST), person);
}

static void add_tag(struct td_value *d, const char *term, const char *scheme, const char *label)
{
	if ((!term || !*term) && (!scheme || !*scheme) && (!label || !*label))
		return;
	struct td_value *t = td_value_map();
	td_value_map_set(t, "term", term ? td_value_string(term) : td_value_null());
	td_value_map_set(t, "scheme", scheme ? td_value_string(scheme) : td_value_null());
	td_value_map_set(t, "label", label ? td_value_string(label) : td_value_null());
	struct td_value *tags = td_value_map_child(d, "tags", TD_VALUE_LIST);
	for (size_t i = 0; i < td_value_list_len(tags); i++)
		if (td_value_equal(td_value_list_at(tags, i), t)) {
			td_value_free(t);
			return;
		}
	td_value_list_push(tags, t);
}

static void handle_category(struct td_value *d, const xmlNode *n, const char *cn)
{
	if (!strcmp(cn, "itunes:category")) {
		char *text = attr(n, "text");
		if (text)
			add_tag(d, text, "http://www.itunes.com/", NULL);
		free(text);
		for (const xmlNode *c = n->children; c; c = c->next)
			if (c->type == XML_ELEMENT_NODE)
				handle_category(d, c, cn);
		return;
	}
	char *term = attr(n, "term");
	char *scheme = attr(n, "scheme");
	if (!scheme)
		scheme = attr(n, "domain");
	char *label = attr(n, "label");
	char *text = node_text(n);
	char *ft = td_feed_fix_c1(text);
	free(text);
	if (*ft && (!term || !*term)) {
		free(term);
		term = ft;
		ft = NULL;
	}
	add_tag(d, term, scheme, label);
	free(term);
	free(scheme);
	free(label);
	free(ft);
}

static void handle_link(const struct pctx *p, struct container *ct, const xmlNode *n)
{
	struct td_value *d = ct->d;
	char *href = attr(n, "href");
	char *rel = attr(n, "rel");
	char *type = attr(n, "type");
	bool textual = !href;
	if (textual) {
		/* RSS <link>text</link>, or an Atom link without href */
		href = node_text(n);
		/* "?a=1&amp;b=2" written twice-escaped is still one URL */
		char *q;
		while ((q = strstr(href, "&amp;")) != NULL)
			memmove(q + 1, q + 5, strlen(q + 5) + 1);
	}
	if (!rel || !*rel) {
		free(rel);
		rel = td_xstrdup("alternate");
	}
	if (!type)
		type = td_xstrdup(strcmp(rel, "self") ? "text/html" : "application/atom+xml");
	char *abs = *href || !textual ? resolve_here(p, n, href) : td_xstrdup("");
	struct td_value *l = td_value_map();
	td_value_map_set_str(l, "rel", rel);
	td_value_map_set_str(l, "type", type);
	if (*abs || !textual)
		td_value_map_set_str(l, "href", abs);
	static const char *const extra[] = { "title", "length", "hreflang", NULL };
	for (size_t i = 0; extra[i]; i++) {
		char *v = attr(n, extra[i]);
		if (v)
			td_value_map_set(l, extra[i], td_value_string_owned(v));
	}
	td_value_list_push(td_value_map_child(d, "links", TD_VALUE_LIST), l);
	const char *mt = map_type(type);
	bool alternate = !strcmp(rel, "alternate") && td_feed_is_html_type(mt ? mt : type);
	if (textual && !p->atom)
		alternate = true;
	if (alternate && *abs)
		td_value_map_set_str(d, "link", abs);
	free(abs);
	free(href);
	free(rel);
	free(type);
}

static void handle_guid(const struct pctx *p, struct container *ct, const xmlNode *n)
{
	char *perma = attr(n, "isPermaLink");
	ct->guidislink = !perma || !strcasecmp(perma, "true");
	free(perma);
	char *t = node_text(n);
	char *v = td_feed_fix_c1(t);
	free(t);
	bool resolved = false;
	if (ct->guidislink && *v) {
		struct td_uri u;
		td_uri_split(v, &u);
		resolved = !u.has_scheme;
		char *r = resolve_here(p, n, v);
		free(v);
		v = r;
	}
	bool has_link = td_value_map_get(ct->d, "link") != NULL;
	td_value_map_set_bool(ct->d, "guidislink", ct->guidislink && !has_link);
	if (ct->guidislink && !has_link)
		td_value_map_set_str(ct->d, "link", v);
	/* "123" made "https://site/feed/123" names the item only in this
	 * feed: another feed of the site has another 123 (post.h) */
	ct->id_local = resolved;
	td_value_map_set(ct->d, "id", td_value_string_owned(v));
}

static void handle_enclosure(const struct pctx *p, struct td_value *d, const xmlNode *n)
{
	struct td_value *l = td_value_map();
	td_value_map_set_str(l, "rel", "enclosure");
	char *u = attr(n, "url");
	if (!u)
		u = attr(n, "href");
	if (u) {
		td_value_map_set(l, "href", td_value_string_owned(resolve_here(p, n, u)));
		free(u);
	}
	static const char *const extra[] = { "type", "length", NULL };
	for (size_t i = 0; extra[i]; i++) {
		char *v = attr(n, extra[i]);
		if (v)
			td_value_map_set(l, extra[i], td_value_string_owned(v));
	}
	td_value_list_push(td_value_map_child(d, "links", TD_VALUE_LIST), l);
}

/* RSS <image>: its title and link describe the image, never the feed. */
static void handle_image(const struct pctx *p, struct td_value *d, const xmlNode *n)
{
	struct td_value *img = td_value_map();
	for (const xmlNode *c = n->children; c; c = c->next) {
		if (c->type != XML_ELEMENT_NODE)
			continue;
		char cn[128];
		canon_name(c, cn, sizeof cn);
		char *t = node_text(c);
		if (!strcmp(cn, "url"))
			td_value_map_set(img, "href", td_value_string_owned(resolve_here(p, c, t)));
		else if (!strcmp(cn, "link"))
			td_value_map_set(img, "link", td_value_string_owned(resolve_here(p, c, t)));
		else if (!strcmp(cn, "title") || !strcmp(cn, "description"))
			td_value_map_set_str(img, cn, t);
		free(t);
	}
	td_value_map_set(d, "image", img);
}

static void walk(struct pctx *p, struct container *ct, const xmlNode *parent, int depth);

static void handle_source(struct pctx *p, struct td_value *d, const xmlNode *n, int depth)
{
	struct container sc = { td_value_map(), SC_SOURCE, false, false, false };
	char *u = attr(n, "url");
	if (u) {
		td_value_map_set(sc.d, "href", td_value_string_owned(resolve_here(p, n, u)));
		free(u);
	}
	if (has_element_child(n)) {
		walk(p, &sc, n, depth + 1);
	} else {
		char *t = node_text(n);
		if (*t)
			td_value_map_set(sc.d, "title", td_value_string_owned(t));
		else
			free(t);
	}
	td_value_map_set(d, "source", sc.d);
}

/* Text constructs feedparser reads into a text key and its _detail. */
static void summary_or_content(const struct pctx *p, struct container *ct,
			       const xmlNode *n, const char *deftype, bool is_summary)
{
	struct td_value *d = ct->d;
	/* a second summary-like element is the content (feedparser) */
	if (is_summary && !(ct->sc == SC_ENTRY && td_value_map_get(d, "summary") && !ct->has_content)) {
		set_text(d, "summary", text_construct(p, n, deftype));
		return;
	}
	ct->has_content = true;
	struct td_value *tc = text_construct(p, n, deftype);
	const char *type = td_value_map_get_str(tc, "type");
	bool copy = !strcmp(type, "text/plain") || td_feed_is_html_type(type);
	if (copy && !td_value_map_get(d, "summary"))
		td_value_map_set_str(d, "summary", td_value_map_get_str(tc, "value"));
	td_value_list_push(td_value_map_child(d, "content", TD_VALUE_LIST), tc);
}

static const char *const N_TITLE[] = { "title", "dc:title", NULL };
static const char *const N_LINK[] = { "link", NULL };
static const char *const N_ID[] = { "id", "guid", NULL };
static const char *const N_PUBLISHED[] = { "pubdate", "published", "issued", "dcterms:issued", NULL };
static const char *const N_UPDATED[] = {
	"updated", "modified", "lastbuilddate", "dc:date", "dcterms:modified", NULL,
};
static const char *const N_CREATED[] = { "created", "dcterms:created", NULL };
static const char *const N_AUTHOR[] = {
	"author", "managingeditor", "dc:creator", "dc:author", "itunes:author", NULL,
};
static const char *const N_PUBLISHER[] = { "webmaster", "dc:publisher", "itunes:owner", NULL };
static const char *const N_CATEGORY[] = { "category", "dc:subject", "keywords", "itunes:category", NULL };
static const char *const N_SUBTITLE[] = { "subtitle", "tagline", "itunes:subtitle", NULL };
static const char *const N_RIGHTS[] = { "rights", "copyright", "dc:rights", NULL };
static const char *const N_ENTRY[] = { "item", "entry", NULL };

/* Keys the generic rule (an unknown leaf element becomes prefix_name)
 * must never overwrite. */
static const char *const RESERVED[] = {
	"title", "title_detail", "link", "links", "id", "guidislink",
	"published", "published_parsed", "updated", "updated_parsed",
	"created", "created_parsed", "author", "author_detail", "authors",
	"publisher", "publisher_detail", "tags", "summary", "summary_detail",
	"content", "subtitle", "subtitle_detail", "rights", "rights_detail",
	"source", "image", "textinput", "enclosures", "comments", "href", NULL,
};

static void new_entry(struct pctx *p, const xmlNode *n, int depth)
{
	if (p->nentries >= FEED_MAX_ENTRIES) {
		p->f->entries_dropped++;
		return;
	}
	p->nentries++;
	struct container ec = { td_value_map(), SC_ENTRY, false, false, false };
	td_value_list_push(p->f->entries, ec.d);
	xmlChar *about = xmlGetNsProp(n, (const xmlChar *)"about",
				      (const xmlChar *)"http://www.w3.org/1999/02/22-rdf-syntax-ns#");
	if (about) {
		td_value_map_set_str(ec.d, "id", (const char *)about);
		xmlFree(about);
	}
	walk(p, &ec, n, depth + 1);
	if (p->nentries > p->id_local_cap) {
		p->id_local_cap = p->id_local_cap ? 2 * p->id_local_cap : 64;
		p->f->id_local = td_xrealloc(p->f->id_local,
					     p->id_local_cap * sizeof *p->f->id_local);
	}
	p->f->id_local[p->nentries - 1] = ec.id_local;
}

static void walk(struct pctx *p, struct container *ct, const xmlNode *parent, int depth)
{
	if (depth > FEED_MAX_DEPTH)
		return;
	struct td_value *d = ct->d;
	for (const xmlNode *c = parent->children; c; c = c->next) {
		if (c->type != XML_ELEMENT_NODE)
			continue;
		char cn[128];
		canon_name(c, cn, sizeof cn);
		if (name_is(cn, N_ENTRY)) {
			if (ct->sc == SC_FEED)
				new_entry(p, c, depth);
		} else if (!strcmp(cn, "channel")) {
			if (ct->sc == SC_FEED)
				walk(p, ct, c, depth + 1);
		} else if (name_is(cn, N_TITLE)) {
			set_text(d, "title", text_construct(p, c, "text/plain"));
		} else if (name_is(cn, N_LINK)) {
			handle_link(p, ct, c);
		} else if (name_is(cn, N_ID)) {
			handle_guid(p, ct, c);
		} else if (name_is(cn, N_PUBLISHED)) {
			set_date(d, "published", c);
		} else if (name_is(cn, N_UPDATED)) {
			set_date(d, "updated", c);
		} else if (name_is(cn, N_CREATED)) {
			set_date(d, "created", c);
		} else if (name_is(cn, N_AUTHOR)) {
			handle_author(p, d, c, "author");
		} else if (name_is(cn, N_PUBLISHER)) {
			handle_author(p, d, c, "publisher");
		} else if (name_is(cn, N_CATEGORY)) {
			handle_category(d, c, cn);
		} else if (!strcmp(cn, "tags")) {
			/* <tags>a, b</tags>: comma-separated terms */
			char *t = node_text(c);
			for (char *tok = strtok(t, ","); tok; tok = strtok(NULL, ","))
				add_tag(d, strip(tok), NULL, NULL);
			free(t);
		} else if (!strcmp(cn, "description") || !strcmp(cn, "dc:description")) {
			if (ct->sc == SC_ENTRY)
				summary_or_content(p, ct, c, "text/html", true);
			else
				set_text(d, "subtitle", text_construct(p, c, "text/html"));
		} else if (!strcmp(cn, "summary") || !strcmp(cn, "itunes:summary") ||
			   !strcmp(cn, "abstract")) {
			summary_or_content(p, ct, c, "text/plain", true);
		} else if (!strcmp(cn, "content")) {
			summary_or_content(p, ct, c, "text/plain", false);
		} else if (!strcmp(cn, "content:encoded") || !strcmp(cn, "fullitem")) {
			summary_or_content(p, ct, c, "text/html", false);
		} else if (!strcmp(cn, "xhtml:body") || !strcmp(cn, "body")) {
			summary_or_content(p, ct, c, "application/xhtml+xml", false);
		} else if (name_is(cn, N_SUBTITLE)) {
			set_text(d, "subtitle", text_construct(p, c, "text/plain"));
		} else if (name_is(cn, N_RIGHTS)) {
			set_text(d, "rights", text_construct(p, c, "text/plain"));
		} else if (!strcmp(cn, "comments")) {
			char *t = node_text(c);
			td_value_map_set(d, "comments", td_value_string_owned(resolve_here(p, c, t)));
			free(t);
		} else if (!strcmp(cn, "enclosure")) {
			handle_enclosure(p, d, c);
		} else if (!strcmp(cn, "source")) {
			if (ct->sc == SC_ENTRY)
				handle_source(p, d, c, depth);
		} else if (!strcmp(cn, "image")) {
			if (ct->sc == SC_FEED)
				handle_image(p, d, c);
		} else if (!strcmp(cn, "itunes:image")) {
			char *h = attr(c, "href");
			if (h) {
				struct td_value *img = td_value_map();
				td_value_map_set(img, "href", td_value_string_owned(resolve_here(p, c, h)));
				td_value_map_set(d, "image", img);
				free(h);
			}
		} else if (!strcmp(cn, "textinput") || !strcmp(cn, "items") ||
			   !strcmp(cn, "contributor") || !strcmp(cn, "dc:contributor") ||
			   starts_with(cn, "rdf:")) {
			/* not needed, and their title/link must not bleed */
		} else if (!c->properties && !has_element_child(c)) {
			/* feedparser keeps unknown leaf elements as prefix_name */
			char key[128];
			snprintf(key, sizeof key, "%s", cn);
			for (char *q = key; *q; q++)
				if (*q == ':')
					*q = '_';
			if (!name_is(key, RESERVED)) {
				char *t = node_text(c);
				td_value_map_set(d, key, td_value_string_owned(td_feed_fix_c1(t)));
				free(t);
			}
		}
	}
}

static const char *root_version(const xmlNode *root, const xmlDoc *doc, bool *ok)
{
	char cn[128];
	canon_name(root, cn, sizeof cn);
	*ok = true;
	if (!strcmp(cn, "rss")) {
		char *v = attr(root, "version");
		const char *ver = "rss";
		if (v) {
			if (!strcmp(v, "0.91")) {
				ver = "rss091u";
				const xmlDtd *dtd = doc->intSubset;
				if (dtd && ((dtd->ExternalID && strcasestr((const char *)dtd->ExternalID, "netscape")) ||
					    (dtd->SystemID && strcasestr((const char *)dtd->SystemID, "netscape"))))
					ver = "rss091n";
			} else if (!strcmp(v, "0.92")) {
				ver = "rss092";
			} else if (!strcmp(v, "0.93")) {
				ver = "rss093";
			} else if (!strcmp(v, "0.94")) {
				ver = "rss094";
			} else if (starts_with(v, "2.")) {
				ver = "rss20";
			}
		}
		free(v);
		return ver;
	}
	if (!strcmp(cn, "rdf:rdf")) {
		for (const xmlNode *x = root; x; x = x->children) {
			for (const xmlNs *ns = x->nsDef; ns; ns = ns->next) {
				if (!ns->href)
					continue;
				if (!ns->prefix && !strcasecmp((const char *)ns->href,
							       "http://my.netscape.com/rdf/simple/0.9/"))
					return "rss090";
				if (!strcasecmp((const char *)ns->href, "http://purl.org/rss/1.0/"))
					return "rss10";
			}
			if (x != root)
				break;
			/* else look at the first element child once */
			const xmlNode *c = x->children;
			while (c && c->type != XML_ELEMENT_NODE)
				c = c->next;
			if (!c)
				break;
			if (c->ns && c->ns->href) {
				if (!strcasecmp((const char *)c->ns->href, "http://my.netscape.com/rdf/simple/0.9/"))
					return "rss090";
				if (!strcasecmp((const char *)c->ns->href, "http://purl.org/rss/1.0/"))
					return "rss10";
			}
			break;
		}
		return "";
	}
	if (!strcmp(cn, "feed")) {
		if (root->ns && !strcasecmp((const char *)root->ns->href, "http://www.w3.org/2005/Atom"))
			return "atom10";
		char *v = attr(root, "version");
		const char *ver = "atom";
		if (v && !strcmp(v, "0.3"))
			ver = "atom03";
		else if (v && !strcmp(v, "0.2"))
			ver = "atom02";
		else if (v && !strcmp(v, "0.1"))
			ver = "atom01";
		free(v);
		return ver;
	}
	*ok = false;
	return "";
}

/* ------------------------------------------------------------------ */

void td_feed_free(struct td_feed *f)
{
	if (!f)
		return;
	free(f->bozo_exception);
	free(f->version);
	free(f->encoding);
	td_value_free(f->feed);
	td_value_free(f->entries);
	free(f->id_local);
	free(f);
}

void td_feed_set_bozo(struct td_feed *f, const char *msg)
{
	if (!f->bozo) {
		f->bozo = 1;
		free(f->bozo_exception);
		f->bozo_exception = td_xstrdup(msg);
	}
}


int td_feed_parse(const char *data, size_t len, const char *base_url,
		  const char *content_type, struct td_feed **out,
		  struct td_err *err)
{
	*out = NULL;
	if (len > FEED_MAX_BYTES)
		return td_err_set(err, EX_DATAERR, "feed: document too large (%zu bytes)", len);
	if (len > INT32_MAX / 2)
		return td_err_set(err, EX_DATAERR, "feed: document too large");
	struct td_feed *f = td_xcalloc(1, sizeof *f);
	struct td_buf text = TD_BUF_INIT;
	const char *problem = td_feed_decode(data, len, content_type, &text, &f->encoding);
	if (problem)
		td_feed_set_bozo(f, problem);

	int rc = td_feed_expand_entities(f, &text, err);
	if (rc) {
		td_buf_free(&text);
		td_feed_free(f);
		return rc;
	}
	/* after the expansion: an entity can open a comment too */
	td_feed_trim_comments(&text);
	struct td_feed_lifted lifted;
	td_feed_lift_cdata(&text, &lifted);

	struct td_feed_xml r;
	td_feed_xml_parse(td_buf_cstr(&text), text.len, FEED_XML_OPTS, &r);
	if (!r.wellformed) {
		char msg[320];
		snprintf(msg, sizeof msg, "not well-formed: %s", r.msg);
		td_feed_set_bozo(f, msg);
		if (!r.doc) {
			struct td_buf loose = TD_BUF_INIT;
			td_feed_loosen(td_buf_cstr(&text), text.len, &loose);
			td_feed_xml_parse(td_buf_cstr(&loose), loose.len, FEED_XML_OPTS | XML_PARSE_RECOVER, &r);
			td_buf_free(&loose);
		}
	}
	td_buf_free(&text);
	td_feed_restore_cdata(r.doc, &lifted);
	td_feed_lifted_free(&lifted);
	if (!r.doc || !xmlDocGetRootElement(r.doc)) {
		if (r.doc)
			xmlFreeDoc(r.doc);
		td_feed_free(f);
		return td_err_set(err, EX_DATAERR, "feed: not XML: %s", r.msg);
	}
	if (td_feed_declares_entities(r.doc)) {
		xmlFreeDoc(r.doc);
		td_feed_free(f);
		return td_err_set(err, EX_DATAERR, "feed: the document declares entities; refused");
	}
	const xmlNode *root = xmlDocGetRootElement(r.doc);
	bool ok;
	const char *version = root_version(root, r.doc, &ok);
	if (!ok) {
		char cn[128];
		canon_name(root, cn, sizeof cn);
		xmlFreeDoc(r.doc);
		td_feed_free(f);
		return td_err_set(err, EX_DATAERR, "feed: not a feed (root element <%s>)", cn);
	}
	f->version = td_xstrdup(version);
	f->feed = td_value_map();
	f->entries = td_value_list();
	struct pctx p = { f, base_url, starts_with(version, "atom"),
			  !strcmp(version, "atom10"), 0, 0 };
	struct container fc = { f->feed, SC_FEED, false, false, false };
	walk(&p, &fc, root, 0);
	xmlFreeDoc(r.doc);
	if (!f->bozo_exception)
		f->bozo_exception = td_xstrdup("");
	*out = f;
	return 0;
}

void td_feed_dump_json(const struct td_feed *f, struct td_buf *out)
{
	td_buf_printf(out, "{\"bozo\":%d,\"bozo_exception\":", f->bozo);
	td_value_json_string(f->bozo_exception ? f->bozo_exception : "", out);
	td_buf_puts(out, ",\"version\":");
	td_value_json_string(f->version ? f->version : "", out);
	td_buf_puts(out, ",\"encoding\":");
	td_value_json_string(f->encoding ? f->encoding : "", out);
	td_buf_puts(out, ",\"feed\":");
	if (f->feed)
		td_value_json(f->feed, out);
	else
		td_buf_puts(out, "{}");
	td_buf_puts(out, ",\"entries\":");
	if (f->entries)
		td_value_json(f->entries, out);
	else
		td_buf_puts(out, "[]");
	td_buf_putc(out, '}');
}
