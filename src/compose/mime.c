/*
 * mime.c: one digest as an RFC 5322 / MIME message (see mime.h).
 *
 * libetpan builds the multipart tree and the technical headers and
 * serializes them, but four of its pieces cannot be trusted with our data
 * (../shared/tech/BRIEF.md 1.3-1.5): its quoted-printable encoder doubles
 * whitespace before line breaks, it has no RFC 2047 encoder at all, its
 * header writer collapses blanks and cuts a long word at column 998, and
 * it writes addresses verbatim (CR/LF become new header lines). So this
 * file does the encoding itself, writes and folds the fields that carry
 * people's text (From, To, Subject, List-Id), checks every header input,
 * builds Date and Message-ID itself (libetpan's own are wrong in half-hour
 * zones and leak the host name), and picks its own multipart boundary from
 * gnutls_rnd instead of libetpan's unseeded random().
 *
 * The libetpan headers are included here and nowhere else.
 */
#include "tagdigest/compose/mime.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/crypto.h>
#include <libetpan/libetpan.h>

#include "tagdigest/core/address.h"
#include "tagdigest/core/base64.h"
#include "tagdigest/core/log.h"
#include "tagdigest/core/util.h"
#include "tagdigest/compose/memo.h"

/* RFC 2045 6.7 (5): encoded lines are at most 76 characters. */
#define QP_MAX_LINE 76
/* RFC 2047 2: an encoded-word is at most 75 characters. */
#define EW_MAX 75
/* "=?UTF-8?B?" + "?=" */
#define EW_OVERHEAD 12
/* Longest URL we put in List-Unsubscribe: libetpan cuts lines at 998. */
#define URL_MAX 900
#define MSGID_MAX 250

static const char hexdigits[] = "0123456789ABCDEF";

/* ---- random bytes --------------------------------------------------- */

/*
 * gnutls_rnd practically never fails, but a Message-ID and a boundary only
 * need to be unique, not secret, so a failure is not worth stopping a run
 * for: mix the clock, the pid and a counter instead, and say so.
 */
static void random_bytes(unsigned char *out, size_t n)
{
	if (gnutls_rnd(GNUTLS_RND_NONCE, out, n) == 0)
		return;
	static _Atomic uint64_t counter;   /* composers run in threads */
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	uint64_t x = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	x ^= (uint64_t)getpid() << 32;
	td_log_warnx("mime: gnutls_rnd failed, using clock and pid for ids");
	for (size_t i = 0; i < n; i++) {
		/* splitmix64 step, so every output byte depends on all inputs */
		uint64_t z = (x += 0x9e3779b97f4a7c15u + ++counter);
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
		out[i] = (unsigned char)(z ^ (z >> 31));
	}
}

/* n bytes as 2n lower-case hex digits plus NUL into out. */
static void hex_of(const unsigned char *raw, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = "0123456789abcdef"[raw[i] >> 4];
		out[2 * i + 1] = "0123456789abcdef"[raw[i] & 15];
	}
	out[2 * n] = '\0';
}

/* n random bytes as 2n lower-case hex digits plus NUL into out. */
static void random_hex(char *out, size_t nbytes)
{
	unsigned char raw[32];
	if (nbytes > sizeof raw)
		nbytes = sizeof raw;
	random_bytes(raw, nbytes);
	hex_of(raw, nbytes, out);
}

/* No domain is a caller bug; a reserved name (RFC 2606) still keeps the id
 * well-formed and, unlike gethostname(), reveals nothing. */
static const char *id_domain(const char *domain)
{
	return domain && *domain ? domain : "tagdigest.invalid";
}

char *td_mime_message_id(const char *domain)
{
	char hex[17];
	random_hex(hex, 8);
	return td_xasprintf("%lld.%s@%s", (long long)time(NULL), hex,
			    id_domain(domain));
}

/* 128 bits: two different messages never share an id by chance. */
#define KEYED_ID_BYTES 16

char *td_mime_message_id_keyed(const unsigned char *key, size_t len,
			       const char *domain)
{
	char hex[2 * KEYED_ID_BYTES + 1];
	hex_of(key, len < KEYED_ID_BYTES ? len : KEYED_ID_BYTES, hex);
	/* lower-case hex is a dot-atom that no gateway re-cases */
	return td_xasprintf("%s@%s", hex, id_domain(domain));
}

/* ---- quoted-printable ----------------------------------------------- */

/*
 * One physical output line is gathered in a small array and appended when
 * it ends, so the buffer sees one call per line instead of one per byte.
 */
struct qp_line {
	char s[QP_MAX_LINE + 3]; /* the line, a soft-break '=', CRLF */
	size_t n;
};

static int qp_flush(struct qp_line *l, struct td_buf *out, const char *end)
{
	size_t k = strlen(end);
	memcpy(l->s + l->n, end, k);
	int rc = td_buf_append(out, l->s, l->n + k);
	l->n = 0;
	return rc;
}

/* Bytes that stand for themselves anywhere but at the end of a line:
 * printable ASCII except '=', plus SP and TAB. */
