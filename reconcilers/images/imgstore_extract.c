/*
 * imgstore_extract: one image file into a staging directory: decompressed
 * into a sparse disk.img, its FAT boot partition into boot/ and its ext4
 * root into root/.
 *
 * The two cores of a small netboot server are used together: the boot
 * partition lies before the root one, so as soon as the decompression has
 * passed its end, a thread extracts it while the main thread decompresses
 * the rest.  The partition table read that early is only provisional (the
 * disk's size is not known yet); once the disk is whole, the table is read
 * again and checked, and the early extraction is kept only when it was of
 * the same partition.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dirwalk.h"
#include "fsutil.h"
#include "imgfs_ext4.h"
#include "imgfs_fat.h"
#include "imgstore_int.h"

#define DISK_NAME   "disk.img"
#define TABLE_BYTES MIB /* every partition table bramble reads lies in the first MiB */
#define USAGE_DEPTH 300u

struct extract {
	int dir_fd, disk_fd;
	const struct imgstore_opts *o;
	uint64_t max_size;
	/* the early boot extraction */
	int table_state; /* 0: not read yet, 1: read, -1: given up */
	struct imgfs_table early;
	const struct imgfs_part *cand;
	bool started, stopped; /* stopped: the decompression, by a boot error */
	pthread_t thread;
	atomic_int fat_done;
	int fat_r;
	struct imgfs_part fat_part;
	struct buf fat_err;
	double fat_s;
};

static int fat_run(struct extract *x)
{
	struct imgfs_fat_limits lim;
	int fd = -1, r;

	memset(&lim, 0, sizeof(lim));
	lim.max_bytes = x->fat_part.size;
	lim.max_entries = x->o ? x->o->max_entries : 0;
	if (mkdirat(x->dir_fd, "boot", 0755) < 0)
		return -errno;
	r = dir_open_beneath(x->dir_fd, "boot", false, 0, &fd);
	if (r < 0)
		return r;
	r = imgfs_fat_extract(x->disk_fd, x->fat_part.start, x->fat_part.size, fd, &lim,
			      &x->fat_err);
	close(fd);
	return r;
}

static void *fat_main(void *arg)
{
	struct extract *x = arg;
	struct timespec start;

	clock_gettime(CLOCK_MONOTONIC, &start);
	x->fat_r = fat_run(x);
	x->fat_s = imgstore_elapsed(&start);
	atomic_store(&x->fat_done, 1);
	return NULL;
}

static int fat_start(struct extract *x, const struct imgfs_part *p)
{
	x->fat_part = *p;
	if (pthread_create(&x->thread, NULL, fat_main, x) != 0)
		return -EAGAIN;
	x->started = true;
	return 0;
}

static int fat_join(struct extract *x)
{
	if (!x->started)
		return 0;
	pthread_join(x->thread, NULL);
	x->started = false;
	return x->fat_r;
}

/* unpack_ctl.progress: start the boot extraction as soon as its bytes are final. */
static int on_progress(void *arg, uint64_t done)
{
	struct extract *x = arg;
	unsigned i;

	if (x->started) {
		if (!atomic_load(&x->fat_done) || x->fat_r == 0)
			return 0;
		x->stopped = true;
		return x->fat_r;
	}
	if (x->table_state < 0 || done < TABLE_BYTES)
		return 0;
	if (x->table_state == 0) {
		x->table_state = -1;
		if (imgfs_part_read(x->disk_fd, x->max_size, &x->early, NULL) < 0)
			return 0;
		for (i = 0; i < x->early.count && !x->cand; i++)
			if (imgfs_part_is_fat(&x->early.parts[i]))
				x->cand = &x->early.parts[i];
		if (x->cand)
			x->table_state = 1;
		return 0;
	}
	if (done < x->cand->start + x->cand->size)
		return 0;
	x->table_state = -1;
	/* Without a thread, the boot partition is extracted after the rest. */
	if (imgstore_holds_fat(x->disk_fd, x->cand))
		(void)fat_start(x, x->cand);
	return 0;
}

struct usage {
	uint64_t *bytes, *files;
};

/* Bytes on disk of a tree, each inode shared among its links. */
static int usage_visit(void *arg, const char *rel, const char *name, const struct stat *st)
{
	struct usage *u = arg;

	(void)rel;
	(void)name;
	*u->bytes += (uint64_t)st->st_blocks * 512 / (st->st_nlink ? st->st_nlink : 1);
	if (!S_ISDIR(st->st_mode))
		*u->files += 1;
	return 0;
}

int imgstore_usage(int dir_fd, const char *name, uint64_t *bytes, uint64_t *files)
{
	struct usage u = {bytes, files};
	struct dir_walk_visitor v = {usage_visit, &u, USAGE_DEPTH};
	int fd, r;

	r = dir_open_beneath(dir_fd, name, false, 0, &fd);
	return r < 0 ? r : dir_walk(fd, &v);
}

static int root_run(struct extract *x, const struct imgfs_part *p, struct extract_result *res,
		    struct buf *err)
{
	struct imgfs_ext4_limits lim;
	struct imgfs_ext4_stats st;
	struct timespec start;
	size_t before;
	int fd = -1, r;

