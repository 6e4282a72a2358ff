/*
 * log: one line per event on stderr, shaped "tagdigest: module: detail".
 *
 *   td_log_warn   - a problem, with strerror(errno) appended
 *   td_log_warnx  - a problem
 *   td_log_info   - shown unless --quiet
 *   td_log_debug  - shown with --verbose
 *
 * The level is process-wide and set once by main.
 */
#ifndef TAGDIGEST_LOG_H
#define TAGDIGEST_LOG_H

enum td_log_level { TD_LOG_QUIET = 0, TD_LOG_INFO = 1, TD_LOG_DEBUG = 2 };

void td_log_set_level(enum td_log_level level);
enum td_log_level td_log_get_level(void);
void td_log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void td_log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void td_log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void td_log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
