/*
 * test_store.c: the store's promises: seq assigned once, re-ingest is a
 * no-op, edits update in place, a delivery and its watermark commit
 * together, a slot cannot be recorded twice, read-only never creates.
 */
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "tagdigest/store.h"
#include "tagdigest/util.h"

static char dir[64];
static char path[128];

static struct td_post make_post(const char *guid, const char *hash,
				const char *title, const char *tag1,
				const char *tag2)
{
	struct td_post p;
	memset(&p, 0, sizeof p);
	p.guid = (char *)guid;
	p.url = (char *)"https://example.org/p";
	p.title = (char *)title;
	p.author = (char *)"A";
	p.published = 1000;
	p.excerpt_html = (char *)"<p>x</p>";
	p.excerpt_text = (char *)"x";
	p.content_html = (char *)"<p>x</p>";
	p.content_hash = (char *)hash;
	td_strv_push(&p.tags, tag1);
	td_strv_push(&p.tag_names, "Tag One");
	if (tag2) {
		td_strv_push(&p.tags, tag2);
		td_strv_push(&p.tag_names, "Tag Two");
	}
	return p;
}

static void drop_post(struct td_post *p)
{
	td_strv_free(&p->tags);
	td_strv_free(&p->tag_names);
}

static void test_readonly_missing(void)
{
	struct td_store *st = NULL;
	struct td_err err = { 0, "" };
	CHECK(td_store_open(path, TD_STORE_READONLY, &st, &err) == EX_NOINPUT);
	CHECK(st == NULL);
	CHECK(strstr(err.msg, "tagdigest ingest") != NULL);
	CHECK(access(path, F_OK) < 0);
}

static void test_seq_and_idempotence(void)
{
	struct td_store *st = NULL;
	struct td_err err = { 0, "" };
	CHECK(td_store_open(path, TD_STORE_READWRITE, &st, &err) == 0);
	if (!st)
		return;
	CHECK(td_store_schema_version(st) >= 1);
	enum td_upsert r;
	struct td_post a = make_post("a", "h1", "First", "one", "two");
	struct td_post b = make_post("b", "h2", "Second", "two", NULL);
	CHECK(td_store_begin(st, &err) == 0);
	CHECK(td_store_upsert_post(st, "posts", &a, 100, &r, &err) == 0 && r == TD_UPSERT_NEW);
	CHECK(td_store_upsert_post(st, "posts", &b, 100, &r, &err) == 0 && r == TD_UPSERT_NEW);
	CHECK(td_store_commit(st, &err) == 0);
	CHECK(td_store_max_seq(st) == 2);
	/* same bytes again: nothing changes, no new seq */
	CHECK(td_store_upsert_post(st, "posts", &a, 200, &r, &err) == 0 && r == TD_UPSERT_UNCHANGED);
	CHECK(td_store_max_seq(st) == 2);
	/* the same guid in another source is another post */
	CHECK(td_store_upsert_post(st, "feed", &a, 200, &r, &err) == 0 && r == TD_UPSERT_NEW);
	CHECK(td_store_max_seq(st) == 3);
	/* an edit keeps its seq and drops a removed tag */
	struct td_post a2 = make_post("a", "h1-edited", "First (edited)", "one", NULL);
	CHECK(td_store_upsert_post(st, "posts", &a2, 300, &r, &err) == 0 && r == TD_UPSERT_UPDATED);
	CHECK(td_store_max_seq(st) == 3);
	CHECK(td_store_post_count(st) == 3);

	struct td_store_post *posts;
	size_t n;
	CHECK(td_store_posts_for_tag(st, "one", 0, 3, 0, &posts, &n, &err) == 0);
	CHECK(n == 2); /* posts:a (edited) and feed:a */
	if (n == 2) {
		CHECK_STR(posts[0].title, "First");       /* seq 3 ties on date, higher seq first */
		CHECK_STR(posts[1].title, "First (edited)");
		CHECK(posts[1].seq == 1);
		CHECK(posts[1].tags.n == 1);
	}
	td_store_posts_free(posts, n);
	CHECK(td_store_posts_for_tag(st, "two", 0, 3, 0, &posts, &n, &err) == 0);
	CHECK(n == 2); /* b and feed:a; posts:a lost the tag */
	td_store_posts_free(posts, n);
	/* the window: after seq 1, up to seq 2 */
	CHECK(td_store_posts_for_tag(st, "two", 1, 2, 0, &posts, &n, &err) == 0);
	CHECK(n == 1 && n == 1 && strcmp(posts[0].title, "Second") == 0);
	td_store_posts_free(posts, n);
	/* ingested_since filters by arrival time: feed:a arrived at 200 */
	CHECK(td_store_posts_for_tag(st, "two", 0, 3, 150, &posts, &n, &err) == 0);
	CHECK(n == 1 && posts[0].seq == 3);
	td_store_posts_free(posts, n);
	drop_post(&a);
	drop_post(&a2);
	drop_post(&b);
	char *name = td_store_tag_name(st, "one");
	CHECK_STR(name, "Tag One");
	free(name);
	name = td_store_tag_name(st, "unknown-tag");
	CHECK_STR(name, "unknown-tag");
	free(name);
	td_store_close(st);
}

