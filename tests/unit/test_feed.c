/*
 * test_feed.c: the feed module (feed.h). Minimal documents of each dialect
 * read field by field through td_feed_dump_json (parsed back with
 * json_mini.h), the attacks BRIEF 5 describes (entity declarations, XXE,
 * nesting depth), encodings, and the mapping of entries to posts. The
 * feedparser conformance suite lives in tests/conformance/run_feeds.py.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "json_mini.h"
#include "tagdigest/sources/feed.h"

/* Parses xml and returns its dump as a JSON tree (NULL, and *rc set, when
 * td_feed_parse refuses it). */
static struct td_value *dump(const char *xml, size_t len, const char *base,
			  const char *ctype, int *rc, char **text)
{
	struct td_feed *f = NULL;
	struct td_err err = { 0, "" };
	*rc = td_feed_parse(xml, len, base, ctype, &f, &err);
	if (*rc)
		return NULL;
	struct td_buf b = TD_BUF_INIT;
	td_feed_dump_json(f, &b);
	td_feed_free(f);
	char jerr[160];
	struct td_value *j = json_parse(td_buf_cstr(&b), b.len, jerr, sizeof jerr);
	if (!j)
		fprintf(stderr, "invalid JSON (%s): %s\n", jerr, td_buf_cstr(&b));
	if (text)
		*text = td_buf_steal(&b);
	else
		td_buf_free(&b);
	return j;
}

/* "entries.0.links.1.href" */
static const struct td_value *at(const struct td_value *j, const char *path)
{
	char buf[256];
	snprintf(buf, sizeof buf, "%s", path);
	for (char *tok = strtok(buf, "."); tok && j; tok = strtok(NULL, ".")) {
		if (td_value_type(j) == TD_VALUE_LIST)
			j = td_value_list_at(j, strtoul(tok, NULL, 10));
		else
			j = td_value_map_get(j, tok);   /* NULL unless a map */
	}
	return j;
}

static const char *str_at(const struct td_value *j, const char *path)
{
	const struct td_value *n = at(j, path);
	return td_value_type(n) == TD_VALUE_STRING ? td_value_text(n) : NULL;
}

static double num_at(const struct td_value *j, const char *path)
{
	const struct td_value *n = at(j, path);
	return td_value_type(n) == TD_VALUE_NUMBER ? atof(td_value_text(n)) : -1;
}

static struct td_value *dumps(const char *xml, int *rc)
{
	return dump(xml, strlen(xml), NULL, NULL, rc, NULL);
}

static void test_rss20(void)
{
	const char *xml =
		"<?xml version=\"1.0\"?>\n"
		"<rss version=\"2.0\" xmlns:dc=\"http://purl.org/dc/elements/1.1/\"\n"
		"     xmlns:content=\"http://purl.org/rss/1.0/modules/content/\">\n"
		"<channel><title>Blog &amp; Co</title><link>https://blog.example.org/</link>\n"
		"<description>About things</description>\n"
		"<item><title>First post</title>\n"
		"<link>https://blog.example.org/1</link>\n"
		"<guid isPermaLink=\"false\">post-1</guid>\n"
		"<pubDate>Thu, 01 Jan 2004 19:48:21 GMT</pubDate>\n"
		"<dc:creator>Jane Doe</dc:creator>\n"
		"<category domain=\"http://x/\">News</category><category>EU</category>\n"
		"<description>Short &lt;b&gt;text&lt;/b&gt;</description>\n"
		"<content:encoded><![CDATA[<p>Full <em>text</em></p>]]></content:encoded>\n"
		"<enclosure url=\"https://blog.example.org/a.mp3\" length=\"123\" type=\"audio/mpeg\"/>\n"
		"</item></channel></rss>\n";
	int rc;
	struct td_value *j = dumps(xml, &rc);
	CHECK(rc == 0 && j);
	if (!j)
		return;
	CHECK(num_at(j, "bozo") == 0);
	CHECK_STR(str_at(j, "version"), "rss20");
	CHECK_STR(str_at(j, "encoding"), "utf-8");
	CHECK_STR(str_at(j, "feed.title"), "Blog & Co");
	CHECK_STR(str_at(j, "feed.link"), "https://blog.example.org/");
	CHECK_STR(str_at(j, "feed.subtitle"), "About things");
	CHECK_STR(str_at(j, "entries.0.title"), "First post");
	CHECK_STR(str_at(j, "entries.0.title_detail.type"), "text/plain");
	CHECK_STR(str_at(j, "entries.0.link"), "https://blog.example.org/1");
	CHECK_STR(str_at(j, "entries.0.id"), "post-1");
	CHECK(td_value_type(at(j, "entries.0.guidislink")) == TD_VALUE_BOOL &&
	      !td_value_get_bool(at(j, "entries.0.guidislink")));
	CHECK_STR(str_at(j, "entries.0.published"), "Thu, 01 Jan 2004 19:48:21 GMT");
	/* (2004, 1, 1, 19, 48, 21, 3, 1, 0) as feedparser's time tuple */
	CHECK(num_at(j, "entries.0.published_parsed.0") == 2004);
	CHECK(num_at(j, "entries.0.published_parsed.3") == 19);
	CHECK(num_at(j, "entries.0.published_parsed.6") == 3);
	CHECK(num_at(j, "entries.0.published_parsed.7") == 1);
	CHECK(at(j, "entries.0.updated") == NULL); /* absent keys are absent */
	CHECK_STR(str_at(j, "entries.0.author"), "Jane Doe");
	CHECK_STR(str_at(j, "entries.0.author_detail.name"), "Jane Doe");
	CHECK_STR(str_at(j, "entries.0.tags.0.term"), "News");
	CHECK_STR(str_at(j, "entries.0.tags.0.scheme"), "http://x/");
	CHECK_STR(str_at(j, "entries.0.tags.1.term"), "EU");
	CHECK_STR(str_at(j, "entries.0.summary"), "Short <b>text</b>");
	CHECK_STR(str_at(j, "entries.0.summary_detail.type"), "text/html");
	CHECK_STR(str_at(j, "entries.0.content.0.value"), "<p>Full <em>text</em></p>");
	CHECK_STR(str_at(j, "entries.0.content.0.type"), "text/html");
	CHECK_STR(str_at(j, "entries.0.links.1.rel"), "enclosure");
	CHECK_STR(str_at(j, "entries.0.links.1.href"), "https://blog.example.org/a.mp3");
	CHECK_STR(str_at(j, "entries.0.links.1.length"), "123");
	td_value_free(j);
}

static void test_rss10(void)
{
	const char *xml =
		"<?xml version=\"1.0\"?>\n"
		"<rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\"\n"
		"  xmlns=\"http://purl.org/rss/1.0/\" xmlns:dc=\"http://purl.org/dc/elements/1.1/\">\n"
		"<channel rdf:about=\"http://rdf.example.org/\"><title>RDF Site</title>\n"
		"<link>http://rdf.example.org/</link><description>d</description></channel>\n"
		"<item rdf:about=\"http://rdf.example.org/1\"><title>Caf\xc3\xa9 item</title>\n"
		"<link>http://rdf.example.org/1</link><dc:date>2003-12-31T10:14:55Z</dc:date>\n"
		"<dc:subject>Food</dc:subject><dc:creator>Bob</dc:creator>\n"
		"<description>Plain</description></item></rdf:RDF>\n";
	int rc;
	struct td_value *j = dumps(xml, &rc);
	CHECK(rc == 0 && j);
	if (!j)
		return;
	CHECK_STR(str_at(j, "version"), "rss10");
	CHECK_STR(str_at(j, "feed.title"), "RDF Site");
	CHECK_STR(str_at(j, "entries.0.id"), "http://rdf.example.org/1");
	CHECK_STR(str_at(j, "entries.0.title"), "Caf\xc3\xa9 item");
	CHECK_STR(str_at(j, "entries.0.updated"), "2003-12-31T10:14:55Z");
	CHECK(num_at(j, "entries.0.updated_parsed.7") == 365);
	CHECK_STR(str_at(j, "entries.0.tags.0.term"), "Food");
	CHECK_STR(str_at(j, "entries.0.author"), "Bob");
	CHECK_STR(str_at(j, "entries.0.summary"), "Plain");
	td_value_free(j);
}

