/*
 * control: the daemon's local channel, state/control.sock, a UNIX stream
 * socket for `bramble reconcile` (not the public webhook).  Mode 0600,
 * owned by the daemon's user, and each peer checked with SO_PEERCRED: only
 * root and the daemon's own user may ask; anyone else gets an error line
 * and is logged.
 *
 * The protocol is one line each way.  The client sends "reconcile\n" or
 * "reconcile force\n"; the daemon runs a pass (after the one running, if
 * any) and answers with one JSON line: {"ok": true, "entry": <the history
 * entry of the pass, bramble/history/v1>}, or {"ok": false, "error": TEXT,
 * "suspended": {...}} when it is suspended and force was not asked, or
 * {"ok": false, "error": TEXT} when it refuses or stops.
 *
 * The loop thread alone uses the server: it polls control_fd(), calls
 * control_accept() when it is readable, and control_reply() after the pass.
 */
#ifndef BRAMBLE_CONTROL_H
#define BRAMBLE_CONTROL_H

#include <jansson.h>
#include <stdbool.h>

#include "config.h"

#define CONTROL_SOCKET	 "control.sock"
#define CONTROL_PENDING	 16 /* clients waiting for one pass */
#define CONTROL_LINE_MAX 64

/* Exit codes of bramble reconcile beyond enum exit_code (README.md). */
enum control_exit {
	EXIT_NO_DAEMON = 69,	 /* EX_UNAVAILABLE: no daemon answers */
	EXIT_NOT_PERMITTED = 77, /* EX_NOPERM: the daemon refused this user */
	EXIT_TIMEOUT = 124,	 /* as timeout(1): no answer in time (the pass goes on) */
};

struct control {
	int fd; /* listening; -1 none */
	char *path;
	int pending[CONTROL_PENDING];
	size_t n_pending;
	bool force; /* one of the pending asked for it */
};

#define CONTROL_INIT     \
	{                \
		.fd = -1 \
	}

/*
 * Bind state_dir/control.sock (a stale one, of a daemon that is gone, is
 * replaced) with mode 0600 before it listens.  0 or -errno.
 */
int control_open(struct control *c, const char *state_dir);

/* The listening fd to poll, -1 when none. */
int control_fd(const struct control *c);

/*
 * Take the connections waiting: a permitted peer's request joins the
 * pending ones.  Returns true when a pass is asked for.
 */
bool control_accept(struct control *c);

/* Whether requests wait for a pass. */
bool control_waiting(const struct control *c);

/* Answer every pending client with msg (one JSON object; a NULL: an error) and close them. */
void control_reply(struct control *c, json_t *msg);

/* Answer the pending with an error, close and remove the socket. */
void control_close(struct control *c);

/* `bramble reconcile [--force] [--timeout D] [--json]` (control_client.c): an exit code. */
int control_reconcile_command(const struct bramble_config *cfg, bool force, unsigned timeout_s,
			      bool json, FILE *out);

#endif
