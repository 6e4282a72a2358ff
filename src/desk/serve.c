/*
 * serve.c: the HTTP side of `tagdigest serve` (see serve.h), over
 * libmicrohttpd, and the public one-click unsubscribe pages; the reader's
 * other pages are serve_public.c's.
 *
 * The editors' desk is answered by one internal polling thread, one
 * request at a time: its composer and SQLite handles are then never
 * shared between threads. `--public` runs a pool of epoll worker threads
 * ([public] threads): each request is handled on the worker that polled
 * it, with that worker's own store connection (td_http_store), so a write
 * that waits for a running send's recorder holds up one worker for
 * milliseconds, never the server. Shared state (the rate tables) sits
 * under a mutex. The main thread only waits for SIGINT/SIGTERM.
 *
 * What is bounded, because --public faces the Internet: request bodies
 * (8 KiB, 413 above that), headers (the connection memory limit),
 * connections (total and per IP), idle time, and request rates (a token
 * bucket per client address; IPv6 clients are keyed by their /64, since
 * one host usually owns a whole /64). The client is the peer, or behind a
 * trusted proxy the right-most X-Forwarded-For entry that is not one.
 *
 * Unsubscribe tokens are capabilities: GET only shows a confirmation page
 * (link scanners prefetch GETs), POST acts. Every bad token gets the very
 * same 400 page, so the server is no oracle for forging them.
 */
#include "tagdigest/desk/serve.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "serve_impl.h"
#include "tagdigest/core/address.h"
#include "tagdigest/core/log.h"
#include "tagdigest/sources/slug.h"
#include "tagdigest/store/store.h"
#include "tagdigest/compose/token.h"
#include "tagdigest/core/util.h"

#define MAX_BODY (8u << 10)        /* form posts are a few hundred bytes */
#define MAX_ARGS 64                /* name/value pairs per request */
#define MAX_TOKEN 1024             /* an email of 254 bytes signs to ~400 */
#define CONN_LIMIT 128             /* the desk's */
#define CONN_PER_IP 32
#define PUBLIC_BUSY_WAIT_MS 60000  /* see td_http_store */
#define CONN_TIMEOUT 15            /* seconds without progress */
/* --public, when [public] leaves them out (serve.h) */
#define DEF_THREADS 4
#define DEF_CONN_LIMIT 1000
#define DEF_CONN_PER_IP 16
#define DEF_CONN_TIMEOUT 10
#define LISTEN_BACKLOG 1024
#define MAX_XFF_HEADERS 8          /* X-Forwarded-For headers looked at */
#define CONN_MEMORY (64u << 10)    /* request line + headers + MHD's buffers */
#define RATE_SLOTS 4096
#define RATE_BURST 60.0            /* requests a client may make at once */
#define RATE_PER_SEC 2.0           /* and then per second */

const char td_http_csp_public[] =
	"default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
	"frame-ancestors 'none'; base-uri 'none'";

/* One answer for every bad token, unsubscribe, confirm or preferences:
 * the server is no oracle for which kind a forged token nearly was. */
static const char bad_token_title[] = "This link is not valid";
static const char bad_token_text[] =
	"The link may have been cut short when it was copied. Please use the "
	"link of a recent mail from us as it is.";

struct rate_slot {
	unsigned char key[16];
	bool used;
	double tokens;
	double at;                 /* monotonic seconds of the last refill */
};

/* A token bucket per client (serve_impl.h). */
struct td_rate {
	pthread_mutex_t mu;
	double burst, per_sec;
	struct rate_slot slots[RATE_SLOTS];
};

struct trusted_proxy {
	int family;
	unsigned char addr[16];
};

/* Open connections from one address (IPv6: one /64). */
struct conn_count {
	unsigned char key[16];
	unsigned n;                /* 0: a free entry */
};

/* The client as the limits see it (client_of). */
struct client {
	char text[INET6_ADDRSTRLEN];
	unsigned char key[16];
};

struct server {
	const struct td_serve_options *opt;
	const struct td_compose_options *co;  /* opt's: site name, sender, secret */
	struct td_secret secret;
	struct td_desk *desk;      /* NULL in public mode */
	/* the bound port, for the Host check: known before the daemon starts
	 * unless --listen said port 0, then set once it is bound */
	_Atomic unsigned port;
	char host[INET6_ADDRSTRLEN + 2];   /* the address listened on, as in a Host */
	struct td_rate *rates;     /* every public request, the desk's actions */
	struct trusted_proxy *trusted;
	size_t ntrusted;
	struct td_public *pub;     /* the reader's pages; NULL on the desk */
	/* --public: open connections per client address (conn_allow) */
	pthread_mutex_t conns_mu;
	struct conn_count *conns;
	size_t nconns;             /* capacity of conns */
	unsigned per_ip;
};

struct conn_ctx {
	struct td_buf body;
	bool refused;              /* an early answer was queued */
	struct client client;
};

/* ---- small shared helpers (serve_impl.h) ---- */

const char *td_http_arg(const struct td_http_req *req, const char *name)
{
	for (size_t i = 0; i + 1 < req->args.n; i += 2)
		if (strcmp(req->args.v[i], name) == 0)
			return req->args.v[i + 1];
	return NULL;
}

char *td_http_trimmed(const char *s)
{
	if (!s)
		return td_xstrdup("");
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	return td_xstrndup(s, n);
}

void td_html_escape(struct td_buf *b, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '&': td_buf_puts(b, "&amp;"); break;
		case '<': td_buf_puts(b, "&lt;"); break;
		case '>': td_buf_puts(b, "&gt;"); break;
		case '"': td_buf_puts(b, "&quot;"); break;
		case '\'': td_buf_puts(b, "&#39;"); break;
		default: td_buf_putc(b, *s);
		}
	}
}

