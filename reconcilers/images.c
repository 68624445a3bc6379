/*
 * images: find each Image of the set in the image store and list its boot
 * tree, so that the tftp reconciler can hard-link the files into every node's
 * boot directory.  An Image with a url is looked for under its sha256
 * ("sha256/<digest>"), where the downloader puts it once verified.  Not a
 * reconciler (reconciler.h says why): an input of the renderers, read
 * through the render-time read API like any other.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "reconciler.h"
#include "buf.h"
#include "fsutil.h"
#include "hash.h"

#define IMAGE_MAX_BOOT_FILES 20000
#define IMAGE_MAX_DEPTH	     8
#define IMAGE_TEXT_MAX	     ((size_t)1 << 20)

static int file_digest(struct image_file *f, const struct stat *st)
{
	char id[96];
	struct sha256_ctx c;
	int n, r;

	n = snprintf(id, sizeof(id), "\n%llu %lld %lld.%09ld", (unsigned long long)st->st_ino,
		     (long long)st->st_size, (long long)st->st_mtim.tv_sec, st->st_mtim.tv_nsec);
	r = sha256_init(&c);
	if (r == 0)
		r = sha256_update(&c, f->store, strlen(f->store));
	if (r == 0)
		r = sha256_update(&c, id, (size_t)n);
	if (r < 0) {
		sha256_release(&c);
		return r;
	}
	return sha256_final_hex(&c, f->digest);
}

static int add_file(struct image_tree *t, size_t *cap, const char *rel, const struct stat *st)
{
	bool dir = S_ISDIR(st->st_mode);
	mode_t mode = st->st_mode;
	struct image_file *f;
	struct buf s = BUF_INIT;

	if (t->n_files >= IMAGE_MAX_BOOT_FILES)
		return -E2BIG;
	if (t->n_files == *cap) {
		size_t c = *cap ? *cap * 2 : 32;
		struct image_file *v = realloc(t->files, c * sizeof(*v));

		if (!v)
			return -ENOMEM;
		t->files = v;
		*cap = c;
	}
	f = &t->files[t->n_files];
	memset(f, 0, sizeof(*f));
	f->dir = dir;
	f->mode = mode & 07777;
	f->path = strdup(rel);
	if (!f->path || buf_printf(&s, "%s/%s", t->boot_dir, rel) < 0) {
		free(f->path);
		buf_release(&s);
		return -ENOMEM;
	}
	f->store = buf_detach(&s, NULL);
	if (!f->store || (!dir && file_digest(f, st) < 0)) {
		free(f->path);
		free(f->store);
		return -ENOMEM;
	}
	t->n_files++;
	return 0;
}

struct tree_walk {
	struct image_tree *t;
	size_t cap;
};

/* The files and directories bramble can serve; hidden ones are not. */
static int tree_visit(void *arg, const char *rel, const char *name, const struct stat *st)
{
	struct tree_walk *w = arg;

	if (name[0] == '.' || (!S_ISREG(st->st_mode) && !S_ISDIR(st->st_mode)))
		return DIR_WALK_SKIP;
	if (!res_path_is_safe(rel))
		return DIR_WALK_SKIP; /* not a name we can serve (nor anything below it) */
	return add_file(w->t, &w->cap, rel, st);
}

static int file_cmp(const void *a, const void *b)
{
	return strcmp(((const struct image_file *)a)->path, ((const struct image_file *)b)->path);
}

static int read_text(struct render_ctx *ctx, const char *boot_dir, const char *name, char **ret)
{
	struct buf p = BUF_INIT;
	size_t len;
	int r;

	r = buf_printf(&p, "%s/%s", boot_dir, name);
	if (r < 0)
		return r;
	r = render_read_image_file(ctx, buf_str(&p), IMAGE_TEXT_MAX, ret, &len);
	buf_release(&p);
	if (r == -ENOENT) {
		*ret = strdup("");
		return *ret ? 0 : -ENOMEM;
	}
	return r;
}

/* The children every node's tree of this image shares (struct image_tree). */
static int tree_links(struct image_tree *t)
{
	size_t i;

	t->links = calloc(t->n_files ? t->n_files : 1, sizeof(*t->links));
	if (!t->links)
		return -ENOMEM;
	for (i = 0; i < t->n_files; i++) {
		const struct image_file *f = &t->files[i];
		struct resource *k = &t->links[t->n_links];

		if (strcmp(f->path, "config.txt") == 0 || strcmp(f->path, "cmdline.txt") == 0)
			continue;
		k->type = f->dir ? RES_DIR : RES_HARDLINK;
		k->root = ROOT_TFTP;
		k->mode = (uint16_t)(f->dir ? 0755 : f->mode);
		k->flags = RES_F_BORROWED | RES_F_BORROWED_PATH | RES_F_TREE_CHILD;
		k->path = f->path;
		if (!f->dir) {
			k->data = f->store;
			k->len = (uint32_t)strlen(f->store);
			k->digest = f->digest;
		}
		t->n_links++;
	}
	return 0;
}

/* The directory of an image in the store: its path, or sha256/<digest>. */
static int image_dir(struct render_ctx *ctx, const struct image *img, struct buf *b)
{
	char digest[SHA256_HEX_LEN + 1];
	int r;

	if (img->path)
		return buf_adds(b, img->path);
	r = render_image_digest(ctx, img, digest);
	return r < 0 ? r : buf_printf(b, "sha256/%s", digest);
}

