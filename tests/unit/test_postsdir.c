/*
 * test_postsdir.c: front matter parsing, error messages with the right
 * line numbers, BOM and CRLF files, hostile content, the folder reader
 * (bad files skipped and counted, hidden and non-.md files ignored) and
 * the sample posts in posts/ (run from the repository root).
 *
 * Instants are written as UTC fields converted by hand from the offsets
 * in the input; the SHA-256 values were computed with sha256sum(1) over
 * the line "tagdigest-markdown-2" (TD_MARKDOWN_RULES) and the file.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "tagdigest/core/buf.h"
#include "tagdigest/cli/config.h"
#include "tagdigest/sources/postsdir.h"
#include "tagdigest/core/util.h"

static int parse(const char *name, const char *text, struct td_post *p,
		 struct td_err *err)
{
	return td_postsdir_parse(name, text, strlen(text), p, err);
}

/* Parses text that must fail, and checks the whole message. */
static void check_error(const char *text, const char *want, int line)
{
	struct td_post p;
	struct td_err err = { 0, "" };
	int rc = parse("t.md", text, &p, &err);
	if (rc == EX_DATAERR && strcmp(err.msg, want) == 0) {
		td_test_passed++;
	} else {
		td_test_failed++;
		fprintf(stderr, "%s:%d: rc %d\n  got:  \"%s\"\n  want: \"%s\"\n",
			__FILE__, line, rc, err.msg, want);
	}
	/* A failed parse leaves nothing to free, and freeing is harmless. */
	CHECK(p.title == NULL && p.tags.n == 0);
	td_post_free(&p);
}

#define ERR(text, want) check_error(text, want, __LINE__)

#define FM_REST "tags: a\nurl: https://x.example/\n---\nBody.\n"

static void test_good_post(void)
{
	const char *text =
		"---\n"
		"title: Lavrov: NATO ambitions \"never changed\"\n"
		"date: 2017-06-30T10:00:00+03:00\n"
		"# a comment, and a blank line:\n"
		"\n"
		"tags: [Sergey Lavrov, NATO, sergey lavrov, \"Korea, North\", 'Côte d''Ivoire']\n"
		"url: https://example.org/2017/06/30/lavrov-nato/\n"
		"author: Newsroom\n"
		"---\n"
		"First *paragraph* with a [link](https://l.example/).\n"
		"\n"
		"Second.\n";
	struct td_post p;
	struct td_err err;
	CHECK(td_postsdir_parse("posts/2017-06-30-lavrov-nato.md", text,
				strlen(text), &p, &err) == 0);
	CHECK_STR(p.title, "Lavrov: NATO ambitions \"never changed\"");
	CHECK_STR(p.guid, "2017-06-30-lavrov-nato");
	CHECK_STR(p.url, "https://example.org/2017/06/30/lavrov-nato/");
	CHECK_STR(p.author, "Newsroom");
	/* 10:00 at +03:00 is 07:00 UTC. */
	CHECK(p.published == utc(2017, 6, 30, 7, 0, 0));
	CHECK(p.updated == p.published);
	/* "sergey lavrov" has the same slug as "Sergey Lavrov": one tag. */
	CHECK(p.tags.n == 4 && p.tag_names.n == 4);
	if (p.tags.n == 4 && p.tag_names.n == 4) {
		CHECK_STR(p.tags.v[0], "sergey-lavrov");
		CHECK_STR(p.tag_names.v[0], "Sergey Lavrov");
		CHECK_STR(p.tags.v[1], "nato");
		CHECK_STR(p.tag_names.v[2], "Korea, North");
		CHECK_STR(p.tags.v[2], "korea-north");
		CHECK_STR(p.tag_names.v[3], "Côte d'Ivoire");
		CHECK_STR(p.tags.v[3], "côte-divoire");
	}
	CHECK_STR(p.excerpt_text, "First _paragraph_ with a link.");
	/* cmark's HTML, through the feeds' sanitizer */
	CHECK_STR(p.excerpt_html, "<p>First <em>paragraph</em> with a "
		  "<a href=\"https://l.example/\" rel=\"noopener noreferrer\">"
		  "link</a>.</p>");
	CHECK(strstr(p.content_html, "<p>Second.</p>") != NULL);
	CHECK(p.content_hash && strlen(p.content_hash) == 64);
	td_post_free(&p);
	td_post_free(&p); /* zeroed: a second free is harmless */
}

