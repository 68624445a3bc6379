/*
 * loader: the state of one load, shared by its phases (load.c, objects.c,
 * validate.c).  Not part of the module's interface.
 */
#ifndef BRAMBLE_LOADER_H
#define BRAMBLE_LOADER_H

#include <stdbool.h>
#include <stddef.h>

#include "arena.h"
#include "decode.h"
#include "model.h"
#include "yaml_tree.h"

enum kind {
	KIND_CLUSTER,
	KIND_IMAGE,
	KIND_PROFILE,
	KIND_NODE,
	KIND_COUNT,
};

/* One document: a Cluster, Image, Profile or Node, before decoding its spec. */
struct object {
	enum kind kind;
	char *name;	/* NULL when missing or not a string */
	struct pos pos; /* of metadata.name, else of the document */
	struct ynode *root, *spec, *labels;
	size_t seq; /* order of appearance, for "first" and "second" */
};

/*
 * The work merging and decoding all nodes may take, in YAML nodes visited:
 * far above what a real cluster needs (100,000 nodes of 100 values each),
 * far below what a small repository could otherwise ask for.
 */
#define MERGE_WORK_MAX ((uint64_t)MANIFEST_MAX_NODES_PER_FILE * 16)

struct loader {
	struct diags *d;
	size_t d_start;	    /* diags present before the load */
	struct arena *keep; /* becomes the set's: model and scalar values */
	struct arena scratch;
	struct ytree yt;
	const char *first_file;
	struct strlist files;
	struct object *objs;
	size_t n_objs, cap_objs;
	struct object **of_kind[KIND_COUNT]; /* in order of appearance */
	size_t n_of_kind[KIND_COUNT];
	struct cluster *cluster;
	struct ynode *defaults;
	struct refs refs;
	struct node_rec *recs; /* one per Node object, in order of appearance */
	size_t n_recs, cap_recs;
	size_t n_stubs;			     /* records that are stubs (a delta load) */
	const struct manifest_file **sorted; /* the files, by name */
	bool *has_nodes;		     /* per sorted file: holds Node documents */
	bool *has_other;		     /* per sorted file: holds other documents */
	size_t cur_file;
	const char *cur_data; /* the file being parsed (second parse) */
	size_t cur_len;
	uint64_t merge_work;	    /* see MERGE_WORK_MAX */
	bool merge_exhausted;	    /* reported once; later nodes are skipped */
	struct diags reparse_diags; /* YAML problems seen again on the second parse */
};

/* Decode the header of every document kept in the tree into objects. */
int loader_objects(struct loader *l);
/* A new, empty object (NULL: out of memory); loader_index() after adding. */
struct object *loader_object_add(struct loader *l);
/* Decode one document's header into a new object (*ret NULL if none). */
int loader_object(struct loader *l, struct ynode *root, struct object **ret);
/* (Re)build of_kind after objects were added. */
int loader_index(struct loader *l);
/* A new, zeroed node record (NULL: out of memory). */
struct node_rec *loader_rec_add(struct loader *l);
/*
 * A delta load (load_stubs.c): the nodes of the files that did not change,
 * as recorded, become objects and records.  -ESTALE when a record does not
 * fit (its image is gone, a value is malformed): a full load must follow.
 */
int loader_add_stubs(struct loader *l, const struct node_stub *stubs, size_t n);
/*
 * Whether a document is a Node.  Nodes are many: they are decoded one at a
 * time on a second parse, after everything they refer to is known.
 */
bool is_node_document(const struct ynode *root);

/* Cross-checks between documents (validate.c); 0 or -ENOMEM. */
int validate_cluster_count(struct loader *l);
/* Names of one kind unique across the revision. */
int validate_names(struct loader *l, enum kind kind);
/* Serials, MACs, addresses and hostnames unique; references resolved. */
int validate_nodes(struct loader *l);
/* A delta load (stubs): any name or unique key used twice is an error; 0 or -ENOMEM. */
int validate_nodes_quick(struct loader *l);

/* Kind names as written in manifests. */
extern const char *const kind_names[KIND_COUNT];

#endif
