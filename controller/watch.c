#include "watch.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "seal.h"
#include "../common/buf.h"

#define WATCH_MASK                                                                       \
	(IN_ATTRIB | IN_CREATE | IN_DELETE | IN_DELETE_SELF | IN_MODIFY | IN_MOVE_SELF | \
	 IN_MOVED_FROM | IN_MOVED_TO | IN_DONT_FOLLOW | IN_ONLYDIR | IN_EXCL_UNLINK)
#define FNV_OFFSET  14695981039346656037ULL
#define FNV_PRIME   1099511628211ULL
#define TOUCHED_MAX 4096 /* paths named by events between two arms (watch.h) */

_Static_assert(ROOT_COUNT <= 8, "watch.h keeps 8 root paths");

static long long mono_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static uint64_t fnv_add(uint64_t h, const void *data, size_t len)
{
	const unsigned char *p = data;
	size_t i;

	for (i = 0; i < len; i++)
		h = (h ^ p[i]) * FNV_PRIME;
	return h;
}

/* The hash of a sealed path: its root, its directory (NULL or "." : none) and its name. */
static uint64_t path_hash(unsigned root, const char *dir, const char *name)
{
	unsigned char r = (unsigned char)root;
	uint64_t h = fnv_add(FNV_OFFSET, &r, 1);

	if (dir && strcmp(dir, ".") != 0) {
		h = fnv_add(h, dir, strlen(dir));
		h = fnv_add(h, "/", 1);
	}
	h = fnv_add(h, name, strlen(name));
	return h ? h : 1; /* 0 marks an empty slot */
}

int watch_open(struct seal_watch *w, const struct bramble_config *cfg)
{
	memset(w, 0, sizeof(*w));
	w->fd = -1;
	w->max = cfg->watch_max;
	w->full_ms = (long long)cfg->watch_full_check_s * 1000;
	/* The test suite's: events are read and dropped, as if inotify had missed them. */
	w->drop = cfg->watch_test_drop;
	if (w->drop && cfg->watch_max)
		log_warn("watch.testDropEvents is set: inotify's events are dropped (for tests "
			 "only; outside edits wait for watch.fullCheck)");
	if (!w->max)
		return 0;
	w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (w->fd < 0) {
		log_warn("inotify is not available: every pass checks each path");
		return -errno;
	}
	return 0;
}

static void dirs_clear(struct seal_watch *w)
{
	w->n_dirs = 0;
	free(w->names);
	w->names = NULL;
	w->names_len = w->names_cap = 0;
	free(w->by_path);
	w->by_path = NULL;
	w->by_path_size = 0;
}

/* A watched directory's path relative to its root ("." the root itself). */
static const char *dir_rel(const struct seal_watch *w, const struct watch_dir *d)
{
	return w->names + d->rel;
}

/* Add a relative path (len bytes) to w->names: its offset, or -ENOMEM. */
static long long names_add(struct seal_watch *w, const char *rel, size_t len)
{
	size_t off = w->names_len;

	if (off + len + 1 > UINT32_MAX)
		return -ENOMEM;
	if (off + len + 1 > w->names_cap) {
		size_t c = w->names_cap ? w->names_cap : 4096;
		char *v;

		while (c < off + len + 1)
			c *= 2;
		v = realloc(w->names, c);
		if (!v)
			return -ENOMEM;
		w->names = v;
		w->names_cap = c;
	}
	memcpy(w->names + off, rel, len);
	w->names[off + len] = '\0';
	w->names_len = off + len + 1;
	return (long long)off;
}

static void seal_free(struct seal *s)
{
	if (s)
		seal_release(s);
	free(s);
}

/* Forget the kept seal: the watch is no longer armed for a seal in memory. */
static void kept_drop(struct seal_watch *w)
{
	seal_free(w->kept);
	w->kept = NULL;
	memset(w->kept_sig, 0, sizeof(w->kept_sig));
	if (w->armed_kept)
		w->armed = false;
	w->armed_kept = false;
}

