/*
 * feed.c: RSS 0.9x/2.0, RSS 1.0 (RDF), Atom 1.0 and 0.3 read with libxml2,
 * into feedparser's data model, and from there into posts.
 *
 * The model is deliberately feedparser's (a tree of dicts, lists and
 * strings with its key names), because the feed module is held to
 * feedparser's own test suite (tests/conformance/run_feeds.py) and because
 * that model has already absorbed twenty years of odd feeds. The steps:
 *
 *   1. bytes -> UTF-8 ourselves (BOM, HTTP charset, XML declaration;
 *      ISO-8859-1 read as windows-1252; bad bytes repaired, bozo set), so
 *      libxml2 always sees valid UTF-8 and encoding bugs stay here;
 *   2. expand the entities the internal subset declares ourselves,
 *      bounded, and take the subset out, so libxml2 never sees a
 *      declaration (their references would expand, unbounded, when text
 *      is read: ../shared/tech/BRIEF.md 5); a comment's text after its
 *      first "--" is dropped (libxml2 is quadratic on many of them);
 *   3. a strict parse; when that fails, bozo is set and the text gets the
 *      repairs feedparser's loose parser makes implicitly (HTML entity
 *      names, bare '&', control characters) before a RECOVER parse;
 *   4. a walk over the DOM that fills the model (text constructs, links,
 *      ids, dates, authors, tags, enclosures), resolving URLs against
 *      xml:base and the document's address, sanitizing HTML (html.h);
 *   5. td_feed_posts() maps entries to posts; td_feed_dump_json() prints
 *      the model for `tagdigest feed-dump` and the conformance runner.
 */
#include "tagdigest/feed.h"

#include <ctype.h>
#include <errno.h>
#include <iconv.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <libxml/HTMLparser.h>
#include <libxml/hash.h>
#include <libxml/parser.h>
#include <libxml/tree.h>

#include "tagdigest/date.h"
#include "tagdigest/html.h"
#include "tagdigest/log.h"
#include "tagdigest/post.h"
#include "tagdigest/slug.h"
#include "tagdigest/util.h"

/* The caller caps downloads (fetch.h); this is the last line for callers
 * that read files. libxml2 caps depth at 256 without XML_PARSE_HUGE. */
#define FEED_MAX_BYTES ((size_t)64 << 20)
#define FEED_MAX_ENTRIES 20000
#define FEED_MAX_DEPTH 300

/* Never NOENT, DTDLOAD, DTDATTR, DTDVALID, XINCLUDE or HUGE (BRIEF 5).
 * IGNORE_ENC: the text is UTF-8 by the time libxml2 sees it, whatever the
 * declaration says. */
#define FEED_XML_OPTS (XML_PARSE_NONET | XML_PARSE_NOCDATA | XML_PARSE_NOERROR | \
		       XML_PARSE_NOWARNING | XML_PARSE_IGNORE_ENC)

/* ------------------------------------------------------------------ */
/* The model: feedparser's dicts, lists, strings and time tuples.       */

enum vtype { V_STR, V_INT, V_BOOL, V_TIME, V_NULL, V_LIST, V_DICT };

struct val {
	enum vtype t;
	char *s;           /* V_STR */
	long long i;       /* V_INT, V_BOOL */
	time_t tm;         /* V_TIME: shown as a 9-tuple in UTC */
	char **keys;       /* V_DICT: keys[i] names kids[i] */
	struct val **kids; /* V_LIST, V_DICT */
	size_t n, cap;
	bool resolved;     /* V_STR: a relative reference made absolute here */
};

struct td_feed {
	int bozo;
	char *bozo_exception;
	size_t entities_cut_line;  /* entities left unexpanded from here on, or 0 */
	char *version;
	char *encoding;
	struct val *feed;     /* dict */
	struct val *entries;  /* list of dicts */
	size_t entries_dropped;   /* past FEED_MAX_ENTRIES, not read */
};

static struct val *v_new(enum vtype t)
{
	struct val *v = td_xcalloc(1, sizeof *v);
	v->t = t;
	return v;
}

static struct val *v_str(const char *s)
{
	struct val *v = v_new(V_STR);
	v->s = td_xstrdup(s ? s : "");
	return v;
}

static struct val *v_str_owned(char *s)
{
	struct val *v = v_new(V_STR);
	v->s = s;
	return v;
}

static void v_free(struct val *v)
{
	if (!v)
		return;
	for (size_t i = 0; i < v->n; i++) {
		v_free(v->kids[i]);
		if (v->keys)
			free(v->keys[i]);
	}
	free(v->kids);
	free(v->keys);
	free(v->s);
	free(v);
}

static void v_grow(struct val *v)
{
	if (v->n < v->cap)
		return;
	v->cap = v->cap ? v->cap * 2 : 8;
	v->kids = td_xrealloc(v->kids, v->cap * sizeof *v->kids);
	if (v->t == V_DICT)
		v->keys = td_xrealloc(v->keys, v->cap * sizeof *v->keys);
}

static void v_append(struct val *list, struct val *item)
{
	v_grow(list);
	list->kids[list->n++] = item;
}

static struct val *v_get(const struct val *d, const char *key)
{
	if (!d || d->t != V_DICT)
		return NULL;
	for (size_t i = 0; i < d->n; i++)
		if (strcmp(d->keys[i], key) == 0)
			return d->kids[i];
	return NULL;
}

static const char *v_gets(const struct val *d, const char *key)
{
	const struct val *v = v_get(d, key);
	return v && v->t == V_STR ? v->s : NULL;
}

/* Sets key to item (replacing, as feedparser's later element wins). */
static void v_set(struct val *d, const char *key, struct val *item)
{
	for (size_t i = 0; i < d->n; i++) {
		if (strcmp(d->keys[i], key) == 0) {
			v_free(d->kids[i]);
			d->kids[i] = item;
			return;
		}
	}
	v_grow(d);
	d->keys[d->n] = td_xstrdup(key);
	d->kids[d->n++] = item;
}

static void v_sets(struct val *d, const char *key, const char *s)
{
	v_set(d, key, v_str(s));
}

/* The dict or list under key, created when missing. */
static struct val *v_child(struct val *d, const char *key, enum vtype t)
{
	struct val *v = v_get(d, key);
	if (v && v->t == t)
		return v;
	v = v_new(t);
	v_set(d, key, v);
	return v;
}

static struct val *v_copy(const struct val *v)
{
	struct val *c = v_new(v->t);
	c->s = v->s ? td_xstrdup(v->s) : NULL;
	c->i = v->i;
	c->tm = v->tm;
	for (size_t i = 0; i < v->n; i++) {
		v_grow(c);
		if (v->t == V_DICT)
			c->keys[i] = td_xstrdup(v->keys[i]);
		c->kids[i] = v_copy(v->kids[i]);
		c->n++;
	}
	return c;
}

static bool v_equal(const struct val *a, const struct val *b)
{
	if (a->t != b->t || a->n != b->n)
		return false;
	if (a->t == V_STR)
		return strcmp(a->s, b->s) == 0;
	if (a->t == V_INT || a->t == V_BOOL)
		return a->i == b->i;
	if (a->t == V_TIME)
		return a->tm == b->tm;
	for (size_t i = 0; i < a->n; i++) {
		if (a->t == V_DICT && strcmp(a->keys[i], b->keys[i]) != 0)
			return false;
		if (!v_equal(a->kids[i], b->kids[i]))
			return false;
	}
	return true;
}

/* ------------------------------------------------------------------ */
/* Small string helpers.                                                */

static bool is_space(int c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
	       c == '\v';
}

