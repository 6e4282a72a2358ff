/*
 * lock.c: the run lock and the advisory locks (see lock.h). The holder's
 * pid is written into the lock file only to make the refusal message
 * useful; the flock is what counts.
 */
#include "tagdigest/store/lock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "tagdigest/core/log.h"
#include "tagdigest/core/util.h"
#include "store_impl.h"

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

/* ---- advisory locks (PostgreSQL) ---- */

/* The keys, beside store.c's migration lock (7031501): one number space
 * per database, so they only need to differ from each other. */
static const int64_t lock_keys[] = {
	[TD_STORE_LOCK_INGEST] = 7031502,
	[TD_STORE_LOCK_ROSTER] = 7031503,
};
static const char *const lock_names[] = {
	[TD_STORE_LOCK_INGEST] = "ingest",
	[TD_STORE_LOCK_ROSTER] = "roster",
};

bool td_lock_shared(struct td_store *st)
{
	return td_db_backend(td_store_db(st)) == TD_DB_POSTGRES;
}

/* One advisory-lock call with the key bound: its integer answer. */
static int lock_call(struct td_store *st, const char *sql, enum td_store_lock which,
		     int *answer, struct td_err *err)
{
	struct td_db_stmt *s;
	if (td_db_prepare(td_store_db(st), sql, &s) != TD_DB_OK)
		return td_store_db_error(st, err, "prepare the advisory lock");
	td_db_bind_int64(s, 1, lock_keys[which]);
	int step = td_db_step(s);
	*answer = step == TD_DB_ROW ? td_db_column_int(s, 0) : 0;
	td_db_finalize(s);
	if (step != TD_DB_ROW)
		return td_store_db_error(st, err, lock_names[which]);
	return 0;
}

int td_lock_try(struct td_store *st, enum td_store_lock which, bool *got,
		struct td_err *err)
{
	*got = true;
	if (!td_lock_shared(st))
		return 0;
	int answer;
	int rc = lock_call(st, "SELECT CASE WHEN pg_try_advisory_lock(?1) THEN 1 ELSE 0 END",
			   which, &answer, err);
	*got = !rc && answer == 1;
	return rc;
}

/* Polled rather than pg_advisory_lock under a lock_timeout: the wait
 * stays bounded by our own clock whatever the server's settings, and a
 * signal ends it between two polls. */
#define POLL_MS 100

int td_lock_wait(struct td_store *st, enum td_store_lock which, int wait_ms,
		 struct td_err *err)
{
	bool got;
	int rc = td_lock_try(st, which, &got, err);
	if (rc || got)
		return rc;
	td_log_info("waiting for the %s lock of %s (another process holds it)",
		    lock_names[which], td_store_path(st));
	double deadline = td_mono_now() + wait_ms / 1000.0;
	while (td_mono_now() < deadline) {
		struct timespec ts = { 0, POLL_MS * 1000000L };
		nanosleep(&ts, NULL);
		if ((rc = td_lock_try(st, which, &got, err)) || got)
			return rc;
	}
	return td_err_set(err, EX_TEMPFAIL,
			  "another process held the %s lock of %s for %d s (a "
			  "subscriber sync, import or unsuppress); nothing done, "
			  "try again later", lock_names[which], td_store_path(st),
			  wait_ms / 1000);
}

void td_lock_drop(struct td_store *st, enum td_store_lock which)
{
	if (!st || !td_lock_shared(st))
		return;
	int answer;
	struct td_err err = { 0, "" };
	if (lock_call(st, "SELECT CASE WHEN pg_advisory_unlock(?1) THEN 1 ELSE 0 END",
		      which, &answer, &err))
		td_log_warnx("%s (the connection's end drops the lock)", err.msg);
}

/* ---- the store under its lock ---- */

/* PostgreSQL: the store first (there is no file), then the lock kind
 * asks for. */
static int open_shared(const char *url, enum td_lock_kind kind, struct td_store **st,
		       struct td_err *err)
{
	int rc = td_store_open(url, TD_STORE_READWRITE, st, err);
	if (rc)
		return rc;
	bool got = true;
	if (kind == TD_LOCK_INGEST && !(rc = td_lock_try(*st, TD_STORE_LOCK_INGEST, &got, err)) &&
	    !got)
		rc = td_err_set(err, EX_TEMPFAIL, "another process is ingesting into %s; "
				"nothing done, try again later", url);
	else if (kind == TD_LOCK_ROSTER)
		rc = td_lock_wait(*st, TD_STORE_LOCK_ROSTER, TD_LOCK_WAIT_MS, err);
	if (rc) {
		td_store_close(*st);
		*st = NULL;
	}
	return rc;
}

int td_lock_open_store(const char *store_path, enum td_lock_kind kind,
		       struct td_store **st, int *fd, struct td_err *err)
{
	*st = NULL;
	*fd = -1;
	if (td_db_is_url(store_path))
		return open_shared(store_path, kind, st, err);
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
