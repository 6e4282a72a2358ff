/*
 * test_markdown.c: Markdown to HTML and the excerpt.
 *
 * Expected text comes from the rules in markdown.h and the reference
 * sample in ../shared/tech/BRIEF.md §4 (the first test feeds a document
 * that produces it: its HTML and its first paragraph as the excerpt), not
 * from this renderer's output.
 */
#include <stdlib.h>

#include <cmark.h>

#include "harness.h"
#include "tagdigest/core/buf.h"
#include "tagdigest/sources/html.h"
#include "tagdigest/sources/markdown.h"
#include "tagdigest/core/util.h"

#define BASE "https://x.example/p/"

/* Renders md against BASE, the excerpt not cut; on failure records it and
 * leaves every field "". */
static void render(const char *md, struct td_markdown *m)
{
	struct td_err err;
	int rc = td_markdown_render(md, strlen(md), BASE, 0, m, &err);
	CHECK(rc == 0);
	if (rc) {
		fprintf(stderr, "render failed: %s\n", err.msg);
		memset(m, 0, sizeof *m);
	}
}

static void test_brief_sample(void)
{
	const char *md =
		"Weekly \"digest\" -- issue 42\n"
		"===========================\n"
		"\n"
		"This week's *highlights*: a [new release](https://example.org/rel?a=1&b=2), "
		"**three** talks... and\n"
		"<https://example.org/auto>. It's a long paragraph that has to be wrapped\n"
		"nicely at seventy-two columns, even with Ümläüts and 日本語.\n"
		"\n"
		"Inline <b>html</b> and a [bad link](javascript:alert(1)).\\\n"
		"Hard break above.\n"
		"\n"
		"> Quoted text that is also fairly long so it wraps inside the quote "
		"prefix, and keeps the prefix on every line.\n"
		"\n"
		"1. First item\n"
		"2. Second item with a [link](https://example.org/2)\n"
		"   - nested bullet\n"
		"\n"
		"```\n"
		"code  block\n"
		"```\n"
		"\n"
		"![Logo](https://example.org/logo.png)\n";
	struct td_markdown m;
	render(md, &m);
	/* The excerpt is the whole first paragraph; the brief's, cut to 60
	 * code points as the renderer cuts it. */
	CHECK_STR(m.excerpt_text,
		  "This week’s _highlights_: a new release, *three* talks… and "
		  "https://example.org/auto. It’s a long paragraph that has to be "
		  "wrapped nicely at seventy-two columns, even with Ümläüts and 日本語.");
	char *cut = td_html_cut_text(m.excerpt_text, 60);
	CHECK_STR(cut, "This week’s _highlights_: a new release, *three* talks… and…");
	free(cut);
	CHECK(strncmp(m.excerpt_html, "<p>This week’s <em>highlights</em>", 34) == 0);
	CHECK(m.excerpt_html[strlen(m.excerpt_html) - 1] == '>');
	CHECK(strstr(m.html, "<h1>Weekly “digest” – issue 42</h1>") != NULL);
	/* Raw HTML left out, the javascript: link only its text. */
	CHECK(strstr(m.html, "<b>") == NULL);
	CHECK(strstr(m.html, "<!--") == NULL);
	CHECK(strstr(m.html, "javascript") == NULL);
	CHECK(strstr(m.html, "<p>Inline html and a bad link.<br>\nHard break above.</p>") != NULL);
	td_markdown_free(&m);
}

/* The excerpt's text: inline markup as plain text on one line. */
static void check_excerpt(const char *md, const char *want)
{
	struct td_markdown m;
	render(md, &m);
	CHECK_STR(m.excerpt_text, want);
	td_markdown_free(&m);
}

