/*
 * fuzz_image: arbitrary bytes as a disk image: its partition table read,
 * and every FAT partition extracted (with small limits) into a scratch
 * directory that is removed after each input.  The image lives in a memfd.
 */
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "buf.h"
#include "fsutil.h"
#include "imgfs_fat.h"
#include "imgfs_part.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void extract_fat(int img, const struct imgfs_part *p)
{
	struct imgfs_fat_limits lim = {(uint64_t)1 << 20, 8, 256};
	char dir[] = "/tmp/bramble-fuzz-image.XXXXXX";
	int dfd;

	if (!mkdtemp(dir))
		return;
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		(void)imgfs_fat_extract(img, p->start, p->size, dfd, &lim, NULL);
		close(dfd);
	}
	dfd = open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		(void)rm_rf_at(dfd, dir + 5);
		close(dfd);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct imgfs_table t;
	struct buf err = BUF_INIT;
	unsigned i;
	int fd = memfd_create("disk.img", MFD_CLOEXEC);

	if (fd < 0)
		return 0;
	if (write_all(fd, data, size) == 0 && imgfs_part_read(fd, size, &t, &err) == 0) {
		for (i = 0; i < t.count; i++)
			if (imgfs_part_is_fat(&t.parts[i]))
				extract_fat(fd, &t.parts[i]);
	}
	buf_release(&err);
	close(fd);
	return 0;
}
