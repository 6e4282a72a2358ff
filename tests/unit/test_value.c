/*
 * test_value.c: the value tree (value.h) read back: the readers, map_child,
 * copy and equality, and td_value_json read back through json_mini.h.
 * Rendering against values is test_template.c's.
 */
#include <limits.h>
#include <stdlib.h>

#include "harness.h"
#include "json_mini.h"
#include "tagdigest/core/value.h"

static void test_readers(void)
{
	struct td_value *m = td_value_map();
	td_value_map_set_str(m, "s", "text");
	td_value_map_set_int(m, "n", -42);
	td_value_map_set_bool(m, "b", true);
	struct td_value *l = td_value_map_set(m, "l", td_value_list());
	td_value_list_push(l, td_value_string("a"));
	td_value_list_push(l, NULL);   /* null */

	CHECK_STR(td_value_map_get_str(m, "s"), "text");
	CHECK(td_value_map_get_str(m, "n") == NULL);     /* a number, not a string */
	CHECK_STR(td_value_text(td_value_map_get(m, "n")), "-42");
	CHECK(td_value_get_bool(td_value_map_get(m, "b")));
	CHECK(!td_value_get_bool(td_value_map_get(m, "s")));
	CHECK(td_value_list_len(l) == 2);
	CHECK_STR(td_value_text(td_value_list_at(l, 0)), "a");
	CHECK(td_value_type(td_value_list_at(l, 1)) == TD_VALUE_NULL);
	CHECK(td_value_list_at(l, 2) == NULL);
	CHECK(td_value_list_at(m, 0) == NULL);           /* not a list */
	CHECK(td_value_map_len(m) == 4);
	CHECK_STR(td_value_map_key(m, 0), "s");
	CHECK_STR(td_value_map_key(m, 3), "l");
	CHECK(td_value_map_key(m, 4) == NULL);
	CHECK(td_value_map_at(m, 3) == l);
	/* setting a key again keeps its place */
	td_value_map_set_str(m, "s", "again");
	CHECK_STR(td_value_map_key(m, 0), "s");
	CHECK_STR(td_value_map_get_str(m, "s"), "again");
	/* whole numbers written as their decimal text, to both ends */
	static const struct { long long n; const char *text; } ints[] = {
		{ 0, "0" }, { 7, "7" }, { -42, "-42" }, { 2026, "2026" },
		{ LLONG_MAX, "9223372036854775807" }, { LLONG_MIN, "-9223372036854775808" },
	};
	for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
		struct td_value *v = td_value_int(ints[i].n);
		CHECK(td_value_type(v) == TD_VALUE_NUMBER);
		CHECK_STR(td_value_text(v), ints[i].text);
		td_value_free(v);
	}
	/* NULL answers nothing */
	CHECK(td_value_type(NULL) == TD_VALUE_NULL && td_value_text(NULL) == NULL);
	CHECK(td_value_map_len(NULL) == 0 && td_value_list_len(NULL) == 0);
	td_value_free(m);
}

static void test_map_child(void)
{
	struct td_value *m = td_value_map();
	struct td_value *tags = td_value_map_child(m, "tags", TD_VALUE_LIST);
	td_value_list_push(tags, td_value_string("x"));
	/* the same list the second time */
	CHECK(td_value_map_child(m, "tags", TD_VALUE_LIST) == tags);
	CHECK(td_value_list_len(td_value_map_get(m, "tags")) == 1);
	/* another type there is replaced */
	td_value_map_set_str(m, "d", "s");
	struct td_value *d = td_value_map_child(m, "d", TD_VALUE_MAP);
	CHECK(td_value_type(td_value_map_get(m, "d")) == TD_VALUE_MAP);
	CHECK(td_value_map_get(m, "d") == d);
	CHECK(td_value_map_len(m) == 2);
	td_value_free(m);
}

