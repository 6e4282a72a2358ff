/*
 * smtp.c: the SMTP transport, on libcurl's easy interface.
 *
 * One easy handle lives for the whole run, so libcurl keeps the connection
 * (and any STARTTLS + AUTH) open across messages: EHLO once, then MAIL /
 * RCPT / DATA per message, no RSET (libcurl 7.88 sends none). After
 * transport.max_messages_per_connection transactions the connection is
 * closed (QUIT) and the next message opens a fresh one, as relays limit
 * messages per session. A transport is used by one thread only: the send
 * loop opens one per parallel session (deliver.c). Each send is
 * one transaction with exactly one recipient, which is what makes the
 * outcome per subscriber meaningful: libcurl cannot report per-recipient
 * status within one transaction.
 *
 * The outcome comes from the CURLcode first and the reply code second,
 * because CURLINFO_RESPONSE_CODE can be a stale 250 after a dropped
 * connection or a timeout (see the table in BRIEF §3.3). The server's own
 * reply lines are taken from CURLOPT_DEBUGFUNCTION so that what a person
 * reads, and what the delivery log keeps, is the text the server sent.
 *
 * The commit gate (transport.h) sits in the read callback: the body goes
 * out but for its last byte, then the gate is asked, and only then does
 * the last byte follow (and libcurl's CRLF "." CRLF). Before that byte no
 * server can accept the message, so the send loop's bound holds while the
 * whole transaction overlaps its wait. A gate that says no aborts the
 * transfer (libcurl drops the connection mid-DATA: nothing is delivered).
 *
 * This file and the fetch module are the only ones that include libcurl.
 */
#include "tagdigest/deliver/transport.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#include "tagdigest/core/log.h"
#include "tagdigest/core/util.h"

#define SMTP_DEFAULT_TIMEOUT 30

struct upload {
	const char *data;  /* borrowed from the caller for one send */
	size_t len;
	size_t pos;
	/* The commit gate (transport.h), passed before the last byte: until
	 * then the server holds an unfinished DATA it cannot accept. */
	td_transport_gate_fn gate;
	void *gate_arg;
	bool refused;      /* the gate said no: the transfer was aborted */
};

struct smtp {
	CURL *curl;
	char *url;         /* smtp_url with the EHLO name as its path */
	char *server;      /* smtp_url as configured, for messages */
	struct upload up;
	char last[512];    /* the last line the server sent, sanitised */
	bool quitting;     /* libcurl sent QUIT: later lines are not ours */
	char errbuf[CURL_ERROR_SIZE];
	long per_conn;     /* transport.max_messages_per_connection */
	long in_conn;      /* transactions since the connection opened */
};

static size_t read_cb(char *buf, size_t size, size_t nmemb, void *arg)
{
	struct upload *up = arg;
	size_t n = up->len - up->pos;

	if (up->gate && n > 0) {
		if (n > 1) {
			n--;        /* the last byte waits for the gate */
		} else {
			bool ok = up->gate(up->gate_arg);
			up->gate = NULL;
			if (!ok) {
				up->refused = true;
				return CURL_READFUNC_ABORT;
			}
		}
	}
	if (n > size * nmemb)
		n = size * nmemb;
	memcpy(buf, up->data + up->pos, n);
	up->pos += n;
	return n;  /* 0 ends the DATA; libcurl adds the final CRLF "." CRLF */
}

/* Keeps the last reply line; libcurl hands SMTP replies over one line per
 * call. After a failed command libcurl closes the connection inside the
 * same perform, QUIT and "221 Bye" included, so lines after our QUIT are
 * skipped: the reply that matters is the one before it. Server text ends
 * up in logs and the store, so control characters are replaced. */
static int debug_cb(CURL *curl, curl_infotype type, char *data, size_t size,
		    void *arg)
{
	struct smtp *s = arg;

	(void)curl;
	if (type == CURLINFO_HEADER_OUT && size >= 4 &&
	    strncasecmp(data, "QUIT", 4) == 0)
		s->quitting = true;
	if (type != CURLINFO_HEADER_IN || s->quitting)
		return 0;
	while (size > 0 && (data[size - 1] == '\n' || data[size - 1] == '\r'))
		size--;
	if (size == 0)
		return 0;
	if (size > sizeof s->last - 1)
		size = sizeof s->last - 1;
	for (size_t i = 0; i < size; i++) {
		unsigned char c = (unsigned char)data[i];
		s->last[i] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
	}
	s->last[size] = '\0';
	td_log_debug("smtp: < %s", s->last);
	return 0;
}

