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
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../common/buf.h"
#include "../common/fsutil.h"
#include "../common/heartbeat.h"
#include "../common/log.h"
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

/*
 * The blobs of the last revision read, while git_source_keep() says so (the
 * daemon): the next fetch is told their ids (GIT_WIRE_HAVE) and answers
 * GIT_WIRE_KNOWN for each file whose blob is unchanged, so that a commit
 * that changes one file of a large repository moves one file through the
 * pipe, and a fetch of the same commit none.  An id names a blob's content:
 * a kept blob is right whatever repository, ref or path it came from.
 * Sorted by name.
 */
struct known_blob {
	char *name;
	char oid[GIT_WIRE_OID_HEX + 1];
	char *data;
	size_t len;
};

struct known_set {
	struct known_blob *v;
	size_t n, cap;
};

static struct known_set known;
static bool keep_known;

/* The GIT_WIRE_HAVE records' bytes at most (the fetch reads 1 MiB of input). */
#define HAVE_MAX ((size_t)512 << 10)

/* What the decoding of one answer keeps between records. */
struct decode {
	struct source_rev *rev;
	size_t cap;
	struct known_set next;		/* the blobs of this revision */
	char oid[GIT_WIRE_OID_HEX + 1]; /* the next file's (GIT_WIRE_OID), or "" */
	size_t sent, reused;
	int result;
};

/* One fetch: the child's output and how it ended. */
struct fetch_job {
	const struct bramble_config *cfg;
	struct timespec deadline; /* CLOCK_MONOTONIC */
	unsigned timeout_s;
	struct buf stream;
	bool answered; /* the stream ends with its GIT_WIRE_RESULT record */
	int status;    /* the child's wait status, when reaped */
	bool reaped;
};

/*
 * The fetch process.  While git_source_keep() says so (the daemon), one
 * process serves one request after another on a socket (its stdin and
 * stdout): a pass then does not pay for an exec, the dynamic linking of
 * bramble's fifty libraries and libgit2's start (whose TLS set-up reads the
 * system's CA list).  A fetch that times out, is stopped or gets no whole
 * answer kills it, and the next fetch starts another; one found ended while
 * idle is replaced.  It is retired after FETCH_REUSE_MAX requests, with
 * whatever memory libgit2 kept.  Otherwise each fetch starts a process and
 * ends it by closing its input.
 */
static struct {
	pid_t pid; /* 0: none */
	int fd;	   /* this end of its socket */
	unsigned served;
} fetcher = {0, -1, 0};

#define FETCH_REUSE_MAX 1000

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

/*
 * Wait up to 250 ms for the fetch process's socket to be ready for events:
 * 1 ready, 0 not yet (call again), -ETIMEDOUT past the deadline, -ECANCELED
 * on a stop request.  A SIGTERM interrupts the poll; the short wait covers
 * one that came just before it.
 */
static int fetcher_wait(const struct fetch_job *f, short events)
{
	struct pollfd p = {.fd = fetcher.fd, .events = events};
	long ms;
	int r;

	ms = ms_left(&f->deadline);
	if (ms <= 0)
		return -ETIMEDOUT;
	if (stop_requested())
		return -ECANCELED;
	r = poll(&p, 1, (int)(ms > 250 ? 250 : ms));
	if (r < 0 && errno != EINTR)
		return -errno;
	return r > 0;
}

/*
 * Read the fetch process's answer until its GIT_WIRE_RESULT record
 * (f->answered), or until it closes the socket (it ended without one: the
 * decoding says so); -ETIMEDOUT at the deadline.
 */
static int stream_collect(struct fetch_job *f)
{
	char chunk[32768];
	size_t scanned = 0;
	ssize_t n;
	int r;

	buf_set_max(&f->stream, GIT_STREAM_MAX);
	for (;;) {
		heartbeat();
		r = fetcher_wait(f, POLLIN);
		if (r < 0)
			return r;
		if (r == 0)
			continue;
		n = read(fetcher.fd, chunk, sizeof(chunk));
		if (n < 0 && errno != EINTR && errno != EAGAIN)
			return -errno;
		if (n == 0)
			return 0;
		r = n > 0 ? buf_add(&f->stream, chunk, (size_t)n) : 0;
		if (r == 0 && n > 0)
			r = git_wire_scan(f->stream.data, f->stream.len, &scanned, GIT_WIRE_RESULT);
		if (r == -EBADMSG) /* the decoding says it is malformed */
			return 0;
		if (r != 0) {
			f->answered = r > 0;
			return r < 0 ? r : 0;
		}
	}
}

