/*
 * test_fetch.c: td_fetch_all and td_fetch_each against a real HTTP server
 * on 127.0.0.1.
 *
 * The server is tests/unit/httpd_fixture.py (Python's stdlib http.server),
 * started once under timeout(1) with a parent-death signal, so a crashed
 * test cannot leave it running; main() stops and reaps it on every path.
 * It prints its port on stdout and appends one line per request to a log
 * (the request headers it got, and for streamed bodies how many bytes it
 * managed to write before the client hung up), which is how the cases
 * check what fetch sent and that it stopped reading at the cap. Each case
 * tags its URLs with a query string so it finds its own log lines.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
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
#include "tagdigest/sources/fetch.h"
#include "tagdigest/core/util.h"
#include "tagdigest/core/version.h"

#define PYTHON "/usr/bin/python3"
#define FIXTURE_DEFAULT "tests/unit/httpd_fixture.py"
#define MiB (1024L * 1024L)

#define FEED_BODY                                                          \
	"<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"                     \
	"<rss version=\"2.0\"><channel><title>t</title></channel></rss>\n"
#define FEED_LM "Wed, 21 Oct 2015 07:28:00 GMT"

static struct {
	pid_t pid;            /* timeout(1), the fixture's parent */
	int port;
	char dir[64];
	char log[128];
	char base[64];        /* http://127.0.0.1:PORT */
} srv;

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- the server ------------------------------------------------------- */

static void server_stop(void)
{
	if (srv.pid > 0) {
		/* timeout(1) passes SIGTERM on to python and waits for it. */
		kill(srv.pid, SIGTERM);
		bool reaped = false;
		for (int i = 0; i < 100 && !reaped; i++) {
			if (waitpid(srv.pid, NULL, WNOHANG) == srv.pid)
				reaped = true;
			else
				sleep_ms(20);
		}
		if (!reaped) {
			kill(srv.pid, SIGKILL);
			waitpid(srv.pid, NULL, 0);
		}
		srv.pid = 0;
	}
	if (srv.log[0])
		unlink(srv.log);
	if (srv.dir[0])
		rmdir(srv.dir);
	srv.log[0] = srv.dir[0] = '\0';
}

/* Starts the fixture and reads its port (at most 10 s). Returns 0 or -1. */
static int server_start(void)
{
	const char *fixture = getenv("TD_HTTPD_FIXTURE");
	if (!fixture)
		fixture = FIXTURE_DEFAULT;
	if (access(fixture, R_OK) != 0) {
		fprintf(stderr, "%s: %s (run from the repository root)\n",
			fixture, strerror(errno));
		return -1;
	}
	snprintf(srv.dir, sizeof srv.dir, "/tmp/td_fetch.XXXXXX");
	if (!mkdtemp(srv.dir)) {
		perror("mkdtemp");
		srv.dir[0] = '\0';
		return -1;
	}
	snprintf(srv.log, sizeof srv.log, "%s/requests.log", srv.dir);

	int fds[2];
	if (pipe(fds) != 0) {
		perror("pipe");
		return -1;
	}
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		perror("fork");
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)   /* the parent died before prctl */
			_exit(125);
		close(fds[0]);
		if (dup2(fds[1], 1) < 0)
			_exit(126);
		close(fds[1]);
		/* 120 s is a backstop only: main() stops it. */
		execlp("timeout", "timeout", "120", PYTHON, fixture, srv.log,
		       (char *)NULL);
		_exit(127);
	}
	srv.pid = pid;
	close(fds[1]);

	char line[32];
	size_t got = 0;
	double deadline = now_s() + 10;
	while (got < sizeof line - 1 && now_s() < deadline) {
		struct pollfd pfd = { fds[0], POLLIN, 0 };
		if (poll(&pfd, 1, 200) <= 0)
			continue;
		ssize_t r = read(fds[0], line + got, 1);
		if (r <= 0)
			break;
		if (line[got] == '\n')
			break;
		got++;
	}
	line[got] = '\0';
	close(fds[0]);
	srv.port = atoi(line);
	if (srv.port <= 0 || srv.port > 65535) {
		fprintf(stderr, "fixture did not print its port (got '%s')\n",
			line);
		return -1;
	}
	snprintf(srv.base, sizeof srv.base, "http://127.0.0.1:%d", srv.port);
	return 0;
}

