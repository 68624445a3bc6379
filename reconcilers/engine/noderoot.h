/*
 * noderoot: a node's root file system as one engine resource (RES_ROOT).
 *
 * A root is a directory under the NFS root made once from an image's root
 * tree, then left alone: a private root (<nfs>/<serial>) is the node's data
 * and is never overwritten or deleted by a reconcile; a shared root
 * (<nfs>/shared/<image>) is bramble's read-only copy of the image root, kept
 * for every node of that image.
 *
 * Making a root is crash-safe: the image root is copied (reflinks where the
 * file system has them) into <nfs>/.staging/, synced, recorded, and only
 * then renamed into place, so a half-copied tree is never exported.  The
 * record (<state>/roots/<name>) says which image and generation a root was
 * made from and the inode of its directory, and is written before the rename
 * so that a crash at any point is recognised on the next pass.  A re-image
 * (a new root.generation) or a node removed from the repository moves the
 * old private root into <nfs>/.attic/ (attic.c), a rename on the same file
 * system; `bramble gc` removes attic entries past their retention.
 *
 * The resource's data is the root's description, one "key value" per line:
 *
 *	generation 2              (private roots; "shared" alone for a shared one)
 *	image raspios
 *	source raspios/root       (the image root beneath the image store)
 *	identity path:raspios@1234.1700000000   (what version of the image)
 *
 * and its digest is the digest of that text.
 */
#ifndef BRAMBLE_NODEROOT_H
#define BRAMBLE_NODEROOT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"

#define NODEROOT_STAGING    ".staging"
#define NODEROOT_ATTIC	    ".attic"
#define NODEROOT_RECORD_DIR "roots"

/* How file contents are copied into a new root (roots.copyMode). */
enum copy_mode {
	COPY_AUTO,    /* reflink (FICLONE) where the file system can, else copy */
	COPY_REFLINK, /* reflinks only: fail on a file system without them */
	COPY_PLAIN,   /* always copy the bytes (copy_file_range) */
};

/* What a tree copy did, for the benchmark and the log. */
struct copy_stats {
	uint64_t files, dirs, symlinks, hardlinks, specials, xattrs, bytes;
	uint64_t reflinked;	 /* files cloned with FICLONE */
	uint64_t skipped;	 /* sockets, or devices the process may not make */
	uint64_t xattrs_dropped; /* unsupported by the target file system */
};

/*
 * The bytes of one or more copies as they go (several threads may copy at
 * once): each adds the file bytes it has copied, a chunk or a reflinked file
 * at a time, then calls tick (may be NULL), which must be thread-safe.
 */
struct copy_watch {
	atomic_uint_least64_t bytes;
	void (*tick)(struct copy_watch *w);
};

/*
 * Copy the directory tree open at src_fd into the empty directory dst_fd,
 * keeping file types, modes (setuid/setgid/sticky included), numeric owners
 * (when the process may chown), symlinks, hard links within the tree,
 * extended attributes (security.capability is set after chown, which clears
 * it) and access/modification times.  Nothing is followed out of either
 * tree.  stats, watch and err (a message naming the path) may be NULL.
 */
int tree_copy(int src_fd, int dst_fd, enum copy_mode mode, struct copy_stats *stats,
	      struct copy_watch *watch, struct buf *err);

/*
 * The file bytes a tree_copy() of the tree open at dfd copies (a file with
 * several links inside it counted once), for a copy's total; closes dfd.
 */
int tree_bytes(int dfd, uint64_t *ret_bytes);

/* The modes' names, in enum order, NULL-terminated (roots.copyMode's values). */
extern const char *const copy_mode_names[];
/*
 * Make the root copied into root_fd forget its image's machine id: an empty
 * /etc/machine-id (systemd makes the node's own at its first boot), and
 * /var/lib/dbus/machine-id, if a file, a symlink to /etc/machine-id.
 */
int root_identity_reset(int root_fd);

/* Parse "auto", "reflink" or "copy"; -EINVAL otherwise. */
int copy_mode_parse(const char *s, enum copy_mode *ret);
const char *copy_mode_name(enum copy_mode m);

/*
 * The path of the root a managed path belongs to, as its length in path:
 * "1234abcd/etc/hostname" -> 8, "shared/img/etc/fstab" -> 10; 0 when path
 * is not inside a root.
 */
size_t noderoot_prefix(const char *path);

/* One entry of the attic. */
struct attic_entry {
	char *name;	 /* "<serial>.gen<N>.<YYYYmmddTHHMMSSZ>" */
	int64_t mtime_s; /* set to the time of the move; gc counts from it */
	bool expired;	 /* older than the retention */
};

struct attic_list {
	struct attic_entry *v; /* sorted by name */
	size_t n;
};

/*
 * Move the directory name (in nfs_fd) into the attic as
 * "<base>.gen<generation>.<UTC time>" (a rename: the attic is on the same
 * file system), mark the time of the move in its mtime, and fsync both
 * directories.  The new entry's name is appended to ret_name (may be NULL).
 */
int attic_move(int nfs_fd, const char *name, const char *base, unsigned generation,
	       struct buf *ret_name);

/* List the attic of the NFS root open at nfs_fd; entries older than retention_s are expired. */
int attic_list(int nfs_fd, int64_t now_s, int64_t retention_s, struct attic_list *ret);
void attic_list_release(struct attic_list *l);

/* Remove one attic entry (the whole tree, never following a symlink). */
int attic_remove(int nfs_fd, const char *name);

/*
 * Remove staging directories left by a pass that died (older than max_age_s
 * by their ctime).  Returns how many were removed, or a negative errno.
 */
int noderoot_clean_staging(int nfs_fd, int64_t now_s, int64_t max_age_s);

#endif
