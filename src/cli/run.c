/*
 * run.c: `ingest`, `send` and `run`, the commands that write the
 * store: under the run lock (a dry run, which writes nothing, without
 * it); `run` is `ingest` then `send` under one lock, reading the bounce
 * mailbox ([bounces] mailbox, bounces.c) in between.
 *
 * `send` first syncs the editors' subscriber file into the store's
 * roster (import.h, TD_IMPORT_SYNC), then walks the roster: the active
 * readers added or confirmed by the run's start, page by page, so memory
 * stays flat in the number of readers. A reader who confirms while the
 * run sends gets their welcome from the public server, not a digest from
 * the run.
 *
 * A dry run writes nothing, so it cannot sync; it walks what the store
 * would hold after the sync instead (the file's rows overlaid on the
 * roster: td_sync_walk, readers.h, which the desk's "This week" walks
 * too), so it reports what a real run would send, the
 * first run of a site whose roster is still empty included.
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "tagdigest/deliver/deliver.h"
#include "tagdigest/schedule/import.h"
#include "tagdigest/schedule/readers.h"
#include "tagdigest/sources/ingest.h"
#include "tagdigest/store/roster.h"
#include "tagdigest/core/log.h"
#include "tagdigest/cli/options.h"

/* ---- the walks ---- */

/* The roster as the engine's source (deliver.h). */
struct roster_walk {
	struct td_roster_cursor *cur;
	struct td_subscriber view;
};

static int roster_next(void *ctx, const struct td_subscriber **out, struct td_err *err)
{
	struct roster_walk *w = ctx;
	const struct td_member *m;
	int rc = td_roster_cursor_next(w->cur, &m, err);
	if (rc != 1)
		return rc;
	td_member_subscriber(m, &w->view);
	*out = &w->view;
	return 1;
}

/* ---- the file's sync ---- */

/* What the file was right after the sync read it, to tell at the end
 * whether it changed while the run was sending. */
struct file_sig {
	bool ok;
	struct stat sb;
};

static void file_sig_take(const char *path, struct file_sig *s)
{
	s->ok = stat(path, &s->sb) == 0;
}

static bool file_sig_changed(const char *path, const struct file_sig *before)
{
	struct file_sig now;
	file_sig_take(path, &now);
	if (!before->ok || !now.ok)
		return before->ok != now.ok;
	const struct stat *a = &before->sb, *b = &now.sb;
	return a->st_dev != b->st_dev || a->st_ino != b->st_ino ||
	       a->st_size != b->st_size ||
	       a->st_mtim.tv_sec != b->st_mtim.tv_sec ||
	       a->st_mtim.tv_nsec != b->st_mtim.tv_nsec ||
	       a->st_ctim.tv_sec != b->st_ctim.tv_sec ||
	       a->st_ctim.tv_nsec != b->st_ctim.tv_nsec;
}

/* What the sync did. Rows the store did not apply because the reader
 * said otherwise are a warning: the editor who wrote them should hear of
 * it, under -q too. */
static void report_sync(const struct td_config *cfg, const struct td_import_summary *s,
			bool dry_run)
{
	const char *path = cfg->subscribers_path;
	td_cli_warn_bad_rows(cfg, s->bad, s->rows);
	if (s->kept_out)
		td_log_warnx("subscribers: %zu row%s in %s %s for readers who "
			     "unsubscribed, bounced or complained; %s not applied "
			     "(the reader's word wins: `tagdigest subscribers show "
			     "EMAIL` says why)", s->kept_out, s->kept_out == 1 ? "" : "s",
			     path, s->kept_out == 1 ? "is" : "are",
			     s->kept_out == 1 ? "it was" : "they were");
	if (s->reader_kept)
		td_log_info("subscribers: %zu row%s in %s %s for readers who chose "
			    "their own tags in the preference centre; only the "
			    "name%s taken from the file", s->reader_kept,
			    s->reader_kept == 1 ? "" : "s", path,
			    s->reader_kept == 1 ? "is" : "are",
			    s->reader_kept == 1 ? " was" : "s were");
	if (s->skipped)
		td_log_info("subscribers: %s unchanged since the last run", path);
	else
		td_log_info("subscribers: %s %s: %zu added, %zu updated, %zu unchanged, "
			    "%zu removed (rows gone from the file)", path,
			    dry_run ? "would be synced" : "synced", s->added, s->updated,
			    s->unchanged, s->removed);
}