static void test_atom(void)
{
	const char *xml =
		"<feed xmlns=\"http://www.w3.org/2005/Atom\" xml:base=\"http://atom.example.org/blog/\">\n"
		"<title type=\"html\">Atom &lt;i&gt;Example&lt;/i&gt;</title>\n"
		"<link rel=\"self\" href=\"/feed.xml\"/><link href=\"./\"/>\n"
		"<entry><title type=\"xhtml\"><div xmlns=\"http://www.w3.org/1999/xhtml\">A <b>bold</b> title</div></title>\n"
		"<id>tag:example.org,2024:1</id>\n"
		"<link rel=\"alternate\" type=\"text/html\" href=\"2024/one\"/>\n"
		"<link rel=\"enclosure\" href=\"a.mp4\" type=\"video/mp4\"/>\n"
		"<published>2024-05-01T08:00:00+02:00</published><updated>2024-05-02T00:00:00Z</updated>\n"
		"<author><name>Ann</name><email>ann@example.org</email></author>\n"
		"<category term=\"t1\" scheme=\"http://s/\" label=\"Tag One\"/>\n"
		"<summary>Sum</summary>\n"
		"<content type=\"html\">&lt;p&gt;&lt;a href=\"rel/x\"&gt;x&lt;/a&gt;&lt;/p&gt;</content>\n"
		"</entry></feed>\n";
	int rc;
	struct td_value *j = dumps(xml, &rc);
	CHECK(rc == 0 && j);
	if (!j)
		return;
	CHECK_STR(str_at(j, "version"), "atom10");
	CHECK_STR(str_at(j, "feed.title_detail.type"), "text/html");
	CHECK_STR(str_at(j, "feed.link"), "http://atom.example.org/blog/");
	CHECK_STR(str_at(j, "feed.links.0.rel"), "self");
	CHECK_STR(str_at(j, "feed.links.0.href"), "http://atom.example.org/feed.xml");
	CHECK_STR(str_at(j, "entries.0.title_detail.type"), "application/xhtml+xml");
	CHECK(str_at(j, "entries.0.title") && strstr(str_at(j, "entries.0.title"), "<b>bold</b>"));
	CHECK_STR(str_at(j, "entries.0.id"), "tag:example.org,2024:1");
	CHECK_STR(str_at(j, "entries.0.link"), "http://atom.example.org/blog/2024/one");
	CHECK_STR(str_at(j, "entries.0.links.1.href"), "http://atom.example.org/blog/a.mp4");
	CHECK(num_at(j, "entries.0.published_parsed.3") == 6); /* 08:00+02:00 in UTC */
	CHECK(num_at(j, "entries.0.updated_parsed.2") == 2);
	CHECK_STR(str_at(j, "entries.0.author"), "Ann (ann@example.org)");
	CHECK_STR(str_at(j, "entries.0.author_detail.email"), "ann@example.org");
	CHECK_STR(str_at(j, "entries.0.tags.0.label"), "Tag One");
	CHECK_STR(str_at(j, "entries.0.summary"), "Sum");
	const char *c = str_at(j, "entries.0.content.0.value");
	CHECK(c && strstr(c, "href=\"http://atom.example.org/blog/rel/x\""));
	CHECK_STR(str_at(j, "entries.0.content.0.base"), "http://atom.example.org/blog/");
	td_value_free(j);

	/* Atom 0.3 */
	j = dumps("<feed version=\"0.3\" xmlns=\"http://purl.org/atom/ns#\"><entry>"
		  "<title>T</title><issued>2003-12-31T10:14:55Z</issued></entry></feed>", &rc);
	CHECK(rc == 0 && j);
	CHECK_STR(str_at(j, "version"), "atom03");
	CHECK(num_at(j, "entries.0.published_parsed.0") == 2003);
	td_value_free(j);
}

static bool contains(const char *hay, const char *needle)
{
	return hay && strstr(hay, needle) != NULL;
}

/* td_feed_parse's verdict and message on xml (NULL feed when refused). */
static int parse_msg(const char *xml, size_t len, char *msg, size_t msgsz)
{
	struct td_feed *f = NULL;
	struct td_err err = { 0, "" };
	int rc = td_feed_parse(xml, len, NULL, NULL, &f, &err);
	snprintf(msg, msgsz, "%s", err.msg);
	td_feed_free(f);
	return rc;
}

/* n references to entity `name` in a title, after the DTD `decls`. */
static char *entity_doc(const char *decls, const char *name, int n)
{
	struct td_buf b = TD_BUF_INIT;
	td_buf_printf(&b, "<!DOCTYPE rss [\n%s]>\n<rss version=\"2.0\"><channel><title>",
		      decls);
	for (int i = 0; i < n; i++)
		td_buf_printf(&b, "&%s;", name);
	td_buf_puts(&b, "</title></channel></rss>\n");
	return td_buf_steal(&b);
}

/* Declarations of ten levels of entities, each referencing the one below
 * ten times, down to `leaf`: billion laughs, named name0..name9. */
static void laughs_decls(struct td_buf *d, const char *name, const char *leaf)
{
	td_buf_printf(d, " <!ENTITY %s0 \"%s\">\n", name, leaf);
	for (int i = 1; i < 10; i++) {
		td_buf_printf(d, " <!ENTITY %s%d \"", name, i);
		for (int k = 0; k < 10; k++)
			td_buf_printf(d, "&%s%d;", name, i - 1);
		td_buf_puts(d, "\">\n");
	}
}

/* A declaration of entity `big`: n bytes of 'x'. */
static void big_decl(struct td_buf *d, int n)
{
	td_buf_puts(d, " <!ENTITY big \"");
	for (int i = 0; i < n; i++)
		td_buf_putc(d, 'x');
	td_buf_puts(d, "\">\n");
}

/* Entities a document declares are expanded by feed.c, bounded; an
 * external one is never loaded. */
