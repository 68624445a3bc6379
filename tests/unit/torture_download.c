/*
 * torture_download: the image downloader against real servers on 127.0.0.1:
 * lighttpd (http and https, its own Range support) and
 * tests/e2e/fixtures/http_range_server.py (injected faults and a log of
 * every request), and against file:// URLs.  Each case checks the return
 * code, what is left on disk (final file, .part) and, where it matters, what
 * the server saw.  Without python3 or lighttpd the server cases are skipped.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

#include "buf.h"
#include "download.h"
#include "fsutil.h"
#include "hash.h"
#include "stop.h"

#define BIG_LEN	  (5u * 1024 * 1024 + 12345) /* served by lighttpd */
#define SMALL_LEN (1024u * 1024 + 777)	     /* served by the python server */
#define TRUNC_AT  300000u
#define TRUNC_ALL 200000u
#define PASSWORD  "s3cretPW"
#define WAIT_MS	  10000

static char tmp[64];
static bool servers; /* python3 and lighttpd are there and running */
static pid_t py_pid = -1, lt_pid = -1;
static int py_port, lt_port, lts_port;
static unsigned char *big, *small;
static char big_sha[SHA256_HEX_LEN + 1], small_sha[SHA256_HEX_LEN + 1];

/* Every case has its own path, so the per-path request counts never mix. */
static const char faults_base[] =
	"\"/t3/f.bin\": {\"truncate_after\": 300000},\n"
	"\"/t5/f.bin\": {\"ignore_range\": true},\n"
	"\"/t6/f.bin\": {\"fail_first\": 2, \"status\": 503},\n"
	"\"/t7/f.bin\": {\"fail_first\": -1, \"status\": 500},\n"
	"\"/t10/f.bin\": {\"stall_s\": 6},\n"
	"\"/t16/redir\": {\"redirect\": \"/t16/f.bin\"},\n"
	"\"/t16/ftp\": {\"redirect\": \"ftp://127.0.0.1:9/x\", \"status\": 301},\n"
	"\"/t9/nolen.bin\": {\"no_length\": true},\n"
	"\"/t18/f.bin\": {\"stall_s\": 0.7},\n"
	"\"/t19/f.bin\": {\"stall_s\": 20},\n"
	"\"/t19/busy.bin\": {\"fail_first\": -1, \"status\": 503}";

static char *tpath(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* tmp/<fmt...>, as a new string (the caller frees it). */
static char *tpath(const char *fmt, ...)
{
	struct buf b = BUF_INIT;
	va_list ap;
	int r;

	r = buf_printf(&b, "%s/", tmp);
	va_start(ap, fmt);
	if (r == 0)
		r = buf_vprintf(&b, fmt, ap);
	va_end(ap);
	assert_int_equal(r, 0);
	return buf_detach(&b, NULL);
}

static void write_path(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write_all(fd, data, len), 0);
	assert_int_equal(close(fd), 0);
}

/* Deterministic pseudo-random bytes (xorshift64). */
static unsigned char *make_data(size_t len, uint64_t seed)
{
	unsigned char *p = malloc(len);
	uint64_t x = seed;
	size_t i;

	assert_non_null(p);
	for (i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = (unsigned char)(x >> 24);
	}
	return p;
}

static void write_faults(const char *extra)
{
	struct buf b = BUF_INIT;
	char *t = tpath("faults.json.tmp"), *f = tpath("faults.json");

	assert_int_equal(buf_printf(&b, "{\n%s%s\n}\n", faults_base, extra ? extra : ""), 0);
	write_path(t, b.data, b.len);
	assert_int_equal(rename(t, f), 0);
	buf_release(&b);
	free(t);
	free(f);
}

static int free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port = -1;

	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

