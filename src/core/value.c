/*
 * value.c: the dynamic-value tree behind value.h.
 *
 * Lists and maps are arrays grown by doubling; a map is searched
 * linearly, which is faster than hashing for the few keys a post, a
 * digest or a feed entry has.
 */
#include "tagdigest/core/value.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "tagdigest/core/util.h"

struct td_value {
	enum td_value_type type;
	union {
		bool b;
		char *s; /* string, or the number's text */
		struct {
			struct td_value **v;
			size_t n, cap;
		} list;
		struct {
			char **k;
			struct td_value **v;
			size_t n, cap;
			const struct td_value *proto;   /* borrowed; see map_inherit */
		} map;
	} u;
};

/* Misusing the value API (pushing to a map, ...) is a bug in the caller,
 * not bad input, so it stops the program where it happened. */
static void value_misuse(const char *fn, const char *what)
{
	fprintf(stderr, "tagdigest: value: %s: %s\n", fn, what);
	abort();
}

static struct td_value *value_new(enum td_value_type type)
{
	struct td_value *v = td_xcalloc(1, sizeof *v);
	v->type = type;
	return v;
}

struct td_value *td_value_null(void)
{
	return value_new(TD_VALUE_NULL);
}

struct td_value *td_value_bool(bool b)
{
	struct td_value *v = value_new(TD_VALUE_BOOL);
	v->u.b = b;
	return v;
}

struct td_value *td_value_number(const char *text)
{
	struct td_value *v = value_new(TD_VALUE_NUMBER);
	v->u.s = td_xstrdup(text ? text : "0");
	return v;
}

struct td_value *td_value_int(long long n)
{
	/* by hand: printf costs more than the rest of making the node, and
	 * a feed makes nine for each date (feed_impl.h) */
	char buf[24], *p = buf + sizeof buf;
	unsigned long long u = n < 0 ? 0ULL - (unsigned long long)n : (unsigned long long)n;
	*--p = '\0';
	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (n < 0)
		*--p = '-';
	return td_value_number(p);
}

struct td_value *td_value_string(const char *s)
{
	return td_value_string_owned(td_xstrdup(s ? s : ""));
}

struct td_value *td_value_string_owned(char *s)
{
	struct td_value *v = value_new(TD_VALUE_STRING);
	v->u.s = s ? s : td_xstrdup("");
	return v;
}

struct td_value *td_value_list(void)
{
	return value_new(TD_VALUE_LIST);
}

struct td_value *td_value_map(void)
{
	return value_new(TD_VALUE_MAP);
}

struct td_value *td_value_list_push(struct td_value *list, struct td_value *item)
{
	if (!list || list->type != TD_VALUE_LIST)
		value_misuse("td_value_list_push", "not a list");
	if (!item)
		item = td_value_null();
	if (list->u.list.n == list->u.list.cap) {
		list->u.list.cap = list->u.list.cap ? list->u.list.cap * 2 : 8;
		list->u.list.v = td_xrealloc(list->u.list.v,
			list->u.list.cap * sizeof *list->u.list.v);
	}
	list->u.list.v[list->u.list.n++] = item;
	return item;
}

static ssize_t map_find(const struct td_value *map, const char *key)
{
	/* the first byte settles most misses without a call: a template's
	 * lookups pass through every map of its context stack */
	for (size_t i = 0; i < map->u.map.n; i++)
		if (map->u.map.k[i][0] == key[0] && strcmp(map->u.map.k[i], key) == 0)
			return (ssize_t)i;
	return -1;
}

struct td_value *td_value_map_set(struct td_value *map, const char *key,
				  struct td_value *v)
{
	if (!map || map->type != TD_VALUE_MAP || !key)
		value_misuse("td_value_map_set", "not a map, or no key");
	if (!v)
		v = td_value_null();
	ssize_t i = map_find(map, key);
	if (i >= 0) {
		/* Replacing keeps the key's place, so output order is the
		 * order keys were first set in. */
		if (map->u.map.v[i] != v)
			td_value_free(map->u.map.v[i]);
		map->u.map.v[i] = v;
		return v;
	}
	if (map->u.map.n == map->u.map.cap) {
		map->u.map.cap = map->u.map.cap ? map->u.map.cap * 2 : 8;
		map->u.map.k = td_xrealloc(map->u.map.k,
			map->u.map.cap * sizeof *map->u.map.k);
		map->u.map.v = td_xrealloc(map->u.map.v,
			map->u.map.cap * sizeof *map->u.map.v);
	}
	map->u.map.k[map->u.map.n] = td_xstrdup(key);
	map->u.map.v[map->u.map.n] = v;
	map->u.map.n++;
	return v;
}

void td_value_map_set_str(struct td_value *map, const char *key, const char *s)
{
	td_value_map_set(map, key, td_value_string(s));
}

void td_value_map_set_int(struct td_value *map, const char *key, long long n)
{
	td_value_map_set(map, key, td_value_int(n));
}

