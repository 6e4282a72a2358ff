/*
 * test_template.c: the Mustache engine as tagdigest uses it. The spec
 * suite (test_mustache_spec.c) covers the language; these tests cover what
 * the spec leaves open or does not test: error messages with line:col,
 * escape_html on and off, truthiness of "" and 0, set checking, loading a
 * template folder, the value API, the output cap and runaway recursion.
 * Expected strings are worked out by hand from the template text.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "tagdigest/compose/template.h"
#include "tagdigest/core/util.h"

/* Parses src as "t" and returns the error message (or "" on success). */
static const char *parse_error(const char *src, struct td_err *err)
{
	struct td_template *t = NULL;
	err->msg[0] = '\0';
	err->code = 0;
	int rc = td_template_parse("t", src, strlen(src), &t, err);
	CHECK(rc == 0 ? t != NULL : (t == NULL && rc == EX_DATAERR));
	td_template_free(t);
	return err->msg;
}

static struct td_err last_err; /* from the last render() */

/* Renders src against ctx; returns malloc'd output, or NULL with *rc set
 * and the message in last_err. */
static char *render(const char *src, const struct td_template_set *set,
		    const struct td_value *ctx, bool escape, int *rc)
{
	struct td_err err = { 0, "" };
	struct td_template *t = NULL;
	struct td_buf out = TD_BUF_INIT;
	*rc = td_template_parse("t", src, strlen(src), &t, &err);
	if (!*rc)
		*rc = td_template_render(t, set, ctx, escape, &out, &err);
	td_template_free(t);
	last_err = err;
	if (*rc) {
		td_buf_free(&out);
		return NULL;
	}
	return td_buf_steal(&out);
}

static void check_render(const char *src, const struct td_value *ctx,
			 bool escape, const char *want)
{
	int rc;
	char *got = render(src, NULL, ctx, escape, &rc);
	if (rc)
		fprintf(stderr, "render error: %s\n", last_err.msg);
	CHECK(rc == 0);
	CHECK_STR(got, want);
	free(got);
}

static void test_parse_errors(void)
{
	struct td_err err;
	struct td_template *t = NULL;
	const char *src = "<h1>{{title}}</h1>\n  {{#posts}}\n<p>{{.}}</p>\n";
	CHECK(td_template_parse("digest.html.mustache", src, strlen(src), &t,
				&err) == EX_DATAERR);
	CHECK(t == NULL);
	CHECK_STR(err.msg, "digest.html.mustache:2:3: unclosed section 'posts' "
		  "(opened at 2:3)");

	/* the innermost open section is the one reported */
	CHECK_STR(parse_error("{{#a}}{{^b}}{{$c}}", &err),
		  "t:1:13: unclosed block 'c' (opened at 1:13)");
	CHECK_STR(parse_error("{{<layout}}\n", &err),
		  "t:1:1: unclosed parent 'layout' (opened at 1:1)");
	CHECK_STR(parse_error("{{#a}}\n{{#b}}x{{/a}}", &err),
		  "t:2:8: closing tag 'a' does not match section 'b' (opened at 2:1)");
	CHECK_STR(parse_error("{{^a}}{{/ b }}", &err),
		  "t:1:7: closing tag 'b' does not match inverted section 'a' "
		  "(opened at 1:1)");
	CHECK_STR(parse_error("x {{/a}}", &err),
		  "t:1:3: closing tag 'a' has no open section");
	CHECK_STR(parse_error("ab\ncd {{name", &err),
		  "t:2:4: unclosed tag: no '}}' after '{{'");
	CHECK_STR(parse_error("{{{x}}", &err),
		  "t:1:1: unclosed tag: no '}}}' after '{{'");
	/* after a delimiter change the message names the new delimiters */
	CHECK_STR(parse_error("{{=<% %>=}}\n<%x", &err),
		  "t:2:1: unclosed tag: no '%>' after '<%'");
	CHECK_STR(parse_error("x{{ }}", &err), "t:1:2: empty tag");
	CHECK_STR(parse_error("{{#}}{{/}}", &err), "t:1:1: empty tag");
	CHECK_STR(parse_error("{{>  }}", &err), "t:1:1: empty tag");
	/* the close delimiter is the sigil: found fuzzing (a negative length) */
	CHECK_STR(parse_error("{{=<% >=}}a<%>b", &err), "t:1:12: empty tag");
	CHECK_STR(parse_error("{{=<% #=}}<%#", &err), "t:1:11: empty tag");
	CHECK_STR(parse_error("{{first name}}", &err),
		  "t:1:1: tag name 'first name' contains whitespace");
	/* columns count characters: "é" is two bytes, one column */
	CHECK_STR(parse_error("é {{/x}}", &err),
		  "t:1:3: closing tag 'x' has no open section");
	/* a multi-line comment moves the line count on */
	CHECK_STR(parse_error("{{! one\ntwo\n}} {{/x}}", &err),
		  "t:3:4: closing tag 'x' has no open section");
	/* comments may hold anything, including a lone open delimiter */
	CHECK_STR(parse_error("{{! {{ not a tag }}ok", &err), "");
}

