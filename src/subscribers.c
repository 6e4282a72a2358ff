/*
 * subscribers.c: reads the editors' subscriber CSV (see subscribers.h).
 *
 * The file is written by people, in spreadsheets and text editors, so the
 * reader follows RFC 4180 where it is clear (quoted fields with "" escapes,
 * commas and line breaks inside quotes, CRLF or LF) and is forgiving where
 * tools differ (a UTF-8 BOM, blank lines, blanks around fields). What it
 * never forgives is anything that could reach a mail header unchecked: the
 * address goes through address.c and the name may hold no line break, no
 * control character and no invalid UTF-8. One bad row is reported with the
 * line it starts on and skipped, so a typo in row 900 does not stop the
 * digest for the other 899 subscribers; a bad header stops everything,
 * because without it no column can be trusted.
 */
#include "tagdigest/subscribers.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tagdigest/address.h"
#include "tagdigest/buf.h"
#include "tagdigest/log.h"
#include "tagdigest/slug.h"
#include "tagdigest/util.h"

#define SUBSCRIBERS_MAX_BYTES (64u << 20)

/* ---- RFC 4180 records ---- */

struct csv_reader {
	const char *p, *end;
	unsigned line;         /* physical line of p, from 1 */
};

struct csv_row {
	struct td_strv fields;
	unsigned line;         /* physical line where the row starts */
	char problem[96];      /* "" unless the row could not be read */
	bool blank;            /* an empty line, skipped silently */
};

static void csv_row_reset(struct csv_row *row)
{
	td_strv_free(&row->fields);
	row->problem[0] = '\0';
	row->blank = false;
}

/* After a broken field, drop the rest of the physical line so the next
 * row starts on a line boundary. */
static void csv_skip_line(struct csv_reader *r)
{
	const char *nl = memchr(r->p, '\n', (size_t)(r->end - r->p));
	if (nl) {
		r->p = nl + 1;
		r->line++;
	} else {
		r->p = r->end;
	}
}

static bool at_row_end(const struct csv_reader *r)
{
	return r->p >= r->end || *r->p == '\n' ||
	       (*r->p == '\r' && r->p + 1 < r->end && r->p[1] == '\n');
}

/* Consumes the line end (if any) that closes a row. */
static void eat_row_end(struct csv_reader *r)
{
	if (r->p < r->end && *r->p == '\r')
		r->p++;
	if (r->p < r->end && *r->p == '\n') {
		r->p++;
		r->line++;
	}
}

/* Reads one field into f; returns false (with row->problem set) when the
 * field is malformed. Blanks around the field are dropped: spreadsheets
 * and people add them, and no address or tag begins with one. */
static bool csv_field(struct csv_reader *r, struct csv_row *row, struct td_buf *f,
		      bool *quoted)
{
	while (r->p < r->end && (*r->p == ' ' || *r->p == '\t'))
		r->p++;
	*quoted = r->p < r->end && *r->p == '"';
	if (*quoted) {
		unsigned start = r->line;
		r->p++;
		for (;;) {
			if (r->p >= r->end) {
				snprintf(row->problem, sizeof row->problem,
					 "unterminated quoted field (opened on line %u)",
					 start);
				return false;
			}
			char c = *r->p++;
			if (c == '"') {
				if (r->p < r->end && *r->p == '"') {
					r->p++;
					td_buf_putc(f, '"');
					continue;
				}
				break;
			}
			if (c == '\n')
				r->line++;
			td_buf_putc(f, c);
		}
		while (r->p < r->end && (*r->p == ' ' || *r->p == '\t'))
			r->p++;
		if (!at_row_end(r) && *r->p != ',') {
			snprintf(row->problem, sizeof row->problem,
				 "text after the closing quote of a field");
			return false;
		}
		return true;
	}
	while (r->p < r->end && *r->p != ',' && !at_row_end(r)) {
		if (*r->p == '"') {
			snprintf(row->problem, sizeof row->problem,
				 "'\"' inside an unquoted field (quote the whole "
				 "field and double the '\"')");
			return false;
		}
		td_buf_putc(f, *r->p++);
	}
	while (f->len > 0 && (f->data[f->len - 1] == ' ' || f->data[f->len - 1] == '\t'))
		f->data[--f->len] = '\0';
	return true;
}

