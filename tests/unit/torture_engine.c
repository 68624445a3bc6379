/*
 * torture_engine: the plan/apply engine on a scratch directory, with
 * hand-made resource sets: create, idempotency, drift, prune, conflicts,
 * trees, kept node data, the empty-set guard and symlink escapes.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "buf.h"
#include "engine.h"
#include "engine_int.h" /* engine_parent_fd(): the directory cache */
#include "fsutil.h"
#include "resource.h"

struct fixture {
	char dir[64];
	char path[ROOT_COUNT][128];
	char state[128];
	struct engine_roots roots;
};

static void put(const char *dir, const char *name, const char *content)
{
	char p[PATH_MAX];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	f = fopen(p, "w");
	assert_non_null(f);
	fputs(content, f);
	fclose(f);
}

static char *get(const char *dir, const char *name)
{
	char p[PATH_MAX], *data = NULL;
	size_t len;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	if (file_read(p, 1 << 20, &data, &len) < 0)
		return NULL;
	return data;
}

static bool exists(const char *dir, const char *name)
{
	char p[PATH_MAX];
	struct stat st;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return lstat(p, &st) == 0;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	int i;

	snprintf(f->dir, sizeof(f->dir), "/tmp/torture_engine.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	for (i = 0; i < ROOT_COUNT; i++) {
		snprintf(f->path[i], sizeof(f->path[i]), "%s/%s", f->dir,
			 root_name((enum root_id)i));
		f->roots.path[i] = f->path[i];
	}
	snprintf(f->state, sizeof(f->state), "%s/state", f->dir);
	f->roots.state_dir = f->state;
	assert_int_equal(mkdir_p(f->path[ROOT_IMAGES], 0755), 0);
	put(f->path[ROOT_IMAGES], "kernel.img", "KERNEL");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	int fd = open("/tmp", O_RDONLY | O_DIRECTORY);

	rm_rf_at(fd, f->dir + 5);
	close(fd);
	free(f);
	return 0;
}

/* The desired set used by most tests; variant changes one file's content. */
static void desired(struct resource_set *s, int variant, bool with_node_b)
{
	struct resource_set kids = RESOURCE_SET_INIT;
	struct resource *r;

	r = resource_set_add_file(s, ROOT_DHCP_CONF, "main.conf", 0644, "port=0\n", 7);
	r->act_change = ACTION_DHCP_RESTART;
	r = resource_set_add_file(s, ROOT_DHCP_HOSTS, "a", 0644, "mac-a\n", 6);
	r->node = "a";
	r->act_delete = ACTION_DHCP_RELOAD;
	if (with_node_b) {
		r = resource_set_add_file(s, ROOT_DHCP_HOSTS, "b", 0644, "mac-b\n", 6);
		r->node = "b";
		r->act_delete = ACTION_DHCP_RELOAD;
		r = resource_set_add(s, RES_DIR, ROOT_NFS, "b", 0755, NULL);
		r->node = "b";
		r->flags |= RES_F_KEEP;
	}
	r = resource_set_add(s, RES_SYMLINK, ROOT_NFS, "latest", 0777, "a");
	resource_set_add(&kids, RES_HARDLINK, ROOT_TFTP, "kernel.img", 0644, "kernel.img");
	resource_set_add(&kids, RES_DIR, ROOT_TFTP, "overlays", 0755, NULL);
	resource_set_add(&kids, RES_HARDLINK, ROOT_TFTP, "overlays/k.img", 0644, "kernel.img");
	resource_set_add_file(&kids, ROOT_TFTP, "overlays/x.dtbo", 0644, "X", 1);
	resource_set_add_file(&kids, ROOT_TFTP, "config.txt", 0644, variant ? "v=2\n" : "v=1\n", 4);
	r = resource_set_add(s, RES_TREE, ROOT_TFTP, "1234abcd", 0755, NULL);
	r->node = "a";
	assert_int_equal(resource_tree_attach(r, &kids), 0);
	assert_int_equal(resource_set_sort(s), 0);
}

static struct plan *plan_of(struct fixture *f, struct engine **e, struct resource_set *s,
			    unsigned flags)
{
	struct plan *p = NULL;

	assert_int_equal(engine_open(&f->roots, e), 0);
	assert_int_equal(engine_plan(*e, s, flags, &p), 0);
	return p;
}

/* Plan and apply desired; return the plan's counters through p_out (freed here). */
static struct plan apply_set(struct fixture *f, int variant, bool with_b, unsigned flags, int want)
{
	struct resource_set s = RESOURCE_SET_INIT;
	struct engine *e = NULL;
	struct plan *p, copy;
	size_t failed = 0;

	desired(&s, variant, with_b);
	p = plan_of(f, &e, &s, flags);
	assert_int_equal(engine_apply(e, p, flags, &failed), want);
	copy = *p;
	copy.items = NULL;
	plan_free(p);
	engine_free(e);
	resource_set_release(&s);
	return copy;
}

/* Rename node "a" of a desired set (its paths move to another inventory shard). */
static void rename_node(struct resource_set *s, const char *from, const char *to)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (s->v[i].node && strcmp(s->v[i].node, from) == 0)
			s->v[i].node = to;
}

/* Plan and apply desired (node "a" named name); returns the inventory's size after. */
static size_t apply_renamed(struct fixture *f, const char *name, struct plan *ret)
{
	struct resource_set s = RESOURCE_SET_INIT;
	struct engine *e = NULL;
	struct plan *p;
	size_t failed = 0, n;

	desired(&s, 0, false);
	rename_node(&s, "a", name);
	p = plan_of(f, &e, &s, 0);
	assert_int_equal(engine_apply(e, p, 0, &failed), 0);
	*ret = *p;
	ret->items = NULL;
	plan_free(p);
	engine_free(e);
	assert_int_equal(engine_open(&f->roots, &e), 0);
	n = engine_inventory_size(e);
	engine_free(e);
	resource_set_release(&s);
	return n;
}

/*
 * A node renamed keeps its paths, which move to the new name's inventory
 * shard: the old shard must lose them, or the next pass sees them twice and
 * deletes the node's files as no longer wanted.
 */
