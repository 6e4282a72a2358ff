/*
 * test_config.c: loading tagdigest.conf. Config files are written into a
 * fresh mkdtemp folder so path resolution can be checked exactly; error
 * tests compare the whole message, since the line number and key in it are
 * the point of the message.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "tagdigest/cli/config.h"
#include "tagdigest/core/util.h"

static char dir[PATH_MAX];        /* realpath of the temp folder */
static char conf[PATH_MAX + 16];  /* dir/t.conf, rewritten by each test */

/* A valid [site] and one source: lines 1 to 7. Tests append from line 8. */
#define BASE "[site]\n" \
	     "name = T\n" \
	     "url = https://t.example.org\n" \
	     "from = d@t.example.org\n" \
	     "[source.posts]\n" \
	     "type = posts\n" \
	     "path = posts\n"

static int load(const char *text, const char *const *ov, size_t nov,
		struct td_config *cfg, struct td_err *err)
{
	write_file(NULL, conf, text);
	err->code = 0;
	err->msg[0] = '\0';
	return td_config_load(cfg, conf, ov, nov, err);
}

/* Loads text and checks that it fails with "CONF:LINE: msg" (line > 0),
 * "CONF: msg" (line 0) or just msg (line < 0, for overrides). */
static void expect_err(const char *text, const char *const *ov, size_t nov,
		       int line, const char *msg)
{
	struct td_config cfg;
	struct td_err err;
	char *want;
	if (line > 0)
		want = td_xasprintf("%s:%d: %s", conf, line, msg);
	else if (line == 0)
		want = td_xasprintf("%s: %s", conf, msg);
	else
		want = td_xstrdup(msg);
	int rc = load(text, ov, nov, &cfg, &err);
	CHECK(rc == EX_CONFIG);
	CHECK(err.code == EX_CONFIG);
	CHECK_STR(err.msg, want);
	free(want);
	if (rc == 0)
		td_config_free(&cfg);
	/* A failed load leaves nothing to free. */
	CHECK(cfg.site_name == NULL && cfg.sources == NULL);
}

static char *in_dir(const char *rel)
{
	static char buf[4][PATH_MAX + 64];
	static int next;
	char *b = buf[next++ % 4];
	snprintf(b, sizeof buf[0], "%s/%s", dir, rel);
	return b;
}

static void test_defaults(void)
{
	struct td_config cfg;
	struct td_err err;
	int rc = load("[site]\n"
		      "name = Test Site\n"
		      "url = https://News.example.org/\n"
		      "from = digest@news.example.org\n"
		      "\n"
		      "[source.posts]\n"
		      "type = posts\n"
		      "path = posts\n", NULL, 0, &cfg, &err);
	CHECK(rc == 0);
	if (rc) {
		fprintf(stderr, "  %s\n", err.msg);
		return;
	}
	CHECK_STR(cfg.file, conf);
	CHECK_STR(cfg.base_dir, dir);
	CHECK_STR(cfg.site_name, "Test Site");
	CHECK_STR(cfg.site_url, "https://News.example.org");
	CHECK_STR(cfg.from_address, "digest@news.example.org");
	CHECK_STR(cfg.from_name, "Test Site");
	CHECK_STR(cfg.list_id, "digest.news.example.org");
	CHECK_STR(cfg.unsubscribe_url, "https://News.example.org/unsubscribe/");
	CHECK_STR(cfg.tag_url, "https://News.example.org/tag/{tag}/");
	CHECK_STR(cfg.store_path, in_dir("var/tagdigest.db"));
	CHECK_STR(cfg.subscribers_path, in_dir("subscribers/subscribers.csv"));
	CHECK_STR(cfg.templates_dir, in_dir("templates"));
	CHECK_STR(cfg.maildir_path, in_dir("outbox"));
	CHECK_STR(cfg.token_secret_file, in_dir("var/tagdigest.db.secret"));
	CHECK_STR(cfg.token_secret_env, "TAGDIGEST_TOKEN_SECRET");
	CHECK_STR(cfg.timezone, "UTC");
	CHECK(cfg.slot_wday == 1);
	CHECK(cfg.slot_hour == 8 && cfg.slot_minute == 0);
	CHECK(cfg.first_digest_days == 7);
	CHECK(cfg.max_posts == 20);
	CHECK(cfg.excerpt_chars == 280);
	CHECK(cfg.transport_type == TD_TRANSPORT_MAILDIR);
	CHECK(cfg.smtp_url == NULL && cfg.smtp_username == NULL);
	CHECK(cfg.smtp_password_env == NULL && cfg.smtp_password_file == NULL);
	CHECK(cfg.smtp_timeout == 30);
	/* [public] unset: the reader's pages live at the site's address */
	CHECK_STR(cfg.public_url, "https://News.example.org");
	CHECK_STR(cfg.preferences_url, "https://News.example.org/preferences/");
	CHECK(cfg.signup_tags.n == 0);
	CHECK(cfg.confirm_hours == 48);
	CHECK(!cfg.welcome_now);
	CHECK(cfg.signups_per_hour == 5);
	CHECK(cfg.confirm_mails_per_day == 3);
	CHECK(cfg.trusted_proxies.n == 0);
	CHECK(cfg.public_threads == 4);
	CHECK(cfg.max_connections == 1000);
	CHECK(cfg.max_connections_per_ip == 16);
	CHECK(cfg.connection_timeout == 10);
	REQUIRE(cfg.nsources == 1);
	CHECK_STR(cfg.sources[0].name, "posts");
	CHECK_STR(cfg.sources[0].type, "posts");
	CHECK_STR(cfg.sources[0].path, in_dir("posts"));
	CHECK(cfg.sources[0].url == NULL);
	td_config_free(&cfg);
	CHECK(cfg.site_name == NULL && cfg.nsources == 0);
	td_config_free(&cfg);   /* twice is harmless */
}

/* Every key set, in a file written on Windows (BOM, CRLF), with indented
 * keys, comments and a config in a subfolder so "../" is exercised. */