/* Send the request within the deadline. */
static int request_send(struct fetch_job *f, const struct buf *req)
{
	size_t off = 0;
	ssize_t n;
	int r;

	while (off < req->len) {
		r = fetcher_wait(f, POLLOUT);
		if (r < 0)
			return r;
		if (r == 0)
			continue;
		n = send(fetcher.fd, req->data + off, req->len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno != EINTR && errno != EAGAIN)
			return -errno;
		if (n > 0)
			off += (size_t)n;
	}
	return 0;
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
		r = source_diag(d, -EIO, "cannot talk to the git fetch process: %s", strerror(-r));
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

static void known_release(struct known_set *k)
{
	while (k->n > 0) {
		k->n--;
		free(k->v[k->n].name);
		free(k->v[k->n].data);
	}
	free(k->v);
	memset(k, 0, sizeof(*k));
}

/* The blobs this process holds, as GIT_WIRE_HAVE records (as many as HAVE_MAX allows). */
static int fetch_have(struct buf *out)
{
	size_t i, start = out->len;
	int r = 0;

	for (i = 0; r == 0 && i < known.n; i++) {
		if (out->len - start > HAVE_MAX)
			break;
		r = git_wire_add(out, GIT_WIRE_HAVE, known.v[i].name, known.v[i].oid,
				 GIT_WIRE_OID_HEX);
	}
	return r;
}

/*
 * A request: the settings, the blobs this process holds, the end.  On the
 * socket, not in argv: the URL may hold a password, and argv is
 * world-readable in /proc.
 */
static int request_make(const struct fetch_job *f, struct buf *req)
{
	int r;

	r = fetch_settings(f, req);
	if (r == 0)
		r = fetch_have(req);
	if (r == 0)
		r = git_wire_add(req, GIT_WIRE_END, "", NULL, 0);
	return r;
}

/*
 * Start the fetch process: posix_spawn (a vfork-like clone: the daemon's
 * tens of megabytes of page tables are not copied, nor its pages made
 * copy-on-write, as a fork would) of bramble's own binary with its end of
 * the socket on its stdin and stdout, no signal blocked and every signal
 * this process catches back to its default.  The process ignores SIGTERM,
 * SIGINT, SIGHUP and SIGPIPE itself and sets its parent-death signal, first
 * thing (git_mirror_main()), checking that its parent is still this
 * process: it never outlives the lock the parent holds.
 */
static int fetch_spawn(int fd, pid_t *ret_pid)
{
	static char arg0[] = "bramble", arg1[] = GIT_SOURCE_FETCH_COMMAND;
	char exe[64], parent[32];
	char *argv[] = {arg0, arg1, parent, NULL};
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, all;
	int r;

	snprintf(exe, sizeof(exe), "/proc/self/fd/%d", exe_fd);
	snprintf(parent, sizeof(parent), "%ld", (long)getpid());
	sigemptyset(&none);
	sigfillset(&all);
	r = posix_spawn_file_actions_init(&fa);
	if (r)
		return -r;
	r = posix_spawnattr_init(&attr);
	if (r) {
		posix_spawn_file_actions_destroy(&fa);
		return -r;
	}
	r = posix_spawn_file_actions_adddup2(&fa, fd, STDIN_FILENO);
	if (!r)
		r = posix_spawn_file_actions_adddup2(&fa, fd, STDOUT_FILENO);
	if (!r)
		r = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	if (!r)
		r = posix_spawnattr_setsigmask(&attr, &none);
	if (!r)
		r = posix_spawnattr_setsigdefault(&attr, &all);
	if (!r)
		r = posix_spawn(ret_pid, exe, &fa, &attr, argv, environ);
	posix_spawnattr_destroy(&attr);
	posix_spawn_file_actions_destroy(&fa);
	return -r;
}

/* A running fetch process: the kept one, unless it ended while idle, or a new one. */
static int fetcher_start(struct diags *d)
{
	int fds[2] = {-1, -1}, r;
	pid_t pid = 0;

	if (fetcher.pid > 0 && waitpid(fetcher.pid, NULL, WNOHANG) == fetcher.pid) {
		close(fetcher.fd);
		fetcher.pid = 0;
		fetcher.fd = -1;
	}
	if (fetcher.pid > 0)
		return 0;
	r = git_source_init();
	if (r == 0 && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0)
		r = -errno;
	if (r == 0)
		r = fd_above_stdio(&fds[1]);
	if (r == 0) {
		r = fetch_spawn(fds[1], &pid);
		if (r < 0 && r != -ENOMEM)
			r = source_diag(d, -EIO,
					"cannot run the git fetch process (bramble %s): %s",
					GIT_SOURCE_FETCH_COMMAND, strerror(-r));
	}
	if (fds[1] >= 0)
		close(fds[1]);
	if (r < 0) {
		if (fds[0] >= 0)
			close(fds[0]);
		return r;
	}
	fetcher.pid = pid;
	fetcher.fd = fds[0];
	fetcher.served = 0;
	return 0;
}

/*
 * End the fetch process: close its input (between requests it exits) and
 * reap it, or kill it first (kill_now); f (if not NULL) gets its status.
 */
static void fetcher_end(struct fetch_job *f, bool kill_now)
{
	struct fetch_job none;

	if (fetcher.pid <= 0)
		return;
	if (!f) {
		memset(&none, 0, sizeof(none));
		clock_gettime(CLOCK_MONOTONIC, &none.deadline);
		none.deadline.tv_sec += 5;
		f = &none;
	}
	close(fetcher.fd);
	reap(f, fetcher.pid, kill_now);
	fetcher.pid = 0;
	fetcher.fd = -1;
	fetcher.served = 0;
}

/* Send the request to the fetch process and collect its answer, within the deadline. */
static int mirror_ask(struct fetch_job *f, struct diags *d)
{
	struct buf req = BUF_INIT;
	bool reused;
	int r;

	r = request_make(f, &req);
	if (r == 0)
		r = fetcher_start(d);
	if (r < 0) /* said, if it could be */
		goto out;
	reused = fetcher.served > 0;
	r = request_send(f, &req);
	if ((r == -EPIPE || r == -ECONNRESET) && reused) { /* it ended since: another one */
		fetcher_end(NULL, true);
		r = fetcher_start(d);
		if (r < 0)
			goto out;
		r = request_send(f, &req);
	}
	if (r == 0)
		r = stream_collect(f);
	if (r < 0 || !f->answered)
		fetcher_end(f, true); /* without a whole answer: child_died() says how it ended */
	else if (!keep_known || ++fetcher.served >= FETCH_REUSE_MAX)
		fetcher_end(f, false);
	if (r < 0)
		r = spawn_failed(f, r, d);
out:
	if (req.data) /* the URL may hold a password */
		explicit_bzero(req.data, req.len);
	buf_release(&req);
	return r;
}

void git_source_keep(bool on)
{
	keep_known = on;
	if (!on) {
		known_release(&known);
		fetcher_end(NULL, false);
	}
}

/* Add a file to the revision: a copy of data (len bytes), or NULL for a blob over the limit. */
static int rev_add_file(struct decode *dc, const char *name_in, const char *data_in, size_t len)
{
	struct source_rev *rev = dc->rev;
	struct manifest_file *v = rev->files, *mf = NULL;
	char *name = NULL, *data = NULL;

	if (rev->n_files == dc->cap) {
		size_t n = dc->cap ? dc->cap * 2 : 64;

		if (n > MANIFEST_MAX_FILES + 1)
			return -EBADMSG;
		v = realloc(rev->files, n * sizeof(*v));
		if (!v)
			return -ENOMEM;
		rev->files = v;
		dc->cap = n;
	}
	name = strdup(name_in);
	if (name && data_in) {
		data = malloc(len + 1);
		if (data) {
			memcpy(data, data_in, len);
			data[len] = '\0';
		}
	}
	if (!name || (data_in && !data)) {
		free(name);
		free(data);
		return -ENOMEM;
	}
	mf = &rev->files[rev->n_files++];
	mf->name = name;
	mf->data = data;
	mf->len = data ? len : MANIFEST_MAX_FILE_SIZE + 1;
	return 0;
}

/* Keep a blob of this revision for the next fetch: data copied, or taken from kb. */
static int known_add(struct known_set *k, const char *oid, const char *name, const char *data,
		     size_t len, struct known_blob *kb)
{
	struct known_blob *v = k->v, *e;

	if (k->n == k->cap) {
		size_t n = k->cap ? k->cap * 2 : 64;

		v = realloc(k->v, n * sizeof(*v));
		if (!v)
			return -ENOMEM;
		k->v = v;
		k->cap = n;
	}
	e = &k->v[k->n];
	memset(e, 0, sizeof(*e));
	memcpy(e->oid, oid, GIT_WIRE_OID_HEX);
	e->name = strdup(kb ? kb->name : name);
	e->data = kb ? kb->data : malloc(len + 1); /* kb's data is taken: it stays sorted by name */
	if (!e->name || !e->data) {
		free(e->name);
		if (!kb)
			free(e->data);
		return -ENOMEM;
	}
	if (kb)
		kb->data = NULL;
	else
		memcpy(e->data, data, len);
	e->data[len] = '\0';
	e->len = len;
	k->n++;
	return 0;
}

static int known_find(const void *key, const void *elem)
{
	return strcmp(key, ((const struct known_blob *)elem)->name);
}

/* A file sent whole: in the revision, and kept when it came with its id. */
static int decode_file(struct decode *dc, const struct git_wire_rec *rec)
{
	int r;

	r = rev_add_file(dc, rec->text, rec->data, rec->len);
	if (r == 0 && keep_known && dc->oid[0])
		r = known_add(&dc->next, dc->oid, rec->text, rec->data, rec->len, NULL);
	dc->oid[0] = '\0';
	dc->sent++;
	return r;
}

/* A file whose blob this process holds (GIT_WIRE_KNOWN): the kept copy. */
static int decode_known(struct decode *dc, const struct git_wire_rec *rec)
{
	struct known_blob *kb =
		known.n ? bsearch(rec->text, known.v, known.n, sizeof(*known.v), known_find) : NULL;
	int r;

	/* an id this process never sent, or a blob already taken: not our answer */
	if (!git_wire_is_oid(rec->data, rec->len) || !kb || !kb->data ||
	    memcmp(kb->oid, rec->data, GIT_WIRE_OID_HEX) != 0)
		return -EBADMSG;
	r = rev_add_file(dc, rec->text, kb->data, kb->len);
	if (r == 0)
		r = known_add(&dc->next, kb->oid, NULL, NULL, kb->len, kb);
	dc->reused++;
	return r;
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

static int decode_rec(struct decode *dc, const struct git_wire_rec *rec, struct diags *d)
{
	struct source_rev *rev = dc->rev;

	switch (rec->type) {
	case GIT_WIRE_FILE:
		return decode_file(dc, rec);
	case GIT_WIRE_LARGE:
		return rev_add_file(dc, rec->text, NULL, 0);
	case GIT_WIRE_OID:
		if (!git_wire_is_oid(rec->text, strlen(rec->text)))
			return -EBADMSG;
		memcpy(dc->oid, rec->text, sizeof(dc->oid));
		return 0;
	case GIT_WIRE_KNOWN:
		return decode_known(dc, rec);
	case GIT_WIRE_DIAG:
		return diags_add(d, NULL, "%s", rec->text);
	case GIT_WIRE_REVISION:
		free(rev->revision);
		rev->revision = strdup(rec->text);
		return rev->revision ? 0 : -ENOMEM;
	case GIT_WIRE_RESULT:
		return parse_result(rec->text, &dc->result);
	case GIT_WIRE_SETTING:
	case GIT_WIRE_HAVE:
	case GIT_WIRE_END:
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

static int known_cmp(const void *a, const void *b)
{
	return strcmp(((const struct known_blob *)a)->name, ((const struct known_blob *)b)->name);
}

/*
 * After an answer: the blobs of this revision are the ones kept (a failed
 * answer keeps none: the next fetch sends everything).
 */
static void known_settle(struct decode *dc, int r)
{
	known_release(&known);
	if (r == 0 && keep_known) {
		known = dc->next;
		if (known.n > 1)
			qsort(known.v, known.n, sizeof(*known.v), known_cmp);
	} else {
		known_release(&dc->next);
	}
	memset(&dc->next, 0, sizeof(dc->next));
	if (r == 0 && keep_known)
		log_debug("the git fetch sent %zu manifest files whole, %zu by their blob id alone",
			  dc->sent, dc->reused);
}

static int stream_decode(struct fetch_job *f, struct source_rev *rev, struct diags *d)
{
	struct git_wire_rec rec;
	struct decode dc;
	size_t off = 0;
	int r;

	memset(&dc, 0, sizeof(dc));
	dc.rev = rev;
	dc.result = 1; /* 1: no result record */
	do {
		r = git_wire_next(f->stream.data, f->stream.len, &off, &rec);
		if (r == 0)
			r = decode_rec(&dc, &rec, d);
	} while (r == 0);
	if (r == -EBADMSG) {
		r = diags_add(d, NULL, "the git fetch process sent a malformed answer");
		r = r < 0 ? r : -EIO;
	} else if (r == -ENOENT && (dc.result > 0 || (dc.result == 0 && !rev->revision))) {
		r = child_died(f, d);
	} else if (r == -ENOENT) {
		r = dc.result;
	}
	if (r == 0 && rev->n_files > 1)
		qsort(rev->files, rev->n_files, sizeof(*rev->files), name_cmp);
	known_settle(&dc, r);
	return r;
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
		r = mirror_ask(&f, d);
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
