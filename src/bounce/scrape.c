/*
 * scrape: the non-standard bounce formats (bounce_impl.h).
 *
 * The MTAs that do not write RFC 3464 (qmail, Exim, old Sendmail and
 * Postfix, Exchange 2003, Domino, Gmail, Yahoo, mail.ru, ...) still write
 * the same things in their text: a sentence that opens the list of failed
 * addresses ("The following address(es) failed:"), one line per recipient
 * that starts with its address (bare, in <>, in quotes, after a label such
 * as "Recipient address:" or an SMTP code), the server's words under it,
 * and a line that opens the copy of the returned message. So a format is a
 * row of the table below (the sentence, and whether the words sit on the
 * recipient's own line), and one walk over the text reads them all.
 *
 * Order of evidence, each used only when the one before found nothing:
 * the recipient lines after a format's opening sentence (or the address
 * in the sentence itself); the recipient lines of the whole text; the
 * X-Failed-Recipients header; the returned message's To. Amazon SES's
 * JSON notifications have their own small reader. Nothing is read from a
 * message that is not from a mail system (a null Return-Path, a daemon's
 * From, a bounce's Subject, X-Failed-Recipients) unless a format's
 * sentence and a returned message are both there: ordinary mail quotes
 * bounces too.
 *
 * When rfc.c found recipients but not the server's words, each takes
 * the words the text gives its own address.
 *
 * The text is hostile: every walk is bounded by its length and by
 * SCAN_MAX bytes, and what reaches the report goes through one_line(),
 * which leaves valid UTF-8 without control characters.
 *
 * Reason and status derivation are classify.c's: here only a status or a
 * reply code the text itself writes is copied.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bounce_impl.h"
#include "tagdigest/core/address.h"
#include "tagdigest/core/buf.h"
#include "tagdigest/core/util.h"

/* A bounce's human part is a few kilobytes; past this it is something
 * else (a returned message, an attack) and not worth the walk. */
#define SCAN_MAX (256u * 1024u)
/* A server's words about one recipient: enough for a multi-line SMTP
 * reply, short enough to stay one readable line. */
#define DIAG_LINES 24
#define DIAG_MAX 1024
#define ADDR_MAX 256

struct span {
	const char *p;
	size_t n;
};

enum {
	/* A transcript: a recipient's words are the exchange written above
	 * its line and the rest of the line (Sendmail's "While talking to
	 * ... <<< 550 Relaying denied" then "554 <a@b>... reason"); the
	 * RCPT TO lines of the exchange are not the list. */
	F_SAMELINE = 1,
	/* The opening sentence says what happened ("... failed
	 * permanently", "... has been delayed"): part of every
	 * recipient's words. */
	F_OPENING = 2,
	/* Only the opening sentence names a recipient; the addresses under
	 * it are instructions (fml: "send mail to the address ..."). */
	F_INLINE = 4,
};

struct format {
	const char *name;
	const char *opens[5];  /* lowercase; a line containing one opens
				* the list of recipients */
	unsigned flags;
	const char *error;     /* lowercase; when set, the line holding it
				* opens the words for every recipient */
};

/* Each sentence is what the MTA writes (its source, or its bounces in
 * the Sisimai corpus); lowercase, matched case-insensitively within a
 * line. The first line that holds any of them decides the format. */
