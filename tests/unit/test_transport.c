/*
 * test_transport.c: the Maildir and SMTP transports against the real thing.
 *
 * Maildir cases write into a fresh directory under /tmp and read the files
 * back. SMTP cases start Postfix's smtp-sink on a free 127.0.0.1 port with
 * -v (the transcript, to count connections and commands) and -d (each
 * message dumped to a file, to compare the bytes that arrived), plus its
 * fault options to make it answer 4xx/5xx where a case needs it. Every sink
 * is stopped and reaped at the end of its case, failed checks included; it
 * also runs under timeout(1) with a parent-death signal, so a crashed test
 * cannot leave one behind.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "tagdigest/deliver/deliver.h"
#include "tagdigest/deliver/transport.h"
#include "tagdigest/core/util.h"

#define SINK "/usr/sbin/smtp-sink"

/* ---- small helpers ---------------------------------------------------- */

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static int rm_one(const char *path, const struct stat *st, int flag,
		  struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void rm_rf(const char *path)
{
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void make_tmpdir(char *buf, size_t n)
{
	snprintf(buf, n, "/tmp/td-transport-XXXXXX");
	if (!mkdtemp(buf)) {
		perror("mkdtemp");
		abort();
	}
}

static char *slurp(const char *path, size_t *len)
{
	char *data = NULL;
	size_t n = 0;
	if (td_read_file(path, 1 << 20, &data, &n) != 0)
		return NULL;
	if (len)
		*len = n;
	return data;
}

static size_t count_str(const char *hay, const char *needle)
{
	size_t n = 0;
	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

/* Entries in a directory, "." and ".." aside; -1 if it cannot be read. */
static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return -1;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

/* smtp-sink writes its dumps with LF line ends and the dots unstuffed. */
static char *crlf_to_lf(const char *s)
{
	char *out = td_xstrdup(s), *w = out;
	for (const char *r = s; *r; r++)
		if (!(r[0] == '\r' && r[1] == '\n'))
			*w++ = *r;
	*w = '\0';
	return out;
}

/* A port nobody listens on right now: bind to 0 and ask which one. */
static int free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof sa;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &sl) != 0) {
		perror("free_port");
		abort();
	}
	close(fd);
	return ntohs(sa.sin_port);
}

static bool can_connect(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((unsigned short)port);
	bool ok = fd >= 0 &&
		  connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
	if (fd >= 0)
		close(fd);
	return ok;
}

/* ---- smtp-sink -------------------------------------------------------- */

struct sink {
	pid_t pid;          /* timeout(1), smtp-sink's parent */
	int port;
	char dir[64];       /* holds sink.log and dumps/ */
	char log[128];
	char dumps[128];
};

static void sink_stop(struct sink *s)
{
	if (s->pid <= 0)
		return;
	/* timeout(1) passes SIGTERM on to smtp-sink and waits for it. */
	kill(s->pid, SIGTERM);
	for (int i = 0; i < 100; i++) {
		if (waitpid(s->pid, NULL, WNOHANG) == s->pid) {
			s->pid = 0;
			return;
		}
		sleep_ms(20);
	}
	kill(s->pid, SIGKILL);
	waitpid(s->pid, NULL, 0);
	s->pid = 0;
}

static void sink_cleanup(struct sink *s)
{
	sink_stop(s);
	if (s->dir[0])
		rm_rf(s->dir);
	s->dir[0] = '\0';
}

/* Starts smtp-sink with the given extra options (NULL-terminated) and
 * waits, at most 5 s, until it accepts a connection. That probe is one
 * session in the transcript; the cases count it. Returns 0 or -1. */
