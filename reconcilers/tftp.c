/*
 * tftp: per node, a boot directory named by serial (or MAC) holding the
 * image's boot files, hard-linked from the store, and the node's own
 * config.txt and cmdline.txt.  It is published as one tree (resource.h), so a
 * Pi booting during a change sees the old set of files or the new one.
 * Pi 3 nodes also need bootcode.bin at the TFTP root (NETBOOT.md §2).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "reconciler.h"
#include "buf.h"
#include "hash.h"

/* Kernel arguments bramble decides for a netbooted root. */
static bool arg_is_managed(const char *a, size_t n)
{
	static const char *const keys[] = {
		"root=", "rootfstype=", "nfsroot=", "init=", "fsck.repair=", "ip=", "resize", NULL};
	size_t i;

	if ((n == 8 && strncmp(a, "rootwait", 8) == 0) || (n == 2 && strncmp(a, "rw", 2) == 0) ||
	    (n == 2 && strncmp(a, "ro", 2) == 0))
		return true;
	for (i = 0; keys[i]; i++)
		if (strncmp(a, keys[i], strlen(keys[i])) == 0)
			return true;
	return false;
}

/*
 * Whether an image argument is repeated among the node's extras.  Other
 * extras are appended after the image's: the kernel takes the last value of
 * a parameter, and console= may legitimately appear more than once.
 */
static bool arg_repeated(const char *a, size_t n, const struct strlist *extra)
{
	size_t i;

	for (i = 0; i < extra->n; i++)
		if (strlen(extra->v[i]) == n && strncmp(extra->v[i], a, n) == 0)
			return true;
	return false;
}

/* Whether the node's own arguments set this parameter (then they decide it). */
static bool arg_repeated_key(const struct strlist *extra, const char *key)
{
	size_t i;

	for (i = 0; i < extra->n; i++)
		if (strncmp(extra->v[i], key, strlen(key)) == 0)
			return true;
	return false;
}

/*
 * What a node on a shared root needs on its command line: its serial, by
 * which the first-boot service finds the node's settings in the shared root
 * (firstboot.h), and its machine id.  The root's /etc/machine-id is empty
 * and its overlay is a tmpfs, so without one systemd would make a new id at
 * every boot: a new journal directory, new DHCP and NetworkManager client
 * ids, a new machine for every tool that counts them.  The id is made from
 * the serial (a UUID v4's form, as systemd makes them), so it is the node's
 * for as long as the node is, and is served, like the rest of the boot
 * files, over TFTP.
 */
static int shared_args(const struct node *n, struct buf *b)
{
	char id[SHA256_HEX_LEN + 1];
	struct buf key = BUF_INIT;
	int r;

	r = buf_printf(b, " bramble.serial=%s", n->serial);
	if (r < 0 || arg_repeated_key(&n->cmdline, "systemd.machine_id="))
		return r;
	r = buf_printf(&key, "bramble machine-id\n%s", n->serial);
	if (r == 0)
		r = sha256_hex(key.data, key.len, id);
	buf_release(&key);
	if (r < 0)
		return r;
	id[12] = '4';
	id[16] = "89ab"[id[16] % 4];
	return buf_printf(b, " systemd.machine_id=%.32s", id);
}

static int render_cmdline(struct render_ctx *ctx, const struct node *n, const struct image_tree *t,
			  struct buf *b)
{
	const struct cluster *c = ctx->set->cluster;
	const char *p = t->cmdline_txt;
	char *root = NULL;
	size_t i;
	int r;

	/* The image's own arguments (console=, quiet, ...), less the ones bramble manages. */
	while (*p) {
		size_t len;

		while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
			p++;
		len = strcspn(p, " \t\r\n");
		if (len && !arg_is_managed(p, len) && !arg_repeated(p, len, &n->cmdline)) {
			r = buf_add(b, p, len);
			if (r == 0)
				r = buf_addch(b, ' ');
			if (r < 0)
				return r;
		}
		p += len;
	}
	r = node_root_path(ctx, n, &root);
	if (r < 0)
		return r;
	r = buf_printf(b, "root=/dev/nfs nfsroot=%s:%s,vers=%u,tcp %s ip=dhcp rootwait", c->server,
		       root, c->nfs_version, n->root_mode == ROOT_MODE_SHARED ? "ro" : "rw");
	free(root);
	/*
	 * A shared root is read-only: the overlayroot package's initramfs hook
	 * (init-bottom, after the initramfs mounted the NFS root) puts a tmpfs
	 * over it.  This is what raspi-config's overlay option uses on Bookworm;
	 * the older boot=overlay script replaces local_mount_root and so only
	 * works with a root on a local block device, never over NFS.
	 */
	if (r == 0 && n->root_mode == ROOT_MODE_SHARED)
		r = buf_adds(b, " overlayroot=tmpfs");
	if (r == 0 && n->root_mode == ROOT_MODE_SHARED)
		r = shared_args(n, b);
	/* Raspberry Pi OS keeps the Wi-Fi radio off until the regulatory domain is set. */
	if (r == 0 && n->first_boot.wifi.country &&
	    !arg_repeated_key(&n->cmdline, "cfg80211.ieee80211_regdom="))
		r = buf_printf(b, " cfg80211.ieee80211_regdom=%s", n->first_boot.wifi.country);
	for (i = 0; r == 0 && i < n->cmdline.n; i++)
		r = buf_printf(b, " %s", n->cmdline.v[i]);
	if (r == 0)
		r = buf_addch(b, '\n');
	return r;
}

