/*
 * test_bounce_classify.c: td_bounce_classify on one recipient at a time,
 * as rfc.c and scrape.c hand it over (status and reply code as the report
 * wrote them, the server's words, the DSN action) with a message that is
 * otherwise empty. The expected reason, status and hard flag are worked
 * out by hand from the rules in src/bounce/classify.c's header and the
 * RFC 3463 meanings: which words name which reason, the report's status
 * when specific, Sisimai's internal "x.0.9xx" code when nothing gives
 * one, its class 4 when the words read temporary.
 */
#include <stdlib.h>

#include "harness.h"
#include "../../src/bounce/bounce_impl.h"

struct want {
	const char *reason;
	const char *status;
	const char *reply;
	bool hard;
};

/* Classifies a recipient at address with the report's status and reply
 * code, the diagnostic and the action; report_part and text go into the
 * message (NULL: none). */
static void check(int line, const char *address, const char *status, const char *reply,
		  const char *diag, const char *action, const char *report_part,
		  const char *text, struct want w)
{
	struct td_bmsg m;
	memset(&m, 0, sizeof(m));
	m.report_part = (char *)report_part;
	m.text = (char *)(text ? text : "");
	m.returned = (char *)"";
	struct td_bounce_recipient rc;
	memset(&rc, 0, sizeof(rc));
	rc.address = (char *)address;
	snprintf(rc.status, sizeof(rc.status), "%s", status);
	snprintf(rc.reply_code, sizeof(rc.reply_code), "%s", reply);
	rc.diagnostic = (char *)diag;
	rc.action = (char *)action;
	td_bounce_classify(&m, &rc);
	bool ok = rc.reason && strcmp(rc.reason, w.reason) == 0 &&
		  strcmp(rc.status, w.status) == 0 && strcmp(rc.reply_code, w.reply) == 0 &&
		  rc.hard == w.hard;
	if (ok) {
		td_test_passed++;
		return;
	}
	td_test_failed++;
	fprintf(stderr, "%s:%d: \"%s\"\n  got:  reason=%s status=%s reply=%s hard=%d\n"
		"  want: reason=%s status=%s reply=%s hard=%d\n", __FILE__, line, diag,
		rc.reason ? rc.reason : "(null)", rc.status, rc.reply_code, rc.hard,
		w.reason, w.status, w.reply, w.hard);
}

#define CLASSIFY(addr, st, rep, diag, action, w)                                 \
	check(__LINE__, addr, st, rep, diag, action, NULL, NULL, (struct want)w)
#define W(...) { __VA_ARGS__ }

/* The address does not exist: the only failures besides a dead domain
 * and a moved mailbox that make the address itself bad. */
static void test_userunknown(void)
{
	CLASSIFY("a@example.org", "5.1.1", "",
		 "smtp; 550 5.1.1 <a@example.org>... User unknown", "failed",
		 W("userunknown", "5.1.1", "550", true));
	/* the report's x.0.0 gives way to the code in the words */
	CLASSIFY("a@example.org", "5.0.0", "",
		 "550 5.1.1 <a@example.org>: Recipient address rejected: User unknown",
		 "failed", W("userunknown", "5.1.1", "550", true));
	/* 4.1.1 is a temporary code, but the address is still unknown */
	CLASSIFY("a@example.org", "4.1.1", "",
		 "450 4.1.1 <a@example.org>: Recipient address rejected: User unknown in "
		 "virtual alias table (in reply to RCPT TO command)", "failed",
		 W("userunknown", "4.1.1", "450", true));
}

/* "User unknown" without a status that says so: only the RCPT command
 * makes it the address; after the message it is a filter's word. */
static void test_command_decides(void)
{
	CLASSIFY("a@example.org", "", "", "550 User unknown", "failed",
		 W("filtered", "5.0.910", "550", false));
	CLASSIFY("a@example.org", "", "", "550 User unknown (in reply to RCPT TO command)",
		 "failed", W("userunknown", "5.0.911", "550", true));
	/* the command named in the readable text next to the address */
	check(__LINE__, "a@example.org", "", "", "550 User unknown", "failed", NULL,
	      "The mail system\n\n<a@example.org>: host mx.example.org[192.0.2.1] said:\n"
	      "    550 User unknown (in reply to RCPT TO command)\n\nMore text\n",
	      (struct want)W("userunknown", "5.0.911", "550", true));
}

