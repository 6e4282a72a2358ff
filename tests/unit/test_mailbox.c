/*
 * test_mailbox: mailbox.h without a network: the spec check the config
 * loader calls, a local Maildir read, removed and moved, and the password
 * checks that come before any connection. IMAP and POP3 against a real
 * Dovecot are in tests/e2e/test_bounce_mailbox.py.
 */
#include "harness.h"

#include <ftw.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "tagdigest/bounce/mailbox.h"
#include "tagdigest/core/buf.h"

static int rm_one(const char *path, const struct stat *st, int flag,
		  struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void make_maildir(char *dir, size_t n)
{
	snprintf(dir, n, "/tmp/td-mailbox-XXXXXX");
	if (!mkdtemp(dir))
		abort();
	char sub[4200];
	static const char *const subs[] = { "new", "cur", "tmp" };
	for (int k = 0; k < 3; k++) {
		snprintf(sub, sizeof sub, "%s/%s", dir, subs[k]);
		mkdir(sub, 0700);
	}
}

static bool exists(const char *dir, const char *name)
{
	char path[4200];
	struct stat st;
	snprintf(path, sizeof path, "%s/%s", dir, name);
	return stat(path, &st) == 0;
}

static void test_spec_check(void)
{
	struct td_err err;
	static const char *const good[] = {
		"maildir:/var/mail/bounces",
		"imaps://bounce@mail.example.org",
		"imaps://bounce@mail.example.org:9993/Bounces",
		"imap://bounce%40example.org@127.0.0.1:143/INBOX",
		"pop3s://bounce@[::1]:995",
		"pop3://bounce@mail.example.org",
		"IMAPS://bounce@mail.example.org/",
	};
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		int rc = td_mailbox_spec_check(good[i], NULL, &err);
		CHECK(rc == 0);
		if (rc)
			fprintf(stderr, "  %s: %s\n", good[i], err.msg);
	}

	/* Each refused with a message that names what to fix. */
	static const struct {
		const char *spec, *folder, *says;
	} bad[] = {
		{ "", NULL, "not set" },
		{ "maildir:", NULL, "no path" },
		{ "http://bounce@example.org", NULL, "want maildir:PATH" },
		{ "imap+plain://bounce@example.org", NULL, "want maildir:PATH" },
		{ "imaps://example.org", NULL, "no user" },
		{ "imaps://bounce:hunter2@example.org", NULL, "password_env" },
		{ "imaps://bounce@", NULL, "host" },
		{ "imaps://bounce@exa mple.org", NULL, "host" },
		{ "imaps://bounce@example.org:0", NULL, "port" },
		{ "imaps://bounce@example.org:99999", NULL, "port" },
		{ "imaps://bounce@example.org:99x", NULL, "port" },
		{ "imaps://bounce@[::1", NULL, "unclosed" },
		{ "imaps://bounce@example.org/INBOX?x=1", NULL, "query" },
		{ "imaps://bo%zzunce@example.org", NULL, "escape" },
		{ "imaps://bo%0aunce@example.org", NULL, "escape" },
		{ "imaps://bounce@example.org/IN\nBOX", NULL, "control" },
		{ "pop3s://bounce@example.org/INBOX", NULL, "POP3 has no folders" },
		{ "pop3s://bounce@example.org", "Processed", "POP3 cannot move" },
		{ "maildir:/m", "../x", "Maildir++" },
		{ "maildir:/m", ".Processed", "Maildir++" },
		{ "imaps://bounce@example.org/Bounces", "Bounces", "being read" },
		/* INBOX is INBOX in any case (RFC 3501 5.1) */
		{ "imaps://bounce@example.org", "inbox", "being read" },
		{ "imap://bounce@example.org/Inbox", "INBOX", "being read" },
		{ "imaps://bounce@example.org", "Pro\rcessed", "control" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		err.msg[0] = '\0';
		int rc = td_mailbox_spec_check(bad[i].spec, bad[i].folder, &err);
		CHECK(rc == EX_CONFIG);
		CHECK(strstr(err.msg, bad[i].says) != NULL);
		if (rc != EX_CONFIG || !strstr(err.msg, bad[i].says))
			fprintf(stderr, "  %s: %s\n", bad[i].spec, err.msg);
	}
	/* Only INBOX ignores case: other names are the server's. */
	CHECK(td_mailbox_spec_check("imaps://b@example.org/Bounces", "bounces",
				    &err) == 0);
	CHECK(td_mailbox_spec_check("imaps://b@example.org", "INBOX.Done",
				    &err) == 0);
	/* A POP3 mailbox with no folder set deletes: fine. */
	CHECK(td_mailbox_spec_check("pop3s://b@example.org", "", &err) == 0);
}

static void test_maildir_read_and_delete(void)
{
	char dir[64], spec[128];
	struct td_err err;
	struct td_mailbox *mb = NULL;
	struct td_buf b = TD_BUF_INIT;

	make_maildir(dir, sizeof dir);
	write_file(dir, "new/200.M2.host", "Subject: second\n\nb\n");
	write_file(dir, "new/100.M1.host", "Subject: first\n\na\n");
	write_file(dir, "cur/050.M0.host:2,S", "Subject: read\n\nc\n");
	write_file(dir, "new/.hidden", "not a message\n");
	snprintf(spec, sizeof spec, "maildir:%s", dir);

	struct td_mailbox_options o = { .spec = spec, .timeout = 5 };
	REQUIRE(td_mailbox_open(&o, &mb, &err) == 0);
	REQUIRE(td_mailbox_count(mb) == 3);
	/* new/ first, each in name (delivery time) order; bytes as stored */
	CHECK_STR(td_mailbox_name(mb, 0), "new/100.M1.host");
	CHECK_STR(td_mailbox_name(mb, 1), "new/200.M2.host");
	CHECK_STR(td_mailbox_name(mb, 2), "cur/050.M0.host:2,S");
	CHECK(td_mailbox_fetch(mb, 0, &b, &err) == 0);
	CHECK_STR(td_buf_cstr(&b), "Subject: first\n\na\n");
	CHECK(td_mailbox_fetch(mb, 2, &b, &err) == 0);
	CHECK_STR(td_buf_cstr(&b), "Subject: read\n\nc\n");
	CHECK(td_mailbox_fetch(mb, 3, &b, &err) == EX_SOFTWARE);

	CHECK(td_mailbox_done(mb, 0, &err) == 0);
	CHECK(!exists(dir, "new/100.M1.host"));
	CHECK(exists(dir, "new/200.M2.host"));
	CHECK(td_mailbox_close(mb, &err) == 0);
	/* Reading wrote nothing into the Maildir (libetpan's maildir code
	 * would have left a maildirfolder file). */
	CHECK(!exists(dir, "maildirfolder"));

	/* A message removed behind our back: an error for that message. */
	REQUIRE(td_mailbox_open(&o, &mb, &err) == 0);
	REQUIRE(td_mailbox_count(mb) == 2);
	char gone[128];
	snprintf(gone, sizeof gone, "%s/new/200.M2.host", dir);
	remove(gone);
	CHECK(td_mailbox_fetch(mb, 0, &b, &err) == EX_NOINPUT);
	CHECK(strstr(err.msg, "new/200.M2.host") != NULL);
	CHECK(td_mailbox_close(mb, &err) == 0);

	td_buf_free(&b);
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void test_maildir_move(void)
{
	char dir[64], spec[128];
	struct td_err err;
	struct td_mailbox *mb = NULL;

	make_maildir(dir, sizeof dir);
	write_file(dir, "new/100.M1.host", "Subject: a\n\na\n");
	write_file(dir, "cur/050.M0.host:2,S", "Subject: b\n\nb\n");
	snprintf(spec, sizeof spec, "maildir:%s", dir);
	struct td_mailbox_options o = { .spec = spec, .timeout = 5,
					.processed_folder = "Processed" };
	REQUIRE(td_mailbox_open(&o, &mb, &err) == 0);
	REQUIRE(td_mailbox_count(mb) == 2);
	CHECK(td_mailbox_done(mb, 0, &err) == 0);
	CHECK(td_mailbox_done(mb, 1, &err) == 0);
	CHECK(td_mailbox_close(mb, &err) == 0);
	/* Maildir++: .Processed/cur, an info part for what came from new/ */
	CHECK(exists(dir, ".Processed/cur/100.M1.host:2,"));
	CHECK(exists(dir, ".Processed/cur/050.M0.host:2,S"));
	CHECK(exists(dir, ".Processed/new"));
	CHECK(exists(dir, ".Processed/tmp"));
	CHECK(exists(dir, ".Processed/maildirfolder"));
	CHECK(!exists(dir, "new/100.M1.host"));
	CHECK(!exists(dir, "cur/050.M0.host:2,S"));
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Read-only (bounces --dry-run): no folder made, nothing moved, and
 * done refused. */
static void test_maildir_read_only(void)
{
	char dir[64], spec[128];
	struct td_err err;
	struct td_mailbox *mb = NULL;
	struct td_buf b = TD_BUF_INIT;

	make_maildir(dir, sizeof dir);
	write_file(dir, "new/100.M1.host", "Subject: a\n\na\n");
	snprintf(spec, sizeof spec, "maildir:%s", dir);
	struct td_mailbox_options o = { .spec = spec, .timeout = 5,
					.processed_folder = "Processed",
					.read_only = true };
	REQUIRE(td_mailbox_open(&o, &mb, &err) == 0);
	REQUIRE(td_mailbox_count(mb) == 1);
	CHECK(td_mailbox_fetch(mb, 0, &b, &err) == 0);
	CHECK(td_mailbox_done(mb, 0, &err) == EX_SOFTWARE);
	CHECK(strstr(err.msg, "read only") != NULL);
	CHECK(td_mailbox_close(mb, &err) == 0);
	CHECK(exists(dir, "new/100.M1.host"));
	CHECK(!exists(dir, ".Processed"));
	CHECK(!exists(dir, "maildirfolder"));
	td_buf_free(&b);
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* A file over 64 MiB (sparse: nothing is written but the header) is read
 * only as far as TD_MAILBOX_FETCH_MAX, not refused on every run. */
static void test_maildir_oversized(void)
{
	char dir[64], spec[128], path[4200];
	struct td_err err;
	struct td_mailbox *mb = NULL;
	struct td_buf b = TD_BUF_INIT;

	make_maildir(dir, sizeof dir);
	static const char head[] = "Subject: big\n\n";
	write_file(dir, "new/100.M1.host", head);
	snprintf(path, sizeof path, "%s/new/100.M1.host", dir);
	REQUIRE(truncate(path, (off_t)65 << 20) == 0);
	snprintf(spec, sizeof spec, "maildir:%s", dir);
	struct td_mailbox_options o = { .spec = spec, .timeout = 5 };
	REQUIRE(td_mailbox_open(&o, &mb, &err) == 0);
	int rc = td_mailbox_fetch(mb, 0, &b, &err);
	CHECK(rc == 0);
	if (rc)
		fprintf(stderr, "  %s\n", err.msg);
	CHECK(b.len == TD_MAILBOX_FETCH_MAX);
	CHECK(b.len >= sizeof head - 1 &&
	      memcmp(b.data, head, sizeof head - 1) == 0);
	CHECK(td_mailbox_close(mb, &err) == 0);
	td_buf_free(&b);
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void test_maildir_missing(void)
{
	struct td_err err;
	struct td_mailbox *mb = (struct td_mailbox *)&err;
	struct td_mailbox_options o = {
		.spec = "maildir:/nonexistent/td-mailbox-test", .timeout = 5 };
	CHECK(td_mailbox_open(&o, &mb, &err) == EX_NOINPUT);
	CHECK(mb == NULL);
	CHECK(strstr(err.msg, "/nonexistent/td-mailbox-test") != NULL);
	CHECK(td_mailbox_close(NULL, &err) == 0);
}

/* The password is read before any connection: these fail at once, on a
 * port nobody listens on. */
static void test_password_checks(void)
{
	char dir[64];
	struct td_err err;
	struct td_mailbox *mb = NULL;

	make_maildir(dir, sizeof dir);
	write_file(dir, "pw", "s3cret\n");
	char pw[128];
	snprintf(pw, sizeof pw, "%s/pw", dir);
	struct td_mailbox_options o = {
		.spec = "imaps://bounce@127.0.0.1:1", .timeout = 5 };

	CHECK(td_mailbox_open(&o, &mb, &err) == EX_CONFIG);
	CHECK(strstr(err.msg, "password_env") != NULL);

	o.password_file = pw;
	chmod(pw, 0644);
	CHECK(td_mailbox_open(&o, &mb, &err) == EX_CONFIG);
	CHECK(strstr(err.msg, pw) && strstr(err.msg, "chmod 600"));
	CHECK(strncmp(err.msg, "bounces: ", 9) == 0);

	/* Private: the password is fine, and the closed port is what fails. */
	chmod(pw, 0600);
	CHECK(td_mailbox_open(&o, &mb, &err) == EX_UNAVAILABLE);
	CHECK(strstr(err.msg, "cannot connect") != NULL);

	o.password_env = "TD_TEST_MAILBOX_NO_SUCH_VAR";
	unsetenv(o.password_env);
	CHECK(td_mailbox_open(&o, &mb, &err) == EX_CONFIG);
	CHECK(strstr(err.msg, "TD_TEST_MAILBOX_NO_SUCH_VAR") != NULL);
	CHECK(mb == NULL);
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

int main(void)
{
	TD_RUN(test_spec_check);
	TD_RUN(test_maildir_read_and_delete);
	TD_RUN(test_maildir_move);
	TD_RUN(test_maildir_read_only);
	TD_RUN(test_maildir_oversized);
	TD_RUN(test_maildir_missing);
	TD_RUN(test_password_checks);
	return TD_DONE("test_mailbox");
}
