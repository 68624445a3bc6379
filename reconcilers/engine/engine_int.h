/*
 * engine_int: the engine's private structures, shared by engine.c
 * (observe, plan), apply.c, inventory.c and plan_print.c.
 */
#ifndef BRAMBLE_ENGINE_INT_H
#define BRAMBLE_ENGINE_INT_H

#include <stdint.h>
#include <sys/stat.h>

#include "engine.h"
#include "hash.h"
#include "strpool.h"

#define INVENTORY_SHARDS ENGINE_SHARDS
#define TMP_SUFFIX	 ".bramble-tmp"
#define INVENTORY_DIR	 "inventory.d"

/* What bramble saw of a file right after writing it. */
struct stat_sig {
	uint64_t ino;
	int64_t size;
	int64_t mtime_ns;
	int64_t ctime_ns; /* -1: not recorded (an inventory from before it was) */
};

/* Pointers first, narrow fields last: a 10,000-node inventory holds 80,000. */
struct inv_entry {
	char *path;		    /* a tree's child's: the inventory's pool's (strpool.h) */
	char *gendir;		    /* RES_TREE: current generation directory */
	const char *node;	    /* the inventory's pool's */
	struct inv_entry *children; /* RES_TREE */
	struct stat_sig sig;
	uint32_t n_children;
	uint32_t flags;
	uint16_t mode;
	uint8_t type;	    /* enum res_type */
	uint8_t root;	    /* enum root_id */
	uint8_t act_delete; /* enum action bits */
	struct sha256 hash; /* of what was written; none for dirs */
};

struct inventory {
	struct inv_entry *v; /* sorted by (root, path) */
	size_t n;
	size_t cap;
	struct strpool pool;	       /* node names and children's paths, each once */
	bool partial;		       /* only the shards in loaded[] are here */
	bool loaded[INVENTORY_SHARDS]; /* when partial */
};

#define ENGINE_PARENT_SLOTS 16

struct engine {
	int root_fd[ROOT_COUNT];
	char *root_path[ROOT_COUNT];
	int state_fd;
	char *state_dir;
	struct inventory inv;
	/*
	 * Directories of the last paths observed (engine_parent_fd) and their
	 * ancestors, least recently used replaced first; a miss opens beneath
	 * the deepest cached ancestor.  Emptied when a directory is removed or
	 * moved.
	 */
	struct parent_slot {
		int root;
		int fd; /* -1: a free slot */
		char *dir;
		unsigned long used;
		bool made; /* made by this engine: a child is made, not looked up, first */
	} parent[ENGINE_PARENT_SLOTS];
	unsigned long parent_tick;
	/* A directory found missing by a lookup that does not create (plan). */
	int missing_root; /* -1: none */
	char *missing_dir;
	int copy_mode; /* enum copy_mode (noderoot.h): how roots are populated */
	/* Cache of the directories of hard-link sources in the image store. */
	char *src_dir[4];
	int src_fd[4];
	unsigned src_next;
	/* Nodes outside this pass's scope (engine_scope), sorted by name. */
	const char *const *out_of_scope;
	size_t n_out_of_scope;
	/* What failed when an apply failed as a whole (engine_failure()). */
	char failure[512];
	engine_defer_fn defer; /* engine_set_defer() */
	void *defer_ctx;
	const struct progress_cb *progress; /* engine_set_progress() */
};

/*
 * The node roots (RES_ROOT in ROOT_NFS) of a plan, in plan order, which is
 * path order, so that the files bramble manages inside a root find it by
 * bsearch (apply.c).
 */
struct root_index {
	struct plan_item **v;
	size_t n, cap;
};
int root_index_add(struct root_index *ri, struct plan_item *it);
/* The root item that path (in ROOT_NFS) lies inside, or NULL. */
struct plan_item *root_index_find(const struct root_index *ri, const char *path);
/* Note what failed as a whole: op and the path (root, then path beneath it). */
void engine_set_failure(struct engine *e, const char *op, int root, const char *path);

/* Load every shard, or only those marked in shards (inv->partial). */
/*
 * Parse one shard's text (data, len, a writable NUL after it; split in
 * place) named file into inv, unsorted: -EBADMSG with file:line in why.
 */
int inventory_parse(const char *file, char *data, size_t len, struct inventory *inv,
		    struct buf *why);
int inventory_load(int state_fd, const bool *shards, struct inventory *inv, struct buf *why);
/* Append e's line (and its children's) to b, as a shard holds them. */
int inventory_entry_text(struct buf *b, const struct inv_entry *e);
/* Write the shards that the plan touched, as one durable batch. */
int inventory_save(int state_fd, const struct inventory *inv, const struct plan *p);
/* A partial inventory: -ESTALE when the plan would record a path in a shard not loaded. */
int inventory_covers(const struct inventory *inv, const struct plan *p);
void inventory_release(struct inventory *inv);
struct inv_entry *inventory_find(const struct inventory *inv, enum root_id root, const char *path);

/* Content digests of a desired resource, as recorded in the inventory. */
int resource_digest(const struct resource *r, struct sha256 *out);
/* Name of the generation directory of a tree with this digest: ".<base>.<digest16>". */
int tree_gendir_name(const char *path, const struct sha256 *d, char **ret);

/*
 * Parent directory fd of path beneath root (cached; do not close: valid until
 * engine_parent_forget() or until ENGINE_PARENT_SLOTS other directories were
 * opened after it).
 */
int engine_parent_fd(struct engine *e, enum root_id root, const char *path, bool create,
		     int *ret_fd, const char **ret_name);
/* The directory dir beneath root, through the same cache (do not close). */
int engine_dir_fd(struct engine *e, enum root_id root, const char *dir, int *ret_fd);
/* Empty that cache: call it after removing or moving a directory. */
void engine_parent_forget(struct engine *e);

/* Directory fd (cached; do not close) and name of a source beneath the image store. */
int engine_source_fd(struct engine *e, const char *src, int *ret_fd, const char **ret_name);

void sig_from_stat(struct stat_sig *sig, const struct stat *st);
/*
 * Record s as the signature an item's path has now (plan: as observed;
 * apply: as written, sig_from_stat() of a stat after the write).
 */
void item_sig_set(struct plan_item *it, const struct stat_sig *s);

/*
 * Node roots (RES_ROOT, noderoot.c).  root_observe() decides the plan item
 * of a root; root_apply_batch() makes every root of a plan (copy, one sync,
 * records, attic, rename) or adopts a foreign one (a conflict applied with
 * --adopt), before the files inside them are staged; root_remove() retires a root no longer wanted: a
 * private one to the attic, a shared copy deleted.
 */
int root_observe(struct engine *e, struct plan_item *it, int dfd, const char *name);
int root_apply_batch(struct engine *e, struct plan_item **items, size_t n, int *errs);
int root_remove(struct engine *e, const struct inv_entry *inv);
/* Remove what dead passes left in nfs/.staging, and the directory when empty. */
int root_recover(struct engine *e);
const char *root_delete_reason(const struct inv_entry *inv);
bool sig_equal(const struct stat_sig *a, const struct stat_sig *b);

#endif
