/*
 * log.c: stderr logging with a process-wide level (see log.h).
 */
#include "tagdigest/core/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static enum td_log_level current_level = TD_LOG_INFO;

void td_log_set_level(enum td_log_level level)
{
	current_level = level;
}

enum td_log_level td_log_get_level(void)
{
	return current_level;
}

static void log_line(const char *fmt, va_list ap, const char *suffix)
{
	char line[2048];
	vsnprintf(line, sizeof line, fmt, ap);
	if (suffix)
		fprintf(stderr, "tagdigest: %s: %s\n", line, suffix);
	else
		fprintf(stderr, "tagdigest: %s\n", line);
}

void td_log_warn(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;
	va_start(ap, fmt);
	log_line(fmt, ap, strerror(saved));
	va_end(ap);
	errno = saved;
}

void td_log_warnx(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_line(fmt, ap, NULL);
	va_end(ap);
}

void td_log_info(const char *fmt, ...)
{
	if (current_level < TD_LOG_INFO)
		return;
	va_list ap;
	va_start(ap, fmt);
	log_line(fmt, ap, NULL);
	va_end(ap);
}

void td_log_debug(const char *fmt, ...)
{
	if (current_level < TD_LOG_DEBUG)
		return;
	va_list ap;
	va_start(ap, fmt);
	log_line(fmt, ap, NULL);
	va_end(ap);
}
