/*
 * test_import.c: a subscriber CSV into the roster (import.h). SYNC adds,
 * updates and removes what the file says, never against the reader's
 * word, and skips a file it synced unchanged; ADD is all or nothing, with
 * every bad row reported as FILE:LINE. Bad rows are logged on stderr, so
 * those tests capture it.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "tagdigest/core/buf.h"
#include "roster_fixture.h"
#include "tagdigest/schedule/import.h"
#include "tagdigest/store/roster.h"
#include "tagdigest/store/store.h"
#include "tagdigest/core/util.h"

static char dir[64];
static char csv[128];

static int import(struct td_store *st, const char *text, enum td_import_mode mode,
		  bool dry_run, time_t now, struct td_import_summary *sum)
{
	struct td_err err = { 0, "" };
	write_file(NULL, csv, text);
	capture_start();
	int rc = td_import_file(st, csv, mode, dry_run, now, sum, &err);
	capture_end();
	if (rc)
		fprintf(stderr, "  import: %s\n", err.msg);
	return rc;
}

static void check_member(struct td_store *st, const char *email, const char *name,
			 const char *tags)
{
	struct td_member m;
	bool found = false;
	struct td_err err = { 0, "" };
	CHECK(td_roster_get(st, email, &m, &found, &err) == 0);
	CHECK(found);
	if (found) {
		CHECK_STR(m.name, name);
		char joined[256] = "";
		for (size_t i = 0; i < m.tags.n; i++) {
			if (i)
				strcat(joined, ",");
			strncat(joined, m.tags.v[i], 64);
		}
		CHECK_STR(joined, tags);
	}
	td_member_free(&m);
}

static bool logged(const char *line)
{
	if (strstr(captured, line))
		return true;
	fprintf(stderr, "  not logged: \"%s\"\n  log was:\n%s", line, captured);
	return false;
}

static void test_sync(void)
{
	struct td_store *st = fresh_store(dir, "sync");
	REQUIRE(st);
	struct td_err err = { 0, "" };
	struct td_import_summary s;
	CHECK(import(st, "email,name,tags\n"
		     "ann@example.org,Ann,NATO;EU\n"
		     "bob@example.org,Bob,usa\n"
		     "cid@example.org,Cid,usa\n"
		     "dee@example.org,Dee,usa\n", TD_IMPORT_SYNC, false, 100, &s) == 0);
	CHECK(s.rows == 4 && s.added == 4 && s.bad == 0 && s.removed == 0 && !s.skipped);
	check_member(st, "ann@example.org", "Ann", "nato,eu");
	struct td_member m;
	bool found;
	CHECK(td_roster_get(st, "ann@example.org", &m, &found, &err) == 0 && found);
	CHECK_STR(m.origin, "csv");
	CHECK(m.consent_from && strstr(m.consent_from, "subs.csv:2") != NULL);
	td_member_free(&m);

	/* the same bytes again: skipped, nothing read into the store */
	CHECK(import(st, "email,name,tags\n"
		     "ann@example.org,Ann,NATO;EU\n"
		     "bob@example.org,Bob,usa\n"
		     "cid@example.org,Cid,usa\n"
		     "dee@example.org,Dee,usa\n", TD_IMPORT_SYNC, false, 150, &s) == 0);
	CHECK(s.skipped && s.rows == 0);

	/* the readers speak: Bob leaves, Cid picks his own tags */
	CHECK(td_roster_unsubscribe(st, "bob@example.org", "one-click", 200, &err) == 0);
	struct td_strv mine = TD_STRV_INIT;
	td_strv_push(&mine, "eu");
	struct td_prefs p = { 0 };
	CHECK(td_roster_set_prefs(st, "cid@example.org", &mine, &p, 200, &err) == 0);
	td_strv_free(&mine);
	/* an unchanged file still changes nothing: the store's word stands */
	CHECK(import(st, "email,name,tags\n"
		     "ann@example.org,Ann,NATO;EU\n"
		     "bob@example.org,Bob,usa\n"
		     "cid@example.org,Cid,usa\n"
		     "dee@example.org,Dee,usa\n", TD_IMPORT_SYNC, false, 250, &s) == 0);
	CHECK(s.skipped);
	CHECK(status_of(st, "bob@example.org") == TD_MEMBER_UNSUBSCRIBED);
	check_member(st, "cid@example.org", "Cid", "eu");

	/* an edited file: Ann's name, Bob and Cid as before, Dee deleted,
	 * Eve new */
	CHECK(import(st, "email,name,tags\n"
		     "ann@example.org,Ann Smith,nato;eu\n"
		     "bob@example.org,Bob,usa\n"
		     "cid@example.org,Cid,usa\n"
		     "eve@example.org,Eve,eu\n", TD_IMPORT_SYNC, false, 300, &s) == 0);
	CHECK(!s.skipped);
	CHECK(s.rows == 4 && s.added == 1 && s.updated == 1 && s.kept_out == 1 &&
	      s.reader_kept == 1 && s.unchanged == 0 && s.removed == 1);
	check_member(st, "ann@example.org", "Ann Smith", "nato,eu");
	CHECK(status_of(st, "bob@example.org") == TD_MEMBER_UNSUBSCRIBED);
	check_member(st, "cid@example.org", "Cid", "eu");
	CHECK(status_of(st, "dee@example.org") == -1);
	CHECK(status_of(st, "eve@example.org") == TD_MEMBER_ACTIVE);

	/* Bob's row deleted too: he stays (unsubscribed), with his record;
	 * a reader who came from elsewhere (cli) is not the file's to remove */
	struct td_strv t = TD_STRV_INIT;
	td_strv_push(&t, "eu");
	struct td_roster_row row = { "cli@example.org", "", &t, "cli", "ed" };
	enum td_roster_result r;
	CHECK(td_roster_put(st, &row, 350, &r, &err) == 0 && r == TD_ROSTER_ADDED);
	td_strv_free(&t);
	CHECK(import(st, "email,name,tags\n"
		     "ann@example.org,Ann Smith,nato;eu\n"
		     "cid@example.org,Cid,usa\n"
		     "eve@example.org,Eve,eu\n", TD_IMPORT_SYNC, false, 400, &s) == 0);
	CHECK(s.removed == 0 && s.unchanged == 2 && s.reader_kept == 1);
	CHECK(status_of(st, "bob@example.org") == TD_MEMBER_UNSUBSCRIBED);
	CHECK(status_of(st, "cli@example.org") == TD_MEMBER_ACTIVE);
	td_store_close(st);
}

