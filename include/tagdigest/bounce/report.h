/*
 * report: what a returned mail says, read through libetpan's MIME parser.
 *
 * td_bounce_parse() reads one message as it sits in a mailbox (a leading
 * mbox "From " line is skipped; LF or CRLF line ends) and tells what came
 * back:
 *
 *   - an RFC 3464 delivery status notification (multipart/report;
 *     report-type=delivery-status), or one of the plain-text bounce
 *     formats big providers and older MTAs still send (qmail, Exim,
 *     Postfix, Exchange, Yahoo, Gmail, ...): `bounce` is true when at
 *     least one recipient failed;
 *   - an RFC 5965 feedback report (ARF): `feedback` is its Feedback-Type
 *     ("abuse", "opt-out", ...), the reported recipient is in the list with
 *     reason "feedback", `bounce` is false;
 *   - an RFC 3834 auto-reply (vacation notice): its recipient with reason
 *     "vacation", `bounce` false; a DSN that reports success: reason
 *     "delivered", `bounce` false. Recorded, changing nothing;
 *   - anything else: no recipients, `bounce` false, `feedback` NULL.
 *
 * Each recipient carries the RFC 3463 enhanced status, the SMTP reply
 * code, a reason named as the Sisimai project names them (userunknown,
 * hostunknown, mailboxfull, filtered, rejected, expired, blocked,
 * spamdetected, suspend, ...; td_bounce_reasons) and whether the address
 * itself is bad (`hard`: userunknown, hostunknown, hasmoved, and
 * notaccept with a 5.x.x status).
 *
 * The parser is fed hostile input: it never reads past len, bounds its
 * work (a message over TD_BOUNCE_MAX_BYTES is read only that far, at most
 * TD_BOUNCE_MAX_RECIPIENTS recipients), and every string it returns is
 * valid UTF-8 without control characters (safe for a log line or JSON).
 *
 * Ownership: the report owns every string in it except `reason`, which
 * points at a static name; td_bounce_report_free() releases them.
 */
#ifndef TAGDIGEST_BOUNCE_REPORT_H
#define TAGDIGEST_BOUNCE_REPORT_H

#include <stdbool.h>
#include <stddef.h>

#include "tagdigest/core/buf.h"
#include "tagdigest/core/err.h"

#define TD_BOUNCE_MAX_BYTES (4u << 20)
#define TD_BOUNCE_MAX_RECIPIENTS 256

struct td_bounce_recipient {
	char *address;        /* as the report writes it, without <>, "" if
			       * only the returned headers could tell */
	char status[16];      /* RFC 3463 "5.1.1"; "" when none */
	char reply_code[4];   /* SMTP "550"; "" when none */
	const char *reason;   /* static: one of td_bounce_reasons */
	bool hard;
	char *diagnostic;     /* the server's words, one line, "" when none */
	char *action;         /* DSN Action (failed, delayed, delivered,
			       * relayed, expanded), lowercased; "" when none */
};

struct td_bounce_report {
	bool bounce;
	char *feedback;       /* Feedback-Type, lowercased, or NULL */
	struct td_bounce_recipient *v;
	size_t n;
};

/* The reason names, NULL-terminated. */
extern const char *const td_bounce_reasons[];

/* Fills out (zeroed first). Returns 0 for every message, bounce or not;
 * an error only when memory runs out. */
int td_bounce_parse(const char *raw, size_t len, struct td_bounce_report *out,
		    struct td_err *err);
void td_bounce_report_free(struct td_bounce_report *r);

/* The JSON `tagdigest bounce-dump` prints, one object and a newline:
 *   {"bounce": true, "feedback": null,
 *    "recipients": [{"address": "user@example.com", "status": "5.1.1",
 *                    "reply_code": "550", "reason": "userunknown",
 *                    "hard": true}]}
 * status and reply_code are null when empty; feedback is null or
 * {"type": "abuse"}. */
int td_bounce_report_json(const struct td_bounce_report *r, struct td_buf *out);

#endif