static void test_renamed_node(void **state)
{
	struct fixture *f = *state;
	struct plan p;
	size_t n;

	n = apply_renamed(f, "a", &p);
	assert_int_equal(p.n_create, (int)n);
	assert_true(engine_shard("a", NULL) != engine_shard("renamed-a", NULL));
	assert_int_equal(apply_renamed(f, "renamed-a", &p), n);
	assert_int_equal(p.n_create + p.n_delete, 0);
	assert_int_equal(apply_renamed(f, "renamed-a", &p), n);
	assert_int_equal(p.n_create + p.n_update + p.n_delete, 0);
}

/*
 * A delta pass: the inventory of the nodes outside it is neither observed
 * nor deleted, only the shards asked for are loaded, and a change that
 * would land in a shard not loaded is refused rather than lose its entries.
 */
static void test_scope(void **state)
{
	struct fixture *f = *state;
	struct resource_set s = RESOURCE_SET_INIT;
	static const char *const outside[] = {"a", "b"};
	bool shards[ENGINE_SHARDS] = {false};
	struct engine *e = NULL;
	struct plan *p = NULL;
	size_t failed = 0, i;

	apply_set(f, 0, true, 0, 0);
	/* Only the shared file, changed; nodes a and b outside the pass. */
	resource_set_add_file(&s, ROOT_DHCP_CONF, "main.conf", 0644, "port=1\n", 7);
	resource_set_add(&s, RES_SYMLINK, ROOT_NFS, "latest", 0777, "a");
	assert_int_equal(resource_set_sort(&s), 0);
	assert_true(engine_shard(NULL, "main.conf") != engine_shard(NULL, "latest"));
	f->roots.defer_inventory = true;
	assert_int_equal(engine_open(&f->roots, &e), 0);
	for (i = 0; i < ENGINE_SHARDS; i++)
		shards[i] = i != engine_shard(NULL, "main.conf");
	assert_int_equal(engine_scope(e, outside, 2, shards), 0);
	assert_int_equal(engine_plan(e, &s, 0, &p), 0);
	/* The shared file's shard is not loaded: bramble does not know it made
	 * it (a conflict), and nothing may be recorded in that shard. */
	assert_int_equal(p->n_conflict, 1);
	assert_int_equal(p->n_delete, 0);
	assert_int_equal(engine_apply(e, p, ENGINE_ADOPT, &failed), -ESTALE);
	{
		char *c = get(f->path[ROOT_DHCP_CONF], "main.conf");

		assert_string_equal(c, "port=0\n"); /* refused before touching anything */
		free(c);
	}
	plan_free(p);
	engine_free(e);
	/* With it loaded, the change is applied and nothing of a or b is touched. */
	shards[engine_shard(NULL, "main.conf")] = true;
	assert_int_equal(engine_open(&f->roots, &e), 0);
	assert_int_equal(engine_scope(e, outside, 2, shards), 0);
	assert_int_equal(engine_plan(e, &s, 0, &p), 0);
	assert_int_equal(p->n_update, 1);
	assert_int_equal(p->n_delete + p->n_create, 0);
	assert_true(p->n_unchanged > 0);
	assert_int_equal(engine_apply(e, p, 0, &failed), 0);
	plan_free(p);
	engine_free(e);
	f->roots.defer_inventory = false;
	assert_true(exists(f->path[ROOT_TFTP], "1234abcd/config.txt"));
	assert_true(exists(f->path[ROOT_DHCP_HOSTS], "a"));
	resource_set_release(&s);
	/* A full pass afterwards: everything of a and b is still recorded. */
	{
		struct plan q = apply_set(f, 0, true, 0, 0);

		assert_int_equal(q.n_create + q.n_delete, 0);
		assert_int_equal(q.n_update, 1); /* main.conf back to port=0 */
	}
}

/* Drop the last field (the ctime) of every line of every inventory shard. */
static void inventory_downgrade(struct fixture *f)
{
	char dir[256], cmd[512];

	snprintf(dir, sizeof(dir), "%s/inventory.d", f->state);
	snprintf(cmd, sizeof(cmd), "sed -i '/^#/!s/\\t[-0-9]*$//' %s/[0-9a-f][0-9a-f]", dir);
	assert_int_equal(system(cmd), 0);
}

/*
 * An inventory written before the ctime was recorded (12 fields) still
 * loads: nothing is planned but a refresh of the signatures.
 */
static void test_inventory_without_ctime(void **state)
{
	struct fixture *f = *state;
	struct plan p;

	apply_set(f, 0, true, 0, 0);
	apply_set(f, 0, true, 0, 0);
	inventory_downgrade(f);
	p = apply_set(f, 0, true, 0, 0);
	assert_int_equal(p.n_create + p.n_update + p.n_delete + p.n_conflict, 0);
	assert_true(p.inventory_dirty);
	p = apply_set(f, 0, true, 0, 0);
	assert_int_equal(p.n_create + p.n_update + p.n_delete + p.n_conflict, 0);
	assert_false(p.inventory_dirty);
}

/*
 * The inventory's lines are formatted by hand (inventory.c emit()): the
 * text of the edge values is pinned here against printf's, and read back.
 */
