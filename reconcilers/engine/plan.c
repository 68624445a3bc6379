/*
 * plan: observe each desired resource and each inventory entry, and decide
 * create / update / delete / unchanged with a reason.  A steady-state pass
 * costs one fstatat per path: content is read only when the stat signature
 * recorded in the inventory no longer matches.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "engine_int.h"
#include "buf.h"
#include "fsutil.h"

#define OBSERVE_MAX_READ ((size_t)64 << 20)

struct observe {
	struct engine *e;
	int images_fd;
	/* A directory changed at or after this (ns since the epoch) may change
	 * again within the same timestamp tick: its signature is not trusted. */
	int64_t racy_after_ns;
	/* Cache of hard-link sources: data pointer -> stat. */
	const char **src_key;
	struct stat *src_st;
	int *src_err;
	size_t src_cap;
};

static void item_set(struct plan_item *it, enum plan_op op, const char *reason)
{
	it->op = op;
	it->reason = reason;
}

/* The item's path is not there: to create (drift when bramble had made it). */
static int item_missing(struct plan_item *it)
{
	item_set(it, PLAN_CREATE, it->inv ? "missing (deleted outside bramble)" : "missing");
	it->drift = it->inv != NULL;
	return 0;
}

void item_sig_set(struct plan_item *it, const struct stat_sig *s)
{
	it->sig_ino = s->ino;
	it->sig_size = s->size;
	it->sig_mtime_ns = s->mtime_ns;
	it->sig_ctime_ns = s->ctime_ns;
}

/* Record what was observed; fresh when the inventory's signature differs. */
static void sig_store(struct plan_item *it, const struct stat_sig *s)
{
	item_sig_set(it, s);
	it->sig_fresh = !it->inv || !sig_equal(s, &it->inv->sig);
}

static void item_sig_store(struct plan_item *it, const struct stat *st)
{
	struct stat_sig s;

	sig_from_stat(&s, st);
	sig_store(it, &s);
}

/*
 * Record a directory's signature, smudged (mtime 0, never equal) while it is
 * too recent to rule out a change in the same timestamp tick, as git does
 * for racily clean index entries.
 */
static void dir_sig_store(const struct observe *o, struct plan_item *it, const struct stat *st)
{
	struct stat_sig s;

	sig_from_stat(&s, st);
	if (s.mtime_ns >= o->racy_after_ns || s.ctime_ns >= o->racy_after_ns)
		s.mtime_ns = 0;
	sig_store(it, &s);
}

/* Whether a directory is as recorded: nothing was added, removed or replaced in it. */
static bool dir_trusted(const struct inv_entry *inv, const struct stat *st)
{
	struct stat_sig s;

	if (!inv || inv->sig.mtime_ns == 0)
		return false;
	sig_from_stat(&s, st);
	return sig_equal(&s, &inv->sig);
}