void td_value_map_set_bool(struct td_value *map, const char *key, bool b)
{
	td_value_map_set(map, key, td_value_bool(b));
}

enum td_value_type td_value_type(const struct td_value *v)
{
	return v ? v->type : TD_VALUE_NULL;
}

const struct td_value *td_value_map_get(const struct td_value *map, const char *key)
{
	if (!map || map->type != TD_VALUE_MAP || !key)
		return NULL;
	ssize_t i = map_find(map, key);
	if (i >= 0)
		return map->u.map.v[i];
	return map->u.map.proto ? td_value_map_get(map->u.map.proto, key) : NULL;
}

struct td_value *td_value_map_inherit(const struct td_value *proto)
{
	if (!proto || proto->type != TD_VALUE_MAP)
		value_misuse("td_value_map_inherit", "the prototype is not a map");
	struct td_value *v = td_value_map();
	v->u.map.proto = proto;
	return v;
}

size_t td_value_list_len(const struct td_value *list)
{
	return list && list->type == TD_VALUE_LIST ? list->u.list.n : 0;
}

void td_value_free(struct td_value *v)
{
	if (!v)
		return;
	switch (v->type) {
	case TD_VALUE_NUMBER:
	case TD_VALUE_STRING:
		free(v->u.s);
		break;
	case TD_VALUE_LIST:
		for (size_t i = 0; i < v->u.list.n; i++)
			td_value_free(v->u.list.v[i]);
		free(v->u.list.v);
		break;
	case TD_VALUE_MAP:
		for (size_t i = 0; i < v->u.map.n; i++) {
			free(v->u.map.k[i]);
			td_value_free(v->u.map.v[i]);
		}
		free(v->u.map.k);
		free(v->u.map.v);
		break;
	case TD_VALUE_NULL:
	case TD_VALUE_BOOL:
		break;
	}
	free(v);
}

struct td_value *td_value_map_child(struct td_value *map, const char *key,
				    enum td_value_type type)
{
	if (!map || map->type != TD_VALUE_MAP || !key)
		value_misuse("td_value_map_child", "not a map, or no key");
	ssize_t i = map_find(map, key);
	if (i >= 0 && map->u.map.v[i]->type == type)
		return map->u.map.v[i];
	return td_value_map_set(map, key, value_new(type));
}

struct td_value *td_value_copy(const struct td_value *v)
{
	if (!v)
		return td_value_null();
	struct td_value *c = value_new(v->type);
	switch (v->type) {
	case TD_VALUE_NUMBER:
	case TD_VALUE_STRING:
		c->u.s = td_xstrdup(v->u.s);
		break;
	case TD_VALUE_BOOL:
		c->u.b = v->u.b;
		break;
	case TD_VALUE_LIST:
		for (size_t i = 0; i < v->u.list.n; i++)
			td_value_list_push(c, td_value_copy(v->u.list.v[i]));
		break;
	case TD_VALUE_MAP:
		c->u.map.proto = v->u.map.proto;
		for (size_t i = 0; i < v->u.map.n; i++)
			td_value_map_set(c, v->u.map.k[i], td_value_copy(v->u.map.v[i]));
		break;
	case TD_VALUE_NULL:
		break;
	}
	return c;
}

const char *td_value_text(const struct td_value *v)
{
	return v && (v->type == TD_VALUE_STRING || v->type == TD_VALUE_NUMBER) ?
	       v->u.s : NULL;
}

bool td_value_get_bool(const struct td_value *v)
{
	return v && v->type == TD_VALUE_BOOL && v->u.b;
}

const struct td_value *td_value_list_at(const struct td_value *list, size_t i)
{
	return list && list->type == TD_VALUE_LIST && i < list->u.list.n ?
	       list->u.list.v[i] : NULL;
}

const char *td_value_map_get_str(const struct td_value *map, const char *key)
{
	const struct td_value *v = td_value_map_get(map, key);
	return v && v->type == TD_VALUE_STRING ? v->u.s : NULL;
}

size_t td_value_map_len(const struct td_value *map)
{
	return map && map->type == TD_VALUE_MAP ? map->u.map.n : 0;
}

const char *td_value_map_key(const struct td_value *map, size_t i)
{
	return i < td_value_map_len(map) ? map->u.map.k[i] : NULL;
}

const struct td_value *td_value_map_at(const struct td_value *map, size_t i)
{
	return i < td_value_map_len(map) ? map->u.map.v[i] : NULL;
}

const struct td_value *td_value_map_proto(const struct td_value *map)
{
	return map && map->type == TD_VALUE_MAP ? map->u.map.proto : NULL;
}

