/*
 * post.c: releasing a struct td_post, and the keys that say two sources'
 * items are one post (see post.h).
 *
 * Kept in its own file because every source (feeds, the posts folder)
 * builds posts and every consumer frees them; none of them should need to
 * know the others to do it.
 */
#include "tagdigest/sources/post.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tagdigest/core/buf.h"

void td_post_free(struct td_post *post)
{
	if (!post)
		return;
	free(post->guid);
	free(post->url);
	free(post->title);
	free(post->author);
	td_strv_free(&post->tags);
	td_strv_free(&post->tag_names);
	free(post->excerpt_html);
	free(post->excerpt_text);
	free(post->content_html);
	free(post->content_hash);
	/* Zeroed so that a second free, or freeing a post a failed parse
	 * left behind, is harmless. */
	memset(post, 0, sizeof *post);
}

static bool is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static char upper(char c)
{
	return c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
}

/* Length of the scheme of u ("https" in "https://..."), 0 when none. */
static size_t scheme_len(const char *u)
{
	size_t i = 0;
	if (!is_alpha(u[0]))
		return 0;
	while (is_alpha(u[i]) || (u[i] >= '0' && u[i] <= '9') || u[i] == '+' ||
	       u[i] == '-' || u[i] == '.')
		i++;
	return u[i] == ':' ? i : 0;
}

/* Appends s[0..n) with the hex digits of every %-escape uppercased
 * (RFC 3986 6.2.2.1: %7e and %7E are one character). */
static void put_escaped_upper(struct td_buf *b, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		bool esc = i >= 1 && s[i - 1] == '%';
		bool esc2 = i >= 2 && s[i - 2] == '%';
		td_buf_putc(b, esc || esc2 ? upper(s[i]) : s[i]);
	}
}

/* Whether the query parameter p[0..n) is utm_* tracking. */
static bool is_tracking(const char *p, size_t n)
{
	return n >= 4 && strncasecmp(p, "utm_", 4) == 0;
}

/* The host of an absolute http(s) URL u: *host points into u, *hn is its
 * length, *an the length of the authority it ends (user info aside);
 * false when u is no such URL or has no host. */
static bool http_host(const char *u, const char **host, size_t *hn, size_t *an,
		      bool *https)
{
	size_t sl = scheme_len(u);
	*https = sl == 5 && strncasecmp(u, "https", 5) == 0;
	if (!(*https || (sl == 4 && strncasecmp(u, "http", 4) == 0)) ||
	    strncmp(u + sl, "://", 3) != 0)
		return false;
	const char *auth = u + sl + 3;
	*an = strcspn(auth, "/?#");
	/* user info says who asked, not what was asked for */
	for (size_t i = *an; i > 0; i--)
		if (auth[i - 1] == '@') {
			auth += i;
			*an -= i;
			break;
		}
	*hn = auth[0] == '[' ? strcspn(auth, "]") + 1 : strcspn(auth, ":");
	if (*hn > *an)
		*hn = *an;
	*host = auth;
	return *hn > 0;
}

/* A route in a fragment ("#!/a", "#/a"): a single-page site's page, not
 * a place on one page. "#!/" and "#/" alone are its home page. */
static bool is_route(const char *frag)
{
	if (frag[0] != '#' || (frag[1] != '!' && frag[1] != '/'))
		return false;
	const char *r = frag + 2;
	if (frag[1] == '!' && *r == '/')
		r++;
	return *r != '\0';
}

/* The key of an absolute http(s) URL (see post.h); `permalink` adds what
 * only a page address may lose: fragment, trailing slash, utm_*. */
static char *http_key(const char *u, bool permalink)
{
	const char *auth;
	size_t hn, an;
	bool https;
	if (!http_host(u, &auth, &hn, &an, &https))
		return NULL;
	const char *port = auth + hn;
	size_t pn = an - hn;
	if (pn > 0 && port[0] == ':') {
		port++;
		pn--;
	}
	/* "0080" is port 80 too */
	while (pn > 1 && port[0] == '0') {
		port++;
		pn--;
	}
	if ((https && pn == 3 && strncmp(port, "443", 3) == 0) ||
	    (!https && pn == 2 && strncmp(port, "80", 2) == 0))
		pn = 0;

	struct td_buf b = TD_BUF_INIT;
	/* http and https are one: a site that moved keeps its posts */
	td_buf_puts(&b, "//");
	for (size_t i = 0; i < hn; i++)
		td_buf_putc(&b, lower(auth[i]));
	if (pn) {
		td_buf_putc(&b, ':');
		td_buf_append(&b, port, pn);
	}
	const char *rest = auth + an;
	if (!permalink) {
		td_buf_puts(&b, rest);
		return td_buf_steal(&b);
	}
	size_t path_n = strcspn(rest, "?#");
	if (path_n > 1 && rest[path_n - 1] == '/')
		path_n--;
	if (path_n == 0)
		td_buf_putc(&b, '/');
	put_escaped_upper(&b, rest, path_n);
	bool page = path_n > 1;
	rest += strcspn(rest, "?#");
	if (*rest == '?') {
		const char *q = rest + 1;
		size_t qn = strcspn(q, "#");
		char sep = '?';
		for (size_t i = 0; i < qn;) {
			size_t k = strcspn(q + i, "&#");
			if (k > qn - i)
				k = qn - i;
			if (k > 0 && !is_tracking(q + i, k)) {
				td_buf_putc(&b, sep);
				put_escaped_upper(&b, q + i, k);
				sep = '&';
				page = true;
			}
			i += k + 1;
		}
		rest = q + qn;
	}
	if (is_route(rest)) {
		td_buf_puts(&b, rest);
		page = true;
	}
	/* the home page names no article: feeds whose items all link it
	 * would make one post of all their items */
	if (!page) {
		td_buf_free(&b);
		return NULL;
	}
	return td_buf_steal(&b);
}

char *td_post_url_key(const char *url)
{
	return url ? http_key(url, true) : NULL;
}

/* The site a host names: h[0..*n) without one leading "www." and a
 * trailing dot. Whoever holds a host holds its www. too; nothing wider is
 * assumed (without the public suffix list, a parent domain may be a
 * hosting service's, whose customers are other sites). */
static const char *site_of(const char *h, size_t *n)
{
	if (*n > 4 && strncasecmp(h, "www.", 4) == 0) {
		h += 4;
		*n -= 4;
	}
	if (*n > 1 && h[*n - 1] == '.')
		(*n)--;
	return h;
}

char *td_post_guid_key(const char *guid, const char *url)
{
	const char *site;
	size_t sn, an;
	bool https;
	if (!guid || !url || !http_host(url, &site, &sn, &an, &https))
		return NULL;
	struct td_buf b = TD_BUF_INIT;
	size_t sl = scheme_len(guid);
	if ((sl == 3 && strncasecmp(guid, "tag", 3) == 0) ||
	    (sl == 3 && strncasecmp(guid, "urn", 3) == 0)) {
		if (guid[sl + 1] == '\0')
			return NULL;
		for (size_t i = 0; i < sl; i++)
			td_buf_putc(&b, lower(guid[i]));
		td_buf_puts(&b, guid + sl);
	} else {
		char *k = http_key(guid, false);
		if (!k)
			return NULL;
		td_buf_puts(&b, k);
		free(k);
	}
	/* the site the item links to goes with it (see post.h) */
	site = site_of(site, &sn);
	td_buf_puts(&b, " //");
	for (size_t i = 0; i < sn; i++)
		td_buf_putc(&b, lower(site[i]));
	return td_buf_steal(&b);
}