void td_url_escape(struct td_buf *b, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; p && *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' ||
		    *p == '.' || *p == '~' || *p == '@')
			td_buf_putc(b, (char)*p);
		else
			td_buf_printf(b, "%%%02X", *p);
	}
}

/* The frame of the public pages: small, readable on a phone, no external
 * resources (the CSP allows none). */
static void public_open(struct td_buf *b, const char *title)
{
	td_buf_puts(b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
		    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
		    "<meta name=\"robots\" content=\"noindex\"><title>");
	td_html_escape(b, title);
	td_buf_puts(b, "</title><style>body{font:16px/1.5 system-ui,sans-serif;max-width:34em;"
		    "margin:3em auto;padding:0 1em;color:#1f2937}h1{font-size:1.4em}"
		    "button{font:inherit;padding:.5em 1.2em;border:0;border-radius:4px;"
		    "background:#1a3d6d;color:#fff;cursor:pointer}</style></head><body>\n<h1>");
	td_html_escape(b, title);
	td_buf_puts(b, "</h1>\n");
}

static void public_close(struct td_buf *b)
{
	td_buf_puts(b, "</body></html>\n");
}

void td_http_simple(struct td_http_resp *resp, unsigned status,
		    const char *title, const char *message)
{
	resp->status = status;
	resp->content_type = "text/html; charset=utf-8";
	td_buf_reset(&resp->body);
	public_open(&resp->body, title);
	td_buf_puts(&resp->body, "<p>");
	td_html_escape(&resp->body, message);
	td_buf_puts(&resp->body, "</p>\n");
	public_close(&resp->body);
}

/* ---- this thread's store ---- */

static pthread_key_t store_key;
static pthread_once_t store_once = PTHREAD_ONCE_INIT;

static void store_close_at_exit(void *st)
{
	td_store_close(st);
}

static void store_key_init(void)
{
	if (pthread_key_create(&store_key, store_close_at_exit) != 0)
		abort();
}

int td_http_store(const char *path, struct td_store **st, struct td_err *err)
{
	pthread_once(&store_once, store_key_init);
	*st = pthread_getspecific(store_key);
	if (*st)
		return 0;
	/* WAL and the store's busy timeout (store.c) make a write here wait
	 * for a running send's recorder instead of failing */
	int rc = td_store_open(path, TD_STORE_READWRITE, st, err);
	if (rc) {
		*st = NULL;
		return rc;
	}
	/* Gmail and Yahoo POST a one-click unsubscribe once: a "database is
	 * locked" here would lose it. A send's recorder holds the lock for
	 * milliseconds, a run's file sync for a batch (import.c); only an
	 * editor's `subscribers import` of a big file holds it for seconds. */
	td_store_set_busy_wait(*st, PUBLIC_BUSY_WAIT_MS);
	pthread_setspecific(store_key, *st);
	return 0;
}

/* ---- request bodies ---- */

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static char *form_decode(const char *s, size_t n)
{
	struct td_buf b = TD_BUF_INIT;
	for (size_t i = 0; i < n; i++) {
		int hi, lo;
		if (s[i] == '+') {
			td_buf_putc(&b, ' ');
		} else if (s[i] == '%' && i + 2 < n && (hi = hexval(s[i + 1])) >= 0 &&
			   (lo = hexval(s[i + 2])) >= 0) {
			td_buf_putc(&b, (char)(hi * 16 + lo));
			i += 2;
		} else {
			td_buf_putc(&b, s[i]);
		}
	}
	return td_buf_steal(&b);
}

static void push_arg(struct td_strv *args, char *name, char *value)
{
	if (args->n >= 2 * MAX_ARGS) {
		free(name);
		free(value);
		return;
	}
	td_strv_push_owned(args, name);
	td_strv_push_owned(args, value);
}

/* application/x-www-form-urlencoded; also what we assume when a client
 * sends no Content-Type, as some one-click implementations do. */
static void parse_urlencoded(const char *s, size_t len, struct td_strv *args)
{
	size_t i = 0;
	while (i < len) {
		size_t end = i;
		while (end < len && s[end] != '&')
			end++;
		size_t eq = i;
		while (eq < end && s[eq] != '=')
			eq++;
		if (end > i)
			push_arg(args, form_decode(s + i, eq - i),
				 eq < end ? form_decode(s + eq + 1, end - eq - 1) :
					    td_xstrdup(""));
		i = end + 1;
	}
}

/* multipart/form-data (RFC 8058 allows it for one-click), through
 * libmicrohttpd's parser; a field may arrive in pieces. */
static enum MHD_Result on_multipart(void *cls, enum MHD_ValueKind kind,
				    const char *key, const char *filename,
				    const char *content_type,
				    const char *transfer_encoding,
				    const char *data, uint64_t off, size_t size)
{
	(void)kind;
	(void)filename;
	(void)content_type;
	(void)transfer_encoding;
	struct td_strv *args = cls;
	if (off == 0 || args->n == 0 || strcmp(args->v[args->n - 2], key) != 0) {
		push_arg(args, td_xstrdup(key), td_xstrndup(data ? data : "", size));
		return MHD_YES;
	}
	char *old = args->v[args->n - 1];
	size_t ol = strlen(old);
	char *joined = td_xmalloc(ol + size + 1);
	memcpy(joined, old, ol);
	memcpy(joined + ol, data, size);
	joined[ol + size] = '\0';
	free(old);
	args->v[args->n - 1] = joined;
	return MHD_YES;
}

