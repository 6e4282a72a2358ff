/*
 * serve: the editors' desk in a browser, and the public unsubscribe pages,
 * over libmicrohttpd.
 *
 * Editor mode (default, 127.0.0.1:8025): a home page with each tag's
 * waiting posts, who is due now and when the others are (the send
 * engine's dry run: what `send --dry-run` says), subscriber counts, the
 * last run and source health; "This week" (/week): the dry run summed up
 * (digests per tag, the biggest, the readers with nothing new, who is due
 * later in the week); a preview of the digest a chosen subscriber (or a
 * sample reader of one tag) would get now (HTML part in a sandboxed
 * iframe, full width or 375 px, in the editor's colour scheme or forced
 * light or dark, text part, headers, raw message, size with a warning
 * above Gmail's 102 KB clipping); live reload when a template or post changes; "send a test"
 * (CSRF-protected) through the configured transport, subject marked as a
 * test, no watermark moved; template errors as a readable page. A reader
 * search over the store's roster (/readers?q=, paged), a page per reader
 * (/reader?email=: status, tags, schedule, next digest, bounce score,
 * recent digests) and the history of past sends (/history, store/runs.h).
 *
 * Public mode (--public): the reader's pages (README "The reader's pages").
 *   GET  /subscribe           the sign-up form; POST signs up (double
 *                             opt-in: a confirmation mail, same answer
 *                             whatever the address's state)
 *   GET  /confirm/TOKEN       a confirm button; POST confirms
 *   GET  /preferences/TOKEN   the preference centre; POST applies
 *                             (action = save | unsubscribe | resubscribe)
 *   GET  /unsubscribe/TOKEN   a confirmation page with one button (GETs are
 *                             prefetched by link scanners: never act on one)
 *   POST /unsubscribe/TOKEN   body List-Unsubscribe=One-Click (RFC 8058) or
 *                             the page's form: unsubscribes at once, 200, no
 *                             redirect; repeats are harmless
 * A forged or truncated token, of any kind, gets one 400 that reveals
 * nothing. Request sizes and rates are bounded. Every write (sign-up,
 * confirmation, preferences, unsubscribe) goes to the store at once,
 * without the run lock, whatever else runs.
 *
 * The client a rate limit (and a consent record) sees: the connection's
 * peer; when the peer is one of trusted_proxies, the right-most
 * X-Forwarded-For entry that is not a trusted proxy (entries left of it
 * were written by the client and prove nothing). An X-Forwarded-For from
 * any other peer is ignored. max_connections_per_ip counts peers and
 * leaves trusted proxies out: a proxy carries every reader's connections
 * (and reads each request whole before it passes it on).
 *
 * td_serve() runs until SIGINT or SIGTERM.
 */
#ifndef TAGDIGEST_SERVE_H
#define TAGDIGEST_SERVE_H

#include <stdbool.h>
#include <stddef.h>

#include "tagdigest/deliver/deliver.h"
#include "tagdigest/core/err.h"
#include "tagdigest/core/util.h"
#include "tagdigest/sources/ingest.h"
#include "tagdigest/store/bounces.h"

/* What the desk and the unsubscribe pages read, built from the config by
 * td_options_desk (options.h). Strings are borrowed and must live until
 * td_serve returns: the desk keeps using them (it rebuilds its composer
 * and re-reads the subscriber file and posts folders while it runs). */
struct td_desk_options {
	struct td_deliver_options deliver;  /* the composer, test sends; its
					     * compose options also give the
					     * pages the site name, the zone
					     * and the token secret */
	struct td_ingest_options ingest;    /* the posts folders the desk ingests */
	const char *store_path;
	const char *subscribers_path;
	struct td_bounce_policy bounces;    /* how a reader's bounce score
					     * decays, for their preview */
};

/* The reader's pages ([public] in the config, built by
 * td_options_public). A value of 0 (or NULL) is the config's default:
 * confirm_hours 48, signups_per_hour 5, confirm_mails_per_day 3, threads
 * 4, max_connections 1000, max_connections_per_ip 16,
 * connection_timeout 10. The desk (without --public) keeps its own
 * single thread and small limits. */
struct td_public_options {
	const char *base_url;          /* where readers reach the server; links
					* in mail start here */
	const struct td_strv *signup_tags;  /* slugs offered on the form;
					* NULL or empty: every tag the site has */
	int confirm_hours;             /* a confirmation link's life */
	bool welcome_now;              /* a first digest right after confirming
					* (else at the reader's next slot) */
	int signups_per_hour;          /* per client address */
	int confirm_mails_per_day;     /* per subscriber address */
	const struct td_strv *trusted_proxies;  /* addresses whose
					* X-Forwarded-For is believed */
	int threads;                   /* worker threads of the public server */
	int max_connections;
	int max_connections_per_ip;
	int connection_timeout;        /* seconds without progress */
};

struct td_serve_options {
	const char *listen;            /* "127.0.0.1:8025" */
	bool public_mode;
	struct td_desk_options desk;   /* public mode reads it too */
	struct td_public_options pub;
};

/* The --listen address parsed and checked against the mode (the desk
 * listens on loopback only), before anything else is read: EX_USAGE with
 * the reason. td_serve checks it again. */
int td_serve_check_listen(const char *listen, bool public_mode, struct td_err *err);
int td_serve(const struct td_serve_options *opt, struct td_err *err);

#endif
