/*
 * deliver: due digests out through the transport, each recorded once.
 *
 * A composer turns one subscriber into one finished message: digest
 * (digest.h), templates (render.h), MIME (mime.h), with a personal
 * HMAC-signed unsubscribe URL (token.h). `preview` and `send` share it, so
 * a preview is exactly what would go out now.
 *
 * td_send_due() walks the subscriber file in order. A subscriber is due
 * when the most recent weekly slot has passed and nothing (sent or
 * skipped) is recorded for that slot. Empty digests are recorded as
 * skipped without sending. A message the transport accepted is recorded,
 * with the watermark move, in one transaction right after the accept; a
 * message it did not accept is never recorded as delivered.
 *
 * Outcomes: temporary failures are logged and left for the next run
 * (exit EX_TEMPFAIL); permanent ones are logged per subscriber; a fatal
 * transport error (ours: credentials, TLS, sender refused) stops the run.
 */
#ifndef TAGDIGEST_DELIVER_H
#define TAGDIGEST_DELIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "tagdigest/buf.h"
#include "tagdigest/config.h"
#include "tagdigest/digest.h"
#include "tagdigest/err.h"
#include "tagdigest/render.h"
#include "tagdigest/store.h"
#include "tagdigest/subscribers.h"

struct td_composer;

struct td_composed {
	struct td_digest digest;
	struct td_rendered parts;
	char *message_id;        /* without <> */
	struct td_buf message;   /* the whole RFC 5322 message, CRLF */
};

/* Loads templates and the token secret (created when missing). */
int td_composer_new(const struct td_config *cfg, struct td_store *st,
		    struct td_composer **out, struct td_err *err);
void td_composer_free(struct td_composer *c);
int td_compose(struct td_composer *c, const struct td_subscriber *sub,
	       time_t now, struct td_composed *out, struct td_err *err);
void td_composed_free(struct td_composed *m);

struct td_send_summary {
	size_t subscribers;      /* good rows in the file */
	size_t not_due;          /* already have this slot's digest */
	size_t sent;             /* accepted (or, dry run: would be sent) */
	size_t skipped;          /* empty digest */
	size_t suppressed;       /* unsubscribed from everything, or bounced */
	size_t tempfail;
	size_t permfail;
	time_t slot;             /* the slot this run served */
	time_t next_slot;
	double seconds;
};

int td_send_due(const struct td_config *cfg, struct td_store *st,
		const struct td_subscriber_list *subs, bool dry_run, time_t now,
		struct td_send_summary *sum, struct td_err *err);

#endif