/* Python's str.strip() for ASCII whitespace, in place. */
static char *strip(char *s)
{
	size_t n = strlen(s), a = 0;
	while (n > 0 && is_space((unsigned char)s[n - 1]))
		n--;
	while (a < n && is_space((unsigned char)s[a]))
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


/* windows-1252 bytes 0x80..0x9F; the five holes keep their C1 value, as
 * browsers do. */
static const uint16_t cp1252_hi[32] = {
	0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
	0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x008D, 0x017D, 0x008F,
	0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
	0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178,
};

static uint32_t cp1252_char(unsigned char c)
{
	return c >= 0x80 && c < 0xA0 ? cp1252_hi[c - 0x80] : c;
}

/* C1 controls in text almost always mean a windows-1252 character
 * written as a character reference (&#146; for a right quote); feedparser
 * maps them the same way. Returns a malloc'd copy. */
static char *fix_c1(const char *s)
{
	/* Nearly all text has no C1 code point (U+0080..U+009F, which UTF-8
	 * writes as C2 80..C2 9F), and then nothing changes. */
	const char *c2 = strchr(s, '\xC2');
	while (c2 && !((unsigned char)c2[1] >= 0x80 && (unsigned char)c2[1] < 0xA0))
		c2 = strchr(c2 + 1, '\xC2');
	if (!c2)
		return td_xstrdup(s);
	struct td_buf b = TD_BUF_INIT;
	size_t n = strlen(s);
	for (size_t i = 0; i < n;) {
		uint32_t cp;
		size_t k = td_utf8_next(s + i, n - i, &cp);
		if (k == 0) {
			td_buf_putc(&b, s[i]);
			i++;
			continue;
		}
		if (cp >= 0x80 && cp < 0xA0)
			td_utf8_put(&b, cp1252_hi[cp - 0x80]);
		else
			td_buf_append(&b, s + i, k);
		i += k;
	}
	return td_buf_steal(&b);
}

/* ------------------------------------------------------------------ */
/* URLs: RFC 3986 reference resolution on bytes, so IRIs with non-ASCII
 * hosts or paths survive untouched (xmlBuildURI refuses or escapes them),
 * plus feedparser's repair of "http:///host" and its scheme allowlist for
 * xml:base. */

struct uri {
	const char *scheme, *auth, *path, *query, *frag;
	size_t scheme_n, auth_n, path_n, query_n, frag_n;
	bool has_scheme, has_auth, has_query, has_frag;
};

static void uri_split(const char *s, struct uri *u)
{
	memset(u, 0, sizeof *u);
	const char *p = s;
	if (isalpha((unsigned char)*p)) {
		const char *q = p + 1;
		while (isalnum((unsigned char)*q) || *q == '+' || *q == '-' || *q == '.')
			q++;
		if (*q == ':') {
			u->has_scheme = true;
			u->scheme = p;
			u->scheme_n = (size_t)(q - p);
			p = q + 1;
		}
	}
	if (p[0] == '/' && p[1] == '/') {
		p += 2;
		u->has_auth = true;
		u->auth = p;
		while (*p && *p != '/' && *p != '?' && *p != '#')
			p++;
		u->auth_n = (size_t)(p - u->auth);
	}
	u->path = p;
	while (*p && *p != '?' && *p != '#')
		p++;
	u->path_n = (size_t)(p - u->path);
	if (*p == '?') {
		u->has_query = true;
		u->query = ++p;
		while (*p && *p != '#')
			p++;
		u->query_n = (size_t)(p - u->query);
	}
	if (*p == '#') {
		u->has_frag = true;
		u->frag = p + 1;
		u->frag_n = strlen(p + 1);
	}
}

/* RFC 3986 5.2.4 */
static void remove_dots(const char *in, size_t n, struct td_buf *out)
{
	struct td_buf b = TD_BUF_INIT;
	td_buf_append(&b, in, n);
	char *s = b.data ? b.data : (char *)"";
	size_t i = 0, len = b.len;
	while (i < len) {
		if (strncmp(s + i, "../", 3) == 0) {
			i += 3;
		} else if (strncmp(s + i, "./", 2) == 0) {
			i += 2;
		} else if (strncmp(s + i, "/./", 3) == 0) {
			i += 2;
		} else if (len - i == 2 && strncmp(s + i, "/.", 2) == 0) {
			s[i + 1] = '/';
			i += 1;
		} else if (strncmp(s + i, "/../", 4) == 0 ||
			   (len - i == 3 && strncmp(s + i, "/..", 3) == 0)) {
			if (len - i == 3) {
				s[i + 2] = '/';
				i += 2;
			} else {
				i += 3;
			}
			/* drop the last segment already written */
			while (out->len > 0 && out->data[out->len - 1] != '/')
				out->len--;
			if (out->len > 0)
				out->len--;
			out->data[out->len] = '\0';
		} else if ((len - i == 1 && s[i] == '.') ||
			   (len - i == 2 && strncmp(s + i, "..", 2) == 0)) {
			break;
		} else {
			size_t j = i + (s[i] == '/' ? 1 : 0);
			while (j < len && s[j] != '/')
				j++;
			td_buf_append(out, s + i, j - i);
			i = j;
		}
	}
	td_buf_free(&b);
}

static bool scheme_is(const struct uri *u, const char *name)
{
	return u->has_scheme && u->scheme_n == strlen(name) &&
	       strncasecmp(u->scheme, name, u->scheme_n) == 0;
}

/* Resolves ref against base (either may be NULL or ""). malloc'd. */
static char *uri_resolve(const char *base, const char *ref)
{
	struct td_buf fixed = TD_BUF_INIT;
	/* Spaces and controls around a URL, and tabs and line breaks in it,
	 * are not part of it (WHATWG URL, and Python's urlsplit, which
	 * feedparser's urljoin uses): drop them before they can make an
	 * absolute URL look relative. */
	while (*ref && (unsigned char)*ref <= 0x20)
		ref++;
	size_t n = strlen(ref);
	while (n > 0 && (unsigned char)ref[n - 1] <= 0x20)
		n--;
	if (n != strlen(ref) || strpbrk(ref, "\t\r\n")) {
		for (size_t i = 0; i < n; i++)
			if (ref[i] != '\t' && ref[i] != '\r' && ref[i] != '\n')
				td_buf_putc(&fixed, ref[i]);
		ref = td_buf_steal(&fixed);
		char *out = uri_resolve(base, ref);
		free((char *)ref);
		return out;
	}
	/* "http:///example.com/" -> "http://example.com/", as feedparser */
	const char *c = strstr(ref, "://");
	if (c && c > ref) {
		const char *q = ref;
		while (q < c && (isalnum((unsigned char)*q) || *q == '+' || *q == '-' || *q == '.'))
			q++;
		if (q == c && c[3] == '/') {
			td_buf_append(&fixed, ref, (size_t)(c + 3 - ref));
			const char *r = c + 3;
			while (*r == '/')
				r++;
			td_buf_puts(&fixed, r);
			ref = td_buf_cstr(&fixed);
		}
	}
	struct uri r, b;
	uri_split(ref, &r);
	if (r.has_scheme || !base || !*base) {
		char *out = td_xstrdup(ref);
		td_buf_free(&fixed);
		return out;
	}
	uri_split(base, &b);
	struct td_buf o = TD_BUF_INIT;
	if (b.has_scheme) {
		td_buf_append(&o, b.scheme, b.scheme_n);
		td_buf_putc(&o, ':');
	}
	if (r.has_auth) {
		td_buf_puts(&o, "//");
		td_buf_append(&o, r.auth, r.auth_n);
		remove_dots(r.path, r.path_n, &o);
		if (r.has_query) {
			td_buf_putc(&o, '?');
			td_buf_append(&o, r.query, r.query_n);
		}
	} else {
		if (b.has_auth) {
			td_buf_puts(&o, "//");
			td_buf_append(&o, b.auth, b.auth_n);
		}
		if (r.path_n == 0) {
			td_buf_append(&o, b.path, b.path_n);
			if (r.has_query) {
				td_buf_putc(&o, '?');
				td_buf_append(&o, r.query, r.query_n);
			} else if (b.has_query) {
				td_buf_putc(&o, '?');
				td_buf_append(&o, b.query, b.query_n);
			}
		} else {
			if (r.path[0] == '/') {
				remove_dots(r.path, r.path_n, &o);
			} else {
				struct td_buf m = TD_BUF_INIT;
				if (b.has_auth && b.path_n == 0) {
					td_buf_putc(&m, '/');
				} else {
					size_t k = b.path_n;
					while (k > 0 && b.path[k - 1] != '/')
						k--;
					td_buf_append(&m, b.path, k);
				}
				td_buf_append(&m, r.path, r.path_n);
				remove_dots(td_buf_cstr(&m), m.len, &o);
				td_buf_free(&m);
			}
			if (r.has_query) {
				td_buf_putc(&o, '?');
				td_buf_append(&o, r.query, r.query_n);
			}
		}
	}
	if (r.has_frag) {
		td_buf_putc(&o, '#');
		td_buf_append(&o, r.frag, r.frag_n);
	}
	td_buf_free(&fixed);
	return td_buf_steal(&o);
}

/* Schemes an xml:base may switch to (feedparser's list, abridged): a
 * javascript: base must not make every relative link executable. */
static bool scheme_acceptable(const char *u)
{
	static const char *const ok[] = {
		"http", "https", "ftp", "file", "mailto", "news", "nntp",
		"gopher", "feed", "magnet", "tag", "urn", NULL,
	};
	struct uri p;
	uri_split(u, &p);
	if (!p.has_scheme)
		return false;
	for (size_t i = 0; ok[i]; i++)
		if (scheme_is(&p, ok[i]))
			return true;
	return false;
}

static bool is_http_url(const char *u)
{
	struct uri p;
	if (!u)
		return false;
	uri_split(u, &p);
	return (scheme_is(&p, "http") || scheme_is(&p, "https")) && p.has_auth &&
	       p.auth_n > 0;
}

/* ------------------------------------------------------------------ */
/* Encodings.                                                           */

static bool enc_is(const char *enc, const char *const *names)
{
	char norm[64];
	size_t n = 0;
	for (const char *p = enc; *p && n + 1 < sizeof norm; p++)
		if (*p != '-' && *p != '_' && *p != ' ')
			norm[n++] = (char)tolower((unsigned char)*p);
	norm[n] = '\0';
	for (size_t i = 0; names[i]; i++)
		if (strcmp(norm, names[i]) == 0)
			return true;
	return false;
}

static const char *const ENC_UTF8[] = { "utf8", NULL };
static const char *const ENC_1252[] = {
	"iso88591", "latin1", "l1", "isolatin1", "iso885911987", "cp819",
	"ibm819", "usascii", "ascii", "ansix3.41968", "windows1252", "cp1252",
	"xcp1252", NULL,
};

/* The encoding named in an XML declaration at the start of data (ASCII
 * compatible bytes), or "" when there is none. */
static void xml_decl_encoding(const char *data, size_t len, char *out, size_t outsz)
{
	out[0] = '\0';
	if (len < 6 || strncmp(data, "<?xml", 5) != 0)
		return;
	size_t end = 5;
	while (end + 1 < len && end < 512 && !(data[end] == '?' && data[end + 1] == '>'))
		end++;
	for (size_t i = 5; i + 8 < end; i++) {
		if (strncmp(data + i, "encoding", 8) != 0)
			continue;
		size_t j = i + 8;
		while (j < end && is_space((unsigned char)data[j]))
			j++;
		if (j >= end || data[j] != '=')
			return;
		j++;
		while (j < end && is_space((unsigned char)data[j]))
			j++;
		if (j >= end || (data[j] != '"' && data[j] != '\''))
			return;
		char q = data[j++];
		size_t k = 0;
		while (j < end && data[j] != q && k + 1 < outsz)
			out[k++] = data[j++];
		out[k] = '\0';
		return;
	}
}

/* charset=... from a Content-Type, or "". */
static void http_charset(const char *ctype, char *out, size_t outsz)
{
	out[0] = '\0';
	if (!ctype)
		return;
	const char *p = ctype;
	while ((p = strchr(p, ';')) != NULL) {
		p++;
		while (is_space((unsigned char)*p))
			p++;
		if (strncasecmp(p, "charset", 7) != 0)
			continue;
		p += 7;
		while (is_space((unsigned char)*p))
			p++;
		if (*p != '=')
			continue;
		p++;
		while (is_space((unsigned char)*p))
			p++;
		char q = (*p == '"' || *p == '\'') ? *p++ : 0;
		size_t k = 0;
		while (*p && k + 1 < outsz && (q ? *p != q : (*p != ';' && !is_space((unsigned char)*p))))
			out[k++] = *p++;
		out[k] = '\0';
		return;
	}
}

/* UTF-8 with every invalid byte read as windows-1252: mixed-up feeds keep
 * the most text that way. Returns true when something was repaired. */
static bool utf8_repair(const char *in, size_t len, struct td_buf *out)
{
	/* valid documents, nearly all of them, are copied in one go */
	if (td_utf8_valid(in, len)) {
		td_buf_append(out, in, len);
		return false;
	}
	bool bad = false;
	for (size_t i = 0; i < len;) {
		uint32_t cp;
		size_t k = td_utf8_next(in + i, len - i, &cp);
		if (k == 0) {
			td_utf8_put(out, cp1252_char((unsigned char)in[i]));
			bad = true;
			i++;
		} else {
			td_buf_append(out, in + i, k);
			i += k;
		}
	}
	return bad;
}

/* Anything else through iconv; undecodable bytes become U+FFFD. Returns
 * -1 when iconv does not know the encoding, 1 when bytes were bad. */
static int iconv_to_utf8(const char *enc, const char *in, size_t len, struct td_buf *out)
{
	iconv_t cd = iconv_open("UTF-8", enc);
	if (cd == (iconv_t)-1)
		return -1;
	int bad = 0;
	char chunk[4096];
	char *ip = (char *)in;
	size_t il = len;
	while (il > 0) {
		char *op = chunk;
		size_t ol = sizeof chunk;
		size_t r = iconv(cd, &ip, &il, &op, &ol);
		td_buf_append(out, chunk, (size_t)(op - chunk));
		if (r == (size_t)-1) {
			if (errno == E2BIG)
				continue;
			bad = 1;
			td_utf8_put(out, 0xFFFD);
			if (errno == EINVAL)
				break;
			ip++;
			il--;
		}
	}
	iconv_close(cd);
	return bad;
}

/* ------------------------------------------------------------------ */
/* Safety and repair before libxml2 sees the text.                      */

static bool doc_declares_entities(xmlDocPtr doc)
{
	xmlDtdPtr dtd = doc->intSubset;
	return dtd && dtd->entities &&
	       xmlHashSize((xmlHashTablePtr)dtd->entities) > 0;
}

static bool xml_char_ok(uint32_t c)
{
	return c == 0x9 || c == 0xA || c == 0xD || (c >= 0x20 && c <= 0xD7FF) ||
	       (c >= 0xE000 && c <= 0xFFFD) || (c >= 0x10000 && c <= 0x10FFFF);
}

/* libxml2 2.9.14 copies all of a comment read so far into each "Double
 * hyphen within comment" error it raises, so one comment holding many
 * "--" costs time quadratic in its length (64 KB: 8 s; 1 MB: half an
 * hour), in the strict parse and again in the recovering one. Comments
 * carry nothing a post shows: after the first "--" of a comment (and the
 * character after it) only its newlines are kept, so line numbers hold,
 * and that "--" stays, so the document is still not well-formed, as it
 * was. CDATA sections and PIs
 * are copied: a "<!--" in them starts no comment. In place: the text only
 * shrinks. */
static void trim_comments(struct td_buf *text)
{
	char *s = text->data;
	size_t n = text->len, i = 0, o = 0;
	while (s && i < n) {
		const char *lt = memchr(s + i, '<', n - i);
		size_t k = lt ? (size_t)(lt - s) + 1 : n;
		size_t end = k;
		bool comment = false;
		if (lt && n - k >= 8 && memcmp(s + k, "![CDATA[", 8) == 0) {
			const char *e = memmem(s + k + 8, n - k - 8, "]]>", 3);
			end = e ? (size_t)(e - s) + 3 : n;
		} else if (lt && n - k >= 1 && s[k] == '?') {
			const char *e = memmem(s + k + 1, n - k - 1, "?>", 2);
			end = e ? (size_t)(e - s) + 2 : n;
		} else if (lt && n - k >= 3 && memcmp(s + k, "!--", 3) == 0) {
			comment = true;
			k += 3;
		}
		memmove(s + o, s + i, k - i);
		o += k - i;
		if (!comment) {
			memmove(s + o, s + k, end - k);
			o += end - k;
			i = end;
			continue;
		}
		const char *e = memmem(s + k, n - k, "-->", 3);
		size_t body_end = e ? (size_t)(e - s) : n;
		const char *dd = memmem(s + k, body_end - k, "--", 2);
		/* the "--" and the character after it: one error, as before */
		size_t keep = dd && (size_t)(dd - s) + 3 < body_end ? (size_t)(dd - s) + 3 :
			      body_end;
		memmove(s + o, s + k, keep - k);
		o += keep - k;
		for (size_t j = keep; j < body_end; j++)
			if (s[j] == '\n')
				s[o++] = '\n';
		i = body_end;
	}
	if (s) {
		text->len = o;
		s[o] = '\0';
	}
}

/* What feedparser's loose parser does implicitly, done to the text so
 * libxml2's recovery keeps the characters: HTML entity names become
 * character references, a bare '&' becomes "&amp;", "&#X41;" becomes
 * "&#x41;", characters XML forbids are dropped. CDATA sections and
 * comments are copied as they are. */
static void loosen(const char *s, size_t n, struct td_buf *out)
{
	size_t i = 0;
	while (i < n) {
		if (s[i] == '<' && n - i >= 9 && memcmp(s + i, "<![CDATA[", 9) == 0) {
			const char *e = memmem(s + i, n - i, "]]>", 3);
			size_t k = e ? (size_t)(e - s) + 3 : n;
			td_buf_append(out, s + i, k - i);
			i = k;
			continue;
		}
		if (s[i] == '<' && n - i >= 4 && memcmp(s + i, "<!--", 4) == 0) {
			const char *e = memmem(s + i + 4, n - i - 4, "-->", 3);
			size_t k = e ? (size_t)(e - s) + 3 : n;
			td_buf_append(out, s + i, k - i);
			i = k;
			continue;
		}
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') {
			i++;
			continue;
		}
		if (c != '&') {
			td_buf_putc(out, (char)c);
			i++;
			continue;
		}
		size_t j = i + 1;
		if (j < n && s[j] == '#') {
			bool hex = j + 1 < n && (s[j + 1] == 'x' || s[j + 1] == 'X');
			size_t k = j + (hex ? 2 : 1);
			uint32_t cp = 0;
			size_t digits = 0;
			while (k < n && (hex ? isxdigit((unsigned char)s[k]) : isdigit((unsigned char)s[k]))) {
				if (cp < 0x110000)
					cp = cp * (hex ? 16 : 10) +
					     (uint32_t)(isdigit((unsigned char)s[k]) ? s[k] - '0'
					      : tolower((unsigned char)s[k]) - 'a' + 10);
				k++;
				digits++;
			}
			if (digits && k < n && s[k] == ';') {
				if (xml_char_ok(cp))
					td_buf_printf(out, "&#%u;", (unsigned)cp);
				i = k + 1;
				continue;
			}
			td_buf_puts(out, "&amp;");
			i++;
			continue;
		}
		size_t k = j;
		while (k < n && k - j < 32 && (isalnum((unsigned char)s[k]) || s[k] == '_' ||
					     s[k] == '-' || s[k] == '.'))
			k++;
		if (k > j && k < n && s[k] == ';' && isalpha((unsigned char)s[j])) {
			char name[40];
			memcpy(name, s + j, k - j);
			name[k - j] = '\0';
			if (!strcmp(name, "lt") || !strcmp(name, "gt") || !strcmp(name, "amp") ||
			    !strcmp(name, "quot") || !strcmp(name, "apos")) {
				td_buf_append(out, s + i, k + 1 - i);
				i = k + 1;
				continue;
			}
			const htmlEntityDesc *e = htmlEntityLookup((const xmlChar *)name);
			if (e) {
				td_buf_printf(out, "&#%u;", e->value);
				i = k + 1;
				continue;
			}
		}
		td_buf_puts(out, "&amp;");
		i++;
	}
}

