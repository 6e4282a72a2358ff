/*
 * test_ingest.c: a posts folder read into a real store by td_ingest(),
 * run after run: a post whose file has not changed is counted unchanged
 * without being rendered; an edit, even of the address alone (which its
 * links resolve against), is rendered and stored again.
 *
 * "Not rendered" is observed from outside tagdigest's code: this file
 * interposes cmark's cmark_parser_finish() (the call that turns fed
 * Markdown into a tree, once per document whichever way cmark is driven),
 * counts the calls and hands each to the real function.
 */
#include <dlfcn.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmark.h>

#include "harness.h"
#include "store_fixture.h"
#include "tagdigest/cli/config.h"
#include "tagdigest/sources/ingest.h"
#include "tagdigest/cli/options.h"
#include "tagdigest/store/store.h"
#include "tagdigest/core/util.h"

static size_t parses;

cmark_node *cmark_parser_finish(cmark_parser *parser)
{
	static cmark_node *(*real)(cmark_parser *);
	if (!real)
		*(void **)&real = dlsym(RTLD_NEXT, "cmark_parser_finish");
	parses++;
	return real(parser);
}

static char dir[] = "/tmp/td-ingest-XXXXXX";

static void post(const char *name, const char *url, const char *body)
{
	char *text = td_xasprintf("---\ntitle: T %s\ndate: 2017-06-30\ntags: a\n"
				  "url: %s\n---\n%s", name, url, body);
	char *path = td_xasprintf("posts/%s", name);
	write_file(dir, path, text);
	free(path);
	free(text);
}

/* One ingest; its summary in *sum, and how many documents cmark parsed. */
static size_t ingest(const struct td_config *cfg, struct td_store *st,
		     struct td_ingest_summary *sum)
{
	struct td_err err = { 0, "" };
	size_t before = parses;
	struct td_ingest_options opt = td_options_ingest(cfg);
	int rc = td_ingest(&opt, st, TD_INGEST_ALL, 1500000000, sum, &err);
	CHECK(rc == 0);
	td_ingest_summary_free(sum);     /* the totals stay */
	if (rc)
		fprintf(stderr, "  ingest: %s\n", err.msg);
	return parses - before;
}

static char *first_excerpt(struct td_store *st)
{
	struct td_store_post *p;
	size_t n;
	struct td_err err;
	char *html = NULL;
	if (td_store_posts_for_tag(st, "a", 0, INT64_MAX, 0, &p, &n, &err) == 0) {
		for (size_t i = 0; i < n; i++)
			if (strcmp(p[i].title, "T b.md") == 0)
				html = td_xstrdup(p[i].excerpt_html);
		td_store_posts_free(p, n);
	}
	return html ? html : td_xstrdup("");
}

static void test_unchanged_not_rendered(void)
{
	if (!mkdtemp(dir))
		abort();
	char *posts = td_xasprintf("%s/posts", dir);
	char *var = td_xasprintf("%s/var", dir);
	if (mkdir(posts, 0700) < 0)
		abort();
	char store[4200];
	char *conf = td_xasprintf(
		"[site]\nname = T\nurl = https://t.example\nfrom = d@t.example\n"
		"%s[subscribers]\npath = %s/s.csv\n"
		"[templates]\ndir = templates\n"
		"[transport]\ntype = maildir\npath = %s/out\n"
		"[source.posts]\ntype = posts\npath = %s\n",
		store_fresh_conf(dir, "store", store, sizeof store), dir, dir, posts);
	write_file(dir, "td.conf", conf);
	write_file(dir, "s.csv", "email,name,tags\n");
	post("a.md", "https://x.example/a/", "Plain *text*.\n");
	post("b.md", "https://x.example/b/", "A [relative](rel) link.\n");
	post("c.md", "https://x.example/c/", "Third.\n");

	struct td_config cfg;
	struct td_err err = { 0, "" };
	char *conf_path = td_xasprintf("%s/td.conf", dir);
	int rc = td_config_load(&cfg, conf_path, NULL, 0, &err);
	CHECK(rc == 0);
	if (rc) {
		fprintf(stderr, "  config: %s\n", err.msg);
		return;
	}
	struct td_store *st = NULL;
	CHECK(td_store_open(cfg.store_path, TD_STORE_READWRITE, &st, &err) == 0);

	struct td_ingest_summary sum;
	/* first run: every post is new, and rendered */
	CHECK(ingest(&cfg, st, &sum) == 3);
	CHECK(sum.read == 3 && sum.added == 3 && sum.unchanged == 0);
	char *html = first_excerpt(st);
	CHECK_STR(html, "<p>A <a href=\"https://x.example/b/rel\" "
		  "rel=\"noopener noreferrer\">relative</a> link.</p>");
	free(html);

	/* nothing changed: nothing rendered, all counted unchanged */
	CHECK(ingest(&cfg, st, &sum) == 0);
	CHECK(sum.read == 3 && sum.unchanged == 3 && sum.added == 0 &&
	      sum.updated == 0 && sum.bad_files == 0);

	/* b's address moves (same body): its link resolves elsewhere now */
	post("b.md", "https://x.example/moved/", "A [relative](rel) link.\n");
	CHECK(ingest(&cfg, st, &sum) == 1);
	CHECK(sum.read == 3 && sum.updated == 1 && sum.unchanged == 2);
	html = first_excerpt(st);
	CHECK_STR(html, "<p>A <a href=\"https://x.example/moved/rel\" "
		  "rel=\"noopener noreferrer\">relative</a> link.</p>");
	free(html);

	/* a file gone bad is still read and reported, never skipped */
	post("c.md", "not a url", "Third.\n");
	CHECK(ingest(&cfg, st, &sum) == 0);
	CHECK(sum.read == 2 && sum.unchanged == 2 && sum.bad_files == 1);

	td_store_close(st);
	td_config_free(&cfg);
	const char *names[] = { "posts/a.md", "posts/b.md", "posts/c.md", "td.conf",
				"s.csv", "store.db", "store.db-wal", "store.db-shm",
				"store.db.secret",
				"var/tagdigest.secret" };
	for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
		char *path = td_xasprintf("%s/%s", dir, names[i]);
		unlink(path);
		free(path);
	}
	rmdir(posts);
	rmdir(var);
	free(var);
	if (rmdir(dir) < 0)
		fprintf(stderr, "cannot remove %s\n", dir);
	free(posts);
	free(conf);
	free(conf_path);
}

