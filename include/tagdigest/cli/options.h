/*
 * options: each module's options, built from the loaded config.
 *
 * Modules do not see struct td_config: each takes a small struct of its
 * own with only what it needs (render.h, digest.h, ingest.h, status.h,
 * transport.h, schedule.h, fetch.h, compose.h, deliver.h, serve.h,
 * process.h). This is the one place that knows
 * which config key feeds which module; the command line, which alone
 * holds the config, builds a module's options here and hands them on
 * (the desk and the delivery engine get theirs whole, with the options of
 * the modules they call inside).
 *
 * Ownership: every string, the sources and the zone are borrowed from
 * cfg: the options are valid while cfg is and are not freed.
 */
#ifndef TAGDIGEST_OPTIONS_H
#define TAGDIGEST_OPTIONS_H

#include "tagdigest/bounce/process.h"
#include "tagdigest/compose/compose.h"
#include "tagdigest/compose/token.h"
#include "tagdigest/compose/verp.h"
#include "tagdigest/cli/config.h"
#include "tagdigest/deliver/deliver.h"
#include "tagdigest/compose/digest.h"
#include "tagdigest/sources/fetch.h"
#include "tagdigest/sources/ingest.h"
#include "tagdigest/compose/render.h"
#include "tagdigest/schedule/schedule.h"
#include "tagdigest/desk/serve.h"
#include "tagdigest/compose/status.h"
#include "tagdigest/deliver/transport.h"

/* [schedule]: the weekly slot in its zone. */
struct td_schedule td_options_schedule(const struct td_config *cfg);
/* [digest] and [schedule] first_digest_days, [site] tag_url. */
struct td_digest_options td_options_digest(const struct td_config *cfg);
/* [site], [templates], [digest] excerpt_chars, the schedule's zone. */
struct td_render_options td_options_render(const struct td_config *cfg);
/* [fetch]. */
struct td_fetch_options td_options_fetch(const struct td_config *cfg);
/* Every [source.NAME], in file order, and [fetch]. */
struct td_ingest_options td_options_ingest(const struct td_config *cfg);
/* [transport], and [site] for the default EHLO name. */
struct td_transport_options td_options_transport(const struct td_config *cfg);
/* The slot, [store] path, the sources, the digest's options and the
 * [bounces] policy (how a score decays). */
struct td_status_options td_options_status(const struct td_config *cfg);
/* The render, digest and schedule options, [token], [dkim], the
 * message's [site] headers and the preference centre's URL ([public]). */
struct td_compose_options td_options_compose(const struct td_config *cfg);
/* The composer's and the transport's options, and the [transport]
 * limits of a run. verp is NULL: the caller that wants [bounces]
 * return_path sets it from td_options_verp (it needs the secret). */
struct td_deliver_options td_options_deliver(const struct td_config *cfg);
/* What the desk and the unsubscribe pages read: the delivery options
 * (composer, test sends), the ingest options (posts folders), [store] and
 * [subscribers]. */
struct td_desk_options td_options_desk(const struct td_config *cfg);
/* [public]: the reader's pages of `serve --public` (signup_tags and
 * trusted_proxies point into cfg; empty lists, never NULL). */
struct td_public_options td_options_public(const struct td_config *cfg);

/* [bounces] return_path over the site's token secret ([secrets]): the
 * one verp that makes envelope senders (deliver.h, the desk's mails)
 * and reads them back (`bounces`). Unlike the other options it owns
 * what it holds: td_options_verp_free. */
struct td_verp_setup {
	struct td_secret secret;
	struct td_verp verp;
	const struct td_verp *use;   /* &verp when return_path is set, else NULL */
};
/* Without return_path: 0, use NULL, nothing loaded. Else loads the
 * secret as the composer does (create: make the file, and its folder,
 * when missing; `serve --public` passes false, since a fresh secret
 * would verify nothing sent before) and sets up the verp. Returns 0 or
 * the secret's error (token.h). */
int td_options_verp(const struct td_config *cfg, bool create, struct td_verp_setup *out,
		    struct td_err *err);
void td_options_verp_free(struct td_verp_setup *s);
/* [bounces]: the mailbox, the policy and the per-run cap for
 * `tagdigest bounces` and `run`; verp from td_options_verp (NULL
 * without return_path), log NULL (the command sets it). */
struct td_bounce_options td_options_bounces(const struct td_config *cfg,
					    const struct td_verp *verp);

#endif
