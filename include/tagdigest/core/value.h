/*
 * value: the one dynamic-value tree of tagdigest. Templates render against
 * it (template.h), the feed parser builds feedparser's model in it
 * (feed.h), and the tests read JSON into it.
 *
 * Values: null, bool, number (kept as the text it was given, so "1.21"
 * renders as written), string, list, map (insertion-ordered; setting a key
 * again replaces the value in the key's first place).
 *
 * Ownership: the constructors return nodes the caller owns until they are
 * added to a list or map (which then owns them); td_value_free() frees a
 * node and all it holds. The readers return pointers into the tree, valid
 * while it is; they accept NULL and a value of the wrong type and answer
 * "nothing" (NULL, 0, false) for them. Misusing a writer (pushing to a
 * map) is a bug in the caller and aborts with a message.
 */
#ifndef TAGDIGEST_VALUE_H
#define TAGDIGEST_VALUE_H

#include <stdbool.h>
#include <stddef.h>

#include "tagdigest/core/buf.h"

enum td_value_type {
	TD_VALUE_NULL,
	TD_VALUE_BOOL,
	TD_VALUE_NUMBER,
	TD_VALUE_STRING,
	TD_VALUE_LIST,
	TD_VALUE_MAP,
};

struct td_value;

struct td_value *td_value_null(void);
struct td_value *td_value_bool(bool b);
struct td_value *td_value_number(const char *text);   /* "42", "1.21" */
struct td_value *td_value_int(long long n);
struct td_value *td_value_string(const char *s);       /* copies */
struct td_value *td_value_string_owned(char *s);       /* takes a malloc'd string */
struct td_value *td_value_list(void);
struct td_value *td_value_map(void);
/* Appends; the list takes ownership of item. Returns item. */
struct td_value *td_value_list_push(struct td_value *list, struct td_value *item);
/* Sets (replacing an existing key); the map takes ownership of v. Returns v. */
struct td_value *td_value_map_set(struct td_value *map, const char *key,
				  struct td_value *v);
/* A map that answers keys it does not hold from proto, which it borrows:
 * proto must outlive it and is not freed with it. Lets many contexts
 * share one expensive subtree (the same post in many digests). */
struct td_value *td_value_map_inherit(const struct td_value *proto);
/* Shorthands for map_set with a string / int / bool value. */
void td_value_map_set_str(struct td_value *map, const char *key, const char *s);
void td_value_map_set_int(struct td_value *map, const char *key, long long n);
void td_value_map_set_bool(struct td_value *map, const char *key, bool b);
/* The list or map under key, made (replacing what else was there) when
 * the map holds none: for trees built up piece by piece. */
struct td_value *td_value_map_child(struct td_value *map, const char *key,
				    enum td_value_type type);
/* A deep copy, which borrows the same prototype (map_inherit) if any. */
struct td_value *td_value_copy(const struct td_value *v);
void td_value_free(struct td_value *v);

/* Readers. */
enum td_value_type td_value_type(const struct td_value *v);
/* A string's text or a number's, else NULL. */
const char *td_value_text(const struct td_value *v);
/* A bool's value, else false. */
bool td_value_get_bool(const struct td_value *v);
size_t td_value_list_len(const struct td_value *list);
const struct td_value *td_value_list_at(const struct td_value *list, size_t i);
/* Looks in the map, then in its prototype. */
const struct td_value *td_value_map_get(const struct td_value *map, const char *key);
/* The string under key (strings only, not numbers), else NULL. */
const char *td_value_map_get_str(const struct td_value *map, const char *key);
/* The map's own entries (not its prototype's), in order. */
size_t td_value_map_len(const struct td_value *map);
const char *td_value_map_key(const struct td_value *map, size_t i);
const struct td_value *td_value_map_at(const struct td_value *map, size_t i);
/* The prototype a map inherits from (td_value_map_inherit), else NULL. */
const struct td_value *td_value_map_proto(const struct td_value *map);
/* Same type and same contents, keys in the same order (prototypes are
 * not followed). */
bool td_value_equal(const struct td_value *a, const struct td_value *b);

/* v as JSON (RFC 8259) appended to out: numbers as their text (give
 * constructors JSON's number syntax when the tree is written out), a
 * map's own entries only. Strings are valid UTF-8 on output: a byte that
 * is not becomes \ufffd; controls, U+2028 and U+2029 are escaped. */
void td_value_json(const struct td_value *v, struct td_buf *out);
/* s as a JSON string, quotes included, as td_value_json writes it. */
void td_value_json_string(const char *s, struct td_buf *out);
/* JSON text json[0..len) (valid, as td_value_json and the dumps write
 * it) appended to out indented for people: each member and element on
 * its own line, two spaces a level, ": " after a key; empty [] and {}
 * stay whole. Strings are copied as they are. */
void td_value_json_indent(const char *json, size_t len, struct td_buf *out);

#endif