static void test_inventory_line_edges(void **state)
{
	static const struct stat_sig sigs[] = {
		{0, 0, 0, 0},
		{UINT64_MAX, -1, INT64_MIN, -1},
		{1, INT64_MAX, INT64_MAX, INT64_MIN},
		{18446744073709551614ULL, 4096, -1, 1796537355048600858LL},
	};
	struct inv_entry e, kid;
	struct inventory inv;
	struct buf b = BUF_INIT, why = BUF_INIT;
	char want[1024], path[] = "a/.b c", kid_path[] = "config.txt", node[] = "node-1",
			 gendir[] = ".b.0123456789abcdef";
	/* Kept as 32 bytes, written as 64 lowercase hex digits. */
	const char *hex = "00ff0123456789abcdef00ff0123456789abcdef00ff0123456789abcdef0a0b";
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		memset(&e, 0, sizeof(e));
		memset(&kid, 0, sizeof(kid));
		e.type = RES_TREE;
		e.root = (enum root_id)(ROOT_COUNT - 1);
		e.mode = i % 2 ? 07777 : 0;
		e.path = path;
		e.sig = sigs[i];
		e.act_delete = i ? 255 : 0;
		e.flags = i == 2 ? UINT_MAX : 0;
		e.node = i ? node : NULL;
		e.gendir = i ? gendir : NULL;
		assert_int_equal(sha256_from_hex(i ? hex : "", &e.hash), 0);
		kid = e;
		kid.type = RES_FILE;
		kid.path = kid_path;
		e.children = &kid;
		e.n_children = 1;
		buf_truncate(&b, 0);
		assert_int_equal(inventory_entry_text(&b, &e), 0);
		snprintf(want, sizeof(want),
			 "T\t%d\t%o\t%s\t%s\t%llu\t%lld\t%lld\t%u\t%u\t%s\t%s\t%lld\n"
			 ">F\t%d\t%o\t%s\t%s\t%llu\t%lld\t%lld\t%u\t%u\t%s\t%s\t%lld\n",
			 (int)e.root, (unsigned)e.mode, e.path, i ? hex : "-",
			 (unsigned long long)e.sig.ino, (long long)e.sig.size,
			 (long long)e.sig.mtime_ns, e.act_delete, e.flags, i ? "node-1" : "-",
			 i ? e.gendir : "-", (long long)e.sig.ctime_ns, (int)e.root,
			 (unsigned)e.mode, kid.path, i ? hex : "-", (unsigned long long)e.sig.ino,
			 (long long)e.sig.size, (long long)e.sig.mtime_ns, e.act_delete, e.flags,
			 i ? "node-1" : "-", i ? e.gendir : "-", (long long)e.sig.ctime_ns);
		assert_string_equal(buf_str(&b), want);
		/* Read back (a size below -1 is no size a file can have: refused). */
		memset(&inv, 0, sizeof(inv));
		if (e.sig.size < -1) {
			assert_int_equal(inventory_parse("t", b.data, b.len, &inv, &why), -EBADMSG);
		} else {
			assert_int_equal(inventory_parse("t", b.data, b.len, &inv, &why), 0);
			assert_int_equal(inv.n, 1);
			assert_int_equal(inv.v[0].n_children, 1);
			assert_memory_equal(&inv.v[0].sig, &e.sig, sizeof(e.sig));
			assert_memory_equal(&inv.v[0].children[0].sig, &e.sig, sizeof(e.sig));
			assert_int_equal(inv.v[0].mode, e.mode);
			assert_int_equal(inv.v[0].flags, e.flags);
			assert_true(sha256_equal(&inv.v[0].hash, &e.hash));
			assert_true(sha256_equal(&inv.v[0].children[0].hash, &e.hash));
		}
		inventory_release(&inv);
		buf_truncate(&why, 0);
	}
	buf_release(&b);
	buf_release(&why);
}

/* A hash that is not 64 lowercase hex digits names its line and field. */
static void test_inventory_bad_hash(void **state)
{
	struct inventory inv;
	struct buf b = BUF_INIT, why = BUF_INIT;

	(void)state;
	assert_int_equal(buf_adds(&b, "# bramble inventory 1\nF\t0\t644\tx\tab\t1\t2\t3\t0\t0\t-\t-"
				      "\t4\n"),
			 0);
	memset(&inv, 0, sizeof(inv));
	assert_int_equal(inventory_parse("t", b.data, b.len, &inv, &why), -EBADMSG);
	assert_non_null(strstr(buf_str(&why), "t:2: bad hash \"ab\": expected a SHA-256"));
	inventory_release(&inv);
	buf_release(&b);
	buf_release(&why);
}

/* An image's children of a tree, shared (struct resource, "shared"): sorted. */
static struct resource shared_kids[4];

static void shared_kids_init(void)
{
	static const struct {
		enum res_type type;
		const char *path, *data;
	} k[] = {
		{RES_FILE, "config.txt", "image's\n"},
		{RES_HARDLINK, "kernel.img", "kernel.img"},
		{RES_DIR, "overlays", NULL},
		{RES_HARDLINK, "overlays/k.img", "kernel.img"},
	};
	size_t i;

	memset(shared_kids, 0, sizeof(shared_kids));
	for (i = 0; i < 4; i++) {
		shared_kids[i].type = (uint8_t)k[i].type;
		shared_kids[i].root = ROOT_TFTP;
		shared_kids[i].mode = k[i].type == RES_DIR ? 0755 : 0644;
		shared_kids[i].flags = RES_F_BORROWED | RES_F_BORROWED_PATH | RES_F_TREE_CHILD;
		shared_kids[i].path = (char *)(uintptr_t)k[i].path;
		shared_kids[i].data = (char *)(uintptr_t)k[i].data;
		shared_kids[i].len = k[i].data ? (uint32_t)strlen(k[i].data) : 0;
	}
}

/* A tree of two own children (config.txt over the image's) and shared_kids. */
static struct resource *shared_tree(struct resource_set *s)
{
	struct resource_set kids = RESOURCE_SET_INIT;
	struct resource *tree;

	shared_kids_init();
	resource_set_add_file(&kids, ROOT_TFTP, "overlays/x.dtbo", 0644, "X", 1);
	resource_set_add_file_at(&kids, ROOT_TFTP, "config.txt", 0644, "v=1\n", 4);
	tree = resource_set_add(s, RES_TREE, ROOT_TFTP, "1234abcd", 0755, NULL);
	tree->node = "a";
	tree->shared = shared_kids;
	tree->n_shared = 4;
	assert_int_equal(resource_tree_attach(tree, &kids), 0);
	return tree;
}

/*
 * A tree whose links are shared with other trees walks and digests as the
 * same tree with its own copies (its generation does not change when the
 * links become shared), and its own file wins over a shared one.
 */
