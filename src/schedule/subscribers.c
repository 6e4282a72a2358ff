/*
 * subscribers.c: reads the editors' subscriber CSV (see subscribers.h).
 *
 * The file is written by people, in spreadsheets and text editors, so the
 * reader follows RFC 4180 where it is clear (quoted fields with "" escapes,
 * commas and line breaks inside quotes, CRLF or LF) and is forgiving where
 * tools differ (a UTF-8 BOM, blank lines, blanks around fields). What it
 * never forgives is anything that could reach a mail header unchecked: the
 * address and the name both go through address.c, whose name rule is the
 * one the MIME builder applies, so a row kept here is never refused when
 * its digest is built. One bad row is reported with the line it starts on
 * and skipped, so a typo in row 900 does not stop the digest for the other
 * 899 subscribers; a bad header stops everything, because without it no
 * column can be trusted.
 */
#include "tagdigest/schedule/subscribers.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tagdigest/core/address.h"
#include "tagdigest/core/buf.h"
#include "tagdigest/core/hash.h"
#include "tagdigest/core/log.h"
#include "tagdigest/sources/slug.h"
#include "tagdigest/core/util.h"

#define SUBSCRIBERS_MAX_BYTES (64u << 20)

/* ---- input: a window onto the text ----
 *
 * The row parser reads through this window only, so one parser serves
 * both the text already in memory (the window is the whole text) and a
 * file read in TD_SUBSCRIBERS_CHUNK pieces (the window is the unread part
 * of the buffer, refilled when the parser looks past its end). It never
 * holds a pointer into the window across a look-ahead: a refill moves it. */

struct csv_input {
	const char *p, *end;   /* unread bytes in the window */
	unsigned line;         /* physical line of p, from 1 */
	int fd;                /* -1: the window is all there is */
	char *buf;             /* the file's buffer, TD_SUBSCRIBERS_CHUNK bytes */
	int read_errno;        /* a failed read() ends the input; 0 if none */
};

/* Refills so that at least `want` bytes are unread, keeping the unread
 * ones; false when the input ends first. The buffer is filled completely
 * each time, so where its boundaries fall depends on the file alone. */
static bool in_fill(struct csv_input *in, size_t want)
{
	size_t have = (size_t)(in->end - in->p);
	if (in->fd < 0)
		return have >= want;
	memmove(in->buf, in->p, have);
	while (have < TD_SUBSCRIBERS_CHUNK) {
		ssize_t n = read(in->fd, in->buf + have, TD_SUBSCRIBERS_CHUNK - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n < 0)
				in->read_errno = errno;
			/* nothing more will come: later calls stay cheap */
			close(in->fd);
			in->fd = -1;
			break;
		}
		have += (size_t)n;
	}
	in->p = in->buf;
	in->end = in->buf + have;
	return have >= want;
}

/* The byte k places ahead, or -1 past the end of the input. */
static inline int in_peek(struct csv_input *in, size_t k)
{
	if ((size_t)(in->end - in->p) > k || in_fill(in, k + 1))
		return (unsigned char)in->p[k];
	return -1;
}

/* ---- RFC 4180 records ---- */

struct csv_row {
	struct td_strv fields;
	unsigned line;         /* physical line where the row starts */
	size_t bytes;          /* field bytes and separators so far */
	bool toolong;          /* past TD_SUBSCRIBERS_MAX_ROW: read on, keep nothing */
	char problem[96];      /* "" unless the row could not be read */
	bool blank;            /* an empty line, skipped silently */
};

static void csv_row_reset(struct csv_row *row)
{
	td_strv_free(&row->fields);
	row->problem[0] = '\0';
	row->blank = false;
	row->bytes = 0;
	row->toolong = false;
}

/* Appends to the field within the row's budget; past it the row is still
 * read to its end (so the next row starts where it should) but kept no
 * further. */
