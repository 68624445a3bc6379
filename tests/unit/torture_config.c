/*
 * torture_config: the controller configuration file, --root and --set.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"

static char path[64];

static void write_config(const char *text)
{
	FILE *f;

	snprintf(path, sizeof(path), "/tmp/torture_config.XXXXXX");
	close(mkstemp(path));
	f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
}

static void test_defaults_and_root(void **state)
{
	struct bramble_config c;

	(void)state;
	assert_int_equal(config_init(&c), 0);
	assert_string_equal(c.tftp_root, "/srv/bramble/tftp");
	assert_string_equal(c.listen, "127.0.0.1:9420");
	assert_int_equal(config_set_root(&c, "/x"), 0);
	assert_string_equal(c.tftp_root, "/x/tftp");
	assert_string_equal(c.dhcp_conf_file, "/x/dnsmasq/bramble.conf");
	assert_string_equal(c.exports_file, "/x/exports/bramble.exports");
	config_release(&c);
}

static void test_load(void **state)
{
	struct bramble_config c;
	struct diags d = DIAGS_INIT;

	(void)state;
	write_config("source:\n  url: /repo\n  interval: 5m\npaths:\n  tftpRoot: /t\n"
		     "dhcp:\n  restartCommand: \"kill -HUP 1\"\nallowEmpty: true\n");
	assert_int_equal(config_init(&c), 0);
	assert_int_equal(config_load(&c, path, &d), 0);
	assert_string_equal(c.source, "/repo");
	assert_int_equal(c.interval_s, 300);
	assert_string_equal(c.tftp_root, "/t");
	assert_string_equal(c.dhcp_restart_cmd, "kill -HUP 1");
	assert_true(c.allow_empty);
	unlink(path);
	config_release(&c);
	diags_release(&d);
}

static void test_errors_have_positions(void **state)
{
	struct bramble_config c;
	struct diags d = DIAGS_INIT;

	(void)state;
	write_config("source:\n  url: /repo\n  colour: blue\n  interval: soon\npaths:\n  tftpRoot: "
		     "[a]\n");
	assert_int_equal(config_init(&c), 0);
	assert_int_equal(config_load(&c, path, &d), -EINVAL);
	assert_true(d.n >= 2);
	assert_int_equal(d.v[0].line, 3);
	assert_int_equal(d.v[0].col, 3);
	assert_non_null(strstr(d.v[0].msg, "unknown key \"source.colour\""));
	assert_int_equal(d.v[1].line, 4);
	assert_non_null(strstr(d.v[1].msg, "bad duration"));
	unlink(path);
	config_release(&c);
	diags_release(&d);
}

static void test_set(void **state)
{
	struct bramble_config c;
	struct diags d = DIAGS_INIT;

	(void)state;
	assert_int_equal(config_init(&c), 0);
	assert_int_equal(config_set_key(&c, "dhcp.testCommand=", &d), 0);
	assert_null(c.dhcp_test_cmd);
	assert_int_equal(config_set_key(&c, "nfs.reloadCommand=exportfs -ra", &d), 0);
	assert_string_equal(c.nfs_reload_cmd, "exportfs -ra");
	assert_int_equal(config_set_key(&c, "allowEmpty=true", &d), 0);
	assert_true(c.allow_empty);
	assert_int_equal(config_set_key(&c, "nope.key=1", &d), -EINVAL);
	assert_int_equal(config_set_key(&c, "novalue", &d), -EINVAL);
	assert_int_equal(config_set_key(&c, "source.interval=soon", &d), -EINVAL);
	assert_int_equal(d.n, 3);
	config_release(&c);
	diags_release(&d);
}

/* images.*: counts, durations, sizes with units, booleans, strings. */
static void test_images_keys(void **state)
{
	struct bramble_config c;
	struct diags d = DIAGS_INIT;

	(void)state;
	assert_int_equal(config_init(&c), 0);
	assert_int_equal(c.images_retries, 3);
	assert_int_equal(c.images_max_size, (uint64_t)64 << 30);
	assert_int_equal(config_set_key(&c, "images.retries=0", &d), 0);
	assert_int_equal(c.images_retries, 0);
	assert_int_equal(config_set_key(&c, "images.timeout=2m", &d), 0);
	assert_int_equal(c.images_timeout_s, 120);
	assert_int_equal(config_set_key(&c, "images.maxSize=512M", &d), 0);
	assert_int_equal(c.images_max_size, (uint64_t)512 << 20);
	assert_int_equal(config_set_key(&c, "images.maxSize=2GiB", &d), 0);
	assert_int_equal(c.images_max_size, (uint64_t)2 << 30);
	assert_int_equal(config_set_key(&c, "images.keepDownloads=true", &d), 0);
	assert_true(c.images_keep_downloads);
	assert_int_equal(config_set_key(&c, "images.caFile=/etc/ca.pem", &d), 0);
	assert_string_equal(c.images_ca_file, "/etc/ca.pem");
	assert_int_equal(config_set_key(&c, "images.retries=-1", &d), -EINVAL);
	assert_int_equal(config_set_key(&c, "images.retries=5000", &d), -EINVAL);
	assert_int_equal(config_set_key(&c, "images.maxSize=12X", &d), -EINVAL);
	assert_int_equal(config_set_key(&c, "images.maxSize=100", &d), -EINVAL);
	assert_int_equal(config_set_key(&c, "images.maxSize=2T", &d), -EINVAL);
	assert_int_equal(d.n, 5);
	assert_non_null(strstr(d.v[2].msg, "bad size"));
	config_release(&c);
	diags_release(&d);
}

