/*
 * roster_fixture.h: what the roster's tests (test_roster.c,
 * test_import.c) share: a fresh store per test (store_fixture.h: a file
 * in the test's temporary folder, or a PostgreSQL schema), and a
 * member's status in one call.
 */
#ifndef TAGDIGEST_TEST_ROSTER_FIXTURE_H
#define TAGDIGEST_TEST_ROSTER_FIXTURE_H

#include <stdio.h>
#include <unistd.h>

#include "store_fixture.h"
#include "tagdigest/store/roster.h"
#include "tagdigest/store/store.h"

/* The member's status, or -1 when the roster does not know them. */
static inline int status_of(struct td_store *st, const char *email)
{
	struct td_member m;
	bool found;
	struct td_err err = { 0, "" };
	int rc = td_roster_get(st, email, &m, &found, &err);
	int s = rc || !found ? -1 : (int)m.status;
	td_member_free(&m);
	return s;
}

#endif
