/*
 * git_snapshot: the manifests of one commit, read from the cache's object
 * database (there is no working tree to race with): every *.yaml / *.yml
 * blob under source.path, recursively, skipping hidden entries, symlinks
 * and submodules, within the loader's limits.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "git_mirror.h"
#include "git_wire.h"
#include "model.h"

_Static_assert(GIT_OID_HEXSZ == GIT_WIRE_OID_HEX, "a blob id on the wire is a SHA-1 in hex");

#define SNAPSHOT_MAX_DEPTH 32

struct snapshot {
	struct git_mirror *m;
	git_repository *repo;
	git_odb *odb;
	bool fresh;
	struct buf *out;
	size_t n_files;
	size_t total;
};

static bool is_commit_id(const char *s)
{
	size_t i;

	for (i = 0; i < GIT_OID_HEXSZ; i++)
		if (!isxdigit((unsigned char)s[i]))
			return false;
	return s[i] == '\0';
}

/* A full commit id (or the id of a tag object that points at a commit). */
static int resolve_id(git_repository *repo, const char *hex, git_object **ret)
{
	git_object *obj = NULL;
	git_oid oid;
	int r;

	r = git_oid_fromstr(&oid, hex);
	if (r == 0)
		r = git_object_lookup(&obj, repo, &oid, GIT_OBJECT_ANY);
	if (r == 0)
		r = git_object_peel(ret, obj, GIT_OBJECT_COMMIT);
	git_object_free(obj);
	return r == GIT_EINVALIDSPEC ? GIT_EPEEL : r;
}

/*
 * A branch, then a tag.  GIT_ENOTFOUND: neither exists; GIT_EPEEL: it is not
 * a commit; other errors: the cache is broken (a ref without its object).
 */
static int resolve_name(git_repository *repo, const char *name, git_object **ret)
{
	static const char *const prefixes[] = {"refs/remotes/origin/", "refs/tags/"};
	git_reference *ref = NULL;
	struct buf full = BUF_INIT;
	size_t i;
	int r = GIT_ENOTFOUND;

	for (i = 0; i < 2 && r == GIT_ENOTFOUND; i++) {
		buf_truncate(&full, 0);
		if (buf_printf(&full, "%s%s", prefixes[i], name) < 0) {
			r = GIT_ERROR;
			break;
		}
		r = git_reference_lookup(&ref, repo, buf_str(&full));
		if (r == GIT_EINVALIDSPEC)
			r = GIT_ENOTFOUND;
	}
	if (r == 0) {
		r = git_reference_peel(ret, ref, GIT_OBJECT_COMMIT);
		if (r == GIT_ENOTFOUND)
			r = GIT_ERROR;
		else if (r == GIT_EINVALIDSPEC)
			r = GIT_EPEEL;
	}
	git_reference_free(ref);
	buf_release(&full);
	return r;
}

int git_snapshot_resolve(struct git_mirror *m, git_repository *repo, bool fresh, git_commit **ret)
{
	git_object *obj = NULL;
	int r;

	r = is_commit_id(m->ref) ? resolve_id(repo, m->ref, &obj)
				 : resolve_name(repo, m->ref, &obj);
	if (r == GIT_ENOTFOUND) {
		diags_add(&m->d, NULL,
			  "ref \"%s\" not found in %s; expected a branch, tag or commit id", m->ref,
			  m->shown_url);
		return -EINVAL;
	}
	if (r == GIT_EPEEL) {
		diags_add(&m->d, NULL,
			  "ref \"%s\" in %s does not name a commit; expected a "
			  "branch, tag or commit id",
			  m->ref, m->shown_url);
		return -EINVAL;
	}
	if (r < 0)
		return git_mirror_broken(m, fresh, "the ref");
	*ret = (git_commit *)obj;
	return 0;
}

static bool is_manifest_name(const char *name)
{
	size_t n = strlen(name);

	return (n > 5 && strcmp(name + n - 5, ".yaml") == 0) ||
	       (n > 4 && strcmp(name + n - 4, ".yml") == 0);
}

