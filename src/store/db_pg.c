/*
 * db_pg.c: db.h on PostgreSQL through libpq.
 *
 * Connecting: the URL goes to libpq as it is (TLS settings such as
 * sslmode, sslrootcert, sslcert pass through as URI parameters), but one
 * that carries a password is refused: config files get copied, pasted and
 * committed, so the password comes from the PGPASSWORD environment
 * variable or a passfile (PGPASSFILE, ~/.pgpass) that only its owner can
 * read, which libpq insists on: it ignores a passfile others can read.
 *
 * Statements: SQL is written with SQLite's ?1, ?2 (or bare ?); prepare
 * turns them into $1, $2. The statement is prepared on the server (once
 * per text and parameter types, per connection: "td1", "td2", ...) at its
 * first step, when the bound values tell the types, and run in libpq's
 * single-row mode, so a select of a million rows holds one row in memory,
 * not all of them. One connection carries one command at a time: when
 * another statement (or td_pg_exec) needs the connection while a select
 * is still streaming, the select's remaining rows are read and set aside
 * first (all of them, in memory: their bytes and 16 a value), and it
 * carries on from there; a reset half way reads and drops the rest. So a
 * walk that writes as it goes holds the walk's rows in memory, as SQLite
 * would not. Since the server sees the text only
 * at the first step, a syntax error shows there, not at prepare.
 * A prepared statement whose result columns change type under it (ALTER
 * COLUMN TYPE, or SELECT * over a table that gained a column) fails with
 * 0A000 "cached plan must not change result type"; that is not retried:
 * the store's PostgreSQL migrations only create tables, a connection
 * migrates before it prepares the store's statements, and a retry could
 * not help inside a transaction, which the error has aborted. A migration
 * that changes a column's type wants long-lived processes (serve)
 * restarted.
 *
 * Values go in text form except blobs (bytea, binary), typed: integers
 * int8, doubles float8, text and NULL (and parameters left unbound) text;
 * rows come back as text, which db.c converts for column_int64 and
 * column_double. Booleans read as "1" / "0", as SQLite has them.
 *
 * Errors carry the server's message and SQLSTATE; the SQLSTATE maps to
 * SQLite's codes (constraint, busy, full, read-only). One trap needs a
 * hand: COMMIT of a transaction in which a statement failed succeeds with
 * the status "ROLLBACK"; that is reported as the error it is.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <libpq-fe.h>

#include "db.h"
#include "db_pg.h"
#include "tagdigest/core/buf.h"
#include "tagdigest/core/log.h"
#include "tagdigest/core/util.h"

/* Type OIDs from the server's pg_type.h (stable since forever). */
enum {
	OID_BOOL = 16, OID_BYTEA = 17, OID_INT8 = 20, OID_INT2 = 21,
	OID_INT4 = 23, OID_TEXT = 25, OID_OID = 26, OID_FLOAT4 = 700, OID_FLOAT8 = 701,
	OID_NUMERIC = 1700,
};

/* A connection that does not answer within this many seconds is
 * unreachable, unless the URL says connect_timeout itself. */
#define CONNECT_TIMEOUT 10

/* Server-side prepared statements kept per connection. Past this many
 * distinct texts (SQL built with a varying number of terms), statements
 * run unnamed instead, so a long-lived connection does not grow without
 * bound. */
#define MAX_NAMED 512

struct pg_named {
	uint64_t hash;
	char *sql;
	Oid *types;
	int n;
	char name[16];
};

struct td_pg {
	PGconn *conn;
	int errcode;
	struct td_buf errmsg;
	/* the first error of the open transaction, for the COMMIT that
	 * turns out to be a ROLLBACK */
	struct td_buf txn_err;
	int64_t changes;
	struct pg_named *named;
	size_t n_named;
	/* the statement whose rows are still coming in on the connection */
	struct td_pg_stmt *streaming;
};

struct pg_blob {
	unsigned char *p;   /* decoded, NUL-terminated; NULL until asked for */
	size_t n;
};

enum pg_state { ST_READY, ST_RUNNING, ST_DONE };

/* Rows read off the connection for a statement when another statement
 * needed the connection (pg_detach), kept compactly: as libpq's
 * single-row results they cost about 3 KB a row (a million rows of 100
 * bytes took 3.2 GB and 47 s, measured), here their bytes and 16 a
 * value. */
struct pg_aside {
	PGresult *attrs;    /* the columns (names, types), no rows */
	int nfields;
	struct td_buf data; /* the values, each NUL-terminated */
	struct pg_cell {
		size_t off;
		int len;    /* -1: NULL */
	} *cells;           /* nrows * nfields */
	size_t nrows, cap;
	size_t next;        /* the next row to step to */
};

struct td_pg_stmt {
	struct td_pg *pg;
	char *sql;          /* with $N */
	int nparams;
	char **values;      /* NULL: SQL NULL */
	int *lengths;
	int *formats;
	Oid *types;
	bool is_commit;     /* COMMIT or END: watch for the ROLLBACK trap */
	enum pg_state state;
	PGresult *res;      /* the result the current row is in */
	int row;            /* the current row in res; -1 before the first */
	/* rows, then the results that end the run, read off the connection
	 * for this statement when another needed it (see pg_detach) */
	struct pg_aside aside;
	bool in_aside;      /* the current row is aside.next - 1 */
	PGresult **queue;
	size_t qhead, qlen, qcap;
	bool streaming_done; /* the connection gave its NULL for this run */
	struct pg_blob *blobs; /* per column of the current row */
	int nblobs;
};

/* ---- errors ------------------------------------------------------------ */

/* msg on one line: a run of blanks, tabs and newlines (libpq ends its
 * messages with one, and indents hints with a tab) becomes one space. */