static const bool qp_plain[256] = {
	['\t'] = true, [' '] = true,
	['!'] = true, ['"'] = true, ['#'] = true, ['$'] = true, ['%'] = true,
	['&'] = true, ['\''] = true, ['('] = true, [')'] = true, ['*'] = true,
	['+'] = true, [','] = true, ['-'] = true, ['.'] = true, ['/'] = true,
	['0'] = true, ['1'] = true, ['2'] = true, ['3'] = true, ['4'] = true,
	['5'] = true, ['6'] = true, ['7'] = true, ['8'] = true, ['9'] = true,
	[':'] = true, [';'] = true, ['<'] = true, ['>'] = true, ['?'] = true,
	['@'] = true, ['A'] = true, ['B'] = true, ['C'] = true, ['D'] = true,
	['E'] = true, ['F'] = true, ['G'] = true, ['H'] = true, ['I'] = true,
	['J'] = true, ['K'] = true, ['L'] = true, ['M'] = true, ['N'] = true,
	['O'] = true, ['P'] = true, ['Q'] = true, ['R'] = true, ['S'] = true,
	['T'] = true, ['U'] = true, ['V'] = true, ['W'] = true, ['X'] = true,
	['Y'] = true, ['Z'] = true, ['['] = true, ['\\'] = true, [']'] = true,
	['^'] = true, ['_'] = true, ['`'] = true, ['a'] = true, ['b'] = true,
	['c'] = true, ['d'] = true, ['e'] = true, ['f'] = true, ['g'] = true,
	['h'] = true, ['i'] = true, ['j'] = true, ['k'] = true, ['l'] = true,
	['m'] = true, ['n'] = true, ['o'] = true, ['p'] = true, ['q'] = true,
	['r'] = true, ['s'] = true, ['t'] = true, ['u'] = true, ['v'] = true,
	['w'] = true, ['x'] = true, ['y'] = true, ['z'] = true, ['{'] = true,
	['|'] = true, ['}'] = true, ['~'] = true,
};

static bool qp_literal(unsigned char c, bool last_in_line)
{
	if (c == ' ' || c == '\t')
		return !last_in_line; /* rule 3: no trailing whitespace */
	return c >= 33 && c <= 126 && c != '=';
}

/* Encodes line[0..n) (no line break inside) and, when hard, a CRLF. */
static int qp_line_encode(const unsigned char *line, size_t n, bool hard,
			  struct td_buf *out)
{
	struct qp_line l = { .n = 0 };
	for (size_t i = 0; i < n; i++) {
		/* Fast path for the common case, a run of plain characters in
		 * the middle of a line: copy them while they fit. The first
		 * byte of a physical line, the line's last byte and anything
		 * needing an escape take the careful path below. */
		while (l.n > 0 && l.n < QP_MAX_LINE - 1 && i + 1 < n &&
		       qp_plain[line[i]])
			l.s[l.n++] = (char)line[i++];
		unsigned char c = line[i];
		bool last = i + 1 == n;
		bool lit = qp_literal(c, last);
		size_t w = lit ? 1 : 3;
		/* The last token may end at column 76; any other must leave
		 * room for the '=' of a soft break that may follow it. */
		if (l.n + w > (last ? QP_MAX_LINE : QP_MAX_LINE - 1)) {
			if (qp_flush(&l, out, "=\r\n") < 0)
				return -1;
		}
		/* At the start of a physical line (also after a soft break):
		 * a '.' could end an SMTP DATA transfer, "From " is mangled
		 * into ">From " by mbox. Encoding the first byte defuses
		 * both and always fits, since the line is empty. */
		if (l.n == 0 && lit &&
		    (c == '.' ||
		     (c == 'F' && n - i >= 5 && memcmp(line + i, "From ", 5) == 0)))
			lit = false;
		if (lit) {
			l.s[l.n++] = (char)c;
		} else {
			l.s[l.n++] = '=';
			l.s[l.n++] = hexdigits[c >> 4];
			l.s[l.n++] = hexdigits[c & 15];
		}
	}
	return qp_flush(&l, out, hard ? "\r\n" : "");
}

/* Drops whatever was appended after len, after a failed append. */
static void buf_truncate(struct td_buf *b, size_t len)
{
	if (b->data && b->len > len) {
		b->len = len;
		b->data[len] = '\0';
	}
}

/* Lines shorter than this are encoded faster than looked up. */
#define QP_MEMO_MIN 16

int td_qp_encode_memo(const char *in, size_t len, struct td_memo *memo,
		      struct td_buf *out)
{
	const unsigned char *p = (const unsigned char *)in;
	size_t start = out->len;
	size_t i = 0;
	while (i < len) {
		/* A line ends at LF; a CR right before that LF belongs to the
		 * break, any other CR is data and gets encoded as =0D. */
		const unsigned char *nl = memchr(p + i, '\n', len - i);
		size_t end = nl ? (size_t)(nl - p) : len;
		size_t n = end - i;
		if (nl && n > 0 && p[end - 1] == '\r')
			n--;
		/* A line's encoding depends on its bytes alone (each starts a
		 * physical line at column 0): the memo is keyed by the line as
		 * given, its break included. */
		size_t raw = (nl ? end + 1 : len) - i, before = out->len;
		uint64_t h = 0;
		int got = 0;
		if (memo && raw >= QP_MEMO_MIN) {
			h = td_memo_hash(p + i, raw);
			got = td_memo_get(memo, h, p + i, raw, out);
		}
		if (got == 0) {
			got = qp_line_encode(p + i, n, nl != NULL, out);
			if (got == 0 && memo && raw >= QP_MEMO_MIN)
				td_memo_put(memo, h, p + i, raw, out->data + before,
					    out->len - before);
		}
		if (got < 0) {
			buf_truncate(out, start);
			return -1;
		}
		i = nl ? end + 1 : len;
	}
	return 0;
}

