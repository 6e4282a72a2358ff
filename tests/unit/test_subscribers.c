/*
 * test_subscribers.c: the subscriber CSV reader. Bad rows are reported on
 * stderr, so the tests capture stderr and check each "FILE:LINE: problem"
 * line: a row skipped for the wrong reason, or at the wrong line, fails.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "tagdigest/subscribers.h"

static char captured[16384];
static FILE *cap_file;
static int cap_saved = -1;

static void capture_start(void)
{
	fflush(stderr);
	cap_file = tmpfile();
	cap_saved = dup(2);
	dup2(fileno(cap_file), 2);
}

static const char *capture_end(void)
{
	fflush(stderr);
	dup2(cap_saved, 2);
	close(cap_saved);
	rewind(cap_file);
	size_t n = fread(captured, 1, sizeof captured - 1, cap_file);
	captured[n] = '\0';
	fclose(cap_file);
	return captured;
}

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
	CHECK(logged("t.csv:6: name: not valid UTF-8\n"));
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

int main(void)
{
	TD_RUN(test_basic);
	TD_RUN(test_quotes);
	TD_RUN(test_embedded_newlines);
	TD_RUN(test_bom_crlf_header_order);
	TD_RUN(test_bad_header);
	TD_RUN(test_bad_rows);
	TD_RUN(test_duplicates);
	TD_RUN(test_tag_slugs);
	TD_RUN(test_sample_file);
	return TD_DONE("test_subscribers");
}
