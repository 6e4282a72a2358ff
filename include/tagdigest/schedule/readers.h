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
#include <time.h>

#include "tagdigest/core/err.h"
#include "tagdigest/schedule/import.h"
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

/*
 * The readers a send would walk right after syncing the subscriber file,
 * without syncing it (`send --dry-run`, the desk's "This week"): the
 * roster as the sync would leave it, nothing written (td_import_file's
 * own dry run writes and rolls back, which a read-only store refuses,
 * and a writable one would hold the write lock against the public
 * server). First the file's rows, in file order, each as the sync would
 * store it (td_roster_put_check decides, as it does for the sync): a new
 * address as a reader on the site's schedule; a reader of the file's
 * ("csv") or a pending sign-up (an editor's row makes it active) with
 * the row's name, and its tags unless the reader chose their own; an
 * address that unsubscribed, bounced or complained, or a paused reader,
 * not at all. Then the roster's other readers (the form's, the CLI's,
 * imports'), who keep their tags whatever the file says. The file's
 * readers whose rows are gone are not walked: the sync would remove
 * them. One roster lookup per row; nothing is held per reader but the
 * file reader's duplicate check (subscribers.h).
 *
 * td_sync_walk_next has the shape of a send's subscriber source
 * (deliver.h): 1 with *out (valid until the next call), 0 at the end, or
 * the store's / the file's error. td_sync_walk_open fails with the
 * file's error (subscribers.h) when the file cannot be read. The summary
 * counts what the sync would do, complete once the walk ended.
 *
 * cutoff and now are the roster cursor's (roster.h): the store's readers
 * added after cutoff (the run's start) are not walked, nor a reader
 * paused at now (a send passes its start for both).
 */
struct td_sync_walk;
int td_sync_walk_open(struct td_store *st, const char *path, time_t cutoff, time_t now,
		      struct td_sync_walk **out, struct td_err *err);
int td_sync_walk_next(void *walk, const struct td_subscriber **out, struct td_err *err);
/* Rows the file is expected to hold, for progress; 0: unknown. */
size_t td_sync_walk_size_hint(const struct td_sync_walk *w);
const struct td_import_summary *td_sync_walk_summary(const struct td_sync_walk *w);
void td_sync_walk_close(struct td_sync_walk *w);

#endif
