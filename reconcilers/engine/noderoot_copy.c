/*
 * noderoot_copy: copy an image root tree into a new node root, keeping
 * everything a booting system relies on: file types, modes with
 * setuid/setgid/sticky, numeric owners, symlinks, hard links within the
 * tree, extended attributes (security.capability: ping, arping, ...) and
 * timestamps.  File contents are reflinked (FICLONE) where the file system
 * can share extents, which makes a root of a few GB cost almost nothing;
 * otherwise copy_file_range, which lets the kernel copy without a trip
 * through user space.
 *
 * Order matters for each entry: content, then owner (chown clears setuid
 * bits and security.capability), then mode, then extended attributes, then
 * times (a directory's once its entries are written).  Everything is opened
 * relative to the two directory fds with O_NOFOLLOW.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "noderoot.h"
#include "dirwalk.h"
#include "fsutil.h"
#include "heartbeat.h"
#include "stop.h"

#define COPY_MAX_DEPTH	 128
#define COPY_CHUNK	 ((size_t)8 << 20) /* a watched copy reports this often */
#define XATTR_LIST_MAX_	 ((size_t)64 << 10)
#define XATTR_VALUE_MAX_ ((size_t)64 << 10)

/* Hard links: the first copy of each (dev, inode), by its path in the new tree. */
struct link_map {
	struct link_slot {
		dev_t dev;
		ino_t ino;
		char *path;
	} * v;
	size_t n, cap;
};

struct copier {
	enum copy_mode mode;
	bool try_reflink;
	bool may_chown;
	int dst_top;
	struct link_map links;
	struct copy_stats *st;
	struct copy_watch *watch;
	struct buf *err;
	struct buf path; /* relative path of the entry being copied */
	unsigned depth;
};

static size_t link_hash(dev_t dev, ino_t ino, size_t cap)
{
	uint64_t h = ((uint64_t)ino * 11400714819323198485ULL) ^ (uint64_t)dev;

	return (size_t)(h ^ (h >> 29)) & (cap - 1);
}

static struct link_slot *link_find(struct link_map *m, dev_t dev, ino_t ino)
{
	size_t i, k;

	if (!m->cap)
		return NULL;
	for (i = 0, k = link_hash(dev, ino, m->cap); i < m->cap; i++, k = (k + 1) & (m->cap - 1)) {
		if (!m->v[k].path)
			return NULL;
		if (m->v[k].dev == dev && m->v[k].ino == ino)
			return &m->v[k];
	}
	return NULL;
}

static int link_grow(struct link_map *m)
{
	struct link_map g = {NULL, 0, m->cap ? m->cap * 2 : 256};
	size_t i, k;

	g.v = calloc(g.cap, sizeof(*g.v));
	if (!g.v)
		return -ENOMEM;
	for (i = 0; i < m->cap; i++) {
		if (!m->v[i].path)
			continue;
		for (k = link_hash(m->v[i].dev, m->v[i].ino, g.cap); g.v[k].path;
		     k = (k + 1) & (g.cap - 1))
			;
		g.v[k] = m->v[i];
	}
	g.n = m->n;
	free(m->v);
	*m = g;
	return 0;
}

static int link_add(struct link_map *m, dev_t dev, ino_t ino, const char *path)
{
	size_t k;
	int r;

	if ((m->n + 1) * 2 > m->cap) {
		r = link_grow(m);
		if (r < 0)
			return r;
	}
	for (k = link_hash(dev, ino, m->cap); m->v[k].path; k = (k + 1) & (m->cap - 1))
		;
	m->v[k].path = strdup(path);
	if (!m->v[k].path)
		return -ENOMEM;
	m->v[k].dev = dev;
	m->v[k].ino = ino;
	m->n++;
	return 0;
}

static void link_release(struct link_map *m)
{
	size_t i;

	for (i = 0; i < m->cap; i++)
		free(m->v[i].path);
	free(m->v);
}

/* Record a failure with the path it happened at; returns r. */
static int fail(struct copier *c, int r, const char *what)
{
	if (c->err)
		buf_printf(c->err, "%s %s: %s", what, c->path.len ? buf_str(&c->path) : "/",
			   strerror(-r));
	return r;
}

static bool xattr_unsupported(int e)
{
	return e == ENOTSUP || e == EOPNOTSUPP;
}

/*
 * Copy the extended attributes of one entry: through fds for files and
 * directories, through /proc/self/fd paths for the rest (l*xattr does not
 * follow a symlink).  Losing security.capability is an error; other
 * attributes the target does not support are counted and dropped.
 */
