/*
 * torture_imgfs_ext4: ext4, ext4 with inline data and ext3 (block maps,
 * 1 KiB blocks) extracted from an MBR disk image built at test time with
 * sfdisk and mkfs.ext4 -d, compared file by file with the source tree and
 * with what `debugfs -R 'rdump / …'` extracts; then hostile images (bad
 * superblock, a file system larger than its partition, a directory loop,
 * truncation, bad names, limits) that must fail with a message and write
 * nothing outside the target directory.
 *
 * The comparison is tests/unit/compare_trees.py; it prints the differences.
 * mkfs.ext4 -d keeps whole seconds only, so the image builder puts the
 * nanoseconds of the source tree into the images with debugfs "sif".
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <grp.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

#include "buf.h"
#include "imgfs_ext4.h"

#define PART_SIZE   (131072ull * 512)
#define P1_START    (2048ull * 512)   /* ext4, 4 KiB blocks */
#define P2_START    (133120ull * 512) /* ext4 with inline_data */
#define P3_START    (264192ull * 512) /* ext3, 1 KiB blocks, block maps */
#define SPARSE_SIZE (100ull << 20)
#define COMPARE	    BRAMBLE_SOURCE_DIR "/tests/unit/compare_trees.py"

static char tmpdir[64];
static int tools_missing;

