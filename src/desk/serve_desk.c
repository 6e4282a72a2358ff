/*
 * serve_desk.c: the editors' desk of `tagdigest serve` (see serve.h).
 *
 * Pages: a home page (tags with the posts waiting, who is due now and
 * next, subscriber counts, the last digests, source health), "This week"
 * (both from the send engine's dry run, serve_week.c), a preview of what one
 * subscriber, or a sample reader of one tag, would get now (HTML part in
 * a sandboxed frame, text part, headers, raw message, size), and "send a
 * test"; a reader search, a page per reader and the run history (their
 * own block below). The store is opened READONLY, and a preview goes through the very
 * composer `send` uses (compose.h), so it is exactly what would go out; a
 * test send is the composer's test copy, handed to the transport as
 * `send` would (td_send_one).
 *
 * Live reload: every request first looks at the files a preview depends
 * on (templates, posts folders, the subscriber file, the store). Changed
 * templates rebuild the composer (templates are parsed once per
 * composer); changed posts run `tagdigest ingest`'s own entry point for
 * the posts folders (TD_INGEST_POSTS), under the run lock (td_lock_open_store;
 * busy: try again on a later request). The page polls /version, a hash of it all, and swaps in a
 * fresh copy of itself when it changes.
 *
 * The pages are Mustache templates in <templates_dir>/desk/, rendered with
 * the digest's own engine (template.h), so editors restyle the desk as
 * they restyle the digest; they are reloaded when they change. Everything
 * from posts, subscribers, config and requests reaches a page through
 * {{ }}, which HTML-escapes it; the digest's own HTML is shown only inside
 * a sandboxed frame whose response carries a CSP without scripts.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

#include "serve_impl.h"
#include "tagdigest/core/address.h"
#include "tagdigest/compose/compose.h"
#include "tagdigest/deliver/deliver.h"
#include "tagdigest/compose/digest.h"
#include "tagdigest/sources/ingest.h"
#include "tagdigest/store/bounces.h"
#include "tagdigest/store/lock.h"
#include "tagdigest/core/log.h"
#include "tagdigest/schedule/readers.h"
#include "tagdigest/schedule/schedule.h"
#include "tagdigest/sources/slug.h"
#include "tagdigest/store/runs.h"
#include "tagdigest/store/store.h"
#include "tagdigest/schedule/subscribers.h"
#include "tagdigest/compose/template.h"
#include "tagdigest/core/util.h"

/* The sample reader: no history, so a first digest of one tag. The
 * .invalid domain (RFC 2606) can never belong to a real subscriber. */
#define SAMPLE_EMAIL "sample.reader@example.invalid"
#define SAMPLE_NAME "Sample Reader"
#define GMAIL_CLIP TD_RENDER_CLIP_LIMIT /* Gmail clips a message above this */
#define MAX_LISTED 200              /* subscribers listed on the home page */
#define MAX_TITLES 10               /* waiting posts named per tag */
#define MAX_DIR_ENTRIES 100000      /* a fingerprint looks at no more */
#define REFRESH_EVERY 0.25          /* seconds between looks at the files */
#define WHEN_FMT "%a %d %b %Y %H:%M %Z"
#define MAX_CSS (1u << 20)          /* desk.css, at most */
#define WEEK_FRESH 60               /* seconds a "This week" stays good while
				     * nothing changes: slots pass with time */
#define WEEK_MIN_AGE 5              /* ... and at least, even when the store
				     * changes: a send changes it with every
				     * message, and a dry run over 5,000
				     * readers takes about a second */

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
	struct td_desk_options opt;          /* a copy; strings borrowed (serve.h) */
	const struct td_compose_options *co; /* &opt.deliver.compose */
	size_t nposts;                       /* sources the desk ingests */

	struct td_store *st;                 /* READONLY; NULL until it exists */
	struct td_err store_err;

	struct td_template_set *pages;       /* the desk's own; NULL while broken */
	char *css;                           /* desk/desk.css, with the pages */
	struct td_err pages_err;
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

	struct td_week *week;                /* "This week", for week_version */
	struct td_err week_err;
	char week_version[17];
	double week_at;

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
	char *partials = td_xasprintf("%s/partials", d->co->render.templates_dir);
	char *desk = td_xasprintf("%s/desk", d->co->render.templates_dir);
	fp_dir(&h, d->co->render.templates_dir);
	fp_dir(&h, partials);
	fp_dir(&h, desk);
	free(partials);
	free(desk);
	return h;
}

static uint64_t fp_posts(const struct td_desk *d)
{
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < d->opt.ingest.nsources; i++)
		if (td_ingest_in_scope(&d->opt.ingest.sources[i], TD_INGEST_POSTS))
			fp_dir(&h, d->opt.ingest.sources[i].path);
	return h;
}

static uint64_t fp_one(const char *path)
{
	uint64_t h = 1469598103934665603ull;
	fp_file(&h, path);
	return h;
}

/* The desk's pages, from <templates_dir>/desk, checked as the digest's
 * templates are: a missing page or partial is an error shown on every
 * page until it is fixed (they are loaded again when they change).
 * week.mustache is not among them: a folder copied before "This week"
 * keeps its other pages, and /week says what to copy. */
static const char *const desk_pages[] = { "page", "home", "preview", "error", "sent",
					   "readers", "reader", "history" };

static void load_pages(struct td_desk *d)
{
	td_template_set_free(d->pages);
	free(d->css);
	d->css = NULL;
	d->pages = td_template_set_new();
	d->pages_err.code = 0;
	d->pages_err.msg[0] = '\0';
	char *dir = td_xasprintf("%s/desk", d->co->render.templates_dir);
	int rc = td_template_set_load_dir(d->pages, dir, &d->pages_err);
	for (size_t i = 0; !rc && i < sizeof desk_pages / sizeof *desk_pages; i++)
		if (!td_template_set_get(d->pages, desk_pages[i]))
			rc = td_err_set(&d->pages_err, EX_NOINPUT, "templates: %s/%s.mustache: "
					"missing (the desk's pages; tagdigest ships them "
					"in templates/desk/)", dir, desk_pages[i]);
	if (!rc)
		rc = td_template_set_check(d->pages, &d->pages_err);
	char *css = td_xasprintf("%s/desk.css", dir);
	size_t len;
	if (!rc && td_read_file(css, MAX_CSS, &d->css, &len) != 0)
		rc = td_err_set(&d->pages_err, EX_NOINPUT, "templates: %s: %s", css,
				strerror(errno));
	free(css);
	free(dir);
	if (rc) {
		td_log_warnx("serve: %s", d->pages_err.msg);
		td_template_set_free(d->pages);
		d->pages = NULL;
		free(d->css);
		d->css = NULL;
	}
}

/* ---- keeping up with the files ---- */

/* `tagdigest ingest` for the posts folders, under the run lock. Returns
 * EX_TEMPFAIL when a run holds the lock: the next request tries again. */
static int ingest_posts(struct td_desk *d)
{
	struct td_err err = { 0, "" };
	int fd = -1;
	struct td_store *st = NULL;
	int rc = td_lock_open_store(d->opt.store_path, TD_LOCK_INGEST, &st, &fd, &err);
	if (rc == EX_TEMPFAIL) {
		td_log_debug("serve: posts changed; ingest later: %s", err.msg);
		return rc;
	}
	struct td_ingest_summary sum = { 0 };
	if (!rc)
		rc = td_ingest(&d->opt.ingest, st, TD_INGEST_POSTS, time(NULL), &sum, &err);
	td_lock_close_store(st, fd);
	if (rc)
		td_log_warnx("serve: ingest of posts: %s", err.msg);
	else
		td_log_info("serve: posts ingested: %zu read, %zu new, %zu updated",
			    sum.read, sum.added, sum.updated);
	td_ingest_summary_free(&sum);
	return rc;
}