/* The request log as it is now (caller frees; "" when unreadable). */
static char *read_log(void)
{
	char *s = NULL;
	size_t len = 0;
	if (td_read_file(srv.log, 16 * MiB, &s, &len) != 0)
		return td_xstrdup("");
	return s;
}

/* The log line (up to its newline) of the request for `path`, exactly,
 * or NULL. Caller frees. */
static char *request_line(const char *path)
{
	char *log = read_log();
	char *needle = td_xasprintf("REQ\t%s\t", path);
	char *hit = strstr(log, needle);
	char *out = NULL;
	if (hit) {
		size_t n = strcspn(hit, "\n");
		out = td_xstrndup(hit, n);
	}
	free(needle);
	free(log);
	return out;
}

/* Waits (at most 5 s) for the fixture to log how many bytes it wrote for
 * `path`; -1 when it does not. */
static long bytes_sent(const char *path)
{
	char *needle = td_xasprintf("SENT %s ", path);
	long sent = -1;
	for (int i = 0; i < 100 && sent < 0; i++) {
		char *log = read_log();
		char *hit = strstr(log, needle);
		if (hit)
			sent = atol(hit + strlen(needle));
		free(log);
		if (sent < 0)
			sleep_ms(50);
	}
	free(needle);
	return sent;
}

/* How many log lines start with "REQ\t<prefix>". */
static int count_requests(const char *prefix)
{
	char *log = read_log();
	char *needle = td_xasprintf("REQ\t%s", prefix);
	int n = 0;
	for (char *p = strstr(log, needle); p; p = strstr(p + 1, needle))
		n++;
	free(needle);
	free(log);
	return n;
}

/* A port nothing listens on: bound, read, closed. */
static int closed_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a;
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t len = sizeof a;
	int port = -1;
	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

/* ---- helpers ---------------------------------------------------------- */

static struct td_fetch_options default_opts(void)
{
	struct td_fetch_options o = {
		.parallel = 3,
		.timeout = 10,
		.connect_timeout = 5,
		.max_bytes = MiB,
		.max_redirects = 5,
	};
	return o;
}

static char *url(const char *path)
{
	return td_xasprintf("%s%s", srv.base, path);
}

/* One request; returns td_fetch_all's code. */
static int fetch_one(const struct td_fetch_options *o, const char *u,
		     const char *etag, const char *lm,
		     struct td_fetch_result *r)
{
	struct td_fetch_request req = { u, etag, lm };
	struct td_err err = { 0, "" };
	int rc = td_fetch_all(o, &req, 1, r, &err);
	if (rc)
		fprintf(stderr, "td_fetch_all: %s\n", err.msg);
	return rc;
}

static bool contains(const char *hay, const char *needle)
{
	return hay && strstr(hay, needle) != NULL;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = s ? strlen(s) : 0, b = strlen(suffix);
	return s && a >= b && strcmp(s + a - b, suffix) == 0;
}

static void print_error(const char *what, const struct td_fetch_result *r)
{
	if (r->status == TD_FETCH_ERROR)
		fprintf(stderr, "  (%s: error: %s)\n", what, r->error);
}

/* ---- cases ------------------------------------------------------------ */

static void test_feed_ok(void)
{
	struct td_fetch_options o = default_opts();
	struct td_fetch_result r;
	char *u = url("/feed?case=ok");
	CHECK(fetch_one(&o, u, NULL, NULL, &r) == 0);
	print_error("feed", &r);
	CHECK(r.status == TD_FETCH_OK);
	CHECK(r.http_code == 200);
	CHECK_STR(r.body, FEED_BODY);
	CHECK(r.len == strlen(FEED_BODY));
	CHECK_STR(r.content_type, "application/rss+xml; charset=utf-8");
	CHECK_STR(r.etag, "\"abc\"");
	CHECK_STR(r.last_modified, FEED_LM);
	CHECK_STR(r.final_url, u);

	/* What the server saw: our User-Agent, an Accept-Encoding, and no
	 * conditions on a first fetch. */
	char *line = request_line("/feed?case=ok");
	CHECK(line != NULL);
	CHECK(contains(line, "\tuser-agent=tagdigest/" TD_VERSION "\t") ||
	      ends_with(line, "\tuser-agent=tagdigest/" TD_VERSION));
	CHECK(contains(line, "\taccept-encoding="));
	CHECK(contains(line, "gzip"));
	CHECK(!contains(line, "if-none-match"));
	CHECK(!contains(line, "if-modified-since"));
	free(line);
	td_fetch_result_free(&r);
	free(u);
}

