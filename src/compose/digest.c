/*
 * digest.c: choosing the posts of one subscriber's digest (see digest.h).
 */
#include "tagdigest/compose/digest.h"

#include <stdlib.h>
#include <string.h>

#include "tagdigest/core/buf.h"
#include "tagdigest/core/util.h"
#include "tagdigest/store/start.h"

char *td_digest_archive_url(const char *tag_url, const char *slug)
{
	struct td_buf b = TD_BUF_INIT;
	const char *p = tag_url, *hit;
	while ((hit = strstr(p, "{tag}"))) {
		td_buf_append(&b, p, (size_t)(hit - p));
		/* Slugs are lowercase letters, digits and '-', but non-ASCII
		 * letters are kept: percent-encode every byte outside the
		 * unreserved set so the URL stays valid. */
		for (const unsigned char *s = (const unsigned char *)slug; *s; s++) {
			if ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
			    (*s >= '0' && *s <= '9') || *s == '-' || *s == '_' ||
			    *s == '.' || *s == '~')
				td_buf_putc(&b, (char)*s);
			else
				td_buf_printf(&b, "%%%02X", *s);
		}
		p = hit + 5;
	}
	td_buf_puts(&b, p);
	return td_buf_steal(&b);
}

struct candidates {
	char *tag;
	struct td_store_post *posts;   /* as the store gave them (borrowed) */
	size_t n;
	bool owned;                    /* posts are ours to free, not the cache's */
	bool *keep;                    /* not already shown in an earlier section */
	size_t unique;                 /* how many are kept */
	size_t taken;                  /* how many the cap lets through */
};

/* The seqs already placed in a section: open addressing, since a first
 * digest after a big import can hold thousands of candidates. */
struct seq_set {
	int64_t *slots;       /* 0 = empty; seqs start at 1 */
	size_t cap, n;
};

static bool seq_set_add(struct seq_set *set, int64_t seq)
{
	if (2 * (set->n + 1) > set->cap) {
		struct seq_set bigger = { NULL, set->cap ? set->cap * 2 : 64, 0 };
		bigger.slots = td_xcalloc(bigger.cap, sizeof *bigger.slots);
		for (size_t i = 0; i < set->cap; i++)
			if (set->slots[i])
				seq_set_add(&bigger, set->slots[i]);
		free(set->slots);
		*set = bigger;
	}
	size_t i = (size_t)((uint64_t)seq * 0x9E3779B97F4A7C15ull) & (set->cap - 1);
	while (set->slots[i]) {
		if (set->slots[i] == seq)
			return false;
		i = (i + 1) & (set->cap - 1);
	}
	set->slots[i] = seq;
	set->n++;
	return true;
}

/* ---- the per-run cache of the tags' posts and names ----
 *
 * A send asks every reader's digest for "the posts of tag T that
 * arrived above the reader's watermark", and for the names of the tags
 * they follow. One entry per (tag, ingested_since) holds the tag's posts
 * above the lowest watermark asked so far, with their tags: a reader
 * whose watermark is that or higher gets the same posts by filtering
 * them in memory (arrived_above), in the same order, so readers a week
 * or a month behind share one query. What the cache holds is bounded by
 * the posts in play (from the lowest watermark to the counter), never by
 * the readers. Everything was read at one value of the store's counter
 * (upto): a digest built at another (an ingest on another machine
 * committed posts meanwhile) empties the cache first. */

#define CACHE_SLOTS 1024   /* a power of two; plenty for a site's tags */

struct cache_entry {
	char *tag;                  /* NULL: empty slot */
	time_t since;
	int64_t after;              /* the lowest watermark read for */
	struct td_store_post *posts;
	size_t n;
};

/* A tag's display name (or its slug when the store has none). */
struct name_entry {
	char *slug, *name;          /* slug NULL: empty */
};

/* Arrays an entry held before a lower watermark replaced them: a digest
 * may still borrow one, so they are freed when the next digest starts. */
struct retired {
	struct td_store_post *posts;
	size_t n;
};

struct td_post_cache {
	struct cache_entry slots[CACHE_SLOTS];
	size_t used;
	int64_t upto;               /* the counter the entries were read at */
	struct name_entry *names;   /* open addressing, at most half full */
	size_t names_cap, names_used;
	struct retired *retired;
	size_t nretired;
	bool start_known;           /* start_seq read (it outlives cache_clear) */
	int64_t start_seq;          /* the site's clean-start point */
};

