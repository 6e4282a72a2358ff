/*
 * memo: a bounded memo of a pure function on byte strings, keyed by the
 * bytes themselves.
 *
 * Composing thousands of digests from the same few posts repeats the same
 * lines over and over: the template's own text and each post's lines are
 * the same bytes in every digest that shows them. The costly steps that
 * work line by line (quoted-printable in mime.c, wrapping in render.c)
 * keep their result for a line here and copy it the next time the same
 * line comes by. The key is the whole input line, compared byte for byte
 * on every hit (the hash only finds the slot), so a hit gives exactly the
 * bytes the function would: whatever a template puts in a line, and
 * wherever it stands. A line is remembered the second time it is seen, so
 * lines that name one reader (a greeting, a link with a token) pass by
 * without taking a slot.
 *
 * Memory stays flat: a fixed number of slots (a line replaces the one in
 * its slot) and a cap on the bytes held (reached, the memo starts empty
 * again). It depends on the lines a run repeats, not on its readers.
 *
 * Not thread-safe: one memo per composer (compose.h), used by one thread
 * at a time.
 */
#ifndef TAGDIGEST_MEMO_H
#define TAGDIGEST_MEMO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tagdigest/core/buf.h"

struct td_memo;

/* A memo holding at most max_bytes of keys and values (plus its fixed
 * table); a key longer than max_key is never kept. */
struct td_memo *td_memo_new(size_t max_bytes, size_t max_key);
void td_memo_free(struct td_memo *m);

/* The hash td_memo_get and td_memo_put take, of key[0..n). */
uint64_t td_memo_hash(const void *key, size_t n);

/* When key[0..n) (hash h) is remembered, appends its value to out and
 * returns 1; 0 when it is not; -1 when out's cap is hit (out unchanged). */
int td_memo_get(const struct td_memo *m, uint64_t h, const void *key, size_t n,
		struct td_buf *out);
/* key[0..n) (hash h) gives val[0..vlen): kept when key was offered
 * before (its second sighting), else only noted. */
void td_memo_put(struct td_memo *m, uint64_t h, const void *key, size_t n,
		 const void *val, size_t vlen);

#endif