static void test_all_keys(void)
{
	char sub[PATH_MAX + 16], path[PATH_MAX + 32];
	snprintf(sub, sizeof sub, "%s/conf", dir);
	mkdir(sub, 0700);
	snprintf(path, sizeof path, "%s/conf/tagdigest.conf", dir);
	write_file(NULL, path,
		   "\xef\xbb\xbf; sample\r\n"
		   "[site]\r\n"
		   "  name = Newsroom Weekly ; inline comment\r\n"
		   "  url = http://news.example.org:8080/digest//\r\n"
		   "\tfrom = digest@news.example.org\r\n"
		   "from_name = The Newsroom\r\n"
		   "list_id = weekly.news.example.org\r\n"
		   "unsubscribe_url = https://u.example.org/u?t=\r\n"
		   "tag_url = https://news.example.org/t/{tag}\r\n"
		   "# hash comment\r\n"
		   "[store]\r\npath = ../var/td.db\r\n"
		   "[schedule]\r\nday = SUN\r\ntime = 7:05\r\n"
		   "timezone = Europe/Berlin\r\nfirst_digest_days = 365\r\n"
		   "[digest]\r\nmax_posts = 1000\r\nexcerpt_chars = 0\r\n"
		   "[subscribers]\r\npath = /srv/subs.csv\r\n"
		   "[templates]\r\ndir = ./tpl/\r\n"
		   "[transport]\r\ntype = SMTP\r\npath = ../../box\r\n"
		   "url = smtps://mail.example.org:465\r\n"
		   "username = digest\r\npassword_env = SMTP_PASS\r\n"
		   "password_file = pw\r\ntimeout = 600\r\n"
		   "[secrets]\r\ntoken_secret_env = MY_SECRET\r\n"
		   "token_secret_file = ../secret\r\n"
		   "[source.b-feed]\r\ntype = feed\r\nurl = https://feeds.example.org/rss\r\n"
		   "[source.a_posts]\r\ntype = Posts\r\npath = ../posts\r\n");
	struct td_config cfg;
	struct td_err err = { 0, "" };
	int rc = td_config_load(&cfg, path, NULL, 0, &err);
	CHECK(rc == 0);
	if (rc) {
		fprintf(stderr, "  %s\n", err.msg);
		return;
	}
	char parent[PATH_MAX];
	strcpy(parent, dir);
	*strrchr(parent, '/') = '\0';
	char box[PATH_MAX + 16];
	snprintf(box, sizeof box, "%s/box", parent);

	CHECK_STR(cfg.base_dir, in_dir("conf"));
	CHECK_STR(cfg.site_name, "Newsroom Weekly");
	CHECK_STR(cfg.site_url, "http://news.example.org:8080/digest");
	CHECK_STR(cfg.from_address, "digest@news.example.org");
	CHECK_STR(cfg.from_name, "The Newsroom");
	CHECK_STR(cfg.list_id, "weekly.news.example.org");
	CHECK_STR(cfg.unsubscribe_url, "https://u.example.org/u?t=");
	CHECK_STR(cfg.tag_url, "https://news.example.org/t/{tag}");
	CHECK_STR(cfg.store_path, in_dir("var/td.db"));
	CHECK(cfg.slot_wday == 0);
	CHECK(cfg.slot_hour == 7 && cfg.slot_minute == 5);
	CHECK_STR(cfg.timezone, "Europe/Berlin");
	CHECK(cfg.first_digest_days == 365);
	CHECK(cfg.max_posts == 1000);
	CHECK(cfg.excerpt_chars == 0);
	CHECK_STR(cfg.subscribers_path, "/srv/subs.csv");
	CHECK_STR(cfg.templates_dir, in_dir("conf/tpl/"));
	CHECK(cfg.transport_type == TD_TRANSPORT_SMTP);
	CHECK_STR(cfg.maildir_path, box);
	CHECK_STR(cfg.smtp_url, "smtps://mail.example.org:465");
	CHECK_STR(cfg.smtp_username, "digest");
	CHECK_STR(cfg.smtp_password_env, "SMTP_PASS");
	CHECK_STR(cfg.smtp_password_file, in_dir("conf/pw"));
	CHECK(cfg.smtp_timeout == 600);
	CHECK_STR(cfg.token_secret_env, "MY_SECRET");
	CHECK_STR(cfg.token_secret_file, in_dir("secret"));
	REQUIRE(cfg.nsources == 2);
	/* File order, not alphabetical. */
	CHECK_STR(cfg.sources[0].name, "b-feed");
	CHECK_STR(cfg.sources[0].type, "feed");
	CHECK_STR(cfg.sources[0].url, "https://feeds.example.org/rss");
	CHECK_STR(cfg.sources[1].name, "a_posts");
	CHECK_STR(cfg.sources[1].type, "posts");
	CHECK_STR(cfg.sources[1].path, in_dir("posts"));
	td_config_free(&cfg);
	unlink(path);
	rmdir(sub);
}

/* Files (and overrides) that must be refused, with the whole message:
 * the line number and key in it are the point of it. line is the line
 * the message names (0: the file as a whole, -1: an override, which names
 * no line). */
struct bad_config {
	int at;                 /* this row, for a failure's message */
	const char *text;
	int line;
	const char *msg;
	const char *ov[2];      /* -o overrides, NULL-terminated */
};

#define BAD(text, line, msg) { __LINE__, text, line, msg, { NULL, NULL } }
#define BAD_OV(text, line, msg, ...) { __LINE__, text, line, msg, { __VA_ARGS__ } }

