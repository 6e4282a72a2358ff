/*
 * ingest.c: reading sources into the store (see ingest.h).
 *
 * Local sources (the posts folders) are read first, in config order; then
 * the feeds are downloaded in parallel (fetch.h) and each is parsed and
 * stored the moment its download ends, and its body freed, so memory
 * follows fetch.parallel and not the number of feeds. Every source is
 * read into the store in its own transaction. A feed's HTTP validators
 * are kept only once its posts are stored, so a feed that failed to parse
 * is fetched in full next time.
 */
#include "tagdigest/sources/ingest.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "tagdigest/sources/feed.h"
#include "tagdigest/core/log.h"
#include "tagdigest/sources/postsdir.h"
#include "tagdigest/core/util.h"

struct ingest_ctx {
	struct td_store *st;
	const char *source;
	time_t now;
	bool store_failed;                 /* the callback's error is the store's */
	struct td_ingest_counts counts;    /* this source only */
};

static int store_post(void *arg, const struct td_post *post, struct td_err *err)
{
	struct ingest_ctx *ctx = arg;
	enum td_upsert result;
	int rc = td_store_upsert_post(ctx->st, ctx->source, post, ctx->now, &result, err);
	if (rc) {
		ctx->store_failed = true;
		return rc;
	}
	ctx->counts.read++;
	if (result == TD_UPSERT_NEW)
		ctx->counts.added++;
	else if (result == TD_UPSERT_UPDATED)
		ctx->counts.updated++;
	else if (result == TD_UPSERT_MERGED)
		ctx->counts.merged++;
	else
		ctx->counts.unchanged++;
	return 0;
}

/* A post file the store holds with the same content hash is counted as
 * unchanged (as td_store_upsert_post() would) without being rendered. */
static int post_known(void *arg, const char *guid, const char *content_hash,
		      bool *known, struct td_err *err)
{
	struct ingest_ctx *ctx = arg;
	int rc = td_store_item_unchanged(ctx->st, ctx->source, guid, content_hash,
					 known, err);
	if (rc) {
		ctx->store_failed = true;
		return rc;
	}
	if (*known) {
		ctx->counts.read++;
		ctx->counts.unchanged++;
	}
	return 0;
}

static bool is_feed(const struct td_source_config *src)
{
	return strcmp(src->type, "feed") == 0;
}

/* Where a source is read from: its URL, or its folder. */
static const char *where(const struct td_source_config *src)
{
	return is_feed(src) ? src->url : src->path;
}

/* Reads one source's posts through store_post. Errors of the source go to
 * srcerr; a store error is flagged in ctx by the callback. */
static int read_source(const struct td_source_config *src,
		       const struct td_fetch_result *fetched,
		       struct ingest_ctx *ctx, struct td_err *srcerr)
{
	if (strcmp(src->type, "posts") == 0)
		return td_postsdir_read(src->path, post_known, store_post, ctx,
					&ctx->counts.bad, srcerr);
	if (!is_feed(src))
		return td_err_set(srcerr, EX_CONFIG,
				  "source type '%s' is not supported", src->type);
	if (fetched->status == TD_FETCH_ERROR)
		return td_err_set(srcerr, EX_UNAVAILABLE, "%s", fetched->error);
	if (fetched->status == TD_FETCH_NOT_MODIFIED)
		return 0;
	struct td_feed *feed = NULL;
	/* the document's base: Content-Location, else where it came from */
	const char *base = fetched->content_location ? fetched->content_location :
			   fetched->final_url ? fetched->final_url : src->url;
	int rc = td_feed_parse(fetched->body, fetched->len, base,
			       fetched->content_type, &feed, srcerr);
	if (rc)
		return rc;
	rc = td_feed_posts(feed, src, store_post, ctx, &ctx->counts.bad, srcerr);
	td_feed_free(feed);
	return rc;
}

/* Returns non-zero only when the store fails; a failure of the source
 * itself is left in srcerr (code 0 when the source was fine), its message
 * starting with the source's URL or path. */
