/*
 * load: the manifest loader's phases, for a full load and a delta load (the
 * nodes of unchanged files join as stubs: load_stubs.c).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "loader.h"
#include "merge.h"
#include "netaddr.h"
#include "../common/hash.h"
#include "../common/array.h"

static int loader_init(struct loader *l, struct diags *d)
{
	memset(l, 0, sizeof(*l));
	l->d = d;
	l->d_start = d->n + d->dropped;
	l->keep = calloc(1, sizeof(*l->keep));
	if (!l->keep)
		return -ENOMEM;
	ytree_init(&l->yt, l->keep, MANIFEST_MAX_DOCUMENTS);
	return 0;
}

static void loader_release(struct loader *l)
{
	size_t k;

	ytree_release(&l->yt);
	arena_release(&l->scratch);
	if (l->keep) {
		arena_release(l->keep);
		free(l->keep);
	}
	for (k = 0; k < KIND_COUNT; k++)
		free(l->of_kind[k]);
	free(l->objs);
	free(l->sorted);
	free(l->has_nodes);
	free(l->has_other);
	diags_release(&l->reparse_diags);
	free(l->refs.images);
	free(l->refs.profiles);
	free(l->recs);
}

static void dctx_init(struct dctx *c, struct loader *l, enum spec_mode mode, struct arena *out)
{
	memset(c, 0, sizeof(*c));
	c->d = l->d;
	c->yt = &l->yt;
	c->out = out;
	c->refs = &l->refs;
	c->mode = mode;
}

static int file_cmp(const void *a, const void *b)
{
	const struct manifest_file *const *x = a, *const *y = b;

	return strcmp((*x)->name, (*y)->name);
}

/* First parse: keep everything but Nodes, and note which files have Nodes. */
static int first_parse_done(void *ctx, struct ytree *t, struct ynode *root)
{
	struct loader *l = ctx;

	(void)t;
	if (!is_node_document(root)) {
		l->has_other[l->cur_file] = true;
		return YDOC_KEEP;
	}
	l->has_nodes[l->cur_file] = true;
	return YDOC_DROP_ALL;
}

/* Parse one file; 1 when it could not be used, 0, or -ENOMEM. */
static int parse_file(struct loader *l, const struct manifest_file *f, const char *name)
{
	struct ytree_hook h = {first_parse_done, l};
	struct pos top = {name, 1, 1};
	int r;

	if (f->len > MANIFEST_MAX_FILE_SIZE) {
		r = diags_add(l->d, &top, "file is larger than %zu bytes; expected a smaller file",
			      MANIFEST_MAX_FILE_SIZE);
		return r < 0 ? r : 1;
	}
	r = ytree_parse(&l->yt, name, f->data, f->len, l->d, &h);
	if (r == -EINVAL)
		return 1;
	return r;
}

/* Sort the files by name and intern their names. */
static int loader_sort_files(struct loader *l, const struct manifest_file *files, size_t n)
{
	size_t i;

	l->sorted = calloc(n ? n : 1, sizeof(*l->sorted));
	l->has_nodes = calloc(n ? n : 1, sizeof(*l->has_nodes));
	l->has_other = calloc(n ? n : 1, sizeof(*l->has_other));
	l->files.v = arena_calloc(l->keep, n ? n : 1, sizeof(*l->files.v));
	if (!l->sorted || !l->has_nodes || !l->has_other || !l->files.v)
		return -ENOMEM;
	for (i = 0; i < n; i++)
		l->sorted[i] = &files[i];
	qsort(l->sorted, n, sizeof(*l->sorted), file_cmp);
	for (i = 0; i < n; i++) {
		l->files.v[i] = arena_strdup(l->keep, l->sorted[i]->name);
		if (!l->files.v[i])
			return -ENOMEM;
	}
	l->files.n = n;
	l->first_file = n ? l->files.v[0] : NULL;
	return 0;
}

