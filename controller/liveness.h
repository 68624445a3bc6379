/*
 * liveness: whether the daemon's run loop is making progress, for /healthz.
 * The loop marks each turn of its wait, and the long steps of a pass mark
 * their progress (heartbeat.h); a loop that marked nothing for longer than
 * http.livenessTimeout is hung (a step blocked in the kernel, a deadlock, a
 * reload command waited on past the threshold), and /healthz says so with a
 * 503, so that Kubernetes' liveness probe restarts it as systemd's watchdog
 * would.  The HTTP thread answers either way: that it answers says nothing
 * about the loop.
 */
#ifndef BRAMBLE_LIVENESS_H
#define BRAMBLE_LIVENESS_H

#include "../common/buf.h"

/* Start watching with the threshold in seconds (0: never hung); marks now. */
void liveness_start(unsigned threshold_s);
/* The loop or a step made progress (thread-safe, one atomic store). */
void liveness_beat(void);
/* 0 when alive; -ETIMEDOUT with the reason in why when hung (or -ENOMEM). */
int liveness_check(struct buf *why);

#endif
