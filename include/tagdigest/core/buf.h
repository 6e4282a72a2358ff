/*
 * buf: the one growable byte buffer used everywhere in tagdigest.
 *
 * A buffer has a size cap fixed at init; an append that would grow it past
 * the cap fails (returns -1) and leaves the buffer unchanged, which is how
 * untrusted input stays bounded. The data is always NUL-terminated, so
 * td_buf_cstr() is valid after any sequence of appends.
 *
 * Ownership: the buffer owns `data`. td_buf_free() releases it;
 * td_buf_steal() hands it to the caller (who must free() it) and leaves the
 * buffer empty and reusable. Out of memory aborts (see util.h).
 */
#ifndef TAGDIGEST_BUF_H
#define TAGDIGEST_BUF_H

#include <stdarg.h>
#include <stddef.h>

#define TD_BUF_NOLIMIT ((size_t)-1)

struct td_buf {
	char *data;     /* NULL until the first append */
	size_t len;     /* bytes in use, not counting the NUL */
	size_t cap;     /* bytes allocated */
	size_t max;     /* largest len allowed */
};

#define TD_BUF_INIT { NULL, 0, 0, TD_BUF_NOLIMIT }

void td_buf_init(struct td_buf *b, size_t max);
/* The general case of td_buf_append / td_buf_putc: grows the buffer. */
int td_buf_append_slow(struct td_buf *b, const void *p, size_t n);
int td_buf_puts(struct td_buf *b, const char *s);
/* Makes room for n more bytes at once (a size known ahead spares the
 * doublings and their copies); -1 when that passes the cap. */
int td_buf_reserve(struct td_buf *b, size_t n);

/* Appends are the inner loop of every encoder and parser here, so the
 * common case (it fits) is inline; growing goes through the slow path. */
static inline int td_buf_append(struct td_buf *b, const void *p, size_t n)
{
	if (n < b->cap - b->len && n <= b->max - b->len && b->data) {
		__builtin_memcpy(b->data + b->len, p, n);
		b->len += n;
		b->data[b->len] = '\0';
		return 0;
	}
	return td_buf_append_slow(b, p, n);
}

static inline int td_buf_putc(struct td_buf *b, char c)
{
	if (b->len + 1 < b->cap && b->len < b->max) {
		b->data[b->len++] = c;
		b->data[b->len] = '\0';
		return 0;
	}
	return td_buf_append_slow(b, &c, 1);
}
int td_buf_printf(struct td_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int td_buf_vprintf(struct td_buf *b, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));
/* Always a valid C string ("" for an empty buffer); owned by the buffer. */
const char *td_buf_cstr(const struct td_buf *b);
/* Returns the data (malloc'd, NUL-terminated, never NULL); caller frees. */
char *td_buf_steal(struct td_buf *b);
/* Forget the contents but keep the memory for reuse. */
void td_buf_reset(struct td_buf *b);
void td_buf_free(struct td_buf *b);

#endif
