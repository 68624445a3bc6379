/*
 * torture_imgstore: the image store with disk images built at test time
 * (sfdisk, mkfs.vfat, mcopy, mkfs.ext4 -d): every compression decompressed
 * byte for byte into a sparse file, partition detection (MBR and GPT),
 * whole extractions through file:// urls, checksum mismatches, hostile
 * images that must leave nothing behind, staging cleanup, list and remove.
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
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

#include "buf.h"
#include "download.h"
#include "fsutil.h"
#include "hash.h"
#include "imgstore.h"
#include "imgstore_int.h"
#include "stop.h"

#define P1_START (2048ull * 512)
#define P1_SIZE	 (32768ull * 512)
#define P2_START (34816ull * 512)
#define P2_SIZE	 (40960ull * 512)
#define DISK_MIB 48

static char tmpdir[64];
static int tools_missing;
static char disk_sha[SHA256_HEX_LEN + 1];

/* MBR disk: FAT16 boot (type 0x0e) + ext4 root; a GPT one; broken ones. */
static const char build_script[] =
	"set -e\n"
	"export PATH=\"$PATH:/usr/sbin:/sbin\" MTOOLS_SKIP_CHECK=1 LC_ALL=C.UTF-8\n"
	"cd \"$1\"\n"
	"mkdir -p boot/overlays root/etc root/usr/bin root/a/b/c\n"
	"printf 'arm_64bit=1\\n' > boot/config.txt\n"
	"printf 'console=serial0,115200 root=PARTUUID=1234-02 rootwait\\n' > boot/cmdline.txt\n"
	"head -c 300000 /dev/urandom > boot/start4.elf\n"
	"printf 'x' > boot/overlays/disable-bt.dtbo\n"
	"printf 'pi\\n' > root/etc/hostname\n"
	"head -c 200000 /dev/urandom > root/usr/bin/tool\n"
	"ln -s ../usr/bin/tool root/a/link\n"
	"printf 'deep\\n' > root/a/b/c/file\n"
	"truncate -s 48M disk.img\n"
	"printf 'label: dos\\nstart=2048, size=32768, type=e\\nstart=34816, size=40960, type=83\\n'"
	" | sfdisk -q disk.img\n"
	"mkfs.vfat -F 16 --offset 2048 disk.img 16384 >/dev/null 2>&1\n"
	"mcopy -s -m -i disk.img@@1048576 boot/* ::/ 2>/dev/null\n"
	"mkfs.ext4 -q -F -E offset=17825792 -d root disk.img 20480k\n"
	"xz -T2 -k -3 disk.img && zstd -q -k disk.img && gzip -k disk.img && bzip2 -k disk.img\n"
	"printf 'no image here\\n' > readme.txt && zip -q none.zip readme.txt\n"
	"zip -q disk.zip readme.txt disk.img\n"
	"cp disk.img other.img && zip -q two.zip disk.img other.img && rm other.img\n"
	"head -c 40000 disk.img.xz > trunc.img.xz\n"
	/* sizes: one xz block, stream padding, zstd from a pipe (no size), two gzip members */
	"xz -T1 -0 -c disk.img > one.img.xz\n"
	"cp disk.img.xz pad.img.xz && printf '\\0\\0\\0\\0\\0\\0\\0\\0' >> pad.img.xz\n"
	"zstd -q -c < disk.img > pipe.img.zst\n"
	"cat disk.img.gz disk.img.gz > two.img.gz\n"
	"head -c 40000 disk.img.zst > trunc.img.zst\n"
	/* two .xz streams one after the other, and a corrupt one */
	"head -c 20M disk.img | xz -0 > cat.img.xz && tail -c +20971521 disk.img | xz -0 >> "
	"cat.img.xz\n"
	"cp disk.img.xz bad.img.xz && printf 'XXXX' | dd of=bad.img.xz bs=1 seek=30000 "
	"conv=notrunc "
	"2>/dev/null\n"
	"sha256sum disk.img.xz | cut -c1-64 > disk.img.xz.sha\n"
	/* GPT: an EFI system partition with FAT, a Linux one with ext4 */
	"truncate -s 48M gpt.img\n"
	"printf 'label: gpt\\nstart=2048, size=32768, type=uefi\\n"
	"start=34816, size=40960, type=linux\\n' | sfdisk -q gpt.img\n"
	"mkfs.vfat -F 16 --offset 2048 gpt.img 16384 >/dev/null 2>&1\n"
	"mkfs.ext4 -q -F -E offset=17825792 -d root gpt.img 20480k\n"
	/* no ext4: the second partition is Linux but empty */
	"truncate -s 48M noroot.img\n"
	"printf 'label: dos\\nstart=2048, size=32768, type=e\\nstart=34816, size=40960, type=83\\n'"
	" | sfdisk -q noroot.img\n"
	"mkfs.vfat -F 16 --offset 2048 noroot.img 16384 >/dev/null 2>&1\n"
	/* partition 2 past the end: a whole disk cut short */
	"head -c 30M disk.img > short.img && xz -k -0 short.img\n"
	"mkdir ref\n"
	"mcopy -s -n -i disk.img@@1048576 ::/ ref/ 2>/dev/null\n";

