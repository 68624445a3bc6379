/*
 * faultinject: an LD_PRELOAD shim that counts the mutating file-system calls
 * a process makes under one directory, and at the N-th one either kills the
 * process (SIGKILL: a crash or a power cut, as far as the process is
 * concerned) or fails the call with an errno, SQLite style.  Driven by
 * tests/fault/sweep.sh; not installed.
 *
 *	BRAMBLE_FAULT_PATH   only calls on paths under this absolute directory count
 *	BRAMBLE_FAULT_N      the call to hit (1-based); 0 or unset: count only
 *	BRAMBLE_FAULT_MODE   "kill" or "fail"
 *	BRAMBLE_FAULT_ERRNO  "EIO", "ENOSPC" or "EROFS" (mode fail)
 *	BRAMBLE_FAULT_LOG    a file: "hit <n> <call> <path>" when the fault fires,
 *	                     "count <n>" at exit
 *	BRAMBLE_FAULT_DELAY_US  sleep this long before each counted call: a slow
 *	                     disk, so that a test's signal lands in the middle of
 *	                     work that a quiet machine finishes too fast
 *
 * A failed call has no effect (it is refused before it runs), except close,
 * which Linux always carries out: the descriptor is closed, then the error
 * returned.  A path given relative to a directory descriptor is resolved
 * through /proc/self/fd.  LD_PRELOAD is removed from the environment at start,
 * so the reload commands bramble runs are not counted.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

static char fi_prefix[PATH_MAX];
static size_t fi_prefix_len;
static unsigned long fi_n;
static atomic_ulong fi_count; /* node roots are copied by several threads */
static int fi_kill, fi_errno = EIO, fi_active;
static long fi_delay_us;
static char fi_log[PATH_MAX];

static void fi_log_line(const char *line)
{
	int fd;

	if (!fi_log[0])
		return;
	fd = (int)syscall(SYS_openat, AT_FDCWD, fi_log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
			  0644);
	if (fd < 0)
		return;
	(void)!syscall(SYS_write, fd, line, strlen(line));
	syscall(SYS_close, fd);
}

__attribute__((constructor)) static void fi_init(void)
{
	const char *p = getenv("BRAMBLE_FAULT_PATH"), *n = getenv("BRAMBLE_FAULT_N");
	const char *m = getenv("BRAMBLE_FAULT_MODE"), *e = getenv("BRAMBLE_FAULT_ERRNO");
	const char *l = getenv("BRAMBLE_FAULT_LOG"), *d = getenv("BRAMBLE_FAULT_DELAY_US");

	unsetenv("LD_PRELOAD");
	if (!p || p[0] != '/')
		return;
	snprintf(fi_prefix, sizeof(fi_prefix), "%s", p);
	fi_prefix_len = strlen(fi_prefix);
	while (fi_prefix_len > 1 && fi_prefix[fi_prefix_len - 1] == '/')
		fi_prefix[--fi_prefix_len] = '\0';
	fi_n = n ? strtoul(n, NULL, 10) : 0;
	fi_kill = m && strcmp(m, "kill") == 0;
	if (e && strcmp(e, "ENOSPC") == 0)
		fi_errno = ENOSPC;
	else if (e && strcmp(e, "EROFS") == 0)
		fi_errno = EROFS;
	if (l)
		snprintf(fi_log, sizeof(fi_log), "%s", l);
	fi_delay_us = d ? strtol(d, NULL, 10) : 0;
	fi_active = 1;
}

__attribute__((destructor)) static void fi_fini(void)
{
	char line[64];

	if (!fi_active)
		return;
	snprintf(line, sizeof(line), "count %lu\n", atomic_load(&fi_count));
	fi_log_line(line);
}

static int under_prefix(const char *path)
{
	return strncmp(path, fi_prefix, fi_prefix_len) == 0 &&
	       (path[fi_prefix_len] == '/' || path[fi_prefix_len] == '\0');
}