/* `ingest` prints its summary as its result; inside `run` the send line
 * is the result and the ingest summary is only a log line. */
static int do_ingest(const struct td_config *cfg, struct td_store *st, bool as_result)
{
	struct td_ingest_summary s;
	struct td_err err = { 0, "" };
	struct td_ingest_options opt = td_options_ingest(cfg);
	if (td_ingest(&opt, st, TD_INGEST_ALL, time(NULL), &s, &err))
		return td_cli_fail(&err);
	char line[512];
	snprintf(line, sizeof line,
		 "ingest: %zu posts read from %zu sources: %zu new, %zu updated, "
		 "%zu unchanged, %zu already stored from another source, "
		 "%zu bad files skipped%s",
		 s.read, s.sources_ok + s.sources_failed, s.added, s.updated,
		 s.unchanged, s.merged, s.bad,
		 s.sources_failed ? "; some sources failed (see above)" : "");
	if (as_result)
		printf("%s\n", line);
	else
		td_log_info("%s", line);
	return 0;
}

static void print_send(const struct td_config *cfg, const struct td_send_summary *s,
		       const struct td_import_summary *sync, bool dry_run)
{
	char slot[64], next[64];
	td_tz_format(cfg->tz, s->slot, "%a %d %b %Y %H:%M %Z", slot, sizeof slot);
	td_tz_format(cfg->tz, s->next_slot, "%a %d %b %Y %H:%M %Z", next, sizeof next);
	if (s->sent + s->skipped + s->tempfail + s->permfail + s->deferred +
	    s->expired + s->bounced == 0 && !s->stopped_early) {
		printf("send: nothing new to send: %zu of %zu readers already have "
		       "the digest for their latest slot (the site's: %s)%s; next "
		       "site slot %s", s->not_due, s->subscribers, slot,
		       s->suppressed ? ", the others unsubscribed" : "", next);
		if (sync->kept_out)
			printf("; %zu row%s of the subscriber file not applied: "
			       "the reader left", sync->kept_out,
			       sync->kept_out == 1 ? "" : "s");
		printf("\n");
		return;
	}
	printf("send%s: %zu %s, %zu skipped (no new posts), %zu not due, "
	       "%zu unsubscribed, %zu failed temporarily, %zu failed permanently",
	       dry_run ? " --dry-run" : "", s->sent, dry_run ? "would be sent" : "sent",
	       s->skipped, s->not_due, s->suppressed, s->tempfail, s->permfail);
	if (s->deferred)
		printf(", %zu kept for a later try", s->deferred);
	if (s->expired)
		printf(", %zu given up", s->expired);
	if (s->bounced)
		printf(", %zu suppressed after repeated bounces", s->bounced);
	if (s->resent)
		printf(", %zu resent from an earlier run", s->resent);
	printf(", in %.2f s (%.0f messages/s; slot %s)", s->seconds, s->rate, slot);
	if (s->stopped_by_signal)
		printf("; stopped by signal %d after finishing the messages in flight",
		       s->stopped_by_signal);
	if (sync->kept_out)
		printf("; %zu row%s of the subscriber file not applied: the reader "
		       "left", sync->kept_out, sync->kept_out == 1 ? "" : "s");
	if (!dry_run && s->sent && cfg->transport_type == TD_TRANSPORT_MAILDIR)
		printf("; messages in %s/new/", cfg->maildir_path);
	else if (!dry_run && s->sent && cfg->transport_type == TD_TRANSPORT_SMTP)
		printf("; handed to %s", cfg->smtp_url);
	printf("\n");
}

