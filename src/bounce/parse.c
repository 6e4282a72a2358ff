/*
 * parse: td_bounce_parse (report.h). Builds the td_bmsg view of one
 * message (bounce_impl.h) with libetpan's MIME parser, runs rfc.c,
 * scrape.c and classify.c on it, and writes the JSON.
 *
 * The message is hostile: it is cut at TD_BOUNCE_MAX_BYTES, NULs become
 * spaces (everything after is C strings), and libetpan only sees it when
 * its MIME nesting is shallow enough that the parser's recursion stays
 * small. Every string that leaves here goes through clean_line/clean_text:
 * valid UTF-8, no control characters.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libetpan/libetpan.h>

#include "bounce_impl.h"
#include "tagdigest/core/util.h"
#include "tagdigest/core/value.h"
#include "tagdigest/sources/html.h"

/* Deeper MIME nesting than any real bounce has: more is handed to nobody
 * (libetpan recurses once per level). */
#define MAX_MIME_CONTAINERS 64
#define MAX_WALK_DEPTH 16

/* Sisimai's reason names (its reason/ package, one file a reason). */
const char *const td_bounce_reasons[] = {
	"authfailure", "badreputation", "blocked", "contenterror", "delivered",
	"emailtoolarge", "exceedlimit", "expired", "failedstarttls",
	"feedback", "filtered", "hasmoved", "hostunknown", "mailboxfull",
	"mailererror", "mesgtoobig", "networkerror", "norelaying", "notaccept",
	"notcompliantrfc", "onhold", "policyviolation", "ratelimited",
	"rejected", "requireptr", "securityerror", "spamdetected", "speeding",
	"suppressed", "suspend", "syntaxerror", "systemerror", "systemfull",
	"toomanyconn", "undefined", "userunknown", "vacation", "virusdetected", NULL,
};

/* ---- strings safe to hand out ---------------------------------------- */

/* Windows-1252 for the bytes 0x80..0x9F that are not valid UTF-8: what an
 * undeclared 8-bit header most often is. 0 marks the five unassigned. */
static const uint16_t cp1252_c1[32] = {
	0x20AC, 0, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
	0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0, 0x017D, 0,
	0, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
	0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0, 0x017E, 0x0178,
};

/* s[0..n) as valid UTF-8 appended to b: an invalid byte is read as
 * windows-1252; C0 controls and DEL dropped, except LF when keep_lf; a tab
 * becomes a space; C1 controls dropped. */
static void put_clean(struct td_buf *b, const char *s, size_t n, bool keep_lf)
{
	for (size_t i = 0; i < n;) {
		uint32_t cp;
		size_t k = td_utf8_next(s + i, n - i, &cp);
		if (k == 0) {
			unsigned char c = (unsigned char)s[i];
			cp = c >= 0xA0 ? c : cp1252_c1[c - 0x80];
			k = 1;
			if (cp == 0) {
				i++;
				continue;
			}
		}
		i += k;
		if (cp == '\t' || (cp == '\n' && !keep_lf) || cp == '\r')
			cp = ' ';
		if ((cp == '\n' && keep_lf) || (!td_is_control(cp) && !(cp >= 0x80 && cp < 0xA0))) {
			if (cp < 0x80)
				td_buf_putc(b, (char)cp);
			else
				td_utf8_put(b, cp);
		}
	}
}

/* One line of text: clean, runs of spaces folded to one, trimmed. */
static char *clean_line(const char *s, size_t n)
{
	struct td_buf t = TD_BUF_INIT, b = TD_BUF_INIT;
	put_clean(&t, s, n, false);
	const char *p = td_buf_cstr(&t);
	while (*p == ' ')
		p++;
	for (; *p; p++) {
		if (*p == ' ' && (p[1] == ' ' || p[1] == '\0'))
			continue;
		td_buf_putc(&b, *p);
	}
	td_buf_free(&t);
	return td_buf_steal(&b);
}

static char *clean_text(const char *s, size_t n)
{
	struct td_buf b = TD_BUF_INIT;
	put_clean(&b, s, n, true);
	return td_buf_steal(&b);
}

void td_bounce_set(char **field, const char *value)
{
	char *v = clean_line(value ? value : "", value ? strlen(value) : 0);
	free(*field);
	*field = v;
}

