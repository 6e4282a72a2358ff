/*
 * test_memo.c: the composer's memos (memo.h) and the two places that use
 * them to skip repeated work: quoted-printable lines (mime.h) and the
 * rendered items of shared posts (template.h). Each memoized result is
 * compared with the same work done without a memo, over several rounds,
 * so that the rounds which copy from the memo are checked too.
 */
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "tagdigest/compose/memo.h"
#include "tagdigest/compose/mime.h"
#include "tagdigest/compose/template.h"

static void test_memo_second_sighting(void)
{
	struct td_memo *m = td_memo_new(1 << 20, 64);
	struct td_buf out = TD_BUF_INIT;
	const char *k = "a line of text";
	uint64_t h = td_memo_hash(k, strlen(k));
	CHECK(td_memo_get(m, h, k, strlen(k), &out) == 0);
	td_memo_put(m, h, k, strlen(k), "VALUE", 5);   /* only noted */
	CHECK(td_memo_get(m, h, k, strlen(k), &out) == 0);
	td_memo_put(m, h, k, strlen(k), "VALUE", 5);   /* kept */
	CHECK(td_memo_get(m, h, k, strlen(k), &out) == 1);
	CHECK_STR(td_buf_cstr(&out), "VALUE");
	/* same slot and hash, other bytes of the same length: not a hit */
	const char *other = "a line of tex!";
	CHECK(td_memo_get(m, h, other, strlen(other), &out) == 0);
	/* a key past max_key is never kept */
	char big[100];
	memset(big, 'x', sizeof big);
	uint64_t hb = td_memo_hash(big, sizeof big);
	td_memo_put(m, hb, big, sizeof big, "B", 1);
	td_memo_put(m, hb, big, sizeof big, "B", 1);
	CHECK(td_memo_get(m, hb, big, sizeof big, &out) == 0);
	/* a capped out is left as it was */
	struct td_buf small;
	td_buf_init(&small, 3);
	CHECK(td_memo_get(m, h, k, strlen(k), &small) == -1);
	CHECK(small.len == 0);
	td_buf_free(&small);
	td_buf_free(&out);
	td_memo_free(m);
}

static void test_memo_byte_cap(void)
{
	/* room for one entry: a second one empties the memo first */
	struct td_memo *m = td_memo_new(40, 64);
	const char *a = "first key here", *b = "second key here";
	uint64_t ha = td_memo_hash(a, strlen(a)), hb = td_memo_hash(b, strlen(b));
	struct td_buf out = TD_BUF_INIT;
	for (int i = 0; i < 2; i++)
		td_memo_put(m, ha, a, strlen(a), "0123456789", 10);
	CHECK(td_memo_get(m, ha, a, strlen(a), &out) == 1);
	for (int i = 0; i < 2; i++)
		td_memo_put(m, hb, b, strlen(b), "0123456789", 10);
	CHECK(td_memo_get(m, hb, b, strlen(b), &out) == 1);
	CHECK(td_memo_get(m, ha, a, strlen(a), &out) == 0);
	td_buf_free(&out);
	td_memo_free(m);
}

/* in encoded with and without the memo, three times over: the same. */
static void check_qp(struct td_memo *m, const char *in)
{
	struct td_buf want = TD_BUF_INIT;
	CHECK(td_qp_encode(in, strlen(in), &want) == 0);
	for (int round = 0; round < 3; round++) {
		struct td_buf got = TD_BUF_INIT;
		CHECK(td_qp_encode_memo(in, strlen(in), m, &got) == 0);
		CHECK_STR(td_buf_cstr(&got), td_buf_cstr(&want));
		td_buf_free(&got);
	}
	td_buf_free(&want);
}

