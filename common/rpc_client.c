#include "rpc_client.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "fsutil.h"

#define RPC_REPLY_MAX  ((size_t)1 << 20)
#define RPC_STRING_MAX 4096
#define RPC_LIST_MAX   65536

/* A reader over XDR data: every read is checked against the end. */
struct xdr {
	const uint8_t *p;
	size_t n, at;
};

static int put_u32(struct buf *b, uint32_t v)
{
	uint8_t x[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};

	return buf_add(b, x, 4);
}

static int put_string(struct buf *b, const char *s)
{
	size_t len = strlen(s);
	int r;

	r = put_u32(b, (uint32_t)len);
	if (r == 0)
		r = buf_add(b, s, len);
	if (r == 0 && len % 4)
		r = buf_add(b, "\0\0\0", 4 - len % 4);
	return r;
}

static int get_u32(struct xdr *x, uint32_t *ret)
{
	const uint8_t *q = x->p + x->at;

	if (x->n - x->at < 4)
		return -EPROTO;
	*ret = (uint32_t)q[0] << 24 | (uint32_t)q[1] << 16 | (uint32_t)q[2] << 8 | q[3];
	x->at += 4;
	return 0;
}

/* Variable-length opaque data: *ret points into the reply (not NUL-terminated). */
static int get_opaque(struct xdr *x, size_t max, const uint8_t **ret, size_t *ret_len)
{
	uint32_t len;
	size_t padded;

	if (get_u32(x, &len) < 0 || len > max)
		return -EPROTO;
	padded = ((size_t)len + 3) & ~(size_t)3;
	if (x->n - x->at < padded)
		return -EPROTO;
	*ret = x->p + x->at;
	*ret_len = len;
	x->at += padded;
	return 0;
}

static int get_string(struct xdr *x, char **ret)
{
	const uint8_t *s;
	size_t len;
	char *v;

	if (get_opaque(x, RPC_STRING_MAX, &s, &len) < 0)
		return -EPROTO;
	v = strndup((const char *)s, len);
	if (!v)
		return -ENOMEM;
	*ret = v;
	return 0;
}

static int put_u32s(struct buf *b, const uint32_t *v, size_t n)
{
	size_t i;
	int r = 0;

	for (i = 0; r == 0 && i < n; i++)
		r = put_u32(b, v[i]);
	return r;
}

/* The call header with AUTH_SYS credentials for root, and no verifier. */
static int put_call(struct buf *b, uint32_t xid, uint32_t prog, uint32_t vers, uint32_t proc)
{
	const uint32_t ids[] = {0, 0, 0}; /* uid, gid, no other groups */
	struct buf cred = BUF_INIT;
	uint32_t head[8] = {xid, 0, 2, prog, vers, proc, 1, 0};
	const uint32_t verf[2] = {0, 0}; /* AUTH_NONE, empty */
	int r;

	r = put_u32(&cred, (uint32_t)time(NULL));
	if (r == 0)
		r = put_string(&cred, "bramble-doctor");
	if (r == 0)
		r = put_u32s(&cred, ids, 3);
	head[7] = (uint32_t)cred.len;
	if (r == 0)
		r = put_u32s(b, head, 8);
	if (r == 0)
		r = buf_add(b, cred.data, cred.len);
	if (r == 0)
		r = put_u32s(b, verf, 2);
	buf_release(&cred);
	return r;
}

static int connect_to(const struct rpc_target *t, uint16_t port, int *ret_fd)
{
	struct sockaddr_in src = {.sin_family = AF_INET, .sin_addr = t->source};
	struct sockaddr_in dst = {
		.sin_family = AF_INET, .sin_port = htons(port), .sin_addr = t->server};
	unsigned ms = t->timeout_ms ? t->timeout_ms : 3000;
	struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
	int fd, r = 0;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0)
		r = -errno;
	if (r == 0 && t->source.s_addr != htonl(INADDR_ANY) &&
	    bind(fd, (struct sockaddr *)&src, sizeof(src)) < 0)
		r = -errno;
	if (r == 0 && connect(fd, (struct sockaddr *)&dst, sizeof(dst)) < 0)
		r = errno == EINPROGRESS ? -ETIMEDOUT : -errno;
	if (r < 0) {
		close(fd);
		return r;
	}
	*ret_fd = fd;
	return 0;
}