/* The absolute path of name relative to dirfd (name NULL: dirfd itself). */
static int resolve(int dirfd, const char *name, char *out, size_t size)
{
	char link[64], dir[PATH_MAX];
	ssize_t n;
	int w;

	if (name && name[0] == '/') {
		snprintf(out, size, "%s", name);
		return 0;
	}
	if (dirfd == AT_FDCWD) {
		if (!getcwd(dir, sizeof(dir)))
			return -1;
	} else {
		snprintf(link, sizeof(link), "/proc/self/fd/%d", dirfd);
		n = readlink(link, dir, sizeof(dir) - 1);
		if (n < 0)
			return -1;
		dir[n] = '\0';
	}
	if (name && name[0])
		w = snprintf(out, size, "%s/%s", dir, name);
	else
		w = snprintf(out, size, "%s", dir);
	return w < 0 || (size_t)w >= size ? -1 : 0;
}

/*
 * Whether this call (on dirfd/name) is the one to hit: counts it when it is
 * under the prefix.  Kills the process when the mode says so.
 */
static int hit(const char *call, int dirfd, const char *name)
{
	char path[PATH_MAX], line[PATH_MAX + 64];
	unsigned long count;
	int saved = errno;

	if (!fi_active || resolve(dirfd, name, path, sizeof(path)) < 0 || !under_prefix(path)) {
		errno = saved;
		return 0;
	}
	count = atomic_fetch_add(&fi_count, 1) + 1;
	if (fi_delay_us > 0) {
		struct timespec ts = {fi_delay_us / 1000000, (fi_delay_us % 1000000) * 1000};

		syscall(SYS_nanosleep, &ts, NULL); /* EINTR (a signal) cuts it short */
	}
	if (fi_n == 0 || count != fi_n) {
		errno = saved;
		return 0;
	}
	snprintf(line, sizeof(line), "hit %lu %s %s\n", count, call, path);
	fi_log_line(line);
	if (fi_kill)
		raise(SIGKILL);
	return 1;
}

static int fd_hit(const char *call, int fd)
{
	return hit(call, fd, NULL);
}

