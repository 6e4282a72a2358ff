/*
 * roster: the subscriber list, owned by the store (SQL in src/store/
 * roster.c, beside store.c; a PostgreSQL backend will implement the same
 * calls).
 *
 * A subscriber is keyed by their lowercased address and has a status:
 *
 *   pending       signed up on the form, not confirmed yet: gets nothing
 *                 but the confirmation mail; purged after the confirmation
 *                 link expired
 *   active        gets digests
 *   unsubscribed  left everything (a link, the preference centre, a CLI
 *                 `remove`); only the reader can come back (resubscribe in
 *                 the preference centre, or sign up and confirm again)
 *   bounced       the address is refused by its server (deliver.h)
 *   complained    the reader marked a digest as spam
 *
 * The last three are the reader's (or their mailbox's) word, and the
 * store's word wins over the editors' file: a CSV row or `subscribers add`
 * for such an address changes nothing and is reported
 * (TD_ROSTER_KEPT_OUT). They are kept in step with the suppressions table
 * (store.h): an "all" suppression sets the status, lifting it
 * (td_store_unsuppress) makes the subscriber active again. Per-tag
 * unsubscribes stay suppressions of one tag.
 *
 * Tags and schedule (struct td_prefs, below) are set by whoever added
 * the subscriber until the reader changes them in the preference centre
 * (reader_choice); from then on the editors' file no longer sets them
 * (TD_ROSTER_READER_KEPT), though it may still change the name.
 *
 * Every subscriber has a consent record: when, how ("form", "csv",
 * "import", "cli") and from where (the client address for the form,
 * "FILE:LINE" for a file, the user for the CLI).
 *
 * Ownership: struct td_member owns its strings; td_member_free() releases
 * them. Results that are arrays are freed with td_members_free().
 */
#ifndef TAGDIGEST_ROSTER_H
#define TAGDIGEST_ROSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "tagdigest/core/err.h"
#include "tagdigest/core/util.h"
#include "tagdigest/store/store.h"

/* How often a reader gets a digest (schedule.h turns it into slots). */
enum td_frequency { TD_FREQ_WEEKLY = 0, TD_FREQ_DAILY, TD_FREQ_MONTHLY };

/* "weekly", "daily", "monthly"; parse returns 0, or -1 for anything else. */
const char *td_frequency_name(enum td_frequency f);
int td_frequency_parse(const char *s, enum td_frequency *out);

/* What one reader chose; all zero is "the site's schedule". */
struct td_prefs {
	enum td_frequency frequency;  /* weekly unless chosen */
	bool own_time;                /* false: the site's [schedule] day and time */
	int wday, hour, minute;       /* when own_time */
	char *timezone;               /* malloc'd IANA name; NULL: the site's zone */
	time_t paused_until;          /* no digest before this; 0: not paused */
};
void td_prefs_clear(struct td_prefs *p);     /* frees timezone, zeroes p */
void td_prefs_copy(struct td_prefs *dst, const struct td_prefs *src);


enum td_member_status {
	TD_MEMBER_PENDING, TD_MEMBER_ACTIVE, TD_MEMBER_UNSUBSCRIBED,
	TD_MEMBER_BOUNCED, TD_MEMBER_COMPLAINED,
};
/* "pending", "active", ...; parse returns 0, or -1 for anything else. */
const char *td_member_status_name(enum td_member_status s);
int td_member_status_parse(const char *s, enum td_member_status *out);

struct td_member {
	int64_t id;                  /* walk order: the order they were added */
	char *email;                 /* as first written */
	char *name;                  /* may be "" */
	struct td_strv tags;         /* followed slugs, in the order chosen */
	struct td_prefs prefs;
	enum td_member_status status;
	char *origin;                /* who added them: "csv", "form", "cli", "import" */
	bool reader_choice;          /* the reader set tags/schedule themselves */
	time_t created_at, confirmed_at, changed_at;   /* 0: never */
	time_t consent_at;
	char *consent_how;           /* "form", "csv", "import", "cli" */
	char *consent_from;          /* client address, "FILE:LINE", user */
	/* the pending sign-up's confirmation (empty when none) */
	char *confirm_nonce;         /* what the confirm token must carry */
	time_t confirm_sent_at;      /* last confirmation mail */
	int confirm_mails;           /* confirmation mails in the 24-hour window
				      * that the first of them opened */
};

