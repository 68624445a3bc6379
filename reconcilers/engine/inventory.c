/*
 * inventory: what bramble created, kept in the state directory as 256 text
 * shards (inventory.d/00 .. ff), a node's entries all in one shard, so that a
 * change to one node rewrites one small file.  Lines are tab-separated:
 *
 *	type root mode path hash ino size mtime_ns act_delete flags node gendir ctime_ns
 *
 * and the children of a tree follow it on lines whose type starts with '>'.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine_int.h"
#include "buf.h"
#include "atomic.h"
#include "fsutil.h"
#include "parse.h"

#define INVENTORY_MAGIC "# bramble inventory 1\n"
#define SHARD_MAX_SIZE	((size_t)256 << 20)
/* Without a shard, what it listed is "not bramble's": --adopt takes it over. */
#define INVENTORY_HINT                                                                         \
	"the inventory is damaged: move the file away and run `bramble apply --adopt` (files " \
	"it listed that are no longer wanted then stay)"

static const char type_chars[] = "FHDSTR"; /* indexed by enum res_type */

/* A tree's children's paths and every node name are the pool's. */
static void entry_release(struct inv_entry *e, bool child)
{
	size_t i;

	for (i = 0; i < e->n_children; i++)
		entry_release(&e->children[i], true);
	free(e->children);
	if (!child)
		free(e->path);
	free(e->gendir);
}

void inventory_release(struct inventory *inv)
{
	size_t i;

	for (i = 0; i < inv->n; i++)
		entry_release(&inv->v[i], false);
	free(inv->v);
	strpool_release(&inv->pool);
	inv->v = NULL;
	inv->n = inv->cap = 0;
}

static int entry_cmp(const void *a, const void *b)
{
	const struct inv_entry *x = a, *y = b;

	if (x->root != y->root)
		return x->root < y->root ? -1 : 1;
	return strcmp(x->path, y->path);
}

struct inv_entry *inventory_find(const struct inventory *inv, enum root_id root, const char *path)
{
	struct inv_entry key;

	memset(&key, 0, sizeof(key));
	key.root = root;
	key.path = (char *)(uintptr_t)path;
	return bsearch(&key, inv->v, inv->n, sizeof(*inv->v), entry_cmp);
}