static void test_hash_and_guid(void)
{
	const char *text = "---\ntitle: Hello\ndate: 2017-06-30\n" FM_REST;
	struct td_post a, b;
	struct td_err err;
	CHECK(parse("dir/hello.md", text, &a, &err) == 0);
	CHECK(parse("dir/hello.md", text, &b, &err) == 0);
	CHECK_STR(a.content_hash,
		  "5b6f0ffe278e44e5096f735692f1faa8764b8e7661987177b0ec4cd628f95e89");
	CHECK_STR(a.content_hash, b.content_hash);
	CHECK_STR(a.guid, "hello");
	CHECK_STR(a.guid, b.guid);
	CHECK_STR(a.author, "");
	CHECK(a.published == utc(2017, 6, 30, 0, 0, 0));
	td_post_free(&b);

	/* An edit changes the hash, not the identity. */
	const char *edited = "---\ntitle: Hello\ndate: 2017-06-30\n"
			     "tags: a\nurl: https://x.example/\n---\nBody!\n";
	CHECK(parse("dir/hello.md", edited, &b, &err) == 0);
	CHECK_STR(b.guid, "hello");
	CHECK(strcmp(a.content_hash, b.content_hash) != 0);
	td_post_free(&b);

	/* So does a new address alone: the post's links resolve against it. */
	const char *moved = "---\ntitle: Hello\ndate: 2017-06-30\n"
			    "tags: a\nurl: https://x.example/moved/\n---\nBody.\n";
	CHECK(parse("dir/hello.md", moved, &b, &err) == 0);
	CHECK(strcmp(a.content_hash, b.content_hash) != 0);
	td_post_free(&a);
	td_post_free(&b);

	/* id wins over the file name. */
	CHECK(parse("x.md", "---\nid: 'stable-42'\ntitle: T\ndate: 2017-06-30\n"
		    FM_REST, &a, &err) == 0);
	CHECK_STR(a.guid, "stable-42");
	td_post_free(&a);
}

static void test_bom_and_crlf(void)
{
	struct td_post p;
	struct td_err err;
	const char *bom = "\xEF\xBB\xBF---\ntitle: Hello\ndate: 2017-06-30\n"
			  FM_REST;
	CHECK(parse("b.md", bom, &p, &err) == 0);
	CHECK_STR(p.title, "Hello");
	/* The hash covers the bytes as read, BOM included. */
	CHECK_STR(p.content_hash,
		  "fa0ce944da89725bb38b493b35d25a2bfb9990aeaf5ad9a05643c9b3de968647");
	td_post_free(&p);

	const char *crlf = "---\r\ntitle: \"Quoted\"\r\ndate: 2017-06-30 10:15\r\n"
			   "tags: [a, b]\r\nurl: https://x.example/\r\n"
			   "author: Ann\r\n---\r\nBody line\r\nmore.\r\n";
	CHECK(parse("c.md", crlf, &p, &err) == 0);
	CHECK_STR(p.title, "Quoted");
	CHECK_STR(p.author, "Ann");
	CHECK_STR(p.url, "https://x.example/");
	CHECK(p.tags.n == 2);
	CHECK(p.published == utc(2017, 6, 30, 10, 15, 0));
	CHECK_STR(p.excerpt_text, "Body line more.");
	td_post_free(&p);

	/* Line numbers count CRLF lines too. */
	ERR("---\r\ntitle: T\r\ntags: a\r\ndate: 2017-02-29\r\n"
	    "url: https://x.example/\r\n---\r\nB\r\n",
	    "t.md:4: date: '2017-02-29' is not a date (want YYYY-MM-DD or RFC 3339)");
}