static void set_msg(struct td_buf *b, const char *prefix, const char *msg)
{
	td_buf_reset(b);
	if (prefix)
		td_buf_puts(b, prefix);
	for (const char *p = msg ? msg : ""; *p; p++) {
		bool blank = *p == ' ' || *p == '\n' || *p == '\r' || *p == '\t';
		if (!blank)
			td_buf_putc(b, *p);
		else if (b->len && b->data[b->len - 1] != ' ')
			td_buf_putc(b, ' ');
	}
	while (b->len && b->data[b->len - 1] == ' ')
		b->data[--b->len] = '\0';
}

static int code_of_sqlstate(const char *st)
{
	if (!st)
		return TD_DB_ERROR;
	if (strncmp(st, "23", 2) == 0)
		return TD_DB_CONSTRAINT;
	/* serialization failure, deadlock, lock not available, statement
	 * cancelled (lock_timeout, statement_timeout): try again later */
	if (!strcmp(st, "40001") || !strcmp(st, "40P01") ||
	    !strcmp(st, "55P03") || !strcmp(st, "57014"))
		return TD_DB_BUSY;
	if (!strcmp(st, "53100"))
		return TD_DB_FULL;
	if (!strcmp(st, "25006"))
		return TD_DB_READONLY;
	return TD_DB_ERROR;
}

/* Records the error res (or the connection's, when res is NULL) on pg and
 * returns its code. */
static int pg_fail(struct td_pg *pg, const PGresult *res)
{
	if (PQstatus(pg->conn) == CONNECTION_BAD) {
		set_msg(&pg->errmsg, "connection to the server lost: ",
			PQerrorMessage(pg->conn));
		return pg->errcode = TD_DB_IOERR;
	}
	const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	if (primary) {
		set_msg(&pg->errmsg, NULL, primary);
		if (state)
			td_buf_printf(&pg->errmsg, " (%s)", state);
	} else {
		set_msg(&pg->errmsg, NULL, res && *PQresultErrorMessage(res) ?
			PQresultErrorMessage(res) : PQerrorMessage(pg->conn));
		if (!pg->errmsg.len)
			td_buf_puts(&pg->errmsg, "PostgreSQL: unknown error");
	}
	pg->errcode = code_of_sqlstate(state);
	/* busy is the caller's "try again later": the message says so, and
	 * for a lock wait that ran out (lock_timeout) who is in the way */
	if (pg->errcode == TD_DB_BUSY)
		td_buf_puts(&pg->errmsg, state && !strcmp(state, "55P03") ?
			    ": another connection holds a lock this needs; try again later" :
			    ": try again later");
	return pg->errcode;
}

static int pg_misuse(struct td_pg *pg, const char *what)
{
	set_msg(&pg->errmsg, NULL, what);
	return pg->errcode = TD_DB_ERROR;
}

/* After a command ended (the connection gave its NULL): the first error
 * inside a transaction is kept for the COMMIT that will roll it back, and
 * forgotten once no transaction is open. */
static void note_txn(struct td_pg *pg, bool failed)
{
	PGTransactionStatusType ts = PQtransactionStatus(pg->conn);
	if (ts == PQTRANS_IDLE)
		td_buf_reset(&pg->txn_err);
	else if (failed && ts == PQTRANS_INERROR && !pg->txn_err.len)
		td_buf_puts(&pg->txn_err, td_buf_cstr(&pg->errmsg));
}

/* The COMMIT trap: returns TD_DB_ERROR when a COMMIT came back as
 * ROLLBACK, TD_DB_OK otherwise. */
static int check_commit(struct td_pg *pg, const PGresult *res)
{
	if (strcmp(PQcmdStatus((PGresult *)res), "ROLLBACK") != 0)
		return TD_DB_OK;
	struct td_buf why = TD_BUF_INIT;
	td_buf_puts(&why, pg->txn_err.len ? td_buf_cstr(&pg->txn_err) :
		    "a statement in it failed");
	set_msg(&pg->errmsg, "transaction was rolled back: ", td_buf_cstr(&why));
	td_buf_free(&why);
	td_buf_reset(&pg->txn_err);
	return pg->errcode = TD_DB_ERROR;
}

/* Rows an INSERT, UPDATE, DELETE or MERGE changed (RETURNING or not); other
 * commands leave the count alone, as sqlite3_changes does. */
static void note_changes(struct td_pg *pg, PGresult *res)
{
	const char *st = PQcmdStatus(res);
	if (strncmp(st, "INSERT ", 7) && strncmp(st, "UPDATE ", 7) &&
	    strncmp(st, "DELETE ", 7) && strncmp(st, "MERGE ", 6))
		return;
	pg->changes = strtoll(PQcmdTuples(res), NULL, 10);
}

/* ---- SQL text ---------------------------------------------------------- */

static bool word_char(char c)
{
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9');
}

/* Past the comment, string or quoted identifier at p (returns p when
 * there is none); the scanner of both translate() and first_word(). */