static int sink_start(struct sink *s, const char *const *extra)
{
	memset(s, 0, sizeof *s);
	make_tmpdir(s->dir, sizeof s->dir);
	snprintf(s->log, sizeof s->log, "%s/sink.log", s->dir);
	snprintf(s->dumps, sizeof s->dumps, "%s/dumps", s->dir);
	/* The sink drops to nobody before it writes dumps. */
	if (chmod(s->dir, 0711) != 0 || mkdir(s->dumps, 0777) != 0 ||
	    chmod(s->dumps, 0777) != 0) {
		perror("sink dirs");
		return -1;
	}
	s->port = free_port();

	char dump_tmpl[160], addr[32];
	snprintf(dump_tmpl, sizeof dump_tmpl, "%s/m.", s->dumps);
	snprintf(addr, sizeof addr, "127.0.0.1:%d", s->port);
	const char *argv[24];
	size_t n = 0;
	argv[n++] = "timeout";
	argv[n++] = "60";   /* a backstop only: every case stops its sink */
	argv[n++] = SINK;
	argv[n++] = "-u";
	argv[n++] = "nobody";
	argv[n++] = "-v";
	argv[n++] = "-d";
	argv[n++] = dump_tmpl;
	for (size_t i = 0; extra && extra[i] && n < 20; i++)
		argv[n++] = extra[i];
	argv[n++] = addr;
	argv[n++] = "16";
	argv[n] = NULL;

	pid_t pid = fork();
	if (pid < 0) {
		perror("fork");
		return -1;
	}
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		int fd = open(s->log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
			_exit(126);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	s->pid = pid;

	for (int i = 0; i < 100; i++) {
		if (waitpid(pid, NULL, WNOHANG) == pid) {
			s->pid = 0;
			fprintf(stderr, "smtp-sink exited early, see its log\n");
			return -1;
		}
		if (can_connect(s->port))
			return 0;
		sleep_ms(50);
	}
	fprintf(stderr, "smtp-sink did not listen on %d within 5 s\n",
		s->port);
	sink_stop(s);
	return -1;
}

/* Waits, at most 3 s, until the transcript holds `n` copies of `needle`;
 * returns the transcript (caller frees) either way. */
static char *sink_log_wait(const struct sink *s, const char *needle, size_t n)
{
	char *log = NULL;
	for (int i = 0; i < 60; i++) {
		free(log);
		log = slurp(s->log, NULL);
		if (log && count_str(log, needle) >= n)
			break;
		sleep_ms(50);
	}
	return log ? log : td_xstrdup("");
}

/* Concatenates every dump file, each followed by "\n====\n". */
static char *sink_dumps(const struct sink *s, int *files)
{
	struct td_strv names = TD_STRV_INIT;
	char *all = td_xstrdup("");
	DIR *d = opendir(s->dumps);
	*files = 0;
	if (!d)
		return all;
	struct dirent *e;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			td_strv_push(&names, e->d_name);
	closedir(d);
	for (size_t i = 0; i < names.n; i++) {
		char *path = td_xasprintf("%s/%s", s->dumps, names.v[i]);
		char *data = slurp(path, NULL);
		char *joined = td_xasprintf("%s%s\n====\n", all,
					    data ? data : "");
		free(all);
		all = joined;
		free(data);
		free(path);
		(*files)++;
	}
	td_strv_free(&names);
	return all;
}

static void smtp_options(struct td_transport_options *opt, char *url, size_t n, int port)
{
	memset(opt, 0, sizeof *opt);
	snprintf(url, n, "smtp://127.0.0.1:%d", port);
	opt->type = TD_TRANSPORT_SMTP;
	opt->smtp.url = url;
	opt->smtp.from_address = "digest@example.org";
	opt->smtp.site_url = "https://blog.example.com";
	opt->timeout = 5;
}

#define FROM "bounces@example.org"
#define RCPT "reader@example.net"

/* Opens a transport on a sink with `extra` options and sends one message.
 * Returns the outcome; err and res filled. */
static enum td_send_outcome send_one(const char *const *extra,
				     struct td_send_result *res,
				     struct td_err *err, char *server,
				     size_t server_len)
{
	struct sink s;
	struct td_transport_options opt;
	char url[64];
	struct td_transport *t = NULL;
	enum td_send_outcome out = TD_SEND_OK;
	static const char msg[] = "Subject: x\r\n\r\nhello\r\n";

	memset(err, 0, sizeof *err);
	memset(res, 0, sizeof *res);
	if (sink_start(&s, extra) != 0) {
		CHECK(!"smtp-sink started");
		sink_cleanup(&s);
		return TD_SEND_OK;
	}
	smtp_options(&opt, url, sizeof url, s.port);
	snprintf(server, server_len, "%s", url);
	CHECK(td_transport_open(&opt, &t, err) == 0);
	if (t) {
		td_transport_send(t, FROM, RCPT, msg, sizeof msg - 1, res, err);
		out = res->outcome;
		td_transport_close(t);
	}
	sink_cleanup(&s);
	return out;
}

/* ---- maildir ---------------------------------------------------------- */

static void test_maildir_delivers(void)
{
	char dir[64], box[128], path[1024];
	struct td_transport_options opt;
	struct td_transport *t = NULL;
	struct td_err err = { 0 };
	struct td_send_result res;
	struct stat st;
	static const char msg[] = "From: a@example.org\r\nSubject: hi\r\n\r\n"
				  ".dot\r\nbody \0 with a NUL\r\n";

	make_tmpdir(dir, sizeof dir);
	snprintf(box, sizeof box, "%s/deep/outbox", dir);
	memset(&opt, 0, sizeof opt);
	opt.type = TD_TRANSPORT_MAILDIR;
	opt.maildir = box;

	CHECK(td_transport_open(&opt, &t, &err) == 0);
	static const char *const subs[] = { "tmp", "new", "cur" };
	for (int i = 0; i < 3; i++) {
		snprintf(path, sizeof path, "%s/%s", box, subs[i]);
		CHECK(stat(path, &st) == 0 && S_ISDIR(st.st_mode) &&
		      (st.st_mode & 0777) == 0700);
	}
	if (!t)
		goto out;

	td_transport_send(t, FROM, RCPT, msg, sizeof msg - 1, &res, &err);
	CHECK(res.outcome == TD_SEND_OK);
	CHECK(strncmp(res.reply, "new/", 4) == 0);

	/* "<sec>.M<usec>P<pid>Q<n>.<host>" */
	long long sec = 0;
	long usec = -1, pid = -1;
	unsigned long q = 0;
	int used = 0;
	CHECK(sscanf(res.reply, "new/%lld.M%6ldP%ldQ%lu.%n", &sec, &usec, &pid,
		     &q, &used) == 4);
	CHECK(used > 0 && res.reply[used] != '\0');
	CHECK(pid == (long)getpid());
	CHECK(sec > 1600000000LL && usec >= 0 && usec < 1000000);
	CHECK(strchr(res.reply + 4, '/') == NULL);
	CHECK(strchr(res.reply, ':') == NULL);

	snprintf(path, sizeof path, "%s/%s", box, res.reply);
	size_t len = 0;
	char *got = slurp(path, &len);
	CHECK(got && len == sizeof msg - 1 && memcmp(got, msg, len) == 0);
	free(got);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);

	snprintf(path, sizeof path, "%s/tmp", box);
	CHECK(count_entries(path) == 0);
	snprintf(path, sizeof path, "%s/new", box);
	CHECK(count_entries(path) == 1);
	td_transport_close(t);
	t = NULL;

	/* Opening an existing Maildir is fine and keeps what is there. */
	CHECK(td_transport_open(&opt, &t, &err) == 0);
	CHECK(count_entries(path) == 1);
out:
	td_transport_close(t);
	rm_rf(dir);
}