/* Stat of a hard-link source beneath the image store, cached by pointer. */
static int source_stat(struct observe *o, const char *src, struct stat *ret)
{
	size_t h, i;
	int fd, r;
	const char *name;

	if (o->src_cap == 0) {
		o->src_cap = 4096;
		o->src_key = calloc(o->src_cap, sizeof(*o->src_key));
		o->src_st = calloc(o->src_cap, sizeof(*o->src_st));
		o->src_err = calloc(o->src_cap, sizeof(*o->src_err));
		if (!o->src_key || !o->src_st || !o->src_err)
			return -ENOMEM;
	}
	h = (size_t)(((uintptr_t)src >> 4) * 11400714819323198485ULL);
	for (i = 0; i < o->src_cap; i++) {
		size_t k = (h + i) & (o->src_cap - 1);

		if (o->src_key[k] == src) {
			*ret = o->src_st[k];
			return o->src_err[k];
		}
		if (o->src_key[k])
			continue;
		r = parent_open_beneath(o->images_fd, src, false, &fd, &name);
		if (r == 0) {
			r = fstatat(fd, name, &o->src_st[k], AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
			close(fd);
		}
		if (r == 0 && !S_ISREG(o->src_st[k].st_mode))
			r = -EINVAL;
		o->src_key[k] = src;
		o->src_err[k] = r;
		*ret = o->src_st[k];
		return r;
	}
	/* Table full: no caching. */
	r = parent_open_beneath(o->images_fd, src, false, &fd, &name);
	if (r < 0)
		return r;
	r = fstatat(fd, name, ret, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
	close(fd);
	return r;
}

static bool content_equal(int dfd, const char *name, const struct resource *res)
{
	char *data = NULL;
	size_t len = 0;
	bool eq;

	if (file_read_at(dfd, name, OBSERVE_MAX_READ, &data, &len) < 0)
		return false;
	eq = len == res->len && memcmp(data, res->data, len) == 0;
	free(data);
	return eq;
}

/* Observe a regular file with known content. */
static int observe_file(struct plan_item *it, int dfd, const char *name)
{
	const struct resource *res = it->res;
	const struct inv_entry *inv = it->inv;
	struct stat st;
	struct stat_sig sig;
	bool repo_changed = inv && !sha256_equal(&inv->hash, &it->digest);

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno != ENOENT)
			return -errno;
		item_set(it, PLAN_CREATE, inv ? "missing (deleted outside bramble)" : "missing");
		it->drift = inv && !repo_changed;
		return 0;
	}
	if (!S_ISREG(st.st_mode)) {
		item_set(it, inv ? PLAN_UPDATE : PLAN_CONFLICT, "not a regular file");
		it->drift = inv != NULL;
		return 0;
	}
	sig_from_stat(&sig, &st);
	if (inv && !repo_changed && sig_equal(&sig, &inv->sig) &&
	    (st.st_mode & 07777) == res->mode) {
		item_sig_store(it, &st);
		item_set(it, PLAN_UNCHANGED, "");
		return 0;
	}
	if (!content_equal(dfd, name, res)) {
		if (!inv)
			item_set(it, PLAN_CONFLICT,
				 "exists, was not created by bramble, and differs");
		else if (repo_changed)
			item_set(it, PLAN_UPDATE, "changed in the repository");
		else
			item_set(it, PLAN_UPDATE, "content differs (edited outside bramble)");
		it->drift = inv && !repo_changed;
		return 0;
	}
	if ((st.st_mode & 07777) != res->mode) {
		item_set(it, PLAN_UPDATE, "mode differs");
		it->drift = true;
		return 0;
	}
	item_sig_store(it, &st);
	item_set(it, PLAN_UNCHANGED, "");
	return 0;
}

static int observe_hardlink(struct observe *o, struct plan_item *it, int dfd, const char *name)
{
	struct stat st, src;
	int r;

	r = source_stat(o, it->res->data, &src);
	if (r < 0)
		return r;
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? item_missing(it) : -errno;
	if (S_ISREG(st.st_mode) && st.st_dev == src.st_dev && st.st_ino == src.st_ino) {
		item_sig_store(it, &st);
		item_set(it, PLAN_UNCHANGED, "");
		return 0;
	}
	/* A copy (image store on another file system, or too many links) with the
	 * source's size and time. */
	if (S_ISREG(st.st_mode) && st.st_ino != src.st_ino && st.st_size == src.st_size &&
	    st.st_mtim.tv_sec == src.st_mtim.tv_sec && st.st_mtim.tv_nsec == src.st_mtim.tv_nsec) {
		item_sig_store(it, &st);
		item_set(it, PLAN_UNCHANGED, "");
		return 0;
	}
	if (!it->inv && !S_ISREG(st.st_mode)) {
		item_set(it, PLAN_CONFLICT, "exists, was not created by bramble");
		return 0;
	}
	item_set(it, it->inv ? PLAN_UPDATE : PLAN_CONFLICT,
		 it->inv ? "differs from the image file"
			 : "exists, was not created by bramble, and differs");
	it->drift = it->inv && sha256_equal(&it->inv->hash, &it->digest);
	return 0;
}

static int observe_dir(struct plan_item *it, int dfd, const char *name)
{
	struct stat st;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? item_missing(it) : -errno;
	if (!S_ISDIR(st.st_mode)) {
		item_set(it, PLAN_CONFLICT, "exists and is not a directory");
		return 0;
	}
	if ((st.st_mode & 07777) != it->res->mode) {
		item_set(it, PLAN_UPDATE, "mode differs");
		it->drift = it->inv != NULL;
		return 0;
	}
	item_set(it, PLAN_UNCHANGED, "");
	it->sig_fresh = !it->inv;
	return 0;
}

static int read_link(int dfd, const char *name, char *out, size_t size)
{
	ssize_t n = readlinkat(dfd, name, out, size - 1);

	if (n < 0)
		return -errno;
	out[n] = '\0';
	return 0;
}