static const char *skip_quoted(const char *sql, const char *p)
{
	if (p[0] == '-' && p[1] == '-') {
		while (*p && *p != '\n')
			p++;
		return p;
	}
	if (p[0] == '/' && p[1] == '*') {
		int depth = 0; /* PostgreSQL nests block comments */
		while (*p) {
			if (p[0] == '/' && p[1] == '*') {
				depth++;
				p += 2;
			} else if (p[0] == '*' && p[1] == '/') {
				p += 2;
				if (--depth == 0)
					break;
			} else {
				p++;
			}
		}
		return p;
	}
	if (*p == '\'' || *p == '"') {
		char q = *p;
		/* E'...' takes backslash escapes; an E that ends a word is
		 * not one */
		bool esc = q == '\'' && p > sql && (p[-1] == 'E' || p[-1] == 'e') &&
			   (p - 1 == sql || !word_char(p[-2]));
		for (p++; *p; p++) {
			if (esc && *p == '\\' && p[1]) {
				p++;
			} else if (*p == q) {
				if (p[1] != q)
					return p + 1;
				p++; /* '' or "" */
			}
		}
		return p;
	}
	if (*p == '$' && !(p > sql && word_char(p[-1]))) {
		/* $tag$ ... $tag$ (tag: letters, digits, _; not a digit first) */
		const char *t = p + 1;
		if (*t >= '0' && *t <= '9')
			return p;
		while (word_char(*t))
			t++;
		if (*t != '$')
			return p;
		size_t tl = (size_t)(t - p) + 1;
		const char *end;
		for (end = t + 1; *end; end++)
			if (*end == '$' && strncmp(end, p, tl) == 0)
				return end + tl;
		return end;
	}
	return p;
}

/* sql with ?N and ? turned into $N (a bare ? is one more than the largest
 * number so far, as SQLite numbers it); *nparams gets the largest. */
static char *translate(const char *sql, int *nparams)
{
	struct td_buf out = TD_BUF_INIT;
	int max = 0;
	const char *p = sql;

	td_buf_reserve(&out, strlen(sql) + 8);
	while (*p) {
		const char *q = skip_quoted(sql, p);
		if (q != p) {
			td_buf_append(&out, p, (size_t)(q - p));
			p = q;
			continue;
		}
		if (*p != '?') {
			td_buf_putc(&out, *p++);
			continue;
		}
		p++;
		long n;
		if (*p >= '0' && *p <= '9') {
			char *e;
			n = strtol(p, &e, 10);
			p = e;
		} else {
			n = max + 1;
		}
		if (n > max)
			max = n > 65535 ? 65535 : (int)n;
		td_buf_printf(&out, "$%ld", n);
	}
	*nparams = max;
	return td_buf_steal(&out);
}

/* Whether the first word of sql (past blanks and comments) is word. */
static bool first_word_is(const char *sql, const char *word)
{
	const char *p = sql;
	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
			p++;
		if ((p[0] == '-' && p[1] == '-') || (p[0] == '/' && p[1] == '*'))
			p = skip_quoted(sql, p);
		else
			break;
	}
	size_t n = strlen(word);
	return strncasecmp(p, word, n) == 0 && !word_char(p[n]);
}

/* ---- connecting -------------------------------------------------------- */

/* The URL as messages show it, rebuilt from what libpq parsed: scheme,
 * user, host, port and database, never a password (nor the query). */
static char *display_url(PQconninfoOption *opts)
{
	const char *user = NULL, *host = NULL, *port = NULL, *db = NULL;
	for (PQconninfoOption *o = opts; o && o->keyword; o++) {
		if (!o->val || !*o->val)
			continue;
		if (!strcmp(o->keyword, "user"))
			user = o->val;
		else if (!strcmp(o->keyword, "host"))
			host = o->val;
		else if (!strcmp(o->keyword, "hostaddr") && !host)
			host = o->val;
		else if (!strcmp(o->keyword, "port"))
			port = o->val;
		else if (!strcmp(o->keyword, "dbname"))
			db = o->val;
	}
	return td_xasprintf("postgresql://%s%s%s%s%s/%s", user ? user : "",
			    user ? "@" : "", host ? host : "", port ? ":" : "",
			    port ? port : "", db ? db : "");
}

static const char *opt_value(PQconninfoOption *opts, const char *key)
{
	for (PQconninfoOption *o = opts; o && o->keyword; o++)
		if (!strcmp(o->keyword, key))
			return o->val && *o->val ? o->val : NULL;
	return NULL;
}

/* The passfile libpq would read when it is readable by group or others
 * (libpq then ignores it), else NULL. Returns a malloc'd path. */
static char *loose_passfile(PQconninfoOption *opts)
{
	const char *pf = opt_value(opts, "passfile");
	char *path;
	struct stat st;

	if (!pf)
		pf = getenv("PGPASSFILE");
	if (pf) {
		path = td_xstrdup(pf);
	} else {
		const char *home = getenv("HOME");
		if (!home)
			return NULL;
		path = td_xasprintf("%s/.pgpass", home);
	}
	if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 077))
		return path;
	free(path);
	return NULL;
}

/* The SQLSTATE in a verbose libpq error text ("FATAL:  28P01:  ..."), or
 * "" when the server sent none (it was not reached). */
static void sqlstate_of_text(const char *msg, char out[6])
{
	out[0] = '\0';
	for (const char *p = strstr(msg, ":  "); p; p = strstr(p + 1, ":  ")) {
		const char *s = p + 3;
		size_t i;
		for (i = 0; i < 5; i++)
			if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'A' && s[i] <= 'Z')))
				break;
		if (i == 5 && s[5] == ':') {
			memcpy(out, s, 5);
			out[5] = '\0';
			return;
		}
	}
}

/* A verbose libpq error text without the SQLSTATE and the LOCATION line,
 * on one line. */
static void clean_connect_msg(struct td_buf *b, const char *msg, const char *state)
{
	struct td_buf t = TD_BUF_INIT;
	for (const char *p = msg; *p;) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		if (strncmp(p, "LOCATION:", 9) != 0) {
			if (t.len)
				td_buf_putc(&t, ' ');
			td_buf_append(&t, p, n);
		}
		p += n + (nl ? 1 : 0);
	}
	if (*state) {
		char pat[16];
		snprintf(pat, sizeof pat, "%s: ", state);
		char *at = strstr(t.data ? t.data : "", pat);
		if (at)
			memmove(at, at + 7, strlen(at + 7) + 1);
	}
	set_msg(b, NULL, td_buf_cstr(&t));
	td_buf_free(&t);
}