struct td_post_cache *td_post_cache_new(void)
{
	return td_xcalloc(1, sizeof(struct td_post_cache));
}

static void free_retired(struct td_post_cache *c)
{
	for (size_t i = 0; i < c->nretired; i++)
		td_store_posts_free(c->retired[i].posts, c->retired[i].n);
	free(c->retired);
	c->retired = NULL;
	c->nretired = 0;
}

static void cache_clear(struct td_post_cache *c)
{
	for (size_t i = 0; i < CACHE_SLOTS; i++) {
		free(c->slots[i].tag);
		td_store_posts_free(c->slots[i].posts, c->slots[i].n);
		memset(&c->slots[i], 0, sizeof c->slots[i]);
	}
	c->used = 0;
	for (size_t i = 0; i < c->names_cap; i++) {
		free(c->names[i].slug);
		free(c->names[i].name);
	}
	free(c->names);
	c->names = NULL;
	c->names_cap = c->names_used = 0;
	free_retired(c);
}

void td_post_cache_free(struct td_post_cache *c)
{
	if (!c)
		return;
	cache_clear(c);
	free(c);
}

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ull;   /* FNV-1a */
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		h = (h ^ *p) * 1099511628211ull;
	return h;
}

static size_t cache_hash(const char *tag, time_t since)
{
	uint64_t h = hash_str(tag) ^ (uint64_t)since * 0x165667B19E3779F9ull;
	return (size_t)(h ^ (h >> 29)) & (CACHE_SLOTS - 1);
}

static char *dup_or_null(const char *s)
{
	return s ? td_xstrdup(s) : NULL;
}

static void copy_post(struct td_store_post *d, const struct td_store_post *src)
{
	memset(d, 0, sizeof *d);
	d->seq = src->seq;
	d->url = dup_or_null(src->url);
	d->title = dup_or_null(src->title);
	d->author = dup_or_null(src->author);
	d->published = src->published;
	d->excerpt_html = dup_or_null(src->excerpt_html);
	d->excerpt_text = dup_or_null(src->excerpt_text);
	for (size_t k = 0; k < src->tags.n; k++) {
		td_strv_push(&d->tags, src->tags.v[k]);
		td_strv_push(&d->tag_names, src->tag_names.v[k]);
	}
	if (src->tags.n) {
		size_t sz = src->tags.n * sizeof *d->tag_arrived;
		d->tag_arrived = td_xmalloc(sz);
		memcpy(d->tag_arrived, src->tag_arrived, sz);
	}
}

/* Before a digest borrows from the cache (so where no borrowed array is
 * held): frees what earlier digests may have borrowed, empties the cache
 * when it was read at another counter than upto, or when `more` entries
 * would fill it past half. */
static void cache_make_room(struct td_post_cache *c, size_t more, int64_t upto)
{
	if (!c)
		return;
	free_retired(c);
	if (c->upto != upto || 2 * (c->used + more) > CACHE_SLOTS)
		cache_clear(c);
	c->upto = upto;
}

/* Whether tag arrived on p above after: what td_store_posts_for_tag asks
 * of each post, asked again of the posts a lower watermark's query read. */
static bool arrived_above(const struct td_store_post *p, const char *tag, int64_t after)
{
	for (size_t k = 0; k < p->tags.n; k++)
		if (strcmp(p->tags.v[k], tag) == 0)
			return p->tag_arrived[k] > after;
	return false;
}

/* td_store_posts_for_tag through the cache. *out may hold posts whose tag
 * arrived at or below after (read for a lower watermark): the caller
 * skips those (arrived_above). It is the cache's own array, valid until
 * the next cache_make_room, unless *owned (no cache, or no room in it):
 * then the caller frees it. upto is the cache's (cache_make_room). */