static int build_images(void)
{
	struct buf path = BUF_INIT;
	char *sha = NULL;
	size_t len;
	int r;

	r = harness_script(tmpdir, build_script, NULL);
	if (r == 0 && buf_printf(&path, "%s/disk.img.xz.sha", tmpdir) == 0 &&
	    file_read(buf_str(&path), 100, &sha, &len) == 0 && len > SHA256_HEX_LEN) {
		memcpy(disk_sha, sha, SHA256_HEX_LEN);
		disk_sha[SHA256_HEX_LEN] = '\0';
	} else {
		r = -1;
	}
	free(sha);
	buf_release(&path);
	return r;
}

static int setup(void **state)
{
	(void)state;
	if (harness_run(
		    "for t in sfdisk mkfs.vfat mcopy mkfs.ext4 xz zstd gzip bzip2 zip; do "
		    "PATH=\"$PATH:/usr/sbin:/sbin\" command -v $t >/dev/null || exit 1; done") !=
	    0) {
		tools_missing = 1;
		return 0;
	}
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/torture_imgstore.XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	return build_images() == 0 ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	if (tmpdir[0])
		(void)harness_run("rm -rf %s", tmpdir);
	return 0;
}

#define SKIP_WITHOUT_TOOLS()                                 \
	do {                                                 \
		if (tools_missing)                           \
			HARNESS_SKIP("image tools missing"); \
	} while (0)

/* Unpack tmpdir/in into tmpdir/out.raw; returns the error, size in *size. */
static int unpack(const char *in, uint64_t max, uint64_t *size, struct buf *err)
{
	struct imgstore_opts o;
	int in_fd, out_fd, r;

	memset(&o, 0, sizeof(o));
	o.max_size = max;
	assert_int_equal(harness_run("rm -f %s/out.raw", tmpdir), 0);
	in_fd = harness_open(tmpdir, in, O_RDONLY);
	out_fd = harness_open(tmpdir, "out.raw", O_RDWR | O_CREAT | O_EXCL);
	r = imgstore_unpack(in_fd, out_fd, &o, size, err);
	close(in_fd);
	close(out_fd);
	return r;
}

static void test_unpack_formats(void **state)
{
	static const char *const names[] = {"disk.img",	   "disk.img.xz",  "disk.img.zst",
					    "disk.img.gz", "disk.img.bz2", "disk.zip",
					    "cat.img.xz"};
	struct buf err = BUF_INIT;
	size_t i;

	(void)state;
	SKIP_WITHOUT_TOOLS();
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		uint64_t size = 0;
		struct stat st;
		int fd;

		print_message("unpack %s\n", names[i]);
		assert_int_equal(unpack(names[i], 0, &size, &err), 0);
		assert_int_equal(size, (uint64_t)DISK_MIB << 20);
		assert_int_equal(harness_run("cmp -s %s/disk.img %s/out.raw", tmpdir, tmpdir), 0);
		/* Sparse: the zeros of the 48 MiB disk take no space. */
		fd = harness_open(tmpdir, "out.raw", O_RDONLY);
		assert_int_equal(fstat(fd, &st), 0);
		close(fd);
		assert_true((uint64_t)st.st_blocks * 512 < (uint64_t)st.st_size / 2);
	}
	buf_release(&err);
}

