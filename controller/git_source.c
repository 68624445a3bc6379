/*
 * git_source: the parent side.  It takes <state>/git-cache.lock, starts the
 * fetch process (`bramble __fetch`, git_mirror.h), hands it the settings it
 * needs on its stdin, reads its records until the deadline and kills it past
 * that, then builds the source_rev from the records.  libgit2 is only ever
 * called in that process, which is a fresh exec of bramble's own binary: no
 * thread, lock or OpenSSL state of this (perhaps threaded) process goes with
 * it, a hung fetch costs a kill, and the daemon's own state never depends on
 * libgit2's.
 */
#include "git_source.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../common/buf.h"
#include "../common/fsutil.h"
#include "../common/heartbeat.h"
#include "../common/stop.h"
#include "download.h"
#include "git_mirror.h"
#include "git_url.h"
#include "git_wire.h"

#define GIT_STREAM_MAX	(MANIFEST_MAX_TOTAL_SIZE + ((size_t)64 << 20))
#define GIT_POLL_MS	50
#define GIT_EXEC_FAILED 127 /* the exit status of a child that could not exec */

extern char **environ;

/* bramble's own binary, opened once: the fetch process is a fresh exec of it. */
static int exe_fd = -1;

/* One fetch: the child's output and how it ended. */
struct fetch_job {
	const struct bramble_config *cfg;
	struct timespec deadline; /* CLOCK_MONOTONIC */
	unsigned timeout_s;
	struct buf stream;
	int status; /* the child's wait status, when reaped */
	bool reaped;
};

static long ms_left(const struct timespec *deadline)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (long)(deadline->tv_sec - now.tv_sec) * 1000 +
	       (deadline->tv_nsec - now.tv_nsec) / 1000000;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};

	nanosleep(&ts, NULL);
}

static int source_diag(struct diags *d, int r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Add a message to d and return r (or -ENOMEM). */
static int source_diag(struct diags *d, int r, const char *fmt, ...)
{
	va_list ap;
	int q;

	va_start(ap, fmt);
	q = diags_vadd(d, NULL, fmt, ap);
	va_end(ap);
	return q < 0 ? q : r;
}

/* Take the lock, waiting for another bramble process until the deadline. */
static int lock_wait(int fd, const struct timespec *deadline)
{
	for (;;) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			return 0;
		if (errno != EWOULDBLOCK && errno != EINTR)
			return -errno;
		if (ms_left(deadline) <= 0)
			return -EWOULDBLOCK;
		if (stop_requested())
			return -ECANCELED;
		heartbeat();
		sleep_ms(GIT_POLL_MS);
	}
}

/*
 * Hold <state>/git-cache.lock for the whole fetch: two bramble processes
 * (the daemon and a manual apply) never write the cache at once, and a lock
 * file found inside the cache can only be a leftover.
 */
static int cache_lock(struct fetch_job *f, int *ret_fd, struct diags *d)
{
	const char *state = f->cfg->state_dir;
	char *path = NULL;
	int fd = -1, r;

	r = mkdir_p(state, 0755);
	if (r < 0) {
		r = source_diag(d, -EIO, "cannot create the state directory %s: %s", state,
				strerror(-r));
		goto out;
	}
	path = path_join(state, GIT_CACHE_DIR ".lock");
	if (!path) {
		r = -ENOMEM;
		goto out;
	}
	fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	r = fd < 0 ? -errno : lock_wait(fd, &f->deadline);
	if (r == -EWOULDBLOCK)
		r = source_diag(d, -EIO,
				"the git cache is locked by another bramble process (%s); expected "
				"it to be free within source.timeout",
				path);
	else if (r < 0)
		r = source_diag(d, -EIO, "cannot lock %s: %s", path, strerror(-r));
	if (r == 0) {
		*ret_fd = fd;
		fd = -1;
	}
out:
	if (fd >= 0)
		close(fd);
	free(path);
	return r;
}

