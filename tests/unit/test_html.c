/*
 * test_html.c: the HTML sanitizer, the plain-text renderer and excerpts.
 *
 * Expected outputs are worked out by hand from the rules in html.h and
 * src/sources/html.c: allowlisted tags and attributes written back in input order,
 * rel="noopener noreferrer" after a link's attributes, only http(s) URLs
 * (and mailto for links) after resolving against the base, text escaped
 * (& < > and " in attributes), void tags without a closing tag; in text,
 * blocks separated by an empty line, list items "- " on their own lines,
 * <br> one newline, whitespace (and &nbsp;) collapsed.
 */
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "harness.h"
#include "tagdigest/core/buf.h"
#include "tagdigest/sources/html.h"
#include "tagdigest/core/util.h"

#define BASE "http://example.org/a/b/"

static void check_san(const char *in, const char *base, const char *want,
		      int line)
{
	char *got = td_html_sanitize(in, strlen(in), base);
	if (strcmp(got, want) != 0) {
		td_test_failed++;
		fprintf(stderr, "%s:%d: td_html_sanitize(\"%s\")\n"
			"  got:  \"%s\"\n  want: \"%s\"\n",
			__FILE__, line, in, got, want);
	} else {
		td_test_passed++;
	}
	free(got);
}

static void check_text(const char *in, const char *want, int line)
{
	char *got = td_html_to_text(in, strlen(in));
	if (strcmp(got, want) != 0) {
		td_test_failed++;
		fprintf(stderr, "%s:%d: td_html_to_text(\"%s\")\n"
			"  got:  \"%s\"\n  want: \"%s\"\n",
			__FILE__, line, in, got, want);
	} else {
		td_test_passed++;
	}
	free(got);
}

static void check_excerpt(const char *in, size_t max, const char *want_html,
			  const char *want_text, int line)
{
	char *html = NULL, *text = NULL;
	td_html_excerpt(in, strlen(in), max, &html, &text);
	if (!html || !text || strcmp(html, want_html) != 0 ||
	    strcmp(text, want_text) != 0) {
		td_test_failed++;
		fprintf(stderr, "%s:%d: td_html_excerpt(\"%s\", %zu)\n"
			"  got:  \"%s\" / \"%s\"\n  want: \"%s\" / \"%s\"\n",
			__FILE__, line, in, max, html ? html : "(null)",
			text ? text : "(null)", want_html, want_text);
	} else {
		td_test_passed++;
	}
	free(html);
	free(text);
}

#define SAN(in, want) check_san(in, NULL, want, __LINE__)
#define SANB(in, want) check_san(in, BASE, want, __LINE__)
#define TEXT(in, want) check_text(in, want, __LINE__)
#define EXCERPT(in, max, html, text) check_excerpt(in, max, html, text, __LINE__)

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;
	for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
		n++;
	return n;
}

/* Every start tag that has a closing tag is closed, in order. Tags are
 * what the sanitizer writes: "<name" up to '>', "</name>". */
static int balanced(const char *s)
{
	static const char *const voids[] = { "br", "img", "hr" };
	char stack[128][16];
	size_t depth = 0;
	for (const char *p = strchr(s, '<'); p; p = strchr(p + 1, '<')) {
		int closing = p[1] == '/';
		const char *name = p + 1 + closing;
		size_t n = strcspn(name, " >");
		if (n == 0 || n >= 16)
			return 0;
		int is_void = 0;
		for (size_t i = 0; i < 3; i++)
			if (strlen(voids[i]) == n && !strncmp(name, voids[i], n))
				is_void = 1;
		if (closing) {
			if (depth == 0 || strlen(stack[depth - 1]) != n ||
			    strncmp(stack[depth - 1], name, n))
				return 0;
			depth--;
		} else if (!is_void) {
			if (depth == 128)
				return 0;
			memcpy(stack[depth], name, n);
			stack[depth][n] = '\0';
			depth++;
		}
	}
	return depth == 0;
}

static void test_allowed_markup(void)
{
	SAN("<p>Hello <em>world</em> &amp; <a href=\"http://x.org/\">link</a></p>",
	    "<p>Hello <em>world</em> &amp; <a href=\"http://x.org/\" "
	    "rel=\"noopener noreferrer\">link</a></p>");
	SAN("<h2>T</h2><ul><li><strong>a</strong></li><li><code>b</code></li></ul>",
	    "<h2>T</h2><ul><li><strong>a</strong></li><li><code>b</code></li></ul>");
	SAN("<blockquote><p>q <cite>c</cite> <sub>1</sub><sup>2</sup></p></blockquote>",
	    "<blockquote><p>q <cite>c</cite> <sub>1</sub><sup>2</sup></p></blockquote>");
	/* uppercase tags come back lowercase; void tags have no end tag */
	SAN("<P>a<BR/>b</P><HR>", "<p>a<br>b</p><hr>");
	SAN("<abbr title=\"say &quot;hi&quot; <x> & go\">A</abbr>",
	    "<abbr title=\"say &quot;hi&quot; &lt;x&gt; &amp; go\">A</abbr>");
	SAN("<img src=\"http://x.org/i.png\" alt=\"A &amp; B\" width=\"100\" "
	    "height=\"50%\" title=\"t\" class=\"c\" id=\"i\">",
	    "<img src=\"http://x.org/i.png\" alt=\"A &amp; B\" width=\"100\" "
	    "title=\"t\">");
	SAN("<table><tr><th rowspan=\" 3 \">h</th><td colspan=\"2\" "
	    "rowspan=\"x\">a</td></tr></table>",
	    "<table><tr><th rowspan=\"3\">h</th><td colspan=\"2\">a</td>"
	    "</tr></table>");
	/* a cell outside a table would be dropped by a browser: text only */
	SAN("<td>x</td>", "x");
	/* an existing rel is replaced, not doubled */
	SAN("<a href=\"https://x.org/\" rel=\"opener\" target=\"_blank\">l</a>",
	    "<a href=\"https://x.org/\" rel=\"noopener noreferrer\">l</a>");
	SAN("<a href=\"mailto:ed@example.org\">m</a>",
	    "<a href=\"mailto:ed@example.org\" rel=\"noopener noreferrer\">m</a>");
	SAN("<a href=\"HTTPS://X.org/Path\">u</a>",
	    "<a href=\"https://X.org/Path\" rel=\"noopener noreferrer\">u</a>");
	SAN("<a href=\"http://x.org/?a=1&amp;b=2\">q</a>",
	    "<a href=\"http://x.org/?a=1&amp;b=2\" rel=\"noopener noreferrer\">q</a>");
	/* line breaks inside a URL are ignored, as browsers do */
	SAN("<a href=\"http://x.org/a\nb\">nl</a>",
	    "<a href=\"http://x.org/ab\" rel=\"noopener noreferrer\">nl</a>");
	SAN("<a href=\" http://x.org/a b\">s</a>",
	    "<a href=\"http://x.org/a%20b\" rel=\"noopener noreferrer\">s</a>");
}

