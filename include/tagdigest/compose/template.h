/*
 * template: a Mustache engine (https://mustache.github.io/mustache.5.html),
 * held to the spec suite in ../shared/testdata/mustache-spec/.
 *
 * A template is parsed once (td_template_parse) into a tree and rendered
 * many times against a context of td_value nodes. Parse errors name the
 * template, line and column: "digest.html.mustache:12:5: unclosed section
 * 'posts' (opened at 12:5)".
 *
 * The context is a td_value tree (value.h, included here: its td_value_*
 * functions are part of this interface). Lookup follows the spec: dotted
 * names, the context stack, {{.}}.
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
 * Ownership: values as value.h says. A set owns its templates.
 */
#ifndef TAGDIGEST_TEMPLATE_H
#define TAGDIGEST_TEMPLATE_H

#include <stdbool.h>
#include <stddef.h>

#include "tagdigest/core/buf.h"
#include "tagdigest/core/err.h"
#include "tagdigest/core/value.h"

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

/* td_template_render, with the output of list items that inherit from a
 * prototype (td_value_map_inherit) kept in memo (memo.h) and copied when
 * the same item comes again: keyed by the section, the prototype's
 * address, the item's own keys and their values (an item with a list or
 * map of its own is not kept), escaping, nesting and indentation. An
 * item's output is kept only when every name it looked up resolved in
 * the item (its own keys or its prototype) or in values found there:
 * none in an outer context or nowhere, and no block or parent inside.
 * The caller keeps every prototype unchanged while memo lives, and
 * empties memo (frees it) before a prototype is freed, since another
 * could take its address; a memo serves one set. The output is the same
 * bytes as td_template_render's. */
struct td_memo;
int td_template_render_memo(const struct td_template *t,
			    const struct td_template_set *partials,
			    const struct td_value *ctx, bool escape_html,
			    struct td_memo *memo, struct td_buf *out,
			    struct td_err *err);

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