static const struct bad_config bad_configs[] = {
	/* ---- unknown keys and sections ---- */
	BAD(BASE "[site]\ncolour = red\n", 9,
	    "unknown key 'colour' in [site]"),
	BAD(BASE "[source.posts]\nfeed = x\n", 9,
	    "unknown key 'feed' in [source.posts]"),
	BAD(BASE "\n[sitee]\n", 9,
	    "unknown section [sitee]"),
	BAD(BASE "[source]\ntype = posts\n", 8,
	    "section [source] needs a name: [source.NAME]"),
	BAD(BASE "[source.My Posts]\n", 8,
	    "section [source.My Posts]: a source name uses only a-z, 0-9, "
	    "'_' and '-', at most 40 characters"),
	BAD("name = x\n" BASE, 1,
	    "key 'name' outside of any [section]"),
	/* Keys are lowercase, like everything else in the file. */
	BAD(BASE "[digest]\nMax_Posts = 3\n", 9,
	    "unknown key 'Max_Posts' in [digest]"),

	/* ---- the file's syntax ---- */
	BAD(BASE "[schedule\n", 8,
	    "section header without a closing ']'"),
	BAD(BASE "[schedule]\njust some words\n", 9,
	    "expected 'key = value', a [section] or a ';' comment"),
	BAD("[site]\nname = A\nname = B\n", 3,
	    "site.name: set twice (first on line 2)"),
	BAD(BASE "[digest]\nmax_posts =\n", 9,
	    "digest.max_posts: empty value (leave the key out for the default)"),
	/* The file's shape is checked before any value in it. */
	BAD(BASE "[schedule]\nday = Funday\n[bogus]\n", 10,
	    "unknown section [bogus]"),

	/* ---- values ---- */
	BAD(BASE "[schedule]\nday = Funday\n", 9,
	    "schedule.day: 'Funday' is not a day of the week"),
	BAD(BASE "[schedule]\nday = mo\n", 9,
	    "schedule.day: 'mo' is not a day of the week"),
	BAD(BASE "[schedule]\nfirst_digest_days = 0\n", 9,
	    "schedule.first_digest_days: 0 is out of range (1 to 365)"),
	BAD(BASE "[digest]\nmax_posts = 1001\n", 9,
	    "digest.max_posts: 1001 is out of range (1 to 1000)"),
	BAD(BASE "[digest]\nexcerpt_chars = -1\n", 9,
	    "digest.excerpt_chars: '-1' is not a whole number"),
	BAD(BASE "[transport]\ntimeout = 10s\n", 9,
	    "transport.timeout: '10s' is not a whole number"),
	BAD(BASE "[transport]\ntype = exim\n", 9,
	    "transport.type: 'exim' is not a transport (maildir, smtp or "
	    "sendmail)"),
	BAD(BASE "[transport]\nurl = smtp://user:pw@mail.example.org\n", 9,
	    "transport.url: 'smtp://user:pw@mail.example.org' "
	    "must not hold a user name or password"),
	BAD(BASE "[transport]\nurl = http://mail.example.org\n", 9,
	    "transport.url: 'http://mail.example.org' must start with "
	    "smtp:// or smtps://"),
	BAD(BASE "[transport]\nurl = smtp://mail.example.org:99999\n", 9,
	    "transport.url: 'smtp://mail.example.org:99999' has an invalid port"),
	BAD(BASE "[transport]\nurl = smtp://mail example.org\n", 9,
	    "transport.url: 'smtp://mail example.org' contains a space"),
	BAD(BASE "[transport]\nurl = smtp://\n", 9,
	    "transport.url: 'smtp://' has no host"),
	BAD(BASE "[transport]\nurl = smtp://mail.example.org/x\n", 9,
	    "transport.url: 'smtp://mail.example.org/x' must be just "
	    "smtp(s)://host[:port]"),
	BAD(BASE "[transport]\npassword_env = $PASS\n", 9,
	    "transport.password_env: '$PASS' is not an environment variable "
	    "name (letters, digits, '_')"),
	BAD(BASE "[site]\nlist_id = no dots\n", 9,
	    "site.list_id: 'no dots' is not a list id (like digest.example.org)"),
	BAD(BASE "[site]\ntag_url = https://t.example.org/tag/\n", 9,
	    "site.tag_url: 'https://t.example.org/tag/' has no {tag} for the "
	    "tag's slug"),
	BAD(BASE "[source.posts]\nurl = feed.example.org\n", 9,
	    "source.posts.url: 'feed.example.org' must start with http:// or "
	    "https:// (or file:///path)"),
	BAD(BASE "[source.other]\ntype = json\n", 9,
	    "source.other.type: 'json' is not a source type (posts or feed)"),
	BAD("[site]\nname = T\nurl = ftp://t.example.org\nfrom = d@t.example.org\n", 3,
	    "site.url: 'ftp://t.example.org' must start with "
	    "http:// or https://"),
	BAD("[site]\nname = T\nurl = https://t.example.org/?x=1\n", 3,
	    "site.url: 'https://t.example.org/?x=1' must not have a query or "
	    "fragment"),
	BAD("[site]\nname = T\nurl = https://t.example.org\nfrom = not an address\n", 4,
	    "site.from: 'not an address': contains a space"),
	BAD("[site]\nname = T\nurl = https://t.example.org\nfrom = <d@t.example.org>\n", 4,
	    "site.from: '<d@t.example.org>': contains '<' or '>'"),
	BAD("[site]\nname = T\xff\n", 2,
	    "site.name: not valid UTF-8"),
	BAD("[site]\nname = T\rX\n", 2,
	    "site.name: contains a control character"),

	/* ---- what must be set ---- */
	BAD("[site]\nurl = https://t.example.org\nfrom = d@t.example.org\n"
	    "[source.posts]\ntype = posts\npath = p\n", 0,
	    "site.name is required but not set"),
	BAD("[site]\nname = T\nfrom = d@t.example.org\n"
	    "[source.posts]\ntype = posts\npath = p\n", 0,
	    "site.url is required but not set"),
	BAD("[site]\nname = T\nurl = https://t.example.org\n"
	    "[source.posts]\ntype = posts\npath = p\n", 0,
	    "site.from is required but not set"),
	BAD("[site]\nname = T\nurl = https://t.example.org\nfrom = d@t.example.org\n", 0,
	    "no sources: add a [source.NAME] section "
	    "(type = posts, path = FOLDER)"),
	BAD(BASE "[source.extra]\ntype = posts\n", 8,
	    "source.extra: a posts source needs a path"),
	BAD(BASE "[source.extra]\npath = x\n", 8,
	    "source.extra: type is required (posts or feed)"),
	BAD(BASE "\n[source.news]\ntype = feed\n", 9,
	    "source.news: a feed source needs a url"),
	/* smtp needs a URL; the message points at the line choosing smtp. */
	BAD(BASE "[transport]\n; mail\ntype = smtp\nusername = u\n", 10,
	    "transport.type: smtp needs transport.url (smtp://host:port or "
	    "smtps://host:port)"),

	/* ---- long lines ---- */
	/* Longer than inih's 50-byte section buffer would otherwise merge. */
	BAD(BASE "[source.a123456789b123456789c123456789d123456789e]\n", 8,
	    "section [source.a123456789b123456789c123456789d123456789e]: a "
	    "source name uses only a-z, 0-9, '_' and '-', at most 40 characters"),

	/* ---- secrets are refused ---- */
	BAD(BASE "[transport]\npassword = hunter2\n", 9,
	    "transport.password: secrets are not read from the config file, "
	    "which is easy to leak; use password_file or password_env in "
	    "[transport]"),
	BAD(BASE "[secrets]\ntoken_secret = abc\n", 9,
	    "secrets.token_secret: secrets are not read from the config file, "
	    "which is easy to leak; use token_secret_file or token_secret_env "
	    "in [secrets]"),
	/* In any section, known there or not. */
	BAD(BASE "[site]\napi_key = abc\n", 9,
	    "site.api_key: secrets are not read from the config file, which "
	    "is easy to leak; use password_file or password_env in [transport]"),
	BAD(BASE "[source.posts]\npass = abc\n", 9,
	    "source.posts.pass: secrets are not read from the config file, "
	    "which is easy to leak; use password_file or password_env in "
	    "[transport]"),
	BAD(BASE "[transport]\nsmtp_password = abc\n", 9,
	    "transport.smtp_password: secrets are not read from the config "
	    "file, which is easy to leak; use password_file or password_env in "
	    "[transport]"),

	/* ---- -o overrides (checked after the file: one can fix a bad value) ---- */
	/* A bad file value not overridden still names its line. */
	BAD_OV(BASE "[schedule]\nday = Funday\n", 9,
	       "schedule.day: 'Funday' is not a day of the week",
	       "schedule.time=09:00"),
	BAD_OV(BASE, -1,
	       "-o schedule.day=Funday: 'Funday' is not a day of the week",
	       "schedule.day=Funday"),
	BAD_OV(BASE, -1,
	       "-o nodot=1: expected SECTION.KEY=VALUE",
	       "nodot=1"),
	BAD_OV(BASE, -1,
	       "-o schedule.day: expected SECTION.KEY=VALUE",
	       "schedule.day"),
	BAD_OV(BASE, -1,
	       "-o schedule.=x: expected SECTION.KEY=VALUE",
	       "schedule.=x"),
	BAD_OV(BASE, -1,
	       "-o site.colour=red: unknown key 'colour' in [site]",
	       "site.colour=red"),
	BAD_OV(BASE, -1,
	       "-o bogus.key=1: unknown section [bogus]",
	       "bogus.key=1"),
	BAD_OV(BASE, -1,
	       "-o transport.password=(hidden): transport.password: secrets are "
	       "not read from the config file, which is easy to leak; use "
	       "password_file or password_env in [transport]",
	       "transport.password=hunter2"),
	BAD_OV(BASE, -1,
	       "-o source.extra.path=x: source.extra: type is required (posts or feed)",
	       "source.extra.path=x"),
	BAD_OV(BASE, -1,
	       "-o transport.type=smtp: smtp needs transport.url (smtp://host:port "
	       "or smtps://host:port)",
	       "transport.type=smtp"),
	BAD_OV(BASE, -1,
	       "-o digest.max_posts=0: 0 is out of range (1 to 1000)",
	       "digest.max_posts=0"),
	/* The first bad override is reported, after the file checked out. */
	BAD_OV(BASE, -1,
	       "-o x=1: expected SECTION.KEY=VALUE",
	       "schedule.day=tue", "x=1"),

	/* ---- feed sources and [fetch] ---- */
	BAD(BASE "[source.f]\ntype = feed\nurl = ftp://x.example.org/f\n", 10,
	    "source.f.url: 'ftp://x.example.org/f' must start with http:// or "
	    "https:// (or file:///path)"),
	BAD(BASE "[source.f]\ntype = feed\nurl = file://relative.xml\n", 10,
	    "source.f.url: 'file://relative.xml': a file URL needs an absolute "
	    "path (file:///path/feed.xml)"),
	BAD(BASE "[source.f]\ntype = feed\nurl = file:///f\ncategories = maybe\n", 11,
	    "source.f.categories: 'maybe' is not yes or no"),
	BAD(BASE "[fetch]\nparallel = 0\n", 9,
	    "fetch.parallel: 0 is out of range (1 to 32)"),

	/* ---- [dkim] and the site's mail keys ---- */
	BAD_OV(BASE, -1,
	       "-o site.feedback_id=a b: 'a b': only printable ASCII "
	       "without spaces (like campaign:list:tagdigest:sender)",
	       "site.feedback_id=a b"),
	/* a well-formed tag ICU has no data for: it would give English dates */
	BAD_OV(BASE, -1,
	       "-o site.language=xx: 'xx' is not a language the digest's dates "
	       "can be written in (ICU has no data for it; like en, de, fr or pt-BR)",
	       "site.language=xx"),
	BAD(BASE "[dkim]\ndomain = t.example.org\n", 0,
	    "[dkim] needs domain, selector and key_file together (or none "
	    "of them to send unsigned)"),
	BAD(BASE "[dkim]\ndomain = t example org\n", 9,
	    "dkim.domain: 't example org' is not a DNS name"),

	/* ---- [transport] keys of the delivery engine ---- */
	BAD(BASE "[transport]\ntype = smtp\nurl = smtp://m.example.org\n"
	    "username = u\npassword_env = PW\nstarttls = off\n", 13,
	    "transport.starttls: off, but transport.username is set: "
	    "credentials are only sent over TLS (use starttls = required, "
	    "or smtps://)"),
	BAD(BASE "[transport]\ntype = smtp\nurl = smtp://m.example.org\n"
	    "username = u\n", 11,
	    "transport.username: needs transport.password_env or "
	    "transport.password_file"),
	BAD(BASE "[transport]\nstarttls = maybe\n", 9,
	    "transport.starttls: 'maybe' is not required or off"),
	BAD(BASE "[transport]\ntype = pigeon\n", 9,
	    "transport.type: 'pigeon' is not a transport (maildir, smtp or "
	    "sendmail)"),
	BAD(BASE "[transport]\nconnections = 0\n", 9,
	    "transport.connections: 0 is out of range (1 to 64)"),
	BAD(BASE "[transport]\nrun_retries = 9\n", 9,
	    "transport.run_retries: 9 is out of range (0 to 5)"),
	BAD(BASE "[transport]\nehlo = bad name\n", 9,
	    "transport.ehlo: 'bad name' is not a DNS name"),

	/* ---- [public] ---- */
	BAD(BASE "[public]\nurl = ftp://t.example.org\n", 9,
	    "public.url: 'ftp://t.example.org' must start with http:// or https://"),
	BAD(BASE "[public]\nurl = https://t.example.org/?x=1\n", 9,
	    "public.url: 'https://t.example.org/?x=1' must not have a query or fragment"),
	BAD(BASE "[public]\nconfirm_hours = 0\n", 9,
	    "public.confirm_hours: 0 is out of range (1 to 720)"),
	BAD(BASE "[public]\nconfirm_hours = 721\n", 9,
	    "public.confirm_hours: 721 is out of range (1 to 720)"),
	BAD(BASE "[public]\nconfirm_hours = two days\n", 9,
	    "public.confirm_hours: 'two days' is not a whole number"),
	BAD(BASE "[public]\nwelcome = later\n", 9,
	    "public.welcome: 'later' is not now or next-slot"),
	BAD(BASE "[public]\nsignups_per_hour = 0\n", 9,
	    "public.signups_per_hour: 0 is out of range (1 to 10000)"),
	BAD(BASE "[public]\nconfirm_mails_per_day = 101\n", 9,
	    "public.confirm_mails_per_day: 101 is out of range (1 to 100)"),
	BAD(BASE "[public]\nthreads = 0\n", 9,
	    "public.threads: 0 is out of range (1 to 256)"),
	BAD(BASE "[public]\nmax_connections = 100001\n", 9,
	    "public.max_connections: 100001 is out of range (1 to 100000)"),
	BAD(BASE "[public]\nmax_connections_per_ip = 0\n", 9,
	    "public.max_connections_per_ip: 0 is out of range (1 to 100000)"),
	BAD(BASE "[public]\nmax_connections = 10\n", 9,
	    "public.max_connections: 16 connections per address is more than "
	    "public.max_connections (10) allows"),
	BAD(BASE "[public]\nmax_connections = 10\nmax_connections_per_ip = 11\n", 10,
	    "public.max_connections_per_ip: 11 connections per address is more than "
	    "public.max_connections (10) allows"),
	BAD(BASE "[public]\nconnection_timeout = 3601\n", 9,
	    "public.connection_timeout: 3601 is out of range (1 to 3600)"),
	BAD(BASE "[public]\ntrusted_proxies = 10.0.0.1, proxy.example.org\n", 9,
	    "public.trusted_proxies: 'proxy.example.org' is not an IP address (like "
	    "192.0.2.10 or 2001:db8::1; one per proxy, no ranges)"),
	BAD(BASE "[public]\ntrusted_proxies = 10.0.0.0/8\n", 9,
	    "public.trusted_proxies: '10.0.0.0/8' is not an IP address (like "
	    "192.0.2.10 or 2001:db8::1; one per proxy, no ranges)"),
	BAD(BASE "[public]\ntrusted_proxies = 10.0.0.256\n", 9,
	    "public.trusted_proxies: '10.0.0.256' is not an IP address (like "
	    "192.0.2.10 or 2001:db8::1; one per proxy, no ranges)"),
	BAD(BASE "[public]\ntrusted_proxies = ,\n", 9,
	    "public.trusted_proxies: no addresses in ','"),
	BAD(BASE "[public]\nsignup_tags = Politics, ?!\n", 9,
	    "public.signup_tags: '?!' has nothing to make a tag slug of"),
	BAD(BASE "[public]\nsignup_tags = , ,\n", 9,
	    "public.signup_tags: no tags in ', ,'"),
	BAD(BASE "[public]\ncolour = red\n", 9,
	    "unknown key 'colour' in [public]"),
	BAD_OV(BASE, -1, "-o public.welcome=sometimes: 'sometimes' is not now or "
	       "next-slot", "public.welcome=sometimes"),

	/* ---- [relay.NAME] and [throttle.DOMAIN] ---- */
	BAD(BASE "[transport]\ntype = smtp\n[relay.a]\nconnections = 2\n", 10,
	    "relay.a: url is required (smtp://host:port or smtps://host:port)"),
	BAD(BASE "[relay.a]\nurl = smtp://m.example.org\n", 8,
	    "relay.a: relays need [transport] type = smtp"),
	BAD(BASE "[transport]\ntype = smtp\nurl = smtp://m.example.org\n"
	    "[relay.a]\nurl = smtp://n.example.org\n", 10,
	    "transport.url: set, but so are [relay.NAME] sections: each relay has "
	    "its own (move it into them)"),
	BAD(BASE "[transport]\ntype = smtp\nconnections = 5\n[relay.a]\n"
	    "url = smtp://m.example.org\nconnections = 2\n[relay.b]\n"
	    "url = smtp://n.example.org\nconnections = 2\n", 10,
	    "transport.connections: 5 sessions, but the relays take 4 at once "
	    "(the sum of their connections)"),
	BAD(BASE "[transport]\ntype = smtp\n[relay.a]\nurl = smtp://m.example.org\n"
	    "username = u\n", 12,
	    "relay.a.username: needs relay.a.password_env or relay.a.password_file"),
	BAD(BASE "[transport]\ntype = smtp\n[relay.a]\nurl = smtp://m.example.org\n"
	    "username = u\npassword_env = P\nstarttls = off\n", 14,
	    "relay.a.starttls: off, but relay.a.username is set: credentials are "
	    "only sent over TLS (use starttls = required, or smtps://)"),
	BAD(BASE "[relay.a]\npassword = x\n", 9,
	    "relay.a.password: secrets are not read from the config file, which is "
	    "easy to leak; use password_file or password_env in its [relay.NAME]"),
	BAD(BASE "[relay.a]\nurl = http://m.example.org\n", 9,
	    "relay.a.url: 'http://m.example.org' must start with smtp:// or smtps://"),
	BAD(BASE "[relay.A]\n", 8,
	    "section [relay.A]: a relay name uses only a-z, 0-9, '_' and '-', at "
	    "most 40 characters"),
	BAD(BASE "[relay]\n", 8, "section [relay] needs a name: [relay.NAME]"),
	BAD(BASE "[throttle.Gmail.com]\n", 8,
	    "section [throttle.Gmail.com]: a throttle names a domain in lower case "
	    "(like [throttle.gmail.com]), at most 40 characters"),
	BAD(BASE "[throttle.gmail.com]\nper_day = 5\n", 9,
	    "unknown key 'per_day' in [throttle.gmail.com]"),
	BAD(BASE "[throttle.gmail.com]\nper_second = 0\n", 8,
	    "throttle.gmail.com: sets no limit: per_second, per_hour or both"),
	BAD_OV(BASE, -1, "-o throttle.x.test.per_hour=0: throttle.x.test: sets no "
	       "limit: per_second, per_hour or both", "throttle.x.test.per_hour=0"),
	BAD(BASE "[transport]\nrelay_pause = 0\n", 9,
	    "transport.relay_pause: 0 is out of range (1 to 86400)"),
};