int td_qp_encode(const char *in, size_t len, struct td_buf *out)
{
	return td_qp_encode_memo(in, len, NULL, out);
}

/* ---- the cache kept between messages ---------------------------------- */

struct td_mime_cache {
	struct td_memo *memo;          /* quoted-printable lines (memo.h) */
	struct td_buf qtext, qhtml;    /* the encoded bodies */
	struct td_buf layout;          /* headers and libetpan's frame */
};

/* The memo's bounds: a run's repeated lines are its template's and its
 * posts'. */
#define QP_MEMO_BYTES (512u << 10)
#define QP_MEMO_KEY 4096

struct td_mime_cache *td_mime_cache_new(void)
{
	struct td_mime_cache *c = td_xcalloc(1, sizeof *c);
	c->memo = td_memo_new(QP_MEMO_BYTES, QP_MEMO_KEY);
	td_buf_init(&c->qtext, TD_BUF_NOLIMIT);
	td_buf_init(&c->qhtml, TD_BUF_NOLIMIT);
	td_buf_init(&c->layout, TD_BUF_NOLIMIT);
	return c;
}

void td_mime_cache_free(struct td_mime_cache *c)
{
	if (!c)
		return;
	td_memo_free(c->memo);
	td_buf_free(&c->qtext);
	td_buf_free(&c->qhtml);
	td_buf_free(&c->layout);
	free(c);
}

/* ---- header fields: folding and RFC 2047 ------------------------------ */

/*
 * From, To, Subject and List-Id are written here, not by libetpan: its
 * header writer collapses runs of blanks into one, and keeps a word longer
 * than the line whole until column 998, where it cuts it with a CRLF that
 * unfolds into a stray space (a 1,200-character tag name in a Subject).
 *
 * Folding (RFC 5322 2.2.3) may only put a CRLF in front of a blank that is
 * already in the text, and unfolding takes away only that CRLF. So the
 * text is cut into words at its blanks; a word is written as it is when it
 * fits on a line and could not be misread, and everything else goes into
 * RFC 2047 encoded-words, which may be cut between any two characters:
 * decoders join adjacent encoded-words and drop the blank between them
 * (RFC 2047 6.2). Blanks between a written word and an encoded-word are
 * kept by decoders, so exactly one blank of the text stands there and any
 * others go inside the encoded-word. Lines stay within 78 characters,
 * except a display name's quoted word too long for a line (see
 * put_words).
 */

/* RFC 5322 2.1.1: a line SHOULD hold at most 78 characters. */
#define LINE_SOFT 78

/*
 * Length of the UTF-8 character at p (p[0] != 0). A byte that does not
 * start a well-formed sequence counts as a character of its own, so
 * invalid input still round-trips byte for byte and no valid sequence is
 * ever split.
 */
static size_t utf8_len(const unsigned char *p)
{
	size_t n;
	if (p[0] < 0x80)
		return 1;
	else if (p[0] >= 0xC2 && p[0] <= 0xDF)
		n = 2;
	else if (p[0] >= 0xE0 && p[0] <= 0xEF)
		n = 3;
	else if (p[0] >= 0xF0 && p[0] <= 0xF4)
		n = 4;
	else
		return 1;
	for (size_t i = 1; i < n; i++)
		if ((p[i] & 0xC0) != 0x80) /* also stops at the NUL */
			return 1;
	return n;
}

/* Raw bytes that fit an encoded-word of at most `width` characters. */
static size_t ew_capacity(size_t width)
{
	return width < EW_OVERHEAD ? 0 : (width - EW_OVERHEAD) / 4 * 3;
}