static void test_shared_children_walk(void **state)
{
	static const char *const order[] = {"config.txt", "kernel.img", "overlays",
					    "overlays/k.img", "overlays/x.dtbo"};
	struct resource_set own = RESOURCE_SET_INIT, kids = RESOURCE_SET_INIT;
	struct resource_set s = RESOURCE_SET_INIT;
	struct child_walk w = {NULL, 0, 0};
	const struct resource *c, *tree = shared_tree(&s);
	struct resource *copies;
	struct sha256 d1, d2;
	size_t i;

	(void)state;
	resource_set_add(&kids, RES_HARDLINK, ROOT_TFTP, "kernel.img", 0644, "kernel.img");
	resource_set_add(&kids, RES_DIR, ROOT_TFTP, "overlays", 0755, NULL);
	resource_set_add(&kids, RES_HARDLINK, ROOT_TFTP, "overlays/k.img", 0644, "kernel.img");
	resource_set_add_file(&kids, ROOT_TFTP, "overlays/x.dtbo", 0644, "X", 1);
	resource_set_add_file(&kids, ROOT_TFTP, "config.txt", 0644, "v=1\n", 4);
	copies = resource_set_add(&own, RES_TREE, ROOT_TFTP, "1234abcd", 0755, NULL);
	assert_int_equal(resource_tree_attach(copies, &kids), 0);
	assert_int_equal(resource_n_children(tree), 6);
	w.tree = tree;
	for (i = 0; (c = child_walk_next(&w)) != NULL; i++) {
		assert_true(i < 5);
		assert_string_equal(c->path, order[i]);
		if (i == 0)
			assert_string_equal(c->data, "v=1\n");
	}
	assert_int_equal(i, 5);
	assert_int_equal(resource_digest(copies, &d1), 0);
	assert_int_equal(resource_digest(tree, &d2), 0);
	assert_true(d1.set);
	assert_true(sha256_equal(&d1, &d2));
	resource_set_release(&own);
	resource_set_release(&s);
}

/* Applied, the shared links are the image's files, and nothing is left to do. */
static void test_shared_children_apply(void **state)
{
	struct fixture *f = *state;
	struct resource_set s = RESOURCE_SET_INIT;
	struct engine *e = NULL;
	struct plan *p;
	struct stat a, b;
	char p1[256], p2[256], *text;
	size_t failed = 0;

	shared_tree(&s);
	assert_int_equal(resource_set_sort(&s), 0);
	p = plan_of(f, &e, &s, ENGINE_ALLOW_EMPTY);
	assert_int_equal(engine_apply(e, p, 0, &failed), 0);
	assert_int_equal(failed, 0);
	plan_free(p);
	engine_free(e);
	text = get(f->path[ROOT_TFTP], "1234abcd/config.txt");
	assert_string_equal(text, "v=1\n");
	free(text);
	snprintf(p1, sizeof(p1), "%s/1234abcd/overlays/k.img", f->path[ROOT_TFTP]);
	snprintf(p2, sizeof(p2), "%s/kernel.img", f->path[ROOT_IMAGES]);
	assert_int_equal(stat(p1, &a), 0);
	assert_int_equal(stat(p2, &b), 0);
	assert_int_equal(a.st_ino, b.st_ino);
	p = plan_of(f, &e, &s, ENGINE_ALLOW_EMPTY);
	assert_int_equal(p->n_create + p->n_update + p->n_delete + p->n_conflict, 0);
	plan_free(p);
	engine_free(e);
	resource_set_release(&s);
}

static void test_create_and_idempotent(void **state)
{
	struct fixture *f = *state;
	struct plan p;
	struct stat a, b;
	char *s;

	p = apply_set(f, 0, true, 0, 0);
	assert_int_equal(p.n_create, 6);
	assert_true(p.actions & ACTION_DHCP_RESTART);
	s = get(f->path[ROOT_TFTP], "1234abcd/config.txt");
	assert_string_equal(s, "v=1\n");
	free(s);
	assert_int_equal(stat(f->path[ROOT_TFTP], &a), 0);
	s = get(f->path[ROOT_TFTP], "1234abcd/overlays/x.dtbo");
	assert_string_equal(s, "X");
	free(s);
	/* The kernel is a hard link to the image store. */
	{
		char p1[256], p2[256];

		snprintf(p1, sizeof(p1), "%s/1234abcd/kernel.img", f->path[ROOT_TFTP]);
		snprintf(p2, sizeof(p2), "%s/kernel.img", f->path[ROOT_IMAGES]);
		assert_int_equal(stat(p1, &a), 0);
		assert_int_equal(stat(p2, &b), 0);
		assert_int_equal(a.st_ino, b.st_ino);
	}
	p = apply_set(f, 0, true, 0, 0);
	assert_int_equal(p.n_create + p.n_update + p.n_delete, 0);
	assert_int_equal(p.n_unchanged, 6);
	assert_int_equal(p.actions, 0);
	/* The second pass may record settled signatures; the third has nothing to write. */
	p = apply_set(f, 0, true, 0, 0);
	assert_false(p.inventory_dirty);
}

static void test_drift_repaired(void **state)
{
	struct fixture *f = *state;
	char *gen_before, *gen_after, link[256], *s;
	struct plan p;

	apply_set(f, 0, true, 0, 0);
	snprintf(link, sizeof(link), "%s/1234abcd", f->path[ROOT_TFTP]);
	gen_before = realpath(link, NULL);
	put(f->path[ROOT_TFTP], "1234abcd/config.txt", "evil\n");
	put(f->path[ROOT_DHCP_HOSTS], "a", "other\n");
	p = apply_set(f, 0, true, 0, 0);
	assert_int_equal(p.n_update, 2);
	assert_int_equal(p.n_drift, 2);
	s = get(f->path[ROOT_TFTP], "1234abcd/config.txt");
	assert_string_equal(s, "v=1\n");
	free(s);
	s = get(f->path[ROOT_DHCP_HOSTS], "a");
	assert_string_equal(s, "mac-a\n");
	free(s);
	gen_after = realpath(link, NULL);
	/* Drift inside a tree is repaired in place: same generation. */
	assert_string_equal(gen_before, gen_after);
	free(gen_before);
	free(gen_after);
	p = apply_set(f, 0, true, 0, 0);
	assert_int_equal(p.n_update + p.n_create, 0);
}

static void test_tree_switch(void **state)
{
	struct fixture *f = *state;
	char link[256], *gen1, *gen2, *s;

	apply_set(f, 0, true, 0, 0);
	snprintf(link, sizeof(link), "%s/1234abcd", f->path[ROOT_TFTP]);
	gen1 = realpath(link, NULL);
	apply_set(f, 1, true, 0, 0);
	gen2 = realpath(link, NULL);
	assert_string_not_equal(gen1, gen2);
	assert_false(exists("/", gen1 + 1));
	s = get(f->path[ROOT_TFTP], "1234abcd/config.txt");
	assert_string_equal(s, "v=2\n");
	free(s);
	free(gen1);
	free(gen2);
}

/*
 * A pass that died left generation directories no link points to (one it
 * was building, one whose link it had switched away from): the next pass
 * removes them before it applies, and leaves a directory that only looks
 * like one (no tree of that name) alone.
 */
