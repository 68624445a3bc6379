/*
 * doctor: the NFS server, asked the way a Pi's initramfs asks it (NFSv3):
 * rpcbind answers and knows MOUNT and NFS version 3; the MOUNT protocol's
 * export list holds exactly bramble's exports; each node's root can be
 * mounted from the node's address (an MNT call from that address when this
 * host has it; otherwise the export list's client names are checked, and the
 * report says so).
 */
#include "doctor.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "netaddr.h"
#include "../common/buf.h"
#include "../common/rpc_client.h"

#define NFS_TIMEOUT_MS 3000

static const char *rpc_error(int r)
{
	switch (r) {
	case -ECONNREFUSED:
		return "connection refused (nothing listens)";
	case -ETIMEDOUT:
	case -EAGAIN:
		return "no answer in time";
	case -EPROTONOSUPPORT:
		return "program or version not served";
	case -EACCES:
		return "the call was refused (authentication)";
	case -EPROTO:
		return "a malformed answer";
	default:
		return strerror(-r);
	}
}

/* rpcbind's answer for MOUNT v3 and NFS v3; *ret_mountd 0 when unusable. */
static void check_rpcbind(struct doctor *d, uint16_t *ret_mountd)
{
	struct rpc_target t = {.server = d->server, .timeout_ms = NFS_TIMEOUT_MS};
	uint16_t mountd = 0, nfs = 0;
	int r;

	*ret_mountd = 0;
	r = rpc_pmap_getport(&t, RPC_PROG_MOUNT, 3, &mountd);
	if (r == 0)
		r = rpc_pmap_getport(&t, RPC_PROG_NFS, 3, &nfs);
	if (r < 0) {
		doctor_report(d, DOCTOR_FAIL, "rpcbind",
			      "start rpcbind, then restart the NFS server so that it registers "
			      "NFSv3 (a Pi's initramfs mounts its root with NFSv3, which needs "
			      "rpcbind)",
			      "rpcbind on %s:111: %s", inet_ntoa(d->server), rpc_error(r));
		return;
	}
	if (!mountd || !nfs) {
		doctor_report(d, DOCTOR_FAIL, "rpcbind",
			      "enable NFSv3 in the NFS server (ganesha: Protocols = 3, 4) and "
			      "restart it after rpcbind",
			      "rpcbind answers, but %s version 3 is not registered",
			      !mountd ? "MOUNT" : "NFS");
		return;
	}
	doctor_report(d, DOCTOR_OK, "rpcbind", NULL,
		      "answers on %s:111: MOUNT v3 on port %u, NFS v3 on port %u",
		      inet_ntoa(d->server), mountd, nfs);
	*ret_mountd = mountd;
}

static bool served(const struct doctor *d, const char *path)
{
	size_t i;

	for (i = 0; i < d->n_served; i++)
		if (strcmp(d->served[i], path) == 0)
			return true;
	return false;
}

static bool rendered(const struct doctor_exports *e, const char *path)
{
	size_t i;

	for (i = 0; i < e->n; i++)
		if (strcmp(e->path[i], path) == 0)
			return true;
	return false;
}

/* Keep the server's paths for the cmdline.txt check. */
static int keep_served(struct doctor *d, const struct rpc_export *v, size_t n)
{
	size_t i;

	d->served = calloc(n + 1, sizeof(*d->served));
	if (!d->served)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		d->served[i] = strdup(v[i].path);
		if (!d->served[i])
			return -ENOMEM;
		d->n_served++;
	}
	d->served_known = true;
	return 0;
}

