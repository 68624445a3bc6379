/*
 * torture_notify: the notification bodies (generic JSON, Slack, Discord,
 * Matrix), the URL checks, the notify.urlFile reader, the notify.* keys of
 * bramble.yaml, and the boot table's news (unknown Pis, stalled boots).
 */
#include <errno.h>
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>

#include <cmocka.h>

#include "bootwatch.h"
#include "buf.h"
#include "config.h"
#include "daemon_notify.h"
#include "json_each.h"
#include "notify.h"

static json_t *body_of(enum notify_format f, const struct notify_event *ev)
{
	struct buf b = BUF_INIT;
	json_t *j;

	assert_int_equal(notify_body(f, ev, "ctl-1", &b), 0);
	j = json_loads(buf_str(&b), 0, NULL);
	assert_non_null(j);
	buf_release(&b);
	return j;
}

static const char *str(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static void test_json_event(void **state)
{
	struct notify_event ev = {NOTIFY_UNKNOWN_PI,   86400 + 3661, NULL,
				  "a Pi \"x\"\n",      NULL,	     "9ffefdef",
				  "dc:a6:32:00:00:09", "pi4"};
	json_t *j;

	(void)state;
	j = body_of(NOTIFY_FORMAT_JSON, &ev);
	assert_string_equal(str(j, "schema"), "bramble/event/v1");
	assert_string_equal(str(j, "event"), "unknown_pi");
	assert_string_equal(str(j, "time"), "1970-01-02T01:01:01Z");
	assert_string_equal(str(j, "message"), "a Pi \"x\"\n");
	assert_string_equal(str(j, "serial"), "9ffefdef");
	assert_string_equal(str(j, "mac"), "dc:a6:32:00:00:09");
	assert_string_equal(str(j, "model"), "pi4");
	assert_string_equal(str(j, "host"), "ctl-1");
	/* what is not set is not sent */
	assert_null(json_object_get(j, "revision"));
	assert_null(json_object_get(j, "node"));
	json_decref(j);
}

static void test_chat_bodies(void **state)
{
	struct notify_event ev = {NOTIFY_PASS_FAILED,
				  0,
				  "abc",
				  "pass invalid: a.yaml:1:2: bad",
				  NULL,
				  NULL,
				  NULL,
				  NULL};
	const char *want = "bramble@ctl-1 pass_failed: pass invalid: a.yaml:1:2: bad";
	json_t *j;

	(void)state;
	j = body_of(NOTIFY_FORMAT_SLACK, &ev);
	assert_string_equal(str(j, "text"), want);
	assert_int_equal(json_object_size(j), 1);
	json_decref(j);
	j = body_of(NOTIFY_FORMAT_DISCORD, &ev);
	assert_string_equal(str(j, "content"), want);
	assert_int_equal(json_object_size(j), 1);
	json_decref(j);
	j = body_of(NOTIFY_FORMAT_MATRIX, &ev);
	assert_string_equal(str(j, "msgtype"), "m.text");
	assert_string_equal(str(j, "body"), want);
	json_decref(j);
}

/* A long message is cut on a character boundary, and stays valid UTF-8. */
static void test_long_message(void **state)
{
	char *m = malloc(3 * NOTIFY_MESSAGE_MAX);
	struct notify_event ev = {NOTIFY_RECOVERED, 0, NULL, m, NULL, NULL, NULL, NULL};
	size_t i;
	json_t *j;

	(void)state;
	assert_non_null(m);
	for (i = 0; i + 2 < 3 * NOTIFY_MESSAGE_MAX; i += 2)
		memcpy(m + i, "\xc3\xa9", 2); /* é */
	m[i] = '\0';
	j = body_of(NOTIFY_FORMAT_JSON, &ev);
	assert_true(strlen(str(j, "message")) <= NOTIFY_MESSAGE_MAX + strlen("…"));
	assert_non_null(strstr(str(j, "message"), "é…"));
	json_decref(j);
	free(m);
}

static void test_url_check(void **state)
{
	static const char *const good[] = {"http://h", "https://hooks.slack.com/services/T/B/x",
					   "HTTPS://[::1]:8448/_matrix?a=b",
					   "http://user:pw@h:8080/p"};
	static const char *const bad[] = {
		"ftp://h/x",	"file:///etc/passwd", "http://", "https:///path", "http://user@/x",
		"http://h/a b", "gopher://h",	      "h/x",	 "http://h/\x01", ""};
	struct buf b = BUF_INIT;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_int_equal(notify_url_check(good[i]), 0);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(notify_url_check(bad[i]), -EINVAL);
	/* the origin hides the path, the query and the user information */
	assert_int_equal(notify_url_origin("https://hooks.slack.com/services/T/B/secret", &b), 0);
	assert_string_equal(buf_str(&b), "https://hooks.slack.com");
	buf_truncate(&b, 0);
	assert_int_equal(notify_url_origin("http://user:pw@h:8080/p?token=x", &b), 0);
	assert_string_equal(buf_str(&b), "http://h:8080");
	buf_truncate(&b, 0);
	assert_int_equal(notify_url_origin("http://h?token=x", &b), 0);
	assert_string_equal(buf_str(&b), "http://h");
	buf_release(&b);
}

static void test_targets_parse(void **state)
{
	const char *text = "# chat\n"
			   "slack https://hooks.slack.com/services/T/B/x\n"
			   "\n"
			   "  discord\thttps://discord.com/api/webhooks/1/y  \r\n"
			   "matrix http://127.0.0.1:9000/hook\n"
			   "json http://h/last";
	struct notify_target *t = NULL;
	struct diags d = DIAGS_INIT;
	size_t n = 0;

	(void)state;
	assert_int_equal(notify_targets_parse("urls", text, strlen(text), &t, &n, &d), 0);
	assert_int_equal(n, 4);
	assert_int_equal(t[0].format, NOTIFY_FORMAT_SLACK);
	assert_string_equal(t[1].url, "https://discord.com/api/webhooks/1/y");
	assert_int_equal(t[1].format, NOTIFY_FORMAT_DISCORD);
	assert_int_equal(t[2].format, NOTIFY_FORMAT_MATRIX);
	assert_string_equal(t[3].url, "http://h/last");
	notify_targets_free(t, n);
	diags_release(&d);
}

static void test_targets_errors(void **state)
{
	const char *text = "json http://ok/\n"
			   "telegram https://x/\n"
			   "slack ftp://secret-host/y\n"
			   "discord\n"
			   "  slak http://x/\n";
	struct notify_target *t = NULL;
	struct diags d = DIAGS_INIT;
	size_t n = 0, i;

	(void)state;
	assert_int_equal(notify_targets_parse("urls", text, strlen(text), &t, &n, &d), -EINVAL);
	assert_int_equal(d.n, 4);
	assert_int_equal(d.v[3].line, 5);
	assert_int_equal(d.v[3].col, 3);
	assert_int_equal(d.v[0].line, 2);
	assert_int_equal(d.v[0].col, 1);
	assert_non_null(strstr(d.v[0].msg, "json, slack, discord or matrix"));
	assert_int_equal(d.v[1].line, 3);
	assert_int_equal(d.v[1].col, 7);
	assert_int_equal(d.v[2].line, 4);
	for (i = 0; i < d.n; i++) /* a URL is a secret: never in a message */
		assert_null(strstr(d.v[i].msg, "secret-host"));
	notify_targets_free(t, n);
	diags_release(&d);
}

static void test_targets_max(void **state)
{
	struct notify_target *t = NULL;
	struct diags d = DIAGS_INIT;
	struct buf b = BUF_INIT;
	size_t n = 0, i;

	(void)state;
	for (i = 0; i <= NOTIFY_TARGETS_MAX; i++)
		assert_int_equal(buf_printf(&b, "json http://h/%zu\n", i), 0);
	assert_int_equal(notify_targets_parse("urls", buf_str(&b), b.len, &t, &n, &d), -EINVAL);
	assert_int_equal(n, NOTIFY_TARGETS_MAX);
	assert_non_null(strstr(d.v[0].msg, "more than"));
	notify_targets_free(t, n);
	diags_release(&d);
	buf_release(&b);
}

static char path[64];

static void write_config(const char *text)
{
	FILE *f;

	snprintf(path, sizeof(path), "/tmp/torture_notify.XXXXXX");
	close(mkstemp(path));
	f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
}

static void test_config_keys(void **state)
{
	struct bramble_config c;
	struct diags d = DIAGS_INIT;

	(void)state;
	assert_int_equal(config_init(&c), 0);
	assert_int_equal(c.notify_timeout_s, 10);
	assert_int_equal(c.notify_retries, 3);
	assert_int_equal(c.notify_boot_stall_s, 120);
	write_config("notify:\n"
		     "  url: https://example.org/hook\n"
		     "  urlFile: /etc/bramble/secrets/notify-urls\n"
		     "  tokenFile: /etc/bramble/secrets/notify-token\n"
		     "  caFile: /etc/bramble/ca.pem\n"
		     "  timeout: 30s\n"
		     "  retries: 5\n"
		     "  bootStall: 5m\n");
	assert_int_equal(config_load(&c, path, &d), 0);
	unlink(path);
	assert_string_equal(c.notify_url, "https://example.org/hook");
	assert_string_equal(c.notify_url_file, "/etc/bramble/secrets/notify-urls");
	assert_string_equal(c.notify_token_file, "/etc/bramble/secrets/notify-token");
	assert_string_equal(c.notify_ca_file, "/etc/bramble/ca.pem");
	assert_int_equal(c.notify_timeout_s, 30);
	assert_int_equal(c.notify_retries, 5);
	assert_int_equal(c.notify_boot_stall_s, 300);
	config_release(&c);
	diags_release(&d);
}

static void test_config_errors(void **state)
{
	struct bramble_config c;
	struct diags d = DIAGS_INIT;

	(void)state;
	assert_int_equal(config_init(&c), 0);
	write_config("notify:\n"
		     "  url: ftp://user:hidden@example.org/x\n"
		     "  retries: 11\n"
		     "  timeout: 0\n"
		     "  sink: x\n");
	assert_int_equal(config_load(&c, path, &d), -EINVAL);
	unlink(path);
	assert_int_equal(d.n, 4);
	assert_int_equal(d.v[0].line, 2);
	assert_int_equal(d.v[0].col, 3);
	assert_non_null(strstr(d.v[0].msg, "bad URL for \"url\""));
	assert_null(strstr(d.v[0].msg, "hidden"));
	assert_int_equal(d.v[1].line, 3);
	assert_non_null(strstr(d.v[1].msg, "expected 0 to 10"));
	assert_int_equal(d.v[2].line, 4);
	assert_non_null(strstr(d.v[3].msg, "unknown key \"notify.sink\""));
	assert_null(c.notify_url);
	diags_release(&d);
	/* --set goes through the same checks */
	assert_int_equal(config_set_key(&c, "notify.url=file:///etc/passwd", &d), -EINVAL);
	assert_null(c.notify_url);
	assert_int_equal(config_set_key(&c, "notify.url=http://127.0.0.1:8080/x", &d), 0);
	assert_string_equal(c.notify_url, "http://127.0.0.1:8080/x");
	diags_release(&d);
	config_release(&c);
}

#define ROOT "/srv/bramble/tftp"

struct seen {
	int unknown, stalled;
	char serial[9];
	bool has_mac;
	enum boot_stage stage;
};

static void on_news(void *ctx, const struct boot_news *n)
{
	struct seen *s = ctx;

	if (n->kind == BOOT_NEWS_UNKNOWN)
		s->unknown++;
	else
		s->stalled++;
	snprintf(s->serial, sizeof(s->serial), "%s", n->serial);
	s->has_mac = n->has_mac;
	s->stage = n->stage;
}

static void feed(struct bootwatch *bw, const char *text, time_t now)
{
	assert_int_equal(bootwatch_feed(bw, text, strlen(text), now), (long)strlen(text));
}

/* A time the table holds for a serial (the lines' year is the one bootwatch chose). */
static time_t rec_time(const struct bootwatch *bw, const char *serial, const char *key)
{
	json_t *j = bootwatch_to_json(bw);
	const json_t *rec = json_object_get(json_object_get(j, "nodes"), serial);
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	assert_non_null(
		strptime(json_string_value(json_object_get(rec, key)), "%Y-%m-%dT%H:%M:%SZ", &tm));
	json_decref(j);
	return timegm(&tm);
}

static void test_boot_news(void **state)
{
	struct boot_known k[] = {{"1234abcd", true, false, {0xdc, 0xa6, 0x32, 0, 0, 1}, 0}};
	struct bootwatch *bw = NULL;
	struct seen s;
	time_t t0;

	(void)state;
	assert_int_equal(bootwatch_new(&bw), 0);
	assert_int_equal(bootwatch_set_tftp_root(bw, ROOT), 0);
	assert_int_equal(bootwatch_set_known(bw, k, 1), 0);
	feed(bw,
	     "Dec  5 07:56:10 dnsmasq-dhcp[1]: 7 DHCPACK(eth0) 10.99.0.101 dc:a6:32:00:00:09 \n"
	     "Dec  5 07:56:11 dnsmasq-tftp[1]: file " ROOT
	     "/9ffefdef/start4.elf not found for 10.99.0.101\n"
	     "Dec  5 07:56:11 dnsmasq-dhcp[1]: 8 DHCPACK(eth0) 10.99.0.42 dc:a6:32:00:00:01 \n"
	     "Dec  5 07:56:12 dnsmasq-tftp[1]: sent " ROOT "/1234abcd/start4.elf to 10.99.0.42\n",
	     0);
	memset(&s, 0, sizeof(s));
	t0 = rec_time(bw, "1234abcd", "bootStarted");
	bootwatch_news(bw, t0 + 1, 120, on_news, &s);
	assert_int_equal(s.unknown, 1);
	assert_string_equal(s.serial, "9ffefdef");
	assert_true(s.has_mac);
	assert_int_equal(s.stalled, 0);
	bootwatch_news(bw, t0 + 119, 120, on_news, &s);
	assert_int_equal(s.unknown, 1); /* once */
	assert_int_equal(s.stalled, 0);
	bootwatch_news(bw, t0 + 120, 120, on_news, &s);
	assert_int_equal(s.stalled, 1);
	assert_string_equal(s.serial, "1234abcd");
	assert_int_equal(s.stage, BOOT_STAGE_FIRMWARE);
	bootwatch_news(bw, t0 + 500, 120, on_news, &s);
	assert_int_equal(s.stalled, 1); /* once a boot */
	/* a new boot that reaches its kernel never stalls */
	feed(bw,
	     "Dec  5 08:10:00 dnsmasq-dhcp[1]: 9 DHCPACK(eth0) 10.99.0.42 dc:a6:32:00:00:01 \n"
	     "Dec  5 08:10:01 dnsmasq-tftp[1]: sent " ROOT "/1234abcd/start4.elf to 10.99.0.42\n"
	     "Dec  5 08:10:02 dnsmasq-tftp[1]: sent " ROOT "/1234abcd/kernel8.img to 10.99.0.42\n",
	     0);
	bootwatch_news(bw, t0 + 5000, 120, on_news, &s);
	assert_int_equal(s.stalled, 1);
	/* a DHCP exchange alone (a running system's lease) is not a stalled boot */
	feed(bw,
	     "Dec  5 08:20:00 dnsmasq-dhcp[1]: 10 DHCPACK(eth0) 10.99.0.42 dc:a6:32:00:00:01 \n",
	     0);
	bootwatch_news(bw, t0 + 9000, 120, on_news, &s);
	assert_int_equal(s.stalled, 1);
	bootwatch_free(bw);
}

/* At start, what the table holds is marked as told: no news for the old records. */
static void test_boot_news_seed(void **state)
{
	struct bootwatch *bw = NULL;
	struct seen s;
	time_t t0;

	(void)state;
	memset(&s, 0, sizeof(s));
	assert_int_equal(bootwatch_new(&bw), 0);
	assert_int_equal(bootwatch_set_tftp_root(bw, ROOT), 0);
	feed(bw,
	     "Dec  5 07:56:11 dnsmasq-tftp[1]: file " ROOT
	     "/9ffefdef/start4.elf not found for 10.99.0.101\n",
	     0);
	bootwatch_news(bw, time(NULL), 120, NULL, NULL);
	bootwatch_news(bw, time(NULL), 120, on_news, &s);
	assert_int_equal(s.unknown, 0);
	feed(bw,
	     "Dec  5 07:56:12 dnsmasq-tftp[1]: file " ROOT
	     "/9f000002/start4.elf not found for 10.99.0.102\n",
	     0);
	/* no MAC yet: reported only once BOOT_NEWS_MAC_WAIT_S have passed since it was seen */
	t0 = rec_time(bw, "9f000002", "firstSeen");
	bootwatch_news(bw, t0 + BOOT_NEWS_MAC_WAIT_S - 1, 120, on_news, &s);
	assert_int_equal(s.unknown, 0);
	bootwatch_news(bw, t0 + BOOT_NEWS_MAC_WAIT_S, 120, on_news, &s);
	assert_int_equal(s.unknown, 1);
	assert_string_equal(s.serial, "9f000002");
	assert_false(s.has_mac);
	bootwatch_free(bw);
}

static double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * A receiver that never answers (a loopback socket that listens and never
 * accepts): sending never blocks, a full queue drops its oldest (counted),
 * and stopping aborts the transfer in flight at once.
 */
static void test_queue_full_and_stop(void **state)
{
	struct sockaddr_in a;
	socklen_t alen = sizeof(a);
	struct notify_target t = {NOTIFY_FORMAT_JSON, NULL};
	struct notify_opts o;
	struct notify_event ev = {NOTIFY_RECOVERED, 0, "r", "m", NULL, NULL, NULL, NULL};
	struct notifier *n = NULL;
	struct metrics m;
	char url[64];
	double t0;
	int fd, i;

	(void)state;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(fd, 16), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/x", ntohs(a.sin_port));
	t.url = url;
	memset(&o, 0, sizeof(o));
	o.targets = &t;
	o.n_targets = 1;
	o.timeout_s = 60;
	o.retries = 3;
	assert_int_equal(metrics_init(&m), 0);
	assert_int_equal(notifier_start(&o, &m, &n), 0);
	assert_true(notifier_enabled(n));
	assert_int_equal(notifier_send(n, &ev), 0);
	usleep(300 * 1000); /* the worker takes it and waits for an answer */
	t0 = mono_s();
	for (i = 0; i < NOTIFY_QUEUE_MAX + 3; i++)
		assert_int_equal(notifier_send(n, &ev), 0);
	assert_true(mono_s() - t0 < 0.5);
	assert_int_equal(m.notifications[METRICS_NOTIFY_DROPPED], 3);
	assert_int_equal(m.notifications[METRICS_NOTIFY_SENT], 0);
	t0 = mono_s();
	notifier_stop(n);
	assert_true(mono_s() - t0 < 0.5);
	assert_int_equal(m.notifications[METRICS_NOTIFY_FAILED], 1); /* the one in flight */
	metrics_release(&m);
	close(fd);
}

static int count_elems(void *ctx, const json_t *elem)
{
	int *n = ctx;

	(void)elem;
	return ++*n == 100 ? 7 : 0; /* the hundredth stops the walk */
}

/*
 * json_each(): each element of an array, whatever its type, and nothing of
 * a text that is not one whole array (the elements before the fault are
 * seen, so a caller keeps none of them).
 */
static void test_json_each(void **state)
{
	static const struct {
		const char *text;
		int ret, n;
	} cases[] = {
		{"[]", 0, 0},
		{" \n[ ]\r\n", 0, 0},
		{"[{\"a\":1}]", 0, 1},
		{"[1,\"x\" , true,null,[2,3],{\"b\":[]}]\n", 0, 6},
		{"[1,2,]", -EBADMSG, 2},
		{"[1 2]", -EBADMSG, 1},
		{"[1,2", -EBADMSG, 2},
		{"[1,2] x", -EBADMSG, 2},
		{"[1,2][3]", -EBADMSG, 2},
		{"[{\"a\":1},{\"b\":", -EBADMSG, 1},
		{"{\"a\":1}", -EBADMSG, 0},
		{"", -EBADMSG, 0},
		{"[", -EBADMSG, 0},
		{"[,1]", -EBADMSG, 0},
		{"[nul]", -EBADMSG, 0},
	};
	struct buf big = BUF_INIT;
	size_t i;
	int n;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		n = 0;
		assert_int_equal(json_each(cases[i].text, strlen(cases[i].text), count_elems, &n),
				 cases[i].ret);
		assert_int_equal(n, cases[i].n);
	}
	/* A NUL inside is not JSON. */
	n = 0;
	assert_int_equal(json_each("[1,\0 2]", 7, count_elems, &n), -EBADMSG);
	assert_int_equal(n, 1);
	/* fn's own answer stops the walk. */
	assert_int_equal(buf_adds(&big, "["), 0);
	for (i = 0; i < 150; i++)
		assert_int_equal(buf_printf(&big, "%s{\"i\":%zu}", i ? "," : "", i), 0);
	assert_int_equal(buf_adds(&big, "]"), 0);
	n = 0;
	assert_int_equal(json_each(big.data, big.len, count_elems, &n), 7);
	assert_int_equal(n, 100);
	buf_release(&big);
}

