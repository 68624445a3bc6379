/*
 * fuzz_ext4: arbitrary bytes as an ext2/3/4 file system, extracted by
 * bramble's own reader (reconcilers/images/imgfs_ext4.c, libext2fs under a
 * bounds-checked I/O channel) with small limits.  The image lives in a
 * memfd: the reader takes a descriptor and an extent of it, as the image
 * store gives it a partition of a disk.
 * Per execution, only what the reader does: the memfd is made once (emptied
 * and written again), and the extraction goes into a directory made once on
 * /dev/shm (tmpfs; fuzz_scratch.h), emptied after each input.
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
#include "imgfs_ext4.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int img_fd = -1, scratch_fd = -1;

static int setup(void)
{
	char dir[128];

	if (img_fd >= 0)
		return 0;
	scratch_fd = fuzz_scratch_dir("ext4", dir, sizeof(dir));
	img_fd = memfd_create("ext4.img", MFD_CLOEXEC);
	return scratch_fd >= 0 && img_fd >= 0 ? 0 : -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct imgfs_ext4_limits lim = {
		.max_bytes = (uint64_t)1 << 20, .max_depth = 8, .max_entries = 256};
	struct buf err = BUF_INIT;
	int dfd;

	if (setup() < 0 || ftruncate(img_fd, 0) < 0 || lseek(img_fd, 0, SEEK_SET) < 0 ||
	    write_all(img_fd, data, size) < 0 || mkdirat(scratch_fd, "x", 0700) < 0)
		return 0;
	dfd = openat(scratch_fd, "x", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		(void)imgfs_ext4_extract(img_fd, 0, size, dfd, &lim, NULL, &err);
		close(dfd);
	}
	buf_release(&err);
	(void)rm_rf_at(scratch_fd, "x");
	return 0;
}
