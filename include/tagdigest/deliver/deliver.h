/*
 * deliver: due digests out through the transport, each recorded once.
 *
 * A composer turns one subscriber into one finished message: digest
 * (digest.h), templates (render.h), MIME (mime.h), with a personal
 * HMAC-signed unsubscribe URL (token.h). `preview` and `send` share it, so
 * a preview is exactly what would go out now.
 *
 * td_send_run() walks the subscribers one at a time, from any source: the
 * store's roster (`send` and `run`: roster.h's cursor), a list, or a
 * streaming reader of a file (subscribers.h), so a run's memory does not
 * grow with the number of subscribers. Each reader has their own slots
 * (their frequency, day, time and zone over the site's [schedule]:
 * td_schedule_for, schedule.h); S, the last of them at the run's now, is
 * due when it is later than the slot of their last digest (sent or
 * skipped) and than their not_before, and no refusal or give-up closed S.
 * A digest kept for a retry stays the reader's digest for its period
 * (resent at its time), unless a later slot S of theirs is due: then that
 * one fresh digest carries its posts and the retry is given up, so a
 * schedule change never brings two digests for one period, nor loses
 * one. Deliveries are recorded under the reader's slot; the summary's
 * slot and next_slot are the site's. Empty digests are recorded as
 * skipped without sending. A message the transport accepted is
 * recorded, with the watermark move, in one transaction right after the
 * accept; a message it did not accept is never recorded as delivered.
 *
 * The engine (deliver.c): composing threads (one per online CPU, at most
 * 8), each with its own composer (compose.h) and its own read-only store
 * connection, take the subscribers from the source one at a time (under
 * a lock; their order of going out is then not the walk's) and feed a
 * bounded queue; transport.connections sender threads each own one
 * transport (one SMTP session, reused); one recorder thread with its own
 * store connection (WAL) writes every outcome, grouping those that arrive
 * together into one transaction. A sender goes on to its next message
 * at once, but the transport's commit gate (transport.h) holds that
 * message just before the end of its data until the sender's earlier
 * ones are recorded, so a crash can repeat at most one message per
 * session. Memory stays flat: at most 2 x connections + composing
 * threads messages are composed ahead. The first message is sent alone,
 * so a broken relay configuration costs one attempt and changes nothing.
 * Relays and throttles (relays.h): the sessions are spread over the
 * configured relays (td_deliver_options.relays; none: one, `transport`);
 * a message whose relay refused the connection or the session as a whole
 * (relay_down, transport.h) goes out at once through another relay that
 * is up, not counted as an attempt, and that relay is paused; only when
 * every relay is down does it fail as with one. A message to a throttled
 * domain waits for its turn aside while the sessions send other mail; one
 * past its domain's hourly budget is not sent, nothing is recorded, and
 * it is counted in `throttled`: the reader stays due for the next run.
 * A dry run takes the same walk and composes the same digests, but
 * opens no transport and writes nothing. With a plan callback
 * (td_send_options.plan), which sees each reader's outcome as it is
 * counted, it runs on the calling thread alone, in walk order; without
 * one (`send --dry-run`) it composes on the same threads as a real run,
 * and its "would send" lines come in the order digests are finished.
 *
 * A real run is recorded in the store's run history (store/runs.h): a
 * row when the walk starts, completed with the summary's counts and the
 * exit status when it ends, so a run killed midway is seen as
 * interrupted. That record is bookkeeping: a store error writing it is
 * logged and the send goes on.
 *
 * td_send_one() hands one finished message to the transport outside any
 * run (the desk's test send): nothing is recorded.
 *
 * The envelope sender (MAIL FROM, where bounces go): with a verp, each
 * digest's own VERP address (kind 'd', the reader's member id, the slot
 * it is recorded under), so a bounce names the reader and the digest;
 * without, site.from as always. td_envelope_sender makes it for the
 * mails sent with td_send_one (test 't', confirmation 'c', welcome 'w').
 * No Return-Path header is written: the receiving MTA adds it.
 *
 * Mid-send unsubscribes: with a roster source, each sender asks the store
 * again (td_roster_may_send, on its own read connection) right before it
 * hands a message to the transport; a reader who unsubscribed or paused
 * after their digest was composed gets nothing, counted as unsubscribed,
 * and nothing is recorded for them (their watermark stays).
 *
 * Outcomes:
 *   accepted        delivery + watermark, one transaction
 *   temporary       (4xx, timeout, dropped) retried in this run after 1 s,
 *                   then 4 s (transport.run_retries), then kept in the
 *                   store's pending table with the exact bytes (same
 *                   Message-ID, same posts) and resent by a later run at
 *                   its backoff time; given up ("expired") after
 *                   transport.retry_max_attempts or retry_max_hours
 *   permanent       (5xx at RCPT/DATA) recorded; closes the slot for that
 *                   subscriber; transport.max_permanent_failures in a row
 *                   suppress the subscriber ("bounced", see `unsuppress`)
 *   fatal           (credentials, TLS, 5xx at MAIL) stops the run at once:
 *                   messages in flight are finished and recorded; 78 when
 *                   the config must change, else 75
 *   transport.max_consecutive_tempfails temporary failures in a row stop
 *   the run early (75) instead of hammering a broken relay. SIGTERM and
 *   SIGINT finish and record the messages in flight, then return 75.
 */
