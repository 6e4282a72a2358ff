/*
 * test_base64.c: the RFC 4648 section 10 test vectors, in both alphabets.
 */
#include <string.h>

#include "harness.h"
#include "tagdigest/core/base64.h"

static const char *enc(const char *in, size_t len, enum td_base64_alphabet a,
		       struct td_buf *b)
{
	td_buf_reset(b);
	td_base64_put(b, in, len, a);
	return td_buf_cstr(b);
}

static void test_vectors(void)
{
	static const char *const rfc[][2] = {
		{ "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" }, { "foo", "Zm9v" },
		{ "foob", "Zm9vYg==" }, { "fooba", "Zm9vYmE=" }, { "foobar", "Zm9vYmFy" },
	};
	struct td_buf b = TD_BUF_INIT;
	for (size_t i = 0; i < sizeof rfc / sizeof rfc[0]; i++)
		CHECK_STR(enc(rfc[i][0], strlen(rfc[i][0]), TD_BASE64, &b), rfc[i][1]);
	/* the URL alphabet: no padding, - and _ for + and / */
	CHECK_STR(enc("f", 1, TD_BASE64URL, &b), "Zg");
	CHECK_STR(enc("fo", 2, TD_BASE64URL, &b), "Zm8");
	CHECK_STR(enc("\xfb\xff", 2, TD_BASE64, &b), "+/8=");
	CHECK_STR(enc("\xfb\xff", 2, TD_BASE64URL, &b), "-_8");
	/* a cap that is too small fails cleanly */
	struct td_buf small;
	td_buf_init(&small, 3);
	CHECK(td_base64_put(&small, "foo", 3, TD_BASE64) == -1);
	td_buf_free(&small);
	td_buf_free(&b);
}

int main(void)
{
	TD_RUN(test_vectors);
	return TD_DONE("base64");
}
