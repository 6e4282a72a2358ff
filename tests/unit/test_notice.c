/*
 * test_notice.c: the confirmation mail, composed from the shipped
 * templates and read back twice: its header fields with header_reader.h
 * (the wire form and RFC 2047, written independently of mime.c), and the
 * whole message with Python's email package (tests/unit/mail_reader.py,
 * policy.default, no defects), which also verifies the DKIM signature
 * with Python's dkim module. Template errors name file, line and column.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "header_reader.h"
#include "json_mini.h"
#include "tagdigest/compose/notice.h"
#include "tagdigest/core/util.h"

#define PYTHON "/usr/bin/python3"
#define READER "tests/unit/mail_reader.py"
#define NOW 1700000000 /* Tue, 14 Nov 2023 22:13:20 UTC */

static char dir[] = "/tmp/td-notice-XXXXXX";

static struct td_compose_options options(const char *templates_dir)
{
	struct td_compose_options o = { 0 };
	o.render.templates_dir = templates_dir;
	o.render.site_name = "K\xc3\xb6ln Weekly";
	o.render.site_url = "https://news.example.org";
	o.from_name = "K\xc3\xb6ln Weekly Digest";
	o.from_address = "digest@news.example.org";
	/* what a confirmation must not use, set so that it could */
	o.list_id = "digest.news.example.org";
	o.unsubscribe_url = "https://news.example.org/unsubscribe/";
	o.unsubscribe_mailto = "off@news.example.org";
	o.feedback_id = "a:b:c:tagdigest";
	return o;
}

/* The one header field called name (with its folds), malloc'd; NULL when
 * the message has none or more than one. */
static char *field_of(const char *msg, const char *name)
{
	const char *end = strstr(msg, "\r\n\r\n");
	size_t nlen = strlen(name);
	char *found = NULL;
	for (const char *p = msg; p && end && p < end;) {
		const char *eol = strstr(p, "\r\n");
		const char *stop = eol;
		while (stop && (stop[2] == ' ' || stop[2] == '\t'))
			stop = strstr(stop + 2, "\r\n");
		if (!stop)
			break;
		if (strncasecmp(p, name, nlen) == 0 && p[nlen] == ':') {
			if (found) {
				free(found);
				return NULL;
			}
			found = td_xstrndup(p, (size_t)(stop + 2 - p));
		}
		p = stop + 2;
	}
	return found;
}

/* Python's reading of msg (mail_reader.py), or NULL after a failed check. */
static struct td_value *python_reads(const char *msg, size_t len, const char *der)
{
	char *file = td_xasprintf("%s/msg.eml", dir);
	write_bytes(NULL, file, msg, len);
	char *cmd = td_xasprintf("%s %s %s %s", PYTHON, READER, file, der ? der : "");
	FILE *p = popen(cmd, "r");
	struct td_buf out = TD_BUF_INIT;
	char chunk[4096];
	size_t n;
	while (p && (n = fread(chunk, 1, sizeof chunk, p)) > 0)
		td_buf_append(&out, chunk, n);
	int status = p ? pclose(p) : -1;
	CHECK(status == 0);
	char err[160] = "";
	struct td_value *v = status == 0 ? json_parse(out.data, out.len, err, sizeof err) : NULL;
	if (!v)
		fprintf(stderr, "  %s: %s\n", cmd, err);
	CHECK(v != NULL);
	unlink(file);
	free(file);
	free(cmd);
	td_buf_free(&out);
	return v;
}

static const char *str(const struct td_value *v, const char *key)
{
	const char *s = td_value_map_get_str(v, key);
	return s ? s : "(null)";
}

/* Every line of a text part a terminal shows within 72 columns, but for a
 * URL on a line of its own (the wrapper never breaks one). */
static bool text_within_72(const char *text)
{
	for (const char *p = text; *p;) {
		size_t len = strcspn(p, "\n");
		char *line = td_xstrndup(p, len);
		const char *t = line + strspn(line, " ");
		bool url = strncmp(t, "https://", 8) == 0 && !strchr(t, ' ');
		bool ok = url || td_utf8_width(line, len) <= 72;
		if (!ok)
			fprintf(stderr, "  over 72 columns: \"%s\"\n", line);
		free(line);
		if (!ok)
			return false;
		p += len + (p[len] == '\n');
	}
	return true;
}