static void test_dates(void)
{
	static const struct {
		const char *in;
		int y, mo, d, h, mi, s;
	} good[] = {
		{ "2017-06-30", 2017, 6, 30, 0, 0, 0 },
		{ "2017-06-30 10:15", 2017, 6, 30, 10, 15, 0 },
		{ "2017-06-30 10:15:09", 2017, 6, 30, 10, 15, 9 },
		{ "2017-06-30T10:00:00Z", 2017, 6, 30, 10, 0, 0 },
		{ "2017-06-30t10:00:00.123z", 2017, 6, 30, 10, 0, 0 },
		{ "2017-06-30T23:30:00-02:00", 2017, 7, 1, 1, 30, 0 },
		{ "2017-01-01T02:00:00+05:30", 2016, 12, 31, 20, 30, 0 },
		{ "2016-02-29", 2016, 2, 29, 0, 0, 0 },
		{ "\"2017-12-22T18:30:00+03:00\"", 2017, 12, 22, 15, 30, 0 },
	};
	for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
		char *text = NULL;
		struct td_post p;
		struct td_err err;
		if (asprintf(&text, "---\ntitle: T\ndate: %s\n" FM_REST,
			     good[i].in) < 0)
			abort();
		int rc = parse("d.md", text, &p, &err);
		CHECK(rc == 0);
		if (rc)
			fprintf(stderr, "  date %s: %s\n", good[i].in, err.msg);
		else
			CHECK(p.published == utc(good[i].y, good[i].mo, good[i].d,
						 good[i].h, good[i].mi, good[i].s));
		td_post_free(&p);
		free(text);
	}

	static const char *const bad[] = {
		"2017-13-45", "2017-02-29", "2017-04-31", "30/06/2017",
		"2017-6-30", "2017-06-30T10:00:00", "2017-06-30T25:00:00Z",
		"2017-06-30T10:60:00Z", "2017-06-30T10:00:00+0300",
		"2017-06-30 10", "2017-06-30T10:00:00Z junk", "yesterday",
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		char *text = NULL, *want = NULL;
		if (asprintf(&text, "---\ntitle: T\ndate: %s\n" FM_REST,
			     bad[i]) < 0 ||
		    asprintf(&want, "t.md:3: date: '%s' is not a date (want "
			     "YYYY-MM-DD or RFC 3339)", bad[i]) < 0)
			abort();
		ERR(text, want);
		free(text);
		free(want);
	}
}

