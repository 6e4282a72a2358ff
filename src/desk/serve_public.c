/*
 * serve_public.c: the reader's pages of `serve --public` (serve.h):
 * sign-up with double opt-in, confirmation, and the preference centre.
 *
 *   GET  /subscribe            the form (tags offered: the site's, limited
 *                              by [public] signup_tags)
 *   POST /subscribe            honeypot, form checks, the per-client limit
 *                              (429), then td_roster_signup and, when the
 *                              store says so, a confirmation mail queued
 *                              for the mail thread (mailer.h); the answer
 *                              is one page whatever the address's state
 *   GET  /confirm/TOKEN        a confirm button only (scanners prefetch)
 *   POST /confirm/TOKEN        td_roster_confirm; what they get and when
 *   GET  /preferences/TOKEN    the preference centre
 *   POST /preferences/TOKEN    action = save | unsubscribe | resubscribe
 *
 * Handlers run on any of the server's worker threads at once. Each writes
 * through its own thread's store connection (td_http_store), never under
 * the run lock, so a change is recorded while a send runs. What the
 * threads share is read-only (options, templates, the zone list) or sits
 * under `mu` (the zone cache, the site's tag list). No handler sends mail:
 * the mail thread does.
 *
 * Pages are Mustache templates in <templates_dir>/public/ (page, subscribe,
 * check_inbox, confirm, confirmed, preferences, message) with public.css
 * inlined, loaded once at start; every value reaches a page through {{ }}.
 * Bad tokens of any kind get the unsubscribe pages' one 400
 * (td_http_bad_token), so the server is no oracle for forging them.
 */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "mailer.h"
#include "serve_impl.h"
#include "tagdigest/compose/template.h"
#include "tagdigest/compose/token.h"
#include "tagdigest/core/address.h"
#include "tagdigest/core/log.h"
#include "tagdigest/core/tz.h"
#include "tagdigest/schedule/schedule.h"
#include "tagdigest/sources/slug.h"
#include "tagdigest/store/roster.h"
#include "tagdigest/store/store.h"

/* [public] values left out of the config (serve.h) */
#define DEF_CONFIRM_HOURS 48
#define DEF_SIGNUPS_PER_HOUR 5
#define DEF_CONFIRM_MAILS 3
#define TAGS_TTL 30.0              /* seconds the site's tag list is reused */
#define MAX_CSS (256u << 10)
#define ZONE_TAB "/usr/share/zoneinfo/zone.tab"
#define MAX_ZONE_NAME 64
#define WEEK (7 * 86400)
#define DUE_FMT "%A %d %B %Y, %H:%M %Z"
#define MAX_TOKEN 1024             /* an address of 254 bytes signs to ~450 */

static const char *const page_names[] = {
	"page", "subscribe", "check_inbox", "confirm", "confirmed", "preferences", "message",
};

static const char *const day_names[] = {
	"sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday",
};
static const char *const day_labels[] = {
	"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday",
};

struct td_public {
	const struct td_serve_options *opt;
	const struct td_compose_options *co;
	const struct td_secret *secret;
	char *base_url;                 /* [public] url without a trailing '/' */
	int confirm_hours, confirm_mails;
	struct td_template_set *pages;
	char *css;
	struct td_rate *signups;        /* per client, signups_per_hour */
	struct td_mailer *mailer;
	struct td_strv zone_names;      /* offered in the select, sorted */
	const char *site_zone;          /* the [schedule] zone's name */

	pthread_mutex_t mu;             /* guards what follows */
	struct td_zones *zones;
	struct td_strv tag_slugs, tag_names;   /* offered on the forms */
	double tags_at;                 /* monotonic time of that reading; 0: none */
};

/* ---- start and stop ---- */

