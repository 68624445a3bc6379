#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "loader.h"
#include "../common/array.h"

const char *const kind_names[KIND_COUNT] = {"Cluster", "Image", "Profile", "Node"};

/* The top-level keys of a document, as found. */
struct header {
	struct ynode *api_version, *kind, *metadata, *spec, *name, *labels;
};

static void hdr_api_version(struct dctx *c, struct ynode *v, void *obj)
{
	(void)c;
	((struct header *)obj)->api_version = v;
}

static void hdr_kind(struct dctx *c, struct ynode *v, void *obj)
{
	(void)c;
	((struct header *)obj)->kind = v;
}

static void hdr_spec(struct dctx *c, struct ynode *v, void *obj)
{
	(void)c;
	((struct header *)obj)->spec = v;
}

static void meta_name(struct dctx *c, struct ynode *v, void *obj)
{
	(void)c;
	((struct header *)obj)->name = v;
}

static void meta_labels(struct dctx *c, struct ynode *v, void *obj)
{
	(void)c;
	((struct header *)obj)->labels = v;
}

static void hdr_metadata(struct dctx *c, struct ynode *v, void *obj)
{
	static const struct field fields[] = {
		{"name", 0, meta_name},
		{"labels", 0, meta_labels},
	};

	((struct header *)obj)->metadata = v;
	dc_map(c, v, fields, 2, "metadata", obj);
}

/* apiVersion and kind; returns the kind, or -1 when the document is not ours. */
static int header_kind(struct dctx *c, const struct ynode *root, const struct header *h)
{
	char q[QUOTE_MAX];
	char *s = NULL;
	int k;

	if (!h->api_version) {
		dc_error(c, root, "missing required key \"apiVersion\"; expected apiVersion: %s",
			 BRAMBLE_API_VERSION);
		return -1;
	}
	if (!dc_string(c, h->api_version, &s))
		return -1;
	if (strcmp(s, BRAMBLE_API_VERSION) != 0) {
		str_quote(s, q, sizeof(q));
		dc_error(c, h->api_version, "unsupported apiVersion %s; expected %s", q,
			 BRAMBLE_API_VERSION);
		return -1;
	}
	if (!h->kind) {
		dc_error(c, root,
			 "missing required key \"kind\"; expected one of: Cluster, Image, "
			 "Profile, Node");
		return -1;
	}
	if (!dc_enum(c, h->kind, kind_names, KIND_COUNT, &k))
		return -1;
	return k;
}

/* metadata.name: kept even when unsafe, so that later messages can name it. */
static void header_name(struct dctx *c, const struct ynode *root, const struct header *h,
			struct object *o)
{
	char q[QUOTE_MAX];

	o->pos = ynode_pos(c->yt, root);
	if (!h->metadata) {
		dc_error(c, root,
			 "missing required key \"metadata\"; expected metadata: {name: ...}");
		return;
	}
	if (h->metadata->kind != YNODE_MAP)
		return;
	o->pos = ynode_pos(c->yt, h->metadata);
	if (!h->name) {
		dc_error(c, h->metadata, "missing required key \"name\" in metadata");
		return;
	}
	o->pos = ynode_pos(c->yt, h->name);
	if (!dc_string(c, h->name, &o->name))
		return;
	if (!name_is_safe(o->name)) {
		str_quote(o->name, q, sizeof(q));
		dc_error(c, h->name,
			 "invalid name %s; expected 1 to 63 of [A-Za-z0-9._-], not "
			 "\".\" or \"..\"",
			 q);
	}
}

struct object *loader_object_add(struct loader *l)
{
	struct object *o = NULL;

	if (l->n_objs == l->cap_objs) {
		struct object *v = array_grow(l->objs, &l->cap_objs, sizeof(*v), 64);

		if (!v)
			return NULL;
		l->objs = v;
	}
	o = &l->objs[l->n_objs];
	memset(o, 0, sizeof(*o));
	o->seq = l->n_objs++;
	return o;
}

/*
 * Decode one document's header into a new object (*ret: NULL when the
 * document is empty or not one of ours).
 */
static int object_decode(struct loader *l, struct dctx *c, struct ynode *root, struct object **ret)
{
	static const struct field fields[] = {
		{"apiVersion", 0, hdr_api_version},
		{"kind", 0, hdr_kind},
		{"metadata", 0, hdr_metadata},
		{"spec", 0, hdr_spec},
	};
	struct header h;
	struct object *o = NULL;
	int k;

	*ret = NULL;
	if (!root || ynode_is_null(root))
		return 0;
	if (root->kind != YNODE_MAP) {
		dc_error(c, root, "expected a map with apiVersion, kind, metadata and spec, got %s",
			 ynode_type_name(root));
		return 0;
	}
	memset(&h, 0, sizeof(h));
	dc_map(c, root, fields, 4, "document", &h);
	k = header_kind(c, root, &h);
	if (k < 0)
		return c->err;
	o = loader_object_add(l);
	if (!o)
		return -ENOMEM;
	o->kind = (enum kind)k;
	o->root = root;
	o->spec = h.spec;
	o->labels = h.labels;
	header_name(c, root, &h, o);
	if (!h.spec)
		dc_error(c, root, "missing required key \"spec\" in %s document", kind_names[k]);
	if (h.labels && k != KIND_NODE) {
		struct kvlist unused;

		/* Only Nodes use labels, but they are checked everywhere. */
		decode_labels(c, h.labels, &unused);
	}
	*ret = o;
	return c->err;
}

/* Index the objects by kind, keeping the order of appearance. */
int loader_index(struct loader *l)
{
	size_t i, k;

	for (k = 0; k < KIND_COUNT; k++) {
		free(l->of_kind[k]);
		l->n_of_kind[k] = 0;
		l->of_kind[k] = calloc(l->n_objs ? l->n_objs : 1, sizeof(*l->of_kind[k]));
		if (!l->of_kind[k])
			return -ENOMEM;
	}
	for (i = 0; i < l->n_objs; i++) {
		k = l->objs[i].kind;
		l->of_kind[k][l->n_of_kind[k]++] = &l->objs[i];
	}
	return 0;
}

static void objects_dctx(struct loader *l, struct dctx *c)
{
	memset(c, 0, sizeof(*c));
	c->d = l->d;
	c->yt = &l->yt;
	c->out = l->keep;
}

int loader_objects(struct loader *l)
{
	struct object *o = NULL;
	struct dctx c;
	size_t i;
	int r;

	objects_dctx(l, &c);
	for (i = 0; i < l->yt.n_docs; i++) {
		r = object_decode(l, &c, l->yt.docs[i].root, &o);
		if (r < 0)
			return r;
	}
	return loader_index(l);
}

int loader_object(struct loader *l, struct ynode *root, struct object **ret)
{
	struct dctx c;

	objects_dctx(l, &c);
	return object_decode(l, &c, root, ret);
}

bool is_node_document(const struct ynode *root)
{
	const struct ynode *k = NULL;

	if (!root || root->kind != YNODE_MAP)
		return false;
	k = ymap_get(root, "kind");
	return k && k->kind == YNODE_SCALAR && strcmp(k->u.str, "Node") == 0;
}