static int push_entry(struct inv_entry **v, size_t *n, size_t *cap, struct inv_entry **ret)
{
	if (*n >= UINT32_MAX)
		return -E2BIG;
	if (*n == *cap) {
		size_t c = *cap ? *cap * 2 : 4;
		struct inv_entry *nv = realloc(*v, c * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		*v = nv;
		*cap = c;
	}
	*ret = &(*v)[(*n)++];
	memset(*ret, 0, sizeof(**ret));
	return 0;
}

static int dup_field(const char *s, char **ret)
{
	*ret = NULL;
	if (strcmp(s, "-") == 0)
		return 0;
	*ret = strdup(s);
	return *ret ? 0 : -ENOMEM;
}

/* The type (f[0], '>' for a tree's child), root, mode and hash of a line. */
static int parse_kind(struct state_reader *sr, char **f, struct inv_entry *e)
{
	const char *tc = strchr(type_chars, f[0][f[0][0] == '>' ? 1 : 0]);
	uint64_t root, mode;
	int r;

	if (!tc || !*tc || f[0][f[0][0] == '>' ? 2 : 1])
		return state_error(sr, "bad type \"%.40s\": expected one of %s", f[0], type_chars);
	e->type = (uint8_t)(tc - type_chars);
	r = state_u64(sr, "root", f[1], 10, ROOT_COUNT - 1, &root);
	if (r == 0)
		r = state_u64(sr, "mode", f[2], 8, 07777, &mode);
	if (r < 0)
		return r;
	e->root = (uint8_t)root;
	e->mode = (uint16_t)mode;
	if ((!strcmp(f[4], "-") ? sha256_from_hex("", &e->hash)
	     : f[4][0]		? sha256_from_hex(f[4], &e->hash)
				: -EINVAL) < 0)
		return state_error(sr,
				   "bad hash \"%.40s%s\": expected a SHA-256 (64 lowercase hex "
				   "digits) or \"-\"",
				   f[4], strlen(f[4]) > 40 ? "..." : "");
	return 0;
}

/* The signature (ino size mtime_ns, and ctime_ns when there are 13 fields). */
static int parse_sig(struct state_reader *sr, char **f, size_t n, struct stat_sig *sig)
{
	int r;

	sig->ctime_ns = -1;
	r = state_u64(sr, "inode", f[5], 10, UINT64_MAX, &sig->ino);
	if (r == 0)
		r = state_i64(sr, "size", f[6], -1, INT64_MAX, &sig->size);
	if (r == 0)
		r = state_i64(sr, "mtime", f[7], INT64_MIN, INT64_MAX, &sig->mtime_ns);
	if (r == 0 && n == 13)
		r = state_i64(sr, "ctime", f[12], INT64_MIN, INT64_MAX, &sig->ctime_ns);
	return r;
}

/*
 * Parse one line's 13 fields into e (12 in an inventory written before the
 * ctime was recorded); an error names the field (state_error()).
 */
static int parse_line(struct state_reader *sr, char *line, struct inv_entry *e,
		      struct strpool *pool)
{
	char *f[13];
	uint64_t act, flags;
	size_t n;
	int r;

	r = state_split(sr, line, '\t', 12, 13, f, &n,
			"12 or 13 tab-separated fields (type root mode path hash ino size mtime "
			"actions flags node gendir ctime)");
	if (r == 0)
		r = parse_kind(sr, f, e);
	if (r == 0)
		r = parse_sig(sr, f, n, &e->sig);
	if (r == 0)
		r = state_u64(sr, "actions", f[8], 10, UINT8_MAX, &act);
	if (r == 0)
		r = state_u64(sr, "flags", f[9], 10, UINT_MAX, &flags);
	if (r < 0)
		return r;
	e->act_delete = (uint8_t)act;
	e->flags = (uint32_t)flags;
	if (!res_path_is_safe(f[3]))
		return state_error(sr,
				   "bad path \"%.80s\": expected a relative path without "
				   "\"..\"",
				   f[3]);
	/* A child's path is one of a few ("config.txt"), and a node has five lines. */
	e->path = f[0][0] == '>' ? (char *)(uintptr_t)strpool_get(pool, f[3]) : strdup(f[3]);
	e->node = strcmp(f[10], "-") ? strpool_get(pool, f[10]) : NULL;
	if (!e->path || (!e->node && strcmp(f[10], "-")) || dup_field(f[11], &e->gendir) < 0)
		return -ENOMEM;
	return 0;
}

/* A tree's children are all read: keep no spare room (10,000 trees of 3). */
static void tree_done(struct inv_entry *tree, size_t n)
{
	struct inv_entry *v;

	if (!tree)
		return;
	tree->n_children = (uint32_t)n;
	v = n ? realloc(tree->children, n * sizeof(*v)) : NULL;
	if (v)
		tree->children = v;
}

static int parse_shard(struct state_reader *sr, struct inventory *inv)
{
	struct inv_entry *tree = NULL, *e = NULL;
	size_t n_kids = 0, kids_cap = 0;
	char *line = NULL;
	int r;

	while ((r = state_next_line(sr, &line)) > 0) {
		bool child = line[0] == '>';

		if (child && !tree)
			return state_error(sr, "a tree's child (\">\") without its tree before it");
		if (!child) {
			tree_done(tree, n_kids); /* before inv->v moves */
			tree = NULL;
		}
		if (child)
			r = push_entry(&tree->children, &n_kids, &kids_cap, &e);
		else
			r = push_entry(&inv->v, &inv->n, &inv->cap, &e);
		if (r == 0)
			r = parse_line(sr, line, e, &inv->pool);
		if (r < 0)
			break;
		if (!child) {
			tree = e->type == RES_TREE ? e : NULL;
			n_kids = kids_cap = 0;
		}
	}
	tree_done(tree, n_kids);
	return r;
}

int inventory_parse(const char *file, char *data, size_t len, struct inventory *inv,
		    struct buf *why)
{
	struct state_reader sr;
	int r;

	state_reader_init(&sr, file, INVENTORY_HINT, data, len, why);
	r = parse_shard(&sr, inv);
	return r == -EINVAL ? -EBADMSG : r;
}

static int load_shard(int dfd, const char *name, struct inventory *inv, struct buf *why)
{
	char file[32], *data = NULL;
	size_t len;
	int r;

	r = file_read_at(dfd, name, SHARD_MAX_SIZE, &data, &len);
	if (r < 0)
		return r;
	snprintf(file, sizeof(file), INVENTORY_DIR "/%s", name);
	r = inventory_parse(file, data, len, inv, why);
	free(data);
	return r;
}

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int inventory_load(int state_fd, const bool *shards, struct inventory *inv, struct buf *why)
{
	DIR *d = NULL;
	struct dirent *de;
	int r = 0;

	inv->partial = shards != NULL;
	if (shards)
		memcpy(inv->loaded, shards, sizeof(inv->loaded));
	r = dir_opendir_beneath(state_fd, INVENTORY_DIR, true, 0700, &d);
	if (r < 0)
		return r;
	while ((de = readdir(d)) != NULL) {
		if (strlen(de->d_name) != 2 || hexval(de->d_name[0]) < 0 ||
		    hexval(de->d_name[1]) < 0)
			continue;
		if (shards && !shards[hexval(de->d_name[0]) * 16 + hexval(de->d_name[1])])
			continue;
		r = load_shard(dirfd(d), de->d_name, inv, why);
		if (r < 0)
			break;
	}
	closedir(d);
	if (r < 0)
		return r;
	if (inv->n > 1)
		qsort(inv->v, inv->n, sizeof(*inv->v), entry_cmp);
	return 0;
}

static unsigned shard_of(const char *node, const char *path)
{
	const char *k = node ? node : path;

	return (unsigned)(fnv1a64(k, strlen(k)) & (INVENTORY_SHARDS - 1));
}

unsigned engine_shard(const char *node, const char *path)
{
	return shard_of(node, path);
}

static char *put_str(char *p, const char *s)
{
	size_t n = strlen(s);

	memcpy(p, s, n);
	return p + n;
}

static char *put_u64(char *p, uint64_t v)
{
	char t[20];
	size_t n = 0;

	do
		t[n++] = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	while (n)
		*p++ = t[--n];
	return p;
}

static char *put_i64(char *p, int64_t v)
{
	if (v >= 0)
		return put_u64(p, (uint64_t)v);
	*p++ = '-';
	return put_u64(p, (uint64_t)0 - (uint64_t)v);
}

static char *put_oct(char *p, unsigned v)
{
	char t[12];
	size_t n = 0;

	do
		t[n++] = (char)('0' + (v & 7));
	while ((v >>= 3) != 0);
	while (n)
		*p++ = t[--n];
	return p;
}

/*
 * One inventory line, formatted by hand: at 10,000 nodes a pass writes
 * 250,000 of them, and printf's parsing of its format was a tenth of a cold
 * pass's user time.  The same text as
 * "%s%c\t%d\t%o\t%s\t%s\t%llu\t%lld\t%lld\t%u\t%u\t%s\t%s\t%lld\n".
 */
static int emit(struct buf *b, bool child, enum res_type type, enum root_id root, mode_t mode,
		const char *path, const struct sha256 *hash, const struct stat_sig *sig,
		unsigned act, unsigned flags, const char *node, const char *gendir)
{
	char h[SHA256_HEX_LEN + 1];
	const char *n = node ? node : "-", *g = gendir ? gendir : "-";
	/* 13 fields: 3 strings and the path, 9 numbers of at most 20 digits and a sign */
	size_t need;
	char *p;
	int r;

	sha256_to_hex(hash, h);
	if (!h[0])
		strcpy(h, "-");
	need = strlen(path) + strlen(h) + strlen(n) + strlen(g) + 13 + 9 * 21 + 2;
	r = buf_grow(b, need);
	if (r < 0)
		return r;
	p = b->data + b->len;
	if (child)
		*p++ = '>';
	*p++ = type_chars[type];
	*p++ = '\t';
	p = put_i64(p, (int)root);
	*p++ = '\t';
	p = put_oct(p, (unsigned)mode);
	*p++ = '\t';
	p = put_str(p, path);
	*p++ = '\t';
	p = put_str(p, h);
	*p++ = '\t';
	p = put_u64(p, sig->ino);
	*p++ = '\t';
	p = put_i64(p, sig->size);
	*p++ = '\t';
	p = put_i64(p, sig->mtime_ns);
	*p++ = '\t';
	p = put_u64(p, act);
	*p++ = '\t';
	p = put_u64(p, flags);
	*p++ = '\t';
	p = put_str(p, n);
	*p++ = '\t';
	p = put_str(p, g);
	*p++ = '\t';
	p = put_i64(p, sig->ctime_ns);
	*p++ = '\n';
	b->len = (size_t)(p - b->data);
	b->data[b->len] = '\0';
	return 0;
}

static void item_sig(const struct plan_item *it, struct stat_sig *sig)
{
	sig->ino = it->sig_ino;
	sig->size = it->sig_size;
	sig->mtime_ns = it->sig_mtime_ns;
	sig->ctime_ns = it->sig_ctime_ns;
}

static int emit_entry(struct buf *b, const struct inv_entry *e, bool child)
{
	size_t i;
	int r;

	r = emit(b, child, e->type, e->root, e->mode, e->path, &e->hash, &e->sig, e->act_delete,
		 e->flags, e->node, e->gendir);
	for (i = 0; r == 0 && i < e->n_children; i++)
		r = emit_entry(b, &e->children[i], true);
	return r;
}

int inventory_entry_text(struct buf *b, const struct inv_entry *e)
{
	return emit_entry(b, e, false);
}

/* The inventory line(s) of a desired resource that is now in place. */
static int emit_item(struct buf *b, const struct plan_item *it)
{
	const struct resource *res = it->res;
	struct stat_sig sig;
	size_t i;
	int r;

	item_sig(it, &sig);
	r = emit(b, false, res->type, res->root, res->mode, res->path, &it->digest, &sig,
		 res->act_delete, res->flags & RES_F_KEEP, res->node, it->gendir);
	/* Links are checked against their source: only a tree's own files and
	 * directories need a signature. */
	for (i = 0; r == 0 && i < it->n_children; i++) {
		const struct plan_item *c = &it->children[i];

		if (c->res->type == RES_HARDLINK)
			continue;
		item_sig(c, &sig);
		r = emit(b, true, c->res->type, res->root, c->res->mode, c->res->path, &c->digest,
			 &sig, 0, 0, NULL, NULL);
	}
	return r;
}

/* What the inventory says of this item once the apply is over (NULL: nothing). */
static int emit_after(struct buf *b, const struct plan_item *it)
{
	switch (it->op) {
	case PLAN_UNCHANGED: /* no resource: outside the pass (engine_scope) */
		return it->res ? emit_item(b, it) : emit_entry(b, it->inv, false);
	case PLAN_CREATE:
	case PLAN_UPDATE:
	case PLAN_CONFLICT:
		if (it->applied)
			return emit_item(b, it);
		return it->inv ? emit_entry(b, it->inv, false) : 0;
	case PLAN_DELETE:
		return it->applied || !it->inv ? 0 : emit_entry(b, it->inv, false);
	case PLAN_KEEP:
		return it->inv ? emit_entry(b, it->inv, false) : 0;
	}
	return 0;
}

static bool item_dirty(const struct plan_item *it)
{
	if (it->op == PLAN_UNCHANGED)
		return it->sig_fresh;
	if (it->op == PLAN_KEEP)
		return false;
	return it->applied;
}

static unsigned item_shard(const struct plan_item *it)
{
	if (it->res)
		return shard_of(it->res->node, it->res->path);
	return shard_of(it->inv->node, it->inv->path);
}

/* Write shard s (its lines from the plan) into its temp, left for the commit. */
static int write_shard(int dfd, unsigned s, const struct plan *p, const unsigned char *shard,
		       struct buf *b, struct atomic_file *af)
{
	char name[8];
	size_t i;
	int r;

	buf_truncate(b, 0);
	r = buf_adds(b, INVENTORY_MAGIC);
	for (i = 0; r == 0 && i < p->n_items; i++)
		if (shard[i] == s)
			r = emit_after(b, &p->items[i]);
	if (r < 0)
		return r;
	snprintf(name, sizeof(name), "%02x", s);
	r = atomic_open(af, dfd, name, 0600, ATOMIC_SYNC_NONE);
	if (r == 0)
		r = atomic_write(af, buf_str(b), b->len);
	if (r == 0)
		r = atomic_close(af);
	else
		atomic_abort(af);
	return r;
}

int inventory_covers(const struct inventory *inv, const struct plan *p)
{
	size_t i;

	for (i = 0; inv->partial && i < p->n_items; i++) {
		const struct plan_item *it = &p->items[i];
		unsigned s = item_shard(it);

		if (it->op == PLAN_UNCHANGED && !it->sig_fresh)
			continue;
		if (!inv->loaded[s] ||
		    (it->res && it->inv && !inv->loaded[shard_of(it->inv->node, it->inv->path)]))
			return -ESTALE;
	}
	return 0;
}

/* Which shards the plan changes; shard[i] is item i's shard. */
static void dirty_shards(const struct plan *p, unsigned char *shard, bool *dirty)
{
	size_t i;

	for (i = 0; i < p->n_items; i++) {
		const struct plan_item *it = &p->items[i];

		shard[i] = (unsigned char)item_shard(it);
		if (item_dirty(it))
			dirty[shard[i]] = true;
		/* A node renamed: its paths move to the new name's shard, and the
		 * old shard must be written again without them. */
		if (it->res && it->inv && shard_of(it->inv->node, it->inv->path) != shard[i])
			dirty[shard[i]] = dirty[shard_of(it->inv->node, it->inv->path)] = true;
	}
}

/*
 * Every dirty shard is written to its temp (no fsync each), then one syncfs,
 * then the renames and one fsync of inventory.d: a crash leaves each shard
 * old or new, and the temps, which the next pass removes (recover.c).
 */
int inventory_save(int state_fd, const struct inventory *inv, const struct plan *p)
{
	bool dirty[INVENTORY_SHARDS] = {false};
	struct atomic_file *af = NULL;
	unsigned char *shard = NULL;
	struct buf b = BUF_INIT;
	int dfd = -1, r = 0;
	unsigned s;

	shard = malloc(p->n_items ? p->n_items : 1);
	af = malloc(INVENTORY_SHARDS * sizeof(*af));
	for (s = 0; af && s < INVENTORY_SHARDS; s++)
		af[s] = (struct atomic_file)ATOMIC_FILE_INIT;
	if (!shard || !af) {
		r = -ENOMEM;
		goto out;
	}
	dirty_shards(p, shard, dirty);
	/* A shard not loaded would be written without its other entries. */
	for (s = 0; inv->partial && s < INVENTORY_SHARDS; s++)
		if (dirty[s] && !inv->loaded[s])
			r = -ESTALE;
	if (r == 0)
		r = dir_open_beneath(state_fd, INVENTORY_DIR, true, 0700, &dfd);
	for (s = 0; r == 0 && s < INVENTORY_SHARDS; s++)
		if (dirty[s])
			r = write_shard(dfd, s, p, shard, &b, &af[s]);
	if (r == 0 && syncfs(dfd) < 0)
		r = -errno;
	for (s = 0; r == 0 && s < INVENTORY_SHARDS; s++)
		if (dirty[s])
			r = atomic_commit(&af[s]);
	if (r == 0 && fsync(dfd) < 0)
		r = -errno;
out:
	for (s = 0; af && s < INVENTORY_SHARDS; s++)
		atomic_abort(&af[s]);
	if (dfd >= 0)
		close(dfd);
	buf_release(&b);
	free(shard);
	free(af);
	return r;
}