static bool port_open(int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool ok;

	a.sin_port = htons((uint16_t)port);
	ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	if (fd >= 0)
		close(fd);
	return ok;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Start argv[0] (found in PATH) with stdout and stderr to tmp/<log>. */
static pid_t spawn(const char *const argv[], const char *log)
{
	char *out = tpath("%s", log);
	pid_t pid = fork();

	if (pid == 0) {
		int fd = open(out, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		char *v[16];
		size_t i;

		if (fd >= 0) {
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
		}
		for (i = 0; argv[i] && i < 15; i++)
			v[i] = strdup(argv[i]);
		v[i] = NULL;
		execvp(v[0], v);
		_exit(127);
	}
	free(out);
	return pid;
}

/* SIGTERM, then wait for it (SIGKILL after 5 s). */
static void stop(pid_t *pid)
{
	int i, status;

	if (*pid <= 0)
		return;
	kill(*pid, SIGTERM);
	for (i = 0; i < 500; i++) {
		if (waitpid(*pid, &status, WNOHANG) == *pid)
			break;
		sleep_ms(10);
	}
	if (i == 500) {
		kill(*pid, SIGKILL);
		waitpid(*pid, &status, 0);
	}
	*pid = -1;
}

/* Wait until the server listens on port; false when it died or took too long. */
static bool wait_listening(pid_t pid, int port)
{
	int i, status;

	for (i = 0; i < WAIT_MS / 20; i++) {
		if (port > 0 && port_open(port))
			return true;
		if (waitpid(pid, &status, WNOHANG) == pid)
			return false;
		sleep_ms(20);
	}
	return false;
}

static int read_port_file(const char *path)
{
	char *data = NULL;
	size_t len = 0;
	int port = -1;

	if (file_read(path, 64, &data, &len) == 0)
		port = atoi(data);
	free(data);
	return port;
}

static bool start_python(void)
{
	char *script = strdup(BRAMBLE_SOURCE_DIR "/tests/e2e/fixtures/http_range_server.py");
	char *www = tpath("www"), *pf = tpath("py.port"), *faults = tpath("faults.json");
	char *log = tpath("py.log");
	const char *argv[] = {"python3",  script, "--root", www, "--port-file", pf,
			      "--faults", faults, "--log",  log, NULL};
	int i;

	py_pid = spawn(argv, "py.out");
	for (i = 0; i < WAIT_MS / 20 && py_port <= 0; i++) {
		py_port = read_port_file(pf);
		if (py_port <= 0)
			sleep_ms(20);
	}
	free(script);
	free(www);
	free(pf);
	free(faults);
	free(log);
	return py_pid > 0 && wait_listening(py_pid, py_port);
}

/* A CA and a server certificate for 127.0.0.1, made with openssl. */
static int make_certs(void)
{
	return harness_run(
		"cd %s && exec >openssl.out 2>&1 && set -e && "
		"openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
		"-keyout ca.key -out ca.pem -days 2 -subj /CN=bramble-test-ca "
		"-addext basicConstraints=critical,CA:TRUE "
		"-addext keyUsage=critical,keyCertSign,cRLSign && "
		"openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
		"-keyout srv.key -out srv.csr -subj /CN=127.0.0.1 && "
		"printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n"
		"extendedKeyUsage=serverAuth\\n' > ext.cnf && "
		"openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
		"-out srv.pem -days 2 -extfile ext.cnf",
		tmp);
}

static void write_lighttpd_conf(void)
{
	struct buf b = BUF_INIT;
	char *conf = tpath("lighttpd.conf");

	assert_int_equal(buf_printf(&b,
				    "server.document-root = \"%s/www\"\n"
				    "server.bind = \"127.0.0.1\"\n"
				    "server.port = %d\n"
				    "server.errorlog = \"%s/lighttpd.err\"\n"
				    "server.modules += (\"mod_openssl\", \"mod_accesslog\")\n"
				    "accesslog.filename = \"%s/access.log\"\n"
				    "accesslog.format = \"%%>s %%b %%U \\\"%%{Range}i\\\"\"\n"
				    "$SERVER[\"socket\"] == \"127.0.0.1:%d\" {\n"
				    "  ssl.engine = \"enable\"\n"
				    "  ssl.pemfile = \"%s/srv.pem\"\n"
				    "  ssl.privkey = \"%s/srv.key\"\n"
				    "}\n",
				    tmp, lt_port, tmp, tmp, lts_port, tmp, tmp),
			 0);
	write_path(conf, b.data, b.len);
	buf_release(&b);
	free(conf);
}

/* lighttpd on two free ports (http, https); a port taken meanwhile means another try. */
static bool start_lighttpd(void)
{
	char *conf = tpath("lighttpd.conf");
	const char *argv[] = {"lighttpd", "-D", "-f", conf, NULL};
	int attempt, status;

	for (attempt = 0; attempt < 3 && lt_pid <= 0; attempt++) {
		lt_port = free_port();
		lts_port = free_port();
		if (lt_port <= 0 || lts_port <= 0 || lt_port == lts_port)
			continue;
		write_lighttpd_conf();
		lt_pid = spawn(argv, "lighttpd.out");
		if (!wait_listening(lt_pid, lt_port) || !wait_listening(lt_pid, lts_port)) {
			stop(&lt_pid);
			continue;
		}
		/* someone else may have taken a port: then lighttpd is gone by now */
		sleep_ms(100);
		if (waitpid(lt_pid, &status, WNOHANG) == lt_pid)
			lt_pid = -1;
	}
	free(conf);
	return lt_pid > 0;
}

/* www/<path> as a hard link to www/<src>. */
static void link_www(const char *src, const char *path)
{
	char *from = tpath("www/%s", src), *to = tpath("www/%s", path);
	char *dir = strdup(to);

	*strrchr(dir, '/') = '\0';
	assert_int_equal(mkdir_p(dir, 0755), 0);
	assert_int_equal(link(from, to), 0);
	free(from);
	free(to);
	free(dir);
}

static int setup(void **state)
{
	static const char *const cases[] = {"t2",  "t3",  "t5",	 "t6",	"t7",  "t9", "t13",
					    "t15", "t16", "t17", "t18", "t10", "t19"};
	char *p;
	size_t i;

	(void)state;
	/* loopback only: no proxy from the environment may see these requests */
	setenv("no_proxy", "*", 1);
	setenv("NO_PROXY", "*", 1);
	p = getenv("PATH");
	if (p && !strstr(p, "/usr/sbin")) {
		struct buf b = BUF_INIT;

		assert_int_equal(buf_printf(&b, "%s:/usr/sbin:/sbin", p), 0);
		setenv("PATH", buf_str(&b), 1);
		buf_release(&b);
	}
	snprintf(tmp, sizeof(tmp), "/tmp/torture_download.XXXXXX");
	if (!mkdtemp(tmp))
		return -1;
	big = make_data(BIG_LEN, 0x1234567890abcdefull);
	small = make_data(SMALL_LEN, 0xfeedfacecafebeefull);
	assert_int_equal(sha256_hex(big, BIG_LEN, big_sha), 0);
	assert_int_equal(sha256_hex(small, SMALL_LEN, small_sha), 0);
	p = tpath("www");
	assert_int_equal(mkdir_p(p, 0755), 0);
	free(p);
	p = tpath("www/big.bin");
	write_path(p, big, BIG_LEN);
	free(p);
	p = tpath("www/small.bin");
	write_path(p, small, SMALL_LEN);
	free(p);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char rel[32];

		snprintf(rel, sizeof(rel), "%s/f.bin", cases[i]);
		link_www("small.bin", rel);
	}
	link_www("small.bin", "t9/nolen.bin");
	link_www("small.bin", "t19/busy.bin");
	write_faults(NULL);
	if (harness_run("command -v python3 >/dev/null && command -v lighttpd >/dev/null") != 0) {
		print_message("python3 or lighttpd missing: the server cases are skipped\n");
		return 0;
	}
	if (make_certs() != 0 || !start_lighttpd() || !start_python()) {
		print_message("cannot start the test servers (see %s)\n", tmp);
		return -1;
	}
	servers = true;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	stop(&py_pid);
	stop(&lt_pid);
	free(big);
	free(small);
	if (tmp[0] != '\0' && !getenv("KEEP_WORK"))
		(void)harness_run("rm -rf %s", tmp);
	return 0;
}

#define NEED_SERVERS()                                               \
	do {                                                         \
		if (!servers)                                        \
			HARNESS_SKIP("python3 or lighttpd missing"); \
	} while (0)

/* A fresh, empty output directory tmp/out/<name>, opened. */
static int out_dir(const char *name)
{
	char *p = tpath("out/%s", name);
	int fd;

	assert_int_equal(mkdir_p(p, 0755), 0);
	fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(fd >= 0);
	free(p);
	return fd;
}

static void assert_file(int dir_fd, const char *name, const void *data, size_t len)
{
	char *got = NULL;
	size_t got_len = 0;

	assert_int_equal(file_read_at(dir_fd, name, (size_t)64 << 20, &got, &got_len), 0);
	assert_int_equal(got_len, len);
	assert_memory_equal(got, data, len);
	free(got);
}

static void assert_absent(int dir_fd, const char *name)
{
	struct stat st;

	assert_int_equal(fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW), -1);
	assert_int_equal(errno, ENOENT);
}

