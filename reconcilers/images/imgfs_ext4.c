/*
 * imgfs_ext4: ext2/3/4 extraction from a disk image with libext2fs.
 *
 * libext2fs reads metadata (superblock, inodes, directories, extent trees,
 * extended attributes) through a read-only I/O channel bounded to the
 * partition; file content is copied from the image to the output with
 * copy_file_range(), one call per contiguous run of blocks, so holes stay
 * holes and the data never passes through user space.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include <ext2fs/ext2_err.h>
#include <ext2fs/ext2fs.h>

#include "fsutil.h"
#include "heartbeat.h"
#include "imgfs_ext4.h"
#include "imgfs_part.h"
#include "stop.h"

#define DEPTH_HARD_MAX	  1024u
#define NAME_BYTES_MAX	  255u
#define EXTENT_DEPTH_MAX  5
#define SYMLINK_BYTES_MAX 4095u
#define COPY_CHUNK	  ((size_t)1 << 20)
#define CFR_CHUNK	  ((size_t)16 << 20) /* a copy_file_range() call: the stop polled between */
#define BIO_PREFIX	  "bramble-img:"

/* The private state of one bounded I/O channel. */
struct bio {
	int fd;
	uint64_t offset, size;
	int past_end;  /* a read past the end of the partition was refused */
	int truncated; /* the image file ended inside the partition */
};

static struct struct_io_manager bio_manager;

/* The hard links seen so far: inode number -> path of the first name. */
struct link_slot {
	ext2_ino_t ino;
	char *path;
};

struct link_map {
	struct link_slot *slots;
	size_t cap, count;
};

struct ext4x {
	ext2_filsys fs;
	int img_fd, root_fd, is_root;
	int born_root; /* what we create is root:root already (euid 0, egid 0, dir_fd's gid 0) */
	uint64_t offset, size, blocks;
	uint64_t used; /* bytes of the blocks in use: the total "extract" reports */
	unsigned bs, inode_size;
	struct imgfs_ext4_limits lim;
	struct imgfs_ext4_stats st;
	uint64_t entries;
	uint64_t budget; /* extent and block-map entries left to visit */
	ext2fs_inode_bitmap dirs_seen;
	struct link_map links;
	uint8_t *copy_buf; /* for the pread/pwrite fallback */
	int no_cfr;	   /* copy_file_range() does not work here */
	struct buf *err;
	struct buf path;
	int failed;
};

/* One directory entry, collected before any of them is extracted. */
struct dent {
	const char *name;
	ext2_ino_t ino;
};

struct dir_list {
	struct ext4x *x;
	ext2_ino_t dir;
	struct buf names; /* NUL-separated */
	size_t *offs;
	ext2_ino_t *inos;
	size_t n, cap, seen;
	int r;
};

/* The inode of the entry being extracted, read in full (with its xattr area). */
struct node {
	ext2_ino_t ino;
	struct ext2_inode_large *in;
};

/* Record the first error with the path it applies to; return r. */
__attribute__((format(printf, 3, 4))) static int x_fail(struct ext4x *x, int r, const char *fmt,
							...)
{
	va_list ap;

	if (x->failed || x->err == NULL)
		return r;
	x->failed = 1;
	(void)buf_printf(x->err, "ext4: /%s: ", buf_str(&x->path));
	va_start(ap, fmt);
	(void)buf_vprintf(x->err, fmt, ap);
	va_end(ap);
	return r;
}

/* Map a libext2fs error code to a negative errno. */
static int ext2_errno(errcode_t e)
{
	if (e == EXT2_ET_NO_MEMORY)
		return -ENOMEM;
	if (e > 0 && e < 4096) /* an errno from the I/O channel */
		return -(int)e;
	return -EINVAL;
}

/* Record a libext2fs error: the I/O channel's own finding first, if any. */
static int x_fail_ext2(struct ext4x *x, errcode_t e, const char *what)
{
	const struct bio *b = NULL;

	if (x->fs != NULL && x->fs->io != NULL && x->fs->io->manager == &bio_manager)
		b = x->fs->io->private_data;
	if (b != NULL && b->past_end)
		return x_fail(x, -EINVAL, "%s: read past the end of the partition", what);
	if (b != NULL && b->truncated)
		return x_fail(x, -EINVAL, "%s: image is truncated", what);
	return x_fail(x, ext2_errno(e), "%s: %s", what, error_message(e));
}

/*
 * The bounded I/O manager.  libext2fs opens it by name; the name carries
 * the image fd, the partition offset and its size, so there is no global
 * state and two extractions never share a channel.
 */
static int parse_u64(const char *s, char stop, uint64_t *ret, const char **ret_end)
{
	char *end = NULL;
	unsigned long long v;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != stop)
		return -EINVAL;
	*ret = v;
	*ret_end = end;
	return 0;
}

static int bio_parse(const char *name, struct bio *b)
{
	const char *p = name + strlen(BIO_PREFIX);
	uint64_t fd;

	if (strncmp(name, BIO_PREFIX, strlen(BIO_PREFIX)) != 0)
		return -EINVAL;
	if (parse_u64(p, ':', &fd, &p) < 0 || fd > INT_MAX ||
	    parse_u64(p + 1, ':', &b->offset, &p) < 0 || parse_u64(p + 1, '\0', &b->size, &p) < 0)
		return -EINVAL;
	if (b->offset > UINT64_MAX - b->size)
		return -EINVAL;
	b->fd = (int)fd;
	return 0;
}

static errcode_t bio_open(const char *name, int flags, io_channel *channel)
{
	struct bio *b = NULL;
	io_channel ch = NULL;

	if (flags & IO_FLAG_RW)
		return EROFS;
	b = calloc(1, sizeof(*b));
	ch = calloc(1, sizeof(*ch));
	if (b == NULL || ch == NULL)
		goto nomem;
	if (bio_parse(name, b) < 0) {
		free(b);
		free(ch);
		return EXT2_ET_BAD_DEVICE_NAME;
	}
	ch->name = strdup(name);
	if (ch->name == NULL)
		goto nomem;
	ch->magic = EXT2_ET_MAGIC_IO_CHANNEL;
	ch->manager = &bio_manager;
	ch->block_size = 1024;
	ch->refcount = 1;
	ch->private_data = b;
	*channel = ch;
	return 0;
nomem:
	free(b);
	free(ch);
	return EXT2_ET_NO_MEMORY;
}

static errcode_t bio_close(io_channel ch)
{
	if (--ch->refcount > 0)
		return 0;
	free(ch->private_data);
	free(ch->name);
	free(ch);
	return 0;
}

static errcode_t bio_set_blksize(io_channel ch, int blksize)
{
	if (blksize <= 0)
		return EXT2_ET_INVALID_ARGUMENT;
	ch->block_size = blksize;
	return 0;
}