/* The name of a node by its serial in nodes.json: none from a damaged file. */
static void test_node_name(void **state)
{
	const char *nodes = "[{\"name\":\"a\",\"serial\":\"1234abcd\"},"
			    "{\"name\":\"b\",\"serial\":\"2345bcde\"},{\"serial\":\"9\"},7]";
	const char *cut = "[{\"name\":\"a\",\"serial\":\"1234abcd\"},{\"name\":";
	char name[8];

	(void)state;
	notify_node_name(nodes, strlen(nodes), "2345bcde", name, sizeof(name));
	assert_string_equal(name, "b");
	notify_node_name(nodes, strlen(nodes), "1234abcd", name, sizeof(name));
	assert_string_equal(name, "a");
	notify_node_name(nodes, strlen(nodes), "00000000", name, sizeof(name));
	assert_string_equal(name, "");
	notify_node_name(cut, strlen(cut), "1234abcd", name, sizeof(name));
	assert_string_equal(name, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_event),     cmocka_unit_test(test_chat_bodies),
		cmocka_unit_test(test_long_message),   cmocka_unit_test(test_url_check),
		cmocka_unit_test(test_targets_parse),  cmocka_unit_test(test_targets_errors),
		cmocka_unit_test(test_targets_max),    cmocka_unit_test(test_config_keys),
		cmocka_unit_test(test_config_errors),  cmocka_unit_test(test_boot_news),
		cmocka_unit_test(test_boot_news_seed), cmocka_unit_test(test_queue_full_and_stop),
		cmocka_unit_test(test_json_each),      cmocka_unit_test(test_node_name),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
