/*
 * notice: the mails a reader gets outside the digests, composed like a
 * digest (Mustache templates, render.h's rules for subject and text,
 * mime.h, DKIM when configured), sent at once by the public server.
 *
 *   confirmation   templates/confirm.subject.mustache, confirm.txt.mustache,
 *                  confirm.html.mustache: the double opt-in link.
 *                  Context: site.name site.url site.language
 *                  site.postal_address (render.h) subscriber.email
 *                  subscriber.name subscriber.has_name confirm_url
 *                  expires_hours tags[]: name  frequency (e.g. "weekly")
 *
 * A confirmation carries no List-Unsubscribe (the reader is not on the list
 * yet) and says what to do when the sign-up was not theirs: nothing. It is
 * not list mail: no List-Id, no Feedback-ID; From (and Reply-To) as the
 * digests have it,
 * a fresh random Message-ID at the From domain each time, and
 * Auto-Submitted: auto-generated (RFC 3834: no vacation replies). The
 * templates folder is loaded whole, as the digests' renderer loads it, so
 * confirm.* may call the same partials.
 *
 * Ownership: the notice composer owns its templates and DKIM key; one
 * thread at a time.
 */
#ifndef TAGDIGEST_NOTICE_H
#define TAGDIGEST_NOTICE_H

#include "tagdigest/compose/compose.h"
#include "tagdigest/core/buf.h"
#include "tagdigest/core/err.h"
#include "tagdigest/core/util.h"

struct td_notice_composer;

/* Loads and checks the confirm.* templates (file, line and column in the
 * error) and the DKIM key of opt. */
int td_notice_composer_new(const struct td_compose_options *opt,
			   struct td_notice_composer **out, struct td_err *err);
void td_notice_composer_free(struct td_notice_composer *c);

struct td_confirmation {
	const char *email, *name;
	const char *confirm_url;
	int expires_hours;
	const struct td_strv *tag_names;   /* display names */
	const char *frequency;             /* "weekly", "daily", "monthly" */
};

/* The finished message (CRLF, RFC 5322) in *out; EX_DATAERR when the
 * address or name cannot make a valid message. */
int td_notice_confirmation(struct td_notice_composer *c, const struct td_confirmation *m,
			   time_t now, struct td_buf *out, struct td_err *err);

#endif
