/*
 * reconciler: the one small interface every target implements.
 *
 * desired() renders, from the manifests, the resources the target wants; the
 * engine does the rest (observe, plan, apply) the same way for all of them;
 * each resource carries the post-apply action a change of it needs (see
 * enum action), so reloads happen only when their inputs changed.
 * validate() (optional) checks rendered output with a real tool before
 * anything is applied.
 */
#ifndef BRAMBLE_RECONCILER_H
#define BRAMBLE_RECONCILER_H

#include "model.h"
#include "resource.h"
#include "seal.h"

struct image_file {
	char *path;  /* relative to the image's boot/ directory */
	char *store; /* source path beneath the image store (hard-link source) */
	bool dir;
	mode_t mode;
	/* Digest of the source's identity (path, inode, size, mtime): a file
	 * replaced in the store gives every tree that links it a new generation. */
	char digest[65];
};

/* An image as found in the store: its boot tree listed, its root located. */
struct image_tree {
	const struct image *image;
	char *boot_dir;		  /* beneath the image store, e.g. "demo-os/boot" */
	char *root_dir;		  /* beneath the image store, e.g. "demo-os/root" */
	struct image_file *files; /* sorted by path */
	size_t n_files;
	char *config_txt;  /* the image's own boot/config.txt ("" if none) */
	char *cmdline_txt; /* the image's own boot/cmdline.txt ("" if none) */
	bool has_bootcode;
};

/* Stable NFS export ids (nfs-ganesha needs them to keep file handles valid). */
struct export_ids {
	char **key;
	unsigned *id;
	size_t n, cap;
	bool dirty;
};

struct render_ctx {
	const struct manifest_set *set;
	const char *root_path[ROOT_COUNT]; /* absolute directories */
	int images_fd;
	const char *dhcp_conf_name;  /* in ROOT_DHCP_CONF, e.g. "bramble.conf" */
	const char *exports_name;    /* kernel exports file in ROOT_EXPORTS */
	const char *ganesha_name;    /* ganesha EXPORT blocks in ROOT_EXPORTS */
	const char *dhcp_lease_file; /* NULL: dnsmasq's default */
	const char *dhcp_log_file;   /* log-dhcp + log-facility for boot observation; NULL: none */
	struct image_tree *trees;    /* one per set->images[i] */
	size_t n_trees;
	struct export_ids *export_ids;
	/* The directory every {file: ...} secret must resolve beneath (NULL: none may). */
	const char *secrets_dir;
	/* Files read besides the manifests (seal.h), or NULL: add with seal_deps_add(). */
	struct seal_deps *deps;
};

struct reconciler {
	const char *name;
	int (*desired)(struct render_ctx *ctx, struct resource_set *out, struct diags *d);
};

extern const struct reconciler reconciler_tftp;
extern const struct reconciler reconciler_nfs;
extern const struct reconciler reconciler_dhcp;
extern const struct reconciler reconciler_rootfs;

/* Every reconciler, in the order their resources are rendered. */
extern const struct reconciler *const reconcilers[];
extern const size_t n_reconcilers;

/*
 * Find every image of the set in the store and list its boot tree.  An Image
 * given by url that is not in the store yet is an error (downloading is the
 * images reconciler's job).  Problems are added to d with the Image position.
 */
int image_trees_load(struct render_ctx *ctx, struct diags *d);
void image_trees_release(struct render_ctx *ctx);
const struct image_tree *image_tree_of(const struct render_ctx *ctx, const struct image *img);

/* Render every reconciler's resources into out, sorted.  Errors go to d (-EINVAL). */
int render_all(struct render_ctx *ctx, struct resource_set *out, struct diags *d);

/* The NFS path of a node's root as clients mount it (absolute, on the server). */
int node_root_path(const struct render_ctx *ctx, const struct node *n, char **ret);
/* The TFTP directory name of a node: its serial, or its MAC as dc-a6-32-...
 * in mac prefix mode (never for a Pi 3, which always asks for its serial). */
void node_tftp_dir(const struct manifest_set *set, const struct node *n, char out[18]);

/*
 * Load the NFS export ids recorded by earlier passes; a damaged file is
 * -EBADMSG, with the file, the line and what to do in why.
 */
int export_ids_load(int state_fd, struct export_ids *ids, struct buf *why);
int export_ids_save(int state_fd, struct export_ids *ids);
unsigned export_id_get(struct export_ids *ids, const char *key);
void export_ids_release(struct export_ids *ids);

#endif
