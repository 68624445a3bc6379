#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "log.h"
#include "webhook.h"

/*
 * Limits against slow or many clients (slowloris): one client (address) holds
 * at most HTTP_MAX_PER_CLIENT connections, so it cannot fill the
 * HTTP_MAX_CONNECTIONS the one server thread multiplexes (epoll), and a probe
 * from any other address is still answered; a connection idle for
 * HTTP_TIMEOUT_S is closed, and a webhook body must be in within
 * HTTP_BODY_S of its headers, however slowly it trickles.
 */
#define HTTP_MAX_CONNECTIONS 512
#define HTTP_MAX_PER_CLIENT  16
#define HTTP_FD_RESERVE	     256 /* descriptors kept for the passes */
#define HTTP_TIMEOUT_S	     10
#define HTTP_BODY_S	     30
#define HTTP_MAX_DOC	     ((size_t)256 << 20)
#define HTTP_MAX_DRAIN	     (4 * WEBHOOK_MAX_BODY) /* past this, hang up instead of 413 */
#define TYPE_TEXT	     "text/plain; charset=utf-8"
#define TYPE_METRICS	     "text/plain; version=0.0.4; charset=utf-8"
#define TYPE_JSON	     "application/json"

enum route {
	ROUTE_HEALTHZ,
	ROUTE_READYZ,
	ROUTE_METRICS,
	ROUTE_STATUS,
	ROUTE_HOOK,
	ROUTE_NONE,
};

static const struct route_def {
	const char *path;
	bool post; /* POST only; the others take GET and HEAD */
} routes[] = {
	[ROUTE_HEALTHZ] = {"/healthz", false}, [ROUTE_READYZ] = {"/readyz", false},
	[ROUTE_METRICS] = {"/metrics", false}, [ROUTE_STATUS] = {"/status", false},
	[ROUTE_HOOK] = {"/hooks/git", true},
};

struct http_server {
	struct MHD_Daemon *mhd;
	struct http_ops ops;
	unsigned port;
};

/* A webhook request while its body arrives. */
struct request {
	struct buf body;
	bool answered; /* the response is queued: drop what still comes */
	bool too_big;  /* the body passed WEBHOOK_MAX_BODY: drop the rest, then 413 */
	size_t dropped;
	time_t deadline; /* CLOCK_MONOTONIC seconds: the body must be in by then */
};

static time_t mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

/* Marks a request that was answered at once, so that later calls only drop its body. */
static char answered_mark;

static enum MHD_Result reply(struct MHD_Connection *c, unsigned code, const char *type,
			     struct buf *body, const char *allow)
{
	struct MHD_Response *resp = NULL;
	enum MHD_Result ret;
	size_t len = 0;
	char *data = buf_detach(body, &len);

