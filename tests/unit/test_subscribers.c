/*
 * test_subscribers.c: the subscriber CSV reader. Bad rows are reported on
 * stderr, so the tests capture stderr and check each "FILE:LINE: problem"
 * line: a row skipped for the wrong reason, or at the wrong line, fails.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "tagdigest/core/buf.h"
#include "tagdigest/schedule/subscribers.h"

/* Parses text (a C string) as "t.csv", with stderr captured. */
static int parse(const char *text, struct td_subscriber_list *l, struct td_err *err)
{
	capture_start();
	int rc = td_subscribers_parse("t.csv", text, strlen(text), l, err);
	capture_end();
	return rc;
}

static int logged(const char *line)
{
	if (strstr(captured, line))
		return 1;
	fprintf(stderr, "  not logged: \"%s\"\n  log was:\n%s", line, captured);
	return 0;
}

static void test_basic(void)
{
	struct td_subscriber_list l;
	struct td_err err = { 0, "" };
	int rc = parse("email,name,tags\n"
		       "anna@example.org,Anna Schmidt,nato;eu\n"
		       "bob@example.net,Bob,usa\n", &l, &err);
	CHECK(rc == 0);
	CHECK(l.n == 2);
	CHECK(l.nbad == 0);
	CHECK_STR(captured, "");
	if (l.n == 2) {
		CHECK_STR(l.v[0].email, "anna@example.org");
		CHECK_STR(l.v[0].name, "Anna Schmidt");
		CHECK(l.v[0].tags.n == 2);
		CHECK_STR(l.v[0].tags.v[0], "nato");
		CHECK_STR(l.v[0].tags.v[1], "eu");
		CHECK(l.v[0].line == 2);
		CHECK(l.v[1].line == 3);
	}
	/* Lookup ignores case, as duplicate detection does. */
	const struct td_subscriber *s = td_subscribers_find(&l, "BOB@Example.NET");
	CHECK(s && strcmp(s->name, "Bob") == 0);
	CHECK(td_subscribers_find(&l, "carol@example.org") == NULL);
	td_subscribers_free(&l);
	CHECK(l.v == NULL && l.n == 0);
}

static void test_quotes(void)
{
	struct td_subscriber_list l;
	struct td_err err = { 0, "" };
	int rc = parse("email,name,tags\n"
		       "\"a@example.org\",\"The \"\"Boss\"\"\",\"nato\"\n"
		       "  \"b@example.org\"  , \"Doe, Jane\" ,eu\n"
		       "c@example.org,\"\",uk", &l, &err);   /* no final newline */
	CHECK(rc == 0);
	CHECK(l.n == 3);
	CHECK(l.nbad == 0);
	if (l.n == 3) {
		CHECK_STR(l.v[0].name, "The \"Boss\"");
		CHECK_STR(l.v[1].email, "b@example.org");
		CHECK_STR(l.v[1].name, "Doe, Jane");
		CHECK_STR(l.v[2].name, "");
		CHECK_STR(l.v[2].tags.v[0], "uk");
	}
	td_subscribers_free(&l);
}

/* Line breaks inside quotes: each row keeps the line it starts on, and a
 * line break in a name (which would reach the To: header) is refused. */
static void test_embedded_newlines(void)
{
	struct td_subscriber_list l;
	struct td_err err = { 0, "" };
	int rc = parse("email,name,tags,notes\n"                      /* 1 */
		       "a@example.org,Anna,nato,\"line one\n"          /* 2 */
		       "line two, still notes\"\n"                     /* 3 */
		       "b@example.org,Bob,eu,\n"                       /* 4 */
		       "\"c@example.org\",\"Carl\n"                    /* 5 */
		       "Second\",usa,\n"                               /* 6 */
		       "d@example.org,Dora,uk,\"x\r\ny\"\n",           /* 7, 8 */
		       &l, &err);
	CHECK(rc == 0);
	CHECK(l.n == 3);
	CHECK(l.nbad == 1);
	CHECK(logged("tagdigest: t.csv:5: name contains a line break\n"));
	if (l.n == 3) {
		CHECK_STR(l.v[0].email, "a@example.org");
		CHECK(l.v[0].line == 2);
		CHECK_STR(l.v[1].email, "b@example.org");
		CHECK(l.v[1].line == 4);
		CHECK_STR(l.v[2].email, "d@example.org");
		CHECK(l.v[2].line == 7);
	}
	td_subscribers_free(&l);
}

/* A spreadsheet export: BOM, CRLF, columns in another order and case,
 * blanks around fields. The name is last so a leftover '\r' would show. */