/* An EHLO name must be a plain domain: anything else (a domain literal,
 * junk from a half-validated config) falls back to the next candidate. */
static bool is_plain_domain(const char *s, size_t n)
{
	if (n == 0 || n > 253)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '.')
			return false;
	return true;
}

static char *ehlo_name(const struct td_smtp_options *opt)
{
	if (opt->ehlo && is_plain_domain(opt->ehlo, strlen(opt->ehlo)))
		return td_xstrdup(opt->ehlo);
	const char *at = opt->from_address ? strrchr(opt->from_address, '@') : NULL;
	if (at && is_plain_domain(at + 1, strlen(at + 1)))
		return td_xstrdup(at + 1);

	const char *host = opt->site_url ? strstr(opt->site_url, "://") : NULL;
	if (host) {
		host += 3;
		size_t n = strcspn(host, ":/?#");
		if (is_plain_domain(host, n))
			return td_xstrndup(host, n);
	}
	return td_xstrdup("localhost");
}

/* Checks the URL and builds the one libcurl gets: the path of an SMTP URL
 * is the EHLO name, so a bare "smtp://host:port" gets ours appended. */
static int build_url(struct smtp *s, const struct td_smtp_options *opt,
		     struct td_err *err)
{
	const char *url = opt->url;

	if (!url || !url[0])
		return td_err_set(err, EX_CONFIG,
				  "smtp: transport.url is not set");
	const char *sep = strstr(url, "://");
	if (!sep || !((sep - url == 4 && strncasecmp(url, "smtp", 4) == 0) ||
		      (sep - url == 5 && strncasecmp(url, "smtps", 5) == 0)))
		return td_err_set(err, EX_CONFIG,
				  "smtp: %s: want smtp://HOST:PORT or "
				  "smtps://HOST:PORT", url);
	const char *auth = sep + 3;
	size_t alen = strcspn(auth, "/?#");
	/* Secrets never live in the config text: the loader refuses them too. */
	if (memchr(auth, '@', alen))
		return td_err_set(err, EX_CONFIG,
				  "smtp: %s: credentials in the URL; use "
				  "transport.username and password_file or "
				  "password_env", url);
	if (alen == 0)
		return td_err_set(err, EX_CONFIG, "smtp: %s: no host", url);

	size_t base = (size_t)(auth - url) + alen;
	s->server = td_xstrndup(url, base);
	const char *path = auth + alen;
	if (path[0] == '/' && path[1] != '\0') {
		/* The config named an EHLO name itself: respect it. */
		s->url = td_xstrdup(url);
	} else {
		char *name = ehlo_name(opt);
		s->url = td_xasprintf("%s/%s", s->server, name);
		free(name);
	}
	return 0;
}

static int password_from_file(const char *path, char **out,
			      struct td_err *err)
{
	int rc = td_secret_from_file(path, out, err);
	if (rc)
		td_err_prefix(err, "smtp");
	return rc;
}

static int get_password(const struct td_smtp_options *opt, char **out,
			struct td_err *err)
{
	if (opt->password_env && opt->password_env[0]) {
		const char *v = getenv(opt->password_env);
		if (!v || !v[0])
			return td_err_set(err, EX_CONFIG,
					  "smtp: environment variable %s "
					  "(transport.password_env) is not set",
					  opt->password_env);
		*out = td_xstrdup(v);
		return 0;
	}
	if (opt->password_file && opt->password_file[0])
		return password_from_file(opt->password_file, out, err);
	return td_err_set(err, EX_CONFIG,
			  "smtp: transport.username is set but neither "
			  "transport.password_env nor transport.password_file");
}

static void smtp_free(struct smtp *s)
{
	if (!s)
		return;
	if (s->curl) {
		curl_easy_cleanup(s->curl);  /* sends QUIT on a live connection */
		/* Paired with the init in smtp_open; refcounted by libcurl. */
		curl_global_cleanup();
	}
	free(s->url);
	free(s->server);
	free(s);
}

static int smtp_open(struct td_transport *t,
		     const struct td_transport_options *topt, struct td_err *err)
{
	const struct td_smtp_options *opt = &topt->smtp;
	struct smtp *s = td_xcalloc(1, sizeof *s);
	char *password = NULL;
	int rc;

	if ((rc = build_url(s, opt, err)))
		goto fail;
	bool auth = opt->username && opt->username[0];
	if (auth && (rc = get_password(opt, &password, err)))
		goto fail;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		rc = td_err_set(err, EX_UNAVAILABLE,
				"smtp: libcurl failed to initialise");
		goto fail;
	}
	s->curl = curl_easy_init();
	if (!s->curl) {
		curl_global_cleanup();
		rc = td_err_set(err, EX_UNAVAILABLE,
				"smtp: libcurl failed to initialise");
		goto fail;
	}

	long timeout = topt->timeout > 0 ? topt->timeout : SMTP_DEFAULT_TIMEOUT;
	CURL *c = s->curl;
	CURLcode cc = CURLE_OK;
	/* Collect the first failure: only string copies can fail here. */
