#include "reconcile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "actions.h"
#include "image_step.h"
#include "log.h"
#include "reconciler.h"
#include "source.h"
#include "status.h"
#include "../common/buf.h"
#include "../common/fsutil.h"
#include "../common/hash.h"

struct pass {
	const struct bramble_config *cfg;
	struct pass_result *res;
	const struct pass_opts *o;
	struct source_rev rev;
	struct diags d;
	struct manifest_set *set;
	struct engine *engine;
	struct render_ctx ctx;
	struct export_ids ids;
	struct resource_set desired;
	struct plan *plan;
	struct seal_deps deps;
	char key[SHA256_HEX_LEN + 1];  /* of every input: the seal's */
	char base[SHA256_HEX_LEN + 1]; /* of every input but the manifests */
	int state_fd;
	bool is_sealed; /* done by the fast path: sealed holds its figures */
	struct seal_counts sealed;
	struct seal seal;	 /* the last pass's, when it holds */
	bool delta;		 /* the seal allows a delta pass (seal.h) */
	struct seal_file *files; /* the revision's manifest files, by name */
	size_t n_files;
	const char **scope; /* a delta pass: the nodes outside it (the stubs), by name */
	size_t n_scope;
	struct timespec start;
	char *dhcp_dir, *dhcp_name, *exports_dir, *exports_name, *ganesha_name;
};

static double elapsed(const struct timespec *start)
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

static int split_paths(struct pass *p)
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

static void root_paths(const struct pass *p, const char *path[ROOT_COUNT])
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
	int r;

	r = split_paths(p);
	if (r < 0)
		return r;
	memset(&roots, 0, sizeof(roots));
	root_paths(p, roots.path);
	roots.state_dir = p->cfg->state_dir;
	/* Nothing is made before the revision has rendered (engine_make_roots()). */
	roots.read_only = true;
	roots.copy_mode = p->cfg->roots_copy_mode;
	roots.defer_inventory = p->delta; /* delta_scope() loads what the pass needs */
	r = engine_open(&roots, &p->engine);
	if (r < 0)
		return r;
	if (p->state_fd < 0)
		p->state_fd = open(p->cfg->state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (p->state_fd < 0 && errno == ENOENT)
		return 0; /* nothing recorded yet */
	return p->state_fd < 0 ? -errno : 0;
}

static void report_invalid(struct pass *p, enum pass_outcome outcome, const char *message)
{
	struct pass_report rep;

	diags_sort(&p->d);
	diags_print(&p->d, stderr);
	if (message)
		log_warnx("%s", message);
	if (p->o->mode != PASS_MODE_APPLY)
		return;
	p->res->outcome = outcome;
	memset(&rep, 0, sizeof(rep));
	rep.outcome = outcome;
	rep.revision = p->rev.revision;
	rep.errors = &p->d;
	rep.message = message;
	rep.duration_s = elapsed(&p->start);
	if (status_record(p->cfg->state_dir, &rep) < 0)
		log_warnx("cannot record the status in %s", p->cfg->state_dir);
}

