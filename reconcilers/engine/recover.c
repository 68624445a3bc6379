/*
 * recover: what a pass that was killed, or failed, may leave behind that no
 * later plan sees, removed before the next pass applies.
 *
 * Why a pass's every prefix heals (DESIGN.md, reconcile step 5), step by
 * step of engine_apply() and root_apply_batch(), and who heals each leftover:
 *
 *  0. The controller records the pass's intent (state/pending-actions: the
 *     reloads it will need, and ACTIONS_PASS_OPEN) durably before anything
 *     below; it is cleared only when the pass ended cleanly.  A crash at
 *     any later step leaves it, so the next pass runs engine_recover() and
 *     the reloads, whatever it changes itself.
 *  1. Node roots: copies in nfs/.staging, then their records (roots/), then
 *     the renames into place.  A crash leaves staging (removed here, or by
 *     the next root batch: staging_clean_dead()), a record whose prev-ino
 *     names the old root (the next plan restarts the re-image), or a root in
 *     place that the inventory does not record as settled: the image's
 *     copies of bramble's files in it are then bramble's to replace, not a
 *     conflict (plan.c settle_root_file(), noderoot.c unsettled).  A root
 *     whose own files failed is recorded with no inode for the same reason
 *     (apply.c unsettle_roots()).
 *  2. Temps beside their final names, new tree generations beside the old,
 *     and the units: a directory of the NFS root that is missing, made
 *     whole in nfs/.staging as "new.<pid>.<n>" with its files at their
 *     final names (apply.c).  A crash leaves temps (each replaced when its
 *     path is staged again, or removed with its path: delete_entry()),
 *     generation directories no link points to, and units: both removed
 *     here (root_recover() removes a dead pass's staging, and this
 *     process's own, which only an earlier pass of a daemon can have left).
 *     A pass that fails removes its units itself (units_finish()).  A unit
 *     is never half in place: its files are written before its one rename,
 *     so no file of bramble's is ever found at a final path without its
 *     content (which the next plan would take for a foreign file).
 *  3. Renames, a tree's symlink switch, a unit's directory (renameat2
 *     RENAME_NOREPLACE: a directory that appeared there since the plan is
 *     never replaced).  Each path is old or new; a new file the inventory
 *     does not list yet has the desired content, which the next plan finds
 *     unchanged and records; an old generation left by the switch is
 *     removed here.
 *  4. Deletes: a path already gone is a delete done; a tree's link removed
 *     before its generation leaves that generation: removed here.
 *  5. The inventory, shard by shard (temps, one syncfs, renames): an old
 *     shard only means the next plan observes more; its temps, the root
 *     records' and the state files' of a dead writer are removed here.
 *  6. The reloads (from the intent, whatever failed), the images in use,
 *     then the intent cleared, the status and the seal.  A crash before the
 *     intent is cleared repeats the reloads and this recovery; after, the
 *     next pass is a full one (no seal yet) that writes the status again.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine_int.h"
#include "noderoot.h"
#include "atomic.h"
#include "fsutil.h"

/* "name" of ".name.<16 hex>" into out; false when entry is not so made. */
static bool gendir_base(const char *entry, char *out, size_t size)
{
	const char *dot = strrchr(entry, '.');
	size_t i, len;

	if (entry[0] != '.' || !dot || dot == entry || strlen(dot + 1) != 16)
		return false;
	for (i = 1; i <= 16; i++)
		if (!strchr("0123456789abcdef", dot[i]))
			return false;
	len = (size_t)(dot - entry - 1);
	if (len == 0 || len >= size)
		return false;
	memcpy(out, entry + 1, len);
	out[len] = '\0';
	return true;
}

/* Whether the plan names a tree called base (top level of the TFTP root). */
static bool plan_has_tree(const struct plan *p, const char *base, const char *gen)
{
	size_t i;

	for (i = 0; i < p->n_items; i++) {
		const struct plan_item *it = &p->items[i];
		const char *path = it->res ? it->res->path : it->inv->path;
		enum res_type type = it->res ? it->res->type : it->inv->type;

		if (type != RES_TREE || strcmp(path, base) != 0)
			continue;
		/* The generation this pass builds is its own to (re)build. */
		return !gen || !it->gendir || strcmp(it->gendir, gen) != 0;
	}
	return false;
}