/* A bad row in a sync is skipped, reported at its line, and removes
 * nobody: the broken row may be a subscriber's. */
static void test_sync_bad_row(void)
{
	struct td_store *st = fresh_store(dir, "syncbad");
	REQUIRE(st);
	struct td_import_summary s;
	CHECK(import(st, "email,name,tags\n"
		     "ann@example.org,Ann,nato\n"
		     "bob@example.org,Bob,usa\n", TD_IMPORT_SYNC, false, 100, &s) == 0);
	CHECK(s.added == 2);
	CHECK(import(st, "email,name,tags\n"
		     "ann@example.org,Ann,nato\n"
		     "bob@example.org,Bob,\n"
		     "new@example.org,New,eu\n", TD_IMPORT_SYNC, false, 200, &s) == 0);
	CHECK(s.rows == 2 && s.bad == 1 && s.added == 1 && s.removed == 0);
	CHECK(logged("subs.csv:3: "));
	CHECK(status_of(st, "bob@example.org") == TD_MEMBER_ACTIVE);
	check_member(st, "bob@example.org", "Bob", "usa");
	CHECK(status_of(st, "new@example.org") == TD_MEMBER_ACTIVE);
	/* not remembered as synced: the next run reads it again and says so */
	CHECK(import(st, "email,name,tags\n"
		     "ann@example.org,Ann,nato\n"
		     "bob@example.org,Bob,\n"
		     "new@example.org,New,eu\n", TD_IMPORT_SYNC, false, 300, &s) == 0);
	CHECK(!s.skipped && s.bad == 1);
	CHECK(logged("subs.csv:3: "));
	td_store_close(st);
}