/* Reads the next row; false at the end of the text. */
static bool csv_next(struct csv_reader *r, struct csv_row *row)
{
	csv_row_reset(row);
	if (r->p >= r->end)
		return false;
	row->line = r->line;
	struct td_buf f = TD_BUF_INIT;
	bool any_quoted = false;
	for (;;) {
		bool quoted;
		td_buf_reset(&f);
		if (!csv_field(r, row, &f, &quoted)) {
			if (r->p < r->end)
				csv_skip_line(r);
			break;
		}
		any_quoted |= quoted;
		/* A NUL would cut the C string short and hide what follows. */
		if (memchr(td_buf_cstr(&f), '\0', f.len)) {
			snprintf(row->problem, sizeof row->problem, "contains a NUL byte");
			if (!at_row_end(r))
				csv_skip_line(r);
			else
				eat_row_end(r);
			break;
		}
		td_strv_push(&row->fields, td_buf_cstr(&f));
		if (r->p < r->end && *r->p == ',') {
			r->p++;
			continue;
		}
		eat_row_end(r);
		break;
	}
	td_buf_free(&f);
	row->blank = !row->problem[0] && !any_quoted && row->fields.n == 1 &&
		     row->fields.v[0][0] == '\0';
	return true;
}

/* ---- checks ---- */


/* A value for a log line: controls escaped so a hostile row cannot forge
 * log lines, and cut short so a huge field cannot flood them. */
static const char *shown(const char *s, char *buf, size_t len)
{
	struct td_buf b;
	td_buf_init(&b, len - 4);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		int rc;
		if (*p == '\r')
			rc = td_buf_puts(&b, "\\r");
		else if (*p == '\n')
			rc = td_buf_puts(&b, "\\n");
		else if (*p < 0x20 || *p == 0x7f)
			rc = td_buf_printf(&b, "\\x%02x", *p);
		else
			rc = td_buf_putc(&b, (char)*p);
		if (rc < 0) {
			td_buf_puts(&b, "...");
			break;
		}
	}
	snprintf(buf, len, "%s", td_buf_cstr(&b));
	td_buf_free(&b);
	return buf;
}

/* ---- duplicate detection ---- */

/* Open addressing over lowercased addresses; values index out->v. */
struct email_set {
	size_t *slots;         /* index + 1; 0 = empty */
	size_t cap;
	size_t n;
};

static uint64_t email_hash(const char *s)
{
	uint64_t h = 1469598103934665603u;     /* FNV-1a */
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c >= 'A' && c <= 'Z')
			c = (unsigned char)(c - 'A' + 'a');
		h = (h ^ c) * 1099511628211u;
	}
	return h;
}

/* Returns the index of an equal address already in the set, or adds
 * idx and returns (size_t)-1. */
static size_t email_set_add(struct email_set *set, const struct td_subscriber *v,
			    const char *email, size_t idx)
{
	if ((set->n + 1) * 2 > set->cap) {
		size_t ncap = set->cap ? set->cap * 2 : 64;
		size_t *nslots = td_xcalloc(ncap, sizeof *nslots);
		for (size_t i = 0; i < set->cap; i++) {
			if (!set->slots[i])
				continue;
			size_t j = email_hash(v[set->slots[i] - 1].email) & (ncap - 1);
			while (nslots[j])
				j = (j + 1) & (ncap - 1);
			nslots[j] = set->slots[i];
		}
		free(set->slots);
		set->slots = nslots;
		set->cap = ncap;
	}
	size_t j = email_hash(email) & (set->cap - 1);
	while (set->slots[j]) {
		if (strcasecmp(v[set->slots[j] - 1].email, email) == 0)
			return set->slots[j] - 1;
		j = (j + 1) & (set->cap - 1);
	}
	set->slots[j] = idx + 1;
	set->n++;
	return (size_t)-1;
}

/* ---- rows ---- */

enum { COL_EMAIL, COL_NAME, COL_TAGS, NCOLS };

static int read_header(const char *path, const struct csv_row *row, size_t col[NCOLS],
		       struct td_err *err)
{
	static const char *const names[NCOLS] = { "email", "name", "tags" };
	if (row->problem[0])
		return td_err_set(err, EX_DATAERR, "%s:%u: header: %s", path,
				  row->line, row->problem);
	for (int c = 0; c < NCOLS; c++)
		col[c] = (size_t)-1;
	for (size_t i = 0; i < row->fields.n; i++) {
		for (int c = 0; c < NCOLS; c++) {
			if (strcasecmp(row->fields.v[i], names[c]) != 0)
				continue;
			if (col[c] != (size_t)-1)
				return td_err_set(err, EX_DATAERR, "%s:%u: header names "
						  "the column '%s' twice", path,
						  row->line, names[c]);
			col[c] = i;
		}
	}
	for (int c = 0; c < NCOLS; c++)
		if (col[c] == (size_t)-1)
			return td_err_set(err, EX_DATAERR, "%s:%u: header has no '%s' "
					  "column (it needs email, name and tags)",
					  path, row->line, names[c]);
	return 0;
}

/* Splits "NATO; North Korea;nato" into unique slugs. */
static void split_tags(const char *field, struct td_strv *tags)
{
	const char *p = field;
	for (;;) {
		size_t n = strcspn(p, ";");
		char *piece = td_xstrndup(p, n);
		char *slug = td_slugify(piece);
		free(piece);
		if (*slug && !td_strv_contains(tags, slug))
			td_strv_push_owned(tags, slug);
		else
			free(slug);
		if (!p[n])
			break;
		p += n + 1;
	}
}

