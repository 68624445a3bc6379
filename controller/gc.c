#include "gc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "image_step.h"
#include "log.h"
#include "noderoot.h"
#include "reconcile.h"

#define STAGING_MAX_AGE_S (24 * 3600)

/* A span for people: "just now", "5 min", "3 h", "1 day", "40 days". */
static void span_text(int64_t s, char *out, size_t size)
{
	if (s < 0)
		s = 0;
	if (s >= 2 * 86400)
		snprintf(out, size, "%lld days", (long long)(s / 86400));
	else if (s >= 86400)
		snprintf(out, size, "1 day");
	else if (s >= 3600)
		snprintf(out, size, "%lld h", (long long)(s / 3600));
	else if (s >= 60)
		snprintf(out, size, "%lld min", (long long)(s / 60));
	else
		snprintf(out, size, "just now");
}

/* "  kept          NAME  (moved to the attic 5 min ago; removed after 30 days)" */
static void attic_line(FILE *out, const char *verb, const struct attic_entry *e, int64_t age,
		       int64_t keep)
{
	char when[32], span[32];

	span_text(age, when, sizeof(when));
	span_text(keep, span, sizeof(span));
	fprintf(out, "  %-12s  %s  (moved to the attic %s%s; %s %s)\n", verb, e->name, when,
		strcmp(when, "just now") ? " ago" : "",
		e->expired ? "past the retention of" : "removed after", span);
}

/* List the attic; remove what is past the retention unless dry_run.  Returns failures. */
static int attic_collect(int nfs_fd, const struct bramble_config *cfg, bool dry_run, FILE *out)
{
	int64_t now = (int64_t)time(NULL), keep = (int64_t)cfg->roots_attic_retention_s;
	struct attic_list l;
	size_t i, expired = 0, failed = 0;
	char span[32];
	int r;

	r = attic_list(nfs_fd, now, keep, &l);
	if (r < 0) {
		log_errno(r, "cannot read the attic %s/" NODEROOT_ATTIC, cfg->nfs_root);
		return 1;
	}
	for (i = 0; i < l.n; i++) {
		const struct attic_entry *e = &l.v[i];

		if (!e->expired) {
			attic_line(out, "kept", e, now - e->mtime_s, keep);
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
		attic_line(out, dry_run ? "would remove" : "removed", e, now - e->mtime_s, keep);
	}
	span_text(keep, span, sizeof(span));
	fprintf(out, "attic: %zu entr%s, %zu past the retention of %s", l.n, l.n == 1 ? "y" : "ies",
		expired, span);
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
	code = image_step_command(cfg, !dry_run, false, out);
	return failed || code != EXIT_OK ? EXIT_FAILED : EXIT_OK;
}