static void test_bad_delimiters(void)
{
	struct td_err err;
	const char *want = "t:1:3: bad set-delimiter tag";
	CHECK(strncmp(parse_error("x {{=<% =}}", &err), want, strlen(want)) == 0);
	CHECK(strncmp(parse_error("x {{=a b c=}}", &err), want, strlen(want)) == 0);
	CHECK(strncmp(parse_error("x {{= =}}", &err), want, strlen(want)) == 0);
	CHECK(strncmp(parse_error("x {{=a= b=}}", &err), want, strlen(want)) == 0);
	/* a good change on line 1 and a bad one on line 2 */
	CHECK_STR(parse_error("{{=[ ]=}}\n  [=x=]", &err),
		  "t:2:3: bad set-delimiter tag: want two delimiters without "
		  "'=' or spaces, as in {{=<% %>=}}");
}

static void test_nesting_limit(void)
{
	struct td_buf src = TD_BUF_INIT;
	struct td_err err;
	for (int i = 0; i < 101; i++)
		td_buf_puts(&src, "{{#a}}");
	CHECK_STR(parse_error(td_buf_cstr(&src), &err),
		  "t:1:601: sections nested more than 100 deep");
	td_buf_free(&src);
}

static void test_escaping(void)
{
	struct td_value *ctx = td_value_map();
	td_value_map_set_str(ctx, "x", "<a href=\"q\">Tom & Jerry's</a>");
	const char *src = "{{x}}|{{{x}}}|{{&x}}";
	check_render(src, ctx, true,
		     "&lt;a href=&quot;q&quot;&gt;Tom &amp; Jerry&#39;s&lt;/a&gt;"
		     "|<a href=\"q\">Tom & Jerry's</a>"
		     "|<a href=\"q\">Tom & Jerry's</a>");
	/* subject and text parts: nothing is escaped */
	check_render(src, ctx, false,
		     "<a href=\"q\">Tom & Jerry's</a>"
		     "|<a href=\"q\">Tom & Jerry's</a>"
		     "|<a href=\"q\">Tom & Jerry's</a>");
	/* template text itself is never escaped */
	check_render("<b>&amp;</b>", ctx, true, "<b>&amp;</b>");
	td_value_free(ctx);
}

static void test_truthiness(void)
{
	struct td_value *ctx = td_value_map();
	td_value_map_set_str(ctx, "empty", "");
	td_value_map_set_str(ctx, "zero_str", "0");
	td_value_map_set(ctx, "zero", td_value_number("0.0"));
	td_value_map_set_int(ctx, "three", 3);
	td_value_map_set(ctx, "nil", td_value_null());
	td_value_map_set(ctx, "nomap", td_value_map());
	td_value_map_set(ctx, "nolist", td_value_list());
	td_value_map_set_bool(ctx, "yes", true);
	td_value_map_set_bool(ctx, "no", false);
	check_render("{{#empty}}E{{/empty}}{{^empty}}e{{/empty}}"
		     "{{#zero_str}}S{{/zero_str}}"
		     "{{#zero}}Z{{/zero}}{{^zero}}z{{/zero}}"
		     "{{#three}}{{.}}{{/three}}"
		     "{{#nil}}N{{/nil}}{{^nil}}n{{/nil}}"
		     "{{#nomap}}M{{/nomap}}"
		     "{{#nolist}}L{{/nolist}}{{^nolist}}l{{/nolist}}"
		     "{{#yes}}Y{{/yes}}{{^no}}y{{/no}}",
		     ctx, true, "eSz3nMlYy");
	/* booleans interpolate as words, null and missing as nothing */
	check_render("{{yes}}/{{no}}/{{nil}}/{{missing}}/{{zero}}", ctx, true,
		     "true/false///0.0");
	td_value_free(ctx);
}