void watch_close(struct seal_watch *w)
{
	size_t i;

	kept_drop(w);
	dirs_clear(w);
	free(w->dirs);
	free(w->entries);
	free(w->touched);
	for (i = 0; i < ROOT_COUNT; i++)
		free(w->root_path[i]);
	if (w->fd >= 0)
		close(w->fd);
	memset(w, 0, sizeof(*w));
	w->fd = -1;
}

int watch_fd(const struct seal_watch *w)
{
	return w->fd;
}

long long watch_due_ms(const struct seal_watch *w)
{
	long long left;

	if (w->fd < 0 || !w->armed || !w->full_ms)
		return LLONG_MAX;
	left = w->last_full + w->full_ms - mono_ms();
	return left < 0 ? 0 : left;
}

static struct watch_dir *dir_by_wd(struct seal_watch *w, int wd)
{
	size_t lo = 0, hi = w->n_dirs; /* in the order added: wds only grow */

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (w->dirs[mid].wd == wd)
			return &w->dirs[mid];
		if (w->dirs[mid].wd < wd)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* The tag of a sealed path's hash in the table: its high half, never 0 (an empty slot). */
static uint32_t entry_tag(uint64_t h)
{
	return (uint32_t)(h >> 32) ? (uint32_t)(h >> 32) : 1;
}

/* A hash of an entry's record: its kind, inode, size, times and mode. */
static uint32_t entry_sig(const struct seal_entry *e)
{
	uint64_t v[5] = {e->ino, e->size, e->mtime_ns, e->ctime_ns,
			 (uint64_t)e->mode << 8 | (unsigned char)e->kind};
	uint64_t h = fnv_add(FNV_OFFSET, v, sizeof(v));

	return (uint32_t)(h ^ h >> 32);
}

/* Whether h may be a sealed path's (a collision of the tag only makes an event count). */
static bool entry_known(const struct seal_watch *w, uint64_t h)
{
	size_t mask = w->entries_size - 1, i;

	if (!w->entries_size)
		return false;
	for (i = h & mask; w->entries[i].tag; i = (i + 1) & mask)
		if (w->entries[i].tag == entry_tag(h))
			return true;
	return false;
}

/* An event named the sealed path of hash h: the next re-arm checks it. */
static void touch(struct seal_watch *w, uint64_t h)
{
	if (w->touched_all)
		return;
	if (!w->touched)
		w->touched = malloc(TOUCHED_MAX * sizeof(*w->touched));
	if (!w->touched || w->n_touched == TOUCHED_MAX) {
		w->touched_all = true;
		return;
	}
	w->touched[w->n_touched++] = h;
}

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Whether an event named h (w->touched sorted). */
static bool touched(const struct seal_watch *w, uint64_t h)
{
	return w->touched_all ||
	       (w->n_touched && bsearch(&h, w->touched, w->n_touched, sizeof(h), u64_cmp));
}

static void touched_clear(struct seal_watch *w)
{
	w->n_touched = 0;
	w->touched_all = false;
}

/* The first reason is kept, for the log: a, b and c put together. */
static void mark_dirty(struct seal_watch *w, const char *a, const char *b, const char *c)
{
	if (w->dirty)
		return;
	w->dirty = true;
	snprintf(w->why, sizeof(w->why), "%s%s%s", a, b, c);
}

/* mark_dirty() about d (its absolute path), then b and c. */
static void mark_dirty_dir(struct seal_watch *w, const struct watch_dir *d, const char *b,
			   const char *c)
{
	const char *rel = dir_rel(w, d), *root = w->root_path[d->root];
	bool top = strcmp(rel, ".") == 0;

	if (w->dirty)
		return;
	w->dirty = true;
	snprintf(w->why, sizeof(w->why), "%s%s%s%s%s", root ? root : "?", top ? "" : "/",
		 top ? "" : rel, b, c);
}

/*
 * One event: about a sealed path (its name is one, or it changes the
 * listing or the attributes of a sealed directory), or about the watch set
 * itself (a watched directory gone or moved: the full check re-arms).
 */
static void event_take(struct seal_watch *w, const struct inotify_event *ev)
{
	struct watch_dir *d;

	uint64_t h;

	if (ev->mask & IN_Q_OVERFLOW) {
		mark_dirty(w, "the inotify queue overflowed", "", "");
		w->touched_all = true;
		return;
	}
	d = dir_by_wd(w, ev->wd);
	if (!d)
		return; /* a watch already dropped */
	if (ev->mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF | IN_UNMOUNT)) {
		mark_dirty_dir(w, d, ": ", "the directory was removed or moved");
		d->gone = true; /* its watch is gone, or stale: the next arm drops it */
		/* Removed: its entries were removed first, each an event.  Moved or
		 * unmounted: what was in it went with it, unnamed. */
		if (ev->mask & (IN_MOVE_SELF | IN_UNMOUNT))
			w->touched_all = true;
		touch(w, path_hash(d->root, NULL, dir_rel(w, d)));
		return;
	}
	if (!ev->len || !*ev->name) {
		if (d->sealed) {
			mark_dirty_dir(w, d, "", " (its attributes)");
			touch(w, path_hash(d->root, NULL, dir_rel(w, d)));
		}
		return;
	}
	h = path_hash(d->root, dir_rel(w, d), ev->name);
	if (d->sealed || entry_known(w, h)) {
		mark_dirty_dir(w, d, "/", ev->name);
		touch(w, h);
	}
	if (d->sealed) /* its listing changed */
		touch(w, path_hash(d->root, NULL, dir_rel(w, d)));
}