static void test_bom_crlf_header_order(void)
{
	struct td_subscriber_list l;
	struct td_err err = { 0, "" };
	int rc = parse("\xef\xbb\xbf" "Tags, EMAIL ,Name\r\n"
		       "nato,anna@example.org,Anna\r\n"
		       "\r\n"
		       "eu;uk, bob@example.org , Bob \r\n", &l, &err);
	CHECK(rc == 0);
	CHECK(l.n == 2);
	CHECK(l.nbad == 0);
	CHECK_STR(captured, "");
	if (l.n == 2) {
		CHECK_STR(l.v[0].name, "Anna");
		CHECK_STR(l.v[1].email, "bob@example.org");
		CHECK_STR(l.v[1].name, "Bob");
		CHECK(l.v[1].tags.n == 2);
		CHECK(l.v[1].line == 4);
	}
	td_subscribers_free(&l);

	/* Extra columns are ignored wherever they are. */
	rc = parse("\n"
		   "id,email,joined,name,tags,source\n"
		   "7,a@example.org,2024-01-01,Anna,nato,web\n", &l, &err);
	CHECK(rc == 0);
	CHECK(l.n == 1);
	if (l.n == 1) {
		CHECK_STR(l.v[0].name, "Anna");
		CHECK(l.v[0].line == 3);
	}
	td_subscribers_free(&l);
}

static void test_bad_header(void)
{
	struct td_subscriber_list l;
	struct td_err err = { 0, "" };
	CHECK(parse("email,name\nx@example.org,X\n", &l, &err) == EX_DATAERR);
	CHECK_STR(err.msg, "t.csv:1: header has no 'tags' column (it needs email, "
		  "name and tags)");
	CHECK(l.n == 0 && l.v == NULL);

	CHECK(parse("email,name,tags,EMAIL\n", &l, &err) == EX_DATAERR);
	CHECK_STR(err.msg, "t.csv:1: header names the column 'email' twice");

	/* A data row where the header should be. */
	CHECK(parse("anna@example.org,Anna,nato\n", &l, &err) == EX_DATAERR);
	CHECK(strstr(err.msg, "t.csv:1: header has no 'email' column") == err.msg);

	CHECK(parse("", &l, &err) == EX_DATAERR);
	CHECK(strncmp(err.msg, "t.csv: empty", 12) == 0);
	CHECK(parse("\n\r\n", &l, &err) == EX_DATAERR);
	CHECK(strncmp(err.msg, "t.csv: empty", 12) == 0);

	CHECK(parse("email,\"name,tags\n", &l, &err) == EX_DATAERR);
	CHECK_STR(err.msg, "t.csv:1: header: unterminated quoted field (opened on "
		  "line 1)");
}

static void test_bad_rows(void)
{
	struct td_subscriber_list l;
	struct td_err err = { 0, "" };
	int rc = parse("email,name,tags\n"                             /* 1 */
		       "good@example.org,Good,nato\n"                  /* 2 */
		       "not an address,Bad Row,nato\n"                 /* 3 */
		       "short@example.org,Short\n"                     /* 4 */
		       "notags@example.org,No Tags, ; ;\n"             /* 5 */
		       "utf8@example.org,Bad \xff,nato\n"              /* 6 */
		       "stray@example.org,Ab\"c,nato\n"                /* 7 */
		       "after@example.org,\"Ab\"c,nato\n"              /* 8 */
		       "\n"                                            /* 9 */
		       "ctl@example.org,Tab\there,nato\n"              /* 10 */
		       "GOOD@EXAMPLE.ORG,Dup,eu\n"                     /* 11 */
		       "\"a@b.example\r\nBcc: x@y.example\",Evil,nato\n" /* 12, 13 */
		       "zz@example.org,Zed,\xc3\xa4\xff\n"              /* 14 */
		       "last@example.org,Last,\"nato;unterminated\n"   /* 15 */
		       "more text\n", &l, &err);
	CHECK(rc == 0);
	CHECK(l.n == 1);
	CHECK(l.nbad == 11);
	if (l.n == 1)
		CHECK_STR(l.v[0].email, "good@example.org");
	CHECK(logged("t.csv:3: email 'not an address': contains a space\n"));
	CHECK(logged("t.csv:4: 2 fields, but the header has 3\n"));
	CHECK(logged("t.csv:5: no tags"));
	CHECK(logged("t.csv:6: name is not valid UTF-8\n"));
	CHECK(logged("t.csv:7: '\"' inside an unquoted field"));
	CHECK(logged("t.csv:8: text after the closing quote of a field\n"));
	CHECK(logged("t.csv:10: name contains a control character\n"));
	CHECK(logged("t.csv:11: email 'GOOD@EXAMPLE.ORG': duplicate of line 2\n"));
	/* The CR/LF is shown escaped: a hostile row cannot forge log lines. */
	CHECK(logged("t.csv:12: email 'a@b.example\\r\\nBcc: x@y.example': "
		     "contains a control character\n"));
	CHECK(logged("t.csv:14: tags: not valid UTF-8\n"));
	CHECK(logged("t.csv:15: unterminated quoted field (opened on line 15)\n"));
	CHECK(!strstr(captured, "t.csv:2:"));
	CHECK(!strstr(captured, "t.csv:9:"));
	td_subscribers_free(&l);
}

/* The first of two rows with the same address wins, even when they
 * differ only in case; a bad first row does not block a good second. */