/* ADD stores all rows or none; every bad row is reported. */
static void test_add_all_or_nothing(void)
{
	struct td_store *st = fresh_store(dir, "add");
	REQUIRE(st);
	struct td_import_summary s;
	struct td_err err = { 0, "" };
	write_file(NULL, csv, "email,name,tags\n"
		   "ann@example.org,Ann,nato\n"
		   "not-an-address,X,nato\n"
		   "bob@example.org,Bob,usa\n"
		   "cid@example.org,Cid,\n");
	capture_start();
	int rc = td_import_file(st, csv, TD_IMPORT_ADD, false, 100, &s, &err);
	capture_end();
	CHECK(rc == EX_DATAERR);
	CHECK(strstr(err.msg, "2 bad rows") != NULL);
	CHECK(strstr(err.msg, "nothing imported") != NULL);
	CHECK(logged("subs.csv:3: "));
	CHECK(logged("subs.csv:5: "));
	CHECK(s.bad == 2);
	CHECK(status_of(st, "ann@example.org") == -1);
	CHECK(status_of(st, "bob@example.org") == -1);
	/* fixed: all in, origin import, nothing removed */
	CHECK(import(st, "email,name,tags\n"
		     "ann@example.org,Ann,nato\n"
		     "bob@example.org,Bob,usa\n", TD_IMPORT_ADD, false, 200, &s) == 0);
	CHECK(s.added == 2 && s.bad == 0);
	struct td_member m;
	bool found;
	CHECK(td_roster_get(st, "bob@example.org", &m, &found, &err) == 0 && found);
	CHECK_STR(m.origin, "import");
	CHECK_STR(m.consent_how, "import");
	CHECK(m.consent_from && strstr(m.consent_from, "subs.csv:3") != NULL);
	td_member_free(&m);
	CHECK(import(st, "email,name,tags\n"
		     "cid@example.org,Cid,eu\n", TD_IMPORT_ADD, false, 300, &s) == 0);
	CHECK(s.added == 1 && s.removed == 0);
	CHECK(status_of(st, "ann@example.org") == TD_MEMBER_ACTIVE);
	/* a dry run reads and counts and stores nothing */
	CHECK(import(st, "email,name,tags\n"
		     "dan@example.org,Dan,eu\n"
		     "ann@example.org,Ann B,nato\n", TD_IMPORT_ADD, true, 400, &s) == 0);
	CHECK(s.added == 1 && s.updated == 1);
	CHECK(status_of(st, "dan@example.org") == -1);
	check_member(st, "ann@example.org", "Ann", "nato");
	td_store_close(st);
}

/* More changed rows than a sync holds while it compares: the rest are
 * put as they are read, and every row is still marked (a row put late
 * and then swept as unmarked would be gone). */
static void test_sync_many(void)
{
	struct td_store *st = fresh_store(dir, "many");
	REQUIRE(st);
	enum { N = 9000 };
	struct td_buf text = TD_BUF_INIT;
	td_buf_puts(&text, "email,name,tags\n");
	for (int i = 0; i < N; i++)
		td_buf_printf(&text, "r%05d@example.org,R %d,%s\n", i, i, i % 2 ? "eu" : "nato;eu");
	struct td_import_summary s;
	CHECK(import(st, td_buf_cstr(&text), TD_IMPORT_SYNC, false, 100, &s) == 0);
	CHECK(s.rows == N && s.added == N && s.removed == 0);
	size_t counts[5];
	struct td_err err = { 0, "" };
	CHECK(td_roster_counts(st, counts, &err) == 0);
	CHECK(counts[TD_MEMBER_ACTIVE] == N);
	/* the same rows with a few names changed and the first row gone */
	td_buf_reset(&text);
	td_buf_puts(&text, "email,name,tags\n");
	for (int i = 1; i < N; i++)
		td_buf_printf(&text, "r%05d@example.org,R %d%s,%s\n", i, i,
			      i % 1000 == 0 ? " (new name)" : "", i % 2 ? "eu" : "nato;eu");
	CHECK(import(st, td_buf_cstr(&text), TD_IMPORT_SYNC, false, 200, &s) == 0);
	CHECK(s.rows == N - 1 && s.updated == 8 && s.unchanged == N - 9 && s.removed == 1);
	CHECK(td_roster_counts(st, counts, &err) == 0);
	CHECK(counts[TD_MEMBER_ACTIVE] == N - 1);
	check_member(st, "r05000@example.org", "R 5000 (new name)", "nato,eu");
	CHECK(status_of(st, "r00000@example.org") == -1);
	td_buf_free(&text);
	td_store_close(st);
}

