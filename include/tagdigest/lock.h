/*
 * lock: one writer at a time. `ingest`, `send` and `run` take a
 * non-blocking exclusive flock on "<store>.lock"; a second one gets
 * EX_TEMPFAIL at once ("try later"), touching nothing. The kernel drops
 * the lock when the process dies, so a crash never leaves it stuck.
 */
#ifndef TAGDIGEST_LOCK_H
#define TAGDIGEST_LOCK_H

#include "tagdigest/err.h"

/* Returns 0 with *fd holding the lock, or EX_TEMPFAIL / EX_CANTCREAT. */
int td_lock_acquire(const char *path, int *fd, struct td_err *err);
void td_lock_release(int fd);

#endif
