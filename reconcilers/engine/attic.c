/*
 * attic: where a node's root goes when it is not the node's root any more
 * (a re-image, or the node removed from the repository), instead of being
 * deleted: <nfs>/.attic/<serial>.gen<N>.<UTC time>, on the same file system
 * as the roots, so moving one is a rename.  The attic is not exported.
 * Entries stay until `bramble gc` finds them older than the retention
 * (roots.atticRetention), counted from the move: the move sets the entry's
 * mtime, so an entry can also be aged or kept longer by hand with touch.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "noderoot.h"
#include "fsutil.h"

#define ATTIC_MAX_ENTRIES 100000

/* Rename without replacing: renameat2 where the file system has it. */
static int rename_noreplace(int ofd, const char *old, int nfd, const char *new)
{
	struct stat st;

	if (renameat2(ofd, old, nfd, new, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -errno;
	if (fstatat(nfd, new, &st, AT_SYMLINK_NOFOLLOW) == 0)
		return -EEXIST;
	return renameat(ofd, old, nfd, new) < 0 ? -errno : 0;
}

int attic_move(int nfs_fd, const char *name, const char *base, unsigned generation,
	       struct buf *ret_name)
{
	struct timespec ts[2] = {{0, UTIME_OMIT}, {0, 0}};
	struct buf entry = BUF_INIT;
	char stamp[32];
	struct tm tm;
	time_t now;
	unsigned k;
	int afd = -1, r;

	clock_gettime(CLOCK_REALTIME, &ts[1]);
	now = ts[1].tv_sec;
	if (!gmtime_r(&now, &tm) || strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm) == 0)
		return -EINVAL;
	r = dir_open_beneath(nfs_fd, NODEROOT_ATTIC, true, 0700, &afd);
	for (k = 0, r = r < 0 ? r : -EEXIST; r == -EEXIST && k < 100; k++) {
		buf_truncate(&entry, 0);
		r = k ? buf_printf(&entry, "%s.gen%u.%s.%u", base, generation, stamp, k)
		      : buf_printf(&entry, "%s.gen%u.%s", base, generation, stamp);
		if (r == 0)
			r = rename_noreplace(nfs_fd, name, afd, buf_str(&entry));
	}
	/* Retention counts from now, not from the image's old timestamps. */
	if (r == 0 && utimensat(afd, buf_str(&entry), ts, AT_SYMLINK_NOFOLLOW) < 0)
		r = -errno;
	if (r == 0 && (fsync(afd) < 0 || fsync(nfs_fd) < 0))
		r = -errno;
	if (r == 0 && ret_name)
		r = buf_adds(ret_name, buf_str(&entry));
	if (afd >= 0)
		close(afd);
	buf_release(&entry);
	return r;
}

static int entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct attic_entry *)a)->name, ((const struct attic_entry *)b)->name);
}

static int list_push(struct attic_list *l, size_t *cap, const char *name, const struct stat *st,
		     int64_t now_s, int64_t retention_s)
{
	struct attic_entry *e;

	if (l->n >= ATTIC_MAX_ENTRIES)
		return -E2BIG;
	if (l->n == *cap) {
		size_t c = *cap ? *cap * 2 : 16;
		struct attic_entry *v = realloc(l->v, c * sizeof(*v));

		if (!v)
			return -ENOMEM;
		l->v = v;
		*cap = c;
	}
	e = &l->v[l->n];
	e->name = strdup(name);
	if (!e->name)
		return -ENOMEM;
	e->mtime_s = (int64_t)st->st_mtim.tv_sec;
	e->expired = now_s - e->mtime_s > retention_s;
	l->n++;
	return 0;
}

int attic_list(int nfs_fd, int64_t now_s, int64_t retention_s, struct attic_list *ret)
{
	struct attic_list l = {NULL, 0};
	struct dirent *de;
	size_t cap = 0;
	struct stat st;
	DIR *d;
	int r;

	r = dir_opendir_beneath(nfs_fd, NODEROOT_ATTIC, false, 0, &d);
	if (r == -ENOENT) {
		*ret = l;
		return 0;
	}
	if (r < 0)
		return r;
	while (r == 0 && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			r = errno == ENOENT ? 0 : -errno;
			continue;
		}
		r = list_push(&l, &cap, de->d_name, &st, now_s, retention_s);
	}
	closedir(d);
	if (r < 0) {
		attic_list_release(&l);
		return r;
	}
	if (l.n > 1)
		qsort(l.v, l.n, sizeof(*l.v), entry_cmp);
	*ret = l;
	return 0;
}

void attic_list_release(struct attic_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i].name);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

int attic_remove(int nfs_fd, const char *name)
{
	int fd, r;

	if (!*name || name[0] == '.' || strchr(name, '/'))
		return -EINVAL;
	r = dir_open_beneath(nfs_fd, NODEROOT_ATTIC, false, 0, &fd);
	if (r < 0)
		return r;
	r = rm_rf_at(fd, name);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	close(fd);
	return r;
}

int noderoot_clean_staging(int nfs_fd, int64_t now_s, int64_t max_age_s)
{
	struct dirent *de;
	struct stat st;
	int r, n = 0;
	DIR *d;

	r = dir_opendir_beneath(nfs_fd, NODEROOT_STAGING, false, 0, &d);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	while (r == 0 && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' ||
		    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		/* ctime: the copy sets the tree's mtimes to the image's own. */
		if (now_s - (int64_t)st.st_ctim.tv_sec <= max_age_s)
			continue;
		r = rm_rf_at(dirfd(d), de->d_name);
		n += r == 0;
	}
	closedir(d);
	return r < 0 ? r : n;
}
