/*
 * fuzz_image: arbitrary bytes as a disk image: its partition table read,
 * and every FAT partition extracted (with small limits).  The disk is the
 * input followed by zeros up to DISK_MIN (4 MiB; a longer input is the whole
 * disk), as a disk's unused tail is, so that the seeds (tests/fuzz/
 * image_seeds.sh) need only their first tens of KiB: a FAT16 partition has
 * at least 4,085 clusters, which the input need not hold.
 * Per execution, only what the parsers do: the image is a memfd made once
 * (emptied and written again), and the extraction goes into a directory
 * made once on /dev/shm (tmpfs; fuzz_scratch.h), emptied after each
 * partition.
 */
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "fsutil.h"
#include "fuzz_scratch.h"
#include "imgfs_fat.h"
#include "imgfs_part.h"

#define DISK_MIN ((uint64_t)4 << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int img_fd = -1, scratch_fd = -1;

static int setup(void)
{
	char dir[128];

	if (img_fd >= 0)
		return 0;
	scratch_fd = fuzz_scratch_dir("image", dir, sizeof(dir));
	img_fd = memfd_create("disk.img", MFD_CLOEXEC);
	return scratch_fd >= 0 && img_fd >= 0 ? 0 : -1;
}

static void extract_fat(const struct imgfs_part *p)
{
	struct imgfs_fat_limits lim = {(uint64_t)1 << 20, 8, 256};
	int dfd;

	if (mkdirat(scratch_fd, "x", 0700) < 0)
		return;
	dfd = openat(scratch_fd, "x", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		(void)imgfs_fat_extract(img_fd, p->start, p->size, dfd, &lim, NULL);
		close(dfd);
	}
	(void)rm_rf_at(scratch_fd, "x");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct imgfs_table t;
	struct buf err = BUF_INIT;
	uint64_t disk = size > DISK_MIN ? size : DISK_MIN;
	unsigned i;

	if (setup() < 0 || ftruncate(img_fd, 0) < 0 || lseek(img_fd, 0, SEEK_SET) < 0)
		return 0;
	if (write_all(img_fd, data, size) == 0 && ftruncate(img_fd, (off_t)disk) == 0 &&
	    imgfs_part_read(img_fd, disk, &t, &err) == 0) {
		for (i = 0; i < t.count; i++)
			if (imgfs_part_is_fat(&t.parts[i]))
				extract_fat(&t.parts[i]);
	}
	buf_release(&err);
	return 0;
}
