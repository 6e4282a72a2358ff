/*
 * test_post.c: the keys that make one post of several sources' items
 * (post.h): which guids are global, and what a permalink loses when it is
 * normalised (and what it must keep).
 */
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "tagdigest/sources/post.h"

static void check(char *got, const char *in, const char *want, int line)
{
	if ((got == NULL) != (want == NULL) || (got && strcmp(got, want) != 0)) {
		td_test_failed++;
		fprintf(stderr, "%s:%d: key of \"%s\"\n  got:  %s\n  want: %s\n", __FILE__,
			line, in ? in : "(null)", got ? got : "(null)", want ? want : "(null)");
	} else {
		td_test_passed++;
	}
	free(got);
}

#define URL_KEY(in, want) check(td_post_url_key(in), in, want, __LINE__)
/* a guid with a link on its own site */
#define GUID_KEY(in, want) \
	check(td_post_guid_key(in, "https://blog.test/2017/a/"), in, want, __LINE__)
#define GUID_LINK_KEY(in, link, want) \
	check(td_post_guid_key(in, link), in, want, __LINE__)

static void test_url_key(void)
{
	/* scheme and host case, http/https, default ports, fragment, user info */
	URL_KEY("https://blog.test/2017/07/08/summit/", "//blog.test/2017/07/08/summit");
	URL_KEY("HTTP://Blog.TEST:80/2017/07/08/summit#more-42", "//blog.test/2017/07/08/summit");
	URL_KEY("https://blog.test:443/2017/07/08/summit/", "//blog.test/2017/07/08/summit");
	URL_KEY("https://blog.test:0443/a", "//blog.test/a");
	URL_KEY("https://editor@blog.test/a/", "//blog.test/a");
	/* a port that is not the default stays, and is not the default's */
	URL_KEY("http://blog.test:8080/a", "//blog.test:8080/a");
	URL_KEY("https://blog.test:80/a", "//blog.test:80/a");
	/* paths are case-sensitive; only the hex of escapes is folded */
	URL_KEY("https://blog.test/News/%c3%a9t%C3%A9/", "//blog.test/News/%C3%A9t%C3%A9");
	/* an empty path is "/"; the home page alone names no article */
	URL_KEY("https://blog.test", NULL);
	URL_KEY("https://blog.test/", NULL);
	URL_KEY("https://Blog.test/?utm_source=rss#top", NULL);
	URL_KEY("https://blog.test/#!/", NULL);
	URL_KEY("https://blog.test?p=1", "//blog.test/?p=1");
	/* a route in the fragment is a page, kept as written */
	URL_KEY("https://app.test/#!/a", "//app.test/#!/a");
	URL_KEY("https://app.test/#!/b", "//app.test/#!/b");
	URL_KEY("https://app.test/#/News/b/", "//app.test/#/News/b/");
	URL_KEY("https://app.test/x/?utm_source=y#/b", "//app.test/x#/b");
	URL_KEY("https://app.test/x/#more", "//app.test/x");
	/* utm_* go, the rest stays in order */
	URL_KEY("https://blog.test/?p=123&utm_source=feedburner&UTM_Medium=feed",
		"//blog.test/?p=123");
	URL_KEY("https://blog.test/a/?utm_source=x", "//blog.test/a");
	URL_KEY("https://blog.test/a?b=2&a=1&&utm_campaign=z#x", "//blog.test/a?b=2&a=1");
	URL_KEY("https://[2001:DB8::1]:443/a/", "//[2001:db8::1]/a");
	/* not an absolute http(s) URL with a host */
	URL_KEY("ftp://blog.test/a", NULL);
	URL_KEY("/2017/a/", NULL);
	URL_KEY("https:///a", NULL);
	URL_KEY("https:blog.test/a", NULL);
	URL_KEY("", NULL);
	URL_KEY(NULL, NULL);
}

static void test_guid_key(void)
{
	/* WordPress's guid: global; scheme, host and port folded only; the
	 * site of the item's link goes with it */
	GUID_KEY("https://blog.test/?p=123", "//blog.test/?p=123 //blog.test");
	GUID_KEY("http://Blog.Test:80/?p=123", "//blog.test/?p=123 //blog.test");
	/* the rest of a guid is compared exactly: comment guids differ by
	 * their fragment, and a trailing slash may matter to a CMS */
	GUID_KEY("https://blog.test/post/#comment-7", "//blog.test/post/#comment-7 //blog.test");
	GUID_KEY("https://blog.test/post/?utm_source=x", "//blog.test/post/?utm_source=x //blog.test");
	/* tag: and urn: ids are global by design */
	GUID_KEY("tag:blog.test,2017:post-42", "tag:blog.test,2017:post-42 //blog.test");
	GUID_KEY("TAG:blog.test,2017:Post-42", "tag:blog.test,2017:Post-42 //blog.test");
	GUID_KEY("urn:uuid:1225c695-cfb8-4ebb-aaaa-80da344efa6a",
		 "urn:uuid:1225c695-cfb8-4ebb-aaaa-80da344efa6a //blog.test");
	/* the link's site: www. or not, case, port and path aside */
	GUID_LINK_KEY("urn:uuid:1", "https://WWW.Blog.Test:8443/a/b", "urn:uuid:1 //blog.test");
	GUID_LINK_KEY("urn:uuid:1", "http://blog.test./", "urn:uuid:1 //blog.test");
	/* another site's guid next to a link of one's own: another key */
	GUID_LINK_KEY("https://site.test/?p=124", "https://evil.test/phish",
		      "//site.test/?p=124 //evil.test");
	GUID_LINK_KEY("https://site.test/?p=124", "https://site.test.evil.test/",
		      "//site.test/?p=124 //site.test.evil.test");
	GUID_LINK_KEY("https://site.test/?p=124", "https://www.site.test/2024/a/",
		      "//site.test/?p=124 //site.test");
	/* ids that only mean something inside their own source */
	GUID_KEY("1", NULL);
	GUID_KEY("42", NULL);
	GUID_KEY("summit.md", NULL);
	GUID_KEY("post-42", NULL);
	GUID_KEY("tag:", NULL);
	GUID_KEY("https:///?p=1", NULL);
	GUID_KEY("mailto:desk@blog.test", NULL);
	GUID_KEY("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", NULL);
	GUID_KEY(NULL, NULL);
	/* and none without a link to put it on */
	GUID_LINK_KEY("https://blog.test/?p=1", NULL, NULL);
	GUID_LINK_KEY("https://blog.test/?p=1", "/relative/", NULL);
	GUID_LINK_KEY("https://blog.test/?p=1", "ftp://blog.test/x", NULL);
}

int main(void)
{
	TD_RUN(test_url_key);
	TD_RUN(test_guid_key);
	return TD_DONE("post");
}
