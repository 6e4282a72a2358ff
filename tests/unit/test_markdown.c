/*
 * test_markdown.c: Markdown to HTML, wrapped plain text and the excerpt.
 *
 * Expected text comes from the rules in markdown.h and the reference
 * output in ../shared/tech/BRIEF.md §4 (the first test feeds a document
 * that produces exactly that sample), not from this renderer's output.
 */
#include <stdlib.h>

#include "harness.h"
#include "tagdigest/buf.h"
#include "tagdigest/html.h"
#include "tagdigest/markdown.h"
#include "tagdigest/util.h"

/* Renders md; on failure records it and leaves every field "". */
static void render(const char *md, size_t width, struct td_markdown *m)
{
	struct td_err err;
	int rc = td_markdown_render(md, strlen(md), width, m, &err);
	CHECK(rc == 0);
	if (rc) {
		fprintf(stderr, "render failed: %s\n", err.msg);
		memset(m, 0, sizeof *m);
	}
}

static void check_text(const char *md, size_t width, const char *want)
{
	struct td_markdown m;
	render(md, width, &m);
	CHECK_STR(m.text, want);
	td_markdown_free(&m);
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
	const char *want =
		"Weekly “digest” – issue 42\n"
		"==========================\n"
		"\n"
		"This week’s _highlights_: a new release [1], *three* talks… and\n"
		"https://example.org/auto. It’s a long paragraph that has to be wrapped\n"
		"nicely at seventy-two columns, even with Ümläüts and 日本語.\n"
		"\n"
		"Inline html and a bad link.\n"
		"Hard break above.\n"
		"\n"
		"> Quoted text that is also fairly long so it wraps inside the quote\n"
		"> prefix, and keeps the prefix on every line.\n"
		"\n"
		"1. First item\n"
		"2. Second item with a link [2]\n"
		"   - nested bullet\n"
		"\n"
		"    code  block\n"
		"\n"
		"[Image: Logo]\n"
		"\n"
		"Links:\n"
		"[1] https://example.org/rel?a=1&b=2\n"
		"[2] https://example.org/2\n";
	struct td_markdown m;
	render(md, 72, &m);
	CHECK_STR(m.text, want);
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
	/* Safe mode: raw HTML omitted, javascript: link emptied. */
	CHECK(strstr(m.html, "<b>") == NULL);
	CHECK(strstr(m.html, "javascript") == NULL);
	td_markdown_free(&m);
}

static void test_wrap_counts_code_points(void)
{
	/* Each word is 4 code points but 8 bytes: two fit in 10 columns. */
	check_text("ääää ääää ääää", 10, "ääää ääää\nääää\n");
	/* Exactly at the width is still one line. */
	check_text("aaaa bbbbb", 10, "aaaa bbbbb\n");
	check_text("aaaa bbbbbb", 10, "aaaa\nbbbbbb\n");
	/* Width 0: no wrapping at all. */
	check_text("a b c d e f g h i j k l m n o p", 0,
		   "a b c d e f g h i j k l m n o p\n");
}

/* Columns as a terminal shows them: CJK two, combining marks none; text
 * without spaces breaks between ideographs, not before "、". */
static void test_wrap_counts_columns(void)
{
	check_text("cafe\xCC\x81 cafe\xCC\x81 cafe\xCC\x81", 9,
		   "cafe\xCC\x81 cafe\xCC\x81\ncafe\xCC\x81\n");
	check_text("# 日本語ニュース", 72, "日本語ニュース\n==============\n");
	/* "> " leaves 12 columns: six characters a line */
	check_text("> 東京で会談、北朝鮮について協議", 14,
		   "> 東京で会談、\n> 北朝鮮につい\n> て協議\n");
	check_text("会談、北朝鮮", 5, "会\n談、\n北朝\n鮮\n");
}

static void test_never_breaks_words(void)
{
	check_text("see https://example.org/a/very/long/path/beyond/width end",
		   20,
		   "see\nhttps://example.org/a/very/long/path/beyond/width\n"
		   "end\n");
}

