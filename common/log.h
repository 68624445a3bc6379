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

/* Start logging at level (timestamps unless stderr is a terminal). */
void log_init(enum log_level level);
/* Change the level (-v, -q); log_get_level() says the current one. */
void log_set_level(enum log_level level);
enum log_level log_get_level(void);

/* A warning with the text of errno appended; log_warnx without it. */
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* News for the operator (-q hides it), and details for -v. */
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Log with the text of a negative errno value r. */
void log_errno(int r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Log and exit (1), with or without errno's text: at start-up only. */
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
