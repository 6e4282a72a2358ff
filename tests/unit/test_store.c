/*
 * test_store.c: the store's promises: seq assigned once, re-ingest is a
 * no-op, edits update in place, one article from several sources is one
 * post (and migration 4 merges the copies stored before), a delivery and
 * its watermark commit together, a slot cannot be recorded twice,
 * read-only never creates, a newer schema is refused, several processes
 * opening one new store at once all get it. On SQLite, and with
 * TD_TEST_STORE=postgres on PostgreSQL (store_fixture.h); the migrations
 * of old SQLite stores are SQLite's alone.
 */
#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

#include "harness.h"
#include "store_fixture.h"
#include "tagdigest/core/buf.h"
#include "tagdigest/store/start.h"
#include "tagdigest/store/store.h"
#include "tagdigest/core/util.h"

static char dir[64];
static char path[4096];   /* the store most tests share */

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

/* Whether the PostgreSQL store at url has table (in its search_path). */
static bool pg_has_table(const char *url, const char *table)
{
	struct td_db *db = NULL;
	struct td_db_stmt *s = NULL;
	struct td_err err = { 0, "" };
	bool has = false;
	if (td_db_open(url, true, false, &db, &err) == 0 &&
	    td_db_prepare(db, "SELECT to_regclass(?1) IS NOT NULL", &s) == TD_DB_OK) {
		td_db_bind_text(s, 1, table);
		has = td_db_step(s) == TD_DB_ROW && td_db_column_int(s, 0);
	}
	td_db_finalize(s);
	td_db_close(db);
	return has;
}

static void test_readonly_missing(void)
{
	struct td_store *st = NULL;
	struct td_err err = { 0, "" };
	CHECK(td_store_open(path, TD_STORE_READONLY, &st, &err) == EX_NOINPUT);
	CHECK(st == NULL);
	CHECK(strstr(err.msg, "tagdigest ingest") != NULL);
	if (!store_on_pg)
		CHECK(access(path, F_OK) < 0);
	else
		CHECK(!pg_has_table(path, "td_schema"));
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

	/* a second record for the same slot changes nothing: refused on
	 * SQLite (one sender: it would be a double send); on PostgreSQL the
	 * first sender's record stands and the second is told in the log
	 * (a sender that lost its lease to another, claims.h) */
	struct td_delivery again = d;
	again.upto_seq = 9;
	if (store_on_pg) {
		CHECK(td_store_record_delivery(st, &again, &err) == 0);
	} else {
		CHECK(td_store_record_delivery(st, &again, &err) == EX_SOFTWARE);
		CHECK(strstr(err.msg, "already recorded") != NULL);
	}
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
	CHECK(store_on_pg || stat(path, &before) == 0);
	CHECK(td_store_open(path, TD_STORE_READONLY, &st, &err) == 0);
	if (st) {
		CHECK(td_store_subscriber_state(st, "ann@example.org", &s, &err) == 0);
		CHECK(s.watermark == 3);
		/* `subscribers show`'s history: newest slot first, the
		 * address in any case, at most `limit` */
		struct td_delivery_record *rec = NULL;
		size_t nrec = 0;
		CHECK(td_store_recent_deliveries(st, "ANN@example.org", 10, &rec, &nrec,
						 &err) == 0);
		CHECK(nrec == 2);
		CHECK(nrec == 2 && rec[0].slot == 9000 && rec[0].skipped &&
		      rec[0].at == 9500 && rec[0].message_id[0] == '\0');
		CHECK(nrec == 2 && rec[1].slot == 5000 && !rec[1].skipped &&
		      rec[1].at == 6000 && rec[1].post_count == 2 &&
		      strcmp(rec[1].message_id, "id@x") == 0);
		td_store_delivery_records_free(rec, nrec);
		CHECK(td_store_recent_deliveries(st, "ann@example.org", 1, &rec, &nrec,
						 &err) == 0);
		CHECK(nrec == 1 && rec && rec[0].slot == 9000);
		td_store_delivery_records_free(rec, nrec);
		CHECK(td_store_recent_deliveries(st, "zed@example.org", 10, &rec, &nrec,
						 &err) == 0);
		CHECK(nrec == 0 && rec == NULL);
		struct td_delivery bad = { "zed@example.org", 1, true, NULL, NULL, 0, 0, 0, 1 };
		/* SQLite opens the file read-only, so a write is refused; a
		 * READONLY PostgreSQL store is a plain session (its walks make
		 * temporary tables, which a read-only session refuses): there
		 * READONLY only means the store itself writes nothing */
		if (!store_on_pg)
			CHECK(td_store_record_delivery(st, &bad, &err) != 0);
		td_store_close(st);
	}
	if (!store_on_pg) {
		CHECK(stat(path, &after) == 0);
		CHECK(before.st_size == after.st_size &&
		      before.st_mtime == after.st_mtime);
	}
}

/* A read transaction opened inside another opens nothing: the outer
 * snapshot holds until the outer commit (or rollback), whatever another
 * connection commits meanwhile. */
static void test_nested_reads(void)
{
	struct td_store *w = NULL, *r = NULL;
	struct td_err err = { 0, "" };
	CHECK(td_store_open(path, TD_STORE_READWRITE, &w, &err) == 0);
	CHECK(td_store_open(path, TD_STORE_READONLY, &r, &err) == 0);
	if (!w || !r) {
		td_store_close(w);
		td_store_close(r);
		return;
	}
	struct td_subscriber_state s;
	struct td_delivery d = { "nest@example.org", 100, false, "n1@x", "250 ok", 0, 5, 1, 150 };
	CHECK(td_store_record_delivery(w, &d, &err) == 0);
	CHECK(td_store_begin_read(r, &err) == 0);
	CHECK(td_store_subscriber_state(r, "nest@example.org", &s, &err) == 0 && s.watermark == 5);
	CHECK(td_store_begin_read(r, &err) == 0);
	struct td_delivery d2 = { "nest@example.org", 200, false, "n2@x", "250 ok", 5, 7, 1, 250 };
	CHECK(td_store_record_delivery(w, &d2, &err) == 0);
	CHECK(td_store_subscriber_state(r, "nest@example.org", &s, &err) == 0 && s.watermark == 5);
	CHECK(td_store_commit(r, &err) == 0);
	/* the inner commit ended nothing: still the first snapshot */
	CHECK(td_store_subscriber_state(r, "nest@example.org", &s, &err) == 0 && s.watermark == 5);
	CHECK(td_store_begin_read(r, &err) == 0);
	td_store_rollback(r);
	CHECK(td_store_subscriber_state(r, "nest@example.org", &s, &err) == 0 && s.watermark == 5);
	CHECK(td_store_commit(r, &err) == 0);
	CHECK(td_store_subscriber_state(r, "nest@example.org", &s, &err) == 0 && s.watermark == 7);
	/* no transaction left open: a commit now is an error, as before */
	CHECK(td_store_commit(r, &err) != 0);
	td_store_close(r);
	td_store_close(w);
}