static void test_maildir_unique_names(void)
{
	char dir[64], path[160];
	struct td_transport_options opt;
	struct td_transport *t = NULL;
	struct td_err err = { 0 };
	struct td_send_result res;
	struct td_strv names = TD_STRV_INIT;
	int ok = 0, dup = 0;

	make_tmpdir(dir, sizeof dir);
	memset(&opt, 0, sizeof opt);
	opt.type = TD_TRANSPORT_MAILDIR;
	opt.maildir = dir;   /* the directory exists already */
	CHECK(td_transport_open(&opt, &t, &err) == 0);
	for (int i = 0; t && i < 100; i++) {
		char msg[64];
		int n = snprintf(msg, sizeof msg, "Subject: %d\r\n\r\n%d\r\n",
				 i, i);
		td_transport_send(t, FROM, RCPT, msg, (size_t)n, &res, &err);
		if (res.outcome == TD_SEND_OK)
			ok++;
		if (td_strv_contains(&names, res.reply))
			dup++;
		td_strv_push(&names, res.reply);
	}
	CHECK(ok == 100);
	CHECK(dup == 0);
	snprintf(path, sizeof path, "%s/new", dir);
	CHECK(count_entries(path) == 100);
	snprintf(path, sizeof path, "%s/tmp", dir);
	CHECK(count_entries(path) == 0);
	td_strv_free(&names);
	td_transport_close(t);
	rm_rf(dir);
}

static void test_maildir_cannot_create(void)
{
	char dir[64], file[128], box[160];
	struct td_transport_options opt;
	struct td_transport *t = (struct td_transport *)&opt;  /* must be reset */
	struct td_err err = { 0 };

	/* Root ignores mode bits, so the obstacle is a regular file where a
	 * directory should be. */
	make_tmpdir(dir, sizeof dir);
	snprintf(file, sizeof file, "%s/file", dir);
	FILE *f = fopen(file, "w");
	CHECK(f != NULL);
	if (f)
		fclose(f);
	snprintf(box, sizeof box, "%s/sub", file);
	memset(&opt, 0, sizeof opt);
	opt.type = TD_TRANSPORT_MAILDIR;
	opt.maildir = box;

	CHECK(td_transport_open(&opt, &t, &err) == EX_CANTCREAT);
	CHECK(t == NULL);
	CHECK(err.code == EX_CANTCREAT);
	CHECK(strstr(err.msg, "maildir: create ") != NULL);
	CHECK(strstr(err.msg, file) != NULL);
	CHECK(strstr(err.msg, strerror(ENOTDIR)) != NULL);

	/* The Maildir itself being a file is the same error. */
	opt.maildir = file;
	CHECK(td_transport_open(&opt, &t, &err) == EX_CANTCREAT);
	CHECK(t == NULL);
	rm_rf(dir);
}