/* RFC 5322 atext */
static bool is_atext(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return true;
	return c && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* One header field being written. */
struct hline {
	struct td_buf *out;
	size_t col;        /* characters on the current line */
	bool bare;         /* nothing after "Name:" yet: no fold may come here,
			    * or readers see the value with a leading blank */
};

static void hl_begin(struct hline *h, struct td_buf *out, const char *name)
{
	h->out = out;
	h->bare = true;
	td_buf_puts(out, name);
	td_buf_putc(out, ':');
	h->col = strlen(name) + 1;
}

/* Characters left on the line after a blank of `blank` characters; when
 * fewer than `need` are left, the line is folded first, so the blank
 * opens the next line. */
static size_t hl_room(struct hline *h, size_t blank, size_t need)
{
	if (h->col + blank + need > LINE_SOFT && !h->bare) {
		td_buf_puts(h->out, "\r\n");
		h->col = 0;
	}
	size_t used = h->col + blank;
	return used < LINE_SOFT ? LINE_SOFT - used : 0;
}

/* blank, then tok, folding in front of the blank when tok does not fit. */
static void hl_put(struct hline *h, const char *blank, size_t bn,
		   const char *tok, size_t n)
{
	hl_room(h, bn, n);
	td_buf_append(h->out, blank, bn);
	td_buf_append(h->out, tok, n);
	h->col += bn + n;
	h->bare = false;
}

/*
 * text[0..n) as encoded-words: the first after `blank` (one character),
 * the others after a space each. Each word is at most 75 characters
 * (RFC 2047 2), sized to what is left of the line, and holds whole UTF-8
 * characters. In a phrase a word prefers to end after a blank of the text:
 * some decoders (Python's address parser before CPython gh-128110) keep
 * the blank between encoded-words of a display name, and a doubled space
 * reads better there than a word cut in two.
 */
static void hl_encoded(struct hline *h, char blank, const char *text, size_t n,
		       bool phrase)
{
	const unsigned char *p = (const unsigned char *)text;
	struct td_buf ew = TD_BUF_INIT;
	char sep[1] = { blank };
	while (n > 0) {
		size_t k = utf8_len(p);
		size_t room = hl_room(h, 1, EW_OVERHEAD + (k + 2) / 3 * 4);
		size_t cap = ew_capacity(room < EW_MAX ? room : EW_MAX);
		if (cap < k)     /* a header name too long for any word */
			cap = k;
		size_t take = 0, after_blank = 0;
		while (take < n) {
			size_t c = utf8_len(p + take);
			if (take + c > cap)
				break;
			take += c;
			if (is_blank((char)p[take - 1]))
				after_blank = take;
		}
		if (phrase && take < n && after_blank >= take / 2 && after_blank > 0)
			take = after_blank;
		td_buf_reset(&ew);
		td_buf_puts(&ew, "=?UTF-8?B?");
		td_base64_put(&ew, p, take, TD_BASE64);
		td_buf_puts(&ew, "?=");
		hl_put(h, sep, 1, td_buf_cstr(&ew), ew.len);
		p += take;
		n -= take;
		sep[0] = ' ';
	}
	td_buf_free(&ew);
}

/* What a header value is, for put_words. */
enum words_kind {
	W_TEXT,    /* unstructured text (Subject): words as they are */
	W_NAME,    /* display name: atoms, or one quoted-string for a run of
		    * ASCII words with specials or odd blanks */
	W_LABEL,   /* List-Id label: a phrase that Python and others read as
		    * unstructured text, so atoms only, never quotes */
};

struct hword {
	const char *w, *gap;   /* the word, and the blanks in front of it */
	size_t n, gn;
	bool plain;            /* written as it is, not encoded */
};

/* Whether a word may stand for itself: printable ASCII that no decoder
 * could take for an encoded-word (and atext only for a label), short
 * enough for a line after its blanks, unless it is a display name's word:
 * that goes in quotes rather than into encoded-words (see put_words). */
static bool word_plain(const struct hword *x, enum words_kind kind, size_t col0)
{
	for (size_t i = 0; i < x->n; i++) {
		unsigned char c = (unsigned char)x->w[i];
		if (c <= 0x20 || c >= 0x7F || (kind == W_LABEL && !is_atext(c)))
			return false;
	}
	if (memmem(x->w, x->n, "=?", 2))
		return false;
	size_t lead = x->gap ? x->gn : col0 + 1;
	return kind == W_NAME || lead + x->n <= LINE_SOFT;
}

/* A run of plain words of a display name in one quoted-string: written
 * word by word, so it can still fold at its own blanks, which quoting
 * keeps exactly (RFC 5322 3.2.4). */
static void put_quoted(struct hline *h, char blank, const struct hword *v,
		       size_t n)
{
	struct td_buf t = TD_BUF_INIT;
	for (size_t i = 0; i < n; i++) {
		td_buf_reset(&t);
		if (i == 0)
			td_buf_putc(&t, '"');
		for (size_t k = 0; k < v[i].n; k++) {
			if (v[i].w[k] == '"' || v[i].w[k] == '\\')
				td_buf_putc(&t, '\\');
			td_buf_putc(&t, v[i].w[k]);
		}
		if (i + 1 == n)
			td_buf_putc(&t, '"');
		if (i == 0)
			hl_put(h, &blank, 1, td_buf_cstr(&t), t.len);
		else
			hl_put(h, v[i].gap, v[i].gn, td_buf_cstr(&t), t.len);
	}
	td_buf_free(&t);
}

/*
 * Writes text as the value of the field begun in h (RFC 5322 3.2.5
 * unstructured, or a phrase), so that unfolding and RFC 2047 decoding give
 * back exactly text. Blanks at either end go inside encoded-words, since
 * readers drop them otherwise.
 *
 * A display name is the exception to "encode what does not fit": an ASCII
 * word longer than a line stays one quoted word on a long line, because
 * Python's address parser (before gh-128110) reads the blank between
 * adjacent encoded-words as a space, so a name cut into several words
 * would no longer read as it was given. TD_DISPLAY_NAME_MAX keeps that
 * line far below 998.
 */
static void put_words(struct hline *h, const char *text, enum words_kind kind)
{
	size_t len = strlen(text), nw = 0;
	struct hword *v = td_xcalloc(len / 2 + 1, sizeof *v);
	size_t lead = strspn(text, " \t");
	const char *p = text + lead, *end = text + len;
	const char *gap = lead ? text : NULL;
	size_t gn = lead;
	while (p < end) {
		struct hword *x = &v[nw++];
		x->gap = gap;
		x->gn = gn;
		x->w = p;
		x->n = strcspn(p, " \t");
		gap = p + x->n;
		gn = strspn(gap, " \t");
		p = gap + gn;
	}
	size_t col0 = h->col;
	for (size_t i = 0; i < nw; i++)
		v[i].plain = word_plain(&v[i], kind, col0) &&
			     !(i == 0 && lead) && !(i + 1 == nw && gn);
	if (nw == 0 && lead)      /* nothing but blanks */
		hl_encoded(h, ' ', text, lead, kind != W_TEXT);

	for (size_t i = 0; i < nw;) {
		size_t j = i;
		while (j < nw && v[j].plain == v[i].plain)
			j++;
		/* The blank in front of the run: the first of the gap after an
		 * encoded-word... */
		char first = i == 0 ? ' ' : v[i].gap[0];
		if (!v[i].plain) {
			/* ... and the rest of that gap, the run and all but the
			 * last blank of the gap after it are encoded. */
			const char *from = i == 0 ? text : v[i].gap + 1;
			const char *to = j == nw ? end : v[j].gap + v[j].gn - 1;
			hl_encoded(h, first, from, (size_t)(to - from), kind != W_TEXT);
		} else if (i > 0 && !v[i - 1].plain) {
			/* ... the last one after an encoded-word */
			first = v[i].gap[v[i].gn - 1];
		}
		if (v[i].plain) {
			bool quote = false;
			for (size_t k = i; kind == W_NAME && k < j; k++) {
				for (size_t c = 0; c < v[k].n; c++)
					quote |= !is_atext((unsigned char)v[k].w[c]);
				quote |= k > i && (v[k].gn != 1 || v[k].gap[0] != ' ');
			}
			if (quote) {
				put_quoted(h, first, v + i, j - i);
			} else {
				hl_put(h, &first, 1, v[i].w, v[i].n);
				for (size_t k = i + 1; k < j; k++)
					hl_put(h, v[k].gap, v[k].gn, v[k].w, v[k].n);
			}
		}
		i = j;
	}
	free(v);
}

void td_mime_header_text(struct td_buf *out, const char *name, const char *utf8)
{
	struct hline h;
	hl_begin(&h, out, name);
	put_words(&h, utf8, W_TEXT);
	td_buf_puts(out, "\r\n");
}

void td_mime_header_mailbox(struct td_buf *out, const char *name,
			    const char *display, const char *addr)
{
	struct hline h;
	hl_begin(&h, out, name);
	if (display && *display) {
		put_words(&h, display, W_NAME);
		char *a = td_xasprintf("<%s>", addr);
		hl_put(&h, " ", 1, a, strlen(a));
		free(a);
	} else {
		hl_put(&h, " ", 1, addr, strlen(addr));
	}
	td_buf_puts(out, "\r\n");
}

/* RFC 2919: List-Id: [label] <list-id> */
static void header_list_id(struct td_buf *out, const char *label, const char *id)
{
	struct hline h;
	hl_begin(&h, out, "List-Id");
	if (label && *label)
		put_words(&h, label, W_LABEL);
	char *a = td_xasprintf("<%s>", id);
	hl_put(&h, " ", 1, a, strlen(a));
	free(a);
	td_buf_puts(out, "\r\n");
}

/* ---- input checks ------------------------------------------------------ */

static bool has_crlf(const char *s)
{
	return strpbrk(s, "\r\n") != NULL;
}

/* dot-atom-text: atext runs separated by single dots. */
static bool is_dot_atom(const char *s, size_t n)
{
	if (n == 0 || s[0] == '.' || s[n - 1] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '.') {
			if (s[i + 1] == '.')
				return false;
		} else if (!is_atext((unsigned char)s[i])) {
			return false;
		}
	}
	return true;
}

