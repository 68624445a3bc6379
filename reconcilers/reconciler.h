/*
 * reconciler: the renderers, each behind one small interface.
 *
 * desired() renders, from the manifests, the resources the target wants; the
 * engine does the rest (observe, plan, apply) the same way for all of them;
 * each resource carries the post-apply action a change of it needs (see
 * enum action), so reloads happen only when their inputs changed.
 * validate() (optional) checks the rendered output with a real tool before
 * anything is applied; the controller calls it for every reconciler that has
 * one.
 *
 * A renderer reads nothing but the manifests and the render context, and any
 * other input (a secret file, an image's tree) through the render_read_*
 * functions below, which record it for the seal (seal.h): what they do not
 * see, the fast path cannot watch.  scripts/check-render-reads.sh fails on any
 * other file read in the renderers.
 *
 * The image store is not a reconciler: its state is not rendered from the
 * manifests but fetched (controller/image_step.c, before the render), and a
 * download is not a resource the engine could plan, diff or roll back.  To
 * the renderers it is an input like a secret file: images.c lists each
 * image's boot tree through the read API, so the seal watches it.
 */
#ifndef BRAMBLE_RECONCILER_H
#define BRAMBLE_RECONCILER_H

#include <sys/stat.h>

#include "dirwalk.h"
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
	/*
	 * What every node's TFTP tree of this image shares (resource.h, "shared"):
	 * a child per file and directory of files[] but config.txt and
	 * cmdline.txt, which each node renders; sorted, borrowing from files[].
	 */
	struct resource *links;
	size_t n_links;
	char *config_txt;  /* the image's own boot/config.txt ("" if none) */
	char *cmdline_txt; /* the image's own boot/cmdline.txt ("" if none) */
	bool has_bootcode;
	/* Not in the store (RENDER_ABSENT_IMAGES): rendered as an empty tree,
	 * and what depends on its files is not checked. */
	bool absent;
};

/* Stable NFS export ids (nfs-ganesha needs them to keep file handles valid). */
struct export_ids {
	char **key;
	unsigned *id;
	size_t n, cap;
	bool dirty;
};

/*
 * What a render may leave unchecked (render_ctx.lenient): `bramble validate`
 * renders without fetching anything, and offline without the host's files.
 */
enum render_lenient {
	/* An Image not in the store (a url one; any one when there is no store,
	 * images_fd -1) renders as an absent tree instead of an error. */
	RENDER_ABSENT_IMAGES = 1u << 0,
	/* A secret given by file is not read: it renders as a placeholder. */
	RENDER_NO_SECRET_FILES = 1u << 1,
};

struct render_ctx {
	const struct manifest_set *set;
	unsigned lenient;		   /* enum render_lenient; 0 for plan and apply */
	const char *root_path[ROOT_COUNT]; /* absolute directories */
	int images_fd; /* the image store, read through render_read_*() only; -1: none yet */
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
	/* Inputs read besides the manifests (seal.h), or NULL: the render_read_*
	 * functions add to it, nothing else does. */
	struct seal_deps *deps;
	/* For validate(): "dnsmasq" for "dnsmasq --test" (NULL: not checked); the
	 * directory a tool's input and output go to (the state directory); and
	 * how to run a tool (the controller's run_command()). */
	const char *dhcp_test_cmd;
	const char *scratch_dir;
	int (*run_command)(const char *script, const char *const argv[], unsigned timeout_s);
};

/* validate() found no tool to check with: the output is not checked. */
#define RECONCILER_UNCHECKED 1

struct reconciler {
	const char *name;
	/* Add the resources this target wants to out; problems go to d (-EINVAL). */
	int (*desired)(struct render_ctx *ctx, struct resource_set *out, struct diags *d);
	/* Optional (NULL): check the rendered resources (all of them, sorted)
	 * with a real tool.  0, RECONCILER_UNCHECKED, -EINVAL (what the tool
	 * said is in d) or another negative errno. */
	int (*validate)(struct render_ctx *ctx, const struct resource_set *desired,
			struct diags *d);
};

extern const struct reconciler reconciler_tftp;
extern const struct reconciler reconciler_nfs;
extern const struct reconciler reconciler_dhcp;
extern const struct reconciler reconciler_rootfs;

