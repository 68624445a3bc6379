/*
 * torture_watch: the inotify watch of the sealed paths (controller/watch.c)
 * on a real directory tree: each directory is kept once, by its path
 * relative to its root in one table of names, and an event is still named
 * by its absolute path; pruning the watches of a smaller seal keeps the
 * other directories' names and events.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include "harness.h"
#include "config.h"
#include "seal.h"
#include "watch.h"

struct world {
	char dir[64];
	char root[96];
};

static int setup(void **state)
{
	struct world *w = calloc(1, sizeof(*w));

	assert_non_null(w);
	snprintf(w->dir, sizeof(w->dir), "/tmp/torture_watch.XXXXXX");
	assert_non_null(mkdtemp(w->dir));
	snprintf(w->root, sizeof(w->root), "%s/root", w->dir);
	assert_int_equal(harness_run("cd %s && mkdir -p root/a/b root/c && echo x >root/a/x && "
				     "echo y >root/a/b/y && echo z >root/c/z && echo t >root/t",
				     w->dir),
			 0);
	*state = w;
	return 0;
}

static int teardown(void **state)
{
	struct world *w = *state;

	harness_run("rm -rf %s", w->dir);
	free(w);
	return 0;
}

/* A seal of the paths given (beneath root, root 0, as they are now), parsed. */
static void seal_at(const char *root, const char *const *paths, size_t n, struct seal *s)
{
	struct buf text = BUF_INIT;
	char *data;
	size_t i, len;

	assert_int_equal(buf_printf(&text,
				    "# bramble seal 2\nkey %064d\nbase %064d\ncounts %zu 0 0\n"
				    "f %064d N nodes.yaml\n",
				    0, 0, n, 0),
			 0);
	for (i = 0; i < n; i++) {
		struct stat st;
		char path[256];

		snprintf(path, sizeof(path), "%s/%s", root, paths[i]);
		assert_int_equal(lstat(path, &st), 0);
		assert_int_equal(buf_printf(&text, "S * 0 %llu %llu %llu %llu %o %s\n",
					    (unsigned long long)st.st_ino,
					    (unsigned long long)st.st_size,
					    (unsigned long long)st.st_mtim.tv_sec * 1000000000ULL +
						    (unsigned long long)st.st_mtim.tv_nsec,
					    (unsigned long long)st.st_ctim.tv_sec * 1000000000ULL +
						    (unsigned long long)st.st_ctim.tv_nsec,
					    (unsigned)st.st_mode, paths[i]),
				 0);
	}
	assert_int_equal(buf_printf(&text, "end %zu\n", n), 0);
	data = buf_detach(&text, &len);
	assert_int_equal(seal_parse_text(data, len, s, NULL), 1);
}

static void seal_of(const struct world *w, const char *const *paths, size_t n, struct seal *s)
{
	seal_at(w->root, paths, n, s);
}

/* A watch of 64 directories at most, with an hour between full checks. */
static void watch_start(struct seal_watch *sw)
{
	struct bramble_config cfg;

	memset(&cfg, 0, sizeof(cfg));
	cfg.watch_max = 64;
	cfg.watch_full_check_s = 3600;
	assert_int_equal(watch_open(sw, &cfg), 0);
}

/* The relative paths of the watched directories, sorted, joined by spaces. */
static void dirs_list(const struct seal_watch *sw, char *out, size_t size)
{
	char line[1024] = "";
	size_t i;

	for (i = 0; i < sw->n_dirs; i++) {
		strncat(line, sw->names + sw->dirs[i].rel, sizeof(line) - strlen(line) - 2);
		strncat(line, " ", sizeof(line) - strlen(line) - 1);
	}
	snprintf(out, size, "%s", line);
}

