/*
 * torture_reconcilers: what each reconciler renders from a hand-made
 * manifest set: cmdline.txt and config.txt, dnsmasq in every mode, hosts
 * files, kernel and ganesha exports, stable export ids, TFTP naming.
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
#include <unistd.h>

#include <cmocka.h>

#include "firstboot.h"
#include "fsutil.h"
#include "harness.h"
#include "reconciler.h"

struct world {
	char dir[64];
	char images[128];
	struct cluster cluster;
	struct image image;
	struct node nodes[3];
	struct node *node_ptrs[3];
	struct image *image_ptrs[1];
	struct manifest_set set;
	struct export_ids ids;
	struct render_ctx ctx;
	struct resource_set out;
	struct diags d;
};

static void put(const char *dir, const char *name, const char *content)
{
	char p[256];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	f = fopen(p, "w");
	assert_non_null(f);
	fputs(content, f);
	fclose(f);
}

static void node_init(struct node *n, const char *name, const char *serial, const char *ip,
		      struct image *img)
{
	memset(n, 0, sizeof(*n));
	n->name = (char *)(uintptr_t)name;
	n->hostname = (char *)(uintptr_t)name;
	memcpy(n->serial, serial, 9);
	if (ip) {
		n->has_ip = true;
		snprintf(n->ip_str, sizeof(n->ip_str), "%s", ip);
	}
	n->has_mac = true;
	memcpy(n->mac, "\xdc\xa6\x32\x00\x00", 5);
	n->mac[5] = (uint8_t)serial[7];
	snprintf(n->mac_str, sizeof(n->mac_str), "dc:a6:32:00:00:%02x", n->mac[5]);
	n->model = PI_MODEL_PI4;
	n->image = img;
}

static int setup(void **state)
{
	struct world *w = calloc(1, sizeof(*w));
	char boot[160];
	size_t i;

	snprintf(w->dir, sizeof(w->dir), "/tmp/torture_rec.XXXXXX");
	assert_non_null(mkdtemp(w->dir));
	snprintf(w->images, sizeof(w->images), "%s/images", w->dir);
	snprintf(boot, sizeof(boot), "%s/os/boot/overlays", w->images);
	assert_int_equal(mkdir_p(boot, 0755), 0);
	snprintf(boot, sizeof(boot), "%s/os/root/etc", w->images); /* the image's root tree */
	assert_int_equal(mkdir_p(boot, 0755), 0);
	snprintf(boot, sizeof(boot), "%s/os/boot", w->images);
	put(boot, "start4.elf", "fw");
	put(boot, "bootcode.bin", "bc");
	put(boot, "overlays/a.dtbo", "ov");
	put(boot, "config.txt", "arm_64bit=1\n[pi4]\narm_boost=1");
	put(boot, "cmdline.txt",
	    "console=serial0,115200 root=PARTUUID=x-02 rootfstype=ext4 fsck.repair=yes rootwait "
	    "quiet init=/x\n");
	w->image.name = (char *)(uintptr_t) "os";
	w->image.path = (char *)(uintptr_t) "os";
	w->cluster.name = (char *)(uintptr_t) "lab";
	w->cluster.server = (char *)(uintptr_t) "10.99.0.1";
	w->cluster.subnet = (char *)(uintptr_t) "10.99.0.0/24";
	w->cluster.subnet_ip = 0x0a630000;
	w->cluster.prefix_len = 24;
	w->cluster.lease_seconds = 3600;
	w->cluster.nfs_version = 3;
	node_init(&w->nodes[0], "a", "1234abcd", "10.99.0.42", &w->image);
	node_init(&w->nodes[1], "b", "2345bcde", NULL, &w->image);
	node_init(&w->nodes[2], "c", "3456cdef", "10.99.0.44", &w->image);
	for (i = 0; i < 3; i++)
		w->node_ptrs[i] = &w->nodes[i];
	w->image_ptrs[0] = &w->image;
	w->set.cluster = &w->cluster;
	w->set.images = w->image_ptrs;
	w->set.n_images = 1;
	w->set.nodes = w->node_ptrs;
	w->set.n_nodes = 3;
	w->ctx.set = &w->set;
	w->ctx.root_path[ROOT_TFTP] = "/srv/tftp";
	w->ctx.root_path[ROOT_NFS] = "/srv/nfs";
	w->ctx.root_path[ROOT_DHCP_HOSTS] = "/etc/hosts.d";
	w->ctx.root_path[ROOT_IMAGES] = w->images;
	w->ctx.dhcp_conf_name = "bramble.conf";
	w->ctx.exports_name = "bramble.exports";
	w->ctx.ganesha_name = "ganesha.conf";
	w->ctx.export_ids = &w->ids;
	w->ctx.images_fd = open(w->images, O_RDONLY | O_DIRECTORY);
	*state = w;
	return 0;
}