	if (!data)
		return MHD_NO;
	resp = MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(data);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (allow)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
	ret = MHD_queue_response(c, code, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result reply_text(struct MHD_Connection *c, unsigned code, const char *text,
				  const char *allow)
{
	struct buf b = BUF_INIT;

	if (buf_adds(&b, text) < 0)
		return MHD_NO;
	return reply(c, code, TYPE_TEXT, &b, allow);
}

/* A document built by the daemon: the metrics or the status. */
static enum MHD_Result reply_doc(struct MHD_Connection *c, int (*fn)(void *, struct buf *),
				 void *ctx, const char *type)
{
	struct buf b = BUF_INIT;
	int r;

	buf_set_max(&b, HTTP_MAX_DOC);
	r = fn(ctx, &b);
	if (r == 0)
		return reply(c, MHD_HTTP_OK, type, &b, NULL);
	buf_release(&b);
	if (r == -ENOENT)
		return reply_text(c, MHD_HTTP_SERVICE_UNAVAILABLE, "no status recorded yet\n",
				  NULL);
	return reply_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal error\n", NULL);
}

/* /healthz: ok, or 503 with the daemon's reason (a hung run loop: liveness.h). */
static enum MHD_Result serve_healthz(struct http_server *s, struct MHD_Connection *c)
{
	struct buf why = BUF_INIT;

	if (!s->ops.healthy || s->ops.healthy(&why) == 0) {
		buf_release(&why);
		return reply_text(c, MHD_HTTP_OK, "ok\n", NULL);
	}
	return reply(c, MHD_HTTP_SERVICE_UNAVAILABLE, TYPE_TEXT, &why, NULL);
}

static enum MHD_Result serve_get(struct http_server *s, struct MHD_Connection *c, enum route rt)
{
	switch (rt) {
	case ROUTE_HEALTHZ:
		return serve_healthz(s, c);
	case ROUTE_READYZ:
		if (s->ops.ready(s->ops.ctx))
			return reply_text(c, MHD_HTTP_OK, "ready\n", NULL);
		return reply_text(c, MHD_HTTP_SERVICE_UNAVAILABLE, "no revision applied yet\n",
				  NULL);
	case ROUTE_METRICS:
		return reply_doc(c, s->ops.metrics, s->ops.ctx, TYPE_METRICS);
	case ROUTE_STATUS:
		return reply_doc(c, s->ops.status, s->ops.ctx, TYPE_JSON);
	default:
		return reply_text(c, MHD_HTTP_NOT_FOUND, "not found\n", NULL);
	}
}

static enum route route_find(const char *url)
{
	size_t i;

	for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		if (strcmp(url, routes[i].path) == 0)
			return (enum route)i;
	return ROUTE_NONE;
}

/* Whether the declared Content-Length is past the limit. */
static bool declared_too_big(struct MHD_Connection *c)
{
	const char *cl =
		MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	unsigned long long v;
	char *end = NULL;

	if (!cl)
		return false;
	errno = 0;
	v = strtoull(cl, &end, 10);
	return errno != 0 || end == cl || v > WEBHOOK_MAX_BODY;
}

static const char *header(struct MHD_Connection *c, const char *name)
{
	return MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
}

/* The first call for a webhook: refuse a declared body past the limit, else collect it. */
static enum MHD_Result hook_begin(struct MHD_Connection *c, void **req_cls)
{
	struct request *rq = NULL;

	if (declared_too_big(c))
		return reply_text(c, MHD_HTTP_CONTENT_TOO_LARGE, "body too large\n", NULL);
	rq = calloc(1, sizeof(*rq));
	if (!rq)
		return MHD_NO;
	buf_set_max(&rq->body, WEBHOOK_MAX_BODY);
	rq->deadline = mono_s() + HTTP_BODY_S;
	*req_cls = rq;
	return MHD_YES;
}

static enum MHD_Result request_begin(struct http_server *s, struct MHD_Connection *c,
				     const char *url, const char *method, void **req_cls)
{
	enum route rt = route_find(url);
	bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
	bool post = strcmp(method, "POST") == 0;

	if (rt == ROUTE_HOOK && post)
		return hook_begin(c, req_cls);
	*req_cls = &answered_mark;
	if (rt == ROUTE_NONE)
		return reply_text(c, MHD_HTTP_NOT_FOUND, "not found\n", NULL);
	if (routes[rt].post)
		return reply_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n", "POST");
	if (!get)
		return reply_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n",
				  "GET, HEAD");
	return serve_get(s, c, rt);
}

static void peer_name(struct MHD_Connection *c, char *out, size_t size)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;
	socklen_t len = sa && sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
							: sizeof(struct sockaddr_in);

	if (!sa || getnameinfo(sa, len, out, (socklen_t)size, NULL, 0, NI_NUMERICHOST) != 0)
		snprintf(out, size, "?");
}

/* The last call for a webhook: the whole body is here. */
static enum MHD_Result hook_finish(struct http_server *s, struct MHD_Connection *c,
				   struct request *rq)
{
	struct http_hook h;
	char peer[INET6_ADDRSTRLEN + 8];
	int r;

	peer_name(c, peer, sizeof(peer));
	h.signature = header(c, "X-Hub-Signature-256");
	h.token = header(c, "X-Gitlab-Token");
	h.delivery = header(c, "X-GitHub-Delivery");
	if (!h.delivery)
		h.delivery = header(c, "X-Gitea-Delivery");
	if (!h.delivery)
		h.delivery = header(c, "X-Gitlab-Event-UUID");
	h.peer = peer;
	h.body = rq->body.data;
	h.len = rq->body.len;
	rq->answered = true;
	if (rq->too_big)
		return reply_text(c, MHD_HTTP_CONTENT_TOO_LARGE, "body too large\n", NULL);
	r = s->ops.hook(s->ops.ctx, &h);
	if (r == 0)
		return reply_text(c, MHD_HTTP_ACCEPTED, "pass queued\n", NULL);
	if (r == -EACCES)
		return reply_text(c, MHD_HTTP_UNAUTHORIZED, "signature or token refused\n", NULL);
	if (r == -EALREADY)
		return reply_text(c, MHD_HTTP_OK, "delivery already seen: no pass\n", NULL);
	return reply_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal error\n", NULL);
}

/*
 * A piece of a webhook body.  libmicrohttpd cannot answer before the body
 * is in, so a body sent without a length that passes the limit is dropped as
 * it comes and answered 413 at its end, or cut off past HTTP_MAX_DRAIN.
 */
static enum MHD_Result hook_upload(struct request *rq, const char *data, size_t *size)
{
	size_t n = *size;
	int r = 0;