static const char build_script[] =
	"set -e\n"
	"export PATH=\"$PATH:/usr/sbin:/sbin\" LC_ALL=C.UTF-8\n"
	"cd \"$1\"\n"
	"mkdir -p tree/dir1 tree/dir2/sub tree/modes tree/names\n"
	": > tree/empty\n"
	"printf x > tree/one\n"
	"head -c 4095 /dev/urandom > tree/f4095\n"
	"head -c 4096 /dev/urandom > tree/f4096\n"
	"head -c 4097 /dev/urandom > tree/f4097\n"
	"head -c 3000000 /dev/urandom > tree/random3m\n"
	"printf 'hello inline\\n' > tree/small.txt\n"
	"truncate -s 100M tree/sparse\n"
	"printf start | dd of=tree/sparse conv=notrunc status=none\n"
	"printf middle | dd of=tree/sparse bs=1 seek=52428800 conv=notrunc status=none\n"
	"printf end | dd of=tree/sparse bs=1 seek=104857597 conv=notrunc status=none\n"
	"printf head > tree/tailhole && truncate -s 10M tree/tailhole\n"
	"ln -s small.txt tree/fastlink\n"
	"ln -s /this/target/is/longer/than/sixty/bytes/so/it/needs/a/data/block/of/its/own "
	"tree/slowlink\n"
	"ln -s /etc/passwd tree/abslink\n"
	"ln -s does-not-exist tree/dangling\n"
	"printf 'linked\\n' > tree/dir1/hl1\n"
	"ln tree/dir1/hl1 tree/dir2/hl2\n"
	"ln tree/dir1/hl1 tree/dir2/sub/hl3\n"
	"printf s > tree/modes/setuid && chmod 4755 tree/modes/setuid\n"
	"printf g > tree/modes/setgid && chmod 2755 tree/modes/setgid\n"
	"mkdir tree/modes/sticky && chmod 1777 tree/modes/sticky\n"
	"mkdir tree/modes/sgid-dir && chmod 2775 tree/modes/sgid-dir\n"
	"printf z > tree/modes/zero && chmod 0000 tree/modes/zero\n"
	"printf a > tree/modes/all && chmod 0777 tree/modes/all\n"
	"printf c > tree/modes/cap && chmod 0755 tree/modes/cap\n"
	"if command -v setcap >/dev/null; then setcap cap_net_raw+ep tree/modes/cap; else\n"
	"  python3 -c 'import os, sys; os.setxattr(sys.argv[1], \"security.capability\", "
	"bytes.fromhex(\"0100000200200000000000000000000000000000\"))' tree/modes/cap; fi\n"
	"python3 - tree <<'EOF'\n"
	"import os, struct, sys\n"
	"t = sys.argv[1]\n"
	"os.setxattr(t + '/small.txt', 'user.comment', b'hello xattr')\n"
	"os.setxattr(t + '/dir1', 'user.bin', bytes([0, 255, 16]))\n"
	"os.setxattr(t + '/dir1', 'trusted.note', b'trusted value')\n"
	"def acl(entries):\n"
	"    return struct.pack('<I', 2) + b''.join(struct.pack('<HHI', *e) for e in entries)\n"
	"U = 0xffffffff\n"
	"open(t + '/acl', 'w').write('acl\\n')\n"
	"os.setxattr(t + '/acl', 'system.posix_acl_access',\n"
	"            acl([(1, 6, U), (2, 4, 1234), (4, 4, U), (0x10, 4, U), (0x20, 0, U)]))\n"
	"os.mkdir(t + '/acldir')\n"
	"os.setxattr(t + '/acldir', 'system.posix_acl_default',\n"
	"            acl([(1, 7, U), (4, 5, U), (8, 5, 5678), (0x10, 5, U), (0x20, 5, U)]))\n"
	"EOF\n"
	"chown 1234:5678 tree/dir1/hl1\n"
	"chown 4321:8765 tree/dir2\n"
	"chown -h 1111:2222 tree/abslink\n"
	"chown 65534:65534 tree/modes/all\n"
	"printf u > 'tree/names/Grüße-日本語-ñ.txt'\n"
	"printf l > \"tree/names/$(printf 'n%.0s' $(seq 1 251)).txt\"\n"
	"printf q > 'tree/names/with space & star*'\n"
	"p=tree/deep; for i in $(seq 2 100); do p=$p/d$i; done; mkdir -p $p\n"
	"printf bottom > $p/leaf\n"
	"mkfifo tree/fifo\n"
	"if [ \"$(id -u)\" = 0 ]; then mknod tree/null c 1 3; mknod tree/blk b 7 200; fi\n"
	/* Distinct times with nanoseconds, children before their directory. */
	"python3 - tree <<'EOF'\n"
	"import os, sys\n"
	"paths = []\n"
	"for dirpath, dirnames, filenames in os.walk(sys.argv[1], topdown=False):\n"
	"    paths += [os.path.join(dirpath, n) for n in filenames + dirnames] + [dirpath]\n"
	"for i, p in enumerate(paths):\n"
	"    t = 1600000000 * 10**9 + i * 1000000007 + 123\n"
	"    os.utime(p, ns=(t - 5, t), follow_symlinks=False)\n"
	"EOF\n"
	"touch -h -d '2001-02-03 04:05:06.123456789 UTC' tree/one\n"
	"truncate -s 200M disk.img\n"
	"printf 'label: dos\\nstart=2048, size=131072, type=83\\n"
	"start=133120, size=131072, type=83\\nstart=264192, size=131072, type=83\\n' "
	"| sfdisk -q disk.img\n"
	"mkfs.ext4 -q -F -b 4096 -E offset=1048576 -d tree disk.img 65536k >/dev/null\n"
	"mkfs.ext4 -q -F -b 4096 -O inline_data -E offset=68157440 -d tree disk.img 65536k "
	">/dev/null\n"
	/* mkfs.ext4 1.47.0 -O inline_data cuts a file that ends in a hole to its last block. */
	"debugfs -w -R 'sif /tailhole size 10485760' 'disk.img?offset=68157440' >/dev/null 2>&1\n"
	"mkfs.ext4 -q -F -t ext3 -b 1024 -E offset=135266304 -d tree disk.img 65536k >/dev/null\n"
	"python3 \"$2\" --debugfs-times tree > times.cmd\n"
	"for off in 1048576 68157440 135266304; do\n"
	"  debugfs -w -f times.cmd \"disk.img?offset=$off\" >/dev/null 2>&1\n"
	"done\n"
	/* Small images whose directory entries the tests patch. */
	"mkdir -p names\n"
	"for n in slashnameXYZ zz dupA dupB keep; do printf data > names/$n; done\n"
	"head -c 65536 /dev/urandom > names/blob && mkdir names/sub\n"
	"mkfs.ext4 -q -F -b 4096 -O ^metadata_csum -d names names.img 8M >/dev/null\n"
	"mkfs.ext4 -q -F -b 4096 -d names names-csum.img 8M >/dev/null\n"
	"mkfs.ext4 -q -F -t ext3 -b 1024 -d names names3.img 8M >/dev/null\n";

/* Write the image builder into the temp dir and run it there. */
static int build_images(void)
{
	return harness_script(tmpdir, build_script, COMPARE);
}