/* The size each format states before it is decompressed (imgstore_size.c). */
static void test_disk_size(void **state)
{
	static const struct {
		const char *name;
		int r;
	} cases[] = {
		{"disk.img", 0},
		{"disk.img.xz", 0},
		{"one.img.xz", 0},
		{"cat.img.xz", 0},
		{"pad.img.xz", 0},
		{"disk.img.zst", 0},
		{"disk.img.gz", 1},
		{"two.img.gz", 1},
		{"pipe.img.zst", -ENODATA},
		{"disk.img.bz2", -ENODATA},
		{"disk.zip", -ENODATA},
		{"trunc.img.xz", -ENODATA},
		{"trunc.img.zst", -ENODATA},
		{"bad.img.xz", 0},
	};
	size_t i;

	(void)state;
	SKIP_WITHOUT_TOOLS();
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t size = 7;
		int fd = harness_open(tmpdir, cases[i].name, O_RDONLY), r;

		r = imgstore_disk_size(fd, &size);
		close(fd);
		print_message("%s: %d, %llu\n", cases[i].name, r, (unsigned long long)size);
		assert_int_equal(r, cases[i].r);
		/* two.img.gz: the last member's size, a hint that the decompression outgrows */
		assert_int_equal(size, r < 0 ? 7 : (uint64_t)DISK_MIB << 20);
	}
}

static void last_report(void *arg, const struct progress *p)
{
	*(struct progress *)arg = *p;
}

/* Decompress in with a meter: the last "decompress" report. */
static void unpack_metered(const char *in, struct progress *last)
{
	struct progress_cb cb = {last_report, last};
	struct unpack_ctl c;
	struct buf err = BUF_INIT;
	uint64_t size = 0;
	int in_fd, out_fd;

	memset(&c, 0, sizeof(c));
	memset(last, 0, sizeof(*last));
	c.meter = &cb;
	assert_int_equal(harness_run("rm -f %s/out.raw", tmpdir), 0);
	in_fd = harness_open(tmpdir, in, O_RDONLY);
	out_fd = harness_open(tmpdir, "out.raw", O_RDWR | O_CREAT | O_EXCL);
	assert_int_equal(unpack_run(in_fd, out_fd, &c, &size, &err), 0);
	close(in_fd);
	close(out_fd);
	buf_release(&err);
}

/*
 * The decompression's total: the stated size, exact; without one (or with a
 * gzip hint the disk outgrows), the partition table's end, an estimate.
 */
static void test_unpack_total(void **state)
{
	static const char *const exact[] = {"disk.img", "disk.img.xz", "one.img.xz", "disk.img.zst",
					    "disk.img.gz"};
	static const char *const estimated[] = {"pipe.img.zst", "disk.img.bz2", "two.img.gz"};
	const uint64_t table_end = (34816ull + 40960) * 512;
	struct progress last;
	size_t i;

	(void)state;
	SKIP_WITHOUT_TOOLS();
	for (i = 0; i < sizeof(exact) / sizeof(exact[0]); i++) {
		unpack_metered(exact[i], &last);
		print_message("%s: %llu of %llu%s\n", exact[i], (unsigned long long)last.done,
			      (unsigned long long)last.total, last.estimate ? " (estimate)" : "");
		assert_string_equal(last.step, "decompress");
		assert_false(last.estimate);
		assert_int_equal(last.total, (uint64_t)DISK_MIB << 20);
		assert_int_equal(last.done, last.total);
	}
	for (i = 0; i < sizeof(estimated) / sizeof(estimated[0]); i++) {
		unpack_metered(estimated[i], &last);
		print_message("%s: %llu of ~%llu\n", estimated[i], (unsigned long long)last.done,
			      (unsigned long long)last.total);
		assert_true(last.estimate);
		assert_int_equal(last.total, table_end);
	}
}

static void test_unpack_broken(void **state)
{
	struct buf err = BUF_INIT;
	uint64_t size;

	(void)state;
	SKIP_WITHOUT_TOOLS();
	assert_int_equal(unpack("trunc.img.xz", 0, &size, &err), -EINVAL);
	assert_non_null(strstr(buf_str(&err), "the .xz file is truncated"));
	buf_truncate(&err, 0);
	assert_int_equal(unpack("bad.img.xz", 0, &size, &err), -EINVAL);
	assert_non_null(strstr(buf_str(&err), "the .xz data is corrupt"));
	buf_truncate(&err, 0);
	assert_int_equal(unpack("trunc.img.zst", 0, &size, &err), -EINVAL);
	assert_non_null(strstr(buf_str(&err), "cannot decompress the image"));
	buf_truncate(&err, 0);
	assert_int_equal(unpack("disk.img.xz", 10u << 20, &size, &err), -EFBIG);
	assert_non_null(strstr(buf_str(&err), "larger than the limit"));
	buf_truncate(&err, 0);
	assert_int_equal(unpack("two.zip", 0, &size, &err), -EINVAL);
	assert_non_null(strstr(buf_str(&err), "more than one .img"));
	buf_truncate(&err, 0);
	assert_int_equal(unpack("none.zip", 0, &size, &err), -EINVAL);
	assert_non_null(strstr(buf_str(&err), "no .img file"));
	buf_release(&err);
}

