/*
 * control_client: `bramble reconcile`, the client of the daemon's control
 * socket (control.h).  It asks for a pass, waits for its result, prints it
 * as a pass line (or the history entry with --json) and exits 0 for an
 * applied pass, 1 for a failed one, 69 when no daemon answers, 75 when the
 * daemon is suspended (no --force), 77 when the daemon refuses this user,
 * 124 when no answer came in time.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "control.h"
#include "history.h"
#include "reconcile.h"
#include "suspend.h"
#include "../common/buf.h"
#include "../common/fsutil.h"

#define ANSWER_MAX ((size_t)64 << 10)

static int no_daemon(const struct bramble_config *cfg, int err)
{
	fprintf(stderr,
		"bramble reconcile: no daemon answers on %s/%s (%s): start it (systemctl start "
		"bramble, or bramble run with the same --state-dir), or run bramble apply\n",
		cfg->state_dir, CONTROL_SOCKET, strerror(err));
	return EXIT_NO_DAEMON;
}

/* Connect and send the request; the fd, or an exit code as -code. */
static int ask(const struct bramble_config *cfg, bool force)
{
	const char *req = force ? "reconcile force\n" : "reconcile\n";
	char *path = path_join(cfg->state_dir, CONTROL_SOCKET);
	struct sockaddr_un sa;
	int fd, err = 0;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (!path || strlen(path) >= sizeof(sa.sun_path)) {
		free(path);
		return -no_daemon(cfg, ENAMETOOLONG);
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	free(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		err = errno;
	if (err == EACCES || err == EPERM) {
		fprintf(stderr,
			"bramble reconcile: %s/%s: permission denied: only root and the user "
			"bramble runs as may ask for a pass\n",
			cfg->state_dir, CONTROL_SOCKET);
		close(fd);
		return -EXIT_NOT_PERMITTED;
	}
	/* A send that fails (EPIPE) is no error yet: a daemon that refused this peer
	 * wrote why and closed, and the answer is still there to read. */
	if (err == 0)
		(void)send(fd, req, strlen(req), MSG_NOSIGNAL);
	if (err) {
		if (fd >= 0)
			close(fd);
		return -no_daemon(cfg, err);
	}
	return fd;
}

/* Read the answer line within timeout_s (0: no limit); 0, -ETIMEDOUT, -EPIPE. */
static int answer_read(int fd, unsigned timeout_s, struct buf *out)
{
	struct timespec t0, now;
	char b[4096];

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct pollfd p = {fd, POLLIN, 0};
		long left = -1;
		ssize_t n;

		if (timeout_s) {
			clock_gettime(CLOCK_MONOTONIC, &now);
			left = (long)timeout_s * 1000 - ((now.tv_sec - t0.tv_sec) * 1000 +
							 (now.tv_nsec - t0.tv_nsec) / 1000000);
			if (left <= 0)
				return -ETIMEDOUT;
		}
		if (poll(&p, 1, left > INT32_MAX ? INT32_MAX : (int)left) == 0)
			continue;
		n = read(fd, b, sizeof(b));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return memchr(buf_str(out), '\n', out->len) ? 0 : -EPIPE;
		if (buf_add(out, b, (size_t)n) < 0)
			return -E2BIG;
	}
}

/* The entry as history prints it; the exit code of its outcome. */
static int show(json_t *ans, bool json, FILE *out)
{
	json_t *entry = json_object_get(ans, "entry");
	const char *outcome = json_string_value(json_object_get(entry, "outcome"));

	if (json) {
		json_t *doc = json_pack("{s:s, s:o}", "schema", "bramble/history/v1", "entries",
					json_pack("[O]", entry));

		json_dumpf(doc, out, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_REAL_PRECISION(6));
		fputc('\n', out);
		json_decref(doc);
	} else {
		json_t *counts = json_object_get(entry, "counts");

		fprintf(out, "pass (reconcile): %s %s", outcome ? outcome : "?",
			json_string_value(json_object_get(entry, "revision"))
				? json_string_value(json_object_get(entry, "revision"))
				: "(no revision)");
		if (json_is_object(counts))
			fprintf(out,
				": %lld created, %lld updated, %lld deleted, %lld unchanged, %lld "
				"drift repaired, %lld failed; %lld/%lld nodes ready",
				json_integer_value(json_object_get(counts, "create")),
				json_integer_value(json_object_get(counts, "update")),
				json_integer_value(json_object_get(counts, "delete")),
				json_integer_value(json_object_get(counts, "unchanged")),
				json_integer_value(json_object_get(counts, "drift")),
				json_integer_value(json_object_get(counts, "failed")),
				json_integer_value(json_object_get(counts, "ready")),
				json_integer_value(json_object_get(counts, "total")));
		fprintf(out, "; %.3f s\n",
			json_number_value(json_object_get(entry, "durationSeconds")));
		if (json_is_string(json_object_get(entry, "error")))
			fprintf(out, "    %lld error(s): %s\n",
				json_integer_value(json_object_get(entry, "errors")),
				json_string_value(json_object_get(entry, "error")));
	}
	return outcome && strcmp(outcome, "applied") == 0 ? EXIT_OK : EXIT_FAILED;
}

/* An answer that is not a pass: suspended, refused, stopping. */
static int refused(json_t *ans)
{
	const char *err = json_string_value(json_object_get(ans, "error"));
	json_t *susp = json_object_get(ans, "suspended");

	fprintf(stderr, "bramble reconcile: the daemon says: %s\n", err ? err : "(no reason)");
	if (json_is_object(susp))
		return EXIT_SUSPENDED;
	if (err && strncmp(err, "permission denied", 17) == 0)
		return EXIT_NOT_PERMITTED;
	return EXIT_FAILED;
}

int control_reconcile_command(const struct bramble_config *cfg, bool force, unsigned timeout_s,
			      bool json, FILE *out)
{
	struct buf b = BUF_INIT;
	json_t *ans = NULL;
	int fd, r, code;

	fd = ask(cfg, force);
	if (fd < 0)
		return -fd;
	r = answer_read(fd, timeout_s, &b);
	close(fd);
	if (r == -ETIMEDOUT) {
		fprintf(stderr,
			"bramble reconcile: no result in %u s: the pass goes on in the daemon; "
			"bramble history shows it when it ends\n",
			timeout_s);
		code = EXIT_TIMEOUT;
	} else if (r < 0 || !(ans = json_loadb(b.data, b.len, JSON_DISABLE_EOF_CHECK, NULL))) {
		fprintf(stderr, "bramble reconcile: the daemon closed without an answer\n");
		code = EXIT_FAILED;
	} else if (json_is_true(json_object_get(ans, "ok"))) {
		code = show(ans, json, out);
	} else {
		code = refused(ans);
	}
	json_decref(ans);
	buf_release(&b);
	return code;
}