/* libpq's own connect_timeout works in its blocking connect only; this
 * polls the non-blocking one (which lets the error verbosity be set before
 * the server answers: the SQLSTATE tells a refused login from the rest). */
static bool connect_poll(PGconn *c, int timeout_s)
{
	PostgresPollingStatusType st = PGRES_POLLING_WRITING;
	double deadline = td_mono_now() + timeout_s;

	while (st != PGRES_POLLING_OK && st != PGRES_POLLING_FAILED) {
		double left = deadline - td_mono_now();
		if (left <= 0)
			return false;
		struct pollfd p = { PQsocket(c),
				    st == PGRES_POLLING_READING ? POLLIN : POLLOUT, 0 };
		if (p.fd < 0)
			break;
		int r = poll(&p, 1, (int)(left * 1000) + 1);
		if (r < 0 && errno != EINTR)
			break;
		if (r == 0)
			continue;
		st = PQconnectPoll(c);
	}
	return true;
}

/* The server's notices go through log.h, not libpq's own print to stderr:
 * a WARNING is a warning, the rest (NOTICE: "relation already exists,
 * skipping", ...) is detail for --verbose. So is the warning on a
 * ROLLBACK or COMMIT with no transaction open (25P01): SQLite's answer to
 * that is a return code the caller may ignore, and a ROLLBACK on the way
 * out of an error path is no news. */
static void on_notice(void *arg, const PGresult *res)
{
	const char *sev = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
	const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	(void)arg;
	if (!msg)
		return;
	if (sev && !strcmp(sev, "WARNING") && !(state && !strcmp(state, "25P01")))
		td_log_warnx("store: PostgreSQL: %s", msg);
	else
		td_log_debug("store: PostgreSQL: %s", msg);
}

/* Session settings, one round trip. */
static const char SESSION_SQL[] =
	"SET application_name = 'tagdigest';"
	/* A client that hangs (stopped, swapped out, stuck on a slow relay)
	 * inside a transaction keeps its row locks, and TCP keepalives do
	 * not notice: its kernel still answers them. The server ends such a
	 * session after a minute idle in a transaction, freeing the locks
	 * for the other senders; no transaction of ours waits that long
	 * between two statements. */
	"SET idle_in_transaction_session_timeout = '60s';"
	/* No lock_timeout here: a row another transaction holds locked is
	 * waited for until that transaction ends (ours end within the
	 * minute above once idle). A session-wide 5 s, as SQLite's busy
	 * timeout, made a sender that had handed digests to the relay stop
	 * without recording them when an editor's import held readers' rows
	 * longer, and the next run sent them again (review of issue 15).
	 * Who wants a bound asks for it: the public pages
	 * (td_store_set_busy_wait, 60 s); lock.c polls its advisory locks. */
	"SET client_encoding = 'UTF8';"
	"SET timezone = 'UTC';";

int td_pg_open(const char *url, bool readonly, struct td_pg **out,
	       struct td_err *err)
{
	char *perr = NULL;
	PQconninfoOption *opts = PQconninfoParse(url, &perr);
	char *shown;
	int rc;

	*out = NULL;
	if (!opts) {
		struct td_buf m = TD_BUF_INIT;
		set_msg(&m, NULL, perr ? perr : "out of memory");
		PQfreemem(perr);
		/* the URL did not parse, so it cannot be shown safely */
		rc = td_err_set(err, EX_CONFIG,
				"store: url: not a PostgreSQL URL libpq accepts: %s "
				"(write postgresql://USER@HOST:PORT/DBNAME?sslmode=...)",
				td_buf_cstr(&m));
		td_buf_free(&m);
		return rc;
	}
	shown = display_url(opts);
	if (opt_value(opts, "password")) {
		rc = td_err_set(err, EX_CONFIG,
				"store: %s: the URL carries a password; remove it and "
				"give the password in the PGPASSWORD environment variable "
				"or a passfile only its owner can read (PGPASSFILE or "
				"~/.pgpass, mode 0600: libpq ignores one others can read)",
				shown);
		goto fail;
	}

	int timeout = CONNECT_TIMEOUT;
	const char *ct = opt_value(opts, "connect_timeout");
	if (ct && atoi(ct) > 0)
		timeout = atoi(ct) < 2 ? 2 : atoi(ct);

