/*
 * git_source: a revision of the manifests from a git repository (libgit2).
 *
 * One cache repository lives in the state directory (state/git-cache); each
 * call fetches from the configured URL with the configured timeout, resolves
 * source.ref (branch, tag or full commit id) to a commit, and reads every
 * .yaml/.yml blob under source.path straight from that commit's tree (no
 * working tree to race with).  The revision is "<ref>@sha1:<commit>".
 * Credentials come from files only; TLS verification is always on
 * (source.caFile adds a CA bundle); SSH host keys are checked against
 * source.knownHostsFile and an unknown host is an error.
 *
 * libgit2 1.5 has no fetch timeout, so the fetch runs in a child process
 * (git_mirror.h), a fresh exec of bramble's own binary as `bramble __fetch`,
 * that is killed at source.timeout; this process never calls libgit2.  With
 * git_source_keep() (the daemon) that process serves one fetch after another
 * and is told which blobs this process holds (git_source.c).  The cache is locked with <state>/git-cache.lock during a fetch,
 * and rebuilt when it is found corrupt or left locked by a killed fetch.
 * A caller that reaps children itself must not reap this one (no SIGCHLD
 * set to SIG_IGN, no waitpid(-1) in a handler).
 */
#ifndef BRAMBLE_GIT_SOURCE_H
#define BRAMBLE_GIT_SOURCE_H

#include <stdbool.h>

#include "source.h"

/* The hidden command of the fetch process (not in `bramble help`). */
#define GIT_SOURCE_FETCH_COMMAND "__fetch"

/*
 * Open bramble's own binary (/proc/self/exe) for the fetch process to exec.
 * main() calls it first, before anything could change what the path names;
 * git_source_read() calls it again when it was not (a no-op once open).
 */
int git_source_init(void);

/*
 * Fetch and read.  Problems a user must fix (unreachable remote, refused
 * credentials, TLS or host key not trusted, timeout) are added to d with a
 * clear message and returned as -EIO; a missing ref or path, or content
 * over the limits, as -EINVAL.  The previous revision keeps serving either
 * way.  On -EINVAL ret->revision may be set (the commit that was read, for
 * lastAttemptedRevision); release ret with source_rev_release() in all cases.
 * Files are sorted by name; a blob over MANIFEST_MAX_FILE_SIZE comes with
 * data NULL, for manifests_load_files() to report at file:1:1.
 */
int git_source_read(const struct bramble_config *cfg, struct source_rev *ret, struct diags *d);

/*
 * Keep the blobs of the revision read between calls (the daemon: on), so
 * that the next fetch sends only the files whose blob changed; off frees
 * them.  Off by default: a process that reads once has no use for them.
 */
void git_source_keep(bool on);

#endif