bool td_value_equal(const struct td_value *a, const struct td_value *b)
{
	if (!a || !b)
		return a == b;
	if (a->type != b->type)
		return false;
	switch (a->type) {
	case TD_VALUE_NULL:
		return true;
	case TD_VALUE_BOOL:
		return a->u.b == b->u.b;
	case TD_VALUE_NUMBER:
	case TD_VALUE_STRING:
		return strcmp(a->u.s, b->u.s) == 0;
	case TD_VALUE_LIST:
		if (a->u.list.n != b->u.list.n)
			return false;
		for (size_t i = 0; i < a->u.list.n; i++)
			if (!td_value_equal(a->u.list.v[i], b->u.list.v[i]))
				return false;
		return true;
	case TD_VALUE_MAP:
		if (a->u.map.n != b->u.map.n)
			return false;
		for (size_t i = 0; i < a->u.map.n; i++)
			if (strcmp(a->u.map.k[i], b->u.map.k[i]) != 0 ||
			    !td_value_equal(a->u.map.v[i], b->u.map.v[i]))
				return false;
		return true;
	}
	return false;
}

void td_value_json_string(const char *s, struct td_buf *b)
{
	size_t n = strlen(s);
	td_buf_putc(b, '"');
	for (size_t i = 0; i < n;) {
		unsigned char c = (unsigned char)s[i];
		uint32_t cp;
		if (c < 0x80) {
			if (c == '"' || c == '\\') {
				td_buf_putc(b, '\\');
				td_buf_putc(b, (char)c);
			} else if (c == '\n') {
				td_buf_puts(b, "\\n");
			} else if (c == '\r') {
				td_buf_puts(b, "\\r");
			} else if (c == '\t') {
				td_buf_puts(b, "\\t");
			} else if (c < 0x20 || c == 0x7F) {
				td_buf_printf(b, "\\u%04x", c);
			} else {
				td_buf_putc(b, (char)c);
			}
			i++;
			continue;
		}
		size_t k = td_utf8_next(s + i, n - i, &cp);
		if (k == 0) {
			td_buf_puts(b, "\\ufffd"); /* output stays valid UTF-8 */
			i++;
			continue;
		}
		/* valid JSON, but not valid JavaScript inside a string */
		if (cp == 0x2028 || cp == 0x2029)
			td_buf_printf(b, "\\u%04x", (unsigned)cp);
		else
			td_buf_append(b, s + i, k);
		i += k;
	}
	td_buf_putc(b, '"');
}

void td_value_json(const struct td_value *v, struct td_buf *b)
{
	switch (td_value_type(v)) {
	case TD_VALUE_STRING:
		td_value_json_string(v->u.s, b);
		break;
	case TD_VALUE_NUMBER:
		td_buf_puts(b, v->u.s);
		break;
	case TD_VALUE_BOOL:
		td_buf_puts(b, v->u.b ? "true" : "false");
		break;
	case TD_VALUE_NULL:
		td_buf_puts(b, "null");
		break;
	case TD_VALUE_LIST:
		td_buf_putc(b, '[');
		for (size_t i = 0; i < v->u.list.n; i++) {
			if (i)
				td_buf_putc(b, ',');
			td_value_json(v->u.list.v[i], b);
		}
		td_buf_putc(b, ']');
		break;
	case TD_VALUE_MAP:
		td_buf_putc(b, '{');
		for (size_t i = 0; i < v->u.map.n; i++) {
			if (i)
				td_buf_putc(b, ',');
			td_value_json_string(v->u.map.k[i], b);
			td_buf_putc(b, ':');
			td_value_json(v->u.map.v[i], b);
		}
		td_buf_putc(b, '}');
		break;
	}
}

static void indent_line(struct td_buf *b, size_t depth)
{
	td_buf_putc(b, '\n');
	for (size_t i = 0; i < depth; i++)
		td_buf_puts(b, "  ");
}

void td_value_json_indent(const char *json, size_t len, struct td_buf *b)
{
	size_t depth = 0;
	for (size_t i = 0; i < len; i++) {
		char c = json[i];
		switch (c) {
		case '"': {
			/* a string, escapes and all, copied whole */
			size_t j = i + 1;
			while (j < len && json[j] != '"')
				j += json[j] == '\\' ? 2 : 1;
			j = j < len ? j + 1 : len;
			td_buf_append(b, json + i, j - i);
			i = j - 1;
			break;
		}
		case '{':
		case '[':
			td_buf_putc(b, c);
			if (i + 1 < len && (json[i + 1] == '}' || json[i + 1] == ']')) {
				td_buf_putc(b, json[++i]);
				break;
			}
			indent_line(b, ++depth);
			break;
		case '}':
		case ']':
			indent_line(b, depth ? --depth : 0);
			td_buf_putc(b, c);
			break;
		case ',':
			td_buf_putc(b, c);
			indent_line(b, depth);
			break;
		case ':':
			td_buf_puts(b, ": ");
			break;
		case ' ':
		case '\t':
		case '\n':
		case '\r':
			break;   /* the layout is ours */
		default:
			td_buf_putc(b, c);
			break;
		}
	}
}