bool watch_read(struct seal_watch *w)
{
	char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t n;

	if (w->fd < 0)
		return false;
	for (;;) {
		char *p;

		n = read(w->fd, buf, sizeof(buf));
		if (n <= 0)
			break;
		for (p = buf; !w->drop && p < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)(void *)p;

			event_take(w, ev);
			p += sizeof(*ev) + ev->len;
		}
	}
	return (w->armed && w->dirty) || w->pending;
}

/* The seal's identity: a hash of every entry's line (path and signature). */
static uint64_t seal_identity(const struct seal *s)
{
	uint64_t h = fnv_add(FNV_OFFSET, s->key, strlen(s->key));
	size_t i;

	for (i = 0; i < s->n_entries; i++)
		h = fnv_add(h, seal_entry_line(&s->entries[i]),
			    strlen(seal_entry_line(&s->entries[i])));
	return h;
}

static size_t pow2_above(size_t n)
{
	size_t v = 64;

	while (v < n * 2)
		v *= 2;
	return v;
}

/* The table of the sealed paths' hashes of s (watch.h): 0 or -ENOMEM. */
static int entries_build(const struct seal *s, struct watch_entry **ret, size_t *ret_size)
{
	size_t size = pow2_above(s->n_entries), i;
	struct watch_entry *t;

	if (s->n_entries >= UINT32_MAX)
		return -ENOMEM;
	t = calloc(size, sizeof(*t));
	if (!t)
		return -ENOMEM;
	for (i = 0; i < s->n_entries; i++) {
		const struct seal_entry *e = &s->entries[i];
		uint64_t h;
		size_t k;

		if (e->root >= ROOT_COUNT)
			continue;
		h = path_hash(e->root, NULL, e->path);
		for (k = h & (size - 1); t[k].tag; k = (k + 1) & (size - 1))
			;
		t[k] = (struct watch_entry){entry_tag(h), entry_sig(e)};
	}
	*ret = t;
	*ret_size = size;
	return 0;
}

static int entries_index(struct seal_watch *w, const struct seal *s)
{
	struct watch_entry *t;
	size_t size;
	int r = entries_build(s, &t, &size);

	if (r < 0)
		return r;
	free(w->entries);
	w->entries = t;
	w->entries_size = size;
	return 0;
}

/*
 * Whether the armed seal recorded e's path (hash h) as e records it.  The
 * table keeps a hash of each path and of its record, not the seal: the
 * re-arm frees the seal it was armed for before it reads the new one (two
 * whole seals at once were 45 MB at 10,000 nodes).  A collision of both
 * hashes (2^-32 for a path whose record changed) skips its check at the
 * re-arm; its directory is watched already (the same path), so an outside
 * change since the pass is still an event.
 */