void td_member_free(struct td_member *m);
void td_members_free(struct td_member *v, size_t n);

/* *found tells whether email is known; out is freed either way. */
int td_roster_get(struct td_store *st, const char *email, struct td_member *out,
		  bool *found, struct td_err *err);

/* The same by td_member.id (a VERP token names the reader by id,
 * verp.h). */
int td_roster_get_by_id(struct td_store *st, int64_t id, struct td_member *out,
			bool *found, struct td_err *err);

/* ---- the editors' side: the file, the CLI, imports ---- */

enum td_roster_result {
	TD_ROSTER_ADDED,         /* new, active */
	TD_ROSTER_UPDATED,       /* name or tags changed */
	TD_ROSTER_UNCHANGED,
	TD_ROSTER_READER_KEPT,   /* the reader chose their tags: only the name
				  * may have changed */
	TD_ROSTER_KEPT_OUT,      /* unsubscribed, bounced or complained:
				  * nothing changed */
};

/* What an editor says about one subscriber. */
struct td_roster_row {
	const char *email;
	const char *name;                /* NULL: keep ("" for a new one) */
	const struct td_strv *tags;      /* NULL: keep (required for a new one) */
	const char *origin;              /* "csv", "cli", "import" */
	const char *consent_from;        /* "FILE:LINE", the user, ... */
};

/* Adds or updates one subscriber by the rules above. A pending
 * subscriber an editor adds becomes active (the editor vouches for the
 * consent, and the origin and consent record become the editor's);
 * otherwise origin stays who added them first. An address with an "all"
 * suppression and no row yet (suppressed before the roster existed) is
 * stored with the status the suppression says and is KEPT_OUT. An
 * unchanged row writes nothing. EX_DATAERR (nothing changed) for an
 * invalid address or name (address.h) or a tag that is not a slug. Call
 * inside td_store_begin/commit for many rows. */
int td_roster_put(struct td_store *st, const struct td_roster_row *row, time_t now,
		  enum td_roster_result *result, struct td_err *err);
/* What td_roster_put would do, writing nothing: the same checks and
 * result, and *writes, whether it would write. A sync compares a whole
 * file this way without holding the store's write lock, and puts only
 * the rows that change something. */
int td_roster_put_check(struct td_store *st, const struct td_roster_row *row,
			enum td_roster_result *result, bool *writes, struct td_err *err);

/* `subscribers remove`: the editor's unsubscribe. The subscriber becomes
 * unsubscribed (kept, with the record of who did it); *found false when
 * unknown. */
int td_roster_remove(struct td_store *st, const char *email, const char *by,
		     time_t now, bool *found, struct td_err *err);

/* The file sync (import.h) marks every subscriber a run's file names
 * (the marks live on this connection, not in the store: marking an
 * unchanged row writes nothing);
 * then this removes (deletes from the roster, keeping deliveries,
 * watermarks and suppressions) the subscribers of origin "csv" that are
 * active or pending and were not marked, that is, rows an editor deleted
 * from the file. *removed counts them. */
int td_roster_file_mark_begin(struct td_store *st, struct td_err *err);
int td_roster_file_mark(struct td_store *st, const char *email, struct td_err *err);
int td_roster_file_sweep(struct td_store *st, time_t now, size_t *removed,
			 struct td_err *err);

/* The addresses of a file as it is read, for its duplicate detection
 * (subscribers.h, td_subscribers_seen_in_store): a temporary table on
 * st's connection, so memory stays within the connection's page cache
 * (store.h) and the rest spills to a temporary file, however long the
 * file. _begin empties it; _add remembers the lowercased address with
 * its line and sets *first to 0, or, for an address met before, sets
 * *first to that line and remembers nothing; _end drops the table. */
