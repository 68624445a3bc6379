/*
 * fuzz_ext4: arbitrary bytes as an ext2/3/4 file system, extracted by
 * bramble's own reader (reconcilers/images/imgfs_ext4.c, libext2fs under a
 * bounds-checked I/O channel) with small limits into a scratch directory
 * that is removed after each input.  The image lives in a memfd: the reader
 * takes a descriptor and an extent of it, as the image store gives it a
 * partition of a disk.
 */
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "buf.h"
#include "fsutil.h"
#include "imgfs_ext4.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void extract(int img, uint64_t size)
{
	struct imgfs_ext4_limits lim = {
		.max_bytes = (uint64_t)1 << 20, .max_depth = 8, .max_entries = 256};
	struct buf err = BUF_INIT;
	char dir[] = "/tmp/bramble-fuzz-ext4.XXXXXX";
	int dfd;

	if (!mkdtemp(dir))
		return;
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		(void)imgfs_ext4_extract(img, 0, size, dfd, &lim, NULL, &err);
		close(dfd);
	}
	buf_release(&err);
	dfd = open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		(void)rm_rf_at(dfd, dir + 5);
		close(dfd);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fd = memfd_create("ext4.img", MFD_CLOEXEC);

	if (fd < 0)
		return 0;
	if (write_all(fd, data, size) == 0)
		extract(fd, size);
	close(fd);
	return 0;
}
