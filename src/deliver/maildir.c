/*
 * maildir.c: the Maildir transport, for previews and for sites that hand
 * mail to a local delivery agent.
 *
 * Each message is delivered the way the Maildir spec (and OpenSMTPD's
 * queue) does it: create a uniquely named file in tmp/ with O_EXCL, write
 * it, fsync it, rename it into new/, and fsync new/ so the rename itself
 * survives a crash. A reader never sees a half-written file, and a message
 * reported as delivered is on disk. Names follow the spec:
 * "<sec>.M<usec>P<pid>Q<n>.<host>", n counting this process's deliveries.
 *
 * The message bytes are written exactly as given (the caller's CRLF stays).
 *
 * A delivery killed mid-write leaves its file in tmp/. The spec's remedy
 * is the readers': a tmp/ file untouched for 36 hours belongs to a writer
 * that died, and is deleted. We do the same once per run, when the
 * transport opens, so a sender that is killed often (cron, OOM) does not
 * fill the disk when no reader ever cleans this Maildir.
 */
#include "tagdigest/deliver/transport.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "tagdigest/core/buf.h"
#include "tagdigest/core/log.h"
#include "tagdigest/core/util.h"

/* How many names to try when O_EXCL finds one taken: a clash needs another
 * process with our pid in the same microsecond, so one retry is plenty. */
#define MAILDIR_NAME_TRIES 16
/* The Maildir spec's age for an abandoned tmp/ file. */
#define STALE_TMP_SECONDS (36 * 3600)
/* tmp/ entries looked at per run, at most: the work stays bounded however
 * full a neglected tmp/ is (a healthy one holds a file or two). */
#define STALE_TMP_SCAN 10000

struct maildir {
	char *path;        /* the Maildir root, as configured */
	char *host;        /* gethostname(), '/' and ':' escaped per the spec */
	int tmp_fd;        /* tmp/ and new/, held open so every send works */
	int new_fd;        /* relative to the same directories */
};

/* Deliveries made by this process: the Q part of the unique name. It is
 * process-wide, not per transport, because uniqueness is per process. */
static unsigned long maildir_deliveries;

/* mkdir -p with mode 0700. Returns 0, or -1 with errno set and *failed
 * pointing into the copy at the component that could not be made. */
static int mkdir_p(char *path, char **failed)
{
	struct stat st;

	for (char *p = path + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char saved = *p;
		*p = '\0';
		/* "a//b" and a trailing '/' give empty components: skip them. */
		if (p[-1] != '/' && mkdir(path, 0700) != 0) {
			int e = errno;
			if (e != EEXIST || stat(path, &st) != 0 ||
			    !S_ISDIR(st.st_mode)) {
				/* EEXIST on a non-directory is really ENOTDIR. */
				errno = (e == EEXIST) ? ENOTDIR : e;
				*failed = path;
				return -1;
			}
		}
		*p = saved;
		if (saved == '\0')
			return 0;
	}
}

static char *safe_hostname(void)
{
	char host[HOST_NAME_MAX + 1];
	struct td_buf b = TD_BUF_INIT;

	if (gethostname(host, sizeof host) != 0 || host[0] == '\0')
		snprintf(host, sizeof host, "localhost");
	host[sizeof host - 1] = '\0';
	/* The spec's own escapes: '/' would be a path separator and ':'
	 * starts the info part that readers append in cur/. */
	for (const char *s = host; *s; s++) {
		if (*s == '/')
			td_buf_puts(&b, "\\057");
		else if (*s == ':')
			td_buf_puts(&b, "\\072");
		else
			td_buf_putc(&b, *s);
	}
	return td_buf_steal(&b);
}

static void maildir_free(struct maildir *md)
{
	if (!md)
		return;
	if (md->tmp_fd >= 0)
		close(md->tmp_fd);
	if (md->new_fd >= 0)
		close(md->new_fd);
	free(md->path);
	free(md->host);
	free(md);
}

/* Removes regular files in tmp/ whose last write is older than 36 hours.
 * The spec says "not accessed"; the last write is what a live writer
 * moves, while access times are often not kept (noatime, relatime) or are
 * refreshed by backups that read the file. A fresh file may be another
 * writer's delivery in progress and is never touched; symlinks and
 * directories are not ours to remove (and are never followed). Failures
 * are reported and change nothing else: this is housekeeping, not
 * delivery. */