struct parse_result {
	xmlDocPtr doc;
	bool wellformed;
	char msg[300];
};

static void xml_parse(const char *buf, size_t len, int opts, struct parse_result *r)
{
	xmlParserCtxtPtr ctxt = xmlNewParserCtxt();
	r->doc = NULL;
	r->wellformed = false;
	r->msg[0] = '\0';
	if (!ctxt) {
		snprintf(r->msg, sizeof r->msg, "out of memory");
		return;
	}
	r->doc = xmlCtxtReadMemory(ctxt, buf, (int)len, NULL, "UTF-8", opts);
	r->wellformed = r->doc && ctxt->wellFormed && ctxt->nsWellFormed;
	if (!r->wellformed) {
		xmlErrorPtr e = xmlCtxtGetLastError(ctxt);
		if (e && e->message) {
			snprintf(r->msg, sizeof r->msg, "line %d: %s", e->line, e->message);
			size_t m = strlen(r->msg);
			while (m > 0 && is_space((unsigned char)r->msg[m - 1]))
				r->msg[--m] = '\0';
		} else {
			snprintf(r->msg, sizeof r->msg, "not well-formed");
		}
	}
	xmlFreeParserCtxt(ctxt);
}

/* ------------------------------------------------------------------ */
/* Entities the document declares.                                      */

