/*
 * buf.c: growable, capped, always NUL-terminated byte buffer (see buf.h).
 */
#include "tagdigest/core/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tagdigest/core/util.h"

void td_buf_init(struct td_buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
}

/* Make room for n more bytes plus the NUL; -1 when that passes the cap. */
static int buf_reserve(struct td_buf *b, size_t n)
{
	if (n > b->max - b->len)
		return -1;
	size_t need = b->len + n + 1;
	if (need <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap = cap > ((size_t)-1) / 2 ? need : cap * 2;
	b->data = td_xrealloc(b->data, cap);
	b->cap = cap;
	return 0;
}

int td_buf_reserve(struct td_buf *b, size_t n)
{
	return buf_reserve(b, n);
}

int td_buf_append_slow(struct td_buf *b, const void *p, size_t n)
{
	if (buf_reserve(b, n) < 0)
		return -1;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int td_buf_puts(struct td_buf *b, const char *s)
{
	return td_buf_append(b, s, strlen(s));
}

int td_buf_vprintf(struct td_buf *b, const char *fmt, va_list ap)
{
	va_list copy;
	va_copy(copy, ap);
	int n = vsnprintf(NULL, 0, fmt, copy);
	va_end(copy);
	if (n < 0)
		return -1;
	if (buf_reserve(b, (size_t)n) < 0)
		return -1;
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

int td_buf_printf(struct td_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = td_buf_vprintf(b, fmt, ap);
	va_end(ap);
	return rc;
}

const char *td_buf_cstr(const struct td_buf *b)
{
	return b->data ? b->data : "";
}

char *td_buf_steal(struct td_buf *b)
{
	char *d = b->data ? b->data : td_xstrdup("");
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	return d;
}

void td_buf_reset(struct td_buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

void td_buf_free(struct td_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}