static const struct format formats[] = {
	{ .name = "qmail",
	  .opens = { "wasn't able to deliver your message to the following",
		     "unable to deliver your message to the following",
		     "unable to deliver message to the following" } },
	{ .name = "exim",
	  .opens = { "could not be delivered to one or more",
		     "could not be delivered to all of its recipients",
		     "has not yet been delivered to one or more",
		     "the following address(es) failed" } },
	{ .name = "gmail", .flags = F_OPENING,
	  .opens = { "delivery to the following recipient" } },
	{ .name = "exchange2003",
	  .opens = { "did not reach the following recipient" } },
	{ .name = "domino", .opens = { "was not delivered to:" } },
	{ .name = "notes", .opens = { "------- failure reasons" } },
	{ .name = "sendmail", .flags = F_SAMELINE,
	  .opens = { "----- transcript of session follows" } },
	{ .name = "sendmail-list",
	  .opens = { "following addresses had permanent fatal errors",
		     "following addresses had delivery problems",
		     "following addresses had permanent delivery errors" } },
	{ .name = "opensmtpd", .opens = { "the following list of recipients" } },
	{ .name = "messagingserver",
	  .opens = { "cannot be delivered to the following recipients" } },
	{ .name = "ezweb",
	  .opens = { "each of the following recipients was rejected" } },
	{ .name = "dragonfly",
	  .opens = { "there was an error delivering your mail to" } },
	{ .name = "imailserver",
	  .opens = { "undeliverable to ", "unknown user: ",
		     "invalid final delivery userid: ",
		     "mailbox exceeds allowed size: ", "unknown host: " } },
	{ .name = "kddi", .opens = { "could not be delivered to: " } },
	{ .name = "interscan", .opens = { "unable to deliver message to <" } },
	{ .name = "mailfoundry", .opens = { "unable to deliver message to:" } },
	{ .name = "mailmarshal",
	  .opens = { "the following recipients were affected" },
	  .error = "could not be delivered because of" },
	{ .name = "x6",
	  .opens = { "following recipients returned permanent errors:",
		     "rejected recipient <" } },
	{ .name = "apachejames", .opens = { "message details:" } },
	/* a mailing list manager refusing a post: the list's address */
	{ .name = "fml", .flags = F_INLINE,
	  .opens = { "you are not a member of this mailing list <",
		     "not member article from <",
		     "duplicated message-id in <" } },
};

/* A line containing one of these opens the copy of the returned message
 * (or its headers): the list of recipients is over. Lowercase. */
static const char *const closers[] = {
	"below this line is a copy of the m",
	"below the next line is a copy of the m",
	"this is a copy of the message",
	"original message follows",
	"----- original message -----",
	"----- message header follows -----",
	"below is a copy of the original message",
	"message headers follow",
	"unsent message follows",
	"no message was collected",
	"header of the original message is following",
	"enclosed is a copy of the message",
	"------- returned message",
	"original mail as follows",
	"-------original message",
	"-------original mail info",
	"included is a copy of the message header",
	"original message headers",
	"the attachment contains the original mail headers",
	"------ this is a copy of the message's headers",
	"original message:",
	"no action is required on your part", /* Exim's warning, after the list */
};

/* Labels a recipient line may start with. Lowercase. */
static const char *const labels[] = {
	"final-recipient:", "recipient address:", "recipient:",
	"address:", "to address:",
};

/* Local parts (and SES's sender) that send bounces. Lowercase. */
static const char *const daemons[] = {
	"mailer-daemon", "postmaster", "post_master", "mail-daemon",
	"mailerdaemon", "mail.delivery.system", "mdaemon",
};

/* Words of a bounce's Subject. Lowercase. */
static const char *const subjects[] = {
	"undeliver", "undelivered", "delivery fail", "delivery status notification",
	"failure notice", "returned mail", "mail delivery failed",
	"delivery failure", "could not be delivered", "non remis",
	"non recapitabile", "mail system error", "failed delivery",
	"failure delivery", "error sending your mail", "delivery notification",
	"delivery has failed", "returned to sender", "warning: message",
	"delayed mail",
};

/* ---- small text helpers ---- */

static int lower(int c)
{
	return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
}

/* Offset of lowercase needle in s[0..n) ignoring ASCII case, or -1. */
static long ci_find(const char *s, size_t n, const char *needle)
{
	size_t k = strlen(needle);
	if (k == 0 || k > n)
		return k == 0 ? 0 : -1;
	for (size_t i = 0; i + k <= n; i++) {
		size_t j = 0;
		while (j < k && lower((unsigned char)s[i + j]) == needle[j])
			j++;
		if (j == k)
			return (long)i;
	}
	return -1;
}

static bool ci_prefix(const char *s, size_t n, const char *prefix)
{
	size_t k = strlen(prefix);
	if (k > n)
		return false;
	for (size_t i = 0; i < k; i++)
		if (lower((unsigned char)s[i]) != prefix[i])
			return false;
	return true;
}

/* The line at *pos in [text, end), without its LF; advances *pos. */
static bool next_line(const char *text, size_t end, size_t *pos, struct span *l)
{
	if (*pos >= end)
		return false;
	const char *p = text + *pos;
	const char *nl = memchr(p, '\n', end - *pos);
	size_t n = nl ? (size_t)(nl - p) : end - *pos;
	l->p = p;
	l->n = n;
	*pos += n + (nl ? 1 : 0);
	return true;
}