static void test_headings(void)
{
	check_text("# Title\n\nBody", 72, "Title\n=====\n\nBody\n");
	/* The underline is as long as the heading in columns. */
	check_text("## Ünïcode", 72, "Ünïcode\n-------\n");
	check_text("### Third", 72, "Third\n-----\n");
}

static void test_lists(void)
{
	/* Continuation lines line up under the item text. */
	check_text("1. aaa bbb ccc", 10, "1. aaa bbb\n   ccc\n");
	check_text("- aaa bbb ccc", 9, "- aaa bbb\n  ccc\n");
	/* The start number is kept; ')' lists keep their delimiter. */
	check_text("3. c\n4. d", 72, "3. c\n4. d\n");
	check_text("7) x", 72, "7) x\n");
	/* Loose lists keep a blank line between items. */
	check_text("- a\n\n- b", 72, "- a\n\n- b\n");
	/* Item with two paragraphs: the second is indented. */
	check_text("- a\n\n  b", 72, "- a\n\n  b\n");
	/* Tight nested lists stay together. */
	check_text("- a\n  - b\n- c", 72, "- a\n  - b\n- c\n");
	/* An empty item still shows its marker. */
	check_text("- a\n-\n- c", 72, "- a\n-\n- c\n");
	/* Blocks around a list are separated by blank lines. */
	check_text("before\n\n- x\n\nafter", 72, "before\n\n- x\n\nafter\n");
}

static void test_quotes_and_code(void)
{
	check_text("> a\n>\n> b", 72, "> a\n>\n> b\n");
	check_text("> > nested", 72, "> > nested\n");
	check_text("> aaa bbb ccc", 9, "> aaa bbb\n> ccc\n");
	check_text("```\nx = 1\n\ny = 2\n```", 72, "    x = 1\n\n    y = 2\n");
	check_text("- item\n\n  ```\n  code\n  ```", 72,
		   "- item\n\n      code\n");
	check_text("a\n\n---\n\nb", 72, "a\n\n* * *\n\nb\n");
}

static void test_inlines(void)
{
	check_text("_x_ and **y** and `z`", 72, "_x_ and *y* and z\n");
	check_text("![Alt *text*](x.png)", 72, "[Image: Alt text]\n");
	/* Raw HTML blocks and inline tags vanish; their text stays. */
	check_text("<div>\nhidden\n</div>\n\npara <b>bold</b>", 72,
		   "para bold\n");
	check_text("soft\nbreak", 72, "soft break\n");
}

static void test_links(void)
{
	/* Autolinks show their address: no number. */
	check_text("<https://a.example/>", 72, "https://a.example/\n");
	check_text("<me@a.example>", 72, "me@a.example\n");
	/* The same URL twice keeps one number; mailto counts. */
	check_text("[a](https://x.example/) [b](mailto:me@x.example) "
		   "[c](https://x.example/)", 72,
		   "a [1] b [2] c [1]\n\nLinks:\n[1] https://x.example/\n"
		   "[2] mailto:me@x.example\n");
	/* Other schemes and relative links are just text. */
	check_text("[f](ftp://x.example/) [r](/rel) [j](javascript:alert(1))",
		   72, "f r j\n");
	/* Numbers survive many links (the lookup table grows). */
	{
		struct td_buf md = TD_BUF_INIT;
		for (int i = 1; i <= 300; i++)
			td_buf_printf(&md, "[l](https://x.example/%d) ", i);
		td_buf_puts(&md, "[again](https://x.example/1) "
			    "[again](https://x.example/300)");
		struct td_markdown m;
		render(td_buf_cstr(&md), 0, &m);
		CHECK(strstr(m.text, "l [300] again [1] again [300]\n") != NULL);
		CHECK(strstr(m.text, "\n[300] https://x.example/300\n") != NULL);
		CHECK(strstr(m.text, "[301]") == NULL);
		td_markdown_free(&m);
		td_buf_free(&md);
	}
	/* Empty link text shows the address instead. */
	check_text("[](https://e.example/)", 72, "https://e.example/\n");
}

