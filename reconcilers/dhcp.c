/*
 * dhcp: the dnsmasq configuration that answers a Pi's bootloader, and in
 * full mode one hosts-dir file per node for its static lease.
 *
 * Reloads follow what dnsmasq really does (TESTBED.md §2): a new file in the
 * hosts dir is read through inotify, so it needs nothing; a changed or
 * removed host keeps its old entry until SIGHUP; the main file is read only
 * at start, so a change of it needs a restart.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "reconciler.h"
#include "buf.h"
#include "fsutil.h"

static void ip_str(uint32_t ip, char out[16])
{
	struct in_addr a;

	a.s_addr = htonl(ip);
	inet_ntop(AF_INET, &a, out, 16);
}

/*
 * The PXE menu text the boot ROMs look for in option 43.  The original Pi 3B
 * ROM gets the string's length wrong and needs three trailing spaces; the
 * 3B+ ROM and the Pi 4/5 EEPROM bootloaders match "Raspberry Pi Boot" as a
 * substring (raspberrypi/documentation boot-net.adoc, "Raspberry Pi Boot
 * string": fixed in the 3B+), so the padded text serves every model.  It is
 * used only when the cluster has a Pi 3, so other clusters keep the string
 * every guide uses.
 */
static const char *pxe_menu_text(const struct manifest_set *set)
{
	size_t i;

	for (i = 0; i < set->n_nodes; i++)
		if (set->nodes[i]->model == PI_MODEL_PI3)
			return "Raspberry Pi Boot   ";
	return "Raspberry Pi Boot";
}

static int render_range(const struct cluster *c, struct buf *b)
{
	char mask[16], net[16];
	uint32_t m = c->prefix_len ? 0xffffffffu << (32 - c->prefix_len) : 0;

	ip_str(m, mask);
	ip_str(c->subnet_ip, net);
	switch (c->dhcp_mode) {
	case DHCP_MODE_PROXY:
		return buf_printf(b, "dhcp-range=%s,proxy,%s\n", net, mask);
	case DHCP_MODE_FULL:
		if (c->range_start)
			return buf_printf(b, "dhcp-range=%s,%s,%s,%us\n", c->range_start,
					  c->range_end, mask, c->lease_seconds);
		return buf_printf(b, "dhcp-range=%s,static,%s,%us\n", net, mask, c->lease_seconds);
	case DHCP_MODE_EXTERNAL:
		return 0;
	}
	return -EINVAL;
}

static int render_full_options(struct render_ctx *ctx, struct buf *b)
{
	const struct cluster *c = ctx->set->cluster;
	size_t i;
	int r = 0;

	if (c->router)
		r = buf_printf(b, "dhcp-option=option:router,%s\n", c->router);
	for (i = 0; r == 0 && i < c->dns.n; i++)
		r = buf_printf(b, "%s%s%s", i ? "," : "dhcp-option=option:dns-server,", c->dns.v[i],
			       i + 1 == c->dns.n ? "\n" : "");
	/* A Pi 4 ignored offers without option 66 (tinkerbell/smee#23). */
	if (r == 0)
		r = buf_printf(b, "dhcp-option=66,\"%s\"\n", c->server);
	if (r == 0)
		r = buf_printf(b, "dhcp-hostsdir=%s\n", ctx->root_path[ROOT_DHCP_HOSTS]);
	if (r == 0 && ctx->dhcp_lease_file)
		r = buf_printf(b, "dhcp-leasefile=%s\n", ctx->dhcp_lease_file);
	return r;
}

/*
 * Boot observation (controller/bootwatch.h): every DHCP exchange with its
 * options, and every TFTP transfer and refusal, go to a file the daemon
 * follows.  A file rather than a dhcp-script: the script is not run for
 * proxy-mode DHCP nor for a file that was not found.
 */
