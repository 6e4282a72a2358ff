/*
 * store: everything tagdigest remembers, in one database: an SQLite file
 * (the default), or PostgreSQL when td_store_open is given a
 * postgresql:// URL instead of a path. Nothing outside the store knows
 * which: SQL lives in src/store/ only, written once against db.h, with
 * each backend's text where the dialects differ.
 *
 * SQLite runs in WAL mode (ingest and a preview may overlap) and carries
 * its schema version in PRAGMA user_version; PostgreSQL has its own
 * schema history (store.c: pg_migrations) and its version in td_schema.
 * Both migrate forward on a read-write open.
 *
 * Posts get a monotonically increasing `seq` the first time they are
 * stored (AUTOINCREMENT: never reused). Each of a post's tags has an
 * arrival number from the same counter: the post's seq for the tags it
 * came with, the next number for a tag that a later source or an edit
 * adds (a tag that stays keeps its number; one that goes and comes back
 * arrives again). td_store_max_seq() is the counter, so a watermark taken
 * from it covers posts and tags alike. "New since the last digest" means
 * a followed tag that arrived above the subscriber's watermark, never a
 * date, because sources arrive late and backdate (digest.h has the whole
 * rule). Re-storing an unchanged post is a no-op; an edited post is
 * updated in place and keeps its seq and its tags' numbers, so it is not
 * announced again.
 *
 * A post is one article whatever number of sources carry it (WordPress
 * publishes one feed per tag). Each source's item (source, guid) is
 * remembered with its own content hash and tags; an item not seen before
 * joins the post that another source's item already is when the two share
 * a global guid or a normalised permalink (post.h: a guid counts only on
 * the site its item links to, so two items it joins link to one site),
 * unless that post already has an item of this source or both guids are
 * global and differ. The first source fixes the seq; another source
 * bringing the post later, in the same run or years after, does not move
 * it and makes the post new only for the tags it adds. An edit from any
 * source updates the post in place. The post's tags are the union of its
 * items' tags, so a source that drops a category takes back only its
 * own.
 *
 * A delivery is recorded, and the subscriber's watermark moved, in the
 * same transaction, and only after the transport accepted the message:
 * the delivery engine's recorder writes a batch of outcomes in one
 * transaction (td_store_put_delivery between td_store_begin and
 * td_store_commit); td_store_record_delivery is the one-message form.
 *
 * Subscribers are keyed by their lowercased address.
 *
 * Ownership: the store owns its connection; struct td_store_post arrays
 * returned by queries are freed with td_store_posts_free().
 */
#ifndef TAGDIGEST_STORE_H
#define TAGDIGEST_STORE_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "tagdigest/core/err.h"
#include "tagdigest/sources/post.h"
#include "tagdigest/core/util.h"

struct td_store;

enum td_store_mode { TD_STORE_READWRITE, TD_STORE_READONLY };

/* The page cache of each connection, in KiB (as is the temporary
 * tables'): whatever the store's size, a connection holds at most about
 * this much of it in memory (no memory-mapped reads either), so a run's
 * peak does not grow with the readers (store.c: td_store_open). In WAL
 * mode a connection's cache is dropped whenever another one has written
 * since its last transaction, so during a send a bigger cache would not
 * be kept anyway; the upper levels of the indexes a transaction walks fit. */
#define TD_STORE_CACHE_KIB 1024

/* Opens (creating the file and its folder in READWRITE mode) and migrates.
 * READONLY never writes: a store that does not exist yet, or needs a
 * migration, is an error naming the command that creates it. */
int td_store_open(const char *path, enum td_store_mode mode,
		  struct td_store **out, struct td_err *err);
void td_store_close(struct td_store *st);
int td_store_schema_version(struct td_store *st);
/* How long a statement waits for another connection's write lock before
 * it fails with "database is locked" (5 s after td_store_open). A reader's
 * unsubscribe must outwait an editor's `subscribers import`, which writes
 * a whole file in one transaction. */