static void test_duplicates(void)
{
	struct td_subscriber_list l;
	struct td_err err = { 0, "" };
	int rc = parse("email,name,tags\n"
		       "Anna@Example.org,Anna,nato\n"
		       "anna@example.ORG,Anna Again,eu\n"
		       "bob@example.org,Bob,\n"
		       "bob@example.org,Bob,uk\n", &l, &err);
	CHECK(rc == 0);
	CHECK(l.n == 2);
	CHECK(l.nbad == 2);
	CHECK(logged("t.csv:3: email 'anna@example.ORG': duplicate of line 2\n"));
	CHECK(logged("t.csv:4: no tags"));
	if (l.n == 2) {
		CHECK_STR(l.v[0].name, "Anna");
		CHECK_STR(l.v[1].email, "bob@example.org");
		CHECK(l.v[1].line == 5);
	}
	td_subscribers_free(&l);

	/* Enough rows to make the duplicate index grow a few times. */
	static char big[64 * 1024];
	size_t off = (size_t)snprintf(big, sizeof big, "email,name,tags\n");
	for (int i = 0; i < 500; i++)      /* lines 2 to 501 */
		off += (size_t)snprintf(big + off, sizeof big - off,
					"user%d@example.org,U,nato\n", i);
	snprintf(big + off, sizeof big - off, "USER250@example.org,U,eu\n");
	rc = parse(big, &l, &err);
	CHECK(rc == 0);
	CHECK(l.n == 500);
	CHECK(l.nbad == 1);
	CHECK(logged("t.csv:502: email 'USER250@example.org': duplicate of line 252\n"));
	td_subscribers_free(&l);
}

static void test_tag_slugs(void)
{
	struct td_subscriber_list l;
	struct td_err err = { 0, "" };
	int rc = parse("email,name,tags\n"
		       "a@example.org,A,\"Sergey Lavrov; NATO ;nato; ;North Korea;"
		       "Côte d'Ivoire;;\"\n", &l, &err);
	CHECK(rc == 0);
	CHECK(l.n == 1);
	if (l.n == 1) {
		CHECK(l.v[0].tags.n == 4);
		if (l.v[0].tags.n == 4) {
			CHECK_STR(l.v[0].tags.v[0], "sergey-lavrov");
			CHECK_STR(l.v[0].tags.v[1], "nato");
			CHECK_STR(l.v[0].tags.v[2], "north-korea");
			CHECK_STR(l.v[0].tags.v[3], "côte-divoire");
		}
	}
	td_subscribers_free(&l);
}

/* The sample that ships in the repository must load cleanly. */
static void test_sample_file(void)
{
	struct td_subscriber_list l;
	struct td_err err = { 0, "" };
	capture_start();
	int rc = td_subscribers_load("subscribers/subscribers.csv", &l, &err);
	capture_end();
	CHECK(rc == 0);
	if (rc)
		fprintf(stderr, "  %s\n", err.msg);
	CHECK_STR(captured, "");
	CHECK(l.n == 8);
	CHECK(l.nbad == 0);
	const struct td_subscriber *s = td_subscribers_find(&l, "juergen.mueller@example.net");
	CHECK(s != NULL);
	if (s) {
		CHECK_STR(s->name, "Jürgen Müller");
		CHECK(s->tags.n == 3);
		if (s->tags.n == 3)
			CHECK_STR(s->tags.v[2], "diplomacy");
	}
	s = td_subscribers_find(&l, "editor@example.com");
	CHECK(s && strcmp(s->name, "Doe, Jane") == 0);
	s = td_subscribers_find(&l, "tanaka@example.org");
	CHECK(s && s->tags.n == 1 && strcmp(s->tags.v[0], "north-korea") == 0);
	td_subscribers_free(&l);

	CHECK(td_subscribers_load("subscribers/no-such-file.csv", &l, &err) == EX_NOINPUT);
	CHECK(strstr(err.msg, "no-such-file.csv: cannot read: No such file") != NULL);
}

/* A name the MIME builder would refuse is a bad row here, with the same
 * rule (td_display_name_valid): reported once, with file and line, rather
 * than accepted and then failed as "permanent" in every send. */
static void test_name_rule(void)
{
	struct td_buf t;
	td_buf_init(&t, TD_BUF_NOLIMIT);
	td_buf_puts(&t, "email,name,tags\n"
			"max@example.org,\"");
	for (int i = 0; i < 256; i++)
		td_buf_putc(&t, i % 9 ? 'm' : ',');
	td_buf_puts(&t, "\",nato\n"
			"over@example.org,");
	for (int i = 0; i < 257; i++)
		td_buf_putc(&t, 'o');
	td_buf_puts(&t, ",nato\n"
			"cyr@example.org,");
	for (int i = 0; i < 129; i++)
		td_buf_puts(&t, "\xd0\x96");     /* 258 bytes */
	td_buf_puts(&t, ",nato\n");
	struct td_subscriber_list l;
	struct td_err err = { 0, "" };
	CHECK(parse(td_buf_cstr(&t), &l, &err) == 0);
	CHECK(l.n == 1 && l.nbad == 2);
	CHECK(l.n >= 1 && strcmp(l.v[0].email, "max@example.org") == 0 &&
	      strlen(l.v[0].name) == 256);
	CHECK(logged("t.csv:3: name is longer than 256 bytes (257)\n"));
	CHECK(logged("t.csv:4: name is longer than 256 bytes (258)\n"));
	/* once each */
	const char *first = strstr(captured, "t.csv:3:");
	CHECK(first && !strstr(first + 1, "t.csv:3:"));
	td_subscribers_free(&l);
	td_buf_free(&t);
}