static int borrow_posts(struct td_store *st, struct td_post_cache *c,
			const char *tag, int64_t after, int64_t upto, time_t since,
			struct td_store_post **out, size_t *n, bool *owned,
			struct td_err *err)
{
	*owned = true;
	if (!c)
		return td_store_posts_for_tag(st, tag, after, upto, since, out, n, err);
	size_t i = cache_hash(tag, since);
	struct cache_entry *e = NULL;
	for (size_t probe = 0; probe < CACHE_SLOTS; probe++, i = (i + 1) & (CACHE_SLOTS - 1)) {
		if (!c->slots[i].tag)
			break;
		if (c->slots[i].since == since && strcmp(c->slots[i].tag, tag) == 0) {
			e = &c->slots[i];
			break;
		}
	}
	if (e && e->after <= after) {
		*out = e->posts;
		*n = e->n;
		*owned = false;
		return 0;
	}
	int rc = td_store_posts_for_tag(st, tag, after, upto, since, out, n, err);
	if (rc)
		return rc;
	if (e) {
		/* a lower watermark: its posts include the entry's */
		c->retired = td_xrealloc(c->retired, (c->nretired + 1) * sizeof *c->retired);
		c->retired[c->nretired++] = (struct retired){ e->posts, e->n };
	} else if (2 * (c->used + 1) > CACHE_SLOTS) {
		return 0;   /* the table stays at most half full */
	} else {
		e = &c->slots[i];   /* the empty slot the probe ended on */
		e->tag = td_xstrdup(tag);
		e->since = since;
		c->used++;
	}
	e->after = after;
	e->posts = *out;
	e->n = *n;
	*owned = false;
	return 0;
}

/* td_store_tag_name through the cache (malloc'd either way). */
static char *tag_name(struct td_store *st, struct td_post_cache *c, const char *slug)
{
	if (!c)
		return td_store_tag_name(st, slug);
	if (2 * (c->names_used + 1) > c->names_cap) {
		struct name_entry *old = c->names;
		size_t oldcap = c->names_cap;
		c->names_cap = oldcap ? 2 * oldcap : 64;
		c->names = td_xcalloc(c->names_cap, sizeof *c->names);
		for (size_t k = 0; k < oldcap; k++) {
			if (!old[k].slug)
				continue;
			size_t j = (size_t)hash_str(old[k].slug) & (c->names_cap - 1);
			while (c->names[j].slug)
				j = (j + 1) & (c->names_cap - 1);
			c->names[j] = old[k];
		}
		free(old);
	}
	size_t j = (size_t)hash_str(slug) & (c->names_cap - 1);
	for (; c->names[j].slug; j = (j + 1) & (c->names_cap - 1))
		if (strcmp(c->names[j].slug, slug) == 0)
			return td_xstrdup(c->names[j].name);
	c->names[j].slug = td_xstrdup(slug);
	c->names[j].name = td_store_tag_name(st, slug);
	c->names_used++;
	return td_xstrdup(c->names[j].name);
}

/* The site's clean-start point (start.h), through the cache: a send run
 * asks it once, however many first digests it builds. */
static int clean_start_point(struct td_store *st, struct td_post_cache *c, int64_t *seq,
			     struct td_err *err)
{
	if (c && c->start_known) {
		*seq = c->start_seq;
		return 0;
	}
	int rc = td_store_clean_start_seq(st, seq, err);
	if (!rc && c) {
		c->start_known = true;
		c->start_seq = *seq;
	}
	return rc;
}

bool td_digest_had(const struct td_store_post *p, const struct td_strv *followed,
		   int64_t watermark)
{
	for (size_t k = 0; k < p->tags.n; k++)
		if (p->tag_arrived[k] <= watermark && td_strv_contains(followed, p->tags.v[k]))
			return true;
	return false;
}

int td_digest_build(struct td_store *st, const struct td_digest_options *opt,
		    const struct td_subscriber *sub, time_t now,
		    struct td_digest *out, struct td_err *err)
{
	return td_digest_build_cached(st, opt, sub, now, NULL, out, err);
}

int td_digest_build_cached(struct td_store *st, const struct td_digest_options *opt,
			   const struct td_subscriber *sub, time_t now,
			   struct td_post_cache *cache, struct td_digest *out,
			   struct td_err *err)
{
	return td_digest_build_view(st, opt, sub, NULL, now, cache, out, err);
}

