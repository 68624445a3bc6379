/*
 * dirwalk: see dirwalk.h.
 */
#include "dirwalk.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"

static int walk(int dfd, const struct dir_walk_visitor *v, const char *prefix, unsigned depth);

/* One entry of the directory d: visit it, and descend when asked. */
static int walk_entry(DIR *d, const struct dir_walk_visitor *v, const char *prefix,
		      const char *name, unsigned depth)
{
	struct buf rel = BUF_INIT;
	struct stat st;
	int r, sub;

	if (fstatat(dirfd(d), name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	r = buf_printf(&rel, "%s%s%s", prefix, *prefix ? "/" : "", name);
	if (r == 0)
		r = v->visit(v->arg, buf_str(&rel), name, &st);
	if (r == DIR_WALK_SKIP)
		r = 0;
	else if (r == 0 && S_ISDIR(st.st_mode)) {
		sub = openat(dirfd(d), name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		r = sub < 0 ? -errno : walk(sub, v, buf_str(&rel), depth + 1);
	}
	buf_release(&rel);
	return r;
}

static int walk(int dfd, const struct dir_walk_visitor *v, const char *prefix, unsigned depth)
{
	DIR *d;
	struct dirent *de;
	int r = 0;

	if (depth > v->max_depth) {
		close(dfd);
		return -ELOOP;
	}
	d = fdopendir(dfd);
	if (!d) {
		r = -errno;
		close(dfd);
		return r;
	}
	while (r == 0 && (de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			r = walk_entry(d, v, prefix, de->d_name, depth);
	closedir(d);
	return r;
}

int dir_walk(int dfd, const struct dir_walk_visitor *v)
{
	return walk(dfd, v, "", 0);
}