static void test_delivery_and_watermark(void)
{
	struct td_store *st = NULL;
	struct td_err err = { 0, "" };
	CHECK(td_store_open(path, TD_STORE_READWRITE, &st, &err) == 0);
	if (!st)
		return;
	struct td_subscriber_state s;
	CHECK(td_store_subscriber_state(st, "Ann@Example.org", &s, &err) == 0);
	CHECK(!s.known && s.watermark == 0);
	bool done = true;
	CHECK(td_store_slot_done(st, "ann@example.org", 5000, &done, &err) == 0 && !done);

	struct td_delivery d = { "Ann@Example.org", 5000, false, "id@x", "250 ok",
				 0, 3, 2, 6000 };
	CHECK(td_store_record_delivery(st, &d, &err) == 0);
	CHECK(td_store_slot_done(st, "ann@example.org", 5000, &done, &err) == 0 && done);
	CHECK(td_store_subscriber_state(st, "ANN@example.org", &s, &err) == 0);
	CHECK(s.known && s.watermark == 3 && s.last_slot == 5000 && s.last_sent_at == 6000);

	/* a second record for the same slot is refused and changes nothing */
	struct td_delivery again = d;
	again.upto_seq = 9;
	CHECK(td_store_record_delivery(st, &again, &err) == EX_SOFTWARE);
	CHECK(strstr(err.msg, "already recorded") != NULL);
	CHECK(td_store_subscriber_state(st, "ann@example.org", &s, &err) == 0);
	CHECK(s.watermark == 3);
	CHECK(td_store_delivery_count(st, "sent") == 1);

	/* a skipped digest moves the slot but keeps last_sent_at */
	struct td_delivery skip = { "ann@example.org", 9000, true, NULL, NULL, 3, 3, 0, 9500 };
	CHECK(td_store_record_delivery(st, &skip, &err) == 0);
	CHECK(td_store_subscriber_state(st, "ann@example.org", &s, &err) == 0);
	CHECK(s.last_slot == 9000 && s.last_sent_at == 6000 && s.watermark == 3);
	CHECK(td_store_delivery_count(st, "skipped") == 1);
	CHECK(td_store_record_attempt(st, "bob@example.org", 9000, "tempfail",
				      "451 try later", 9600, &err) == 0);
	td_store_close(st);

	/* read-only sees the same and writes nothing */
	struct stat before, after;
	CHECK(stat(path, &before) == 0);
	CHECK(td_store_open(path, TD_STORE_READONLY, &st, &err) == 0);
	if (st) {
		CHECK(td_store_subscriber_state(st, "ann@example.org", &s, &err) == 0);
		CHECK(s.watermark == 3);
		struct td_delivery bad = { "zed@example.org", 1, true, NULL, NULL, 0, 0, 0, 1 };
		CHECK(td_store_record_delivery(st, &bad, &err) != 0);
		td_store_close(st);
	}
	CHECK(stat(path, &after) == 0);
	CHECK(before.st_size == after.st_size && before.st_mtime == after.st_mtime);
}