/* count < 0 means -count bytes, as in every libext2fs I/O manager. */
static errcode_t bio_read_blk64(io_channel ch, unsigned long long block, int count, void *data)
{
	struct bio *b = ch->private_data;
	uint64_t bs = (uint64_t)ch->block_size, len, off;
	int r;

	len = count < 0 ? (uint64_t)(-(int64_t)count) : (uint64_t)count * bs;
	if (block > UINT64_MAX / bs) {
		b->past_end = 1;
		return EXT2_ET_SHORT_READ;
	}
	off = block * bs;
	if (off > b->size || len > b->size - off) {
		b->past_end = 1;
		return EXT2_ET_SHORT_READ;
	}
	r = imgfs_pread(b->fd, data, (size_t)len, b->offset + off);
	if (r == -ENODATA) {
		b->truncated = 1;
		return EXT2_ET_SHORT_READ;
	}
	return r < 0 ? -r : 0;
}

static errcode_t bio_read_blk(io_channel ch, unsigned long block, int count, void *data)
{
	return bio_read_blk64(ch, block, count, data);
}

static errcode_t bio_write_blk64(io_channel ch, unsigned long long block, int count,
				 const void *data)
{
	(void)ch;
	(void)block;
	(void)count;
	(void)data;
	return EROFS;
}

static errcode_t bio_write_blk(io_channel ch, unsigned long block, int count, const void *data)
{
	return bio_write_blk64(ch, block, count, data);
}

static errcode_t bio_write_byte(io_channel ch, unsigned long offset, int count, const void *data)
{
	return bio_write_blk64(ch, offset, count, data);
}

static errcode_t bio_flush(io_channel ch)
{
	(void)ch;
	return 0;
}

static errcode_t bio_set_option(io_channel ch, const char *option, const char *arg)
{
	(void)ch;
	(void)option;
	(void)arg;
	return EXT2_ET_INVALID_ARGUMENT;
}

static struct struct_io_manager bio_manager = {
	.magic = EXT2_ET_MAGIC_IO_MANAGER,
	.name = BIO_PREFIX,
	.open = bio_open,
	.close = bio_close,
	.set_blksize = bio_set_blksize,
	.read_blk = bio_read_blk,
	.write_blk = bio_write_blk,
	.flush = bio_flush,
	.write_byte = bio_write_byte,
	.set_option = bio_set_option,
	.read_blk64 = bio_read_blk64,
	.write_blk64 = bio_write_blk64,
};

/* Hard links: an open-addressing table keyed by inode number. */
static size_t link_slot_of(const struct link_map *m, ext2_ino_t ino)
{
	size_t i = ((size_t)ino * 2654435761u) & (m->cap - 1);

	while (m->slots[i].ino != 0 && m->slots[i].ino != ino)
		i = (i + 1) & (m->cap - 1);
	return i;
}

static const char *link_find(const struct link_map *m, ext2_ino_t ino)
{
	if (m->cap == 0)
		return NULL;
	return m->slots[link_slot_of(m, ino)].path;
}

static int link_grow(struct link_map *m)
{
	struct link_map bigger = {NULL, m->cap ? m->cap * 2 : 64, m->count};

	bigger.slots = calloc(bigger.cap, sizeof(*bigger.slots));
	if (bigger.slots == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < m->cap; i++) {
		if (m->slots[i].ino != 0)
			bigger.slots[link_slot_of(&bigger, m->slots[i].ino)] = m->slots[i];
	}
	free(m->slots);
	*m = bigger;
	return 0;
}

static int link_add(struct link_map *m, ext2_ino_t ino, const char *path)
{
	size_t i;
	char *copy;
	int r;

	if ((m->count + 1) * 2 > m->cap) {
		r = link_grow(m);
		if (r < 0)
			return r;
	}
	copy = strdup(path);
	if (copy == NULL)
		return -ENOMEM;
	i = link_slot_of(m, ino);
	m->slots[i].ino = ino;
	m->slots[i].path = copy;
	m->count++;
	return 0;
}

static void link_free(struct link_map *m)
{
	for (size_t i = 0; i < m->cap; i++)
		free(m->slots[i].path);
	free(m->slots);
	m->slots = NULL;
	m->cap = m->count = 0;
}

/* Check the primary superblock ourselves, for clear messages on foreign data. */
static int sb_check(struct ext4x *x)
{
	struct ext2_super_block sb;
	uint32_t incompat, unknown;
	int r;

	if (x->size < SUPERBLOCK_OFFSET + SUPERBLOCK_SIZE)
		return x_fail(x, -EINVAL, "partition is too small for a superblock");
	r = imgfs_pread(x->img_fd, &sb, sizeof(sb), x->offset + SUPERBLOCK_OFFSET);
	if (r == -ENODATA)
		return x_fail(x, -EINVAL, "image is truncated before the superblock");
	if (r < 0)
		return x_fail(x, r, "cannot read the superblock: %s", strerror(-r));
	if (le16toh(sb.s_magic) != EXT2_SUPER_MAGIC)
		return x_fail(x, -EINVAL, "bad superblock magic: not an ext2/3/4 file system");
	incompat = le32toh(sb.s_feature_incompat);
	unknown = incompat & ~(uint32_t)EXT2_LIB_FEATURE_INCOMPAT_SUPP;
	if (unknown != 0)
		return x_fail(x, -EINVAL, "unsupported incompatible features 0x%x", unknown);
	if (incompat & EXT3_FEATURE_INCOMPAT_JOURNAL_DEV)
		return x_fail(x, -EINVAL, "an external journal device, not a file system");
	return 0;
}

/* Open the file system read-only through the bounded channel. */
static int fs_open(struct ext4x *x)
{
	struct buf name = BUF_INIT;
	errcode_t e;
	int r;

	r = buf_printf(&name, "%s%d:%llu:%llu", BIO_PREFIX, x->img_fd,
		       (unsigned long long)x->offset, (unsigned long long)x->size);
	if (r < 0)
		return x_fail(x, r, "out of memory");
	e = ext2fs_open2(buf_str(&name), NULL, EXT2_FLAG_64BITS | EXT2_FLAG_NOFREE_ON_ERROR, 0, 0,
			 &bio_manager, &x->fs);
	buf_release(&name);
	if (e != 0)
		return x_fail_ext2(x, e, "cannot open the file system");
	x->bs = x->fs->blocksize;
	x->blocks = ext2fs_blocks_count(x->fs->super);
	if (ext2fs_free_blocks_count(x->fs->super) <= x->blocks)
		x->used = (x->blocks - ext2fs_free_blocks_count(x->fs->super)) * x->bs;
	x->inode_size = EXT2_INODE_SIZE(x->fs->super);
	if (x->blocks > x->size / x->bs)
		return x_fail(x, -EINVAL,
			      "file system (%llu blocks of %u bytes) extends past the end of the "
			      "partition (%llu bytes)",
			      (unsigned long long)x->blocks, x->bs, (unsigned long long)x->size);
	x->budget = 4 * x->blocks + 4 * (uint64_t)x->fs->super->s_inodes_count;
	if (x->inode_size < EXT2_GOOD_OLD_INODE_SIZE)
		return x_fail(x, -EINVAL, "absurd inode size %u", x->inode_size);
	e = ext2fs_allocate_inode_bitmap(x->fs, "directories seen", &x->dirs_seen);
	if (e != 0)
		return x_fail_ext2(x, e, "cannot allocate a bitmap");
	return 0;
}