static int read_full(int fd, void *p, size_t n)
{
	uint8_t *q = p;

	while (n) {
		ssize_t k = read(fd, q, n);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		if (k == 0)
			return -EPROTO;
		q += k;
		n -= (size_t)k;
	}
	return 0;
}

/* Read one record (RFC 5531 §11: fragments, the last one marked). */
static int read_record(int fd, struct buf *out)
{
	uint8_t h[4];
	uint32_t len;
	bool last = false;
	int r = 0;

	while (r == 0 && !last) {
		r = read_full(fd, h, 4);
		if (r < 0)
			break;
		len = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
		last = len & 0x80000000u;
		len &= 0x7fffffffu;
		if (out->len + len > RPC_REPLY_MAX)
			return -EPROTO;
		r = buf_grow(out, len);
		if (r == 0)
			r = read_full(fd, out->data + out->len, len);
		if (r == 0)
			out->len += len;
	}
	return r;
}

/* The reply header: the results start at x->at on success. */
static int check_reply(struct xdr *x, uint32_t xid)
{
	uint32_t v[3], stat;
	const uint8_t *verf;
	size_t vl;

	if (get_u32(x, &v[0]) < 0 || get_u32(x, &v[1]) < 0 || get_u32(x, &v[2]) < 0)
		return -EPROTO;
	if (v[0] != xid || v[1] != 1)
		return -EPROTO;
	if (v[2] != 0) /* MSG_DENIED: RPC version or authentication refused */
		return -EACCES;
	if (get_u32(x, &stat) < 0 || get_opaque(x, 400, &verf, &vl) < 0 || get_u32(x, &stat) < 0)
		return -EPROTO;
	if (stat == 1 || stat == 2) /* PROG_UNAVAIL, PROG_MISMATCH */
		return -EPROTONOSUPPORT;
	return stat == 0 ? 0 : -EOPNOTSUPP;
}

/* One call over a new connection; *ret gets the whole reply record. */
static int rpc_call(const struct rpc_target *t, uint16_t port, uint32_t prog, uint32_t vers,
		    uint32_t proc, const struct buf *args, struct buf *reply, size_t *ret_at)
{
	static uint32_t seq;
	uint32_t xid = (uint32_t)time(NULL) ^ (uint32_t)getpid() << 8 ^ ++seq;
	struct buf call = BUF_INIT;
	struct xdr x;
	uint32_t mark;
	int fd = -1, r;

	r = put_u32(&call, 0); /* the record mark, set below */
	if (r == 0)
		r = put_call(&call, xid, prog, vers, proc);
	if (r == 0 && args)
		r = buf_add(&call, args->data, args->len);
	if (r < 0)
		goto out;
	mark = 0x80000000u | (uint32_t)(call.len - 4); /* one fragment, the last */
	call.data[0] = (char)(mark >> 24), call.data[1] = (char)(mark >> 16);
	call.data[2] = (char)(mark >> 8), call.data[3] = (char)mark;
	r = connect_to(t, port, &fd);
	if (r == 0)
		r = write_all(fd, call.data, call.len);
	if (r == 0)
		r = read_record(fd, reply);
	x = (struct xdr){(const uint8_t *)reply->data, reply->len, 0};
	if (r == 0)
		r = check_reply(&x, xid);
	if (r == 0)
		*ret_at = x.at;
out:
	if (fd >= 0)
		close(fd);
	buf_release(&call);
	return r;
}

