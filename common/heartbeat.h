/*
 * heartbeat: a sign of life from the long steps of a pass (an image's
 * download, decompression and extraction, a node root's copy, a reload
 * command's wait), for the daemon's systemd watchdog.  The steps call
 * heartbeat() as they make progress; the daemon installs the one hook that
 * turns those calls into WATCHDOG=1, at most as often as it needs.  Without
 * a hook (every command but `bramble run`) a heartbeat costs one load.
 */
#ifndef BRAMBLE_HEARTBEAT_H
#define BRAMBLE_HEARTBEAT_H

/*
 * Install fn (NULL: none) as the hook heartbeat() calls.  fn may be called
 * from any thread that does a long step (the boot partition's extraction
 * has one of its own), so it must be thread-safe and cheap.
 */
void heartbeat_set(void (*fn)(void));

/* A long step made progress: call the hook, if there is one. */
void heartbeat(void);

#endif
