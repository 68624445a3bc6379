/*
 * rootfs: the directory of each node's NFS root.  A private root is the
 * node's own data: it is never deleted by a reconcile (RES_F_KEEP), whatever
 * the repository says.  Filling it from the image and the files bramble
 * manages inside it (hostname, fstab, first boot) are the image reconciler's
 * work; here the directories are made to exist so that they can be exported:
 * <nfs>/<serial> for a private root, <nfs>/shared/<image> for a shared one.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "reconciler.h"
#include "../common/buf.h"

static bool has_path(const struct resource_set *out, size_t first, const char *path)
{
	size_t i;

	for (i = first; i < out->n; i++)
		if (strcmp(out->v[i].path, path) == 0)
			return true;
	return false;
}

static int add_kept_dir(struct resource_set *out, size_t first, const char *path)
{
	struct resource *res;

	if (has_path(out, first, path))
		return 0;
	res = resource_set_add(out, RES_DIR, ROOT_NFS, path, 0755, NULL);
	if (!res)
		return -ENOMEM;
	res->flags |= RES_F_KEEP;
	return 0;
}

/* The read-only root of an image used by shared-root nodes: shared/<image>. */
static int shared_root(struct resource_set *out, size_t first, const struct node *n)
{
	struct buf path = BUF_INIT;
	int r;

	r = add_kept_dir(out, first, "shared");
	if (r == 0)
		r = buf_printf(&path, "shared/%s", n->image->name);
	if (r == 0)
		r = add_kept_dir(out, first, buf_str(&path));
	buf_release(&path);
	return r;
}

static int rootfs_desired(struct render_ctx *ctx, struct resource_set *out, struct diags *d)
{
	const struct manifest_set *set = ctx->set;
	size_t i, first = out->n;
	int r;

	(void)d;
	for (i = 0; i < set->n_nodes; i++) {
		const struct node *n = set->nodes[i];
		struct resource *res;

		if (n->root_mode == ROOT_MODE_SHARED) {
			r = shared_root(out, first, n);
			if (r < 0)
				return r;
			continue;
		}
		res = resource_set_add(out, RES_DIR, ROOT_NFS, n->serial, 0755, NULL);
		if (!res)
			return -ENOMEM;
		res->flags |= RES_F_KEEP;
		res->node = n->name;
	}
	return 0;
}

const struct reconciler reconciler_rootfs = {
	.name = "rootfs",
	.desired = rootfs_desired,
};