/* Read inode ino in full (the xattr area included) into a new buffer. */
static int node_read(struct ext4x *x, ext2_ino_t ino, struct node *ret)
{
	size_t len = x->inode_size;
	struct ext2_inode_large *in;
	errcode_t e;

	if (len < sizeof(*in))
		len = sizeof(*in);
	in = calloc(1, len);
	if (in == NULL)
		return x_fail(x, -ENOMEM, "out of memory");
	e = ext2fs_read_inode_full(x->fs, ino, (struct ext2_inode *)in, x->inode_size);
	if (e != 0) {
		free(in);
		return x_fail_ext2(x, e, "cannot read inode");
	}
	if (in->i_links_count == 0) {
		free(in);
		return x_fail(x, -EINVAL, "entry points at deleted inode %u", ino);
	}
	if (in->i_flags & EXT4_ENCRYPT_FL) {
		free(in);
		return x_fail(x, -EOPNOTSUPP, "encrypted inode %u is not supported", ino);
	}
	ret->ino = ino;
	ret->in = in;
	return 0;
}

/* Whether the valid extra fields of the large inode reach byte end of it. */
static int has_extra(const struct ext4x *x, const struct node *n, size_t end)
{
	size_t extra = n->in->i_extra_isize;

	if (x->inode_size <= EXT2_GOOD_OLD_INODE_SIZE ||
	    extra > x->inode_size - EXT2_GOOD_OLD_INODE_SIZE)
		return 0;
	return EXT2_GOOD_OLD_INODE_SIZE + extra >= end;
}

static struct timespec inode_time(int extra_ok, uint32_t lo, uint32_t extra)
{
	struct timespec ts = {(time_t)(int32_t)lo, 0};

	if (extra_ok) {
		ts.tv_sec += (time_t)((int64_t)(extra & EXT4_EPOCH_MASK) << 32);
		ts.tv_nsec = (long)(extra >> EXT4_EPOCH_BITS);
		if (ts.tv_nsec > 999999999)
			ts.tv_nsec = 0;
	}
	return ts;
}

#define FIELD_END(f) \
	(offsetof(struct ext2_inode_large, f) + sizeof(((struct ext2_inode_large *)0)->f))

/* Set atime and mtime with nanoseconds, on fd or on name in dfd (not followed). */
static int meta_times(struct ext4x *x, int fd, int dfd, const char *name, const struct node *n)
{
	struct timespec ts[2];

	ts[0] = inode_time(has_extra(x, n, FIELD_END(i_atime_extra)), n->in->i_atime,
			   n->in->i_atime_extra);
	ts[1] = inode_time(has_extra(x, n, FIELD_END(i_mtime_extra)), n->in->i_mtime,
			   n->in->i_mtime_extra);
	if (fd >= 0 ? futimens(fd, ts) : utimensat(dfd, name, ts, AT_SYMLINK_NOFOLLOW))
		return x_fail(x, -errno, "cannot set times: %s", strerror(errno));
	return 0;
}

/* Owner (as root only) then mode: chown clears setuid, so chmod comes after. */
static int meta_owner_mode(struct ext4x *x, int fd, int dfd, const char *name, const struct node *n)
{
	const struct ext2_inode_large *in = n->in;
	uid_t uid = in->i_uid | (uid_t)in->osd2.linux2.l_i_uid_high << 16;
	gid_t gid = in->i_gid | (gid_t)in->osd2.linux2.l_i_gid_high << 16;
	mode_t mode = in->i_mode & 07777;
	int r;

	/* Most of a root file system is root:root: no need to say it again. */
	if (x->is_root && !(x->born_root && uid == 0 && gid == 0 && fd != x->root_fd)) {
		r = fd >= 0 ? fchown(fd, uid, gid)
			    : fchownat(dfd, name, uid, gid, AT_SYMLINK_NOFOLLOW);
		if (r < 0)
			return x_fail(x, -errno, "cannot chown to %u:%u: %s", (unsigned)uid,
				      (unsigned)gid, strerror(errno));
	}
	if (LINUX_S_ISLNK(in->i_mode))
		return 0;
	r = fd >= 0 ? fchmod(fd, mode) : fchmodat(dfd, name, mode, 0);
	if (r < 0)
		return x_fail(x, -errno, "cannot chmod to %04o: %s", (unsigned)mode,
			      strerror(errno));
	return 0;
}

struct xattr_ctx {
	struct ext4x *x;
	struct ext2_xattr_handle *h;
	int fd;		  /* or -1: use proc */
	const char *proc; /* /proc/self/fd/<dfd>/<name>, for lsetxattr */
	int user_ok;	  /* user.* is allowed on this file type */
	int r;
};

/* Which attributes are restored: the name spaces the kernel lets us set. */
static int xattr_wanted(const char *name, int user_ok)
{
	if (strncmp(name, "user.", 5) == 0)
		return user_ok;
	return strncmp(name, "trusted.", 8) == 0 || strncmp(name, "security.", 9) == 0 ||
	       strcmp(name, "system.posix_acl_access") == 0 ||
	       strcmp(name, "system.posix_acl_default") == 0;
}

static int xattr_set(struct xattr_ctx *c, const char *name, const void *v, size_t len)
{
	int r = c->fd >= 0 ? fsetxattr(c->fd, name, v, len, 0)
			   : lsetxattr(c->proc, name, v, len, 0);

	if (r == 0) {
		c->x->st.xattrs++;
		return 0;
	}
	/* Without privileges, trusted.* and security.* are not ours to set. */
	if (!c->x->is_root && (errno == EPERM || errno == ENOTSUP))
		return 0;
	return x_fail(c->x, -errno, "cannot set extended attribute \"%s\": %s", name,
		      strerror(errno));
}

/*
 * Values are passed through byte for byte (security.capability must stay
 * exact), except the POSIX ACLs, which ext4 stores in its own compact form:
 * ext2fs_xattr_get() translates those to the form setxattr() takes.
 */
