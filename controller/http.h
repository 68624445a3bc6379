/*
 * http: the daemon's endpoints on libmicrohttpd, served by one internal
 * thread: GET /healthz, /readyz, /metrics, /status and POST /hooks/git.
 * This file knows routes, methods and limits (405 for a wrong method, 404
 * for an unknown path, 413 for a webhook body past WEBHOOK_MAX_BODY); what
 * the answers say comes from the daemon through struct http_ops, whose
 * functions run on the server's thread.
 */
#ifndef BRAMBLE_HTTP_H
#define BRAMBLE_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "../common/buf.h"

/* One webhook request, as the server received it. */
struct http_hook {
	const char *signature; /* X-Hub-Signature-256, or NULL */
	const char *token;     /* X-Gitlab-Token, or NULL */
	const char *delivery;  /* X-GitHub-Delivery, X-Gitea-Delivery, X-Gitlab-Event-UUID */
	const char *peer;      /* the client's address, for log lines */
	const void *body;
	size_t len;
};

struct http_ops {
	void *ctx;
	/* Whether a revision has been applied (/readyz). */
	bool (*ready)(void *ctx);
	/* The Prometheus exposition (/metrics). */
	int (*metrics)(void *ctx, struct buf *out);
	/* The status document (/status); -ENOENT when none is recorded yet. */
	int (*status)(void *ctx, struct buf *out);
	/* Check and act on a webhook: 0 accepted, -EACCES refused, -EALREADY a replay. */
	int (*hook)(void *ctx, const struct http_hook *h);
	/* Whether the daemon is alive (/healthz): 0, or -errno with the reason in why; NULL: always. */
	int (*healthy)(struct buf *why);
};

struct http_server;

/*
 * Parse "ADDR:PORT" ("127.0.0.1:9420", "[::1]:9420"); addresses are numeric
 * and port 0 asks the kernel for a free one.  -EINVAL when malformed.
 */
int http_listen_parse(const char *listen, struct sockaddr_storage *ret_addr);

/* Start serving on listen; ops is copied.  The thread inherits the caller's signal mask. */
int http_start(const char *listen, const struct http_ops *ops, struct http_server **ret);

/* The port the server listens on (useful with port 0). */
unsigned http_port(const struct http_server *s);

/* Stop the thread, close the socket and free s (NULL is fine). */
void http_stop(struct http_server *s);

#endif
