/*
 * yaml_tree: YAML documents as trees of nodes that know their position.
 *
 * libyaml's event stream is turned into ynodes carved from an arena.  Maps
 * are stored with their pairs sorted by key (duplicates are reported and
 * dropped), so lookups and merges are binary searches and linear merges.  An
 * alias is not copied: it points at its anchor's node, so a tree is really a
 * DAG whose expanded size is counted, and limited, as it is built.  Scalar
 * values are stored in a separate arena that outlives the trees, so that the
 * model can point at them without copying.
 */
#ifndef BRAMBLE_YAML_TREE_H
#define BRAMBLE_YAML_TREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "diag.h"

enum ynode_kind {
	YNODE_SCALAR,
	YNODE_SEQ,
	YNODE_MAP,
};

/* How a scalar was written, which decides how it may be typed. */
enum yscalar_style {
	YSCALAR_PLAIN,	/* unquoted, untagged: may be null, an integer or a boolean */
	YSCALAR_QUOTED, /* quoted, block or tagged !!str: a string only */
	YSCALAR_INT,	/* tagged !!int */
	YSCALAR_BOOL,	/* tagged !!bool */
};

/* The node's string lives in the tree arena, not the value arena. */
#define YNODE_TRANSIENT 0x1

struct ynode {
	uint8_t kind;	/* enum ynode_kind */
	uint8_t style;	/* enum yscalar_style, for scalars */
	uint8_t height; /* collection levels: 0 for a scalar, 1 + the highest child */
	uint8_t flags;
	uint32_t doc; /* index into ytree.docs: gives the file */
	uint32_t line, col;
	uint32_t n;	 /* items of a seq; pairs of a map */
	uint32_t weight; /* nodes in the expanded subtree */
	union {
		char *str;	      /* scalar */
		struct ynode **items; /* seq: n items; map: key, value, key, value... */
	} u;
};

struct ydoc {
	const char *file;   /* interned by the caller */
	struct ynode *root; /* NULL for an empty document */
	size_t start, end;  /* its bytes in the file (directives included) */
};

struct ytree {
	struct arena nodes;   /* ynodes, item arrays, keys: freed with the tree */
	struct arena *values; /* scalar values: owned by the caller */
	struct ydoc *docs;
	size_t n_docs;
	size_t cap_docs;
	size_t n_seen;	 /* documents parsed, kept or not */
	size_t max_docs; /* documents allowed in all files together */
};

/* What to do with a document once it is complete. */
enum ydoc_fate {
	YDOC_KEEP,	/* keep it in ytree.docs */
	YDOC_DROP_TREE, /* forget its nodes, but keep its scalar values */
	YDOC_DROP_ALL,	/* forget its nodes and its scalar values */
};

/*
 * Called as each document of a file is complete (root may be NULL for an
 * empty one); returns an enum ydoc_fate or a negative errno to stop.
 * Dropping documents keeps the memory of a load to one document at a time.
 */
struct ytree_hook {
	int (*done)(void *ctx, struct ytree *t, struct ynode *root);
	void *ctx;
};

/* Set up t; values is where scalar values are copied. */
void ytree_init(struct ytree *t, struct arena *values, size_t max_docs);
/* Free the trees (the value arena stays with its owner). */
void ytree_release(struct ytree *t);

/*
 * Parse one file and append its documents to t (those hook keeps, when there
 * is a hook).  Problems of the YAML itself are added to d.
 * Returns 0 when the file's documents are all usable (there may still be
 * non-fatal problems in d, such as duplicate keys, which were dropped),
 * -EINVAL when the file could not be parsed or broke a limit (its documents
 * are not added), -ENOMEM.
 */
int ytree_parse(struct ytree *t, const char *file, const char *data, size_t len, struct diags *d,
		const struct ytree_hook *hook);

/* Position of a node, for diagnostics. */
struct pos ynode_pos(const struct ytree *t, const struct ynode *n);

static inline struct ynode *ymap_key(const struct ynode *m, size_t i)
{
	return m->u.items[2 * i];
}

static inline struct ynode *ymap_value(const struct ynode *m, size_t i)
{
	return m->u.items[2 * i + 1];
}

/* The value of key in map m (binary search), or NULL. */
struct ynode *ymap_get(const struct ynode *m, const char *key);

/* Whether n is a plain null scalar: empty, "~" or "null". */
bool ynode_is_null(const struct ynode *n);
/* "a map", "a list", "null", "a string": for "expected X, got Y". */
const char *ynode_type_name(const struct ynode *n);

#endif
