/*
 * pass_seal: the passes that use the seal (seal.h): the sealed fast path,
 * which reports the last pass again when nothing changed, and the delta
 * pass, which loads, renders and plans only the nodes whose manifests
 * changed; and the seal written after a pass.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "actions.h"
#include "log.h"
#include "pass.h"
#include "status.h"

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
int pass_seal(struct pass *p)
{
	struct seal_input in;
	struct seal_counts counts;
	const char *why = NULL;
	int r;

	counts.unchanged = p->plan->n_unchanged + p->plan->n_create + p->plan->n_update;
	counts.nodes_total = p->set->n_nodes;
	counts.nodes_ready = pass_nodes_ready(p->plan, p->set);
	files_mark_other(p);
	memset(&in, 0, sizeof(in));
	in.key = p->key;
	in.base = p->base;
	in.files = p->files;
	in.n_files = p->n_files;
	in.set = p->set;
	in.counts = &counts;
	in.prev = p->delta ? &p->seal : NULL;
	in.seal_writes = p->o->seal_writes;
	r = seal_write(p->engine, p->plan, &p->deps, &in, &why);
	if (r == 0 && why)
		log_debug("not sealing this pass: %s", why);
	if (r < 0)
		log_errno(r, "cannot write the seal %s/seal", p->cfg->state_dir);
	else if (r > 0)
		log_debug("sealed: the next pass checks %zu inputs before doing any work",
			  counts.unchanged);
	if (r > 0 && p->o->sealed) {
		const char *path[ROOT_COUNT];

		pass_root_paths(p, path);
		p->o->sealed(p->o->seal_check_ctx, path);
	}
	return r < 0 ? r : 0;
}

/*
 * A delta pass's plan holds the paths of the nodes outside it only where
 * they share an inventory shard with the pass: count them all as unchanged,
 * as a full pass would, from the seal's record of each node.
 */
void pass_delta_count(struct pass *p)
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
int pass_files_digest(struct pass *p)
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

void pass_files_release(struct pass *p)
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
 * Whether a delta pass leaves the file unread: it is as the seal recorded
 * it and holds nothing but Nodes (whose records stand in for it).
 */
