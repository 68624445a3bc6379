/*
 * torture_common: the buffer, the hashes and the file system helpers that
 * keep bramble inside its roots.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "array.h"
#include "buf.h"
#include "fsutil.h"
#include "hash.h"
#include "strpool.h"

static void test_buf_limits(void **state)
{
	struct buf b = BUF_INIT;
	char *s;
	size_t len;

	(void)state;
	assert_string_equal(buf_str(&b), "");
	buf_set_max(&b, 8);
	assert_int_equal(buf_adds(&b, "1234"), 0);
	assert_int_equal(buf_printf(&b, "%d", 5678), 0);
	assert_int_equal(buf_addch(&b, 'x'), -E2BIG);
	assert_string_equal(buf_str(&b), "12345678");
	assert_int_equal(buf_printf(&b, "%s", "y"), -E2BIG);
	assert_int_equal(b.len, 8);
	buf_truncate(&b, 2);
	assert_string_equal(buf_str(&b), "12");
	s = buf_detach(&b, &len);
	assert_string_equal(s, "12");
	assert_int_equal(len, 2);
	assert_null(b.data);
	free(s);
	buf_release(&b);
}

static void test_sha256(void **state)
{
	char hex[SHA256_HEX_LEN + 1];

	(void)state;
	assert_int_equal(sha256_hex("abc", 3, hex), 0);
	assert_string_equal(hex,
			    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	assert_int_not_equal(fnv1a64("a", 1), fnv1a64("b", 1));
}

/* One copy of each string, however many times it is asked for, across growth. */
static void test_strpool(void **state)
{
	struct strpool pool = STRPOOL_INIT;
	const char *first[1000];
	char name[32];
	size_t i;

	(void)state;
	for (i = 0; i < 1000; i++) {
		snprintf(name, sizeof(name), "node-%zu", i);
		first[i] = strpool_get(&pool, name);
		assert_non_null(first[i]);
		assert_string_equal(first[i], name);
		assert_ptr_not_equal(first[i], name);
	}
	assert_int_equal(pool.n, 1000);
	for (i = 0; i < 1000; i++) {
		snprintf(name, sizeof(name), "node-%zu", i);
		assert_ptr_equal(strpool_get(&pool, name), first[i]);
	}
	assert_int_equal(pool.n, 1000);
	assert_true(pool.cap >= 2000);
	assert_string_equal(strpool_get(&pool, ""), "");
	assert_ptr_equal(strpool_get(&pool, ""), strpool_get(&pool, ""));
	strpool_release(&pool);
	assert_null(pool.slot);
	assert_int_equal(pool.n, 0);
	strpool_release(&pool);
}

/* A digest kept as bytes: read from and written as its text exactly. */
static void test_sha256_bytes(void **state)
{
	static const char *const bad[] = {
		"ab",
		"-", /* short; "-" is the inventory's, not a digest */
		"BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD",
		"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad0",
		"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015a",
		"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ag",
		"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015 d",
	};
	char hex[SHA256_HEX_LEN + 1], back[SHA256_HEX_LEN + 1];
	struct sha256 a, b, none;
	size_t i;

	(void)state;
	assert_int_equal(sha256_hex("abc", 3, hex), 0);
	assert_int_equal(sha256_from_hex(hex, &a), 0);
	assert_true(a.set);
	assert_int_equal(a.b[0], 0xba);
	assert_int_equal(a.b[31], 0xad);
	sha256_to_hex(&a, back);
	assert_string_equal(back, hex);
	assert_int_equal(sha256_sum("abc", 3, &b), 0);
	assert_true(sha256_equal(&a, &b));
	assert_int_equal(sha256_sum("abd", 3, &b), 0);
	assert_false(sha256_equal(&a, &b));
	assert_int_equal(sha256_from_hex("", &none), 0);
	assert_false(none.set);
	sha256_to_hex(&none, back);
	assert_string_equal(back, "");
	assert_false(sha256_equal(&a, &none));
	assert_true(sha256_equal(&none, &none));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(sha256_from_hex(bad[i], &b), -EINVAL);
		assert_false(b.set);
	}
}

static char tmpdir[64];

static int setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/torture_common.XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	return 0;
}

static int teardown(void **state)
{
	int fd = open("/tmp", O_RDONLY | O_DIRECTORY);

	(void)state;
	assert_int_equal(rm_rf_at(fd, tmpdir + 5), 0);
	close(fd);
	return 0;
}

