/*
 * heartbeat: a sign of life from the long steps of a pass (an image's
 * download, decompression and extraction, a node root's copy, a reload
 * command's wait), for the daemon's systemd watchdog and its /healthz.  The
 * steps call heartbeat() as they make progress, or heartbeat_wait() while
 * they wait, bounded, for something outside bramble (a reload command); the
 * daemon installs the hooks that turn those calls into WATCHDOG=1, at most as
 * often as it needs, and into the run loop's last sign of progress.  Without
 * hooks (every command but `bramble run`) a heartbeat costs two loads.
 */
#ifndef BRAMBLE_HEARTBEAT_H
#define BRAMBLE_HEARTBEAT_H

/*
 * Install fn (NULL: none) as the hook every heartbeat() and heartbeat_wait()
 * calls (the watchdog's).  fn may be called from any thread that does a long
 * step (the boot partition's extraction has one of its own), so it must be
 * thread-safe and cheap.
 */
void heartbeat_set(void (*fn)(void));
/* The same for the hook only heartbeat() calls: progress (the daemon's /healthz). */
void heartbeat_set_progress(void (*fn)(void));

/* A long step made progress: call the hooks, if there are any. */
void heartbeat(void);
/*
 * A step is waiting for something outside bramble that is bounded by a
 * timeout (a reload command): alive for the watchdog, but no progress.
 */
void heartbeat_wait(void);

#endif
