/*
 * rfc: the standard formats (bounce_impl.h).
 *
 *   RFC 3464 delivery status notifications: the per-recipient field
 *   groups of the message/delivery-status part (or of a text part that
 *   holds them: some MTAs send the fields outside a multipart/report).
 *   The fields are read here, not with libetpan's field parser, because
 *   real reports break it (BRIEF-2 §1.3): a last field without line end,
 *   whitespace-only lines, folded values, continuation lines that lost
 *   their leading whitespace.
 *   RFC 5965 feedback reports: Feedback-Type, and the reported recipient.
 *   RFC 3834 auto-replies: who replied.
 *
 * It sets reason itself only for the outcomes that are not failures
 * ("feedback", "vacation", "delivered"); parse.c leaves those alone and
 * hands every other recipient to classify.c.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bounce_impl.h"
#include "tagdigest/core/util.h"

struct field {
	const char *name;
	size_t nlen;
	struct td_buf value;
};

/* One DSN recipient while its group is read. */
struct group {
	char *final, *original, *action, *status, *diag, *diag_type;
	bool any;
};

static void group_clear(struct group *g)
{
	free(g->final);
	free(g->original);
	free(g->action);
	free(g->status);
	free(g->diag);
	free(g->diag_type);
	memset(g, 0, sizeof *g);
}

static bool name_is(const struct field *f, const char *name)
{
	return strlen(name) == f->nlen && strncasecmp(f->name, name, f->nlen) == 0;
}

/* "rfc822; <a@b>" -> "a@b": the address type and angle brackets go. */
static char *strip_address(const char *v)
{
	const char *semi = strchr(v, ';');
	if (semi)
		v = semi + 1;
	while (*v == ' ' || *v == '<' || *v == '"' || *v == '\'')
		v++;
	size_t n = strlen(v);
	while (n && (v[n - 1] == ' ' || v[n - 1] == '>' || v[n - 1] == '"' || v[n - 1] == '\''))
		n--;
	/* "a@b (comment)" or "a@b> more": the address is the first word */
	const char *sp = memchr(v, ' ', n);
	if (sp && memchr(v, '@', (size_t)(sp - v)))
		n = (size_t)(sp - v);
	char *a = td_xstrndup(v, n);
	char *gt = strchr(a, '>');
	if (gt)
		*gt = '\0';
	return a;
}

/* First RFC 3463 code ("5.1.1") in s, copied to out; false when none. */
static bool find_status(const char *s, char out[16])
{
	for (const char *p = s; *p; p++) {
		if (!(*p == '2' || *p == '4' || *p == '5') || p[1] != '.')
			continue;
		if (p > s && (isalnum((unsigned char)p[-1]) || p[-1] == '.'))
			continue;
		const char *q = p + 2;
		size_t d1 = 0, d2 = 0;
		while (isdigit((unsigned char)q[d1]) && d1 < 4)
			d1++;
		if (d1 == 0 || d1 > 3 || q[d1] != '.')
			continue;
		const char *r = q + d1 + 1;
		while (isdigit((unsigned char)r[d2]) && d2 < 4)
			d2++;
		if (d2 == 0 || d2 > 3 || isalnum((unsigned char)r[d2]) ||
		    (r[d2] == '.' && isdigit((unsigned char)r[d2 + 1])))
			continue;
		size_t len = (size_t)(r + d2 - p);
		memcpy(out, p, len);
		out[len] = '\0';
		return true;
	}
	return false;
}

static bool reply_code_at(const char *s, char out[4])
{
	while (*s == ' ' || *s == '<' || *s == '(' || *s == '#' || *s == '\'')
		s++;
	if ((s[0] == '2' || s[0] == '4' || s[0] == '5') && isdigit((unsigned char)s[1]) &&
	    isdigit((unsigned char)s[2]) && (s[3] == ' ' || s[3] == '-' || s[3] == '\0')) {
		memcpy(out, s, 3);
		out[3] = '\0';
		return true;
	}
	return false;
}