static bool file_skipped(const struct pass *p, const char *name)
{
	const struct seal_file *now = seal_file_find(p->files, p->n_files, name);
	const struct seal_file *was = seal_file_find(p->seal.files, p->seal.n_files, name);

	return now && was && !was->other && strcmp(now->digest, was->digest) == 0;
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
	else if (pass_files_digest(p) < 0 || p->n_files > MANIFEST_MAX_FILES)
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
 * A sealed pass is reported as a full pass would be: a plan with nothing but
 * unchanged items, and (apply) the status recorded.  Returns whether that
 * worked; if not, a full pass follows.
 */
static bool sealed_report(struct pass *p)
{
	struct pass_report rep;
	struct plan none;

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
	rep.duration_s = pass_elapsed(&p->start);
	p->res->outcome = PASS_APPLIED;
	if (pass_report_record(p, &rep) < 0) {
		p->is_sealed = false; /* a full pass tries again, and fails loudly */
		p->res->outcome = -1;
		return false;
	}
	pass_print_summary(p, &none, "applied");
	return true;
}

void pass_seal_drop(struct pass *p)
{
	if (p->seal_lent)
		memset(&p->seal, 0, sizeof(p->seal));
	else
		seal_release(&p->seal);
	p->seal_lent = false;
}

/* Read the seal: a damaged one is no seal, and the log says where it is damaged. */
static bool pass_seal_read(struct pass *p)
{
	struct buf why = BUF_INIT;
	int r;

	if (p->o->seal_load) {
		r = p->o->seal_load(p->o->seal_check_ctx, p->state_fd, &p->seal, &why);
		p->seal_lent = r > 0;
	} else {
		r = seal_read(p->state_fd, &p->seal, &why);
	}
	if (r == 0 && why.len)
		log_info("a full pass: the seal is damaged: %s", buf_str(&why));
	buf_release(&why);
	return r > 0;
}

/*
 * The steady-state fast path (seal.h): when the inputs are those of the last
 * sealed pass and every sealed path is as it was, report that pass again.
 * When only files of Nodes changed, note that a delta pass can follow.
 * Returns whether the pass is done (otherwise a full or delta one follows).
 */
bool pass_sealed(struct pass *p)
{
	const char *path[ROOT_COUNT];
	const struct seal_entry *broken = NULL;
	bool same;

	if (pass_key(p) < 0 || pass_split_paths(p) < 0)
		return false;
	if (p->o->verbose && p->o->mode == PASS_MODE_PLAN) /* it lists every unchanged item */
		return false;
	p->state_fd = open(p->cfg->state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (p->state_fd < 0)
		return false;
	if (actions_pending_load(p->state_fd)) /* a reload to retry: a full pass does it */
		return false;
	if (!pass_seal_read(p))
		return false;
	same = strcmp(p->seal.key, p->key) == 0;
	if (!same && !delta_possible(p))
		return false;
	pass_root_paths(p, path);
	if (p->o->seal_check ? !p->o->seal_check(p->o->seal_check_ctx, &p->seal, path, &broken)
			     : !seal_holds(&p->seal, path, &broken)) {
		log_debug("a full pass: a path is not as the last pass left it: %s",
			  broken ? seal_entry_line(broken) : "?");
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
	return sealed_report(p);
}

static int stub_cmp(const void *key, const void *elem)
{
	return strcmp(key, ((const struct node_stub *)elem)->name);
}

bool pass_delta_nodes_same(const struct pass *p)
{
	size_t i;

	if (p->set->n_nodes != p->seal.n_nodes)
		return false;
	for (i = 0; i < p->set->n_nodes; i++) {
		const struct node *n = p->set->nodes[i];
		const struct node_stub *was;

		if (n->stub)
			continue;
		was = bsearch(n->name, p->seal.nodes, p->seal.n_nodes, sizeof(*p->seal.nodes),
			      stub_cmp);
		if (!was || strcmp(was->serial, n->serial) != 0 ||
		    strcmp(was->mac, n->has_mac ? n->mac_str : "") != 0 ||
		    strcmp(was->ip, n->has_ip ? n->ip_str : "") != 0)
			return false;
	}
	return true;
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
 * What a delta load reads: the files that are not skipped (into load; returns
 * how many), and the seal's nodes of those that are (into stubs, *ret_n_stubs).
 */
static size_t delta_inputs(const struct pass *p, struct manifest_file *load,
			   struct node_stub *stubs, size_t *ret_n_stubs)
{
	const char *last = NULL;
	size_t i, n = 0, n_stubs = 0;
	bool keep = false;

	for (i = 0; i < p->rev.n_files; i++)
		if (!file_skipped(p, p->rev.files[i].name))
			load[n++] = p->rev.files[i];
	/* The nodes of the files not loaded (same_documents() finds more).  A
	 * file's nodes mostly follow each other: its answer is kept. */
	for (i = 0; i < p->seal.n_nodes; i++) {
		const char *file = p->seal.nodes[i].file;

		if (file != last) {
			last = file;
			keep = file_skipped(p, file);
		}
		if (keep)
			stubs[n_stubs++] = p->seal.nodes[i];
	}
	*ret_n_stubs = n_stubs;
	return n;
}

/* 1 when a changed file holds more than Nodes now: its Profiles may change the others. */
static int delta_file_grew(const struct pass *p)
{
	size_t k;

	for (k = 0; k < p->set->files.n; k++) {
		const struct seal_file *was =
			seal_file_find(p->seal.files, p->seal.n_files, p->set->files.v[k]);

		if (p->set->file_other[k] && !(was && was->other)) {
			log_debug("a full pass: %s now holds more than Nodes", p->set->files.v[k]);
			return 1;
		}
	}
	return 0;
}

/* The names of the nodes outside the pass (p->scope). */
static int delta_scope_names(struct pass *p)
{
	size_t k;

	p->scope = calloc(p->set->n_stubs + 1, sizeof(*p->scope));
	if (!p->scope)
		return -ENOMEM;
	for (k = 0; k < p->set->n_nodes; k++)
		if (p->set->nodes[k]->stub)
			p->scope[p->n_scope++] = p->set->nodes[k]->name;
	return 0;
}

/*
 * A delta pass (seal.h): load the changed files and those of everything but
 * Nodes; the nodes of the other files come from the seal.  Returns 0 (p->set
 * loaded), 1 (a full load must follow: an error to report in full, a changed
 * file that now holds more than Nodes, a record that does not fit), or -errno.
 */
int pass_load_delta(struct pass *p)
{
	struct manifest_file *load = calloc(p->rev.n_files + 1, sizeof(*load));
	struct node_stub *stubs = calloc(p->seal.n_nodes + 1, sizeof(*stubs));
	struct diags dd;
	size_t n = 0, n_stubs = 0;
	int r;

	memset(&dd, 0, sizeof(dd));
	dd.max = 1;
	if (!load || !stubs) {
		r = -ENOMEM;
		goto out;
	}
	n = delta_inputs(p, load, stubs, &n_stubs);
	r = manifests_load_delta(load, n, stubs, n_stubs, &dd, &p->set);
	if (r == -EINVAL || r == -ESTALE) {
		log_debug("a full pass: %s%s",
			  r == -ESTALE ? "the seal's record of a node does not fit"
				       : "the changed files have errors, reported in full: ",
			  r == -EINVAL && dd.n ? dd.v[0].msg : "");
		r = 1;
		goto out;
	}
	r = delta_file_grew(p);
	if (r == 0)
		same_documents(p);
	if (r == 0)
		r = delta_scope_names(p);
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
 * A delta pass plans only its nodes and the shared files: mark the others
 * out of scope, and load the inventory shards the plan can touch.
 */
int pass_delta_scope(struct pass *p)
{
	bool *shards = calloc(ENGINE_SHARDS, sizeof(*shards));
	size_t i;
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
		const struct node *n = manifest_set_node(p->set, p->seal.nodes[i].name);

		if (!file_skipped(p, p->seal.nodes[i].file) && !(n && n->stub))
			shards[engine_shard(p->seal.nodes[i].name, NULL)] = true;
	}
	/* Every shared path the last pass had. */
	for (i = 0; i < p->seal.n_entries; i++)
		if (seal_entry_owned_by(&p->seal.entries[i], "*"))
			shards[engine_shard(NULL, p->seal.entries[i].path)] = true;
	r = engine_scope(p->engine, p->scope, p->n_scope, shards);
	free(shards);
	return r;
}
