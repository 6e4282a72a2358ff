/*
 * compose: one subscriber's digest as one finished message.
 *
 * A composer turns a subscriber into the message they would get now:
 * digest (digest.h), templates (render.h), MIME (mime.h), with personal
 * HMAC-signed unsubscribe URLs and a never-expiring "preferences" link to
 * the preference centre (token.h), DKIM-signed when [dkim] is set.
 * `send`, `preview` and the desk's preview and test send all go through
 * it, so a preview is exactly what would go out.
 *
 * A digest's Message-ID is HMAC(token secret, lower-cased address, the
 * reader's slot (their own schedule over the site's, td_schedule_for:
 * the slot the send run records the digest under), watermark, and per
 * section the tag, the posts shown and the "and N more" count): the
 * digest a crash makes the next run compose again has the ID of the copy
 * that may already have arrived, and clients that drop duplicates by
 * Message-ID drop it; a digest that gained a post has a new
 * one. No store write is needed for it, and a preview shows the ID a send
 * at that moment would use.
 *
 * A test copy (td_compose_test) is the reader's digest addressed to
 * someone else: the same posts and text, "[TEST] " before the subject, a
 * random Message-ID (never the reader's), and every unsubscribe link (the
 * List-Unsubscribe header, the footer, each tag's) and the preference
 * centre's link made for the test address, so clicking one in the test
 * mail can never unsubscribe the reader or change their choices. It carries no List-Unsubscribe mailto, no Feedback-ID and no
 * DKIM signature: it is not part of the list's mail stream.
 *
 * The composer reads the store (its own snapshot per digest, unless the
 * caller read the reader's view: td_compose_view) and owns its
 * templates, secret and DKIM key; one thread at a time.
 *
 * Per instance, so each composing thread has its own and nothing is
 * shared or locked between them: the store connection it was given (one
 * per thread), the renderer (its templates, the ICU date formatter, the
 * shared posts of td_composer_hold_posts, the memos of rendered post
 * items and wrapped lines, the reused part buffers), the mime cache (the
 * memo of quoted-printable lines and the body buffers, mime.h), the
 * post cache (digest.h: the tags' posts and names, read once a run, held
 * for the posts in play), the zones, the token secret and MAC states and the DKIM
 * key. The memos (memo.h) repeat work the composer did before for the
 * same bytes, never for another reader's data: a copy is taken only
 * where its input was provably the same (the whole line, or a post item
 * whose output depended on the post alone). Each is bounded (a fixed
 * table and a byte cap, a few MiB), so memory stays flat however many
 * digests a composer makes.
 */
#ifndef TAGDIGEST_COMPOSE_H
#define TAGDIGEST_COMPOSE_H

#include <time.h>

#include "tagdigest/core/buf.h"
#include "tagdigest/compose/digest.h"
#include "tagdigest/core/err.h"
#include "tagdigest/compose/render.h"
#include "tagdigest/schedule/schedule.h"
#include "tagdigest/store/store.h"
#include "tagdigest/schedule/subscribers.h"

struct td_composer;

/* What a composer needs, built from the config by td_options_compose
 * (options.h). Strings are borrowed: they must outlive every composer
 * made with them (the composer keeps a copy of this struct, not of the
 * strings). */
struct td_compose_options {
	struct td_render_options render;  /* its site_name is also the List's name */
	struct td_digest_options digest;
	struct td_schedule schedule;      /* the site's rule; with the reader's
					   * prefs, the slot a digest's
					   * Message-ID is for */
	const char *token_secret_env;     /* td_secret_load's two places */
	const char *token_secret_file;
	const char *dkim_domain;          /* NULL or "": no DKIM signature */
	const char *dkim_selector;
	const char *dkim_key_file;
	const char *from_name;
	const char *from_address;         /* also gives the Message-ID domain */
	const char *reply_to;             /* NULL: no Reply-To; else on every
					   * mail, digests, test copies and
					   * notices alike */
	const char *unsubscribe_url;      /* a token is appended */
	const char *preferences_url;      /* the preference centre; a
					   * "preferences" token (token.h) is
					   * appended */
	const char *unsubscribe_mailto;   /* NULL: List-Unsubscribe has no mailto */
	const char *list_id;
	const char *feedback_id;          /* NULL: no Feedback-ID */
};

struct td_composed {
	struct td_digest digest;
	struct td_rendered parts;
	char *message_id;        /* without <> */
	struct td_buf message;   /* the whole RFC 5322 message, CRLF */
};

/* Loads templates, the token secret (created when missing) and the DKIM
 * key; a missing template or a bad key fails here, before any message.
 * st is only read, in td_compose; it may be NULL as long as nothing is
 * composed. */
int td_composer_new(const struct td_compose_options *opt, struct td_store *st,
		    struct td_composer **out, struct td_err *err);
void td_composer_free(struct td_composer *c);
/* For a composer whose posts cannot change while it lives (a send run,
 * under the run lock): each post is read and rendered once, then shared
 * between digests, and each tag's name read once. */
void td_composer_hold_posts(struct td_composer *c);

/* sub's digest as it would be sent at now. EX_DATAERR when sub's data
 * cannot make a valid message (the others still can). */
int td_compose(struct td_composer *c, const struct td_subscriber *sub,
	       time_t now, struct td_composed *out, struct td_err *err);
/* td_compose with the reader's view (store.h: td_store_reader_view)
 * already read by the caller on the composer's store: the digest is
 * built from it without reading it again, and without a transaction of
 * its own (the posts and names it may read are new arrivals' or the
 * cache's; a caller that needs the view and those reads in one snapshot
 * holds a read transaction around both). */
int td_compose_view(struct td_composer *c, const struct td_subscriber *sub,
		    const struct td_reader_view *view, time_t now,
		    struct td_composed *out, struct td_err *err);
/* sub's digest at now as a test copy for address (see above). */
int td_compose_test(struct td_composer *c, const struct td_subscriber *sub,
		    const char *address, time_t now, struct td_composed *out,
		    struct td_err *err);
void td_composed_free(struct td_composed *m);

#endif