static void parse_body(struct MHD_Connection *conn, const struct td_buf *body,
		       struct td_strv *args)
{
	const char *ct = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
						     MHD_HTTP_HEADER_CONTENT_TYPE);
	if (ct && strncasecmp(ct, "multipart/form-data", 19) == 0) {
		struct MHD_PostProcessor *pp =
			MHD_create_post_processor(conn, 1024, on_multipart, args);
		if (pp) {
			MHD_post_process(pp, td_buf_cstr(body), body->len);
			MHD_destroy_post_processor(pp);
		}
		return;
	}
	parse_urlencoded(td_buf_cstr(body), body->len, args);
}

static enum MHD_Result collect_query(void *cls, enum MHD_ValueKind kind,
				     const char *key, const char *value)
{
	(void)kind;
	push_arg(cls, td_xstrdup(key), td_xstrdup(value ? value : ""));
	return MHD_YES;
}

/* ---- limits ---- */

/* The client's key for the rate limits: IPv4 address, or IPv6 /64. */
static void addr_key(int family, const void *addr, unsigned char key[16])
{
	memset(key, 0, 16);
	if (family == AF_INET) {
		memcpy(key, addr, 4);
	} else if (family == AF_INET6) {
		const struct in6_addr *a6 = addr;
		if (IN6_IS_ADDR_V4MAPPED(a6)) {
			memcpy(key, (const unsigned char *)a6 + 12, 4);
			return;
		}
		memcpy(key, a6, 8);
		key[15] = 6;
	}
}

