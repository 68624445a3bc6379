/*
 * noderoot: observe, make, re-image and retire node roots (RES_ROOT) for
 * the engine; see noderoot.h for the life of a root and its record.
 *
 * A steady-state pass costs one fstatat per root: the inventory holds the
 * inode of the root's directory and the digest of its description, and the
 * record in the state directory is read only when either differs.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "engine_int.h"
#include "noderoot.h"
#include "buf.h"
#include "atomic.h"
#include "fsutil.h"
#include "parse.h"
#include "progress.h"
#include "stop.h"

#define RECORD_MAX	  ((size_t)64 << 10)
/* Roots copied at once (one thread each, at most one per online CPU): a
 * copy waits on the disk (ext4: its write rate) or on the kernel's metadata
 * work (XFS reflinks, small files), so more copies in flight than CPUs only
 * queue. */
#define STAGE_THREADS_MAX 8u

/* A root's description (the resource's data) or its record. */
struct root_desc {
	bool shared;
	unsigned generation;
	char image[128];
	char source[512];
	char identity[256];
	char node[128];
	uint64_t ino, prev_ino;
	unsigned prev_generation; /* of the root prev-ino names (an interrupted re-image) */
};

size_t noderoot_prefix(const char *path)
{
	const char *s = strchr(path, '/'), *t;
	size_t i;

	if (!s)
		return 0;
	if (s - path == 6 && strncmp(path, "shared", 6) == 0) {
		t = strchr(s + 1, '/');
		return t ? (size_t)(t - path) : 0;
	}
	if (s - path != 8)
		return 0;
	for (i = 0; i < 8; i++)
		if (!strchr("0123456789abcdef", path[i]))
			return 0;
	return 8;
}

/* What a record says to do when it is damaged (parse.h). */
#define RECORD_HINT                                                                        \
	"remove the record and run `bramble apply --adopt` to keep the root as it is, or " \
	"remove the root too to have it made anew"

/* The lines of a description or a record that desc_parse() reads: "key value". */
static const struct desc_key {
	const char *key;
	enum { DESC_FLAG, DESC_UINT, DESC_U64, DESC_TEXT } kind;
	size_t offset, size;
} desc_keys[] = {
	{"shared", DESC_FLAG, offsetof(struct root_desc, shared), 0},
	{"generation", DESC_UINT, offsetof(struct root_desc, generation), 0},
	{"image", DESC_TEXT, offsetof(struct root_desc, image),
	 sizeof(((struct root_desc *)0)->image)},
	{"source", DESC_TEXT, offsetof(struct root_desc, source),
	 sizeof(((struct root_desc *)0)->source)},
	{"identity", DESC_TEXT, offsetof(struct root_desc, identity),
	 sizeof(((struct root_desc *)0)->identity)},
	{"node", DESC_TEXT, offsetof(struct root_desc, node),
	 sizeof(((struct root_desc *)0)->node)},
	{"ino", DESC_U64, offsetof(struct root_desc, ino), 0},
	{"prev-ino", DESC_U64, offsetof(struct root_desc, prev_ino), 0},
	{"prev-generation", DESC_UINT, offsetof(struct root_desc, prev_generation), 0},
};

/* One "key value" line into d; other keys (path, created) are not needed here. */
static int desc_line(struct state_reader *sr, struct root_desc *d, char *line)
{
	char *v = strchr(line, ' ');
	const struct desc_key *k = NULL;
	uint64_t n;
	size_t i;
	int r;

	if (v)
		*v++ = '\0';
	for (i = 0; !k && i < sizeof(desc_keys) / sizeof(desc_keys[0]); i++)
		if (strcmp(line, desc_keys[i].key) == 0)
			k = &desc_keys[i];
	if (!k)
		return 0;
	if (k->kind == DESC_FLAG) {
		*(bool *)(void *)((char *)d + k->offset) = true;
		return v ? state_error(sr, "\"%s\" with a value: expected it alone", k->key) : 0;
	}
	if (!v)
		return state_error(sr, "\"%s\" without a value", k->key);
	if (k->kind == DESC_TEXT) {
		if (strlen(v) >= k->size)
			return state_error(sr, "%s longer than %zu bytes", k->key, k->size - 1);
		memcpy((char *)d + k->offset, v, strlen(v) + 1);
		return 0;
	}
	r = state_u64(sr, k->key, v, 10, k->kind == DESC_UINT ? UINT_MAX : UINT64_MAX, &n);
	if (r == 0 && k->kind == DESC_UINT)
		*(unsigned *)(void *)((char *)d + k->offset) = (unsigned)n;
	else if (r == 0)
		*(uint64_t *)(void *)((char *)d + k->offset) = n;
	return r;
}