static struct td_value *digest_ctx(void)
{
	struct td_value *ctx = td_value_map();
	struct td_value *site = td_value_map_set(ctx, "site", td_value_map());
	td_value_map_set_str(site, "name", "Tags");
	struct td_value *posts = td_value_map_set(ctx, "posts", td_value_list());
	struct td_value *p = td_value_list_push(posts, td_value_map());
	td_value_map_set_str(p, "title", "A");
	p = td_value_list_push(posts, td_value_map());
	td_value_map_set_str(p, "title", "B");
	td_value_map_set_str(p, "name", "own");
	return ctx;
}

static void test_partials_and_context(void)
{
	struct td_value *ctx = digest_ctx();
	struct td_template_set *set = td_template_set_new();
	struct td_err err;
	const char *item = "<li>{{title}} ({{site.name}})</li>\n";
	CHECK(td_template_set_add(set, "item", item, strlen(item), &err) == 0);
	int rc;
	/* a standalone partial is indented line by line; a standalone
	 * section line disappears */
	char *got = render("<ul>\n{{#posts}}\n  {{>item}}\n{{/posts}}\n</ul>\n",
			   set, ctx, true, &rc);
	CHECK(rc == 0);
	CHECK_STR(got, "<ul>\n  <li>A (Tags)</li>\n  <li>B (Tags)</li>\n</ul>\n");
	free(got);
	/* lookup walks the context stack: only the second post has a
	 * "name", and "site" is not on the stack, so site.name is not found
	 * as plain "name" */
	got = render("{{#posts}}[{{name}}]{{/posts}}", set, ctx, true, &rc);
	CHECK_STR(got, "[][own]");
	free(got);
	/* parse once, render many: same template, same answer */
	struct td_template *t = NULL;
	struct td_buf a = TD_BUF_INIT, b = TD_BUF_INIT;
	const char *src = "{{#posts}}{{title}},{{/posts}}";
	CHECK(td_template_parse("t", src, strlen(src), &t, &err) == 0);
	CHECK(td_template_render(t, set, ctx, true, &a, &err) == 0);
	CHECK(td_template_render(t, set, ctx, true, &b, &err) == 0);
	CHECK_STR(td_buf_cstr(&a), "A,B,");
	CHECK_STR(td_buf_cstr(&b), "A,B,");
	/* a NULL context renders the text and empty variables */
	td_buf_reset(&a);
	CHECK(td_template_render(t, NULL, NULL, true, &a, &err) == 0);
	CHECK_STR(td_buf_cstr(&a), "");
	td_buf_free(&a);
	td_buf_free(&b);
	td_template_free(t);
	td_template_set_free(set);
	td_value_free(ctx);
}

static void test_inheritance(void)
{
	struct td_template_set *set = td_template_set_new();
	struct td_err err;
	const char *layout = "<html>\n<title>{{$title}}Digest{{/title}}</title>\n"
			     "<body>\n  {{$body}}\n  nothing\n  {{/body}}\n</body>\n";
	CHECK(td_template_set_add(set, "layout", layout, strlen(layout), &err) == 0);
	struct td_value *ctx = td_value_map();
	td_value_map_set_str(ctx, "who", "Ann");
	int rc;
	char *got = render("{{<layout}}\n{{$body}}\n<p>Hi {{who}}</p>\n<p>bye</p>\n"
			   "{{/body}}\n{{/layout}}\n", set, ctx, true, &rc);
	CHECK(rc == 0);
	CHECK_STR(got, "<html>\n<title>Digest</title>\n<body>\n"
		  "  <p>Hi Ann</p>\n  <p>bye</p>\n</body>\n");
	free(got);
	/* without overrides the parent's defaults render */
	got = render("{{<layout}}{{/layout}}", set, ctx, true, &rc);
	CHECK_STR(got, "<html>\n<title>Digest</title>\n<body>\n  nothing\n</body>\n");
	free(got);
	td_value_free(ctx);
	td_template_set_free(set);
}

