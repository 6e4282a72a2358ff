/*
 * serve_desk.c: the editors' desk of `tagdigest serve` (see serve.h).
 *
 * Pages: a home page (tags with the posts waiting, next send, subscriber
 * counts, the last digests, source health), a preview of what one
 * subscriber, or a sample reader of one tag, would get now (HTML part in
 * a sandboxed frame, text part, headers, raw message, size), and "send a
 * test". The store is opened READONLY, and a preview goes through the very
 * composer `send` uses, so it is exactly what would go out.
 *
 * Live reload: every request first looks at the files a preview depends
 * on (templates, posts folders, the subscriber file, the store). Changed
 * templates rebuild the composer (templates are parsed once per
 * composer); changed posts run the ingest of the posts sources, as
 * `tagdigest ingest` would, under the run lock (busy: try again on a later
 * request). The page polls /version, a hash of it all, and swaps in a
 * fresh copy of itself when it changes.
 *
 * Everything from posts, subscribers, config and requests is HTML-escaped
 * on its way into a page; the digest's own HTML is shown only inside a
 * sandboxed frame whose response carries a CSP without scripts.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

#include "serve_impl.h"
#include "tagdigest/address.h"
#include "tagdigest/compose.h"
#include "tagdigest/deliver.h"
#include "tagdigest/digest.h"
#include "tagdigest/ingest.h"
#include "tagdigest/lock.h"
#include "tagdigest/log.h"
#include "tagdigest/schedule.h"
#include "tagdigest/slug.h"
#include "tagdigest/store.h"
#include "tagdigest/subscribers.h"

/* The sample reader: no history, so a first digest of one tag. The
 * .invalid domain (RFC 2606) can never belong to a real subscriber. */
#define SAMPLE_EMAIL "sample.reader@example.invalid"
#define SAMPLE_NAME "Sample Reader"
#define GMAIL_CLIP (102u * 1024u)   /* Gmail clips a message above this */
#define MAX_LISTED 200              /* subscribers listed on the home page */
#define MAX_TITLES 10               /* waiting posts named per tag */
#define MAX_DIR_ENTRIES 100000      /* a fingerprint looks at no more */
#define REFRESH_EVERY 0.25          /* seconds between looks at the files */
#define WHEN_FMT "%a %d %b %Y %H:%M %Z"

static const char csp_desk[] =
	"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
	"connect-src 'self'; frame-src 'self'; form-action 'self'; base-uri 'none'; "
	"frame-ancestors 'none'";
/* The digest's HTML part: inline styles as in mail, remote images as a
 * mail client would load them, and no script, form or navigation at all
 * (`sandbox` applies even when the part is opened outside the frame). */
static const char csp_part[] =
	"sandbox; default-src 'none'; style-src 'unsafe-inline'; "
	"img-src https: http: data:; font-src https: data:; base-uri 'none'; "
	"form-action 'none'; frame-ancestors 'self'";

struct td_desk {
	const struct td_config *cfg;
	struct td_config posts_cfg;          /* cfg with its posts sources only */
	struct td_source_config *posts_sources;
	char *lockpath;

	struct td_store *st;                 /* READONLY; NULL until it exists */
	struct td_err store_err;

	struct td_composer *composer;        /* NULL while templates are broken */
	struct td_store *composer_st;        /* the store it was made with */
	struct td_err composer_err;
	uint64_t tpl_fp;
	bool tpl_known;

	struct td_subscriber_list subs;
	struct td_err subs_err;
	uint64_t subs_fp;
	bool subs_known;

	uint64_t posts_fp;                   /* posts as last ingested */
	bool posts_known;

	double last_refresh;
	char version[17];
	char csrf[65];                       /* per process: forms carry it */
};

/* ---- fingerprints of the files a preview depends on ---- */

static void fp_add(uint64_t *h, const void *p, size_t n)
{
	const unsigned char *c = p;
	for (size_t i = 0; i < n; i++)
		*h = (*h ^ c[i]) * 1099511628211ull;
}

static void fp_file(uint64_t *h, const char *path)
{
	struct stat st;
	fp_add(h, path, strlen(path) + 1);
	if (stat(path, &st) != 0) {
		fp_add(h, "-", 1);
		return;
	}
	int64_t v[4] = { (int64_t)st.st_mtim.tv_sec, (int64_t)st.st_mtim.tv_nsec,
			 (int64_t)st.st_size, (int64_t)st.st_ino };
	fp_add(h, v, sizeof v);
}

static int by_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The folder itself (files added or removed) and each entry in it, in
 * name order so the hash does not depend on readdir's order. */
static void fp_dir(uint64_t *h, const char *dir)
{
	fp_file(h, dir);
	DIR *dp = opendir(dir);
	if (!dp)
		return;
	struct td_strv names = TD_STRV_INIT;
	struct dirent *de;
	while ((de = readdir(dp)) != NULL && names.n < MAX_DIR_ENTRIES)
		if (de->d_name[0] != '.')
			td_strv_push(&names, de->d_name);
	closedir(dp);
	if (names.n > 1)
		qsort(names.v, names.n, sizeof *names.v, by_str);
	for (size_t i = 0; i < names.n; i++) {
		char *p = td_xasprintf("%s/%s", dir, names.v[i]);
		fp_file(h, p);
		free(p);
	}
	td_strv_free(&names);
}

static uint64_t fp_templates(const struct td_desk *d)
{
	uint64_t h = 1469598103934665603ull;
	char *partials = td_xasprintf("%s/partials", d->cfg->templates_dir);
	fp_dir(&h, d->cfg->templates_dir);
	fp_dir(&h, partials);
	free(partials);
	return h;
}

static uint64_t fp_posts(const struct td_desk *d)
{
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < d->posts_cfg.nsources; i++)
		fp_dir(&h, d->posts_cfg.sources[i].path);
	return h;
}

static uint64_t fp_one(const char *path)
{
	uint64_t h = 1469598103934665603ull;
	fp_file(&h, path);
	return h;
}

