/*
 * watch: the daemon learns about outside edits of the output trees from
 * inotify instead of a stat of every sealed path.
 *
 * A sealed pass (reconcilers/seal.h) proves "nothing changed" by a stat of
 * every path the seal records: 100,000 fstatat at 10,000 nodes, most of a
 * no-op pass.  The daemon instead watches the directories those paths are in
 * (and the sealed directories themselves).  Arming a seal: drain the queued
 * events, add the missing watches, then stat every path once (a change
 * before a watch was in place is seen by the stat, any later one by an
 * event).  While armed, a pass over the same seal with no event about a
 * sealed path since trusts the seal without a stat (the few absolute-path
 * inputs, secret files, are still stat-ed).  Any doubt means the full check
 * again: an event about a sealed path (which also wakes the daemon for a
 * pass at once), a queue overflow, a watch removed, a watch that could not
 * be added (watch.maxWatches, the kernel's limit), another seal, and every
 * watch.fullCheck (default 1 h) in any case, so that an edit inotify cannot
 * report (another machine writing a network file system, a bug) is repaired
 * within that time.  Memory: one watch and one path per directory, at most
 * watch.maxWatches of them, and a table of the seal's paths' hashes with a
 * hash of each path's record (8 bytes a path).
 *
 * The daemon also keeps the seal parsed between passes (watch_seal_load):
 * the seal a pass wrote is read again and parsed after the pass's log line
 * (watch_rearm, once the pass's own memory is given back, and once the seal
 * the pass started from is freed: the daemon never holds two seals), and the
 * next pass uses it while the file on disk has the signature it had when it
 * was read (device, inode, size, mtime, ctime).
 * Crash safety is that of the file, which is written as before (last in the
 * pass, reconcile.c, renamed into place): the copy in memory only saves
 * reading it, and a file written, replaced or removed by anyone else is read
 * again (or is no seal).  The re-arm after a pass that wrote a seal starts
 * from the seal the watch was armed for (the table's hash of each record):
 * a path whose record is unchanged and that no event named since the arm
 * cannot have changed (an event would have named it), so only the paths the pass wrote and those events named are
 * stat-ed and their directories watched; a removed directory's watch is
 * dropped (its entries were removed first, each an event), and anything
 * inotify cannot name (an overflow, a directory moved or unmounted, more
 * than 4096 paths named) means the full arm as before.
 */
#ifndef BRAMBLE_WATCH_H
#define BRAMBLE_WATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

struct buf;
struct seal;
struct seal_entry;

struct seal_watch {
	int fd; /* inotify; -1: off (every pass does the full check) */
	unsigned max;
	long long full_ms; /* watch.fullCheck */
	long long last_full;
	struct watch_dir {    /* 12 bytes: 70,000 of them at 10,000 nodes */
		uint32_t rel; /* its path relative to its root ("." the root): in names */
		int wd;
		uint8_t root;
		bool sealed; /* the directory is a sealed path (its listing counts) */
		bool needed; /* by the seal being armed */
		bool gone;   /* removed or moved: its watch is no longer its path's */
	} * dirs;
	size_t n_dirs, cap_dirs; /* in the order added, which is the order of wd */
	/* The directories' relative paths, each once, NUL-terminated, one after
	 * the other (rebuilt without the dropped ones when watches are pruned). */
	char *names;
	size_t names_len, names_cap;
	size_t *by_path; /* open addressing over dirs: index + 1, 0 empty */
	size_t by_path_size;
	struct watch_entry {  /* 8 bytes: 130,000 of them at 10,000 nodes */
		uint32_t tag; /* the high half of a sealed path's hash (root, path); 0 empty */
		uint32_t sig; /* a hash of its record in the armed seal (watch.c) */
	} * entries;
	size_t entries_size;
	/* The hashes of the sealed paths events named since the watch was armed
	 * (touched_all: too many, or one that cannot be named): the re-arm after
	 * a pass checks those and the paths the pass wrote, and no other. */
	uint64_t *touched;
	size_t n_touched;
	bool touched_all;
	/* The seal kept parsed between passes (watch_seal_load), and the
	 * signature of the file it was read from; armed_kept: the watch is armed
	 * for it (else for a seal of identity). */
	struct seal *kept;
	uint64_t kept_sig[5];
	bool armed_kept;
	char *root_path[8];
	bool armed, dirty, incomplete, rearm, drop;
	bool pending;	   /* the new seal did not hold when armed: a pass is due at once */
	unsigned settles;  /* passes in a row that wrote no seal */
	unsigned misses;   /* new seals in a row that did not hold (at most 3 passes follow) */
	uint64_t identity; /* of the armed seal's entries (when not armed_kept) */
	char why[512];	   /* the first event that made it dirty */
};

/* Start watching (max_watches 0: off); 0 or -errno (then off, logged). */
int watch_open(struct seal_watch *w, const struct bramble_config *cfg);
void watch_close(struct seal_watch *w);
/* The fd to poll for events (-1: off). */
int watch_fd(const struct seal_watch *w);
/* Read the queued events; true when one is about a sealed path (w->why says which). */
bool watch_read(struct seal_watch *w);
/* Milliseconds until the full check is due (LLONG_MAX: never, when off or unarmed). */
long long watch_due_ms(const struct seal_watch *w);
/* pass_opts.seal_check: ctx is the watch. */
bool watch_check(void *ctx, const struct seal *s, const char *const *root_path,
		 const struct seal_entry **ret_broken);
/*
 * pass_opts.seal_load: the seal in state_fd as seal_read() returns it, lent
 * from the one the daemon keeps when the file is the one it read last (the
 * same inode, size, mtime and ctime), else read and kept.  Works with the
 * watch off too.
 */
int watch_seal_load(void *ctx, int state_fd, struct seal *s, struct buf *why);
/*
 * pass_opts.sealed: a pass wrote a seal; watch_rearm() reads it and arms it
 * after the pass.
 */
void watch_sealed(void *ctx, const char *const *root_path);
/*
 * After a pass: one that wrote a seal has it read (and kept) and the watch
 * armed for it: incrementally when the watch was armed for the seal the pass
 * started from (only the paths whose record changed, and those an event
 * named since, are checked, and only their directories watched anew), else
 * by the full check; one that wrote and did not seal disarms the watch (its
 * own events are no news); a sealed pass keeps it as it is.  Returns true when the pass
 * wrote no seal and another pass soon may write one (once in a row): until a
 * seal is armed, inotify cannot say that nothing changed.
 */
bool watch_rearm(struct seal_watch *w, const char *state_dir, bool sealed_pass);

#endif
