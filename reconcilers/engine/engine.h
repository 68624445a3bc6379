/*
 * engine: observe, plan and apply a desired resource_set against the file
 * system, exactly as DESIGN.md's reconcile contract says.
 *
 *	engine_open()   open every root once (dir fds) and load the inventory
 *	engine_plan()   compare desired with what is on disk and in the inventory
 *	engine_apply()  carry a plan out: stage every write, one syncfs per file
 *	                system, renames, fsync of the touched directories, deletes
 *	                of inventory paths only, then record the inventory
 *
 * The inventory (state dir, inventory.d/, 256 shards by node) lists every path
 * bramble created, with a digest of what it wrote and a stat signature, so a
 * steady-state pass costs one fstatat per path and reads no file content.
 */
#ifndef BRAMBLE_ENGINE_H
#define BRAMBLE_ENGINE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "hash.h"
#include "resource.h"

enum plan_op {
	PLAN_UNCHANGED,
	PLAN_CREATE,
	PLAN_UPDATE,
	PLAN_DELETE,
	PLAN_KEEP,     /* not desired any more, but node data: kept */
	PLAN_CONFLICT, /* exists, was not created by bramble, differs: refused */
};

struct inv_entry;

/* Pointers first, narrow fields last: a 10,000-node plan holds 80,000. */
struct plan_item {
	const char *reason;	    /* static text: "missing", "content differs", ... */
	struct resource *res;	    /* desired (NULL for delete/keep) */
	struct inv_entry *inv;	    /* recorded (NULL when new) */
	struct plan_item *children; /* RES_TREE: per-child detail */
	const char *error_op;	    /* what a failure was doing: "rename the temp into place" */
	/* Engine-private: tree generation dir, the stat signature to record once
	 * in place, and the digest of the desired content (below). */
	char *gendir;
	uint64_t sig_ino;
	int64_t sig_size;
	int64_t sig_mtime_ns;
	int64_t sig_ctime_ns;
	uint32_t n_children;
	int error;	    /* set by engine_apply on failure (negative errno) */
	uint8_t op;	    /* enum plan_op */
	bool drift : 1;	    /* the change repairs an edit made outside bramble */
	bool applied : 1;   /* set by engine_apply on success */
	bool sig_fresh : 1; /* the signature differs from the inventory's */
	bool in_place : 1;  /* RES_TREE: repair children inside the current generation */
	bool unsettled : 1; /* RES_ROOT: made by bramble, its own files in it not all recorded */
	bool deferred : 1;  /* RES_TREE: the switch was deferred (engine_set_defer); not applied */
	bool with_root : 1; /* in a root the plan makes: made with it (only if the root is made) */
	struct sha256 digest;
};

struct plan {
	struct plan_item *items; /* sorted by (root, path) */
	size_t n_items;
	size_t n_create, n_update, n_delete, n_unchanged, n_keep, n_conflict;
	size_t n_drift;
	unsigned actions;     /* enum action bits the changes need */
	bool inventory_dirty; /* signatures to refresh even with no change */
};

struct buf;

struct engine_roots {
	const char *path[ROOT_COUNT]; /* absolute directories; NULL: unused */
	const char *state_dir;
	const char *copy_mode; /* roots.copyMode: "auto" (also NULL), "reflink" or "copy" */
	bool read_only;	       /* plan: create nothing; a missing root holds nothing yet */
	bool defer_inventory;  /* a delta pass: engine_scope() loads the inventory */
	struct buf *why;       /* NULL, or receives why a damaged inventory was refused */
};

#define ENGINE_SHARDS 256

enum engine_flags {
	ENGINE_ALLOW_EMPTY = 1 << 0, /* allow a plan that removes every node */
	ENGINE_ADOPT = 1 << 1,	     /* replace conflicting files not created by bramble */
};

struct engine;

/*
 * Open the roots (creating missing ones) and load the inventory.  A damaged
 * inventory shard is -EBADMSG, with the file, the line and what to do in
 * roots->why.
 */
int engine_open(const struct engine_roots *roots, struct engine **ret);
void engine_free(struct engine *e);
/*
 * Make the roots an engine opened read_only found missing (an apply opens
 * them so only once the revision has rendered: a rejected one makes nothing).
 */
int engine_make_roots(struct engine *e);

/*
 * A hook asked before a node's boot tree switches from one generation to
 * another: when it answers true, the switch is deferred (the item is left as
 * it was, not applied, not failed: it->deferred), so that a Pi in the middle
 * of a boot keeps reading one generation.  The caller plans it again later.
 */
typedef bool (*engine_defer_fn)(void *ctx, const struct plan_item *it);
void engine_set_defer(struct engine *e, engine_defer_fn fn, void *ctx);