static void test_excerpt_inlines(void)
{
	check_excerpt("_x_ and **y** and `z`", "_x_ and *y* and z");
	check_excerpt("![Alt *text*](x.png)", "[Image: Alt text]");
	/* Raw HTML blocks and inline tags vanish; their text stays. */
	check_excerpt("<div>\nhidden\n</div>\n\npara <b>bold</b>", "para bold");
	check_excerpt("soft\nbreak", "soft break");
	check_excerpt("hard\\\nbreak", "hard break");
	/* Autolinks show their address; links their text, no numbers. */
	check_excerpt("<https://a.example/>", "https://a.example/");
	check_excerpt("<me@a.example>", "me@a.example");
	check_excerpt("[a](https://x.example/) [b](mailto:me@x.example) "
		      "[f](ftp://x.example/) [j](javascript:alert(1))", "a b f j");
	/* Empty link text shows the address instead, if one can follow it. */
	check_excerpt("[](https://e.example/) x", "https://e.example/ x");
	check_excerpt("[](ftp://e.example/) x", "x");
}

static void test_excerpt(void)
{
	struct td_markdown m;

	render("# Head\n\nFirst *para*\nsecond [line](https://l.example/).\\\n"
	       "after   break\n\nSecond paragraph.", &m);
	CHECK_STR(m.excerpt_text,
		  "First _para_ second line. after break");
	CHECK_STR(m.excerpt_html,
		  "<p>First <em>para</em>\nsecond <a href=\"https://l.example/\" "
		  "rel=\"noopener noreferrer\">line</a>.<br>\nafter   break</p>");
	td_markdown_free(&m);

	/* Not cut when excerpt_max is 0, however long */
	struct td_buf longer = TD_BUF_INIT;
	for (int i = 0; i < 2000; i++)
		td_buf_puts(&longer, "word ");
	render(td_buf_cstr(&longer), &m);
	CHECK(strlen(m.excerpt_text) == longer.len - 1);
	CHECK(strstr(m.excerpt_text, "…") == NULL);
	td_markdown_free(&m);
	td_buf_free(&longer);

	/* A paragraph of raw HTML only is no excerpt; the next one is. */
	render("<span></span>\n\nReal text.", &m);
	CHECK_STR(m.excerpt_text, "Real text.");
	CHECK_STR(m.excerpt_html, "<p>Real text.</p>");
	td_markdown_free(&m);

	render("# Only a heading", &m);
	CHECK_STR(m.excerpt_text, "");
	CHECK_STR(m.excerpt_html, "");
	td_markdown_free(&m);
}

static void test_empty_and_invalid(void)
{
	struct td_markdown m;
	render("", &m);
	CHECK_STR(m.html, "");
	CHECK_STR(m.excerpt_text, "");
	CHECK_STR(m.excerpt_html, "");
	td_markdown_free(&m);

	/* Invalid UTF-8 becomes U+FFFD in both renderings. */
	render("a\xFF" "b", &m);
	CHECK_STR(m.html, "<p>a\xEF\xBF\xBD" "b</p>\n");
	CHECK_STR(m.excerpt_text, "a\xEF\xBF\xBD" "b");
	td_markdown_free(&m);

	/* An embedded NUL is input, not the end of it. */
	struct td_err err;
	CHECK(td_markdown_render("x\0y", 3, BASE, 0, &m, &err) == 0);
	CHECK_STR(m.html, "<p>x\xEF\xBF\xBDy</p>\n");
	CHECK_STR(m.excerpt_text, "x\xEF\xBF\xBDy");
	td_markdown_free(&m);

	/* cmark writes &#xFFFE; and &#xFFFF; as the bytes 0xFE and 0xFF,
	 * which are no UTF-8: U+FFFD here, in the HTML and the excerpt */
	render("a&#xFFFE;b&#xFFFF;c", &m);
	CHECK_STR(m.html, "<p>a\xEF\xBF\xBD" "b\xEF\xBF\xBD" "c</p>\n");
	CHECK_STR(m.excerpt_text, "a\xEF\xBF\xBD" "b\xEF\xBF\xBD" "c");
	td_markdown_free(&m);
}