static int render_log(struct render_ctx *ctx, struct buf *b)
{
	const char *f = ctx->dhcp_log_file;

	if (!f)
		return 0;
	if (strpbrk(f, "\n\r"))
		return -EINVAL;
	/* External mode: another server does DHCP; TFTP is still logged. */
	return buf_printf(b, "%slog-facility=%s\n",
			  ctx->set->cluster->dhcp_mode == DHCP_MODE_EXTERNAL ? "" : "log-dhcp\n",
			  f);
}

/*
 * Boot storms: every node netbooting at once (a rack powering on).  What
 * each setting does, from dnsmasq 2.90's source:
 *
 * tftp-max (default 50, TFTP_MAX_CONNECTIONS in config.h).  In the default
 * mode every transfer has its own socket (tftp_request() in tftp.c), and
 * set_tftp_listeners() in dnsmasq.c stops polling port 69 while more than
 * tftp-max transfers are open.  The Pis' requests then wait in the socket
 * queue while the Pis retransmit them every second; once dnsmasq reads the
 * queue again, every copy starts a transfer of its own, the Pi follows only
 * the first, and each orphan keeps its slot until check_tftp_listeners()
 * gives up on it after 7 retransmissions (about 38 s).  At 80 Pi 4s fetching
 * an 8 MiB kernel no Pi booted (issue 9).  So: a budget of transfers per
 * node (one live, the rest for such orphans), for the node count rounded up
 * (storm_nodes()), never below the default.
 * (Measured: docs/storm.md, tests/e2e/test_storm.sh.)
 *
 * Descriptors.  A transfer holds its socket and its open file;
 * check_tftp_fileperm() shares a file's descriptor only between transfers
 * of the same inode *and* the same name, and every node fetches its files
 * under its own directory, so count two per transfer.  At start dnsmasq
 * lowers tftp-max to what RLIMIT_NOFILE leaves (main() in dnsmasq.c,
 * "restricting maximum simultaneous TFTP transfers"), assuming one per
 * transfer: deploy/systemd/bramble-dnsmasq.service sets LimitNOFILE= for
 * 2 * tftp-max and more.
 *
 * Not rendered, and why: tftp-mtu and tftp-no-blocksize only ever lower the
 * block size (tftp_request() already clamps the Pi's blksize 1468 to the
 * interface MTU less 32), and 512-byte blocks mean three times the packets;
 * tftp-single-port would serve every transfer from port 69, which a client
 * following RFC 1350 (new TID per transfer) need not accept, and a Pi's
 * ROM has not been tried with it; tftp-no-fail only matters when tftp-root
 * is missing at start, and bramble creates it before dnsmasq runs.
 */
#define TFTP_PER_NODE	       4
#define STORM_MIN_NODES	       16 /* 64 transfers: above dnsmasq's default of 50 */
/* dnsmasq's default dhcp-lease-max (MAXLEASES in config.h). */
#define DHCP_LEASE_MAX_DEFAULT 1000

/* Addresses in the full-mode dynamic pool, 0 when there is none. */
static size_t pool_size(const struct cluster *c)
{
	struct in_addr a, z;

	if (!c->range_start || !c->range_end || inet_pton(AF_INET, c->range_start, &a) != 1 ||
	    inet_pton(AF_INET, c->range_end, &z) != 1 || ntohl(z.s_addr) < ntohl(a.s_addr))
		return 0;
	return (size_t)ntohl(z.s_addr) - ntohl(a.s_addr) + 1;
}

/*
 * The node count the sizing is for: the next power of two, at least 16.  A
 * change of the main file means a dnsmasq restart, so adding or removing a
 * node must not change it each time: only when the cluster doubles.
 */
static size_t storm_nodes(size_t n)
{
	size_t r = STORM_MIN_NODES;

	while (r < n)
		r *= 2;
	return r;
}

