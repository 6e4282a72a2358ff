/*
 * ingest: every configured source into the store.
 *
 * Each source is read in its own transaction; one that fails (missing
 * folder, a feed that cannot be fetched or is not a feed) is reported with
 * its name, its URL or path and the reason, recorded in the store's source
 * health, and does not stop the others; the summary's exit code says that
 * some source failed. A feed's HTTP validators are sent only to the URL
 * they came from (store.h). A feed is
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

/* What one source gave. merged: items new to the store whose post
 * another source had already brought (store.h): not new, not announced
 * again. bad: post files (posts folders) or feed items skipped as bad. */
struct td_ingest_counts {
	size_t read, added, updated, unchanged, merged, bad;
};

/* A source's outcome: read (posts stored or found unchanged), not
 * modified (the feed answered 304 to its validators: nothing to read),
 * or failed (nothing of it stored; the reason in err). */
enum td_ingest_outcome {
	TD_INGEST_OK,
	TD_INGEST_NOT_MODIFIED,
	TD_INGEST_FAILED,
};

struct td_ingest_result {
	const struct td_source_config *src;   /* borrowed from the options */
	bool done;                            /* false: not in the scope */
	enum td_ingest_outcome outcome;
	struct td_ingest_counts n;            /* zero when it failed */
	/* FAILED: code (EX_UNAVAILABLE: could not be fetched; EX_DATAERR:
	 * answered with something that is not a feed; EX_NOINPUT, EX_IOERR:
	 * a posts folder that cannot be read) and a message that starts
	 * with the source's URL or path */
	struct td_err err;
};

/* The totals, and each source in config order (sources[i] answers the
 * options' sources[i]; owned, td_ingest_summary_free). exit is 0 when no
 * source failed, else the code of the failure that matters most to an
 * operator (td_ingest_worse): a problem on this machine (EX_CONFIG,
 * EX_NOINPUT, EX_IOERR, ...) over a source that answered with something
 * that is not a feed (EX_DATAERR), over one that could not be fetched
 * (EX_UNAVAILABLE, often a server down for a while). */
struct td_ingest_summary {
	size_t sources_ok, sources_not_modified, sources_failed;
	size_t read, added, updated, unchanged, merged;
	size_t bad_files, bad_items;          /* posts folders; feeds */
	int exit;
	struct td_ingest_result *sources;
	size_t nsources;
};

/* Which sources an ingest reads: all of them (`ingest`, `run`), or only
 * the posts folders, which cost no network: the desk ingests those on
 * every change it sees, and leaves feeds to `ingest` and `run`. */
enum td_ingest_scope {
	TD_INGEST_ALL,
	TD_INGEST_POSTS,
};

/* Returns 0, or the store's error when the store itself fails. Source
 * failures are counted in the summary (sum->exit), not returned; each is
 * also logged as a warning naming the source and its URL or path. The
 * caller frees *sum with td_ingest_summary_free, whatever is returned. */
int td_ingest(const struct td_ingest_options *opt, struct td_store *st,
	      enum td_ingest_scope scope, time_t now,
	      struct td_ingest_summary *sum, struct td_err *err);
void td_ingest_summary_free(struct td_ingest_summary *sum);
/* Of two exit codes (0: none), the one an operator must hear about
 * first: see struct td_ingest_summary. */
int td_ingest_worse(int a, int b);
/* "ok", "not modified" or "failed". */
const char *td_ingest_outcome_name(enum td_ingest_outcome o);
/* Whether an ingest of that scope reads src. */
bool td_ingest_in_scope(const struct td_source_config *src, enum td_ingest_scope scope);

#endif
