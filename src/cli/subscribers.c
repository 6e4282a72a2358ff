/*
 * subscribers.c: `subscribers`, the editors' hand on the roster the store
 * keeps (roster.h): add, remove, list, show, import, export.
 *
 * Who waits for whom. A send may hold the run lock for an hour, and an
 * editor who adds or removes one reader meanwhile must not be told "try
 * later": `add` and `remove` are one short transaction each, which the
 * store serialises with the send's recorder (WAL and a busy timeout:
 * either waits milliseconds for the other), so they do not take the run
 * lock. A send asks td_roster_may_send before each message, so a reader
 * removed mid-send gets nothing after that. `import` is one transaction
 * for the whole file (all or nothing), which can hold the store's write
 * lock longer than the send's recorder waits; so it takes the run lock
 * as `ingest` does (exit 75 while a send runs), except with --dry-run,
 * which writes nothing. `list`, `show` and `export` read one snapshot
 * (td_store_begin_read) and lock nothing.
 *
 * Lists stream: td_roster_list is read in keyset pages (after_id), so a
 * million subscribers take a page of memory, not a million.
 */
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "tagdigest/cli/options.h"
#include "tagdigest/core/address.h"
#include "tagdigest/core/buf.h"
#include "tagdigest/core/log.h"
#include "tagdigest/core/util.h"
#include "tagdigest/core/value.h"
#include "tagdigest/deliver/start_clean.h"
#include "tagdigest/schedule/import.h"
#include "tagdigest/schedule/schedule.h"
#include "tagdigest/schedule/subscribers.h"
#include "tagdigest/sources/slug.h"
#include "tagdigest/store/bounces.h"
#include "tagdigest/store/lock.h"
#include "tagdigest/store/roster.h"

/* digests `show` lists */
#define SHOW_RECENT 10

static const char subscribers_help[] =
	"usage: tagdigest subscribers COMMAND [ARGS]\n\n"
	"The subscriber list the store keeps. Readers join, change their tags and\n"
	"leave on the public pages; editors use these commands and the subscriber\n"
	"file ([subscribers] path, read at the start of every run).\n\n"
	"commands:\n"
	"  add EMAIL --tags A,B [--name N]  add a subscriber, or change one's tags\n"
	"  remove EMAIL                     unsubscribe one (kept, with who did it)\n"
	"  list [--tag T] [--status S] [--json]\n"
	"                                   the subscribers, as a table or JSON\n"
	"  show EMAIL [--json]              one subscriber: tags, schedule, consent,\n"
	"                                   next digest, recent digests, unsubscribes\n"
	"  import FILE [--dry-run] [--start-clean]\n"
	"                                   add or update the rows of a CSV file,\n"
	"                                   all or nothing\n"
	"  export [--format csv|json] [--status S | --all]\n"
	"                                   the subscribers as a file import reads\n\n"
	"`tagdigest subscribers COMMAND --help` explains each.\n\n"
	"The reader's word wins: an address that unsubscribed, bounced or\n"
	"complained is never subscribed again by an editor (add, import, the\n"
	"file); the reader can come back from the preference centre or the\n"
	"sign-up page.\n\n"
	"Locking: add and remove work while a send runs (the store orders the\n"
	"writes; a reader removed mid-send gets nothing after that); import takes\n"
	"the run lock and exits 75 while a send or ingest runs; list, show and\n"
	"export only read.\n\n"
	"exit status: 0 done, 64 usage, 65 bad data (an invalid address, a bad\n"
	"row), 66 no such file, 67 no such subscriber, 75 try later (import\n"
	"while a run holds the lock), 77 refused: the reader's word wins.\n";

static const char add_help[] =
	"usage: tagdigest subscribers add EMAIL --tags A,B [--name NAME]\n\n"
	"Adds EMAIL as an active subscriber following the tags given (names or\n"
	"slugs, separated by ',' or ';': \"North Korea\" is north-korea). For a\n"
	"subscriber already in the store, sets their tags (and the name, when\n"
	"--name is given): what an editor says replaces what an editor said\n"
	"before (for a subscriber of the subscriber file, until the file changes:\n"
	"its row sets the tags again, so edit the row too). A reader who chose\n"
	"their own tags in the preference centre keeps them; only the name\n"
	"changes. A pending sign-up becomes active: you vouch for the consent,\n"
	"which is recorded as given on the command line by you ($USER).\n\n"
	"Refused (exit 77), with the reason and the way back: an address that\n"
	"unsubscribed, bounced or complained. Only the reader can come back\n"
	"(resubscribe in the preference centre, or sign up again and confirm);\n"
	"a bounce or complaint is lifted by `tagdigest unsuppress EMAIL`.\n\n"
	"Works while a send runs: it does not take the run lock.\n\n"
	"  --tags A,B    the tags to follow (required)\n"
	"  --name NAME   the display name (valid UTF-8, no line breaks, at most\n"
	"                256 bytes)\n\n"
	"exit status: 0 added, updated or unchanged; 64 no --tags; 65 an invalid\n"
	"address or name; 77 refused.\n";

static const char remove_help[] =
	"usage: tagdigest subscribers remove EMAIL\n\n"
	"Unsubscribes EMAIL from everything. The subscriber stays in the store\n"
	"as unsubscribed, with when and by whom, so the subscriber file or an\n"
	"import cannot bring them back; only the reader can (preference centre,\n"
	"or signing up again). To drop a row of the subscriber file for good,\n"
	"delete it from the file instead: the next run removes it.\n\n"
	"Works while a send runs: it does not take the run lock, and a reader\n"
	"removed mid-send gets no digest after it.\n\n"
	"exit status: 0 unsubscribed (or already was), 67 not a subscriber.\n";

static const char list_help[] =
	"usage: tagdigest subscribers list [--tag TAG] [--status STATUS] [--json]\n\n"
	"Every subscriber in the order they were added: address, name, status,\n"
	"tags and frequency, as a table. Reads the store only.\n\n"
	"  --tag TAG        only those following TAG (a name or a slug)\n"
	"  --status STATUS  only pending, active, unsubscribed, bounced or\n"
	"                   complained (default: every status)\n"
	"  --json           one JSON array of the subscribers, an object a line\n"
	"                   (the fields of `show --json` without its history),\n"
	"                   written as the store is read, so any number streams\n";

static const char show_help[] =
	"usage: tagdigest subscribers show EMAIL [--json]\n\n"
	"One subscriber: status, tags, frequency, the day, time and zone of their\n"
	"digest (the site's when they chose none), a pause, the consent record\n"
	"(when, how, from where), when they were added, confirmed and last\n"
	"changed, when their next digest is due, their last digests, their\n"
	"unsubscribes and what came back by mail (bounce score, hard bounces, the\n"
	"newest bounces, complaints and auto-replies: `tagdigest bounces`). Times\n"
	"are shown in the site's zone ([schedule] timezone).\n"
	"Reads the store only.\n\n"
	"  --json   one JSON object; times as UTC, \"2026-12-07T07:00:00Z\"\n\n"
	"exit status: 0 shown, 67 not a subscriber.\n";