/* max 0: no limit */
static int check_text(const char *what, const char *s, bool required,
		      size_t max, struct td_err *err)
{
	if (!s) {
		if (required)
			return td_err_set(err, EX_DATAERR, "mime: %s: missing",
					  what);
		return 0;
	}
	if (has_crlf(s))
		return td_err_set(err, EX_DATAERR,
				  "mime: %s: contains CR or LF (header injection?)",
				  what);
	if (max && strlen(s) > max)
		return td_err_set(err, EX_DATAERR,
				  "mime: %s: longer than %zu bytes", what, max);
	return 0;
}

static int check_addr(const char *what, const char *addr, struct td_err *err)
{
	char why[128] = "";
	if (!addr)
		return td_err_set(err, EX_DATAERR, "mime: %s: missing", what);
	if (has_crlf(addr))
		return td_err_set(err, EX_DATAERR,
				  "mime: %s: contains CR or LF (header injection?)",
				  what);
	if (!td_address_valid(addr, why, sizeof why))
		return td_err_set(err, EX_DATAERR,
				  "mime: %s: invalid address: %s", what,
				  why[0] ? why : "rejected");
	return 0;
}

/* Display names and the List-Id label: the rule the subscriber file and
 * the config apply (address.h), so a name they accepted is never refused
 * here, where it would fail one subscriber's digest on every run. */
static int check_name(const char *what, const char *name, struct td_err *err)
{
	char why[96];
	if (name && !td_display_name_valid(name, why, sizeof why))
		return td_err_set(err, EX_DATAERR, "mime: %s: the name %s%s", what,
				  why, has_crlf(name) ? " (header injection?)" : "");
	return 0;
}

