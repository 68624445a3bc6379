/*
 * source: where a revision of the manifests comes from: a git repository
 * (git_source.h: the revision is the commit), or a local directory (the
 * revision is the digest of every manifest file's name and content, so that
 * status can say which content was applied).
 */
#ifndef BRAMBLE_SOURCE_H
#define BRAMBLE_SOURCE_H

#include <stdbool.h>

#include "config.h"
#include "model.h"

struct source_rev {
	struct manifest_file *files; /* names and data owned here */
	size_t n_files;
	char *revision;	 /* "dir:<path>@sha256:<digest>", or "<ref>@sha1:<commit>" */
	char digest[65]; /* a directory's whole content digest ("" for git: the commit says it) */
};

/*
 * Whether source names a git repository: a URL (https, http, ssh, git,
 * file), an scp-style "user@host:path", or a local directory that is a git
 * repository (holds .git, or is a bare one).  Anything else is a plain
 * directory of manifests.
 */
bool source_is_git(const char *source);

/* Read every .yaml and .yml file under the configured source (and source_path). */
int source_read(const struct bramble_config *cfg, struct source_rev *ret, struct diags *d);
/* Free what rev holds; rev is empty after. */
void source_rev_release(struct source_rev *rev);

/*
 * Read and load the manifests of the configured source, for the commands
 * that only look at them (discover, images): the errors go to stderr.
 */
int source_load_set(const struct bramble_config *cfg, struct manifest_set **ret);

#endif
