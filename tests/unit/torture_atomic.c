/*
 * torture_atomic: the one atomic writer (common/atomic.h) and the checked
 * parsers (common/parse.h).  The writer's system calls are interposed here
 * (this program defines openat, write, fchmod, fsync, close and renameat,
 * which the static bramble_common resolves to), so that each step can be
 * made to fail in turn, SQLite style, and the fsyncs of each sync policy
 * counted.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "atomic.h"
#include "fsutil.h"
#include "harness.h"
#include "parse.h"
#include "status.h"

/* ------------------------------------------------------ interposed calls */

static const char *fail_call; /* the call to fail with EIO, NULL: none */
static unsigned fail_nth;     /* its n-th call from now (1-based) */
static unsigned n_fsync;

int openat(int dirfd, const char *path, int flags, ...);
ssize_t write(int fd, const void *data, size_t len);
int fchmod(int fd, mode_t mode);
int fsync(int fd);
int close(int fd);
int renameat(int ofd, const char *old, int nfd, const char *new);

static bool hit(const char *call)
{
	if (!fail_call || strcmp(fail_call, call) != 0 || --fail_nth > 0)
		return false;
	fail_call = NULL;
	errno = EIO;
	return true;
}

#define REAL(name, type) ((type)dlsym(RTLD_NEXT, name))

int openat(int dirfd, const char *path, int flags, ...)
{
	mode_t mode = 0;
	va_list ap;

	va_start(ap, flags);
	if (flags & O_CREAT)
		mode = (mode_t)va_arg(ap, unsigned);
	va_end(ap);
	if (hit("openat"))
		return -1;
	return REAL("openat", int (*)(int, const char *, int, ...))(dirfd, path, flags, mode);
}

ssize_t write(int fd, const void *data, size_t len)
{
	if (hit("write"))
		return -1;
	return REAL("write", ssize_t(*)(int, const void *, size_t))(fd, data, len);
}

int fchmod(int fd, mode_t mode)
{
	if (hit("fchmod"))
		return -1;
	return REAL("fchmod", int (*)(int, mode_t))(fd, mode);
}

int fsync(int fd)
{
	n_fsync++;
	if (hit("fsync"))
		return -1;
	return REAL("fsync", int (*)(int))(fd);
}

int close(int fd)
{
	int r = REAL("close", int (*)(int))(fd);

	/* Linux closes the descriptor, then reports the error. */
	return hit("close") ? -1 : r;
}

int renameat(int ofd, const char *old, int nfd, const char *new)
{
	if (hit("renameat"))
		return -1;
	return REAL("renameat", int (*)(int, const char *, int, const char *))(ofd, old, nfd, new);
}

/* ------------------------------------------------------------- fixtures */

struct fixture {
	char dir[64];
	int dfd;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/torture_atomic.XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	f->dfd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	fail_call = NULL;
	*state = f;
	return f->dfd < 0 ? -1 : 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	fail_call = NULL;
	close(f->dfd);
	harness_run("rm -rf '%s'", f->dir);
	free(f);
	return 0;
}

/* The directory's entries, sorted, joined by ' '. */
static void listing(int dfd, char *out, size_t size)
{
	char names[8][NAME_MAX + 1];
	struct dirent *de;
	size_t n = 0, i, j;
	DIR *d = fdopendir(dup(dfd));

	assert_non_null(d);
	rewinddir(d);
	while ((de = readdir(d)) != NULL && n < 8)
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			snprintf(names[n++], sizeof(names[0]), "%s", de->d_name);
	closedir(d);
	for (i = 1; i < n; i++)
		for (j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
			char t[NAME_MAX + 1];

			memcpy(t, names[j], sizeof(t));
			memcpy(names[j], names[j - 1], sizeof(t));
			memcpy(names[j - 1], t, sizeof(t));
		}
	out[0] = '\0';
	for (i = 0; i < n; i++) {
		size_t used = strlen(out);
		int w = snprintf(out + used, size - used, "%s%s", i ? " " : "", names[i]);

		if (w < 0 || (size_t)w >= size - used)
			break; /* the listing is cut: the comparison fails and shows it */
	}
}

static void assert_content(int dfd, const char *name, const char *want)
{
	char *data = NULL;
	size_t len;

	assert_int_equal(file_read_at(dfd, name, 4096, &data, &len), 0);
	assert_string_equal(data, want);
	free(data);
}