static void test_text_escaping(void)
{
	SAN("<p>a &lt;b&gt; \"q\" &amp;amp; 1 < 2</p>",
	    "<p>a &lt;b&gt; \"q\" &amp;amp; 1 &lt; 2</p>");
	SAN("plain & simple", "plain &amp; simple");
	SAN("a\x01" "b\x7f" "c", "abc");
	SAN("", "");
	char *s = td_html_sanitize(NULL, 0, NULL);
	CHECK_STR(s, "");
	free(s);
}

static void test_dropped(void)
{
	/* harmless wrappers go, their content stays */
	SAN("<center><font color=\"red\">big</font></center>", "big");
	SAN("<article><header>H</header><section><p>x</p></section></article>",
	    "H<p>x</p>");
	SAN("<p><mark>m</mark> <small>s</small> <ins>i</ins><del>d</del> "
	    "<time>t</time></p>", "<p>m s id t</p>");
	/* the spaces between inline tags are text */
	SAN("<p>x<sup>2</sup> <b>y</b> <mark>m</mark> <img src=\"http://x.org/i\"> z</p>",
	    "<p>x<sup>2</sup> <b>y</b> m <img src=\"http://x.org/i\"> z</p>");
	SAN("<custom-tag data-x=\"1\">c</custom-tag>", "c");
	/* comments, processing instructions, doctype */
	SAN("<!DOCTYPE html>a<!-- <script>x</script> -->b<?php echo 1; ?>c",
	    "abc");
	/* dangerous ones go with their content */
	SAN("<div><style>p{color:red}</style>text</div>", "<div>text</div>");
	SAN("<title>T</title><meta charset=\"x\"><link rel=\"stylesheet\" "
	    "href=\"http://x.org/s.css\"><base href=\"http://evil.org/\">ok",
	    "ok");
	/* noscript holds tracking pixels a mail client would load */
	SAN("<noscript><p>enable js</p><img src=\"http://x.org/px.gif\">"
	    "</noscript><template><p>t</p></template>"
	    "<math><mi>x</mi></math>ok", "ok");
	SAN("<select><option>o</option></select><textarea>t</textarea>ok", "ok");
}

/* What a mail client cannot play or run is replaced by the fallback
 * written for readers who cannot see it (feedparser keeps it too). */
static void test_fallback_content(void)
{
	SAN("safe<iframe src=\"http://example.com/\"> <b>description</b></iframe>",
	    "safe <b>description</b>");
	SAN("safe<object classid=\"clsid:C932BA85\"> <b>description</b>",
	    "safe <b>description</b>");
	SAN("<object data=\"x.swf\"><param name=\"movie\" value=\"x.swf\">"
	    "<embed src=\"x.swf\">fb</object><applet code=\"A\">ap</applet>ok",
	    "fbapok");
	SANB("<video src=\"v.mp4\" poster=\"p.jpg\"><source src=\"v.webm\">"
	     "<track src=\"v.vtt\">Watch <a href=\"v.mp4\">the video</a></video>",
	     "Watch <a href=\"http://example.org/a/b/v.mp4\" "
	     "rel=\"noopener noreferrer\">the video</a>");
	SAN("<audio src=\"a.mp3\" autoplay>no audio</audio>"
	    "<canvas width=\"9\">a chart</canvas>", "no audioa chart");
	SAN("<noembed><i>ne</i></noembed><noframes><i>nf</i></noframes>",
	    "<i>ne</i><i>nf</i>");
	/* libxml2 nests what follows a <source> inside it */
	SAN("<picture><source srcset=\"a.webp\" type=\"image/webp\">"
	    "<img src=\"http://x.org/a.jpg\" alt=\"A\"></picture> after",
	    "<img src=\"http://x.org/a.jpg\" alt=\"A\"> after");
}

/* A link without a usable target keeps its title, without href or rel. */
static void test_link_title(void)
{
	SAN("<a title=\"&amp;\">&amp;</a>", "<a title=\"&amp;\">&amp;</a>");
	SAN("<a title='\"test\"'>test</a>", "<a title=\"&quot;test&quot;\">test</a>");
	SAN("<a href=\"javascript:alert(1)\" title=\"t\" onclick=\"x()\">x</a>",
	    "<a title=\"t\">x</a>");
	/* no base: a relative href cannot be made absolute */
	SAN("<a href=\"foo\" title=\"t\">x</a>", "<a title=\"t\">x</a>");
	SAN("<a href=\"foo\">x</a>", "x");
	SAN("<a name=\"top\">x</a>", "x");
	SANB("<a href=\"foo\" title=\"t\">x</a>",
	     "<a href=\"http://example.org/a/b/foo\" title=\"t\" "
	     "rel=\"noopener noreferrer\">x</a>");
}