/* The words can say more than the code, or something else than it. */
static void test_words_over_codes(void)
{
	/* a full mailbox reported with the unknown-user code */
	CLASSIFY("a@example.org", "5.1.1", "", "550 5.1.1 Mailbox is full", "failed",
		 W("mailboxfull", "5.1.1", "550", false));
	/* a 4xx reply without status: Sisimai's temporary internal code */
	CLASSIFY("a@example.org", "", "", "452 Mailbox full", "failed",
		 W("mailboxfull", "4.0.922", "452", false));
	CLASSIFY("a@example.org", "5.0.0", "", "550 5.7.1 Message rejected as spam",
		 "failed", W("spamdetected", "5.7.1", "550", false));
	CLASSIFY("a@example.org", "", "", "Host or domain name not found", "failed",
		 W("hostunknown", "5.0.912", "", true));
	CLASSIFY("a@example.org", "5.1.2", "", "Host or domain name not found. "
		 "Name service error for name=example.org type=A", "failed",
		 W("hostunknown", "5.1.2", "", true));
	CLASSIFY("a@example.org", "", "", "421 Too many connections, try again later",
		 "failed", W("toomanyconn", "4.0.945", "421", false));
	CLASSIFY("a@example.org", "5.7.1", "",
		 "554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using "
		 "zen.spamhaus.org", "failed", W("blocked", "5.7.1", "554", false));
	/* a dead mailbox is moved, not unknown */
	CLASSIFY("a@example.org", "5.1.6", "", "550 5.1.6 Mailbox has moved", "failed",
		 W("hasmoved", "5.1.6", "550", true));
	CLASSIFY("a@example.org", "5.2.1", "", "550 5.2.1 This mailbox is disabled",
		 "failed", W("suspend", "5.2.1", "550", false));
}

/* notaccept is hard only when permanent. */
static void test_notaccept(void)
{
	CLASSIFY("a@example.org", "", "", "556 5.1.10 example.org does not accept mail (nullMX)",
		 "failed", W("notaccept", "5.1.10", "556", true));
	CLASSIFY("a@example.org", "", "", "host does not accept mail, try again later (451)",
		 "delayed", W("notaccept", "4.0.932", "451", false));
}

/* A delayed DSN without words is an expiry; no words and no action is
 * undefined; words that tell nothing are "on hold". */
static void test_fallbacks(void)
{
	CLASSIFY("a@example.org", "4.0.0", "", "", "delayed",
		 W("expired", "4.0.0", "", false));
	CLASSIFY("a@example.org", "", "", "", "failed",
		 W("undefined", "5.0.900", "", false));
	CLASSIFY("a@example.org", "5.0.0", "", "550 Go ahead, make my day", "failed",
		 W("onhold", "5.0.0", "550", false));
}

/* rfc.c's reasons for what is not a failure stay, never hard. */
static void test_kept(void)
{
	const char *kept[] = { "feedback", "vacation", "delivered" };
	for (size_t i = 0; i < 3; i++) {
		struct td_bmsg m;
		memset(&m, 0, sizeof(m));
		struct td_bounce_recipient rc;
		memset(&rc, 0, sizeof(rc));
		rc.address = (char *)"a@example.org";
		rc.diagnostic = (char *)"550 5.1.1 User unknown";
		rc.action = (char *)"";
		rc.reason = kept[i];
		rc.hard = true;
		td_bounce_classify(&m, &rc);
		CHECK_STR(rc.reason, kept[i]);
		CHECK(!rc.hard);
		CHECK_STR(rc.status, "");
	}
}

/* A multi-line reply ("550-...") reads as one sentence; the reply code
 * found in it must be of the status' class. */