static void test_errors(void)
{
	ERR("title: T\n", "t.md:1: no front matter (want '---' on the first line)");
	ERR("", "t.md:1: no front matter (want '---' on the first line)");
	ERR("---\ntitle: T\ndate: 2017-06-30\n",
	    "t.md:1: front matter is not closed (no '---' line after it)");
	/* Missing keys are reported at the closing line (5 here). */
	ERR("---\ntitle: T\ndate: 2017-06-30\ntags: a\n---\nB\n",
	    "t.md:5: missing required key 'url'");
	ERR("---\ndate: 2017-06-30\n" FM_REST,
	    "t.md:5: missing required key 'title'");
	ERR("---\ntitle: T\ndate: 2017-06-30\ntag: a\n---\nB\n",
	    "t.md:4: unknown key 'tag' (known: title, date, tags, url, author, id)");
	ERR("---\ntitle: T\ndate: 2017-06-30\n\ntitle: U\n" FM_REST,
	    "t.md:5: duplicate key 'title' (first on line 2)");
	ERR("---\ntitle: T\nno colon here\n" FM_REST,
	    "t.md:3: 'no colon here' is not 'key: value'");
	ERR("---\ntitle: T\n  date: 2017-06-30\n" FM_REST,
	    "t.md:3: indented line (want 'key: value' on one line)");

	/* Control characters in title and author: they would reach headers. */
	ERR("---\ntitle: a\rb\ndate: 2017-06-30\n" FM_REST,
	    "t.md:2: title: value contains a control character");
	ERR("---\ntitle: T\ndate: 2017-06-30\nauthor: x\x1b[31m\n" FM_REST,
	    "t.md:4: author: value contains a control character");
	ERR("---\ntitle: a\xC2\x85" "b\ndate: 2017-06-30\n" FM_REST,
	    "t.md:2: title: value contains a control character");
	ERR("---\ntitle: a\xFF\ndate: 2017-06-30\n" FM_REST,
	    "t.md:2: title: value is not valid UTF-8");
	ERR("---\ntitle: \"\"\ndate: 2017-06-30\n" FM_REST,
	    "t.md:2: title: value is empty");
	ERR("---\ntitle: \"open\ndate: 2017-06-30\n" FM_REST,
	    "t.md:2: title: value has no closing quote");
	ERR("---\ntitle: \"a\" b\ndate: 2017-06-30\n" FM_REST,
	    "t.md:2: title: value has text after the closing quote");

	/* URLs. */
	static const struct { const char *url, *why; } urls[] = {
		{ "/relative", "is not an absolute http(s) URL" },
		{ "javascript:alert(1)", "is not an absolute http(s) URL" },
		{ "ftp://x.example/", "is not an absolute http(s) URL" },
		{ "https:///path", "has no host" },
		{ "https://x.example/a b", "contains a space or control character" },
	};
	for (size_t i = 0; i < sizeof urls / sizeof *urls; i++) {
		char *text = NULL, *want = NULL;
		if (asprintf(&text, "---\ntitle: T\ndate: 2017-06-30\ntags: a\n"
			     "url: %s\n---\nB\n", urls[i].url) < 0 ||
		    asprintf(&want, "t.md:5: url: '%s' %s", urls[i].url,
			     urls[i].why) < 0)
			abort();
		ERR(text, want);
		free(text);
		free(want);
	}

	/* Tags. */
	ERR("---\ntitle: T\ndate: 2017-06-30\ntags: []\nurl: https://x.example/\n---\nB\n",
	    "t.md:4: tags: no tags (want [a, b] or a, b)");
	ERR("---\ntitle: T\ndate: 2017-06-30\ntags: a, !!!\nurl: https://x.example/\n---\nB\n",
	    "t.md:4: tags: '!!!' has no letters or digits to make a slug of");
	ERR("---\ntitle: T\ndate: 2017-06-30\ntags: [a, b\nurl: https://x.example/\n---\nB\n",
	    "t.md:4: tags: '[' without ']'");

	/* At most 100 tags: 100 pass, 101 do not. */
	for (int ntags = 100; ntags <= 101; ntags++) {
		char *list = td_xstrdup("t0"), *text = NULL;
		for (int i = 1; i < ntags; i++) {
			char *longer = td_xasprintf("%s, t%d", list, i);
			free(list);
			list = longer;
		}
		text = td_xasprintf("---\ntitle: T\ndate: 2017-06-30\ntags: %s\n"
				    "url: https://x.example/\n---\nB\n", list);
		struct td_post p;
		struct td_err err;
		int rc = parse("t.md", text, &p, &err);
		if (ntags == 100) {
			CHECK(rc == 0 && p.tags.n == 100);
		} else {
			CHECK(rc == EX_DATAERR);
			CHECK_STR(err.msg, "t.md:4: tags: more than 100 tags");
		}
		td_post_free(&p);
		free(list);
		free(text);
	}

	/* A post needs a body. */
	ERR("---\ntitle: T\ndate: 2017-06-30\ntags: a\nurl: https://x.example/\n---\n\n \t\n",
	    "t.md:6: no body after the front matter");
	ERR("---\ntitle: T\ndate: 2017-06-30\ntags: a\nurl: https://x.example/\n---",
	    "t.md:6: no body after the front matter");
}