/* ---- the streaming reader ----
 *
 * It shares the parser with td_subscribers_parse, so most of these tests
 * read the same text both ways and want the same rows, the same lines and
 * the same log; the rest are about what only a file read in pieces can
 * get wrong: a field, a "" escape or a CRLF cut by the buffer's end. */

static char tmpdir[] = "/tmp/td-subs-XXXXXX";

static const char *write_tmp(const char *name, const char *text, size_t len)
{
	static char path[256];
	snprintf(path, sizeof path, "%s/%s", tmpdir, name);
	FILE *f = fopen(path, "wb");
	CHECK(f != NULL);
	if (f) {
		CHECK(fwrite(text, 1, len, f) == len);
		fclose(f);
	}
	return path;
}

/* Appends a copy of s to l: a row from a reader lives only until its next
 * read. The array holds 16, then doubles whenever n reaches a power of
 * two. */
static void keep(struct td_subscriber_list *l, const struct td_subscriber *s)
{
	if (l->n == 0 || (l->n >= 16 && (l->n & (l->n - 1)) == 0))
		l->v = td_xrealloc(l->v, (l->n ? 2 * l->n : 16) * sizeof *l->v);
	struct td_subscriber *c = &l->v[l->n++];
	memset(c, 0, sizeof *c);
	c->email = td_xstrdup(s->email);
	c->name = td_xstrdup(s->name);
	c->line = s->line;
	for (size_t i = 0; i < s->tags.n; i++)
		td_strv_push(&c->tags, s->tags.v[i]);
}

/* Streams a file into a list of copies, with stderr captured. */
static int stream(const char *path, struct td_subscriber_list *l, size_t *hint,
		  struct td_err *err)
{
	memset(l, 0, sizeof *l);
	capture_start();
	struct td_subscriber_reader *r;
	int rc = td_subscribers_open(path, &r, err);
	if (!rc) {
		if (hint)
			*hint = td_subscribers_size_hint(r);
		const struct td_subscriber *s;
		size_t ngood;
		while ((rc = td_subscribers_next(r, &s, err)) == 1)
			keep(l, s);
		td_subscribers_counts(r, &ngood, &l->nbad);
		CHECK(ngood == l->n);
		td_subscribers_close(r);
	} else {
		CHECK(r == NULL);
	}
	capture_end();
	return rc;
}

static int same_lists(const struct td_subscriber_list *a, const struct td_subscriber_list *b)
{
	if (a->n != b->n || a->nbad != b->nbad) {
		fprintf(stderr, "  %zu good / %zu bad vs %zu / %zu\n", a->n, a->nbad,
			b->n, b->nbad);
		return 0;
	}
	for (size_t i = 0; i < a->n; i++) {
		const struct td_subscriber *x = &a->v[i], *y = &b->v[i];
		int same = strcmp(x->email, y->email) == 0 && strcmp(x->name, y->name) == 0 &&
			   x->line == y->line && x->tags.n == y->tags.n;
		for (size_t t = 0; same && t < x->tags.n; t++)
			same = strcmp(x->tags.v[t], y->tags.v[t]) == 0;
		if (!same) {
			fprintf(stderr, "  row %zu: %s (line %u) vs %s (line %u)\n", i,
				x->email, x->line, y->email, y->line);
			return 0;
		}
	}
	return 1;
}

/* Reads text both ways; both must agree on rows, lines, errors and log.
 * Leaves the streamed list in *out (when out is not NULL) and its log in
 * `captured`. */
static void both_ways(const char *name, const char *text, size_t len,
		      struct td_subscriber_list *out)
{
	static char parse_log[sizeof captured];
	const char *path = write_tmp(name, text, len);
	struct td_subscriber_list a, b;
	struct td_err ea = { 0, "" }, eb = { 0, "" };
	capture_start();
	int rca = td_subscribers_parse(path, text, len, &a, &ea);
	capture_end();
	memcpy(parse_log, captured, sizeof parse_log);
	size_t hint = 0;
	int rcb = stream(path, &b, &hint, &eb);
	CHECK(rca == rcb);
	CHECK_STR(ea.msg, eb.msg);
	CHECK_STR(parse_log, captured);
	CHECK(same_lists(&a, &b));
	CHECK(hint >= b.n + b.nbad);
	td_subscribers_free(&a);
	if (out)
		*out = b;
	else
		td_subscribers_free(&b);
}

#define BOTH(name, lit, out) both_ways(name, lit, sizeof lit - 1, out)

