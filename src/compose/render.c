/*
 * render.c: from a struct td_digest to the three rendered strings.
 *
 * Builds the template context (see render.h) once per subscriber and runs
 * the three templates parsed at start-up. Excerpts are stored whole and cut
 * here, to the configured length of this run, so a changed excerpt_chars
 * reaches every post at once.
 *
 * Dates in a language other than English go through ICU (the only module
 * that includes it): one formatter per renderer, opened with the pattern
 * ICU's generator gives for the language's "day month year", so a month
 * takes the form the language uses after a day number (Russian's
 * genitive "декабря", which strftime's %B gets wrong). English keeps the
 * strftime format it always had.
 */
#include "tagdigest/compose/render.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <unicode/udat.h>
#include <unicode/udatpg.h>
#include <unicode/uloc.h>
#include <unicode/ustring.h>

#include "tagdigest/core/buf.h"
#include "tagdigest/compose/memo.h"
#include "tagdigest/sources/html.h"
#include "tagdigest/compose/template.h"
#include "tagdigest/core/util.h"

#define MAX_PART (4u << 20)   /* a rendered part larger than this is a template bug */
#define DATE_CACHE 256
/* Fitting a digest under the clip limit halves the excerpts; shorter than
 * this, an excerpt says nothing, and titles only come next. */
#define MIN_EXCERPT 40

static const char *const required[] = {
	"digest.subject", "digest.txt", "digest.html",
};

struct date_entry {
	time_t t;
	bool used;
	char text[96];
};

struct td_renderer {
	struct td_render_options opt;
	struct td_template_set *set;
	/* The length excerpts are cut to in this render: [digest]
	 * excerpt_chars, or less while a digest is fitted under the clip
	 * limit. 0: no excerpts. */
	size_t excerpt;
	/* Posts repeat across subscribers: remember recently formatted dates. */
	struct date_entry dates[DATE_CACHE];
	/* The site's language's "day month year", in UTC: format_date
	 * hands it the wall-clock date of the schedule's zone. NULL: English,
	 * by strftime. */
	UDateFormat *date_fmt;
	/* A send run renders the same posts into thousands of digests: build
	 * each post's context once and let digests inherit it. Off unless
	 * asked for (serve keeps a renderer while posts change). */
	bool share_posts;
	struct shared_post {
		int64_t seq;            /* 0: empty */
		struct td_value *v;
	} *shared;
	size_t nshared;
	/* Lines of the text part wrapped before (memo.h): a post's lines
	 * come back in every digest that shows it. */
	struct td_memo *wrapped;
	/* The rendered output of the shared posts' items, by template
	 * section (td_template_render_memo): emptied with the shared
	 * posts, whose addresses are its keys. */
	struct td_memo *items;
	/* subject, text and HTML as rendered, reused digest after digest */
	struct td_buf part[3];
};

#define SHARED_SLOTS 4096       /* a power of two */
/* The wrap memo's bounds: a run's long lines are its posts' excerpts. */
#define WRAP_MEMO_BYTES (512u << 10)
#define WRAP_MEMO_KEY 4096
/* The item memo's: one entry per post and section of a template. */
#define ITEM_MEMO_BYTES (1u << 20)
#define ITEM_MEMO_KEY 1024

/* No language, or plain "en": the dates English digests always had. */
static bool english(const char *language)
{
	return !language || strcasecmp(language, "en") == 0;
}

/* language as ICU's locale ID ("pt-BR" or "pt_BR" -> "pt_BR"), or
 * false. */
static bool icu_locale(const char *language, char *loc, size_t len)
{
	char tag[ULOC_FULLNAME_CAPACITY];
	size_t n = strlen(language);
	if (n >= sizeof tag)
		return false;
	for (size_t i = 0; i <= n; i++)
		tag[i] = language[i] == '_' ? '-' : language[i];
	UErrorCode st = U_ZERO_ERROR;
	int32_t parsed = 0;
	uloc_forLanguageTag(tag, loc, (int32_t)len, &parsed, &st);
	return U_SUCCESS(st) && st != U_STRING_NOT_TERMINATED_WARNING &&
	       (size_t)parsed == n;
}

