/*
 * import: a subscriber CSV (subscribers.h) into the store's roster
 * (roster.h).
 *
 * Two uses, one reading of the file each (subscribers.h's consistent
 * copy):
 *
 *   TD_IMPORT_SYNC   the configured [subscribers] path, at the start of
 *                    every `send` and `run`: each row adds or updates a
 *                    subscriber of origin "csv"; a "csv" subscriber whose
 *                    row is gone from the file is removed
 *                    (td_roster_file_sweep). Bad rows are reported with
 *                    FILE:LINE and skipped (one bad row must not stop the
 *                    weekly send), and so are their addresses: a
 *                    subscriber whose row is broken is neither changed nor
 *                    removed (which subscriber a broken row is cannot be
 *                    told, so a sync with bad rows removes nobody, and the
 *                    file is read again at the next run, warnings and
 *                    all). A file whose bytes are the same as at the last
 *                    good sync (subscribers.h's digest of its copy) is not
 *                    read into the store again: nothing the store learned
 *                    since is undone either way.
 *   TD_IMPORT_ADD    `subscribers import FILE`: rows add or update
 *                    (origin "import"), nothing is removed, and the import
 *                    is all or nothing: every bad row is reported with
 *                    FILE:LINE and nothing is stored (EX_DATAERR).
 *
 * A row the roster refuses (td_roster_put's checks) is a bad row like the
 * reader's own. consent_from of a new subscriber is "FILE:LINE".
 *
 * Rows are first compared with the store in a read transaction
 * (td_roster_put_check); the store's write lock, which the public
 * server's unsubscribes and confirmations wait for, is taken only to put
 * the rows that change something, so a sync of a big file in which a few
 * rows changed holds it for milliseconds. Past a few thousand changed
 * rows (the first sync of a big file) the rest is put under the lock as
 * it is read, so memory stays flat.
 *
 * Both write in one store transaction, and report what the store kept from
 * the reader (rows for unsubscribed, bounced or complained addresses,
 * tags a reader chose) so the run's summary can say so. dry_run reads and
 * checks everything and writes nothing.
 */
#ifndef TAGDIGEST_IMPORT_H
#define TAGDIGEST_IMPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "tagdigest/core/err.h"
#include "tagdigest/store/store.h"

enum td_import_mode { TD_IMPORT_SYNC, TD_IMPORT_ADD };

struct td_import_summary {
	size_t rows;             /* good rows read */
	size_t bad;              /* bad rows reported */
	size_t added, updated, unchanged;
	size_t kept_out;         /* rows for addresses that left or bounced */
	size_t reader_kept;      /* rows whose tags the reader had changed */
	size_t removed;          /* SYNC: rows gone from the file */
	bool skipped;            /* SYNC: the file is unchanged since the last sync */
};

/* Returns 0, the file's errors (subscribers.h: EX_NOINPUT, EX_DATAERR,
 * EX_TEMPFAIL), EX_DATAERR for an ADD with bad rows, or the store's
 * error; on an error nothing is stored. Runs its own transactions: call
 * it outside one. */
int td_import_file(struct td_store *st, const char *path, enum td_import_mode mode,
		   bool dry_run, time_t now, struct td_import_summary *sum,
		   struct td_err *err);

#endif
