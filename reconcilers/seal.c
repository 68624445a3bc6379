/*
 * seal: see seal.h.  The seal is a text file in the state directory:
 *
 *	# bramble seal 2
 *	key <sha256 of every input>
 *	base <sha256 of every input but the manifests>
 *	counts <unchanged> <nodes total> <nodes ready>
 *	f <sha256> <O|N> <manifest file>                 (sorted by name)
 *	n <file> <line> <col> <resources> <document digest> <name> <serial> <mac>
 *	  <ip> <hostname> <model>
 *	  <image> <root mode> <first boot 0|1> <owners>  (one line; by name)
 *	<kind> <owner> <root> <ino> <size> <mtime ns> <ctime ns> <mode> <path>
 *	end <number of entries>
 *
 * A missing MAC, address, owner list or entry owner is "*" (no name is: a
 * name is made of [A-Za-z0-9._-]).  The owner "/" marks a directory of boot
 * links, which every node shares and a delta pass records again.
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
#include "reconciler.h"
#include "buf.h"
#include "atomic.h"
#include "fsutil.h"
#include "parse.h"

#define SEAL_MAGIC    "# bramble seal 2\n"
#define SEAL_MAX_SIZE ((size_t)512 << 20)
#define RACY_NS	      1000000000LL
#define SEAL_CHUNK    ((size_t)64 << 10)
#define NO_OWNER      "*"
#define LINK_DIR      "/"

int seal_deps_add(struct seal_deps *d, unsigned root, const char *path, const char *node)
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
	d->v[d->n].node = node ? strdup(node) : NULL;
	if (!d->v[d->n].path || (node && !d->v[d->n].node)) {
		free(d->v[d->n].path);
		free(d->v[d->n].node);
		return -ENOMEM;
	}
	d->n++;
	return 0;
}

void seal_deps_release(struct seal_deps *d)
{
	size_t i;

	for (i = 0; i < d->n; i++) {
		free(d->v[i].path);
		free(d->v[i].node);
	}
	free(d->v);
	d->v = NULL;
	d->n = d->cap = 0;
}

int seal_remove(int state_fd)
{
	return unlinkat(state_fd, SEAL_FILE, 0) < 0 && errno != ENOENT ? -errno : 0;
}

static int64_t ts_ns(const struct timespec *t)
{
	return (int64_t)t->tv_sec * 1000000000 + t->tv_nsec;
}

/* ------------------------------------------------------------------ write */

struct sealer {
	struct buf out; /* flushed to out_fd as it fills: a seal is never held whole */
	int out_fd;
	const int *fd;	  /* per root */
	char **link_dirs; /* "<root>:<dir>" of each directory of links recorded */
	size_t n_link_dirs;
	int64_t racy_after_ns;
	int64_t racy_found_ns; /* what the pass found in place (expect): this old at least */
	size_t n;
	const char *why; /* set when the pass cannot be sealed */
};

/* Write what is not written yet (at least a chunk of it, unless all). */
static int sealer_flush(struct sealer *s, bool all)
{
	int r;

	if (!all && s->out.len < SEAL_CHUNK)
		return 0;
	r = write_all(s->out_fd, s->out.data, s->out.len);
	buf_truncate(&s->out, 0);
	return r;
}

static int __attribute__((format(printf, 2, 3))) sealer_add(struct sealer *s, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = buf_vprintf(&s->out, fmt, ap);
	va_end(ap);
	return r == 0 ? sealer_flush(s, false) : r;
}

static int64_t now_ns(clockid_t clock)
{
	struct timespec t;

	clock_gettime(clock, &t);
	return ts_ns(&t);
}

/*
 * A delta pass seals what it has just written.  A file system stamps a
 * change with the coarse clock (or finer), so once that clock has moved past
 * the moment the pass's writes ended, any later change carries a later time
 * than any the pass recorded: wait for that (one clock tick, a few ms) and
 * vouch for what is older.  done: that moment (ns since the epoch); returns
 * it, or a moment that vouches for nothing recent.
 */