struct td_bounce_recipient *td_bounce_add(struct td_bounce_report *r, const char *address)
{
	if (r->n >= TD_BOUNCE_MAX_RECIPIENTS)
		return NULL;
	r->v = td_xrealloc(r->v, (r->n + 1) * sizeof *r->v);
	struct td_bounce_recipient *rc = &r->v[r->n++];
	memset(rc, 0, sizeof *rc);
	td_bounce_set(&rc->address, address);
	rc->diagnostic = td_xstrdup("");
	rc->action = td_xstrdup("");
	return rc;
}

void td_bounce_report_free(struct td_bounce_report *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n; i++) {
		free(r->v[i].address);
		free(r->v[i].diagnostic);
		free(r->v[i].action);
	}
	free(r->v);
	free(r->feedback);
	memset(r, 0, sizeof *r);
}

/* ---- headers ----------------------------------------------------------- */

/* RFC 2047 words to UTF-8 through libetpan; the raw value when that fails. */
static char *decode_2047(const char *v)
{
	if (!strstr(v, "=?"))
		return clean_line(v, strlen(v));
	size_t idx = 0;
	char *dec = NULL;
	if (mailmime_encoded_phrase_parse("iso-8859-1", v, strlen(v), &idx, "utf-8", &dec) ==
		    MAILIMF_NO_ERROR && dec) {
		char *c = clean_line(dec, strlen(dec));
		free(dec);
		return c;
	}
	free(dec);
	return clean_line(v, strlen(v));
}

/* Length of a header field name at p (printable, no colon or space), 0
 * when the line is not a field. */
static size_t field_name_len(const char *p, const char *end)
{
	const char *q = p;
	while (q < end && *q != ':' && *q > ' ' && *q < 0x7F)
		q++;
	if (q == p || q >= end || *q != ':')
		return 0;
	return (size_t)(q - p);
}

/* The header section of s[0..n) (up to the first empty line) into hdr:
 * names as written, values unfolded and decoded. Lines that are neither
 * a field nor a continuation are skipped. Returns where the body starts. */
static size_t parse_header(const char *s, size_t n, struct td_bhdr **hdr, size_t *nhdr)
{
	size_t i = 0, cap = 0;
	struct td_buf val = TD_BUF_INIT;
	char *name = NULL;
	for (;;) {
		const char *line = s + i;
		const char *nl = i < n ? memchr(line, '\n', n - i) : NULL;
		size_t ll = nl ? (size_t)(nl - line) : n - i;
		bool end = i >= n || ll == 0;
		bool cont = !end && (line[0] == ' ' || line[0] == '\t');
		if (name && !cont) {
			if (*nhdr == cap) {
				cap = cap ? cap * 2 : 16;
				*hdr = td_xrealloc(*hdr, cap * sizeof **hdr);
			}
			(*hdr)[*nhdr].name = name;
			(*hdr)[*nhdr].value = decode_2047(td_buf_cstr(&val));
			(*nhdr)++;
			name = NULL;
			td_buf_reset(&val);
		}
		if (end) {
			i = nl ? i + ll + 1 : n;
			break;
		}
		if (cont) {
			if (name) {
				td_buf_putc(&val, ' ');
				td_buf_append(&val, line, ll);
			}
		} else {
			size_t k = field_name_len(line, line + ll);
			if (k) {
				name = clean_line(line, k);
				td_buf_append(&val, line + k + 1, ll - k - 1);
			}
		}
		i += ll + (nl ? 1 : 0);
	}
	td_buf_free(&val);
	return i;
}

const char *td_bmsg_get(const struct td_bmsg *m, const char *name)
{
	for (size_t i = 0; i < m->nhdr; i++)
		if (strcasecmp(m->hdr[i].name, name) == 0)
			return m->hdr[i].value;
	return NULL;
}

char *td_bmsg_returned_get(const struct td_bmsg *m, const char *name)
{
	size_t nl = strlen(name);
	for (const char *p = m->returned; p && *p;) {
		const char *e = strchr(p, '\n');
		size_t ll = e ? (size_t)(e - p) : strlen(p);
		if (ll > nl && p[nl] == ':' && strncasecmp(p, name, nl) == 0) {
			char *v = td_xstrndup(p + nl + 1, ll - nl - 1);
			char *d = decode_2047(v);
			free(v);
			return d;
		}
		p += ll + (e ? 1 : 0);
	}
	return NULL;
}

/* ---- MIME parts -------------------------------------------------------- */