static void remove_stale_tmp(struct maildir *md)
{
	/* fdopendir takes the descriptor it is given: hand it its own */
	int fd = openat(md->tmp_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;
	if (!dir) {
		td_log_warn("maildir: read %s/tmp", md->path);
		if (fd >= 0)
			close(fd);
		return;
	}
	time_t cutoff = time(NULL) - STALE_TMP_SECONDS;
	size_t seen = 0, removed = 0;
	struct dirent *de;
	while (seen < STALE_TMP_SCAN && (de = readdir(dir))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		seen++;
		if (de->d_type != DT_REG && de->d_type != DT_UNKNOWN)
			continue;
		struct stat st;
		if (fstatat(md->tmp_fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
		    !S_ISREG(st.st_mode) || st.st_mtime >= cutoff)
			continue;
		if (unlinkat(md->tmp_fd, de->d_name, 0) == 0)
			removed++;
		else if (errno != ENOENT)   /* gone meanwhile: someone else's cleanup */
			td_log_warn("maildir: remove stale %s/tmp/%s", md->path,
				    de->d_name);
	}
	if (seen == STALE_TMP_SCAN)
		td_log_warnx("maildir: %s/tmp holds %d entries or more; only that "
			     "many were checked for stale files", md->path,
			     STALE_TMP_SCAN);
	closedir(dir);
	if (removed)
		td_log_info("maildir: removed %zu stale file%s from %s/tmp (a "
			    "delivery that died, untouched for 36 hours)", removed,
			    removed == 1 ? "" : "s", md->path);
}

static int maildir_open(struct td_transport *t,
			const struct td_transport_options *opt, struct td_err *err)
{
	static const char *const subdirs[] = { "tmp", "new", "cur" };

	if (!opt->maildir || !opt->maildir[0])
		return td_err_set(err, EX_CONFIG,
				  "maildir: transport.maildir is not set");

	struct maildir *md = td_xcalloc(1, sizeof *md);
	md->tmp_fd = md->new_fd = -1;
	md->path = td_xstrdup(opt->maildir);

	for (size_t i = 0; i < sizeof subdirs / sizeof subdirs[0]; i++) {
		char *dir = td_xasprintf("%s/%s", md->path, subdirs[i]);
		char *failed = NULL;
		if (mkdir_p(dir, &failed) != 0) {
			int e = errno;
			td_err_set(err, EX_CANTCREAT, "maildir: create %s: %s",
				   failed, strerror(e));
			free(dir);
			maildir_free(md);
			return EX_CANTCREAT;
		}
		free(dir);
	}

	char *tmp = td_xasprintf("%s/tmp", md->path);
	char *new_ = td_xasprintf("%s/new", md->path);
	md->tmp_fd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	const char *bad = md->tmp_fd < 0 ? tmp : new_;
	if (md->tmp_fd >= 0)
		md->new_fd = open(new_, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (md->new_fd < 0) {
		td_err_set(err, EX_CANTCREAT, "maildir: open %s: %s", bad,
			   strerror(errno));
		free(tmp);
		free(new_);
		maildir_free(md);
		return EX_CANTCREAT;
	}
	free(tmp);
	free(new_);

	md->host = safe_hostname();
	remove_stale_tmp(md);
	t->state = md;
	return 0;
}

/* A full disk, a quota or a flaky device may clear up by the next run;
 * anything else (permissions, read-only mount, vanished directory) needs
 * a person. */
static enum td_send_outcome classify_errno(int e)
{
	switch (e) {
	case ENOSPC:
	case EDQUOT:
	case EIO:
		return TD_SEND_TEMPFAIL;
	default:
		return TD_SEND_FATAL;
	}
}

static int write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0) {
			/* write() never returns 0 for len > 0 on a regular file;
			 * treat it as the device failing rather than spin. */
			errno = EIO;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void maildir_send(struct td_transport *t, const char *from,
			 const char *rcpt, const char *msg, size_t len,
			 struct td_send_result *res, struct td_err *err)
{
	struct maildir *md = t->state;
	char name[256];
	int fd = -1, e;

	/* The envelope has no place in a Maildir file; the headers carry it. */
	(void)from;
	(void)rcpt;

	for (int tries = 0; tries < MAILDIR_NAME_TRIES; tries++) {
		struct timeval tv;
		gettimeofday(&tv, NULL);
		snprintf(name, sizeof name, "%lld.M%06ldP%ldQ%lu.%s",
			 (long long)tv.tv_sec, (long)tv.tv_usec,
			 (long)getpid(), ++maildir_deliveries, md->host);
		fd = openat(md->tmp_fd, name,
			    O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd >= 0 || errno != EEXIST)
			break;
	}
	if (fd < 0) {
		e = errno;
		res->outcome = classify_errno(e);
		td_err_set(err, res->outcome == TD_SEND_TEMPFAIL ?
				       EX_TEMPFAIL : EX_CANTCREAT,
			   "maildir: write %s/tmp/%s: %s", md->path, name,
			   strerror(e));
		return;
	}

	const char *where = "tmp";
	if (write_all(fd, msg, len) != 0 || fsync(fd) != 0)
		goto fail;
	/* close() can report a deferred write error (NFS): it counts too. */
	e = close(fd);
	fd = -1;
	if (e != 0)
		goto fail;
	if (renameat(md->tmp_fd, name, md->new_fd, name) != 0)
		goto fail;
	where = "new";
	if (fsync(md->new_fd) != 0)
		goto fail;

	res->outcome = TD_SEND_OK;
	snprintf(res->reply, sizeof res->reply, "new/%s", name);
	return;

fail:
	e = errno;
	if (fd >= 0)
		close(fd);
	/* Either way the message must not be left behind: "failed" means not
	 * delivered, so a retry later cannot produce a second copy. */
	unlinkat(strcmp(where, "tmp") == 0 ? md->tmp_fd : md->new_fd, name, 0);
	res->outcome = classify_errno(e);
	td_err_set(err, res->outcome == TD_SEND_TEMPFAIL ? EX_TEMPFAIL :
							  EX_CANTCREAT,
		   "maildir: write %s/%s/%s: %s", md->path, where, name,
		   strerror(e));
}

static void maildir_close(struct td_transport *t)
{
	maildir_free(t->state);
	t->state = NULL;
}

const struct td_transport_ops td_transport_maildir = {
	.name = "maildir",
	.open = maildir_open,
	.send = maildir_send,
	.close = maildir_close,
};
