/*
 * torture_sdnotify: the systemd notify protocol without libsystemd.  A
 * datagram reaches a socket named by a path and by an abstract name; with
 * $NOTIFY_SOCKET unset nothing is sent; a name that is not a path or an
 * abstract name, or one too long for sun_path, is refused.  The watchdog
 * is on only with $WATCHDOG_USEC, and only for the process $WATCHDOG_PID
 * names (when it names one); malformed values turn it off with -EINVAL.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "sdnotify.h"

/* A datagram socket bound to name ("@x" abstract, else a path). */
static int listener(const char *name)
{
	struct sockaddr_un a;
	socklen_t len;
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	size_t n = strlen(name);

	assert_true(fd >= 0);
	memset(&a, 0, sizeof(a));
	a.sun_family = AF_UNIX;
	memcpy(a.sun_path, name, n);
	if (name[0] == '@')
		a.sun_path[0] = '\0';
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (name[0] == '/'));
	assert_int_equal(bind(fd, (struct sockaddr *)&a, len), 0);
	return fd;
}

static void receives(int fd, const char *want)
{
	char got[256];
	ssize_t n = recv(fd, got, sizeof(got) - 1, MSG_DONTWAIT);

	assert_true(n >= 0);
	got[n] = '\0';
	assert_string_equal(got, want);
}

static void path_socket(void **state)
{
	char dir[] = "/tmp/bramble-sdnotify.XXXXXX", path[64];
	int fd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/notify", dir);
	fd = listener(path);
	setenv("NOTIFY_SOCKET", path, 1);
	assert_int_equal(sd_notify_send("READY=1"), 1);
	receives(fd, "READY=1");
	assert_int_equal(sd_notify_sendf("STATUS=applied %s", "1a2b3c4"), 1);
	receives(fd, "STATUS=applied 1a2b3c4");
	close(fd);
	unlink(path);
	rmdir(dir);
	unsetenv("NOTIFY_SOCKET");
}

static void abstract_socket(void **state)
{
	char name[64];
	int fd;

	(void)state;
	snprintf(name, sizeof(name), "@bramble-sdnotify-%ld", (long)getpid());
	fd = listener(name);
	setenv("NOTIFY_SOCKET", name, 1);
	assert_int_equal(sd_notify_send("STOPPING=1"), 1);
	receives(fd, "STOPPING=1");
	close(fd);
	unsetenv("NOTIFY_SOCKET");
}

static void unset_or_bad(void **state)
{
	char lng[200];

	(void)state;
	unsetenv("NOTIFY_SOCKET");
	assert_int_equal(sd_notify_send("READY=1"), 0);
	setenv("NOTIFY_SOCKET", "", 1);
	assert_int_equal(sd_notify_send("READY=1"), 0);
	setenv("NOTIFY_SOCKET", "relative/path", 1);
	assert_int_equal(sd_notify_send("READY=1"), -EINVAL);
	memset(lng, 'a', sizeof(lng) - 1);
	lng[0] = '/';
	lng[sizeof(lng) - 1] = '\0';
	setenv("NOTIFY_SOCKET", lng, 1);
	assert_int_equal(sd_notify_send("READY=1"), -EINVAL);
	/* Nobody listens there: an error, not a hang. */
	setenv("NOTIFY_SOCKET", "/nonexistent/bramble-notify", 1);
	assert_true(sd_notify_send("READY=1") < 0);
	unsetenv("NOTIFY_SOCKET");
}

static void watchdog_env(void **state)
{
	char pid[32];
	uint64_t usec = 0;

	(void)state;
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	assert_int_equal(sd_watchdog_usec(&usec), 0);
	setenv("WATCHDOG_USEC", "", 1);
	assert_int_equal(sd_watchdog_usec(&usec), 0);
	setenv("WATCHDOG_USEC", "60000000", 1);
	assert_int_equal(sd_watchdog_usec(&usec), 1);
	assert_int_equal(usec, 60000000);
	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	setenv("WATCHDOG_PID", pid, 1);
	usec = 0;
	assert_int_equal(sd_watchdog_usec(&usec), 1);
	assert_int_equal(usec, 60000000);
	/* Another process's watchdog (a parent that did not unset it): not ours. */
	snprintf(pid, sizeof(pid), "%ld", (long)getpid() + 1);
	setenv("WATCHDOG_PID", pid, 1);
	usec = 7;
	assert_int_equal(sd_watchdog_usec(&usec), 0);
	assert_int_equal(usec, 7);
	setenv("WATCHDOG_PID", "12x", 1);
	assert_int_equal(sd_watchdog_usec(&usec), -EINVAL);
	unsetenv("WATCHDOG_PID");
	setenv("WATCHDOG_USEC", "0", 1);
	assert_int_equal(sd_watchdog_usec(&usec), -EINVAL);
	setenv("WATCHDOG_USEC", "-5", 1);
	assert_int_equal(sd_watchdog_usec(&usec), -EINVAL);
	setenv("WATCHDOG_USEC", "30s", 1);
	assert_int_equal(sd_watchdog_usec(&usec), -EINVAL);
	setenv("WATCHDOG_USEC", "99999999999999999999999", 1);
	assert_int_equal(sd_watchdog_usec(&usec), -EINVAL);
	assert_int_equal(usec, 7);
	unsetenv("WATCHDOG_USEC");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(path_socket),
		cmocka_unit_test(abstract_socket),
		cmocka_unit_test(unset_or_bad),
		cmocka_unit_test(watchdog_env),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