/* Check the rendered dnsmasq configuration with "dnsmasq --test" before applying it. */
static int test_dhcp(struct pass *p)
{
	static const char script[] = "command -v \"$1\" >/dev/null 2>&1 || exit 127; exec \"$1\" "
				     "--test --conf-file=\"$2\" >\"$3\" 2>&1";
	const char *argv[4] = {p->cfg->dhcp_test_cmd, NULL, NULL, NULL};
	char *conf = NULL, *log = NULL, *out = NULL;
	size_t i, len = 0;
	int r = 0, fd;

	for (i = 0; i < p->desired.n; i++)
		if (p->desired.v[i].root == ROOT_DHCP_CONF)
			break;
	if (!p->cfg->dhcp_test_cmd || i == p->desired.n)
		return 0;
	conf = path_join(p->cfg->state_dir, "dnsmasq-test.conf");
	log = path_join(p->cfg->state_dir, "dnsmasq-test.log");
	if (!conf || !log) {
		r = -ENOMEM;
		goto out;
	}
	fd = open(conf, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0 || write_all(fd, p->desired.v[i].data, p->desired.v[i].len) < 0) {
		r = -errno;
		if (fd >= 0)
			close(fd);
		goto out;
	}
	close(fd);
	argv[1] = conf;
	argv[2] = log;
	r = run_command(script, argv, 30);
	if (r == 127) {
		log_debug("%s not found: the dnsmasq configuration is not checked", argv[0]);
		r = 0;
	} else if (r != 0) {
		if (file_read(log, 4096, &out, &len) < 0)
			out = NULL;
		diags_add(&p->d, NULL, "dnsmasq --test rejected the rendered %s: %s",
			  p->cfg->dhcp_conf_file, out ? out : "(no output)");
		r = -EINVAL;
	}
out:
	free(out);
	free(conf);
	free(log);
	return r;
}

