/*
 * json_mini.h: a small JSON reader for the tests (RFC 8259), test-only.
 *
 * The Mustache spec suite is JSON; the runner needs the test records and
 * turns each "data" member into a td_value tree. The reader keeps its own
 * tree (struct jnode) because td_value has no accessors for reading values
 * back, which the library does not need.
 *
 * Numbers keep a normalised text: the shortest decimal that reads back as
 * the same double, the way JavaScript prints numbers, so 1.210 renders as
 * "1.21" and 85.0 as "85" (the spec writes its expectations that way).
 * Everything is malloc'd; json_free() frees a tree.
 */
#ifndef TAGDIGEST_TEST_JSON_MINI_H
#define TAGDIGEST_TEST_JSON_MINI_H

#include <math.h> /* isfinite, a macro: no -lm needed */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tagdigest/buf.h"
#include "tagdigest/util.h"

enum jtype { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ };

struct jnode {
	enum jtype type;
	bool b;
	char *s;             /* J_STR: decoded; J_NUM: normalised text */
	struct jnode **kids; /* J_ARR items, J_OBJ values */
	char **keys;         /* J_OBJ */
	size_t n, cap;
};

struct jparser {
	const char *s, *end;
	int depth;
	char err[160];
};

static void json_free(struct jnode *j)
{
	if (!j)
		return;
	for (size_t i = 0; i < j->n; i++) {
		json_free(j->kids[i]);
		if (j->keys)
			free(j->keys[i]);
	}
	free(j->kids);
	free(j->keys);
	free(j->s);
	free(j);
}

static const struct jnode *json_get(const struct jnode *obj, const char *key)
{
	if (!obj || obj->type != J_OBJ)
		return NULL;
	for (size_t i = 0; i < obj->n; i++)
		if (strcmp(obj->keys[i], key) == 0)
			return obj->kids[i];
	return NULL;
}

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

static struct jnode *json_value(struct jparser *p);

static void json_push(struct jnode *j, char *key, struct jnode *kid)
{
	if (j->n == j->cap) {
		j->cap = j->cap ? j->cap * 2 : 8;
		j->kids = td_xrealloc(j->kids, j->cap * sizeof *j->kids);
		if (j->type == J_OBJ)
			j->keys = td_xrealloc(j->keys, j->cap * sizeof *j->keys);
	}
	if (j->type == J_OBJ)
		j->keys[j->n] = key;
	j->kids[j->n++] = kid;
}

/* Arrays and objects: p->s is just past the opening bracket. */
static struct jnode *json_container(struct jparser *p, struct jnode *j, char close)
{
	json_ws(p);
	if (p->s < p->end && *p->s == close) {
		p->s++;
		return j;
	}
	for (;;) {
		char *key = NULL;
		json_ws(p);
		if (j->type == J_OBJ) {
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
		struct jnode *kid = json_value(p);
		if (!kid) {
			free(key);
			break;
		}
		json_push(j, key, kid);
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
	json_free(j);
	return NULL;
}

static struct jnode *json_number(struct jparser *p, struct jnode *j)
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
		json_free(j);
		json_fail(p, "unexpected character");
		return NULL;
	}
	char *text = td_xstrndup(a, (size_t)(p->s - a));
	j->s = json_number_text(text);
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

static struct jnode *json_value(struct jparser *p)
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
	struct jnode *j = td_xcalloc(1, sizeof *j), *r = j;
	char c = *p->s;
	if (c == '{' || c == '[') {
		p->s++;
		j->type = c == '{' ? J_OBJ : J_ARR;
		r = json_container(p, j, c == '{' ? '}' : ']');
	} else if (c == '"') {
		p->s++;
		j->type = J_STR;
		if (json_string(p, &j->s)) {
			json_free(j);
			r = NULL;
		}
	} else if (json_word(p, "true") || json_word(p, "false")) {
		j->type = J_BOOL;
		j->b = c == 't';
	} else if (json_word(p, "null")) {
		j->type = J_NULL;
	} else {
		j->type = J_NUM;
		r = json_number(p, j);
	}
	p->depth--;
	return r;
}

/* Parses a whole document; NULL with a message in err on bad JSON. */
static struct jnode *json_parse(const char *s, size_t len, char *err, size_t errlen)
{
	struct jparser p = { s, s + len, 0, "" };
	struct jnode *j = json_value(&p);
	if (j) {
		json_ws(&p);
		if (p.s != p.end) {
			json_fail(&p, "trailing text");
			json_free(j);
			j = NULL;
		}
	}
	if (!j)
		snprintf(err, errlen, "%s", p.err);
	return j;
}

#endif
