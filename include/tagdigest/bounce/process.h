/*
 * process: `tagdigest bounces` — read the bounce mailbox, understand each
 * mail (report.h), find whose it was (the VERP token, verp.h; else the
 * failed recipient, when no return_path is set), record the outcome
 * (store/bounces.h), and only then remove or move the mail (mailbox.h).
 *
 * A crash or a lost connection anywhere loses nothing and counts nothing
 * twice: a mail is recorded (with its SHA-256) before it is removed, and
 * a mail whose key is recorded already is only removed. A mail that is
 * neither a bounce nor a report is left where it is, and counted. A
 * bounce that names nobody we sent to (no valid token when return_path is
 * set; else an address not in the roster) changes nothing, is recorded as
 * "unknown", reported, and left in place for the operator to look at
 * (moved to processed_folder when one is set); later runs count it again
 * and leave it.
 *
 * max_messages bounds the mails acted on (recorded, or removed as
 * recorded before), not the mails read: the walk goes past what stays in
 * the mailbox (non-bounces, unknown bounces, failed fetches), so these
 * never starve the bounces after them; it ends at the listing's end.
 *
 * Whose mail it is, with return_path set: the first token that verifies,
 * read only from the outer headers that carry the address the bounce was
 * sent to (Delivered-To, X-Original-To, To, Envelope-To, X-Envelope-To,
 * X-Original-Recipient) and from the Return-Path and From of a returned
 * message's header (a message/rfc822, text/rfc822-headers or
 * message/global part), never from body text, which may quote anything.
 * A digest's token older than 120 days names nobody. When the report
 * names its failed recipients and none is the reader's address (a
 * forward of the reader's failed), a hard failure counts as soft.
 *
 * The kind of an event: a feedback report of type abuse, fraud, opt-out
 * or none given is a complaint (an opt-out only with a valid token:
 * X-Apple-Unsubscribe is anybody's to write), any other type a note; a
 * failed recipient is hard when the parser says so or its status is
 * 5.1.1, 5.1.2, 5.1.6 or 5.1.10, else soft; a delay is soft; a vacation
 * or a success is a note.
 *
 * `run` calls td_bounces_process before it sends when [bounces] mailbox
 * is set; a mailbox error there is reported and the send goes on.
 */
#ifndef TAGDIGEST_BOUNCE_PROCESS_H
#define TAGDIGEST_BOUNCE_PROCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "tagdigest/bounce/mailbox.h"
#include "tagdigest/compose/verp.h"
#include "tagdigest/store/bounces.h"

struct td_bounce_options {
	struct td_mailbox_options mailbox;
	const struct td_verp *verp;    /* NULL: no return_path set */
	struct td_bounce_policy policy;
	size_t max_messages;           /* mails acted on per run (above) */
	FILE *log;                     /* one line per mail acted on; NULL */
	bool dry_run;                  /* parse and report: record nothing,
					* remove nothing (the store may be
					* opened read-only) */
};

struct td_bounce_summary {
	size_t mails;          /* looked at */
	size_t bounces, complaints, notes;   /* mails of each kind */
	size_t not_bounces;    /* left in the mailbox */
	size_t unknown;        /* named nobody we sent to */
	size_t unknown_left;   /* of those, left in the mailbox */
	size_t seen_before;    /* recorded in an earlier run; only removed */
	size_t suppressed;     /* addresses suppressed now (bounced) */
	size_t unsubscribed;   /* addresses unsubscribed now (complaint) */
	size_t failed;         /* could not fetch or remove: left for next time */
};

int td_bounces_process(struct td_store *st, const struct td_bounce_options *o,
		       struct td_bounce_summary *s, struct td_err *err);

#endif
