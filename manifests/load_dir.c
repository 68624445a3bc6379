#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/buf.h"
#include "../common/fsutil.h"
#include "check.h"
#include "model.h"
#include "../common/array.h"

#define DIR_MAX_DEPTH 32

struct found {
	char *name; /* relative to the top directory */
	char *data; /* NULL for a file over the size limit */
	size_t len;
};

/* The manifest files found so far. */
struct walk {
	struct diags *d;
	struct found *files;
	size_t n, cap;
	size_t total;
};

static void walk_release(struct walk *w)
{
	size_t i;

	for (i = 0; i < w->n; i++) {
		free(w->files[i].name);
		free(w->files[i].data);
	}
	free(w->files);
}

static bool is_manifest_name(const char *name)
{
	size_t n = strlen(name);

	return (n > 5 && strcmp(name + n - 5, ".yaml") == 0) ||
	       (n > 4 && strcmp(name + n - 4, ".yml") == 0);
}

static int walk_add(struct walk *w, char *name, char *data, size_t len)
{
	if (w->n == w->cap) {
		struct found *v = array_grow(w->files, &w->cap, sizeof(*v), 64);

		if (!v)
			return -ENOMEM;
		w->files = v;
	}
	w->files[w->n].name = name;
	w->files[w->n].data = data;
	w->files[w->n].len = len;
	w->n++;
	return 0;
}

/* Whether one more file of size bytes stays within the limits; reports when not. */
static int walk_limits(struct walk *w, off_t size)
{
	int r;

	if (w->n >= MANIFEST_MAX_FILES) {
		r = diags_add(w->d, NULL, "more than %d manifest files; expected fewer",
			      MANIFEST_MAX_FILES);
		return r < 0 ? r : -EINVAL;
	}
	w->total += (size_t)size;
	if (w->total > MANIFEST_MAX_TOTAL_SIZE) {
		r = diags_add(w->d, NULL,
			      "manifests are larger than %zu bytes in total; expected "
			      "a smaller repository",
			      MANIFEST_MAX_TOTAL_SIZE);
		return r < 0 ? r : -EINVAL;
	}
	return 0;
}

/*
 * Read one manifest (rel is taken over).  A file over the size limit is kept
 * without its data: manifests_load_files() reports it at file:1:1 like any
 * other problem.
 */
static int walk_file(struct walk *w, int dirfd, const char *name, char *rel, off_t size)
{
	char *data = NULL;
	size_t len = 0;
	int r;

	r = walk_limits(w, size);
	if (r < 0)
		goto out;
	r = file_read_at(dirfd, name, MANIFEST_MAX_FILE_SIZE, &data, &len);
	if (r == -EFBIG) {
		len = (size_t)size > MANIFEST_MAX_FILE_SIZE ? (size_t)size
							    : MANIFEST_MAX_FILE_SIZE + 1;
		r = 0;
	}
	if (r < 0)
		goto out;
	r = walk_add(w, rel, data, len);
	if (r == 0) {
		rel = NULL;
		data = NULL;
	}
out:
	free(rel);
	free(data);
	return r;
}

static int walk_dir(struct walk *w, int fd, const char *prefix, unsigned depth);

/* One directory entry: a subdirectory to walk or a manifest to read. */
static int walk_entry(struct walk *w, int fd, const char *prefix, const char *name, unsigned depth)
{
	struct buf rel = BUF_INIT;
	struct stat st;
	int sub, r;

	if (name[0] == '.')
		return 0; /* hidden, and "." and ".." */
	if (fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISDIR(st.st_mode) && !(S_ISREG(st.st_mode) && is_manifest_name(name)))
		return 0; /* symlinks, sockets, other files */
	r = buf_printf(&rel, "%s%s%s", prefix, *prefix ? "/" : "", name);
	if (r < 0)
		return r;
	if (S_ISREG(st.st_mode)) {
		char *path = buf_detach(&rel, NULL);

		return path ? walk_file(w, fd, name, path, st.st_size) : -ENOMEM;
	}
	sub = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (sub < 0) {
		buf_release(&rel);
		return -errno;
	}
	r = walk_dir(w, sub, buf_str(&rel), depth + 1);
	buf_release(&rel);
	return r;
}