/* A duplicate address (ASCII case folded) is a bad row that names the
 * line it repeats, the first row wins, and nobody is removed: before the
 * stash fills (the rows compared without the lock) and after (put as
 * read). The addresses met live in the store (td_subscribers_seen_in_store),
 * so a second sync on the same connection starts afresh. */
static void test_sync_duplicates(void)
{
	struct td_store *st = fresh_store(dir, "dups");
	REQUIRE(st);
	enum { N = 6000 };
	struct td_buf text = TD_BUF_INIT;
	td_buf_puts(&text, "email,name,tags\n");
	for (int i = 0; i < N; i++) {
		td_buf_printf(&text, "r%05d@example.org,R %d,eu\n", i, i);
		if (i == 10)         /* line 13, repeating line 3 */
			td_buf_puts(&text, "R00001@Example.ORG,Again,nato\n");
		if (i == 5000)       /* line 5004, repeating line 5003 */
			td_buf_puts(&text, "r05000@example.org,Twice,nato\n");
	}
	struct td_import_summary s;
	CHECK(import(st, td_buf_cstr(&text), TD_IMPORT_SYNC, false, 100, &s) == 0);
	CHECK(s.rows == N && s.added == N && s.bad == 2 && s.removed == 0);
	CHECK(logged("subs.csv:13: email 'R00001@Example.ORG': duplicate of line 3"));
	CHECK(logged("subs.csv:5004: email 'r05000@example.org': duplicate of line 5003"));
	check_member(st, "r00001@example.org", "R 1", "eu");
	check_member(st, "r05000@example.org", "R 5000", "eu");
	/* again, without the first row: the duplicates keep anyone from
	 * being removed, and the same lines are named (nothing left over
	 * from the last sync) */
	td_buf_reset(&text);
	td_buf_puts(&text, "email,name,tags\n");
	for (int i = 1; i < N; i++) {
		td_buf_printf(&text, "r%05d@example.org,R %d,eu\n", i, i);
		if (i == 10)
			td_buf_puts(&text, "R00001@Example.ORG,Again,nato\n");
	}
	CHECK(import(st, td_buf_cstr(&text), TD_IMPORT_SYNC, false, 200, &s) == 0);
	CHECK(s.rows == N - 1 && s.bad == 1 && s.removed == 0);
	CHECK(logged("subs.csv:12: email 'R00001@Example.ORG': duplicate of line 2"));
	CHECK(status_of(st, "r00000@example.org") == TD_MEMBER_ACTIVE);
	/* the same file without the duplicate: now the first row goes */
	td_buf_reset(&text);
	td_buf_puts(&text, "email,name,tags\n");
	for (int i = 1; i < N; i++)
		td_buf_printf(&text, "r%05d@example.org,R %d,eu\n", i, i);
	CHECK(import(st, td_buf_cstr(&text), TD_IMPORT_SYNC, false, 300, &s) == 0);
	CHECK(s.rows == N - 1 && s.bad == 0 && s.removed == 1);
	td_buf_free(&text);
	td_store_close(st);
}

static void test_missing_file(void)
{
	struct td_store *st = fresh_store(dir, "missing");
	REQUIRE(st);
	struct td_import_summary s;
	struct td_err err = { 0, "" };
	char nofile[160];
	snprintf(nofile, sizeof nofile, "%s/none.csv", dir);
	CHECK(td_import_file(st, nofile, TD_IMPORT_SYNC, false, 100, &s, &err) == EX_NOINPUT);
	CHECK(strstr(err.msg, "none.csv") != NULL);
	td_store_close(st);
}

int main(void)
{
	strcpy(dir, "/tmp/td-import-XXXXXX");
	if (!mkdtemp(dir))
		return 2;
	store_fixture_init("import");
	snprintf(csv, sizeof csv, "%s/subs.csv", dir);
	TD_RUN(test_sync);
	TD_RUN(test_sync_bad_row);
	TD_RUN(test_add_all_or_nothing);
	TD_RUN(test_sync_many);
	TD_RUN(test_sync_duplicates);
	TD_RUN(test_missing_file);
	store_fixture_done();
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	return TD_DONE(store_fixture_label("import"));
}
