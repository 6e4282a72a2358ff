/*
 * roster.c: the subscriber list in the SQLite store (see roster.h).
 */
#include "tagdigest/store/roster.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "tagdigest/core/address.h"
#include "tagdigest/core/buf.h"
#include "tagdigest/core/util.h"
#include "store_impl.h"

static const char *const frequency_names[] = { "weekly", "daily", "monthly" };

const char *td_frequency_name(enum td_frequency f)
{
	return (unsigned)f < 3 ? frequency_names[f] : "weekly";
}

int td_frequency_parse(const char *s, enum td_frequency *out)
{
	for (int i = 0; i < 3; i++)
		if (s && strcmp(s, frequency_names[i]) == 0) {
			*out = (enum td_frequency)i;
			return 0;
		}
	return -1;
}

void td_prefs_clear(struct td_prefs *p)
{
	free(p->timezone);
	memset(p, 0, sizeof *p);
}

void td_prefs_copy(struct td_prefs *dst, const struct td_prefs *src)
{
	*dst = *src;
	dst->timezone = src->timezone ? td_xstrdup(src->timezone) : NULL;
}

static const char *const status_names[] = {
	"pending", "active", "unsubscribed", "bounced", "complained",
};

const char *td_member_status_name(enum td_member_status s)
{
	return (unsigned)s < 5 ? status_names[s] : "unknown";
}

int td_member_status_parse(const char *s, enum td_member_status *out)
{
	for (int i = 0; i < 5; i++)
		if (s && strcmp(s, status_names[i]) == 0) {
			*out = (enum td_member_status)i;
			return 0;
		}
	return -1;
}

/* ---- the SQL ----
 *
 * Statements that run once per subscriber (a sync of a million rows,
 * the send walk, the sender threads' last check) are prepared once per
 * connection in the store's roster slots (store_impl.h) and reset after
 * use; the rest are prepared where used. */

#define MEMBER_COLS \
	"id, email, name, tags, status, origin, reader_choice, frequency, own_time," \
	" wday, hour, minute, timezone, paused_until, created_at, confirmed_at," \
	" changed_at, consent_at, consent_how, consent_from, confirm_nonce," \
	" confirm_sent_at, confirm_mails"

/* The send walk's filter: active, joined by the cutoff (a form reader
 * when they confirmed, anyone else when added), not paused now. */
#define WALK_WHERE \
	" status = 'active' AND paused_until <= ?3 AND" \
	" (CASE WHEN origin = 'form' THEN confirmed_at ELSE created_at END) <= ?2"

enum rstmt {
	RS_GET,
	RS_LOOK,
	RS_INSERT,
	RS_SET_FROM_EDITOR,
	RS_DELETE_TAGS,
	RS_INSERT_TAG,
	RS_SUPPRESSED_ALL,
	RS_MARK,
	RS_MAY_SEND,
	RS_PAGE,
	RS_WATERMARK_UP,
	RS_LIFT_TAG,
	RS_GET_BY_ID,
	RS_SEEN_ADD,
	RS_SEEN_LINE,
	RS_COUNT
};

static const char *const rstmt_sql[RS_COUNT] = {
	[RS_GET] = "SELECT " MEMBER_COLS " FROM members WHERE email_key = ?1",
	/* what a row from an editor is compared with: one indexed read */
	[RS_LOOK] =
		"SELECT id, status, reader_choice, name, tags FROM members"
		" WHERE email_key = ?1",
	[RS_INSERT] =
		"INSERT INTO members (email_key, email, name, tags, status, origin,"
		" reader_choice, frequency, created_at, changed_at, consent_at,"
		" consent_how, consent_from)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9, ?10, ?11, ?12)"
		" ON CONFLICT (email_key) DO NOTHING RETURNING id",
	/* an editor's row: name and tags; a pending one becomes active on
	 * the editor's word, with their consent record */
	[RS_SET_FROM_EDITOR] =
		"UPDATE members SET name = ?2, tags = ?3, changed_at = ?4,"
		" status = 'active', confirm_nonce = '',"
		" consent_at = CASE WHEN status = 'pending' THEN ?4 ELSE consent_at END,"
		" consent_how = CASE WHEN status = 'pending' THEN ?5 ELSE consent_how END,"
		" consent_from = CASE WHEN status = 'pending' THEN ?6 ELSE consent_from END,"
		" origin = CASE WHEN status = 'pending' THEN ?5 ELSE origin END"
		" WHERE id = ?1 AND (status = 'active' OR status = 'pending')",
	[RS_DELETE_TAGS] = "DELETE FROM member_tags WHERE member = ?1",
	[RS_INSERT_TAG] =
		"INSERT INTO member_tags (member, position, tag) VALUES (?1, ?2, ?3)"
		" ON CONFLICT DO NOTHING",
	[RS_SUPPRESSED_ALL] =
		"SELECT reason FROM suppressions WHERE email = ?1 AND scope = 'all'",
	[RS_MARK] =
		"INSERT INTO roster_mark (id)"
		" SELECT id FROM members WHERE email_key = ?1 ON CONFLICT DO NOTHING",
	[RS_MAY_SEND] =
		"SELECT 1 FROM members WHERE email_key = ?1 AND status = 'active'"
		" AND paused_until <= ?2",
	[RS_PAGE] =
		"SELECT " MEMBER_COLS " FROM members WHERE id > ?1 AND id <= ?5 AND"
		WALK_WHERE " ORDER BY id LIMIT ?4",
	/* a returning reader starts from now, not from when they left */
	[RS_WATERMARK_UP] =
		"UPDATE subscriber_state SET watermark = ?2 WHERE email = ?1 AND watermark < ?2",
	[RS_LIFT_TAG] =
		"DELETE FROM suppressions WHERE email = ?1 AND scope = ?2 AND scope != 'all'",
	[RS_GET_BY_ID] = "SELECT " MEMBER_COLS " FROM members WHERE id = ?1",
	[RS_SEEN_ADD] = "INSERT INTO roster_seen (key, line) VALUES (?1, ?2)"
			" ON CONFLICT DO NOTHING",
	[RS_SEEN_LINE] = "SELECT line FROM roster_seen WHERE key = ?1",
};

_Static_assert(RS_COUNT <= TD_STORE_ROSTER_STMTS, "store_impl.h: more roster slots");

static struct td_db_stmt *rs_get(struct td_store *st, enum rstmt id, struct td_err *err)
{
	struct td_db_stmt **slot = &td_store_roster_stmts(st)[id];
	if (!*slot && td_db_prepare(td_store_db(st), rstmt_sql[id], slot) != TD_DB_OK) {
		td_store_db_error(st, err, "prepare");
		*slot = NULL;
		return NULL;
	}
	return *slot;
}

static void rs_done(struct td_db_stmt *s)
{
	td_db_reset(s);
	td_db_clear_bindings(s);
}

static int rs_fail(struct td_err *err)
{
	return err && err->code ? err->code : EX_SOFTWARE;
}

/* Steps a statement that returns no row, then resets it. */
static int rs_exec(struct td_store *st, struct td_db_stmt *s, const char *what,
		   struct td_err *err)
{
	int step = td_db_step(s);
	rs_done(s);
	return step == TD_DB_DONE ? 0 : td_store_db_error(st, err, what);
}

/* Runs one-off SQL with the key bound to ?1 and v to the next parameter
 * (?1 when there is no key), when the statement has them. */
static int run_sql(struct td_store *st, const char *sql, const char *key,
		   int64_t v, const char *what, struct td_err *err)
{
	struct td_db_stmt *s;
	if (td_db_prepare(td_store_db(st), sql, &s) != TD_DB_OK)
		return td_store_db_error(st, err, what);
	int np = td_db_bind_parameter_count(s), i = 1;
	if (key && np >= i)
		td_store_bind_text(s, i++, key);
	if (np >= i)
		td_db_bind_int64(s, i, v);
	int step = td_db_step(s);
	td_db_finalize(s);
	return step == TD_DB_DONE || step == TD_DB_ROW ? 0 :
		td_store_db_error(st, err, what);
}

