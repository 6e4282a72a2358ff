/*
 * serve_impl.h: what serve.c (HTTP plumbing, limits, the unsubscribe
 * pages), serve_desk.c (the editors' desk) and serve_public.c (the
 * reader's pages) share. It is not a public contract (serve.h is): only
 * those files include it, and libmicrohttpd stays inside serve.c, so the
 * pages deal in plain requests and responses.
 */
#ifndef TAGDIGEST_SERVE_IMPL_H
#define TAGDIGEST_SERVE_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "tagdigest/core/buf.h"
#include "tagdigest/core/err.h"
#include "tagdigest/desk/serve.h"
#include "tagdigest/core/util.h"

/* One request as the handlers see it. args holds name/value pairs (names
 * at even indexes, values at odd ones): the query string, then the form
 * fields of a POST body. */
struct td_http_req {
	bool post;
	const char *path;            /* percent-decoded by libmicrohttpd */
	struct td_strv args;
	const char *host;            /* request headers, NULL when absent */
	const char *origin;
	const char *referer;
	const char *sec_fetch_site;
	/* the client as the rate limits see it (serve.h: the peer, or behind
	 * a trusted proxy the X-Forwarded-For entry); text for the consent
	 * record, key for td_rate_take */
	const char *client;
	const unsigned char *client_key;   /* 16 bytes */
};

/* The answer; the body is always built in a td_buf. */
struct td_http_resp {
	unsigned status;
	const char *content_type;    /* static strings, never freed */
	const char *csp;             /* Content-Security-Policy, NULL: none */
	const char *frame_options;   /* X-Frame-Options */
	const char *referrer_policy;
	unsigned retry_after;        /* seconds; 0: no Retry-After */
	struct td_buf body;
};

/* The value of the first arg called name, or NULL. */
const char *td_http_arg(const struct td_http_req *req, const char *name);
/* s without the spaces and tabs around it, malloc'd; "" for NULL (a
 * form's field as a person meant it). */
char *td_http_trimmed(const char *s);

/* Appends s with & < > " ' escaped: every string from posts, subscribers,
 * config or a request goes through here (or, on the desk's templated
 * pages, through Mustache's {{ }}) before it reaches a page. */
void td_html_escape(struct td_buf *b, const char *s);
/* Appends s percent-encoded for a query string value. */
void td_url_escape(struct td_buf *b, const char *s);
/* Sets status and a short page "title / message" (both escaped here). */
void td_http_simple(struct td_http_resp *resp, unsigned status,
		    const char *title, const char *message);

/* This thread's READWRITE connection to the store at path, opened on the
 * first call and closed when the thread ends (a libmicrohttpd worker);
 * never the run lock (serve.h). *st stays owned here. */
struct td_store;
int td_http_store(const char *path, struct td_store **st, struct td_err *err);

/* A token bucket per client key: burst at once, then per_sec. Any thread;
 * td_rate_take is true when the client may go on, else *retry_after (when
 * given) is the seconds until it may. */
struct td_rate;
struct td_rate *td_rate_new(double burst, double per_sec);
bool td_rate_take(struct td_rate *r, const unsigned char key[16], unsigned *retry_after);
void td_rate_free(struct td_rate *r);

/* The reader's pages of `serve --public` (serve_public.c): /subscribe,
 * /confirm/TOKEN, /preferences/TOKEN, and the mail thread behind them
 * (mailer.h). Its handler runs on any worker thread at once. */
struct td_public;
struct td_secret;
int td_public_new(const struct td_serve_options *opt, const struct td_secret *secret,
		  struct td_public **out, struct td_err *err);
/* Stops the mail thread (mail queued but not sent is logged and dropped)
 * and frees. */
void td_public_free(struct td_public *p);
/* Answers a request; false when path is none of the reader's pages. */
bool td_public_handle(struct td_public *p, const struct td_http_req *req,
		      struct td_http_resp *resp);
/* The public pages' Content-Security-Policy: inline style, nothing else;
 * forms post to us only. */
extern const char td_http_csp_public[];
/* The 400 every bad token gets, whichever page it was for. */
void td_http_bad_token(struct td_http_resp *resp);

/* The editors' desk (serve_desk.c). It reads the store READONLY; only the
 * ingest of changed posts sources writes, under the run lock. */
struct td_desk;

/* The desk keeps a copy of opt; its strings stay borrowed (serve.h). */
int td_desk_new(const struct td_desk_options *opt, struct td_desk **out,
		struct td_err *err);
void td_desk_free(struct td_desk *d);
/* Answers a request for the desk; false when path is none of the desk's
 * (the caller answers 404). */
bool td_desk_handle(struct td_desk *d, const struct td_http_req *req,
		    struct td_http_resp *resp);

/* "5,004": a count as every page of the desk shows it (serve_desk.c). */
struct td_value;
struct td_value *td_desk_count(size_t n);

/* "This week" (serve_week.c): the send engine's dry run over the readers
 * as the next send walks them (td_sync_walk, readers.h; td_send_run with
 * a plan, deliver.h), summed up for the desk. The numbers are the dry
 * run's own: `send --dry-run` at the same now counts the same. When some
 * readers are not due now, a second dry run as of the site's next slot
 * (td_schedule_next_slot) says who gets what then, with the store as it
 * is now (posts that arrive before the slot are not in it). */
struct td_week;
struct td_tz;
int td_week_build(const struct td_deliver_options *dopt, struct td_store *st,
		  const char *subscribers_path, time_t now, struct td_week **out,
		  struct td_err *err);
void td_week_free(struct td_week *w);
/* ctx.due: due now (count, digests, skips), the site's next slot and the
 * first time after now anyone else is due; times in tz. */
void td_week_due_values(const struct td_week *w, const struct td_tz *tz,
			time_t site_next, struct td_value *ctx);
/* Everything the week page shows (ctx.due too): ctx.at_now and, when
 * made, ctx.at_slot hold one dry run's figures each; counts are "5,004"
 * strings, with the number under NAME_n. Sorts w's lists. */
void td_week_values(struct td_week *w, const struct td_tz *tz, time_t site_next,
		    struct td_value *ctx);

#endif