#define REAL(ret, name, ...)                    \
	static ret (*real_##name)(__VA_ARGS__); \
	if (!real_##name)                       \
	real_##name = (ret(*)(__VA_ARGS__))dlsym(RTLD_NEXT, #name)

#define FAIL()                    \
	do {                      \
		errno = fi_errno; \
		return -1;        \
	} while (0)

static int open_mutates(int flags)
{
	return (flags & (O_CREAT | O_TRUNC)) || (flags & O_ACCMODE) != O_RDONLY;
}

#define OPEN_BODY(fn, dirfd)                              \
	mode_t mode = 0;                                  \
	if (flags & (O_CREAT | __O_TMPFILE)) {            \
		va_list ap;                               \
		va_start(ap, flags);                      \
		mode = (mode_t)va_arg(ap, int);           \
		va_end(ap);                               \
	}                                                 \
	if (open_mutates(flags) && hit(#fn, dirfd, path)) \
		FAIL();

int open(const char *path, int flags, ...)
{
	REAL(int, open, const char *, int, ...);
	OPEN_BODY(open, AT_FDCWD);
	return real_open(path, flags, mode);
}

int open64(const char *path, int flags, ...)
{
	REAL(int, open64, const char *, int, ...);
	OPEN_BODY(open64, AT_FDCWD);
	return real_open64(path, flags, mode);
}

int openat(int dirfd, const char *path, int flags, ...)
{
	REAL(int, openat, int, const char *, int, ...);
	OPEN_BODY(openat, dirfd);
	return real_openat(dirfd, path, flags, mode);
}

int openat64(int dirfd, const char *path, int flags, ...)
{
	REAL(int, openat64, int, const char *, int, ...);
	OPEN_BODY(openat64, dirfd);
	return real_openat64(dirfd, path, flags, mode);
}

int creat(const char *path, mode_t mode)
{
	REAL(int, creat, const char *, mode_t);
	if (hit("creat", AT_FDCWD, path))
		FAIL();
	return real_creat(path, mode);
}

ssize_t write(int fd, const void *buf, size_t n)
{
	REAL(ssize_t, write, int, const void *, size_t);
	if (fd > 2 && fd_hit("write", fd))
		FAIL();
	return real_write(fd, buf, n);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
	REAL(ssize_t, pwrite, int, const void *, size_t, off_t);
	if (fd_hit("pwrite", fd))
		FAIL();
	return real_pwrite(fd, buf, n, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off)
{
	REAL(ssize_t, pwrite64, int, const void *, size_t, off_t);
	if (fd_hit("pwrite64", fd))
		FAIL();
	return real_pwrite64(fd, buf, n, off);
}

ssize_t writev(int fd, const struct iovec *iov, int n)
{
	REAL(ssize_t, writev, int, const struct iovec *, int);
	if (fd > 2 && fd_hit("writev", fd))
		FAIL();
	return real_writev(fd, iov, n);
}

int rename(const char *a, const char *b)
{
	REAL(int, rename, const char *, const char *);
	if (hit("rename", AT_FDCWD, b))
		FAIL();
	return real_rename(a, b);
}

int renameat(int ad, const char *a, int bd, const char *b)
{
	REAL(int, renameat, int, const char *, int, const char *);
	if (hit("renameat", bd, b))
		FAIL();
	return real_renameat(ad, a, bd, b);
}

int renameat2(int ad, const char *a, int bd, const char *b, unsigned flags)
{
	REAL(int, renameat2, int, const char *, int, const char *, unsigned);
	if (hit("renameat2", bd, b))
		FAIL();
	return real_renameat2(ad, a, bd, b, flags);
}

int unlink(const char *path)
{
	REAL(int, unlink, const char *);
	if (hit("unlink", AT_FDCWD, path))
		FAIL();
	return real_unlink(path);
}

int unlinkat(int dirfd, const char *path, int flags)
{
	REAL(int, unlinkat, int, const char *, int);
	if (hit("unlinkat", dirfd, path))
		FAIL();
	return real_unlinkat(dirfd, path, flags);
}

int rmdir(const char *path)
{
	REAL(int, rmdir, const char *);
	if (hit("rmdir", AT_FDCWD, path))
		FAIL();
	return real_rmdir(path);
}

int mkdir(const char *path, mode_t mode)
{
	REAL(int, mkdir, const char *, mode_t);
	if (hit("mkdir", AT_FDCWD, path))
		FAIL();
	return real_mkdir(path, mode);
}

int mkdirat(int dirfd, const char *path, mode_t mode)
{
	REAL(int, mkdirat, int, const char *, mode_t);
	if (hit("mkdirat", dirfd, path))
		FAIL();
	return real_mkdirat(dirfd, path, mode);
}

int symlink(const char *target, const char *path)
{
	REAL(int, symlink, const char *, const char *);
	if (hit("symlink", AT_FDCWD, path))
		FAIL();
	return real_symlink(target, path);
}

int symlinkat(const char *target, int dirfd, const char *path)
{
	REAL(int, symlinkat, const char *, int, const char *);
	if (hit("symlinkat", dirfd, path))
		FAIL();
	return real_symlinkat(target, dirfd, path);
}

int link(const char *a, const char *b)
{
	REAL(int, link, const char *, const char *);
	if (hit("link", AT_FDCWD, b))
		FAIL();
	return real_link(a, b);
}

int linkat(int ad, const char *a, int bd, const char *b, int flags)
{
	REAL(int, linkat, int, const char *, int, const char *, int);
	if (hit("linkat", bd, b))
		FAIL();
	return real_linkat(ad, a, bd, b, flags);
}

int mknodat(int dirfd, const char *path, mode_t mode, dev_t dev)
{
	REAL(int, mknodat, int, const char *, mode_t, dev_t);
	if (hit("mknodat", dirfd, path))
		FAIL();
	return real_mknodat(dirfd, path, mode, dev);
}

int fsync(int fd)
{
	REAL(int, fsync, int);
	if (fd_hit("fsync", fd))
		FAIL();
	return real_fsync(fd);
}

int fdatasync(int fd)
{
	REAL(int, fdatasync, int);
	if (fd_hit("fdatasync", fd))
		FAIL();
	return real_fdatasync(fd);
}

int syncfs(int fd)
{
	REAL(int, syncfs, int);
	if (fd_hit("syncfs", fd))
		FAIL();
	return real_syncfs(fd);
}

int ftruncate(int fd, off_t len)
{
	REAL(int, ftruncate, int, off_t);
	if (fd_hit("ftruncate", fd))
		FAIL();
	return real_ftruncate(fd, len);
}

int ftruncate64(int fd, off_t len)
{
	REAL(int, ftruncate64, int, off_t);
	if (fd_hit("ftruncate64", fd))
		FAIL();
	return real_ftruncate64(fd, len);
}

int fchmod(int fd, mode_t mode)
{
	REAL(int, fchmod, int, mode_t);
	if (fd_hit("fchmod", fd))
		FAIL();
	return real_fchmod(fd, mode);
}

int fchmodat(int dirfd, const char *path, mode_t mode, int flags)
{
	REAL(int, fchmodat, int, const char *, mode_t, int);
	if (hit("fchmodat", dirfd, path))
		FAIL();
	return real_fchmodat(dirfd, path, mode, flags);
}

int fchown(int fd, uid_t u, gid_t g)
{
	REAL(int, fchown, int, uid_t, gid_t);
	if (fd_hit("fchown", fd))
		FAIL();
	return real_fchown(fd, u, g);
}

int fchownat(int dirfd, const char *path, uid_t u, gid_t g, int flags)
{
	REAL(int, fchownat, int, const char *, uid_t, gid_t, int);
	if (hit("fchownat", dirfd, path))
		FAIL();
	return real_fchownat(dirfd, path, u, g, flags);
}

int futimens(int fd, const struct timespec ts[2])
{
	REAL(int, futimens, int, const struct timespec *);
	if (fd_hit("futimens", fd))
		FAIL();
	return real_futimens(fd, ts);
}

int utimensat(int dirfd, const char *path, const struct timespec ts[2], int flags)
{
	REAL(int, utimensat, int, const char *, const struct timespec *, int);
	if (hit("utimensat", dirfd, path))
		FAIL();
	return real_utimensat(dirfd, path, ts, flags);
}

ssize_t copy_file_range(int in, off_t *ioff, int out, off_t *ooff, size_t n, unsigned flags)
{
	REAL(ssize_t, copy_file_range, int, off_t *, int, off_t *, size_t, unsigned);
	if (fd_hit("copy_file_range", out))
		FAIL();
	return real_copy_file_range(in, ioff, out, ooff, n, flags);
}

int fsetxattr(int fd, const char *name, const void *v, size_t n, int flags)
{
	REAL(int, fsetxattr, int, const char *, const void *, size_t, int);
	if (fd_hit("fsetxattr", fd))
		FAIL();
	return real_fsetxattr(fd, name, v, n, flags);
}

int lsetxattr(const char *path, const char *name, const void *v, size_t n, int flags)
{
	REAL(int, lsetxattr, const char *, const char *, const void *, size_t, int);
	if (hit("lsetxattr", AT_FDCWD, path))
		FAIL();
	return real_lsetxattr(path, name, v, n, flags);
}

/* Only a descriptor open for writing counts: a close that can lose data. */
int close(int fd)
{
	REAL(int, close, int);
	int flags, r;

	flags = fi_active && fd > 2 ? fcntl(fd, F_GETFL) : -1;
	if (flags < 0 || (flags & O_ACCMODE) == O_RDONLY || !fd_hit("close", fd))
		return real_close(fd);
	r = real_close(fd);
	(void)r;
	FAIL();
}