/* Tags are kept joined with ',' (a slug has none: slug.h turns
 * punctuation into '-'). */
static void split_tags(const char *joined, struct td_strv *out)
{
	const char *p = joined;
	while (*p) {
		const char *e = strchr(p, ',');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		if (n)
			td_strv_push_owned(out, td_xstrndup(p, n));
		p += n + (e != NULL);
	}
}

static void join_tags(const struct td_strv *tags, struct td_buf *out)
{
	td_buf_reset(out);
	for (size_t i = 0; i < tags->n; i++) {
		if (i)
			td_buf_putc(out, ',');
		td_buf_puts(out, tags->v[i]);
	}
}

/* A tag as the roster keeps it: a slug (what slug.h makes), not empty,
 * no ',', no space or control character, no ASCII capital. slug.h sets
 * no length (tests use tags of 1,200 bytes), so the bound only
 * stops what no tag name is. */
#define TAG_MAX 8192
static bool tag_ok(const char *t)
{
	if (!*t || strlen(t) > TAG_MAX)
		return false;
	for (const unsigned char *p = (const unsigned char *)t; *p; p++)
		if (*p <= ' ' || *p == ',' || *p == 0x7f || (*p >= 'A' && *p <= 'Z'))
			return false;
	return true;
}

static int check_tags(const struct td_strv *tags, const char *email, struct td_err *err)
{
	for (size_t i = 0; i < tags->n; i++) {
		if (tag_ok(tags->v[i]))
			continue;
		/* quote at most 80 bytes, never half a character */
		int n = (int)strnlen(tags->v[i], 80);
		while (n > 0 && n < (int)strlen(tags->v[i]) &&
		       ((unsigned char)tags->v[i][n] & 0xC0) == 0x80)
			n--;
		return td_err_set(err, EX_DATAERR, "roster: %s: tag '%.*s' is not a "
				  "slug (lowercase, no spaces or commas, at most %d bytes)",
				  email, n, tags->v[i], TAG_MAX);
	}
	return 0;
}

static int check_email(const char *email, struct td_err *err)
{
	char why[128];
	if (!email || !td_address_valid(email, why, sizeof why))
		return td_err_set(err, EX_DATAERR, "roster: address '%.80s': %s",
				  email ? email : "", email ? why : "missing");
	return 0;
}

static int check_name(const char *email, const char *name, struct td_err *err)
{
	char why[128];
	if (name && !td_display_name_valid(name, why, sizeof why))
		return td_err_set(err, EX_DATAERR, "roster: %s: name %s", email, why);
	return 0;
}

/* ---- members ---- */

void td_member_free(struct td_member *m)
{
	if (!m)
		return;
	free(m->email);
	free(m->name);
	td_strv_free(&m->tags);
	td_prefs_clear(&m->prefs);
	free(m->origin);
	free(m->consent_how);
	free(m->consent_from);
	free(m->confirm_nonce);
	memset(m, 0, sizeof *m);
}

void td_members_free(struct td_member *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		td_member_free(&v[i]);
	free(v);
}

/* One row of MEMBER_COLS into m (cleared first). */
static void read_member(struct td_db_stmt *s, struct td_member *m)
{
	memset(m, 0, sizeof *m);
	m->id = td_db_column_int64(s, 0);
	m->email = td_store_col_dup(s, 1);
	m->name = td_store_col_dup(s, 2);
	split_tags(td_store_col_cstr(s, 3), &m->tags);
	if (td_member_status_parse(td_store_col_cstr(s, 4), &m->status) < 0)
		m->status = TD_MEMBER_UNSUBSCRIBED;   /* the CHECK keeps this out */
	m->origin = td_store_col_dup(s, 5);
	m->reader_choice = td_db_column_int(s, 6) != 0;
	if (td_frequency_parse(td_store_col_cstr(s, 7), &m->prefs.frequency) < 0)
		m->prefs.frequency = TD_FREQ_WEEKLY;
	m->prefs.own_time = td_db_column_int(s, 8) != 0;
	m->prefs.wday = td_db_column_int(s, 9);
	m->prefs.hour = td_db_column_int(s, 10);
	m->prefs.minute = td_db_column_int(s, 11);
	m->prefs.timezone = td_db_column_type(s, 12) == TD_DB_NULL ? NULL :
			    td_store_col_dup(s, 12);
	m->prefs.paused_until = (time_t)td_db_column_int64(s, 13);
	m->created_at = (time_t)td_db_column_int64(s, 14);
	m->confirmed_at = (time_t)td_db_column_int64(s, 15);
	m->changed_at = (time_t)td_db_column_int64(s, 16);
	m->consent_at = (time_t)td_db_column_int64(s, 17);
	m->consent_how = td_store_col_dup(s, 18);
	m->consent_from = td_store_col_dup(s, 19);
	m->confirm_nonce = td_store_col_dup(s, 20);
	m->confirm_sent_at = (time_t)td_db_column_int64(s, 21);
	m->confirm_mails = td_db_column_int(s, 22);
}

/* The one member the bound statement s finds, if any. */
static int read_one(struct td_store *st, struct td_db_stmt *s, struct td_member *out,
		    bool *found, struct td_err *err)
{
	int step = td_db_step(s);
	if (step == TD_DB_ROW) {
		read_member(s, out);
		*found = true;
	}
	rs_done(s);
	return step == TD_DB_ROW || step == TD_DB_DONE ? 0 :
		td_store_db_error(st, err, "read subscriber");
}

int td_roster_get(struct td_store *st, const char *email, struct td_member *out,
		  bool *found, struct td_err *err)
{
	memset(out, 0, sizeof *out);
	*found = false;
	struct td_db_stmt *s = rs_get(st, RS_GET, err);
	if (!s)
		return rs_fail(err);
	char *key = td_store_email_key(email);
	td_store_bind_text(s, 1, key);
	free(key);
	return read_one(st, s, out, found, err);
}

int td_roster_get_by_id(struct td_store *st, int64_t id, struct td_member *out,
			bool *found, struct td_err *err)
{
	memset(out, 0, sizeof *out);
	*found = false;
	struct td_db_stmt *s = rs_get(st, RS_GET_BY_ID, err);
	if (!s)
		return rs_fail(err);
	td_db_bind_int64(s, 1, id);
	return read_one(st, s, out, found, err);
}

/* The member's tag rows, replaced by tags (the joined column is written
 * by the caller). */
static int write_member_tags(struct td_store *st, int64_t id, const struct td_strv *tags,
			     struct td_err *err)
{
	struct td_db_stmt *del = rs_get(st, RS_DELETE_TAGS, err);
	struct td_db_stmt *ins = rs_get(st, RS_INSERT_TAG, err);
	int rc;
	if (!del || !ins)
		return rs_fail(err);
	td_db_bind_int64(del, 1, id);
	if ((rc = rs_exec(st, del, "delete subscriber tags", err)))
		return rc;
	for (size_t i = 0; i < tags->n; i++) {
		td_db_bind_int64(ins, 1, id);
		td_db_bind_int64(ins, 2, (int64_t)i);
		td_store_bind_text(ins, 3, tags->v[i]);
		if ((rc = rs_exec(st, ins, "store subscriber tag", err)))
			return rc;
	}
	return 0;
}

/* The status an "all" suppression of key stands for, or -1 when there
 * is none (suppressions recorded before the roster existed, or for an
 * address that was never a member). */
