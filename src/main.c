/*
 * main.c: the command line. It parses arguments, opens what a command
 * needs, calls the module that does the work and prints the result; the
 * thinking lives in the modules. Exit codes are sysexits.h, for cron.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tagdigest/config.h"
#include "tagdigest/compose.h"
#include "tagdigest/deliver.h"
#include "tagdigest/feed.h"
#include "tagdigest/fetch.h"
#include "tagdigest/ingest.h"
#include "tagdigest/lock.h"
#include "tagdigest/log.h"
#include "tagdigest/options.h"
#include "tagdigest/schedule.h"
#include "tagdigest/serve.h"
#include "tagdigest/slug.h"
#include "tagdigest/status.h"
#include "tagdigest/store.h"
#include "tagdigest/subscribers.h"
#include "tagdigest/util.h"
#include "tagdigest/version.h"

#define DEFAULT_CONFIG "config/tagdigest.conf"
#define MAX_OVERRIDES 64

struct globals {
	const char *config_path;
	const char *overrides[MAX_OVERRIDES];
	size_t noverrides;
};

static const char usage_text[] =
	"usage: tagdigest [-c FILE] [-o SECTION.KEY=VALUE]... [-q | -v] COMMAND [ARGS]\n"
	"\n"
	"Weekly digests of tagged posts, by e-mail.\n"
	"\n"
	"commands:\n"
	"  ingest     read all sources into the store\n"
	"  status     per subscriber: tags, watermark, next due time, posts waiting\n"
	"  preview    the message one subscriber would get now (changes nothing)\n"
	"  send       deliver the digests that are due\n"
	"  run        ingest, then send, under a lock (what cron runs)\n"
	"  feed-dump  what tagdigest reads from one feed, as JSON\n"
	"  unsuppress lift an unsubscribe or bounce for one subscriber\n"
	"  serve      the editors' preview in a browser; --public: unsubscribe pages\n"
	"\n"
	"options:\n"
	"  -c FILE               config file (default: $TAGDIGEST_CONFIG or " DEFAULT_CONFIG ")\n"
	"  -o SECTION.KEY=VALUE  override one config value for this run (repeatable)\n"
	"  -q, --quiet           only errors on stderr\n"
	"  -v, --verbose         more detail on stderr\n"
	"  -h, --help            this text; `tagdigest COMMAND --help` for a command\n"
	"  -V, --version         print the version\n"
	"\n"
	"exit status: 0 done, 64 usage, 65 bad data, 66 missing input, 75 try again\n"
	"later, 78 bad configuration (see sysexits.h).\n";

static int fail(const struct td_err *err)
{
	td_log_warnx("%s", err->msg);
	return err->code ? err->code : EX_SOFTWARE;
}

static int usage_error(const char *cmd, const char *what, const char *arg)
{
	fprintf(stderr, "tagdigest: %s: %s%s%s\n(see `tagdigest %s --help`)\n", cmd,
		what, arg ? ": " : "", arg ? arg : "", cmd);
	return EX_USAGE;
}

static int load_config(const struct globals *g, struct td_config *cfg)
{
	struct td_err err = { 0, "" };
	if (td_config_load(cfg, g->config_path, g->overrides, g->noverrides, &err))
		return fail(&err);
	return 0;
}

static void warn_bad_rows(const struct td_config *cfg, size_t nbad, size_t ngood)
{
	if (nbad)
		td_log_warnx("subscribers: %s: %zu bad rows skipped (see above); "
			     "%zu good rows kept", cfg->subscribers_path, nbad, ngood);
}

static int load_subscribers(const struct td_config *cfg,
			    struct td_subscriber_list *subs)
{
	struct td_err err = { 0, "" };
	if (td_subscribers_load(cfg->subscribers_path, subs, &err))
		return fail(&err);
	warn_bad_rows(cfg, subs->nbad, subs->n);
	return 0;
}

/* The subscriber reader as the send engine's source. */
static int next_subscriber(void *ctx, const struct td_subscriber **out,
			   struct td_err *err)
{
	return td_subscribers_next(ctx, out, err);
}

/* Parses a command's own options: --help always, and the ones given. */
struct cmd_opt {
	const char *name;
	bool takes_arg;
	const char **value;   /* for options with an argument */
	bool *flag;           /* for flags */
};

