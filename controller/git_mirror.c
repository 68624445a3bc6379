#include "git_mirror.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "../common/fsutil.h"
#include "git_url.h"
#include "model.h"
#include "git_wire.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#define MIRROR_LEAK_CHECK  1
#define MIRROR_NO_AS_LIMIT 1 /* ASan reserves terabytes of shadow address space */
#endif

/*
 * The fetch process's memory: its address space is limited, so that a
 * hostile repository (a 1 GB blob, which libgit2 inflates whole while it
 * indexes the pack) makes the fetch fail with "out of memory" instead of
 * growing the controller's memory by the blob's size; and pack files are
 * mapped through small windows.  The limit leaves room for the largest
 * revision bramble accepts (MANIFEST_MAX_TOTAL_SIZE, held twice while its
 * records grow) and libgit2's own needs.
 */
#define FETCH_AS_MAX	    ((rlim_t)1 << 30)
#define FETCH_MWINDOW_SIZE  ((size_t)32 << 20)
#define FETCH_MWINDOW_LIMIT ((size_t)128 << 20)

#define TOKEN_MAX	 ((size_t)64 << 10)
#define SETTINGS_MAX	 ((size_t)1 << 20)
#define CA_MAX		 ((size_t)16 << 20)
#define SYSTEM_CA_BUNDLE "/etc/ssl/certs/ca-certificates.crt"

int git_mirror_error(const struct git_mirror *m, struct buf *b)
{
	const git_error *e = git_error_last();
	int r = buf_adds(b, e && e->message ? e->message : "unknown error");

	if (r == 0)
		r = git_url_scrub(b, m->cfg->source, m->shown_url);
	if (r == 0)
		r = git_url_scrub(b, m->url_password, "***");
	if (r == 0)
		r = git_url_scrub(b, m->token, "***");
	return r;
}

int git_mirror_broken(struct git_mirror *m, bool fresh, const char *what)
{
	struct buf msg = BUF_INIT;
	int r;

	if (!fresh)
		return -EAGAIN;
	r = git_mirror_error(m, &msg);
	if (r == 0)
		r = diags_add(&m->d, NULL, "cannot read %s from the git cache %s: %s", what,
			      m->cache_path, buf_str(&msg));
	buf_release(&msg);
	return r < 0 ? r : -EIO;
}

/* source.tokenFile, without the line end an editor leaves. */
static int read_token(struct git_mirror *m)
{
	const char *file = m->cfg->source_token_file;
	size_t len = 0;
	int r;

	r = file_read(file, TOKEN_MAX, &m->token, &len);
	if (r < 0) {
		r = diags_add(&m->d, NULL, "cannot read source.tokenFile \"%s\": %s", file,
			      file_read_strerror(r));
		return r < 0 ? r : -EIO;
	}
	while (len > 0 && strchr("\r\n\t ", m->token[len - 1]))
		m->token[--len] = '\0';
	return 0;
}

