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
#define FNV_OFFSET 14695981039346656037ULL
#define FNV_PRIME  1099511628211ULL

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
	/* Tests only: events are read and dropped, as if inotify had missed them. */
	w->drop = getenv("BRAMBLE_TEST_WATCH_DROP") != NULL;
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
	size_t i;

	for (i = 0; i < w->n_dirs; i++)
		free(w->dirs[i].path);
	w->n_dirs = 0;
	free(w->by_path);
	w->by_path = NULL;
	w->by_path_size = 0;
}

void watch_close(struct seal_watch *w)
{
	size_t i;

	dirs_clear(w);
	free(w->dirs);
	free(w->entries);
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

static bool entry_known(const struct seal_watch *w, uint64_t h)
{
	size_t mask = w->entries_size - 1, i;

	if (!w->entries_size)
		return false;
	for (i = h & mask; w->entries[i]; i = (i + 1) & mask)
		if (w->entries[i] == h)
			return true;
	return false;
}

/* The first reason is kept, for the log: a, b and c put together. */
static void mark_dirty(struct seal_watch *w, const char *a, const char *b, const char *c)
{
	if (w->dirty)
		return;
	w->dirty = true;
	snprintf(w->why, sizeof(w->why), "%s%s%s", a, b, c);
}

/*
 * One event: about a sealed path (its name is one, or it changes the
 * listing or the attributes of a sealed directory), or about the watch set
 * itself (a watched directory gone or moved: the full check re-arms).
 */
static void event_take(struct seal_watch *w, const struct inotify_event *ev)
{
	struct watch_dir *d;

	if (ev->mask & IN_Q_OVERFLOW) {
		mark_dirty(w, "the inotify queue overflowed", "", "");
		return;
	}
	d = dir_by_wd(w, ev->wd);
	if (!d)
		return; /* a watch already dropped */
	if (ev->mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF)) {
		mark_dirty(w, d->path, ": ", "the directory was removed or moved");
		d->gone = true; /* its watch is gone, or stale: the next arm drops it */
		return;
	}
	if (!ev->len || !*ev->name) {
		if (d->sealed)
			mark_dirty(w, d->path, "", " (its attributes)");
		return;
	}
	if (d->sealed || entry_known(w, path_hash(d->root, d->rel, ev->name)))
		mark_dirty(w, d->path, "/", ev->name);
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
		h = fnv_add(h, s->entries[i].line, strlen(s->entries[i].line));
	return h;
}

static size_t pow2_above(size_t n)
{
	size_t v = 64;

	while (v < n * 2)
		v *= 2;
	return v;
}

/* The table of the sealed paths' hashes (watch.h): 0 or -ENOMEM. */
static int entries_index(struct seal_watch *w, const struct seal *s)
{
	size_t size = pow2_above(s->n_entries), i;
	uint64_t *t = calloc(size, sizeof(*t));

	if (!t)
		return -ENOMEM;
	for (i = 0; i < s->n_entries; i++) {
		const struct seal_entry *e = &s->entries[i];
		uint64_t h;
		size_t k;

		if (e->root >= ROOT_COUNT)
			continue;
		h = path_hash(e->root, NULL, e->path);
		for (k = h & (size - 1); t[k] && t[k] != h; k = (k + 1) & (size - 1))
			;
		t[k] = h;
	}
	free(w->entries);
	w->entries = t;
	w->entries_size = size;
	return 0;
}

/* The watched directory at path (absolute), or NULL; *ret_slot: its place in by_path. */
static struct watch_dir *dir_find(struct seal_watch *w, const char *path, size_t *ret_slot)
{
	size_t mask = w->by_path_size - 1, i;

	for (i = fnv1a64(path, strlen(path)) & mask; w->by_path[i]; i = (i + 1) & mask)
		if (strcmp(w->dirs[w->by_path[i] - 1].path, path) == 0)
			break;
	*ret_slot = i;
	return w->by_path[i] ? &w->dirs[w->by_path[i] - 1] : NULL;
}