static void test_quoting_and_tag_forms(void)
{
	struct td_post p;
	struct td_err err;
	CHECK(parse("q.md", "---\ntitle: 'It''s \"fine\"'\ndate: 2017-06-30\n"
		    "tags: \"Sergey Lavrov\" , USA,, EU,\n"
		    "url: 'https://x.example/'\nauthor: \"A \\\"B\\\" C\"\n---\nB\n",
		    &p, &err) == 0);
	CHECK_STR(p.title, "It's \"fine\"");
	CHECK_STR(p.author, "A \"B\" C");
	CHECK_STR(p.url, "https://x.example/");
	CHECK(p.tags.n == 3);
	if (p.tags.n == 3) {
		CHECK_STR(p.tag_names.v[0], "Sergey Lavrov");
		CHECK_STR(p.tags.v[1], "usa");
		CHECK_STR(p.tags.v[2], "eu");
	}
	td_post_free(&p);
}

static void test_hostile_body(void)
{
	struct td_post p;
	struct td_err err;
	CHECK(parse("h.md", "---\ntitle: T\ndate: 2017-06-30\n"
		    "tags: a\nurl: https://x.example/\n---\n"
		    "<script>alert('x')</script>\n\n"
		    "Hello <img src=x onerror=alert(1)> [click](javascript:alert(1))\n",
		    &p, &err) == 0);
	CHECK(strstr(p.content_html, "<script") == NULL);
	CHECK(strstr(p.content_html, "onerror") == NULL);
	CHECK(strstr(p.content_html, "javascript:") == NULL);
	CHECK_STR(p.excerpt_text, "Hello click");
	td_post_free(&p);

	/* Controls in the body (issue 9 item 10) reach neither the HTML nor
	 * the text: dropped as the feeds' sanitizer drops them. Relative
	 * links are made absolute against the post's address. */
	CHECK(parse("c.md", "---\ntitle: T\ndate: 2017-06-30\n"
		    "tags: a\nurl: https://x.example/p/\n---\n"
		    "Bell\a and \x1b[31mred\x1b[0m, tab\v,&#27;[1m [rel](../q)\x7f.\n\n"
		    "Second \x1b paragraph.\n", &p, &err) == 0);
	CHECK_STR(p.excerpt_text, "Bell and [31mred[0m, tab,[1m rel.");
	CHECK_STR(p.excerpt_html, "<p>Bell and [31mred[0m, tab,[1m "
		  "<a href=\"https://x.example/q\" rel=\"noopener noreferrer\">rel</a>.</p>");
	for (const char *c = p.content_html; *c; c++)
		CHECK(!td_is_control((unsigned char)*c));
	CHECK(strstr(p.content_html, "Second  paragraph.") != NULL);
	td_post_free(&p);

	/* The excerpt is stored as long as the longest excerpt_chars: the
	 * renderer cuts it to the configured length each run. */
	struct td_buf long_post = TD_BUF_INIT;
	td_buf_puts(&long_post, "---\ntitle: T\ndate: 2017-06-30\ntags: a\n"
		    "url: https://x.example/p/\n---\n");
	for (int i = 0; i < 1000; i++)
		td_buf_puts(&long_post, "*word* more ");
	td_buf_puts(&long_post, "\n\nSecond.\n");
	CHECK(parse("l.md", td_buf_cstr(&long_post), &p, &err) == 0);
	size_t n = td_utf8_count(p.excerpt_text, strlen(p.excerpt_text));
	CHECK(n > TD_EXCERPT_MAX - 20 && n <= TD_EXCERPT_MAX + 1);
	CHECK(strncmp(p.excerpt_text, "_word_ more _word_", 18) == 0);
	CHECK(strstr(p.excerpt_html, "…</p>") != NULL);
	CHECK(strncmp(p.excerpt_html, "<p><em>word</em> more <em>word</em>", 35) == 0);
	td_post_free(&p);
	td_buf_free(&long_post);

	/* A NUL in the front matter is a control character, not an end. */
	const char nul[] = "---\ntitle: a\0b\ndate: 2017-06-30\n" FM_REST;
	int rc = td_postsdir_parse("n.md", nul, sizeof nul - 1, &p, &err);
	CHECK(rc == EX_DATAERR);
	if (rc == EX_DATAERR)
		CHECK_STR(err.msg,
			  "n.md:2: title: value contains a control character");
	td_post_free(&p);
}