static int mirror_init(struct git_mirror *m, const struct bramble_config *cfg)
{
	int r;

	m->cfg = cfg;
	m->state_fd = -1;
	m->ref = cfg->source_ref && *cfg->source_ref ? cfg->source_ref : "main";
	m->ssh_port = git_url_ssh_port(cfg->source);
	r = git_url_redact(cfg->source, &m->shown_url);
	if (r == 0)
		r = git_url_password(cfg->source, &m->url_password);
	if (r == 0) {
		m->cache_path = path_join(cfg->state_dir, GIT_CACHE_DIR);
		r = m->cache_path ? 0 : -ENOMEM;
	}
	if (r == 0) {
		m->state_fd = open(cfg->state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		r = m->state_fd < 0 ? -errno : 0;
	}
	if (r < 0 && r != -ENOMEM) {
		r = diags_add(&m->d, NULL, "cannot open the state directory %s: %s", cfg->state_dir,
			      strerror(-r));
		r = r < 0 ? r : -EIO;
	}
	if (r == 0 && cfg->source_token_file)
		r = read_token(m);
	return r;
}

static void mirror_release(struct git_mirror *m)
{
	if (m->token)
		explicit_bzero(m->token, strlen(m->token));
	free(m->token);
	free(m->shown_url);
	free(m->url_password);
	free(m->cache_path);
	free(m->revision);
	while (m->n_have > 0)
		free(m->have[--m->n_have].name);
	free(m->have);
	if (m->state_fd >= 0)
		close(m->state_fd);
	buf_release(&m->why);
	diags_release(&m->d);
}

/*
 * libgit2 (mbedTLS) holds one CA list, and setting a file replaces the
 * system's: give it the system bundle and source.caFile together, in a
 * memory file, so that the extra CA adds to the others.
 */
static int ca_bundle(const char *ca, size_t ca_len, int *ret_fd)
{
	char *sys = NULL;
	size_t sys_len = 0;
	int fd, r;

	fd = memfd_create("bramble-ca", MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (file_read(SYSTEM_CA_BUNDLE, CA_MAX, &sys, &sys_len) < 0)
		sys_len = 0;
	r = write_all(fd, sys, sys_len);
	if (r == 0)
		r = write_all(fd, "\n", 1);
	if (r == 0)
		r = write_all(fd, ca, ca_len);
	free(sys);
	if (r < 0) {
		close(fd);
		return r;
	}
	*ret_fd = fd;
	return 0;
}

static int mirror_tls(struct git_mirror *m)
{
	const char *file = m->cfg->source_ca_file;
	struct buf path = BUF_INIT, msg = BUF_INIT;
	char *ca = NULL;
	size_t ca_len = 0;
	int fd = -1, r;

	if (!file)
		return 0;
	r = file_read(file, CA_MAX, &ca, &ca_len);
	if (r < 0) {
		r = diags_add(&m->d, NULL, "cannot read source.caFile \"%s\": %s", file,
			      file_read_strerror(r));
		r = r < 0 ? r : -EIO;
		goto out;
	}
	r = ca_bundle(ca, ca_len, &fd);
	if (r == 0)
		r = buf_printf(&path, "/proc/self/fd/%d", fd);
	if (r == 0 && git_libgit2_opts(GIT_OPT_SET_SSL_CERT_LOCATIONS, buf_str(&path), NULL) < 0) {
		r = git_mirror_error(m, &msg);
		if (r == 0)
			r = diags_add(&m->d, NULL,
				      "cannot use source.caFile \"%s\": %s; expected PEM "
				      "certificates",
				      file, buf_str(&msg));
		r = r < 0 ? r : -EIO;
	}
out:
	if (fd >= 0)
		close(fd);
	free(ca);
	buf_release(&path);
	buf_release(&msg);
	return r;
}

/* Whether a failed fetch may be the cache's fault (worth one rebuild). */
static bool is_cache_error(const struct git_mirror *m, int code)
{
	const git_error *e = git_error_last();

	if (m->auth_missing || m->auth_failed || m->tls_invalid || m->why.len > 0)
		return false;
	if (code == GIT_ELOCKED)
		return true;
	if (!e)
		return false;
	switch (e->klass) {
	case GIT_ERROR_ODB:
	case GIT_ERROR_ZLIB:
	case GIT_ERROR_OBJECT:
	case GIT_ERROR_REFERENCE:
	case GIT_ERROR_CONFIG:
	case GIT_ERROR_FILESYSTEM:
		return true;
	default:
		return false;
	}
}

/* Say why the fetch failed, without any secret. */
static int fetch_failed(struct git_mirror *m, int code)
{
	const char *u = m->shown_url;
	struct buf msg = BUF_INIT;
	int r = git_mirror_error(m, &msg);

	if (r < 0)
		goto out;
	if (m->why.len > 0)
		r = diags_add(&m->d, NULL, "%s", buf_str(&m->why));
	else if (m->auth_missing)
		r = diags_add(&m->d, NULL,
			      "%s asks for credentials; expected source.username and "
			      "source.tokenFile (https) or source.sshKeyFile (ssh)",
			      u);
	else if (m->auth_failed || code == GIT_EAUTH)
		r = diags_add(&m->d, NULL,
			      "authentication refused by %s; expected valid credentials in "
			      "source.tokenFile (https) or source.sshKeyFile (ssh)",
			      u);
	else if (m->tls_invalid || code == GIT_ECERTIFICATE)
		r = diags_add(&m->d, NULL,
			      "the TLS certificate of %s is not trusted (%s); expected one from a "
			      "trusted CA (source.caFile adds a CA bundle)",
			      u, buf_str(&msg));
	else if (git_error_last() && git_error_last()->klass == GIT_ERROR_NOMEMORY)
		r = diags_add(
			&m->d, NULL,
			"cannot fetch from %s: the fetch passed its memory limit of %llu MiB "
			"(an object in the repository is too large?); expected a repository of "
			"manifests",
			u, (unsigned long long)(FETCH_AS_MAX >> 20));
	else
		r = diags_add(&m->d, NULL, "cannot fetch from %s: %s", u, buf_str(&msg));
out:
	buf_release(&msg);
	return r < 0 ? r : -EIO;
}

/* Branches and tags, forced and pruned: the cache mirrors the remote. */
static int cache_fetch(struct git_mirror *m, git_remote *remote, bool fresh)
{
	char heads[] = "+refs/heads/*:refs/remotes/origin/*";
	char tags[] = "+refs/tags/*:refs/tags/*";
	char *specs[] = {heads, tags};
	git_strarray refspecs = {specs, 2};
	git_fetch_options o;
	int r;

	if (git_fetch_options_init(&o, GIT_FETCH_OPTIONS_VERSION) < 0)
		return -ENOMEM;
	o.callbacks.credentials = git_auth_credentials;
	o.callbacks.certificate_check = git_auth_certificate;
	o.callbacks.payload = m;
	o.prune = GIT_FETCH_PRUNE;
	o.update_fetchhead = 0;
	o.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;
	r = git_remote_fetch(remote, &refspecs, &o, "bramble: fetch");
	if (r == 0)
		return 0;
	if (!fresh && is_cache_error(m, r))
		return -EAGAIN;
	return fetch_failed(m, r);
}

static int mirror_attempt(struct git_mirror *m, bool rebuild, struct buf *out)
{
	git_repository *repo = NULL;
	git_remote *remote = NULL;
	git_commit *commit = NULL;
	bool fresh = false;
	int r;

	m->user_tries = m->cred_tries = 0;
	m->auth_missing = m->auth_failed = m->tls_invalid = false;
	buf_truncate(&m->why, 0);
	buf_truncate(out, 0);
	r = git_cache_open(m, rebuild, &repo, &remote, &fresh);
	if (r == 0)
		r = cache_fetch(m, remote, fresh);
	if (r == 0)
		r = git_snapshot_resolve(m, repo, fresh, &commit);
	if (r == 0)
		r = git_snapshot_read(m, repo, commit, fresh, out);
	git_commit_free(commit);
	git_remote_free(remote);
	git_repository_free(repo);
	return r;
}

/* Fetch and read; a cache found broken on the way is rebuilt once. */
static int mirror_run(struct git_mirror *m, struct buf *out)
{
	int r;

	if (git_libgit2_init() < 0) {
		r = diags_add(&m->d, NULL, "cannot initialise libgit2");
		return r < 0 ? r : -EIO;
	}
	r = mirror_tls(m);
	if (r == 0)
		r = mirror_attempt(m, false, out);
	if (r == -EAGAIN)
		r = mirror_attempt(m, true, out);
	if (r == -EAGAIN) {
		r = diags_add(&m->d, NULL, "the git cache %s is broken", m->cache_path);
		r = r < 0 ? r : -EIO;
	}
	git_libgit2_shutdown();
	return r;
}

/* The records after the files: revision, messages, and the result. */
static int mirror_finish(struct git_mirror *m, int result, struct buf *out)
{
	char text[16];
	size_t i;
	int r = 0;

	if (result < 0)
		buf_truncate(out, 0);
	if (m->revision)
		r = git_wire_add(out, GIT_WIRE_REVISION, m->revision, NULL, 0);
	for (i = 0; r == 0 && i < m->d.n; i++)
		r = git_wire_add(out, GIT_WIRE_DIAG, m->d.v[i].msg, NULL, 0);
	snprintf(text, sizeof(text), "%d", result);
	if (r == 0)
		r = git_wire_add(out, GIT_WIRE_RESULT, text, NULL, 0);
	return r;
}

#ifdef MIRROR_LEAK_CHECK
const char *__lsan_default_suppressions(void);

/*
 * libgit2 1.5.1 leaks the pcre2 match data when a pattern does not match
 * (git_regexp_match returns before freeing it): not ours to fix, and
 * harmless here, since the fetch process exits.
 */
const char *__lsan_default_suppressions(void)
{
	return "leak:libpcre2-8.so\n";
}
#endif

/*
 * Under AddressSanitizer, look for leaks after each request, before its
 * answer is written (a leak then fails the fetch, for the tests to see),
 * unless the URL is ssh (libgit2 1.5.1's ssh transport leaks its
 * known_hosts list, in frames without symbols that no suppression can
 * name).  Returns whether leaks were found.
 */
static bool mirror_leaked(bool ssh)
{
#ifdef MIRROR_LEAK_CHECK
	return !ssh && __lsan_do_recoverable_leak_check() != 0;
#else
	(void)ssh;
	return false;
#endif
}

/* See FETCH_AS_MAX: best effort (a failure leaves the fetch unlimited, as before). */
static void memory_limit(void)
{
	struct rlimit rl;

	git_libgit2_opts(GIT_OPT_SET_MWINDOW_SIZE, FETCH_MWINDOW_SIZE);
	git_libgit2_opts(GIT_OPT_SET_MWINDOW_MAPPED_LIMIT, FETCH_MWINDOW_LIMIT);
#ifndef MIRROR_NO_AS_LIMIT
	if (getrlimit(RLIMIT_AS, &rl) == 0 &&
	    (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > FETCH_AS_MAX)) {
		rl.rlim_cur = FETCH_AS_MAX;
		(void)setrlimit(RLIMIT_AS, &rl);
	}
#else
	(void)rl;
#endif
}

static int have_cmp(const void *a, const void *b)
{
	return strcmp(((const struct git_have *)a)->name, ((const struct git_have *)b)->name);
}

/* A GIT_WIRE_HAVE record: a blob the parent holds. */
static int have_add(struct git_mirror *m, const struct git_wire_rec *rec, size_t *cap)
{
	struct git_have *v = m->have;

	if (!git_wire_is_oid(rec->data, rec->len) || m->n_have >= MANIFEST_MAX_FILES)
		return -EBADMSG;
	if (m->n_have == *cap) {
		*cap = *cap ? *cap * 2 : 64;
		v = realloc(m->have, *cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		m->have = v;
	}
	v[m->n_have].name = strdup(rec->text);
	if (!v[m->n_have].name)
		return -ENOMEM;
	memcpy(v[m->n_have].oid, rec->data, GIT_WIRE_OID_HEX);
	v[m->n_have].oid[GIT_WIRE_OID_HEX] = '\0';
	m->n_have++;
	return 0;
}

/*
 * Read one request from stdin, up to its GIT_WIRE_END record: 0, 1 when the
 * parent closed the socket instead (its end, or a retired process), or
 * -errno.
 */
static int request_read(struct buf *in)
{
	char chunk[16384];
	size_t scanned = 0;
	ssize_t n;
	int r;

	buf_truncate(in, 0);
	buf_set_max(in, SETTINGS_MAX);
	for (;;) {
		n = read(STDIN_FILENO, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return in->len ? -EBADMSG : 1;
		r = buf_add(in, chunk, (size_t)n);
		if (r == 0)
			r = git_wire_scan(in->data, in->len, &scanned, GIT_WIRE_END);
		if (r != 0)
			return r < 0 ? r : 0;
	}
}

/*
 * The settings of a request, each checked as a --set would be, then the
 * blobs the parent holds.
 */
static int settings_read(const struct buf *in, struct bramble_config *cfg, struct git_mirror *m)
{
	struct git_wire_rec rec;
	size_t off = 0, cap = 0;
	int r;

	do {
		r = git_wire_next(in->data, in->len, &off, &rec);
		if (r == 0 && rec.type == GIT_WIRE_END)
			break;
		if (r == 0 && rec.type == GIT_WIRE_HAVE)
			r = have_add(m, &rec, &cap);
		else if (r == 0 && rec.type != GIT_WIRE_SETTING)
			r = -EBADMSG;
		else if (r == 0)
			r = config_set_key(cfg, rec.text, &m->d);
	} while (r == 0);
	if (r != 0 && r != -ENOMEM && r != -EINVAL)
		r = diags_add(&m->d, NULL, "the git fetch process cannot read its settings: %s",
			      strerror(-r)) < 0
			    ? -ENOMEM
			    : -EIO;
	if (r == 0 && m->n_have > 1)
		qsort(m->have, m->n_have, sizeof(*m->have), have_cmp);
	return r;
}

/*
 * Serve one request: fetch, then write the answer, which ends with its
 * GIT_WIRE_RESULT record.  *ssh is set once a URL was ssh (no leak check
 * from then on: mirror_leaked()).  A negative return ends the process (the parent then sees
 * the socket close without an answer).
 */
static int serve(const struct buf *in, bool *ssh)
{
	struct bramble_config cfg;
	struct git_mirror m;
	struct buf out = BUF_INIT;
	int r;

	memset(&cfg, 0, sizeof(cfg));
	memset(&m, 0, sizeof(m));
	r = settings_read(in, &cfg, &m);
	alarm((cfg.timeout_s ? cfg.timeout_s : GIT_DEFAULT_TIMEOUT_S) + 10); /* if all else fails */
	if (r == 0)
		r = mirror_init(&m, &cfg);
	if (r == 0)
		r = mirror_run(&m, &out);
	r = mirror_finish(&m, r, &out);
	mirror_release(&m);
	*ssh = *ssh || (cfg.source && git_url_is_ssh(cfg.source));
	config_release(&cfg);
	if (r == 0 && mirror_leaked(*ssh))
		r = -EIO;
	if (r == 0)
		r = write_all(STDOUT_FILENO, out.data, out.len);
	alarm(0);
	buf_release(&out);
	return r;
}

/* Ignore the stop signals, die with the parent, and check it is still PARENT. */
static void mirror_detach(const char *parent)
{
	char *end = NULL;
	long want;

	signal(SIGTERM, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	errno = 0;
	want = strtol(parent, &end, 10);
	if (errno || end == parent || *end || want <= 1 || prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 ||
	    (long)getppid() != want)
		_exit(1);
}

void git_mirror_main(const char *parent)
{
	struct buf in = BUF_INIT;
	sigset_t none;
	bool ssh = false, lib;
	int r;

	mirror_detach(parent);
	sigemptyset(&none); /* nothing stays blocked */
	sigprocmask(SIG_SETMASK, &none, NULL);
	memory_limit();
	/* Once for the process: each request's init and shutdown then only
	 * count, and its TLS set-up (the system's CA list) is not done again. */
	lib = git_libgit2_init() >= 0;
	do {
		r = request_read(&in);
		if (r == 0)
			r = serve(&in, &ssh);
		if (in.data) /* the URL may hold a password */
			explicit_bzero(in.data, in.len);
	} while (r == 0);
	buf_release(&in);
	if (lib)
		git_libgit2_shutdown();
	_exit(r > 0 ? 0 : 1);
}
