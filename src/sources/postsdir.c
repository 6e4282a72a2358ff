/*
 * postsdir.c: a folder of Markdown posts, each with a front matter block,
 * read into struct td_post (see postsdir.h for the file format).
 *
 * Front matter is a deliberately tiny subset of YAML: one "key: value" per
 * line, optional single or double quotes around a value, "#" comment
 * lines, and a flow list for tags. Anything else is an error that names
 * the file and line, because the people who write these files fix them by
 * reading the message, and a silently ignored key is a post that goes out
 * wrong. Everything in the file is untrusted: values are checked for valid
 * UTF-8 and control characters (a CR/LF in a title would end up in a mail
 * header), and files are capped at 1 MiB.
 */
#include "tagdigest/sources/postsdir.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "tagdigest/core/buf.h"
#include "tagdigest/core/hash.h"
#include "tagdigest/sources/html.h"
#include "tagdigest/core/log.h"
#include "tagdigest/sources/markdown.h"
#include "tagdigest/sources/slug.h"
#include "tagdigest/sources/source.h"
#include "tagdigest/core/util.h"

#define POST_MAX_BYTES ((size_t)1 << 20)
#define POST_MAX_TEXT "1 MiB"
#define POST_TEXT_WIDTH 72
/* More tags than this is a paste accident, not a post; the bound also
 * keeps the duplicate check (a scan per tag) cheap. */
#define POST_MAX_TAGS 100

enum key { K_TITLE, K_DATE, K_TAGS, K_URL, K_AUTHOR, K_ID, K_COUNT };

static const char *const key_names[K_COUNT] = {
	"title", "date", "tags", "url", "author", "id",
};

/* One front matter value as it stands in the file (not yet unquoted). */
struct raw {
	const char *v;
	size_t n;
	size_t line;  /* 0 when the key is absent */
};

struct parser {
	const char *name;
	struct raw keys[K_COUNT];
	struct td_err *err;
	const char *body;   /* the Markdown after the front matter */
	size_t blen;
	size_t fm_end;      /* line of the closing "---" */
};

static int is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static void trim(const char **s, size_t *n)
{
	while (*n > 0 && is_blank(**s))
		(*s)++, (*n)--;
	while (*n > 0 && is_blank((*s)[*n - 1]))
		(*n)--;
}

/* A value quoted back into a message: control bytes shown as '?' (they
 * would garble a terminal or a log line) and long values shortened. */
static const char *shown(const char *s, size_t n, char *tmp, size_t size)
{
	size_t i, j = 0;
	for (i = 0; i < n && j + 4 < size; i++) {
		unsigned char c = (unsigned char)s[i];
		tmp[j++] = (c < 0x20 || c == 0x7F) ? '?' : (char)c;
	}
	if (i < n)
		memcpy(tmp + j, "...", 3), j += 3;
	tmp[j] = '\0';
	return tmp;
}