/*
 * Read a root's description or record (text, len bytes; split in place) as
 * the state file named file: 0, or -EBADMSG with "file:line: ...; what to
 * do" in why (which may be NULL).
 */
static int desc_read(const char *file, char *text, size_t len, struct root_desc *d, struct buf *why)
{
	struct state_reader sr;
	char *line = NULL;
	int r;

	memset(d, 0, sizeof(*d));
	state_reader_init(&sr, file, RECORD_HINT, text, len, why);
	while ((r = state_next_line(&sr, &line)) == 1)
		if (desc_line(&sr, d, line) < 0)
			return -EBADMSG;
	return r < 0 ? -EBADMSG : 0;
}

/* A root's description (the resource's data, which the renderer wrote). */
static int desc_parse(const char *text, struct root_desc *d)
{
	char *copy = strdup(text);
	int r;

	if (!copy)
		return -ENOMEM;
	r = desc_read("the root's description", copy, strlen(copy), d, NULL);
	free(copy);
	return r == -EBADMSG ? -EINVAL : r;
}

/* The record's name in <state>/roots: the root's path with '/' as '.'. */
static void record_name(const char *path, char *out, size_t size)
{
	size_t i;

	snprintf(out, size, "%s", path);
	for (i = 0; out[i]; i++)
		if (out[i] == '/')
			out[i] = '.';
}

/*
 * Read the record of the root at path: 0, -ENOENT, -EBADMSG when damaged
 * (when report, the engine's failure then names the record's line and what
 * to do; engine_failure()).
 */
static int record_read(struct engine *e, const char *path, struct root_desc *ret, bool report)
{
	char name[300], *data = NULL;
	struct buf p = BUF_INIT, why = BUF_INIT;
	size_t len;
	int r;

	record_name(path, name, sizeof(name));
	r = buf_printf(&p, NODEROOT_RECORD_DIR "/%s", name);
	if (r == 0)
		r = file_read_at(e->state_fd, buf_str(&p), RECORD_MAX, &data, &len);
	if (r == 0)
		r = desc_read(buf_str(&p), data, len, ret, &why);
	if (r == -EBADMSG && report)
		snprintf(e->failure, sizeof(e->failure), "%s", buf_str(&why));
	free(data);
	buf_release(&p);
	buf_release(&why);
	return r;
}

/*
 * Write the record as a temp in the records directory dfd (not synced: the
 * caller syncs a whole batch once), left in af for atomic_commit().
 */
