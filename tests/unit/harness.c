#include "harness.h"

#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "buf.h"

unsigned harness_skipped;

int harness_exit(int failed)
{
	if (failed)
		return failed;
	if (harness_skipped)
		fprintf(stderr, "%u test(s) skipped\n", harness_skipped);
	return harness_skipped ? 77 : 0;
}

int harness_run(const char *fmt, ...)
{
	struct buf cmd = BUF_INIT;
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = buf_vprintf(&cmd, fmt, ap);
	va_end(ap);
	if (r == 0)
		r = system(buf_str(&cmd));
	buf_release(&cmd);
	return r;
}

int harness_script(const char *dir, const char *script, const char *extra)
{
	struct buf path = BUF_INIT;
	FILE *fp;
	int r = -1;

	if (buf_printf(&path, "%s/build.sh", dir) < 0)
		goto out;
	fp = fopen(buf_str(&path), "we");
	if (!fp)
		goto out;
	if (fputs(script, fp) < 0) {
		fclose(fp);
		goto out;
	}
	if (fclose(fp) != 0)
		goto out;
	r = harness_run("sh %s %s %s", buf_str(&path), dir, extra ? extra : "");
out:
	buf_release(&path);
	return r;
}

int harness_open(const char *dir, const char *name, int flags)
{
	struct buf path = BUF_INIT;
	int fd;

	assert_int_equal(buf_printf(&path, "%s/%s", dir, name), 0);
	fd = open(buf_str(&path), flags | O_CLOEXEC, 0600);
	buf_release(&path);
	assert_true(fd >= 0);
	return fd;
}

uint64_t harness_fd_size(int fd)
{
	struct stat st;

	assert_int_equal(fstat(fd, &st), 0);
	return (uint64_t)st.st_size;
}
