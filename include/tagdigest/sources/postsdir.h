/*
 * postsdir: a folder of Markdown posts with a front matter block.
 *
 *   ---
 *   title: Lavrov: NATO ambitions "never changed"
 *   date: 2017-06-30T10:00:00+03:00        (RFC 3339, or YYYY-MM-DD [HH:MM])
 *   tags: [Sergey Lavrov, NATO]            (or: tags: Sergey Lavrov, NATO)
 *   url: https://example.org/2017/06/30/lavrov-nato/
 *   author: Newsroom
 *   id: optional-stable-id                 (default: the file name)
 *   ---
 *   Body in Markdown...
 *
 * Values may be wrapped in single or double quotes. Required: title, date,
 * url (absolute http/https), tags (at least one). Unknown keys are errors.
 * Files are read in name order; only *.md files count; hidden files are
 * skipped. A bad file is reported as "FILE:LINE: problem" through
 * td_log_warnx and skipped; the others are still read.
 *
 * A post's HTML (body and excerpt) is what the feeds' sanitizer would
 * make of cmark's (markdown.h); its excerpt is the first paragraph up to
 * TD_EXCERPT_MAX characters, cut to excerpt_chars when a digest is
 * rendered. Its content hash is SHA-256 over the Markdown rules
 * (TD_MARKDOWN_RULES) and the file's bytes: everything a stored post is
 * made of but its key (source and guid).
 *
 * Rendering is most of a post's cost, so td_postsdir_read() asks first
 * (td_post_known_cb) whether the caller already has the post with this
 * guid and content hash (ingest: the store does), and skips it if so.
 */
#ifndef TAGDIGEST_POSTSDIR_H
#define TAGDIGEST_POSTSDIR_H

#include <stdbool.h>
#include <stddef.h>

#include "tagdigest/core/err.h"
#include "tagdigest/sources/post.h"

/* Called once per good post. The post is owned by the reader and freed
 * after the callback returns. Non-zero from the callback stops the read
 * and is returned. */
typedef int (*td_post_cb)(void *ctx, const struct td_post *post,
			  struct td_err *err);

/* Parses one post file held in memory (name used for messages and as the
 * default guid). Returns 0 or EX_DATAERR with "NAME:LINE: problem". */
int td_postsdir_parse(const char *name, const char *text, size_t len,
		      struct td_post *out, struct td_err *err);

/* Called for each good post before its body is rendered: set *known when
 * the caller has this guid with this content hash already; the post is
 * then neither rendered nor given to td_post_cb. Non-zero stops the read
 * and is returned. */
typedef int (*td_post_known_cb)(void *ctx, const char *guid,
				const char *content_hash, bool *known,
				struct td_err *err);

/* Reads every post in dir (known may be NULL: every post is rendered).
 * *nbad counts skipped files. Returns 0, EX_NOINPUT when dir cannot be
 * opened (EX_IOERR: listed), with a message that leaves naming dir to the
 * caller (ingest puts every source's path first), or what a callback
 * returned. */
int td_postsdir_read(const char *dir, td_post_known_cb known, td_post_cb cb,
		     void *ctx, size_t *nbad, struct td_err *err);

#endif