/* Load text; 0 or -EINVAL, with the first message (if any) checked to hold want at line:col. */
static void load_expect(const char *text, int ret, const char *want, unsigned line, unsigned col)
{
	struct bramble_config c;
	struct diags d = DIAGS_INIT;

	write_config(text);
	assert_int_equal(config_init(&c), 0);
	assert_int_equal(config_load(&c, path, &d), ret);
	if (want) {
		assert_true(d.n >= 1);
		print_message("%u:%u: %s\n", d.v[0].line, d.v[0].col, d.v[0].msg);
		assert_non_null(strstr(d.v[0].msg, want));
		assert_int_equal(d.v[0].line, line);
		assert_int_equal(d.v[0].col, col);
	}
	unlink(path);
	config_release(&c);
	diags_release(&d);
}

/* The file goes through the manifests' YAML tree: its rules and limits. */
static void test_yaml_tree(void **state)
{
	struct bramble_config c;
	struct diags d = DIAGS_INIT;
	char deep[600];
	size_t i;

	(void)state;
	/* a byte order mark is not content; an alias is a value like any other */
	write_config("\xef\xbb\xbfsource:\n  url: &u /repo\n  path: *u\n");
	assert_int_equal(config_init(&c), 0);
	assert_int_equal(config_load(&c, path, &d), 0);
	assert_string_equal(c.source, "/repo");
	assert_string_equal(c.source_path, "/repo");
	unlink(path);
	config_release(&c);
	diags_release(&d);
	load_expect("", 0, NULL, 0, 0);
	load_expect("source:\n  ref: a\n  ref: b\n", -EINVAL, "duplicate key", 3, 3);
	load_expect("source:\n  url: /a\n---\nsource:\n  url: /b\n", -EINVAL, "second document", 4,
		    1);
	load_expect("- a\n", -EINVAL, "expected a mapping of settings", 1, 1);
	load_expect("source:\n  url: [a\n", -EINVAL, NULL, 0, 0);
	load_expect("source:\n  url: {a: 1}\n  ref: main\n", -EINVAL, "expected a scalar value", 2,
		    3);
	/* nesting past the manifests' depth limit */
	for (i = 0; i < 200; i++)
		deep[i] = '[';
	deep[i] = '\0';
	load_expect(deep, -EINVAL, "nesting deeper than", 1, 65);
}

