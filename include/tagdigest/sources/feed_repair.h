/*
 * feed_repair: the text of a feed (UTF-8 by now: feed_charset.h) made
 * safe and parseable before libxml2 builds its tree, the second and third
 * steps of td_feed_parse (feed.h).
 *
 *   - td_feed_expand_entities: the entities the internal subset declares
 *     are expanded here, within fixed bounds, and the subset taken out, so
 *     libxml2 never sees a declaration (its own expansion is unbounded:
 *     ../shared/tech/BRIEF.md 5); feed_repair.c says how, and which bound
 *     refuses the document and which only cuts the expansion short;
 *   - td_feed_trim_comments: a comment's text after its first "--" is
 *     dropped (libxml2 is quadratic on many of them);
 *   - td_feed_lift_cdata / td_feed_restore_cdata: the text of CDATA
 *     sections kept out of libxml2's way (it reads them a character at a
 *     time) and put back into the tree after the parse;
 *   - td_feed_xml_parse: one libxml2 parse, its first error kept;
 *   - td_feed_loosen: for a document that is not well-formed, the repairs
 *     feedparser's loose parser makes implicitly, before the recovering
 *     parse.
 *
 * Ownership: a parse's doc belongs to the caller (xmlFreeDoc); the text
 * buffers are the caller's.
 */
#ifndef TAGDIGEST_FEED_REPAIR_H
#define TAGDIGEST_FEED_REPAIR_H

#include <stdbool.h>
#include <stddef.h>

#include <libxml/tree.h>

#include "tagdigest/core/buf.h"
#include "tagdigest/core/err.h"

struct td_feed;

/* Takes the internal subset out of text and expands the general entities
 * it declares, in place. What is wrong but readable sets f's bozo (and
 * f->entities_cut_line when the growth bound cut the expansion short).
 * Returns 0, or EX_DATAERR when the expansion is refused (too deep, a
 * loop, too many references). */
int td_feed_expand_entities(struct td_feed *f, struct td_buf *text, struct td_err *err);

/* In place; the text only shrinks and keeps its line numbers. */
void td_feed_trim_comments(struct td_buf *text);

/* Appends s[0..n) to out with HTML entity names made character
 * references, a bare '&' made "&amp;", characters XML forbids dropped;
 * CDATA sections and comments copied as they are. */
void td_feed_loosen(const char *s, size_t n, struct td_buf *out);

/* CDATA sections set aside while libxml2 parses (feed_repair.c says why
 * and which): the original text, and where each section's text is in it. */
struct td_feed_lifted {
	struct td_buf orig;
	size_t *off, *len;
	size_t n, cap;
};

/* Replaces, in text, the text of each CDATA section libxml2 would take as
 * it is by a placeholder of the same line count; l keeps the text (l->n
 * is 0 and text unchanged when none was set aside). */
void td_feed_lift_cdata(struct td_buf *text, struct td_feed_lifted *l);
/* Puts the sections' text back into doc's text nodes. */
void td_feed_restore_cdata(xmlDocPtr doc, const struct td_feed_lifted *l);
void td_feed_lifted_free(struct td_feed_lifted *l);

struct td_feed_xml {
	xmlDocPtr doc;      /* NULL when nothing could be read */
	bool wellformed;
	char msg[300];      /* "line 3: ..." when not well-formed */
};
/* Parses buf[0..len) with opts (FEED_XML_OPTS, and RECOVER for a second
 * try). */
void td_feed_xml_parse(const char *buf, size_t len, int opts, struct td_feed_xml *r);

/* The document still declares an entity (it is refused then). */
bool td_feed_declares_entities(xmlDocPtr doc);

#endif
