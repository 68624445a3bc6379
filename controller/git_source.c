#include "git_source.h"

#include <errno.h>

/* Placeholder until the libgit2 source lands (issue 3). */
int git_source_read(const struct bramble_config *cfg, struct source_rev *ret, struct diags *d)
{
	(void)ret;
	diags_add(d, NULL,
		  "\"%s\" is a git repository: reading git sources is not built in yet; use a "
		  "plain manifests directory",
		  cfg->source);
	return -EINVAL;
}