static int64_t settled_after(int64_t done)
{
	struct timespec tick = {0, 500000};
	int i;

	for (i = 0; now_ns(CLOCK_REALTIME_COARSE) <= done; i++) {
		if (i == 200) /* the clock was set back: vouch for nothing recent */
			return done - RACY_NS;
		nanosleep(&tick, NULL);
	}
	return done;
}

/* Words, each followed by a space but the last, which ends the line. */
static int sealer_words(struct sealer *s, const char *const *w, size_t n)
{
	size_t i;
	int r = 0;

	for (i = 0; r == 0 && i < n; i++) {
		r = buf_adds(&s->out, w[i]);
		if (r == 0)
			r = buf_addch(&s->out, i + 1 == n ? '\n' : ' ');
	}
	return r == 0 ? sealer_flush(s, false) : r;
}

/*
 * Record path (beneath root, or absolute) as it is now.  expect, when given,
 * is what the plan saw: a path that changed since is not sealed.
 */
static int seal_entry(struct sealer *s, char kind, const char *owner, unsigned root,
		      const char *path, const struct plan_item *expect)
{
	struct stat st;
	int64_t mt, ct, racy;
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
	if (kind == 'S' && expect &&
	    (expect->sig_mtime_ns == 0 || expect->sig_ino != (uint64_t)st.st_ino ||
	     expect->sig_size != (int64_t)st.st_size || expect->sig_mtime_ns != mt)) {
		s->why = "a path changed during the pass";
		return 0;
	}
	racy = expect && s->racy_found_ns < s->racy_after_ns ? s->racy_found_ns : s->racy_after_ns;
	if (kind == 'S' &&
	    (mt >= racy || ct >= racy || (st.st_mtim.tv_nsec == 0 && mt >= racy - RACY_NS))) {
		s->why = "a path changed too recently";
		return 0;
	}
	s->n++;
	return sealer_add(s, "%c %s %u %" PRIu64 " %" PRId64 " %" PRId64 " %" PRId64 " %o %s\n",
			  kind, owner, root, (uint64_t)st.st_ino, (int64_t)st.st_size, mt, ct,
			  (unsigned)st.st_mode, path);
}

/*
 * A tree's link can only be replaced, never changed in place, and replacing
 * or removing it changes its directory: one entry for that directory holds
 * for every link in it.
 */
static int seal_link_dir(struct sealer *s, unsigned root, const char *dir)
{
	struct buf key = BUF_INIT;
	size_t i;
	char **v;
	int r;

	r = buf_printf(&key, "%u:%s", root, dir);
	if (r < 0)
		return r;
	for (i = 0; i < s->n_link_dirs; i++)
		if (strcmp(s->link_dirs[i], buf_str(&key)) == 0) {
			buf_release(&key);
			return 0;
		}
	v = realloc(s->link_dirs, (s->n_link_dirs + 1) * sizeof(*v));
	if (!v) {
		buf_release(&key);
		return -ENOMEM;
	}
	s->link_dirs = v;
	s->link_dirs[s->n_link_dirs++] = buf_detach(&key, NULL);
	if (!s->link_dirs[s->n_link_dirs - 1])
		return -ENOMEM;
	return seal_entry(s, 'S', LINK_DIR, root, dir, NULL);
}

static int seal_tree(struct sealer *s, const struct plan_item *it, const char *owner)
{
	const struct resource *res = it->res;
	const char *slash = strrchr(res->path, '/');
	const struct plan_item *expect = it->op == PLAN_UNCHANGED ? it : NULL;
	struct child_walk w = {res, 0, 0};
	const struct resource *c;
	struct buf p = BUF_INIT;
	size_t k = 0;
	int r;

	r = buf_printf(&p, "%.*s", slash ? (int)(slash - res->path) : 1, slash ? res->path : ".");
	if (r == 0)
		r = seal_link_dir(s, res->root, buf_str(&p));
	if (r == 0)
		r = seal_entry(s, 'S', owner, res->root, it->gendir, expect);
	/* Hard links are covered by the generation directory (no entry added,
	 * removed or replaced) and by the image's own files (deps). */
	while (r == 0 && (c = child_walk_next(&w)) != NULL) {
		const struct plan_item *ci = NULL;

		if (c->type == RES_HARDLINK)
			continue;
		if (k < it->n_children && it->children[k].res == c)
			ci = &it->children[k++];
		buf_truncate(&p, 0);
		r = buf_printf(&p, "%s/%s", it->gendir, c->path);
		if (r == 0)
			r = seal_entry(s, 'S', owner, res->root, buf_str(&p),
				       expect && ci && ci->op == PLAN_UNCHANGED ? ci : NULL);
	}
	buf_release(&p);
	return r;
}