static int by_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Zone names a reader picks from: every zone of zone.tab (one or more per
 * country), UTC, and the site's. A name outside the list still works when
 * tz.h loads it (a reader's zone from before a tzdata change). */
static void load_zone_names(struct td_public *p)
{
	char *tab = NULL;
	size_t len = 0;
	if (td_read_file(ZONE_TAB, 1u << 20, &tab, &len) == 0) {
		for (char *line = tab; line && *line;) {
			char *nl = strchr(line, '\n');
			if (nl)
				*nl = '\0';
			if (*line != '#') {
				/* country code, coordinates, zone, comment */
				char *f = strchr(line, '\t');
				f = f ? strchr(f + 1, '\t') : NULL;
				if (f) {
					char *end = strchr(++f, '\t');
					if (end)
						*end = '\0';
					if (*f && !td_strv_contains(&p->zone_names, f))
						td_strv_push(&p->zone_names, f);
				}
			}
			line = nl ? nl + 1 : NULL;
		}
	} else {
		td_log_warnx("serve: %s: %s; readers can pick UTC and the site's zone only",
			     ZONE_TAB, strerror(errno));
	}
	free(tab);
	if (!td_strv_contains(&p->zone_names, "UTC"))
		td_strv_push(&p->zone_names, "UTC");
	if (!td_strv_contains(&p->zone_names, p->site_zone))
		td_strv_push(&p->zone_names, p->site_zone);
	qsort(p->zone_names.v, p->zone_names.n, sizeof *p->zone_names.v, by_str);
}

static int load_pages(struct td_public *p, struct td_err *err)
{
	char *dir = td_xasprintf("%s/public", p->co->render.templates_dir);
	p->pages = td_template_set_new();
	int rc = td_template_set_load_dir(p->pages, dir, err);
	for (size_t i = 0; !rc && i < sizeof page_names / sizeof *page_names; i++)
		if (!td_template_set_get(p->pages, page_names[i]))
			rc = td_err_set(err, EX_NOINPUT, "templates: %s/%s.mustache: missing "
					"(the reader's pages; tagdigest ships them in "
					"templates/public/)", dir, page_names[i]);
	if (!rc)
		rc = td_template_set_check(p->pages, err);
	char *css = td_xasprintf("%s/public.css", dir);
	size_t len;
	if (!rc && td_read_file(css, MAX_CSS, &p->css, &len) != 0)
		rc = td_err_set(err, EX_NOINPUT, "templates: %s: %s", css, strerror(errno));
	/* it goes into a <style> element raw: it must not be able to end it */
	if (!rc && strcasestr(p->css, "</style"))
		rc = td_err_set(err, EX_DATAERR, "templates: %s: must not contain </style>",
				css);
	free(css);
	free(dir);
	return rc;
}

int td_public_new(const struct td_serve_options *opt, const struct td_secret *secret,
		  struct td_public **out, struct td_err *err)
{
	*out = NULL;
	const struct td_public_options *po = &opt->pub;
	struct td_public *p = td_xcalloc(1, sizeof *p);
	p->opt = opt;
	p->co = &opt->desk.deliver.compose;
	p->secret = secret;
	pthread_mutex_init(&p->mu, NULL);
	const char *base = po->base_url && *po->base_url ? po->base_url :
			   p->co->render.site_url ? p->co->render.site_url : "";
	size_t bl = strlen(base);
	while (bl && base[bl - 1] == '/')
		bl--;
	p->base_url = td_xstrndup(base, bl);
	p->confirm_hours = po->confirm_hours > 0 ? po->confirm_hours : DEF_CONFIRM_HOURS;
	p->confirm_mails = po->confirm_mails_per_day > 0 ? po->confirm_mails_per_day :
							     DEF_CONFIRM_MAILS;
	double per_hour = po->signups_per_hour > 0 ? po->signups_per_hour :
						     DEF_SIGNUPS_PER_HOUR;
	p->signups = td_rate_new(per_hour, per_hour / 3600.0);
	p->site_zone = td_tz_name(p->co->schedule.tz);
	p->zones = td_zones_new();
	load_zone_names(p);

	int rc = load_pages(p, err);
	struct td_mailer_options mo = {
		&opt->desk.deliver, opt->desk.store_path, p->confirm_hours,
	};
	if (!rc)
		rc = td_mailer_start(&mo, &p->mailer, err);
	if (rc) {
		td_public_free(p);
		return rc;
	}
	*out = p;
	return 0;
}

void td_public_free(struct td_public *p)
{
	if (!p)
		return;
	td_mailer_stop(p->mailer);
	td_template_set_free(p->pages);
	free(p->css);
	free(p->base_url);
	td_rate_free(p->signups);
	td_strv_free(&p->zone_names);
	td_zones_free(p->zones);
	td_strv_free(&p->tag_slugs);
	td_strv_free(&p->tag_names);
	pthread_mutex_destroy(&p->mu);
	free(p);
}

/* ---- pages ---- */

static void render(struct td_public *p, struct td_http_resp *resp, unsigned status,
		   const char *name, const char *title, struct td_value *ctx)
{
	td_value_map_set_str(ctx, "site_name", p->co->render.site_name);
	td_value_map_set_str(ctx, "title", title);
	td_value_map_set_str(ctx, "css", p->css);
	resp->status = status;
	resp->content_type = "text/html; charset=utf-8";
	resp->csp = td_http_csp_public;
	resp->frame_options = "DENY";
	/* tokens are in our URLs: keep them out of any Referer */
	resp->referrer_policy = "no-referrer";
	td_buf_reset(&resp->body);
	struct td_err err = { 0, "" };
	int rc = td_template_render(td_template_set_get(p->pages, name), p->pages, ctx,
				    true, &resp->body, &err);
	td_value_free(ctx);
	if (rc) {
		td_log_warnx("serve: page %s: %s", name, err.msg);
		td_http_simple(resp, 500, "Something went wrong",
			       "This page cannot be shown just now. Please try again later.");
		resp->csp = td_http_csp_public;
	}
}

static void message(struct td_public *p, struct td_http_resp *resp, unsigned status,
		    const char *title, const char *text, const char *link_href,
		    const char *link_text)
{
	struct td_value *ctx = td_value_map();
	td_value_map_set_str(ctx, "message", text);
	if (link_href) {
		td_value_map_set_str(ctx, "link_href", link_href);
		td_value_map_set_str(ctx, "link_text", link_text);
	}
	render(p, resp, status, "message", title, ctx);
}

static void store_trouble(struct td_public *p, struct td_http_resp *resp,
			  const char *what, const struct td_err *err)
{
	td_log_warnx("serve: %s: %s", what, err->msg);
	message(p, resp, 500, "Something went wrong",
		"Your request could not be recorded; nothing has changed. Please try "
		"again in a few minutes.", NULL, NULL);
}

/* ---- the site's tags ---- */

/* Whether slug is one [public] signup_tags names (by slug or by name). */
static bool wanted(const struct td_strv *signup, const char *slug)
{
	if (!signup || !signup->n)
		return true;
	for (size_t i = 0; i < signup->n; i++) {
		char *s = td_slugify(signup->v[i]);
		bool same = strcmp(s, slug) == 0;
		free(s);
		if (same)
			return true;
	}
	return false;
}

/* The tags the forms offer (slugs and display names, copied into the
 * caller's lists), read again from the store every TAGS_TTL seconds:
 * the form is the page a load test hammers. */
static int offered_tags(struct td_public *p, struct td_strv *slugs,
			struct td_strv *names, struct td_err *err)
{
	int rc = 0;
	pthread_mutex_lock(&p->mu);
	double now = td_mono_now();
	if (!p->tags_at || now - p->tags_at > TAGS_TTL) {
		struct td_store *st;
		struct td_strv s = TD_STRV_INIT, n = TD_STRV_INIT;
		rc = td_http_store(p->opt->desk.store_path, &st, err);
		if (!rc)
			rc = td_roster_site_tags(st, &s, &n, err);
		if (!rc) {
			td_strv_free(&p->tag_slugs);
			td_strv_free(&p->tag_names);
			for (size_t i = 0; i < s.n && i < n.n; i++) {
				if (!wanted(p->opt->pub.signup_tags, s.v[i]))
					continue;
				td_strv_push(&p->tag_slugs, s.v[i]);
				td_strv_push(&p->tag_names, n.v[i]);
			}
			p->tags_at = now;
		}
		td_strv_free(&s);
		td_strv_free(&n);
	}
	for (size_t i = 0; !rc && i < p->tag_slugs.n; i++) {
		td_strv_push(slugs, p->tag_slugs.v[i]);
		td_strv_push(names, p->tag_names.v[i]);
	}
	pthread_mutex_unlock(&p->mu);
	return rc;
}

static const char *name_of(const struct td_strv *slugs, const struct td_strv *names,
			   const char *slug)
{
	for (size_t i = 0; i < slugs->n; i++)
		if (strcmp(slugs->v[i], slug) == 0)
			return names->v[i];
	return slug;
}

/* "NATO, USA and Iran" */
static char *joined_names(const struct td_strv *chosen, const struct td_strv *slugs,
			  const struct td_strv *names)
{
	struct td_buf b = TD_BUF_INIT;
	for (size_t i = 0; i < chosen->n; i++) {
		if (i)
			td_buf_puts(&b, i + 1 == chosen->n ? " and " : ", ");
		td_buf_puts(&b, name_of(slugs, names, chosen->v[i]));
	}
	return td_buf_steal(&b);
}

static void tags_value(struct td_value *ctx, const struct td_strv *slugs,
		       const struct td_strv *names, const struct td_strv *chosen)
{
	struct td_value *list = td_value_map_set(ctx, "tags", td_value_list());
	for (size_t i = 0; i < slugs->n; i++) {
		struct td_value *t = td_value_list_push(list, td_value_map());
		td_value_map_set_str(t, "slug", slugs->v[i]);
		td_value_map_set_str(t, "name", names->v[i]);
		td_value_map_set_bool(t, "checked", chosen && td_strv_contains(chosen, slugs->v[i]));
	}
}

static void frequencies_value(struct td_value *ctx, enum td_frequency chosen)
{
	static const struct { enum td_frequency f; const char *label; } fs[] = {
		{ TD_FREQ_WEEKLY, "Weekly" },
		{ TD_FREQ_DAILY, "Daily" },
		{ TD_FREQ_MONTHLY, "Monthly" },
	};
	struct td_value *list = td_value_map_set(ctx, "frequencies", td_value_list());
	for (size_t i = 0; i < sizeof fs / sizeof *fs; i++) {
		struct td_value *v = td_value_list_push(list, td_value_map());
		td_value_map_set_str(v, "value", td_frequency_name(fs[i].f));
		td_value_map_set_str(v, "label", fs[i].label);
		td_value_map_set_bool(v, "checked", fs[i].f == chosen);
	}
}

/* Every value of the field `name` (checkboxes send one each). */
static void all_args(const struct td_http_req *req, const char *name, struct td_strv *out)
{
	for (size_t i = 0; i + 1 < req->args.n; i += 2)
		if (strcmp(req->args.v[i], name) == 0 && !td_strv_contains(out, req->args.v[i + 1]))
			td_strv_push(out, req->args.v[i + 1]);
}

static void add_error(struct td_value *ctx, const char *text)
{
	struct td_value *list = (struct td_value *)td_value_map_get(ctx, "errors");
	if (!list)
		list = td_value_map_set(ctx, "errors", td_value_list());
	td_value_map_set_str(td_value_list_push(list, td_value_map()), "message", text);
	td_value_map_set_bool(ctx, "has_errors", true);
}

/* A link relative to the page: "../preferences/TOKEN" from /confirm/X,
 * so it works under whatever path a proxy serves us. */
static char *preferences_href(const struct td_public *p, const char *email)
{
	char *tok = td_token_make_for(p->secret, "preferences", email, "", 0);
	char *href = td_xasprintf("../preferences/%s", tok);
	free(tok);
	return href;
}

/* ---- when the next digest comes ---- */

/* The reader's next slot after now (or after their pause), written in
 * their own zone, into out. */
static void next_due(struct td_public *p, const struct td_member *m, time_t now,
		     char *out, size_t n)
{
	pthread_mutex_lock(&p->mu);
	struct td_schedule s = td_schedule_for(&p->co->schedule, &m->prefs, p->zones);
	pthread_mutex_unlock(&p->mu);
	time_t from = now;
	if (m->prefs.paused_until > from)
		from = m->prefs.paused_until;
	/* zones live until td_zones_free and are read-only: no lock needed */
	td_tz_format(s.tz, td_schedule_next_slot(&s, from), DUE_FMT, out, n);
}

static void format_in_zone(struct td_public *p, const struct td_member *m, time_t t,
			   char *out, size_t n)
{
	pthread_mutex_lock(&p->mu);
	struct td_schedule s = td_schedule_for(&p->co->schedule, &m->prefs, p->zones);
	pthread_mutex_unlock(&p->mu);
	td_tz_format(s.tz, t, DUE_FMT, out, n);
}

/* The reader behind a token, through this thread's store; false with
 * the error page in resp when the store cannot be read (m is then freed). */
static bool member_of(struct td_public *p, const char *email, struct td_store **st,
		      struct td_member *m, bool *found, const char *what,
		      struct td_http_resp *resp)
{
	struct td_err err = { 0, "" };
	memset(m, 0, sizeof *m);
	*found = false;
	if (td_http_store(p->opt->desk.store_path, st, &err) ||
	    td_roster_get(*st, email, m, found, &err)) {
		store_trouble(p, resp, what, &err);
		td_member_free(m);
		return false;
	}
	return true;
}

/* ---- /subscribe ---- */

static void subscribe_form(struct td_public *p, struct td_http_resp *resp,
			   unsigned status, struct td_value *ctx,
			   const struct td_strv *chosen, enum td_frequency freq)
{
	struct td_strv slugs = TD_STRV_INIT, names = TD_STRV_INIT;
	struct td_err err = { 0, "" };
	if (offered_tags(p, &slugs, &names, &err)) {
		td_value_free(ctx);
		store_trouble(p, resp, "the sign-up form's tags", &err);
		return;
	}
	tags_value(ctx, &slugs, &names, chosen);
	frequencies_value(ctx, freq);
	render(p, resp, status, "subscribe", "Subscribe", ctx);
	td_strv_free(&slugs);
	td_strv_free(&names);
}

static void check_inbox(struct td_public *p, struct td_http_resp *resp)
{
	struct td_value *ctx = td_value_map();
	td_value_map_set_int(ctx, "confirm_hours", p->confirm_hours);
	render(p, resp, 200, "check_inbox", "Check your inbox", ctx);
}

/* Where the form was: ours, or pasted into another site (the consent
 * record says which). */
static const char *which_form(const struct td_public *p, const struct td_http_req *req)
{
	size_t bl = strlen(p->base_url);
	if (req->origin) {
		/* an Origin is the base URL's scheme://host[:port] */
		size_t n = strlen(req->origin);
		bool ours = n <= bl && strncmp(p->base_url, req->origin, n) == 0 &&
			    (p->base_url[n] == '\0' || p->base_url[n] == '/');
		return ours ? "subscribe page" : "embedded form";
	}
	if (req->referer && bl && strncmp(req->referer, p->base_url, bl) != 0)
		return "embedded form";
	return "subscribe page";
}

static void subscribe_post(struct td_public *p, const struct td_http_req *req,
			   struct td_http_resp *resp)
{
	/* a bot that fills every field is told what a person is told */
	const char *hp = td_http_arg(req, "website");
	if (hp && *hp) {
		td_log_info("serve: sign-up from %s: honeypot filled; ignored", req->client);
		check_inbox(p, resp);
		return;
	}
	char *email = td_http_trimmed(td_http_arg(req, "email"));
	char *name = td_http_trimmed(td_http_arg(req, "name"));
	struct td_strv asked = TD_STRV_INIT, tags = TD_STRV_INIT;
	struct td_strv slugs = TD_STRV_INIT, names = TD_STRV_INIT;
	all_args(req, "tags", &asked);
	const char *fs = td_http_arg(req, "frequency");
	enum td_frequency freq = TD_FREQ_WEEKLY;
	struct td_value *ctx = td_value_map();
	td_value_map_set_str(ctx, "email", email);
	td_value_map_set_str(ctx, "name", name);
	char why[128] = "";
	if (!td_address_valid(email, why, sizeof why)) {
		char *text = *email ? td_xasprintf("The email address %s: please check it.", why) :
				      td_xstrdup("Please enter your email address.");
		add_error(ctx, text);
		td_value_map_set_bool(ctx, "email_error", true);
		free(text);
	}
	if (!td_display_name_valid(name, why, sizeof why)) {
		char *text = td_xasprintf("The name %s.", why);
		add_error(ctx, text);
		free(text);
	}
	if (fs && *fs && td_frequency_parse(fs, &freq) != 0)
		add_error(ctx, "Please choose weekly, daily or monthly.");
	struct td_err err = { 0, "" };
	if (offered_tags(p, &slugs, &names, &err)) {
		td_value_free(ctx);
		store_trouble(p, resp, "sign-up", &err);
		goto out;
	}
	/* tags the form does not offer are dropped: an old embedded form may
	 * still name a tag the site no longer has */
	for (size_t i = 0; i < asked.n; i++)
		if (td_strv_contains(&slugs, asked.v[i]))
			td_strv_push(&tags, asked.v[i]);
	if (!tags.n)
		add_error(ctx, "Please choose at least one tag to follow.");
	if (td_value_map_get(ctx, "has_errors")) {
		td_strv_free(&slugs);
		td_strv_free(&names);
		subscribe_form(p, resp, 400, ctx, &asked, freq);
		goto out;
	}
	td_value_free(ctx);

	unsigned retry = 0;
	if (!td_rate_take(p->signups, req->client_key, &retry)) {
		td_log_info("serve: sign-up from %s: over [public] signups_per_hour", req->client);
		message(p, resp, 429, "Too many sign-ups",
			"Too many sign-ups came from your network in the last hour. "
			"Please try again later.", NULL, NULL);
		resp->retry_after = retry;
		goto out;
	}

	struct td_store *st;
	bool send_mail = false;
	char *nonce = NULL;
	time_t now = time(NULL);
	struct td_signup su = { email, name, &tags, freq, req->client, which_form(p, req) };
	int rc = td_http_store(p->opt->desk.store_path, &st, &err);
	if (!rc)
		rc = td_roster_signup(st, &su, now, p->confirm_mails, &send_mail, &nonce, &err);
	if (rc) {
		store_trouble(p, resp, "sign-up", &err);
		goto out;
	}
	if (send_mail) {
		char *tok = td_token_make_for(p->secret, "confirm", email, nonce,
					      now + (time_t)p->confirm_hours * 3600);
		char *url = td_xasprintf("%s/confirm/%s", p->base_url, tok);
		struct td_strv tag_names = TD_STRV_INIT;
		for (size_t i = 0; i < tags.n; i++)
			td_strv_push(&tag_names, name_of(&slugs, &names, tags.v[i]));
		td_mailer_confirmation(p->mailer, email, name, url, &tag_names,
				       td_frequency_name(freq));
		td_strv_free(&tag_names);
		free(url);
		free(tok);
	}
	td_log_info("serve: sign-up of %s from %s%s", email, req->client,
		    send_mail ? "" : " (no mail: known, refused or over the daily limit)");
	free(nonce);
	check_inbox(p, resp);
out:
	td_strv_free(&slugs);
	td_strv_free(&names);
	td_strv_free(&asked);
	td_strv_free(&tags);
	free(email);
	free(name);
}

static void handle_subscribe(struct td_public *p, const struct td_http_req *req,
			     struct td_http_resp *resp)
{
	if (req->post) {
		subscribe_post(p, req, resp);
		return;
	}
	/* ?tags=a&tags=b preselects, for a "follow this tag" link on a post */
	struct td_strv pre = TD_STRV_INIT;
	all_args(req, "tags", &pre);
	struct td_value *ctx = td_value_map();
	td_value_map_set_str(ctx, "email", "");
	td_value_map_set_str(ctx, "name", "");
	subscribe_form(p, resp, 200, ctx, &pre, TD_FREQ_WEEKLY);
	td_strv_free(&pre);
}

/* ---- /confirm/TOKEN ---- */

static void sign_up_again(struct td_public *p, struct td_http_resp *resp)
{
	message(p, resp, 410, "This link has expired",
		"Confirmation links work for a limited time, and only the newest one "
		"does. Please sign up again: it takes a minute.",
		"../subscribe", "Sign up again");
}

static void confirmed_page(struct td_public *p, struct td_http_resp *resp,
			   const struct td_member *m, bool welcome, time_t now)
{
	struct td_strv slugs = TD_STRV_INIT, names = TD_STRV_INIT;
	struct td_err err = { 0, "" };
	if (offered_tags(p, &slugs, &names, &err))
		td_log_warnx("serve: tag names: %s", err.msg);
	struct td_value *ctx = td_value_map();
	td_value_map_set_str(ctx, "email", m->email);
	char *tags = joined_names(&m->tags, &slugs, &names);
	td_value_map_set(ctx, "tags", td_value_string_owned(tags));
	td_value_map_set_str(ctx, "frequency", td_frequency_name(m->prefs.frequency));
	char due[96];
	next_due(p, m, now, due, sizeof due);
	td_value_map_set_str(ctx, "next_due", due);
	td_value_map_set_bool(ctx, "welcome", welcome);
	td_value_map_set(ctx, "preferences_href",
			 td_value_string_owned(preferences_href(p, m->email)));
	render(p, resp, 200, "confirmed", "You are subscribed", ctx);
	td_strv_free(&slugs);
	td_strv_free(&names);
}

static void handle_confirm(struct td_public *p, const struct td_http_req *req,
			   const char *token, struct td_http_resp *resp)
{
	time_t now = time(NULL);
	char *email = NULL, *nonce = NULL;
	enum td_token_check tc = strlen(token) > MAX_TOKEN ? TD_TOKEN_BAD :
		td_token_check_for(p->secret, "confirm", token, now, &email, &nonce);
	if (tc == TD_TOKEN_BAD || (tc == TD_TOKEN_OK && !td_address_valid(email, NULL, 0))) {
		td_http_bad_token(resp);
		goto out;
	}
	if (tc == TD_TOKEN_EXPIRED) {
		sign_up_again(p, resp);
		goto out;
	}
	struct td_store *st;
	struct td_err err = { 0, "" };
	struct td_member m;
	bool found = false;
	if (!member_of(p, email, &st, &m, &found, "confirmation", resp))
		goto out;
	/* purged, or replaced by a later sign-up: the link died with it */
	bool live = found && (m.status == TD_MEMBER_ACTIVE ||
			      (m.confirm_nonce && strcmp(m.confirm_nonce, nonce) == 0));
	if (!req->post) {
		if (!live) {
			sign_up_again(p, resp);
		} else {
			struct td_strv slugs = TD_STRV_INIT, names = TD_STRV_INIT;
			if (offered_tags(p, &slugs, &names, &err))
				td_log_warnx("serve: tag names: %s", err.msg);
			struct td_value *ctx = td_value_map();
			td_value_map_set_str(ctx, "email", m.email);
			td_value_map_set_bool(ctx, "has_tags", m.tags.n > 0);
			td_value_map_set(ctx, "tags", td_value_string_owned(
							      joined_names(&m.tags, &slugs, &names)));
			render(p, resp, 200, "confirm", "Confirm your subscription", ctx);
			td_strv_free(&slugs);
			td_strv_free(&names);
		}
		td_member_free(&m);
		goto out;
	}
	td_member_free(&m);
	int result = -1;
	if (td_roster_confirm(st, email, nonce, req->client, now, &result, &err)) {
		store_trouble(p, resp, "confirmation", &err);
		goto out;
	}
	if (result < 0) {
		sign_up_again(p, resp);
		goto out;
	}
	memset(&m, 0, sizeof m);
	if (td_roster_get(st, email, &m, &found, &err) || !found) {
		td_member_free(&m);
		if (!found)
			sign_up_again(p, resp);
		else
			store_trouble(p, resp, "confirmation", &err);
		goto out;
	}
	bool welcome = result == 1 && p->opt->pub.welcome_now;
	if (result == 1) {
		td_log_info("serve: %s confirmed from %s", email, req->client);
		if (welcome)
			td_mailer_welcome(p->mailer, m.email);
	}
	confirmed_page(p, resp, &m, welcome, now);
	td_member_free(&m);
out:
	free(email);
	free(nonce);
}

/* ---- /preferences/TOKEN ---- */

static int parse_day(const char *s)
{
	for (int i = 0; s && i < 7; i++)
		if (strcasecmp(s, day_names[i]) == 0)
			return i;
	return -1;
}

/* "08:00" (input type=time), "08:00:00" too. */
static bool parse_time(const char *s, int *hour, int *minute)
{
	if (!s || !isdigit((unsigned char)s[0]) || !isdigit((unsigned char)s[1]) ||
	    s[2] != ':' || !isdigit((unsigned char)s[3]) || !isdigit((unsigned char)s[4]))
		return false;
	if (s[5] && !(s[5] == ':' && isdigit((unsigned char)s[6]) &&
		      isdigit((unsigned char)s[7]) && !s[8]))
		return false;
	*hour = (s[0] - '0') * 10 + (s[1] - '0');
	*minute = (s[3] - '0') * 10 + (s[4] - '0');
	return *hour < 24 && *minute < 60;
}

/* An IANA name as tz.h loads it ("Asia/Tokyo", "UTC", "America/
 * Argentina/Buenos_Aires", "Etc/GMT+5"); nothing that could walk out of
 * the zoneinfo folder reaches the loader. */
static bool zone_ok(struct td_public *p, const char *name)
{
	size_t n = name ? strlen(name) : 0;
	if (n == 0 || n > MAX_ZONE_NAME || name[0] == '/' || strstr(name, ".."))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)name[i]) && !strchr("/_+-", name[i]))
			return false;
	pthread_mutex_lock(&p->mu);
	bool ok = td_zones_get(p->zones, name) != NULL;
	pthread_mutex_unlock(&p->mu);
	return ok;
}

