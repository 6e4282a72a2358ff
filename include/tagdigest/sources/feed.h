/*
 * feed: RSS 0.9x/2.0, RSS 1.0 (RDF), Atom 1.0 and 0.3, parsed with libxml2
 * into the posts tagdigest stores.
 *
 * The input is untrusted: the parser never touches the network, never
 * loads external entities or DTDs, and is bounded in size (the caller caps
 * the download) and depth. Entities a document declares in its internal
 * subset are expanded by the module itself (feed_repair.h), before libxml2 parses the body,
 * within fixed bounds (../shared/tech/BRIEF.md 5: libxml2's own expansion
 * is unbounded); a document whose entities go past them is refused, but
 * for the bound on their growth: past it references are not expanded, the
 * feed is bozo, and td_feed_posts() skips the entries that used one. Text
 * fields are reduced to plain text; HTML fields are sanitized (html.h) with
 * relative URLs resolved against xml:base, else base_url (the caller's:
 * the response's Content-Location, else the URL it came from). Dates become UTC (date.h). Encodings come from the
 * BOM, the XML declaration or the HTTP charset; windows-1252 mislabelled as
 * ISO-8859-1 is read as windows-1252.
 *
 * A document that is not well-formed sets `bozo` (as feedparser calls it)
 * and is recovered where libxml2 can; what is recovered is still used.
 *
 * Ownership: td_feed_parse() returns a feed freed with td_feed_free().
 */
#ifndef TAGDIGEST_FEED_H
#define TAGDIGEST_FEED_H

#include <stddef.h>

#include "tagdigest/core/buf.h"
#include "tagdigest/core/err.h"
#include "tagdigest/sources/postsdir.h"
#include "tagdigest/sources/source.h"

struct td_feed;

/* base_url: where the document came from (may be NULL); content_type: the
 * HTTP Content-Type with its charset (may be NULL). Returns 0 (bozo feeds
 * included), or EX_DATAERR when nothing usable could be read (not XML, not
 * a feed, entities that nest too deep, loop or use too many references). */
int td_feed_parse(const char *data, size_t len, const char *base_url,
		  const char *content_type, struct td_feed **out,
		  struct td_err *err);
void td_feed_free(struct td_feed *f);

/* Items as posts for ingest: guid = id, else link, else a hash of the
 * content; url = the link made a valid URL by td_html_safe_url (html.h:
 * no tab, CR or LF, percent-encoded, absolute http(s) with a host); tags =
 * item categories (when src->categories) plus src->tags, as slugs with
 * their display names; excerpt from the summary, else the content
 * (html.h), up to TD_EXCERPT_MAX characters: the renderer cuts it. An
 * item without a usable link or title is reported ("source 'x': item 3:
 * no link") through td_log_warnx, counted in *nbad and skipped; so are,
 * with one warning for them all, the items that use an entity past the
 * growth bound (td_feed_parse). A feed with more entries than the parser reads (20,000) is
 * reported the same way, with how many were dropped. cb as in
 * postsdir.h. */
int td_feed_posts(const struct td_feed *f, const struct td_source_config *src,
		  td_post_cb cb, void *ctx, size_t *nbad, struct td_err *err);

/* What was parsed, as JSON with feedparser's names (feed.title,
 * entries[i].title, link, id, published_parsed, tags[j].term, summary,
 * content, bozo, version, encoding, ...), for `tagdigest feed-dump` and
 * the conformance runner. */
void td_feed_dump_json(const struct td_feed *f, struct td_buf *out);

#endif