static void test_stream_edge_cases(void)
{
	struct td_subscriber_list l;
	BOTH("newlines.csv",
	     "email,name,tags,notes\n"                      /* 1 */
	     "a@example.org,Anna,nato,\"line one\n"          /* 2 */
	     "line two, still notes\"\n"                     /* 3 */
	     "b@example.org,Bob,eu,\n"                       /* 4 */
	     "\"c@example.org\",\"Carl\n"                    /* 5 */
	     "Second\",usa,\n"                               /* 6 */
	     "d@example.org,Dora,uk,\"x\r\ny\"\n", &l);      /* 7, 8 */
	CHECK(l.n == 3 && l.nbad == 1);
	CHECK(logged("newlines.csv:5: name contains a line break\n"));
	if (l.n == 3)
		CHECK(l.v[0].line == 2 && l.v[1].line == 4 && l.v[2].line == 7);
	td_subscribers_free(&l);

	BOTH("crlf.csv",
	     "\xef\xbb\xbf" "Tags, EMAIL ,Name\r\n"
	     "nato,anna@example.org,Anna\r\n"
	     "\r\n"
	     "eu;uk, bob@example.org , Bob \r\n", &l);
	CHECK(l.n == 2 && l.nbad == 0);
	CHECK_STR(captured, "");
	if (l.n == 2) {
		CHECK_STR(l.v[0].name, "Anna");
		CHECK_STR(l.v[1].name, "Bob");
		CHECK(l.v[1].line == 4);
	}
	td_subscribers_free(&l);

	BOTH("quotes.csv",
	     "\n\nemail,name,tags\n"
	     "\"a@example.org\",\"The \"\"Boss\"\"\",\"nato\"\n"
	     "c@example.org,\"\",uk", &l);                   /* no final newline */
	CHECK(l.n == 2);
	if (l.n == 2) {
		CHECK_STR(l.v[0].name, "The \"Boss\"");
		CHECK(l.v[0].line == 4 && l.v[1].line == 5);
	}
	td_subscribers_free(&l);

	BOTH("bad.csv",
	     "email,name,tags\n"                             /* 1 */
	     "good@example.org,Good,nato\n"                  /* 2 */
	     "not an address,Bad Row,nato\n"                 /* 3 */
	     "short@example.org,Short\n"                     /* 4 */
	     "notags@example.org,No Tags, ; ;\n"             /* 5 */
	     "nul@example.org,N\0L,nato\n"                   /* 6 */
	     "stray@example.org,Ab\"c,nato\n"                /* 7 */
	     "after@example.org,\"Ab\"c,nato\n"              /* 8 */
	     "GOOD@EXAMPLE.ORG,Dup,eu\n"                     /* 9 */
	     "\"a@b.example\r\nBcc: x@y.example\",Evil,nato\n" /* 10, 11 */
	     "ok@example.org,OK,eu\n"                        /* 12 */
	     "last@example.org,Last,\"nato;unterminated\n"   /* 13 */
	     "more text\n", &l);
	CHECK(l.n == 2 && l.nbad == 9);
	CHECK(logged("bad.csv:6: contains a NUL byte\n"));
	CHECK(logged("bad.csv:9: email 'GOOD@EXAMPLE.ORG': duplicate of line 2\n"));
	CHECK(logged("bad.csv:13: unterminated quoted field (opened on line 13)\n"));
	if (l.n == 2)
		CHECK(l.v[1].line == 12);
	td_subscribers_free(&l);

	/* Headers fail the same way, at open. */
	BOTH("noheader.csv", "email,name\nx@example.org,X\n", NULL);
	BOTH("empty.csv", "\r\n\n", NULL);
	BOTH("openquote.csv", "email,\"name,tags\n", NULL);
}

/* Builds a file well past the read buffer, with one row placed so the
 * buffer's first end falls `cut` bytes into it, and checks it is read as
 * if it were whole: the row's "" escape, its quoted CR LF and LF, the CR LF
 * that closes it, and the line numbers of everything after. */
static void boundary_case(size_t cut)
{
	static const char special[] =
		"s@example.org,\"Split \"\"Name\"\"\",nato,\"one\r\ntwo\"\"\nthree\"\r\n";
	size_t size = 3 * TD_SUBSCRIBERS_CHUNK;
	struct td_buf t;
	td_buf_init(&t, TD_BUF_NOLIMIT);
	td_buf_puts(&t, "email,name,tags,notes\n");
	unsigned line = 2;
	size_t start = TD_SUBSCRIBERS_CHUNK - cut;
	for (unsigned i = 0; t.len + 64 < start; i++, line++)
		td_buf_printf(&t, "u%u@example.org,User %u,nato;eu,\n", i, i);
	/* one row that pads to exactly `start` */
	size_t pad = start - t.len - strlen("pad@example.org,,eu,\n");
	td_buf_puts(&t, "pad@example.org,");
	for (size_t i = 0; i < pad; i++)
		td_buf_putc(&t, 'P');
	td_buf_puts(&t, ",eu,\n");
	line++;
	CHECK(t.len == start);
	unsigned special_line = line;
	td_buf_puts(&t, special);
	line += 3;
	unsigned after_line = line;
	for (unsigned i = 0; t.len < size; i++, line++)
		td_buf_printf(&t, "v%u@example.org,V,uk,\"a,b\"\n", i);
	/* far from the first: a duplicate, and a bad row after it */
	unsigned dup_line = line;
	td_buf_puts(&t, "U0@Example.org,Again,eu,\n");
	td_buf_puts(&t, "bad address,B,eu,\n");

	char name[32];
	snprintf(name, sizeof name, "big-%zu.csv", cut);
	struct td_subscriber_list l;
	both_ways(name, t.data, t.len, &l);
	const struct td_subscriber *s = td_subscribers_find(&l, "s@example.org");
	CHECK(s != NULL);
	if (s) {
		CHECK_STR(s->name, "Split \"Name\"");
		CHECK(s->line == special_line);
	}
	/* the rows after it start on the right lines */
	s = td_subscribers_find(&l, "v0@example.org");
	CHECK(s && s->line == after_line);
	CHECK(l.nbad == 2);
	char want[128];
	snprintf(want, sizeof want, "%s:%u: email 'U0@Example.org': duplicate of line 2\n",
		 name, dup_line);
	CHECK(logged(want));
	snprintf(want, sizeof want, "%s:%u: email 'bad address'", name, dup_line + 1);
	CHECK(logged(want));
	td_subscribers_free(&l);
	td_buf_free(&t);
}