static void test_excerpt(void)
{
	struct td_markdown m;

	render("# Head\n\nFirst *para*\nsecond [line](https://l.example/).\\\n"
	       "after   break\n\nSecond paragraph.", 72, &m);
	CHECK_STR(m.excerpt_text,
		  "First _para_ second line. after break");
	CHECK_STR(m.excerpt_html,
		  "<p>First <em>para</em>\nsecond <a href=\"https://l.example/\">"
		  "line</a>.<br />\nafter   break</p>");
	td_markdown_free(&m);

	/* Never cut here, however long: the renderer cuts (test_html.c) */
	struct td_buf longer = TD_BUF_INIT;
	for (int i = 0; i < 2000; i++)
		td_buf_puts(&longer, "word ");
	render(td_buf_cstr(&longer), 72, &m);
	CHECK(strlen(m.excerpt_text) == longer.len - 1);
	CHECK(strstr(m.excerpt_text, "…") == NULL);
	td_markdown_free(&m);
	td_buf_free(&longer);

	/* A paragraph of raw HTML only is no excerpt; the next one is. */
	render("<span></span>\n\nReal text.", 72, &m);
	CHECK_STR(m.excerpt_text, "Real text.");
	CHECK_STR(m.excerpt_html, "<p>Real text.</p>");
	td_markdown_free(&m);

	render("# Only a heading", 72, &m);
	CHECK_STR(m.excerpt_text, "");
	CHECK_STR(m.excerpt_html, "");
	td_markdown_free(&m);
}

static void test_empty_and_invalid(void)
{
	struct td_markdown m;
	render("", 72, &m);
	CHECK_STR(m.html, "");
	CHECK_STR(m.text, "");
	CHECK_STR(m.excerpt_text, "");
	td_markdown_free(&m);

	/* Invalid UTF-8 becomes U+FFFD in both renderings. */
	render("a\xFF" "b", 72, &m);
	CHECK_STR(m.html, "<p>a\xEF\xBF\xBD" "b</p>\n");
	CHECK_STR(m.text, "a\xEF\xBF\xBD" "b\n");
	td_markdown_free(&m);

	/* An embedded NUL is input, not the end of it. */
	struct td_err err;
	CHECK(td_markdown_render("x\0y", 3, 72, &m, &err) == 0);
	CHECK_STR(m.text, "x\xEF\xBF\xBDy\n");
	td_markdown_free(&m);
}

static void test_hostile(void)
{
	struct td_markdown m;
	render("<script>alert(1)</script>\n\nHi <img src=x onerror=alert(1)> "
	       "[x](javascript:alert(1)) ![y](javascript:evil)", 72, &m);
	CHECK(strstr(m.html, "<script") == NULL);
	CHECK(strstr(m.html, "onerror") == NULL);
	CHECK(strstr(m.html, "javascript:") == NULL);
	CHECK(strstr(m.text, "alert") == NULL);
	td_markdown_free(&m);

	/* Thousands of nested quotes: the prefix stops growing at 16. */
	size_t depth = 5000;
	char *md = malloc(depth + 8);
	memset(md, '>', depth);
	strcpy(md + depth, " deep");
	render(md, 72, &m);
	char want[64] = "";
	for (int i = 0; i < 16; i++)
		strcat(want, "> ");
	strcat(want, "deep\n");
	CHECK_STR(m.text, want);
	td_markdown_free(&m);
	free(md);
}

/* Issue 9 item 10: control characters (ESC, VT, DEL...) are no text; an
 * ESC reaching a reader's terminal through the text part drives it. */