#ifndef TAGDIGEST_DELIVER_H
#define TAGDIGEST_DELIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "tagdigest/core/buf.h"
#include "tagdigest/compose/compose.h"
#include "tagdigest/compose/digest.h"
#include "tagdigest/compose/verp.h"
#include "tagdigest/core/err.h"
#include "tagdigest/store/store.h"
#include "tagdigest/schedule/subscribers.h"
#include "tagdigest/deliver/relays.h"
#include "tagdigest/deliver/transport.h"

struct td_send_summary {
	size_t subscribers;      /* good rows in the file; while a source is
				  * read, its total_hint (or the rows seen, if
				  * more), exact once it ends */
	size_t not_due;          /* already have this slot's digest (or it was
				  * refused / given up earlier in the slot) */
	size_t started_clean;    /* of not_due: started clean (store/start.h)
				  * and waiting for their first digest, at
				  * their next slot: they have had none */
	size_t sent;             /* accepted (or, dry run: would be sent) */
	size_t skipped;          /* empty digest */
	size_t suppressed;       /* unsubscribed from everything, or bounced,
				  * also while the run was sending */
	size_t tempfail;         /* failed temporarily; kept for a later run */
	size_t permfail;         /* refused for good (this slot) */
	size_t deferred;         /* kept from an earlier run, not due to retry yet */
	size_t throttled;        /* not sent: their domain's per_hour budget
				  * ([throttle.DOMAIN]) was spent; nothing
				  * recorded, so they are due for the next run */
	size_t expired;          /* given up after too many attempts / too long */
	size_t bounced;          /* suppressed in this run after repeated 5xx */
	size_t resent;           /* of `sent`: stored digests of an earlier run */
	size_t done;             /* subscribers finished, for progress */
	time_t slot;             /* the slot this run served */
	time_t next_slot;
	double seconds;          /* elapsed */
	double rate;             /* sent / seconds (messages per second) */
	int stopped_by_signal;   /* SIGTERM / SIGINT number, or 0 */
	bool stopped_early;      /* fatal error, signal or too many tempfails */
};

/* Called on the thread that called td_send_run, after one or more
 * subscribers are finished (sofar->done counts them; sofar->subscribers is
 * the total), and once at the end. Must not call back into deliver. */
typedef void (*td_send_progress_fn)(const struct td_send_summary *sofar,
				    void *arg);

/*
 * A dry run's plan, reader by reader: what the run would do with each one
 * and why, for whoever shows a send before it happens (the desk's "This
 * week", serve.h). It is the dry run itself that decides (the due rule,
 * td_schedule_due, the stored retries, the very digest the composer
 * builds), so a page built from it and `send --dry-run`'s summary cannot
 * disagree: each item is counted in the summary field named below.
 */
enum td_plan_outcome {
	TD_PLAN_SEND,        /* a fresh digest would go out (sent) */
	TD_PLAN_RESEND,      /* a digest kept from an earlier run would go out
			      * again (sent and resent) */
	TD_PLAN_SKIP,        /* due, nothing new in their tags (skipped) */
	TD_PLAN_NOT_DUE,     /* not due at the run's now (not_due) */
	TD_PLAN_DEFERRED,    /* a kept digest not due to retry yet (deferred) */
	TD_PLAN_SUPPRESSED,  /* unsubscribed from everything, or bounced
			      * (suppressed) */
	TD_PLAN_BAD,         /* their data cannot make a message (permfail) */
};

