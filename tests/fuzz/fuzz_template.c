/*
 * fuzz_template.c: libFuzzer target for the Mustache engine. The input is
 * a template: td_template_parse, then, when it parses, td_template_render
 * against a small fixed context, with and without HTML escaping, with a
 * few fixed partials. Lists in the context hold one item and no partial
 * names itself: the engine bounds recursion depth, not work, so nested
 * loops over longer lists or a partial that includes itself twice take
 * time exponential in the template's length, which is the editors'
 * template, not hostile input.
 *
 * Held to its contract (a trap is a finding): a parse error names the
 * template ("fuzz:LINE:COL: ..."); a render returns 0 with a result
 * (never NULL, even when empty) or EX_DATAERR with a message; rendering
 * is a pure function of template and context (two renders give the same
 * bytes); HTML escaping only lengthens the output, and leaves an output
 * without & < > " ' as it is.
 *
 * Seeds: the templates of the Mustache spec suite (extracted from
 * $(TESTDATA)/mustache-spec at run time by tests/fuzz/seeds.py) and the
 * repository's templates/.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tagdigest/core/buf.h"
#include "tagdigest/core/log.h"
#include "tagdigest/compose/template.h"
#include "tagdigest/core/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A string with every character HTML escaping changes. */
#define SPECIAL "<b>&\"'</b>"

/* Names the spec suite and templates/ use, with every kind of value. */
static struct td_value *context(void)
{
	struct td_value *ctx = td_value_map();
	td_value_map_set_str(ctx, "name", SPECIAL);
	td_value_map_set_str(ctx, "a", "A");
	td_value_map_set_str(ctx, "b", "");
	td_value_map_set_int(ctx, "c", 3);
	td_value_map_set(ctx, "n", td_value_number("1.21"));
	td_value_map_set_bool(ctx, "t", true);
	td_value_map_set_bool(ctx, "f", false);
	td_value_map_set(ctx, "null", td_value_null());
	struct td_value *list = td_value_map_set(ctx, "list", td_value_list());
	struct td_value *item = td_value_list_push(list, td_value_map());
	td_value_map_set_int(item, "item", 1);
	td_value_map_set_str(item, "title", SPECIAL);
	struct td_value *inner = td_value_map_set(item, "posts", td_value_list());
	td_value_list_push(inner, td_value_string("x"));
	td_value_map_set(ctx, "empty", td_value_list());
	struct td_value *site = td_value_map_set(ctx, "site", td_value_map());
	td_value_map_set_str(site, "name", "Site");
	td_value_map_set(site, "sections", td_value_map_inherit(ctx));
	td_value_map_set(ctx, "sections", td_value_map_inherit(ctx));
	return ctx;
}

static bool has_special(const struct td_buf *b)
{
	for (size_t i = 0; i < b->len; i++)
		if (strchr("<>&\"'", b->data[i]) && b->data[i])
			return true;
	return false;
}

static void render(const struct td_template *t, const struct td_template_set *set,
		   const struct td_value *ctx, bool html, struct td_buf *out, int *rc)
{
	struct td_err err = { 0, "" };
	*rc = td_template_render(t, set, ctx, html, out, &err);
	if (*rc != 0 && (*rc != EX_DATAERR || !err.msg[0]))
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	td_log_set_level(TD_LOG_QUIET);
	static struct td_value *ctx;
	if (!ctx)
		ctx = context(); /* kept for the whole run: LSan sees it as reachable */
	struct td_template *t = NULL;
	struct td_err err = { 0, "" };
	if (td_template_parse("fuzz", (const char *)data, size, &t, &err) != 0) {
		if (t || strncmp(err.msg, "fuzz:", 5) != 0)
			__builtin_trap();
		return 0;
	}
	static const char *const partials[][2] = {
		{ "partial", "[{{name}}]" },
		{ "post", "{{#list}}<{{title}}>{{/list}}\n" },
		{ "parent", "<{{$a}}default{{/a}}>" },
	};
	struct td_template_set *set = td_template_set_new();
	for (size_t i = 0; i < sizeof partials / sizeof partials[0]; i++)
		if (td_template_set_add(set, partials[i][0], partials[i][1],
					strlen(partials[i][1]), &err) != 0)
			__builtin_trap();
	struct td_buf plain, again, html;
	td_buf_init(&plain, 1 << 20);
	td_buf_init(&again, 1 << 20);
	td_buf_init(&html, 1 << 20);
	int rc1, rc2, rc3;
	render(t, set, ctx, false, &plain, &rc1);
	render(t, set, ctx, false, &again, &rc2);
	if (rc1 == 0 && (!td_buf_cstr(&plain) || strlen(td_buf_cstr(&plain)) > plain.len))
		__builtin_trap(); /* a result, NUL-terminated, even when empty */
	if (rc1 != rc2 || (rc1 == 0 && (plain.len != again.len ||
					 memcmp(td_buf_cstr(&plain), td_buf_cstr(&again),
						plain.len) != 0)))
		__builtin_trap();
	render(t, set, ctx, true, &html, &rc3);
	/* escaping only lengthens, and changes nothing in an output without
	 * the characters it escapes */
	if (rc1 == 0 && rc3 == 0) {
		if (html.len < plain.len)
			__builtin_trap();
		if (!has_special(&plain) &&
		    (html.len != plain.len ||
		     memcmp(td_buf_cstr(&html), td_buf_cstr(&plain), plain.len) != 0))
			__builtin_trap();
	}
	struct td_err cerr = { 0, "" };
	(void)td_template_set_check(set, &cerr);
	td_buf_free(&plain);
	td_buf_free(&again);
	td_buf_free(&html);
	td_template_set_free(set);
	td_template_free(t);
	return 0;
}