static int suppressed_status(struct td_store *st, const char *key,
			     enum td_member_status *status, struct td_err *err)
{
	struct td_db_stmt *s = rs_get(st, RS_SUPPRESSED_ALL, err);
	if (!s)
		return rs_fail(err);
	td_store_bind_text(s, 1, key);
	int step = td_db_step(s);
	*status = TD_MEMBER_ACTIVE;
	if (step == TD_DB_ROW) {
		const char *reason = td_store_col_cstr(s, 0);
		*status = strcmp(reason, "bounced") == 0 ? TD_MEMBER_BOUNCED :
			  strcmp(reason, "complained") == 0 ? TD_MEMBER_COMPLAINED :
			  TD_MEMBER_UNSUBSCRIBED;
	}
	rs_done(s);
	return step == TD_DB_ROW || step == TD_DB_DONE ? 0 :
		td_store_db_error(st, err, "read suppression");
}

struct new_member {
	const char *key, *email, *name, *tags_joined, *origin;
	const struct td_strv *tags;
	enum td_member_status status;
	bool reader_choice;
	enum td_frequency frequency;
	time_t now, consent_at;
	const char *consent_how, *consent_from;
};

static int insert_member(struct td_store *st, const struct new_member *n, int64_t *id,
			 struct td_err *err)
{
	struct td_db_stmt *s = rs_get(st, RS_INSERT, err);
	if (!s)
		return rs_fail(err);
	td_store_bind_text(s, 1, n->key);
	td_store_bind_text(s, 2, n->email);
	td_store_bind_text(s, 3, n->name);
	td_store_bind_text(s, 4, n->tags_joined);
	td_store_bind_text(s, 5, td_member_status_name(n->status));
	td_store_bind_text(s, 6, n->origin);
	td_db_bind_int(s, 7, n->reader_choice);
	td_store_bind_text(s, 8, td_frequency_name(n->frequency));
	td_db_bind_int64(s, 9, (int64_t)n->now);
	td_db_bind_int64(s, 10, (int64_t)n->consent_at);
	td_store_bind_text(s, 11, n->consent_how);
	td_store_bind_text(s, 12, n->consent_from);
	int step = td_db_step(s);
	*id = step == TD_DB_ROW ? td_db_column_int64(s, 0) : 0;
	if (step == TD_DB_ROW)
		step = td_db_step(s);
	rs_done(s);
	if (step != TD_DB_DONE)
		return td_store_db_error(st, err, "add subscriber");
	/* *id 0: the address was added by another writer since the caller
	 * looked (a sign-up on the public server during a sync) */
	return *id ? write_member_tags(st, *id, n->tags, err) : 0;
}

/* td_roster_put, or with write false what it would do: *writes tells
 * whether it writes anything. */
static int put_row(struct td_store *st, const struct td_roster_row *row, time_t now,
		   bool write, enum td_roster_result *result, bool *writes,
		   struct td_err *err)
{
	int rc;
	*result = TD_ROSTER_UNCHANGED;
	*writes = false;
	if ((rc = check_email(row->email, err)) ||
	    (rc = check_name(row->email, row->name, err)) ||
	    (row->tags && (rc = check_tags(row->tags, row->email, err))))
		return rc;
	struct td_db_stmt *look = rs_get(st, RS_LOOK, err);
	if (!look)
		return rs_fail(err);
	char *key = td_store_email_key(row->email);
	struct td_buf joined = TD_BUF_INIT;
	if (row->tags)
		join_tags(row->tags, &joined);
	/* Another writer (a public server, a second sender's sync on
	 * PostgreSQL) may add or change the reader between this look and the
	 * write: the insert then adds nothing and the row is looked at again,
	 * once; the update changes only a reader who is still there. */
	bool looked_again = false;
again:
	td_store_bind_text(look, 1, key);
	int step = td_db_step(look);
	if (step != TD_DB_ROW && step != TD_DB_DONE) {
		rc = td_store_db_error(st, err, "look up subscriber");
		rs_done(look);
		goto out;
	}
	if (step == TD_DB_DONE) {
		rs_done(look);
		if (!row->tags || row->tags->n == 0) {
			rc = td_err_set(err, EX_DATAERR, "roster: %s: a new subscriber "
					"needs at least one tag", row->email);
			goto out;
		}
		/* an address that left before the roster knew it keeps out */
		enum td_member_status status;
		if ((rc = suppressed_status(st, key, &status, err)))
			goto out;
		struct new_member n = {
			.key = key, .email = row->email, .name = row->name,
			.tags_joined = td_buf_cstr(&joined), .tags = row->tags,
			.origin = row->origin, .status = status, .now = now,
			.consent_at = now, .consent_how = row->origin,
			.consent_from = row->consent_from,
		};
		int64_t id;
		*writes = true;
		if (write && (rc = insert_member(st, &n, &id, err)))
			goto out;
		if (write && !id && !looked_again) {
			looked_again = true;
			goto again;
		}
		*result = status == TD_MEMBER_ACTIVE ? TD_ROSTER_ADDED : TD_ROSTER_KEPT_OUT;
		goto out;
	}
	int64_t id = td_db_column_int64(look, 0);
	enum td_member_status status;
	if (td_member_status_parse(td_store_col_cstr(look, 1), &status) < 0)
		status = TD_MEMBER_UNSUBSCRIBED;
	bool reader_choice = td_db_column_int(look, 2) != 0;
	const char *old_name = td_store_col_cstr(look, 3), *old_tags = td_store_col_cstr(look, 4);
	if (status != TD_MEMBER_ACTIVE && status != TD_MEMBER_PENDING) {
		rs_done(look);
		*result = TD_ROSTER_KEPT_OUT;
		goto out;
	}
	/* what the row would change; the reader's own tags stay theirs */
	bool name_differs = row->name && strcmp(row->name, old_name) != 0;
	bool tags_differ = row->tags && strcmp(td_buf_cstr(&joined), old_tags) != 0;
	bool set_tags = tags_differ && !reader_choice;
	char *name = td_xstrdup(row->name && name_differs ? row->name : old_name);
	char *tags = td_xstrdup(set_tags ? td_buf_cstr(&joined) : old_tags);
	rs_done(look);
	if (status == TD_MEMBER_ACTIVE && !name_differs && !set_tags) {
		*result = tags_differ ? TD_ROSTER_READER_KEPT : TD_ROSTER_UNCHANGED;
	} else if (!write) {
		*writes = true;
		*result = tags_differ && !set_tags ? TD_ROSTER_READER_KEPT : TD_ROSTER_UPDATED;
	} else {
		*writes = true;
		struct td_db_stmt *s = rs_get(st, RS_SET_FROM_EDITOR, err);
		if (!s) {
			rc = rs_fail(err);
		} else {
			td_db_bind_int64(s, 1, id);
			td_store_bind_text(s, 2, name);
			td_store_bind_text(s, 3, tags);
			td_db_bind_int64(s, 4, (int64_t)now);
			td_store_bind_text(s, 5, row->origin);
			td_store_bind_text(s, 6, row->consent_from);
			rc = rs_exec(st, s, "update subscriber", err);
		}
		/* no change: they left (an unsubscribe committed since the
		 * look), and the file does not bring them back */
		bool left = !rc && td_db_changes(td_store_db(st)) == 0;
		if (!rc && set_tags && !left)
			rc = write_member_tags(st, id, row->tags, err);
		*result = left ? TD_ROSTER_KEPT_OUT :
			  tags_differ && !set_tags ? TD_ROSTER_READER_KEPT : TD_ROSTER_UPDATED;
	}
	free(name);
	free(tags);
out:
	td_buf_free(&joined);
	free(key);
	return rc;
}

int td_roster_put(struct td_store *st, const struct td_roster_row *row, time_t now,
		  enum td_roster_result *result, struct td_err *err)
{
	bool writes;
	return put_row(st, row, now, true, result, &writes, err);
}