static void test_hostile(void)
{
	struct td_markdown m;
	const char *hostile = "<script>alert(1)</script>\n\nHi <img src=x "
			      "onerror=alert(1)> [x](javascript:alert(1)) "
			      "![y](javascript:evil)";
	render(hostile, &m);
	CHECK_STR(m.html, "\n<p>Hi  x </p>\n");
	CHECK(strstr(m.excerpt_text, "alert") == NULL);
	CHECK(strstr(m.excerpt_html, "alert") == NULL);
	td_markdown_free(&m);

	/* Thousands of nested quotes: the paragraph inside is the excerpt. */
	size_t depth = 5000;
	char *md = malloc(depth + 8);
	memset(md, '>', depth);
	strcpy(md + depth, " deep");
	check_excerpt(md, "deep");
	free(md);
}

/* Issue 9 item 10: control characters (ESC, VT, DEL...) are no text; an
 * ESC reaching a reader's terminal through the text part drives it. */
static void test_controls(void)
{
	struct td_markdown m;
	const char *md = "Hi \x1b[31mred\x1b[0m, \x0bvertical\x7f and &#27;[1mref "
			 "`co\x1b[1mde` [l](https://l.example/ \"ti\x1btle\") "
			 "![al\x07t](https://i.example/a.png \"&#27;t\").\n\n"
			 "```\ncode \x1b[2J here\n```\n\n# Head\x1b\n";
	render(md, &m);
	CHECK_STR(m.excerpt_text, "Hi [31mred[0m, vertical and [1mref "
		  "co[1mde l [Image: alt].");
	CHECK_STR(m.html, "<p>Hi [31mred[0m, vertical and [1mref <code>co[1mde</code> "
		  "<a href=\"https://l.example/\" title=\"title\" "
		  "rel=\"noopener noreferrer\">l</a> <img src=\"https://i.example/a.png\" "
		  "alt=\"alt\" title=\"t\">.</p>\n"
		  "<pre><code>code [2J here\n</code></pre>\n<h1>Head</h1>\n");
	for (const char *p = m.excerpt_html; *p; p++)
		CHECK(!td_is_control((unsigned char)*p));
	for (const char *p = m.excerpt_text; *p; p++)
		CHECK(!td_is_control((unsigned char)*p));
	td_markdown_free(&m);
}

/* The deepest container (quote or list item) of cmark's HTML. */
static size_t nesting(const char *html)
{
	size_t depth = 0, deepest = 0;
	for (const char *p = strchr(html, '<'); p; p = strchr(p + 1, '<')) {
		if (!strncmp(p, "<blockquote>", 12) || !strncmp(p, "<li>", 4) ||
		    !strncmp(p, "<li ", 4)) {
			if (++depth > deepest)
				deepest = depth;
		} else if (!strncmp(p, "</blockquote>", 13) || !strncmp(p, "</li>", 5)) {
			depth--;
		}
	}
	return deepest;
}

/* Issue 9 item 13: what reaches cmark is bounded, so its quadratic cases
 * stay small: no container nests deeper than 16 (markdown.c: 16 markers
 * within 32 columns). Speed is measured by the stress run (tests/fuzz)
 * and tests/bench/bench_markdown.py, not here. */