static void test_bad_configs(void)
{
	for (size_t i = 0; i < sizeof bad_configs / sizeof bad_configs[0]; i++) {
		const struct bad_config *c = &bad_configs[i];
		size_t nov = c->ov[0] ? c->ov[1] ? 2 : 1 : 0;
		int failed = td_test_failed;
		expect_err(c->text, c->ov, nov, c->line, c->msg);
		if (td_test_failed != failed)
			fprintf(stderr, "  (the case at %s:%d)\n", __FILE__, c->at);
	}
}

static void test_values(void)
{
	static const char *const times[] = {
		"24:00", "8:5", "08:60", "08:00pm", "0800", "123:00", "-1:00",
	};
	for (size_t i = 0; i < sizeof times / sizeof *times; i++) {
		char text[256], msg[128];
		snprintf(text, sizeof text, BASE "[schedule]\ntime = %s\n", times[i]);
		snprintf(msg, sizeof msg, "schedule.time: '%s' is not a time of day "
			 "(HH:MM, 00:00 to 23:59)", times[i]);
		expect_err(text, NULL, 0, 9, msg);
	}
	static const char *const zones[] = {
		"Mars/Olympus", "../../etc/passwd", "/etc/localtime", "zone.tab",
		"Europe", "leapseconds", "utc+1",
	};
	for (size_t i = 0; i < sizeof zones / sizeof *zones; i++) {
		char text[256], msg[160];
		snprintf(text, sizeof text, BASE "[schedule]\ntimezone = %s\n", zones[i]);
		snprintf(msg, sizeof msg, "schedule.timezone: '%s' is not a time zone "
			 "this system knows (see /usr/share/zoneinfo/)", zones[i]);
		expect_err(text, NULL, 0, 9, msg);
	}
}

