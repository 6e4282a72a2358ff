/*
 * util.c: aborting allocators, string lists, whole-file reads.
 */
#include "tagdigest/util.h"

#include <errno.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tagdigest/buf.h"
#include "tagdigest/err.h"

static void out_of_memory(size_t n)
{
	fprintf(stderr, "tagdigest: out of memory (asked for %zu bytes)\n", n);
	abort();
}

void *td_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		out_of_memory(n);
	return p;
}

void *td_xcalloc(size_t count, size_t n)
{
	void *p = calloc(count ? count : 1, n ? n : 1);
	if (!p)
		out_of_memory(count * n);
	return p;
}

void *td_xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q)
		out_of_memory(n);
	return q;
}

char *td_xstrdup(const char *s)
{
	return td_xstrndup(s, strlen(s));
}

char *td_xstrndup(const char *s, size_t n)
{
	char *d = td_xmalloc(n + 1);
	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

char *td_xasprintf(const char *fmt, ...)
{
	va_list ap, copy;
	va_start(ap, fmt);
	va_copy(copy, ap);
	int n = vsnprintf(NULL, 0, fmt, copy);
	va_end(copy);
	if (n < 0)
		out_of_memory(0);
	char *s = td_xmalloc((size_t)n + 1);
	vsnprintf(s, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return s;
}

void td_strv_push_owned(struct td_strv *sv, char *s)
{
	if (sv->n == sv->cap) {
		sv->cap = sv->cap ? sv->cap * 2 : 4;
		sv->v = td_xrealloc(sv->v, sv->cap * sizeof *sv->v);
	}
	sv->v[sv->n++] = s;
}

void td_strv_push(struct td_strv *sv, const char *s)
{
	td_strv_push_owned(sv, td_xstrdup(s));
}

bool td_strv_contains(const struct td_strv *sv, const char *s)
{
	for (size_t i = 0; i < sv->n; i++)
		if (strcmp(sv->v[i], s) == 0)
			return true;
	return false;
}

void td_strv_free(struct td_strv *sv)
{
	for (size_t i = 0; i < sv->n; i++)
		free(sv->v[i]);
	free(sv->v);
	sv->v = NULL;
	sv->n = sv->cap = 0;
}

int td_read_file(const char *path, size_t max, char **out, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return -1;
	size_t cap = 4096, n = 0;
	char *data = td_xmalloc(cap);
	for (;;) {
		if (n + 1 >= cap) {
			cap *= 2;
			data = td_xrealloc(data, cap);
		}
		size_t got = fread(data + n, 1, cap - n - 1, f);
		n += got;
		if (n > max) {
			free(data);
			fclose(f);
			errno = EFBIG;
			return -1;
		}
		if (got == 0)
			break;
	}
	int failed = ferror(f);
	fclose(f);
	if (failed) {
		free(data);
		errno = EIO;
		return -1;
	}
	data[n] = '\0';
	*out = data;
	if (len)
		*len = n;
	return 0;
}

size_t td_utf8_next_slow(const char *str, size_t n, uint32_t *cp)
{
	const unsigned char *s = (const unsigned char *)str;
	if (n == 0)
		return 0;
	uint32_t c = s[0], min;
	size_t len;
	if (c < 0x80) {
		*cp = c;
		return 1;
	} else if (c >= 0xC2 && c <= 0xDF) {
		len = 2, min = 0x80, c &= 0x1F;
	} else if (c >= 0xE0 && c <= 0xEF) {
		len = 3, min = 0x800, c &= 0x0F;
	} else if (c >= 0xF0 && c <= 0xF4) {
		len = 4, min = 0x10000, c &= 0x07;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3F);
	}
	if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
		return 0;
	*cp = c;
	return len;
}

bool td_utf8_valid(const char *s, size_t n)
{
	uint32_t cp;
	for (size_t i = 0, len; i < n; i += len) {
		if ((unsigned char)s[i] < 0x80) {
			len = 1;
			continue;
		}
		if (!(len = td_utf8_next_slow(s + i, n - i, &cp)))
			return false;
	}
	return true;
}

size_t td_utf8_count(const char *s, size_t n)
{
	size_t count = 0;
	for (size_t i = 0; i < n; i++)
		if (((unsigned char)s[i] & 0xC0) != 0x80)
			count++;
	return count;
}

int td_mkdir_parents(const char *path, struct td_err *err)
{
	char *copy = td_xstrdup(path);
	const char *dir = dirname(copy);
	struct td_buf partial = TD_BUF_INIT;
	int rc = 0;
	/* one component at a time, so every missing level is made */
	for (const char *p = dir;; p++) {
		if ((*p == '/' || *p == '\0') && partial.len > 0 &&
		    mkdir(td_buf_cstr(&partial), 0755) < 0 && errno != EEXIST) {
			rc = td_err_set(err, EX_CANTCREAT, "mkdir %s: %s",
					td_buf_cstr(&partial), strerror(errno));
			break;
		}
		if (*p == '\0')
			break;
		td_buf_putc(&partial, *p);
	}
	td_buf_free(&partial);
	free(copy);
	return rc;
}

void td_utf8_put(struct td_buf *b, uint32_t cp)
{
	char u[4];
	size_t n;
	if (cp < 0x80) {
		u[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (char)(0xC0 | (cp >> 6));
		u[1] = (char)(0x80 | (cp & 0x3F));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (char)(0xE0 | (cp >> 12));
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		u[2] = (char)(0x80 | (cp & 0x3F));
		n = 3;
	} else {
		u[0] = (char)(0xF0 | (cp >> 18));
		u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
		u[3] = (char)(0x80 | (cp & 0x3F));
		n = 4;
	}
	td_buf_append(b, u, n);
}
