/*
 * daemon_notify: what the daemon notifies (notify.h), and when.
 *
 * pass_failed on the first failed pass after a success, and again only when
 * the failure's reason changes (not on each retry: the errors are the same);
 * recovered on the first applied pass after a pass_failed; unknown_pi once
 * for each serial no manifest names; boot_stalled once for each boot of a
 * node that has not reached its kernel notify.bootStall after it started.
 * The run loop calls these; they queue and return at once.
 */
#ifndef BRAMBLE_DAEMON_NOTIFY_H
#define BRAMBLE_DAEMON_NOTIFY_H

#include <stdbool.h>
#include <time.h>

#include "bootwatch_follow.h"
#include "config.h"
#include "metrics.h"
#include "notify.h"
#include "reconcile.h"

struct buf;

/* A pass's outcome (enum pass_outcome) as the log and the notifications say it: "apply failed". */
const char *pass_outcome_name(int outcome);

struct notify_watch {
	struct notifier *n; /* NULL until a target is configured */
	struct metrics *metrics;
	bool failing;  /* a pass_failed was sent and no pass has been applied since */
	char *reason;  /* the failure it was about: the outcome and errors */
	time_t booted; /* the last look at the boot table */
};

/*
 * Read the targets (notify.url, the lines of notify.urlFile) and the token,
 * and start the notifier; errors are logged (never a URL) and returned, as
 * a webhook secret's are.  With no target the watch is off and no thread runs.
 */
int notify_watch_open(struct notify_watch *w, const struct bramble_config *cfg, struct metrics *m);
/* The same on SIGHUP; on errors the running targets stay. */
int notify_watch_reload(struct notify_watch *w, const struct bramble_config *cfg);
/* After a pass: pass_failed or recovered when due; state_dir holds its errors (status.json). */
void notify_watch_pass(struct notify_watch *w, const struct bramble_config *cfg,
		       const struct pass_result *res);
/*
 * After the boot table was read: unknown_pi and boot_stalled (a boot that
 * has not reached its kernel stall_s after it started).  seed: only
 * mark what the table already holds as told (at start).
 */
void notify_watch_boot(struct notify_watch *w, struct boot_follow *f, const char *state_dir,
		       unsigned stall_s, time_t now, bool seed);
/*
 * The readers of the state files behind the notifications, on their bytes
 * (the daemon reads the files; tests/fuzz/fuzz_nodes.c feeds them anything):
 * notify_pass_errors() appends to out the first error of status.json and how
 * many more, or the message of its Stalled condition (0, or -ENOMEM);
 * notify_node_name() gives in ret (size bytes) the name of the node with
 * this serial in nodes.json, or "".  What is not as bramble writes it is
 * skipped.
 */
int notify_pass_errors(const char *data, size_t len, struct buf *out);
void notify_node_name(const char *data, size_t len, const char *serial, char *ret, size_t size);
/* Stop the notifier (aborting a transfer in flight) and free; w is zero after. */
void notify_watch_close(struct notify_watch *w);

#endif