static int setup(void **state)
{
	(void)state;
	if (harness_run(
		    "for t in sfdisk mkfs.ext4 debugfs python3; do PATH=\"$PATH:/usr/sbin:/sbin\" "
		    "command -v $t >/dev/null || exit 1; done") != 0) {
		tools_missing = 1;
		return 0;
	}
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/torture_imgfs_ext4.XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	return build_images() == 0 ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	if (tmpdir[0] != '\0')
		(void)harness_run("chmod -R u+rwx %s/jail 2>/dev/null; rm -rf %s", tmpdir, tmpdir);
	return 0;
}

#define SKIP_WITHOUT_TOOLS()                                                           \
	do {                                                                           \
		if (tools_missing)                                                     \
			HARNESS_SKIP("sfdisk, mkfs.ext4, debugfs or python3 missing"); \
	} while (0)

static const struct imgfs_ext4_limits big_limits = {.max_bytes = 1ull << 30};

/* Extract the file system at off/size of image img into a fresh tmpdir/out. */
static int extract(const char *img, uint64_t off, uint64_t size,
		   const struct imgfs_ext4_limits *lim, const char *out,
		   struct imgfs_ext4_stats *stats, struct buf *err)
{
	int img_fd, dir_fd, r;

	assert_int_equal(
		harness_run("chmod -R u+rwx %s/%s 2>/dev/null; rm -rf %s/%s && mkdir -p %s/%s",
			    tmpdir, out, tmpdir, out, tmpdir, out),
		0);
	img_fd = harness_open(tmpdir, img, O_RDONLY);
	dir_fd = harness_open(tmpdir, out, O_RDONLY | O_DIRECTORY);
	buf_truncate(err, 0);
	r = imgfs_ext4_extract(img_fd, off, size, dir_fd, lim, stats, err);
	close(dir_fd);
	close(img_fd);
	return r;
}

/* tmpdir/jail must hold nothing but the target directory "out". */
static void assert_jail_clean(void)
{
	struct buf path = BUF_INIT;
	struct dirent *de;
	DIR *d;

	assert_int_equal(buf_printf(&path, "%s/jail", tmpdir), 0);
	d = opendir(buf_str(&path));
	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0 &&
		    strcmp(de->d_name, "out") != 0)
			fail_msg("%s appeared outside the target directory", de->d_name);
	}
	closedir(d);
	buf_release(&path);
}

/* Extract a hostile image into jail/out: it must fail with a message naming what. */
static void expect_failure(const char *img, uint64_t off, uint64_t size,
			   const struct imgfs_ext4_limits *lim, int want, const char *what)
{
	struct buf err = BUF_INIT;
	int r;

	r = extract(img, off, size, lim, "jail/out", NULL, &err);
	print_message("%s: %d %s\n", img, r, buf_str(&err));
	if (want != 0)
		assert_int_equal(r, want);
	else
		assert_true(r < 0);
	assert_true(strncmp(buf_str(&err), "ext4: /", 7) == 0);
	if (what != NULL)
		assert_non_null(strstr(buf_str(&err), what));
	assert_jail_clean();
	buf_release(&err);
}

static void copy_img(const char *from, const char *to)
{
	assert_int_equal(harness_run("cp --sparse=always %s/%s %s/%s", tmpdir, from, tmpdir, to),
			 0);
}

static void patch(const char *img, uint64_t off, const void *data, size_t len)
{
	int fd = harness_open(tmpdir, img, O_WRONLY);

	assert_int_equal(pwrite(fd, data, len, (off_t)off), (ssize_t)len);
	close(fd);
}

static void assert_compare(const char *opts, const char *expected, const char *actual)
{
	assert_int_equal(harness_run("python3 %s %s %s/%s %s/%s", COMPARE, opts, tmpdir, expected,
				     tmpdir, actual),
			 0);
}