/* The SMTP reply code in a diagnostic: at its start ("550 5.1.1 ...",
 * "550-5.1.1"), else after "said:" (Postfix: "host x[1.2.3.4] said: 554
 * 5.6.0 ..."). */
static bool find_reply_code(const char *s, char out[4])
{
	if (reply_code_at(s, out))
		return true;
	const char *said = strstr(s, "said:");
	return said && reply_code_at(said + 5, out);
}

static void lower(char *s)
{
	for (; *s; s++)
		*s = (char)tolower((unsigned char)*s);
}

static void emit(struct group *g, struct td_bounce_report *r)
{
	if (g->final || g->original) {
		char *addr = strip_address(g->final && strchr(g->final, '@') ? g->final :
					   g->original ? g->original : g->final);
		struct td_bounce_recipient *rc = td_bounce_add(r, addr);
		free(addr);
		if (rc) {
			if (g->action) {
				td_bounce_set(&rc->action, g->action);
				lower(rc->action);
			}
			if (g->diag) {
				/* "smtp; 550 5.1.1 <a@b>... User unknown": the type goes */
				const char *d = g->diag;
				while (*d == ' ' || *d == '\t')
					d++;
				const char *semi = strchr(d, ';');
				if (semi && (size_t)(semi - d) < 16 && !memchr(d, ' ', (size_t)(semi - d)))
					d = semi + 1;
				while (*d == ' ')
					d++;
				td_bounce_set(&rc->diagnostic, d);
				find_reply_code(rc->diagnostic, rc->reply_code);
			}
			/* the Status field, unless it says only "5.0.0" and the
			 * server's own words are more precise */
			char ds[16] = "";
			if (g->diag)
				find_status(rc->diagnostic, ds);
			if (!(g->status && find_status(g->status, rc->status)))
				memcpy(rc->status, ds, sizeof ds);
			else if (ds[0] == rc->status[0] && strcmp(rc->status + 1, ".0.0") == 0)
				memcpy(rc->status, ds, sizeof ds);
			if (strcmp(rc->action, "delivered") == 0 || strcmp(rc->action, "relayed") == 0 ||
			    strcmp(rc->action, "expanded") == 0 || rc->status[0] == '2')
				rc->reason = "delivered";
		}
	}
	group_clear(g);
}

static void set_str(char **dst, const struct field *f)
{
	free(*dst);
	*dst = td_xstrdup(td_buf_cstr(&f->value));
}

/* Hands one complete field to the group; a second Final-Recipient or a
 * second Original-Recipient starts the next recipient even where the
 * blank line between groups is missing. */
static void take_field(struct group *g, const struct field *f, struct td_bounce_report *r)
{
	if (name_is(f, "Final-Recipient")) {
		if (g->final)
			emit(g, r);
		set_str(&g->final, f);
	} else if (name_is(f, "Original-Recipient")) {
		if (g->original)
			emit(g, r);
		set_str(&g->original, f);
	} else if (name_is(f, "Action")) {
		set_str(&g->action, f);
	} else if (name_is(f, "Status")) {
		set_str(&g->status, f);
	} else if (name_is(f, "Diagnostic-Code")) {
		set_str(&g->diag, f);
	} else {
		return;
	}
	g->any = true;
}

/* Reads the DSN fields of text: groups at blank (or whitespace-only)
 * lines, continuation lines with or without leading whitespace. */
