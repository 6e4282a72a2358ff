/*
 * mailbox.c: the bounce mailbox (mailbox.h): a local Maildir, or IMAP and
 * POP3 on libetpan's protocol layers, always over TLS.
 *
 * The network path is built by hand rather than through
 * mailstorage_connect, because that call does the TLS handshake and the
 * LOGIN in one go and libetpan's TLS verifies nothing (BRIEF-2 §1.2). So:
 * our own socket (connect bounded by the timeout), TLS through libetpan
 * (implicit, or after STARTTLS / STLS, with SNI), then the certificate
 * chain checked here with GnuTLS against ca_file or the system store and
 * the host name, and only then the password goes out. A server that does
 * not offer STARTTLS is refused: there is no plaintext fallback.
 *
 * The Maildir is read with readdir, not libetpan's maildir_update: that
 * call creates a `maildirfolder` file in the folder it reads (which marks
 * an INBOX as a Maildir++ subfolder), and reading must not write.
 *
 * Every libetpan stream carries the timeout, so each read and write of a
 * network step is bounded. Writes to a peer that hung up raise SIGPIPE
 * (libetpan sends without MSG_NOSIGNAL): each public call blocks it for
 * its thread and swallows a pending one before returning.
 */
#include "tagdigest/bounce/mailbox.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <libetpan/libetpan.h>

#include "tagdigest/core/buf.h"
#include "tagdigest/core/util.h"

/* Certificates in a chain we look at; real chains have 2 to 4. */
#define MB_CHAIN_MAX 16

enum mb_kind { MB_MAILDIR, MB_IMAP, MB_POP3 };

struct mb_spec {
	enum mb_kind kind;
	bool implicit_tls;   /* imaps, pop3s; else STARTTLS / STLS */
	char *user;
	char *host;          /* without the brackets of an IPv6 literal */
	unsigned port;
	char *folder;        /* IMAP: the folder read, INBOX by default */
	char *path;          /* Maildir */
	char *label;         /* for messages: imaps://user@host:port */
};

struct td_mailbox {
	struct mb_spec sp;
	int timeout;
	bool read_only;      /* bounces --dry-run: write nothing (mailbox.h) */
	char *processed;     /* NULL: delete when done */
	struct td_strv names;
	size_t n;
	/* Maildir: "new/NAME" or "cur/NAME", as names[] */
	/* IMAP */
	mailimap *imap;
	uint32_t *uids;
	bool has_move;
	bool expunge;        /* some message is flagged \Deleted */
	/* POP3 */
	mailpop3 *pop;
	unsigned *idx;
	size_t *sizes;       /* as LIST says */
	bool lost;           /* the connection is gone: no more commands */
};

/* ---- small helpers ---------------------------------------------------- */

static void spec_free(struct mb_spec *sp)
{
	free(sp->user);
	free(sp->host);
	free(sp->folder);
	free(sp->path);
	free(sp->label);
	memset(sp, 0, sizeof *sp);
}

static bool has_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

/* Percent-decodes s[0..n) ("bounce%40example.org"); NULL when a %
 * escape is broken or decodes to a control character or NUL. */
static char *pct_decode(const char *s, size_t n)
{
	char *out = td_xmalloc(n + 1);
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned c = (unsigned char)s[i];
		if (c == '%') {
			unsigned v;
			if (i + 2 >= n || !isxdigit((unsigned char)s[i + 1]) ||
			    !isxdigit((unsigned char)s[i + 2]) ||
			    sscanf(s + i + 1, "%2x", &v) != 1) {
				free(out);
				return NULL;
			}
			c = v;
			i += 2;
		}
		if (c < 0x20 || c == 0x7f) {
			free(out);
			return NULL;
		}
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return out;
}

/* What a server said, fit for a message: printable ASCII only. */
static const char *said(const char *s, char *out, size_t cap)
{
	size_t o = 0;
	if (!s || !*s)
		return "no reason given";
	for (; *s && o + 1 < cap; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '\r' || c == '\n')
			break;
		out[o++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	while (o > 0 && out[o - 1] == ' ')
		o--;
	out[o] = '\0';
	return o ? out : "no reason given";
}

/* libetpan writes with send(..., 0): a peer that hung up raises SIGPIPE.
 * Block it for this thread during a call, then swallow a pending one. */
struct pipe_guard {
	sigset_t old;
};

static void pipe_block(struct pipe_guard *g)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &set, &g->old);
}

static void pipe_unblock(struct pipe_guard *g)
{
	sigset_t set, pending;
	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	sigpending(&pending);
	if (sigismember(&pending, SIGPIPE) && !sigismember(&g->old, SIGPIPE)) {
		struct timespec zero = { 0, 0 };
		sigtimedwait(&set, NULL, &zero);
	}
	pthread_sigmask(SIG_SETMASK, &g->old, NULL);
}

/* ---- the spec --------------------------------------------------------- */