/* The checks that do not go through the comparison script. */
static void check_details(const char *out)
{
	struct buf path = BUF_INIT;
	char cap[64];
	struct stat st;
	int dfd;

	dfd = harness_open(tmpdir, out, O_RDONLY | O_DIRECTORY);
	assert_int_equal(fstatat(dfd, "sparse", &st, AT_SYMLINK_NOFOLLOW), 0);
	assert_int_equal(st.st_size, SPARSE_SIZE);
	assert_true(st.st_blocks * 512 < (1 << 20)); /* holes stayed holes */
	assert_int_equal(fstatat(dfd, "one", &st, AT_SYMLINK_NOFOLLOW), 0);
	assert_int_equal(st.st_mtim.tv_sec, 981173106); /* 2001-02-03 04:05:06 UTC */
	assert_int_equal(st.st_mtim.tv_nsec, 123456789);
	assert_int_equal(fstatat(dfd, "fifo", &st, AT_SYMLINK_NOFOLLOW), 0);
	assert_true(S_ISFIFO(st.st_mode));
	assert_int_equal(fstatat(dfd, "modes/setuid", &st, AT_SYMLINK_NOFOLLOW), 0);
	assert_int_equal(st.st_mode & 07777, 04755);
	if (geteuid() == 0) {
		assert_int_equal(fstatat(dfd, "null", &st, AT_SYMLINK_NOFOLLOW), 0);
		assert_true(S_ISCHR(st.st_mode));
		assert_int_equal(st.st_rdev, makedev(1, 3));
		assert_int_equal(fstatat(dfd, "blk", &st, AT_SYMLINK_NOFOLLOW), 0);
		assert_true(S_ISBLK(st.st_mode));
		assert_int_equal(st.st_rdev, makedev(7, 200));
		assert_int_equal(buf_printf(&path, "%s/%s/modes/cap", tmpdir, out), 0);
		assert_true(lgetxattr(buf_str(&path), "security.capability", cap, sizeof(cap)) >=
			    20);
	}
	close(dfd);
	buf_release(&path);
}

/* Extract one partition and compare it with the source tree and with debugfs. */
static void check_partition(uint64_t off, const char *out, const char *ref)
{
	struct imgfs_ext4_stats st = {0}, again = {0};
	struct buf err = BUF_INIT;

	assert_int_equal(extract("disk.img", off, PART_SIZE, &big_limits, out, &st, &err), 0);
	assert_string_equal(buf_str(&err), "");
	check_details(out);
	assert_compare("--ignore lost+found", "tree", out);

	/*
	 * debugfs rdump keeps neither hard links, xattrs, special files, setuid,
	 * setgid and sticky bits, nanoseconds, nor the owner and times of
	 * symlinks; it writes inline-data files as their whole 60-byte area.
	 */
	assert_int_equal(
		harness_run("mkdir %s/%s && debugfs -R 'rdump / %s/%s' '%s/disk.img?offset=%llu' "
			    ">/dev/null 2>&1",
			    tmpdir, ref, tmpdir, ref, tmpdir, (unsigned long long)off),
		0);
	assert_compare("--no-root --skip-special --mode-mask 0777 --allow-padded 60 "
		       "--fields type,mode,uid,gid,size,digest,target,mtime "
		       "--symlink-fields type,target",
		       ref, out);

	assert_int_equal(st.symlinks, 4);
	assert_int_equal(st.hardlinks, 2);
	assert_true(st.dirs >= 100);
	assert_true(st.xattrs >= 6);
	assert_true(st.bytes >= SPARSE_SIZE + 3000000);
	assert_int_equal(st.devices_skipped, 0);

	/* A second extraction in the same process gives the same result. */
	assert_int_equal(extract("disk.img", off, PART_SIZE, &big_limits, "again", &again, &err),
			 0);
	assert_memory_equal(&st, &again, sizeof(st));
	buf_release(&err);
}

static void test_ext4_tree(void **state)
{
	(void)state;
	SKIP_WITHOUT_TOOLS();
	check_partition(P1_START, "out1", "ref1");
}

static void test_ext4_inline_data(void **state)
{
	(void)state;
	SKIP_WITHOUT_TOOLS();
	/* The image does hold inline files, or this test would prove nothing. */
	assert_int_equal(
		harness_run("debugfs -R 'stat /small.txt' '%s/disk.img?offset=%llu' 2>/dev/null "
			    "| grep -q 'Flags: 0x10000000'",
			    tmpdir, (unsigned long long)P2_START),
		0);
	check_partition(P2_START, "out2", "ref2");
}

static void test_ext3_block_maps(void **state)
{
	(void)state;
	SKIP_WITHOUT_TOOLS();
	assert_int_equal(
		harness_run("debugfs -R 'stat /random3m' '%s/disk.img?offset=%llu' 2>/dev/null "
			    "| grep -q '(DIND)'",
			    tmpdir, (unsigned long long)P3_START),
		0);
	check_partition(P3_START, "out3", "ref3");
}

