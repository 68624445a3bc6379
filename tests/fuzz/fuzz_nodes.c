/*
 * fuzz_nodes: arbitrary bytes as the state files the daemon reads on its
 * passes, through its own readers: the input is nodes.json, then after a
 * NUL byte status.json, then after another boot.json (a part left out: no
 * such file; bramble's JSON holds no NUL byte, so the split loses nothing).
 *
 * - boot_follow_open() (controller/bootwatch_follow.c) loads boot.json into
 *   the boot table and the known serials, MACs and addresses from nodes.json,
 *   as the daemon does at start (boot_follow_refresh_known(), after each
 *   applying pass, has the same reader);
 * - each stalled boot in the table looks up its node's name in nodes.json
 *   (notify_node_name(), controller/daemon_notify.c), as its notification
 *   does, and so does one serial of no node;
 * - notify_pass_errors() reads status.json, as a failed pass's notification
 *   does.
 *
 * The files are written into a scratch state directory made once (on
 * /dev/shm: fuzz_scratch.h); the log file the follower would read is never
 * made (boot_follow_open() does not open it).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bootwatch_follow.h"
#include "buf.h"
#include "config.h"
#include "daemon_notify.h"
#include "fuzz_scratch.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NOW	1796500000 /* 2026-12-05: after the seeds' boots */
#define STALL_S 60

static struct bramble_config cfg;
static int state_fd = -1;

static int scratch(void)
{
	char dir[128], log[160];

	if (state_fd >= 0)
		return 0;
	log_set_level(LOG_LEVEL_ERROR); /* the warnings of each file not bramble's: not the point */
	state_fd = fuzz_scratch_dir("nodes", dir, sizeof(dir));
	if (state_fd < 0 || config_init(&cfg) < 0)
		return -1;
	snprintf(log, sizeof(log), "%s/dnsmasq.log", dir);
	if (config_set(&cfg.state_dir, dir) < 0 || config_set(&cfg.tftp_root, "/srv/tftp") < 0 ||
	    config_set(&cfg.dhcp_log_file, log) < 0)
		return -1;
	return 0;
}

struct part {
	const char *data; /* NULL: left out */
	size_t len;
};

/* A stalled boot's notification looks up the node's name (an unknown Pi has none). */
static void on_news(void *ctx, const struct boot_news *nw)
{
	const struct part *nodes = ctx;
	char name[256];

	if (nw->kind != BOOT_NEWS_UNKNOWN)
		notify_node_name(nodes->data, nodes->len, nw->serial, name, sizeof(name));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[] = {"nodes.json", "status.json", "boot.json"};
	const uint8_t *p = data, *end = data + size, *nul;
	struct part parts[3];
	struct boot_follow *f = NULL;
	struct buf errors = BUF_INIT;
	char name[256];
	size_t i;

	if (scratch() < 0)
		return 0;
	for (i = 0; i < 3; i++) {
		nul = p ? memchr(p, '\0', (size_t)(end - p)) : NULL;
		parts[i].data = (const char *)p;
		parts[i].len = p ? (size_t)((nul ? nul : end) - p) : 0;
		if (fuzz_scratch_put(state_fd, names[i], p, parts[i].len) < 0)
			return 0;
		p = nul ? nul + 1 : NULL;
	}
	if (boot_follow_open(&cfg, &f) == 0) {
		if (parts[0].data)
			boot_follow_news(f, NOW, STALL_S, on_news, &parts[0]);
		boot_follow_close(f);
	}
	if (parts[0].data)
		notify_node_name(parts[0].data, parts[0].len, "00000000", name, sizeof(name));
	if (parts[1].data)
		(void)notify_pass_errors(parts[1].data, parts[1].len, &errors);
	buf_release(&errors);
	return 0;
}