static const char import_help[] =
	"usage: tagdigest subscribers import FILE [--dry-run] [--start-clean]\n\n"
	"Adds or updates the subscribers of FILE, a CSV file like the subscriber\n"
	"file (columns email, name, tags; tags separated by ';'; other columns\n"
	"are ignored, so a file from `subscribers export` imports as it is).\n"
	"Nothing is removed. All or nothing: every bad row is reported as\n"
	"FILE:LINE and nothing is stored (exit 65). Rows for addresses that\n"
	"unsubscribed, bounced or complained change nothing (the reader's word\n"
	"wins), nor do the tags of a reader who chose their own; the summary\n"
	"counts both.\n\n"
	"Takes the run lock (the import is one transaction): while a send or\n"
	"ingest runs it exits 75 and changes nothing; run it again later. On a\n"
	"PostgreSQL store it waits (at most two minutes) for a send's sync or\n"
	"another import instead, and sends go on meanwhile.\n\n"
	"  --dry-run   read and check everything and say what would change;\n"
	"              store nothing (takes no lock)\n"
	"  --start-clean\n"
	"              the file's readers who never had a digest start clean,\n"
	"              as `run --no-send` does: what the store holds now counts\n"
	"              as seen, their first digest comes at their next slot with\n"
	"              only what arrives after (not the last [schedule]\n"
	"              first_digest_days); readers who had one are left alone.\n"
	"              Right after the import, under the same lock; running the\n"
	"              command again finishes one that was cut short\n\n"
	"exit status: 0 imported, 65 bad rows, 66 no such file, 75 try later.\n";

static const char export_help[] =
	"usage: tagdigest subscribers export [--format csv|json] [--status S | --all]\n\n"
	"Writes the subscribers to standard output, in the order they were\n"
	"added, streaming. CSV (RFC 4180, CRLF line ends) has the columns\n"
	"email, name, tags (separated by ';'), then status, frequency, day, time,\n"
	"timezone (empty: the site's), paused_until, origin, created_at,\n"
	"confirmed_at, changed_at, consent_at, consent_how and consent_from\n"
	"(times as UTC, 2026-12-07T07:00:00Z). `subscribers import` reads it\n"
	"back: email, name and tags give the same list; the other columns are\n"
	"for people and other tools. JSON is JSON lines, one object per\n"
	"subscriber (the objects of `list --json`).\n\n"
	"  --format F   csv (default) or json\n"
	"  --status S   only subscribers with status S (default: active, the\n"
	"               readers who get digests)\n"
	"  --all        every status. Keep such a file as a record; importing it\n"
	"               into a new store would subscribe every row in it\n";

/* ---- small helpers ---- */

/* Who runs the command, for the consent record: $USER, else the
 * password database, else the uid. Only printable ASCII is kept, since
 * `show` prints it back. */
static void current_user(char *out, size_t n)
{
	const char *u = getenv("USER");
	if (!u || !*u) {
		struct passwd *pw = getpwuid(geteuid());
		u = pw ? pw->pw_name : NULL;
	}
	bool ok = u && *u && strlen(u) < n;
	for (const char *p = u; ok && *p; p++)
		ok = *p > 0x20 && *p < 0x7f;
	if (ok)
		snprintf(out, n, "%s", u);
	else
		snprintf(out, n, "uid %u", (unsigned)geteuid());
}

/* "2026-12-07T07:00:00Z", or "" for 0 (never). */
static const char *utc_time(time_t t, char *out, size_t n)
{
	struct tm tm;
	out[0] = '\0';
	if (t && gmtime_r(&t, &tm))
		strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return out;
}

/* Wall-clock time in the site's zone, for people; "never" for 0. */
static const char *local_time(const struct td_config *cfg, time_t t, char *out,
			      size_t n)
{
	if (!t)
		snprintf(out, n, "never");
	else
		td_tz_format(cfg->tz, t, "%Y-%m-%d %H:%M %Z", out, n);
	return out;
}