/* Parse every file, in name order; -EINVAL when any could not be used. */
static int loader_parse(struct loader *l, const struct manifest_file *files, size_t n)
{
	size_t i, total = 0, failed = 0;
	int r;

	if (n > MANIFEST_MAX_FILES) {
		r = diags_add(l->d, NULL, "more than %d manifest files; expected fewer",
			      MANIFEST_MAX_FILES);
		return r < 0 ? r : -EINVAL;
	}
	for (i = 0; i < n; i++)
		total += files[i].len < MANIFEST_MAX_TOTAL_SIZE ? files[i].len
								: MANIFEST_MAX_TOTAL_SIZE;
	if (total > MANIFEST_MAX_TOTAL_SIZE) {
		r = diags_add(l->d, NULL,
			      "manifests are larger than %zu bytes in total; expected "
			      "a smaller repository",
			      MANIFEST_MAX_TOTAL_SIZE);
		return r < 0 ? r : -EINVAL;
	}
	r = loader_sort_files(l, files, n);
	for (i = 0; i < n && r >= 0; i++) {
		l->cur_file = i;
		r = parse_file(l, l->sorted[i], l->files.v[i]);
		failed += r == 1;
	}
	if (r < 0)
		return r;
	return failed ? -EINVAL : 0;
}

/* The first Cluster is the one; the others are reported by validate. */
static int load_cluster(struct loader *l)
{
	struct object *o = NULL;
	struct dctx c;

	if (l->n_of_kind[KIND_CLUSTER] == 0)
		return 0;
	o = l->of_kind[KIND_CLUSTER][0];
	l->cluster = arena_calloc(l->keep, 1, sizeof(*l->cluster));
	if (!l->cluster)
		return -ENOMEM;
	l->cluster->name = o->name;
	l->cluster->pos = o->pos;
	if (!o->spec)
		return 0;
	dctx_init(&c, l, SPEC_NODE, l->keep);
	c.fallback = o->pos;
	decode_cluster_spec(&c, o->spec, l->cluster, &l->defaults);
	return c.err;
}

static int image_cmp(const void *a, const void *b)
{
	struct image *const *x = a, *const *y = b;

	return strcmp((*x)->name, (*y)->name);
}

/* Decode the Images and index those with a name for references. */
static int load_images(struct loader *l)
{
	size_t i, n = l->n_of_kind[KIND_IMAGE];
	struct dctx c;

	l->refs.images = calloc(n ? n : 1, sizeof(*l->refs.images));
	if (!l->refs.images)
		return -ENOMEM;
	dctx_init(&c, l, SPEC_NODE, l->keep);
	for (i = 0; i < n && c.err == 0; i++) {
		struct object *o = l->of_kind[KIND_IMAGE][i];
		struct image *img = arena_calloc(l->keep, 1, sizeof(*img));

		if (!img)
			return -ENOMEM;
		img->name = o->name;
		img->pos = o->pos;
		if (o->spec)
			decode_image_spec(&c, o->spec, &o->pos, img);
		if (o->name)
			l->refs.images[l->refs.n_images++] = img;
	}
	/* Stable enough: ties are duplicates, an error reported elsewhere. */
	qsort(l->refs.images, l->refs.n_images, sizeof(*l->refs.images), image_cmp);
	return c.err;
}

static int profile_ref_cmp(const void *a, const void *b)
{
	const struct profile_ref *x = a, *y = b;

	return strcmp(x->name, y->name);
}

static int profiles_index(struct loader *l)
{
	size_t i, n = l->n_of_kind[KIND_PROFILE];

	l->refs.profiles = calloc(n ? n : 1, sizeof(*l->refs.profiles));
	if (!l->refs.profiles)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		struct object *o = l->of_kind[KIND_PROFILE][i];
		struct profile_ref *p = &l->refs.profiles[l->refs.n_profiles];

		if (!o->name)
			continue;
		p->name = o->name;
		p->pos = o->pos;
		p->spec = o->spec && o->spec->kind == YNODE_MAP ? o->spec : NULL;
		l->refs.n_profiles++;
	}
	qsort(l->refs.profiles, l->refs.n_profiles, sizeof(*l->refs.profiles), profile_ref_cmp);
	return 0;
}

/* Check one Profile or the defaults on its own, with positions in its file. */
static int check_partial_spec(struct loader *l, struct ynode *spec, enum spec_mode mode,
			      const char *what)
{
	struct node *scratch_node = arena_calloc(&l->scratch, 1, sizeof(*scratch_node));
	struct dctx c;

	if (!scratch_node)
		return -ENOMEM;
	dctx_init(&c, l, mode, &l->scratch);
	decode_node_spec(&c, spec, what, scratch_node);
	arena_reset(&l->scratch);
	return c.err;
}