static void skip_ws(struct span *s)
{
	while (s->n && (s->p[0] == ' ' || s->p[0] == '\t' || s->p[0] == '\r')) {
		s->p++;
		s->n--;
	}
}

static bool blank(struct span l)
{
	skip_ws(&l);
	return l.n == 0;
}

/* Appends s to b as part of one line: runs of white space and control
 * characters become one space, invalid UTF-8 is dropped. */
static void one_line(struct td_buf *b, const char *s, size_t n)
{
	size_t i = 0;
	while (i < n && b->len < DIAG_MAX) {
		uint32_t cp;
		size_t k = td_utf8_next(s + i, n - i, &cp);
		if (k == 0) {
			i++;
			continue;
		}
		if (cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r' ||
		    td_is_control(cp) || (cp >= 0x80 && cp < 0xA0)) {
			if (b->len && b->data[b->len - 1] != ' ')
				td_buf_putc(b, ' ');
		} else {
			td_buf_append(b, s + i, k);
		}
		i += k;
	}
}

static char *finish_line(struct td_buf *b)
{
	while (b->len && b->data[b->len - 1] == ' ')
		b->data[--b->len] = '\0';
	return td_buf_steal(b);
}

/* ---- addresses ---- */

static bool local_char(int c)
{
	return isalnum(c) || (c && strchr(".!#$%&'*+/=?^_`{|}~-", c));
}

static bool domain_char(int c)
{
	return isalnum(c) || c == '.' || c == '-';
}

/* The address starting exactly at s (local@domain, ASCII, valid for
 * address.h), copied to out; returns the bytes it took, 0 if none. */
static size_t addr_at(const char *s, size_t n, char *out)
{
	size_t i = 0;
	while (i < n && local_char((unsigned char)s[i]))
		i++;
	if (i == 0 || i >= n || s[i] != '@')
		return 0;
	size_t at = i++;
	while (i < n && domain_char((unsigned char)s[i]))
		i++;
	size_t end = i;
	while (end > at + 1 && (s[end - 1] == '.' || s[end - 1] == '-'))
		end--;
	if (end == at + 1 || end >= ADDR_MAX)
		return 0;
	memcpy(out, s, end);
	out[end] = '\0';
	if (!td_address_valid(out, NULL, 0) || !strchr(out + at + 1, '.'))
		return 0;
	return end;
}

/* The first address in s (bare or in <>), anywhere; its end in *after. */
static bool addr_in(struct span s, char *out, struct span *after)
{
	for (size_t i = 0; i < s.n; i++) {
		if (s.p[i] != '@' || i == 0)
			continue;
		size_t b = i;
		while (b > 0 && local_char((unsigned char)s.p[b - 1]))
			b--;
		size_t k = addr_at(s.p + b, s.n - b, out);
		if (k) {
			after->p = s.p + b + k;
			after->n = s.n - b - k;
			return true;
		}
	}
	return false;
}

/* A recipient line: after white space, an optional label and an
 * optional SMTP code before "<", the address (bare, "<a@b>" or "\"a@b\"")
 * opens the line and what follows it is nothing, a separator or a space.
 * The rest (the words on the same line) goes to *rest. */
static bool rcpt_line(struct span l, bool transcript, char *addr, struct span *rest)
{
	skip_ws(&l);
	/* quoting of a forwarded bounce ("> "), Sendmail's ">>> " and
	 * bullets ("* ") */
	while (l.n >= 2 && strchr(">*-", l.p[0]) && (l.p[1] == ' ' || l.p[1] == '>')) {
		l.p++;
		l.n--;
		skip_ws(&l);
	}
	/* an SMTP transcript names the recipient it sent ("In:  RCPT
	 * TO:<a@b>", "Sent <<< RCPT TO:<a@b>") */
	long rcpt = transcript ? ci_find(l.p, l.n, "rcpt to:") : -1;
	if (rcpt >= 0) {
		struct span t = { l.p + rcpt + 8, l.n - (size_t)rcpt - 8 };
		skip_ws(&t);
		bool angle = t.n && t.p[0] == '<';
		size_t k = addr_at(t.p + angle, t.n - angle, addr);
		if (k && (!angle || (k + 1 < t.n && t.p[k + 1] == '>'))) {
			rest->p = t.p + k + 2 * angle;
			rest->n = 0;
			return true;
		}
	}
	for (size_t i = 0; i < sizeof labels / sizeof *labels; i++) {
		if (ci_prefix(l.p, l.n, labels[i])) {
			size_t k = strlen(labels[i]);
			l.p += k;
			l.n -= k;
			skip_ws(&l);
			if (ci_prefix(l.p, l.n, "rfc822;")) {
				l.p += 7;
				l.n -= 7;
				skip_ws(&l);
			}
			break;
		}
	}
	if (l.n > 4 && isdigit((unsigned char)l.p[0]) && isdigit((unsigned char)l.p[1]) &&
	    isdigit((unsigned char)l.p[2]) && l.p[3] == ' ' && l.p[4] == '<') {
		l.p += 4;
		l.n -= 4;
	}
	char close = 0;
	if (l.n && (l.p[0] == '<' || l.p[0] == '"')) {
		close = l.p[0] == '<' ? '>' : '"';
		l.p++;
		l.n--;
	}
	size_t k = addr_at(l.p, l.n, addr);
	if (!k)
		return false;
	l.p += k;
	l.n -= k;
	if (close) {
		if (!l.n || l.p[0] != close)
			return false;
		l.p++;
		l.n--;
	}
	if (l.n && !strchr(":.,; \t\r>", l.p[0]))
		return false;
	while (l.n && strchr(":.,; \t\r>\"", l.p[0])) {
		l.p++;
		l.n--;
	}
	*rest = l;
	return true;
}