void td_store_set_busy_wait(struct td_store *st, int ms);

int td_store_begin(struct td_store *st, struct td_err *err);
/* A read transaction: one consistent snapshot for many queries, and far
 * fewer lock calls than one implicit transaction per statement. End it
 * with td_store_commit(). Inside a transaction already open on st it
 * opens nothing and its commit or rollback ends nothing (they pair up):
 * a caller can hold one snapshot around everything a reader's digest
 * reads (its state, its stored retry, the composer's own snapshot), so
 * the connection takes the WAL read lock, and rereads the pages another
 * connection's commit made stale, once per reader instead of once per
 * statement. */
int td_store_begin_read(struct td_store *st, struct td_err *err);
int td_store_commit(struct td_store *st, struct td_err *err);
void td_store_rollback(struct td_store *st);

/* MERGED: the item is new but its post is not (another source had it). */
enum td_upsert { TD_UPSERT_NEW, TD_UPSERT_UPDATED, TD_UPSERT_UNCHANGED,
		 TD_UPSERT_MERGED };

int td_store_upsert_post(struct td_store *st, const char *source,
			 const struct td_post *post, time_t now,
			 enum td_upsert *result, struct td_err *err);
/* Whether source's item guid is stored with this content hash, that is
 * td_store_upsert_post() would find it UNCHANGED: a reader that can tell
 * the hash before doing the work of a post asks this first. */
int td_store_item_unchanged(struct td_store *st, const char *source,
			    const char *guid, const char *content_hash,
			    bool *unchanged, struct td_err *err);
/* The highest seq or tag arrival number handed out: what a digest built
 * now covers (its upto_seq). */
int64_t td_store_max_seq(struct td_store *st);
size_t td_store_post_count(struct td_store *st);

/* A post as the digest sees it. */
struct td_store_post {
	int64_t seq;
	char *url, *title, *author;
	time_t published;
	char *excerpt_html, *excerpt_text;
	struct td_strv tags;       /* slugs, by display name */
	struct td_strv tag_names;
	int64_t *tag_arrived;      /* parallel to tags: each tag's arrival number */
};

/* Posts whose tag `tag` arrived with after_seq < number <= upto_seq, and
 * that arrived at or after ingested_since (0: any time), newest published
 * first. */
int td_store_posts_for_tag(struct td_store *st, const char *tag,
			   int64_t after_seq, int64_t upto_seq,
			   time_t ingested_since, struct td_store_post **out,
			   size_t *n, struct td_err *err);
void td_store_posts_free(struct td_store_post *posts, size_t n);
/* Frees one post's strings (not the array it sits in). */
void td_store_post_clear(struct td_store_post *p);
/* Display name of a tag slug (malloc'd); the slug itself when unknown. */
char *td_store_tag_name(struct td_store *st, const char *slug);

struct td_subscriber_state {
	bool known;              /* has had a digest (sent or skipped) before,
				  * or started clean (start.h) */
	int64_t watermark;       /* highest seq covered so far */
	time_t last_slot;        /* slot of the last digest, 0 if none */
	time_t last_sent_at;     /* 0 if never sent */
	time_t started_at;       /* when they started clean (start.h), 0 if
				  * they did not */
	bool started_last;       /* that start is their last record: no
				  * digest since (last_slot is the start's) */
};

int td_store_subscriber_state(struct td_store *st, const char *email,
			      struct td_subscriber_state *state,
			      struct td_err *err);
/* What a send reads of each reader before their digest, in one
 * statement (one round trip on PostgreSQL): their state, the store's
 * counter (td_store_max_seq: the digest's upto_seq), the scopes of their
 * suppressions, and whether any pending row of theirs exists (without
 * one, td_store_pending_retry and td_store_pending_get find nothing).
 * Free with td_reader_view_free. */