/* inih silently truncates lines past its buffer; we must report them. */
static void test_long_lines(void)
{
	/* "name = " + 192 characters is 199: the longest line that fits. */
	char longname[193];
	memset(longname, 'n', 192);
	longname[192] = '\0';
	char text[1024];
	snprintf(text, sizeof text, "[site]\nname = %s\nurl = https://t.example.org\n"
		 "from = d@t.example.org\n[source.posts]\ntype = posts\npath = p\n",
		 longname);
	struct td_config cfg;
	struct td_err err;
	int rc = load(text, NULL, 0, &cfg, &err);
	CHECK(rc == 0);
	if (rc == 0) {
		CHECK(strlen(cfg.site_name) == 192);
		td_config_free(&cfg);
	}
	/* The same with CRLF: the CR is not content. */
	snprintf(text, sizeof text, "[site]\r\nname = %s\r\nurl = https://t.example.org\r\n"
		 "from = d@t.example.org\r\n[source.posts]\r\ntype = posts\r\npath = p\r\n",
		 longname);
	rc = load(text, NULL, 0, &cfg, &err);
	CHECK(rc == 0);
	if (rc == 0) {
		CHECK(strlen(cfg.site_name) == 192);
		td_config_free(&cfg);
	}

	/* One character more. */
	snprintf(text, sizeof text, BASE "[site]\nfrom_name = %sx\n", longname);
	expect_err(text, NULL, 0, 9, "line too long (205 characters; at most 199 fit)");

	/* The brief's case: a 620-character url line, reported at its line,
	 * not cut to 193 characters and accepted. */
	char url[700];
	strcpy(url, "url = https://t.example.org/");
	size_t n = strlen(url);
	memset(url + n, 'a', 620 - n);
	url[620] = '\0';
	snprintf(text, sizeof text, "[site]\n%s\nname = T\n", url);
	expect_err(text, NULL, 0, 2, "line too long (620 characters; at most 199 fit)");

	/* A long comment is as much a problem: we cannot see where it ends. */
	char comment[400];
	memset(comment, ';', 300);
	comment[300] = '\0';
	snprintf(text, sizeof text, BASE "%s\n", comment);
	expect_err(text, NULL, 0, 8, "line too long (300 characters; at most 199 fit)");
}

static void test_secrets_refused(void)
{
	struct td_config cfg;
	struct td_err err;
	CHECK(load(BASE "[transport]\npassword = hunter2\n", NULL, 0, &cfg, &err) == EX_CONFIG);
	CHECK(strstr(err.msg, "hunter2") == NULL);
}

static void test_overrides(void)
{
	struct td_config cfg;
	struct td_err err;
	const char *const ov[] = {
		"schedule.day=Friday",
		"source.posts.path=/srv/posts",      /* split at the last '.' */
		"source.extra.type=posts",           /* creates [source.extra] */
		"source.extra.path=more",
		"digest.max_posts = 5",
		"site.name=Override Weekly",
		"schedule.time=06:30",
		"schedule.time=06:45",               /* the later one wins */
	};
	int rc = load(BASE "[digest]\nmax_posts = 50\n", ov, sizeof ov / sizeof *ov,
		      &cfg, &err);
	CHECK(rc == 0);
	if (rc) {
		fprintf(stderr, "  %s\n", err.msg);
	} else {
		CHECK(cfg.slot_wday == 5);
		CHECK(cfg.slot_hour == 6 && cfg.slot_minute == 45);
		CHECK(cfg.max_posts == 5);
		CHECK_STR(cfg.site_name, "Override Weekly");
		CHECK_STR(cfg.from_name, "Override Weekly");
		REQUIRE(cfg.nsources == 2);
		CHECK_STR(cfg.sources[0].path, "/srv/posts");
		CHECK_STR(cfg.sources[1].name, "extra");
		CHECK_STR(cfg.sources[1].type, "posts");
		CHECK_STR(cfg.sources[1].path, in_dir("more"));
		td_config_free(&cfg);
	}

	/* An override fixes a bad file value: values are checked afterwards. */
	const char *const fix[] = { "schedule.day=mon" };
	rc = load(BASE "[schedule]\nday = Funday\n", fix, 1, &cfg, &err);
	CHECK(rc == 0);
	if (rc == 0)
		td_config_free(&cfg);

	/* Display names follow the rule the MIME builder applies
	 * (td_display_name_valid): refused here once, not in every message.
	 * A line of the file is too short for that; an override is not. */
	char *name = td_xasprintf("site.from_name=%0300d", 0);
	const char *const longname[] = { name };
	char *want = td_xasprintf("-o %s: the name is longer than 256 bytes (300)", name);
	expect_err(BASE, longname, 1, -1, want);
	free(want);
	free(name);
}

static void test_unreadable(void)
{
	struct td_config cfg;
	struct td_err err = { 0, "" };
	char path[PATH_MAX + 32];
	snprintf(path, sizeof path, "%s/missing.conf", dir);
	CHECK(td_config_load(&cfg, path, NULL, 0, &err) == EX_NOINPUT);
	char want[PATH_MAX + 96];
	snprintf(want, sizeof want, "%s: cannot read: No such file or directory", path);
	CHECK_STR(err.msg, want);

	CHECK(td_config_load(&cfg, dir, NULL, 0, &err) == EX_NOINPUT);
	snprintf(want, sizeof want, "%s: cannot read: Is a directory", dir);
	CHECK_STR(err.msg, want);
}

/* The sample that `make run` uses must load, from the repository root. */
static void test_sample_config(void)
{
	struct td_config cfg;
	struct td_err err = { 0, "" };
	int rc = td_config_load(&cfg, "config/tagdigest.conf", NULL, 0, &err);
	CHECK(rc == 0);
	if (rc) {
		fprintf(stderr, "  %s\n", err.msg);
		return;
	}
	char cwd[PATH_MAX], want[PATH_MAX + 64];
	CHECK(realpath(".", cwd) != NULL);
	CHECK_STR(cfg.file, "config/tagdigest.conf");
	snprintf(want, sizeof want, "%s/config", cwd);
	CHECK_STR(cfg.base_dir, want);
	CHECK_STR(cfg.site_name, "Newsroom Weekly");
	CHECK_STR(cfg.site_url, "https://newsroom.example.org");
	CHECK_STR(cfg.from_address, "digest@newsroom.example.org");
	CHECK_STR(cfg.list_id, "digest.newsroom.example.org");
	snprintf(want, sizeof want, "%s/var/tagdigest.db", cwd);
	CHECK_STR(cfg.store_path, want);
	snprintf(want, sizeof want, "%s/subscribers/subscribers.csv", cwd);
	CHECK_STR(cfg.subscribers_path, want);
	snprintf(want, sizeof want, "%s/templates", cwd);
	CHECK_STR(cfg.templates_dir, want);
	snprintf(want, sizeof want, "%s/outbox", cwd);
	CHECK_STR(cfg.maildir_path, want);
	CHECK_STR(cfg.timezone, "Europe/Berlin");
	CHECK(cfg.slot_wday == 1 && cfg.slot_hour == 8 && cfg.slot_minute == 0);
	CHECK(cfg.max_posts == 10);
	CHECK(cfg.transport_type == TD_TRANSPORT_MAILDIR);
	REQUIRE(cfg.nsources == 1);
	snprintf(want, sizeof want, "%s/posts", cwd);
	CHECK_STR(cfg.sources[0].path, want);
	td_config_free(&cfg);

	/* The commented smtp example, switched on from the command line. */
	const char *const ov[] = {
		"transport.type=smtp", "transport.url=smtps://mail.example.org:465",
		"transport.password_env=TAGDIGEST_SMTP_PASSWORD",
	};
	rc = td_config_load(&cfg, "config/tagdigest.conf", ov, 3, &err);
	CHECK(rc == 0);
	if (rc == 0)
		td_config_free(&cfg);
}