static void test_conditional(void)
{
	struct td_fetch_options o = default_opts();
	struct td_fetch_result r;

	/* Both validators from the last success: 304, no body. */
	char *u = url("/feed?case=cond");
	CHECK(fetch_one(&o, u, "\"abc\"", FEED_LM, &r) == 0);
	print_error("conditional", &r);
	CHECK(r.status == TD_FETCH_NOT_MODIFIED);
	CHECK(r.http_code == 304);
	CHECK(r.body == NULL);
	char *line = request_line("/feed?case=cond");
	CHECK(contains(line, "\tif-none-match=\"abc\""));
	CHECK(contains(line, "\tif-modified-since=" FEED_LM));
	free(line);
	td_fetch_result_free(&r);
	free(u);

	/* Only Last-Modified known. */
	u = url("/feed?case=cond-lm");
	CHECK(fetch_one(&o, u, NULL, FEED_LM, &r) == 0);
	CHECK(r.status == TD_FETCH_NOT_MODIFIED);
	line = request_line("/feed?case=cond-lm");
	CHECK(!contains(line, "if-none-match"));
	CHECK(contains(line, "\tif-modified-since=" FEED_LM));
	free(line);
	td_fetch_result_free(&r);
	free(u);

	/* A stale ETag: the server sends the feed again. */
	u = url("/feed?case=cond-stale");
	CHECK(fetch_one(&o, u, "\"old\"", NULL, &r) == 0);
	CHECK(r.status == TD_FETCH_OK);
	CHECK_STR(r.body, FEED_BODY);
	CHECK_STR(r.etag, "\"abc\"");
	line = request_line("/feed?case=cond-stale");
	CHECK(contains(line, "\tif-none-match=\"old\""));
	free(line);
	td_fetch_result_free(&r);
	free(u);

	/* A stored value with CR/LF must not smuggle a header in. */
	u = url("/feed?case=cond-inject");
	CHECK(fetch_one(&o, u, "\"abc\"\r\nX-Evil: 1", NULL, &r) == 0);
	CHECK(r.status == TD_FETCH_OK);
	line = request_line("/feed?case=cond-inject");
	CHECK(line != NULL);
	CHECK(!contains(line, "x-evil"));
	CHECK(!contains(line, "if-none-match"));
	free(line);
	td_fetch_result_free(&r);
	free(u);
}

static void test_gzip(void)
{
	struct td_fetch_options o = default_opts();
	struct td_fetch_result r;
	char *u = url("/gzip");
	CHECK(fetch_one(&o, u, NULL, NULL, &r) == 0);
	print_error("gzip", &r);
	CHECK(r.status == TD_FETCH_OK);
	const char *unit = "hello, compressed world\n";
	CHECK(r.len == strlen(unit) * 200);
	bool same = r.body && r.len == strlen(unit) * 200;
	for (size_t i = 0; same && i < 200; i++)
		same = memcmp(r.body + i * strlen(unit), unit,
			      strlen(unit)) == 0;
	CHECK(same);
	CHECK(r.body && r.body[r.len] == '\0');
	td_fetch_result_free(&r);
	free(u);
}

static void test_redirect_chain(void)
{
	struct td_fetch_options o = default_opts();
	struct td_fetch_result r;
	char *u = url("/r1");
	char *final = url("/feed");
	CHECK(fetch_one(&o, u, NULL, NULL, &r) == 0);
	print_error("redirects", &r);
	CHECK(r.status == TD_FETCH_OK);
	CHECK(r.http_code == 200);
	CHECK_STR(r.body, FEED_BODY);
	CHECK_STR(r.final_url, final);
	/* The final response's headers, not the redirects'. */
	CHECK_STR(r.etag, "\"abc\"");
	CHECK_STR(r.last_modified, FEED_LM);
	CHECK_STR(r.content_type, "application/rss+xml; charset=utf-8");
	td_fetch_result_free(&r);

	/* A redirect's ETag and Last-Modified must not stick to a final
	 * answer that has none. */
	char *u3 = url("/r3");
	CHECK(fetch_one(&o, u3, NULL, NULL, &r) == 0);
	CHECK(r.status == TD_FETCH_OK);
	CHECK(r.etag == NULL);
	CHECK(r.last_modified == NULL);
	CHECK_STR(r.content_type, "text/html; charset=utf-8");
	td_fetch_result_free(&r);
	free(u3);

	/* The same chain needs two hops. */
	o.max_redirects = 1;
	CHECK(fetch_one(&o, u, NULL, NULL, &r) == 0);
	CHECK(r.status == TD_FETCH_ERROR);
	CHECK_STR(r.error, "more than 1 redirects");
	CHECK(r.body == NULL);
	td_fetch_result_free(&r);
	free(final);
	free(u);
}

