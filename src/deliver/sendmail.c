/*
 * sendmail.c: the sendmail transport, for hosts whose MTA takes local
 * submissions (Postfix, Exim, OpenSMTPD and msmtp all ship a sendmail).
 *
 * Each message runs `sendmail -oi -f FROM -- RCPT` through fork/execv: no
 * shell ever sees an address, and "--" keeps a recipient that starts with
 * '-' from being read as an option. -oi stops a line holding a single "."
 * from ending the message early. The message goes in on a pipe with LF line
 * ends (the local submission convention; the MTA adds CRs on the wire),
 * and the child's stderr is kept, bounded, for the error message.
 *
 * The exit status is the outcome, read the way sendmail(8) defines it in
 * sysexits.h: 0 accepted; EX_NOUSER, EX_NOHOST and EX_DATAERR refuse this
 * recipient or message for good; anything else (EX_TEMPFAIL, EX_OSERR,
 * EX_IOERR, a signal, a timeout) may clear up later. A sendmail that cannot
 * be executed stops the run: that is our configuration, not the message.
 */
#include "tagdigest/deliver/transport.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tagdigest/core/util.h"

#define SENDMAIL_STDERR_MAX 400

struct sendmail {
	char *path;
	int timeout_ms;   /* the whole submission of one message */
};

static int sendmail_open(struct td_transport *t,
			 const struct td_transport_options *opt, struct td_err *err)
{
	const char *path = opt->sendmail && opt->sendmail[0] ?
				   opt->sendmail : "/usr/sbin/sendmail";
	struct stat st;
	errno = 0;
	if (path[0] != '/')
		return td_err_set(err, EX_CONFIG, "sendmail: transport.sendmail_path "
				  "'%s' must be an absolute path", path);
	if (stat(path, &st) != 0 || !S_ISREG(st.st_mode) || access(path, X_OK) != 0)
		return td_err_set(err, EX_CONFIG, "sendmail: %s: %s (set "
				  "transport.sendmail_path to the MTA's sendmail)", path,
				  errno ? strerror(errno) : "not an executable file");
	struct sendmail *s = td_xcalloc(1, sizeof *s);
	s->path = td_xstrdup(path);
	int timeout = opt->timeout > 0 ? opt->timeout : 30;
	s->timeout_ms = timeout * 4 * 1000;
	t->state = s;
	return 0;
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The message with CRLF turned into LF, as a local submission expects. */
static char *to_lf(const char *msg, size_t len, size_t *out_len)
{
	char *out = td_xmalloc(len + 1);
	size_t n = 0;
	for (size_t i = 0; i < len; i++)
		if (!(msg[i] == '\r' && i + 1 < len && msg[i + 1] == '\n'))
			out[n++] = msg[i];
	out[n] = '\0';
	*out_len = n;
	return out;
}

/* Control characters would garble the one-line error message. */
static void clean_text(char *s)
{
	size_t n = strlen(s);
	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' '))
		s[--n] = '\0';
	for (char *p = s; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
}

static enum td_send_outcome classify_status(int status, int *code)
{
	if (WIFEXITED(status)) {
		switch (WEXITSTATUS(status)) {
		case 0:
			*code = 0;
			return TD_SEND_OK;
		case EX_NOUSER:
		case EX_NOHOST:
		case EX_DATAERR:
			*code = EX_UNAVAILABLE;
			return TD_SEND_PERMFAIL;
		default:
			break;
		}
	}
	*code = EX_TEMPFAIL;
	return TD_SEND_TEMPFAIL;
}

static void sendmail_send(struct td_transport *t, const char *from,
			  const char *rcpt, const char *msg, size_t len,
			  struct td_send_result *res, struct td_err *err)
{
	struct sendmail *s = t->state;

	if (strpbrk(from, "\r\n") || from[0] == '-') {
		res->outcome = TD_SEND_FATAL;
		td_err_set(err, EX_DATAERR, "sendmail: sender '%s' is not usable", from);
		return;
	}
	if (!rcpt[0] || strpbrk(rcpt, "\r\n")) {
		res->outcome = TD_SEND_PERMFAIL;
		td_err_set(err, EX_DATAERR, "sendmail: recipient '%s' is not usable", rcpt);
		return;
	}

