/*
 * resource: one thing a reconciler wants to exist, under a root bramble
 * manages.
 *
 * A reconciler renders a resource_set from the manifests; the engine
 * (engine.h) observes, plans and applies it.  Paths are relative to their
 * root, '/'-separated, made only of safe components; the engine opens them
 * beneath the root's directory fd and never follows a symlink on the way.
 *
 * A RES_TREE is a directory published atomically: its children are written
 * into a fresh generation directory beside the old one, and the tree's own
 * path is a symlink switched in one rename, so that a reader (a Pi fetching
 * its boot files over TFTP) sees the old tree or the new one, never a mix.
 */
#ifndef BRAMBLE_RESOURCE_H
#define BRAMBLE_RESOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum root_id {
	ROOT_TFTP,
	ROOT_NFS,
	ROOT_DHCP_CONF,
	ROOT_DHCP_HOSTS,
	ROOT_EXPORTS,
	ROOT_IMAGES, /* read-only for the engine: sources of hard links */
	ROOT_COUNT,
};

enum res_type {
	RES_FILE,     /* data/len is the content */
	RES_HARDLINK, /* data is the source path beneath ROOT_IMAGES */
	RES_DIR,
	RES_SYMLINK, /* data is the link target */
	RES_TREE,    /* children, published through a generation symlink */
	RES_ROOT,    /* a node root made once from an image root (noderoot.h);
		      * data describes it: image, source, generation */
};

/* Post-apply actions: which reload a change of this resource needs. */
enum action {
	ACTION_NONE = 0,
	ACTION_DHCP_RELOAD = 1 << 0,  /* SIGHUP dnsmasq: re-read hosts dir */
	ACTION_DHCP_RESTART = 1 << 1, /* main dnsmasq config changed */
	ACTION_NFS_RELOAD = 1 << 2,   /* exportfs -ra / ganesha SIGHUP */
	/*
	 * A root replaced under an unchanged export (a re-image): nfs-ganesha
	 * keeps the old directory's handle across a SIGHUP, so its export must
	 * be made anew: nfs.restartCommand, else the reload.
	 */
	ACTION_NFS_RESTART = 1 << 3,
};

enum res_flags {
	RES_F_KEEP = 1 << 0,	      /* never deleted by a reconcile (node data) */
	RES_F_BORROWED = 1 << 1,      /* data is not owned: it outlives the set */
	RES_F_TREE_CHILD = 1 << 2,    /* set by resource_tree_attach() */
	RES_F_BORROWED_PATH = 1 << 3, /* path is not owned: it outlives the set */
	RES_F_SECRET = 1 << 4,	      /* content holds a secret: plan shows "(secret)" */
};

/* Small fields first and narrow: a 10,000-node plan holds 70,000 of these. */
struct resource {
	uint8_t type;	    /* enum res_type */
	uint8_t root;	    /* enum root_id */
	uint8_t act_change; /* enum action bits when created or updated */
	uint8_t act_update; /* extra actions when updated (not when created) */
	uint8_t act_delete; /* actions when deleted */
	uint8_t flags;	    /* enum res_flags */
	uint16_t mode;	    /* permission bits */
	uint32_t len;	    /* of data (a file's content is far below 4 GiB) */
	uint32_t n_children;
	uint32_t n_shared;
	char *path;
	char *data;
	const char *owner;	   /* reconciler name (static string) */
	const char *node;	   /* node name (owned by the manifest set) or NULL */
	struct resource *children; /* RES_TREE only; paths relative to the tree */
	/*
	 * RES_TREE: children it shares with other trees, sorted, owned by whoever
	 * made them (the image's boot files every node's tree links: 14 of a
	 * node's 16 children, the same for each node of an image).  Walk a
	 * tree's children with child_walk_next(), which merges the two lists.
	 */
	const struct resource *shared;
	char *note;	    /* optional remark shown by plan, e.g. "exported to the subnet" */
	const char *digest; /* precomputed content digest (borrowed), or NULL */
};

struct resource_set {
	struct resource *v;
	size_t n;
	size_t cap;
};

#define RESOURCE_SET_INIT  \
	{                  \
		NULL, 0, 0 \
	}

/*
 * Append a resource and return it (zeroed but for the given fields), or NULL
 * on ENOMEM.  path is copied.  For the file variant, data is copied.
 */
struct resource *resource_set_add_file(struct resource_set *s, enum root_id root, const char *path,
				       mode_t mode, const void *data, size_t len);
/* The same, path not copied: it outlives the set (a string literal). */
struct resource *resource_set_add_file_at(struct resource_set *s, enum root_id root,
					  const char *path, mode_t mode, const void *data,
					  size_t len);
struct resource *resource_set_add(struct resource_set *s, enum res_type type, enum root_id root,
				  const char *path, mode_t mode, const char *data);
/* Children of a tree: same functions on a temporary set, then attach. */
int resource_tree_attach(struct resource *tree, struct resource_set *children);

/*
 * The children of a tree in path order: its own merged with its shared ones
 * (on a path both hold, its own).  Start with a zeroed walk whose tree is set;
 * NULL after the last.
 */
struct child_walk {
	const struct resource *tree;
	size_t own, shared;
};
const struct resource *child_walk_next(struct child_walk *w);
/* How many children a tree has, its own and its shared ones (an upper bound). */
size_t resource_n_children(const struct resource *tree);
/* Sort by (root, path); returns -EEXIST if two resources share a path. */
int resource_set_sort(struct resource_set *s);
void resource_set_release(struct resource_set *s);

/* Whether path is a relative path of safe components ("a/b.txt", no "..", no "//"). */
bool res_path_is_safe(const char *path);

const char *root_name(enum root_id root);

#endif