static void test_qp_lines(void)
{
	struct td_memo *m = td_memo_new(1 << 20, 4096);
	/* a long line with escapes and a soft break, at the start of a line */
	const char *line = "<a href=\"https://x.example/p?a=1\">Grüße aus "
			   "Köln, mit einem Titel, der länger als eine Zeile ist</a>";
	char doc[1024];
	snprintf(doc, sizeof doc, "%s\nend\n", line);
	check_qp(m, doc);
	/* the same bytes further right on a line: soft breaks fall
	 * elsewhere, so nothing of the first encoding may be reused */
	snprintf(doc, sizeof doc, "  indented by the reader's name: %s\n", line);
	check_qp(m, doc);
	/* as the last line without a break, after CRLF, with a trailing
	 * blank (encoded only at a line's end) and a lone dot */
	snprintf(doc, sizeof doc, "x\r\n%s", line);
	check_qp(m, doc);
	snprintf(doc, sizeof doc, "%s \n.\n%s \nFrom here on\n", line, line);
	check_qp(m, doc);
	/* one memo, two documents, the shared line in both */
	snprintf(doc, sizeof doc, "Hello Reader One,\n%s\n", line);
	check_qp(m, doc);
	snprintf(doc, sizeof doc, "Hello Reader Two, a longer greeting,\n%s\n", line);
	check_qp(m, doc);
	td_memo_free(m);
}

/* A context of the digests' shape: sections of posts, each post a map
 * that inherits one shared value (render.c's post_item) and adds its
 * number; the reader's name beside them. */
static struct td_value *digest_ctx(struct td_value *const *posts, size_t n,
				   const char *reader)
{
	struct td_value *ctx = td_value_map();
	struct td_value *sub = td_value_map_set(ctx, "subscriber", td_value_map());
	td_value_map_set_str(sub, "name", reader);
	struct td_value *sec = td_value_list_push(
		td_value_map_set(ctx, "sections", td_value_list()), td_value_map());
	td_value_map_set_str(sec, "name", "Tag");
	struct td_value *list = td_value_map_set(sec, "posts", td_value_list());
	for (size_t i = 0; i < n; i++) {
		struct td_value *item = td_value_list_push(list, td_value_map_inherit(posts[i]));
		td_value_map_set_int(item, "number", (long long)i + 1);
	}
	return ctx;
}

static struct td_value *post(const char *title)
{
	struct td_value *p = td_value_map();
	td_value_map_set_str(p, "title", title);
	td_value_map_set_str(p, "url", "https://x.example/?a=1&b=2");
	td_value_map_set_bool(p, "has_author", false);
	struct td_value *tags = td_value_map_set(p, "tags", td_value_list());
	td_value_map_set_str(td_value_list_push(tags, td_value_map()), "name", "t1");
	return p;
}

/* Renders the set's template "main" for each context, with the memo and
 * without, three rounds: every output the same as without. Returns the
 * memo's outputs of the last round joined by '|'. */
static char *check_items(const char *main_src, const char *partial_src,
			 struct td_value *const *ctxs, size_t nctx)
{
	struct td_template_set *set = td_template_set_new();
	struct td_err err;
	CHECK(td_template_set_add(set, "main", main_src, strlen(main_src), &err) == 0);
	if (partial_src)
		CHECK(td_template_set_add(set, "item", partial_src, strlen(partial_src),
					  &err) == 0);
	struct td_memo *m = td_memo_new(1 << 20, 1024);
	struct td_buf all = TD_BUF_INIT;
	for (int round = 0; round < 3; round++) {
		td_buf_reset(&all);
		for (size_t i = 0; i < nctx; i++) {
			struct td_buf want = TD_BUF_INIT, got = TD_BUF_INIT;
			const struct td_template *t = td_template_set_get(set, "main");
			CHECK(td_template_render(t, set, ctxs[i], true, &want, &err) == 0);
			CHECK(td_template_render_memo(t, set, ctxs[i], true, m, &got, &err) == 0);
			CHECK_STR(td_buf_cstr(&got), td_buf_cstr(&want));
			td_buf_puts(&all, td_buf_cstr(&got));
			td_buf_putc(&all, '|');
			td_buf_free(&want);
			td_buf_free(&got);
		}
	}
	td_memo_free(m);
	td_template_set_free(set);
	return td_buf_steal(&all);
}