/* The peer's family, bytes and key; false for anything but IP. */
static bool peer_of(const struct sockaddr *sa, int *family, unsigned char addr[16],
		    unsigned char key[16])
{
	memset(addr, 0, 16);
	*family = sa ? sa->sa_family : AF_UNSPEC;
	if (*family == AF_INET)
		memcpy(addr, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
	else if (*family == AF_INET6)
		memcpy(addr, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, 16);
	else
		return false;
	addr_key(*family, addr, key);
	return true;
}

/* An address in text ("192.0.2.1", "2001:db8::1", "[2001:db8::1]"; a
 * port after an IPv4 address is dropped, as some proxies write one) to
 * its family and bytes. False when it is none. */
static bool parse_ip(const char *s, size_t n, int *family, unsigned char out[16])
{
	while (n && (*s == ' ' || *s == '\t'))
		s++, n--;
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	char buf[INET6_ADDRSTRLEN + 8];
	if (n == 0 || n >= sizeof buf)
		return false;
	memcpy(buf, s, n);
	buf[n] = '\0';
	char *p = buf;
	if (*p == '[') {
		char *close = strchr(p, ']');
		if (!close)
			return false;
		*close = '\0';
		p++;
	} else if (strchr(p, '.') && strchr(p, ':') == strrchr(p, ':') && strchr(p, ':')) {
		*strchr(p, ':') = '\0';   /* "192.0.2.1:4711" */
	}
	if (inet_pton(AF_INET, p, out) == 1) {
		*family = AF_INET;
		return true;
	}
	if (inet_pton(AF_INET6, p, out) == 1) {
		*family = AF_INET6;
		return true;
	}
	return false;
}

static bool same_ip(int fa, const unsigned char *a, int fb, const unsigned char *b)
{
	unsigned char ka[16], kb[16];
	if (fa == fb)
		return memcmp(a, b, fa == AF_INET ? 4 : 16) == 0;
	/* 192.0.2.1 and ::ffff:192.0.2.1 are one peer */
	addr_key(fa, a, ka);
	addr_key(fb, b, kb);
	return ka[15] == 0 && kb[15] == 0 && memcmp(ka, kb, 4) == 0;
}

static bool is_trusted(const struct server *s, int family, const unsigned char *a)
{
	for (size_t i = 0; i < s->ntrusted; i++)
		if (same_ip(s->trusted[i].family, s->trusted[i].addr, family, a))
			return true;
	return false;
}

/* The X-Forwarded-For headers of a request, in order; libmicrohttpd
 * keeps the values for the request's life, so nothing is copied. */
struct xff_headers {
	const char *v[MAX_XFF_HEADERS];
	size_t n;
};

static enum MHD_Result collect_xff(void *cls, enum MHD_ValueKind kind,
				   const char *key, const char *value)
{
	(void)kind;
	struct xff_headers *h = cls;
	if (value && strcasecmp(key, "X-Forwarded-For") == 0) {
		/* the last ones are the proxies': keep those */
		if (h->n == MAX_XFF_HEADERS) {
			memmove(h->v, h->v + 1, (MAX_XFF_HEADERS - 1) * sizeof *h->v);
			h->n--;
		}
		h->v[h->n++] = value;
	}
	return MHD_YES;
}

/* Walks the entries right to left, from the last header on: *family and
 * addr become the first entry that is not a trusted proxy, or the
 * left-most when all are; an entry that is no address ends the walk. */
static void xff_client(const struct server *s, const struct xff_headers *h,
		       int *family, unsigned char addr[16])
{
	for (size_t k = h->n; k-- > 0;) {
		const char *all = h->v[k];
		size_t end = strlen(all);
		while (end > 0) {
			size_t start = end;
			while (start > 0 && all[start - 1] != ',')
				start--;
			int f;
			unsigned char a[16];
			if (!parse_ip(all + start, end - start, &f, a))
				return;
			*family = f;
			memcpy(addr, a, 16);
			if (!is_trusted(s, f, a))
				return;
			end = start ? start - 1 : 0;
		}
	}
}

/* Who the client is, for the rate limits and the consent record: the
 * peer, unless the peer is a trusted proxy; then the right-most
 * X-Forwarded-For entry that is not a trusted proxy (each proxy appends
 * the address it saw, so entries left of the first untrusted one are
 * whatever the client chose to send). An entry that is no address ends
 * the walk at the last trusted hop. */
static void client_of(const struct server *s, struct MHD_Connection *conn,
		      struct client *c)
{
	memset(c, 0, sizeof *c);
	snprintf(c->text, sizeof c->text, "unknown");
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	int family;
	unsigned char addr[16], key[16];
	if (!ci || !peer_of(ci->client_addr, &family, addr, key))
		return;
	if (s->ntrusted && is_trusted(s, family, addr)) {
		struct xff_headers h = { { NULL }, 0 };
		MHD_get_connection_values(conn, MHD_HEADER_KIND, collect_xff, &h);
		xff_client(s, &h, &family, addr);
	}
	inet_ntop(family, addr, c->text, sizeof c->text);
	addr_key(family, addr, c->key);
}

/* The table is fixed in size: a client not in it takes the least
 * recently refilled slot of its small neighbourhood, so memory stays
 * bounded whoever calls. One mutex: a lookup is a few compares, far
 * shorter than anything else a request does. */
bool td_rate_take(struct td_rate *t, const unsigned char key[16], unsigned *retry_after)
{
	uint64_t h = 1469598103934665603ull;
	for (int i = 0; i < 16; i++)
		h = (h ^ key[i]) * 1099511628211ull;
	double now = td_mono_now();
	bool ok = false;
	pthread_mutex_lock(&t->mu);
	struct rate_slot *slot = NULL, *oldest = NULL;
	for (size_t k = 0; k < 4; k++) {
		struct rate_slot *r = &t->slots[(h + k) % RATE_SLOTS];
		if (r->used && memcmp(r->key, key, 16) == 0) {
			slot = r;
			break;
		}
		if (!oldest || !r->used || (oldest->used && r->at < oldest->at))
			oldest = r;
	}
	if (!slot) {
		slot = oldest;
		memcpy(slot->key, key, 16);
		slot->used = true;
		slot->tokens = t->burst;
		slot->at = now;
	}
	slot->tokens += (now - slot->at) * t->per_sec;
	if (slot->tokens > t->burst)
		slot->tokens = t->burst;
	slot->at = now;
	if (slot->tokens >= 1.0) {
		slot->tokens -= 1.0;
		ok = true;
	} else if (retry_after) {
		double wait = (1.0 - slot->tokens) / t->per_sec;
		*retry_after = wait < 1.0 ? 1u : (unsigned)(wait + 0.999);
	}
	pthread_mutex_unlock(&t->mu);
	return ok;
}

struct td_rate *td_rate_new(double burst, double per_sec)
{
	struct td_rate *t = td_xcalloc(1, sizeof *t);
	t->burst = burst;
	t->per_sec = per_sec;
	pthread_mutex_init(&t->mu, NULL);
	return t;
}

void td_rate_free(struct td_rate *t)
{
	if (!t)
		return;
	pthread_mutex_destroy(&t->mu);
	free(t);
}

/* ---- connections per address (--public) ----
 *
 * libmicrohttpd's own per-IP limit would count a reverse proxy as one
 * client and refuse the readers behind it beyond max_connections_per_ip;
 * so the count is kept here, and trusted proxies are not limited (a proxy
 * reads a request whole before it passes it on: slowloris is stopped
 * there). An address is checked when it connects (conn_allow) and counted
 * from libmicrohttpd's "started" to its "closed" (conn_notify), which come
 * in pairs; a check and its count are not one step, so the limit can be
 * passed by at most one connection per worker thread. */

static struct conn_count *conn_find(struct server *s, const unsigned char key[16],
				    bool add)
{
	struct conn_count *free_slot = NULL;
	for (size_t i = 0; i < s->nconns; i++) {
		struct conn_count *c = &s->conns[i];
		if (c->n && memcmp(c->key, key, 16) == 0)
			return c;
		if (!c->n && !free_slot)
			free_slot = c;
	}
	if (add && free_slot)
		memcpy(free_slot->key, key, 16);
	return add ? free_slot : NULL;
}

static enum MHD_Result conn_allow(void *cls, const struct sockaddr *sa, socklen_t len)
{
	(void)len;
	struct server *s = cls;
	int family;
	unsigned char addr[16], key[16];
	if (!peer_of(sa, &family, addr, key) || is_trusted(s, family, addr))
		return MHD_YES;
	pthread_mutex_lock(&s->conns_mu);
	const struct conn_count *c = conn_find(s, key, false);
	bool ok = !c || c->n < s->per_ip;
	pthread_mutex_unlock(&s->conns_mu);
	return ok ? MHD_YES : MHD_NO;
}

static void conn_notify(void *cls, struct MHD_Connection *conn, void **socket_ctx,
			enum MHD_ConnectionNotificationCode toe)
{
	struct server *s = cls;
	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		*socket_ctx = NULL;
		const union MHD_ConnectionInfo *ci =
			MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
		int family;
		unsigned char addr[16], key[16];
		if (!ci || !peer_of(ci->client_addr, &family, addr, key) ||
		    is_trusted(s, family, addr))
			return;
		pthread_mutex_lock(&s->conns_mu);
		struct conn_count *c = conn_find(s, key, true);
		if (c) {
			c->n++;
			/* the key, to find the entry again at "closed" */
			*socket_ctx = td_xmalloc(16);
			memcpy(*socket_ctx, key, 16);
		}
		pthread_mutex_unlock(&s->conns_mu);
		return;
	}
	if (!*socket_ctx)
		return;
	pthread_mutex_lock(&s->conns_mu);
	struct conn_count *c = conn_find(s, *socket_ctx, false);
	if (c)
		c->n--;
	pthread_mutex_unlock(&s->conns_mu);
	free(*socket_ctx);
	*socket_ctx = NULL;
}