static void test_stream_buffer_boundary(void)
{
	/* every cut inside the special row, and on either side of it */
	for (size_t cut = 0; cut <= 60; cut++)
		boundary_case(cut);
}

static void test_stream_errors(void)
{
	struct td_subscriber_list l;
	struct td_err err = { 0, "" };
	char path[300];
	snprintf(path, sizeof path, "%s/no-such.csv", tmpdir);
	CHECK(stream(path, &l, NULL, &err) == EX_NOINPUT);
	CHECK(strstr(err.msg, "no-such.csv: cannot read: No such file") != NULL);
	/* read() fails on a folder: the same message as load */
	CHECK(stream(tmpdir, &l, NULL, &err) == EX_NOINPUT);
	CHECK(strstr(err.msg, ": cannot read: Is a directory") != NULL);
}

/* One broken quote must not pull the rest of a big file into memory:
 * past TD_SUBSCRIBERS_MAX_ROW the row is bad, and rows after it still
 * start on the right line. */
static void test_long_row(void)
{
	struct td_buf t;
	td_buf_init(&t, TD_BUF_NOLIMIT);
	td_buf_puts(&t, "email,name,tags,notes\n"
			"a@example.org,A,nato,\"");
	for (size_t i = 0; i <= TD_SUBSCRIBERS_MAX_ROW / 64; i++)   /* 64 bytes each */
		td_buf_puts(&t, "012345678901234567890123456789012345678901234567890123456\n"
				"abcdef");
	td_buf_puts(&t, "\"\nb@example.org,B,eu,\n");
	struct td_subscriber_list l;
	both_ways("long.csv", t.data, t.len, &l);
	CHECK(l.n == 1 && l.nbad == 1);
	CHECK(logged("long.csv:2: row longer than 1048576 bytes\n"));
	if (l.n == 1)
		CHECK(l.v[0].line == 3 + TD_SUBSCRIBERS_MAX_ROW / 64 + 1);
	td_subscribers_free(&l);
	td_buf_free(&t);
}

/* A hundred thousand rows: the duplicate index is sized from the line
 * count; a FIFO is copied like a file, and counted as it is copied. */
static void test_stream_many(void)
{
	struct td_buf t;
	td_buf_init(&t, TD_BUF_NOLIMIT);
	td_buf_puts(&t, "email,name,tags\n");
	for (int i = 0; i < 100000; i++)
		td_buf_printf(&t, "user%d@example.org,U,nato\n", i);
	td_buf_puts(&t, "USER77777@example.org,U,eu\n");
	struct td_subscriber_list l;
	both_ways("many.csv", t.data, t.len, &l);
	CHECK(l.n == 100000 && l.nbad == 1);
	CHECK(logged("many.csv:100002: email 'USER77777@example.org': duplicate "
		     "of line 77779\n"));
	td_subscribers_free(&l);

	char fifo[300];
	snprintf(fifo, sizeof fifo, "%s/fifo.csv", tmpdir);
	CHECK(mkfifo(fifo, 0600) == 0);
	pid_t pid = fork();
	if (pid == 0) {
		FILE *f = fopen(fifo, "wb");
		size_t n = f ? fwrite(t.data, 1, t.len, f) : 0;
		_exit(f && n == t.len && fclose(f) == 0 ? 0 : 1);
	}
	size_t hint = 1;
	struct td_err err = { 0, "" };
	CHECK(stream(fifo, &l, &hint, &err) == 0);
	int status = 1;
	waitpid(pid, &status, 0);
	CHECK(status == 0);
	CHECK(hint == 100002);
	CHECK(l.n == 100000 && l.nbad == 1);
	CHECK(logged("fifo.csv:100002: email 'USER77777@example.org': duplicate "
		     "of line 77779\n"));
	td_subscribers_free(&l);
	td_buf_free(&t);
	unlink(fifo);
}