static void test_bounds(void)
{
	struct td_buf md = TD_BUF_INIT;
	struct td_markdown m;

	/* emphasis in deep quotes (cmark's "emph in deep blockquote") */
	for (int i = 0; i < 5000; i++)
		td_buf_putc(&md, '>');
	for (int i = 0; i < 2000; i++)
		td_buf_puts(&md, "a*");
	render(td_buf_cstr(&md), &m);
	CHECK(nesting(m.html) >= 8 && nesting(m.html) <= 16);
	td_markdown_free(&m);

	/* blank lines in deep lists, in a quote */
	td_buf_reset(&md);
	td_buf_puts(&md, "> ");
	for (int i = 0; i < 5000; i++)
		td_buf_puts(&md, "- ");
	td_buf_puts(&md, "x\n");
	for (int i = 0; i < 2000; i++)
		td_buf_puts(&md, ">\n");
	render(td_buf_cstr(&md), &m);
	CHECK(nesting(m.html) >= 8 && nesting(m.html) <= 16);
	CHECK_STR(m.excerpt_text, "x");
	td_markdown_free(&m);

	/* nested by indentation, one level a line */
	td_buf_reset(&md);
	for (int i = 0; i < 500; i++) {
		for (int k = 0; k < i; k++)
			td_buf_puts(&md, "  ");
		td_buf_puts(&md, "* a\n");
	}
	render(td_buf_cstr(&md), &m);
	CHECK(nesting(m.html) >= 8 && nesting(m.html) <= 16);
	td_markdown_free(&m);

	/* ordered markers and tabs count too */
	td_buf_reset(&md);
	for (int i = 0; i < 3000; i++)
		td_buf_puts(&md, i % 2 ? "1.\t" : "> ");
	td_buf_puts(&md, "deep\n");
	render(td_buf_cstr(&md), &m);
	CHECK(nesting(m.html) >= 8 && nesting(m.html) <= 16);
	CHECK(strstr(m.html, "deep") != NULL);
	td_markdown_free(&m);

	/* within the bounds, cmark sees the post as written */
	render("> > - 1. item\n>   more\n\n- a\n  - b\n    - c\n", &m);
	CHECK_STR(m.html, "<blockquote>\n<blockquote>\n<ul>\n<li>\n<ol>\n"
		  "<li>item\nmore</li>\n</ol>\n</li>\n</ul>\n</blockquote>\n"
		  "</blockquote>\n<ul>\n<li>a\n<ul>\n<li>b\n<ul>\n<li>c</li>\n"
		  "</ul>\n</li>\n</ul>\n</li>\n</ul>\n");
	td_markdown_free(&m);

	/* image brackets left open ("![[]()" repeated, CVE-2023-22486): the
	 * ones past the bound are escaped, which cmark shows the same */
	td_buf_reset(&md);
	for (int i = 0; i < 1000; i++)
		td_buf_puts(&md, "![[]()");
	render(td_buf_cstr(&md), &m);
	struct td_buf want = TD_BUF_INIT;
	td_buf_puts(&want, "<p>");
	for (int i = 0; i < 1000; i++)
		td_buf_puts(&want, "![");  /* "[]()": a link to nowhere, no link */
	td_buf_puts(&want, "</p>\n");
	CHECK_STR(m.html, td_buf_cstr(&want));
	td_markdown_free(&m);
	td_buf_free(&want);
	/* images that close are never touched, however many */
	td_buf_reset(&md);
	for (int i = 0; i < 300; i++)
		td_buf_printf(&md, "![pic %d](https://x.example/%d.png) ", i, i);
	render(td_buf_cstr(&md), &m);
	size_t imgs = 0;
	for (const char *p = strstr(m.html, "<img "); p; p = strstr(p + 1, "<img "))
		imgs++;
	CHECK(imgs == 300);
	td_markdown_free(&m);
	td_buf_free(&md);
}

/* ---- the HTML is what the sanitizer made of cmark's ---- */

/*
 * Until issue 9, a post's HTML was cmark's own, sanitized by html.c
 * (td_html_sanitize), and its excerpt cmark's first paragraph, sanitized
 * and then cut (td_html_cut). markdown.c now writes both from the tree in
 * one walk; the oracle below is that old path, run here with cmark itself,
 * and each post of the corpus must come out byte for byte the same.
 */
#define CMARK_OPTS (CMARK_OPT_SMART | CMARK_OPT_VALIDATE_UTF8)

static char *oracle_html(const char *md)
{
	char *raw = cmark_markdown_to_html(md, strlen(md), CMARK_OPTS);
	char *safe = td_html_sanitize(raw, strlen(raw), BASE);
	free(raw);
	return safe;
}