static int ingest_source(const struct td_source_config *src,
			 const struct td_fetch_result *fetched,
			 struct ingest_ctx *ctx, struct td_err *srcerr,
			 struct td_err *err)
{
	int rc = td_store_begin(ctx->st, err);
	if (rc)
		return rc;
	int src_rc = read_source(src, fetched, ctx, srcerr);
	if (src_rc) {
		/* keep nothing half-read */
		td_store_rollback(ctx->st);
		if (ctx->store_failed) {
			*err = *srcerr;
			return src_rc;
		}
		memset(&ctx->counts, 0, sizeof ctx->counts);
		td_err_prefix(srcerr, "%s", where(src));
		return td_store_source_result(ctx->st, src->name, false, srcerr->msg,
					      ctx->now, err);
	}
	srcerr->code = 0;
	/* the validators are the URL's: another URL must not send them */
	if (is_feed(src) && fetched->status == TD_FETCH_OK &&
	    (rc = td_store_set_source_validators(ctx->st, src->name, src->url,
						  fetched->etag ? fetched->etag : "",
						  fetched->last_modified ?
						  fetched->last_modified : "", err))) {
		td_store_rollback(ctx->st);
		return rc;
	}
	if ((rc = td_store_commit(ctx->st, err)))
		return rc;
	return td_store_source_result(ctx->st, src->name, true, NULL, ctx->now, err);
}

static int severity(int code)
{
	switch (code) {
	case 0: return 0;
	case EX_UNAVAILABLE: return 1;   /* may come back by itself */
	case EX_DATAERR: return 2;       /* a URL that a person must correct */
	default: return 3;               /* this machine: folder, disk, config */
	}
}

int td_ingest_worse(int a, int b)
{
	return severity(b) > severity(a) ? b : a;
}

const char *td_ingest_outcome_name(enum td_ingest_outcome o)
{
	return o == TD_INGEST_OK ? "ok" : o == TD_INGEST_NOT_MODIFIED ? "not modified" :
	       "failed";
}

/* Adds one source's outcome to the summary and says it. */
static void account(const struct td_source_config *src,
		    const struct td_fetch_result *fetched,
		    const struct ingest_ctx *ctx, const struct td_err *srcerr,
		    struct td_ingest_result *res, struct td_ingest_summary *sum)
{
	res->done = true;
	if (srcerr->code) {
		res->outcome = TD_INGEST_FAILED;
		res->err = *srcerr;
		sum->sources_failed++;
		sum->exit = td_ingest_worse(sum->exit, srcerr->code);
		td_log_warnx("ingest: source '%s': %s", src->name, srcerr->msg);
		return;
	}
	res->n = ctx->counts;
	sum->read += ctx->counts.read;
	sum->added += ctx->counts.added;
	sum->updated += ctx->counts.updated;
	sum->unchanged += ctx->counts.unchanged;
	sum->merged += ctx->counts.merged;
	if (is_feed(src))
		sum->bad_items += ctx->counts.bad;
	else
		sum->bad_files += ctx->counts.bad;
	if (fetched && fetched->status == TD_FETCH_NOT_MODIFIED) {
		res->outcome = TD_INGEST_NOT_MODIFIED;
		sum->sources_not_modified++;
		td_log_debug("ingest: source '%s': %s: not modified since the last fetch",
			     src->name, src->url);
		return;
	}
	res->outcome = TD_INGEST_OK;
	sum->sources_ok++;
	td_log_debug("ingest: source '%s': %s: %zu read: %zu new, %zu updated, "
		     "%zu unchanged, %zu already stored from another source, "
		     "%zu skipped as bad", src->name, where(src), ctx->counts.read,
		     ctx->counts.added, ctx->counts.updated, ctx->counts.unchanged,
		     ctx->counts.merged, ctx->counts.bad);
}

/* Stores one source (the options' sources[i]); non-zero only when the
 * store fails. */
