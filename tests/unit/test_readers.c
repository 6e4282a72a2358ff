/*
 * test_readers.c: the readers a send walks, for preview and the desk
 * (readers.h): the roster's active readers first, with their own
 * schedule, then the file's rows the store does not know; one reader
 * found by address with their status, from the store before the file.
 */
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "roster_fixture.h"
#include "tagdigest/core/util.h"
#include "tagdigest/schedule/readers.h"

static char dir[64];
static char csv[128];

static void put(struct td_store *st, const char *email, const char *name,
		const char *tag)
{
	struct td_strv tags = TD_STRV_INIT;
	td_strv_push(&tags, tag);
	struct td_roster_row row = { email, name, &tags, "cli", "tester" };
	enum td_roster_result res;
	struct td_err err = { 0, "" };
	CHECK(td_roster_put(st, &row, 100, &res, &err) == 0);
	td_strv_free(&tags);
}

static void test_store_first_then_new_rows(void)
{
	struct td_store *st = fresh_store(dir, "walk");
	REQUIRE(st);
	struct td_err err = { 0, "" }, ferr = { 0, "" };
	put(st, "ann@example.org", "Ann", "nato");
	put(st, "bob@example.org", "Bob", "usa");
	CHECK(td_roster_unsubscribe(st, "bob@example.org", "one-click", 200, &err) == 0);
	/* Ann's own schedule: daily at 06:30 in Tokyo */
	char tokyo[] = "Asia/Tokyo";
	struct td_strv mine = TD_STRV_INIT;
	td_strv_push(&mine, "eu");
	struct td_prefs p = { .frequency = TD_FREQ_DAILY, .own_time = true, .hour = 6,
			      .minute = 30, .timezone = tokyo };
	CHECK(td_roster_set_prefs(st, "ann@example.org", &mine, &p, 200, &err) == 0);
	td_strv_free(&mine);
	/* the file: Bob (the store says he left), Cid (new), Ann, a bad row */
	write_file(NULL, csv, "email,name,tags\n"
		   "bob@example.org,Bob,usa\n"
		   "cid@example.org,Cid,usa\n"
		   "not an address,X,usa\n"
		   "ann@example.org,Ann,nato\n");

	struct td_subscriber_list l;
	capture_start();
	int rc = td_readers_load(st, csv, &l, &ferr, &err);
	capture_end();
	REQUIRE(rc == 0);
	CHECK(ferr.code == 0);
	REQUIRE(l.n == 2);
	CHECK(l.nbad == 1);
	CHECK_STR(l.v[0].email, "ann@example.org");
	CHECK(l.v[0].tags.n == 1 && strcmp(l.v[0].tags.v[0], "eu") == 0);
	CHECK(l.v[0].prefs.frequency == TD_FREQ_DAILY && l.v[0].prefs.own_time &&
	      l.v[0].prefs.hour == 6 && l.v[0].prefs.minute == 30);
	CHECK(l.v[0].prefs.timezone && strcmp(l.v[0].prefs.timezone, "Asia/Tokyo") == 0);
	CHECK(l.v[0].line == 0);
	CHECK_STR(l.v[1].email, "cid@example.org");
	CHECK(l.v[1].line == 3 && !l.v[1].prefs.own_time);
	/* the roster's id (the VERP token names it); a file row has none yet */
	struct td_member ann;
	bool found = false;
	CHECK(td_roster_get(st, "ann@example.org", &ann, &found, &err) == 0 && found);
	CHECK(ann.id > 0 && l.v[0].member_id == ann.id);
	CHECK(l.v[1].member_id == 0);
	td_subscribers_free(&l);

	struct td_reader r;
	capture_start();
	rc = td_reader_find(st, csv, "BOB@example.org", &r, &err);
	capture_end();
	CHECK(rc == 0 && r.found && r.in_store && r.status == TD_MEMBER_UNSUBSCRIBED);
	td_reader_free(&r);
	capture_start();
	rc = td_reader_find(st, csv, "cid@example.org", &r, &err);
	capture_end();
	CHECK(rc == 0 && r.found && !r.in_store && r.status == TD_MEMBER_ACTIVE);
	CHECK(r.view.name && strcmp(r.view.name, "Cid") == 0);
	CHECK(r.view.member_id == 0);
	td_reader_free(&r);
	CHECK(td_reader_find(st, csv, "ann@example.org", &r, &err) == 0);
	CHECK(r.found && r.in_store && r.view.prefs.own_time);
	CHECK(r.view.member_id == ann.id);
	td_reader_free(&r);
	td_member_free(&ann);
	capture_start();
	rc = td_reader_find(st, csv, "zed@example.org", &r, &err);
	capture_end();
	CHECK(rc == 0 && !r.found);
	td_reader_free(&r);

	/* no file: the store's readers, and why the file was left out */
	char nofile[160];
	snprintf(nofile, sizeof nofile, "%s/none.csv", dir);
	CHECK(td_readers_load(st, nofile, &l, &ferr, &err) == 0);
	CHECK(ferr.code == EX_NOINPUT && strstr(ferr.msg, "none.csv") != NULL);
	CHECK(l.n == 1 && strcmp(l.v[0].email, "ann@example.org") == 0);
	td_subscribers_free(&l);
	td_store_close(st);
}

int main(void)
{
	strcpy(dir, "/tmp/td-readers-XXXXXX");
	if (!mkdtemp(dir))
		return 2;
	store_fixture_init("readers");
	snprintf(csv, sizeof csv, "%s/subs.csv", dir);
	TD_RUN(test_store_first_then_new_rows);
	store_fixture_done();
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	return TD_DONE(store_fixture_label("readers"));
}