/* The editors' desk answers only to the names of the loopback address it
 * listens on: a page on another site that rebinds its DNS name to
 * 127.0.0.1 sends its own Host and is refused. */
static bool host_allowed(const struct server *s, const char *host)
{
	if (!host)
		return false;
	const char *const names[] = { "127.0.0.1", "localhost", "[::1]", s->host };
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		size_t n = strlen(names[i]);
		if (strncasecmp(host, names[i], n) != 0)
			continue;
		if (host[n] == '\0')
			return s->port == 80;
		char *end;
		if (host[n] == ':' && strtoul(host + n + 1, &end, 10) == s->port &&
		    *end == '\0')
			return true;
	}
	return false;
}

/* ---- unsubscribe ---- */

static bool token_plausible(const char *t)
{
	size_t n = strlen(t);
	if (n == 0 || n > MAX_TOKEN)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = t[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.'))
			return false;
	}
	return true;
}

/* The token's subscriber and scope, when it is ours and well formed. */
static bool token_open(const struct server *s, const char *token, char **email,
		       char **scope)
{
	*email = *scope = NULL;
	if (!token_plausible(token) ||
	    !td_token_verify(&s->secret, token, email, scope))
		return false;
	bool ok = td_address_valid(*email, NULL, 0);
	if (ok && strcmp(*scope, "all") != 0) {
		char *slug = td_slugify(*scope);
		ok = *slug && strcmp(slug, *scope) == 0;
		free(slug);
	}
	if (!ok) {
		free(*email);
		free(*scope);
		*email = *scope = NULL;
	}
	return ok;
}

void td_http_bad_token(struct td_http_resp *resp)
{
	td_http_simple(resp, 400, bad_token_title, bad_token_text);
}

/* "every digest of Site" or "the NATO section of Site's digests". */
static void describe_scope(const struct server *s, struct td_buf *b,
			   const char *scope)
{
	if (strcmp(scope, "all") == 0) {
		td_buf_puts(b, "the digests of ");
		td_html_escape(b, s->co->render.site_name);
		return;
	}
	char *name = NULL;
	struct td_store *st = NULL;
	if (td_http_store(s->opt->desk.store_path, &st, NULL) == 0)
		name = td_store_tag_name(st, scope);
	td_buf_puts(b, "the &ldquo;");
	td_html_escape(b, name ? name : scope);
	td_buf_puts(b, "&rdquo; section of the digests of ");
	td_html_escape(b, s->co->render.site_name);
	free(name);
}

/* "../preferences/TOKEN": relative, so it works under whatever path a
 * proxy serves us (the page is /unsubscribe/TOKEN or /confirm/TOKEN). */
static void preferences_link(const struct server *s, struct td_buf *b,
			     const char *email, const char *text)
{
	char *tok = td_token_make_for(&s->secret, "preferences", email, "", 0);
	td_buf_puts(b, "<p><a id=\"preferences\" href=\"../preferences/");
	td_buf_puts(b, tok);
	td_buf_puts(b, "\">");
	td_html_escape(b, text);
	td_buf_puts(b, "</a>.</p>\n");
	free(tok);
}

static void unsubscribe_confirm(const struct server *s, const char *email,
				const char *scope, struct td_http_resp *resp)
{
	struct td_buf *b = &resp->body;
	resp->status = 200;
	public_open(b, "Unsubscribe?");
	td_buf_puts(b, "<p>Stop sending <strong>");
	describe_scope(s, b, scope);
	td_buf_puts(b, "</strong> to <strong>");
	td_html_escape(b, email);
	td_buf_puts(b, "</strong>?</p>\n"
		    /* no action: the form posts back to this very address,
		     * whatever path a proxy in front of us serves it under */
		    "<form method=\"post\"><input type=\"hidden\" name=\"confirm\" value=\"yes\">"
		    "<button type=\"submit\" id=\"unsubscribe\">Unsubscribe</button></form>\n");
	preferences_link(s, b, email, "Or choose which tags you get, and how often, "
			 "in your preferences");
	public_close(b);
}

static void unsubscribe_act(struct server *s, const char *email,
			    const char *scope, const char *how,
			    struct td_http_resp *resp)
{
	/* Never the run lock: a send may hold it for an hour, and Gmail
	 * sends its one-click POST once. The store's busy timeout lets this
	 * wait the milliseconds the send's recorder holds the write lock; the
	 * send asks td_roster_may_send before each message, so nothing goes
	 * out to this reader after the click. */
	struct td_err err = { 0, "" };
	struct td_store *st = NULL;
	int rc = td_http_store(s->opt->desk.store_path, &st, &err);
	if (!rc)
		rc = td_store_suppress(st, email, scope, "unsubscribed", how,
				       time(NULL), &err);
	if (rc) {
		td_log_warnx("serve: unsubscribe %s (%s): %s", email, scope, err.msg);
		td_http_simple(resp, 500, "Something went wrong",
			       "Your request could not be recorded; nothing has "
			       "changed. Please try again later.");
		return;
	}
	td_log_info("serve: unsubscribed %s from %s (%s)", email, scope, how);
	struct td_buf *b = &resp->body;
	resp->status = 200;
	public_open(b, "You are unsubscribed");
	td_buf_puts(b, "<p id=\"done\"><strong>");
	td_html_escape(b, email);
	td_buf_puts(b, "</strong> will no longer receive ");
	describe_scope(s, b, scope);
	td_buf_puts(b, ".</p>\n");
	preferences_link(s, b, email, "Changed your mind? Choose what you get, or "
			 "subscribe again, in your preferences");
	public_close(b);
}