static void test_feed_source_and_fetch(void)
{
	struct td_config cfg;
	struct td_err err;
	int rc = load(BASE
		      "[source.lavrov]\n"
		      "type = feed\n"
		      "url = https://blog.example.org/tag/sergey-lavrov/feed/\n"
		      "categories = no\n"
		      "tags = Sergey Lavrov ,  Diplomacy,,\n"
		      "[source.local]\n"
		      "type = feed\n"
		      "url = file:///srv/feeds/local.xml\n"
		      "[fetch]\n"
		      "parallel = 8\n"
		      "max_bytes = 2048\n", NULL, 0, &cfg, &err);
	CHECK(rc == 0);
	if (rc) {
		fprintf(stderr, "  %s\n", err.msg);
		return;
	}
	REQUIRE(cfg.nsources == 3);
	CHECK(cfg.sources[0].categories);          /* default yes */
	CHECK(!cfg.sources[1].categories);
	REQUIRE(cfg.sources[1].tags.n == 2);
	CHECK_STR(cfg.sources[1].tags.v[0], "Sergey Lavrov");
	CHECK_STR(cfg.sources[1].tags.v[1], "Diplomacy");
	CHECK_STR(cfg.sources[2].url, "file:///srv/feeds/local.xml");
	CHECK(cfg.fetch_parallel == 8 && cfg.fetch_max_bytes == 2048);
	CHECK(cfg.fetch_timeout == 30 && cfg.fetch_connect_timeout == 10 &&
	      cfg.fetch_max_redirects == 5);
	td_config_free(&cfg);
}

static void test_dkim(void)
{
	struct td_config cfg;
	struct td_err err;
	int rc = load(BASE "[dkim]\ndomain = t.example.org\nselector = td2026\n"
		      "key_file = keys/dkim.pem\n", NULL, 0, &cfg, &err);
	CHECK(rc == 0);
	if (rc == 0) {
		CHECK_STR(cfg.dkim_domain, "t.example.org");
		CHECK_STR(cfg.dkim_selector, "td2026");
		CHECK_STR(cfg.dkim_key_file, in_dir("keys/dkim.pem"));
		td_config_free(&cfg);
	}
	const char *ov[] = { "site.unsubscribe_mailto=unsub@t.example.org",
			     "site.feedback_id=weekly:digest:td:t.example.org",
			     "site.language=pt_BR" };
	rc = load(BASE, ov, 3, &cfg, &err);
	CHECK(rc == 0);
	if (rc == 0) {
		CHECK_STR(cfg.unsubscribe_mailto, "unsub@t.example.org");
		CHECK_STR(cfg.feedback_id, "weekly:digest:td:t.example.org");
		/* as BCP 47 writes it: it is also <html lang> */
		CHECK_STR(cfg.language, "pt-BR");
		td_config_free(&cfg);
	}
}

/* [transport] keys of the delivery engine: defaults, values, and the rule
 * that credentials never travel without TLS. */
static void test_delivery_keys(void)
{
	struct td_config cfg;
	struct td_err err;
	int rc = load(BASE, NULL, 0, &cfg, &err);
	CHECK(rc == 0);
	if (rc == 0) {
		CHECK(cfg.connections == 1);
		CHECK(cfg.max_messages_per_connection == 100);
		CHECK(cfg.rate_per_second == 0 && cfg.rate_per_hour == 0);
		CHECK(cfg.run_retries == 2);
		CHECK(cfg.retry_max_attempts == 30 && cfg.retry_max_hours == 72);
		CHECK(cfg.retry_backoff == 300);
		CHECK(cfg.max_permanent_failures == 3);
		CHECK(cfg.max_consecutive_tempfails == 20);
		CHECK(cfg.smtp_starttls == TD_STARTTLS_OFF);
		CHECK(cfg.smtp_ca_file == NULL && cfg.smtp_ehlo == NULL);
		CHECK_STR(cfg.sendmail_path, "/usr/sbin/sendmail");
		td_config_free(&cfg);
	}
	rc = load(BASE "[transport]\ntype = smtp\nurl = smtp://mail.t.example.org:587\n"
		  "username = digest\npassword_env = PW\nca_file = ca.pem\n"
		  "ehlo = out.t.example.org\nconnections = 4\n"
		  "max_messages_per_connection = 50\nrate_per_second = 10\n"
		  "rate_per_hour = 20000\nrun_retries = 0\nretry_max_attempts = 5\n"
		  "retry_max_hours = 24\nretry_backoff = 0\nmax_permanent_failures = 2\n"
		  "max_consecutive_tempfails = 7\n", NULL, 0, &cfg, &err);
	CHECK(rc == 0);
	if (rc == 0) {
		/* credentials make STARTTLS required by default */
		CHECK(cfg.smtp_starttls == TD_STARTTLS_REQUIRED);
		CHECK_STR(cfg.smtp_ca_file, in_dir("ca.pem"));
		CHECK_STR(cfg.smtp_ehlo, "out.t.example.org");
		CHECK(cfg.connections == 4);
		CHECK(cfg.max_messages_per_connection == 50);
		CHECK(cfg.rate_per_second == 10 && cfg.rate_per_hour == 20000);
		CHECK(cfg.run_retries == 0);
		CHECK(cfg.retry_max_attempts == 5 && cfg.retry_max_hours == 24);
		CHECK(cfg.retry_backoff == 0);
		CHECK(cfg.max_permanent_failures == 2);
		CHECK(cfg.max_consecutive_tempfails == 7);
		td_config_free(&cfg);
	}
	/* required without credentials is allowed (a relay that wants TLS) */
	rc = load(BASE "[transport]\ntype = smtp\nurl = smtp://m.example.org\n"
		  "starttls = required\n", NULL, 0, &cfg, &err);
	CHECK(rc == 0);
	if (rc == 0) {
		CHECK(cfg.smtp_starttls == TD_STARTTLS_REQUIRED);
		td_config_free(&cfg);
	}
	rc = load(BASE "[transport]\ntype = sendmail\nsendmail_path = /usr/lib/sendmail\n",
		  NULL, 0, &cfg, &err);
	CHECK(rc == 0);
	if (rc == 0) {
		CHECK(cfg.transport_type == TD_TRANSPORT_SENDMAIL);
		CHECK_STR(cfg.sendmail_path, "/usr/lib/sendmail");
		td_config_free(&cfg);
	}
	/* smtps:// with credentials needs no STARTTLS: it is TLS throughout */
	rc = load(BASE "[transport]\ntype = smtp\nurl = smtps://m.example.org\n"
		  "username = u\npassword_env = PW\nstarttls = off\n", NULL, 0, &cfg, &err);
	CHECK(rc == 0);
	if (rc == 0)
		td_config_free(&cfg);
}

/* [relay.NAME] and [throttle.DOMAIN]: each read into its own struct, in
 * file order, with the table's defaults; the sessions are the relays'
 * sum unless [transport] connections says fewer; an override can add a
 * relay. */