static void refresh(struct td_desk *d)
{
	double now = td_mono_now();
	if (d->last_refresh > 0 && now - d->last_refresh < REFRESH_EVERY)
		return;
	d->last_refresh = now;

	/* posts first: what they write to the store is part of the version */
	if (d->nposts) {
		uint64_t fp = fp_posts(d);
		if ((!d->posts_known || fp != d->posts_fp) && ingest_posts(d) != EX_TEMPFAIL) {
			/* a failure is logged once per change, not per request */
			d->posts_fp = fp;
			d->posts_known = true;
		}
	}
	if (!d->st && td_store_open(d->opt.store_path, TD_STORE_READONLY, &d->st,
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
		if (td_composer_new(d->co, d->st, &d->composer, &d->composer_err) != 0)
			d->composer = NULL;
		d->composer_st = d->st;
		if (!d->tpl_known || tfp != d->tpl_fp)
			load_pages(d);
		d->tpl_fp = tfp;
		d->tpl_known = true;
	}

	/* the store's files move with every ingest, send and unsubscribe */
	uint64_t h = 1469598103934665603ull;
	if (td_store_is_url(d->opt.store_path)) {
		uint64_t mark = d->st ? td_store_write_mark(d->st) : 0;
		fp_add(&h, &mark, sizeof mark);
	} else {
		char *wal = td_xasprintf("%s-wal", d->opt.store_path);
		fp_file(&h, d->opt.store_path);
		fp_file(&h, wal);
		free(wal);
	}

	/* the readers as `send` walks them: the roster (sign-ups, readers'
	 * own schedules) moves with the store, the file's new rows with it */
	uint64_t sfp = fp_one(d->opt.subscribers_path);
	uint64_t rfp = h;
	fp_add(&rfp, &sfp, sizeof sfp);
	if (!d->subs_known || rfp != d->subs_fp) {
		td_subscribers_free(&d->subs);
		struct td_err err = { 0, "" };
		if (!d->st)
			td_err_set(&d->subs_err, d->store_err.code, "%s", d->store_err.msg);
		else if (td_readers_load(d->st, d->opt.subscribers_path, &d->subs,
					 &d->subs_err, &err))
			td_err_set(&d->subs_err, err.code, "%s", err.msg);
		d->subs_fp = rfp;
		d->subs_known = d->st != NULL;
	}
	fp_add(&h, &tfp, sizeof tfp);
	fp_add(&h, &sfp, sizeof sfp);
	snprintf(d->version, sizeof d->version, "%016llx", (unsigned long long)h);
}

int td_desk_new(const struct td_desk_options *opt, struct td_desk **out,
		struct td_err *err)
{
	struct td_desk *d = td_xcalloc(1, sizeof *d);
	d->opt = *opt;
	d->co = &d->opt.deliver.compose;
	/* feeds are fetched by `ingest`/`run`, not on every keystroke */
	for (size_t i = 0; i < opt->ingest.nsources; i++)
		d->nposts += td_ingest_in_scope(&opt->ingest.sources[i], TD_INGEST_POSTS);

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
	td_template_set_free(d->pages);
	free(d->css);
	td_store_close(d->st);
	td_subscribers_free(&d->subs);
	td_week_free(d->week);
	free(d);
}

/* ---- pages: templates/desk/NAME.mustache ---- */

/* Renders the page `name` with ctx, which it frees. Every value a
 * template shows goes through Mustache's {{ }}, which HTML-escapes it. */
static void render_page(struct td_desk *d, struct td_http_resp *resp,
			const char *name, const char *title, struct td_value *ctx)
{
	/* a page made from older data says so (week_due), so the live
	 * reload asks again */
	if (!td_value_map_get(ctx, "version"))
		td_value_map_set_str(ctx, "version", d->version);
	td_value_map_set_str(ctx, "site_name", d->co->render.site_name);
	td_value_map_set_str(ctx, "title", title);
	resp->content_type = "text/html; charset=utf-8";
	resp->csp = csp_desk;
	td_buf_reset(&resp->body);
	struct td_err err = { 0, "" };
	int rc;
	if (d->pages) {
		rc = td_template_render(td_template_set_get(d->pages, name), d->pages, ctx,
					true, &resp->body, &err);
	} else {
		err = d->pages_err;
		rc = EX_NOINPUT;
	}
	td_value_free(ctx);
	if (rc) {
		/* the plain page of serve.c: it needs no template */
		td_http_simple(resp, 500, "The desk's templates do not work", err.msg);
		resp->csp = csp_desk;
	}
}

static void when(const struct td_desk *d, time_t t, char *out, size_t n)
{
	if (!t)
		snprintf(out, n, "never");
	else
		td_tz_format(d->co->render.tz, t, WHEN_FMT, out, n);
}

static void set_when(const struct td_desk *d, struct td_value *map, const char *key,
		     time_t t)
{
	char s[64];
	when(d, t, s, sizeof s);
	td_value_map_set_str(map, key, s);
}

/* Line `line` of a template file with a caret under `col`, and two lines
 * of context around it, so an editor sees the mistake where it is. NULL
 * when the file cannot be read. */
static struct td_value *source_lines(const char *path, unsigned line, unsigned col)
{
	char *src = NULL;
	size_t len = 0;
	if (line == 0 || td_read_file(path, 1u << 20, &src, &len) != 0)
		return NULL;
	struct td_value *lines = td_value_list();
	unsigned n = 1;
	const char *p = src;
	while (*p && n <= line + 2) {
		const char *nl = strchr(p, '\n');
		size_t l = nl ? (size_t)(nl - p) : strlen(p);
		if (n + 3 > line) {
			struct td_value *v = td_value_list_push(lines, td_value_map());
			td_value_map_set(v, "number", td_value_string_owned(td_xasprintf("%5u", n)));
			td_value_map_set(v, "text", td_value_string_owned(td_xstrndup(p, l)));
			td_value_map_set_bool(v, "here", n == line);
			if (n == line) {
				struct td_buf caret = TD_BUF_INIT;
				td_buf_puts(&caret, "        ");
				for (unsigned c = 1; c < col && c < 500; c++)
					td_buf_putc(&caret, ' ');
				td_value_map_set(v, "caret", td_value_string_owned(td_buf_steal(&caret)));
			}
		}
		if (!nl)
			break;
		p = nl + 1;
		n++;
	}
	free(src);
	return lines;
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
	resp->status = status;
	struct td_value *ctx = td_value_map();
	td_value_map_set_str(ctx, "message", err->msg);
	char *path;
	unsigned line, col;
	size_t dl = strlen(d->co->render.templates_dir);
	if (find_location(err->msg, &path, &line, &col)) {
		/* only a template's own lines are ever shown */
		bool ours = strncmp(path, d->co->render.templates_dir, dl) == 0 &&
			    path[dl] == '/' && !strstr(path, "/../");
		struct td_value *loc = td_value_map_set(ctx, "location", td_value_map());
		td_value_map_set_str(loc, "path", path);
		td_value_map_set_int(loc, "line", line);
		td_value_map_set_int(loc, "column", col);
		struct td_value *lines = ours ? source_lines(path, line, col) : NULL;
		td_value_map_set_bool(loc, "has_lines", lines != NULL);
		if (lines)
			td_value_map_set(loc, "lines", lines);
		free(path);
	}
	render_page(d, resp, "error", title, ctx);
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

static void home_last_run(struct td_desk *d, struct td_value *ctx,
			  const struct td_subscriber_state *states)
{
	time_t slot = 0, sent_at = 0;
	for (size_t i = 0; i < d->subs.n; i++) {
		/* a clean start (store/start.h) is not a run's digest */
		if (states[i].started_last)
			continue;
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
		if (states[i].last_slot != slot || states[i].started_last)
			continue;
		if (states[i].last_sent_at >= slot)
			sent++;
		else
			skipped++;
	}
	if (slot) {
		struct td_value *run = td_value_map_set(ctx, "last_run", td_value_map());
		set_when(d, run, "slot", slot);
		set_when(d, run, "sent_at", sent_at);
		td_value_map_set_int(run, "sent", (long long)sent);
		td_value_map_set_int(run, "skipped", (long long)skipped);
	}
	td_value_map_set_int(ctx, "all_sent", (long long)td_store_delivery_count(d->st, "sent"));
	td_value_map_set_int(ctx, "all_skipped",
			     (long long)td_store_delivery_count(d->st, "skipped"));
}

static void home_sources(struct td_desk *d, struct td_value *ctx)
{
	struct td_value *list = td_value_map_set(ctx, "sources", td_value_list());
	for (size_t i = 0; i < d->opt.ingest.nsources; i++) {
		const struct td_source_config *src = &d->opt.ingest.sources[i];
		struct td_source_state s;
		if (td_store_source_state(d->st, src->name, &s, NULL) != 0)
			continue;
		struct td_value *v = td_value_list_push(list, td_value_map());
		td_value_map_set_str(v, "name", src->name);
		td_value_map_set_str(v, "type", src->type);
		set_when(d, v, "last_success", s.last_success);
		td_value_map_set_int(v, "failures", s.failures);
		/* the last error with its time; over once the source works
		 * again (status.c says the same) */
		if (s.last_error[0]) {
			struct td_value *e = td_value_map_set(v, "last_error", td_value_map());
			td_value_map_set_str(e, "text", s.last_error);
			set_when(d, e, "at", s.last_error_at);
			td_value_map_set_bool(e, "over", s.failures == 0);
			if (s.failures == 0 && s.ok_since)
				set_when(d, e, "ok_since", s.ok_since);
		}
		free(s.last_error);
	}
}

/* "?tag=" / "?to=" values: percent-encoded, so safe in a query string */
static struct td_value *url_value(const char *s)
{
	struct td_buf b = TD_BUF_INIT;
	td_url_escape(&b, s);
	return td_value_string_owned(td_buf_steal(&b));
}

static void home_tag(struct td_desk *d, struct td_value *list, const struct tag_info *t,
		     struct td_post_cache *cache)
{
	/* what some follower of the tag will get: the digests' own rule */
	struct td_store_post *w = NULL;
	size_t count = 0;
	td_digest_waiting(d->st, cache, t->slug, t->readers, t->active,
			  td_store_max_seq(d->st), &w, &count, NULL);
	struct td_value *v = td_value_list_push(list, td_value_map());
	char *name = td_store_tag_name(d->st, t->slug);
	td_value_map_set_str(v, "name", name ? name : "");
	free(name);
	td_value_map_set_str(v, "slug", t->slug);
	td_value_map_set(v, "slug_query", url_value(t->slug));
	td_value_map_set_int(v, "active", (long long)t->active);
	td_value_map_set_int(v, "left", (long long)(t->followers - t->active));
	td_value_map_set_int(v, "waiting", (long long)count);
	size_t listed = count < MAX_TITLES ? count : MAX_TITLES;
	struct td_value *posts = td_value_map_set(v, "posts", td_value_list());
	for (size_t k = 0; k < listed; k++) {
		struct td_value *pv = td_value_list_push(posts, td_value_map());
		td_value_map_set_str(pv, "url", w[k].url);
		td_value_map_set_str(pv, "title", w[k].title);
	}
	td_value_map_set_int(v, "more", (long long)(count - listed));
	td_store_posts_free(w, count);
}

/* items joined with ", " */
static struct td_value *joined(const struct td_strv *items)
{
	struct td_buf b = TD_BUF_INIT;
	for (size_t i = 0; i < items->n; i++) {
		td_buf_puts(&b, i ? ", " : "");
		td_buf_puts(&b, items->v[i]);
	}
	return td_value_string_owned(td_buf_steal(&b));
}

/* The dry run's plan (serve_week.c), made again when the files behind
 * the desk changed (at most every WEEK_MIN_AGE seconds) or WEEK_FRESH
 * seconds went by; NULL with week_err when it cannot be made. */
static struct td_week *week_get(struct td_desk *d)
{
	double t = td_mono_now();
	bool same = strcmp(d->week_version, d->version) == 0;
	if (d->week_at > 0 && (t - d->week_at < WEEK_MIN_AGE ||
			       (same && t - d->week_at < WEEK_FRESH)))
		return d->week;
	td_week_free(d->week);
	d->week = NULL;
	d->week_err.code = 0;
	d->week_err.msg[0] = '\0';
	if (!d->st)
		d->week_err = d->store_err;
	else if (td_week_build(&d->opt.deliver, d->st, d->opt.subscribers_path, time(NULL),
			       &d->week, &d->week_err))
		d->week = NULL;
	snprintf(d->week_version, sizeof d->week_version, "%s", d->version);
	d->week_at = td_mono_now();
	td_log_debug("serve: \"this week\" made in %.3f s", d->week_at - t);
	return d->week;
}

/* ctx.due for the home page, or ctx.due_error. A week kept from older
 * files (WEEK_MIN_AGE) gives the page its version: the live reload then
 * fetches the page again until the week has caught up. */
static void week_due(struct td_desk *d, struct td_value *ctx, time_t site_next)
{
	if (strcmp(d->week_version, d->version) != 0)
		td_value_map_set_str(ctx, "version", d->week_version);
	if (d->week)
		td_week_due_values(d->week, d->co->render.tz, site_next, ctx);
	else
		td_value_map_set_str(ctx, "due_error", d->week_err.msg);
	/* a home.mustache copied before the due line says "Next send:
	 * {{next_send}}": let it say what is true */
	const struct td_value *due = td_value_map_get(ctx, "due");
	const char *n = due ? td_value_text(td_value_map_get(due, "now")) : NULL;
	const struct td_value *next = due ? td_value_map_get(due, "next") : NULL;
	if (n && strcmp(n, "0") != 0)
		td_value_map_set(ctx, "next_send", td_value_string_owned(
			td_xasprintf("due now (%s reader%s)", n,
				     strcmp(n, "1") == 0 ? "" : "s")));
	else if (next)
		td_value_map_set_str(ctx, "next_send", td_value_map_get_str(next, "at"));
	else
		set_when(d, ctx, "next_send", site_next);
}

static void week_page(struct td_desk *d, struct td_http_resp *resp)
{
	struct td_week *w = week_get(d);
	if (!w) {
		error_page(d, resp, 503, "This week cannot be worked out", &d->week_err);
		return;
	}
	if (d->pages && !td_template_set_get(d->pages, "week")) {
		/* a templates folder copied before this page: the rest works */
		struct td_err err;
		td_err_set(&err, EX_NOINPUT, "templates: %s/desk/week.mustache: missing "
			   "(tagdigest ships it in templates/desk/: copy it into yours)",
			   d->co->render.templates_dir);
		error_page(d, resp, 500, "This week has no template", &err);
		return;
	}
	struct td_value *ctx = td_value_map();
	if (strcmp(d->week_version, d->version) != 0)
		td_value_map_set_str(ctx, "version", d->week_version);
	td_week_values(w, d->co->render.tz, td_schedule_next_slot(&d->co->schedule,
								  time(NULL)), ctx);
	render_page(d, resp, "week", "This week", ctx);
}

static void home(struct td_desk *d, struct td_http_resp *resp)
{
	if (!d->st) {
		error_page(d, resp, 503, "The store cannot be read", &d->store_err);
		return;
	}
	time_t now = time(NULL);
	const struct td_schedule *sched = &d->co->schedule;
	/* before the read transaction: the dry run takes its own */
	week_get(d);

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
	time_t first_since = now - (time_t)d->co->digest.first_digest_days * 86400;
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

	struct td_value *ctx = td_value_map();
	week_due(d, ctx, td_schedule_next_slot(sched, now));
	td_value_map_set_bool(ctx, "week_link", true);
	set_when(d, ctx, "current_slot", td_schedule_last_slot(sched, now));
	td_value_map_set(ctx, "subscriber_count", td_desk_count(d->subs.n));
	td_value_map_set_bool(ctx, "subscriber_one", d->subs.n == 1);
	td_value_map_set_int(ctx, "bad_rows", (long long)d->subs.nbad);
	td_value_map_set_bool(ctx, "bad_row_one", d->subs.nbad == 1);
	td_value_map_set(ctx, "unsubscribed_count", td_desk_count(left_all));
	size_t nposts = td_store_post_count(d->st);
	td_value_map_set(ctx, "post_count", td_desk_count(nposts));
	td_value_map_set_bool(ctx, "post_one", nposts == 1);
	if (d->subs_err.code)
		td_value_map_set_str(ctx, "subscribers_error", d->subs_err.msg);
	if (!d->composer)
		td_value_map_set_str(ctx, "templates_error", d->composer_err.msg);

	struct td_value *tag_list = td_value_map_set(ctx, "tags", td_value_list());
	struct td_post_cache *cache = td_post_cache_new();
	for (size_t j = 0; j < ntags; j++)
		home_tag(d, tag_list, &tags[j], cache);
	td_post_cache_free(cache);

	home_last_run(d, ctx, states);
	home_sources(d, ctx);

	struct td_value *rows = td_value_map_set(ctx, "subscribers", td_value_list());
	for (size_t i = 0; i < d->subs.n && i < MAX_LISTED; i++) {
		const struct td_subscriber *sub = &d->subs.v[i];
		struct td_value *v = td_value_list_push(rows, td_value_map());
		td_value_map_set_str(v, "email", sub->email);
		td_value_map_set(v, "email_query", url_value(sub->email));
		td_value_map_set_bool(v, "unsubscribed", suppressed(&keys, sub->email, "all"));
		td_value_map_set_str(v, "name", sub->name);
		td_value_map_set(v, "tags", joined(&sub->tags));
		if (states[i].started_last) {
			/* a clean start (store/start.h) is not a digest */
			char s[64];
			when(d, states[i].started_at, s, sizeof s);
			td_value_map_set(v, "last_digest", td_value_string_owned(
						 td_xasprintf("started clean %s", s)));
		} else
			set_when(d, v, "last_digest", states[i].last_slot);
	}
	td_value_map_set_bool(ctx, "not_listed", d->subs.n > MAX_LISTED);
	td_value_map_set_int(ctx, "listed", MAX_LISTED);
	render_page(d, resp, "home", "Home", ctx);

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

/* "; what came back: hard 5.1.1 userunknown on ... (`tagdigest
 * unsuppress EMAIL` lifts it)", from the reader's newest bounce event
 * that acted; "" when there is none. */
static void last_bounce(struct td_desk *d, const char *email, char *out, size_t len)
{
	struct td_bounce_event *ev;
	size_t n;
	if (td_store_bounce_events(d->st, email, 20, &ev, &n, NULL))
		return;
	for (size_t i = 0; i < n; i++) {
		if (ev[i].action != TD_BOUNCE_SUPPRESSED &&
		    ev[i].action != TD_BOUNCE_UNSUBSCRIBED)
			continue;
		char at[64];
		when(d, ev[i].at, at, sizeof at);
		snprintf(out, len, "; what came back: %s%s%s%s%s on %s (`tagdigest "
			 "unsuppress` lifts it)", td_bounce_kind_name(ev[i].kind),
			 *ev[i].status ? " " : "", ev[i].status, *ev[i].reason ? " " : "",
			 ev[i].reason, at);
		break;
	}
	td_bounce_events_free(ev, n);
}

/* What came back by mail for one reader (store/bounces.h): their score,
 * hard bounces and newest events, when there is anything to say. */
static void preview_bounces(struct td_desk *d, struct td_value *ctx, const char *email)
{
	double score;
	int hard;
	struct td_bounce_event *ev;
	size_t n;
	if (!d->st || td_store_bounce_score(d->st, email, &d->opt.bounces, time(NULL),
					    &score, &hard, NULL) ||
	    td_store_bounce_events(d->st, email, 5, &ev, &n, NULL))
		return;
	if (n || score >= 0.05 || hard) {
		struct td_value *b = td_value_map_child(ctx, "bounces", TD_VALUE_MAP);
		td_value_map_set(b, "score", td_value_string_owned(td_xasprintf("%.1f", score)));
		td_value_map_set(b, "threshold", td_value_string_owned(
			td_xasprintf("%g", d->opt.bounces.soft_threshold)));
		td_value_map_set_int(b, "hard", hard);
		td_value_map_set_bool(b, "hard_one", hard == 1);
		struct td_value *l = td_value_map_child(b, "events", TD_VALUE_LIST);
		for (size_t i = 0; i < n; i++) {
			struct td_value *v = td_value_list_push(l, td_value_map());
			set_when(d, v, "when", ev[i].at);
			td_value_map_set_str(v, "kind", td_bounce_kind_name(ev[i].kind));
			td_value_map_set_str(v, "status", ev[i].status);
			td_value_map_set_str(v, "reason", ev[i].reason);
			td_value_map_set_str(v, "action", td_bounce_action_name(ev[i].action));
			td_value_map_set_str(v, "detail", ev[i].detail);
		}
	}
	td_bounce_events_free(ev, n);
}

/* Who the preview is for: ?to=EMAIL (an active reader as `send` walks
 * them, readers.h: the store's, with their own schedule, else a file row
 * the next run adds; in *reader, which the caller frees with
 * td_reader_free) or ?tag=TAG (the sample reader, in *sample, which the
 * caller frees with td_strv_free(&sample->tags)). query gets "to=..." or
 * "tag=..." for links. NULL, with resp filled, when there is no such
 * reader or nothing would be sent to them. */
static const struct td_subscriber *pick(struct td_desk *d,
					const struct td_http_req *req,
					struct td_subscriber *sample,
					struct td_reader *reader,
					struct td_buf *query,
					struct td_http_resp *resp)
{
	memset(sample, 0, sizeof *sample);
	memset(reader, 0, sizeof *reader);
	const char *to = td_http_arg(req, "to");
	const char *tag = td_http_arg(req, "tag");
	if (to && *to) {
		struct td_err err = { 0, "" };
		if (!d->st) {
			error_page(d, resp, 503, "The store cannot be read", &d->store_err);
			return NULL;
		}
		if (td_reader_find(d->st, d->opt.subscribers_path, to, reader, &err)) {
			error_page(d, resp, 503, "The store cannot be read", &err);
			td_reader_free(reader);
			return NULL;
		}
		if (!reader->found) {
			td_err_set(&err, EX_NOUSER, "%s is neither in the store nor in the "
				   "subscriber file %s", to, d->opt.subscribers_path);
			error_page(d, resp, 404, "No such subscriber", &err);
			td_reader_free(reader);
			return NULL;
		}
		if (reader->status != TD_MEMBER_ACTIVE) {
			char why[256] = "";
			if (reader->status == TD_MEMBER_BOUNCED ||
			    reader->status == TD_MEMBER_COMPLAINED)
				last_bounce(d, reader->view.email, why, sizeof why);
			td_err_set(&err, EX_NOUSER, "%s is %s: a send would send them "
				   "nothing%s%s", reader->view.email,
				   td_member_status_name(reader->status),
				   reader->status == TD_MEMBER_PENDING ?
				   " until they confirm their sign-up" : "", why);
			error_page(d, resp, 409, "Not an active reader", &err);
			td_reader_free(reader);
			return NULL;
		}
		td_buf_puts(query, "to=");
		td_url_escape(query, reader->view.email);
		return &reader->view;
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
	struct td_reader reader;       /* the reader asked for with ?to= */
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
	p->sub = pick(d, req, &p->sample, &p->reader, &p->query, resp);
	if (p->sub && compose(d, p->sub, test_to, &p->m, resp) == 0)
		return 0;
	td_strv_free(&p->sample.tags);
	td_reader_free(&p->reader);
	td_buf_free(&p->query);
	return -1;
}

static void preview_close(struct preview *p)
{
	td_composed_free(&p->m);
	td_strv_free(&p->sample.tags);
	td_reader_free(&p->reader);
	td_buf_free(&p->query);
}

/* ?scheme=dark or light, else NULL (the viewer's own preference). */
static const char *scheme_arg(const struct td_http_req *req)
{
	const char *s = td_http_arg(req, "scheme");
	return s && (strcmp(s, "dark") == 0 || strcmp(s, "light") == 0) ? s : NULL;
}

/* The frame's width and colour scheme, one click each: links to this
 * page with ?view=phone (a 375 px frame, a phone's CSS width) and
 * ?scheme=dark|light (the part as force_scheme makes it), so they work
 * without script and survive a live reload. */
static void frame_views(const struct td_http_req *req, const char *query,
			struct td_value *ctx)
{
	const char *view = td_http_arg(req, "view");
	bool phone = view && strcmp(view, "phone") == 0;
	const char *scheme = scheme_arg(req);
	td_value_map_set_bool(ctx, "phone", phone);
	struct td_buf src = TD_BUF_INIT;
	td_buf_printf(&src, "/preview/html?%s", query);
	if (scheme)
		td_buf_printf(&src, "&scheme=%s", scheme);
	td_value_map_set(ctx, "frame_src", td_value_string_owned(td_buf_steal(&src)));
	static const struct { const char *id, *label, *view, *scheme; } v[] = {
		{ "view-desktop", "Full width", "", NULL },
		{ "view-phone", "Phone (375 px)", "phone", NULL },
		{ "scheme-auto", "Your scheme", NULL, "" },
		{ "scheme-light", "Light", NULL, "light" },
		{ "scheme-dark", "Dark", NULL, "dark" },
	};
	struct td_value *list = td_value_map_set(ctx, "views", td_value_list());
	for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
		/* each link changes one of the two and keeps the other */
		const char *w = v[i].view ? v[i].view : phone ? "phone" : "";
		const char *c = v[i].scheme ? v[i].scheme : scheme ? scheme : "";
		struct td_buf href = TD_BUF_INIT;
		td_buf_printf(&href, "/preview?%s%s%s%s%s", query, *w ? "&view=" : "", w,
			      *c ? "&scheme=" : "", c);
		struct td_value *it = td_value_list_push(list, td_value_map());
		td_value_map_set_str(it, "id", v[i].id);
		td_value_map_set_str(it, "label", v[i].label);
		td_value_map_set(it, "href", td_value_string_owned(td_buf_steal(&href)));
		bool on = v[i].view ? strcmp(w, phone ? "phone" : "") == 0 :
				      strcmp(c, scheme ? scheme : "") == 0;
		td_value_map_set_bool(it, "on", on);
		td_value_map_set_bool(it, "group_end", i == 1);
	}
}

static void preview_page(struct td_desk *d, const struct td_http_req *req,
			 struct td_http_resp *resp)
{
	struct preview p;
	if (preview_open(d, req, NULL, resp, &p) != 0)
		return;
	const struct td_subscriber *sub = p.sub;
	const struct td_composed *m = &p.m;
	bool sample = sub == &p.sample;
	struct td_value *ctx = td_value_map();
	td_value_map_set_str(ctx, "csrf", d->csrf);
	td_value_map_set_str(ctx, "reader_field", sample ? "tag" : "to");
	td_value_map_set_str(ctx, "reader_value", sample ? p.sample.tags.v[0] : sub->email);
	if (sample)
		td_value_map_set_str(ctx, "sample", m->digest.followed.n ?
				     m->digest.followed.v[0] : p.sample.tags.v[0]);
	td_value_map_set_str(ctx, "email", sub->email);
	if (*sub->name)
		td_value_map_set_str(ctx, "name", sub->name);
	td_value_map_set_str(ctx, "subject", m->parts.subject);
	td_value_map_set(ctx, "follows", joined(&m->digest.followed));
	td_value_map_set_int(ctx, "shown", (long long)m->digest.shown);
	td_value_map_set_int(ctx, "total", (long long)m->digest.total);
	td_value_map_set_bool(ctx, "first", m->digest.first);
	size_t html_len = strlen(m->parts.html);
	td_value_map_set_int(ctx, "bytes", (long long)m->message.len);
	td_value_map_set(ctx, "kb", td_value_string_owned(
		td_xasprintf("%.1f", (double)m->message.len / 1024.0)));
	td_value_map_set_int(ctx, "html_bytes", (long long)html_len);
	td_value_map_set_bool(ctx, "clipped", m->message.len > GMAIL_CLIP || html_len > GMAIL_CLIP);
	td_value_map_set_int(ctx, "clip_kb", GMAIL_CLIP / 1024);
	td_value_map_set_bool(ctx, "suppressed", m->digest.suppressed);
	td_value_map_set_bool(ctx, "empty", !m->digest.suppressed && m->digest.total == 0);
	if (!sample)
		preview_bounces(d, ctx, sub->email);
	td_value_map_set_str(ctx, "query", td_buf_cstr(&p.query));
	frame_views(req, td_buf_cstr(&p.query), ctx);
	td_value_map_set_str(ctx, "text", m->parts.text);
	const char *msg = td_buf_cstr(&p.m.message);
	const char *end = strstr(msg, "\r\n\r\n");
	char *head = td_xstrndup(msg, end ? (size_t)(end - msg) : strlen(msg));
	for (char *r = head; (r = strchr(r, '\r')) != NULL;)
		memmove(r, r + 1, strlen(r));
	td_value_map_set(ctx, "headers", td_value_string_owned(head));
	td_value_map_set_str(ctx, "raw", msg);
	render_page(d, resp, "preview", sample ? "Sample preview" : sub->email, ctx);
	preview_close(&p);
}

static size_t css_space(const char *s)
{
	return strspn(s, " \t\r\n\f");
}

/*
 * The HTML part as a reader whose system prefers `scheme` sees it. A
 * frame's prefers-color-scheme is always the editor's own (no page can
 * set it for a frame, and the part runs no script), so the part's own
 * media features say it instead: each "(prefers-color-scheme: X)"
 * becomes a feature that always holds when X is scheme, and one that
 * never holds when it is not. The template's own rules then apply,
 * nothing else changes; the browser test checks the result against
 * Chromium's emulated media.
 */
static void force_scheme(const char *html, const char *scheme, struct td_buf *out)
{
	static const char feat[] = "prefers-color-scheme";
	const char *p = html, *hit;
	while ((hit = strcasestr(p, feat)) != NULL) {
		const char *open = hit;
		while (open > p && strchr(" \t\r\n\f", open[-1]))
			open--;
		const char *v = hit + sizeof feat - 1;
		v += css_space(v);
		const char *close = NULL;
		size_t vlen = 0;
		if (open > p && open[-1] == '(' && *v == ':') {
			v++;
			v += css_space(v);
			vlen = strcspn(v, " \t\r\n\f)");
			close = v + vlen;
			close += css_space(close);
			if (*close != ')')
				close = NULL;
		}
		if (!close) {
			/* not a media feature (a comment, a word in the text) */
			td_buf_append(out, p, (size_t)(hit - p) + sizeof feat - 1);
			p = hit + sizeof feat - 1;
			continue;
		}
		bool holds = vlen == strlen(scheme) && strncasecmp(v, scheme, vlen) == 0;
		td_buf_append(out, p, (size_t)(open - 1 - p));
		td_buf_puts(out, holds ? "(min-width: 0px)" : "(max-width: 0px)");
		p = close + 1;
	}
	td_buf_puts(out, p);
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
		const char *scheme = scheme_arg(req);
		if (scheme)
			force_scheme(p.m.parts.html, scheme, &resp->body);
		else
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

/* ---- finding a reader, a reader's page, the run history ----
 *
 * GET /readers?q=TEXT&page=N   the roster's members whose address or
 *                              name contains TEXT (roster.h
 *                              td_roster_search), a page at a time
 * GET /reader?email=EMAIL      one reader: status, tags, schedule, next
 *                              digest, bounce score, recent digests
 * GET /history?page=N          past sends (store/runs.h), newest first
 */

#define READERS_PAGE 50             /* search results per page */
#define RUNS_PAGE 50                /* runs per history page */
#define READER_DIGESTS 20           /* recent digests on a reader's page */
#define MAX_PAGE 1000000            /* ?page= beyond this is refused */

struct td_value *td_desk_count(size_t n)
{
	char digits[32];
	int len = snprintf(digits, sizeof digits, "%zu", n);
	struct td_buf b = TD_BUF_INIT;
	for (int i = 0; i < len; i++) {
		if (i && (len - i) % 3 == 0)
			td_buf_putc(&b, ',');
		td_buf_putc(&b, digits[i]);
	}
	return td_value_string_owned(td_buf_steal(&b));
}

/* ?page=N, 1-based; 0 (with resp filled) when it is not a page number */
static size_t page_arg(struct td_desk *d, const struct td_http_req *req,
		       struct td_http_resp *resp)
{
	const char *s = td_http_arg(req, "page");
	if (!s || !*s)
		return 1;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end || v < 1 || v > MAX_PAGE || *s == '-' || *s == '+') {
		struct td_err err;
		td_err_set(&err, EX_USAGE, "page '%s': a page number is 1 to %d", s, MAX_PAGE);
		error_page(d, resp, 400, "No such page", &err);
		return 0;
	}
	return (size_t)v;
}

/* The opening of a paged list (/readers, /history): the store is open
 * and ?page= is a page number. 0 with resp filled when not. */
static size_t list_open(struct td_desk *d, const struct td_http_req *req,
			struct td_http_resp *resp)
{
	if (!d->st) {
		error_page(d, resp, 503, "The store cannot be read", &d->store_err);
		return 0;
	}
	return page_arg(d, req, resp);
}

/* A page past the last of `total` rows, `per` a page, under `base`: a
 * 404 whose page links to the last one (a pager link kept from before
 * the list shrank, or a hand-made address). true with resp filled. */
static bool past_the_end(struct td_desk *d, struct td_http_resp *resp, const char *base,
			 size_t page, size_t per, size_t total)
{
	size_t pages = total ? (total + per - 1) / per : 1;
	if (page <= pages)
		return false;
	resp->status = 404;
	struct td_value *ctx = td_value_map();
	td_value_map_set(ctx, "message", td_value_string_owned(td_xasprintf(
		"There is no page %zu: the list has %zu page%s.", page, pages,
		pages == 1 ? "" : "s")));
	struct td_value *link = td_value_map_set(ctx, "link", td_value_map());
	td_value_map_set(link, "href", td_value_string_owned(
		td_xasprintf("%spage=%zu", base, pages)));
	td_value_map_set(link, "text", td_value_string_owned(
		td_xasprintf("Go to the last page (%zu)", pages)));
	render_page(d, resp, "error", "No such page", ctx);
	return true;
}

/* Previous / next links of a list of `total` rows, `per` a page, under
 * `base` ("/readers?q=...&" or "/history?"). */
static void pager(struct td_value *ctx, const char *base, size_t page, size_t per,
		  size_t total)
{
	size_t pages = total ? (total + per - 1) / per : 1;
	struct td_value *p = td_value_map_child(ctx, "pager", TD_VALUE_MAP);
	td_value_map_set_int(p, "page", (long long)page);
	td_value_map_set_int(p, "pages", (long long)pages);
	td_value_map_set(p, "first_row", td_desk_count(total ? (page - 1) * per + 1 : 0));
	size_t last = page * per < total ? page * per : total;
	td_value_map_set(p, "last_row", td_desk_count(last));
	if (page > 1)
		td_value_map_set(p, "prev", td_value_string_owned(
			td_xasprintf("%spage=%zu", base, page - 1 < pages ? page - 1 : pages)));
	if (page < pages)
		td_value_map_set(p, "next", td_value_string_owned(
			td_xasprintf("%spage=%zu", base, page + 1)));
	td_value_map_set_bool(p, "many", pages > 1);
}

static void readers_page(struct td_desk *d, const struct td_http_req *req,
			 struct td_http_resp *resp)
{
	size_t page = list_open(d, req, resp);
	if (!page)
		return;
	struct td_err err = { 0, "" };
	/* what was typed, without the spaces around it; bytes that are not
	 * UTF-8 would reach a UTF-8 page as they came */
	char *q = td_http_trimmed(td_http_arg(req, "q"));
	if (!td_utf8_valid(q, strlen(q))) {
		td_err_set(&err, EX_DATAERR, "the search text is not UTF-8 (the form "
			   "sends UTF-8; an address typed by hand may not)");
		error_page(d, resp, 400, "Not a search", &err);
		free(q);
		return;
	}
	struct td_member *v = NULL;
	size_t n = 0, total = 0, counts[5];
	/* one snapshot: the count and the page agree */
	int rc = td_store_begin_read(d->st, &err);
	if (!rc)
		rc = td_roster_counts(d->st, counts, &err);
	if (!rc)
		rc = td_roster_search(d->st, q, (page - 1) * READERS_PAGE, READERS_PAGE, &v,
				      &n, &total, &err);
	td_store_commit(d->st, NULL);
	struct td_buf base = TD_BUF_INIT;
	td_buf_puts(&base, "/readers?q=");
	td_url_escape(&base, q);
	td_buf_putc(&base, '&');
	if (rc || past_the_end(d, resp, td_buf_cstr(&base), page, READERS_PAGE, total)) {
		if (rc)
			error_page(d, resp, 503, "The store cannot be read", &err);
		td_members_free(v, n);
		td_buf_free(&base);
		free(q);
		return;
	}
	size_t all = 0;
	for (int i = 0; i < 5; i++)
		all += counts[i];
	struct td_value *ctx = td_value_map();
	td_value_map_set_str(ctx, "q", q);
	td_value_map_set_bool(ctx, "searched", *q != '\0');
	td_value_map_set(ctx, "matched", td_desk_count(total));
	td_value_map_set(ctx, "all", td_desk_count(all));
	td_value_map_set_bool(ctx, "has_readers", n > 0);
	struct td_value *rows = td_value_map_set(ctx, "readers", td_value_list());
	for (size_t i = 0; i < n; i++) {
		struct td_value *r = td_value_list_push(rows, td_value_map());
		td_value_map_set_str(r, "email", v[i].email);
		td_value_map_set(r, "email_query", url_value(v[i].email));
		td_value_map_set_str(r, "name", v[i].name);
		td_value_map_set_str(r, "status", td_member_status_name(v[i].status));
		td_value_map_set_bool(r, "active", v[i].status == TD_MEMBER_ACTIVE);
		td_value_map_set(r, "tags", joined(&v[i].tags));
	}
	pager(ctx, td_buf_cstr(&base), page, READERS_PAGE, total);
	td_buf_free(&base);
	td_members_free(v, n);
	render_page(d, resp, "readers", *q ? q : "Readers", ctx);
	free(q);
}

/* "weekly, Monday 07:00 Europe/Berlin" from the reader's rule */
static struct td_value *schedule_value(const struct td_schedule *s)
{
	struct td_buf b = TD_BUF_INIT;
	char day[32] = "";
	struct tm tm = { .tm_wday = s->wday };
	strftime(day, sizeof day, "%A", &tm);
	td_buf_printf(&b, "%s, ", td_frequency_name(s->freq));
	if (s->freq == TD_FREQ_WEEKLY)
		td_buf_printf(&b, "%s ", day);
	else if (s->freq == TD_FREQ_MONTHLY)
		td_buf_printf(&b, "the first %s of the month, ", day);
	td_buf_printf(&b, "%02d:%02d %s", s->hour, s->minute, s->tz ? td_tz_name(s->tz) : "UTC");
	return td_value_string_owned(td_buf_steal(&b));
}

/* The reader's next digest by the rule `send` applies (schedule.h), and
 * their clean start when it is their last record (store/start.h): no
 * digest yet, but not a reader without history either. */
static void reader_due(struct td_desk *d, struct td_value *ctx, const struct td_reader *r,
		       time_t now)
{
	struct td_subscriber_state state;
	if (td_store_subscriber_state(d->st, r->view.email, &state, NULL) != 0)
		return;
	if (state.started_last)
		set_when(d, ctx, "started_clean", state.started_at);
	struct td_zones *zones = td_zones_new();
	struct td_schedule s = td_schedule_for(&d->co->schedule, &r->view.prefs, zones);
	td_value_map_set(ctx, "schedule", schedule_value(&s));
	td_value_map_set_bool(ctx, "own_schedule", r->view.prefs.own_time ||
			      r->view.prefs.timezone ||
			      r->view.prefs.frequency != TD_FREQ_WEEKLY);
	if (r->view.prefs.paused_until > now)
		set_when(d, ctx, "paused_until", r->view.prefs.paused_until);
	if (r->status == TD_MEMBER_ACTIVE) {
		struct td_due due = td_schedule_due(&s, &r->view.prefs, r->view.not_before,
						    state.last_slot, now);
		/* as deliver.c's prepare_one: a slot whose digest was refused
		 * or given up is closed; the next one is theirs */
		struct td_pending p;
		memset(&p, 0, sizeof p);
		bool closed = false;
		if (due.now && td_store_pending_get(d->st, r->view.email, due.slot, &p,
						    &closed, NULL) == 0 && closed &&
		    strcmp(p.state, "retry") != 0) {
			due.now = false;
			due.next = td_schedule_next_slot(&s, now);
		}
		td_store_pending_free(&p);
		struct td_value *n = td_value_map_child(ctx, "next", TD_VALUE_MAP);
		set_when(d, n, "when", due.next);
		td_value_map_set_bool(n, "now", due.now);
	}
	td_zones_free(zones);
}

static void reader_page(struct td_desk *d, const struct td_http_req *req,
			struct td_http_resp *resp)
{
	if (!d->st) {
		error_page(d, resp, 503, "The store cannot be read", &d->store_err);
		return;
	}
	const char *email = td_http_arg(req, "email");
	struct td_err err = { 0, "" };
	if (!email || !*email) {
		td_err_set(&err, EX_USAGE, "say whose page: /reader?email=EMAIL");
		error_page(d, resp, 400, "Which reader?", &err);
		return;
	}
	struct td_reader r;
	if (td_reader_find(d->st, d->opt.subscribers_path, email, &r, &err)) {
		error_page(d, resp, 503, "The store cannot be read", &err);
		td_reader_free(&r);
		return;
	}
	if (!r.found) {
		td_err_set(&err, EX_NOUSER, "%s is neither in the store nor in the "
			   "subscriber file %s", email, d->opt.subscribers_path);
		error_page(d, resp, 404, "No such subscriber", &err);
		td_reader_free(&r);
		return;
	}
	time_t now = time(NULL);
	struct td_value *ctx = td_value_map();
	td_value_map_set_str(ctx, "email", r.view.email);
	td_value_map_set(ctx, "email_query", url_value(r.view.email));
	td_value_map_set_str(ctx, "name", r.view.name);
	td_value_map_set_str(ctx, "status", td_member_status_name(r.status));
	td_value_map_set_bool(ctx, "active", r.status == TD_MEMBER_ACTIVE);
	td_value_map_set_bool(ctx, "file_row", !r.in_store);
	td_value_map_set(ctx, "tags", joined(&r.view.tags));
	if (r.in_store) {
		td_value_map_set_bool(ctx, "reader_choice", r.member.reader_choice);
		td_value_map_set_str(ctx, "origin", r.member.origin);
		set_when(d, ctx, "created", r.member.created_at);
		set_when(d, ctx, "consent_at", r.member.consent_at);
		td_value_map_set_str(ctx, "consent_how", r.member.consent_how);
		td_value_map_set_str(ctx, "consent_from", r.member.consent_from);
	}
	reader_due(d, ctx, &r, now);
	if (r.status == TD_MEMBER_BOUNCED || r.status == TD_MEMBER_COMPLAINED) {
		char why[256] = "";
		last_bounce(d, r.view.email, why, sizeof why);
		if (*why)
			td_value_map_set_str(ctx, "why", why + 2);  /* past "; " */
	}
	double score = 0;
	int hard = 0;
	if (td_store_bounce_score(d->st, r.view.email, &d->opt.bounces, now, &score,
				  &hard, NULL) == 0) {
		td_value_map_set(ctx, "score", td_value_string_owned(
			td_xasprintf("%.1f", score)));
		td_value_map_set(ctx, "threshold", td_value_string_owned(
			td_xasprintf("%g", d->opt.bounces.soft_threshold)));
		td_value_map_set_int(ctx, "hard", hard);
		td_value_map_set_bool(ctx, "hard_one", hard == 1);
	}
	struct td_reader_digest *dg = NULL;
	size_t ndg = 0;
	if (td_store_reader_digests(d->st, r.view.email, READER_DIGESTS, &dg, &ndg,
				    &err) != 0)
		td_value_map_set_str(ctx, "digests_error", err.msg);
	struct td_value *list = td_value_map_set(ctx, "digests", td_value_list());
	for (size_t i = 0; i < ndg; i++) {
		struct td_value *v = td_value_list_push(list, td_value_map());
		set_when(d, v, "slot", dg[i].slot);
		set_when(d, v, "at", dg[i].at);
		td_value_map_set_str(v, "outcome", dg[i].outcome);
		td_value_map_set_int(v, "posts", (long long)dg[i].post_count);
		td_value_map_set_str(v, "message_id", dg[i].message_id);
		td_value_map_set_str(v, "detail", dg[i].detail);
		if (dg[i].next_attempt_at)
			set_when(d, v, "retry_at", dg[i].next_attempt_at);
	}
	td_value_map_set_int(ctx, "digests_shown", READER_DIGESTS);
	td_value_map_set_bool(ctx, "has_digests", ndg > 0);
	td_reader_digests_free(dg, ndg);
	render_page(d, resp, "reader", r.view.email, ctx);
	td_reader_free(&r);
}

static void history_page(struct td_desk *d, const struct td_http_req *req,
			 struct td_http_resp *resp)
{
	size_t page = list_open(d, req, resp);
	if (!page)
		return;
	struct td_err err = { 0, "" };
	struct td_run *v = NULL;
	size_t n = 0, total = 0;
	if (td_store_runs(d->st, (page - 1) * RUNS_PAGE, RUNS_PAGE, &v, &n, &total, &err)) {
		error_page(d, resp, 503, "The store cannot be read", &err);
		return;
	}
	if (past_the_end(d, resp, "/history?", page, RUNS_PAGE, total)) {
		td_runs_free(v, n);
		return;
	}
	struct td_value *ctx = td_value_map();
	td_value_map_set(ctx, "total", td_desk_count(total));
	struct td_value *rows = td_value_map_set(ctx, "runs", td_value_list());
	for (size_t i = 0; i < n; i++) {
		const struct td_run *r = &v[i];
		struct td_value *m = td_value_list_push(rows, td_value_map());
		td_value_map_set_str(m, "command", r->command);
		set_when(d, m, "started", r->started_at);
		if (!r->finished_at) {
			td_value_map_set_bool(m, "interrupted", true);
		} else {
			set_when(d, m, "finished", r->finished_at);
			td_value_map_set(m, "seconds", td_value_string_owned(
				td_xasprintf("%.1f", r->seconds)));
		}
		set_when(d, m, "slot", r->slot);
		td_value_map_set(m, "sent", td_desk_count(r->sent));
		td_value_map_set(m, "skipped", td_desk_count(r->skipped));
		td_value_map_set(m, "not_due", td_desk_count(r->not_due));
		td_value_map_set(m, "failed", td_desk_count(r->permfail + r->expired));
		td_value_map_set(m, "tempfail", td_desk_count(r->tempfail));
		td_value_map_set(m, "deferred", td_desk_count(r->deferred));
		td_value_map_set(m, "suppressed", td_desk_count(r->suppressed));
		/* shown only when there are some: a count is a string here */
		if (r->bounced)
			td_value_map_set(m, "bounced", td_desk_count(r->bounced));
		if (r->resent)
			td_value_map_set(m, "resent", td_desk_count(r->resent));
		td_value_map_set_bool(m, "bad", r->exit_code != 0 || !r->finished_at);
		if (r->exit_code)
			td_value_map_set_int(m, "exit_code", r->exit_code);
		td_value_map_set_str(m, "note", r->note);
	}
	td_value_map_set_bool(ctx, "has_runs", n > 0);
	pager(ctx, "/history?", page, RUNS_PAGE, total);
	td_runs_free(v, n);
	render_page(d, resp, "history", "History", ctx);
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
	if (!d->pages) {
		/* The page that says "sent" cannot be shown: an editor told
		 * "the templates do not work" after a send that went out would
		 * send again. Nothing goes out until the desk can say so. */
		render_page(d, resp, "sent", "Test not sent", td_value_map());
		preview_close(&p);
		return;
	}
	char reply[512] = "";
	/* A bounce of a test names the test address and nobody's digest:
	 * no member id, no slot. */
	char *from = td_envelope_sender(&d->opt.deliver, 't', 0, address, 0);
	/* the transport only: no delivery row, no watermark */
	int rc = td_send_one(&d->opt.deliver, from, address, p.m.message.data,
			     p.m.message.len, reply, sizeof reply, &err);
	free(from);
	if (rc) {
		td_log_warnx("serve: test send to %s: %s", address, err.msg);
		error_page(d, resp, 502, "The test was not sent", &err);
	} else {
		td_log_info("serve: test of %s's digest sent to %s: %s", sub->email, address,
			    reply);
		resp->status = 200;
		struct td_value *ctx = td_value_map();
		td_value_map_set_str(ctx, "address", address);
		td_value_map_set_str(ctx, "reply", reply);
		td_value_map_set_str(ctx, "query", td_buf_cstr(&p.query));
		render_page(d, resp, "sent", "Test sent", ctx);
	}
	preview_close(&p);
}

/* ---- static files ---- */

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
			 strcmp(p, "/static/desk.css") == 0 || strcmp(p, "/static/desk.js") == 0 ||
			 strcmp(p, "/week") == 0 || strcmp(p, "/readers") == 0 ||
			 strcmp(p, "/reader") == 0 || strcmp(p, "/history") == 0;
	if (!post_route && !get_route)
		return false;
	if (post_route != req->post) {
		td_http_simple(resp, 405, "Method not allowed",
			       post_route ? "This address takes a POST from the preview page." :
					    "This page is read with GET.");
		return true;
	}
	if (strcmp(p, "/static/desk.css") == 0) {
		static_file(resp, "text/css; charset=utf-8", d->css ? d->css : "");
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
	} else if (strcmp(p, "/week") == 0) {
		week_page(d, resp);
	} else if (strcmp(p, "/readers") == 0) {
		readers_page(d, req, resp);
	} else if (strcmp(p, "/reader") == 0) {
		reader_page(d, req, resp);
	} else if (strcmp(p, "/history") == 0) {
		history_page(d, req, resp);
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