static bool entry_recorded(const struct seal_watch *w, const struct seal_entry *e, uint64_t h)
{
	size_t mask = w->entries_size - 1, i;
	uint32_t tag = entry_tag(h), sig;

	if (!w->entries_size)
		return false;
	sig = entry_sig(e);
	for (i = h & mask; w->entries[i].tag; i = (i + 1) & mask)
		if (w->entries[i].tag == tag && w->entries[i].sig == sig)
			return true;
	return false;
}

/* The hash of a watched directory's place: its root and relative path. */
static uint64_t dir_hash(unsigned root, const char *rel, size_t len)
{
	unsigned char r = (unsigned char)root;

	return fnv_add(fnv_add(FNV_OFFSET, &r, 1), rel, len);
}

/* The watched directory rel (len bytes) beneath root, or NULL; *ret_slot: its place in by_path. */
static struct watch_dir *dir_find(struct seal_watch *w, unsigned root, const char *rel, size_t len,
				  size_t *ret_slot)
{
	size_t mask = w->by_path_size - 1, i;

	for (i = dir_hash(root, rel, len) & mask; w->by_path[i]; i = (i + 1) & mask) {
		const struct watch_dir *d = &w->dirs[w->by_path[i] - 1];
		const char *r = dir_rel(w, d);

		if (d->root == root && strncmp(r, rel, len) == 0 && !r[len])
			break;
	}
	*ret_slot = i;
	return w->by_path[i] ? &w->dirs[w->by_path[i] - 1] : NULL;
}

/* Watch a directory of the seal (rel beneath root); sealed: it is a sealed path itself. */
static int dir_add(struct seal_watch *w, unsigned root, const char *rel, size_t rel_len,
		   bool sealed)
{
	bool top = rel_len == 1 && rel[0] == '.';
	struct buf path = BUF_INIT;
	struct watch_dir *d;
	long long off;
	size_t slot;
	int wd, r;

	d = dir_find(w, root, rel, rel_len, &slot);
	if (d) {
		d->sealed |= sealed;
		d->needed = true;
		return 0;
	}
	if (w->n_dirs >= w->max || w->n_dirs * 2 >= w->by_path_size)
		return -ENOSPC;
	if (w->n_dirs == w->cap_dirs) {
		size_t c = w->cap_dirs ? w->cap_dirs * 2 : 256;
		struct watch_dir *v = realloc(w->dirs, c * sizeof(*v));

		if (!v)
			return -ENOMEM;
		w->dirs = v;
		w->cap_dirs = c;
	}
	r = top ? buf_adds(&path, w->root_path[root])
		: buf_printf(&path, "%s/%.*s", w->root_path[root], (int)rel_len, rel);
	if (r < 0)
		return r;
	wd = inotify_add_watch(w->fd, buf_str(&path), WATCH_MASK);
	r = wd < 0 ? -errno : 0;
	buf_release(&path);
	if (r == 0 && w->n_dirs && wd <= w->dirs[w->n_dirs - 1].wd)
		r = -EEXIST; /* two paths, one directory */
	if (r < 0)
		return r;
	off = names_add(w, rel, rel_len);
	if (off < 0) {
		inotify_rm_watch(w->fd, wd);
		return (int)off;
	}
	d = &w->dirs[w->n_dirs++];
	d->wd = wd;
	d->root = (uint8_t)root;
	d->sealed = sealed;
	d->needed = true;
	d->gone = false;
	d->rel = (uint32_t)off;
	w->by_path[slot] = w->n_dirs;
	return 0;
}

/* The index by path, for n directories at most: 0 or -ENOMEM. */
static int by_path_build(struct seal_watch *w, size_t n)
{
	size_t i, slot;

	free(w->by_path);
	w->by_path_size = pow2_above(n + 1);
	w->by_path = calloc(w->by_path_size, sizeof(*w->by_path));
	if (!w->by_path)
		return -ENOMEM;
	for (i = 0; i < w->n_dirs; i++) {
		const char *rel = dir_rel(w, &w->dirs[i]);

		dir_find(w, w->dirs[i].root, rel, strlen(rel), &slot);
		w->by_path[slot] = i + 1;
	}
	return 0;
}

