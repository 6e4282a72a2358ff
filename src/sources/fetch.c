/*
 * fetch.c: downloads feeds with libcurl's multi interface (see fetch.h).
 *
 * One multi handle, in a thread of its own, drives at most opt->parallel
 * easy handles; when one finishes and the caller is done with its answer,
 * the next request is added, so a slow source holds one slot and never the
 * whole run. Every transfer is bounded by CURLOPT_TIMEOUT, which
 * is also what bounds the event loop. Each easy handle gets its own state
 * (struct xfer): the capped body buffer, the headers of the response being
 * read, libcurl's error buffer. When a transfer ends, that state becomes a
 * td_fetch_result with a message a person can act on; nothing a server
 * sends (status line, header values) reaches a message or a later request
 * without its control characters removed or the value refused.
 */
#include "tagdigest/sources/fetch.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tagdigest/core/buf.h"
#include "tagdigest/core/log.h"
#include "tagdigest/core/util.h"
#include "tagdigest/core/version.h"

#define FETCH_USER_AGENT "tagdigest/" TD_VERSION

/* What one running transfer owns. */
struct xfer {
	CURL *curl;
	size_t idx;                  /* answers reqs[idx] */
	struct td_buf body;          /* capped at max_bytes */
	bool too_big;                /* the write callback refused data */
	struct curl_slist *headers;  /* conditional-GET request headers */
	/* Captured from the response being read; reset at each status
	 * line, so after redirects they belong to the final response. */
	char *content_type;
	char *etag;
	char *last_modified;
	char *content_location;      /* as sent: resolved in xfer_finish */
	char reason[128];            /* reason phrase, sanitised */
	char errbuf[CURL_ERROR_SIZE];
};

/* ---- callbacks -------------------------------------------------------- */

static size_t write_cb(char *data, size_t size, size_t nmemb, void *user)
{
	struct xfer *x = user;
	size_t n = size * nmemb;

	/* td_buf refuses an append past its cap and stays unchanged, so at
	 * most max_bytes are ever held. Returning short makes libcurl abort
	 * the transfer now (CURLE_WRITE_ERROR) instead of reading the rest. */
	if (td_buf_append(&x->body, data, n) < 0) {
		x->too_big = true;
		return 0;
	}
	return n;
}

static void xfer_clear_headers(struct xfer *x)
{
	free(x->content_type);
	free(x->etag);
	free(x->last_modified);
	free(x->content_location);
	x->content_type = x->etag = x->last_modified = NULL;
	x->content_location = NULL;
	x->reason[0] = '\0';
}

/* A header value trimmed of surrounding blanks, or NULL when it is empty
 * or holds control characters: the ETag and Last-Modified go back out in
 * request headers next time, so a stray CR must never survive. */
static char *header_value(const char *p, size_t n)
{
	while (n && (*p == ' ' || *p == '\t')) {
		p++;
		n--;
	}
	while (n && (p[n - 1] == ' ' || p[n - 1] == '\t' || p[n - 1] == '\r' ||
		     p[n - 1] == '\n'))
		n--;
	if (n == 0)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return NULL;
	}
	return td_xstrndup(p, n);
}

/* Copies at most cap-1 bytes of src[0..n) into dst, replacing control
 * characters: a reason phrase is the server's text and goes into logs. */