/* The first paragraph (not in a tight list: the corpus has none there). */
static char *oracle_excerpt(const char *md, size_t max)
{
	cmark_node *doc = cmark_parse_document(md, strlen(md), CMARK_OPTS);
	cmark_iter *it = cmark_iter_new(doc);
	cmark_event_type ev;
	char *out = td_xstrdup("");
	while ((ev = cmark_iter_next(it)) != CMARK_EVENT_DONE) {
		cmark_node *n = cmark_iter_get_node(it);
		if (ev != CMARK_EVENT_ENTER || cmark_node_get_type(n) != CMARK_NODE_PARAGRAPH)
			continue;
		char *raw = cmark_render_html(n, CMARK_OPTS);
		size_t len = strlen(raw);
		if (len > 0 && raw[len - 1] == '\n')
			raw[--len] = '\0';
		char *safe = td_html_sanitize(raw, len, BASE);
		free(out);
		out = td_html_cut(safe, strlen(safe), max);
		free(safe);
		free(raw);
		break;
	}
	cmark_iter_free(it);
	cmark_node_free(doc);
	return out;
}

static const char *const tricky[] = {
	/* controls in text, code, code blocks, titles, alt text */
	"Bell\a and \x1b[31mred\x1b[0m, tab\v,\x7f done.\n\n`co\x1b de` and\n\n"
	"```\nblock \x1b[2J\x0c\n```\n\n"
	"[t](https://a.example/ \"ti\x1btle\") ![al\x1bt](https://i.example/x.png \"t\x7f\")\n",
	/* character references to controls and others */
	"&#27;[1mbold&#27;[0m &#x7f; &#1; &#0; &amp; &copy; &nbsp;x &#x85; &#13; &#10;.\n",
	/* links: relative, absolute, schemes that go, mailto, odd spacing */
	"[rel](../q) [abs](https://abs.example/x?a=1&b=2) [frag](#top) [query](?q=1)\n"
	"[proto-rel](//cdn.example/x) [j](javascript:alert(1)) [J](JaVaScRiPt:alert(1))\n"
	"[v](vbscript:x) [f](file:///etc/passwd) [ftp](ftp://x.example/) [d](data:text/html,x)\n"
	"[m](mailto:me@x.example) [M](MAILTO:a@b.example) [sp](<https://sp.example/a b>)\n"
	"[empty]() [pct](http://x.example/%zz%41) [u](http://x.example/\xc3\xa9t\xc3\xa9)\n"
	"[kept title](javascript:x \"but a title\") [HTTP](HTTPS://UP.example/Path)\n",
	/* images: relative, data: (cmark keeps png, the allowlist does not) */
	"![r](img/p.png) ![a](https://i.example/a.png \"T&\\\"\") ![d](data:image/png;base64,AAAA)\n"
	"![g](data:image/gif;base64,R0lG) ![j](javascript:x) ![m](mailto:a@b.example)\n"
	"![*em* `code` <b>raw</b> line\nbreak](//cdn.example/i.png) ![](https://i.example/none.png)\n"
	"[![inner](i.png)](https://outer.example/)\n",
	/* autolinks */
	"<https://auto.example/?a&b> <me@mail.example> <javascript:alert(1)> "
	"<HTTP://U.example> <ftp://f.example/>\n",
	/* reference links */
	"[ref] and [text][ref] and [js] and [img-ref][]\n\n"
	"[ref]: /relative \"Ref title\"\n[js]: javascript:x\n[img-ref]: https://r.example/\n",
	/* blocks */
	"# Head *one*\n\nSetext\n---\n\n> quote\n> more\n>\n> > inner\n\n"
	"3. three\n\n4. four\n   - nested\n\n     loose\n\n"
	"```c info\ncode <x> & \"q\"\n```\n\n    indented\n\n***\n\n"
	"<div>\nraw *block*\n</div>\n\nafter <span onclick=x>inline</span> html\n\n"
	"- ends in a line feed&#10;\n  - nested\n- ends in a control&#27;\n  - nested\n",
	/* breaks, emphasis, smart punctuation, escapes */
	"hard  \nbreak\\\nagain\nsoft *em **strong *both*** \"q\" 'a' -- --- ... \\*not\\*\n",
	/* the body starts with raw HTML and ends in it */
	"<script>alert(1)</script>\n\nText <!-- c --> more.\n\n<p>end</p>\n",
	/* invalid UTF-8, CRLF */
	"a\xff\xfe b\r\nc\r\n\r\nd\n",
	/* a long first paragraph: cut in a link, in emphasis, in code */
	"Lorem *ipsum dolor* sit [amet, **consectetur** adipiscing](https://l.example/) "
	"elit, `sed do eiusmod` tempor ![img](https://i.example/i.png) incididunt ut "
	"labore et dolore magna aliqua.\\\nUt enim ad minim veniam, quis nostrud "
	"exercitation ullamco laboris nisi ut aliquip ex ea commodo consequat.\n\nNext.\n",
};

