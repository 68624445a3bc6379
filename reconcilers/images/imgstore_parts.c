/*
 * imgstore_parts: which partitions of a Raspberry Pi disk image bramble
 * extracts: the FAT boot partition and the ext2/3/4 root.  The table types
 * say what a partition should hold; the first sectors say what it does.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include "imgstore_int.h"

#define EXT_MAGIC_OFF (1024u + 56u)
#define MBR_LINUX     0x83

/* 0FC63DAF-8483-4772-8E79-3D69D8477DE4 as stored on disk (mixed endian). */
static const uint8_t gpt_linux_fs[16] = {0xaf, 0x3d, 0xc6, 0x0f, 0x83, 0x84, 0x72, 0x47,
					 0x8e, 0x79, 0x3d, 0x69, 0xd8, 0x47, 0x7d, 0xe4};

int imgstore_read_exact(int fd, void *dst, size_t len, uint64_t off)
{
	ssize_t n;

	do
		n = pread(fd, dst, len, (off_t)off);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EINVAL;
}

/*
 * A FAT boot sector: a jump, a sane sector size, the 0x55AA signature, and
 * (for a GPT data partition, which may hold anything) the FAT type string.
 */
bool imgstore_holds_fat(int fd, const struct imgfs_part *p)
{
	uint8_t bs[512];
	unsigned bps;

	if (p->size < sizeof(bs) || imgstore_read_exact(fd, bs, sizeof(bs), p->start) < 0)
		return false;
	bps = (unsigned)bs[11] | (unsigned)bs[12] << 8;
	if (bs[510] != 0x55 || bs[511] != 0xaa || !(bs[0] == 0xeb || bs[0] == 0xe9))
		return false;
	if (bps < 512 || bps > 4096 || (bps & (bps - 1)) != 0)
		return false;
	return p->mbr_type != 0 || memcmp(bs + 54, "FAT", 3) == 0 || memcmp(bs + 82, "FAT", 3) == 0;
}

static bool holds_ext(int fd, const struct imgfs_part *p)
{
	uint8_t magic[2];

	if (p->size < EXT_MAGIC_OFF + 2 ||
	    imgstore_read_exact(fd, magic, 2, p->start + EXT_MAGIC_OFF) < 0)
		return false;
	return magic[0] == 0x53 && magic[1] == 0xef;
}

static bool is_linux(const struct imgfs_part *p)
{
	return p->mbr_type == MBR_LINUX || memcmp(p->gpt_type, gpt_linux_fs, 16) == 0;
}

int imgstore_find_parts(int fd, uint64_t size, struct imgfs_part *ret_boot,
			struct imgfs_part *ret_root, struct buf *err)
{
	struct imgfs_table t;
	const struct imgfs_part *boot = NULL, *root = NULL;
	unsigned i;
	int r;

	r = imgfs_part_read(fd, size, &t, err);
	if (r < 0)
		return r;
	for (i = 0; i < t.count; i++) {
		const struct imgfs_part *p = &t.parts[i];

		if (!boot && imgfs_part_is_fat(p) && imgstore_holds_fat(fd, p))
			boot = p;
		else if (!root && is_linux(p) && holds_ext(fd, p))
			root = p;
	}
	if (!boot) {
		buf_printf(err,
			   "no FAT boot partition among the %u partitions (expected MBR type "
			   "0x0c, 0x0b, 0x0e or 0x06, or a GPT basic data or EFI system "
			   "partition, holding a FAT file system)",
			   t.count);
		return -EINVAL;
	}
	if (!root) {
		buf_printf(err,
			   "no Linux root partition among the %u partitions (expected MBR type "
			   "0x83 or a GPT Linux file system partition holding an ext2/3/4 file "
			   "system)",
			   t.count);
		return -EINVAL;
	}
	*ret_boot = *boot;
	*ret_root = *root;
	return 0;
}