/* ---------------------------------------------------------------- tests */

static void test_commit_abort(void **state)
{
	struct fixture *f = *state;
	struct atomic_file af = ATOMIC_FILE_INIT;
	struct stat st;
	char ls[512];

	assert_int_equal(atomic_write_at(f->dfd, "a", "old\n", 4, 0640, ATOMIC_SYNC_NONE), 0);
	assert_content(f->dfd, "a", "old\n");
	assert_int_equal(fstatat(f->dfd, "a", &st, 0), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	/* Aborted: the target is untouched, the temp gone. */
	assert_int_equal(atomic_open(&af, f->dfd, "a", 0600, ATOMIC_SYNC_FILE), 0);
	assert_int_equal(atomic_write(&af, "new\n", 4), 0);
	listing(f->dfd, ls, sizeof(ls));
	assert_non_null(strstr(ls, ".a."));
	atomic_abort(&af);
	atomic_abort(&af); /* twice: harmless */
	assert_content(f->dfd, "a", "old\n");
	listing(f->dfd, ls, sizeof(ls));
	assert_string_equal(ls, "a");
	/* A batch: closed first, committed later. */
	assert_int_equal(atomic_open(&af, f->dfd, "a", 0600, ATOMIC_SYNC_NONE), 0);
	assert_int_equal(atomic_write(&af, "new\n", 4), 0);
	assert_int_equal(atomic_close(&af), 0);
	assert_content(f->dfd, "a", "old\n");
	assert_int_equal(atomic_commit(&af), 0);
	assert_content(f->dfd, "a", "new\n");
	atomic_abort(&af); /* after a commit: harmless, the file stays */
	listing(f->dfd, ls, sizeof(ls));
	assert_string_equal(ls, "a");
	/* Names that are not one component. */
	assert_int_equal(atomic_write_at(f->dfd, "x/y", "", 0, 0600, ATOMIC_SYNC_NONE), -EINVAL);
	assert_int_equal(atomic_write_at(f->dfd, "..", "", 0, 0600, ATOMIC_SYNC_NONE), -EINVAL);
	assert_int_equal(atomic_write_at(f->dfd, "", "", 0, 0600, ATOMIC_SYNC_NONE), -EINVAL);
}

/* Each step failing in turn leaves the old file and no temp. */
static void test_each_step_fails(void **state)
{
	static const struct {
		const char *call;
		unsigned nth;
	} steps[] = {{"openat", 1}, {"fchmod", 1}, {"write", 1},
		     {"fsync", 1},  {"close", 1},  {"renameat", 1}};
	struct fixture *f = *state;
	char ls[512];
	size_t i;

	assert_int_equal(atomic_write_at(f->dfd, "s", "old\n", 4, 0600, ATOMIC_SYNC_NONE), 0);
	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		fail_call = steps[i].call;
		fail_nth = steps[i].nth;
		assert_int_equal(atomic_write_at(f->dfd, "s", "new\n", 4, 0600, ATOMIC_SYNC_FILE),
				 -EIO);
		assert_null(fail_call); /* the fault fired */
		assert_content(f->dfd, "s", "old\n");
		listing(f->dfd, ls, sizeof(ls));
		assert_string_equal(ls, "s");
	}
	/* The directory's fsync fails after the rename: an error, the new file. */
	fail_call = "fsync";
	fail_nth = 2;
	assert_int_equal(atomic_write_at(f->dfd, "s", "new\n", 4, 0600, ATOMIC_SYNC_DIR), -EIO);
	assert_content(f->dfd, "s", "new\n");
	listing(f->dfd, ls, sizeof(ls));
	assert_string_equal(ls, "s");
}

static void test_sync_policy(void **state)
{
	struct fixture *f = *state;
	static const enum atomic_sync pol[] = {ATOMIC_SYNC_NONE, ATOMIC_SYNC_FILE, ATOMIC_SYNC_DIR};
	size_t i;

	for (i = 0; i < 3; i++) {
		n_fsync = 0;
		assert_int_equal(atomic_write_at(f->dfd, "p", "x", 1, 0600, pol[i]), 0);
		assert_int_equal(n_fsync, i);
	}
}