bool td_render_language_known(const char *language)
{
	char loc[ULOC_FULLNAME_CAPACITY], lang[ULOC_LANG_CAPACITY];
	if (english(language))
		return true;
	UErrorCode st = U_ZERO_ERROR;
	if (!icu_locale(language, loc, sizeof loc) ||
	    uloc_getLanguage(loc, lang, sizeof lang, &st) <= 0 || U_FAILURE(st))
		return false;
	/* ICU opens a formatter for any locale, falling back to its default
	 * (English) for one it has no data for: ask its list instead */
	for (int32_t i = 0, n = udat_countAvailable(); i < n; i++) {
		char have[ULOC_LANG_CAPACITY];
		st = U_ZERO_ERROR;
		uloc_getLanguage(udat_getAvailable(i), have, sizeof have, &st);
		if (U_SUCCESS(st) && strcmp(have, lang) == 0)
			return true;
	}
	return false;
}

/* The formatter of language's "day month year" (4. Dezember 2026). */
static int date_format_open(const char *language, UDateFormat **out,
			    struct td_err *err)
{
	char loc[ULOC_FULLNAME_CAPACITY];
	*out = NULL;
	if (!td_render_language_known(language) || !icu_locale(language, loc, sizeof loc))
		return td_err_set(err, EX_CONFIG, "render: language '%.40s': no date "
				  "formats for it (ICU knows no such language)", language);
	static const UChar skeleton[] = { 'd', 'M', 'M', 'M', 'M', 'y', 0 };
	static const UChar utc[] = { 'U', 'T', 'C', 0 };
	UChar pattern[64];
	UErrorCode st = U_ZERO_ERROR;
	UDateTimePatternGenerator *gen = udatpg_open(loc, &st);
	int32_t n = udatpg_getBestPattern(gen, skeleton, -1, pattern,
					  (int32_t)(sizeof pattern / sizeof *pattern), &st);
	udatpg_close(gen);
	if (U_SUCCESS(st) && st != U_STRING_NOT_TERMINATED_WARNING)
		*out = udat_open(UDAT_PATTERN, UDAT_PATTERN, loc, utc, -1, pattern, n, &st);
	if (U_FAILURE(st) || !*out) {
		udat_close(*out);
		*out = NULL;
		return td_err_set(err, EX_SOFTWARE, "render: language '%.40s': ICU "
				  "cannot make its date format: %s", language,
				  u_errorName(st));
	}
	return 0;
}

int td_renderer_new(const struct td_render_options *opt,
		    struct td_renderer **out, struct td_err *err)
{
	struct td_renderer *r = td_xcalloc(1, sizeof *r);
	r->opt = *opt;
	r->excerpt = (size_t)opt->excerpt_chars;
	r->wrapped = td_memo_new(WRAP_MEMO_BYTES, WRAP_MEMO_KEY);
	r->items = td_memo_new(ITEM_MEMO_BYTES, ITEM_MEMO_KEY);
	for (size_t i = 0; i < 3; i++)
		td_buf_init(&r->part[i], MAX_PART);
	int rc = english(opt->language) ? 0 :
		 date_format_open(opt->language, &r->date_fmt, err);
	if (!rc)
		rc = td_render_templates_load(opt->templates_dir, required,
					      sizeof required / sizeof required[0], &r->set, err);
	if (rc) {
		td_renderer_free(r);
		*out = NULL;
		return rc;
	}
	*out = r;
	return 0;
}

static void shared_clear(struct td_renderer *r)
{
	/* the item memo is keyed by the addresses of the values freed here */
	if (r->items && r->nshared) {
		td_memo_free(r->items);
		r->items = td_memo_new(ITEM_MEMO_BYTES, ITEM_MEMO_KEY);
	}
	for (size_t i = 0; r->shared && i < SHARED_SLOTS; i++) {
		td_value_free(r->shared[i].v);
		r->shared[i].v = NULL;
		r->shared[i].seq = 0;
	}
	r->nshared = 0;
}

void td_renderer_share_posts(struct td_renderer *r)
{
	r->share_posts = true;
	if (!r->shared)
		r->shared = td_xcalloc(SHARED_SLOTS, sizeof *r->shared);
}

void td_renderer_free(struct td_renderer *r)
{
	if (!r)
		return;
	shared_clear(r);
	free(r->shared);
	td_memo_free(r->wrapped);
	td_memo_free(r->items);
	for (size_t i = 0; i < 3; i++)
		td_buf_free(&r->part[i]);
	td_template_set_free(r->set);
	if (r->date_fmt)
		udat_close(r->date_fmt);
	free(r);
}