/* The download left exactly <name> with data, and nothing else. */
static void assert_only_final(int dir_fd, const char *name, const void *data, size_t len)
{
	char part[128];

	assert_file(dir_fd, name, data, len);
	snprintf(part, sizeof(part), "%s.part", name);
	assert_absent(dir_fd, part);
}

/* The download left neither <name> nor <name>.part. */
static void assert_nothing(int dir_fd, const char *name)
{
	char part[128];

	assert_absent(dir_fd, name);
	snprintf(part, sizeof(part), "%s.part", name);
	assert_absent(dir_fd, part);
}

static void put_part(int dir_fd, const char *name, const void *data, size_t len)
{
	char part[128];
	int fd;

	snprintf(part, sizeof(part), "%s.part", name);
	fd = openat(dir_fd, part, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write_all(fd, data, len), 0);
	close(fd);
}

static char *py_url(const char *path)
{
	struct buf b = BUF_INIT;

	assert_int_equal(buf_printf(&b, "http://127.0.0.1:%d%s", py_port, path), 0);
	return buf_detach(&b, NULL);
}

/* Order two log lines by their "seq" (the order the requests arrived in). */
static int seq_cmp(const void *a, const void *b)
{
	const char *x = strstr(a, "{\"seq\":"), *y = strstr(b, "{\"seq\":");
	long sx = x ? strtol(x + 7, NULL, 10) : 0, sy = y ? strtol(y + 7, NULL, 10) : 0;

	return (sx > sy) - (sx < sy);
}

/*
 * The python server's log lines for path, once there are at least want of
 * them (its line is written after the response, so it can come a moment
 * after the client is done); a short pause more catches any extra line.
 * The lines are put in the order the requests arrived: the threaded server
 * can write two lines of requests in a row in either order.
 */
static size_t py_requests(const char *path, size_t want, char lines[][256], size_t max)
{
	char *log = tpath("py.log"), *data = NULL, needle[128];
	size_t n = 0, len, i;
	const char *p;

	snprintf(needle, sizeof(needle), ",\"path\":\"%s\",", path);
	for (i = 0; i < WAIT_MS / 50 + 4; i++) {
		free(data);
		data = NULL;
		n = 0;
		if (file_read(log, (size_t)16 << 20, &data, &len) == 0) {
			for (p = data; (p = strstr(p, needle)) != NULL; p++) {
				const char *bol = p;

				while (bol > data && bol[-1] != '\n')
					bol--;
				if (n < max)
					snprintf(lines[n], 256, "%.*s", (int)strcspn(bol, "\n"),
						 bol);
				n++;
			}
		}
		if (n >= want && i >= 3)
			break;
		if (n >= want)
			i = WAIT_MS / 50; /* a few more rounds: 150 ms */
		sleep_ms(50);
	}
	free(data);
	free(log);
	qsort(lines, n < max ? n : max, sizeof(lines[0]), seq_cmp);
	return n;
}

/* The lighttpd access log holds a line with all of the given strings. */
static bool access_logged(const char *a, const char *b)
{
	char *log = tpath("access.log"), *data = NULL;
	bool found = false;
	size_t len;
	int i;

	for (i = 0; i < WAIT_MS / 100 && !found; i++) {
		char *line, *save = NULL;

		free(data);
		data = NULL;
		if (file_read(log, (size_t)16 << 20, &data, &len) == 0)
			for (line = strtok_r(data, "\n", &save); line && !found;
			     line = strtok_r(NULL, "\n", &save))
				found = strstr(line, a) && strstr(line, b);
		if (!found)
			sleep_ms(100);
	}
	free(data);
	free(log);
	return found;
}

/* The lines download.c gives its caller, on stderr as the controller logs them. */
static void note_stderr(void *arg, enum download_note kind, const char *line)
{
	(void)arg;
	fprintf(stderr, "bramble: %s: %s\n", kind == DOWNLOAD_RETRY ? "warning" : "info", line);
}

static struct download_opts opts(const char *url, const char *sha)
{
	struct download_opts o = {.url = url, .sha256 = sha, .quiet = true, .note = note_stderr};

	return o;
}

/* 1: a 5 MB file over plain http from lighttpd. */
static void test_plain(void **state)
{
	char url[128], out[SHA256_HEX_LEN + 1] = "";
	struct buf err = BUF_INIT;
	struct download_opts o;
	int fd;
	double t;

	(void)state;
	NEED_SERVERS();
	fd = out_dir("t1");
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/big.bin", lt_port);
	o = opts(url, big_sha);
	o.quiet = false; /* the final log line (stderr is no terminal here) */
	t = now_s();
	assert_int_equal(download_file(fd, "img.bin", &o, out, &err), 0);
	t = now_s() - t;
	print_message("5 MiB over loopback http: %.3f s (%.0f MiB/s)\n", t,
		      (double)BIG_LEN / 1048576.0 / t);
	assert_string_equal(out, big_sha);
	assert_only_final(fd, "img.bin", big, BIG_LEN);
	assert_string_equal(buf_str(&err), "");
	snprintf(url, sizeof(url), "200 %u /big.bin", BIG_LEN);
	assert_true(access_logged(url, "\"-\""));
	buf_release(&err);
	close(fd);
}

