/*
 * feed_repair.c: the text of a feed made safe and parseable before
 * libxml2 builds the tree (feed_repair.h).
 */
#include "tagdigest/sources/feed_repair.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/HTMLparser.h>
#include <libxml/hash.h>
#include <libxml/parser.h>
#include <libxml/tree.h>

#include "tagdigest/core/util.h"
#include "feed_impl.h"

bool td_feed_declares_entities(xmlDocPtr doc)
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
void td_feed_trim_comments(struct td_buf *text)
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

/* ------------------------------------------------------------------ */
/* CDATA sections set aside.                                            */

/*
 * libxml2 2.9.14 reads a CDATA section a character at a time (xmlParseCDSect
 * with xmlCurrentChar: about 80 instructions a byte), and a feed's HTML is
 * nearly all CDATA: on a WordPress feed that was a fifth of ingest. There
 * is nothing in a section for the parser to read but its end, so
 * td_feed_lift_cdata() finds the end itself, keeps the section's text
 * aside and leaves the parser a section that holds only a placeholder:
 * LIFT_MARK, the number of the section, LIFT_MARK, and as many newlines as
 * the text held, so that the line numbers of the parser's messages hold.
 * td_feed_restore_cdata() puts the text back into the tree's text nodes,
 * which hold the placeholder where the section's text would have been
 * (with NOCDATA a section's text joins the text around it, placeholder or
 * not). A section is set aside only when the parser would have taken its
 * text as it is: no CR (line ends are the parser's to normalize), no
 * character XML forbids, and only where text belongs, right after a tag
 * ('>' and white space before it, not the end of a PI or comment). A
 * document that could hold LIFT_MARK itself (its bytes, a character
 * reference to it, or an entity declaration, whose text may hide one), or
 * is too big for one text node (libxml2's XML_MAX_TEXT_LENGTH), is left
 * alone.
 */
static size_t skip_markup(const char *s, size_t n, size_t i);

#define LIFT_MARK "\xEF\xB7\x91"      /* U+FDD1, a noncharacter */
#define LIFT_MARK_LEN 3
#define LIFT_MIN 64                     /* shorter sections stay */
#define LIFT_MAX_DOC 10000000           /* XML_MAX_TEXT_LENGTH */

/* The end of the section whose text starts at s[from]: the index of its
 * "]]>", or n when it has none. *ok: whether the parser would take its
 * text as it is (no CR or other control but tab and LF, no U+FFFE or
 * U+FFFF). One pass: this reads most of a feed's bytes. */
static size_t section_end(const char *s, size_t n, size_t from, bool *ok)
{
	/* bytes that need a look: ']', 0xEF, the controls */
	static const unsigned char look[256] = {
		[0] = 1, [1] = 1, [2] = 1, [3] = 1, [4] = 1, [5] = 1, [6] = 1, [7] = 1,
		[8] = 1, [11] = 1, [12] = 1, [13] = 1, [14] = 1, [15] = 1, [16] = 1,
		[17] = 1, [18] = 1, [19] = 1, [20] = 1, [21] = 1, [22] = 1, [23] = 1,
		[24] = 1, [25] = 1, [26] = 1, [27] = 1, [28] = 1, [29] = 1, [30] = 1,
		[31] = 1, [']'] = 1, [0xEF] = 1,
	};
	*ok = true;
	for (size_t j = from; j < n; j++) {
		unsigned char c = (unsigned char)s[j];
		if (!look[c])
			continue;
		if (c == ']') {
			if (n - j >= 3 && s[j + 1] == ']' && s[j + 2] == '>')
				return j;
		} else if (c == 0xEF) {
			if (j + 2 < n && (unsigned char)s[j + 1] == 0xBF &&
			    ((unsigned char)s[j + 2] & 0xFE) == 0xBE)
				*ok = false;
		} else {
			*ok = false;
		}
	}
	return n;
}

/* Whether a section starting at s[k] ('<') is where text belongs: right
 * after a start or end tag. */
static bool after_tag(const char *s, size_t k)
{
	while (k > 0 && (s[k - 1] == ' ' || s[k - 1] == '\t' || s[k - 1] == '\n'))
		k--;
	return k >= 2 && s[k - 1] == '>' && s[k - 2] != '?' && s[k - 2] != '-';
}

/* Whether s[0..n) may make the parser produce U+FDD1: its UTF-8 bytes,
 * a character reference to it (&#xFDD1; &#64977;, any leading zeros),
 * or an entity declaration (a replacement text is parsed again, so
 * "&#38;#64977;" there becomes one). */
