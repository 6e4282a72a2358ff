/*
 * test_render.c: the template context and the rendering rules.
 *
 * The context test reads the table in docs/TEMPLATES.md and renders every
 * name in it, so the documentation cannot promise a name the code does not
 * fill. The other tests cover the default templates (numbered links, the
 * reader's tags in the footer), text wrapping, and the Gmail clipping cap.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "harness.h"
#include "store_fixture.h"
#include "tagdigest/core/buf.h"
#include "tagdigest/compose/digest.h"
#include "tagdigest/compose/render.h"
#include "tagdigest/core/util.h"

static char dir[64];
static const time_t NOW = 1795000000;   /* 2026-11-18 */

/* The display name of a fixture tag. */
static const char *tag_name(const char *slug)
{
	if (strcmp(slug, "nato") == 0)
		return "NATO";
	return strcmp(slug, "nihon") == 0 ? "日本語ニュース" : "USA";
}

static void add_post(struct td_store *st, const char *guid, const char *title,
		     const char *excerpt, const char *t1, const char *t2)
{
	struct td_post p;
	memset(&p, 0, sizeof p);
	p.guid = (char *)guid;
	p.url = td_xasprintf("https://example.org/%s/", guid);
	p.title = (char *)title;
	p.author = (char *)(strcmp(guid, "p3") == 0 ? "Desk" : "");
	p.published = 1513944000;   /* 2017-12-22 12:00 UTC */
	p.excerpt_html = td_xasprintf("<p>%s</p>", excerpt);
	p.excerpt_text = (char *)excerpt;
	p.content_html = (char *)"";
	p.content_hash = (char *)guid;
	td_strv_push(&p.tags, t1);
	td_strv_push(&p.tag_names, tag_name(t1));
	if (t2) {
		td_strv_push(&p.tags, t2);
		td_strv_push(&p.tag_names, tag_name(t2));
	}
	enum td_upsert r;
	struct td_err err;
	if (td_store_upsert_post(st, "s", &p, NOW - 60, &r, &err))
		fprintf(stderr, "upsert: %s\n", err.msg);
	free(p.url);
	free(p.excerpt_html);
	td_strv_free(&p.tags);
	td_strv_free(&p.tag_names);
}

/* What a digest is built and rendered with. */
struct setup {
	struct td_render_options render;
	struct td_digest_options digest;
};

static struct setup config(const char *templates)
{
	struct setup c;
	memset(&c, 0, sizeof c);
	c.render.site_name = "Test Weekly";
	c.render.site_url = "https://example.org";
	c.render.tag_url = c.digest.tag_url = "https://example.org/tag/{tag}/";
	c.render.tz = NULL;   /* UTC */
	c.render.templates_dir = templates;
	c.digest.max_posts = 2;
	c.render.excerpt_chars = 280;
	c.digest.first_digest_days = 7;
	return c;
}

/* The names of the context table in docs/TEMPLATES.md. */
static void documented_names(struct td_strv *names)
{
	char *doc;
	if (td_read_file("docs/TEMPLATES.md", 1 << 20, &doc, NULL) < 0) {
		CHECK(!"docs/TEMPLATES.md readable (tests run from the repo root)");
		return;
	}
	const char *p = strstr(doc, "## The context");
	/* the table ends with its section */
	char *next = p ? strstr(p + 1, "\n## ") : NULL;
	if (next)
		*next = '\0';
	while (p && (p = strstr(p, "\n| `"))) {
		p += 4;
		const char *end = strchr(p, '`');
		if (!end)
			break;
		td_strv_push_owned(names, td_xstrndup(p, (size_t)(end - p)));
	}
	free(doc);
}

/* {{#a}}{{#b}}{{c}}{{/b}}{{/a}} for "a.b.c" when a and a.b are lists. */
static void name_probe(struct td_buf *t, const char *name)
{
	static const char *const lists[] = { "sections", "posts", "tags", "links" };
	struct td_strv parts = TD_STRV_INIT;
	for (const char *p = name; *p;) {
		size_t n = strcspn(p, ".");
		td_strv_push_owned(&parts, td_xstrndup(p, n));
		p += n + (p[n] == '.');
	}
	td_buf_printf(t, "%s=[", name);
	size_t opened = 0;
	struct td_buf path = TD_BUF_INIT;
	for (size_t i = 0; i + 1 < parts.n; i++) {
		bool list = false;
		for (size_t k = 0; k < 4; k++)
			list = list || strcmp(parts.v[i], lists[k]) == 0;
		if (list) {
			/* enter the list, then address the rest from inside it */
			td_buf_printf(t, "{{#%s%s}}", td_buf_cstr(&path), parts.v[i]);
			td_buf_reset(&path);
			opened++;
		} else {
			td_buf_printf(&path, "%s.", parts.v[i]);
		}
	}
	const char *last = parts.v[parts.n - 1];
	bool is_list = false;
	for (size_t k = 0; k < 4; k++)
		is_list = is_list || strcmp(last, lists[k]) == 0;
	if (is_list)
		td_buf_printf(t, "{{#%s%s}}L{{/%s%s}}", td_buf_cstr(&path), last,
			      td_buf_cstr(&path), last);
	else
		td_buf_printf(t, "{{%s%s}}", td_buf_cstr(&path), last);
	/* close the lists we entered, innermost first */
	for (size_t i = parts.n - 1; opened > 0 && i-- > 0;) {
		for (size_t k = 0; k < 4; k++)
			if (strcmp(parts.v[i], lists[k]) == 0) {
				td_buf_printf(t, "{{/%s}}", parts.v[i]);
				opened--;
			}
	}
	td_buf_puts(t, "]\n");
	td_buf_free(&path);
	td_strv_free(&parts);
}