int td_roster_put_check(struct td_store *st, const struct td_roster_row *row,
			enum td_roster_result *result, bool *writes, struct td_err *err)
{
	return put_row(st, row, 0, false, result, writes, err);
}

int td_roster_remove(struct td_store *st, const char *email, const char *by,
		     time_t now, bool *found, struct td_err *err)
{
	struct td_member m;
	int rc = td_roster_get(st, email, &m, found, err);
	td_member_free(&m);
	if (rc || !*found)
		return rc;
	/* the suppression sets the status (store.c keeps them in step) */
	return td_store_suppress(st, email, "all", "unsubscribed", by, now, err);
}

/* ---- the file sync ----
 *
 * The mark is a temporary table of member ids on this connection, not a
 * column: marking a million unchanged rows must not write a million
 * rows of the store. */

int td_roster_file_mark_begin(struct td_store *st, struct td_err *err)
{
	/* (temporary tables come first in both databases' name lookup, so
	 * the statements name them unqualified) */
	if (td_db_exec(td_store_db(st),
		       "CREATE TEMP TABLE IF NOT EXISTS roster_mark (id BIGINT PRIMARY KEY);"
		       "DELETE FROM roster_mark;") != TD_DB_OK)
		return td_err_set(err, EX_SOFTWARE, "store: %s: file mark: %s",
				  td_store_path(st), td_db_errmsg(td_store_db(st)));
	return 0;
}

int td_roster_file_mark(struct td_store *st, const char *email, struct td_err *err)
{
	struct td_db_stmt *s = rs_get(st, RS_MARK, err);
	if (!s)
		return rs_fail(err);
	char *key = td_store_email_key(email);
	td_store_bind_text(s, 1, key);
	free(key);
	return rs_exec(st, s, "mark subscriber", err);
}

int td_roster_file_sweep(struct td_store *st, time_t now, size_t *removed,
			 struct td_err *err)
{
	(void)now;
	*removed = 0;
	/* a reader who spoke (chose their settings, resubscribed) is no
	 * longer the file's to remove: only `subscribers remove` is */
#define GONE " FROM members WHERE origin = 'csv' AND status IN ('active', 'pending')" \
	" AND reader_choice = 0" \
	" AND id NOT IN (SELECT id FROM roster_mark)"
	int rc;
	if ((rc = run_sql(st, "DELETE FROM member_tags WHERE member IN (SELECT id" GONE ")",
			  NULL, 0, "sweep subscriber tags", err)) ||
	    (rc = run_sql(st, "DELETE" GONE, NULL, 0, "sweep subscribers", err)))
		return rc;
	*removed = (size_t)td_db_changes(td_store_db(st));
	return run_sql(st, "DELETE FROM roster_mark", NULL, 0, "clear file mark", err);
#undef GONE
}

/* A file's addresses (roster.h). The statements are prepared once the
 * table exists and finalized with it: a statement on a dropped table
 * would fail to re-prepare. */
int td_roster_seen_begin(struct td_store *st, struct td_err *err)
{
	td_roster_seen_end(st);
	struct td_db *db = td_store_db(st);
	if (td_db_exec(db, td_db_pick(db, "CREATE TEMP TABLE roster_seen (key TEXT PRIMARY KEY,"
				      " line INTEGER NOT NULL) WITHOUT ROWID",
				      "CREATE TEMP TABLE roster_seen (key TEXT PRIMARY KEY,"
				      " line BIGINT NOT NULL)")) != TD_DB_OK)
		return td_err_set(err, EX_SOFTWARE, "store: %s: duplicate check: %s",
				  td_store_path(st), td_db_errmsg(db));
	return 0;
}

int td_roster_seen_add(struct td_store *st, const char *email, unsigned line,
		       unsigned *first, struct td_err *err)
{
	*first = 0;
	struct td_db_stmt *add = rs_get(st, RS_SEEN_ADD, err);
	if (!add)
		return rs_fail(err);
	char *key = td_store_email_key(email);
	td_db_bind_text(add, 1, key);
	td_db_bind_int64(add, 2, line);
	int rc = rs_exec(st, add, "duplicate check", err);
	/* Met before: rare, so the line is read only then. */
	if (!rc && td_db_changes(td_store_db(st)) == 0) {
		struct td_db_stmt *s = rs_get(st, RS_SEEN_LINE, err);
		if (!s) {
			rc = rs_fail(err);
		} else {
			td_db_bind_text(s, 1, key);
			int step = td_db_step(s);
			*first = step == TD_DB_ROW ? (unsigned)td_db_column_int64(s, 0) : 0;
			rs_done(s);
			if (step != TD_DB_ROW)
				rc = td_store_db_error(st, err, "duplicate check");
		}
	}
	free(key);
	return rc;
}

void td_roster_seen_end(struct td_store *st)
{
	struct td_db_stmt **slots = td_store_roster_stmts(st);
	for (enum rstmt i = RS_SEEN_ADD; i <= RS_SEEN_LINE; i++) {
		td_db_finalize(slots[i]);
		slots[i] = NULL;
	}
	td_db_exec(td_store_db(st), "DROP TABLE IF EXISTS roster_seen");
}

int td_roster_file_fingerprint(struct td_store *st, const char *path, char **digest,
			       struct td_err *err)
{
	struct td_db_stmt *s;
	*digest = NULL;
	if (td_db_prepare(td_store_db(st), "SELECT digest FROM roster_files WHERE path = ?1", &s) != TD_DB_OK)
		return td_store_db_error(st, err, "read file fingerprint");
	td_store_bind_text(s, 1, path);
	int step = td_db_step(s);
	*digest = step == TD_DB_ROW ? td_store_col_dup(s, 0) : td_xstrdup("");
	td_db_finalize(s);
	if (step == TD_DB_ROW || step == TD_DB_DONE)
		return 0;
	free(*digest);
	*digest = NULL;
	return td_store_db_error(st, err, "read file fingerprint");
}

int td_roster_set_file_fingerprint(struct td_store *st, const char *path,
				   const char *digest, struct td_err *err)
{
	struct td_db_stmt *s;
	if (td_db_prepare(td_store_db(st),
			       "INSERT INTO roster_files (path, digest) VALUES (?1, ?2)"
			       " ON CONFLICT (path) DO UPDATE SET digest = excluded.digest", &s) != TD_DB_OK)
		return td_store_db_error(st, err, "store file fingerprint");
	td_store_bind_text(s, 1, path);
	td_store_bind_text(s, 2, digest);
	int step = td_db_step(s);
	td_db_finalize(s);
	return step == TD_DB_DONE ? 0 : td_store_db_error(st, err, "store file fingerprint");
}

/* ---- listing ---- */

/* Appends the rows s yields to *out (*n of them, *cap allocated). */
static int read_members(struct td_store *st, struct td_db_stmt *s, struct td_member **out,
			size_t *n, size_t *cap, struct td_err *err)
{
	int step;
	while ((step = td_db_step(s)) == TD_DB_ROW) {
		if (*n == *cap) {
			*cap = *cap ? *cap * 2 : 16;
			*out = td_xrealloc(*out, *cap * sizeof **out);
		}
		read_member(s, &(*out)[(*n)++]);
	}
	return step == TD_DB_DONE ? 0 : td_store_db_error(st, err, "read subscribers");
}

