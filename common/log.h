/*
 * log: the controller's only way to speak.
 *
 * Libraries (manifests/, reconcilers/) do not log; they return errors and the
 * controller logs them.  log_warn() appends the text of errno; log_warnx()
 * does not.  fatal() is for start-up only.  Lines go to stderr with a level
 * prefix; on a terminal they are plain, otherwise they carry a timestamp.
 */
#ifndef BRAMBLE_LOG_H
#define BRAMBLE_LOG_H

enum log_level {
	LOG_LEVEL_ERROR,
	LOG_LEVEL_WARN,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG,
};

void log_init(enum log_level level);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);

void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Log with the text of a negative errno value r. */
void log_errno(int r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