static void test_confirmation(void)
{
	struct td_compose_options o = options("templates");
	struct td_notice_composer *c;
	struct td_err err = { 0, "" };
	REQUIRE(td_notice_composer_new(&o, &c, &err) == 0);
	struct td_strv tags = TD_STRV_INIT;
	td_strv_push(&tags, "NATO");
	td_strv_push(&tags, "C\xc3\xb4te d'Ivoire");
	td_strv_push(&tags, "<script>alert(1)</script>");
	const char *url = "https://readers.example.org/confirm/"
			  "anVlcmdlbkBleGFtcGxlLm9yZwpuMG5jZQoxNzAwMTcyODAw."
			  "mzWH3Ohk9aI_OdUP03n_faJJM6zdakJecZLl1-mZMLw";
	struct td_confirmation m = {
		.email = "juergen@example.org",
		.name = "J\xc3\xbcrgen M\xc3\xbcller, Esq.",
		.confirm_url = url,
		.expires_hours = 48,
		.tag_names = &tags,
		.frequency = "weekly",
	};
	struct td_buf out = TD_BUF_INIT;
	td_buf_puts(&out, "kept");
	REQUIRE(td_notice_confirmation(c, &m, NOW, &out, &err) == 0);
	REQUIRE(strncmp(out.data, "kept", 4) == 0);
	const char *msg = out.data + 4;

	/* the fields as a reader decodes them, from the wire form */
	const char *why;
	char *addr = NULL, *f = field_of(msg, "To");
	char *got = f ? read_field(f, "To", true, 78, &addr, &why) : NULL;
	CHECK_STR(got, m.name);
	CHECK_STR(addr, "juergen@example.org");
	free(got);
	free(addr);
	free(f);
	addr = NULL;
	f = field_of(msg, "From");
	got = f ? read_field(f, "From", true, 78, &addr, &why) : NULL;
	CHECK_STR(got, "K\xc3\xb6ln Weekly Digest");
	CHECK_STR(addr, "digest@news.example.org");
	free(got);
	free(addr);
	free(f);
	f = field_of(msg, "Subject");
	got = f ? read_field(f, "Subject", false, 78, NULL, &why) : NULL;
	CHECK_STR(got, "Confirm your subscription to K\xc3\xb6ln Weekly");
	free(got);
	free(f);
	f = field_of(msg, "Auto-Submitted");
	CHECK_STR(f, "Auto-Submitted: auto-generated\r\n");
	free(f);

	/* and the whole message as Python's email package reads it */
	struct td_value *py = python_reads(msg, out.len - 4, NULL);
	if (py) {
		const struct td_value *defects = td_value_map_get(py, "defects");
		CHECK(defects && td_value_list_len(defects) == 0);
		CHECK_STR(str(py, "to_name"), m.name);
		CHECK_STR(str(py, "to_addr"), "juergen@example.org");
		CHECK_STR(str(py, "from_name"), "K\xc3\xb6ln Weekly Digest");
		CHECK_STR(str(py, "from_addr"), "digest@news.example.org");
		CHECK_STR(str(py, "subject"), "Confirm your subscription to K\xc3\xb6ln Weekly");
		CHECK_STR(str(py, "date"), "Tue, 14 Nov 2023 22:13:20 +0000");
		CHECK_STR(str(py, "auto_submitted"), "auto-generated");
		/* not list mail: the reader is not on the list yet */
		const struct td_value *lists = td_value_map_get(py, "list_headers");
		CHECK(lists && td_value_list_len(lists) == 0);
		CHECK_STR(str(py, "dkim"), "(null)");
		const char *id = str(py, "message_id");
		size_t idlen = strlen(id);
		CHECK(idlen > 20 && id[0] == '<' &&
		      strcmp(id + idlen - strlen("@news.example.org>"), "@news.example.org>") == 0);
		CHECK_STR(str(py, "content_type"), "multipart/alternative");
		const struct td_value *parts = td_value_map_get(py, "parts");
		CHECK(parts && td_value_list_len(parts) == 2);
		if (parts && td_value_list_len(parts) == 2) {
			CHECK_STR(td_value_text(td_value_list_at(parts, 0)), "text/plain");
			CHECK_STR(td_value_text(td_value_list_at(parts, 1)), "text/html");
		}

		const char *text = str(py, "text");
		char *line = td_xasprintf("\n%s\n", url);
		CHECK(strstr(text, line) != NULL);       /* the link, whole */
		free(line);
		CHECK(strstr(text, "Hello J\xc3\xbcrgen M\xc3\xbcller, Esq.,\n") != NULL);
		CHECK(strstr(text, "weekly digest of K\xc3\xb6ln") != NULL);
		CHECK(strstr(text, "  - NATO\n  - C\xc3\xb4te d'Ivoire\n"
				   "  - <script>alert(1)</script>\n") != NULL);
		CHECK(strstr(text, "works for 48 hours") != NULL);
		CHECK(strstr(text, "If this was not you, ignore this mail: nothing happens") != NULL);
		CHECK(text_within_72(text));

		const char *html = str(py, "html");
		char *href = td_xasprintf("<a href=\"%s\" id=\"confirm-link\"", url);
		CHECK(strstr(html, href) != NULL);
		free(href);
		CHECK(strstr(html, "<li>&lt;script&gt;alert(1)&lt;/script&gt;</li>") != NULL);
		CHECK(strstr(html, "<script>") == NULL);
		CHECK(strstr(html, "works for 48 hours") != NULL);
		CHECK(strstr(html, "ignore this mail: nothing happens") != NULL);
		td_value_free(py);
	}

	/* each sign-up is its own mail: a fresh Message-ID */
	struct td_buf again = TD_BUF_INIT;
	REQUIRE(td_notice_confirmation(c, &m, NOW, &again, &err) == 0);
	char *id1 = field_of(msg, "Message-ID"), *id2 = field_of(again.data, "Message-ID");
	CHECK(id1 && id2 && strcmp(id1, id2) != 0);
	free(id1);
	free(id2);
	td_buf_free(&again);

	/* a name without a display name, and no tags given */
	m.name = "";
	m.tag_names = NULL;
	td_buf_reset(&out);
	CHECK(td_notice_confirmation(c, &m, NOW, &out, &err) == 0);
	f = field_of(out.data, "To");
	CHECK_STR(f, "To: juergen@example.org\r\n");
	free(f);
	CHECK(strstr(out.data, "Hello,") != NULL);

	td_buf_free(&out);
	td_strv_free(&tags);
	td_notice_composer_free(c);
}

