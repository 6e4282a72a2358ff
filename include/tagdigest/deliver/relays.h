/*
 * relays: which relay a session uses, and how fast mail to one receiving
 * domain may go.
 *
 * The pool. A run's SMTP sessions are spread over the configured relays
 * ([relay.NAME]: an SMTP server with its own credentials, a cap on
 * sessions at once and a weight). Each session has a home relay, picked
 * at the start by weight within the caps; a relay that refuses
 * connections, times out or answers 421 is paused (td_relay_down) and
 * the sessions on it move to another relay that is up and has room, or
 * wait (park) while the relays that are up carry the mail. When the pause
 * is over a session goes home again: the relay is tried again. When every
 * relay is down the sessions stay where they are and fail as a single
 * dead relay does (retries, then the next run): a pool of one, the plain
 * [transport] url, behaves exactly as before.
 *
 * The throttles. [throttle.DOMAIN] limits the messages to recipients at
 * DOMAIN or any of its subdomains (the longest configured match wins;
 * case does not matter): per_second spaces the starts of those messages
 * at least 1/per_second apart; per_hour is a bucket of per_hour messages
 * that refills at per_hour an hour, full when the process starts. The
 * limits are this process's: several senders each apply them in full.
 *
 * Neither keeps a clock or a lock: every call takes `now` (seconds on a
 * monotonic clock; tests pass their own) and the caller serialises the
 * calls (the delivery engine holds its lock). Nothing here talks to a
 * server: the engine opens the transports (transport.h) and reports what
 * they saw.
 *
 * Ownership: td_relay_config and td_throttle_config are filled and owned
 * by whoever builds them (the config loader, config.h); the pool and the
 * throttles copy what they keep (the throttles borrow the domain
 * strings: they must outlive them). _init/_free come in pairs.
 */
#ifndef TAGDIGEST_RELAYS_H
#define TAGDIGEST_RELAYS_H

#include <stdbool.h>
#include <stddef.h>

#include "tagdigest/deliver/transport.h"

/* One [relay.NAME]. The [transport] keys that are not per relay (timeout,
 * ehlo, max_messages_per_connection) apply to every relay. */
struct td_relay_config {
	char *name;
	char *url;               /* smtp://HOST[:PORT] or smtps://HOST[:PORT] */
	char *username;          /* NULL: no AUTH */
	char *password_env;      /* the password: this environment variable, */
	char *password_file;     /* or else this file (mode 600 or stricter) */
	char *ca_file;           /* NULL: the system's CAs */
	enum td_starttls starttls;
	int connections;         /* sessions at once at most */
	int weight;              /* share of the sessions, relative */
};

/* base with r's url, login and TLS settings: the options of r's
 * transport. Strings borrowed from both. */
struct td_transport_options td_relay_transport(const struct td_transport_options *base,
					       const struct td_relay_config *r);

/* One [throttle.DOMAIN]; 0 is no limit. */
struct td_throttle_config {
	char *domain;            /* lower case */
	int per_second;
	int per_hour;
};

/* ---- the pool ---- */

struct td_relay {
	int cap;                 /* sessions at once at most */
	int weight;              /* >= 1 */
	int active;              /* sessions on it now */
	double down_until;       /* paused until then (0: up) */
};

struct td_relay_pool {
	struct td_relay *v;
	size_t n;
	double pause;            /* seconds a relay that failed is left alone */
};

/* n relays with caps[i] and weights[i] (weights below 1 count as 1). */
void td_relay_pool_init(struct td_relay_pool *p, size_t n, const int *caps,
			const int *weights, double pause);
void td_relay_pool_free(struct td_relay_pool *p);

bool td_relay_up(const struct td_relay_pool *p, size_t i, double now);
/* Pauses relay i until now + pause. True when it was up: the caller says
 * so once, not once per session that saw it fail. */
bool td_relay_down(struct td_relay_pool *p, size_t i, double now);
/* The earliest end of a pause after now; 0 when no relay is paused. */
double td_relay_next_up(const struct td_relay_pool *p, double now);

/* A relay that is up and has room, by weight: the one whose sessions
 * per unit of weight would be lowest with one more (ties: the first
 * configured), so sessions go out in proportion to the weights. -1 when
 * none. Takes nothing: td_relay_settle does. */
int td_relay_pick(const struct td_relay_pool *p, double now);

/* Where a session with home relay `home`, now on `cur` (-1: on none),
 * should send its next message. Returns the relay, with the session
 * counted on it (and no longer on cur), or -1: every relay that is up is
 * full, so the session parks (counted nowhere) and asks again later
 * (td_relay_next_up says when a pause ends). In order: cur while it is up,
 * unless cur is not home and home is up again with room; home when it is
 * up with room; td_relay_pick; park when some relay is up; else, every
 * relay being down, cur (or home, or any with room) as a pool of one
 * would: the messages then fail and take the retry path. */
int td_relay_settle(struct td_relay_pool *p, int home, int cur, double now);

/* ---- the throttles ---- */

struct td_throttle {
	const char *domain;      /* borrowed from its config */
	double interval;         /* seconds between starts; 0: no limit */
	double next;             /* the earliest next start */
	double cap;              /* per_hour; 0: no limit */
	double tokens;           /* messages left in the hour's bucket */
	double last;             /* when tokens was last brought up to date */
	size_t spent;            /* SPENT answers so far (the first is worth
				  * telling a person about) */
};

struct td_throttles {
	struct td_throttle *v;
	size_t n;
};

enum td_throttle_verdict {
	TD_THROTTLE_GO,          /* send now: the start is counted */
	TD_THROTTLE_WAIT,        /* too soon: ask again at *at */
	TD_THROTTLE_SPENT,       /* the hour's budget is spent: leave the
				  * message for a later run */
};

void td_throttles_init(struct td_throttles *t, const struct td_throttle_config *c,
		       size_t n, double now);
void td_throttles_free(struct td_throttles *t);
/* The throttle for the recipient address rcpt (its domain after the last
 * '@'), or NULL when no [throttle] covers it. */
struct td_throttle *td_throttle_for(struct td_throttles *t, const char *rcpt);
/* Asks for one message start at now. WAIT sets *at; GO charges both
 * limits; SPENT and WAIT charge nothing. */
enum td_throttle_verdict td_throttle_take(struct td_throttle *th, double now,
					  double *at);

#endif