/* Checks one data row; on success fills sub (whose fields it owns) and
 * returns NULL, else returns the problem written into why. */
static const char *check_row(const struct csv_row *row, const size_t col[NCOLS],
			     size_t ncols, struct td_subscriber *sub,
			     char *why, size_t whylen)
{
	char reason[128], show[96];
	if (row->problem[0])
		return row->problem;
	if (row->fields.n != ncols) {
		snprintf(why, whylen, "%zu fields, but the header has %zu",
			 row->fields.n, ncols);
		return why;
	}
	const char *email = row->fields.v[col[COL_EMAIL]];
	const char *name = row->fields.v[col[COL_NAME]];
	const char *tags = row->fields.v[col[COL_TAGS]];
	if (!td_address_valid(email, reason, sizeof reason)) {
		snprintf(why, whylen, "email '%s': %s",
			 shown(email, show, sizeof show), reason);
		return why;
	}
	if (!td_utf8_valid(name, strlen(name)))
		return "name: not valid UTF-8";
	/* Quotes let a line break into a field; in a name it would reach the
	 * To: header. */
	if (strpbrk(name, "\r\n"))
		return "name contains a line break";
	for (const char *c = name; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			return "name contains a control character";
	if (!td_utf8_valid(tags, strlen(tags)))
		return "tags: not valid UTF-8";

	memset(sub, 0, sizeof *sub);
	split_tags(tags, &sub->tags);
	if (sub->tags.n == 0) {
		td_strv_free(&sub->tags);
		return "no tags (list tag names separated by ';')";
	}
	sub->email = td_xstrdup(email);
	sub->name = td_xstrdup(name);
	sub->line = row->line;
	return NULL;
}

static void subscriber_free(struct td_subscriber *s)
{
	free(s->email);
	free(s->name);
	td_strv_free(&s->tags);
}

int td_subscribers_parse(const char *path, const char *text, size_t len,
			 struct td_subscriber_list *out, struct td_err *err)
{
	memset(out, 0, sizeof *out);
	struct csv_reader r = { text, text + len, 1 };
	if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
		r.p += 3;

	struct csv_row row;
	memset(&row, 0, sizeof row);
	bool have = false;
	while ((have = csv_next(&r, &row)) && row.blank)
		;
	if (!have) {
		td_strv_free(&row.fields);
		return td_err_set(err, EX_DATAERR, "%s: empty; the first line must "
				  "be a header such as email,name,tags", path);
	}
	size_t col[NCOLS];
	int rc = read_header(path, &row, col, err);
	size_t ncols = row.fields.n;
	if (rc) {
		td_strv_free(&row.fields);
		return rc;
	}

	struct email_set seen = { NULL, 0, 0 };
	size_t cap = 0;
	char why[256], show[96];
	while (csv_next(&r, &row)) {
		if (row.blank)
			continue;
		struct td_subscriber sub;
		const char *problem = check_row(&row, col, ncols, &sub, why, sizeof why);
		if (problem) {
			td_log_warnx("%s:%u: %s", path, row.line, problem);
			out->nbad++;
			continue;
		}
		if (out->n == cap) {
			cap = cap ? cap * 2 : 16;
			out->v = td_xrealloc(out->v, cap * sizeof *out->v);
		}
		out->v[out->n] = sub;
		size_t dup = email_set_add(&seen, out->v, sub.email, out->n);
		if (dup != (size_t)-1) {
			td_log_warnx("%s:%u: email '%s': duplicate of line %u", path,
				      row.line, shown(sub.email, show, sizeof show),
				      out->v[dup].line);
			subscriber_free(&sub);
			out->nbad++;
			continue;
		}
		out->n++;
	}
	td_strv_free(&row.fields);
	free(seen.slots);
	return 0;
}

int td_subscribers_load(const char *path, struct td_subscriber_list *out,
			struct td_err *err)
{
	char *text;
	size_t len;
	memset(out, 0, sizeof *out);
	if (td_read_file(path, SUBSCRIBERS_MAX_BYTES, &text, &len) < 0) {
		if (errno == EFBIG)
			return td_err_set(err, EX_DATAERR, "%s: larger than %u MiB",
					  path, SUBSCRIBERS_MAX_BYTES >> 20);
		return td_err_set(err, EX_NOINPUT, "%s: cannot read: %s", path,
				  strerror(errno));
	}
	int rc = td_subscribers_parse(path, text, len, out, err);
	free(text);
	return rc;
}

const struct td_subscriber *td_subscribers_find(const struct td_subscriber_list *l,
						const char *email)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcasecmp(l->v[i].email, email) == 0)
			return &l->v[i];
	return NULL;
}

void td_subscribers_free(struct td_subscriber_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++)
		subscriber_free(&l->v[i]);
	free(l->v);
	memset(l, 0, sizeof *l);
}