static int teardown(void **state)
{
	struct world *w = *state;
	int fd = open("/tmp", O_RDONLY | O_DIRECTORY);

	rm_rf_at(fd, w->dir + 5);
	close(fd);
	close(w->ctx.images_fd);
	resource_set_release(&w->out);
	image_trees_release(&w->ctx);
	export_ids_release(&w->ids);
	diags_release(&w->d);
	free(w);
	return 0;
}

static const struct resource *find(const struct resource_set *s, enum root_id root,
				   const char *path)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (s->v[i].root == root && strcmp(s->v[i].path, path) == 0)
			return &s->v[i];
	return NULL;
}

static const struct resource *child(const struct resource *tree, const char *path)
{
	struct child_walk w = {tree, 0, 0};
	const struct resource *c;

	while ((c = child_walk_next(&w)) != NULL)
		if (strcmp(c->path, path) == 0)
			return c;
	return NULL;
}

static void render(struct world *w)
{
	resource_set_release(&w->out);
	image_trees_release(&w->ctx);
	assert_int_equal(image_trees_load(&w->ctx, &w->d), 0);
	assert_int_equal(render_all(&w->ctx, &w->out, &w->d), 0);
}

static void test_boot_tree(void **state)
{
	struct world *w = *state;
	const struct resource *t, *c;
	char quiet[] = "quiet", tty[] = "console=tty1";
	char *extra[] = {quiet, tty};

	w->nodes[0].cmdline.v = extra;
	w->nodes[0].cmdline.n = 2;
	render(w);
	t = find(&w->out, ROOT_TFTP, "1234abcd");
	assert_non_null(t);
	assert_int_equal(t->type, RES_TREE);
	assert_string_equal(t->node, "a");
	c = child(t, "start4.elf");
	assert_non_null(c);
	assert_int_equal(c->type, RES_HARDLINK);
	assert_string_equal(c->data, "os/boot/start4.elf");
	assert_non_null(child(t, "overlays"));
	assert_non_null(child(t, "overlays/a.dtbo"));
	c = child(t, "cmdline.txt");
	assert_string_equal(c->data, "console=serial0,115200 root=/dev/nfs "
				     "nfsroot=10.99.0.1:/srv/nfs/1234abcd,vers=3,tcp rw ip=dhcp "
				     "rootwait quiet console=tty1\n");
	c = child(t, "config.txt");
	/* No node settings: the image's file, newline-terminated. */
	assert_string_equal(c->data, "arm_64bit=1\n[pi4]\narm_boost=1\n");
	/* No Pi 3: no bootcode.bin at the root. */
	assert_null(find(&w->out, ROOT_TFTP, "bootcode.bin"));
}

static void test_config_txt_forms(void **state)
{
	struct world *w = *state;
	char k1[] = "arm_64bit", k2[] = "enable_uart", one[] = "1", l1[] = "dtoverlay=disable-bt";
	struct kv kvs[] = {{k1, one}, {k2, one}};
	char *lines[] = {l1};
	const struct resource *c;

	w->nodes[0].config_txt.form = CONFIG_TXT_MAP;
	w->nodes[0].config_txt.map.v = kvs;
	w->nodes[0].config_txt.map.n = 2;
	w->nodes[2].config_txt.form = CONFIG_TXT_LINES;
	w->nodes[2].config_txt.lines.v = lines;
	w->nodes[2].config_txt.lines.n = 1;
	render(w);
	c = child(find(&w->out, ROOT_TFTP, "1234abcd"), "config.txt");
	assert_non_null(strstr(c->data, "\n[all]\narm_64bit=1\nenable_uart=1\n"));
	c = child(find(&w->out, ROOT_TFTP, "3456cdef"), "config.txt");
	assert_non_null(strstr(c->data, "\n[all]\ndtoverlay=disable-bt\n"));
}