static bool has_recipient(const struct td_bounce_report *r, const char *addr)
{
	for (size_t i = 0; i < r->n; i++)
		if (strcasecmp(r->v[i].address, addr) == 0)
			return true;
	return false;
}

/* ---- codes written in the text ---- */

/* The first RFC 3463 status ("5.1.1") in s: class 2, 4 or 5, not part
 * of a longer number or an IP address. */
static bool find_status_of(const char *s, const char *classes, char out[16])
{
	for (size_t i = 0; s[i]; i++) {
		if (!strchr(classes, s[i]) || s[i + 1] != '.')
			continue;
		if (i > 0 && (isalnum((unsigned char)s[i - 1]) || s[i - 1] == '.'))
			continue;
		size_t j = i + 2, d1 = 0, d2 = 0;
		while (isdigit((unsigned char)s[j]) && d1 < 4) {
			j++;
			d1++;
		}
		if (!d1 || d1 > 3 || s[j] != '.')
			continue;
		j++;
		while (isdigit((unsigned char)s[j]) && d2 < 4) {
			j++;
			d2++;
		}
		if (!d2 || d2 > 3 || isalnum((unsigned char)s[j]) ||
		    (s[j] == '.' && isdigit((unsigned char)s[j + 1])))
			continue;
		memcpy(out, s + i, j - i);
		out[j - i] = '\0';
		return true;
	}
	return false;
}

/* The first SMTP reply code ("550") in s: three digits, 2xx/4xx/5xx,
 * standing alone and followed by a space, "-" or the end. */
static bool find_reply_of(const char *s, const char *classes, char out[4])
{
	for (size_t i = 0; s[i]; i++) {
		if (!strchr(classes, s[i]) || !isdigit((unsigned char)s[i + 1]) ||
		    !isdigit((unsigned char)s[i + 2]))
			continue;
		if (i > 0 && (isalnum((unsigned char)s[i - 1]) || strchr(".:#/-", s[i - 1])))
			continue;
		char c = s[i + 3];
		if (c != ' ' && c != '-' && c != '\0')
			continue;
		if (c == '-' && !isdigit((unsigned char)s[i + 4]) && s[i + 4] != ' ')
			continue;
		memcpy(out, s + i, 3);
		out[3] = '\0';
		return true;
	}
	return false;
}

/* A failure code wins over a success one written before it (a transcript
 * says "250 2.1.5 Ok" before "451 4.3.0 Error"). */
static bool find_status(const char *s, char out[16])
{
	return find_status_of(s, "45", out) || find_status_of(s, "2", out);
}

static bool find_reply(const char *s, char out[4])
{
	return find_reply_of(s, "45", out) || find_reply_of(s, "2", out);
}

/* Gives rc the diagnostic d (taken) and the codes written in it, where
 * rfc.c left them empty. */
static void set_diagnostic(struct td_bounce_recipient *rc, char *d)
{
	if (!rc->diagnostic || !*rc->diagnostic)
		td_bounce_set(&rc->diagnostic, d);
	if (!rc->status[0])
		find_status(rc->diagnostic, rc->status);
	if (!rc->reply_code[0])
		find_reply(rc->diagnostic, rc->reply_code);
	free(d);
}