/* ---- keeping up with the files ---- */

/* `tagdigest ingest` for the posts sources, under the run lock. Returns
 * EX_TEMPFAIL when a run holds the lock: the next request tries again. */
static int ingest_posts(struct td_desk *d)
{
	struct td_err err = { 0, "" };
	int fd = -1;
	struct td_store *st = NULL;
	int rc = td_mkdir_parents(d->lockpath, &err);
	if (!rc)
		rc = td_lock_acquire(d->lockpath, &fd, &err);
	if (rc == EX_TEMPFAIL) {
		td_log_debug("serve: posts changed; ingest later: %s", err.msg);
		return rc;
	}
	struct td_ingest_summary sum;
	if (!rc)
		rc = td_store_open(d->cfg->store_path, TD_STORE_READWRITE, &st, &err);
	if (!rc)
		rc = td_ingest(&d->posts_cfg, st, time(NULL), &sum, &err);
	td_store_close(st);
	td_lock_release(fd);
	if (rc)
		td_log_warnx("serve: ingest of posts: %s", err.msg);
	else
		td_log_info("serve: posts ingested: %zu read, %zu new, %zu updated",
			    sum.read, sum.added, sum.updated);
	return rc;
}

static double mono_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void refresh(struct td_desk *d)
{
	double now = mono_now();
	if (d->last_refresh > 0 && now - d->last_refresh < REFRESH_EVERY)
		return;
	d->last_refresh = now;

	/* posts first: what they write to the store is part of the version */
	if (d->posts_cfg.nsources) {
		uint64_t fp = fp_posts(d);
		if ((!d->posts_known || fp != d->posts_fp) && ingest_posts(d) != EX_TEMPFAIL) {
			/* a failure is logged once per change, not per request */
			d->posts_fp = fp;
			d->posts_known = true;
		}
	}
	if (!d->st && td_store_open(d->cfg->store_path, TD_STORE_READONLY, &d->st,
				    &d->store_err) != 0)
		d->st = NULL;

	uint64_t tfp = fp_templates(d);
	if (!d->tpl_known || tfp != d->tpl_fp || d->composer_st != d->st) {
		td_composer_free(d->composer);
		d->composer = NULL;
		d->composer_err.code = 0;
		d->composer_err.msg[0] = '\0';
		/* the composer keeps the store only to read it in td_compose,
		 * which is never called while there is none */
		if (td_composer_new(d->cfg, d->st, &d->composer, &d->composer_err) != 0)
			d->composer = NULL;
		d->composer_st = d->st;
		d->tpl_fp = tfp;
		d->tpl_known = true;
	}

	uint64_t sfp = fp_one(d->cfg->subscribers_path);
	if (!d->subs_known || sfp != d->subs_fp) {
		td_subscribers_free(&d->subs);
		memset(&d->subs, 0, sizeof d->subs);
		d->subs_err.code = 0;
		d->subs_err.msg[0] = '\0';
		if (td_subscribers_load(d->cfg->subscribers_path, &d->subs, &d->subs_err))
			memset(&d->subs, 0, sizeof d->subs);
		d->subs_fp = sfp;
		d->subs_known = true;
	}

	/* the store's files move with every ingest, send and unsubscribe */
	uint64_t h = 1469598103934665603ull;
	char *wal = td_xasprintf("%s-wal", d->cfg->store_path);
	fp_file(&h, d->cfg->store_path);
	fp_file(&h, wal);
	free(wal);
	fp_add(&h, &tfp, sizeof tfp);
	fp_add(&h, &sfp, sizeof sfp);
	snprintf(d->version, sizeof d->version, "%016llx", (unsigned long long)h);
}

int td_desk_new(const struct td_config *cfg, struct td_desk **out,
		struct td_err *err)
{
	struct td_desk *d = td_xcalloc(1, sizeof *d);
	d->cfg = cfg;
	d->lockpath = td_xasprintf("%s.lock", cfg->store_path);
	/* A shallow copy of the config whose sources are the posts folders
	 * only: feeds are fetched by `ingest`/`run`, not on every keystroke. */
	d->posts_cfg = *cfg;
	d->posts_sources = td_xcalloc(cfg->nsources ? cfg->nsources : 1,
				      sizeof *d->posts_sources);
	d->posts_cfg.sources = d->posts_sources;
	d->posts_cfg.nsources = 0;
	for (size_t i = 0; i < cfg->nsources; i++)
		if (strcmp(cfg->sources[i].type, "posts") == 0)
			d->posts_sources[d->posts_cfg.nsources++] = cfg->sources[i];

	unsigned char rnd[32];
	if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) {
		td_desk_free(d);
		return td_err_set(err, EX_OSERR, "serve: no random bytes for the CSRF token");
	}
	for (size_t i = 0; i < sizeof rnd; i++)
		snprintf(d->csrf + 2 * i, 3, "%02x", rnd[i]);
	refresh(d);
	*out = d;
	return 0;
}

void td_desk_free(struct td_desk *d)
{
	if (!d)
		return;
	td_composer_free(d->composer);
	td_store_close(d->st);
	td_subscribers_free(&d->subs);
	free(d->posts_sources);
	free(d->lockpath);
	free(d);
}

/* ---- page frame ---- */

static void desk_open(struct td_desk *d, struct td_http_resp *resp,
		      const char *title)
{
	struct td_buf *b = &resp->body;
	resp->content_type = "text/html; charset=utf-8";
	resp->csp = csp_desk;
	td_buf_printf(b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
		      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
		      "<meta name=\"td-version\" content=\"%s\"><title>", d->version);
	td_html_escape(b, title);
	td_buf_puts(b, " &middot; tagdigest</title>"
		    "<link rel=\"stylesheet\" href=\"/static/desk.css\">"
		    "<script src=\"/static/desk.js\" defer></script></head><body>\n"
		    "<header class=\"bar\"><a href=\"/\">");
	td_html_escape(b, d->cfg->site_name);
	td_buf_puts(b, "</a> <span class=\"dim\">editors' desk</span>"
		    "<span id=\"live\" class=\"dim\" title=\"updates itself when a template, "
		    "post, the subscriber file or the store changes\">live</span></header>\n");
}