static int seal_item(struct sealer *s, const struct plan_item *it)
{
	const struct resource *res = it->res;
	const char *owner = res && res->node ? res->node : NO_OWNER;
	const struct plan_item *expect = it->op == PLAN_UNCHANGED ? it : NULL;

	if (!res || (it->op != PLAN_UNCHANGED && !it->applied)) {
		s->why = "the pass left something to do";
		return 0;
	}
	switch (res->type) {
	case RES_TREE:
		return seal_tree(s, it, owner);
	case RES_DIR:
	case RES_ROOT: /* a node root: its directory, as any other */
		return seal_entry(s, 'D', owner, res->root, res->path, NULL);
	case RES_FILE:
	case RES_SYMLINK:
	case RES_HARDLINK:
		return seal_entry(s, 'S', owner, res->root, res->path, expect);
	}
	return -EINVAL;
}

static int node_index(const struct manifest_set *set, const char *name)
{
	size_t lo = 0, hi = set->n_nodes;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(name, set->nodes[mid]->name);

		if (c == 0)
			return (int)mid;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return -1;
}

/* Per node: the reconcilers it has resources of (bits of reconcilers[]), and how many. */
struct node_res {
	unsigned owners;
	size_t n;
};

static struct node_res *node_resources(const struct plan *p, const struct manifest_set *set)
{
	struct node_res *v = calloc(set->n_nodes + 1, sizeof(*v));
	size_t i, k;

	for (i = 0; v && i < p->n_items; i++) {
		const struct resource *res = p->items[i].res;
		int n;

		if (!res || !res->node || (n = node_index(set, res->node)) < 0)
			continue;
		v[n].n++;
		for (k = 0; res->owner && k < n_reconcilers; k++)
			if (strcmp(reconcilers[k]->name, res->owner) == 0)
				v[n].owners |= 1u << k;
	}
	return v;
}

static int seal_files(struct sealer *s, const struct seal_input *in)
{
	size_t i;
	int r = 0;

	for (i = 0; r == 0 && i < in->n_files; i++) {
		if (strchr(in->files[i].name, '\n'))
			s->why = "a manifest file name cannot be recorded";
		else
			r = sealer_add(s, "f %s %c %s\n", in->files[i].digest,
				       in->files[i].other ? 'O' : 'N', in->files[i].name);
	}
	return r;
}

static int seal_node(struct sealer *s, const struct seal_input *in, const struct node *n,
		     const struct node_res *nr)
{
	const struct seal_file *f = seal_file_find(in->files, in->n_files, n->pos.file);
	struct buf owners = BUF_INIT;
	char idx[24], line[12], col[12], nres[24];
	const char *w[16];
	size_t k;
	int r = 0;

	if (!f) {
		s->why = "a node's file is not among the manifests";
		return 0;
	}
	if (n->stub)
		r = buf_adds(&owners, n->stub_owners);
	for (k = 0; r == 0 && !n->stub && k < n_reconcilers; k++)
		if (nr->owners & (1u << k))
			r = buf_printf(&owners, "%s%s", owners.len ? "," : "",
				       reconcilers[k]->name);
	/* 10,000 of these: words, not printf. */
	snprintf(idx, sizeof(idx), "%zu", (size_t)(f - in->files));
	snprintf(line, sizeof(line), "%u", n->pos.line);
	snprintf(col, sizeof(col), "%u", n->pos.col);
	snprintf(nres, sizeof(nres), "%zu", n->stub ? n->stub_resources : nr->n);
	w[0] = "n";
	w[1] = idx;
	w[2] = line;
	w[3] = col;
	w[4] = nres;
	w[5] = *n->doc_digest ? n->doc_digest : NO_OWNER;
	w[6] = n->name;
	w[7] = n->serial;
	w[8] = n->has_mac ? n->mac_str : NO_OWNER;
	w[9] = n->has_ip ? n->ip_str : NO_OWNER;
	w[10] = n->hostname;
	w[11] = pi_model_name(n->model);
	w[12] = n->image->name;
	w[13] = root_mode_name(n->root_mode);
	w[14] = (n->stub ? n->stub_first_boot : first_boot_is_set(&n->first_boot)) ? "1" : "0";
	w[15] = owners.len ? buf_str(&owners) : NO_OWNER;
	if (r == 0)
		r = sealer_words(s, w, 16);
	buf_release(&owners);
	return r;
}

