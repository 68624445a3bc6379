#include "sdnotify.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* Fill addr from $NOTIFY_SOCKET; 0 when it is unset, -EINVAL when unusable. */
static int notify_addr(struct sockaddr_un *addr, socklen_t *ret_len)
{
	const char *e = getenv("NOTIFY_SOCKET");
	size_t n;

	if (e == NULL || e[0] == '\0')
		return 0;
	n = strlen(e);
	if ((e[0] != '/' && e[0] != '@') || n >= sizeof(addr->sun_path))
		return -EINVAL;
	memset(addr, 0, sizeof(*addr));
	addr->sun_family = AF_UNIX;
	memcpy(addr->sun_path, e, n);
	if (e[0] == '@')
		addr->sun_path[0] = '\0';
	*ret_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (e[0] == '/'));
	return 1;
}

int sd_notify_send(const char *state)
{
	struct sockaddr_un addr;
	socklen_t len = 0;
	ssize_t sent;
	int fd, r;

	r = notify_addr(&addr, &len);
	if (r <= 0)
		return r;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	sent = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&addr, len);
	r = sent < 0 ? -errno : 1;
	close(fd);
	return r;
}

int sd_notify_sendf(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return sd_notify_send(msg);
}

/* A decimal number that is the whole of s, without sign or blanks. */
static int parse_u64(const char *s, uint64_t *ret)
{
	unsigned long long v;
	char *end = NULL;

	if (s[0] < '0' || s[0] > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0')
		return -EINVAL;
	*ret = (uint64_t)v;
	return 0;
}

int sd_watchdog_usec(uint64_t *ret_usec)
{
	const char *usec = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
	uint64_t u = 0, p = 0;

	if (usec == NULL || usec[0] == '\0')
		return 0;
	if (parse_u64(usec, &u) < 0 || u == 0)
		return -EINVAL;
	if (pid != NULL && pid[0] != '\0') {
		if (parse_u64(pid, &p) < 0 || p == 0)
			return -EINVAL;
		if (p != (uint64_t)getpid())
			return 0; /* meant for another process (our parent's) */
	}
	*ret_usec = u;
	return 1;
}
