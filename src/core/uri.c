/*
 * uri.c: RFC 3986 reference resolution behind uri.h, on bytes.
 */
#include "tagdigest/core/uri.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tagdigest/core/buf.h"
#include "tagdigest/core/util.h"

void td_uri_split(const char *s, struct td_uri *u)
{
	memset(u, 0, sizeof *u);
	const char *p = s;
	if (isalpha((unsigned char)*p)) {
		const char *q = p + 1;
		while (isalnum((unsigned char)*q) || *q == '+' || *q == '-' || *q == '.')
			q++;
		if (*q == ':') {
			u->has_scheme = true;
			u->scheme = p;
			u->scheme_n = (size_t)(q - p);
			p = q + 1;
		}
	}
	if (p[0] == '/' && p[1] == '/') {
		p += 2;
		u->has_auth = true;
		u->auth = p;
		while (*p && *p != '/' && *p != '?' && *p != '#')
			p++;
		u->auth_n = (size_t)(p - u->auth);
	}
	u->path = p;
	while (*p && *p != '?' && *p != '#')
		p++;
	u->path_n = (size_t)(p - u->path);
	if (*p == '?') {
		u->has_query = true;
		u->query = ++p;
		while (*p && *p != '#')
			p++;
		u->query_n = (size_t)(p - u->query);
	}
	if (*p == '#') {
		u->has_frag = true;
		u->frag = p + 1;
		u->frag_n = strlen(p + 1);
	}
}

/* RFC 3986 5.2.4, appending to out: what it holds already (the scheme
 * and authority) is not path, and ".." never climbs into it. */
static void remove_dots(const char *in, size_t n, struct td_buf *out)
{
	const size_t floor = out->len;
	struct td_buf b = TD_BUF_INIT;
	td_buf_append(&b, in, n);
	char *s = b.data ? b.data : (char *)"";
	size_t i = 0, len = b.len;
	while (i < len) {
		if (strncmp(s + i, "../", 3) == 0) {
			i += 3;
		} else if (strncmp(s + i, "./", 2) == 0) {
			i += 2;
		} else if (strncmp(s + i, "/./", 3) == 0) {
			i += 2;
		} else if (len - i == 2 && strncmp(s + i, "/.", 2) == 0) {
			s[i + 1] = '/';
			i += 1;
		} else if (strncmp(s + i, "/../", 4) == 0 ||
			   (len - i == 3 && strncmp(s + i, "/..", 3) == 0)) {
			if (len - i == 3) {
				s[i + 2] = '/';
				i += 2;
			} else {
				i += 3;
			}
			/* drop the last segment already written */
			while (out->len > floor && out->data[out->len - 1] != '/')
				out->len--;
			if (out->len > floor)
				out->len--;
			if (out->data)
				out->data[out->len] = '\0';
		} else if ((len - i == 1 && s[i] == '.') ||
			   (len - i == 2 && strncmp(s + i, "..", 2) == 0)) {
			break;
		} else {
			size_t j = i + (s[i] == '/' ? 1 : 0);
			while (j < len && s[j] != '/')
				j++;
			td_buf_append(out, s + i, j - i);
			i = j;
		}
	}
	td_buf_free(&b);
}

bool td_uri_scheme_is(const struct td_uri *u, const char *name)
{
	return u->has_scheme && u->scheme_n == strlen(name) &&
	       strncasecmp(u->scheme, name, u->scheme_n) == 0;
}

/* Resolves ref against base (either may be NULL or ""). malloc'd. */
char *td_uri_resolve(const char *base, const char *ref)
{
	struct td_buf fixed = TD_BUF_INIT;
	/* Spaces and controls around a URL, and tabs and line breaks in it,
	 * are not part of it (WHATWG URL, and Python's urlsplit, which
	 * feedparser's urljoin uses): drop them before they can make an
	 * absolute URL look relative. */
	while (*ref && (unsigned char)*ref <= 0x20)
		ref++;
	size_t n = strlen(ref);
	while (n > 0 && (unsigned char)ref[n - 1] <= 0x20)
		n--;
	if (n != strlen(ref) || strpbrk(ref, "\t\r\n")) {
		for (size_t i = 0; i < n; i++)
			if (ref[i] != '\t' && ref[i] != '\r' && ref[i] != '\n')
				td_buf_putc(&fixed, ref[i]);
		ref = td_buf_steal(&fixed);
		char *out = td_uri_resolve(base, ref);
		free((char *)ref);
		return out;
	}
	/* "http:///example.com/" -> "http://example.com/", as feedparser */
	const char *c = strstr(ref, "://");
	if (c && c > ref) {
		const char *q = ref;
		while (q < c && (isalnum((unsigned char)*q) || *q == '+' || *q == '-' || *q == '.'))
			q++;
		if (q == c && c[3] == '/') {
			td_buf_append(&fixed, ref, (size_t)(c + 3 - ref));
			const char *r = c + 3;
			while (*r == '/')
				r++;
			td_buf_puts(&fixed, r);
			ref = td_buf_cstr(&fixed);
		}
	}
	struct td_uri r, b;
	td_uri_split(ref, &r);
	if (r.has_scheme || !base || !*base) {
		char *out = td_xstrdup(ref);
		td_buf_free(&fixed);
		return out;
	}
	td_uri_split(base, &b);
	struct td_buf o = TD_BUF_INIT;
	if (b.has_scheme) {
		td_buf_append(&o, b.scheme, b.scheme_n);
		td_buf_putc(&o, ':');
	}
	if (r.has_auth) {
		td_buf_puts(&o, "//");
		td_buf_append(&o, r.auth, r.auth_n);
		remove_dots(r.path, r.path_n, &o);
		if (r.has_query) {
			td_buf_putc(&o, '?');
			td_buf_append(&o, r.query, r.query_n);
		}
	} else {
		if (b.has_auth) {
			td_buf_puts(&o, "//");
			td_buf_append(&o, b.auth, b.auth_n);
		}
		if (r.path_n == 0) {
			td_buf_append(&o, b.path, b.path_n);
			if (r.has_query) {
				td_buf_putc(&o, '?');
				td_buf_append(&o, r.query, r.query_n);
			} else if (b.has_query) {
				td_buf_putc(&o, '?');
				td_buf_append(&o, b.query, b.query_n);
			}
		} else {
			if (r.path[0] == '/') {
				remove_dots(r.path, r.path_n, &o);
			} else {
				struct td_buf m = TD_BUF_INIT;
				if (b.has_auth && b.path_n == 0) {
					td_buf_putc(&m, '/');
				} else {
					size_t k = b.path_n;
					while (k > 0 && b.path[k - 1] != '/')
						k--;
					td_buf_append(&m, b.path, k);
				}
				td_buf_append(&m, r.path, r.path_n);
				remove_dots(td_buf_cstr(&m), m.len, &o);
				td_buf_free(&m);
			}
			if (r.has_query) {
				td_buf_putc(&o, '?');
				td_buf_append(&o, r.query, r.query_n);
			}
		}
	}
	if (r.has_frag) {
		td_buf_putc(&o, '#');
		td_buf_append(&o, r.frag, r.frag_n);
	}
	td_buf_free(&fixed);
	return td_buf_steal(&o);
}

