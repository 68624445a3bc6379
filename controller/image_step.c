/*
 * image_step: url Images into the image store before a pass renders, and
 * the `bramble images` command (image_step.h).
 */
#include "image_step.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "imgstore.h"
#include "atomic.h"
#include "log.h"
#include "reconcile.h"
#include "source.h"
#include "status.h"
#include "progress_sink.h"
#include "../common/buf.h"
#include "../common/fsutil.h"

#define IN_USE_FILE    "in-use"
#define IN_USE_MAX     ((size_t)1 << 20)
#define PLAN_NODES_MAX 5

static int store_open(const struct bramble_config *cfg, bool create, int *ret_fd)
{
	int fd;

	if (create) {
		int r = mkdir_p(cfg->image_store, 0755);

		if (r < 0)
			return r;
	}
	fd = open(cfg->image_store, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	*ret_fd = fd;
	return 0;
}

static void note_log(void *arg, const char *line)
{
	(void)arg;
	log_info("%s", line);
}

/* A download's lines: a retry is a warning, progress and the final line are news. */
static void download_note_log(void *arg, enum download_note kind, const char *line)
{
	(void)arg;
	if (kind == DOWNLOAD_RETRY)
		log_warnx("%s", line);
	else
		log_info("%s", line);
}

/* The progress of the Image being brought in, named by it (progress_sink.h). */
static void sink_init(struct progress_sink *sink, const struct bramble_config *cfg,
		      const struct image *img, struct imgstore_opts *o)
{
	progress_sink_init(sink, img->name, cfg->state_dir, o->quiet);
	o->progress.fn = progress_sink_report;
	o->progress.arg = sink;
}

static void opts_from(const struct bramble_config *cfg, struct imgstore_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->max_size = cfg->images_max_size;
	o->timeout_s = cfg->images_timeout_s;
	o->retries = cfg->images_retries;
	o->ca_file = cfg->images_ca_file;
	o->keep_downloads = cfg->images_keep_downloads;
	o->quiet = log_get_level() < LOG_LEVEL_INFO;
	o->note = note_log;
	o->download_note = download_note_log;
}

/* plan: say that the image comes first, and which nodes wait for it. */
static void print_pending(const struct manifest_set *set, const struct image *img, FILE *out)
{
	size_t i, n = 0;

	fprintf(out, "image \"%s\": would download and extract %s (not in the image store yet)",
		img->name, img->url);
	for (i = 0; i < set->n_nodes; i++) {
		if (set->nodes[i]->image != img)
			continue;
		if (n < PLAN_NODES_MAX)
			fprintf(out, "%s%s",
				n ? ", " : "; nodes that cannot be planned until then: ",
				set->nodes[i]->name);
		n++;
	}
	if (n > PLAN_NODES_MAX)
		fprintf(out, " and %zu more", n - PLAN_NODES_MAX);
	fputc('\n', out);
}

/* Whether the store holds img (its digest known and extracted). */
static int in_store(int store_fd, const struct image *img)
{
	char digest[SHA256_HEX_LEN + 1];

	if (imgstore_digest(store_fd, img, digest) < 0)
		return 0;
	return imgstore_has(store_fd, digest);
}

int image_step_run(const struct bramble_config *cfg, const struct manifest_set *set, bool fetch,
		   FILE *out, struct diags *d, size_t *ret_pending)
{
	struct imgstore_opts o;
	struct progress_sink sink;
	size_t i, pending = 0, bad = 0;
	int store_fd = -1, r = 0;

	opts_from(cfg, &o);
	for (i = 0; r == 0 && i < set->n_images; i++) {
		const struct image *img = set->images[i];
		char digest[SHA256_HEX_LEN + 1];
		struct buf err = BUF_INIT;

		if (!img->url || !manifest_set_uses_image(set, img))
			continue;
		if (store_fd < 0 && (r = store_open(cfg, fetch, &store_fd)) < 0) {
			if (r == -ENOENT && !fetch) {
				r = 0;
				print_pending(set, img, out);
				pending++;
			}
			continue;
		}
		r = in_store(store_fd, img);
		if (r != 0) {
			r = r > 0 ? 0 : r;
			continue;
		}
		if (!fetch) {
			print_pending(set, img, out);
			pending++;
			continue;
		}
		sink_init(&sink, cfg, img, &o);
		r = imgstore_ensure(store_fd, img, &o, digest, &err);
		progress_sink_end(&sink);
		if (r == -ECANCELED) /* SIGTERM: not a failure of the image */
			log_warnx("interrupted (bramble is stopping): %s; the next pass begins it "
				  "again",
				  buf_str(&err));
		else if (r < 0 && r != -ENOMEM) {
			r = diags_add(d, &img->pos, "%s; nothing was added to the image store",
				      buf_str(&err));
			bad++;
		}
		buf_release(&err);
	}
	if (store_fd >= 0)
		close(store_fd);
	*ret_pending = pending;
	return r < 0 ? r : bad ? -EINVAL : 0;
}

static void print_unused(size_t n, uint64_t bytes, FILE *out)
{
	char h[32];

	if (n && out)
		fprintf(out,
			"%zu unused image%s in the store (%s): `bramble images prune` removes %s\n",
			n, n == 1 ? "" : "s", imgstore_human(bytes, h), n == 1 ? "it" : "them");
}

/* Write <store>/in-use (the digests the applied set references) when it changed. */
static int in_use_write(int store_fd, const struct imgstore_list *l)
{
	struct buf b = BUF_INIT;
	char *old = NULL;
	size_t i, len = 0;
	int r = 0;

	for (i = 0; r == 0 && i < l->n; i++)
		if (l->v[i].n_refs)
			r = buf_printf(&b, "%s\n", l->v[i].digest);
	if (r < 0)
		goto out;
	if (file_read_at(store_fd, IN_USE_FILE, IN_USE_MAX, &old, &len) == 0 && len == b.len &&
	    memcmp(old, buf_str(&b), len) == 0)
		goto out;
	r = imgstore_remove_dead_temps(store_fd); /* a killed pass's in-use temp */
	if (r == 0)
		r = atomic_write_at(store_fd, IN_USE_FILE, b.data, b.len, 0644, ATOMIC_SYNC_NONE);
out:
	free(old);
	buf_release(&b);
	return r;
}

int image_step_unused(const struct bramble_config *cfg, const struct manifest_set *set, bool record,
		      FILE *out)
{
	struct imgstore_list l;
	uint64_t bytes = 0;
	size_t i, n = 0;
	int fd = -1, r;

	if (store_open(cfg, false, &fd) < 0)
		return 0;
	r = imgstore_list(fd, set, &l);
	if (r == 0) {
		if (record)
			r = in_use_write(fd, &l);
		if (r < 0)
			log_errno(r, "cannot record the images in use in %s/%s", cfg->image_store,
				  IN_USE_FILE);
		for (i = 0; i < l.n; i++)
			if (!l.v[i].n_refs && !l.v[i].fetching) {
				n++;
				bytes += l.v[i].bytes;
			}
		print_unused(n, bytes, out);
		imgstore_list_release(&l);
	}
	close(fd);
	return record ? r : 0;
}

size_t image_step_fetching(const struct bramble_config *cfg)
{
	size_t n = 0;
	int fd = -1;

	if (store_open(cfg, false, &fd) < 0)
		return 0;
	if (imgstore_fetching(fd, &n) < 0)
		n = 0;
	close(fd);
	return n;
}

int image_step_states(const struct bramble_config *cfg, const struct manifest_set *set,
		      size_t states[IMAGE_STATE_COUNT])
{
	struct imgstore_list l;
	size_t i, used = 0, held = 0;
	int fd = -1, r;

	memset(states, 0, IMAGE_STATE_COUNT * sizeof(*states));
	for (i = 0; i < set->n_images; i++)
		used += set->images[i]->url && manifest_set_uses_image(set, set->images[i]);
	r = store_open(cfg, false, &fd);
	if (r == -ENOENT) { /* no store yet: every url Image in use is missing */
		states[IMAGE_STATE_MISSING] = used;
		return 0;
	}
	if (r == 0)
		r = imgstore_list(fd, set, &l);
	if (fd >= 0)
		close(fd);
	if (r < 0)
		return r;
	for (i = 0; i < l.n; i++) {
		const struct imgstore_entry *e = &l.v[i];

		states[e->fetching     ? IMAGE_STATE_FETCHING
		       : e->failed     ? IMAGE_STATE_FAILED
		       : !e->extracted ? IMAGE_STATE_PARTIAL
		       : e->n_refs     ? IMAGE_STATE_PRESENT
				       : IMAGE_STATE_UNUSED]++;
		if ((e->extracted && !e->failed) || e->fetching) /* fetching: not missing */
			held += e->n_refs;
	}
	states[IMAGE_STATE_MISSING] = used > held ? used - held : 0;
	imgstore_list_release(&l);
	return 0;
}

void image_step_status(const struct bramble_config *cfg, FILE *out)
{
	struct imgstore_list l;
	char *in_use = NULL;
	uint64_t bytes = 0;
	size_t i, n = 0, len;
	int fd = -1;

	if (store_open(cfg, false, &fd) < 0)
		return;
	if (file_read_at(fd, IN_USE_FILE, IN_USE_MAX, &in_use, &len) == 0 &&
	    imgstore_list(fd, NULL, &l) == 0) {
		for (i = 0; i < l.n; i++)
			if (!strstr(in_use, l.v[i].digest) && !l.v[i].fetching) {
				n++;
				bytes += l.v[i].bytes;
			}
		if (n)
			fputc('\n', out);
		print_unused(n, bytes, out);
		imgstore_list_release(&l);
	}
	free(in_use);
	close(fd);
}

static void print_entry(const struct imgstore_entry *e, bool known, FILE *out)
{
	char h[32];
	size_t i;

	fprintf(out, "%-64s  %9s  ", e->digest, imgstore_human(e->bytes, h));
	for (i = 0; i < e->n_refs; i++)
		fprintf(out, "%s%s (%s:%u)", i ? ", " : "", e->refs[i]->name,
			e->refs[i]->pos.file ? e->refs[i]->pos.file : "?", e->refs[i]->pos.line);
	if (!e->n_refs)
		fputs(e->fetching ? "-" : known ? "unused" : "?", out);
	if (e->fetching)
		fputs(" (being fetched)", out);
	else if (e->failed)
		fputs(" (its extraction failed)", out);
	else if (!e->extracted)
		fputs(" (download only)", out);
	fputc('\n', out);
}

static int list_print(const struct imgstore_list *l, bool known, FILE *out)
{
	uint64_t bytes = 0, unused_bytes = 0;
	size_t i, unused = 0;
	char h[32];

	if (l->n == 0) {
		fprintf(out, "the image store holds no downloaded images\n");
		return EXIT_OK;
	}
	fprintf(out, "%-64s  %9s  %s\n", "DIGEST (sha256)", "SIZE", "USED BY");
	for (i = 0; i < l->n; i++) {
		print_entry(&l->v[i], known, out);
		bytes += l->v[i].bytes;
		if (!l->v[i].n_refs && !l->v[i].fetching) {
			unused++;
			unused_bytes += l->v[i].bytes;
		}
	}
	fprintf(out, "\n%zu image%s, %s", l->n, l->n == 1 ? "" : "s", imgstore_human(bytes, h));
	fputs(known ? "\n"
		    : " (the manifests could not be read: which Images use them is not known)\n",
	      out);
	if (known)
		print_unused(unused, unused_bytes, out);
	return EXIT_OK;
}

/*
 * The listing as a program reads it (README.md, "JSON output"): one entry
 * per digest with its size, state, url and the Images that use it.
 */
static int list_json(const char *store, const struct imgstore_list *l, bool known, FILE *out)
{
	json_t *doc, *a = json_array();
	size_t i, j;

	for (i = 0; a && l && i < l->n; i++) {
		const struct imgstore_entry *e = &l->v[i];
		json_t *used = known ? json_array() : json_null();

		for (j = 0; known && used && j < e->n_refs; j++)
			json_array_append_new(used, json_string(e->refs[j]->name));
		json_array_append_new(a, json_pack("{s:s,s:I,s:b,s:b,s:b,s:s?,s:o}", "digest",
						   e->digest, "bytes", (json_int_t)e->bytes,
						   "extracted", e->extracted, "failed", e->failed,
						   "fetching", e->fetching, "url", e->url, "usedBy",
						   used));
	}
	doc = json_pack("{s:s,s:s,s:b,s:o}", "schema", "bramble/images/v1", "store", store,
			"usageKnown", known, "images", a);
	if (!doc || json_dumpf(doc, out, JSON_INDENT(2) | JSON_SORT_KEYS) < 0) {
		json_decref(doc);
		return EXIT_FAILED;
	}
	fputc('\n', out);
	json_decref(doc);
	return EXIT_OK;
}

/*
 * Remove the unused entries (none with dry_run); with a (gc --json), one
 * {"digest", "bytes", "action"} per entry: removed, wouldRemove or failed.
 */
static int prune(int store_fd, const struct imgstore_list *l, bool dry_run, json_t *a, FILE *out)
{
	uint64_t bytes = 0;
	size_t i, n = 0, failed = 0;
	char h[32];

	for (i = 0; i < l->n; i++) {
		struct buf err = BUF_INIT;
		const char *action = "wouldRemove";

		if (l->v[i].n_refs || l->v[i].fetching) /* fetching: its lock is held */
			continue;
		if (!dry_run && imgstore_remove(store_fd, l->v[i].digest, &err) < 0) {
			log_warnx("%s", buf_str(&err));
			failed++;
			action = "failed";
		} else if (!dry_run) {
			fprintf(out, "removed sha256/%s (%s)\n", l->v[i].digest,
				imgstore_human(l->v[i].bytes, h));
			n++;
			bytes += l->v[i].bytes;
			action = "removed";
		}
		if (a)
			json_array_append_new(
				a, json_pack("{s:s,s:I,s:s}", "digest", l->v[i].digest, "bytes",
					     (json_int_t)l->v[i].bytes, "action", action));
		buf_release(&err);
	}
	if (dry_run)
		return EXIT_OK;
	(void)imgstore_clean_staging(store_fd);
	if (n)
		fprintf(out, "removed %zu unused image%s (%s)\n", n, n == 1 ? "" : "s",
			imgstore_human(bytes, h));
	else if (!failed)
		fprintf(out, "no unused images in the store\n");
	return failed ? EXIT_FAILED : EXIT_OK;
}

json_t *image_step_gc_json(const struct bramble_config *cfg, bool dry_run, FILE *text,
			   int *ret_code)
{
	struct manifest_set *set = NULL;
	struct imgstore_list l;
	json_t *a = json_array();
	bool known;
	int fd = -1, r;

	*ret_code = EXIT_OK;
	known = cfg->source && source_load_set(cfg, &set) == 0;
	r = known ? store_open(cfg, false, &fd) : -ENOENT;
	if (r == 0)
		r = imgstore_list(fd, set, &l);
	if (r == 0) {
		*ret_code = prune(fd, &l, dry_run, a, text);
		imgstore_list_release(&l);
	} else if (r != -ENOENT) {
		log_errno(r, "cannot read the image store %s", cfg->image_store);
		*ret_code = EXIT_FAILED;
	}
	if (fd >= 0)
		close(fd);
	manifest_set_free(set);
	if (!known)
		log_warnx("images: not pruned: which images are in use is not known (no source, "
			  "or the manifests cannot be read)");
	return json_pack("{s:s,s:b,s:o}", "store", cfg->image_store, "usageKnown", known, "unused",
			 a);
}

int image_step_command(const struct bramble_config *cfg, bool do_prune, bool json, FILE *out)
{
	struct manifest_set *set = NULL;
	struct imgstore_list l;
	int fd = -1, r, code;

	r = source_load_set(cfg, &set);
	if (r < 0 && do_prune) {
		log_warnx(
			"not pruning: the manifests cannot be read, so which images are in use is "
			"not known");
		return EXIT_FAILED;
	}
	r = store_open(cfg, false, &fd);
	if (r == -ENOENT) {
		if (json)
			list_json(cfg->image_store, NULL, set != NULL, out);
		else
			fprintf(out, "the image store %s does not exist yet\n", cfg->image_store);
		manifest_set_free(set);
		return EXIT_OK;
	}
	if (r == 0)
		r = imgstore_list(fd, set, &l);
	if (r < 0) {
		log_errno(r, "cannot read the image store %s", cfg->image_store);
		code = EXIT_FAILED;
	} else {
		code = do_prune ? prune(fd, &l, false, NULL, out)
		       : json	? list_json(cfg->image_store, &l, set != NULL, out)
				: list_print(&l, set != NULL, out);
		imgstore_list_release(&l);
	}
	if (fd >= 0)
		close(fd);
	manifest_set_free(set);
	return code;
}
