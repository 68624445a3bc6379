/*
 * git_cache: the cache repository of the fetch process, a bare repository
 * at <state>/git-cache with one remote, "origin".  A cache that cannot be
 * trusted is removed and created again: one that does not open, whose HEAD
 * or refs do not parse or point at missing objects, that holds lock files
 * (git_source.c holds <state>/git-cache.lock for the whole fetch, so any
 * lock inside was left by a fetch that was killed), or that has collected
 * too many packs (libgit2 has no gc).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/fsutil.h"
#include "git_mirror.h"

#define LOCK_SCAN_DEPTH 16

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n >= k && strcmp(s + n - k, suffix) == 0;
}

static bool entry_is_dir(int fd, const struct dirent *e)
{
	struct stat st;

	if (e->d_type != DT_UNKNOWN)
		return e->d_type == DT_DIR;
	return fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
}

/*
 * Count the entries of dir (beneath parent) whose names end in suffix; with
 * depth > 0, also in the subdirectories, that many levels down.
 */
static size_t count_suffix(int parent, const char *dir, const char *suffix, unsigned depth)
{
	struct dirent *e = NULL;
	DIR *d = NULL;
	size_t n = 0;
	int fd;

	fd = openat(parent, dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return 0;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return 0;
	}
	for (e = readdir(d); e; e = readdir(d)) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (ends_with(e->d_name, suffix))
			n++;
		else if (depth > 0 && entry_is_dir(dirfd(d), e))
			n += count_suffix(dirfd(d), e->d_name, suffix, depth - 1);
	}
	closedir(d);
	return n;
}

/* Entries ending in suffix under <cache>/sub, depth levels down (0: no cache). */
static size_t cache_count(const struct git_mirror *m, const char *sub, const char *suffix,
			  unsigned depth)
{
	int fd =
		openat(m->state_fd, GIT_CACHE_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	size_t n;

	if (fd < 0)
		return 0;
	n = count_suffix(fd, sub, suffix, depth);
	close(fd);
	return n;
}

/* Lock files at the top (config.lock, packed-refs.lock, ...) or under refs/. */
static bool cache_locked(const struct git_mirror *m)
{
	return cache_count(m, ".", ".lock", 0) > 0 ||
	       cache_count(m, "refs", ".lock", LOCK_SCAN_DEPTH) > 0;
}

static size_t cache_packs(const struct git_mirror *m)
{
	return cache_count(m, "objects/pack", ".pack", 0);
}

/* The object a ref points at can be read, and so can a commit's tree. */
static bool ref_healthy(git_repository *repo, const git_reference *ref)
{
	git_object *obj = NULL;
	git_tree *tree = NULL;
	int r = 0;

	if (git_reference_type(ref) != GIT_REFERENCE_DIRECT)
		return true;
	r = git_object_lookup(&obj, repo, git_reference_target(ref), GIT_OBJECT_ANY);
	if (r == 0 && git_object_type(obj) == GIT_OBJECT_COMMIT)
		r = git_commit_tree(&tree, (git_commit *)obj);
	git_tree_free(tree);
	git_object_free(obj);
	return r == 0;
}

/* HEAD parses, and every ref parses and points at objects that exist. */
static bool cache_healthy(git_repository *repo)
{
	git_reference *head = NULL, *ref = NULL;
	git_reference_iterator *it = NULL;
	bool ok = true;
	int r;

	r = git_reference_lookup(&head, repo, "HEAD");
	git_reference_free(head);
	if (r < 0 || git_reference_iterator_new(&it, repo) < 0)
		return false;
	for (r = git_reference_next(&ref, it); r == 0 && ok; r = git_reference_next(&ref, it)) {
		ok = ref_healthy(repo, ref);
		git_reference_free(ref);
	}
	git_reference_iterator_free(it);
	return ok && r == GIT_ITEROVER;
}

/* The existing cache, when it can be trusted. */
static bool cache_usable(struct git_mirror *m, git_repository **ret)
{
	git_repository *repo = NULL;
	struct stat st;

	if (fstatat(m->state_fd, GIT_CACHE_DIR, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
	    !S_ISDIR(st.st_mode))
		return false;
	if (cache_locked(m) || cache_packs(m) > GIT_CACHE_MAX_PACKS)
		return false;
	if (git_repository_open_bare(&repo, m->cache_path) < 0)
		return false;
	if (!cache_healthy(repo)) {
		git_repository_free(repo);
		return false;
	}
	*ret = repo;
	return true;
}

static int cache_create(struct git_mirror *m, git_repository **ret)
{
	struct buf msg = BUF_INIT;
	int r;

	r = rm_rf_at(m->state_fd, GIT_CACHE_DIR);
	if (r < 0) {
		diags_add(&m->d, NULL, "cannot remove the broken git cache %s: %s", m->cache_path,
			  strerror(-r));
		return -EIO;
	}
	if (git_repository_init(ret, m->cache_path, 1) == 0)
		return 0;
	r = git_mirror_error(m, &msg);
	if (r == 0)
		r = diags_add(&m->d, NULL, "cannot create the git cache %s: %s", m->cache_path,
			      buf_str(&msg));
	buf_release(&msg);
	return r < 0 ? r : -EIO;
}

/* Remote "origin" with the shown URL in the config, fetching from the real one. */
static int cache_origin(struct git_mirror *m, git_repository *repo, bool fresh, git_remote **ret)
{
	git_remote *remote = NULL;
	int r;

	r = git_remote_lookup(&remote, repo, "origin");
	if (r == GIT_ENOTFOUND) {
		r = git_remote_create(&remote, repo, "origin", m->shown_url);
	} else if (r == 0 && strcmp(git_remote_url(remote), m->shown_url) != 0) {
		git_remote_free(remote);
		remote = NULL;
		r = git_remote_set_url(repo, "origin", m->shown_url);
		if (r == 0)
			r = git_remote_lookup(&remote, repo, "origin");
	}
	if (r == 0)
		r = git_remote_set_instance_url(remote, m->cfg->source);
	if (r < 0) {
		git_remote_free(remote);
		return git_mirror_broken(m, fresh, "the remote \"origin\"");
	}
	*ret = remote;
	return 0;
}

int git_cache_open(struct git_mirror *m, bool rebuild, git_repository **ret_repo,
		   git_remote **ret_remote, bool *ret_fresh)
{
	git_repository *repo = NULL;
	bool fresh = rebuild || !cache_usable(m, &repo);
	int r;

	if (fresh) {
		r = cache_create(m, &repo);
		if (r < 0)
			return r;
	}
	r = cache_origin(m, repo, fresh, ret_remote);
	if (r < 0) {
		git_repository_free(repo);
		return r;
	}
	*ret_repo = repo;
	*ret_fresh = fresh;
	return 0;
}