static int check_url(const char *url, struct td_err *err)
{
	int rc = check_text("unsubscribe_url", url, true, 0, err);
	if (rc)
		return rc;
	size_t skip;
	if (strncasecmp(url, "https://", 8) == 0)
		skip = 8;
	else if (strncasecmp(url, "http://", 7) == 0)
		skip = 7;
	else
		return td_err_set(err, EX_DATAERR,
				  "mime: unsubscribe_url: not an http(s) URL");
	size_t n = strlen(url);
	if (n == skip || url[skip] == '/')
		return td_err_set(err, EX_DATAERR,
				  "mime: unsubscribe_url: no host");
	if (n > URL_MAX)
		return td_err_set(err, EX_DATAERR,
				  "mime: unsubscribe_url: longer than %d bytes",
				  URL_MAX);
	/* It goes inside <...>: no whitespace, no brackets, ASCII only
	 * (RFC 3986 wants non-ASCII percent-encoded anyway). */
	for (const unsigned char *p = (const unsigned char *)url; *p; p++)
		if (*p <= 0x20 || *p >= 0x7F || *p == '<' || *p == '>')
			return td_err_set(err, EX_DATAERR,
					  "mime: unsubscribe_url: space, control, "
					  "'<', '>' or non-ASCII byte at offset %zu",
					  (size_t)(p - (const unsigned char *)url));
	return 0;
}

static int check_list_id(const char *id, struct td_err *err)
{
	int rc = check_text("list_id", id, true, 0, err);
	if (rc)
		return rc;
	/* RFC 2919: list-id is a dot-atom-text; that also rules out spaces,
	 * '<' and '>' which would break out of "<list_id>". */
	if (!is_dot_atom(id, strlen(id)) || strlen(id) > 255)
		return td_err_set(err, EX_DATAERR,
				  "mime: list_id: \"%.80s\" is not a dot-atom "
				  "(no spaces, '<', '>' or empty labels)", id);
	return 0;
}

static int check_message_id(const char *id, struct td_err *err)
{
	int rc = check_text("message_id", id, true, 0, err);
	if (rc)
		return rc;
	/* libetpan writes it verbatim between < and >; accept the shape
	 * td_mime_message_id makes: dot-atom "@" dot-atom. */
	const char *at = strrchr(id, '@');
	if (!at || strlen(id) > MSGID_MAX || !is_dot_atom(id, (size_t)(at - id)) ||
	    !is_dot_atom(at + 1, strlen(at + 1)))
		return td_err_set(err, EX_DATAERR,
				  "mime: message_id: \"%.80s\" is not "
				  "dot-atom@dot-atom (give it without <>)", id);
	return 0;
}

static int check_message(const struct td_mime_message *m, struct td_err *err)
{
	int rc;
	if ((rc = check_addr("from_addr", m->from_addr, err)) ||
	    (m->reply_to && (rc = check_addr("reply_to", m->reply_to, err))) ||
	    (rc = check_addr("to_addr", m->to_addr, err)) ||
	    (rc = check_name("from_name", m->from_name, err)) ||
	    (rc = check_name("to_name", m->to_name, err)) ||
	    (rc = check_text("subject", m->subject, true, 0, err)) ||
	    (rc = check_name("list_name", m->list_name, err)) ||
	    (m->list_id && (rc = check_list_id(m->list_id, err))) ||
	    (m->unsubscribe_url && (rc = check_url(m->unsubscribe_url, err))) ||
	    (rc = check_message_id(m->message_id, err)))
		return rc;
	if (m->unsubscribe_mailto && !m->unsubscribe_url)
		return td_err_set(err, EX_DATAERR, "mime: unsubscribe_mailto: "
				  "only beside an unsubscribe_url");
	if (m->unsubscribe_mailto &&
	    (rc = check_addr("unsubscribe_mailto", m->unsubscribe_mailto, err)))
		return rc;
	/* RFC 3834's values are keywords: no room for anything else */
	if (m->auto_submitted && strcmp(m->auto_submitted, "auto-generated") != 0 &&
	    strcmp(m->auto_submitted, "auto-replied") != 0)
		return td_err_set(err, EX_DATAERR, "mime: auto_submitted: "
				  "auto-generated or auto-replied");
	if (m->feedback_id) {
		/* Feedback-ID is "a:b:c:sender": keep it to printable ASCII
		 * without spaces, so it can never fold or inject. */
		if ((rc = check_text("feedback_id", m->feedback_id, true, 200, err)))
			return rc;
		for (const unsigned char *p = (const unsigned char *)m->feedback_id; *p; p++)
			if (*p <= ' ' || *p >= 0x7F)
				return td_err_set(err, EX_DATAERR, "mime: feedback_id: "
						  "only printable ASCII without spaces");
	}
	if (!m->text)
		return td_err_set(err, EX_DATAERR, "mime: text: missing");
	if (!m->html)
		return td_err_set(err, EX_DATAERR, "mime: html: missing");
	return 0;
}

/* ---- building with libetpan ------------------------------------------- */

/* libetpan reports out of memory as NULL; like td_xmalloc, we abort. */
static void *need(void *p)
{
	if (!p) {
		fprintf(stderr, "tagdigest: mime: out of memory in libetpan\n");
		abort();
	}
	return p;
}

static struct mailimf_date_time *utc_date(time_t t)
{
	struct tm g;
	if (!gmtime_r(&t, &g))
		return NULL;
	/* zone 0: libetpan prints it as "+0000" */
	return need(mailimf_date_time_new(g.tm_mday, g.tm_mon + 1,
					  g.tm_year + 1900, g.tm_hour,
					  g.tm_min, g.tm_sec, 0));
}

/* A text leaf whose body is already quoted-printable. The part borrows
 * qp: it must stay alive until the message has been written. */
static struct mailmime *qp_part(const char *ctype, const struct td_buf *qp)
{
	struct mailmime_content *ct = need(mailmime_content_new_with_str(ctype));
	struct mailmime_fields *mf = need(
		mailmime_fields_new_encoding(MAILMIME_MECHANISM_QUOTED_PRINTABLE));
	struct mailmime *part = need(mailmime_new_empty(ct, mf));
	part->mm_data.mm_single = need(mailmime_data_new_data(
		MAILMIME_MECHANISM_QUOTED_PRINTABLE, 1 /* already encoded */,
		td_buf_cstr(qp), qp->len));
	return part;
}

