/*
 * atomic: temp-then-rename, the one writer (atomic.h).
 *
 * The temps open in this process are listed in a small registry that a
 * fatal signal's handler walks with unlinkat() alone.  A slot is published
 * (state LIVE) only once its name and directory are written, and taken back
 * (state FREE) before the temp is renamed or removed, so the handler never
 * reads a half-written slot; a slot it misses (a signal during the few
 * instructions around publishing) leaves a temp named after a dead pid,
 * which the next pass removes (atomic_temp_is_stale()).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomic.h"
#include "fsutil.h"
#include "parse.h"

#define SLOTS	   64
#define TMP_SUFFIX ".tmp"

enum { SLOT_FREE, SLOT_BUSY, SLOT_LIVE };

struct slot {
	atomic_int state;
	int dirfd;
	char tmp[NAME_MAX + 1];
};

static struct slot slots[SLOTS];

static int slot_claim(int dirfd, const char *tmp)
{
	int i;

	for (i = 0; i < SLOTS; i++) {
		int expect = SLOT_FREE;

		if (!atomic_compare_exchange_strong(&slots[i].state, &expect, SLOT_BUSY))
			continue;
		slots[i].dirfd = dirfd;
		memcpy(slots[i].tmp, tmp, strlen(tmp) + 1);
		atomic_store(&slots[i].state, SLOT_LIVE);
		return i;
	}
	return -1;
}

static void slot_release(int i)
{
	if (i >= 0)
		atomic_store(&slots[i].state, SLOT_FREE);
}

/* Whether this process holds a temp called tmp (in any directory). */
static bool slot_holds(const char *tmp)
{
	int i;

	for (i = 0; i < SLOTS; i++)
		if (atomic_load(&slots[i].state) == SLOT_LIVE && strcmp(slots[i].tmp, tmp) == 0)
			return true;
	return false;
}

static int temp_name(const char *name, char *out, size_t size)
{
	int n;

	if (!name[0] || strchr(name, '/') || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return -EINVAL;
	n = snprintf(out, size, ".%s.%ld" TMP_SUFFIX, name, (long)getpid());
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

/* Create the temp; one of ours that no writer holds is a dead namesake's. */
static int temp_create(struct atomic_file *af, mode_t mode)
{
	int flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;

	af->fd = openat(af->dirfd, af->tmp, flags, mode);
	if (af->fd < 0 && errno == EEXIST && !slot_holds(af->tmp)) {
		if (unlinkat(af->dirfd, af->tmp, 0) < 0 && errno != ENOENT)
			return -errno;
		af->fd = openat(af->dirfd, af->tmp, flags, mode);
	}
	return af->fd < 0 ? -errno : 0;
}

int atomic_open(struct atomic_file *af, int dirfd, const char *name, mode_t mode,
		enum atomic_sync sync)
{
	int r;

	af->dirfd = dirfd;
	af->fd = af->slot = -1;
	af->sync = sync;
	af->tmp[0] = '\0';
	r = temp_name(name, af->tmp, sizeof(af->tmp));
	if (r == 0)
		r = temp_create(af, mode);
	if (r < 0) {
		af->tmp[0] = '\0';
		return r;
	}
	memcpy(af->name, name, strlen(name) + 1);
	af->slot = slot_claim(dirfd, af->tmp);
	/* The umask must not narrow what the caller asked for. */
	if (fchmod(af->fd, mode) < 0) {
		r = -errno;
		atomic_abort(af);
	}
	return r;
}

int atomic_write(struct atomic_file *af, const void *data, size_t len)
{
	if (af->fd < 0)
		return -EBADF;
	return write_all(af->fd, data, len);
}

int atomic_close(struct atomic_file *af)
{
	int r = 0;

	if (af->fd < 0)
		return -EBADF;
	if (af->sync != ATOMIC_SYNC_NONE && fsync(af->fd) < 0)
		r = -errno;
	if (close(af->fd) < 0 && r == 0)
		r = -errno;
	af->fd = -1;
	if (r < 0)
		atomic_abort(af);
	return r;
}

int atomic_commit(struct atomic_file *af)
{
	int r = 0;

	if (af->fd >= 0)
		r = atomic_close(af);
	else if (!af->tmp[0])
		r = -EBADF;
	if (r < 0)
		return r;
	if (renameat(af->dirfd, af->tmp, af->dirfd, af->name) < 0) {
		r = -errno;
		(void)unlinkat(af->dirfd, af->tmp, 0);
	}
	slot_release(af->slot);
	af->slot = -1;
	af->tmp[0] = '\0';
	if (r == 0 && af->sync == ATOMIC_SYNC_DIR && fsync(af->dirfd) < 0)
		r = -errno;
	return r;
}

void atomic_abort(struct atomic_file *af)
{
	if (af->fd >= 0)
		close(af->fd);
	if (af->tmp[0])
		(void)unlinkat(af->dirfd, af->tmp, 0);
	slot_release(af->slot);
	af->fd = af->slot = -1;
	af->tmp[0] = '\0';
}

int atomic_write_at(int dirfd, const char *name, const void *data, size_t len, mode_t mode,
		    enum atomic_sync sync)
{
	struct atomic_file af = ATOMIC_FILE_INIT;
	int r;

	r = atomic_open(&af, dirfd, name, mode, sync);
	if (r < 0)
		return r;
	r = atomic_write(&af, data, len);
	if (r < 0) {
		atomic_abort(&af);
		return r;
	}
	return atomic_commit(&af);
}

void atomic_signal_cleanup(void)
{
	int i;

	for (i = 0; i < SLOTS; i++)
		if (atomic_load(&slots[i].state) == SLOT_LIVE)
			(void)unlinkat(slots[i].dirfd, slots[i].tmp, 0);
}

static void on_fatal_signal(int sig)
{
	int saved = errno;

	atomic_signal_cleanup();
	signal(sig, SIG_DFL);
	raise(sig);
	errno = saved;
}

int atomic_install_signal_cleanup(void)
{
	static const int sigs[] = {SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGPIPE};
	struct sigaction sa, old;
	size_t i;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_fatal_signal;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		if (sigaction(sigs[i], NULL, &old) < 0)
			return -errno;
		if (old.sa_handler == SIG_DFL && sigaction(sigs[i], &sa, NULL) < 0)
			return -errno;
	}
	return 0;
}

bool atomic_temp_is_stale(const char *name)
{
	size_t len = strlen(name), n;
	const char *end, *p;
	uint64_t pid;
	char digits[24];

	if (name[0] != '.' || len < 2 + strlen(TMP_SUFFIX) ||
	    strcmp(name + len - strlen(TMP_SUFFIX), TMP_SUFFIX) != 0)
		return false;
	end = name + len - strlen(TMP_SUFFIX);
	for (p = end; p > name && p[-1] >= '0' && p[-1] <= '9'; p--)
		;
	n = (size_t)(end - p);
	if (n == 0 || n >= sizeof(digits) || p - name < 2 || p[-1] != '.')
		return false;
	memcpy(digits, p, n);
	digits[n] = '\0';
	if (parse_u64(digits, 10, INT_MAX, &pid) < 0 || pid == 0)
		return false;
	if ((pid_t)pid == getpid())
		return !slot_holds(name);
	return kill((pid_t)pid, 0) < 0 && errno == ESRCH;
}
