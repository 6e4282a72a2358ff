/*
 * status: what `tagdigest status` prints: the slot, each source's health,
 * and per subscriber their tags, watermark, last digest, when the next one
 * is due and how many posts are waiting for it. Reads the store only.
 */
#ifndef TAGDIGEST_STATUS_H
#define TAGDIGEST_STATUS_H

#include <stdio.h>
#include <time.h>

#include "tagdigest/config.h"
#include "tagdigest/err.h"
#include "tagdigest/store.h"
#include "tagdigest/subscribers.h"

int td_status_print(FILE *out, const struct td_config *cfg, struct td_store *st,
		    const struct td_subscriber_list *subs, time_t now,
		    struct td_err *err);

#endif
