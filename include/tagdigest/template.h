/*
 * template: a Mustache engine (https://mustache.github.io/mustache.5.html),
 * held to the spec suite in ../shared/testdata/mustache-spec/.
 *
 * A template is parsed once (td_template_parse) into a tree and rendered
 * many times against a context of td_value nodes. Parse errors name the
 * template, line and column: "digest.html.mustache:12:5: unclosed section
 * 'posts' (opened at 12:5)".
 *
 * Values: null, bool, number (kept as the text it was given, so "1.21"
 * renders as written), string, list, map (insertion-ordered). Lookup
 * follows the spec: dotted names, the context stack, {{.}}.
 *
 * Escaping: td_template_render() HTML-escapes {{name}} (& < > " ')
 * when escape_html is true (HTML part) and never for the subject and text
 * parts; {{{name}}} and {{& name}} never escape.
 *
 * Partials ({{> name}}) and parents ({{< name}}) are looked up in a
 * td_template_set: the set owns the parsed templates; a missing partial
 * renders as empty per the spec, but td_template_set_check() reports it as
 * an error so a send never goes out with a typo in a partial name.
 *
 * Ownership: td_value_* constructors return nodes the caller owns until
 * they are added to a list or map (which then owns them); td_value_free()
 * frees a node and all it holds. A set owns its templates.
 */
#ifndef TAGDIGEST_TEMPLATE_H
#define TAGDIGEST_TEMPLATE_H

#include <stdbool.h>
#include <stddef.h>

#include "tagdigest/buf.h"
#include "tagdigest/err.h"

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
enum td_value_type td_value_type(const struct td_value *v);
const struct td_value *td_value_map_get(const struct td_value *map, const char *key);
size_t td_value_list_len(const struct td_value *list);
void td_value_free(struct td_value *v);

struct td_template;
struct td_template_set;

/* Parses src. name is used in error messages and for partial lookup. */
int td_template_parse(const char *name, const char *src, size_t len,
		      struct td_template **out, struct td_err *err);
void td_template_free(struct td_template *t);

/* Renders t with ctx, appending to out. partials may be NULL. Returns 0,
 * or EX_DATAERR (output cap hit, partial recursion too deep). */
int td_template_render(const struct td_template *t,
		       const struct td_template_set *partials,
		       const struct td_value *ctx, bool escape_html,
		       struct td_buf *out, struct td_err *err);

struct td_template_set *td_template_set_new(void);
/* Parses src and adds it under name (replacing). Returns 0 or EX_DATAERR. */
int td_template_set_add(struct td_template_set *set, const char *name,
			const char *src, size_t len, struct td_err *err);
/* Loads every *.mustache in dir under its name without ".mustache";
 * names under dir/partials/ are registered without the folder too. */
int td_template_set_load_dir(struct td_template_set *set, const char *dir,
			     struct td_err *err);
const struct td_template *td_template_set_get(const struct td_template_set *set,
					      const char *name);
/* EX_DATAERR when a template in the set names a partial/parent that is
 * not in the set. */
int td_template_set_check(const struct td_template_set *set, struct td_err *err);
void td_template_set_free(struct td_template_set *set);

#endif