static void test_orphan_generations_recovered(void **state)
{
	struct fixture *f = *state;
	struct resource_set s = RESOURCE_SET_INIT;
	struct engine *e = NULL;
	struct plan *p;
	char link[256], *gen;
	size_t failed = 0;

	apply_set(f, 0, true, 0, 0);
	snprintf(link, sizeof(link), "%s/1234abcd", f->path[ROOT_TFTP]);
	gen = realpath(link, NULL);
	assert_non_null(gen);
	assert_int_equal(mkdir_p(f->path[ROOT_TFTP], 0755), 0);
	snprintf(link, sizeof(link), "%s/.1234abcd.0123456789abcdef", f->path[ROOT_TFTP]);
	assert_int_equal(mkdir(link, 0755), 0);
	put(link, "config.txt", "v=0\n");
	snprintf(link, sizeof(link), "%s/.other.0123456789abcdef", f->path[ROOT_TFTP]);
	assert_int_equal(mkdir(link, 0755), 0);
	desired(&s, 1, true);
	p = plan_of(f, &e, &s, 0);
	assert_int_equal(engine_recover(e, p, true), 0);
	assert_false(exists(f->path[ROOT_TFTP], ".1234abcd.0123456789abcdef"));
	assert_true(exists(f->path[ROOT_TFTP], ".other.0123456789abcdef"));
	assert_true(exists("/", gen + 1)); /* the one in use stays until the switch */
	assert_int_equal(engine_apply(e, p, 0, &failed), 0);
	assert_false(exists("/", gen + 1));
	plan_free(p);
	engine_free(e);
	resource_set_release(&s);
	free(gen);
}

/* A failure names what failed: the item, its operation; the pass as a whole, its path. */
static void test_failure_named(void **state)
{
	struct fixture *f = *state;
	struct resource_set s = RESOURCE_SET_INIT;
	struct engine *e = NULL;
	struct plan *p;
	size_t i, failed = 0, named = 0;
	char d[256];

	apply_set(f, 0, false, 0, 0);
	/* A directory where node b's hosts file is to go: its rename fails. */
	snprintf(d, sizeof(d), "%s/b", f->path[ROOT_DHCP_HOSTS]);
	assert_int_equal(mkdir(d, 0755), 0);
	put(d, "keep", "x");
	desired(&s, 0, true);
	p = plan_of(f, &e, &s, ENGINE_ADOPT);
	assert_true(engine_apply(e, p, ENGINE_ADOPT, &failed) < 0);
	assert_true(failed >= 1);
	for (i = 0; i < p->n_items; i++)
		if (p->items[i].error) {
			assert_non_null(p->items[i].error_op);
			named++;
		}
	assert_int_equal(named, failed);
	plan_free(p);
	engine_free(e);
	resource_set_release(&s);
}

static bool defer_all(void *ctx, const struct plan_item *it)
{
	(*(int *)ctx)++;
	return it->res->node && strcmp(it->res->node, "a") == 0;
}

/*
 * engine_set_defer(): a deferred switch leaves the old generation in place
 * and recorded (not applied, not failed), and the next plan switches it.
 */
static void test_tree_switch_deferred(void **state)
{
	struct fixture *f = *state;
	struct resource_set s = RESOURCE_SET_INIT;
	struct engine *e = NULL;
	char link[256], *gen1, *gen2, *txt;
	struct plan *p;
	size_t failed = 9, i, deferred = 0;
	int asked = 0;

	apply_set(f, 0, true, 0, 0);
	snprintf(link, sizeof(link), "%s/1234abcd", f->path[ROOT_TFTP]);
	gen1 = realpath(link, NULL);
	desired(&s, 1, true);
	p = plan_of(f, &e, &s, 0);
	engine_set_defer(e, defer_all, &asked);
	assert_int_equal(engine_apply(e, p, 0, &failed), 0);
	assert_int_equal(failed, 0);
	assert_int_equal(asked, 1); /* asked once: for the tree that changed */
	for (i = 0; i < p->n_items; i++) {
		deferred += p->items[i].deferred;
		if (p->items[i].deferred)
			assert_false(p->items[i].applied);
	}
	assert_int_equal(deferred, 1);
	plan_free(p);
	engine_free(e);
	gen2 = realpath(link, NULL);
	assert_string_equal(gen1, gen2);
	txt = get(f->path[ROOT_TFTP], "1234abcd/config.txt");
	assert_string_equal(txt, "v=1\n");
	free(txt);
	free(gen2);
	/* the next pass plans the switch again, and without the hook makes it */
	p = plan_of(f, &e, &s, 0);
	assert_true(plan_has_changes(p));
	assert_int_equal(engine_apply(e, p, 0, &failed), 0);
	plan_free(p);
	engine_free(e);
	txt = get(f->path[ROOT_TFTP], "1234abcd/config.txt");
	assert_string_equal(txt, "v=2\n");
	assert_false(exists("/", gen1 + 1));
	free(txt);
	free(gen1);
	resource_set_release(&s);
}

static void test_prune_keeps_foreign_and_node_data(void **state)
{
	struct fixture *f = *state;
	struct plan p;

	apply_set(f, 0, true, 0, 0);
	put(f->path[ROOT_DHCP_HOSTS], "foreign", "mine\n");
	put(f->path[ROOT_NFS], "b/data", "precious\n");
	p = apply_set(f, 0, false, 0, 0);
	assert_int_equal(p.n_delete, 1);
	assert_int_equal(p.n_keep, 1);
	assert_true(p.actions & ACTION_DHCP_RELOAD);
	assert_false(exists(f->path[ROOT_DHCP_HOSTS], "b"));
	assert_true(exists(f->path[ROOT_DHCP_HOSTS], "foreign"));
	assert_true(exists(f->path[ROOT_NFS], "b/data"));
}

static void test_conflict_and_adopt(void **state)
{
	struct fixture *f = *state;
	struct plan p;
	char *s;

	assert_int_equal(mkdir_p(f->path[ROOT_DHCP_CONF], 0755), 0);
	put(f->path[ROOT_DHCP_CONF], "main.conf", "hand-made\n");
	p = apply_set(f, 0, true, 0, -EEXIST);
	assert_int_equal(p.n_conflict, 1);
	s = get(f->path[ROOT_DHCP_CONF], "main.conf");
	assert_string_equal(s, "hand-made\n");
	free(s);
	p = apply_set(f, 0, true, ENGINE_ADOPT, 0);
	s = get(f->path[ROOT_DHCP_CONF], "main.conf");
	assert_string_equal(s, "port=0\n");
	free(s);
	/* Identical content not in the inventory is simply adopted. */
	put(f->path[ROOT_DHCP_HOSTS], "a", "mac-a\n");
	p = apply_set(f, 0, true, 0, 0);
	assert_int_equal(p.n_conflict, 0);
}

