/*
 * lock: who may write the store at the same time as whom.
 *
 * SQLite (a store file): one writer at a time. `ingest`, `send`, `run`,
 * `bounces`, `unsuppress` and `subscribers import` (one transaction for
 * a whole file) take a non-blocking exclusive flock on "<store>.lock"; a
 * second one gets EX_TEMPFAIL at once ("try later"), touching nothing.
 * The kernel drops the lock when the process dies, so a crash never
 * leaves it stuck. One-row writes (`subscribers add` and `remove`, the
 * public pages) take no lock: SQLite orders them with the send's own
 * writes.
 *
 * PostgreSQL (a postgresql:// URL): there is no file, and several
 * senders, on one machine or many, share the list (store/claims.h), so
 * nothing takes the whole store. Instead, session advisory locks of the
 * database (the server drops them when the connection ends, a killed
 * process included) order the work that must not run twice at once:
 *
 *   TD_LOCK_INGEST  one ingest at a time: a second one skips its ingest
 *                   (td_lock_try; the command says so and goes on);
 *   TD_LOCK_ROSTER  the whole-list writers queue for it: the subscriber
 *                   file's sync at the start of a send, `subscribers
 *                   import`, `unsuppress` and the bounce mailbox's
 *                   reading wait (td_lock_wait, at most TD_LOCK_WAIT_MS),
 *                   so three senders starting together sync the file
 *                   once, and the other two find it unchanged.
 *
 * On SQLite td_lock_try and td_lock_wait get the lock at once and do
 * nothing: the file lock already keeps every other writer out.
 *
 * td_lock_open_store() is how every such writer gets at the store (the
 * command line's, and the desk's ingest of changed posts): the lock comes
 * first, so a refused writer never touches the store.
 */
#ifndef TAGDIGEST_LOCK_H
#define TAGDIGEST_LOCK_H

#include <stdbool.h>

#include "tagdigest/core/err.h"
#include "tagdigest/store/store.h"

/* What a writer excludes, beyond SQLite's file lock (which every kind
 * takes). */
enum td_lock_kind {
	TD_LOCK_SEND,     /* PostgreSQL: nothing (senders share the list) */
	TD_LOCK_INGEST,   /* PostgreSQL: the ingest lock, or EX_TEMPFAIL */
	TD_LOCK_ROSTER,   /* PostgreSQL: the roster lock, waited for */
};

/* How long a whole-list writer waits for the roster lock on PostgreSQL
 * before it gives up with EX_TEMPFAIL: a sync of a large file takes
 * seconds, not minutes. */
#define TD_LOCK_WAIT_MS 120000

/* Returns 0 with *fd holding the lock, or EX_TEMPFAIL / EX_CANTCREAT. */
int td_lock_acquire(const char *path, int *fd, struct td_err *err);
void td_lock_release(int fd);

/* SQLite: takes the run lock of the store at store_path
 * ("<store_path>.lock"; its folder is made when missing), then opens the
 * store READWRITE. PostgreSQL: opens the store, then takes what kind
 * says (*fd stays -1). Returns 0 with *st and *fd set, EX_TEMPFAIL when
 * another run holds the lock, or the lock's or the store's error, with
 * nothing held. */
int td_lock_open_store(const char *store_path, enum td_lock_kind kind,
		       struct td_store **st, int *fd, struct td_err *err);
/* Closes the store (which drops its advisory locks), then releases the
 * file lock; either may be NULL / -1. */
void td_lock_close_store(struct td_store *st, int fd);

/* Whether st is a store several senders share (PostgreSQL): then
 * `send` claims batches (claims.h) instead of walking the whole roster. */
bool td_lock_shared(struct td_store *st);

/* The advisory locks above, on st's connection (PostgreSQL; on SQLite
 * they are had at once). A lock is held until td_lock_drop or until the
 * connection closes. */
enum td_store_lock { TD_STORE_LOCK_INGEST, TD_STORE_LOCK_ROSTER };
/* Without waiting: *got false when another session holds it. */
int td_lock_try(struct td_store *st, enum td_store_lock which, bool *got,
		struct td_err *err);
/* Waits at most wait_ms; EX_TEMPFAIL when it did not come. */
int td_lock_wait(struct td_store *st, enum td_store_lock which, int wait_ms,
		 struct td_err *err);
void td_lock_drop(struct td_store *st, enum td_store_lock which);

#endif
