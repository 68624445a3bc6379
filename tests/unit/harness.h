/*
 * harness: what the unit tests that drive real tools share: run a shell
 * command, and run an image-building script in a temporary directory.
 */
#ifndef BRAMBLE_TEST_HARNESS_H
#define BRAMBLE_TEST_HARNESS_H

/* Run the shell command made from fmt with system(3); returns what system() returns. */
int harness_run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Write script to dir/build.sh and run "sh dir/build.sh dir [extra]" (extra
 * may be NULL).  Returns 0 when it exited 0.
 */
int harness_script(const char *dir, const char *script, const char *extra);

#endif