static int parse_url(const char *spec, struct mb_spec *sp, struct td_err *err)
{
	const char *sep = strstr(spec, "://");
	size_t slen = sep ? (size_t)(sep - spec) : 0;
	static const struct {
		const char *name;
		enum mb_kind kind;
		bool tls;
		unsigned port;
	} schemes[] = {
		{ "imaps", MB_IMAP, true, 993 },
		{ "imap", MB_IMAP, false, 143 },
		{ "pop3s", MB_POP3, true, 995 },
		{ "pop3", MB_POP3, false, 110 },
	};
	size_t k;
	for (k = 0; sep && k < sizeof schemes / sizeof schemes[0]; k++)
		if (strlen(schemes[k].name) == slen &&
		    strncasecmp(spec, schemes[k].name, slen) == 0)
			break;
	if (!sep || k == sizeof schemes / sizeof schemes[0])
		return td_err_set(err, EX_CONFIG,
				  "bounces: mailbox %s: want maildir:PATH, "
				  "imaps://USER@HOST[/FOLDER], imap://USER@HOST"
				  "[/FOLDER] (STARTTLS), pop3s://USER@HOST or "
				  "pop3://USER@HOST (STLS)", spec);
	sp->kind = schemes[k].kind;
	sp->implicit_tls = schemes[k].tls;
	sp->port = schemes[k].port;

	const char *auth = sep + 3;
	size_t alen = strcspn(auth, "/?#");
	if (strpbrk(auth, "?#"))
		return td_err_set(err, EX_CONFIG,
				  "bounces: mailbox %s: no ?query or #fragment "
				  "is understood (a folder name with ? or # "
				  "writes them %%3F and %%23)", spec);
	const char *at = NULL;
	for (size_t i = 0; i < alen; i++)
		if (auth[i] == '@')
			at = auth + i;  /* the last one: a user may hold '@' */
	if (!at || at == auth)
		return td_err_set(err, EX_CONFIG,
				  "bounces: mailbox %s: no user; write "
				  "USER@HOST (an @ in the user as %%40)", spec);
	if (memchr(auth, ':', (size_t)(at - auth)))
		return td_err_set(err, EX_CONFIG,
				  "bounces: mailbox %s: a password in the spec; "
				  "use bounces.password_env or password_file",
				  spec);
	sp->user = pct_decode(auth, (size_t)(at - auth));
	if (!sp->user)
		return td_err_set(err, EX_CONFIG,
				  "bounces: mailbox %s: the user has a broken "
				  "%%-escape or a control character", spec);

	const char *h = at + 1, *hend = auth + alen, *port = NULL;
	if (h < hend && *h == '[') {
		const char *close = memchr(h, ']', (size_t)(hend - h));
		if (!close)
			return td_err_set(err, EX_CONFIG,
					  "bounces: mailbox %s: unclosed [ in "
					  "the host", spec);
		sp->host = td_xstrndup(h + 1, (size_t)(close - h - 1));
		if (close + 1 < hend && close[1] == ':')
			port = close + 2;
		else if (close + 1 != hend)
			return td_err_set(err, EX_CONFIG,
					  "bounces: mailbox %s: garbage after "
					  "the host", spec);
	} else {
		const char *colon = memchr(h, ':', (size_t)(hend - h));
		sp->host = td_xstrndup(h, (size_t)((colon ? colon : hend) - h));
		if (colon)
			port = colon + 1;
	}
	if (!sp->host[0] || strspn(sp->host, "abcdefghijklmnopqrstuvwxyz"
				   "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_:") !=
				    strlen(sp->host))
		return td_err_set(err, EX_CONFIG,
				  "bounces: mailbox %s: the host is empty or "
				  "not a host name or address", spec);
	if (port) {
		char *end = NULL;
		errno = 0;
		unsigned long p = port < hend ? strtoul(port, &end, 10) : 0;
		if (port >= hend || end != hend || errno || p == 0 || p > 65535 ||
		    *port < '0' || *port > '9')
			return td_err_set(err, EX_CONFIG,
					  "bounces: mailbox %s: the port is not "
					  "a number from 1 to 65535", spec);
		sp->port = (unsigned)p;
	}

	const char *path = auth + alen;
	if (*path == '/')
		path++;
	if (*path && sp->kind == MB_POP3)
		return td_err_set(err, EX_CONFIG,
				  "bounces: mailbox %s: POP3 has no folders; "
				  "leave out /%s", spec, path);
	if (*path) {
		sp->folder = pct_decode(path, strlen(path));
		if (!sp->folder || !sp->folder[0])
			return td_err_set(err, EX_CONFIG,
					  "bounces: mailbox %s: the folder has "
					  "a broken %%-escape or a control "
					  "character", spec);
	} else if (sp->kind == MB_IMAP) {
		sp->folder = td_xstrdup("INBOX");
	}
	bool v6 = strchr(sp->host, ':') != NULL;
	sp->label = td_xasprintf("%.*s://%.*s@%s%s%s:%u", (int)slen, spec,
				 (int)(at - auth), auth, v6 ? "[" : "",
				 sp->host, v6 ? "]" : "", sp->port);
	return 0;
}

/* RFC 3501 §5.1: INBOX is INBOX in any case; other names are the
 * server's, compared as written. */
static bool same_imap_folder(const char *a, const char *b)
{
	return strcmp(a, b) == 0 ||
	       (strcasecmp(a, "INBOX") == 0 && strcasecmp(b, "INBOX") == 0);
}

static int parse_spec(const char *spec, const char *processed,
		      struct mb_spec *sp, struct td_err *err)
{
	memset(sp, 0, sizeof *sp);
	if (!spec || !spec[0])
		return td_err_set(err, EX_CONFIG,
				  "bounces: mailbox is not set");
	if (has_control(spec))
		return td_err_set(err, EX_CONFIG,
				  "bounces: mailbox: a control character in "
				  "the spec");
	int rc;
	if (strncmp(spec, "maildir:", 8) == 0) {
		sp->kind = MB_MAILDIR;
		if (!spec[8])
			return td_err_set(err, EX_CONFIG,
					  "bounces: mailbox %s: no path after "
					  "maildir:", spec);
		sp->path = td_xstrdup(spec + 8);
		sp->label = td_xstrdup(spec);
	} else if ((rc = parse_url(spec, sp, err))) {
		spec_free(sp);
		return rc;
	}

	if (!processed || !processed[0])
		return 0;
	const char *problem = NULL;
	if (has_control(processed))
		problem = "a control character in it";
	else if (sp->kind == MB_POP3)
		problem = "POP3 cannot move a message, only delete it; "
			  "leave processed_folder empty";
	else if (sp->kind == MB_MAILDIR &&
		 (processed[0] == '.' || strchr(processed, '/')))
		problem = "a Maildir++ folder name has no '/' and does not "
			  "start with '.' (\"Processed\" is .Processed/)";
	else if (sp->kind == MB_IMAP && sp->folder &&
		 same_imap_folder(sp->folder, processed))
		problem = "it is the folder being read";
	if (problem) {
		rc = td_err_set(err, EX_CONFIG,
				"bounces: processed_folder %s: %s", processed,
				problem);
		spec_free(sp);
		return rc;
	}
	return 0;
}

int td_mailbox_spec_check(const char *spec, const char *processed_folder,
			  struct td_err *err)
{
	struct mb_spec sp;
	int rc = parse_spec(spec, processed_folder, &sp, err);
	if (rc == 0)
		spec_free(&sp);
	return rc;
}

/* ---- Maildir ---------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Lists DIR/sub (new or cur) into names, as "sub/FILE", oldest first:
 * delivery names start with the time, so name order is close to it. */