static void test_set_check(void)
{
	struct td_template_set *set = td_template_set_new();
	struct td_err err = { 0, "" };
	const char *main_src = "{{>header}}\n{{#posts}}\n  {{> footr }}\n{{/posts}}\n"
			       "{{>*dynamic}}\n";
	CHECK(td_template_set_add(set, "main", main_src, strlen(main_src), &err) == 0);
	CHECK(td_template_set_add(set, "header", "H", 1, &err) == 0);
	/* rendering treats the missing partial as empty, per the spec... */
	int rc;
	char *got = render(main_src, set, NULL, true, &rc);
	CHECK_STR(got, "H"); /* standalone lines vanish with their newline */
	free(got);
	/* ...but the check catches the typo, and ignores dynamic names */
	CHECK(td_template_set_check(set, &err) == EX_DATAERR);
	CHECK_STR(err.msg, "main:3:3: unknown partial 'footr'");
	const char *page = "\n {{<layout}}{{/layout}}";
	CHECK(td_template_set_add(set, "page", page, strlen(page), &err) == 0);
	CHECK(td_template_set_check(set, &err) == EX_DATAERR);
	CHECK_STR(err.msg, "main:3:3: unknown partial 'footr' (and 1 more)");
	CHECK(td_template_set_add(set, "footr", "F", 1, &err) == 0);
	CHECK(td_template_set_check(set, &err) == EX_DATAERR);
	CHECK_STR(err.msg, "page:2:2: unknown parent 'layout'");
	/* replacing a template under the same name */
	CHECK(td_template_set_add(set, "page", "{{>header}}", 11, &err) == 0);
	CHECK(td_template_set_check(set, &err) == 0);
	CHECK(td_template_set_get(set, "page") != NULL);
	CHECK(td_template_set_get(set, "nope") == NULL);
	/* a syntax error leaves the old template in place */
	CHECK(td_template_set_add(set, "page", "{{#x}}", 6, &err) == EX_DATAERR);
	CHECK_STR(err.msg, "page:1:1: unclosed section 'x' (opened at 1:1)");
	got = render("{{>page}}", set, NULL, true, &rc);
	CHECK_STR(got, "H");
	free(got);
	td_template_set_free(set);
}

static void remove_file(const char *dir, const char *name)
{
	char *path = td_xasprintf("%s/%s", dir, name);
	CHECK(remove(path) == 0);
	free(path);
}