static void test_xss(void)
{
	SAN("<script>alert(1)</script><p>ok</p>", "<p>ok</p>");
	SAN("<SCRIPT SRC=\"http://evil.org/x.js\"></SCRIPT>ok", "ok");
	SAN("<img src=\"http://x.org/a.png\" onerror=\"alert(1)\" alt=\"A\">",
	    "<img src=\"http://x.org/a.png\" alt=\"A\">");
	SAN("<img src=x onerror=alert(1)>", "");
	SAN("<body onload=\"alert(1)\"><p>x</p></body>", "<p>x</p>");
	SAN("<p onclick=\"alert(1)\" onmouseover=\"x\">x</p>", "<p>x</p>");
	/* javascript: in every disguise, with and without a base */
	SAN("<a href=\"javascript:alert(1)\">x</a>", "x");
	SANB("<a href=\"JaVaScRiPt:alert(1)\">x</a>", "x");
	SANB("<a href=\"  javascript:alert(1)\">x</a>", "x");
	SANB("<a href=\"java\tscript:alert(1)\">x</a>", "x");
	SANB("<a href=\"java\nscr\ript:alert(1)\">x</a>", "x");
	SANB("<a href=\"java&#x09;script:alert(1)\">x</a>", "x");
	SANB("<a href=\"&#x6A;avascript:alert(1)\">x</a>", "x");
	SANB("<a href=\"&#106;&#97;vascript:alert(1)\">x</a>", "x");
	SANB("<a href=\"&#1;javascript:alert(1)\">x</a>", "x");
	SANB("<a href=\"jav\x01" "ascript:alert(1)\">x</a>", "x");
	SANB("<img src=\"JAVASCRIPT:alert(1)\">", "");
	SANB("<a href=\"vbscript:msgbox(1)\">x</a>", "x");
	SANB("<a href=\"data:text/html,&lt;script&gt;alert(1)&lt;/script&gt;\">x</a>",
	     "x");
	SANB("<img src=\"data:image/png;base64,iVBORw0KGgo=\">", "");
	SANB("<img src=\"file:///etc/passwd\">", "");
	SANB("<img src=\"mailto:a@b.org\">", "");
	SAN("<p style=\"width: expression(alert(1))\">x</p>", "<p>x</p>");
	SAN("<span style=\"background:url(javascript:alert(1))\">x</span>",
	    "<span>x</span>");
	/* the frame goes with its srcdoc and src; its fallback stays */
	SAN("<iframe srcdoc=\"&lt;script&gt;alert(1)&lt;/script&gt;\" "
	    "src=\"http://x.org/\">fallback</iframe>ok", "fallbackok");
	SAN("<iframe src=\"http://x.org/\"><script>alert(1)</script>"
	    "<b onclick=\"x()\">b</b></iframe>", "<b>b</b>");
	SAN("<svg onload=\"alert(1)\"><circle r=\"1\"/><script>x</script></svg>ok",
	    "ok");
	SAN("<svg><style><img src=x onerror=alert(1)></style></svg>ok", "ok");
	SAN("<form action=\"javascript:alert(1)\"><input name=\"x\">"
	    "<button formaction=\"javascript:alert(1)\">Go</button></form>after",
	    "after");
	/* an unknown entity stays text, so no scheme is formed: it is a
	 * relative path under the base, and its & is escaped */
	const char *colon = "<a href=\"javascript&colon;alert(1)\">x</a>";
	const char *want = "<a href=\"http://example.org/a/b/javascript&amp;colon;";
	char *s = td_html_sanitize(colon, strlen(colon), BASE);
	CHECK(strstr(s, "javascript:") == NULL);
	CHECK(strncmp(s, want, strlen(want)) == 0);
	free(s);
	/* attributes cannot break out of their quotes */
	SAN("<img src=\"http://x.org/a.png\" alt='\"><script>alert(1)</script>'>",
	    "<img src=\"http://x.org/a.png\" alt=\"&quot;&gt;&lt;script&gt;"
	    "alert(1)&lt;/script&gt;\">");
	SAN("<a href=\"http://x.org/\"onmouseover=\"alert(1)\">x</a>",
	    "<a href=\"http://x.org/\" rel=\"noopener noreferrer\">x</a>");
}

static void test_relative_urls(void)
{
	SANB("<a href=\"../x\">x</a>",
	     "<a href=\"http://example.org/a/x\" rel=\"noopener noreferrer\">x</a>");
	SANB("<img src=\"/i.png\" alt=\"\">",
	     "<img src=\"http://example.org/i.png\" alt=\"\">");
	SANB("<img src=\"pic.jpg\">",
	     "<img src=\"http://example.org/a/b/pic.jpg\">");
	SANB("<a href=\"//cdn.example.net/f\">f</a>",
	     "<a href=\"http://cdn.example.net/f\" rel=\"noopener noreferrer\">f</a>");
	SANB("<a href=\"?page=2#top\">n</a>",
	     "<a href=\"http://example.org/a/b/?page=2#top\" "
	     "rel=\"noopener noreferrer\">n</a>");
	/* non-ASCII paths are percent-encoded so they resolve */
	SANB("<a href=\"Москва\">M</a>",
	     "<a href=\"http://example.org/a/b/%D0%9C%D0%BE%D1%81%D0%BA%D0%B2%D0%B0\""
	     " rel=\"noopener noreferrer\">M</a>");
	/* without a base a relative URL means nothing: link becomes text,
	 * image goes */
	SAN("<a href=\"../x\">x</a><img src=\"/i.png\">", "x");
	/* a base that is not http(s) cannot make a relative URL safe */
	check_san("<a href=\"x\">x</a>", "javascript:alert(1)//", "x", __LINE__);
}

static void check_url(const char *in, const char *base, const char *want, int line)
{
	char *got = td_html_safe_url(in, base);
	if ((got == NULL) != (want == NULL) || (got && strcmp(got, want) != 0)) {
		td_test_failed++;
		fprintf(stderr, "%s:%d: td_html_safe_url(\"%s\")\n  got:  %s\n  want: %s\n",
			__FILE__, line, in ? in : "(null)", got ? got : "(null)",
			want ? want : "(null)");
	} else {
		td_test_passed++;
	}
	free(got);
}