int td_roster_list(struct td_store *st, const struct td_roster_filter *f,
		   struct td_member **out, size_t *n, struct td_err *err)
{
	*out = NULL;
	*n = 0;
	struct td_buf sql = TD_BUF_INIT;
	td_buf_puts(&sql, "SELECT " MEMBER_COLS " FROM members WHERE id > ?1");
	if (f && f->tag)
		/* EXISTS, not IN: an IN list is built whole for every page
		 * (a keyset walk of a tag's readers went quadratic); EXISTS is
		 * one lookup of member_tags' key per row */
		td_buf_puts(&sql, " AND EXISTS (SELECT 1 FROM member_tags t"
			    " WHERE t.member = members.id AND t.tag = ?2)");
	if (f && !f->any_status)
		td_buf_puts(&sql, " AND status = ?3");
	td_buf_puts(&sql, " ORDER BY id");
	if (f && f->limit)
		td_buf_puts(&sql, " LIMIT ?4");
	struct td_db_stmt *s;
	int prep = td_db_prepare(td_store_db(st), td_buf_cstr(&sql), &s);
	td_buf_free(&sql);
	if (prep != TD_DB_OK)
		return td_store_db_error(st, err, "prepare subscriber list");
	td_db_bind_int64(s, 1, f ? f->after_id : 0);
	if (f && f->tag)
		td_store_bind_text(s, 2, f->tag);
	if (f && !f->any_status)
		td_store_bind_text(s, 3, td_member_status_name(f->status));
	if (f && f->limit)
		td_db_bind_int64(s, 4, (int64_t)f->limit);
	size_t cap = 0;
	int rc = read_members(st, s, out, n, &cap, err);
	td_db_finalize(s);
	if (rc) {
		td_members_free(*out, *n);
		*out = NULL;
		*n = 0;
	}
	return rc;
}

int td_roster_counts(struct td_store *st, size_t counts[5], struct td_err *err)
{
	struct td_db_stmt *s;
	memset(counts, 0, 5 * sizeof counts[0]);
	if (td_db_prepare(td_store_db(st),
			       "SELECT status, COUNT(*) FROM members GROUP BY status", &s) != TD_DB_OK)
		return td_store_db_error(st, err, "count subscribers");
	int step;
	while ((step = td_db_step(s)) == TD_DB_ROW) {
		enum td_member_status status;
		if (td_member_status_parse(td_store_col_cstr(s, 0), &status) == 0)
			counts[status] = (size_t)td_db_column_int64(s, 1);
	}
	td_db_finalize(s);
	return step == TD_DB_DONE ? 0 : td_store_db_error(st, err, "count subscribers");
}

/* ---- finding a reader ---- */

/* The lowercase of one letter of the scripts readers' names are mostly
 * written in (Latin with its Latin-1 and Extended-A accents, Greek,
 * Cyrillic): SQLite's own LIKE folds ASCII only, so "ÉVA" would not
 * find "Éva". Anything else is itself. */
static uint32_t fold_cp(uint32_t c)
{
	if (c < 0x80)
		return c >= 'A' && c <= 'Z' ? c + 32 : c;
	if (c >= 0xC0 && c <= 0xDE && c != 0xD7)
		return c + 32;
	if (c == 0x130)
		return 'i';
	if (c == 0x178)
		return 0xFF;
	/* Extended-A pairs an upper and a lower letter, the upper on the
	 * even code point except in 0139..0148 and 0179..017E */
	if ((c >= 0x100 && c <= 0x137) || (c >= 0x14A && c <= 0x177))
		return c | 1;
	if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E))
		return c & 1 ? c + 1 : c;
	if ((c >= 0x391 && c <= 0x3A9 && c != 0x3A2) || (c >= 0x410 && c <= 0x42F))
		return c + 32;
	if (c >= 0x400 && c <= 0x40F)
		return c + 80;
	switch (c) {
	case 0x386: return 0x3AC;
	case 0x388: case 0x389: case 0x38A: return c + 37;
	case 0x38C: return 0x3CC;
	case 0x38E: case 0x38F: return c + 63;
	}
	return c;
}

/* s folded letter by letter into b; bytes that are not UTF-8 stay. */
static void fold_into(struct td_buf *b, const char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		uint32_t cp;
		size_t len = td_utf8_next(s + i, n - i, &cp);
		if (len == 0) {
			td_buf_putc(b, s[i++]);
			continue;
		}
		td_utf8_put(b, fold_cp(cp));
		i += len;
	}
}

static void sql_fold(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	(void)argc;
	const char *s = (const char *)sqlite3_value_text(argv[0]);
	if (!s) {
		sqlite3_result_null(ctx);
		return;
	}
	struct td_buf b = TD_BUF_INIT;
	fold_into(&b, s, (size_t)sqlite3_value_bytes(argv[0]));
	size_t len = b.len;
	sqlite3_result_text(ctx, td_buf_steal(&b), (int)len, free);
}

int td_store_roster_functions(struct td_store *st, struct td_err *err)
{
	/* PostgreSQL's td_fold is part of its schema (store.c) */
	if (!td_db_sqlite(td_store_db(st)))
		return 0;
	if (sqlite3_create_function_v2(td_db_sqlite(td_store_db(st)), "td_fold", 1,
				       SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS,
				       NULL, sql_fold, NULL, NULL, NULL) != TD_DB_OK)
		return td_store_db_error(st, err, "register td_fold");
	return 0;
}

/* Either column holds the query: the address (its key, lowercased) or
 * the name, folded alike. */
#define SEARCH_WHERE \
	" (td_fold(email_key) LIKE ?1 ESCAPE '\\' OR td_fold(name) LIKE ?1 ESCAPE '\\')"

int td_roster_search(struct td_store *st, const char *query, size_t offset, size_t limit,
		     struct td_member **out, size_t *n, size_t *total, struct td_err *err)
{
	*out = NULL;
	*n = 0;
	*total = 0;
	/* "%folded query%", with the query's own % _ and \ taken literally */
	struct td_buf folded = TD_BUF_INIT, pattern = TD_BUF_INIT;
	fold_into(&folded, query ? query : "", query ? strlen(query) : 0);
	td_buf_putc(&pattern, '%');
	for (size_t i = 0; i < folded.len; i++) {
		char c = folded.data[i];
		if (c == '%' || c == '_' || c == '\\')
			td_buf_putc(&pattern, '\\');
		td_buf_putc(&pattern, c);
	}
	td_buf_putc(&pattern, '%');
	td_buf_free(&folded);

	struct td_db_stmt *s = NULL;
	int rc = 0;
	/* the count and the page read the covering index members_search
	 * (migration 10), the page in its order, so it stops at its end */
	if (td_db_prepare(td_store_db(st),
			       "SELECT COUNT(*) FROM members WHERE" SEARCH_WHERE, &s) != TD_DB_OK) {
		rc = td_store_db_error(st, err, "prepare reader search");
		goto out;
	}
	td_store_bind_text(s, 1, td_buf_cstr(&pattern));
	if (td_db_step(s) != TD_DB_ROW) {
		rc = td_store_db_error(st, err, "count the readers found");
		goto out;
	}
	*total = (size_t)td_db_column_int64(s, 0);
	td_db_finalize(s);
	s = NULL;
	if (*total <= offset || limit == 0)
		goto out;
	if (td_db_prepare(td_store_db(st),
			       "SELECT " MEMBER_COLS " FROM members WHERE id IN"
			       " (SELECT id FROM members WHERE" SEARCH_WHERE
			       " ORDER BY email_key LIMIT ?2 OFFSET ?3) ORDER BY email_key", &s) != TD_DB_OK) {
		rc = td_store_db_error(st, err, "prepare reader search");
		goto out;
	}
	td_store_bind_text(s, 1, td_buf_cstr(&pattern));
	td_db_bind_int64(s, 2, (int64_t)limit);
	td_db_bind_int64(s, 3, (int64_t)offset);
	size_t cap = 0;
	rc = read_members(st, s, out, n, &cap, err);
	if (rc) {
		td_members_free(*out, *n);
		*out = NULL;
		*n = 0;
	}
out:
	td_db_finalize(s);
	td_buf_free(&pattern);
	return rc;
}