static int maildir_list(struct td_mailbox *mb, const char *sub,
			struct td_err *err)
{
	char *dir = td_xasprintf("%s/%s", mb->sp.path, sub);
	DIR *d = opendir(dir);
	if (!d) {
		int e = errno;
		free(dir);
		return td_err_set(err, e == ENOENT ? EX_NOINPUT : EX_IOERR,
				  "bounces: %s: %s/: %s (a Maildir has new/ "
				  "and cur/)", mb->sp.label, sub, strerror(e));
	}
	size_t first = mb->names.n;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (de->d_type != DT_REG && de->d_type != DT_UNKNOWN)
			continue;
		td_strv_push_owned(&mb->names,
				   td_xasprintf("%s/%s", sub, de->d_name));
	}
	closedir(d);
	free(dir);
	qsort(mb->names.v + first, mb->names.n - first, sizeof(char *),
	      cmp_str);
	return 0;
}

static int maildir_open(struct td_mailbox *mb, struct td_err *err)
{
	struct stat st;
	if (stat(mb->sp.path, &st) != 0 || !S_ISDIR(st.st_mode))
		return td_err_set(err, EX_NOINPUT,
				  "bounces: %s: no such Maildir", mb->sp.label);
	int rc = maildir_list(mb, "new", err);
	if (!rc)
		rc = maildir_list(mb, "cur", err);
	mb->n = mb->names.n;
	return rc;
}

static int maildir_fetch(struct td_mailbox *mb, size_t i, struct td_buf *out,
			 struct td_err *err)
{
	/* Only the first TD_MAILBOX_FETCH_MAX bytes: a bigger file is read
	 * that far, like IMAP's partial fetch, not refused run after run. */
	char *path = td_xasprintf("%s/%s", mb->sp.path, mb->names.v[i]);
	char *chunk = td_xmalloc(64u << 10);
	int rc = 0, fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		rc = td_err_set(err, errno == ENOENT ? EX_NOINPUT : EX_IOERR,
				"bounces: %s: %s: %s", mb->sp.label,
				mb->names.v[i], strerror(errno));
	while (!rc && out->len < TD_MAILBOX_FETCH_MAX) {
		size_t want = TD_MAILBOX_FETCH_MAX - out->len;
		ssize_t got = read(fd, chunk, want < (64u << 10) ? want :
					      (64u << 10));
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			rc = td_err_set(err, EX_IOERR, "bounces: %s: %s: %s",
					mb->sp.label, mb->names.v[i],
					strerror(errno));
		else if (got == 0)
			break;
		else if (td_buf_append(out, chunk, (size_t)got) != 0)
			rc = td_err_set(err, EX_DATAERR,
					"bounces: %s: %s: larger than the "
					"buffer allows", mb->sp.label,
					mb->names.v[i]);
	}
	if (fd >= 0)
		close(fd);
	free(chunk);
	free(path);
	return rc;
}

static void fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

/* Creates the Maildir++ folder .NAME (cur, new, tmp, and the
 * maildirfolder marker Dovecot and Courier expect). */
static int maildir_make_folder(struct td_mailbox *mb, const char *top,
			       struct td_err *err)
{
	static const char *const subs[] = { "", "/cur", "/new", "/tmp" };
	/* Run as root on a mail server's Maildir, what we create belongs
	 * to the Maildir's owner, or the server cannot open the folder. */
	struct stat owner;
	bool chown_it = geteuid() == 0 && stat(mb->sp.path, &owner) == 0;
	for (size_t k = 0; k < sizeof subs / sizeof subs[0]; k++) {
		char *d = td_xasprintf("%s%s", top, subs[k]);
		int r = mkdir(d, 0700);
		int e = errno;
		if (r == 0 && chown_it && chown(d, owner.st_uid, owner.st_gid))
			e = errno, r = -1;
		free(d);
		if (r != 0 && e != EEXIST)
			return td_err_set(err, EX_CANTCREAT,
					  "bounces: %s: cannot create %s%s: %s",
					  mb->sp.label, top, subs[k],
					  strerror(e));
	}
	char *marker = td_xasprintf("%s/maildirfolder", top);
	int fd = open(marker, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (fd >= 0)
		close(fd);
	free(marker);
	return 0;
}

static int maildir_done(struct td_mailbox *mb, size_t i, struct td_err *err)
{
	const char *name = mb->names.v[i];
	char *from = td_xasprintf("%s/%s", mb->sp.path, name);
	char *fromdir = td_xasprintf("%s/%.3s", mb->sp.path, name);
	int rc = 0;

	if (!mb->processed) {
		if (unlink(from) != 0)
			rc = td_err_set(err, EX_IOERR,
					"bounces: %s: cannot remove %s: %s",
					mb->sp.label, name, strerror(errno));
		else
			fsync_dir(fromdir);
		free(from);
		free(fromdir);
		return rc;
	}

	char *top = td_xasprintf("%s/.%s", mb->sp.path, mb->processed);
	rc = maildir_make_folder(mb, top, err);
	if (!rc) {
		/* A message in new/ has no info part yet; cur/ wants one. */
		const char *base = name + 4;
		bool fresh = strncmp(name, "new/", 4) == 0 && !strchr(base, ':');
		char *to = td_xasprintf("%s/cur/%s%s", top, base,
					fresh ? ":2," : "");
		if (rename(from, to) != 0) {
			rc = td_err_set(err, EX_IOERR,
					"bounces: %s: cannot move %s to %s: %s",
					mb->sp.label, name, to, strerror(errno));
		} else {
			char *todir = td_xasprintf("%s/cur", top);
			fsync_dir(todir);
			fsync_dir(fromdir);
			free(todir);
		}
		free(to);
	}
	free(top);
	free(from);
	free(fromdir);
	return rc;
}

/* ---- the connection and its certificate ------------------------------- */

static int tcp_connect(const struct td_mailbox *mb, int *out,
		       struct td_err *err)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_family = AF_UNSPEC };
	struct addrinfo *res = NULL;
	char port[8];
	snprintf(port, sizeof port, "%u", mb->sp.port);
	int r = getaddrinfo(mb->sp.host, port, &hints, &res);
	if (r != 0)
		return td_err_set(err, EX_UNAVAILABLE,
				  "bounces: %s: cannot resolve %s: %s",
				  mb->sp.label, mb->sp.host, gai_strerror(r));
	int last = ECONNREFUSED;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		int fd = socket(ai->ai_family,
				ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
				ai->ai_protocol);
		if (fd < 0) {
			last = errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
			if (errno != EINPROGRESS) {
				last = errno;
				close(fd);
				continue;
			}
			struct pollfd pf = { .fd = fd, .events = POLLOUT };
			int pr;
			do
				pr = poll(&pf, 1, mb->timeout * 1000);
			while (pr < 0 && errno == EINTR);
			int soerr = 0;
			socklen_t sl = sizeof soerr;
			if (pr == 0)
				soerr = ETIMEDOUT;
			else if (pr < 0)
				soerr = errno;
			else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr,
					    &sl) != 0)
				soerr = errno;
			if (soerr) {
				last = soerr;
				close(fd);
				continue;
			}
		}
		/* libetpan's streams wait with select and read blocking. */
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
		freeaddrinfo(res);
		*out = fd;
		return 0;
	}
	freeaddrinfo(res);
	return td_err_set(err, EX_UNAVAILABLE,
			  "bounces: %s: cannot connect to %s port %u: %s",
			  mb->sp.label, mb->sp.host, mb->sp.port,
			  strerror(last));
}