/*
 * Where the apply reports the progress of its node root copies ("copy
 * roots", progress.h): called from the copying threads, one at a time.
 * cb must outlive the apply; NULL: none.
 */
struct progress_cb;
void engine_set_progress(struct engine *e, const struct progress_cb *cb);

/* Number of inventory entries (top level). */
size_t engine_inventory_size(const struct engine *e);

/*
 * Plan desired (sorted with resource_set_sort) against disk and inventory.
 * The plan points into desired and into the engine: free it before either.
 * Returns -ECANCELED when the plan would remove every node resource and
 * ENGINE_ALLOW_EMPTY is not set.
 */
int engine_plan(struct engine *e, struct resource_set *desired, unsigned flags, struct plan **ret);

/*
 * Apply the plan.  Every item gets applied or error set; the inventory then
 * records exactly what is in place.  Returns 0 when everything was applied,
 * or the first error; *ret_failed counts failed items.
 */
int engine_apply(struct engine *e, struct plan *p, unsigned flags, size_t *ret_failed);

/*
 * Remove what a pass that was killed or failed left behind, before applying
 * p (recover.c): a dead writer's temps in the state directory and the image
 * store; and, when the state directory says the last pass did not finish
 * (unfinished: actions.h, ACTIONS_PASS_OPEN), tree generation directories no
 * link points to and p does not want, dead passes' staging, and the
 * inventory's and root records' temps.
 */
int engine_recover(struct engine *e, const struct plan *p, bool unfinished);
/*
 * What made engine_apply() fail as a whole, when it was not one item (a
 * syncfs, an fsync, the inventory): "fsync /srv/bramble/tftp", or "".
 */
const char *engine_failure(const struct engine *e);
/* The root and path of a plan item (desired, or recorded for a delete). */
void plan_item_where(const struct plan_item *it, enum root_id *ret_root, const char **ret_path);

void plan_free(struct plan *p);
/*
 * Limit the next plans to a part of the nodes (a delta pass): what the
 * inventory records of the nodes named (sorted by strcmp; they must stay
 * valid while the engine plans) is not observed and is planned unchanged,
 * with no resource.  The caller vouches for those paths (seal.h).  With an
 * engine opened with defer_inventory, only the inventory shards marked in
 * shards are loaded: those of every desired resource, of every node the
 * pass may delete and of every shared path (inventory_shard()); a change
 * that would fall in another shard fails with -ESTALE, never losing it.
 * A damaged shard is -EBADMSG, with the file and line in engine_failure().
 */
int engine_scope(struct engine *e, const char *const *out_of_scope, size_t n,
		 const bool shards[ENGINE_SHARDS]);
/* The inventory shard that holds a node's paths (node), or a shared path. */
unsigned engine_shard(const char *node, const char *path);

/* Whether the plan changes anything on disk. */
bool plan_has_changes(const struct plan *p);

/*
 * Print the plan as a readable diff (plan_print.c); verbose adds unchanged
 * items.  e may be NULL for a plan without items (the summary alone).
 */
void plan_print(struct engine *e, const struct plan *p, FILE *f, bool verbose);

enum plan_print_flags {
	PLAN_PRINT_VERBOSE = 1u << 0, /* unchanged items, new files' content */
	PLAN_PRINT_COLOR = 1u << 1,   /* ANSI colours: + green, ~ yellow, - red, ! bold */
};
/* plan_print with enum plan_print_flags: the plan on a terminal, in colour. */
void plan_print_flags(struct engine *e, const struct plan *p, FILE *f, unsigned flags);

/* One change of a plan as a program reads it (the JSON plan). */
struct plan_change {
	const char *op;	    /* "create", "update", "delete", "attic", "keep" or "conflict" */
	const char *output; /* "tftp", "nfs", "dhcp", ... */
	const char *path;   /* inside the output; a directory's ends with "/" in the text plan */
	bool dir;
	const char *reason;
	const char *node; /* NULL: shared */
	bool drift;
};
/*
 * Item i of the plan as a change: false for an unchanged item and for a file
 * that moves to the attic with its root (counted with the root).
 */
bool plan_change_at(const struct plan *p, size_t i, struct plan_change *ret);

/*
 * What a plan deletes, as people count it: the paths deleted, and the node
 * roots moved to the attic (the files inside a root move with it, uncounted).
 */
void plan_delete_counts(const struct plan *p, size_t *ret_deleted, size_t *ret_attic);

const char *plan_op_name(enum plan_op op);

/* Absolute path of a root (for messages). */
const char *engine_root_path(const struct engine *e, enum root_id root);
int engine_root_fd(const struct engine *e, enum root_id root);

#endif
