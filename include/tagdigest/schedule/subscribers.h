/*
 * subscribers: the editors' subscriber file, RFC 4180 CSV with a header row.
 *
 * Required columns: email, name, tags (tags separated by ';', each turned
 * into a slug). Other columns are allowed and ignored; column order is free.
 * Quoted fields may hold commas, doubled quotes and line breaks; CRLF and LF
 * line ends and a UTF-8 BOM are accepted.
 *
 * A bad row (invalid address, unterminated quote, no tags, duplicate email,
 * a name that td_display_name_valid refuses: invalid UTF-8, a line break
 * or control character, over TD_DISPLAY_NAME_MAX bytes) is reported as
 * "FILE:LINE: problem" through td_log_warnx, once per reading, and
 * skipped; the good rows are kept. A missing or malformed header is an
 * error for the whole file.
 *
 * Two ways to read it, with the same rules and the same messages:
 *
 *   td_subscribers_load / _parse   the whole list in memory, for commands
 *                                  that look subscribers up (status,
 *                                  preview, serve). The list owns
 *                                  everything; td_subscribers_free()
 *                                  releases it.
 *   td_subscribers_open / _next    one row at a time, for `send`: the copy
 *                                  (below) is read in TD_SUBSCRIBERS_CHUNK
 *                                  pieces, so memory does not grow with the
 *                                  file, except for duplicate detection (a
 *                                  64-bit hash of each lowercased address
 *                                  and the line it is on: about 16 bytes
 *                                  per row), unless the store keeps the
 *                                  addresses (td_subscribers_seen_in_store),
 *                                  as `send`'s sync does.
 *
 * Both work from one consistent reading of the file, taken when it is
 * opened or loaded: people save the file while a long send runs, and
 * editors such as nano rewrite it in place. The file is copied (for
 * streaming, into an unlinked file in $TMPDIR, so memory stays flat;
 * for loading, into memory) and the copy is used only if the file held
 * still while it was read: same device, inode, size, mtime and ctime
 * before and after, every byte read, the path still naming that inode,
 * and a second reading equal to the copy (file times move in clock ticks
 * and can miss a change). A file changed in the last
 * TD_SUBSCRIBERS_SETTLE_MS that is empty or whose last row has no line end
 * is taken to be still being written and is waited for. A file that does
 * not hold still within TD_SUBSCRIBERS_TRIES copies or
 * TD_SUBSCRIBERS_WAIT_MS is refused with EX_TEMPFAIL: run again. Whatever
 * happens to the file after that, the reader never reads it again;
 * td_subscribers_changed() tells whether it has changed since.
 *
 * A row longer than TD_SUBSCRIBERS_MAX_ROW bytes is a bad row: one broken
 * quote must not pull a whole file into memory.
 */
#ifndef TAGDIGEST_SUBSCRIBERS_H
#define TAGDIGEST_SUBSCRIBERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tagdigest/core/err.h"
#include "tagdigest/core/util.h"
#include "tagdigest/store/roster.h"

struct td_subscriber {
	char *email;          /* validated (address.h), as written */
	char *name;           /* may be "" */
	struct td_strv tags;  /* slugs, in file order, no duplicates */
	unsigned line;        /* line of the row's start in the file; 0 when
			       * the subscriber comes from the store */
	struct td_prefs prefs;/* the reader's own schedule (roster.h); a
			       * file row has the site's (all zero) */
	time_t not_before;    /* slots at or before this are not theirs (a
			       * reader who confirmed on the form then: the
			       * first digest comes at the next slot, or as
			       * the welcome); 0: none */
	int64_t member_id;    /* roster.h td_member.id, named by the VERP
			       * return path (verp.h); 0 for a file row the
			       * store does not have yet */
};

struct td_subscriber_list {
	struct td_subscriber *v;
	size_t n;
	size_t nbad;          /* rows reported and skipped */
};

/* Returns 0, EX_NOINPUT (cannot read), EX_DATAERR (bad header, or over
 * 64 MiB) or EX_TEMPFAIL (the file did not hold still, see above). */
