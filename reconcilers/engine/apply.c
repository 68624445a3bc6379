/*
 * apply: carry a plan out, durably, without an fsync per file.
 *
 *  1. stage: write every new file as a temp beside its final name, build
 *     every new tree generation, make directories; files whose directory
 *     in the NFS root is not there yet go, at their final names, into a
 *     new directory in nfs/.staging that stands for the topmost missing one
 *     (a unit);
 *  2. one syncfs per file system touched;
 *  3. rename every temp into place (a tree: switch its symlink; a unit: its
 *     directory, never over one that is there), then fsync each directory
 *     that a rename touched (or, past FSYNC_DIRS_MAX of them, syncfs again);
 *  4. delete what the inventory lists and the repository no longer wants,
 *     old tree generations included, deepest first;
 *  5. record the inventory.
 *
 * A crash before 3 leaves only temps (ignored and replaced next time) and
 * units in staging (a dead pass's, removed next time); a crash during 3
 * leaves each path either old or new, a unit's directory whole or absent.  What no plan sees
 * (generations no link points to, staging, a dead writer's temps) is removed
 * by the next pass, which the controller's intent record tells that a pass
 * did not finish: the whole argument, step by step, is in recover.c.  A root
 * made here whose own files failed is recorded unsettled (unsettle_roots()).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "engine_int.h"
#include "noderoot.h"
#include "array.h"
#include "buf.h"
#include "fsutil.h"
#include "stop.h"

#define ROOT_BATCH_MAX 1024 /* node roots made as one batch (make_roots) */

struct pending {
	enum root_id root;
	char *path; /* final path beneath root */
	struct plan_item *item;
	bool tree;   /* a tree link: the old generation goes after the switch */
	size_t unit; /* a new directory's rename: its index in units + 1; 0: none */
};

/*
 * A directory of the NFS root that is not there yet (a new node's
 * etc/bramble/nodes/<serial> in a shared root, or a whole etc/bramble in a
 * new one), made whole in nfs/.staging: the files beneath it are written
 * there at their final names and the directory is renamed into place once
 * in phase 3.  Its files' ctimes do not change with it, so no signature is
 * taken twice, and no directory of it is opened again to rename a temp.
 */
struct unit {
	char *path;		    /* final path beneath ROOT_NFS */
	size_t len;		    /* strlen(path) */
	char name[64];		    /* in NODEROOT_STAGING */
	struct plan_item **members; /* staged inside, applied once it is placed */
	size_t n, cap;
	bool poisoned; /* a failed member's partial file stayed: not placed */
	bool placed;
};

/* A directory a rename or a removal touched, to fsync in phase 3. */
struct dir_ref {
	enum root_id root;
	char *dir; /* beneath the root; "" is the root itself */
};

struct batch {
	struct engine *e;
	unsigned flags;
	struct pending *v;
	size_t n, cap;
	struct dir_ref *dirs; /* to fsync */
	size_t n_dirs, cap_dirs;
	bool root_used[ROOT_COUNT];
	struct unit *units;
	size_t n_units, cap_units;
	struct unit *cur; /* the unit items are being staged into, or NULL */
	int staging_fd;	  /* NODEROOT_STAGING in ROOT_NFS, once a unit needs it */
	size_t failed;
	int first_error;
};

static void fail(struct batch *b, struct plan_item *it, int r, const char *op)
{
	it->error = r;
	it->error_op = op;
	b->failed++;
	if (!b->first_error)
		b->first_error = r;
}

static int touch_dir(struct batch *b, enum root_id root, const char *path)
{
	const char *slash = strrchr(path, '/');
	size_t i, len = slash ? (size_t)(slash - path) : 0;
	char *dir;

	b->root_used[root] = true;
	/* Renames come in path order: a directory just seen is the usual repeat. */
	for (i = b->n_dirs; i > 0 && i + 8 > b->n_dirs; i--)
		if (b->dirs[i - 1].root == root && strncmp(b->dirs[i - 1].dir, path, len) == 0 &&
		    b->dirs[i - 1].dir[len] == '\0')
			return 0;
	if (b->n_dirs == b->cap_dirs) {
		size_t cap = b->cap_dirs ? b->cap_dirs * 2 : 64;
		struct dir_ref *v = realloc(b->dirs, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		b->dirs = v;
		b->cap_dirs = cap;
	}
	dir = strndup(path, len);
	if (!dir)
		return -ENOMEM;
	b->dirs[b->n_dirs].root = root;
	b->dirs[b->n_dirs++].dir = dir;
	return 0;
}

static int push_pending(struct batch *b, enum root_id root, const char *path, struct plan_item *it,
			bool tree, size_t unit)
{
	struct pending *p;

	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 64;
		struct pending *v = realloc(b->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		b->v = v;
		b->cap = cap;
	}
	p = &b->v[b->n];
	p->path = strdup(path);
	if (!p->path)
		return -ENOMEM;
	p->root = root;
	p->item = it;
	p->tree = tree;
	p->unit = unit;
	b->n++;
	return touch_dir(b, root, path);
}

static int tmp_name(const char *name, char *out, size_t size)
{
	int n = snprintf(out, size, ".%s" TMP_SUFFIX, name);

	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

/* Write content to a new file name in dfd (which must not exist). */
static int write_new(int dfd, const char *name, const struct resource *res, struct plan_item *it)
{
	struct stat_sig sig;
	struct stat st;
	int fd, r;

	/* The umask is 0 while applying: the file is made with its mode. */
	fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, res->mode);
	if (fd < 0)
		return -errno;
	r = write_all(fd, res->data, res->len);
	if (r == 0 && fstat(fd, &st) < 0)
		r = -errno;
	/* A close can report a lost write (NFS, a full disk): it is an error. */
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0) {
		sig_from_stat(&sig, &st);
		item_sig_set(it, &sig);
	}
	return r;
}