static void test_pi3_bootcode_and_mac_prefix(void **state)
{
	struct world *w = *state;
	const struct resource *r;

	w->nodes[1].model = PI_MODEL_PI3;
	w->cluster.tftp_prefix = TFTP_PREFIX_MAC;
	render(w);
	r = find(&w->out, ROOT_TFTP, "bootcode.bin");
	assert_non_null(r);
	assert_string_equal(r->data, "os/boot/bootcode.bin");
	assert_non_null(find(&w->out, ROOT_TFTP, "dc-a6-32-00-00-64"));
	assert_null(find(&w->out, ROOT_TFTP, "1234abcd"));
	/* A Pi 3 has no TFTP_PREFIX: it asks for <serial>/start.elf in mac mode too. */
	assert_non_null(find(&w->out, ROOT_TFTP, "2345bcde"));
	assert_null(find(&w->out, ROOT_TFTP, "dc-a6-32-00-00-65"));
	/* Its ROM (3B) needs the padded PXE menu text; the others match a substring. */
	r = find(&w->out, ROOT_DHCP_CONF, "bramble.conf");
	assert_non_null(strstr(r->data, "pxe-service=0,\"Raspberry Pi Boot   \"\n"));
}

/* dhcp's resources alone, for a set of n copies of node a (no MAC: no hosts files). */
static const struct resource *render_dhcp_n(struct world *w, size_t n, struct node *copies,
					    struct node **ptrs)
{
	size_t i;

	for (i = 0; i < n; i++) {
		copies[i] = w->nodes[0];
		copies[i].has_mac = false;
		ptrs[i] = &copies[i];
	}
	w->set.nodes = ptrs;
	w->set.n_nodes = n;
	resource_set_release(&w->out);
	assert_int_equal(reconciler_dhcp.desired(&w->ctx, &w->out, &w->d), 0);
	return find(&w->out, ROOT_DHCP_CONF, "bramble.conf");
}

static void test_dhcp_storm_sizing(void **state)
{
	struct world *w = *state;
	struct node *copies = calloc(1100, sizeof(*copies));
	struct node **ptrs = calloc(1100, sizeof(*ptrs));
	const struct resource *r;

	/* A few nodes: sized for 16, above dnsmasq's own default of 50 transfers. */
	r = render_dhcp_n(w, 3, copies, ptrs);
	assert_non_null(strstr(r->data, "\ntftp-max=64\n"));
	assert_null(strstr(r->data, "dhcp-lease-max"));
	/* 100 nodes at once: 4 transfers each (issue 9: 80 Pis wedged the default 50),
	 * for the next power of two, so that one more node is no dnsmasq restart. */
	r = render_dhcp_n(w, 100, copies, ptrs);
	assert_non_null(strstr(r->data, "TFTP transfers for up to 128 nodes booting at once\n"));
	assert_non_null(strstr(r->data, "\ntftp-max=512\n"));
	r = render_dhcp_n(w, 128, copies, ptrs);
	assert_non_null(strstr(r->data, "\ntftp-max=512\n"));
	r = render_dhcp_n(w, 129, copies, ptrs);
	assert_non_null(strstr(r->data, "\ntftp-max=1024\n"));
	/* Full mode: leases for every node and the pool past dnsmasq's 1000. */
	w->cluster.dhcp_mode = DHCP_MODE_FULL;
	w->cluster.range_start = (char *)(uintptr_t) "10.99.0.100";
	w->cluster.range_end = (char *)(uintptr_t) "10.99.0.199";
	r = render_dhcp_n(w, 1000, copies, ptrs);
	assert_non_null(strstr(r->data, "\ntftp-max=4096\n"));
	assert_non_null(strstr(r->data, "\ndhcp-lease-max=2048\n"));
	r = render_dhcp_n(w, 900, copies, ptrs);
	assert_null(strstr(r->data, "dhcp-lease-max"));
	w->set.nodes = w->node_ptrs;
	w->set.n_nodes = 3;
	free(copies);
	free(ptrs);
}

