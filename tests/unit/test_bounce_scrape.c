/*
 * test_bounce_scrape: the plain-text bounce formats (src/bounce/scrape.c),
 * through td_bounce_parse on messages written here in the shape each MTA
 * writes (the sentences are the MTAs', the people and hosts are made up).
 * What is checked is what scrape.c owns: which recipients, in order, the
 * server's words on one line, and the codes the text itself writes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "tagdigest/bounce/report.h"
#include "tagdigest/core/err.h"
#include "tagdigest/core/util.h"

static struct td_bounce_report parse(const char *msg)
{
	struct td_bounce_report r;
	struct td_err err = { 0 };
	if (td_bounce_parse(msg, strlen(msg), &r, &err) != 0)
		fprintf(stderr, "td_bounce_parse failed\n");
	return r;
}

/* One line of valid UTF-8 without control characters. */
static bool one_clean_line(const char *s)
{
	if (!s || !td_utf8_valid(s, strlen(s)))
		return false;
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

static void test_qmail_two_recipients(void)
{
	struct td_bounce_report r = parse(
		"From: MAILER-DAEMON@mx.sender.test\n"
		"To: list@sender.test\n"
		"Subject: failure notice\n"
		"\n"
		"Hi. This is the qmail-send program at mx.sender.test.\n"
		"I'm afraid I wasn't able to deliver your message to the following addresses.\n"
		"This is a permanent error; I've given up. Sorry it didn't work out.\n"
		"\n"
		"<ann@far.test>:\n"
		"192.0.2.7 does not like recipient.\n"
		"Remote host said: 550 5.1.1 <ann@far.test>: No such user\n"
		"Giving up on 192.0.2.7.\n"
		"\n"
		"<bob@far.test>:\n"
		"192.0.2.7 does not like recipient.\n"
		"Remote host said: 452 4.2.2 <bob@far.test>: Over quota\n"
		"\n"
		"--- Below this line is a copy of the message.\n"
		"\n"
		"Return-Path: <list@sender.test>\n"
		"To: carol@far.test\n"
		"Subject: digest\n");
	REQUIRE(r.n == 2);
	CHECK(r.bounce);
	CHECK_STR(r.v[0].address, "ann@far.test");
	CHECK_STR(r.v[0].status, "5.1.1");
	CHECK_STR(r.v[0].reply_code, "550");
	CHECK_STR(r.v[0].diagnostic,
		  "192.0.2.7 does not like recipient. Remote host said: 550 5.1.1 "
		  "<ann@far.test>: No such user Giving up on 192.0.2.7.");
	CHECK_STR(r.v[1].address, "bob@far.test");
	CHECK_STR(r.v[1].status, "4.2.2");
	CHECK_STR(r.v[1].reply_code, "452");
	/* the copy of the message (its To: carol) is not a recipient */
	td_bounce_report_free(&r);
}

static void test_exim_indented_list(void)
{
	struct td_bounce_report r = parse(
		"From: Mail Delivery System <Mailer-Daemon@relay.sender.test>\n"
		"To: list@sender.test\n"
		"Subject: Mail delivery failed: returning message to sender\n"
		"X-Failed-Recipients: dan@far.test\n"
		"\n"
		"This message was created automatically by mail delivery software.\n"
		"\n"
		"A message that you sent could not be delivered to one or more of its\n"
		"recipients. This is a permanent error. The following address(es) failed:\n"
		"\n"
		"  dan@far.test\n"
		"    host mx.far.test [192.0.2.9]\n"
		"    SMTP error from remote mail server after RCPT TO:<dan@far.test>:\n"
		"    550 Unrouteable address\n"
		"\n"
		"------ This is a copy of the message, including all the headers. ------\n"
		"\n"
		"Return-path: <list@sender.test>\n"
		"To: erin@far.test\n");
	REQUIRE(r.n == 1);
	CHECK_STR(r.v[0].address, "dan@far.test");
	/* no status in the text: classify.c derives it from the words */
	CHECK_STR(r.v[0].reply_code, "550");
	CHECK(strstr(r.v[0].diagnostic, "550 Unrouteable address") != NULL);
	CHECK(one_clean_line(r.v[0].diagnostic));
	td_bounce_report_free(&r);
}

/* Sendmail's transcript: each recipient's words are on its own line; the
 * next recipient's transcript is not the previous one's reason. */
static void test_sendmail_same_line(void)
{
	struct td_bounce_report r = parse(
		"From: Mail Delivery Subsystem <MAILER-DAEMON@old.sender.test>\n"
		"To: list@sender.test\n"
		"Subject: Returned mail: User unknown\n"
		"\n"
		"   ----- Transcript of session follows -----\n"
		"550 <fay@far.test>... Host unknown (Authoritative answer from name server)\n"
		"While talking to mx.near.test:\n"
		">>> RCPT To:<gus@near.test>\n"
		"<<< 550 No such user here.\n"
		"550 <gus@near.test>... User unknown\n"
		"   ----- Unsent message follows -----\n"
		"To: fay@far.test, gus@near.test\n");
	REQUIRE(r.n == 2);
	CHECK_STR(r.v[0].address, "fay@far.test");
	CHECK_STR(r.v[0].diagnostic, "Host unknown (Authoritative answer from name server)");
	CHECK_STR(r.v[1].address, "gus@near.test");
	CHECK(strstr(r.v[1].diagnostic, "No such user here") != NULL);
	CHECK(strstr(r.v[1].diagnostic, "Host unknown") == NULL);
	td_bounce_report_free(&r);
}

/* The address inside the opening sentence (DragonFly), and an SMTP
 * transcript whose failure comes after a success code. */
static void test_inline_sentence_and_failure_code(void)
{
	struct td_bounce_report r = parse(
		"From: MAILER-DAEMON <>\n"
		"To: list@sender.test\n"
		"Subject: Mail delivery failed\n"
		"\n"
		"This is the DragonFly Mail Agent at dma.sender.test.\n"
		"\n"
		"There was an error delivering your mail to <hal@far.test>.\n"
		"\n"
		"mx.far.test [192.0.2.4] did not like our DATA:\n"
		"250 2.1.5 Ok\n"
		"451 4.3.0 Error: queue file write error\n"
		"\n"
		"Message headers follow.\n");
	REQUIRE(r.n == 1);
	CHECK_STR(r.v[0].address, "hal@far.test");
	CHECK_STR(r.v[0].status, "4.3.0");
	CHECK_STR(r.v[0].reply_code, "451");
	CHECK(strstr(r.v[0].diagnostic, "There was an error delivering your mail to") == r.v[0].diagnostic);
	td_bounce_report_free(&r);
}

/* Gmail's sentence tells a delay from a failure: it is part of the
 * words, the warning's banner is not. */
static void test_opening_sentence_words(void)
{
	struct td_bounce_report r = parse(
		"From: Mail Delivery Subsystem <mailer-daemon@mail.test>\n"
		"To: list@sender.test\n"
		"Subject: Delivery Status Notification (Delay)\n"
		"\n"
		"THIS IS A WARNING MESSAGE ONLY.\n"
		"\n"
		"Delivery to the following recipient has been delayed:\n"
		"\n"
		"     uma@far.test\n"
		"\n"
		"Message will be retried for 2 more day(s)\n"
		"\n"
		"----- Original message -----\n"
		"To: uma@far.test\n");
	REQUIRE(r.n == 1);
	CHECK_STR(r.v[0].address, "uma@far.test");
	CHECK_STR(r.v[0].diagnostic, "Delivery to the following recipient has been delayed: "
				     "Message will be retried for 2 more day(s)");
	td_bounce_report_free(&r);
}

/* A mailing list refusing the post names itself in its sentence; the
 * address it tells the sender to write to is not a recipient. */
static void test_list_manager_refusal(void)
{
	struct td_bounce_report r = parse(
		"From: club-admin@lists.test\n"
		"To: list@sender.test\n"
		"Subject: You list@sender.test are not member (club ML)\n"
		"X-MLServer: fml [fml 4.0.3 release]\n"
		"\n"
		"You are not a member of this mailing list <club@lists.test>.\n"
		"\n"
		"If you know the general guide of this list, please send mail to\n"
		"\n"
		" club-ctl@lists.test\n"
		"\n"
		"Original mail as follows:\n"
		"\n"
		"To: club@lists.test\n");
	REQUIRE(r.n == 1);
	CHECK_STR(r.v[0].address, "club@lists.test");
	CHECK(strstr(r.v[0].diagnostic, "You are not a member of this mailing list") == r.v[0].diagnostic);
	td_bounce_report_free(&r);
}

/* No list in the text at all: the header names the failed address. */
static void test_x_failed_recipients(void)
{
	struct td_bounce_report r = parse(
		"From: Mail Delivery Subsystem <mailer-daemon@mail.test>\n"
		"To: list@sender.test\n"
		"Subject: Delivery Status Notification (Failure)\n"
		"X-Failed-Recipients: group@groups.test\n"
		"\n"
		"Hello list@sender.test,\n"
		"\n"
		"The group you tried to contact may not exist.\n");
	REQUIRE(r.n == 1);
	CHECK_STR(r.v[0].address, "group@groups.test");
	CHECK(strstr(r.v[0].diagnostic, "may not exist") != NULL);
	td_bounce_report_free(&r);
}

static void test_amazon_ses_notifications(void)
{
	struct td_bounce_report r = parse(
		"From: SES <no-reply@sns.amazonaws.com>\n"
		"To: ops@sender.test\n"
		"Subject: AWS Notification Message\n"
		"\n"
		"{\"notificationType\":\"Bounce\",\"bounce\":{\"bounceType\":\"Permanent\","
		"\"bouncedRecipients\":[{\"emailAddress\":\"ivy@far.test\",\"action\":\"failed\","
		"\"status\":\"5.1.1\",\"diagnosticCode\":\"smtp; 550 5.1.1 user unknown\"},"
		"{\"emailAddress\":\"jon@far.test\",\"action\":\"failed\",\"status\":\"5.2.2\","
		"\"diagnosticCode\":\"smtp; 552 5.2.2 mailbox full\"}]},\n"
		"\"mail\":{\"source\":\"list@sender.test\",\"destination\":[\"ivy@far.test\"]}}\n");
	REQUIRE(r.n == 2);
	CHECK_STR(r.v[0].address, "ivy@far.test");
	CHECK_STR(r.v[0].status, "5.1.1");
	CHECK_STR(r.v[0].diagnostic, "smtp; 550 5.1.1 user unknown");
	CHECK_STR(r.v[1].address, "jon@far.test");
	CHECK_STR(r.v[1].status, "5.2.2");
	CHECK_STR(r.v[1].reply_code, "552");
	td_bounce_report_free(&r);

	/* a complaint, its JSON itself a string in the SNS envelope */
	r = parse("From: SES <no-reply@sns.amazonaws.com>\n"
		  "Subject: AWS Notification Message\n"
		  "\n"
		  "{\n  \"Type\" : \"Notification\",\n"
		  "  \"Message\" : \"{\\\"notificationType\\\":\\\"Complaint\\\","
		  "\\\"complaint\\\":{\\\"complainedRecipients\\\":[{\\\"emailAddress\\\":"
		  "\\\"kim@far.test\\\"}],\\\"complaintFeedbackType\\\":\\\"abuse\\\"}}\"\n}\n");
	REQUIRE(r.n == 1);
	CHECK_STR(r.v[0].address, "kim@far.test");
	CHECK_STR(r.v[0].reason, "feedback");
	CHECK(r.feedback && strcmp(r.feedback, "abuse") == 0);
	CHECK(!r.bounce);
	td_bounce_report_free(&r);
}

/* Ordinary mail that quotes a bounce and lists addresses: nothing. */
static void test_ordinary_mail_gives_none(void)
{
	struct td_bounce_report r = parse(
		"From: Lee <lee@friend.test>\n"
		"To: list@sender.test\n"
		"Subject: about last week's digest\n"
		"\n"
		"My server said this when I forwarded it:\n"
		"\n"
		"  A message that you sent could not be delivered to one or more of its\n"
		"  recipients. The following address(es) failed:\n"
		"\n"
		"<mo@far.test>:\n"
		"  nina@far.test\n"
		"550 <oz@far.test>... User unknown\n");
	CHECK(r.n == 0);
	CHECK(!r.bounce);
	td_bounce_report_free(&r);
}

/* A bounce's own addressee (the returned mail's sender) is never a
 * failed recipient, even on a line of its own. */
static void test_addressee_is_not_a_recipient(void)
{
	struct td_bounce_report r = parse(
		"From: MAILER-DAEMON@mx.far.test\n"
		"To: list@sender.test\n"
		"Subject: failure notice\n"
		"\n"
		"Unable to deliver message to the following address(es).\n"
		"\n"
		"<list@sender.test>:\n"
		"your message was sent by\n"
		"<pat@far.test>:\n"
		"This user doesn't have an account here [0]\n"
		"\n"
		"--- Original message follows.\n");
	REQUIRE(r.n == 1);
	CHECK_STR(r.v[0].address, "pat@far.test");
	td_bounce_report_free(&r);
}

/* A DSN without Diagnostic-Code: the words come from its human part. */
static void test_fills_missing_diagnostic(void)
{
	struct td_bounce_report r = parse(
		"From: MAILER-DAEMON@mx.far.test\n"
		"To: list@sender.test\n"
		"Subject: Undelivered Mail Returned to Sender\n"
		"MIME-Version: 1.0\n"
		"Content-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\n"
		"\n"
		"--b\n"
		"Content-Type: text/plain\n"
		"\n"
		"The mail system\n"
		"\n"
		"<quinn@far.test>: host mx.far.test[192.0.2.3] said: 550 mailbox\n"
		"    unavailable (in reply to RCPT TO command)\n"
		"\n"
		"--b\n"
		"Content-Type: message/delivery-status\n"
		"\n"
		"Reporting-MTA: dns; mx.sender.test\n"
		"\n"
		"Final-Recipient: rfc822; quinn@far.test\n"
		"Action: failed\n"
		"Status: 5.0.0\n"
		"\n"
		"--b--\n");
	REQUIRE(r.n == 1);
	CHECK_STR(r.v[0].address, "quinn@far.test");
	CHECK(strstr(r.v[0].diagnostic, "550 mailbox unavailable (in reply to RCPT TO command)") != NULL);
	CHECK_STR(r.v[0].reply_code, "550");
	td_bounce_report_free(&r);
}

/* Two recipients without Diagnostic-Code: each gets the words the text
 * gives its own address, a third the text does not list gets none. */
static void test_fills_each_recipient_its_own_words(void)
{
	struct td_bounce_report r = parse(
		"From: MAILER-DAEMON@mx.far.test\n"
		"To: list@sender.test\n"
		"Subject: Returned mail: see transcript for details\n"
		"MIME-Version: 1.0\n"
		"Content-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\n"
		"\n"
		"--b\n"
		"Content-Type: text/plain\n"
		"\n"
		"   ----- The following addresses had permanent fatal errors -----\n"
		"<vic@far.test>\n"
		"    (reason: 550 5.1.1 No such user)\n"
		"<wes@far.test>\n"
		"    (reason: 552 5.2.2 Mailbox full)\n"
		"\n"
		"--b\n"
		"Content-Type: message/delivery-status\n"
		"\n"
		"Reporting-MTA: dns; mx.far.test\n"
		"\n"
		"Final-Recipient: rfc822; vic@far.test\n"
		"Action: failed\n"
		"Status: 5.0.0\n"
		"\n"
		"Final-Recipient: rfc822; wes@far.test\n"
		"Action: failed\n"
		"Status: 5.0.0\n"
		"\n"
		"Final-Recipient: rfc822; xia@far.test\n"
		"Action: failed\n"
		"Status: 5.0.0\n"
		"\n"
		"--b--\n");
	REQUIRE(r.n == 3);
	CHECK_STR(r.v[0].diagnostic, "(reason: 550 5.1.1 No such user)");
	CHECK_STR(r.v[1].diagnostic, "(reason: 552 5.2.2 Mailbox full)");
	CHECK_STR(r.v[1].reply_code, "552");
	CHECK_STR(r.v[2].diagnostic, "");
	td_bounce_report_free(&r);
}

/* Hostile text: thousands of recipient lines, control characters and
 * broken UTF-8 in the words, a line of nothing but '@'. */
static void test_hostile_text(void)
{
	size_t cap = 1u << 20, n = 0;
	char *m = malloc(cap);
	REQUIRE(m != NULL);
	n += (size_t)snprintf(m + n, cap - n,
			      "From: MAILER-DAEMON@mx.far.test\nTo: list@sender.test\n"
			      "Subject: failure notice\n\n"
			      "I'm afraid I wasn't able to deliver your message to the following addresses.\n"
			      "<r0@far.test>:\nbad \x1b[31mred\x07 \xff\xfe words \xe2\x82\n");
	memset(m + n, '@', 5000);
	n += 5000;
	m[n++] = '\n';
	for (int i = 1; i < 2000 && n + 64 < cap; i++)
		n += (size_t)snprintf(m + n, cap - n, "<r%d@far.test>:\n550 no\n", i);
	m[n] = '\0';
	struct td_bounce_report r;
	struct td_err err = { 0 };
	REQUIRE(td_bounce_parse(m, n, &r, &err) == 0);
	CHECK(r.n == TD_BOUNCE_MAX_RECIPIENTS);
	REQUIRE(r.n > 0);
	CHECK_STR(r.v[0].address, "r0@far.test");
	CHECK(one_clean_line(r.v[0].diagnostic));
	CHECK(strstr(r.v[0].diagnostic, "red") != NULL);
	for (size_t i = 0; i < r.n; i++)
		CHECK(one_clean_line(r.v[i].diagnostic));
	td_bounce_report_free(&r);
	free(m);
}

int main(void)
{
	TD_RUN(test_qmail_two_recipients);
	TD_RUN(test_exim_indented_list);
	TD_RUN(test_sendmail_same_line);
	TD_RUN(test_inline_sentence_and_failure_code);
	TD_RUN(test_opening_sentence_words);
	TD_RUN(test_list_manager_refusal);
	TD_RUN(test_x_failed_recipients);
	TD_RUN(test_amazon_ses_notifications);
	TD_RUN(test_ordinary_mail_gives_none);
	TD_RUN(test_addressee_is_not_a_recipient);
	TD_RUN(test_fills_missing_diagnostic);
	TD_RUN(test_fills_each_recipient_its_own_words);
	TD_RUN(test_hostile_text);
	return TD_DONE("test_bounce_scrape");
}
