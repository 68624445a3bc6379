/*
 * actions: the post-apply reloads (enum action bits), run through the
 * commands the configuration names.  A restart of dnsmasq covers a reload.
 */
#ifndef BRAMBLE_ACTIONS_H
#define BRAMBLE_ACTIONS_H

#include "config.h"

/* Describe the actions as text ("restart dnsmasq, reload NFS exports"). */
void actions_describe(unsigned actions, char *out, size_t size);
/* Run the commands for the actions; returns 0 or the first failure. */
int actions_run(const struct bramble_config *cfg, unsigned actions);
/*
 * Run "sh -c cmd" (extra_argv become $1, $2, ...) with a timeout.  Returns its
 * exit status (>= 0), or a negative errno (-ETIMEDOUT when it was killed).
 */
int run_command(const char *cmd, const char *const extra_argv[], unsigned timeout_s);

#endif