/* ---- one consistent reading ----
 *
 * The file is copied when it is opened; these tests change it the way
 * people do while a send runs (an editor rewriting it in place, a row
 * still being typed, a writer that never stops) and check that every row
 * comes from one version of the file, whole. */

static void sleep_ms_test(long ms)
{
	struct timespec ts = { ms / 1000, ms % 1000 * 1000000 };
	while (nanosleep(&ts, &ts) < 0)
		;
}

/* A version of the subscriber file well past three read buffers. Each
 * version has its own addresses, names of its own length and its own tag,
 * so a row spliced from two versions reads as neither. */
static void version(struct td_buf *t, char v, unsigned rows, unsigned pad)
{
	td_buf_reset(t);
	td_buf_puts(t, "email,name,tags\n");
	for (unsigned i = 0; i < rows; i++) {
		td_buf_printf(t, "%c%05u@example.org,%c", v, i, v - 32);
		for (unsigned k = 0; k < pad; k++)
			td_buf_putc(t, v);
		td_buf_printf(t, " %u,tag-%c\n", i, v);
	}
}

/* In place, as nano saves: the same inode truncated and written again. */
static void rewrite(const char *path, const struct td_buf *t)
{
	FILE *f = fopen(path, "r+b");
	CHECK(f != NULL);
	if (!f)
		return;
	CHECK(ftruncate(fileno(f), 0) == 0);
	CHECK(fwrite(t->data, 1, t->len, f) == t->len);
	CHECK(fclose(f) == 0);
}

/* Every row is whole and from version v: its own address, name and tag,
 * and rows 0.. in order. */
static bool rows_of(const struct td_subscriber_list *l, char v, unsigned rows)
{
	if (l->n != rows || l->nbad) {
		fprintf(stderr, "  %zu rows, %zu bad; want %u of version %c\n", l->n,
			l->nbad, rows, v);
		return false;
	}
	for (unsigned i = 0; i < rows; i++) {
		char email[64];
		snprintf(email, sizeof email, "%c%05u@example.org", v, i);
		const struct td_subscriber *s = &l->v[i];
		if (strcmp(s->email, email) != 0 || s->name[0] != v - 32 ||
		    s->tags.n != 1 || strcmp(s->tags.v[0] + 4, (char[]){ v, 0 }) != 0) {
			fprintf(stderr, "  row %u: %s '%.20s' not of version %c\n", i,
				s->email, s->name, v);
			return false;
		}
	}
	return true;
}

/* Reads the rest of a reader into a list of copies. */
static void drain(struct td_subscriber_reader *r, struct td_subscriber_list *l)
{
	const struct td_subscriber *s;
	struct td_err err = { 0, "" };
	while (td_subscribers_next(r, &s, &err) == 1)
		keep(l, s);
	td_subscribers_counts(r, NULL, &l->nbad);
}

static void test_copy_outlives_an_edit(void)
{
	struct td_buf a, b;
	td_buf_init(&a, TD_BUF_NOLIMIT);
	td_buf_init(&b, TD_BUF_NOLIMIT);
	version(&a, 'a', 900, 200);      /* ~200 KiB */
	version(&b, 'b', 1200, 150);
	CHECK(a.len > 3 * TD_SUBSCRIBERS_CHUNK && b.len > 3 * TD_SUBSCRIBERS_CHUNK);
	const char *path = write_tmp("edited.csv", a.data, a.len);
	char p[256];
	snprintf(p, sizeof p, "%s", path);

	struct td_subscriber_reader *r;
	struct td_err err = { 0, "" };
	CHECK(td_subscribers_open(p, &r, &err) == 0);
	if (!r)
		return;
	CHECK(td_subscribers_size_hint(r) == 901);
	struct td_subscriber_list l = { 0 };
	const struct td_subscriber *s;
	/* a few rows in, the editor saves a new version in place */
	for (int i = 0; i < 10 && td_subscribers_next(r, &s, &err) == 1; i++)
		keep(&l, s);
	CHECK(!td_subscribers_changed(r));
	rewrite(p, &b);
	drain(r, &l);
	CHECK(rows_of(&l, 'a', 900));
	CHECK(td_subscribers_changed(r));
	td_subscribers_close(r);
	td_subscribers_free(&l);

	/* the copy lives in no folder: nothing is left behind */
	char dir[300];
	snprintf(dir, sizeof dir, "%s/private", tmpdir);
	CHECK(mkdir(dir, 0700) == 0);
	const char *old = getenv("TMPDIR");
	char *saved = old ? td_xstrdup(old) : NULL;
	setenv("TMPDIR", dir, 1);
	CHECK(td_subscribers_open(p, &r, &err) == 0);
	CHECK(rmdir(dir) == 0);          /* empty while the copy is open */
	td_subscribers_close(r);
	/* no usable folder: a clear refusal */
	CHECK(td_subscribers_open(p, &r, &err) == EX_CANTCREAT);
	CHECK(r == NULL);
	CHECK(strstr(err.msg, "cannot make a private copy") != NULL &&
	      strstr(err.msg, "TMPDIR") != NULL);
	if (saved)
		setenv("TMPDIR", saved, 1);
	else
		unsetenv("TMPDIR");
	free(saved);
	td_buf_free(&a);
	td_buf_free(&b);
}

