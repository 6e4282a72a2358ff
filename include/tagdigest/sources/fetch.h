/*
 * fetch: downloading feeds, many at once, with libcurl's multi interface.
 *
 * http://, https:// and file:// URLs. Conditional GET with the ETag and
 * Last-Modified remembered from the last success (a 304 is "not modified"
 * and costs no body); compressed responses accepted (Accept-Encoding from
 * what libcurl supports); redirects followed up to max_redirects; connect
 * and total timeouts; the body capped at max_bytes while it downloads (the
 * transfer is aborted past the cap, not after); a User-Agent naming
 * tagdigest and its version. At most `parallel` transfers run at once.
 *
 * Every request gets a result: OK with the body, NOT_MODIFIED, or ERROR
 * with a reason a person can act on ("HTTP 404 Not Found", "timed out
 * after 30 s", "body larger than 10485760 bytes", "could not resolve
 * host"); one failing source never stops the others.
 *
 * Ownership: results are filled by td_fetch_all and released with
 * td_fetch_result_free; requests are borrowed. td_fetch_each hands each
 * result to a callback the moment its transfer ends and frees it after,
 * so a caller that uses the body there and drops it holds at most
 * `parallel` bodies at once, however many requests there are.
 */
#ifndef TAGDIGEST_FETCH_H
#define TAGDIGEST_FETCH_H

#include <stddef.h>

#include "tagdigest/core/err.h"

struct td_fetch_options {
	int parallel;           /* transfers at once, >= 1 */
	int timeout;            /* seconds for a whole transfer */
	int connect_timeout;    /* seconds */
	long max_bytes;         /* body cap */
	int max_redirects;
};

struct td_fetch_request {
	const char *url;
	const char *etag;            /* from the last success, or NULL */
	const char *last_modified;   /* from the last success, or NULL */
};

enum td_fetch_status { TD_FETCH_OK, TD_FETCH_NOT_MODIFIED, TD_FETCH_ERROR };

struct td_fetch_result {
	enum td_fetch_status status;
	long http_code;          /* 0 for file:// or when no response came */
	char *body;              /* OK: the (decompressed) body, NUL-terminated */
	size_t len;
	char *content_type;      /* response Content-Type, or NULL */
	char *etag;              /* response ETag, or NULL */
	char *last_modified;     /* response Last-Modified, or NULL */
	char *final_url;         /* after redirects */
	/* The final response's Content-Location, resolved against final_url;
	 * NULL when absent, unusable or not http(s). When set it is the base
	 * for relative URLs in the body, as feedparser takes it (RFC 2616
	 * 14.14 made it the base URI; RFC 9110 keeps it as the address of
	 * the representation sent), else final_url is. */
	char *content_location;
	char error[512];         /* ERROR: why */
};

/* Fetches n requests; results[i] answers reqs[i]. Returns 0 (even when
 * some requests failed) or EX_SOFTWARE when libcurl cannot start. */
int td_fetch_all(const struct td_fetch_options *opt,
		 const struct td_fetch_request *reqs, size_t n,
		 struct td_fetch_result *results, struct td_err *err);

/* Called once for each request that gets an answer, as soon as it has it
 * (so in the order transfers end): r answers reqs[i]. The callback may
 * take any of r's strings (setting the field to NULL); the rest is freed
 * when it returns. It runs in the caller's thread while the transfers go
 * on in one of td_fetch_each's own, so a slow callback does not eat into
 * their timeouts; an answer keeps its slot until its callback returns
 * (at most `parallel` bodies held). Non-zero stops the whole fetch
 * (transfers in flight are dropped, answers not yet handed over are freed
 * without a callback) and is returned by td_fetch_each; the callback sets
 * err. */
typedef int (*td_fetch_cb)(void *ctx, size_t i, struct td_fetch_result *r,
			   struct td_err *err);

/* Fetches n requests, handing each result to cb. Returns 0, what cb
 * returned, or EX_SOFTWARE when libcurl fails (then the requests not yet
 * answered get no callback). */
int td_fetch_each(const struct td_fetch_options *opt,
		  const struct td_fetch_request *reqs, size_t n,
		  td_fetch_cb cb, void *ctx, struct td_err *err);
void td_fetch_result_free(struct td_fetch_result *r);

#endif