/*
 * List an image's boot tree (every file and directory of it is an input of
 * every node's tree: the read API records them for the seal) and read its
 * own config.txt and cmdline.txt.
 */
static int tree_load(struct render_ctx *ctx, const struct image *img, struct image_tree *t)
{
	struct buf b = BUF_INIT;
	struct tree_walk w = {t, 0};
	struct dir_walk_visitor v = {tree_visit, &w, IMAGE_MAX_DEPTH};
	size_t i;
	int r;

	t->image = img;
	r = image_dir(ctx, img, &b);
	if (r < 0) {
		buf_release(&b);
		return r;
	}
	t->root_dir = path_join(buf_str(&b), "root");
	t->boot_dir = path_join(buf_str(&b), "boot");
	buf_release(&b);
	if (!t->root_dir || !t->boot_dir)
		return -ENOMEM;
	r = render_walk_image(ctx, t->boot_dir, &v);
	if (r < 0)
		return r;
	qsort(t->files, t->n_files, sizeof(*t->files), file_cmp);
	for (i = 0; i < t->n_files; i++)
		t->has_bootcode |= strcmp(t->files[i].path, "bootcode.bin") == 0;
	r = read_text(ctx, t->boot_dir, "config.txt", &t->config_txt);
	if (r == 0)
		r = read_text(ctx, t->boot_dir, "cmdline.txt", &t->cmdline_txt);
	return r == 0 ? tree_links(t) : r;
}

/* Whether an image the store does not hold may render as an absent tree. */
static bool may_be_absent(const struct render_ctx *ctx, const struct image *img, int r)
{
	if (!(ctx->lenient & RENDER_ABSENT_IMAGES) || r == -ENOMEM)
		return false;
	return ctx->images_fd < 0 || (r == -ENOENT && !img->path);
}

/* An image not in the store yet: no files, empty texts, nothing checked. */
static int tree_absent(struct image_tree *t, const struct image *img)
{
	size_t j;

	for (j = 0; j < t->n_files; j++) {
		free(t->files[j].path);
		free(t->files[j].store);
	}
	free(t->files);
	free(t->links);
	free(t->config_txt);
	free(t->cmdline_txt);
	t->files = NULL;
	t->n_files = 0;
	t->links = NULL;
	t->n_links = 0;
	t->has_bootcode = false;
	t->absent = true;
	t->image = img;
	t->config_txt = strdup("");
	t->cmdline_txt = strdup("");
	if (!t->boot_dir)
		t->boot_dir = path_join(img->name, "boot");
	if (!t->root_dir)
		t->root_dir = path_join(img->name, "root");
	return t->config_txt && t->cmdline_txt && t->boot_dir && t->root_dir ? 0 : -ENOMEM;
}

int image_trees_load(struct render_ctx *ctx, struct diags *d)
{
	const struct manifest_set *set = ctx->set;
	size_t i;
	int r, bad = 0;

	ctx->trees = calloc(set->n_images ? set->n_images : 1, sizeof(*ctx->trees));
	if (!ctx->trees)
		return -ENOMEM;
	ctx->n_trees = set->n_images;
	for (i = 0; i < set->n_images; i++) {
		const struct image *img = set->images[i];

		/* An Image no node uses is not needed in the store. */
		if (!manifest_set_uses_image(set, img))
			continue;
		r = tree_load(ctx, img, &ctx->trees[i]);
		if (r < 0 && may_be_absent(ctx, img, r))
			r = tree_absent(&ctx->trees[i], img);
		if (r == -ENOMEM)
			return r;
		if (r == -ENOENT && !img->path)
			r = diags_add(d, &img->pos,
				      "image \"%s\" is not in the image store yet: bramble apply "
				      "downloads and extracts %s",
				      img->name, img->url);
		else if (r == -ENOENT || r == -ENOTDIR)
			r = diags_add(d, &img->pos,
				      "image \"%s\": no directory \"%s\" in the image store %s; "
				      "expected boot/ and root/ there",
				      img->name, ctx->trees[i].boot_dir,
				      ctx->root_path[ROOT_IMAGES]);
		else if (r < 0)
			r = diags_add(d, &img->pos, "image \"%s\": cannot read its boot tree: %s",
				      img->name, strerror(-r));
		else
			continue;
		if (r < 0)
			return r;
		bad++;
	}
	return bad ? -EINVAL : 0;
}

void image_trees_release(struct render_ctx *ctx)
{
	size_t i, j;

	for (i = 0; i < ctx->n_trees; i++) {
		struct image_tree *t = &ctx->trees[i];

		for (j = 0; j < t->n_files; j++) {
			free(t->files[j].path);
			free(t->files[j].store);
		}
		free(t->files);
		free(t->links);
		free(t->boot_dir);
		free(t->root_dir);
		free(t->config_txt);
		free(t->cmdline_txt);
	}
	free(ctx->trees);
	ctx->trees = NULL;
	ctx->n_trees = 0;
}

const struct image_tree *image_tree_of(const struct render_ctx *ctx, const struct image *img)
{
	size_t i;

	for (i = 0; i < ctx->n_trees; i++)
		if (ctx->trees[i].image == img && ctx->trees[i].boot_dir)
			return &ctx->trees[i];
	return NULL;
}