static void test_entities(void)
{
	int rc;
	char *text = NULL;
	char msg[256];

	/* feedparser's entity_in_doctype.xml: a declared entity is read */
	const char *id =
		"<!DOCTYPE rss [\n  <!ENTITY id \"tag:example.com,\">\n]>\n"
		"<rss version=\"2.0\"><channel><item>"
		"<guid isPermaLink='false'>&id;2006-05-04:/blog/</guid>"
		"</item></channel></rss>";
	struct td_value *j = dumps(id, &rc);
	CHECK(rc == 0 && j);
	CHECK_STR(str_at(j, "entries.0.id"), "tag:example.com,2006-05-04:/blog/");
	CHECK(num_at(j, "bozo") == 0);
	td_value_free(j);

	/* nested, with markup, in attributes (quotes escaped: "included in
	 * literal"), and not inside CDATA sections or comments */
	const char *nested =
		"<!DOCTYPE rss [\n"
		" <!ENTITY site \"https://blog.example.org\">\n"
		" <!ENTITY post \"&site;/2006/&#38;#38;x\">\n"
		" <!ENTITY q '\"&lt;'>\n"
		" <!ENTITY em \"<em>new</em> &amp; old\">\n"
		"]>\n<rss version=\"2.0\"><channel><title>t</title><item>"
		"<title>&em;</title><link>&post;</link>"
		"<description><![CDATA[&em; as written]]><!-- &nope; --></description>"
		"<enclosure url=\"&site;/a.mp3\" type='a&q;b' length=\"1\"/>"
		"</item></channel></rss>";
	j = dumps(nested, &rc);
	CHECK(rc == 0 && j);
	CHECK_STR(str_at(j, "entries.0.link"), "https://blog.example.org/2006/&x");
	CHECK_STR(str_at(j, "entries.0.title"), "<em>new</em> &amp; old");
	CHECK_STR(str_at(j, "entries.0.summary"), "&amp;em; as written");
	CHECK_STR(str_at(j, "entries.0.links.1.href"), "https://blog.example.org/a.mp3");
	CHECK_STR(str_at(j, "entries.0.links.1.type"), "a\"<b");
	CHECK(num_at(j, "bozo") == 0);
	td_value_free(j);

	/* the subset is gone but its lines are not: an error after it is
	 * reported on its own line (6) */
	const char *lines =
		"<!DOCTYPE rss [\n<!ENTITY a \"A\">\n\n<!ENTITY b \"B\">\n]>\n"
		"<rss version=\"2.0\"><channel><title>&a;&b;</title></chanel></rss>";
	j = dump(lines, strlen(lines), NULL, NULL, &rc, &text);
	CHECK(rc == 0 && j);
	CHECK(num_at(j, "bozo") == 1);
	CHECK(contains(str_at(j, "bozo_exception"), "line 6"));
	CHECK_STR(str_at(j, "feed.title"), "AB");
	td_value_free(j);
	free(text);

	/* comments and PIs around and inside the DTD may hold markup and ']';
	 * a parameter entity inside a declaration stops the reading there */
	const char *odd =
		"<?xml version=\"1.0\"?>\n"
		"<!-- <b>markup</b> and <!DOCTYPE x [ ]> -->\n<?pi ] ?>\n"
		"<!DOCTYPE rss [\n<!-- ] -->\n<?pi ]?>\n<!ENTITY a \"A]\">\n"
		"<!ELEMENT x (%inline;)*>\n<!ENTITY b \"B\">\n]>\n"
		"<rss version=\"2.0\"><channel><title>&a;&b;</title></channel></rss>";
	j = dumps(odd, &rc);
	CHECK(rc == 0 && j);
	CHECK_STR(str_at(j, "feed.title"), "A]&b;");
	CHECK(contains(str_at(j, "bozo_exception"), "line 11: Entity 'b' not defined"));
	td_value_free(j);

	/* billion laughs: ten levels of ten */
	struct td_buf d = TD_BUF_INIT;
	laughs_decls(&d, "lol", "lol");
	char *laughs = entity_doc(td_buf_cstr(&d), "lol9", 1);
	CHECK(parse_msg(laughs, strlen(laughs), msg, sizeof msg) == EX_DATAERR);
	CHECK(contains(msg, "more than 100000 entity references"));
	free(laughs);
	td_buf_free(&d);

	/* the same with empty leaves: no growth, but the work is bounded */
	laughs_decls(&d, "e", "");
	char *empty = entity_doc(td_buf_cstr(&d), "e9", 1);
	CHECK(parse_msg(empty, strlen(empty), msg, sizeof msg) == EX_DATAERR);
	CHECK(contains(msg, "entity references"));
	free(empty);
	td_buf_free(&d);

	/* quadratic: 50 KB referenced 2,000 times would be 100 MB; the
	 * expansion stops at the bound (1 MiB), and the feed is bozo */
	big_decl(&d, 50000);
	char *quad = entity_doc(td_buf_cstr(&d), "big", 2000);
	j = dump(quad, strlen(quad), NULL, NULL, &rc, NULL);
	CHECK(rc == 0 && j);
	CHECK(num_at(j, "bozo") == 1);
	CHECK(contains(str_at(j, "bozo_exception"), "expand to more than 1048576 bytes"));
	const char *qt = str_at(j, "feed.title");
	CHECK(qt && strlen(qt) <= ((size_t)1 << 20) + 2000 * 3);
	td_value_free(j);
	free(quad);
	td_buf_free(&d);
	/* ... while 20 references to it are fine */
	big_decl(&d, 50000);
	char *ok = entity_doc(td_buf_cstr(&d), "big", 20);
	j = dump(ok, strlen(ok), NULL, NULL, &rc, NULL);
	CHECK(rc == 0 && j);
	const char *title = str_at(j, "feed.title");
	CHECK(title && strlen(title) == 20 * 50000);
	td_value_free(j);
	free(ok);
	td_buf_free(&d);

	/* loops */
	char *self = entity_doc(" <!ENTITY a \"x&b;\"> <!ENTITY b \"&a;\">\n", "a", 1);
	CHECK(parse_msg(self, strlen(self), msg, sizeof msg) == EX_DATAERR);
	CHECK(contains(msg, "refers to itself"));
	free(self);

	/* XXE: an external entity is never loaded; the rest is read */
	const char *xxe =
		"<?xml version=\"1.0\"?>\n<!DOCTYPE rss [ <!ENTITY xxe SYSTEM \"file:///etc/passwd\">"
		" <!ENTITY ok \"fine\"> ]>\n"
		"<rss version=\"2.0\"><channel><title>&ok;&xxe;</title><item><title>&xxe;x</title>"
		"<link>http://x/</link></item></channel></rss>\n";
	j = dump(xxe, strlen(xxe), NULL, NULL, &rc, &text);
	CHECK(rc == 0 && j);
	CHECK(text && !strstr(text, "root:"));
	CHECK_STR(str_at(j, "feed.title"), "fine");
	CHECK_STR(str_at(j, "entries.0.title"), "x");
	CHECK(num_at(j, "bozo") == 1);
	CHECK(contains(str_at(j, "bozo_exception"), "external entity 'xxe' was not loaded"));
	td_value_free(j);
	free(text);

	/* the same through the recovery path (ill-formed on purpose) */
	const char *xxe2 =
		"<!DOCTYPE rss [ <!ENTITY xxe SYSTEM \"file:///etc/passwd\"> ]>\n"
		"<rss version=\"2.0\"><channel><title>&xxe; &bogus;</title></channel></rss";
	j = dump(xxe2, strlen(xxe2), NULL, NULL, &rc, &text);
	CHECK(rc == 0 && j);
	CHECK(text && !strstr(text, "root:"));
	CHECK(num_at(j, "bozo") == 1);
	td_value_free(j);
	free(text);

	/* an external parameter entity is not loaded either, and what is
	 * declared after its reference is not read (XML 4.4.8), while what
	 * comes before is */
	const char *dtd_path = "/tmp/td-test-feed-entities.dtd";
	FILE *fp = fopen(dtd_path, "w");
	CHECK(fp != NULL);
	if (fp) {
		fputs("<!ENTITY leak \"SECRET\">\n", fp);
		fclose(fp);
	}
	const char *pe_ext =
		"<!DOCTYPE rss [\n <!ENTITY before \"B\">\n"
		" <!ENTITY % ext SYSTEM \"file:///tmp/td-test-feed-entities.dtd\">\n"
		" %ext;\n <!ENTITY after \"A\">\n]>\n"
		"<rss version=\"2.0\"><channel><title>&before;&leak;&after;</title></channel></rss>";
	j = dump(pe_ext, strlen(pe_ext), NULL, NULL, &rc, &text);
	CHECK(rc == 0 && j);
	CHECK(text && !strstr(text, "SECRET"));
	CHECK_STR(str_at(j, "feed.title"), "B&leak;&after;");
	td_value_free(j);
	free(text);
	unlink(dtd_path);

	/* internal parameter entities are not expanded: libxml2 would parse
	 * this one again at each of its 200 references (200 MB) */
	struct td_buf pe = TD_BUF_INIT;
	td_buf_puts(&pe, "<!DOCTYPE rss [ <!ENTITY % c \"<!--");
	for (int i = 0; i < 1000000; i++)
		td_buf_putc(&pe, 'x');
	td_buf_puts(&pe, "-->\"> ");
	for (int i = 0; i < 200; i++)
		td_buf_puts(&pe, "%c; ");
	td_buf_puts(&pe, "<!ENTITY % d \"<!ENTITY e 'boom'>\"> %d; ]>\n"
			 "<rss version=\"2.0\"><channel><title>t&e;</title></channel></rss>");
	j = dump(td_buf_cstr(&pe), pe.len, NULL, NULL, &rc, &text);
	CHECK(rc == 0 && j);
	CHECK(text && !strstr(text, "boom"));
	CHECK_STR(str_at(j, "feed.title"), "t&e;");
	td_value_free(j);
	free(text);
	td_buf_free(&pe);
}