/*
 * RSS and Atom need no DTD, but a few feeds declare an entity or two in
 * the internal subset (<!ENTITY id "tag:example.com,">) and use them, and
 * feedparser reads them. libxml2 must not expand them: without NOENT the
 * references stay in the tree and expand, unbounded, whenever text is read;
 * NOENT also loads external entities (BRIEF 5). So they are expanded here,
 * in the text, before the real parse, which never sees an internal subset:
 *
 *   - the prolog alone (everything up to the end of the DOCTYPE, then an
 *     empty root) goes through libxml2 with FEED_XML_OPTS, which reads the
 *     declarations and loads nothing: no external DTD, no external entity.
 *     It reads them up to the first parameter-entity reference, as XML
 *     (4.4.8, 5.1) has a processor that does not read external entities
 *     do, and as feeds that pull in XHTML's entity sets with
 *     "%HTMLlat1;" need; we stop there for internal parameter entities
 *     too, because libxml2 2.9.14 parses one again at each reference,
 *     unbounded (1 MB referenced 10,000 times: 100 s and 9.8 GB);
 *   - the document is copied without its internal subset (newlines kept,
 *     so line numbers in later messages still hold), and each reference
 *     to a declared general entity outside CDATA sections, comments and
 *     processing instructions becomes the entity's replacement text,
 *     expanded in turn;
 *   - the expansion is bounded: at most ENTITY_MAX_DEPTH nested, a loop
 *     refused, at most ENTITY_MAX_REFS references inside replacement
 *     texts (billion laughs ends in a refusal), and the expansions may
 *     not add more than the document's own size (at least
 *     ENTITY_MIN_GROWTH). The references the document itself writes are
 *     not counted: each takes three bytes of it at least, so its size
 *     bounds them, and a feed that declares "nbsp" and writes it on every
 *     line is read, however long. The growth bound is what stops the
 *     quadratic blow-up, but honest feeds reach it too (one that names its
 *     long address once and writes it in every link): so the reference
 *     that would pass it, and every reference after it, is not expanded
 *     but replaced by ENTITY_CUT, the feed is bozo (naming the line), and
 *     the rest of the document is read as written. td_feed_posts skips,
 *     with a warning, each entry that holds ENTITY_CUT: it would be
 *     stored with half a link or half a title;
 *   - an external entity is never loaded: its references become nothing,
 *     and the feed is bozo;
 *   - in an attribute value the replacement's quotes and '<' are escaped,
 *     as XML's "included in literal" rule has it;
 *   - a replacement's line breaks become character references (or spaces
 *     where XML reads them as spaces), so that line numbers in the real
 *     parse's messages are still the document's.
 *
 * The real parse then sees no declaration; doc_declares_entities() still
 * refuses a document in which it finds one.
 */
#define ENTITY_MAX_DEPTH 16
#define ENTITY_MAX_REFS 100000
#define ENTITY_MIN_GROWTH ((size_t)1 << 20)
#define ENTITY_MAX_NAME 256
/* What a reference past the growth bound stands for: U+FDD0, a
 * noncharacter, which XML allows and no honest feed writes (a feed that
 * does only has its own entries skipped). */
#define ENTITY_CUT "\xEF\xB7\x90"

/* The end of the comment or PI at s[i] ("<!--", "<?"): the index just past
 * it, n when it never ends (it takes the rest of the text: searching again
 * from the next "<?" would make the scan quadratic), or 0 when s[i] starts
 * neither. */
static size_t skip_markup(const char *s, size_t n, size_t i)
{
	const char *e = NULL;
	if (n - i >= 4 && memcmp(s + i, "<!--", 4) == 0)
		e = memmem(s + i + 4, n - i - 4, "-->", 3);
	else if (n - i >= 2 && memcmp(s + i, "<?", 2) == 0)
		e = memmem(s + i + 2, n - i - 2, "?>", 2);
	else
		return 0;
	return e ? (size_t)(e - s) + (s[i + 1] == '!' ? 3 : 2) : n;
}

/* Where the internal subset is: s[*open] is its '[', s[*decls] is where
 * its declarations stop being read (its ']', or the declaration holding
 * the first parameter-entity reference), s[*end - 1] the '>' that closes
 * the DOCTYPE. False when there is none (or it never ends: then the real
 * parse reports the document as broken). */
static bool find_internal_subset(const char *s, size_t n, size_t *open, size_t *decls,
				 size_t *end)
{
	size_t i = 0, k;
	/* the DOCTYPE comes before the root element, after comments and PIs */
	while (i < n && !(s[i] == '<' && n - i >= 9 && memcmp(s + i, "<!DOCTYPE", 9) == 0)) {
		if (s[i] == '<' && (k = skip_markup(s, n, i)) != 0)
			i = k;
		else if (s[i] == '<')
			return false;
		else
			i++;
	}
	if (i == n)
		return false;
	/* the name and external ID: quoted literals may hold '[' or '>' */
	for (i += 9; i < n && s[i] != '[' && s[i] != '>'; i++) {
		if (s[i] == '"' || s[i] == '\'') {
			const char *q = memchr(s + i + 1, s[i], n - i - 1);
			if (!q)
				return false;
			i = (size_t)(q - s);
		}
	}
	if (i >= n || s[i] != '[')
		return false;
	*open = i;
	*decls = 0;
	size_t decl = 0;        /* 1 + where the declaration being read began */
	/* declarations: literals, comments and PIs may hold a ']' */
	for (i++; i < n && s[i] != ']';) {
		if (s[i] == '"' || s[i] == '\'') {
			const char *q = memchr(s + i + 1, s[i], n - i - 1);
			if (!q)
				return false;
			i = (size_t)(q - s) + 1;
			continue;
		}
		if (s[i] == '<' && (k = skip_markup(s, n, i)) != 0) {
			i = k;
			continue;
		}
		if (s[i] == '<')
			decl = i + 1;
		else if (s[i] == '>')
			decl = 0;
		/* "%name;" ("<!ENTITY % name" declares one) */
		else if (s[i] == '%' && !*decls && i + 1 < n && !is_space((unsigned char)s[i + 1]))
			*decls = decl ? decl - 1 : i;
		i++;
	}
	if (i >= n)
		return false;
	if (!*decls)
		*decls = i;
	for (i++; i < n && is_space((unsigned char)s[i]); i++)
		;
	if (i >= n || s[i] != '>')
		return false;
	*end = i + 1;
	return true;
}

struct expander {
	xmlDocPtr decls;           /* the prolog, parsed: the declarations */
	struct td_buf *out;        /* capped: document and growth, in all */
	const char *text;          /* the document: for line numbers */
	size_t refs;               /* references inside replacements so far */
	const char *open[ENTITY_MAX_DEPTH];   /* entities being expanded */
	int depth;
	size_t allowance;          /* the growth bound */
	size_t grown;              /* what the document's references added */
	size_t limit;              /* out->len the reference being expanded may reach */
	bool over;                 /* ... and would pass */
	size_t cut_line;           /* where references stopped being expanded, or 0 */
	char external[64];         /* an external entity that was skipped */
	char why[160];             /* set when the expansion is refused */
};

static bool expand_text(struct expander *x, const char *s, size_t n, bool in_attr);
static void set_bozo(struct td_feed *f, const char *msg);

static bool put(struct expander *x, const char *p, size_t n)
{
	if (x->depth > 0 && n > x->limit - x->out->len) {
		x->over = true;
		return false;
	}
	if (td_buf_append(x->out, p, n) == 0)
		return true;
	snprintf(x->why, sizeof x->why, "its entities expand to more than %zu bytes",
		 x->out->max);
	return false;
}

/* An entity's line breaks are not the document's: copied as they are,
 * they would move every line number libxml2 reports after them. So
 * p[0..n), from a replacement text, is appended with each CR and LF made
 * what XML reads the same way: a character reference in text, one
 * between two CDATA sections in one, a space in tags and attribute values
 * (where XML makes it one) and in comments and PIs (which say nothing). */
enum line_break { BREAK_REF, BREAK_CDATA, BREAK_SPACE };

static bool put_breaks(struct expander *x, const char *p, size_t n, enum line_break how)
{
	for (size_t i = 0; i < n;) {
		size_t k = i;
		while (k < n && p[k] != '\n' && p[k] != '\r')
			k++;
		if (!put(x, p + i, k - i))
			return false;
		if (k == n)
			break;
		const char *ref = p[k] == '\n' ? "&#10;" : "&#13;";
		bool ok = how == BREAK_SPACE ? put(x, " ", 1) :
			  how == BREAK_REF ? put(x, ref, 5) :
			  put(x, "]]>", 3) && put(x, ref, 5) && put(x, "<![CDATA[", 9);
		if (!ok)
			return false;
		i = k + 1;
	}
	return true;
}

/* The reference at s[0] ('&'); *used gets its length. Appends what it
 * stands for: itself when it is a character reference, one of XML's five,
 * or undeclared (then the real parse deals with it). */