/* ---- the walk ---- */

static bool is_closer(struct span l)
{
	/* the returned header, written into the text without a line that
	 * announces it */
	if (ci_prefix(l.p, l.n, "received:") || ci_prefix(l.p, l.n, "return-path:"))
		return true;
	for (size_t i = 0; i < sizeof closers / sizeof *closers; i++)
		if (ci_find(l.p, l.n, closers[i]) >= 0)
			return true;
	return false;
}

/* Which format opens its list in the text, and the offset of the line
 * holding the sentence; NULL when none does. */
static const struct format *find_format(const char *text, size_t end, size_t *at)
{
	size_t pos = 0;
	struct span l;
	while (next_line(text, end, &pos, &l)) {
		if (is_closer(l))
			break;
		for (size_t f = 0; f < sizeof formats / sizeof *formats; f++)
			for (size_t i = 0; i < 5 && formats[f].opens[i]; i++)
				if (ci_find(l.p, l.n, formats[f].opens[i]) >= 0) {
					*at = (size_t)(l.p - text);
					return &formats[f];
				}
	}
	return NULL;
}

/* A line of one repeated mark ("-----", "=====", "*****"): layout. */
static bool is_rule(struct span l)
{
	skip_ws(&l);
	if (l.n < 5 || isalnum((unsigned char)l.p[0]))
		return false;
	for (size_t i = 1; i < l.n; i++)
		if (l.p[i] != l.p[0] && l.p[i] != ' ' && l.p[i] != '\r')
			return false;
	return true;
}

/* The offset of the line after the one at text[at]. */
static size_t line_after(const char *text, size_t at, size_t end)
{
	const char *nl = memchr(text + at, '\n', end - at);
	return nl ? (size_t)(nl - text) + 1 : end;
}

/* The words of text[start..end) up to the first closer, as one line:
 * the diagnostic for a recipient the text does not list. */
static char *section_words(const char *text, size_t start, size_t end)
{
	struct td_buf b = TD_BUF_INIT;
	size_t pos = start, lines = 0;
	struct span l;
	while (lines < DIAG_LINES && next_line(text, end, &pos, &l)) {
		if (is_closer(l))
			break;
		if (blank(l) || is_rule(l))
			continue;
		lines++;
		if (b.len)
			td_buf_putc(&b, ' ');
		one_line(&b, l.p, l.n);
	}
	return finish_line(&b);
}

/* Reads the recipient lines of the list that format f (NULL: none,
 * the whole text) opens at text[start], up to the first closer, adding
 * each new address but `skip` with its words. Returns how many it
 * added. */
static size_t read_list(const char *text, size_t start, size_t end,
			const struct format *f, const char *skip,
			struct td_bounce_report *r)
{
	size_t pos = start, added = 0, first_new = r->n;
	struct span l;
	struct td_buf diag = TD_BUF_INIT;
	struct td_bounce_recipient *cur = NULL;
	size_t lines = 0;
	char addr[ADDR_MAX];
	unsigned flags = f ? f->flags : 0;
	const char *opening = NULL;