static void test_same_as_sanitized(void)
{
	static const size_t cuts[] = { 0, 1, 7, 20, 40, 63, 100, 280 };
	for (size_t i = 0; i < sizeof tricky / sizeof *tricky; i++) {
		const char *md = tricky[i];
		struct td_markdown m;
		render(md, &m);
		char *want = oracle_html(md);
		if (strcmp(m.html, want) != 0)
			fprintf(stderr, "tricky[%zu]:\n got: %s\nwant: %s\n", i, m.html, want);
		CHECK_STR(m.html, want);
		free(want);
		char *full_text = td_xstrdup(m.excerpt_text);
		td_markdown_free(&m);

		for (size_t k = 0; k < sizeof cuts / sizeof *cuts; k++) {
			struct td_err err;
			CHECK(td_markdown_render(md, strlen(md), BASE, cuts[k], &m, &err) == 0);
			want = oracle_excerpt(md, cuts[k]);
			if (strcmp(m.excerpt_html, want) != 0)
				fprintf(stderr, "tricky[%zu] cut %zu:\n got: %s\nwant: %s\n",
					i, cuts[k], m.excerpt_html, want);
			CHECK_STR(m.excerpt_html, want);
			free(want);
			/* the text is cut as td_html_cut_text() cuts */
			char *cut = td_html_cut_text(full_text, cuts[k]);
			CHECK_STR(m.excerpt_text, cut);
			free(cut);
			td_markdown_free(&m);
		}
		free(full_text);
	}
}

/* Where the new path differs from the old one, on purpose. */
static void test_not_as_before(void)
{
	struct td_markdown m;
	/* A link inside a link (an autolink in link text): the outer one
	 * stands, the inner is its text. libxml2 closed the outer <a> early. */
	render("[a <https://in.example/> b](https://out.example/)", &m);
	CHECK_STR(m.html, "<p><a href=\"https://out.example/\" rel=\"noopener noreferrer\">"
		  "a https://in.example/ b</a></p>\n");
	td_markdown_free(&m);
	/* The excerpt is a <p> even when its paragraph, in a tight list, is
	 * written without one; its content is the document's. */
	render("- first *item*\n- second\n", &m);
	CHECK_STR(m.html, "<ul>\n<li>first <em>item</em></li>\n<li>second</li>\n</ul>\n");
	CHECK_STR(m.excerpt_html, "<p>first <em>item</em></p>");
	CHECK_STR(m.excerpt_text, "first _item_");
	td_markdown_free(&m);
	/* URLs are made safe by html.c's rule alone: brackets stay (cmark's
	 * renderer percent-encoded them first), a control is refused */
	render("[v6](http://[::1]/a) [c](<http://x.example/a\x01" "b>)", &m);
	CHECK_STR(m.html, "<p><a href=\"http://[::1]/a\" rel=\"noopener noreferrer\">v6</a> c</p>\n");
	td_markdown_free(&m);
	/* U+FFFE and U+FFFF are no text (the HTML parser dropped them) */
	render("a\xef\xbf\xbe" "b\xef\xbf\xbf" "c", &m);
	CHECK_STR(m.html, "<p>abc</p>\n");
	CHECK_STR(m.excerpt_text, "abc");
	td_markdown_free(&m);
	/* past 256 nested elements libxml2 gave up and the rest of the post
	 * was lost; now the tags stop at 100 and the text stays */
	struct td_buf md = TD_BUF_INIT;
	for (int i = 0; i < 400; i++)
		td_buf_puts(&md, "*a ");
	td_buf_puts(&md, "end");
	for (int i = 0; i < 400; i++)
		td_buf_puts(&md, " a*");
	render(td_buf_cstr(&md), &m);
	size_t ems = 0;
	for (const char *p = strstr(m.html, "<em>"); p; p = strstr(p + 1, "<em>"))
		ems++;
	CHECK(ems == 99);  /* and the <p> */
	CHECK(strstr(m.html, "a end a") != NULL);
	td_markdown_free(&m);
	td_buf_free(&md);
}

