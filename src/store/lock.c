/*
 * lock.c: the run lock (see lock.h). The holder's pid is written into the
 * file only to make the refusal message useful; the flock is what counts.
 */
#include "tagdigest/store/lock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <stdlib.h>
#include <unistd.h>

#include "tagdigest/core/util.h"

int td_lock_acquire(const char *path, int *fd, struct td_err *err)
{
	*fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (*fd < 0)
		return td_err_set(err, EX_CANTCREAT, "lock: open %s: %s", path,
				  strerror(errno));
	if (flock(*fd, LOCK_EX | LOCK_NB) < 0) {
		int saved = errno;
		char holder[32] = "";
		ssize_t n = pread(*fd, holder, sizeof holder - 1, 0);
		holder[n > 0 ? n : 0] = '\0';
		holder[strcspn(holder, "\n")] = '\0';
		close(*fd);
		*fd = -1;
		if (saved == EWOULDBLOCK)
			return td_err_set(err, EX_TEMPFAIL,
					  "another tagdigest run is in progress%s%s%s "
					  "(lock %s); nothing done, try again later",
					  *holder ? " (pid " : "", holder, *holder ? ")" : "",
					  path);
		return td_err_set(err, EX_CANTCREAT, "lock: %s: %s", path,
				  strerror(saved));
	}
	char pid[32];
	int len = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
	if (ftruncate(*fd, 0) == 0 && pwrite(*fd, pid, (size_t)len, 0) < 0)
		(void)0; /* the pid is informational only */
	return 0;
}

void td_lock_release(int fd)
{
	if (fd >= 0)
		close(fd);
}

int td_lock_open_store(const char *store_path, struct td_store **st, int *fd,
		       struct td_err *err)
{
	*st = NULL;
	*fd = -1;
	char *lockpath = td_xasprintf("%s.lock", store_path);
	int rc = td_mkdir_parents(lockpath, err);
	if (!rc)
		rc = td_lock_acquire(lockpath, fd, err);
	free(lockpath);
	if (!rc && (rc = td_store_open(store_path, TD_STORE_READWRITE, st, err))) {
		td_lock_release(*fd);
		*fd = -1;
		*st = NULL;
	}
	return rc;
}

void td_lock_close_store(struct td_store *st, int fd)
{
	td_store_close(st);
	td_lock_release(fd);
}