static int name_cmp(const void *a, const void *b)
{
	char *const *x = a, *const *y = b;

	return strcmp(*x, *y);
}

static void names_free(char **v, size_t n)
{
	while (n > 0)
		free(v[--n]);
	free(v);
}

/* The entries of a directory, sorted, so the walk does not depend on readdir. */
static int dir_names(DIR *dir, char ***ret, size_t *ret_n)
{
	char **v = NULL, **nv = NULL;
	size_t n = 0, cap = 0;
	struct dirent *e = NULL;
	int r = 0;

	errno = 0;
	while ((e = readdir(dir)) != NULL) {
		if (n == cap) {
			cap = cap ? cap * 2 : 32;
			nv = realloc(v, cap * sizeof(*v));
			if (!nv) {
				r = -ENOMEM;
				goto out;
			}
			v = nv;
		}
		v[n] = strdup(e->d_name);
		if (!v[n]) {
			r = -ENOMEM;
			goto out;
		}
		n++;
		errno = 0;
	}
	if (errno) {
		r = -errno;
		goto out;
	}
	qsort(v, n, sizeof(*v), name_cmp);
	*ret = v;
	*ret_n = n;
	v = NULL;
	n = 0;
out:
	names_free(v, n);
	return r;
}

/* Walk the directory open at fd (which this takes over). */
static int walk_dir(struct walk *w, int fd, const char *prefix, unsigned depth)
{
	DIR *dir = NULL;
	char **names = NULL;
	size_t i, n = 0;
	int r;

	if (depth > DIR_MAX_DEPTH) {
		char q[QUOTE_MAX];

		close(fd);
		str_quote(prefix, q, sizeof(q));
		r = diags_add(w->d, NULL,
			      "directories nested deeper than %d levels at %s; "
			      "expected a flatter repository",
			      DIR_MAX_DEPTH, q);
		return r < 0 ? r : -EINVAL;
	}
	dir = fdopendir(fd);
	if (!dir) {
		close(fd);
		return -errno;
	}
	r = dir_names(dir, &names, &n);
	for (i = 0; i < n; i++) {
		if (r == 0)
			r = walk_entry(w, dirfd(dir), prefix, names[i], depth);
		free(names[i]);
	}
	free(names);
	closedir(dir);
	return r;
}

/* Hand the walk's files over as manifest_files (the walk keeps nothing). */
static int walk_detach(struct walk *w, struct manifest_file **ret_files, size_t *ret_n)
{
	struct manifest_file *mf = calloc(w->n + 1, sizeof(*mf));
	size_t i;

	if (!mf)
		return -ENOMEM;
	for (i = 0; i < w->n; i++) {
		mf[i].name = w->files[i].name;
		mf[i].data = w->files[i].data;
		mf[i].len = w->files[i].len;
	}
	*ret_files = mf;
	*ret_n = w->n;
	free(w->files);
	memset(w, 0, sizeof(*w));
	return 0;
}

int manifests_read_dir(const char *path, struct diags *d, struct manifest_file **ret_files,
		       size_t *ret_n)
{
	struct walk w;
	int fd, r;

	memset(&w, 0, sizeof(w));
	w.d = d;
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	r = walk_dir(&w, fd, "", 0);
	if (r == 0)
		r = walk_detach(&w, ret_files, ret_n);
	else
		diags_sort(d);
	walk_release(&w);
	return r;
}

void manifest_files_free(struct manifest_file *files, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free((char *)(uintptr_t)files[i].name);
		free((char *)(uintptr_t)files[i].data);
	}
	free(files);
}

int manifests_load_dir(const char *path, struct diags *d, struct manifest_set **ret)
{
	struct manifest_file *files = NULL;
	size_t n = 0;
	int r;

	r = manifests_read_dir(path, d, &files, &n);
	if (r == 0)
		r = manifests_load_files(files, n, d, ret);
	manifest_files_free(files, n);
	return r;
}