static void test_maildir_send_failure(void)
{
	char dir[64], path[160];
	struct td_transport_options opt;
	struct td_transport *t = NULL;
	struct td_err err = { 0 };
	struct td_send_result res;

	make_tmpdir(dir, sizeof dir);
	memset(&opt, 0, sizeof opt);
	opt.type = TD_TRANSPORT_MAILDIR;
	opt.maildir = dir;
	CHECK(td_transport_open(&opt, &t, &err) == 0);
	/* tmp/ vanishing under a running transport: not a disk-full case,
	 * so a person has to look (FATAL), and nothing lands in new/. */
	snprintf(path, sizeof path, "%s/tmp", dir);
	CHECK(rmdir(path) == 0);
	if (t) {
		td_transport_send(t, FROM, RCPT, "x\r\n", 3, &res, &err);
		CHECK(res.outcome == TD_SEND_FATAL);
		CHECK(strncmp(err.msg, "maildir: write ", 15) == 0);
		CHECK(strstr(err.msg, strerror(ENOENT)) != NULL);
		CHECK(res.reply[0] == '\0');
	}
	snprintf(path, sizeof path, "%s/new", dir);
	CHECK(count_entries(path) == 0);
	td_transport_close(t);
	rm_rf(dir);
}

/* ---- smtp ------------------------------------------------------------- */

static void test_smtp_three_messages_one_connection(void)
{
	struct sink s;
	struct td_transport_options opt;
	char url[64];
	struct td_transport *t = NULL;
	struct td_err err = { 0 };
	struct td_send_result res;
	char msgs[3][128];

	if (sink_start(&s, NULL) != 0) {
		CHECK(!"smtp-sink started");
		sink_cleanup(&s);
		return;
	}
	smtp_options(&opt, url, sizeof url, s.port);
	CHECK(td_transport_open(&opt, &t, &err) == 0);
	for (int i = 0; t && i < 3; i++) {
		snprintf(msgs[i], sizeof msgs[i],
			 "From: digest@example.org\r\nSubject: number %d\r\n"
			 "\r\nBody of message %d.\r\nSecond line.\r\n", i, i);
		td_transport_send(t, FROM, RCPT, msgs[i], strlen(msgs[i]),
				  &res, &err);
		CHECK(res.outcome == TD_SEND_OK);
		CHECK(strncmp(res.reply, "250 ", 4) == 0);
		if (res.outcome != TD_SEND_OK)
			fprintf(stderr, "  send %d: %s\n", i, err.msg);
	}
	td_transport_close(t);  /* QUIT */

	/* The probe and our session: two disconnects once QUIT is done. */
	char *log = sink_log_wait(&s, "disconnect", 2);
	sink_stop(&s);
	CHECK(count_str(log, "connect (AF_INET") == 2);
	CHECK(count_str(log, "EHLO example.org\n") == 1);
	CHECK(count_str(log, "MAIL FROM:<" FROM ">") == 3);
	CHECK(count_str(log, "RCPT TO:<" RCPT ">") == 3);
	CHECK(count_str(log, "RSET") == 0);
	CHECK(count_str(log, "QUIT") == 1);
	free(log);

	int files = 0;
	char *dumps = sink_dumps(&s, &files);
	CHECK(files == 3);
	CHECK(count_str(dumps, "X-Rcpt-Args: <" RCPT ">\n") == 3);
	for (int i = 0; i < 3; i++) {
		char *want = crlf_to_lf(msgs[i]);
		CHECK(count_str(dumps, want) == 1);
		free(want);
	}
	free(dumps);
	sink_cleanup(&s);
}

static void test_smtp_dot_stuffing(void)
{
	struct sink s;
	struct td_transport_options opt;
	char url[64];
	struct td_transport *t = NULL;
	struct td_err err = { 0 };
	struct td_send_result res;
	static const char body[] = "Subject: dots\r\n\r\n"
				   ".leading dot\r\n"
				   ".\r\n"
				   "..two dots\r\n"
				   "...\r\n"
				   "last line\r\n";
	/* A "." on the very first line, where libcurl's "after CRLF" state
	 * must already hold: unstuffed, the sink would end DATA right here. */
	static const char first[] = ".\r\n.first-line-follow-up\r\n";

	if (sink_start(&s, NULL) != 0) {
		CHECK(!"smtp-sink started");
		sink_cleanup(&s);
		return;
	}
	smtp_options(&opt, url, sizeof url, s.port);
	CHECK(td_transport_open(&opt, &t, &err) == 0);
	if (t) {
		td_transport_send(t, FROM, RCPT, body, sizeof body - 1, &res,
				  &err);
		CHECK(res.outcome == TD_SEND_OK);
		td_transport_send(t, FROM, RCPT, first, sizeof first - 1, &res,
				  &err);
		CHECK(res.outcome == TD_SEND_OK);
	}
	td_transport_close(t);
	free(sink_log_wait(&s, "disconnect", 2));
	sink_stop(&s);

	int files = 0;
	char *dumps = sink_dumps(&s, &files);
	char *want = crlf_to_lf(body);
	CHECK(files == 2);
	CHECK(strstr(dumps, want) != NULL);
	CHECK(strstr(dumps, "\n.\n.first-line-follow-up\n") != NULL);
	free(want);
	free(dumps);
	sink_cleanup(&s);
}

