/*
 * roster.c: the subscriber list in the SQLite store (see roster.h).
 */
#include "tagdigest/store/roster.h"

#include <stdlib.h>
#include <string.h>

#include "tagdigest/core/util.h"

static const char *const frequency_names[] = { "weekly", "daily", "monthly" };

const char *td_frequency_name(enum td_frequency f)
{
	return (unsigned)f < 3 ? frequency_names[f] : "weekly";
}

int td_frequency_parse(const char *s, enum td_frequency *out)
{
	for (int i = 0; i < 3; i++)
		if (s && strcmp(s, frequency_names[i]) == 0) {
			*out = (enum td_frequency)i;
			return 0;
		}
	return -1;
}

void td_prefs_clear(struct td_prefs *p)
{
	free(p->timezone);
	memset(p, 0, sizeof *p);
}

void td_prefs_copy(struct td_prefs *dst, const struct td_prefs *src)
{
	*dst = *src;
	dst->timezone = src->timezone ? td_xstrdup(src->timezone) : NULL;
}

static const char *const status_names[] = {
	"pending", "active", "unsubscribed", "bounced", "complained",
};

const char *td_member_status_name(enum td_member_status s)
{
	return (unsigned)s < 5 ? status_names[s] : "unknown";
}

int td_member_status_parse(const char *s, enum td_member_status *out)
{
	for (int i = 0; i < 5; i++)
		if (s && strcmp(s, status_names[i]) == 0) {
			*out = (enum td_member_status)i;
			return 0;
		}
	return -1;
}