static void test_newer_schema_refused(void)
{
	SQLITE_ONLY("user_version; test_pg_newer_schema_refused is PostgreSQL's");
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

/* Schema 12: subscriber_state rebuilt clustered on the address; every
 * row comes through, and a store set back to 11 runs it again. */
static void test_migration_12(void)
{
	SQLITE_ONLY("a schema 11 store is an SQLite file");
	char *p12 = td_xasprintf("%s/m12.db", dir);
	struct td_store *st = NULL;
	struct td_err err = { 0, "" };
	CHECK(td_store_open(p12, TD_STORE_READWRITE, &st, &err) == 0);
	if (!st) {
		free(p12);
		return;
	}
	CHECK(td_store_schema_version(st) >= 12);
	for (int i = 0; i < 300; i++) {
		char email[64];
		snprintf(email, sizeof email, "m%03d@example.org", i);
		struct td_delivery d = { email, 100 + i, i % 3 == 0, i % 3 ? "id@x" : NULL,
					 NULL, 0, i, 1, 1000 + i };
		CHECK(td_store_record_delivery(st, &d, &err) == 0);
	}
	td_store_close(st);
	sqlite3 *db;
	CHECK(sqlite3_open(p12, &db) == SQLITE_OK);
	CHECK(sqlite3_exec(db, "PRAGMA user_version = 11", NULL, NULL, NULL) == SQLITE_OK);
	sqlite3_close(db);
	st = NULL;
	CHECK(td_store_open(p12, TD_STORE_READWRITE, &st, &err) == 0);
	if (st) {
		CHECK(td_store_schema_version(st) >= 12);
		for (int i = 0; i < 300; i++) {
			char email[64];
			snprintf(email, sizeof email, "M%03d@Example.org", i);
			struct td_subscriber_state s;
			CHECK(td_store_subscriber_state(st, email, &s, &err) == 0);
			CHECK(s.known && s.watermark == i && s.last_slot == 100 + i &&
			      s.last_sent_at == (i % 3 == 0 ? 0 : 1000 + i));
		}
		td_store_close(st);
	}
	CHECK(sqlite3_open(p12, &db) == SQLITE_OK);
	sqlite3_stmt *q;
	CHECK(sqlite3_prepare_v2(db, "SELECT sql FROM sqlite_master WHERE name = 'subscriber_state'",
				 -1, &q, NULL) == SQLITE_OK);
	CHECK(sqlite3_step(q) == SQLITE_ROW &&
	      strstr((const char *)sqlite3_column_text(q, 0), "WITHOUT ROWID") != NULL);
	sqlite3_finalize(q);
	sqlite3_close(db);
	free(p12);
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
	CHECK(td_store_schema_version(st) >= (store_on_pg ? 1 : 3));
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
	/* the same slot twice is refused here too (on PostgreSQL: left to
	 * the first record, and the transaction goes on) */
	CHECK(td_store_begin(st, &err) == 0);
	CHECK(td_store_put_delivery(st, &d, &err) == (store_on_pg ? 0 : EX_SOFTWARE));
	if (store_on_pg) {
		CHECK(td_store_delivery_count(st, "sent") >= 1);
		CHECK(td_store_commit(st, &err) == 0);
	} else {
		td_store_rollback(st);
	}

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
	char p2[4096];
	store_fresh_where(dir, "sources", p2, sizeof p2);
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
	/* one post; its usa tag arrived after it, numbered 2 */
	CHECK(td_store_max_seq(st) == 2 && td_store_post_count(st) == 1);
	char *t = tags_of(st, "usa", 1);
	CHECK_STR(t, "diplomacy,nato,usa");
	free(t);
	/* seen again: nothing changes */
	CHECK(td_store_upsert_post(st, "usa", &usa, 200, &r, &err) == 0 &&
	      r == TD_UPSERT_UNCHANGED);
	CHECK(td_store_upsert_post(st, "nato", &nato, 200, &r, &err) == 0 &&
	      r == TD_UPSERT_UNCHANGED);

	/* a later source with a guid of its own finds it by the permalink,
	 * however the link is spelled: it keeps seq 1 and is new only
	 * in the tag it adds */
	struct td_post eu = make_post_at(
		"42", "HTTPS://Blog.Test:443/2017/07/08/summit?utm_source=feed&utm_medium=rss#more",
		"e1", "Summit", "eu", NULL);
	CHECK(td_store_upsert_post(st, "eu", &eu, 300, &r, &err) == 0 && r == TD_UPSERT_MERGED);
	CHECK(td_store_max_seq(st) == 3 && td_store_post_count(st) == 1);
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
	/* the same tag: id from a third source joins the first of them
	 * when it links to the same site; next to a link elsewhere it is
	 * another post (see test_foreign_guid_is_no_key) */
	struct td_post l3 = make_post_at("tag:one.test,2017:1", "https://news.test/story/",
					 "l3", "Link 1", "links", NULL);
	CHECK(td_store_upsert_post(st, "three", &l3, 700, &r, &err) == 0 &&
	      r == TD_UPSERT_MERGED);
	CHECK(count_for_tag(st, "links") == 2);
	struct td_post l4 = make_post_at("tag:one.test,2017:1", "https://mirror.test/x",
					 "l4", "Link 1", "links", NULL);
	CHECK(td_store_upsert_post(st, "four", &l4, 700, &r, &err) == 0 && r == TD_UPSERT_NEW);
	CHECK(count_for_tag(st, "links") == 3);

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
				  &l4, &ga, &gb, &gc };
	for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
		drop_post(all[i]);
	td_store_close(st);
}