static void row_putc(struct csv_row *row, struct td_buf *f, char c)
{
	if (row->toolong || ++row->bytes > TD_SUBSCRIBERS_MAX_ROW) {
		row->toolong = true;
		return;
	}
	td_buf_putc(f, c);
}

/* After a broken field, drop the rest of the physical line so the next
 * row starts on a line boundary. */
static void csv_skip_line(struct csv_input *in)
{
	while (in_peek(in, 0) >= 0) {
		const char *nl = memchr(in->p, '\n', (size_t)(in->end - in->p));
		if (nl) {
			in->p = nl + 1;
			in->line++;
			return;
		}
		in->p = in->end;
	}
}

static bool at_row_end(struct csv_input *in)
{
	int c = in_peek(in, 0);
	return c < 0 || c == '\n' || (c == '\r' && in_peek(in, 1) == '\n');
}

/* Consumes the line end (if any) that closes a row. */
static void eat_row_end(struct csv_input *in)
{
	if (in_peek(in, 0) == '\r')
		in->p++;
	if (in_peek(in, 0) == '\n') {
		in->p++;
		in->line++;
	}
}

static void skip_blanks(struct csv_input *in)
{
	int c;
	while ((c = in_peek(in, 0)) == ' ' || c == '\t')
		in->p++;
}

/* Reads one field into f; returns false (with row->problem set) when the
 * field is malformed. Blanks around the field are dropped: spreadsheets
 * and people add them, and no address or tag begins with one. */
static bool csv_field(struct csv_input *in, struct csv_row *row, struct td_buf *f,
		      bool *quoted)
{
	int c;
	skip_blanks(in);
	*quoted = in_peek(in, 0) == '"';
	if (*quoted) {
		unsigned start = in->line;
		in->p++;
		for (;;) {
			if ((c = in_peek(in, 0)) < 0) {
				snprintf(row->problem, sizeof row->problem,
					 "unterminated quoted field (opened on line %u)",
					 start);
				return false;
			}
			in->p++;
			if (c == '"') {
				if (in_peek(in, 0) == '"') {
					in->p++;
					row_putc(row, f, '"');
					continue;
				}
				break;
			}
			if (c == '\n')
				in->line++;
			row_putc(row, f, (char)c);
		}
		skip_blanks(in);
		if (!at_row_end(in) && in_peek(in, 0) != ',') {
			snprintf(row->problem, sizeof row->problem,
				 "text after the closing quote of a field");
			return false;
		}
		return true;
	}
	while ((c = in_peek(in, 0)) >= 0 && c != ',' && !at_row_end(in)) {
		if (c == '"') {
			snprintf(row->problem, sizeof row->problem,
				 "'\"' inside an unquoted field (quote the whole "
				 "field and double the '\"')");
			return false;
		}
		row_putc(row, f, (char)c);
		in->p++;
	}
	while (f->len > 0 && (f->data[f->len - 1] == ' ' || f->data[f->len - 1] == '\t'))
		f->data[--f->len] = '\0';
	return true;
}

