/*
 * torture_http: the listen address parser, and a live server on loopback
 * driven with raw requests: routes and methods (404, 405 with Allow), the
 * readiness and status answers, the metrics content type, and the webhook:
 * the body handed over byte for byte, 202 or 401 as the daemon decides, 413
 * for a body declared or sent past the limit, with the daemon never asked.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "http.h"
#include "liveness.h"
#include "webhook.h"

static void test_listen_parse(void **state)
{
	static const char *const bad[] = {
		"",
		":9420",
		"127.0.0.1",
		"127.0.0.1:",
		"127.0.0.1:65536",
		"127.0.0.1:-1",
		"127.0.0.1:+1",
		"127.0.0.1:80x",
		"127.0.0.1: 80",
		"localhost:9420",
		"::1:9420",
		"[::1]9420",
		"[::1]:",
		"[127.0.0.1]:80",
		"[]:80",
		"[::1:80",
		"1.2.3.4.5:80",
		"[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:80",
	};
	struct sockaddr_storage ss;
	const struct sockaddr_in *in4 = (const struct sockaddr_in *)&ss;
	const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&ss;
	size_t i;

	(void)state;
	assert_int_equal(http_listen_parse("127.0.0.1:9420", &ss), 0);
	assert_int_equal(ss.ss_family, AF_INET);
	assert_int_equal(ntohs(in4->sin_port), 9420);
	assert_int_equal(ntohl(in4->sin_addr.s_addr), 0x7f000001);
	assert_int_equal(http_listen_parse("0.0.0.0:0", &ss), 0);
	assert_int_equal(ntohs(in4->sin_port), 0);
	assert_int_equal(http_listen_parse("[::1]:65535", &ss), 0);
	assert_int_equal(ss.ss_family, AF_INET6);
	assert_int_equal(ntohs(in6->sin6_port), 65535);
	assert_true(IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (http_listen_parse(bad[i], &ss) != -EINVAL)
			fail_msg("\"%s\" accepted", bad[i]);
}

struct fake {
	bool ready;
	int status_r;
	int hook_r;
	int hooks;
	size_t hook_len;
	unsigned char hook_sum;
	char signature[100];
};

static bool fake_ready(void *ctx)
{
	return ((struct fake *)ctx)->ready;
}

static int fake_metrics(void *ctx, struct buf *out)
{
	(void)ctx;
	return buf_adds(out, "# HELP x y\n# TYPE x counter\nx 1\n");
}

static int fake_status(void *ctx, struct buf *out)
{
	struct fake *f = ctx;

	return f->status_r ? f->status_r : buf_adds(out, "{\"ok\": true}\n");
}

static int fake_hook(void *ctx, const struct http_hook *h)
{
	struct fake *f = ctx;
	const unsigned char *p = h->body;
	size_t i;

	f->hooks++;
	f->hook_len = h->len;
	f->hook_sum = 0;
	for (i = 0; i < h->len; i++)
		f->hook_sum ^= p[i];
	snprintf(f->signature, sizeof(f->signature), "%s", h->signature ? h->signature : "");
	assert_non_null(h->peer);
	return f->hook_r;
}

static struct fake fake;
static struct http_server *server;
static unsigned port;

static int start(void **state)
{
	struct http_ops ops = {&fake,	    fake_ready, fake_metrics,
			       fake_status, fake_hook,	liveness_check};

	(void)state;
	memset(&fake, 0, sizeof(fake));
	assert_int_equal(http_start("127.0.0.1:0", &ops, &server), 0);
	port = http_port(server);
	assert_true(port > 0);
	return 0;
}

static int stop(void **state)
{
	(void)state;
	http_stop(server);
	http_stop(NULL);
	return 0;
}

static int send_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Send head and body on a new connection; return the status code, the response in resp. */
static int request(const char *head, const void *body, size_t len, char *resp, size_t size)
{
	struct sockaddr_in sa;
	size_t got = 0;
	ssize_t n;
	int fd, code = -1;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(send_all(fd, head, strlen(head)), 0);
	if (len)
		send_all(fd, body, len); /* the server may stop reading early */
	while (got + 1 < size) {
		n = recv(fd, resp + got, size - got - 1, 0);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	resp[got] = '\0';
	close(fd);
	if (sscanf(resp, "HTTP/1.1 %d", &code) != 1)
		code = -1;
	return code;
}

static int get(const char *method, const char *path, char *resp, size_t size)
{
	char head[256];

	snprintf(head, sizeof(head), "%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
		 method, path);
	return request(head, NULL, 0, resp, size);
}

static void test_routes(void **state)
{
	char resp[4096];

	(void)state;
	assert_int_equal(get("GET", "/healthz", resp, sizeof(resp)), 200);
	assert_non_null(strstr(resp, "\r\n\r\nok\n"));
	assert_int_equal(get("HEAD", "/healthz", resp, sizeof(resp)), 200);
	assert_int_equal(get("GET", "/readyz", resp, sizeof(resp)), 503);
	fake.ready = true;
	assert_int_equal(get("GET", "/readyz", resp, sizeof(resp)), 200);
	assert_int_equal(get("GET", "/metrics", resp, sizeof(resp)), 200);
	assert_non_null(strstr(resp, "Content-Type: text/plain; version=0.0.4"));
	assert_non_null(strstr(resp, "\r\n\r\n# HELP x y\n"));
	assert_int_equal(get("GET", "/status", resp, sizeof(resp)), 200);
	assert_non_null(strstr(resp, "application/json"));
	assert_non_null(strstr(resp, "{\"ok\": true}"));
	fake.status_r = -ENOENT;
	assert_int_equal(get("GET", "/status", resp, sizeof(resp)), 503);
	fake.status_r = -EIO;
	assert_int_equal(get("GET", "/status", resp, sizeof(resp)), 500);
	assert_int_equal(get("GET", "/nope", resp, sizeof(resp)), 404);
	assert_int_equal(get("GET", "/healthz/", resp, sizeof(resp)), 404);
	assert_int_equal(get("GET", "/", resp, sizeof(resp)), 404);
	assert_int_equal(get("DELETE", "/metrics", resp, sizeof(resp)), 405);
	assert_non_null(strstr(resp, "Allow: GET, HEAD"));
	assert_int_equal(get("GET", "/hooks/git", resp, sizeof(resp)), 405);
	assert_non_null(strstr(resp, "Allow: POST"));
	assert_int_equal(get("PUT", "/hooks/git", resp, sizeof(resp)), 405);
	assert_int_equal(fake.hooks, 0);
}

static int post(const char *extra, const void *body, size_t len, char *resp, size_t size)
{
	char head[512];

	snprintf(head, sizeof(head),
		 "POST /hooks/git HTTP/1.1\r\nHost: x\r\nConnection: close\r\n%s"
		 "Content-Length: %zu\r\n\r\n",
		 extra, len);
	return request(head, body, len, resp, size);
}

static void test_hook(void **state)
{
	char resp[4096];
	unsigned char *body = malloc(WEBHOOK_MAX_BODY + 1);
	size_t i;

	(void)state;
	assert_non_null(body);
	for (i = 0; i <= WEBHOOK_MAX_BODY; i++)
		body[i] = (unsigned char)(i * 31 + 7);
	fake.hook_r = -EACCES;
	assert_int_equal(post("X-Hub-Signature-256: sha256=00\r\n", "{}", 2, resp, sizeof(resp)),
			 401);
	assert_int_equal(fake.hooks, 1);
	assert_string_equal(fake.signature, "sha256=00");
	assert_int_equal(post("", "", 0, resp, sizeof(resp)), 401);
	assert_int_equal(fake.hook_len, 0);
	fake.hook_r = 0;
	assert_int_equal(post("X-Gitlab-Token: t\r\n", body, 1000, resp, sizeof(resp)), 202);
	assert_int_equal(fake.hook_len, 1000);
	/* Exactly the limit is fine, and every byte arrives. */
	fake.hooks = 0;
	assert_int_equal(post("X-Gitlab-Token: t\r\n", body, WEBHOOK_MAX_BODY, resp, sizeof(resp)),
			 202);
	assert_int_equal(fake.hooks, 1);
	assert_int_equal(fake.hook_len, WEBHOOK_MAX_BODY);
	{
		unsigned char sum = 0;

		for (i = 0; i < WEBHOOK_MAX_BODY; i++)
			sum ^= body[i];
		assert_int_equal(fake.hook_sum, sum);
	}
	/* One byte past it, declared up front: 413 before the body is sent. */
	fake.hooks = 0;
	snprintf((char *)body, 512,
		 "POST /hooks/git HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
		 "X-Gitlab-Token: t\r\nContent-Length: %zu\r\n\r\n",
		 WEBHOOK_MAX_BODY + 1);
	assert_int_equal(request((char *)body, NULL, 0, resp, sizeof(resp)), 413);
	assert_int_equal(get("GET", "/healthz", resp, sizeof(resp)), 200);
	assert_int_equal(fake.hooks, 0);
	free(body);
}

/* A chunked body gives no length up front: the limit is kept as it arrives. */
static void test_hook_chunked(void **state)
{
	static const char head[] = "POST /hooks/git HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
				   "X-Gitlab-Token: t\r\nTransfer-Encoding: chunked\r\n\r\n";
	size_t chunk = 64 * 1024, n = WEBHOOK_MAX_BODY / chunk + 1, i;
	char *body = malloc(n * (chunk + 16) + 8), resp[4096];
	size_t len = 0;

	(void)state;
	assert_non_null(body);
	for (i = 0; i < n; i++) {
		len += (size_t)snprintf(body + len, 16, "%zx\r\n", chunk);
		memset(body + len, 'a', chunk);
		len += chunk;
		memcpy(body + len, "\r\n", 2);
		len += 2;
	}
	memcpy(body + len, "0\r\n\r\n", 5);
	len += 5;
	fake.hooks = 0;
	assert_int_equal(request(head, body, len, resp, sizeof(resp)), 413);
	assert_int_equal(fake.hooks, 0);
	/* A small chunked body goes through. */
	assert_int_equal(request(head, "2\r\n{}\r\n0\r\n\r\n", 12, resp, sizeof(resp)), 202);
	assert_int_equal(fake.hooks, 1);
	assert_int_equal(fake.hook_len, 2);
	free(body);
}

/* /healthz turns 503 with the reason when the loop is idle past the threshold, and back. */
static void test_healthz_hung(void **state)
{
	struct timespec pause = {1, 300 * 1000 * 1000};
	char resp[4096];

	(void)state;
	fake.ready = true;
	liveness_start(1);
	assert_int_equal(get("GET", "/healthz", resp, sizeof(resp)), 200);
	nanosleep(&pause, NULL);
	assert_int_equal(get("GET", "/healthz", resp, sizeof(resp)), 503);
	assert_non_null(strstr(resp, "\r\n\r\nrun loop hung: no progress for 1 s"));
	assert_int_equal(get("GET", "/readyz", resp, sizeof(resp)), 200); /* ready stays ready */
	liveness_beat();
	assert_int_equal(get("GET", "/healthz", resp, sizeof(resp)), 200);
	liveness_start(0);
	nanosleep(&pause, NULL);
	assert_int_equal(get("GET", "/healthz", resp, sizeof(resp)), 200);
}

static void test_bad_listen(void **state)
{
	struct http_ops ops = {&fake,	    fake_ready, fake_metrics,
			       fake_status, fake_hook,	liveness_check};
	struct http_server *s = NULL;
	char addr[64];

	(void)state;
	assert_int_equal(http_start("nonsense", &ops, &s), -EINVAL);
	assert_null(s);
	/* The port is taken by the running server. */
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", port);
	assert_true(http_start(addr, &ops, &s) < 0);
	assert_null(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_listen_parse), cmocka_unit_test(test_routes),
		cmocka_unit_test(test_hook),	     cmocka_unit_test(test_hook_chunked),
		cmocka_unit_test(test_bad_listen),   cmocka_unit_test(test_healthz_hung),
	};

	return cmocka_run_group_tests(tests, start, stop);
}
