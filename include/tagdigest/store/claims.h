/*
 * claims: several senders share one roster by claiming batches of
 * readers (SQL in src/store/claims.c). `send` and `run` use it on
 * PostgreSQL, where any number of them may run at once, on one machine
 * or many; on SQLite the run lock (lock.h) lets one sender in at a time
 * and it walks the whole roster, but the calls work there too.
 *
 * The readers are split by member id into batches of a fixed width
 * ([send] batch): rows of the table send_batches (first_id, last_id,
 * worker, lease_until, done_at), made when a run begins for the ids the
 * roster holds (ON CONFLICT DO NOTHING: several senders may begin at
 * once). A sender claims the next batch that no live sender holds and
 * that was not done since its run began, with one UPDATE over a
 * `FOR UPDATE SKIP LOCKED` pick (two senders never get, nor wait for,
 * the same row), taking a lease ([send] lease seconds). Lease times are
 * the database's clock in milliseconds, never a machine's: the senders'
 * clocks may differ. It walks the batch's readers (roster.h's range
 * cursor), then claims the next, until none is left.
 *
 * A thread of the claims, with its own connection, renews every lease
 * the sender holds each lease/3. A renewal that finds one of its batches
 * gone to another sender (its lease ran out: the process was stopped or
 * cut off that long) marks it lost: td_claims_lost tells the walk to
 * take no more readers from it, and the sender says so.
 *
 * A batch is marked done only when the sender's whole run has ended
 * (td_claims_end after td_send_run returned), because readers taken from
 * it are in the engine's pipeline (composed, sending, recording) until
 * then. A sender that dies leaves its batches to expire; whoever claims
 * after that, another sender of the same run or the next run, walks them
 * again. Readers whose digest was recorded are no longer due (the due
 * rule, deliver.h), so only a message accepted and not yet recorded when
 * the sender died goes out twice: at most one per connection of the dead
 * sender (the commit gate, deliver.h). A run that stopped early (a
 * signal, a fatal error) hands its batches back undone, lease ended, for
 * the others to take at once.
 *
 * "Done since the run began": done_at at or after this sender's begin.
 * Every run looks at every reader; a batch another sender finished
 * after this one began counts as done for both.
 *
 * Threads: td_claims_next and td_claims_lost are called one at a time
 * (the engine's source lock); they use the caller's connection st, which
 * nothing else may use meanwhile. td_claims_begin and td_claims_end run
 * on the caller's thread.
 */
#ifndef TAGDIGEST_CLAIMS_H
#define TAGDIGEST_CLAIMS_H

#include <stdbool.h>
#include <stdint.h>

#include "tagdigest/core/err.h"
#include "tagdigest/store/store.h"

struct td_claims;

struct td_claims_options {
	int width;               /* member ids per batch, >= 1 */
	int lease_seconds;       /* >= 1; renewed every third of it */
};

/* Makes the batches the roster's ids need, names this sender
 * ("host:pid:random") and starts the renewing thread (its own store
 * connection to st's store). A batch width that differs from the
 * table's rebuilds the table when no lease is live, else the table's
 * width stays (and info says so). Call it under the roster lock
 * (lock.h): the sync of the subscriber file adds the ids it needs. */
int td_claims_begin(struct td_store *st, const struct td_claims_options *o,
		    struct td_claims **out, struct td_err *err);
/* The next batch: *got with its id range, or *got false when none is
 * left to claim (held by live senders or done since the run began). */
int td_claims_next(struct td_claims *c, int64_t *first_id, int64_t *last_id, bool *got,
		   struct td_err *err);
/* Whether the renewing thread found the batch beginning at first_id
 * taken over by another sender. */
bool td_claims_lost(struct td_claims *c, int64_t first_id);
/* This sender's name, as send_batches.worker holds it. */
const char *td_claims_worker(const struct td_claims *c);
/* Batches claimed so far. */
size_t td_claims_count(const struct td_claims *c);
/* Stops the renewing thread; with done, marks the batches still held
 * done, else hands them back (lease ended, not done); frees c (NULL is
 * nothing). An error writing that is returned, c freed all the same:
 * the leases then run out by themselves. */
int td_claims_end(struct td_claims *c, bool done, struct td_err *err);

#endif
