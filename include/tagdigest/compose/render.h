/*
 * render: a digest through the Mustache templates into subject, text and
 * HTML.
 *
 * The templates (templates/digest.subject.mustache, digest.txt.mustache,
 * digest.html.mustache, and partials/) are loaded and checked once per run
 * by td_renderer_new(); a missing template or partial, or a syntax error,
 * stops the run before anything is sent, naming file, line and column.
 *
 * The context a template sees (documented for editors in the README):
 *
 *   site.name site.url site.language site.postal_address
 *   subscriber.email subscriber.name subscriber.has_name subscriber.tag_list
 *   period.since period.until          dates in the schedule's zone: the
 *                                      period the posts shown span
 *                                      (digest.h: td_digest_period)
 *   period.one_day                     since and until show the same date
 *   digest.post_count digest.shown_count digest.tag_count digest.tag_list
 *   digest.first digest.one_post
 *   digest.after_start                 the first digest after a clean
 *                                      start (digest.h: after_start)
 *   sections[]: tag name underline archive_url more has_more more_number
 *               tag_unsubscribe_url
 *     posts[]: number marker title url author has_author date has_excerpt
 *              excerpt_text excerpt_html
 *              tags[]: name slug archive_url
 *   links[]: number marker url   every link above, numbered in reading order
 *   unsubscribe_url
 *   preferences_url        the reader's preference centre; absent when none
 *   indent                 spaces as wide as "[n] ": where text titles start
 *                          (each post has it too, the same value: a
 *                          post's part then depends on the post alone and
 *                          is rendered once per run, template.h's memo)
 *
 * marker is "[n]" padded on the left to the width of the digest's largest
 * number, so that titles and footnotes of the text part line up. underline
 * is a row of '-' as wide as the tag name looks in a terminal.
 *
 * Excerpts are stored as the first paragraph, as long as the longest
 * excerpt_chars allowed (TD_EXCERPT_MAX), and cut here to [digest]
 * excerpt_chars, both parts at a word boundary with "…", the HTML with its
 * open elements closed (html.h); excerpt_chars = 0 gives titles only
 * (has_excerpt false, both excerpts "").
 *
 * Dates (period.*, each post's date) are the day, the month's name and
 * the year, in the schedule's zone and the site's language: without a
 * language, or "en", "4 December 2026" as it always was; any other
 * through ICU's pattern for that language's day, month and year
 * ("4. Dezember 2026", "4 декабря 2026 г.": the month's genitive where
 * the language wants it). site.language is the language tag as
 * configured ("en" when none), for <html lang>; site.postal_address the
 * site's postal address, "" when none (so {{#site.postal_address}} leaves
 * the footer line out).
 *
 * Only the HTML template escapes {{name}}. The subject is reduced to one
 * line (whitespace runs collapse to one space). The text part is wrapped
 * by td_render_wrap(..., 72).
 *
 * Ownership: the renderer owns its templates and a copy of its options;
 * the strings and the zone those point to are borrowed and must outlive
 * it. td_rendered_free() frees the three strings.
 */
#ifndef TAGDIGEST_RENDER_H
#define TAGDIGEST_RENDER_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "tagdigest/compose/digest.h"
#include "tagdigest/core/err.h"
#include "tagdigest/schedule/subscribers.h"
#include "tagdigest/core/tz.h"

/* What a renderer needs of [site], [templates], [digest] and [schedule]. */
struct td_render_options {
	const char *templates_dir;  /* digest.*.mustache and partials/ */
	const char *site_name;      /* site.name */
	const char *site_url;       /* site.url */
	const char *tag_url;        /* tags' archive_url pattern: {tag} -> slug */
	int excerpt_chars;          /* excerpts cut to this; 0: titles only */
	const struct td_tz *tz;     /* the zone dates are shown in; NULL: UTC */
	const char *language;       /* a language tag ("de", "pt-BR") for
				     * dates and site.language; NULL: "en" */
	const char *postal_address; /* site.postal_address; NULL: none */
};

struct td_renderer;
struct td_template_set;
struct td_value;

struct td_rendered {
	char *subject;
	char *text;
	char *html;
};

