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
 */
#ifndef BRAMBLE_GIT_SOURCE_H
#define BRAMBLE_GIT_SOURCE_H

#include "source.h"

/*
 * Fetch and read.  Problems a user must fix (unreachable remote, refused
 * credentials, missing ref, timeout) are added to d with a clear message
 * and returned as -EIO (fetch) or -EINVAL (content); the previous revision
 * keeps serving either way.
 */
int git_source_read(const struct bramble_config *cfg, struct source_rev *ret, struct diags *d);

#endif