/* Content-Location: resolved against the URL after redirects, kept only
 * as http(s), and only from the final response. */
static void test_content_location(void)
{
	struct td_fetch_options o = default_opts();
	struct td_fetch_result r;
	static const struct {
		const char *loc;      /* %-encoded for the query */
		const char *want;     /* NULL: none; a leading '/': on srv.base */
	} cases[] = {
		{ "..%2Fother%2Ff.xml", "/other/f.xml" },
		{ "sub%2Ffeed.xml%3Fa%3D1", "/dir/sub/feed.xml?a=1" },
		{ "https%3A%2F%2Felsewhere.test%2Fx%2F", "https://elsewhere.test/x/" },
		{ "javascript%3Aalert(1)", NULL },
		{ "file%3A%2F%2F%2Fetc%2Fpasswd", NULL },
		{ "", NULL },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *path = td_xasprintf("/dir/cl?loc=%s", cases[i].loc);
		char *u = url(path);
		CHECK(fetch_one(&o, u, NULL, NULL, &r) == 0);
		print_error(path, &r);
		CHECK(r.status == TD_FETCH_OK);
		if (!cases[i].want) {
			CHECK(r.content_location == NULL);
		} else {
			char *want = cases[i].want[0] == '/' ?
					     url(cases[i].want) :
					     td_xstrdup(cases[i].want);
			CHECK_STR(r.content_location, want);
			free(want);
		}
		td_fetch_result_free(&r);
		CHECK(r.content_location == NULL);
		free(u);
		free(path);
	}

	char *u = url("/r-cl");
	CHECK(fetch_one(&o, u, NULL, NULL, &r) == 0);
	CHECK(r.status == TD_FETCH_OK);
	CHECK(ends_with(r.final_url, "/feed"));
	CHECK(r.content_location == NULL);
	td_fetch_result_free(&r);
	free(u);
}

static void test_redirect_loop(void)
{
	struct td_fetch_options o = default_opts();
	struct td_fetch_result r;
	char *u = url("/loop");
	int before = count_requests("/loop");
	CHECK(fetch_one(&o, u, NULL, NULL, &r) == 0);
	CHECK(r.status == TD_FETCH_ERROR);
	CHECK_STR(r.error, "more than 5 redirects");
	/* The first request plus five followed. */
	CHECK(count_requests("/loop") - before == 6);
	td_fetch_result_free(&r);
	free(u);
}

static void test_http_errors(void)
{
	struct td_fetch_options o = default_opts();
	struct td_fetch_result r;
	char *u = url("/404");
	CHECK(fetch_one(&o, u, NULL, NULL, &r) == 0);
	CHECK(r.status == TD_FETCH_ERROR);
	CHECK(r.http_code == 404);
	CHECK_STR(r.error, "HTTP 404 Not Found");
	CHECK(r.body == NULL);
	td_fetch_result_free(&r);
	free(u);

	u = url("/500");
	CHECK(fetch_one(&o, u, NULL, NULL, &r) == 0);
	CHECK(r.status == TD_FETCH_ERROR);
	CHECK(r.http_code == 500);
	CHECK_STR(r.error, "HTTP 500 Internal Server Error");
	td_fetch_result_free(&r);
	free(u);

	/* The reason phrase is the server's text: no escape sequences
	 * reach the log. */
	u = url("/badreason");
	CHECK(fetch_one(&o, u, NULL, NULL, &r) == 0);
	CHECK(r.status == TD_FETCH_ERROR);
	CHECK(r.http_code == 418);
	CHECK_STR(r.error, "HTTP 418 I am?[31m a teapot");
	td_fetch_result_free(&r);
	free(u);
}