static void find(const char *img, int want, const char *msg, struct imgfs_part *boot,
		 struct imgfs_part *root)
{
	struct buf err = BUF_INIT;
	struct stat st;
	int fd = harness_open(tmpdir, img, O_RDONLY);

	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(imgstore_find_parts(fd, (uint64_t)st.st_size, boot, root, &err), want);
	close(fd);
	if (msg)
		assert_non_null(strstr(buf_str(&err), msg));
	buf_release(&err);
}

static void test_find_parts(void **state)
{
	struct imgfs_part boot, root;

	(void)state;
	SKIP_WITHOUT_TOOLS();
	find("disk.img", 0, NULL, &boot, &root);
	assert_int_equal(boot.number, 1);
	assert_int_equal(boot.start, P1_START);
	assert_int_equal(boot.size, P1_SIZE);
	assert_int_equal(root.number, 2);
	assert_int_equal(root.start, P2_START);
	assert_int_equal(root.size, P2_SIZE);
	find("gpt.img", 0, NULL, &boot, &root);
	assert_int_equal(boot.start, P1_START);
	assert_int_equal(root.start, P2_START);
	find("noroot.img", -EINVAL, "no Linux root partition", &boot, &root);
	find("short.img", -EINVAL, "past the end", &boot, &root);
	find("boot/config.txt", -EINVAL, "partition table", &boot, &root);
}

struct store {
	int fd;
	char path[128];
};