static int pause_weeks_of(const struct td_member *m, time_t now)
{
	if (m->prefs.paused_until <= now)
		return 0;
	long long w = (m->prefs.paused_until - now + WEEK - 1) / WEEK;
	return w > 52 ? 52 : (int)w;
}

static void preferences_page(struct td_public *p, struct td_http_resp *resp,
			     unsigned status, const struct td_member *m,
			     struct td_value *ctx, const char *notice, time_t now)
{
	struct td_strv slugs = TD_STRV_INIT, names = TD_STRV_INIT;
	struct td_err err = { 0, "" };
	if (offered_tags(p, &slugs, &names, &err))
		td_log_warnx("serve: tag names: %s", err.msg);
	/* the reader's own tags stay on the form even when the site no
	 * longer offers them */
	for (size_t i = 0; i < m->tags.n; i++)
		if (!td_strv_contains(&slugs, m->tags.v[i])) {
			td_strv_push(&slugs, m->tags.v[i]);
			td_strv_push(&names, m->tags.v[i]);
		}
	if (!ctx)
		ctx = td_value_map();
	td_value_map_set_str(ctx, "email", m->email);
	if (notice)
		td_value_map_set_str(ctx, "notice", notice);
	td_value_map_set_bool(ctx, "active", m->status == TD_MEMBER_ACTIVE);
	td_value_map_set_bool(ctx, "unsubscribed", m->status == TD_MEMBER_UNSUBSCRIBED);
	td_value_map_set_bool(ctx, "refused", m->status == TD_MEMBER_BOUNCED ||
						      m->status == TD_MEMBER_COMPLAINED);
	tags_value(ctx, &slugs, &names, &m->tags);
	frequencies_value(ctx, m->prefs.frequency);
	const struct td_schedule *site = &p->co->schedule;
	int wday = m->prefs.own_time ? m->prefs.wday : site->wday;
	int hour = m->prefs.own_time ? m->prefs.hour : site->hour;
	int minute = m->prefs.own_time ? m->prefs.minute : site->minute;
	struct td_value *days = td_value_map_set(ctx, "days", td_value_list());
	for (int k = 1; k <= 7; k++) {
		int d = k % 7;   /* Monday first */
		struct td_value *v = td_value_list_push(days, td_value_map());
		td_value_map_set_str(v, "value", day_names[d]);
		td_value_map_set_str(v, "label", day_labels[d]);
		td_value_map_set_bool(v, "selected", d == wday);
	}
	char hm[8];
	snprintf(hm, sizeof hm, "%02d:%02d", hour % 24, minute % 60);
	td_value_map_set_str(ctx, "time", hm);
	const char *zone = m->prefs.timezone ? m->prefs.timezone : p->site_zone;
	struct td_value *zones = td_value_map_set(ctx, "zones", td_value_list());
	bool listed = td_strv_contains(&p->zone_names, zone);
	if (!listed) {
		struct td_value *v = td_value_list_push(zones, td_value_map());
		td_value_map_set_str(v, "name", zone);
		td_value_map_set_bool(v, "selected", true);
	}
	for (size_t i = 0; i < p->zone_names.n; i++) {
		struct td_value *v = td_value_list_push(zones, td_value_map());
		td_value_map_set_str(v, "name", p->zone_names.v[i]);
		td_value_map_set_bool(v, "selected", strcmp(p->zone_names.v[i], zone) == 0);
	}
	int weeks = pause_weeks_of(m, now);
	struct td_value *pauses = td_value_map_set(ctx, "pauses", td_value_list());
	for (int w = 0; w <= 52; w++) {
		struct td_value *v = td_value_list_push(pauses, td_value_map());
		td_value_map_set_int(v, "value", w);
		char label[32];
		if (w == 0)
			snprintf(label, sizeof label, "Not paused");
		else
			snprintf(label, sizeof label, "For %d week%s", w, w == 1 ? "" : "s");
		td_value_map_set_str(v, "label", label);
		td_value_map_set_bool(v, "selected", w == weeks);
	}
	if (m->status == TD_MEMBER_ACTIVE) {
		char due[96];
		next_due(p, m, now, due, sizeof due);
		td_value_map_set_str(ctx, "next_due", due);
		if (weeks) {
			char until[96];
			format_in_zone(p, m, m->prefs.paused_until, until, sizeof until);
			td_value_map_set_bool(ctx, "paused", true);
			td_value_map_set_str(ctx, "paused_until", until);
		}
	}
	render(p, resp, status, "preferences", "Your preferences", ctx);
	td_strv_free(&slugs);
	td_strv_free(&names);
}