/* The seqs of the posts of `tag` whose tag arrived after `after`, as
 * "1,4" (ascending). */
static char *seqs_after(struct td_store *st, const char *tag, int64_t after)
{
	struct td_store_post *posts;
	size_t n;
	struct td_err err = { 0, "" };
	struct td_buf b = TD_BUF_INIT;
	if (td_store_posts_for_tag(st, tag, after, td_store_max_seq(st), 0, &posts, &n,
				   &err) != 0)
		return td_buf_steal(&b);
	int64_t *v = td_xcalloc(n ? n : 1, sizeof *v);
	for (size_t i = 0; i < n; i++)
		v[i] = posts[i].seq;
	for (size_t i = 1; i < n; i++)
		for (size_t k = i; k > 0 && v[k - 1] > v[k]; k--) {
			int64_t t = v[k];
			v[k] = v[k - 1];
			v[k - 1] = t;
		}
	for (size_t i = 0; i < n; i++)
		td_buf_printf(&b, "%s%lld", i ? "," : "", (long long)v[i]);
	free(v);
	td_store_posts_free(posts, n);
	return td_buf_steal(&b);
}

/* A new store (store_fixture.h). */
static struct td_store *open_at(const char *name)
{
	return fresh_store(dir, name);
}

static void check_after(struct td_store *st, const char *tag, int64_t after,
			const char *want, int line)
{
	char *got = seqs_after(st, tag, after);
	if (strcmp(got, want) != 0) {
		td_test_failed++;
		fprintf(stderr, "%s:%d: posts of %s after %lld: got \"%s\", want \"%s\"\n",
			__FILE__, line, tag, (long long)after, got, want);
	} else {
		td_test_passed++;
	}
	free(got);
}
#define AFTER(st, tag, after, want) check_after(st, tag, after, want, __LINE__)

static void drop_posts(struct td_post **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		drop_post(v[i]);
}

/* Review of issue 9 item 2, A: a source that brings a known post later
 * (or an edit that adds a tag) makes it news for the readers of that tag
 * only. The post keeps its seq; the tag's arrival is numbered from the
 * same counter, so a watermark taken before does not cover it and one
 * taken after does. */
static void test_late_tag_arrives(void)
{
	struct td_store *st = open_at("late");
	struct td_err err = { 0, "" };
	CHECK(st != NULL);
	if (!st)
		return;
	enum td_upsert r;
	const char *url = "https://blog.test/2024/05/x/";
	struct td_post nato = make_post_at("https://blog.test/?p=5", url, "n1", "X", "nato", NULL);
	struct td_post usa = make_post_at("https://blog.test/?p=5", url, "u1", "X", "usa", NULL);
	CHECK(td_store_upsert_post(st, "nato", &nato, 100, &r, &err) == 0 && r == TD_UPSERT_NEW);
	int64_t x = td_store_max_seq(st);
	char *want = td_xasprintf("%lld", (long long)x);
	/* a digest went out: everybody's watermark covers x */
	int64_t wm = td_store_max_seq(st);
	CHECK(td_store_upsert_post(st, "usa", &usa, 200, &r, &err) == 0 && r == TD_UPSERT_MERGED);
	CHECK(td_store_post_count(st) == 1);
	/* the next digest's upto covers the new arrival */
	CHECK(td_store_max_seq(st) > wm);
	AFTER(st, "usa", wm, want);              /* news for usa's readers */
	AFTER(st, "nato", wm, "");               /* not for nato's */
	int64_t wm2 = td_store_max_seq(st);
	AFTER(st, "usa", wm2, "");               /* once */

	/* seen again, or edited with the same tags: no tag arrives again */
	CHECK(td_store_upsert_post(st, "usa", &usa, 300, &r, &err) == 0 &&
	      r == TD_UPSERT_UNCHANGED);
	struct td_post nato2 = make_post_at("https://blog.test/?p=5", url, "n2", "X (edited)",
					    "nato", NULL);
	CHECK(td_store_upsert_post(st, "nato", &nato2, 300, &r, &err) == 0 &&
	      r == TD_UPSERT_UPDATED);
	CHECK(td_store_max_seq(st) == wm2);
	AFTER(st, "nato", wm, "");
	AFTER(st, "usa", wm, want);

	/* an edit that adds a tag brings the post to that tag's readers */
	struct td_post nato3 = make_post_at("https://blog.test/?p=5", url, "n3", "X (edited)",
					    "nato", "diplomacy");
	CHECK(td_store_upsert_post(st, "nato", &nato3, 400, &r, &err) == 0 &&
	      r == TD_UPSERT_UPDATED);
	CHECK(td_store_max_seq(st) > wm2);
	AFTER(st, "diplomacy", wm2, want);
	AFTER(st, "nato", wm2, "");
	AFTER(st, "usa", wm2, "");

	/* a post that arrives afterwards is numbered above every arrival */
	int64_t wm3 = td_store_max_seq(st);
	struct td_post fresh = make_post_at("https://blog.test/?p=6", "https://blog.test/f/",
					    "f1", "F", "nato", NULL);
	CHECK(td_store_upsert_post(st, "nato", &fresh, 500, &r, &err) == 0 && r == TD_UPSERT_NEW);
	CHECK(td_store_max_seq(st) == wm3 + 1);
	char *want_f = td_xasprintf("%lld", (long long)(wm3 + 1));
	AFTER(st, "nato", wm3, want_f);
	free(want_f);
	free(want);
	struct td_post *all[] = { &nato, &usa, &nato2, &nato3, &fresh };
	drop_posts(all, sizeof all / sizeof all[0]);
	td_store_close(st);
}

/* Review of issue 9 item 2, B: a guid is a key across sources only
 * together with the site its item links to. A source that copies another
 * site's (predictable) WordPress guid next to a link of its own neither
 * takes that site's article over nor is taken for it. */
