/*
 * render_read: the one way a renderer reads an input outside the manifests.
 *
 * The sealed fast path (seal.h) skips a pass when no input changed; it can
 * know that only if it knows every input.  Each function here reads (or
 * stats, or lists) and records what it read in ctx->deps, so a renderer
 * cannot read an input the seal does not watch: it has no other way to read
 * one.  scripts/check-render-reads.sh fails on a file read elsewhere in the
 * renderers.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "reconciler.h"
#include "buf.h"
#include "fsutil.h"
#include "imgstore.h"

/* Record an input (beneath root, or absolute with SEAL_ABSPATH) for the seal. */
static int render_dep(struct render_ctx *ctx, unsigned root, const char *path)
{
	return ctx->deps ? seal_deps_add(ctx->deps, root, path, NULL) : 0;
}

int render_read_secret(struct render_ctx *ctx, const struct node *n, const char *path, size_t max,
		       char **ret_data, size_t *ret_len)
{
	char *abs = NULL, *data = NULL;
	size_t len = 0;
	int r;

	if (!ctx->secrets_dir)
		return -EXDEV;
	/* The seal stats an absolute path: a relative one is beneath the directory. */
	abs = path[0] == '/' ? strdup(path) : path_join(ctx->secrets_dir, path);
	if (!abs)
		return -ENOMEM;
	r = file_read_beneath(ctx->secrets_dir, path, max, &data, &len);
	/* The node's alone: a delta pass that leaves the node out carries it. */
	if (r == 0 && ctx->deps)
		r = seal_deps_add(ctx->deps, SEAL_ABSPATH, abs, n->name);
	if (r < 0 && data) {
		explicit_bzero(data, len);
		free(data);
	}
	free(abs);
	if (r < 0)
		return r;
	*ret_data = data;
	*ret_len = len;
	return 0;
}

int render_read_image_file(struct render_ctx *ctx, const char *path, size_t max, char **ret_data,
			   size_t *ret_len)
{
	char *data = NULL;
	size_t len = 0;
	int r;

	if (ctx->images_fd < 0)
		return -ENOENT;
	r = file_read_at(ctx->images_fd, path, max, &data, &len);
	if (r == 0)
		r = render_dep(ctx, ROOT_IMAGES, path);
	if (r < 0) {
		free(data);
		return r;
	}
	*ret_data = data;
	*ret_len = len;
	return 0;
}

int render_stat_image(struct render_ctx *ctx, const char *path, struct stat *ret_st)
{
	struct stat st;
	int r;

	if (ctx->images_fd < 0)
		return -ENOENT;
	if (fstatat(ctx->images_fd, path, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	r = render_dep(ctx, ROOT_IMAGES, path);
	if (r == 0)
		*ret_st = st;
	return r;
}

/*
 * Whether path exists in the image store (1) or not (0).  An absent path
 * can appear only by a change of its nearest existing directory above: that
 * one is the input then.
 */
int render_probe_image(struct render_ctx *ctx, const char *path)
{
	struct stat st;
	char *p, *slash;
	int r = 0, found;

	if (ctx->images_fd < 0)
		return 0;
	p = strdup(path);
	if (!p)
		return -ENOMEM;
	for (found = 1;; found = 0) {
		if (fstatat(ctx->images_fd, p, &st, AT_SYMLINK_NOFOLLOW) == 0) {
			r = render_dep(ctx, ROOT_IMAGES, p);
			break;
		}
		if (errno != ENOENT && errno != ENOTDIR) {
			r = -errno;
			break;
		}
		slash = strrchr(p, '/');
		if (slash)
			*slash = '\0';
		else
			strcpy(p, "."); /* the store itself, which exists */
	}
	free(p);
	return r < 0 ? r : found;
}

struct dep_walk {
	struct render_ctx *ctx;
	const struct dir_walk_visitor *inner;
	const char *dir;
	struct buf path;
};

/* Each entry the renderer keeps is an input. */
static int dep_visit(void *arg, const char *rel, const char *name, const struct stat *st)
{
	struct dep_walk *w = arg;
	int r = w->inner->visit(w->inner->arg, rel, name, st);

	if (r != 0 || !w->ctx->deps)
		return r;
	buf_truncate(&w->path, 0);
	r = buf_printf(&w->path, "%s/%s", w->dir, rel);
	return r < 0 ? r : render_dep(w->ctx, ROOT_IMAGES, buf_str(&w->path));
}

int render_walk_image(struct render_ctx *ctx, const char *dir, const struct dir_walk_visitor *v)
{
	struct dep_walk w = {ctx, v, dir, BUF_INIT};
	struct dir_walk_visitor outer = {dep_visit, &w, v->max_depth};
	int dfd, r;

	/* No image store yet (a plan on fresh outputs): nothing is in it. */
	if (ctx->images_fd < 0)
		return -ENOENT;
	r = dir_open_beneath(ctx->images_fd, dir, false, 0, &dfd);
	if (r < 0)
		return r;
	/* An entry added, removed or renamed changes the directory. */
	r = render_dep(ctx, ROOT_IMAGES, dir);
	if (r < 0)
		close(dfd);
	else
		r = dir_walk(dfd, &outer);
	buf_release(&w.path);
	return r;
}

int render_image_digest(struct render_ctx *ctx, const struct image *img,
			char ret[SHA256_HEX_LEN + 1])
{
	char digest[SHA256_HEX_LEN + 1];
	char *path = NULL;
	int r;

	/* The digest of a file:// image without sha256 was recorded by
	 * imgstore_ensure, keyed by the file's stat: the file is the input. */
	r = imgstore_digest(ctx->images_fd, img, digest);
	if (r == 0 && !img->sha256) {
		r = imgstore_file_url_path(img->url, &path);
		if (r == 0)
			r = render_dep(ctx, SEAL_ABSPATH, path);
		free(path);
		if (r == -ENOENT)
			r = 0;
	}
	if (r == 0)
		memcpy(ret, digest, sizeof(digest));
	return r;
}