int td_digest_build_view(struct td_store *st, const struct td_digest_options *opt,
			 const struct td_subscriber *sub, const struct td_reader_view *view,
			 time_t now, struct td_post_cache *cache, struct td_digest *out,
			 struct td_err *err)
{
	memset(out, 0, sizeof *out);
	struct td_reader_view own;
	int rc;
	if (!view) {
		if ((rc = td_store_reader_view(st, sub->email, &own, err)))
			return rc;
		view = &own;
	}
	const struct td_subscriber_state *state = &view->state;
	/* what a clean start counted as seen is not new to a reader who
	 * joins after it: a first digest's posts arrived above that point */
	int64_t start_seq = 0;
	if (!state->known && (rc = clean_start_point(st, cache, &start_seq, err))) {
		if (view == &own)
			td_reader_view_free(&own);
		return rc;
	}
	const struct td_strv *left = &view->left;   /* tags the subscriber left */
	out->suppressed = td_reader_view_suppressed(view);
	out->first = !state->known;
	out->after_start = state->started_last;
	out->from_seq = out->first ? start_seq : state->watermark;
	out->upto_seq = view->max_seq;
	out->since = out->first ? now - (time_t)opt->first_digest_days * 86400 :
				  state->last_slot;
	time_t arrived_since = out->first ? out->since : 0;

	size_t ntags = sub->tags.n;
	struct candidates *c = td_xcalloc(ntags ? ntags : 1, sizeof *c);
	struct seq_set seen = { NULL, 0, 0 };
	struct td_strv active = TD_STRV_INIT;   /* slugs followed, not left */
	/* what this digest borrows stays */
	cache_make_room(cache, ntags, out->upto_seq);
	for (size_t i = 0; i < ntags && !out->suppressed; i++)
		if (!td_strv_contains(left, sub->tags.v[i]))
			td_strv_push(&active, sub->tags.v[i]);
	for (size_t i = 0; i < ntags; i++) {
		c[i].tag = sub->tags.v[i];
		if (out->suppressed || td_strv_contains(left, c[i].tag))
			continue;
		td_strv_push_owned(&out->followed, tag_name(st, cache, sub->tags.v[i]));
		rc = borrow_posts(st, cache, c[i].tag, out->from_seq, out->upto_seq,
				  arrived_since, &c[i].posts, &c[i].n, &c[i].owned, err);
		if (rc)
			goto done;
		c[i].keep = td_xcalloc(c[i].n ? c[i].n : 1, sizeof *c[i].keep);
		for (size_t j = 0; j < c[i].n; j++) {
			if (!arrived_above(&c[i].posts[j], c[i].tag, out->from_seq) ||
			    td_digest_had(&c[i].posts[j], &active, out->from_seq) ||
			    !seq_set_add(&seen, c[i].posts[j].seq))
				continue;
			c[i].keep[j] = true;
			c[i].unique++;
		}
		out->total += c[i].unique;
	}

	/* Round-robin the cap: one more post for each tag with some left. */
	size_t budget = opt->max_posts > 0 ? (size_t)opt->max_posts : (size_t)-1;
	for (bool progress = true; budget > 0 && progress;) {
		progress = false;
		for (size_t i = 0; i < ntags && budget > 0; i++) {
			if (c[i].taken < c[i].unique) {
				c[i].taken++;
				budget--;
				progress = true;
			}
		}
	}

	out->sections = td_xcalloc(ntags ? ntags : 1, sizeof *out->sections);
	for (size_t i = 0; i < ntags; i++) {
		if (c[i].unique == 0)
			continue;
		struct td_digest_section *s = &out->sections[out->nsections++];
		s->tag = td_xstrdup(c[i].tag);
		s->tag_name = tag_name(st, cache, c[i].tag);
		s->archive_url = td_digest_archive_url(opt->tag_url, c[i].tag);
		s->posts = td_xcalloc(c[i].taken ? c[i].taken : 1, sizeof *s->posts);
		for (size_t j = 0; j < c[i].n && s->nposts < c[i].taken; j++)
			if (c[i].keep[j])
				copy_post(&s->posts[s->nposts++], &c[i].posts[j]);
		s->more = c[i].unique - s->nposts;
		out->shown += s->nposts;
	}
done:
	for (size_t i = 0; i < ntags; i++) {
		if (c[i].owned)
			td_store_posts_free(c[i].posts, c[i].n);
		free(c[i].keep);
	}
	free(c);
	free(seen.slots);
	td_strv_free(&active);
	if (view == &own)
		td_reader_view_free(&own);
	if (rc)
		td_digest_free(out);
	return rc;
}