/* 2: a wrong sha256 fails with both sums and leaves nothing. */
static void test_checksum_mismatch(void **state)
{
	const char *wrong = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
	char *url, out[SHA256_HEX_LEN + 1] = "unchanged", want[256];
	struct buf err = BUF_INIT;
	struct download_opts o;
	int fd;

	(void)state;
	NEED_SERVERS();
	fd = out_dir("t2");
	url = py_url("/t2/f.bin");
	o = opts(url, wrong);
	assert_int_equal(download_file(fd, "img.bin", &o, out, &err), -EBADMSG);
	snprintf(want, sizeof(want), "checksum mismatch for %s: expected sha256:%s, got sha256:%s",
		 url, wrong, small_sha);
	assert_string_equal(buf_str(&err), want);
	assert_string_equal(out, "unchanged");
	assert_nothing(fd, "img.bin");
	buf_release(&err);
	free(url);
	close(fd);
}

/* 3: a connection cut after 300000 bytes is resumed from there. */
static void test_truncated_resume(void **state)
{
	char *url, out[SHA256_HEX_LEN + 1], lines[4][256], want[128];
	struct buf err = BUF_INIT;
	struct download_opts o;
	int fd;

	(void)state;
	NEED_SERVERS();
	fd = out_dir("t3");
	url = py_url("/t3/f.bin");
	o = opts(url, small_sha);
	o.retries = 2;
	o.backoff_ms = 50;
	assert_int_equal(download_file(fd, "img.bin", &o, out, &err), 0);
	assert_string_equal(out, small_sha);
	assert_only_final(fd, "img.bin", small, SMALL_LEN);
	assert_int_equal(py_requests("/t3/f.bin", 2, lines, 4), 2);
	assert_non_null(strstr(lines[0], "\"range\":null,\"status\":200,\"bytes\":300000}"));
	snprintf(want, sizeof(want), "\"range\":\"bytes=%u-\",\"status\":206,\"bytes\":%u}",
		 TRUNC_AT, SMALL_LEN - TRUNC_AT);
	assert_non_null(strstr(lines[1], want));
	buf_release(&err);
	free(url);
	close(fd);
}

/* 4: the .part of a killed process is resumed by lighttpd's own Range support. */
static void test_part_resume(void **state)
{
	char url[128], out[SHA256_HEX_LEN + 1], range[64], status[64];
	struct buf err = BUF_INIT;
	struct download_opts o;
	int fd;

	(void)state;
	NEED_SERVERS();
	fd = out_dir("t4");
	put_part(fd, "img.bin", big, BIG_LEN / 2);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/big.bin", lt_port);
	o = opts(url, big_sha);
	assert_int_equal(download_file(fd, "img.bin", &o, out, &err), 0);
	assert_string_equal(out, big_sha);
	assert_only_final(fd, "img.bin", big, BIG_LEN);
	snprintf(range, sizeof(range), "\"bytes=%u-\"", BIG_LEN / 2);
	snprintf(status, sizeof(status), "206 %u /big.bin", BIG_LEN - BIG_LEN / 2);
	assert_true(access_logged(status, range));
	buf_release(&err);
	close(fd);
}

/* 5: a server that ignores Range: the (garbage) .part is replaced from byte 0. */
static void test_ignore_range(void **state)
{
	char *url, *junk, out[SHA256_HEX_LEN + 1], lines[4][256], want[128];
	struct buf err = BUF_INIT;
	struct download_opts o;
	int fd;

	(void)state;
	NEED_SERVERS();
	fd = out_dir("t5");
	junk = malloc(SMALL_LEN / 2);
	assert_non_null(junk);
	memset(junk, 0xaa, SMALL_LEN / 2);
	put_part(fd, "img.bin", junk, SMALL_LEN / 2);
	url = py_url("/t5/f.bin");
	o = opts(url, small_sha);
	assert_int_equal(download_file(fd, "img.bin", &o, out, &err), 0);
	assert_only_final(fd, "img.bin", small, SMALL_LEN);
	assert_int_equal(py_requests("/t5/f.bin", 1, lines, 4), 1);
	snprintf(want, sizeof(want), "\"range\":\"bytes=%u-\",\"status\":200,\"bytes\":%u}",
		 SMALL_LEN / 2, SMALL_LEN);
	assert_non_null(strstr(lines[0], want));
	buf_release(&err);
	free(junk);
	free(url);
	close(fd);
}

/* 6: 503 twice, then the file: three requests with retries=3. */
static void test_retry_503(void **state)
{
	char *url, out[SHA256_HEX_LEN + 1], lines[5][256];
	struct buf err = BUF_INIT;
	struct download_opts o;
	int fd;

	(void)state;
	NEED_SERVERS();
	fd = out_dir("t6");
	url = py_url("/t6/f.bin");
	o = opts(url, small_sha);
	o.retries = 3;
	o.backoff_ms = 50;
	assert_int_equal(download_file(fd, "img.bin", &o, out, &err), 0);
	assert_only_final(fd, "img.bin", small, SMALL_LEN);
	assert_int_equal(py_requests("/t6/f.bin", 3, lines, 5), 3);
	assert_non_null(strstr(lines[0], "\"status\":503"));
	assert_non_null(strstr(lines[1], "\"status\":503"));
	assert_non_null(strstr(lines[2], "\"range\":null,\"status\":200"));
	buf_release(&err);
	free(url);
	close(fd);
}