static bool ct_is(const struct mailmime_content *ct, int type, const char *subtype)
{
	if (!ct || !ct->ct_type || !ct->ct_subtype)
		return false;
	const struct mailmime_type *t = ct->ct_type;
	if (t->tp_type == MAILMIME_TYPE_DISCRETE_TYPE) {
		if (!t->tp_data.tp_discrete_type ||
		    t->tp_data.tp_discrete_type->dt_type != type)
			return false;
	} else if (t->tp_type == MAILMIME_TYPE_COMPOSITE_TYPE) {
		if (!t->tp_data.tp_composite_type ||
		    t->tp_data.tp_composite_type->ct_type != type)
			return false;
	} else {
		return false;
	}
	return subtype == NULL || strcasecmp(ct->ct_subtype, subtype) == 0;
}

static const char *ct_param(const struct mailmime_content *ct, const char *name)
{
	if (!ct || !ct->ct_parameters)
		return NULL;
	for (clistiter *it = clist_begin(ct->ct_parameters); it; it = clist_next(it)) {
		const struct mailmime_parameter *p = clist_content(it);
		if (p && p->pa_name && p->pa_value && strcasecmp(p->pa_name, name) == 0)
			return p->pa_value;
	}
	return NULL;
}

/* The part's body, transfer-decoded, malloc'd (NUL-terminated). */
static char *part_body(const struct mailmime *mm, size_t *len)
{
	const struct mailmime_data *d = mm->mm_type == MAILMIME_SINGLE ? mm->mm_data.mm_single
								       : mm->mm_body;
	*len = 0;
	if (!d || d->dt_type != MAILMIME_DATA_TEXT || !d->dt_data.dt_text.dt_data)
		return td_xstrdup("");
	const char *s = d->dt_data.dt_text.dt_data;
	size_t n = d->dt_data.dt_text.dt_length;
	int enc = d->dt_encoding;
	if (d->dt_encoded && (enc == MAILMIME_MECHANISM_BASE64 ||
			      enc == MAILMIME_MECHANISM_QUOTED_PRINTABLE)) {
		size_t idx = 0, dl = 0;
		char *dec = NULL;
		if (mailmime_part_parse(s, n, &idx, enc, &dec, &dl) == MAILIMF_NO_ERROR && dec) {
			char *out = td_xstrndup(dec, dl);
			mmap_string_unref(dec);
			/* a NUL inside decoded text would end it early */
			for (size_t i = 0; i < dl; i++)
				if (out[i] == '\0')
					out[i] = ' ';
			*len = dl;
			return out;
		}
	}
	*len = n;
	return td_xstrndup(s, n);
}

/* Decoded body converted from the part's charset to UTF-8 (cleaned, LF
 * kept). ISO-2022-JP and the like go through libetpan's charconv. */
static char *part_text(const struct mailmime *mm)
{
	size_t n;
	char *body = part_body(mm, &n);
	const char *cs = ct_param(mm->mm_content_type, "charset");
	bool eight_bit = false;
	for (size_t i = 0; i < n && !eight_bit; i++)
		eight_bit = (unsigned char)body[i] >= 0x80;
	/* Labels that cannot be true: 8-bit bytes under a 7-bit charset.
	 * Valid UTF-8 is UTF-8 (whatever the label says: no other charset
	 * looks like it); Japanese MTAs write EUC-JP and call it ISO-2022-JP. */
	if (eight_bit && td_utf8_valid(body, n))
		cs = NULL;
	else if (eight_bit && cs && strncasecmp(cs, "iso-2022-jp", 11) == 0)
		cs = "euc-jp";
	if (cs && strcasecmp(cs, "utf-8") != 0 && strcasecmp(cs, "us-ascii") != 0) {
		char *conv = NULL;
		if (charconv("utf-8", cs, body, n, &conv) == MAIL_CHARCONV_NO_ERROR && conv) {
			free(body);
			body = conv;
			n = strlen(conv);
		} else {
			free(conv);
		}
	}
	char *t = clean_text(body, n);
	free(body);
	return t;
}

/* The header section of a returned message's raw text, one unfolded
 * field a line. */
static char *header_lines(const char *s, size_t n)
{
	struct td_bhdr *h = NULL;
	size_t nh = 0;
	/* a blank line or two before the header is common */
	while (n && (*s == '\n' || *s == ' ' || *s == '\t')) {
		s++;
		n--;
	}
	parse_header(s, n, &h, &nh);
	struct td_buf b = TD_BUF_INIT;
	for (size_t i = 0; i < nh; i++) {
		td_buf_printf(&b, "%s: %s\n", h[i].name, h[i].value);
		free(h[i].name);
		free(h[i].value);
	}
	free(h);
	return td_buf_steal(&b);
}