static void print_send_json(const struct td_send_summary *s,
			    const struct td_import_summary *sync, bool dry_run, int rc)
{
	printf("{\"dry_run\":%s,\"file\":{\"rows\":%zu,\"bad\":%zu,\"added\":%zu,"
	       "\"updated\":%zu,\"unchanged\":%zu,\"removed\":%zu,\"not_applied\":%zu,"
	       "\"reader_kept\":%zu},", dry_run ? "true" : "false", sync->rows, sync->bad,
	       sync->added, sync->updated, sync->unchanged, sync->removed, sync->kept_out,
	       sync->reader_kept);
	printf("\"subscribers\":%zu,\"sent\":%zu,\"skipped\":%zu,"
	       "\"not_due\":%zu,\"unsubscribed\":%zu,\"temporary\":%zu,"
	       "\"permanent\":%zu,\"deferred\":%zu,\"expired\":%zu,\"bounced\":%zu,"
	       "\"resent\":%zu,\"seconds\":%.3f,\"messages_per_second\":%.1f,"
	       "\"slot\":%lld,\"next_slot\":%lld,\"stopped_early\":%s,"
	       "\"stopped_by_signal\":%d,\"exit\":%d}\n",
	       s->subscribers, s->sent, s->skipped,
	       s->not_due, s->suppressed, s->tempfail, s->permfail, s->deferred,
	       s->expired, s->bounced, s->resent, s->seconds, s->rate,
	       (long long)s->slot, (long long)s->next_slot,
	       s->stopped_early ? "true" : "false", s->stopped_by_signal, rc);
}

/* A progress line on a terminal, redrawn at most ten times a second. */
struct progress {
	struct timespec last;
	bool drawn;
};

static void draw_progress(const struct td_send_summary *s, void *arg)
{
	struct progress *p = arg;
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	double since = (double)(now.tv_sec - p->last.tv_sec) +
		       (double)(now.tv_nsec - p->last.tv_nsec) / 1e9;
	bool end = s->done >= s->subscribers;
	if (!end && p->drawn && since < 0.1)
		return;
	p->last = now;
	double rate = s->seconds > 0 ? (double)s->done / s->seconds : 0;
	double eta = rate > 0 ? (double)(s->subscribers - s->done) / rate : 0;
	fprintf(stderr, "\rsend: %zu/%zu  %zu sent  %.0f/s  ETA %d:%02d   ", s->done,
		s->subscribers, s->sent, rate, (int)eta / 60, (int)eta % 60);
	p->drawn = true;
}

static int do_send(const struct td_config *cfg, struct td_store *st, const char *name,
		   bool dry_run, bool json)
{
	/* The run's start: the sync's time and the walk's cutoff. */
	time_t now = time(NULL);
	struct td_err err = { 0, "" };
	struct td_import_summary sync;
	memset(&sync, 0, sizeof sync);
	int rc = dry_run ? 0 : td_import_file(st, cfg->subscribers_path, TD_IMPORT_SYNC,
					      false, now, &sync, &err);
	if (rc)
		return td_cli_fail(&err);
	struct file_sig sig;
	file_sig_take(cfg->subscribers_path, &sig);
	if (!dry_run)
		report_sync(cfg, &sync, false);

	/* Walked, not loaded: a run's memory must not grow with the readers. */
	struct roster_walk rw = { NULL, { 0 } };
	struct td_sync_walk *dw = NULL;
	struct td_subscriber_source src;
	if (dry_run) {
		rc = td_sync_walk_open(st, cfg->subscribers_path, now, now, &dw, &err);
		src = (struct td_subscriber_source){ td_sync_walk_next, dw,
						     dw ? td_sync_walk_size_hint(dw) : 0,
						     false };
	} else {
		rc = td_roster_cursor_open(st, now, now, &rw.cur, &err);
		src = (struct td_subscriber_source){ roster_next, &rw,
						     rw.cur ? td_roster_cursor_total(rw.cur) : 0,
						     true };
	}
	if (rc)
		return td_cli_fail(&err);
	struct td_send_summary sum;
	struct progress prog = { { 0, 0 }, false };
	struct td_send_options opt = { .dry_run = dry_run, .progress_arg = &prog,
				       .command = name };
	/* the bar is for people: only on a terminal, never with -q or --json */
	if (isatty(STDERR_FILENO) && td_log_get_level() >= TD_LOG_INFO && !json)
		opt.progress = draw_progress;
	struct td_deliver_options dopt = td_options_deliver(cfg);
	struct td_verp_setup verp;
	rc = td_options_verp(cfg, true, &verp, &err);
	dopt.verp = verp.use;
	if (!rc)
		rc = td_send_run(&dopt, st, &src, &opt, now, &sum, &err);
	else
		memset(&sum, 0, sizeof sum);
	td_options_verp_free(&verp);
	if (prog.drawn)
		fprintf(stderr, "\r%*s\r", 70, "");
	td_roster_cursor_close(rw.cur);
	if (dry_run) {
		sync = *td_sync_walk_summary(dw);
		td_sync_walk_close(dw);
		report_sync(cfg, &sync, true);
	}
	if (file_sig_changed(cfg->subscribers_path, &sig))
		td_log_warnx("subscribers: %s changed while this run was sending; "
			     "the run used the file as it was when it started, "
			     "and the changes apply from the next run",
			     cfg->subscribers_path);
	if (rc)
		td_cli_fail(&err);
	if (json)
		print_send_json(&sum, &sync, dry_run, rc);
	else if ((!rc || rc == EX_TEMPFAIL) && td_log_get_level() >= TD_LOG_INFO)
		print_send(cfg, &sum, &sync, dry_run);
	return rc;
}