/* Reads the next row; false at the end of the input. */
static bool csv_next(struct csv_input *in, struct csv_row *row)
{
	csv_row_reset(row);
	if (in_peek(in, 0) < 0)
		return false;
	row->line = in->line;
	struct td_buf f = TD_BUF_INIT;
	bool any_quoted = false;
	for (;;) {
		bool quoted;
		td_buf_reset(&f);
		if (!csv_field(in, row, &f, &quoted)) {
			csv_skip_line(in);
			break;
		}
		any_quoted |= quoted;
		/* A NUL would cut the C string short and hide what follows. */
		if (memchr(td_buf_cstr(&f), '\0', f.len)) {
			snprintf(row->problem, sizeof row->problem, "contains a NUL byte");
			if (!at_row_end(in))
				csv_skip_line(in);
			else
				eat_row_end(in);
			break;
		}
		/* the separator counts too: a row of commas is bounded as well */
		if (!row->toolong && ++row->bytes <= TD_SUBSCRIBERS_MAX_ROW)
			td_strv_push(&row->fields, td_buf_cstr(&f));
		else
			row->toolong = true;
		if (in_peek(in, 0) == ',') {
			in->p++;
			continue;
		}
		eat_row_end(in);
		break;
	}
	td_buf_free(&f);
	if (row->toolong && !row->problem[0])
		snprintf(row->problem, sizeof row->problem,
			 "row longer than %u bytes", TD_SUBSCRIBERS_MAX_ROW);
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

/* ---- duplicate detection ----
 *
 * The rows are not kept while streaming, so the set holds no addresses:
 * a 64-bit hash of each lowercased address and the line it is on (for the
 * message), 12 bytes a slot, at most 3/4 full, sized once from the line
 * count when the file is opened. Two different addresses share a hash
 * with odds of about n^2 / 2^65 (3e-10 at 100,000 rows); the cost of that
 * would be one row reported as a duplicate. */

struct email_set {
	uint64_t *hash;        /* 0 = empty */
	unsigned *line;
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
	/* FNV's low bits are weak; the slot is taken modulo the size, so mix
	 * every bit into them (MurmurHash3's finalizer). */
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdu;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53u;
	h ^= h >> 33;
	return h ? h : 1;
}

static void email_set_init(struct email_set *set, size_t expect)
{
	set->cap = expect + expect / 3 + 16;
	set->hash = td_xcalloc(set->cap, sizeof *set->hash);
	set->line = td_xcalloc(set->cap, sizeof *set->line);
	set->n = 0;
}

static void email_set_free(struct email_set *set)
{
	free(set->hash);
	free(set->line);
	memset(set, 0, sizeof *set);
}

/* Inserts without checking for an equal hash. */
static void email_set_put(struct email_set *set, uint64_t h, unsigned line)
{
	size_t j = (size_t)(h % set->cap);
	while (set->hash[j])
		j = j + 1 == set->cap ? 0 : j + 1;
	set->hash[j] = h;
	set->line[j] = line;
	set->n++;
}

/* Returns the line of an equal address already in the set (> 0), or adds
 * this one and returns 0. */
static unsigned email_set_add(struct email_set *set, const char *email, unsigned line)
{
	uint64_t h = email_hash(email);
	for (size_t j = (size_t)(h % set->cap); set->hash[j];
	     j = j + 1 == set->cap ? 0 : j + 1)
		if (set->hash[j] == h)
			return set->line[j];
	/* More rows than the copy had lines: cannot happen, but a wrong
	 * count must cost time, not a wrong answer: double, as a plain
	 * growable table would. */
	if ((set->n + 1) * 4 > set->cap * 3) {
		struct email_set old = *set;
		email_set_init(set, old.cap * 2);
		for (size_t i = 0; i < old.cap; i++)
			if (old.hash[i])
				email_set_put(set, old.hash[i], old.line[i]);
		email_set_free(&old);
	}
	email_set_put(set, h, line);
	return 0;
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
		char fields[48];
		snprintf(why, whylen, "%s, but the header has %zu",
			 td_count(fields, sizeof fields, row->fields.n, "field", "fields"),
			 ncols);
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
	/* the rule the MIME builder applies too: a name read here is never
	 * refused at send time */
	if (!td_display_name_valid(name, reason, sizeof reason)) {
		snprintf(why, whylen, "name %s", reason);
		return why;
	}
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

void td_subscriber_clear(struct td_subscriber *s)
{
	free(s->email);
	free(s->name);
	td_strv_free(&s->tags);
	td_prefs_clear(&s->prefs);
	memset(s, 0, sizeof *s);
}

void td_subscriber_copy(struct td_subscriber *dst, const struct td_subscriber *src)
{
	memset(dst, 0, sizeof *dst);
	dst->email = td_xstrdup(src->email);
	dst->name = td_xstrdup(src->name ? src->name : "");
	for (size_t i = 0; i < src->tags.n; i++)
		td_strv_push(&dst->tags, src->tags.v[i]);
	dst->line = src->line;
	td_prefs_copy(&dst->prefs, &src->prefs);
	dst->not_before = src->not_before;
	dst->member_id = src->member_id;
}

/* ---- one consistent reading of the file ----
 *
 * A send can take hours under a rate limit, and editors save the file in
 * place meanwhile (nano truncates the same inode and writes it again): a
 * reader that went back to the file for each piece spliced rows from both
 * versions. So the file is read once, when it is opened, into a private
 * copy: an unlinked file in $TMPDIR for the streaming reader (memory stays
 * flat however long the file is), memory for td_subscribers_load. A copy
 * counts only if the file held still while it was taken: the same device,
 * inode, size, mtime and ctime (to the nanosecond) before and after, every
 * byte read, the path still naming that inode, and a second reading equal
 * to the copy. The second reading is what catches a change that file
 * times miss: they move in clock ticks, a whole second on some file
 * systems, and a rewrite of the same size within the tick of the last
 * change leaves all of them as they were. A file changed in the last
 * TD_SUBSCRIBERS_SETTLE_MS that is empty or whose last line has no line
 * end is taken to be still being written, and waited for. A file that
 * never holds still is refused with EX_TEMPFAIL after TD_SUBSCRIBERS_TRIES
 * copies or TD_SUBSCRIBERS_WAIT_MS in all. */

struct file_id {
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime, ctime;
};

struct snapshot {
	int fd;                /* the copy, for streaming; or -1 ... */
	struct td_buf *mem;    /* ... the text, for the whole list */
	char *buf;             /* TD_SUBSCRIBERS_CHUNK bytes to copy through */
	size_t lines;          /* line breaks in the copy */
	bool regular;          /* a regular file: id below means something */
	struct file_id id;     /* the file the copy was taken from */
};

static void file_id_of(const struct stat *sb, struct file_id *id)
{
	id->dev = sb->st_dev;
	id->ino = sb->st_ino;
	id->size = sb->st_size;
	id->mtime = sb->st_mtim;
	id->ctime = sb->st_ctim;
}

static bool file_id_same(const struct file_id *a, const struct file_id *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       a->mtime.tv_sec == b->mtime.tv_sec &&
	       a->mtime.tv_nsec == b->mtime.tv_nsec &&
	       a->ctime.tv_sec == b->ctime.tv_sec &&
	       a->ctime.tv_nsec == b->ctime.tv_nsec;
}

static double ms_between(const struct timespec *from, const struct timespec *to)
{
	return (double)(to->tv_sec - from->tv_sec) * 1e3 +
	       (double)(to->tv_nsec - from->tv_nsec) / 1e6;
}

/* Whether the file changed less than `window` ms ago (a change stamped a
 * little in the future, by a skewed clock on a network file system,
 * counts as recent; one far in the future says nothing). */
static bool changed_within(const struct stat *sb, double window, double *wait)
{
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	const struct timespec *last = &sb->st_ctim;
	if (ms_between(last, &sb->st_mtim) > 0)
		last = &sb->st_mtim;
	double age = ms_between(last, &now);
	*wait = window - age;
	return age > -window && age < window;
}

static void sleep_ms(double ms)
{
	if (ms <= 0)
		return;
	long whole = (long)ms + 1;
	struct timespec ts = { whole / 1000, whole % 1000 * 1000000 };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* The file looks unfinished: empty (an editor truncates before it
 * writes), or its last byte is not a line end. */
static bool looks_unfinished(int fd, off_t size)
{
	char c;
	return size == 0 || (pread(fd, &c, 1, size - 1) == 1 && c != '\n');
}

/* An unlinked file only this process can read: O_TMPFILE where the file
 * system has it, else mkstemp and unlink. */
static int private_file(struct td_err *err)
{
	const char *dir = getenv("TMPDIR");
	if (!dir || !*dir)
		dir = "/tmp";
	int fd = open(dir, O_TMPFILE | O_RDWR | O_EXCL | O_CLOEXEC, 0600);
	if (fd >= 0)
		return fd;
	char *tmpl = td_xasprintf("%s/tagdigest-subscribers-XXXXXX", dir);
	fd = mkostemp(tmpl, O_CLOEXEC);
	if (fd >= 0)
		unlink(tmpl);
	else
		td_err_set(err, EX_CANTCREAT, "subscribers: cannot make a private "
			   "copy of the file in %s: %s (set TMPDIR to a writable "
			   "folder)", dir, strerror(errno));
	free(tmpl);
	return fd;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Copies the file open at fd, from its start, into s; *copied is the
 * bytes read. Returns 0 or a sysexits code with err set. */
static int copy_once(const char *path, int fd, struct snapshot *s,
		     off_t *copied, struct td_err *err)
{
	s->lines = 0;
	*copied = 0;
	if (s->fd >= 0 && (ftruncate(s->fd, 0) < 0 || lseek(s->fd, 0, SEEK_SET) < 0))
		return td_err_set(err, EX_IOERR, "subscribers: private copy: %s",
				  strerror(errno));
	if (s->mem)
		td_buf_reset(s->mem);
	for (;;) {
		ssize_t n = read(fd, s->buf, TD_SUBSCRIBERS_CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return td_err_set(err, EX_NOINPUT, "%s: cannot read: %s", path,
					  strerror(errno));
		if (n == 0)
			return 0;
		for (const char *p = s->buf, *end = s->buf + n;
		     (p = memchr(p, '\n', (size_t)(end - p))); p++)
			s->lines++;
		if (s->fd >= 0 && write_all(s->fd, s->buf, (size_t)n) < 0)
			return td_err_set(err, EX_IOERR, "subscribers: private copy of "
					  "%s: %s", path, strerror(errno));
		if (s->mem && td_buf_append(s->mem, s->buf, (size_t)n) < 0)
			return td_err_set(err, EX_DATAERR, "%s: larger than %u MiB",
					  path, SUBSCRIBERS_MAX_BYTES >> 20);
		*copied += n;
	}
}

/* Whether the file open at fd still holds exactly what s copied from it
 * (`copied` bytes), read again through buf (TD_SUBSCRIBERS_CHUNK bytes). */
static bool same_content(int fd, const struct snapshot *s, off_t copied, char *buf)
{
	for (off_t off = 0;;) {
		ssize_t n = pread(fd, buf, TD_SUBSCRIBERS_CHUNK, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || off + n > copied)
			return false;
		if (n == 0)
			return off == copied;
		if (s->mem) {
			if (memcmp(buf, s->mem->data + off, (size_t)n) != 0)
				return false;
		} else {
			/* the copy in s->buf, a chunk at a time */
			for (ssize_t k = 0, m; k < n; k += m) {
				m = pread(s->fd, s->buf, (size_t)(n - k), off + k);
				if (m <= 0 || memcmp(buf + k, s->buf, (size_t)m) != 0)
					return false;
			}
		}
		off += n;
	}
}

/* Fills s with one consistent reading of path (see above). */
static int snapshot(const char *path, struct snapshot *s, struct td_err *err)
{
	struct timespec t0, now;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	const char *why = "";
	for (unsigned copies = 0;;) {
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		struct stat a, b, c;
		if (fd < 0 || fstat(fd, &a) < 0) {
			int e = errno;
			if (fd >= 0)
				close(fd);
			return td_err_set(err, EX_NOINPUT, "%s: cannot read: %s", path,
					  strerror(e));
		}
		s->regular = S_ISREG(a.st_mode);
		double wait = 0;
		if (s->regular && looks_unfinished(fd, a.st_size) &&
		    changed_within(&a, TD_SUBSCRIBERS_SETTLE_MS, &wait)) {
			why = a.st_size ? "its last row had no line end yet (still "
					  "being written?)" : "it was empty (being saved?)";
		} else {
			off_t copied;
			int rc = copy_once(path, fd, s, &copied, err);
			/* a pipe or a device is read once: it cannot change under us */
			bool steady = true;
			if (!rc && s->regular) {
				struct file_id after;
				char *again = td_xmalloc(TD_SUBSCRIBERS_CHUNK);
				file_id_of(&a, &s->id);
				steady = copied == a.st_size &&
					 same_content(fd, s, copied, again) &&
					 fstat(fd, &b) == 0 && stat(path, &c) == 0 &&
					 c.st_dev == a.st_dev && c.st_ino == a.st_ino;
				free(again);
				if (steady) {
					file_id_of(&b, &after);
					steady = file_id_same(&s->id, &after);
				}
			}
			close(fd);
			if (rc || steady)
				return rc;
			why = "it changed while it was being read";
			copies++;
			wait = 20;
			fd = -1;
		}
		if (fd >= 0)
			close(fd);
		clock_gettime(CLOCK_MONOTONIC, &now);
		double spent = ms_between(&t0, &now);
		if (copies >= TD_SUBSCRIBERS_TRIES ||
		    spent + wait > TD_SUBSCRIBERS_WAIT_MS)
			return td_err_set(err, EX_TEMPFAIL, "%s: not read: %s, and it "
					  "did not hold still within %.1f s; run again "
					  "once it is saved", path, why, spent / 1e3);
		/* look again soon: the writer may finish before the window ends */
		sleep_ms(wait < 100 ? wait : 100);
	}
}

/* ---- the reader: header, rows, checks, duplicates ---- */

struct td_subscriber_reader {
	char *path;                /* for messages */
	struct csv_input in;       /* over the private copy, or text */
	bool from_file;            /* opened with td_subscribers_open */
	bool regular;              /* ... a regular file, copied when it was: */
	struct file_id copied;
	size_t col[NCOLS], ncols;
	struct csv_row row;
	struct td_subscriber cur;  /* the row last returned; the reader owns it */
	struct email_set seen;     /* made at the first row, unless: */
	struct td_store *seen_st;  /* ... the store keeps them (roster.h) */
	size_t hint;               /* line breaks in the file: rows <= hint */
	size_t ngood, nbad;
	char *digest;              /* SHA-256 of the copy (opened from a file) */
};

void td_subscribers_close(struct td_subscriber_reader *r)
{
	if (!r)
		return;
	if (r->in.fd >= 0)
		close(r->in.fd);
	free(r->in.buf);
	td_strv_free(&r->row.fields);
	td_subscriber_clear(&r->cur);
	email_set_free(&r->seen);
	if (r->seen_st)
		td_roster_seen_end(r->seen_st);
	free(r->digest);
	free(r->path);
	free(r);
}

/* Skips the BOM and blank lines and reads the header; the input is set
 * up. On failure frees r. */
static int reader_start(struct td_subscriber_reader *r,
			struct td_subscriber_reader **out, struct td_err *err)
{
	*out = NULL;
	if (in_peek(&r->in, 0) == 0xef && in_peek(&r->in, 1) == 0xbb &&
	    in_peek(&r->in, 2) == 0xbf)
		r->in.p += 3;
	bool have;
	while ((have = csv_next(&r->in, &r->row)) && r->row.blank)
		;
	int rc;
	if (r->in.read_errno)
		rc = td_err_set(err, EX_NOINPUT, "%s: cannot read: %s", r->path,
				strerror(r->in.read_errno));
	else if (!have)
		rc = td_err_set(err, EX_DATAERR, "%s: empty; the first line must "
				"be a header such as email,name,tags", r->path);
	else
		rc = read_header(r->path, &r->row, r->col, err);
	if (rc) {
		td_subscribers_close(r);
		return rc;
	}
	r->ncols = r->row.fields.n;
	*out = r;
	return 0;
}

static struct td_subscriber_reader *reader_new(const char *path)
{
	struct td_subscriber_reader *r = td_xcalloc(1, sizeof *r);
	r->path = td_xstrdup(path);
	r->in.line = 1;
	r->in.fd = -1;
	return r;
}

/* The digest of the private copy: the bytes this reading is made of,
 * never the file again (it may have changed since). */
static int digest_copy(int fd, char *buf, char **digest, struct td_err *err)
{
	struct td_sha256 *h = td_sha256_new();
	for (off_t off = 0;;) {
		ssize_t n = pread(fd, buf, TD_SUBSCRIBERS_CHUNK, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			free(td_sha256_end(h));
			return td_err_set(err, EX_IOERR, "subscribers: private copy: %s",
					  strerror(errno));
		}
		if (n == 0)
			break;
		td_sha256_add(h, buf, (size_t)n);
		off += n;
	}
	*digest = td_sha256_end(h);
	return 0;
}

int td_subscribers_open(const char *path, struct td_subscriber_reader **out,
			struct td_err *err)
{
	*out = NULL;
	struct td_subscriber_reader *r = reader_new(path);
	r->in.buf = td_xmalloc(TD_SUBSCRIBERS_CHUNK);
	r->in.p = r->in.end = r->in.buf;
	r->from_file = true;
	/* the run reads the copy, never the file again */
	struct snapshot snap = { .fd = private_file(err), .buf = r->in.buf };
	int rc = snap.fd < 0 ? EX_CANTCREAT : snapshot(path, &snap, err);
	if (!rc)
		rc = digest_copy(snap.fd, r->in.buf, &r->digest, err);
	if (!rc && lseek(snap.fd, 0, SEEK_SET) < 0)
		rc = td_err_set(err, EX_IOERR, "subscribers: private copy: %s",
				strerror(errno));
	if (rc) {
		if (snap.fd >= 0)
			close(snap.fd);
		td_subscribers_close(r);
		return rc;
	}
	r->in.fd = snap.fd;
	r->hint = snap.lines;
	r->regular = snap.regular;
	r->copied = snap.id;
	return reader_start(r, out, err);
}

const char *td_subscribers_digest(const struct td_subscriber_reader *r)
{
	return r->digest ? r->digest : "";
}

bool td_subscribers_changed(const struct td_subscriber_reader *r)
{
	struct stat sb;
	struct file_id now;
	if (!r->from_file || !r->regular)
		return false;
	if (stat(r->path, &sb) < 0)
		return true;          /* removed, or renamed away */
	file_id_of(&sb, &now);
	return !file_id_same(&now, &r->copied);
}

/* A reader over text in memory; the text must outlive it. */
static int reader_open_text(const char *path, const char *text, size_t len,
			    struct td_subscriber_reader **out, struct td_err *err)
{
	struct td_subscriber_reader *r = reader_new(path);
	r->in.p = text;
	r->in.end = text + len;
	for (const char *p = text, *end = text + len;
	     (p = memchr(p, '\n', (size_t)(end - p))); p++)
		r->hint++;
	return reader_start(r, out, err);
}

int td_subscribers_next(struct td_subscriber_reader *r,
			const struct td_subscriber **out, struct td_err *err)
{
	char why[256], show[96];
	*out = NULL;
	td_subscriber_clear(&r->cur);
	while (csv_next(&r->in, &r->row)) {
		if (r->row.blank)
			continue;
		const char *problem = check_row(&r->row, r->col, r->ncols, &r->cur,
						why, sizeof why);
		if (problem) {
			td_log_warnx("%s:%u: %s", r->path, r->row.line, problem);
			r->nbad++;
			continue;
		}
		unsigned first;
		if (r->seen_st) {
			int rc = td_roster_seen_add(r->seen_st, r->cur.email, r->cur.line,
						    &first, err);
			if (rc) {
				td_subscriber_clear(&r->cur);
				return rc;
			}
		} else {
			/* sized once, from the line count */
			if (!r->seen.hash)
				email_set_init(&r->seen, r->hint);
			first = email_set_add(&r->seen, r->cur.email, r->cur.line);
		}
		if (first) {
			td_log_warnx("%s:%u: email '%s': duplicate of line %u", r->path,
				     r->row.line, shown(r->cur.email, show, sizeof show),
				     first);
			td_subscriber_clear(&r->cur);
			r->nbad++;
			continue;
		}
		r->ngood++;
		*out = &r->cur;
		return 1;
	}
	/* A read error looks like the end of the file to the parser. */
	if (r->in.read_errno)
		return td_err_set(err, EX_IOERR, "%s: read: %s", r->path,
				  strerror(r->in.read_errno));
	return 0;
}

int td_subscribers_seen_in_store(struct td_subscriber_reader *r, struct td_store *st,
				 struct td_err *err)
{
	int rc = td_roster_seen_begin(st, err);
	if (!rc)
		r->seen_st = st;
	return rc;
}

size_t td_subscribers_size_hint(const struct td_subscriber_reader *r)
{
	return r->hint;
}

void td_subscribers_counts(const struct td_subscriber_reader *r, size_t *ngood,
			   size_t *nbad)
{
	if (ngood)
		*ngood = r->ngood;
	if (nbad)
		*nbad = r->nbad;
}

/* ---- the whole list ---- */

int td_subscribers_parse(const char *path, const char *text, size_t len,
			 struct td_subscriber_list *out, struct td_err *err)
{
	memset(out, 0, sizeof *out);
	struct td_subscriber_reader *r;
	int rc = reader_open_text(path, text, len, &r, err);
	if (rc)
		return rc;
	size_t cap = 0;
	const struct td_subscriber *sub;
	while ((rc = td_subscribers_next(r, &sub, err)) == 1) {
		if (out->n == cap) {
			cap = cap ? cap * 2 : 16;
			out->v = td_xrealloc(out->v, cap * sizeof *out->v);
		}
		/* the row moves into the list; the reader forgets it */
		out->v[out->n++] = r->cur;
		memset(&r->cur, 0, sizeof r->cur);
	}
	td_subscribers_counts(r, NULL, &out->nbad);
	td_subscribers_close(r);
	if (rc) {
		size_t nbad = out->nbad;
		td_subscribers_free(out);
		out->nbad = nbad;
	}
	return rc;
}

int td_subscribers_load(const char *path, struct td_subscriber_list *out,
			struct td_err *err)
{
	memset(out, 0, sizeof *out);
	struct td_buf text;
	td_buf_init(&text, SUBSCRIBERS_MAX_BYTES);
	/* the same one consistent reading as td_subscribers_open */
	struct snapshot snap = { .fd = -1, .mem = &text,
				 .buf = td_xmalloc(TD_SUBSCRIBERS_CHUNK) };
	int rc = snapshot(path, &snap, err);
	free(snap.buf);
	if (!rc)
		rc = td_subscribers_parse(path, td_buf_cstr(&text), text.len, out, err);
	td_buf_free(&text);
	return rc;
}

void td_member_subscriber(const struct td_member *m, struct td_subscriber *view)
{
	memset(view, 0, sizeof *view);
	view->email = m->email;
	view->name = m->name;
	view->tags = m->tags;
	view->prefs = m->prefs;
	view->member_id = m->id;
	if (m->origin && strcmp(m->origin, "form") == 0)
		view->not_before = m->confirmed_at;
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
		td_subscriber_clear(&l->v[i]);
	free(l->v);
	memset(l, 0, sizeof *l);
}
