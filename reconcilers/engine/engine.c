/*
 * engine: open the managed roots, observe what is on disk and plan.
 * Applying is in apply.c, the inventory in inventory.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine_int.h"
#include "noderoot.h"
#include "buf.h"
#include "fsutil.h"

void sig_from_stat(struct stat_sig *sig, const struct stat *st)
{
	sig->ino = (uint64_t)st->st_ino;
	sig->size = (int64_t)st->st_size;
	sig->mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
	sig->ctime_ns = (int64_t)st->st_ctim.tv_sec * 1000000000 + st->st_ctim.tv_nsec;
}

bool sig_equal(const struct stat_sig *a, const struct stat_sig *b)
{
	/* ctime too: an edit in place that restores the mtime still changes it. */
	return a->ino == b->ino && a->size == b->size && a->mtime_ns == b->mtime_ns &&
	       a->ctime_ns == b->ctime_ns;
}

/* Open a root, made when missing; read_only: a missing one stays missing (fd -1). */
static int open_root(const char *path, bool read_only, int *ret_fd)
{
	int r, fd;

	r = read_only ? 0 : mkdir_p(path, 0755);
	if (r < 0)
		return r;
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT && read_only) {
		*ret_fd = -1;
		return 0;
	}
	if (fd < 0)
		return -errno;
	*ret_fd = fd;
	return 0;
}

/* Open each output root roots names, keeping its path. */
static int open_roots(struct engine *e, const struct engine_roots *roots)
{
	int r, i;

	for (i = 0; i < ROOT_COUNT; i++) {
		if (!roots->path[i])
			continue;
		e->root_path[i] = strdup(roots->path[i]);
		if (!e->root_path[i])
			return -ENOMEM;
		r = open_root(roots->path[i], roots->read_only, &e->root_fd[i]);
		if (r < 0)
			return r;
	}
	return 0;
}

int engine_open(const struct engine_roots *roots, struct engine **ret)
{
	struct engine *e;
	int r = 0, i;

	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->state_fd = -1;
	e->missing_root = -1;
	for (i = 0; i < ENGINE_PARENT_SLOTS; i++)
		e->parent[i].fd = -1;
	for (i = 0; i < 4; i++)
		e->src_fd[i] = -1;
	for (i = 0; i < ROOT_COUNT; i++)
		e->root_fd[i] = -1;
	r = open_roots(e, roots);
	if (r < 0)
		goto out;
	if (roots->copy_mode) {
		enum copy_mode m;

		r = copy_mode_parse(roots->copy_mode, &m);
		if (r < 0)
			goto out;
		e->copy_mode = (int)m;
	}
	e->state_dir = strdup(roots->state_dir);
	if (!e->state_dir) {
		r = -ENOMEM;
		goto out;
	}
	r = roots->read_only ? 0 : mkdir_p(roots->state_dir, 0700);
	if (r == 0)
		r = open_root(roots->state_dir, roots->read_only, &e->state_fd);
	if (r == 0 && e->state_fd >= 0 && !roots->defer_inventory)
		r = inventory_load(e->state_fd, NULL, &e->inv, roots->why);
out:
	if (r < 0) {
		engine_free(e);
		return r;
	}
	*ret = e;
	return 0;
}

int engine_make_roots(struct engine *e)
{
	int i, r = 0;

	for (i = 0; r == 0 && i < ROOT_COUNT; i++)
		if (e->root_path[i] && e->root_fd[i] < 0)
			r = open_root(e->root_path[i], false, &e->root_fd[i]);
	if (r == 0 && e->state_fd < 0)
		r = mkdir_p(e->state_dir, 0700);
	if (r == 0 && e->state_fd < 0)
		r = open_root(e->state_dir, false, &e->state_fd);
	return r;
}

void engine_free(struct engine *e)
{
	int i;

	if (!e)
		return;
	for (i = 0; i < ROOT_COUNT; i++) {
		if (e->root_fd[i] >= 0)
			close(e->root_fd[i]);
		free(e->root_path[i]);
	}
	if (e->state_fd >= 0)
		close(e->state_fd);
	engine_parent_forget(e);
	for (i = 0; i < 4; i++) {
		if (e->src_fd[i] >= 0)
			close(e->src_fd[i]);
		free(e->src_dir[i]);
	}
	free(e->state_dir);
	inventory_release(&e->inv);
	free(e);
}

size_t engine_inventory_size(const struct engine *e)
{
	return e->inv.n;
}

const char *engine_root_path(const struct engine *e, enum root_id root)
{
	return e->root_path[root] ? e->root_path[root] : "?";
}

int engine_root_fd(const struct engine *e, enum root_id root)
{
	return e->root_fd[root];
}

static void parent_slot_clear(struct parent_slot *p)
{
	if (p->fd >= 0)
		close(p->fd);
	free(p->dir);
	p->fd = -1;
	p->dir = NULL;
}