#define SET(opt, val) \
	do { if (cc == CURLE_OK) cc = curl_easy_setopt(c, opt, val); } while (0)
	SET(CURLOPT_URL, s->url);
	/* Never let a config typo turn into file:// or http:// traffic. */
	SET(CURLOPT_PROTOCOLS_STR, "smtp,smtps");
	SET(CURLOPT_UPLOAD, 1L);
	SET(CURLOPT_READFUNCTION, read_cb);
	SET(CURLOPT_READDATA, &s->up);
	SET(CURLOPT_ERRORBUFFER, s->errbuf);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_CONNECTTIMEOUT, timeout);
	SET(CURLOPT_SERVER_RESPONSE_TIMEOUT, timeout);
	/* The whole transaction: connect, TLS, AUTH, a handful of replies
	 * and the upload. The per-reply limit catches a silent server; this
	 * one catches a server that trickles. */
	SET(CURLOPT_TIMEOUT, timeout > LONG_MAX / 4 ? LONG_MAX : timeout * 4);
	/* VERBOSE only routes the protocol lines to debug_cb. */
	SET(CURLOPT_DEBUGFUNCTION, debug_cb);
	SET(CURLOPT_DEBUGDATA, s);
	SET(CURLOPT_VERBOSE, 1L);
	if (auth) {
		SET(CURLOPT_USERNAME, opt->username);
		SET(CURLOPT_PASSWORD, password);
	}
	/* Credentials only over TLS: ALL fails the run when the server offers
	 * no STARTTLS, where TRY would send them in the clear. (On smtps://
	 * the connection is TLS from the start.) Verification of the peer and
	 * its name stays on, libcurl's default. */
	if (auth || opt->starttls == TD_STARTTLS_REQUIRED)
		SET(CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
	if (opt->ca_file && opt->ca_file[0])
		SET(CURLOPT_CAINFO, opt->ca_file);
#undef SET
	if (password) {
		/* libcurl keeps its own copy. */
		explicit_bzero(password, strlen(password));
		free(password);
		password = NULL;
	}
	if (cc != CURLE_OK) {
		rc = td_err_set(err, EX_UNAVAILABLE, "smtp: libcurl setup: %s",
				curl_easy_strerror(cc));
		goto fail;
	}
	s->per_conn = opt->max_messages_per_connection > 0 ?
		      opt->max_messages_per_connection : 100;
	t->state = s;
	return 0;

fail:
	if (password) {
		explicit_bzero(password, strlen(password));
		free(password);
	}
	smtp_free(s);
	return rc;
}

/* An envelope address goes inside <...> on a command line: CR, LF or an
 * angle bracket there would let one address smuggle in a command. */
static bool envelope_ok(const char *addr)
{
	return strpbrk(addr, "\r\n<>") == NULL;
}

/* Offset of the first CR or LF that is not part of a CRLF pair, or len.
 * libcurl dot-stuffs only after CRLF, and servers disagree about bare line
 * ends (SMTP smuggling): such a message must not reach DATA. */
static size_t bare_line_end(const char *msg, size_t len)
{
	/* memchr rather than a test per byte: every message passes here, and
	 * the loop was 4% of a send's CPU */
	const char *end = msg + len;
	size_t first = len;
	for (const char *p = msg; p < end && (p = memchr(p, '\r', (size_t)(end - p))); p++)
		if (p + 1 == end || p[1] != '\n') {
			first = (size_t)(p - msg);
			break;
		}
	const char *stop = msg + first;
	for (const char *p = msg; p < stop && (p = memchr(p, '\n', (size_t)(stop - p))); p++)
		if (p == msg || p[-1] != '\r')
			return (size_t)(p - msg);
	return first;
}

static bool starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* The decision table of BRIEF §3.3, with two additions: a 5xx to our
 * greeting/EHLO or to MAIL says nothing about this recipient, so it stops
 * the run instead of bouncing every subscriber in turn. */
