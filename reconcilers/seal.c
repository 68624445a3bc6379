/*
 * seal: see seal.h.  The seal is a text file in the state directory:
 *
 *	# bramble seal 1
 *	key <sha256 of the inputs>
 *	counts <unchanged> <nodes total> <nodes ready>
 *	<kind> <root> <ino> <size> <mtime ns> <ctime ns> <mode> <path>
 *	...
 *	end <number of entries>
 *
 * kind S: everything must be equal (files, links, generation directories,
 * the image's files); kind D: a directory bramble only needs to exist with
 * its mode (a node's root: the node writes in it).  A file without its
 * "end" line (torn by a crash) is no seal.
 */
#include "seal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "engine_int.h"
#include "log.h"
#include "../common/buf.h"
#include "../common/fsutil.h"

#define SEAL_MAGIC    "# bramble seal 1\n"
#define SEAL_TMP      "seal.tmp"
#define SEAL_MAX_SIZE ((size_t)512 << 20)
#define RACY_NS	      1000000000LL
#define SEAL_CHUNK    ((size_t)64 << 10)

int seal_deps_add(struct seal_deps *d, unsigned root, const char *path)
{
	if (d->n == d->cap) {
		size_t c = d->cap ? d->cap * 2 : 16;
		struct seal_dep *v = realloc(d->v, c * sizeof(*v));

		if (!v)
			return -ENOMEM;
		d->v = v;
		d->cap = c;
	}
	d->v[d->n].root = root;
	d->v[d->n].path = strdup(path);
	if (!d->v[d->n].path)
		return -ENOMEM;
	d->n++;
	return 0;
}

void seal_deps_release(struct seal_deps *d)
{
	size_t i;

	for (i = 0; i < d->n; i++)
		free(d->v[i].path);
	free(d->v);
	d->v = NULL;
	d->n = d->cap = 0;
}

void seal_remove(int state_fd)
{
	if (unlinkat(state_fd, SEAL_FILE, 0) < 0 && errno != ENOENT)
		log_debug("cannot remove the seal: %s", strerror(errno));
}

static int64_t ts_ns(const struct timespec *t)
{
	return (int64_t)t->tv_sec * 1000000000 + t->tv_nsec;
}

/* ------------------------------------------------------------------ write */

struct sealer {
	struct buf out; /* flushed to out_fd as it fills: a seal is not held whole */
	int out_fd;
	const int *fd;	   /* per root */
	char *last_parent; /* "<root>:<dir>" of the last tree link recorded */
	int64_t racy_after_ns;
	size_t n;
	const char *why; /* set when the pass cannot be sealed */
};

static int __attribute__((format(printf, 2, 3))) sealer_add(struct sealer *s, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = buf_vprintf(&s->out, fmt, ap);
	va_end(ap);
	if (r == 0 && s->out.len >= SEAL_CHUNK) {
		r = write_all(s->out_fd, buf_str(&s->out), s->out.len);
		buf_truncate(&s->out, 0);
	}
	return r;
}

/*
 * Record path (beneath root, or absolute) as it is now.  expect, when given,
 * is what the plan saw: a path that changed since is not sealed.
 */
static int seal_entry(struct sealer *s, char kind, unsigned root, const char *path,
		      const struct plan_item *expect)
{
	struct stat st;
	int64_t mt, ct;
	int dfd = root == SEAL_ABSPATH ? AT_FDCWD : s->fd[root];

	if (s->why)
		return 0;
	if ((root != SEAL_ABSPATH && dfd < 0) || strchr(path, '\n')) { /* AT_FDCWD is < 0 */
		s->why = "a path cannot be recorded";
		return 0;
	}
	if (fstatat(dfd, path, &st, root == SEAL_ABSPATH ? 0 : AT_SYMLINK_NOFOLLOW) < 0) {
		s->why = "a path is missing";
		return 0;
	}
	mt = ts_ns(&st.st_mtim);
	ct = ts_ns(&st.st_ctim);
	if (kind == 'S' && (mt >= s->racy_after_ns || ct >= s->racy_after_ns)) {
		s->why = "a path changed less than a second ago";
		return 0;
	}
	if (kind == 'S' && expect &&
	    (expect->sig_mtime_ns == 0 || expect->sig_ino != (uint64_t)st.st_ino ||
	     expect->sig_size != (int64_t)st.st_size || expect->sig_mtime_ns != mt)) {
		s->why = "a path changed during the pass";
		return 0;
	}
	s->n++;
	return sealer_add(s, "%c %u %" PRIu64 " %" PRId64 " %" PRId64 " %" PRId64 " %o %s\n", kind,
			  root, (uint64_t)st.st_ino, (int64_t)st.st_size, mt, ct,
			  (unsigned)st.st_mode, path);
}