	for (size_t i = 0; f && i < 5 && f->opens[i]; i++)
		if (ci_find(text + start, strcspn(text + start, "\n"), f->opens[i]) >= 0) {
			opening = f->opens[i];
			break;
		}
	while (next_line(text, end, &pos, &l)) {
		struct span rest;
		bool first = opening && l.p == text + start;
		bool found = false;
		if (first) {
			/* the sentence may name the address itself ("There was
			 * an error delivering your mail to <a@b>.") */
			long o = ci_find(l.p, l.n, opening);
			size_t k = (size_t)o + strlen(opening);
			found = addr_in((struct span){ l.p + k, l.n - k }, addr, &rest);
			if (found)
				rest = l; /* its words are the whole sentence */
		} else {
			if (is_closer(l))
				break;
			found = !(flags & F_INLINE) &&
				rcpt_line(l, !(flags & F_SAMELINE), addr, &rest);
		}
		bool fresh = found && strcasecmp(addr, skip) != 0 && !has_recipient(r, addr);
		if (flags & F_SAMELINE) {
			if (fresh) {
				if (!(cur = td_bounce_add(r, addr)))
					break;
				added++;
				if (diag.len)
					td_buf_putc(&diag, ' ');
				one_line(&diag, rest.p, rest.n);
				set_diagnostic(cur, finish_line(&diag));
				cur = NULL;
				lines = 0;
			} else if (!first && !found && lines < DIAG_LINES && !blank(l) && !is_rule(l)) {
				/* each host's exchange opens with this line */
				if (ci_find(l.p, l.n, "while talking to") >= 0) {
					td_buf_reset(&diag);
					lines = 0;
				}
				lines++;
				if (diag.len)
					td_buf_putc(&diag, ' ');
				one_line(&diag, l.p, l.n);
			}
			continue;
		}
		if (fresh) {
			if (cur)
				set_diagnostic(cur, finish_line(&diag));
			cur = td_bounce_add(r, addr);
			if (!cur)
				break;
			added++;
			lines = 0;
			if (opening && (flags & F_OPENING) && !first) {
				one_line(&diag, text + start, strcspn(text + start, "\n"));
				td_buf_putc(&diag, ' ');
			}
			one_line(&diag, rest.p, rest.n);
			continue;
		}
		if (found && cur && strcasecmp(addr, cur->address) != 0)
			lines = DIAG_LINES; /* another's line: cur's words are over */
		if (!cur || first || lines >= DIAG_LINES || blank(l) || is_rule(l))
			continue;
		lines++;
		if (diag.len)
			td_buf_putc(&diag, ' ');
		one_line(&diag, l.p, l.n);
	}
	if (cur)
		set_diagnostic(cur, finish_line(&diag));
	td_buf_free(&diag);

	/* A format that writes the reason once, above the list, or a list
	 * without words: every recipient gets the section's words. */
	char *words = NULL;
	if (added && f && f->error) {
		long e = ci_find(text, end, f->error);
		if (e >= 0) {
			size_t from = (size_t)e + strcspn(text + e, "\n");
			words = section_words(text, from, end);
		}
	}
	for (size_t i = first_new; i < r->n; i++) {
		struct td_bounce_recipient *rc = &r->v[i];
		if (!words && *rc->diagnostic)
			continue;
		if (!words)
			words = section_words(text, line_after(text, start, end), end);
		if (*words) {
			td_bounce_set(&rc->diagnostic, "");
			set_diagnostic(rc, td_xstrdup(words));
		}
	}
	free(words);
	return added;
}

/* ---- who sent it ---- */

bool td_bmsg_from_system(const struct td_bmsg *m)
{
	/* a bounce is sent with the null reverse path (RFC 5321 4.5.5) */
	const char *rp = td_bmsg_get(m, "Return-Path");
	if (rp && strcmp(rp, "<>") == 0)
		return true;
	/* fml answers from the list's -admin address */
	const char *ml = td_bmsg_get(m, "X-MLServer");
	if (ml && ci_find(ml, strlen(ml), "fml") >= 0)
		return true;
	const char *from = td_bmsg_get(m, "From");
	if (!from)
		return false;
	size_t n = strlen(from);
	if (!strchr(from, '@') || strstr(from, "<>"))
		return true; /* "MAILER-DAEMON", "<>": no mailbox to answer */
	for (size_t i = 0; i < sizeof daemons / sizeof *daemons; i++)
		if (ci_find(from, n, daemons[i]) >= 0)
			return true;
	return ci_find(from, n, "mail delivery") >= 0;
}

static bool bounce_subject(const struct td_bmsg *m)
{
	const char *s = td_bmsg_get(m, "Subject");
	if (!s)
		return false;
	size_t n = strlen(s);
	for (size_t i = 0; i < sizeof subjects / sizeof *subjects; i++)
		if (ci_find(s, n, subjects[i]) >= 0)
			return true;
	return false;
}

/* The bounce's own addressee (the returned message's sender): named in
 * the text, never a failed recipient. */
static void addressee(const struct td_bmsg *m, char *out)
{
	out[0] = '\0';
	const char *to = td_bmsg_get(m, "To");
	struct span after;
	if (to && !addr_in((struct span){ to, strlen(to) }, out, &after))
		out[0] = '\0';
}

/* ---- Amazon SES notifications (JSON, often itself a JSON string) ---- */

/* The string value after "key" at or after p, unescaped enough for the
 * values SES writes; NULL when absent before end. */