static void test_empty_refused(void **state)
{
	struct fixture *f = *state;
	struct resource_set s = RESOURCE_SET_INIT;
	struct engine *e = NULL;
	struct plan *p = NULL;

	apply_set(f, 0, true, 0, 0);
	resource_set_add_file(&s, ROOT_DHCP_CONF, "main.conf", 0644, "port=0\n", 7);
	assert_int_equal(engine_open(&f->roots, &e), 0);
	assert_int_equal(engine_plan(e, &s, 0, &p), -ECANCELED);
	assert_int_equal(engine_plan(e, &s, ENGINE_ALLOW_EMPTY, &p), 0);
	assert_true(p->n_delete > 0);
	plan_free(p);
	engine_free(e);
	resource_set_release(&s);
	assert_true(exists(f->path[ROOT_TFTP], "1234abcd/config.txt"));
}

static void test_symlink_escape(void **state)
{
	struct fixture *f = *state;
	struct resource_set s = RESOURCE_SET_INIT;
	struct engine *e = NULL;
	struct plan *p = NULL;
	char outside[128], link[256];
	size_t failed = 0;

	snprintf(outside, sizeof(outside), "%s/outside", f->dir);
	assert_int_equal(mkdir_p(outside, 0755), 0);
	assert_int_equal(mkdir_p(f->path[ROOT_TFTP], 0755), 0);
	snprintf(link, sizeof(link), "%s/evil", f->path[ROOT_TFTP]);
	assert_int_equal(symlink(outside, link), 0);
	resource_set_add_file(&s, ROOT_TFTP, "evil/file", 0644, "x", 1);
	assert_int_equal(engine_open(&f->roots, &e), 0);
	assert_int_equal(engine_plan(e, &s, ENGINE_ALLOW_EMPTY, &p), 0);
	assert_true(engine_apply(e, p, 0, &failed) < 0);
	assert_int_equal(failed, 1);
	assert_false(exists(outside, "file"));
	plan_free(p);
	engine_free(e);
	resource_set_release(&s);
}

/* Directory and inode of the fd, to tell which directory a cached fd is. */
static ino_t fd_ino(int fd)
{
	struct stat st;

	assert_int_equal(fstat(fd, &st), 0);
	return st.st_ino;
}

/*
 * The cache of parent directories (engine_parent_fd): each path's parent is
 * the real directory, across more directories than the cache holds; a
 * directory removed and made again is not served from a stale fd once
 * engine_parent_forget() ran; a symlink on the way is refused even when its
 * parent is cached.
 */
static void test_parent_cache(void **state)
{
	struct fixture *f = *state;
	struct engine *e = NULL;
	const char *name = NULL;
	char path[256], full[512], outside[128];
	struct stat st;
	unsigned i, round;
	int fd;

	assert_int_equal(mkdir_p(f->path[ROOT_NFS], 0755), 0);
	assert_int_equal(engine_open(&f->roots, &e), 0);
	/* Twice as many node directories as slots, twice round, files at two depths. */
	for (round = 0; round < 2; round++) {
		for (i = 0; i < 2 * ENGINE_PARENT_SLOTS; i++) {
			snprintf(path, sizeof(path), "shared/os/nodes/n%02u/etc/%s", i,
				 i % 2 ? "bramble/firstboot.conf" : "hosts");
			assert_int_equal(engine_parent_fd(e, ROOT_NFS, path, true, &fd, &name), 0);
			assert_string_equal(name, i % 2 ? "firstboot.conf" : "hosts");
			snprintf(full, sizeof(full), "%s/shared/os/nodes/n%02u/etc%s",
				 f->path[ROOT_NFS], i, i % 2 ? "/bramble" : "");
			assert_int_equal(stat(full, &st), 0);
			assert_int_equal(fd_ino(fd), st.st_ino);
		}
	}
	/* At the root itself: the root's own fd. */
	assert_int_equal(engine_parent_fd(e, ROOT_NFS, "top", true, &fd, &name), 0);
	assert_int_equal(fd, engine_root_fd(e, ROOT_NFS));
	assert_int_equal(engine_dir_fd(e, ROOT_NFS, "shared/os/nodes/n03/etc/bramble", &fd), 0);
	snprintf(full, sizeof(full), "%s/shared/os/nodes/n03/etc/bramble", f->path[ROOT_NFS]);
	assert_int_equal(stat(full, &st), 0);
	assert_int_equal(fd_ino(fd), st.st_ino);

	/* Removed and made again: after forget, the new directory. */
	assert_int_equal(rm_rf_at(engine_root_fd(e, ROOT_NFS), "shared/os/nodes"), 0);
	engine_parent_forget(e);
	assert_int_equal(
		engine_parent_fd(e, ROOT_NFS, "shared/os/nodes/n01/etc/hosts", true, &fd, &name),
		0);
	snprintf(full, sizeof(full), "%s/shared/os/nodes/n01/etc", f->path[ROOT_NFS]);
	assert_int_equal(stat(full, &st), 0);
	assert_int_equal(fd_ino(fd), st.st_ino);

	/* A symlink where a directory was, below a cached ancestor: refused. */
	snprintf(outside, sizeof(outside), "%s/outside", f->dir);
	assert_int_equal(mkdir_p(outside, 0755), 0);
	snprintf(full, sizeof(full), "%s/shared/os/nodes/n02", f->path[ROOT_NFS]);
	assert_int_equal(symlink(outside, full), 0);
	assert_int_equal(
		engine_parent_fd(e, ROOT_NFS, "shared/os/nodes/n02/etc/hosts", true, &fd, &name),
		-ENOTDIR);
	assert_false(exists(outside, "etc"));
	/* A directory found missing (a plan's lookup) is missing for what is beneath it... */
	assert_int_equal(engine_parent_fd(e, ROOT_NFS, "late/a/f", false, &fd, &name), -ENOENT);
	snprintf(full, sizeof(full), "%s/late/a", f->path[ROOT_NFS]);
	assert_int_equal(mkdir_p(full, 0755), 0);
	assert_int_equal(engine_parent_fd(e, ROOT_NFS, "late/a/g", false, &fd, &name), -ENOENT);
	/* ... until anything creates (or the cache is emptied). */
	assert_int_equal(engine_parent_fd(e, ROOT_NFS, "other/f", true, &fd, &name), 0);
	assert_int_equal(engine_parent_fd(e, ROOT_NFS, "late/a/g", false, &fd, &name), 0);
	assert_int_equal(fd_ino(fd), (stat(full, &st), st.st_ino));
	/* ".." never walks out. */
	assert_int_equal(engine_parent_fd(e, ROOT_NFS, "shared/../../x/f", true, &fd, &name),
			 -EINVAL);
	engine_free(e);
}

