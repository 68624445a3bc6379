#include "gc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include "image_step.h"
#include "log.h"
#include "noderoot.h"
#include "reconcile.h"

#define STAGING_MAX_AGE_S (24 * 3600)

/* "3d 4h", "5h", "12m": how old an entry is, for people. */
static void age_text(int64_t s, char *out, size_t size)
{
	if (s < 0)
		s = 0;
	if (s >= 86400)
		snprintf(out, size, "%lldd %lldh", (long long)(s / 86400),
			 (long long)(s % 86400 / 3600));
	else if (s >= 3600)
		snprintf(out, size, "%lldh", (long long)(s / 3600));
	else
		snprintf(out, size, "%lldm", (long long)(s / 60));
}

/* List the attic; remove what is past the retention unless dry_run.  Returns failures. */
static int attic_collect(int nfs_fd, const struct bramble_config *cfg, bool dry_run, FILE *out)
{
	int64_t now = (int64_t)time(NULL), keep = (int64_t)cfg->roots_attic_retention_s;
	struct attic_list l;
	size_t i, expired = 0, failed = 0;
	char age[32];
	int r;

	r = attic_list(nfs_fd, now, keep, &l);
	if (r < 0) {
		log_errno(r, "cannot read the attic %s/" NODEROOT_ATTIC, cfg->nfs_root);
		return 1;
	}
	for (i = 0; i < l.n; i++) {
		const struct attic_entry *e = &l.v[i];

		age_text(now - e->mtime_s, age, sizeof(age));
		if (!e->expired) {
			fprintf(out, "  kept     %s  (%s old)\n", e->name, age);
			continue;
		}
		expired++;
		r = dry_run ? 0 : attic_remove(nfs_fd, e->name);
		if (r < 0) {
			log_errno(r, "cannot remove %s/" NODEROOT_ATTIC "/%s", cfg->nfs_root,
				  e->name);
			failed++;
			continue;
		}
		fprintf(out, "  %s  %s  (%s old)\n", dry_run ? "expired" : "removed", e->name, age);
	}
	fprintf(out, "attic: %zu entr%s, %zu past the retention of %ud", l.n,
		l.n == 1 ? "y" : "ies", expired, cfg->roots_attic_retention_s / 86400);
	/* Says only what was done: a failed removal is not counted as removed. */
	if (expired && dry_run)
		fprintf(out, " (--dry-run: nothing removed)");
	else if (expired)
		fprintf(out, ": %zu removed", expired - failed);
	if (expired && failed)
		fprintf(out, ", %zu could not be removed", failed);
	fprintf(out, "\n");
	attic_list_release(&l);
	return (int)failed;
}

int gc_run(const struct bramble_config *cfg, bool dry_run, FILE *out)
{
	int fd, failed = 0, n, code;

	fd = open(cfg->nfs_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 && errno != ENOENT) {
		log_warn("cannot open the NFS root %s", cfg->nfs_root);
		return EXIT_FAILED;
	}
	if (fd < 0) {
		fprintf(out, "attic: %s does not exist: nothing to collect\n", cfg->nfs_root);
	} else {
		failed = attic_collect(fd, cfg, dry_run, out);
		n = dry_run ? 0
			    : noderoot_clean_staging(fd, (int64_t)time(NULL), STAGING_MAX_AGE_S);
		if (n > 0)
			fprintf(out, "removed %d staging director%s left by an interrupted pass\n",
				n, n == 1 ? "y" : "ies");
		close(fd);
	}
	/* The image store: images no Image of the repository uses. */
	if (!cfg->source) {
		fprintf(out,
			"images: not pruned (no source: which images are in use is not known)\n");
		return failed ? EXIT_FAILED : EXIT_OK;
	}
	code = image_step_command(cfg, !dry_run, out);
	return failed || code != EXIT_OK ? EXIT_FAILED : EXIT_OK;
}