static void test_timeout(void)
{
	struct td_fetch_options o = default_opts();
	o.timeout = 1;
	struct td_fetch_result r;
	char *u = url("/slow");
	double t0 = now_s();
	CHECK(fetch_one(&o, u, NULL, NULL, &r) == 0);
	double took = now_s() - t0;
	CHECK(r.status == TD_FETCH_ERROR);
	CHECK_STR(r.error, "timed out after 1 s");
	/* About the timeout, not the server's 5 s. */
	CHECK(took >= 0.9 && took < 3.0);
	if (!(took < 3.0))
		fprintf(stderr, "  (/slow took %.2f s)\n", took);
	td_fetch_result_free(&r);
	free(u);
}

static void test_body_cap(void)
{
	struct td_fetch_options o = default_opts();
	struct td_fetch_result r;

	/* 20 MB announced in Content-Length: refused before the body. */
	char *u = url("/big");
	CHECK(fetch_one(&o, u, NULL, NULL, &r) == 0);
	CHECK(r.status == TD_FETCH_ERROR);
	CHECK_STR(r.error, "body larger than 1048576 bytes");
	CHECK(r.body == NULL);
	long sent = bytes_sent("/big");
	CHECK(sent >= 0 && sent < 20 * MiB);
	td_fetch_result_free(&r);
	free(u);

	/* Refused on the Content-Length alone: the body would only come
	 * after 5 s. */
	u = url("/big-stall");
	double t0 = now_s();
	CHECK(fetch_one(&o, u, NULL, NULL, &r) == 0);
	CHECK(now_s() - t0 < 2.0);
	CHECK(r.status == TD_FETCH_ERROR);
	CHECK_STR(r.error, "body larger than 1048576 bytes");
	td_fetch_result_free(&r);
	free(u);

	/* No length, endless: aborted while it downloads. The server got
	 * only as far as the cap plus what the sockets buffer, far short of
	 * its 200 MB. */
	u = url("/stream?case=endless");
	t0 = now_s();
	CHECK(fetch_one(&o, u, NULL, NULL, &r) == 0);
	CHECK(now_s() - t0 < 5.0);
	CHECK(r.status == TD_FETCH_ERROR);
	CHECK_STR(r.error, "body larger than 1048576 bytes");
	CHECK(r.body == NULL);
	sent = bytes_sent("/stream?case=endless");
	CHECK(sent >= MiB && sent < 20 * MiB);
	if (!(sent < 20 * MiB))
		fprintf(stderr, "  (server wrote %ld bytes)\n", sent);
	td_fetch_result_free(&r);
	free(u);

	/* The cap is inclusive: exactly max_bytes is fine, one more is not. */
	u = td_xasprintf("%s/stream?len=%ld", srv.base, MiB);
	CHECK(fetch_one(&o, u, NULL, NULL, &r) == 0);
	print_error("stream exactly at cap", &r);
	CHECK(r.status == TD_FETCH_OK);
	CHECK(r.len == (size_t)MiB);
	CHECK(r.body && r.body[0] == 'x' && r.body[MiB - 1] == 'x' &&
	      r.body[MiB] == '\0');
	td_fetch_result_free(&r);
	free(u);

	u = td_xasprintf("%s/stream?len=%ld", srv.base, MiB + 1);
	CHECK(fetch_one(&o, u, NULL, NULL, &r) == 0);
	CHECK(r.status == TD_FETCH_ERROR);
	CHECK_STR(r.error, "body larger than 1048576 bytes");
	td_fetch_result_free(&r);
	free(u);
}

static void test_wrong_type(void)
{
	struct td_fetch_options o = default_opts();
	struct td_fetch_result r;
	char *u = url("/wrongtype");
	CHECK(fetch_one(&o, u, NULL, NULL, &r) == 0);
	CHECK(r.status == TD_FETCH_OK);
	CHECK_STR(r.content_type, "text/html; charset=utf-8");
	CHECK(contains(r.body, "not a feed"));
	td_fetch_result_free(&r);
	free(u);
}