static int xattr_one(char *name, char *value, size_t value_len, void *data)
{
	struct xattr_ctx *c = data;
	void *acl = NULL;
	size_t acl_len = 0;
	errcode_t e;

	if (!xattr_wanted(name, c->user_ok))
		return 0;
	if (strncmp(name, "system.posix_acl_", 17) != 0) {
		c->r = xattr_set(c, name, value, value_len);
		return c->r < 0 ? XATTR_ABORT : 0;
	}
	e = ext2fs_xattr_get(c->h, name, &acl, &acl_len);
	if (e != 0) {
		c->r = x_fail_ext2(c->x, e, "cannot read the access control list");
		return XATTR_ABORT;
	}
	c->r = xattr_set(c, name, acl, acl_len);
	ext2fs_free_mem(&acl);
	return c->r < 0 ? XATTR_ABORT : 0;
}

/* Whether the inode holds any extended attribute (in its body or a block). */
static int has_xattrs(const struct ext4x *x, const struct node *n)
{
	size_t at = EXT2_GOOD_OLD_INODE_SIZE + n->in->i_extra_isize;
	uint32_t magic;

	if (ext2fs_file_acl_block(x->fs, (struct ext2_inode *)n->in) != 0)
		return 1;
	if (!has_extra(x, n, 0) || at + sizeof(magic) > x->inode_size)
		return 0;
	memcpy(&magic, (const uint8_t *)n->in + at, sizeof(magic));
	return le32toh(magic) == EXT2_EXT_ATTR_MAGIC;
}

/* Copy the extended attributes to fd, or to name in dfd (not followed). */
static int meta_xattrs(struct ext4x *x, int fd, int dfd, const char *name, const struct node *n)
{
	struct xattr_ctx c = {x, NULL, fd, NULL, 0, 0};
	struct buf proc = BUF_INIT;
	errcode_t e;

	if (!ext2fs_has_feature_xattr(x->fs->super) || !has_xattrs(x, n))
		return 0;
	c.user_ok = LINUX_S_ISREG(n->in->i_mode) || LINUX_S_ISDIR(n->in->i_mode);
	if (fd < 0) {
		if (buf_printf(&proc, "/proc/self/fd/%d/%s", dfd, name) < 0)
			return x_fail(x, -ENOMEM, "out of memory");
		c.proc = buf_str(&proc);
	}
	e = ext2fs_xattrs_open(x->fs, n->ino, &c.h);
	if (e == 0)
		e = ext2fs_xattrs_read_inode(c.h, n->in);
	if (e == 0)
		e = ext2fs_xattrs_iterate(c.h, xattr_one, &c);
	if (e != 0 && c.r == 0)
		c.r = x_fail_ext2(x, e, "cannot read extended attributes");
	if (c.h != NULL)
		(void)ext2fs_xattrs_close(&c.h);
	buf_release(&proc);
	return c.r;
}

/* Metadata, after the content: owner, mode, extended attributes, times. */
static int meta_apply(struct ext4x *x, int fd, int dfd, const char *name, const struct node *n)
{
	int r = meta_owner_mode(x, fd, dfd, name, n);

	if (r == 0)
		r = meta_xattrs(x, fd, dfd, name, n);
	if (r == 0)
		r = meta_times(x, fd, dfd, name, n);
	return r;
}

/* Copy len bytes at src of the image to dst of fd with read and write. */
static int copy_slow(struct ext4x *x, int fd, uint64_t src, uint64_t dst, uint64_t len)
{
	if (x->copy_buf == NULL) {
		x->copy_buf = malloc(COPY_CHUNK);
		if (x->copy_buf == NULL)
			return x_fail(x, -ENOMEM, "out of memory");
	}
	while (len > 0) {
		size_t n = len < COPY_CHUNK ? (size_t)len : COPY_CHUNK;
		int r;

		if (stop_requested())
			return x_fail(x, -ECANCELED,
				      "the extraction stopped (bramble is stopping)");
		r = imgfs_pread(x->img_fd, x->copy_buf, n, src);

		if (r == -ENODATA)
			return x_fail(x, -EINVAL, "image is truncated");
		if (r < 0)
			return x_fail(x, r, "cannot read the image: %s", strerror(-r));
		for (size_t done = 0; done < n;) {
			ssize_t w = pwrite(fd, x->copy_buf + done, n - done, (off_t)(dst + done));

			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0)
				return x_fail(x, -errno, "cannot write: %s", strerror(errno));
			done += (size_t)w;
		}
		src += n;
		dst += n;
		len -= n;
	}
	return 0;
}

/* Copy len bytes at src of the image to dst of fd, in the kernel when it can. */
static int copy_range(struct ext4x *x, int fd, uint64_t src, uint64_t dst, uint64_t len)
{
	while (len > 0 && !x->no_cfr) {
		loff_t in = (loff_t)src, out = (loff_t)dst;
		size_t want = len < CFR_CHUNK ? (size_t)len : CFR_CHUNK;
		ssize_t n;

		if (stop_requested()) /* a large file stops too, not only between entries */
			return x_fail(x, -ECANCELED,
				      "the extraction stopped (bramble is stopping)");
		n = copy_file_range(x->img_fd, &in, fd, &out, want, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EXDEV || errno == EINVAL || errno == ENOSYS ||
			      errno == EOPNOTSUPP || errno == EBADF)) {
			x->no_cfr = 1;
			break;
		}
		if (n < 0)
			return x_fail(x, -errno, "cannot copy: %s", strerror(errno));
		if (n == 0)
			return x_fail(x, -EINVAL, "image is truncated");
		src += (uint64_t)n;
		dst += (uint64_t)n;
		len -= (uint64_t)n;
	}
	return len > 0 ? copy_slow(x, fd, src, dst, len) : 0;
}

/* A run of blocks of one file: logical start, physical start, length. */
struct run {
	uint64_t lblk, pblk, len;
};

/* Report "extract": the files done, and in_file bytes of the one being copied. */
static void progress_at(const struct ext4x *x, uint64_t in_file)
{
	struct progress p = {.step = "extract", .estimate = true};

	p.done = x->st.bytes + in_file;
	p.total = x->used;
	progress_report(x->lim.progress, &p);
}