static int observe_symlink(struct plan_item *it, int dfd, const char *name)
{
	char target[4096];
	struct stat st;
	int r;

	r = read_link(dfd, name, target, sizeof(target));
	if (r == -ENOENT) {
		return item_missing(it);
	}
	if (r == -EINVAL) {
		item_set(it, it->inv ? PLAN_UPDATE : PLAN_CONFLICT, "not a symlink");
		return 0;
	}
	if (r < 0)
		return r;
	if (strcmp(target, it->res->data) != 0) {
		item_set(it, it->inv ? PLAN_UPDATE : PLAN_CONFLICT, "points elsewhere");
		it->drift = it->inv && sha256_equal(&it->inv->hash, &it->digest);
		return 0;
	}
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
		item_sig_store(it, &st);
	item_set(it, PLAN_UNCHANGED, "");
	return 0;
}

static struct inv_entry *inv_child(struct inv_entry *inv, const char *path, size_t *cursor)
{
	size_t i;

	if (!inv)
		return NULL;
	for (i = *cursor; i < inv->n_children; i++) {
		int c = strcmp(inv->children[i].path, path);

		if (c == 0) {
			*cursor = i + 1;
			return &inv->children[i];
		}
		if (c > 0)
			break;
	}
	return NULL;
}

/* The subdirectory of a generation last opened (children come sorted). */
struct sub_cache {
	char dir[256];
	int fd;
};

/* The directory holding path beneath dfd: dfd itself for a bare name. */
static int child_parent(int dfd, const char *path, struct sub_cache *sc, int *ret_fd,
			const char **ret_name)
{
	const char *slash = strrchr(path, '/');
	size_t n = slash ? (size_t)(slash - path) : 0;
	int fd, r;

	*ret_name = slash ? slash + 1 : path;
	if (!slash) {
		*ret_fd = dfd;
		return 0;
	}
	if (sc->fd >= 0 && strlen(sc->dir) == n && strncmp(sc->dir, path, n) == 0) {
		*ret_fd = sc->fd;
		return 0;
	}
	if (n >= sizeof(sc->dir))
		return -ENAMETOOLONG;
	memcpy(sc->dir, path, n);
	sc->dir[n] = '\0';
	r = dir_open_beneath(dfd, sc->dir, false, 0, &fd);
	if (r < 0)
		return r;
	if (sc->fd >= 0)
		close(sc->fd);
	sc->fd = fd;
	*ret_fd = fd;
	return 0;
}