static int record_stage(int dfd, const struct plan_item *it, uint64_t ino, uint64_t prev_ino,
			unsigned prev_gen, struct atomic_file *af)
{
	char name[300], stamp[32];
	struct buf b = BUF_INIT;
	time_t now = time(NULL);
	struct tm tm;
	int r;

	record_name(it->res->path, name, sizeof(name));
	if (!gmtime_r(&now, &tm) || strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		return -EINVAL;
	r = buf_printf(&b,
		       "# bramble: what the node root %s was made from\npath %s\nnode %s\n%s"
		       "ino %" PRIu64 "\nprev-ino %" PRIu64 "\nprev-generation %u\ncreated %s\n",
		       it->res->path, it->res->path, it->res->node ? it->res->node : "-",
		       it->res->data, ino, prev_ino, prev_gen, stamp);
	if (r == 0)
		r = atomic_open(af, dfd, name, 0600, ATOMIC_SYNC_NONE);
	if (r == 0)
		r = atomic_write(af, b.data, b.len);
	if (r == 0)
		r = atomic_close(af);
	else
		atomic_abort(af);
	buf_release(&b);
	return r;
}

/* Write the record durably (temp, syncfs, rename, fsync of the directory). */
static int record_write(struct engine *e, const struct plan_item *it, uint64_t ino,
			uint64_t prev_ino)
{
	struct atomic_file af = ATOMIC_FILE_INIT;
	int dfd, r;

	r = dir_open_beneath(e->state_fd, NODEROOT_RECORD_DIR, true, 0700, &dfd);
	if (r < 0)
		return r;
	r = record_stage(dfd, it, ino, prev_ino, 0, &af);
	if (r == 0 && syncfs(dfd) < 0)
		r = -errno;
	if (r == 0)
		r = atomic_commit(&af);
	atomic_abort(&af);
	if (r == 0 && fsync(dfd) < 0)
		r = -errno;
	close(dfd);
	return r;
}

static int record_remove(struct engine *e, const char *path)
{
	char name[300];
	int dfd, r;

	record_name(path, name, sizeof(name));
	r = dir_open_beneath(e->state_fd, NODEROOT_RECORD_DIR, false, 0, &dfd);
	if (r < 0)
		return r == -ENOENT ? 0 : r;
	if (unlinkat(dfd, name, 0) < 0 && errno != ENOENT)
		r = -errno;
	if (r == 0 && fsync(dfd) < 0)
		r = -errno;
	close(dfd);
	return r;
}

static int dir_is_empty(int dfd, const char *name)
{
	struct dirent *de;
	int r, n = 0;
	DIR *d;

	r = dir_opendir_beneath(dfd, name, false, 0, &d);
	if (r < 0)
		return r;
	while ((de = readdir(d)) != NULL && n == 0)
		n += strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
	closedir(d);
	return n == 0;
}

/* A root is recorded by its inode only: its size and mtime are the node's business. */
static void root_sig(struct plan_item *it, const struct stat *st)
{
	it->sig_ino = (uint64_t)st->st_ino;
	it->sig_size = 0;
	it->sig_mtime_ns = 0;
	it->sig_ctime_ns = 0;
	it->sig_fresh = !it->inv || it->inv->type != RES_ROOT || it->inv->sig.ino != it->sig_ino ||
			it->inv->sig.size != 0 || it->inv->sig.mtime_ns != 0 ||
			it->inv->sig.ctime_ns != 0 || !sha256_equal(&it->inv->hash, &it->digest);
}

static void set_op(struct plan_item *it, enum plan_op op, const char *reason)
{
	it->op = op;
	it->reason = reason;
}

static int add_note(struct resource *res, const char *text)
{
	struct buf b = BUF_INIT;
	int r;

	r = buf_printf(&b, "%s%s%s", res->note ? res->note : "", res->note ? "; " : "", text);
	if (r < 0)
		return r;
	free(res->note);
	res->note = buf_detach(&b, NULL);
	return res->note ? 0 : -ENOMEM;
}

/*
 * A private root made from another image than the node's now: kept (it is
 * the node's data), with a warning, since the node boots the new image's
 * kernel.  The inventory keeps the digest of what the root was made from,
 * so the warning stays until the root is re-imaged.
 */
static int judge_private(struct plan_item *it, const struct root_desc *rec,
			 const struct root_desc *want)
{
	struct buf b = BUF_INIT, made = BUF_INIT;
	int r;

	if (rec->generation != want->generation) {
		set_op(it, PLAN_UPDATE, "re-image: root.generation changed");
		return 0;
	}
	set_op(it, PLAN_UNCHANGED, "");
	if (strcmp(rec->image, want->image) == 0 && strcmp(rec->identity, want->identity) == 0)
		return 0;
	r = buf_printf(&b,
		       "made from %s image \"%s\", but the node now boots image \"%s\": its "
		       "kernel may not match the root's modules; bump root.generation to "
		       "re-image (the old root goes to the attic)",
		       strcmp(rec->image, want->image) ? "" : "an older version of", rec->image,
		       want->image);
	if (r == 0)
		r = add_note(it->res, buf_str(&b));
	if (r == 0)
		r = buf_printf(&made, "generation %u\nimage %s\nsource %s\nidentity %s\n",
			       rec->generation, rec->image, rec->source, rec->identity);
	if (r == 0)
		r = sha256_sum(made.data, made.len, &it->digest);
	buf_release(&b);
	buf_release(&made);
	return r;
}

/* A root its record says bramble made (the same inode): as wanted, or to replace. */
static int judge_made(struct plan_item *it, const struct stat *st, const struct root_desc *rec,
		      const struct root_desc *want)
{
	int r;

	/* Made by bramble, but not recorded as settled: a pass died or failed
	 * before every file of bramble's in it was in place. */
	it->unsettled =
		!it->inv || it->inv->type != RES_ROOT || it->inv->sig.ino != (uint64_t)st->st_ino;
	if (!want->shared) {
		r = judge_private(it, rec, want);
		root_sig(it, st); /* against the digest of what the root was made from */
		return r;
	}
	set_op(it, strcmp(rec->identity, want->identity) ? PLAN_UPDATE : PLAN_UNCHANGED,
	       strcmp(rec->identity, want->identity) ? "the image changed: a new copy replaces it"
						     : "");
	return 0;
}

/* Observe a root: see the file comment for the cost. */
int root_observe(struct engine *e, struct plan_item *it, int dfd, const char *name)
{
	struct root_desc want, rec;
	struct stat st;
	int r;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno != ENOENT)
			return -errno;
		set_op(it, PLAN_CREATE,
		       it->inv ? "missing (moved or deleted outside bramble)" : "missing");
		it->drift = it->inv && it->inv->type == RES_ROOT;
		return 0;
	}
	if (!S_ISDIR(st.st_mode)) {
		set_op(it, PLAN_CONFLICT, "exists and is not a directory");
		return 0;
	}
	root_sig(it, &st);
	if (!it->sig_fresh) {
		set_op(it, PLAN_UNCHANGED, "");
		return 0;
	}
	r = desc_parse(it->res->data, &want);
	if (r == 0)
		r = record_read(e, it->res->path, &rec, true);
	if (r < 0 && r != -ENOENT)
		return r;
	if (r == 0 && rec.ino == (uint64_t)st.st_ino)
		return judge_made(it, &st, &rec, &want);
	if (r == 0 && rec.prev_ino == (uint64_t)st.st_ino) {
		set_op(it, PLAN_UPDATE, "re-image interrupted: starting it again");
		return 0;
	}
	r = dir_is_empty(dfd, name);
	if (r < 0)
		return r;
	if (r)
		set_op(it, PLAN_CREATE, "empty: made from the image");
	else
		set_op(it, PLAN_CONFLICT,
		       "holds files and was not made by bramble from the image (--adopt keeps "
		       "it as the node's root)");
	return 0;
}