	const char *const kw[] = { "dbname", NULL };
	const char *const vals[] = { url, NULL };
	PGconn *c = PQconnectStartParams(kw, vals, 1);
	if (!c) {
		rc = td_err_set(err, EX_OSERR, "store: %s: out of memory", shown);
		goto fail;
	}
	bool in_time = true;
	if (PQstatus(c) != CONNECTION_BAD) {
		PQsetErrorVerbosity(c, PQERRORS_VERBOSE);
		in_time = connect_poll(c, timeout);
	}
	if (!in_time || PQstatus(c) != CONNECTION_OK) {
		char state[6];
		struct td_buf m = TD_BUF_INIT;
		const char *lib = in_time ? PQerrorMessage(c) : "";

		sqlstate_of_text(lib, state);
		if (in_time)
			clean_connect_msg(&m, lib, state);
		else
			td_buf_printf(&m, "no answer in %d s", timeout);
		if (!strncmp(state, "28", 2) || PQconnectionNeedsPassword(c)) {
			char *pf = loose_passfile(opts);
			rc = td_err_set(err, EX_NOPERM,
					"store: %s: the server refused the login: %s; "
					"give the password in PGPASSWORD or a passfile "
					"(PGPASSFILE or ~/.pgpass, mode 0600), or allow "
					"this user in pg_hba.conf%s%s%s",
					shown, td_buf_cstr(&m),
					pf ? " (" : "", pf ? pf : "",
					pf ? " is readable by others, so libpq ignores "
					     "it: chmod 0600 it)" : "");
			free(pf);
		} else if (!strcmp(state, "3D000")) {
			rc = td_err_set(err, EX_CONFIG,
					"store: %s: %s; create it (createdb) or fix "
					"the URL", shown, td_buf_cstr(&m));
		} else {
			rc = td_err_set(err, EX_UNAVAILABLE,
					"store: %s: cannot reach the server: %s; check "
					"that PostgreSQL runs there and listens on that "
					"address and port (listen_addresses, firewall) "
					"and that the URL's TLS settings (sslmode, "
					"sslrootcert) suit the server", shown,
					td_buf_cstr(&m));
		}
		td_buf_free(&m);
		PQfinish(c);
		goto fail;
	}
	PQsetErrorVerbosity(c, PQERRORS_DEFAULT);
	PQsetNoticeReceiver(c, on_notice, NULL);

	struct td_pg *pg = td_xcalloc(1, sizeof *pg);
	pg->conn = c;
	td_buf_init(&pg->errmsg, TD_BUF_NOLIMIT);
	td_buf_init(&pg->txn_err, TD_BUF_NOLIMIT);
	if (td_pg_exec(pg, SESSION_SQL) != TD_DB_OK ||
	    (readonly && td_pg_exec(pg, "SET default_transaction_read_only = on") != TD_DB_OK)) {
		rc = td_err_set(err, EX_UNAVAILABLE, "store: %s: setting up the session: %s",
				shown, td_pg_errmsg(pg));
		td_pg_close(pg);
		goto fail;
	}
	*out = pg;
	rc = 0;
fail:
	free(shown);
	PQconninfoFree(opts);
	return rc;
}

void td_pg_close(struct td_pg *pg)
{
	if (!pg)
		return;
	PQfinish(pg->conn);
	for (size_t i = 0; i < pg->n_named; i++) {
		free(pg->named[i].sql);
		free(pg->named[i].types);
	}
	free(pg->named);
	td_buf_free(&pg->errmsg);
	td_buf_free(&pg->txn_err);
	free(pg);
}

int td_pg_errcode(struct td_pg *pg)
{
	return pg->errcode;
}

const char *td_pg_errmsg(struct td_pg *pg)
{
	return pg->errmsg.len ? td_buf_cstr(&pg->errmsg) : "not an error";
}

int64_t td_pg_changes(struct td_pg *pg)
{
	return pg->changes;
}

bool td_pg_autocommit(struct td_pg *pg)
{
	return PQtransactionStatus(pg->conn) == PQTRANS_IDLE;
}

/* ---- one command at a time on the connection --------------------------- */

static void queue_push(struct td_pg_stmt *s, PGresult *r)
{
	if (s->qhead + s->qlen == s->qcap) {
		if (s->qhead) {
			memmove(s->queue, s->queue + s->qhead, s->qlen * sizeof *s->queue);
			s->qhead = 0;
		} else {
			s->qcap = s->qcap ? s->qcap * 2 : 64;
			s->queue = td_xrealloc(s->queue, s->qcap * sizeof *s->queue);
		}
	}
	s->queue[s->qhead + s->qlen++] = r;
}

/* Copies the one row of a single-row result r to a's end. */
static void aside_push(struct pg_aside *a, const PGresult *r)
{
	if (!a->attrs) {
		a->attrs = PQcopyResult(r, PG_COPYRES_ATTRS);
		if (!a->attrs) {
			fprintf(stderr, "tagdigest: out of memory setting rows aside\n");
			abort();
		}
		a->nfields = PQnfields(r);
		td_buf_init(&a->data, TD_BUF_NOLIMIT);
	}
	if (a->nrows == a->cap) {
		a->cap = a->cap ? a->cap * 2 : 1024;
		a->cells = td_xrealloc(a->cells, a->cap * (size_t)(a->nfields ? a->nfields : 1) *
					  sizeof *a->cells);
	}
	struct pg_cell *c = a->cells + a->nrows * (size_t)a->nfields;
	for (int i = 0; i < a->nfields; i++) {
		c[i].off = a->data.len;
		if (PQgetisnull(r, 0, i)) {
			c[i].len = -1;
			continue;
		}
		c[i].len = PQgetlength(r, 0, i);
		td_buf_append(&a->data, PQgetvalue(r, 0, i), (size_t)c[i].len);
		td_buf_putc(&a->data, '\0');
	}
	a->nrows++;
}

static void aside_free(struct pg_aside *a)
{
	PQclear(a->attrs);
	td_buf_free(&a->data);
	free(a->cells);
	memset(a, 0, sizeof *a);
}

/* Frees the connection for another command: the streaming statement's
 * remaining rows are set aside, the results that end its run queued. */
