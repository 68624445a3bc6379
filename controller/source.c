#include "source.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "git_source.h"
#include "../common/buf.h"
#include "../common/fsutil.h"
#include "../common/hash.h"

#define SOURCE_MAX_DEPTH 16

struct collect {
	struct source_rev *rev;
	size_t cap;
	size_t total;
	struct diags *d;
};

static bool is_manifest(const char *name)
{
	size_t n = strlen(name);

	return (n > 5 && strcmp(name + n - 5, ".yaml") == 0) ||
	       (n > 4 && strcmp(name + n - 4, ".yml") == 0);
}

static int add_file(struct collect *c, int dfd, const char *name, const char *rel)
{
	struct manifest_file *f;
	char *data = NULL;
	size_t len = 0;
	int r;

	if (c->rev->n_files >= MANIFEST_MAX_FILES)
		return diags_add(c->d, NULL, "more than %d manifest files; expected fewer",
				 MANIFEST_MAX_FILES) < 0
			       ? -ENOMEM
			       : -EINVAL;
	r = file_read_at(dfd, name, MANIFEST_MAX_FILE_SIZE + 1, &data, &len);
	if (r == -EFBIG || (r == 0 && len > MANIFEST_MAX_FILE_SIZE)) {
		struct pos p = {rel, 1, 1};

		free(data);
		return diags_add(c->d, &p,
				 "file is larger than %zu bytes; expected a smaller manifest",
				 MANIFEST_MAX_FILE_SIZE) < 0
			       ? -ENOMEM
			       : -EINVAL;
	}
	if (r < 0)
		return r;
	c->total += len;
	if (c->rev->n_files == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 16;
		struct manifest_file *v = realloc(c->rev->files, cap * sizeof(*v));

		if (!v) {
			free(data);
			return -ENOMEM;
		}
		c->rev->files = v;
		c->cap = cap;
	}
	f = &c->rev->files[c->rev->n_files];
	f->name = strdup(rel);
	f->data = data;
	f->len = len;
	if (!f->name) {
		free(data);
		return -ENOMEM;
	}
	c->rev->n_files++;
	return 0;
}

static int walk(struct collect *c, int dfd, const char *prefix, int depth)
{
	DIR *d;
	struct dirent *de;
	int r = 0;

	if (depth > SOURCE_MAX_DEPTH) {
		close(dfd);
		return 0;
	}
	d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return -errno;
	}
	while (r == 0 && (de = readdir(d)) != NULL) {
		struct buf rel = BUF_INIT;
		struct stat st;

		if (de->d_name[0] == '.')
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		r = buf_printf(&rel, "%s%s%s", prefix, *prefix ? "/" : "", de->d_name);
		if (r == 0 && S_ISDIR(st.st_mode)) {
			int sub = openat(dirfd(d), de->d_name,
					 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

			r = sub < 0 ? -errno : walk(c, sub, buf_str(&rel), depth + 1);
		} else if (r == 0 && S_ISREG(st.st_mode) && is_manifest(de->d_name)) {
			r = add_file(c, dirfd(d), de->d_name, buf_str(&rel));
		}
		buf_release(&rel);
	}
	closedir(d);
	return r;
}

static int file_cmp(const void *a, const void *b)
{
	return strcmp(((const struct manifest_file *)a)->name,
		      ((const struct manifest_file *)b)->name);
}

static int digest(const char *dir, struct source_rev *rev)
{
	struct sha256_ctx c;
	char hex[SHA256_HEX_LEN + 1];
	struct buf b = BUF_INIT;
	size_t i;
	int r;

	r = sha256_init(&c);
	for (i = 0; r == 0 && i < rev->n_files; i++) {
		char len[32];
		int n = snprintf(len, sizeof(len), "%zu\n", rev->files[i].len);

		r = sha256_update(&c, rev->files[i].name, strlen(rev->files[i].name) + 1);
		if (r == 0)
			r = sha256_update(&c, len, (size_t)n);
		if (r == 0)
			r = sha256_update(&c, rev->files[i].data, rev->files[i].len);
	}
	if (r < 0) {
		sha256_release(&c);
		return r;
	}
	r = sha256_final_hex(&c, hex);
	if (r == 0)
		r = buf_printf(&b, "dir:%s@sha256:%.16s", dir, hex);
	if (r == 0)
		rev->revision = buf_detach(&b, NULL);
	return r < 0 ? r : rev->revision ? 0 : -ENOMEM;
}

int source_read(const struct bramble_config *cfg, struct source_rev *ret, struct diags *d)
{
	struct collect c;
	char *dir = NULL;
	int fd, r;

	memset(ret, 0, sizeof(*ret));
	if (!cfg->source) {
		diags_add(d, NULL,
			  "no source: give --source DIR or source.url in the configuration");
		return -EINVAL;
	}
	dir = cfg->source_path ? path_join(cfg->source, cfg->source_path) : strdup(cfg->source);
	if (!dir)
		return -ENOMEM;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		diags_add(d, NULL, "cannot open the source directory \"%s\": %s", dir,
			  strerror(errno));
		free(dir);
		return r == -ENOMEM ? r : -EINVAL;
	}
	memset(&c, 0, sizeof(c));
	c.rev = ret;
	c.d = d;
	r = walk(&c, fd, "", 0);
	if (r == 0 && c.total > MANIFEST_MAX_TOTAL_SIZE)
		r = diags_add(d, NULL, "manifests total more than %zu bytes",
			      MANIFEST_MAX_TOTAL_SIZE) < 0
			    ? -ENOMEM
			    : -EINVAL;
	if (r == 0) {
		qsort(ret->files, ret->n_files, sizeof(*ret->files), file_cmp);
		r = digest(dir, ret);
	}
	free(dir);
	if (r < 0)
		source_rev_release(ret);
	return r;
}

void source_rev_release(struct source_rev *rev)
{
	size_t i;

	for (i = 0; i < rev->n_files; i++) {
		free((char *)(uintptr_t)rev->files[i].name);
		free((char *)(uintptr_t)rev->files[i].data);
	}
	free(rev->files);
	free(rev->revision);
	memset(rev, 0, sizeof(*rev));
}