/* 7: always 500, retries=2: three requests, then -EIO naming the status. */
static void test_always_500(void **state)
{
	char *url, out[SHA256_HEX_LEN + 1], lines[5][256];
	struct buf err = BUF_INIT;
	struct download_opts o;
	int fd;
	double t;

	(void)state;
	NEED_SERVERS();
	fd = out_dir("t7");
	url = py_url("/t7/f.bin");
	o = opts(url, small_sha);
	o.retries = 2;
	o.backoff_ms = 100;
	t = now_s();
	assert_int_equal(download_file(fd, "img.bin", &o, out, &err), -EIO);
	t = now_s() - t;
	assert_true(t >= 0.29); /* waits of 100 and 200 ms */
	assert_non_null(strstr(buf_str(&err), "HTTP status 500"));
	assert_non_null(strstr(buf_str(&err), "3 attempts"));
	assert_nothing(fd, "img.bin");
	assert_int_equal(py_requests("/t7/f.bin", 3, lines, 5), 3);
	buf_release(&err);
	free(url);
	close(fd);
}

/* 8: 404 fails at once, however many retries are allowed. */
static void test_not_found(void **state)
{
	char *url, out[SHA256_HEX_LEN + 1], lines[5][256];
	struct buf err = BUF_INIT;
	struct download_opts o;
	int fd;

	(void)state;
	NEED_SERVERS();
	fd = out_dir("t8");
	url = py_url("/t8/missing.bin");
	o = opts(url, small_sha);
	o.retries = 3;
	o.backoff_ms = 50;
	assert_int_equal(download_file(fd, "img.bin", &o, out, &err), -EIO);
	assert_non_null(strstr(buf_str(&err), "HTTP status 404"));
	assert_null(strstr(buf_str(&err), "attempts"));
	assert_nothing(fd, "img.bin");
	assert_int_equal(py_requests("/t8/missing.bin", 1, lines, 5), 1);
	buf_release(&err);
	free(url);
	close(fd);
}

/* 9: over max_bytes: by Content-Length, by Content-Range, and in the stream (file://). */
static void test_max_bytes(void **state)
{
	char *url, out[SHA256_HEX_LEN + 1], file_url[256], lines[4][256];
	struct buf err = BUF_INIT;
	struct download_opts o;
	int fd;

	(void)state;
	fd = out_dir("t9");
	snprintf(file_url, sizeof(file_url), "file://%s/www/small.bin", tmp);
	o = opts(file_url, small_sha);
	o.max_bytes = SMALL_LEN / 2;
	assert_int_equal(download_file(fd, "file.bin", &o, out, &err), -EFBIG);
	assert_non_null(strstr(buf_str(&err), "limit"));
	assert_nothing(fd, "file.bin");
	NEED_SERVERS();
	url = py_url("/t9/f.bin");
	o = opts(url, small_sha);
	o.max_bytes = SMALL_LEN / 2;
	buf_release(&err);
	assert_int_equal(download_file(fd, "img.bin", &o, out, &err), -EFBIG);
	assert_nothing(fd, "img.bin");
	/* a .part under the limit, and the rest of the file over it */
	put_part(fd, "img.bin", small, SMALL_LEN / 4);
	buf_release(&err);
	assert_int_equal(download_file(fd, "img.bin", &o, out, &err), -EFBIG);
	assert_nothing(fd, "img.bin");
	o.max_bytes = SMALL_LEN; /* exactly the size is allowed */
	assert_int_equal(download_file(fd, "img.bin", &o, out, &err), 0);
	assert_only_final(fd, "img.bin", small, SMALL_LEN);
	free(url);
	/* no Content-Length: the limit stops the stream */
	url = py_url("/t9/nolen.bin");
	o = opts(url, small_sha);
	o.max_bytes = SMALL_LEN - 1;
	assert_int_equal(download_file(fd, "nolen.bin", &o, out, &err), -EFBIG);
	assert_nothing(fd, "nolen.bin");
	assert_int_equal(py_requests("/t9/nolen.bin", 1, lines, 4), 1);
	o.max_bytes = 0;
	assert_int_equal(download_file(fd, "nolen.bin", &o, out, &err), 0);
	assert_only_final(fd, "nolen.bin", small, SMALL_LEN);
	buf_release(&err);
	free(url);
	close(fd);
}

static atomic_int stop_flag;

static void *stop_later(void *arg)
{
	struct timespec ts = {0, 300 * 1000000L};

	(void)arg;
	nanosleep(&ts, NULL);
	atomic_store(&stop_flag, 1);
	return NULL;
}

/* Download with stop_flag raised 300 ms in; returns how long it took. */
static double download_stopped(int fd, const struct download_opts *o, int want)
{
	char out[SHA256_HEX_LEN + 1];
	struct buf err = BUF_INIT;
	pthread_t t;
	double start = now_s();
	int r;

	atomic_store(&stop_flag, 0);
	stop_watch(&stop_flag);
	assert_int_equal(pthread_create(&t, NULL, stop_later, NULL), 0);
	r = download_file(fd, "img.bin", o, out, &err);
	pthread_join(t, NULL);
	stop_watch(NULL);
	print_message("stopped after %.2f s: %s\n", now_s() - start, buf_str(&err));
	assert_int_equal(r, want);
	assert_non_null(strstr(buf_str(&err), "stopped"));
	buf_release(&err);
	return now_s() - start;
}

/*
 * 19: the daemon's SIGTERM stops a download at once (a stalled server with a
 * 30 s timeout; a server answering 503 between long backoffs), quiet or not.
 */
static void test_cancel(void **state)
{
	struct download_opts o;
	char *url;
	int fd;

	(void)state;
	NEED_SERVERS();
	fd = out_dir("t19");
	url = py_url("/t19/f.bin");
	o = opts(url, small_sha);
	o.timeout_s = 30;
	assert_true(download_stopped(fd, &o, -ECANCELED) < 2);
	assert_absent(fd, "img.bin");
	free(url);
	url = py_url("/t19/busy.bin");
	o = opts(url, small_sha);
	o.retries = 5;
	o.backoff_ms = 5000;
	assert_true(download_stopped(fd, &o, -ECANCELED) < 2);
	assert_absent(fd, "img.bin");
	free(url);
	close(fd);
}

