/*
 * harness: what the unit tests that drive real tools share: run a shell
 * command, and run an image-building script in a temporary directory.
 */
#ifndef BRAMBLE_TEST_HARNESS_H
#define BRAMBLE_TEST_HARNESS_H

#include <stdint.h>

/* Run the shell command made from fmt with system(3); returns what system() returns. */
int harness_run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Write script to dir/build.sh and run "sh dir/build.sh dir [extra]" (extra
 * may be NULL).  Returns 0 when it exited 0.
 */
int harness_script(const char *dir, const char *script, const char *extra);

/* Open dir/name with flags (and O_CLOEXEC; mode 0600 if made); the test fails if it cannot. */
int harness_open(const char *dir, const char *name, int flags);

/* The size of the open file fd; the test fails if fstat does. */
uint64_t harness_fd_size(int fd);

/*
 * Skips are skips, never passes: HARNESS_SKIP(reason) marks the running test
 * skipped (cmocka skip()) and counts it, and main() returns
 * harness_exit(failed), which is 77 when nothing failed but something was
 * skipped, so that CTest (SKIP_RETURN_CODE 77) and scripts/test.sh see it.
 */
extern unsigned harness_skipped;
#define HARNESS_SKIP(reason)                              \
	do {                                              \
		print_message("skipped: %s\n", (reason)); \
		harness_skipped++;                        \
		skip();                                   \
	} while (0)
int harness_exit(int failed);

#endif