static int render(struct pass *p)
{
	int r;

	memset(&p->ctx, 0, sizeof(p->ctx));
	p->ctx.set = p->set;
	p->ctx.root_path[ROOT_TFTP] = p->cfg->tftp_root;
	p->ctx.root_path[ROOT_NFS] = p->cfg->nfs_root;
	p->ctx.root_path[ROOT_DHCP_CONF] = p->dhcp_dir;
	p->ctx.root_path[ROOT_DHCP_HOSTS] = p->cfg->dhcp_hosts_dir;
	p->ctx.root_path[ROOT_EXPORTS] = p->exports_dir;
	p->ctx.root_path[ROOT_IMAGES] = p->cfg->image_store;
	p->ctx.images_fd = engine_root_fd(p->engine, ROOT_IMAGES);
	p->ctx.dhcp_conf_name = p->dhcp_name;
	p->ctx.exports_name = p->exports_name;
	p->ctx.ganesha_name = p->ganesha_name;
	p->ctx.dhcp_lease_file = p->cfg->dhcp_lease_file;
	p->ctx.export_ids = &p->ids;
	p->ctx.deps = &p->deps;
	r = export_ids_load(p->state_fd, &p->ids);
	if (r == 0)
		r = image_trees_load(&p->ctx, &p->d);
	if (r == 0)
		r = render_all(&p->ctx, &p->desired, &p->d);
	if (r == 0)
		r = test_dhcp(p);
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
static size_t nodes_ready(const struct plan *pl, const struct manifest_set *set)
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

static void print_summary(struct pass *p, const struct plan *pl, const char *verb)
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
 * Whether each manifest file holds anything but Nodes, as the load found
 * (both lists are sorted by name; a delta pass did not load its unchanged
 * files of Nodes).
 */
static void files_mark_other(struct pass *p)
{
	const struct strlist *f = &p->set->files;
	size_t i, k = 0;

	for (i = 0; i < p->n_files; i++) {
		while (k < f->n && strcmp(f->v[k], p->files[i].name) < 0)
			k++;
		p->files[i].other =
			k < f->n && strcmp(f->v[k], p->files[i].name) == 0 && p->set->file_other[k];
	}
}

/*
 * After a full pass that changed nothing, or a delta pass that applied
 * everything: let the next one be a sealed (or delta) one.
 */
static void seal_pass(struct pass *p)
{
	struct seal_input in;
	struct seal_counts counts;
	int r;

	counts.unchanged = p->plan->n_unchanged + p->plan->n_create + p->plan->n_update;
	counts.nodes_total = p->set->n_nodes;
	counts.nodes_ready = nodes_ready(p->plan, p->set);
	files_mark_other(p);
	memset(&in, 0, sizeof(in));
	in.key = p->key;
	in.base = p->base;
	in.files = p->files;
	in.n_files = p->n_files;
	in.set = p->set;
	in.counts = &counts;
	in.prev = p->delta ? &p->seal : NULL;
	r = seal_write(p->engine, p->plan, &p->deps, &in);
	if (r < 0)
		log_errno(r, "cannot write the seal (the next pass is a full one)");
	else if (r > 0)
		log_debug("sealed: the next pass checks %zu inputs before doing any work",
			  counts.unchanged);
}

static int do_apply(struct pass *p)
{
	struct pass_report rep;
	char what[128], msg[256];
	unsigned pending, acts;
	size_t failed = 0;
	unsigned flags = p->o->adopt ? ENGINE_ADOPT : 0;
	int r;

	if (plan_has_changes(p->plan))
		plan_print(p->engine, p->plan, p->o->out, p->o->verbose);
	r = engine_apply(p->engine, p->plan, flags, &failed);
	if (r == 0)
		r = export_ids_save(p->state_fd, &p->ids);
	/* Reloads that failed before are retried with this pass's own. */
	pending = actions_pending_load(p->state_fd);
	acts = r == 0 ? actions_run(p->cfg, p->plan->actions | pending) : pending;
	if (actions_pending_save(p->state_fd, acts) < 0)
		log_warnx("cannot record the reloads still to do in %s", p->cfg->state_dir);
	if (acts) {
		actions_describe(acts, what, sizeof(what));
		snprintf(msg, sizeof(msg),
			 "the files are in place, but %s failed; it is tried again at the next "
			 "pass",
			 what);
	}
	memset(&rep, 0, sizeof(rep));
	rep.outcome = r == 0 && failed == 0 && !acts ? PASS_APPLIED : PASS_APPLY_FAILED;
	p->res->outcome = rep.outcome;
	p->res->n_failed = failed;
	rep.revision = p->rev.revision;
	rep.set = p->set;
	rep.plan = p->plan;
	rep.delta = p->delta;
	rep.errors = &p->d;
	rep.message = r < 0 ? strerror(-r) : acts ? msg : NULL;
	rep.duration_s = elapsed(&p->start);
	if (status_record(p->cfg->state_dir, &rep) < 0)
		log_warnx("cannot record the status in %s", p->cfg->state_dir);
	if (r < 0 || failed) {
		seal_remove(p->state_fd);
		log_errno(r ? r : -EIO, "apply of %s: %zu resources failed", p->rev.revision,
			  failed);
		return EXIT_FAILED;
	}
	if (acts) {
		seal_remove(p->state_fd);
		print_summary(p, p->plan, "applied");
		log_warnx("%s", msg);
		return EXIT_FAILED;
	}
	seal_pass(p);
	print_summary(p, p->plan, "applied");
	image_step_unused(p->cfg, p->set, true, p->o->out);
	return EXIT_OK;
}

/*
 * A delta pass's plan holds the paths of the nodes outside it only where
 * they share an inventory shard with the pass: count them all as unchanged,
 * as a full pass would, from the seal's record of each node.
 */
static void delta_count(struct pass *p)
{
	size_t i, outside = 0, planned = 0;

	for (i = 0; i < p->set->n_nodes; i++)
		if (p->set->nodes[i]->stub)
			outside += p->set->nodes[i]->stub_resources;
	for (i = 0; i < p->plan->n_items; i++)
		planned += !p->plan->items[i].res && p->plan->items[i].op == PLAN_UNCHANGED;
	if (outside > planned)
		p->plan->n_unchanged += outside - planned;
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
		delta_count(p);
	if (r == -ECANCELED) {
		report_invalid(p, PASS_REFUSED,
			       "refusing to apply: the repository has no nodes, and applying it "
			       "would remove every node's files; set allowEmpty: true (or "
			       "--allow-empty) if that is what you want");
		return EXIT_FAILED;
	}
	if (r < 0) {
		log_errno(r, "cannot plan");
		return EXIT_FAILED;
	}
	if (p->o->mode == PASS_MODE_APPLY)
		return do_apply(p);
	plan_print(p->engine, p->plan, p->o->out, p->o->verbose);
	pending = actions_pending_load(p->state_fd);
	if (p->plan->actions | pending) {
		char acts[128];

		actions_describe(p->plan->actions | pending, acts, sizeof(acts));
		fprintf(p->o->out, "after apply: %s%s\n", acts,
			pending ? " (retrying a reload that failed)" : "");
	}
	image_step_unused(p->cfg, p->set, false, p->o->out);
	return plan_has_changes(p->plan) || pending ? EXIT_CHANGES : EXIT_OK;
}

/*
 * The keys of a pass: base over everything the render reads but the
 * manifests and the files in deps; key over base and the manifests.
 */
static int pass_key(struct pass *p)
{
	struct sha256_ctx c;
	char flags[8];
	int r;

	snprintf(flags, sizeof(flags), "%d%d", p->o->adopt, p->cfg->allow_empty);
	r = sha256_init(&c);
	if (r == 0)
		r = sha256_update(&c, "bramble " BRAMBLE_VERSION,
				  sizeof("bramble " BRAMBLE_VERSION));
	if (r == 0)
		r = sha256_update(&c, flags, strlen(flags) + 1);
	if (r == 0)
		r = config_digest(p->cfg, &c);
	if (r == 0)
		r = sha256_final_hex(&c, p->base);
	else
		sha256_release(&c);
	if (r == 0)
		r = sha256_init(&c);
	if (r < 0)
		return r;
	r = sha256_update(&c, p->base, strlen(p->base) + 1);
	if (r == 0)
		r = sha256_update(&c, p->rev.revision, strlen(p->rev.revision) + 1);
	if (r == 0)
		r = sha256_update(&c, p->rev.digest, strlen(p->rev.digest) + 1);
	if (r < 0) {
		sha256_release(&c);
		return r;
	}
	return sha256_final_hex(&c, p->key);
}

static int file_cmp(const void *a, const void *b)
{
	return strcmp(((const struct seal_file *)a)->name, ((const struct seal_file *)b)->name);
}

/* The revision's files with their digests (the seal records them). */
static int files_digest(struct pass *p)
{
	size_t i;
	int r = 0;

	if (p->files || !p->rev.n_files)
		return 0;
	p->files = calloc(p->rev.n_files, sizeof(*p->files));
	if (!p->files)
		return -ENOMEM;
	for (i = 0; r == 0 && i < p->rev.n_files; i++) {
		const struct manifest_file *f = &p->rev.files[i];

		p->files[i].name = strdup(f->name);
		r = p->files[i].name ? 0 : -ENOMEM;
		if (r == 0)
			r = sha256_hex(f->data ? f->data : "", f->data ? f->len : 0,
				       p->files[i].digest);
		p->n_files++;
	}
	qsort(p->files, p->n_files, sizeof(*p->files), file_cmp);
	return r;
}

static void files_release(struct pass *p)
{
	size_t i;

	for (i = 0; i < p->n_files; i++)
		free((char *)(uintptr_t)p->files[i].name);
	free(p->files);
}

/* Whether a file is as the seal recorded it. */
static bool file_unchanged(const struct pass *p, const struct seal_file *f)
{
	const struct seal_file *was = seal_file_find(p->seal.files, p->seal.n_files, f->name);

	return was && strcmp(was->digest, f->digest) == 0;
}

/*
 * Whether this pass can be a delta of the sealed one: the same inputs but
 * for files of Nodes only, within the limits of a whole load, and not so
 * many that loading everything costs the same.
 */
static bool delta_possible(struct pass *p)
{
	size_t i, changed = 0, total = 0;
	const char *why = NULL;

	if (strcmp(p->seal.base, p->base) != 0)
		why = "the configuration or the program changed";
	else if (files_digest(p) < 0 || p->n_files > MANIFEST_MAX_FILES)
		why = "the manifest files cannot be compared";
	for (i = 0; !why && i < p->rev.n_files; i++) {
		if (!p->rev.files[i].data || p->rev.files[i].len > MANIFEST_MAX_FILE_SIZE)
			why = "a manifest file is over the size limit";
		total += p->rev.files[i].len;
	}
	if (!why && total > MANIFEST_MAX_TOTAL_SIZE)
		why = "the manifests are over the size limit";
	for (i = 0; !why && i < p->n_files; i++)
		changed += !file_unchanged(p, &p->files[i]);
	for (i = 0; !why && i < p->seal.n_files; i++) {
		const struct seal_file *f = &p->seal.files[i];
		const struct seal_file *now = seal_file_find(p->files, p->n_files, f->name);

		if (f->other && (!now || strcmp(now->digest, f->digest) != 0))
			why = "a file with a Cluster, Image or Profile changed";
		changed += !now;
	}
	if (!why && changed * 2 > p->n_files)
		why = "most manifest files changed";
	if (why)
		log_debug("a full pass: %s", why);
	return !why;
}

/*
 * The steady-state fast path (seal.h): when the inputs are those of the last
 * sealed pass and every sealed path is as it was, report that pass again.
 * When only files of Nodes changed, note that a delta pass can follow.
 * Returns whether the pass is done (otherwise a full or delta one follows).
 */
static bool pass_sealed(struct pass *p)
{
	const char *path[ROOT_COUNT];
	struct pass_report rep;
	struct plan none;
	bool same;

	if (pass_key(p) < 0 || split_paths(p) < 0)
		return false;
	if (p->o->verbose && p->o->mode == PASS_MODE_PLAN) /* it lists every unchanged item */
		return false;
	p->state_fd = open(p->cfg->state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (p->state_fd < 0)
		return false;
	if (actions_pending_load(p->state_fd)) /* a reload to retry: a full pass does it */
		return false;
	if (seal_read(p->state_fd, &p->seal) <= 0)
		return false;
	same = strcmp(p->seal.key, p->key) == 0;
	if (!same && !delta_possible(p))
		return false;
	root_paths(p, path);
	if (!seal_holds(&p->seal, path)) {
		log_debug("a full pass: a path is not as the last pass left it");
		return false;
	}
	if (!same) {
		p->delta = true;
		return false;
	}
	p->sealed = p->seal.counts;
	p->is_sealed = true;
	log_debug("sealed pass: the inputs and every recorded path are as the last pass left "
		  "them");
	/* Reported as a full pass would: a plan with nothing but unchanged items. */
	memset(&none, 0, sizeof(none));
	none.n_unchanged = p->sealed.unchanged;
	if (p->o->mode == PASS_MODE_PLAN) {
		plan_print(NULL, &none, p->o->out, false);
		return true;
	}
	memset(&rep, 0, sizeof(rep));
	rep.outcome = PASS_APPLIED;
	rep.revision = p->rev.revision;
	rep.errors = &p->d;
	rep.sealed = &p->sealed;
	rep.duration_s = elapsed(&p->start);
	p->res->outcome = PASS_APPLIED;
	if (status_record(p->cfg->state_dir, &rep) < 0)
		log_warnx("cannot record the status in %s", p->cfg->state_dir);
	print_summary(p, &none, "applied");
	return true;
}

static int stub_cmp(const void *key, const void *elem)
{
	return strcmp(key, ((const struct node_stub *)elem)->name);
}

/*
 * A node of a changed file whose document is byte for byte the one the seal
 * recorded renders as it did (the Cluster, Images and Profiles did not
 * change): it joins the nodes outside the pass.
 */
static void same_documents(struct pass *p)
{
	size_t i;

	for (i = 0; i < p->set->n_nodes; i++) {
		struct node *n = p->set->nodes[i];
		const struct node_stub *was;

		if (n->stub || !*n->doc_digest)
			continue;
		was = bsearch(n->name, p->seal.nodes, p->seal.n_nodes, sizeof(*p->seal.nodes),
			      stub_cmp);
		if (!was || !was->doc_digest || strcmp(was->doc_digest, n->doc_digest) != 0)
			continue;
		n->stub = true;
		n->stub_owners = was->owners; /* the seal outlives the set */
		n->stub_resources = was->n_resources;
		n->stub_first_boot = was->first_boot;
		p->set->n_stubs++;
	}
}

/*
 * A delta pass (seal.h): load the changed files and those of everything but
 * Nodes; the nodes of the other files come from the seal.  Returns 0 (p->set
 * loaded), 1 (a full load must follow: an error to report in full, a changed
 * file that now holds more than Nodes, a record that does not fit), or -errno.
 */
static int load_delta(struct pass *p)
{
	struct manifest_file *load = calloc(p->rev.n_files + 1, sizeof(*load));
	struct node_stub *stubs = calloc(p->seal.n_nodes + 1, sizeof(*stubs));
	const char *last = NULL;
	struct diags dd;
	size_t i, n = 0, n_stubs = 0, k;
	bool keep = false;
	int r;

	memset(&dd, 0, sizeof(dd));
	dd.max = 1;
	if (!load || !stubs) {
		r = -ENOMEM;
		goto out;
	}
	for (i = 0; i < p->rev.n_files; i++) {
		const struct manifest_file *f = &p->rev.files[i];
		const struct seal_file *now = seal_file_find(p->files, p->n_files, f->name);
		const struct seal_file *was =
			seal_file_find(p->seal.files, p->seal.n_files, f->name);

		if (!now || !was || was->other || strcmp(was->digest, now->digest) != 0)
			load[n++] = *f;
	}
	/* The nodes of the files not loaded (same_documents() finds more).  A
	 * file's nodes mostly follow each other: its answer is kept. */
	for (i = 0; i < p->seal.n_nodes; i++) {
		const char *file = p->seal.nodes[i].file;

		if (file != last) {
			const struct seal_file *now = seal_file_find(p->files, p->n_files, file);
			const struct seal_file *was =
				seal_file_find(p->seal.files, p->seal.n_files, file);

			last = file;
			keep = now && was && !was->other && strcmp(now->digest, was->digest) == 0;
		}
		if (keep)
			stubs[n_stubs++] = p->seal.nodes[i];
	}
	r = manifests_load_delta(load, n, stubs, n_stubs, &dd, &p->set);
	if (r == -EINVAL || r == -ESTALE) {
		log_debug("a full pass: %s%s",
			  r == -ESTALE ? "the seal's record of a node does not fit"
				       : "the changed files have errors, reported in full: ",
			  r == -EINVAL && dd.n ? dd.v[0].msg : "");
		r = 1;
		goto out;
	}
	/* A changed file that holds more than Nodes now: its Profiles may change the others. */
	for (k = 0; r == 0 && k < p->set->files.n; k++) {
		const struct seal_file *was =
			seal_file_find(p->seal.files, p->seal.n_files, p->set->files.v[k]);

		if (p->set->file_other[k] && !(was && was->other)) {
			log_debug("a full pass: %s now holds more than Nodes", p->set->files.v[k]);
			r = 1;
		}
	}
	if (r == 0)
		same_documents(p);
	if (r == 0) {
		p->scope = calloc(p->set->n_stubs + 1, sizeof(*p->scope));
		r = p->scope ? 0 : -ENOMEM;
	}
	for (k = 0; r == 0 && k < p->set->n_nodes; k++)
		if (p->set->nodes[k]->stub)
			p->scope[p->n_scope++] = p->set->nodes[k]->name;
	if (r == 0)
		log_debug("delta pass: %zu of %zu manifest files loaded; %zu of %zu nodes in this "
			  "pass",
			  n, p->rev.n_files, p->set->n_nodes - p->n_scope, p->set->n_nodes);
out:
	if (r != 0) {
		manifest_set_free(p->set);
		p->set = NULL;
	}
	diags_release(&dd);
	free(load);
	free(stubs);
	return r;
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
	if (r == -EINVAL) {
		report_invalid(p, PASS_FETCH_FAILED,
			       "an image could not be brought into the image store: nothing "
			       "applied; the last applied state keeps serving");
		return EXIT_FAILED;
	}
	if (r < 0) {
		log_errno(r, "cannot bring the images into the image store");
		return EXIT_FAILED;
	}
	if (!pending)
		return EXIT_OK;
	fprintf(p->o->out,
		"plan: %zu image%s to download first; bramble apply fetches %s, then plans and "
		"applies the rest\n",
		pending, pending == 1 ? "" : "s", pending == 1 ? "it" : "them");
	return EXIT_CHANGES;
}

/*
 * A delta pass plans only its nodes and the shared files: mark the others
 * out of scope, and load the inventory shards the plan can touch.
 */
static int delta_scope(struct pass *p)
{
	bool *shards = calloc(ENGINE_SHARDS, sizeof(*shards));
	size_t i, len;
	int r;

	if (!shards)
		return -ENOMEM;
	for (i = 0; i < p->desired.n; i++)
		shards[engine_shard(p->desired.v[i].node, p->desired.v[i].path)] = true;
	for (i = 0; i < p->set->n_nodes; i++)
		if (!p->set->nodes[i]->stub)
			shards[engine_shard(p->set->nodes[i]->name, NULL)] = true;
	/* The nodes of the changed files as they were: those gone are deleted. */
	for (i = 0; i < p->seal.n_nodes; i++) {
		const struct seal_file *now =
			seal_file_find(p->files, p->n_files, p->seal.nodes[i].file);
		const struct node *n = manifest_set_node(p->set, p->seal.nodes[i].name);

		if ((!now || !file_unchanged(p, now)) && !(n && n->stub))
			shards[engine_shard(p->seal.nodes[i].name, NULL)] = true;
	}
	/* Every shared path the last pass had ("<kind> * <root> ... <path>"). */
	for (i = 0; i < p->seal.n_entries; i++) {
		const char *e = p->seal.entries[i], *path = e;
		int k;

		if (strncmp(e + 1, " * ", 3) != 0)
			continue;
		for (k = 0; k < 8 && path; k++)
			path = strchr(path + 1, ' ');
		len = path ? strlen(path + 1) : 0;
		if (len)
			shards[engine_shard(NULL, path + 1)] = true;
	}
	r = engine_scope(p->engine, p->scope, p->n_scope, shards);
	free(shards);
	return r;
}

static int pass_run(struct pass *p)
{
	struct timespec fetch_start;
	int r;

	clock_gettime(CLOCK_MONOTONIC, &fetch_start);
	r = source_read(p->cfg, &p->rev, &p->d);
	p->res->fetch_s = elapsed(&fetch_start);
	if (r == 0 && p->o->mode != PASS_MODE_VALIDATE && pass_sealed(p))
		return EXIT_OK;
	if (!p->delta) /* a full pass: the seal's record is not needed, and not held */
		seal_release(&p->seal);
	if (r == 0 && p->delta) {
		r = load_delta(p);
		p->delta = r == 0;
		r = r > 0 ? 0 : r;
	}
	if (r == 0 && p->o->mode != PASS_MODE_VALIDATE)
		r = files_digest(p);
	if (r == 0 && !p->set)
		r = manifests_load_files(p->rev.files, p->rev.n_files, &p->d, &p->set);
	/* The set owns copies of what it needs: the files' text can go now. */
	manifest_files_free(p->rev.files, p->rev.n_files);
	p->rev.files = NULL;
	p->rev.n_files = 0;
	if (r == -EINVAL) {
		struct buf m = BUF_INIT;

		buf_printf(&m,
			   "revision %s is not valid (%zu errors): nothing applied; the last "
			   "applied state keeps serving",
			   p->rev.revision ? p->rev.revision : "(unreadable)", p->d.n);
		report_invalid(p, PASS_INVALID, buf_str(&m));
		buf_release(&m);
		return EXIT_FAILED;
	}
	if (r < 0) {
		struct buf m = BUF_INIT;

		/* The source's own words (timeout, refused, unreachable) say more than errno. */
		buf_printf(&m,
			   "cannot read the source: %s: nothing applied; the last applied state "
			   "keeps serving",
			   p->d.n ? p->d.v[0].msg : strerror(-r));
		report_invalid(p, PASS_FETCH_FAILED, buf_str(&m));
		buf_release(&m);
		return EXIT_FAILED;
	}
	if (p->o->mode == PASS_MODE_VALIDATE) {
		fprintf(p->o->out, "configuration OK: %zu nodes, %zu images, %zu profiles (%s)\n",
			p->set->n_nodes, p->set->n_images, p->set->n_profiles, p->rev.revision);
		return EXIT_OK;
	}
	r = pass_images(p);
	if (r != EXIT_OK)
		return r;
	r = open_engine(p);
	if (r < 0) {
		log_errno(r, "cannot open the output directories");
		return EXIT_FAILED;
	}

	r = render(p);
	if (r == 0 && p->delta)
		r = delta_scope(p);
	if (r == -EINVAL) {
		report_invalid(p, PASS_INVALID,
			       "the rendered state is not valid: nothing applied; the last applied "
			       "state keeps serving");
		return EXIT_FAILED;
	}
	if (r < 0) {
		log_errno(r, "cannot render the desired state");
		return EXIT_FAILED;
	}
	return pass_plan_apply(p);
}

/* Fill the caller's figures from the pass. */
static void pass_result_fill(struct pass *p, int code)
{
	struct pass_result *r = p->res;

	if (p->rev.revision)
		snprintf(r->revision, sizeof(r->revision), "%s", p->rev.revision);
	r->duration_s = elapsed(&p->start);
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
		r->nodes_ready = p->plan ? nodes_ready(p->plan, p->set) : 0;
	}
	r->kind = p->is_sealed ? PASS_KIND_SEALED : p->delta ? PASS_KIND_DELTA : PASS_KIND_FULL;
	if (p->is_sealed) {
		r->n_unchanged = p->sealed.unchanged;
		r->nodes_total = p->sealed.nodes_total;
		r->nodes_ready = p->sealed.nodes_ready;
	}
}

/*
 * One applying pass at a time per state directory: `bramble apply` run by
 * hand while the daemon applies waits for it (two passes interleaving their
 * writes, renames and inventory would each see the other's half-done work).
 * Returns the lock's fd (closed to release), or -1 when it cannot be taken
 * (the pass then runs unlocked, as before: a missing state directory is
 * created by the engine later).
 */
static int pass_lock(const struct bramble_config *cfg)
{
	char *path;
	int fd;

	if (mkdir_p(cfg->state_dir, 0755) < 0)
		return -1;
	path = path_join(cfg->state_dir, "lock");
	if (!path)
		return -1;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	free(path);
	if (fd < 0)
		return -1;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		log_info("another pass is applying to %s: waiting for it", cfg->state_dir);
		while (flock(fd, LOCK_EX) < 0 && errno == EINTR)
			;
	}
	return fd;
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
	code = pass_run(&p);
	pass_result_fill(&p, code);
	if (lock_fd >= 0)
		close(lock_fd);
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
	seal_release(&p.seal); /* after the set: its stubs point into the seal */
	files_release(&p);
	source_rev_release(&p.rev);
	diags_release(&p.d);
	free(p.dhcp_dir);
	free(p.dhcp_name);
	free(p.exports_dir);
	free(p.exports_name);
	free(p.ganesha_name);
	return code;
}