static void test_bad_superblock(void **state)
{
	const uint8_t junk[2] = {0x12, 0x34}, feature[4] = {0, 0, 0, 0x80};

	(void)state;
	SKIP_WITHOUT_TOOLS();
	copy_img("disk.img", "bad.img");
	patch("bad.img", P1_START + 1024 + 56, junk, sizeof(junk)); /* s_magic */
	expect_failure("bad.img", P1_START, PART_SIZE, &big_limits, -EINVAL, "magic");

	copy_img("disk.img", "bad.img");
	patch("bad.img", P1_START + 1024 + 0x60, feature, sizeof(feature)); /* s_feature_incompat */
	expect_failure("bad.img", P1_START, PART_SIZE, &big_limits, -EINVAL,
		       "unsupported incompatible features 0x80000000");

	/* Not ext at all: the FAT-less MBR sector area. */
	expect_failure("disk.img", 0, P1_START, &big_limits, -EINVAL, "magic");
}

static void test_larger_than_partition(void **state)
{
	(void)state;
	SKIP_WITHOUT_TOOLS();
	/* The caller's partition is smaller than the file system. */
	expect_failure("disk.img", P1_START, PART_SIZE / 2, &big_limits, -EINVAL,
		       "extends past the end of the partition");

	/* The superblock claims more blocks than the partition holds. */
	copy_img("disk.img", "bad.img");
	assert_int_equal(
		harness_run("debugfs -w -R 'ssv blocks_count 16484' '%s/bad.img?offset=%llu' "
			    ">/dev/null 2>&1",
			    tmpdir, (unsigned long long)P1_START),
		0);
	expect_failure("bad.img", P1_START, PART_SIZE, &big_limits, -EINVAL,
		       "extends past the end of the partition");
}

static void test_directory_loop(void **state)
{
	(void)state;
	SKIP_WITHOUT_TOOLS();
	copy_img("disk.img", "bad.img");
	assert_int_equal(
		harness_run("debugfs -w -R 'link /dir2 /dir2/sub/loop' '%s/bad.img?offset=%llu' "
			    ">/dev/null 2>&1",
			    tmpdir, (unsigned long long)P1_START),
		0);
	expect_failure("bad.img", P1_START, PART_SIZE, &big_limits, -EINVAL, "directory loop");

	/* A link to the root from below it. */
	copy_img("disk.img", "bad.img");
	assert_int_equal(harness_run("debugfs -w -R 'link / /dir1/up' '%s/bad.img?offset=%llu' "
				     ">/dev/null 2>&1",
				     tmpdir, (unsigned long long)P1_START),
			 0);
	expect_failure("bad.img", P1_START, PART_SIZE, &big_limits, -EINVAL, "directory loop");
}

static void test_limits(void **state)
{
	struct imgfs_ext4_limits lim = {.max_bytes = 1000};

	(void)state;
	SKIP_WITHOUT_TOOLS();
	expect_failure("disk.img", P1_START, PART_SIZE, &lim, -EFBIG, "limit of 1000 bytes");

	lim = (struct imgfs_ext4_limits){.max_bytes = 1ull << 30, .max_depth = 50};
	expect_failure("disk.img", P1_START, PART_SIZE, &lim, -ELOOP,
		       "/deep/d2/d3/d4/d5/d6/d7/d8/d9/d10/");

	lim = (struct imgfs_ext4_limits){.max_bytes = 1ull << 30, .max_entries = 10};
	expect_failure("disk.img", P1_START, PART_SIZE, &lim, -E2BIG, "more than 10 entries");
}

/* The output of a debugfs command on image img at offset off. */
static char *debugfs_out(const char *img, uint64_t off, const char *cmd)
{
	struct buf line = BUF_INIT;
	static char out[4096];
	size_t n;
	FILE *p;

	assert_int_equal(buf_printf(&line, "debugfs -R '%s' '%s/%s?offset=%llu' 2>/dev/null", cmd,
				    tmpdir, img, (unsigned long long)off),
			 0);
	p = popen(buf_str(&line), "r");
	assert_non_null(p);
	n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = '\0';
	pclose(p);
	buf_release(&line);
	return out;
}

/* The physical block of logical block lblk of path (debugfs bmap). */
static uint64_t bmap(const char *img, uint64_t off, const char *path, unsigned lblk)
{
	struct buf cmd = BUF_INIT;
	unsigned long long blk = 0;

	assert_int_equal(buf_printf(&cmd, "bmap %s %u", path, lblk), 0);
	assert_int_equal(sscanf(debugfs_out(img, off, buf_str(&cmd)), "%llu", &blk), 1);
	buf_release(&cmd);
	assert_true(blk > 0);
	return blk;
}