static void test_exclusive(void **state)
{
	struct fixture *f = *state;
	struct atomic_file a = ATOMIC_FILE_INIT, b = ATOMIC_FILE_INIT;
	char tmp[64], ls[512];
	int fd;

	/* Two writers of one file in one process: the second is refused. */
	assert_int_equal(atomic_open(&a, f->dfd, "e", 0600, ATOMIC_SYNC_NONE), 0);
	assert_int_equal(atomic_open(&b, f->dfd, "e", 0600, ATOMIC_SYNC_NONE), -EEXIST);
	atomic_abort(&b); /* never opened: must not remove a's temp */
	assert_int_equal(atomic_write(&a, "a", 1), 0);
	assert_int_equal(atomic_commit(&a), 0);
	assert_content(f->dfd, "e", "a");
	/* A temp of a dead process that had this pid: replaced. */
	snprintf(tmp, sizeof(tmp), ".e.%ld.tmp", (long)getpid());
	fd = openat(f->dfd, tmp, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_true(atomic_temp_is_stale(tmp));
	assert_int_equal(atomic_write_at(f->dfd, "e", "b", 1, 0600, ATOMIC_SYNC_NONE), 0);
	assert_content(f->dfd, "e", "b");
	/* A symlink in the temp's place is never followed. */
	assert_int_equal(symlinkat("/etc/passwd", f->dfd, tmp), 0);
	assert_int_equal(atomic_write_at(f->dfd, "e", "c", 1, 0600, ATOMIC_SYNC_NONE), 0);
	assert_content(f->dfd, "e", "c");
	listing(f->dfd, ls, sizeof(ls));
	assert_string_equal(ls, "e");
}

static void test_stale_names(void **state)
{
	struct fixture *f = *state;
	struct atomic_file a = ATOMIC_FILE_INIT;
	char tmp[64];

	snprintf(tmp, sizeof(tmp), ".t.%ld.tmp", (long)getpid());
	assert_int_equal(atomic_open(&a, f->dfd, "t", 0600, ATOMIC_SYNC_NONE), 0);
	assert_false(atomic_temp_is_stale(tmp)); /* held */
	atomic_abort(&a);
	assert_true(atomic_temp_is_stale(tmp));
	assert_true(atomic_temp_is_stale(".t.2147483646.tmp")); /* no such process */
	assert_false(atomic_temp_is_stale(".t.1.tmp"));		/* init lives */
	assert_false(atomic_temp_is_stale("t.tmp"));
	assert_false(atomic_temp_is_stale(".t.tmp"));
	assert_false(atomic_temp_is_stale(".t.0.tmp"));
	assert_false(atomic_temp_is_stale(".t.99999999999999999999.tmp"));
	assert_false(atomic_temp_is_stale(".t.12"));
}

/* A fatal signal removes the temps open; the process still dies of it. */
static void test_signal(void **state)
{
	struct fixture *f = *state;
	struct atomic_file a = ATOMIC_FILE_INIT;
	char ls[512];
	int status;
	pid_t pid;

	assert_int_equal(atomic_open(&a, f->dfd, "g", 0600, ATOMIC_SYNC_NONE), 0);
	atomic_signal_cleanup();
	listing(f->dfd, ls, sizeof(ls));
	assert_string_equal(ls, "");
	atomic_abort(&a);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		signal(SIGTERM, SIG_DFL);
		if (atomic_install_signal_cleanup() < 0 ||
		    atomic_open(&a, f->dfd, "g", 0600, ATOMIC_SYNC_NONE) < 0)
			_exit(1);
		raise(SIGTERM);
		_exit(2);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGTERM);
	listing(f->dfd, ls, sizeof(ls));
	assert_string_equal(ls, "");
}