/* t's date in the schedule's zone, in the site's language. The zone's
 * rules come from tz.h, as for the slots and the English dates, not from
 * ICU's own copy of the tz database: the formatter works in UTC on the
 * wall-clock date, so both can never disagree about which day it is. */
static void icu_date(struct td_renderer *r, time_t t, char *out, size_t len)
{
	struct tm tm;
	td_tz_localtime(r->opt.tz, t, &tm);
	tm.tm_hour = 12;   /* midday: a day, whatever the rest of the fields */
	tm.tm_min = tm.tm_sec = 0;
	UDate when = (UDate)timegm(&tm) * 1000.0;
	UChar buf[48];
	UErrorCode st = U_ZERO_ERROR;
	int32_t n = udat_format(r->date_fmt, when, buf,
				(int32_t)(sizeof buf / sizeof *buf), NULL, &st);
	if (U_SUCCESS(st) && st != U_STRING_NOT_TERMINATED_WARNING)
		u_strToUTF8(out, (int32_t)len, NULL, buf, n, &st);
	if (U_FAILURE(st) || st == U_STRING_NOT_TERMINATED_WARNING)
		out[0] = '\0';   /* as td_tz_format leaves one that does not fit */
}

static const char *format_date(struct td_renderer *r, time_t t)
{
	struct date_entry *e = &r->dates[(size_t)((unsigned long long)t % DATE_CACHE)];
	if (!e->used || e->t != t) {
		if (r->date_fmt) {
			icu_date(r, t, e->text, sizeof e->text);
		} else {
			/* "%e" pads single-digit days with a space: drop it */
			td_tz_format(r->opt.tz, t, "%e %B %Y", e->text, sizeof e->text);
			if (e->text[0] == ' ')
				memmove(e->text, e->text + 1, strlen(e->text));
		}
		e->t = t;
		e->used = true;
	}
	return e->text;
}

/* "NATO", "NATO and USA", "NATO, USA and Iran" */
static char *name_list(const char *const *names, size_t n)
{
	struct td_buf b = TD_BUF_INIT;
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			td_buf_puts(&b, i + 1 == n ? " and " : ", ");
		td_buf_puts(&b, names[i]);
	}
	return td_buf_steal(&b);
}

static char *sections_list(const struct td_digest *d)
{
	const char **names = td_xcalloc(d->nsections ? d->nsections : 1, sizeof *names);
	for (size_t i = 0; i < d->nsections; i++)
		names[i] = d->sections[i].tag_name;
	char *list = name_list(names, d->nsections);
	free(names);
	return list;
}

static struct td_value *post_value(struct td_renderer *r,
				   const struct td_store_post *p)
{
	struct td_value *v = td_value_map();
	td_value_map_set_str(v, "title", p->title);
	td_value_map_set_str(v, "url", p->url);
	td_value_map_set_str(v, "author", p->author);
	td_value_map_set_bool(v, "has_author", p->author[0] != '\0');
	td_value_map_set_str(v, "date", format_date(r, p->published));
	bool excerpt = r->excerpt > 0 && (*p->excerpt_text || *p->excerpt_html);
	td_value_map_set_bool(v, "has_excerpt", excerpt);
	td_value_map_set(v, "excerpt_text", excerpt ?
			 td_value_string_owned(td_html_cut_text(p->excerpt_text, r->excerpt)) :
			 td_value_string(""));
	td_value_map_set(v, "excerpt_html", excerpt ?
			 td_value_string_owned(td_html_cut(p->excerpt_html,
							   strlen(p->excerpt_html),
							   r->excerpt)) :
			 td_value_string(""));
	struct td_value *tags = td_value_map_set(v, "tags", td_value_list());
	for (size_t i = 0; i < p->tags.n; i++) {
		struct td_value *t = td_value_list_push(tags, td_value_map());
		td_value_map_set_str(t, "slug", p->tags.v[i]);
		td_value_map_set_str(t, "name", p->tag_names.v[i]);
		td_value_map_set(t, "archive_url",
				 td_value_string_owned(td_digest_archive_url(
					 r->opt.tag_url, p->tags.v[i])));
	}
	return v;
}