/* Copy one run to fd, clipped to the file size; *end is the last byte written. */
static int run_copy(struct ext4x *x, int fd, const struct run *run, uint64_t size, uint64_t *end)
{
	uint64_t first = x->fs->super->s_first_data_block, off, n;
	int r;

	if (run->len == 0)
		return 0;
	if (run->pblk < first || run->pblk == 0 || run->pblk >= x->blocks ||
	    run->len > x->blocks - run->pblk)
		return x_fail(x, -EINVAL, "data block %llu (+%llu) is outside the file system",
			      (unsigned long long)run->pblk, (unsigned long long)run->len);
	if (run->lblk > UINT64_MAX / x->bs || run->lblk * x->bs >= size)
		return 0; /* blocks past the end of the file (preallocated) */
	heartbeat();
	off = run->lblk * x->bs;
	n = run->len * x->bs;
	if (n > size - off)
		n = size - off;
	if (off + n > *end)
		*end = off + n;
	r = copy_range(x, fd, x->offset + run->pblk * x->bs, off, n);
	if (r == 0)
		progress_at(x, *end);
	return r;
}

/*
 * Every extent and block-map entry visited costs one unit of a budget that
 * a sane file system never exhausts (each entry maps blocks of its own); a
 * hostile tree whose index blocks all point at the same child would
 * otherwise be walked billions of times.
 */
static int budget_charge(struct ext4x *x, uint64_t n)
{
	if (n > x->budget)
		return x_fail(x, -EINVAL,
			      "more extent or block-map entries than the file system "
			      "can hold");
	x->budget -= n;
	return 0;
}

typedef int (*extent_fn)(struct ext4x *x, const struct ext2fs_extent *e, void *data);

/*
 * Call fn for each leaf extent of an extent-mapped inode, in logical order.
 * Leaves must not be empty, go backwards or overlap: that also stops a tree
 * that points back into itself from mapping the same blocks again.
 */
static int extent_walk(struct ext4x *x, const struct node *n, extent_fn fn, void *data)
{
	ext2_extent_handle_t h = NULL;
	struct ext2_extent_info info;
	struct ext2fs_extent e;
	uint64_t next = 0;
	int op = EXT2_EXTENT_ROOT, r = 0;
	errcode_t err;

	err = ext2fs_extent_open2(x->fs, n->ino, (struct ext2_inode *)n->in, &h);
	if (err == 0)
		err = ext2fs_extent_get_info(h, &info);
	if (err == 0 && info.max_depth > EXTENT_DEPTH_MAX)
		r = x_fail(x, -EINVAL, "extent tree is %d levels deep", info.max_depth);
	while (err == 0 && r == 0) {
		err = ext2fs_extent_get(h, op, &e);
		op = EXT2_EXTENT_NEXT;
		if (err == 0)
			r = budget_charge(x, 1);
		if (err != 0 || r < 0 || !(e.e_flags & EXT2_EXTENT_FLAGS_LEAF))
			continue;
		if (e.e_len == 0)
			r = x_fail(x, -EINVAL, "empty extent at logical block %llu",
				   (unsigned long long)e.e_lblk);
		else if (e.e_lblk < next)
			r = x_fail(x, -EINVAL, "extents overlap at logical block %llu",
				   (unsigned long long)e.e_lblk);
		next = e.e_lblk + e.e_len;
		if (r == 0)
			r = fn(x, &e, data);
	}
	if (h != NULL)
		ext2fs_extent_free(h);
	if (r == 0 && err != 0 && err != EXT2_ET_EXTENT_NO_NEXT)
		r = x_fail_ext2(x, err, "bad extent tree");
	return r;
}

struct copy_ctx {
	int fd;
	uint64_t size, *end;
};

/* Uninitialised extents read as zeros: they stay holes. */
static int extent_copy(struct ext4x *x, const struct ext2fs_extent *e, void *data)
{
	const struct copy_ctx *c = data;

	if (e->e_flags & EXT2_EXTENT_FLAGS_UNINIT)
		return 0;
	return run_copy(x, c->fd, &(struct run){e->e_lblk, e->e_pblk, e->e_len}, c->size, c->end);
}

static int extents_copy(struct ext4x *x, int fd, const struct node *n, uint64_t size, uint64_t *end)
{
	struct copy_ctx c = {fd, size, end};

	return extent_walk(x, n, extent_copy, &c);
}

struct blockmap_ctx {
	struct ext4x *x;
	int fd;
	uint64_t size, *end;
	struct run run;
	int r;
};

/* Gather the blocks of an ext2/ext3 block map into runs, copying each run. */
static int blockmap_one(ext2_filsys fs, blk64_t *blocknr, e2_blkcnt_t blockcnt, blk64_t ref_blk,
			int ref_offset, void *data)
{
	struct blockmap_ctx *c = data;
	struct run *run = &c->run;

	(void)fs;
	(void)ref_blk;
	(void)ref_offset;
	if (blockcnt < 0) { /* an indirect block */
		c->r = budget_charge(c->x, 1);
		return c->r < 0 ? BLOCK_ABORT : 0;
	}
	if ((uint64_t)blockcnt >= c->size / c->x->bs + (c->size % c->x->bs != 0))
		return BLOCK_ABORT; /* past the end of the file: done */
	if (run->len > 0 && *blocknr == run->pblk + run->len &&
	    (uint64_t)blockcnt == run->lblk + run->len) {
		run->len++;
		return 0;
	}
	c->r = run_copy(c->x, c->fd, run, c->size, c->end);
	*run = (struct run){(uint64_t)blockcnt, *blocknr, 1};
	return c->r < 0 ? BLOCK_ABORT : 0;
}

static int blockmap_copy(struct ext4x *x, int fd, const struct node *n, uint64_t size,
			 uint64_t *end)
{
	struct blockmap_ctx c = {x, fd, size, end, {0, 0, 0}, 0};
	errcode_t e;

	e = ext2fs_block_iterate3(x->fs, n->ino, BLOCK_FLAG_READ_ONLY, NULL, blockmap_one, &c);
	if (c.r < 0)
		return c.r;
	if (e != 0)
		return x_fail_ext2(x, e, "bad block map");
	return run_copy(x, fd, &c.run, size, end);
}

/* Inline data: the content lives in the inode and its system.data attribute. */
static int inline_copy(struct ext4x *x, int fd, const struct node *n, uint64_t size, uint64_t *end)
{
	size_t len = 0;
	char *data = NULL;
	errcode_t e;
	int r;

	e = ext2fs_inline_data_size(x->fs, n->ino, &len);
	if (e != 0)
		return x_fail_ext2(x, e, "bad inline data");
	if (size > len)
		return x_fail(x, -EINVAL, "file size %llu exceeds its inline data (%zu bytes)",
			      (unsigned long long)size, len);
	data = malloc(len);
	if (data == NULL)
		return x_fail(x, -ENOMEM, "out of memory");
	e = ext2fs_inline_data_get(x->fs, n->ino, (struct ext2_inode *)n->in, data, &len);
	if (e != 0)
		r = x_fail_ext2(x, e, "bad inline data");
	else if (size > len)
		r = x_fail(x, -EINVAL, "inline data changed size");
	else
		r = write_all(fd, data, (size_t)size);
	if (r < 0)
		r = x_fail(x, r, "cannot write: %s", strerror(-r));
	free(data);
	*end = size;
	return r;
}