static void handle_unsubscribe(struct server *s, const struct td_http_req *req,
			       const char *token, struct td_http_resp *resp)
{
	resp->csp = td_http_csp_public;
	resp->frame_options = "DENY";
	/* the token is in the URL: keep it out of any Referer */
	resp->referrer_policy = "no-referrer";
	const char *how = NULL;
	if (req->post) {
		/* What the body asks is checked before the token, so a
		 * request without it gets the same 400 whatever its token. */
		const char *oc = td_http_arg(req, "List-Unsubscribe");
		if (oc && strcmp(oc, "One-Click") == 0)
			how = "one-click";
		else if (td_http_arg(req, "confirm"))
			how = "form";
		else {
			td_http_bad_token(resp);
			return;
		}
	}
	char *email, *scope;
	if (!token_open(s, token, &email, &scope)) {
		td_http_bad_token(resp);
		return;
	}
	if (how)
		unsubscribe_act(s, email, scope, how, resp);
	else
		unsubscribe_confirm(s, email, scope, resp);
	free(email);
	free(scope);
}

/* ---- dispatch ---- */

static void route(struct server *s, const struct td_http_req *req,
		  struct td_http_resp *resp)
{
	static const char prefix[] = "/unsubscribe/";
	if (strncmp(req->path, prefix, sizeof prefix - 1) == 0) {
		handle_unsubscribe(s, req, req->path + sizeof prefix - 1, resp);
		return;
	}
	if (strcmp(req->path, "/unsubscribe") == 0) {
		td_http_bad_token(resp);
		return;
	}
	if (s->pub && td_public_handle(s->pub, req, resp))
		return;
	if (s->desk && td_desk_handle(s->desk, req, resp))
		return;
	td_http_simple(resp, 404, "Not found", "There is nothing here.");
	resp->csp = td_http_csp_public;
}

static enum MHD_Result send_resp(struct MHD_Connection *conn,
				 struct td_http_resp *resp)
{
	size_t len = resp->body.len;
	char *data = td_buf_steal(&resp->body);
	struct MHD_Response *r =
		MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(data);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
				resp->content_type ? resp->content_type :
						     "text/html; charset=utf-8");
	/* previews show subscribers' data: nothing is kept by caches */
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, "X-Frame-Options",
				resp->frame_options ? resp->frame_options : "DENY");
	MHD_add_response_header(r, "Referrer-Policy",
				resp->referrer_policy ? resp->referrer_policy :
							"same-origin");
	if (resp->csp)
		MHD_add_response_header(r, "Content-Security-Policy", resp->csp);
	if (resp->retry_after) {
		char ra[16];
		snprintf(ra, sizeof ra, "%u", resp->retry_after);
		MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, ra);
	}
	enum MHD_Result ret = MHD_queue_response(conn, resp->status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result refuse(struct MHD_Connection *conn, unsigned status,
			      const char *title, const char *message,
			      unsigned retry_after)
{
	struct td_http_resp resp;
	memset(&resp, 0, sizeof resp);
	td_buf_init(&resp.body, TD_BUF_NOLIMIT);
	td_http_simple(&resp, status, title, message);
	resp.csp = td_http_csp_public;
	resp.retry_after = retry_after;
	enum MHD_Result ret = send_resp(conn, &resp);
	td_buf_free(&resp.body);
	return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
				  const char *url, const char *method,
				  const char *version, const char *upload_data,
				  size_t *upload_size, void **con_cls)
{
	(void)version;
	struct server *s = cls;
	struct conn_ctx *cc = *con_cls;
	bool post = strcmp(method, MHD_HTTP_METHOD_POST) == 0;
	if (!cc) {
		/* headers are in: decide what can be decided before a body */
		cc = td_xcalloc(1, sizeof *cc);
		td_buf_init(&cc->body, MAX_BODY);
		*con_cls = cc;
		bool unsub = strncmp(url, "/unsubscribe", 12) == 0;
		client_of(s, conn, &cc->client);
		cc->refused = true;
		if (!post && strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
		    strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
			return refuse(conn, 405, "Method not allowed",
				      "Only GET and POST are served here.", 0);
		if (!s->desk) {
			/* public: every request counts, 404s included, so
			 * scanning for tokens is as slow as using them */
			unsigned ra = 60;
			if (!td_rate_take(s->rates, cc->client.key, &ra))
				return refuse(conn, 429, "Too many requests",
					      "Please wait a minute and try again.", ra);
		} else {
			if (!host_allowed(s, MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
									 MHD_HTTP_HEADER_HOST)))
				return refuse(conn, 421, "Wrong host",
					      "The editors' desk answers only to its "
					      "loopback address.", 0);
			/* the desk itself is local; what acts is limited */
			unsigned ra = 60;
			if ((unsub || post) && !td_rate_take(s->rates, cc->client.key, &ra))
				return refuse(conn, 429, "Too many requests",
					      "Please wait a minute and try again.", ra);
		}
		if (post) {
			const char *cl = MHD_lookup_connection_value(
				conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
			char *end;
			errno = 0;
			unsigned long long n = cl ? strtoull(cl, &end, 10) : 0;
			if (cl && (errno || *end || n > MAX_BODY))
				return refuse(conn, 413, "Request too large",
					      "Forms sent here are small; this one is not.", 0);
		}
		cc->refused = false;
		return MHD_YES;
	}
	if (cc->refused)
		return MHD_YES;
	if (*upload_size) {
		/* a chunked body can only be measured as it comes; past the
		 * cap the connection is closed */
		if (td_buf_append(&cc->body, upload_data, *upload_size) < 0)
			return MHD_NO;
		*upload_size = 0;
		return MHD_YES;
	}

	struct td_http_req req;
	memset(&req, 0, sizeof req);
	req.post = post;
	req.path = url;
	MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, collect_query, &req.args);
	if (post)
		parse_body(conn, &cc->body, &req.args);
	req.host = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
	req.origin = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin");
	req.referer = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
						  MHD_HTTP_HEADER_REFERER);
	req.sec_fetch_site = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
							 "Sec-Fetch-Site");
	req.client = cc->client.text;
	req.client_key = cc->client.key;

	struct td_http_resp resp;
	memset(&resp, 0, sizeof resp);
	td_buf_init(&resp.body, TD_BUF_NOLIMIT);
	resp.status = 200;
	route(s, &req, &resp);
	td_log_debug("serve: %s %s %u", method, url, resp.status);
	enum MHD_Result ret = send_resp(conn, &resp);
	td_buf_free(&resp.body);
	td_strv_free(&req.args);
	return ret;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)conn;
	(void)toe;
	struct conn_ctx *cc = *con_cls;
	if (!cc)
		return;
	td_buf_free(&cc->body);
	free(cc);
	*con_cls = NULL;
}

