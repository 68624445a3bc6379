/*
 * imgfs_ext4: extract an ext2/3/4 file system from a disk image in user
 * space with libext2fs: no loop device, no mount.
 *
 * Reads go through a bounds-checked I/O channel over [offset, offset+size)
 * of img_fd, so a hostile superblock cannot make it read outside the
 * partition.  Regular files (sparse holes kept as holes), directories,
 * symlinks (fast and slow), hard links (one inode, several names: linked
 * with linkat()), FIFOs, and device nodes (only when the process may mknod;
 * otherwise skipped and counted) are created with *at() calls relative to
 * dir_fd with O_NOFOLLOW/O_EXCL, so nothing is written outside it.  Modes
 * including setuid/setgid/sticky, numeric owners (when the process may
 * chown: as root), access and modification times with nanoseconds, and
 * extended attributes (security.capability, user.*, trusted.* and the POSIX
 * ACLs when permitted) are kept.
 *
 * The image is untrusted: names that are not one path component, directory
 * loops, depth, entry and byte limits, and corrupt metadata are errors.  On
 * error the target directory holds a partial tree; the caller extracts into
 * a staging directory and uses it only after a 0 return.
 */
#ifndef BRAMBLE_IMGFS_EXT4_H
#define BRAMBLE_IMGFS_EXT4_H

#include <stdint.h>

#include "buf.h"
#include "progress.h"

#define IMGFS_EXT4_DEPTH_DEFAULT   256u
#define IMGFS_EXT4_ENTRIES_DEFAULT 10000000u

struct imgfs_ext4_limits {
	uint64_t max_bytes;   /* total file sizes; -EFBIG past it (0: no limit) */
	unsigned max_depth;   /* 0: IMGFS_EXT4_DEPTH_DEFAULT; at most 1024 */
	uint64_t max_entries; /* 0: IMGFS_EXT4_ENTRIES_DEFAULT */
	/* Not a limit: where "extract" reports go after each file (the bytes
	 * of the files so far, of the file system's used blocks, an estimate);
	 * NULL: none. */
	const struct progress_cb *progress;
};

/*
 * files: regular files, FIFOs, sockets and device nodes created; hardlinks:
 * further names of them, made with linkat(); bytes: the sizes of the
 * regular files; xattrs: extended attributes set.
 */
struct imgfs_ext4_stats {
	uint64_t files, dirs, symlinks, hardlinks, devices_skipped, xattrs, bytes;
};

/*
 * Extract the file system at [offset, offset+size) of img_fd into the empty
 * directory dir_fd; the root directory's owner, mode, attributes and times
 * are given to dir_fd itself.  Returns 0, -EINVAL for a malformed or hostile
 * file system, -EFBIG/-E2BIG/-ELOOP past the limits, or another negative
 * errno; a message naming the path inside the file system is appended to
 * err (which may be NULL).  stats may be NULL; it is written on success only.
 */
int imgfs_ext4_extract(int img_fd, uint64_t offset, uint64_t size, int dir_fd,
		       const struct imgfs_ext4_limits *limits, struct imgfs_ext4_stats *stats,
		       struct buf *err);

#endif
