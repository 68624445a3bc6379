#include "gc.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
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

/* One attic entry of bramble/gc/v1 (README.md, "JSON output"). */
static void attic_json(json_t *a, const struct attic_entry *e, int64_t age, const char *action)
{
	char when[32];
	time_t t = (time_t)e->mtime_s;
	struct tm tm;

	if (!a)
		return;
	if (!gmtime_r(&t, &tm) || !strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm))
		when[0] = '\0';
	json_array_append_new(a, json_pack("{s:s,s:s,s:I,s:b,s:s}", "name", e->name, "movedAt",
					   when, "ageSeconds", (json_int_t)(age < 0 ? 0 : age),
					   "expired", e->expired, "action", action));
}

/*
 * List the attic; remove what is past the retention unless dry_run; with a
 * (gc --json), each entry added to it too.  Returns failures.
 */
static int attic_collect(int nfs_fd, const struct bramble_config *cfg, bool dry_run, json_t *a,
			 FILE *out)
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
			attic_json(a, e, now - e->mtime_s, "kept");
			continue;
		}
		expired++;
		r = dry_run ? 0 : attic_remove(nfs_fd, e->name);
		if (r < 0) {
			log_errno(r, "cannot remove %s/" NODEROOT_ATTIC "/%s", cfg->nfs_root,
				  e->name);
			attic_json(a, e, now - e->mtime_s, "failed");
			failed++;
			continue;
		}
		attic_line(out, dry_run ? "would remove" : "removed", e, now - e->mtime_s, keep);
		attic_json(a, e, now - e->mtime_s, dry_run ? "wouldRemove" : "removed");
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
		failed = attic_collect(fd, cfg, dry_run, NULL, out);
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

/*
 * gc --json: the attic and the staging left by dead passes, then the unused
 * images, as one bramble/gc/v1 document on out; what gc_run() does, with
 * the same exit code.
 */
int gc_json(const struct bramble_config *cfg, bool dry_run, FILE *out)
{
	FILE *text = fopen("/dev/null", "we");
	json_t *attic = json_array(), *images, *doc;
	int fd, failed = 0, staging = 0, code;

	if (!text || !attic) {
		if (text)
			fclose(text);
		json_decref(attic);
		return EXIT_FAILED;
	}
	fd = open(cfg->nfs_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 && errno != ENOENT) {
		log_warn("cannot open the NFS root %s", cfg->nfs_root);
		failed = 1;
	} else if (fd >= 0) {
		failed = attic_collect(fd, cfg, dry_run, attic, text);
		staging = dry_run ? 0
				  : noderoot_clean_staging(fd, (int64_t)time(NULL),
							   STAGING_MAX_AGE_S);
		close(fd);
	}
	images = image_step_gc_json(cfg, dry_run, text, &code);
	fclose(text);
	doc = json_pack("{s:s,s:b,s:b,s:I,s:o,s:I,s:o}", "schema", "bramble/gc/v1", "ok",
			!failed && code == EXIT_OK, "dryRun", dry_run, "atticRetentionSeconds",
			(json_int_t)cfg->roots_attic_retention_s, "attic", attic, "stagingRemoved",
			(json_int_t)(staging > 0 ? staging : 0), "images", images);
	if (!doc || json_dumpf(doc, out, JSON_INDENT(2) | JSON_SORT_KEYS) < 0)
		code = EXIT_FAILED;
	else
		fputc('\n', out);
	json_decref(doc);
	return failed || code != EXIT_OK ? EXIT_FAILED : EXIT_OK;
}