static bool expand_ref(struct expander *x, const char *s, size_t n, bool in_attr,
		       size_t *used)
{
	size_t k = 1;
	while (k < n && k <= ENTITY_MAX_NAME &&
	       (isalnum((unsigned char)s[k]) || s[k] == '_' || s[k] == ':' ||
		(unsigned char)s[k] >= 0x80 || (k > 1 && (s[k] == '-' || s[k] == '.'))))
		k++;
	if (k == 1 || k >= n || s[k] != ';' || isdigit((unsigned char)s[1])) {
		*used = 1;
		return put(x, s, 1);
	}
	*used = k + 1;
	char name[ENTITY_MAX_NAME + 1];
	memcpy(name, s + 1, k - 1);
	name[k - 1] = '\0';
	xmlEntityPtr e = xmlGetPredefinedEntity((const xmlChar *)name) ? NULL :
			 xmlGetDocEntity(x->decls, (const xmlChar *)name);
	if (!e)
		return put(x, s, k + 1);
	/* the document's own references are bounded by its size (above) */
	if (x->depth > 0 && ++x->refs > ENTITY_MAX_REFS) {
		snprintf(x->why, sizeof x->why, "its entities use more than %d entity references",
			 ENTITY_MAX_REFS);
		return false;
	}
	if (e->etype != XML_INTERNAL_GENERAL_ENTITY) {
		/* never loaded: external (or unparsed) entities stand for nothing */
		if (!x->external[0])
			snprintf(x->external, sizeof x->external, "%.60s", name);
		return true;
	}
	for (int i = 0; i < x->depth; i++)
		if (strcmp(x->open[i], (const char *)e->name) == 0) {
			snprintf(x->why, sizeof x->why, "entity '%.64s' refers to itself", name);
			return false;
		}
	if (x->depth == ENTITY_MAX_DEPTH) {
		snprintf(x->why, sizeof x->why, "its entities nest deeper than %d",
			 ENTITY_MAX_DEPTH);
		return false;
	}
	/* past the growth bound: see the top of this part */
	if (x->cut_line)
		return put(x, ENTITY_CUT, strlen(ENTITY_CUT));
	bool top = x->depth == 0;
	size_t mark = x->out->len;
	if (top)
		x->limit = mark + (x->allowance - x->grown);
	x->open[x->depth++] = (const char *)e->name;
	const char *r = e->content ? (const char *)e->content : "";
	bool ok = expand_text(x, r, strlen(r), in_attr);
	x->depth--;
	if (top && !ok && x->over) {
		/* none of this reference: a half-expanded one may hold half a
		 * tag; the document's own text after it is still read */
		x->out->len = mark;
		x->out->data[mark] = '\0';
		x->over = false;
		x->cut_line = 1;
		for (const char *c = x->text; c < s; c++)
			x->cut_line += *c == '\n';
		return put(x, ENTITY_CUT, strlen(ENTITY_CUT));
	}
	if (top && ok && x->out->len - mark > k + 1)
		x->grown += x->out->len - mark - (k + 1);
	return ok;
}

/* Copies s[0..n) expanding references. In an attribute value (in_attr)
 * there is no markup, and the quotes and '<' of a replacement text are
 * escaped; elsewhere CDATA sections, comments and PIs are copied as they
 * are and references inside a tag's quoted values are in_attr. */
static bool expand_text(struct expander *x, const char *s, size_t n, bool in_attr)
{
	enum { TEXT, TAG, QUOTED } st = TEXT;
	char quote = 0;
	size_t i = 0;
	bool nested = x->depth > 0;    /* a replacement text: its breaks go */
	while (i < n) {
		size_t run = i;
		/* copy what cannot start anything at once */
		while (run < n && s[run] != '&' && s[run] != '<' && s[run] != '>' &&
		       s[run] != '"' && s[run] != '\'' &&
		       !(nested && (s[run] == '\n' || s[run] == '\r')))
			run++;
		if (run > i && !put(x, s + i, run - i))
			return false;
		if ((i = run) == n)
			break;
		char c = s[i];
		size_t used = 1;
		bool ok = true;
		if (c == '\n' || c == '\r') {
			ok = put_breaks(x, s + i, 1, in_attr || st != TEXT ? BREAK_SPACE :
						      BREAK_REF);
		} else if (c == '&' && (in_attr || st != TAG)) {
			ok = expand_ref(x, s + i, n - i, in_attr || st == QUOTED, &used);
		} else if (in_attr) {
			const char *esc = c == '<' ? "&lt;" : c == '"' ? "&quot;" :
					  c == '\'' ? "&apos;" : NULL;
			ok = esc ? put(x, esc, strlen(esc)) : put(x, s + i, 1);
		} else if (st == TEXT && c == '<') {
			static const char *const raw[][2] = {
				{ "<![CDATA[", "]]>" }, { "<!--", "-->" }, { "<?", "?>" },
			};
			size_t r = 0;
			while (r < 3 && !(n - i >= strlen(raw[r][0]) &&
					  memcmp(s + i, raw[r][0], strlen(raw[r][0])) == 0))
				r++;
			if (r < 3) {
				const char *e = memmem(s + i, n - i, raw[r][1], strlen(raw[r][1]));
				used = e ? (size_t)(e - (s + i)) + strlen(raw[r][1]) : n - i;
			} else {
				st = TAG;
			}
			ok = nested && r < 3 ? put_breaks(x, s + i, used, r == 0 ? BREAK_CDATA :
							  BREAK_SPACE) :
			     put(x, s + i, used);
		} else {
			if (st == TAG && c == '>')
				st = TEXT;
			else if (st == TAG && (c == '"' || c == '\''))
				st = QUOTED, quote = c;
			else if (st == QUOTED && c == quote)
				st = TAG;
			ok = put(x, s + i, 1);
		}
		if (!ok)
			return false;
		i += used;
	}
	return true;
}

/* libxml2 reports a few faults of a declaration (an "amp" declared as
 * anything but "&#38;#38;") not to the parser but to its handler of last
 * resort, which writes "error : xmlAddEntity: ..." to stderr, where it
 * would name no source and mail cron's owner at each run. Caught here
 * (the first, for the bozo message) while the declarations are read. */
static void keep_first_error(void *ctx, xmlErrorPtr e)
{
	char *first = ctx;
	if (!first[0] && e && e->message)
		snprintf(first, 160, "%s", e->message);
}

/* Takes the internal subset out of text and expands the general entities
 * it declares (see above). EX_DATAERR when the expansion is refused. */