static const char *value_of(const char *text, const char *name)
{
	static char out[512];
	char *key = td_xasprintf("\n%s=[", name);
	const char *p = strstr(text, key);
	out[0] = '\0';
	if (p) {
		p += strlen(key);
		const char *end = strstr(p, "]\n");
		size_t n = end ? (size_t)(end - p) : 0;
		if (n >= sizeof out)
			n = sizeof out - 1;
		memcpy(out, p, n);
		out[n] = '\0';
	}
	free(key);
	return p ? out : NULL;
}

/* A fresh store (store_fixture.h); the test cannot go on without it. */
static struct td_store *fixture_store(const char *name)
{
	char path[4096];
	struct td_store *st;
	struct td_err err = { 0, "" };
	if (!store_fresh_where(dir, name, path, sizeof path) ||
	    td_store_open(path, TD_STORE_READWRITE, &st, &err)) {
		fprintf(stderr, "%s\n", err.msg);
		exit(2);
	}
	return st;
}

static void test_every_documented_name(void)
{
	struct td_strv names = TD_STRV_INIT;
	documented_names(&names);
	CHECK(names.n >= 35);

	char *tdir = td_xasprintf("%s/ctx", dir);
	char *pdir = td_xasprintf("%s/partials", tdir);
	mkdir(tdir, 0755);
	mkdir(pdir, 0755);
	struct td_buf t = TD_BUF_INIT;
	td_buf_putc(&t, '\n');
	for (size_t i = 0; i < names.n; i++)
		name_probe(&t, names.v[i]);
	char *f = td_xasprintf("%s/digest.txt.mustache", tdir);
	write_file(NULL, f, td_buf_cstr(&t));
	free(f);
	f = td_xasprintf("%s/digest.subject.mustache", tdir);
	write_file(NULL, f, "{{site.name}}");
	free(f);
	f = td_xasprintf("%s/digest.html.mustache", tdir);
	write_file(NULL, f, "{{#sections}}{{#posts}}{{{excerpt_html}}}{{/posts}}{{/sections}}");
	free(f);

	struct td_store *st = fixture_store("ctx");
	add_post(st, "p1", "Lavrov & NATO", "First <b>paragraph</b>", "nato", "usa");
	add_post(st, "p2", "Second", "Two", "nato", NULL);
	add_post(st, "p3", "Third", "Three", "nato", NULL);
	struct setup opt = config(tdir);
	opt.render.postal_address = "1 Main Street, Springfield";
	struct td_subscriber sub = { (char *)"r@example.org", (char *)"Zoë", TD_STRV_INIT, 1, { 0 }, 0, 0 };
	td_strv_push(&sub.tags, "nato");
	td_strv_push(&sub.tags, "usa");
	struct td_renderer *r;
	struct td_err err;
	CHECK(td_renderer_new(&opt.render, &r, &err) == 0);
	struct td_digest d;
	CHECK(td_digest_build(st, &opt.digest, &sub, NOW, &d, &err) == 0);
	struct td_rendered out;
	struct td_strv tag_unsub = TD_STRV_INIT;
	td_strv_push(&tag_unsub, "nato");
	td_strv_push(&tag_unsub, "https://example.org/u/NATO-TOKEN");
	CHECK(td_render_digest(r, &sub, &d, "https://example.org/u/TOKEN",
			       "https://example.org/p/PREFS", &tag_unsub, NOW, &out, &err) == 0);
	td_strv_free(&tag_unsub);

	/* every documented name renders to something */
	for (size_t i = 0; i < names.n; i++) {
		const char *v = value_of(out.text, names.v[i]);
		if (!v || !*v)
			fprintf(stderr, "  documented name '%s' rendered nothing\n", names.v[i]);
		CHECK(v && *v);
	}
	/* and the values are the right ones (cap 2: NATO shows p3, p2; p1 is
	 * NATO's too, so USA has nothing new of its own and no section) */
	CHECK_STR(value_of(out.text, "site.name"), "Test Weekly");
	CHECK_STR(value_of(out.text, "site.language"), "en");
	CHECK_STR(value_of(out.text, "site.postal_address"), "1 Main Street, Springfield");
	CHECK_STR(value_of(out.text, "subscriber.name"), "Zoë");
	CHECK_STR(value_of(out.text, "subscriber.tag_list"), "NATO and USA");
	CHECK_STR(value_of(out.text, "digest.post_count"), "3");
	CHECK_STR(value_of(out.text, "digest.shown_count"), "2");
	CHECK_STR(value_of(out.text, "digest.tag_list"), "NATO");
	CHECK_STR(value_of(out.text, "digest.first"), "true");
	CHECK_STR(value_of(out.text, "sections.more"), "1");
	CHECK_STR(value_of(out.text, "sections.underline"), "----");
	CHECK_STR(value_of(out.text, "sections.archive_url"), "https://example.org/tag/nato/");
	CHECK_STR(value_of(out.text, "sections.more_number"), "3");
	CHECK_STR(value_of(out.text, "sections.posts.number"), "12");
	CHECK_STR(value_of(out.text, "links.number"), "123");
	CHECK_STR(value_of(out.text, "sections.posts.marker"), "[1][2]");
	CHECK_STR(value_of(out.text, "links.marker"), "[1][2][3]");
	CHECK_STR(value_of(out.text, "indent"), "    ");
	CHECK_STR(value_of(out.text, "sections.posts.date"), "22 December 201722 December 2017");
	/* a first digest of posts dated before its period shows their dates
	 * (digest.h: td_digest_period), not the week it would claim */
	CHECK_STR(value_of(out.text, "period.since"), "22 December 2017");
	CHECK_STR(value_of(out.text, "period.until"), "22 December 2017");
	CHECK_STR(value_of(out.text, "unsubscribe_url"), "https://example.org/u/TOKEN");
	CHECK_STR(value_of(out.text, "preferences_url"), "https://example.org/p/PREFS");
	CHECK_STR(value_of(out.text, "sections.tag_unsubscribe_url"),
		  "https://example.org/u/NATO-TOKEN");
	/* HTML escaping off in text, safe HTML kept in the HTML part */
	CHECK(strstr(out.html, "<p>Three</p>") != NULL);
	td_rendered_free(&out);
	td_digest_free(&d);
	td_renderer_free(r);
	td_strv_free(&sub.tags);
	td_store_close(st);
	td_buf_free(&t);
	td_strv_free(&names);
	free(tdir);
	free(pdir);
}

