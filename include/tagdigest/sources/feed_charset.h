/*
 * feed_charset: a feed's bytes to UTF-8, the first step of td_feed_parse
 * (feed.h), so that libxml2 always sees valid UTF-8 and encoding bugs
 * stay in one place.
 *
 * The encoding comes from the byte order mark, else the HTTP charset,
 * else the XML declaration, else UTF-8. Labels for ISO-8859-1 and
 * US-ASCII are read as windows-1252 (what such feeds hold in practice);
 * invalid UTF-8 bytes are read as windows-1252 one by one; encodings
 * iconv knows go through iconv, undecodable bytes becoming U+FFFD; an
 * encoding iconv does not know is read as UTF-8. None of this fails: what
 * went wrong is reported for the feed's bozo flag.
 *
 * Ownership: the caller owns out and the malloc'd strings returned.
 */
#ifndef TAGDIGEST_FEED_CHARSET_H
#define TAGDIGEST_FEED_CHARSET_H

#include <stddef.h>

#include "tagdigest/core/buf.h"

/* data[0..len) as UTF-8 appended to out; *encoding is set to the
 * encoding read, lowercased ("utf-8", "windows-1252", "koi8-r", ...).
 * Returns NULL, or the first problem found (a static string: "document is
 * not valid UTF-8", ...). content_type: the HTTP Content-Type, or NULL. */
const char *td_feed_decode(const char *data, size_t len, const char *content_type,
			   struct td_buf *out, char **encoding);

/* C1 controls in text (U+0080..U+009F) almost always mean a windows-1252
 * character written as a character reference (&#146; for a right quote);
 * feedparser maps them the same way. Returns a malloc'd copy of s with
 * them mapped. */
char *td_feed_fix_c1(const char *s);

#endif