static char *json_value(const char *p, const char *end, const char *key, const char **after)
{
	size_t k = strlen(key);
	for (const char *q = p; q + k + 2 <= end; q++) {
		if (*q != '"' || memcmp(q + 1, key, k) != 0 ||
		    (q[k + 1] != '"' && q[k + 1] != '\\'))
			continue;
		const char *v = q + k + 2;
		while (v < end && (*v == '\\' || *v == '"' || *v == ' ' || *v == ':'))
			v++;
		if (v > q + k + 2 && v[-1] != '"')
			return NULL; /* not a string value */
		const char *e = v;
		while (e < end && *e != '"' && *e != '\\')
			e++;
		if (after)
			*after = e;
		return td_xstrndup(v, (size_t)(e - v));
	}
	return NULL;
}

static bool read_ses(const struct td_bmsg *m, struct td_bounce_report *r)
{
	const char *t = m->text;
	size_t n = strlen(t);
	if (n > SCAN_MAX)
		n = SCAN_MAX;
	/* SES wraps long lines of its JSON: read it as one line */
	char *j = td_xmalloc(n + 1);
	size_t jn = 0;
	for (size_t i = 0; i < n; i++)
		if (t[i] != '\n')
			j[jn++] = t[i];
	j[jn] = '\0';
	const char *end = j + jn;
	char *type = json_value(j, end, "notificationType", NULL);
	bool done = false;
	if (!type)
		goto out;
	const char *list = NULL, *action = "failed";
	char *diag_key = NULL;
	if (strcmp(type, "Bounce") == 0) {
		list = strstr(j, "bouncedRecipients");
		diag_key = "diagnosticCode";
	} else if (strcmp(type, "Complaint") == 0) {
		list = strstr(j, "complainedRecipients");
		action = "";
	} else if (strcmp(type, "Delivery") == 0) {
		list = strstr(j, "\"delivery\"");
		if (!list)
			list = strstr(j, "\\\"delivery\\\"");
		action = "delivered";
	}
	if (!list)
		goto out;
	const char *close = memchr(list, ']', (size_t)(end - list));
	if (!close)
		close = end;
	if (strcmp(type, "Delivery") == 0) {
		/* "recipients":["a@b", ...], "smtpResponse":"250 2.6.0 ..." */
		char *resp = json_value(list, end, "smtpResponse", NULL);
		const char *rl = strstr(list, "recipients");
		close = rl ? memchr(rl, ']', (size_t)(end - rl)) : NULL;
		for (const char *q = rl; q && close && q < close;) {
			char addr[ADDR_MAX];
			struct span after;
			if (!addr_in((struct span){ q, (size_t)(close - q) }, addr, &after))
				break;
			struct td_bounce_recipient *rc = td_bounce_add(r, addr);
			if (!rc)
				break;
			/* not a failure: named here, as rfc.c names a DSN's */
			rc->reason = "delivered";
			td_bounce_set(&rc->action, action);
			if (resp)
				set_diagnostic(rc, td_xstrdup(resp));
			q = after.p;
		}
		free(resp);
		done = r->n > 0;
		goto out;
	}
	for (const char *q = list; q < close;) {
		const char *after;
		char *a = json_value(q, close, "emailAddress", &after);
		if (!a)
			break;
		char addr[ADDR_MAX];
		struct span rest;
		struct td_bounce_recipient *rc = NULL;
		if (addr_in((struct span){ a, strlen(a) }, addr, &rest))
			rc = td_bounce_add(r, addr);
		free(a);
		if (!rc)
			break;
		td_bounce_set(&rc->action, action);
		if (!diag_key) /* a complaint: named here, as rfc.c names ARF's */
			rc->reason = "feedback";
		/* this recipient's fields run to the next "emailAddress" */
		const char *next = strstr(after, "emailAddress");
		const char *lim = next && next < close ? next : close;
		char *st = json_value(after, lim, "status", NULL);
		if (st)
			find_status(st, rc->status);
		free(st);
		if (diag_key) {
			char *d = json_value(after, lim, diag_key, NULL);
			if (d) {
				struct td_buf b = TD_BUF_INIT;
				one_line(&b, d, strlen(d));
				set_diagnostic(rc, finish_line(&b));
				free(d);
			}
		}
		q = after;
	}
	if (strcmp(type, "Complaint") == 0 && r->n && !r->feedback) {
		char *fb = json_value(j, end, "complaintFeedbackType", NULL);
		if (!fb)
			fb = td_xstrdup("abuse");
		for (char *c = fb; *c; c++)
			*c = (char)lower((unsigned char)*c);
		r->feedback = fb;
	}
	done = r->n > 0;
out:
	free(type);
	free(j);
	return done;
}