/* Read the child's records until it closes the pipe; -ETIMEDOUT at the deadline. */
static int stream_collect(struct fetch_job *f, int fd)
{
	char chunk[32768];
	struct pollfd p;
	ssize_t n;
	long ms;
	int r;

	buf_set_max(&f->stream, GIT_STREAM_MAX);
	for (;;) {
		ms = ms_left(&f->deadline);
		if (ms <= 0)
			return -ETIMEDOUT;
		if (stop_requested())
			return -ECANCELED;
		heartbeat();
		p.fd = fd;
		p.events = POLLIN;
		p.revents = 0;
		/* a SIGTERM interrupts the poll; the short wait covers one just before it */
		r = poll(&p, 1, (int)(ms > 250 ? 250 : ms));
		if (r < 0 && errno != EINTR)
			return -errno;
		if (r <= 0)
			continue;
		n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno != EINTR && errno != EAGAIN)
			return -errno;
		if (n == 0)
			return 0;
		r = n > 0 ? buf_add(&f->stream, chunk, (size_t)n) : 0;
		if (r < 0)
			return r;
	}
}

/* Wait for the child until the deadline, then kill it. */
static void reap(struct fetch_job *f, pid_t pid, bool kill_now)
{
	pid_t r;

	if (kill_now)
		kill(pid, SIGKILL);
	for (;;) {
		r = waitpid(pid, &f->status, kill_now ? 0 : WNOHANG);
		if (r == pid || (r < 0 && errno != EINTR))
			break;
		if (r == 0 && ms_left(&f->deadline) <= 0) {
			kill(pid, SIGKILL);
			kill_now = true;
		} else if (r == 0) {
			sleep_ms(1);
		}
	}
	f->reaped = r == pid;
}

/* Say why reading from the fetch process failed. */
static int spawn_failed(const struct fetch_job *f, int r, struct diags *d)
{
	char *url = NULL;

	if (r == -ETIMEDOUT) {
		r = git_url_redact(f->cfg->source, &url);
		if (r == 0)
			r = source_diag(d, -EIO,
					"fetching from %s timed out after %u s; expected an answer "
					"within source.timeout",
					url, f->timeout_s);
	} else if (r == -ECANCELED) {
		r = source_diag(d, -EIO, "the git fetch was stopped (SIGTERM)");
	} else if (r == -E2BIG) {
		r = source_diag(d, -EINVAL, "the repository holds more than %zu bytes of manifests",
				GIT_STREAM_MAX);
	} else if (r != -ENOMEM) {
		r = source_diag(d, -EIO, "cannot read from the git fetch process: %s",
				strerror(-r));
	}
	free(url);
	return r;
}

int git_source_init(void)
{
	if (exe_fd >= 0)
		return 0;
	exe_fd = open("/proc/self/exe", O_PATH | O_CLOEXEC);
	return exe_fd < 0 ? -errno : 0;
}

/* The settings of cfg that the fetch process reads, as GIT_WIRE_SETTING records. */
static int fetch_settings(const struct fetch_job *f, struct buf *out)
{
	static const struct {
		const char *key;
		size_t offset;
	} keys[] = {
#define KEY(k, field) {k, offsetof(struct bramble_config, field)}
		KEY("source.url", source),
		KEY("source.ref", source_ref),
		KEY("source.path", source_path),
		KEY("source.username", source_username),
		KEY("source.tokenFile", source_token_file),
		KEY("source.sshKeyFile", source_ssh_key_file),
		KEY("source.knownHostsFile", source_known_hosts),
		KEY("source.caFile", source_ca_file),
		KEY("paths.stateDir", state_dir),
#undef KEY
	};
	struct buf a = BUF_INIT;
	const char *v = NULL;
	size_t i;
	int r;

	r = buf_printf(&a, "source.timeout=%us", f->timeout_s);
	if (r == 0)
		r = git_wire_add(out, GIT_WIRE_SETTING, buf_str(&a), NULL, 0);
	for (i = 0; r == 0 && i < sizeof(keys) / sizeof(keys[0]); i++) {
		v = *(char *const *)(const void *)((const char *)f->cfg + keys[i].offset);
		if (!v)
			continue;
		buf_truncate(&a, 0);
		r = buf_printf(&a, "%s=%s", keys[i].key, v);
		if (r == 0)
			r = git_wire_add(out, GIT_WIRE_SETTING, buf_str(&a), NULL, 0);
	}
	if (a.data) /* the URL may hold a password */
		explicit_bzero(a.data, a.len);
	buf_release(&a);
	return r;
}