static int copy_xattrs(struct copier *c, int sfd, int dfd, const char *sp, const char *dp)
{
	char *list = NULL, *val = NULL, *name;
	ssize_t n, v;
	int r = 0;

	n = sp ? llistxattr(sp, NULL, 0) : flistxattr(sfd, NULL, 0);
	if (n <= 0)
		return n < 0 && !xattr_unsupported(errno) && errno != ENOENT ? -errno : 0;
	if ((size_t)n > XATTR_LIST_MAX_)
		return -E2BIG;
	list = malloc((size_t)n);
	val = malloc(XATTR_VALUE_MAX_);
	if (!list || !val) {
		r = -ENOMEM;
		goto out;
	}
	n = sp ? llistxattr(sp, list, (size_t)n) : flistxattr(sfd, list, (size_t)n);
	if (n < 0) {
		r = -errno;
		goto out;
	}
	for (name = list; r == 0 && name < list + n; name += strlen(name) + 1) {
		v = sp ? lgetxattr(sp, name, val, XATTR_VALUE_MAX_)
		       : fgetxattr(sfd, name, val, XATTR_VALUE_MAX_);
		if (v < 0) {
			r = errno == ENODATA ? 0 : -errno;
			continue;
		}
		if ((dp ? lsetxattr(dp, name, val, (size_t)v, 0)
			: fsetxattr(dfd, name, val, (size_t)v, 0)) == 0) {
			c->st->xattrs++;
			continue;
		}
		if (strcmp(name, "security.capability") != 0 &&
		    (xattr_unsupported(errno) || errno == EPERM)) {
			c->st->xattrs_dropped++;
			continue;
		}
		r = -errno;
	}
out:
	free(list);
	free(val);
	return r;
}

/* Owner, mode, extended attributes and times of an open file or directory. */
static int set_meta_fd(struct copier *c, int sfd, int dfd, const struct stat *st)
{
	struct timespec ts[2] = {st->st_atim, st->st_mtim};
	int r;

	if (c->may_chown && fchown(dfd, st->st_uid, st->st_gid) < 0)
		return fail(c, -errno, "cannot set the owner of");
	if (fchmod(dfd, st->st_mode & 07777) < 0)
		return fail(c, -errno, "cannot set the mode of");
	r = copy_xattrs(c, sfd, dfd, NULL, NULL);
	if (r < 0)
		return fail(c, r, "cannot copy the extended attributes of");
	if (futimens(dfd, ts) < 0)
		return fail(c, -errno, "cannot set the times of");
	return 0;
}