/* ---- the send walk ---- */

struct td_roster_cursor {
	struct td_store *st;
	time_t cutoff, now;
	int64_t after_id;            /* the last id read */
	int64_t last_id;             /* the range's end */
	struct td_member page[TD_ROSTER_PAGE];
	size_t n, next;              /* rows in page, the next to hand out */
	bool end;                    /* the last page was short */
	size_t total;
};

int td_roster_cursor_open(struct td_store *st, time_t cutoff, time_t now,
			  struct td_roster_cursor **out, struct td_err *err)
{
	return td_roster_cursor_open_range(st, cutoff, now, 0, INT64_MAX, out, err);
}

int td_roster_cursor_open_range(struct td_store *st, time_t cutoff, time_t now,
				int64_t first_id, int64_t last_id,
				struct td_roster_cursor **out, struct td_err *err)
{
	*out = NULL;
	struct td_db_stmt *s;
	if (td_db_prepare(td_store_db(st),
			       "SELECT COUNT(*) FROM members WHERE id >= ?1 AND id <= ?4 AND"
			       WALK_WHERE, &s) != TD_DB_OK)
		return td_store_db_error(st, err, "count the walk");
	td_db_bind_int64(s, 1, first_id);
	td_db_bind_int64(s, 2, (int64_t)cutoff);
	td_db_bind_int64(s, 3, (int64_t)now);
	td_db_bind_int64(s, 4, last_id);
	int step = td_db_step(s);
	size_t total = step == TD_DB_ROW ? (size_t)td_db_column_int64(s, 0) : 0;
	td_db_finalize(s);
	if (step != TD_DB_ROW)
		return td_store_db_error(st, err, "count the walk");
	struct td_roster_cursor *c = td_xcalloc(1, sizeof *c);
	c->st = st;
	c->cutoff = cutoff;
	c->now = now;
	c->after_id = first_id > INT64_MIN ? first_id - 1 : first_id;
	c->last_id = last_id;
	c->total = total;
	*out = c;
	return 0;
}

static void page_clear(struct td_roster_cursor *c)
{
	for (size_t i = 0; i < c->n; i++)
		td_member_free(&c->page[i]);
	c->n = c->next = 0;
}

int td_roster_cursor_next(struct td_roster_cursor *c, const struct td_member **out,
			  struct td_err *err)
{
	*out = NULL;
	if (c->next == c->n) {
		page_clear(c);
		if (c->end)
			return 0;
		struct td_db_stmt *s = rs_get(c->st, RS_PAGE, err);
		if (!s)
			return rs_fail(err);
		td_db_bind_int64(s, 1, c->after_id);
		td_db_bind_int64(s, 2, (int64_t)c->cutoff);
		td_db_bind_int64(s, 3, (int64_t)c->now);
		td_db_bind_int64(s, 4, TD_ROSTER_PAGE);
		td_db_bind_int64(s, 5, c->last_id);
		int step;
		while ((step = td_db_step(s)) == TD_DB_ROW)
			read_member(s, &c->page[c->n++]);
		/* no statement stays open between pages */
		rs_done(s);
		if (step != TD_DB_DONE) {
			page_clear(c);
			return td_store_db_error(c->st, err, "read the walk");
		}
		c->end = c->n < TD_ROSTER_PAGE;
		if (c->n == 0)
			return 0;
		c->after_id = c->page[c->n - 1].id;
	}
	*out = &c->page[c->next++];
	return 1;
}

size_t td_roster_cursor_total(const struct td_roster_cursor *c)
{
	return c->total;
}

void td_roster_cursor_close(struct td_roster_cursor *c)
{
	if (!c)
		return;
	page_clear(c);
	free(c);
}

int td_roster_may_send(struct td_store *st, const char *email, time_t now, bool *ok,
		       struct td_err *err)
{
	*ok = false;
	struct td_db_stmt *s = rs_get(st, RS_MAY_SEND, err);
	if (!s)
		return rs_fail(err);
	char *key = td_store_email_key(email);
	td_store_bind_text(s, 1, key);
	free(key);
	td_db_bind_int64(s, 2, (int64_t)now);
	int step = td_db_step(s);
	rs_done(s);
	if (step != TD_DB_ROW && step != TD_DB_DONE)
		return td_store_db_error(st, err, "may send");
	*ok = step == TD_DB_ROW;
	return 0;
}

/* ---- the reader's side ---- */

/* Calls that write several statements: td_store_sp_begin (the public
 * server writes while a send runs). */
static int sp_begin(struct td_store *st, bool *own, struct td_err *err)
{
	return td_store_sp_begin(st, "roster", own, err);
}

static int sp_end(struct td_store *st, bool own, int rc, struct td_err *err)
{
	return td_store_sp_end(st, "roster", own, rc, err);
}

/* 128 random bits in hex: what the confirmation token carries, so a
 * later sign-up (a new nonce) voids the earlier mail's link. */
static int make_nonce(char **out, struct td_err *err)
{
	unsigned char raw[16];
	if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw)
		return td_err_set(err, EX_OSERR, "roster: no random bytes for a "
				  "confirmation: %s", strerror(errno));
	static const char digits[] = "0123456789abcdef";
	char *hex = td_xmalloc(2 * sizeof raw + 1);
	for (size_t i = 0; i < sizeof raw; i++) {
		hex[2 * i] = digits[raw[i] >> 4];
		hex[2 * i + 1] = digits[raw[i] & 15];
	}
	hex[2 * sizeof raw] = '\0';
	*out = hex;
	return 0;
}

/* A returning reader's watermark moves up to now (roster.h). */
static int watermark_up(struct td_store *st, const char *key, struct td_err *err)
{
	struct td_db_stmt *s = rs_get(st, RS_WATERMARK_UP, err);
	if (!s)
		return rs_fail(err);
	td_store_bind_text(s, 1, key);
	td_db_bind_int64(s, 2, td_store_max_seq(st));
	return rs_exec(st, s, "move watermark", err);
}

/* The reader chose these tags: their per-tag unsubscribes of them go. */
static int lift_tag_suppressions(struct td_store *st, const char *key,
				 const struct td_strv *tags, struct td_err *err)
{
	struct td_db_stmt *s = rs_get(st, RS_LIFT_TAG, err);
	int rc;
	if (!s)
		return rs_fail(err);
	for (size_t i = 0; i < tags->n; i++) {
		td_store_bind_text(s, 1, key);
		td_store_bind_text(s, 2, tags->v[i]);
		if ((rc = rs_exec(st, s, "lift tag suppression", err)))
			return rc;
	}
	return 0;
}

#define DAY (24 * 60 * 60)

