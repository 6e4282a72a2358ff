/*
 * lock: one writer at a time. `ingest`, `send` and `run` take a
 * non-blocking exclusive flock on "<store>.lock"; a second one gets
 * EX_TEMPFAIL at once ("try later"), touching nothing. The kernel drops
 * the lock when the process dies, so a crash never leaves it stuck.
 *
 * td_lock_open_store() is how every writer that must exclude a send gets
 * at the store: the command line's `ingest`, `send`, `run`, `unsuppress`
 * and `subscribers import` (one transaction for a whole file), and the
 * desk's ingest of changed posts. The lock comes first, so a refused
 * writer never touches the store. One-row writes (`subscribers add` and
 * `remove`, the public pages) take no lock: SQLite orders them with the
 * send's own writes.
 */
#ifndef TAGDIGEST_LOCK_H
#define TAGDIGEST_LOCK_H

#include "tagdigest/core/err.h"
#include "tagdigest/store/store.h"

/* Returns 0 with *fd holding the lock, or EX_TEMPFAIL / EX_CANTCREAT. */
int td_lock_acquire(const char *path, int *fd, struct td_err *err);
void td_lock_release(int fd);

/* Takes the run lock of the store at store_path ("<store_path>.lock"; its
 * folder is made when missing), then opens the store READWRITE. Returns 0
 * with *st and *fd set, EX_TEMPFAIL when another run holds the lock, or
 * the lock's or the store's error, with nothing held. */
int td_lock_open_store(const char *store_path, struct td_store **st, int *fd,
		       struct td_err *err);
/* Closes the store, then releases the lock; either may be NULL / -1. */
void td_lock_close_store(struct td_store *st, int fd);

#endif