static int seal_nodes(struct sealer *s, const struct plan *p, const struct seal_input *in)
{
	struct node_res *v = node_resources(p, in->set);
	size_t i;
	int r = 0;

	if (!v)
		return -ENOMEM;
	for (i = 0; r == 0 && !s->why && i < in->set->n_nodes; i++)
		r = seal_node(s, in, in->set->nodes[i], &v[i]);
	free(v);
	return r;
}

bool seal_entry_owned_by(const struct seal_entry *e, const char *name)
{
	return strlen(name) == e->owner_len &&
	       strncmp(seal_entry_owner(e), name, e->owner_len) == 0;
}

/*
 * A delta pass: the entries of the nodes outside it, as they were (the
 * check before the pass proved them), and the directories of links again.
 */
static int seal_carry(struct sealer *s, const struct seal_input *in)
{
	const char *last = NULL; /* a node's entries follow each other: look it up once */
	size_t i, last_len = 0;
	char name[256];
	int r = 0, k = -1;

	for (i = 0; r == 0 && !s->why && i < in->prev->n_entries; i++) {
		const struct seal_entry *e = &in->prev->entries[i];
		const char *owner = seal_entry_owner(e), *line = seal_entry_line(e);

		if (seal_entry_owned_by(e, LINK_DIR)) {
			if (e->root < ROOT_COUNT)
				r = seal_link_dir(s, e->root, e->path);
			continue;
		}
		if (e->owner_len >= sizeof(name))
			continue;
		if (!last || last_len != e->owner_len || strncmp(last, owner, last_len) != 0) {
			memcpy(name, owner, e->owner_len);
			name[e->owner_len] = '\0';
			k = node_index(in->set, name);
			last = owner;
			last_len = e->owner_len;
		}
		if (k < 0 || !in->set->nodes[k]->stub)
			continue;
		s->n++;
		r = sealer_words(s, &line, 1);
	}
	return r;
}

/* The entries of the plan's items (a delta pass: of its nodes), then the render's inputs. */
static int seal_paths(struct sealer *s, const struct plan *p, const struct seal_deps *deps,
		      const struct seal_input *in, bool written)
{
	size_t i;
	int r = 0;

	for (i = 0; r == 0 && !s->why && i < p->n_items; i++) {
		const struct plan_item *it = &p->items[i];

		if (in->prev && !it->res && (it->op == PLAN_UNCHANGED || it->applied))
			continue; /* outside the pass (carried), or deleted */
		if (written && !it->res && it->applied)
			continue; /* deleted */
		r = seal_item(s, it);
	}
	for (i = 0; r == 0 && !s->why && deps && i < deps->n; i++)
		r = seal_entry(s, 'S', deps->v[i].node ? deps->v[i].node : NO_OWNER,
			       deps->v[i].root, deps->v[i].path, NULL);
	return r;
}