static bool may_hold_mark(const char *s, size_t n)
{
	if (memmem(s, n, LIFT_MARK, LIFT_MARK_LEN) || memmem(s, n, "<!ENTITY", 8))
		return true;
	for (const char *m = s; (m = memmem(m, (size_t)(s + n - m), "&#", 2)); m += 2) {
		const char *p = m + 2, *end = s + n;
		bool hex = p < end && (*p == 'x' || *p == 'X');
		p += hex;
		unsigned long v = 0;
		for (; p < end && isxdigit((unsigned char)*p) &&
		       (hex || isdigit((unsigned char)*p)); p++) {
			unsigned d = isdigit((unsigned char)*p) ? (unsigned)(*p - '0') :
				     (unsigned)(tolower((unsigned char)*p) - 'a' + 10);
			v = v * (hex ? 16 : 10) + d;
			if (v > 0x10FFFF)
				break;
		}
		if (v == 0xFDD1)
			return true;
	}
	return false;
}

void td_feed_lift_cdata(struct td_buf *text, struct td_feed_lifted *l)
{
	memset(l, 0, sizeof *l);
	const char *s = text->data;
	size_t n = text->len;
	if (!s || n > LIFT_MAX_DOC || may_hold_mark(s, n))
		return;
	struct td_buf out = TD_BUF_INIT;
	size_t i = 0, copied = 0;
	while (i < n) {
		const char *lt = memchr(s + i, '<', n - i);
		if (!lt)
			break;
		size_t k = (size_t)(lt - s);
		size_t past = skip_markup(s, n, k);
		if (past) {
			i = past;
			continue;
		}
		if (n - k < 9 || memcmp(s + k, "<![CDATA[", 9) != 0) {
			i = k + 1;
			continue;
		}
		size_t from = k + 9;
		bool ok;
		size_t to = section_end(s, n, from, &ok);
		if (to == n)
			break;
		const char *e = s + to;
		if (ok && to - from >= LIFT_MIN && after_tag(s, k)) {
			if (l->n == l->cap) {
				l->cap = l->cap ? l->cap * 2 : 64;
				l->off = td_xrealloc(l->off, l->cap * sizeof *l->off);
				l->len = td_xrealloc(l->len, l->cap * sizeof *l->len);
			}
			l->off[l->n] = from;
			l->len[l->n] = to - from;
			td_buf_append(&out, s + copied, from - copied);
			td_buf_printf(&out, LIFT_MARK "%zu" LIFT_MARK, l->n);
			for (const char *nl = s + from; (nl = memchr(nl, '\n', (size_t)(e - nl))); nl++)
				td_buf_putc(&out, '\n');
			copied = to;
			l->n++;
		}
		i = to + 3;
	}
	if (l->n == 0) {
		td_buf_free(&out);
		return;
	}
	td_buf_append(&out, s + copied, n - copied);
	/* the original keeps the sections' text until they are restored */
	l->orig = *text;
	*text = out;
}

/* s[0..n) with each placeholder replaced by its section's text, into b;
 * false when s holds none. */
static bool restore_text(const struct td_feed_lifted *l, const char *s, size_t n,
			 struct td_buf *b)
{
	const char *m = memmem(s, n, LIFT_MARK, LIFT_MARK_LEN);
	if (!m)
		return false;
	td_buf_reset(b);
	size_t i = 0;
	while (m) {
		size_t at = (size_t)(m - s);
		size_t j = at + LIFT_MARK_LEN, idx = 0;
		bool digits = false;
		while (j < n && s[j] >= '0' && s[j] <= '9' && idx < l->n) {
			idx = idx * 10 + (size_t)(s[j++] - '0');
			digits = true;
		}
		if (!digits || idx >= l->n || n - j < LIFT_MARK_LEN ||
		    memcmp(s + j, LIFT_MARK, LIFT_MARK_LEN) != 0) {
			/* not one of ours (cannot happen: the document could
			 * make no mark, may_hold_mark); copied as it is */
			td_buf_append(b, s + i, j - i);
			i = j;
		} else {
			j += LIFT_MARK_LEN;
			const char *t = l->orig.data + l->off[idx];
			for (const char *nl = t; (nl = memchr(nl, '\n', (size_t)(t + l->len[idx] - nl))); nl++)
				if (j < n && s[j] == '\n')
					j++;
			td_buf_append(b, s + i, at - i);
			td_buf_append(b, t, l->len[idx]);
			i = j;
		}
		m = i < n ? memmem(s + i, n - i, LIFT_MARK, LIFT_MARK_LEN) : NULL;
	}
	td_buf_append(b, s + i, n - i);
	return true;
}