static void test_smtp_rcpt_4xx_is_tempfail(void)
{
	static const char *const opts[] = { "-r", "RCPT", NULL };
	struct td_send_result res;
	struct td_err err;
	char server[64], want[128];

	CHECK(send_one(opts, &res, &err, server, sizeof server) ==
	      TD_SEND_TEMPFAIL);
	CHECK(err.code == EX_TEMPFAIL);
	snprintf(want, sizeof want, "smtp: %s: RCPT failed: 450 4.3.0 ",
		 server);
	CHECK(strncmp(err.msg, want, strlen(want)) == 0);
	CHECK(strncmp(res.reply, "450 ", 4) == 0);
	/* the recipient's: another relay would hear the same */
	CHECK(!res.relay_down);
	if (strncmp(err.msg, want, strlen(want)) != 0)
		fprintf(stderr, "  got: %s\n", err.msg);
}

/* A 421 (the greeting, MAIL or DATA) or a connection dropped without a
 * reply is the relay's trouble, not the message's: relay_down, so the
 * pool can send the message elsewhere (relays.h). */
static void test_smtp_421_and_drops_are_relay_down(void)
{
	static const char *const cases[][3] = {
		{ "-Q", "CONNECT", NULL }, { "-Q", "MAIL", NULL },
		{ "-Q", "DATA", NULL }, { "-q", "RCPT", NULL },
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		struct td_send_result res;
		struct td_err err;
		char server[64];
		CHECK(send_one(cases[i], &res, &err, server, sizeof server) ==
		      TD_SEND_TEMPFAIL);
		CHECK(res.relay_down);
		if (!res.relay_down)
			fprintf(stderr, "  %s %s: %s\n", cases[i][0], cases[i][1], err.msg);
	}
}

static void test_smtp_rcpt_5xx_is_permfail(void)
{
	static const char *const opts[] = {
		"-f", "RCPT", "-B", "550 5.1.1 No such user", NULL
	};
	struct td_send_result res;
	struct td_err err;
	char server[64], want[128];

	CHECK(send_one(opts, &res, &err, server, sizeof server) ==
	      TD_SEND_PERMFAIL);
	snprintf(want, sizeof want,
		 "smtp: %s: RCPT failed: 550 5.1.1 No such user", server);
	CHECK_STR(err.msg, want);
	CHECK_STR(res.reply, "550 5.1.1 No such user");
}

static void test_smtp_mail_5xx_is_fatal(void)
{
	static const char *const opts[] = { "-f", "MAIL", NULL };
	struct td_send_result res;
	struct td_err err;
	char server[64], want[128];

	CHECK(send_one(opts, &res, &err, server, sizeof server) ==
	      TD_SEND_FATAL);
	snprintf(want, sizeof want, "smtp: %s: MAIL failed: 500 ", server);
	CHECK(strncmp(err.msg, want, strlen(want)) == 0);
}

static void test_smtp_end_of_data_5xx_is_permfail(void)
{
	static const char *const opts[] = { "-f", ".", NULL };
	struct td_send_result res;
	struct td_err err;
	char server[64];

	CHECK(send_one(opts, &res, &err, server, sizeof server) ==
	      TD_SEND_PERMFAIL);
	CHECK(strncmp(res.reply, "500 ", 4) == 0);
	CHECK(strstr(err.msg, server) != NULL);
}

static void test_smtp_refused_is_tempfail(void)
{
	struct td_transport_options opt;
	char url[64];
	struct td_transport *t = NULL;
	struct td_err err = { 0 };
	struct td_send_result res;

	smtp_options(&opt, url, sizeof url, free_port());
	CHECK(td_transport_open(&opt, &t, &err) == 0);
	if (!t)
		return;
	td_transport_send(t, FROM, RCPT, "x\r\n", 3, &res, &err);
	CHECK(res.outcome == TD_SEND_TEMPFAIL);
	CHECK(err.code == EX_TEMPFAIL);
	CHECK(strncmp(err.msg, "smtp: ", 6) == 0 && strstr(err.msg, url));
	CHECK(res.relay_down);
	td_transport_close(t);
}