/* "[n]", padded on the left to the width of the digest's largest number,
 * so that titles and footnotes of the text part start in one column. */
static struct td_value *marker(long long number, int digits)
{
	/* by hand: a digest makes two for each post, printf cost more than
	 * the rest of its context */
	char num[24], *p = num + sizeof num;
	unsigned long long u = number < 0 ? 0ULL - (unsigned long long)number :
		(unsigned long long)number;
	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (number < 0)
		*--p = '-';
	size_t n = (size_t)(num + sizeof num - p);
	size_t pad = digits > 0 && (size_t)digits > n ? (size_t)digits - n : 0;
	char *m = td_xmalloc(pad + n + 3);
	memset(m, ' ', pad);
	m[pad] = '[';
	memcpy(m + pad + 1, p, n);
	m[pad + n + 1] = ']';
	m[pad + n + 2] = '\0';
	return td_value_string_owned(m);
}

static void add_link(struct td_value *links, long long number, int digits,
		     const char *url)
{
	struct td_value *l = td_value_list_push(links, td_value_map());
	td_value_map_set_int(l, "number", number);
	td_value_map_set(l, "marker", marker(number, digits));
	td_value_map_set_str(l, "url", url);
}

/* A row of '-' as wide as name looks in a terminal, to underline it in
 * the text part: a CJK name needs two dashes a character. */
static char *underline(const char *name)
{
	size_t width = td_utf8_width(name, strlen(name));
	char *line = td_xmalloc(width + 1);
	memset(line, '-', width);
	line[width] = '\0';
	return line;
}

/* The post's context: built fresh, or inherited from the one shared by
 * every digest of this run. The caller adds what differs per digest. */
static struct td_value *post_item(struct td_renderer *r, const struct td_store_post *p)
{
	/* a digest fitted with shorter excerpts is rare: not shared */
	if (!r->share_posts || r->excerpt != (size_t)r->opt.excerpt_chars)
		return post_value(r, p);
	size_t i = (size_t)((uint64_t)p->seq * 0x9E3779B97F4A7C15ull >> 40) & (SHARED_SLOTS - 1);
	while (r->shared[i].seq && r->shared[i].seq != p->seq)
		i = (i + 1) & (SHARED_SLOTS - 1);
	if (!r->shared[i].seq) {
		/* full: this digest's items may inherit from the values a
		 * clear would free, so it waits for the next digest
		 * (td_render_digest) and this post goes unshared */
		if (2 * (r->nshared + 1) > SHARED_SLOTS)
			return post_value(r, p);
		r->shared[i].seq = p->seq;
		r->shared[i].v = post_value(r, p);
		r->nshared++;
	}
	return td_value_map_inherit(r->shared[i].v);
}

