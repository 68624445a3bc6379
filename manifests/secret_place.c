/*
 * secret_place: the check of `bramble validate` that every {file: …} secret
 * names a path inside paths.secretsDir.  It is lexical (the secrets directory
 * of the controller host need not exist where the repository is validated,
 * e.g. in CI); plan and apply check the real file again when they read it,
 * symlinks included (reconcilers/firstboot.c).
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "diag.h"
#include "model.h"

#define PATH_DEPTH_MAX 256

/* Split an absolute path into its components, "." dropped and ".." applied. */
static int path_parts(const char *path, const char *part[], size_t len[], size_t *ret_n)
{
	const char *p = path;
	size_t n = 0, l;

	if (*p != '/')
		return -EINVAL;
	while (*p) {
		while (*p == '/')
			p++;
		l = strcspn(p, "/");
		if (l == 0 || (l == 1 && p[0] == '.')) {
			p += l;
			continue;
		}
		if (l == 2 && p[0] == '.' && p[1] == '.') {
			n -= n > 0;
			p += l;
			continue;
		}
		if (n == PATH_DEPTH_MAX)
			return -E2BIG;
		part[n] = p;
		len[n++] = l;
		p += l;
	}
	*ret_n = n;
	return 0;
}

/* Whether path names something strictly inside dir, by their text alone. */
static bool path_inside(const char *dir, const char *path)
{
	const char *dp[PATH_DEPTH_MAX], *pp[PATH_DEPTH_MAX];
	size_t dl[PATH_DEPTH_MAX], pl[PATH_DEPTH_MAX], nd, np, i;

	if (path_parts(dir, dp, dl, &nd) < 0 || path_parts(path, pp, pl, &np) < 0 || np <= nd)
		return false;
	for (i = 0; i < nd; i++)
		if (dl[i] != pl[i] || memcmp(dp[i], pp[i], dl[i]) != 0)
			return false;
	return true;
}

static int check_one(const struct secret *s, const char *what, const char *dir, struct diags *d)
{
	if (!s->file || (dir && path_inside(dir, s->file)))
		return 0;
	return diags_add(d, &s->pos,
			 "%s: secret file \"%s\" refused: it is not in the secrets directory; "
			 "expected a file in \"%s\" (paths.secretsDir)",
			 what, s->file, dir ? dir : "(none configured)");
}

int manifests_check_secret_places(const struct manifest_set *set, const char *dir, struct diags *d)
{
	size_t i, k, before = d->n;
	int r = 0;

	for (i = 0; r == 0 && i < set->n_nodes; i++) {
		const struct first_boot *fb = &set->nodes[i]->first_boot;

		r = check_one(&fb->wifi.passphrase, "passphrase", dir, d);
		for (k = 0; r == 0 && k < fb->n_users; k++)
			r = check_one(&fb->users[k].password_hash, "passwordHash", dir, d);
	}
	if (r < 0)
		return r;
	return d->n > before ? -EINVAL : 0;
}