/* The desk's scope: the posts folders only. A feed source (here one that
 * cannot be reached: nothing listens on port 1) is left alone, so it
 * neither fails nor is tried; the whole ingest tries it and counts it
 * failed. */
static void test_posts_scope(void)
{
	char scope_dir[] = "/tmp/td-ingest-scope-XXXXXX";
	if (!mkdtemp(scope_dir))
		abort();
	char *posts = td_xasprintf("%s/posts", scope_dir);
	char *var = td_xasprintf("%s/var", scope_dir);
	char *conf_path = td_xasprintf("%s/td.conf", scope_dir);
	char *csv = td_xasprintf("%s/s.csv", scope_dir);
	char *md = td_xasprintf("%s/a.md", posts);
	if (mkdir(posts, 0700) < 0)
		abort();
	char store[4200];
	char *conf = td_xasprintf(
		"[site]\nname = T\nurl = https://t.example\nfrom = d@t.example\n"
		"%s[subscribers]\npath = %s\n"
		"[templates]\ndir = templates\n"
		"[transport]\ntype = maildir\npath = %s/out\n"
		"[source.posts]\ntype = posts\npath = %s\n"
		"[source.away]\ntype = feed\nurl = http://127.0.0.1:1/feed.xml\n",
		store_fresh_conf(scope_dir, "store", store, sizeof store), csv, scope_dir,
		posts);
	write_file(scope_dir, "td.conf", conf);
	write_file(scope_dir, "s.csv", "email,name,tags\n");
	write_file(posts, "a.md", "---\ntitle: A\ndate: 2020-01-01\ntags: [x]\n"
		   "url: https://x.example/a/\n---\nBody.\n");

	struct td_config cfg;
	struct td_err err = { 0, "" };
	int rc = td_config_load(&cfg, conf_path, NULL, 0, &err);
	CHECK(rc == 0);
	if (rc) {
		fprintf(stderr, "  config: %s\n", err.msg);
		return;
	}
	CHECK(td_ingest_in_scope(&cfg.sources[0], TD_INGEST_POSTS) !=
	      td_ingest_in_scope(&cfg.sources[1], TD_INGEST_POSTS));
	struct td_store *st = NULL;
	CHECK(td_store_open(cfg.store_path, TD_STORE_READWRITE, &st, &err) == 0);
	struct td_ingest_summary sum;
	struct td_ingest_options opt = td_options_ingest(&cfg);
	CHECK(td_ingest(&opt, st, TD_INGEST_POSTS, 1500000000, &sum, &err) == 0);
	CHECK(sum.sources_ok == 1 && sum.sources_failed == 0);
	CHECK(sum.read == 1 && sum.added == 1);
	CHECK(sum.exit == 0 && sum.sources[0].done && !sum.sources[1].done);
	td_ingest_summary_free(&sum);
	CHECK(td_ingest(&opt, st, TD_INGEST_ALL, 1500000000, &sum, &err) == 0);
	CHECK(sum.sources_ok == 1 && sum.sources_failed == 1);
	CHECK(sum.read == 1 && sum.unchanged == 1);
	/* the feed nobody answers: the exit code says so, the error names
	 * the URL */
	CHECK(sum.exit == EX_UNAVAILABLE);
	CHECK(sum.sources[1].outcome == TD_INGEST_FAILED);
	CHECK(strncmp(sum.sources[1].err.msg, "http://127.0.0.1:1/feed.xml: ", 29) == 0);
	td_ingest_summary_free(&sum);
	/* what matters most to an operator wins */
	CHECK(td_ingest_worse(0, EX_UNAVAILABLE) == EX_UNAVAILABLE);
	CHECK(td_ingest_worse(EX_UNAVAILABLE, EX_DATAERR) == EX_DATAERR);
	CHECK(td_ingest_worse(EX_DATAERR, EX_UNAVAILABLE) == EX_DATAERR);
	CHECK(td_ingest_worse(EX_DATAERR, EX_NOINPUT) == EX_NOINPUT);
	td_store_close(st);
	td_config_free(&cfg);

	const char *names[] = { "td.conf", "s.csv", "store.db", "store.db-wal",
				"store.db-shm", "store.db.secret",
				"var/tagdigest.secret" };
	for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
		char *path = td_xasprintf("%s/%s", scope_dir, names[i]);
		unlink(path);
		free(path);
	}
	unlink(md);
	rmdir(posts);
	rmdir(var);
	free(var);
	if (rmdir(scope_dir) < 0)
		fprintf(stderr, "cannot remove %s\n", scope_dir);
	free(conf);
	free(md);
	free(csv);
	free(conf_path);
	free(posts);
}

int main(void)
{
	store_fixture_init("ingest");
	TD_RUN(test_unchanged_not_rendered);
	TD_RUN(test_posts_scope);
	store_fixture_done();
	return TD_DONE(store_fixture_label("test_ingest"));
}
