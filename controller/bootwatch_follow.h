/*
 * bootwatch_follow: the daemon's side of boot observation.  It follows
 * dnsmasq's log file (dhcp.logFile) like `tail -F`, feeds the new lines to a
 * bootwatch table, and keeps the table with the position reached in one
 * small file, <stateDir>/boot.json (written atomically), so that a restarted
 * daemon goes on where it stopped.
 *
 * Rotation: when the path names another file than the one open (moved away
 * and recreated: dnsmasq reopens its log on SIGUSR2), the rest of the old
 * one is read, then the new one from its start.  A file that shrank was
 * truncated (copytruncate): it is read again from its start.  A dnsmasq
 * restart appends to the same file and needs nothing.  With no saved
 * position, the last 1 MiB of an existing file is read, so a boot logged
 * just before the daemon started is not lost and an old large log costs
 * nothing.  Each poll reads only the bytes added since the last one.
 */
#ifndef BRAMBLE_BOOTWATCH_FOLLOW_H
#define BRAMBLE_BOOTWATCH_FOLLOW_H

#include <stdbool.h>
#include <time.h>

#include "bootwatch.h"
#include "config.h"

#define BOOT_STATE_FILE "boot.json"

struct boot_follow;

/*
 * Load <stateDir>/boot.json and nodes.json and start following
 * cfg->dhcp_log_file (which need not exist yet).  -ENOENT when no log file
 * is configured: observation is off.
 */
int boot_follow_open(const struct bramble_config *cfg, struct boot_follow **ret);
/* Read what was added to the log; true when the table changed. */
bool boot_follow_poll(struct boot_follow *f, time_t now);
/* Re-read the nodes of the last pass (nodes.json) when it changed. */
void boot_follow_refresh_known(struct boot_follow *f);
/*
 * The pass rewrote nodes.json with the same nodes (serial, MAC, address):
 * take the file as it is now for the one the known nodes came from, so the
 * next pass does not parse it again (2.8 MB and 30 MB of JSON tree at 10,000
 * nodes).
 */
void boot_follow_known_same(struct boot_follow *f);
/* Write boot.json when the table changed (force: even within 2 s of the last write). */
int boot_follow_save(struct boot_follow *f, bool force);
/* bootwatch_news() on the table (the notifications of unknown Pis and stalled boots). */
void boot_follow_news(struct boot_follow *f, time_t now, unsigned stall_s, bootwatch_news_fn fn,
		      void *ctx);
/* The table of boots being followed, owned by f. */
const struct bootwatch *boot_follow_table(const struct boot_follow *f);
/* Save and close; NULL is fine. */
void boot_follow_close(struct boot_follow *f);

#endif