static void read_dsn(const char *text, struct td_bounce_report *r)
{
	struct group g;
	memset(&g, 0, sizeof g);
	struct field f = { NULL, 0, TD_BUF_INIT };
	const char *p = text;
	for (;;) {
		const char *nl = strchr(p, '\n');
		size_t ll = nl ? (size_t)(nl - p) : strlen(p);
		size_t k = 0;
		while (k < ll && (p[k] == ' ' || p[k] == '\t'))
			k++;
		bool blank = k == ll;
		bool ws = k > 0;
		size_t nlen = 0;
		if (!ws) {
			while (nlen < ll && p[nlen] != ':' && p[nlen] > ' ')
				nlen++;
			if (nlen == ll || p[nlen] != ':')
				nlen = 0;
		}
		if (blank || nlen) {
			if (f.name)
				take_field(&g, &f, r);
			f.name = NULL;
			td_buf_reset(&f.value);
			if (blank && g.any)
				emit(&g, r);
		}
		if (nlen) {
			f.name = p;
			f.nlen = nlen;
			td_buf_append(&f.value, p + nlen + 1, ll - nlen - 1);
		} else if (!blank && f.name) {
			/* a continuation, with or without its leading space */
			td_buf_putc(&f.value, ' ');
			td_buf_append(&f.value, p + k, ll - k);
		}
		if (!nl)
			break;
		p = nl + 1;
	}
	if (f.name)
		take_field(&g, &f, r);
	emit(&g, r);
	td_buf_free(&f.value);
}

/* The address in a From/To value: what is inside <>, else the first word
 * with an @. */
static char *mailbox_address(const char *v)
{
	const char *lt = strrchr(v, '<');
	if (lt) {
		const char *gt = strchr(lt, '>');
		if (gt && memchr(lt, '@', (size_t)(gt - lt)))
			return td_xstrndup(lt + 1, (size_t)(gt - lt - 1));
	}
	const char *at = strchr(v, '@');
	if (!at)
		return NULL;
	const char *b = at, *e = at;
	while (b > v && !strchr(" \t<>\"(),;:", b[-1]))
		b--;
	while (*e && !strchr(" \t<>\"(),;:", *e))
		e++;
	return td_xstrndup(b, (size_t)(e - b));
}

static void read_arf(const struct td_bmsg *m, const char *part, struct td_bounce_report *r)
{
	char *type = NULL;
	struct td_strv rcpt = TD_STRV_INIT, removal = TD_STRV_INIT;
	for (const char *p = part; *p;) {
		const char *nl = strchr(p, '\n');
		size_t ll = nl ? (size_t)(nl - p) : strlen(p);
		const char *c = memchr(p, ':', ll);
		if (c) {
			size_t nlen = (size_t)(c - p);
			char *v = td_xstrndup(c + 1, ll - nlen - 1);
			if (nlen == 13 && strncasecmp(p, "Feedback-Type", 13) == 0 && !type) {
				type = v;
				v = NULL;
			} else if (nlen == 16 && strncasecmp(p, "Original-Rcpt-To", 16) == 0) {
				td_strv_push_owned(&rcpt, strip_address(v));
			} else if (nlen == 17 && strncasecmp(p, "Removal-Recipient", 17) == 0) {
				td_strv_push_owned(&removal, strip_address(v));
			}
			free(v);
		}
		p += ll + (nl ? 1 : 0);
	}
	td_bounce_set(&r->feedback, type ? type : "other");
	lower(r->feedback);
	free(type);
	struct td_strv *list = rcpt.n ? &rcpt : &removal;
	for (size_t i = 0; i < list->n; i++) {
		struct td_bounce_recipient *rc = td_bounce_add(r, list->v[i]);
		if (rc)
			rc->reason = "feedback";
	}
	if (!list->n) {
		char *to = td_bmsg_returned_get(m, "To");
		char *a = to ? mailbox_address(to) : NULL;
		struct td_bounce_recipient *rc = td_bounce_add(r, a ? a : "");
		if (rc)
			rc->reason = "feedback";
		free(a);
		free(to);
	}
	td_strv_free(&rcpt);
	td_strv_free(&removal);
}

static bool contains_ci(const char *s, const char *needle)
{
	size_t n = strlen(needle);
	for (; s && *s; s++)
		if (strncasecmp(s, needle, n) == 0)
			return true;
	return false;
}

static bool starts_ci(const char *s, const char *prefix)
{
	return s && strncasecmp(s, prefix, strlen(prefix)) == 0;
}

