/*
 * torture_roots: node roots.  The tree copy (types, modes, owners, hard
 * links, symlinks, FIFOs, times, extended attributes), the attic (move,
 * list by age, remove), and RES_ROOT through the engine: made once, kept
 * unchanged, re-imaged to the attic with its files following, retired to
 * the attic, a failed copy leaving nothing, a foreign directory refused.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "engine.h"
#include "fsutil.h"
#include "noderoot.h"
#include "resource.h"

struct fixture {
	char dir[64];
	char path[ROOT_COUNT][128];
	char state[128];
	char src[160];
	struct engine_roots roots;
};

static void put(const char *path, const char *content, mode_t mode)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(content, f);
	fclose(f);
	assert_int_equal(chmod(path, mode), 0);
}

static char *get(const char *path)
{
	char *data = NULL;
	size_t len;

	return file_read(path, 1 << 20, &data, &len) < 0 ? NULL : data;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char p[256];
	int i;

	snprintf(f->dir, sizeof(f->dir), "/tmp/torture_roots.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	for (i = 0; i < ROOT_COUNT; i++) {
		snprintf(f->path[i], sizeof(f->path[i]), "%s/%s", f->dir,
			 root_name((enum root_id)i));
		f->roots.path[i] = f->path[i];
	}
	snprintf(f->state, sizeof(f->state), "%s/state", f->dir);
	f->roots.state_dir = f->state;
	/* An image root: images/img/root */
	snprintf(f->src, sizeof(f->src), "%s/img/root", f->path[ROOT_IMAGES]);
	snprintf(p, sizeof(p), "%s/etc", f->src);
	assert_int_equal(mkdir_p(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/etc/hostname", f->src);
	put(p, "image\n", 0644);
	snprintf(p, sizeof(p), "%s/bin", f->src);
	assert_int_equal(mkdir(p, 0555), 0);
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

static int open_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	assert_true(fd >= 0);
	return fd;
}

static void test_tree_copy(void **state)
{
	struct fixture *f = *state;
	struct timespec ts[2] = {{1577934245, 0}, {1577934245, 123456789}};
	struct copy_stats st;
	struct stat a, b;
	struct buf err = BUF_INIT;
	char p[256], q[256], dst[160];
	int sfd, dfd;

	snprintf(p, sizeof(p), "%s/etc/suid", f->src);
	put(p, "s\n", 04755);
	snprintf(p, sizeof(p), "%s/etc/a", f->src);
	put(p, "same inode\n", 0600);
	snprintf(q, sizeof(q), "%s/etc/b", f->src);
	assert_int_equal(link(p, q), 0);
	assert_int_equal(utimensat(AT_FDCWD, p, ts, 0), 0);
	setxattr(p, "user.test", "v", 1, 0); /* tmpfs without user xattrs: not checked */
	snprintf(p, sizeof(p), "%s/etc/link", f->src);
	assert_int_equal(symlink("../etc/a", p), 0);
	snprintf(p, sizeof(p), "%s/etc/fifo", f->src);
	assert_int_equal(mkfifo(p, 0640), 0);
	snprintf(dst, sizeof(dst), "%s/copy", f->dir);
	assert_int_equal(mkdir(dst, 0700), 0);
	sfd = open_dir(f->src);
	dfd = open_dir(dst);
	memset(&st, 0, sizeof(st));
	assert_int_equal(tree_copy(sfd, dfd, COPY_PLAIN, &st, NULL, &err), 0);
	close(sfd);
	close(dfd);
	assert_int_equal(st.files, 3); /* hostname, suid, a */
	assert_int_equal(st.hardlinks, 1);
	assert_int_equal(st.symlinks, 1);
	assert_int_equal(st.specials, 1);
	assert_int_equal(st.reflinked, 0);
	snprintf(p, sizeof(p), "%s/etc/a", dst);
	snprintf(q, sizeof(q), "%s/etc/b", dst);
	assert_int_equal(lstat(p, &a), 0);
	assert_int_equal(lstat(q, &b), 0);
	assert_int_equal(a.st_ino, b.st_ino);
	assert_int_equal(a.st_mode & 07777, 0600);
	assert_int_equal(a.st_mtim.tv_sec, 1577934245);
	assert_int_equal(a.st_mtim.tv_nsec, 123456789);
	snprintf(p, sizeof(p), "%s/etc/suid", dst);
	assert_int_equal(lstat(p, &a), 0);
	assert_int_equal(a.st_mode & 07777, 04755);
	snprintf(p, sizeof(p), "%s/etc/link", dst);
	assert_int_equal(readlink(p, q, sizeof(q)), 8);
	snprintf(p, sizeof(p), "%s/etc/fifo", dst);
	assert_int_equal(lstat(p, &a), 0);
	assert_true(S_ISFIFO(a.st_mode));
	snprintf(p, sizeof(p), "%s/bin", dst);
	assert_int_equal(lstat(p, &a), 0);
	assert_int_equal(a.st_mode & 07777, 0555);
	buf_release(&err);
}

static void test_tree_copy_reflink_refused(void **state)
{
	struct fixture *f = *state;
	struct buf err = BUF_INIT;
	char dst[160];
	int sfd, dfd, r;

	snprintf(dst, sizeof(dst), "%s/copy", f->dir);
	assert_int_equal(mkdir(dst, 0700), 0);
	sfd = open_dir(f->src);
	dfd = open_dir(dst);
	r = tree_copy(sfd, dfd, COPY_REFLINK, NULL, NULL, &err);
	close(sfd);
	close(dfd);
	/* On a file system with reflinks it works; elsewhere the error says why. */
	if (r < 0)
		assert_non_null(strstr(buf_str(&err), "cannot reflink"));
	buf_release(&err);
}

static void test_names(void **state)
{
	enum copy_mode m;

	(void)state;
	assert_int_equal(noderoot_prefix("1234abcd/etc/hostname"), 8);
	assert_int_equal(noderoot_prefix("shared/img/etc/fstab"), 10);
	assert_int_equal(noderoot_prefix("1234abcd"), 0);
	assert_int_equal(noderoot_prefix("shared/img"), 0);
	assert_int_equal(noderoot_prefix("1234abcX/etc"), 0);
	assert_int_equal(noderoot_prefix("bramble.exports"), 0);
	assert_int_equal(copy_mode_parse("copy", &m), 0);
	assert_int_equal(m, COPY_PLAIN);
	assert_int_equal(copy_mode_parse("reflink", &m), 0);
	assert_int_equal(m, COPY_REFLINK);
	assert_int_equal(copy_mode_parse("fast", &m), -EINVAL);
	assert_string_equal(copy_mode_name(COPY_AUTO), "auto");
}

static void test_attic(void **state)
{
	struct fixture *f = *state;
	struct timespec old[2] = {{0, UTIME_OMIT}, {time(NULL) - 40 * 86400, 0}};
	struct attic_list l;
	struct buf name = BUF_INIT, name2 = BUF_INIT;
	char p[256];
	int fd;

	assert_int_equal(mkdir_p(f->path[ROOT_NFS], 0755), 0);
	snprintf(p, sizeof(p), "%s/1234abcd", f->path[ROOT_NFS]);
	assert_int_equal(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/2345bcde", f->path[ROOT_NFS]);
	assert_int_equal(mkdir(p, 0755), 0);
	fd = open_dir(f->path[ROOT_NFS]);
	assert_int_equal(attic_move(fd, "1234abcd", "1234abcd", 3, &name), 0);
	assert_int_equal(attic_move(fd, "2345bcde", "2345bcde", 0, &name2), 0);
	assert_int_equal(strncmp(buf_str(&name), "1234abcd.gen3.", 14), 0);
	assert_int_equal(attic_move(fd, "1234abcd", "1234abcd", 3, NULL), -ENOENT);
	snprintf(p, sizeof(p), "%s/.attic/%s", f->path[ROOT_NFS], buf_str(&name));
	assert_int_equal(utimensat(AT_FDCWD, p, old, 0), 0);
	assert_int_equal(attic_list(fd, time(NULL), 30 * 86400, &l), 0);
	assert_int_equal(l.n, 2);
	assert_true(l.v[0].expired);
	assert_false(l.v[1].expired);
	assert_int_equal(attic_remove(fd, l.v[0].name), 0);
	assert_int_equal(attic_remove(fd, "../x"), -EINVAL);
	attic_list_release(&l);
	assert_int_equal(attic_list(fd, time(NULL), 30 * 86400, &l), 0);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.v[0].name, buf_str(&name2));
	attic_list_release(&l);
	close(fd);
	buf_release(&name);
	buf_release(&name2);
}

/* A private root of node "a" at generation gen, and its hostname inside. */
static void desired(struct resource_set *s, unsigned gen, bool with_root)
{
	char desc[256];
	struct resource *r;

	resource_set_add_file(s, ROOT_DHCP_HOSTS, "a", 0644, "mac-a\n", 6)->node = "a";
	if (with_root) {
		snprintf(desc, sizeof(desc),
			 "generation %u\nimage img\nsource img/root\nidentity img/root\n", gen);
		r = resource_set_add(s, RES_ROOT, ROOT_NFS, "1234abcd", 0755, desc);
		r->node = "a";
		r = resource_set_add_file(s, ROOT_NFS, "1234abcd/etc/hostname", 0644, "a\n", 2);
		r->node = "a";
	}
	assert_int_equal(resource_set_sort(s), 0);
}

static int pass(struct fixture *f, unsigned gen, bool with_root, struct plan **ret_plan)
{
	struct resource_set s = RESOURCE_SET_INIT;
	struct engine *e = NULL;
	struct plan *p = NULL;
	size_t failed = 0;
	int r;

	desired(&s, gen, with_root);
	assert_int_equal(engine_open(&f->roots, &e), 0);
	assert_int_equal(engine_plan(e, &s, 0, &p), 0);
	r = engine_apply(e, p, 0, &failed);
	if (ret_plan) {
		/* The caller looks at the counts only. */
		static struct plan copy;

		copy = *p;
		*ret_plan = &copy;
	}
	plan_free(p);
	engine_free(e);
	resource_set_release(&s);
	return r;
}

static void test_root_lifecycle(void **state)
{
	struct fixture *f = *state;
	struct attic_list l;
	struct plan *p;
	struct stat st;
	char root[200], p1[300], link[32], *s;
	ino_t ino;
	int fd;

	snprintf(root, sizeof(root), "%s/1234abcd", f->path[ROOT_NFS]);
	/* The machine id of an image booted once, and D-Bus's copy of it. */
	snprintf(p1, sizeof(p1), "%s/etc/machine-id", f->src);
	put(p1, "0123456789abcdef0123456789abcdef\n", 0444);
	snprintf(p1, sizeof(p1), "%s/var/lib/dbus", f->src);
	assert_int_equal(mkdir_p(p1, 0755), 0);
	snprintf(p1, sizeof(p1), "%s/var/lib/dbus/machine-id", f->src);
	put(p1, "0123456789abcdef0123456789abcdef\n", 0644);
	assert_int_equal(pass(f, 0, true, &p), 0);
	assert_int_equal(p->n_create, 3);
	snprintf(p1, sizeof(p1), "%s/etc/hostname", root);
	s = get(p1);
	assert_string_equal(s, "a\n"); /* bramble's file over the image's */
	free(s);
	/* Not the image's machine id: an empty file, which systemd fills at the first boot. */
	snprintf(p1, sizeof(p1), "%s/etc/machine-id", root);
	assert_int_equal(lstat(p1, &st), 0);
	assert_true(S_ISREG(st.st_mode) && st.st_size == 0 && (st.st_mode & 07777) == 0444);
	snprintf(p1, sizeof(p1), "%s/var/lib/dbus/machine-id", root);
	memset(link, 0, sizeof(link));
	assert_int_equal(readlink(p1, link, sizeof(link) - 1), 15);
	assert_string_equal(link, "/etc/machine-id");
	snprintf(p1, sizeof(p1), "%s/etc/machine-id", f->src);
	s = get(p1);
	assert_string_equal(s, "0123456789abcdef0123456789abcdef\n"); /* the image keeps its own */
	free(s);
	assert_int_equal(lstat(root, &st), 0);
	ino = st.st_ino;
	/* Unchanged: nothing to do; a file the node writes is its own. */
	snprintf(p1, sizeof(p1), "%s/notes", root);
	put(p1, "node data\n", 0644);
	assert_int_equal(pass(f, 0, true, &p), 0);
	assert_int_equal(p->n_create + p->n_update + p->n_delete, 0);
	/* Re-image: a new root; the old one, with the node's file, in the attic. */
	assert_int_equal(pass(f, 1, true, &p), 0);
	assert_int_equal(p->n_update, 1);
	assert_int_equal(lstat(root, &st), 0);
	assert_true(st.st_ino != ino);
	assert_int_equal(lstat(p1, &st), -1);
	snprintf(p1, sizeof(p1), "%s/etc/hostname", root);
	s = get(p1);
	assert_string_equal(s, "a\n"); /* written again into the new root */
	free(s);
	fd = open_dir(f->path[ROOT_NFS]);
	assert_int_equal(attic_list(fd, time(NULL), 86400, &l), 0);
	assert_int_equal(l.n, 1);
	assert_int_equal(strncmp(l.v[0].name, "1234abcd.gen0.", 14), 0);
	attic_list_release(&l);
	/* The node removed: its root to the attic, its files along with it. */
	assert_int_equal(pass(f, 1, false, &p), 0);
	assert_int_equal(lstat(root, &st), -1);
	assert_int_equal(attic_list(fd, time(NULL), 86400, &l), 0);
	assert_int_equal(l.n, 2);
	snprintf(p1, sizeof(p1), "%s/.attic/%s/etc/hostname", f->path[ROOT_NFS], l.v[1].name);
	s = get(p1);
	assert_string_equal(s, "a\n");
	free(s);
	attic_list_release(&l);
	close(fd);
}

/*
 * A pass that died after renaming a root into place but before bramble's
 * files in it (and before the inventory): the image's copies at bramble's
 * paths are bramble's to replace, not a conflict.
 */
static void test_root_unsettled_healed(void **state)
{
	struct fixture *f = *state;
	char p[300], *s;
	struct plan *pl;
	int fd;

	assert_int_equal(pass(f, 0, true, NULL), 0);
	snprintf(p, sizeof(p), "%s/1234abcd/etc/hostname", f->path[ROOT_NFS]);
	put(p, "image\n", 0644); /* the image's copy, as the root was made */
	fd = open_dir(f->state);
	assert_int_equal(rm_rf_at(fd, "inventory.d"), 0);
	close(fd);
	assert_int_equal(pass(f, 0, true, &pl), 0);
	assert_int_equal(pl->n_conflict, 0);
	s = get(p);
	assert_string_equal(s, "a\n");
	free(s);
}

/* An unsettled root whose file fails again stays unsettled: a later pass still heals it. */
static void test_root_unsettled_twice(void **state)
{
	struct fixture *f = *state;
	char p[300], q[320], *s;
	struct plan *pl;
	int fd;

	assert_int_equal(pass(f, 0, true, NULL), 0);
	fd = open_dir(f->state);
	assert_int_equal(rm_rf_at(fd, "inventory.d"), 0);
	close(fd);
	snprintf(p, sizeof(p), "%s/1234abcd/etc/hostname", f->path[ROOT_NFS]);
	assert_int_equal(unlink(p), 0);
	assert_int_equal(mkdir(p, 0755), 0); /* the rename over it fails */
	snprintf(q, sizeof(q), "%s/x", p);
	put(q, "x\n", 0644);
	assert_true(pass(f, 0, true, NULL) < 0);
	fd = open_dir(f->path[ROOT_NFS]);
	assert_int_equal(rm_rf_at(fd, "1234abcd/etc/hostname"), 0);
	close(fd);
	put(p, "image\n", 0644);
	assert_int_equal(pass(f, 0, true, &pl), 0);
	assert_int_equal(pl->n_conflict, 0);
	s = get(p);
	assert_string_equal(s, "a\n");
	free(s);
}

static void test_root_failed_copy(void **state)
{
	struct fixture *f = *state;
	char root[200], p[256];
	struct stat st;
	int fd;

	/* The image root is gone: nothing is made, nothing half-made is left. */
	fd = open("/tmp", O_RDONLY | O_DIRECTORY);
	snprintf(p, sizeof(p), "%s", f->src + 5);
	assert_int_equal(rm_rf_at(fd, p), 0);
	close(fd);
	assert_true(pass(f, 0, true, NULL) < 0);
	snprintf(root, sizeof(root), "%s/1234abcd", f->path[ROOT_NFS]);
	assert_int_equal(lstat(root, &st), -1);
	snprintf(p, sizeof(p), "%s/.staging", f->path[ROOT_NFS]);
	assert_int_equal(lstat(p, &st), -1);
}

static void test_root_foreign_refused(void **state)
{
	struct fixture *f = *state;
	char root[200], p[256], *s;
	struct plan *pl;

	snprintf(root, sizeof(root), "%s/1234abcd/etc", f->path[ROOT_NFS]);
	assert_int_equal(mkdir_p(root, 0755), 0);
	snprintf(p, sizeof(p), "%s/hostname", root);
	put(p, "hand-made\n", 0644);
	assert_int_equal(pass(f, 0, true, &pl), -EEXIST);
	assert_int_equal(pl->n_conflict, 2); /* the root, and the file in it */
	s = get(p);
	assert_string_equal(s, "hand-made\n"); /* nothing written inside */
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_tree_copy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tree_copy_reflink_refused, setup, teardown),
		cmocka_unit_test(test_names),
		cmocka_unit_test_setup_teardown(test_attic, setup, teardown),
		cmocka_unit_test_setup_teardown(test_root_lifecycle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_root_unsettled_healed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_root_unsettled_twice, setup, teardown),
		cmocka_unit_test_setup_teardown(test_root_failed_copy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_root_foreign_refused, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