/* A feed item's link becomes the post's URL through td_html_safe_url
 * (issue 9, item 8): one valid URL on one line, or nothing. */
static void test_safe_url(void)
{
	const char *base = "https://blog.test/tag/nato/feed/";
	check_url("https://blog.test/a/", NULL, "https://blog.test/a/", __LINE__);
	/* whitespace and controls around go; tab, CR, LF inside go */
	check_url(" \t\r\nhttps://blog.test/a/ \x01\n", NULL, "https://blog.test/a/", __LINE__);
	check_url("https://blog.test/2017/\r\nsplit/\tpost/", NULL,
		  "https://blog.test/2017/split/post/", __LINE__);
	check_url("ht\ntps://blog.test/a", NULL, "https://blog.test/a", __LINE__);
	/* any other control inside: not a URL */
	check_url("https://blog.test/a\x01" "b", NULL, NULL, __LINE__);
	check_url("https://blog.test/a\x7f" "b", NULL, NULL, __LINE__);
	check_url("https://blog.test/a\x1b[31m/", NULL, NULL, __LINE__);
	/* what a URI may not hold is percent-encoded; escapes stay */
	check_url("https://blog.test/a b/\"q\"/<x>/{y}|^`\\", NULL,
		  "https://blog.test/a%20b/%22q%22/%3Cx%3E/%7By%7D%7C%5E%60%5C", __LINE__);
	check_url("https://blog.test/%C3%A9/100%/", NULL, "https://blog.test/%C3%A9/100%25/",
		  __LINE__);
	check_url("https://blog.test/été", NULL, "https://blog.test/%C3%A9t%C3%A9", __LINE__);
	/* relative: resolved against the base, refused without one */
	check_url("/2017/a/", base, "https://blog.test/2017/a/", __LINE__);
	check_url("../../2017/a/", base, "https://blog.test/tag/2017/a/", __LINE__);
	check_url("/2017/a/", NULL, NULL, __LINE__);
	/* ".." never climbs into the host (uri.h); an IRI base resolves, and
	 * what it holds past ASCII is then percent-encoded */
	check_url("../../../../x", base, "https://blog.test/x", __LINE__);
	check_url("g", "https://blog.test/\xC3\xBC/feed", "https://blog.test/%C3%BC/g",
		  __LINE__);
	/* scheme lowercased; only http and https */
	check_url("HTTPS://blog.test/a", NULL, "https://blog.test/a", __LINE__);
	check_url("javascript:alert(1)", base, NULL, __LINE__);
	check_url("java\tscript:alert(1)", base, NULL, __LINE__);
	check_url("mailto:desk@blog.test", NULL, NULL, __LINE__);
	check_url("data:text/html,x", NULL, NULL, __LINE__);
	check_url("", base, NULL, __LINE__);
	check_url(" \r\n", base, NULL, __LINE__);
	check_url(NULL, base, NULL, __LINE__);
}

static void test_utf8(void)
{
	SAN("<p>Привет, 世界 🎉</p>", "<p>Привет, 世界 🎉</p>");
	SAN("\xEF\xBB\xBF" "bom", "bom");
	/* invalid bytes become U+FFFD, a NUL vanishes */
	char *s = td_html_sanitize("a\xff\xfe" "b\xc3", 5, NULL);
	CHECK_STR(s, "a\xEF\xBF\xBD\xEF\xBF\xBD" "b\xEF\xBF\xBD");
	CHECK(td_utf8_valid(s, strlen(s)));
	free(s);
	s = td_html_sanitize("<p>a\0b</p>", 10, NULL);
	CHECK_STR(s, "<p>ab</p>");
	free(s);
	/* an overlong '<' must not become markup */
	s = td_html_sanitize("\xc0\xbcscript\xc0\xbe", 10, NULL);
	CHECK(strchr(s, '<') == NULL);
	CHECK(td_utf8_valid(s, strlen(s)));
	free(s);
	/* a charset declaration in the content does not switch decoding */
	SAN("<meta charset=\"iso-8859-1\"><p>Grüße</p>", "<p>Grüße</p>");
}

static void test_bounds(void)
{
	/* 10,000 nested divs: quick, and at most 100 written, balanced */
	struct td_buf in = TD_BUF_INIT;
	for (int i = 0; i < 10000; i++)
		td_buf_puts(&in, "<div>");
	td_buf_puts(&in, "x");
	for (int i = 0; i < 10000; i++)
		td_buf_puts(&in, "</div>");
	clock_t t0 = clock();
	char *s = td_html_sanitize(in.data, in.len, NULL);
	double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
	CHECK(secs < 2.0);
	CHECK(count(s, "<div>") == 100);
	CHECK(count(s, "</div>") == 100);
	CHECK(balanced(s));
	free(s);
	char *t = td_html_to_text(in.data, in.len);
	CHECK(strlen(t) <= 1);
	free(t);
	td_buf_free(&in);

	/* deeper than 100 but within the parser's reach: the text survives */
	td_buf_init(&in, TD_BUF_NOLIMIT);
	for (int i = 0; i < 150; i++)
		td_buf_puts(&in, "<span>");
	td_buf_puts(&in, "deep");
	s = td_html_sanitize(in.data, in.len, NULL);
	CHECK(count(s, "<span>") == 100);
	CHECK(count(s, "</span>") == 100);
	CHECK(strstr(s, ">deep<") != NULL);
	free(s);
	td_buf_free(&in);

	/* Misnested hostile depth: libxml2's tree builder halted the parse
	 * past 256 open elements; the SAX recording keeps that cut, or each
	 * unmatched end tag scans an ever longer stack (N squared). */
	td_buf_init(&in, TD_BUF_NOLIMIT);
	for (int i = 0; i < 40000; i++)
		td_buf_puts(&in, "<b>");
	for (int i = 0; i < 40000; i++)
		td_buf_puts(&in, "</i>");
	t0 = clock();
	s = td_html_sanitize(in.data, in.len, NULL);
	secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
	CHECK(secs < 2.0);
	CHECK(balanced(s));
	free(s);
	td_buf_free(&in);
	/* the cut is where the tree's was: 300 open elements lose their
	 * text, 200 keep it */
	for (int pairs = 100; pairs <= 150; pairs += 50) {
		td_buf_init(&in, TD_BUF_NOLIMIT);
		for (int i = 0; i < pairs; i++)
			td_buf_puts(&in, "<b><i>");
		td_buf_puts(&in, "needle");
		for (int i = 0; i < pairs; i++)
			td_buf_puts(&in, "</i></b>");
		t = td_html_to_text(in.data, in.len);
		CHECK((strstr(t, "needle") != NULL) == (pairs == 100));
		free(t);
		td_buf_free(&in);
	}

	/* output stops at 4 MiB, between characters, and closes its tags */
	td_buf_init(&in, TD_BUF_NOLIMIT);
	td_buf_puts(&in, "<p>");
	for (int i = 0; i < 3 * 1024 * 1024 / 2; i++)
		td_buf_puts(&in, "é&");
	td_buf_puts(&in, "</p>");
	s = td_html_sanitize(in.data, in.len, NULL);
	size_t n = strlen(s);
	CHECK(n <= ((size_t)4 << 20) + 4);
	CHECK(n > ((size_t)4 << 20) - 8);
	CHECK(strncmp(s, "<p>é&amp;é", 12) == 0);
	CHECK(strcmp(s + n - 4, "</p>") == 0);
	CHECK(td_utf8_valid(s, n));
	CHECK(balanced(s));
	free(s);
	td_buf_free(&in);
}