/*
 * A tree's link can only be replaced, never changed in place, and replacing
 * or removing it changes its directory: one entry for that directory holds
 * for every link in it.
 */
static int seal_link_dir(struct sealer *s, const struct resource *res)
{
	const char *slash = strrchr(res->path, '/');
	struct buf key = BUF_INIT;
	int r;

	r = buf_printf(&key, "%u:%.*s", res->root, slash ? (int)(slash - res->path) : 1,
		       slash ? res->path : ".");
	if (r < 0)
		return r;
	if (s->last_parent && strcmp(s->last_parent, buf_str(&key)) == 0) {
		buf_release(&key);
		return 0;
	}
	free(s->last_parent);
	s->last_parent = buf_detach(&key, NULL);
	if (!s->last_parent)
		return -ENOMEM;
	return seal_entry(s, 'S', res->root, strchr(s->last_parent, ':') + 1, NULL);
}

static int seal_tree(struct sealer *s, const struct plan_item *it)
{
	const struct resource *res = it->res;
	struct buf p = BUF_INIT;
	size_t i, k = 0;
	int r;

	r = seal_link_dir(s, res);
	if (r == 0)
		r = seal_entry(s, 'S', res->root, it->gendir, it);
	/* Hard links are covered by the generation directory (no entry added,
	 * removed or replaced) and by the image's own files (deps). */
	for (i = 0; r == 0 && i < res->n_children; i++) {
		const struct resource *c = &res->children[i];
		const struct plan_item *ci = NULL;

		if (c->type == RES_HARDLINK)
			continue;
		if (k < it->n_children && it->children[k].res == c)
			ci = &it->children[k++];
		buf_truncate(&p, 0);
		r = buf_printf(&p, "%s/%s", it->gendir, c->path);
		if (r == 0)
			r = seal_entry(s, 'S', res->root, buf_str(&p), ci);
	}
	buf_release(&p);
	return r;
}

static int seal_item(struct sealer *s, const struct plan_item *it)
{
	const struct resource *res = it->res;

	if (it->op != PLAN_UNCHANGED || !res) {
		s->why = "the pass changed something";
		return 0;
	}
	switch (res->type) {
	case RES_TREE:
		return seal_tree(s, it);
	case RES_DIR:
	case RES_ROOT: /* a node root: its directory, as any other */
		return seal_entry(s, 'D', res->root, res->path, NULL);
	case RES_FILE:
	case RES_SYMLINK:
	case RES_HARDLINK:
		return seal_entry(s, 'S', res->root, res->path, it);
	}
	return -EINVAL;
}

