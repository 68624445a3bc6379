/*
 * torture_imgfs: partition tables and FAT extraction from disk images built
 * at test time with sfdisk, mkfs.vfat and mcopy, compared with what mcopy
 * extracts; then hostile images (partition past the end, looping cluster
 * chains, truncation, limits) that must fail with a message.
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
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

#include "buf.h"
#include "imgfs_fat.h"
#include "imgfs_part.h"

#define P1_START (2048ull * 512)
#define P1_SIZE	 (131072ull * 512)
#define P2_START (133120ull * 512)
#define P2_SIZE	 (65536ull * 512)
#define BIG_SIZE 307200

static char tmpdir[64];
static int tools_missing;

static const char build_script[] =
	"set -e\n"
	"export PATH=\"$PATH:/usr/sbin:/sbin\" MTOOLS_SKIP_CHECK=1 LC_ALL=C.UTF-8\n"
	"cd \"$1\"\n"
	"mkdir -p tree/a/b/c/d tree/overlays\n"
	"printf x > 'tree/a/b/c/d/deep file with a long name.txt'\n"
	"printf 'hallo\\n' > 'tree/überlänge-Datei.txt'\n"
	"printf 'dtparam=audio=on\\n' > tree/overlays/README\n"
	"printf 'console=serial0\\n' > tree/cmdline.txt\n"
	"touch -d '2021-03-04 05:06:08 UTC' tree/cmdline.txt\n"
	": > tree/empty\n"
	"awk 'BEGIN { for (i = 0; i < 307200 / 8; i++) printf \"%07d\\n\", i }' > tree/big.bin\n"
	"truncate -s 100M disk.img\n"
	"printf 'label: dos\\nstart=2048, size=131072, type=c\\n"
	"start=133120, size=65536, type=e\\n' | sfdisk -q disk.img\n"
	"mkfs.vfat -F 32 --offset 2048 disk.img 65536 >/dev/null 2>&1\n"
	"mkfs.vfat -F 16 --offset 133120 disk.img 32768 >/dev/null 2>&1\n"
	"mcopy -s -m -i disk.img@@1048576 tree/* ::/ 2>/dev/null\n"
	"mcopy -s -m -i disk.img@@68157440 tree/* ::/ 2>/dev/null\n"
	"mkdir ref32 ref16\n"
	"mcopy -s -n -i disk.img@@1048576 ::/ ref32/ 2>/dev/null\n"
	"mcopy -s -n -i disk.img@@68157440 ::/ ref16/ 2>/dev/null\n"
	"truncate -s 10M gpt.img\n"
	"printf 'label: gpt\\nstart=2048, size=4096, type=uefi\\n"
	"start=8192, size=8192, type=linux\\n' | sfdisk -q gpt.img\n";

/* Write the image builder into the temp dir and run it there. */
static int build_images(void)
{
	return harness_script(tmpdir, build_script, NULL);
}

static int setup(void **state)
{
	(void)state;
	if (harness_run("for t in sfdisk mkfs.vfat mcopy; do PATH=\"$PATH:/usr/sbin:/sbin\" "
			"command -v $t >/dev/null || exit 1; done") != 0) {
		tools_missing = 1;
		return 0;
	}
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/torture_imgfs.XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	return build_images() == 0 ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	if (tmpdir[0] != '\0')
		(void)harness_run("rm -rf %s", tmpdir);
	return 0;
}

#define SKIP_WITHOUT_TOOLS()                                                \
	do {                                                                \
		if (tools_missing)                                          \
			HARNESS_SKIP("sfdisk, mkfs.vfat or mcopy missing"); \
	} while (0)

static const struct imgfs_fat_limits big_limits = {1ull << 30, 0, 0};