struct url_count {
	const char *prefix;
	size_t n, wrong;
	bool last;       /* the item after the bound that uses no entity */
};

static int count_urls(void *ctx, const struct td_post *p, struct td_err *err)
{
	(void)err;
	struct url_count *c = ctx;
	c->n++;
	if (strcmp(p->url, "https://other.test/last/") == 0)
		c->last = true;
	else if (strncmp(p->url, c->prefix, strlen(c->prefix)) != 0)
		c->wrong++;
	return 0;
}

/* A feed that declares its long address once (200 bytes) and writes it in
 * every link grows past the bound on its entities: it is read up to
 * there, expanded; past it, what uses an entity is reported and skipped
 * (it is not stored with half a link) and the rest is still read. The
 * bound itself holds: what the expansion adds stays under it. */
static void test_entities_growth_bound(void)
{
	struct td_buf pre = TD_BUF_INIT, b = TD_BUF_INIT;
	td_buf_puts(&pre, "https://www.example-newsroom.test/");
	while (pre.len < 200)
		td_buf_puts(&pre, "archive/");
	td_buf_printf(&b, "<!DOCTYPE rss [<!ENTITY u \"%s\">]>\n"
		      "<rss version=\"2.0\"><channel><title>t</title>\n", td_buf_cstr(&pre));
	for (int i = 0; i < 8000; i++)
		td_buf_printf(&b, "<item><title>P%d</title><link>&u;%d/</link>"
			      "<guid isPermaLink=\"false\">&u;%d/</guid></item>\n", i, i, i);
	td_buf_puts(&b, "<item><title>Last</title><link>https://other.test/last/</link></item>\n"
			"</channel></rss>\n");
	int rc;
	char *text = NULL;
	struct td_value *j = dump(b.data, b.len, NULL, NULL, &rc, &text);
	CHECK(rc == 0 && j);
	CHECK(num_at(j, "bozo") == 1);
	CHECK(contains(str_at(j, "bozo_exception"), "entities expand to more than"));
	CHECK(contains(str_at(j, "bozo_exception"), "from line "));
	char *first = td_xasprintf("%s0/", td_buf_cstr(&pre));
	CHECK_STR(str_at(j, "entries.0.link"), first);
	CHECK_STR(str_at(j, "entries.8000.title"), "Last");
	/* the growth stayed within the bound: 1 MiB, plus the document */
	CHECK(text && strlen(text) < 2 * ((size_t)1 << 20) + 4 * b.len);
	free(first);
	td_value_free(j);
	free(text);

	/* laughs with 1 KB leaves pass the growth bound before the bound on
	 * references: expanded up to there, then not at all, however many
	 * references follow */
	struct td_buf leaf = TD_BUF_INIT, d = TD_BUF_INIT;
	while (leaf.len < 1000)
		td_buf_puts(&leaf, "ha");
	laughs_decls(&d, "lol", td_buf_cstr(&leaf));
	char *laughs = entity_doc(td_buf_cstr(&d), "lol9", 20000);
	j = dump(laughs, strlen(laughs), NULL, NULL, &rc, NULL);
	CHECK(rc == 0 && j);
	CHECK(num_at(j, "bozo") == 1);
	const char *lt = str_at(j, "feed.title");
	CHECK(lt && strlen(lt) <= 20000 * 3);
	td_value_free(j);
	free(laughs);
	td_buf_free(&leaf);
	td_buf_free(&d);

	struct td_feed *f = NULL;
	struct td_err err = { 0, "" };
	CHECK(td_feed_parse(b.data, b.len, "https://www.example-newsroom.test/feed/", NULL, &f,
			    &err) == 0);
	if (f) {
		struct td_source_config src;
		memset(&src, 0, sizeof src);
		src.name = (char *)"big";
		src.type = (char *)"feed";
		struct url_count c = { td_buf_cstr(&pre), 0, 0, false };
		size_t nbad = 0;
		capture_start();
		rc = td_feed_posts(f, &src, count_urls, &c, &nbad, &err);
		const char *log = capture_end();
		CHECK(rc == 0);
		CHECK(c.wrong == 0 && c.last);
		CHECK(c.n > 1000 && nbad > 0 && c.n + nbad == 8001);
		/* one warning for them all, naming the first and the line */
		char *want = td_xasprintf("source 'big': %zu items (the first: item %zu) use "
					  "entities past the feed's expansion bound (line ",
					  nbad, c.n);
		CHECK(contains(log, want));
		CHECK(strchr(log, '\n') == log + strlen(log) - 1);
		free(want);
		td_feed_free(f);
	}
	td_buf_free(&pre);
	td_buf_free(&b);
}

/* An entity's line breaks do not move the lines libxml2 reports after
 * its references, and the text still holds them where XML keeps them. */
static void test_entities_lines(void)
{
	const char *xml =
		"<!DOCTYPE rss [\n<!ENTITY nl \"a\nb\nc\">\n"
		"<!ENTITY cd \"<![CDATA[x\ny]]><b\nclass='k\nl'>z</b><!-- c\nd -->\">\n]>\n"
		"<rss version=\"2.0\"><channel><title>&nl;&nl;|&cd;</title>\n"
		"<link>http://e.x/</link><item><title t=\"&nl;\">&nl;</title>\n"
		"<link>http://e.x/</link></itemz>\n</channel></rss>";
	int rc;
	char *text = NULL;
	struct td_value *j = dump(xml, strlen(xml), NULL, NULL, &rc, &text);
	CHECK(rc == 0 && j);
	/* the </itemz> is on line 13, the <item> it does not close on 12 */
	CHECK(contains(str_at(j, "bozo_exception"),
		       "line 13: Opening and ending tag mismatch: item line 12 and itemz"));
	CHECK_STR(str_at(j, "feed.title"), "a\nb\nca\nb\nc|x\ny<b>z</b>");
	CHECK_STR(str_at(j, "entries.0.title"), "a\nb\nc");
	td_value_free(j);
	free(text);
}

/* A feed that declares "nbsp" and writes it 150,000 times is read:
 * only references inside entities count against the bound (the
 * document's own are bounded by its size), so laughs still do not. */
static void test_entities_many_refs(void)
{
	struct td_buf b = TD_BUF_INIT;
	td_buf_puts(&b, "<!DOCTYPE rss [<!ENTITY nbsp \"&#160;\">]>\n"
			"<rss version=\"2.0\"><channel><title>t</title>\n");
	for (int i = 0; i < 500; i++) {
		td_buf_printf(&b, "<item><title>P%d</title><link>https://a.example/%d</link>"
			      "<description>", i, i);
		for (int k = 0; k < 300; k++)
			td_buf_puts(&b, "a&nbsp;");
		td_buf_puts(&b, "</description></item>\n");
	}
	td_buf_puts(&b, "</channel></rss>\n");
	int rc;
	struct td_value *j = dump(b.data, b.len, NULL, NULL, &rc, NULL);
	CHECK(rc == 0 && j);
	CHECK_STR(str_at(j, "entries.499.title"), "P499");
	const char *d = str_at(j, "entries.499.summary");
	CHECK(d && strncmp(d, "a\xc2\xa0" "a\xc2\xa0", 6) == 0);
	td_value_free(j);
	td_buf_free(&b);
}

/* A fault libxml2 reports outside the parser (an "amp" declared as
 * something else) is the feed's bozo message, not a line on stderr that
 * names no source; the declaration itself is never used. */
static void test_entities_stray_error(void)
{
	const char *xml =
		"<!DOCTYPE rss [<!ENTITY amp \"x\"><!ENTITY a \"A\">]>"
		"<rss version=\"2.0\"><channel><title>&a;&amp;</title></channel></rss>";
	int rc;
	capture_start();
	struct td_value *j = dumps(xml, &rc);
	const char *err = capture_end();
	CHECK_STR(err, "");
	CHECK(rc == 0 && j);
	CHECK_STR(str_at(j, "feed.title"), "A&");
	CHECK(num_at(j, "bozo") == 1);
	CHECK(contains(str_at(j, "bozo_exception"), "invalid redeclaration of predefined entity"));
	td_value_free(j);
}