static int parse_cmd_opts(const char *cmd, const char *help, int argc,
			  char **argv, struct cmd_opt *opts, size_t nopts,
			  bool *helped)
{
	*helped = false;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			fputs(help, stdout);
			*helped = true;
			return 0;
		}
		bool matched = false;
		for (size_t k = 0; k < nopts && !matched; k++) {
			size_t n = strlen(opts[k].name);
			if (strncmp(a, opts[k].name, n) != 0)
				continue;
			if (!opts[k].takes_arg && a[n] == '\0') {
				*opts[k].flag = true;
				matched = true;
			} else if (opts[k].takes_arg && a[n] == '=') {
				*opts[k].value = a + n + 1;
				matched = true;
			} else if (opts[k].takes_arg && a[n] == '\0') {
				if (i + 1 >= argc)
					return usage_error(cmd, "this option needs a value", opts[k].name);
				*opts[k].value = argv[++i];
				matched = true;
			}
		}
		if (!matched)
			return usage_error(cmd, "unknown argument", a);
	}
	return 0;
}

/* `ingest` prints its summary as its result; inside `run` the send line
 * is the result and the ingest summary is only a log line. */
static int do_ingest(const struct td_config *cfg, struct td_store *st, bool as_result)
{
	struct td_ingest_summary s;
	struct td_err err = { 0, "" };
	struct td_ingest_options opt = td_options_ingest(cfg);
	if (td_ingest(&opt, st, TD_INGEST_ALL, time(NULL), &s, &err))
		return fail(&err);
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
		return fail(&err);
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
	warn_bad_rows(cfg, nbad, ngood);
	if (rc)
		fail(&err);
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

static const char status_help[] =
	"usage: tagdigest status\n\n"
	"Shows the weekly slot, each source's health, and per subscriber: tags,\n"
	"watermark, last digest, next due time and posts waiting. Changes nothing.\n";

static const char preview_help[] =
	"usage: tagdigest preview --to EMAIL [--format eml|html|text] [--out FILE]\n\n"
	"Renders exactly the message EMAIL would get now, without sending it or\n"
	"changing the store.\n"
	"  --to EMAIL      a subscriber in the subscriber file\n"
	"  --format FMT    eml (the whole message, default), html or text (one part)\n"
	"  --out FILE      write there instead of standard output\n";

/* The store under the run lock (lock.h), or the error reported. */
static int open_locked(const struct td_config *cfg, struct td_store **st, int *lockfd)
{
	struct td_err err = { 0, "" };
	int rc = td_lock_open_store(cfg->store_path, st, lockfd, &err);
	return rc ? fail(&err) : 0;
}

static int cmd_write(const struct globals *g, int argc, char **argv,
		     const char *name, const char *help, bool ingest, bool send)
{
	bool helped, dry_run = false, json = false;
	struct cmd_opt opts[] = {
		{ "--json", false, NULL, &json },
		{ "--dry-run", false, NULL, &dry_run },
	};
	/* ingest takes neither; run takes --json; send takes both */
	size_t nopts = !send ? 0 : ingest ? 1 : 2;
	int rc = parse_cmd_opts(name, help, argc, argv, opts, nopts, &helped);
	if (rc || helped)
		return rc;
	struct td_config cfg;
	if ((rc = load_config(g, &cfg)))
		return rc;
	struct td_store *st = NULL;
	int lockfd = -1;
	struct td_err err = { 0, "" };
	if (dry_run) {
		/* a dry run writes nothing, so it needs no lock */
		rc = td_store_open(cfg.store_path, TD_STORE_READONLY, &st, &err);
		if (rc)
			fail(&err);
	} else {
		rc = open_locked(&cfg, &st, &lockfd);
	}
	if (!rc && ingest)
		rc = do_ingest(&cfg, st, !send);
	if (!rc && send)
		rc = do_send(&cfg, st, dry_run, json);
	td_lock_close_store(st, lockfd);
	td_config_free(&cfg);
	return rc;
}

static int cmd_status(const struct globals *g, int argc, char **argv)
{
	bool helped;
	int rc = parse_cmd_opts("status", status_help, argc, argv, NULL, 0, &helped);
	if (rc || helped)
		return rc;
	struct td_config cfg;
	if ((rc = load_config(g, &cfg)))
		return rc;
	struct td_subscriber_list subs = { 0 };
	struct td_store *st = NULL;
	struct td_err err = { 0, "" };
	struct td_status_options opt = td_options_status(&cfg);
	if (!(rc = load_subscribers(&cfg, &subs))) {
		rc = td_store_open(cfg.store_path, TD_STORE_READONLY, &st, &err);
		if (!rc)
			rc = td_status_print(stdout, &opt, st, &subs, time(NULL), &err);
		if (rc)
			fail(&err);
	}
	td_store_close(st);
	td_subscribers_free(&subs);
	td_config_free(&cfg);
	return rc;
}

static int write_preview(const struct td_composed *m, const char *format,
			 const char *out_path)
{
	const char *data = m->message.data;
	size_t len = m->message.len;
	if (strcmp(format, "html") == 0) {
		data = m->parts.html;
		len = strlen(data);
	} else if (strcmp(format, "text") == 0) {
		data = m->parts.text;
		len = strlen(data);
	}
	FILE *f = out_path ? fopen(out_path, "wb") : stdout;
	if (!f) {
		td_log_warn("preview: %s", out_path);
		return EX_CANTCREAT;
	}
	bool ok = fwrite(data, 1, len, f) == len;
	if (out_path)
		ok = fclose(f) == 0 && ok;
	else
		ok = fflush(f) == 0 && ok;
	if (!ok) {
		td_log_warn("preview: write %s", out_path ? out_path : "standard output");
		return EX_IOERR;
	}
	return 0;
}

static int cmd_preview(const struct globals *g, int argc, char **argv)
{
	bool helped;
	const char *to = NULL, *format = "eml", *out_path = NULL;
	struct cmd_opt opts[] = {
		{ "--to", true, &to, NULL },
		{ "--format", true, &format, NULL },
		{ "--out", true, &out_path, NULL },
	};
	int rc = parse_cmd_opts("preview", preview_help, argc, argv, opts, 3, &helped);
	if (rc || helped)
		return rc;
	if (!to)
		return usage_error("preview", "--to EMAIL is required", NULL);
	if (strcmp(format, "eml") && strcmp(format, "html") && strcmp(format, "text"))
		return usage_error("preview", "--format must be eml, html or text", format);
	struct td_config cfg;
	if ((rc = load_config(g, &cfg)))
		return rc;
	struct td_subscriber_list subs = { 0 };
	struct td_store *st = NULL;
	struct td_composer *composer = NULL;
	struct td_err err = { 0, "" };
	if ((rc = load_subscribers(&cfg, &subs)))
		goto out;
	const struct td_subscriber *sub = td_subscribers_find(&subs, to);
	if (!sub) {
		rc = td_err_set(&err, EX_DATAERR, "preview: %s is not in %s", to,
				cfg.subscribers_path);
		fail(&err);
		goto out;
	}
	struct td_compose_options co = td_options_compose(&cfg);
	if ((rc = td_store_open(cfg.store_path, TD_STORE_READONLY, &st, &err)) ||
	    (rc = td_composer_new(&co, st, &composer, &err))) {
		fail(&err);
		goto out;
	}
	struct td_composed m;
	if ((rc = td_compose(composer, sub, time(NULL), &m, &err))) {
		fail(&err);
		goto out;
	}
	if (m.digest.total == 0)
		td_log_warnx("preview: %s has no new posts in their tags: `send` would "
			     "skip this digest", sub->email);
	rc = write_preview(&m, format, out_path);
	td_composed_free(&m);
out:
	td_composer_free(composer);
	td_store_close(st);
	td_subscribers_free(&subs);
	td_config_free(&cfg);
	return rc;
}

static const char unsuppress_help[] =
	"usage: tagdigest unsuppress EMAIL [--tag TAG]\n\n"
	"Lifts what the store holds against EMAIL (an unsubscribe or a bounce),\n"
	"for every scope, or only for one tag with --tag. The subscriber file is\n"
	"not touched; the next send includes the subscriber again.\n";

static int cmd_unsuppress(const struct globals *g, int argc, char **argv)
{
	bool helped;
	const char *tag = NULL, *email = NULL;
	struct cmd_opt opts[] = { { "--tag", true, &tag, NULL } };
	if (argc > 1 && argv[1][0] != '-') {
		email = argv[1];
		argv++;
		argc--;
	}
	int rc = parse_cmd_opts("unsuppress", unsuppress_help, argc, argv, opts, 1, &helped);
	if (rc || helped)
		return rc;
	if (!email)
		return usage_error("unsuppress", "an EMAIL is required", NULL);
	struct td_config cfg;
	if ((rc = load_config(g, &cfg)))
		return rc;
	struct td_store *st = NULL;
	int lockfd = -1;
	size_t removed = 0;
	struct td_err err = { 0, "" };
	char *slug = tag ? td_slugify(tag) : NULL;
	if (!(rc = open_locked(&cfg, &st, &lockfd))) {
		if ((rc = td_store_unsuppress(st, email, slug, &removed, &err)))
			fail(&err);
		else
			printf("unsuppress: %s: %zu suppression%s lifted%s\n", email, removed,
			       removed == 1 ? "" : "s",
			       removed ? "" : " (there was none)");
	}
	free(slug);
	td_lock_close_store(st, lockfd);
	td_config_free(&cfg);
	return rc;
}

static const char serve_help[] =
	"usage: tagdigest serve [--listen ADDR:PORT] [--public]\n\n"
	"Serves the editors' desk: live previews of digests, test sends, source\n"
	"health. Runs until interrupted.\n"
	"  --listen ADDR:PORT   where to listen (default 127.0.0.1:8025)\n"
	"  --public             serve only the one-click unsubscribe pages, for\n"
	"                       the address in List-Unsubscribe\n";

static int cmd_serve(const struct globals *g, int argc, char **argv)
{
	bool helped, public_mode = false;
	const char *listen = "127.0.0.1:8025";
	struct cmd_opt opts[] = {
		{ "--listen", true, &listen, NULL },
		{ "--public", false, NULL, &public_mode },
	};
	int rc = parse_cmd_opts("serve", serve_help, argc, argv, opts, 2, &helped);
	if (rc || helped)
		return rc;
	/* a bad --listen is reported before the config is read */
	struct td_err err = { 0, "" };
	if ((rc = td_serve_check_listen(listen, public_mode, &err)))
		return fail(&err);
	struct td_config cfg;
	if ((rc = load_config(g, &cfg)))
		return rc;
	/* the desk borrows from cfg until td_serve returns */
	struct td_serve_options so = { listen, public_mode, td_options_desk(&cfg) };
	if ((rc = td_serve(&so, &err)))
		fail(&err);
	td_config_free(&cfg);
	return rc;
}

static const char feed_dump_help[] =
	"usage: tagdigest feed-dump [--base URL] [--content-type TYPE] FILE|URL\n\n"
	"Parses one feed (a file, or an http(s) URL fetched with the [fetch]\n"
	"settings when a config is readable) and prints what tagdigest read, as\n"
	"JSON with feedparser's field names. Changes nothing.\n"
	"  --base URL          the document's address, for relative links (a\n"
	"                      URL's default: its Content-Location, else the\n"
	"                      address after redirects)\n"
	"  --content-type T    the HTTP Content-Type it came with (its charset)\n";

static bool is_url(const char *s)
{
	return strncmp(s, "http://", 7) == 0 || strncmp(s, "https://", 8) == 0 ||
	       strncmp(s, "file://", 7) == 0;
}

static int fetch_one(const struct globals *g, const char *url,
		     struct td_fetch_result *res)
{
	/* Use the config's [fetch] limits when there is a config; a dump
	 * must also work without one. */
	struct td_fetch_options opt = { 1, 30, 10, 10L << 20, 5 };
	struct td_config cfg;
	struct td_err err = { 0, "" };
	if (td_config_load(&cfg, g->config_path, g->overrides, g->noverrides, &err) == 0) {
		opt = td_options_fetch(&cfg);
		opt.parallel = 1;
		td_config_free(&cfg);
	}
	struct td_fetch_request req = { url, NULL, NULL };
	if (td_fetch_all(&opt, &req, 1, res, &err))
		return fail(&err);
	if (res->status != TD_FETCH_OK) {
		td_log_warnx("feed-dump: %s: %s", url, res->error);
		return EX_UNAVAILABLE;
	}
	return 0;
}

static int cmd_feed_dump(const struct globals *g, int argc, char **argv)
{
	bool helped;
	const char *base = NULL, *ctype = NULL, *source = NULL;
	struct cmd_opt opts[] = {
		{ "--base", true, &base, NULL },
		{ "--content-type", true, &ctype, NULL },
	};
	/* the one positional argument is taken off first */
	if (argc > 1 && argv[argc - 1][0] != '-' &&
	    !(argc > 2 && (strcmp(argv[argc - 2], "--base") == 0 ||
			   strcmp(argv[argc - 2], "--content-type") == 0))) {
		source = argv[argc - 1];
		argc--;
	}
	int rc = parse_cmd_opts("feed-dump", feed_dump_help, argc, argv, opts, 2, &helped);
	if (rc || helped)
		return rc;
	if (!source)
		return usage_error("feed-dump", "a FILE or URL is required", NULL);

	struct td_fetch_result res;
	memset(&res, 0, sizeof res);
	char *data = NULL;
	size_t len = 0;
	if (is_url(source)) {
		if ((rc = fetch_one(g, source, &res))) {
			td_fetch_result_free(&res);
			return rc;
		}
		data = res.body;
		len = res.len;
		if (!base)
			base = res.content_location ? res.content_location :
						      res.final_url;
		if (!ctype)
			ctype = res.content_type;
	} else if (td_read_file(source, 64u << 20, &data, &len) < 0) {
		td_log_warn("feed-dump: %s", source);
		return EX_NOINPUT;
	}
	struct td_feed *feed = NULL;
	struct td_err err = { 0, "" };
	rc = td_feed_parse(data, len, base, ctype, &feed, &err);
	if (rc) {
		fail(&err);
	} else {
		struct td_buf json = TD_BUF_INIT;
		td_feed_dump_json(feed, &json);
		fwrite(json.data, 1, json.len, stdout);
		putchar('\n');
		td_buf_free(&json);
		td_feed_free(feed);
	}
	if (data != res.body)
		free(data);
	td_fetch_result_free(&res);
	return rc;
}

int main(int argc, char **argv)
{
	struct globals g = { NULL, { NULL }, 0 };
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "verbose", no_argument, NULL, 'v' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	/* '+': stop at the command, so its own options are left for it */
	while ((c = getopt_long(argc, argv, "+c:o:qvhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			g.config_path = optarg;
			break;
		case 'o':
			if (g.noverrides == MAX_OVERRIDES) {
				fprintf(stderr, "tagdigest: at most %d -o options\n", MAX_OVERRIDES);
				return EX_USAGE;
			}
			g.overrides[g.noverrides++] = optarg;
			break;
		case 'q':
			td_log_set_level(TD_LOG_QUIET);
			break;
		case 'v':
			td_log_set_level(TD_LOG_DEBUG);
			break;
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		case 'V':
			printf("tagdigest %s\n", TD_VERSION);
			return 0;
		default:
			fputs(usage_text, stderr);
			return EX_USAGE;
		}
	}
	if (optind >= argc) {
		fputs(usage_text, stderr);
		return EX_USAGE;
	}
	if (!g.config_path)
		g.config_path = getenv("TAGDIGEST_CONFIG");
	if (!g.config_path || !*g.config_path)
		g.config_path = DEFAULT_CONFIG;

	const char *cmd = argv[optind];
	int cargc = argc - optind;
	char **cargv = argv + optind;
	if (strcmp(cmd, "ingest") == 0)
		return cmd_write(&g, cargc, cargv, "ingest", ingest_help, true, false);
	if (strcmp(cmd, "send") == 0)
		return cmd_write(&g, cargc, cargv, "send", send_help, false, true);
	if (strcmp(cmd, "run") == 0)
		return cmd_write(&g, cargc, cargv, "run", run_help, true, true);
	if (strcmp(cmd, "status") == 0)
		return cmd_status(&g, cargc, cargv);
	if (strcmp(cmd, "preview") == 0)
		return cmd_preview(&g, cargc, cargv);
	if (strcmp(cmd, "serve") == 0)
		return cmd_serve(&g, cargc, cargv);
	if (strcmp(cmd, "unsuppress") == 0)
		return cmd_unsuppress(&g, cargc, cargv);
	if (strcmp(cmd, "feed-dump") == 0)
		return cmd_feed_dump(&g, cargc, cargv);
	fprintf(stderr, "tagdigest: unknown command '%s'\n\n%s", cmd, usage_text);
	return EX_USAGE;
}
