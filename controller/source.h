/*
 * source: where a revision of the manifests comes from.  This version reads
 * a local directory; the revision is the digest of every manifest file's
 * name and content, so that status can say which content was applied.
 */
#ifndef BRAMBLE_SOURCE_H
#define BRAMBLE_SOURCE_H

#include "config.h"
#include "model.h"

struct source_rev {
	struct manifest_file *files; /* names and data owned here */
	size_t n_files;
	char *revision; /* "dir:<path>@sha256:<digest>" */
};

/* Read every .yaml and .yml file under the configured source (and source_path). */
int source_read(const struct bramble_config *cfg, struct source_rev *ret, struct diags *d);
void source_rev_release(struct source_rev *rev);

#endif