static void test_to_text(void)
{
	TEXT("<p>One</p><p>Two  three\n four</p>", "One\n\nTwo three four");
	TEXT("<ul><li>a</li><li>b</li></ul><p>after</p>", "- a\n- b\n\nafter");
	TEXT("<ol><li><p>x</p></li><li></li><li>y</li></ol>", "- x\n- y");
	TEXT("<ul><li>a<ul><li>b</li></ul></li><li>c</li></ul>",
	     "- a\n  - b\n- c");
	TEXT("line1<br>line2<br><br>line3", "line1\nline2\n\nline3");
	TEXT("<p>a&nbsp;b &amp; c&#8217;s &lt;tag&gt;</p>",
	     "a b & c\xE2\x80\x99s <tag>");
	TEXT("<p>&nbsp;</p><p>x</p>", "x");
	TEXT("<script>x()</script><style>p{}</style><p>vis</p>", "vis");
	TEXT("<h1>Title</h1><div>Body <b>bold</b>, <i>it</i></div>",
	     "Title\n\nBody bold, it");
	TEXT("<p>x</p><pre>\n  a\n   b\n</pre><p>y</p>", "x\n\n  a\n   b\n\ny");
	TEXT("<p>see <img src=\"x\" alt=\" a  pic \"> here</p>", "see [a pic] here");
	TEXT("<p>a<img src=\"x\">b</p>", "ab");
	TEXT("<table><tr><td>a</td><td>b</td></tr><tr><td>c</td></tr></table>",
	     "a b\n\nc");
	TEXT("<blockquote>q</blockquote>tail", "q\n\ntail");
	TEXT("  \n <p>  lead and trail  </p>  \n", "lead and trail");
	TEXT("<p>Привет, 世界 🎉</p>", "Привет, 世界 🎉");
	TEXT("", "");
	char *s = td_html_to_text(NULL, 0);
	CHECK_STR(s, "");
	free(s);
}

static void test_excerpt(void)
{
	EXCERPT("<p>First <em>para</em>.</p><p>Second</p>", 0,
		"<p>First <em>para</em>.</p>", "First para.");
	/* paragraphs without text (a spacer, an image) are passed over */
	EXCERPT("<p>&nbsp;</p><p><img src=\"http://x.org/i.png\" alt=\"pic\"></p>"
		"<p>Real text</p>", 0, "<p>Real text</p>", "Real text");
	/* cut inside a word: back to the word boundary */
	EXCERPT("<p>The quick brown fox jumps</p>", 12,
		"<p>The quick…</p>", "The quick…");
	/* cut right at a space */
	EXCERPT("<p>The quick brown</p>", 9, "<p>The quick…</p>", "The quick…");
	/* exactly max: fits, markup kept */
	EXCERPT("<p>The <b>quick</b> brown</p>", 15,
		"<p>The <b>quick</b> brown</p>", "The quick brown");
	EXCERPT("<p>Supercalifragilistic</p>", 5, "<p>Super…</p>", "Super…");
	/* no punctuation left dangling before the ellipsis */
	EXCERPT("<p>One, two, three</p>", 5, "<p>One…</p>", "One…");
	/* cut: the markup kept up to the cut, the ellipsis inside what is
	 * open there, everything closed after it; never half a tag */
	EXCERPT("<p>Hello <a href=\"http://x.org/\">big <b>bold</b> world</a> "
		"again</p>", 14, "<p>Hello <a href=\"http://x.org/\" "
		"rel=\"noopener noreferrer\">big <b>bold…</b></a></p>",
		"Hello big bold…");
	EXCERPT("<p>Tom &amp; Jerry &lt;3 forever and ever</p>", 16,
		"<p>Tom &amp; Jerry &lt;3…</p>", "Tom & Jerry <3…");
	/* code points, not bytes */
	EXCERPT("<p>Привет мир как дела</p>", 8, "<p>Привет…</p>", "Привет…");
	EXCERPT("<p>🎉 party time</p>", 7, "<p>🎉 party…</p>", "🎉 party…");
	/* already-sanitized markup survives unchanged (rel not doubled) */
	EXCERPT("<p><a href=\"http://x.org/\" rel=\"noopener noreferrer\">l</a>"
		" and<br>more</p>", 0,
		"<p><a href=\"http://x.org/\" rel=\"noopener noreferrer\">l</a>"
		" and<br>more</p>", "l and more");
	/* no paragraph: the whole fragment, blocks flattened into the <p> */
	EXCERPT("<ul><li>One</li><li><em>Two</em></li></ul>", 0,
		"<p>One <em>Two</em></p>", "One Two");
	EXCERPT("<h2>Head</h2><div>Body</div>", 0, "<p>Head Body</p>",
		"Head Body");
	/* hostile input is sanitized again on the way */
	EXCERPT("<p>x<script>alert(1)</script><img src=x onerror=alert(1)></p>",
		0, "<p>x</p>", "x");
	EXCERPT("", 10, "", "");
	EXCERPT("<p> </p><img src=\"http://x.org/i.png\" alt=\"a\">", 10, "", "");

	char *html = NULL, *text = NULL;
	td_html_excerpt(NULL, 0, 0, &html, &text);
	CHECK_STR(html, "");
	CHECK_STR(text, "");
	free(html);
	free(text);

	/* the cut excerpt of nested markup is balanced at every length */
	const char *in = "<p><b>Bold <i>and <a href=\"http://x.org/\">linked "
			 "words</a> here</i></b> and then some more</p>";
	for (size_t max = 0; max < 50; max++) {
		td_html_excerpt(in, strlen(in), max, &html, &text);
		CHECK(balanced(html));
		CHECK(td_utf8_count(text, strlen(text)) <= max + 1 || max == 0);
		free(html);
		free(text);
	}
}