int td_subscribers_load(const char *path, struct td_subscriber_list *out,
			struct td_err *err);
/* Parses CSV text already in memory; `path` is used in messages only. */
int td_subscribers_parse(const char *path, const char *text, size_t len,
			 struct td_subscriber_list *out, struct td_err *err);
const struct td_subscriber *td_subscribers_find(const struct td_subscriber_list *l,
						const char *email);
void td_subscribers_free(struct td_subscriber_list *l);

/* An owned copy of src in dst (a row a source lends until its next
 * call, kept by another thread); td_subscriber_clear frees it and zeroes
 * dst. */
void td_subscriber_copy(struct td_subscriber *dst, const struct td_subscriber *src);
void td_subscriber_clear(struct td_subscriber *s);

/* A subscriber from the store as the composer takes it: *view borrows
 * m's strings (valid while m is) and must not be freed. */
void td_member_subscriber(const struct td_member *m, struct td_subscriber *view);

/* ---- streaming ---- */

#define TD_SUBSCRIBERS_CHUNK (64u << 10)    /* bytes read at a time */
#define TD_SUBSCRIBERS_MAX_ROW (1u << 20)
/* The consistent reading (see the top of this file). */
#define TD_SUBSCRIBERS_SETTLE_MS 2000
#define TD_SUBSCRIBERS_TRIES 5
#define TD_SUBSCRIBERS_WAIT_MS 5000

struct td_subscriber_reader;

/* Copies the file (see above) and reads the copy's header. Returns 0 with
 * *out set (free it with td_subscribers_close), EX_NOINPUT (cannot read),
 * EX_DATAERR (bad header), EX_TEMPFAIL (the file did not hold still) or
 * EX_CANTCREAT / EX_IOERR (no private copy in $TMPDIR), with *out NULL. */
int td_subscribers_open(const char *path, struct td_subscriber_reader **out,
			struct td_err *err);
/* The next good row: returns 1 with *out pointing at it (owned by the
 * reader, valid until the next call or close), 0 at the end of the file,
 * or EX_IOERR when the file cannot be read further (or the store's error,
 * see td_subscribers_seen_in_store). Bad rows are reported and skipped as
 * in td_subscribers_parse. */
int td_subscribers_next(struct td_subscriber_reader *r,
			const struct td_subscriber **out, struct td_err *err);
/* Duplicate detection in st's temporary table (roster.h td_roster_seen_add)
 * instead of the reader's memory, which grows by about 16 bytes a row:
 * a file of a million rows would add 16 MiB to a run's peak. Call it
 * before the first _next; st must stay open until td_subscribers_close,
 * which drops the table. The messages and the rule (an address met
 * before, ASCII case folded, is a bad row) stay the same; a store error
 * is _next's error. */
int td_subscribers_seen_in_store(struct td_subscriber_reader *r, struct td_store *st,
				 struct td_err *err);
/* An upper bound on the data rows (the copy's line breaks), for
 * progress. */
size_t td_subscribers_size_hint(const struct td_subscriber_reader *r);
/* Rows so far: good ones returned by _next, bad ones reported. Either
 * pointer may be NULL. */
void td_subscribers_counts(const struct td_subscriber_reader *r, size_t *ngood,
			   size_t *nbad);
/* SHA-256 (hash.h, hex) of the bytes the reader copied, so a caller can
 * tell this reading from an earlier one (import.h skips a file it synced
 * unchanged); owned by the reader. */
const char *td_subscribers_digest(const struct td_subscriber_reader *r);
/* True when the file on disk is no longer the one the reader copied
 * (changed, replaced or removed since), so the run that used the copy can
 * say that the changes apply from the next run. False for a pipe. */
bool td_subscribers_changed(const struct td_subscriber_reader *r);
/* Closes the copy and frees the reader (NULL is fine). */
void td_subscribers_close(struct td_subscriber_reader *r);

#endif
