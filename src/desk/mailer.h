/*
 * mailer.h: the mail thread of `serve --public` (mailer.c). Private to
 * src/desk/ (serve_public.c is its only user).
 *
 * A request handler never talks to a mail server: it puts a job on a
 * bounded queue and answers at once. One thread takes the jobs in order:
 *
 *   confirmation  composes the double opt-in mail (notice.h) and sends it
 *                 through the configured transport (td_send_one)
 *   welcome       composes the reader's first digest (td_compose, with the
 *                 subscriber from the store) and sends it, then records it
 *                 (td_store_record_delivery, slot = the confirmation time)
 *                 so the next run does not send the same posts again; an
 *                 empty digest sends nothing and records nothing
 *
 * and, every TD_MAILER_PURGE_EVERY seconds and once when it starts, purges
 * the pending sign-ups whose confirmation link expired and whose count of
 * confirmation mails (24 hours) has run out (td_roster_purge_pending).
 *
 * Both go out with their own envelope sender when [bounces] return_path
 * is set (td_envelope_sender, deliver.h): kind 'c' with the pending
 * sign-up's member id, kind 'w' with the welcome's slot.
 *
 * A failed send is logged and dropped: the reader was told "check your
 * inbox" whatever happens (no enumeration) and can sign up again. A full
 * queue refuses the job (td_mailer_* returns false) with the same outcome.
 *
 * The thread owns its store connection (READWRITE, WAL) and composers;
 * the templates and the DKIM key are loaded by td_mailer_start, on the
 * caller's thread, so a broken confirm template stops the server before
 * it answers anyone. td_mailer_* may be called from any thread.
 */
#ifndef TAGDIGEST_MAILER_H
#define TAGDIGEST_MAILER_H

#include <stdbool.h>

#include "tagdigest/core/err.h"
#include "tagdigest/core/util.h"
#include "tagdigest/deliver/deliver.h"

#define TD_MAILER_QUEUE 256          /* jobs waiting, at most */
#define TD_MAILER_PURGE_EVERY 600    /* seconds between purges */
#define TD_MAILER_DRAIN 10           /* seconds a stop spends on the queue */

struct td_mailer_options {
	const struct td_deliver_options *deliver;  /* borrowed until stop */
	const char *store_path;
	int confirm_hours;                          /* a confirmation link's life */
};

struct td_mailer;

int td_mailer_start(const struct td_mailer_options *opt, struct td_mailer **out,
		    struct td_err *err);
/* Sends what is queued, for at most TD_MAILER_DRAIN seconds (a restart
 * must not swallow the mails readers were just promised), drops the rest
 * (logged), joins the thread and frees. NULL is fine. */
void td_mailer_stop(struct td_mailer *m);

/* The confirmation mail for a sign-up. Strings are copied. */
bool td_mailer_confirmation(struct td_mailer *m, const char *email, const char *name,
			    const char *confirm_url, const struct td_strv *tag_names,
			    const char *frequency);
/* The welcome digest of a reader who has just confirmed. */
bool td_mailer_welcome(struct td_mailer *m, const char *email);

#endif
