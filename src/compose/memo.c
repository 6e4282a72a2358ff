/*
 * memo.c: the bounded line memo of memo.h.
 *
 * A direct-mapped table: a key's hash picks one slot, which holds one
 * entry (key and value in one allocation) and the hash of the last key
 * offered there, so a key is kept on its second offer. A key that lands
 * on a taken slot replaces its entry; the byte cap empties the table.
 */
#include "tagdigest/compose/memo.h"

#include <stdlib.h>
#include <string.h>

#include "tagdigest/core/util.h"

/* Slots: a run's hot lines are a few thousand (the template's lines and
 * each post's); a table a few times larger keeps them apart. A power of
 * two. */
#define SLOTS 16384u

struct entry {
	uint64_t h;
	char *data;        /* the key's n bytes, then the value's vlen */
	size_t n, vlen;
};

struct td_memo {
	struct entry *e;   /* SLOTS, allocated at the first put */
	uint64_t *seen;    /* per slot, the hash of the last key offered */
	size_t bytes, max_bytes, max_key;
};

struct td_memo *td_memo_new(size_t max_bytes, size_t max_key)
{
	struct td_memo *m = td_xcalloc(1, sizeof *m);
	m->max_bytes = max_bytes;
	m->max_key = max_key;
	return m;
}

static void memo_clear(struct td_memo *m)
{
	for (size_t i = 0; m->e && i < SLOTS; i++) {
		free(m->e[i].data);
		m->e[i].data = NULL;
	}
	m->bytes = 0;
}

void td_memo_free(struct td_memo *m)
{
	if (!m)
		return;
	memo_clear(m);
	free(m->e);
	free(m->seen);
	free(m);
}

/* Multiply-xor over 8-byte words: a few instructions a word, enough to
 * spread lines over the slots (a hit compares the key itself). */
uint64_t td_memo_hash(const void *key, size_t n)
{
	const unsigned char *p = key;
	uint64_t h = 0x9E3779B97F4A7C15ull ^ (n * 0xC2B2AE3D27D4EB4Full);
	for (; n >= 8; p += 8, n -= 8) {
		uint64_t w;
		memcpy(&w, p, 8);
		h = (h ^ w) * 0x9E3779B97F4A7C15ull;
		h ^= h >> 29;
	}
	if (n) {
		uint64_t w = 0;
		memcpy(&w, p, n);
		h = (h ^ w) * 0x9E3779B97F4A7C15ull;
		h ^= h >> 29;
	}
	h *= 0xBF58476D1CE4E5B9ull;
	return h ^ (h >> 31);
}

int td_memo_get(const struct td_memo *m, uint64_t h, const void *key, size_t n,
		struct td_buf *out)
{
	if (!m->e)
		return 0;
	const struct entry *e = &m->e[h & (SLOTS - 1)];
	if (!e->data || e->h != h || e->n != n || memcmp(e->data, key, n) != 0)
		return 0;
	return td_buf_append(out, e->data + n, e->vlen) < 0 ? -1 : 1;
}

void td_memo_put(struct td_memo *m, uint64_t h, const void *key, size_t n,
		 const void *val, size_t vlen)
{
	if (n > m->max_key || n + vlen > m->max_bytes)
		return;
	if (!m->e) {
		m->e = td_xcalloc(SLOTS, sizeof *m->e);
		m->seen = td_xcalloc(SLOTS, sizeof *m->seen);
	}
	size_t i = h & (SLOTS - 1);
	if (m->seen[i] != h) {     /* the first sighting: only noted */
		m->seen[i] = h;
		return;
	}
	struct entry *e = &m->e[i];
	if (e->data) {
		m->bytes -= e->n + e->vlen;
		free(e->data);
		e->data = NULL;
	}
	if (m->bytes + n + vlen > m->max_bytes)
		memo_clear(m);
	e->data = td_xmalloc(n + vlen + 1);
	memcpy(e->data, key, n);
	memcpy(e->data + n, val, vlen);
	e->h = h;
	e->n = n;
	e->vlen = vlen;
	m->bytes += n + vlen;
}
