/*
 * seal: the steady-state fast path.
 *
 * A full pass reads and validates every manifest, renders every resource
 * and observes every path.  When nothing changed since the last complete
 * pass, all of that work proves again what is already known.  A seal is the
 * record of such a pass: a key over every input of the render (the source's
 * content, the controller configuration, the program's version) and the stat
 * signature (inode, size, mtime, ctime) of every path the pass found in place
 * and of every file the render read outside the manifests (the image boot
 * trees, secret files).  The next pass computes the key; if it matches and
 * every signature still holds, nothing can have changed and the pass is a
 * no-op without loading, rendering or planning.  Any difference at all, or a
 * seal that cannot be read, means a full pass.  A seal never repairs and
 * never decides anything: it can only say "as before".
 *
 * A seal is written only after a full pass that changed nothing, found no
 * conflict and saw no path modified in the last second (a change in the same
 * timestamp tick could hide behind an equal signature, as git's racy-clean
 * rule says), and it is removed by every other applying pass.
 */
#ifndef BRAMBLE_SEAL_H
#define BRAMBLE_SEAL_H

#include <stddef.h>
#include <stdint.h>

#include "engine.h"
#include "../common/hash.h"

#define SEAL_FILE    "seal"
#define SEAL_ABSPATH ROOT_COUNT /* a dependency given by absolute path */

/* Files the render read besides the manifests (the render context holds one). */
struct seal_deps {
	struct seal_dep {
		unsigned root; /* enum root_id, or SEAL_ABSPATH */
		char *path;
	} * v;
	size_t n, cap;
};

/* What a sealed pass reports without planning. */
struct seal_counts {
	size_t unchanged;
	size_t nodes_total;
	size_t nodes_ready;
};

int seal_deps_add(struct seal_deps *d, unsigned root, const char *path);
void seal_deps_release(struct seal_deps *d);

/*
 * Whether the seal in state_fd holds for key: 1 (nothing changed: counts
 * filled), 0 (a full pass is needed), or a negative errno.  root_path gives
 * the absolute directory of each root (NULL: unused).
 */
int seal_check(int state_fd, const char *const root_path[ROOT_COUNT],
	       const char key[SHA256_HEX_LEN + 1], struct seal_counts *counts);

/*
 * Seal a full pass whose plan p changed nothing.  Returns 1 when written, 0
 * when the pass cannot be sealed (changes, conflicts, kept items, a path too
 * recently modified; any old seal is then removed), or a negative errno.
 */
int seal_write(struct engine *e, const struct plan *p, const struct seal_deps *deps,
	       const char key[SHA256_HEX_LEN + 1], const struct seal_counts *counts);

/* Remove the seal (a pass that changes things, or fails). */
void seal_remove(int state_fd);

#endif
