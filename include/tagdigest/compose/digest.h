/*
 * digest: what one subscriber's digest holds right now.
 *
 * One section per followed tag, in the subscriber's order, with the posts
 * of that tag that are new to the subscriber (newest first): the tag
 * arrived on the post (store.h: a number from the counter that numbers
 * posts) above the subscriber's watermark, and no other followed tag
 * arrived on it at or below the watermark (then the post reached them
 * before, through that tag: td_digest_had). So a post that a second
 * source brings later, or that an edit tags anew, reaches the readers of
 * its new tag once, and nobody who had it gets it again. (Followed means
 * in the subscriber file now and not left: tagdigest keeps no history of
 * a reader's tags.) A post in two followed tags appears once, in the
 * first of them. The per-digest cap
 * is shared round-robin across sections, so every tag with news shows at
 * least one post before any tag shows a second; what the cap leaves out is
 * counted per section as "and N more", linked to the tag's archive page.
 *
 * Suppressions in the store (unsubscribes, bounces) override the file: a
 * tag the subscriber left is not followed, and a subscriber who left
 * everything gets an empty digest marked `suppressed`.
 *
 * A subscriber with no history gets the posts that arrived in the store
 * during the last first_digest_days (by arrival, not by the date a source
 * claims, for the same reason the watermark is a seq), and after the
 * site's clean-start point (store/start.h: td_store_clean_start_seq, 0
 * when the site never started clean): what `run --no-send` counted as
 * seen is the site's archive for a reader who joins later too, so a
 * first digest holds none of it (that point is their watermark before).
 * On a new site that did not start clean every post arrived at the
 * first ingest, so such a digest can hold posts dated years before
 * `since`: td_digest_period then shows the dates the posts carry
 * instead.
 *
 * upto_seq is the store's counter when the digest was built
 * (td_store_max_seq: posts and tags' arrivals): after delivery it becomes
 * the watermark, so posts the cap left out are not repeated next week
 * (the "and N more" link carries them).
 *
 * `status` counts a subscriber's waiting posts with td_digest_build, and
 * the editors' desk a tag's with td_digest_waiting, which applies the
 * same rule.
 *
 * Ownership: td_digest_free() releases sections and posts.
 */
#ifndef TAGDIGEST_DIGEST_H
#define TAGDIGEST_DIGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "tagdigest/core/err.h"
#include "tagdigest/store/store.h"
#include "tagdigest/schedule/subscribers.h"

struct td_digest_section {
	char *tag;               /* slug */
	char *tag_name;          /* display name */
	char *archive_url;       /* the tag's page on the site */
	struct td_store_post *posts;  /* shown, newest first */
	size_t nposts;
	size_t more;             /* left out by the cap */
};

struct td_digest {
	struct td_digest_section *sections;   /* only tags with news */
	size_t nsections;
	size_t shown;            /* posts shown in all sections */
	size_t total;            /* distinct posts, shown or not */
	int64_t from_seq;        /* watermark before */
	int64_t upto_seq;        /* watermark after delivery */
	bool first;              /* the subscriber's first digest */
	bool after_start;        /* their first after a clean start: the
				  * start is their last record (store.h:
				  * started_last), not a digest */
	time_t since;            /* start of the period covered */
	struct td_strv followed; /* display names of every followed tag */
	bool suppressed;         /* unsubscribed from everything (or bounced):
				  * no sections, nothing to send */
};

/* The [digest] and [schedule] settings a digest is built with. */
struct td_digest_options {
	int max_posts;           /* the per-digest cap; <= 0: none */
	int first_digest_days;   /* what a first digest covers, in days */
	const char *tag_url;     /* archive_url pattern: {tag} -> slug */
};

int td_digest_build(struct td_store *st, const struct td_digest_options *opt,
		    const struct td_subscriber *sub, time_t now,
		    struct td_digest *out, struct td_err *err);

/* A send run asks the same questions for thousands of subscribers ("the
 * posts of tag T above watermark W", "the name of tag T"): this cache
 * answers them from memory after the first time. A tag's posts are read
 * once for the lowest watermark asked (and again only for a lower one),
 * with their tags, and each reader's taken from them in memory; so it
 * holds the posts in play, however many readers ask. Only for a span in
 * which no post changes but by new arrivals (a send run: an ingest that
 * commits posts moves the store's counter, and a digest built at another
 * counter empties the cache); one thread at a time; the caller owns it. */
struct td_post_cache;
struct td_post_cache *td_post_cache_new(void);
void td_post_cache_free(struct td_post_cache *c);
/* td_digest_build, with cache (NULL: none). */
int td_digest_build_cached(struct td_store *st, const struct td_digest_options *opt,
			   const struct td_subscriber *sub, time_t now,
			   struct td_post_cache *cache, struct td_digest *out,
			   struct td_err *err);
/* td_digest_build_cached with the reader's view (store.h:
 * td_store_reader_view) already read, in the snapshot the caller holds;
 * NULL reads it. */
int td_digest_build_view(struct td_store *st, const struct td_digest_options *opt,
			 const struct td_subscriber *sub, const struct td_reader_view *view,
			 time_t now, struct td_post_cache *cache, struct td_digest *out,
			 struct td_err *err);
/* Shows one post fewer: the last shown post of the section showing the
 * most (so the cap shrinks as fairly as it was shared) moves into that
 * section's "and N more". A section's last post is never taken: false
 * when every section shows one post (or none). */
bool td_digest_trim_one(struct td_digest *d);
/* Whether a reader who follows `followed` (slugs) and whose watermark is
 * `watermark` has had post p (a post of one of those tags) already: one
 * of those tags arrived on it at or below the watermark. */
bool td_digest_had(const struct td_store_post *p, const struct td_strv *followed,
		   int64_t watermark);
/* One reader, as td_digest_waiting sees them. */
struct td_digest_reader {
	int64_t watermark;
	const struct td_strv *followed;   /* slugs: followed and not left */
	bool first;                       /* no history: what arrived since `since`
					   * and after the site's clean-start
					   * point (the watermark is not read) */
	time_t since;
};
/* The posts of `tag` that at least one of these readers (who follow it)
 * would find in their next digest, by td_digest_build's rule, each once,
 * newest first; the store's counter was upto_seq. *out is freed with
 * td_store_posts_free. cache: as td_digest_build_cached (NULL: none). */
int td_digest_waiting(struct td_store *st, struct td_post_cache *cache, const char *tag,
		      const struct td_digest_reader *readers, size_t n, int64_t upto_seq,
		      struct td_store_post **out, size_t *nout, struct td_err *err);
/* The period a digest's header shows (render.h: period.since and
 * period.until). A later digest: from `since` (the slot of the last one)
 * to now. A first digest holding a post dated before `since` (a new
 * site's backlog, a source's old posts arriving late): from the oldest
 * shown post's date to the newest, the dates the reader sees in it, so
 * the header never claims a week for posts from years back. Posts with
 * no date (0) do not count. Asked at render time, after any
 * td_digest_trim_one. */
void td_digest_period(const struct td_digest *d, time_t now, time_t *since,
		      time_t *until);
/* tag_url pattern with {tag} replaced; malloc'd. */
char *td_digest_archive_url(const char *tag_url, const char *slug);
void td_digest_free(struct td_digest *d);

#endif