static void test_foreign_guid_is_no_key(void)
{
	struct td_store *st = open_at("foreign");
	struct td_err err = { 0, "" };
	CHECK(st != NULL);
	if (!st)
		return;
	enum td_upsert r;
	const char *real_url = "https://site.example/2024/05/real/";
	/* evil first: the real article must still be its own post, news */
	struct td_post evil = make_post_at("https://site.example/?p=124",
					   "https://evil.example/phish", "e1", "Phish", "news", NULL);
	struct td_post real = make_post_at("https://site.example/?p=124", real_url, "r1",
					   "Real", "news", NULL);
	CHECK(td_store_upsert_post(st, "evil", &evil, 100, &r, &err) == 0 && r == TD_UPSERT_NEW);
	CHECK(td_store_upsert_post(st, "site", &real, 100, &r, &err) == 0 && r == TD_UPSERT_NEW);
	CHECK(count_for_tag(st, "news") == 2);
	/* evil's "edit" changes its own post only */
	struct td_post evil2 = make_post_at("https://site.example/?p=124",
					    "https://evil.example/phish", "e2", "Phish 2", "news",
					    NULL);
	CHECK(td_store_upsert_post(st, "evil", &evil2, 200, &r, &err) == 0 &&
	      r == TD_UPSERT_UPDATED);
	struct td_store_post *posts;
	size_t n;
	CHECK(td_store_posts_for_tag(st, "news", 0, INT64_MAX, 0, &posts, &n, &err) == 0);
	size_t real_seen = 0;
	for (size_t i = 0; i < n; i++)
		if (strcmp(posts[i].url, real_url) == 0)
			real_seen += strcmp(posts[i].title, "Real") == 0;
	CHECK(real_seen == 1);
	td_store_posts_free(posts, n);

	/* the real site first: evil's copy does not join it */
	struct td_post real3 = make_post_at("https://site.example/?p=125",
					    "https://site.example/2024/05/other/", "r3", "Other",
					    "world", NULL);
	struct td_post evil3 = make_post_at("http://SITE.example/?p=125",
					    "https://evil.example/phish2", "e3", "Phish", "world",
					    NULL);
	CHECK(td_store_upsert_post(st, "site", &real3, 300, &r, &err) == 0 && r == TD_UPSERT_NEW);
	CHECK(td_store_upsert_post(st, "evil", &evil3, 300, &r, &err) == 0 && r == TD_UPSERT_NEW);
	/* tag: and urn: ids the same way */
	struct td_post t1 = make_post_at("tag:site.example,2024:post-9",
					 "https://site.example/2024/05/nine/", "t1", "Nine",
					 "tags", NULL);
	struct td_post t2 = make_post_at("tag:site.example,2024:post-9",
					 "https://evil.example/nine", "t2", "Nine?", "tags", NULL);
	struct td_post u1 = make_post_at("urn:uuid:1225c695-cfb8-4ebb-aaaa-80da344efa6a",
					 "https://site.example/2024/05/ten/", "u1", "Ten",
					 "tags", NULL);
	struct td_post u2 = make_post_at("urn:uuid:1225c695-cfb8-4ebb-aaaa-80da344efa6a",
					 "https://evil.example/ten", "u2", "Ten?", "tags", NULL);
	CHECK(td_store_upsert_post(st, "site", &t1, 300, &r, &err) == 0 && r == TD_UPSERT_NEW);
	CHECK(td_store_upsert_post(st, "evil", &t2, 300, &r, &err) == 0 && r == TD_UPSERT_NEW);
	CHECK(td_store_upsert_post(st, "site", &u1, 300, &r, &err) == 0 && r == TD_UPSERT_NEW);
	CHECK(td_store_upsert_post(st, "evil", &u2, 300, &r, &err) == 0 && r == TD_UPSERT_NEW);
	/* while the site's own tag feeds still make one post of each, also
	 * when one writes the host with www. */
	struct td_post t3 = make_post_at("tag:site.example,2024:post-9",
					 "https://www.site.example/2024/05/nine/", "t3", "Nine",
					 "more", NULL);
	struct td_post u3 = make_post_at("urn:uuid:1225c695-cfb8-4ebb-aaaa-80da344efa6a",
					 "https://site.example/2024/05/ten", "u3", "Ten",
					 "more", NULL);
	struct td_post w3 = make_post_at("https://site.example/?p=125",
					 "https://www.site.example/2024/05/other-renamed/", "w3",
					 "Other", "more", NULL);
	CHECK(td_store_upsert_post(st, "more", &t3, 300, &r, &err) == 0 && r == TD_UPSERT_MERGED);
	CHECK(td_store_upsert_post(st, "more2", &u3, 300, &r, &err) == 0 &&
	      r == TD_UPSERT_MERGED);
	CHECK(td_store_upsert_post(st, "more3", &w3, 300, &r, &err) == 0 &&
	      r == TD_UPSERT_MERGED);
	CHECK(count_for_tag(st, "tags") == 4 && count_for_tag(st, "more") == 3);
	struct td_post *all[] = { &evil, &real, &evil2, &real3, &evil3, &t1, &t2, &u1, &u2,
				  &t3, &u3, &w3 };
	drop_posts(all, sizeof all / sizeof all[0]);
	td_store_close(st);
}

/* Review of issue 9 item 2, C: a link to a site's home page, or to a
 * page of a single-page app ("#!/a"), does not say which article it is. */