/* A stand-in for the controller's run_command(): exits with fake_status, writing its log. */
static int fake_status;
static int fake_run(const char *script, const char *const argv[], unsigned timeout_s)
{
	FILE *f = fopen(argv[2], "w");

	(void)script;
	(void)timeout_s;
	assert_non_null(f);
	fputs("bad option at line 1", f);
	fclose(f);
	return fake_status;
}

/* dhcp's validate(): dnsmasq --test's verdict, as the controller calls it. */
static void test_dhcp_validate(void **state)
{
	struct world *w = *state;

	render(w);
	w->ctx.dhcp_test_cmd = "dnsmasq";
	w->ctx.scratch_dir = w->dir;
	w->ctx.run_command = fake_run;
	w->ctx.root_path[ROOT_DHCP_CONF] = "/etc/dnsmasq.d";
	fake_status = 0;
	assert_int_equal(reconciler_dhcp.validate(&w->ctx, &w->out, &w->d), 0);
	assert_int_equal(w->d.n, 0);
	fake_status = 127;
	assert_int_equal(reconciler_dhcp.validate(&w->ctx, &w->out, &w->d), RECONCILER_UNCHECKED);
	fake_status = -ETIMEDOUT;
	assert_int_equal(reconciler_dhcp.validate(&w->ctx, &w->out, &w->d), -EINVAL);
	fake_status = 1;
	assert_int_equal(reconciler_dhcp.validate(&w->ctx, &w->out, &w->d), -EINVAL);
	assert_int_equal(w->d.n, 2);
	assert_string_equal(w->d.v[1].msg, "dnsmasq --test rejected the rendered "
					   "/etc/dnsmasq.d/bramble.conf: bad option at line 1");
	w->ctx.dhcp_test_cmd = NULL; /* dhcp.testCommand: "" */
	assert_int_equal(reconciler_dhcp.validate(&w->ctx, &w->out, &w->d), 0);
}

static void test_dhcp_modes(void **state)
{
	struct world *w = *state;
	const struct resource *r;

	render(w);
	r = find(&w->out, ROOT_DHCP_CONF, "bramble.conf");
	assert_non_null(strstr(r->data, "dhcp-range=10.99.0.0,proxy,255.255.255.0\n"));
	assert_non_null(strstr(r->data, "pxe-service=0,\"Raspberry Pi Boot\"\n"));
	assert_non_null(strstr(r->data, "tftp-root=/srv/tftp\n"));
	assert_null(strstr(r->data, "dhcp-hostsdir"));
	assert_int_equal(r->act_change, ACTION_DHCP_RESTART);
	assert_null(find(&w->out, ROOT_DHCP_HOSTS, "1234abcd"));

	w->cluster.dhcp_mode = DHCP_MODE_FULL;
	w->cluster.router = (char *)(uintptr_t) "10.99.0.254";
	render(w);
	r = find(&w->out, ROOT_DHCP_CONF, "bramble.conf");
	assert_non_null(strstr(r->data, "dhcp-range=10.99.0.0,static,255.255.255.0,3600s\n"));
	assert_non_null(strstr(r->data, "dhcp-option=66,\"10.99.0.1\"\n"));
	assert_non_null(strstr(r->data, "dhcp-option=option:router,10.99.0.254\n"));
	assert_non_null(strstr(r->data, "dhcp-hostsdir=/etc/hosts.d\n"));
	r = find(&w->out, ROOT_DHCP_HOSTS, "1234abcd");
	assert_string_equal(r->data, "dc:a6:32:00:00:64,10.99.0.42,a\n");
	assert_int_equal(r->act_change, ACTION_NONE);
	assert_int_equal(r->act_update, ACTION_DHCP_RELOAD);
	assert_int_equal(r->act_delete, ACTION_DHCP_RELOAD);
	r = find(&w->out, ROOT_DHCP_HOSTS, "2345bcde");
	assert_string_equal(r->data, "dc:a6:32:00:00:65,b\n");

	w->cluster.dhcp_mode = DHCP_MODE_EXTERNAL;
	render(w);
	r = find(&w->out, ROOT_DHCP_CONF, "bramble.conf");
	assert_null(strstr(r->data, "dhcp-range"));
	assert_null(strstr(r->data, "pxe-service"));
	assert_non_null(strstr(r->data, "enable-tftp\n"));
	assert_non_null(strstr(r->note, "option 66"));
	/* A Pi 3 takes the TFTP server from siaddr: the router must set next-server. */
	assert_non_null(strstr(r->note, "next-server (siaddr) to 10.99.0.1"));
	assert_non_null(strstr(r->note, "dhcp-boot=bootcode.bin,,10.99.0.1"));
	/* Option 43 in hex for other servers, exactly what dnsmasq sends. */
	assert_non_null(strstr(r->note, "(hex 06:01:03:0a:04:00:50:58:45:09:14:00:00:11:52:61:73:"
					"70:62:65:72:72:79:20:50:69:20:42:6f:6f:74:ff)"));
}