static void missing_forget(struct engine *e)
{
	free(e->missing_dir);
	e->missing_dir = NULL;
	e->missing_root = -1;
}

void engine_parent_forget(struct engine *e)
{
	size_t i;

	for (i = 0; i < ENGINE_PARENT_SLOTS; i++)
		parent_slot_clear(&e->parent[i]);
	missing_forget(e);
}

/*
 * The slot holding the directory path[0..dlen) of root, or else the one
 * holding its deepest ancestor (*ret_exact false), or NULL.
 */
static struct parent_slot *parent_slot_find(struct engine *e, int root, const char *path,
					    size_t dlen, bool *ret_exact)
{
	struct parent_slot *best = NULL;
	size_t i, n, best_n = 0;

	*ret_exact = false;
	for (i = 0; i < ENGINE_PARENT_SLOTS; i++) {
		struct parent_slot *p = &e->parent[i];

		if (p->fd < 0 || p->root != root)
			continue;
		n = strlen(p->dir);
		if (n == dlen && memcmp(p->dir, path, n) == 0) {
			*ret_exact = true;
			return p;
		}
		/* An ancestor: "" (the root), or a prefix ending at a '/'. */
		if (n < dlen && (n == 0 || (path[n] == '/' && memcmp(p->dir, path, n) == 0)) &&
		    (!best || n > best_n)) {
			best = p;
			best_n = n;
		}
	}
	return best;
}

/* The slot to fill next: a free one, or the least recently used. */
static struct parent_slot *parent_slot_victim(struct engine *e)
{
	struct parent_slot *v = &e->parent[0];
	size_t i;

	for (i = 0; i < ENGINE_PARENT_SLOTS; i++) {
		if (e->parent[i].fd < 0)
			return &e->parent[i];
		if (e->parent[i].used < v->used)
			v = &e->parent[i];
	}
	parent_slot_clear(v);
	return v;
}

/* Keep fd, open on dir[0..len) of root, in the cache (which owns it from now). */
static int parent_slot_add(struct engine *e, int root, const char *dir, size_t len, int fd,
			   bool made)
{
	char *copy = strndup(dir, len);
	struct parent_slot *p;

	if (!copy) {
		close(fd);
		return -ENOMEM;
	}
	p = parent_slot_victim(e);
	p->root = root;
	p->fd = fd;
	p->dir = copy;
	p->used = ++e->parent_tick;
	p->made = made;
	return 0;
}

/* Whether path[0..dlen) is the missing directory or beneath it. */
static bool below_missing(const struct engine *e, int root, const char *path, size_t dlen)
{
	size_t n;

	if (e->missing_root != root || !e->missing_dir)
		return false;
	n = strlen(e->missing_dir);
	return n <= dlen && memcmp(e->missing_dir, path, n) == 0 && (n == dlen || path[n] == '/');
}

static void missing_set(struct engine *e, int root, const char *path, size_t len)
{
	free(e->missing_dir);
	e->missing_dir = strndup(path, len);
	e->missing_root = e->missing_dir ? root : -1;
}

/*
 * The directory path[0..dlen) of root, opened through the cache.  Every
 * directory opened on the way is kept: the next path usually shares all but
 * its last components with this one (a node's files beneath
 * .../nodes/<serial>/etc, the next node's beneath .../nodes/<serial+1>/etc),
 * and each component is then opened once per phase of a pass, not once per
 * file.  A lookup that does not create remembers the last directory it
 * found missing, so that a plan of a cold pass does not look for it again
 * for every path beneath it; anything that creates forgets it.
 */
static int dir_cached(struct engine *e, enum root_id root, const char *path, size_t dlen,
		      bool create, int *ret_fd)
{
	struct parent_slot *p;
	bool exact, made = false;
	size_t pos = 0;
	int fd, r;

	if (e->root_fd[root] < 0) /* a root not made yet (plan) holds nothing */
		return e->root_path[root] ? -ENOENT : -EBADF;
	if (create && e->missing_dir)
		missing_forget(e);
	if (!create && below_missing(e, (int)root, path, dlen))
		return -ENOENT;
	fd = e->root_fd[root];
	p = parent_slot_find(e, (int)root, path, dlen, &exact);
	if (p) {
		p->used = ++e->parent_tick;
		fd = p->fd;
		pos = strlen(p->dir);
		pos += pos ? 1 : 0;
		/* Beneath a directory this engine made (a cold pass's nodes/),
		 * what is missing is made first, then opened: one lookup less. */
		made = create && p->made;
	}
	while (pos < dlen) {
		const char *c = path + pos, *end = memchr(c, '/', dlen - pos);
		size_t n = end ? (size_t)(end - c) : dlen - pos;
		char comp[NAME_MAX + 1];
		int next;

		if (n == 0 || n > NAME_MAX || (n == 2 && c[0] == '.' && c[1] == '.'))
			return -EINVAL;
		memcpy(comp, c, n);
		comp[n] = '\0';
		r = dir_component_open(fd, comp, create, made, 0755, &next, &made);
		if (r == -ENOENT && !create)
			missing_set(e, (int)root, path, pos + n);
		if (r < 0)
			return r;
		pos += n + 1;
		r = parent_slot_add(e, (int)root, path, pos - 1, next, made);
		if (r < 0)
			return r;
		fd = next;
	}
	*ret_fd = fd;
	return 0;
}

