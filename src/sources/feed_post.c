/*
 * feed_post.c: td_feed_posts (feed.h), the entries of a parsed feed as
 * the posts tagdigest stores: plain one-line titles, a body of safe HTML,
 * an excerpt, tags as slugs, a guid and a hash that says when an item was
 * edited.
 */
#include "tagdigest/sources/feed.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tagdigest/core/hash.h"
#include "tagdigest/sources/html.h"
#include "tagdigest/core/log.h"
#include "tagdigest/sources/post.h"
#include "tagdigest/sources/slug.h"
#include "tagdigest/core/uri.h"
#include "tagdigest/core/util.h"
#include "tagdigest/core/value.h"
#include "feed_impl.h"

static bool is_http_url(const char *u)
{
	struct td_uri p;
	if (!u)
		return false;
	td_uri_split(u, &p);
	return (td_uri_scheme_is(&p, "http") || td_uri_scheme_is(&p, "https")) && p.has_auth &&
	       p.auth_n > 0;
}

static void collapse_ws(char *s)
{
	/* one line of plain text: controls and runs of white space become
	 * one space (titles end up in mail headers and subject lines) */
	size_t o = 0;
	bool sp = false;
	for (size_t i = 0; s[i]; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7F || c == ' ') {
			sp = o > 0;
			continue;
		}
		/* U+0080..U+009F (C2 80..C2 9F) are controls too */
		if (c == 0xC2 && (unsigned char)s[i + 1] >= 0x80 && (unsigned char)s[i + 1] < 0xA0) {
			i++;
			sp = o > 0;
			continue;
		}
		if (sp)
			s[o++] = ' ';
		sp = false;
		s[o++] = (char)c;
	}
	s[o] = '\0';
}

static char *html_escape_text(const char *s)
{
	struct td_buf b = TD_BUF_INIT;
	td_buf_puts(&b, "<p>");
	td_feed_escape_xml(&b, s, true);
	td_buf_puts(&b, "</p>");
	return td_buf_steal(&b);
}

/* The entry's body as safe HTML: HTML content first, plain text content
 * escaped; media types (video, base64 blobs) are not a body. */
static char *entry_content_html(const struct td_value *e)
{
	const struct td_value *cl = td_value_map_get(e, "content");
	size_t n = td_value_list_len(cl);
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < n; i++) {
			const struct td_value *c = td_value_list_at(cl, i);
			const char *type = td_value_map_get_str(c, "type");
			const char *value = td_value_map_get_str(c, "value");
			if (!type || !value || !*value)
				continue;
			if (pass == 0 && td_feed_is_html_type(type))
				return td_xstrdup(value);
			if (pass == 1 && !strcmp(type, "text/plain"))
				return html_escape_text(value);
		}
	}
	return NULL;
}

static char *entry_summary_html(const struct td_value *e)
{
	const char *s = td_value_map_get_str(e, "summary");
	if (!s || !*s)
		return NULL;
	const struct td_value *det = td_value_map_get(e, "summary_detail");
	const char *type = det ? td_value_map_get_str(det, "type") : NULL;
	if (!det) {
		/* copied from the content by the parser: same type */
		const struct td_value *cl = td_value_map_get(e, "content");
		if (td_value_list_len(cl))
			type = td_value_map_get_str(td_value_list_at(cl, 0), "type");
	}
	if (type && td_feed_is_html_type(type))
		return td_xstrdup(s);
	return html_escape_text(s);
}

static char *plain_title(const struct td_value *e)
{
	const char *t = td_value_map_get_str(e, "title");
	if (!t)
		return td_xstrdup("");
	const struct td_value *det = td_value_map_get(e, "title_detail");
	const char *type = det ? td_value_map_get_str(det, "type") : NULL;
	char *s = (type && td_feed_is_html_type(type)) ? td_html_to_text(t, strlen(t)) : td_xstrdup(t);
	if (!s)
		s = td_xstrdup("");
	collapse_ws(s);
	return s;
}

static void add_post_tag(struct td_post *post, const char *name)
{
	if (!name)
		return;
	char *display = td_xstrdup(name);
	collapse_ws(display);
	char *slug = td_slugify(display);
	if (*slug && !td_strv_contains(&post->tags, slug)) {
		td_strv_push_owned(&post->tags, slug);
		td_strv_push_owned(&post->tag_names, display);
		return;
	}
	free(slug);
	free(display);
}

/* A feedparser 9-tuple (feed_impl.h) back to the time it was made of, or
 * 0 when there is none. */
static time_t entry_time(const struct td_value *e, const char *key)
{
	const struct td_value *v = td_value_map_get(e, key);
	if (td_value_list_len(v) != 9)
		return 0;
	int f[6];
	for (size_t i = 0; i < 6; i++)
		f[i] = atoi(td_value_text(td_value_list_at(v, i)));
	struct tm tm = { .tm_year = f[0] - 1900, .tm_mon = f[1] - 1, .tm_mday = f[2],
			 .tm_hour = f[3], .tm_min = f[4], .tm_sec = f[5] };
	return timegm(&tm);
}

/* Whether a string in v (or below it) holds needle. */
static bool val_holds(const struct td_value *v, const char *needle)
{
	switch (td_value_type(v)) {
	case TD_VALUE_STRING:
		return strstr(td_value_text(v), needle) != NULL;
	case TD_VALUE_LIST:
		for (size_t i = 0; i < td_value_list_len(v); i++)
			if (val_holds(td_value_list_at(v, i), needle))
				return true;
		return false;
	case TD_VALUE_MAP:
		for (size_t i = 0; i < td_value_map_len(v); i++)
			if (val_holds(td_value_map_at(v, i), needle))
				return true;
		return false;
	default:
		return false;
	}
}