static void test_redirect_to_file(void)
{
	struct td_fetch_options o = default_opts();
	struct td_fetch_result r;
	char *u = url("/redir-file");
	CHECK(fetch_one(&o, u, NULL, NULL, &r) == 0);
	CHECK(r.status == TD_FETCH_ERROR);
	CHECK(r.body == NULL && r.len == 0);
	CHECK_STR(r.error, "redirect to file:///etc/passwd refused: only "
		  "http and https are followed");
	td_fetch_result_free(&r);
	free(u);
}

static void test_file_url(void)
{
	struct td_fetch_options o = default_opts();
	struct td_fetch_result r;
	char path[64];
	snprintf(path, sizeof path, "/tmp/td_fetch_file.XXXXXX");
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	if (fd < 0)
		return;
	const char *text = "<rss>local</rss>\n";
	CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	close(fd);

	char *u = td_xasprintf("file://%s", path);
	CHECK(fetch_one(&o, u, NULL, NULL, &r) == 0);
	print_error("file", &r);
	CHECK(r.status == TD_FETCH_OK);
	CHECK(r.http_code == 0);
	CHECK_STR(r.body, text);
	CHECK(r.len == strlen(text));
	CHECK_STR(r.final_url, u);
	td_fetch_result_free(&r);
	free(u);

	unlink(path);
	u = td_xasprintf("file://%s", path);
	CHECK(fetch_one(&o, u, NULL, NULL, &r) == 0);
	CHECK(r.status == TD_FETCH_ERROR);
	CHECK(contains(r.error, "could not read file"));
	td_fetch_result_free(&r);
	free(u);
}

static void test_unreachable(void)
{
	struct td_fetch_options o = default_opts();
	struct td_fetch_result r;
	int port = closed_port();
	CHECK(port > 0);
	char *u = td_xasprintf("http://127.0.0.1:%d/feed", port);
	double t0 = now_s();
	CHECK(fetch_one(&o, u, NULL, NULL, &r) == 0);
	CHECK(now_s() - t0 < 2.0);
	CHECK(r.status == TD_FETCH_ERROR);
	CHECK(r.http_code == 0);
	CHECK_STR(r.error, "could not connect: connection refused");
	td_fetch_result_free(&r);
	free(u);

	/* .invalid never resolves (RFC 6761). */
	o.connect_timeout = 3;
	CHECK(fetch_one(&o, "http://no-such-host.invalid/feed", NULL, NULL,
			&r) == 0);
	CHECK(r.status == TD_FETCH_ERROR);
	CHECK(contains(r.error, "could not resolve host"));
	td_fetch_result_free(&r);

	CHECK(fetch_one(&o, "ftp://127.0.0.1/feed", NULL, NULL, &r) == 0);
	CHECK(r.status == TD_FETCH_ERROR);
	CHECK(contains(r.error, "not supported"));
	td_fetch_result_free(&r);

	CHECK(fetch_one(&o, "", NULL, NULL, &r) == 0);
	CHECK(r.status == TD_FETCH_ERROR);
	CHECK_STR(r.error, "no URL");
	td_fetch_result_free(&r);
}

/* The highest "hold=N" among the log lines for /hold?b=<batch>&... */
static int max_hold(const char *batch)
{
	char *log = read_log();
	char *needle = td_xasprintf("REQ\t/hold?b=%s&", batch);
	int best = 0;
	for (char *p = strstr(log, needle); p; p = strstr(p + 1, needle)) {
		char *end = strchr(p, '\n');
		char *h = strstr(p, "\thold=");
		if (h && (!end || h < end) && atoi(h + 6) > best)
			best = atoi(h + 6);
	}
	free(needle);
	free(log);
	return best;
}