static void test_newer_schema_refused(void)
{
	char *newer = td_xasprintf("%s/newer.db", dir);
	sqlite3 *db;
	CHECK(sqlite3_open(newer, &db) == SQLITE_OK);
	CHECK(sqlite3_exec(db, "PRAGMA user_version = 999", NULL, NULL, NULL) == SQLITE_OK);
	sqlite3_close(db);
	struct td_store *st = NULL;
	struct td_err err = { 0, "" };
	CHECK(td_store_open(newer, TD_STORE_READWRITE, &st, &err) == EX_CONFIG);
	CHECK(st == NULL && strstr(err.msg, "upgrade tagdigest") != NULL);
	CHECK(td_store_open(newer, TD_STORE_READONLY, &st, &err) == EX_CONFIG);
	CHECK(strstr(err.msg, "upgrade tagdigest") != NULL);
	free(newer);
}

/* Schema 3: a pending digest keeps its exact bytes for a resend; a
 * delivery recorded inside the caller's transaction ends it and resets the
 * bounce count. */
static void test_pending_and_bounces(void)
{
	struct td_store *st = NULL;
	struct td_err err = { 0, "" };
	CHECK(td_store_open(path, TD_STORE_READWRITE, &st, &err) == 0);
	if (!st)
		return;
	CHECK(td_store_schema_version(st) >= 3);
	CHECK_STR(td_store_path(st), path);

	static const char msg[] = "Message-ID: <m1@x>\r\n\r\nbody\0with NUL\r\n";
	struct td_pending p = {
		.email = (char *)"Cy@Example.org", .slot = 7000, .state = (char *)"retry",
		.message_id = (char *)"m1@x", .message = (char *)msg,
		.message_len = sizeof msg - 1, .from_seq = 1, .upto_seq = 4,
		.post_count = 2, .attempts = 1, .first_attempt_at = 7100,
		.next_attempt_at = 7400, .last_error = (char *)"451 later",
	};
	CHECK(td_store_pending_put(st, &p, &err) == 0);
	struct td_pending got;
	bool found = false;
	CHECK(td_store_pending_get(st, "cy@example.org", 7000, &got, &found, &err) == 0);
	CHECK(found);
	if (found) {
		CHECK_STR(got.state, "retry");
		CHECK_STR(got.message_id, "m1@x");
		CHECK(got.message_len == sizeof msg - 1 &&
		      memcmp(got.message, msg, sizeof msg - 1) == 0);
		CHECK(got.from_seq == 1 && got.upto_seq == 4 && got.post_count == 2);
		CHECK(got.attempts == 1 && got.next_attempt_at == 7400);
		CHECK_STR(got.last_error, "451 later");
	}
	td_store_pending_free(&got);

	/* an update keeps the Message-ID and the first attempt */
	p.attempts = 2;
	p.next_attempt_at = 9000;
	p.message_id = (char *)"other@x";
	p.first_attempt_at = 1;
	CHECK(td_store_pending_put(st, &p, &err) == 0);
	CHECK(td_store_pending_get(st, "CY@example.org", 7000, &got, &found, &err) == 0);
	CHECK(found && got.attempts == 2 && got.next_attempt_at == 9000);
	CHECK(found && strcmp(got.message_id, "m1@x") == 0 && got.first_attempt_at == 7100);
	td_store_pending_free(&got);
	CHECK(td_store_pending_count(st, "retry") == 1);

	/* bounces count up and a delivery resets them */
	int n = 0;
	CHECK(td_store_bounce_note(st, "cy@example.org", "550 no", 1, &n, &err) == 0 && n == 1);
	CHECK(td_store_bounce_note(st, "CY@example.org", "550 no", 2, &n, &err) == 0 && n == 2);
	CHECK(td_store_bounce_count(st, "cy@example.org") == 2);

	struct td_delivery d = { "cy@example.org", 7000, false, "m1@x", "250 ok", 1, 4, 2, 9100 };
	CHECK(td_store_begin(st, &err) == 0);
	CHECK(td_store_put_delivery(st, &d, &err) == 0);
	CHECK(td_store_commit(st, &err) == 0);
	CHECK(td_store_pending_get(st, "cy@example.org", 7000, &got, &found, &err) == 0);
	CHECK(!found);
	td_store_pending_free(&got);
	CHECK(td_store_bounce_count(st, "cy@example.org") == 0);
	bool done = false;
	CHECK(td_store_slot_done(st, "cy@example.org", 7000, &done, &err) == 0 && done);
	/* the same slot twice is refused here too */
	CHECK(td_store_begin(st, &err) == 0);
	CHECK(td_store_put_delivery(st, &d, &err) == EX_SOFTWARE);
	td_store_rollback(st);

	/* a given-up digest drops its bytes */
	p.email = (char *)"dee@example.org";
	p.state = (char *)"expired";
	CHECK(td_store_pending_put(st, &p, &err) == 0);
	CHECK(td_store_pending_get(st, "dee@example.org", 7000, &got, &found, &err) == 0);
	CHECK(found && got.message_len == 0 && strcmp(got.state, "expired") == 0);
	td_store_pending_free(&got);
	CHECK(td_store_pending_delete(st, "dee@example.org", 7000, &err) == 0);
	CHECK(td_store_pending_count(st, "expired") == 0);
	td_store_close(st);
}

