/*
 * run.c: `ingest`, `send` and `run`, the commands that write the
 * store: under the run lock (a dry run, which writes nothing, without
 * it); `run` is `ingest` then `send` under one lock, reading the bounce
 * mailbox ([bounces] mailbox, bounces.c) in between. On PostgreSQL
 * (store/lock.h) there is no run lock: the ingest takes the ingest lock
 * or skips, and the sync and the bounce mailbox wait for the roster
 * lock; several sends share the roster by claiming batches of it
 * (store/claims.h, claim_walk below).
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
#include "tagdigest/deliver/start_clean.h"
#include "tagdigest/schedule/import.h"
#include "tagdigest/schedule/readers.h"
#include "tagdigest/sources/ingest.h"
#include "tagdigest/store/claims.h"
#include "tagdigest/store/lock.h"
#include "tagdigest/store/roster.h"
#include "tagdigest/core/buf.h"
#include "tagdigest/core/log.h"
#include "tagdigest/core/util.h"
#include "tagdigest/core/value.h"
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

/* Several senders' walk (store/claims.h): a batch of readers claimed,
 * walked, the next one claimed, until none is left. A batch whose lease
 * went to another sender is left to it at once. */
struct claim_walk {
	struct td_store *st;
	struct td_claims *claims;
	struct td_roster_cursor *cur;    /* the batch walked; NULL: none */
	int64_t first, last;
	time_t cutoff, now;
	struct td_subscriber view;
};