static void test_generic_links(void)
{
	struct td_store *st = open_at("generic");
	struct td_err err = { 0, "" };
	CHECK(st != NULL);
	if (!st)
		return;
	enum td_upsert r;
	/* two podcasts on one host, every item linking the home page */
	struct td_post a1 = make_post_at("1", "https://pod.example/", "a1", "Episode 1 of A",
					 "pod", NULL);
	struct td_post b1 = make_post_at("1", "https://pod.example", "b1", "Episode 1 of B",
					 "pod", NULL);
	struct td_post c1 = make_post_at("ep-1", "https://POD.example/?utm_source=rss#top", "c1",
					 "Episode 1 of C", "pod", NULL);
	CHECK(td_store_upsert_post(st, "show-a", &a1, 100, &r, &err) == 0 && r == TD_UPSERT_NEW);
	CHECK(td_store_upsert_post(st, "show-b", &b1, 100, &r, &err) == 0 && r == TD_UPSERT_NEW);
	CHECK(td_store_upsert_post(st, "show-c", &c1, 100, &r, &err) == 0 && r == TD_UPSERT_NEW);
	CHECK(count_for_tag(st, "pod") == 3);
	/* hash-bang pages are pages: two of them are two posts, one of
	 * them from two sources one */
	struct td_post h1 = make_post_at("x", "https://app.example/#!/a", "h1", "A", "app", NULL);
	struct td_post h2 = make_post_at("y", "https://app.example/#!/b", "h2", "B", "app", NULL);
	struct td_post h3 = make_post_at("z", "https://app.example/#/b", "h3", "B", "app", NULL);
	struct td_post h4 = make_post_at("w", "https://APP.example/#!/a", "h4", "A", "app2", NULL);
	CHECK(td_store_upsert_post(st, "s1", &h1, 100, &r, &err) == 0 && r == TD_UPSERT_NEW);
	CHECK(td_store_upsert_post(st, "s2", &h2, 100, &r, &err) == 0 && r == TD_UPSERT_NEW);
	CHECK(td_store_upsert_post(st, "s3", &h3, 100, &r, &err) == 0 && r == TD_UPSERT_NEW);
	CHECK(td_store_upsert_post(st, "s4", &h4, 100, &r, &err) == 0 && r == TD_UPSERT_MERGED);
	CHECK(count_for_tag(st, "app") == 3);
	/* an ordinary fragment still goes: "#more-42" is the same page */
	struct td_post m1 = make_post_at("m", "https://blog.test/a/#more-42", "m1", "M", "m",
					 NULL);
	struct td_post m2 = make_post_at("n", "https://blog.test/a", "m2", "M", "m2", NULL);
	CHECK(td_store_upsert_post(st, "s1", &m1, 100, &r, &err) == 0 && r == TD_UPSERT_NEW);
	CHECK(td_store_upsert_post(st, "s2", &m2, 100, &r, &err) == 0 && r == TD_UPSERT_MERGED);
	struct td_post *all[] = { &a1, &b1, &c1, &h1, &h2, &h3, &h4, &m1, &m2 };
	drop_posts(all, sizeof all / sizeof all[0]);
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
	SQLITE_ONLY("a schema 3 store is an SQLite file");
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
		"INSERT INTO sources (name, last_success, etag, last_modified) VALUES"
		" ('nato', 400, '\"old\"', 'Mon, 01 Jan 2024');"
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
	/* a reader of usa alone whose watermark is 2 was waiting for 3 and
	 * 4: 3 is 1 now, whose usa tag came with 3, so both still reach
	 * them; a reader of nato or diplomacy had 1 and does not get it again */
	AFTER(st, "usa", 2, "1,4");
	AFTER(st, "local", 2, "1");
	AFTER(st, "nato", 2, "");
	AFTER(st, "diplomacy", 2, "");
	AFTER(st, "usa", 3, "4");
	/* deliveries and watermarks as they were */
	struct td_subscriber_state s;
	CHECK(td_store_subscriber_state(st, "ann@example.org", &s, &err) == 0);
	CHECK(s.known && s.watermark == 2 && s.last_slot == 500);
	CHECK(td_store_delivery_count(st, "sent") == 1);
	/* migration 9: validators of unknown origin are not sent (one full
	 * fetch); the source's health reads as it was */
	char *etag = NULL, *modified = NULL;
	CHECK(td_store_source_validators(st, "nato", "https://blog.test/feed/", &etag,
					 &modified, &err) == 0);
	CHECK_STR(etag, "");
	free(etag);
	free(modified);
	struct td_source_state h;
	CHECK(td_store_source_state(st, "nato", &h, &err) == 0);
	CHECK(h.last_success == 400 && h.ok_since == 0 && h.failures == 0);
	free(h.last_error);
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
	SQLITE_ONLY("a schema 4 store is an SQLite file");
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
	CHECK(td_store_set_source_validators(st, "feed", "http://a.test/f", "\"etag-1\"",
					     "Mon, 01 Jan 2024", &err) == 0);
	td_store_close(st);
	/* as the store of version 4, before that migration (5): it runs
	 * again, and so do those after it */
	sqlite3 *db;
	CHECK(sqlite3_open(old, &db) == SQLITE_OK);
	char *pragma = td_xasprintf("PRAGMA user_version = %d", 4);
	CHECK(sqlite3_exec(db, pragma, NULL, NULL, NULL) == SQLITE_OK);
	free(pragma);
	sqlite3_close(db);

	CHECK(td_store_open(old, TD_STORE_READWRITE, &st, &err) == 0);
	if (!st)
		return;
	CHECK(td_store_schema_version(st) == version);
	char *etag = NULL, *modified = NULL;
	CHECK(td_store_source_validators(st, "feed", "http://a.test/f", &etag, &modified,
					 &err) == 0);
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

/* Issue 13: validators belong to the URL they came from; a source's
 * health says when its last error was and since when it is fine again. */
static void test_source_validators_and_health(void)
{
	char *p = store_fresh_dup(dir, "health");
	struct td_store *st = NULL;
	struct td_err err = { 0, "" };
	CHECK(td_store_open(p, TD_STORE_READWRITE, &st, &err) == 0);
	free(p);
	if (!st)
		return;
	char *etag, *modified;
	CHECK(td_store_set_source_validators(st, "f", "http://a.test/x", "\"v1\"",
					     "Mon, 01 Jan 2024", &err) == 0);
	CHECK(td_store_source_validators(st, "f", "http://a.test/x", &etag, &modified,
					 &err) == 0);
	CHECK_STR(etag, "\"v1\"");
	CHECK_STR(modified, "Mon, 01 Jan 2024");
	free(etag);
	free(modified);
	/* the source's url changed: the old URL's validators are not sent */
	CHECK(td_store_source_validators(st, "f", "http://b.test/y", &etag, &modified,
					 &err) == 0);
	CHECK_STR(etag, "");
	CHECK_STR(modified, "");
	free(etag);
	free(modified);

	struct td_source_state h;
	CHECK(td_store_source_result(st, "f", true, NULL, 100, &err) == 0);
	CHECK(td_store_source_state(st, "f", &h, &err) == 0);
	CHECK(h.failures == 0 && h.last_success == 100 && h.ok_since == 0 &&
	      h.last_error_at == 0);
	free(h.last_error);
	CHECK(td_store_source_result(st, "f", false, "http://a.test/x: HTTP 500", 200,
				     &err) == 0);
	CHECK(td_store_source_state(st, "f", &h, &err) == 0);
	CHECK(h.failures == 1 && h.last_error_at == 200 && h.ok_since == 0);
	CHECK_STR(h.last_error, "http://a.test/x: HTTP 500");
	free(h.last_error);
	CHECK(td_store_source_result(st, "f", true, NULL, 300, &err) == 0);
	CHECK(td_store_source_result(st, "f", true, NULL, 400, &err) == 0);
	CHECK(td_store_source_state(st, "f", &h, &err) == 0);
	/* fine since the first success after the error, not the latest */
	CHECK(h.failures == 0 && h.last_success == 400 && h.ok_since == 300 &&
	      h.last_error_at == 200);
	free(h.last_error);
	td_store_close(st);

	/* a store of schema 8 (made by the version before): its validators
	 * have no URL, so they are sent nowhere; health reads as it was */
	if (store_on_pg)
		return;  /* an SQLite history */
	p = td_xasprintf("%s/health.db", dir);
	sqlite3 *db;
	CHECK(sqlite3_open(p, &db) == SQLITE_OK);
	CHECK(sqlite3_exec(db, "ALTER TABLE sources DROP COLUMN validators_url;"
			   "ALTER TABLE sources DROP COLUMN ok_since;"
			   "PRAGMA user_version = 8;", NULL, NULL, NULL) == SQLITE_OK);
	sqlite3_close(db);
	CHECK(td_store_open(p, TD_STORE_READWRITE, &st, &err) == 0);
	free(p);
	if (!st)
		return;
	CHECK(td_store_source_validators(st, "f", "http://a.test/x", &etag, &modified,
					 &err) == 0);
	CHECK_STR(etag, "");
	CHECK_STR(modified, "");
	free(etag);
	free(modified);
	CHECK(td_store_source_state(st, "f", &h, &err) == 0);
	CHECK(h.failures == 0 && h.last_success == 400 && h.ok_since == 0 &&
	      h.last_error_at == 200);
	free(h.last_error);
	td_store_close(st);
}

/* A clean start (start.h): the state a digest would leave, no delivery,
 * remembered as a start; a reader with a history is left alone; the
 * transaction is the caller's. */
static void test_start_clean(void)
{
	char *p = store_fresh_dup(dir, "start");
	struct td_store *st = NULL;
	struct td_err err = { 0, "" };
	CHECK(td_store_open(p, TD_STORE_READWRITE, &st, &err) == 0);
	if (!st)
		return;
	enum td_upsert r;
	struct td_post a = make_post("a", "h1", "First", "one", NULL);
	struct td_post b = make_post("b", "h2", "Second", "two", NULL);
	CHECK(td_store_upsert_post(st, "posts", &a, 100, &r, &err) == 0);
	CHECK(td_store_upsert_post(st, "posts", &b, 100, &r, &err) == 0);
	int64_t upto = td_store_max_seq(st);
	CHECK(upto == 2);
	/* history: a digest recorded, a digest pending (kept for a retry) */
	struct td_delivery d = { "had@example.org", 4000, false, "id@x", "250 ok", 0, 1, 1,
				 4100 };
	CHECK(td_store_record_delivery(st, &d, &err) == 0);
	struct td_pending pend = {
		.email = (char *)"retry@example.org", .slot = 4000, .state = (char *)"retry",
		.message_id = (char *)"m@x", .message = (char *)"x", .message_len = 1,
		.from_seq = 0, .upto_seq = 1, .post_count = 1, .attempts = 1,
		.first_attempt_at = 4100, .next_attempt_at = 9999, .last_error = (char *)"451",
	};
	CHECK(td_store_pending_put(st, &pend, &err) == 0);

	/* a rolled-back start leaves nothing */
	bool started = false, has = true;
	CHECK(td_store_begin(st, &err) == 0);
	CHECK(td_store_start_clean(st, "New@Example.org", 5000, upto, 5100, &started, &err) == 0);
	CHECK(started);
	td_store_rollback(st);
	CHECK(td_store_has_history(st, "new@example.org", &has, &err) == 0 && !has);

	CHECK(td_store_begin(st, &err) == 0);
	const char *who[] = { "New@Example.org", "had@example.org", "retry@example.org" };
	bool want[] = { true, false, false };
	for (size_t i = 0; i < 3; i++) {
		CHECK(td_store_start_clean(st, who[i], 5000, upto, 5100, &started, &err) == 0);
		CHECK(started == want[i]);
	}
	CHECK(td_store_commit(st, &err) == 0);

	struct td_subscriber_state s;
	CHECK(td_store_subscriber_state(st, "new@example.org", &s, &err) == 0);
	CHECK(s.known && s.watermark == upto && s.last_slot == 5000 && s.last_sent_at == 0);
	CHECK(s.started_at == 5100 && s.started_last);
	/* the others as they were */
	CHECK(td_store_subscriber_state(st, "had@example.org", &s, &err) == 0);
	CHECK(s.watermark == 1 && s.last_slot == 4000 && s.started_at == 0 && !s.started_last);
	CHECK(td_store_subscriber_state(st, "retry@example.org", &s, &err) == 0);
	CHECK(!s.known && s.started_at == 0);
	/* nothing counted as sent or skipped */
	CHECK(td_store_delivery_count(st, "sent") == 1);
	CHECK(td_store_delivery_count(st, "skipped") == 0);
	bool done = true;
	CHECK(td_store_slot_done(st, "new@example.org", 5000, &done, &err) == 0 && !done);

	/* again: a start is a history too; nothing moves */
	CHECK(td_store_has_history(st, "NEW@example.org", &has, &err) == 0 && has);
	CHECK(td_store_start_clean(st, "new@example.org", 6000, upto + 5, 6100, &started,
				   &err) == 0);
	CHECK(!started);
	CHECK(td_store_subscriber_state(st, "new@example.org", &s, &err) == 0);
	CHECK(s.watermark == upto && s.last_slot == 5000 && s.started_at == 5100);

	/* a digest after the start: the start is no longer the last record */
	struct td_delivery next = { "new@example.org", 8000, true, NULL, NULL, upto, upto, 0,
				    8100 };
	CHECK(td_store_record_delivery(st, &next, &err) == 0);
	CHECK(td_store_subscriber_state(st, "new@example.org", &s, &err) == 0);
	CHECK(s.last_slot == 8000 && s.started_at == 5100 && !s.started_last);
	td_store_close(st);
	drop_post(&a);
	drop_post(&b);

	/* a store from before migration 11 (main's: version 8, no
	 * clean_starts) upgrades in place and keeps its readers' state */
	if (store_on_pg) {
		free(p);
		return;  /* an SQLite history */
	}
	sqlite3 *db;
	CHECK(sqlite3_open(p, &db) == SQLITE_OK);
	CHECK(sqlite3_exec(db, "DROP TABLE clean_starts; PRAGMA user_version = 8;", NULL, NULL,
			   NULL) == SQLITE_OK);
	sqlite3_close(db);
	CHECK(td_store_open(p, TD_STORE_READWRITE, &st, &err) == 0);
	if (!st)
		return;
	CHECK(td_store_schema_version(st) >= 11);
	CHECK(td_store_subscriber_state(st, "new@example.org", &s, &err) == 0);
	CHECK(s.watermark == upto && s.last_slot == 8000 && s.started_at == 0);
	CHECK(td_store_start_clean(st, "later@example.org", 9000, upto, 9100, &started,
				   &err) == 0 && started);
	CHECK(td_store_subscriber_state(st, "later@example.org", &s, &err) == 0);
	CHECK(s.started_last && s.started_at == 9100);
	td_store_close(st);
	free(p);
}

/* PostgreSQL's schema version sits in td_schema: a store a newer
 * tagdigest migrated is refused read-write and read-only, and left as it
 * was. */
static void test_pg_newer_schema_refused(void)
{
	char where[4096];
	REQUIRE(store_fresh_where(dir, "newer", where, sizeof where));
	struct td_store *st = NULL;
	struct td_err err = { 0, "" };
	REQUIRE(td_store_open(where, TD_STORE_READWRITE, &st, &err) == 0);
	td_store_close(st);
	struct td_db *db = NULL;
	REQUIRE(td_db_open(where, false, false, &db, &err) == 0);
	CHECK(td_db_exec(db, "UPDATE td_schema SET version = 999") == TD_DB_OK);
	st = NULL;
	CHECK(td_store_open(where, TD_STORE_READWRITE, &st, &err) == EX_CONFIG);
	CHECK(st == NULL && strstr(err.msg, "upgrade tagdigest") != NULL);
	CHECK(td_store_open(where, TD_STORE_READONLY, &st, &err) == EX_CONFIG);
	CHECK(st == NULL && strstr(err.msg, "upgrade tagdigest") != NULL);
	struct td_db_stmt *s = NULL;
	CHECK(td_db_prepare(db, "SELECT version FROM td_schema", &s) == TD_DB_OK);
	CHECK(td_db_step(s) == TD_DB_ROW && td_db_column_int(s, 0) == 999);
	td_db_finalize(s);
	td_db_close(db);
}

/* Several processes open one new store at the same moment (senders and
 * public servers starting together): every one of them gets it, the
 * schema made once (PostgreSQL: the migration's advisory lock; SQLite:
 * BEGIN IMMEDIATE and the busy wait). Bounded: 30 s, then the children
 * are killed and the test fails. */
static void test_concurrent_migration(void)
{
	enum { N = 4 };
	char where[4096];
	REQUIRE(store_fresh_where(dir, "together", where, sizeof where));
	int gate[2];
	REQUIRE(pipe(gate) == 0);
	pid_t kids[N];
	int started = 0;
	for (int i = 0; i < N; i++) {
		fflush(NULL);
		kids[i] = fork();
		if (kids[i] == 0) {
			close(gate[1]);
			char c;
			/* all wait here; the parent's close releases them at once */
			ssize_t r = read(gate[0], &c, 1);
			struct td_store *st = NULL;
			struct td_err err = { 0, "" };
			int rc = r == 0 ? td_store_open(where, TD_STORE_READWRITE, &st, &err) : -1;
			if (rc)
				fprintf(stderr, "  child %d: %s\n", i, err.msg);
			int ok = rc == 0 && td_store_max_seq(st) == 0;
			td_store_close(st);
			_exit(ok ? 0 : 1);
		}
		if (kids[i] > 0)
			started++;
	}
	close(gate[0]);
	close(gate[1]);
	CHECK(started == N);
	int good = 0;
	time_t until = time(NULL) + 30;
	for (int left = started; left > 0 && time(NULL) < until;) {
		int status;
		pid_t pid = waitpid(-1, &status, WNOHANG);
		if (pid > 0) {
			left--;
			good += WIFEXITED(status) && WEXITSTATUS(status) == 0;
		} else {
			usleep(10000);
		}
	}
	for (int i = 0; i < started; i++)
		if (kill(kids[i], 0) == 0) {
			kill(kids[i], SIGKILL);
			waitpid(kids[i], NULL, 0);
		}
	CHECK(good == N);
	struct td_store *st = NULL;
	struct td_err err = { 0, "" };
	REQUIRE(td_store_open(where, TD_STORE_READONLY, &st, &err) == 0);
	CHECK(td_store_schema_version(st) >= 1);
	td_store_close(st);
}

/* A fresh store of its own, open read-write; NULL (the check failed)
 * when it cannot be. */
static struct td_store *open_fresh(const char *name)
{
	char *p = store_fresh_dup(dir, name);
	struct td_store *st = NULL;
	struct td_err err = { 0, "" };
	CHECK(td_store_open(p, TD_STORE_READWRITE, &st, &err) == 0);
	free(p);
	return st;
}

/* What a send reads of each reader before their digest, in one
 * statement: the state, the counter, the suppressed scopes and whether a
 * pending row exists, the same as the separate reads give. */
static void test_reader_view(void)
{
	struct td_err err = { 0, "" };
	struct td_store *st = open_fresh("view");
	if (!st)
		return;
	struct td_post a = make_post("va", "h1", "A", "one", "two");
	enum td_upsert r;
	CHECK(td_store_upsert_post(st, "posts", &a, 100, &r, &err) == 0);
	drop_post(&a);
	struct td_reader_view v;
	CHECK(td_store_reader_view(st, "New@Example.org", &v, &err) == 0);
	CHECK(!v.state.known && v.max_seq == td_store_max_seq(st) && v.max_seq > 0);
	CHECK(v.left.n == 0 && !v.pending && !td_reader_view_suppressed(&v));
	td_reader_view_free(&v);

	struct td_delivery d = { "Ann@Example.org", 5000, false, "id@x", "250 ok",
				 0, 1, 1, 6000 };
	CHECK(td_store_record_delivery(st, &d, &err) == 0);
	CHECK(td_store_suppress(st, "ann@example.org", "two", "unsubscribed", "", 7000,
				&err) == 0);
	CHECK(td_store_suppress(st, "ann@example.org", "one", "unsubscribed", "", 7000,
				&err) == 0);
	CHECK(td_store_reader_view(st, "ANN@example.org", &v, &err) == 0);
	struct td_subscriber_state s;
	CHECK(td_store_subscriber_state(st, "ann@example.org", &s, &err) == 0);
	CHECK(v.state.known && v.state.watermark == s.watermark &&
	      v.state.last_slot == 5000 && v.state.last_sent_at == 6000 &&
	      !v.state.started_last);
	/* one row per suppression, the reader's columns read once */
	REQUIRE(v.left.n == 2);
	CHECK_STR(v.left.v[0], "one");
	CHECK_STR(v.left.v[1], "two");
	CHECK(!v.pending && !td_reader_view_suppressed(&v));
	td_reader_view_free(&v);

	struct td_pending pend = {
		.email = (char *)"ann@example.org", .slot = 8000, .state = (char *)"expired",
		.message_id = (char *)"m@x", .message = (char *)"", .from_seq = 1,
		.upto_seq = 1, .attempts = 3, .first_attempt_at = 8000,
		.next_attempt_at = 8000, .last_error = (char *)"",
	};
	CHECK(td_store_pending_put(st, &pend, &err) == 0);
	CHECK(td_store_suppress(st, "ann@example.org", "all", "bounced", "", 9000,
				&err) == 0);
	CHECK(td_store_reader_view(st, "ann@example.org", &v, &err) == 0);
	CHECK(v.pending && td_reader_view_suppressed(&v) && v.left.n == 3);
	td_reader_view_free(&v);
	td_store_close(st);
}

/* td_store_posts_for_tag reads its posts' tags in one statement: each
 * post gets its own, by name, whatever order the posts come in. */
static void test_posts_carry_their_tags(void)
{
	struct td_err err = { 0, "" };
	struct td_store *st = open_fresh("tagsof");
	if (!st)
		return;
	/* published in the opposite order of their seqs; names sort
	 * otherwise than slugs */
	static const char *const tags[][3] = {
		{ "common", "zeta", "alpha" }, { "common", "beta", NULL },
		{ "common", NULL, NULL },
	};
	enum td_upsert r;
	for (int i = 0; i < 3; i++) {
		char guid[16], url[64];
		snprintf(guid, sizeof guid, "g%d", i);
		snprintf(url, sizeof url, "https://example.org/t/%d", i);
		struct td_post x = make_post_at(guid, url, guid, guid, tags[i][0], NULL);
		x.published = 1000 - i;
		td_strv_free(&x.tags);
		td_strv_free(&x.tag_names);
		for (int k = 0; k < 3 && tags[i][k]; k++) {
			char name[32];
			/* alpha is named "zz", zeta "aa": by name, zeta first */
			snprintf(name, sizeof name, "%s", strcmp(tags[i][k], "alpha") == 0 ? "zz" :
				 strcmp(tags[i][k], "zeta") == 0 ? "aa" : tags[i][k]);
			td_strv_push(&x.tags, tags[i][k]);
			td_strv_push(&x.tag_names, name);
		}
		CHECK(td_store_upsert_post(st, "posts", &x, 100, &r, &err) == 0);
		drop_post(&x);
	}
	struct td_store_post *posts = NULL;
	size_t n = 0;
	CHECK(td_store_posts_for_tag(st, "common", 0, td_store_max_seq(st), 0, &posts, &n,
				     &err) == 0);
	REQUIRE(n == 3);
	CHECK_STR(posts[0].title, "g0");
	REQUIRE(posts[0].tags.n == 3);
	CHECK_STR(posts[0].tags.v[0], "zeta");
	CHECK_STR(posts[0].tag_names.v[0], "aa");
	CHECK_STR(posts[0].tags.v[1], "common");
	CHECK_STR(posts[0].tags.v[2], "alpha");
	CHECK(posts[0].tag_arrived[1] == posts[0].seq);
	REQUIRE(posts[1].tags.n == 2);
	CHECK_STR(posts[1].tags.v[0], "beta");
	CHECK_STR(posts[1].tags.v[1], "common");
	REQUIRE(posts[2].tags.n == 1);
	CHECK_STR(posts[2].tags.v[0], "common");
	CHECK(posts[2].tag_arrived[0] == posts[2].seq);
	td_store_posts_free(posts, n);
	td_store_close(st);
}

int main(void)
{
	strcpy(dir, "/tmp/td-store-XXXXXX");
	if (!mkdtemp(dir))
		return 2;
	store_fixture_init("store");
	if (store_on_pg)
		store_fresh_where(dir, "store", path, sizeof path);
	else  /* its folders made on the first read-write open */
		snprintf(path, sizeof path, "%s/sub/dir/store.db", dir);
	TD_RUN(test_readonly_missing);
	TD_RUN(test_seq_and_idempotence);
	TD_RUN(test_delivery_and_watermark);
	TD_RUN(test_nested_reads);
	TD_RUN(test_newer_schema_refused);
	TD_RUN(test_migration_12);
	TD_RUN(test_pending_and_bounces);
	TD_RUN(test_one_post_many_sources);
	TD_RUN(test_late_tag_arrives);
	TD_RUN(test_foreign_guid_is_no_key);
	TD_RUN(test_generic_links);
	TD_RUN(test_migration_4);
	TD_RUN(test_migration_rereads_posts);
	TD_RUN(test_source_validators_and_health);
	TD_RUN(test_start_clean);
	TD_RUN(test_concurrent_migration);
	TD_RUN(test_reader_view);
	TD_RUN(test_posts_carry_their_tags);
	if (store_on_pg)
		TD_RUN(test_pg_newer_schema_refused);
	store_fixture_done();
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	return TD_DONE(store_fixture_label("store"));
}
