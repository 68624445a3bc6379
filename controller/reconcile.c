#include "reconcile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "actions.h"
#include "history.h"
#include "image_step.h"
#include "log.h"
#include "pass.h"
#include "progress_sink.h"
#include "status.h"
#include "../common/buf.h"
#include "../common/fsutil.h"
#include "../common/hash.h"
#include "../common/stop.h"

double pass_elapsed(const struct timespec *start)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

/* Split a file path into a managed directory and a name in it. */
static int split_path(const char *path, char **ret_dir, char **ret_name)
{
	const char *slash = strrchr(path, '/');

	if (!slash || !slash[1])
		return -EINVAL;
	*ret_dir = slash == path ? strdup("/") : strndup(path, (size_t)(slash - path));
	*ret_name = strdup(slash + 1);
	return *ret_dir && *ret_name ? 0 : -ENOMEM;
}

int pass_split_paths(struct pass *p)
{
	const struct bramble_config *c = p->cfg;
	int r;

	if (p->dhcp_dir)
		return 0;
	r = split_path(c->dhcp_conf_file, &p->dhcp_dir, &p->dhcp_name);
	if (r == 0)
		r = split_path(c->exports_file, &p->exports_dir, &p->exports_name);
	if (r == 0) {
		char *gdir = NULL;

		r = split_path(c->ganesha_file, &gdir, &p->ganesha_name);
		if (r == 0 && strcmp(gdir, p->exports_dir) != 0)
			r = -EXDEV;
		free(gdir);
	}
	if (r == -EXDEV)
		log_warnx("nfs.exportsFile and nfs.ganeshaFile must be in one directory");
	return r;
}

void pass_root_paths(const struct pass *p, const char *path[ROOT_COUNT])
{
	path[ROOT_TFTP] = p->cfg->tftp_root;
	path[ROOT_NFS] = p->cfg->nfs_root;
	path[ROOT_DHCP_CONF] = p->dhcp_dir;
	path[ROOT_DHCP_HOSTS] = p->cfg->dhcp_hosts_dir;
	path[ROOT_EXPORTS] = p->exports_dir;
	path[ROOT_IMAGES] = p->cfg->image_store;
}