int td_roster_signup(struct td_store *st, const struct td_signup *su, time_t now,
		     int max_mails_per_day, bool *send_mail, char **nonce,
		     struct td_err *err)
{
	int rc;
	*send_mail = false;
	*nonce = NULL;
	if ((rc = check_email(su->email, err)) ||
	    (rc = check_name(su->email, su->name, err)))
		return rc;
	if (!su->tags || su->tags->n == 0)
		return td_err_set(err, EX_DATAERR, "roster: %s: a sign-up needs at "
				  "least one tag", su->email);
	if ((rc = check_tags(su->tags, su->email, err)))
		return rc;
	if (max_mails_per_day < 1)
		max_mails_per_day = 1;
	struct td_buf joined = TD_BUF_INIT;
	join_tags(su->tags, &joined);
	char *key = td_store_email_key(su->email);
	char *from = td_xasprintf("%s (%s)", su->client ? su->client : "",
				  su->form ? su->form : "form");
	struct td_db_stmt *s = NULL;
	bool own;
	if ((rc = sp_begin(st, &own, err)))
		goto out;
	if (td_db_prepare(td_store_db(st),
			       "SELECT id, status, confirm_mails, confirm_window_start"
			       " FROM members WHERE email_key = ?1", &s) != TD_DB_OK) {
		rc = sp_end(st, own, td_store_db_error(st, err, "sign-up"), err);
		goto out;
	}
	td_store_bind_text(s, 1, key);
	int step = td_db_step(s);
	int64_t id = 0;
	enum td_member_status status = TD_MEMBER_PENDING;
	int mails = 0;
	time_t window = now;
	if (step == TD_DB_ROW) {
		id = td_db_column_int64(s, 0);
		if (td_member_status_parse(td_store_col_cstr(s, 1), &status) < 0)
			status = TD_MEMBER_COMPLAINED;
		mails = td_db_column_int(s, 2);
		window = (time_t)td_db_column_int64(s, 3);
	} else if (step == TD_DB_DONE) {
		/* an address suppressed before the roster knew it */
		rc = suppressed_status(st, key, &status, err);
		if (!rc && status == TD_MEMBER_ACTIVE)
			status = TD_MEMBER_PENDING;
	} else {
		rc = td_store_db_error(st, err, "sign-up");
	}
	td_db_finalize(s);
	if (rc || status == TD_MEMBER_ACTIVE || status == TD_MEMBER_BOUNCED ||
	    status == TD_MEMBER_COMPLAINED) {
		rc = sp_end(st, own, rc, err);
		goto out;
	}
	/* a fixed window: it opens with the first mail and lasts 24 hours */
	if (now - window >= DAY || now < window) {
		window = now;
		mails = 0;
	}
	if (mails >= max_mails_per_day) {
		rc = sp_end(st, own, 0, err);
		goto out;
	}
	if (!id) {
		struct new_member n = {
			.key = key, .email = su->email, .name = su->name,
			.tags_joined = td_buf_cstr(&joined), .tags = su->tags,
			.origin = "form", .status = status, .reader_choice = true,
			.frequency = su->frequency, .now = now,
		};
		rc = insert_member(st, &n, &id, err);
	} else if (status == TD_MEMBER_PENDING) {
		/* nothing was confirmed yet: the latest sign-up is the choice */
		if (td_db_prepare(td_store_db(st),
				       "UPDATE members SET name = ?1, tags = ?2, frequency = ?3"
				       " WHERE id = ?4", &s) != TD_DB_OK) {
			rc = td_store_db_error(st, err, "sign-up");
		} else {
			td_store_bind_text(s, 1, su->name);
			td_store_bind_text(s, 2, td_buf_cstr(&joined));
			td_store_bind_text(s, 3, td_frequency_name(su->frequency));
			td_db_bind_int64(s, 4, id);
			rc = td_db_step(s) == TD_DB_DONE ? 0 :
				td_store_db_error(st, err, "sign-up");
			td_db_finalize(s);
		}
		if (!rc)
			rc = write_member_tags(st, id, su->tags, err);
	}
	/* the sign-up's choice waits for the confirmation in pending_* (an
	 * unsubscribed reader's tags stay theirs until they confirm) */
	if (!rc && (rc = make_nonce(nonce, err)) == 0) {
		if (td_db_prepare(td_store_db(st),
				       "UPDATE members SET confirm_nonce = ?1, confirm_sent_at = ?2,"
				       " confirm_mails = ?3, confirm_window_start = ?4,"
				       " pending_name = ?5, pending_tags = ?6, pending_frequency = ?7,"
				       " pending_from = ?8, changed_at = ?2 WHERE id = ?9", &s) != TD_DB_OK) {
			rc = td_store_db_error(st, err, "sign-up");
		} else {
			td_store_bind_text(s, 1, *nonce);
			td_db_bind_int64(s, 2, (int64_t)now);
			td_db_bind_int(s, 3, mails + 1);
			td_db_bind_int64(s, 4, (int64_t)window);
			td_store_bind_text(s, 5, su->name);
			td_store_bind_text(s, 6, td_buf_cstr(&joined));
			td_store_bind_text(s, 7, td_frequency_name(su->frequency));
			td_store_bind_text(s, 8, from);
			td_db_bind_int64(s, 9, id);
			rc = td_db_step(s) == TD_DB_DONE ? 0 :
				td_store_db_error(st, err, "sign-up");
			td_db_finalize(s);
		}
	}
	rc = sp_end(st, own, rc, err);
	if (rc) {
		free(*nonce);
		*nonce = NULL;
	} else {
		*send_mail = true;
	}
out:
	free(from);
	free(key);
	td_buf_free(&joined);
	return rc;
}

/* Equal without an early exit: how long the comparison takes says
 * nothing about the nonce. */
static bool same_secret(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned char d = la != lb;
	for (size_t i = 0; i < la && i < lb; i++)
		d |= (unsigned char)(a[i] ^ b[i]);
	return d == 0;
}

int td_roster_confirm(struct td_store *st, const char *email, const char *nonce,
		      const char *client, time_t now, int *result, struct td_err *err)
{
	*result = -1;
	char *key = td_store_email_key(email);
	struct td_db_stmt *s = NULL;
	bool own;
	int rc = sp_begin(st, &own, err);
	if (rc)
		goto out;
	if (td_db_prepare(td_store_db(st),
			       "SELECT id, status, confirm_nonce, COALESCE(pending_from, '')"
			       " FROM members WHERE email_key = ?1", &s) != TD_DB_OK) {
		rc = sp_end(st, own, td_store_db_error(st, err, "confirm"), err);
		goto out;
	}
	td_store_bind_text(s, 1, key);
	int step = td_db_step(s);
	if (step != TD_DB_ROW) {
		rc = step == TD_DB_DONE ? 0 : td_store_db_error(st, err, "confirm");
		td_db_finalize(s);
		rc = sp_end(st, own, rc, err);
		goto out;
	}
	int64_t id = td_db_column_int64(s, 0);
	enum td_member_status status;
	if (td_member_status_parse(td_store_col_cstr(s, 1), &status) < 0)
		status = TD_MEMBER_COMPLAINED;
	bool match = nonce && *nonce && *td_store_col_cstr(s, 2) && same_secret(nonce, td_store_col_cstr(s, 2));
	char *from = td_xasprintf("%s, signed up from %s", client ? client : "",
				  td_store_col_cstr(s, 3));
	td_db_finalize(s);
	s = NULL;
	if (status == TD_MEMBER_ACTIVE) {
		*result = 0;
	} else if ((status == TD_MEMBER_PENDING || status == TD_MEMBER_UNSUBSCRIBED) && match) {
		if (td_db_prepare(td_store_db(st),
				       "UPDATE members SET status = 'active', origin = 'form',"
				       " reader_choice = 1, name = COALESCE(pending_name, name),"
				       " tags = COALESCE(pending_tags, tags),"
				       " frequency = COALESCE(pending_frequency, frequency),"
				       " confirmed_at = ?2, consent_at = ?2, consent_how = 'form',"
				       " consent_from = ?3, changed_at = ?2, confirm_nonce = '',"
				       " pending_name = NULL, pending_tags = NULL,"
				       " pending_frequency = NULL, pending_from = NULL"
				       " WHERE id = ?1 RETURNING tags", &s) != TD_DB_OK) {
			rc = td_store_db_error(st, err, "confirm");
		} else {
			td_db_bind_int64(s, 1, id);
			td_db_bind_int64(s, 2, (int64_t)now);
			td_store_bind_text(s, 3, from);
			struct td_strv tags = TD_STRV_INIT;
			if (td_db_step(s) == TD_DB_ROW)
				split_tags(td_store_col_cstr(s, 0), &tags);
			else
				rc = td_store_db_error(st, err, "confirm");
			td_db_finalize(s);
			/* the reader's own word: their "all" unsubscribe and the
			 * per-tag ones of what they chose are lifted, and they
			 * start from now */
			if (!rc)
				rc = write_member_tags(st, id, &tags, err);
			if (!rc)
				rc = run_sql(st, "DELETE FROM suppressions WHERE email = ?1"
					     " AND scope = 'all'", key, 0, "confirm", err);
			if (!rc)
				rc = lift_tag_suppressions(st, key, &tags, err);
			if (!rc && status == TD_MEMBER_UNSUBSCRIBED)
				rc = watermark_up(st, key, err);
			td_strv_free(&tags);
			if (!rc)
				*result = 1;
		}
	}
	free(from);
	rc = sp_end(st, own, rc, err);
	if (rc)
		*result = -1;
out:
	free(key);
	return rc;
}