struct walk {
	struct td_bmsg *m;
	char *html;           /* first text/html, as a fallback for text */
};

static bool is_report_part(const struct mailmime *mm)
{
	const struct mailmime_content *ct = mm->mm_content_type;
	if (ct_is(ct, MAILMIME_COMPOSITE_TYPE_MESSAGE, "delivery-status") ||
	    ct_is(ct, MAILMIME_COMPOSITE_TYPE_MESSAGE, "global-delivery-status") ||
	    ct_is(ct, MAILMIME_COMPOSITE_TYPE_MESSAGE, "feedback-report"))
		return true;
	if (!ct || !ct->ct_subtype)
		return false;
	/* some MTAs send the fields as text/plain named "delivery-status" */
	const char *name = ct_param(ct, "name");
	if (ct_is(ct, MAILMIME_DISCRETE_TYPE_TEXT, NULL) && name &&
	    strncasecmp(name, "delivery-status", 15) == 0)
		return true;
	return ct_is(ct, MAILMIME_DISCRETE_TYPE_TEXT, "delivery-status") ||
	       ct_is(ct, MAILMIME_COMPOSITE_TYPE_MESSAGE, "x-delivery-status");
}

static bool is_returned_part(const struct mailmime *mm)
{
	const struct mailmime_content *ct = mm->mm_content_type;
	return ct_is(ct, MAILMIME_COMPOSITE_TYPE_MESSAGE, "rfc822") ||
	       ct_is(ct, MAILMIME_COMPOSITE_TYPE_MESSAGE, "rfc822-headers") ||
	       ct_is(ct, MAILMIME_COMPOSITE_TYPE_MESSAGE, "global") ||
	       ct_is(ct, MAILMIME_COMPOSITE_TYPE_MESSAGE, "global-headers") ||
	       ct_is(ct, MAILMIME_DISCRETE_TYPE_TEXT, "rfc822-headers");
}

static void walk(struct walk *w, const struct mailmime *mm, int depth, bool want_text);

/* A multipart whose boundary parameter libetpan did not see (written on
 * a continuation line without leading whitespace, as Verizon's gateway
 * does) comes back as one part. Its first "--" line gives the boundary:
 * the body is parsed again under a header that says it. */
static void walk_lost_boundary(struct walk *w, const struct mailmime *mm, int depth,
			       bool want_text)
{
	size_t n;
	char *body = part_body(mm, &n);
	const char *p = body;
	while (*p && !(p[0] == '-' && p[1] == '-' && (p == body || p[-1] == '\n'))) {
		const char *nl = strchr(p, '\n');
		p = nl ? nl + 1 : p + strlen(p);
	}
	size_t bl = strcspn(p, "\n");
	if (*p && bl > 2 && bl < 72 && !memchr(p + 2, '"', bl - 2)) {
		char *sub = td_xasprintf("Content-Type: multipart/mixed; boundary=\"%.*s\"\n\n%s",
					 (int)(bl - 2), p + 2, body);
		struct mailmime *mime = NULL;
		size_t idx = 0;
		if (mailmime_parse(sub, strlen(sub), &idx, &mime) == MAILIMF_NO_ERROR && mime) {
			/* the message around the multipart is no returned message */
			if (mime->mm_type == MAILMIME_MESSAGE)
				walk(w, mime->mm_data.mm_message.mm_msg_mime, depth + 1, want_text);
			mailmime_free(mime);
		}
		free(sub);
	}
	free(body);
}