int seal_write(struct engine *e, const struct plan *p, const struct seal_deps *deps,
	       const char key[SHA256_HEX_LEN + 1], const struct seal_counts *counts)
{
	struct sealer s;
	struct timespec now;
	size_t i;
	int r = 0;

	seal_remove(e->state_fd);
	if (plan_has_changes(p) || p->n_conflict || p->n_keep)
		return 0;
	memset(&s, 0, sizeof(s));
	s.out = (struct buf)BUF_INIT;
	s.fd = e->root_fd;
	clock_gettime(CLOCK_REALTIME, &now);
	s.racy_after_ns = ts_ns(&now) - RACY_NS;
	/* No fsync: a seal lost in a crash only costs one full pass, and a torn
	 * one has no "end" line. */
	s.out_fd = openat(e->state_fd, SEAL_TMP,
			  O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (s.out_fd < 0)
		return -errno;
	r = sealer_add(&s, SEAL_MAGIC "key %s\ncounts %zu %zu %zu\n", key, counts->unchanged,
		       counts->nodes_total, counts->nodes_ready);
	for (i = 0; r == 0 && !s.why && i < p->n_items; i++)
		r = seal_item(&s, &p->items[i]);
	for (i = 0; r == 0 && !s.why && deps && i < deps->n; i++)
		r = seal_entry(&s, 'S', deps->v[i].root, deps->v[i].path, NULL);
	if (r == 0 && !s.why)
		r = buf_printf(&s.out, "end %zu\n", s.n);
	if (r == 0 && !s.why)
		r = write_all(s.out_fd, buf_str(&s.out), s.out.len);
	if (close(s.out_fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && !s.why && renameat(e->state_fd, SEAL_TMP, e->state_fd, SEAL_FILE) < 0)
		r = -errno;
	if (r < 0 || s.why)
		unlinkat(e->state_fd, SEAL_TMP, 0);
	if (s.why)
		log_debug("not sealing this pass: %s", s.why);
	free(s.last_parent);
	buf_release(&s.out);
	return r < 0 ? r : s.why ? 0 : 1;
}

/* ------------------------------------------------------------------ check */

/* One number and the space after it; false when there is none. */
static bool field(char **p, int base, uint64_t *ret)
{
	char *end;

	if (**p < '0' || **p > '9')
		return false;
	errno = 0;
	*ret = strtoull(*p, &end, base);
	if (errno || *end != ' ')
		return false;
	*p = end + 1;
	return true;
}

static bool line_holds(char *line, const int *fd)
{
	uint64_t root, ino, size, mt, ct, mode;
	char kind = line[0], *p = line + 2;
	struct stat st;

	if ((kind != 'S' && kind != 'D') || line[1] != ' ' || !field(&p, 10, &root) ||
	    !field(&p, 10, &ino) || !field(&p, 10, &size) || !field(&p, 10, &mt) ||
	    !field(&p, 10, &ct) || !field(&p, 8, &mode) || !*p || root > SEAL_ABSPATH)
		return false;
	if (root < SEAL_ABSPATH && fd[root] < 0)
		return false;
	if (fstatat(root == SEAL_ABSPATH ? AT_FDCWD : fd[root], p, &st,
		    root == SEAL_ABSPATH ? 0 : AT_SYMLINK_NOFOLLOW) < 0)
		return false;
	if ((uint64_t)st.st_ino != ino || (uint64_t)st.st_mode != mode)
		return false;
	if (kind == 'D')
		return true;
	return (uint64_t)st.st_size == size && (uint64_t)ts_ns(&st.st_mtim) == mt &&
	       (uint64_t)ts_ns(&st.st_ctim) == ct;
}

int seal_check(int state_fd, const char *const root_path[ROOT_COUNT],
	       const char key[SHA256_HEX_LEN + 1], struct seal_counts *counts)
{
	int fd[ROOT_COUNT];
	char *data = NULL, *line, *next = NULL, want[SHA256_HEX_LEN + 8];
	size_t len = 0, n = 0, i, end = (size_t)-1;
	int r;

	for (i = 0; i < ROOT_COUNT; i++)
		fd[i] = -1;
	r = file_read_at(state_fd, SEAL_FILE, SEAL_MAX_SIZE, &data, &len);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	snprintf(want, sizeof(want), "key %s\n", key);
	line = data + strlen(SEAL_MAGIC);
	if (len < strlen(SEAL_MAGIC) || memcmp(data, SEAL_MAGIC, strlen(SEAL_MAGIC)) != 0 ||
	    strncmp(line, want, strlen(want)) != 0 || data[len - 1] != '\n') {
		r = 0;
		goto out;
	}
	line += strlen(want);
	if (sscanf(line, "counts %zu %zu %zu", &counts->unchanged, &counts->nodes_total,
		   &counts->nodes_ready) != 3) {
		r = 0;
		goto out;
	}
	for (i = 0; i < ROOT_COUNT; i++)
		if (root_path[i])
			fd[i] = open(root_path[i], O_PATH | O_DIRECTORY | O_CLOEXEC);
	r = 1;
	for (line = strchr(line, '\n') + 1; r == 1 && line < data + len; line = next) {
		next = strchr(line, '\n');
		*next++ = '\0';
		if (strncmp(line, "end ", 4) == 0) {
			end = strtoul(line + 4, NULL, 10);
			break;
		}
		if (!line_holds(line, fd)) {
			log_debug("seal broken at: %s", line);
			r = 0;
		}
		n++;
	}
	if (r == 1 && (end != n || next != data + len))
		r = 0;
out:
	for (i = 0; i < ROOT_COUNT; i++)
		if (fd[i] >= 0)
			close(fd[i]);
	free(data);
	return r;
}
