/*
 * torture_selector: the Node label selector (selector.h): its syntax, its
 * canonical form (the recorded one), matching, filtering a set, and its
 * record in a state directory.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "selector.h"

/* The canonical form of s, or NULL when s is refused (why set). */
static char *canon(const char *s, const char **why)
{
	struct buf b = BUF_INIT;
	char *ret;

	if (selector_canonical(s, &b, why) < 0) {
		buf_release(&b);
		return NULL;
	}
	ret = strdup(buf_str(&b));
	buf_release(&b);
	return ret;
}

static void test_syntax(void **state)
{
	static const char *const bad[] = {
		"site",	   "=a",       "site=a,",	",site=a",     "site=a=b",
		"site =a", "site=a b", "site=a,site=b", "site=a,,b=c", "a\tb=c",
	};
	const char *why = NULL;
	char *c;
	size_t i;

	(void)state;
	c = canon("site=rack-b", &why);
	assert_string_equal(c, "site=rack-b");
	free(c);
	c = canon("site=rack-b,role=worker", &why);
	assert_string_equal(c, "role=worker,site=rack-b"); /* sorted: one form per selector */
	free(c);
	c = canon("a=", &why); /* an empty value selects an empty label */
	assert_string_equal(c, "a=");
	free(c);
	c = canon("", &why);
	assert_string_equal(c, "");
	free(c);
	c = canon(NULL, &why);
	assert_string_equal(c, "");
	free(c);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		if (selector_canonical(bad[i], NULL, &why) != -EINVAL)
			fail_msg("\"%s\" accepted", bad[i]);
		assert_non_null(why);
	}
}

static char k_site[] = "site", k_role[] = "role", v_a[] = "a", v_w[] = "w", v_b[] = "b";
static char n1_name[] = "n1", n2_name[] = "n2", n3_name[] = "n3";
static struct kv kv_a[] = {{k_site, v_a}, {k_role, v_w}};
static struct kv kv_b[] = {{k_site, v_b}};

static void test_match_apply(void **state)
{
	struct node n1, n2, n3;
	struct node *v[3] = {&n1, &n2, &n3};
	struct manifest_set set;

	(void)state;
	memset(&n1, 0, sizeof(n1));
	memset(&n2, 0, sizeof(n2));
	memset(&n3, 0, sizeof(n3));
	n1.name = n1_name;
	n1.labels.v = kv_a;
	n1.labels.n = 2;
	n2.name = n2_name;
	n2.labels.v = kv_b;
	n2.labels.n = 1;
	n3.name = n3_name; /* no labels */
	assert_true(selector_match(NULL, &n3));
	assert_true(selector_match("site=a", &n1));
	assert_true(selector_match("role=w,site=a", &n1));
	assert_false(selector_match("site=a,role=x", &n1));
	assert_false(selector_match("site=a", &n2));
	assert_false(selector_match("site=", &n3)); /* missing is not empty */
	assert_false(selector_match("site=aa", &n1));
	assert_false(selector_match("sit=a", &n1));
	memset(&set, 0, sizeof(set));
	set.nodes = v;
	set.n_nodes = 3;
	assert_int_equal(selector_apply(NULL, &set), 0);
	assert_int_equal(set.n_nodes, 3);
	assert_int_equal(selector_apply("site=b", &set), 2);
	assert_int_equal(set.n_nodes, 1);
	assert_ptr_equal(set.nodes[0], &n2);
}

static void test_record(void **state)
{
	char dir[] = "/tmp/torture_selector.XXXXXX";
	struct buf b = BUF_INIT;
	int fd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(selector_recorded(-1, &b), 0); /* no state directory yet */
	assert_string_equal(buf_str(&b), "");
	assert_int_equal(selector_recorded(fd, &b), 0);
	assert_string_equal(buf_str(&b), "");
	assert_int_equal(selector_record(fd, "role=w,site=a"), 0);
	assert_int_equal(selector_recorded(fd, &b), 0);
	assert_string_equal(buf_str(&b), "role=w,site=a");
	buf_truncate(&b, 0);
	assert_int_equal(selector_record(fd, ""), 0); /* none: the record goes */
	assert_int_equal(faccessat(fd, SELECTOR_FILE, F_OK, 0), -1);
	assert_int_equal(selector_recorded(fd, &b), 0);
	assert_string_equal(buf_str(&b), "");
	assert_int_equal(selector_record(fd, ""), 0);
	buf_release(&b);
	close(fd);
	assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_syntax),
		cmocka_unit_test(test_match_apply),
		cmocka_unit_test(test_record),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