const char *root_delete_reason(const struct inv_entry *inv)
{
	/* Private roots are <serial>, shared ones shared/<image>. */
	return strchr(inv->path, '/')
		       ? "not used by any node any more"
		       : "not in the repository any more; the root moves to the attic";
}

/* The directory holding a root (the NFS root, or shared/), opened as our own fd. */
static int root_parent(struct engine *e, const char *path, int *ret_fd, const char **ret_name)
{
	const char *slash = strrchr(path, '/');
	struct buf dir = BUF_INIT;
	int r;

	*ret_name = slash ? slash + 1 : path;
	r = buf_add(&dir, path, slash ? (size_t)(slash - path) : 0);
	if (r == 0)
		r = dir_open_beneath(e->root_fd[ROOT_NFS], buf_str(&dir), true, 0755, ret_fd);
	buf_release(&dir);
	return r;
}

/* Copy the image root into a new staging directory; its name goes to stage. */
static int stage_copy(struct engine *e, const struct root_desc *want, int sfd, const char *rname,
		      char stage[320], struct stat *ret_st, struct copy_stats *stats,
		      struct copy_watch *watch)
{
	static atomic_uint counter; /* roots are staged by several threads */
	int src = -1, gfd = -1, r;

	snprintf(stage, 320, "%s.%d.%u", rname, (int)getpid(), atomic_fetch_add(&counter, 1));
	if (mkdirat(sfd, stage, 0700) < 0)
		return -errno;
	gfd = openat(sfd, stage, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	r = gfd < 0 ? -errno : 0;
	if (r == 0)
		r = dir_open_beneath(e->root_fd[ROOT_IMAGES], want->source, false, 0, &src);
	if (r == 0)
		r = tree_copy(src, gfd, (enum copy_mode)e->copy_mode, stats, watch, NULL);
	if (r == 0)
		r = root_identity_reset(gfd);
	/* Not synced here: root_apply_batch() syncs every copy at once before
	 * any is renamed into place. */
	if (r == 0 && fstat(gfd, ret_st) < 0)
		r = -errno;
	if (src >= 0)
		close(src);
	if (gfd >= 0)
		close(gfd);
	/* Stopping: the partial copy is left to the next pass (staging_clean_dead()). */
	if (r < 0 && r != -ECANCELED)
		rm_rf_at(sfd, stage);
	return r;
}

/*
 * Move the root that is in the way: a private root of ours to the attic, a
 * shared one swapped with the new copy and removed, an empty directory
 * removed.  *ret_swapped says the new copy is in place already.
 */
static int retire_old(int pfd, int sfd, const char *name, const char *stage,
		      const struct root_desc *want, const struct root_desc *old, bool *ret_swapped)
{
	int r;

	*ret_swapped = false;
	if (old && want->shared) {
		if (renameat2(sfd, stage, pfd, name, RENAME_EXCHANGE) < 0)
			return -errno;
		*ret_swapped = true;
		return rm_rf_at(sfd, stage);
	}
	if (old)
		return attic_move(pfd, name, name, old->generation, NULL);
	r = dir_is_empty(pfd, name);
	if (r < 0)
		return r == -ENOENT ? 0 : r;
	if (!r)
		return -EEXIST;
	return unlinkat(pfd, name, AT_REMOVEDIR) < 0 ? -errno : 0;
}

/* Keep an existing directory as the node's root (--adopt): record it, copy nothing. */
static int root_adopt(struct engine *e, struct plan_item *it, int pfd, const char *name)
{
	struct stat st;
	int r;

	if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	r = record_write(e, it, (uint64_t)st.st_ino, 0);
	if (r == 0)
		root_sig(it, &st);
	return r;
}

/* One root being made by root_apply_batch(). */
struct root_job {
	struct plan_item *it;
	struct root_desc want, rec;
	bool has_old; /* a root of ours is in the way (rec describes it) */
	uint64_t cur_ino;
	char stage[320];
	struct stat st;
	struct copy_stats stats;
	struct atomic_file rec_af; /* the record's temp, between its stage and commit */
	int r;
};

/*
 * Remove what passes that died left in the staging directory: entries of a
 * process that is gone, and with mine_too this process's own (a daemon's
 * earlier pass that failed; no pass of it is staging now).
 */
static int staging_clean_dead(int sfd, bool mine_too)
{
	struct dirent *de;
	DIR *d = NULL;
	int r;

	r = dir_opendir_dup(sfd, &d);
	if (r < 0)
		return r;
	while (r == 0 && (de = readdir(d)) != NULL) {
		const char *dot = strrchr(de->d_name, '.'), *p;
		char digits[24];
		uint64_t pid = 0;

		if (de->d_name[0] == '.' || !dot)
			continue;
		/* "<record name>.<pid>.<counter>", "new.<pid>.<counter>" (apply.c)
		 * or "old.<pid>.<name>" */
		for (p = dot - 1; p > de->d_name && *p != '.'; p--)
			;
		p = strncmp(de->d_name, "old.", 4) == 0 ? de->d_name + 4 : p + 1;
		snprintf(digits, sizeof(digits), "%.*s", (int)strcspn(p, "."), p);
		if (parse_u64(digits, 10, INT_MAX, &pid) == 0 && pid > 0 &&
		    ((mine_too && (pid_t)pid == getpid()) ||
		     ((pid_t)pid != getpid() && kill((pid_t)pid, 0) < 0 && errno == ESRCH)))
			r = rm_rf_at(dirfd(d), de->d_name);
	}
	closedir(d);
	return r;
}

int root_recover(struct engine *e)
{
	int sfd, r;

	if (e->root_fd[ROOT_NFS] < 0)
		return 0;
	r = dir_open_beneath(e->root_fd[ROOT_NFS], NODEROOT_STAGING, false, 0, &sfd);
	if (r == -ENOENT)
		return 0;
	if (r == 0) {
		r = staging_clean_dead(sfd, true);
		close(sfd);
	}
	if (r == 0 && unlinkat(e->root_fd[ROOT_NFS], NODEROOT_STAGING, AT_REMOVEDIR) < 0 &&
	    errno != ENOTEMPTY && errno != EEXIST)
		r = -errno;
	if (r < 0)
		engine_set_failure(e, "clean the staging directory", ROOT_NFS, NODEROOT_STAGING);
	return r;
}

/*
 * The progress of a batch's copies ("copy roots", progress.h): the bytes
 * of every copy of the batch against the sum of their image roots' sizes,
 * and how many roots are done of how many.  The copies run in several
 * threads; whichever takes the lock reports, the others go on copying (the
 * caller's sink is not thread-safe).
 */
struct roots_meter {
	struct copy_watch w; /* first: the watch's tick finds the meter */
	const struct progress_cb *cb;
	pthread_mutex_t lock;
	atomic_uint_least64_t roots_done;
	uint64_t total, roots;
};

static void roots_report(struct roots_meter *m, bool wait)
{
	struct progress p = {.step = "copy roots"};

	if ((wait ? pthread_mutex_lock(&m->lock) : pthread_mutex_trylock(&m->lock)) != 0)
		return;
	p.done = atomic_load(&m->w.bytes);
	p.total = m->total > p.done ? m->total : p.done; /* a root that grew since measured */
	p.items_done = atomic_load(&m->roots_done);
	p.items_total = m->roots;
	progress_report(m->cb, &p);
	pthread_mutex_unlock(&m->lock);
}

static void roots_tick(struct copy_watch *w)
{
	roots_report((struct roots_meter *)(void *)w, false);
}

/*
 * The meter of the roots of items to copy (not those adopted): each image
 * root measured once (a walk of its tree, a stat per entry), however many
 * roots are copied from it.  A root that cannot be measured counts 0 bytes.
 */
static void roots_meter_init(struct engine *e, struct roots_meter *m, struct plan_item **items,
			     size_t n)
{
	char last[sizeof(((struct root_desc *)0)->source)] = "";
	uint64_t bytes = 0;
	size_t i;

	memset(m, 0, sizeof(*m));
	m->cb = e->progress;
	m->w.tick = roots_tick;
	pthread_mutex_init(&m->lock, NULL);
	for (i = 0; m->cb && i < n; i++) {
		struct root_desc d;
		int fd = -1;

		if (items[i]->op == PLAN_CONFLICT || desc_parse(items[i]->res->data, &d) < 0)
			continue;
		if (strcmp(d.source, last) != 0) {
			bytes = 0;
			if (dir_open_beneath(e->root_fd[ROOT_IMAGES], d.source, false, 0, &fd) == 0)
				(void)tree_bytes(fd, &bytes);
			memcpy(last, d.source, sizeof(last));
		}
		m->total += bytes;
		m->roots++;
	}
}

/* Copy one root into staging and note what is in its place now. */
static int job_stage(struct engine *e, int sfd, struct root_job *j, struct roots_meter *m)
{
	const char *name = NULL;
	char rname[300];
	struct stat cur;
	int pfd, r;

	r = desc_parse(j->it->res->data, &j->want);
	if (r < 0)
		return r;
	record_name(j->it->res->path, rname, sizeof(rname));
	r = root_parent(e, j->it->res->path, &pfd, &name);
	if (r < 0)
		return r;
	r = stage_copy(e, &j->want, sfd, rname, j->stage, &j->st, &j->stats, m->cb ? &m->w : NULL);
	if (r == 0 && m->cb) {
		atomic_fetch_add(&m->roots_done, 1);
		roots_report(m, false);
	}
	if (r == 0 && fstatat(pfd, name, &cur, AT_SYMLINK_NOFOLLOW) == 0 &&
	    record_read(e, j->it->res->path, &j->rec, false) == 0 &&
	    (j->rec.ino == (uint64_t)cur.st_ino || j->rec.prev_ino == (uint64_t)cur.st_ino)) {
		j->has_old = true;
		j->cur_ino = (uint64_t)cur.st_ino;
		/* A re-image started again: the record describes the copy that was
		 * never placed; the root in place is of the generation before. */
		if (j->rec.ino != (uint64_t)cur.st_ino)
			j->rec.generation = j->rec.prev_generation;
	}
	close(pfd);
	return r;
}

/* Roots copied by stage_all()'s threads: each takes the next job not taken. */
struct stage_pool {
	struct engine *e;
	int sfd;
	struct root_job *v;
	size_t n;
	atomic_size_t next;
	struct roots_meter *meter;
};

static void *stage_worker(void *arg)
{
	struct stage_pool *p = arg;
	size_t i;

	while ((i = atomic_fetch_add(&p->next, 1)) < p->n) {
		if (!p->v[i].it)
			continue;
		/* Stopping: no new copy is begun (one under way stops by itself). */
		p->v[i].r =
			stop_requested() ? -ECANCELED : job_stage(p->e, p->sfd, &p->v[i], p->meter);
	}
	return NULL;
}

/*
 * Copy every job's root into staging, several at once where the copies move
 * bytes.  Only the copies run in parallel: each writes its own staging
 * directory and reads the engine's fds, and nothing is synced, recorded or
 * renamed until all have ended (root_apply_batch()), so the order a crash
 * depends on is the same as with one copy at a time.  Each copy polls the
 * stop flag between entries.  Reflinked copies (XFS) run in parallel too:
 * a reflink locks the source file, and under a load of 30 two copies at a
 * time cost more than one (a rule of one at a time came of it), but on a
 * quiet machine 20 roots take 4.0 s two at a time against 5.8 s one at a
 * time, for 16% more CPU (docs/benchmarks.md).  Returns how many were staged.
 */
static size_t stage_all(struct engine *e, int sfd, struct root_job *v, size_t n,
			struct roots_meter *m)
{
	struct stage_pool p = {e, sfd, v, n, 0, m};
	pthread_t tid[STAGE_THREADS_MAX];
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	size_t i, want, started = 0, staged = 0;