static int load_profiles(struct loader *l)
{
	size_t i;
	int r;

	r = profiles_index(l);
	if (r == 0 && l->defaults)
		r = check_partial_spec(l, l->defaults, SPEC_DEFAULTS, "Cluster spec.defaults");
	for (i = 0; r == 0 && i < l->n_of_kind[KIND_PROFILE]; i++) {
		struct object *o = l->of_kind[KIND_PROFILE][i];

		if (o->spec)
			r = check_partial_spec(l, o->spec, SPEC_PROFILE, "Profile spec");
	}
	return r;
}

/* The profiles a node lists: its own list, else the defaults'. */
static struct ynode *node_profile_list(const struct loader *l, const struct ynode *spec)
{
	struct ynode *v = spec && spec->kind == YNODE_MAP ? ymap_get(spec, "profiles") : NULL;

	if (!v && l->defaults && l->defaults->kind == YNODE_MAP)
		v = ymap_get(l->defaults, "profiles");
	return v && v->kind == YNODE_SEQ ? v : NULL;
}

/*
 * Defaults, then each listed profile, then the node: merged on the tree.
 * 0, -E2BIG past MERGE_WORK_MAX, -ENOMEM.
 */
static int node_merged_spec(struct loader *l, struct ynode *spec, struct ynode **ret)
{
	struct ynode *list = node_profile_list(l, spec);
	struct ynode **layers = NULL;
	size_t i, n = 0;

	*ret = spec;
	if (spec->kind != YNODE_MAP)
		return 0;
	layers = arena_calloc(&l->scratch, (list ? list->n : 0) + 2, sizeof(*layers));
	if (!layers)
		return -ENOMEM;
	if (l->defaults && l->defaults->kind == YNODE_MAP)
		layers[n++] = l->defaults;
	for (i = 0; list && i < list->n; i++) {
		const struct ynode *item = list->u.items[i];
		struct profile_ref *p = NULL;

		if (item->kind == YNODE_SCALAR)
			p = refs_profile(&l->refs, item->u.str);
		if (p && p->spec)
			layers[n++] = p->spec;
	}
	layers[n++] = spec;
	return ymerge_layers(&l->scratch, layers, n, &l->merge_work, MERGE_WORK_MAX, ret);
}

/*
 * Problems a node has only once merged: missing serial or image, hostname.
 * With several Clusters, the defaults that would give the image are unknown.
 */
static void node_check(struct dctx *c, const struct ynode *merged, struct node *n, bool check_image)
{
	char q[QUOTE_MAX];

	if (merged->kind != YNODE_MAP)
		return;
	if (!ymap_get(merged, "serial"))
		dc_error_at(c, &c->fallback,
			    "missing required key \"serial\" in Node spec; "
			    "expected 8 lowercase hex digits");
	if (!ymap_get(merged, "image") && check_image)
		dc_error_at(c, &c->fallback,
			    "node has no image; expected spec.image in the Node, "
			    "one of its Profiles or the Cluster defaults");
	if (n->hostname || ymap_get(merged, "hostname") || !n->name)
		return;
	n->hostname = n->name;
	c->rec->hostname_pos = n->pos;
	if (!hostname_is_valid(n->name) && name_is_safe(n->name)) {
		str_quote(n->name, q, sizeof(q));
		dc_error_at(c, &n->pos,
			    "name %s is not a valid hostname; expected spec.hostname "
			    "or a name of letters, digits and \"-\"",
			    q);
	}
}

static struct node *node_new(struct loader *l, const struct object *o)
{
	struct node *n = arena_calloc(l->keep, 1, sizeof(*n));

	if (!n)
		return NULL;
	n->name = o->name;
	n->pos = o->pos;
	n->model = PI_MODEL_PI4;
	n->root_mode = ROOT_MODE_PRIVATE;
	n->first_boot.ssh = TRI_UNSET;
	return n;
}

struct node_rec *loader_rec_add(struct loader *l)
{
	if (l->n_recs == l->cap_recs) {
		struct node_rec *v = array_grow(l->recs, &l->cap_recs, sizeof(*v), 64);

		if (!v)
			return NULL;
		l->recs = v;
	}
	memset(&l->recs[l->n_recs], 0, sizeof(l->recs[0]));
	return &l->recs[l->n_recs++];
}

