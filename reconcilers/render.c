/*
 * render: run every reconciler's desired() into one sorted resource set,
 * the naming rules they share, and the running of a validate() tool.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "reconciler.h"
#include "buf.h"
#include "fsutil.h"

const struct reconciler *const reconcilers[] = {
	&reconciler_tftp,
	&reconciler_rootfs,
	&reconciler_nfs,
	&reconciler_dhcp,
};
const size_t n_reconcilers = sizeof(reconcilers) / sizeof(reconcilers[0]);

int render_all(struct render_ctx *ctx, struct resource_set *out, struct diags *d)
{
	size_t i, before = d->n;
	int r;

	for (i = 0; i < n_reconcilers; i++) {
		size_t first = out->n, k;

		r = reconcilers[i]->desired(ctx, out, d);
		if (r < 0 && r != -EINVAL)
			return r;
		for (k = first; k < out->n; k++)
			if (!out->v[k].owner)
				out->v[k].owner = reconcilers[i]->name;
	}
	if (d->n > before)
		return -EINVAL;
	r = resource_set_sort(out);
	if (r == -EEXIST)
		return diags_add(d, NULL, "two resources render to the same path") < 0 ? -ENOMEM
										       : -EINVAL;
	return r;
}

int node_root_path(const struct render_ctx *ctx, const struct node *n, char **ret)
{
	struct buf b = BUF_INIT;
	int r;

	if (n->root_mode == ROOT_MODE_SHARED)
		r = buf_printf(&b, "%s/shared/%s", ctx->root_path[ROOT_NFS], n->image->name);
	else
		r = buf_printf(&b, "%s/%s", ctx->root_path[ROOT_NFS], n->serial);
	if (r < 0)
		return r;
	*ret = buf_detach(&b, NULL);
	return *ret ? 0 : -ENOMEM;
}

/*
 * A Pi 3 is always served under its serial: its boot ROM and bootcode.bin
 * have no TFTP_PREFIX setting and ask for <serial>/start.elf whatever the
 * cluster's prefix mode (raspberrypi/documentation boot-net.adoc).
 */
void node_tftp_dir(const struct manifest_set *set, const struct node *n, char out[18])
{
	if (set->cluster->tftp_prefix == TFTP_PREFIX_MAC && n->has_mac &&
	    n->model != PI_MODEL_PI3) {
		snprintf(out, 18, "%02x-%02x-%02x-%02x-%02x-%02x", n->mac[0], n->mac[1], n->mac[2],
			 n->mac[3], n->mac[4], n->mac[5]);
		return;
	}
	memcpy(out, n->serial, 9);
}

/* Write data to <scratch_dir>/<name>.conf; sets the two paths. */
static int tool_input(const struct render_ctx *ctx, const char *name, const void *data, size_t len,
		      struct buf *conf, struct buf *log)
{
	int fd, r;

	r = buf_printf(conf, "%s/%s.conf", ctx->scratch_dir, name);
	if (r == 0)
		r = buf_printf(log, "%s/%s.log", ctx->scratch_dir, name);
	if (r < 0)
		return r;
	fd = open(buf_str(conf), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	r = write_all(fd, data, len);
	close(fd);
	return r;
}

int render_tool_check(const struct render_ctx *ctx, const char *name, const char *script,
		      const char *tool, const void *data, size_t len, int *ret_status,
		      char **ret_output)
{
	const char *argv[4] = {tool, NULL, NULL, NULL};
	struct buf conf = BUF_INIT, log = BUF_INIT;
	char *out = NULL;
	size_t out_len;
	int r;

	if (!ctx->scratch_dir || !ctx->run_command)
		return -EINVAL;
	r = tool_input(ctx, name, data, len, &conf, &log);
	if (r < 0)
		goto out;
	argv[1] = buf_str(&conf);
	argv[2] = buf_str(&log);
	r = ctx->run_command(script, argv, 30);
	if (r < 0 && r != -ETIMEDOUT && r != -ECANCELED)
		r = -1; /* not started: a failure like any */
	if (r != 0 && r != 127 && file_read(buf_str(&log), 4096, &out, &out_len) < 0)
		out = NULL;
	*ret_status = r;
	*ret_output = out;
	r = 0;
out:
	buf_release(&conf);
	buf_release(&log);
	return r;
}
