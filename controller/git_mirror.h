/*
 * git_mirror: the fetch process of the git source.
 *
 * libgit2 1.5 has no timeout for a fetch, and a server that accepts the
 * connection and never answers would block a pass for ever.  So git_source.c
 * starts `bramble __fetch` (posix_spawn of bramble's own binary, so that
 * libgit2 and OpenSSL start in a process of one thread), and this process
 * does all the libgit2 work, one request after another: it keeps the cache (a bare
 * repository at <state>/git-cache, remote "origin") up to date, rebuilding it
 * when it is broken or was left locked, fetches with force and prune (so a
 * force-push is followed and a deleted branch or tag is gone), resolves the
 * ref and sends the manifests of that commit back as git_wire records (only
 * the names and blob ids of those the parent said it holds).  The
 * parent kills it at the deadline, and the next pass finds the lock files
 * the kill left behind and rebuilds.  The parent never calls libgit2.
 */
#ifndef BRAMBLE_GIT_MIRROR_H
#define BRAMBLE_GIT_MIRROR_H

#include <stdbool.h>
#include <sys/types.h>

#include <git2.h>

#include "../common/buf.h"
#include "config.h"
#include "git_wire.h"

#define GIT_DEFAULT_TIMEOUT_S 60 /* source.timeout 0 */
#define GIT_CACHE_DIR	      "git-cache"
#define GIT_CACHE_MAX_PACKS   64 /* libgit2 has no gc: re-clone past this many packs */

struct git_mirror {
	const struct bramble_config *cfg;
	const char *ref;     /* source.ref ("main" when unset) */
	char *shown_url;     /* the URL without its password: messages, the cache's config */
	char *url_password;  /* a password inside the URL, scrubbed from messages */
	char *token;	     /* source.tokenFile's content, or NULL */
	char *cache_path;    /* <state>/git-cache */
	char *revision;	     /* "<ref>@sha1:<commit>" once resolved */
	int state_fd;	     /* the state directory */
	unsigned ssh_port;   /* for known_hosts entries "[host]:port" */
	unsigned user_tries; /* libgit2 asks again and again: limit it */
	unsigned cred_tries;
	bool auth_missing; /* the server asked for credentials we do not have */
	bool auth_failed;  /* the server refused the credentials */
	bool tls_invalid;  /* the server's certificate did not verify */
	struct buf why;	   /* a callback's own reason to refuse (SSH host key) */
	/* The blobs the parent holds (GIT_WIRE_HAVE), sorted by name: such a
	 * file is answered GIT_WIRE_KNOWN, without its content. */
	struct git_have {
		char *name;
		char oid[GIT_WIRE_OID_HEX + 1];
	} * have;
	size_t n_have;
	struct diags d; /* sent to the parent as GIT_WIRE_DIAG records */
};

/*
 * `bramble __fetch PARENT`: read the settings (GIT_WIRE_SETTING records) and
 * the blobs the parent holds (GIT_WIRE_HAVE) on stdin, fetch, write the
 * records to stdout, exit.  Never returns.  Started by git_source.c only;
 * it ignores SIGTERM, SIGINT, SIGHUP and SIGPIPE (a SIGTERM to the whole
 * group, from systemd, lets the fetch finish, as the parent does) and sets
 * its parent-death signal first, then exits unless its parent is still
 * PARENT (the pid of the process that started it), so it never outlives the
 * lock the parent holds.
 */
__attribute__((noreturn)) void git_mirror_main(const char *parent);

/*
 * A libgit2 call on the cache failed.  A cache that was there before the
 * pass may be corrupt: -EAGAIN asks for a rebuild.  A fresh one cannot be:
 * the problem (what, with libgit2's message) goes to m->d as -EIO.
 */
int git_mirror_broken(struct git_mirror *m, bool fresh, const char *what);

/* libgit2's last error message, with every secret of m scrubbed out, into b. */
int git_mirror_error(const struct git_mirror *m, struct buf *b);

/*
 * Open the cache (git_cache.c), rebuilding it when asked or when it cannot
 * be trusted (*ret_fresh then), with remote "origin" set to the source URL.
 */
int git_cache_open(struct git_mirror *m, bool rebuild, git_repository **ret_repo,
		   git_remote **ret_remote, bool *ret_fresh);

/* Credentials from the files named in the configuration (git_auth.c). */
int git_auth_credentials(git_credential **out, const char *url, const char *user_from_url,
			 unsigned int allowed, void *payload);
/* TLS: libgit2's verdict stands.  SSH: the host key must be in known_hosts. */
int git_auth_certificate(git_cert *cert, int valid, const char *host, void *payload);

/*
 * Resolve m->ref in the cache (git_snapshot.c): a full commit id, a branch
 * (refs/remotes/origin/<ref>) or a tag.  A missing ref is -EINVAL in m->d.
 */
int git_snapshot_resolve(struct git_mirror *m, git_repository *repo, bool fresh, git_commit **ret);
/*
 * Set m->revision and append the manifests under source.path at commit to
 * out as GIT_WIRE_FILE / GIT_WIRE_LARGE records.
 */
int git_snapshot_read(struct git_mirror *m, git_repository *repo, git_commit *commit, bool fresh,
		      struct buf *out);

#endif