/* Create a regular file and copy its content; holes stay holes. */
static int file_extract(struct ext4x *x, int dfd, const char *name, const struct node *n)
{
	uint64_t size = EXT2_I_SIZE(n->in), end = 0;
	uint32_t flags = n->in->i_flags;
	int fd = -1, r;

	if (x->lim.max_bytes != 0 && size > x->lim.max_bytes - x->st.bytes)
		return x_fail(x, -EFBIG, "extraction exceeds the limit of %llu bytes",
			      (unsigned long long)x->lim.max_bytes);
	if (size > (uint64_t)INT64_MAX)
		return x_fail(x, -EFBIG, "absurd file size %llu", (unsigned long long)size);
	if ((flags & EXT4_INLINE_DATA_FL) && (flags & EXT4_EXTENTS_FL))
		return x_fail(x, -EINVAL, "inode has both inline data and extents");
	fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return x_fail(x, -errno, "cannot create: %s", strerror(errno));
	if (flags & EXT4_INLINE_DATA_FL)
		r = inline_copy(x, fd, n, size, &end);
	else if (flags & EXT4_EXTENTS_FL)
		r = extents_copy(x, fd, n, size, &end);
	else
		r = blockmap_copy(x, fd, n, size, &end);
	if (r == 0 && end < size && ftruncate(fd, (off_t)size) < 0)
		r = x_fail(x, -errno, "cannot set the size: %s", strerror(errno));
	if (r == 0)
		r = meta_apply(x, fd, dfd, name, n);
	/* A write-back error shows at close at the latest: the file is not what was read. */
	if (close(fd) < 0 && r == 0)
		r = x_fail(x, -errno, "cannot write: %s", strerror(errno));
	if (r == 0) {
		x->st.files++;
		x->st.bytes += size;
		progress_at(x, 0);
	}
	return r;
}

/* The target of a symlink: in i_block (fast), in inline data or in a block. */
static int symlink_target(struct ext4x *x, const struct node *n, char *target)
{
	uint64_t size = EXT2_I_SIZE(n->in);
	ext2_file_t file = NULL;
	unsigned got = 0;
	errcode_t e;

	if (size == 0 || size > SYMLINK_BYTES_MAX)
		return x_fail(x, -EINVAL, "symlink target of %llu bytes", (unsigned long long)size);
	if (!(n->in->i_flags & EXT4_INLINE_DATA_FL) &&
	    !ext2fs_inode_has_valid_blocks2(x->fs, (struct ext2_inode *)n->in)) {
		if (size >= sizeof(n->in->i_block))
			return x_fail(x, -EINVAL, "fast symlink target is too long");
		memcpy(target, n->in->i_block, (size_t)size);
	} else {
		e = ext2fs_file_open2(x->fs, n->ino, (struct ext2_inode *)n->in, 0, &file);
		if (e == 0)
			e = ext2fs_file_read(file, target, (unsigned)size, &got);
		if (file != NULL)
			(void)ext2fs_file_close(file);
		if (e != 0)
			return x_fail_ext2(x, e, "cannot read symlink target");
		if (got != size)
			return x_fail(x, -EINVAL, "symlink target is shorter than its size");
	}
	target[size] = '\0';
	if (strlen(target) != size)
		return x_fail(x, -EINVAL, "symlink target holds a NUL byte");
	return 0;
}

static int symlink_extract(struct ext4x *x, int dfd, const char *name, const struct node *n)
{
	char target[SYMLINK_BYTES_MAX + 1];
	int r = symlink_target(x, n, target);

	if (r < 0)
		return r;
	if (symlinkat(target, dfd, name) < 0)
		return x_fail(x, -errno, "cannot create symlink: %s", strerror(errno));
	r = meta_apply(x, -1, dfd, name, n);
	if (r == 0)
		x->st.symlinks++;
	return r;
}

/* The device number: old encoding in i_block[0], new one in i_block[1]. */
static dev_t inode_rdev(const struct ext2_inode_large *in)
{
	uint32_t old = le32toh(in->i_block[0]), v = le32toh(in->i_block[1]);

	if (old != 0)
		return makedev((old >> 8) & 0xff, old & 0xff);
	return makedev((v & 0xfff00) >> 8, (v & 0xff) | ((v >> 12) & 0xfff00));
}

/* FIFOs, sockets and device nodes; devices need privileges: skip without. */
static int special_extract(struct ext4x *x, int dfd, const char *name, const struct node *n)
{
	uint16_t m = n->in->i_mode;
	int r;

	if (LINUX_S_ISFIFO(m))
		r = mkfifoat(dfd, name, 0600);
	else if (LINUX_S_ISSOCK(m))
		r = mknodat(dfd, name, S_IFSOCK | 0600, 0);
	else
		r = mknodat(dfd, name, (LINUX_S_ISCHR(m) ? S_IFCHR : S_IFBLK) | 0600,
			    inode_rdev(n->in));
	if (r < 0 && errno == EPERM && (LINUX_S_ISCHR(m) || LINUX_S_ISBLK(m))) {
		x->st.devices_skipped++;
		return 1;
	}
	if (r < 0)
		return x_fail(x, -errno, "cannot create: %s", strerror(errno));
	r = meta_apply(x, -1, dfd, name, n);
	if (r == 0)
		x->st.files++;
	return r;
}

/* A later name of an inode already extracted: link it to the first name. */
static int hardlink_extract(struct ext4x *x, int dfd, const char *name, const char *first)
{
	const char *last = NULL;
	int pfd = -1, r;

	r = parent_open_beneath(x->root_fd, first, false, &pfd, &last);
	if (r < 0)
		return x_fail(x, r, "cannot open the directory of \"/%s\": %s", first,
			      strerror(-r));
	if (linkat(pfd, last, dfd, name, 0) < 0)
		r = x_fail(x, -errno, "cannot link to \"/%s\": %s", first, strerror(errno));
	else
		x->st.hardlinks++;
	close(pfd);
	return r;
}