/* Whether td_feed_parse returns on xml at all (refused or not), in a
 * child that a watchdog kills after `guard` seconds: a hang guard for
 * inputs that would take hours, not a measure of speed (the benchmarks
 * measure that). */
static bool parse_returns(const char *xml, size_t len, unsigned guard)
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		alarm(guard);
		struct td_feed *f = NULL;
		struct td_err err = { 0, "" };
		int rc = td_feed_parse(xml, len, NULL, NULL, &f, &err);
		td_feed_free(f);
		_exit(rc == 0 || rc == EX_DATAERR ? 0 : 1);
	}
	int status = 0;
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return false;
	if (WIFSIGNALED(status))
		fprintf(stderr, "parse_returns: killed by signal %d\n", WTERMSIG(status));
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* A comment or PI that never ends in the internal subset swallows the
 * rest of the document: the scan for the subset's end must not search
 * the rest again from each "<?" or "<!--" (1 MB of them took minutes). */
static void test_entities_unterminated_markup(void)
{
	static const char *const opens[] = { "<?", "<!--" };
	for (size_t k = 0; k < 2; k++) {
		struct td_buf b = TD_BUF_INIT;
		td_buf_puts(&b, "<?xml version=\"1.0\"?>\n<!DOCTYPE rss [\n");
		while (b.len < ((size_t)2 << 20))
			td_buf_puts(&b, opens[k]);
		td_buf_puts(&b, "\n]>\n<rss version=\"2.0\"><channel><title>t</title>"
				"</channel></rss>\n");
		CHECK(parse_returns(b.data, b.len, 60));
		td_buf_free(&b);
	}
}

/* libxml2 copies a comment read so far into each "--" error it raises:
 * 2 MB of "--" in one comment, written or made by entities, took hours.
 * Such a comment still makes the document not well-formed, on its line,
 * and what follows it is read. */
static void test_comment_hyphens(void)
{
	struct td_buf b = TD_BUF_INIT;
	td_buf_puts(&b, "<rss version=\"2.0\"><channel><title>t</title><!--");
	while (b.len < ((size_t)2 << 20))
		td_buf_puts(&b, "--");
	td_buf_puts(&b, "--></channel></rss>\n");
	CHECK(parse_returns(b.data, b.len, 60));
	td_buf_free(&b);

	td_buf_puts(&b, "<!DOCTYPE rss [<!ENTITY o \"&#60;!--\"><!ENTITY h \"--\">]>\n"
			"<rss version=\"2.0\"><channel><title>t</title>&o;");
	for (int i = 0; i < 90000; i++)
		td_buf_puts(&b, "&h;");
	td_buf_puts(&b, "--></channel></rss>\n");
	CHECK(parse_returns(b.data, b.len, 60));
	td_buf_free(&b);

	const char *small =
		"<rss version=\"2.0\"><channel>\n<!-- a -- b -- c\n\n-- d -->\n"
		"<title>t</title>\n<item><title>x</title></itemz>\n</channel></rss>";
	int rc;
	struct td_value *j = dumps(small, &rc);
	CHECK(rc == 0 && j);
	CHECK(num_at(j, "bozo") == 1);
	CHECK(contains(str_at(j, "bozo_exception"), "line 6:"));
	CHECK_STR(str_at(j, "feed.title"), "t");
	CHECK_STR(str_at(j, "entries.0.title"), "x");
	td_value_free(j);
}

/* CDATA sections are kept out of libxml2's way while it parses
 * (feed_repair.c) and put back: the text is the section's, joined to the
 * text around it; the lines of later messages are the document's; a
 * section with CR, with a character XML forbids, or in a document that
 * writes the placeholder's mark itself is left to libxml2, with the same
 * outcome. */
static void test_cdata_set_aside(void)
{
	const char *xml =
		"<rss version=\"2.0\"><channel><title>t</title>\n<item>"
		"<title>a<![CDATA[ <b>x</b> & \xc3\xa9 ]]>b</title>\n"
		"<description><![CDATA[<p>one\n\ntwo &amp; <em>three</em> four five six seven\n"
		"eight nine</p>]]></description>\n"
		"<link>http://e.x/1</link></itemz>\n</channel></rss>";
	int rc;
	struct td_value *j = dumps(xml, &rc);
	CHECK(rc == 0 && j);
	/* the </itemz> on line 7, the <item> on line 2: the section's three
	 * newlines are still counted */
	CHECK(contains(str_at(j, "bozo_exception"),
		       "line 7: Opening and ending tag mismatch: item line 2 and itemz"));
	/* markup in a title: HTML, sanitized */
	CHECK_STR(str_at(j, "entries.0.title"), "a <b>x</b> &amp; \xc3\xa9 b");
	CHECK_STR(str_at(j, "entries.0.summary"),
		  "<p>one\n\ntwo &amp; <em>three</em> four five six seven\neight nine</p>");
	td_value_free(j);

	/* the placeholder's mark in the document: nothing set aside, and the
	 * mark is text like any other */
	const char *marked =
		"<rss version=\"2.0\"><channel><title>t\xef\xb7\x91" "0\xef\xb7\x91</title><item>"
		"<description><![CDATA[<p>a long enough paragraph to be set aside, "
		"were it not for the mark</p>]]></description>"
		"<link>http://e.x/1</link></item></channel></rss>";
	j = dumps(marked, &rc);
	CHECK(rc == 0 && j && num_at(j, "bozo") == 0);
	CHECK_STR(str_at(j, "feed.title"), "t\xef\xb7\x91" "0\xef\xb7\x91");
	CHECK_STR(str_at(j, "entries.0.summary"), "<p>a long enough paragraph to be set "
		  "aside, were it not for the mark</p>");
	td_value_free(j);

	/* the mark as a character reference (and hidden in an entity's
	 * text): decoded by the parser into the same character, so nothing
	 * is set aside and the title keeps what it says */
	const char *refs[] = { "&#xFDD1;0&#xfdd1;", "&#64977;0&#0064977;", "&m;0&m;" };
	for (size_t r = 0; r < sizeof refs / sizeof *refs; r++) {
		char doc[1024];
		snprintf(doc, sizeof doc,
			 "%s<rss version=\"2.0\"><channel><title>t</title><item>"
			 "<description><![CDATA[<p>a long enough paragraph to be set aside, "
			 "were it not for the reference</p>]]></description>"
			 "<link>http://e.x/1</link></item><item><title>%s</title>"
			 "<link>http://e.x/2</link></item></channel></rss>",
			 r == 2 ? "<!DOCTYPE rss [<!ENTITY m \"&#38;#64977;\">]>" : "",
			 refs[r]);
		j = dumps(doc, &rc);
		CHECK(rc == 0 && j);
		CHECK_STR(str_at(j, "entries.1.title"), "\xef\xb7\x91" "0\xef\xb7\x91");
		CHECK_STR(str_at(j, "entries.0.summary"), "<p>a long enough paragraph to be "
			  "set aside, were it not for the reference</p>");
		td_value_free(j);
	}

	/* CR in a section: libxml2 makes its line ends LF */
	const char *cr =
		"<rss version=\"2.0\"><channel><title>t</title><item>"
		"<description><![CDATA[<p>line one of a section long enough to be\r\n"
		"set aside, with CR LF line ends</p>]]></description>"
		"<link>http://e.x/1</link></item></channel></rss>";
	j = dumps(cr, &rc);
	CHECK(rc == 0 && j);
	CHECK_STR(str_at(j, "entries.0.summary"), "<p>line one of a section long enough "
		  "to be\nset aside, with CR LF line ends</p>");
	td_value_free(j);
}

