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
#include <sys/socket.h>
#include <unistd.h>

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

/* Add the paths of one export list to d->served (each once). */
static int add_served(struct doctor *d, const struct rpc_export *v, size_t n)
{
	char **nv;
	size_t i;

	for (i = 0; i < n; i++) {
		if (served(d, v[i].path))
			continue;
		nv = realloc(d->served, (d->n_served + 1) * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		d->served = nv;
		nv[d->n_served] = strdup(v[i].path);
		if (!nv[d->n_served])
			return -ENOMEM;
		d->n_served++;
	}
	return 0;
}

/*
 * The export list, asked from this host's address and from every node
 * address this host has: some servers (nfs-ganesha) list only what the
 * asking address may mount.
 */
static int collect_served(struct doctor *d, struct rpc_target *t)
{
	struct rpc_export *v = NULL;
	size_t i, n = 0;
	int r;

	t->source.s_addr = htonl(INADDR_ANY);
	r = rpc_mount_exports(t, &v, &n);
	if (r == 0)
		r = add_served(d, v, n);
	rpc_exports_free(v, n);
	for (i = 0; r == 0 && i < d->set->n_nodes; i++) {
		t->source = doctor_node_source(d->set->nodes[i]);
		if (t->source.s_addr == htonl(INADDR_ANY))
			continue;
		v = NULL, n = 0;
		r = rpc_mount_exports(t, &v, &n);
		if (r == 0)
			r = add_served(d, v, n);
		rpc_exports_free(v, n);
	}
	t->source.s_addr = htonl(INADDR_ANY);
	d->served_known = r == 0;
	return r;
}

/*
 * Whether the export list was asked from the client's address: a network
 * (the server's own address is in it) or an address of this host.
 */
static bool asked_from(const char *client)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	bool yes;
	int fd;

	if (strchr(client, '/'))
		return true;
	if (inet_pton(AF_INET, client, &sa.sin_addr) != 1)
		return false;
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	yes = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return yes;
}

/* "A, B, C (N in all)": what the server does export, for a message. */
static void list_served(const struct doctor *d, struct buf *b)
{
	size_t i;

	if (!d->n_served)
		(void)buf_adds(b, "nothing");
	for (i = 0; i < d->n_served && i < 3; i++)
		(void)buf_printf(b, "%s%s", i ? ", " : "", d->served[i]);
	if (d->n_served > 3)
		(void)buf_printf(b, " (%zu in all)", d->n_served);
}

/* The server's export list against the rendered one. */
static void check_list(struct doctor *d, const struct doctor_exports *e)
{
	struct buf have = BUF_INIT;
	size_t i, missing = 0, extra = 0;

	list_served(d, &have);
	for (i = 0; i < e->n; i++)
		if (!served(d, e->path[i]) && !asked_from(e->client[i])) {
			doctor_report(
				d, DOCTOR_WARN, "exports",
				"run doctor where the NFS server sees a node's address, or check "
				"the server's own export list",
				"%s (for %s) is not in the export list shown to this host; the "
				"server may list it only to %s (nfs-ganesha does so)",
				e->path[i], e->client[i], e->client[i]);
		} else if (!served(d, e->path[i])) {
			missing++;
			doctor_report(d, DOCTOR_FAIL, "exports",
				      "reload the NFS server (nfs.reloadCommand: exportfs -ra, or "
				      "SIGHUP to ganesha) so that it reads bramble's exports",
				      "the NFS server does not export %s (for %s); it exports %s",
				      e->path[i], e->client[i], buf_str(&have));
		}
	for (i = 0; i < d->n_served; i++)
		if (!rendered(e, d->served[i])) {
			extra++;
			doctor_report(
				d, DOCTOR_WARN, "exports",
				"remove it if bramble's manifests no longer name it",
				"the NFS server also exports %s, which bramble did not render",
				d->served[i]);
		}
	if (!missing && !extra)
		doctor_report(d, DOCTOR_OK, "exports", NULL,
			      "the NFS server exports exactly bramble's %zu exports", e->n);
	buf_release(&have);
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
	r = collect_served(d, &t);
	if (r < 0) {
		doctor_report(d, DOCTOR_FAIL, "exports", "check the NFS server's log",
			      "the MOUNT protocol's export list: %s", rpc_error(r));
		goto out;
	}
	check_list(d, &e);
	check_mounts(d, &e, t.port);
out:
	doctor_exports_release(&e);
}
