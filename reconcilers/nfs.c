/*
 * nfs: the export of every node's root, for the kernel NFS server (an
 * exports(5) file, reloaded with exportfs -ra) or nfs-ganesha (EXPORT blocks,
 * reloaded with SIGHUP).  A private root is exported only to its node's
 * address; a node without an address gets the cluster subnet, and the plan
 * says so.  A shared root is exported read-only to the nodes that use it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "reconciler.h"
#include "buf.h"

struct export
{
	char *path;
	char *key;	    /* stable id key: serial, or "shared/<image>" */
	struct buf clients; /* "10.99.0.42" or several, comma-separated */
	bool rw;
};

static const char kernel_rw[] = "rw,sync,no_subtree_check,no_root_squash";
/* Read-only, but not squashed: a node's root must read root-only files (/etc/shadow). */
static const char kernel_ro[] = "ro,sync,no_subtree_check,no_root_squash";

static int client_of(const struct cluster *c, const struct node *n, struct buf *out,
		     struct buf *note)
{
	if (n->has_ip)
		return buf_adds(out, n->ip_str);
	if (note->len && buf_adds(note, ", ") < 0)
		return -ENOMEM;
	if (buf_adds(note, n->name) < 0)
		return -ENOMEM;
	return buf_adds(out, c->subnet);
}

static struct export *find_export(struct export *v, size_t n, const char *key)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(v[i].key, key) == 0)
			return &v[i];
	return NULL;
}

static int collect(struct render_ctx *ctx, struct export *v, size_t *n, struct buf *note)
{
	const struct manifest_set *set = ctx->set;
	size_t i;
	int r;

	for (i = 0; i < set->n_nodes; i++) {
		const struct node *nd = set->nodes[i];
		struct buf key = BUF_INIT;
		struct export *e;

		if (nd->root_mode == ROOT_MODE_SHARED)
			r = buf_printf(&key, "shared/%s", nd->image->name);
		else
			r = buf_adds(&key, nd->serial);
		if (r < 0)
			return r;
		/* A private root is its node's alone: only shared ones are looked up. */
		e = nd->root_mode == ROOT_MODE_SHARED ? find_export(v, *n, buf_str(&key)) : NULL;
		if (!e) {
			e = &v[(*n)++];
			e->key = buf_detach(&key, NULL);
			e->rw = nd->root_mode != ROOT_MODE_SHARED;
			r = e->key ? node_root_path(ctx, nd, &e->path) : -ENOMEM;
			if (r < 0)
				return r;
		} else {
			buf_release(&key);
			if (buf_addch(&e->clients, ' ') < 0)
				return -ENOMEM;
		}
		r = client_of(set->cluster, nd, &e->clients, note);
		if (r < 0)
			return r;
	}
	return 0;
}

static int render_kernel(const struct export *v, size_t n, struct buf *b)
{
	size_t i;
	int r;

	r = buf_adds(b, "# Managed by bramble: do not edit; change the repository instead.\n");
	for (i = 0; r == 0 && i < n; i++) {
		const char *p = buf_str(&v[i].clients), *opts = v[i].rw ? kernel_rw : kernel_ro;

		r = buf_adds(b, v[i].path);
		while (r == 0 && *p) {
			size_t len = strcspn(p, " ");

			r = buf_printf(b, " %.*s(%s)", (int)len, p, opts);
			p += len + (p[len] == ' ');
		}
		if (r == 0)
			r = buf_addch(b, '\n');
	}
	return r;
}

/*
 * Attr_Expiration_Time = 0: ganesha looks at a cached object's attributes
 * again on each use, so a directory bramble changed (a file replaced by a
 * rename) drops its cached entries at once.  With its default, 60 seconds, it
 * kept serving the replaced file (NFS4ERR_STALE, or a node rebooted right
 * after a settings change reading the old ones); a root's files change
 * rarely, and a stat of a local file is cheap beside a network round trip.
 */
static int render_ganesha(struct render_ctx *ctx, const struct export *v, size_t n, struct buf *b)
{
	const char *protos = ctx->set->cluster->nfs_version == 4 ? "4" : "3, 4";
	size_t i;
	int r;

	r = buf_adds(b, "# Managed by bramble: do not edit; change the repository instead.\n");
	for (i = 0; r == 0 && i < n; i++) {
		unsigned id = export_id_get(ctx->export_ids, v[i].key);
		struct buf clients = BUF_INIT;
		const char *p;

		if (id == 0)
			return -ENOSPC;
		for (p = buf_str(&v[i].clients); r == 0 && *p; p++)
			r = buf_addch(&clients, *p == ' ' ? ',' : *p);
		if (r == 0)
			r = buf_printf(b,
				       "EXPORT {\n\tExport_Id = %u;\n\tPath = \"%s\";\n\tPseudo = "
				       "\"%s\";\n"
				       "\tAccess_Type = None;\n\tSquash = %s;\n\tSecType = sys;\n"
				       "\tProtocols = %s;\n\tTransports = TCP;\n"
				       "\tAttr_Expiration_Time = 0;\n"
				       "\tCLIENT { Clients = %s; Access_Type = %s; }\n"
				       "\tFSAL { Name = VFS; }\n}\n",
				       id, v[i].path, v[i].path, "No_Root_Squash", protos,
				       buf_str(&clients), v[i].rw ? "RW" : "RO");
		buf_release(&clients);
	}
	return r;
}

static int nfs_desired(struct render_ctx *ctx, struct resource_set *out, struct diags *d)
{
	const struct cluster *c = ctx->set->cluster;
	struct export *v = calloc(ctx->set->n_nodes + 1, sizeof(*v));
	struct buf b = BUF_INIT, note = BUF_INIT;
	struct resource *res = NULL;
	size_t n = 0, i;
	bool kernel = c->nfs_backend == NFS_BACKEND_KERNEL;
	int r;

	(void)d;
	if (!v)
		return -ENOMEM;
	r = collect(ctx, v, &n, &note);
	if (r == 0)
		r = kernel ? render_kernel(v, n, &b) : render_ganesha(ctx, v, n, &b);
	if (r == 0)
		res = resource_set_add_file(out, ROOT_EXPORTS,
					    kernel ? ctx->exports_name : ctx->ganesha_name, 0644,
					    b.data ? b.data : "", b.len);
	if (r == 0 && !res)
		r = -ENOMEM;
	if (r == 0) {
		res->act_change = res->act_delete = ACTION_NFS_RELOAD;
		if (note.len &&
		    buf_printf(&note, " ha%s no ip: exported to the subnet %s",
			       strchr(buf_str(&note), ',') ? "ve" : "s", c->subnet) == 0)
			res->note = buf_detach(&note, NULL);
	}
	for (i = 0; i < n; i++) {
		free(v[i].path);
		free(v[i].key);
		buf_release(&v[i].clients);
	}
	free(v);
	buf_release(&b);
	buf_release(&note);
	return r;
}

const struct reconciler reconciler_nfs = {
	.name = "nfs",
	.desired = nfs_desired,
};