int rpc_pmap_getport(const struct rpc_target *t, uint32_t prog, uint32_t vers, uint16_t *ret_port)
{
	const uint32_t mapping[] = {prog, vers, 6 /* TCP */, 0};
	struct buf args = BUF_INIT, reply = BUF_INIT;
	struct xdr x;
	uint32_t port;
	size_t at = 0;
	int r;

	r = put_u32s(&args, mapping, 4);
	if (r == 0)
		r = rpc_call(t, t->port ? t->port : 111, RPC_PROG_PORTMAP, 2, 3, &args, &reply,
			     &at);
	x = (struct xdr){(const uint8_t *)reply.data, reply.len, at};
	if (r == 0)
		r = get_u32(&x, &port);
	if (r == 0 && port > 65535)
		r = -EPROTO;
	if (r == 0)
		*ret_port = (uint16_t)port;
	buf_release(&args);
	buf_release(&reply);
	return r;
}

void rpc_exports_free(struct rpc_export *v, size_t n)
{
	size_t i, j;

	for (i = 0; v && i < n; i++) {
		free(v[i].path);
		for (j = 0; j < v[i].n_groups; j++)
			free(v[i].groups[j]);
		free(v[i].groups);
	}
	free(v);
}

/* groups: a list of names, each preceded by "value follows". */
static int get_groups(struct xdr *x, struct rpc_export *e)
{
	uint32_t more;
	char **g;
	int r;

	for (r = get_u32(x, &more); r == 0 && more; r = get_u32(x, &more)) {
		if (e->n_groups >= RPC_LIST_MAX)
			return -EPROTO;
		g = realloc(e->groups, (e->n_groups + 1) * sizeof(*g));
		if (!g)
			return -ENOMEM;
		e->groups = g;
		r = get_string(x, &g[e->n_groups]);
		if (r < 0)
			return r;
		e->n_groups++;
	}
	return r;
}

static int get_exports(struct xdr *x, struct rpc_export **v, size_t *n)
{
	struct rpc_export *nv;
	uint32_t more;
	int r;

	for (r = get_u32(x, &more); r == 0 && more; r = get_u32(x, &more)) {
		if (*n >= RPC_LIST_MAX)
			return -EPROTO;
		nv = realloc(*v, (*n + 1) * sizeof(**v));
		if (!nv)
			return -ENOMEM;
		*v = nv;
		memset(&nv[*n], 0, sizeof(nv[*n]));
		(*n)++;
		r = get_string(x, &nv[*n - 1].path);
		if (r == 0)
			r = get_groups(x, &nv[*n - 1]);
		if (r < 0)
			return r;
	}
	return r;
}

int rpc_mount_exports(const struct rpc_target *t, struct rpc_export **ret_v, size_t *ret_n)
{
	struct buf reply = BUF_INIT;
	struct rpc_export *v = NULL;
	struct xdr x;
	size_t n = 0, at = 0;
	int r;

	r = rpc_call(t, t->port, RPC_PROG_MOUNT, 3, 5, NULL, &reply, &at);
	x = (struct xdr){(const uint8_t *)reply.data, reply.len, at};
	if (r == 0)
		r = get_exports(&x, &v, &n);
	if (r == 0) {
		*ret_v = v;
		*ret_n = n;
		v = NULL;
	}
	rpc_exports_free(v, n);
	buf_release(&reply);
	return r;
}

int rpc_mount_mnt(const struct rpc_target *t, const char *path, uint32_t *ret_status)
{
	struct buf args = BUF_INIT, reply = BUF_INIT, ignored = BUF_INIT;
	struct xdr x;
	uint32_t status;
	size_t at = 0;
	int r;

	r = put_string(&args, path);
	if (r == 0)
		r = rpc_call(t, t->port, RPC_PROG_MOUNT, 3, 1, &args, &reply, &at);
	x = (struct xdr){(const uint8_t *)reply.data, reply.len, at};
	if (r == 0)
		r = get_u32(&x, &status);
	/* Granted: say we are done with it, as umount would (the answer is void). */
	if (r == 0 && status == MNT3_OK)
		(void)rpc_call(t, t->port, RPC_PROG_MOUNT, 3, 3, &args, &ignored, &at);
	if (r == 0)
		*ret_status = status;
	buf_release(&args);
	buf_release(&reply);
	buf_release(&ignored);
	return r;
}