/* RFC 3834 and the markers vacation programs use instead. A mail
 * system's notice is never one: it may bounce an auto-reply ("Undeliverable:
 * Out of office") and often says Auto-Submitted: auto-replied itself, so
 * that header counts only when neither sender nor subject sounds like a
 * mail system. */
static bool is_auto_reply(const struct td_bmsg *m)
{
	const char *subj = td_bmsg_get(m, "Subject");
	const char *from = td_bmsg_get(m, "From");
	static const char *const system_senders[] = {
		"mailer-daemon", "postmaster", "mail delivery", "mdaemon", "daemon", NULL,
	};
	static const char *const bounce_subjects[] = {
		"undeliver", "delivery", "mail delivery", "returned", "failure", "failed",
		"non recapitabile", "warning:", "delayed", "postmaster", NULL,
	};
	for (size_t i = 0; system_senders[i]; i++)
		if (contains_ci(from, system_senders[i]))
			return false;
	for (size_t i = 0; bounce_subjects[i]; i++)
		if (starts_ci(subj, bounce_subjects[i]))
			return false;
	static const char *const subj_prefixes[] = {
		"auto reply:", "automatic reply:", "auto:", "autoreply:", "auto-reply:",
		"out of office", "out of the office", "abwesenheitsnotiz",
		"réponse automatique", "respuesta automática", "risposta automatica",
		NULL,
	};
	for (size_t i = 0; subj && subj_prefixes[i]; i++)
		if (starts_ci(subj, subj_prefixes[i]))
			return true;
	if (td_bmsg_get(m, "X-Autoreply") || td_bmsg_get(m, "X-Autorespond") ||
	    contains_ci(td_bmsg_get(m, "X-Apple-Action"), "vacation") ||
	    contains_ci(td_bmsg_get(m, "Precedence"), "auto_reply"))
		return true;
	if (!contains_ci(td_bmsg_get(m, "Auto-Submitted"), "auto-replied"))
		return false;
	static const char *const system_words[] = {
		"deliver", "fail", "return", "delay", "bounce", "non recapitabile",
		"notification", "error", "rejected", NULL,
	};
	for (size_t i = 0; system_words[i]; i++)
		if (contains_ci(from, system_words[i]) || contains_ci(subj, system_words[i]))
			return false;
	return true;
}

void td_bounce_rfc(const struct td_bmsg *m, struct td_bounce_report *r)
{
	const char *part = m->report_part;
	bool arf = (m->report_type && strcmp(m->report_type, "feedback-report") == 0) ||
		   (part && contains_ci(part, "Feedback-Type:"));
	if (part && arf) {
		read_arf(m, part, r);
		return;
	}
	if (part) {
		read_dsn(part, r);
		if (r->n)
			return;
	}
	/* the fields written into the body, outside any report part: only
	 * from a mail system, since a person may quote a DSN's fields */
	if (!part && td_bmsg_from_system(m) &&
	    (contains_ci(m->text, "\nFinal-Recipient:") ||
		      starts_ci(m->text, "Final-Recipient:")))
		read_dsn(m->text, r);
	if (r->n)
		return;
	/* Apple Mail's unsubscribe request is an opt-out report in all but
	 * format: the sender is the reader who wants out */
	if (contains_ci(td_bmsg_get(m, "X-Apple-Unsubscribe"), "true")) {
		const char *from = td_bmsg_get(m, "From");
		char *a = from ? mailbox_address(from) : NULL;
		struct td_bounce_recipient *rc = td_bounce_add(r, a ? a : "");
		if (rc)
			rc->reason = "feedback";
		td_bounce_set(&r->feedback, "opt-out");
		free(a);
		return;
	}
	if (is_auto_reply(m)) {
		const char *from = td_bmsg_get(m, "From");
		char *a = from ? mailbox_address(from) : NULL;
		struct td_bounce_recipient *rc = td_bounce_add(r, a ? a : "");
		if (rc)
			rc->reason = "vacation";
		free(a);
	}
}