/* SNI: libetpan sends none unless asked; an address is never a name. */
static void sni_callback(struct mailstream_ssl_context *ctx, void *data)
{
	if (data)
		mailstream_ssl_set_server_name(ctx, data);
}

static char *sni_name(const struct td_mailbox *mb)
{
	unsigned char a[sizeof(struct in6_addr)];
	if (inet_pton(AF_INET, mb->sp.host, a) == 1 ||
	    inet_pton(AF_INET6, mb->sp.host, a) == 1)
		return NULL;
	return mb->sp.host;
}

static int tls_failed(const struct td_mailbox *mb, struct td_err *err)
{
	return td_err_set(err, EX_UNAVAILABLE,
			  "bounces: %s: the TLS handshake failed (is it a "
			  "%s port?)", mb->sp.label,
			  mb->sp.implicit_tls ? "TLS" : "STARTTLS");
}

/* The chain the server sent, checked against ca_file or the system
 * store and the host name (an IP SAN for an address). */
static int verify_peer(const struct td_mailbox *mb, mailstream *s,
		       const char *ca_file, struct td_err *err)
{
	carray *chain = mailstream_get_certificate_chain(s);
	gnutls_x509_crt_t crts[MB_CHAIN_MAX];
	unsigned n = 0;
	gnutls_x509_trust_list_t tl = NULL;
	int rc = 0;

	for (unsigned i = 0; chain && i < carray_count(chain) &&
			     n < MB_CHAIN_MAX; i++) {
		MMAPString *der = carray_get(chain, i);
		gnutls_datum_t d = { (unsigned char *)der->str,
				     (unsigned)der->len };
		if (gnutls_x509_crt_init(&crts[n]) != 0)
			break;
		if (gnutls_x509_crt_import(crts[n], &d,
					   GNUTLS_X509_FMT_DER) != 0) {
			gnutls_x509_crt_deinit(crts[n]);
			break;
		}
		n++;
	}
	if (chain)
		mailstream_certificate_chain_free(chain);
	if (n == 0) {
		rc = td_err_set(err, EX_UNAVAILABLE,
				"bounces: %s: the server sent no certificate "
				"we can read", mb->sp.label);
		goto out;
	}
	if (gnutls_x509_trust_list_init(&tl, 0) != 0) {
		rc = td_err_set(err, EX_SOFTWARE, "bounces: %s: GnuTLS "
				"cannot make a trust list", mb->sp.label);
		goto out;
	}
	if (ca_file && ca_file[0]) {
		if (access(ca_file, R_OK) != 0) {
			rc = td_err_set(err, EX_CONFIG,
					"bounces: ca_file %s: %s", ca_file,
					strerror(errno));
			goto out;
		}
		if (gnutls_x509_trust_list_add_trust_file(
			    tl, ca_file, NULL, GNUTLS_X509_FMT_PEM, 0, 0) <= 0) {
			rc = td_err_set(err, EX_CONFIG,
					"bounces: ca_file %s: no PEM "
					"certificate in it", ca_file);
			goto out;
		}
	} else if (gnutls_x509_trust_list_add_system_trust(tl, 0, 0) <= 0) {
		rc = td_err_set(err, EX_UNAVAILABLE,
				"bounces: %s: no system certificate store; "
				"set bounces.ca_file", mb->sp.label);
		goto out;
	}
	gnutls_typed_vdata_st vd = { GNUTLS_DT_DNS_HOSTNAME,
				     (unsigned char *)mb->sp.host, 0 };
	unsigned status = 0;
	int r = gnutls_x509_trust_list_verify_crt2(tl, crts, n, &vd, 1, 0,
						   &status, NULL);
	if (r != 0 || status != 0) {
		gnutls_datum_t why = { NULL, 0 };
		if (r != 0 || gnutls_certificate_verification_status_print(
				      status, GNUTLS_CRT_X509, &why, 0) != 0)
			why.data = NULL;
		/* GnuTLS ends its text with ". " */
		for (size_t k = why.data ? strlen((char *)why.data) : 0;
		     k > 0 && (why.data[k - 1] == ' ' || why.data[k - 1] == '.');
		     k--)
			why.data[k - 1] = '\0';
		rc = td_err_set(err, EX_UNAVAILABLE,
				"bounces: %s: the server's certificate does "
				"not verify for %s against %s: %s; nothing "
				"was sent", mb->sp.label, mb->sp.host,
				ca_file && ca_file[0] ? ca_file :
				"the system store",
				why.data ? (char *)why.data :
				gnutls_strerror(r));
		gnutls_free(why.data);
	}
out:
	if (tl)
		gnutls_x509_trust_list_deinit(tl, 1);
	for (unsigned i = 0; i < n; i++)
		gnutls_x509_crt_deinit(crts[i]);
	return rc;
}

/* The connection as a libetpan stream: TLS from the first byte (checked
 * before anything is read), or plain until STARTTLS / STLS. */
static int open_stream(struct td_mailbox *mb, const char *ca_file,
		       mailstream **out, struct td_err *err)
{
	int fd = -1, rc;
	if ((rc = tcp_connect(mb, &fd, err)))
		return rc;
	mailstream *s;
	if (mb->sp.implicit_tls) {
		s = mailstream_ssl_open_with_callback_timeout(
			fd, mb->timeout, sni_callback, sni_name(mb));
		if (!s) {
			close(fd);
			return tls_failed(mb, err);
		}
		if ((rc = verify_peer(mb, s, ca_file, err))) {
			mailstream_close(s);
			return rc;
		}
	} else {
		s = mailstream_socket_open_timeout(fd, mb->timeout);
		if (!s) {
			close(fd);
			return td_err_set(err, EX_OSERR,
					  "bounces: out of memory");
		}
	}
	*out = s;
	return 0;
}