static int expand_entities(struct td_feed *f, struct td_buf *text, struct td_err *err)
{
	size_t open, decls, end;
	const char *s = td_buf_cstr(text);
	if (!find_internal_subset(s, text->len, &open, &decls, &end))
		return 0;

	/* the declarations, read from the prolog alone */
	struct td_buf prolog = TD_BUF_INIT;
	td_buf_append(&prolog, s, decls);
	td_buf_puts(&prolog, "]><x/>");
	struct parse_result r;
	char stray[160] = "";
	xmlSetStructuredErrorFunc(stray, keep_first_error);
	xml_parse(td_buf_cstr(&prolog), prolog.len, FEED_XML_OPTS, &r);
	xmlSetStructuredErrorFunc(NULL, NULL);
	td_buf_free(&prolog);
	if (!r.wellformed) {
		char msg[340];
		snprintf(msg, sizeof msg, "not well-formed: the DTD: %s", r.msg);
		set_bozo(f, msg);
	} else if (stray[0]) {
		char msg[200];
		snprintf(msg, sizeof msg, "the DTD: %s", stray);
		set_bozo(f, msg);
	}
	/* an unreadable DTD declares nothing: its references stay undefined */
	bool expand = r.wellformed && doc_declares_entities(r.doc);

	struct expander x;
	memset(&x, 0, sizeof x);
	x.allowance = text->len > ENTITY_MIN_GROWTH ? text->len : ENTITY_MIN_GROWTH;
	struct td_buf out;
	/* the document (less its subset) and what the bound lets the
	 * expansions add (ENTITY_CUT is no longer than a reference) */
	td_buf_init(&out, text->len + x.allowance);
	x.decls = r.doc;
	x.out = &out;
	x.text = s;
	/* the DOCTYPE without its subset; its newlines stay */
	bool ok = put(&x, s, open);
	for (size_t i = open; ok && i < end - 1; i++)
		if (s[i] == '\n')
			ok = put(&x, "\n", 1);
	ok = ok && put(&x, ">", 1);
	if (ok && expand)
		ok = expand_text(&x, s + end, text->len - end, false);
	else if (ok)
		ok = put(&x, s + end, text->len - end);
	if (r.doc)
		xmlFreeDoc(r.doc);
	if (!ok) {
		td_buf_free(&out);
		return td_err_set(err, EX_DATAERR, "feed: the document was refused: %s", x.why);
	}
	if (x.external[0]) {
		char msg[160];
		snprintf(msg, sizeof msg, "external entity '%s' was not loaded", x.external);
		set_bozo(f, msg);
	}
	if (x.cut_line) {
		char msg[200];
		snprintf(msg, sizeof msg, "its entities expand to more than %zu bytes beyond the "
			 "document's own: the entity references from line %zu on were not expanded",
			 x.allowance, x.cut_line);
		set_bozo(f, msg);
		f->entities_cut_line = x.cut_line;
	}
	td_buf_free(text);
	*text = out;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Walking the document.                                                */

struct pctx {
	struct td_feed *f;
	const char *doc_base;   /* Content-Location / the document's URL */
	bool atom;              /* Atom rules for text constructs */
	bool atom10;
	size_t nentries;
};

enum scope { SC_FEED, SC_ENTRY, SC_SOURCE };

struct container {
	struct val *d;
	enum scope sc;
	bool has_content;
	bool guidislink;
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
 * declared entities were expanded before the parse (expand_entities) and
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

static void escape_xml(struct td_buf *b, const char *s, bool in_attr)
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
				escape_xml(b, (const char *)c->content, false);
			continue;
		}
		if (c->type != XML_ELEMENT_NODE || depth >= FEED_MAX_DEPTH)
			continue;
		const char *name = (const char *)c->name;
		td_buf_printf(b, "<%s", name);
		for (const xmlAttr *a = c->properties; a; a = a->next) {
			xmlChar *v = xmlNodeListGetString(c->doc, a->children, 1);
			td_buf_printf(b, " %s=\"", (const char *)a->name);
			escape_xml(b, v ? (const char *)v : "", true);
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
		char *nb = uri_resolve(base, (const char *)xb);
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
	char *out = uri_resolve(base, ref);
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

static bool is_html_type(const char *t)
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
		if (is_space((unsigned char)*s))
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
static struct val *text_construct(const struct pctx *p, const xmlNode *n,
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
							if (!is_space((unsigned char)*t))
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
	if (is_html_type(type)) {
		char *safe = td_html_sanitize(value, strlen(value), *base ? base : NULL);
		free(value);
		value = safe ? safe : td_xstrdup("");
	}
	char *fixed = fix_c1(value);
	free(value);

	struct val *d = v_new(V_DICT);
	v_set(d, "type", v_str_owned(type));
	v_set(d, "value", v_str_owned(fixed));
	v_set(d, "base", v_str_owned(base));
	xmlChar *lang = xmlNodeGetLang(n);
	if (lang && *lang)
		v_sets(d, "language", (const char *)lang);
	else
		v_set(d, "language", v_new(V_NULL));
	xmlFree(lang);
	char *src = attr(n, "src");
	if (src) {
		v_set(d, "src", v_str_owned(resolve_here(p, n, src)));
		free(src);
	}
	free(tattr);
	free(mode);
	return d;
}

static void set_text(struct val *d, const char *key, struct val *detail)
{
	v_sets(d, key, v_gets(detail, "value"));
	char k2[64];
	snprintf(k2, sizeof k2, "%s_detail", key);
	v_set(d, k2, detail);
}

static void set_date(struct val *d, const char *key, const xmlNode *n)
{
	char *s = node_text(n);
	char *fixed = fix_c1(s);
	free(s);
	time_t t;
	char k2[64];
	snprintf(k2, sizeof k2, "%s_parsed", key);
	if (td_date_parse(fixed, &t)) {
		struct val *tv = v_new(V_TIME);
		tv->tm = t;
		v_set(d, k2, tv);
	}
	v_set(d, key, v_str_owned(fixed));
}

/* An RSS author string: "me@example.com (Name)", "Name <me@example.com>",
 * "Name (me@example.com)" -> name and email, as feedparser splits it. */
static void split_author(const char *s, struct val *detail)
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
		v_sets(detail, "name", name);
	if (email)
		v_sets(detail, "email", email);
	free(name);
	free(email);
}

static void handle_author(const struct pctx *p, struct val *d, const xmlNode *n,
			  const char *key)
{
	char kd[64], ks[64];
	snprintf(kd, sizeof kd, "%s_detail", key);
	snprintf(ks, sizeof ks, "%ss", key);
	struct val *person = v_new(V_DICT);
	if (has_element_child(n)) {
		/* Atom person construct */
		for (const xmlNode *c = n->children; c; c = c->next) {
			if (c->type != XML_ELEMENT_NODE)
				continue;
			char cn[128];
			canon_name(c, cn, sizeof cn);
			char *t = node_text(c);
			char *ft = fix_c1(t);
			free(t);
			if (!strcmp(cn, "name") || !strcmp(cn, "itunes:name"))
				v_sets(person, "name", ft);
			else if (!strcmp(cn, "email") || !strcmp(cn, "itunes:email"))
				v_sets(person, "email", ft);
			else if (!strcmp(cn, "uri") || !strcmp(cn, "url") || !strcmp(cn, "homepage"))
				v_set(person, "href", v_str_owned(resolve_here(p, c, ft)));
			free(ft);
		}
		const char *nm = v_gets(person, "name"), *em = v_gets(person, "email");
		if (nm && em) {
			char *s = td_xasprintf("%s (%s)", nm, em);
			v_set(d, key, v_str_owned(s));
		} else if (nm || em) {
			v_sets(d, key, nm ? nm : em);
		}
	} else {
		char *t = node_text(n);
		char *ft = fix_c1(t);
		free(t);
		if (!*ft) {
			free(ft);
			v_free(person);
			return;
		}
		split_author(ft, person);
		v_set(d, key, v_str_owned(ft));
	}
	if (person->n)
		v_set(d, kd, v_copy(person));
	v_append(v_child(d, ks, V_LIST), person);
}

static void add_tag(struct val *d, const char *term, const char *scheme, const char *label)
{
	if ((!term || !*term) && (!scheme || !*scheme) && (!label || !*label))
		return;
	struct val *t = v_new(V_DICT);
	v_set(t, "term", term ? v_str(term) : v_new(V_NULL));
	v_set(t, "scheme", scheme ? v_str(scheme) : v_new(V_NULL));
	v_set(t, "label", label ? v_str(label) : v_new(V_NULL));
	struct val *tags = v_child(d, "tags", V_LIST);
	for (size_t i = 0; i < tags->n; i++)
		if (v_equal(tags->kids[i], t)) {
			v_free(t);
			return;
		}
	v_append(tags, t);
}

static void handle_category(struct val *d, const xmlNode *n, const char *cn)
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
	char *ft = fix_c1(text);
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
	struct val *d = ct->d;
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
	struct val *l = v_new(V_DICT);
	v_sets(l, "rel", rel);
	v_sets(l, "type", type);
	if (*abs || !textual)
		v_sets(l, "href", abs);
	static const char *const extra[] = { "title", "length", "hreflang", NULL };
	for (size_t i = 0; extra[i]; i++) {
		char *v = attr(n, extra[i]);
		if (v)
			v_set(l, extra[i], v_str_owned(v));
	}
	v_append(v_child(d, "links", V_LIST), l);
	const char *mt = map_type(type);
	bool alternate = !strcmp(rel, "alternate") && is_html_type(mt ? mt : type);
	if (textual && !p->atom)
		alternate = true;
	if (alternate && *abs)
		v_sets(d, "link", abs);
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
	char *v = fix_c1(t);
	free(t);
	bool resolved = false;
	if (ct->guidislink && *v) {
		struct uri u;
		uri_split(v, &u);
		resolved = !u.has_scheme;
		char *r = resolve_here(p, n, v);
		free(v);
		v = r;
	}
	bool has_link = v_get(ct->d, "link") != NULL;
	struct val *b = v_new(V_BOOL);
	b->i = ct->guidislink && !has_link;
	v_set(ct->d, "guidislink", b);
	if (ct->guidislink && !has_link)
		v_sets(ct->d, "link", v);
	struct val *id = v_str_owned(v);
	/* "123" made "https://site/feed/123" names the item only in this
	 * feed: another feed of the site has another 123 (post.h) */
	id->resolved = resolved;
	v_set(ct->d, "id", id);
}

static void handle_enclosure(const struct pctx *p, struct val *d, const xmlNode *n)
{
	struct val *l = v_new(V_DICT);
	v_sets(l, "rel", "enclosure");
	char *u = attr(n, "url");
	if (!u)
		u = attr(n, "href");
	if (u) {
		v_set(l, "href", v_str_owned(resolve_here(p, n, u)));
		free(u);
	}
	static const char *const extra[] = { "type", "length", NULL };
	for (size_t i = 0; extra[i]; i++) {
		char *v = attr(n, extra[i]);
		if (v)
			v_set(l, extra[i], v_str_owned(v));
	}
	v_append(v_child(d, "links", V_LIST), l);
}

/* RSS <image>: its title and link describe the image, never the feed. */
static void handle_image(const struct pctx *p, struct val *d, const xmlNode *n)
{
	struct val *img = v_new(V_DICT);
	for (const xmlNode *c = n->children; c; c = c->next) {
		if (c->type != XML_ELEMENT_NODE)
			continue;
		char cn[128];
		canon_name(c, cn, sizeof cn);
		char *t = node_text(c);
		if (!strcmp(cn, "url"))
			v_set(img, "href", v_str_owned(resolve_here(p, c, t)));
		else if (!strcmp(cn, "link"))
			v_set(img, "link", v_str_owned(resolve_here(p, c, t)));
		else if (!strcmp(cn, "title") || !strcmp(cn, "description"))
			v_sets(img, cn, t);
		free(t);
	}
	v_set(d, "image", img);
}

static void walk(struct pctx *p, struct container *ct, const xmlNode *parent, int depth);

static void handle_source(struct pctx *p, struct val *d, const xmlNode *n, int depth)
{
	struct container sc = { v_new(V_DICT), SC_SOURCE, false, false };
	char *u = attr(n, "url");
	if (u) {
		v_set(sc.d, "href", v_str_owned(resolve_here(p, n, u)));
		free(u);
	}
	if (has_element_child(n)) {
		walk(p, &sc, n, depth + 1);
	} else {
		char *t = node_text(n);
		if (*t)
			v_set(sc.d, "title", v_str_owned(t));
		else
			free(t);
	}
	v_set(d, "source", sc.d);
}