static void test_kernel_exports(void **state)
{
	struct world *w = *state;
	const struct resource *r;

	render(w);
	r = find(&w->out, ROOT_EXPORTS, "bramble.exports");
	assert_non_null(
		strstr(r->data,
		       "/srv/nfs/1234abcd 10.99.0.42(rw,sync,no_subtree_check,no_root_squash)\n"));
	assert_non_null(strstr(r->data, "/srv/nfs/2345bcde 10.99.0.0/24(rw,"));
	assert_null(strstr(r->data, "*("));
	assert_non_null(strstr(r->note, "b has no ip: exported to the subnet 10.99.0.0/24"));
	assert_int_equal(r->act_change, ACTION_NFS_RELOAD);
	/* The node's root: made from the image, retired to the attic, never deleted. */
	r = find(&w->out, ROOT_NFS, "1234abcd");
	assert_non_null(r);
	assert_int_equal(r->type, RES_ROOT);
	assert_non_null(strstr(r->data, "generation 0\nimage os\nsource os/root\n"));
}

static void test_shared_root(void **state)
{
	struct world *w = *state;
	char mid[] = "systemd.machine_id=0123456789abcdef0123456789abcdef";
	char *extra[] = {mid};
	const struct resource *r;
	const char *id;

	w->nodes[0].root_mode = ROOT_MODE_SHARED;
	w->nodes[2].root_mode = ROOT_MODE_SHARED;
	render(w);
	r = find(&w->out, ROOT_EXPORTS, "bramble.exports");
	assert_non_null(strstr(
		r->data, "/srv/nfs/shared/os "
			 "10.99.0.42(ro,sync,no_subtree_check,no_root_squash) 10.99.0.44(ro,"));
	r = find(&w->out, ROOT_NFS, "shared/os");
	assert_non_null(r);
	assert_int_equal(r->type, RES_ROOT);
	assert_non_null(strstr(r->data, "shared\nimage os\nsource os/root\n"));
	assert_non_null(find(&w->out, ROOT_NFS, "shared/os/etc/fstab"));
	assert_null(find(&w->out, ROOT_NFS, "1234abcd"));
	assert_non_null(find(&w->out, ROOT_NFS, "2345bcde")); /* b is still private */
	assert_non_null(find(&w->out, ROOT_NFS, "2345bcde/etc/hostname"));
	r = child(find(&w->out, ROOT_TFTP, "1234abcd"), "cmdline.txt");
	assert_non_null(strstr(r->data, "nfsroot=10.99.0.1:/srv/nfs/shared/os,vers=3,tcp ro "));
	/* Its serial, and a machine id made from it (a UUID v4's form). */
	assert_non_null(strstr(r->data, " overlayroot=tmpfs bramble.serial=1234abcd "
					"systemd.machine_id="));
	id = strstr(r->data, "systemd.machine_id=") + strlen("systemd.machine_id=");
	assert_int_equal(strspn(id, "0123456789abcdef"), 32);
	assert_int_equal(id[12], '4');
	assert_non_null(strchr("89ab", id[16]));
	r = child(find(&w->out, ROOT_TFTP, "3456cdef"), "cmdline.txt");
	assert_non_null(strstr(r->data, "bramble.serial=3456cdef systemd.machine_id="));
	assert_memory_not_equal(strstr(r->data, "systemd.machine_id=") + 19, id, 32);
	r = child(find(&w->out, ROOT_TFTP, "2345bcde"), "cmdline.txt");
	assert_null(strstr(r->data, "machine_id")); /* a private root keeps the one it makes */
	/* The service once in the shared root, each node's files in its directory. */
	r = find(&w->out, ROOT_NFS, "shared/os/usr/local/sbin/bramble-firstboot");
	assert_non_null(r);
	assert_null(r->node);
	assert_non_null(
		find(&w->out, ROOT_NFS, "shared/os/etc/systemd/system/bramble-firstboot.service"));
	assert_null(find(&w->out, ROOT_NFS, "shared/os/etc/bramble/firstboot.conf"));
	r = find(&w->out, ROOT_NFS,
		 "shared/os/etc/bramble/nodes/1234abcd/etc/bramble/firstboot.conf");
	assert_non_null(r);
	assert_int_equal(r->mode, 0600);
	assert_string_equal(r->node, "a");
	assert_non_null(
		find(&w->out, ROOT_NFS, "shared/os/etc/bramble/nodes/3456cdef/etc/hostname"));
	/* A machine id in the node's own arguments takes the place of bramble's. */
	w->nodes[0].cmdline.v = extra;
	w->nodes[0].cmdline.n = 1;
	render(w);
	r = child(find(&w->out, ROOT_TFTP, "1234abcd"), "cmdline.txt");
	assert_non_null(
		strstr(r->data, "bramble.serial=1234abcd systemd.machine_id=0123456789abcdef"));
	assert_null(strstr(strstr(r->data, "machine_id") + 1, "machine_id")); /* once */
}

