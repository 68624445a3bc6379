/*
 * imgfs_part: read the partition table of a disk image in user space.
 *
 * The image is read with pread() only: no loop device, no mount, no
 * privileges.  An MBR is parsed; when it holds a protective 0xEE entry the
 * GPT behind it is parsed instead (header and entry array CRCs checked).
 * Logical partitions inside an MBR extended partition are not followed: the
 * container itself is reported with its type.
 *
 * Everything read from the image is untrusted: a table with a bad signature,
 * a partition past the end of the image, overlapping partitions or absurd
 * sizes and counts is rejected with -EINVAL and a message in err.
 */
#ifndef BRAMBLE_IMGFS_PART_H
#define BRAMBLE_IMGFS_PART_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define IMGFS_SECTOR   512u
#define IMGFS_PART_MAX 128u

enum imgfs_scheme {
	IMGFS_SCHEME_MBR,
	IMGFS_SCHEME_GPT,
};

struct imgfs_part {
	unsigned number;      /* 1-based slot in the table, as Linux names it (p1, p2...) */
	uint64_t start;	      /* bytes from the start of the image */
	uint64_t size;	      /* bytes */
	uint8_t mbr_type;     /* MBR type byte (0 for GPT) */
	uint8_t gpt_type[16]; /* GPT type GUID as stored on disk (zero for MBR) */
};

struct imgfs_table {
	enum imgfs_scheme scheme;
	unsigned count;
	struct imgfs_part parts[IMGFS_PART_MAX];
};

/*
 * Read the partition table of the image open at fd, image_size bytes long.
 * On success *ret holds the partitions in table order (empty slots skipped).
 * Returns 0, -EINVAL for a bad or hostile table (with a message appended to
 * err, which may be NULL), or another negative errno for I/O errors.
 */
int imgfs_part_read(int fd, uint64_t image_size, struct imgfs_table *ret, struct buf *err);

/*
 * Read exactly len bytes at off of fd, retrying short reads and EINTR.
 * Returns 0, -ENODATA when the file ends first, or a negative errno.
 */
int imgfs_pread(int fd, void *dst, size_t len, uint64_t off);

/* True when the MBR type byte or GPT type GUID names a FAT file system. */
int imgfs_part_is_fat(const struct imgfs_part *p);

#endif
