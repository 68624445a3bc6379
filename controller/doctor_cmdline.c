/*
 * doctor: each node's cmdline.txt (as served) mounts its root from the
 * netboot server, from a path that server exports, with NFS version 3 or 4
 * (without vers= the kernel tries NFSv2).
 */
#include "doctor.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "../common/fsutil.h"

/* The value of nfsroot= in a kernel command line, into out; false when absent. */
static bool nfsroot_of(const char *cmdline, char *out, size_t size)
{
	const char *p;

	for (p = strstr(cmdline, "nfsroot="); p; p = strstr(p, "nfsroot=")) {
		if (p == cmdline || p[-1] == ' ' || p[-1] == '\t') {
			size_t len = strcspn(p + 8, " \t\n");

			snprintf(out, size, "%.*s", (int)len, p + 8);
			return true;
		}
		p += 8;
	}
	return false;
}

static bool known_path(const struct doctor *d, const struct doctor_exports *e, const char *path)
{
	char *const *v = d->served_known ? d->served : e->path;
	size_t n = d->served_known ? d->n_served : e->n, i;

	for (i = 0; i < n; i++)
		if (strcmp(v[i], path) == 0)
			return true;
	return false;
}

/* nfsroot=[SERVER:]PATH[,OPTIONS]: the server and the path. */
static void check_value(struct doctor *d, const struct node *n, const struct doctor_exports *e,
			char *value)
{
	char *comma = strchr(value, ','), *colon, check[64];
	const char *server = NULL, *path = value, *opts = comma ? comma + 1 : "";
	struct in_addr ip;

	snprintf(check, sizeof(check), "nfsroot %s", n->name);
	if (comma)
		*comma = 0;
	colon = strchr(value, ':');
	if (colon) {
		*colon = 0;
		server = value;
		path = colon + 1;
	}
	if (server && (inet_pton(AF_INET, server, &ip) != 1 || ip.s_addr != d->server.s_addr))
		doctor_report(d, DOCTOR_FAIL, check,
			      "run `bramble apply` (was cmdline.txt edited?)",
			      "cmdline.txt mounts the root from %s, not from the netboot server %s",
			      server, inet_ntoa(d->server));
	else if (!known_path(d, e, path))
		doctor_report(d, DOCTOR_FAIL, check,
			      "run `bramble apply` (was cmdline.txt edited?) and reload the NFS "
			      "server",
			      "cmdline.txt mounts %s, which the NFS server does not %s", path,
			      d->served_known ? "export" : "have in bramble's exports");
	else if (!strstr(opts, "vers=3") && !strstr(opts, "vers=4"))
		doctor_report(d, DOCTOR_WARN, check,
			      "add vers=3 (the Bookworm initramfs needs 2 or 3)",
			      "cmdline.txt mounts %s without vers=: the kernel tries NFSv2", path);
	else
		doctor_report(d, DOCTOR_OK, check, NULL, "cmdline.txt mounts %s:%s (%s), an export",
			      inet_ntoa(d->server), path, opts);
}

static void check_node(struct doctor *d, const struct node *n, const struct doctor_exports *e)
{
	char dir[18], path[64], *data = NULL, value[1024], check[64];
	size_t len = 0;

	doctor_node_dir(d, n, dir);
	snprintf(path, sizeof(path), "%s/cmdline.txt", dir);
	snprintf(check, sizeof(check), "nfsroot %s", n->name);
	if (file_read_beneath(d->cfg->tftp_root, path, 1 << 16, &data, &len) < 0)
		doctor_report(d, DOCTOR_FAIL, check, "run `bramble apply`", "no %s in %s", path,
			      d->cfg->tftp_root);
	else if (!nfsroot_of(data, value, sizeof(value)))
		doctor_report(d, DOCTOR_FAIL, check,
			      "run `bramble apply` (was cmdline.txt edited?)",
			      "%s has no nfsroot=: the kernel cannot find its root", path);
	else
		check_value(d, n, e, value);
	free(data);
}

void doctor_check_cmdlines(struct doctor *d)
{
	struct doctor_exports e = {NULL, NULL, 0};
	size_t i;

	if (doctor_exports_load(d, &e) < 0)
		return; /* doctor_check_nfs said so */
	for (i = 0; i < d->set->n_nodes; i++)
		if (!d->set->nodes[i]->stub)
			check_node(d, d->set->nodes[i], &e);
	doctor_exports_release(&e);
}