/* A row still being typed (the file was just written and its last line
 * has no line end) is waited for, not read half-finished: here the rest of
 * "nato;us|a;eu" arrives 300 ms later. */
static void test_copy_waits_for_a_row_being_written(void)
{
	for (int load = 0; load < 2; load++) {
		static const char head[] = "email,name,tags\n"
					   "anna@example.org,Anna,nato;us";
		const char *path = write_tmp("typing.csv", head, sizeof head - 1);
		char p[256];
		snprintf(p, sizeof p, "%s", path);
		pid_t pid = fork();
		if (pid == 0) {
			sleep_ms_test(300);
			FILE *f = fopen(p, "ab");
			_exit(f && fputs("a;eu\n", f) >= 0 && fclose(f) == 0 ? 0 : 1);
		}
		struct td_subscriber_list l;
		struct td_err err = { 0, "" };
		int rc = load ? td_subscribers_load(p, &l, &err)
			      : stream(p, &l, NULL, &err);
		int status = 1;
		waitpid(pid, &status, 0);
		CHECK(status == 0);
		CHECK(rc == 0);
		CHECK(l.n == 1);
		if (l.n == 1) {
			CHECK(l.v[0].tags.n == 3);
			if (l.v[0].tags.n == 3)
				CHECK_STR(l.v[0].tags.v[1], "usa");
		}
		td_subscribers_free(&l);
	}
}

/* A file rewritten again and again while it is opened: refused with
 * EX_TEMPFAIL and a message that says what to do, or read as one whole
 * version; never a mix. */
static void test_copy_of_a_file_that_never_holds_still(void)
{
	struct td_buf a, b;
	td_buf_init(&a, TD_BUF_NOLIMIT);
	td_buf_init(&b, TD_BUF_NOLIMIT);
	version(&a, 'a', 900, 200);
	version(&b, 'b', 1200, 150);
	const char *path = write_tmp("busy.csv", a.data, a.len);
	char p[256];
	snprintf(p, sizeof p, "%s", path);
	pid_t pid = fork();
	if (pid == 0) {
		/* bounded: the parent stops it, or it stops by itself */
		time_t stop = time(NULL) + 30;
		for (int i = 0; time(NULL) < stop; i++) {
			FILE *f = fopen(p, "r+b");
			if (!f || ftruncate(fileno(f), 0) < 0)
				_exit(1);
			const struct td_buf *t = i % 2 ? &a : &b;
			/* in two writes, as editors flush: a half file exists */
			fwrite(t->data, 1, t->len / 2, f);
			fflush(f);
			fwrite(t->data + t->len / 2, 1, t->len - t->len / 2, f);
			fclose(f);
		}
		_exit(0);
	}
	for (int load = 0; load < 2; load++) {
		struct td_subscriber_list l;
		struct td_err err = { 0, "" };
		int rc = load ? td_subscribers_load(p, &l, &err)
			      : stream(p, &l, NULL, &err);
		CHECK(rc == 0 || rc == EX_TEMPFAIL);
		if (rc != 0 && rc != EX_TEMPFAIL)
			fprintf(stderr, "  rc %d: %s\n", rc, err.msg);
		if (rc == EX_TEMPFAIL) {
			CHECK(strncmp(err.msg, p, strlen(p)) == 0 &&
			      strncmp(err.msg + strlen(p), ": not read: ", 12) == 0);
			CHECK(strstr(err.msg, "run again once it is saved") != NULL);
		} else if (rc == 0) {
			CHECK(rows_of(&l, 'a', 900) || rows_of(&l, 'b', 1200));
			td_subscribers_free(&l);
		}
	}
	kill(pid, SIGKILL);
	int status;
	waitpid(pid, &status, 0);
	td_buf_free(&a);
	td_buf_free(&b);
}

static void remove_tmpdir(void)
{
	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	CHECK(system(cmd) == 0);
}

int main(void)
{
	CHECK(mkdtemp(tmpdir) != NULL);
	TD_RUN(test_basic);
	TD_RUN(test_quotes);
	TD_RUN(test_embedded_newlines);
	TD_RUN(test_bom_crlf_header_order);
	TD_RUN(test_bad_header);
	TD_RUN(test_bad_rows);
	TD_RUN(test_duplicates);
	TD_RUN(test_tag_slugs);
	TD_RUN(test_sample_file);
	TD_RUN(test_name_rule);
	TD_RUN(test_stream_edge_cases);
	TD_RUN(test_stream_buffer_boundary);
	TD_RUN(test_stream_errors);
	TD_RUN(test_long_row);
	TD_RUN(test_stream_many);
	TD_RUN(test_copy_outlives_an_edit);
	TD_RUN(test_copy_waits_for_a_row_being_written);
	TD_RUN(test_copy_of_a_file_that_never_holds_still);
	remove_tmpdir();
	return TD_DONE("test_subscribers");
}
