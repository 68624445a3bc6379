/*
 * actions: the post-apply reloads (enum action bits), run through the
 * commands the configuration names.  A restart of dnsmasq covers a reload.
 */
#ifndef BRAMBLE_ACTIONS_H
#define BRAMBLE_ACTIONS_H

#include "config.h"

/* Describe the actions as text ("restart dnsmasq, reload NFS exports"). */
void actions_describe(unsigned actions, char *out, size_t size);
/* Run the commands for the actions; returns the bits of those that failed (0: all done). */
unsigned actions_run(const struct bramble_config *cfg, unsigned actions);

/*
 * Actions that failed are remembered in the state directory and run again by
 * the next pass, whether or not it changes anything: a reload that failed
 * once (dnsmasq was down) must not be forgotten because the files it was
 * for are now in place.
 */
#define ACTIONS_PENDING_FILE "pending-actions"
unsigned actions_pending_load(int state_fd);
int actions_pending_save(int state_fd, unsigned failed);
/*
 * Run "sh -c cmd" (extra_argv become $1, $2, ...) with a timeout.  Returns its
 * exit status (>= 0), or a negative errno (-ETIMEDOUT when it was killed).
 */
int run_command(const char *cmd, const char *const extra_argv[], unsigned timeout_s);

#endif
