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
int td_buf_append(struct td_buf *b, const void *p, size_t n);
int td_buf_puts(struct td_buf *b, const char *s);
int td_buf_putc(struct td_buf *b, char c);
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