static void test_relays_and_throttles(void)
{
	struct td_config cfg;
	struct td_err err;
	const char *ov[] = { "relay.c.url=smtps://c.example.org:465" };
	int rc = load(BASE "[transport]\ntype = smtp\n"
		  "[relay.b]\nurl = smtp://b.example.org:587\nusername = u\n"
		  "password_file = pw\nconnections = 3\nweight = 2\nca_file = ca.pem\n"
		  "[throttle.gmail.com]\nper_second = 5\nper_hour = 3000\n"
		  "[relay.a]\nurl = smtp://a.example.org\n"
		  "[throttle.yahoo.com]\nper_hour = 100\n", ov, 1, &cfg, &err);
	CHECK(rc == 0);
	if (rc)
		fprintf(stderr, "  %s\n", err.msg);
	REQUIRE(rc == 0);
	CHECK(cfg.nrelays == 3);
	if (cfg.nrelays == 3) {
		CHECK_STR(cfg.relays[0].name, "b");
		CHECK_STR(cfg.relays[0].url, "smtp://b.example.org:587");
		CHECK_STR(cfg.relays[0].username, "u");
		CHECK_STR(cfg.relays[0].password_file, in_dir("pw"));
		CHECK_STR(cfg.relays[0].ca_file, in_dir("ca.pem"));
		CHECK(cfg.relays[0].starttls == TD_STARTTLS_REQUIRED);
		CHECK(cfg.relays[0].connections == 3 && cfg.relays[0].weight == 2);
		CHECK_STR(cfg.relays[1].name, "a");
		CHECK(cfg.relays[1].starttls == TD_STARTTLS_OFF);
		CHECK(cfg.relays[1].connections == 1 && cfg.relays[1].weight == 1);
		CHECK(cfg.relays[1].username == NULL && cfg.relays[1].ca_file == NULL);
		CHECK_STR(cfg.relays[2].url, "smtps://c.example.org:465");
	}
	CHECK(cfg.connections == 5);       /* 3 + 1 + 1 */
	CHECK(cfg.relay_pause == 60);
	CHECK(cfg.nthrottles == 2);
	if (cfg.nthrottles == 2) {
		CHECK_STR(cfg.throttles[0].domain, "gmail.com");
		CHECK(cfg.throttles[0].per_second == 5 && cfg.throttles[0].per_hour == 3000);
		CHECK_STR(cfg.throttles[1].domain, "yahoo.com");
		CHECK(cfg.throttles[1].per_second == 0 && cfg.throttles[1].per_hour == 100);
	}
	CHECK(cfg.nsources == 1);
	td_config_free(&cfg);

	rc = load(BASE "[transport]\ntype = smtp\nconnections = 2\nrelay_pause = 5\n"
		  "[relay.a]\nurl = smtp://a.example.org\nconnections = 4\n", NULL, 0,
		  &cfg, &err);
	REQUIRE(rc == 0);
	CHECK(cfg.connections == 2 && cfg.relay_pause == 5);
	td_config_free(&cfg);
}

/* The zone is loaded with the config: a value the modules are handed,
 * the default UTC; an override replaces the file's. "FOO3" is a POSIX
 * rule, not a zone this system has. */
/* Every [public] key read and kept as the public server wants it: tag
 * names turned into the slugs the form posts, proxies in the form a
 * client address is compared in, and [site] unsubscribe_url following
 * [public] url. */
static void test_public(void)
{
	struct td_config cfg;
	struct td_err err;
	int rc = load(BASE "[public]\n"
		      "url = https://readers.t.example.org/news/\n"
		      "signup_tags = Sergey Lavrov, nato,Côte d'Ivoire, NATO\n"
		      "confirm_hours = 720\n"
		      "welcome = now\n"
		      "signups_per_hour = 20\n"
		      "confirm_mails_per_day = 1\n"
		      "trusted_proxies = 127.0.0.1, 2001:DB8:0:0::1,::ffff:10.1.2.3\n"
		      "threads = 8\n"
		      "max_connections = 5000\n"
		      "max_connections_per_ip = 5000\n"
		      "connection_timeout = 30\n", NULL, 0, &cfg, &err);
	CHECK(rc == 0);
	if (rc) {
		fprintf(stderr, "  %s\n", err.msg);
		return;
	}
	CHECK_STR(cfg.public_url, "https://readers.t.example.org/news");
	CHECK_STR(cfg.unsubscribe_url, "https://readers.t.example.org/news/unsubscribe/");
	CHECK_STR(cfg.preferences_url, "https://readers.t.example.org/news/preferences/");
	CHECK_STR(cfg.site_url, "https://t.example.org");
	REQUIRE(cfg.signup_tags.n == 3);
	CHECK_STR(cfg.signup_tags.v[0], "sergey-lavrov");
	CHECK_STR(cfg.signup_tags.v[1], "nato");
	CHECK_STR(cfg.signup_tags.v[2], "côte-divoire");
	CHECK(cfg.confirm_hours == 720);
	CHECK(cfg.welcome_now);
	CHECK(cfg.signups_per_hour == 20);
	CHECK(cfg.confirm_mails_per_day == 1);
	REQUIRE(cfg.trusted_proxies.n == 3);
	CHECK_STR(cfg.trusted_proxies.v[0], "127.0.0.1");
	CHECK_STR(cfg.trusted_proxies.v[1], "2001:db8::1");
	CHECK_STR(cfg.trusted_proxies.v[2], "::ffff:10.1.2.3");
	CHECK(cfg.public_threads == 8);
	CHECK(cfg.max_connections == 5000);
	CHECK(cfg.max_connections_per_ip == 5000);
	CHECK(cfg.connection_timeout == 30);
	td_config_free(&cfg);

	/* an explicit unsubscribe_url wins over [public] url; welcome is
	 * read case-insensitively like the other words */
	rc = load(BASE "[site]\nunsubscribe_url = https://u.example.org/u/\n"
		  "[public]\nurl = http://127.0.0.1:8080\nwelcome = Next-Slot\n",
		  NULL, 0, &cfg, &err);
	CHECK(rc == 0);
	if (rc) {
		fprintf(stderr, "  %s\n", err.msg);
		return;
	}
	CHECK_STR(cfg.unsubscribe_url, "https://u.example.org/u/");
	CHECK_STR(cfg.preferences_url, "http://127.0.0.1:8080/preferences/");
	CHECK(!cfg.welcome_now);
	td_config_free(&cfg);

	/* an override sets a [public] key like any other */
	const char *const ov[] = { "public.url=https://o.example.org" };
	rc = load(BASE, ov, 1, &cfg, &err);
	CHECK(rc == 0);
	if (rc == 0) {
		CHECK_STR(cfg.unsubscribe_url, "https://o.example.org/unsubscribe/");
		td_config_free(&cfg);
	}
}

#define BOUNCE_BAD(text, line, msg) expect_err(text, NULL, 0, line, msg)