/*
 * multipart/alternative with a boundary of our own: mailmime_new_empty
 * would add one made from time, pid and an unseeded random(). "=_" can
 * never occur in quoted-printable ('=' is always followed by hex or a
 * line break), so the boundary cannot collide with either body.
 */
static struct mailmime *alternative(void)
{
	char hex[33], ctype[128];
	random_hex(hex, 16);
	snprintf(ctype, sizeof ctype,
		 "multipart/alternative; boundary=\"=_td_%s\"", hex);
	struct mailmime_content *ct = need(mailmime_content_new_with_str(ctype));
	struct mailmime_fields *mf = need(mailmime_fields_new_empty());
	clist *parts = need(clist_new());
	return need(mailmime_new(MAILMIME_MULTIPLE, NULL, 0, mf, ct, NULL, NULL,
				 NULL, parts, NULL, NULL));
}

static void add_custom(struct mailimf_fields *f, const char *name, char *value)
{
	struct mailimf_field *fld =
		need(mailimf_field_new_custom(td_xstrdup(name), value));
	if (mailimf_fields_add(f, fld) != MAILIMF_NO_ERROR)
		need(NULL);
}

/* The fields libetpan writes: Date, Message-ID and the List-Unsubscribe
 * family, whose values are single tokens it never needs to fold. */
static struct mailimf_fields *header_fields(const struct td_mime_message *m,
					    struct mailimf_date_time *date)
{
	struct mailimf_fields *f = need(mailimf_fields_new_with_data_all(
		date, NULL, NULL, NULL, NULL, NULL, NULL,
		td_xstrdup(m->message_id), NULL, NULL, NULL));
	if (m->auto_submitted)
		add_custom(f, "Auto-Submitted", td_xstrdup(m->auto_submitted));
	if (m->unsubscribe_url) {
		/* The subscriber's token goes into the mailto: subject, so a
		 * mail reply unsubscribes the same reader the URL would. */
		const char *token = strrchr(m->unsubscribe_url, '/');
		add_custom(f, "List-Unsubscribe",
			   m->unsubscribe_mailto ?
			   td_xasprintf("<%s>, <mailto:%s?subject=unsubscribe%%20%s>",
					m->unsubscribe_url, m->unsubscribe_mailto,
					token && token[1] ? token + 1 : "") :
			   td_xasprintf("<%s>", m->unsubscribe_url));
	}
	if (m->feedback_id)
		add_custom(f, "Feedback-ID", td_xstrdup(m->feedback_id));
	if (m->unsubscribe_url)
		add_custom(f, "List-Unsubscribe-Post",
			   td_xstrdup("List-Unsubscribe=One-Click"));
	return f;
}

/* The fields that carry people's text, written here (see "header
 * fields" above). */
static void own_headers(const struct td_mime_message *m, struct td_buf *out)
{
	td_mime_header_mailbox(out, "From", m->from_name, m->from_addr);
	if (m->reply_to)
		td_mime_header_mailbox(out, "Reply-To", NULL, m->reply_to);
	td_mime_header_mailbox(out, "To", m->to_name, m->to_addr);
	td_mime_header_text(out, "Subject", m->subject);
	if (m->list_id)
		header_list_id(out, m->list_name, m->list_id);
}

/* "Name: " CRLF: libetpan folded straight after the colon. */
static bool fold_after_colon(const char *line, size_t len)
{
	if (len < 5 || memcmp(line + len - 4, ": \r\n", 4) != 0)
		return false;
	for (size_t i = 0; i + 4 < len; i++)
		if (line[i] <= 32 || line[i] >= 127 || line[i] == ':')
			return false;
	return true;
}

/*
 * Appends the serialized message. libetpan folds in front of any value
 * word that would pass column 72, even the first: a List-Unsubscribe URL
 * with its token nearly always does, giving "List-Unsubscribe: " CRLF SP
 * "<url>". That is legal, but Python's email package and others then
 * report the value with a leading space, so such a fold in the top header
 * block is undone (the line stays far below RFC 5322's 998). No value can
 * produce that pattern itself: CR and LF were rejected up front.
 */
static int append_message(struct td_buf *out, const char *s, size_t n,
			  struct td_err *err)
{
	size_t start = out->len;
	size_t i = 0;
	bool headers = true;
	while (i < n) {
		const char *eol = memmem(s + i, n - i, "\r\n", 2);
		size_t end = eol ? (size_t)(eol - s) + 2 : n;
		size_t len = end - i;
		int rc;
		if (len == 2) {
			/* the header block ends here: the rest goes as it is */
			if (td_buf_append(out, s + i, n - i) < 0) {
				buf_truncate(out, start);
				return td_err_set(err, EX_DATAERR,
						  "mime: message of %zu bytes exceeds "
						  "the buffer limit", n);
			}
			return 0;
		}
		if (headers && end < n && s[end] == ' ' &&
		    fold_after_colon(s + i, len)) {
			rc = td_buf_append(out, s + i, len - 2);
			end++; /* and the continuation's leading SP */
		} else {
			rc = td_buf_append(out, s + i, len);
		}
		if (rc < 0) {
			buf_truncate(out, start);
			return td_err_set(err, EX_DATAERR,
					  "mime: message of %zu bytes exceeds "
					  "the buffer limit", n);
		}
		i = end;
	}
	return 0;
}

