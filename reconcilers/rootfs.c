/*
 * rootfs: every node's root file system, and the few files bramble manages
 * inside it.
 *
 * A node with root.mode private gets <nfs>/<serial>, made once per
 * root.generation from its image's root tree (noderoot.h: a RES_ROOT), its
 * own /etc/hostname, /etc/hosts and /etc/fstab, and the first-boot files
 * (firstboot.h).  Nodes with root.mode shared use <nfs>/shared/<image>, one
 * read-only copy of the image root per image, with an /etc/fstab without
 * SD card lines, an empty /etc/hostname (the name comes from DHCP until the
 * first-boot service sets the node's), the first-boot service, and each
 * node's first-boot files under etc/bramble/nodes/<serial>/ (firstboot.h).
 * Only these paths are ever written inside a root: whatever the node writes
 * is its own.  The copy of a root from its image empties /etc/machine-id
 * (noderoot.h): a private root's node makes its own at its first boot, a
 * shared root's nodes get theirs on the kernel command line (tftp.c).
 *
 * /boot/firmware is deliberately not mounted: the boot files are bramble's,
 * rendered from the repository and served over TFTP; a writable copy on the
 * node would invite changes that are silently not used, and an NFS export
 * of the TFTP directory would go stale at every generation switch (an
 * export resolves the symlink once).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "firstboot.h"
#include "reconciler.h"
#include "buf.h"

#define OVERLAYROOT_HOOK "usr/share/initramfs-tools/scripts/init-bottom/overlayroot"

/* What rootfs needs of each image, found once per pass. */
struct image_root {
	const struct image_tree *t;
	char identity[320];
	bool checked, bad, shared_done, has_overlayroot;
};

struct rootfs {
	struct render_ctx *ctx;
	struct resource_set *out;
	struct diags *d;
	struct image_root *img; /* indexed like ctx->set->images */
};

static struct image_root *image_root_of(struct rootfs *rf, const struct image *img)
{
	size_t i;

	for (i = 0; i < rf->ctx->set->n_images; i++)
		if (rf->ctx->set->images[i] == img)
			return &rf->img[i];
	return NULL;
}

/*
 * Find an image's root in the store and say which version of it this is: a
 * url image's directory is content-addressed; a local directory is known by
 * its inode and mtime (a directory replaced by a new release is a new one).
 */
static int image_root_check(struct rootfs *rf, const struct image *img, struct image_root *ir)
{
	const struct image_tree *t = image_tree_of(rf->ctx, img);
	struct buf hook = BUF_INIT;
	struct stat st;
	int r;

	ir->checked = true;
	ir->t = t;
	if (!t) {
		ir->bad = true;
		return 0;
	}
	if (t->absent) { /* not in the store yet: its root is checked when fetched */
		snprintf(ir->identity, sizeof(ir->identity), "%s (absent)", t->root_dir);
		return 0;
	}
	r = render_stat_image(rf->ctx, t->root_dir, &st);
	if (r == -ENOMEM)
		return r;
	if (r < 0 || !S_ISDIR(st.st_mode)) {
		ir->bad = true;
		r = diags_add(rf->d, &img->pos,
			      "image \"%s\": no directory \"%s\" in the image store %s; expected "
			      "the root file system there",
			      img->name, t->root_dir, rf->ctx->root_path[ROOT_IMAGES]);
		return r < 0 ? r : 0;
	}
	if (img->url && img->sha256)
		snprintf(ir->identity, sizeof(ir->identity), "%s", t->root_dir);
	else
		snprintf(ir->identity, sizeof(ir->identity), "%s@%llu.%lld", t->root_dir,
			 (unsigned long long)st.st_ino, (long long)st.st_mtim.tv_sec);
	r = buf_printf(&hook, "%s/" OVERLAYROOT_HOOK, t->root_dir);
	if (r == 0)
		r = render_probe_image(rf->ctx, buf_str(&hook));
	buf_release(&hook);
	if (r == -ENOMEM)
		return r;
	ir->has_overlayroot = r == 1; /* one that cannot be looked at is not there */
	return 0;
}

static int add_text(struct rootfs *rf, const char *root, const char *rel, const struct node *n,
		    const char *text)
{
	struct buf path = BUF_INIT;
	struct resource *res;
	int r;

	r = buf_printf(&path, "%s/%s", root, rel);
	if (r < 0)
		return r;
	res = resource_set_add_file(rf->out, ROOT_NFS, buf_str(&path), 0644, text, strlen(text));
	buf_release(&path);
	if (!res)
		return -ENOMEM;
	res->node = n ? n->name : NULL;
	return 0;
}