int td_roster_seen_begin(struct td_store *st, struct td_err *err);
int td_roster_seen_add(struct td_store *st, const char *email, unsigned line,
		       unsigned *first, struct td_err *err);
void td_roster_seen_end(struct td_store *st);

/* What the file was the last time it was synced (a digest of its bytes),
 * so an unchanged file of a million rows is not written again each run. */
int td_roster_file_fingerprint(struct td_store *st, const char *path, char **digest,
			       struct td_err *err);
int td_roster_set_file_fingerprint(struct td_store *st, const char *path,
				   const char *digest, struct td_err *err);

/* ---- listing ---- */

struct td_roster_filter {
	const char *tag;                 /* NULL: any */
	bool any_status;                 /* false: only `status` */
	enum td_member_status status;
	int64_t after_id;                /* keyset paging: id > after_id */
	size_t limit;                    /* 0: no limit */
};

int td_roster_list(struct td_store *st, const struct td_roster_filter *f,
		   struct td_member **out, size_t *n, struct td_err *err);
/* How many have each status (indexed by enum td_member_status). */
int td_roster_counts(struct td_store *st, size_t counts[5], struct td_err *err);

/* The desk's reader search: members of any status whose address or name
 * contains `query` (case-insensitive: ASCII, and the Latin, Greek and
 * Cyrillic letters of names; %, _ and \ are plain characters; "" finds
 * everyone), ordered by lowercased address; the page of at most `limit`
 * rows from `offset` in *out (free with td_members_free), and in *total
 * how many match in all. A substring cannot be looked up in an index:
 * the query reads an index of the two columns (migration 10), about a
 * millisecond per thousand members, not the whole table. */
int td_roster_search(struct td_store *st, const char *query, size_t offset, size_t limit,
		     struct td_member **out, size_t *n, size_t *total, struct td_err *err);

/* The send run's walk: active subscribers confirmed (or added) at or
 * before `cutoff` (a reader who joins during a run gets their welcome from
 * the server, not from the run), not paused at `now`, in id order. Reads
 * keyset pages of TD_ROSTER_PAGE rows, so no statement stays open between
 * calls and memory does not grow with the roster. */
#define TD_ROSTER_PAGE 512
struct td_roster_cursor;
int td_roster_cursor_open(struct td_store *st, time_t cutoff, time_t now,
			  struct td_roster_cursor **out, struct td_err *err);
/* The same walk bounded to the member ids first_id..last_id (both
 * included): one batch of several senders' (store/claims.h). */
int td_roster_cursor_open_range(struct td_store *st, time_t cutoff, time_t now,
				int64_t first_id, int64_t last_id,
				struct td_roster_cursor **out, struct td_err *err);
/* 1 with *out set (owned by the cursor, valid until the next call), 0 at
 * the end, or the store's error. td_member_subscriber (subscribers.h)
 * gives the view the composer takes. */
int td_roster_cursor_next(struct td_roster_cursor *c, const struct td_member **out,
			  struct td_err *err);
/* Rows the walk will yield (counted when opened), for progress. */
size_t td_roster_cursor_total(const struct td_roster_cursor *c);
void td_roster_cursor_close(struct td_roster_cursor *c);

/* Whether email may get a digest right now: active and not paused (an
 * address the roster does not know may not). One indexed read, on the
 * caller's connection (a sender thread's own). Asked again just before a
 * message goes to the transport, so a reader who unsubscribes while a run
 * is sending gets nothing after the click. */
int td_roster_may_send(struct td_store *st, const char *email, time_t now, bool *ok,
		       struct td_err *err);

/* ---- the reader's side: sign-up, confirmation, preferences ---- */