/* The seal's lines, header to "end", through s (s->why: it cannot be sealed). */
static int seal_body(struct sealer *s, const struct plan *p, const struct seal_deps *deps,
		     const struct seal_input *in, bool written)
{
	int r;

	r = sealer_add(s, SEAL_MAGIC "key %s\nbase %s\ncounts %zu %zu %zu\n", in->key, in->base,
		       in->counts->unchanged, in->counts->nodes_total, in->counts->nodes_ready);
	if (r == 0)
		r = seal_files(s, in);
	if (r == 0 && !s->why)
		r = seal_nodes(s, p, in);
	/* Writing the above took longer than a clock tick, mostly: no wait. */
	if (r == 0 && written)
		s->racy_after_ns = settled_after(s->racy_after_ns);
	if (r == 0 && !s->why && in->prev)
		r = seal_carry(s, in);
	if (r == 0 && !s->why)
		r = seal_paths(s, p, deps, in, written);
	if (r == 0 && !s->why)
		r = buf_printf(&s->out, "end %zu\n", s->n);
	if (r == 0 && !s->why)
		r = sealer_flush(s, true);
	return r;
}

int seal_write(struct engine *e, const struct plan *p, const struct seal_deps *deps,
	       const struct seal_input *in, const char **ret_why)
{
	struct atomic_file af = ATOMIC_FILE_INIT;
	struct sealer s;
	size_t i;
	bool written = in->prev || (in->seal_writes && plan_has_changes(p));
	int r;

	r = seal_remove(e->state_fd); /* a stale seal must never outlive its pass */
	if (r < 0 || p->n_conflict || p->n_keep || (!written && plan_has_changes(p)))
		return r;
	memset(&s, 0, sizeof(s));
	s.out = (struct buf)BUF_INIT;
	s.fd = e->root_fd;
	/* A pass that wrote: its writes ended now; the clock must pass it (below). */
	s.racy_after_ns = written ? now_ns(CLOCK_REALTIME) : now_ns(CLOCK_REALTIME) - RACY_NS;
	/* A full pass that wrote vouches for what it found in place by the
	 * one-second rule still: only its own writes are known to be over. */
	s.racy_found_ns = in->prev ? s.racy_after_ns : now_ns(CLOCK_REALTIME) - RACY_NS;
	/* No fsync: a seal lost in a crash only costs one full pass, and a torn
	 * one has no "end" line. */
	r = atomic_open(&af, e->state_fd, SEAL_FILE, 0600, ATOMIC_SYNC_NONE);
	if (r < 0)
		return r;
	s.out_fd = af.fd;
	r = seal_body(&s, p, deps, in, written);
	if (r == 0 && !s.why)
		r = atomic_commit(&af);
	else
		atomic_abort(&af);
	if (s.why && ret_why)
		*ret_why = s.why;
	for (i = 0; i < s.n_link_dirs; i++)
		free(s.link_dirs[i]);
	free(s.link_dirs);
	buf_release(&s.out);
	return r < 0 ? r : s.why ? 0 : 1;
}

/* ------------------------------------------------------------------- read */

/* One number (named what, up to max) and the space after it, left in place. */
static int field(struct state_reader *sr, char **p, const char *what, int base, uint64_t max,
		 uint64_t *ret)
{
	char *sp, num[24];
	const char *q = *p;
	uint64_t v = 0;
	size_t n;
	int r;

	/* 100,000 entries of 6 numbers: digits read here; anything else (an
	 * error) by the slow path below, which says what is wrong. */
	for (; *q >= '0' && *q < '0' + base; q++)
		if (__builtin_mul_overflow(v, (uint64_t)base, &v) ||
		    __builtin_add_overflow(v, (uint64_t)(*q - '0'), &v))
			break;
	if (q != *p && *q == ' ' && (size_t)(q - *p) < sizeof(num) && v <= max) {
		*ret = v;
		*p += q - *p + 1;
		return 0;
	}
	sp = strchr(*p, ' ');
	n = sp ? (size_t)(sp - *p) : 0;
	if (!sp)
		return state_error(sr, "no %s: expected a number and a space", what);
	if (n >= sizeof(num))
		return state_error(sr, "bad %s \"%.*s\": expected a number", what, 20, *p);
	memcpy(num, *p, n);
	num[n] = '\0';
	r = state_u64(sr, what, num, base, max, ret);
	if (r == 0)
		*p = sp + 1;
	return r;
}

/* One word (up to a space, which becomes the end of it); NULL when there is none. */
static char *word(char **p)
{
	char *w = *p, *sp = strchr(w, ' ');

	if (!sp || sp == w)
		return NULL;
	*sp = '\0';
	*p = sp + 1;
	return w;
}