static int claim_next(void *ctx, const struct td_subscriber **out, struct td_err *err)
{
	struct claim_walk *w = ctx;
	/* each turn ends with a reader, the end, an error or a new batch,
	 * and the claims hand out each batch once a run */
	for (;;) {
		if (w->cur && td_claims_lost(w->claims, w->first)) {
			td_log_info("send: readers %lld-%lld left to the sender that "
				    "took them over", (long long)w->first, (long long)w->last);
		} else if (w->cur) {
			const struct td_member *m;
			int rc = td_roster_cursor_next(w->cur, &m, err);
			if (rc == 1) {
				td_member_subscriber(m, &w->view);
				*out = &w->view;
			}
			if (rc != 0)
				return rc;
		}
		td_roster_cursor_close(w->cur);
		w->cur = NULL;
		bool got;
		int rc = td_claims_next(w->claims, &w->first, &w->last, &got, err);
		if (rc || !got)
			return rc;
		td_log_debug("send: claimed readers %lld-%lld", (long long)w->first,
			     (long long)w->last);
		if ((rc = td_roster_cursor_open_range(w->st, w->cutoff, w->now, w->first,
						      w->last, &w->cur, err)))
			return rc;
	}
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

/* The ingest's summary line: the sources (read, not modified, failed),
 * then the posts; bad files and bad items only when there were some,
 * each under its own name. */
static void print_ingest(const struct td_ingest_summary *s)
{
	char a[64], b[64], c[64];
	size_t nsrc = s->sources_ok + s->sources_not_modified + s->sources_failed;
	printf("ingest: %s: %zu read, %zu not modified, %zu failed; %s read: %zu new, "
	       "%zu updated, %zu unchanged, %zu already stored from another source",
	       td_count(a, sizeof a, nsrc, "source", "sources"), s->sources_ok,
	       s->sources_not_modified, s->sources_failed,
	       td_count(b, sizeof b, s->read, "post", "posts"), s->added, s->updated,
	       s->unchanged, s->merged);
	if (s->bad_files)
		printf("; %s skipped", td_count(c, sizeof c, s->bad_files, "bad post file",
					     "bad post files"));
	if (s->bad_items)
		printf("; %s skipped", td_count(c, sizeof c, s->bad_items, "bad feed item",
					     "bad feed items"));
	if (s->sources_not_modified && !s->sources_ok && !s->sources_failed)
		printf(" (every feed answered \"not modified\": nothing new since "
		       "the last fetch)");
	printf("\n");
}

static struct td_value *counts_json(const struct td_ingest_counts *n, size_t bad)
{
	struct td_value *v = td_value_map();
	td_value_map_set_int(v, "read", (long long)n->read);
	td_value_map_set_int(v, "new", (long long)n->added);
	td_value_map_set_int(v, "updated", (long long)n->updated);
	td_value_map_set_int(v, "unchanged", (long long)n->unchanged);
	td_value_map_set_int(v, "already_stored", (long long)n->merged);
	td_value_map_set_int(v, "bad", (long long)bad);
	return v;
}

/* The ingest as JSON: each source, then the totals. */
static struct td_value *ingest_json(const struct td_ingest_summary *s)
{
	struct td_value *v = td_value_map();
	struct td_value *list = td_value_map_set(v, "sources", td_value_list());
	for (size_t i = 0; i < s->nsources; i++) {
		const struct td_ingest_result *r = &s->sources[i];
		if (!r->done)
			continue;
		struct td_value *o = td_value_list_push(list, td_value_map());
		bool feed = strcmp(r->src->type, "feed") == 0;
		td_value_map_set_str(o, "name", r->src->name);
		td_value_map_set_str(o, "type", r->src->type);
		td_value_map_set_str(o, feed ? "url" : "path", feed ? r->src->url :
				     r->src->path);
		td_value_map_set_str(o, "outcome", td_ingest_outcome_name(r->outcome));
		td_value_map_set(o, "posts", counts_json(&r->n, r->n.bad));
		if (r->outcome == TD_INGEST_FAILED) {
			td_value_map_set_str(o, "error", r->err.msg);
			td_value_map_set_int(o, "exit", r->err.code);
		} else {
			td_value_map_set(o, "error", td_value_null());
		}
	}
	struct td_value *t = td_value_map_set(v, "totals", td_value_map());
	td_value_map_set_int(t, "sources", (long long)(s->sources_ok +
				s->sources_not_modified + s->sources_failed));
	td_value_map_set_int(t, "ok", (long long)s->sources_ok);
	td_value_map_set_int(t, "not_modified", (long long)s->sources_not_modified);
	td_value_map_set_int(t, "failed", (long long)s->sources_failed);
	struct td_ingest_counts all = { s->read, s->added, s->updated, s->unchanged,
					s->merged, 0 };
	struct td_value *posts = td_value_map_set(t, "posts", counts_json(&all, 0));
	td_value_map_set_int(posts, "bad_files", (long long)s->bad_files);
	td_value_map_set_int(posts, "bad_items", (long long)s->bad_items);
	td_value_map_set_int(posts, "bad", (long long)(s->bad_files + s->bad_items));
	td_value_map_set_int(v, "exit", s->exit);
	return v;
}

/* Writes v on stdout as one line and frees it. */
static void put_json(struct td_value *v)
{
	struct td_buf b = TD_BUF_INIT;
	td_value_json(v, &b);
	td_buf_append(&b, "\n", 1);
	fwrite(b.data, 1, b.len, stdout);
	td_buf_free(&b);
	td_value_free(v);
}

/* Reads every source. Returns non-zero only when the store failed (the
 * error reported): a source that failed is in *exit_code (sysexits, the
 * one that matters most, see ingest.h), its name in *failed ("wire",
 * "wire, posts"), and the others were read. The summary is the result:
 * on stdout unless -q, or as JSON into *json. */
static int do_ingest(const struct td_config *cfg, struct td_store *st,
		     struct td_value **json, int *exit_code, struct td_buf *failed)
{
	struct td_ingest_summary s;
	struct td_err err = { 0, "" };
	struct td_ingest_options opt = td_options_ingest(cfg);
	*exit_code = 0;
	int rc = td_ingest(&opt, st, TD_INGEST_ALL, time(NULL), &s, &err);
	if (rc) {
		td_ingest_summary_free(&s);
		return td_cli_fail(&err);
	}
	*exit_code = s.exit;
	for (size_t i = 0; i < s.nsources; i++)
		if (s.sources[i].done && s.sources[i].outcome == TD_INGEST_FAILED)
			td_buf_printf(failed, "%s%s", failed->len ? ", " : "",
				      s.sources[i].src->name);
	if (json)
		*json = ingest_json(&s);
	else if (td_log_get_level() >= TD_LOG_INFO)
		print_ingest(&s);
	td_ingest_summary_free(&s);
	return 0;
}

/* do_ingest under the ingest lock (lock.h): on PostgreSQL a second
 * concurrent ingest skips, says so and is no failure (the other one
 * reads the same sources; `run` goes on to send); on SQLite the run lock
 * already excludes it. */
static int locked_ingest(const struct td_config *cfg, struct td_store *st,
			 struct td_value **json, int *exit_code, struct td_buf *failed,
			 bool *skipped)
{
	struct td_err err = { 0, "" };
	bool got;
	*exit_code = 0;
	*skipped = false;
	if (td_lock_try(st, TD_STORE_LOCK_INGEST, &got, &err))
		return td_cli_fail(&err);
	if (!got) {
		*skipped = true;
		td_log_info("ingest: another process is ingesting into %s; skipped",
			    td_store_path(st));
		if (json) {
			*json = td_value_map();
			td_value_map_set_bool(*json, "skipped", true);
			td_value_map_set_int(*json, "exit", 0);
		}
		return 0;
	}
	int rc = do_ingest(cfg, st, json, exit_code, failed);
	td_lock_drop(st, TD_STORE_LOCK_INGEST);
	return rc;
}

static void print_send(const struct td_config *cfg, const struct td_send_summary *s,
		       const struct td_import_summary *sync, bool dry_run)
{
	char slot[64], next[64];
	td_tz_format(cfg->tz, s->slot, "%a %d %b %Y %H:%M %Z", slot, sizeof slot);
	td_tz_format(cfg->tz, s->next_slot, "%a %d %b %Y %H:%M %Z", next, sizeof next);
	if (s->sent + s->skipped + s->tempfail + s->permfail + s->deferred +
	    s->expired + s->bounced + s->throttled == 0 && !s->stopped_early) {
		/* readers started clean have had no digest: not "already have" */
		size_t had = s->not_due - s->started_clean;
		printf("send: nothing new to send: ");
		if (had || !s->started_clean)
			printf("%zu of %zu readers already have the digest for their "
			       "latest slot (the site's: %s)", had, s->subscribers, slot);
		if (s->started_clean && had)
			printf(", %zu started clean (first digest at their next slot)",
			       s->started_clean);
		else if (s->started_clean)
			printf("%zu of %zu readers started clean, first digest at their "
			       "next slot", s->started_clean, s->subscribers);
		printf("%s; next site slot %s", s->suppressed ? ", the others unsubscribed" :
		       "", next);
		if (sync->kept_out)
			printf("; %zu row%s of the subscriber file not applied: "
			       "the reader left", sync->kept_out,
			       sync->kept_out == 1 ? "" : "s");
		printf("\n");
		return;
	}
	printf("send%s: %zu %s, %zu skipped (no new posts), %zu not due",
	       dry_run ? " --dry-run" : "", s->sent, dry_run ? "would be sent" : "sent",
	       s->skipped, s->not_due);
	if (s->started_clean)
		printf(" (%zu started clean, first digest at their next slot)",
		       s->started_clean);
	printf(", %zu unsubscribed, %zu failed temporarily, %zu failed permanently",
	       s->suppressed, s->tempfail, s->permfail);
	if (s->deferred)
		printf(", %zu kept for a later try", s->deferred);
	if (s->throttled)
		printf(", %zu held back by a [throttle] per_hour limit (the next run "
		       "sends them)", s->throttled);
	if (s->expired)
		printf(", %zu given up", s->expired);
	if (s->bounced)
		printf(", %zu suppressed after repeated bounces", s->bounced);
	if (s->resent)
		printf(", %zu resent from an earlier run", s->resent);
	/* a dry run sends nothing: a rate would be the renderer's */
	if (dry_run)
		printf(", in %.2f s (slot %s)", s->seconds, slot);
	else
		printf(", in %.2f s (%.0f messages/s; slot %s)", s->seconds, s->rate, slot);
	if (s->stopped_by_signal)
		printf("; stopped by signal %d after finishing the messages in flight",
		       s->stopped_by_signal);
	if (sync->kept_out)
		printf("; %zu row%s of the subscriber file not applied: the reader "
		       "left", sync->kept_out, sync->kept_out == 1 ? "" : "s");
	if (!dry_run && s->sent && cfg->transport_type == TD_TRANSPORT_MAILDIR)
		printf("; messages in %s/new/", cfg->maildir_path);
	else if (!dry_run && s->sent && cfg->transport_type == TD_TRANSPORT_SMTP &&
		 !cfg->nrelays)
		printf("; handed to %s", cfg->smtp_url);
	else if (!dry_run && s->sent && cfg->nrelays)
		printf("; handed to %zu relay%s", cfg->nrelays, cfg->nrelays == 1 ? "" : "s");
	printf("\n");
}

/* The send as JSON. A dry run says what it would send ("would_send")
 * and gives no rate: it sent nothing. */
static struct td_value *send_json(const struct td_send_summary *s,
				  const struct td_import_summary *sync, bool dry_run,
				  int rc)
{
	struct td_value *v = td_value_map();
	td_value_map_set_bool(v, "dry_run", dry_run);
	struct td_value *f = td_value_map_set(v, "file", td_value_map());
	td_value_map_set_int(f, "rows", (long long)sync->rows);
	td_value_map_set_int(f, "bad", (long long)sync->bad);
	td_value_map_set_int(f, "added", (long long)sync->added);
	td_value_map_set_int(f, "updated", (long long)sync->updated);
	td_value_map_set_int(f, "unchanged", (long long)sync->unchanged);
	td_value_map_set_int(f, "removed", (long long)sync->removed);
	td_value_map_set_int(f, "not_applied", (long long)sync->kept_out);
	td_value_map_set_int(f, "reader_kept", (long long)sync->reader_kept);
	td_value_map_set_int(v, "subscribers", (long long)s->subscribers);
	td_value_map_set_int(v, dry_run ? "would_send" : "sent", (long long)s->sent);
	td_value_map_set_int(v, "skipped", (long long)s->skipped);
	td_value_map_set_int(v, "not_due", (long long)s->not_due);
	td_value_map_set_int(v, "started_clean", (long long)s->started_clean);
	td_value_map_set_int(v, "unsubscribed", (long long)s->suppressed);
	td_value_map_set_int(v, "temporary", (long long)s->tempfail);
	td_value_map_set_int(v, "permanent", (long long)s->permfail);
	td_value_map_set_int(v, "deferred", (long long)s->deferred);
	td_value_map_set_int(v, "throttled", (long long)s->throttled);
	td_value_map_set_int(v, "expired", (long long)s->expired);
	td_value_map_set_int(v, "bounced", (long long)s->bounced);
	td_value_map_set_int(v, "resent", (long long)s->resent);
	char num[64];
	snprintf(num, sizeof num, "%.3f", s->seconds);
	td_value_map_set(v, "seconds", td_value_number(num));
	if (!dry_run) {
		snprintf(num, sizeof num, "%.1f", s->rate);
		td_value_map_set(v, "messages_per_second", td_value_number(num));
	}
	td_value_map_set_int(v, "slot", (long long)s->slot);
	td_value_map_set_int(v, "next_slot", (long long)s->next_slot);
	td_value_map_set_bool(v, "stopped_early", s->stopped_early);
	td_value_map_set_int(v, "stopped_by_signal", s->stopped_by_signal);
	td_value_map_set_int(v, "exit", rc);
	return v;
}

/* ---- --no-send: start clean (deliver/start_clean.h) ---- */

/* Paused readers start clean too: their pause ends in a later slot. */
#define WALK_PAUSED_TOO ((time_t)1 << 62)

/* The start as JSON, with "exit" as send_json's (a start that failed
 * wrote nothing: its error is on stderr, and there is no summary). */
static struct td_value *start_json(const struct td_start_summary *s, bool dry_run,
				   int rc)
{
	struct td_value *v = td_value_map();
	td_value_map_set_bool(v, "no_send", true);
	td_value_map_set_bool(v, "dry_run", dry_run);
	td_value_map_set_int(v, "readers", (long long)s->readers);
	td_value_map_set_int(v, "started_clean", (long long)s->started);
	td_value_map_set_int(v, "left_alone", (long long)s->left_alone);
	td_value_map_set_int(v, "upto_seq", (long long)s->upto_seq);
	td_value_map_set_int(v, "slot", (long long)s->slot);
	td_value_map_set_int(v, "next_slot", (long long)s->next_slot);
	td_value_map_set_int(v, "exit", rc);
	return v;
}

static void print_start(const struct td_config *cfg, const char *cmd,
			const struct td_start_summary *s, bool dry_run)
{
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

/* Syncs the file and sends (dry_run: reports what would go); name is the
 * command, for the run history (runs.h) and the summary. With no_send it
 * starts the readers clean instead of sending (deliver/start_clean.h).
 * The summary is the result: on stdout unless -q, or as JSON into *json.
 * Returns the sysexits code, the error reported. */
static int do_send(const struct td_config *cfg, struct td_store *st, const char *name,
		   bool dry_run, bool no_send, struct td_value **json)
{
	/* The run's start: the sync's time and the walk's cutoff. */
	time_t now = time(NULL);
	struct td_err err = { 0, "" };
	struct td_import_summary sync;
	memset(&sync, 0, sizeof sync);
	/* Several senders (PostgreSQL): one syncs the file at a time, under
	 * the roster lock, and makes the batches they claim; the others wait
	 * and find the file unchanged. A start walks the whole roster under
	 * that lock. On SQLite the run lock keeps every other writer out. */
	bool shared = !dry_run && td_lock_shared(st);
	struct td_claims *claims = NULL;
	int rc = shared ? td_lock_wait(st, TD_STORE_LOCK_ROSTER, TD_LOCK_WAIT_MS, &err) : 0;
	bool locked = shared && !rc;
	if (!rc && !dry_run)
		rc = td_import_file(st, cfg->subscribers_path, TD_IMPORT_SYNC, false, now,
				    &sync, &err);
	if (!rc && shared && !no_send) {
		struct td_claims_options copt = { cfg->send_batch, cfg->send_lease };
		rc = td_claims_begin(st, &copt, &claims, &err);
	}
	if (locked && (rc || !no_send))
		td_lock_drop(st, TD_STORE_LOCK_ROSTER);
	if (rc)
		return td_cli_fail(&err);
	struct file_sig sig;
	file_sig_take(cfg->subscribers_path, &sig);
	if (!dry_run)
		report_sync(cfg, &sync, false);

	/* Walked, not loaded: a run's memory must not grow with the readers. */
	struct roster_walk rw = { NULL, { 0 } };
	struct claim_walk cw = { st, claims, NULL, 0, 0, now, now, { 0 } };
	struct td_sync_walk *dw = NULL;
	struct td_subscriber_source src;
	if (claims) {
		/* the readers this sender gets are known as it goes */
		src = (struct td_subscriber_source){ claim_next, &cw, 0, true };
	} else if (dry_run) {
		rc = td_sync_walk_open(st, cfg->subscribers_path, now,
				       no_send ? WALK_PAUSED_TOO : now, &dw, &err);
		src = (struct td_subscriber_source){ td_sync_walk_next, dw,
						     dw ? td_sync_walk_size_hint(dw) : 0,
						     false };
	} else {
		rc = td_roster_cursor_open(st, now, no_send ? WALK_PAUSED_TOO : now, &rw.cur,
					   &err);
		src = (struct td_subscriber_source){ roster_next, &rw,
						     rw.cur ? td_roster_cursor_total(rw.cur) : 0,
						     true };
	}
	if (rc)
		return td_cli_fail(&err);
	struct td_send_summary sum;
	struct td_start_summary start;
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
	memset(&sum, 0, sizeof sum);
	char start_name[32];     /* the start's name in the run history */
	snprintf(start_name, sizeof start_name, "%s --no-send", name);
	if (!rc && no_send)
		rc = td_start_clean(&dopt.compose.schedule, st, &src, start_name, dry_run, now,
				    &start, &err);
	else if (!rc)
		rc = td_send_run(&dopt, st, &src, &opt, now, &sum, &err);
	td_options_verp_free(&verp);
	if (prog.drawn)
		fprintf(stderr, "\r%*s\r", 70, "");
	td_roster_cursor_close(rw.cur);
	td_roster_cursor_close(cw.cur);
	if (claims) {
		/* Done only when the walk ended and every reader taken is
		 * recorded; else the batches go back to the others now. */
		bool done = (!rc || rc == EX_TEMPFAIL) && !sum.stopped_early;
		size_t nclaimed = td_claims_count(claims);
		struct td_err cerr = { 0, "" };
		if (td_claims_end(claims, done, &cerr))
			td_log_warnx("%s (the leases run out by themselves)", cerr.msg);
		td_log_info("send: %zu batch%s of readers walked by this sender%s", nclaimed,
			    nclaimed == 1 ? "" : "es", done ? "" : ", handed back undone");
	}
	if (locked && no_send)
		td_lock_drop(st, TD_STORE_LOCK_ROSTER);
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
	if (no_send) {
		if (!rc && json)
			*json = start_json(&start, dry_run, rc);
		else if (!rc)
			print_start(cfg, name, &start, dry_run);
	} else if (json)
		*json = send_json(&sum, &sync, dry_run, rc);
	else if ((!rc || rc == EX_TEMPFAIL) && td_log_get_level() >= TD_LOG_INFO)
		print_send(cfg, &sum, &sync, dry_run);
	return rc;
}

static const char ingest_help[] =
	"usage: tagdigest ingest [--json]\n\n"
	"Reads every configured source into the store. New posts get the next\n"
	"sequence number; unchanged posts are left alone; edited posts update in\n"
	"place and are not announced again. A feed that answers \"not modified\"\n"
	"(304) to the validators of its last fetch from the same URL is counted\n"
	"as such. A failing source is reported on stderr with its name and URL\n"
	"or path, and the others are still read. On a PostgreSQL store ([store]\n"
	"url) one ingest runs at a time: a second one skips its ingest, says so\n"
	"on stderr and exits 0.\n"
	"Prints one summary line on stdout (nothing with -q).\n"
	"  --json      the summary as one JSON object: each source (name, type,\n"
	"              url or path, outcome: ok, not modified or failed, its\n"
	"              posts, its error), the totals and the exit status\n\n"
	"exit status: 0 every source read; else the failure that matters most:\n"
	"66 a posts folder missing (74 unreadable), over 65 a source that answered\n"
	"with something that is not a feed, over 69 a feed that could not be\n"
	"fetched (server down, 404, TLS, timeout).\n";

static const char send_help[] =
	"usage: tagdigest send [--no-send] [--dry-run] [--json]\n\n"
	"Syncs the subscriber file ([subscribers] path) into the store, then\n"
	"delivers the digests that are due: every active reader without a digest\n"
	"for the most recent slot of their own schedule (the site's [schedule]\n"
	"unless they chose a frequency, day, time or zone). Rows for readers who\n"
	"unsubscribed are not applied, and the run says so. Empty digests are\n"
	"recorded as skipped; temporary failures are retried in the run and kept\n"
	"for later runs; a reader who unsubscribes while the run sends gets nothing\n"
	"after the click. With [relay.NAME] sections the sessions are spread over\n"
	"the relays and a relay that is down is passed over; readers past a\n"
	"[throttle.DOMAIN] per_hour budget wait for the next run (docs/CRON.md).\n"
	"Prints one summary line on stdout (nothing with -q) and, on a terminal,\n"
	"progress on stderr.\n"
	"SIGTERM or SIGINT finishes the messages in flight, records them, exits 75.\n"
	"On a PostgreSQL store ([store] url) any number of sends, on any\n"
	"machines, share the readers: each claims batches of them ([send] batch)\n"
	"with a lease ([send] lease) and counts only its own in its summary.\n"
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
	"  --json      the summary as one JSON object (a dry run's has\n"
	"              \"dry_run\": true and \"would_send\" instead of \"sent\")\n\n"
	"exit status: 0 done, 75 try again later (relay down, some digests failed\n"
	"temporarily, another run holds the lock or, on PostgreSQL, the file's\n"
	"sync waited two minutes for another one), 78 configuration, 65 bad data.\n";

static const char run_help[] =
	"usage: tagdigest run [--no-send [--dry-run]] [--json]\n\n"
	"`ingest`, then `send` (which syncs the subscriber file first), under a\n"
	"lock: a second concurrent run exits 75 at once and touches nothing. On\n"
	"a PostgreSQL store ([store] url) runs share the readers as `send`s do,\n"
	"and one ingests at a time: another skips its ingest and sends.\n"
	"With [bounces] mailbox set, `bounces` runs before the send (a mailbox\n"
	"that cannot be read is reported, and the send goes on). A source that\n"
	"fails does not stop the run: the other sources are read and the send\n"
	"goes on; but not a start (--no-send), which would count that source's\n"
	"archive as news when it comes back: nothing starts, and the run exits\n"
	"with the ingest's code.\n"
	"Prints the ingest's, the bounces' and the send's summary lines on stdout\n"
	"(nothing with -q; errors on stderr always).\n"
	"  --no-send   start the readers clean instead of sending (`send --help`\n"
	"              says how): once, before the first cron run of a new site,\n"
	"              or after importing a list onto a live one\n"
	"  --dry-run   only with --no-send: read no source, write nothing, and\n"
	"              say how many readers would start clean\n"
	"  --json      one JSON object: {\"ingest\": ..., \"send\": ..., \"exit\": N}\n\n"
	"exit status: the send's own failure first (78, 65, ...); else, when a\n"
	"source failed, the ingest's code (66/74, 65, 69 as for `ingest`), even\n"
	"over a send's 75, which units treat as success; else the send's 0 or 75.\n\n"
	"This is the command for cron; run it at least hourly, so every reader's\n"
	"own slot is served within the hour:\n"
	"  7 * * * *  cd /srv/tagdigest && ./build/tagdigest -q run\n";

/* `run`'s reading of the bounce mailbox: on PostgreSQL under the roster
 * lock (lock.h), as `bounces` is, so two senders never read one mailbox
 * at once; the second finds it read. Non-zero when it was not read to
 * the end (reported). */
static int read_bounces_locked(const struct td_config *cfg, struct td_store *st,
			       bool as_result)
{
	struct td_err err = { 0, "" };
	if (td_lock_wait(st, TD_STORE_LOCK_ROSTER, TD_LOCK_WAIT_MS, &err))
		return td_cli_fail(&err);
	int rc = td_cli_read_bounces(cfg, st, false, as_result);
	td_lock_drop(st, TD_STORE_LOCK_ROSTER);
	return rc;
}

/* run's exit status: the send's own failure wins (mail that needs a
 * person); then a source that failed, even over the send's 75, which a
 * unit treats as success (SuccessExitStatus=75) and which would hide it;
 * the next run retries the 75 anyway. */
static int run_status(int ingest_rc, int send_rc)
{
	if (send_rc && send_rc != EX_TEMPFAIL)
		return send_rc;
	return ingest_rc ? ingest_rc : send_rc;
}

static int cmd_write(const struct td_cli_globals *g, int argc, char **argv,
		     const char *name, const char *help, bool ingest, bool send)
{
	bool helped, dry_run = false, json = false, no_send = false;
	struct td_cli_opt opts[] = {
		{ "--json", false, NULL, &json },
		{ "--no-send", false, NULL, &no_send },
		{ "--dry-run", false, NULL, &dry_run },
	};
	/* ingest takes --json; run and send take all three (run's --dry-run
	 * only with --no-send, below) */
	size_t nopts = !send ? 1 : 3;
	struct td_config cfg;
	struct td_store *st;
	int lockfd;
	int rc = td_cli_begin_writer(g, name, help, argc, argv, opts, nopts, &dry_run,
				     TD_LOCK_SEND, &helped, &cfg, &st, &lockfd);
	if (rc || helped)
		return rc;
	if (ingest && send && dry_run && !no_send) {
		td_cli_end_writer(&cfg, st, lockfd);
		return td_cli_usage_error(name, "--dry-run goes with --no-send "
					  "(`tagdigest send --dry-run` shows what a send "
					  "would do)", NULL);
	}
	struct td_value *ingest_v = NULL, *send_v = NULL;
	struct td_buf failed = TD_BUF_INIT;     /* the sources that failed */
	int sources_rc = 0;
	bool skipped = false;                   /* another process ingests */
	/* a dry run's store is read-only: what an ingest would add is not
	 * counted, and is not seen by a real start either until it runs */
	if (ingest && dry_run)
		td_log_info("%s: --dry-run: no ingest (it would write the store)", name);
	else if (ingest)
		rc = locked_ingest(&cfg, st, json ? &ingest_v : NULL, &sources_rc, &failed,
				   &skipped);
	/* A start counts what the store holds as seen: with a source
	 * missing, its posts would arrive after the start, the whole
	 * archive of it, and go out as news in everyone's first digest.
	 * So no reader starts (nor is the file synced) until every source
	 * was read. */
	bool hold = !rc && ingest && no_send && sources_rc;
	if (hold)
		td_log_warnx("%s --no-send: nothing started: source%s %s failed; fix it "
			     "and run `tagdigest %s --no-send` again", name,
			     strchr(td_buf_cstr(&failed), ',') ? "s" : "",
			     td_buf_cstr(&failed), name);
	/* Nor while another process ingests: what it adds after the start
	 * would go out as news. */
	if (!rc && !hold && send && no_send && skipped) {
		td_log_warnx("%s --no-send: nothing started while another process "
			     "ingests; run `tagdigest %s --no-send` again when it is done",
			     name, name);
		hold = true;
		sources_rc = EX_TEMPFAIL;
	}
	td_buf_free(&failed);
	/* `run` reads what came back before it sends, so a reader who
	 * bounced or complained is not mailed again; a mailbox that cannot
	 * be read is reported and the send goes on. Its summary is one of
	 * the run's results, but not part of the JSON document. */
	if (!rc && !hold && ingest && send && !dry_run && cfg.bounce_mailbox &&
	    read_bounces_locked(&cfg, st, !json))
		td_log_warnx("run: the bounce mailbox was not read to the end; "
			     "sending anyway (`tagdigest bounces` tries again)");
	if (hold)
		rc = sources_rc;
	else if (!rc)
		rc = send ? run_status(sources_rc, do_send(&cfg, st, name, dry_run, no_send,
							   json ? &send_v : NULL)) :
		     sources_rc;
	td_cli_end_writer(&cfg, st, lockfd);
	if (json && ingest && send && (ingest_v || send_v)) {
		struct td_value *v = td_value_map();
		td_value_map_set(v, "ingest", ingest_v ? ingest_v : td_value_null());
		td_value_map_set(v, "send", send_v ? send_v : td_value_null());
		td_value_map_set_int(v, "exit", rc);
		put_json(v);
	} else if (json && (ingest_v || send_v)) {
		put_json(ingest_v ? ingest_v : send_v);
	}
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
