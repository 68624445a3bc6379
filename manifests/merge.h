/*
 * merge: combine a node's layers of settings on the YAML tree.
 *
 * The Cluster defaults, then each Profile the node lists, then the node's own
 * spec: maps merge key by key, recursively; lists and scalars replace.  The
 * result shares every node it does not have to change, so each value keeps
 * the position where it was written and errors point at the file that won.
 */
#ifndef BRAMBLE_MERGE_H
#define BRAMBLE_MERGE_H

#include <stddef.h>

#include "arena.h"
#include "yaml_tree.h"

#include <stdint.h>

/*
 * Merge hi over lo.  When both are maps the result is a new map (made in a,
 * with hi's position, and the expanded size of its subtree as weight);
 * otherwise it is hi.  NULL on ENOMEM.
 */
struct ynode *ymerge(struct arena *a, struct ynode *lo, struct ynode *hi);

/*
 * Fold layers[0..n) (lowest first) with ymerge(); n > 0.  The work of each
 * step (the sizes it touches) is added to *work, and past max the fold stops
 * with -E2BIG: a big Profile listed by many nodes, or many times by one, must
 * not turn a small repository into a huge amount of work.  0, -E2BIG or
 * -ENOMEM.
 */
int ymerge_layers(struct arena *a, struct ynode *const *layers, size_t n, uint64_t *work,
		  uint64_t max, struct ynode **ret);

#endif