/* What a post's HTML is: the feeds' sanitizer's vocabulary, written from
 * cmark's tree (markdown.h). Where that differs from sanitizing cmark's
 * own HTML afterwards, as before issue 9, it is because the old way lost
 * or broke something. */
static void test_body_html(void)
{
	struct td_post p;
	struct td_err err;
#define HEAD "---\ntitle: T\ndate: 2017-06-30\ntags: a\nurl: https://x.example/p/\n---\n"
	/* images: relative made absolute, data: dropped whatever its type */
	CHECK(parse("i.md", HEAD "![a](i.png) ![b](data:image/png;base64,AAAA) "
		    "![c](data:image/gif;base64,R0lG)\n", &p, &err) == 0);
	CHECK_STR(p.content_html, "<p><img src=\"https://x.example/p/i.png\" alt=\"a\">  </p>\n");
	td_post_free(&p);

	/* &#xFFFE; came out of cmark as the lone byte 0xFE, which went into
	 * the excerpt's text: now U+FFFD there too */
	CHECK(parse("f.md", HEAD "x&#xFFFE;y\n", &p, &err) == 0);
	CHECK_STR(p.excerpt_text, "x\xEF\xBF\xBDy");
	CHECK(td_utf8_valid(p.excerpt_text, strlen(p.excerpt_text)));
	CHECK_STR(p.content_html, "<p>x\xEF\xBF\xBDy</p>\n");
	td_post_free(&p);

	/* an autolink inside a link: one link, not a link cut short and a
	 * second one (libxml2 closed the first <a> when it met the second) */
	CHECK(parse("l.md", HEAD "[see <https://in.example/> here](https://out.example/)\n",
		    &p, &err) == 0);
	CHECK_STR(p.content_html, "<p><a href=\"https://out.example/\" "
		  "rel=\"noopener noreferrer\">see https://in.example/ here</a></p>\n");
	td_post_free(&p);

	/* the first paragraph in a tight list: its excerpt is a <p> too */
	CHECK(parse("t.md", HEAD "- one *item*\n- two\n", &p, &err) == 0);
	CHECK_STR(p.excerpt_html, "<p>one <em>item</em></p>");
	td_post_free(&p);

	/* 400 nested emphases: libxml2 gave up past 256 open elements and
	 * the rest of the post was gone; the text stays now */
	struct td_buf md = TD_BUF_INIT;
	td_buf_puts(&md, HEAD);
	for (int i = 0; i < 400; i++)
		td_buf_puts(&md, "*a ");
	td_buf_puts(&md, "middle");
	for (int i = 0; i < 400; i++)
		td_buf_puts(&md, " a*");
	td_buf_puts(&md, "\n\nLast paragraph.\n");
	CHECK(parse("n.md", td_buf_cstr(&md), &p, &err) == 0);
	CHECK(strstr(p.content_html, "a middle a") != NULL);
	CHECK(strstr(p.content_html, "<p>Last paragraph.</p>") != NULL);
	td_post_free(&p);
	td_buf_free(&md);
#undef HEAD
}

/* --- the folder reader --- */

struct seen {
	struct td_strv guids;
	int stop_after; /* 0: never stop */
	int all_lavrov;
	int in_2017;
	time_t last;
	int ordered;
};

static int collect(void *ctx, const struct td_post *post, struct td_err *err)
{
	struct seen *s = ctx;
	td_strv_push(&s->guids, post->guid);
	if (!td_strv_contains(&post->tags, "sergey-lavrov"))
		s->all_lavrov = 0;
	if (post->published < utc(2017, 1, 1, 0, 0, 0) ||
	    post->published >= utc(2018, 1, 1, 0, 0, 0))
		s->in_2017 = 0;
	if (post->published < s->last)
		s->ordered = 0;
	s->last = post->published;
	if (s->stop_after && (int)s->guids.n == s->stop_after)
		return td_err_set(err, 42, "stopped");
	return 0;
}