/* The same for an entry that cannot be opened (symlink, device, FIFO). */
static int set_meta_at(struct copier *c, int sfd, int dfd, const char *name, const struct stat *st)
{
	struct timespec ts[2] = {st->st_atim, st->st_mtim};
	char sp[64 + NAME_MAX], dp[64 + NAME_MAX];
	int r;

	if (c->may_chown && fchownat(dfd, name, st->st_uid, st->st_gid, AT_SYMLINK_NOFOLLOW) < 0)
		return fail(c, -errno, "cannot set the owner of");
	if (!S_ISLNK(st->st_mode) && fchmodat(dfd, name, st->st_mode & 07777, 0) < 0)
		return fail(c, -errno, "cannot set the mode of");
	snprintf(sp, sizeof(sp), "/proc/self/fd/%d/%s", sfd, name);
	snprintf(dp, sizeof(dp), "/proc/self/fd/%d/%s", dfd, name);
	r = access("/proc/self/fd", F_OK) == 0 ? copy_xattrs(c, -1, -1, sp, dp) : 0;
	if (r < 0)
		return fail(c, r, "cannot copy the extended attributes of");
	if (utimensat(dfd, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
		return fail(c, -errno, "cannot set the times of");
	return 0;
}

/* n more bytes copied: tell the watch. */
static void watch_add(struct copier *c, uint64_t n)
{
	if (!c->watch)
		return;
	atomic_fetch_add(&c->watch->bytes, n);
	if (c->watch->tick)
		c->watch->tick(c->watch);
}

static int copy_bytes_rw(struct copier *c, int sfd, int dfd)
{
	char buf[1 << 16];
	ssize_t n;
	int r = 0;

	while (r == 0 && (n = read(sfd, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		r = n < 0 ? -errno : write_all(dfd, buf, (size_t)n);
		if (r == 0 && n > 0)
			watch_add(c, (uint64_t)n);
	}
	return r;
}

/* copy_file_range until EOF; falls back to read/write where the kernel cannot. */
static int copy_bytes(struct copier *c, int sfd, int dfd, off_t size)
{
	bool first = true;
	ssize_t n;

	while (size > 0) {
		size_t chunk = (uint64_t)size > COPY_CHUNK ? COPY_CHUNK : (size_t)size;

		n = copy_file_range(sfd, NULL, dfd, NULL, chunk, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && first &&
		    (errno == EXDEV || errno == ENOSYS || errno == EOPNOTSUPP || errno == EINVAL))
			return copy_bytes_rw(c, sfd, dfd);
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		size -= n;
		first = false;
		watch_add(c, (uint64_t)n);
	}
	/* A file that grew while copied: take the rest too. */
	return copy_bytes_rw(c, sfd, dfd);
}

/* Content: a reflink when allowed and possible, else a copy. */
static int copy_content(struct copier *c, int sfd, int dfd, const struct stat *st)
{
	int e;

	if (c->try_reflink) {
		if (ioctl(dfd, FICLONE, sfd) == 0) {
			c->st->reflinked++;
			watch_add(c, (uint64_t)st->st_size);
			return 0;
		}
		e = errno;
		if (c->mode == COPY_REFLINK)
			return fail(c, -e, "cannot reflink (roots.copyMode is reflink)");
		/* This file system cannot share extents: stop asking. */
		if (e == EOPNOTSUPP || e == ENOTTY || e == EXDEV || e == ENOSYS || e == EINVAL)
			c->try_reflink = false;
	}
	e = copy_bytes(c, sfd, dfd, st->st_size);
	return e < 0 ? fail(c, e, "cannot copy") : 0;
}

static int copy_file(struct copier *c, int sdir, int ddir, const char *name, const struct stat *st)
{
	int sfd, dfd, r;

	sfd = openat(sdir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	if (sfd < 0)
		return fail(c, -errno, "cannot open");
	dfd = openat(ddir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (dfd < 0) {
		r = fail(c, -errno, "cannot create");
		close(sfd);
		return r;
	}
	r = copy_content(c, sfd, dfd, st);
	if (r == 0)
		r = set_meta_fd(c, sfd, dfd, st);
	close(sfd);
	if (close(dfd) < 0 && r == 0)
		r = fail(c, -errno, "cannot write");
	if (r == 0) {
		c->st->files++;
		c->st->bytes += (uint64_t)st->st_size;
	}
	return r;
}

static int copy_symlink(struct copier *c, int sdir, int ddir, const char *name,
			const struct stat *st)
{
	char target[PATH_MAX];
	ssize_t n;

	n = readlinkat(sdir, name, target, sizeof(target) - 1);
	if (n < 0)
		return fail(c, -errno, "cannot read the symlink");
	target[n] = '\0';
	if (symlinkat(target, ddir, name) < 0)
		return fail(c, -errno, "cannot create the symlink");
	c->st->symlinks++;
	return set_meta_at(c, sdir, ddir, name, st);
}

static int copy_special(struct copier *c, int sdir, int ddir, const char *name,
			const struct stat *st)
{
	if (S_ISSOCK(st->st_mode)) {
		c->st->skipped++;
		return 0;
	}
	if (mknodat(ddir, name, (st->st_mode & S_IFMT) | 0600, st->st_rdev) < 0) {
		if ((errno == EPERM || errno == EACCES) && !S_ISFIFO(st->st_mode)) {
			c->st->skipped++;
			return 0;
		}
		return fail(c, -errno, "cannot make");
	}
	c->st->specials++;
	return set_meta_at(c, sdir, ddir, name, st);
}

static int copy_dir(struct copier *c, int sfd, int dfd);

static int copy_subdir(struct copier *c, int sdir, int ddir, const char *name,
		       const struct stat *st)
{
	int sfd, dfd, r;

	if (c->depth >= COPY_MAX_DEPTH)
		return fail(c, -ELOOP, "too deep:");
	if (mkdirat(ddir, name, 0700) < 0)
		return fail(c, -errno, "cannot make the directory");
	sfd = openat(sdir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (sfd < 0)
		return fail(c, -errno, "cannot open");
	dfd = openat(ddir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0) {
		r = fail(c, -errno, "cannot open");
		close(sfd);
		return r;
	}
	c->depth++;
	r = copy_dir(c, sfd, dfd);
	c->depth--;
	/* Mode and times once its entries are in (a 0555 directory is still writable to us). */
	if (r == 0)
		r = set_meta_fd(c, sfd, dfd, st);
	if (r == 0)
		c->st->dirs++;
	close(sfd);
	close(dfd);
	return r;
}

/*
 * One directory entry.  A second name of a file already copied becomes the
 * same hard link in the new tree.
 */
static int copy_entry(struct copier *c, int sdir, int ddir, const char *name)
{
	struct link_slot *first;
	struct stat st;
	int r;

	heartbeat();
	if (fstatat(sdir, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return fail(c, -errno, "cannot stat");
	if (S_ISDIR(st.st_mode))
		return copy_subdir(c, sdir, ddir, name, &st);
	if (st.st_nlink > 1) {
		first = link_find(&c->links, st.st_dev, st.st_ino);
		if (first) {
			if (linkat(c->dst_top, first->path, ddir, name, 0) < 0)
				return fail(c, -errno, "cannot link");
			c->st->hardlinks++;
			return 0;
		}
	}
	if (S_ISREG(st.st_mode))
		r = copy_file(c, sdir, ddir, name, &st);
	else if (S_ISLNK(st.st_mode))
		r = copy_symlink(c, sdir, ddir, name, &st);
	else
		r = copy_special(c, sdir, ddir, name, &st);
	if (r == 0 && st.st_nlink > 1 && faccessat(ddir, name, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
		r = link_add(&c->links, st.st_dev, st.st_ino, buf_str(&c->path));
	return r;
}

static int copy_dir(struct copier *c, int sfd, int dfd)
{
	struct dirent *de;
	size_t len = c->path.len;
	DIR *d;
	int r = 0;

	r = dir_opendir_dup(sfd, &d);
	if (r < 0)
		return r;
	while (r == 0) {
		errno = 0;
		de = readdir(d);
		if (!de) {
			r = errno ? fail(c, -errno, "cannot read the directory") : 0;
			break;
		}
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (stop_requested()) { /* the daemon's SIGTERM: as a crash here, healed next pass */
			r = fail(c, -ECANCELED, "stopped (bramble is stopping) at");
			break;
		}
		r = buf_printf(&c->path, "%s%s", len ? "/" : "", de->d_name);
		if (r == 0)
			r = copy_entry(c, sfd, dfd, de->d_name);
		buf_truncate(&c->path, len);
	}
	closedir(d);
	return r;
}

int tree_copy(int src_fd, int dst_fd, enum copy_mode mode, struct copy_stats *stats,
	      struct copy_watch *watch, struct buf *err)
{
	struct copy_stats scratch;
	struct copier c;
	struct stat st;
	int r;

	memset(&c, 0, sizeof(c));
	memset(&scratch, 0, sizeof(scratch));
	c.mode = mode;
	c.try_reflink = mode != COPY_PLAIN;
	c.may_chown = geteuid() == 0;
	c.dst_top = dst_fd;
	c.st = stats ? stats : &scratch;
	c.watch = watch;
	c.err = err;
	c.path = (struct buf)BUF_INIT;
	if (fstat(src_fd, &st) < 0)
		return -errno;
	r = copy_dir(&c, src_fd, dst_fd);
	/* The top directory itself: owner, mode, attributes and times of the image root. */
	if (r == 0)
		r = set_meta_fd(&c, src_fd, dst_fd, &st);
	link_release(&c.links);
	buf_release(&c.path);
	return r;
}

/* dir_walk: a regular file's size, shared among its links. */
static int bytes_visit(void *arg, const char *rel, const char *name, const struct stat *st)
{
	(void)rel;
	(void)name;
	if (S_ISREG(st->st_mode))
		*(uint64_t *)arg += (uint64_t)st->st_size / (st->st_nlink ? st->st_nlink : 1);
	return 0;
}

int tree_bytes(int dfd, uint64_t *ret_bytes)
{
	uint64_t bytes = 0;
	struct dir_walk_visitor v = {bytes_visit, &bytes, COPY_MAX_DEPTH};
	int r = dir_walk(dfd, &v);

	if (r == 0)
		*ret_bytes = bytes;
	return r;
}

const char *const copy_mode_names[] = {"auto", "reflink", "copy", NULL};

int copy_mode_parse(const char *s, enum copy_mode *ret)
{
	int m;

	for (m = COPY_AUTO; m <= COPY_PLAIN; m++)
		if (strcmp(s, copy_mode_names[m]) == 0) {
			*ret = (enum copy_mode)m;
			return 0;
		}
	return -EINVAL;
}

const char *copy_mode_name(enum copy_mode m)
{
	return copy_mode_names[m];
}