static void test_reply_lines(void)
{
	CLASSIFY("a@example.org", "5.0.0", "", "550-Mailbox quota\n550 usage exceeded",
		 "failed", W("mailboxfull", "5.0.0", "550", false));
	/* "550 4.2.2": the reply of another class is not this failure's */
	CLASSIFY("a@example.org", "4.2.2", "", "550 4.2.2 Over quota", "delayed",
		 W("mailboxfull", "4.2.2", "", false));
	/* the report's reply code stays */
	CLASSIFY("a@example.org", "5.1.1", "551", "User unknown", "failed",
		 W("userunknown", "5.1.1", "551", true));
}

/* The remote host's own vocabulary, from the DSN's Remote-MTA or the
 * recipient's domain. */
static void test_providers(void)
{
	const char *diag = "550 192.0.2.1 rejected. see AUP#CXBL";
	/* not Cox: the label means nothing elsewhere */
	CLASSIFY("a@example.org", "5.0.0", "", diag, "failed",
		 W("onhold", "5.0.0", "550", false));
	CLASSIFY("a@cox.net", "5.0.0", "", diag, "failed",
		 W("blocked", "5.0.0", "550", false));
	const char *ms = "Reporting-MTA: dns; mx.example.org\n\n"
			 "Final-Recipient: rfc822; b@example.com\n"
			 "Action: failed\nStatus: 5.7.1\n"
			 "Remote-MTA: dns; example-com.mail.protection.outlook.com\n"
			 "Diagnostic-Code: smtp; 550 5.7.1 Unable to relay\n";
	check(__LINE__, "b@example.com", "5.7.1", "", "550 5.7.1 Unable to relay", "failed",
	      ms, NULL, (struct want)W("norelaying", "5.7.1", "550", false));
	/* Orange: the number after the label names the reason */
	CLASSIFY("c@orange.fr", "5.0.0", "",
		 "550 5.5.0 Adresse d au moins un destinataire invalide. Invalid recipient. "
		 "LPN416", "failed", W("userunknown", "5.5.0", "550", true));
}

/* A local delivery agent's own words decide (unless the failure came
 * before the message); an agent's failure without known words is a
 * mailer error. */
static void test_local_agents(void)
{
	CLASSIFY("a@example.net", "5.5.0", "", "mail.local: unknown user: a", "failed",
		 W("userunknown", "5.5.0", "", true));
	CLASSIFY("a@example.net", "", "",
		 "procmail: Quota exceeded while writing \"/var/mail/a\"", "failed",
		 W("mailboxfull", "5.0.922", "", false));
	CLASSIFY("a@example.net", "5.0.0", "", "maildrop: cannot lock the mailbox",
		 "failed", W("mailererror", "5.0.0", "", false));
}