/* Drop the watches the armed seal does not need (old generations, a removed node's). */
static int dirs_prune(struct seal_watch *w)
{
	size_t i, k = 0;

	size_t len = 0;

	for (i = 0; i < w->n_dirs; i++) {
		const char *rel = dir_rel(w, &w->dirs[i]);
		size_t n = strlen(rel) + 1;

		if (!w->dirs[i].needed) {
			inotify_rm_watch(w->fd,
					 w->dirs[i].wd); /* fails for one already gone: fine */
			continue;
		}
		/* the names kept move down over the dropped ones, in order */
		memmove(w->names + len, rel, n);
		w->dirs[k] = w->dirs[i];
		w->dirs[k++].rel = (uint32_t)len;
		len += n;
	}
	w->n_dirs = k;
	w->names_len = len;
	return by_path_build(w, k);
}

/*
 * Watch every directory the seal's paths are in, and each sealed directory
 * (its listing is part of its signature); keep the watches still needed.
 */
static int dirs_watch(struct seal_watch *w, const struct seal *s)
{
	size_t i, want = s->n_entries * 2 > w->max ? w->max : s->n_entries * 2;
	int r;

	for (i = 0; i < w->n_dirs; i++)
		w->dirs[i].needed = !w->dirs[i].gone;
	r = dirs_prune(w);
	for (i = 0; i < w->n_dirs; i++)
		w->dirs[i].needed = w->dirs[i].sealed = false;
	if (r == 0)
		r = by_path_build(w, w->n_dirs + want);
	for (i = 0; r == 0 && i < s->n_entries; i++) {
		const struct seal_entry *e = &s->entries[i];
		const char *slash;

		if (e->root >= ROOT_COUNT || !w->root_path[e->root])
			continue;
		slash = strrchr(e->path, '/');
		r = slash ? dir_add(w, e->root, e->path, (size_t)(slash - e->path), false)
			  : dir_add(w, e->root, ".", 1, false);
		if (r == 0 && e->kind == 'S' && S_ISDIR((mode_t)e->mode))
			r = dir_add(w, e->root, e->path, strlen(e->path), true);
	}
	if (r == 0)
		r = dirs_prune(w);
	return r;
}

/* Whether the roots' directories are those kept (root_path may be w's own). */
static bool roots_same(const struct seal_watch *w, const char *const *root_path)
{
	size_t i;

	for (i = 0; i < ROOT_COUNT; i++)
		if (!root_path[i] != !w->root_path[i] ||
		    (root_path[i] && strcmp(root_path[i], w->root_path[i]) != 0))
			return false;
	return true;
}

/*
 * Keep a copy of the roots' directories (root_path may be w's own).  The
 * watches are kept by their path relative to their root: watches of other
 * roots are dropped, every one (the next arm adds those it needs).
 */
static void roots_keep(struct seal_watch *w, const char *const *root_path)
{
	char *copy[ROOT_COUNT];
	size_t i;

	if (w->n_dirs && !roots_same(w, root_path)) {
		for (i = 0; i < w->n_dirs; i++)
			w->dirs[i].needed = false;
		(void)dirs_prune(w); /* its index: -ENOMEM leaves none, and the arm fails */
	}
	for (i = 0; i < ROOT_COUNT; i++)
		copy[i] = root_path[i] ? strdup(root_path[i]) : NULL;
	for (i = 0; i < ROOT_COUNT; i++) {
		free(w->root_path[i]);
		w->root_path[i] = copy[i];
	}
}

/*
 * Arm the watch for seal s: drain, watch, then stat every path (seal.h).
 * Returns whether the seal holds; the watch is armed when it does and
 * every watch is in place.
 */