static void test_names(void **state)
{
	static const char *const all[] = {"a", "a/x", "a/b/y", "c/z", "t"};
	static const char *const fewer[] = {"a", "a/x", "a/b/y", "t"};
	struct world *w = *state;
	struct seal_watch sw;
	struct seal s1, s2;
	const struct seal_entry *broken = NULL;
	const char *roots[ROOT_COUNT] = {w->root};
	char want[512], got[1024];

	watch_start(&sw);
	seal_of(w, all, 5, &s1);
	/* Armed: the root, a (its parent and itself, sealed), a/b, c; each name once. */
	assert_true(watch_check(&sw, &s1, roots, &broken));
	dirs_list(&sw, got, sizeof(got));
	assert_string_equal(got, ". a a/b c ");
	assert_int_equal(sw.names_len, strlen(". a a/b c "));
	assert_false(watch_read(&sw));
	/* An outside edit is named by its absolute path. */
	assert_int_equal(harness_run("echo yy >>%s/a/b/y", w->root), 0);
	assert_true(watch_read(&sw));
	snprintf(want, sizeof(want), "%s/a/b/y", w->root);
	assert_string_equal(sw.why, want);
	/* The full check finds it. */
	assert_false(watch_check(&sw, &s1, roots, &broken));
	assert_non_null(broken);
	assert_string_equal(broken->path, "a/b/y");
	/* A seal without c/z: c's watch is dropped, the names after it kept. */
	seal_of(w, fewer, 4, &s2);
	assert_true(watch_check(&sw, &s2, roots, &broken));
	dirs_list(&sw, got, sizeof(got));
	assert_string_equal(got, ". a a/b ");
	assert_int_equal(sw.names_len, strlen(". a a/b "));
	assert_int_equal(harness_run("echo zz >>%s/c/z", w->root), 0);
	assert_false(watch_read(&sw)); /* not watched any more */
	assert_int_equal(harness_run("echo tt >>%s/t", w->root), 0);
	assert_true(watch_read(&sw));
	snprintf(want, sizeof(want), "%s/t", w->root); /* in the root: no "/./" */
	assert_string_equal(sw.why, want);
	assert_false(watch_check(&sw, &s2, roots, &broken));
	assert_string_equal(broken->path, "t");
	/* Armed again: a sealed directory's own attributes are named. */
	seal_release(&s2);
	seal_of(w, fewer, 4, &s2);
	assert_true(watch_check(&sw, &s2, roots, &broken));
	assert_false(watch_read(&sw));
	assert_int_equal(harness_run("chmod 700 %s/a", w->root), 0);
	assert_true(watch_read(&sw));
	/* named by the root's watch ("a" in it) or by a's own, whichever comes first */
	snprintf(want, sizeof(want), "%s/a", w->root);
	assert_memory_equal(sw.why, want, strlen(want));
	assert_true(strcmp(sw.why + strlen(want), "") == 0 ||
		    strcmp(sw.why + strlen(want), " (its attributes)") == 0);
	seal_release(&s2);
	seal_release(&s1);
	watch_close(&sw);
}

/* The same relative paths beneath another root are other directories: watched anew. */
static void test_other_root(void **state)
{
	static const char *const paths[] = {"a/x", "a/b/y", "t"};
	struct world *w = *state;
	struct seal_watch sw;
	struct seal s1, s2;
	const struct seal_entry *broken = NULL;
	char root2[128], want[256], got[1024];
	const char *roots[ROOT_COUNT] = {w->root}, *roots2[ROOT_COUNT] = {root2};

	snprintf(root2, sizeof(root2), "%s/root2", w->dir);
	assert_int_equal(harness_run("cp -a %s %s", w->root, root2), 0);
	watch_start(&sw);
	seal_of(w, paths, 3, &s1);
	assert_true(watch_check(&sw, &s1, roots, &broken));
	seal_at(root2, paths, 3, &s2);
	assert_true(watch_check(&sw, &s2, roots2, &broken));
	dirs_list(&sw, got, sizeof(got));
	assert_string_equal(got, "a a/b . ");
	/* the old root is no longer watched, the new one is */
	assert_int_equal(harness_run("echo xx >>%s/a/x", w->root), 0);
	assert_false(watch_read(&sw));
	assert_int_equal(harness_run("echo xx >>%s/a/x", root2), 0);
	assert_true(watch_read(&sw));
	snprintf(want, sizeof(want), "%s/a/x", root2);
	assert_string_equal(sw.why, want);
	seal_release(&s2);
	seal_release(&s1);
	watch_close(&sw);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_root, setup, teardown),
	};

	return harness_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
