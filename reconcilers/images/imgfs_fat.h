/*
 * imgfs_fat: extract a FAT16/FAT32 file system from a disk image in user
 * space, with pread() only: no loop device, no mount, no privileges.
 *
 * Long file names (VFAT) are decoded from UTF-16 to UTF-8; file sizes,
 * contents and modification times are kept.  FAT stores local time with no
 * zone; bramble reads it as UTC so an extraction is the same everywhere.
 *
 * The image is untrusted.  Every cluster is used at most once in the whole
 * extraction (a visited bitmap), which stops looping and cross-linked chains;
 * clusters out of range, directories nested deeper than the limit, names
 * that are not a single path component ("/", ".", "..", NUL, bad UTF-16),
 * duplicate names and more bytes or entries than the limits allow are all
 * errors.  Files and directories are created with openat()/mkdirat()
 * relative to the target directory, O_NOFOLLOW and O_EXCL, so nothing can
 * be written outside it.
 *
 * On error the target directory holds a partial tree.  The caller must
 * extract into a fresh staging directory, and rename it into place only when
 * imgfs_fat_extract() returned 0 (remove it otherwise); a partial tree is
 * never to be used.
 */
#ifndef BRAMBLE_IMGFS_FAT_H
#define BRAMBLE_IMGFS_FAT_H

#include <stdint.h>

#include "buf.h"

#define IMGFS_FAT_DEPTH_DEFAULT	  64u
#define IMGFS_FAT_ENTRIES_DEFAULT 1000000u

struct imgfs_fat_limits {
	uint64_t max_bytes;   /* total file content; -EFBIG past it (0: no extraction of data) */
	unsigned max_depth;   /* directory nesting; 0 means IMGFS_FAT_DEPTH_DEFAULT */
	uint64_t max_entries; /* files plus directories; 0 means IMGFS_FAT_ENTRIES_DEFAULT */
};

/*
 * Extract the FAT file system that lies at byte offset of the image open at
 * img_fd, size bytes long (the partition size), into the directory dir_fd,
 * which should be empty.  Returns 0; -EINVAL for a malformed or hostile file
 * system, -EFBIG past max_bytes, -E2BIG past max_entries, -ELOOP past
 * max_depth, -EOPNOTSUPP for FAT12, or another negative errno for I/O
 * errors.  On every error a message is appended to err (which may be NULL),
 * naming the path inside the file system where it applies.
 */
int imgfs_fat_extract(int img_fd, uint64_t offset, uint64_t size, int dir_fd,
		      const struct imgfs_fat_limits *limits, struct buf *err);

#endif