/* Any entry that is not a directory, hard links included. */
static int nondir_extract(struct ext4x *x, int dfd, const char *name, const struct node *n)
{
	uint16_t m = n->in->i_mode;
	const char *first = NULL;
	int r;

	if (n->in->i_links_count > 1)
		first = link_find(&x->links, n->ino);
	if (first != NULL)
		return hardlink_extract(x, dfd, name, first);
	if (LINUX_S_ISREG(m))
		r = file_extract(x, dfd, name, n);
	else if (LINUX_S_ISLNK(m))
		r = symlink_extract(x, dfd, name, n);
	else if (LINUX_S_ISCHR(m) || LINUX_S_ISBLK(m) || LINUX_S_ISFIFO(m) || LINUX_S_ISSOCK(m))
		r = special_extract(x, dfd, name, n);
	else
		return x_fail(x, -EINVAL, "unknown file type %06o", (unsigned)m);
	if (r == 0 && n->in->i_links_count > 1) {
		r = link_add(&x->links, n->ino, buf_str(&x->path));
		if (r < 0)
			return x_fail(x, r, "out of memory");
	}
	return r > 0 ? 0 : r;
}

static int dir_extract(struct ext4x *x, int dfd, ext2_ino_t ino, unsigned depth);

/* Directory blocks cost the budget too: dir_iterate reads each of them. */
static int extent_charge(struct ext4x *x, const struct ext2fs_extent *e, void *data)
{
	(void)data;
	return budget_charge(x, e->e_len);
}

struct charge_ctx {
	struct ext4x *x;
	int r;
};

static int block_charge(ext2_filsys fs, blk64_t *blocknr, e2_blkcnt_t blockcnt, blk64_t ref_blk,
			int ref_offset, void *data)
{
	struct charge_ctx *c = data;

	(void)fs;
	(void)blocknr;
	(void)blockcnt;
	(void)ref_blk;
	(void)ref_offset;
	c->r = budget_charge(c->x, 1);
	return c->r < 0 ? BLOCK_ABORT : 0;
}

/* Walk a directory's extent tree or block map before dir_iterate does. */
static int dir_check_blocks(struct ext4x *x, const struct node *n)
{
	struct charge_ctx c = {x, 0};
	errcode_t e;

	if (n->in->i_flags & EXT4_INLINE_DATA_FL)
		return 0;
	if (n->in->i_flags & EXT4_EXTENTS_FL)
		return extent_walk(x, n, extent_charge, NULL);
	e = ext2fs_block_iterate3(x->fs, n->ino, BLOCK_FLAG_READ_ONLY, NULL, block_charge, &c);
	if (c.r < 0)
		return c.r;
	if (e != 0)
		return x_fail_ext2(x, e, "bad block map");
	return 0;
}

/* A directory inode may be entered once: a second visit is a loop. */
static int dir_enter(struct ext4x *x, ext2_ino_t ino)
{
	if (ext2fs_test_inode_bitmap2(x->dirs_seen, ino))
		return x_fail(x, -EINVAL, "directory loop: inode %u is reached twice", ino);
	ext2fs_mark_inode_bitmap2(x->dirs_seen, ino);
	return 0;
}

/* Create the directory, extract its entries, then set its metadata (post-order). */
static int subdir_extract(struct ext4x *x, int dfd, const char *name, const struct node *n,
			  unsigned depth)
{
	int fd = -1, r;

	if (depth + 1 > x->lim.max_depth)
		return x_fail(x, -ELOOP, "directories nested deeper than %u", x->lim.max_depth);
	r = dir_enter(x, n->ino);
	if (r == 0)
		r = dir_check_blocks(x, n);
	if (r < 0)
		return r;
	if (mkdirat(dfd, name, 0700) < 0)
		return x_fail(x, -errno, "cannot create directory: %s", strerror(errno));
	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return x_fail(x, -errno, "cannot open directory: %s", strerror(errno));
	r = dir_extract(x, fd, n->ino, depth + 1);
	if (r == 0)
		r = meta_apply(x, fd, dfd, name, n);
	close(fd);
	if (r == 0)
		x->st.dirs++;
	return r;
}

/* Extract one entry of a directory; x->path names it. */
static int entry_extract(struct ext4x *x, int dfd, const struct dent *d, unsigned depth)
{
	struct node n = {0, NULL};
	int r;

	if (stop_requested()) /* the daemon's SIGTERM: the staging is removed next time */
		return x_fail(x, -ECANCELED, "the extraction stopped (bramble is stopping)");
	r = node_read(x, d->ino, &n);
	if (r < 0)
		return r;
	if (LINUX_S_ISDIR(n.in->i_mode))
		r = subdir_extract(x, dfd, d->name, &n, depth);
	else
		r = nondir_extract(x, dfd, d->name, &n);
	free(n.in);
	return r;
}

/* A name must be one path component: "." and ".." only as a directory's own. */
static int dent_check(struct dir_list *l, const char *name, size_t len, ext2_ino_t ino)
{
	struct ext4x *x = l->x;
	size_t nth = l->seen++;

	if (len == 1 && name[0] == '.') {
		if (nth != 0 || ino != l->dir)
			return x_fail(x, -EINVAL, "misplaced \".\" entry");
		return 1;
	}
	if (len == 2 && name[0] == '.' && name[1] == '.') {
		if (nth != 1)
			return x_fail(x, -EINVAL, "misplaced \"..\" entry");
		return 1;
	}
	if (len == 0 || memchr(name, '/', len) != NULL || memchr(name, '\0', len) != NULL)
		return x_fail(x, -EINVAL, "bad file name in directory (inode %u)", ino);
	if (ino > x->fs->super->s_inodes_count ||
	    (ino < EXT2_FIRST_INO(x->fs->super) && ino != EXT2_ROOT_INO))
		return x_fail(x, -EINVAL, "entry points at bad or reserved inode %u", ino);
	if (++x->entries > x->lim.max_entries)
		return x_fail(x, -E2BIG, "more than %llu entries",
			      (unsigned long long)x->lim.max_entries);
	return 0;
}

/* Make room for one more entry in both arrays. */
static int dent_grow(struct dir_list *l)
{
	size_t cap = l->cap ? l->cap * 2 : 32;
	size_t *offs = NULL;
	ext2_ino_t *inos = NULL;

	offs = realloc(l->offs, cap * sizeof(*offs));
	if (offs == NULL)
		return -ENOMEM;
	l->offs = offs;
	inos = realloc(l->inos, cap * sizeof(*inos));
	if (inos == NULL)
		return -ENOMEM;
	l->inos = inos;
	l->cap = cap;
	return 0;
}

static int dent_add(struct dir_list *l, const char *name, size_t len, ext2_ino_t ino)
{
	if (l->n == l->cap && dent_grow(l) < 0)
		return x_fail(l->x, -ENOMEM, "out of memory");
	l->offs[l->n] = l->names.len;
	l->inos[l->n] = ino;
	if (buf_add(&l->names, name, len) < 0 || buf_addch(&l->names, '\0') < 0)
		return x_fail(l->x, -ENOMEM, "out of memory");
	l->n++;
	return 0;
}