int engine_parent_fd(struct engine *e, enum root_id root, const char *path, bool create,
		     int *ret_fd, const char **ret_name)
{
	const char *slash = strrchr(path, '/');

	*ret_name = slash ? slash + 1 : path;
	return dir_cached(e, root, path, slash ? (size_t)(slash - path) : 0, create, ret_fd);
}

int engine_dir_fd(struct engine *e, enum root_id root, const char *dir, int *ret_fd)
{
	return dir_cached(e, root, dir, strlen(dir), false, ret_fd);
}

int engine_source_fd(struct engine *e, const char *src, int *ret_fd, const char **ret_name)
{
	const char *slash = strrchr(src, '/');
	size_t dlen = slash ? (size_t)(slash - src) : 0;
	unsigned k;
	char *dir;
	int fd, r;

	*ret_name = slash ? slash + 1 : src;
	for (k = 0; k < 4; k++) {
		if (e->src_fd[k] >= 0 && strlen(e->src_dir[k]) == dlen &&
		    strncmp(e->src_dir[k], src, dlen) == 0) {
			*ret_fd = e->src_fd[k];
			return 0;
		}
	}
	dir = strndup(src, dlen);
	if (!dir)
		return -ENOMEM;
	r = dir_open_beneath(e->root_fd[ROOT_IMAGES], dir, false, 0, &fd);
	if (r < 0) {
		free(dir);
		return r;
	}
	k = e->src_next++ % 4;
	if (e->src_fd[k] >= 0)
		close(e->src_fd[k]);
	free(e->src_dir[k]);
	e->src_fd[k] = fd;
	e->src_dir[k] = dir;
	*ret_fd = fd;
	return 0;
}

/* The digest as text: a tree's is made of its children's texts. */
static int digest_hex(const struct resource *r, char out[SHA256_HEX_LEN + 1])
{
	struct sha256_ctx c;
	char head[64], sub[SHA256_HEX_LEN + 1];
	struct child_walk w = {r, 0, 0};
	const struct resource *ch;
	int q;

	if (r->type == RES_DIR) {
		out[0] = '\0';
		return 0;
	}
	if (r->digest) {
		memcpy(out, r->digest, SHA256_HEX_LEN + 1);
		return 0;
	}
	if (r->type != RES_TREE)
		return sha256_hex(r->data ? r->data : "", r->len, out);
	q = sha256_init(&c);
	while (q == 0 && (ch = child_walk_next(&w)) != NULL) {
		int n = snprintf(head, sizeof(head), "%d %o ", (int)ch->type, (unsigned)ch->mode);

		q = digest_hex(ch, sub);
		if (q == 0)
			q = sha256_update(&c, head, (size_t)n);
		if (q == 0)
			q = sha256_update(&c, ch->path, strlen(ch->path) + 1);
		if (q == 0)
			q = sha256_update(&c, sub, strlen(sub));
	}
	if (q < 0) {
		sha256_release(&c);
		return q;
	}
	return sha256_final_hex(&c, out);
}

int resource_digest(const struct resource *r, struct sha256 *out)
{
	char hex[SHA256_HEX_LEN + 1];
	int q;

	/* A file's content straight to bytes; a tree's digest is made of texts. */
	if (r->type == RES_FILE && !r->digest)
		return sha256_sum(r->data ? r->data : "", r->len, out);
	q = digest_hex(r, hex);

	return q < 0 ? q : sha256_from_hex(hex, out);
}

int tree_gendir_name(const char *path, const struct sha256 *d, char **ret)
{
	const char *base = strrchr(path, '/');
	char digest[SHA256_HEX_LEN + 1];
	struct buf b = BUF_INIT;
	int r;

	sha256_to_hex(d, digest);
	r = buf_printf(&b, "%.*s.%s.%.16s", base ? (int)(base - path + 1) : 0, path,
		       base ? base + 1 : path, digest);
	if (r < 0)
		return r;
	*ret = buf_detach(&b, NULL);
	return *ret ? 0 : -ENOMEM;
}

void engine_set_defer(struct engine *e, engine_defer_fn fn, void *ctx)
{
	e->defer = fn;
	e->defer_ctx = ctx;
}

void engine_set_progress(struct engine *e, const struct progress_cb *cb)
{
	e->progress = cb;
}