	clock_gettime(CLOCK_MONOTONIC, &start);
	memset(&lim, 0, sizeof(lim));
	memset(&st, 0, sizeof(st));
	lim.max_bytes = x->max_size;
	lim.max_entries = x->o ? x->o->max_entries : 0;
	lim.progress = x->o && x->o->progress.fn ? &x->o->progress : NULL;
	if (mkdirat(x->dir_fd, "root", 0755) < 0)
		return -errno;
	r = dir_open_beneath(x->dir_fd, "root", false, 0, &fd);
	if (r < 0)
		return r;
	before = err->len;
	r = buf_printf(err, "root partition %u: ", p->number);
	if (r == 0)
		r = imgfs_ext4_extract(x->disk_fd, p->start, p->size, fd, &lim, &st, err);
	if (r == 0)
		buf_truncate(err, before);
	close(fd);
	res->root_files = st.files + st.symlinks + st.hardlinks;
	res->root_bytes = st.bytes;
	res->devices_skipped = st.devices_skipped;
	res->root_s = imgstore_elapsed(&start);
	return r;
}

/*
 * The boot partition: keep the early extraction when it was of the right
 * partition; otherwise (none, or a provisional table that turned out wrong)
 * extract it now.
 */
static int boot_finish(struct extract *x, const struct imgfs_part *boot, struct extract_result *res,
		       struct buf *err)
{
	bool early = x->started;
	int r = fat_join(x);

	if (early && (x->fat_part.start != boot->start || x->fat_part.size != boot->size)) {
		r = rm_rf_at(x->dir_fd, "boot");
		if (r < 0)
			return r;
		buf_truncate(&x->fat_err, 0);
		early = false;
	}
	if (!early) {
		struct timespec start;

		clock_gettime(CLOCK_MONOTONIC, &start);
		x->fat_part = *boot;
		r = fat_run(x);
		x->fat_s = imgstore_elapsed(&start);
	}
	res->boot_early = early;
	res->boot_s = x->fat_s;
	if (r < 0)
		buf_printf(err, "boot partition %u: %s", boot->number, buf_str(&x->fat_err));
	return r;
}

static int unpack_disk(struct extract *x, int in_fd, struct extract_result *res, struct buf *err)
{
	struct unpack_ctl c;
	struct timespec start;
	int r;

	memset(&c, 0, sizeof(c));
	c.max_size = x->max_size;
	if (x->o) {
		c.note = x->o->note;
		c.note_arg = x->o->note_arg;
		c.meter = x->o->progress.fn ? &x->o->progress : NULL;
	}
	c.progress = on_progress;
	c.progress_arg = x;
	clock_gettime(CLOCK_MONOTONIC, &start);
	r = unpack_run(in_fd, x->disk_fd, &c, &res->disk_size, err);
	res->unpack_s = imgstore_elapsed(&start);
	/* A failed early boot extraction stops the decompression: say why. */
	if (r < 0 && x->stopped)
		buf_printf(err, "boot partition %u: %s", x->fat_part.number, buf_str(&x->fat_err));
	return r;
}

static int extract_parts(struct extract *x, int in_fd, struct extract_result *res, struct buf *err)
{
	struct imgfs_part boot, root;
	int r;

	r = unpack_disk(x, in_fd, res, err);
	if (r == 0)
		r = imgstore_find_parts(x->disk_fd, res->disk_size, &boot, &root, err);
	if (r < 0) {
		fat_join(x);
		return r;
	}
	r = boot_finish(x, &boot, res, err);
	if (r == 0)
		r = root_run(x, &root, res, err);
	if (r == 0)
		r = imgstore_usage(x->dir_fd, "boot", &res->disk_usage, &res->boot_files);
	if (r == 0) {
		uint64_t ignored = 0;

		r = imgstore_usage(x->dir_fd, "root", &res->disk_usage, &ignored);
	}
	return r;
}

int imgstore_extract(int dir_fd, int in_fd, const struct imgstore_opts *o,
		     struct extract_result *res, struct buf *err)
{
	struct extract x;
	int r;

	memset(&x, 0, sizeof(x));
	memset(res, 0, sizeof(*res));
	x.dir_fd = dir_fd;
	x.o = o;
	x.max_size = o && o->max_size ? o->max_size : IMGSTORE_MAX_SIZE_DEFAULT;
	atomic_init(&x.fat_done, 0);
	x.disk_fd =
		openat(dir_fd, DISK_NAME, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (x.disk_fd < 0)
		return -errno;
	r = extract_parts(&x, in_fd, res, err);
	/* A write-back error shows at close at the latest: the extraction read bad data. */
	if (close(x.disk_fd) < 0 && r == 0) {
		r = -errno;
		buf_printf(err, "cannot close the raw disk (%s in the staging directory): %s",
			   DISK_NAME, strerror(-r));
	}
	if (unlinkat(dir_fd, DISK_NAME, 0) < 0 && r == 0)
		r = -errno;
	buf_release(&x.fat_err);
	return r;
}