/* A sign-up from the form. New or pending: stored as pending with these
 * tags and frequency, a fresh confirm nonce (returned malloc'd in *nonce;
 * it voids the nonce of any earlier mail) and *send_mail true unless the
 * address had max_mails_per_day confirmation mails in its current window
 * (then *send_mail false, *nonce NULL, nothing else changes). The window
 * is fixed: it opens with a mail and lasts 24 hours, so an address gets
 * at most max_mails_per_day per window and never more than twice that in
 * any 24 hours; a max below 1 counts as 1. Active: nothing changes,
 * *send_mail false (the form's answer is the same either way: no
 * enumeration). Unsubscribed (also an address with an "all" unsubscribe
 * and no row yet): like new (a sign-up is the reader's own word), but the
 * status, tags and frequency stay until the confirmation. Bounced or
 * complained: nothing, *send_mail false. At least one tag; EX_DATAERR
 * for a bad address, name or tag. */
struct td_signup {
	const char *email, *name;
	const struct td_strv *tags;
	enum td_frequency frequency;
	const char *client;              /* the client address, for consent */
	const char *form;                /* "subscribe page", "embedded form" */
};
int td_roster_signup(struct td_store *st, const struct td_signup *s, time_t now,
		     int max_mails_per_day, bool *send_mail, char **nonce,
		     struct td_err *err);

/* The confirmation link was POSTed: a pending (or unsubscribed, signed up
 * again) subscriber whose nonce matches becomes active with the sign-up's
 * name, tags and frequency, origin "form", reader_choice, confirmed_at and
 * the consent record set (consent_from: the confirming client, and the
 * client and form of the sign-up). Their "all" suppression and the
 * per-tag ones of the tags chosen are lifted. A returning reader
 * (unsubscribed before) is not sent everything since they left: their
 * watermark (store.h's subscriber_state), if they have one, moves up to
 * td_store_max_seq(). *result: 1 confirmed now, 0 already active (a
 * second click is harmless), -1 nothing to confirm (nonce replaced by a
 * later sign-up, purged, unsubscribed since, bounced, complained). */
int td_roster_confirm(struct td_store *st, const char *email, const char *nonce,
		      const char *client, time_t now, int *result, struct td_err *err);

/* The preference centre: tags (replacing them; lifts the per-tag
 * unsubscribes of the tags chosen again; NULL keeps them) and prefs; sets
 * reader_choice. The status does not change. EX_DATAERR (nothing
 * changed) for prefs out of range (frequency, wday 0..6, hour 0..23,
 * minute 0..59, paused_until >= 0), a tag that is not a slug, or a
 * timezone that cannot be a zone name (empty, over 64 bytes, a space or
 * a control character: the caller checks that the zone exists, the store
 * loads no zones); EX_NOINPUT for an unknown address. */
int td_roster_set_prefs(struct td_store *st, const char *email,
			const struct td_strv *tags, const struct td_prefs *prefs,
			time_t now, struct td_err *err);
/* Unsubscribe from everything (status unsubscribed + "all" suppression;
 * recorded for an address the roster does not know too, so the word is
 * never lost), and back (active again, the suppression lifted, the
 * watermark moved up as for a confirmation above); a bounced, complained
 * or pending address cannot resubscribe here (EX_NOPERM), an unknown one
 * gets EX_NOINPUT, an active one changes nothing. The reader's calls
 * (sign-up to resubscribe) take the write lock before they read
 * (BEGIN IMMEDIATE, or a write as the first statement: they wait for a
 * send's recorder instead of failing when it commits in between); inside
 * a caller's transaction they use a savepoint. */
int td_roster_unsubscribe(struct td_store *st, const char *email, const char *how,
			  time_t now, struct td_err *err);
int td_roster_resubscribe(struct td_store *st, const char *email, time_t now,
			  struct td_err *err);

/* Deletes pending subscribers whose last confirmation mail is older than
 * `before` (never confirmed, link expired). */
int td_roster_purge_pending(struct td_store *st, time_t before, size_t *purged,
			    struct td_err *err);

/* The tags the site has (slug, display name), most posts first, for the
 * sign-up form. */
int td_roster_site_tags(struct td_store *st, struct td_strv *slugs,
			struct td_strv *names, struct td_err *err);

#endif
