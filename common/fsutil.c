#include "fsutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "buf.h"
#include "array.h"

/*
 * How every file named by configuration or manifests is opened: O_NONBLOCK so
 * that a FIFO or a device cannot block the open (the type is then checked on
 * the fd, before any read), never a controlling terminal, never inherited.
 */
#define FILE_READ_FLAGS (O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC)

int dir_component_open(int dirfd, const char *name, bool create, bool parent_new, mode_t mode,
		       int *ret_fd, bool *ret_made)
{
	int fd;

	*ret_made = false;
	if (!create || !parent_new) {
		fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd >= 0) {
			*ret_fd = fd;
			return 0;
		}
		if (errno != ENOENT || !create)
			return -errno;
	}
	if (mkdirat(dirfd, name, mode) == 0)
		*ret_made = true;
	else if (errno != EEXIST)
		return -errno;
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	*ret_fd = fd;
	return 0;
}

/* Open or create one directory component beneath dirfd. */
static int component_open(int dirfd, const char *name, bool create, mode_t mode)
{
	bool made;
	int fd, r = dir_component_open(dirfd, name, create, false, mode, &fd, &made);

	return r < 0 ? r : fd;
}

int dir_open_beneath(int dirfd, const char *path, bool create, mode_t mode, int *ret_fd)
{
	char comp[NAME_MAX + 1];
	const char *p = path, *slash;
	int fd = dirfd, next; /* fd is ours to close once it differs from dirfd */

	while (*p) {
		size_t n;

		slash = strchr(p, '/');
		n = slash ? (size_t)(slash - p) : strlen(p);
		if (n == 0 || n > NAME_MAX || (n == 2 && p[0] == '.' && p[1] == '.')) {
			next = -EINVAL;
			goto fail;
		}
		memcpy(comp, p, n);
		comp[n] = '\0';
		p += n + (slash ? 1 : 0);
		if (strcmp(comp, ".") == 0)
			continue;
		next = component_open(fd, comp, create, mode);
		if (fd != dirfd)
			close(fd);
		if (next < 0)
			return next;
		fd = next;
	}
	if (fd == dirfd) {
		fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			return -errno;
	}
	*ret_fd = fd;
	return 0;
fail:
	if (fd != dirfd)
		close(fd);
	return next;
}

int dir_opendir_take(int fd, DIR **ret)
{
	DIR *d = fdopendir(fd);
	int r;

	if (!d) {
		r = -errno;
		close(fd);
		return r;
	}
	rewinddir(d);
	*ret = d;
	return 0;
}

int dir_opendir_beneath(int dirfd, const char *path, bool create, mode_t mode, DIR **ret)
{
	int fd, r;

	r = dir_open_beneath(dirfd, path, create, mode, &fd);
	return r < 0 ? r : dir_opendir_take(fd, ret);
}

int dir_opendir_dup(int fd, DIR **ret)
{
	int dfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);

	return dfd < 0 ? -errno : dir_opendir_take(dfd, ret);
}

int parent_open_beneath(int dirfd, const char *path, bool create, int *ret_fd,
			const char **ret_name)
{
	const char *slash = strrchr(path, '/');
	char *dir = NULL;
	int r;

	if (!slash) {
		r = dir_open_beneath(dirfd, "", false, 0, ret_fd);
		if (r == 0)
			*ret_name = path;
		return r;
	}
	dir = strndup(path, (size_t)(slash - path));
	if (!dir)
		return -ENOMEM;
	r = dir_open_beneath(dirfd, dir, create, 0755, ret_fd);
	free(dir);
	if (r == 0)
		*ret_name = slash + 1;
	return r;
}

/*
 * One read into b, which expects a file of expect bytes: 1 when it read
 * something (or was interrupted), 0 at the end of the file, or a negative
 * errno (-EFBIG past max).
 */
static int read_some(int fd, struct buf *b, size_t expect, size_t max)
{
	/* Room for the file as stat saw it, then growth only if it grew. */
	size_t want = b->len < expect ? expect - b->len : 4096;
	ssize_t n;
	int r;

	r = buf_grow(b, want < max - b->len ? want : max - b->len);
	if (r < 0 && b->len == max) {
		char c;

		/* At the limit: only fine when the file ends here. */
		n = read(fd, &c, 1);
		return n == 0 ? 0 : -EFBIG;
	}
	if (r < 0)
		return r;
	n = read(fd, b->data + b->len, b->cap - b->len - 1);
	if (n < 0)
		return errno == EINTR ? 1 : -errno;
	if (n == 0)
		return 0;
	b->len += (size_t)n;
	b->data[b->len] = '\0';
	return 1;
}

