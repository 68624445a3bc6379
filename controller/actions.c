#include "actions.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "atomic.h"
#include "parse.h"
#include "log.h"
#include "resource.h"
#include "../common/fsutil.h"
#include "../common/heartbeat.h"
#include "../common/stop.h"

#define ACTIONS_HINT "assuming every reload owed and the last pass unfinished"

#define ACTION_TIMEOUT_S 60

void actions_describe(unsigned actions, char *out, size_t size)
{
	size_t used = 0;

	out[0] = '\0';
	if (actions & ACTION_DHCP_RESTART)
		used += (size_t)snprintf(out + used, size - used, "restart dnsmasq");
	else if (actions & ACTION_DHCP_RELOAD)
		used += (size_t)snprintf(out + used, size - used, "reload dnsmasq hosts (SIGHUP)");
	if (used < size && (actions & ACTION_NFS_RESTART))
		snprintf(out + used, size - used, "%sre-export a replaced root (NFS restart)",
			 used ? ", " : "");
	else if (used < size && (actions & ACTION_NFS_RELOAD))
		snprintf(out + used, size - used, "%sreload NFS exports", used ? ", " : "");
}

/* Stop the command and whatever it started (its process group), and reap it. */
static void kill_child(pid_t pid)
{
	int status;

	kill(-pid, SIGKILL);
	kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
}

/*
 * Wait for the command, polling every 20 ms so that a SIGTERM of the daemon
 * (stop_requested()) ends a command that hangs within a second: it is killed
 * and -ECANCELED returned; the reload stays pending and the next start runs
 * it again.
 */
static int wait_child(pid_t pid, unsigned timeout_s)
{
	struct timespec step = {0, 20 * 1000 * 1000};
	unsigned long waited_ms = 0;
	int status;

	for (;;) {
		pid_t w = waitpid(pid, &status, WNOHANG);

		if (w == pid)
			break;
		if (w < 0 && errno != EINTR)
			return -errno;
		if (stop_requested() || waited_ms >= timeout_s * 1000UL) {
			kill_child(pid);
			return stop_requested() ? -ECANCELED : -ETIMEDOUT;
		}
		heartbeat_wait(); /* up to timeout_s: alive, but no progress (/healthz) */
		nanosleep(&step, NULL);
		waited_ms += 20;
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int run_command(const char *cmd, const char *const extra_argv[], unsigned timeout_s)
{
	const char *argv[16];
	size_t n = 0;
	pid_t pid;

	argv[n++] = "/bin/sh";
	argv[n++] = "-c";
	argv[n++] = cmd;
	if (extra_argv) {
		argv[n++] = "bramble";
		while (*extra_argv && n < 15)
			argv[n++] = *extra_argv++;
	}
	argv[n] = NULL;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		/* a group of its own: a timeout or a stop kills what it started too */
		setpgid(0, 0);
		execv("/bin/sh", (char *const *)(uintptr_t)argv);
		_exit(127);
	}
	return wait_child(pid, timeout_s);
}

static int run_one(const char *what, const char *cmd)
{
	int r;

	if (!cmd) {
		log_info("%s needed; no command configured for it", what);
		return 0;
	}
	r = run_command(cmd, NULL, ACTION_TIMEOUT_S);
	if (r > 0) {
		log_warnx("%s: command exited with status %d", what, r);
		return -EIO;
	}
	if (r == -ECANCELED)
		log_warnx("%s: stopped (bramble is stopping); it stays pending for the next start",
			  what);
	else if (r < 0)
		log_errno(r, "%s: command failed", what);
	else
		log_info("%s: done", what);
	return r;
}

unsigned actions_run(const struct bramble_config *cfg, unsigned actions)
{
	unsigned failed = 0;

	/* A restart re-reads the hosts too: it stands for both. */
	if ((actions & ACTION_DHCP_RESTART) &&
	    run_one("restart dnsmasq", cfg->dhcp_restart_cmd) < 0)
		failed |= actions & (ACTION_DHCP_RESTART | ACTION_DHCP_RELOAD);
	else if (!(actions & ACTION_DHCP_RESTART) && (actions & ACTION_DHCP_RELOAD) &&
		 run_one("reload dnsmasq hosts", cfg->dhcp_reload_cmd) < 0)
		failed |= ACTION_DHCP_RELOAD;
	/* A restart re-reads the exports too; without a restart command, the reload. */
	if ((actions & ACTION_NFS_RESTART) && cfg->nfs_restart_cmd && *cfg->nfs_restart_cmd) {
		if (run_one("restart the NFS server", cfg->nfs_restart_cmd) < 0)
			failed |= actions & (ACTION_NFS_RESTART | ACTION_NFS_RELOAD);
	} else if ((actions & (ACTION_NFS_RELOAD | ACTION_NFS_RESTART)) &&
		   run_one("reload NFS exports", cfg->nfs_reload_cmd) < 0) {
		failed |= actions & (ACTION_NFS_RELOAD | ACTION_NFS_RESTART);
	}
	return failed;
}

#define ACTIONS_ALL                                                                          \
	(ACTION_DHCP_RELOAD | ACTION_DHCP_RESTART | ACTION_NFS_RELOAD | ACTION_NFS_RESTART | \
	 ACTIONS_PASS_OPEN)

/*
 * A damaged record is read as every action owed and a pass unfinished: the
 * reloads run again and the next pass recovers, which costs a little and
 * loses nothing (a record read as less could skip a reload or a recovery).
 */
unsigned actions_pending_load(int state_fd)
{
	struct state_reader sr;
	struct buf why = BUF_INIT;
	char *data = NULL, *line = NULL;
	uint64_t v = 0;
	bool damaged;
	size_t len;
	int r;

	r = file_read_at(state_fd, ACTIONS_PENDING_FILE, 64, &data, &len);
	if (r == -ENOENT)
		return 0;
	state_reader_init(&sr, ACTIONS_PENDING_FILE, ACTIONS_HINT, data, len, &why);
	if (r < 0)
		buf_printf(&why, "%s: cannot read it: %s; %s", ACTIONS_PENDING_FILE,
			   file_read_strerror(r), ACTIONS_HINT);
	else if (state_next_line(&sr, &line) > 0 &&
		 state_u64(&sr, "actions", line, 10, ACTIONS_ALL, &v) == 0 &&
		 state_next_line(&sr, &line) > 0)
		state_error(&sr, "a second line: expected one number");
	damaged = why.len > 0;
	if (damaged)
		log_warnx("%s", buf_str(&why));
	free(data);
	buf_release(&why);
	return damaged ? ACTIONS_ALL : (unsigned)v & ACTIONS_ALL;
}

int actions_pending_save(int state_fd, unsigned pending)
{
	char buf[32];
	int n, r;

	if (!pending) {
		if (unlinkat(state_fd, ACTIONS_PENDING_FILE, 0) < 0)
			return errno == ENOENT ? 0 : -errno;
	} else {
		n = snprintf(buf, sizeof(buf), "%u\n", pending);
		r = atomic_write_at(state_fd, ACTIONS_PENDING_FILE, buf, (size_t)n, 0600,
				    ATOMIC_SYNC_FILE);
		if (r < 0)
			return r;
	}
	/* The intent must be on disk before the change it follows: the rename too. */
	return fsync(state_fd) < 0 ? -errno : 0;
}