static void test_truncated(void **state)
{
	uint64_t cut;

	(void)state;
	SKIP_WITHOUT_TOOLS();
	/* Cut inside the data of a large file. */
	cut = P1_START + (bmap("disk.img", P1_START, "/random3m", 0) + 100) * 4096;
	copy_img("disk.img", "trunc.img");
	assert_int_equal(
		harness_run("truncate -s %llu %s/trunc.img", (unsigned long long)cut, tmpdir), 0);
	expect_failure("trunc.img", P1_START, PART_SIZE, &big_limits, -EINVAL, "truncated");

	/* Cut inside the metadata. */
	assert_int_equal(harness_run("truncate -s %llu %s/trunc.img",
				     (unsigned long long)(P1_START + 64 * 1024), tmpdir),
			 0);
	expect_failure("trunc.img", P1_START, PART_SIZE, &big_limits, -EINVAL, "truncated");
}

/* Overwrite the first occurrence of needle in a copy of img with repl. */
static void patch_name(const char *img, const char *copy, const void *needle, size_t len,
		       const void *repl)
{
	int fd = harness_open(tmpdir, img, O_RDONLY);
	uint64_t size = harness_fd_size(fd);
	uint8_t *data = malloc(size);
	const uint8_t *hit;

	assert_non_null(data);
	assert_int_equal(pread(fd, data, size, 0), (ssize_t)size);
	close(fd);
	hit = memmem(data, size, needle, len);
	assert_non_null(hit);
	copy_img(img, copy);
	patch(copy, (uint64_t)(hit - data), repl, len);
	free(data);
}

static void test_bad_names(void **state)
{
	static const uint8_t slash[] = "\x0c\x01slashnameXYZ", slash_bad[] = "\x0c\x01slash/ameXYZ";
	static const uint8_t dots[] = "\x02\x01zz", dots_bad[] = "\x02\x01..";
	static const uint8_t dup[] = "\x04\x01"
				     "dupA",
			     dup_bad[] = "\x04\x01"
					 "dupB";
	static const uint8_t nul[] = "\x04\x01keep", nul_bad[] = "\x04\x01k\0ep";
	struct buf err = BUF_INIT;

	(void)state;
	SKIP_WITHOUT_TOOLS();
	/* Unpatched, both images extract. */
	assert_int_equal(extract("names.img", 0, 8 << 20, &big_limits, "jail/out", NULL, &err), 0);
	assert_int_equal(extract("names-csum.img", 0, 8 << 20, &big_limits, "jail/out", NULL, &err),
			 0);

	patch_name("names.img", "bad.img", slash, sizeof(slash) - 1, slash_bad);
	expect_failure("bad.img", 0, 8 << 20, &big_limits, -EINVAL, "bad file name");
	patch_name("names.img", "bad.img", dots, sizeof(dots) - 1, dots_bad);
	expect_failure("bad.img", 0, 8 << 20, &big_limits, -EINVAL, "misplaced \"..\"");
	patch_name("names.img", "bad.img", dup, sizeof(dup) - 1, dup_bad);
	expect_failure("bad.img", 0, 8 << 20, &big_limits, -EINVAL, "duplicate name \"dupB\"");
	patch_name("names.img", "bad.img", nul, sizeof(nul) - 1, nul_bad);
	expect_failure("bad.img", 0, 8 << 20, &big_limits, -EINVAL, "bad file name");

	/* With metadata_csum the patched block no longer matches its checksum. */
	patch_name("names-csum.img", "bad.img", slash, sizeof(slash) - 1, slash_bad);
	expect_failure("bad.img", 0, 8 << 20, &big_limits, 0, NULL);
	buf_release(&err);
}