static void test_unsafe_path_rejected(void **state)
{
	struct fixture *f = *state;
	struct resource_set s = RESOURCE_SET_INIT;
	struct engine *e = NULL;
	struct plan *p = NULL;

	resource_set_add_file(&s, ROOT_TFTP, "../escape", 0644, "x", 1);
	assert_int_equal(engine_open(&f->roots, &e), 0);
	assert_int_equal(engine_plan(e, &s, ENGINE_ALLOW_EMPTY, &p), -EINVAL);
	engine_free(e);
	resource_set_release(&s);
	assert_false(res_path_is_safe("a//b"));
	assert_false(res_path_is_safe("/a"));
	assert_false(res_path_is_safe("a/./b"));
	assert_false(res_path_is_safe("a/"));
	assert_true(res_path_is_safe("a/.b.c/d"));
}

static void test_stale_temp_ignored(void **state)
{
	struct fixture *f = *state;
	char *s;

	assert_int_equal(mkdir_p(f->path[ROOT_DHCP_HOSTS], 0755), 0);
	put(f->path[ROOT_DHCP_HOSTS], ".a.bramble-tmp", "half-written");
	apply_set(f, 0, true, 0, 0);
	s = get(f->path[ROOT_DHCP_HOSTS], "a");
	assert_string_equal(s, "mac-a\n");
	free(s);
	assert_false(exists(f->path[ROOT_DHCP_HOSTS], ".a.bramble-tmp"));
}

/* Node files in directories of the NFS root that are not there yet. */
static void new_dirs(struct resource_set *s, bool with_n2, bool bad_link)
{
	struct resource *r;

	resource_set_add_file(s, ROOT_NFS, "shared/os/etc/fstab", 0644, "fstab\n", 6);
	r = resource_set_add_file(s, ROOT_NFS, "shared/os/etc/bramble/nodes/n1/etc/hostname", 0644,
				  "n1\n", 3);
	r->node = "n1";
	r = resource_set_add_file(s, ROOT_NFS,
				  "shared/os/etc/bramble/nodes/n1/etc/bramble/firstboot.conf", 0600,
				  "x=1\n", 4);
	r->node = "n1";
	if (bad_link) { /* its source is not in the image store: it fails */
		r = resource_set_add(s, RES_HARDLINK, ROOT_NFS,
				     "shared/os/etc/bramble/nodes/n1/kernel.img", 0644, "gone.img");
		r->node = "n1";
	}
	if (with_n2) {
		r = resource_set_add_file(s, ROOT_NFS,
					  "shared/os/etc/bramble/nodes/n2/etc/hostname", 0644,
					  "n2\n", 3);
		r->node = "n2";
		r = resource_set_add(s, RES_DIR, ROOT_NFS, "shared/os/etc/bramble/nodes/n2/data",
				     0700, NULL);
		r->node = "n2";
	}
	assert_int_equal(resource_set_sort(s), 0);
}

static int apply_new_dirs(struct fixture *f, bool with_n2, bool bad_link, size_t *failed,
			  struct plan *ret)
{
	struct resource_set s = RESOURCE_SET_INIT;
	struct engine *e = NULL;
	struct plan *p;
	int r;

	new_dirs(&s, with_n2, bad_link);
	p = plan_of(f, &e, &s, 0);
	r = engine_apply(e, p, 0, failed);
	*ret = *p;
	ret->items = NULL;
	plan_free(p);
	engine_free(e);
	resource_set_release(&s);
	return r;
}

/*
 * A directory that is not there yet is made whole in nfs/.staging and
 * renamed into place once (apply.c, units): its files are where they
 * belong, with the modes asked for, staging is gone, and the signatures
 * recorded when they were written still hold after the rename (the next
 * pass finds nothing to change and nothing to record).
 */
