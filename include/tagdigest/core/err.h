/*
 * err: the one error type. Functions that can fail return 0 on success or a
 * sysexits.h code (EX_CONFIG, EX_DATAERR, EX_IOERR, EX_TEMPFAIL, ...), and
 * fill a struct td_err with a message a person can act on, shaped
 * "what: where: why" (for input files: "FILE:LINE: key: problem").
 *
 * The code doubles as the process exit status, which is what cron reads.
 */
#ifndef TAGDIGEST_ERR_H
#define TAGDIGEST_ERR_H

#include <sysexits.h>

struct td_err {
	int code;
	char msg[1024];
};

/* Records code and message (err may be NULL) and returns code, so callers
 * can write `return td_err_set(err, EX_CONFIG, "...")`. */
int td_err_set(struct td_err *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Prefixes the existing message with "prefix: ". Returns err->code. */
int td_err_prefix(struct td_err *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
