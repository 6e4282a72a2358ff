/*
 * feed_impl.h: what the files of the feed module share, and nothing else
 * includes. The module (feed.h is its contract) is one file per step:
 *
 *   feed_charset.c  bytes -> UTF-8 (feed_charset.h)
 *   feed_repair.c   the text made safe and parseable for libxml2: declared
 *                   entities expanded within bounds, comments trimmed,
 *                   the loose parser's repairs (feed_repair.h)
 *   feed.c          td_feed_parse: the steps in order, then the walk over
 *                   the DOM that fills the model; td_feed_dump_json
 *   feed_post.c     td_feed_posts: the model's entries as posts
 *
 * The model is feedparser's (a tree of dicts, lists and strings with its
 * key names) held in td_value (value.h): feed and entries below. A date
 * is feedparser's 9-tuple in UTC, a list of numbers (year, month, day,
 * hour, minute, second, weekday with Monday 0, day of the year, 0).
 *
 * struct td_feed owns everything it points to; td_feed_free() frees it.
 */
#ifndef TAGDIGEST_FEED_IMPL_H
#define TAGDIGEST_FEED_IMPL_H

#include <stdbool.h>
#include <stddef.h>

#include <libxml/parser.h>

#include "tagdigest/core/buf.h"
#include "tagdigest/core/value.h"

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

/* What a reference past the entity growth bound stands for (feed_repair.h):
 * U+FDD0, a noncharacter, which XML allows and no honest feed writes (a
 * feed that does only has its own entries skipped). */
#define ENTITY_CUT "\xEF\xB7\x90"

struct td_feed {
	int bozo;
	char *bozo_exception;
	size_t entities_cut_line;  /* entities left unexpanded from here on, or 0 */
	char *version;
	char *encoding;
	struct td_value *feed;     /* map */
	struct td_value *entries;  /* list of maps */
	/* per entry: its id is a relative guid made absolute against the
	 * feed's address, so it names the item only in this feed (post.h) */
	bool *id_local;
	size_t entries_dropped;    /* past FEED_MAX_ENTRIES, not read */
};

/* Sets bozo with msg, unless it is set already: the first problem is the
 * one reported. */
void td_feed_set_bozo(struct td_feed *f, const char *msg);

/* text/html or application/xhtml+xml: a body that is HTML. */
bool td_feed_is_html_type(const char *t);
/* s with & < > (and " when in_attr) escaped, appended to b. */
void td_feed_escape_xml(struct td_buf *b, const char *s, bool in_attr);

/* Python's whitespace for str.strip(), ASCII only: no locale involved. */
static inline bool td_feed_is_space(int c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
	       c == '\v';
}

#endif