static void test_ganesha_ids_stable(void **state)
{
	struct world *w = *state;
	const struct resource *r;

	w->cluster.nfs_backend = NFS_BACKEND_GANESHA;
	w->set.n_nodes = 1; /* only a */
	render(w);
	r = find(&w->out, ROOT_EXPORTS, "ganesha.conf");
	assert_non_null(strstr(r->data, "Export_Id = 2;\n\tPath = \"/srv/nfs/1234abcd\";"));
	assert_non_null(strstr(r->data, "Clients = 10.99.0.42; Access_Type = RW;"));
	assert_non_null(strstr(r->data, "Protocols = 3, 4;"));
	assert_null(find(&w->out, ROOT_EXPORTS, "bramble.exports"));
	/* Node c renders before a alphabetically... a keeps its id. */
	w->nodes[0].name = (char *)(uintptr_t) "z";
	w->set.n_nodes = 3;
	w->node_ptrs[0] = &w->nodes[2];
	w->node_ptrs[2] = &w->nodes[0];
	render(w);
	r = find(&w->out, ROOT_EXPORTS, "ganesha.conf");
	assert_non_null(strstr(r->data, "Export_Id = 2;\n\tPath = \"/srv/nfs/1234abcd\";"));
	assert_non_null(strstr(r->data, "Export_Id = 3;\n\tPath = \"/srv/nfs/3456cdef\";"));
}

static void test_missing_image(void **state)
{
	struct world *w = *state;

	w->image.path = (char *)(uintptr_t) "nope";
	assert_int_equal(image_trees_load(&w->ctx, &w->d), -EINVAL);
	assert_int_equal(w->d.n, 1);
	assert_non_null(strstr(w->d.v[0].msg, "no directory \"nope/boot\""));
}