static struct td_value *context(struct td_renderer *r,
				const struct td_subscriber *sub,
				const struct td_digest *d,
				const char *unsubscribe_url, const char *preferences_url,
				const struct td_strv *tag_unsubscribe, time_t now)
{
	struct td_value *ctx = td_value_map();

	td_value_map_set(ctx, "site", td_render_site_value(&r->opt));

	struct td_value *who = td_value_map_set(ctx, "subscriber", td_value_map());
	td_value_map_set_str(who, "email", sub->email);
	td_value_map_set_str(who, "name", sub->name);
	td_value_map_set_bool(who, "has_name", sub->name[0] != '\0');
	td_value_map_set(who, "tag_list", td_value_string_owned(name_list(
		(const char *const *)d->followed.v, d->followed.n)));

	struct td_value *period = td_value_map_set(ctx, "period", td_value_map());
	time_t since, until;
	td_digest_period(d, now, &since, &until);
	/* copied: the two dates can share a slot of the date cache */
	char *since_text = td_xstrdup(format_date(r, since));
	const char *until_text = format_date(r, until);
	/* one date when both are the same day as shown (zone and language):
	 * a first digest of one post, or of one day's posts */
	bool one_day = strcmp(since_text, until_text) == 0;
	td_value_map_set(period, "since", td_value_string_owned(since_text));
	td_value_map_set_str(period, "until", until_text);
	td_value_map_set_bool(period, "one_day", one_day);

	struct td_value *dig = td_value_map_set(ctx, "digest", td_value_map());
	td_value_map_set_int(dig, "post_count", (long long)d->total);
	td_value_map_set_int(dig, "shown_count", (long long)d->shown);
	td_value_map_set_int(dig, "tag_count", (long long)d->nsections);
	td_value_map_set(dig, "tag_list", td_value_string_owned(sections_list(d)));
	td_value_map_set_bool(dig, "first", d->first);
	td_value_map_set_bool(dig, "after_start", d->after_start);
	td_value_map_set_bool(dig, "one_post", d->total == 1);

	/* Every link in the digest gets a number, in reading order, so the
	 * text part can list them at the end as mail clients show footnotes. */
	long long nlinks = 0;
	for (size_t i = 0; i < d->nsections; i++)
		nlinks += (long long)d->sections[i].nposts + (d->sections[i].more > 0);
	int digits = snprintf(NULL, 0, "%lld", nlinks);
	/* the column after "[n] ", where the text part's titles start */
	char *indent = td_xmalloc((size_t)digits + 4);
	memset(indent, ' ', (size_t)digits + 3);
	indent[digits + 3] = '\0';
	td_value_map_set(ctx, "indent", td_value_string_owned(indent));

	struct td_value *sections = td_value_map_set(ctx, "sections", td_value_list());
	struct td_value *links = td_value_list();
	long long number = 0;
	for (size_t i = 0; i < d->nsections; i++) {
		const struct td_digest_section *s = &d->sections[i];
		struct td_value *sv = td_value_list_push(sections, td_value_map());
		td_value_map_set_str(sv, "tag", s->tag);
		td_value_map_set_str(sv, "name", s->tag_name);
		td_value_map_set_str(sv, "archive_url", s->archive_url);
		td_value_map_set(sv, "underline", td_value_string_owned(underline(s->tag_name)));
		td_value_map_set_int(sv, "more", (long long)s->more);
		td_value_map_set_bool(sv, "has_more", s->more > 0);
		for (size_t k = 0; tag_unsubscribe && k + 1 < tag_unsubscribe->n; k += 2)
			if (strcmp(tag_unsubscribe->v[k], s->tag) == 0)
				td_value_map_set_str(sv, "tag_unsubscribe_url",
						     tag_unsubscribe->v[k + 1]);
		struct td_value *posts = td_value_map_set(sv, "posts", td_value_list());
		for (size_t j = 0; j < s->nposts; j++) {
			struct td_value *pv = td_value_list_push(posts, post_item(r, &s->posts[j]));
			td_value_map_set_int(pv, "number", ++number);
			td_value_map_set(pv, "marker", marker(number, digits));
			/* the root's indent again, where a post's text lines find
			 * it first: the same value, so the same output, and a
			 * post's text then depends on the post's own values
			 * alone and can come from the item memo */
			td_value_map_set_str(pv, "indent", indent);
			add_link(links, number, digits, s->posts[j].url);
		}
		if (s->more > 0) {
			td_value_map_set_int(sv, "more_number", ++number);
			add_link(links, number, digits, s->archive_url);
		}
	}
	td_value_map_set(ctx, "links", links);
	td_value_map_set_str(ctx, "unsubscribe_url", unsubscribe_url);
	/* absent rather than "": a template's {{#preferences_url}} then
	 * leaves the link out */
	if (preferences_url)
		td_value_map_set_str(ctx, "preferences_url", preferences_url);
	return ctx;
}

struct td_value *td_render_site_value(const struct td_render_options *opt)
{
	struct td_value *site = td_value_map();
	td_value_map_set_str(site, "name", opt->site_name);
	td_value_map_set_str(site, "url", opt->site_url);
	td_value_map_set_str(site, "language", opt->language ? opt->language : "en");
	td_value_map_set_str(site, "postal_address",
			     opt->postal_address ? opt->postal_address : "");
	return site;
}

int td_render_templates_load(const char *dir, const char *const *names, size_t n,
			     struct td_template_set **out, struct td_err *err)
{
	struct td_template_set *set = td_template_set_new();
	int rc = td_template_set_load_dir(set, dir, err);
	for (size_t i = 0; !rc && i < n; i++)
		if (!td_template_set_get(set, names[i]))
			rc = td_err_set(err, EX_CONFIG, "templates: %s/%s.mustache is missing",
					dir, names[i]);
	if (!rc)
		rc = td_template_set_check(set, err);
	if (rc) {
		td_template_set_free(set);
		set = NULL;
	}
	*out = set;
	return rc;
}