/* action=save: the form read into tags and prefs, or errors in ctx. */
static bool read_prefs_form(struct td_public *p, const struct td_http_req *req,
			    const struct td_member *m, time_t now, struct td_strv *tags,
			    struct td_prefs *prefs, struct td_value *ctx)
{
	bool ok = true;
	struct td_strv slugs = TD_STRV_INIT, names = TD_STRV_INIT, asked = TD_STRV_INIT;
	struct td_err err = { 0, "" };
	if (offered_tags(p, &slugs, &names, &err))
		td_log_warnx("serve: tag names: %s", err.msg);
	all_args(req, "tags", &asked);
	for (size_t i = 0; i < asked.n; i++)
		if (td_strv_contains(&slugs, asked.v[i]) || td_strv_contains(&m->tags, asked.v[i]))
			td_strv_push(tags, asked.v[i]);
	if (!tags->n) {
		add_error(ctx, "Please choose at least one tag. To get nothing at all, "
			       "use \"Unsubscribe from everything\".");
		ok = false;
	}
	td_prefs_copy(prefs, &m->prefs);
	const char *fs = td_http_arg(req, "frequency");
	if (fs && td_frequency_parse(fs, &prefs->frequency) != 0) {
		add_error(ctx, "Please choose weekly, daily or monthly.");
		ok = false;
	}
	const struct td_schedule *site = &p->co->schedule;
	int wday = parse_day(td_http_arg(req, "day")), hour = 0, minute = 0;
	if (wday < 0) {
		add_error(ctx, "Please choose a day of the week.");
		ok = false;
	}
	if (!parse_time(td_http_arg(req, "time"), &hour, &minute)) {
		add_error(ctx, "Please give the time as HH:MM, such as 08:00.");
		ok = false;
	}
	/* the site's own day and time stay "the site's", so they follow a
	 * change of [schedule] */
	if (wday >= 0) {
		prefs->own_time = !(wday == site->wday && hour == site->hour &&
				    minute == site->minute);
		prefs->wday = prefs->own_time ? wday : 0;
		prefs->hour = prefs->own_time ? hour : 0;
		prefs->minute = prefs->own_time ? minute : 0;
	}
	const char *zone = td_http_arg(req, "timezone");
	if (zone && !zone_ok(p, zone)) {
		add_error(ctx, "Please choose a time zone from the list.");
		ok = false;
	} else if (zone) {
		free(prefs->timezone);
		prefs->timezone = strcmp(zone, p->site_zone) == 0 ? NULL : td_xstrdup(zone);
	}
	const char *ps = td_http_arg(req, "pause_weeks");
	if (ps && *ps) {
		char *end;
		errno = 0;
		long w = strtol(ps, &end, 10);
		if (errno || *end || w < 0 || w > 52) {
			add_error(ctx, "Please choose a pause of 0 to 52 weeks.");
			ok = false;
		} else if (w != pause_weeks_of(m, now)) {
			/* unchanged, the pause keeps its end; changed, it
			 * starts now */
			prefs->paused_until = w ? now + (time_t)w * WEEK : 0;
		}
	}
	td_strv_free(&slugs);
	td_strv_free(&names);
	td_strv_free(&asked);
	return ok;
}