static void test_smtp_bare_lf_refused(void)
{
	struct td_transport_options opt;
	char url[64];
	struct td_transport *t = NULL;
	struct td_err err = { 0 };
	struct td_send_result res;
	static const char msg[] = "Subject: x\r\n\r\nline\n.\nsmuggled\r\n";

	/* Refused before any connection: the closed port would say TEMPFAIL. */
	smtp_options(&opt, url, sizeof url, free_port());
	CHECK(td_transport_open(&opt, &t, &err) == 0);
	if (!t)
		return;
	td_transport_send(t, FROM, RCPT, msg, sizeof msg - 1, &res, &err);
	CHECK(res.outcome == TD_SEND_FATAL);
	CHECK(strstr(err.msg, "bare LF at byte 18") != NULL);
	/* the first bare line end wins, CR or LF, at the start or the end */
	static const struct { const char *msg; const char *want; } bare[] = {
		{ "a\r\nb\rc\nd\r\n", "bare CR at byte 4" },
		{ "a\r\nb\nc\rd\r\n", "bare LF at byte 4" },
		{ "\nabc\r\n", "bare LF at byte 0" },
		{ "abc\r\n\r", "bare CR at byte 5" },
		{ "abc\r\r\n", "bare CR at byte 3" },
	};
	for (size_t i = 0; i < sizeof bare / sizeof *bare; i++) {
		td_transport_send(t, FROM, RCPT, bare[i].msg, strlen(bare[i].msg), &res, &err);
		CHECK(res.outcome == TD_SEND_FATAL);
		CHECK(strstr(err.msg, bare[i].want) != NULL);
	}
	td_transport_send(t, FROM, "a@b>\r\nRCPT TO:<c@d", "x\r\n", 3, &res,
			  &err);
	CHECK(res.outcome == TD_SEND_PERMFAIL);
	td_transport_close(t);
}

static void test_smtp_config_errors(void)
{
	struct td_transport_options opt;
	char url[64], dir[64], pwfile[128];
	struct td_transport *t = NULL;
	struct td_err err = { 0 };

	make_tmpdir(dir, sizeof dir);
	snprintf(pwfile, sizeof pwfile, "%s/password", dir);
	FILE *f = fopen(pwfile, "w");
	CHECK(f != NULL);
	if (f) {
		fputs("s3cret\n", f);
		fclose(f);
	}
	smtp_options(&opt, url, sizeof url, free_port());
	opt.smtp.username = "digest";

	/* A username and nowhere to get its password from. */
	CHECK(td_transport_open(&opt, &t, &err) == EX_CONFIG);
	CHECK(t == NULL);

	/* A password file others can read. */
	CHECK(chmod(pwfile, 0644) == 0);
	opt.smtp.password_file = pwfile;
	CHECK(td_transport_open(&opt, &t, &err) == EX_CONFIG);
	CHECK(t == NULL);
	CHECK(strstr(err.msg, pwfile) && strstr(err.msg, "chmod 600"));
	CHECK(chmod(pwfile, 0640) == 0);
	CHECK(td_transport_open(&opt, &t, &err) == EX_CONFIG);
	CHECK(t == NULL);

	/* The same file, private: open succeeds (no connection yet). */
	CHECK(chmod(pwfile, 0600) == 0);
	CHECK(td_transport_open(&opt, &t, &err) == 0);
	td_transport_close(t);
	t = NULL;

	/* A named environment variable that is not set. */
	opt.smtp.password_env = "TD_TEST_TRANSPORT_NO_SUCH_VAR";
	unsetenv(opt.smtp.password_env);
	CHECK(td_transport_open(&opt, &t, &err) == EX_CONFIG);
	CHECK(strstr(err.msg, "TD_TEST_TRANSPORT_NO_SUCH_VAR") != NULL);
	CHECK(t == NULL);

	/* URLs: wrong scheme, credentials in the URL. */
	opt.smtp.username = NULL;
	opt.smtp.url = "http://127.0.0.1:25";
	CHECK(td_transport_open(&opt, &t, &err) == EX_CONFIG);
	opt.smtp.url = "smtp://user:pw@127.0.0.1:25";
	CHECK(td_transport_open(&opt, &t, &err) == EX_CONFIG);
	CHECK(strstr(err.msg, "pw@") != NULL);  /* names what to fix */
	opt.smtp.url = NULL;
	CHECK(td_transport_open(&opt, &t, &err) == EX_CONFIG);
	CHECK(t == NULL);
	rm_rf(dir);
}

/* Credentials on smtp:// demand STARTTLS; smtp-sink offers none, so the
 * send stops the run and the password never crosses the wire. */
static void test_smtp_credentials_need_tls(void)
{
	struct sink s;
	struct td_transport_options opt;
	char url[64];
	struct td_transport *t = NULL;
	struct td_err err = { 0 };
	struct td_send_result res;

	if (sink_start(&s, NULL) != 0) {
		CHECK(!"smtp-sink started");
		sink_cleanup(&s);
		return;
	}
	smtp_options(&opt, url, sizeof url, s.port);
	opt.smtp.username = "digest";
	opt.smtp.password_env = "TD_TEST_TRANSPORT_PASSWORD";
	setenv(opt.smtp.password_env, "s3cret", 1);
	CHECK(td_transport_open(&opt, &t, &err) == 0);
	if (t) {
		td_transport_send(t, FROM, RCPT, "x\r\n", 3, &res, &err);
		CHECK(res.outcome == TD_SEND_FATAL);
		td_transport_close(t);
	}
	unsetenv("TD_TEST_TRANSPORT_PASSWORD");
	char *log = sink_log_wait(&s, "disconnect", 2);
	sink_stop(&s);
	CHECK(count_str(log, "AUTH") == 0);
	CHECK(count_str(log, "MAIL FROM") == 0);
	free(log);
	sink_cleanup(&s);
}

