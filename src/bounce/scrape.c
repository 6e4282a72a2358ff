/*
 * scrape: the non-standard bounce formats (bounce_impl.h). A placeholder
 * until the formats are in: it finds nothing.
 */
#include "bounce_impl.h"

void td_bounce_scrape(const struct td_bmsg *m, struct td_bounce_report *r)
{
	(void)m;
	(void)r;
}