static bool log_has(const struct world *w, const char *name, const char *text)
{
	char p[256], *v = NULL;
	size_t len = 0;
	bool has;

	snprintf(p, sizeof(p), "%s/%s", w->dir, name);
	assert_int_equal(file_read(p, 1 << 16, &v, &len), 0);
	has = strstr(v, text) != NULL;
	free(v);
	return has;
}

/*
 * The first-boot script run twice against a root (a stub ssh-keygen): the
 * second run, a reboot with nothing changed, says so and changes no file of
 * the root, not even a time stamp.  The keymap is changed without sed -i,
 * which on an NFS root logs an error (stub sed) for a step that worked.
 */
static void test_firstboot_rerun(void **state)
{
	static const char run[] = "cd %s && BRAMBLE_FIRSTBOOT_ROOT=%s/fbroot PATH=%s/stubs:$PATH "
				  "sh fb.sh >run%d.log 2>&1 && cd fbroot && find . -printf "
				  "'%%p %%i %%m %%s %%T@ %%C@ %%l\\n' | sort >../list%d";
	struct world *w = *state;
	struct stat st;
	char p[256];
	int i;

	snprintf(p, sizeof(p), "%s/fbroot/etc/bramble", w->dir);
	assert_int_equal(mkdir_p(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/fbroot/usr/share/zoneinfo/Europe", w->dir);
	assert_int_equal(mkdir_p(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/stubs", w->dir);
	assert_int_equal(mkdir_p(p, 0755), 0);
	put(w->dir, "fbroot/etc/bramble/firstboot.conf", "timezone Europe/Paris\nkeymap de\n");
	put(w->dir, "fbroot/usr/share/zoneinfo/Europe/Paris", "TZif\n");
	snprintf(p, sizeof(p), "%s/fbroot/etc/default", w->dir);
	assert_int_equal(mkdir_p(p, 0755), 0);
	put(w->dir, "fbroot/etc/default/keyboard", "XKBMODEL=\"pc105\"\nXKBLAYOUT=\"us\"\n");
	/* sed -i on an NFS root: the ACL copy fails (EIO); sed says so, exits 0. */
	put(w->dir, "stubs/sed",
	    "#!/bin/sh\nfor a; do [ \"$a\" != -i ] || echo \"sed: preserving permissions for "
	    "'x': Input/output error\" >&2; done\nexec /bin/sed \"$@\"\n");
	snprintf(p, sizeof(p), "%s/stubs/sed", w->dir);
	assert_int_equal(chmod(p, 0755), 0);
	put(w->dir, "fb.sh", firstboot_script);
	put(w->dir, "stubs/ssh-keygen",
	    "#!/bin/sh\nmkdir -p \"$3/etc/ssh\" && echo key "
	    ">\"$3/etc/ssh/ssh_host_ed25519_key\"\n");
	snprintf(p, sizeof(p), "%s/stubs/ssh-keygen", w->dir);
	assert_int_equal(chmod(p, 0755), 0);
	for (i = 1; i <= 2; i++)
		assert_int_equal(harness_run(run, w->dir, w->dir, w->dir, i, i), 0);
	assert_true(log_has(w, "run1.log", "new SSH host keys for this node"));
	assert_true(log_has(w, "run1.log", "settings applied"));
	assert_true(log_has(w, "run2.log",
			    "settings unchanged since they were applied: nothing to do"));
	assert_false(log_has(w, "run2.log", "settings applied"));
	assert_int_equal(harness_run("cmp -s %s/list1 %s/list2", w->dir, w->dir), 0);
	assert_false(log_has(w, "run1.log", "rror"));
	assert_true(log_has(w, "fbroot/etc/default/keyboard",
			    "XKBMODEL=\"pc105\"\nXKBLAYOUT=\"de\"\n"));
	snprintf(p, sizeof(p), "%s/fbroot/etc/default/keyboard", w->dir);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_boot_tree, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_txt_forms, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pi3_bootcode_and_mac_prefix, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dhcp_modes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dhcp_validate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dhcp_storm_sizing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kernel_exports, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shared_root, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ganesha_ids_stable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_image, setup, teardown),
		cmocka_unit_test_setup_teardown(test_firstboot_rerun, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