/* Copy a source file when it cannot be hard-linked (another file system). */
static int copy_file(int sfd, int dfd, const char *name, const struct stat *src)
{
	struct timespec ts[2];
	char buf[65536];
	ssize_t n;
	int fd, r = 0;

	fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	while (r == 0 && (n = read(sfd, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		r = n < 0 ? -errno : write_all(fd, buf, (size_t)n);
	}
	ts[0] = src->st_atim;
	ts[1] = src->st_mtim;
	if (r == 0 && fchmod(fd, src->st_mode & 07777) < 0)
		r = -errno;
	if (r == 0 && futimens(fd, ts) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	return r;
}

static int link_new(struct engine *e, int dfd, const char *name, const struct resource *res,
		    struct plan_item *it)
{
	const char *sname = NULL;
	struct stat_sig sig;
	struct stat st;
	int sfd = -1, pfd = -1, r;

	r = engine_source_fd(e, res->data, &pfd, &sname);
	if (r < 0)
		return r;
	if (linkat(pfd, sname, dfd, name, 0) < 0) {
		r = -errno;
		/* Another file system, or too many links: copy instead. */
		if (r != -EXDEV && r != -EPERM && r != -EMLINK)
			goto out;
		sfd = openat(pfd, sname, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		r = sfd < 0 ? -errno : 0;
		if (r == 0 && fstat(sfd, &st) < 0)
			r = -errno;
		if (r == 0)
			r = copy_file(sfd, dfd, name, &st);
		if (r < 0)
			goto out;
	}
	/* A link inside a tree is checked against its source: no signature. */
	if (it->res->flags & RES_F_TREE_CHILD)
		goto out;
	r = fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
	if (r == 0) {
		sig_from_stat(&sig, &st);
		item_sig_set(it, &sig);
	}
out:
	if (sfd >= 0)
		close(sfd);
	return r;
}

static int make_dir(int dfd, const char *name, mode_t mode, struct plan_item *it)
{
	struct stat_sig sig;
	struct stat st;

	/* A directory made now has its mode (umask 0); one that was there is fixed. */
	if (mkdirat(dfd, name, mode) < 0) {
		if (errno != EEXIST)
			return -errno;
		if (fchmodat(dfd, name, mode, 0) < 0)
			return -errno;
	}
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	sig_from_stat(&sig, &st);
	item_sig_set(it, &sig);
	return 0;
}

/* Create one entry of a resource in dfd; -EEXIST when the name is taken. */
static int create_once(struct engine *e, int dfd, const char *name, struct plan_item *it)
{
	const struct resource *res = it->res;
	const char *target = res->data;
	struct stat_sig sig;
	struct stat st;

	switch (res->type) {
	case RES_FILE:
		return write_new(dfd, name, res, it);
	case RES_HARDLINK:
		return link_new(e, dfd, name, res, it);
	case RES_DIR:
		return make_dir(dfd, name, res->mode, it);
	case RES_SYMLINK:
	case RES_TREE:
		if (res->type == RES_TREE)
			target = strrchr(it->gendir, '/') ? strrchr(it->gendir, '/') + 1
							  : it->gendir;
		if (symlinkat(target, dfd, name) < 0)
			return -errno;
		/* A tree records its generation directory, once it has settled. */
		if (res->type == RES_TREE) {
			it->sig_ino = it->sig_size = it->sig_mtime_ns = it->sig_ctime_ns = 0;
			return 0;
		}
		if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return -errno;
		sig_from_stat(&sig, &st);
		item_sig_set(it, &sig);
		return 0;
	}
	return -EINVAL;
}

/*
 * Create one entry (final name or temp) of a resource in dfd.  Whatever is
 * at name (a temp left by an interrupted pass) goes first, unless fresh (a
 * directory bramble just made empty).
 */
static int create_entry(struct engine *e, int dfd, const char *name, struct plan_item *it,
			bool fresh)
{
	int r = create_once(e, dfd, name, it);

	if (r != -EEXIST || fresh || it->res->type == RES_DIR)
		return r;
	if (unlinkat(dfd, name, 0) < 0 && errno != ENOENT)
		return -errno;
	return create_once(e, dfd, name, it);
}

/* Stage a resource: a temp beside its final path (base/path), renamed in phase 3. */
static int stage_at(struct batch *b, enum root_id root, const char *base, const char *path,
		    struct plan_item *it, bool tree)
{
	char tmp[300];
	const char *name = NULL;
	struct buf full = BUF_INIT;
	int dfd, r;

	r = buf_printf(&full, "%s%s%s", base ? base : "", base ? "/" : "", path);
	if (r < 0)
		return r;
	r = engine_parent_fd(b->e, root, buf_str(&full), true, &dfd, &name);
	if (r < 0)
		goto out;
	if (it->res->type == RES_DIR) {
		r = make_dir(dfd, name, it->res->mode, it);
		it->applied = r == 0;
		goto out;
	}
	r = tmp_name(name, tmp, sizeof(tmp));
	if (r == 0)
		r = create_entry(b->e, dfd, tmp, it, false);
	if (r == 0)
		r = push_pending(b, root, buf_str(&full), it, tree, 0);
out:
	buf_release(&full);
	return r;
}

/* Make a tree's generation directory, empty, and open it. */
static int generation_make(struct batch *b, struct plan_item *it, int *ret_fd)
{
	const char *name = NULL;
	bool removed = false;
	int pfd, fd, r;

	r = engine_parent_fd(b->e, it->res->root, it->gendir, true, &pfd, &name);
	if (r < 0)
		return r;
	/* A generation left by an interrupted pass is rebuilt from scratch. */
	if (mkdirat(pfd, name, 0755) < 0) {
		removed = errno == EEXIST;
		r = removed ? rm_rf_at(pfd, name) : -errno;
		if (r == 0 && mkdirat(pfd, name, 0755) < 0)
			r = -errno;
	}
	fd = r < 0 ? -1 : openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (r == 0 && fd < 0)
		r = -errno;
	/* No cached directory may point into the removed one (pfd is cached too). */
	if (removed)
		engine_parent_forget(b->e);
	if (r < 0)
		return r;
	*ret_fd = fd;
	return 0;
}

/* Build a whole new generation directory for a tree (not yet visible). */
static int build_generation(struct batch *b, struct plan_item *it)
{
	const char *name = NULL, *slash;
	char sub[256] = "";
	struct child_walk w = {it->res, 0, 0};
	const struct resource *cr;
	int gfd = -1, sfd = -1, r;
	size_t k = 0;

	r = generation_make(b, it, &gfd);
	if (r < 0)
		return r;
	/* Every child of the tree; links have no item (tree_children_init). */
	while (r == 0 && (cr = child_walk_next(&w)) != NULL) {
		struct plan_item link, *c = &link;
		int dfd = gfd;

		if (cr->type == RES_HARDLINK) {
			memset(&link, 0, sizeof(link));
			link.res = (struct resource *)(uintptr_t)cr;
		} else if (k < it->n_children && it->children[k].res == cr) {
			c = &it->children[k++];
		} else {
			r = -EINVAL;
			break;
		}
		name = cr->path;
		slash = strrchr(name, '/');
		/* Children come sorted: a subdirectory's entries follow each other. */
		if (slash && (strlen(sub) != (size_t)(slash - name) ||
			      strncmp(sub, name, (size_t)(slash - name)) != 0)) {
			if (sfd >= 0)
				close(sfd);
			sfd = -1;
			snprintf(sub, sizeof(sub), "%.*s", (int)(slash - name), name);
			r = dir_open_beneath(gfd, sub, true, 0755, &sfd);
			if (r < 0)
				break;
		}
		if (slash) {
			dfd = sfd;
			name = slash + 1;
		}
		r = create_entry(b->e, dfd, name, c, true);
		c->applied = r == 0;
	}
	if (sfd >= 0)
		close(sfd);
	close(gfd);
	return r;
}

static int stage_tree(struct batch *b, struct plan_item *it)
{
	size_t i;
	int r;

	if (it->in_place) {
		for (i = 0; i < it->n_children; i++) {
			struct plan_item *c = &it->children[i];

			if (c->op == PLAN_UNCHANGED)
				continue;
			r = stage_at(b, it->res->root, it->gendir, c->res->path, c, false);
			if (r < 0)
				return r;
		}
		/* The tree itself is in place once its children are. */
		return push_pending(b, it->res->root, "", it, false, 0);
	}
	r = build_generation(b, it);
	if (r < 0)
		return r;
	return stage_at(b, it->res->root, NULL, it->res->path, it, true);
}

/* Whether path lies beneath the unit u (NULL: no unit). */
static bool in_unit(const struct unit *u, const char *path)
{
	return u && strncmp(path, u->path, u->len) == 0 && path[u->len] == '/';
}

static void unit_fail(struct batch *b, struct unit *u, int r, const char *op)
{
	size_t i;

	for (i = 0; i < u->n; i++)
		fail(b, u->members[i], r, op);
	u->n = 0;
}

/* Make a unit for the directory dir (ROOT_NFS, missing), empty in staging. */
static int unit_begin(struct batch *b, const char *dir)
{
	static unsigned counter; /* a daemon's passes never reuse a name */
	struct unit *u;
	int r;

	if (b->staging_fd < 0) {
		r = dir_open_beneath(b->e->root_fd[ROOT_NFS], NODEROOT_STAGING, true, 0700,
				     &b->staging_fd);
		if (r < 0)
			return r;
	}
	if (b->n_units == b->cap_units) {
		struct unit *v = array_grow(b->units, &b->cap_units, sizeof(*v), 16);

		if (!v)
			return -ENOMEM;
		b->units = v;
	}
	u = &b->units[b->n_units];
	memset(u, 0, sizeof(*u));
	u->path = strdup(dir);
	if (!u->path)
		return -ENOMEM;
	u->len = strlen(dir);
	/* "new.<pid>.<n>": a dead pass's, by its pid (noderoot.c staging_clean_dead()) */
	snprintf(u->name, sizeof(u->name), "new.%d.%u", (int)getpid(), counter++);
	r = 0;
	if (mkdirat(b->staging_fd, u->name, 0755) < 0) {
		/* Left by a dead process that had this pid. */
		r = errno == EEXIST ? rm_rf_at(b->staging_fd, u->name) : -errno;
		if (r == 0 && mkdirat(b->staging_fd, u->name, 0755) < 0)
			r = -errno;
	}
	if (r < 0) {
		free(u->path);
		return r;
	}
	b->n_units++;
	b->cur = u;
	return 0;
}

/* No more members: the unit's rename is queued (phase 3), in path order. */
static void unit_end(struct batch *b)
{
	struct unit *u = b->cur;
	int r;

	b->cur = NULL;
	if (!u)
		return;
	r = push_pending(b, ROOT_NFS, u->path, NULL, false, (size_t)(u - b->units) + 1);
	if (r < 0)
		unit_fail(b, u, r, "queue its new directory");
}

/*
 * Stage it inside the current unit, at its final name (the directory is
 * new, so nothing is in the way).  A file it leaves half written is
 * removed; if that fails the unit is not placed (the next pass would find
 * the half file and take it for a foreign one).
 */
static int unit_stage(struct batch *b, struct plan_item *it)
{
	struct unit *u = b->cur;
	struct buf full = BUF_INIT;
	const char *name = NULL;
	int dfd, r;

	r = buf_printf(&full, NODEROOT_STAGING "/%s%s", u->name, it->res->path + u->len);
	if (r == 0)
		r = engine_parent_fd(b->e, ROOT_NFS, buf_str(&full), true, &dfd, &name);
	if (r < 0)
		goto out;
	r = create_entry(b->e, dfd, name, it, true);
	if (r == 0 && u->n == u->cap) {
		struct plan_item **v = array_grow(u->members, &u->cap, sizeof(*v), 8);

		if (v)
			u->members = v;
		else
			r = -ENOMEM;
	}
	if (r == 0)
		u->members[u->n++] = it;
	else if (it->res->type != RES_DIR && unlinkat(dfd, name, 0) < 0 && errno != ENOENT)
		u->poisoned = true;
out:
	buf_release(&full);
	return r;
}

/*
 * Stage an item of the NFS root: inside the current unit; or, when its
 * directory is missing, inside a new unit for the topmost missing one (the
 * lookup names it: engine.c missing_set()); or as a temp beside its path.
 */
static int stage_nfs(struct batch *b, struct plan_item *it)
{
	const struct engine *e = b->e;
	const char *name = NULL;
	int dfd, r;

	if (in_unit(b->cur, it->res->path))
		return unit_stage(b, it);
	unit_end(b);
	r = engine_parent_fd(b->e, ROOT_NFS, it->res->path, false, &dfd, &name);
	if (r == -ENOENT && e->missing_root == ROOT_NFS && e->missing_dir &&
	    strncmp(it->res->path, e->missing_dir, strlen(e->missing_dir)) == 0 &&
	    it->res->path[strlen(e->missing_dir)] == '/') {
		r = unit_begin(b, e->missing_dir);
		return r < 0 ? r : unit_stage(b, it);
	}
	return stage_at(b, ROOT_NFS, NULL, it->res->path, it, false);
}

/* Phase 3 for a unit: its directory renamed into place, never over another. */
static void unit_place(struct batch *b, struct unit *u)
{
	const char *name = NULL;
	size_t i;
	int pfd, r;

	if (u->poisoned) {
		unit_fail(b, u, -EIO, "place its new directory (a failed file in it stayed)");
		return;
	}
	r = engine_parent_fd(b->e, ROOT_NFS, u->path, false, &pfd, &name);
	if (r == 0 && renameat2(b->staging_fd, u->name, pfd, name, RENAME_NOREPLACE) < 0) {
		r = -errno;
		/* A file system without RENAME_NOREPLACE: a plain rename still
		 * refuses to replace a directory that is not empty. */
		if (r == -EINVAL)
			r = renameat(b->staging_fd, u->name, pfd, name) < 0 ? -errno : 0;
	}
	if (r < 0) {
		unit_fail(b, u, r, "rename its new directory into place");
		return;
	}
	u->placed = true;
	for (i = 0; i < u->n; i++)
		u->members[i]->applied = true;
}

/*
 * After the apply: every unit not placed removed from staging (a failure
 * or a stop before phase 3), then staging itself when empty.
 */
static int units_finish(struct batch *b)
{
	size_t i;
	int r = 0, q;

	for (i = 0; i < b->n_units; i++) {
		struct unit *u = &b->units[i];

		q = u->placed ? 0 : rm_rf_at(b->staging_fd, u->name);
		if (q < 0 && r == 0) {
			r = q;
			engine_set_failure(b->e, "remove the staged directory", ROOT_NFS,
					   NODEROOT_STAGING);
		}
		free(u->members);
		free(u->path);
	}
	free(b->units);
	if (b->n_units)
		engine_parent_forget(b->e); /* nothing cached may point into staging */
	if (b->staging_fd < 0)
		return r;
	close(b->staging_fd);
	if (unlinkat(b->e->root_fd[ROOT_NFS], NODEROOT_STAGING, AT_REMOVEDIR) < 0 &&
	    errno != ENOTEMPTY && errno != EEXIST && errno != ENOENT && r == 0) {
		r = -errno;
		engine_set_failure(b->e, "remove", ROOT_NFS, NODEROOT_STAGING);
	}
	return r;
}

static bool wants_apply(const struct plan_item *it, unsigned flags)
{
	if (it->op == PLAN_CREATE || it->op == PLAN_UPDATE)
		return true;
	return it->op == PLAN_CONFLICT && (flags & ENGINE_ADOPT);
}

static const char *item_path(const struct plan_item *it)
{
	return it->res ? it->res->path : it->inv->path;
}

int root_index_add(struct root_index *ri, struct plan_item *it)
{
	if (ri->n == ri->cap) {
		size_t cap = ri->cap ? ri->cap * 2 : 64;
		struct plan_item **v = realloc(ri->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		ri->v = v;
		ri->cap = cap;
	}
	ri->v[ri->n++] = it;
	return 0;
}

struct plan_item *root_index_find(const struct root_index *ri, const char *path)
{
	size_t len = noderoot_prefix(path), lo = 0, hi = ri->n;

	while (len && lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const char *rp = item_path(ri->v[mid]);
		int c = strncmp(path, rp, len);

		if (c == 0)
			c = rp[len] ? -1 : 0;
		if (c == 0)
			return ri->v[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

static bool is_root_item(const struct plan_item *it)
{
	return it->res ? it->res->type == RES_ROOT && it->res->root == ROOT_NFS
		       : it->inv->type == RES_ROOT && it->inv->root == ROOT_NFS;
}

/* A root made (or re-imaged) in this apply, or retired: its old files went with it. */
static bool root_replaced(const struct plan_item *root)
{
	if (root->op == PLAN_DELETE)
		return true;
	return root->applied && (root->op == PLAN_CREATE || root->op == PLAN_UPDATE);
}

/*
 * A file inside a node root follows its root: in a root made in this apply
 * it is written whatever the plan saw in the old one (the copy holds the
 * image's file there); in a root that is not in place (a failure, or a
 * directory bramble did not make) nothing is written.  Returns false when
 * the item is not to be applied.
 */
static bool follow_root(struct batch *b, struct plan *p, const struct root_index *ri,
			struct plan_item *it)
{
	struct plan_item *root;

	if (it->res->root != ROOT_NFS || it->res->type == RES_ROOT)
		return true;
	root = root_index_find(ri, it->res->path);
	if (!root)
		return true;
	if (root_replaced(root)) {
		if (it->op == PLAN_UNCHANGED)
			p->n_unchanged--;
		else if (it->op == PLAN_CONFLICT)
			p->n_conflict--;
		if (it->op == PLAN_UNCHANGED || it->op == PLAN_CONFLICT) {
			it->op = PLAN_CREATE;
			it->reason = "made with the new root";
			p->n_create++;
		}
		return true;
	}
	if (root->op == PLAN_UNCHANGED || root->applied)
		return true;
	if (it->with_root) { /* the plan's "made with the new root": the root was not made */
		it->op = PLAN_UNCHANGED;
		it->reason = "";
		p->n_create--;
		p->n_unchanged++;
		return false;
	}
	if (wants_apply(it, b->flags))
		fail(b, it, -ENOENT, "write (its node root is not in place)");
	return false;
}

static bool wants_root(const struct batch *b, const struct plan_item *it)
{
	return it->res && is_root_item(it) && wants_apply(it, b->flags);
}

/*
 * Make every node root the plan wants, in batches (root_apply_batch: one
 * sync for all the copies of a batch), before the files inside the roots are
 * staged.  A batch holds 3 KB a root until it ends: 10,000 roots in one were
 * 32 MB of a cold apply's peak, ROOT_BATCH_MAX of them 3 MB, for a sync
 * every ROOT_BATCH_MAX roots instead of one.
 */
static void make_roots(struct batch *b, struct plan *p)
{
	struct plan_item **v;
	size_t i, n = 0;
	int *errs, r;

	for (i = 0; i < p->n_items; i++)
		n += wants_root(b, &p->items[i]);
	if (n == 0)
		return;
	v = calloc(n, sizeof(*v));
	errs = calloc(n, sizeof(*errs));
	n = 0;
	for (i = 0; i < p->n_items; i++) {
		if (!wants_root(b, &p->items[i]))
			continue;
		if (v && errs)
			v[n++] = &p->items[i];
		else
			fail(b, &p->items[i], -ENOMEM, "make the node root");
	}
	/* A failure of a batch as a whole (its staging) fails the apply too. */
	for (i = 0, r = 0; r == 0 && i < n; i += ROOT_BATCH_MAX) {
		r = root_apply_batch(b->e, v + i, n - i < ROOT_BATCH_MAX ? n - i : ROOT_BATCH_MAX,
				     errs + i);
		if (r < 0 && !b->first_error)
			b->first_error = r;
	}
	/* Stopped (SIGTERM), or a batch's staging failed: the roots after it too. */
	for (; i < n; i++)
		errs[i] = r;
	for (i = 0; i < n; i++) {
		v[i]->applied = errs[i] == 0;
		if (errs[i] < 0)
			fail(b, v[i], errs[i], "make the node root");
	}
	free(v);
	free(errs);
}

/*
 * A switch of an existing generation that the caller defers (a node in the
 * middle of a boot): nothing is staged, so nothing is renamed or deleted and
 * the inventory keeps the old generation, as for an item not applied.
 */
static bool tree_deferred(struct batch *b, struct plan_item *it)
{
	if (it->res->type != RES_TREE || it->op != PLAN_UPDATE || it->in_place || !b->e->defer)
		return false;
	it->deferred = b->e->defer(b->e->defer_ctx, it);
	return it->deferred;
}

static void stage_all(struct batch *b, struct plan *p)
{
	struct root_index ri = {NULL, 0, 0};
	size_t i;
	int r;

	make_roots(b, p);
	for (i = 0; i < p->n_items; i++) {
		struct plan_item *it = &p->items[i];

		if (it->res && is_root_item(it) && root_index_add(&ri, it) < 0) {
			fail(b, it, -ENOMEM, "index the node root");
			continue;
		}
		if (it->res && !follow_root(b, p, &ri, it))
			continue;
		if (!wants_apply(it, b->flags)) {
			if (it->op == PLAN_CONFLICT)
				fail(b, it, -EEXIST,
				     "replace (it was not created by bramble; --adopt replaces "
				     "it)");
			continue;
		}
		if (it->res->type == RES_ROOT) {
			continue; /* made by make_roots(): the files inside follow */
		} else if (tree_deferred(b, it)) {
			continue;
		} else if (stop_requested()) {
			/* the daemon's SIGTERM: what is staged is renamed, the rest waits */
			r = -ECANCELED;
		} else if (it->res->type == RES_TREE) {
			r = stage_tree(b, it);
		} else if (it->res->root == ROOT_NFS) {
			r = stage_nfs(b, it);
		} else {
			r = stage_at(b, it->res->root, NULL, it->res->path, it, false);
		}
		if (r < 0)
			fail(b, it, r, "write");
	}
	unit_end(b);
	free(ri.v);
}

/* One syncfs for each distinct file system that holds a touched root. */
static int sync_roots(struct batch *b)
{
	dev_t seen[ROOT_COUNT];
	size_t n_seen = 0, k;
	int i;

	for (i = 0; i < ROOT_COUNT; i++) {
		struct stat st;

		if (!b->root_used[i] || b->e->root_fd[i] < 0)
			continue;
		if (fstat(b->e->root_fd[i], &st) < 0) {
			engine_set_failure(b->e, "stat", i, "");
			return -errno;
		}
		for (k = 0; k < n_seen && seen[k] != st.st_dev; k++)
			;
		if (k < n_seen)
			continue;
		seen[n_seen++] = st.st_dev;
		if (syncfs(b->e->root_fd[i]) < 0) {
			engine_set_failure(b->e, "syncfs", i, "");
			return -errno;
		}
	}
	return 0;
}

static bool children_applied(const struct plan_item *it)
{
	size_t i;

	for (i = 0; i < it->n_children; i++)
		if (it->children[i].op != PLAN_UNCHANGED && !it->children[i].applied)
			return false;
	return true;
}

/*
 * A rename changes the ctime of what it moves, so the signature taken when
 * the temp was written would never match again and the next pass would
 * read every file back.  Take it again, and keep it only when the inode,
 * size and mtime are still what was written (else the old one stays: the
 * next pass compares the content, as for any changed signature).
 */
static void resig_renamed(struct plan_item *it, int dfd, const char *name)
{
	struct stat_sig sig;
	struct stat st;

	if (it->res->type != RES_FILE && it->res->type != RES_SYMLINK)
		return;
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return;
	sig_from_stat(&sig, &st);
	if (sig.ino == it->sig_ino && sig.size == it->sig_size && sig.mtime_ns == it->sig_mtime_ns)
		it->sig_ctime_ns = sig.ctime_ns;
}

static int rename_one(struct batch *b, struct pending *pd)
{
	char tmp[300];
	const char *name = NULL;
	int dfd, r;

	r = engine_parent_fd(b->e, pd->root, pd->path, false, &dfd, &name);
	if (r < 0)
		return r;
	r = tmp_name(name, tmp, sizeof(tmp));
	if (r < 0)
		return r;
	if (renameat(dfd, tmp, dfd, name) < 0)
		return -errno;
	resig_renamed(pd->item, dfd, name);
	return 0;
}

static void rename_all(struct batch *b)
{
	size_t i;
	int r;

	for (i = 0; i < b->n; i++) {
		struct pending *pd = &b->v[i];
		struct plan_item *it = pd->item;

		if (pd->unit) {
			unit_place(b, &b->units[pd->unit - 1]);
			continue;
		}
		if (pd->path[0] == '\0' || (it->res->type == RES_TREE && it->in_place)) {
			it->sig_ino = it->sig_size = it->sig_mtime_ns = it->sig_ctime_ns = 0;
			if (children_applied(it))
				it->applied = true;
			else if (!it->error)
				fail(b, it, -EIO, "repair the boot tree in place");
			continue;
		}
		r = rename_one(b, pd);
		if (r < 0) {
			fail(b, it, r, "rename the temp into place");
			continue;
		}
		it->applied = true;
	}
}

/*
 * Past this many directories, one syncfs per file system (sync_roots(), a
 * superset of their fsyncs, already paid once in step 2) costs less than an
 * open, fsync and close of each: a cold pass touches three per node.
 */
#define FSYNC_DIRS_MAX 64

static int fsync_dirs(struct batch *b)
{
	size_t i;
	int r = 0;

	if (b->n_dirs > FSYNC_DIRS_MAX)
		return sync_roots(b);
	for (i = 0; i < b->n_dirs; i++) {
		enum root_id root = b->dirs[i].root;
		int fd;

		if (engine_dir_fd(b->e, root, b->dirs[i].dir, &fd) < 0)
			continue;
		if (fsync(fd) < 0 && r == 0) {
			r = -errno;
			engine_set_failure(b->e, "fsync", root, b->dirs[i].dir);
		}
	}
	return r;
}

/* Remove a generation directory of a tree ("a/.b.<digest>"): it is ours by name. */
static int remove_gendir(struct batch *b, enum root_id root, const char *gendir)
{
	const char *name = NULL;
	int dfd, r;

	if (!gendir)
		return 0;
	r = engine_parent_fd(b->e, root, gendir, false, &dfd, &name);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	if (name[0] != '.')
		return -EINVAL;
	r = rm_rf_at(dfd, name);
	engine_parent_forget(b->e); /* nothing cached may point into it */
	if (r == 0)
		r = touch_dir(b, root, gendir);
	return r;
}

static int delete_entry(struct batch *b, struct inv_entry *inv)
{
	const char *name = NULL;
	char tmp[NAME_MAX + 1];
	struct stat st;
	int dfd, r;

	r = engine_parent_fd(b->e, inv->root, inv->path, false, &dfd, &name);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	/* A temp of this path left by a pass that died before its rename goes too
	 * (the name is bramble's own; only a file or a link is removed). */
	if (inv->type != RES_DIR && tmp_name(name, tmp, sizeof(tmp)) == 0 &&
	    fstatat(dfd, tmp, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    (S_ISREG(st.st_mode) || S_ISLNK(st.st_mode)) && unlinkat(dfd, tmp, 0) < 0 &&
	    errno != ENOENT)
		return -errno;
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno != ENOENT)
			return -errno;
		/* A link removed by a pass that died before its generation was. */
		return inv->type == RES_TREE ? remove_gendir(b, inv->root, inv->gendir) : 0;
	}
	if (inv->type == RES_DIR) {
		if (!S_ISDIR(st.st_mode))
			return 0;
		if (unlinkat(dfd, name, AT_REMOVEDIR) < 0)
			return -errno;
		engine_parent_forget(b->e); /* it may be cached itself */
	} else {
		/* Never remove a directory that took the place of a file of ours. */
		if (S_ISDIR(st.st_mode))
			return -EISDIR;
		if (unlinkat(dfd, name, 0) < 0)
			return -errno;
	}
	r = touch_dir(b, inv->root, inv->path);
	if (r == 0 && inv->type == RES_TREE)
		r = remove_gendir(b, inv->root, inv->gendir);
	return r;
}

/* The roots of the plan that were replaced or retired in this apply. */
static int replaced_roots(struct plan *p, struct root_index *ri)
{
	size_t i;
	int r;

	for (i = 0; i < p->n_items; i++) {
		struct plan_item *it = &p->items[i];

		if (!is_root_item(it) || !root_replaced(it))
			continue;
		r = root_index_add(ri, it);
		if (r < 0)
			return r;
	}
	return 0;
}

static void delete_all(struct batch *b, struct plan *p)
{
	struct root_index ri = {NULL, 0, 0};
	/* Out of memory: keep every file inside a root (deleted next time). */
	bool keep_all = replaced_roots(p, &ri) < 0;
	size_t i;
	int r;

	for (i = p->n_items; i > 0; i--) {
		struct plan_item *it = &p->items[i - 1];

		/* A file of a root that went to the attic (or was re-made) went with it. */
		if (it->op == PLAN_DELETE && it->inv->root == ROOT_NFS &&
		    it->inv->type != RES_ROOT && noderoot_prefix(it->inv->path) &&
		    (keep_all || root_index_find(&ri, it->inv->path))) {
			it->applied = !keep_all;
			continue;
		}
		if (it->op == PLAN_DELETE && it->inv->type == RES_ROOT) {
			r = root_remove(b->e, it->inv);
			if (r < 0)
				fail(b, it, r, "move the node root to the attic");
			else
				it->applied = true;
			continue;
		}
		if (it->op == PLAN_DELETE) {
			r = delete_entry(b, it->inv);
			if (r < 0)
				fail(b, it, r, "remove");
			else
				it->applied = true;
			continue;
		}
		/* A tree switched to a new generation: drop the old one. */
		if (it->applied && it->res && it->res->type == RES_TREE && !it->in_place &&
		    it->inv && it->inv->gendir && strcmp(it->inv->gendir, it->gendir) != 0) {
			r = remove_gendir(b, it->res->root, it->inv->gendir);
			if (r < 0)
				fail(b, it, r, "remove the old generation of");
		}
	}
	free(ri.v);
}

static void dirs_reset(struct batch *b)
{
	size_t i;

	for (i = 0; i < b->n_dirs; i++)
		free(b->dirs[i].dir);
	b->n_dirs = 0;
}

/*
 * A root made in this apply is recorded settled only once every file of
 * bramble's inside it is in place: otherwise it is recorded with no inode,
 * so that the next pass knows the files it finds there at bramble's paths
 * (the image's copies) for its own to replace, not for the node's
 * (root_observe(): unsettled).
 */
static int unsettle_roots(struct plan *p)
{
	struct root_index ri = {NULL, 0, 0};
	struct plan_item *root;
	size_t i;
	int r;

	for (i = 0, r = 0; r == 0 && i < p->n_items; i++)
		if (p->items[i].res && is_root_item(&p->items[i]))
			r = root_index_add(&ri, &p->items[i]);
	for (i = 0; r == 0 && ri.n && i < p->n_items; i++) {
		struct plan_item *it = &p->items[i];

		if (!it->res || !it->error || it->res->root != ROOT_NFS ||
		    it->res->type == RES_ROOT)
			continue;
		/* Made now, or found unsettled and still not settled. */
		root = root_index_find(&ri, it->res->path);
		if (root && (root->unsettled || (root->applied && root_replaced(root))))
			root->sig_ino = 0;
	}
	free(ri.v);
	return r;
}

void engine_set_failure(struct engine *e, const char *op, int root, const char *path)
{
	const char *base = root >= 0 ? e->root_path[root] : e->state_dir;

	snprintf(e->failure, sizeof(e->failure), "%s %s%s%s", op, base ? base : "",
		 path[0] ? "/" : "", path);
}

const char *engine_failure(const struct engine *e)
{
	return e->failure;
}

void plan_item_where(const struct plan_item *it, enum root_id *ret_root, const char **ret_path)
{
	*ret_root = it->res ? it->res->root : it->inv->root;
	*ret_path = item_path(it);
}

/* Phases 1 to 4, then what is left of the units. */
static int apply_phases(struct batch *b, struct plan *p)
{
	int r, q;

	stage_all(b, p);
	/* The daemon's SIGTERM: stop before the syncs, as a crash here would (recover.c) */
	r = stop_requested() ? -ECANCELED : sync_roots(b);
	if (r == 0) {
		rename_all(b);
		r = fsync_dirs(b);
	}
	if (r == 0) {
		dirs_reset(b);
		delete_all(b, p);
		r = fsync_dirs(b);
	}
	q = units_finish(b);
	return r < 0 ? r : q;
}

static void batch_release(struct batch *b)
{
	size_t i;

	for (i = 0; i < b->n; i++)
		free(b->v[i].path);
	free(b->v);
	dirs_reset(b);
	free(b->dirs);
}

int engine_apply(struct engine *e, struct plan *p, unsigned flags, size_t *ret_failed)
{
	mode_t old_umask;
	struct batch b;
	int r;

	if (ret_failed)
		*ret_failed = 0;
	e->failure[0] = '\0';
	r = inventory_covers(&e->inv, p); /* before anything is touched */
	if (r < 0)
		return r;
	memset(&b, 0, sizeof(b));
	b.e = e;
	b.flags = flags;
	b.staging_fd = -1;
	/* Every file and directory is made with its mode: no chmod afterwards. */
	old_umask = umask(0);
	r = apply_phases(&b, p);
	umask(old_umask);
	if (r == 0)
		r = unsettle_roots(p);
	if (r == 0 && (plan_has_changes(p) || p->inventory_dirty)) {
		r = inventory_save(e->state_fd, &e->inv, p);
		if (r < 0)
			engine_set_failure(e, "write the inventory", -1, INVENTORY_DIR);
	}
	batch_release(&b);
	if (ret_failed)
		*ret_failed = b.failed;
	if (r < 0)
		return r;
	return b.first_error;
}