/* Issue 9 item 3: a cut excerpt keeps its markup, and says what the text
 * part says. */
static void test_cut_keeps_markup(void)
{
	/* the cut falls after an element: the ellipsis right after its text */
	EXCERPT("<p>The <b>quick</b> brown fox</p>", 9,
		"<p>The <b>quick…</b></p>", "The quick…");
	/* white space runs and <br> count as one space, as in the text */
	EXCERPT("<p>one   two<br>three four</p>", 13,
		"<p>one   two<br>three…</p>", "one two three…");
	/* an image before the cut stays; it has no text to count */
	EXCERPT("<p><img src=\"http://x.org/i.png\" alt=\"pic\">Caption words "
		"here</p>", 13, "<p><img src=\"http://x.org/i.png\" alt=\"pic\">"
		"Caption words…</p>", "Caption words…");
	/* no dangling punctuation, even across elements */
	EXCERPT("<p><i>One,</i> two</p>", 5, "<p><i>One…</i></p>", "One…");
	/* blocks in a fragment without paragraphs are spaces */
	EXCERPT("<ul><li>One</li><li><em>Two three</em></li></ul>", 7,
		"<p>One <em>Two…</em></p>", "One Two…");

	static const char *const in[] = {
		"<p>Hello <a href=\"http://x.org/\">big <b>bold</b> world</a> again, "
		"and <code>code</code> with &amp; entities &lt;here&gt;.</p>",
		"<p><b>Bold <i>and <a href=\"http://x.org/\">linked words</a> "
		"here</i></b> and then <br>some   more<br><br>text</p>",
		"<p>Привет <em>мир</em>, 🎉 <strong>party</strong> time&nbsp;&nbsp;now</p>",
		"<div><p>Lead</p></div><blockquote>quoted <q>words</q> here</blockquote>",
	};
	for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
		char *whole = NULL, *whole_text = NULL;
		td_html_excerpt(in[i], strlen(in[i]), 0, &whole, &whole_text);
		size_t total = td_utf8_count(whole_text, strlen(whole_text));
		for (size_t max = 1; max <= total + 1; max++) {
			char *html = NULL, *text = NULL, *again = NULL, *back = NULL;
			td_html_excerpt(in[i], strlen(in[i]), max, &html, &text);
			CHECK(balanced(html));
			/* the HTML's text is the text part's excerpt */
			td_html_excerpt(html, strlen(html), 0, NULL, &back);
			if (strcmp(back, text) != 0)
				fprintf(stderr, "  %s at %zu: html %s\n", in[i], max, html);
			CHECK_STR(back, text);
			/* cutting the stored whole excerpt gives the same */
			again = td_html_cut(whole, strlen(whole), max);
			CHECK_STR(again, html);
			char *cut_text = td_html_cut_text(whole_text, max);
			CHECK_STR(cut_text, text);
			CHECK(max >= total || strstr(html, "…") != NULL);
			free(cut_text);
			free(html);
			free(text);
			free(again);
			free(back);
		}
		free(whole);
		free(whole_text);
	}

	/* a first paragraph of 118 KB with markup throughout */
	struct td_buf big = TD_BUF_INIT;
	td_buf_puts(&big, "<p>");
	while (big.len < 118 * 1024)
		td_buf_puts(&big, "Some <em>emphasised</em> and <a href=\"http://x.org/\">"
			    "linked</a> words, ");
	td_buf_puts(&big, "end.</p>");
	char *html = td_html_cut(td_buf_cstr(&big), big.len, 280);
	CHECK(strlen(html) < 2000);
	CHECK(balanced(html));
	char *text = NULL;
	td_html_excerpt(html, strlen(html), 0, NULL, &text);
	CHECK(td_utf8_count(text, strlen(text)) <= 281);
	CHECK(strncmp(html, "<p>Some <em>emphasised</em> and <a href", 39) == 0);
	free(html);
	free(text);
	/* short enough: returned as it is */
	html = td_html_cut("<p>a <b>b</b></p>", 17, 3);
	CHECK_STR(html, "<p>a <b>b</b></p>");
	free(html);
	td_buf_free(&big);
}