static void handle_preferences(struct td_public *p, const struct td_http_req *req,
			       const char *token, struct td_http_resp *resp)
{
	time_t now = time(NULL);
	char *email = NULL, *detail = NULL;
	enum td_token_check tc = strlen(token) > MAX_TOKEN ? TD_TOKEN_BAD :
		td_token_check_for(p->secret, "preferences", token, now, &email, &detail);
	/* preference links do not expire; one that says otherwise is not ours */
	if (tc != TD_TOKEN_OK || !td_address_valid(email, NULL, 0)) {
		td_http_bad_token(resp);
		goto out;
	}
	struct td_store *st;
	struct td_err err = { 0, "" };
	struct td_member m;
	bool found = false;
	if (!member_of(p, email, &st, &m, &found, "preferences", resp))
		goto out;
	if (!found || m.status == TD_MEMBER_PENDING) {
		td_member_free(&m);
		message(p, resp, 404, "No subscription",
			"We have no subscription for this address (any more). You can "
			"sign up again.", "../subscribe", "Sign up");
		goto out;
	}
	const char *action = req->post ? td_http_arg(req, "action") : NULL;
	const char *notice = NULL;
	int rc = 0;
	if (!req->post) {
		/* a GET only shows */
	} else if (action && strcmp(action, "save") == 0) {
		struct td_strv tags = TD_STRV_INIT;
		struct td_prefs prefs;
		memset(&prefs, 0, sizeof prefs);
		struct td_value *ctx = td_value_map();
		if (!read_prefs_form(p, req, &m, now, &tags, &prefs, ctx)) {
			preferences_page(p, resp, 400, &m, ctx, NULL, now);
			td_strv_free(&tags);
			td_prefs_clear(&prefs);
			td_member_free(&m);
			goto out;
		}
		td_value_free(ctx);
		rc = td_roster_set_prefs(st, email, &tags, &prefs, now, &err);
		td_strv_free(&tags);
		td_prefs_clear(&prefs);
		notice = "Your preferences are saved.";
	} else if (action && strcmp(action, "unsubscribe") == 0) {
		rc = td_roster_unsubscribe(st, email, "preferences", now, &err);
		notice = "You are unsubscribed from everything. Changed your mind? "
			 "Subscribe again below.";
	} else if (action && strcmp(action, "resubscribe") == 0) {
		rc = td_roster_resubscribe(st, email, now, &err);
		if (rc == EX_NOPERM) {
			rc = 0;
			notice = "Mail to this address was refused or marked as spam, so "
				 "it cannot be subscribed again here. Please write to us.";
		} else {
			notice = "Welcome back: you are subscribed again.";
		}
	} else {
		td_member_free(&m);
		message(p, resp, 400, "Nothing to do",
			"The form did not say what to do. Please use the buttons of the "
			"preferences page.", "", "Back to your preferences");
		goto out;
	}
	if (rc) {
		td_member_free(&m);
		store_trouble(p, resp, "preferences", &err);
		goto out;
	}
	if (req->post) {
		td_log_info("serve: preferences of %s: %s", email, action);
		td_member_free(&m);
		memset(&m, 0, sizeof m);
		if (td_roster_get(st, email, &m, &found, &err) || !found) {
			td_member_free(&m);
			store_trouble(p, resp, "preferences", &err);
			goto out;
		}
	}
	preferences_page(p, resp, 200, &m, NULL, notice, now);
	td_member_free(&m);
out:
	free(email);
	free(detail);
}

/* ---- dispatch ---- */

bool td_public_handle(struct td_public *p, const struct td_http_req *req,
		      struct td_http_resp *resp)
{
	static const char confirm[] = "/confirm/", prefs[] = "/preferences/";
	if (strcmp(req->path, "/subscribe") == 0 || strcmp(req->path, "/subscribe/") == 0) {
		handle_subscribe(p, req, resp);
		return true;
	}
	if (strncmp(req->path, confirm, sizeof confirm - 1) == 0) {
		handle_confirm(p, req, req->path + sizeof confirm - 1, resp);
		return true;
	}
	if (strncmp(req->path, prefs, sizeof prefs - 1) == 0) {
		handle_preferences(p, req, req->path + sizeof prefs - 1, resp);
		return true;
	}
	if (strcmp(req->path, "/confirm") == 0 || strcmp(req->path, "/preferences") == 0) {
		td_http_bad_token(resp);
		return true;
	}
	return false;
}
