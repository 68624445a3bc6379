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
 * The reload intents (DESIGN.md, reconcile step 6): a pass records the
 * reloads it will need here, durably, before the change they follow becomes
 * visible, and clears each only once its command succeeded.  What is left
 * (a reload that failed: dnsmasq was down; or a pass that was killed) is run
 * again by the next pass, whether or not it changes anything, and by the
 * daemon's first.  ACTIONS_PASS_OPEN says a pass began changing the tree
 * and did not finish cleanly: the next one recovers what it left
 * (engine_recover()).
 */
#define ACTIONS_PENDING_FILE "pending-actions"
#define ACTIONS_PASS_OPEN    (1u << 8)
/* The actions recorded in state_fd/pending-actions (0: none, or unreadable). */
unsigned actions_pending_load(int state_fd);
/* Record the actions still to do (0: none), durably. */
int actions_pending_save(int state_fd, unsigned pending);
/*
 * Run "sh -c cmd" (extra_argv become $1, $2, ...) with a timeout.  Returns its
 * exit status (>= 0), or a negative errno (-ETIMEDOUT when it was killed).
 */
int run_command(const char *cmd, const char *const extra_argv[], unsigned timeout_s);

#endif
