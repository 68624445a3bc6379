#include "source.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "git_source.h"
#include "../common/buf.h"
#include "../common/fsutil.h"
#include "../common/hash.h"

static int digest(const char *dir, struct source_rev *rev)
{
	struct sha256_ctx c;
	char hex[SHA256_HEX_LEN + 1];
	struct buf b = BUF_INIT;
	size_t i;
	int r;

	r = sha256_init(&c);
	for (i = 0; r == 0 && i < rev->n_files; i++) {
		char len[32];
		int n = snprintf(len, sizeof(len), "%zu\n", rev->files[i].len);

		r = sha256_update(&c, rev->files[i].name, strlen(rev->files[i].name) + 1);
		if (r == 0)
			r = sha256_update(&c, len, (size_t)n);
		if (r == 0 && rev->files[i].data)
			r = sha256_update(&c, rev->files[i].data, rev->files[i].len);
	}
	if (r < 0) {
		sha256_release(&c);
		return r;
	}
	r = sha256_final_hex(&c, hex);
	if (r == 0)
		memcpy(rev->digest, hex, sizeof(rev->digest));
	if (r == 0)
		r = buf_printf(&b, "dir:%s@sha256:%.16s", dir, hex);
	if (r == 0)
		rev->revision = buf_detach(&b, NULL);
	return r < 0 ? r : rev->revision ? 0 : -ENOMEM;
}

static bool is_dir_at(const char *dir, const char *name)
{
	struct stat st;
	char *p = path_join(dir, name);
	bool ok = p && stat(p, &st) == 0 && S_ISDIR(st.st_mode);

	free(p);
	return ok;
}

bool source_is_git(const char *source)
{
	static const char *const schemes[] = {"https://", "http://",	"ssh://",    "git://",
					      "file://",  "ssh+git://", "git+ssh://"};
	const char *colon = strchr(source, ':'), *slash = strchr(source, '/'),
		   *at = strchr(source, '@');
	struct stat st;
	char *dotgit;
	size_t i;
	bool git;

	for (i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++)
		if (strncmp(source, schemes[i], strlen(schemes[i])) == 0)
			return true;
	if (colon && at && at < colon && (!slash || colon < slash))
		return true; /* scp-style user@host:path */
	dotgit = path_join(source, ".git");
	git = dotgit && stat(dotgit, &st) == 0;
	free(dotgit);
	return git || (is_dir_at(source, "objects") && is_dir_at(source, "refs"));
}

int source_read(const struct bramble_config *cfg, struct source_rev *ret, struct diags *d)
{
	char *dir = NULL;
	int r;

	memset(ret, 0, sizeof(*ret));
	if (!cfg->source) {
		diags_add(d, NULL,
			  "no source: give --source DIR or source.url in the configuration");
		return -EINVAL;
	}
	if (source_is_git(cfg->source))
		return git_source_read(cfg, ret, d);
	dir = cfg->source_path ? path_join(cfg->source, cfg->source_path) : strdup(cfg->source);
	if (!dir)
		return -ENOMEM;
	r = manifests_read_dir(dir, d, &ret->files, &ret->n_files);
	if (r == -ENOENT || r == -ENOTDIR || r == -EACCES) {
		diags_add(d, NULL, "cannot open the source directory \"%s\": %s", dir,
			  strerror(-r));
		r = -EINVAL;
	}
	if (r == 0)
		r = digest(dir, ret);
	free(dir);
	if (r < 0)
		source_rev_release(ret);
	return r;
}

void source_rev_release(struct source_rev *rev)
{
	manifest_files_free(rev->files, rev->n_files);
	free(rev->revision);
	memset(rev, 0, sizeof(*rev));
}

int source_load_set(const struct bramble_config *cfg, struct manifest_set **ret)
{
	struct source_rev rev;
	struct diags d = DIAGS_INIT;
	int r;

	r = source_read(cfg, &rev, &d);
	if (r == 0)
		r = manifests_load_files(rev.files, rev.n_files, &d, ret);
	if (r < 0) {
		diags_sort(&d);
		diags_print(&d, stderr);
	}
	source_rev_release(&rev);
	diags_release(&d);
	return r;
}
