/*
 * doctor --as-pi SERIAL --interface IFACE: play that Pi's bootloader on the
 * wire (root): DHCPDISCOVER with options 60/93/94/97, an offer with the PXE
 * menu, DHCPREQUEST/ACK (Pi 4/5 with an address offer; a Pi 3 goes straight
 * on), then TFTP in the model's file order from the server the offer names
 * (option 66, else the server identifier; siaddr for a Pi 3).  Every step
 * is a line of the report.  The interface needs an address for the TFTP part
 * (the offered one, or any in the cluster's subnet).
 */
#include "doctor.h"
#include "doctor_dhcp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../common/buf.h"
#include "../common/tftp_client.h"

#define AS_PI_FILE_TIMEOUT_MS 5000

static const struct node *node_by_serial(const struct manifest_set *set, const char *serial)
{
	size_t i;

	for (i = 0; i < set->n_nodes; i++)
		if (strcmp(set->nodes[i]->serial, serial) == 0)
			return set->nodes[i];
	return NULL;
}

static void pi_of(const struct node *n, struct pi_id *ret)
{
	static const uint8_t fallback[6] = {0xdc, 0xa6, 0x32, 0xd0, 0xc7, 0x02};

	ret->board = n->model == PI_MODEL_PI3	? PI_BOARD_3
		     : n->model == PI_MODEL_PI4 ? PI_BOARD_4
						: PI_BOARD_5;
	memcpy(ret->mac, n->has_mac ? n->mac : fallback, 6);
	ret->serial = (uint32_t)strtoul(n->serial, NULL, 16); /* 8 hex digits, validated */
}

/* The offer the Pi takes (with the menu) and the address offer (maybe the same). */
static void pick(const struct dhcp_answer *v, size_t n, const struct dhcp_answer **menu,
		 const struct dhcp_answer **addr)
{
	size_t i;

	*menu = *addr = NULL;
	for (i = 0; i < n; i++) {
		if (v[i].type != 2)
			continue;
		if (v[i].menu && !*menu)
			*menu = &v[i];
		if (v[i].yiaddr.s_addr && (!*addr || v[i].menu))
			*addr = &v[i];
	}
}

static struct in_addr tftp_server(const struct pi_id *pi, const struct dhcp_answer *a)
{
	if (pi->board == PI_BOARD_3)
		return a->siaddr.s_addr ? a->siaddr : a->server;
	return a->opt66.s_addr ? a->opt66 : a->server;
}

static void report_offers(struct doctor *d, const struct dhcp_answer *menu,
			  const struct dhcp_answer *addr)
{
	char m[INET_ADDRSTRLEN], yi[INET_ADDRSTRLEN] = "(none offered)", by[INET_ADDRSTRLEN] = "-";

	inet_ntop(AF_INET, &menu->server, m, sizeof(m));
	if (addr) {
		inet_ntop(AF_INET, &addr->yiaddr, yi, sizeof(yi));
		inet_ntop(AF_INET, &addr->server, by, sizeof(by));
	}
	doctor_report(d, DOCTOR_OK, "as-pi dhcp", NULL,
		      "DISCOVER: PXE menu from %s; address %s from %s", m, yi, by);
}

/* DISCOVER, the offers, and for a Pi 4/5 with an address offer REQUEST/ACK. */
static int dhcp_steps(struct doctor *d, const struct pi_id *pi, const char *iface,
		      struct in_addr *ret_tftp)
{
	struct dhcp_answer v[DHCP_ANSWERS_MAX];
	const struct dhcp_answer *menu, *addr;
	size_t n = 0, i, acks = 0;
	int r;

	r = doctor_dhcp_exchange(iface, pi, 1, NULL, NULL, d->o->wait_ms, v, &n);
	if (r < 0) {
		doctor_report(d, DOCTOR_FAIL, "as-pi dhcp",
			      "run as root, with an existing interface", "cannot send on %s: %s",
			      iface, strerror(-r));
		return r;
	}
	pick(v, n, &menu, &addr);
	if (!menu) {
		doctor_report(d, DOCTOR_FAIL, "as-pi dhcp", "see `bramble doctor` without --as-pi",
			      "DISCOVER on %s: %zu answers, none with the \"Raspberry Pi Boot\" "
			      "menu: the Pi waits and starts over",
			      iface, n);
		return -ENOENT;
	}
	report_offers(d, menu, addr);
	*ret_tftp = tftp_server(pi, menu);
	if (pi->board == PI_BOARD_3 || !addr)
		return 0;
	r = doctor_dhcp_exchange(iface, pi, 3, &addr->yiaddr, &addr->server, 1500, v, &n);
	for (i = 0; r == 0 && i < n; i++)
		acks += v[i].type == 5;
	doctor_report(d, acks ? DOCTOR_OK : DOCTOR_FAIL, "as-pi dhcp",
		      acks ? NULL : "check dnsmasq's log (log-dhcp) for the REQUEST",
		      "REQUEST %s: %s", inet_ntoa(addr->yiaddr), acks ? "ACK" : "no ACK");
	return acks ? 0 : -EPROTO;
}

static int tftp_step(struct doctor *d, const char *iface, struct in_addr server, const char *entry,
		     const char *dir)
{
	struct tftp_get g = {
		.server = server, .ifname = iface, .timeout_ms = AS_PI_FILE_TIMEOUT_MS};
	struct buf data = BUF_INIT;
	char path[96];
	bool optional = false;
	int r;

	r = pi_boot_file_path(entry, dir, path, sizeof(path), &optional);
	if (r == 0)
		r = tftp_get_file(&g, path, &data);
	if (r == 0)
		doctor_report(d, DOCTOR_OK, "as-pi tftp", NULL, "%s: %zu bytes (blksize %u)", path,
			      data.len, g.blksize_used);
	else if (r == -ENOENT && optional)
		doctor_report(d, DOCTOR_OK, "as-pi tftp", NULL, "%s: not found (an optional probe)",
			      path);
	else
		doctor_report(d, DOCTOR_FAIL, "as-pi tftp",
			      r == -ENETUNREACH || r == -EADDRNOTAVAIL
				      ? "give the interface an address in the cluster's subnet"
				      : "see `bramble doctor` without --as-pi",
			      "%s from %s: %s", path, inet_ntoa(server),
			      g.error[0] ? g.error : strerror(-r));
	buf_release(&data);
	return r == -ENOENT && optional ? 0 : r;
}

void doctor_as_pi(struct doctor *d, const char *serial, const char *iface)
{
	const struct node *n = node_by_serial(d->set, serial);
	const char *const *files;
	struct in_addr server;
	struct pi_id pi;
	char dir[18];
	size_t i;

	if (!n) {
		doctor_report(d, DOCTOR_FAIL, "as-pi", "name a node's serial",
			      "no node has the serial \"%s\"", serial);
		return;
	}
	if (!iface) {
		doctor_report(d, DOCTOR_FAIL, "as-pi", "name the interface: --interface IFACE",
			      "--as-pi needs the interface the Pi is on");
		return;
	}
	pi_of(n, &pi);
	if (dhcp_steps(d, &pi, iface, &server) < 0)
		return;
	doctor_node_dir(d, n, dir);
	files = pi_boot_files(pi.board);
	for (i = 0; files[i]; i++)
		if (tftp_step(d, iface, server, files[i], dir) < 0)
			return; /* the bootloader gives up on this boot */
	doctor_report(d, DOCTOR_OK, "as-pi", NULL, "%s (%s) got every boot file: the kernel starts",
		      n->name, serial);
}
