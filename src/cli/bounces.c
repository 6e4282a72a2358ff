/*
 * bounces.c: `bounces`, the bounce mailbox read into the store
 * (process.h) under the run lock; `--dry-run` reads and reports without
 * the lock, recording and removing nothing. `run` calls
 * td_cli_read_bounces inside its own lock before it sends.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "tagdigest/bounce/process.h"
#include "tagdigest/cli/options.h"
#include "tagdigest/core/log.h"

static const char bounces_help[] =
	"usage: tagdigest bounces [--dry-run]\n\n"
	"Reads the bounce mailbox ([bounces] mailbox: maildir:PATH, imaps://,\n"
	"imap:// with STARTTLS, pop3s://, pop3:// with STLS) and acts on what came\n"
	"back: a hard bounce suppresses the reader (after [bounces] hard_after),\n"
	"soft bounces add to a score that halves with each good digest between\n"
	"two of them and suppress at soft_threshold, a complaint (feedback report\n"
	"of abuse, fraud or opt-out) unsubscribes from everything, an auto-reply\n"
	"is recorded only. With [bounces] return_path set, a mail counts only\n"
	"when its VERP token is valid; else its failed address must be a\n"
	"subscriber. A mail that names nobody we sent to changes nothing, is\n"
	"reported and stays (or goes to processed_folder). Each mail is recorded, then\n"
	"removed (or moved to processed_folder); a mail that is not a bounce or\n"
	"a report stays where it is. One line per mail on stderr, a summary on\n"
	"stdout. Takes the run lock (exit 75 while a run holds it); on a\n"
	"PostgreSQL store it waits for another reader of the mailbox instead.\n"
	"  --dry-run   read and report; record nothing, remove nothing\n\n"
	"exit status: 0 done, 78 bad config or login refused, 69 server\n"
	"unreachable or bad certificate, 76 the server refused a command (the\n"
	"mail stays for the next run), 75 connection lost or a mail left for\n"
	"the next run, 66 no such Maildir.\n";

static void print_summary(const struct td_bounce_summary *s, bool dry_run, bool as_result)
{
	char line[512], acts[128];
	/* a dry run applies no policy, so it cannot say who would go */
	if (dry_run)
		snprintf(acts, sizeof acts, "nothing recorded or removed");
	else
		snprintf(acts, sizeof acts, "%zu reader%s suppressed, %zu unsubscribed",
			 s->suppressed, s->suppressed == 1 ? "" : "s", s->unsubscribed);
	snprintf(line, sizeof line,
		 "bounces%s: %zu mail%s read: %zu bounce%s, %zu complaint%s, %zu note%s, "
		 "%zu naming nobody we sent to (%zu left in the mailbox), %zu not a "
		 "bounce (left in the mailbox), %zu recorded before; %s; %zu failed",
		 dry_run ? " --dry-run" : "", s->mails, s->mails == 1 ? "" : "s",
		 s->bounces, s->bounces == 1 ? "" : "s", s->complaints,
		 s->complaints == 1 ? "" : "s", s->notes, s->notes == 1 ? "" : "s",
		 s->unknown, s->unknown_left, s->not_bounces, s->seen_before, acts,
		 s->failed);
	/* the summary is a result (stdout), silenced by -q like every
	 * command's; inside `run --json` it is a diagnostic (stderr) */
	if (as_result && td_log_get_level() >= TD_LOG_INFO)
		printf("%s\n", line);
	else if (!as_result)
		td_log_info("%s", line);
}

int td_cli_read_bounces(const struct td_config *cfg, struct td_store *st, bool dry_run,
			bool as_result)
{
	struct td_err err = { 0, "" };
	if (!cfg->bounce_mailbox) {
		td_log_warnx("bounces: %s: [bounces] mailbox is not set: nothing to read",
			     cfg->file);
		return EX_CONFIG;
	}
	struct td_verp_setup verp;
	/* a dry run creates no secret: one made now would verify nothing */
	int rc = td_options_verp(cfg, !dry_run, &verp, &err);
	if (rc) {
		td_options_verp_free(&verp);
		return td_cli_fail(&err);
	}
	struct td_bounce_options o = td_options_bounces(cfg, verp.use);
	o.dry_run = dry_run;
	/* the lines are for people: not under -q */
	o.log = td_log_get_level() >= TD_LOG_INFO ? stderr : NULL;
	struct td_bounce_summary s;
	rc = td_bounces_process(st, &o, &s, &err);
	td_options_verp_free(&verp);
	/* what was done before an error is done: say it */
	if (s.mails || !rc)
		print_summary(&s, dry_run, as_result);
	return rc ? td_cli_fail(&err) : 0;
}

int td_cli_bounces(const struct td_cli_globals *g, int argc, char **argv)
{
	bool helped, dry_run = false;
	struct td_cli_opt opts[] = { { "--dry-run", false, NULL, &dry_run } };
	struct td_config cfg;
	struct td_store *st;
	int lockfd;
	int rc = td_cli_begin_writer(g, "bounces", bounces_help, argc, argv, opts, 1,
				     &dry_run, TD_LOCK_ROSTER, &helped, &cfg, &st, &lockfd);
	if (rc || helped)
		return rc;
	rc = td_cli_read_bounces(&cfg, st, dry_run, true);
	td_cli_end_writer(&cfg, st, lockfd);
	return rc;
}
