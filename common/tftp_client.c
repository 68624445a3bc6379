#include "tftp_client.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define TFTP_PKT_MAX  65536
#define RETRANSMIT_MS 1000

/* One transfer: the socket, the packet to send again, where we are. */
struct xfer {
	struct tftp_get *g;
	int fd;
	struct sockaddr_in peer; /* port 69 until the first answer fixes the TID */
	bool have_tid;
	uint8_t last[600];
	size_t last_len;
	uint16_t block;
	size_t blksize;
	struct buf *data;
	bool done;
};

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int open_socket(const struct tftp_get *g, int *ret_fd)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr = g->source};
	int fd, r = 0;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (g->ifname && setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, g->ifname,
				    (socklen_t)strlen(g->ifname)) < 0)
		r = -errno;
	if (r == 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		r = -errno;
	if (r < 0) {
		close(fd);
		return r;
	}
	*ret_fd = fd;
	return 0;
}

static int send_last(struct xfer *x)
{
	if (sendto(x->fd, x->last, x->last_len, 0, (struct sockaddr *)&x->peer, sizeof(x->peer)) <
	    0)
		return -errno;
	return 0;
}

/* RRQ: path, "octet", blksize N (RFC 2348). */
static int send_rrq(struct xfer *x, const char *path, unsigned blksize)
{
	int n;

	x->last[0] = 0, x->last[1] = 1;
	n = snprintf((char *)x->last + 2, sizeof(x->last) - 2, "%s%coctet%cblksize%c%u", path, 0, 0,
		     0, blksize);
	if (n < 0 || (size_t)n + 3 > sizeof(x->last))
		return -ENAMETOOLONG;
	x->last_len = 2 + (size_t)n + 1;
	return send_last(x);
}

static int send_ack(struct xfer *x, uint16_t block)
{
	x->last[0] = 0, x->last[1] = 4;
	x->last[2] = (uint8_t)(block >> 8), x->last[3] = (uint8_t)block;
	x->last_len = 4;
	return send_last(x);
}

/* OACK: take the block size the server chose, then acknowledge block 0. */
static int got_oack(struct xfer *x, const uint8_t *b, size_t n)
{
	size_t i = 2;

	while (i < n) {
		const char *k = (const char *)b + i, *v;
		size_t kl = strnlen(k, n - i), vl;
		char *end = NULL;
		unsigned long bs;

		if (i + kl + 1 >= n)
			break;
		v = k + kl + 1;
		vl = strnlen(v, n - i - kl - 1);
		if (strcasecmp(k, "blksize") == 0 && vl < n - i - kl - 1) {
			errno = 0;
			bs = strtoul(v, &end, 10);
			if (errno || end == v || *end || bs < 8 || bs > x->g->blksize_used)
				return -EPROTO;
			x->blksize = bs;
		}
		i += kl + 1 + vl + 1;
	}
	return send_ack(x, 0);
}

static int got_error(struct xfer *x, const uint8_t *b, size_t n)
{
	struct tftp_get *g = x->g;

	g->error_code = (unsigned)(b[2] << 8 | b[3]);
	snprintf(g->error, sizeof(g->error), "TFTP error %u: %.*s", g->error_code,
		 (int)strnlen((const char *)b + 4, n - 4), (const char *)b + 4);
	return g->error_code == 1 ? -ENOENT : g->error_code == 2 ? -EACCES : -EPROTO;
}

static int got_data(struct xfer *x, const uint8_t *b, size_t n)
{
	uint16_t blk = (uint16_t)(b[2] << 8 | b[3]);
	size_t max = x->g->max ? x->g->max : (size_t)256 << 20;
	int r;

	if (blk == x->block) /* our ACK was lost: the server sent the block again */
		return send_ack(x, blk);
	if (blk != (uint16_t)(x->block + 1))
		return 0;
	if (n - 4 > x->blksize || x->data->len + (n - 4) > max)
		return n - 4 > x->blksize ? -EPROTO : -E2BIG;
	r = buf_add(x->data, b + 4, n - 4);
	if (r < 0)
		return r;
	x->block = blk;
	x->done = n - 4 < x->blksize;
	return send_ack(x, blk);
}

/* One packet from the server: the first one fixes its port (RFC 1350). */
static int got_packet(struct xfer *x, const uint8_t *b, size_t n, const struct sockaddr_in *from)
{
	uint16_t op;

	if (n < 4 || from->sin_addr.s_addr != x->peer.sin_addr.s_addr)
		return 0;
	if (x->have_tid && from->sin_port != x->peer.sin_port)
		return 0;
	x->have_tid = true;
	x->peer.sin_port = from->sin_port;
	op = (uint16_t)(b[0] << 8 | b[1]);
	if (op == 5)
		return got_error(x, b, n);
	if (op == 6 && x->block == 0 && x->data->len == 0)
		return got_oack(x, b, n);
	if (op == 3)
		return got_data(x, b, n);
	return 0;
}

/* Wait for packets until the transfer ends or the deadline passes. */
static int run(struct xfer *x, long long deadline, uint8_t *pkt)
{
	long long next_tx = now_ms() + RETRANSMIT_MS, t;
	struct pollfd p = {.fd = x->fd, .events = POLLIN};
	int r = 0;

	while (r == 0 && !x->done) {
		struct sockaddr_in from;
		socklen_t fl = sizeof(from);
		ssize_t n;

		t = now_ms();
		if (t >= deadline)
			return -ETIMEDOUT;
		if (t >= next_tx) {
			r = send_last(x);
			next_tx = t + RETRANSMIT_MS;
			continue;
		}
		if (poll(&p, 1, (int)((next_tx < deadline ? next_tx : deadline) - t)) <= 0)
			continue;
		n = recvfrom(x->fd, pkt, TFTP_PKT_MAX, 0, (struct sockaddr *)&from, &fl);
		if (n < 0)
			return errno == EINTR ? 0 : -errno;
		r = got_packet(x, pkt, (size_t)n, &from);
		next_tx = now_ms() + RETRANSMIT_MS;
	}
	return r;
}

static const char *reason(int r)
{
	switch (r) {
	case -ETIMEDOUT:
		return "no complete answer in time";
	case -E2BIG:
		return "the file is larger than the limit";
	case -EPROTO:
		return "a malformed answer";
	default:
		return strerror(-r);
	}
}

int tftp_get_file(struct tftp_get *g, const char *path, struct buf *data)
{
	struct xfer x = {.g = g, .fd = -1, .blksize = 512, .data = data};
	unsigned timeout = g->timeout_ms ? g->timeout_ms : 5000;
	uint8_t *pkt = malloc(TFTP_PKT_MAX);
	int r;

	g->error[0] = 0;
	g->error_code = 0;
	g->blksize_used = g->blksize ? g->blksize : 1468;
	x.peer.sin_family = AF_INET;
	x.peer.sin_port = htons(g->port ? g->port : 69);
	x.peer.sin_addr = g->server;
	r = pkt ? open_socket(g, &x.fd) : -ENOMEM;
	if (r == 0)
		r = send_rrq(&x, path, g->blksize_used);
	if (r == 0)
		r = run(&x, now_ms() + timeout, pkt);
	if (r < 0 && !g->error[0])
		snprintf(g->error, sizeof(g->error), "%s", reason(r));
	g->blksize_used = (unsigned)x.blksize;
	if (x.fd >= 0)
		close(x.fd);
	free(pkt);
	return r;
}