/* Every reconciler, in the order their resources are rendered. */
extern const struct reconciler *const reconcilers[];
extern const size_t n_reconcilers;

/*
 * The render-time read API: the only way a renderer reads an input outside
 * the manifests.  Each records what it read in ctx->deps (when set) and
 * returns 0 or a negative errno; ret_* are set only on success.
 */

/*
 * Read a {file: ...} secret of node n, which must resolve beneath
 * ctx->secrets_dir (-EXDEV).  An input of n alone.
 */
int render_read_secret(struct render_ctx *ctx, const struct node *n, const char *path, size_t max,
		       char **ret_data, size_t *ret_len);
/* Read a regular file beneath the image store (no symlink followed). */
int render_read_image_file(struct render_ctx *ctx, const char *path, size_t max, char **ret_data,
			   size_t *ret_len);
/* lstat a path beneath the image store (-ENOENT when there is no store). */
int render_stat_image(struct render_ctx *ctx, const char *path, struct stat *ret_st);
/* Whether a path exists beneath the image store: 1, 0, or a negative errno. */
int render_probe_image(struct render_ctx *ctx, const char *path);
/*
 * Walk the directory dir beneath the image store (dirwalk.h): dir and each
 * entry the visitor keeps (returns 0 for) are inputs.
 */
int render_walk_image(struct render_ctx *ctx, const char *dir, const struct dir_walk_visitor *v);
/* The digest of an Image given by url (imgstore_digest), and its file:// source as an input. */
int render_image_digest(struct render_ctx *ctx, const struct image *img,
			char ret[SHA256_HEX_LEN + 1]);

/*
 * Run a tool over one rendered file, for validate(): data is written to
 * <scratch_dir>/<name>.conf and script runs with $1 tool, $2 that file, $3
 * <scratch_dir>/<name>.log for its output.  Returns 0 with the script's exit
 * status in *ret_status (127: the tool is not installed; -ETIMEDOUT: killed at
 * the timeout; -ECANCELED: killed because bramble is stopping; -1: it did not
 * start) and, when that is neither 0 nor 127, the
 * log's first 4 KiB in *ret_output (NULL when unreadable); or a negative
 * errno when the file could not be written.
 */
int render_tool_check(const struct render_ctx *ctx, const char *name, const char *script,
		      const char *tool, const void *data, size_t len, int *ret_status,
		      char **ret_output);

/*
 * Find every image of the set in the store and list its boot tree.  An Image
 * given by url that is not in the store yet is an error (downloading is the
 * controller's image step, before the render).  Problems are added to d with
 * the Image position.
 */
int image_trees_load(struct render_ctx *ctx, struct diags *d);
/* Free what image_trees_load() listed. */
void image_trees_release(struct render_ctx *ctx);
/* The listed tree of an image, or NULL (not used by any node, or not listed). */
const struct image_tree *image_tree_of(const struct render_ctx *ctx, const struct image *img);

/* Render every reconciler's resources into out, sorted, owners set; errors go to d (-EINVAL). */
int render_all(struct render_ctx *ctx, struct resource_set *out, struct diags *d);

/* The NFS path of a node's root as clients mount it (absolute, on the server). */
int node_root_path(const struct render_ctx *ctx, const struct node *n, char **ret);
/* The TFTP directory name of a node: its serial, or its MAC as dc-a6-32-...
 * in mac prefix mode (never for a Pi 3, which always asks for its serial). */
void node_tftp_dir(const struct manifest_set *set, const struct node *n, char out[18]);

/*
 * The export ids, kept in the state directory: loaded by the controller
 * before the render (state of the renderer, not an input: a lost file only
 * renumbers), saved after a pass when dirty.  A damaged file is -EBADMSG,
 * with the file, the line and what to do in why.
 */
int export_ids_load(int state_fd, struct export_ids *ids, struct buf *why);
/* Write the ids when dirty (atomically), then clear dirty. */
int export_ids_save(int state_fd, struct export_ids *ids);
/* The id of key (an export path); a new one (dirty) when it has none; 0: none left, or ENOMEM. */
unsigned export_id_get(struct export_ids *ids, const char *key);
/* Free the ids; ids is empty after. */
void export_ids_release(struct export_ids *ids);

#endif