/* What the report says besides the Diagnostic-Code. */
static void test_report_fields(void)
{
	const char *dd = "554 delivery error: dd This user doesn't have a example.com account";
	/* without more, an unknown user after the message is a filter's word */
	CLASSIFY("a@example.com", "5.0.0", "", dd, "failed",
		 W("filtered", "5.0.0", "554", false));
	check(__LINE__, "a@example.com", "5.0.0", "", dd, "failed",
	      "Reporting-MTA: dns; mta.example.net\n\n"
	      "Final-Recipient: rfc822; a@example.com\nAction: failed\nStatus: 5.0.0\n"
	      "Diagnostic-Code: smtp; 554 delivery error\n"
	      "X-PowerMTA-BounceCategory: bad-mailbox\n", NULL,
	      (struct want)W("userunknown", "5.0.0", "554", true));
	const char *uu = "550 5.2.1 <a@example.jp>... User Unknown";
	CLASSIFY("a@example.jp", "5.2.1", "", uu, "failed",
		 W("filtered", "5.2.1", "550", false));
	/* the comment after the Status field is the reporting MTA's word */
	check(__LINE__, "a@example.jp", "5.2.1", "", uu, "failed",
	      "Final-Recipient: rfc822;a@example.jp\nAction: failed\n"
	      "Status: 5.2.1 (mailbox disabled, not accepting messages)\n", NULL,
	      (struct want)W("suspend", "5.2.1", "550", false));
	/* Sendmail's transcript has the code the DSN rounded to 5.0.0;
	 * rfc.c leaves the diagnostic type in the words */
	check(__LINE__, "a@example.jp", "5.0.0", "", "X-Unix; 255", "failed",
	      "Final-Recipient: RFC822; a@example.jp\nAction: failed\nStatus: 5.0.0\n"
	      "Diagnostic-Code: X-Unix; 255\n",
	      "   ----- Transcript of session follows -----\n"
	      "DBI connect failed: too many clients already\n"
	      "554 5.3.0 unknown mailer error 255\n\n",
	      (struct want)W("mailererror", "5.3.0", "", false));
	/* "4.4.7" says only that the queue gave up; the text about the
	 * recipient tells what failed */
	check(__LINE__, "g@example.edu", "4.4.7", "", "550 4.4.7 QUEUE.Expired; message expired",
	      "failed", "Final-Recipient: rfc822;g@example.edu\nStatus: 4.4.7\n",
	      "Delivery has failed to these recipients or groups:\n\n"
	      "g@example.edu\nThe server has tried to deliver this message, without success.\n"
	      "Remote Server returned '550 4.4.7 QUEUE.Expired; message expired'\n"
	      "Remote Server returned '441 4.4.1 Error encountered while communicating'\n",
	      (struct want)W("expired", "4.4.1", "", false));
	/* and the whole reply where the DSN kept its first line */
	check(__LINE__, "a@example.jp", "5.7.1", "",
	      "550-5.7.1 Unauthenticated email from example.net is not accepted due to domain's",
	      "failed",
	      "Final-Recipient: RFC822; a@example.jp\nStatus: 5.7.1\n"
	      "Remote-MTA: DNS; gmail-smtp-in.l.google.com\n",
	      "   ----- Transcript of session follows -----\n"
	      "... while talking to gmail-smtp-in.l.google.com.:\n>>> DATA\n"
	      "<<< 550-5.7.1 Unauthenticated email from example.net is not accepted due to domain's\n"
	      "<<< 550-5.7.1 DMARC policy. Please contact the administrator of example.net\n"
	      "<<< 550 5.7.1 domain if this was a legitimate mail.\n\n",
	      (struct want)W("authfailure", "5.7.1", "550", false));
}

/* Words some MTAs use of their own failures. */
static void test_own_words(void)
{
	CLASSIFY("a@example.jp", "", "",
		 "The recipient name is not recognized MSEXCH:IMS:KIJITORA:NEKO 0 (000C05A6) "
		 "Unknown Recipient", "failed", W("userunknown", "5.0.911", "", true));
	/* Exim gives up on temporary failures; GMX's words are permanent */
	CLASSIFY("a@example.com", "", "", "retry timeout exceeded", "failed",
		 W("expired", "4.0.947", "", false));
	CLASSIFY("a@example.com", "", "", "delivery retry timeout exceeded", "failed",
		 W("expired", "5.0.947", "", false));
	/* fml, the list manager */
	CLASSIFY("a@example.org", "", "",
		 "You are not a member of this mailing list <a@example.org>.", "failed",
		 W("rejected", "5.0.918", "", false));
	/* au's words stay apart from what the recipient's own line says */
	check(__LINE__, "a@ezweb.ne.jp", "", "", "550 5.1.1 <a@ezweb.ne.jp>: user unknown",
	      "failed", NULL, "The user(s) account is disabled.\n\n<a@ezweb.ne.jp>\n",
	      (struct want)W("userunknown", "5.1.1", "550", true));
}

/* Classifies address (no status, no action) in a message of headers h
 * and readable text. */
static void classify_in(struct td_bhdr *h, size_t nh, const char *text, const char *address,
			const char *diag, struct td_bounce_recipient *rc)
{
	struct td_bmsg m;
	memset(&m, 0, sizeof(m));
	m.hdr = h;
	m.nhdr = nh;
	m.text = (char *)text;
	memset(rc, 0, sizeof(*rc));
	rc->address = (char *)address;
	rc->diagnostic = (char *)diag;
	rc->action = (char *)"";
	td_bounce_classify(&m, rc);
}