static int snapshot_limit(struct snapshot *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Report a limit the repository passes: -EINVAL. */
static int snapshot_limit(struct snapshot *s, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = diags_vadd(&s->m->d, NULL, fmt, ap);
	va_end(ap);
	return r < 0 ? r : -EINVAL;
}

static int have_find(const void *key, const void *elem)
{
	return strcmp(key, ((const struct git_have *)elem)->name);
}

/* Whether the parent said it holds this blob under this name (GIT_WIRE_HAVE). */
static bool parent_has(const struct snapshot *s, const char *rel, const char *hex)
{
	const struct git_have *h = s->m->n_have ? bsearch(rel, s->m->have, s->m->n_have,
							  sizeof(*s->m->have), have_find)
						: NULL;

	return h && strcmp(h->oid, hex) == 0;
}

/*
 * One manifest blob: its content, or only its name when it is too large
 * (its size comes from the object header, so a huge blob is never loaded),
 * or only its name and id when the parent holds it already.
 */
static int snapshot_blob(struct snapshot *s, const git_tree_entry *e, const char *rel)
{
	const git_oid *id = git_tree_entry_id(e);
	char hex[GIT_OID_HEXSZ + 1];
	git_blob *blob = NULL;
	git_object_t type;
	size_t size = 0;
	int r;

	if (s->n_files >= MANIFEST_MAX_FILES)
		return snapshot_limit(s, "more than %zu manifest files; expected fewer",
				      (size_t)MANIFEST_MAX_FILES);
	if (git_odb_read_header(&size, &type, s->odb, id) < 0)
		return git_mirror_broken(s->m, s->fresh, rel);
	s->n_files++;
	s->total += size;
	if (s->total > MANIFEST_MAX_TOTAL_SIZE)
		return snapshot_limit(s,
				      "manifests are larger than %zu bytes in total; expected a "
				      "smaller repository",
				      MANIFEST_MAX_TOTAL_SIZE);
	if (size > MANIFEST_MAX_FILE_SIZE)
		return git_wire_add(s->out, GIT_WIRE_LARGE, rel, NULL, 0);
	git_oid_tostr(hex, sizeof(hex), id);
	if (parent_has(s, rel, hex))
		return git_wire_add(s->out, GIT_WIRE_KNOWN, rel, hex, GIT_WIRE_OID_HEX);
	if (git_blob_lookup(&blob, s->repo, id) < 0)
		return git_mirror_broken(s->m, s->fresh, rel);
	r = git_wire_add(s->out, GIT_WIRE_OID, hex, NULL, 0);
	if (r == 0)
		r = git_wire_add(s->out, GIT_WIRE_FILE, rel, git_blob_rawcontent(blob),
				 (size_t)git_blob_rawsize(blob));
	git_blob_free(blob);
	return r;
}

static int snapshot_tree(struct snapshot *s, const git_tree *tree, const char *prefix,
			 unsigned depth);

/* One tree entry: a subtree to walk, a manifest to read, or nothing. */
static int snapshot_entry(struct snapshot *s, const git_tree_entry *e, const char *prefix,
			  unsigned depth)
{
	const char *name = git_tree_entry_name(e);
	git_filemode_t mode = git_tree_entry_filemode(e);
	struct buf rel = BUF_INIT;
	git_tree *sub = NULL;
	int r;

	if (name[0] == '.')
		return 0;
	if (mode != GIT_FILEMODE_TREE &&
	    !((mode == GIT_FILEMODE_BLOB || mode == GIT_FILEMODE_BLOB_EXECUTABLE) &&
	      is_manifest_name(name)))
		return 0; /* symlinks, submodules, other files */
	r = buf_printf(&rel, "%s%s%s", prefix, *prefix ? "/" : "", name);
	if (r == 0 && mode != GIT_FILEMODE_TREE)
		r = snapshot_blob(s, e, buf_str(&rel));
	else if (r == 0 && git_tree_lookup(&sub, s->repo, git_tree_entry_id(e)) < 0)
		r = git_mirror_broken(s->m, s->fresh, buf_str(&rel));
	else if (r == 0)
		r = snapshot_tree(s, sub, buf_str(&rel), depth + 1);
	git_tree_free(sub);
	buf_release(&rel);
	return r;
}

static int snapshot_tree(struct snapshot *s, const git_tree *tree, const char *prefix,
			 unsigned depth)
{
	size_t i, n = git_tree_entrycount(tree);
	int r = 0;

	if (depth > SNAPSHOT_MAX_DEPTH) {
		r = diags_add(&s->m->d, NULL,
			      "directories nested deeper than %d levels at \"%s\"; expected a "
			      "flatter repository",
			      SNAPSHOT_MAX_DEPTH, prefix);
		return r < 0 ? r : -EINVAL;
	}
	for (i = 0; r == 0 && i < n; i++)
		r = snapshot_entry(s, git_tree_entry_byindex(tree, i), prefix, depth);
	return r;
}

/* source.path without leading "./" and slashes, or trailing slashes ("" for the root). */
static int subdir_of(const char *path, struct buf *b)
{
	const char *p = path ? path : "";
	size_t n;

	for (;;) {
		if (p[0] == '/')
			p++;
		else if (p[0] == '.' && p[1] == '/')
			p += 2;
		else if (p[0] == '.' && p[1] == '\0')
			p++;
		else
			break;
	}
	n = strlen(p);
	while (n > 0 && p[n - 1] == '/')
		n--;
	return buf_add(b, p, n);
}

/* The tree at dir ("" for the root) in the commit. */
static int snapshot_root(struct snapshot *s, git_commit *commit, const char *dir, git_tree **ret)
{
	git_tree *root = NULL;
	git_tree_entry *entry = NULL;
	int r;

	if (git_commit_tree(&root, commit) < 0)
		return git_mirror_broken(s->m, s->fresh, "the commit's tree");
	if (!*dir) {
		*ret = root;
		return 0;
	}
	r = git_tree_entry_bypath(&entry, root, dir);
	if (r == 0 && git_tree_entry_type(entry) != GIT_OBJECT_TREE)
		r = GIT_ENOTFOUND;
	if (r == GIT_ENOTFOUND) {
		r = diags_add(
			&s->m->d, NULL,
			"path \"%s\" not found at %s in %s; expected a directory of manifests "
			"(source.path)",
			dir, s->m->revision, s->m->shown_url);
		r = r < 0 ? r : -EINVAL;
	} else if (r < 0 || git_tree_lookup(ret, s->repo, git_tree_entry_id(entry)) < 0) {
		r = git_mirror_broken(s->m, s->fresh, dir);
	}
	git_tree_entry_free(entry);
	git_tree_free(root);
	return r;
}

int git_snapshot_read(struct git_mirror *m, git_repository *repo, git_commit *commit, bool fresh,
		      struct buf *out)
{
	struct snapshot s = {m, repo, NULL, fresh, out, 0, 0};
	struct buf dir = BUF_INIT, rev = BUF_INIT;
	char hex[GIT_OID_HEXSZ + 1];
	git_tree *tree = NULL;
	int r;

	git_oid_tostr(hex, sizeof(hex), git_commit_id(commit));
	r = buf_printf(&rev, "%s@sha1:%s", m->ref, hex);
	if (r == 0) {
		free(m->revision);
		m->revision = buf_detach(&rev, NULL);
		r = m->revision ? 0 : -ENOMEM;
	}
	if (r == 0 && git_repository_odb(&s.odb, repo) < 0)
		r = git_mirror_broken(m, fresh, "the object database");
	if (r == 0)
		r = subdir_of(m->cfg->source_path, &dir);
	if (r == 0)
		r = snapshot_root(&s, commit, buf_str(&dir), &tree);
	if (r == 0)
		r = snapshot_tree(&s, tree, "", 0);
	git_tree_free(tree);
	git_odb_free(s.odb);
	buf_release(&dir);
	buf_release(&rev);
	return r;
}