static int add_root(struct rootfs *rf, const char *path, const struct node *n,
		    const struct image_root *ir, const struct image *img)
{
	struct buf desc = BUF_INIT;
	struct resource *res;
	int r;

	if (n)
		r = buf_printf(&desc, "generation %u\n", n->root_generation);
	else
		r = buf_adds(&desc, "shared\n");
	if (r == 0)
		r = buf_printf(&desc, "image %s\nsource %s\nidentity %s\n", img->name,
			       ir->t->root_dir, ir->identity);
	res = r == 0 ? resource_set_add(rf->out, RES_ROOT, ROOT_NFS, path, 0755, buf_str(&desc))
		     : NULL;
	buf_release(&desc);
	if (r == 0 && !res)
		r = -ENOMEM;
	if (r == 0) {
		res->node = n ? n->name : NULL;
		/* A new root where the export already points (re-image): not a create. */
		res->act_update = ACTION_NFS_RESTART;
	}
	return r;
}

/*
 * A shared root's fstab names / too: its nodes boot with "ro" (the NFS mount
 * stays read-only), and overlayroot's initramfs hook then remounts its
 * overlay read-only as well, leaving the read-write remount to
 * systemd-remount-fs, which only remounts what fstab lists.  overlayroot
 * rewrites the line into the overlay's (its options dropped, so rw); without
 * overlayroot the line keeps / read-only.
 */
static int fstab_text(struct buf *b, const char *who, bool shared)
{
	return buf_printf(
		b,
		"# Managed by bramble (%s): changes here are replaced.\n"
		"# The root file system is mounted over NFS by the kernel (nfsroot= in\n"
		"# cmdline.txt), and there is no SD card.  /boot/firmware is not mounted:\n"
		"# the boot files are served by bramble over TFTP, from the repository.\n"
		"%s"
		"proc            /proc           proc    defaults          0       0\n",
		who,
		shared ? "# Read-only: overlayroot turns this line into its read-write overlay.\n"
			 "/dev/nfs        /               nfs     ro                0       0\n"
		       : "");
}

/* A node's /etc/hostname and /etc/hosts, beneath dir. */
static int node_names(struct rootfs *rf, const char *dir, const struct node *n)
{
	const char *host = n->first_boot.hostname ? n->first_boot.hostname : n->hostname;
	struct buf b = BUF_INIT;
	int r;

	r = buf_printf(&b, "%s\n", host);
	if (r == 0)
		r = add_text(rf, dir, "etc/hostname", n, buf_str(&b));
	buf_truncate(&b, 0);
	if (r == 0)
		r = buf_printf(&b,
			       "# Managed by bramble (node %s): changes here are replaced.\n"
			       "127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n"
			       "ff02::1\t\tip6-allnodes\nff02::2\t\tip6-allrouters\n\n"
			       "127.0.1.1\t%s\n",
			       n->name, host);
	if (r == 0)
		r = add_text(rf, dir, "etc/hosts", n, buf_str(&b));
	buf_release(&b);
	return r;
}

static int private_root(struct rootfs *rf, const struct node *n, struct image_root *ir)
{
	struct buf b = BUF_INIT, who = BUF_INIT;
	int r;

	r = add_root(rf, n->serial, n, ir, n->image);
	if (r == 0)
		r = node_names(rf, n->serial, n);
	if (r == 0)
		r = buf_printf(&who, "node %s", n->name);
	if (r == 0)
		r = fstab_text(&b, buf_str(&who), false);
	if (r == 0)
		r = add_text(rf, n->serial, "etc/fstab", n, buf_str(&b));
	if (r == 0)
		r = firstboot_render(rf->ctx, n, n->serial, rf->out, rf->d);
	if (r == 0)
		r = firstboot_render_service(n->serial, n, rf->out);
	buf_release(&b);
	buf_release(&who);
	return r;
}