static void test_parallel(void)
{
	struct td_fetch_options o = default_opts();
	char *urls[8];
	urls[0] = url("/hold?b=p3&i=0");
	urls[1] = url("/404?b=p3");
	urls[2] = url("/hold?b=p3&i=2");
	urls[3] = url("/feed?b=p3");
	urls[4] = url("/hold?b=p3&i=4");
	urls[5] = url("/gzip?b=p3");
	urls[6] = url("/hold?b=p3&i=6");
	urls[7] = url("/r1?b=p3");
	struct td_fetch_request reqs[8];
	for (int i = 0; i < 8; i++) {
		reqs[i].url = urls[i];
		reqs[i].etag = NULL;
		reqs[i].last_modified = NULL;
	}
	reqs[3].etag = "\"abc\"";   /* this one answers 304 */
	struct td_fetch_result res[8];
	struct td_err err = { 0, "" };

	double t0 = now_s();
	CHECK(td_fetch_all(&o, reqs, 8, res, &err) == 0);
	double took = now_s() - t0;

	for (int i = 0; i < 8; i += 2) {
		char want[32];
		snprintf(want, sizeof want, "held %d\n", i);
		CHECK(res[i].status == TD_FETCH_OK);
		CHECK_STR(res[i].body, want);
	}
	CHECK(res[1].status == TD_FETCH_ERROR);
	CHECK_STR(res[1].error, "HTTP 404 Not Found");
	CHECK(res[3].status == TD_FETCH_NOT_MODIFIED);
	CHECK(res[5].status == TD_FETCH_OK);
	CHECK(res[5].len == strlen("hello, compressed world\n") * 200);
	CHECK(res[7].status == TD_FETCH_OK);
	CHECK_STR(res[7].body, FEED_BODY);
	CHECK(ends_with(res[7].final_url, "/feed"));

	/* Four holds of 0.4 s, three at a time: never more than three at
	 * the server, and clearly faster than one after the other. */
	int most = max_hold("p3");
	CHECK(most >= 2 && most <= 3);
	CHECK(took < 1.5);
	if (!(most >= 2 && most <= 3) || !(took < 1.5))
		fprintf(stderr, "  (parallel=3: %d at once, %.2f s)\n", most,
			took);
	for (int i = 0; i < 8; i++) {
		td_fetch_result_free(&res[i]);
		free(urls[i]);
	}

	/* parallel = 1 really is one at a time. */
	o.parallel = 1;
	for (int i = 0; i < 3; i++) {
		urls[i] = td_xasprintf("%s/hold?b=p1&i=%d", srv.base, i);
		reqs[i].url = urls[i];
		reqs[i].etag = reqs[i].last_modified = NULL;
	}
	t0 = now_s();
	CHECK(td_fetch_all(&o, reqs, 3, res, &err) == 0);
	took = now_s() - t0;
	for (int i = 0; i < 3; i++) {
		CHECK(res[i].status == TD_FETCH_OK);
		td_fetch_result_free(&res[i]);
		free(urls[i]);
	}
	CHECK(max_hold("p1") == 1);
	CHECK(took >= 1.1);
}

struct seen {
	size_t order[8];
	size_t n;
	char *kept;          /* a body the callback took */
	int stop_with;       /* returned from the first call when non-zero */
};

static int on_done(void *ctx, size_t i, struct td_fetch_result *r, struct td_err *err)
{
	struct seen *s = ctx;
	if (s->n < 8)
		s->order[s->n++] = i;
	if (r->status == TD_FETCH_OK && !s->kept) {
		s->kept = r->body;   /* taken: fetch must not free it */
		r->body = NULL;
	}
	if (s->stop_with)
		return td_err_set(err, s->stop_with, "stop");
	return 0;
}

/* td_fetch_each hands each result over as its transfer ends (what lets
 * ingest store a feed and drop its body before the others are done), and
 * a callback can stop the rest. */
static void test_each_as_done(void)
{
	struct td_fetch_options o = default_opts();
	o.parallel = 2;
	char *held = url("/hold?b=each&i=0"), *quick = url("/feed?b=each");
	struct td_fetch_request reqs[2] = { { held, NULL, NULL }, { quick, NULL, NULL } };
	struct seen s = { .n = 0 };
	struct td_err err = { 0, "" };
	CHECK(td_fetch_each(&o, reqs, 2, on_done, &s, &err) == 0);
	/* the quick one first, though it was asked for second */
	CHECK(s.n == 2 && s.order[0] == 1 && s.order[1] == 0);
	CHECK_STR(s.kept, FEED_BODY);
	free(s.kept);

	/* non-zero stops: the held transfer is dropped, no second call */
	struct seen stop = { .n = 0, .stop_with = 7 };
	CHECK(td_fetch_each(&o, reqs, 2, on_done, &stop, &err) == 7);
	CHECK(stop.n == 1 && stop.order[0] == 1);
	CHECK_STR(err.msg, "stop");
	free(stop.kept);
	free(held);
	free(quick);
}

