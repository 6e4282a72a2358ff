/*
 * run.c: `ingest`, `send` and `run`, the commands that write the
 * store: under the run lock (a dry run, which writes nothing, without
 * it); `run` is `ingest` then `send` under one lock.
 */
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "tagdigest/deliver/deliver.h"
#include "tagdigest/sources/ingest.h"
#include "tagdigest/store/lock.h"
#include "tagdigest/core/log.h"
#include "tagdigest/cli/options.h"

/* The subscriber reader as the send engine's source. */
static int next_subscriber(void *ctx, const struct td_subscriber **out,
			   struct td_err *err)
{
	return td_subscribers_next(ctx, out, err);
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
		       bool dry_run)
{
	char slot[64], next[64];
	td_tz_format(cfg->tz, s->slot, "%a %d %b %Y %H:%M %Z", slot, sizeof slot);
	td_tz_format(cfg->tz, s->next_slot, "%a %d %b %Y %H:%M %Z", next, sizeof next);
	if (s->sent + s->skipped + s->tempfail + s->permfail + s->deferred +
	    s->expired + s->bounced == 0 && !s->stopped_early) {
		printf("send: nothing new to send: %zu of %zu subscribers already have "
		       "the digest for the slot of %s%s; next slot %s\n",
		       s->not_due, s->subscribers, slot,
		       s->suppressed ? ", the others unsubscribed" : "", next);
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
	if (!dry_run && s->sent && cfg->transport_type == TD_TRANSPORT_MAILDIR)
		printf("; messages in %s/new/", cfg->maildir_path);
	else if (!dry_run && s->sent && cfg->transport_type == TD_TRANSPORT_SMTP)
		printf("; handed to %s", cfg->smtp_url);
	printf("\n");
}

static void print_send_json(const struct td_send_summary *s, bool dry_run, int rc)
{
	printf("{\"dry_run\":%s,\"subscribers\":%zu,\"sent\":%zu,\"skipped\":%zu,"
	       "\"not_due\":%zu,\"unsubscribed\":%zu,\"temporary\":%zu,"
	       "\"permanent\":%zu,\"deferred\":%zu,\"expired\":%zu,\"bounced\":%zu,"
	       "\"resent\":%zu,\"seconds\":%.3f,\"messages_per_second\":%.1f,"
	       "\"slot\":%lld,\"next_slot\":%lld,\"stopped_early\":%s,"
	       "\"stopped_by_signal\":%d,\"exit\":%d}\n",
	       dry_run ? "true" : "false", s->subscribers, s->sent, s->skipped,
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

static int do_send(const struct td_config *cfg, struct td_store *st, bool dry_run,
		   bool json)
{
	/* Streamed, not loaded: a run's memory must not grow with the file. */
	struct td_subscriber_reader *reader;
	struct td_err err = { 0, "" };
	int rc = td_subscribers_open(cfg->subscribers_path, &reader, &err);
	if (rc)
		return td_cli_fail(&err);
	struct td_subscriber_source src = { next_subscriber, reader,
					    td_subscribers_size_hint(reader) };
	struct td_send_summary sum;
	struct progress prog = { { 0, 0 }, false };
	struct td_send_options opt = { dry_run, NULL, &prog };
	/* the bar is for people: only on a terminal, never with -q or --json */
	if (isatty(STDERR_FILENO) && td_log_get_level() >= TD_LOG_INFO && !json)
		opt.progress = draw_progress;
	struct td_deliver_options dopt = td_options_deliver(cfg);
	rc = td_send_run(&dopt, st, &src, &opt, time(NULL), &sum, &err);
	if (prog.drawn)
		fprintf(stderr, "\r%*s\r", 70, "");
	/* The bad rows were reported as the run reached them; this closes
	 * the list (of the rows read, when the run stopped early). */
	size_t ngood, nbad;
	td_subscribers_counts(reader, &ngood, &nbad);
	if (td_subscribers_changed(reader))
		td_log_warnx("subscribers: %s changed while this run was sending; "
			     "the run used the file as it was when it started, "
			     "and the changes apply from the next run",
			     cfg->subscribers_path);
	td_subscribers_close(reader);
	td_cli_warn_bad_rows(cfg, nbad, ngood);
	if (rc)
		td_cli_fail(&err);
	if (json)
		print_send_json(&sum, dry_run, rc);
	else if ((!rc || rc == EX_TEMPFAIL) && td_log_get_level() >= TD_LOG_INFO)
		print_send(cfg, &sum, dry_run);
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
	"Delivers the digests that are due: every subscriber without a digest for\n"
	"the most recent weekly slot. Empty digests are recorded as skipped;\n"
	"temporary failures are retried in the run and kept for later runs.\n"
	"Prints one summary line (nothing with -q) and, on a terminal, progress.\n"
	"SIGTERM or SIGINT finishes the messages in flight, records them, exits 75.\n"
	"  --dry-run   render every due digest and report what would go out;\n"
	"              send nothing, change nothing\n"
	"  --json      the summary as one JSON object\n";

static const char run_help[] =
	"usage: tagdigest run [--json]\n\n"
	"`ingest`, then `send`, under a lock: a second concurrent run exits 75\n"
	"at once and touches nothing. This is the command for cron:\n"
	"  0 * * * *  cd /srv/tagdigest && ./build/tagdigest -q run\n";

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
	int rc = td_cli_parse_opts(name, help, argc, argv, opts, nopts, &helped);
	if (rc || helped)
		return rc;
	struct td_config cfg;
	if ((rc = td_cli_load_config(g, &cfg)))
		return rc;
	struct td_store *st = NULL;
	int lockfd = -1;
	struct td_err err = { 0, "" };
	if (dry_run) {
		/* a dry run writes nothing, so it needs no lock */
		rc = td_store_open(cfg.store_path, TD_STORE_READONLY, &st, &err);
		if (rc)
			td_cli_fail(&err);
	} else {
		rc = td_cli_open_locked(&cfg, &st, &lockfd);
	}
	if (!rc && ingest)
		rc = do_ingest(&cfg, st, !send);
	if (!rc && send)
		rc = do_send(&cfg, st, dry_run, json);
	td_lock_close_store(st, lockfd);
	td_config_free(&cfg);
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