struct td_reader_view {
	struct td_subscriber_state state;
	int64_t max_seq;
	struct td_strv left;     /* suppressed scopes: "all" or tag slugs */
	bool pending;
};
int td_store_reader_view(struct td_store *st, const char *email,
			  struct td_reader_view *v, struct td_err *err);
/* Whether the reader left everything ("all" among the scopes). */
bool td_reader_view_suppressed(const struct td_reader_view *v);
void td_reader_view_free(struct td_reader_view *v);
/* Whether a digest was sent or skipped for this slot already. */
int td_store_slot_done(struct td_store *st, const char *email, time_t slot,
		       bool *done, struct td_err *err);

struct td_delivery {
	const char *email;
	time_t slot;
	bool skipped;            /* empty digest: nothing was sent */
	const char *message_id;  /* NULL when skipped */
	const char *reply;       /* transport's reply, NULL when skipped */
	int64_t from_seq;        /* watermark before */
	int64_t upto_seq;        /* watermark after */
	size_t post_count;
	time_t at;
};

/* One transaction: the delivery row and the new watermark. A second
 * record for the same (email, slot) is refused (EX_SOFTWARE): that would
 * be a double send. */
int td_store_record_delivery(struct td_store *st, const struct td_delivery *d,
			     struct td_err *err);
/* Logs a failed attempt (nothing is marked delivered). */
int td_store_record_attempt(struct td_store *st, const char *email,
			    time_t slot, const char *outcome,
			    const char *detail, time_t at, struct td_err *err);
/* How many deliveries rows exist with this status ("sent"/"skipped"). */
size_t td_store_delivery_count(struct td_store *st, const char *status);

/* One subscriber's last `limit` digests (sent, or skipped as empty),
 * newest slot first, for `subscribers show`. Free with
 * td_store_delivery_records_free. */
struct td_delivery_record {
	time_t slot, at;
	bool skipped;
	char *message_id;        /* "" when skipped */
	size_t post_count;
};
int td_store_recent_deliveries(struct td_store *st, const char *email, size_t limit,
			       struct td_delivery_record **out, size_t *n,
			       struct td_err *err);
void td_store_delivery_records_free(struct td_delivery_record *v, size_t n);

/* Source health: a success resets the failure count; a failure keeps the
 * reason and its time for `status` and the desk, which say it is over
 * (ok_since) once the source succeeds again. */
struct td_source_state {
	time_t last_success;
	time_t last_error_at;    /* when last_error happened (0: never) */
	char *last_error;        /* malloc'd, "" if none */
	int failures;            /* consecutive */
	time_t ok_since;         /* the first success after the last failure;
				  * 0 while failing, or when no failure was
				  * recorded since this was kept (schema 9) */
};

int td_store_source_result(struct td_store *st, const char *name, bool ok,
			   const char *error, time_t now, struct td_err *err);
int td_store_source_state(struct td_store *st, const char *name,
			  struct td_source_state *state, struct td_err *err);

/* Suppressions: unsubscribes and bounces, which override the subscriber
 * file without rewriting it. scope is "all" or one tag slug. Recording one
 * that exists changes nothing (repeated unsubscribes are harmless). An
 * "all" suppression sets the roster's status (roster.h: bounced,
 * complained, else unsubscribed, by the reason first recorded); lifting
 * it (scope "all" or NULL) makes the subscriber active again. */
struct td_suppression {
	char *email, *scope, *reason, *detail;
	time_t created_at;
};

int td_store_suppress(struct td_store *st, const char *email, const char *scope,
		      const char *reason, const char *detail, time_t now,
		      struct td_err *err);
/* Lifts one scope, or every suppression of email when scope is NULL;
 * lifting "all" also clears the address's bounce score (bounces.h). */
int td_store_unsuppress(struct td_store *st, const char *email, const char *scope,
			size_t *removed, struct td_err *err);
/* Those of one subscriber (email) or all (NULL); free with
 * td_store_suppressions_free. */
int td_store_suppressions(struct td_store *st, const char *email,
			  struct td_suppression **out, size_t *n,
			  struct td_err *err);