static void test_load_dir(void)
{
	char dir[] = "/tmp/td_template_XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	char *parts = td_xasprintf("%s/partials", dir);
	CHECK(mkdir(parts, 0700) == 0);
	write_file(dir, "digest.html.mustache",
		   "<h1>{{title}}</h1>\n{{#posts}}\n{{>item}}\n{{/posts}}\n");
	write_file(dir, "digest.subject.mustache", "{{title}}");
	write_file(dir, "README.txt", "{{#not a template");
	write_file(dir, ".swap.mustache", "{{#not a template");
	write_file(parts, "item.mustache", "<p>{{title}}</p>\n");

	struct td_template_set *set = td_template_set_new();
	struct td_err err = { 0, "" };
	CHECK(td_template_set_load_dir(set, dir, &err) == 0);
	CHECK(td_template_set_get(set, "digest.html") != NULL);
	CHECK(td_template_set_get(set, "digest.subject") != NULL);
	CHECK(td_template_set_get(set, "item") != NULL);
	CHECK(td_template_set_get(set, "partials/item") == NULL);
	CHECK(td_template_set_get(set, "README") == NULL);
	CHECK(td_template_set_get(set, ".swap") == NULL);
	CHECK(td_template_set_check(set, &err) == 0);

	struct td_value *ctx = digest_ctx();
	td_value_map_set_str(ctx, "title", "Weekly <3");
	struct td_buf out = TD_BUF_INIT;
	CHECK(td_template_render(td_template_set_get(set, "digest.html"), set,
				 ctx, true, &out, &err) == 0);
	CHECK_STR(td_buf_cstr(&out),
		  "<h1>Weekly &lt;3</h1>\n<p>A</p>\n<p>B</p>\n");
	td_buf_free(&out);
	td_value_free(ctx);
	td_template_set_free(set);

	/* a syntax error names the file */
	write_file(parts, "broken.mustache", "ok\n{{#x}}\n");
	set = td_template_set_new();
	CHECK(td_template_set_load_dir(set, dir, &err) == EX_DATAERR);
	char *want = td_xasprintf("%s/broken.mustache:2:1: unclosed section 'x' "
				  "(opened at 2:1)", parts);
	CHECK_STR(err.msg, want);
	free(want);
	td_template_set_free(set);
	remove_file(parts, "broken.mustache");

	/* a partial may not shadow a top-level template */
	write_file(parts, "digest.subject.mustache", "x");
	set = td_template_set_new();
	CHECK(td_template_set_load_dir(set, dir, &err) == EX_DATAERR);
	CHECK(strstr(err.msg, "name 'digest.subject' is already taken") != NULL);
	td_template_set_free(set);
	remove_file(parts, "digest.subject.mustache");

	remove_file(parts, "item.mustache");
	CHECK(rmdir(parts) == 0);
	/* no partials/ folder is fine; no folder at all is not */
	set = td_template_set_new();
	CHECK(td_template_set_load_dir(set, dir, &err) == 0);
	CHECK(td_template_set_check(set, &err) == EX_DATAERR);
	td_template_set_free(set);
	remove_file(dir, "digest.html.mustache");
	remove_file(dir, "digest.subject.mustache");
	remove_file(dir, "README.txt");
	remove_file(dir, ".swap.mustache");
	CHECK(rmdir(dir) == 0);
	set = td_template_set_new();
	CHECK(td_template_set_load_dir(set, dir, &err) == EX_NOINPUT);
	CHECK(strstr(err.msg, dir) != NULL);
	td_template_set_free(set);
	free(parts);
}

static void test_values(void)
{
	struct td_value *m = td_value_map();
	CHECK(td_value_type(m) == TD_VALUE_MAP);
	td_value_map_set_str(m, "a", "1");
	td_value_map_set_str(m, "b", "2");
	td_value_map_set_int(m, "a", -42); /* replaces, keeps its place */
	CHECK(td_value_type(td_value_map_get(m, "a")) == TD_VALUE_NUMBER);
	CHECK(td_value_map_get(m, "zzz") == NULL);
	CHECK(td_value_map_get(NULL, "a") == NULL);
	check_render("{{a}}{{b}}", m, true, "-422");

	struct td_value *l = td_value_map_set(m, "l", td_value_list());
	CHECK(td_value_list_len(l) == 0);
	td_value_list_push(l, td_value_number("1.21"));
	td_value_list_push(l, td_value_string_owned(td_xstrdup("x")));
	td_value_list_push(l, td_value_bool(false));
	CHECK(td_value_list_len(l) == 3);
	CHECK(td_value_list_len(m) == 0);
	CHECK(td_value_list_len(NULL) == 0);
	CHECK(td_value_type(NULL) == TD_VALUE_NULL);
	/* numbers render exactly as given */
	check_render("{{#l}}<{{.}}>{{/l}}", m, true, "<1.21><x><false>");
	/* replacing a list frees the old one (ASan would see a leak) */
	td_value_map_set(m, "l", td_value_string("gone"));
	check_render("{{l}}", m, true, "gone");
	td_value_free(m);
	td_value_free(NULL);
}