	int in[2] = { -1, -1 }, errp[2] = { -1, -1 };
	if (pipe2(in, O_CLOEXEC) != 0 || pipe2(errp, O_CLOEXEC) != 0) {
		int e = errno;
		for (int i = 0; i < 2; i++) {
			if (in[i] >= 0)
				close(in[i]);
			if (errp[i] >= 0)
				close(errp[i]);
		}
		res->outcome = TD_SEND_TEMPFAIL;
		td_err_set(err, EX_OSERR, "sendmail: pipe: %s", strerror(e));
		return;
	}
	char *const argv[] = { (char *)"sendmail", (char *)"-oi", (char *)"-f",
			       (char *)from, (char *)"--", (char *)rcpt, NULL };
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		close(in[0]);
		close(in[1]);
		close(errp[0]);
		close(errp[1]);
		res->outcome = TD_SEND_TEMPFAIL;
		td_err_set(err, EX_OSERR, "sendmail: fork: %s", strerror(e));
		return;
	}
	if (pid == 0) {
		/* Only async-signal-safe calls between fork and exec: the parent
		 * may have other threads. */
		sigset_t none;
		sigemptyset(&none);
		pthread_sigmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		int devnull = open("/dev/null", O_WRONLY);
		if (dup2(in[0], 0) < 0 || dup2(errp[1], 2) < 0 ||
		    (devnull >= 0 && dup2(devnull, 1) < 0))
			_exit(EX_OSERR);
		execv(s->path, argv);
		_exit(127);
	}
	close(in[0]);
	close(errp[1]);

	size_t blen;
	char *body = to_lf(msg, len, &blen);
	char ebuf[SENDMAIL_STDERR_MAX + 1];
	size_t elen = 0, off = 0;
	bool timed_out = false, write_failed = false;
	int wfd = in[1], rfd = errp[0];
	fcntl(wfd, F_SETFL, fcntl(wfd, F_GETFL) | O_NONBLOCK);
	if (blen == 0) {
		close(wfd);
		wfd = -1;
	}

	/* A child that dies early makes our write fail with EPIPE: block the
	 * signal for this thread and swallow it afterwards. */
	sigset_t pipeset, old;
	sigemptyset(&pipeset);
	sigaddset(&pipeset, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipeset, &old);

	long long deadline = now_ms() + s->timeout_ms;
	while (wfd >= 0 || rfd >= 0) {
		long long left = deadline - now_ms();
		if (left <= 0) {
			timed_out = true;
			break;
		}
		struct pollfd pf[2];
		int n = 0;
		if (wfd >= 0)
			pf[n++] = (struct pollfd){ .fd = wfd, .events = POLLOUT };
		if (rfd >= 0)
			pf[n++] = (struct pollfd){ .fd = rfd, .events = POLLIN };
		int r = poll(pf, (nfds_t)n, (int)(left > 1000 ? 1000 : left));
		if (r < 0 && errno != EINTR)
			break;
		if (r <= 0)
			continue;
		for (int i = 0; i < n; i++) {
			if (!pf[i].revents)
				continue;
			if (pf[i].fd == wfd) {
				ssize_t w = write(wfd, body + off, blen - off);
				if (w > 0)
					off += (size_t)w;
				else if (w < 0 && errno != EAGAIN && errno != EINTR)
					write_failed = true;
				if (write_failed || off == blen) {
					close(wfd);
					wfd = -1;
				}
			} else {
				char tmp[512];
				ssize_t got = read(rfd, tmp, sizeof tmp);
				if (got > 0) {
					size_t take = (size_t)got;
					if (take > SENDMAIL_STDERR_MAX - elen)
						take = SENDMAIL_STDERR_MAX - elen;
					memcpy(ebuf + elen, tmp, take);
					elen += take;
				} else if (got == 0 || (errno != EAGAIN && errno != EINTR)) {
					close(rfd);
					rfd = -1;
				}
			}
		}
	}
	if (wfd >= 0)
		close(wfd);
	if (rfd >= 0)
		close(rfd);
	free(body);
	if (timed_out)
		kill(pid, SIGKILL);
	int status = 0;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	struct timespec zero = { 0, 0 };
	while (sigtimedwait(&pipeset, NULL, &zero) > 0)
		;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	ebuf[elen] = '\0';
	clean_text(ebuf);

	if (timed_out) {
		res->outcome = TD_SEND_TEMPFAIL;
		td_err_set(err, EX_TEMPFAIL, "sendmail: %s: no answer within %d s; "
			   "killed", s->path, s->timeout_ms / 1000);
		return;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {
		res->outcome = TD_SEND_FATAL;
		td_err_set(err, EX_CONFIG, "sendmail: cannot run %s (set "
			   "transport.sendmail_path)", s->path);
		return;
	}
	int code;
	res->outcome = classify_status(status, &code);
	if (res->outcome == TD_SEND_OK && write_failed) {
		/* It exited 0 without reading the whole message: do not
		 * believe it was queued complete. */
		res->outcome = TD_SEND_TEMPFAIL;
		code = EX_TEMPFAIL;
	}
	if (res->outcome == TD_SEND_OK) {
		snprintf(res->reply, sizeof res->reply, "sendmail: exit 0");
		return;
	}
	char how[64];
	if (WIFEXITED(status))
		snprintf(how, sizeof how, "exit %d", WEXITSTATUS(status));
	else
		snprintf(how, sizeof how, "killed by signal %d",
			 WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	snprintf(res->reply, sizeof res->reply, "sendmail: %s%s%s", how,
		 elen ? ": " : "", ebuf);
	td_err_set(err, code, "sendmail: %s for %s: %s%s%s", s->path, rcpt, how,
		   elen ? ": " : "", ebuf);
}

static void sendmail_close(struct td_transport *t)
{
	struct sendmail *s = t->state;
	if (s) {
		free(s->path);
		free(s);
	}
	t->state = NULL;
}

const struct td_transport_ops td_transport_sendmail = {
	.name = "sendmail",
	.open = sendmail_open,
	.send = sendmail_send,
	.close = sendmail_close,
};