/* In a child that runs as nobody: extract P1 into out; 0 when as expected. */
static int extract_as_nobody(const char *out)
{
	struct imgfs_ext4_stats st = {0};
	struct buf path = BUF_INIT, err = BUF_INIT;
	int img_fd, dir_fd, r;

	if (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0)
		return 10;
	if (buf_printf(&path, "%s/disk.img", tmpdir) < 0)
		return 11;
	img_fd = open(buf_str(&path), O_RDONLY | O_CLOEXEC);
	buf_truncate(&path, 0);
	if (buf_printf(&path, "%s/%s", tmpdir, out) < 0)
		return 11;
	dir_fd = open(buf_str(&path), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (img_fd < 0 || dir_fd < 0)
		return 12;
	r = imgfs_ext4_extract(img_fd, P1_START, PART_SIZE, dir_fd, &big_limits, &st, &err);
	if (r < 0)
		fprintf(stderr, "as nobody: %s\n", buf_str(&err));
	if (r < 0)
		return 13;
	return st.devices_skipped == 2 && st.hardlinks == 2 ? 0 : 14;
}

/* Without privileges: no chown, no devices, no trusted.* or capabilities. */
static void test_unprivileged(void **state)
{
	struct buf path = BUF_INIT;
	struct stat st;
	int status = 0, dfd;
	pid_t pid;

	(void)state;
	SKIP_WITHOUT_TOOLS();
	if (geteuid() != 0)
		HARNESS_SKIP("needs root to become nobody");
	assert_int_equal(chmod(tmpdir, 0755), 0);
	assert_int_equal(
		harness_run("rm -rf %s/nobody && mkdir %s/nobody && chown 65534:65534 %s/nobody",
			    tmpdir, tmpdir, tmpdir),
		0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(extract_as_nobody("nobody"));
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);

	dfd = harness_open(tmpdir, "nobody", O_RDONLY | O_DIRECTORY);
	assert_int_equal(fstatat(dfd, "null", &st, AT_SYMLINK_NOFOLLOW), -1);
	assert_int_equal(fstatat(dfd, "fifo", &st, AT_SYMLINK_NOFOLLOW), 0);
	assert_true(S_ISFIFO(st.st_mode));
	assert_int_equal(fstatat(dfd, "dir1/hl1", &st, AT_SYMLINK_NOFOLLOW), 0);
	assert_int_equal(st.st_uid, 65534);
	assert_int_equal(st.st_nlink, 3);
	assert_int_equal(fstatat(dfd, "modes/setuid", &st, AT_SYMLINK_NOFOLLOW), 0);
	assert_int_equal(st.st_mode & 07777, 04755);
	assert_int_equal(fstatat(dfd, "one", &st, AT_SYMLINK_NOFOLLOW), 0);
	assert_int_equal(st.st_mtim.tv_nsec, 123456789);
	assert_int_equal(buf_printf(&path, "%s/nobody/small.txt", tmpdir), 0);
	assert_int_equal(lgetxattr(buf_str(&path), "user.comment", NULL, 0), 11);
	buf_truncate(&path, 0);
	assert_int_equal(buf_printf(&path, "%s/nobody/modes/cap", tmpdir), 0);
	assert_int_equal(lgetxattr(buf_str(&path), "security.capability", NULL, 0), -1);
	close(dfd);
	buf_release(&path);
}

static void put_le32(uint8_t *p, uint32_t v)
{
	for (unsigned k = 0; k < 4; k++)
		p[k] = (uint8_t)(v >> (8 * k));
}

/* Overwrite the first n words of i_block of path in image copy (no checksums). */
static void patch_iblock(const char *copy, unsigned bs, const char *path, const uint32_t *w,
			 size_t n)
{
	unsigned long long blk = 0, off = 0;
	struct buf cmd = BUF_INIT;
	uint8_t bytes[60];
	const char *at;

	assert_true(n <= 15);
	assert_int_equal(buf_printf(&cmd, "imap %s", path), 0);
	at = strstr(debugfs_out(copy, 0, buf_str(&cmd)), "located at block ");
	assert_non_null(at);
	assert_int_equal(sscanf(at, "located at block %llu, offset 0x%llx", &blk, &off), 2);
	for (size_t i = 0; i < n; i++)
		put_le32(bytes + 4 * i, w[i]);
	patch(copy, blk * bs + off + 40, bytes, 4 * n); /* i_block is at byte 40 */
	buf_release(&cmd);
}

/* An extent tree block: header, then entries index entries to child (or none). */
static void put_extent_block(const char *copy, uint64_t blk, unsigned depth, unsigned entries,
			     uint32_t child)
{
	static uint8_t b[4096];

	memset(b, 0, sizeof(b));
	put_le32(b, 0xf30au | entries << 16);
	put_le32(b + 4, 340u | depth << 16);
	for (unsigned i = 0; i < entries; i++) {
		put_le32(b + 12 + 12 * i, i);
		put_le32(b + 16 + 12 * i, child);
	}
	patch(copy, blk * 4096, b, sizeof(b));
}

static void test_bad_extents(void **state)
{
	uint32_t keep, b[4];

	(void)state;
	SKIP_WITHOUT_TOOLS();
	keep = (uint32_t)bmap("names.img", 0, "/keep", 0);
	for (unsigned k = 0; k < 4; k++)
		b[k] = (uint32_t)bmap("names.img", 0, "/blob", k);

	/* The data block lies outside the file system. */
	copy_img("names.img", "bad.img");
	patch_iblock("bad.img", 4096, "/keep",
		     (const uint32_t[]){0x0001f30a, 4, 0, 0, 1, 0x7fffffff}, 6);
	expect_failure("bad.img", 0, 8 << 20, &big_limits, -EINVAL, "outside the file system");

	/* Two extents map logical block 0. */
	copy_img("names.img", "bad.img");
	patch_iblock("bad.img", 4096, "/keep",
		     (const uint32_t[]){0x0002f30a, 4, 0, 0, 1, keep, 0, 1, keep}, 9);
	expect_failure("bad.img", 0, 8 << 20, &big_limits, -EINVAL, "extents overlap");

	/* Deeper than ext4 allows. */
	copy_img("names.img", "bad.img");
	patch_iblock("bad.img", 4096, "/keep",
		     (const uint32_t[]){0x0001f30a, 0x00060004, 0, 0, b[0], 0}, 6);
	expect_failure("bad.img", 0, 8 << 20, &big_limits, -EINVAL, NULL);

	/*
	 * Four index levels, each of 340 entries that all point at the next
	 * level's block, down to a leaf holding one empty extent: 4 * 340^3
	 * leaves to visit in 5 blocks.  Without a bound this runs for many
	 * minutes.
	 */
	copy_img("names.img", "bad.img");
	for (unsigned k = 0; k < 3; k++)
		put_extent_block("bad.img", b[k], 3 - k, 340, b[k + 1]);
	put_extent_block("bad.img", b[3], 0, 1, 0);
	patch_iblock("bad.img", 4096, "/keep",
		     (const uint32_t[]){0x0004f30a, 0x00040004, 0, 0, b[0], 0, 1, b[0], 0, 2, b[0],
					0, 3, b[0], 0},
		     15);
	expect_failure("bad.img", 0, 8 << 20, &big_limits, -EINVAL, "empty extent");
}

/* A 1 KiB block of 256 block pointers, all to child. */
static void put_pointer_block(const char *copy, uint64_t blk, uint32_t child)
{
	uint8_t b[1024];

	for (unsigned i = 0; i < 256; i++)
		put_le32(b + 4 * i, child);
	patch(copy, blk * 1024, b, sizeof(b));
}

/*
 * A block-mapped directory whose triple-indirect tree fans out to 256^3
 * copies of one empty directory block: 16 million blocks for libext2fs to
 * read (a billion with 4 KiB blocks), unless the extraction stops first.
 */
static void test_bad_block_map(void **state)
{
	uint32_t b[4], w[15] = {0};
	uint8_t empty[1024] = {0};

	(void)state;
	SKIP_WITHOUT_TOOLS();
	for (unsigned k = 0; k < 4; k++)
		b[k] = (uint32_t)bmap("names3.img", 0, "/blob", k);
	copy_img("names3.img", "bad.img");
	for (unsigned k = 0; k < 3; k++)
		put_pointer_block("bad.img", b[k], b[k + 1]);
	empty[4] = 0x00; /* rec_len 1024: one unused entry */
	empty[5] = 0x04;
	patch("bad.img", (uint64_t)b[3] * 1024, empty, sizeof(empty));
	w[14] = b[0];
	patch_iblock("bad.img", 1024, "/sub", w, 15);
	expect_failure("bad.img", 0, 8 << 20, &big_limits, -EINVAL,
		       "more extent or block-map entries than the file system can hold");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ext4_tree),
		cmocka_unit_test(test_ext4_inline_data),
		cmocka_unit_test(test_ext3_block_maps),
		cmocka_unit_test(test_unprivileged),
		cmocka_unit_test(test_bad_superblock),
		cmocka_unit_test(test_larger_than_partition),
		cmocka_unit_test(test_directory_loop),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_bad_names),
		cmocka_unit_test(test_bad_extents),
		cmocka_unit_test(test_bad_block_map),
	};

	return harness_exit(cmocka_run_group_tests(tests, setup, teardown));
}
