/*
 * fuzz_feed.c: libFuzzer target for the feed module. Every input goes
 * through the whole path a fetched feed takes: td_feed_parse (with a base
 * URL and, for half the inputs, an HTTP charset, chosen by the first
 * byte), td_feed_posts into a callback that touches every field,
 * td_feed_dump_json, and the frees, so ASan/UBSan/LSan see all of it.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude -D_GNU_SOURCE \
 *     $(pkg-config --cflags libxml-2.0 gnutls) tests/fuzz/fuzz_feed.c \
 *     src/sources/feed.c src/sources/date.c src/sources/html.c src/core/util.c src/core/buf.c src/core/err.c \
 *     src/core/log.c src/sources/slug.c src/sources/post.c $(pkg-config --libs libxml-2.0 gnutls)
 *   ./fuzz_feed -max_total_time=60 corpus/ ../shared/testdata/feeds/...
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "tagdigest/sources/feed.h"
#include "tagdigest/core/log.h"
#include "tagdigest/core/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int touch(void *ctx, const struct td_post *p, struct td_err *err)
{
	(void)err;
	size_t *sum = ctx;
	/* read every string so a dangling or unterminated one shows up */
	const char *s[] = { p->guid, p->url, p->title, p->author, p->excerpt_html,
			    p->excerpt_text, p->content_html, p->content_hash };
	for (size_t i = 0; i < sizeof s / sizeof s[0]; i++)
		*sum += s[i] ? strlen(s[i]) : 0;
	for (size_t i = 0; i < p->tags.n; i++)
		*sum += strlen(p->tags.v[i]) + strlen(p->tag_names.v[i]);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const ctypes[] = {
		NULL, "text/xml; charset=iso-8859-1", "application/xml; charset=utf-16",
		"application/rss+xml; charset=bogus",
	};
	td_log_set_level(TD_LOG_QUIET);
	const char *ctype = size ? ctypes[data[0] & 3] : NULL;
	struct td_feed *f = NULL;
	struct td_err err = { 0, "" };
	if (td_feed_parse((const char *)data, size, "http://fuzz.example/feed/", ctype, &f, &err))
		return 0;
	struct td_source_config src;
	memset(&src, 0, sizeof src);
	src.name = (char *)"fuzz";
	src.type = (char *)"feed";
	src.categories = true;
	td_strv_push(&src.tags, "Fixed Tag");
	size_t nbad = 0, sum = 0;
	td_feed_posts(f, &src, touch, &sum, &nbad, &err);
	td_strv_free(&src.tags);
	struct td_buf json = TD_BUF_INIT;
	td_feed_dump_json(f, &json);
	if (!td_utf8_valid(td_buf_cstr(&json), json.len))
		__builtin_trap(); /* the dump promises valid UTF-8 */
	td_buf_free(&json);
	td_feed_free(f);
	return 0;
}