static const char ingest_help[] =
	"usage: tagdigest ingest\n\n"
	"Reads every configured source into the store. New posts get the next\n"
	"sequence number; unchanged posts are left alone; edited posts update in\n"
	"place and are not announced again. A failing source is reported and the\n"
	"others are still read.\n";

static const char send_help[] =
	"usage: tagdigest send [--dry-run] [--json]\n\n"
	"Syncs the subscriber file ([subscribers] path) into the store, then\n"
	"delivers the digests that are due: every active reader without a digest\n"
	"for the most recent slot of their own schedule (the site's [schedule]\n"
	"unless they chose a frequency, day, time or zone). Rows for readers who\n"
	"unsubscribed are not applied, and the run says so. Empty digests are\n"
	"recorded as skipped; temporary failures are retried in the run and kept\n"
	"for later runs; a reader who unsubscribes while the run sends gets nothing\n"
	"after the click.\n"
	"Prints one summary line (nothing with -q) and, on a terminal, progress.\n"
	"SIGTERM or SIGINT finishes the messages in flight, records them, exits 75.\n"
	"  --dry-run   render every due digest and report what would go out,\n"
	"              with the file's changes as the sync would apply them;\n"
	"              send nothing, change nothing (the store included)\n"
	"  --json      the summary as one JSON object\n";

static const char run_help[] =
	"usage: tagdigest run [--json]\n\n"
	"`ingest`, then `send` (which syncs the subscriber file first), under a\n"
	"lock: a second concurrent run exits 75 at once and touches nothing.\n"
	"With [bounces] mailbox set, `bounces` runs before the send (a mailbox\n"
	"that cannot be read is reported, and the send goes on).\n"
	"This is the command for cron; run it at least hourly, so every reader's\n"
	"own slot is served within the hour:\n"
	"  7 * * * *  cd /srv/tagdigest && ./build/tagdigest -q run\n";

static int cmd_write(const struct td_cli_globals *g, int argc, char **argv,
		     const char *name, const char *help, bool ingest, bool send)
{
	bool helped, dry_run = false, json = false;
	struct td_cli_opt opts[] = {
		{ "--json", false, NULL, &json },
		{ "--dry-run", false, NULL, &dry_run },
	};
	/* ingest takes neither; run takes --json; send takes both */
	size_t nopts = !send ? 0 : ingest ? 1 : 2;
	struct td_config cfg;
	struct td_store *st;
	int lockfd;
	int rc = td_cli_begin_writer(g, name, help, argc, argv, opts, nopts, &dry_run,
				     &helped, &cfg, &st, &lockfd);
	if (rc || helped)
		return rc;
	if (ingest)
		rc = do_ingest(&cfg, st, !send);
	/* `run` reads what came back before it sends, so a reader who
	 * bounced or complained is not mailed again; a mailbox that cannot
	 * be read is reported and the send goes on */
	if (!rc && ingest && send && cfg.bounce_mailbox &&
	    td_cli_read_bounces(&cfg, st, false, false))
		td_log_warnx("run: the bounce mailbox was not read to the end; "
			     "sending anyway (`tagdigest bounces` tries again)");
	if (!rc && send)
		rc = do_send(&cfg, st, name, dry_run, json);
	td_cli_end_writer(&cfg, st, lockfd);
	return rc;
}

int td_cli_ingest(const struct td_cli_globals *g, int argc, char **argv)
{
	return cmd_write(g, argc, argv, "ingest", ingest_help, true, false);
}

int td_cli_send(const struct td_cli_globals *g, int argc, char **argv)
{
	return cmd_write(g, argc, argv, "send", send_help, false, true);
}

int td_cli_run(const struct td_cli_globals *g, int argc, char **argv)
{
	return cmd_write(g, argc, argv, "run", run_help, true, true);
}
