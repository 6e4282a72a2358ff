/*
 * relays.c: the relay pool's choices and the per-domain throttles'
 * arithmetic (relays.h).
 *
 * Both are plain bookkeeping over a clock the caller passes in, so the
 * delivery engine can call them under its own lock and the unit tests can
 * drive them without sleeping.
 */
#include "tagdigest/deliver/relays.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tagdigest/core/util.h"

struct td_transport_options td_relay_transport(const struct td_transport_options *base,
					       const struct td_relay_config *r)
{
	struct td_transport_options t = *base;
	t.type = TD_TRANSPORT_SMTP;
	t.smtp.url = r->url;
	t.smtp.username = r->username;
	t.smtp.password_env = r->password_env;
	t.smtp.password_file = r->password_file;
	t.smtp.starttls = r->starttls;
	t.smtp.ca_file = r->ca_file;
	return t;
}

void td_relay_pool_init(struct td_relay_pool *p, size_t n, const int *caps,
			const int *weights, double pause)
{
	p->v = td_xcalloc(n ? n : 1, sizeof *p->v);
	p->n = n;
	p->pause = pause;
	for (size_t i = 0; i < n; i++) {
		p->v[i].cap = caps[i] > 0 ? caps[i] : 1;
		p->v[i].weight = weights[i] > 0 ? weights[i] : 1;
	}
}

void td_relay_pool_free(struct td_relay_pool *p)
{
	free(p->v);
	memset(p, 0, sizeof *p);
}

bool td_relay_up(const struct td_relay_pool *p, size_t i, double now)
{
	return p->v[i].down_until <= now;
}

bool td_relay_down(struct td_relay_pool *p, size_t i, double now)
{
	bool was_up = td_relay_up(p, i, now);
	/* a second session seeing the same outage does not stretch it */
	if (was_up)
		p->v[i].down_until = now + p->pause;
	return was_up;
}

double td_relay_next_up(const struct td_relay_pool *p, double now)
{
	double next = 0;
	for (size_t i = 0; i < p->n; i++)
		if (p->v[i].down_until > now && (next == 0 || p->v[i].down_until < next))
			next = p->v[i].down_until;
	return next;
}

static bool has_room(const struct td_relay_pool *p, int i)
{
	return p->v[i].active < p->v[i].cap;
}

int td_relay_pick(const struct td_relay_pool *p, double now)
{
	int best = -1;
	for (size_t i = 0; i < p->n; i++) {
		if (!td_relay_up(p, i, now) || !has_room(p, (int)i))
			continue;
		/* (active + 1) / weight, compared without division */
		if (best < 0 ||
		    (long long)(p->v[i].active + 1) * p->v[best].weight <
		    (long long)(p->v[best].active + 1) * p->v[i].weight)
			best = (int)i;
	}
	return best;
}

static int move_to(struct td_relay_pool *p, int cur, int to)
{
	if (cur >= 0)
		p->v[cur].active--;
	p->v[to].active++;
	return to;
}

int td_relay_settle(struct td_relay_pool *p, int home, int cur, double now)
{
	bool home_open = td_relay_up(p, (size_t)home, now) &&
			 (cur == home || has_room(p, home));
	if (cur >= 0 && td_relay_up(p, (size_t)cur, now)) {
		/* borrowed while home was paused: home is back, go there */
		if (cur != home && home_open)
			return move_to(p, cur, home);
		return cur;
	}
	if (home_open)
		return move_to(p, cur, home);
	if (cur >= 0)
		p->v[cur].active--;   /* counted again below, wherever it lands */
	int r = td_relay_pick(p, now);
	if (r >= 0)
		return move_to(p, -1, r);
	for (size_t i = 0; i < p->n; i++)
		if (td_relay_up(p, i, now))
			return -1;    /* others carry the mail: wait for room */
	/* Every relay is down: no better place, so the session stays and
	 * its messages fail as they would with one relay. */
	if (cur >= 0)
		return move_to(p, -1, cur);
	if (has_room(p, home))
		return move_to(p, -1, home);
	for (size_t i = 0; i < p->n; i++)
		if (has_room(p, (int)i))
			return move_to(p, -1, (int)i);
	return -1;
}

/* ---- throttles ---- */

void td_throttles_init(struct td_throttles *t, const struct td_throttle_config *c,
		       size_t n, double now)
{
	t->v = td_xcalloc(n ? n : 1, sizeof *t->v);
	t->n = n;
	for (size_t i = 0; i < n; i++) {
		struct td_throttle *th = &t->v[i];
		th->domain = c[i].domain;
		th->interval = c[i].per_second > 0 ? 1.0 / c[i].per_second : 0;
		th->cap = c[i].per_hour > 0 ? c[i].per_hour : 0;
		th->tokens = th->cap;
		th->last = now;
	}
}

void td_throttles_free(struct td_throttles *t)
{
	free(t->v);
	memset(t, 0, sizeof *t);
}

/* Whether domain d (n bytes) is dom or one of its subdomains. */
static bool covers(const char *dom, const char *d, size_t n)
{
	size_t k = strlen(dom);
	if (n < k || strncasecmp(d + n - k, dom, k) != 0)
		return false;
	return n == k || d[n - k - 1] == '.';
}

struct td_throttle *td_throttle_for(struct td_throttles *t, const char *rcpt)
{
	const char *at = strrchr(rcpt, '@');
	if (!at || t->n == 0)
		return NULL;
	const char *d = at + 1;
	size_t n = strlen(d);
	struct td_throttle *best = NULL;
	for (size_t i = 0; i < t->n; i++)
		if (covers(t->v[i].domain, d, n) &&
		    (!best || strlen(t->v[i].domain) > strlen(best->domain)))
			best = &t->v[i];
	return best;
}

enum td_throttle_verdict td_throttle_take(struct td_throttle *th, double now,
					  double *at)
{
	if (th->cap > 0) {
		if (now > th->last) {
			th->tokens += (now - th->last) * th->cap / 3600.0;
			if (th->tokens > th->cap)
				th->tokens = th->cap;
			th->last = now;
		}
		if (th->tokens < 1) {
			th->spent++;
			return TD_THROTTLE_SPENT;
		}
	}
	if (th->interval > 0 && now < th->next) {
		*at = th->next;
		return TD_THROTTLE_WAIT;
	}
	if (th->cap > 0)
		th->tokens -= 1;
	if (th->interval > 0)
		th->next = now + th->interval;
	return TD_THROTTLE_GO;
}