static void test_items_shared_post(void)
{
	struct td_value *a = post("A & B"), *b = post("Second");
	/* the same post first and second in a digest, and alone */
	struct td_value *ab[] = { a, b }, *ba[] = { b, a }, *only[] = { a };
	struct td_value *ctxs[] = {
		digest_ctx(ab, 2, "Ann"), digest_ctx(ba, 2, "Bob"), digest_ctx(only, 1, "Cy"),
	};
	/* an indented standalone partial (the default HTML's shape), and the
	 * same items inline in the middle of a line */
	char *got = check_items("<p>\n{{#sections}}\n  {{#posts}}\n    {{> item}}\n"
				"  {{/posts}}\n{{/sections}}\n</p> x{{#sections}}{{#posts}}"
				"<i>{{title}}</i>{{/posts}}{{/sections}}\n",
				"<a href=\"{{url}}\">{{title}}</a>\n{{#tags}}[{{name}}]{{/tags}}\n",
				ctxs, 3);
	/* read, not copied from a run: the partial indented by four, the
	 * inline items right after " x" */
	const char *want_a = "    <a href=\"https://x.example/?a=1&amp;b=2\">A &amp; B</a>\n"
			     "    [t1]\n";
	const char *want_b = "    <a href=\"https://x.example/?a=1&amp;b=2\">Second</a>\n"
			     "    [t1]\n";
	char want[2048];
	snprintf(want, sizeof want, "<p>\n%s%s</p> x<i>A &amp; B</i><i>Second</i>\n|"
		 "<p>\n%s%s</p> x<i>Second</i><i>A &amp; B</i>\n|"
		 "<p>\n%s</p> x<i>A &amp; B</i>\n|", want_a, want_b, want_b, want_a, want_a);
	CHECK_STR(got, want);
	free(got);
	for (size_t i = 0; i < 3; i++)
		td_value_free(ctxs[i]);
	td_value_free(a);
	td_value_free(b);
}

static void test_items_not_reused(void)
{
	struct td_value *a = post("A");
	struct td_value *one[] = { a };
	struct td_value *ctxs[] = { digest_ctx(one, 1, "Ann"), digest_ctx(one, 1, "Bob") };
	/* each of these makes an item's output depend on more than the
	 * shared post: the reader (an outer context), the item's own number,
	 * the item itself, a name found nowhere, a block */
	static const char *const bodies[] = {
		"{{#sections}}{{#posts}}{{title}} for {{subscriber.name}};{{/posts}}{{/sections}}",
		"{{#sections}}{{#posts}}{{number}}. {{title}};{{/posts}}{{/sections}}",
		"{{#sections}}{{#posts}}{{title}}{{#subscriber}}/{{name}}{{/subscriber}};"
		"{{/posts}}{{/sections}}",
		"{{#sections}}{{#posts}}{{title}}{{^subscriber.name}}?{{/subscriber.name}}"
		"{{#name}}({{name}}){{/name}};{{/posts}}{{/sections}}",
	};
	static const char *const wants[] = {
		"A for Ann;|A for Bob;|",
		"1. A;|1. A;|",
		"A/Ann;|A/Bob;|",
		"A(Tag);|A(Tag);|",   /* "name" is the section's, one level out */
	};
	for (size_t i = 0; i < sizeof bodies / sizeof *bodies; i++) {
		char *got = check_items(bodies[i], NULL, ctxs, 2);
		CHECK_STR(got, wants[i]);
		free(got);
	}
	/* a parent whose block is overridden from outside the item */
	char *got = check_items("{{#sections}}{{#posts}}{{<item}}{{$b}}{{title}}!{{/b}}"
				"{{/item}};{{/posts}}{{/sections}}",
				"[{{$b}}default{{/b}}]", ctxs, 2);
	CHECK_STR(got, "[A!];|[A!];|");
	free(got);
	/* the item's own key shadowing the post's: never the post's output */
	struct td_value *own = digest_ctx(one, 1, "Ann");
	struct td_value *sec = (struct td_value *)td_value_list_at(
		td_value_map_get(own, "sections"), 0);
	struct td_value *item = (struct td_value *)td_value_list_at(
		td_value_map_get(sec, "posts"), 0);
	td_value_map_set_str(item, "title", "Own title");
	struct td_value *mixed[] = { ctxs[0], own };
	got = check_items("{{#sections}}{{#posts}}{{title}};{{/posts}}{{/sections}}",
			  NULL, mixed, 2);
	CHECK_STR(got, "A;|Own title;|");
	free(got);
	td_value_free(own);
	td_value_free(ctxs[0]);
	td_value_free(ctxs[1]);
	td_value_free(a);
}

int main(void)
{
	TD_RUN(test_memo_second_sighting);
	TD_RUN(test_memo_byte_cap);
	TD_RUN(test_qp_lines);
	TD_RUN(test_items_shared_post);
	TD_RUN(test_items_not_reused);
	return TD_DONE("memo");
}
