/*
 * post.c: releasing a struct td_post, and the keys that say two sources'
 * items are one post (see post.h).
 *
 * Kept in its own file because every source (feeds, the posts folder)
 * builds posts and every consumer frees them; none of them should need to
 * know the others to do it.
 */
#include "tagdigest/post.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tagdigest/buf.h"

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

/* The key of an absolute http(s) URL (see post.h); `permalink` adds what
 * only a page address may lose: fragment, trailing slash, utm_*. */
static char *http_key(const char *u, bool permalink)
{
	size_t sl = scheme_len(u);
	bool https = sl == 5 && strncasecmp(u, "https", 5) == 0;
	if (!(https || (sl == 4 && strncasecmp(u, "http", 4) == 0)) ||
	    strncmp(u + sl, "://", 3) != 0)
		return NULL;
	const char *auth = u + sl + 3;
	size_t an = strcspn(auth, "/?#");
	/* user info says who asked, not what was asked for */
	for (size_t i = an; i > 0; i--)
		if (auth[i - 1] == '@') {
			auth += i;
			an -= i;
			break;
		}
	size_t hn = auth[0] == '[' ? strcspn(auth, "]") + 1 : strcspn(auth, ":");
	if (hn > an)
		hn = an;
	if (hn == 0)
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
			}
			i += k + 1;
		}
	}
	return td_buf_steal(&b);
}

char *td_post_url_key(const char *url)
{
	return url ? http_key(url, true) : NULL;
}

char *td_post_guid_key(const char *guid)
{
	if (!guid)
		return NULL;
	size_t sl = scheme_len(guid);
	if ((sl == 3 && strncasecmp(guid, "tag", 3) == 0) ||
	    (sl == 3 && strncasecmp(guid, "urn", 3) == 0)) {
		if (guid[sl + 1] == '\0')
			return NULL;
		char *k = td_xstrdup(guid);
		for (size_t i = 0; i < sl; i++)
			k[i] = lower(k[i]);
		return k;
	}
	return http_key(guid, false);
}