/* "monday", from the C library's day names. */
static const char *day_name(int wday, char *out, size_t n)
{
	struct tm tm = { .tm_wday = wday };
	strftime(out, n, "%A", &tm);
	for (char *p = out; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	return out;
}

/* --tags: names or slugs separated by ',' or ';', each made a slug;
 * empty ones and repeats dropped. */
static void parse_tags(const char *arg, struct td_strv *out)
{
	char *copy = td_xstrdup(arg), *save = NULL;
	for (char *t = strtok_r(copy, ",;", &save); t; t = strtok_r(NULL, ",;", &save)) {
		char *slug = td_slugify(t);
		if (*slug && !td_strv_contains(out, slug))
			td_strv_push_owned(out, slug);
		else
			free(slug);
	}
	free(copy);
}

static void join(struct td_buf *b, const struct td_strv *v, const char *sep)
{
	for (size_t i = 0; i < v->n; i++)
		td_buf_printf(b, "%s%s", i ? sep : "", v->v[i]);
}

/* s, then blanks up to `cols` terminal columns (at least one blank). */
static void print_cell(const char *s, size_t cols)
{
	size_t w = td_utf8_width(s, strlen(s));
	fputs(s, stdout);
	for (size_t i = w; i < cols || i == w; i++)
		fputc(' ', stdout);
}

/* What every command that takes one argument (EMAIL, FILE) does first:
 * its options, the argument (a usage error naming `what` when missing),
 * then the config. On 0 without *helped, the caller frees cfg. */
static int start(const struct td_cli_globals *g, const char *cmd, const char *help,
		 int argc, char **argv, struct td_cli_opt *opts, size_t nopts,
		 const char *what, const char **arg, bool *helped, struct td_config *cfg)
{
	size_t npos;
	*arg = NULL;
	int rc = td_cli_parse_args(cmd, help, argc, argv, opts, nopts, arg, 1, &npos,
				   helped);
	if (rc || *helped)
		return rc;
	if (!npos)
		return td_cli_usage_error(cmd, what, NULL);
	return td_cli_load_config(g, cfg);
}

static int open_store(const struct td_config *cfg, enum td_store_mode mode,
		      struct td_store **st)
{
	struct td_err err = { 0, "" };
	if (td_store_open(cfg->store_path, mode, st, &err))
		return td_cli_fail(&err);
	return 0;
}

/* The status named on the command line, or a usage error listing them. */
static int parse_status(const char *cmd, const char *s, enum td_member_status *out)
{
	if (td_member_status_parse(s, out) == 0)
		return 0;
	return td_cli_usage_error(cmd, "--status is one of pending, active, unsubscribed, "
				  "bounced, complained, not", s);
}

/* The subscriber's schedule in words: "weekly, monday 08:00
 * Europe/Berlin (the site's)". */
static void describe_schedule(const struct td_config *cfg, const struct td_member *m,
			      struct td_buf *b)
{
	const struct td_prefs *p = &m->prefs;
	char day[32];
	int wday = p->own_time ? p->wday : cfg->slot_wday;
	int hour = p->own_time ? p->hour : cfg->slot_hour;
	int minute = p->own_time ? p->minute : cfg->slot_minute;
	td_buf_printf(b, "%s, ", td_frequency_name(p->frequency));
	if (p->frequency == TD_FREQ_WEEKLY)
		td_buf_printf(b, "%s ", day_name(wday, day, sizeof day));
	else if (p->frequency == TD_FREQ_MONTHLY)
		td_buf_printf(b, "first %s ", day_name(wday, day, sizeof day));
	td_buf_printf(b, "%02d:%02d %s", hour, minute,
		      p->timezone ? p->timezone : td_tz_name(cfg->tz));
	if (!p->own_time && !p->timezone)
		td_buf_puts(b, " (the site's)");
	else if (!p->own_time)
		td_buf_puts(b, " (the site's day and time)");
	else if (!p->timezone)
		td_buf_puts(b, " (the site's zone)");
}

/* ---- a subscriber as JSON and as a CSV row ---- */

static struct td_value *time_value(time_t t)
{
	char s[32];
	return t ? td_value_string(utc_time(t, s, sizeof s)) : td_value_null();
}

static struct td_value *member_json(const struct td_member *m)
{
	struct td_value *o = td_value_map();
	td_value_map_set_str(o, "email", m->email);
	td_value_map_set_str(o, "name", m->name ? m->name : "");
	td_value_map_set_str(o, "status", td_member_status_name(m->status));
	struct td_value *tags = td_value_map_child(o, "tags", TD_VALUE_LIST);
	for (size_t i = 0; i < m->tags.n; i++)
		td_value_list_push(tags, td_value_string(m->tags.v[i]));
	td_value_map_set_str(o, "frequency", td_frequency_name(m->prefs.frequency));
	char day[32], hm[8];
	if (m->prefs.own_time) {
		snprintf(hm, sizeof hm, "%02d:%02d", m->prefs.hour % 24, m->prefs.minute % 60);
		td_value_map_set_str(o, "day", day_name(m->prefs.wday, day, sizeof day));
		td_value_map_set_str(o, "time", hm);
	} else {
		td_value_map_set(o, "day", td_value_null());
		td_value_map_set(o, "time", td_value_null());
	}
	td_value_map_set(o, "timezone", m->prefs.timezone ?
			 td_value_string(m->prefs.timezone) : td_value_null());
	td_value_map_set(o, "paused_until", time_value(m->prefs.paused_until));
	td_value_map_set_bool(o, "reader_choice", m->reader_choice);
	td_value_map_set_str(o, "origin", m->origin ? m->origin : "");
	td_value_map_set(o, "created_at", time_value(m->created_at));
	td_value_map_set(o, "confirmed_at", time_value(m->confirmed_at));
	td_value_map_set(o, "changed_at", time_value(m->changed_at));
	struct td_value *c = td_value_map_child(o, "consent", TD_VALUE_MAP);
	td_value_map_set(c, "at", time_value(m->consent_at));
	td_value_map_set_str(c, "how", m->consent_how ? m->consent_how : "");
	td_value_map_set_str(c, "from", m->consent_from ? m->consent_from : "");
	return o;
}

/* One RFC 4180 field: quoted when it holds a comma, a quote, a line
 * break or blanks at an end (which the reader would trim). */
static void csv_field(struct td_buf *b, const char *s)
{
	size_t n = strlen(s);
	bool quote = strpbrk(s, ",\"\r\n") ||
		     (n && (s[0] == ' ' || s[0] == '\t' || s[n - 1] == ' ' || s[n - 1] == '\t'));
	if (!quote) {
		td_buf_append(b, s, n);
		return;
	}
	td_buf_putc(b, '"');
	for (const char *p = s; *p; p++) {
		if (*p == '"')
			td_buf_putc(b, '"');
		td_buf_putc(b, *p);
	}
	td_buf_putc(b, '"');
}

static const char csv_header[] =
	"email,name,tags,status,frequency,day,time,timezone,paused_until,origin,"
	"created_at,confirmed_at,changed_at,consent_at,consent_how,consent_from\r\n";

static void member_csv(const struct td_member *m, struct td_buf *b)
{
	char t[32], day[32] = "", hm[8] = "";
	struct td_buf tags = TD_BUF_INIT;
	join(&tags, &m->tags, ";");
	if (m->prefs.own_time) {
		day_name(m->prefs.wday, day, sizeof day);
		snprintf(hm, sizeof hm, "%02d:%02d", m->prefs.hour % 24, m->prefs.minute % 60);
	}
	const char *fields[] = {
		m->email, m->name ? m->name : "", td_buf_cstr(&tags),
		td_member_status_name(m->status), td_frequency_name(m->prefs.frequency),
		day, hm, m->prefs.timezone ? m->prefs.timezone : "",
	};
	for (size_t i = 0; i < sizeof fields / sizeof *fields; i++) {
		csv_field(b, fields[i]);
		td_buf_putc(b, ',');
	}
	td_buf_printf(b, "%s,", utc_time(m->prefs.paused_until, t, sizeof t));
	csv_field(b, m->origin ? m->origin : "");
	td_buf_printf(b, ",%s,", utc_time(m->created_at, t, sizeof t));
	td_buf_printf(b, "%s,", utc_time(m->confirmed_at, t, sizeof t));
	td_buf_printf(b, "%s,", utc_time(m->changed_at, t, sizeof t));
	td_buf_printf(b, "%s,", utc_time(m->consent_at, t, sizeof t));
	csv_field(b, m->consent_how ? m->consent_how : "");
	td_buf_putc(b, ',');
	csv_field(b, m->consent_from ? m->consent_from : "");
	td_buf_puts(b, "\r\n");
	td_buf_free(&tags);
}

/* ---- walking the roster page by page ---- */

typedef void (*member_fn)(const struct td_member *m, void *arg);

/* Calls fn for every subscriber the filter lets through, in id order,
 * one snapshot of the store, TD_ROSTER_PAGE at a time. */
static int walk(struct td_store *st, struct td_roster_filter f, member_fn fn, void *arg,
		size_t *count, struct td_err *err)
{
	int rc;
	*count = 0;
	if ((rc = td_store_begin_read(st, err)))
		return rc;
	f.limit = TD_ROSTER_PAGE;
	f.after_id = 0;
	for (;;) {
		struct td_member *page = NULL;
		size_t n = 0;
		if ((rc = td_roster_list(st, &f, &page, &n, err)))
			break;
		for (size_t i = 0; i < n; i++)
			fn(&page[i], arg);
		*count += n;
		if (n)
			f.after_id = page[n - 1].id;
		td_members_free(page, n);
		if (n < f.limit)
			break;
	}
	if (rc) {
		td_store_rollback(st);
		return rc;
	}
	return td_store_commit(st, err);
}

/* Standard output, flushed and checked: a full disk is an error, not a
 * short file. */
static int finish_output(const char *cmd)
{
	if (fflush(stdout) != 0 || ferror(stdout)) {
		td_log_warn("subscribers %s: writing standard output", cmd);
		return EX_IOERR;
	}
	return 0;
}

/* ---- add ---- */

/* Why the store keeps an address out, and the way back, for the editor. */
static void explain_kept_out(const struct td_config *cfg, struct td_store *st,
			     const char *email)
{
	struct td_member m;
	bool found = false;
	struct td_err err = { 0, "" };
	char when[64], detail[512] = "";
	if (td_roster_get(st, email, &m, &found, &err) || !found) {
		td_member_free(&m);
		td_log_warnx("subscribers add: %s: the store keeps this address out "
			     "(unsubscribed, bounced or complained); nothing changed", email);
		return;
	}
	struct td_suppression *sup = NULL;
	size_t nsup = 0;
	if (td_store_suppressions(st, email, &sup, &nsup, &err) == 0)
		for (size_t i = 0; i < nsup; i++)
			if (strcmp(sup[i].scope, "all") == 0 && *sup[i].detail)
				snprintf(detail, sizeof detail, " (%s)", sup[i].detail);
	td_store_suppressions_free(sup, nsup);
	local_time(cfg, m.changed_at, when, sizeof when);
	switch (m.status) {
	case TD_MEMBER_BOUNCED:
		td_log_warnx("subscribers add: %s bounced on %s%s: their mail server refuses "
			     "digests, so the store keeps them out; nothing changed.\n"
			     "  When the address works again, `tagdigest unsuppress %s` "
			     "makes them active.", m.email, when, detail, m.email);
		break;
	case TD_MEMBER_COMPLAINED:
		td_log_warnx("subscribers add: %s marked a digest as spam on %s%s, so the "
			     "store keeps them out; nothing changed.\n"
			     "  Only the reader can undo that: if they ask you to, "
			     "`tagdigest unsuppress %s` makes them active.", m.email, when,
			     detail, m.email);
		break;
	default:
		td_log_warnx("subscribers add: %s unsubscribed on %s%s, and only the reader "
			     "can subscribe again; nothing changed.\n"
			     "  They can come back with \"resubscribe\" in the preference "
			     "centre (linked from every digest), or by signing up again at "
			     "%s/subscribe and confirming.", m.email, when, detail,
			     cfg->public_url);
		break;
	}
	td_member_free(&m);
}

/* A warning for each tag no post carries (yet): most often a typo. */
static void warn_unknown_tags(struct td_store *st, const struct td_strv *tags)
{
	struct td_strv slugs = TD_STRV_INIT, names = TD_STRV_INIT;
	struct td_err err = { 0, "" };
	if (td_store_post_count(st) > 0 &&
	    td_roster_site_tags(st, &slugs, &names, &err) == 0)
		for (size_t i = 0; i < tags->n; i++)
			if (!td_strv_contains(&slugs, tags->v[i]))
				td_log_warnx("subscribers add: no post has the tag '%s' yet "
					     "(a typo?); it is followed all the same",
					     tags->v[i]);
	td_strv_free(&slugs);
	td_strv_free(&names);
}

/* What `add` is told, checked before anything is opened: *tags gets the
 * slugs. */
/* A subscriber of the subscriber file gets the file's row again the next
 * time the file changes (import.h: SYNC): say so, and where to edit. */
static void warn_file_row(const struct td_config *cfg, struct td_store *st,
			  const char *email)
{
	struct td_member m;
	bool found = false;
	struct td_err err = { 0, "" };
	if (td_roster_get(st, email, &m, &found, &err) == 0 && found && m.origin &&
	    strcmp(m.origin, "csv") == 0)
		td_log_warnx("subscribers add: %s comes from the subscriber file %s; the "
			     "next time the file changes, its row sets their tags again: "
			     "change the row too", email, cfg->subscribers_path);
	td_member_free(&m);
}

static int check_add(const char *cmd, const char *email, const char *name,
		     const char *tags_arg, struct td_strv *tags)
{
	char why[128];
	if (!td_address_valid(email, why, sizeof why)) {
		td_log_warnx("%s: '%s' is not an address tagdigest can send to: %s", cmd,
			     email, why);
		return EX_DATAERR;
	}
	if (name && !td_display_name_valid(name, why, sizeof why)) {
		td_log_warnx("%s: %s: the name %s", cmd, email, why);
		return EX_DATAERR;
	}
	if (!tags_arg)
		return td_cli_usage_error(cmd, "--tags is required: the tags to follow, "
					  "e.g. --tags nato,usa", NULL);
	parse_tags(tags_arg, tags);
	if (!tags->n)
		return td_cli_usage_error(cmd, "--tags names no tag", tags_arg);
	return 0;
}

static int cmd_add(const struct td_cli_globals *g, int argc, char **argv)
{
	const char *cmd = "subscribers add";
	const char *tags_arg = NULL, *name = NULL, *email;
	bool helped;
	struct td_cli_opt opts[] = {
		{ "--tags", true, &tags_arg, NULL },
		{ "--name", true, &name, NULL },
	};
	struct td_config cfg;
	int rc = start(g, cmd, add_help, argc, argv, opts, 2,
			 "an EMAIL is required", &email, &helped, &cfg);
	if (rc || helped)
		return rc;
	struct td_strv tags = TD_STRV_INIT;
	struct td_store *st = NULL;
	struct td_err err = { 0, "" };
	if ((rc = check_add(cmd, email, name, tags_arg, &tags)))
		goto out;
	char user[64];
	current_user(user, sizeof user);
	enum td_roster_result res = TD_ROSTER_UNCHANGED;
	struct td_roster_row row = { email, name, &tags, "cli", user };
	if ((rc = open_store(&cfg, TD_STORE_READWRITE, &st)))
		goto out;
	if ((rc = td_store_begin(st, &err)) == 0) {
		if ((rc = td_roster_put(st, &row, time(NULL), &res, &err)))
			td_store_rollback(st);
		else
			rc = td_store_commit(st, &err);
	}
	if (rc) {
		td_cli_fail(&err);
		goto out;
	}
	struct td_buf list = TD_BUF_INIT;
	join(&list, &tags, ", ");
	switch (res) {
	case TD_ROSTER_ADDED:
		td_cli_result("subscribers add: %s added, following %s\n", email, td_buf_cstr(&list));
		warn_unknown_tags(st, &tags);
		break;
	case TD_ROSTER_UPDATED:
		td_cli_result("subscribers add: %s updated, following %s\n", email, td_buf_cstr(&list));
		warn_unknown_tags(st, &tags);
		warn_file_row(&cfg, st, email);
		break;
	case TD_ROSTER_UNCHANGED:
		td_cli_result("subscribers add: %s already follows %s; nothing changed\n", email,
		       td_buf_cstr(&list));
		break;
	case TD_ROSTER_READER_KEPT:
		td_cli_result("subscribers add: %s chose their own tags in the preference centre, "
		       "and they stay%s\n", email, name ? "; the name was updated" : "");
		break;
	case TD_ROSTER_KEPT_OUT:
		explain_kept_out(&cfg, st, email);
		rc = EX_NOPERM;
		break;
	}
	td_buf_free(&list);
out:
	td_store_close(st);
	td_config_free(&cfg);
	td_strv_free(&tags);
	return rc;
}

/* ---- remove ---- */

static int cmd_remove(const struct td_cli_globals *g, int argc, char **argv)
{
	const char *cmd = "subscribers remove", *email;
	bool helped;
	struct td_config cfg;
	int rc = start(g, cmd, remove_help, argc, argv, NULL, 0,
			 "an EMAIL is required", &email, &helped, &cfg);
	if (rc || helped)
		return rc;
	struct td_store *st = NULL;
	struct td_err err = { 0, "" };
	struct td_member m;
	bool found = false;
	char user[64], when[64];
	current_user(user, sizeof user);
	/* the detail of the unsubscribe: who, and how */
	char *by = td_xasprintf("subscribers remove by %s", user);
	memset(&m, 0, sizeof m);
	if ((rc = open_store(&cfg, TD_STORE_READWRITE, &st)))
		goto out;
	/* one transaction: the status read and the change see the same row */
	if ((rc = td_store_begin(st, &err)))
		goto fail;
	if ((rc = td_roster_get(st, email, &m, &found, &err)) ||
	    (found && m.status != TD_MEMBER_UNSUBSCRIBED &&
	     m.status != TD_MEMBER_BOUNCED && m.status != TD_MEMBER_COMPLAINED &&
	     (rc = td_roster_remove(st, email, by, time(NULL), &found, &err)))) {
		td_store_rollback(st);
		goto fail;
	}
	if ((rc = td_store_commit(st, &err)))
		goto fail;
	if (!found) {
		td_log_warnx("%s: %s is not a subscriber", cmd, email);
		rc = EX_NOUSER;
	} else if (m.status == TD_MEMBER_UNSUBSCRIBED || m.status == TD_MEMBER_BOUNCED ||
		   m.status == TD_MEMBER_COMPLAINED) {
		td_cli_result("subscribers remove: %s gets no digests already (%s since %s); "
		       "nothing changed\n", m.email, td_member_status_name(m.status),
		       local_time(&cfg, m.changed_at, when, sizeof when));
	} else {
		td_cli_result("subscribers remove: %s unsubscribed; kept in the store so no file "
		       "or import brings them back (only the reader can)\n", email);
	}
	goto out;
fail:
	td_cli_fail(&err);
out:
	free(by);
	td_member_free(&m);
	td_store_close(st);
	td_config_free(&cfg);
	return rc;
}

/* ---- list ---- */

static void print_row(const struct td_member *m, void *arg)
{
	(void)arg;
	struct td_buf tags = TD_BUF_INIT;
	join(&tags, &m->tags, ";");
	print_cell(m->email, 32);
	print_cell(m->name && *m->name ? m->name : "-", 24);
	print_cell(td_member_status_name(m->status), 12);
	print_cell(tags.len ? td_buf_cstr(&tags) : "-", 28);
	printf("%s\n", td_frequency_name(m->prefs.frequency));
	td_buf_free(&tags);
}

static void print_json_line(const struct td_member *m, void *arg)
{
	struct td_buf *b = arg;
	struct td_value *v = member_json(m);
	td_buf_reset(b);
	td_value_json(v, b);
	td_buf_putc(b, '\n');
	fwrite(b->data, 1, b->len, stdout);
	td_value_free(v);
}

/* `list --json`: one array, an object a line, written as the roster is
 * read (so a million readers stream); count is how many went before. */
struct json_array {
	struct td_buf b;
	size_t count;
};

static void print_json_item(const struct td_member *m, void *arg)
{
	struct json_array *a = arg;
	struct td_value *v = member_json(m);
	td_buf_reset(&a->b);
	td_buf_puts(&a->b, a->count++ ? ",\n" : "\n");
	td_value_json(v, &a->b);
	fwrite(a->b.data, 1, a->b.len, stdout);
	td_value_free(v);
}

static void print_csv_line(const struct td_member *m, void *arg)
{
	struct td_buf *b = arg;
	td_buf_reset(b);
	member_csv(m, b);
	fwrite(b->data, 1, b->len, stdout);
}

/* The filter of --tag and --status; a usage error when either is bad. */
static int make_filter(const char *cmd, const char *tag, const char *status,
		       struct td_roster_filter *f, char **slug)
{
	*slug = NULL;
	memset(f, 0, sizeof *f);
	f->any_status = true;
	if (status) {
		int rc = parse_status(cmd, status, &f->status);
		if (rc)
			return rc;
		f->any_status = false;
	}
	if (tag) {
		*slug = td_slugify(tag);
		if (!**slug) {
			free(*slug);
			*slug = NULL;
			return td_cli_usage_error(cmd, "--tag names no tag", tag);
		}
		f->tag = *slug;
	}
	return 0;
}

static int cmd_list(const struct td_cli_globals *g, int argc, char **argv)
{
	const char *cmd = "subscribers list", *tag = NULL, *status = NULL;
	bool helped, json = false;
	struct td_cli_opt opts[] = {
		{ "--tag", true, &tag, NULL },
		{ "--status", true, &status, NULL },
		{ "--json", false, NULL, &json },
	};
	int rc = td_cli_parse_opts(cmd, list_help, argc, argv, opts, 3, &helped);
	if (rc || helped)
		return rc;
	struct td_roster_filter f;
	char *slug;
	if ((rc = make_filter(cmd, tag, status, &f, &slug)))
		return rc;
	struct td_config cfg;
	if ((rc = td_cli_load_config(g, &cfg))) {
		free(slug);
		return rc;
	}
	struct td_store *st = NULL;
	struct td_err err = { 0, "" };
	struct json_array a = { TD_BUF_INIT, 0 };
	size_t count = 0;
	if (!(rc = open_store(&cfg, TD_STORE_READONLY, &st))) {
		if (json) {
			putchar('[');
		} else {
			print_cell("EMAIL", 32);
			print_cell("NAME", 24);
			print_cell("STATUS", 12);
			print_cell("TAGS", 28);
			printf("FREQUENCY\n");
		}
		rc = walk(st, f, json ? print_json_item : print_row, &a, &count, &err);
		if (rc)
			td_cli_fail(&err);
		else if (json)
			printf("%s]\n", count ? "\n" : "");
		else
			printf("(%zu subscriber%s)\n", count, count == 1 ? "" : "s");
		if (!rc)
			rc = finish_output("list");
	}
	td_buf_free(&a.b);
	td_store_close(st);
	td_config_free(&cfg);
	free(slug);
	return rc;
}

/* ---- show ---- */

/* When the next digest is due, by the send engine's rule
 * (td_schedule_due). */
static int next_due(const struct td_config *cfg, struct td_store *st,
		    const struct td_member *m, time_t now, time_t *due, bool *due_now,
		    struct td_err *err)
{
	*due = 0;
	*due_now = false;
	if (m->status != TD_MEMBER_ACTIVE)
		return 0;
	struct td_subscriber_state state;
	int rc = td_store_subscriber_state(st, m->email, &state, err);
	if (rc)
		return rc;
	struct td_schedule site = td_options_schedule(cfg);
	struct td_zones *zones = td_zones_new();
	struct td_schedule s = td_schedule_for(&site, &m->prefs, zones);
	struct td_subscriber view;
	td_member_subscriber(m, &view);
	struct td_due d = td_schedule_due(&s, &m->prefs, view.not_before, state.last_slot, now);
	*due_now = d.now;
	*due = d.next;
	td_zones_free(zones);
	return 0;
}

/* What came back by mail for one subscriber (store/bounces.h). */
struct bounce_info {
	struct td_bounce_policy pol;
	double score;                 /* decayed to now */
	int hard;
	struct td_bounce_event *ev;   /* newest first */
	size_t n;
};

static int read_bounces(const struct td_config *cfg, struct td_store *st,
			const char *email, struct bounce_info *b, struct td_err *err)
{
	b->pol = td_options_bounces(cfg, NULL).policy;
	int rc = td_store_bounce_score(st, email, &b->pol, time(NULL), &b->score, &b->hard,
				       err);
	return rc ? rc : td_store_bounce_events(st, email, SHOW_RECENT, &b->ev, &b->n, err);
}

static void show_bounces_text(const struct td_config *cfg, const struct bounce_info *b)
{
	char t[64], slot[64];
	if (!b->n && b->score < 0.05 && !b->hard) {
		printf("  bounces:      none\n");
		return;
	}
	printf("  bounces:      score %.1f of %g (halves every %d day%s), %d hard "
	       "(suppressed at %d)\n", b->score, b->pol.soft_threshold,
	       b->pol.soft_half_life_days, b->pol.soft_half_life_days == 1 ? "" : "s",
	       b->hard, b->pol.hard_after);
	for (size_t i = 0; i < b->n; i++) {
		const struct td_bounce_event *e = &b->ev[i];
		printf("    %s  %s", local_time(cfg, e->at, t, sizeof t),
		       td_bounce_kind_name(e->kind));
		if (*e->status)
			printf(" %s", e->status);
		if (*e->reason)
			printf(" %s", e->reason);
		if (*e->feedback_type)
			printf(" (%s)", e->feedback_type);
		if (e->slot)
			printf(" (digest of %s)", local_time(cfg, e->slot, slot, sizeof slot));
		printf(": %s%s%.160s\n", td_bounce_action_name(e->action),
		       *e->detail ? ": " : "", e->detail);
	}
}

static struct td_value *str_or_null(const char *s)
{
	return *s ? td_value_string(s) : td_value_null();
}

static void show_bounces_json(struct td_value *o, const struct bounce_info *b)
{
	struct td_value *x = td_value_map_child(o, "bounces", TD_VALUE_MAP);
	char score[32];
	snprintf(score, sizeof score, "%.3f", b->score);
	td_value_map_set(x, "score", td_value_number(score));
	td_value_map_set_int(x, "hard", b->hard);
	struct td_value *l = td_value_map_child(x, "events", TD_VALUE_LIST);
	for (size_t i = 0; i < b->n; i++) {
		const struct td_bounce_event *e = &b->ev[i];
		struct td_value *v = td_value_list_push(l, td_value_map());
		td_value_map_set(v, "at", time_value(e->at));
		td_value_map_set_str(v, "kind", td_bounce_kind_name(e->kind));
		td_value_map_set(v, "status", str_or_null(e->status));
		td_value_map_set(v, "reply_code", str_or_null(e->reply_code));
		td_value_map_set(v, "reason", str_or_null(e->reason));
		td_value_map_set(v, "feedback_type", str_or_null(e->feedback_type));
		td_value_map_set(v, "digest_slot", time_value(e->slot));
		td_value_map_set_str(v, "action", td_bounce_action_name(e->action));
		td_value_map_set_str(v, "detail", e->detail);
	}
}

static void show_text(const struct td_config *cfg, const struct td_member *m,
		      time_t due, bool due_now, time_t started,
		      const struct td_delivery_record *d,
		      size_t nd, const struct td_suppression *sup, size_t nsup,
		      const struct bounce_info *bi)
{
	char t[64];
	struct td_buf b = TD_BUF_INIT;
	printf("%s%s%s%s\n", m->email, m->name && *m->name ? " (" : "",
	       m->name ? m->name : "", m->name && *m->name ? ")" : "");
	printf("  status:       %s\n", td_member_status_name(m->status));
	join(&b, &m->tags, ", ");
	printf("  tags:         %s%s\n", b.len ? td_buf_cstr(&b) : "none",
	       m->reader_choice ? " (chosen by the reader)" : "");
	td_buf_reset(&b);
	describe_schedule(cfg, m, &b);
	printf("  schedule:     %s\n", td_buf_cstr(&b));
	if (m->prefs.paused_until > time(NULL))
		printf("  paused until: %s\n", local_time(cfg, m->prefs.paused_until, t, sizeof t));
	printf("  consent:      %s", local_time(cfg, m->consent_at, t, sizeof t));
	printf(", %s, from %s\n", m->consent_how && *m->consent_how ? m->consent_how : "?",
	       m->consent_from && *m->consent_from ? m->consent_from : "?");
	printf("  origin:       %s\n", m->origin && *m->origin ? m->origin : "?");
	printf("  created:      %s\n", local_time(cfg, m->created_at, t, sizeof t));
	printf("  confirmed:    %s\n", local_time(cfg, m->confirmed_at, t, sizeof t));
	printf("  changed:      %s\n", local_time(cfg, m->changed_at, t, sizeof t));
	if (m->status != TD_MEMBER_ACTIVE)
		printf("  next digest:  none (%s)\n", td_member_status_name(m->status));
	else if (due_now)
		printf("  next digest:  due now (the slot of %s)\n",
		       local_time(cfg, due, t, sizeof t));
	else
		printf("  next digest:  %s\n", local_time(cfg, due, t, sizeof t));
	/* and on the reader's own clock, which is what they chose */
	struct td_tz *own = m->prefs.timezone && due ? td_tz_load(m->prefs.timezone) : NULL;
	if (own) {
		td_tz_format(own, due, "%Y-%m-%d %H:%M %Z", t, sizeof t);
		printf("                (%s in %s)\n", t, m->prefs.timezone);
		td_tz_free(own);
	}
	/* not a digest: what the store held then counted as seen */
	if (started)
		printf("  started:      clean at %s (the posts stored then count as "
		       "seen; no digest was sent)\n",
		       local_time(cfg, started, t, sizeof t));
	printf("  recent digests:%s\n", nd ? "" : " none");
	for (size_t i = 0; i < nd; i++) {
		printf("    %s  ", local_time(cfg, d[i].slot, t, sizeof t));
		if (d[i].skipped)
			printf("skipped (no new posts)\n");
		else
			printf("sent %zu post%s <%s>\n", d[i].post_count,
			       d[i].post_count == 1 ? "" : "s", d[i].message_id);
	}
	printf("  unsubscribes:%s\n", nsup ? "" : " none");
	for (size_t i = 0; i < nsup; i++)
		printf("    %-12s %s %s%s%s\n", sup[i].scope, sup[i].reason,
		       local_time(cfg, sup[i].created_at, t, sizeof t),
		       *sup[i].detail ? ": " : "", sup[i].detail);
	show_bounces_text(cfg, bi);
	td_buf_free(&b);
}

static void show_json(const struct td_member *m, time_t due, bool due_now,
		      time_t started, const struct td_delivery_record *d, size_t nd,
		      const struct td_suppression *sup, size_t nsup,
		      const struct bounce_info *bi)
{
	struct td_value *o = member_json(m);
	td_value_map_set(o, "next_due", time_value(due));
	td_value_map_set_bool(o, "due_now", due_now);
	td_value_map_set(o, "started_clean", time_value(started));
	struct td_value *dl = td_value_map_child(o, "recent_digests", TD_VALUE_LIST);
	for (size_t i = 0; i < nd; i++) {
		struct td_value *x = td_value_list_push(dl, td_value_map());
		td_value_map_set(x, "slot", time_value(d[i].slot));
		td_value_map_set(x, "at", time_value(d[i].at));
		td_value_map_set_str(x, "status", d[i].skipped ? "skipped" : "sent");
		td_value_map_set(x, "message_id", d[i].skipped ? td_value_null() :
				 td_value_string(d[i].message_id));
		td_value_map_set_int(x, "posts", (long long)d[i].post_count);
	}
	struct td_value *sl = td_value_map_child(o, "unsubscribes", TD_VALUE_LIST);
	for (size_t i = 0; i < nsup; i++) {
		struct td_value *x = td_value_list_push(sl, td_value_map());
		td_value_map_set_str(x, "scope", sup[i].scope);
		td_value_map_set_str(x, "reason", sup[i].reason);
		td_value_map_set_str(x, "detail", sup[i].detail);
		td_value_map_set(x, "at", time_value(sup[i].created_at));
	}
	show_bounces_json(o, bi);
	struct td_buf b = TD_BUF_INIT;
	td_value_json(o, &b);
	td_buf_putc(&b, '\n');
	fwrite(b.data, 1, b.len, stdout);
	td_buf_free(&b);
	td_value_free(o);
}

static int cmd_show(const struct td_cli_globals *g, int argc, char **argv)
{
	const char *cmd = "subscribers show", *email;
	bool helped, json = false;
	struct td_cli_opt opts[] = { { "--json", false, NULL, &json } };
	struct td_config cfg;
	int rc = start(g, cmd, show_help, argc, argv, opts, 1,
			 "an EMAIL is required", &email, &helped, &cfg);
	if (rc || helped)
		return rc;
	struct td_store *st = NULL;
	struct td_err err = { 0, "" };
	struct td_member m;
	bool found = false, due_now = false;
	time_t due = 0;
	struct td_subscriber_state state;
	struct td_delivery_record *d = NULL;
	struct td_suppression *sup = NULL;
	size_t nd = 0, nsup = 0;
	struct bounce_info bi;
	memset(&m, 0, sizeof m);
	memset(&bi, 0, sizeof bi);
	if ((rc = open_store(&cfg, TD_STORE_READONLY, &st)))
		goto out;
	if ((rc = td_store_begin_read(st, &err)))
		goto fail;
	if ((rc = td_roster_get(st, email, &m, &found, &err)) || !found ||
	    (rc = td_store_recent_deliveries(st, m.email, SHOW_RECENT, &d, &nd, &err)) ||
	    (rc = td_store_suppressions(st, m.email, &sup, &nsup, &err)) ||
	    (rc = read_bounces(&cfg, st, m.email, &bi, &err)) ||
	    (rc = next_due(&cfg, st, &m, time(NULL), &due, &due_now, &err)) ||
	    (rc = td_store_subscriber_state(st, m.email, &state, &err))) {
		td_store_rollback(st);
		if (rc)
			goto fail;
		td_log_warnx("%s: %s is not a subscriber", cmd, email);
		rc = EX_NOUSER;
		goto out;
	}
	if ((rc = td_store_commit(st, &err)))
		goto fail;
	if (json)
		show_json(&m, due, due_now, state.started_at, d, nd, sup, nsup, &bi);
	else
		show_text(&cfg, &m, due, due_now, state.started_at, d, nd, sup, nsup, &bi);
	rc = finish_output("show");
	goto out;
fail:
	td_cli_fail(&err);
out:
	td_store_delivery_records_free(d, nd);
	td_store_suppressions_free(sup, nsup);
	td_bounce_events_free(bi.ev, bi.n);
	td_member_free(&m);
	td_store_close(st);
	td_config_free(&cfg);
	return rc;
}

/* ---- import ---- */

/* --start-clean's walk (deliver/start_clean.h): the file's rows as the
 * roster holds them after the import, active readers only (a row the
 * roster kept out is passed over). A row the roster does not have is met
 * only in a dry run, which stored nothing: it is walked as the import
 * would add it, on the site's schedule. */
struct import_walk {
	struct td_store *st;
	struct td_subscriber_reader *file;
	struct td_member m;
	struct td_subscriber view;
};

static int import_next(void *ctx, const struct td_subscriber **out, struct td_err *err)
{
	struct import_walk *w = ctx;
	const struct td_subscriber *row;
	int rc;
	while ((rc = td_subscribers_next(w->file, &row, err)) == 1) {
		bool found;
		td_member_free(&w->m);
		if ((rc = td_roster_get(w->st, row->email, &w->m, &found, err)))
			return rc;
		if (!found) {
			*out = row;
			return 1;
		}
		if (w->m.status == TD_MEMBER_ACTIVE) {
			td_member_subscriber(&w->m, &w->view);
			*out = &w->view;
			return 1;
		}
	}
	return rc;
}

static int import_start_clean(const struct td_config *cfg, struct td_store *st,
			      const char *path, bool dry_run)
{
	struct td_err err = { 0, "" };
	struct import_walk w;
	memset(&w, 0, sizeof w);
	w.st = st;
	int rc = td_subscribers_open(path, &w.file, &err);
	struct td_subscriber_source src = { import_next, &w, 0, true };
	struct td_schedule site = td_options_schedule(cfg);
	struct td_start_summary sum;
	if (!rc)
		rc = td_start_clean(&site, st, &src, "subscribers import --start-clean",
				    dry_run, time(NULL), &sum, &err);
	td_member_free(&w.m);
	td_subscribers_close(w.file);
	if (rc)
		return td_cli_fail(&err);
	printf("subscribers import: %s: %zu reader%s %s clean (what the store holds, up "
	       "to seq %lld, counts as seen), %zu left alone (a digest or a start of "
	       "theirs is recorded already)%s\n",
	       path, sum.started, sum.started == 1 ? "" : "s",
	       dry_run ? "would start" : "started", (long long)sum.upto_seq,
	       sum.left_alone, dry_run ? "; dry run: nothing stored" : "");
	return 0;
}

static int cmd_import(const struct td_cli_globals *g, int argc, char **argv)
{
	const char *cmd = "subscribers import", *path;
	bool helped, dry_run = false, start_clean = false;
	struct td_cli_opt opts[] = { { "--dry-run", false, NULL, &dry_run },
				     { "--start-clean", false, NULL, &start_clean } };
	struct td_config cfg;
	int rc = start(g, cmd, import_help, argc, argv, opts, 2,
			 "a FILE is required", &path, &helped, &cfg);
	if (rc || helped)
		return rc;
	struct td_store *st = NULL;
	int lockfd = -1;
	struct td_err err = { 0, "" };
	struct td_import_summary sum;
	char rows[48], kept[48];
	memset(&sum, 0, sizeof sum);
	rc = dry_run ? open_store(&cfg, TD_STORE_READWRITE, &st) :
		       td_cli_open_locked(&cfg, TD_LOCK_ROSTER, &st, &lockfd);
	if (!rc && (rc = td_import_file(st, path, TD_IMPORT_ADD, dry_run, time(NULL),
					&sum, &err)))
		td_cli_fail(&err);
	else if (!rc)
		td_cli_result("subscribers import: %s: %s: %zu added, %zu updated, "
		       "%zu unchanged, %zu kept out (unsubscribed, bounced or "
		       "complained), %s kept (tags the reader chose)%s\n",
		       path, td_count(rows, sizeof rows, sum.rows, "row", "rows"), sum.added,
		       sum.updated, sum.unchanged, sum.kept_out,
		       td_count(kept, sizeof kept, sum.reader_kept, "reader", "readers"),
		       dry_run ? "; dry run: nothing stored" : "");
	if (!rc && start_clean)
		rc = import_start_clean(&cfg, st, path, dry_run);
	td_lock_close_store(st, lockfd);
	td_config_free(&cfg);
	return rc;
}

/* ---- export ---- */

static int cmd_export(const struct td_cli_globals *g, int argc, char **argv)
{
	const char *cmd = "subscribers export", *format = "csv", *status = NULL;
	bool helped, all = false;
	struct td_cli_opt opts[] = {
		{ "--format", true, &format, NULL },
		{ "--status", true, &status, NULL },
		{ "--all", false, NULL, &all },
	};
	int rc = td_cli_parse_opts(cmd, export_help, argc, argv, opts, 3, &helped);
	if (rc || helped)
		return rc;
	bool json = strcmp(format, "json") == 0;
	if (!json && strcmp(format, "csv") != 0)
		return td_cli_usage_error(cmd, "--format is csv or json, not", format);
	if (all && status)
		return td_cli_usage_error(cmd, "--all and --status exclude each other", NULL);
	struct td_roster_filter f;
	char *slug;
	/* by default the readers who get digests: a file that imports into
	 * any store without subscribing anyone who left */
	if ((rc = make_filter(cmd, NULL, all ? NULL : status ? status : "active", &f, &slug)))
		return rc;
	struct td_config cfg;
	if ((rc = td_cli_load_config(g, &cfg)))
		return rc;
	struct td_store *st = NULL;
	struct td_err err = { 0, "" };
	struct td_buf b = TD_BUF_INIT;
	size_t count = 0;
	if (!(rc = open_store(&cfg, TD_STORE_READONLY, &st))) {
		if (!json)
			fputs(csv_header, stdout);
		if ((rc = walk(st, f, json ? print_json_line : print_csv_line, &b, &count,
			       &err)))
			td_cli_fail(&err);
		else
			rc = finish_output("export");
		if (!rc)
			td_log_info("subscribers export: %zu subscriber%s", count,
				    count == 1 ? "" : "s");
	}
	td_buf_free(&b);
	td_store_close(st);
	td_config_free(&cfg);
	return rc;
}

/* ---- dispatch ---- */

static const struct {
	const char *name;
	int (*fn)(const struct td_cli_globals *g, int argc, char **argv);
} subcommands[] = {
	{ "add", cmd_add }, { "remove", cmd_remove }, { "list", cmd_list },
	{ "show", cmd_show }, { "import", cmd_import }, { "export", cmd_export },
};

int td_cli_subscribers(const struct td_cli_globals *g, int argc, char **argv)
{
	if (argc < 2) {
		fputs(subscribers_help, stderr);
		return EX_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		fputs(subscribers_help, stdout);
		return 0;
	}
	struct td_cli_near near = TD_CLI_NEAR_INIT;
	for (size_t i = 0; i < sizeof subcommands / sizeof *subcommands; i++) {
		if (strcmp(argv[1], subcommands[i].name) == 0)
			return subcommands[i].fn(g, argc - 1, argv + 1);
		td_cli_near_consider(&near, argv[1], subcommands[i].name);
	}
	const char *best = td_cli_near_best(&near, argv[1]);
	if (!best)
		return td_cli_usage_error("subscribers", "unknown command", argv[1]);
	fprintf(stderr, "tagdigest: subscribers: unknown command '%s'; did you mean "
		"`subscribers %s`?\n", argv[1], best);
	td_cli_see_help("subscribers");
	return EX_USAGE;
}