struct td_plan_item {
	const struct td_subscriber *sub;     /* valid during the call */
	enum td_plan_outcome outcome;
	time_t slot;             /* the reader's slot at the run's now */
	time_t next;             /* when a digest is next due for them: their
				  * slot when one is due now (SEND, SKIP, BAD),
				  * the retry's time (RESEND, DEFERRED), else
				  * td_due.next (schedule.h) as if this slot
				  * were served; 0 for SUPPRESSED */
	const struct td_digest *digest;      /* SEND, SKIP: the digest the run
					      * would send (its sections, shown,
					      * total); else NULL */
	size_t bytes;            /* SEND: the whole message's size */
	size_t posts;            /* SEND, SKIP: posts shown; RESEND,
				  * DEFERRED: the kept digest's */
};

/* Called on the calling thread, once per reader, in the order they are
 * walked. Must not call back into deliver. */
typedef void (*td_plan_fn)(const struct td_plan_item *item, void *arg);

struct td_send_options {
	bool dry_run;            /* render and count; send and write nothing */
	td_send_progress_fn progress;   /* may be NULL */
	void *progress_arg;
	const char *command;     /* what the run history (store/runs.h) calls
				  * the run: "send" (also when NULL), "run" */
	td_plan_fn plan;         /* dry run only: each reader's part in it
				  * (then the items are the report: no "would
				  * send" line per reader is logged); may be
				  * NULL */
	void *plan_arg;
};

/* The engine's settings, built from the config by td_options_deliver
 * (options.h); strings borrowed from it. The [transport] limits keep their
 * config meaning (config.h). */
struct td_deliver_options {
	struct td_compose_options compose;   /* from_address: the envelope
					      * sender without verp */
	const struct td_verp *verp;          /* [bounces] return_path: each
					      * mail's own envelope sender
					      * (verp.h); NULL: from_address.
					      * Not from the config alone (it
					      * holds the secret): the caller
					      * sets it, options.h */
	struct td_transport_options transport;
	int connections;                     /* sessions; a Maildir gets one */
	int rate_per_second;                 /* 0: no limit */
	int rate_per_hour;                   /* 0: no limit */
	int run_retries;
	int retry_max_attempts;
	int retry_backoff;                   /* seconds, doubled per attempt */
	int retry_max_hours;
	int max_permanent_failures;
	int max_consecutive_tempfails;
	/* [relay.NAME] (relays.h): the relays the sessions are spread over,
	 * each one's transport being `transport` with the relay's url, login
	 * and TLS settings; NULL, 0: one relay, `transport` as it is */
	const struct td_relay_config *relays;
	size_t nrelays;
	int relay_pause;                     /* seconds; <= 0: 60 */
	/* [throttle.DOMAIN] (relays.h); NULL, 0: none */
	const struct td_throttle_config *throttles;
	size_t nthrottles;
};

/* Where td_send_run takes its subscribers from. next() returns 1 with
 * *out set (valid until the next call: the engine copies what it keeps),
 * 0 at the end, or a sysexits code with err filled, which stops the run
 * as a store error does. In a real run it is called from the engine's
 * composing threads, one call at a time under the engine's lock (so a
 * source reading the caller's store connection must not use it from
 * elsewhere meanwhile); so it is in a dry run without a plan; with a
 * plan, on the caller's thread. */
struct td_subscriber_source {
	int (*next)(void *ctx, const struct td_subscriber **out, struct td_err *err);
	void *ctx;
	size_t total_hint;       /* rows expected, for progress; 0: unknown */
	bool from_roster;        /* they are the store's roster: each is asked
				  * again (td_roster_may_send) right before
				  * their message goes out */
};

/* opt may be NULL (a real run, no progress). */
int td_send_run(const struct td_deliver_options *dopt, struct td_store *st,
		struct td_subscriber_source *src,
		const struct td_send_options *opt, time_t now,
		struct td_send_summary *sum, struct td_err *err);

/* The envelope sender for one mail to `to`, malloc'd: the VERP address
 * (kind, member_id, slot: verp.h) when dopt->verp is set, else a copy
 * of compose.from_address. */
char *td_envelope_sender(const struct td_deliver_options *dopt, char kind,
			 int64_t member_id, const char *to, time_t slot);

/* msg (len bytes, a finished message) from the envelope sender `from`
 * (NULL: compose.from_address) to `to` through a transport opened for
 * this message alone. 0 when the transport accepted it, with its reply
 * in reply; else the transport's error in err. */
int td_send_one(const struct td_deliver_options *dopt, const char *from, const char *to,
		const char *msg, size_t len, char *reply, size_t reply_size,
		struct td_err *err);

#endif