static int observe_child(struct observe *o, struct plan_item *c, int gfd, struct sub_cache *sc)
{
	const char *name = NULL;
	int pfd, r;

	r = child_parent(gfd, c->res->path, sc, &pfd, &name);
	if (r == -ENOENT) {
		item_set(c, PLAN_CREATE, "missing (deleted outside bramble)");
		c->drift = true;
		return 0;
	}
	if (r < 0)
		return r;
	switch (c->res->type) {
	case RES_FILE:
		r = observe_file(c, pfd, name);
		break;
	case RES_HARDLINK:
		r = observe_hardlink(o, c, pfd, name);
		break;
	case RES_DIR: {
		struct stat st;

		r = observe_dir(c, pfd, name);
		if (r == 0 && c->op == PLAN_UNCHANGED &&
		    fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
			dir_sig_store(o, c, &st);
		break;
	}
	default:
		r = -EINVAL;
	}
	/* Inside a tree that bramble built, a foreign file is drift, not a conflict. */
	if (c->op == PLAN_CONFLICT)
		c->op = PLAN_UPDATE;
	/* Links are checked against their source: they are not recorded. */
	if (c->res->type == RES_HARDLINK)
		c->sig_fresh = false;
	return r;
}

/*
 * The items of a tree's children: one per file and directory (recorded in
 * the inventory); links get an item only when one needs repair
 * (tree_child_append), so a plan does not hold one per link per node.
 */
static int tree_children_init(struct plan_item *it, struct inv_entry *inv)
{
	struct child_walk w = {it->res, 0, 0};
	const struct resource *cr;
	size_t n = 0, cursor = 0, max = resource_n_children(it->res);
	int r;

	it->children = calloc(max ? max : 1, sizeof(*it->children));
	if (!it->children)
		return -ENOMEM;
	while ((cr = child_walk_next(&w)) != NULL) {
		struct plan_item *c = &it->children[n];

		if (cr->type == RES_HARDLINK)
			continue;
		c->res = (struct resource *)(uintptr_t)cr;
		c->inv = inv_child(inv, c->res->path, &cursor);
		r = resource_digest(c->res, &c->digest);
		if (r < 0)
			return r;
		item_set(c, PLAN_CREATE, "new generation");
		n++;
	}
	it->n_children = n;
	if (n < max) {
		struct plan_item *v = realloc(it->children, (n ? n : 1) * sizeof(*v));

		if (v)
			it->children = v;
	}
	return 0;
}

/* Keep the item of a link that needs repair. */
static int tree_child_append(struct plan_item *it, const struct plan_item *c)
{
	struct plan_item *v = realloc(it->children, (it->n_children + 1) * sizeof(*v));

	if (!v)
		return -ENOMEM;
	it->children = v;
	it->children[it->n_children++] = *c;
	return 0;
}

/*
 * Observe the children of a tree in its generation directory gfd: the
 * tree's own files always, its hard links unless trust (the directories are
 * as recorded).  *drift: one is not as recorded; *fresh: one's signature
 * is new.
 */
static int observe_gen_children(struct observe *o, struct plan_item *it, int gfd, bool trust,
				bool *drift, bool *fresh)
{
	struct sub_cache sc = {"", -1};
	struct child_walk w = {it->res, 0, 0};
	const struct resource *cr;
	size_t k = 0, n_items = it->n_children;
	int r = 0;

	while (r == 0 && (cr = child_walk_next(&w)) != NULL) {
		struct plan_item link, *c;

		if (cr->type == RES_HARDLINK) {
			if (trust)
				continue;
			memset(&link, 0, sizeof(link));
			link.res = (struct resource *)(uintptr_t)cr;
			r = observe_child(o, &link, gfd, &sc);
			if (r == 0 && link.op != PLAN_UNCHANGED) {
				*drift = true;
				r = tree_child_append(it, &link);
			}
			continue;
		}
		if (k >= n_items)
			break;
		c = &it->children[k++];
		r = observe_child(o, c, gfd, &sc);
		/* A subdirectory not as recorded: look at every child from here on. */
		if (c->res->type == RES_DIR && (c->sig_fresh || c->sig_mtime_ns == 0))
			trust = false;
		*drift |= c->op != PLAN_UNCHANGED;
		*fresh |= c->sig_fresh;
	}
	if (sc.fd >= 0)
		close(sc.fd);
	return r;
}

/*
 * Compare the children in place (the link already points at this
 * generation).  When the generation directory and its subdirectories are as
 * recorded, no entry in them was added, removed or replaced, so the hard
 * links still are the image's files and only the tree's own files are
 * looked at; otherwise every child is.
 */
static int observe_tree_children(struct observe *o, struct plan_item *it)
{
	bool drift = false, fresh = false, trust;
	struct stat gst;
	int gfd, r;

	r = dir_open_beneath(o->e->root_fd[it->res->root], it->gendir, false, 0, &gfd);
	if (r == -ENOENT || r == -ENOTDIR) {
		item_set(it, PLAN_UPDATE, "generation directory missing (deleted outside bramble)");
		it->drift = true;
		return 0;
	}
	if (r < 0)
		return r;
	r = fstat(gfd, &gst) < 0 ? -errno : 0;
	trust = r == 0 && dir_trusted(it->inv, &gst);
	if (r == 0)
		r = observe_gen_children(o, it, gfd, trust, &drift, &fresh);
	close(gfd);
	if (r < 0)
		return r;
	if (drift) {
		item_set(it, PLAN_UPDATE, "files inside changed outside bramble");
		it->drift = true;
		it->in_place = true;
		return 0;
	}
	item_set(it, PLAN_UNCHANGED, "");
	dir_sig_store(o, it, &gst);
	it->sig_fresh |=
		fresh || !it->inv || !it->inv->gendir || strcmp(it->inv->gendir, it->gendir) != 0;
	return 0;
}

static int observe_tree(struct observe *o, struct plan_item *it, int dfd, const char *name)
{
	const char *gbase;
	char target[4096];
	struct inv_entry *same_gen;
	int r;

	gbase = strrchr(it->gendir, '/');
	gbase = gbase ? gbase + 1 : it->gendir;
	r = read_link(dfd, name, target, sizeof(target));
	same_gen = r == 0 && strcmp(target, gbase) == 0 && it->inv && it->inv->gendir &&
				   strcmp(it->inv->gendir, it->gendir) == 0
			   ? it->inv
			   : NULL;
	if (r == 0 || r == -ENOENT || r == -EINVAL) {
		int q = tree_children_init(it, same_gen);

		if (q < 0)
			return q;
	}
	if (r == -ENOENT) {
		return item_missing(it);
	}
	if (r == -EINVAL) {
		item_set(it, PLAN_CONFLICT, "exists, is not a bramble boot tree");
		return 0;
	}
	if (r < 0)
		return r;
	if (strcmp(target, gbase) == 0)
		return observe_tree_children(o, it);
	if (it->inv) {
		bool same = sha256_equal(&it->inv->hash, &it->digest);

		item_set(it, PLAN_UPDATE,
			 same ? "points elsewhere (changed outside bramble)"
			      : "changed in the repository");
		it->drift = same;
		return 0;
	}
	/* A generation link of ours whose inventory entry was lost: adopt it. */
	if (target[0] == '.' && strncmp(target + 1, name, strlen(name)) == 0) {
		item_set(it, PLAN_UPDATE, "changed in the repository");
		return 0;
	}
	item_set(it, PLAN_CONFLICT, "symlink was not created by bramble");
	return 0;
}

static int observe_item(struct observe *o, struct plan_item *it)
{
	const char *name = NULL;
	int dfd, r;

	r = resource_digest(it->res, &it->digest);
	if (r == 0 && it->res->type == RES_TREE)
		r = tree_gendir_name(it->res->path, &it->digest, &it->gendir);
	if (r < 0)
		return r;
	r = engine_parent_fd(o->e, it->res->root, it->res->path, false, &dfd, &name);
	if (r == -ENOENT) {
		if (it->res->type == RES_TREE && tree_children_init(it, NULL) < 0)
			return -ENOMEM;
		return item_missing(it);
	}
	if (r == -ENOTDIR || r == -ELOOP) {
		if (it->res->type == RES_TREE && tree_children_init(it, NULL) < 0)
			return -ENOMEM;
		item_set(it, PLAN_CONFLICT, "a parent directory is a symlink or not a directory");
		return 0;
	}
	if (r < 0)
		return r;
	switch (it->res->type) {
	case RES_FILE:
		return observe_file(it, dfd, name);
	case RES_HARDLINK:
		return observe_hardlink(o, it, dfd, name);
	case RES_DIR:
		return observe_dir(it, dfd, name);
	case RES_SYMLINK:
		return observe_symlink(it, dfd, name);
	case RES_TREE:
		return observe_tree(o, it, dfd, name);
	case RES_ROOT:
		return root_observe(o->e, it, dfd, name);
	}
	return -EINVAL;
}

static int cmp_res_inv(const struct resource *r, const struct inv_entry *e)
{
	if (r->root != e->root)
		return r->root < e->root ? -1 : 1;
	return strcmp(r->path, e->path);
}

static void plan_count(struct plan *p, const struct plan_item *it)
{
	switch (it->op) {
	case PLAN_UNCHANGED:
		p->n_unchanged++;
		break;
	case PLAN_CREATE:
		p->n_create++;
		p->actions |= it->res->act_change;
		break;
	case PLAN_UPDATE:
		p->n_update++;
		p->actions |= it->res->act_change | it->res->act_update;
		break;
	case PLAN_DELETE:
		p->n_delete++;
		p->actions |= it->inv->act_delete;
		break;
	case PLAN_KEEP:
		p->n_keep++;
		break;
	case PLAN_CONFLICT:
		p->n_conflict++;
		break;
	}
	if (it->drift)
		p->n_drift++;
	if (it->sig_fresh)
		p->inventory_dirty = true;
}

int engine_scope(struct engine *e, const char *const *out_of_scope, size_t n,
		 const bool shards[ENGINE_SHARDS])
{
	e->out_of_scope = out_of_scope;
	e->n_out_of_scope = n;
	if (!shards || e->state_fd < 0 || e->inv.n)
		return 0;
	struct buf why = BUF_INIT;
	int r;

	r = inventory_load(e->state_fd, shards, &e->inv, &why);
	if (r == -EBADMSG)
		snprintf(e->failure, sizeof(e->failure), "%s", buf_str(&why));
	buf_release(&why);
	return r;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static bool out_of_scope(const struct engine *e, const struct inv_entry *inv)
{
	return inv->node && e->n_out_of_scope &&
	       bsearch(&inv->node, e->out_of_scope, e->n_out_of_scope, sizeof(*e->out_of_scope),
		       name_cmp);
}

static bool would_empty(const struct resource_set *d, const struct inventory *inv)
{
	size_t i;
	bool had = false;

	for (i = 0; i < d->n; i++)
		if (d->v[i].node)
			return false;
	for (i = 0; i < inv->n && !had; i++)
		had = inv->v[i].node != NULL;
	return had;
}

/*
 * A file at one of bramble's paths inside a root bramble made but did not
 * record as settled (a pass died or failed between the root's rename and
 * the files'): the image's copy, bramble's to replace, not the node's.
 * In a root that is to be made (a re-image), bramble's files are made with
 * it, whatever the old root holds: the plan counts them as apply does.
 */
static void settle_root_file(struct root_index *ri, struct plan_item *it)
{
	struct plan_item *root;

	if (it->res->type == RES_ROOT && it->res->root == ROOT_NFS) {
		if (root_index_add(ri, it) < 0)
			ri->n = 0; /* out of memory: the conflicts stay conflicts */
		return;
	}
	if (it->res->root != ROOT_NFS)
		return;
	root = root_index_find(ri, it->res->path);
	if (root && (root->op == PLAN_CREATE || root->op == PLAN_UPDATE) &&
	    (it->op == PLAN_UNCHANGED || it->op == PLAN_CONFLICT)) {
		item_set(it, PLAN_CREATE, "made with the new root");
		it->with_root = true;
		return;
	}
	if (it->op != PLAN_CONFLICT || it->res->type == RES_DIR)
		return;
	if (root && root->unsettled)
		item_set(it, PLAN_UPDATE, "left by an interrupted pass in a root bramble made");
}

static int plan_fill(struct engine *e, struct resource_set *d, struct plan *p, struct observe *o)
{
	struct root_index ri = {NULL, 0, 0};
	size_t i = 0, j = 0;
	int r = 0;

	while (r == 0 && (i < d->n || j < e->inv.n)) {
		struct plan_item *it = &p->items[p->n_items++];
		int c = i == d->n ? 1 : j == e->inv.n ? -1 : cmp_res_inv(&d->v[i], &e->inv.v[j]);

		if (c <= 0) {
			it->res = &d->v[i++];
			it->inv = c == 0 ? &e->inv.v[j++] : NULL;
			if (!res_path_is_safe(it->res->path))
				return -EINVAL;
			r = observe_item(o, it);
			if (r == 0)
				settle_root_file(&ri, it);
		} else {
			it->inv = &e->inv.v[j++];
			if (out_of_scope(e, it->inv))
				item_set(it, PLAN_UNCHANGED,
					 "outside this pass (unchanged and sealed)");
			else if (it->inv->flags & RES_F_KEEP)
				item_set(it, PLAN_KEEP,
					 "not in the repository any more; node data is kept");
			else if (it->inv->type == RES_ROOT) /* deleting it moves it to the attic */
				item_set(it, PLAN_DELETE, root_delete_reason(it->inv));
			else
				item_set(it, PLAN_DELETE, "not in the repository any more");
		}
		if (r == 0)
			plan_count(p, it);
	}
	free(ri.v);
	return r;
}

int engine_plan(struct engine *e, struct resource_set *desired, unsigned flags, struct plan **ret)
{
	struct timespec now;
	struct observe o;
	struct plan *p = NULL;
	int r;

	memset(&o, 0, sizeof(o));
	o.e = e;
	o.images_fd = e->root_fd[ROOT_IMAGES];
	clock_gettime(CLOCK_REALTIME, &now);
	o.racy_after_ns = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec - 1000000000;
	if (!(flags & ENGINE_ALLOW_EMPTY) && !e->n_out_of_scope && would_empty(desired, &e->inv))
		return -ECANCELED;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->items = calloc(desired->n + e->inv.n + 1, sizeof(*p->items));
	if (!p->items) {
		free(p);
		return -ENOMEM;
	}
	r = plan_fill(e, desired, p, &o);
	free(o.src_key);
	free(o.src_st);
	free(o.src_err);
	if (r < 0) {
		plan_free(p);
		return r;
	}
	*ret = p;
	return 0;
}

static void item_release(struct plan_item *it)
{
	size_t i;

	for (i = 0; i < it->n_children; i++)
		item_release(&it->children[i]);
	free(it->children);
	free(it->gendir);
}

void plan_free(struct plan *p)
{
	size_t i;

	if (!p)
		return;
	for (i = 0; i < p->n_items; i++)
		item_release(&p->items[i]);
	free(p->items);
	free(p);
}

bool plan_has_changes(const struct plan *p)
{
	return p->n_create + p->n_update + p->n_delete + p->n_conflict > 0;
}

const char *plan_op_name(enum plan_op op)
{
	static const char *const names[] = {"unchanged", "create", "update",
					    "delete",	 "keep",   "conflict"};

	return names[op];
}