/* Move *fd above stdin, stdout and stderr, so that dup2 onto them cannot clobber it. */
static int fd_above_stdio(int *fd)
{
	int n;

	if (*fd > STDERR_FILENO)
		return 0;
	n = fcntl(*fd, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
	if (n < 0)
		return -errno;
	close(*fd);
	*fd = n;
	return 0;
}

/*
 * The fetch process's stdin: a memory file with its settings.  Not argv:
 * the URL may hold a password, and argv is world-readable in /proc.
 */
static int fetch_input(const struct fetch_job *f, int *ret_fd)
{
	struct buf b = BUF_INIT;
	int fd = -1, r;

	r = fetch_settings(f, &b);
	if (r == 0) {
		fd = memfd_create("bramble-fetch", MFD_CLOEXEC);
		r = fd < 0 ? -errno : fd_above_stdio(&fd);
	}
	if (r == 0)
		r = write_all(fd, b.data, b.len);
	if (r == 0 && lseek(fd, 0, SEEK_SET) < 0)
		r = -errno;
	if (b.data)
		explicit_bzero(b.data, b.len);
	buf_release(&b);
	if (r < 0 && fd >= 0)
		close(fd);
	if (r == 0)
		*ret_fd = fd;
	return r;
}

/*
 * In the forked child: only async-signal-safe calls until the exec.  The
 * ignored signals stay ignored across it (a SIGTERM to the whole group, from
 * systemd, lets the fetch finish, as the parent does), and so does the
 * parent-death signal: the fetch never outlives the lock the parent holds.
 */
__attribute__((noreturn)) static void fetch_exec(int in, int out, pid_t parent)
{
	static char arg0[] = "bramble", arg1[] = GIT_SOURCE_FETCH_COMMAND;
	char *argv[] = {arg0, arg1, NULL};

	signal(SIGTERM, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
		_exit(1);
	if (dup2(in, STDIN_FILENO) < 0 || dup2(out, STDOUT_FILENO) < 0)
		_exit(GIT_EXEC_FAILED);
	fexecve(exe_fd, argv, environ);
	_exit(GIT_EXEC_FAILED);
}

/* Start the fetch process and collect what it sends, within the deadline. */
static int mirror_spawn(struct fetch_job *f, struct diags *d)
{
	pid_t parent = getpid(), pid;
	int in = -1, fds[2] = {-1, -1}, r;

	r = git_source_init();
	if (r == 0)
		r = fetch_input(f, &in);
	if (r == 0 && pipe2(fds, O_CLOEXEC) < 0)
		r = -errno;
	if (r == 0)
		r = fd_above_stdio(&fds[1]);
	if (r < 0)
		goto out;
	pid = fork();
	if (pid < 0) {
		r = -errno;
		goto out;
	}
	if (pid == 0)
		fetch_exec(in, fds[1], parent);
	close(fds[1]);
	fds[1] = -1;
	r = stream_collect(f, fds[0]);
	reap(f, pid, r < 0);
	if (r < 0)
		r = spawn_failed(f, r, d);
out:
	if (in >= 0)
		close(in);
	if (fds[0] >= 0)
		close(fds[0]);
	if (fds[1] >= 0)
		close(fds[1]);
	return r;
}

static int rev_add_file(struct source_rev *rev, size_t *cap, const struct git_wire_rec *rec)
{
	struct manifest_file *v = rev->files, *mf = NULL;
	char *name = NULL, *data = NULL;

	if (rev->n_files == *cap) {
		size_t n = *cap ? *cap * 2 : 64;

		if (n > MANIFEST_MAX_FILES + 1)
			return -EBADMSG;
		v = realloc(rev->files, n * sizeof(*v));
		if (!v)
			return -ENOMEM;
		rev->files = v;
		*cap = n;
	}
	name = strdup(rec->text);
	if (name && rec->type == GIT_WIRE_FILE) {
		data = malloc(rec->len + 1);
		if (data) {
			memcpy(data, rec->data, rec->len);
			data[rec->len] = '\0';
		}
	}
	if (!name || (rec->type == GIT_WIRE_FILE && !data)) {
		free(name);
		return -ENOMEM;
	}
	mf = &rev->files[rev->n_files++];
	mf->name = name;
	mf->data = data;
	mf->len = data ? rec->len : MANIFEST_MAX_FILE_SIZE + 1;
	return 0;
}

static int parse_result(const char *text, int *ret)
{
	char *end = NULL;
	long v;

	errno = 0;
	v = strtol(text, &end, 10);
	if (errno || end == text || *end || v > 0 || v < -4095)
		return -EBADMSG;
	*ret = (int)v;
	return 0;
}

static int decode_rec(struct source_rev *rev, size_t *cap, const struct git_wire_rec *rec,
		      struct diags *d, int *result)
{
	switch (rec->type) {
	case GIT_WIRE_FILE:
	case GIT_WIRE_LARGE:
		return rev_add_file(rev, cap, rec);
	case GIT_WIRE_DIAG:
		return diags_add(d, NULL, "%s", rec->text);
	case GIT_WIRE_REVISION:
		free(rev->revision);
		rev->revision = strdup(rec->text);
		return rev->revision ? 0 : -ENOMEM;
	case GIT_WIRE_RESULT:
		return parse_result(rec->text, result);
	case GIT_WIRE_SETTING:
		break;
	}
	return -EBADMSG;
}

/* The child ended without a result record: say how. */
static int child_died(const struct fetch_job *f, struct diags *d)
{
	int r;

	if (f->reaped && WIFSIGNALED(f->status))
		r = diags_add(d, NULL, "the git fetch process was killed by signal %d",
			      WTERMSIG(f->status));
	else if (f->reaped && WIFEXITED(f->status) && WEXITSTATUS(f->status) == GIT_EXEC_FAILED)
		r = diags_add(d, NULL, "cannot run the git fetch process (bramble %s)",
			      GIT_SOURCE_FETCH_COMMAND);
	else if (f->reaped && WIFEXITED(f->status))
		r = diags_add(d, NULL, "the git fetch process failed (exit status %d)",
			      WEXITSTATUS(f->status));
	else
		r = diags_add(d, NULL, "the git fetch process ended without an answer");
	return r < 0 ? r : -EIO;
}

static int name_cmp(const void *a, const void *b)
{
	const struct manifest_file *x = a, *y = b;

	return strcmp(x->name, y->name);
}

static int stream_decode(struct fetch_job *f, struct source_rev *rev, struct diags *d)
{
	struct git_wire_rec rec;
	size_t off = 0, cap = 0;
	int r, result = 1; /* 1: no result record */

	do {
		r = git_wire_next(f->stream.data, f->stream.len, &off, &rec);
		if (r == 0)
			r = decode_rec(rev, &cap, &rec, d, &result);
	} while (r == 0);
	if (r == -EBADMSG) {
		r = diags_add(d, NULL, "the git fetch process sent a malformed answer");
		return r < 0 ? r : -EIO;
	}
	if (r != -ENOENT)
		return r;
	if (result > 0)
		return child_died(f, d);
	if (result == 0 && !rev->revision)
		return child_died(f, d);
	if (result == 0 && rev->n_files > 1)
		qsort(rev->files, rev->n_files, sizeof(*rev->files), name_cmp);
	return result;
}

int git_source_read(const struct bramble_config *cfg, struct source_rev *ret, struct diags *d)
{
	struct fetch_job f;
	char *revision = NULL;
	int lock_fd = -1, r;

	memset(ret, 0, sizeof(*ret));
	memset(&f, 0, sizeof(f));
	f.cfg = cfg;
	f.timeout_s = cfg->timeout_s ? cfg->timeout_s : GIT_DEFAULT_TIMEOUT_S;
	clock_gettime(CLOCK_MONOTONIC, &f.deadline);
	f.deadline.tv_sec += f.timeout_s;
	if (!cfg->source || !cfg->state_dir) {
		r = diags_add(d, NULL, "no %s; expected %s",
			      cfg->source ? "state directory" : "source",
			      cfg->source ? "paths.stateDir" : "source.url");
		return r < 0 ? r : -EINVAL;
	}
	r = cache_lock(&f, &lock_fd, d);
	if (r == 0)
		r = mirror_spawn(&f, d);
	if (r == 0)
		r = stream_decode(&f, ret, d);
	if (lock_fd >= 0)
		close(lock_fd);
	buf_release(&f.stream);
	if (r < 0) {
		/* a revision that was read but is not valid is still the one attempted */
		if (r == -EINVAL) {
			revision = ret->revision;
			ret->revision = NULL;
		}
		source_rev_release(ret);
		ret->revision = revision;
	}
	return r;
}
