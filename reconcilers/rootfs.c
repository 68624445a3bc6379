/*
 * rootfs: the directory of each node's NFS root.  A private root is the
 * node's own data: it is never deleted by a reconcile (RES_F_KEEP), whatever
 * the repository says.  Filling it from the image and the files bramble
 * manages inside it (hostname, fstab, first boot) are the image reconciler's
 * work; here the directory is made to exist so that it can be exported.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "reconciler.h"
#include "../common/buf.h"

static int rootfs_desired(struct render_ctx *ctx, struct resource_set *out, struct diags *d)
{
	const struct manifest_set *set = ctx->set;
	size_t i;

	(void)d;
	for (i = 0; i < set->n_nodes; i++) {
		const struct node *n = set->nodes[i];
		struct resource *res;

		if (n->root_mode != ROOT_MODE_PRIVATE)
			continue;
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