static void test_default_templates(void)
{
	struct td_store *st = fixture_store("def");
	add_post(st, "p1", "Lavrov <meets> “NATO”", "An excerpt", "nato", NULL);
	add_post(st, "p2", "Second", "Two", "nato", NULL);
	add_post(st, "p3", "Third", "Three", "nato", NULL);
	struct setup opt = config("templates");
	struct td_subscriber sub = { (char *)"r@example.org", (char *)"", TD_STRV_INIT, 1, { 0 }, 0, 0 };
	td_strv_push(&sub.tags, "nato");
	struct td_renderer *r;
	struct td_err err;
	CHECK(td_renderer_new(&opt.render, &r, &err) == 0);
	if (!r) {
		fprintf(stderr, "%s\n", err.msg);
		return;
	}
	struct td_digest d;
	CHECK(td_digest_build(st, &opt.digest, &sub, NOW, &d, &err) == 0);
	struct td_rendered out;
	CHECK(td_render_digest(r, &sub, &d, "https://example.org/u/T", NULL, NULL, NOW, &out, &err) == 0);
	CHECK_STR(out.subject, "Test Weekly: 3 new posts in NATO");
	/* numbered posts, the archive link numbered after them, then the list */
	CHECK(strstr(out.text, "[1] Third\n") != NULL);
	CHECK(strstr(out.text, "[2] Second\n") != NULL);
	CHECK(strstr(out.text, "...and 1 more in NATO [3]") != NULL);
	CHECK(strstr(out.text, "Links:\n[1] https://example.org/p3/\n[2] https://example.org/p2/\n"
			       "[3] https://example.org/tag/nato/\n") != NULL);
	CHECK(strstr(out.text, "Unsubscribe with one click: https://example.org/u/T") != NULL);
	/* no preference centre: no link to one, in either part */
	CHECK(strstr(out.text, "Change your tags") == NULL);
	CHECK(strstr(out.html, "Change your tags") == NULL);
	td_rendered_free(&out);
	/* with one: beside the unsubscribe link in both parts */
	CHECK(td_render_digest(r, &sub, &d, "https://example.org/u/T",
			       "https://example.org/p/P?a=1&b=2", NULL, NOW, &out, &err) == 0);
	CHECK(strstr(out.text, "Change your tags or schedule: https://example.org/p/P?a=1&b=2\n"
			       "Unsubscribe with one click: https://example.org/u/T") != NULL);
	CHECK(strstr(out.html, "<a href=\"https://example.org/p/P?a=1&amp;b=2\" class=\"td-muted\" "
			       "style=\"color:#6b7280;\">Change your tags or schedule</a>") != NULL);
	/* text is not escaped; HTML is */
	td_rendered_free(&out);
	td_digest_free(&d);
	opt.digest.max_posts = 5;
	CHECK(td_digest_build(st, &opt.digest, &sub, NOW, &d, &err) == 0);
	CHECK(td_render_digest(r, &sub, &d, "https://example.org/u/T", NULL, NULL, NOW, &out, &err) == 0);
	CHECK(strstr(out.text, "Lavrov <meets> “NATO”") != NULL);
	CHECK(strstr(out.html, "Lavrov &lt;meets&gt; “NATO”") != NULL);
	CHECK(strstr(out.html, "<meets>") == NULL);
	td_rendered_free(&out);
	td_digest_free(&d);
	td_renderer_free(r);
	td_strv_free(&sub.tags);
	td_store_close(st);
}

/* The digest of a reader of "nato" through the default templates, at most
 * max_posts posts shown. The caller frees d and out. */
static int render_tag(struct td_store *st, const char *tag, int max_posts,
		      struct td_digest *d, struct td_rendered *out)
{
	struct setup opt = config("templates");
	opt.digest.max_posts = max_posts;
	struct td_subscriber sub = { (char *)"r@example.org", (char *)"", TD_STRV_INIT, 1, { 0 }, 0, 0 };
	td_strv_push(&sub.tags, tag);
	struct td_renderer *r;
	struct td_err err;
	int rc = td_renderer_new(&opt.render, &r, &err);
	if (!rc) {
		rc = td_digest_build(st, &opt.digest, &sub, NOW, d, &err);
		if (!rc)
			rc = td_render_digest(r, &sub, d, "https://example.org/u/T", NULL, NULL, NOW,
					      out, &err);
		td_renderer_free(r);
	}
	if (rc)
		fprintf(stderr, "render_tag: %s\n", err.msg);
	td_strv_free(&sub.tags);
	return rc;
}

static int render_nato(struct td_store *st, int max_posts, struct td_digest *d,
		       struct td_rendered *out)
{
	return render_tag(st, "nato", max_posts, d, out);
}

/* Templates whose size the clip tests can reason about: a post is its
 * title and its excerpt, nothing else. */