	want = cpus < 1 ? 1 : cpus > (long)STAGE_THREADS_MAX ? STAGE_THREADS_MAX : (size_t)cpus;
	if (want > n - p.next)
		want = n - p.next;
	/* The calling thread is one of them; a thread that cannot start is one fewer. */
	while (started + 1 < want && pthread_create(&tid[started], NULL, stage_worker, &p) == 0)
		started++;
	stage_worker(&p);
	for (i = 0; i < started; i++)
		pthread_join(tid[i], NULL);
	for (i = 0; i < n; i++)
		staged += v[i].it && v[i].r == 0;
	if (m->cb && m->roots)
		roots_report(m, true);
	return staged;
}

/* Put one staged root in place (its record is committed already). */
static int job_place(struct engine *e, int sfd, struct root_job *j)
{
	const char *name = NULL;
	bool swapped = false;
	int pfd, r;

	r = root_parent(e, j->it->res->path, &pfd, &name);
	if (r < 0)
		return r;
	r = retire_old(pfd, sfd, name, j->stage, &j->want, j->has_old ? &j->rec : NULL, &swapped);
	if (r == 0 && !swapped && renameat(sfd, j->stage, pfd, name) < 0)
		r = -errno;
	if (r < 0 && !swapped)
		rm_rf_at(sfd, j->stage);
	if (r == 0)
		root_sig(j->it, &j->st);
	close(pfd);
	return r;
}

/* fsync the directories roots were renamed into: the NFS root and shared/. */
static int sync_parents(struct engine *e, const struct root_job *v, size_t n)
{
	bool top = false, shared = false;
	size_t i;
	int r = 0, fd;

	for (i = 0; i < n; i++) {
		if (v[i].r < 0 || !v[i].it->res)
			continue;
		if (strchr(v[i].it->res->path, '/'))
			shared = true;
		else
			top = true;
	}
	if (top && fsync(e->root_fd[ROOT_NFS]) < 0)
		r = -errno;
	if (shared && dir_open_beneath(e->root_fd[ROOT_NFS], "shared", false, 0, &fd) == 0) {
		if (fsync(fd) < 0 && r == 0)
			r = -errno;
		close(fd);
	}
	return r;
}

/*
 * Stage each job: a copy of its image in staging, or (a conflict applied
 * with --adopt) the record of the root that is there.  Returns how many
 * were copied.
 */
static size_t jobs_stage(struct engine *e, int sfd, struct plan_item **items, struct root_job *v,
			 size_t n)
{
	struct roots_meter m;
	size_t i, staged;

	for (i = 0; i < n; i++) {
		const char *name = NULL;
		int pfd;

		v[i].it = items[i];
		if (items[i]->op == PLAN_CONFLICT) { /* --adopt: record what is there */
			v[i].r = root_parent(e, items[i]->res->path, &pfd, &name);
			if (v[i].r == 0) {
				v[i].r = root_adopt(e, items[i], pfd, name);
				close(pfd);
			}
			v[i].it = NULL;
		}
	}
	roots_meter_init(e, &m, items, n);
	staged = stage_all(e, sfd, v, n, &m);
	pthread_mutex_destroy(&m.lock);
	return staged;
}

/*
 * The records of the staged jobs in the records directory rfd: every one
 * written as a temp, one syncfs, every one renamed, one fsync of rfd.
 */
static int jobs_record(int rfd, struct root_job *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (v[i].it && v[i].r == 0)
			v[i].r = record_stage(rfd, v[i].it, (uint64_t)v[i].st.st_ino,
					      v[i].has_old ? v[i].cur_ino : 0,
					      v[i].has_old ? v[i].rec.generation : 0, &v[i].rec_af);
	if (syncfs(rfd) < 0)
		return -errno;
	for (i = 0; i < n; i++)
		if (v[i].it && v[i].r == 0)
			v[i].r = atomic_commit(&v[i].rec_af);
	return fsync(rfd) < 0 ? -errno : 0;
}

/*
 * After the batch (r: its result as a whole): each job's result in errs,
 * the temps not committed and the copies not placed removed, and staging
 * when it is empty.
 */
static int jobs_finish(struct engine *e, struct root_job *v, size_t n, int sfd, int r, int *errs)
{
	size_t i;

	for (i = 0; i < n; i++) {
		atomic_abort(&v[i].rec_af); /* a temp not committed */
		if (r < 0 && r != -ECANCELED && v[i].it && v[i].r == 0 && v[i].stage[0] && sfd >= 0)
			rm_rf_at(sfd, v[i].stage); /* not placed: a failed sync */
		errs[i] = r < 0 && v[i].it && v[i].r == 0 ? r : v[i].r;
	}
	if (sfd < 0)
		return r;
	/* Not empty: another pass's copy, or one that could not be removed. */
	if (unlinkat(e->root_fd[ROOT_NFS], NODEROOT_STAGING, AT_REMOVEDIR) < 0 &&
	    errno != ENOTEMPTY && errno != EEXIST && r == 0) {
		r = -errno;
		engine_set_failure(e, "remove", ROOT_NFS, NODEROOT_STAGING);
	}
	close(sfd);
	return r;
}

/*
 * Make every root of items at once, durably but without a sync per root:
 * copy each into staging; one syncfs; write every record as a temp; one
 * syncfs; rename the records; fsync their directory; rename each root into
 * place (retiring the old one to the attic); fsync the parents.  A crash
 * leaves staging (cleaned by a later pass) or records whose prev-ino names
 * the old root, which the next pass recognises.  errs[i] gets each item's
 * result.
 */
int root_apply_batch(struct engine *e, struct plan_item **items, size_t n, int *errs)
{
	struct root_job *v = calloc(n ? n : 1, sizeof(*v));
	size_t i, staged = 0;
	int sfd = -1, rfd = -1, r;

	if (!v)
		return -ENOMEM;
	/* Roots are replaced and moved: no cached directory may point into one. */
	engine_parent_forget(e);
	for (i = 0; i < n; i++) {
		v[i].it = items[i]; /* a failure before its turn is its failure too */
		v[i].rec_af = (struct atomic_file)ATOMIC_FILE_INIT;
	}
	r = dir_open_beneath(e->root_fd[ROOT_NFS], NODEROOT_STAGING, true, 0700, &sfd);
	if (r == 0)
		r = dir_open_beneath(e->state_fd, NODEROOT_RECORD_DIR, true, 0700, &rfd);
	if (r == 0)
		r = staging_clean_dead(sfd, false);
	if (r == 0)
		staged = jobs_stage(e, sfd, items, v, n);
	/* The daemon's SIGTERM: no sync, no rename; the copies are a dead pass's next time. */
	if (staged && stop_requested())
		r = -ECANCELED;
	/* Nothing is renamed into place before it is on disk. */
	if (r == 0 && staged && syncfs(sfd) < 0)
		r = -errno;
	if (r == 0 && staged)
		r = jobs_record(rfd, v, n);
	for (i = 0; r == 0 && i < n; i++)
		if (v[i].it && v[i].r == 0)
			v[i].r = job_place(e, sfd, &v[i]);
	if (r == 0 && staged)
		r = sync_parents(e, v, n);
	if (r == 0 && staged && fsync(sfd) < 0)
		r = -errno;
	r = jobs_finish(e, v, n, sfd, r, errs);
	engine_parent_forget(e);
	if (rfd >= 0)
		close(rfd);
	free(v);
	return r;
}

int root_remove(struct engine *e, const struct inv_entry *inv)
{
	const char *name = NULL;
	struct root_desc rec;
	char stage[320];
	struct stat st;
	bool ours;
	int pfd, sfd, r;

	engine_parent_forget(e); /* the root moves: nothing cached may point into it */
	r = root_parent(e, inv->path, &pfd, &name);
	if (r < 0)
		return r;
	if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		r = errno == ENOENT ? 0 : -errno;
		goto out;
	}
	memset(&rec, 0, sizeof(rec));
	r = record_read(e, inv->path, &rec, false);
	ours = (r == 0 && rec.ino == (uint64_t)st.st_ino) || inv->sig.ino == (uint64_t)st.st_ino;
	r = 0;
	/* Something else took its place: not ours to move. */
	if (!ours || !S_ISDIR(st.st_mode))
		goto out;
	if (strchr(inv->path, '/')) {
		/* A shared copy is bramble's own: out of sight at once, then removed. */
		r = dir_open_beneath(e->root_fd[ROOT_NFS], NODEROOT_STAGING, true, 0700, &sfd);
		if (r < 0)
			goto out;
		snprintf(stage, sizeof(stage), "old.%d.%s", (int)getpid(), name);
		r = renameat(pfd, name, sfd, stage) < 0 ? -errno : rm_rf_at(sfd, stage);
		close(sfd);
		if (unlinkat(e->root_fd[ROOT_NFS], NODEROOT_STAGING, AT_REMOVEDIR) < 0 &&
		    errno != ENOTEMPTY && errno != EEXIST && r == 0)
			r = -errno;
	} else {
		r = attic_move(pfd, name, name, rec.generation, NULL);
	}
	if (r == 0)
		r = record_remove(e, inv->path);
out:
	close(pfd);
	return r;
}