static int dent_collect(ext2_ino_t dir, int entry, struct ext2_dir_entry *dirent, int offset,
			int blocksize, char *block, void *data)
{
	struct dir_list *l = data;
	size_t len = (size_t)ext2fs_dirent_name_len(dirent);
	int r;

	(void)dir;
	(void)entry;
	(void)offset;
	(void)blocksize;
	(void)block;
	r = dent_check(l, dirent->name, len, dirent->inode);
	if (r == 0)
		r = dent_add(l, dirent->name, len, dirent->inode);
	if (r < 0) {
		l->r = r;
		return DIRENT_ABORT;
	}
	return 0;
}

static int dent_by_name(const void *a, const void *b)
{
	return strcmp(((const struct dent *)a)->name, ((const struct dent *)b)->name);
}

/* Inode order reads the inode tables and the data mostly front to back. */
static int dent_by_ino(const void *a, const void *b)
{
	ext2_ino_t ia = ((const struct dent *)a)->ino, ib = ((const struct dent *)b)->ino;

	return ia < ib ? -1 : ia > ib;
}

static void dir_list_release(struct dir_list *l)
{
	buf_release(&l->names);
	free(l->offs);
	free(l->inos);
}

/* Read a whole directory into an array sorted by inode; duplicate names are errors. */
static int dir_list(struct ext4x *x, struct dir_list *l, struct dent **ret)
{
	struct dent *v = NULL;
	errcode_t e;

	e = ext2fs_dir_iterate2(x->fs, l->dir, 0, NULL, dent_collect, l);
	if (l->r == 0 && e != 0)
		l->r = x_fail_ext2(x, e, "cannot read directory");
	if (l->r == 0 && l->n > 0) {
		v = calloc(l->n, sizeof(*v));
		if (v == NULL)
			l->r = x_fail(x, -ENOMEM, "out of memory");
	}
	for (size_t i = 0; l->r == 0 && i < l->n; i++)
		v[i] = (struct dent){l->names.data + l->offs[i], l->inos[i]};
	if (l->r == 0 && l->n > 1)
		qsort(v, l->n, sizeof(*v), dent_by_name);
	for (size_t i = 1; l->r == 0 && i < l->n; i++) {
		if (strcmp(v[i - 1].name, v[i].name) == 0)
			l->r = x_fail(x, -EINVAL, "duplicate name \"%s\" in directory", v[i].name);
	}
	if (l->r < 0) {
		free(v);
		return l->r;
	}
	if (l->n > 1)
		qsort(v, l->n, sizeof(*v), dent_by_ino);
	*ret = v;
	return 0;
}

/* Push name on x->path, extract the entry, pop it again. */
static int entry_at(struct ext4x *x, int dfd, const struct dent *d, unsigned depth)
{
	size_t mark = x->path.len;
	int r = 0;

	if (mark > 0)
		r = buf_addch(&x->path, '/');
	if (r == 0)
		r = buf_adds(&x->path, d->name);
	if (r < 0)
		r = x_fail(x, r, "path too long");
	if (r == 0)
		r = entry_extract(x, dfd, d, depth);
	buf_truncate(&x->path, mark);
	return r;
}

/* Extract every entry of directory ino into dfd, depth first. */
static int dir_extract(struct ext4x *x, int dfd, ext2_ino_t ino, unsigned depth)
{
	struct dir_list l = {x, ino, BUF_INIT, NULL, NULL, 0, 0, 0, 0};
	struct dent *v = NULL;
	int r;

	r = dir_list(x, &l, &v);
	for (size_t i = 0; r == 0 && i < l.n; i++)
		r = entry_at(x, dfd, &v[i], depth);
	free(v);
	dir_list_release(&l);
	return r;
}

/* The root directory: its entries into dir_fd, then its own metadata. */
static int root_extract(struct ext4x *x)
{
	struct node n = {0, NULL};
	int r;

	r = node_read(x, EXT2_ROOT_INO, &n);
	if (r < 0)
		return r;
	if (!LINUX_S_ISDIR(n.in->i_mode))
		r = x_fail(x, -EINVAL, "root inode is not a directory");
	if (r == 0)
		r = dir_enter(x, EXT2_ROOT_INO);
	if (r == 0)
		r = dir_check_blocks(x, &n);
	if (r == 0)
		progress_at(x, 0); /* the step's clock starts here */
	if (r == 0)
		r = dir_extract(x, x->root_fd, EXT2_ROOT_INO, 0);
	if (r == 0)
		r = meta_apply(x, x->root_fd, -1, NULL, &n);
	free(n.in);
	return r;
}

static void error_table_init(void)
{
	initialize_ext2_error_table();
}

/* The limits with their defaults filled in. */
static struct imgfs_ext4_limits limits_or_defaults(const struct imgfs_ext4_limits *limits)
{
	struct imgfs_ext4_limits lim = {.max_bytes = 0};

	if (limits != NULL)
		lim = *limits;
	if (lim.max_depth == 0)
		lim.max_depth = IMGFS_EXT4_DEPTH_DEFAULT;
	if (lim.max_depth > DEPTH_HARD_MAX)
		lim.max_depth = DEPTH_HARD_MAX;
	if (lim.max_entries == 0)
		lim.max_entries = IMGFS_EXT4_ENTRIES_DEFAULT;
	return lim;
}

int imgfs_ext4_extract(int img_fd, uint64_t offset, uint64_t size, int dir_fd,
		       const struct imgfs_ext4_limits *limits, struct imgfs_ext4_stats *stats,
		       struct buf *err)
{
	static pthread_once_t error_table_once = PTHREAD_ONCE_INIT;
	struct ext4x x = {0};
	struct stat st;
	int r;

	(void)pthread_once(&error_table_once, error_table_init);
	x.img_fd = img_fd;
	x.root_fd = dir_fd;
	x.offset = offset;
	x.size = size;
	x.err = err;
	x.lim = limits_or_defaults(limits);
	x.is_root = geteuid() == 0;
	x.born_root = x.is_root && getegid() == 0 && fstat(dir_fd, &st) == 0 && st.st_gid == 0;
	buf_set_max(&x.path, (size_t)DEPTH_HARD_MAX * (NAME_BYTES_MAX + 1));
	if (offset > UINT64_MAX - size)
		r = x_fail(&x, -EINVAL, "partition offset and size overflow");
	else
		r = sb_check(&x);
	if (r == 0)
		r = fs_open(&x);
	if (r == 0)
		r = root_extract(&x);
	if (r == 0 && stats != NULL)
		*stats = x.st;
	link_free(&x.links);
	if (x.dirs_seen != NULL)
		ext2fs_free_inode_bitmap(x.dirs_seen);
	if (x.fs != NULL)
		ext2fs_free(x.fs);
	free(x.copy_buf);
	buf_release(&x.path);
	return r;
}