static int fail(struct parser *p, size_t line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Every parse error is "NAME:LINE: problem". */
static int fail(struct parser *p, size_t line, const char *fmt, ...)
{
	char msg[768];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return td_err_set(p->err, EX_DATAERR, "%s:%zu: %s", p->name, line,
			  msg);
}

/*
 * Checks that s is strict UTF-8 without C0, DEL or C1 controls. Returns
 * NULL when it is fine, or what is wrong.
 */
static const char *check_text(const char *s, size_t n)
{
	for (size_t i = 0, len; i < n; i += len) {
		uint32_t c;
		if (!(len = td_utf8_next(s + i, n - i, &c)))
			return "is not valid UTF-8";
		if (c < 0x20 || (c >= 0x7F && c <= 0x9F))
			return "contains a control character";
	}
	return NULL;
}

/* Index just past the quoted string that starts at v[i], or 0 when the
 * quote is never closed. Double quotes take \" and \\; single quotes
 * take '' for a quote, as in YAML. */
static size_t quoted_end(const char *v, size_t n, size_t i)
{
	char q = v[i++];
	while (i < n) {
		if (q == '"' && v[i] == '\\' && i + 1 < n) {
			i += 2;
		} else if (q == '\'' && v[i] == '\'' && i + 1 < n &&
			   v[i + 1] == '\'') {
			i += 2;
		} else if (v[i] == q) {
			return i + 1;
		} else {
			i++;
		}
	}
	return 0;
}

/*
 * A scalar value: trimmed, and unquoted when it starts with a quote. The
 * result is a malloc'd string in *out. Returns NULL or what is wrong.
 */
static const char *scalar(const char *v, size_t n, char **out)
{
	*out = NULL;
	trim(&v, &n);
	/* Checked here, while the length is known: past this point the
	 * value is a C string and a NUL would silently cut it short. */
	if (memchr(v, '\0', n))
		return "contains a control character";
	if (n == 0 || (v[0] != '"' && v[0] != '\'')) {
		*out = td_xstrndup(v, n);
		return NULL;
	}
	size_t end = quoted_end(v, n, 0);
	if (end == 0)
		return "has no closing quote";
	for (size_t i = end; i < n; i++)
		if (!is_blank(v[i]))
			return "has text after the closing quote";

	struct td_buf b = TD_BUF_INIT;
	char q = v[0];
	for (size_t i = 1; i + 1 < end; i++) {
		if (q == '"' && v[i] == '\\') {
			char e = v[++i];
			if (e != '"' && e != '\\') {
				td_buf_free(&b);
				return "has an unknown escape (only \\\" and \\\\)";
			}
			td_buf_putc(&b, e);
		} else if (q == '\'' && v[i] == '\'') {
			td_buf_putc(&b, v[i++]);
		} else {
			td_buf_putc(&b, v[i]);
		}
	}
	*out = td_buf_steal(&b);
	return NULL;
}

/* A scalar that must be non-empty text without control characters. */
static int text_value(struct parser *p, enum key k, int required,
		      char **out)
{
	const struct raw *r = &p->keys[k];
	const char *why = scalar(r->v, r->n, out);
	if (!why)
		why = check_text(*out, strlen(*out));
	if (!why && required && **out == '\0')
		why = "is empty";
	if (why) {
		free(*out);
		*out = NULL;
		return fail(p, r->line, "%s: value %s", key_names[k], why);
	}
	return 0;
}

/* Exactly `count` ASCII digits at s[*i], advancing *i. */
static int digits(const char *s, size_t n, size_t *i, int count, int *val)
{
	int v = 0;
	for (int k = 0; k < count; k++, (*i)++) {
		if (*i >= n || s[*i] < '0' || s[*i] > '9')
			return -1;
		v = v * 10 + (s[*i] - '0');
	}
	*val = v;
	return 0;
}

static int expect(const char *s, size_t n, size_t *i, char c)
{
	if (*i >= n || s[*i] != c)
		return -1;
	(*i)++;
	return 0;
}

static int leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/*
 * "YYYY-MM-DD" (midnight UTC), "YYYY-MM-DD HH:MM[:SS]" (UTC unless an
 * offset follows), or RFC 3339 "YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM)".
 * A 'T' form without an offset is refused: it names no time zone, and
 * guessing the host's would make the date depend on the machine.
 */
static int parse_date(const char *s, size_t n, time_t *out)
{
	static const int mdays[12] = { 31, 28, 31, 30, 31, 30,
				       31, 31, 30, 31, 30, 31 };
	int y, mo, d, h = 0, mi = 0, se = 0, off = 0;
	size_t i = 0;

	if (digits(s, n, &i, 4, &y) || expect(s, n, &i, '-') ||
	    digits(s, n, &i, 2, &mo) || expect(s, n, &i, '-') ||
	    digits(s, n, &i, 2, &d))
		return -1;
	if (y < 1 || mo < 1 || mo > 12 || d < 1 ||
	    d > mdays[mo - 1] + (mo == 2 && leap(y)))
		return -1;
	if (i < n) {
		char sep = s[i++];
		if (sep != 'T' && sep != 't' && sep != ' ')
			return -1;
		if (digits(s, n, &i, 2, &h) || expect(s, n, &i, ':') ||
		    digits(s, n, &i, 2, &mi))
			return -1;
		if (i < n && s[i] == ':') {
			i++;
			if (digits(s, n, &i, 2, &se))
				return -1;
			if (i < n && s[i] == '.') {
				size_t start = ++i;
				while (i < n && s[i] >= '0' && s[i] <= '9')
					i++;
				if (i == start)
					return -1;
			}
		}
		/* A leap second (:60) is let through; timegm carries it
		 * into the next minute. */
		if (h > 23 || mi > 59 || se > 60)
			return -1;
		if (i == n) {
			if (sep != ' ')
				return -1;
		} else if (s[i] == 'Z' || s[i] == 'z') {
			i++;
		} else if (s[i] == '+' || s[i] == '-') {
			int sign = s[i++] == '-' ? -1 : 1, oh, om;
			if (digits(s, n, &i, 2, &oh) || expect(s, n, &i, ':') ||
			    digits(s, n, &i, 2, &om) || oh > 23 || om > 59)
				return -1;
			off = sign * (oh * 3600 + om * 60);
		} else {
			return -1;
		}
		if (i != n)
			return -1;
	}

	struct tm tm;
	memset(&tm, 0, sizeof tm);
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = se;
	/* The offset is how far local time is ahead of UTC. */
	*out = timegm(&tm) - off;
	return 0;
}

/* An absolute http(s) URL with a host and nothing that would need
 * escaping to survive a line of text: no spaces, no controls. */
static const char *check_url(const char *u)
{
	size_t skip;
	if (strncasecmp(u, "https://", 8) == 0)
		skip = 8;
	else if (strncasecmp(u, "http://", 7) == 0)
		skip = 7;
	else
		return "is not an absolute http(s) URL";
	if (u[skip] == '\0' || strchr("/?#", u[skip]))
		return "has no host";
	for (const char *c = u; *c; c++)
		if ((unsigned char)*c <= 0x20 || *c == 0x7F)
			return "contains a space or control character";
	return check_text(u, strlen(u));
}

/*
 * tags: "[a, b]" or "a, b"; items may be quoted (then a comma inside is
 * part of the name). Names are trimmed; two names with the same slug are
 * one tag (the first spelling wins); a name without a slug is an error,
 * since a tag nobody can subscribe to is a typo.
 */
static int parse_tags(struct parser *p, struct td_post *post)
{
	const struct raw *r = &p->keys[K_TAGS];
	const char *v = r->v;
	size_t n = r->n, i = 0;
	char tmp[96];

	trim(&v, &n);
	if (n > 0 && v[0] == '[') {
		if (v[n - 1] != ']')
			return fail(p, r->line, "tags: '[' without ']'");
		v++, n -= 2;
	}
	size_t count = 0;
	while (i < n) {
		while (i < n && is_blank(v[i]))
			i++;
		if (i == n)
			break;
		if (++count > POST_MAX_TAGS)
			return fail(p, r->line, "tags: more than %d tags",
				    POST_MAX_TAGS);
		size_t start = i;
		if (v[i] == '"' || v[i] == '\'') {
			i = quoted_end(v, n, i);
			if (i == 0)
				return fail(p, r->line,
					    "tags: a tag has no closing quote");
			while (i < n && is_blank(v[i]))
				i++;
			if (i < n && v[i] != ',')
				return fail(p, r->line, "tags: text after a "
					    "closing quote (want a comma)");
		} else {
			while (i < n && v[i] != ',')
				i++;
		}
		size_t end = i;
		if (i < n)
			i++; /* the comma */

		char *name;
		const char *why = scalar(v + start, end - start, &name);
		if (!why)
			why = check_text(name, strlen(name));
		if (why) {
			int rc = fail(p, r->line, "tags: '%s' %s",
				      shown(v + start, end - start, tmp,
					    sizeof tmp), why);
			free(name);
			return rc;
		}
		/* Empty items ("a, , b", a trailing comma) are nothing. */
		const char *t = name;
		size_t tn = strlen(name);
		trim(&t, &tn);
		if (tn == 0) {
			free(name);
			continue;
		}
		char *display = td_xstrndup(t, tn);
		free(name);
		char *slug = td_slugify(display);
		if (*slug == '\0') {
			int rc = fail(p, r->line, "tags: '%s' has no letters "
				      "or digits to make a slug of",
				      shown(display, strlen(display), tmp,
					    sizeof tmp));
			free(slug);
			free(display);
			return rc;
		}
		if (td_strv_contains(&post->tags, slug)) {
			free(slug);
			free(display);
			continue;
		}
		td_strv_push_owned(&post->tags, slug);
		td_strv_push_owned(&post->tag_names, display);
	}
	if (post->tags.n == 0)
		return fail(p, r->line,
			    "tags: no tags (want [a, b] or a, b)");
	return 0;
}

/* The file name without directories and without ".md". */
static char *default_guid(const char *name)
{
	const char *base = strrchr(name, '/');
	base = base ? base + 1 : name;
	size_t n = strlen(base);
	if (n > 3 && strcmp(base + n - 3, ".md") == 0)
		n -= 3;
	return td_xstrndup(base, n);
}

/* A post's content hash: SHA-256 over the rules it is rendered by
 * (markdown.h) and the file's bytes, in hex (malloc'd). The file
 * holds everything else a stored post is made of, its address (which its
 * links resolve against) included; its name and source are its key. */
static char *content_hash(const char *data, size_t len)
{
	static const char rules[] = TD_MARKDOWN_RULES "\n";
	return td_sha256_hex(rules, sizeof rules - 1, data, len);
}

/* Reads "key: value" lines up to the closing "---". On success *pos is
 * the offset of the body and *line the closing line's number. */
static int read_front_matter(struct parser *p, const char *text,
			     size_t len, size_t *pos, size_t *line)
{
	size_t i = *pos, ln = 1;
	int opened = 0;

	while (i < len) {
		size_t eol = i;
		while (eol < len && text[eol] != '\n')
			eol++;
		const char *s = text + i;
		size_t n = eol - i;
		i = eol < len ? eol + 1 : eol;
		if (n > 0 && s[n - 1] == '\r') /* CRLF files */
			n--;

		const char *t = s;
		size_t tn = n;
		while (tn > 0 && is_blank(t[tn - 1]))
			tn--;
		int fence = tn == 3 && memcmp(t, "---", 3) == 0;

		if (!opened) {
			if (!fence)
				return fail(p, ln, "no front matter (want "
					    "'---' on the first line)");
			opened = 1;
			ln++;
			continue;
		}
		if (fence) {
			*pos = i;
			*line = ln;
			return 0;
		}
		trim(&t, &tn);
		if (tn == 0 || t[0] == '#') {
			ln++;
			continue;
		}
		if (is_blank(s[0]))
			return fail(p, ln, "indented line (want 'key: value' "
				    "on one line)");

		size_t k = 0;
		while (k < tn && t[k] != ':')
			k++;
		size_t klen = k;
		int good = k < tn && klen > 0;
		for (size_t j = 0; good && j < klen; j++)
			if (!((t[j] >= 'a' && t[j] <= 'z') ||
			      (t[j] >= 'A' && t[j] <= 'Z') ||
			      (t[j] >= '0' && t[j] <= '9') || t[j] == '_' ||
			      t[j] == '-'))
				good = 0;
		if (!good) {
			char tmp[96];
			return fail(p, ln, "'%s' is not 'key: value'",
				    shown(t, tn, tmp, sizeof tmp));
		}
		enum key key;
		for (key = 0; key < K_COUNT; key++)
			if (strlen(key_names[key]) == klen &&
			    memcmp(key_names[key], t, klen) == 0)
				break;
		if (key == K_COUNT) {
			char tmp[96];
			return fail(p, ln, "unknown key '%s' (known: title, "
				    "date, tags, url, author, id)",
				    shown(t, klen, tmp, sizeof tmp));
		}
		if (p->keys[key].line)
			return fail(p, ln, "duplicate key '%s' (first on "
				    "line %zu)", key_names[key],
				    p->keys[key].line);
		p->keys[key].v = t + k + 1;
		p->keys[key].n = tn - k - 1;
		p->keys[key].line = ln;
		ln++;
	}
	if (!opened)
		return fail(p, 1, "no front matter (want '---' on the first "
			    "line)");
	return fail(p, 1, "front matter is not closed (no '---' line "
		    "after it)");
}

/* Everything but the body's rendering: the front matter, the content
 * hash, and where the body is (p->body, p->blen). */
static int parse_head(struct parser *p, const char *text, size_t len,
		      struct td_post *post)
{
	size_t pos = 0, fm_end = 0;
	int rc;
	char tmp[96];

	if (len > POST_MAX_BYTES)
		return td_err_set(p->err, EX_DATAERR, "%s: larger than %s",
				  p->name, POST_MAX_TEXT);
	/* Editors on Windows like to start files with a BOM. */
	if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
		pos = 3;
	if ((rc = read_front_matter(p, text, len, &pos, &fm_end)))
		return rc;

	/* Required keys are reported at the closing '---', where the
	 * writer would add them. */
	static const enum key required[] = { K_TITLE, K_DATE, K_TAGS, K_URL };
	for (size_t i = 0; i < sizeof required / sizeof *required; i++)
		if (!p->keys[required[i]].line)
			return fail(p, fm_end, "missing required key '%s'",
				    key_names[required[i]]);

	if ((rc = text_value(p, K_TITLE, 1, &post->title)))
		return rc;

	char *date;
	if ((rc = text_value(p, K_DATE, 1, &date)))
		return rc;
	if (parse_date(date, strlen(date), &post->published) < 0) {
		rc = fail(p, p->keys[K_DATE].line, "date: '%s' is not a date "
			  "(want YYYY-MM-DD or RFC 3339)",
			  shown(date, strlen(date), tmp, sizeof tmp));
		free(date);
		return rc;
	}
	free(date);
	post->updated = post->published;

	if ((rc = parse_tags(p, post)))
		return rc;

	if ((rc = text_value(p, K_URL, 1, &post->url)))
		return rc;
	const char *why = check_url(post->url);
	if (why)
		return fail(p, p->keys[K_URL].line, "url: '%s' %s",
			    shown(post->url, strlen(post->url), tmp,
				  sizeof tmp), why);

	if (p->keys[K_AUTHOR].line) {
		if ((rc = text_value(p, K_AUTHOR, 0, &post->author)))
			return rc;
	} else {
		post->author = td_xstrdup("");
	}

	if (p->keys[K_ID].line) {
		if ((rc = text_value(p, K_ID, 1, &post->guid)))
			return rc;
	} else {
		post->guid = default_guid(p->name);
		if (*post->guid == '\0')
			return fail(p, 1, "no id, and no file name to take "
				    "one from");
	}

	const char *body = text + pos;
	size_t blen = len - pos, k;
	for (k = 0; k < blen; k++)
		if (!strchr(" \t\r\n", body[k]))
			break;
	if (k == blen)
		return fail(p, fm_end, "no body after the front matter");
	p->body = body;
	p->blen = blen;
	p->fm_end = fm_end;

	post->content_hash = content_hash(text, len);
	return 0;
}

/*
 * The body as HTML and an excerpt. struct td_post keeps no text rendering
 * of the whole body: the digest shows excerpts, and the text part is built
 * from those. markdown.c writes the HTML as the feeds' sanitizer would have
 * left cmark's: the same allowlist, no control characters, links made
 * absolute against the post's own address. The excerpt is kept as long as
 * any run may show; the renderer cuts it to the excerpt_chars of the day.
 */
static int parse_body(struct parser *p, struct td_post *post)
{
	struct td_markdown md;
	struct td_err merr;
	if (td_markdown_render(p->body, p->blen, post->url, TD_EXCERPT_MAX, &md,
			       &merr))
		return fail(p, p->fm_end + 1, "%s", merr.msg);
	post->content_html = md.html;
	post->excerpt_html = md.excerpt_html;
	post->excerpt_text = md.excerpt_text;
	return 0;
}

static void parser_init(struct parser *p, const char *name, struct td_err *err)
{
	memset(p, 0, sizeof *p);
	p->name = name ? name : "";
	p->err = err;
}

int td_postsdir_parse(const char *name, const char *text, size_t len,
		      struct td_post *out, struct td_err *err)
{
	struct parser p;
	parser_init(&p, name, err);
	memset(out, 0, sizeof *out);
	if (!text && len > 0)
		return td_err_set(err, EX_DATAERR, "%s: no text", p.name);

	int rc = parse_head(&p, text ? text : "", len, out);
	if (!rc)
		rc = parse_body(&p, out);
	if (rc)
		td_post_free(out);
	return rc;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int is_post_name(const char *s)
{
	size_t n = strlen(s);
	return s[0] != '.' && n > 3 && strcmp(s + n - 3, ".md") == 0;
}

/* One file: read, parse, hand to cb, unless known() says the caller has
 * it already. Returns what a callback returned; a bad file is logged and
 * counted, and is not an error for the folder. */
static int read_one(const char *path, td_post_known_cb known, td_post_cb cb,
		    void *ctx, size_t *nbad, struct td_err *err)
{
	struct stat st;
	char *text;
	size_t len;

	if (stat(path, &st) < 0) {
		td_log_warn("postsdir: %s", path);
		(*nbad)++;
		return 0;
	}
	if (!S_ISREG(st.st_mode)) {
		td_log_warnx("postsdir: %s: not a regular file", path);
		(*nbad)++;
		return 0;
	}
	if (td_read_file(path, POST_MAX_BYTES, &text, &len) < 0) {
		if (errno == EFBIG)
			td_log_warnx("%s: larger than %s", path,
				     POST_MAX_TEXT);
		else
			td_log_warn("postsdir: %s", path);
		(*nbad)++;
		return 0;
	}

	struct td_post post;
	struct td_err perr;
	struct parser p;
	parser_init(&p, path, &perr);
	memset(&post, 0, sizeof post);
	bool have = false;
	int rc = parse_head(&p, text, len, &post);
	if (!rc && known) {
		int krc = known(ctx, post.guid, post.content_hash, &have, err);
		if (krc) {
			td_post_free(&post);
			free(text);
			return krc;
		}
	}
	/* cmark is the cost of a post: an unchanged one is not rendered */
	if (!rc && !have)
		rc = parse_body(&p, &post);
	free(text);
	if (rc) {
		td_log_warnx("%s", perr.msg);
		td_post_free(&post);
		(*nbad)++;
		return 0;
	}
	if (!have)
		rc = cb(ctx, &post, err);
	td_post_free(&post);
	return rc;
}

int td_postsdir_read(const char *dir, td_post_known_cb known, td_post_cb cb,
		     void *ctx, size_t *nbad, struct td_err *err)
{
	size_t bad_local = 0;
	if (!nbad)
		nbad = &bad_local;
	*nbad = 0;

	DIR *d = opendir(dir);
	if (!d)
		return td_err_set(err, EX_NOINPUT, "not a folder that can be read: %s",
				  strerror(errno));

	struct td_strv names = TD_STRV_INIT;
	struct dirent *de;
	errno = 0;
	while ((de = readdir(d)) != NULL) {
		if (is_post_name(de->d_name))
			td_strv_push(&names, de->d_name);
		errno = 0;
	}
	int rerr = errno;
	closedir(d);
	if (rerr) {
		td_strv_free(&names);
		return td_err_set(err, EX_IOERR, "the folder could not be listed: %s",
				  strerror(rerr));
	}
	/* Name order, byte by byte: the same on every machine and locale,
	 * and date-prefixed names come out in date order. */
	if (names.n > 1)
		qsort(names.v, names.n, sizeof *names.v, by_name);

	size_t dl = strlen(dir);
	int slash = dl > 0 && dir[dl - 1] == '/';
	int rc = 0;
	for (size_t i = 0; i < names.n && rc == 0; i++) {
		char *path = td_xasprintf("%s%s%s", dir, slash ? "" : "/",
					  names.v[i]);
		rc = read_one(path, known, cb, ctx, nbad, err);
		free(path);
	}
	td_strv_free(&names);
	return rc;
}
