/*
 * roster_fixture.h: what the roster's tests (test_roster.c,
 * test_import.c) share: a fresh store per test in the file's own
 * temporary folder, and a member's status in one call.
 */
#ifndef TAGDIGEST_TEST_ROSTER_FIXTURE_H
#define TAGDIGEST_TEST_ROSTER_FIXTURE_H

#include <stdio.h>
#include <unistd.h>

#include "tagdigest/store/roster.h"
#include "tagdigest/store/store.h"

/* dir/name.db, removed first and opened read-write (NULL, reported on
 * stderr, when it cannot be). */
static inline struct td_store *fresh_store(const char *dir, const char *name)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s.db", dir, name);
	unlink(path);
	struct td_store *st = NULL;
	struct td_err err = { 0, "" };
	if (td_store_open(path, TD_STORE_READWRITE, &st, &err) != 0)
		fprintf(stderr, "open %s: %s\n", path, err.msg);
	return st;
}

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