static void restore_node(const struct td_feed_lifted *l, xmlNodePtr c, struct td_buf *b)
{
	if ((c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) && c->content &&
	    restore_text(l, (const char *)c->content, strlen((const char *)c->content), b))
		xmlNodeSetContentLen(c, (const xmlChar *)td_buf_cstr(b), (int)b->len);
}

void td_feed_restore_cdata(xmlDocPtr doc, const struct td_feed_lifted *l)
{
	if (!doc || l->n == 0)
		return;
	struct td_buf b = TD_BUF_INIT;
	/* every node in document order, without recursion */
	xmlNodePtr n = doc->children;
	while (n) {
		restore_node(l, n, &b);
		if (n->type == XML_ELEMENT_NODE)
			for (xmlAttrPtr a = n->properties; a; a = a->next)
				for (xmlNodePtr c = a->children; c; c = c->next)
					restore_node(l, c, &b);
		if (n->children && n->type == XML_ELEMENT_NODE) {
			n = n->children;
			continue;
		}
		while (n && !n->next) {
			n = n->parent;
			if (n == (xmlNodePtr)doc)
				n = NULL;
		}
		if (n)
			n = n->next;
	}
	td_buf_free(&b);
}

void td_feed_lifted_free(struct td_feed_lifted *l)
{
	td_buf_free(&l->orig);
	free(l->off);
	free(l->len);
	memset(l, 0, sizeof *l);
}

/* What feedparser's loose parser does implicitly, done to the text so
 * libxml2's recovery keeps the characters: HTML entity names become
 * character references, a bare '&' becomes "&amp;", "&#X41;" becomes
 * "&#x41;", characters XML forbids are dropped. CDATA sections and
 * comments are copied as they are. */
void td_feed_loosen(const char *s, size_t n, struct td_buf *out)
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

void td_feed_xml_parse(const char *buf, size_t len, int opts, struct td_feed_xml *r)
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
			while (m > 0 && td_feed_is_space((unsigned char)r->msg[m - 1]))
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
 * The real parse then sees no declaration; td_feed_declares_entities() still
 * refuses a document in which it finds one.
 */
#define ENTITY_MAX_DEPTH 16
#define ENTITY_MAX_REFS 100000
#define ENTITY_MIN_GROWTH ((size_t)1 << 20)
#define ENTITY_MAX_NAME 256
/* ENTITY_CUT: feed_impl.h (feed_post.c looks for it). */

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
		else if (s[i] == '%' && !*decls && i + 1 < n && !td_feed_is_space((unsigned char)s[i + 1]))
			*decls = decl ? decl - 1 : i;
		i++;
	}
	if (i >= n)
		return false;
	if (!*decls)
		*decls = i;
	for (i++; i < n && td_feed_is_space((unsigned char)s[i]); i++)
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
int td_feed_expand_entities(struct td_feed *f, struct td_buf *text, struct td_err *err)
{
	size_t open, decls, end;
	const char *s = td_buf_cstr(text);
	if (!find_internal_subset(s, text->len, &open, &decls, &end))
		return 0;

	/* the declarations, read from the prolog alone */
	struct td_buf prolog = TD_BUF_INIT;
	td_buf_append(&prolog, s, decls);
	td_buf_puts(&prolog, "]><x/>");
	struct td_feed_xml r;
	char stray[160] = "";
	xmlSetStructuredErrorFunc(stray, keep_first_error);
	td_feed_xml_parse(td_buf_cstr(&prolog), prolog.len, FEED_XML_OPTS, &r);
	xmlSetStructuredErrorFunc(NULL, NULL);
	td_buf_free(&prolog);
	if (!r.wellformed) {
		char msg[340];
		snprintf(msg, sizeof msg, "not well-formed: the DTD: %s", r.msg);
		td_feed_set_bozo(f, msg);
	} else if (stray[0]) {
		char msg[200];
		snprintf(msg, sizeof msg, "the DTD: %s", stray);
		td_feed_set_bozo(f, msg);
	}
	/* an unreadable DTD declares nothing: its references stay undefined */
	bool expand = r.wellformed && td_feed_declares_entities(r.doc);

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
		td_feed_set_bozo(f, msg);
	}
	if (x.cut_line) {
		char msg[200];
		snprintf(msg, sizeof msg, "its entities expand to more than %zu bytes beyond the "
			 "document's own: the entity references from line %zu on were not expanded",
			 x.allowance, x.cut_line);
		td_feed_set_bozo(f, msg);
		f->entities_cut_line = x.cut_line;
	}
	td_buf_free(text);
	*text = out;
	return 0;
}