int file_read_fd(int fd, size_t max, char **ret_data, size_t *ret_len)
{
	struct buf b = BUF_INIT;
	struct stat st;
	int r;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	if ((size_t)st.st_size > max)
		return -EFBIG;
	buf_set_max(&b, max);
	r = buf_grow(&b, (size_t)st.st_size);
	if (r < 0)
		return r;
	do
		r = read_some(fd, &b, (size_t)st.st_size, max);
	while (r > 0);
	if (r < 0) {
		buf_release(&b);
		return r;
	}
	*ret_data = buf_detach(&b, ret_len);
	return *ret_data ? 0 : -ENOMEM;
}

/* file_read_fd, then close fd; fd may be a negative errno from its open, returned. */
static int fd_read_close(int fd, size_t max, char **ret_data, size_t *ret_len)
{
	int r;

	if (fd < 0)
		return fd;
	r = file_read_fd(fd, max, ret_data, ret_len);
	close(fd);
	return r;
}

int file_read_at(int dirfd, const char *path, size_t max, char **ret_data, size_t *ret_len)
{
	const char *name = NULL;
	int pfd = -1, fd, r;

	r = parent_open_beneath(dirfd, path, false, &pfd, &name);
	if (r < 0)
		return r;
	fd = openat(pfd, name, FILE_READ_FLAGS | O_NOFOLLOW);
	r = fd_read_close(fd < 0 ? -errno : fd, max, ret_data, ret_len);
	close(pfd);
	return r;
}

int file_read(const char *path, size_t max, char **ret_data, size_t *ret_len)
{
	int fd = open(path, FILE_READ_FLAGS);

	return fd_read_close(fd < 0 ? -errno : fd, max, ret_data, ret_len);
}

/* openat2(RESOLVE_BENEATH): every symlink on the way is followed, none out of dirfd. */
static int open_beneath(int dirfd, const char *path)
{
	struct open_how how;
	long fd;

	memset(&how, 0, sizeof(how));
	how.flags = FILE_READ_FLAGS;
	how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
	fd = syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
	return fd < 0 ? -errno : (int)fd;
}

int file_read_beneath(const char *dir, const char *path, size_t max, char **ret_data,
		      size_t *ret_len)
{
	size_t n = strlen(dir);
	int dfd = -1, fd, r;

	while (n > 1 && dir[n - 1] == '/')
		n--;
	/* An absolute path must name dir itself first; the rest is resolved beneath it. */
	if (path[0] == '/') {
		if (strncmp(path, dir, n) != 0 || (path[n] != '/' && n > 1))
			return -EXDEV;
		path += n;
		while (*path == '/')
			path++;
	}
	if (!*path)
		return -EISDIR;
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	fd = open_beneath(dfd, path);
	r = fd_read_close(fd, max, ret_data, ret_len);
	close(dfd);
	return r;
}

int file_check_regular(const char *path)
{
	struct stat st;
	int fd = open(path, FILE_READ_FLAGS), r = 0;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		r = -errno;
	else if (!S_ISREG(st.st_mode))
		r = -EINVAL;
	close(fd);
	return r;
}

const char *file_read_strerror(int r)
{
	switch (r) {
	case -EINVAL:
		return "not a regular file";
	case -EFBIG:
		return "too large";
	case -ELOOP:
		return "a symbolic link";
	case -EXDEV:
		return "outside the directory";
	default:
		return strerror(-r);
	}
}

int write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int mkdir_p(const char *path, mode_t mode)
{
	char *copy = strdup(path);
	char *p;
	int r = 0;

	if (!copy)
		return -ENOMEM;
	for (p = copy + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(copy, mode) < 0 && errno != EEXIST) {
			r = -errno;
			goto out;
		}
		*p = '/';
	}
	if (mkdir(copy, mode) < 0 && errno != EEXIST)
		r = -errno;
out:
	free(copy);
	return r;
}

/*
 * Removing a tree: one level per directory on the way down, each with its
 * name, identity and, for the RM_OPEN_MAX deepest ones, its open stream.  A
 * tree of any depth (a node can make a 3,000-deep chain in its own root)
 * costs at most RM_OPEN_MAX + 1 descriptors: a level whose stream was closed
 * is reopened through ".." from its child, checked to be the same directory,
 * and read again from its start (what was removed is gone from it).  The
 * first error stops the removal, so a level is never read again forever.
 */
#define RM_OPEN_MAX 16

struct rm_level {
	DIR *d; /* NULL: closed to bound the descriptors; reopen through ".." */
	dev_t dev;
	ino_t ino;
	char *name; /* in the parent level (or in the caller's dirfd) */
};

