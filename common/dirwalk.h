/*
 * dirwalk: a depth-first walk of a directory tree that never follows a
 * symlink, for the readers of trees (the image boot trees at render time,
 * the image store's usage).
 */
#ifndef BRAMBLE_DIRWALK_H
#define BRAMBLE_DIRWALK_H

#include <sys/stat.h>

/* A visitor's answer: do not descend into this directory (for others: as 0). */
#define DIR_WALK_SKIP 1

/*
 * Called for each entry but "." and "..": rel is its path from the top
 * ("a/b"), name its last component, st its lstat.  Returns 0 (go on, into it
 * when it is a directory), DIR_WALK_SKIP, or a negative errno that ends the
 * walk.
 */
struct dir_walk_visitor {
	int (*visit)(void *arg, const char *rel, const char *name, const struct stat *st);
	void *arg;
	unsigned max_depth; /* deeper directories end the walk with -ELOOP */
};

/*
 * Walk the tree below the directory dfd, which the walk owns (closes).  The
 * order is readdir's.  Returns 0, the visitor's error, or a negative errno.
 */
int dir_walk(int dfd, const struct dir_walk_visitor *v);

#endif