static void walk(struct walk *w, const struct mailmime *mm, int depth, bool want_text)
{
	if (!mm || depth > MAX_WALK_DEPTH)
		return;
	struct td_bmsg *m = w->m;
	const struct mailmime_content *ct = mm->mm_content_type;
	if (depth > 0 && is_report_part(mm)) {
		if (!m->report_part) {
			size_t n;
			char *b = part_body(mm, &n);
			m->report_part = clean_text(b, n);
			free(b);
		}
		return;
	}
	if (depth > 0 && is_returned_part(mm)) { /* depth 0: the message itself */
		if (!*m->returned) {
			size_t n;
			char *b = part_body(mm, &n);
			free(m->returned);
			m->returned = header_lines(b, n);
			free(b);
		}
		return;
	}
	switch (mm->mm_type) {
	case MAILMIME_MULTIPLE: {
		bool report = ct_is(ct, MAILMIME_COMPOSITE_TYPE_MULTIPART, "report");
		if (report && !m->report_type) {
			const char *rt = ct_param(ct, "report-type");
			if (rt) {
				m->report_type = clean_line(rt, strlen(rt));
				for (char *p = m->report_type; *p; p++)
					*p = (char)tolower((unsigned char)*p);
			}
		}
		if (!mm->mm_data.mm_multipart.mm_mp_list)
			return;
		int i = 0;
		for (clistiter *it = clist_begin(mm->mm_data.mm_multipart.mm_mp_list); it;
		     it = clist_next(it), i++)
			/* of a report, only the first part is for people */
			walk(w, clist_content(it), depth + 1, want_text && (!report || i == 0));
		return;
	}
	case MAILMIME_MESSAGE:
		walk(w, mm->mm_data.mm_message.mm_msg_mime, depth + 1, want_text);
		return;
	case MAILMIME_SINGLE:
		if (ct_is(ct, MAILMIME_COMPOSITE_TYPE_MULTIPART, NULL)) {
			walk_lost_boundary(w, mm, depth, want_text);
			return;
		}
		if (!want_text)
			return;
		if (!ct || ct_is(ct, MAILMIME_DISCRETE_TYPE_TEXT, "plain")) {
			if (!*m->text) {
				free(m->text);
				m->text = part_text(mm);
			}
		} else if (ct_is(ct, MAILMIME_DISCRETE_TYPE_TEXT, "html") && !w->html) {
			w->html = part_text(mm);
		}
		return;
	default:
		return;
	}
}

/* Lines that open a multipart or an encapsulated message: the depth
 * libetpan's recursion could reach. */
static size_t count_containers(const char *s, size_t n)
{
	size_t c = 0;
	for (size_t i = 0; i + 14 < n; i++) {
		if ((i == 0 || s[i - 1] == '\n') && strncasecmp(s + i, "content-type:", 13) == 0) {
			const char *p = s + i + 13;
			while (p < s + n && (*p == ' ' || *p == '\t' || *p == '\n'))
				p++;
			if ((size_t)(s + n - p) > 9 &&
			    (strncasecmp(p, "multipart", 9) == 0 || strncasecmp(p, "message/", 8) == 0))
				c++;
		}
	}
	return c;
}

/* A report part libetpan did not see (the multipart's boundary parameter
 * does not match the one in the body, as some MTAs write it): the lines
 * after a "Content-Type: message/delivery-status" (or feedback-report)
 * part header, up to the next boundary line. NULL when there is none. */
static char *scan_report_part(const char *s, size_t n)
{
	static const char *const types[] = {
		"message/delivery-status", "message/global-delivery-status",
		"message/feedback-report", NULL,
	};
	for (size_t i = 0; i + 13 < n; i++) {
		if (!((i == 0 || s[i - 1] == '\n') && strncasecmp(s + i, "content-type:", 13) == 0))
			continue;
		const char *p = s + i + 13;
		while (p < s + n && (*p == ' ' || *p == '\t'))
			p++;
		size_t k = 0;
		for (; types[k]; k++)
			if ((size_t)(s + n - p) >= strlen(types[k]) &&
			    strncasecmp(p, types[k], strlen(types[k])) == 0)
				break;
		if (!types[k])
			continue;
		const char *b = strstr(p, "\n\n");
		if (!b)
			return NULL;
		b += 2;
		const char *e = b;
		while (*e && !(e[0] == '-' && e[1] == '-' && (e == b || e[-1] == '\n')))
			e++;
		return clean_text(b, (size_t)(e - b));
	}
	return NULL;
}

/* ---- the message ------------------------------------------------------- */

static void bmsg_free(struct td_bmsg *m)
{
	if (m->mime)
		mailmime_free(m->mime);
	for (size_t i = 0; i < m->nhdr; i++) {
		free(m->hdr[i].name);
		free(m->hdr[i].value);
	}
	free(m->hdr);
	free(m->text);
	free(m->returned);
	free(m->report_part);
	free(m->report_type);
	free((char *)m->raw);
}

/* raw as the steps see it: "From " line skipped, cut at the cap, CRLF to
 * LF, NUL to space. */
