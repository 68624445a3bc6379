/*
 * seal: the steady-state fast path, and the delta pass.
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
 * A seal also records what a *delta pass* needs: the digest of every
 * manifest file (and whether it holds anything but Nodes), every node's
 * identity (name, serial, MAC, address, hostname, model, image, root mode:
 * what the checks between nodes and the files all nodes share need), and
 * which node owns each path.  When only files of Nodes changed and every
 * path still holds, a pass loads just those files, takes the other nodes
 * from the seal (manifests_load_delta), renders and plans the changed nodes
 * and the shared files only (engine_scope), and writes the seal again with
 * the untouched nodes' entries carried over.
 *
 * A full pass seals only when it changed nothing, found no conflict and saw
 * no path modified in the last second (a change in the same timestamp tick
 * could hide behind an equal signature, as git's racy-clean rule says); any
 * other applying pass removes the seal.  A delta pass seals what it has just
 * written once the clock has moved past its last write (one clock tick: a
 * later change then carries a later time); a path changed after that, or on
 * a file system with whole-second times, leaves the pass unsealed.  Both
 * rules take the output roots to be stamped by this machine's clock (a local
 * file system; a network one must keep its clock within them).
 *
 * A delta pass works at the level of a node's document: a node whose
 * document's bytes are those recorded renders as before and stays outside
 * the pass, even in a changed file.
 */
#ifndef BRAMBLE_SEAL_H
#define BRAMBLE_SEAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine.h"
#include "model.h"
#include "buf.h"
#include "hash.h"

#define SEAL_FILE    "seal"
#define SEAL_ABSPATH ROOT_COUNT /* a dependency given by absolute path */

/* Files the render read besides the manifests (the render context holds one). */
struct seal_deps {
	struct seal_dep {
		unsigned root; /* enum root_id, or SEAL_ABSPATH */
		char *path;
		/* The node whose input it is alone (a secret file), or NULL (an input
		 * of every node): a delta pass carries a node's inputs with its paths. */
		char *node;
	} * v;
	size_t n, cap;
};

/* What a sealed pass reports without planning. */
struct seal_counts {
	size_t unchanged;
	size_t nodes_total;
	size_t nodes_ready;
};

/* A manifest file of a revision. */
struct seal_file {
	const char *name;
	char digest[SHA256_HEX_LEN + 1];
	bool other; /* holds a document that is not a Node */
};

/*
 * A recorded path (an entry of the seal).  The daemon keeps one for each
 * path (130,000 at 10,000 nodes): the line and its owner are found from the
 * path, not kept (seal_entry_line(), seal_entry_owner()), so an entry is 56
 * bytes, not 80.
 */
struct seal_entry {
	const char *path; /* the end of its line */
	uint64_t ino, size, mtime_ns, ctime_ns;
	uint32_t mode;
	uint16_t line_off;  /* path - line */
	uint16_t owner_len; /* its node, "*" (shared) or "/" (links): after "K " */
	uint8_t root;	    /* enum root_id, or SEAL_ABSPATH */
	char kind;	    /* 'S' or 'D' (seal.c) */
};

/* The whole line of an entry, as written. */
static inline const char *seal_entry_line(const struct seal_entry *e)
{
	return e->path - e->line_off;
}

/* The owner of an entry (owner_len bytes, not NUL-terminated). */
static inline const char *seal_entry_owner(const struct seal_entry *e)
{
	return seal_entry_line(e) + 2;
}

/* A seal as read (seal_read): its lines are split in place in data. */
struct seal {
	char *data;
	char key[SHA256_HEX_LEN + 1];  /* every input */
	char base[SHA256_HEX_LEN + 1]; /* every input but the manifests */
	struct seal_counts counts;
	struct seal_file *files; /* sorted by name */
	size_t n_files;
	struct node_stub *nodes; /* sorted by name */
	size_t n_nodes;
	struct seal_entry *entries;
	size_t n_entries;
};

/* What a seal records besides the plan's paths. */
struct seal_input {
	const char *key, *base;
	const struct seal_file *files; /* every manifest file, sorted by name */
	size_t n_files;
	const struct manifest_set *set;
	const struct seal_counts *counts;
	/* A delta pass: the seal it started from, whose entries of the nodes
	 * outside the pass (the set's stubs) are carried over.  NULL: a full pass. */
	const struct seal *prev;
	/* A full pass that applied changes: seal what it wrote as a delta pass
	 * does (one clock tick), what it found in place by the one-second rule. */
	bool seal_writes;
};

/*
 * Record an input of the render (a path beneath root, or absolute with
 * SEAL_ABSPATH) of node (NULL: of every node): 0 or -ENOMEM.  For the
 * render-time read API (reconciler.h) only: a renderer reads through that
 * API, which calls this.
 */
int seal_deps_add(struct seal_deps *d, unsigned root, const char *path, const char *node);
/* Free the recorded inputs; d is empty (and reusable) after. */
void seal_deps_release(struct seal_deps *d);

/*
 * Read the seal in state_fd: 1 (read), 0 (none, or not one this version
 * reads: a damaged seal is no seal, and why, if not NULL, then says
 * "seal:LINE: what is wrong" for the caller's log), or -errno.
 */
int seal_read(int state_fd, struct seal *s, struct buf *why);
/*
 * seal_read() of a seal's text (data, len bytes, NUL after them: s owns it
 * from now, and frees it on failure).
 */
int seal_parse_text(char *data, size_t len, struct seal *s, struct buf *why);
/* Free what seal_read() read; s is zeroed. */
void seal_release(struct seal *s);

/*
 * Whether every path the seal records is as it was (root_path: the absolute
 * directory of each root, NULL when unused).  When not, *ret_broken (if
 * given) is the first entry found changed, for the caller's log.
 */
bool seal_holds(const struct seal *s, const char *const root_path[ROOT_COUNT],
		const struct seal_entry **ret_broken);

/* Whether an entry's owner is name (a node's, "*" shared, "/" directories of links). */
bool seal_entry_owned_by(const struct seal_entry *e, const char *name);

/* The recorded file named name in v (sorted by name, n of them), or NULL. */
const struct seal_file *seal_file_find(const struct seal_file *v, size_t n, const char *name);

/*
 * Seal a pass whose plan p is now wholly in place.  A full pass (in->prev
 * NULL) is sealed only when it changed nothing (or, with in->seal_writes,
 * when every change was applied); a delta pass when every item was applied.  Returns 1 when written, 0 when the pass cannot be sealed
 * (conflicts, kept items, a path too recently modified to be vouched for;
 * any old seal is then removed; *ret_why, if given, then says why, for the
 * caller's log), or a negative errno.
 */
int seal_write(struct engine *e, const struct plan *p, const struct seal_deps *deps,
	       const struct seal_input *in, const char **ret_why);

/* Remove the seal (a pass that changes things, or fails): 0 or a negative errno. */
int seal_remove(int state_fd);

#endif