/* Past the merge budget: say so once, at the node where it ran out. */
static int merge_exhausted(struct loader *l, const struct object *o)
{
	if (l->merge_exhausted)
		return 0;
	l->merge_exhausted = true;
	return diags_add(l->d, &o->pos,
			 "merging Profiles and defaults into the nodes takes more than %llu YAML "
			 "nodes; expected smaller Profiles or fewer of them per node",
			 (unsigned long long)MERGE_WORK_MAX);
}

/* Merge and decode one Node into a new record. */
static int load_node(struct loader *l, const struct object *o)
{
	struct ynode *merged = NULL;
	struct node_rec *rec = NULL;
	struct dctx c;
	int r = 0;

	if (o->spec && !l->merge_exhausted)
		r = node_merged_spec(l, o->spec, &merged);
	if (r == -E2BIG || l->merge_exhausted) {
		arena_reset(&l->scratch);
		return merge_exhausted(l, o);
	}
	if (r < 0)
		return r;
	rec = loader_rec_add(l);
	if (!rec)
		return -ENOMEM;
	rec->node = node_new(l, o);
	if (!rec->node)
		return -ENOMEM;
	rec->name_pos = o->pos;
	dctx_init(&c, l, SPEC_NODE, l->keep);
	c.own_doc_only = true;
	c.doc = o->root->doc;
	c.fallback = o->pos;
	c.rec = rec;
	if (o->labels)
		decode_labels(&c, o->labels, &rec->node->labels);
	if (merged) {
		decode_node_spec(&c, merged, "Node spec", rec->node);
		node_check(&c, merged, rec->node, l->n_of_kind[KIND_CLUSTER] == 1);
	}
	arena_reset(&l->scratch);
	return c.err;
}

/* What a delta pass compares: the bytes of a Node's document. */
static int doc_digest(struct loader *l, const struct ydoc *doc, struct node *n)
{
	char hex[SHA256_HEX_LEN + 1];
	size_t end = doc->end < l->cur_len ? doc->end : l->cur_len;
	int r;

	if (doc->start > end)
		return 0;
	r = sha256_hex(l->cur_data + doc->start, end - doc->start, hex);
	if (r == 0)
		memcpy(n->doc_digest, hex, sizeof(n->doc_digest) - 1);
	return r;
}

/* Second parse: decode each Node as soon as it is complete, then forget its tree. */
static int second_parse_done(void *ctx, struct ytree *t, struct ynode *root)
{
	struct loader *l = ctx;
	struct object *o = NULL;
	size_t before;
	int r;

	if (!is_node_document(root))
		return YDOC_DROP_ALL; /* decoded after the first parse */
	r = loader_object(l, root, &o);
	before = l->n_recs;
	if (r == 0 && o)
		r = load_node(l, o);
	if (r == 0 && l->n_recs > before && l->recs[l->n_recs - 1].node)
		r = doc_digest(l, &t->docs[root->doc], l->recs[l->n_recs - 1].node);
	if (o)
		o->root = o->spec = o->labels = NULL;
	return r < 0 ? r : YDOC_DROP_TREE;
}

/*
 * Parse again the files that hold Nodes.  Problems of the YAML itself were
 * reported by the first parse and go to a scratch list this time.
 */
static int load_nodes(struct loader *l)
{
	struct ytree_hook h = {second_parse_done, l};
	size_t i;
	int r = 0;

	l->yt.max_docs = SIZE_MAX;
	for (i = 0; i < l->files.n && r == 0; i++) {
		l->cur_data = l->sorted[i]->data;
		l->cur_len = l->sorted[i]->len;
		if (l->has_nodes[i])
			r = ytree_parse(&l->yt, l->files.v[i], l->sorted[i]->data,
					l->sorted[i]->len, &l->reparse_diags, &h);
	}
	if (r == 0)
		r = loader_index(l);
	return r;
}

static int node_ptr_cmp(const void *a, const void *b)
{
	struct node *const *x = a, *const *y = b;

	return strcmp((*x)->name, (*y)->name);
}