static void test_output_cap(void)
{
	struct td_value *ctx = td_value_map();
	td_value_map_set_str(ctx, "x", "twenty characters!!!");
	struct td_template *t = NULL;
	struct td_err err = { 0, "" };
	CHECK(td_template_parse("subject", "Re: {{x}}", 9, &t, &err) == 0);
	struct td_buf out;
	td_buf_init(&out, 10);
	CHECK(td_template_render(t, NULL, ctx, false, &out, &err) == EX_DATAERR);
	CHECK_STR(err.msg, "subject: rendered output larger than 10 bytes");
	CHECK(out.len <= 10);
	td_buf_free(&out);
	/* exactly at the cap is fine */
	td_buf_init(&out, 24);
	CHECK(td_template_render(t, NULL, ctx, false, &out, &err) == 0);
	CHECK_STR(td_buf_cstr(&out), "Re: twenty characters!!!");
	td_buf_free(&out);
	/* escaping counts: "&" becomes five bytes */
	td_value_map_set_str(ctx, "x", "&&&&");
	td_buf_init(&out, 12);
	CHECK(td_template_render(t, NULL, ctx, true, &out, &err) == EX_DATAERR);
	td_buf_free(&out);
	td_template_free(t);
	td_value_free(ctx);
}

static void test_recursion_limit(void)
{
	struct td_template_set *set = td_template_set_new();
	struct td_err err = { 0, "" };
	CHECK(td_template_set_add(set, "loop", "x{{>loop}}", 10, &err) == 0);
	struct td_buf out = TD_BUF_INIT;
	CHECK(td_template_render(td_template_set_get(set, "loop"), set, NULL,
				 true, &out, &err) == EX_DATAERR);
	CHECK_STR(err.msg, "loop:1:2: partial 'loop' nested more than 100 deep "
		  "(recursion?)");
	td_buf_free(&out);
	/* a block overridden with itself must not loop either */
	CHECK(td_template_set_add(set, "p", "{{$a}}d{{/a}}", 13, &err) == 0);
	int rc;
	char *got = render("{{<p}}{{$a}}{{$a}}x{{/a}}{{/a}}{{/p}}", set, NULL,
			   true, &rc);
	CHECK(rc == EX_DATAERR && got == NULL);
	CHECK_STR(last_err.msg, "p:1:13: block 'a' nested more than 100 deep "
		  "(recursion?)");
	td_template_set_free(set);
}

static void test_map_inherit(void)
{
	struct td_value *proto = td_value_map();
	td_value_map_set_str(proto, "title", "Shared");
	td_value_map_set_str(proto, "url", "https://x.example/");
	struct td_value *ctx = td_value_map();
	struct td_value *list = td_value_map_set(ctx, "posts", td_value_list());
	for (int i = 1; i <= 2; i++) {
		struct td_value *item = td_value_list_push(list, td_value_map_inherit(proto));
		td_value_map_set_int(item, "number", i);
	}
	/* the child's own key wins; the rest comes from the prototype */
	struct td_value *third = td_value_list_push(list, td_value_map_inherit(proto));
	td_value_map_set_str(third, "title", "Own");
	struct td_template *t;
	struct td_err err;
	const char *src = "{{#posts}}[{{number}} {{title}} {{url}}]{{/posts}}";
	CHECK(td_template_parse("t", src, strlen(src), &t, &err) == 0);
	struct td_buf out = TD_BUF_INIT;
	CHECK(td_template_render(t, NULL, ctx, false, &out, &err) == 0);
	CHECK_STR(td_buf_cstr(&out), "[1 Shared https://x.example/][2 Shared https://x.example/]"
		  "[ Own https://x.example/]");
	td_buf_free(&out);
	td_template_free(t);
	td_value_free(ctx);          /* frees the children, not the prototype */
	CHECK(td_value_map_get(proto, "title") != NULL);
	td_value_free(proto);
}

int main(void)
{
	TD_RUN(test_parse_errors);
	TD_RUN(test_bad_delimiters);
	TD_RUN(test_nesting_limit);
	TD_RUN(test_escaping);
	TD_RUN(test_truthiness);
	TD_RUN(test_partials_and_context);
	TD_RUN(test_inheritance);
	TD_RUN(test_set_check);
	TD_RUN(test_load_dir);
	TD_RUN(test_values);
	TD_RUN(test_output_cap);
	TD_RUN(test_recursion_limit);
	TD_RUN(test_map_inherit);
	return TD_DONE("template");
}