static void test_bounces(void)
{
	struct td_config cfg;
	struct td_err err;
	/* defaults: off, nothing read */
	int rc = load(BASE, NULL, 0, &cfg, &err);
	REQUIRE(rc == 0);
	CHECK(cfg.return_path == NULL && cfg.bounce_mailbox == NULL);
	CHECK(cfg.bounce_processed_folder == NULL);
	CHECK(cfg.bounce_timeout == 30 && cfg.bounce_hard_after == 1);
	CHECK(cfg.bounce_soft_threshold == 5 && cfg.bounce_soft_half_life_days == 7);
	CHECK(cfg.bounce_max_messages == 10000);
	td_config_free(&cfg);

	rc = load(BASE "[bounces]\n"
		  "return_path = bounces+{token}@t.example.org\n"
		  "mailbox = imaps://bounces@mail.t.example.org:993/INBOX\n"
		  "password_env = BOUNCE_PW\n"
		  "password_file = pw/bounces\n"
		  "ca_file = ca.pem\n"
		  "processed_folder = Processed\n"
		  "timeout = 600\n"
		  "hard_after = 100\n"
		  "soft_threshold = 1000\n"
		  "soft_half_life_days = 365\n"
		  "max_messages = 1\n", NULL, 0, &cfg, &err);
	CHECK(rc == 0);
	if (rc) {
		fprintf(stderr, "  %s\n", err.msg);
		return;
	}
	CHECK_STR(cfg.return_path, "bounces+{token}@t.example.org");
	CHECK_STR(cfg.bounce_mailbox, "imaps://bounces@mail.t.example.org:993/INBOX");
	CHECK_STR(cfg.bounce_password_env, "BOUNCE_PW");
	CHECK_STR(cfg.bounce_password_file, in_dir("pw/bounces"));
	CHECK_STR(cfg.bounce_ca_file, in_dir("ca.pem"));
	CHECK_STR(cfg.bounce_processed_folder, "Processed");
	CHECK(cfg.bounce_timeout == 600 && cfg.bounce_hard_after == 100);
	CHECK(cfg.bounce_soft_threshold == 1000 && cfg.bounce_soft_half_life_days == 365);
	CHECK(cfg.bounce_max_messages == 1);
	td_config_free(&cfg);

	/* a relative Maildir resolves against the config's folder; no
	 * password is needed for a local folder */
	rc = load(BASE "[bounces]\nmailbox = maildir:var/bounces\n", NULL, 0, &cfg, &err);
	CHECK(rc == 0);
	if (rc == 0) {
		char *want = td_xasprintf("maildir:%s", in_dir("var/bounces"));
		CHECK_STR(cfg.bounce_mailbox, want);
		free(want);
		td_config_free(&cfg);
	}

	BOUNCE_BAD(BASE "[bounces]\nreturn_path = b+{token}+{token}@t.example.org\n", 9,
	    "bounces.return_path: 'b+{token}+{token}@t.example.org' has {token} "
	    "twice; one names the mail");
	BOUNCE_BAD(BASE "[bounces]\nreturn_path = bounces@t.example.org\n", 9,
	    "bounces.return_path: 'bounces@t.example.org' has no {token} (like "
	    "bounces+{token}@example.org)");
	BOUNCE_BAD(BASE "[bounces]\nreturn_path = bounces@{token}.t.example.org\n", 9,
	    "bounces.return_path: 'bounces@{token}.t.example.org' has {token} in "
	    "the domain; it belongs in the local part, before the '@'");
	BOUNCE_BAD(BASE "[bounces]\nreturn_path = tagdigest-bounces-list+{token}@t.example.org\n", 9,
	    "bounces.return_path: 'tagdigest-bounces-list+{token}@t.example.org' the "
	    "local part would be 70 characters with the longest token (47), more "
	    "than the 64 an address may have: shorten the part around {token} to "
	    "at most 17 characters");
	BOUNCE_BAD(BASE "[bounces]\nreturn_path = b+{token}@t..example.org\n", 9,
	    "bounces.return_path: 'b+{token}@t..example.org' is not an address once "
	    "{token} is filled in: domain label '' invalid: empty (a leading, trailing "
	    "or double '.')");
	/* the mailbox module's own check (mailbox.h), at the key's line */
	BOUNCE_BAD(BASE "[bounces]\nmailbox = imaps://mail.t.example.org\n", 9,
	    "bounces.mailbox: mailbox imaps://mail.t.example.org: no user; write "
	    "USER@HOST (an @ in the user as %40)");
	BOUNCE_BAD(BASE "[bounces]\nmailbox = /var/mail/bounces\n", 9,
	    "bounces.mailbox: mailbox /var/mail/bounces: want maildir:PATH, "
	    "imaps://USER@HOST[/FOLDER], imap://USER@HOST[/FOLDER] (STARTTLS), "
	    "pop3s://USER@HOST or pop3://USER@HOST (STLS)");
	BOUNCE_BAD(BASE "[bounces]\nmailbox = pop3s://b@mail.t.example.org\n"
	    "password_env = PW\nprocessed_folder = Done\n", 11,
	    "bounces.processed_folder: processed_folder Done: POP3 cannot move a "
	    "message, only delete it; leave processed_folder empty");
	BOUNCE_BAD(BASE "[bounces]\nmailbox = imaps://b@mail.t.example.org\n", 9,
	    "bounces.mailbox: needs bounces.password_env or bounces.password_file "
	    "for the login");
	BOUNCE_BAD(BASE "[bounces]\npassword = hunter2\n", 9,
	    "bounces.password: secrets are not read from the config file, which is "
	    "easy to leak; use password_file or password_env in [bounces]");
	BOUNCE_BAD(BASE "[bounces]\nprocessed_folder = Done\n", 9,
	    "bounces.processed_folder: set, but bounces.mailbox is not");
	BOUNCE_BAD(BASE "[bounces]\nmailbox = maildir:b\nprocessed_folder = ../x\n", 10,
	    "bounces.processed_folder: '../x' is not a folder name (like Processed "
	    "or INBOX.Processed)");
	BOUNCE_BAD(BASE "[bounces]\nhard_after = 0\n", 9,
	    "bounces.hard_after: 0 is out of range (1 to 100)");
	BOUNCE_BAD(BASE "[bounces]\nsoft_threshold = 1001\n", 9,
	    "bounces.soft_threshold: 1001 is out of range (1 to 1000)");
	BOUNCE_BAD(BASE "[bounces]\nsoft_half_life_days = 366\n", 9,
	    "bounces.soft_half_life_days: 366 is out of range (1 to 365)");
	BOUNCE_BAD(BASE "[bounces]\ntimeout = 0\n", 9,
	    "bounces.timeout: 0 is out of range (1 to 600)");
	BOUNCE_BAD(BASE "[bounces]\nmax_messages = 0\n", 9,
	    "bounces.max_messages: 0 is out of range (1 to 1000000)");
	BOUNCE_BAD(BASE "[bounces]\nreturn = x\n", 9, "unknown key 'return' in [bounces]");
	const char *const ov[] = { "bounces.password=hunter2" };
	expect_err(BASE, ov, 1, -1,
		   "-o bounces.password=(hidden): bounces.password: secrets are not "
		   "read from the config file, which is easy to leak; use "
		   "password_file or password_env in [bounces]");
}

static void test_timezone_loaded(void)
{
	struct td_config cfg;
	struct td_err err;
	if (load(BASE, NULL, 0, &cfg, &err) == 0) {
		CHECK(cfg.tz != NULL);
		CHECK_STR(td_tz_name(cfg.tz), "UTC");
		td_config_free(&cfg);
	} else {
		CHECK(!"BASE loads");
	}
	const char *ov[] = { "schedule.timezone=Asia/Kolkata" };
	if (load(BASE "[schedule]\ntimezone = Europe/Berlin\n", ov, 1, &cfg, &err) == 0) {
		CHECK_STR(cfg.timezone, "Asia/Kolkata");
		CHECK_STR(td_tz_name(cfg.tz), "Asia/Kolkata");
		char buf[32];
		td_tz_format(cfg.tz, 0, "%H:%M %Z", buf, sizeof buf);
		CHECK_STR(buf, "05:30 IST");
		td_config_free(&cfg);
	} else {
		CHECK(!"timezone override loads");
	}
	expect_err(BASE "[schedule]\ntimezone = FOO3\n", NULL, 0, 9,
		   "schedule.timezone: 'FOO3' is not a time zone this system "
		   "knows (see /usr/share/zoneinfo/)");
}

int main(void)
{
	char tmpl[] = "/tmp/test_config.XXXXXX";
	if (!mkdtemp(tmpl) || !realpath(tmpl, dir)) {
		perror("mkdtemp");
		return 2;
	}
	snprintf(conf, sizeof conf, "%s/t.conf", dir);

	TD_RUN(test_defaults);
	TD_RUN(test_all_keys);
	TD_RUN(test_bad_configs);
	TD_RUN(test_relays_and_throttles);
	TD_RUN(test_values);
	TD_RUN(test_long_lines);
	TD_RUN(test_secrets_refused);
	TD_RUN(test_overrides);
	TD_RUN(test_unreadable);
	TD_RUN(test_sample_config);

	TD_RUN(test_feed_source_and_fetch);
	TD_RUN(test_dkim);
	TD_RUN(test_delivery_keys);
	TD_RUN(test_timezone_loaded);
	TD_RUN(test_public);
	TD_RUN(test_bounces);
	unlink(conf);
	rmdir(dir);
	return TD_DONE("test_config");
}