static void test_refused(void)
{
	int rc;
	char *text = NULL;
	struct td_value *j;

	/* a plain RSS 0.91 DOCTYPE is fine */
	const char *doctype =
		"<!DOCTYPE rss PUBLIC \"-//Netscape Communications//DTD RSS 0.91//EN\" "
		"\"http://my.netscape.com/publish/formats/rss-0.91.dtd\">\n"
		"<rss version=\"0.91\"><channel><title>Old</title></channel></rss>";
	j = dump(doctype, strlen(doctype), NULL, NULL, &rc, &text);
	CHECK(rc == 0 && j);
	CHECK_STR(str_at(j, "version"), "rss091n");
	CHECK(text && !strstr(text, "root:"));
	td_value_free(j);
	free(text);

	/* not a feed, not XML */
	j = dumps("<html><body>hi</body></html>", &rc);
	CHECK(rc == EX_DATAERR && !j);
	j = dumps("", &rc);
	CHECK(rc == EX_DATAERR && !j);
	j = dumps("\x01\x02 garbage", &rc);
	CHECK(rc == EX_DATAERR && !j);
}

static void test_depth(void)
{
	struct td_buf b = TD_BUF_INIT;
	td_buf_puts(&b, "<rss version=\"2.0\"><channel><item><title>deep</title>"
			"<description>");
	for (int i = 0; i < 5000; i++)
		td_buf_puts(&b, "<div>");
	td_buf_puts(&b, "x");
	for (int i = 0; i < 5000; i++)
		td_buf_puts(&b, "</div>");
	td_buf_puts(&b, "</description></item></channel></rss>");
	int rc;
	struct td_value *j = dump(td_buf_cstr(&b), b.len, NULL, NULL, &rc, NULL);
	/* libxml2 stops at depth 256: bozo, and whatever was read before */
	CHECK(rc == 0 || rc == EX_DATAERR);
	if (j)
		CHECK(num_at(j, "bozo") == 1);
	td_value_free(j);
	td_buf_free(&b);
}

static void test_bozo_recovery(void)
{
	int rc;
	/* undefined HTML entities, a bare '&', no closing tag */
	struct td_value *j = dumps("<rss version=\"2.0\"><channel><title>caf&eacute; &amp; "
				"AT&T &hellip;</title><item><link>http://e/?a=1&b=2</link>"
				"</item></channel></rss", &rc);
	CHECK(rc == 0 && j);
	if (!j)
		return;
	CHECK(num_at(j, "bozo") == 1);
	CHECK_STR(str_at(j, "feed.title"), "caf\xc3\xa9 & AT&T \xe2\x80\xa6");
	CHECK_STR(str_at(j, "entries.0.link"), "http://e/?a=1&b=2");
	td_value_free(j);
}

static void test_encodings(void)
{
	int rc;
	/* declared ISO-8859-1 but really windows-1252: 0x92 is a right quote */
	const char *w = "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>"
			"<rss version=\"2.0\"><channel><title>don\x92t caf\xe9</title></channel></rss>";
	struct td_value *j = dumps(w, &rc);
	CHECK(rc == 0 && j);
	CHECK_STR(str_at(j, "feed.title"), "don\xe2\x80\x99t caf\xc3\xa9");
	CHECK(num_at(j, "bozo") == 0);
	CHECK_STR(str_at(j, "encoding"), "iso-8859-1");
	td_value_free(j);

	/* the HTTP charset decides when there is no declaration */
	const char *h = "<rss version=\"2.0\"><channel><title>caf\xe9</title></channel></rss>";
	j = dump(h, strlen(h), NULL, "text/xml; charset=windows-1252", &rc, NULL);
	CHECK(rc == 0 && j);
	CHECK_STR(str_at(j, "feed.title"), "caf\xc3\xa9");
	td_value_free(j);

	/* invalid UTF-8: bozo, not a crash; the output is valid UTF-8 */
	const char *bad = "<rss version=\"2.0\"><channel><title>a\xff\xfe b</title></channel></rss>";
	char *text = NULL;
	j = dump(bad, strlen(bad), NULL, NULL, &rc, &text);
	CHECK(rc == 0 && j);
	CHECK(num_at(j, "bozo") == 1);
	CHECK(text && td_utf8_valid(text, strlen(text)));
	td_value_free(j);
	free(text);

	/* UTF-16 with a BOM */
	const char utf16[] = "\xff\xfe<\0r\0s\0s\0>\0<\0c\0h\0a\0n\0n\0e\0l\0>\0<\0t\0i\0t\0l\0e\0>\0"
			     "\xe9\0<\0/\0t\0i\0t\0l\0e\0>\0<\0/\0c\0h\0a\0n\0n\0e\0l\0>\0<\0/\0r\0s\0s\0>\0";
	j = dump(utf16, sizeof utf16 - 1, NULL, NULL, &rc, NULL);
	CHECK(rc == 0 && j);
	CHECK_STR(str_at(j, "feed.title"), "\xc3\xa9");
	td_value_free(j);
}

static void test_json_escaping(void)
{
	int rc;
	char *text = NULL;
	/* &#1; is not XML; recovery drops it. Tabs, CR, quotes, backslashes,
	 * U+0085 (NEL, mapped like windows-1252's 0x85 to an ellipsis) */
	const char *xml = "<rss version=\"2.0\"><channel><title>a\tb \"q\" back\\slash</title>"
			  "<description>x&#13;y</description></channel></rss>";
	struct td_value *j = dump(xml, strlen(xml), NULL, NULL, &rc, &text);
	CHECK(rc == 0 && j);
	CHECK(text && strstr(text, "\"a\\tb \\\"q\\\" back\\\\slash\""));
	CHECK_STR(str_at(j, "feed.title"), "a\tb \"q\" back\\slash");
	td_value_free(j);
	free(text);

	/* a control character that survives into a value (from base64) */
	const char *b64 = "<feed xmlns=\"http://www.w3.org/2005/Atom\"><entry>"
			  "<content type=\"application/octet-stream\">YQFi</content></entry></feed>";
	j = dump(b64, strlen(b64), NULL, NULL, &rc, &text);
	CHECK(rc == 0 && j);
	CHECK(text && strstr(text, "\"a\\u0001b\""));
	CHECK_STR(str_at(j, "entries.0.content.0.value"), "a\x01" "b");
	td_value_free(j);
	free(text);
}

/* ---- posts ------------------------------------------------------------ */

struct collected {
	struct td_post posts[8];
	size_t n;
};

static char *dup_or_null(const char *s)
{
	return s ? td_xstrdup(s) : NULL;
}

static int collect(void *ctx, const struct td_post *p, struct td_err *err)
{
	(void)err;
	struct collected *c = ctx;
	if (c->n >= 8)
		return 1;
	struct td_post *q = &c->posts[c->n++];
	memset(q, 0, sizeof *q);
	q->guid = dup_or_null(p->guid);
	q->guid_local = p->guid_local;
	q->url = dup_or_null(p->url);
	q->title = dup_or_null(p->title);
	q->author = dup_or_null(p->author);
	q->published = p->published;
	q->updated = p->updated;
	for (size_t i = 0; i < p->tags.n; i++) {
		td_strv_push(&q->tags, p->tags.v[i]);
		td_strv_push(&q->tag_names, p->tag_names.v[i]);
	}
	q->excerpt_html = dup_or_null(p->excerpt_html);
	q->excerpt_text = dup_or_null(p->excerpt_text);
	q->content_html = dup_or_null(p->content_html);
	q->content_hash = dup_or_null(p->content_hash);
	return 0;
}

static void collected_free(struct collected *c)
{
	for (size_t i = 0; i < c->n; i++)
		td_post_free(&c->posts[i]);
	c->n = 0;
}

static int posts_of(const char *xml, const char *base, bool categories,
		    struct collected *c, size_t *nbad)
{
	struct td_feed *f = NULL;
	struct td_err err = { 0, "" };
	int rc = td_feed_parse(xml, strlen(xml), base, NULL, &f, &err);
	if (rc)
		return rc;
	struct td_source_config src;
	memset(&src, 0, sizeof src);
	src.name = (char *)"test";
	src.type = (char *)"feed";
	src.categories = categories;
	td_strv_push(&src.tags, "Our Blog");
	rc = td_feed_posts(f, &src, collect, c, nbad, &err);
	td_strv_free(&src.tags);
	td_feed_free(f);
	return rc;
}

