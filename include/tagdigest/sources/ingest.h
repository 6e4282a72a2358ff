/*
 * ingest: every configured source into the store.
 *
 * Each source is read in its own transaction; one that fails (missing
 * folder, unsupported type) is reported with its name and reason, recorded
 * in the store's source health, and does not stop the others. A feed is
 * stored as soon as its download ends, and its body freed, so at most
 * fetch.parallel bodies are held at once. A post file the store already
 * holds with the same content hash (postsdir.h) is counted unchanged
 * without its Markdown being rendered: the desk ingests again on every
 * change it sees, and rendering is most of what a post costs.
 */
#ifndef TAGDIGEST_INGEST_H
#define TAGDIGEST_INGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "tagdigest/core/err.h"
#include "tagdigest/sources/fetch.h"
#include "tagdigest/sources/source.h"
#include "tagdigest/store/store.h"

/* The sources to read (the posts folders first, in this order, then the
 * feeds, downloaded with `fetch`); borrowed for the call. */
struct td_ingest_options {
	const struct td_source_config *sources;
	size_t nsources;
	struct td_fetch_options fetch;
};

/* merged: items new to the store whose post another source had already
 * brought (store.h): not new, not announced again. */
struct td_ingest_summary {
	size_t sources_ok, sources_failed;
	size_t read, added, updated, unchanged, merged, bad;
};

/* Which sources an ingest reads: all of them (`ingest`, `run`), or only
 * the posts folders, which cost no network: the desk ingests those on
 * every change it sees, and leaves feeds to `ingest` and `run`. */
enum td_ingest_scope {
	TD_INGEST_ALL,
	TD_INGEST_POSTS,
};

/* Returns 0, or the store's error when the store itself fails. Source
 * failures are counted in the summary, not returned. */
int td_ingest(const struct td_ingest_options *opt, struct td_store *st,
	      enum td_ingest_scope scope, time_t now,
	      struct td_ingest_summary *sum, struct td_err *err);
/* Whether an ingest of that scope reads src. */
bool td_ingest_in_scope(const struct td_source_config *src, enum td_ingest_scope scope);

#endif