static void remove_file(const char *dir, const char *name)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	if (unlink(path) < 0 && rmdir(path) < 0)
		fprintf(stderr, "cannot remove %s\n", path);
}

static void test_read_dir(void)
{
	char dir[] = "/tmp/td-postsdir-XXXXXX";
	if (!mkdtemp(dir))
		abort();
	const char *good = "---\ntitle: T\ndate: 2017-06-30\n" FM_REST;
	const char *bad = "---\ntitle: T\ndate: 2017-13-45\n" FM_REST;
	write_file(dir, "c.md", good);
	write_file(dir, "a.md", good);
	write_file(dir, "b.md", bad);
	write_file(dir, ".hidden.md", bad); /* skipped */
	write_file(dir, "notes.txt", bad);  /* skipped */
	write_file(dir, "b.md~", bad);      /* skipped */
	/* One byte over 1 MiB: refused before parsing. */
	size_t big_len = ((size_t)1 << 20) + 1;
	char *big = malloc(big_len);
	memcpy(big, good, strlen(good));
	memset(big + strlen(good), 'x', big_len - strlen(good));
	write_bytes(dir, "big.md", big, big_len);
	free(big);
	char sub[512];
	snprintf(sub, sizeof sub, "%s/dir.md", dir);
	if (mkdir(sub, 0700) < 0)
		abort();

	struct seen s = { TD_STRV_INIT, 0, 1, 1, 0, 1 };
	size_t nbad = 99;
	struct td_err err;
	CHECK(td_postsdir_read(dir, NULL, collect, &s, &nbad, &err) == 0);
	/* Name order: a, c; bad: b.md, big.md, dir.md. */
	CHECK(s.guids.n == 2);
	if (s.guids.n == 2) {
		CHECK_STR(s.guids.v[0], "a");
		CHECK_STR(s.guids.v[1], "c");
	}
	CHECK(nbad == 3);
	td_strv_free(&s.guids);

	/* The callback can stop the walk, and its code comes back. */
	struct seen stop = { TD_STRV_INIT, 1, 1, 1, 0, 1 };
	CHECK(td_postsdir_read(dir, NULL, collect, &stop, &nbad, &err) == 42);
	CHECK(stop.guids.n == 1);
	CHECK_STR(err.msg, "stopped");
	td_strv_free(&stop.guids);

	const char *names[] = { "a.md", "b.md", "c.md", ".hidden.md",
				"notes.txt", "b.md~", "big.md", "dir.md" };
	for (size_t i = 0; i < sizeof names / sizeof *names; i++)
		remove_file(dir, names[i]);
	if (rmdir(dir) < 0)
		fprintf(stderr, "cannot remove %s\n", dir);

	CHECK(td_postsdir_read("/nonexistent/td-posts", NULL, collect, &s, &nbad,
			       &err) == EX_NOINPUT);
}

/* The reader asks before it renders; a post the caller has is skipped. */
struct known_ctx {
	struct td_strv asked;    /* "guid hash" */
	struct td_strv posts;    /* guids handed to the post callback */
	const char *have;        /* guid the caller has: "known" */
	int fail;                /* non-zero: the known callback fails so */
};

static int known_cb(void *arg, const char *guid, const char *hash, bool *known,
		    struct td_err *err)
{
	struct known_ctx *k = arg;
	char *entry = td_xasprintf("%s %s", guid, hash);
	td_strv_push_owned(&k->asked, entry);
	if (k->fail)
		return td_err_set(err, k->fail, "store down");
	*known = k->have && strcmp(guid, k->have) == 0;
	return 0;
}