static int render_config(const struct node *n, const struct image_tree *t, struct buf *b)
{
	const struct config_txt *ct = &n->config_txt;
	size_t i, len = strlen(t->config_txt);
	int r;

	r = buf_add(b, t->config_txt, len);
	if (r == 0 && len && t->config_txt[len - 1] != '\n')
		r = buf_addch(b, '\n');
	if (r == 0 && ct->form == CONFIG_TXT_NONE)
		return 0;
	if (r == 0)
		r = buf_printf(b,
			       "\n# bramble: settings of node %s (serial %s); change them in the "
			       "repository\n[all]\n",
			       n->name, n->serial);
	for (i = 0; r == 0 && ct->form == CONFIG_TXT_LINES && i < ct->lines.n; i++)
		r = buf_printf(b, "%s\n", ct->lines.v[i]);
	for (i = 0; r == 0 && ct->form == CONFIG_TXT_MAP && i < ct->map.n; i++)
		r = buf_printf(b, "%s=%s\n", ct->map.v[i].key, ct->map.v[i].value);
	return r;
}

/* path: a string literal, which every node's tree's child borrows. */
static int add_text(struct resource_set *s, const char *path, struct buf *b)
{
	struct resource *r = resource_set_add_file_at(s, ROOT_TFTP, path, 0644, b->data, b->len);

	buf_release(b);
	return r ? 0 : -ENOMEM;
}

static int node_tree(struct render_ctx *ctx, const struct node *n, struct resource_set *out)
{
	const struct image_tree *t = image_tree_of(ctx, n->image);
	struct resource_set kids = RESOURCE_SET_INIT;
	struct buf b = BUF_INIT;
	struct resource *tree;
	char dir[18];
	int r;

	if (!t)
		return -EINVAL;
	r = render_config(n, t, &b);
	if (r == 0)
		r = add_text(&kids, "config.txt", &b);
	if (r == 0)
		r = render_cmdline(ctx, n, t, &b);
	if (r == 0)
		r = add_text(&kids, "cmdline.txt", &b);
	node_tftp_dir(ctx->set, n, dir);
	tree = r == 0 ? resource_set_add(out, RES_TREE, ROOT_TFTP, dir, 0755, NULL) : NULL;
	if (r == 0 && !tree)
		r = -ENOMEM;
	if (r == 0) {
		tree->node = n->name;
		tree->owner = "tftp";
		/* The image's boot files: one list, outliving the set, every node's tree links. */
		tree->shared = t->links;
		tree->n_shared = (uint32_t)t->n_links;
		r = resource_tree_attach(tree, &kids);
	}
	buf_release(&b);
	resource_set_release(&kids);
	return r;
}

/* bootcode.bin at the TFTP root, from the image of the first Pi 3 node. */
static int bootcode(struct render_ctx *ctx, struct resource_set *out, struct diags *d)
{
	const struct manifest_set *set = ctx->set;
	const struct image_tree *t;
	struct resource *res;
	size_t i, j;

	for (i = 0; i < set->n_nodes && set->nodes[i]->model != PI_MODEL_PI3; i++)
		;
	if (i == set->n_nodes)
		return 0;
	t = image_tree_of(ctx, set->nodes[i]->image);
	if (t && t->absent) /* checked when the image is fetched */
		return 0;
	for (j = 0; t && j < t->n_files && strcmp(t->files[j].path, "bootcode.bin"); j++)
		;
	if (!t || j == t->n_files)
		return diags_add(d, &set->nodes[i]->pos,
				 "node \"%s\" is a pi3, but image \"%s\" has no boot/bootcode.bin; "
				 "expected it for Pi 3 netboot",
				 set->nodes[i]->name, set->nodes[i]->image->name) < 0
			       ? -ENOMEM
			       : -EINVAL;
	res = resource_set_add(out, RES_HARDLINK, ROOT_TFTP, "bootcode.bin", t->files[j].mode,
			       NULL);
	if (!res)
		return -ENOMEM;
	res->data = t->files[j].store;
	res->len = strlen(res->data);
	res->digest = t->files[j].digest;
	res->flags |= RES_F_BORROWED;
	res->owner = "tftp";
	return 0;
}

static int tftp_desired(struct render_ctx *ctx, struct resource_set *out, struct diags *d)
{
	size_t i;
	int r;

	for (i = 0; i < ctx->set->n_nodes; i++) {
		if (ctx->set->nodes[i]->stub) /* not in this pass's scope */
			continue;
		r = node_tree(ctx, ctx->set->nodes[i], out);
		if (r < 0)
			return r;
	}
	return bootcode(ctx, out, d);
}

const struct reconciler reconciler_tftp = {
	.name = "tftp",
	.desired = tftp_desired,
};