static enum td_send_outcome classify(CURLcode rc, long code, const char *ebuf,
				     int *exit_code)
{
	switch (rc) {
	case CURLE_OK:
		*exit_code = 0;
		return TD_SEND_OK;
	case CURLE_LOGIN_DENIED:
	case CURLE_AUTH_ERROR:
		*exit_code = EX_NOPERM;
		return TD_SEND_FATAL;
	case CURLE_USE_SSL_FAILED:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
		*exit_code = EX_PROTOCOL;
		return TD_SEND_FATAL;
	case CURLE_URL_MALFORMAT:
	case CURLE_UNSUPPORTED_PROTOCOL:
		*exit_code = EX_CONFIG;
		return TD_SEND_FATAL;
	case CURLE_REMOTE_ACCESS_DENIED:  /* HELO refused */
		*exit_code = EX_UNAVAILABLE;
		return TD_SEND_FATAL;
	case CURLE_SEND_ERROR:
	case CURLE_WEIRD_SERVER_REPLY:
		if (code >= 500 && code <= 599) {
			if (starts_with(ebuf, "MAIL failed") ||
			    starts_with(ebuf, "Got unexpected smtp-server")) {
				*exit_code = EX_UNAVAILABLE;
				return TD_SEND_FATAL;
			}
			*exit_code = EX_UNAVAILABLE;
			return TD_SEND_PERMFAIL;
		}
		/* 4xx, or a socket error with a stale or missing code. */
		*exit_code = EX_TEMPFAIL;
		return TD_SEND_TEMPFAIL;
	default:
		/* Refused, unreachable, timed out, dropped: try later. */
		*exit_code = EX_TEMPFAIL;
		return TD_SEND_TEMPFAIL;
	}
}

/* What a person should change when the run stops: the message is read in a
 * cron mail, away from any documentation. */
static const char *fix_hint(CURLcode rc, enum td_send_outcome outcome,
			    const char *ebuf)
{
	if (outcome != TD_SEND_FATAL)
		return "";
	switch (rc) {
	case CURLE_LOGIN_DENIED:
	case CURLE_AUTH_ERROR:
		return " (check transport.username and the password in "
		       "transport.password_env / password_file)";
	case CURLE_USE_SSL_FAILED:
		return " (the server offers no STARTTLS: use a relay that does, "
		       "smtps://, or starttls = off for a local relay without "
		       "credentials)";
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
		return " (the server's certificate is not trusted for this host "
		       "name: set transport.ca_file to the CA that signed it, or "
		       "fix transport.url's host name)";
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_CERTPROBLEM:
		return " (the TLS handshake failed: check that the port speaks "
		       "STARTTLS on smtp:// or TLS on smtps://)";
	default:
		break;
	}
	if (starts_with(ebuf, "MAIL failed"))
		return " (the relay refuses our sender site.from: check the "
		       "relay's sender policy or its authentication)";
	return "";
}

/* Whether a temporary failure is the relay's rather than the message's:
 * it refused or timed out the connection, dropped it without a reply, or
 * said 421 (closing: at the greeting or at any later command). A 4xx to
 * one command (450 at RCPT: greylisting, a full mailbox) is the message's:
 * another relay would hear the same from the receiver. */
static bool server_down(CURLcode rc, long code, bool fresh)
{
	if (fresh)
		return code == 421;
	switch (rc) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_GOT_NOTHING:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_WEIRD_SERVER_REPLY:
		return true;
	default:
		return false;
	}
}

static void report_failure(struct smtp *s, CURLcode rc, long code,
			   struct td_send_result *res, struct td_err *err)
{
	int exit_code;
	res->outcome = classify(rc, code, s->errbuf, &exit_code);

	/* The last server line counts only if it is the reply the code came
	 * from; after a drop or a timeout it is an old "250 ok". */
	char codestr[16];
	snprintf(codestr, sizeof codestr, "%ld", code);
	bool fresh = code >= 400 && code <= 599 && starts_with(s->last, codestr);
	if (fresh)
		snprintf(res->reply, sizeof res->reply, "%s", s->last);

	res->relay_down = res->outcome == TD_SEND_TEMPFAIL && server_down(rc, code, fresh);

	const char *what = s->errbuf[0] ? s->errbuf : curl_easy_strerror(rc);
	const char *hint = fix_hint(rc, res->outcome, s->errbuf);
	/* libcurl leaves no text for a reject after the final "." */
	if (rc == CURLE_WEIRD_SERVER_REPLY && !s->errbuf[0])
		what = "message rejected after DATA";
	size_t n = strlen(what);
	if (!fresh) {
		td_err_set(err, exit_code, "smtp: %s: %s%s", s->server, what, hint);
	} else if (n >= 3 && strcmp(what + n - 3, codestr) == 0) {
		/* "RCPT failed: 550" becomes "RCPT failed: 550 5.1.1 ..." */
		td_err_set(err, exit_code, "smtp: %s: %.*s%s%s", s->server,
			   (int)(n - 3), what, s->last, hint);
	} else {
		td_err_set(err, exit_code, "smtp: %s: %s: %s%s", s->server, what,
			   s->last, hint);
	}
}