int td_feed_posts(const struct td_feed *f, const struct td_source_config *src,
		  td_post_cb cb, void *ctx, size_t *nbad, struct td_err *err)
{
	const char *sname = src && src->name ? src->name : "?";
	if (nbad)
		*nbad = 0;
	if (f->entries_dropped)
		td_log_warnx("source '%s': the feed has %zu entries; only the first %d "
			     "are read, %zu dropped", sname,
			     (size_t)FEED_MAX_ENTRIES + f->entries_dropped,
			     FEED_MAX_ENTRIES, f->entries_dropped);
	size_t ncut = 0, first_cut = 0;
	int rc = 0;
	for (size_t i = 0; !rc && i < td_value_list_len(f->entries); i++) {
		const struct td_value *e = td_value_list_at(f->entries, i);
		/* half expanded: said once for all of them, below */
		if (f->entities_cut_line && val_holds(e, ENTITY_CUT)) {
			if (!ncut++)
				first_cut = i + 1;
			continue;
		}
		char *title = plain_title(e);
		char *content = entry_content_html(e);
		char *summary = entry_summary_html(e);
		const char *link = td_value_map_get_str(e, "link");
		/* resolved already (xml:base, the feed's URL); what goes on
		 * to a digest must also be one valid URL, one line */
		char *url = td_html_safe_url(link, NULL);
		const char *reason = NULL;
		if (!*title && !content && !summary)
			reason = "no title and no content";
		else if (!is_http_url(url))
			reason = link && *link ? "link is not a valid absolute http(s) URL" :
						 "no link";
		if (reason) {
			td_log_warnx("source '%s': item %zu: %s", sname, i + 1, reason);
			if (nbad)
				(*nbad)++;
			free(title);
			free(content);
			free(summary);
			free(url);
			continue;
		}
		struct td_post post;
		memset(&post, 0, sizeof post);
		/* a title alone is a post too (link blogs): empty body */
		const char *body = content ? content : summary ? summary : "";
		const char *ex_src = summary ? summary : body;
		/* as long as any run may show: the renderer cuts it to the
		 * excerpt_chars of the day */
		td_html_excerpt(ex_src, strlen(ex_src), TD_EXCERPT_MAX,
				&post.excerpt_html, &post.excerpt_text);
		if (!post.excerpt_html)
			post.excerpt_html = td_xstrdup("");
		if (!post.excerpt_text)
			post.excerpt_text = td_xstrdup("");
		if (!*title) {
			/* an untitled item (microblogs) is named by its first words */
			char *eh = NULL, *et = NULL;
			td_html_excerpt(body, strlen(body), 80, &eh, &et);
			free(title);
			title = td_xstrdup(et ? et : "");
			collapse_ws(title);
			free(eh);
			free(et);
		}
		post.title = title;
		post.url = url;
		post.content_html = td_xstrdup(body);

		const struct td_value *ad = td_value_map_get(e, "author_detail");
		const char *author = ad ? td_value_map_get_str(ad, "name") : NULL;
		/* a bare address is not a byline worth printing in a digest */
		if (!author && td_value_map_get_str(e, "author") && !strchr(td_value_map_get_str(e, "author"), '@'))
			author = td_value_map_get_str(e, "author");
		post.author = td_xstrdup(author ? author : "");
		collapse_ws(post.author);

		time_t pub = entry_time(e, "published_parsed");
		time_t upd = entry_time(e, "updated_parsed");
		post.published = pub ? pub : upd;
		post.updated = upd ? upd : post.published;

		if (!src || src->categories) {
			const struct td_value *tags = td_value_map_get(e, "tags");
			for (size_t k = 0; k < td_value_list_len(tags); k++) {
				const struct td_value *t = td_value_list_at(tags, k);
				const char *label = td_value_map_get_str(t, "label");
				const char *term = td_value_map_get_str(t, "term");
				add_post_tag(&post, label && *label ? label : term);
			}
		}
		for (size_t k = 0; src && k < src->tags.n; k++)
			add_post_tag(&post, src->tags.v[k]);

		/* what identifies an edit: any of these changing is one */
		struct td_buf h = TD_BUF_INIT;
		td_buf_puts(&h, post.title);
		td_buf_putc(&h, '\n');
		td_buf_puts(&h, post.url);
		td_buf_putc(&h, '\n');
		td_buf_puts(&h, content ? content : "");
		td_buf_putc(&h, '\n');
		td_buf_puts(&h, summary ? summary : "");
		for (size_t k = 0; k < post.tags.n; k++) {
			td_buf_putc(&h, '\n');
			td_buf_puts(&h, post.tags.v[k]);
		}
		post.content_hash = td_sha256_hex(td_buf_cstr(&h), h.len, NULL, 0);

		const char *id = td_value_map_get_str(e, "id");
		if (id && *id) {
			post.guid = td_xstrdup(id);
			post.guid_local = f->id_local[i];
		} else if (link && *link) {
			post.guid = td_xstrdup(link);
		} else {
			struct td_buf g = TD_BUF_INIT;
			td_buf_puts(&g, post.title);
			td_buf_putc(&g, '\n');
			td_buf_puts(&g, body);
			post.guid = td_sha256_hex(td_buf_cstr(&g), g.len, NULL, 0);
			td_buf_free(&g);
		}
		td_buf_free(&h);
		free(content);
		free(summary);

		rc = cb(ctx, &post, err);
		td_post_free(&post);
	}
	if (ncut) {
		td_log_warnx("source '%s': %zu item%s (the first: item %zu) use%s entities past "
			     "the feed's expansion bound (line %zu on): skipped", sname, ncut,
			     ncut == 1 ? "" : "s", first_cut, ncut == 1 ? "s" : "",
			     f->entities_cut_line);
		if (nbad)
			*nbad += ncut;
	}
	return rc;
}