/* Set one key: 0, or -EINVAL with a message that holds want. */
static void set_expect(struct bramble_config *c, const char *assignment, int ret, const char *want)
{
	struct diags d = DIAGS_INIT;

	assert_int_equal(config_set_key(c, assignment, &d), ret);
	if (want) {
		assert_int_equal(d.n, 1);
		print_message("%s: %s\n", assignment, d.v[0].msg);
		assert_non_null(strstr(d.v[0].msg, want));
	} else {
		assert_int_equal(d.n, 0);
	}
	diags_release(&d);
}

/* Every number has its key's bounds, said in the message; 0 only where it means off. */
static void test_bounds(void **state)
{
	struct bramble_config c;

	(void)state;
	assert_int_equal(config_init(&c), 0);
	/* 0 where not allowed, and where it turns the thing off */
	set_expect(&c, "source.interval=0", -EINVAL, "expected e.g. 60s, 5m, 1h (1s to 7d)");
	set_expect(&c, "source.interval=0s", -EINVAL, "(1s to 7d)");
	set_expect(&c, "boot.deferMax=0", 0, NULL);
	assert_int_equal(c.boot_defer_max_s, 0);
	/* above max: a week for most durations, ten years for the attic */
	set_expect(&c, "source.timeout=7d", 0, NULL);
	assert_int_equal(c.timeout_s, 7 * 86400);
	set_expect(&c, "source.timeout=169h", -EINVAL, "bad duration \"169h\" for \"timeout\"");
	set_expect(&c, "boot.deferMax=8d", -EINVAL, "(0 (off), or 1s to 7d)");
	set_expect(&c, "roots.atticRetention=3650d", 0, NULL);
	set_expect(&c, "roots.atticRetention=3651d", -EINVAL, "(1s to 3650d)");
	set_expect(&c, "roots.atticRetention=99999999999999999999d", -EINVAL, "(1s to 3650d)");
	/* counts: their own maximum */
	set_expect(&c, "notify.retries=10", 0, NULL);
	set_expect(&c, "notify.retries=11", -EINVAL, "expected 0 to 10");
	set_expect(&c, "images.retries=1000", 0, NULL);
	set_expect(&c, "images.retries=1001", -EINVAL, "expected 0 to 1000");
	/* sizes: below min, above max */
	set_expect(&c, "images.maxSize=1M", 0, NULL);
	set_expect(&c, "images.maxSize=1023K", -EINVAL, "expected e.g. 64G, 512M (1M to 1T)");
	set_expect(&c, "images.maxSize=1T", 0, NULL);
	set_expect(&c, "images.maxSize=1025G", -EINVAL, "(1M to 1T)");
	set_expect(&c, "images.maxSize=0", -EINVAL, "(1M to 1T)");
	/* an enum: its names */
	set_expect(&c, "roots.copyMode=reflink", 0, NULL);
	assert_string_equal(c.roots_copy_mode, "reflink");
	set_expect(&c, "roots.copyMode=fast", -EINVAL,
		   "bad value \"fast\" for \"copyMode\"; expected auto, reflink or copy");
	set_expect(&c, "allowEmpty=yes", -EINVAL, "expected true or false");
	config_release(&c);
	/* in the file: the same range, at the value's key */
	load_expect("boot:\n  deferMax: 1h\nnotify:\n  retries: 12\n", -EINVAL, "expected 0 to 10",
		    4, 3);
	load_expect("roots:\n  copyMode: Copy\n", -EINVAL, "expected auto, reflink or copy", 2, 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults_and_root),
		cmocka_unit_test(test_load),
		cmocka_unit_test(test_errors_have_positions),
		cmocka_unit_test(test_set),
		cmocka_unit_test(test_images_keys),
		cmocka_unit_test(test_yaml_tree),
		cmocka_unit_test(test_bounds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
