/*
 * bounce_impl.h: how the bounce parser's files share one message. Seen by
 * src/bounce/{parse,rfc,scrape,classify}.c only.
 *
 *   parse.c     td_bounce_parse: builds the td_bmsg view (libetpan's
 *               mailmime tree, top-level headers, the readable text, the
 *               returned message's headers), then runs the three steps
 *               below in order and sets report->bounce; the JSON writer.
 *   rfc.c       the standard formats: RFC 3464 DSN fields (per-recipient
 *               Final-Recipient / Original-Recipient, Action, Status,
 *               Diagnostic-Code, Remote-MTA), RFC 5965 feedback reports,
 *               RFC 3834 auto-replies.
 *   scrape.c    the non-standard formats (plain text from qmail, Exim,
 *               Postfix, Exchange, Yahoo, Gmail, ...): finds recipients,
 *               their diagnostic text and any status or reply code written
 *               in it; fills in what rfc.c left empty (no recipient, or a
 *               recipient without diagnostic). Runs after rfc.c. Like
 *               rfc.c it names the outcomes that are not failures itself:
 *               an Amazon SES complaint ("feedback", and the report's
 *               feedback type) or delivery notice ("delivered").
 *   classify.c  per recipient: reason, the status (derived from the
 *               reason and the diagnostic when the report gives none or
 *               only x.0.0), the reply code (from the diagnostic when
 *               the report has none), hard. Keeps the reasons rfc.c and
 *               scrape.c set for what is no failure (feedback, vacation,
 *               delivered). Runs last, on every recipient.
 *
 * Everything here works on LF line ends: parse.c converts CRLF once.
 */
#ifndef TAGDIGEST_BOUNCE_IMPL_H
#define TAGDIGEST_BOUNCE_IMPL_H

#include <stdbool.h>
#include <stddef.h>

#include "tagdigest/bounce/report.h"

struct mailmime;

struct td_bhdr {
	char *name;           /* as written */
	char *value;          /* unfolded, trimmed, decoded from RFC 2047 */
};

struct td_bmsg {
	const char *raw;      /* the message, "From " line skipped, LF ends */
	size_t len;
	struct mailmime *mime;/* libetpan's tree of raw; NULL if it failed */
	struct td_bhdr *hdr;  /* the top-level header, in order */
	size_t nhdr;
	/* What a person would read: the first text/plain part (else the
	 * first text/html with its tags removed), transfer-decoded, LF line
	 * ends; for a multipart/report only its first (human) part. "" when
	 * none. */
	char *text;
	/* The returned message's header (message/rfc822,
	 * message/rfc822-headers, text/rfc822-headers, or what follows a
	 * "copy of the message" line in text), unfolded lines; "" if none. */
	char *returned;
	/* The message/delivery-status or message/feedback-report part,
	 * transfer-decoded, LF line ends; NULL when none. */
	char *report_part;
	char *report_type;    /* the multipart/report's report-type,
			       * lowercased, or NULL */
};

/* First top-level header of that name (case-insensitive), or NULL. */
const char *td_bmsg_get(const struct td_bmsg *m, const char *name);
/* Header `name` of the returned message (m->returned), malloc'd, or
 * NULL. */
char *td_bmsg_returned_get(const struct td_bmsg *m, const char *name);

/* Whether the mail comes from a mail system, not a person: a null
 * Return-Path, a daemon's From ("MAILER-DAEMON", "postmaster", no
 * address), fml's list server (scrape.c). Text that reads like a bounce
 * is believed only from such a sender. */
bool td_bmsg_from_system(const struct td_bmsg *m);

/* Appends a recipient (address copied, "" for NULL) with every other
 * field empty; returns it, or NULL at TD_BOUNCE_MAX_RECIPIENTS. */
struct td_bounce_recipient *td_bounce_add(struct td_bounce_report *r,
					  const char *address);
/* Replaces a malloc'd string field (address, diagnostic, action). */
void td_bounce_set(char **field, const char *value);

/* The steps, in the order parse.c runs them. */
void td_bounce_rfc(const struct td_bmsg *m, struct td_bounce_report *r);
void td_bounce_scrape(const struct td_bmsg *m, struct td_bounce_report *r);
void td_bounce_classify(const struct td_bmsg *m, struct td_bounce_recipient *rc);

#endif