/* The excerpt is cut where td_html_cut() cuts the whole paragraph, and its
 * text where td_html_cut_text() cuts: on long paragraphs with markup,
 * white space that collapses (no-break spaces too), controls, images. */
static void test_excerpt_cut(void)
{
	static const char *const pieces[] = {
		"word ", "*emphasis* ", "**strong *and em*** ", "`some code` ",
		"[a link](https://l.example/) ", "![an image](https://i.example/i.png) ",
		"&nbsp;&nbsp; ", "caf\xc3\xa9 ", "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e ",
		"x\x1by ", "line\nbreak ", "hard\\\nbreak ", "punct,;: ",
		"averyveryverylongwordwithoutanyspaceatall ", "<b>raw</b> ",
	};
	static const size_t cuts[] = { 1, 2, 5, 13, 50, 99, 280, 1000 };
	struct td_buf md = TD_BUF_INIT;
	for (int i = 0; i < 300; i++)
		td_buf_puts(&md, pieces[(i * 7 + i / 5) % (sizeof pieces / sizeof *pieces)]);
	td_buf_puts(&md, "\n\nNext paragraph.\n");

	struct td_markdown full;
	render(td_buf_cstr(&md), &full);
	for (size_t k = 0; k < sizeof cuts / sizeof *cuts; k++) {
		struct td_markdown m;
		struct td_err err;
		CHECK(td_markdown_render(md.data, md.len, BASE, cuts[k], &m, &err) == 0);
		char *want = td_html_cut(full.excerpt_html, strlen(full.excerpt_html), cuts[k]);
		CHECK_STR(m.excerpt_html, want);
		free(want);
		want = td_html_cut_text(full.excerpt_text, cuts[k]);
		CHECK_STR(m.excerpt_text, want);
		free(want);
		/* the HTML's own text is its uncut text, cut the same way */
		char *got_text = NULL, *full_text = NULL;
		td_html_excerpt(m.excerpt_html, strlen(m.excerpt_html), 0, NULL, &got_text);
		td_html_excerpt(full.excerpt_html, strlen(full.excerpt_html), 0, NULL, &full_text);
		want = td_html_cut_text(full_text, cuts[k]);
		CHECK_STR(got_text, want);
		free(want);
		free(got_text);
		free(full_text);
		td_markdown_free(&m);
	}
	td_markdown_free(&full);
	td_buf_free(&md);
}

int main(void)
{
	TD_RUN(test_brief_sample);
	TD_RUN(test_excerpt_inlines);
	TD_RUN(test_excerpt);
	TD_RUN(test_empty_and_invalid);
	TD_RUN(test_hostile);
	TD_RUN(test_controls);
	TD_RUN(test_bounds);
	TD_RUN(test_same_as_sanitized);
	TD_RUN(test_not_as_before);
	TD_RUN(test_excerpt_cut);
	return TD_DONE("test_markdown");
}