static void test_copy_equal(void)
{
	struct td_value *a = td_value_map();
	td_value_map_set_str(a, "term", "nato");
	td_value_map_set(a, "scheme", td_value_null());
	struct td_value *l = td_value_map_set(a, "l", td_value_list());
	td_value_list_push(l, td_value_number("1.5"));
	td_value_list_push(l, td_value_bool(false));

	struct td_value *b = td_value_copy(a);
	CHECK(b != a && td_value_equal(a, b));
	CHECK(td_value_map_get(b, "l") != l);            /* deep */
	td_value_map_set_str(b, "term", "NATO");
	CHECK(!td_value_equal(a, b));
	td_value_free(b);

	/* keys in another order are another value (feed tags compare so) */
	struct td_value *c = td_value_map();
	td_value_map_set(c, "scheme", td_value_null());
	td_value_map_set_str(c, "term", "nato");
	td_value_map_set(c, "l", td_value_copy(l));
	CHECK(!td_value_equal(a, c));
	/* a number is not a string of the same text */
	CHECK(!td_value_equal(td_value_list_at(l, 0), td_value_map_get(a, "term")));
	struct td_value *n = td_value_number("1.5"), *s = td_value_string("1.5");
	CHECK(!td_value_equal(n, s));
	CHECK(td_value_equal(NULL, NULL) && !td_value_equal(n, NULL));
	td_value_free(n);
	td_value_free(s);
	td_value_free(c);
	td_value_free(a);
}

static void test_json(void)
{
	struct td_value *m = td_value_map();
	td_value_map_set_str(m, "q", "a \"q\" \\ \n\t\x01 \xE2\x80\xA8 caf\xC3\xA9");
	td_value_map_set_str(m, "bad", "x\xFFy");
	td_value_map_set_int(m, "n", 2026);
	td_value_map_set_bool(m, "t", true);
	td_value_map_set(m, "z", td_value_null());
	struct td_value *l = td_value_map_set(m, "l", td_value_list());
	td_value_list_push(l, td_value_map());
	td_value_list_push(l, td_value_list());

	struct td_buf b = TD_BUF_INIT;
	td_value_json(m, &b);
	CHECK_STR(td_buf_cstr(&b),
		  "{\"q\":\"a \\\"q\\\" \\\\ \\n\\t\\u0001 \\u2028 caf\xC3\xA9\","
		  "\"bad\":\"x\\ufffdy\",\"n\":2026,\"t\":true,\"z\":null,\"l\":[{},[]]}");
	/* and read back: the same tree, but for the byte that was not UTF-8 */
	char err[160];
	struct td_value *back = json_parse(td_buf_cstr(&b), b.len, err, sizeof err);
	CHECK(back != NULL);
	td_value_map_set_str(m, "bad", "x\xEF\xBF\xBDy");
	CHECK(td_value_equal(m, back));
	td_value_free(back);
	td_buf_free(&b);
	td_value_free(m);

	td_value_json(NULL, &b);
	CHECK_STR(td_buf_cstr(&b), "null");
	td_buf_free(&b);
}

/* The indented form says the same (read back equal), a member a line;
 * brackets, commas and colons inside strings are left alone. */
static void test_json_indent(void)
{
	const char *compact = "{\"a\":[1,{\"b\":\"x,y:[z]{\\\"}\"},[],{}],\"c\":null}";
	struct td_buf b = TD_BUF_INIT;
	td_value_json_indent(compact, strlen(compact), &b);
	CHECK_STR(td_buf_cstr(&b),
		  "{\n"
		  "  \"a\": [\n"
		  "    1,\n"
		  "    {\n"
		  "      \"b\": \"x,y:[z]{\\\"}\"\n"
		  "    },\n"
		  "    [],\n"
		  "    {}\n"
		  "  ],\n"
		  "  \"c\": null\n"
		  "}");
	char err[160];
	struct td_value *x = json_parse(compact, strlen(compact), err, sizeof err);
	struct td_value *y = json_parse(td_buf_cstr(&b), b.len, err, sizeof err);
	CHECK(x && y && td_value_equal(x, y));
	td_value_free(x);
	td_value_free(y);
	td_buf_free(&b);
}

int main(void)
{
	TD_RUN(test_readers);
	TD_RUN(test_map_child);
	TD_RUN(test_copy_equal);
	TD_RUN(test_json);
	TD_RUN(test_json_indent);
	return TD_DONE("test_value");
}