/* Hostile form input never becomes a header: an address or a name with a
 * line break is refused (EX_DATAERR) and nothing is appended. */
static void test_refuses_bad_input(void)
{
	struct td_compose_options o = options("templates");
	struct td_notice_composer *c;
	struct td_err err = { 0, "" };
	REQUIRE(td_notice_composer_new(&o, &c, &err) == 0);
	struct td_confirmation m = {
		.email = "a@example.org\r\nBcc: everyone@example.org",
		.name = "",
		.confirm_url = "https://news.example.org/confirm/T",
		.expires_hours = 48,
		.frequency = "weekly",
	};
	struct td_buf out = TD_BUF_INIT;
	CHECK(td_notice_confirmation(c, &m, NOW, &out, &err) == EX_DATAERR);
	CHECK(strstr(err.msg, "a@example.org") != NULL);
	m.email = "a@example.org";
	m.name = "Eve\r\nBcc: everyone@example.org";
	CHECK(td_notice_confirmation(c, &m, NOW, &out, &err) == EX_DATAERR);
	m.name = "";
	m.email = "not an address";
	CHECK(td_notice_confirmation(c, &m, NOW, &out, &err) == EX_DATAERR);
	m.email = NULL;
	CHECK(td_notice_confirmation(c, &m, NOW, &out, &err) == EX_DATAERR);
	CHECK(out.len == 0);
	td_buf_free(&out);
	td_notice_composer_free(c);
}

/* Templates are checked when the composer is made: a missing one or a
 * syntax error names file, line and column. */
