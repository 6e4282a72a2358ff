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
 * roster, see dry_next), so it reports what a real run would send, the
 * first run of a site whose roster is still empty included.
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "tagdigest/deliver/deliver.h"
#include "tagdigest/deliver/start_clean.h"
#include "tagdigest/schedule/import.h"
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

/*
 * The dry run's walk: the roster as the sync would leave it, without
 * writing it (td_import_file's own dry run writes and rolls back, which
 * the read-only store of a dry run refuses, and a writable one would
 * hold the write lock against the public server). First the file's rows,
 * in file order, each as the sync would store it (td_roster_put_check
 * decides, as it does for the sync): a new address as a reader on the
 * site's schedule; a reader of the file's ("csv") or a pending sign-up (an
 * editor's row makes it active) with the row's name, and its tags
 * unless the reader chose their own; an address that unsubscribed,
 * bounced or complained, or a paused reader, not at all. Then the
 * roster's other readers (the form's, the CLI's, imports'), who keep
 * their tags whatever the file says. The file's readers whose rows are
 * gone are not walked: the sync would remove them. One roster lookup per
 * row; nothing is held per reader but the file reader's duplicate check
 * (subscribers.h). It counts what the sync would do as it goes.
 */
struct dry_walk {
	struct td_store *st;
	const char *path;                    /* the file, for messages */
	struct td_subscriber_reader *file;   /* pass 1 */
	struct td_roster_cursor *cur;        /* pass 2, opened when 1 ends */
	time_t cutoff, now;
	struct td_member m;                  /* the row's reader, if known */
	struct td_subscriber view;
	struct td_import_summary sync;       /* what the sync would do */
	size_t file_walked, file_left;       /* the file's readers: in pass 1,
					      * and met again in pass 2 */
};

static bool from_file(const struct td_member *m)
{
	return m->origin && strcmp(m->origin, "csv") == 0;
}

/* One row of the file as the sync would take it (td_roster_put_check
 * decides, as it does for the sync): 1 with *out, 0 when the row would
 * not be walked here, or the store's error. */
static int dry_row(struct dry_walk *w, const struct td_subscriber *row,
		   const struct td_subscriber **out, struct td_err *err)
{
	char where[4096 + 16];
	snprintf(where, sizeof where, "%s:%u", w->path, row->line);
	struct td_roster_row put = { .email = row->email, .name = row->name,
				     .tags = &row->tags, .origin = "csv",
				     .consent_from = where };
	enum td_roster_result res;
	bool writes;
	struct td_err rowerr = { 0, "" };
	int rc = td_roster_put_check(w->st, &put, &res, &writes, &rowerr);
	if (rc == EX_DATAERR) {
		/* the roster's checks are stricter than the file reader's */
		td_log_warnx("%s: %s", where, rowerr.msg);
		w->sync.bad++;
		return 0;
	}
	if (rc) {
		*err = rowerr;
		return rc;
	}
	w->sync.rows++;
	switch (res) {
	case TD_ROSTER_ADDED:
		w->sync.added++;
		*out = row;        /* a new reader, on the site's schedule */
		return 1;
	case TD_ROSTER_KEPT_OUT:
		w->sync.kept_out++;
		return 0;
	case TD_ROSTER_UPDATED: w->sync.updated++; break;
	case TD_ROSTER_UNCHANGED: w->sync.unchanged++; break;
	case TD_ROSTER_READER_KEPT: w->sync.reader_kept++; break;
	}
	bool found;
	td_member_free(&w->m);     /* the last row's */
	if ((rc = td_roster_get(w->st, row->email, &w->m, &found, err)) || !found)
		return rc;
	/* A pending sign-up becomes the file's, active; the file's own
	 * readers take its name and tags; the others are pass 2's. */
	bool pending = w->m.status == TD_MEMBER_PENDING;
	if (!pending && !from_file(&w->m))
		return 0;
	if (w->m.prefs.paused_until > w->now)
		return 0;
	if (!pending)
		w->file_walked++;
	td_member_subscriber(&w->m, &w->view);
	if (!w->m.reader_choice)
		w->view.tags = row->tags;
	w->view.name = row->name;
	*out = &w->view;
	return 1;
}

