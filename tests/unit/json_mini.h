/*
 * json_mini.h: a small JSON reader for the tests (RFC 8259), test-only.
 *
 * The Mustache spec suite is JSON, and so is `feed-dump`'s output. The
 * reader builds td_value trees (value.h), the tree the library uses, read
 * back with its td_value_* readers: a spec test's "data" is handed to the
 * template engine as it is.
 *
 * Numbers keep a normalised text: the shortest decimal that reads back as
 * the same double, the way JavaScript prints numbers, so 1.210 renders as
 * "1.21" and 85.0 as "85" (the spec writes its expectations that way).
 * json_parse() returns a tree freed with td_value_free().
 */
#ifndef TAGDIGEST_TEST_JSON_MINI_H
#define TAGDIGEST_TEST_JSON_MINI_H

#include <math.h> /* isfinite, a macro: no -lm needed */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tagdigest/core/buf.h"
#include "tagdigest/core/util.h"
#include "tagdigest/core/value.h"

struct jparser {
	const char *s, *end;
	int depth;
	char err[160];
};

/* Shortest text that strtod() reads back as the same double. */
static char *json_number_text(const char *text)
{
	double d = strtod(text, NULL);
	if (d == 0)
		return td_xstrdup("0"); /* JavaScript prints -0 as 0 too */
	if (!isfinite(d))
		return td_xstrdup(text);
	char tmp[64];
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(tmp, sizeof tmp, "%.*g", prec, d);
		if (strtod(tmp, NULL) == d)
			break;
	}
	/* %g switches to an exponent from 1e+N where N >= prec; print whole
	 * numbers up to 2^53 in full, as JavaScript does up to 1e21. */
	if (d > -9007199254740992.0 && d < 9007199254740992.0 &&
	    d == (double)(long long)d)
		snprintf(tmp, sizeof tmp, "%.0f", d);
	return td_xstrdup(tmp);
}

static int json_fail(struct jparser *p, const char *what)
{
	snprintf(p->err, sizeof p->err, "%s at \"%.20s\"", what, p->s);
	return -1;
}

static void json_ws(struct jparser *p)
{
	while (p->s < p->end && strchr(" \t\r\n", *p->s) && *p->s)
		p->s++;
}


static int json_hex4(struct jparser *p, unsigned long *out)
{
	if (p->end - p->s < 4)
		return json_fail(p, "short \\u escape");
	*out = 0;
	for (int i = 0; i < 4; i++) {
		char c = *p->s++;
		int v = c >= '0' && c <= '9' ? c - '0' :
			c >= 'a' && c <= 'f' ? c - 'a' + 10 :
			c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
		if (v < 0)
			return json_fail(p, "bad \\u escape");
		*out = *out * 16 + (unsigned long)v;
	}
	return 0;
}

/* p->s is just past the opening quote. */
static int json_string(struct jparser *p, char **out)
{
	struct td_buf b = TD_BUF_INIT;
	td_buf_append(&b, "", 0);
	while (p->s < p->end && *p->s != '"') {
		char c = *p->s++;
		if ((unsigned char)c < 0x20) {
			td_buf_free(&b);
			return json_fail(p, "control character in string");
		}
		if (c != '\\') {
			td_buf_putc(&b, c);
			continue;
		}
		if (p->s >= p->end)
			break;
		c = *p->s++;
		const char *simple = strchr("\"\\/bfnrt", c);
		if (simple && c) {
			static const char map[] = "\"\\/\b\f\n\r\t";
			td_buf_putc(&b, map[simple - "\"\\/bfnrt"]);
			continue;
		}
		unsigned long cp, lo;
		if (c != 'u' || json_hex4(p, &cp)) {
			td_buf_free(&b);
			return c != 'u' ? json_fail(p, "bad escape") : -1;
		}
		if (cp >= 0xD800 && cp < 0xDC00 && p->end - p->s >= 6 &&
		    p->s[0] == '\\' && p->s[1] == 'u') {
			p->s += 2;
			if (json_hex4(p, &lo)) {
				td_buf_free(&b);
				return -1;
			}
			cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
		}
		td_utf8_put(&b, (uint32_t)cp);
	}
	if (p->s >= p->end) {
		td_buf_free(&b);
		return json_fail(p, "unterminated string");
	}
	p->s++;
	*out = td_buf_steal(&b);
	return 0;
}