/* An IANA zone name as the store accepts it (the caller checks that the
 * zone exists): printable ASCII without spaces, at most 64 bytes. */
static bool zone_name_ok(const char *z)
{
	size_t n = strlen(z);
	if (n == 0 || n > 64)
		return false;
	for (const unsigned char *p = (const unsigned char *)z; *p; p++)
		if (*p <= ' ' || *p >= 0x7f)
			return false;
	return true;
}

int td_roster_set_prefs(struct td_store *st, const char *email,
			const struct td_strv *tags, const struct td_prefs *prefs,
			time_t now, struct td_err *err)
{
	int rc;
	if ((unsigned)prefs->frequency > TD_FREQ_MONTHLY || prefs->wday < 0 ||
	    prefs->wday > 6 || prefs->hour < 0 || prefs->hour > 23 || prefs->minute < 0 ||
	    prefs->minute > 59 || prefs->paused_until < 0)
		return td_err_set(err, EX_DATAERR, "roster: %s: preferences out of range "
				  "(day 0..6, hour 0..23, minute 0..59, pause >= 0)", email);
	if (prefs->timezone && !zone_name_ok(prefs->timezone))
		return td_err_set(err, EX_DATAERR, "roster: %s: '%.64s' is not a time "
				  "zone name", email, prefs->timezone);
	if (tags && (rc = check_tags(tags, email, err)))
		return rc;
	struct td_member m;
	bool found;
	if ((rc = td_roster_get(st, email, &m, &found, err)))
		return rc;
	int64_t id = m.id;
	td_member_free(&m);
	if (!found)
		return td_err_set(err, EX_NOINPUT, "roster: %s is not subscribed", email);
	char *key = td_store_email_key(email);
	struct td_buf joined = TD_BUF_INIT;
	if (tags)
		join_tags(tags, &joined);
	struct td_db_stmt *s;
	bool own;
	if ((rc = sp_begin(st, &own, err)))
		goto out;
	if (td_db_prepare(td_store_db(st),
			       "UPDATE members SET frequency = ?2, own_time = ?3, wday = ?4,"
			       " hour = ?5, minute = ?6, timezone = ?7, paused_until = ?8,"
			       " reader_choice = 1, changed_at = ?9,"
			       " tags = CASE WHEN ?10 IS NULL THEN tags ELSE ?10 END"
			       " WHERE id = ?1", &s) != TD_DB_OK) {
		rc = td_store_db_error(st, err, "preferences");
	} else {
		td_db_bind_int64(s, 1, id);
		td_store_bind_text(s, 2, td_frequency_name(prefs->frequency));
		td_db_bind_int(s, 3, prefs->own_time);
		td_db_bind_int(s, 4, prefs->wday);
		td_db_bind_int(s, 5, prefs->hour);
		td_db_bind_int(s, 6, prefs->minute);
		if (prefs->timezone)
			td_store_bind_text(s, 7, prefs->timezone);
		else
			td_db_bind_null(s, 7);
		td_db_bind_int64(s, 8, (int64_t)prefs->paused_until);
		td_db_bind_int64(s, 9, (int64_t)now);
		if (tags)
			td_store_bind_text(s, 10, td_buf_cstr(&joined));
		else
			td_db_bind_null(s, 10);
		rc = td_db_step(s) == TD_DB_DONE ? 0 : td_store_db_error(st, err, "preferences");
		td_db_finalize(s);
	}
	if (!rc && tags && !(rc = write_member_tags(st, id, tags, err)))
		rc = lift_tag_suppressions(st, key, tags, err);
	rc = sp_end(st, own, rc, err);
out:
	td_buf_free(&joined);
	free(key);
	return rc;
}

int td_roster_unsubscribe(struct td_store *st, const char *email, const char *how,
			  time_t now, struct td_err *err)
{
	/* recorded even for an address the roster does not know (yet): the
	 * reader's word is never lost; the status follows (store.c) */
	return td_store_suppress(st, email, "all", "unsubscribed", how, now, err);
}

int td_roster_resubscribe(struct td_store *st, const char *email, time_t now,
			  struct td_err *err)
{
	struct td_member m;
	bool found;
	int rc = td_roster_get(st, email, &m, &found, err);
	enum td_member_status status = m.status;
	td_member_free(&m);
	if (rc)
		return rc;
	if (!found)
		return td_err_set(err, EX_NOINPUT, "roster: %s is not subscribed", email);
	if (status == TD_MEMBER_ACTIVE)
		return 0;
	if (status != TD_MEMBER_UNSUBSCRIBED)
		return td_err_set(err, EX_NOPERM, "roster: %s is %s: only an unsubscribed "
				  "reader can resubscribe", email,
				  td_member_status_name(status));
	char *key = td_store_email_key(email);
	bool own;
	if (!(rc = sp_begin(st, &own, err))) {
		/* lifting the suppression makes them active (store.c) */
		rc = td_store_unsuppress(st, email, "all", NULL, err);
		if (!rc)
			rc = run_sql(st, "UPDATE members SET changed_at = ?2, reader_choice = 1"
				     " WHERE email_key = ?1", key, (int64_t)now, "resubscribe", err);
		if (!rc)
			rc = watermark_up(st, key, err);
		rc = sp_end(st, own, rc, err);
	}
	free(key);
	return rc;
}

int td_roster_purge_pending(struct td_store *st, time_t before, size_t *purged,
			    struct td_err *err)
{
#define EXPIRED " FROM members WHERE status = 'pending' AND confirm_sent_at < ?1"
	*purged = 0;
	int rc;
	bool own;
	if ((rc = sp_begin(st, &own, err)))
		return rc;
	if (!(rc = run_sql(st, "DELETE FROM member_tags WHERE member IN (SELECT id" EXPIRED ")",
			   NULL, (int64_t)before, "purge", err)) &&
	    !(rc = run_sql(st, "DELETE" EXPIRED, NULL, (int64_t)before, "purge", err)))
		*purged = (size_t)td_db_changes(td_store_db(st));
	return sp_end(st, own, rc, err);
#undef EXPIRED
}

int td_roster_site_tags(struct td_store *st, struct td_strv *slugs,
			struct td_strv *names, struct td_err *err)
{
	struct td_db_stmt *s;
	if (td_db_prepare(td_store_db(st),
			       "SELECT t.slug, t.name FROM tags t JOIN post_tags p ON p.tag = t.slug"
			       " GROUP BY t.slug ORDER BY COUNT(*) DESC, t.name, t.slug", &s) != TD_DB_OK)
		return td_store_db_error(st, err, "site tags");
	int step;
	while ((step = td_db_step(s)) == TD_DB_ROW) {
		td_strv_push(slugs, td_store_col_cstr(s, 0));
		td_strv_push(names, td_store_col_cstr(s, 1));
	}
	td_db_finalize(s);
	return step == TD_DB_DONE ? 0 : td_store_db_error(st, err, "site tags");
}
