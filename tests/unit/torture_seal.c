/*
 * torture_seal: the fast path (seal.h) through whole passes of the example
 * repository.  A settled pass seals; the next pass with the same inputs is a
 * sealed one; each kind of input the seal covers, changed, makes the next
 * pass a full one (or a delta one for a change of one node's file), never a
 * sealed one.  And the render-time read API records what it reads.
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
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "reconcile.h"
#include "reconciler.h"

struct world {
	char dir[64];
	char path[256];
	struct bramble_config cfg;
	FILE *devnull;
};

static const char *at(struct world *w, const char *rel)
{
	snprintf(w->path, sizeof(w->path), "%s/%s", w->dir, rel);
	return w->path;
}

/* Run a shell command, which must succeed. */
static void run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void run(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	assert_int_equal(harness_run("%s", cmd), 0);
}

static void set_key(struct world *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_key(struct world *w, const char *fmt, ...)
{
	struct diags d;
	char kv[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(kv, sizeof(kv), fmt, ap);
	va_end(ap);
	memset(&d, 0, sizeof(d));
	assert_int_equal(config_set_key(&w->cfg, kv, &d), 0);
	diags_release(&d);
}

/* The configuration the e2e tests' b() makes: --source, --root, no dnsmasq --test. */
static void world_config(struct world *w)
{
	assert_int_equal(config_init(&w->cfg), 0);
	assert_int_equal(config_set_root(&w->cfg, at(w, "out")), 0);
	assert_int_equal(config_set(&w->cfg.source, at(w, "repo")), 0);
	set_key(w, "dhcp.testCommand=");
	set_key(w, "paths.secretsDir=%s/secrets", w->dir);
	assert_int_equal(config_absolutize(&w->cfg), 0);
}

static int setup(void **state)
{
	struct world *w = calloc(1, sizeof(*w));

	assert_non_null(w);
	snprintf(w->dir, sizeof(w->dir), "/tmp/bf1s-seal.XXXXXX");
	assert_non_null(mkdtemp(w->dir));
	run("cd %s && mkdir -p out/images secrets && cp -r %s/manifests/examples repo "
	    "&& printf 'example-passphrase\\n' >secrets/wifi-passphrase && "
	    "sed -i 's|/etc/bramble/secrets/wifi-passphrase|%s/secrets/"
	    "wifi-passphrase|' repo/nodes/pi5.yaml && "
	    "sh %s/scripts/make-demo-image.sh out/images/demo-os >/dev/null",
	    w->dir, BRAMBLE_SOURCE_DIR, w->dir, BRAMBLE_SOURCE_DIR);
	w->devnull = fopen("/dev/null", "we");
	assert_non_null(w->devnull);
	world_config(w);
	*state = w;
	return 0;
}

static int teardown(void **state)
{
	struct world *w = *state;

	config_release(&w->cfg);
	fclose(w->devnull);
	harness_run("rm -rf %s", w->dir);
	free(w);
	return 0;
}

/* One apply; returns how it did its work (enum pass_kind). */
static enum pass_kind apply(struct world *w)
{
	struct pass_opts o;
	struct pass_result res;

	memset(&o, 0, sizeof(o));
	memset(&res, 0, sizeof(res));
	o.mode = PASS_MODE_APPLY;
	o.out = w->devnull;
	assert_int_equal(reconcile_pass(&w->cfg, &o, &res), EXIT_OK);
	return res.kind;
}

/* Past the racy-clean second (seal.h), apply until sealed: the pass after must be sealed. */
static void settle(struct world *w)
{
	struct timespec t = {1, 100000000};

	nanosleep(&t, NULL);
	apply(w);
	assert_int_equal(access(at(w, "out/state/seal"), F_OK), 0);
	assert_int_equal(apply(w), PASS_KIND_SEALED);
}

/* After a change: the next pass must be of kind want; then settle again. */
static void next_pass(struct world *w, enum pass_kind want)
{
	assert_int_equal(apply(w), want);
	settle(w);
}

/* The first pass writes everything; the world then settles into a seal. */
static void start(struct world *w)
{
	apply(w);
	settle(w);
}

static void test_holds(void **state)
{
	struct world *w = *state;

	start(w);
	assert_int_equal(apply(w), PASS_KIND_SEALED);
	assert_int_equal(apply(w), PASS_KIND_SEALED);
}

/* One node (pi4-b) changed, in a file of Nodes only: a delta pass. */
static void change_one_node(struct world *w)
{
	run("sed -i 's/gpu_mem: 16/gpu_mem: 32/' %s", at(w, "repo/nodes/pi4.yaml"));
	next_pass(w, PASS_KIND_DELTA);
}

/* A file of Nodes changed: a delta pass; a file with Profiles: a full one. */
static void test_manifest_files(void **state)
{
	struct world *w = *state;

	start(w);
	change_one_node(w);
	run("printf '# a comment\\n' >>%s", at(w, "repo/profiles.yaml"));
	assert_int_equal(apply(w), PASS_KIND_FULL);
}

static void test_secret_file(void **state)
{
	struct world *w = *state;

	start(w);
	run("printf 'another-passphrase\\n' >%s", at(w, "secrets/wifi-passphrase"));
	next_pass(w, PASS_KIND_FULL);
}

/*
 * A delta pass does not render the nodes outside it, nor read their secret
 * files: the seal it writes must still watch them.
 */
static void test_secret_after_delta(void **state)
{
	struct world *w = *state;

	start(w);
	change_one_node(w);
	run("printf 'another-passphrase\\n' >%s", at(w, "secrets/wifi-passphrase"));
	assert_int_equal(apply(w), PASS_KIND_FULL);
}

static void test_image_tree(void **state)
{
	struct world *w = *state;

	run("mkdir -p %s/usr/share", at(w, "out/images/demo-os/root"));
	start(w);
	/* A file's content (same name, same size). */
	run("printf 'demo start4.elf (not a real binarz)\\n' >%s",
	    at(w, "out/images/demo-os/boot/start4.elf"));
	next_pass(w, PASS_KIND_FULL);
	/* A file added to the boot tree. */
	run("printf x >%s", at(w, "out/images/demo-os/boot/overlays/extra.dtbo"));
	next_pass(w, PASS_KIND_FULL);
	/* The image's own cmdline.txt. */
	run("printf ' quiet' >>%s", at(w, "out/images/demo-os/boot/cmdline.txt"));
	next_pass(w, PASS_KIND_FULL);
	/* The overlayroot hook appears deep in the image's root (whose own
	 * directory does not change). */
	run("mkdir -p %s/usr/share/initramfs-tools/scripts/init-bottom && : "
	    ">%s/usr/share/initramfs-tools/scripts/init-bottom/overlayroot",
	    at(w, "out/images/demo-os/root"), w->path);
	next_pass(w, PASS_KIND_FULL);
}

/* A controller setting, and an output path, are inputs of every file. */
static void test_config(void **state)
{
	struct world *w = *state;

	start(w);
	set_key(w, "dhcp.leaseFile=%s/leases", w->dir);
	next_pass(w, PASS_KIND_FULL);
	assert_int_equal(config_set(&w->cfg.tftp_root, at(w, "out/tftp2")), 0);
	next_pass(w, PASS_KIND_FULL);
}

/* What the last pass wrote, changed behind bramble's back. */
static void test_outputs(void **state)
{
	struct world *w = *state;

	start(w);
	run("printf 'hacked=1\\n' >>%s/out/tftp/1234abcd/config.txt", w->dir);
	next_pass(w, PASS_KIND_FULL);
	run("rm %s/out/tftp/1234abcd/start4.elf", w->dir);
	next_pass(w, PASS_KIND_FULL);
}

/* A seal of another program version or format is no seal. */
static void test_version(void **state)
{
	struct world *w = *state;

	start(w);
	/* Another version or configuration: another base (and key). */
	run("sed -i 's/^base .*/base %064d/; s/^key .*/key %064d/' %s", 0, 0,
	    at(w, "out/state/seal"));
	next_pass(w, PASS_KIND_FULL);
	run("sed -i '1s/.*/# bramble seal 1/' %s", at(w, "out/state/seal"));
	next_pass(w, PASS_KIND_FULL);
	run("sed -i '$d' %s", at(w, "out/state/seal")); /* torn */
	assert_int_equal(apply(w), PASS_KIND_FULL);
}

/* Read the seal: want NULL, a seal; otherwise no seal, and the reason holds want. */
static void read_expect(struct world *w, const char *want)
{
	struct buf why = BUF_INIT;
	struct seal seal;
	int fd = open(at(w, "out/state"), O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(seal_read(fd, &seal, &why), want ? 0 : 1);
	print_message("%s\n", why.len ? buf_str(&why) : "a seal");
	if (want)
		assert_non_null(strstr(buf_str(&why), want));
	else
		assert_true(seal.n_entries > 0 && seal.n_files > 0 && seal.n_nodes > 0);
	seal_release(&seal);
	buf_release(&why);
	close(fd);
}

/* A damaged seal is no seal, and the reader says where and what (the checked parser). */
static void test_damaged(void **state)
{
	/* A damage (a shell command in the state directory), and what the reader says of it. */
	static const struct {
		const char *damage, *want;
	} cases[] = {
		{"sed -i '5s/^/garbage /' seal", "seal:5: bad entry \"garbage f "},
		{"awk '$1 == \"S\" && !d { $4 = \"12x\"; d = 1 } { print }' seal.good >seal",
		 ": bad inode \"12x\": expected a decimal number"},
		{"awk '$1 == \"D\" && !d { $8 = \"9z\"; d = 1 } { print }' seal.good >seal",
		 ": bad mode \"9z\": expected an octal number"},
		{"sed -i 's/^end [0-9]*/end 1/' seal", ": end 1: expected "},
		{"sed -i '$d' seal", ": no \"end\" line: the seal was cut short"},
		{"sed -i 's/^counts .*/counts 1 2/' seal", "seal:4: 2 fields: expected 3 counts"},
		{"printf 'S' >>seal", "seal: no newline at the end"},
		{"sed -i '1s/.*/# bramble seal 1/' seal", "seal:1: expected \"# bramble seal 2\""},
	};
	struct world *w = *state;
	size_t i;

	start(w);
	read_expect(w, NULL);
	run("cd %s && cp seal seal.good", at(w, "out/state"));
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		run("cd %s && cp seal.good seal && %s", at(w, "out/state"), cases[i].damage);
		read_expect(w, cases[i].want);
	}
	/* and the pass after a damaged seal is a full one */
	run("cd %s && cp seal.good seal && sed -i '5s/^/garbage /' seal", at(w, "out/state"));
	assert_int_equal(apply(w), PASS_KIND_FULL);
}

/* Parse a seal's text made by hand: 1 (a seal) or 0, the reason in why. */
static int parse_entries(const char *entries, struct seal *s, struct buf *why)
{
	struct buf text = BUF_INIT;
	char *data;
	size_t len;

	assert_int_equal(buf_printf(&text,
				    "# bramble seal 2\nkey %064d\nbase %064d\ncounts 2 1 1\n"
				    "f %064d N nodes.yaml\n%s",
				    0, 0, 0, entries),
			 0);
	data = buf_detach(&text, &len);
	return seal_parse_text(data, len, s, why);
}

/*
 * An entry keeps its path and finds its line and owner from it (56 bytes
 * an entry in the daemon's kept seal): each field as written.
 */
static void test_entry_fields(void **state)
{
#define ABS "6" /* SEAL_ABSPATH */
	const char *lines[] = {
		"S node-1 1 42 11 1000000001 1000000002 100644 b0000001/etc/hostname",
		"D / 0 7 0 0 0 40755 .",
		"S * " ABS " 9 683 5 6 100600 /etc/bramble/secret with space",
	};
	struct buf why = BUF_INIT;
	struct seal s;
	const struct seal_entry *e;
	int r;

	(void)state;
	assert_int_equal(SEAL_ABSPATH, 6);
	r = parse_entries("S node-1 1 42 11 1000000001 1000000002 100644 "
			  "b0000001/etc/hostname\nD / 0 7 0 0 0 40755 .\n"
			  "S * " ABS " 9 683 5 6 100600 /etc/bramble/secret with space\nend 3\n",
			  &s, &why);
	print_message("%s\n", why.len ? buf_str(&why) : "a seal");
	assert_int_equal(r, 1);
	assert_int_equal(s.n_entries, 3);
	e = &s.entries[0];
	assert_string_equal(seal_entry_line(e), lines[0]);
	assert_string_equal(e->path, "b0000001/etc/hostname");
	assert_int_equal(e->owner_len, 6);
	assert_memory_equal(seal_entry_owner(e), "node-1", 6);
	assert_true(seal_entry_owned_by(e, "node-1") && !seal_entry_owned_by(e, "node-"));
	assert_true(e->kind == 'S' && e->root == 1 && e->ino == 42 && e->size == 11);
	assert_true(e->mtime_ns == 1000000001 && e->ctime_ns == 1000000002 && e->mode == 0100644);
	e = &s.entries[1];
	assert_string_equal(seal_entry_line(e), lines[1]);
	assert_true(e->kind == 'D' && seal_entry_owned_by(e, "/") && e->mode == 040755);
	assert_string_equal(e->path, ".");
	e = &s.entries[2];
	assert_string_equal(seal_entry_line(e), lines[2]);
	assert_true(e->root == SEAL_ABSPATH && seal_entry_owned_by(e, "*"));
	assert_string_equal(e->path, "/etc/bramble/secret with space");
	seal_release(&s);
	/* What the smaller fields cannot hold is no seal. */
	assert_int_equal(parse_entries("S n 1 1 1 1 1 77777777777 a\nend 1\n", &s, &why), 0);
	print_message("%s\n", buf_str(&why));
	assert_non_null(strstr(buf_str(&why), "mode"));
	buf_release(&why);
	assert_int_equal(parse_entries("S n 9 1 1 1 1 100644 a\nend 1\n", &s, &why), 0);
	print_message("%s\n", buf_str(&why));
	assert_non_null(strstr(buf_str(&why), "root"));
	buf_release(&why);
#undef ABS
}

/* The read API records what it reads, by a path the seal can stat. */
static void test_read_api(void **state)
{
	struct world *w = *state;
	struct seal_deps deps;
	struct render_ctx ctx;
	struct node n;
	struct stat st;
	char *data = NULL;
	size_t len = 0;

	memset(&n, 0, sizeof(n));
	n.name = (char *)(uintptr_t) "pi";
	memset(&deps, 0, sizeof(deps));
	memset(&ctx, 0, sizeof(ctx));
	ctx.deps = &deps;
	ctx.images_fd = -1;
	ctx.secrets_dir = at(w, "secrets");
	assert_int_equal(render_read_secret(&ctx, &n, "wifi-passphrase", 4096, &data, &len), 0);
	assert_int_equal(deps.n, 1);
	assert_int_equal(deps.v[0].root, SEAL_ABSPATH);
	assert_string_equal(deps.v[0].path, at(w, "secrets/wifi-passphrase"));
	assert_string_equal(deps.v[0].node, "pi");
	assert_int_equal(stat(deps.v[0].path, &st), 0);
	free(data);
	data = NULL;
	/* Refused reads record nothing. */
	assert_int_equal(render_read_secret(&ctx, &n, "/etc/hostname", 4096, &data, &len), -EXDEV);
	assert_int_equal(deps.n, 1);
	ctx.images_fd = open(at(w, "out/images"), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(ctx.images_fd >= 0);
	/* An absent path: its nearest directory stands for it. */
	assert_int_equal(render_probe_image(&ctx, "demo-os/root/etc/nothing/here"), 0);
	assert_int_equal(deps.n, 2);
	assert_string_equal(deps.v[1].path, "demo-os/root/etc");
	assert_int_equal(render_probe_image(&ctx, "nothing"), 0);
	assert_string_equal(deps.v[2].path, ".");
	assert_int_equal(render_stat_image(&ctx, "demo-os/boot", &st), 0);
	assert_string_equal(deps.v[3].path, "demo-os/boot");
	close(ctx.images_fd);
	seal_deps_release(&deps);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_read_api, setup, teardown),
		cmocka_unit_test_setup_teardown(test_holds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_manifest_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_secret_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_secret_after_delta, setup, teardown),
		cmocka_unit_test_setup_teardown(test_image_tree, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config, setup, teardown),
		cmocka_unit_test_setup_teardown(test_outputs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_version, setup, teardown),
		cmocka_unit_test_setup_teardown(test_damaged, setup, teardown),
		cmocka_unit_test(test_entry_fields),
	};

	return harness_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