static struct td_value *json_value(struct jparser *p);

/* Arrays and objects: p->s is just past the opening bracket. */
static struct td_value *json_container(struct jparser *p, struct td_value *j, char close)
{
	json_ws(p);
	if (p->s < p->end && *p->s == close) {
		p->s++;
		return j;
	}
	for (;;) {
		char *key = NULL;
		json_ws(p);
		bool obj = td_value_type(j) == TD_VALUE_MAP;
		if (obj) {
			if (p->s >= p->end || *p->s != '"' ||
			    (p->s++, json_string(p, &key))) {
				if (!p->err[0])
					json_fail(p, "expected a key");
				break;
			}
			json_ws(p);
			if (p->s >= p->end || *p->s != ':') {
				free(key);
				json_fail(p, "expected ':'");
				break;
			}
			p->s++;
		}
		struct td_value *kid = json_value(p);
		if (!kid) {
			free(key);
			break;
		}
		if (obj)
			td_value_map_set(j, key, kid);
		else
			td_value_list_push(j, kid);
		free(key);
		json_ws(p);
		if (p->s < p->end && *p->s == ',') {
			p->s++;
			continue;
		}
		if (p->s < p->end && *p->s == close) {
			p->s++;
			return j;
		}
		json_fail(p, "expected ',' or a closing bracket");
		break;
	}
	td_value_free(j);
	return NULL;
}

static struct td_value *json_number(struct jparser *p)
{
	const char *a = p->s;
	if (p->s < p->end && *p->s == '-')
		p->s++;
	size_t digits = 0;
	while (p->s < p->end && strchr("0123456789.eE+-", *p->s) && *p->s) {
		digits += *p->s >= '0' && *p->s <= '9';
		p->s++;
	}
	if (digits == 0) {
		json_fail(p, "unexpected character");
		return NULL;
	}
	char *text = td_xstrndup(a, (size_t)(p->s - a));
	char *norm = json_number_text(text);
	struct td_value *j = td_value_number(norm);
	free(norm);
	free(text);
	return j;
}

static bool json_word(struct jparser *p, const char *w)
{
	size_t n = strlen(w);
	if ((size_t)(p->end - p->s) < n || memcmp(p->s, w, n) != 0)
		return false;
	p->s += n;
	return true;
}

static struct td_value *json_value(struct jparser *p)
{
	json_ws(p);
	if (p->s >= p->end) {
		json_fail(p, "unexpected end");
		return NULL;
	}
	if (++p->depth > 200) {
		json_fail(p, "nested too deeply");
		return NULL;
	}
	struct td_value *r;
	char *str;
	char c = *p->s;
	if (c == '{' || c == '[') {
		p->s++;
		r = json_container(p, c == '{' ? td_value_map() : td_value_list(),
				   c == '{' ? '}' : ']');
	} else if (c == '"') {
		p->s++;
		r = json_string(p, &str) ? NULL : td_value_string_owned(str);
	} else if (json_word(p, "true") || json_word(p, "false")) {
		r = td_value_bool(c == 't');
	} else if (json_word(p, "null")) {
		r = td_value_null();
	} else {
		r = json_number(p);
	}
	p->depth--;
	return r;
}

/* Parses a whole document; NULL with a message in err on bad JSON. */
static struct td_value *json_parse(const char *s, size_t len, char *err, size_t errlen)
{
	struct jparser p = { s, s + len, 0, "" };
	struct td_value *j = json_value(&p);
	if (j) {
		json_ws(&p);
		if (p.s != p.end) {
			json_fail(&p, "trailing text");
			td_value_free(j);
			j = NULL;
		}
	}
	if (!j)
		snprintf(err, errlen, "%s", p.err);
	return j;
}

#endif