struct slow_cb {
	size_t order[4];
	enum td_fetch_status status[4];
	char error[4][512];
	size_t n;
};

/* Handles a result slowly, as ingest does a big feed or a store waiting
 * for its lock: the first call takes 3 s. */
static int on_done_slowly(void *ctx, size_t i, struct td_fetch_result *r, struct td_err *err)
{
	(void)err;
	struct slow_cb *s = ctx;
	if (s->n < 4) {
		s->order[s->n] = i;
		s->status[s->n] = r->status;
		snprintf(s->error[s->n], sizeof s->error[0], "%s", r->error);
		s->n++;
	}
	if (s->n == 1) {
		struct timespec ts = { 3, 0 };
		nanosleep(&ts, NULL);
	}
	return 0;
}

/* A callback that takes longer than the timeout does not time out the
 * transfers still running: they go on while it works. */
static void test_each_slow_callback(void)
{
	struct td_fetch_options o = default_opts();
	o.parallel = 2;
	o.timeout = 2;
	char *quick = url("/feed?b=slowcb"), *held = url("/hold?b=slowcb&i=1");
	struct td_fetch_request reqs[2] = { { quick, NULL, NULL }, { held, NULL, NULL } };
	struct slow_cb s = { .n = 0 };
	struct td_err err = { 0, "" };
	CHECK(td_fetch_each(&o, reqs, 2, on_done_slowly, &s, &err) == 0);
	CHECK(s.n == 2 && s.order[0] == 0 && s.order[1] == 1);
	CHECK(s.status[0] == TD_FETCH_OK && s.status[1] == TD_FETCH_OK);
	if (s.n == 2 && s.status[1] != TD_FETCH_OK)
		fprintf(stderr, "  (the held transfer: %s)\n", s.error[1]);
	free(quick);
	free(held);
}

static void test_result_free(void)
{
	struct td_fetch_result r;
	memset(&r, 0, sizeof r);
	td_fetch_result_free(&r);
	td_fetch_result_free(&r);
	td_fetch_result_free(NULL);

	struct td_fetch_options o = default_opts();
	char *u = url("/feed?case=free");
	CHECK(fetch_one(&o, u, NULL, NULL, &r) == 0);
	CHECK(r.body != NULL);
	td_fetch_result_free(&r);
	CHECK(r.body == NULL && r.etag == NULL && r.final_url == NULL);
	td_fetch_result_free(&r);   /* twice: no double free */
	free(u);
}

static void test_bad_options(void)
{
	struct td_fetch_options o = default_opts();
	o.parallel = 0;
	struct td_fetch_request req = { "http://127.0.0.1:1/", NULL, NULL };
	struct td_fetch_result r;
	struct td_err err = { 0, "" };
	CHECK(td_fetch_all(&o, &req, 1, &r, &err) == EX_SOFTWARE);
	CHECK(r.status == TD_FETCH_ERROR);
	CHECK(r.body == NULL);
	td_fetch_result_free(&r);

	/* Nothing to do is not an error. */
	o = default_opts();
	CHECK(td_fetch_all(&o, NULL, 0, NULL, &err) == 0);
}

int main(void)
{
	/* The fixture's stdout pipe is closed after the port is read. */
	signal(SIGPIPE, SIG_IGN);
	if (server_start() != 0) {
		server_stop();
		CHECK(!"the HTTP fixture started");
		return TD_DONE("fetch");
	}
	atexit(server_stop);   /* also when a case calls exit() */
	TD_RUN(test_feed_ok);
	TD_RUN(test_conditional);
	TD_RUN(test_gzip);
	TD_RUN(test_redirect_chain);
	TD_RUN(test_content_location);
	TD_RUN(test_redirect_loop);
	TD_RUN(test_http_errors);
	TD_RUN(test_timeout);
	TD_RUN(test_body_cap);
	TD_RUN(test_wrong_type);
	TD_RUN(test_redirect_to_file);
	TD_RUN(test_file_url);
	TD_RUN(test_unreachable);
	TD_RUN(test_parallel);
	TD_RUN(test_each_as_done);
	TD_RUN(test_each_slow_callback);
	TD_RUN(test_result_free);
	TD_RUN(test_bad_options);
	server_stop();
	return TD_DONE("fetch");
}