static void test_dir_open_beneath(void **state)
{
	char p[256], outside[128];
	int root, fd = -1;
	const char *name = NULL;

	(void)state;
	root = open(tmpdir, O_RDONLY | O_DIRECTORY);
	assert_int_equal(dir_open_beneath(root, "a/b/c", true, 0755, &fd), 0);
	close(fd);
	snprintf(p, sizeof(p), "%s/a/b/c", tmpdir);
	assert_int_equal(access(p, F_OK), 0);
	assert_int_equal(dir_open_beneath(root, "a/../x", true, 0755, &fd), -EINVAL);
	/* A symlinked directory is never followed. */
	snprintf(outside, sizeof(outside), "%s-outside", tmpdir);
	mkdir(outside, 0755);
	snprintf(p, sizeof(p), "%s/link", tmpdir);
	assert_int_equal(symlink(outside, p), 0);
	assert_true(dir_open_beneath(root, "link/sub", true, 0755, &fd) < 0);
	snprintf(p, sizeof(p), "%s/sub", outside);
	assert_int_not_equal(access(p, F_OK), 0);
	rmdir(outside);
	assert_int_equal(parent_open_beneath(root, "a/b/file", false, &fd, &name), 0);
	assert_string_equal(name, "file");
	close(fd);
	close(root);
}

static void test_file_read_limits(void **state)
{
	char p[128], *data = NULL;
	size_t len = 0;
	FILE *f;
	int root;

	(void)state;
	snprintf(p, sizeof(p), "%s/f", tmpdir);
	f = fopen(p, "w");
	fputs("0123456789", f);
	fclose(f);
	root = open(tmpdir, O_RDONLY | O_DIRECTORY);
	assert_int_equal(file_read_at(root, "f", 10, &data, &len), 0);
	assert_int_equal(len, 10);
	assert_string_equal(data, "0123456789");
	free(data);
	assert_int_equal(file_read_at(root, "f", 9, &data, &len), -EFBIG);
	assert_int_equal(file_read_at(root, "missing", 9, &data, &len), -ENOENT);
	/* A symlink as the last component is not followed either. */
	snprintf(p, sizeof(p), "%s/l", tmpdir);
	assert_int_equal(symlink("/etc/passwd", p), 0);
	assert_true(file_read_at(root, "l", 1 << 20, &data, &len) < 0);
	close(root);
}

/* A FIFO (or any non-regular file) is refused at once, never read from. */
static void test_file_read_fifo(void **state)
{
	char p[128], *data = NULL;
	size_t len = 0;
	int root;

	(void)state;
	snprintf(p, sizeof(p), "%s/fifo", tmpdir);
	assert_int_equal(mkfifo(p, 0600), 0);
	alarm(5); /* the old reader blocked in open() forever */
	assert_int_equal(file_read(p, 1 << 20, &data, &len), -EINVAL);
	root = open(tmpdir, O_RDONLY | O_DIRECTORY);
	assert_int_equal(file_read_at(root, "fifo", 1 << 20, &data, &len), -EINVAL);
	assert_int_equal(file_read_beneath(tmpdir, p, 1 << 20, &data, &len), -EINVAL);
	assert_int_equal(file_read(tmpdir, 1 << 20, &data, &len), -EINVAL);
	assert_int_equal(file_read("/dev/zero", 1 << 20, &data, &len), -EINVAL);
	assert_int_equal(file_check_regular(p), -EINVAL);
	assert_int_equal(file_check_regular("/dev/zero"), -EINVAL);
	assert_int_equal(file_check_regular("/etc/passwd"), 0);
	alarm(0);
	assert_string_equal(file_read_strerror(-EINVAL), "not a regular file");
	close(root);
}