/* 10: a server that stalls longer than timeout_s. */
static void test_stall_timeout(void **state)
{
	char *url, out[SHA256_HEX_LEN + 1];
	struct buf err = BUF_INIT;
	struct download_opts o;
	int fd, r;
	double t;

	(void)state;
	NEED_SERVERS();
	fd = out_dir("t10");
	url = py_url("/t10/f.bin");
	o = opts(url, small_sha);
	o.timeout_s = 1;
	t = now_s();
	r = download_file(fd, "img.bin", &o, out, &err);
	t = now_s() - t;
	print_message("stall detected after %.2f s (timeout_s=1): %s\n", t, buf_str(&err));
	assert_int_equal(r, -ETIMEDOUT);
	assert_true(t >= 0.9 && t < 4);
	assert_nothing(fd, "img.bin");
	buf_release(&err);
	free(url);
	close(fd);
}

/* 11: https from lighttpd: verified with the test CA, refused without it. */
static void test_https(void **state)
{
	char url[128], out[SHA256_HEX_LEN + 1];
	struct buf err = BUF_INIT;
	struct download_opts o;
	char *ca = tpath("ca.pem");
	int fd;

	(void)state;
	NEED_SERVERS();
	fd = out_dir("t11");
	snprintf(url, sizeof(url), "https://127.0.0.1:%d/big.bin", lts_port);
	o = opts(url, big_sha);
	assert_int_equal(download_file(fd, "img.bin", &o, out, &err), -EIO);
	print_message("without the CA: %s\n", buf_str(&err));
	assert_non_null(strstr(buf_str(&err), "certificate"));
	assert_nothing(fd, "img.bin");
	buf_release(&err);
	o.ca_file = ca;
	assert_int_equal(download_file(fd, "img.bin", &o, out, &err), 0);
	assert_string_equal(out, big_sha);
	assert_only_final(fd, "img.bin", big, BIG_LEN);
	buf_release(&err);
	free(ca);
	close(fd);
}

/* 12: file:// with a sha256, without one (computed), and resumed from a .part. */
static void test_file_url(void **state)
{
	char url[256], out[SHA256_HEX_LEN + 1];
	unsigned char *longer;
	struct buf err = BUF_INIT;
	struct download_opts o;
	int fd;

	(void)state;
	fd = out_dir("t12");
	snprintf(url, sizeof(url), "file://%s/www/big.bin", tmp);
	o = opts(url, big_sha);
	assert_int_equal(download_file(fd, "a.bin", &o, out, &err), 0);
	assert_string_equal(out, big_sha);
	assert_only_final(fd, "a.bin", big, BIG_LEN);
	o = opts(url, NULL);
	memset(out, 0, sizeof(out));
	assert_int_equal(download_file(fd, "b.bin", &o, out, &err), 0);
	assert_string_equal(out, big_sha);
	assert_only_final(fd, "b.bin", big, BIG_LEN);
	put_part(fd, "c.bin", big, 1000000);
	o = opts(url, big_sha);
	o.max_bytes = BIG_LEN; /* the whole file after the .part would be too much */
	assert_int_equal(download_file(fd, "c.bin", &o, out, &err), 0);
	assert_only_final(fd, "c.bin", big, BIG_LEN);
	/* a .part longer than the source: started over */
	longer = make_data(BIG_LEN + 10, 7);
	put_part(fd, "d.bin", longer, BIG_LEN + 10);
	free(longer);
	o.max_bytes = 0;
	assert_int_equal(download_file(fd, "d.bin", &o, out, &err), 0);
	assert_only_final(fd, "d.bin", big, BIG_LEN);
	/* a missing source file */
	snprintf(url, sizeof(url), "file://%s/www/none.bin", tmp);
	o = opts(url, NULL);
	assert_int_equal(download_file(fd, "e.bin", &o, out, &err), -EIO);
	assert_nothing(fd, "e.bin");
	assert_string_equal(out, big_sha);
	buf_release(&err);
	close(fd);
}

/* Run a download with stderr going to tmp/<file>; returns what was written there. */
static char *with_stderr(const char *file, int dir_fd, const char *name,
			 const struct download_opts *o, int want, struct buf *err)
{
	char *path = tpath("%s", file), *data = NULL, out[SHA256_HEX_LEN + 1];
	int saved = dup(STDERR_FILENO), fd;
	size_t len;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(saved >= 0 && fd >= 0);
	fflush(stderr);
	dup2(fd, STDERR_FILENO);
	close(fd);
	assert_int_equal(download_file(dir_fd, name, o, out, err), want);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	assert_int_equal(file_read(path, 1 << 20, &data, &len), 0);
	free(path);
	return data;
}

/* 13: a password in the URL never reaches a message or a log line. */
static void test_credentials(void **state)
{
	char url[256], *log;
	struct buf err = BUF_INIT;
	struct download_opts o;
	int fd, closed;

	(void)state;
	NEED_SERVERS();
	fd = out_dir("t13");
	snprintf(url, sizeof(url), "http://user:" PASSWORD "@127.0.0.1:%d/t13/missing?token=tok99",
		 py_port);
	o = opts(url, small_sha);
	o.quiet = false;
	log = with_stderr("t13.err", fd, "img.bin", &o, -EIO, &err);
	print_message("message: %s\n", buf_str(&err));
	assert_null(strstr(buf_str(&err), PASSWORD));
	assert_null(strstr(buf_str(&err), "tok99"));
	assert_non_null(strstr(buf_str(&err), "http://127.0.0.1:"));
	assert_null(strstr(log, PASSWORD));
	free(log);
	buf_release(&err);
	/* nothing listens there: a connection error, after one retry */
	closed = free_port();
	snprintf(url, sizeof(url), "http://user:" PASSWORD "@127.0.0.1:%d/x", closed);
	o = opts(url, small_sha);
	o.quiet = false;
	o.retries = 1;
	o.backoff_ms = 10;
	log = with_stderr("t13b.err", fd, "img.bin", &o, -EIO, &err);
	print_message("message: %s\n", buf_str(&err));
	assert_null(strstr(buf_str(&err), PASSWORD));
	assert_null(strstr(log, PASSWORD));
	assert_non_null(strstr(log, "trying again"));
	free(log);
	buf_release(&err);
	/* and a download that works logs its final line without it */
	snprintf(url, sizeof(url), "http://user:" PASSWORD "@127.0.0.1:%d/t13/f.bin", py_port);
	o = opts(url, small_sha);
	o.quiet = false;
	log = with_stderr("t13c.err", fd, "img.bin", &o, 0, &err);
	assert_null(strstr(log, PASSWORD));
	assert_non_null(strstr(log, "downloaded http://127.0.0.1:"));
	assert_only_final(fd, "img.bin", small, SMALL_LEN);
	free(log);
	buf_release(&err);
	close(fd);
}