/* The server's export list against the rendered one. */
static void check_list(struct doctor *d, const struct doctor_exports *e, const struct rpc_export *v,
		       size_t n)
{
	size_t i, missing = 0, extra = 0;

	for (i = 0; i < e->n; i++)
		if (!served(d, e->path[i])) {
			missing++;
			doctor_report(d, DOCTOR_FAIL, "exports",
				      "reload the NFS server (nfs.reloadCommand: exportfs -ra, or "
				      "SIGHUP to ganesha) so that it reads bramble's exports",
				      "the NFS server does not export %s (for %s)", e->path[i],
				      e->client[i]);
		}
	for (i = 0; i < n; i++)
		if (!rendered(e, v[i].path)) {
			extra++;
			doctor_report(
				d, DOCTOR_WARN, "exports",
				"remove it if bramble's manifests no longer name it",
				"the NFS server also exports %s, which bramble did not render",
				v[i].path);
		}
	if (!missing && !extra)
		doctor_report(d, DOCTOR_OK, "exports", NULL,
			      "the NFS server exports exactly bramble's %zu exports", e->n);
}

/* A MNT call from the node's address: the server's own access decision. */
static void check_mount(struct doctor *d, const struct node *n, const char *path, uint16_t mountd)
{
	struct rpc_target t = {.server = d->server, .port = mountd, .timeout_ms = NFS_TIMEOUT_MS};
	uint32_t status = 0;
	char check[64];
	int r;

	snprintf(check, sizeof(check), "mount %s", n->name);
	t.source = doctor_node_source(n);
	if (t.source.s_addr == htonl(INADDR_ANY)) {
		doctor_report(d, served(d, path) ? DOCTOR_OK : DOCTOR_FAIL, check,
			      served(d, path) ? NULL : "see the exports lines above",
			      "%s is %sin the export list; the MNT call from the node's address %s "
			      "was not made (not an address of this host)",
			      path, served(d, path) ? "" : "not ",
			      n->has_ip ? n->ip_str : "(none)");
		return;
	}
	r = rpc_mount_mnt(&t, path, &status);
	if (r == 0 && status == MNT3_OK)
		doctor_report(d, DOCTOR_OK, check, NULL, "%s mountable from %s (MNT granted)", path,
			      n->ip_str);
	else
		doctor_report(d, DOCTOR_FAIL, check,
			      "the export must allow the node's address: run `bramble apply` and "
			      "reload the NFS server",
			      "MNT %s from %s: %s", path, n->ip_str,
			      r < 0			? rpc_error(r)
			      : status == MNT3ERR_ACCES ? "refused (MNT3ERR_ACCES)"
							: "refused by the server");
}

static void check_mounts(struct doctor *d, const struct doctor_exports *e, uint16_t mountd)
{
	size_t i, j;

	for (i = 0; i < d->set->n_nodes; i++) {
		const struct node *n = d->set->nodes[i];

		for (j = 0; j < e->n && n->has_ip; j++)
			if (strcmp(e->client[j], n->ip_str) == 0)
				check_mount(d, n, e->path[j], mountd);
	}
}

void doctor_check_nfs(struct doctor *d)
{
	struct rpc_target t = {.server = d->server, .timeout_ms = NFS_TIMEOUT_MS};
	struct doctor_exports e = {NULL, NULL, 0};
	struct rpc_export *v = NULL;
	size_t n = 0;
	int r;

	if (doctor_exports_load(d, &e) < 0) {
		doctor_report(d, DOCTOR_FAIL, "exports", "run `bramble apply`",
			      "bramble's exports file cannot be read");
		return;
	}
	if (d->set->cluster->nfs_version == 4) {
		doctor_report(d, DOCTOR_OK, "rpcbind", NULL,
			      "not needed: the cluster mounts roots with NFSv4 (the export list "
			      "is not checked: it needs NFSv3's MOUNT protocol)");
		goto out;
	}
	check_rpcbind(d, &t.port);
	if (!t.port)
		goto out;
	r = rpc_mount_exports(&t, &v, &n);
	if (r == 0)
		r = keep_served(d, v, n);
	if (r < 0) {
		doctor_report(d, DOCTOR_FAIL, "exports", "check the NFS server's log",
			      "the MOUNT protocol's export list: %s", rpc_error(r));
		goto out;
	}
	check_list(d, &e, v, n);
	check_mounts(d, &e, t.port);
out:
	rpc_exports_free(v, n);
	doctor_exports_release(&e);
}