static void placeholder(struct td_buf *p, const char *which,
			const struct td_buf *body)
{
	char hex[33];
	random_hex(hex, 16);
	td_buf_printf(p, "=_td%s_%s", which, hex);
	if (body->len >= 2 && memcmp(body->data + body->len - 2, "\r\n", 2) == 0)
		td_buf_puts(p, "\r\n");
}

/* out += layout with each stand-in replaced by its body. */
static int splice_bodies(struct td_buf *out, const struct td_buf *layout,
			 const struct td_buf *ptext, const struct td_buf *qtext,
			 const struct td_buf *phtml, const struct td_buf *qhtml,
			 struct td_err *err)
{
	const char *l = td_buf_cstr(layout);
	const char *t = memmem(l, layout->len, ptext->data, ptext->len);
	const char *h = t ? memmem(t, layout->len - (size_t)(t - l), phtml->data,
				    phtml->len) : NULL;
	if (!t || !h)
		return td_err_set(err, EX_SOFTWARE, "mime: a body stand-in went "
				  "missing in libetpan's output");
	size_t start = out->len;
	/* one allocation for the whole message (the cap still applies) */
	(void)td_buf_reserve(out, layout->len + qtext->len + qhtml->len);
	if (td_buf_append(out, l, (size_t)(t - l)) < 0 ||
	    td_buf_append(out, td_buf_cstr(qtext), qtext->len) < 0 ||
	    td_buf_append(out, t + ptext->len, (size_t)(h - t - (ptrdiff_t)ptext->len)) < 0 ||
	    td_buf_append(out, td_buf_cstr(qhtml), qhtml->len) < 0 ||
	    td_buf_append(out, h + phtml->len,
			  layout->len - (size_t)(h - l) - phtml->len) < 0) {
		buf_truncate(out, start);
		return td_err_set(err, EX_DATAERR, "mime: message exceeds the buffer "
				  "limit");
	}
	return 0;
}

int td_mime_build(const struct td_mime_message *m, struct td_buf *out,
		  struct td_err *err)
{
	int rc = check_message(m, err);
	if (rc)
		return rc;
	struct mailimf_date_time *date = utc_date(m->date);
	if (!date)
		return td_err_set(err, EX_DATAERR, "mime: date: out of range");

	/* Encoded bodies: libetpan borrows them until mailmime_write_mem.
	 * These buffers have no cap, so encoding cannot fail; the caller's
	 * cap on out is checked when the message is appended. With a
	 * cache they are its own, kept from the message before. */
	struct td_mime_cache local = { .qtext = TD_BUF_INIT, .qhtml = TD_BUF_INIT,
				       .layout = TD_BUF_INIT };
	struct td_mime_cache *c = m->cache ? m->cache : &local;
	struct td_buf *qtext = &c->qtext, *qhtml = &c->qhtml, *layout_buf = &c->layout;
	td_buf_reset(qtext);
	td_buf_reset(qhtml);
	td_buf_reset(layout_buf);
	size_t tlen = strlen(m->text), hlen = strlen(m->html);
	/* room for the usual growth: soft breaks, a few escapes, CRs */
	td_buf_reserve(qtext, tlen + tlen / 8 + 64);
	td_buf_reserve(qhtml, hlen + hlen / 8 + 64);
	(void)td_qp_encode_memo(m->text, tlen, c->memo, qtext);
	(void)td_qp_encode_memo(m->html, hlen, c->memo, qhtml);

	/* libetpan lays out the headers and the multipart structure; the
	 * encoded bodies are spliced in afterwards in place of two unique
	 * stand-ins, because its writer copies data a byte at a time and
	 * that cost more than building the rest of the message. A stand-in
	 * ends in CRLF exactly when its body does, so libetpan frames both
	 * the same way. "=_" never occurs in quoted-printable output. */
	struct td_buf ptext = TD_BUF_INIT, phtml = TD_BUF_INIT;
	placeholder(&ptext, "t", qtext);
	placeholder(&phtml, "h", qhtml);

	struct mailmime *msg = need(mailmime_new_message_data(NULL));
	mailmime_set_imf_fields(msg, header_fields(m, date));
	struct mailmime *alt = alternative();
	if (mailmime_add_part(alt, qp_part("text/plain; charset=utf-8", &ptext)) ||
	    mailmime_add_part(alt, qp_part("text/html; charset=utf-8", &phtml)) ||
	    mailmime_add_part(msg, alt))
		need(NULL);

	MMAPString *s = need(mmap_string_new(""));
	int col = 0;
	int r = mailmime_write_mem(s, &col, msg);
	own_headers(m, layout_buf);
	if (r != MAILIMF_NO_ERROR)
		rc = td_err_set(err, EX_DATAERR,
				"mime: libetpan could not write the message "
				"(error %d)", r);
	else if (!(rc = append_message(layout_buf, s->str, s->len, err)))
		rc = splice_bodies(out, layout_buf, &ptext, qtext, &phtml, qhtml, err);

	mmap_string_free(s);
	mailmime_free(msg);
	td_buf_free(&ptext);
	td_buf_free(&phtml);
	td_buf_free(&local.qtext);
	td_buf_free(&local.qhtml);
	td_buf_free(&local.layout);
	return rc;
}
