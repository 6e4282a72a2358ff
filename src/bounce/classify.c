/*
 * classify: reason, status and hard flag of each recipient
 * (bounce_impl.h). A placeholder until the rules are in: every recipient
 * is "undefined" and soft.
 */
#include "bounce_impl.h"

void td_bounce_classify(const struct td_bmsg *m, struct td_bounce_recipient *rc)
{
	(void)m;
	rc->reason = "undefined";
	rc->hard = false;
}