	*size = 0;
	if (mono_s() > rq->deadline)
		return MHD_NO; /* a body trickled too slowly: hang up */
	if (!rq->too_big)
		r = buf_add(&rq->body, data, n);
	if (r == -E2BIG) {
		rq->too_big = true;
		rq->dropped = rq->body.len;
		buf_release(&rq->body);
	} else if (r < 0) {
		return MHD_NO;
	}
	if (rq->too_big)
		rq->dropped += n;
	return rq->dropped > HTTP_MAX_DRAIN ? MHD_NO : MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **req_cls)
{
	struct http_server *s = cls;
	struct request *rq = *req_cls;

	(void)version;
	if (!rq)
		return request_begin(s, c, url, method, req_cls);
	if ((void *)rq == (void *)&answered_mark || rq->answered) {
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (*upload_data_size)
		return hook_upload(rq, upload_data, upload_data_size);
	return hook_finish(s, c, rq);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **req_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct request *rq = *req_cls;

	(void)cls;
	(void)c;
	(void)toe;
	if (rq && (void *)rq != (void *)&answered_mark) {
		buf_release(&rq->body);
		free(rq);
	}
	*req_cls = NULL;
}

__attribute__((format(printf, 2, 0))) static void on_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	size_t len;

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	len = strlen(msg);
	while (len > 0 && msg[len - 1] == '\n')
		msg[--len] = '\0';
	log_warnx("http: %s", msg);
}

static int parse_port(const char *s, uint16_t *ret)
{
	unsigned long v;
	char *end = NULL;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v > 65535)
		return -EINVAL;
	*ret = (uint16_t)v;
	return 0;
}

int http_listen_parse(const char *listen, struct sockaddr_storage *ret_addr)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
	const char *colon = strrchr(listen, ':');
	char host[INET6_ADDRSTRLEN];
	size_t hlen;
	uint16_t port;
	bool v6 = listen[0] == '[';

	if (!colon || parse_port(colon + 1, &port) < 0)
		return -EINVAL;
	if (v6 && (colon == listen || colon[-1] != ']'))
		return -EINVAL;
	hlen = (size_t)(colon - listen) - (v6 ? 2 : 0);
	if (hlen == 0 || hlen >= sizeof(host))
		return -EINVAL;
	memcpy(host, listen + (v6 ? 1 : 0), hlen);
	host[hlen] = '\0';
	memset(&ss, 0, sizeof(ss));
	if (v6 ? inet_pton(AF_INET6, host, &in6->sin6_addr) != 1
	       : inet_pton(AF_INET, host, &in4->sin_addr) != 1)
		return -EINVAL;
	ss.ss_family = v6 ? AF_INET6 : AF_INET;
	if (v6)
		in6->sin6_port = htons(port);
	else
		in4->sin_port = htons(port);
	*ret_addr = ss;
	return 0;
}

/*
 * How many connections to accept: HTTP_MAX_CONNECTIONS, with the soft limit
 * of open files raised (up to the hard one) so that a full server still
 * leaves HTTP_FD_RESERVE descriptors to the passes; fewer if it cannot be.
 */
static unsigned connection_limit(void)
{
	struct rlimit rl;
	rlim_t want = HTTP_MAX_CONNECTIONS + HTTP_FD_RESERVE;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 64;
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
		rl.rlim_cur =
			rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ? want : rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0 && getrlimit(RLIMIT_NOFILE, &rl) < 0)
			return 64;
	}
	if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= want)
		return HTTP_MAX_CONNECTIONS;
	if (rl.rlim_cur < HTTP_FD_RESERVE + 2 * HTTP_MAX_PER_CLIENT)
		return 2 * HTTP_MAX_PER_CLIENT;
	return (unsigned)(rl.rlim_cur - HTTP_FD_RESERVE);
}

int http_start(const char *listen, const struct http_ops *ops, struct http_server **ret)
{
	struct sockaddr_storage ss;
	struct http_server *s = NULL;
	const union MHD_DaemonInfo *info;
	unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG;
	uint16_t port;
	int r;

	r = http_listen_parse(listen, &ss);
	if (r < 0)
		return r;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->ops = *ops;
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
					      : ((struct sockaddr_in *)&ss)->sin_port);
	errno = 0;
	s->mhd =
		MHD_start_daemon(flags, port, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER,
				 on_log, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
				 MHD_OPTION_CONNECTION_LIMIT, connection_limit(),
				 MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)HTTP_MAX_PER_CLIENT,
				 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_TIMEOUT_S,
				 MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_END);
	if (!s->mhd) {
		r = errno ? -errno : -EADDRNOTAVAIL;
		free(s);
		return r;
	}
	info = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_BIND_PORT);
	s->port = info ? info->port : 0;
	*ret = s;
	return 0;
}

unsigned http_port(const struct http_server *s)
{
	return s->port;
}

void http_stop(struct http_server *s)
{
	if (!s)
		return;
	MHD_stop_daemon(s->mhd);
	free(s);
}