static int get_password(const struct td_mailbox_options *o, char **out,
			struct td_err *err)
{
	if (o->password_env && o->password_env[0]) {
		const char *v = getenv(o->password_env);
		if (!v || !v[0])
			return td_err_set(err, EX_CONFIG,
					  "bounces: environment variable %s "
					  "(bounces.password_env) is not set",
					  o->password_env);
		*out = td_xstrdup(v);
		return 0;
	}
	if (o->password_file && o->password_file[0]) {
		int rc = td_secret_from_file(o->password_file, out, err);
		if (rc)
			td_err_prefix(err, "bounces");
		return rc;
	}
	return td_err_set(err, EX_CONFIG,
			  "bounces: a mailbox on a server needs "
			  "bounces.password_env or bounces.password_file");
}

static void drop_password(char *pw)
{
	if (pw) {
		explicit_bzero(pw, strlen(pw));
		free(pw);
	}
}

/* Messages both protocols give, with the server's own words. A command
 * the server refuses (NO, -ERR) is EX_PROTOCOL: that message stays for
 * next time and the run goes on; only a lost connection ends it. */
static int server_refused(const struct td_mailbox *mb, const char *what,
			  const char *response, struct td_err *err)
{
	char buf[256];
	return td_err_set(err, EX_PROTOCOL, "bounces: %s: %s: the server "
			  "says: %s", mb->sp.label, what,
			  said(response, buf, sizeof buf));
}

static int login_refused(const struct td_mailbox *mb, const char *response,
			 struct td_err *err)
{
	char buf[256];
	return td_err_set(err, EX_CONFIG,
			  "bounces: %s: login refused: %s; check the user in "
			  "bounces.mailbox and the password "
			  "(bounces.password_env / password_file)",
			  mb->sp.label, said(response, buf, sizeof buf));
}

static int no_starttls(const struct td_mailbox *mb, const char *response,
		       struct td_err *err)
{
	char buf[256];
	bool imap = mb->sp.kind == MB_IMAP;
	return td_err_set(err, EX_UNAVAILABLE,
			  "bounces: %s: the server refuses %s (%s); a "
			  "password is never sent in the clear: use %s:// or "
			  "enable it on the server", mb->sp.label,
			  imap ? "STARTTLS" : "STLS",
			  said(response, buf, sizeof buf),
			  imap ? "imaps" : "pop3s");
}

/* What STARTTLS / STLS came to, for both protocols alike. */
enum tls_upgrade { TLS_UP, TLS_BROKE, TLS_REFUSED };

/* After STARTTLS / STLS: a refusal ends it before any password (no
 * plaintext fallback), and the new TLS gets the certificate check that
 * open_stream gives implicit TLS. */
static int upgraded(const struct td_mailbox *mb, enum tls_upgrade u,
		    const char *response, mailstream *s, const char *ca_file,
		    struct td_err *err)
{
	if (u == TLS_BROKE)
		return tls_failed(mb, err);
	if (u == TLS_REFUSED)
		return no_starttls(mb, response, err);
	return verify_peer(mb, s, ca_file, err);
}

/* ---- IMAP ------------------------------------------------------------- */

static int imap_lost(struct td_mailbox *mb, const char *what,
		     struct td_err *err)
{
	mb->lost = true;
	return td_err_set(err, EX_TEMPFAIL,
			  "bounces: %s: connection lost %s (closed, or "
			  "silent for %d s); what was not removed stays for "
			  "the next run", mb->sp.label, what, mb->timeout);
}

/* A command's failure: a lost stream, or the server's NO / BAD. */
static int imap_fail(struct td_mailbox *mb, int r, const char *what,
		     struct td_err *err)
{
	if (r == MAILIMAP_ERROR_STREAM || r == MAILIMAP_ERROR_PARSE)
		return imap_lost(mb, what, err);
	return server_refused(mb, what, mb->imap->imap_response, err);
}

static int imap_connect(struct td_mailbox *mb, const char *ca_file,
			struct td_err *err)
{
	int rc, r;
	mb->imap = mailimap_new(0, NULL);
	if (!mb->imap)
		return td_err_set(err, EX_OSERR, "bounces: out of memory");
	mailimap_set_timeout(mb->imap, mb->timeout);
	mailstream *s;
	if ((rc = open_stream(mb, ca_file, &s, err)))
		return rc;
	/* From here the session owns the stream. */
	r = mailimap_connect(mb->imap, s);
	if (r != MAILIMAP_NO_ERROR_NON_AUTHENTICATED)
		return td_err_set(err, EX_UNAVAILABLE,
				  "bounces: %s: no IMAP greeting (%s)",
				  mb->sp.label,
				  r == MAILIMAP_NO_ERROR_AUTHENTICATED ?
				  "the server logged us in unasked" :
				  "is it an IMAP port?");
	if (mb->sp.implicit_tls)
		return 0;
	r = mailimap_socket_starttls_with_callback(mb->imap, sni_callback,
						   sni_name(mb));
	return upgraded(mb, r == MAILIMAP_ERROR_STREAM ||
			    r == MAILIMAP_ERROR_SSL ? TLS_BROKE :
			    r != MAILIMAP_NO_ERROR ? TLS_REFUSED : TLS_UP,
			mb->imap->imap_response, mb->imap->imap_stream,
			ca_file, err);
}

static int imap_login(struct td_mailbox *mb, const char *pw,
		      struct td_err *err)
{
	int r = mailimap_login(mb->imap, mb->sp.user, pw);
	if (r == MAILIMAP_ERROR_LOGIN)
		return login_refused(mb, mb->imap->imap_response, err);
	if (r != MAILIMAP_NO_ERROR)
		return imap_fail(mb, r, "during the login", err);

	/* The capabilities may change after the login: ask again. */
	struct mailimap_capability_data *caps = NULL;
	r = mailimap_capability(mb->imap, &caps);
	if (r != MAILIMAP_NO_ERROR)
		return imap_fail(mb, r, "CAPABILITY", err);
	mailimap_capability_data_free(caps);
	mb->has_move = mailimap_has_extension(mb->imap, "MOVE") != 0;
	return 0;
}