static const char *clip_templates(void)
{
	static char tdir[96];
	snprintf(tdir, sizeof tdir, "%s/clip-templates", dir);
	mkdir(tdir, 0755);
	char *f = td_xasprintf("%s/digest.subject.mustache", tdir);
	write_file(NULL, f, "{{digest.post_count}} new in {{digest.tag_list}}");
	free(f);
	f = td_xasprintf("%s/digest.txt.mustache", tdir);
	write_file(NULL, f, "{{#sections}}{{#posts}}{{title}}\n{{#has_excerpt}}{{excerpt_text}}\n"
		   "{{/has_excerpt}}{{/posts}}{{#has_more}}and {{more}} more\n"
		   "{{/has_more}}{{/sections}}");
	free(f);
	f = td_xasprintf("%s/digest.html.mustache", tdir);
	write_file(NULL, f, "{{#sections}}<h1>{{name}}</h1>{{#posts}}<h2>{{title}}</h2>"
		   "{{#has_excerpt}}{{{excerpt_html}}}{{/has_excerpt}}{{/posts}}"
		   "{{#has_more}}<p>and {{more}} more</p>{{/has_more}}{{/sections}}");
	free(f);
	return tdir;
}

static char *repeat(const char *unit, size_t n)
{
	struct td_buf b = TD_BUF_INIT;
	for (size_t i = 0; i < n; i++)
		td_buf_puts(&b, unit);
	return td_buf_steal(&b);
}

/* Renders the digest of a reader of nato and usa in clip.db-like store st. */
static void render_for(struct td_store *st, const struct setup *opt, struct td_digest *d,
		       struct td_rendered *out)
{
	struct td_subscriber sub = { (char *)"r@example.org", (char *)"", TD_STRV_INIT, 1, { 0 }, 0, 0 };
	td_strv_push(&sub.tags, "nato");
	td_strv_push(&sub.tags, "usa");
	struct td_renderer *r;
	struct td_err err;
	memset(out, 0, sizeof *out);
	CHECK(td_renderer_new(&opt->render, &r, &err) == 0);
	CHECK(td_digest_build(st, &opt->digest, &sub, NOW, d, &err) == 0);
	if (r)
		CHECK(td_render_digest(r, &sub, d, "https://example.org/u/T", NULL, NULL, NOW, out,
				       &err) == 0);
	td_renderer_free(r);
	td_strv_free(&sub.tags);
}

/* Every section shows a post, and every post the subject counts is shown
 * or counted in its section's "and N more". */
static void check_counts(const struct td_digest *d, const struct td_rendered *out)
{
	size_t shown = 0, more = 0;
	for (size_t i = 0; i < d->nsections; i++) {
		CHECK(d->sections[i].nposts >= 1);
		shown += d->sections[i].nposts;
		more += d->sections[i].more;
	}
	CHECK(shown == d->shown && shown + more == d->total);
	char *want = td_xasprintf("%zu new ", d->total);
	CHECK(out->subject && strstr(out->subject, want) != NULL);
	free(want);
}

static size_t count_of(const char *hay, const char *needle)
{
	size_t n = 0;
	for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
		n++;
	return n;
}

/* Issue 9 item 3: one long first paragraph no longer empties the digest.
 * The excerpt is cut in both parts; both posts are shown. */
static void test_long_paragraph_is_cut(void)
{
	struct td_store *st = fixture_store("long");
	char *huge = repeat("A <em>long</em> first paragraph, ", 118 * 1024 / 33);
	add_post(st, "n1", "Long one", huge, "nato", NULL);
	add_post(st, "n2", "Short one", "Brief.", "nato", NULL);
	struct setup opt = config("templates");
	opt.digest.max_posts = 10;
	struct td_digest d;
	struct td_rendered out;
	render_for(st, &opt, &d, &out);
	CHECK(d.shown == 2 && d.total == 2);
	CHECK(out.html && strlen(out.html) < 20000);
	CHECK(out.html && strstr(out.html, "Long one") && strstr(out.html, "Short one"));
	/* the cut keeps the markup and closes it */
	CHECK(out.html && strstr(out.html, "<p>A <em>long</em> first paragraph") != NULL);
	CHECK(out.html && strstr(out.html, "…</p>") != NULL);
	CHECK(out.text && strstr(out.text, "A long first paragraph") == NULL);
	CHECK(out.text && strstr(out.text, "A <em>long</em> first paragraph, A") != NULL);
	CHECK(out.text && strlen(out.text) < 4000);
	check_counts(&d, &out);
	td_rendered_free(&out);
	td_digest_free(&d);
	free(huge);
	td_store_close(st);
}

/* Issue 9 item 4: excerpt_chars = 0 means titles only, in both parts. */
static void test_titles_only(void)
{
	struct td_store *st = fixture_store("titles");
	add_post(st, "t1", "First title", "An excerpt that must not show", "nato", NULL);
	add_post(st, "t2", "Second title", "Another one", "nato", NULL);
	struct setup opt = config("templates");
	opt.render.excerpt_chars = 0;
	struct td_digest d;
	struct td_rendered out;
	render_for(st, &opt, &d, &out);
	CHECK(out.text && strstr(out.text, "First title") && strstr(out.text, "Second title"));
	CHECK(out.html && strstr(out.html, "First title") && strstr(out.html, "Second title"));
	CHECK(out.text && strstr(out.text, "must not") == NULL && strstr(out.text, "Another") == NULL);
	CHECK(out.html && strstr(out.html, "must not") == NULL && strstr(out.html, "Another") == NULL);
	/* no empty excerpt line or box left behind */
	CHECK(out.text && strstr(out.text, "\n    \n") == NULL);
	CHECK(out.html && strstr(out.html, "class=\"td-text td-excerpt\"") == NULL);
	td_rendered_free(&out);
	td_digest_free(&d);
	/* the same posts, the next run with excerpts: cut to the new length */
	opt.render.excerpt_chars = 10;
	render_for(st, &opt, &d, &out);
	CHECK(out.text && strstr(out.text, "An excerpt…\n") != NULL);
	CHECK(out.html && strstr(out.html, "<p>An excerpt…</p>") != NULL);
	td_rendered_free(&out);
	td_digest_free(&d);
	td_store_close(st);
}