static void test_controls(void)
{
	struct td_markdown m;
	render("Hi \x1b[31mred\x1b[0m, \x0bvertical\x7f and &#27;[1mref.\n\n"
	       "```\ncode \x1b[2J here\n```\n\n# Head\x1b\n", 72, &m);
	CHECK_STR(m.excerpt_text, "Hi [31mred[0m, vertical and [1mref.");
	CHECK(strstr(m.text, "    code [2J here\n") != NULL);
	CHECK(strstr(m.text, "Head\n====") != NULL);
	for (const char *p = m.text; *p; p++)
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
 * stay small: no container nests deeper than 64 (markdown.c). Speed is
 * measured by the stress run (tests/fuzz), not here. */
static void test_bounds(void)
{
	struct td_buf md = TD_BUF_INIT;
	struct td_markdown m;

	/* emphasis in deep quotes (cmark's "emph in deep blockquote") */
	for (int i = 0; i < 5000; i++)
		td_buf_putc(&md, '>');
	for (int i = 0; i < 2000; i++)
		td_buf_puts(&md, "a*");
	render(td_buf_cstr(&md), 72, &m);
	CHECK(nesting(m.html) >= 16 && nesting(m.html) <= 64);
	td_markdown_free(&m);

	/* blank lines in deep lists, in a quote */
	td_buf_reset(&md);
	td_buf_puts(&md, "> ");
	for (int i = 0; i < 5000; i++)
		td_buf_puts(&md, "- ");
	td_buf_puts(&md, "x\n");
	for (int i = 0; i < 2000; i++)
		td_buf_puts(&md, ">\n");
	render(td_buf_cstr(&md), 72, &m);
	CHECK(nesting(m.html) >= 16 && nesting(m.html) <= 64);
	CHECK(strstr(m.text, "x\n") != NULL);
	td_markdown_free(&m);

	/* nested by indentation, one level a line */
	td_buf_reset(&md);
	for (int i = 0; i < 500; i++) {
		for (int k = 0; k < i; k++)
			td_buf_puts(&md, "  ");
		td_buf_puts(&md, "* a\n");
	}
	render(td_buf_cstr(&md), 72, &m);
	CHECK(nesting(m.html) >= 16 && nesting(m.html) <= 64);
	td_markdown_free(&m);

	/* ordered markers and tabs count too */
	td_buf_reset(&md);
	for (int i = 0; i < 3000; i++)
		td_buf_puts(&md, i % 2 ? "1.\t" : "> ");
	td_buf_puts(&md, "deep\n");
	render(td_buf_cstr(&md), 72, &m);
	CHECK(nesting(m.html) >= 16 && nesting(m.html) <= 64);
	CHECK(strstr(m.html, "deep") != NULL);
	td_markdown_free(&m);

	/* within the bounds, cmark sees the post as written */
	render("> > - 1. item\n>   more\n\n- a\n  - b\n    - c\n", 72, &m);
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
	render(td_buf_cstr(&md), 72, &m);
	struct td_buf want = TD_BUF_INIT;
	td_buf_puts(&want, "<p>");
	for (int i = 0; i < 1000; i++)
		td_buf_puts(&want, "![<a href=\"\"></a>");
	td_buf_puts(&want, "</p>\n");
	CHECK_STR(m.html, td_buf_cstr(&want));
	td_markdown_free(&m);
	td_buf_free(&want);
	/* images that close are never touched, however many */
	td_buf_reset(&md);
	for (int i = 0; i < 300; i++)
		td_buf_printf(&md, "![pic %d](https://x.example/%d.png) ", i, i);
	render(td_buf_cstr(&md), 72, &m);
	size_t imgs = 0;
	for (const char *p = strstr(m.html, "<img "); p; p = strstr(p + 1, "<img "))
		imgs++;
	CHECK(imgs == 300);
	td_markdown_free(&m);
	td_buf_free(&md);
}

int main(void)
{
	TD_RUN(test_brief_sample);
	TD_RUN(test_wrap_counts_code_points);
	TD_RUN(test_wrap_counts_columns);
	TD_RUN(test_never_breaks_words);
	TD_RUN(test_headings);
	TD_RUN(test_lists);
	TD_RUN(test_quotes_and_code);
	TD_RUN(test_inlines);
	TD_RUN(test_links);
	TD_RUN(test_excerpt);
	TD_RUN(test_empty_and_invalid);
	TD_RUN(test_hostile);
	TD_RUN(test_controls);
	TD_RUN(test_bounds);
	return TD_DONE("test_markdown");
}