static bool watch_arm(struct seal_watch *w, const struct seal *s, const char *const *root_path,
		      const struct seal_entry **ret_broken)
{
	bool holds;
	int r;

	w->armed = w->dirty = false;
	w->why[0] = '\0';
	roots_keep(w, root_path);
	watch_read(w);
	w->dirty = false;
	r = entries_index(w, s);
	if (r == 0)
		r = dirs_watch(w, s);
	if (r < 0 && !w->incomplete)
		log_errno(r,
			  "cannot watch the %zu directories of the sealed paths (watch.maxWatches "
			  "%u): every pass checks each path",
			  w->n_dirs, w->max);
	w->incomplete = r < 0;
	holds = seal_holds(s, (const char *const *)w->root_path, ret_broken);
	/* What happened while the paths were checked is not known to be before it. */
	watch_read(w);
	w->armed = holds && r == 0 && !w->dirty;
	w->dirty = false;
	touched_clear(w);
	/* The kept seal is known by where it is; another by a hash of it. */
	w->armed_kept = w->kept && s->data == w->kept->data;
	w->identity = w->armed_kept ? 0 : seal_identity(s);
	w->last_full = mono_ms();
	return holds;
}

/* The inputs given by absolute path (secret files): not watched, stat-ed each time. */
static bool abspaths_hold(const struct seal *s, const struct seal_entry **ret_broken)
{
	const char *none[ROOT_COUNT] = {NULL};
	struct seal one;
	size_t i;

	memset(&one, 0, sizeof(one));
	for (i = 0; i < s->n_entries; i++) {
		if (s->entries[i].root != SEAL_ABSPATH)
			continue;
		one.entries = &s->entries[i];
		one.n_entries = 1;
		if (!seal_holds(&one, none, ret_broken))
			return false;
	}
	return true;
}

bool watch_check(void *ctx, const struct seal *s, const char *const *root_path,
		 const struct seal_entry **ret_broken)
{
	struct seal_watch *w = ctx;
	const char *why = NULL;

	if (w->fd < 0)
		return seal_holds(s, root_path, ret_broken);
	watch_read(w);
	if (w->pending) {
		w->pending = false;
		log_info("an outside change (%s): checking every sealed path", w->why);
		return watch_arm(w, s, root_path, ret_broken);
	}
	if (!w->armed)
		why = w->incomplete ? "not every directory is watched" : "a new seal";
	else if (w->dirty)
		why = w->why;
	else if (watch_due_ms(w) == 0)
		why = "the periodic full check (watch.fullCheck)";
	else if (w->armed_kept
			 ? !w->kept || s->data != w->kept->data
			 : (w->kept && s->data == w->kept->data) || seal_identity(s) != w->identity)
		why = "a new seal";
	if (!why) {
		log_debug("sealed by inotify: no event about a sealed path since the last check");
		return abspaths_hold(s, ret_broken);
	}
	if (w->armed && w->dirty)
		log_info("an outside change (inotify: %s): checking every sealed path", why);
	else if (w->armed && watch_due_ms(w) == 0)
		log_info("checking every sealed path: %s", why);
	else
		log_debug("checking every sealed path: %s", why);
	return watch_arm(w, s, root_path, ret_broken);
}

/* What identifies the file a seal was read from: device, inode, size, mtime, ctime. */
static void seal_sig(const struct stat *st, uint64_t sig[5])
{
	sig[0] = (uint64_t)st->st_dev;
	sig[1] = (uint64_t)st->st_ino;
	sig[2] = (uint64_t)st->st_size;
	sig[3] = (uint64_t)st->st_mtim.tv_sec * 1000000000 + (uint64_t)st->st_mtim.tv_nsec;
	sig[4] = (uint64_t)st->st_ctim.tv_sec * 1000000000 + (uint64_t)st->st_ctim.tv_nsec;
}

void watch_sealed(void *ctx, const char *const *root_path)
{
	struct seal_watch *w = ctx;

	if (w->fd < 0)
		return;
	if (!roots_same(w, root_path))
		w->touched_all = true; /* watched for other roots: the full check */
	roots_keep(w, root_path);
	w->rearm = true;
}

/*
 * Read the seal in state_fd and keep it (as seal_read() returns), the seal
 * kept before freed first (the daemon never holds two).  The file's
 * signature is kept only when it did not change while it was read.
 */