static void pg_detach(struct td_pg *pg)
{
	struct td_pg_stmt *s = pg->streaming;
	PGresult *r;
	bool failed = false;

	if (!s)
		return;
	while ((r = PQgetResult(pg->conn))) {
		if (PQresultStatus(r) == PGRES_FATAL_ERROR)
			failed = true;
		if (PQresultStatus(r) == PGRES_SINGLE_TUPLE && !s->qlen) {
			aside_push(&s->aside, r);
			PQclear(r);
			continue;
		}
		queue_push(s, r);
	}
	s->streaming_done = true;
	pg->streaming = NULL;
	if (failed && PQtransactionStatus(pg->conn) == PQTRANS_INERROR &&
	    !pg->txn_err.len) {
		/* the message itself is set when the statement steps to it */
		for (size_t i = 0; i < s->qlen; i++) {
			PGresult *q = s->queue[s->qhead + i];
			if (PQresultStatus(q) == PGRES_FATAL_ERROR) {
				const char *m = PQresultErrorField(q, PG_DIAG_MESSAGE_PRIMARY);
				const char *st = PQresultErrorField(q, PG_DIAG_SQLSTATE);
				set_msg(&pg->txn_err, NULL, m ? m : "error");
				if (st)
					td_buf_printf(&pg->txn_err, " (%s)", st);
				break;
			}
		}
	}
}

int td_pg_exec(struct td_pg *pg, const char *sql)
{
	PGresult *r;
	int rc = TD_DB_OK;

	pg_detach(pg);
	r = PQexec(pg->conn, sql);
	switch (r ? PQresultStatus(r) : PGRES_FATAL_ERROR) {
	case PGRES_COMMAND_OK:
	case PGRES_TUPLES_OK:
	case PGRES_EMPTY_QUERY:
		note_changes(pg, r);
		if (first_word_is(sql, "COMMIT") || first_word_is(sql, "END"))
			rc = check_commit(pg, r);
		break;
	default:
		rc = pg_fail(pg, r);
		break;
	}
	PQclear(r);
	note_txn(pg, rc != TD_DB_OK);
	return rc;
}

/* ---- statements -------------------------------------------------------- */

int td_pg_prepare(struct td_pg *pg, const char *sql, struct td_pg_stmt **out)
{
	struct td_pg_stmt *s = td_xcalloc(1, sizeof *s);

	s->pg = pg;
	s->sql = translate(sql, &s->nparams);
	s->is_commit = first_word_is(sql, "COMMIT") || first_word_is(sql, "END");
	if (s->nparams) {
		s->values = td_xcalloc((size_t)s->nparams, sizeof *s->values);
		s->lengths = td_xcalloc((size_t)s->nparams, sizeof *s->lengths);
		s->formats = td_xcalloc((size_t)s->nparams, sizeof *s->formats);
		s->types = td_xcalloc((size_t)s->nparams, sizeof *s->types);
		/* unbound is NULL text, as the nulls bound (td_pg_bind_null):
		 * SQLite takes gaps in the numbers (?1, ?3) and unbound
		 * parameters; PostgreSQL must have a type for each */
		for (int i = 0; i < s->nparams; i++)
			s->types[i] = OID_TEXT;
	}
	s->row = -1;
	*out = s;
	return TD_DB_OK;
}

static int bind_slot(struct td_pg_stmt *s, int i, char *v, int len, int format,
		     Oid type)
{
	if (i < 1 || i > s->nparams) {
		free(v);
		return pg_misuse(s->pg, "bind: parameter index out of range");
	}
	free(s->values[i - 1]);
	s->values[i - 1] = v;
	s->lengths[i - 1] = len;
	s->formats[i - 1] = format;
	s->types[i - 1] = type;
	return TD_DB_OK;
}

int td_pg_bind_int64(struct td_pg_stmt *s, int i, int64_t v)
{
	return bind_slot(s, i, td_xasprintf("%lld", (long long)v), 0, 0, OID_INT8);
}

int td_pg_bind_double(struct td_pg_stmt *s, int i, double v)
{
	char *t;
	if (v != v)
		t = td_xstrdup("NaN");
	else if (v > 1.79769313486231570815e308)
		t = td_xstrdup("Infinity");
	else if (v < -1.79769313486231570815e308)
		t = td_xstrdup("-Infinity");
	else
		t = td_xasprintf("%.17g", v);
	return bind_slot(s, i, t, 0, 0, OID_FLOAT8);
}

int td_pg_bind_text(struct td_pg_stmt *s, int i, const char *v)
{
	/* typed text, not "unknown": the store's SQL has parameters whose
	 * type nothing around them says (`?3 IS NULL`, `?1 || ','`), and the
	 * store binds numbers as numbers */
	return bind_slot(s, i, td_xstrdup(v), 0, 0, OID_TEXT);
}

int td_pg_bind_blob(struct td_pg_stmt *s, int i, const void *p, size_t n)
{
	if (n > 0x7fffffff)
		return pg_misuse(s->pg, "bind: blob larger than 2 GiB");
	/* never a NULL pointer, which would mean SQL NULL */
	char *copy = td_xmalloc(n ? n : 1);
	if (n)
		memcpy(copy, p, n);
	return bind_slot(s, i, copy, (int)n, 1, OID_BYTEA);
}

int td_pg_bind_null(struct td_pg_stmt *s, int i)
{
	/* the store's NULLs are missing text (a key, a time zone, tags
	 * unchanged), and `?3 IS NULL` needs a type */
	return bind_slot(s, i, NULL, 0, 0, OID_TEXT);
}

int td_pg_bind_parameter_count(struct td_pg_stmt *s)
{
	return s->nparams;
}

void td_pg_clear_bindings(struct td_pg_stmt *s)
{
	for (int i = 0; i < s->nparams; i++) {
		free(s->values[i]);
		s->values[i] = NULL;
		s->lengths[i] = s->formats[i] = 0;
		s->types[i] = OID_TEXT;
	}
}

static void drop_row(struct td_pg_stmt *s)
{
	for (int i = 0; i < s->nblobs; i++)
		free(s->blobs[i].p);
	free(s->blobs);
	s->blobs = NULL;
	s->nblobs = 0;
}

