/*
 * bounces (store): what came back by mail, and what it did.
 *
 * Migration 8 adds
 *   bounce_events  one row per recipient of each bounce, complaint or note
 *                  (email, when, kind, status, reply code, reason,
 *                  feedback type, the digest's slot from the VERP token,
 *                  the mail's key, what was done)
 *   bounce_mail    one row per mail processed (its key: SHA-256 of the
 *                  bytes, hex), so a mail seen again after a crash or a
 *                  lost connection is removed without counting twice
 *   bounce_scores  the soft-bounce score (as of its last soft bounce) and
 *                  the hard count of each address
 *
 * The policy (config [bounces]):
 *   hard      hard_after hard bounces (default 1) suppress the address
 *             ("all", reason "bounced": roster status bounced)
 *   soft      add 1 to a score; at or over soft_threshold (default 5)
 *             the address is suppressed (reason "bounced"). One soft
 *             bounce per digest counts (a delay warning and the final
 *             failure of the same digest are one), keyed by the token's
 *             slot, or by the day when the mail carried none. The score
 *             decays by digests, not by time, so the policy means the
 *             same for a daily and a weekly reader: when the last soft
 *             bounce counted carried a slot, the score halves once for
 *             every digest sent to the address (deliveries, 'sent') with
 *             a slot after it (and, for a new soft bounce, before the
 *             new one's slot). Failed digests in a row add up undecayed;
 *             each good digest between two halves the sum. Five failed
 *             digests in a row suppress; a reader whose digests fail
 *             every other week stays under 2. The default stays 5 (as
 *             Mailman's bounce score): a full mailbox over a two- or
 *             three-week holiday does not lose the reader, five weeks of
 *             failure does. When the last counted soft bounce had no
 *             slot (no VERP token), the score halves every
 *             soft_half_life_days (default 7) of time instead.
 *             A hard bounce leaves the soft score as it is
 *   complaint the address is unsubscribed from everything at once
 *             ("all", reason "complained": roster status complained).
 *             The caller (process.c) makes complaints only of feedback
 *             types abuse, fraud, opt-out (or none given); an opt-out
 *             only when a VERP token named the reader
 *   note      vacation, delivered: recorded, nothing changes
 * td_store_unsuppress (store.h) also clears the address's score.
 *
 * Ownership: events read back are malloc'd; td_bounce_events_free.
 */
#ifndef TAGDIGEST_STORE_BOUNCES_H
#define TAGDIGEST_STORE_BOUNCES_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "tagdigest/core/err.h"
#include "tagdigest/store/store.h"

enum td_bounce_kind {
	TD_BOUNCE_HARD, TD_BOUNCE_SOFT, TD_BOUNCE_COMPLAINT, TD_BOUNCE_NOTE,
};
const char *td_bounce_kind_name(enum td_bounce_kind k); /* "hard", ... */

/* What recording an event did to its address. */
enum td_bounce_action {
	TD_BOUNCE_RECORDED,      /* a note, or a score still under the line */
	TD_BOUNCE_SUPPRESSED,    /* now suppressed (bounced) */
	TD_BOUNCE_UNSUBSCRIBED,  /* a complaint: now complained */
	TD_BOUNCE_ALREADY,       /* already kept out; recorded only */
	TD_BOUNCE_COUNTED_BEFORE,/* a soft bounce for a digest already counted */
};
const char *td_bounce_action_name(enum td_bounce_action a);

struct td_bounce_event {
	char *email;
	time_t at;
	enum td_bounce_kind kind;
	char *status, *reply_code, *reason, *feedback_type; /* "" when none */
	time_t slot;                   /* the digest, 0 unknown */
	char *message_key;
	enum td_bounce_action action;
	char *detail;                  /* diagnostic, one line */
};

struct td_bounce_policy {
	int hard_after;                /* >= 1 */
	double soft_threshold;         /* > 0 */
	int soft_half_life_days;       /* >= 1 */
};

/* Whether the mail with this key was recorded already. */
int td_store_bounce_mail_seen(struct td_store *st, const char *message_key,
			      bool *seen, struct td_err *err);
/* The outcome word the mail with this key was recorded with ("bounce",
 * "unknown", ...) into outcome, "" when it was not. */
int td_store_bounce_mail_outcome(struct td_store *st, const char *message_key,
				 char *outcome, size_t len, struct td_err *err);

/* In one transaction: records the n events of one mail (n may be 0: a
 * bounce for nobody we know, still remembered as processed), applies the
 * policy to each, sets each event's action, and marks the mail's key
 * processed with a one-word outcome ("bounce", "complaint", "note",
 * "unknown"). A key recorded already records nothing again (each
 * event's action is then TD_BOUNCE_ALREADY): a mail counts once. An
 * event's `at` of 0 becomes now. */
int td_store_bounce_record(struct td_store *st, const char *message_key,
			   const char *outcome, struct td_bounce_event *ev,
			   size_t n, const struct td_bounce_policy *pol,
			   time_t now, struct td_err *err);

/* The newest events, of one address or all (email NULL), at most limit. */
int td_store_bounce_events(struct td_store *st, const char *email, size_t limit,
			   struct td_bounce_event **out, size_t *n,
			   struct td_err *err);
void td_bounce_events_free(struct td_bounce_event *v, size_t n);

/* The soft score of email now (decayed by the digests sent since its
 * last soft bounce, or by time; see the policy), and its hard bounces. */
int td_store_bounce_score(struct td_store *st, const char *email,
			  const struct td_bounce_policy *pol, time_t now,
			  double *score, int *hard, struct td_err *err);

/* Counts for `status`: events since `since` by kind (indexed by enum
 * td_bounce_kind). */
int td_store_bounce_totals(struct td_store *st, time_t since, size_t totals[4],
			   struct td_err *err);

#endif