/* Watch a directory of the seal (rel beneath root); sealed: it is a sealed path itself. */
static int dir_add(struct seal_watch *w, unsigned root, const char *rel, size_t rel_len,
		   bool sealed)
{
	struct buf path = BUF_INIT;
	struct watch_dir *d;
	size_t slot;
	int wd, r;

	r = rel_len == 1 && rel[0] == '.'
		    ? buf_adds(&path, w->root_path[root])
		    : buf_printf(&path, "%s/%.*s", w->root_path[root], (int)rel_len, rel);
	if (r < 0)
		return r;
	d = dir_find(w, buf_str(&path), &slot);
	if (d) {
		d->sealed |= sealed;
		d->needed = true;
		buf_release(&path);
		return 0;
	}
	if (w->n_dirs >= w->max || w->n_dirs * 2 >= w->by_path_size) {
		buf_release(&path);
		return -ENOSPC;
	}
	if (w->n_dirs == w->cap_dirs) {
		size_t c = w->cap_dirs ? w->cap_dirs * 2 : 256;
		struct watch_dir *v = realloc(w->dirs, c * sizeof(*v));

		if (!v) {
			buf_release(&path);
			return -ENOMEM;
		}
		w->dirs = v;
		w->cap_dirs = c;
	}
	wd = inotify_add_watch(w->fd, buf_str(&path), WATCH_MASK);
	if (wd < 0 || (w->n_dirs && wd <= w->dirs[w->n_dirs - 1].wd)) {
		r = wd < 0 ? -errno : -EEXIST; /* EEXIST: two paths, one directory */
		buf_release(&path);
		return r;
	}
	d = &w->dirs[w->n_dirs++];
	d->wd = wd;
	d->root = root;
	d->sealed = sealed;
	d->needed = true;
	d->gone = false;
	d->path = buf_detach(&path, NULL);
	d->rel = d->path + strlen(w->root_path[root]) + (rel_len == 1 && rel[0] == '.' ? 0 : 1);
	if (rel_len == 1 && rel[0] == '.')
		d->rel = ".";
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
		dir_find(w, w->dirs[i].path, &slot);
		w->by_path[slot] = i + 1;
	}
	return 0;
}

/* Drop the watches the armed seal does not need (old generations, a removed node's). */
static int dirs_prune(struct seal_watch *w)
{
	size_t i, k = 0;

	for (i = 0; i < w->n_dirs; i++) {
		if (w->dirs[i].needed) {
			w->dirs[k++] = w->dirs[i];
			continue;
		}
		inotify_rm_watch(w->fd, w->dirs[i].wd); /* fails for one already gone: fine */
		free(w->dirs[i].path);
	}
	w->n_dirs = k;
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

/* Keep a copy of the roots' directories (root_path may be w's own). */
static void roots_keep(struct seal_watch *w, const char *const *root_path)
{
	char *copy[ROOT_COUNT];
	size_t i;

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
	w->identity = seal_identity(s);
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
	else if (seal_identity(s) != w->identity)
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

void watch_sealed(void *ctx, const char *const *root_path)
{
	struct seal_watch *w = ctx;

	if (w->fd < 0)
		return;
	roots_keep(w, root_path);
	w->rearm = true;
}

bool watch_rearm(struct seal_watch *w, const char *state_dir, bool sealed_pass)
{
	const struct seal_entry *broken = NULL;
	const char *path[ROOT_COUNT];
	struct seal s;
	size_t i;
	int fd;

	if (w->fd < 0 || (sealed_pass && !w->rearm))
		return false; /* the check before the pass armed the watch, or could not */
	if (!w->rearm) {      /* the pass wrote no seal: what it did is no news */
		watch_read(w);
		w->armed = w->dirty = false;
		return w->settles++ == 0; /* one more pass soon, which may seal */
	}
	w->settles = 0;
	w->rearm = false;
	w->armed = false;
	fd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return false;
	if (seal_read(fd, &s, NULL) > 0) {
		for (i = 0; i < ROOT_COUNT; i++)
			path[i] = w->root_path[i];
		if (watch_arm(w, &s, path, &broken)) {
			w->misses = 0;
		} else if (++w->misses <= 3) {
			/* Changed since the pass wrote it: a pass at once repairs it (not
			 * forever: a path that never holds waits for the timer). */
			w->pending = true;
			snprintf(w->why, sizeof(w->why),
				 "a path changed as the new seal was armed: %s",
				 broken ? broken->path : "?");
		}
	}
	seal_release(&s);
	close(fd);
	return false;
}