static void test_parse_numbers(void **state)
{
	uint64_t u = 7;
	int64_t i = 7;

	(void)state;
	assert_int_equal(parse_u64("0", 10, UINT64_MAX, &u), 0);
	assert_int_equal(u, 0);
	assert_int_equal(parse_u64("18446744073709551615", 10, UINT64_MAX, &u), 0);
	assert_true(u == UINT64_MAX);
	assert_int_equal(parse_u64("18446744073709551616", 10, UINT64_MAX, &u), -ERANGE);
	assert_int_equal(parse_u64("256", 10, 255, &u), -ERANGE);
	assert_int_equal(parse_u64("9", 10, 3, &u), -ERANGE); /* one digit past max */
	assert_int_equal(parse_u64("0", 10, 0, &u), 0);
	assert_int_equal(parse_u64("755", 8, 07777, &u), 0);
	assert_int_equal(u, 0755);
	assert_int_equal(parse_u64("8", 8, 07777, &u), -EINVAL);
	assert_int_equal(parse_u64("ff", 16, 255, &u), 0);
	assert_int_equal(u, 255);
	u = 7;
	assert_int_equal(parse_u64("", 10, 9, &u), -EINVAL);
	assert_int_equal(parse_u64(" 1", 10, 9, &u), -EINVAL);
	assert_int_equal(parse_u64("1 ", 10, 9, &u), -EINVAL);
	assert_int_equal(parse_u64("-1", 10, 9, &u), -EINVAL);
	assert_int_equal(parse_u64("+1", 10, 9, &u), -EINVAL);
	assert_int_equal(u, 7); /* untouched on failure */
	assert_int_equal(parse_i64("-1", -1, 5, &i), 0);
	assert_int_equal(i, -1);
	assert_int_equal(parse_i64("-9223372036854775808", INT64_MIN, INT64_MAX, &i), 0);
	assert_true(i == INT64_MIN);
	assert_int_equal(parse_i64("9223372036854775807", INT64_MIN, INT64_MAX, &i), 0);
	assert_true(i == INT64_MAX);
	assert_int_equal(parse_i64("9223372036854775808", INT64_MIN, INT64_MAX, &i), -ERANGE);
	assert_int_equal(parse_i64("-2", -1, 5, &i), -ERANGE);
	assert_int_equal(parse_i64("6", -1, 5, &i), -ERANGE);
	assert_int_equal(parse_i64("-", -1, 5, &i), -EINVAL);
	assert_int_equal(parse_i64("--1", -5, 5, &i), -EINVAL);
}

static void test_state_reader(void **state)
{
	char text[] = "# comment\n\na\tb\tc\n1\tx\n";
	struct state_reader sr;
	struct buf err = BUF_INIT;
	char *line = NULL, *fields[4];
	uint64_t v;
	size_t n;

	(void)state;
	state_reader_init(&sr, "inventory.d/6b", "remove the file", text, strlen(text), &err);
	assert_int_equal(state_next_line(&sr, &line), 1);
	assert_int_equal(sr.line, 3);
	assert_int_equal(state_split(&sr, line, '\t', 3, 3, fields, &n, "three fields"), 0);
	assert_string_equal(fields[2], "c");
	assert_int_equal(state_next_line(&sr, &line), 1);
	assert_int_equal(state_split(&sr, line, '\t', 2, 2, fields, &n, "two fields"), 0);
	assert_int_equal(state_u64(&sr, "count", fields[0], 10, 9, &v), 0);
	assert_int_equal(state_u64(&sr, "inode", fields[1], 10, UINT64_MAX, &v), -EINVAL);
	assert_string_equal(buf_str(&err), "inventory.d/6b:4: bad inode \"x\": expected a decimal "
					   "number; remove the file");
	assert_int_equal(state_next_line(&sr, &line), 0);
	buf_release(&err);
}

/* status_forget(): status.json removed through the state directory's fd; none is no error. */
static void test_status_forget(void **state)
{
	struct fixture *f = *state;
	char missing[128];

	assert_int_equal(mkdirat(f->dfd, "state", 0700), 0);
	assert_int_equal(mkdirat(f->dfd, "state/status.json", 0700), 0);
	snprintf(missing, sizeof(missing), "%s/state", f->dir);
	/* a directory in its place is an error, not something to remove */
	assert_int_equal(status_forget(missing), -EISDIR);
	assert_int_equal(unlinkat(f->dfd, "state/status.json", AT_REMOVEDIR), 0);
	assert_int_equal(harness_run("echo '{}' >%s/status.json", missing), 0);
	assert_int_equal(status_forget(missing), 0);
	assert_int_equal(faccessat(f->dfd, "state/status.json", F_OK, 0), -1);
	assert_int_equal(status_forget(missing), 0);
	assert_int_equal(unlinkat(f->dfd, "state", AT_REMOVEDIR), 0);
	assert_int_equal(status_forget(missing), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_commit_abort, setup, teardown),
		cmocka_unit_test_setup_teardown(test_each_step_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sync_policy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exclusive, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stale_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_signal, setup, teardown),
		cmocka_unit_test(test_parse_numbers),
		cmocka_unit_test(test_state_reader),
		cmocka_unit_test_setup_teardown(test_status_forget, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