/* file_read_beneath follows symlinks inside its directory, none out of it. */
static void test_file_read_beneath(void **state)
{
	char dir[128], p[192], *data = NULL;
	size_t len = 0;
	FILE *f;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/secrets", tmpdir);
	assert_int_equal(mkdir(dir, 0700), 0);
	snprintf(p, sizeof(p), "%s/..data", dir);
	assert_int_equal(mkdir(p, 0700), 0);
	snprintf(p, sizeof(p), "%s/..data/psk", dir);
	f = fopen(p, "w");
	fputs("hunter22", f);
	fclose(f);
	snprintf(p, sizeof(p), "%s/psk", dir); /* the Kubernetes Secret volume layout */
	assert_int_equal(symlink("..data/psk", p), 0);
	assert_int_equal(file_read_beneath(dir, p, 100, &data, &len), 0);
	assert_string_equal(data, "hunter22");
	free(data);
	assert_int_equal(file_read_beneath(dir, "psk", 100, &data, &len), 0);
	free(data);
	snprintf(p, sizeof(p), "%s/out", dir);
	assert_int_equal(symlink("/etc/passwd", p), 0);
	assert_int_equal(file_read_beneath(dir, p, 1 << 20, &data, &len), -EXDEV);
	snprintf(p, sizeof(p), "%s/up", dir);
	assert_int_equal(symlink("../f", p), 0);
	assert_int_equal(file_read_beneath(dir, p, 1 << 20, &data, &len), -EXDEV);
	assert_int_equal(file_read_beneath(dir, "../f", 1 << 20, &data, &len), -EXDEV);
	assert_int_equal(file_read_beneath(dir, "/etc/passwd", 1 << 20, &data, &len), -EXDEV);
	snprintf(p, sizeof(p), "%s2/psk", dir); /* a sibling whose name starts the same */
	assert_int_equal(file_read_beneath(dir, p, 1 << 20, &data, &len), -EXDEV);
	assert_int_equal(file_read_beneath(dir, "missing", 1 << 20, &data, &len), -ENOENT);
}

/* Make a chain of depth directories "d" under fd, a file at every 100th level. */
static void make_chain(int fd, int depth)
{
	int i, next;

	fd = dup(fd);
	for (i = 0; i < depth; i++) {
		assert_int_equal(mkdirat(fd, "d", 0755), 0);
		if (i % 100 == 0) {
			int f = openat(fd, "f", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);

			assert_true(f >= 0);
			close(f);
			assert_int_equal(mkdirat(fd, "side", 0755), 0);
		}
		next = openat(fd, "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		assert_true(next >= 0);
		close(fd);
		fd = next;
	}
	assert_int_equal(symlinkat("/etc", fd, "link"), 0);
	close(fd);
}

/*
 * A 3,000-deep tree goes with 32 descriptors allowed (before: "Too many open
 * files" at the 30th level, and the tree stayed).
 */
static void test_rm_rf_deep(void **state)
{
	struct rlimit old, low;
	struct stat st;
	int root, r;

	(void)state;
	root = open(tmpdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(root >= 0);
	assert_int_equal(mkdirat(root, "top", 0755), 0);
	{
		int top = openat(root, "top", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		make_chain(top, 3000);
		close(top);
	}
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = old;
	low.rlim_cur = 32;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	r = rm_rf_at(root, "top");
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	assert_int_equal(r, 0);
	assert_int_equal(fstatat(root, "top", &st, AT_SYMLINK_NOFOLLOW), -1);
	assert_int_equal(errno, ENOENT);
	/* /etc, named by a symlink inside, is untouched. */
	assert_int_equal(stat("/etc/hostname", &st) == 0 || errno == ENOENT, 1);
	assert_int_equal(stat("/etc", &st), 0);
	close(root);
}

static void test_path_join(void **state)
{
	char *p;

	(void)state;
	p = path_join("/a", "b");
	assert_string_equal(p, "/a/b");
	free(p);
	p = path_join("/a/", "b");
	assert_string_equal(p, "/a/b");
	free(p);
}

/* array_grow: first, then doubling; on overflow NULL, and the array and capacity kept. */
static void test_array_grow(void **state)
{
	size_t cap = 0, i;
	int *v = NULL, *w;

	(void)state;
	for (i = 0; i < 100; i++) {
		if (i == cap) {
			w = array_grow(v, &cap, sizeof(*v), 4);
			assert_non_null(w);
			v = w;
		}
		v[i] = (int)i;
	}
	assert_int_equal(cap, 128);
	for (i = 0; i < 100; i++)
		assert_int_equal(v[i], (int)i);
	cap = SIZE_MAX / 2 + 1;
	assert_null(array_grow(v, &cap, sizeof(*v), 4));
	assert_true(cap == SIZE_MAX / 2 + 1);
	cap = SIZE_MAX / 4; /* doubled, times sizeof(int): past SIZE_MAX */
	assert_null(array_grow(v, &cap, sizeof(*v), 4));
	assert_true(cap == SIZE_MAX / 4);
	assert_int_equal(v[99], 99);
	free(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buf_limits),
		cmocka_unit_test(test_array_grow),
		cmocka_unit_test(test_sha256),
		cmocka_unit_test(test_sha256_bytes),
		cmocka_unit_test(test_strpool),
		cmocka_unit_test_setup_teardown(test_dir_open_beneath, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_read_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_read_fifo, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_read_beneath, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rm_rf_deep, setup, teardown),
		cmocka_unit_test(test_path_join),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