/* Back to ST_READY: the rows still coming are read and dropped (the
 * connection carries one command at a time), queued ones freed. */
static void stop_run(struct td_pg_stmt *s)
{
	struct td_pg *pg = s->pg;

	drop_row(s);
	PQclear(s->res);
	s->res = NULL;
	s->row = -1;
	if (pg->streaming == s) {
		PGresult *r;
		bool failed = false;
		while ((r = PQgetResult(pg->conn))) {
			if (PQresultStatus(r) == PGRES_FATAL_ERROR) {
				failed = true;
				pg_fail(pg, r);
			}
			PQclear(r);
		}
		pg->streaming = NULL;
		note_txn(pg, failed);
	}
	for (size_t i = 0; i < s->qlen; i++)
		PQclear(s->queue[s->qhead + i]);
	s->qhead = s->qlen = 0;
	aside_free(&s->aside);
	s->in_aside = false;
	s->streaming_done = false;
	s->state = ST_READY;
}

static uint64_t named_hash(const char *sql, const Oid *types, int n)
{
	uint64_t h = 1469598103934665603ULL;
	for (const unsigned char *p = (const unsigned char *)sql; *p; p++)
		h = (h ^ *p) * 1099511628211ULL;
	for (int i = 0; i < n; i++)
		h = (h ^ types[i]) * 1099511628211ULL;
	return h;
}

/* The server-side name for s's text and current parameter types, prepared
 * on first use; "" to run unnamed once the connection holds MAX_NAMED; NULL
 * when the server refused it (the error is recorded). */
static const char *named_for(struct td_pg_stmt *s)
{
	struct td_pg *pg = s->pg;
	uint64_t h = named_hash(s->sql, s->types, s->nparams);

	for (size_t i = 0; i < pg->n_named; i++) {
		struct pg_named *n = &pg->named[i];
		if (n->hash == h && n->n == s->nparams && !strcmp(n->sql, s->sql) &&
		    (!s->nparams || !memcmp(n->types, s->types, (size_t)s->nparams * sizeof *s->types)))
			return n->name;
	}
	if (pg->n_named == MAX_NAMED)
		return "";

	char name[16];
	snprintf(name, sizeof name, "td%zu", pg->n_named + 1);
	PGresult *r = PQprepare(pg->conn, name, s->sql, s->nparams, s->types);
	if (!r || PQresultStatus(r) != PGRES_COMMAND_OK) {
		pg_fail(pg, r);
		PQclear(r);
		note_txn(pg, true);
		return NULL;
	}
	PQclear(r);
	pg->named = td_xrealloc(pg->named, (pg->n_named + 1) * sizeof *pg->named);
	struct pg_named *n = &pg->named[pg->n_named++];
	n->hash = h;
	n->sql = td_xstrdup(s->sql);
	n->n = s->nparams;
	n->types = td_xmalloc(s->nparams ? (size_t)s->nparams * sizeof *n->types : 1);
	if (s->nparams)
		memcpy(n->types, s->types, (size_t)s->nparams * sizeof *n->types);
	memcpy(n->name, name, sizeof name);
	return n->name;
}

/* Sends s with its bound values, in single-row mode. */
static int start_run(struct td_pg_stmt *s)
{
	struct td_pg *pg = s->pg;
	const char *name;
	int ok;

	pg_detach(pg);
	name = named_for(s);
	if (!name)
		return pg->errcode;
	const char *const *vals = (const char *const *)s->values;
	if (*name)
		ok = PQsendQueryPrepared(pg->conn, name, s->nparams, vals,
					 s->lengths, s->formats, 0);
	else
		ok = PQsendQueryParams(pg->conn, s->sql, s->nparams, s->types, vals,
				       s->lengths, s->formats, 0);
	if (!ok)
		return pg_fail(pg, NULL);
	/* If single-row mode cannot be had, the rows come in one result:
	 * slower on a huge select, the same answers. */
	(void)PQsetSingleRowMode(pg->conn);
	pg->streaming = s;
	s->streaming_done = false;
	s->state = ST_RUNNING;
	return TD_DB_OK;
}

/* The next result of s's run: from its queue, else from the connection;
 * NULL at the end. */
static PGresult *next_result(struct td_pg_stmt *s)
{
	if (s->qlen) {
		s->qlen--;
		return s->queue[s->qhead++];
	}
	s->qhead = 0;
	if (s->pg->streaming != s)
		return NULL;
	PGresult *r = PQgetResult(s->pg->conn);
	if (!r) {
		s->pg->streaming = NULL;
		s->streaming_done = true;
	}
	return r;
}

/* Reads s's results up to the end (the connection's NULL), so the
 * transaction status is current; returns whether one of them failed
 * (the first failure is recorded). */
static bool finish_run(struct td_pg_stmt *s)
{
	PGresult *r;
	bool failed = false;
	while ((r = next_result(s))) {
		if (PQresultStatus(r) == PGRES_FATAL_ERROR && !failed) {
			failed = true;
			pg_fail(s->pg, r);
		}
		PQclear(r);
	}
	return failed;
}