__attribute__((format(printf, 2, 0)))
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	struct td_buf b = TD_BUF_INIT;
	td_buf_vprintf(&b, fmt, ap);
	size_t n = b.len;
	while (n && (b.data[n - 1] == '\n' || b.data[n - 1] == '\r'))
		b.data[--n] = '\0';
	td_log_debug("serve: libmicrohttpd: %s", td_buf_cstr(&b));
	td_buf_free(&b);
}

/* ---- start and stop ---- */

union any_addr {
	struct sockaddr sa;
	struct sockaddr_in in;
	struct sockaddr_in6 in6;
};

/* "127.0.0.1:8025", "[::1]:8025", "localhost:8025". */
static int parse_listen(const char *listen, union any_addr *addr, bool *v6,
			struct td_err *err)
{
	memset(addr, 0, sizeof *addr);
	const char *colon = strrchr(listen ? listen : "", ':');
	if (!listen || !colon)
		return td_err_set(err, EX_USAGE, "serve: --listen %s: want ADDRESS:PORT",
				  listen ? listen : "(none)");
	char *end;
	errno = 0;
	unsigned long port = strtoul(colon + 1, &end, 10);
	if (errno || *end || colon[1] == '\0' || port > 65535)
		return td_err_set(err, EX_USAGE, "serve: --listen %s: bad port", listen);
	char *host = td_xstrndup(listen, (size_t)(colon - listen));
	int rc = 0;
	size_t hl = strlen(host);
	if (hl > 2 && host[0] == '[' && host[hl - 1] == ']') {
		host[hl - 1] = '\0';
		*v6 = true;
		addr->in6.sin6_family = AF_INET6;
		addr->in6.sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, host + 1, &addr->in6.sin6_addr) != 1)
			rc = td_err_set(err, EX_USAGE, "serve: --listen %s: bad IPv6 address",
					listen);
	} else {
		*v6 = false;
		addr->in.sin_family = AF_INET;
		addr->in.sin_port = htons((uint16_t)port);
		const char *h = strcmp(host, "localhost") == 0 ? "127.0.0.1" : host;
		if (inet_pton(AF_INET, h, &addr->in.sin_addr) != 1)
			rc = td_err_set(err, EX_USAGE, "serve: --listen %s: want a numeric "
					"address such as 127.0.0.1:8025", listen);
	}
	free(host);
	return rc;
}

static bool is_loopback(const union any_addr *a, bool v6)
{
	if (v6)
		return IN6_IS_ADDR_LOOPBACK(&a->in6.sin6_addr);
	return (ntohl(a->in.sin_addr.s_addr) >> 24) == 127;
}

static void server_free(struct server *s)
{
	td_public_free(s->pub);
	td_desk_free(s->desk);
	td_secret_free(&s->secret);
	td_rate_free(s->rates);
	free(s->trusted);
	free(s->conns);
	pthread_mutex_destroy(&s->conns_mu);
}

/* [public] trusted_proxies, each an address (serve.h). */
static int load_trusted(struct server *s, const struct td_strv *proxies,
			struct td_err *err)
{
	if (!proxies || !proxies->n)
		return 0;
	s->trusted = td_xcalloc(proxies->n, sizeof *s->trusted);
	for (size_t i = 0; i < proxies->n; i++) {
		struct trusted_proxy *t = &s->trusted[s->ntrusted];
		if (!parse_ip(proxies->v[i], strlen(proxies->v[i]), &t->family, t->addr))
			return td_err_set(err, EX_CONFIG, "serve: [public] trusted_proxies: "
					  "'%s' is not an IP address", proxies->v[i]);
		s->ntrusted++;
	}
	return 0;
}

static unsigned or_default(int v, unsigned dflt)
{
	return v > 0 ? (unsigned)v : dflt;
}

static int check_listen(const char *listen, bool public_mode, union any_addr *addr,
			bool *v6, struct td_err *err)
{
	int rc = parse_listen(listen, addr, v6, err);
	if (rc)
		return rc;
	if (!public_mode && !is_loopback(addr, *v6))
		/* previews show every subscriber's address and test sends mail
		 * anyone: without a login that is for this machine only */
		return td_err_set(err, EX_USAGE,
				  "serve: --listen %s: the editors' desk has no login and "
				  "listens on loopback only (127.0.0.1 or [::1]); "
				  "--public serves the unsubscribe pages anywhere", listen);
	return 0;
}