static int render_storm(struct render_ctx *ctx, struct buf *b)
{
	const struct cluster *c = ctx->set->cluster;
	size_t nodes = storm_nodes(ctx->set->n_nodes), leases;
	int r;

	r = buf_printf(b, "# boot storm: TFTP transfers for up to %zu nodes booting at once\n",
		       nodes);
	if (r == 0)
		r = buf_printf(b, "tftp-max=%zu\n", nodes * TFTP_PER_NODE);
	/* dnsmasq refuses a new lease past dhcp-lease-max (lease_allocate() in lease.c). */
	leases = ctx->set->n_nodes + pool_size(c);
	if (r == 0 && c->dhcp_mode == DHCP_MODE_FULL && leases > DHCP_LEASE_MAX_DEFAULT)
		r = buf_printf(b, "dhcp-lease-max=%zu\n", storm_nodes(leases));
	return r;
}

static int render_conf(struct render_ctx *ctx, struct buf *b)
{
	const struct cluster *c = ctx->set->cluster;
	int r;

	r = buf_printf(b,
		       "# Managed by bramble for cluster \"%s\" (DHCP mode %s): do not edit;\n"
		       "# change the repository instead.\n"
		       "port=0\n",
		       c->name, dhcp_mode_name(c->dhcp_mode));
	if (r == 0 && c->interface)
		r = buf_printf(b, "interface=%s\nbind-interfaces\n", c->interface);
	if (r == 0)
		r = render_range(c, b);
	if (r == 0 && c->dhcp_mode == DHCP_MODE_FULL)
		r = render_full_options(ctx, b);
	if (r == 0 && c->dhcp_mode != DHCP_MODE_EXTERNAL)
		r = buf_printf(b, "pxe-service=0,\"%s\"\n", pxe_menu_text(ctx->set));
	if (r == 0)
		r = buf_printf(b, "enable-tftp\ntftp-root=%s\n", ctx->root_path[ROOT_TFTP]);
	if (r == 0)
		r = render_storm(ctx, b);
	if (r == 0)
		r = render_log(ctx, b);
	return r;
}

/* Option 43 as dnsmasq sends it for pxe-service=0,"TEXT", in hex for other servers. */
static int opt43_hex(const char *text, struct buf *b)
{
	size_t i, n = strlen(text);
	int r;

	/* PXE discovery control 3, menu prompt "PXE", one menu item of type 0. */
	r = buf_printf(b, "06:01:03:0a:04:00:50:58:45:09:%02zx:00:00:%02zx", n + 3, n);
	for (i = 0; r == 0 && i < n; i++)
		r = buf_printf(b, ":%02x", (unsigned char)text[i]);
	if (r == 0)
		r = buf_adds(b, ":ff");
	return r;
}

/*
 * What to set on the other DHCP server in external mode.  Besides options 66
 * and 43, next-server (siaddr): a Pi 3's boot ROM fetches bootcode.bin from
 * siaddr and ignores option 66 (raspberrypi/firmware#801, #871, #1265), and a
 * router names itself there by default.
 */
static int external_note(const struct manifest_set *set, char **ret)
{
	const char *srv = set->cluster->server, *menu = pxe_menu_text(set);
	struct buf b = BUF_INIT;
	int r;

	r = buf_printf(&b,
		       "DHCP mode external: on your DHCP server set option 66 (TFTP server) to %s, "
		       "option 43 to the PXE menu \"%s\" (hex ",
		       srv, menu);
	if (r == 0)
		r = opt43_hex(menu, &b);
	if (r == 0)
		r = buf_printf(&b,
			       ") and next-server (siaddr) to %s: a Pi 3 fetches bootcode.bin from "
			       "siaddr, not from option 66 (dnsmasq: dhcp-option=66,\"%s\", "
			       "pxe-service=0,\"%s\" and dhcp-boot=bootcode.bin,,%s; "
			       "ISC dhcpd: next-server %s;)",
			       srv, srv, menu, srv, srv);
	if (r < 0) {
		buf_release(&b);
		return -ENOMEM;
	}
	*ret = buf_detach(&b, NULL);
	return *ret ? 0 : -ENOMEM;
}