static void desk_close(struct td_buf *b)
{
	td_buf_puts(b, "</body></html>\n");
}

static void when(const struct td_desk *d, time_t t, char *out, size_t n)
{
	if (!t)
		snprintf(out, n, "never");
	else
		td_schedule_format(t, d->cfg->timezone, WHEN_FMT, out, n);
}

/* Line `line` of a template file with a caret under `col`, and two lines
 * of context around it, so an editor sees the mistake where it is. */
static void show_location(struct td_buf *b, const char *path, unsigned line,
			  unsigned col)
{
	char *src = NULL;
	size_t len = 0;
	if (line == 0 || td_read_file(path, 1u << 20, &src, &len) != 0)
		return;
	td_buf_puts(b, "<pre class=\"source\">");
	unsigned n = 1;
	const char *p = src;
	while (*p && n <= line + 2) {
		const char *nl = strchr(p, '\n');
		size_t l = nl ? (size_t)(nl - p) : strlen(p);
		if (n + 3 > line) {
			char *text = td_xstrndup(p, l);
			td_buf_printf(b, "%s%5u | ", n == line ? "<mark>" : "", n);
			td_html_escape(b, text);
			td_buf_puts(b, n == line ? "</mark>\n" : "\n");
			if (n == line) {
				td_buf_puts(b, "        ");
				for (unsigned c = 1; c < col && c < 500; c++)
					td_buf_putc(b, ' ');
				td_buf_puts(b, "^\n");
			}
			free(text);
		}
		if (!nl)
			break;
		p = nl + 1;
		n++;
	}
	td_buf_puts(b, "</pre>\n");
	free(src);
}

/* Finds "PATH.mustache:LINE:COL" in an error message. */
static bool find_location(const char *msg, char **path, unsigned *line,
			  unsigned *col)
{
	const char *m = strstr(msg, ".mustache:");
	if (!m)
		return false;
	const char *start = m;
	while (start > msg && start[-1] != ' ')
		start--;
	unsigned l = 0, c = 0;
	if (sscanf(m + 10, "%u:%u", &l, &c) < 1)
		return false;
	*path = td_xstrndup(start, (size_t)(m + 9 - start));
	*line = l;
	*col = c;
	return true;
}

static void error_page(struct td_desk *d, struct td_http_resp *resp,
		       unsigned status, const char *title,
		       const struct td_err *err)
{
	struct td_buf *b = &resp->body;
	resp->status = status;
	td_buf_reset(b);
	desk_open(d, resp, title);
	td_buf_puts(b, "<main id=\"main\"><h1 class=\"error\">");
	td_html_escape(b, title);
	td_buf_puts(b, "</h1>\n<pre id=\"error\" class=\"error\">");
	td_html_escape(b, err->msg);
	td_buf_puts(b, "</pre>\n");
	char *path;
	unsigned line, col;
	size_t dl = strlen(d->cfg->templates_dir);
	if (find_location(err->msg, &path, &line, &col)) {
		/* only a template's own lines are ever shown */
		bool ours = strncmp(path, d->cfg->templates_dir, dl) == 0 &&
			    path[dl] == '/' && !strstr(path, "/../");
		td_buf_puts(b, "<p>In <code>");
		td_html_escape(b, path);
		td_buf_printf(b, "</code>, line %u, column %u:</p>\n", line, col);
		if (ours)
			show_location(b, path, line, col);
		free(path);
	}
	td_buf_puts(b, "<p class=\"dim\">This page updates itself once the file is "
		    "fixed.</p></main>\n");
	desk_close(b);
}

/* ---- the home page ---- */

struct tag_info {
	char *slug;
	size_t followers;     /* rows of the file that follow it */
	size_t active;        /* ... and have not left it: */
	struct td_digest_reader *readers;
	size_t cap;
};