static int dry_next(void *ctx, const struct td_subscriber **out, struct td_err *err)
{
	struct dry_walk *w = ctx;
	int rc;
	while (!w->cur) {
		const struct td_subscriber *row;
		if ((rc = td_subscribers_next(w->file, &row, err)) == 1) {
			if ((rc = dry_row(w, row, out, err)))
				return rc;
			continue;
		}
		if (rc)
			return rc;
		if ((rc = td_roster_cursor_open(w->st, w->cutoff, w->now, &w->cur, err)))
			return rc;
	}
	const struct td_member *m;
	while ((rc = td_roster_cursor_next(w->cur, &m, err)) == 1) {
		if (from_file(m)) {
			/* pass 1 had them, or the sync removes them */
			w->file_left++;
			continue;
		}
		td_member_subscriber(m, &w->view);
		*out = &w->view;
		return 1;
	}
	if (rc == 0) {
		size_t nbad;
		td_subscribers_counts(w->file, NULL, &nbad);
		w->sync.bad += nbad;
		/* a bad row may be someone's: the sync then removes nobody */
		if (!w->sync.bad && w->file_left > w->file_walked)
			w->sync.removed = w->file_left - w->file_walked;
	}
	return rc;
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

/* ---- --no-send: start clean (deliver/start_clean.h) ---- */

/* Paused readers start clean too: their pause ends in a later slot. */
#define WALK_PAUSED_TOO ((time_t)1 << 62)

static void print_start(const struct td_config *cfg, const char *cmd,
			const struct td_start_summary *s, bool dry_run, bool json)
{
	if (json) {
		printf("{\"no_send\":true,\"dry_run\":%s,\"readers\":%zu,"
		       "\"started_clean\":%zu,\"left_alone\":%zu,\"upto_seq\":%lld,"
		       "\"slot\":%lld,\"next_slot\":%lld}\n", dry_run ? "true" : "false",
		       s->readers, s->started, s->left_alone, (long long)s->upto_seq,
		       (long long)s->slot, (long long)s->next_slot);
		return;
	}
	if (td_log_get_level() < TD_LOG_INFO)
		return;
	char next[64];
	td_tz_format(cfg->tz, s->next_slot, "%a %d %b %Y %H:%M %Z", next, sizeof next);
	printf("%s --no-send%s: %zu reader%s %s clean (what the store holds, up to "
	       "seq %lld, counts as seen; their first digest comes at their next "
	       "slot, the site's %s), %zu left alone (a digest or a start of "
	       "theirs is recorded already); %s\n", cmd,
	       dry_run ? " --dry-run" : "", s->started, s->started == 1 ? "" : "s",
	       dry_run ? "would start" : "started", (long long)s->upto_seq, next,
	       s->left_alone, dry_run ? "nothing written" : "nothing sent");
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

/* no_send: the command's name ("send", "run") to start the readers clean
 * instead of sending (deliver/start_clean.h); NULL to send. */
static int do_send(const struct td_config *cfg, struct td_store *st, bool dry_run,
		   bool json, const char *no_send)
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
	struct dry_walk dw;
	memset(&dw, 0, sizeof dw);
	struct td_subscriber_source src;
	if (dry_run) {
		dw.st = st;
		dw.path = cfg->subscribers_path;
		dw.cutoff = dw.now = now;
		if (no_send)
			dw.now = WALK_PAUSED_TOO;
		rc = td_subscribers_open(cfg->subscribers_path, &dw.file, &err);
		src = (struct td_subscriber_source){ dry_next, &dw,
						     td_subscribers_size_hint(dw.file), false };
	} else {
		rc = td_roster_cursor_open(st, now, no_send ? WALK_PAUSED_TOO : now, &rw.cur,
					   &err);
		src = (struct td_subscriber_source){ roster_next, &rw,
						     rw.cur ? td_roster_cursor_total(rw.cur) : 0,
						     true };
	}
	if (rc) {
		td_subscribers_close(dw.file);
		return td_cli_fail(&err);
	}
	struct td_send_summary sum;
	struct td_start_summary start;
	struct progress prog = { { 0, 0 }, false };
	struct td_send_options opt = { dry_run, NULL, &prog };
	/* the bar is for people: only on a terminal, never with -q or --json */
	if (isatty(STDERR_FILENO) && td_log_get_level() >= TD_LOG_INFO && !json)
		opt.progress = draw_progress;
	struct td_deliver_options dopt = td_options_deliver(cfg);
	struct td_verp_setup verp;
	rc = td_options_verp(cfg, true, &verp, &err);
	dopt.verp = verp.use;
	memset(&sum, 0, sizeof sum);
	if (!rc && no_send)
		rc = td_start_clean(&dopt.compose.schedule, st, &src, dry_run, now, &start, &err);
	else if (!rc)
		rc = td_send_run(&dopt, st, &src, &opt, now, &sum, &err);
	td_options_verp_free(&verp);
	if (prog.drawn)
		fprintf(stderr, "\r%*s\r", 70, "");
	td_roster_cursor_close(rw.cur);
	td_roster_cursor_close(dw.cur);
	td_member_free(&dw.m);
	td_subscribers_close(dw.file);
	if (dry_run) {
		sync = dw.sync;
		report_sync(cfg, &sync, true);
	}
	if (file_sig_changed(cfg->subscribers_path, &sig))
		td_log_warnx("subscribers: %s changed while this run was sending; "
			     "the run used the file as it was when it started, "
			     "and the changes apply from the next run",
			     cfg->subscribers_path);
	if (rc)
		td_cli_fail(&err);
	if (no_send) {
		if (!rc)
			print_start(cfg, no_send, &start, dry_run, json);
	} else if (json)
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
	"usage: tagdigest send [--no-send] [--dry-run] [--json]\n\n"
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
	"  --no-send   start clean instead of sending: every active reader who\n"
	"              never had a digest counts what the store holds now as\n"
	"              seen and their current slot as served, so their first\n"
	"              digest comes at their next slot with only what arrives\n"
	"              after; readers who had one are left alone. For a new\n"
	"              site or a newly imported list. With --dry-run: says how\n"
	"              many would start, writes nothing\n"
	"  --json      the summary as one JSON object\n";

static const char run_help[] =
	"usage: tagdigest run [--no-send [--dry-run]] [--json]\n\n"
	"`ingest`, then `send` (which syncs the subscriber file first), under a\n"
	"lock: a second concurrent run exits 75 at once and touches nothing.\n"
	"With [bounces] mailbox set, `bounces` runs before the send (a mailbox\n"
	"that cannot be read is reported, and the send goes on).\n"
	"This is the command for cron; run it at least hourly, so every reader's\n"
	"own slot is served within the hour:\n"
	"  7 * * * *  cd /srv/tagdigest && ./build/tagdigest -q run\n"
	"Once, before the first cron run of a new site (or after importing a\n"
	"list onto a live one), `tagdigest run --no-send`: ingest and sync,\n"
	"then start the readers clean instead of mailing them the backlog\n"
	"(`send --help` says how). With --dry-run it reads no source and\n"
	"writes nothing, and says how many readers would start clean.\n"
	"  --json      the summary as one JSON object\n";

static int cmd_write(const struct td_cli_globals *g, int argc, char **argv,
		     const char *name, const char *help, bool ingest, bool send)
{
	bool helped, dry_run = false, json = false, no_send = false;
	struct td_cli_opt opts[] = {
		{ "--json", false, NULL, &json },
		{ "--no-send", false, NULL, &no_send },
		{ "--dry-run", false, NULL, &dry_run },
	};
	/* ingest takes none; run and send take all three (run's --dry-run
	 * only with --no-send, below) */
	size_t nopts = !send ? 0 : 3;
	struct td_config cfg;
	struct td_store *st;
	int lockfd;
	int rc = td_cli_begin_writer(g, name, help, argc, argv, opts, nopts, &dry_run,
				     &helped, &cfg, &st, &lockfd);
	if (rc || helped)
		return rc;
	if (ingest && send && dry_run && !no_send) {
		td_cli_end_writer(&cfg, st, lockfd);
		return td_cli_usage_error(name, "--dry-run goes with --no-send "
					  "(`tagdigest send --dry-run` shows what a send "
					  "would do)", NULL);
	}
	/* a dry run's store is read-only: what an ingest would add is not
	 * counted, and is not seen by a real start either until it runs */
	if (ingest && dry_run)
		td_log_info("%s: --dry-run: no ingest (it would write the store)", name);
	else if (ingest)
		rc = do_ingest(&cfg, st, !send);
	/* `run` reads what came back before it sends, so a reader who
	 * bounced or complained is not mailed again; a mailbox that cannot
	 * be read is reported and the send goes on */
	if (!rc && ingest && send && !dry_run && cfg.bounce_mailbox &&
	    td_cli_read_bounces(&cfg, st, false, false))
		td_log_warnx("run: the bounce mailbox was not read to the end; "
			     "sending anyway (`tagdigest bounces` tries again)");
	if (!rc && send)
		rc = do_send(&cfg, st, dry_run, json, no_send ? name : NULL);
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