/* Whole messages that say one thing of all their recipients. */
static void test_message_kinds(void)
{
	struct td_bhdr h[] = {
		{ (char *)"X-Failed-Recipients", (char *)"list@googlegroups.com" },
		{ (char *)"X-Google-Smtp-Source", (char *)"ABC" },
	};
	const char *groups =
		"Hello,\n\nWe're writing to let you know that the group you tried to "
		"contact (list) may not exist, or you may not have permission to post "
		"messages to the group. A few more details on why you weren't able to "
		"post:\n\n * You might have spelled or formatted the group name "
		"incorrectly.\n * The owner of the group may have removed this group.\n"
		" * You may need to join the group before receiving permission to post.\n"
		" * This group may not be open to posting.\n\nIf you have questions "
		"related to this or any other Google Group, visit the Help Center at "
		"https://groups.google.com/support/.\n\nThanks,\n\nGoogle Groups\n";
	struct td_bounce_recipient rc;
	classify_in(h, 2, groups, "list@googlegroups.com", "", &rc);
	CHECK_STR(rc.reason, "rejected");
	CHECK_STR(rc.status, "5.0.918");
	CHECK(!rc.hard);

	/* words about no recipient in particular, from Verizon's gateway or
	 * any other, decide nothing: no sender-specific rule (one corpus
	 * file) makes them a hard bounce */
	struct td_bhdr vz[] = { { (char *)"From", (char *)"post_master@vtext.com" } };
	classify_in(vz, 1, "Error: Invalid user address\n\nError message below:\n"
		    "550 - Requested action not taken: no such user here\n\nMessage details:\n"
		    "  RCPT TO: 5555550000@vtext.com\n", "5555550000@vtext.com",
		    "Size (in bytes): 222", &rc);
	CHECK_STR(rc.reason, "onhold");
	CHECK(!rc.hard);
	struct td_bhdr other[] = { { (char *)"From", (char *)"postmaster@example.net" } };
	classify_in(other, 1, "Error: Invalid user address\n\nError message below:\n"
		    "550 - Requested action not taken: no such user here\n\nMessage details:\n"
		    "  RCPT TO: a@example.net\n", "a@example.net", "Size (in bytes): 222", &rc);
	CHECK_STR(rc.reason, "onhold");
	CHECK(!rc.hard);

	/* au's content filter marks its refusals in a header */
	struct td_bhdr spa[] = { { (char *)"X-SPASIGN", (char *)"NG" } };
	classify_in(spa, 1, NULL, "a@ezweb.ne.jp",
		    "Each of the following recipients was rejected by a remote mail server.", &rc);
	CHECK_STR(rc.reason, "filtered");
	CHECK_STR(rc.status, "5.0.910");
}

/* A mailer that is a program: X-Unix diagnostics. */
static void test_mailer(void)
{
	const char *rp = "Reporting-MTA: dns; mx.example.org\n\n"
			 "Final-Recipient: rfc822; d@example.org\n"
			 "Action: failed\nStatus: 5.0.0\n"
			 "Diagnostic-Code: X-Unix; 255\n";
	check(__LINE__, "d@example.org", "5.0.0", "", "255", "failed", rp, NULL,
	      (struct want)W("mailererror", "5.0.0", "", false));
}

int main(void)
{
	TD_RUN(test_userunknown);
	TD_RUN(test_command_decides);
	TD_RUN(test_words_over_codes);
	TD_RUN(test_notaccept);
	TD_RUN(test_fallbacks);
	TD_RUN(test_kept);
	TD_RUN(test_reply_lines);
	TD_RUN(test_providers);
	TD_RUN(test_mailer);
	TD_RUN(test_local_agents);
	TD_RUN(test_report_fields);
	TD_RUN(test_own_words);
	TD_RUN(test_message_kinds);
	return TD_DONE("test_bounce_classify");
}