/* Makes processed_folder when the server has no such folder. */
static int imap_make_folder(struct td_mailbox *mb, struct td_err *err)
{
	clist *found = NULL;
	int r = mailimap_list(mb->imap, "", mb->processed, &found);
	if (r != MAILIMAP_NO_ERROR)
		return imap_fail(mb, r, "LIST of processed_folder", err);
	bool exists = found && clist_count(found) > 0;
	if (found)
		mailimap_list_result_free(found);
	if (exists)
		return 0;
	r = mailimap_create(mb->imap, mb->processed);
	if (r != MAILIMAP_NO_ERROR) {
		char buf[256];
		if (r == MAILIMAP_ERROR_STREAM)
			return imap_lost(mb, "at CREATE", err);
		return td_err_set(err, EX_CONFIG,
				  "bounces: %s: processed_folder %s cannot be "
				  "created: %s", mb->sp.label, mb->processed,
				  said(mb->imap->imap_response, buf,
				       sizeof buf));
	}
	return 0;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* The UID in one FETCH response, or 0. */
static uint32_t att_uid(struct mailimap_msg_att *ma)
{
	for (clistiter *c = clist_begin(ma->att_list); c; c = clist_next(c)) {
		struct mailimap_msg_att_item *it = clist_content(c);
		if (it->att_type == MAILIMAP_MSG_ATT_ITEM_STATIC &&
		    it->att_data.att_static->att_type == MAILIMAP_MSG_ATT_UID)
			return it->att_data.att_static->att_data.att_uid;
	}
	return 0;
}

static int imap_select_and_list(struct td_mailbox *mb, struct td_err *err)
{
	char buf[256];
	/* EXAMINE when reading only: SELECT takes the messages' \Recent. */
	int r = mb->read_only ? mailimap_examine(mb->imap, mb->sp.folder) :
				mailimap_select(mb->imap, mb->sp.folder);
	if (r == MAILIMAP_ERROR_SELECT || r == MAILIMAP_ERROR_PROTOCOL)
		return td_err_set(err, EX_CONFIG,
				  "bounces: %s: folder %s cannot be opened: %s",
				  mb->sp.label, mb->sp.folder,
				  said(mb->imap->imap_response, buf,
				       sizeof buf));
	if (r != MAILIMAP_NO_ERROR)
		return imap_fail(mb, r, mb->read_only ? "EXAMINE" : "SELECT",
				 err);
	if (mb->imap->imap_selection_info &&
	    mb->imap->imap_selection_info->sel_exists == 0)
		return 0;

	struct mailimap_set *set = mailimap_set_new_interval(1, 0);
	struct mailimap_fetch_type *ft =
		mailimap_fetch_type_new_fetch_att_list_empty();
	mailimap_fetch_type_new_fetch_att_list_add(ft,
						   mailimap_fetch_att_new_uid());
	clist *res = NULL;
	r = mailimap_uid_fetch(mb->imap, set, ft, &res);
	mailimap_fetch_type_free(ft);
	mailimap_set_free(set);
	if (r != MAILIMAP_NO_ERROR)
		return imap_fail(mb, r, "listing the messages", err);
	size_t cap = res ? clist_count(res) : 0;
	mb->uids = td_xcalloc(cap ? cap : 1, sizeof *mb->uids);
	for (clistiter *c = res ? clist_begin(res) : NULL; c;
	     c = clist_next(c)) {
		uint32_t uid = att_uid(clist_content(c));
		if (uid && mb->n < cap)
			mb->uids[mb->n++] = uid;
	}
	if (res)
		mailimap_fetch_list_free(res);
	qsort(mb->uids, mb->n, sizeof *mb->uids, cmp_u32);
	for (size_t i = 0; i < mb->n; i++)
		td_strv_push_owned(&mb->names,
				   td_xasprintf("UID %u", (unsigned)mb->uids[i]));
	return 0;
}

static int imap_fetch(struct td_mailbox *mb, size_t i, struct td_buf *out,
		      struct td_err *err)
{
	struct mailimap_set *set = mailimap_set_new_single(mb->uids[i]);
	struct mailimap_fetch_type *ft =
		mailimap_fetch_type_new_fetch_att_list_empty();
	mailimap_fetch_type_new_fetch_att_list_add(ft,
						   mailimap_fetch_att_new_uid());
	/* BODY.PEEK[]<0.N>: no \Seen flag, and at most N bytes however
	 * big the message is. */
	mailimap_fetch_type_new_fetch_att_list_add(
		ft, mailimap_fetch_att_new_body_peek_section_partial(
			    mailimap_section_new(NULL), 0,
			    (uint32_t)TD_MAILBOX_FETCH_MAX));
	clist *res = NULL;
	int r = mailimap_uid_fetch(mb->imap, set, ft, &res);
	mailimap_fetch_type_free(ft);
	mailimap_set_free(set);
	if (r != MAILIMAP_NO_ERROR)
		return imap_fail(mb, r, "while fetching a message", err);

	const char *body = NULL;
	size_t len = 0;
	for (clistiter *c = res ? clist_begin(res) : NULL; c && !body;
	     c = clist_next(c)) {
		struct mailimap_msg_att *ma = clist_content(c);
		if (att_uid(ma) != mb->uids[i])
			continue;  /* an unsolicited FETCH for another */
		for (clistiter *a = clist_begin(ma->att_list); a;
		     a = clist_next(a)) {
			struct mailimap_msg_att_item *it = clist_content(a);
			if (it->att_type != MAILIMAP_MSG_ATT_ITEM_STATIC ||
			    it->att_data.att_static->att_type !=
				    MAILIMAP_MSG_ATT_BODY_SECTION)
				continue;
			struct mailimap_msg_att_body_section *bs =
				it->att_data.att_static->att_data
					.att_body_section;
			body = bs->sec_body_part ? bs->sec_body_part : "";
			len = bs->sec_body_part ? bs->sec_length : 0;
		}
	}
	int rc = 0;
	if (!body)
		rc = td_err_set(err, EX_NOINPUT,
				"bounces: %s: %s is gone (removed by another "
				"client?)", mb->sp.label, mb->names.v[i]);
	else if (td_buf_append(out, body, len) != 0)
		rc = td_err_set(err, EX_DATAERR,
				"bounces: %s: %s: larger than the buffer "
				"allows", mb->sp.label, mb->names.v[i]);
	if (res)
		mailimap_fetch_list_free(res);
	return rc;
}

static int imap_flag_deleted(struct td_mailbox *mb, struct mailimap_set *set,
			     struct td_err *err)
{
	struct mailimap_flag_list *fl = mailimap_flag_list_new_empty();
	mailimap_flag_list_add(fl, mailimap_flag_new_deleted());
	struct mailimap_store_att_flags *sf =
		mailimap_store_att_flags_new_add_flags_silent(fl);
	int r = mailimap_uid_store(mb->imap, set, sf);
	mailimap_store_att_flags_free(sf);
	if (r != MAILIMAP_NO_ERROR)
		return imap_fail(mb, r, "while flagging a message \\Deleted",
				 err);
	mb->expunge = true;
	return 0;
}

static int imap_done(struct td_mailbox *mb, size_t i, struct td_err *err)
{
	struct mailimap_set *set = mailimap_set_new_single(mb->uids[i]);
	int r, rc = 0;
	if (mb->processed && mb->has_move) {
		r = mailimap_uid_move(mb->imap, set, mb->processed);
		if (r != MAILIMAP_NO_ERROR)
			rc = imap_fail(mb, r, "while moving a message", err);
	} else if (mb->processed) {
		/* No MOVE: a copy, then the original goes at EXPUNGE. */
		r = mailimap_uid_copy(mb->imap, set, mb->processed);
		if (r != MAILIMAP_NO_ERROR)
			rc = imap_fail(mb, r, "while copying a message", err);
		else
			rc = imap_flag_deleted(mb, set, err);
	} else {
		rc = imap_flag_deleted(mb, set, err);
	}
	mailimap_set_free(set);
	return rc;
}

static int imap_close(struct td_mailbox *mb, struct td_err *err)
{
	int rc = 0;
	if (!mb->lost && mb->expunge) {
		int r = mailimap_expunge(mb->imap);
		/* Whatever went wrong, the flagged messages stay and are
		 * seen again next time: try again later. */
		if (r != MAILIMAP_NO_ERROR && imap_fail(mb, r, "at EXPUNGE", err))
			rc = err ? (err->code = EX_TEMPFAIL) : EX_TEMPFAIL;
	}
	if (!mb->lost)
		mailimap_logout(mb->imap);  /* a failure changes nothing */
	return rc;
}

/* ---- POP3 ------------------------------------------------------------- */

static int pop_fail(struct td_mailbox *mb, int r, const char *what,
		    struct td_err *err)
{
	if (r == MAILPOP3_ERROR_STREAM) {
		mb->lost = true;
		return td_err_set(err, EX_TEMPFAIL,
				  "bounces: %s: connection lost %s (closed, "
				  "or silent for %d s); nothing was deleted, "
				  "the messages stay for the next run",
				  mb->sp.label, what, mb->timeout);
	}
	return server_refused(mb, what, mb->pop->pop3_response, err);
}

static int pop_connect(struct td_mailbox *mb, const char *ca_file,
		       struct td_err *err)
{
	int rc, r;
	mb->pop = mailpop3_new(0, NULL);
	if (!mb->pop)
		return td_err_set(err, EX_OSERR, "bounces: out of memory");
	mailpop3_set_timeout(mb->pop, mb->timeout);
	mailstream *s;
	if ((rc = open_stream(mb, ca_file, &s, err)))
		return rc;
	/* From here the session owns the stream. */
	r = mailpop3_connect(mb->pop, s);
	if (r != MAILPOP3_NO_ERROR)
		return td_err_set(err, EX_UNAVAILABLE,
				  "bounces: %s: no POP3 greeting (is it a POP3 "
				  "port?)", mb->sp.label);
	if (mb->sp.implicit_tls)
		return 0;
	r = mailpop3_socket_starttls_with_callback(mb->pop, sni_callback,
						   sni_name(mb));
	return upgraded(mb, r == MAILPOP3_ERROR_STREAM ||
			    r == MAILPOP3_ERROR_SSL ? TLS_BROKE :
			    r != MAILPOP3_NO_ERROR ? TLS_REFUSED : TLS_UP,
			mb->pop->pop3_response, mb->pop->pop3_stream,
			ca_file, err);
}

static int pop_login_and_list(struct td_mailbox *mb, const char *pw,
			      struct td_err *err)
{
	int r = mailpop3_user(mb->pop, mb->sp.user);
	if (r == MAILPOP3_NO_ERROR)
		r = mailpop3_pass(mb->pop, pw);
	if (r == MAILPOP3_ERROR_BAD_USER || r == MAILPOP3_ERROR_BAD_PASSWORD ||
	    r == MAILPOP3_ERROR_DENIED)
		return login_refused(mb, mb->pop->pop3_response, err);
	if (r != MAILPOP3_NO_ERROR)
		return pop_fail(mb, r, "during the login", err);

	carray *tab = NULL;
	r = mailpop3_list(mb->pop, &tab);  /* LIST, then UIDL if offered */
	if (r != MAILPOP3_NO_ERROR)
		return pop_fail(mb, r, "listing the messages", err);
	size_t cap = tab ? carray_count(tab) : 0;
	mb->idx = td_xcalloc(cap ? cap : 1, sizeof *mb->idx);
	mb->sizes = td_xcalloc(cap ? cap : 1, sizeof *mb->sizes);
	for (size_t k = 0; k < cap; k++) {
		struct mailpop3_msg_info *mi = carray_get(tab, (unsigned)k);
		if (!mi || mi->msg_deleted)
			continue;
		mb->sizes[mb->n] = mi->msg_size;
		mb->idx[mb->n++] = mi->msg_index;
		td_strv_push_owned(&mb->names,
				   mi->msg_uidl ?
				   td_xasprintf("UIDL %s", mi->msg_uidl) :
				   td_xasprintf("message %u", mi->msg_index));
	}
	return 0;
}

static int pop_fetch(struct td_mailbox *mb, size_t i, struct td_buf *out,
		     struct td_err *err)
{
	/* RETR has no partial form and libetpan holds the whole answer: a
	 * message bigger than we would read is not fetched. */
	if (mb->sizes[i] > TD_MAILBOX_FETCH_MAX)
		return td_err_set(err, EX_DATAERR,
				  "bounces: %s: %s: too large (%zu bytes, over "
				  "%zu), left in place", mb->sp.label,
				  mb->names.v[i], mb->sizes[i],
				  (size_t)TD_MAILBOX_FETCH_MAX);
	char *data = NULL;
	size_t len = 0;
	/* Reading only: TOP with every line is the message without RETR,
	 * which a server takes as read (Dovecot sets \Seen, QUIT or not).
	 * A message we fetch has fewer lines than bytes; libetpan prints
	 * the count signed. */
	int r = mb->read_only ?
		mailpop3_top(mb->pop, mb->idx[i],
			     (uint32_t)TD_MAILBOX_FETCH_MAX, &data, &len) :
		mailpop3_retr(mb->pop, mb->idx[i], &data, &len);
	if (r != MAILPOP3_NO_ERROR)
		return pop_fail(mb, r, "while fetching a message", err);
	int rc = 0;
	if (td_buf_append(out, data, len) != 0)
		rc = td_err_set(err, EX_DATAERR,
				"bounces: %s: %s: larger than the buffer "
				"allows", mb->sp.label, mb->names.v[i]);
	if (mb->read_only)
		mailpop3_top_free(data);
	else
		mailpop3_retr_free(data);
	return rc;
}

static int pop_close(struct td_mailbox *mb, struct td_err *err)
{
	/* QUIT is what commits the DELEs (RFC 1939 UPDATE state); reading
	 * only, the server gets no UPDATE state at all. */
	if (mb->lost || mb->read_only)
		return 0;
	int r = mailpop3_quit(mb->pop);
	if (r != MAILPOP3_NO_ERROR) {
		pop_fail(mb, r, "at QUIT (the deletions are not committed)",
			 err);
		return err ? (err->code = EX_TEMPFAIL) : EX_TEMPFAIL;
	}
	return 0;
}

/* ---- the contract ----------------------------------------------------- */

static void mailbox_free(struct td_mailbox *mb)
{
	if (mb->imap)
		mailimap_free(mb->imap);
	if (mb->pop) {
		/* mailpop3_free sends QUIT on a stream it still has (and
		 * frees the message list only there). On a connection that is
		 * gone or silent that QUIT must fail at once, not wait out
		 * another timeout, and reading only it must not reach the
		 * server at all: shut the socket first. */
		if ((mb->lost || mb->read_only) && mb->pop->pop3_stream) {
			int fd = mailstream_low_get_fd(
				mailstream_get_low(mb->pop->pop3_stream));
			if (fd >= 0)
				shutdown(fd, SHUT_RDWR);
		}
		mailpop3_free(mb->pop);
	}
	free(mb->uids);
	free(mb->idx);
	free(mb->sizes);
	td_strv_free(&mb->names);
	free(mb->processed);
	spec_free(&mb->sp);
	free(mb);
}

static int open_remote(struct td_mailbox *mb,
		       const struct td_mailbox_options *o, struct td_err *err)
{
	char *pw = NULL;
	/* The password is read first: a config mistake shows before any
	 * network wait. */
	int rc = get_password(o, &pw, err);
	if (rc)
		return rc;
	if (mb->sp.kind == MB_IMAP) {
		rc = imap_connect(mb, o->ca_file, err);
		if (!rc)
			rc = imap_login(mb, pw, err);
		if (!rc && mb->processed && !mb->read_only)
			rc = imap_make_folder(mb, err);
		if (!rc)
			rc = imap_select_and_list(mb, err);
	} else {
		rc = pop_connect(mb, o->ca_file, err);
		if (!rc)
			rc = pop_login_and_list(mb, pw, err);
	}
	drop_password(pw);
	return rc;
}

int td_mailbox_open(const struct td_mailbox_options *o, struct td_mailbox **out,
		    struct td_err *err)
{
	*out = NULL;
	struct td_mailbox *mb = td_xcalloc(1, sizeof *mb);
	int rc = parse_spec(o->spec, o->processed_folder, &mb->sp, err);
	if (rc) {
		free(mb);
		return rc;
	}
	mb->timeout = o->timeout > 0 ? o->timeout : 30;
	mb->read_only = o->read_only;
	if (o->processed_folder && o->processed_folder[0])
		mb->processed = td_xstrdup(o->processed_folder);

	struct pipe_guard g;
	pipe_block(&g);
	if (mb->sp.kind == MB_MAILDIR)
		rc = maildir_open(mb, err);
	else
		rc = open_remote(mb, o, err);
	pipe_unblock(&g);
	if (rc) {
		mailbox_free(mb);
		return rc;
	}
	*out = mb;
	return 0;
}

size_t td_mailbox_count(const struct td_mailbox *mb)
{
	return mb ? mb->n : 0;
}

const char *td_mailbox_name(const struct td_mailbox *mb, size_t i)
{
	return mb && i < mb->n ? mb->names.v[i] : "?";
}

int td_mailbox_fetch(struct td_mailbox *mb, size_t i, struct td_buf *out,
		     struct td_err *err)
{
	td_buf_reset(out);
	if (i >= mb->n)
		return td_err_set(err, EX_SOFTWARE, "bounces: %s: no message "
				  "%zu", mb->sp.label, i);
	if (mb->lost)
		return td_err_set(err, EX_TEMPFAIL, "bounces: %s: the "
				  "connection is gone", mb->sp.label);
	struct pipe_guard g;
	pipe_block(&g);
	int rc = mb->sp.kind == MB_MAILDIR ? maildir_fetch(mb, i, out, err) :
		 mb->sp.kind == MB_IMAP ? imap_fetch(mb, i, out, err) :
		 pop_fetch(mb, i, out, err);
	pipe_unblock(&g);
	return rc;
}

int td_mailbox_done(struct td_mailbox *mb, size_t i, struct td_err *err)
{
	if (i >= mb->n)
		return td_err_set(err, EX_SOFTWARE, "bounces: %s: no message "
				  "%zu", mb->sp.label, i);
	if (mb->read_only)
		return td_err_set(err, EX_SOFTWARE, "bounces: %s: opened to "
				  "read only; nothing is removed",
				  mb->sp.label);
	if (mb->lost)
		return td_err_set(err, EX_TEMPFAIL, "bounces: %s: the "
				  "connection is gone", mb->sp.label);
	struct pipe_guard g;
	pipe_block(&g);
	int rc;
	if (mb->sp.kind == MB_MAILDIR) {
		rc = maildir_done(mb, i, err);
	} else if (mb->sp.kind == MB_IMAP) {
		rc = imap_done(mb, i, err);
	} else {
		int r = mailpop3_dele(mb->pop, mb->idx[i]);
		rc = r == MAILPOP3_NO_ERROR ? 0 :
		     pop_fail(mb, r, "while marking a message deleted", err);
	}
	pipe_unblock(&g);
	return rc;
}

int td_mailbox_close(struct td_mailbox *mb, struct td_err *err)
{
	if (!mb)
		return 0;
	struct pipe_guard g;
	pipe_block(&g);
	int rc = 0;
	if (mb->imap)
		rc = imap_close(mb, err);
	else if (mb->pop)
		rc = pop_close(mb, err);
	mailbox_free(mb);
	pipe_unblock(&g);
	return rc;
}