int td_render_template(const struct td_template_set *set, const char *name,
		       const struct td_value *ctx, bool html, char **out,
		       struct td_err *err)
{
	struct td_buf b;
	td_buf_init(&b, MAX_PART);
	int rc = td_template_render(td_template_set_get(set, name), set, ctx, html, &b, err);
	if (rc) {
		td_buf_free(&b);
		return td_err_prefix(err, "templates: %s", name);
	}
	*out = td_buf_steal(&b);
	return 0;
}

char *td_render_one_line(const char *s)
{
	struct td_buf b = TD_BUF_INIT;
	bool space = false;
	for (; *s; s++) {
		if (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n') {
			space = b.len > 0;
			continue;
		}
		if (space)
			td_buf_putc(&b, ' ');
		space = false;
		td_buf_putc(&b, *s);
	}
	return td_buf_steal(&b);
}

/* Roughly the size of html on the wire as quoted-printable: Gmail clips
 * the message where the encoded HTML passes about 102 KB. Each byte is
 * one character, or three when it is '=' or not below 0x7F; counted
 * eight bytes at a time, since every digest's HTML passes through here. */
static size_t wire_size(const char *html, size_t len)
{
	const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
	size_t n = len, i = 0;
	for (; i + 8 <= len; i += 8) {
		uint64_t w, eq;
		memcpy(&w, html + i, 8);
		eq = w ^ (ones * '=');
		/* per byte, bit 7: the byte is 0x7F or above (its low seven
		 * bits all set, or bit 7), or it is '=' (eq's byte is zero) */
		uint64_t big = ((w & ~high) + ones) | w;
		uint64_t is_eq = ~(((eq & ~high) + ~high) | eq) & high;
		uint64_t hit = ((big & high) | is_eq) >> 7;
		n += 2 * (size_t)((hit * ones) >> 56);
	}
	for (; i < len; i++)
		n += ((unsigned char)html[i] >= 0x7F || html[i] == '=') ? 2 : 0;
	return n + (len / 73) * 3;   /* soft line breaks */
}

static char *wrap_text(const char *text, size_t width, struct td_memo *memo);

/* One of the digest's templates into the renderer's own buffer for it
 * (kept between digests: no regrowing), posts' items through its
 * memo. */
static int render_part(struct td_renderer *r, const char *name,
		       const struct td_value *ctx, bool html, struct td_buf *b,
		       struct td_err *err)
{
	td_buf_reset(b);
	int rc = td_template_render_memo(td_template_set_get(r->set, name), r->set,
					 ctx, html, r->items, b, err);
	return rc ? td_err_prefix(err, "templates: %s", name) : 0;
}

int td_render_digest(struct td_renderer *r, const struct td_subscriber *sub,
		     struct td_digest *d, const char *unsubscribe_url,
		     const char *preferences_url, const struct td_strv *tag_unsubscribe,
		     time_t now, struct td_rendered *out, struct td_err *err)
{
	memset(out, 0, sizeof *out);
	struct td_buf *subject = &r->part[0], *text = &r->part[1], *html = &r->part[2];
	int rc;
	size_t excerpt = (size_t)r->opt.excerpt_chars;
	/* room for this digest's posts, or a fresh start between digests */
	if (r->share_posts && 2 * (r->nshared + d->shown) > SHARED_SLOTS)
		shared_clear(r);
	for (;;) {
		r->excerpt = excerpt;
		struct td_value *ctx = context(r, sub, d, unsubscribe_url, preferences_url,
					       tag_unsubscribe, now);
		rc = render_part(r, "digest.subject", ctx, false, subject, err);
		if (!rc)
			rc = render_part(r, "digest.txt", ctx, false, text, err);
		if (!rc)
			rc = render_part(r, "digest.html", ctx, true, html, err);
		td_value_free(ctx);
		if (rc)
			break;
		size_t size = wire_size(html->data, html->len);
		if (size <= TD_RENDER_CLIP_LIMIT || d->shown == 0)
			break;
		/* Too big to show whole: shorter excerpts first, then titles
		 * only, and only then fewer posts, in proportion, with "and N
		 * more" linking the rest (never a section's last post). What
		 * does not fit even so goes out over the limit: clipped by
		 * Gmail is better than hidden. */
		if (excerpt > 0) {
			excerpt = excerpt / 2 >= MIN_EXCERPT ? excerpt / 2 : 0;
		} else {
			size_t keep = (size_t)((double)d->shown * TD_RENDER_CLIP_LIMIT /
					       (double)size * 0.95);
			if (keep >= d->shown)
				keep = d->shown - 1;
			size_t before = d->shown;
			while (d->shown > keep && td_digest_trim_one(d))
				;
			if (d->shown == before)
				break;
		}
	}
	r->excerpt = (size_t)r->opt.excerpt_chars;
	if (rc)
		return rc;
	out->subject = td_render_one_line(td_buf_cstr(subject));
	out->text = wrap_text(td_buf_cstr(text), 72, r->wrapped);
	out->html = td_xstrndup(td_buf_cstr(html), html->len);
	return 0;
}

