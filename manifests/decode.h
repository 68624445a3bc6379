/*
 * decode: typed decoding of YAML trees into the model, driven by tables.
 *
 * Each map of the format is a table of fields; decoding a map rejects
 * unknown keys (naming the ones expected), and each field checks its type
 * and its value.  Problems are added to the diags with the position of the
 * value; decoding goes on so that every problem is reported at once.
 *
 * A node's spec is decoded after merging, so a value may come from a Profile
 * or the Cluster defaults.  Those are decoded (and reported) on their own, so
 * while decoding a node only problems in the node's own document are
 * reported; problems that exist only because of the merge are reported at
 * the node's metadata.name.
 */
#ifndef BRAMBLE_DECODE_H
#define BRAMBLE_DECODE_H

#include <stdbool.h>
#include <stdint.h>

#include "arena.h"
#include "model.h"
#include "yaml_tree.h"

/* Which kind of spec is being decoded: it decides the keys allowed. */
enum spec_mode {
	SPEC_NODE,     /* a Node, after merging */
	SPEC_DEFAULTS, /* Cluster spec.defaults */
	SPEC_PROFILE,  /* a Profile */
};

#define FIELD_NODE_ONLY	 0x1 /* identifies one node: not in Profiles or defaults */
#define FIELD_NO_PROFILE 0x2 /* not in a Profile */

struct profile_ref {
	char *name;
	struct pos pos;
	struct ynode *spec;
};

/* What references resolve against; both arrays sorted by name. */
struct refs {
	struct image **images;
	size_t n_images;
	struct profile_ref *profiles;
	size_t n_profiles;
};

/* Positions of the values that must be unique among nodes. */
struct node_rec {
	struct node *node;
	struct pos name_pos;
	struct pos serial_pos, mac_pos, ip_pos, hostname_pos;
	bool has_serial;
};

struct dctx {
	struct diags *d;
	const struct ytree *yt;
	struct arena *out; /* where lists and arrays of the result go */
	const struct refs *refs;
	enum spec_mode mode;
	bool own_doc_only; /* report only problems in document doc */
	uint32_t doc;
	struct pos fallback;  /* for merge-only problems outside doc */
	struct node_rec *rec; /* SPEC_NODE: where positions are recorded */
	int err;	      /* first system error (-ENOMEM) */
};

struct field {
	const char *key;
	unsigned flags;
	void (*fn)(struct dctx *c, struct ynode *v, void *obj);
};

/* Report a problem with value at (suppressed when it belongs to another document). */
void dc_error(struct dctx *c, const struct ynode *at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Report a problem of a merged map: at it, or at the fallback when it came from elsewhere. */
void dc_error_merged(struct dctx *c, const struct ynode *at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Report a problem at a position. */
void dc_error_at(struct dctx *c, const struct pos *at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Note an allocation failure: decoding stops and the load returns -ENOMEM. */
void dc_nomem(struct dctx *c);

/* Type checks and scalar conversions; each reports its own problem. */
bool dc_expect_map(struct dctx *c, const struct ynode *v);
/* A string (a scalar that is not null); *ret lives as long as the set. */
bool dc_string(struct dctx *c, const struct ynode *v, char **ret);
/* An integer from 0 to max. */
bool dc_uint(struct dctx *c, const struct ynode *v, unsigned max, unsigned *ret);
/* true or false. */
bool dc_bool(struct dctx *c, const struct ynode *v, bool *ret);
/* v must be one of names[0..n); *ret is its index. */
bool dc_enum(struct dctx *c, const struct ynode *v, const char *const *names, size_t n, int *ret);
/*
 * A list of strings; each item is checked with ok (which reports) and the
 * good ones are kept.  Returns false only when v is not a list.
 */
bool dc_strlist(struct dctx *c, const struct ynode *v, struct strlist *ret,
		bool (*ok)(struct dctx *c, const struct ynode *item, const char *s));
/*
 * A secret: a string (checked with ok, which reports without showing the
 * value) or {file: /absolute/path}.
 */
bool dc_secret(struct dctx *c, const struct ynode *v, struct secret *ret,
	       bool (*ok)(struct dctx *c, const struct ynode *item, const char *s));
/* Decode map v with a table; what names the map in messages ("Node spec"). */
void dc_map(struct dctx *c, struct ynode *v, const struct field *fields, size_t n_fields,
	    const char *what, void *obj);

/* Reference lookups; the first of several with the same name. */
struct image *refs_image(const struct refs *r, const char *name);
/* The same for a Profile. */
struct profile_ref *refs_profile(const struct refs *r, const char *name);

/*
 * Decode a node spec (already merged for SPEC_NODE) into n.  For profiles and
 * defaults, n is a scratch node that only collects problems.
 */
void decode_node_spec(struct dctx *c, struct ynode *spec, const char *what, struct node *n);

/* firstBoot of a node spec. */
void decode_first_boot(struct dctx *c, struct ynode *v, struct first_boot *fb);
/* A hostname value, checked; reports and returns false when invalid. */
bool decode_hostname(struct dctx *c, const struct ynode *v, char **ret);

/* Decode a Cluster spec (except spec.defaults, returned in *ret_defaults). */
void decode_cluster_spec(struct dctx *c, struct ynode *spec, struct cluster *cl,
			 struct ynode **ret_defaults);

/* Decode an Image spec. */
void decode_image_spec(struct dctx *c, struct ynode *spec, const struct pos *name_pos,
		       struct image *img);

/* Decode metadata.labels into a sorted key/value list. */
void decode_labels(struct dctx *c, struct ynode *v, struct kvlist *ret);

#endif
