/*
 * digest: what one subscriber's digest holds right now.
 *
 * One section per followed tag, in the subscriber's order, with the posts
 * of that tag whose seq lies above the watermark (newest first). A post in
 * two followed tags appears once, in the first of them. The per-digest cap
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
 * claims, for the same reason the watermark is a seq).
 *
 * upto_seq is the store's highest seq when the digest was built: after
 * delivery it becomes the watermark, so posts the cap left out are not
 * repeated next week (the "and N more" link carries them).
 *
 * Ownership: td_digest_free() releases sections and posts.
 */
#ifndef TAGDIGEST_DIGEST_H
#define TAGDIGEST_DIGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "tagdigest/config.h"
#include "tagdigest/err.h"
#include "tagdigest/store.h"
#include "tagdigest/subscribers.h"

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
	time_t since;            /* start of the period covered */
	struct td_strv followed; /* display names of every followed tag */
	bool suppressed;         /* unsubscribed from everything (or bounced):
				  * no sections, nothing to send */
};

int td_digest_build(struct td_store *st, const struct td_config *cfg,
		    const struct td_subscriber *sub, time_t now,
		    struct td_digest *out, struct td_err *err);

/* A send run asks the same question for thousands of subscribers ("the
 * posts of tag T between seq A and B"): this cache answers it from memory
 * after the first time. Only for a span in which no post changes (a send
 * run holds the run lock, so ingest cannot interleave); the caller owns
 * it. */
struct td_post_cache;
struct td_post_cache *td_post_cache_new(void);
void td_post_cache_free(struct td_post_cache *c);
/* td_digest_build, with cache (NULL: none). */
int td_digest_build_cached(struct td_store *st, const struct td_config *cfg,
			   const struct td_subscriber *sub, time_t now,
			   struct td_post_cache *cache, struct td_digest *out,
			   struct td_err *err);
/* Shows one post fewer: the last shown post of the section showing the
 * most (so the cap shrinks as fairly as it was shared) moves into that
 * section's "and N more". A section's last post is never taken: false
 * when every section shows one post (or none). */
bool td_digest_trim_one(struct td_digest *d);
/* tag_url pattern with {tag} replaced; malloc'd. */
char *td_digest_archive_url(const char *tag_url, const char *slug);
void td_digest_free(struct td_digest *d);

#endif