int td_pg_step(struct td_pg_stmt *s)
{
	struct td_pg *pg = s->pg;

	drop_row(s);
	/* as sqlite3_step: a statement stepped past its end runs again */
	if (s->state == ST_DONE)
		stop_run(s);
	if (s->state == ST_READY) {
		int rc = start_run(s);
		if (rc != TD_DB_OK) {
			s->state = ST_DONE;
			return rc;
		}
	}
	if (s->res && s->row + 1 < PQntuples(s->res)) {
		s->row++;
		return TD_DB_ROW;
	}
	PQclear(s->res);
	s->res = NULL;
	s->row = -1;
	s->in_aside = false;
	if (s->aside.next < s->aside.nrows) {
		s->aside.next++;
		s->in_aside = true;
		return TD_DB_ROW;
	}

	PGresult *r = next_result(s);
	int rc;
	switch (r ? PQresultStatus(r) : PGRES_COMMAND_OK) {
	case PGRES_SINGLE_TUPLE:
	case PGRES_TUPLES_OK:
		if (PQntuples(r) > 0) {
			s->res = r;
			s->row = 0;
			return TD_DB_ROW;
		}
		/* the empty result that ends a single-row stream */
		note_changes(pg, r);
		PQclear(r);
		rc = finish_run(s) ? pg->errcode : TD_DB_DONE;
		break;
	case PGRES_COMMAND_OK:
	case PGRES_EMPTY_QUERY:
		if (r)
			note_changes(pg, r);
		rc = s->is_commit && r ? check_commit(pg, r) : TD_DB_OK;
		PQclear(r);
		if (finish_run(s))
			rc = pg->errcode;
		else if (rc == TD_DB_OK)
			rc = TD_DB_DONE;
		break;
	default:
		rc = pg_fail(pg, r);
		PQclear(r);
		finish_run(s);
		break;
	}
	s->state = ST_DONE;
	note_txn(pg, rc != TD_DB_DONE);
	return rc;
}

int td_pg_reset(struct td_pg_stmt *s)
{
	stop_run(s);
	return TD_DB_OK;
}

void td_pg_finalize(struct td_pg_stmt *s)
{
	if (!s)
		return;
	stop_run(s);
	td_pg_clear_bindings(s);
	free(s->values);
	free(s->lengths);
	free(s->formats);
	free(s->types);
	free(s->queue);
	free(s->sql);
	free(s);
}

/* ---- columns ----------------------------------------------------------- */

/* The current row, wherever it is: in a result from libpq, or set aside. */
static const PGresult *row_attrs(const struct td_pg_stmt *s)
{
	if (s->in_aside)
		return s->aside.attrs;
	return s->res && s->row >= 0 ? s->res : NULL;
}

static bool has_col(const struct td_pg_stmt *s, int i)
{
	const PGresult *a = row_attrs(s);
	return a && i >= 0 && i < PQnfields(a);
}

static const struct pg_cell *aside_cell(const struct td_pg_stmt *s, int i)
{
	return s->aside.cells + (s->aside.next - 1) * (size_t)s->aside.nfields + i;
}

/* Whether column i (which has_col) is NULL; its text and length. */
static bool cell_null(const struct td_pg_stmt *s, int i)
{
	return s->in_aside ? aside_cell(s, i)->len < 0 : PQgetisnull(s->res, s->row, i);
}

static const char *cell_text(const struct td_pg_stmt *s, int i)
{
	return s->in_aside ? s->aside.data.data + aside_cell(s, i)->off :
	       PQgetvalue(s->res, s->row, i);
}

static int cell_len(const struct td_pg_stmt *s, int i)
{
	return s->in_aside ? aside_cell(s, i)->len : PQgetlength(s->res, s->row, i);
}

int td_pg_column_type(struct td_pg_stmt *s, int i)
{
	if (!has_col(s, i) || cell_null(s, i))
		return TD_DB_NULL;
	switch (PQftype(row_attrs(s), i)) {
	case OID_BOOL: case OID_INT2: case OID_INT4: case OID_INT8: case OID_OID:
		return TD_DB_INTEGER;
	case OID_FLOAT4: case OID_FLOAT8: case OID_NUMERIC:
		return TD_DB_FLOAT;
	case OID_BYTEA:
		return TD_DB_BLOB;
	default:
		return TD_DB_TEXT;
	}
}

/* Column i of the current row decoded from bytea, kept until the row
 * goes. */
static struct pg_blob *blob_of(struct td_pg_stmt *s, int i)
{
	if (!s->blobs) {
		s->nblobs = PQnfields(row_attrs(s));
		s->blobs = td_xcalloc((size_t)s->nblobs, sizeof *s->blobs);
	}
	struct pg_blob *b = &s->blobs[i];
	if (!b->p) {
		size_t n = 0;
		unsigned char *d = PQunescapeBytea((const unsigned char *)cell_text(s, i), &n);
		if (!d) {
			fprintf(stderr, "tagdigest: out of memory decoding a bytea column\n");
			abort();
		}
		b->p = td_xmalloc(n + 1);
		memcpy(b->p, d, n);
		b->p[n] = '\0';
		b->n = n;
		PQfreemem(d);
	}
	return b;
}

const char *td_pg_column_text(struct td_pg_stmt *s, int i)
{
	if (!has_col(s, i) || cell_null(s, i))
		return NULL;
	const char *v = cell_text(s, i);
	switch (PQftype(row_attrs(s), i)) {
	case OID_BOOL:
		return *v == 't' ? "1" : "0";
	case OID_BYTEA:
		return (const char *)blob_of(s, i)->p;
	default:
		return v;
	}
}

const void *td_pg_column_blob(struct td_pg_stmt *s, int i)
{
	if (!has_col(s, i) || cell_null(s, i))
		return NULL;
	if (PQftype(row_attrs(s), i) == OID_BYTEA)
		return blob_of(s, i)->p;
	return td_pg_column_text(s, i);
}

int td_pg_column_bytes(struct td_pg_stmt *s, int i)
{
	if (!has_col(s, i) || cell_null(s, i))
		return 0;
	switch (PQftype(row_attrs(s), i)) {
	case OID_BYTEA:
		return (int)blob_of(s, i)->n;
	case OID_BOOL:
		return 1;
	default:
		return cell_len(s, i);
	}
}