/* Too big for Gmail: shorter excerpts come first, every post stays. */
static void test_clip_shortens_excerpts(void)
{
	struct td_store *st = fixture_store("clip1");
	/* 50 posts with 4,000-character excerpts: about 200 KB of HTML */
	char *big = repeat("xxxxxxxxx ", 400);
	for (int i = 0; i < 50; i++) {
		char guid[16];
		snprintf(guid, sizeof guid, "b%02d", i);
		add_post(st, guid, guid, big, "nato", NULL);
	}
	free(big);
	struct setup opt = config(clip_templates());
	opt.digest.max_posts = 100;
	opt.render.excerpt_chars = 5000;
	struct td_digest d;
	struct td_rendered out;
	render_for(st, &opt, &d, &out);
	CHECK(out.html && strlen(out.html) < TD_RENDER_CLIP_LIMIT);
	CHECK(d.shown == 50);
	/* every post keeps an excerpt, cut */
	CHECK(out.html && count_of(out.html, "<p>xxxxxxxxx") == 50);
	CHECK(out.html && count_of(out.html, "…</p>") == 50);
	CHECK(out.text && count_of(out.text, "…\n") == 50);
	check_counts(&d, &out);
	td_rendered_free(&out);
	td_digest_free(&d);
	td_store_close(st);
}

/* Titles only come before taking posts out. 62 titles of 1/66 of the
 * limit (1,582 characters) fit; with excerpts of even 40 characters they
 * would not. */
static void test_clip_titles_before_posts(void)
{
	struct td_store *st = fixture_store("clip2");
	char *title = repeat("t", TD_RENDER_CLIP_LIMIT / 66);
	for (int i = 0; i < 62; i++) {
		char guid[16];
		snprintf(guid, sizeof guid, "c%02d", i);
		memcpy(title, guid, 3);
		add_post(st, guid, title, "An excerpt of some length for every post, "
			 "which the digest cannot afford", "nato", NULL);
	}
	free(title);
	struct setup opt = config(clip_templates());
	opt.digest.max_posts = 100;
	struct td_digest d;
	struct td_rendered out;
	render_for(st, &opt, &d, &out);
	CHECK(d.shown == 62);
	CHECK(out.html && strstr(out.html, "excerpt") == NULL);
	CHECK(out.text && strstr(out.text, "excerpt") == NULL);
	CHECK(out.html && strlen(out.html) < TD_RENDER_CLIP_LIMIT);
	check_counts(&d, &out);
	td_rendered_free(&out);
	td_digest_free(&d);
	td_store_close(st);
}

/* Only then posts go into "and N more", never a section's last one; and
 * what cannot fit at all is sent over the limit rather than hidden. */
static void test_clip_never_empties(void)
{
	struct td_store *st = fixture_store("clip3");
	char *title = repeat("t", 1500);
	for (int i = 0; i < 150; i++) {
		char guid[16];
		snprintf(guid, sizeof guid, "d%03d", i);
		memcpy(title, guid, 4);
		add_post(st, guid, title, "Excerpt", "nato", NULL);
	}
	/* usa has one post only, published earlier than every nato post */
	memcpy(title, "usa1", 4);
	add_post(st, "usa1", title, "Excerpt", "usa", NULL);
	struct setup opt = config(clip_templates());
	opt.digest.max_posts = 1000;
	struct td_digest d;
	struct td_rendered out;
	render_for(st, &opt, &d, &out);
	CHECK(d.total == 151 && d.nsections == 2);
	CHECK(d.shown < 151 && d.shown > 10);
	CHECK(d.nsections == 2 && d.sections[1].nposts == 1);
	CHECK(out.html && strstr(out.html, "usa1") != NULL);
	CHECK(out.html && strstr(out.html, "Excerpt") == NULL);
	CHECK(out.html && strlen(out.html) < TD_RENDER_CLIP_LIMIT);
	char *more = td_xasprintf("<p>and %zu more</p>", d.sections[0].more);
	CHECK(out.html && strstr(out.html, more) != NULL);
	free(more);
	check_counts(&d, &out);
	td_rendered_free(&out);
	td_digest_free(&d);
	td_store_close(st);

	/* two sections whose one post each is too big: both are shown */
	st = fixture_store("clip4");
	free(title);
	title = repeat("w", 80000);
	add_post(st, "w1", title, "Excerpt", "nato", NULL);
	add_post(st, "w2", title, "Excerpt", "usa", NULL);
	render_for(st, &opt, &d, &out);
	CHECK(d.shown == 2 && d.total == 2);
	CHECK(out.html && strlen(out.html) > TD_RENDER_CLIP_LIMIT);
	check_counts(&d, &out);
	td_rendered_free(&out);
	td_digest_free(&d);
	td_store_close(st);
	free(title);
}

static void test_wrap(void)
{
	char *w = td_render_wrap("    one two three four five six seven eight nine ten", 20);
	CHECK_STR(w, "    one two three\n    four five six\n    seven eight nine\n    ten");
	free(w);
	/* a URL longer than the line stays whole on its own line */
	w = td_render_wrap("see https://example.org/a/very/long/path/that/does/not/fit ok", 20);
	CHECK_STR(w, "see\nhttps://example.org/a/very/long/path/that/does/not/fit\nok");
	free(w);
	/* width counts characters, not bytes */
	w = td_render_wrap("ääää öööö üüüü", 9);
	CHECK_STR(w, "ääää öööö\nüüüü");
	free(w);
}

/* "[n] Title": the lines a title wraps to hang under its first word, and
 * the marker never ends a line alone. */