static void copy_printable(char *dst, size_t cap, const char *src, size_t n)
{
	size_t j = 0;
	for (size_t i = 0; i < n && j + 1 < cap; i++) {
		unsigned char c = (unsigned char)src[i];
		dst[j++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
	}
	dst[j] = '\0';
}

/* Stores the value of header `name` (case-insensitive) into *slot when
 * line is that header. */
static bool take_header(const char *line, size_t n, const char *name,
			char **slot)
{
	size_t len = strlen(name);
	if (n <= len || line[len] != ':' || strncasecmp(line, name, len) != 0)
		return false;
	free(*slot);
	*slot = header_value(line + len + 1, n - len - 1);
	return true;
}

static size_t header_cb(char *line, size_t size, size_t nitems, void *user)
{
	struct xfer *x = user;
	size_t n = size * nitems;

	/* libcurl hands over every response it reads: redirects, 1xx and
	 * proxy CONNECT answers too. A status line starts a new response,
	 * so forget what the previous one said. */
	if (n >= 5 && memcmp(line, "HTTP/", 5) == 0) {
		xfer_clear_headers(x);
		/* "HTTP/1.1 404 Not Found": the reason follows the code.
		 * HTTP/2 has none, and then it stays empty. */
		const char *p = memchr(line, ' ', n);
		if (p) {
			size_t rest = n - (size_t)(p - line);
			while (rest && *p == ' ') {
				p++;
				rest--;
			}
			while (rest && *p != ' ' && *p != '\r' && *p != '\n') {
				p++;
				rest--;
			}
			while (rest && *p == ' ') {
				p++;
				rest--;
			}
			while (rest && (p[rest - 1] == '\r' ||
					p[rest - 1] == '\n' ||
					p[rest - 1] == ' '))
				rest--;
			copy_printable(x->reason, sizeof x->reason, p, rest);
		}
		return n;
	}
	if (!take_header(line, n, "Content-Type", &x->content_type) &&
	    !take_header(line, n, "ETag", &x->etag) &&
	    !take_header(line, n, "Last-Modified", &x->last_modified))
		take_header(line, n, "Content-Location", &x->content_location);
	return n;
}

/* ---- setting up one transfer ------------------------------------------ */

static void xfer_free(struct xfer *x)
{
	if (!x)
		return;
	if (x->curl)
		curl_easy_cleanup(x->curl);
	curl_slist_free_all(x->headers);
	td_buf_free(&x->body);
	xfer_clear_headers(x);
	free(x);
}

/* A conditional-GET header, unless the stored value could break the
 * request (empty, or CR/LF that would inject a header of its own). */
static int add_condition(struct xfer *x, const char *name, const char *value)
{
	if (!value || !value[0] || strpbrk(value, "\r\n"))
		return 0;
	char *line = td_xasprintf("%s: %s", name, value);
	struct curl_slist *l = curl_slist_append(x->headers, line);
	free(line);
	if (!l)
		return -1;
	x->headers = l;
	return 0;
}

/* Creates the easy handle for reqs[idx]; NULL with `why` filled when it
 * cannot be set up (the request then fails alone). */
static struct xfer *xfer_new(const struct td_fetch_options *opt,
			     const struct td_fetch_request *req, size_t idx,
			     char *why, size_t why_len)
{
	struct xfer *x = td_xcalloc(1, sizeof *x);
	x->idx = idx;
	td_buf_init(&x->body, (size_t)opt->max_bytes);

	if (!req->url || !req->url[0]) {
		snprintf(why, why_len, "no URL");
		goto fail;
	}
	x->curl = curl_easy_init();
	if (!x->curl) {
		snprintf(why, why_len, "libcurl could not create a transfer");
		goto fail;
	}
	if (add_condition(x, "If-None-Match", req->etag) < 0 ||
	    add_condition(x, "If-Modified-Since", req->last_modified) < 0) {
		snprintf(why, why_len, "libcurl could not build the headers");
		goto fail;
	}

	CURL *c = x->curl;
	CURLcode rc = CURLE_OK;
	/* Every option matters (the protocol lists are the security
	 * boundary), so the first one that does not take fails the request. */
#define SET(opt_, val_)                                                     \
	do {                                                                \
		if (rc == CURLE_OK)                                         \
			rc = curl_easy_setopt(c, opt_, val_);               \
	} while (0)
	SET(CURLOPT_ERRORBUFFER, x->errbuf);
	SET(CURLOPT_URL, req->url);
	/* file: is for sources on this machine; a server must never be able
	 * to redirect us to one. */
	SET(CURLOPT_PROTOCOLS_STR, "http,https,file");
	SET(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	SET(CURLOPT_FOLLOWLOCATION, 1L);
	SET(CURLOPT_MAXREDIRS, (long)opt->max_redirects);
	SET(CURLOPT_CONNECTTIMEOUT, (long)opt->connect_timeout);
	SET(CURLOPT_TIMEOUT, (long)opt->timeout);
	/* "": every encoding this libcurl can decode (gzip, br, zstd...). */
	SET(CURLOPT_ACCEPT_ENCODING, "");
	SET(CURLOPT_USERAGENT, FETCH_USER_AGENT);
	/* No SIGALRM for DNS timeouts: we may not own the process's signals. */
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_HTTPHEADER, x->headers);
	SET(CURLOPT_WRITEFUNCTION, write_cb);
	SET(CURLOPT_WRITEDATA, x);
	SET(CURLOPT_HEADERFUNCTION, header_cb);
	SET(CURLOPT_HEADERDATA, x);
	/* Refuses a declared Content-Length over the cap before any body is
	 * read; the write callback still enforces the cap on what arrives
	 * (chunked, close-delimited or decompressed bodies). */
	SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)opt->max_bytes);
	SET(CURLOPT_PRIVATE, (void *)x);