int td_serve_check_listen(const char *listen, bool public_mode, struct td_err *err)
{
	union any_addr addr;
	bool v6 = false;
	return check_listen(listen, public_mode, &addr, &v6, err);
}

int td_serve(const struct td_serve_options *opt, struct td_err *err)
{
	union any_addr addr;
	bool v6 = false;
	int rc = check_listen(opt->listen, opt->public_mode, &addr, &v6, err);
	if (rc)
		return rc;

	/* Block the stop signals before any thread starts (libmicrohttpd's
	 * and the mail thread inherit the mask), so they reach sigwait()
	 * below only. */
	sigset_t stop;
	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	sigset_t old;
	pthread_sigmask(SIG_BLOCK, &stop, &old);
	signal(SIGPIPE, SIG_IGN);

	struct server s;
	memset(&s, 0, sizeof s);
	s.opt = opt;
	s.co = &opt->desk.deliver.compose;
	s.rates = td_rate_new(RATE_BURST, RATE_PER_SEC);
	pthread_mutex_init(&s.conns_mu, NULL);
	/* The public side must verify the links already sent: a fresh
	 * secret would silently turn every one of them into a 400. */
	if (!opt->public_mode)
		rc = td_mkdir_parents(s.co->token_secret_file, err);
	if (!rc)
		rc = td_secret_load(s.co->token_secret_env, s.co->token_secret_file,
				    !opt->public_mode, &s.secret, err);
	if (!rc && !opt->public_mode)
		rc = td_desk_new(&opt->desk, &s.desk, err);
	if (!rc && opt->public_mode)
		rc = load_trusted(&s, opt->pub.trusted_proxies, err);
	if (!rc && opt->public_mode)
		rc = td_public_new(opt, &s.secret, &s.pub, err);
	if (rc) {
		server_free(&s);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		return rc;
	}

	char host[INET6_ADDRSTRLEN] = "";
	inet_ntop(v6 ? AF_INET6 : AF_INET,
		  v6 ? (const void *)&addr.in6.sin6_addr : (const void *)&addr.in.sin_addr,
		  host, sizeof host);
	snprintf(s.host, sizeof s.host, "%s%s%s", v6 ? "[" : "", host, v6 ? "]" : "");
	s.port = ntohs(v6 ? addr.in6.sin6_port : addr.in.sin_port);

	/* The desk: one thread, so its composer and store handles are never
	 * shared. The reader's pages: a pool of epoll threads, so a slow
	 * request (a store write waiting for a send's recorder) holds one
	 * worker, not the server; explicit limits, because libmicrohttpd's
	 * defaults stop at 1020 connections and never time one out, and a
	 * per-IP limit (not a timeout) is what keeps slowloris from filling
	 * the table (../shared/tech/BRIEF-2.md, section 4). */
	const struct td_public_options *po = &opt->pub;
	unsigned threads = opt->public_mode ? or_default(po->threads, DEF_THREADS) : 1;
	unsigned conn_limit = opt->public_mode ?
		or_default(po->max_connections, DEF_CONN_LIMIT) : CONN_LIMIT;
	unsigned per_ip = opt->public_mode ?
		or_default(po->max_connections_per_ip, DEF_CONN_PER_IP) : CONN_PER_IP;
	unsigned timeout = opt->public_mode ?
		or_default(po->connection_timeout, DEF_CONN_TIMEOUT) : CONN_TIMEOUT;
	if (conn_limit < threads)
		conn_limit = threads;   /* each worker gets limit / threads */
	if (opt->public_mode) {
		/* counted here, not by libmicrohttpd: trusted proxies are not
		 * limited (see conn_allow) */
		s.per_ip = per_ip;
		s.nconns = conn_limit + threads;
		s.conns = td_xcalloc(s.nconns, sizeof *s.conns);
		per_ip = 0;
	}
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | (v6 ? MHD_USE_IPv6 : 0) |
			 (opt->public_mode ? MHD_USE_EPOLL : MHD_USE_AUTO);
	struct MHD_Daemon *d = MHD_start_daemon(
		flags, 0, opt->public_mode ? conn_allow : NULL, &s, on_request, &s,
		MHD_OPTION_SOCK_ADDR, &addr.sa,
		MHD_OPTION_THREAD_POOL_SIZE, threads > 1 ? threads : 0u,
		MHD_OPTION_CONNECTION_LIMIT, conn_limit,
		MHD_OPTION_PER_IP_CONNECTION_LIMIT, per_ip,
		MHD_OPTION_CONNECTION_TIMEOUT, timeout,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONN_MEMORY,
		MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)LISTEN_BACKLOG,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
		MHD_OPTION_NOTIFY_CONNECTION, opt->public_mode ? conn_notify : NULL, &s,
		MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,
		MHD_OPTION_END);
	if (!d) {
		int e = errno;
		server_free(&s);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		return td_err_set(err, e == EADDRINUSE ? EX_TEMPFAIL : EX_UNAVAILABLE,
				  "serve: cannot listen on %s%s%s", opt->listen,
				  e ? ": " : "", e ? strerror(e) : "");
	}
	const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	if (di && di->port)
		s.port = di->port;
	td_log_info("serve: %s on http://%s:%u/ (stop with Ctrl-C)",
		    opt->public_mode ? "reader's pages" : "editors' desk", s.host, s.port);

	int sig = 0;
	while (sigwait(&stop, &sig) != 0)
		;
	td_log_info("serve: stopping (signal %d)", sig);
	MHD_stop_daemon(d);
	server_free(&s);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return 0;
}