void td_rendered_free(struct td_rendered *out)
{
	free(out->subject);
	free(out->text);
	free(out->html);
	memset(out, 0, sizeof *out);
}


/* The length of a list marker "[n] " at s, or 0. */
static size_t marker_len(const char *s, size_t n)
{
	size_t i = 1;
	if (n < 4 || s[0] != '[')
		return 0;
	while (i < n && s[i] >= '0' && s[i] <= '9')
		i++;
	if (i == 1 || i + 1 >= n || s[i] != ']' || s[i + 1] != ' ')
		return 0;
	return i + 2;
}

static void put_spaces(struct td_buf *out, size_t n)
{
	while (n-- > 0)
		td_buf_putc(out, ' ');
}

static void wrap_line(const char *line, size_t len, size_t width,
		      struct td_buf *out)
{
	size_t indent = 0;
	while (indent < len && line[indent] == ' ')
		indent++;
	/* no character takes more columns than it has bytes */
	if (len <= width || td_utf8_width(line, len) <= width || indent >= width / 2) {
		td_buf_append(out, line, len);
		return;
	}
	/* "[n] Title ...": the marker stays with the first word (a footnote
	 * "[n] URL" is one line however long the URL), and the lines it wraps
	 * to hang under the first word, not under the marker. */
	size_t mark = marker_len(line + indent, len - indent);
	size_t hang = indent + mark < width / 2 ? indent + mark : indent;
	size_t i = indent + mark, col = indent + mark;
	bool empty = true;      /* nothing yet after this line's indent */
	td_buf_append(out, line, i);
	while (i < len) {
		bool space = false;
		while (i < len && line[i] == ' ') {
			i++;
			space = true;
		}
		size_t end = i;
		while (end < len && line[end] != ' ')
			end++;
		/* a word goes piece by piece: CJK text may break between
		 * characters, a Latin word or a URL is one piece */
		while (i < end) {
			size_t w, k = td_utf8_unbreakable(line + i, end - i, &w);
			size_t gap = space && !empty;
			if (!empty && col + gap + w > width) {
				td_buf_putc(out, '\n');
				put_spaces(out, hang);
				col = hang;
				gap = 0;
			}
			put_spaces(out, gap);
			td_buf_append(out, line + i, k);
			col += gap + w;
			empty = space = false;
			i += k;
		}
	}
}

/* td_render_wrap, with the lines that may need wrapping (longer than
 * width bytes) looked up in memo (memo.h; NULL: none) and offered to it:
 * a line wraps the same wherever it stands, so the memo's key is the
 * line alone. One memo serves one width. */
static char *wrap_text(const char *text, size_t width, struct td_memo *memo)
{
	struct td_buf out = TD_BUF_INIT;
	size_t len0 = strlen(text);
	td_buf_reserve(&out, len0 + len0 / 16 + 16);   /* wrapping adds indents */
	const char *p = text;
	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		if (memo && len > width) {
			uint64_t h = td_memo_hash(p, len);
			if (td_memo_get(memo, h, p, len, &out) == 0) {
				size_t before = out.len;
				wrap_line(p, len, width, &out);
				td_memo_put(memo, h, p, len, out.data + before,
					    out.len - before);
			}
		} else {
			wrap_line(p, len, width, &out);
		}
		if (!nl)
			break;
		td_buf_putc(&out, '\n');
		p = nl + 1;
	}
	return td_buf_steal(&out);
}

char *td_render_wrap(const char *text, size_t width)
{
	return wrap_text(text, width, NULL);
}