/* 14: bad arguments fail with -EINVAL before anything is created. */
static void test_bad_args(void **state)
{
	static const char *const urls[] = {
		"ftp://127.0.0.1/x", "gopher://127.0.0.1/x", "",	  "127.0.0.1/x",
		"http://a/b c",	     "http://a/\nb",	     "scp://h/x", "dict://h/x"};
	char out[SHA256_HEX_LEN + 1], *p;
	struct buf err = BUF_INIT;
	struct download_opts o;
	size_t i;
	int fd;

	(void)state;
	fd = out_dir("t14");
	for (i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
		o = opts(urls[i], small_sha);
		assert_int_equal(download_file(fd, "img.bin", &o, out, &err), -EINVAL);
		assert_true(err.len > 0);
		buf_release(&err);
	}
	o = opts("ftp://user:" PASSWORD "@127.0.0.1/x", small_sha);
	assert_int_equal(download_file(fd, "img.bin", &o, out, &err), -EINVAL);
	assert_non_null(strstr(buf_str(&err), "\"ftp\""));
	assert_null(strstr(buf_str(&err), PASSWORD));
	buf_release(&err);
	o = opts(NULL, small_sha);
	assert_int_equal(download_file(fd, "img.bin", &o, out, &err), -EINVAL);
	buf_release(&err);
	o = opts("http://127.0.0.1:9/x", NULL); /* remote without a sha256 */
	assert_int_equal(download_file(fd, "img.bin", &o, out, &err), -EINVAL);
	buf_release(&err);
	o = opts("http://127.0.0.1:9/x", "abc"); /* not 64 hex digits */
	assert_int_equal(download_file(fd, "img.bin", &o, out, &err), -EINVAL);
	buf_release(&err);
	o = opts("http://127.0.0.1:9/x", small_sha);
	assert_int_equal(download_file(fd, "a/b", &o, out, &err), -EINVAL);
	assert_int_equal(download_file(fd, "..", &o, out, &err), -EINVAL);
	assert_int_equal(download_file(fd, "", &o, out, &err), -EINVAL);
	buf_release(&err);
	/* the directory is still empty */
	p = tpath("out/t14");
	assert_int_equal(harness_run("test -z \"$(ls -A %s)\"", p), 0);
	free(p);
	close(fd);
}

/* 15: a connection cut on every request: the .part keeps the progress for the next call. */
static void test_interrupted_kept(void **state)
{
	char *url, out[SHA256_HEX_LEN + 1], lines[5][256], want[128];
	struct buf err = BUF_INIT;
	struct download_opts o;
	struct stat st;
	int fd;

	(void)state;
	NEED_SERVERS();
	write_faults(",\n\"/t15/f.bin\": {\"truncate_after\": 200000, \"truncate_always\": true}");
	fd = out_dir("t15");
	url = py_url("/t15/f.bin");
	o = opts(url, small_sha);
	o.retries = 1;
	o.backoff_ms = 10;
	assert_int_equal(download_file(fd, "img.bin", &o, out, &err), -EIO);
	assert_non_null(strstr(buf_str(&err), "2 attempts"));
	assert_absent(fd, "img.bin");
	assert_int_equal(fstatat(fd, "img.bin.part", &st, 0), 0);
	assert_int_equal(st.st_size, 2 * TRUNC_ALL);
	write_faults(NULL);
	buf_release(&err);
	assert_int_equal(download_file(fd, "img.bin", &o, out, &err), 0);
	assert_only_final(fd, "img.bin", small, SMALL_LEN);
	assert_int_equal(py_requests("/t15/f.bin", 3, lines, 5), 3);
	assert_non_null(strstr(lines[0], "\"range\":null,\"status\":200,\"bytes\":200000}"));
	assert_non_null(strstr(lines[1], "\"range\":\"bytes=200000-\",\"status\":206"));
	snprintf(want, sizeof(want), "\"range\":\"bytes=%u-\",\"status\":206,\"bytes\":%u}",
		 2 * TRUNC_ALL, SMALL_LEN - 2 * TRUNC_ALL);
	assert_non_null(strstr(lines[2], want));
	buf_release(&err);
	free(url);
	close(fd);
}

/* 16: a redirect is followed within http; one to ftp:// is refused at once. */
static void test_redirects(void **state)
{
	char *url, out[SHA256_HEX_LEN + 1], lines[5][256];
	struct buf err = BUF_INIT;
	struct download_opts o;
	int fd;

	(void)state;
	NEED_SERVERS();
	fd = out_dir("t16");
	url = py_url("/t16/redir");
	o = opts(url, small_sha);
	assert_int_equal(download_file(fd, "img.bin", &o, out, &err), 0);
	assert_only_final(fd, "img.bin", small, SMALL_LEN);
	assert_int_equal(py_requests("/t16/f.bin", 1, lines, 5), 1);
	free(url);
	url = py_url("/t16/ftp");
	o = opts(url, small_sha);
	o.retries = 3;
	o.backoff_ms = 10;
	assert_int_equal(download_file(fd, "ftp.bin", &o, out, &err), -EIO);
	print_message("redirect to ftp: %s\n", buf_str(&err));
	assert_nothing(fd, "ftp.bin");
	assert_int_equal(py_requests("/t16/ftp", 1, lines, 5), 1);
	buf_release(&err);
	free(url);
	close(fd);
}

