#include "control.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "../common/buf.h"
#include "../common/fsutil.h"

#define REQUEST_WAIT_MS 1000 /* a permitted client has this long to send its line */

int control_open(struct control *c, const char *state_dir)
{
	struct sockaddr_un sa;
	int r = 0;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	c->path = path_join(state_dir, CONTROL_SOCKET);
	if (!c->path)
		return -ENOMEM;
	if (strlen(c->path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, c->path, strlen(c->path) + 1);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (c->fd < 0)
		return -errno;
	/* A daemon that is gone left its socket; one that runs holds the pass lock only
	 * during passes, so this cannot tell: the last daemon started owns the name. */
	if (unlink(c->path) < 0 && errno != ENOENT)
		r = -errno;
	if (r == 0 && bind(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		r = -errno;
	/* 0600 before listen(): until then a connect is refused, so no one slips in. */
	if (r == 0 && chmod(c->path, 0600) < 0)
		r = -errno;
	if (r == 0 && listen(c->fd, CONTROL_PENDING) < 0)
		r = -errno;
	if (r < 0) {
		close(c->fd);
		c->fd = -1;
	}
	return r;
}

int control_fd(const struct control *c)
{
	return c->fd;
}

bool control_waiting(const struct control *c)
{
	return c->n_pending > 0;
}

/* Send one JSON line and close fd; a client that went away is no error. */
static void send_close(int fd, json_t *msg)
{
	char *s = msg ? json_dumps(msg, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	struct buf b = BUF_INIT;

	if (buf_printf(&b, "%s\n", s ? s : "{\"ok\":false,\"error\":\"out of memory\"}") == 0)
		(void)send(fd, b.data, b.len, MSG_NOSIGNAL | MSG_DONTWAIT);
	close(fd);
	buf_release(&b);
	free(s);
}

static void refuse(int fd, const char *why)
{
	json_t *m = json_pack("{s:b, s:s}", "ok", 0, "error", why);

	send_close(fd, m);
	json_decref(m);
}

/* Only root and the daemon's own user may ask for a pass. */
static bool peer_permitted(int fd, struct ucred *ret)
{
	socklen_t len = sizeof(*ret);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, ret, &len) < 0)
		return false;
	return ret->uid == 0 || ret->uid == geteuid();
}

/* The request line, within REQUEST_WAIT_MS: 1 "reconcile", 2 "reconcile force", else -1. */
static int read_request(int fd)
{
	char line[CONTROL_LINE_MAX];
	size_t n = 0;
	struct pollfd p = {fd, POLLIN, 0};

	while (n < sizeof(line) - 1 && poll(&p, 1, REQUEST_WAIT_MS) > 0) {
		ssize_t k = read(fd, line + n, sizeof(line) - 1 - n);

		if (k <= 0)
			break;
		n += (size_t)k;
		if (memchr(line, '\n', n))
			break;
	}
	line[n] = '\0';
	if (strcmp(line, "reconcile\n") == 0)
		return 1;
	if (strcmp(line, "reconcile force\n") == 0)
		return 2;
	return -1;
}

/* One connection: refused, answered at once (bad request), or pending. */
static void take_one(struct control *c, int fd)
{
	struct ucred cred;
	int req;

	if (!peer_permitted(fd, &cred)) {
		log_warnx("control: refused a request from uid %u (pid %d): only root and uid %u "
			  "may ask for a pass",
			  (unsigned)cred.uid, (int)cred.pid, (unsigned)geteuid());
		refuse(fd, "permission denied: only root and the user bramble runs as may ask "
			   "for a pass");
		return;
	}
	req = read_request(fd);
	if (req < 0) {
		refuse(fd, "bad request: expected \"reconcile\" or \"reconcile force\"");
		return;
	}
	if (c->n_pending == CONTROL_PENDING) {
		refuse(fd, "busy: too many requests wait for a pass; try again");
		return;
	}
	c->pending[c->n_pending++] = fd;
	c->force |= req == 2;
	log_info("control: uid %u (pid %d) asks for a pass%s", (unsigned)cred.uid, (int)cred.pid,
		 req == 2 ? " (--force)" : "");
}

bool control_accept(struct control *c)
{
	int fd;

	if (c->fd < 0)
		return false;
	while ((fd = accept4(c->fd, NULL, NULL, SOCK_CLOEXEC)) >= 0)
		take_one(c, fd);
	return c->n_pending > 0;
}

void control_reply(struct control *c, json_t *msg)
{
	size_t i;

	for (i = 0; i < c->n_pending; i++)
		send_close(c->pending[i], msg);
	c->n_pending = 0;
	c->force = false;
}

void control_close(struct control *c)
{
	json_t *m = json_pack("{s:b, s:s}", "ok", 0, "error", "bramble is stopping: no pass");

	control_reply(c, m);
	json_decref(m);
	if (c->fd >= 0) {
		close(c->fd);
		if (c->path)
			(void)unlink(c->path);
	}
	c->fd = -1;
	free(c->path);
	c->path = NULL;
}