/* Extract the FAT at off/size of image img into a fresh tmpdir/out. */
static int extract(const char *img, uint64_t off, uint64_t size, const struct imgfs_fat_limits *lim,
		   const char *out, struct buf *err)
{
	int img_fd, dir_fd, r;

	assert_int_equal(harness_run("rm -rf %s/%s && mkdir %s/%s", tmpdir, out, tmpdir, out), 0);
	img_fd = harness_open(tmpdir, img, O_RDONLY);
	dir_fd = harness_open(tmpdir, out, O_RDONLY | O_DIRECTORY);
	r = imgfs_fat_extract(img_fd, off, size, dir_fd, lim, err);
	close(dir_fd);
	close(img_fd);
	return r;
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

static void test_part_mbr(void **state)
{
	struct imgfs_table t;
	struct buf err = BUF_INIT;
	int fd;

	(void)state;
	SKIP_WITHOUT_TOOLS();
	fd = harness_open(tmpdir, "disk.img", O_RDONLY);
	assert_int_equal(imgfs_part_read(fd, harness_fd_size(fd), &t, &err), 0);
	close(fd);
	assert_int_equal(t.scheme, IMGFS_SCHEME_MBR);
	assert_int_equal(t.count, 2);
	assert_int_equal(t.parts[0].number, 1);
	assert_int_equal(t.parts[0].start, P1_START);
	assert_int_equal(t.parts[0].size, P1_SIZE);
	assert_int_equal(t.parts[0].mbr_type, 0x0c);
	assert_int_equal(t.parts[1].start, P2_START);
	assert_int_equal(t.parts[1].size, P2_SIZE);
	assert_int_equal(t.parts[1].mbr_type, 0x0e);
	assert_true(imgfs_part_is_fat(&t.parts[0]));
	assert_true(imgfs_part_is_fat(&t.parts[1]));
	buf_release(&err);
}

static void test_part_gpt(void **state)
{
	struct imgfs_table t;
	struct buf err = BUF_INIT;
	uint8_t junk = 0x5a;
	int fd;

	(void)state;
	SKIP_WITHOUT_TOOLS();
	fd = harness_open(tmpdir, "gpt.img", O_RDONLY);
	assert_int_equal(imgfs_part_read(fd, harness_fd_size(fd), &t, &err), 0);
	close(fd);
	assert_int_equal(t.scheme, IMGFS_SCHEME_GPT);
	assert_int_equal(t.count, 2);
	assert_int_equal(t.parts[0].start, 2048ull * 512);
	assert_int_equal(t.parts[0].size, 4096ull * 512);
	assert_true(imgfs_part_is_fat(&t.parts[0]));
	assert_int_equal(t.parts[1].start, 8192ull * 512);
	assert_int_equal(t.parts[1].size, 8192ull * 512);
	assert_false(imgfs_part_is_fat(&t.parts[1]));

	/* One flipped byte in the entry array breaks its CRC. */
	copy_img("gpt.img", "gpt-bad.img");
	patch("gpt-bad.img", 2 * 512 + 40, &junk, 1);
	fd = harness_open(tmpdir, "gpt-bad.img", O_RDONLY);
	assert_int_equal(imgfs_part_read(fd, harness_fd_size(fd), &t, &err), -EINVAL);
	close(fd);
	assert_non_null(strstr(buf_str(&err), "checksum"));
	assert_int_equal(t.count, 0);
	buf_release(&err);
}

/* Write a one-sector MBR with the given entries into a 1 MiB image and parse it. */
static int mbr_try(const uint32_t (*ent)[3], unsigned n, int sig, struct buf *err)
{
	uint8_t mbr[512] = {0};
	struct imgfs_table t;
	int fd, r;

	for (unsigned i = 0; i < n; i++) {
		uint8_t *e = mbr + 446 + 16 * i;

		e[4] = (uint8_t)ent[i][0];
		for (unsigned k = 0; k < 4; k++) {
			e[8 + k] = (uint8_t)(ent[i][1] >> (8 * k));
			e[12 + k] = (uint8_t)(ent[i][2] >> (8 * k));
		}
	}
	mbr[510] = sig ? 0x55 : 0;
	mbr[511] = 0xaa;
	assert_int_equal(harness_run("rm -f %s/h.img && truncate -s 1M %s/h.img", tmpdir, tmpdir),
			 0);
	patch("h.img", 0, mbr, sizeof(mbr));
	fd = harness_open(tmpdir, "h.img", O_RDONLY);
	buf_truncate(err, 0);
	r = imgfs_part_read(fd, harness_fd_size(fd), &t, err);
	close(fd);
	return r;
}

static void test_part_hostile(void **state)
{
	static const uint32_t ok[][3] = {{0x0c, 8, 1000}, {0x83, 1008, 1040}};
	static const uint32_t past[][3] = {{0x0c, 8, 1000}, {0x83, 1008, 1041}};
	static const uint32_t huge[][3] = {{0x0c, 0xfffffff0u, 0xffffffffu}};
	static const uint32_t overlap[][3] = {{0x0c, 8, 1000}, {0x83, 1000, 10}};
	static const uint32_t at_zero[][3] = {{0x0c, 0, 100}};
	struct buf err = BUF_INIT;

	(void)state;
	SKIP_WITHOUT_TOOLS();
	assert_int_equal(mbr_try(ok, 2, 1, &err), 0);
	assert_int_equal(mbr_try(ok, 2, 0, &err), -EINVAL);
	assert_non_null(strstr(buf_str(&err), "bad MBR signature"));
	assert_int_equal(mbr_try(past, 2, 1, &err), -EINVAL);
	assert_string_equal(buf_str(&err), "partition 2: extends past the end of the image");
	assert_int_equal(mbr_try(huge, 1, 1, &err), -EINVAL);
	assert_non_null(strstr(buf_str(&err), "past the end"));
	assert_int_equal(mbr_try(overlap, 2, 1, &err), -EINVAL);
	assert_non_null(strstr(buf_str(&err), "overlaps"));
	assert_int_equal(mbr_try(at_zero, 1, 1, &err), -EINVAL);
	assert_non_null(strstr(buf_str(&err), "inside the partition table"));
	buf_release(&err);
}

/* Extract one partition of disk.img and diff it with mcopy's extraction. */
static void check_tree(uint64_t off, uint64_t size, const char *out, const char *ref)
{
	struct buf err = BUF_INIT;
	struct stat st;
	int dfd;

	assert_int_equal(extract("disk.img", off, size, &big_limits, out, &err), 0);
	assert_string_equal(buf_str(&err), "");
	assert_int_equal(harness_run("diff -r %s/%s %s/%s", tmpdir, out, tmpdir, ref), 0);
	assert_int_equal(harness_run("diff -r %s/%s %s/tree", tmpdir, out, tmpdir), 0);
	dfd = harness_open(tmpdir, out, O_RDONLY | O_DIRECTORY);
	assert_int_equal(fstatat(dfd, "big.bin", &st, AT_SYMLINK_NOFOLLOW), 0);
	assert_int_equal(st.st_size, BIG_SIZE);
	assert_int_equal(fstatat(dfd, "überlänge-Datei.txt", &st, AT_SYMLINK_NOFOLLOW), 0);
	assert_int_equal(st.st_size, 6);
	assert_int_equal(fstatat(dfd, "empty", &st, AT_SYMLINK_NOFOLLOW), 0);
	assert_int_equal(st.st_size, 0);
	assert_int_equal(fstatat(dfd, "cmdline.txt", &st, AT_SYMLINK_NOFOLLOW), 0);
	assert_int_equal(st.st_mtime, 1614834368); /* 2021-03-04 05:06:08 UTC */
	assert_int_equal(fstatat(dfd, "a/b/c/d/deep file with a long name.txt", &st, 0), 0);
	assert_int_equal(st.st_size, 1);
	close(dfd);
	buf_release(&err);
}

static void test_fat32_tree(void **state)
{
	(void)state;
	SKIP_WITHOUT_TOOLS();
	check_tree(P1_START, P1_SIZE, "out32", "ref32");
}

static void test_fat16_tree(void **state)
{
	(void)state;
	SKIP_WITHOUT_TOOLS();
	check_tree(P2_START, P2_SIZE, "out16", "ref16");
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_le32(uint8_t *p, uint32_t v)
{
	for (unsigned k = 0; k < 4; k++)
		p[k] = (uint8_t)(v >> (8 * k));
}

/* Byte offset in disk.img of the first FAT of the FAT32 partition. */
static uint64_t fat32_table_offset(void)
{
	uint8_t bs[512];
	int fd = harness_open(tmpdir, "disk.img", O_RDONLY);

	assert_int_equal(pread(fd, bs, sizeof(bs), (off_t)P1_START), 512);
	close(fd);
	assert_int_equal(bs[11] | bs[12] << 8, 512);
	return P1_START + (uint64_t)(bs[14] | bs[15] << 8) * 512;
}

/* The first cluster of a run of 200 consecutive links: big.bin's chain. */
static uint32_t find_long_chain(uint64_t fat_off, uint8_t *fat, size_t n)
{
	int fd = harness_open(tmpdir, "disk.img", O_RDONLY);

	assert_int_equal(pread(fd, fat, n * 4, (off_t)fat_off), (ssize_t)(n * 4));
	close(fd);
	for (uint32_t i = 3; i + 200 < n; i++) {
		uint32_t k = 0;

		while (k < 200 && get_le32(fat + 4 * (i + k)) == i + k + 1)
			k++;
		if (k == 200)
			return i;
	}
	fail_msg("no long cluster chain found");
	return 0;
}

/* Point FAT entry idx of a copy of disk.img at value and extract the FAT32. */
static int extract_patched(uint64_t fat_off, uint32_t idx, uint32_t value, struct buf *err)
{
	uint8_t v[4];

	put_le32(v, value);
	copy_img("disk.img", "bad.img");
	patch("bad.img", fat_off + 4ull * idx, v, sizeof(v));
	buf_truncate(err, 0);
	return extract("bad.img", P1_START, P1_SIZE, &big_limits, "outbad", err);
}

static void test_fat_loops(void **state)
{
	static uint8_t fat[4 * 8192];
	struct buf err = BUF_INIT;
	uint64_t fat_off;
	uint32_t first;

	(void)state;
	SKIP_WITHOUT_TOOLS();
	fat_off = fat32_table_offset();
	first = find_long_chain(fat_off, fat, 8192);

	/* big.bin's chain loops back on itself. */
	assert_int_equal(extract_patched(fat_off, first + 150, first + 10, &err), -EINVAL);
	assert_non_null(strstr(buf_str(&err), "used twice"));
	assert_non_null(strstr(buf_str(&err), "/big.bin"));

	/* The root directory's chain points at itself. */
	assert_int_equal(extract_patched(fat_off, 2, 2, &err), -EINVAL);
	assert_non_null(strstr(buf_str(&err), "used twice"));

	/* A link to a cluster past the end of the file system. */
	assert_int_equal(extract_patched(fat_off, first + 5, 0x0ffffff0u, &err), -EINVAL);
	assert_non_null(strstr(buf_str(&err), "bad cluster"));

	/* A free cluster in the middle of a chain. */
	assert_int_equal(extract_patched(fat_off, first + 5, 0, &err), -EINVAL);
	assert_non_null(strstr(buf_str(&err), "bad cluster"));
	buf_release(&err);
}

/* A short name holding '/' must not become a path. */
static void test_fat_bad_name(void **state)
{
	uint8_t bs[512], root[512];
	struct buf err = BUF_INIT;
	uint64_t data_off;
	uint8_t *hit;
	int fd;

	(void)state;
	SKIP_WITHOUT_TOOLS();
	fd = harness_open(tmpdir, "disk.img", O_RDONLY);
	assert_int_equal(pread(fd, bs, sizeof(bs), (off_t)P1_START), 512);
	data_off = P1_START +
		   ((uint64_t)(bs[14] | bs[15] << 8) + bs[16] * (uint64_t)get_le32(bs + 36)) * 512;
	assert_int_equal(pread(fd, root, sizeof(root), (off_t)data_off), 512);
	close(fd);
	hit = memmem(root, sizeof(root), "CMDLINE TXT", 11);
	assert_non_null(hit);
	copy_img("disk.img", "bad.img");
	patch("bad.img", data_off + (uint64_t)(hit - root) + 3, "/", 1);
	assert_int_equal(extract("bad.img", P1_START, P1_SIZE, &big_limits, "outbad", &err),
			 -EINVAL);
	assert_non_null(strstr(buf_str(&err), "bad file name"));
	buf_release(&err);
}

static void test_truncated(void **state)
{
	struct imgfs_table t;
	struct buf err = BUF_INIT;
	uint64_t size;
	int fd;

	(void)state;
	SKIP_WITHOUT_TOOLS();
	copy_img("disk.img", "trunc.img");
	assert_int_equal(harness_run("truncate -s %llu %s/trunc.img",
				     (unsigned long long)(P1_START + 600 * 1024), tmpdir),
			 0);
	fd = harness_open(tmpdir, "trunc.img", O_RDONLY);
	size = harness_fd_size(fd);
	assert_int_equal(imgfs_part_read(fd, size, &t, &err), -EINVAL);
	close(fd);
	assert_string_equal(buf_str(&err), "partition 1: extends past the end of the image");

	/* The caller trusted the table: reads past the end of the file fail. */
	buf_truncate(&err, 0);
	assert_int_equal(extract("trunc.img", P1_START, P1_SIZE, &big_limits, "outt", &err),
			 -EINVAL);
	assert_non_null(strstr(buf_str(&err), "truncated"));

	/* The caller passes what is left: the boot sector claims more. */
	buf_truncate(&err, 0);
	assert_int_equal(extract("trunc.img", P1_START, size - P1_START, &big_limits, "outt", &err),
			 -EINVAL);
	assert_non_null(strstr(buf_str(&err), "extends past the end"));
	buf_release(&err);
}

static void test_limits(void **state)
{
	struct imgfs_fat_limits lim = {1000, 0, 0};
	struct buf err = BUF_INIT;

	(void)state;
	SKIP_WITHOUT_TOOLS();
	assert_int_equal(extract("disk.img", P1_START, P1_SIZE, &lim, "outl", &err), -EFBIG);
	assert_non_null(strstr(buf_str(&err), "limit of 1000 bytes"));

	lim = (struct imgfs_fat_limits){1ull << 30, 3, 0};
	buf_truncate(&err, 0);
	assert_int_equal(extract("disk.img", P2_START, P2_SIZE, &lim, "outl", &err), -ELOOP);
	assert_non_null(strstr(buf_str(&err), "/a/b/c/d"));
	lim.max_depth = 4;
	assert_int_equal(extract("disk.img", P2_START, P2_SIZE, &lim, "outl", &err), 0);

	lim = (struct imgfs_fat_limits){1ull << 30, 0, 3};
	buf_truncate(&err, 0);
	assert_int_equal(extract("disk.img", P1_START, P1_SIZE, &lim, "outl", &err), -E2BIG);
	assert_non_null(strstr(buf_str(&err), "more than 3 entries"));
	buf_release(&err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_part_mbr),     cmocka_unit_test(test_part_gpt),
		cmocka_unit_test(test_part_hostile), cmocka_unit_test(test_fat32_tree),
		cmocka_unit_test(test_fat16_tree),   cmocka_unit_test(test_fat_loops),
		cmocka_unit_test(test_fat_bad_name), cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_limits),
	};

	return harness_exit(cmocka_run_group_tests(tests, setup, teardown));
}