void td_digest_period(const struct td_digest *d, time_t now, time_t *since,
		      time_t *until)
{
	*since = d->since;
	*until = now;
	if (!d->first)
		return;      /* later digests: since their last slot, as always */
	time_t oldest = 0, newest = 0;
	for (size_t i = 0; i < d->nsections; i++)
		for (size_t j = 0; j < d->sections[i].nposts; j++) {
			time_t t = d->sections[i].posts[j].published;
			if (t <= 0)
				continue;
			if (!oldest || t < oldest)
				oldest = t;
			if (t > newest)
				newest = t;
		}
	if (oldest && oldest < d->since) {
		*since = oldest;
		*until = newest;
	}
}

/* Newest published first, as the store gives a tag's posts. */
static int by_newest(const void *a, const void *b)
{
	const struct td_store_post *x = a, *y = b;
	if (x->published != y->published)
		return x->published < y->published ? 1 : -1;
	return x->seq < y->seq ? 1 : x->seq > y->seq ? -1 : 0;
}

int td_digest_waiting(struct td_store *st, struct td_post_cache *cache, const char *tag,
		      const struct td_digest_reader *readers, size_t n, int64_t upto_seq,
		      struct td_store_post **out, size_t *nout, struct td_err *err)
{
	*out = NULL;
	*nout = 0;
	struct seq_set found = { NULL, 0, 0 };
	struct td_store_post *v = NULL;
	size_t cap = 0;
	int rc = 0;
	int64_t start_seq = 0;   /* asked only if a reader has no history */
	bool start_read = false;
	for (size_t r = 0; r < n && !rc; r++) {
		const struct td_digest_reader *rd = &readers[r];
		struct td_store_post *posts = NULL;
		size_t np = 0;
		bool owned;
		if (rd->first && !start_read) {
			if ((rc = clean_start_point(st, cache, &start_seq, err)))
				break;
			start_read = true;
		}
		/* the rule td_digest_build applies: its watermark is the
		 * site's clean-start point for a reader without history */
		int64_t mark = rd->first ? start_seq : rd->watermark;
		cache_make_room(cache, 1, upto_seq);
		rc = borrow_posts(st, cache, tag, mark, upto_seq, rd->first ? rd->since : 0,
				  &posts, &np, &owned, err);
		for (size_t j = 0; !rc && j < np; j++) {
			if (!arrived_above(&posts[j], tag, mark) ||
			    td_digest_had(&posts[j], rd->followed, mark) ||
			    !seq_set_add(&found, posts[j].seq))
				continue;
			if (*nout == cap) {
				cap = cap ? 2 * cap : 16;
				v = td_xrealloc(v, cap * sizeof *v);
			}
			copy_post(&v[(*nout)++], &posts[j]);
		}
		if (owned)
			td_store_posts_free(posts, np);
	}
	free(found.slots);
	if (rc) {
		td_store_posts_free(v, *nout);
		*nout = 0;
		return rc;
	}
	if (*nout > 1)
		qsort(v, *nout, sizeof *v, by_newest);
	*out = v;
	return 0;
}

void td_digest_free(struct td_digest *d)
{
	for (size_t i = 0; i < d->nsections; i++) {
		struct td_digest_section *s = &d->sections[i];
		free(s->tag);
		free(s->tag_name);
		free(s->archive_url);
		td_store_posts_free(s->posts, s->nposts);
	}
	free(d->sections);
	td_strv_free(&d->followed);
	memset(d, 0, sizeof *d);
}

bool td_digest_trim_one(struct td_digest *d)
{
	struct td_digest_section *most = NULL;
	/* a section keeps its newest post: one that shows nothing but "and
	 * N more" announces news without showing any */
	for (size_t i = 0; i < d->nsections; i++)
		if (d->sections[i].nposts > 1 &&
		    (!most || d->sections[i].nposts >= most->nposts))
			most = &d->sections[i];
	if (!most)
		return false;
	most->nposts--;
	td_store_post_clear(&most->posts[most->nposts]);
	most->more++;
	d->shown--;
	return true;
}