static int open_engine(struct pass *p)
{
	struct engine_roots roots;
	struct buf why = BUF_INIT;
	int r;

	r = pass_split_paths(p);
	if (r < 0)
		return r;
	memset(&roots, 0, sizeof(roots));
	pass_root_paths(p, roots.path);
	roots.state_dir = p->cfg->state_dir;
	/* Nothing is made before the revision has rendered (engine_make_roots()). */
	roots.read_only = true;
	roots.copy_mode = p->cfg->roots_copy_mode;
	roots.defer_inventory = p->delta; /* pass_delta_scope() loads what the pass needs */
	roots.why = &why;
	r = engine_open(&roots, &p->engine);
	if (r == -EBADMSG)
		log_warnx("%s", buf_str(&why));
	buf_release(&why);
	if (r < 0)
		return r;
	if (p->state_fd < 0)
		p->state_fd = open(p->cfg->state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (p->state_fd < 0 && errno == ENOENT)
		return 0; /* nothing recorded yet */
	return p->state_fd < 0 ? -errno : 0;
}

/*
 * Record the pass in status.json (and nodes.json); when that fails, no
 * stale Ready=True may stay behind: the old status goes, loudly.
 */
int pass_report_record(struct pass *p, const struct pass_report *rep)
{
	int r = status_record(p->cfg->state_dir, rep);

	if (r == 0)
		return 0;
	log_errno(r, "cannot record the status in %s (status.json, nodes.json)", p->cfg->state_dir);
	if (status_forget(p->cfg->state_dir) < 0)
		log_warnx("cannot remove the stale %s/status.json either", p->cfg->state_dir);
	return r;
}

/*
 * Say why a pass stops; an applying pass adds that nothing was applied (a
 * plan or a validation never applies, and does not say so) and records it.
 */
/*
 * Whether these errors are the ones the last failed pass logged (pass_opts.memo):
 * then they are not printed again, and the daemon's log says how often.
 */
static bool errors_repeated(struct pass *p, const char *what)
{
	struct error_memo *memo = p->o->memo;
	struct sha256_ctx c;
	char digest[SHA256_HEX_LEN + 1];
	size_t i;

	if (!memo || sha256_init(&c) < 0)
		return false;
	sha256_update(&c, what, strlen(what) + 1);
	for (i = 0; i < p->d.n; i++) {
		const struct diag *g = &p->d.v[i];
		char at[64];

		snprintf(at, sizeof(at), ":%u:%u:", g->line, g->col);
		sha256_update(&c, g->file ? g->file : "", g->file ? strlen(g->file) : 0);
		sha256_update(&c, at, strlen(at));
		sha256_update(&c, g->msg, strlen(g->msg) + 1);
	}
	if (sha256_final_hex(&c, digest) < 0)
		return false;
	if (strcmp(digest, memo->digest) == 0) {
		memo->times++;
		return true;
	}
	memcpy(memo->digest, digest, sizeof(digest));
	memo->times = 1;
	return false;
}

static void report_invalid(struct pass *p, enum pass_outcome outcome, const char *what)
{
	struct pass_report rep;
	struct buf m = BUF_INIT;
	const char *message;
	bool repeated;

	diags_sort(&p->d);
	repeated = errors_repeated(p, what);
	if (repeated)
		log_warnx("still failing (%u times) with the same %zu error%s: %s",
			  p->o->memo->times, p->d.n, p->d.n == 1 ? "" : "s", what);
	else
		diags_print(&p->d, stderr);
	if (p->o->json && p->o->mode == PASS_MODE_VALIDATE)
		pass_json_validate(p, false);
	else if (p->o->json)
		pass_json_plan(p, NULL, 0);
	if (p->o->mode != PASS_MODE_APPLY) {
		log_warnx("%s", what);
		return;
	}
	if (outcome == PASS_REFUSED) /* says it already */
		buf_adds(&m, what);
	else
		buf_printf(&m, "%s: nothing applied; the last applied state keeps serving", what);
	message = buf_str(&m);
	if (!repeated)
		log_warnx("%s", message);
	p->res->outcome = outcome;
	memset(&rep, 0, sizeof(rep));
	rep.outcome = outcome;
	rep.revision = p->rev.revision;
	rep.errors = &p->d;
	rep.message = message;
	rep.duration_s = pass_elapsed(&p->start);
	pass_report_record(p, &rep);
	buf_release(&m);
}

int pass_check_rendered(struct pass *p)
{
	size_t i;
	int r = 0;

	for (i = 0; r == 0 && i < n_reconcilers; i++) {
		if (!reconcilers[i]->validate)
			continue;
		r = reconcilers[i]->validate(&p->ctx, &p->desired, &p->d);
		if (r == RECONCILER_UNCHECKED) {
			log_debug("%s: the checking tool is not installed: the rendered output is "
				  "not checked",
				  reconcilers[i]->name);
			r = 0;
		}
	}
	return r;
}

void pass_render_ctx(struct pass *p)
{
	memset(&p->ctx, 0, sizeof(p->ctx));
	p->ctx.set = p->set;
	p->ctx.root_path[ROOT_TFTP] = p->cfg->tftp_root;
	p->ctx.root_path[ROOT_NFS] = p->cfg->nfs_root;
	p->ctx.root_path[ROOT_DHCP_CONF] = p->dhcp_dir;
	p->ctx.root_path[ROOT_DHCP_HOSTS] = p->cfg->dhcp_hosts_dir;
	p->ctx.root_path[ROOT_EXPORTS] = p->exports_dir;
	p->ctx.root_path[ROOT_IMAGES] = p->cfg->image_store;
	p->ctx.images_fd = -1;
	p->ctx.dhcp_conf_name = p->dhcp_name;
	p->ctx.exports_name = p->exports_name;
	p->ctx.ganesha_name = p->ganesha_name;
	p->ctx.dhcp_lease_file = p->cfg->dhcp_lease_file;
	p->ctx.dhcp_log_file = p->cfg->dhcp_log_file;
	p->ctx.export_ids = &p->ids;
	p->ctx.deps = &p->deps;
	p->ctx.secrets_dir = p->cfg->secrets_dir;
	p->ctx.dhcp_test_cmd = p->cfg->dhcp_test_cmd;
	p->ctx.scratch_dir = p->cfg->state_dir;
	p->ctx.run_command = run_command;
}

static int render(struct pass *p)
{
	struct buf why = BUF_INIT;
	int r;

	pass_render_ctx(p);
	p->ctx.images_fd = engine_root_fd(p->engine, ROOT_IMAGES);
	r = export_ids_load(p->state_fd, &p->ids, &why);
	if (r == -EBADMSG)
		log_warnx("%s", buf_str(&why));
	buf_release(&why);
	if (r == 0)
		r = image_trees_load(&p->ctx, &p->d);
	if (r == 0)
		r = render_all(&p->ctx, &p->desired, &p->d);
	if (r == 0)
		r = pass_check_rendered(p);
	return r;
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/*
 * Count the nodes whose every resource (and every shared one) is in place:
 * one walk over the plan collects the nodes with a problem.
 */
size_t pass_nodes_ready(const struct plan *pl, const struct manifest_set *set)
{
	const char **bad = calloc(pl->n_items + 1, sizeof(*bad));
	size_t i, n_bad = 0, ready = 0;

	if (!bad)
		return 0;
	for (i = 0; i < pl->n_items; i++) {
		const struct plan_item *it = &pl->items[i];
		bool in_place = it->op == PLAN_UNCHANGED || it->op == PLAN_KEEP || it->applied;

		if (!it->res || in_place)
			continue;
		if (!it->res->node) {
			free(bad);
			return 0;
		}
		bad[n_bad++] = it->res->node;
	}
	qsort(bad, n_bad, sizeof(*bad), str_cmp);
	for (i = 0; i < set->n_nodes; i++)
		ready += !bsearch(&set->nodes[i]->name, bad, n_bad, sizeof(*bad), str_cmp);
	free(bad);
	return ready;
}

void pass_print_summary(struct pass *p, const struct plan *pl, const char *verb)
{
	size_t n_deleted, n_attic;
	char acts[128];

	actions_describe(pl->actions, acts, sizeof(acts));
	plan_delete_counts(pl, &n_deleted, &n_attic);
	fprintf(p->o->out, "%s %s: %zu created, %zu updated, %zu deleted, %zu unchanged", verb,
		p->rev.revision, pl->n_create, pl->n_update, n_deleted, pl->n_unchanged);
	if (n_attic)
		fprintf(p->o->out, ", %zu root%s to the attic", n_attic, n_attic == 1 ? "" : "s");
	if (pl->n_drift)
		fprintf(p->o->out, ", %zu drift repaired", pl->n_drift);
	if (*acts)
		fprintf(p->o->out, "; %s", acts);
	fputc('\n', p->o->out);
}

/*
 * Record the reloads this pass will need, and that it is under way, before
 * any change they follow becomes visible (DESIGN.md, reconcile step 6): a
 * pass killed after a rename leaves the intent, which the next pass (or the
 * daemon's first) runs, and the mark that makes that pass recover what this
 * one left (engine_recover()).  Returns the intent, or -1 when it cannot be
 * recorded: nothing is applied then.
 */
static long intent_record(struct pass *p, unsigned pending)
{
	unsigned intent = pending | p->plan->actions | ACTIONS_PASS_OPEN;
	int r;

	/* A pass that writes nothing (but the reloads left to do) needs none:
	 * a steady-state full pass stays free of extra syncs. */
	if (!plan_has_changes(p->plan) && !p->plan->inventory_dirty)
		return (long)pending;
	if (intent == pending)
		return (long)intent;
	r = actions_pending_save(p->state_fd, intent);
	if (r < 0) {
		log_errno(r, "cannot record the pass's intent in %s/%s: nothing applied",
			  p->cfg->state_dir, ACTIONS_PENDING_FILE);
		return -1;
	}
	return (long)intent;
}

/*
 * Say what failed: each item with its operation and path, at most a screen
 * of them, and what failed as a whole (an fsync, the inventory).
 */
static void pass_report_failures(struct pass *p, int r)
{
	const size_t max = 20;
	size_t i, n = 0;

	for (i = 0; i < p->plan->n_items; i++) {
		const struct plan_item *it = &p->plan->items[i];
		const char *path = NULL;
		enum root_id root;

		if (!it->error)
			continue;
		plan_item_where(it, &root, &path);
		if (n++ < max)
			log_errno(it->error, "cannot %s %s/%s",
				  it->error_op ? it->error_op : "apply",
				  engine_root_path(p->engine, root), path);
	}
	if (n > max)
		log_warnx("... and %zu more failures", n - max);
	if (r < 0 && *engine_failure(p->engine))
		log_errno(r, "cannot %s", engine_failure(p->engine));
}

static int node_name_cmp(const void *key, const void *elem)
{
	return strcmp(key, (*(struct node *const *)elem)->name);
}

/* The engine's hook: a node's boot tree waits while the node boots (pass_opts.defer). */
static bool defer_tree(void *ctx, const struct plan_item *it)
{
	struct pass *p = ctx;
	struct node *const *n;

	if (!it->res->node || !it->res->owner || strcmp(it->res->owner, "tftp") != 0)
		return false;
	n = bsearch(it->res->node, p->set->nodes, p->set->n_nodes, sizeof(*p->set->nodes),
		    node_name_cmp);
	return n && p->o->defer(p->o->defer_ctx, (*n)->serial, (*n)->name);
}

static size_t count_deferred(const struct plan *pl)
{
	size_t i, n = 0;

	for (i = 0; i < pl->n_items; i++)
		n += pl->items[i].deferred;
	return n;
}

/*
 * The engine's part of an apply: the intent (*ret_intent; negative: it could
 * not be recorded, and nothing was done), the recovery of a pass that did
 * not finish, the apply, the export ids.  *failed counts the resources that
 * failed.
 */
static int apply_changes(struct pass *p, long *ret_intent, size_t *failed)
{
	unsigned flags = p->o->adopt ? ENGINE_ADOPT : 0;
	struct progress_sink roots;
	struct progress_cb roots_cb = {progress_sink_report, &roots};
	unsigned pending;
	int r, q;

	if (plan_has_changes(p->plan))
		plan_print(p->engine, p->plan, p->o->out, p->o->verbose);
	if (p->o->defer)
		engine_set_defer(p->engine, defer_tree, p);
	/* Reloads that failed or were cut short before are retried with this pass's own. */
	pending = actions_pending_load(p->state_fd);
	*ret_intent = intent_record(p, pending);
	if (*ret_intent < 0)
		return -EIO;
	r = engine_recover(p->engine, p->plan, pending & ACTIONS_PASS_OPEN);
	/* The node root copies: a bar or lines, and the step in /status. */
	progress_sink_init(&roots, NULL, p->cfg->state_dir, log_get_level() < LOG_LEVEL_INFO);
	engine_set_progress(p->engine, &roots_cb);
	if (r == 0)
		r = engine_apply(p->engine, p->plan, flags, failed);
	engine_set_progress(p->engine, NULL);
	progress_sink_end(&roots);
	p->res->n_deferred = count_deferred(p->plan);
	pass_report_failures(p, r);
	q = export_ids_save(p->state_fd, &p->ids);
	if (q < 0)
		log_errno(q, "cannot write %s/export-ids", p->cfg->state_dir);
	if (r == 0)
		r = q;
	return r;
}

/*
 * After the engine (r, failed): the reloads, what `images prune` keeps, and
 * the reloads still to do recorded.  Returns r, or the first error here;
 * *ret_acts gets the reloads that failed.
 */
static int apply_actions(struct pass *p, long intent, int r, size_t failed, unsigned *ret_acts)
{
	unsigned acts;
	int q;

	/* Run for what was applied, even when something failed: a reload with
	 * nothing new to read is harmless, a missed one is not. */
	acts = actions_run(p->cfg, (unsigned)intent & ~ACTIONS_PASS_OPEN);
	p->res->reloads_failed = acts;
	/* What `images prune` keeps, recorded while the intent still says the
	 * pass is open (its temp is the next pass's to clean up). */
	if (r == 0 && !failed && image_step_unused(p->cfg, p->set, true, NULL) < 0)
		r = -EIO;
	if (r < 0 || failed)
		acts |= ACTIONS_PASS_OPEN; /* the next pass recovers what this one left */
	q = actions_pending_save(p->state_fd, acts);
	if (q < 0) {
		log_errno(q, "cannot record the reloads still to do in %s/%s", p->cfg->state_dir,
			  ACTIONS_PENDING_FILE);
		if (r == 0)
			r = q;
	}
	*ret_acts = acts & ~ACTIONS_PASS_OPEN;
	return r;
}

/* Record the status of an apply; msg (or NULL) says which reload failed. */
static int apply_record(struct pass *p, int r, size_t failed, const char *msg)
{
	struct pass_report rep;

	memset(&rep, 0, sizeof(rep));
	rep.outcome = r == 0 && failed == 0 && !msg ? PASS_APPLIED : PASS_APPLY_FAILED;
	p->res->outcome = rep.outcome;
	p->res->n_failed = failed;
	rep.revision = p->rev.revision;
	rep.set = p->set;
	rep.plan = p->plan;
	rep.delta = p->delta;
	rep.n_deferred = p->res->n_deferred;
	rep.errors = &p->d;
	rep.message = r < 0 ? strerror(-r) : msg;
	rep.duration_s = pass_elapsed(&p->start);
	return pass_report_record(p, &rep);
}

/*
 * The end of an apply: sealed when everything is in place and settled, the
 * seal removed otherwise; the summary; the exit code.  recorded: what
 * apply_record() returned.
 */
static int apply_finish(struct pass *p, int r, size_t failed, const char *msg, int recorded)
{
	int q;

	if (r < 0 || failed) {
		if (seal_remove(p->state_fd) < 0)
			log_warn("cannot remove %s/seal", p->cfg->state_dir);
		if (failed)
			log_errno(r ? r : -EIO, "apply of %s: %zu resources failed",
				  p->rev.revision, failed);
		else
			log_errno(r, "apply of %s failed", p->rev.revision);
		return EXIT_FAILED;
	}
	if (msg || recorded < 0) {
		if (seal_remove(p->state_fd) < 0)
			log_warn("cannot remove %s/seal", p->cfg->state_dir);
		pass_print_summary(p, p->plan, "applied");
		if (msg)
			log_warnx("%s", msg);
		return EXIT_FAILED;
	}
	if (p->res->n_deferred) /* not settled: the next pass must plan those nodes again */
		q = seal_remove(p->state_fd);
	else
		q = pass_seal(p);
	pass_print_summary(p, p->plan, "applied");
	image_step_unused(p->cfg, p->set, false, p->o->out);
	return q < 0 ? EXIT_FAILED : EXIT_OK;
}

/*
 * The order matters (reconcilers/engine/recover.c, steps 0 and 6): the intent, the
 * recovery of a pass that did not finish, the apply, the reloads (whatever
 * failed), the images in use, the intent cleared or kept, the status, the
 * seal last: a crash anywhere leaves the intent, or a state the next full
 * pass (there is no seal yet) records again.  The daemon's copy of the seal
 * in memory (controller/watch.h) is used only while this file is the one the
 * pass wrote: it adds no step to this order.
 */
static int do_apply(struct pass *p)
{
	char what[128], msg[256];
	unsigned acts;
	size_t failed = 0;
	long intent;
	int r, q;

	r = apply_changes(p, &intent, &failed);
	if (intent < 0)
		return EXIT_FAILED;
	r = apply_actions(p, intent, r, failed, &acts);
	if (acts) {
		actions_describe(acts, what, sizeof(what));
		snprintf(msg, sizeof(msg),
			 "the files are in place, but %s failed; it is tried again at the next "
			 "pass",
			 what);
	}
	q = apply_record(p, r, failed, acts ? msg : NULL);
	return apply_finish(p, r, failed, acts ? msg : NULL, q);
}

/* The plan for people (the text) or programs (--json), and the reloads apply would run. */
static void plan_show(struct pass *p, unsigned pending)
{
	char acts[128] = "";

	if (p->plan->actions | pending)
		actions_describe(p->plan->actions | pending, acts, sizeof(acts));
	if (p->o->json) {
		pass_json_plan(p, acts[0] ? acts : NULL, 0);
		return;
	}
	plan_print_flags(p->engine, p->plan, p->o->out,
			 (p->o->verbose ? PLAN_PRINT_VERBOSE : 0) |
				 (p->o->color ? PLAN_PRINT_COLOR : 0));
	if (acts[0])
		fprintf(p->o->out, "after apply: %s%s\n", acts,
			pending ? " (retrying a reload that failed)" : "");
}

static int pass_plan_apply(struct pass *p)
{
	unsigned flags = p->cfg->allow_empty ? ENGINE_ALLOW_EMPTY : 0, pending;
	int r;

	r = p->o->mode == PASS_MODE_APPLY ? engine_make_roots(p->engine) : 0;
	if (r == 0 && p->o->mode == PASS_MODE_APPLY && p->state_fd < 0) {
		p->state_fd = open(p->cfg->state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		r = p->state_fd < 0 ? -errno : 0;
	}
	if (r < 0) {
		log_errno(r, "cannot make the output directories");
		return EXIT_FAILED;
	}
	r = engine_plan(p->engine, &p->desired, flags, &p->plan);
	if (r == 0 && p->delta)
		pass_delta_count(p);
	if (r == -ECANCELED) {
		report_invalid(
			p, PASS_REFUSED,
			p->cfg->selector
				? "refusing to apply: the selector matches no node, and "
				  "applying it would remove every node's files; set "
				  "allowEmpty: true (or --allow-empty) if that is what you want"
				: "refusing to apply: the repository has no nodes, and "
				  "applying it would remove every node's files; set "
				  "allowEmpty: true (or --allow-empty) if that is what you want");
		return EXIT_FAILED;
	}
	if (r == 0 && p->o->mode == PASS_MODE_APPLY)
		r = pass_select_record(p);
	if (r == -EBADMSG) {
		log_warnx("%s", engine_failure(p->engine)); /* a damaged node-root record */
		return EXIT_FAILED;
	}
	if (r < 0) {
		log_errno(r, "cannot plan");
		return EXIT_FAILED;
	}
	if (p->o->mode == PASS_MODE_APPLY)
		return do_apply(p);
	pending = actions_pending_load(p->state_fd) & ~ACTIONS_PASS_OPEN;
	plan_show(p, pending);
	image_step_unused(p->cfg, p->set, false, p->o->out);
	return plan_has_changes(p->plan) || pending ? EXIT_CHANGES : EXIT_OK;
}

/*
 * Bring the url Images nodes use into the image store (apply, run), or say
 * which are still to fetch (plan: nodes of such an image cannot be rendered
 * yet, so the plan stops there with "changes pending").
 */
static int pass_images(struct pass *p)
{
	bool fetch = p->o->mode == PASS_MODE_APPLY;
	size_t pending = 0;
	int r;

	r = image_step_run(p->cfg, p->set, fetch, p->o->out, &p->d, &pending);
	if (r == -ECANCELED) { /* SIGTERM: said; no failure recorded (as after a crash) */
		p->res->outcome = PASS_FETCH_FAILED;
		return EXIT_FAILED;
	}
	if (r == -EINVAL) {
		report_invalid(p, PASS_FETCH_FAILED,
			       "an image could not be brought into the image store");
		return EXIT_FAILED;
	}
	if (r < 0) {
		log_errno(r, "cannot bring the images into the image store");
		return EXIT_FAILED;
	}
	if (!pending)
		return EXIT_OK;
	if (p->o->json)
		pass_json_plan(p, NULL, pending);
	fprintf(p->o->out,
		"plan: %zu image%s to download first; bramble apply fetches %s, then plans and "
		"applies the rest\n",
		pending, pending == 1 ? "" : "s", pending == 1 ? "it" : "them");
	return EXIT_CHANGES;
}

/*
 * Read the revision and load its manifests: nothing more when the seal
 * holds (returns 1), a delta load when only files of Nodes changed, else a
 * full one.  The files' text is freed either way.
 */
static int pass_load(struct pass *p)
{
	struct timespec fetch_start;
	int r;

	clock_gettime(CLOCK_MONOTONIC, &fetch_start);
	r = source_read(p->cfg, &p->rev, &p->d);
	p->res->fetch_s = pass_elapsed(&fetch_start);
	/* The JSON plan lists every change: never the sealed pass's summary alone. */
	if (r == 0 && p->o->mode != PASS_MODE_VALIDATE && !p->o->json && pass_sealed(p))
		return 1;
	/* A delta load's stubs are this instance's nodes alone: with a selector, the
	 * other sites' nodes must be loaded for the global checks; a full load. */
	if (p->cfg->selector)
		p->delta = false;
	if (!p->delta) /* a full pass: the seal's record is not needed, and not held */
		pass_seal_drop(p);
	if (r == 0 && p->delta) {
		r = pass_load_delta(p);
		p->delta = r == 0;
		r = r > 0 ? 0 : r;
	}
	if (r == 0 && p->o->mode != PASS_MODE_VALIDATE)
		r = pass_files_digest(p);
	if (r == 0 && !p->set)
		r = manifests_load_files(p->rev.files, p->rev.n_files, &p->d, &p->set);
	/* The set owns copies of what it needs: the files' text can go now. */
	manifest_files_free(p->rev.files, p->rev.n_files);
	p->rev.files = NULL;
	p->rev.n_files = 0;
	return r;
}

/* Say why the revision could not be loaded (r < 0); returns EXIT_FAILED. */
static int pass_load_failed(struct pass *p, int r)
{
	struct buf m = BUF_INIT;

	if (r == -EINVAL) {
		buf_printf(&m, "revision %s is not valid (%zu errors)",
			   p->rev.revision ? p->rev.revision : "(unreadable)", p->d.n);
		report_invalid(p, PASS_INVALID, buf_str(&m));
	} else {
		/* The source's own words (timeout, refused, unreachable) say more than errno. */
		buf_printf(&m, "cannot read the source: %s", p->d.n ? p->d.v[0].msg : strerror(-r));
		report_invalid(p, PASS_FETCH_FAILED, buf_str(&m));
	}
	buf_release(&m);
	return EXIT_FAILED;
}

/* Open the output directories and render the desired state (and a delta's scope). */
static int pass_render(struct pass *p)
{
	struct buf why = BUF_INIT;
	int r;

	r = open_engine(p);
	if (r == -EBADMSG)
		return EXIT_FAILED; /* the damaged state file, logged */
	if (r < 0) {
		log_errno(r, "cannot open the output directories");
		return EXIT_FAILED;
	}
	r = pass_select_check(p, &why);
	if (r > 0)
		report_invalid(p, PASS_REFUSED, buf_str(&why));
	buf_release(&why);
	if (r != 0)
		return EXIT_FAILED;
	r = render(p);
	if (r == -EBADMSG)
		return EXIT_FAILED; /* a damaged state file, logged */
	if (r == 0 && p->delta) {
		r = pass_delta_scope(p);
		if (r == -EBADMSG) {
			log_warnx("%s", engine_failure(p->engine));
			return EXIT_FAILED;
		}
	}
	if (r == -EINVAL) {
		report_invalid(p, PASS_INVALID, "the rendered state is not valid");
		return EXIT_FAILED;
	}
	if (r < 0) {
		log_errno(r, "cannot render the desired state");
		return EXIT_FAILED;
	}
	return EXIT_OK;
}

/*
 * validate: the revision rendered in memory as plan would (pass_validate.c),
 * then "configuration OK" and the notes on what could not be checked.
 */
static int pass_validate_run(struct pass *p)
{
	size_t i, total = p->set->n_nodes, unselected = 0;
	int r;

	if (p->cfg->selector) /* render this site's nodes, as apply would */
		unselected = pass_select_nodes(p);
	r = pass_validate(p);
	if (r == -EINVAL) {
		report_invalid(p, PASS_INVALID, "the rendered state is not valid");
		return EXIT_FAILED;
	}
	if (r < 0) {
		log_errno(r, "cannot render the revision");
		return EXIT_FAILED;
	}
	fprintf(p->o->out, "configuration OK: %zu nodes, %zu images, %zu profiles (%s)\n", total,
		p->set->n_images, p->set->n_profiles, p->rev.revision);
	if (p->cfg->selector)
		fprintf(p->o->out, "selector %s: %zu of %zu nodes\n", p->cfg->selector,
			total - unselected, total);
	diags_sort(&p->notes);
	for (i = 0; i < p->notes.n; i++) {
		const struct diag *g = &p->notes.v[i];

		if (g->file)
			fprintf(p->o->out, "%s:%u:%u: ", g->file, g->line, g->col);
		fprintf(p->o->out, "note: %s\n", g->msg);
	}
	if (p->o->json)
		pass_json_validate(p, true);
	return EXIT_OK;
}

static int pass_run(struct pass *p)
{
	int r;

	r = pass_load(p);
	if (r > 0)
		return EXIT_OK;
	if (r < 0)
		return pass_load_failed(p, r);
	if (p->o->mode == PASS_MODE_VALIDATE) {
		r = manifests_check_secret_places(p->set, p->cfg->secrets_dir, &p->d);
		if (r == -EINVAL) {
			report_invalid(p, PASS_INVALID,
				       "a secret file is outside paths.secretsDir: plan and apply "
				       "would refuse it");
			return EXIT_FAILED;
		}
		if (r < 0) {
			log_errno(r, "cannot check the secret files");
			return EXIT_FAILED;
		}
		return pass_validate_run(p);
	}
	r = pass_select(p);
	if (r == -EINVAL) {
		report_invalid(p, PASS_INVALID,
			       "the configuration's server does not fit the revision");
		return EXIT_FAILED;
	}
	if (r < 0) {
		log_errno(r, "cannot select the nodes");
		return EXIT_FAILED;
	}
	r = pass_images(p);
	if (r == EXIT_OK)
		r = pass_render(p);
	return r == EXIT_OK ? pass_plan_apply(p) : r;
}

/* Fill the caller's figures from the pass. */
static void pass_result_fill(struct pass *p, int code)
{
	struct pass_result *r = p->res;

	if (p->rev.revision)
		snprintf(r->revision, sizeof(r->revision), "%s", p->rev.revision);
	r->duration_s = pass_elapsed(&p->start);
	if (r->outcome < 0)
		r->outcome = code == EXIT_OK ? PASS_APPLIED : PASS_INVALID;
	if (p->plan) {
		r->n_create = p->plan->n_create;
		r->n_update = p->plan->n_update;
		r->n_delete = p->plan->n_delete;
		r->n_unchanged = p->plan->n_unchanged;
		r->n_drift = p->plan->n_drift;
		r->changed = plan_has_changes(p->plan);
	}
	if (p->set) {
		r->nodes_total = p->set->n_nodes;
		r->nodes_ready = p->plan ? pass_nodes_ready(p->plan, p->set) : 0;
	}
	r->kind = p->is_sealed ? PASS_KIND_SEALED : p->delta ? PASS_KIND_DELTA : PASS_KIND_FULL;
	r->nodes_same = p->delta && p->set && pass_delta_nodes_same(p);
	/* The store as this pass left it (a sealed pass changed nothing). */
	if (p->o->mode == PASS_MODE_APPLY && p->set && !p->is_sealed)
		r->have_images = image_step_states(p->cfg, p->set, r->images) == 0;
	if (p->is_sealed) {
		r->n_unchanged = p->sealed.unchanged;
		r->nodes_total = p->sealed.nodes_total;
		r->nodes_ready = p->sealed.nodes_ready;
	}
}

/*
 * The pass in state/history (history.h), under the pass lock.  A write that
 * fails is said, and fails the command as a status that cannot be recorded
 * does (the old file stays whole); damage found in the old file only warns.
 */
static int pass_history_record(struct pass *p)
{
	struct history_entry e;
	struct buf err = BUF_INIT;
	int r;

	history_entry_fill(&e, p->res, p->o->trigger, &p->d,
			   (int64_t)time(NULL) - (int64_t)p->res->duration_s);
	r = history_record(p->cfg->state_dir, &e, p->cfg->history_limit, &err);
	if (err.len)
		log_warnx("%s/%s", p->cfg->state_dir, buf_str(&err));
	if (r < 0)
		log_errno(r, "cannot record the pass in %s/%s", p->cfg->state_dir, HISTORY_FILE);
	buf_release(&err);
	return r;
}

/*
 * Take the lock on fd, waiting for the pass that holds it: polled, so that a
 * SIGTERM (common/stop.h) ends the wait within LOCK_POLL_MS, with nothing
 * done (-ECANCELED).
 */
#define LOCK_POLL_MS 50
static int lock_wait(int fd, const char *state_dir)
{
	const struct timespec wait_ts = {0, LOCK_POLL_MS * 1000000L};
	int r;

	r = flock(fd, LOCK_EX | LOCK_NB) < 0 ? -errno : 0;
	if (r == 0)
		return 0;
	log_info("another pass is applying to %s: waiting for it", state_dir);
	while (r == -EWOULDBLOCK || r == -EINTR) {
		if (stop_requested()) {
			log_info("interrupted (bramble is stopping) while waiting for the pass "
				 "lock of %s: nothing applied",
				 state_dir);
			return -ECANCELED;
		}
		(void)nanosleep(&wait_ts, NULL);
		r = flock(fd, LOCK_EX | LOCK_NB) < 0 ? -errno : 0;
	}
	if (r < 0)
		log_errno(r, "cannot lock %s/lock", state_dir);
	return r;
}

/*
 * One applying pass at a time per state directory: `bramble apply` run by
 * hand while the daemon applies waits for it (two passes interleaving their
 * writes, renames and inventory would each see the other's half-done work).
 * Returns the lock's fd (closed to release), or a negative errno: a lock
 * that cannot be made is an error, never a pass run unlocked.
 */
static int pass_lock(const struct bramble_config *cfg)
{
	char *path;
	int fd, r;

	r = mkdir_p(cfg->state_dir, 0755);
	if (r < 0) {
		log_errno(r, "cannot make the state directory %s", cfg->state_dir);
		return r;
	}
	path = path_join(cfg->state_dir, "lock");
	if (!path)
		return -ENOMEM;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		r = -errno;
		log_errno(r, "cannot open the lock %s", path);
		free(path);
		return r;
	}
	free(path);
	r = lock_wait(fd, cfg->state_dir);
	if (r < 0) {
		close(fd);
		return r;
	}
	return fd;
}

int reconcile_retry_reloads(const struct bramble_config *cfg)
{
	unsigned pending, left;
	int lock_fd, state_fd, r;

	lock_fd = pass_lock(cfg);
	if (lock_fd == -ECANCELED) /* stopping: the reloads stay pending */
		return 0;
	if (lock_fd < 0)
		return lock_fd;
	state_fd = open(cfg->state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	r = state_fd < 0 ? -errno : 0;
	if (r < 0)
		log_errno(r, "cannot open the state directory %s", cfg->state_dir);
	pending = r == 0 ? actions_pending_load(state_fd) : 0;
	if (pending & ~ACTIONS_PASS_OPEN) {
		log_info("running the reloads a pass left to do");
		left = actions_run(cfg, pending & ~ACTIONS_PASS_OPEN);
		r = actions_pending_save(state_fd, left | (pending & ACTIONS_PASS_OPEN));
		if (r < 0)
			log_errno(r, "cannot update %s/%s after the reloads", cfg->state_dir,
				  ACTIONS_PENDING_FILE);
		else if (left) {
			log_warnx("a reload left by an earlier pass failed again; the next "
				  "pass retries it");
			r = -EIO;
		}
	}
	if (state_fd >= 0)
		close(state_fd);
	if (close(lock_fd) < 0 && r == 0) {
		r = -errno;
		log_errno(r, "cannot close the pass lock %s/lock", cfg->state_dir);
	}
	return r;
}

int reconcile_pass(const struct bramble_config *cfg, const struct pass_opts *o,
		   struct pass_result *res)
{
	struct pass_result scratch;
	struct pass p;
	int code, lock_fd = -1;

	memset(&p, 0, sizeof(p));
	memset(&scratch, 0, sizeof(scratch));
	p.res = res ? res : &scratch;
	memset(p.res, 0, sizeof(*p.res));
	p.res->outcome = -1;
	p.cfg = cfg;
	p.o = o;
	p.state_fd = -1;
	p.d.max = 200;
	clock_gettime(CLOCK_MONOTONIC, &p.start);
	if (o->mode == PASS_MODE_APPLY)
		lock_fd = pass_lock(cfg);
	code = o->mode != PASS_MODE_APPLY || lock_fd >= 0 ? pass_run(&p) : EXIT_FAILED;
	pass_result_fill(&p, code);
	if (lock_fd >= 0) {
		if (pass_history_record(&p) < 0 && code == EXIT_OK)
			code = EXIT_FAILED;
		if (close(lock_fd) < 0 && code == EXIT_OK) {
			log_errno(-errno, "cannot close the pass lock %s/lock", cfg->state_dir);
			code = EXIT_FAILED;
		}
	}
	plan_free(p.plan);
	resource_set_release(&p.desired);
	image_trees_release(&p.ctx);
	export_ids_release(&p.ids);
	seal_deps_release(&p.deps);
	engine_free(p.engine);
	free(p.scope);
	if (p.state_fd >= 0)
		close(p.state_fd);
	manifest_set_free(p.set);
	pass_seal_drop(&p); /* after the set: its stubs point into the seal */
	pass_files_release(&p);
	source_rev_release(&p.rev);
	diags_release(&p.d);
	diags_release(&p.notes);
	free(p.dhcp_dir);
	free(p.dhcp_name);
	free(p.exports_dir);
	free(p.exports_name);
	free(p.ganesha_name);
	return code;
}