static int profile_ptr_cmp(const void *a, const void *b)
{
	struct profile *const *x = a, *const *y = b;

	return strcmp((*x)->name, (*y)->name);
}

/* The arrays of the set, sorted by name, carved from the kept arena. */
static int set_fill(struct loader *l, struct manifest_set *set)
{
	struct arena *a = l->keep;
	size_t i, np = l->refs.n_profiles;

	set->images = arena_calloc(a, l->refs.n_images + 1, sizeof(*set->images));
	set->profiles = arena_calloc(a, np + 1, sizeof(*set->profiles));
	set->nodes = arena_calloc(a, l->n_recs + 1, sizeof(*set->nodes));
	if (!set->images || !set->profiles || !set->nodes)
		return -ENOMEM;
	memcpy(set->images, l->refs.images, l->refs.n_images * sizeof(*set->images));
	set->n_images = l->refs.n_images;
	for (i = 0; i < np; i++) {
		struct profile *p = arena_calloc(a, 1, sizeof(*p));

		if (!p)
			return -ENOMEM;
		p->name = l->refs.profiles[i].name;
		p->pos = l->refs.profiles[i].pos;
		set->profiles[set->n_profiles++] = p;
	}
	qsort(set->profiles, set->n_profiles, sizeof(*set->profiles), profile_ptr_cmp);
	for (i = 0; i < l->n_recs; i++)
		set->nodes[set->n_nodes++] = l->recs[i].node;
	qsort(set->nodes, set->n_nodes, sizeof(*set->nodes), node_ptr_cmp);
	set->cluster = l->cluster;
	set->files = l->files;
	set->file_other = arena_calloc(a, l->files.n + 1, sizeof(*set->file_other));
	if (!set->file_other)
		return -ENOMEM;
	memcpy(set->file_other, l->has_other, l->files.n * sizeof(*set->file_other));
	for (i = 0; i < set->n_nodes; i++)
		set->n_stubs += set->nodes[i]->stub;
	return 0;
}

/* Hand the kept arena over to a new set. */
static int set_build(struct loader *l, struct manifest_set **ret)
{
	struct manifest_set *set = arena_calloc(l->keep, 1, sizeof(*set));
	int r;

	if (!set)
		return -ENOMEM;
	r = set_fill(l, set);
	if (r < 0)
		return r;
	set->priv = l->keep;
	l->keep = NULL;
	*ret = set;
	return 0;
}

/* Every phase after parsing; problems go to the diags, the result is 0 or -ENOMEM. */
static int load_phases(struct loader *l, const struct node_stub *stubs, size_t n_stubs)
{
	int r;

	r = loader_objects(l);
	if (r == 0)
		r = validate_cluster_count(l);
	if (r == 0)
		r = load_cluster(l);
	if (r == 0)
		r = load_images(l);
	if (r == 0)
		r = load_profiles(l);
	if (r == 0)
		r = load_nodes(l);
	if (r == 0 && n_stubs)
		r = loader_add_stubs(l, stubs, n_stubs);
	if (r == 0)
		r = validate_names(l, KIND_IMAGE);
	if (r == 0)
		r = validate_names(l, KIND_PROFILE);
	if (r == 0 && !n_stubs)
		r = validate_names(l, KIND_NODE);
	if (r == 0 && n_stubs) /* a full load, which says where, follows any error */
		r = validate_nodes_quick(l);
	if (r == 0)
		r = validate_nodes(l);
	return r;
}

int manifests_load_delta(const struct manifest_file *files, size_t n_files,
			 const struct node_stub *stubs, size_t n_stubs, struct diags *d,
			 struct manifest_set **ret)
{
	struct loader l;
	int r;

	r = loader_init(&l, d);
	if (r == 0)
		r = loader_parse(&l, files, n_files);
	if (r == 0)
		r = load_phases(&l, stubs, n_stubs);
	if (r == 0 && d->n + d->dropped > l.d_start)
		r = -EINVAL;
	if (r == 0)
		r = set_build(&l, ret);
	diags_sort(d);
	loader_release(&l);
	return r;
}

int manifests_load_files(const struct manifest_file *files, size_t n_files, struct diags *d,
			 struct manifest_set **ret)
{
	return manifests_load_delta(files, n_files, NULL, 0, d, ret);
}