/*
 * Remove every generation directory in the TFTP root that no link points
 * to, of a tree the plan names, other than the one the plan builds.
 */
static int remove_orphan_generations(struct engine *e, const struct plan *p)
{
	char base[256], target[256];
	struct dirent *de;
	struct stat st;
	int r = 0;
	ssize_t n;
	DIR *d;

	if (e->root_fd[ROOT_TFTP] < 0)
		return 0;
	r = dir_opendir_dup(e->root_fd[ROOT_TFTP], &d);
	if (r < 0)
		return r;
	while (r == 0 && (de = readdir(d)) != NULL) {
		if (!gendir_base(de->d_name, base, sizeof(base)) ||
		    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISDIR(st.st_mode))
			continue;
		n = readlinkat(dirfd(d), base, target, sizeof(target) - 1);
		target[n > 0 ? n : 0] = '\0';
		if (strcmp(target, de->d_name) == 0 || !plan_has_tree(p, base, de->d_name))
			continue;
		r = rm_rf_at(dirfd(d), de->d_name);
		if (r < 0)
			engine_set_failure(e, "remove the orphan generation", ROOT_TFTP,
					   de->d_name);
	}
	closedir(d);
	engine_parent_forget(e); /* nothing cached may point into what went */
	return r;
}

/*
 * Whether name is a temp this pass may remove from dir: an atomic writer's
 * temp of a process that is gone (atomic_temp_is_stale()), or, with any_tmp,
 * any "*.tmp" (only a pass holding the lock writes the inventory's and the
 * root records' temps, and it is this one).
 */
static bool stale_temp(const char *name, bool any_tmp)
{
	size_t len = strlen(name);

	if (any_tmp)
		return len >= 5 && strcmp(name + len - 4, ".tmp") == 0;
	return atomic_temp_is_stale(name);
}

/* Remove the stale temps (stale_temp()) of the directory path beneath dfd. */
static int remove_temps(struct engine *e, int dfd, int root, const char *path, bool any_tmp)
{
	struct dirent *de;
	struct stat st;
	int r = 0;
	DIR *d;

	if (dfd < 0)
		return 0;
	r = dir_opendir_beneath(dfd, path, false, 0, &d);
	if (r < 0)
		return r == -ENOENT ? 0 : r;
	while (r == 0 && (de = readdir(d)) != NULL) {
		if (!stale_temp(de->d_name, any_tmp) ||
		    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		if (unlinkat(dirfd(d), de->d_name, 0) < 0 && errno != ENOENT) {
			r = -errno;
			engine_set_failure(e, "remove the stale temp", root, de->d_name);
		}
	}
	closedir(d);
	return r;
}

int engine_recover(struct engine *e, const struct plan *p, bool unfinished)
{
	int r;

	e->failure[0] = '\0';
	/* A dead writer's temps: cheap (two small directories), and left even by
	 * a pass killed while it recorded its intent. */
	r = remove_temps(e, e->state_fd, -1, ".", false);
	if (r == 0)
		r = remove_temps(e, e->root_fd[ROOT_IMAGES], ROOT_IMAGES, ".", false);
	if (r < 0 || !unfinished)
		return r;
	r = remove_orphan_generations(e, p);
	if (r == 0)
		r = root_recover(e);
	if (r == 0)
		r = remove_temps(e, e->state_fd, -1, INVENTORY_DIR, true);
	if (r == 0)
		r = remove_temps(e, e->state_fd, -1, NODEROOT_RECORD_DIR, true);
	if (r == 0 && e->root_fd[ROOT_TFTP] >= 0 && fsync(e->root_fd[ROOT_TFTP]) < 0) {
		r = -errno;
		engine_set_failure(e, "fsync", ROOT_TFTP, "");
	}
	return r;
}