/* Issue 9 item 4: excerpts stored before the renderer cut them were cut at
 * ingest. The migration that came with the change makes the next ingest
 * rewrite every post (same seq) and fetch every feed in full. */
static void test_migration_rereads_posts(void)
{
	char *old = td_xasprintf("%s/old.db", dir);
	struct td_store *st = NULL;
	struct td_err err = { 0, "" };
	CHECK(td_store_open(old, TD_STORE_READWRITE, &st, &err) == 0);
	if (!st)
		return;
	int version = td_store_schema_version(st);
	enum td_upsert r;
	struct td_post a = make_post("a", "h1", "First", "one", NULL);
	CHECK(td_store_upsert_post(st, "posts", &a, 100, &r, &err) == 0 && r == TD_UPSERT_NEW);
	CHECK(td_store_set_source_validators(st, "feed", "\"etag-1\"", "Mon, 01 Jan 2024", &err) == 0);
	td_store_close(st);
	/* as the store of the version before: the migration runs again */
	sqlite3 *db;
	CHECK(sqlite3_open(old, &db) == SQLITE_OK);
	char *pragma = td_xasprintf("PRAGMA user_version = %d", version - 1);
	CHECK(sqlite3_exec(db, pragma, NULL, NULL, NULL) == SQLITE_OK);
	free(pragma);
	sqlite3_close(db);

	CHECK(td_store_open(old, TD_STORE_READWRITE, &st, &err) == 0);
	if (!st)
		return;
	CHECK(td_store_schema_version(st) == version);
	char *etag = NULL, *modified = NULL;
	CHECK(td_store_source_validators(st, "feed", &etag, &modified, &err) == 0);
	CHECK_STR(etag, "");
	CHECK_STR(modified, "");
	free(etag);
	free(modified);
	/* the same post, read again: rewritten in place, not new */
	CHECK(td_store_upsert_post(st, "posts", &a, 200, &r, &err) == 0 && r == TD_UPSERT_UPDATED);
	CHECK(td_store_max_seq(st) == 1);
	CHECK(td_store_upsert_post(st, "posts", &a, 300, &r, &err) == 0 && r == TD_UPSERT_UNCHANGED);
	td_store_close(st);
	drop_post(&a);
	free(old);
}

int main(void)
{
	strcpy(dir, "/tmp/td-store-XXXXXX");
	if (!mkdtemp(dir))
		return 2;
	snprintf(path, sizeof path, "%s/sub/dir/store.db", dir);
	TD_RUN(test_readonly_missing);
	TD_RUN(test_seq_and_idempotence);
	TD_RUN(test_delivery_and_watermark);
	TD_RUN(test_newer_schema_refused);
	TD_RUN(test_pending_and_bounces);
	TD_RUN(test_migration_rereads_posts);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	return TD_DONE("store");
}
