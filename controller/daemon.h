/*
 * daemon: `bramble run`.  One loop thread runs the passes: one at start,
 * then every interval (with ±10% jitter), at once on SIGHUP or a verified
 * webhook, and after a failed pass again in 1 s, 2 s, 4 s ... up to the
 * interval.  The HTTP thread (http.h) never runs a pass: it sets a flag and
 * wakes the loop, so two passes never overlap.  SIGTERM or SIGINT lets the
 * current pass finish, then the daemon exits 0.  A failed pass never ends the
 * loop: the last applied state keeps serving.
 */
#ifndef BRAMBLE_DAEMON_H
#define BRAMBLE_DAEMON_H

#include "config.h"
#include "reconcile.h"

/*
 * How the daemon reads its configuration again on SIGHUP: load() makes a
 * new configuration in *ret (it calls config_init() itself) from the same
 * file and flags as at start, adding every error to d.
 */
struct daemon_reload {
	int (*load)(void *arg, struct bramble_config *ret, struct diags *d);
	void *arg;
};

/*
 * Run until SIGTERM or SIGINT.  opts gives the flags of the passes (adopt,
 * verbose); their mode and output are the daemon's.  On SIGHUP the
 * configuration is read again through reload (NULL: never): one with errors
 * is reported and the running one stays, as bgpd does; a change of a key
 * that needs a restart (http.listen, paths.stateDir, paths.tftpRoot,
 * dhcp.logFile) is reported and that key keeps its old value.  Returns an
 * enum exit_code: 0 after a clean stop, EXIT_USAGE for a bad listen address,
 * EXIT_FAILED when the daemon cannot start.
 */
int daemon_run(const struct bramble_config *cfg, const struct pass_opts *opts,
	       const struct daemon_reload *reload);

#endif