static void store_open(struct store *s, const char *name)
{
	snprintf(s->path, sizeof(s->path), "%s/%s", tmpdir, name);
	assert_int_equal(harness_run("rm -rf %s && mkdir %s", s->path, s->path), 0);
	s->fd = open(s->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(s->fd >= 0);
}

/* How many entries a store subdirectory holds (0 when it does not exist). */
static int count_in(const struct store *s, const char *sub)
{
	struct dirent *de;
	DIR *d;
	int dfd, n = 0;

	if (dir_open_beneath(s->fd, sub, false, 0, &dfd) < 0)
		return 0;
	d = fdopendir(dfd);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

static void image_init(struct image *img, struct buf *url, const char *file, char *sha)
{
	buf_truncate(url, 0);
	assert_int_equal(buf_printf(url, "file://%s/%s", tmpdir, file), 0);
	memset(img, 0, sizeof(*img));
	img->name = (char *)(uintptr_t) "test-os";
	img->url = (char *)(uintptr_t)buf_str(url);
	img->sha256 = sha;
}

/*
 * bramble stopping (the daemon's SIGTERM) stops an extraction: nothing is
 * published, nothing is recorded as a failed image, and the next call does
 * the whole work.
 */
static void test_ensure_cancelled(void **state)
{
	struct buf url = BUF_INIT, err = BUF_INIT;
	static atomic_int stop = 1;
	struct image img;
	struct store s;
	char digest[SHA256_HEX_LEN + 1];

	(void)state;
	SKIP_WITHOUT_TOOLS();
	store_open(&s, "store-stop");
	image_init(&img, &url, "disk.img.xz", disk_sha);
	stop_watch(&stop);
	assert_int_equal(imgstore_ensure(s.fd, &img, NULL, digest, &err), -ECANCELED);
	stop_watch(NULL);
	assert_non_null(strstr(buf_str(&err), "stopped"));
	assert_int_equal(imgstore_has(s.fd, disk_sha), 0);
	assert_int_equal(count_in(&s, "failed"), 0);
	buf_truncate(&err, 0);
	assert_int_equal(imgstore_ensure(s.fd, &img, NULL, digest, &err), 0);
	assert_int_equal(imgstore_has(s.fd, disk_sha), 1);
	assert_int_equal(count_in(&s, "staging"), 0);
	close(s.fd);
	buf_release(&url);
	buf_release(&err);
}

static void test_ensure_file_url(void **state)
{
	struct buf url = BUF_INIT, err = BUF_INIT;
	struct image img;
	struct store s;
	char digest[SHA256_HEX_LEN + 1];

	(void)state;
	SKIP_WITHOUT_TOOLS();
	store_open(&s, "store1");
	image_init(&img, &url, "disk.img.xz", disk_sha);
	assert_int_equal(imgstore_ensure(s.fd, &img, NULL, digest, &err), 0);
	assert_string_equal(digest, disk_sha);
	assert_int_equal(imgstore_has(s.fd, digest), 1);
	/* boot/ is what mcopy extracts; root/ holds the ext4 tree. */
	assert_int_equal(harness_run("diff -r %s/ref %s/sha256/%s/boot", tmpdir, s.path, digest),
			 0);
	assert_int_equal(harness_run("cmp -s %s/root/usr/bin/tool %s/sha256/%s/root/usr/bin/tool",
				     tmpdir, s.path, digest),
			 0);
	assert_int_equal(
		harness_run("test \"$(readlink %s/sha256/%s/root/a/link)\" = ../usr/bin/tool",
			    s.path, digest),
		0);
	assert_int_equal(count_in(&s, "staging"), 0);
	assert_int_equal(count_in(&s, "downloads"), 0);
	/* Without a sha256 the digest is computed once and recorded. */
	image_init(&img, &url, "disk.img.xz", NULL);
	assert_int_equal(imgstore_digest(s.fd, &img, digest), -ENOENT);
	assert_int_equal(imgstore_ensure(s.fd, &img, NULL, digest, &err), 0);
	assert_string_equal(digest, disk_sha);
	memset(digest, 0, sizeof(digest));
	assert_int_equal(imgstore_digest(s.fd, &img, digest), 0);
	assert_string_equal(digest, disk_sha);
	assert_int_equal(count_in(&s, "urls"), 1);
	/* A changed file is not the recorded one any more. */
	assert_int_equal(harness_run("touch -d '2001-01-01' %s/disk.img.xz", tmpdir), 0);
	assert_int_equal(imgstore_digest(s.fd, &img, digest), -ENOENT);
	close(s.fd);
	buf_release(&url);
	buf_release(&err);
}

/* A url record (digest, size, inode of a local file) is for root only. */
static void test_record_private(void **state)
{
	struct stat st, rec;
	struct store s;
	char p[192];

	(void)state;
	store_open(&s, "store-rec");
	assert_int_equal(mkdirat(s.fd, "urls", 0755), 0); /* as an older bramble made it */
	assert_int_equal(stat("/etc/hostname", &st), 0);
	assert_int_equal(imgstore_record_write(s.fd, "file:///etc/hostname", &st, disk_sha), 0);
	snprintf(p, sizeof(p), "%s/urls", s.path);
	assert_int_equal(stat(p, &rec), 0);
	assert_int_equal(rec.st_mode & 07777, 0700);
	assert_int_equal(count_in(&s, "urls"), 1);
	assert_int_equal(harness_run("test -z \"$(find %s/urls -type f -perm /077)\"", s.path), 0);
	close(s.fd);
}

/* A failed ensure leaves nothing under sha256/ or staging/. */
static void expect_fail(const char *file, char *sha, int want, const char *msg)
{
	struct buf url = BUF_INIT, err = BUF_INIT;
	struct image img;
	struct store s;
	char digest[SHA256_HEX_LEN + 1];

	store_open(&s, "store-fail");
	image_init(&img, &url, file, sha);
	assert_int_equal(imgstore_ensure(s.fd, &img, NULL, digest, &err), want);
	print_message("%s: %s\n", file, buf_str(&err));
	assert_non_null(strstr(buf_str(&err), "image \"test-os\""));
	assert_non_null(strstr(buf_str(&err), msg));
	assert_int_equal(count_in(&s, "sha256"), 0);
	assert_int_equal(count_in(&s, "staging"), 0);
	/* A broken image is remembered: the next call fails at once, the same way. */
	buf_truncate(&err, 0);
	assert_int_equal(imgstore_ensure(s.fd, &img, NULL, digest, &err), want);
	assert_non_null(strstr(buf_str(&err), msg));
	if (want == -EINVAL) {
		assert_non_null(strstr(buf_str(&err), "found by an earlier pass"));
		assert_int_equal(count_in(&s, "failed"), 1);
	} else {
		assert_int_equal(count_in(&s, "failed"), 0);
	}
	close(s.fd);
	buf_release(&url);
	buf_release(&err);
}

static void test_ensure_failures(void **state)
{
	char wrong[SHA256_HEX_LEN + 1];

	(void)state;
	SKIP_WITHOUT_TOOLS();
	memset(wrong, 'a', SHA256_HEX_LEN);
	wrong[SHA256_HEX_LEN] = '\0';
	expect_fail("disk.img.xz", wrong, -EBADMSG, wrong);
	expect_fail("disk.img.xz", wrong, -EBADMSG, disk_sha);
	expect_fail("trunc.img.xz", NULL, -EINVAL, "cannot decompress");
	expect_fail("short.img.xz", NULL, -EINVAL, "past the end");
	expect_fail("noroot.img", NULL, -EINVAL, "no Linux root partition");
	expect_fail("missing.img.xz", NULL, -ENOENT, "cannot open");
}

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

/*
 * loop.img.gz: disk.img with the cluster chain of /START4.ELF turned into a
 * loop (its sixth cluster points back to its first), found through the
 * FAT16 boot sector and root directory.
 */
static void make_fat_loop(void)
{
	uint8_t bs[512], ent[32], link[2];
	uint64_t fat, root;
	unsigned i, n_root;
	uint16_t first = 0;
	int fd;

	assert_int_equal(harness_run("cp %s/disk.img %s/loop.img", tmpdir, tmpdir), 0);
	fd = harness_open(tmpdir, "loop.img", O_RDWR);
	assert_int_equal(pread(fd, bs, sizeof(bs), (off_t)P1_START), (ssize_t)sizeof(bs));
	fat = P1_START + (uint64_t)le16(bs + 14) * 512;
	root = fat + (uint64_t)bs[16] * le16(bs + 22) * 512;
	n_root = le16(bs + 17);
	for (i = 0; i < n_root && !first; i++) {
		assert_int_equal(pread(fd, ent, sizeof(ent), (off_t)(root + 32 * i)), 32);
		if (memcmp(ent, "START4  ELF", 11) == 0)
			first = le16(ent + 26);
	}
	assert_true(first >= 2);
	link[0] = (uint8_t)first;
	link[1] = (uint8_t)(first >> 8);
	assert_int_equal(pwrite(fd, link, 2, (off_t)(fat + 2u * (first + 5u))), 2);
	close(fd);
	assert_int_equal(harness_run("gzip -f %s/loop.img", tmpdir), 0);
}

static void test_hostile_fat(void **state)
{
	(void)state;
	SKIP_WITHOUT_TOOLS();
	make_fat_loop();
	expect_fail("loop.img.gz", NULL, -EINVAL, "used twice");
}

static void note_cb(void *arg, const char *line)
{
	struct buf *b = arg;

	assert_int_equal(buf_printf(b, "%s\n", line), 0);
}

/* The boot partition is extracted while the root is still being decompressed. */
static void test_notes(void **state)
{
	struct buf url = BUF_INIT, err = BUF_INIT, notes = BUF_INIT;
	struct imgstore_opts o;
	struct image img;
	struct store s;
	char digest[SHA256_HEX_LEN + 1];

	(void)state;
	SKIP_WITHOUT_TOOLS();
	store_open(&s, "store4");
	memset(&o, 0, sizeof(o));
	o.note = note_cb;
	o.note_arg = &notes;
	image_init(&img, &url, "disk.img.zst", NULL);
	assert_int_equal(imgstore_ensure(s.fd, &img, &o, digest, &err), 0);
	print_message("%s", buf_str(&notes));
	assert_non_null(strstr(buf_str(&notes), "decompressed 48 MiB in"));
	assert_non_null(strstr(buf_str(&notes), "extracted boot (4 files) in"));
	assert_non_null(strstr(buf_str(&notes), "while decompressing"));
	assert_non_null(strstr(buf_str(&notes), "in the image store as sha256/"));
	close(s.fd);
	buf_release(&url);
	buf_release(&err);
	buf_release(&notes);
}

static void test_clean_staging(void **state)
{
	static const char d1[] = "1111111111111111111111111111111111111111111111111111111111111111";
	static const char d2[] = "2222222222222222222222222222222222222222222222222222222222222222";
	struct store s;
	int lock_fd = -1;

	(void)state;
	SKIP_WITHOUT_TOOLS();
	store_open(&s, "store2");
	assert_int_equal(harness_run("mkdir -p %s/staging/%s.999999/boot %s/staging/%s.999998/root "
				     "%s/staging/unrelated && touch %s/staging/%s.999999/disk.img",
				     s.path, d1, s.path, d2, s.path, s.path, d1),
			 0);
	/* d2 is locked: a live process works on it; d1's process is gone. */
	assert_int_equal(imgstore_lock(s.fd, d2, true, &lock_fd), 0);
	assert_int_equal(imgstore_clean_staging(s.fd), 1);
	assert_int_equal(count_in(&s, "staging"), 2);
	close(lock_fd);
	assert_int_equal(imgstore_clean_staging(s.fd), 1);
	assert_int_equal(count_in(&s, "staging"), 1);
	close(s.fd);
}

static void test_list_remove(void **state)
{
	struct buf url = BUF_INIT, err = BUF_INIT;
	struct image img, other, *images[2] = {&img, &other};
	struct manifest_set set;
	struct imgstore_list l;
	struct store s;
	char digest[SHA256_HEX_LEN + 1];
	int lock_fd = -1;

	(void)state;
	SKIP_WITHOUT_TOOLS();
	store_open(&s, "store3");
	image_init(&img, &url, "disk.img.xz", disk_sha);
	assert_int_equal(imgstore_ensure(s.fd, &img, NULL, digest, &err), 0);
	assert_int_equal(harness_run("mkdir -p %s/downloads && head -c 5000 /dev/zero > "
				     "%s/downloads/%064d.part",
				     s.path, s.path, 7),
			 0);
	memset(&other, 0, sizeof(other));
	other.name = (char *)(uintptr_t) "other";
	other.path = (char *)(uintptr_t) "local";
	memset(&set, 0, sizeof(set));
	set.images = images;
	set.n_images = 2;
	assert_int_equal(imgstore_list(s.fd, &set, &l), 0);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.v[0].digest,
			    "0000000000000000000000000000000000000000000000000000000000000007");
	assert_false(l.v[0].extracted);
	assert_int_equal(l.v[0].n_refs, 0);
	assert_string_equal(l.v[1].digest, disk_sha);
	assert_true(l.v[1].extracted);
	assert_int_equal(l.v[1].n_refs, 1);
	assert_ptr_equal(l.v[1].refs[0], &img);
	assert_true(l.v[1].bytes > 300000);
	assert_non_null(strstr(l.v[1].url, "disk.img.xz"));
	imgstore_list_release(&l);
	/* Locked by a process bringing it in: not removed. */
	assert_int_equal(imgstore_lock(s.fd, disk_sha, true, &lock_fd), 0);
	assert_int_equal(imgstore_remove(s.fd, disk_sha, &err), -EBUSY);
	close(lock_fd);
	assert_int_equal(imgstore_remove(s.fd, disk_sha, &err), 0);
	assert_int_equal(imgstore_has(s.fd, disk_sha), 0);
	assert_int_equal(
		imgstore_remove(s.fd,
				"0000000000000000000000000000000000000000000000000000000000000007",
				&err),
		0);
	assert_int_equal(imgstore_remove(s.fd, "../etc", &err), -EINVAL);
	assert_int_equal(imgstore_list(s.fd, &set, &l), 0);
	assert_int_equal(l.n, 0);
	imgstore_list_release(&l);
	assert_int_equal(count_in(&s, "trash"), 0);
	close(s.fd);
	buf_release(&url);
	buf_release(&err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unpack_formats),	 cmocka_unit_test(test_unpack_broken),
		cmocka_unit_test(test_find_parts),	 cmocka_unit_test(test_ensure_file_url),
		cmocka_unit_test(test_record_private),	 cmocka_unit_test(test_ensure_failures),
		cmocka_unit_test(test_clean_staging),	 cmocka_unit_test(test_list_remove),
		cmocka_unit_test(test_hostile_fat),	 cmocka_unit_test(test_notes),
		cmocka_unit_test(test_ensure_cancelled), cmocka_unit_test(test_disk_size),
		cmocka_unit_test(test_unpack_total),
	};

	return harness_exit(cmocka_run_group_tests(tests, setup, teardown));
}