static const char *POSTS_XML =
	"<rss version=\"2.0\"><channel><title>B</title>\n"
	/* 1: guid that is a permalink; script in content; relative link */
	"<item><title>  One\n  &lt;b&gt;bold&lt;/b&gt; </title><link>/posts/1</link>\n"
	"<guid>https://b.example/p/1</guid><category>Sergey Lavrov</category>"
	"<category>EU, NATO</category>\n"
	"<description><![CDATA[<p>Hi <a href=\"rel\">there</a><script>alert(1)</script></p>]]></description>\n"
	"<pubDate>Mon, 03 Jul 2017 10:00:00 +0300</pubDate></item>\n"
	/* 2: no guid: the link is the guid */
	"<item><title>Two</title><link>https://b.example/p/2</link>"
	"<dc:date xmlns:dc=\"http://purl.org/dc/elements/1.1/\">2017-07-04T00:00:00Z</dc:date></item>\n"
	/* 3: no link at all: skipped */
	"<item><title>Three</title><description>text</description></item>\n"
	/* 4: no title, no content: skipped */
	"<item><link>https://b.example/p/4</link></item>\n"
	/* 5: guid isPermaLink=false and a link */
	"<item><title>Five</title><guid isPermaLink=\"false\">id-5</guid>"
	"<link>https://b.example/p/5</link></item>\n"
	/* 6: javascript: link: skipped */
	"<item><title>Six</title><link>javascript:alert(1)</link></item>\n"
	"</channel></rss>\n";

static void test_posts(void)
{
	struct collected c = { .n = 0 };
	size_t nbad = 0;
	int rc = posts_of(POSTS_XML, "https://b.example/feed/", true, &c, &nbad);
	CHECK(rc == 0);
	CHECK(c.n == 3);
	CHECK(nbad == 3);
	if (c.n != 3) {
		collected_free(&c);
		return;
	}
	struct td_post *p = &c.posts[0];
	CHECK_STR(p->title, "One bold");
	CHECK_STR(p->url, "https://b.example/posts/1");
	CHECK_STR(p->guid, "https://b.example/p/1");
	CHECK(p->published == 1499065200); /* 2017-07-03T07:00:00Z */
	CHECK(p->updated == p->published);
	CHECK(p->tags.n == 3);
	if (p->tags.n == 3) {
		CHECK_STR(p->tags.v[0], "sergey-lavrov");
		CHECK_STR(p->tag_names.v[0], "Sergey Lavrov");
		CHECK_STR(p->tags.v[1], "eu-nato"); /* one category, one tag */
		CHECK_STR(p->tags.v[2], "our-blog");
		CHECK_STR(p->tag_names.v[2], "Our Blog");
	}
	CHECK(p->content_html && !strstr(p->content_html, "script") &&
	      !strstr(p->content_html, "alert"));
	CHECK(p->content_html && strstr(p->content_html, "https://b.example/posts/rel") == NULL &&
	      strstr(p->content_html, "href=\"https://b.example/feed/rel\""));
	CHECK(p->excerpt_text && strstr(p->excerpt_text, "Hi there"));
	CHECK(p->content_hash && strlen(p->content_hash) == 64);

	p = &c.posts[1];
	CHECK_STR(p->guid, "https://b.example/p/2");
	CHECK(p->published == 1499126400); /* updated stands in for published */
	CHECK(p->tags.n == 1);

	p = &c.posts[2];
	CHECK_STR(p->guid, "id-5");
	CHECK_STR(p->url, "https://b.example/p/5");
	CHECK(p->published == 0); /* no date: ingest decides */
	collected_free(&c);

	/* categories = no: only the fixed tags */
	rc = posts_of(POSTS_XML, "https://b.example/feed/", false, &c, &nbad);
	CHECK(rc == 0 && c.n == 3);
	if (c.n)
		CHECK(c.posts[0].tags.n == 1 && !strcmp(c.posts[0].tags.v[0], "our-blog"));
	collected_free(&c);

	/* no base URL: the relative link is unusable */
	rc = posts_of(POSTS_XML, NULL, true, &c, &nbad);
	CHECK(rc == 0 && c.n == 2 && nbad == 4);
	collected_free(&c);
}

static void test_posts_guid_hash(void)
{
	const char *xml = "<feed xmlns=\"http://www.w3.org/2005/Atom\"><entry><title>T</title>"
			  "<link href=\"https://a.example/x\"/><content type=\"text\">body &lt;here&gt;</content>"
			  "</entry></feed>";
	struct collected c = { .n = 0 };
	size_t nbad = 0;
	CHECK(posts_of(xml, NULL, true, &c, &nbad) == 0 && c.n == 1);
	if (c.n == 1) {
		/* no id: the link */
		CHECK_STR(c.posts[0].guid, "https://a.example/x");
		CHECK_STR(c.posts[0].content_html, "<p>body &lt;here&gt;</p>");
	}
	collected_free(&c);

	/* an edit changes the content hash, the same text does not */
	const char *a = "<rss version=\"2.0\"><channel><item><title>T</title>"
			"<link>https://a.example/1</link><description>v1</description></item></channel></rss>";
	const char *b = "<rss version=\"2.0\"><channel><item><title>T</title>"
			"<link>https://a.example/1</link><description>v2</description></item></channel></rss>";
	struct collected c2 = { .n = 0 };
	CHECK(posts_of(a, NULL, true, &c, &nbad) == 0 && c.n == 1);
	CHECK(posts_of(b, NULL, true, &c2, &nbad) == 0 && c2.n == 1);
	if (c.n == 1 && c2.n == 1)
		CHECK(strcmp(c.posts[0].content_hash, c2.posts[0].content_hash) != 0);
	collected_free(&c2);
	CHECK(posts_of(a, NULL, true, &c2, &nbad) == 0 && c2.n == 1);
	if (c.n == 1 && c2.n == 1)
		CHECK_STR(c.posts[0].content_hash, c2.posts[0].content_hash);
	collected_free(&c);
	collected_free(&c2);

	/* no id, no link would be skipped; an id-less, link-less guid hash
	 * is only reachable through a guid-less item with a link, so check
	 * the id fallback chain order once more with an Atom id */
	const char *d = "<feed xmlns=\"http://www.w3.org/2005/Atom\"><entry><title>T</title>"
			"<id>urn:x:1</id><link href=\"https://a.example/y\"/></entry></feed>";
	CHECK(posts_of(d, NULL, true, &c, &nbad) == 0 && c.n == 1);
	if (c.n == 1)
		CHECK_STR(c.posts[0].guid, "urn:x:1");
	collected_free(&c);
}

/* A guid the feed wrote as a relative reference is made absolute, as
 * feedparser does, but still means something only in this feed: the
 * post says so, whatever the absolute form looks like. */
static void test_posts_guid_local(void)
{
	const char *xml =
		"<rss version=\"2.0\"><channel><title>B</title>"
		"<item><title>A</title><link>https://a.example/a/</link><guid>123</guid></item>"
		"<item><title>B</title><link>https://a.example/b/</link>"
		"<guid isPermaLink=\"true\">/2026/b/</guid></item>"
		"<item><title>C</title><link>https://a.example/c/</link>"
		"<guid>https://a.example/?p=3</guid></item>"
		"<item><title>D</title><link>https://a.example/d/</link>"
		"<guid isPermaLink=\"false\">https://a.example/?p=4</guid></item>"
		"</channel></rss>";
	struct collected c = { .n = 0 };
	size_t nbad = 0;
	CHECK(posts_of(xml, "https://a.example/tag/a/feed/", true, &c, &nbad) == 0 && c.n == 4);
	if (c.n == 4) {
		CHECK_STR(c.posts[0].guid, "https://a.example/tag/a/feed/123");
		CHECK(c.posts[0].guid_local);
		CHECK_STR(c.posts[1].guid, "https://a.example/2026/b/");
		CHECK(c.posts[1].guid_local);
		CHECK_STR(c.posts[2].guid, "https://a.example/?p=3");
		CHECK(!c.posts[2].guid_local);
		CHECK_STR(c.posts[3].guid, "https://a.example/?p=4");
		CHECK(!c.posts[3].guid_local);
	}
	collected_free(&c);
}