static int kept_read(struct seal_watch *w, int state_fd, struct buf *why)
{
	struct seal *s = calloc(1, sizeof(*s));
	struct stat a, b;
	bool have_a;
	int r;

	kept_drop(w);
	if (!s)
		return -ENOMEM;
	have_a = fstatat(state_fd, SEAL_FILE, &a, AT_SYMLINK_NOFOLLOW) == 0;
	r = seal_read(state_fd, s, why);
	if (r <= 0) {
		free(s);
		return r;
	}
	if (have_a && fstatat(state_fd, SEAL_FILE, &b, AT_SYMLINK_NOFOLLOW) == 0) {
		uint64_t sa[5], sb[5];

		seal_sig(&a, sa);
		seal_sig(&b, sb);
		if (memcmp(sa, sb, sizeof(sa)) == 0)
			memcpy(w->kept_sig, sa, sizeof(sa));
	}
	w->kept = s;
	return 1;
}

int watch_seal_load(void *ctx, int state_fd, struct seal *s, struct buf *why)
{
	struct seal_watch *w = ctx;
	struct stat st;
	uint64_t sig[5];
	int r;

	memset(s, 0, sizeof(*s));
	if (fstatat(state_fd, SEAL_FILE, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		r = errno;
		kept_drop(w);
		return r == ENOENT ? 0 : -r;
	}
	seal_sig(&st, sig);
	if (!w->kept || memcmp(sig, w->kept_sig, sizeof(sig)) != 0) {
		r = kept_read(w, state_fd, why);
		if (r <= 0)
			return r;
	}
	*s = *w->kept;
	return 1;
}

/* Drop the watches of directories removed or moved (an event said so). */
static int dirs_drop_gone(struct seal_watch *w)
{
	size_t i;
	bool any = false;

	for (i = 0; i < w->n_dirs; i++) {
		w->dirs[i].needed = !w->dirs[i].gone;
		any |= w->dirs[i].gone;
	}
	return any ? dirs_prune(w) : 0;
}

/*
 * The entries of s whose record differs from the armed seal's (w->entries),
 * or whose path an event named, into a new array *ret (*ret_n of them).
 */
static int entries_changed(struct seal_watch *w, const struct seal *s, struct seal_entry **ret,
			   size_t *ret_n)
{
	struct seal_entry *v = NULL;
	size_t i, n = 0, cap = 0;

	if (w->n_touched)
		qsort(w->touched, w->n_touched, sizeof(*w->touched), u64_cmp);
	for (i = 0; i < s->n_entries; i++) {
		const struct seal_entry *e = &s->entries[i];
		uint64_t h = path_hash(e->root, NULL, e->path);

		if (e->root < ROOT_COUNT && entry_recorded(w, e, h) && !touched(w, h))
			continue;
		if (n == cap) {
			struct seal_entry *nv;

			cap = cap ? cap * 2 : 64;
			nv = realloc(v, cap * sizeof(*v));
			if (!nv) {
				free(v);
				return -ENOMEM;
			}
			v = nv;
		}
		v[n++] = *e;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

/* Watch the directories of the n entries v (and those that are directories). */
static int entries_watch(struct seal_watch *w, const struct seal_entry *v, size_t n)
{
	size_t i;
	int r;

	r = dirs_drop_gone(w);
	if (r == 0 && (w->n_dirs + 2 * n) * 2 >= w->by_path_size)
		r = by_path_build(w, w->n_dirs + 2 * n);
	for (i = 0; r == 0 && i < n; i++) {
		const struct seal_entry *e = &v[i];
		const char *slash = strrchr(e->path, '/');

		if (e->root >= ROOT_COUNT || !w->root_path[e->root])
			continue;
		r = slash ? dir_add(w, e->root, e->path, (size_t)(slash - e->path), false)
			  : dir_add(w, e->root, ".", 1, false);
		if (r == 0 && e->kind == 'S' && S_ISDIR((mode_t)e->mode))
			r = dir_add(w, e->root, e->path, strlen(e->path), true);
	}
	return r;
}

/*
 * Arm the watch for s, the new seal of a pass, when it was armed for the one
 * the pass started from (w->entries holds its records), and every event since
 * named its path (watch.h): check and watch only the paths whose record
 * changed or an event named.
 * Returns 1 (the seal holds; *ret_broken otherwise), 0 (it does not), or
 * -errno (then the full check must arm it).
 */
static int arm_delta(struct seal_watch *w, const struct seal *s, const char **ret_broken)
{
	const struct seal_entry *broken = NULL;
	struct seal check;
	struct seal_entry *v = NULL;
	size_t n = 0;
	int r;

	watch_read(w); /* the pass's own events, and any other since the arm */
	if (w->touched_all)
		return -ESTALE;
	r = entries_changed(w, s, &v, &n);
	if (r == 0)
		r = entries_watch(w, v, n);
	if (r == 0)
		r = entries_index(w, s);
	if (r < 0) {
		free(v);
		return r;
	}
	w->dirty = false;
	w->why[0] = '\0';
	touched_clear(w);
	memset(&check, 0, sizeof(check));
	check.entries = v;
	check.n_entries = n;
	r = seal_holds(&check, (const char *const *)w->root_path, &broken) ? 1 : 0;
	if (r == 0 && ret_broken)
		*ret_broken = broken ? broken->path : "?"; /* points into s */
	free(v);
	/* What happened while the paths were checked is not known to be before it. */
	watch_read(w);
	w->armed = r == 1 && !w->dirty;
	w->dirty = false;
	w->armed_kept = true;
	log_debug("armed the new seal: %zu of %zu paths checked, %zu directories watched", n,
		  s->n_entries, w->n_dirs);
	return r;
}

/*
 * Arm the watch for the kept seal, the one a pass just wrote: by its
 * difference from the records of the seal the pass started from when the
 * watch was armed for it (was_armed), else by a full check; a seal that does
 * not hold asks for a pass at once, three times in a row at the most.
 */
static void rearm_kept(struct seal_watch *w, bool was_armed)
{
	const struct seal_entry *broken = NULL;
	const char *broken_path = NULL;
	const char *path[ROOT_COUNT];
	bool holds;
	size_t i;
	int r;

	for (i = 0; i < ROOT_COUNT; i++)
		path[i] = w->root_path[i];
	r = was_armed ? arm_delta(w, w->kept, &broken_path) : -ESTALE;
	if (r < 0) {
		holds = watch_arm(w, w->kept, path, &broken);
		broken_path = broken ? broken->path : NULL;
	} else {
		holds = r == 1;
	}
	if (holds) {
		w->misses = 0;
	} else if (++w->misses <= 3) {
		/* Changed since the pass wrote it: a pass at once repairs it (not
		 * forever: a path that never holds waits for the timer). */
		w->pending = true;
		snprintf(w->why, sizeof(w->why), "a path changed as the new seal was armed: %s",
			 broken_path ? broken_path : "?");
	}
}

bool watch_rearm(struct seal_watch *w, const char *state_dir, bool sealed_pass)
{
	bool was_armed;
	int fd, r;

	if (w->fd < 0 || (sealed_pass && !w->rearm))
		return false; /* the check before the pass armed the watch, or could not */
	if (!w->rearm) {      /* the pass wrote no seal: what it did is no news */
		watch_read(w);
		w->armed = w->dirty = false;
		kept_drop(w); /* it removed the seal, or failed before it: read it again */
		return w->settles++ == 0; /* one more pass soon, which may seal */
	}
	w->settles = 0;
	w->rearm = false;
	/* Armed for the kept seal, the one the pass started from (or the
	 * seal of a full pass wrote over it: then no entry was), and nothing
	 * since that inotify could not name. */
	was_armed = w->armed && w->armed_kept && w->kept && !w->incomplete && !w->touched_all;
	fd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		w->armed = false;
		kept_drop(w);
		return false;
	}
	/* The seal the pass started from is freed before the new one is read:
	 * the table of its records (w->entries) is what the re-arm compares. */
	r = kept_read(w, fd, NULL);
	w->armed = false;
	if (r > 0)
		rearm_kept(w, was_armed);
	close(fd);
	return false;
}