/* transport.max_messages_per_connection: after that many transactions the
 * session ends with QUIT and the next message opens a new one; the EHLO
 * name comes from transport.ehlo. */
static void test_smtp_reconnects_after_max(void)
{
	struct sink s;
	struct td_transport_options opt;
	char url[64];
	struct td_transport *t = NULL;
	struct td_err err = { 0 };
	struct td_send_result res;
	static const char msg[] = "Subject: x\r\n\r\nhello\r\n";

	if (sink_start(&s, NULL) != 0) {
		CHECK(!"smtp-sink started");
		sink_cleanup(&s);
		return;
	}
	smtp_options(&opt, url, sizeof url, s.port);
	opt.smtp.max_messages_per_connection = 2;
	opt.smtp.ehlo = "out.example.org";
	CHECK(td_transport_open(&opt, &t, &err) == 0);
	for (int i = 0; t && i < 5; i++) {
		td_transport_send(t, FROM, RCPT, msg, sizeof msg - 1, &res, &err);
		CHECK(res.outcome == TD_SEND_OK);
	}
	td_transport_close(t);
	/* the probe, then sessions of 2, 2 and 1 messages */
	char *log = sink_log_wait(&s, "disconnect", 4);
	sink_stop(&s);
	CHECK(count_str(log, "connect (AF_INET") == 4);
	CHECK(count_str(log, "EHLO out.example.org\n") == 3);
	CHECK(count_str(log, "MAIL FROM:<" FROM ">") == 5);
	CHECK(count_str(log, "QUIT") == 3);
	free(log);
	sink_cleanup(&s);
}

/* td_send_one (the desk's test send, confirmation mails) with [relay.NAME]
 * sections: a relay that refuses the connection is passed over for the
 * next; with every relay down, a temporary failure. */
static void test_send_one_fails_over(void)
{
	struct sink s;
	char dead[64], live[64], base[64], reply[256];
	struct td_err err = { 0 };
	static const char msg[] = "Subject: x\r\n\r\nhello\r\n";

	if (sink_start(&s, NULL) != 0) {
		CHECK(!"smtp-sink started");
		sink_cleanup(&s);
		return;
	}
	snprintf(dead, sizeof dead, "smtp://127.0.0.1:%d", free_port());
	snprintf(live, sizeof live, "smtp://127.0.0.1:%d", s.port);
	struct td_relay_config relays[2] = {
		{ .name = (char *)"a", .url = dead, .connections = 1, .weight = 1 },
		{ .name = (char *)"b", .url = live, .connections = 1, .weight = 1 },
	};
	struct td_deliver_options d;
	memset(&d, 0, sizeof d);
	smtp_options(&d.transport, base, sizeof base, 1);   /* its url is unused */
	d.compose.from_address = FROM;
	d.relays = relays;
	d.nrelays = 2;
	CHECK(td_send_one(&d, FROM, RCPT, msg, sizeof msg - 1, reply, sizeof reply,
			  &err) == 0);
	CHECK(strncmp(reply, "250", 3) == 0);
	relays[1].url = dead;
	CHECK(td_send_one(&d, FROM, RCPT, msg, sizeof msg - 1, reply, sizeof reply,
			  &err) == EX_TEMPFAIL);
	free(sink_log_wait(&s, "disconnect", 2));
	sink_stop(&s);
	int files = 0;
	free(sink_dumps(&s, &files));
	CHECK(files == 1);
	sink_cleanup(&s);
}

/* td_transport_hangup ends the session (QUIT) but keeps the transport:
 * the next send connects afresh, with the same settings. */
static void test_smtp_hangup_reconnects(void)
{
	struct sink s;
	struct td_transport_options opt;
	char url[64];
	struct td_transport *t = NULL;
	struct td_err err = { 0 };
	struct td_send_result res;
	static const char msg[] = "Subject: x\r\n\r\nhello\r\n";

	if (sink_start(&s, NULL) != 0) {
		CHECK(!"smtp-sink started");
		sink_cleanup(&s);
		return;
	}
	smtp_options(&opt, url, sizeof url, s.port);
	opt.smtp.ehlo = "out.example.org";
	CHECK(td_transport_open(&opt, &t, &err) == 0);
	for (int i = 0; t && i < 4; i++) {
		if (i == 2)
			td_transport_hangup(t);
		td_transport_send(t, FROM, RCPT, msg, sizeof msg - 1, &res, &err);
		CHECK(res.outcome == TD_SEND_OK);
	}
	td_transport_hangup(t);   /* twice in a row does no harm */
	td_transport_hangup(t);
	td_transport_close(t);
	/* the probe, then two sessions of 2 messages, each ended by QUIT */
	char *log = sink_log_wait(&s, "disconnect", 3);
	sink_stop(&s);
	CHECK(count_str(log, "connect (AF_INET") == 3);
	CHECK(count_str(log, "EHLO out.example.org\n") == 2);
	CHECK(count_str(log, "MAIL FROM:<" FROM ">") == 4);
	CHECK(count_str(log, "QUIT") == 2);
	free(log);
	sink_cleanup(&s);
}

