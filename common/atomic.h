/*
 * atomic: the one way bramble replaces a file (git's lockfile shape).  A temp
 * named after the target, ".<name>.<pid>.tmp", is made with O_EXCL beside it,
 * relative to a directory fd; every write and the close are checked; commit
 * is a rename over the target, so a reader sees the old file or the new one,
 * never a part.  The temp goes on failure, on atomic_abort() and, while it is
 * open, on a fatal signal (atomic_signal_cleanup()).  A temp of a process
 * that is gone is removed by the engine's recovery (recover.c), which asks
 * atomic_is_temp() whether a name is one.
 *
 * How durable a commit is, is the caller's explicit choice (enum atomic_sync):
 * a batch of files synced at once with syncfs(2) (the inventory's shards,
 * the root records) costs one flush instead of one per file.
 *
 * Not through here: the managed files apply.c stages in the output roots
 * (files, links, hard links, trees), whose temps ".<name>.bramble-tmp" are
 * named by path alone so that the next pass finds a dead pass's temp without
 * walking the roots (recover.c); and a download's ".part", which outlives a
 * failure to be resumed (download.c).
 */
#ifndef BRAMBLE_ATOMIC_H
#define BRAMBLE_ATOMIC_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

enum atomic_sync {
	ATOMIC_SYNC_NONE = 0, /* no fsync: a cache, or the caller syncs the batch */
	ATOMIC_SYNC_FILE = 1, /* fsync the temp before the rename */
	ATOMIC_SYNC_DIR = 2,  /* and fsync the directory after it: durable on return */
};

struct atomic_file {
	int dirfd; /* borrowed: kept open by the caller until commit or abort */
	int fd;	   /* the temp, -1 once closed */
	int slot;  /* in the signal registry, -1 when none (full: then only the
		    * recovery removes a temp a signal left) */
	enum atomic_sync sync;
	char name[NAME_MAX + 1];
	char tmp[NAME_MAX + 1];
};

#define ATOMIC_FILE_INIT                                     \
	{                                                    \
		.dirfd = -1, .fd = -1, .slot = -1, .tmp = "" \
	}

/*
 * Start replacing name (one component, no '/') in dirfd: create its temp with
 * mode (O_EXCL, O_NOFOLLOW, O_CLOEXEC).  A temp of the same name that this
 * process does not hold is a dead process's (its pid was ours) and is
 * replaced; one it holds is -EEXIST (two writers of one file).  On success
 * af->fd is open for writing; af must be committed or aborted.
 */
int atomic_open(struct atomic_file *af, int dirfd, const char *name, mode_t mode,
		enum atomic_sync sync);

/* Write all of data to the temp; on failure the caller aborts. */
int atomic_write(struct atomic_file *af, const void *data, size_t len);

/*
 * Sync (per the policy) and close the temp, which stays for a later
 * atomic_commit(): for a batch synced at once (syncfs) between the two.
 * On failure the temp is removed.
 */
int atomic_close(struct atomic_file *af);

/*
 * Sync (per the policy) and close, unless atomic_close() did, and rename the temp over the target.  On
 * failure the temp is removed and the target is untouched.  af is released
 * either way.
 */
int atomic_commit(struct atomic_file *af);

/* Remove the temp and release af; harmless on a released or never-opened af. */
void atomic_abort(struct atomic_file *af);

/* atomic_open + atomic_write + atomic_commit of one buffer. */
int atomic_write_at(int dirfd, const char *name, const void *data, size_t len, mode_t mode,
		    enum atomic_sync sync);

/*
 * Remove every temp open in this process.  Async-signal-safe (unlinkat
 * only): for a fatal signal's handler.  The process must not write after.
 */
void atomic_signal_cleanup(void);

/*
 * Install a handler that runs atomic_signal_cleanup() and dies of the signal
 * again, for SIGHUP, SIGINT, SIGQUIT, SIGTERM and SIGPIPE where their action
 * is the default: a handler installed later (the daemon's) replaces it.
 */
int atomic_install_signal_cleanup(void);

/*
 * Whether name is an atomic temp (".<name>.<pid>.tmp") left by a process
 * that is gone, or by this process and not open now: safe to remove.
 */
bool atomic_temp_is_stale(const char *name);

#endif