/* The text part's cut (moved here from markdown.c: one cutter). */
static void test_cut_text(void)
{
	static const struct { const char *in; size_t max; const char *want; } cases[] = {
		/* the last space that keeps at most max code points */
		{ "one two three four", 9, "one two…" },
		{ "one two three four", 7, "one two…" },
		{ "one two three four", 18, "one two three four" },
		/* code points, not bytes */
		{ "äöü äöü äöü", 8, "äöü äöü…" },
		/* no punctuation before the ellipsis */
		{ "alpha, beta gamma", 8, "alpha…" },
		/* no boundary: cut inside the word */
		{ "Supercalifragilistic word", 5, "Super…" },
		/* one line: white space runs are one space, ends trimmed */
		{ "  a \t b\n\n c  ", 0, "a b c" },
		/* controls are not text (issue 9 item 10) */
		{ "red\x1b[31m alert\x0b\x7f here", 0, "red[31m alert here" },
		{ "", 5, "" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *got = td_html_cut_text(cases[i].in, cases[i].max);
		CHECK_STR(got, cases[i].want);
		free(got);
	}
}

/* The parser's path for a fragment the shortcut would take: a byte order
 * mark in front, which the shortcut leaves to the parser (html.c) and the
 * parser drops (test_utf8). malloc'd. */
static char *bom(const char *s)
{
	return td_xasprintf("\xEF\xBB\xBF%s", s);
}

/* Excerpts by the shortcut and by the parser; true when they agree. */
static bool same_excerpts(const char *safe, size_t max)
{
	char *fh, *ft, *sh, *st;
	char *slow_in = bom(safe);
	td_html_excerpt(safe, strlen(safe), max, &fh, &ft);
	td_html_excerpt(slow_in, strlen(slow_in), max, &sh, &st);
	free(slow_in);
	bool same = strcmp(fh, sh) == 0 && strcmp(ft, st) == 0;
	if (!same)
		fprintf(stderr, "  excerpt of \"%s\" (max %zu): shortcut \"%s\" / \"%s\", "
			"parser \"%s\" / \"%s\"\n", safe, max, fh, ft, sh, st);
	CHECK(same);
	free(fh);
	free(ft);
	free(sh);
	free(st);
	return same;
}

/* The shortcut for fragments without markup must give exactly what the
 * parser gives: a fixed list, then random strings built from the
 * characters that matter (references, whitespace, non-ASCII), each also
 * sent down the parser's path behind a byte order mark. */
/* A fragment of 1 to max_parts atoms picked by a small LCG (*seed), NUL
 * terminated, cut before the atom that would not fit in cap; its length. */
static size_t random_fragment(char *in, size_t cap, const char *const *atoms,
			      size_t natoms, int max_parts, unsigned *seed)
{
	size_t len = 0;
	in[0] = '\0';
	int parts = 1 + (int)((*seed = *seed * 1103515245u + 12345u) >> 16) % max_parts;
	for (int k = 0; k < parts; k++) {
		*seed = *seed * 1103515245u + 12345u;
		const char *a = atoms[(*seed >> 16) % natoms];
		size_t al = strlen(a);
		if (len + al >= cap)
			break;
		memcpy(in + len, a, al);
		len += al;
		in[len] = '\0';
	}
	return len;
}

static void test_plain_shortcut_matches_parser(void)
{
	static const char *const fixed[] = {
		"Summary of post 3 about the roadmap [&#8230;]", "Tom &amp; Jerry",
		"a &lt;b&gt; c", "&#x1F98A; fox", "x &quot;q&quot; &apos;a&apos;",
		"nbsp&nbsp;here", "trailing & ampersand", "   leading and trailing  ",
		"multi\nline\ttext", "\xc3\x9cml\xc3\xa4\xc3\xbct", "&#8217;", "&#X2019;",
		"&#0;", "&#150;", "&copy; 2026", "&#55296;", "   ", "a\r\nb", "&#;", "&#x;",
		"&amp", "5 > 3", "&#1114111;", "&#1114112;", "&#xD7FF;",
	};
	for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
		char *fast = td_html_sanitize(fixed[i], strlen(fixed[i]), NULL);
		char *slow_in = bom(fixed[i]);
		char *slow = td_html_sanitize(slow_in, strlen(slow_in), NULL);
		free(slow_in);
		if (strcmp(fast, slow) != 0)
			fprintf(stderr, "  input: \"%s\"\n", fixed[i]);
		CHECK_STR(fast, slow);
		free(fast);
		free(slow);
		same_excerpts(fixed[i], 8);
		same_excerpts(fixed[i], 0);
	}
	static const char *const atoms[] = {
		"a", "Z", " ", "  ", "\t", "\n", "&", "#", "x", ";", "1", "9", "f",
		"&#8230;", "&amp;", "&lt;", "&gt;", "&nbsp;", "&quot;", "\xc3\xa9",
		"\xe2\x80\x94", "\xf0\x9f\xa6\x8a", ">", "\"", "'", "&#x41;", "&#65;",
	};
	unsigned seed = 12345;
	size_t mismatches = 0;
	for (int n = 0; n < 3000; n++) {
		char in[256];
		size_t len = random_fragment(in, sizeof in, atoms,
					     sizeof atoms / sizeof atoms[0], 12, &seed);
		char *fast = td_html_sanitize(in, len, NULL);
		char *slow_in = bom(in);
		char *slow = td_html_sanitize(slow_in, strlen(slow_in), NULL);
		free(slow_in);
		if (strcmp(fast, slow) != 0 && mismatches++ < 5)
			fprintf(stderr, "  input \"%s\": shortcut \"%s\", parser \"%s\"\n",
				in, fast, slow);
		mismatches += !same_excerpts(fast, 6) + !same_excerpts(fast, 0);
		free(fast);
		free(slow);
	}
	CHECK(mismatches == 0);
}

/* The same for markup (html.c's fast path): what it reads of well-formed
 * HTML must be what libxml2's parser makes of it, and what it refuses
 * (markup the parser repairs) goes to the parser. A fixed list of
 * WordPress-like fragments and of the edges of what the fast path reads,
 * then random fragments of tags, attributes, references and text; each
 * sanitized, made text and cut to excerpts both ways. */