/* The shared root of n's image, once per image: the copy and bramble's files in it. */
static int shared_copy(struct rootfs *rf, const struct node *n, struct image_root *ir,
		       const char *path)
{
	struct buf b = BUF_INIT, who = BUF_INIT;
	int r;

	ir->shared_done = true;
	r = add_root(rf, path, NULL, ir, n->image);
	if (r == 0)
		r = buf_printf(&who, "image %s, shared by its nodes", n->image->name);
	if (r == 0)
		r = fstab_text(&b, buf_str(&who), true);
	if (r == 0)
		r = add_text(rf, path, "etc/fstab", NULL, buf_str(&b));
	if (r == 0)
		r = add_text(rf, path, "etc/hostname", NULL, "");
	if (r == 0)
		r = firstboot_render_service(path, NULL, rf->out);
	buf_release(&b);
	buf_release(&who);
	return r;
}

/*
 * A node on a shared root: the root (once per image), and the node's own
 * names and first-boot files in its directory there, which the first-boot
 * service copies over the node's overlay at boot.
 */
static int shared_root(struct rootfs *rf, const struct node *n, struct image_root *ir)
{
	struct buf path = BUF_INIT, dir = BUF_INIT;
	int r;

	r = buf_printf(&path, "shared/%s", n->image->name);
	if (r == 0 && !ir->shared_done)
		r = shared_copy(rf, n, ir, buf_str(&path));
	if (r == 0 && !n->stub)
		r = buf_printf(&dir, "%s/etc/bramble/nodes/%s", buf_str(&path), n->serial);
	if (r == 0 && !n->stub)
		r = node_names(rf, buf_str(&dir), n);
	if (r == 0 && !n->stub)
		r = firstboot_render(rf->ctx, n, buf_str(&dir), rf->out, rf->d);
	buf_release(&path);
	buf_release(&dir);
	return r;
}

/* A note on a shared root whose image lacks overlayroot. */
static int shared_notes(struct rootfs *rf, size_t first)
{
	size_t i, k;

	for (i = first; i < rf->out->n; i++) {
		struct resource *res = &rf->out->v[i];
		struct image_root *ir = NULL;

		if (res->type != RES_ROOT || res->node)
			continue;
		for (k = 0; k < rf->ctx->set->n_images && !ir; k++)
			if (rf->img[k].shared_done && strcmp(res->path + strlen("shared/"),
							     rf->ctx->set->images[k]->name) == 0)
				ir = &rf->img[k];
		if (!ir || ir->has_overlayroot)
			continue;
		res->note = strdup("the image has no overlayroot (initramfs hook): its nodes "
				   "boot with a read-only root and no tmpfs overlay; install "
				   "the overlayroot package in the image");
		if (!res->note)
			return -ENOMEM;
	}
	return 0;
}

static int rootfs_run(struct rootfs *rf)
{
	const struct manifest_set *set = rf->ctx->set;
	size_t i, first = rf->out->n;
	bool shared = false;
	int r, bad = 0;

	for (i = 0; i < set->n_nodes; i++) {
		const struct node *n = set->nodes[i];
		struct image_root *ir = image_root_of(rf, n->image);

		if (!ir)
			return -EINVAL;
		r = ir->checked ? 0 : image_root_check(rf, n->image, ir);
		if (r < 0)
			return r;
		if (ir->bad) {
			bad = 1;
			continue;
		}
		if (n->root_mode == ROOT_MODE_SHARED) {
			shared = true;
			r = shared_root(rf, n, ir);
		} else if (!n->stub) {
			r = private_root(rf, n, ir);
		}
		bad |= r == -EINVAL;
		r = r == -EINVAL ? 0 : r;
		if (r < 0)
			return r;
	}
	r = shared_notes(rf, first);
	if (r == 0 && shared && !resource_set_add(rf->out, RES_DIR, ROOT_NFS, "shared", 0755, NULL))
		r = -ENOMEM;
	if (r == 0 && shared)
		rf->out->v[rf->out->n - 1].flags |= RES_F_KEEP;
	return r < 0 ? r : bad ? -EINVAL : 0;
}

static int rootfs_desired(struct render_ctx *ctx, struct resource_set *out, struct diags *d)
{
	struct rootfs rf = {ctx, out, d, NULL};
	int r;

	rf.img = calloc(ctx->set->n_images ? ctx->set->n_images : 1, sizeof(*rf.img));
	if (!rf.img)
		return -ENOMEM;
	r = rootfs_run(&rf);
	free(rf.img);
	return r;
}

const struct reconciler reconciler_rootfs = {
	.name = "rootfs",
	.desired = rootfs_desired,
};