/* The sendmail transport runs the program with fork/execv, the message on
 * its stdin with LF line ends, and reads the outcome from its exit status. */
static void test_sendmail_exit_status(void)
{
	static const struct { int code; enum td_send_outcome want; } cases[] = {
		{ 0, TD_SEND_OK }, { 75, TD_SEND_TEMPFAIL }, { 67, TD_SEND_PERMFAIL },
		{ 68, TD_SEND_PERMFAIL }, { 65, TD_SEND_PERMFAIL }, { 71, TD_SEND_TEMPFAIL },
		{ 1, TD_SEND_TEMPFAIL },
	};
	char dir[64];
	make_tmpdir(dir, sizeof dir);
	char *prog = td_xasprintf("%s/sendmail", dir);
	char *args = td_xasprintf("%s/args", dir);
	char *body = td_xasprintf("%s/body", dir);
	static const char msg[] = "Subject: x\r\n\r\n.\r\nline\r\n";
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		FILE *f = fopen(prog, "w");
		CHECK(f != NULL);
		if (!f)
			break;
		fprintf(f, "#!/bin/sh\nprintf '%%s|' \"$@\" > %s\ncat > %s\n"
			"echo 'said no' >&2\nexit %d\n", args, body, cases[i].code);
		fclose(f);
		chmod(prog, 0755);
		struct td_transport_options opt;
		memset(&opt, 0, sizeof opt);
		opt.type = TD_TRANSPORT_SENDMAIL;
		opt.sendmail = prog;
		opt.timeout = 5;
		struct td_transport *t = NULL;
		struct td_err err = { 0 };
		struct td_send_result res;
		CHECK(td_transport_open(&opt, &t, &err) == 0);
		if (!t)
			break;
		td_transport_send(t, FROM, "-oQ/tmp@x", msg, sizeof msg - 1, &res, &err);
		CHECK(res.outcome == cases[i].want);
		if (cases[i].code != 0)
			CHECK(strstr(err.msg, "said no") != NULL);
		td_transport_close(t);
		char *a = slurp(args, NULL), *b = slurp(body, NULL);
		/* "--" keeps a recipient that looks like an option an argument */
		CHECK_STR(a, "-oi|-f|" FROM "|--|-oQ/tmp@x|");
		CHECK_STR(b, "Subject: x\n\n.\nline\n");
		free(a);
		free(b);
	}
	/* not there: a configuration error at open */
	struct td_transport_options opt;
	memset(&opt, 0, sizeof opt);
	opt.type = TD_TRANSPORT_SENDMAIL;
	opt.sendmail = "/nonexistent/sendmail";
	struct td_transport *t = NULL;
	struct td_err err = { 0 };
	CHECK(td_transport_open(&opt, &t, &err) == EX_CONFIG && t == NULL);
	CHECK(strstr(err.msg, "transport.sendmail_path") != NULL);
	free(prog);
	free(args);
	free(body);
	rm_rf(dir);
}

int main(void)
{
	/* A sink that dies mid-case must not kill the test with SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);

	TD_RUN(test_maildir_delivers);
	TD_RUN(test_maildir_unique_names);
	TD_RUN(test_maildir_cannot_create);
	TD_RUN(test_maildir_send_failure);
	TD_RUN(test_sendmail_exit_status);

	if (access(SINK, X_OK) != 0) {
		fprintf(stderr, "%s missing: install postfix\n", SINK);
		CHECK(!"smtp-sink available");
		return TD_DONE("test_transport");
	}
	TD_RUN(test_smtp_three_messages_one_connection);
	TD_RUN(test_smtp_dot_stuffing);
	TD_RUN(test_smtp_rcpt_4xx_is_tempfail);
	TD_RUN(test_smtp_421_and_drops_are_relay_down);
	TD_RUN(test_smtp_rcpt_5xx_is_permfail);
	TD_RUN(test_smtp_mail_5xx_is_fatal);
	TD_RUN(test_smtp_end_of_data_5xx_is_permfail);
	TD_RUN(test_smtp_refused_is_tempfail);
	TD_RUN(test_smtp_bare_lf_refused);
	TD_RUN(test_smtp_config_errors);
	TD_RUN(test_smtp_credentials_need_tls);
	TD_RUN(test_smtp_reconnects_after_max);
	TD_RUN(test_smtp_hangup_reconnects);
	TD_RUN(test_send_one_fails_over);
	return TD_DONE("test_transport");
}