static char *normalize(const char *raw, size_t len, size_t *outlen)
{
	if (len >= 5 && memcmp(raw, "From ", 5) == 0) {
		const char *nl = memchr(raw, '\n', len);
		size_t skip = nl ? (size_t)(nl - raw) + 1 : len;
		raw += skip;
		len -= skip;
	}
	if (len > TD_BOUNCE_MAX_BYTES)
		len = TD_BOUNCE_MAX_BYTES;
	char *s = td_xmalloc(len + 1);
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		char c = raw[i];
		if (c == '\r' && i + 1 < len && raw[i + 1] == '\n')
			continue;
		s[o++] = c == '\0' ? ' ' : c;
	}
	s[o] = '\0';
	*outlen = o;
	return s;
}

static bool is_standard_reason(const char *r)
{
	return r && (strcmp(r, "feedback") == 0 || strcmp(r, "vacation") == 0 ||
		     strcmp(r, "delivered") == 0);
}

int td_bounce_parse(const char *raw, size_t len, struct td_bounce_report *out,
		    struct td_err *err)
{
	(void)err; /* out of memory aborts (util.h) */
	memset(out, 0, sizeof *out);
	struct td_bmsg m;
	memset(&m, 0, sizeof m);
	size_t n;
	char *s = normalize(raw ? raw : "", raw ? len : 0, &n);
	m.raw = s;
	m.len = n;
	m.text = td_xstrdup("");
	m.returned = td_xstrdup("");
	size_t body = parse_header(s, n, &m.hdr, &m.nhdr);

	if (count_containers(s, n) <= MAX_MIME_CONTAINERS) {
		size_t idx = 0;
		if (mailmime_parse(s, n, &idx, &m.mime) != MAILIMF_NO_ERROR)
			m.mime = NULL;
	}
	struct walk w = { &m, NULL };
	if (m.mime)
		walk(&w, m.mime, 0, true);
	if (!*m.text && w.html) {
		free(m.text);
		m.text = td_html_to_text(w.html, strlen(w.html));
		char *c = clean_text(m.text, strlen(m.text));
		free(m.text);
		m.text = c;
	}
	free(w.html);
	if (!m.report_part)
		m.report_part = scan_report_part(s + body, n - body);
	if (!m.mime) /* no MIME view: the body is the text */ {
		free(m.text);
		m.text = clean_text(s + body, n - body);
	}

	td_bounce_rfc(&m, out);
	td_bounce_scrape(&m, out);
	for (size_t i = 0; i < out->n; i++) {
		struct td_bounce_recipient *rc = &out->v[i];
		/* rfc.c names the three outcomes that are not failures itself */
		if (!is_standard_reason(rc->reason))
			td_bounce_classify(&m, rc);
		if (!rc->reason)
			rc->reason = "undefined";
		if (!is_standard_reason(rc->reason))
			out->bounce = true;
	}
	bmsg_free(&m);
	return 0;
}

/* ---- JSON -------------------------------------------------------------- */

static void json_or_null(struct td_buf *b, const char *s)
{
	if (s && *s)
		td_value_json_string(s, b);
	else
		td_buf_puts(b, "null");
}

int td_bounce_report_json(const struct td_bounce_report *r, struct td_buf *out)
{
	td_buf_printf(out, "{\"bounce\": %s, \"feedback\": ", r->bounce ? "true" : "false");
	if (r->feedback) {
		td_buf_puts(out, "{\"type\": ");
		td_value_json_string(r->feedback, out);
		td_buf_putc(out, '}');
	} else {
		td_buf_puts(out, "null");
	}
	td_buf_puts(out, ", \"recipients\": [");
	for (size_t i = 0; i < r->n; i++) {
		const struct td_bounce_recipient *rc = &r->v[i];
		td_buf_puts(out, i ? ", {\"address\": " : "{\"address\": ");
		td_value_json_string(rc->address ? rc->address : "", out);
		td_buf_puts(out, ", \"status\": ");
		json_or_null(out, rc->status);
		td_buf_puts(out, ", \"reply_code\": ");
		json_or_null(out, rc->reply_code);
		td_buf_puts(out, ", \"reason\": ");
		td_value_json_string(rc->reason ? rc->reason : "undefined", out);
		td_buf_printf(out, ", \"hard\": %s}", rc->hard ? "true" : "false");
	}
	td_buf_puts(out, "]}\n");
	return 0;
}