static int hosts(struct render_ctx *ctx, struct resource_set *out)
{
	const struct manifest_set *set = ctx->set;
	size_t i;

	for (i = 0; i < set->n_nodes; i++) {
		const struct node *n = set->nodes[i];
		struct buf b = BUF_INIT;
		struct resource *res;
		int r;

		if (!n->has_mac || n->stub)
			continue;
		if (n->has_ip)
			r = buf_printf(&b, "%s,%s,%s\n", n->mac_str, n->ip_str, n->hostname);
		else
			r = buf_printf(&b, "%s,%s\n", n->mac_str, n->hostname);
		if (r < 0)
			return r;
		res = resource_set_add_file(out, ROOT_DHCP_HOSTS, n->serial, 0644, b.data, b.len);
		buf_release(&b);
		if (!res)
			return -ENOMEM;
		res->node = n->name;
		/*
		 * dnsmasq reads a new or changed file through inotify, but keeps
		 * the entries it had: a changed reservation is refused as a
		 * duplicate until SIGHUP, like a removed one.
		 */
		res->act_update = ACTION_DHCP_RELOAD;
		res->act_delete = ACTION_DHCP_RELOAD;
	}
	return 0;
}

static int dhcp_desired(struct render_ctx *ctx, struct resource_set *out, struct diags *d)
{
	const struct cluster *c = ctx->set->cluster;
	struct buf b = BUF_INIT;
	struct resource *res;
	int r;

	(void)d;
	r = render_conf(ctx, &b);
	if (r < 0)
		goto out;
	res = resource_set_add_file(out, ROOT_DHCP_CONF, ctx->dhcp_conf_name, 0644, b.data, b.len);
	if (!res) {
		r = -ENOMEM;
		goto out;
	}
	res->act_change = res->act_delete = ACTION_DHCP_RESTART;
	if (c->dhcp_mode == DHCP_MODE_EXTERNAL)
		r = external_note(ctx->set, &res->note);
	if (r == 0 && c->dhcp_mode == DHCP_MODE_FULL)
		r = hosts(ctx, out);
out:
	buf_release(&b);
	return r;
}

/*
 * Check the rendered dnsmasq configuration with "dnsmasq --test" before it is
 * applied: a configuration dnsmasq refuses would stop DHCP for every Pi at
 * the restart.
 */
static int dhcp_validate(struct render_ctx *ctx, const struct resource_set *desired,
			 struct diags *d)
{
	static const char script[] = "command -v \"$1\" >/dev/null 2>&1 || exit 127; exec \"$1\" "
				     "--test --conf-file=\"$2\" >\"$3\" 2>&1";
	const struct resource *conf = NULL;
	char *out = NULL, *file = NULL;
	size_t i;
	int r, status;

	for (i = 0; !conf && i < desired->n; i++)
		if (desired->v[i].root == ROOT_DHCP_CONF)
			conf = &desired->v[i];
	if (!ctx->dhcp_test_cmd || !conf)
		return 0;
	r = render_tool_check(ctx, "dnsmasq-test", script, ctx->dhcp_test_cmd, conf->data,
			      conf->len, &status, &out);
	if (r < 0 || status == 0)
		return r;
	if (status == 127)
		return RECONCILER_UNCHECKED;
	file = path_join(ctx->root_path[ROOT_DHCP_CONF], ctx->dhcp_conf_name);
	if (status == -ETIMEDOUT || status == -ECANCELED) /* killed: at the timeout, or stopping */
		r = diags_add(d, NULL, "dnsmasq --test of the rendered %s: %s",
			      file ? file : ctx->dhcp_conf_name,
			      status == -ECANCELED ? "stopped (bramble is stopping)" : "timed out");
	else
		r = diags_add(d, NULL, "dnsmasq --test rejected the rendered %s: %s",
			      file ? file : ctx->dhcp_conf_name, out ? out : "(no output)");
	free(file);
	free(out);
	return r < 0 ? r : -EINVAL;
}

const struct reconciler reconciler_dhcp = {
	.name = "dhcp",
	.desired = dhcp_desired,
	.validate = dhcp_validate,
};
