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
#include "../common/buf.h"

static void ip_str(uint32_t ip, char out[16])
{
	struct in_addr a;

	a.s_addr = htonl(ip);
	inet_ntop(AF_INET, &a, out, 16);
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
		r = buf_adds(b, "pxe-service=0,\"Raspberry Pi Boot\"\n");
	if (r == 0)
		r = buf_printf(b, "enable-tftp\ntftp-root=%s\n", ctx->root_path[ROOT_TFTP]);
	if (r == 0)
		r = render_log(ctx, b);
	return r;
}

static int external_note(const struct cluster *c, char **ret)
{
	struct buf b = BUF_INIT;

	if (buf_printf(&b,
		       "DHCP mode external: on your DHCP server set option 66 (TFTP server) to %s "
		       "and option 43 to the PXE menu string \"Raspberry Pi Boot\" "
		       "(dnsmasq: dhcp-option=66,\"%s\" and pxe-service=0,\"Raspberry Pi Boot\")",
		       c->server, c->server) < 0)
		return -ENOMEM;
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
		r = external_note(c, &res->note);
	if (r == 0 && c->dhcp_mode == DHCP_MODE_FULL)
		r = hosts(ctx, out);
out:
	buf_release(&b);
	return r;
}

const struct reconciler reconciler_dhcp = {
	.name = "dhcp",
	.desired = dhcp_desired,
};
