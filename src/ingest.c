/*
 * ingest.c: reading sources into the store (see ingest.h).
 */
#include "tagdigest/ingest.h"

#include <stdbool.h>
#include <string.h>

#include "tagdigest/log.h"
#include "tagdigest/postsdir.h"

struct ingest_ctx {
	struct td_store *st;
	const char *source;
	time_t now;
	bool store_failed;                 /* the callback's error is the store's */
	struct td_ingest_summary counts;   /* this source only */
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
	else
		ctx->counts.unchanged++;
	return 0;
}

/* Returns non-zero only when the store fails; a failure of the source
 * itself is left in srcerr (code 0 when the source was fine). */
static int ingest_source(const struct td_config *cfg,
			 const struct td_source_config *src,
			 struct ingest_ctx *ctx, struct td_err *srcerr,
			 struct td_err *err)
{
	int rc = td_store_begin(ctx->st, err);
	if (rc)
		return rc;
	int src_rc;
	if (strcmp(src->type, "posts") == 0)
		src_rc = td_postsdir_read(src->path, (size_t)cfg->excerpt_chars,
					  store_post, ctx, &ctx->counts.bad, srcerr);
	else
		src_rc = td_err_set(srcerr, EX_CONFIG,
				    "source type '%s' is not supported by this version",
				    src->type);
	if (src_rc) {
		/* keep nothing half-read */
		td_store_rollback(ctx->st);
		if (ctx->store_failed) {
			*err = *srcerr;
			return src_rc;
		}
		memset(&ctx->counts, 0, sizeof ctx->counts);
		return td_store_source_result(ctx->st, src->name, false, srcerr->msg,
					      ctx->now, err);
	}
	srcerr->code = 0;
	if ((rc = td_store_commit(ctx->st, err)))
		return rc;
	return td_store_source_result(ctx->st, src->name, true, NULL, ctx->now, err);
}

int td_ingest(const struct td_config *cfg, struct td_store *st, time_t now,
	      struct td_ingest_summary *sum, struct td_err *err)
{
	memset(sum, 0, sizeof *sum);
	for (size_t i = 0; i < cfg->nsources; i++) {
		const struct td_source_config *src = &cfg->sources[i];
		struct ingest_ctx ctx = { st, src->name, now, false, { 0 } };
		struct td_err srcerr = { 0, "" };
		int rc = ingest_source(cfg, src, &ctx, &srcerr, err);
		if (rc)
			return td_err_prefix(err, "ingest: source '%s'", src->name);
		if (srcerr.code) {
			sum->sources_failed++;
			td_log_warnx("ingest: source '%s': %s", src->name, srcerr.msg);
			continue;
		}
		sum->sources_ok++;
		sum->read += ctx.counts.read;
		sum->added += ctx.counts.added;
		sum->updated += ctx.counts.updated;
		sum->unchanged += ctx.counts.unchanged;
		sum->bad += ctx.counts.bad;
		td_log_debug("ingest: source '%s': %zu posts read: %zu new, %zu updated, "
			    "%zu unchanged, %zu skipped as bad",
			    src->name, ctx.counts.read, ctx.counts.added,
			    ctx.counts.updated, ctx.counts.unchanged, ctx.counts.bad);
	}
	return 0;
}
