/*
 * status: what `tagdigest status` prints: the slot, each source's health,
 * and per subscriber their tags, watermark, last digest, when the next one
 * is due and how many posts are waiting for it. Reads the store only.
 */
#ifndef TAGDIGEST_STATUS_H
#define TAGDIGEST_STATUS_H

#include <stdio.h>
#include <time.h>

#include "tagdigest/compose/digest.h"
#include "tagdigest/core/err.h"
#include "tagdigest/schedule/schedule.h"
#include "tagdigest/sources/source.h"
#include "tagdigest/store/store.h"
#include "tagdigest/schedule/subscribers.h"

/* What the report shows besides the store; borrowed for the call. */
struct td_status_options {
	struct td_schedule schedule;  /* the slot; its zone is the one every
				       * time is shown in */
	const char *store_path;       /* named in the report */
	const struct td_source_config *sources;  /* whose health is shown */
	size_t nsources;
	struct td_digest_options digest;  /* to count the posts waiting */
};

int td_status_print(FILE *out, const struct td_status_options *opt,
		    struct td_store *st, const struct td_subscriber_list *subs,
		    time_t now, struct td_err *err);

#endif