static void test_wrap_hanging(void)
{
	static const struct { const char *in; size_t width; const char *want; } cases[] = {
		{ "[1] alpha beta gamma delta epsilon", 16,
		  "[1] alpha beta\n    gamma delta\n    epsilon" },
		/* a marker padded to line up with "[10]" hangs after the padding */
		{ " [9] alpha beta gamma delta", 16, " [9] alpha beta\n     gamma delta" },
		/* a footnote whose URL passes the width stays one line, URL whole */
		{ "[12] https://example.org/a/very/long/path", 20,
		  "[12] https://example.org/a/very/long/path" },
		{ "[12] https://example.org/a/very/long/path more", 20,
		  "[12] https://example.org/a/very/long/path\n     more" },
		/* not markers: the line wraps to its own indent as before */
		{ "[x] alpha beta gamma delta", 16, "[x] alpha beta\ngamma delta" },
		{ "[1]alpha beta gamma delta", 16, "[1]alpha beta\ngamma delta" },
		/* hanging past half the width would leave too narrow a column */
		{ "[1234567] alpha beta gamma", 16, "[1234567] alpha\nbeta gamma" },
		/* lines that fit are left alone, markers or not */
		{ "[1] short\n    [2] x", 16, "[1] short\n    [2] x" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *w = td_render_wrap(cases[i].in, cases[i].width);
		CHECK_STR(w, cases[i].want);
		free(w);
	}
}

/* Columns are counted as a terminal shows them: CJK and most emoji take
 * two, combining marks none; text without spaces breaks between its
 * ideographs, never before closing punctuation, never inside a Latin word
 * or a URL. Expected lines worked out by hand from those rules. */
static void test_wrap_wide(void)
{
	/* 40 ideographs, 80 columns: after "[10] " (5 columns) 33 fit in 72 */
	static const char forty[] = "一二三四五六七八九十一二三四五六七八九十"
				    "一二三四五六七八九十一二三四五六七八九十";
	char *ten = td_xasprintf("[10] %s", forty);
	char *nine = td_xasprintf(" [9] %s", forty);
	static const struct { const char *in; size_t width; const char *want; } cases[] = {
		/* e + U+0301 is one column: two words fit in 9 */
		{ "cafe\xCC\x81 cafe\xCC\x81 cafe\xCC\x81", 9,
		  "cafe\xCC\x81 cafe\xCC\x81\ncafe\xCC\x81" },
		/* the fox is two columns */
		{ "Fox 🦊 news today", 10, "Fox 🦊\nnews today" },
		/* Korean breaks at its spaces only, each syllable two columns */
		{ "한국어 뉴스 한국어 뉴스", 12, "한국어 뉴스\n한국어 뉴스" },
		/* "、" may not start a line: "談" goes down with it */
		{ "[1] 東京で会談、北朝鮮", 14, "[1] 東京で会\n    談、北朝鮮" },
		/* nor "」" or "ー"; "「" does not end one */
		{ "[1] 東京「コーヒー」", 12, "[1] 東京\n    「コー\n    ヒー」" },
		{ "[1] 東京「コーヒー」", 14, "[1] 東京「コー\n    ヒー」" },
		/* a Latin word after CJK text stays whole */
		{ "[1] 東京Tokyo駅", 10, "[1] 東京\n    Tokyo駅" },
		/* a footnote whose URL holds CJK stays one line */
		{ "[3] https://ja.wikipedia.org/wiki/東京都の歴史", 20,
		  "[3] https://ja.wikipedia.org/wiki/東京都の歴史" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *w = td_render_wrap(cases[i].in, cases[i].width);
		CHECK_STR(w, cases[i].want);
		free(w);
	}
	/* a long ideographic title hangs under its first character */
	char *w = td_render_wrap(ten, 72);
	CHECK_STR(w, "[10] 一二三四五六七八九十一二三四五六七八九十一二三四五六七八九十一二三\n"
		     "     四五六七八九十");
	free(w);
	w = td_render_wrap(nine, 72);
	CHECK_STR(w, " [9] 一二三四五六七八九十一二三四五六七八九十一二三四五六七八九十一二三\n"
		     "     四五六七八九十");
	free(w);
	free(ten);
	free(nine);
}

/* A section in a CJK tag: its underline is as wide as the name looks
 * (two dashes a character), and a long Japanese title wraps under itself
 * in the default template. */
static void test_text_cjk(void)
{
	struct td_store *st = fixture_store("cjk");
	add_post(st, "j1", "一二三四五六七八九十一二三四五六七八九十"
			   "一二三四五六七八九十一二三四五六七八九十",
		 "短い抜粋。", "nihon", NULL);
	struct td_digest d;
	struct td_rendered out;
	CHECK(render_tag(st, "nihon", 20, &d, &out) == 0);
	/* 7 characters, 14 columns */
	CHECK(strstr(out.text, "\n日本語ニュース\n--------------\n") != NULL);
	/* after "[1] " (4 columns) 34 characters fill 72 */
	CHECK(strstr(out.text, "\n[1] 一二三四五六七八九十一二三四五六七八九十"
			       "一二三四五六七八九十一二三四\n"
			       "    五六七八九十\n") != NULL);
	td_rendered_free(&out);
	td_digest_free(&d);
	td_store_close(st);
}

/* With ten links and more, the one-digit markers are padded so every
 * title, the lines under it and every footnote start in one column. */
static void test_text_alignment(void)
{
	struct td_store *st = fixture_store("align");
	for (int i = 1; i <= 10; i++) {
		char guid[16], title[32];
		snprintf(guid, sizeof guid, "q%02d", i);
		snprintf(title, sizeof title, "Title %d", i);
		add_post(st, guid, title, "Some words", "nato", NULL);
	}
	struct td_digest d;
	struct td_rendered out;
	CHECK(render_nato(st, 20, &d, &out) == 0);
	CHECK(d.shown == 10);
	CHECK(strstr(out.text, "\n [1] Title ") != NULL);
	CHECK(strstr(out.text, "\n[10] Title ") != NULL);
	CHECK(strstr(out.text, "\n     22 December 2017\n     Some words\n") != NULL);
	CHECK(strstr(out.text, "\n    22 December") == NULL);
	CHECK(strstr(out.text, "Links:\n [1] https://example.org/q") != NULL);
	CHECK(strstr(out.text, "\n[10] https://example.org/q") != NULL);
	td_rendered_free(&out);
	td_digest_free(&d);
	td_store_close(st);
}

/* Writes the three digest templates into dir/name; returns the folder. */
static char *template_dir(const char *name, const char *txt, const char *html)
{
	char *tdir = td_xasprintf("%s/%s", dir, name);
	mkdir(tdir, 0755);
	const char *const files[][2] = {
		{ "digest.subject.mustache", "{{site.name}}" },
		{ "digest.txt.mustache", txt },
		{ "digest.html.mustache", html },
	};
	for (size_t i = 0; i < 3; i++) {
		char *f = td_xasprintf("%s/%s", tdir, files[i][0]);
		write_file(NULL, f, files[i][1]);
		free(f);
	}
	return tdir;
}

/* period.since and period.until are dates in the zone the renderer is
 * given: NOW is 2026-11-18 11:06Z, already the 19th at UTC+14; a first
 * digest of one post spans one day (period.one_day). */
static void test_dates_in_zone(void)
{
	char *tdir = template_dir("zone", "{{period.since}}|{{period.until}}"
				  "{{#period.one_day}}|one day{{/period.one_day}}",
				  "<p>{{period.until}}</p>");
	struct td_store *st = fixture_store("zone");
	add_post(st, "p1", "One", "Text", "nato", NULL);
	struct td_subscriber sub = { (char *)"r@example.org", (char *)"", TD_STRV_INIT, 1, { 0 }, 0, 0 };
	td_strv_push(&sub.tags, "nato");
	struct td_tz *kiritimati = td_tz_load("Pacific/Kiritimati");
	CHECK(kiritimati != NULL);
	const struct td_tz *zones[] = { NULL, kiritimati };
	/* a first digest of a post dated 2017-12-22 12:00Z, before the 7 days
	 * it covers (digest.h: td_digest_period): that date, already the
	 * 23rd at UTC+14 */
	const char *want[] = { "22 December 2017|22 December 2017|one day",
			       "23 December 2017|23 December 2017|one day" };
	for (size_t i = 0; i < 2; i++) {
		struct setup opt = config(tdir);
		opt.render.tz = zones[i];
		struct td_renderer *r;
		struct td_err err;
		struct td_digest d;
		struct td_rendered out;
		CHECK(td_renderer_new(&opt.render, &r, &err) == 0);
		CHECK(td_digest_build(st, &opt.digest, &sub, NOW, &d, &err) == 0);
		CHECK(td_render_digest(r, &sub, &d, "https://example.org/u/T", NULL, NULL, NOW,
				       &out, &err) == 0);
		CHECK_STR(out.text, want[i]);
		td_rendered_free(&out);
		td_digest_free(&d);
		td_renderer_free(r);
	}
	td_tz_free(kiritimati);
	td_strv_free(&sub.tags);
	td_store_close(st);
	free(tdir);
}

/* [site] language: the period and the posts' dates in the site's
 * language, on the calendar of the schedule's zone (Kiritimati, UTC+14:
 * NOW is the 19th there, the post of 2017-12-22 12:00Z the 23rd), with
 * the month as the language writes it after a day (Russian's genitive,
 * which strftime's %B gives in the nominative). English stays as it was. */
static void test_dates_in_language(void)
{
	char *tdir = template_dir("lang",
				  "{{period.since}}|{{period.until}}|"
				  "{{#sections}}{{#posts}}{{date}}{{/posts}}{{/sections}}"
				  "{{#period.one_day}}|one day{{/period.one_day}}",
				  "<html lang=\"{{site.language}}\">");
	struct td_store *st = fixture_store("lang");
	add_post(st, "p1", "One", "Text", "nato", NULL);
	/* a later digest (an empty one was recorded a week ago), so the
	 * period runs from that slot to now, whatever the post's date (a
	 * first digest would show the post's 2017: td_digest_period) */
	struct td_delivery week_ago = { "r@example.org", NOW - 7 * 86400, true, NULL, NULL,
					0, 0, 0, NOW - 7 * 86400 };
	struct td_err derr;
	CHECK(td_store_record_delivery(st, &week_ago, &derr) == 0);
	struct td_subscriber sub = { (char *)"r@example.org", (char *)"", TD_STRV_INIT, 1, { 0 }, 0, 0 };
	td_strv_push(&sub.tags, "nato");
	struct td_tz *kiritimati = td_tz_load("Pacific/Kiritimati");
	CHECK(kiritimati != NULL);
	static const struct {
		const char *language, *text, *lang;
	} cases[] = {
		{ NULL, "12 November 2026|19 November 2026|23 December 2017", "en" },
		{ "en", "12 November 2026|19 November 2026|23 December 2017", "en" },
		{ "de", "12. November 2026|19. November 2026|23. Dezember 2017", "de" },
		{ "fr", "12 novembre 2026|19 novembre 2026|23 décembre 2017", "fr" },
		{ "pt-BR", "12 de novembro de 2026|19 de novembro de 2026|"
			   "23 de dezembro de 2017", "pt-BR" },
		{ "pl", "12 listopada 2026|19 listopada 2026|23 grudnia 2017", "pl" },
		/* Russian: the genitive, and a "г." after the year (whose
		 * space is ICU's to choose) */
		{ "ru", NULL, "ru" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		struct setup opt = config(tdir);
		opt.render.tz = kiritimati;
		opt.render.language = cases[i].language;
		struct td_renderer *r;
		struct td_err err;
		struct td_digest d;
		struct td_rendered out;
		CHECK(td_renderer_new(&opt.render, &r, &err) == 0);
		if (!r) {
			fprintf(stderr, "  %s: %s\n", cases[i].language, err.msg);
			continue;
		}
		CHECK(td_digest_build(st, &opt.digest, &sub, NOW, &d, &err) == 0);
		/* twice: the second comes from the renderer's date cache */
		for (int round = 0; round < 2; round++) {
			CHECK(td_render_digest(r, &sub, &d, "https://example.org/u/T", NULL,
					       NULL, NOW, &out, &err) == 0);
			if (cases[i].text) {
				CHECK_STR(out.text, cases[i].text);
			} else {
				CHECK(strncmp(out.text, "12 ноября 2026", 20) == 0);
				CHECK(strstr(out.text, "|19 ноября 2026") != NULL);
				CHECK(strstr(out.text, "|23 декабря 2017") != NULL);
				CHECK(strstr(out.text, "г.|") != NULL);
			}
			char *want = td_xasprintf("<html lang=\"%s\">", cases[i].lang);
			CHECK_STR(out.html, want);
			free(want);
			td_rendered_free(&out);
		}
		td_digest_free(&d);
		td_renderer_free(r);
	}
	td_tz_free(kiritimati);
	td_strv_free(&sub.tags);
	td_store_close(st);
	free(tdir);
}

/* A language ICU has no data for would silently give English dates: it is
 * refused, by the check the config loader makes and by the renderer. */
static void test_unknown_language(void)
{
	CHECK(td_render_language_known(NULL));
	CHECK(td_render_language_known("en"));
	CHECK(td_render_language_known("de"));
	CHECK(td_render_language_known("pt-BR"));
	CHECK(td_render_language_known("pt_BR"));
	CHECK(td_render_language_known("sr-Latn"));
	CHECK(!td_render_language_known("xx"));
	CHECK(!td_render_language_known("zz-ZZ"));
	CHECK(!td_render_language_known("qqq"));
	struct setup opt = config("templates");
	opt.render.language = "xx";
	struct td_renderer *r;
	struct td_err err;
	CHECK(td_renderer_new(&opt.render, &r, &err) == EX_CONFIG);
	CHECK(r == NULL);
	CHECK(strstr(err.msg, "language 'xx'") != NULL);
}

/* [site] postal_address: the default templates show it at the foot of
 * both parts, escaped in the HTML, and nothing when it is not set. */
static void test_postal_address(void)
{
	struct td_store *st = fixture_store("postal");
	add_post(st, "p1", "One", "Text", "nato", NULL);
	struct td_subscriber sub = { (char *)"r@example.org", (char *)"", TD_STRV_INIT, 1, { 0 }, 0, 0 };
	td_strv_push(&sub.tags, "nato");
	for (int with = 0; with < 2; with++) {
		struct setup opt = config("templates");
		opt.render.postal_address = with ? "Rue <Haute> & Fils, 75001 Paris" : NULL;
		struct td_renderer *r;
		struct td_err err;
		struct td_digest d;
		struct td_rendered out;
		CHECK(td_renderer_new(&opt.render, &r, &err) == 0);
		if (!r)
			break;
		CHECK(td_digest_build(st, &opt.digest, &sub, NOW, &d, &err) == 0);
		CHECK(td_render_digest(r, &sub, &d, "https://example.org/u/T", NULL, NULL, NOW,
				       &out, &err) == 0);
		const char *foot = strstr(out.text, "Unsubscribe with one click:");
		CHECK(foot != NULL);
		if (with) {
			/* the last line of the text part, after a blank one */
			CHECK(foot && strstr(foot, "\n\nRue <Haute> & Fils, 75001 Paris\n") != NULL);
			CHECK(strstr(out.html, ">Rue &lt;Haute&gt; &amp; Fils, 75001 Paris</div>") != NULL);
			CHECK(strstr(out.html, "<Haute>") == NULL);
		} else {
			CHECK(strstr(out.text, "Rue") == NULL);
			CHECK(foot && strchr(foot, '\n') == foot + strlen(foot) - 1);
			CHECK(strstr(out.html, "padding-top:8px;") == NULL);
		}
		td_rendered_free(&out);
		td_digest_free(&d);
		td_renderer_free(r);
	}
	td_strv_free(&sub.tags);
	td_store_close(st);
}

int main(void)
{
	strcpy(dir, "/tmp/td-render-XXXXXX");
	if (!mkdtemp(dir))
		return 2;
	store_fixture_init("render");
	TD_RUN(test_every_documented_name);
	TD_RUN(test_default_templates);
	TD_RUN(test_dates_in_zone);
	TD_RUN(test_dates_in_language);
	TD_RUN(test_unknown_language);
	TD_RUN(test_postal_address);
	TD_RUN(test_long_paragraph_is_cut);
	TD_RUN(test_titles_only);
	TD_RUN(test_clip_shortens_excerpts);
	TD_RUN(test_clip_titles_before_posts);
	TD_RUN(test_clip_never_empties);
	TD_RUN(test_wrap);
	TD_RUN(test_wrap_hanging);
	TD_RUN(test_wrap_wide);
	TD_RUN(test_text_cjk);
	TD_RUN(test_text_alignment);
	store_fixture_done();
	char *cmd = td_xasprintf("rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	free(cmd);
	return TD_DONE(store_fixture_label("render"));
}