void td_store_suppressions_free(struct td_suppression *v, size_t n);

/* HTTP validators of a feed source's last successful fetch, from url:
 * validators stored for another URL (the source's `url` changed) are not
 * returned, so the new address is fetched in full. The strings are
 * malloc'd ("" when none). Set only after the fetched body was parsed and
 * stored, so a failed ingest refetches in full next time. */
int td_store_source_validators(struct td_store *st, const char *name,
			       const char *url, char **etag, char **last_modified,
			       struct td_err *err);
int td_store_set_source_validators(struct td_store *st, const char *name,
				   const char *url, const char *etag,
				   const char *last_modified, struct td_err *err);

/* ---- the delivery engine (schema 3) ----
 *
 * The path the store was opened with, so another thread can open its own
 * connection to the same database (WAL: one writer, many readers). */
const char *td_store_path(const struct td_store *st);

/* Whether where (a configured store) is a PostgreSQL URL rather than an
 * SQLite file: a file's changes can be seen from its size and time, a
 * server's only by asking it (td_store_write_mark). */
bool td_store_is_url(const char *where);
/* On PostgreSQL, a number that moves whenever anyone writes to the
 * database server (its next transaction id); 0 on SQLite, or when the
 * server cannot say. For caches that must notice other processes'
 * writes. */
uint64_t td_store_write_mark(struct td_store *st);

/* td_store_record_delivery without its own transaction, for a caller that
 * records many outcomes in one (group commit). A sent digest also deletes
 * its pending row and resets the subscriber's bounce count. */
int td_store_put_delivery(struct td_store *st, const struct td_delivery *d,
			  struct td_err *err);

/* A digest not done for its slot (see migration 3 in store.c):
 *   "retry"    failed temporarily; message holds the exact bytes to resend
 *              (same Message-ID, same posts) at or after next_attempt_at
 *   "expired"  given up (too many attempts or too old): no more tries
 *              this slot; the posts stay above the watermark
 *   "bounced"  refused permanently (5xx at RCPT/DATA) for this slot
 * Keyed by (lowercased email, slot). */
struct td_pending {
	char *email;
	time_t slot;
	char *state;
	char *message_id;        /* without <> */
	char *message;           /* NUL-terminated; "" unless state is retry */
	size_t message_len;
	int64_t from_seq, upto_seq;
	size_t post_count;
	int attempts;            /* failed attempts so far */
	time_t first_attempt_at;
	time_t next_attempt_at;
	char *last_error;
};

/* *found tells whether a row exists; out is freed with td_store_pending_free
 * either way. */
int td_store_pending_get(struct td_store *st, const char *email, time_t slot,
			 struct td_pending *out, bool *found, struct td_err *err);
/* The newest "retry" row of email, whatever its slot: a reader's slots
 * move when they change their schedule, and a digest kept for an earlier
 * one must still be found (resent, or closed when a later digest
 * supersedes it). Same ownership as td_store_pending_get. */
int td_store_pending_retry(struct td_store *st, const char *email,
			   struct td_pending *out, bool *found, struct td_err *err);
void td_store_pending_free(struct td_pending *p);
/* Inserts, or updates state, message, attempts, next_attempt_at and
 * last_error of the existing row (Message-ID, seqs and first attempt stay). */
int td_store_pending_put(struct td_store *st, const struct td_pending *p,
			 struct td_err *err);
int td_store_pending_delete(struct td_store *st, const char *email, time_t slot,
			    struct td_err *err);
size_t td_store_pending_count(struct td_store *st, const char *state);

/* Consecutive permanent failures of one subscriber: note one (returns the
 * new count), reset after a delivery, read. */
int td_store_bounce_note(struct td_store *st, const char *email, const char *reply,
			 time_t now, int *consecutive, struct td_err *err);
int td_store_bounce_reset(struct td_store *st, const char *email, struct td_err *err);
int td_store_bounce_count(struct td_store *st, const char *email);

#endif
