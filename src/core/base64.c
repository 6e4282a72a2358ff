/*
 * base64.c: RFC 4648 base64 encoding (see base64.h).
 */
#include "tagdigest/core/base64.h"

#include <stdbool.h>

static const char standard[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char urlsafe[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int td_base64_put(struct td_buf *out, const void *data, size_t len,
		  enum td_base64_alphabet alphabet)
{
	const unsigned char *in = data;
	const char *digits = alphabet == TD_BASE64URL ? urlsafe : standard;
	bool pad = alphabet == TD_BASE64;
	for (size_t i = 0; i < len; i += 3) {
		unsigned v = (unsigned)in[i] << 16;
		if (i + 1 < len)
			v |= (unsigned)in[i + 1] << 8;
		if (i + 2 < len)
			v |= in[i + 2];
		char q[4] = { digits[(v >> 18) & 63], digits[(v >> 12) & 63],
			      digits[(v >> 6) & 63], digits[v & 63] };
		size_t n = 4;
		if (i + 2 >= len) {
			/* the last group: 2 or 3 characters, then padding */
			n = i + 1 < len ? 3 : 2;
			if (pad) {
				for (size_t k = n; k < 4; k++)
					q[k] = '=';
				n = 4;
			}
		}
		if (td_buf_append(out, q, n) < 0)
			return -1;
	}
	return 0;
}