/* ---- the step ---- */

/* Adds every address in list (a header's value) with the words of the
 * text from `from` as their diagnostic. */
static void add_listed(const struct td_bmsg *m, const char *list, size_t end, size_t from,
		       struct td_bounce_report *r)
{
	char *words = section_words(m->text, from, end);
	struct span s = { list, strlen(list) }, after;
	char addr[ADDR_MAX];
	for (int i = 0; i < TD_BOUNCE_MAX_RECIPIENTS && addr_in(s, addr, &after); i++) {
		struct td_bounce_recipient *rc = has_recipient(r, addr) ? NULL : td_bounce_add(r, addr);
		if (rc && *words)
			set_diagnostic(rc, td_xstrdup(words));
		s = after;
	}
	free(words);
}

/* The last resort of a bounce that names nobody ("Delivery report
 * unavailable", a transcript without addresses): the returned message's
 * To, from its header part or from the copy in the text. */
static void returned_to(const struct td_bmsg *m, size_t end, size_t from,
			struct td_bounce_report *r)
{
	char *to = td_bmsg_returned_get(m, "To");
	if (!to) {
		size_t pos = from;
		struct span l;
		bool copy = false;
		for (size_t i = 0; !to && i < 4096 && next_line(m->text, end, &pos, &l); i++) {
			if (!copy)
				copy = is_closer(l);
			else if (ci_prefix(l.p, l.n, "to:"))
				to = td_xstrndup(l.p + 3, l.n - 3);
		}
	}
	if (!to)
		return;
	add_listed(m, to, end, from, r);
	free(to);
}

/* rfc.c found recipients without the server's words: the text's. Each
 * takes the words the text's list gives its own address; the whole
 * section's words only when the report has one recipient (with several,
 * they would be another's). */
static void fill_diagnostics(const struct td_bmsg *m, struct td_bounce_report *r, size_t end)
{
	struct td_bounce_report listed = { 0 };
	bool read = false;
	size_t at = 0;
	const struct format *f = NULL;
	for (size_t i = 0; i < r->n; i++) {
		struct td_bounce_recipient *rc = &r->v[i];
		if (*rc->diagnostic)
			continue;
		if (!read) {
			f = find_format(m->text, end, &at);
			read_list(m->text, f ? at : 0, end, f, "", &listed);
			read = true;
		}
		const char *words = NULL;
		for (size_t j = 0; j < listed.n && !words; j++)
			if (strcasecmp(listed.v[j].address, rc->address) == 0)
				words = listed.v[j].diagnostic;
		if (words && *words) {
			set_diagnostic(rc, td_xstrdup(words));
		} else if (r->n == 1) {
			char *all = section_words(m->text, f ? line_after(m->text, at, end) : 0, end);
			if (*all)
				set_diagnostic(rc, all);
			else
				free(all);
		}
	}
	td_bounce_report_free(&listed);
}

void td_bounce_scrape(const struct td_bmsg *m, struct td_bounce_report *r)
{
	if (!m->text || r->feedback)
		return;
	size_t end = strlen(m->text);
	if (end > SCAN_MAX)
		end = SCAN_MAX;
	if (r->n) {
		fill_diagnostics(m, r, end);
		return;
	}

	const char *xfailed = td_bmsg_get(m, "X-Failed-Recipients");
	bool daemon = td_bmsg_from_system(m), subject = bounce_subject(m);
	const char *from = td_bmsg_get(m, "From");
	if (from && ci_find(from, strlen(from), "amazonaws.com") >= 0 &&
	    read_ses(m, r))
		return;
	size_t at = 0;
	const struct format *f = find_format(m->text, end, &at);
	/* Ordinary mail quotes a bounce's sentence now and then: believe the
	 * text only from a mail system, or with the returned message. */
	bool returned = m->returned && *m->returned;
	if (!xfailed && !daemon && !subject && !(f && returned))
		return;

	char self[ADDR_MAX];
	addressee(m, self);
	if (f)
		read_list(m->text, at, end, f, self, r);
	if (!r->n)
		read_list(m->text, 0, end, NULL, self, r);
	size_t body = f ? line_after(m->text, at, end) : 0;
	if (!r->n && xfailed)
		add_listed(m, xfailed, end, body, r);
	if (!r->n && (f || subject))
		returned_to(m, end, body, r);
}
