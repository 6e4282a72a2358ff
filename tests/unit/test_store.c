/*
 * test_store.c: the store's promises: seq assigned once, re-ingest is a
 * no-op, edits update in place, one article from several sources is one
 * post (and migration 4 merges the copies stored before), a delivery and
 * its watermark commit together, a slot cannot be recorded twice,
 * read-only never creates.
 */
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "tagdigest/buf.h"
#include "tagdigest/store.h"
#include "tagdigest/util.h"

static char dir[64];
static char path[128];

static struct td_post make_post_at(const char *guid, const char *url,
				   const char *hash, const char *title,
				   const char *tag1, const char *tag2)
{
	struct td_post p;
	memset(&p, 0, sizeof p);
	p.guid = (char *)guid;
	p.url = (char *)url;
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

static struct td_post make_post(const char *guid, const char *hash,
				const char *title, const char *tag1,
				const char *tag2)
{
	/* one page per guid: these posts are not one article */
	static char urls[8][64];
	static size_t next;
	char *url = urls[next++ % 8];
	snprintf(url, sizeof urls[0], "https://example.org/p/%s", guid);
	return make_post_at(guid, url, hash, title, tag1, tag2);
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
	/* the same guid, when it is not a global one, in another source
	 * with another link is another post */
	struct td_post fa = make_post_at("a", "https://feed.example.org/a", "h1", "First",
					 "one", "two");
	CHECK(td_store_upsert_post(st, "feed", &fa, 200, &r, &err) == 0 && r == TD_UPSERT_NEW);
	drop_post(&fa);
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

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The tags of the post with this seq, as "a,b,c" (slugs, sorted). */
static char *tags_of(struct td_store *st, const char *via_tag, int64_t seq)
{
	struct td_store_post *posts;
	size_t n;
	struct td_err err = { 0, "" };
	struct td_buf b = TD_BUF_INIT;
	if (td_store_posts_for_tag(st, via_tag, 0, INT64_MAX, 0, &posts, &n, &err) != 0)
		return td_buf_steal(&b);
	for (size_t i = 0; i < n; i++) {
		if (posts[i].seq != seq)
			continue;
		qsort(posts[i].tags.v, posts[i].tags.n, sizeof *posts[i].tags.v, cmp_str);
		for (size_t k = 0; k < posts[i].tags.n; k++)
			td_buf_printf(&b, "%s%s", k ? "," : "", posts[i].tags.v[k]);
	}
	td_store_posts_free(posts, n);
	return td_buf_steal(&b);
}

static size_t count_for_tag(struct td_store *st, const char *tag)
{
	struct td_store_post *posts;
	size_t n = 0;
	struct td_err err = { 0, "" };
	if (td_store_posts_for_tag(st, tag, 0, INT64_MAX, 0, &posts, &n, &err) == 0)
		td_store_posts_free(posts, n);
	return n;
}

/* Issue 9, item 2: one article from several sources is one post. */
static void test_one_post_many_sources(void)
{
	char p2[160];
	snprintf(p2, sizeof p2, "%s/sources.db", dir);
	struct td_store *st = NULL;
	struct td_err err = { 0, "" };
	CHECK(td_store_open(p2, TD_STORE_READWRITE, &st, &err) == 0);
	if (!st)
		return;
	enum td_upsert r;
	const char *url = "https://blog.test/2017/07/08/summit/";
	/* WordPress tag feeds: the same item, each with its own categories */
	struct td_post nato = make_post_at("https://blog.test/?p=42", url, "n1", "Summit",
					   "nato", "diplomacy");
	struct td_post usa = make_post_at("https://blog.test/?p=42", url, "u1", "Summit",
					  "usa", NULL);
	CHECK(td_store_upsert_post(st, "nato", &nato, 100, &r, &err) == 0 && r == TD_UPSERT_NEW);
	CHECK(td_store_upsert_post(st, "usa", &usa, 100, &r, &err) == 0 && r == TD_UPSERT_MERGED);
	CHECK(td_store_max_seq(st) == 1 && td_store_post_count(st) == 1);
	char *t = tags_of(st, "usa", 1);
	CHECK_STR(t, "diplomacy,nato,usa");
	free(t);
	/* seen again: nothing changes */
	CHECK(td_store_upsert_post(st, "usa", &usa, 200, &r, &err) == 0 &&
	      r == TD_UPSERT_UNCHANGED);
	CHECK(td_store_upsert_post(st, "nato", &nato, 200, &r, &err) == 0 &&
	      r == TD_UPSERT_UNCHANGED);

	/* a later source with a guid of its own finds it by the permalink,
	 * however the link is spelled: it keeps seq 1 and is not new */
	struct td_post eu = make_post_at(
		"42", "HTTPS://Blog.Test:443/2017/07/08/summit?utm_source=feed&utm_medium=rss#more",
		"e1", "Summit", "eu", NULL);
	CHECK(td_store_upsert_post(st, "eu", &eu, 300, &r, &err) == 0 && r == TD_UPSERT_MERGED);
	CHECK(td_store_max_seq(st) == 1 && td_store_post_count(st) == 1);
	t = tags_of(st, "eu", 1);
	CHECK_STR(t, "diplomacy,eu,nato,usa");
	free(t);

	/* one source dropping a category takes back only its own: nato's
	 * "diplomacy" stays, usa's "usa" goes */
	struct td_post usa2 = make_post_at("https://blog.test/?p=42", url, "u2", "Summit",
					   "world", NULL);
	CHECK(td_store_upsert_post(st, "usa", &usa2, 400, &r, &err) == 0 &&
	      r == TD_UPSERT_UPDATED);
	t = tags_of(st, "nato", 1);
	CHECK_STR(t, "diplomacy,eu,nato,world");
	free(t);
	CHECK(count_for_tag(st, "usa") == 0);

	/* an edit from any source updates the post in place */
	struct td_post eu2 = make_post_at("42", eu.url, "e2", "Summit (updated)", "eu", NULL);
	CHECK(td_store_upsert_post(st, "eu", &eu2, 500, &r, &err) == 0 && r == TD_UPSERT_UPDATED);
	struct td_store_post *posts;
	size_t n;
	CHECK(td_store_posts_for_tag(st, "nato", 0, 10, 0, &posts, &n, &err) == 0);
	CHECK(n == 1 && posts[0].seq == 1 && strcmp(posts[0].title, "Summit (updated)") == 0);
	td_store_posts_free(posts, n);

	/* "7" from two sites is two posts; so are two items of one feed that
	 * share a link, and two posts with global guids that link one page
	 * (link blogs) */
	struct td_post s1 = make_post_at("7", "https://one.test/a/", "x1", "A", "misc", NULL);
	struct td_post s2 = make_post_at("7", "https://two.test/b/", "x2", "B", "misc", NULL);
	struct td_post s3 = make_post_at("8", "https://one.test/a/", "x3", "C", "misc", NULL);
	struct td_post l1 = make_post_at("tag:one.test,2017:1", "https://news.test/story",
					 "l1", "Link 1", "links", NULL);
	struct td_post l2 = make_post_at("tag:two.test,2017:9", "https://news.test/story",
					 "l2", "Link 2", "links", NULL);
	CHECK(td_store_upsert_post(st, "one", &s1, 600, &r, &err) == 0 && r == TD_UPSERT_NEW);
	CHECK(td_store_upsert_post(st, "two", &s2, 600, &r, &err) == 0 && r == TD_UPSERT_NEW);
	CHECK(td_store_upsert_post(st, "one", &s3, 600, &r, &err) == 0 && r == TD_UPSERT_NEW);
	CHECK(td_store_upsert_post(st, "one", &l1, 600, &r, &err) == 0 && r == TD_UPSERT_NEW);
	CHECK(td_store_upsert_post(st, "two", &l2, 600, &r, &err) == 0 && r == TD_UPSERT_NEW);
	CHECK(count_for_tag(st, "misc") == 3 && count_for_tag(st, "links") == 2);
	/* the same tag: id from a third source joins the first of them */
	struct td_post l3 = make_post_at("tag:one.test,2017:1", "https://mirror.test/x",
					 "l3", "Link 1", "links", NULL);
	CHECK(td_store_upsert_post(st, "three", &l3, 700, &r, &err) == 0 &&
	      r == TD_UPSERT_MERGED);
	CHECK(count_for_tag(st, "links") == 2);

	/* a guid a feed wrote as "123" and resolved against its own URL
	 * looks global but is not: two tag feeds' items are one post by
	 * their link, and the same resolved guid does not join another page */
	const char *art = "https://site.test/2026/article/";
	struct td_post ga = make_post_at("https://site.test/tag/a/feed/123", art, "g", "Art",
					 "guid-a", NULL);
	struct td_post gb = make_post_at("https://site.test/tag/b/feed/123", art, "g", "Art",
					 "guid-b", NULL);
	struct td_post gc = make_post_at("https://site.test/tag/a/feed/123",
					 "https://site.test/2026/other/", "g2", "Other", "guid-c",
					 NULL);
	ga.guid_local = gb.guid_local = gc.guid_local = true;
	CHECK(td_store_upsert_post(st, "ga", &ga, 800, &r, &err) == 0 && r == TD_UPSERT_NEW);
	int64_t gseq = td_store_max_seq(st);
	CHECK(td_store_upsert_post(st, "gb", &gb, 800, &r, &err) == 0 && r == TD_UPSERT_MERGED);
	CHECK(td_store_upsert_post(st, "gc", &gc, 800, &r, &err) == 0 && r == TD_UPSERT_NEW);
	t = tags_of(st, "guid-a", gseq);
	CHECK_STR(t, "guid-a,guid-b");
	free(t);
	CHECK(count_for_tag(st, "guid-c") == 1);
	struct td_post *all[] = { &nato, &usa, &eu, &usa2, &eu2, &s1, &s2, &s3, &l1, &l2, &l3,
				  &ga, &gb, &gc };
	for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
		drop_post(all[i]);
	td_store_close(st);
}

static void exec_or_fail(sqlite3 *db, const char *sql)
{
	char *msg = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		fprintf(stderr, "sql: %s\n", msg ? msg : "?");
		CHECK(!"the schema-3 fixture was built");
	}
	sqlite3_free(msg);
}

/* Migration 4 on a store that version 3 filled: the same article stored
 * twice from two tag feeds becomes one post under the first seq; nothing
 * about deliveries or watermarks moves, and no seq is handed out again. */
static void test_migration_4(void)
{
	char p3[160];
	snprintf(p3, sizeof p3, "%s/v3.db", dir);
	sqlite3 *db = NULL;
	CHECK(sqlite3_open(p3, &db) == SQLITE_OK);
	/* the tables migration 4 reads, as versions 1 to 3 made them */
	exec_or_fail(db,
		"CREATE TABLE posts (seq INTEGER PRIMARY KEY AUTOINCREMENT,"
		" source TEXT NOT NULL, guid TEXT NOT NULL, url TEXT NOT NULL,"
		" title TEXT NOT NULL, author TEXT NOT NULL DEFAULT '',"
		" published INTEGER NOT NULL, updated INTEGER NOT NULL,"
		" excerpt_html TEXT NOT NULL, excerpt_text TEXT NOT NULL,"
		" content_html TEXT NOT NULL, content_hash TEXT NOT NULL,"
		" ingested_at INTEGER NOT NULL, changed_at INTEGER NOT NULL,"
		" UNIQUE (source, guid));"
		"CREATE TABLE tags (slug TEXT PRIMARY KEY, name TEXT NOT NULL);"
		"CREATE TABLE post_tags (tag TEXT NOT NULL,"
		" seq INTEGER NOT NULL REFERENCES posts(seq) ON DELETE CASCADE,"
		" PRIMARY KEY (tag, seq)) WITHOUT ROWID;"
		"CREATE TABLE subscriber_state (email TEXT PRIMARY KEY,"
		" watermark INTEGER NOT NULL, last_slot INTEGER NOT NULL DEFAULT 0,"
		" last_sent_at INTEGER NOT NULL DEFAULT 0);"
		"CREATE TABLE deliveries (id INTEGER PRIMARY KEY, email TEXT NOT NULL,"
		" slot INTEGER NOT NULL, status TEXT NOT NULL, message_id TEXT, reply TEXT,"
		" from_seq INTEGER NOT NULL, upto_seq INTEGER NOT NULL,"
		" post_count INTEGER NOT NULL, created_at INTEGER NOT NULL,"
		" UNIQUE (email, slot));"
		"CREATE TABLE sources (name TEXT PRIMARY KEY,"
		" last_success INTEGER NOT NULL DEFAULT 0, last_error TEXT NOT NULL DEFAULT '',"
		" last_error_at INTEGER NOT NULL DEFAULT 0, failures INTEGER NOT NULL DEFAULT 0,"
		" etag TEXT NOT NULL DEFAULT '', last_modified TEXT NOT NULL DEFAULT '');"
		"INSERT INTO posts VALUES"
		" (1, 'nato', 'https://blog.test/?p=42', 'https://blog.test/s/', 'Summit', '',"
		"  10, 10, '', '', '', 'n1', 10, 10),"
		" (2, 'nato', 'https://blog.test/?p=43', 'https://blog.test/t/', 'Talks', '',"
		"  11, 11, '', '', '', 'n2', 11, 11),"
		" (3, 'usa', 'https://blog.test/?p=42', 'https://blog.test/s/', 'Summit', '',"
		"  10, 10, '', '', '', 'u1', 12, 12),"
		" (4, 'usa', '7', 'https://other.test/x/', 'Other', '',"
		"  13, 13, '', '', '', 'u2', 13, 13),"
		" (5, 'posts', 'summit.md', 'https://blog.test/s', 'Summit', '',"
		"  10, 10, '', '', '', 'p1', 14, 14);"
		/* a post removed long ago: seq 9 was handed out */
		"UPDATE sqlite_sequence SET seq = 9 WHERE name = 'posts';"
		"INSERT INTO post_tags VALUES ('nato', 1), ('diplomacy', 1), ('nato', 2),"
		" ('usa', 3), ('diplomacy', 3), ('usa', 4), ('local', 5);"
		"INSERT INTO subscriber_state VALUES ('ann@example.org', 2, 500, 500);"
		"INSERT INTO deliveries VALUES (1, 'ann@example.org', 500, 'sent', 'm@x',"
		" '250 ok', 0, 2, 2, 500);"
		"PRAGMA user_version = 3;");
	sqlite3_close(db);

	struct td_store *st = NULL;
	struct td_err err = { 0, "" };
	CHECK(td_store_open(p3, TD_STORE_READWRITE, &st, &err) == 0);
	if (!st) {
		fprintf(stderr, "%s\n", err.msg);
		return;
	}
	CHECK(td_store_schema_version(st) >= 4);
	/* 3 and 5 were the article of 1 again (by guid, by permalink) */
	CHECK(td_store_post_count(st) == 3);
	char *t = tags_of(st, "usa", 1);
	CHECK_STR(t, "diplomacy,local,nato,usa");
	free(t);
	CHECK(count_for_tag(st, "usa") == 2);     /* 1 and 4 */
	CHECK(count_for_tag(st, "local") == 1);
	/* deliveries and watermarks as they were */
	struct td_subscriber_state s;
	CHECK(td_store_subscriber_state(st, "ann@example.org", &s, &err) == 0);
	CHECK(s.known && s.watermark == 2 && s.last_slot == 500);
	CHECK(td_store_delivery_count(st, "sent") == 1);
	/* the merged items are known: seen again, they are not news (read
	 * once more in place, as migration 5 asks of every item, then
	 * unchanged) */
	enum td_upsert r;
	struct td_post again = make_post_at("https://blog.test/?p=42", "https://blog.test/s/",
					    "u1", "Summit", "usa", NULL);
	CHECK(td_store_upsert_post(st, "usa", &again, 900, &r, &err) == 0 &&
	      r == TD_UPSERT_UPDATED);
	CHECK(td_store_upsert_post(st, "usa", &again, 901, &r, &err) == 0 &&
	      r == TD_UPSERT_UNCHANGED);
	CHECK(td_store_post_count(st) == 3);
	/* and no seq is handed out twice */
	struct td_post fresh = make_post_at("https://blog.test/?p=50", "https://blog.test/n/",
					    "f1", "Fresh", "nato", NULL);
	CHECK(td_store_upsert_post(st, "nato", &fresh, 900, &r, &err) == 0 &&
	      r == TD_UPSERT_NEW);
	CHECK(td_store_max_seq(st) == 10);
	drop_post(&again);
	drop_post(&fresh);
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
	TD_RUN(test_one_post_many_sources);
	TD_RUN(test_migration_4);
	TD_RUN(test_migration_rereads_posts);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	return TD_DONE("store");
}
