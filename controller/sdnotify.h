/*
 * sdnotify: tell systemd how the daemon is doing (Type=notify), without
 * libsystemd: one datagram to the AF_UNIX socket named by $NOTIFY_SOCKET
 * (a path, or "@name" for the abstract namespace), as sd_notify(3) does.
 */
#ifndef BRAMBLE_SDNOTIFY_H
#define BRAMBLE_SDNOTIFY_H

#include <stdint.h>

/*
 * Send state (e.g. "READY=1\nSTATUS=applied 1a2b3c4") to systemd.  Returns 1
 * when it was sent, 0 when bramble does not run under systemd's notify
 * protocol ($NOTIFY_SOCKET unset), or a negative errno.  Safe to call often:
 * the socket is opened per call, so a restarted manager is found again.
 */
int sd_notify_send(const char *state);

/* sd_notify_send() with a printf format; the message is cut at 1 KiB. */
int sd_notify_sendf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Whether systemd watches this process (WatchdogSec=), as sd_watchdog_enabled(3)
 * decides: $WATCHDOG_USEC set, and $WATCHDOG_PID unset or this process's pid.
 * Returns 1 and sets *ret_usec (the timeout, > 0) when it does, 0 when it
 * does not, -EINVAL when a variable is malformed (then there is no watchdog).
 * The daemon must then send "WATCHDOG=1" more often than every *ret_usec.
 */
int sd_watchdog_usec(uint64_t *ret_usec);

#endif