#undef SET
	if (rc != CURLE_OK) {
		snprintf(why, why_len, "libcurl refused an option: %s",
			 curl_easy_strerror(rc));
		goto fail;
	}
	return x;
fail:
	xfer_free(x);
	return NULL;
}

/* ---- turning a finished transfer into a result ------------------------ */

/* Content-Location made absolute against the URL the body came from (it
 * may be relative), or NULL. Only http(s) is kept: the value becomes the
 * base of every relative link in the feed, and a server must not be able
 * to point those at file: or javascript:. */
static char *resolve_location(const char *final_url, const char *loc)
{
	if (!final_url || !loc)
		return NULL;
	char *out = NULL, *scheme = NULL;
	CURLU *u = curl_url();
	/* Setting a URL on a handle that holds one resolves it as a
	 * reference relative to the first (libcurl's URL API). */
	if (u && curl_url_set(u, CURLUPART_URL, final_url, 0) == CURLUE_OK &&
	    curl_url_set(u, CURLUPART_URL, loc, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
	    (strcmp(scheme, "http") == 0 || strcmp(scheme, "https") == 0)) {
		char *abs = NULL;
		if (curl_url_get(u, CURLUPART_URL, &abs, 0) == CURLUE_OK)
			out = td_xstrdup(abs);
		curl_free(abs);
	}
	curl_free(scheme);
	curl_url_cleanup(u);
	return out;
}

static void set_error(struct td_fetch_result *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void set_error(struct td_fetch_result *r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	r->status = TD_FETCH_ERROR;
	vsnprintf(r->error, sizeof r->error, fmt, ap);
	va_end(ap);
}

/* libcurl's own words, or its generic text when the buffer is empty. */
static const char *curl_detail(const struct xfer *x, CURLcode rc)
{
	return x->errbuf[0] ? x->errbuf : curl_easy_strerror(rc);
}

static void explain_curl_error(const struct td_fetch_options *opt,
			       struct xfer *x, CURLcode rc,
			       struct td_fetch_result *r)
{
	/* A write error is ours when the callback refused data past the cap;
	 * otherwise it falls to the generic text below. */
	if (rc == CURLE_WRITE_ERROR && x->too_big)
		rc = CURLE_FILESIZE_EXCEEDED;
	switch (rc) {
	case CURLE_FILESIZE_EXCEEDED:
		set_error(r, "body larger than %ld bytes", opt->max_bytes);
		return;
	case CURLE_OPERATION_TIMEDOUT: {
		/* Say which phase stalled: a name server, a host that does
		 * not answer, or a server that answers too slowly. */
		curl_off_t resolved = 0, connected = 0, total = 0;
		curl_easy_getinfo(x->curl, CURLINFO_NAMELOOKUP_TIME_T,
				  &resolved);
		curl_easy_getinfo(x->curl, CURLINFO_CONNECT_TIME_T, &connected);
		curl_easy_getinfo(x->curl, CURLINFO_TOTAL_TIME_T, &total);
		int limit = opt->connect_timeout < opt->timeout ?
				    opt->connect_timeout : opt->timeout;
		/* The connect timeout also covers the TLS handshake, which
		 * starts after TCP connected: tell it by the time spent. */
		if (connected > 0 && limit < opt->timeout &&
		    total < (curl_off_t)opt->timeout * 1000000 - 500000)
			set_error(r, "could not connect within %d s "
				  "(TLS handshake)", limit);
		else if (connected > 0)
			set_error(r, "timed out after %d s", opt->timeout);
		else if (resolved == 0)
			set_error(r, "could not resolve host within %d s",
				  limit);
		else
			set_error(r, "could not connect within %d s", limit);
		return;
	}
	case CURLE_COULDNT_RESOLVE_HOST: {
		char *host = NULL;
		CURLU *u = curl_url();
		if (u && curl_url_set(u, CURLUPART_URL, r->final_url ?
				      r->final_url : "", 0) == CURLUE_OK)
			curl_url_get(u, CURLUPART_HOST, &host, 0);
		if (host)
			set_error(r, "could not resolve host %s", host);
		else
			set_error(r, "could not resolve host");
		curl_free(host);
		curl_url_cleanup(u);
		return;
	}
	case CURLE_COULDNT_CONNECT: {
		long os_errno = 0;
		curl_easy_getinfo(x->curl, CURLINFO_OS_ERRNO, &os_errno);
		if (os_errno == ECONNREFUSED)
			set_error(r, "could not connect: connection refused");
		else if (os_errno)
			set_error(r, "could not connect: %s",
				  strerror((int)os_errno));
		else
			set_error(r, "could not connect: %s",
				  curl_detail(x, rc));
		return;
	}
	case CURLE_TOO_MANY_REDIRECTS:
		set_error(r, "more than %d redirects", opt->max_redirects);
		return;
	case CURLE_UNSUPPORTED_PROTOCOL:
		/* A response came, so this is a redirect's target (libcurl
		 * has already made it the effective URL), e.g. a
		 * Location: file:///etc/passwd. */
		if (r->http_code != 0)
			set_error(r, "redirect to %s refused: only http and "
				  "https are followed", r->final_url ?
				  r->final_url : "another URL scheme");
		else
			set_error(r, "URL scheme not supported (http, https "
				  "or file)");
		return;
	case CURLE_URL_MALFORMAT:
		set_error(r, "bad URL: %s", curl_detail(x, rc));
		return;
	case CURLE_FILE_COULDNT_READ_FILE:
		set_error(r, "could not read file: %s", curl_detail(x, rc));
		return;
	case CURLE_PEER_FAILED_VERIFICATION:
		set_error(r, "TLS: server certificate not trusted: %s",
			  curl_detail(x, rc));
		return;
	case CURLE_SSL_CONNECT_ERROR:
		set_error(r, "TLS handshake failed: %s", curl_detail(x, rc));
		return;
	case CURLE_BAD_CONTENT_ENCODING:
		set_error(r, "could not decompress the body: %s",
			  curl_detail(x, rc));
		return;
	case CURLE_SSL_ENGINE_NOTFOUND:
	case CURLE_SSL_ENGINE_SETFAILED:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_SHUTDOWN_FAILED:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_SSL_CLIENTCERT:
		set_error(r, "TLS error: %s", curl_detail(x, rc));
		return;
	case CURLE_GOT_NOTHING:
		set_error(r, "the server closed the connection without "
			  "answering");
		return;
	default:
		break;
	}
	set_error(r, "%s", curl_detail(x, rc));
}

static void xfer_finish(const struct td_fetch_options *opt, struct xfer *x,
			CURLcode rc, struct td_fetch_result *r)
{
	char *url = NULL;
	long code = 0;
	char *scheme = NULL;

	curl_easy_getinfo(x->curl, CURLINFO_EFFECTIVE_URL, &url);
	curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_getinfo(x->curl, CURLINFO_SCHEME, &scheme);
	r->final_url = url ? td_xstrdup(url) : NULL;
	r->http_code = code;

	if (rc != CURLE_OK) {
		explain_curl_error(opt, x, rc, r);
		return;
	}
	bool is_file = scheme && strcasecmp(scheme, "file") == 0;
	if (code == 304) {
		r->status = TD_FETCH_NOT_MODIFIED;
	} else if ((code >= 200 && code <= 299) || (is_file && code == 0)) {
		r->status = TD_FETCH_OK;
		r->len = x->body.len;
		r->body = td_buf_steal(&x->body);   /* "" when empty */
	} else if (code == 0) {
		set_error(r, "no response");
		return;
	} else {
		set_error(r, "HTTP %ld%s%s", code, x->reason[0] ? " " : "",
			  x->reason);
		return;
	}
	/* file:// has no response headers worth keeping. */
	if (!is_file) {
		r->content_type = x->content_type;
		r->etag = x->etag;
		r->last_modified = x->last_modified;
		x->content_type = x->etag = x->last_modified = NULL;
		r->content_location = resolve_location(r->final_url,
						       x->content_location);
	}
}

/* ---- the loop --------------------------------------------------------- */

static bool options_valid(const struct td_fetch_options *opt)
{
	return opt && opt->parallel >= 1 && opt->timeout >= 1 &&
	       opt->connect_timeout >= 1 && opt->max_bytes >= 1 &&
	       opt->max_redirects >= 0;
}

/*
 * The transfers run in a thread of their own while the caller's thread
 * hands each finished one to the callback. A callback may take seconds (a
 * big feed parsed and stored, a store waiting for its lock); were it run
 * between the steps of the other transfers, they would stand still
 * meanwhile with their timeouts running, and time out while their data
 * waited in the socket. A finished result keeps its slot until the
 * callback is done with it, so at most `parallel` bodies are held at
 * once, counting the one being handled, however many requests there are.
 * Only the transfer thread touches the multi and easy handles; the
 * caller's thread only wakes it (curl_multi_wakeup) when a slot frees.
 */
struct answer {
	size_t i;
	struct td_fetch_result r;
};

struct run {
	const struct td_fetch_options *opt;
	const struct td_fetch_request *reqs;
	size_t n;
	CURLM *multi;
	pthread_mutex_t mu;
	pthread_cond_t ready;       /* an answer queued, or the loop ended */
	struct answer *queue;       /* ring of opt->parallel answers */
	size_t head, queued;
	int held;                   /* answers queued or in the callback */
	bool stop;                  /* the callback said stop */
	bool ended;                 /* the transfer loop is over */
	struct td_err err;          /* the loop's own failure (libcurl) */
};

/* The transfer thread's side: queue one answer for the callback. */
static void post_answer(struct run *run, size_t i, struct td_fetch_result *r)
{
	pthread_mutex_lock(&run->mu);
	size_t at = (run->head + run->queued) % (size_t)run->opt->parallel;
	run->queue[at].i = i;
	run->queue[at].r = *r;
	run->queued++;
	run->held++;
	pthread_cond_signal(&run->ready);
	pthread_mutex_unlock(&run->mu);
}

/* Slots free for new transfers; false once the callback said stop. */
static bool free_slots(struct run *run, int active, int *slots_free)
{
	pthread_mutex_lock(&run->mu);
	bool go = !run->stop;
	*slots_free = run->opt->parallel - active - run->held;
	pthread_mutex_unlock(&run->mu);
	return go;
}

static void *transfers(void *arg)
{
	struct run *run = arg;
	const struct td_fetch_options *opt = run->opt;
	struct td_err *err = &run->err;
	/* the transfers in flight, so a libcurl failure (or a callback that
	 * stops the run) can release them (curl_multi_get_handles is newer
	 * than our 7.88.1) */
	struct xfer **slots = td_xcalloc((size_t)opt->parallel, sizeof *slots);
	size_t next = 0;
	int active = 0, slots_free;
	while (free_slots(run, active, &slots_free) && (next < run->n || active > 0)) {
		/* Fill free slots; a request that cannot start fails alone. */
		for (; slots_free > 0 && next < run->n; slots_free--) {
			size_t i = next++;
			char why[256];
			struct xfer *x = xfer_new(opt, &run->reqs[i], i, why, sizeof why);
			if (x && curl_multi_add_handle(run->multi, x->curl) != CURLM_OK) {
				snprintf(why, sizeof why, "libcurl could not add the transfer");
				xfer_free(x);
				x = NULL;
			}
			if (!x) {
				struct td_fetch_result r = { 0 };
				set_error(&r, "%s", why);
				post_answer(run, i, &r);
				continue;
			}
			for (int k = 0; k < opt->parallel; k++)
				if (!slots[k]) {
					slots[k] = x;
					break;
				}
			active++;
		}
		int running = 0, finished = 0;
		CURLMcode mc = active ? curl_multi_perform(run->multi, &running) : CURLM_OK;
		if (mc != CURLM_OK) {
			td_err_set(err, EX_SOFTWARE, "fetch: libcurl: %s", curl_multi_strerror(mc));
			break;
		}
		CURLMsg *msg;
		int left;
		while (active && (msg = curl_multi_info_read(run->multi, &left))) {
			if (msg->msg != CURLMSG_DONE)
				continue;
			CURL *easy = msg->easy_handle;
			CURLcode result = msg->data.result;
			char *priv = NULL;
			curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
			struct xfer *x = (struct xfer *)(void *)priv;
			struct td_fetch_result r = { 0 };
			size_t i = x->idx;
			xfer_finish(opt, x, result, &r);
			if (r.status == TD_FETCH_ERROR)
				td_log_debug("fetch: %s: %s", run->reqs[i].url, r.error);
			curl_multi_remove_handle(run->multi, easy);
			for (int k = 0; k < opt->parallel; k++)
				if (slots[k] == x)
					slots[k] = NULL;
			/* the transfer's own memory is gone before the caller
			 * starts on the body */
			xfer_free(x);
			active--;
			finished++;
			post_answer(run, i, &r);
		}
		/* Wait only when nothing ended: a slot the callback frees
		 * wakes this at once. Each wait is at most 1 s, and every
		 * transfer has CURLOPT_TIMEOUT, so the loop ends. */
		if (!finished) {
			mc = curl_multi_poll(run->multi, NULL, 0, 1000, NULL);
			if (mc != CURLM_OK) {
				td_err_set(err, EX_SOFTWARE, "fetch: libcurl: %s",
					   curl_multi_strerror(mc));
				break;
			}
		}
	}

	/* Only after a libcurl failure or a callback that stopped the run:
	 * release what is still in flight. */
	for (int k = 0; k < opt->parallel; k++) {
		if (!slots[k])
			continue;
		curl_multi_remove_handle(run->multi, slots[k]->curl);
		xfer_free(slots[k]);
	}
	free(slots);
	pthread_mutex_lock(&run->mu);
	run->ended = true;
	pthread_cond_signal(&run->ready);
	pthread_mutex_unlock(&run->mu);
	return NULL;
}

int td_fetch_each(const struct td_fetch_options *opt,
		  const struct td_fetch_request *reqs, size_t n,
		  td_fetch_cb cb, void *ctx, struct td_err *err)
{
	if (n == 0)
		return 0;
	if (!options_valid(opt))
		return td_err_set(err, EX_SOFTWARE, "fetch: bad options");
	/* libcurl counts init/cleanup pairs, so this nests with the SMTP
	 * transport's and only the outermost pair does the work. It is not
	 * thread-safe: it runs here, before the transfer thread exists. */
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return td_err_set(err, EX_SOFTWARE,
				  "fetch: libcurl failed to initialise");
	struct run run = { .opt = opt, .reqs = reqs, .n = n, .multi = curl_multi_init() };
	if (!run.multi) {
		curl_global_cleanup();
		return td_err_set(err, EX_SOFTWARE,
				  "fetch: libcurl failed to initialise");
	}
	run.queue = td_xcalloc((size_t)opt->parallel, sizeof *run.queue);
	pthread_mutex_init(&run.mu, NULL);
	pthread_cond_init(&run.ready, NULL);
	pthread_t thread;
	int rc = pthread_create(&thread, NULL, transfers, &run);
	bool started = rc == 0;
	if (!started) {
		rc = td_err_set(err, EX_OSERR, "fetch: cannot start a thread: %s", strerror(rc));
		run.ended = true;
	}

	/* The caller's side: each answer to the callback as it comes; after
	 * a non-zero return the rest are only freed. */
	pthread_mutex_lock(&run.mu);
	for (;;) {
		while (!run.queued && !run.ended)
			pthread_cond_wait(&run.ready, &run.mu);
		if (!run.queued)
			break;
		struct answer a = run.queue[run.head];
		run.head = (run.head + 1) % (size_t)opt->parallel;
		run.queued--;
		pthread_mutex_unlock(&run.mu);
		if (!rc)
			rc = cb(ctx, a.i, &a.r, err);
		td_fetch_result_free(&a.r);
		pthread_mutex_lock(&run.mu);
		run.held--;
		run.stop = run.stop || rc;
		curl_multi_wakeup(run.multi);
	}
	pthread_mutex_unlock(&run.mu);
	if (started)
		pthread_join(thread, NULL);
	if (!rc && run.err.code) {
		rc = run.err.code;
		if (err)
			*err = run.err;
	}
	pthread_cond_destroy(&run.ready);
	pthread_mutex_destroy(&run.mu);
	free(run.queue);
	curl_multi_cleanup(run.multi);
	curl_global_cleanup();
	return rc;
}

/* td_fetch_all on top of td_fetch_each: each answer lands in its slot. */
struct collect {
	struct td_fetch_result *results;
	bool *done;
};

static int collect_cb(void *ctx, size_t i, struct td_fetch_result *r,
		      struct td_err *err)
{
	(void)err;
	struct collect *c = ctx;
	c->results[i] = *r;
	memset(r, 0, sizeof *r);   /* the strings moved with it */
	c->done[i] = true;
	return 0;
}

int td_fetch_all(const struct td_fetch_options *opt,
		 const struct td_fetch_request *reqs, size_t n,
		 struct td_fetch_result *results, struct td_err *err)
{
	for (size_t i = 0; i < n; i++)
		memset(&results[i], 0, sizeof results[i]);
	if (n == 0)
		return 0;
	struct collect c = { results, td_xcalloc(n, sizeof *c.done) };
	int rc = td_fetch_each(opt, reqs, n, collect_cb, &c, err);
	/* every request gets a result, even when libcurl failed */
	for (size_t i = 0; rc && i < n; i++)
		if (!c.done[i])
			set_error(&results[i], "%s", err ? err->msg : "libcurl failed");
	free(c.done);
	return rc;
}

void td_fetch_result_free(struct td_fetch_result *r)
{
	if (!r)
		return;
	free(r->body);
	free(r->content_type);
	free(r->etag);
	free(r->last_modified);
	free(r->final_url);
	free(r->content_location);
	r->body = r->content_type = r->etag = r->last_modified = NULL;
	r->final_url = r->content_location = NULL;
	r->len = 0;
}