/* A language the config names is checked by td_render_language_known
 * when it is loaded; one it does not know fails here (EX_CONFIG). */
int td_renderer_new(const struct td_render_options *opt,
		    struct td_renderer **out, struct td_err *err);
void td_renderer_free(struct td_renderer *r);
/* For a span in which no post changes (a send run): build each post's
 * part of the context once and share it between digests. */
void td_renderer_share_posts(struct td_renderer *r);

/* Gmail clips a message ("[Message clipped]", the rest behind a link)
 * when its HTML part passes 102 KiB as sent, that is after
 * quoted-printable: the figure Gmail's clipping is known by and measured
 * at; the text part and the headers do not count. The renderer keeps the
 * HTML part's quoted-printable size within it, and the desk warns about
 * a digest past it, with this one number. */
#define TD_RENDER_CLIP_LIMIT (102u * 1024u)

/* Renders d. When the HTML part would pass TD_RENDER_CLIP_LIMIT, the
 * excerpts are shortened, then left out (titles only), and only then are
 * posts taken out of d (td_digest_trim_one) into "and N more" until it
 * fits, so d may change; a section always keeps one post. A digest that is
 * too big even then is rendered over the limit, not with posts hidden.
 * digest.post_count counts every post the digest announces: shown, or
 * counted in its section's "and N more". */
/* tag_unsubscribe: NULL, or pairs (a tag slug at an even index, the URL
 * that unsubscribes from that tag only at the next), shown in the
 * section of that tag as tag_unsubscribe_url. preferences_url: the
 * reader's own link to the preference centre, or NULL for none. */
int td_render_digest(struct td_renderer *r, const struct td_subscriber *sub,
		     struct td_digest *d, const char *unsubscribe_url,
		     const char *preferences_url, const struct td_strv *tag_unsubscribe,
		     time_t now, struct td_rendered *out, struct td_err *err);
void td_rendered_free(struct td_rendered *out);

/* Wraps each line of text longer than width columns at spaces, and CJK
 * text between characters where td_utf8_unbreakable (util.h) allows it.
 * Columns are counted as a terminal shows them (td_utf8_width: CJK and
 * most emoji two, combining marks none). The lines it wraps to keep its
 * leading indent; a line whose text starts with a marker "[n] " (n:
 * digits) hangs: they start under the first character after the marker,
 * and the marker is never left alone at the end of a line, so "[n] URL"
 * stays one line. A word longer than width (a URL) is never broken, so
 * such a line passes width. A line indented by width/2 or more is left as
 * it is, and a marker that would hang that far does not hang. Returns a
 * malloc'd string; the caller frees it. */
char *td_render_wrap(const char *text, size_t width);

/* The folder's templates (every *.mustache and partials/, template.h),
 * parsed and checked, with each of names[0..n) present: a missing one
 * is EX_CONFIG naming its file, a syntax error or an unknown partial
 * names file, line and column. *out is the set, or NULL on error. The
 * digests' renderer and the notices (notice.h) load theirs this way. */
int td_render_templates_load(const char *dir, const char *const *names, size_t n,
			     struct td_template_set **out, struct td_err *err);
/* Renders the template called name of set (HTML-escaping when html) into
 * a malloc'd *out of at most a few MiB; errors are prefixed
 * "templates: NAME". */
int td_render_template(const struct td_template_set *set, const char *name,
		       const struct td_value *ctx, bool html, char **out,
		       struct td_err *err);

/* Whether dates can be shown in language (a language tag, "de",
 * "pt-BR"): ICU has date formats for its language. ICU itself falls back silently to another language for one it
 * does not know; the config loader asks here first, so that "language =
 * dx" is an error naming the key instead of English dates. */
bool td_render_language_known(const char *language);

/* The "site" map of a template context (render.h's site.* names) from
 * opt, for the digests and the notices (notice.h) alike. */
struct td_value *td_render_site_value(const struct td_render_options *opt);

/* A rendered subject as one line: any run of whitespace (a template's line
 * breaks included) becomes one space, and the ends are trimmed. Returns a
 * malloc'd string; the caller frees it. */
char *td_render_one_line(const char *s);

#endif