struct rm_walk {
	struct rm_level *v;
	size_t n, cap;
	size_t lo; /* v[lo..n-1] have their stream open */
};

/* Open name in dirfd as a directory stream, never following a symlink. */
static int rm_opendir(int dirfd, const char *name, DIR **ret_d, struct stat *ret_st)
{
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (fstat(fd, ret_st) < 0 || !(*ret_d = fdopendir(fd))) {
		int r = -errno;

		close(fd);
		return r;
	}
	return 0;
}

static int rm_push(struct rm_walk *w, int dirfd, const char *name)
{
	struct rm_level *l;
	struct stat st;
	DIR *d = NULL;
	int r;

	if (w->n == w->cap) {
		struct rm_level *v = array_grow(w->v, &w->cap, sizeof(*v), 64);

		if (!v)
			return -ENOMEM;
		w->v = v;
	}
	r = rm_opendir(dirfd, name, &d, &st);
	if (r < 0)
		return r;
	l = &w->v[w->n];
	l->name = strdup(name);
	if (!l->name) {
		closedir(d);
		return -ENOMEM;
	}
	l->d = d;
	l->dev = st.st_dev;
	l->ino = st.st_ino;
	w->n++;
	if (w->n - w->lo > RM_OPEN_MAX) {
		closedir(w->v[w->lo].d);
		w->v[w->lo++].d = NULL;
	}
	return 0;
}

/* Reopen the closed parent of the deepest level through "..", if it is still the same. */
static int rm_reopen_parent(struct rm_walk *w)
{
	struct rm_level *child = &w->v[w->n - 1], *parent = &w->v[w->n - 2];
	struct stat st;
	DIR *d = NULL;
	int r;

	r = rm_opendir(dirfd(child->d), "..", &d, &st);
	if (r < 0)
		return r;
	if (st.st_dev != parent->dev || st.st_ino != parent->ino) {
		closedir(d);
		return -ESTALE; /* the tree was moved while being removed */
	}
	parent->d = d;
	w->lo = w->n - 2;
	return 0;
}

/* The deepest level is empty: remove it from its parent and forget it. */
static int rm_pop(struct rm_walk *w, int top_dirfd)
{
	struct rm_level *l = &w->v[w->n - 1];
	int pfd, r = 0;

	if (w->n > 1 && !w->v[w->n - 2].d)
		r = rm_reopen_parent(w);
	closedir(l->d);
	l->d = NULL;
	pfd = w->n > 1 ? dirfd(w->v[w->n - 2].d) : top_dirfd;
	if (r == 0 && unlinkat(pfd, l->name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		r = -errno;
	free(l->name);
	w->n--;
	if (w->lo > w->n)
		w->lo = w->n;
	return r;
}

/* One entry of the deepest level: unlink it, or descend into it. */
static int rm_entry(struct rm_walk *w, const char *name)
{
	int fd = dirfd(w->v[w->n - 1].d), r, q;

	if (unlinkat(fd, name, 0) == 0 || errno == ENOENT)
		return 0;
	if (errno != EISDIR && errno != EPERM)
		return -errno;
	r = -errno;
	q = rm_push(w, fd, name);
	return q == -ENOTDIR ? r : q; /* EPERM on a file that is not a directory */
}

static int rm_tree(int dirfd, const char *name)
{
	struct rm_walk w = {NULL, 0, 0, 0};
	struct dirent *e;
	int r;

	r = rm_push(&w, dirfd, name);
	while (r == 0 && w.n > 0) {
		errno = 0;
		e = readdir(w.v[w.n - 1].d);
		if (!e && errno)
			r = -errno;
		else if (!e)
			r = rm_pop(&w, dirfd);
		else if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			r = rm_entry(&w, e->d_name);
	}
	while (w.n > 0) {
		struct rm_level *l = &w.v[--w.n];

		if (l->d)
			closedir(l->d);
		free(l->name);
	}
	free(w.v);
	return r;
}

int rm_rf_at(int dirfd, const char *name)
{
	if (unlinkat(dirfd, name, 0) == 0)
		return 0;
	if (errno == ENOENT)
		return 0;
	if (errno != EISDIR && errno != EPERM)
		return -errno;
	return rm_tree(dirfd, name);
}

char *path_join(const char *a, const char *b)
{
	struct buf s = BUF_INIT;
	size_t la = strlen(a);

	if (buf_adds(&s, a) < 0)
		return NULL;
	if (la > 0 && a[la - 1] != '/' && *b && buf_addch(&s, '/') < 0)
		goto fail;
	if (buf_adds(&s, b) < 0)
		goto fail;
	return buf_detach(&s, NULL);
fail:
	buf_release(&s);
	return NULL;
}