/* Issue 9, item 8: a link becomes one valid URL, or the item goes with
 * a warning naming the source and the item. */
static void test_post_urls(void)
{
	const char *xml =
		"<rss version=\"2.0\"><channel><title>B</title>\n"
		/* 1: CR LF inside (as character references: XML keeps them) */
		"<item><title>One</title>"
		"<link>https://b.example/2017/split&#13;&#10;/post/</link></item>\n"
		/* 2: spaces and non-ASCII: percent-encoded */
		"<item><title>Two</title><link>  https://b.example/a b/\xc3\xa9t\xc3\xa9/ </link></item>\n"
		/* 3: a control character inside (DEL: XML 1.0 allows no
		 * other): no URL can be made of it */
		"<item><title>Three</title><link>https://b.example/x&#127;y/</link></item>\n"
		/* 4: no host */
		"<item><title>Four</title><link>http://</link></item>\n"
		/* 5: a tab inside a relative link, resolved against the feed */
		"<item><title>Five</title><link>/2017/&#9;five/</link></item>\n"
		"</channel></rss>\n";
	struct collected c = { .n = 0 };
	size_t nbad = 0;
	capture_start();
	int rc = posts_of(xml, "https://b.example/feed/", true, &c, &nbad);
	const char *log = capture_end();
	CHECK(rc == 0 && c.n == 3 && nbad == 2);
	if (c.n == 3) {
		CHECK_STR(c.posts[0].url, "https://b.example/2017/split/post/");
		CHECK_STR(c.posts[1].url, "https://b.example/a%20b/%C3%A9t%C3%A9/");
		CHECK_STR(c.posts[2].url, "https://b.example/2017/five/");
	}
	CHECK(strstr(log, "source 'test': item 3: link is not a valid absolute http(s) URL"));
	CHECK(strstr(log, "source 'test': item 4: link is not a valid absolute http(s) URL"));
	CHECK(!strstr(log, "item 1:") && !strstr(log, "item 2:") && !strstr(log, "item 5:"));
	collected_free(&c);

	/* spaces around and line breaks inside are dropped before the URL is
	 * resolved: " /x" is the path /x, not a file named " " */
	const char *atom = "<feed xmlns=\"http://www.w3.org/2005/Atom\"><entry><title>T</title>"
			   "<link href=\" &#9;/2017/&#10;x/ \"/></entry></feed>";
	CHECK(posts_of(atom, "https://b.example/feed/", true, &c, &nbad) == 0 && c.n == 1);
	if (c.n == 1)
		CHECK_STR(c.posts[0].url, "https://b.example/2017/x/");
	collected_free(&c);
}

static int count_post(void *ctx, const struct td_post *post, struct td_err *err)
{
	(void)post;
	(void)err;
	(*(size_t *)ctx)++;
	return 0;
}

/* Issue 9, item 11: entries past the parser's cap are not dropped
 * silently. */
static void test_entry_cap_warns(void)
{
	struct td_buf b = TD_BUF_INIT;
	td_buf_puts(&b, "<rss version=\"2.0\"><channel><title>Big</title>\n");
	for (int i = 0; i < 20003; i++)
		td_buf_printf(&b, "<item><title>t%d</title><link>https://big.example/%d</link>"
			      "</item>\n", i, i);
	td_buf_puts(&b, "</channel></rss>\n");
	struct td_feed *f = NULL;
	struct td_err err = { 0, "" };
	CHECK(td_feed_parse(b.data, b.len, NULL, NULL, &f, &err) == 0);
	td_buf_free(&b);
	if (!f)
		return;
	struct td_source_config src;
	memset(&src, 0, sizeof src);
	src.name = (char *)"big-tag";
	size_t n = 0, nbad = 0;
	capture_start();
	CHECK(td_feed_posts(f, &src, count_post, &n, &nbad, &err) == 0);
	const char *log = capture_end();
	CHECK(n == 20000 && nbad == 0);
	CHECK(strstr(log, "source 'big-tag': the feed has 20003 entries; only the first "
		      "20000 are read, 3 dropped"));
	td_feed_free(f);

	/* at the cap exactly: nothing to say */
	const char *small = "<rss version=\"2.0\"><channel><item><title>t</title>"
			    "<link>https://big.example/1</link></item></channel></rss>";
	CHECK(td_feed_parse(small, strlen(small), NULL, NULL, &f, &err) == 0);
	n = 0;
	capture_start();
	CHECK(td_feed_posts(f, &src, count_post, &n, &nbad, &err) == 0);
	log = capture_end();
	CHECK(n == 1 && !strstr(log, "dropped"));
	td_feed_free(f);
}

static void test_callback_stops(void)
{
	struct td_feed *f = NULL;
	struct td_err err = { 0, "" };
	CHECK(td_feed_parse(POSTS_XML, strlen(POSTS_XML), "https://b.example/", NULL, &f, &err) == 0);
	struct collected c = { .n = 8 }; /* full: the callback returns 1 */
	size_t nbad;
	struct td_source_config src;
	memset(&src, 0, sizeof src);
	src.name = (char *)"s";
	src.categories = true;
	CHECK(td_feed_posts(f, &src, collect, &c, &nbad, &err) == 1);
	td_feed_free(f);
}

static void test_conformance_data_present(void)
{
	/* The feedparser suite runs in tests/conformance/run_feeds.py; say so
	 * loudly when its data is missing, as the Mustache suite does. */
	const char *td = getenv("TESTDATA");
	char path[1024];
	snprintf(path, sizeof path, "%s/feeds/cases.tsv", td && *td ? td : TESTDATA);
	FILE *fp = fopen(path, "r");
	if (!fp) {
		TD_SKIP("feed: conformance data check: %s is absent", path);
		return;
	}
	fclose(fp);
	/* smoke: every case document parses or is refused, never crashes */
	char *tsv;
	size_t len;
	REQUIRE(td_read_file(path, 1 << 20, &tsv, &len) >= 0);
	size_t ok = 0, total = 0;
	char *save = NULL;
	strtok_r(tsv, "\n", &save); /* header */
	for (char *line = strtok_r(NULL, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *tab = strchr(line, '\t');
		if (!tab)
			continue;
		*tab = '\0';
		char file[1200];
		snprintf(file, sizeof file, "%s/feeds/%s", td && *td ? td : TESTDATA, line);
		char *data;
		size_t dlen;
		if (td_read_file(file, 1 << 22, &data, &dlen) < 0)
			continue;
		total++;
		struct td_feed *f = NULL;
		struct td_err err = { 0, "" };
		int rc = td_feed_parse(data, dlen, "http://127.0.0.1:8097/", NULL, &f, &err);
		if (rc == 0 || rc == EX_DATAERR)
			ok++;
		if (f) {
			struct td_buf b = TD_BUF_INIT;
			td_feed_dump_json(f, &b);
			CHECK(td_utf8_valid(b.data, b.len));
			td_buf_free(&b);
		}
		td_feed_free(f);
		free(data);
	}
	free(tsv);
	CHECK(total > 300 && ok == total);
}

int main(void)
{
	TD_RUN(test_rss20);
	TD_RUN(test_rss10);
	TD_RUN(test_atom);
	TD_RUN(test_entities);
	TD_RUN(test_entities_lines);
	TD_RUN(test_entities_stray_error);
	TD_RUN(test_entities_many_refs);
	TD_RUN(test_entities_growth_bound);
	TD_RUN(test_entities_unterminated_markup);
	TD_RUN(test_comment_hyphens);
	TD_RUN(test_cdata_set_aside);
	TD_RUN(test_refused);
	TD_RUN(test_depth);
	TD_RUN(test_bozo_recovery);
	TD_RUN(test_encodings);
	TD_RUN(test_json_escaping);
	TD_RUN(test_posts);
	TD_RUN(test_posts_guid_hash);
	TD_RUN(test_posts_guid_local);
	TD_RUN(test_post_urls);
	TD_RUN(test_entry_cap_warns);
	TD_RUN(test_callback_stops);
	TD_RUN(test_conformance_data_present);
	return TD_DONE("feed");
}
