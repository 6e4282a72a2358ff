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
 * "unknown" and reported.
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
	size_t max_messages;           /* per run, default 10000 */
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
	size_t seen_before;    /* recorded in an earlier run; only removed */
	size_t suppressed;     /* addresses suppressed now (bounced) */
	size_t unsubscribed;   /* addresses unsubscribed now (complaint) */
	size_t failed;         /* could not fetch or remove: left for next time */
};

int td_bounces_process(struct td_store *st, const struct td_bounce_options *o,
		       struct td_bounce_summary *s, struct td_err *err);

#endif