static int ingest_one(struct td_store *st, const struct td_ingest_options *opt,
		      size_t i, const struct td_fetch_result *fetched, time_t now,
		      struct td_ingest_summary *sum, struct td_err *err)
{
	const struct td_source_config *src = &opt->sources[i];
	struct ingest_ctx ctx = { st, src->name, now, false, { 0 } };
	struct td_err srcerr = { 0, "" };
	int rc = ingest_source(src, fetched, &ctx, &srcerr, err);
	if (rc) {
		td_err_prefix(err, "ingest: source '%s'", src->name);
		return rc;
	}
	account(src, fetched, &ctx, &srcerr, &sum->sources[i], sum);
	return 0;
}

struct feeds_ctx {
	const struct td_ingest_options *opt;
	struct td_store *st;
	time_t now;
	struct td_ingest_summary *sum;
	const size_t *slot;        /* request -> index in opt->sources */
};

/* A feed's download ended: store it now, so its body can go. */
static int feed_done(void *arg, size_t i, struct td_fetch_result *r,
		     struct td_err *err)
{
	struct feeds_ctx *c = arg;
	return ingest_one(c->st, c->opt, c->slot[i], r, c->now, c->sum, err);
}

/* Downloads every feed source, storing each as its download ends. */
static int ingest_feeds(const struct td_ingest_options *opt, struct td_store *st,
			time_t now, struct td_ingest_summary *sum,
			struct td_err *err)
{
	struct td_fetch_request *reqs = td_xcalloc(opt->nsources ? opt->nsources : 1,
						   sizeof *reqs);
	size_t *slot = td_xcalloc(opt->nsources ? opt->nsources : 1, sizeof *slot);
	struct td_strv validators = TD_STRV_INIT;   /* owns the strings in reqs */
	size_t n = 0;
	int rc = 0;
	for (size_t i = 0; i < opt->nsources && !rc; i++) {
		if (!is_feed(&opt->sources[i]))
			continue;
		char *etag, *modified;
		if ((rc = td_store_source_validators(st, opt->sources[i].name,
						     opt->sources[i].url, &etag,
						     &modified, err)))
			break;
		td_strv_push_owned(&validators, etag);
		td_strv_push_owned(&validators, modified);
		reqs[n].url = opt->sources[i].url;
		reqs[n].etag = *etag ? etag : NULL;
		reqs[n].last_modified = *modified ? modified : NULL;
		slot[n++] = i;
	}
	if (!rc && n) {
		struct feeds_ctx c = { opt, st, now, sum, slot };
		rc = td_fetch_each(&opt->fetch, reqs, n, feed_done, &c, err);
	}
	free(reqs);
	free(slot);
	td_strv_free(&validators);
	return rc;
}

bool td_ingest_in_scope(const struct td_source_config *src, enum td_ingest_scope scope)
{
	return scope == TD_INGEST_ALL || strcmp(src->type, "posts") == 0;
}

int td_ingest(const struct td_ingest_options *opt, struct td_store *st,
	      enum td_ingest_scope scope, time_t now,
	      struct td_ingest_summary *sum, struct td_err *err)
{
	memset(sum, 0, sizeof *sum);
	sum->nsources = opt->nsources;
	sum->sources = td_xcalloc(opt->nsources ? opt->nsources : 1, sizeof *sum->sources);
	for (size_t i = 0; i < opt->nsources; i++)
		sum->sources[i].src = &opt->sources[i];
	int rc = 0;
	for (size_t i = 0; !rc && i < opt->nsources; i++)
		if (!is_feed(&opt->sources[i]) && td_ingest_in_scope(&opt->sources[i], scope))
			rc = ingest_one(st, opt, i, NULL, now, sum, err);
	if (rc || scope != TD_INGEST_ALL)
		return rc;
	return ingest_feeds(opt, st, now, sum, err);
}

void td_ingest_summary_free(struct td_ingest_summary *sum)
{
	free(sum->sources);
	sum->sources = NULL;
	sum->nsources = 0;
}