static bool suppressed(const struct td_strv *keys, const char *email,
		       const char *scope)
{
	char *k = td_xasprintf("%s\n%s", email, scope);
	for (char *p = k; *p != '\n'; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	bool hit = keys->n && bsearch(&k, keys->v, keys->n, sizeof *keys->v, by_str);
	free(k);
	return hit;
}

static void home_last_run(struct td_desk *d, struct td_buf *b,
			  const struct td_subscriber_state *states)
{
	time_t slot = 0, sent_at = 0;
	for (size_t i = 0; i < d->subs.n; i++) {
		if (states[i].last_slot > slot)
			slot = states[i].last_slot;
		if (states[i].last_sent_at > sent_at)
			sent_at = states[i].last_sent_at;
	}
	/* The latest slot's outcome from the subscribers' state: a digest
	 * sent for a slot is sent after it, so last_sent_at >= slot; a skip
	 * leaves last_sent_at at an earlier send. */
	size_t sent = 0, skipped = 0;
	for (size_t i = 0; slot && i < d->subs.n; i++) {
		if (states[i].last_slot != slot)
			continue;
		if (states[i].last_sent_at >= slot)
			sent++;
		else
			skipped++;
	}
	char slot_s[64], sent_s[64];
	when(d, slot, slot_s, sizeof slot_s);
	when(d, sent_at, sent_s, sizeof sent_s);
	td_buf_puts(b, "<section id=\"last-run\"><h2>Last run</h2>\n");
	if (!slot)
		td_buf_puts(b, "<p>No digest has been sent or skipped yet.</p>\n");
	else
		td_buf_printf(b, "<p>Slot of %s: <strong>%zu sent</strong>, %zu skipped "
			      "(no new posts). Last message accepted: %s.</p>\n",
			      slot_s, sent, skipped, sent_s);
	td_buf_printf(b, "<p class=\"dim\">All time: %zu sent, %zu skipped.</p></section>\n",
		      td_store_delivery_count(d->st, "sent"),
		      td_store_delivery_count(d->st, "skipped"));
}

static void home_sources(struct td_desk *d, struct td_buf *b)
{
	td_buf_puts(b, "<section id=\"sources\"><h2>Sources</h2>\n<table><tr><th>Source</th>"
		    "<th>Type</th><th>Last success</th><th>Failures in a row</th>"
		    "<th>Last error</th></tr>\n");
	for (size_t i = 0; i < d->cfg->nsources; i++) {
		const struct td_source_config *src = &d->cfg->sources[i];
		struct td_source_state s;
		if (td_store_source_state(d->st, src->name, &s, NULL) != 0)
			continue;
		char ok[64];
		when(d, s.last_success, ok, sizeof ok);
		td_buf_printf(b, "<tr class=\"%s\"><td>", s.failures ? "bad" : "good");
		td_html_escape(b, src->name);
		td_buf_puts(b, "</td><td>");
		td_html_escape(b, src->type);
		td_buf_printf(b, "</td><td>%s</td><td>%d</td><td>", ok, s.failures);
		td_html_escape(b, s.last_error);
		td_buf_puts(b, "</td></tr>\n");
		free(s.last_error);
	}
	td_buf_puts(b, "</table></section>\n");
}

static void home_tag(struct td_desk *d, struct td_buf *b, const struct tag_info *t,
		     struct td_post_cache *cache)
{
	/* what some follower of the tag will get: the digests' own rule */
	struct td_store_post *w = NULL;
	size_t count = 0;
	td_digest_waiting(d->st, cache, t->slug, t->readers, t->active,
			  td_store_max_seq(d->st), &w, &count, NULL);
	char *name = td_store_tag_name(d->st, t->slug);
	td_buf_puts(b, "<tr><td><strong>");
	td_html_escape(b, name);
	td_buf_puts(b, "</strong><br><span class=\"dim\">");
	td_html_escape(b, t->slug);
	td_buf_printf(b, "</span></td><td>%zu", t->active);
	if (t->active != t->followers)
		td_buf_printf(b, " <span class=\"dim\">(%zu left)</span>",
			      t->followers - t->active);
	td_buf_printf(b, "</td><td class=\"waiting\">%zu</td><td><ul>", count);
	size_t listed = count < MAX_TITLES ? count : MAX_TITLES;
	for (size_t k = 0; k < listed; k++) {
		td_buf_puts(b, "<li><a href=\"");
		td_html_escape(b, w[k].url);
		td_buf_puts(b, "\" rel=\"noreferrer\" target=\"_blank\">");
		td_html_escape(b, w[k].title);
		td_buf_puts(b, "</a></li>");
	}
	if (count > listed)
		td_buf_printf(b, "<li class=\"dim\">and %zu more</li>", count - listed);
	td_buf_puts(b, "</ul></td><td><a href=\"/preview?tag=");
	td_url_escape(b, t->slug);
	td_buf_puts(b, "\">Preview as a sample reader</a></td></tr>\n");
	free(name);
	td_store_posts_free(w, count);
}

static void home(struct td_desk *d, struct td_http_resp *resp)
{
	if (!d->st) {
		error_page(d, resp, 503, "The store cannot be read", &d->store_err);
		return;
	}
	struct td_buf *b = &resp->body;
	const struct td_config *cfg = d->cfg;
	time_t now = time(NULL);
	struct td_schedule sched = { cfg->slot_wday, cfg->slot_hour, cfg->slot_minute,
				     cfg->timezone };
	char next_s[64], slot_s[64];
	when(d, td_schedule_next_slot(&sched, now), next_s, sizeof next_s);
	when(d, td_schedule_last_slot(&sched, now), slot_s, sizeof slot_s);

	struct td_err err = { 0, "" };
	if (td_store_begin_read(d->st, &err)) {
		error_page(d, resp, 503, "The store cannot be read", &err);
		return;
	}
	struct td_suppression *sup = NULL;
	size_t nsup = 0;
	struct td_strv keys = TD_STRV_INIT;
	size_t left_all = 0;
	if (td_store_suppressions(d->st, NULL, &sup, &nsup, &err) == 0) {
		for (size_t i = 0; i < nsup; i++) {
			td_strv_push_owned(&keys, td_xasprintf("%s\n%s", sup[i].email,
							       sup[i].scope));
			left_all += strcmp(sup[i].scope, "all") == 0;
		}
		td_store_suppressions_free(sup, nsup);
		if (keys.n > 1)
			qsort(keys.v, keys.n, sizeof *keys.v, by_str);
	}

	struct td_subscriber_state *states =
		td_xcalloc(d->subs.n ? d->subs.n : 1, sizeof *states);
	/* each subscriber's tags, but those they left */
	struct td_strv *followed = td_xcalloc(d->subs.n ? d->subs.n : 1, sizeof *followed);
	time_t first_since = now - (time_t)d->cfg->first_digest_days * 86400;
	struct tag_info *tags = NULL;
	size_t ntags = 0, tcap = 0;
	for (size_t i = 0; i < d->subs.n; i++) {
		const struct td_subscriber *sub = &d->subs.v[i];
		td_store_subscriber_state(d->st, sub->email, &states[i], NULL);
		bool gone = suppressed(&keys, sub->email, "all");
		for (size_t k = 0; k < sub->tags.n && !gone; k++)
			if (!suppressed(&keys, sub->email, sub->tags.v[k]))
				td_strv_push(&followed[i], sub->tags.v[k]);
		for (size_t k = 0; k < sub->tags.n; k++) {
			struct tag_info *t = NULL;
			for (size_t j = 0; j < ntags && !t; j++)
				if (strcmp(tags[j].slug, sub->tags.v[k]) == 0)
					t = &tags[j];
			if (!t) {
				if (ntags == tcap) {
					tcap = tcap ? 2 * tcap : 16;
					tags = td_xrealloc(tags, tcap * sizeof *tags);
				}
				t = &tags[ntags++];
				memset(t, 0, sizeof *t);
				t->slug = sub->tags.v[k];
			}
			t->followers++;
			if (!td_strv_contains(&followed[i], t->slug))
				continue;
			if (t->active == t->cap) {
				t->cap = t->cap ? 2 * t->cap : 8;
				t->readers = td_xrealloc(t->readers, t->cap * sizeof *t->readers);
			}
			t->readers[t->active++] = (struct td_digest_reader){
				states[i].watermark, &followed[i], !states[i].known, first_since };
		}
	}

	desk_open(d, resp, "Home");
	td_buf_puts(b, "<main id=\"main\">\n<h1>");
	td_html_escape(b, cfg->site_name);
	td_buf_printf(b, "</h1>\n<p id=\"next-send\">Next send: <strong>%s</strong> "
		      "<span class=\"dim\">(the current week's slot: %s)</span></p>\n",
		      next_s, slot_s);
	td_buf_printf(b, "<p id=\"counts\">%zu subscribers in the file", d->subs.n);
	if (d->subs.nbad)
		td_buf_printf(b, " (%zu bad rows skipped)", d->subs.nbad);
	td_buf_printf(b, "; %zu unsubscribed from everything; %zu posts in the store.</p>\n",
		      left_all, td_store_post_count(d->st));
	if (d->subs_err.code) {
		td_buf_puts(b, "<pre class=\"error\">");
		td_html_escape(b, d->subs_err.msg);
		td_buf_puts(b, "</pre>\n");
	}
	if (!d->composer) {
		td_buf_puts(b, "<p class=\"error\">The templates do not load: <code>");
		td_html_escape(b, d->composer_err.msg);
		td_buf_puts(b, "</code></p>\n");
	}

	td_buf_puts(b, "<section id=\"tags\"><h2>Tags: posts waiting for the next digest</h2>\n"
		    "<table><tr><th>Tag</th><th>Subscribers</th><th>Waiting</th>"
		    "<th>Posts</th><th></th></tr>\n");
	struct td_post_cache *cache = td_post_cache_new();
	for (size_t j = 0; j < ntags; j++)
		home_tag(d, b, &tags[j], cache);
	td_post_cache_free(cache);
	td_buf_puts(b, "</table></section>\n");

	home_last_run(d, b, states);
	home_sources(d, b);

	td_buf_puts(b, "<section id=\"subscribers\"><h2>Subscribers</h2>\n"
		    "<form method=\"get\" action=\"/preview\"><label>Preview for "
		    "<input type=\"email\" name=\"to\" required placeholder=\"reader@example.org\">"
		    "</label> <button type=\"submit\">Preview</button></form>\n<table>"
		    "<tr><th>Address</th><th>Name</th><th>Tags</th><th>Last digest</th></tr>\n");
	for (size_t i = 0; i < d->subs.n && i < MAX_LISTED; i++) {
		const struct td_subscriber *sub = &d->subs.v[i];
		char last[64];
		when(d, states[i].last_slot, last, sizeof last);
		td_buf_puts(b, "<tr><td><a href=\"/preview?to=");
		td_url_escape(b, sub->email);
		td_buf_puts(b, "\">");
		td_html_escape(b, sub->email);
		td_buf_puts(b, "</a>");
		if (suppressed(&keys, sub->email, "all"))
			td_buf_puts(b, " <span class=\"dim\">(unsubscribed)</span>");
		td_buf_puts(b, "</td><td>");
		td_html_escape(b, sub->name);
		td_buf_puts(b, "</td><td>");
		for (size_t k = 0; k < sub->tags.n; k++) {
			td_buf_puts(b, k ? ", " : "");
			td_html_escape(b, sub->tags.v[k]);
		}
		td_buf_printf(b, "</td><td>%s</td></tr>\n", last);
	}
	td_buf_puts(b, "</table>\n");
	if (d->subs.n > MAX_LISTED)
		td_buf_printf(b, "<p class=\"dim\">The first %d of %zu; preview anyone "
			      "with the form above.</p>\n", MAX_LISTED, d->subs.n);
	td_buf_puts(b, "</section></main>\n");
	desk_close(b);
	td_store_commit(d->st, NULL);
	td_strv_free(&keys);
	for (size_t i = 0; i < d->subs.n; i++)
		td_strv_free(&followed[i]);
	free(followed);
	free(states);
	for (size_t j = 0; j < ntags; j++)
		free(tags[j].readers);
	free(tags);
}

/* ---- previews ---- */

/* Who the preview is for: ?to=EMAIL (a row of the subscriber file) or
 * ?tag=TAG (the sample reader, in *sample, which the caller frees with
 * td_strv_free(&sample->tags)). query gets "to=..." or "tag=..." for
 * links. NULL, with resp filled, when there is no such reader. */
static const struct td_subscriber *pick(struct td_desk *d,
					const struct td_http_req *req,
					struct td_subscriber *sample,
					struct td_buf *query,
					struct td_http_resp *resp)
{
	memset(sample, 0, sizeof *sample);
	const char *to = td_http_arg(req, "to");
	const char *tag = td_http_arg(req, "tag");
	if (to && *to) {
		const struct td_subscriber *sub = td_subscribers_find(&d->subs, to);
		if (!sub) {
			struct td_err err;
			td_err_set(&err, EX_NOUSER, "%s is not in the subscriber file %s",
				   to, d->cfg->subscribers_path);
			error_page(d, resp, 404, "No such subscriber", &err);
			return NULL;
		}
		td_buf_puts(query, "to=");
		td_url_escape(query, sub->email);
		return sub;
	}
	char *slug = tag ? td_slugify(tag) : NULL;
	if (!slug || !*slug) {
		free(slug);
		struct td_err err;
		td_err_set(&err, EX_USAGE, "say whose digest: ?to=EMAIL or ?tag=TAG");
		error_page(d, resp, 400, "Whose digest?", &err);
		return NULL;
	}
	sample->email = (char *)SAMPLE_EMAIL;
	sample->name = (char *)SAMPLE_NAME;
	td_strv_push_owned(&sample->tags, slug);
	td_buf_puts(query, "tag=");
	td_url_escape(query, slug);
	return sample;
}

/* sub's digest, or with test_to its test copy for that address. */
static int compose(struct td_desk *d, const struct td_subscriber *sub,
		   const char *test_to, struct td_composed *m,
		   struct td_http_resp *resp)
{
	if (!d->st) {
		error_page(d, resp, 503, "The store cannot be read", &d->store_err);
		return -1;
	}
	if (!d->composer) {
		error_page(d, resp, 500, "Template error", &d->composer_err);
		return -1;
	}
	struct td_err err = { 0, "" };
	int rc = test_to ? td_compose_test(d->composer, sub, test_to, time(NULL), m, &err) :
			   td_compose(d->composer, sub, time(NULL), m, &err);
	if (rc != 0) {
		error_page(d, resp, 500, "The digest could not be rendered", &err);
		return -1;
	}
	return 0;
}

/* One preview request's reader and composed message. */
struct preview {
	struct td_subscriber sample;   /* the tag's sample reader, when asked */
	struct td_buf query;           /* "to=..." or "tag=..." for links */
	const struct td_subscriber *sub;
	struct td_composed m;
};

/* Picks the reader and composes their message (test_to: its test copy
 * for that address). -1, with resp filled and nothing left to free, when
 * either fails; else preview_close() later. */
static int preview_open(struct td_desk *d, const struct td_http_req *req,
			const char *test_to, struct td_http_resp *resp,
			struct preview *p)
{
	td_buf_init(&p->query, TD_BUF_NOLIMIT);
	p->sub = pick(d, req, &p->sample, &p->query, resp);
	if (p->sub && compose(d, p->sub, test_to, &p->m, resp) == 0)
		return 0;
	td_strv_free(&p->sample.tags);
	td_buf_free(&p->query);
	return -1;
}

static void preview_close(struct preview *p)
{
	td_composed_free(&p->m);
	td_strv_free(&p->sample.tags);
	td_buf_free(&p->query);
}

static void preview_page(struct td_desk *d, const struct td_http_req *req,
			 struct td_http_resp *resp)
{
	struct preview p;
	if (preview_open(d, req, NULL, resp, &p) != 0)
		return;
	const struct td_subscriber *sub = p.sub;
	struct td_buf *b = &resp->body;
	const char *qs = td_buf_cstr(&p.query);
	desk_open(d, resp, sub == &p.sample ? "Sample preview" : sub->email);

	/* outside #main: a live update must not wipe a half-typed address */
	td_buf_puts(b, "<section id=\"test-send\"><form method=\"post\" action=\"/test-send\">"
		    "<input type=\"hidden\" name=\"csrf\" value=\"");
	td_buf_puts(b, d->csrf);
	td_buf_printf(b, "\"><input type=\"hidden\" name=\"%s\" value=\"",
		      sub == &p.sample ? "tag" : "to");
	td_html_escape(b, sub == &p.sample ? p.sample.tags.v[0] : sub->email);
	td_buf_puts(b, "\"><label>Send this as a test to <input type=\"email\" name=\"address\" "
		    "id=\"address\" required placeholder=\"you@example.org\"></label> "
		    "<button type=\"submit\">Send test</button> <span class=\"dim\">"
		    "(subject marked [TEST]; nothing is recorded)</span></form></section>\n");

	td_buf_puts(b, "<main id=\"main\">\n<h1>");
	if (sub == &p.sample) {
		td_buf_puts(b, "A sample reader of &ldquo;");
		td_html_escape(b, p.m.digest.followed.n ? p.m.digest.followed.v[0] :
							p.sample.tags.v[0]);
		td_buf_puts(b, "&rdquo;");
	} else {
		td_html_escape(b, sub->email);
		if (*sub->name) {
			td_buf_puts(b, " <span class=\"dim\">(");
			td_html_escape(b, sub->name);
			td_buf_puts(b, ")</span>");
		}
	}
	td_buf_puts(b, "</h1>\n<p class=\"dim\">Exactly what this reader would get now; "
		    "nothing is sent or recorded.</p>\n<dl class=\"facts\"><dt>Subject</dt><dd id=\"subject\">");
	td_html_escape(b, p.m.parts.subject);
	td_buf_puts(b, "</dd><dt>Follows</dt><dd>");
	for (size_t i = 0; i < p.m.digest.followed.n; i++) {
		td_buf_puts(b, i ? ", " : "");
		td_html_escape(b, p.m.digest.followed.v[i]);
	}
	td_buf_printf(b, "</dd><dt>Posts</dt><dd id=\"post-count\">%zu shown of %zu%s</dd>"
		      "<dt>Size</dt><dd id=\"size\" data-bytes=\"%zu\">%zu bytes (%.1f KB); "
		      "HTML part %zu bytes",
		      p.m.digest.shown, p.m.digest.total, p.m.digest.first ? " (first digest)" : "",
		      p.m.message.len, p.m.message.len, (double)p.m.message.len / 1024.0,
		      strlen(p.m.parts.html));
	td_buf_puts(b, "</dd></dl>\n");
	if (p.m.message.len > GMAIL_CLIP || strlen(p.m.parts.html) > GMAIL_CLIP)
		td_buf_printf(b, "<p id=\"size-warning\" class=\"warning\">Larger than %u KB: "
			      "Gmail clips this message and shows &ldquo;[Message clipped]"
			      "&rdquo; with a link to the rest. Lower digest.max_posts or "
			      "excerpt_chars.</p>\n", GMAIL_CLIP / 1024);
	if (p.m.digest.suppressed)
		td_buf_puts(b, "<p class=\"warning\" id=\"empty\">Unsubscribed from everything: "
			    "`send` sends nothing to this reader.</p>\n");
	else if (p.m.digest.total == 0)
		td_buf_puts(b, "<p class=\"warning\" id=\"empty\">No new posts in these tags: "
			    "`send` would skip this digest.</p>\n");

	td_buf_printf(b, "<nav class=\"parts\"><a href=\"#html-part\">HTML</a> "
		      "<a href=\"#text-part\">Text</a> <a href=\"#headers\">Headers</a> "
		      "<a href=\"/preview/raw?%s\">Raw message</a></nav>\n", qs);
	td_buf_printf(b, "<section id=\"html-part\"><h2>HTML part</h2>"
		      "<iframe sandbox title=\"HTML part\" src=\"/preview/html?%s&amp;v=%s\">"
		      "</iframe></section>\n", qs, d->version);
	td_buf_puts(b, "<section id=\"text-part\"><h2>Text part</h2><pre id=\"text\">");
	td_html_escape(b, p.m.parts.text);
	td_buf_puts(b, "</pre></section>\n<section id=\"headers\"><h2>Headers</h2>"
		    "<pre id=\"header-block\">");
	const char *msg = td_buf_cstr(&p.m.message);
	const char *end = strstr(msg, "\r\n\r\n");
	char *head = td_xstrndup(msg, end ? (size_t)(end - msg) : strlen(msg));
	for (char *r = head; (r = strchr(r, '\r')) != NULL;)
		memmove(r, r + 1, strlen(r));
	td_html_escape(b, head);
	free(head);
	td_buf_puts(b, "</pre></section>\n<section id=\"raw\"><h2>Raw message</h2>"
		    "<details><summary>Show the whole message as it would be sent</summary>"
		    "<pre id=\"raw-message\">");
	td_html_escape(b, msg);
	td_buf_puts(b, "</pre></details></section>\n</main>\n");
	desk_close(b);
	preview_close(&p);
}

/* /preview/html, /preview/text, /preview/raw: one part on its own. */
static void preview_part(struct td_desk *d, const struct td_http_req *req,
			 struct td_http_resp *resp, char which)
{
	struct preview p;
	if (preview_open(d, req, NULL, resp, &p) != 0)
		return;
	td_buf_reset(&resp->body);
	if (which == 'h') {
		resp->content_type = "text/html; charset=utf-8";
		resp->csp = csp_part;
		resp->frame_options = "SAMEORIGIN";
		td_buf_puts(&resp->body, p.m.parts.html);
	} else {
		resp->content_type = "text/plain; charset=utf-8";
		resp->csp = "default-src 'none'; frame-ancestors 'none'";
		if (which == 't')
			td_buf_puts(&resp->body, p.m.parts.text);
		else
			td_buf_append(&resp->body, p.m.message.data, p.m.message.len);
	}
	preview_close(&p);
}

/* ---- send a test ---- */

static bool const_eq(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned char diff = (unsigned char)(la != lb);
	for (size_t i = 0; i < la && i < lb; i++)
		diff |= (unsigned char)(a[i] ^ b[i]);
	return diff == 0;
}

/* url is origin itself or a path under it. */
static bool under_origin(const char *url, const char *origin)
{
	size_t n = strlen(origin);
	return strncasecmp(url, origin, n) == 0 && (url[n] == '\0' || url[n] == '/');
}

/* A POST that acts must come from a page of this desk: it carries the
 * process's token, and the browser says it is same-origin (Sec-Fetch-Site
 * when sent, and an Origin or, failing that, a Referer of ours). Host was
 * checked against our loopback names already. */
static bool same_origin_post(const struct td_desk *d, const struct td_http_req *req)
{
	const char *token = td_http_arg(req, "csrf");
	if (!token || !const_eq(token, d->csrf) || !req->host)
		return false;
	if (req->sec_fetch_site && strcmp(req->sec_fetch_site, "same-origin") != 0 &&
	    strcmp(req->sec_fetch_site, "none") != 0)
		return false;
	char *origin = td_xasprintf("http://%s", req->host);
	bool ok;
	if (req->origin)
		ok = strcasecmp(req->origin, origin) == 0;
	else
		ok = req->referer && under_origin(req->referer, origin);
	free(origin);
	return ok;
}

static void test_send(struct td_desk *d, const struct td_http_req *req,
		      struct td_http_resp *resp)
{
	if (!same_origin_post(d, req)) {
		td_http_simple(resp, 403, "Refused",
			       "A test send must come from the preview page of this "
			       "desk; this request did not.");
		return;
	}
	const char *address = td_http_arg(req, "address");
	char why[128] = "missing";
	if (!address || !td_address_valid(address, why, sizeof why)) {
		struct td_err err;
		td_err_set(&err, EX_DATAERR, "test address '%s': %s",
			   address ? address : "", why);
		error_page(d, resp, 400, "Not a usable address", &err);
		return;
	}
	struct preview p;
	if (preview_open(d, req, address, resp, &p) != 0)
		return;
	const struct td_subscriber *sub = p.sub;
	struct td_err err = { 0, "" };
	char reply[512] = "";
	/* the transport only: no delivery row, no watermark */
	int rc = td_send_one(d->cfg, address, p.m.message.data, p.m.message.len,
			     reply, sizeof reply, &err);
	if (rc) {
		td_log_warnx("serve: test send to %s: %s", address, err.msg);
		error_page(d, resp, 502, "The test was not sent", &err);
	} else {
		td_log_info("serve: test of %s's digest sent to %s: %s", sub->email, address,
			    reply);
		struct td_buf *b = &resp->body;
		td_buf_reset(b);
		resp->status = 200;
		desk_open(d, resp, "Test sent");
		td_buf_puts(b, "<main id=\"main\"><h1>Test sent</h1>\n<p id=\"sent\">The digest "
			    "was handed to the transport for <strong>");
		td_html_escape(b, address);
		td_buf_puts(b, "</strong>: <code>");
		td_html_escape(b, reply);
		td_buf_printf(b, "</code></p>\n<p><a href=\"/preview?%s\">Back to the "
			      "preview</a></p></main>\n", td_buf_cstr(&p.query));
		desk_close(b);
	}
	preview_close(&p);
}

/* ---- static files ---- */

static const char desk_css[] =
	"body{font:15px/1.45 system-ui,sans-serif;margin:0;color:#1f2937;background:#f9fafb}"
	".bar{background:#1a3d6d;color:#fff;padding:.6em 1.2em}.bar a{color:#fff;font-weight:bold;"
	"text-decoration:none}.bar .dim{color:#cbd5e1;margin-left:.6em}"
	"#live::before{content:'\\25CF ';color:#34d399}#live.off::before{color:#f87171}"
	"main,#test-send{max-width:72em;margin:0 auto;padding:.5em 1.2em}"
	"h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.6em}"
	"table{border-collapse:collapse;width:100%;background:#fff}"
	"th,td{text-align:left;vertical-align:top;border-bottom:1px solid #e5e7eb;padding:.35em .5em}"
	"td ul{margin:0;padding-left:1.1em}.dim{color:#6b7280}"
	".error{color:#b91c1c}.warning{background:#fef3c7;border-left:4px solid #d97706;"
	"padding:.5em .8em}tr.bad td{color:#b91c1c}"
	"pre{background:#fff;border:1px solid #e5e7eb;padding:.6em;overflow:auto;"
	"white-space:pre-wrap;word-break:break-word;max-height:40em}"
	"pre.source mark{background:#fee2e2}"
	"iframe{width:100%;height:70vh;border:1px solid #d1d5db;background:#fff}"
	"dl.facts{display:grid;grid-template-columns:max-content auto;gap:.2em 1em}"
	"dl.facts dt{font-weight:bold}dl.facts dd{margin:0}"
	"#test-send form{background:#eef2ff;padding:.6em .8em;border-radius:4px}\n";

/* Polls /version; when the files behind the page changed, fetches the
 * page again and swaps #main in place, so the iframe, text and headers
 * follow an editor's edits while the test-send form keeps its input. */
static const char desk_js[] =
	"'use strict';\n"
	"(() => {\n"
	"  const meta = document.querySelector('meta[name=\"td-version\"]');\n"
	"  const live = document.getElementById('live');\n"
	"  if (!meta) return;\n"
	"  let current = meta.content;\n"
	"  async function refresh() {\n"
	"    const r = await fetch(location.href, { cache: 'no-store' });\n"
	"    const doc = new DOMParser().parseFromString(await r.text(), 'text/html');\n"
	"    const fresh = doc.getElementById('main');\n"
	"    const old = document.getElementById('main');\n"
	"    if (!fresh || !old) { location.reload(); return; }\n"
	"    old.replaceWith(document.adoptNode(fresh));\n"
	"    document.title = doc.title;\n"
	"    const m = doc.querySelector('meta[name=\"td-version\"]');\n"
	"    if (m) { current = m.content; meta.content = m.content; }\n"
	"  }\n"
	"  async function poll() {\n"
	"    try {\n"
	"      const r = await fetch('/version', { cache: 'no-store' });\n"
	"      if (r.ok) {\n"
	"        const v = (await r.text()).trim();\n"
	"        if (live) live.classList.remove('off');\n"
	"        if (v !== current) { current = v; await refresh(); }\n"
	"      }\n"
	"    } catch (e) {\n"
	"      if (live) live.classList.add('off');\n"
	"    }\n"
	"    setTimeout(poll, 500);\n"
	"  }\n"
	"  setTimeout(poll, 500);\n"
	"})();\n";

static void static_file(struct td_http_resp *resp, const char *type, const char *body)
{
	resp->content_type = type;
	resp->csp = "default-src 'none'";
	td_buf_puts(&resp->body, body);
}

/* ---- routing ---- */

bool td_desk_handle(struct td_desk *d, const struct td_http_req *req,
		    struct td_http_resp *resp)
{
	const char *p = req->path;
	bool post_route = strcmp(p, "/test-send") == 0;
	bool get_route = strcmp(p, "/") == 0 || strcmp(p, "/preview") == 0 ||
			 strcmp(p, "/preview/html") == 0 || strcmp(p, "/preview/text") == 0 ||
			 strcmp(p, "/preview/raw") == 0 || strcmp(p, "/version") == 0 ||
			 strcmp(p, "/static/desk.css") == 0 || strcmp(p, "/static/desk.js") == 0;
	if (!post_route && !get_route)
		return false;
	if (post_route != req->post) {
		td_http_simple(resp, 405, "Method not allowed",
			       post_route ? "This address takes a POST from the preview page." :
					    "This page is read with GET.");
		return true;
	}
	if (strcmp(p, "/static/desk.css") == 0) {
		static_file(resp, "text/css; charset=utf-8", desk_css);
		return true;
	}
	if (strcmp(p, "/static/desk.js") == 0) {
		static_file(resp, "text/javascript; charset=utf-8", desk_js);
		return true;
	}
	refresh(d);
	if (strcmp(p, "/version") == 0) {
		resp->content_type = "text/plain; charset=utf-8";
		resp->csp = "default-src 'none'";
		td_buf_printf(&resp->body, "%s\n", d->version);
	} else if (strcmp(p, "/") == 0) {
		home(d, resp);
	} else if (strcmp(p, "/preview") == 0) {
		preview_page(d, req, resp);
	} else if (strcmp(p, "/preview/html") == 0) {
		preview_part(d, req, resp, 'h');
	} else if (strcmp(p, "/preview/text") == 0) {
		preview_part(d, req, resp, 't');
	} else if (strcmp(p, "/preview/raw") == 0) {
		preview_part(d, req, resp, 'r');
	} else {
		test_send(d, req, resp);
	}
	return true;
}