static void smtp_send(struct td_transport *t, const char *from,
		      const char *rcpt, const char *msg, size_t len,
		      struct td_send_result *res, struct td_err *err)
{
	struct smtp *s = t->state;

	if (!envelope_ok(from)) {
		res->outcome = TD_SEND_FATAL;
		td_err_set(err, EX_DATAERR,
			   "smtp: sender '%s' has CR, LF or <> in it", from);
		return;
	}
	if (!rcpt[0] || !envelope_ok(rcpt)) {
		res->outcome = TD_SEND_PERMFAIL;
		td_err_set(err, EX_DATAERR,
			   "smtp: recipient '%s' is not a usable address", rcpt);
		return;
	}
	size_t bare = bare_line_end(msg, len);
	if (bare < len) {
		res->outcome = TD_SEND_FATAL;
		td_err_set(err, EX_SOFTWARE,
			   "smtp: message for %s has a bare %s at byte %zu; "
			   "it must use CRLF line ends", rcpt,
			   msg[bare] == '\r' ? "CR" : "LF", bare);
		return;
	}

	char *mail_from = td_xasprintf("<%s>", from);
	char *rcpt_to = td_xasprintf("<%s>", rcpt);
	struct curl_slist *rcpts = curl_slist_append(NULL, rcpt_to);
	free(rcpt_to);
	if (!rcpts) {
		free(mail_from);
		res->outcome = TD_SEND_TEMPFAIL;
		td_err_set(err, EX_TEMPFAIL, "smtp: out of memory in libcurl");
		return;
	}

	s->up = (struct upload){ msg, len, 0, t->gate, t->gate_arg, false };
	s->last[0] = '\0';
	s->quitting = false;
	s->errbuf[0] = '\0';
	curl_easy_setopt(s->curl, CURLOPT_MAIL_FROM, mail_from);
	curl_easy_setopt(s->curl, CURLOPT_MAIL_RCPT, rcpts);
	curl_easy_setopt(s->curl, CURLOPT_INFILESIZE_LARGE, (curl_off_t)len);
	/* The last transaction of a session closes it (with QUIT), so the
	 * next one reconnects. libcurl closes after any failure by itself. */
	bool last = ++s->in_conn >= s->per_conn;
	curl_easy_setopt(s->curl, CURLOPT_FORBID_REUSE, last ? 1L : 0L);

	CURLcode rc = curl_easy_perform(s->curl);
	if (last || rc != CURLE_OK)
		s->in_conn = 0;
	long code = 0;
	curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &code);

	/* libcurl keeps the list pointer; do not leave it dangling. */
	curl_easy_setopt(s->curl, CURLOPT_MAIL_RCPT, (struct curl_slist *)NULL);
	curl_slist_free_all(rcpts);
	free(mail_from);
	bool refused = s->up.refused;
	s->up = (struct upload){ NULL, 0, 0, NULL, NULL, false };

	if (refused) {
		res->outcome = TD_SEND_TEMPFAIL;
		td_err_set(err, EX_TEMPFAIL, "smtp: %s: abandoned before the end of "
			   "DATA: the run is stopping", rcpt);
		return;
	}
	if (rc == CURLE_OK) {
		res->outcome = TD_SEND_OK;
		snprintf(res->reply, sizeof res->reply, "%s",
			 s->last[0] ? s->last : "250 accepted");
		return;
	}
	report_failure(s, rc, code, res, err);
}

/* libcurl has no call that closes a connection and keeps the handle:
 * a duplicate carries every option but none of the connections, and
 * cleaning up the old handle sends QUIT on a live one. No global init is
 * involved, so this is safe on a sender thread. */
static void smtp_hangup(struct td_transport *t)
{
	struct smtp *s = t->state;
	CURL *fresh = curl_easy_duphandle(s->curl);
	if (!fresh)
		return;   /* out of memory: keep the old one, connection and all */
	curl_easy_cleanup(s->curl);
	s->curl = fresh;
	s->in_conn = 0;
}

static void smtp_close(struct td_transport *t)
{
	smtp_free(t->state);
	t->state = NULL;
}

const struct td_transport_ops td_transport_smtp = {
	.name = "smtp",
	.holds_gate = true,
	.open = smtp_open,
	.send = smtp_send,
	.close = smtp_close,
	.hangup = smtp_hangup,
};