static void test_new_directory_placed_whole(void **state)
{
	struct fixture *f = *state;
	struct plan p;
	struct stat st;
	size_t failed = 0;
	char d[256], *s;

	snprintf(d, sizeof(d), "%s/shared/os/etc", f->path[ROOT_NFS]);
	assert_int_equal(mkdir_p(d, 0755), 0);
	assert_int_equal(apply_new_dirs(f, true, false, &failed, &p), 0);
	assert_int_equal(failed, 0);
	assert_int_equal(p.n_create, 5);
	s = get(f->path[ROOT_NFS], "shared/os/etc/bramble/nodes/n1/etc/hostname");
	assert_string_equal(s, "n1\n");
	free(s);
	snprintf(d, sizeof(d), "%s/shared/os/etc/bramble/nodes/n1/etc/bramble/firstboot.conf",
		 f->path[ROOT_NFS]);
	assert_int_equal(stat(d, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	snprintf(d, sizeof(d), "%s/shared/os/etc/bramble/nodes/n2/data", f->path[ROOT_NFS]);
	assert_int_equal(stat(d, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0700);
	snprintf(d, sizeof(d), "%s/shared/os/etc/bramble", f->path[ROOT_NFS]);
	assert_int_equal(stat(d, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0755);
	assert_false(exists(f->path[ROOT_NFS], ".staging"));
	assert_int_equal(apply_new_dirs(f, true, false, &failed, &p), 0);
	assert_int_equal(p.n_create + p.n_update + p.n_delete, 0);
	assert_int_equal(p.n_unchanged, 5);
	assert_false(p.inventory_dirty);
}

/*
 * A file of a new directory that fails leaves the others to be placed; a
 * directory that appears where a new one is to go between the plan and
 * the apply is never replaced: the files fail, what is there stays, and
 * staging is gone.
 */
static void test_new_directory_failures(void **state)
{
	struct fixture *f = *state;
	struct resource_set s = RESOURCE_SET_INIT;
	struct engine *e = NULL;
	struct plan *p, q;
	size_t i, failed = 0;
	char d[256], *c;

	assert_true(apply_new_dirs(f, false, true, &failed, &q) < 0);
	assert_int_equal(failed, 1);
	assert_true(exists(f->path[ROOT_NFS], "shared/os/etc/bramble/nodes/n1/etc/hostname"));
	assert_false(exists(f->path[ROOT_NFS], "shared/os/etc/bramble/nodes/n1/kernel.img"));
	assert_false(exists(f->path[ROOT_NFS], ".staging"));

	new_dirs(&s, true, false);
	p = plan_of(f, &e, &s, 0);
	snprintf(d, sizeof(d), "%s/shared/os/etc/bramble/nodes/n2", f->path[ROOT_NFS]);
	assert_int_equal(mkdir(d, 0755), 0);
	put(d, "hostname", "someone else's\n");
	assert_true(engine_apply(e, p, 0, &failed) < 0);
	assert_int_equal(failed, 2);
	for (i = 0; i < p->n_items; i++)
		if (p->items[i].error)
			assert_int_equal(p->items[i].error, -EEXIST);
	c = get(d, "hostname");
	assert_string_equal(c, "someone else's\n");
	free(c);
	assert_false(exists(d, "etc"));
	assert_false(exists(f->path[ROOT_NFS], ".staging"));
	plan_free(p);
	engine_free(e);
	resource_set_release(&s);
}

/* What a dead pass (or this process's own failed one) left in staging goes. */
static void test_new_directory_leftovers(void **state)
{
	struct fixture *f = *state;
	struct resource_set s = RESOURCE_SET_INIT;
	struct engine *e = NULL;
	struct plan *p;
	char d[256], mine[256];
	pid_t dead = 4194303;

	while (dead > 1 && kill(dead, 0) == 0)
		dead--;
	snprintf(d, sizeof(d), "%s/.staging/new.%d.0/etc", f->path[ROOT_NFS], (int)dead);
	assert_int_equal(mkdir_p(d, 0755), 0);
	put(d, "hostname", "half");
	snprintf(mine, sizeof(mine), "%s/.staging/new.%d.99", f->path[ROOT_NFS], (int)getpid());
	assert_int_equal(mkdir_p(mine, 0755), 0);
	new_dirs(&s, false, false);
	p = plan_of(f, &e, &s, 0);
	assert_int_equal(engine_recover(e, p, true), 0);
	assert_false(exists(f->path[ROOT_NFS], ".staging"));
	plan_free(p);
	engine_free(e);
	resource_set_release(&s);
}

/* Age a directory so that its signature is trusted (not racily recent). */
static void age(const char *dir, const char *name)
{
	char p[256];
	struct timespec ts[2] = {{1000000000, 0}, {1000000000, 0}};

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	assert_int_equal(utimensat(AT_FDCWD, p, ts, 0), 0);
}

static void replace_link(struct fixture *f, const char *link, const char *gen)
{
	char p[256], tmp[300];

	snprintf(p, sizeof(p), "%s/%s", gen, link);
	snprintf(tmp, sizeof(tmp), "%s.x", p);
	put("/", tmp + 1, "not the kernel");
	assert_int_equal(rename(tmp, p), 0);
	(void)f;
}

/* A replaced hard link is found even where directory signatures are trusted. */
static void test_replaced_link_in_trusted_tree(void **state)
{
	struct fixture *f = *state;
	char link[256], *gen;
	struct plan p;
	struct stat a, b;
	char kp[256], sp[256];

	apply_set(f, 0, true, 0, 0);
	snprintf(link, sizeof(link), "%s/1234abcd", f->path[ROOT_TFTP]);
	gen = realpath(link, NULL);
	/* Trusted: old directories, recorded by a pass that found them old. */
	age(gen, "overlays");
	age(gen, ".");
	p = apply_set(f, 0, true, 0, 0);
	assert_int_equal(p.n_update + p.n_create, 0);
	p = apply_set(f, 0, true, 0, 0);
	assert_false(p.inventory_dirty);
	/* Replace a link in the generation dir, then one in a subdirectory. */
	replace_link(f, "kernel.img", gen);
	p = apply_set(f, 0, true, 0, 0);
	assert_int_equal(p.n_update, 1);
	assert_int_equal(p.n_drift, 1);
	snprintf(kp, sizeof(kp), "%s/kernel.img", gen);
	snprintf(sp, sizeof(sp), "%s/kernel.img", f->path[ROOT_IMAGES]);
	assert_int_equal(stat(kp, &a), 0);
	assert_int_equal(stat(sp, &b), 0);
	assert_int_equal(a.st_ino, b.st_ino);
	age(gen, "overlays");
	age(gen, ".");
	apply_set(f, 0, true, 0, 0);
	replace_link(f, "overlays/k.img", gen);
	age(gen, ".");
	p = apply_set(f, 0, true, 0, 0);
	assert_int_equal(p.n_update, 1);
	snprintf(kp, sizeof(kp), "%s/overlays/k.img", gen);
	assert_int_equal(stat(kp, &a), 0);
	assert_int_equal(a.st_ino, b.st_ino);
	free(gen);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create_and_idempotent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_renamed_node, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inventory_without_ctime, setup, teardown),
		cmocka_unit_test(test_inventory_line_edges),
		cmocka_unit_test(test_inventory_bad_hash),
		cmocka_unit_test(test_shared_children_walk),
		cmocka_unit_test_setup_teardown(test_shared_children_apply, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scope, setup, teardown),
		cmocka_unit_test_setup_teardown(test_drift_repaired, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tree_switch_deferred, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tree_switch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_orphan_generations_recovered, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failure_named, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prune_keeps_foreign_and_node_data, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_conflict_and_adopt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_symlink_escape, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unsafe_path_rejected, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parent_cache, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stale_temp_ignored, setup, teardown),
		cmocka_unit_test_setup_teardown(test_new_directory_placed_whole, setup, teardown),
		cmocka_unit_test_setup_teardown(test_new_directory_failures, setup, teardown),
		cmocka_unit_test_setup_teardown(test_new_directory_leftovers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replaced_link_in_trusted_tree, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