/* Text constructs feedparser reads into a text key and its _detail. */
static void summary_or_content(const struct pctx *p, struct container *ct,
			       const xmlNode *n, const char *deftype, bool is_summary)
{
	struct val *d = ct->d;
	/* a second summary-like element is the content (feedparser) */
	if (is_summary && !(ct->sc == SC_ENTRY && v_get(d, "summary") && !ct->has_content)) {
		set_text(d, "summary", text_construct(p, n, deftype));
		return;
	}
	ct->has_content = true;
	struct val *tc = text_construct(p, n, deftype);
	const char *type = v_gets(tc, "type");
	bool copy = !strcmp(type, "text/plain") || is_html_type(type);
	if (copy && !v_get(d, "summary"))
		v_sets(d, "summary", v_gets(tc, "value"));
	v_append(v_child(d, "content", V_LIST), tc);
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
	struct container ec = { v_new(V_DICT), SC_ENTRY, false, false };
	v_append(p->f->entries, ec.d);
	xmlChar *about = xmlGetNsProp(n, (const xmlChar *)"about",
				      (const xmlChar *)"http://www.w3.org/1999/02/22-rdf-syntax-ns#");
	if (about) {
		v_sets(ec.d, "id", (const char *)about);
		xmlFree(about);
	}
	walk(p, &ec, n, depth + 1);
}

static void walk(struct pctx *p, struct container *ct, const xmlNode *parent, int depth)
{
	if (depth > FEED_MAX_DEPTH)
		return;
	struct val *d = ct->d;
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
			v_set(d, "comments", v_str_owned(resolve_here(p, c, t)));
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
				struct val *img = v_new(V_DICT);
				v_set(img, "href", v_str_owned(resolve_here(p, c, h)));
				v_set(d, "image", img);
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
				v_set(d, key, v_str_owned(fix_c1(t)));
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
	v_free(f->feed);
	v_free(f->entries);
	free(f);
}

static void set_bozo(struct td_feed *f, const char *msg)
{
	if (!f->bozo) {
		f->bozo = 1;
		free(f->bozo_exception);
		f->bozo_exception = td_xstrdup(msg);
	}
}

/* Bytes to UTF-8 (see the top of the file); sets f->encoding. */
static void decode(struct td_feed *f, const char *data, size_t len,
		   const char *content_type, struct td_buf *out)
{
	const unsigned char *u = (const unsigned char *)data;
	char declared[64], http[64];
	const char *enc = NULL;
	size_t skip = 0;
	http_charset(content_type, http, sizeof http);

	if (len >= 3 && u[0] == 0xEF && u[1] == 0xBB && u[2] == 0xBF) {
		enc = "utf-8";
		skip = 3;
	} else if (len >= 2 && ((u[0] == 0xFF && u[1] == 0xFE) || (u[0] == 0xFE && u[1] == 0xFF))) {
		enc = "utf-16"; /* iconv reads the BOM */
	} else if (len >= 4 && u[0] == '<' && u[1] == 0 && u[2] == '?' && u[3] == 0) {
		enc = "utf-16le";
	} else if (len >= 4 && u[0] == 0 && u[1] == '<' && u[2] == 0 && u[3] == '?') {
		enc = "utf-16be";
	}
	xml_decl_encoding(data + skip, len - skip, declared, sizeof declared);
	if (!enc)
		enc = *http ? http : *declared ? declared : "utf-8";
	else if (*http && !enc_is(http, ENC_UTF8) && !strcmp(enc, "utf-8"))
		set_bozo(f, "byte order mark and HTTP charset disagree");
	if (*http && *declared && strcasecmp(http, declared) != 0 &&
	    !(enc_is(http, ENC_UTF8) && enc_is(declared, ENC_UTF8)))
		set_bozo(f, "document declared one encoding but was served as another");

	char *name = td_xstrdup(enc);
	for (char *q = name; *q; q++)
		*q = (char)tolower((unsigned char)*q);
	if (enc_is(name, ENC_UTF8)) {
		free(name);
		name = td_xstrdup("utf-8");
	}
	f->encoding = name;

	if (enc_is(enc, ENC_UTF8)) {
		if (utf8_repair(data + skip, len - skip, out))
			set_bozo(f, "document is not valid UTF-8");
	} else if (enc_is(enc, ENC_1252)) {
		/* ISO-8859-1 and US-ASCII labels mean windows-1252 in practice */
		for (size_t i = skip; i < len; i++)
			td_utf8_put(out, cp1252_char(u[i]));
	} else {
		int r = iconv_to_utf8(enc, data + skip, len - skip, out);
		if (r < 0) {
			set_bozo(f, "unknown character encoding");
			free(f->encoding);
			f->encoding = td_xstrdup("utf-8");
			td_buf_reset(out);
			utf8_repair(data + skip, len - skip, out);
		} else if (r > 0) {
			set_bozo(f, "document has bytes its encoding cannot have");
		}
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
	decode(f, data, len, content_type, &text);

	int rc = expand_entities(f, &text, err);
	if (rc) {
		td_buf_free(&text);
		td_feed_free(f);
		return rc;
	}
	/* after the expansion: an entity can open a comment too */
	trim_comments(&text);

	struct parse_result r;
	xml_parse(td_buf_cstr(&text), text.len, FEED_XML_OPTS, &r);
	if (!r.wellformed) {
		char msg[320];
		snprintf(msg, sizeof msg, "not well-formed: %s", r.msg);
		set_bozo(f, msg);
		if (!r.doc) {
			struct td_buf loose = TD_BUF_INIT;
			loosen(td_buf_cstr(&text), text.len, &loose);
			xml_parse(td_buf_cstr(&loose), loose.len, FEED_XML_OPTS | XML_PARSE_RECOVER, &r);
			td_buf_free(&loose);
		}
	}
	td_buf_free(&text);
	if (!r.doc || !xmlDocGetRootElement(r.doc)) {
		if (r.doc)
			xmlFreeDoc(r.doc);
		td_feed_free(f);
		return td_err_set(err, EX_DATAERR, "feed: not XML: %s", r.msg);
	}
	if (doc_declares_entities(r.doc)) {
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
	f->feed = v_new(V_DICT);
	f->entries = v_new(V_LIST);
	struct pctx p = { f, base_url, starts_with(version, "atom"),
			  !strcmp(version, "atom10"), 0 };
	struct container fc = { f->feed, SC_FEED, false, false };
	walk(&p, &fc, root, 0);
	xmlFreeDoc(r.doc);
	if (!f->bozo_exception)
		f->bozo_exception = td_xstrdup("");
	*out = f;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Entries to posts.                                                    */

static void collapse_ws(char *s)
{
	/* one line of plain text: controls and runs of white space become
	 * one space (titles end up in mail headers and subject lines) */
	size_t o = 0;
	bool sp = false;
	for (size_t i = 0; s[i]; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7F || c == ' ') {
			sp = o > 0;
			continue;
		}
		/* U+0080..U+009F (C2 80..C2 9F) are controls too */
		if (c == 0xC2 && (unsigned char)s[i + 1] >= 0x80 && (unsigned char)s[i + 1] < 0xA0) {
			i++;
			sp = o > 0;
			continue;
		}
		if (sp)
			s[o++] = ' ';
		sp = false;
		s[o++] = (char)c;
	}
	s[o] = '\0';
}

static char *html_escape_text(const char *s)
{
	struct td_buf b = TD_BUF_INIT;
	td_buf_puts(&b, "<p>");
	escape_xml(&b, s, true);
	td_buf_puts(&b, "</p>");
	return td_buf_steal(&b);
}

/* The entry's body as safe HTML: HTML content first, plain text content
 * escaped; media types (video, base64 blobs) are not a body. */
static char *entry_content_html(const struct val *e)
{
	const struct val *cl = v_get(e, "content");
	if (!cl || cl->t != V_LIST)
		return NULL;
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < cl->n; i++) {
			const char *type = v_gets(cl->kids[i], "type");
			const char *value = v_gets(cl->kids[i], "value");
			if (!type || !value || !*value)
				continue;
			if (pass == 0 && is_html_type(type))
				return td_xstrdup(value);
			if (pass == 1 && !strcmp(type, "text/plain"))
				return html_escape_text(value);
		}
	}
	return NULL;
}

static char *entry_summary_html(const struct val *e)
{
	const char *s = v_gets(e, "summary");
	if (!s || !*s)
		return NULL;
	const struct val *det = v_get(e, "summary_detail");
	const char *type = det ? v_gets(det, "type") : NULL;
	if (!det) {
		/* copied from the content by the parser: same type */
		const struct val *cl = v_get(e, "content");
		if (cl && cl->n)
			type = v_gets(cl->kids[0], "type");
	}
	if (type && is_html_type(type))
		return td_xstrdup(s);
	return html_escape_text(s);
}

static char *plain_title(const struct val *e)
{
	const char *t = v_gets(e, "title");
	if (!t)
		return td_xstrdup("");
	const struct val *det = v_get(e, "title_detail");
	const char *type = det ? v_gets(det, "type") : NULL;
	char *s = (type && is_html_type(type)) ? td_html_to_text(t, strlen(t)) : td_xstrdup(t);
	if (!s)
		s = td_xstrdup("");
	collapse_ws(s);
	return s;
}

static void add_post_tag(struct td_post *post, const char *name)
{
	if (!name)
		return;
	char *display = td_xstrdup(name);
	collapse_ws(display);
	char *slug = td_slugify(display);
	if (*slug && !td_strv_contains(&post->tags, slug)) {
		td_strv_push_owned(&post->tags, slug);
		td_strv_push_owned(&post->tag_names, display);
		return;
	}
	free(slug);
	free(display);
}

static char *sha256_hex(const void *data, size_t len)
{
	unsigned char dig[32];
	if (gnutls_hash_fast(GNUTLS_DIG_SHA256, data, len, dig) < 0)
		memset(dig, 0, sizeof dig);
	char *hex = td_xmalloc(65);
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < 32; i++) {
		hex[2 * i] = digits[dig[i] >> 4];
		hex[2 * i + 1] = digits[dig[i] & 15];
	}
	hex[64] = '\0';
	return hex;
}