const struct seal_file *seal_file_find(const struct seal_file *v, size_t n, const char *name)
{
	size_t lo = 0, hi = n;

	while (name && lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(name, v[mid].name);

		if (c == 0)
			return &v[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

/* "f <sha256> <O|N> <name>", after the previous file's name. */
static int read_file_line(struct state_reader *sr, struct seal *s, char *p)
{
	struct seal_file *f = &s->files[s->n_files];
	char *digest = word(&p), *kind = word(&p);

	if (!digest || strlen(digest) != SHA256_HEX_LEN || !kind || kind[1] || !*p ||
	    (*kind != 'O' && *kind != 'N'))
		return state_error(sr, "bad file line: expected f DIGEST O|N NAME");
	memcpy(f->digest, digest, sizeof(f->digest));
	f->other = *kind == 'O';
	f->name = p;
	if (s->n_files && strcmp(s->files[s->n_files - 1].name, p) >= 0)
		return state_error(sr, "file \"%.80s\" out of order: expected files sorted by name",
				   p);
	s->n_files++;
	return 0;
}

static const char *or_empty(const char *w)
{
	return strcmp(w, NO_OWNER) == 0 ? "" : w;
}

/* "n <file> <line> <col> <resources> <9 words> <first boot> <owners>", by name. */
static int read_node_line(struct state_reader *sr, struct seal *s, char *p)
{
	struct node_stub *n = &s->nodes[s->n_nodes];
	uint64_t file = 0, line = 0, col = 0, nres = 0;
	char *w[9], *fb;
	size_t i;
	int r;

	r = field(sr, &p, "file number", 10, s->n_files ? s->n_files - 1 : 0, &file);
	if (r == 0)
		r = field(sr, &p, "line", 10, UINT32_MAX, &line);
	if (r == 0)
		r = field(sr, &p, "column", 10, UINT32_MAX, &col);
	if (r == 0)
		r = field(sr, &p, "resource count", 10, SIZE_MAX, &nres);
	if (r < 0)
		return r;
	if (!s->n_files)
		return state_error(sr, "a node without a file line before it");
	for (i = 0; i < 9; i++)
		if (!(w[i] = word(&p)))
			return state_error(sr, "%zu words: expected 9 after the numbers", i);
	fb = word(&p);
	if (!fb || !*p || strchr(p, ' '))
		return state_error(sr, "bad node line end: expected FIRST-BOOT OWNERS");
	n->file = s->files[file].name;
	n->line = (unsigned)line;
	n->col = (unsigned)col;
	n->n_resources = (size_t)nres;
	n->doc_digest = or_empty(w[0]);
	n->name = w[1];
	n->serial = w[2];
	n->mac = or_empty(w[3]);
	n->ip = or_empty(w[4]);
	n->hostname = w[5];
	n->model = w[6];
	n->image = w[7];
	n->root_mode = w[8];
	n->first_boot = strcmp(fb, "1") == 0;
	n->owners = or_empty(p);
	if (s->n_nodes && strcmp(s->nodes[s->n_nodes - 1].name, n->name) >= 0)
		return state_error(sr, "node \"%.80s\" out of order: expected nodes sorted by name",
				   n->name);
	s->n_nodes++;
	return 0;
}

/* "<kind> <owner> <root> <ino> <size> <mtime> <ctime> <mode> <path>"; the line stays whole. */
static int read_entry(struct state_reader *sr, struct seal_entry *e, char *line)
{
	char *p = line + 2;
	uint64_t root = 0, mode = 0;
	size_t owner_len;
	int r;

	e->kind = line[0];
	owner_len = strcspn(p, " ");
	if ((e->kind != 'S' && e->kind != 'D') || line[1] != ' ' || !owner_len || !p[owner_len])
		return state_error(sr, "bad entry \"%.40s\": expected S|D OWNER ROOT INO ...",
				   line);
	if (owner_len > UINT16_MAX - 200) /* line_off holds the rest, numbers and all */
		return state_error(sr, "an owner of %zu bytes", owner_len);
	p += owner_len + 1;
	r = field(sr, &p, "root", 10, SEAL_ABSPATH, &root);
	if (r == 0)
		r = field(sr, &p, "inode", 10, UINT64_MAX, &e->ino);
	if (r == 0)
		r = field(sr, &p, "size", 10, UINT64_MAX, &e->size);
	if (r == 0)
		r = field(sr, &p, "mtime", 10, UINT64_MAX, &e->mtime_ns);
	if (r == 0)
		r = field(sr, &p, "ctime", 10, UINT64_MAX, &e->ctime_ns);
	if (r == 0)
		r = field(sr, &p, "mode", 8, UINT32_MAX, &mode);
	if (r == 0 && !*p)
		r = state_error(sr, "no path after the mode");
	e->owner_len = (uint16_t)owner_len;
	e->root = (uint8_t)root;
	e->mode = (uint32_t)mode;
	e->path = p;
	e->line_off = (uint16_t)(p - line);
	return r;
}

/* "<word> <value>" with the word the line must begin with; the value is copied to out. */
static int read_header(struct state_reader *sr, const char *name, char *out, size_t size)
{
	char *line = NULL;
	size_t n = strlen(name);
	int r = state_next_line(sr, &line);

	if (r < 0)
		return r;
	if (r == 0 || strncmp(line, name, n) != 0 || line[n] != ' ' || strlen(line + n + 1) >= size)
		return state_error(sr, "expected the \"%s\" line", name);
	memcpy(out, line + n + 1, strlen(line + n + 1) + 1);
	return 0;
}

/* "key", "base" and "counts", the lines after the magic one. */
static int read_headers(struct state_reader *sr, struct seal *s)
{
	uint64_t v[3];
	char counts[80], *f[3], *p;
	size_t n, i;
	int r;

	r = read_header(sr, "key", s->key, sizeof(s->key));
	if (r == 0)
		r = read_header(sr, "base", s->base, sizeof(s->base));
	if (r == 0)
		r = read_header(sr, "counts", counts, sizeof(counts));
	p = counts;
	if (r == 0)
		r = state_split(sr, p, ' ', 3, 3, f, &n, "3 counts");
	for (i = 0; r == 0 && i < 3; i++)
		r = state_u64(sr, "count", f[i], 10, SIZE_MAX, &v[i]);
	if (r < 0)
		return r;
	s->counts.unchanged = (size_t)v[0];
	s->counts.nodes_total = (size_t)v[1];
	s->counts.nodes_ready = (size_t)v[2];
	return 0;
}

/* One line of the body: a file, a node or an entry, in that order. */
static int read_line(struct state_reader *sr, struct seal *s, char *line)
{
	if (line[0] == 'f' && line[1] == ' ') {
		if (s->n_nodes || s->n_entries)
			return state_error(sr, "a file line after nodes or entries");
		return read_file_line(sr, s, line + 2);
	}
	if (line[0] == 'n' && line[1] == ' ') {
		if (s->n_entries)
			return state_error(sr, "a node line after entries");
		return read_node_line(sr, s, line + 2);
	}
	return read_entry(sr, &s->entries[s->n_entries++], line);
}

/* Split the file into its parts; -EINVAL (with why) when it is not a whole seal. */
static int seal_parse(struct seal *s, size_t len, struct buf *why)
{
	struct state_reader sr;
	size_t n_files = 0, n_nodes = 0, n_lines = 0;
	uint64_t want_end = 0;
	const char *p, *end = s->data + len;
	char *line = NULL;
	int r;

	/* Each kind of line counted, for arrays of their size (the daemon keeps
	 * them: 100,000 entries at 10,000 nodes). */
	for (p = s->data; p < end; p++) {
		n_files += p[0] == 'f' && p + 1 < end && p[1] == ' ';
		n_nodes += p[0] == 'n' && p + 1 < end && p[1] == ' ';
		n_lines++;
		p = memchr(p, '\n', (size_t)(end - p));
		if (!p)
			break;
	}
	s->files = calloc(n_files + 1, sizeof(*s->files));
	s->nodes = calloc(n_nodes + 1, sizeof(*s->nodes));
	s->entries = malloc((n_lines + 1) * sizeof(*s->entries));
	if (!s->files || !s->nodes || !s->entries)
		return -ENOMEM;
	/* the magic line is a comment to the reader: seal_read() checked it */
	state_reader_init(&sr, SEAL_FILE, NULL, s->data, len, why);
	r = read_headers(&sr, s);
	while (r == 0 && (r = state_next_line(&sr, &line)) == 1) {
		if (strncmp(line, "end ", 4) == 0)
			break;
		r = read_line(&sr, s, line);
	}
	if (r < 0)
		return r;
	if (r == 0)
		return state_error(&sr, "no \"end\" line: the seal was cut short");
	r = state_u64(&sr, "end", line + 4, 10, SIZE_MAX, &want_end);
	if (r == 0 && want_end != s->n_entries)
		r = state_error(&sr, "end %" PRIu64 ": expected %zu, the number of entries",
				want_end, s->n_entries);
	if (r == 0 && state_next_line(&sr, &line) != 0)
		r = state_error(&sr, "a line after the \"end\" line");
	return r;
}

void seal_release(struct seal *s)
{
	free(s->data);
	free(s->files);
	free(s->nodes);
	free(s->entries);
	memset(s, 0, sizeof(*s));
}

int seal_read(int state_fd, struct seal *s, struct buf *why)
{
	char *data = NULL;
	size_t len = 0;
	int r;

	memset(s, 0, sizeof(*s));
	r = file_read_at(state_fd, SEAL_FILE, SEAL_MAX_SIZE, &data, &len);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	return seal_parse_text(data, len, s, why);
}

int seal_parse_text(char *data, size_t len, struct seal *s, struct buf *why)
{
	int r;

	memset(s, 0, sizeof(*s));
	s->data = data;
	if (len < strlen(SEAL_MAGIC) || memcmp(s->data, SEAL_MAGIC, strlen(SEAL_MAGIC)) != 0)
		r = why ? buf_printf(why, SEAL_FILE ":1: expected \"%.*s\"",
				     (int)strlen(SEAL_MAGIC) - 1, SEAL_MAGIC)
			: 0;
	else if (s->data[len - 1] != '\n')
		r = why ? buf_printf(why,
				     SEAL_FILE ": no newline at the end: the seal was cut short")
			: 0;
	else
		r = seal_parse(s, len, why) == 0 ? 1 : 0;
	if (r <= 0)
		seal_release(s);
	return r;
}

/* ------------------------------------------------------------------ check */

static bool entry_holds(const struct seal_entry *e, const int *fd)
{
	struct stat st;
	int dfd;

	if (e->root < SEAL_ABSPATH && fd[e->root] < 0)
		return false;
	dfd = e->root == SEAL_ABSPATH ? AT_FDCWD : fd[e->root];
	if (fstatat(dfd, e->path, &st, e->root == SEAL_ABSPATH ? 0 : AT_SYMLINK_NOFOLLOW) < 0)
		return false;
	if ((uint64_t)st.st_ino != e->ino || (uint64_t)st.st_mode != e->mode)
		return false;
	if (e->kind == 'D')
		return true;
	return (uint64_t)st.st_size == e->size && (uint64_t)ts_ns(&st.st_mtim) == e->mtime_ns &&
	       (uint64_t)ts_ns(&st.st_ctim) == e->ctime_ns;
}

bool seal_holds(const struct seal *s, const char *const root_path[ROOT_COUNT],
		const struct seal_entry **ret_broken)
{
	int fd[ROOT_COUNT];
	bool holds = true;
	size_t i;

	for (i = 0; i < ROOT_COUNT; i++)
		fd[i] = root_path[i] ? open(root_path[i], O_PATH | O_DIRECTORY | O_CLOEXEC) : -1;
	for (i = 0; holds && i < s->n_entries; i++) {
		holds = entry_holds(&s->entries[i], fd);
		if (!holds && ret_broken)
			*ret_broken = &s->entries[i];
	}
	for (i = 0; i < ROOT_COUNT; i++)
		if (fd[i] >= 0)
			close(fd[i]);
	return holds;
}