static bool same_both_ways(const char *in)
{
	char *slow_in = bom(in);
	char *fast = td_html_sanitize(in, strlen(in), BASE);
	char *slow = td_html_sanitize(slow_in, strlen(slow_in), BASE);
	char *fast_t = td_html_to_text(in, strlen(in));
	char *slow_t = td_html_to_text(slow_in, strlen(slow_in));
	bool same = strcmp(fast, slow) == 0 && strcmp(fast_t, slow_t) == 0;
	if (!same)
		fprintf(stderr, "  input \"%s\":\n    fast \"%s\" / \"%s\"\n"
			"    parser \"%s\" / \"%s\"\n", in, fast, fast_t, slow, slow_t);
	same = same_excerpts(in, 12) && same_excerpts(in, 0) &&
	       same_excerpts(fast, 7) && same;
	free(slow_in);
	free(fast);
	free(slow);
	free(fast_t);
	free(slow_t);
	return same;
}

static void test_markup_fast_path_matches_parser(void)
{
	static const char *const fixed[] = {
		"<p>One <a href=\"/x?a=1&#038;b=2\" title=\"T &amp; U\">link</a>, "
		"<em>em</em> &#8220;q&#8221;&nbsp;&#8230;</p>\n\n<p>Two</p>",
		"<figure class=\"wp-block-image\"><img decoding=\"async\" width=\"1024\" "
		"height=\"683\" src=\"https://e.test/a-1024x683.jpg\" alt=\"A &amp; B\" "
		"srcset=\"https://e.test/a-300x200.jpg 300w\" sizes=\"(max-width: 1024px) "
		"100vw\" /><figcaption class=\"wp-element-caption\">Cap</figcaption></figure>",
		"<ul class=\"wp-block-list\"><li>a</li><li>b <strong>c</strong></li></ul>",
		"<blockquote class=\"q\"><p>Q.</p><cite>W</cite></blockquote>",
		"<div class=\"wrap\">\n<iframe loading=\"lazy\" title=\"V\" src=\"https://y.test/e\" "
		"allowfullscreen></iframe>\n</div>",
		"<p>x</p><script async src=\"https://t.test/w.js\" charset=\"utf-8\"></script>",
		"<script>if (a < b) { x(\"</b>\"); }</script><p>after</p>",
		"<style>p{color:red}</style>text", "<h2 id=\"h-1\">Head</h2>",
		"<span style=\"color:#c00\" onclick=\"t()\">s</span>",
		"<a href=\"javascript:alert(1)\">j</a> <a href=\"mailto:a@b.test\">m</a>",
		"<img src=\"x.png\" alt=\"one\" alt=\"two\" SRC=\"y.png\">",
		"<a HREF='/q' Title=\"t\" data-id=\"4\" aria-label=\"l\">x</a>",
		"<p>a<div>b</div>c</p>", "<p>open", "<b>x<p>y</p></b>", "<li>a<li>b",
		"<p>x</p></div>", "<br/>a<br>b<hr/>c", "<p/>x", "<em>a</em >",
		"a < b", "a &bogus; b", "a &copy; b", "a &mdash b", "&#65", "&#0;",
		"<!-- c -->x", "<p>x</P>", "<P>x</p>", "<x-y>z</x-y>", "<o:p>z</o:p>",
		"<table><tr><td>c</td></tr></table>", "<pre>\nline\n  two</pre>",
		"<ol><li>1</li></ol><dl><dt>t</dt><dd>d</dd></dl>",
		"<a href=\"/a\" title>t</a>", "<img src=x.png>", "<p title=\"a\nb\">x</p>",
		"<a href=\"/&#x20;x\">s</a>", "<body>x</body>", "<p>x</p>\r\n<p>y</p>",
		"<span>\xc3\xa9\xe2\x80\x94\xf0\x9f\xa6\x8a</span>",
	};
	for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
		CHECK(same_both_ways(fixed[i]));
	static const char *const atoms[] = {
		"<p>", "</p>", "<div>", "</div>", "<a href=\"/l?x=1&amp;y=2\">", "</a>",
		"<a title='t'>", "<em>", "</em>", "<strong>", "</strong>", "<br>", "<br/>",
		"<img src=\"/i.png\" alt=\"i &amp; j\">", "<ul>", "</ul>", "<li>", "</li>",
		"<figure>", "</figure>", "<figcaption>", "</figcaption>", "<h2>", "</h2>",
		"<blockquote>", "</blockquote>", "<span class=\"c\">", "</span>",
		"<iframe src=\"https://v.test/\">", "</iframe>", "<script>x<y</script>",
		"<b>", "</b>", "<i>", "</i>", "<pre>", "</pre>", "<table>", "<td>",
		"<p/>", "text", " ", "\n", "&amp;", "&#8230;", "&nbsp;", "& ", "&eacute;",
		"\xc3\xa9", "<", ">", "\"", "&#x41;", "<!--c-->", "<hr>", "<dl>", "<dt>",
	};
	unsigned seed = 4242;
	size_t mismatches = 0;
	for (int n = 0; n < 3000; n++) {
		char in[512];
		random_fragment(in, sizeof in, atoms, sizeof atoms / sizeof atoms[0], 16, &seed);
		if (!same_both_ways(in) && mismatches++ >= 5)
			break;
	}
	CHECK(mismatches == 0);
}

int main(void)
{
	TD_RUN(test_allowed_markup);
	TD_RUN(test_text_escaping);
	TD_RUN(test_dropped);
	TD_RUN(test_fallback_content);
	TD_RUN(test_link_title);
	TD_RUN(test_xss);
	TD_RUN(test_relative_urls);
	TD_RUN(test_safe_url);
	TD_RUN(test_utf8);
	TD_RUN(test_bounds);
	TD_RUN(test_to_text);
	TD_RUN(test_excerpt);
	TD_RUN(test_cut_keeps_markup);
	TD_RUN(test_cut_text);
	TD_RUN(test_plain_shortcut_matches_parser);
	TD_RUN(test_markup_fast_path_matches_parser);
	return TD_DONE("html");
}