/* 17: 416: a .part that is already whole is kept; one longer than the file starts over. */
static void test_range_not_satisfiable(void **state)
{
	char *url, out[SHA256_HEX_LEN + 1], lines[5][256];
	unsigned char *longer;
	struct buf err = BUF_INIT;
	struct download_opts o;
	int fd;

	(void)state;
	NEED_SERVERS();
	fd = out_dir("t17");
	url = py_url("/t17/f.bin");
	o = opts(url, small_sha);
	put_part(fd, "img.bin", small, SMALL_LEN);
	assert_int_equal(download_file(fd, "img.bin", &o, out, &err), 0);
	assert_only_final(fd, "img.bin", small, SMALL_LEN);
	assert_int_equal(py_requests("/t17/f.bin", 1, lines, 5), 1);
	assert_non_null(strstr(lines[0], "\"status\":416"));
	longer = make_data(SMALL_LEN + 100, 99);
	put_part(fd, "img2.bin", longer, SMALL_LEN + 100);
	assert_int_equal(download_file(fd, "img2.bin", &o, out, &err), 0);
	assert_only_final(fd, "img2.bin", small, SMALL_LEN);
	assert_int_equal(py_requests("/t17/f.bin", 3, lines, 5), 3);
	assert_non_null(strstr(lines[1], "\"status\":416"));
	assert_non_null(strstr(lines[2], "\"range\":null,\"status\":200"));
	/* a stale .part (another file's first bytes): a mismatch, then one start from zero */
	put_part(fd, "img3.bin", longer, SMALL_LEN / 2);
	assert_int_equal(download_file(fd, "img3.bin", &o, out, &err), 0);
	assert_only_final(fd, "img3.bin", small, SMALL_LEN);
	assert_int_equal(py_requests("/t17/f.bin", 5, lines, 5), 5);
	assert_non_null(strstr(lines[3], "\"status\":206"));
	assert_non_null(strstr(lines[4], "\"range\":null,\"status\":200"));
	free(longer);
	buf_release(&err);
	free(url);
	close(fd);
}

static void last_progress(void *arg, const struct progress *p)
{
	struct progress *last = arg;

	*last = *p;
	last->items_done++; /* counts the reports */
}

/*
 * 18: the library draws no bar, even on a terminal: its progress goes to the
 * caller's sink (o.progress), which has the bytes of the total at the end.
 */
static void test_progress_bar(void **state)
{
	char *url, out[SHA256_HEX_LEN + 1], text[8192], *slave;
	struct progress last;
	struct progress_cb cb = {last_progress, &last};
	struct buf err = BUF_INIT;
	struct download_opts o;
	int fd, master, sfd, saved;
	ssize_t n;
	size_t got = 0;

	(void)state;
	NEED_SERVERS();
	master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0 ||
	    (slave = ptsname(master)) == NULL) {
		if (master >= 0)
			close(master);
		HARNESS_SKIP("no pseudo-terminal");
	}
	sfd = open(slave, O_RDWR | O_NOCTTY | O_CLOEXEC);
	assert_true(sfd >= 0);
	fd = out_dir("t18");
	url = py_url("/t18/f.bin"); /* the server waits 0.7 s before the body */
	o = opts(url, small_sha);
	o.quiet = false;
	o.timeout_s = 5;
	memset(&last, 0, sizeof(last));
	o.progress = &cb;
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	dup2(sfd, STDERR_FILENO);
	assert_int_equal(download_file(fd, "img.bin", &o, out, &err), 0);
	dup2(saved, STDERR_FILENO);
	close(saved);
	close(sfd);
	fcntl(master, F_SETFL, O_NONBLOCK);
	while (got < sizeof(text) - 1 && (n = read(master, text + got, sizeof(text) - 1 - got)) > 0)
		got += (size_t)n;
	text[got] = '\0';
	close(master);
	/* no bar on the terminal: only the caller's note of the end, through its log */
	for (slave = strchr(text, '\r'); slave; slave = strchr(slave + 1, '\r'))
		assert_int_equal(slave[1], '\n'); /* the terminal's own CR LF, no redraw */
	assert_null(strstr(text, "img.bin"));
	assert_non_null(strstr(text, "downloaded http://127.0.0.1:"));
	assert_true(last.items_done >= 1);
	assert_string_equal(last.step, "download");
	assert_int_equal(last.total, SMALL_LEN);
	assert_int_equal(last.done, SMALL_LEN);
	assert_only_final(fd, "img.bin", small, SMALL_LEN);
	buf_release(&err);
	free(url);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain),
		cmocka_unit_test(test_checksum_mismatch),
		cmocka_unit_test(test_truncated_resume),
		cmocka_unit_test(test_part_resume),
		cmocka_unit_test(test_ignore_range),
		cmocka_unit_test(test_retry_503),
		cmocka_unit_test(test_always_500),
		cmocka_unit_test(test_not_found),
		cmocka_unit_test(test_max_bytes),
		cmocka_unit_test(test_stall_timeout),
		cmocka_unit_test(test_cancel),
		cmocka_unit_test(test_https),
		cmocka_unit_test(test_file_url),
		cmocka_unit_test(test_credentials),
		cmocka_unit_test(test_bad_args),
		cmocka_unit_test(test_interrupted_kept),
		cmocka_unit_test(test_redirects),
		cmocka_unit_test(test_range_not_satisfiable),
		cmocka_unit_test(test_progress_bar),
	};

	return harness_exit(cmocka_run_group_tests(tests, setup, teardown));
}