static time_t entry_time(const struct val *e, const char *key)
{
	const struct val *v = v_get(e, key);
	return v && v->t == V_TIME ? v->tm : 0;
}

/* Whether a string in v (or below it) holds needle. */
static bool val_holds(const struct val *v, const char *needle)
{
	if (v->t == V_STR)
		return v->s && strstr(v->s, needle);
	for (size_t i = 0; (v->t == V_LIST || v->t == V_DICT) && i < v->n; i++)
		if (val_holds(v->kids[i], needle))
			return true;
	return false;
}

int td_feed_posts(const struct td_feed *f, const struct td_source_config *src,
		  td_post_cb cb, void *ctx, size_t *nbad, struct td_err *err)
{
	const char *sname = src && src->name ? src->name : "?";
	if (nbad)
		*nbad = 0;
	if (f->entries_dropped)
		td_log_warnx("source '%s': the feed has %zu entries; only the first %d "
			     "are read, %zu dropped", sname,
			     (size_t)FEED_MAX_ENTRIES + f->entries_dropped,
			     FEED_MAX_ENTRIES, f->entries_dropped);
	size_t ncut = 0, first_cut = 0;
	int rc = 0;
	for (size_t i = 0; !rc && f->entries && i < f->entries->n; i++) {
		const struct val *e = f->entries->kids[i];
		/* half expanded: said once for all of them, below */
		if (f->entities_cut_line && val_holds(e, ENTITY_CUT)) {
			if (!ncut++)
				first_cut = i + 1;
			continue;
		}
		char *title = plain_title(e);
		char *content = entry_content_html(e);
		char *summary = entry_summary_html(e);
		const char *link = v_gets(e, "link");
		/* resolved already (xml:base, the feed's URL); what goes on
		 * to a digest must also be one valid URL, one line */
		char *url = td_html_safe_url(link, NULL);
		const char *reason = NULL;
		if (!*title && !content && !summary)
			reason = "no title and no content";
		else if (!is_http_url(url))
			reason = link && *link ? "link is not a valid absolute http(s) URL" :
						 "no link";
		if (reason) {
			td_log_warnx("source '%s': item %zu: %s", sname, i + 1, reason);
			if (nbad)
				(*nbad)++;
			free(title);
			free(content);
			free(summary);
			free(url);
			continue;
		}
		struct td_post post;
		memset(&post, 0, sizeof post);
		/* a title alone is a post too (link blogs): empty body */
		const char *body = content ? content : summary ? summary : "";
		const char *ex_src = summary ? summary : body;
		/* as long as any run may show: the renderer cuts it to the
		 * excerpt_chars of the day */
		td_html_excerpt(ex_src, strlen(ex_src), TD_EXCERPT_MAX,
				&post.excerpt_html, &post.excerpt_text);
		if (!post.excerpt_html)
			post.excerpt_html = td_xstrdup("");
		if (!post.excerpt_text)
			post.excerpt_text = td_xstrdup("");
		if (!*title) {
			/* an untitled item (microblogs) is named by its first words */
			char *eh = NULL, *et = NULL;
			td_html_excerpt(body, strlen(body), 80, &eh, &et);
			free(title);
			title = td_xstrdup(et ? et : "");
			collapse_ws(title);
			free(eh);
			free(et);
		}
		post.title = title;
		post.url = url;
		post.content_html = td_xstrdup(body);

		const struct val *ad = v_get(e, "author_detail");
		const char *author = ad ? v_gets(ad, "name") : NULL;
		/* a bare address is not a byline worth printing in a digest */
		if (!author && v_gets(e, "author") && !strchr(v_gets(e, "author"), '@'))
			author = v_gets(e, "author");
		post.author = td_xstrdup(author ? author : "");
		collapse_ws(post.author);

		time_t pub = entry_time(e, "published_parsed");
		time_t upd = entry_time(e, "updated_parsed");
		post.published = pub ? pub : upd;
		post.updated = upd ? upd : post.published;

		if (!src || src->categories) {
			const struct val *tags = v_get(e, "tags");
			for (size_t k = 0; tags && k < tags->n; k++) {
				const char *label = v_gets(tags->kids[k], "label");
				const char *term = v_gets(tags->kids[k], "term");
				add_post_tag(&post, label && *label ? label : term);
			}
		}
		for (size_t k = 0; src && k < src->tags.n; k++)
			add_post_tag(&post, src->tags.v[k]);

		/* what identifies an edit: any of these changing is one */
		struct td_buf h = TD_BUF_INIT;
		td_buf_puts(&h, post.title);
		td_buf_putc(&h, '\n');
		td_buf_puts(&h, post.url);
		td_buf_putc(&h, '\n');
		td_buf_puts(&h, content ? content : "");
		td_buf_putc(&h, '\n');
		td_buf_puts(&h, summary ? summary : "");
		for (size_t k = 0; k < post.tags.n; k++) {
			td_buf_putc(&h, '\n');
			td_buf_puts(&h, post.tags.v[k]);
		}
		post.content_hash = sha256_hex(td_buf_cstr(&h), h.len);

		const char *id = v_gets(e, "id");
		if (id && *id) {
			post.guid = td_xstrdup(id);
			post.guid_local = v_get(e, "id")->resolved;
		} else if (link && *link) {
			post.guid = td_xstrdup(link);
		} else {
			struct td_buf g = TD_BUF_INIT;
			td_buf_puts(&g, post.title);
			td_buf_putc(&g, '\n');
			td_buf_puts(&g, body);
			post.guid = sha256_hex(td_buf_cstr(&g), g.len);
			td_buf_free(&g);
		}
		td_buf_free(&h);
		free(content);
		free(summary);

		rc = cb(ctx, &post, err);
		td_post_free(&post);
	}
	if (ncut) {
		td_log_warnx("source '%s': %zu item%s (the first: item %zu) use%s entities past "
			     "the feed's expansion bound (line %zu on): skipped", sname, ncut,
			     ncut == 1 ? "" : "s", first_cut, ncut == 1 ? "s" : "",
			     f->entities_cut_line);
		if (nbad)
			*nbad += ncut;
	}
	return rc;
}

/* ------------------------------------------------------------------ */
/* JSON.                                                                */

static void json_str(struct td_buf *b, const char *s)
{
	size_t n = strlen(s);
	td_buf_putc(b, '"');
	for (size_t i = 0; i < n;) {
		unsigned char c = (unsigned char)s[i];
		uint32_t cp;
		if (c < 0x80) {
			if (c == '"' || c == '\\') {
				td_buf_putc(b, '\\');
				td_buf_putc(b, (char)c);
			} else if (c == '\n') {
				td_buf_puts(b, "\\n");
			} else if (c == '\r') {
				td_buf_puts(b, "\\r");
			} else if (c == '\t') {
				td_buf_puts(b, "\\t");
			} else if (c < 0x20 || c == 0x7F) {
				td_buf_printf(b, "\\u%04x", c);
			} else {
				td_buf_putc(b, (char)c);
			}
			i++;
			continue;
		}
		size_t k = td_utf8_next(s + i, n - i, &cp);
		if (k == 0) {
			td_buf_puts(b, "\\ufffd"); /* output stays valid UTF-8 */
			i++;
			continue;
		}
		if (cp == 0x2028 || cp == 0x2029)
			td_buf_printf(b, "\\u%04x", (unsigned)cp);
		else
			td_buf_append(b, s + i, k);
		i += k;
	}
	td_buf_putc(b, '"');
}

static void json_val(struct td_buf *b, const struct val *v)
{
	switch (v->t) {
	case V_STR:
		json_str(b, v->s);
		break;
	case V_INT:
		td_buf_printf(b, "%lld", v->i);
		break;
	case V_BOOL:
		td_buf_puts(b, v->i ? "true" : "false");
		break;
	case V_NULL:
		td_buf_puts(b, "null");
		break;
	case V_TIME: {
		struct tm tm;
		time_t t = v->tm;
		gmtime_r(&t, &tm);
		td_buf_printf(b, "[%d,%d,%d,%d,%d,%d,%d,%d,0]", tm.tm_year + 1900,
			      tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
			      (tm.tm_wday + 6) % 7, tm.tm_yday + 1);
		break;
	}
	case V_LIST:
		td_buf_putc(b, '[');
		for (size_t i = 0; i < v->n; i++) {
			if (i)
				td_buf_putc(b, ',');
			json_val(b, v->kids[i]);
		}
		td_buf_putc(b, ']');
		break;
	case V_DICT:
		td_buf_putc(b, '{');
		for (size_t i = 0; i < v->n; i++) {
			if (i)
				td_buf_putc(b, ',');
			json_str(b, v->keys[i]);
			td_buf_putc(b, ':');
			json_val(b, v->kids[i]);
		}
		td_buf_putc(b, '}');
		break;
	}
}

void td_feed_dump_json(const struct td_feed *f, struct td_buf *out)
{
	td_buf_printf(out, "{\"bozo\":%d,\"bozo_exception\":", f->bozo);
	json_str(out, f->bozo_exception ? f->bozo_exception : "");
	td_buf_puts(out, ",\"version\":");
	json_str(out, f->version ? f->version : "");
	td_buf_puts(out, ",\"encoding\":");
	json_str(out, f->encoding ? f->encoding : "");
	td_buf_puts(out, ",\"feed\":");
	if (f->feed)
		json_val(out, f->feed);
	else
		td_buf_puts(out, "{}");
	td_buf_puts(out, ",\"entries\":");
	if (f->entries)
		json_val(out, f->entries);
	else
		td_buf_puts(out, "[]");
	td_buf_putc(out, '}');
}