static int known_post(void *arg, const struct td_post *post, struct td_err *err)
{
	(void)err;
	struct known_ctx *k = arg;
	td_strv_push(&k->posts, post->guid);
	CHECK(post->content_html && *post->content_html);
	return 0;
}

static void test_known_posts_skipped(void)
{
	char dir[] = "/tmp/td-postsdir-XXXXXX";
	if (!mkdtemp(dir))
		abort();
	const char *a = "---\ntitle: A\ndate: 2017-06-30\n" FM_REST;
	const char *b = "---\ntitle: B\ndate: 2017-06-30\n" FM_REST;
	const char *bad = "---\ntitle: T\ndate: 2017-13-45\n" FM_REST;
	write_file(dir, "a.md", a);
	write_file(dir, "b.md", b);
	write_file(dir, "c.md", bad);

	struct td_post pa;
	struct td_err err;
	CHECK(parse("a.md", a, &pa, &err) == 0);

	struct known_ctx k = { TD_STRV_INIT, TD_STRV_INIT, "a", 0 };
	size_t nbad = 0;
	CHECK(td_postsdir_read(dir, known_cb, known_post, &k, &nbad, &err) == 0);
	/* asked for every good post, with the hash the parser gives it; the
	 * bad one is reported as before, without asking */
	CHECK(k.asked.n == 2 && nbad == 1);
	if (k.asked.n == 2) {
		char *want = td_xasprintf("a %s", pa.content_hash);
		CHECK_STR(k.asked.v[0], want);
		free(want);
		CHECK(strncmp(k.asked.v[1], "b ", 2) == 0);
	}
	/* only the post the caller does not have is handed over */
	CHECK(k.posts.n == 1);
	if (k.posts.n == 1)
		CHECK_STR(k.posts.v[0], "b");
	td_strv_free(&k.asked);
	td_strv_free(&k.posts);

	/* the known callback's failure stops the read and comes back */
	struct known_ctx f = { TD_STRV_INIT, TD_STRV_INIT, NULL, 75 };
	CHECK(td_postsdir_read(dir, known_cb, known_post, &f, &nbad, &err) == 75);
	CHECK(f.asked.n == 1 && f.posts.n == 0);
	CHECK_STR(err.msg, "store down");
	td_strv_free(&f.asked);
	td_strv_free(&f.posts);

	td_post_free(&pa);
	remove_file(dir, "a.md");
	remove_file(dir, "b.md");
	remove_file(dir, "c.md");
	if (rmdir(dir) < 0)
		fprintf(stderr, "cannot remove %s\n", dir);
}

static void test_sample_posts(void)
{
	struct seen s = { TD_STRV_INIT, 0, 1, 1, 0, 1 };
	size_t nbad = 99;
	struct td_err err = { 0, "" };
	int rc = td_postsdir_read("posts", NULL, collect, &s, &nbad, &err);
	CHECK(rc == 0);
	if (rc)
		fprintf(stderr, "  posts/: %s\n", err.msg);
	CHECK(s.guids.n == 10);
	CHECK(nbad == 0);
	CHECK(s.all_lavrov);
	CHECK(s.in_2017);
	/* Date-prefixed names: name order is date order. */
	CHECK(s.ordered);
	if (s.guids.n == 10) {
		CHECK_STR(s.guids.v[0], "2017-06-27-lavrov-nato-ambitions-never-changed");
		CHECK_STR(s.guids.v[9], "2017-12-22-johnson-lavrov-global-duties");
	}
	td_strv_free(&s.guids);
}

int main(void)
{
	TD_RUN(test_good_post);
	TD_RUN(test_hash_and_guid);
	TD_RUN(test_bom_and_crlf);
	TD_RUN(test_dates);
	TD_RUN(test_errors);
	TD_RUN(test_quoting_and_tag_forms);
	TD_RUN(test_hostile_body);
	TD_RUN(test_body_html);
	TD_RUN(test_read_dir);
	TD_RUN(test_known_posts_skipped);
	TD_RUN(test_sample_posts);
	return TD_DONE("test_postsdir");
}