static void test_template_errors(void)
{
	char *tdir = td_xasprintf("%s/tpl", dir);
	mkdir(tdir, 0755);
	write_file(tdir, "confirm.subject.mustache", "Confirm {{site.name}}");
	write_file(tdir, "confirm.html.mustache", "<p>{{confirm_url}}</p>");
	struct td_compose_options o = options(tdir);
	struct td_notice_composer *c = NULL;
	struct td_err err = { 0, "" };
	CHECK(td_notice_composer_new(&o, &c, &err) == EX_CONFIG);
	CHECK(c == NULL);
	char *want = td_xasprintf("templates: %s/confirm.txt.mustache is missing", tdir);
	CHECK_STR(err.msg, want);
	free(want);

	write_file(tdir, "confirm.txt.mustache", "Hello\n\n{{#tags}}\n- {{name}}\n");
	CHECK(td_notice_composer_new(&o, &c, &err) == EX_DATAERR);
	CHECK(c == NULL);
	CHECK(strstr(err.msg, "confirm.txt.mustache:3:1: unclosed section 'tags'") != NULL);
	if (!strstr(err.msg, "confirm.txt.mustache:3:1:"))
		fprintf(stderr, "  %s\n", err.msg);

	/* fixed: composes, with the folder's own templates */
	write_file(tdir, "confirm.txt.mustache", "{{#tags}}- {{name}}\n{{/tags}}{{confirm_url}}\n");
	REQUIRE(td_notice_composer_new(&o, &c, &err) == 0);
	struct td_strv tags = TD_STRV_INIT;
	td_strv_push(&tags, "USA");
	struct td_confirmation m = {
		.email = "r@example.org", .name = "R", .confirm_url = "https://x.example/c/T",
		.expires_hours = 1, .tag_names = &tags, .frequency = "daily",
	};
	struct td_buf out = TD_BUF_INIT;
	CHECK(td_notice_confirmation(c, &m, NOW, &out, &err) == 0);
	CHECK(strstr(out.data, "\r\n- USA\r\nhttps://x.example/c/T\r\n") != NULL);
	td_buf_free(&out);
	td_strv_free(&tags);
	td_notice_composer_free(c);
	free(tdir);
}

/* With [dkim], the confirmation is signed as the digests are, and the
 * signature verifies with Python's dkim module; a bad key stops the
 * composer from being made. */
static void test_dkim(void)
{
	char *key = td_xasprintf("%s/k.pem", dir), *der = td_xasprintf("%s/k.der", dir);
	char *cmd = td_xasprintf("openssl genpkey -algorithm ed25519 -out %s 2>/dev/null && "
				 "chmod 600 %s && openssl pkey -in %s -pubout -outform DER "
				 "-out %s 2>/dev/null", key, key, key, der);
	REQUIRE(system(cmd) == 0);
	struct td_compose_options o = options("templates");
	o.dkim_domain = "news.example.org";
	o.dkim_selector = "td2026";
	o.dkim_key_file = key;
	struct td_notice_composer *c;
	struct td_err err = { 0, "" };
	REQUIRE(td_notice_composer_new(&o, &c, &err) == 0);
	struct td_confirmation m = {
		.email = "r@example.org", .name = "R\xc3\xa9mi",
		.confirm_url = "https://news.example.org/confirm/T", .expires_hours = 2,
		.frequency = "monthly",
	};
	struct td_buf out = TD_BUF_INIT;
	REQUIRE(td_notice_confirmation(c, &m, NOW, &out, &err) == 0);
	CHECK(strncmp(out.data, "DKIM-Signature: ", 16) == 0);
	struct td_value *py = python_reads(out.data, out.len, der);
	if (py) {
		const struct td_value *defects = td_value_map_get(py, "defects");
		CHECK(defects && td_value_list_len(defects) == 0);
		CHECK(strstr(str(py, "dkim"), "d=news.example.org") != NULL);
		CHECK(strstr(str(py, "dkim"), "s=td2026") != NULL);
		const struct td_value *ok = td_value_map_get(py, "dkim_verified");
		CHECK(ok && td_value_get_bool(ok));
		td_value_free(py);
	}
	/* one byte of the body changed: the signature no longer holds */
	char *body = strstr(out.data, "\r\n\r\n");
	char *hit = body ? strstr(body, "monthly") : NULL;
	CHECK(hit != NULL);
	if (hit) {
		hit[0] = 'M';
		py = python_reads(out.data, out.len, der);
		const struct td_value *ok = py ? td_value_map_get(py, "dkim_verified") : NULL;
		CHECK(ok && !td_value_get_bool(ok));
		td_value_free(py);
	}
	td_buf_free(&out);
	td_notice_composer_free(c);

	chmod(key, 0644);
	CHECK(td_notice_composer_new(&o, &c, &err) == EX_CONFIG);
	CHECK(c == NULL);
	unlink(key);
	unlink(der);
	free(cmd);
	free(key);
	free(der);
}

int main(void)
{
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	TD_RUN(test_confirmation);
	TD_RUN(test_refuses_bad_input);
	TD_RUN(test_template_errors);
	TD_RUN(test_dkim);
	char *cmd = td_xasprintf("rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	free(cmd);
	return TD_DONE("notice");
}
