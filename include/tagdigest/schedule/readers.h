/*
 * readers: the subscribers `send` would walk, for the commands and pages
 * that show them without sending (preview, the editors' desk). Since the
 * roster (roster.h) owns the list, a reader is looked up there first, with
 * their own schedule (prefs) and not_before; the subscriber file's rows
 * the store does not have yet come after (the next run's sync adds them,
 * import.h), so a fresh install previews everyone before its first run.
 *
 * Reads the store only. The file is optional (path NULL); a file that
 * cannot be read is not an error: the store's readers are still there.
 */
#ifndef TAGDIGEST_READERS_H
#define TAGDIGEST_READERS_H

#include <stdbool.h>

#include "tagdigest/core/err.h"
#include "tagdigest/schedule/subscribers.h"
#include "tagdigest/store/roster.h"
#include "tagdigest/store/store.h"

/* One reader found by address. view borrows from member or row and is
 * valid until td_reader_free. */
struct td_reader {
	bool found;
	bool in_store;                   /* false: a file row not synced yet */
	enum td_member_status status;    /* a file row is (will be) active */
	struct td_subscriber view;
	struct td_member member;         /* when in_store */
	struct td_subscriber_list file;  /* when not: the file, read once */
};

/* Looks email up: the roster, else the file at path. Returns 0 (then
 * out->found says whether anyone was found; a file that cannot be read
 * is logged, td_log_warnx, and searched as empty) or the store's error;
 * out is to be freed with td_reader_free either way. */
int td_reader_find(struct td_store *st, const char *path, const char *email,
		   struct td_reader *out, struct td_err *err);
void td_reader_free(struct td_reader *r);

/* Each reader a send would see, a page of the roster at a time, then
 * (when path is not NULL) the file's rows the store does not know, read
 * as a stream: fn gets the member (NULL for a file row) and the view the
 * composer takes, both valid during the call; a non-zero return stops the
 * walk and is returned. all_statuses: every member, not only the active
 * ones. A file that cannot be read is not an error: file_err says why
 * (code 0 when it could), *nbad counts its bad rows (nbad may be NULL).
 * `status` prints while it walks; td_readers_load keeps copies. */
typedef int (*td_reader_fn)(const struct td_member *m, const struct td_subscriber *sub,
			    void *ctx, struct td_err *err);
int td_readers_walk(struct td_store *st, const char *path, bool all_statuses,
		    td_reader_fn fn, void *ctx, size_t *nbad, struct td_err *file_err,
		    struct td_err *err);

/* The readers a send would write to now, as owned copies in *out (free
 * with td_subscribers_free): the roster's active readers in the order
 * they were added (read a page at a time), then the file's rows the
 * store does not know. out->nbad counts the file's bad rows; file_err
 * gets why the file could not be read (code 0 when it could). Returns 0
 * or the store's error (then *out is empty). */
int td_readers_load(struct td_store *st, const char *path,
		    struct td_subscriber_list *out, struct td_err *file_err,
		    struct td_err *err);

#endif
