#include "yaml_tree.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "../common/hash.h"
#include "check.h"
#include "model.h"

#define TAG_PREFIX "tag:yaml.org,2002:"

/* A collection being built: its children sit on the builder's kid stack. */
struct frame {
	struct ynode *node;
	size_t first;	    /* index of its first child on the kid stack */
	const char *anchor; /* registered when the collection ends */
};

struct anchor_slot {
	uint64_t hash;
	uint64_t gen; /* the slot is live when gen equals the builder's */
	const char *name;
	struct ynode *node;
};

struct builder {
	struct ytree *t;
	struct diags *d;
	const char *file;
	const char *data; /* after a byte order mark */
	size_t len;
	size_t skip; /* bytes of the byte order mark: document offsets are the file's */
	struct frame frames[MANIFEST_MAX_DEPTH];
	size_t n_frames;
	struct ynode **kids;
	size_t n_kids, cap_kids;
	struct anchor_slot *anchors;
	size_t cap_anchors, n_anchors;
	uint64_t gen;
	uint32_t doc;
	const struct ytree_hook *hook;
	struct arena_mark doc_nodes, doc_values; /* where the document started */
	uint64_t count;				 /* nodes of the file, aliases expanded */
	bool fatal;				 /* stop: the file's documents are dropped */
	int err;				 /* a system error, e.g. -ENOMEM */
};

void ytree_init(struct ytree *t, struct arena *values, size_t max_docs)
{
	memset(t, 0, sizeof(*t));
	t->values = values;
	t->max_docs = max_docs;
}

void ytree_release(struct ytree *t)
{
	arena_release(&t->nodes);
	free(t->docs);
	t->docs = NULL;
	t->n_docs = t->cap_docs = 0;
}

struct pos ynode_pos(const struct ytree *t, const struct ynode *n)
{
	struct pos p = {t->docs[n->doc].file, n->line, n->col};

	return p;
}

static void bvadd(struct builder *b, const struct pos *p, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

/* Add a problem of the file; an allocation failure becomes b->err. */
static void bvadd(struct builder *b, const struct pos *p, const char *fmt, va_list ap)
{
	int r = diags_vadd(b->d, p, fmt, ap);

	if (r < 0 && b->err == 0)
		b->err = r;
}

static void berr(struct builder *b, const yaml_mark_t *m, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Report a problem at a libyaml mark (0-based). */
static void berr(struct builder *b, const yaml_mark_t *m, const char *fmt, ...)
{
	struct pos p = {b->file, (unsigned)m->line + 1, (unsigned)m->column + 1};
	va_list ap;

	va_start(ap, fmt);
	bvadd(b, &p, fmt, ap);
	va_end(ap);
}

static void perr(struct builder *b, const struct pos *p, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void perr(struct builder *b, const struct pos *p, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	bvadd(b, p, fmt, ap);
	va_end(ap);
}

static void nerr(struct builder *b, const struct ynode *n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Report a problem at a node of the file being built. */
static void nerr(struct builder *b, const struct ynode *n, const char *fmt, ...)
{
	struct pos p = {b->file, n->line, n->col};
	va_list ap;

	va_start(ap, fmt);
	bvadd(b, &p, fmt, ap);
	va_end(ap);
}

/* Count n more expanded nodes; past the limit the file is given up. */
static bool count_nodes(struct builder *b, const yaml_mark_t *m, uint64_t n)
{
	b->count += n;
	if (b->count <= MANIFEST_MAX_NODES_PER_FILE)
		return true;
	berr(b, m,
	     "more than %u YAML nodes in this file once aliases are expanded; "
	     "expected at most %u (is this an alias bomb?)",
	     (unsigned)MANIFEST_MAX_NODES_PER_FILE, (unsigned)MANIFEST_MAX_NODES_PER_FILE);
	b->fatal = true;
	return false;
}

static struct ynode *node_new(struct builder *b, enum ynode_kind kind, const yaml_mark_t *m)
{
	struct ynode *n = NULL;

	if (!count_nodes(b, m, 1))
		return NULL;
	n = arena_alloc(&b->t->nodes, sizeof(*n));
	if (!n) {
		b->err = -ENOMEM;
		return NULL;
	}
	memset(n, 0, sizeof(*n));
	n->kind = (uint8_t)kind;
	n->doc = b->doc;
	n->line = (uint32_t)m->line + 1;
	n->col = (uint32_t)m->column + 1;
	n->weight = 1;
	return n;
}

/* Attach a finished node to the open collection, or make it the root. */
static void add_child(struct builder *b, struct ynode *n)
{
	if (b->n_frames == 0) {
		b->t->docs[b->doc].root = n;
		return;
	}
	if (b->n_kids == b->cap_kids) {
		size_t cap = b->cap_kids ? b->cap_kids * 2 : 256;
		struct ynode **v = realloc(b->kids, cap * sizeof(*v));

		if (!v) {
			b->err = -ENOMEM;
			return;
		}
		b->kids = v;
		b->cap_kids = cap;
	}
	b->kids[b->n_kids++] = n;
}

/* Whether the next node of the open collection is a map key. */
static bool at_key(const struct builder *b)
{
	const struct frame *f = b->n_frames ? &b->frames[b->n_frames - 1] : NULL;

	return f && f->node->kind == YNODE_MAP && (b->n_kids - f->first) % 2 == 0;
}

/* Grow the anchor table to keep it at most half full. */
static int anchors_grow(struct builder *b)
{
	struct anchor_slot *old = b->anchors, *v;
	size_t i, j, cap = b->cap_anchors ? b->cap_anchors * 2 : 64;

	v = calloc(cap, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (i = 0; i < b->cap_anchors; i++) {
		if (old[i].gen != b->gen)
			continue;
		j = (size_t)old[i].hash & (cap - 1);
		while (v[j].gen == b->gen)
			j = (j + 1) & (cap - 1);
		v[j] = old[i];
	}
	free(old);
	b->anchors = v;
	b->cap_anchors = cap;
	return 0;
}

/* The slot of name: live when it is defined, otherwise the free slot for it. */
static struct anchor_slot *anchor_slot(struct builder *b, const char *name, uint64_t h)
{
	size_t j = (size_t)h & (b->cap_anchors - 1);

	while (b->anchors[j].gen == b->gen) {
		if (b->anchors[j].hash == h && strcmp(b->anchors[j].name, name) == 0)
			return &b->anchors[j];
		j = (j + 1) & (b->cap_anchors - 1);
	}
	return &b->anchors[j];
}

/* Define (or redefine, as YAML allows) an anchor in the current document. */
static void anchor_set(struct builder *b, const char *name, struct ynode *n)
{
	struct anchor_slot *s = NULL;
	uint64_t h;

	if (!name)
		return; /* out of memory, already noted */
	h = fnv1a64(name, strlen(name));
	if (2 * (b->n_anchors + 1) > b->cap_anchors && anchors_grow(b) < 0) {
		b->err = -ENOMEM;
		return;
	}
	s = anchor_slot(b, name, h);
	if (s->gen != b->gen)
		b->n_anchors++;
	s->hash = h;
	s->gen = b->gen;
	s->name = name;
	s->node = n;
}

static struct ynode *anchor_get(struct builder *b, const char *name)
{
	struct anchor_slot *s = NULL;

	if (b->cap_anchors == 0)
		return NULL;
	s = anchor_slot(b, name, fnv1a64(name, strlen(name)));
	return s->gen == b->gen ? s->node : NULL;
}

/* Keep an anchor name from an event (owned by libyaml) in the tree arena. */
static const char *anchor_copy(struct builder *b, const yaml_char_t *anchor)
{
	const char *a = NULL;

	if (!anchor)
		return NULL;
	a = arena_strdup(&b->t->nodes, (const char *)anchor);
	if (!a)
		b->err = -ENOMEM;
	return a;
}

/* A tag as the user wrote it, for messages: "!!str" rather than the long form. */
static void tag_display(const char *tag, char *out, size_t n)
{
	char tmp[QUOTE_MAX];
	size_t plen = strlen(TAG_PREFIX);

	if (strncmp(tag, TAG_PREFIX, plen) == 0)
		snprintf(tmp, sizeof(tmp), "!!%s", tag + plen);
	else
		snprintf(tmp, sizeof(tmp), "%s", tag);
	str_quote(tmp, out, n);
}

/*
 * Check a node's tag against its kind.  For scalars, *style is set from the
 * tag (a tag decides how the scalar may be typed).  Unsupported tags are
 * reported; the node is kept as if it had none.
 */
static void tag_check(struct builder *b, const yaml_char_t *ytag, enum ynode_kind kind,
		      const yaml_mark_t *m, uint8_t *style)
{
	static const char *const kinds[] = {"scalar", "list", "map"};
	const char *tag = (const char *)ytag;
	const char *t = NULL;
	char shown[QUOTE_MAX];

	if (!tag)
		return;
	if (strcmp(tag, "!") == 0 && kind == YNODE_SCALAR) {
		*style = YSCALAR_QUOTED;
		return;
	}
	if (strcmp(tag, "!") == 0)
		return;
	if (strncmp(tag, TAG_PREFIX, strlen(TAG_PREFIX)) == 0)
		t = tag + strlen(TAG_PREFIX);
	tag_display(tag, shown, sizeof(shown));
	if (t && kind == YNODE_SCALAR && strcmp(t, "str") == 0)
		*style = YSCALAR_QUOTED;
	else if (t && kind == YNODE_SCALAR && strcmp(t, "int") == 0)
		*style = YSCALAR_INT;
	else if (t && kind == YNODE_SCALAR && strcmp(t, "bool") == 0)
		*style = YSCALAR_BOOL;
	else if (t && ((kind == YNODE_MAP && strcmp(t, "map") == 0) ||
		       (kind == YNODE_SEQ && strcmp(t, "seq") == 0)))
		return;
	else if (t && (!strcmp(t, "str") || !strcmp(t, "int") || !strcmp(t, "bool") ||
		       !strcmp(t, "map") || !strcmp(t, "seq")))
		berr(b, m, "tag %s cannot be used on a %s", shown, kinds[kind]);
	else
		berr(b, m,
		     "unsupported tag %s; expected no tag or one of !!str, !!int, !!bool, "
		     "!!map, !!seq",
		     shown);
}

static void on_document_start(struct builder *b, const yaml_event_t *ev)
{
	struct ytree *t = b->t;

	if (t->n_seen >= t->max_docs) {
		berr(b, &ev->start_mark, "more than %zu documents in this revision; expected fewer",
		     t->max_docs);
		b->fatal = true;
		return;
	}
	if (t->n_docs == t->cap_docs) {
		size_t cap = t->cap_docs ? t->cap_docs * 2 : 64;
		struct ydoc *v = realloc(t->docs, cap * sizeof(*v));

		if (!v) {
			b->err = -ENOMEM;
			return;
		}
		t->docs = v;
		t->cap_docs = cap;
	}
	t->n_seen++;
	b->doc_nodes = arena_mark(&t->nodes);
	b->doc_values = arena_mark(t->values);
	b->doc = (uint32_t)t->n_docs;
	t->docs[t->n_docs].file = b->file;
	t->docs[t->n_docs].root = NULL;
	t->docs[t->n_docs].start = ev->start_mark.index + b->skip;
	t->docs[t->n_docs].end = ev->end_mark.index + b->skip;
	t->n_docs++;
	b->gen++; /* anchors are local to a document */
	b->n_anchors = 0;
}

/* Hand the finished document to the hook, and forget it if asked to. */
static void on_document_end(struct builder *b, const yaml_event_t *ev)
{
	struct ytree *t = b->t;
	int fate;

	t->docs[b->doc].end = ev->end_mark.index + b->skip;
	if (!b->hook)
		return;
	fate = b->hook->done(b->hook->ctx, t, t->docs[b->doc].root);
	if (fate < 0) {
		b->err = fate;
		return;
	}
	if (fate == YDOC_KEEP)
		return;
	t->n_docs--;
	arena_rollback(&t->nodes, b->doc_nodes);
	if (fate == YDOC_DROP_ALL)
		arena_rollback(t->values, b->doc_values);
}

static void on_scalar(struct builder *b, const yaml_event_t *ev)
{
	bool key = at_key(b);
	struct arena *a = key ? &b->t->nodes : b->t->values;
	struct ynode *n = node_new(b, YNODE_SCALAR, &ev->start_mark);
	const char *v = (const char *)ev->data.scalar.value;
	size_t len = ev->data.scalar.length;

	if (!n)
		return;
	n->style =
		ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE ? YSCALAR_PLAIN : YSCALAR_QUOTED;
	n->flags = key ? YNODE_TRANSIENT : 0;
	tag_check(b, ev->data.scalar.tag, YNODE_SCALAR, &ev->start_mark, &n->style);
	if (memchr(v, '\0', len)) {
		berr(b, &ev->start_mark, "NUL characters are not allowed in strings");
		len = strlen(v);
	}
	n->u.str = arena_strndup(a, v, len);
	if (!n->u.str) {
		b->err = -ENOMEM;
		return;
	}
	if (ev->data.scalar.anchor)
		anchor_set(b, anchor_copy(b, ev->data.scalar.anchor), n);
	add_child(b, n);
}

static void on_start(struct builder *b, const yaml_event_t *ev, enum ynode_kind kind)
{
	const yaml_char_t *tag = NULL, *anchor = NULL;
	struct ynode *n = NULL;
	struct frame *f = NULL;

	if (b->n_frames >= MANIFEST_MAX_DEPTH) {
		berr(b, &ev->start_mark,
		     "nesting deeper than %d levels; expected a flatter document",
		     MANIFEST_MAX_DEPTH);
		b->fatal = true;
		return;
	}
	n = node_new(b, kind, &ev->start_mark);
	if (!n)
		return;
	tag = kind == YNODE_MAP ? ev->data.mapping_start.tag : ev->data.sequence_start.tag;
	anchor = kind == YNODE_MAP ? ev->data.mapping_start.anchor : ev->data.sequence_start.anchor;
	tag_check(b, tag, kind, &ev->start_mark, &n->style);
	f = &b->frames[b->n_frames++];
	f->node = n;
	f->first = b->n_kids;
	f->anchor = anchor_copy(b, anchor);
}

static int pair_cmp(const void *x, const void *y)
{
	struct ynode *const *p = x, *const *q = y;
	int c = strcmp(p[0]->u.str, q[0]->u.str);

	if (c)
		return c;
	if (p[0]->line != q[0]->line)
		return p[0]->line < q[0]->line ? -1 : 1;
	if (p[0]->col != q[0]->col)
		return p[0]->col < q[0]->col ? -1 : 1;
	return 0;
}

/* Drop pairs whose key is not a plain string key; returns the pairs kept. */
static size_t map_keep_scalar_keys(struct builder *b, struct ynode **kv, size_t n)
{
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		struct ynode *k = kv[2 * i];

		if (k->kind != YNODE_SCALAR) {
			nerr(b, k, "expected a string as a key, got %s", ynode_type_name(k));
			continue;
		}
		if (k->style == YSCALAR_PLAIN && strcmp(k->u.str, "<<") == 0) {
			nerr(b, k,
			     "merge keys are not supported; repeat the keys or use a Profile");
			continue;
		}
		kv[2 * o] = k;
		kv[2 * o + 1] = kv[2 * i + 1];
		o++;
	}
	return o;
}

/* Sort the pairs by key and drop (and report) the repeated ones. */
static size_t map_sort_unique(struct builder *b, struct ynode **kv, size_t n)
{
	char q[QUOTE_MAX];
	size_t i, o = 0;

	if (n > 1)
		qsort(kv, n, 2 * sizeof(*kv), pair_cmp);
	for (i = 0; i < n; i++) {
		struct ynode *k = kv[2 * i];

		if (o > 0 && strcmp(kv[2 * (o - 1)]->u.str, k->u.str) == 0) {
			str_quote(k->u.str, q, sizeof(q));
			nerr(b, k, "duplicate key %s (first at line %u, column %u)", q,
			     kv[2 * (o - 1)]->line, kv[2 * (o - 1)]->col);
			continue;
		}
		kv[2 * o] = k;
		kv[2 * o + 1] = kv[2 * i + 1];
		o++;
	}
	return o;
}

static void on_end(struct builder *b)
{
	struct frame *f = &b->frames[b->n_frames - 1];
	struct ynode *n = f->node, **kids = b->kids ? b->kids + f->first : NULL;
	size_t i, nk = b->n_kids - f->first;
	uint32_t height = 0;

	for (i = 0; i < nk; i++) {
		n->weight += kids[i]->weight;
		height = kids[i]->height > height ? kids[i]->height : height;
	}
	n->height = (uint8_t)(height + 1);
	if (n->kind == YNODE_MAP) {
		nk = map_keep_scalar_keys(b, kids, nk / 2);
		nk = 2 * map_sort_unique(b, kids, nk);
	}
	n->n = (uint32_t)(n->kind == YNODE_MAP ? nk / 2 : nk);
	n->u.items = arena_alloc(&b->t->nodes, (nk ? nk : 1) * sizeof(*kids));
	if (!n->u.items) {
		b->err = -ENOMEM;
		return;
	}
	if (nk)
		memcpy(n->u.items, kids, nk * sizeof(*kids));
	b->n_kids = f->first;
	b->n_frames--;
	if (f->anchor)
		anchor_set(b, f->anchor, n);
	add_child(b, n);
}

/* Whether an anchor is still open, i.e. the alias would contain itself. */
static bool anchor_open(const struct builder *b, const char *name)
{
	size_t i;

	for (i = 0; i < b->n_frames; i++) {
		if (b->frames[i].anchor && strcmp(b->frames[i].anchor, name) == 0)
			return true;
	}
	return false;
}

/* An alias shares its anchor's node: count its expanded size and depth. */
static void on_alias(struct builder *b, const yaml_event_t *ev)
{
	const char *name = (const char *)ev->data.alias.anchor;
	struct ynode *n = anchor_get(b, name);
	char q[QUOTE_MAX] = "";

	if (!n || b->n_frames + n->height > MANIFEST_MAX_DEPTH)
		str_quote(name, q, sizeof(q));
	if (!n && anchor_open(b, name))
		berr(b, &ev->start_mark,
		     "alias %s refers to a node that contains it; "
		     "expected an alias to a complete node",
		     q);
	else if (!n)
		berr(b, &ev->start_mark,
		     "unknown alias %s; expected an anchor defined earlier "
		     "in the same document",
		     q);
	if (!n) {
		n = node_new(b, YNODE_SCALAR, &ev->start_mark);
		if (n) {
			n->flags = YNODE_TRANSIENT;
			n->u.str = arena_strdup(&b->t->nodes, "");
		}
		if (n && !n->u.str)
			b->err = -ENOMEM;
		if (n)
			add_child(b, n);
		return;
	}
	if (!count_nodes(b, &ev->start_mark, n->weight))
		return;
	if (b->n_frames + n->height > MANIFEST_MAX_DEPTH) {
		berr(b, &ev->start_mark,
		     "alias %s nests deeper than %d levels; expected a "
		     "flatter document",
		     q, MANIFEST_MAX_DEPTH);
		b->fatal = true;
		return;
	}
	add_child(b, n);
}

static void on_event(struct builder *b, const yaml_event_t *ev)
{
	switch (ev->type) {
	case YAML_DOCUMENT_START_EVENT:
		on_document_start(b, ev);
		break;
	case YAML_DOCUMENT_END_EVENT:
		on_document_end(b, ev);
		break;
	case YAML_SCALAR_EVENT:
		on_scalar(b, ev);
		break;
	case YAML_SEQUENCE_START_EVENT:
		on_start(b, ev, YNODE_SEQ);
		break;
	case YAML_MAPPING_START_EVENT:
		on_start(b, ev, YNODE_MAP);
		break;
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		on_end(b);
		break;
	case YAML_ALIAS_EVENT:
		on_alias(b, ev);
		break;
	default:
		break;
	}
}

/* Line and column (1-based, in characters) of a byte offset. */
static struct pos offset_pos(const struct builder *b, size_t off)
{
	struct pos p = {b->file, 1, 1};
	size_t i;

	for (i = 0; i < off && i < b->len; i++) {
		unsigned char c = (unsigned char)b->data[i];

		if (c == '\n') {
			p.line++;
			p.col = 1;
		} else if ((c & 0xc0) != 0x80) {
			p.col++;
		}
	}
	return p;
}

/* Report libyaml's own error with its position. */
static void parser_error(struct builder *b, const yaml_parser_t *p)
{
	struct pos at;

	b->fatal = true;
	if (p->error == YAML_MEMORY_ERROR) {
		b->err = -ENOMEM;
	} else if (p->error == YAML_READER_ERROR) {
		at = offset_pos(b, p->problem_offset);
		if (p->problem_value >= 0)
			perr(b, &at, "%s (0x%02x); expected UTF-8 text without control characters",
			     p->problem, (unsigned)p->problem_value);
		else
			perr(b, &at, "%s; expected UTF-8 text", p->problem);
	} else if (p->context) {
		berr(b, &p->problem_mark, "syntax error: %s (%s started at line %zu, column %zu)%s",
		     p->problem, p->context, p->context_mark.line + 1, p->context_mark.column + 1,
		     p->problem_mark.index < b->len && b->data[p->problem_mark.index] == '\t'
			     ? "; tabs are not allowed for indentation"
			     : "");
	} else {
		berr(b, &p->problem_mark, "syntax error: %s", p->problem ? p->problem : "unknown");
	}
}

static void builder_run(struct builder *b, yaml_parser_t *p)
{
	yaml_event_t ev;
	bool done = false;

	while (!done && !b->fatal && b->err == 0) {
		if (!yaml_parser_parse(p, &ev)) {
			parser_error(b, p);
			break;
		}
		done = ev.type == YAML_STREAM_END_EVENT;
		on_event(b, &ev);
		yaml_event_delete(&ev);
	}
}

int ytree_parse(struct ytree *t, const char *file, const char *data, size_t len, struct diags *d,
		const struct ytree_hook *hook)
{
	struct builder b;
	yaml_parser_t p;
	size_t first_doc = t->n_docs;
	int r;

	memset(&b, 0, sizeof(b));
	/* A UTF-8 byte order mark (some Windows editors write one) is not content. */
	if (len >= 3 && memcmp(data, "\xef\xbb\xbf", 3) == 0) {
		b.skip = 3;
		data += 3;
		len -= 3;
	}
	b.t = t;
	b.d = d;
	b.file = file;
	b.data = data;
	b.len = len;
	b.hook = hook;
	if (!yaml_parser_initialize(&p))
		return -ENOMEM;
	yaml_parser_set_input_string(&p, (const unsigned char *)data, len);
	yaml_parser_set_encoding(&p, YAML_UTF8_ENCODING);
	builder_run(&b, &p);
	yaml_parser_delete(&p);
	free(b.kids);
	free(b.anchors);
	r = b.err ? b.err : b.fatal ? -EINVAL : 0;
	if (r < 0)
		t->n_docs = first_doc;
	return r;
}

struct ynode *ymap_get(const struct ynode *m, const char *key)
{
	size_t lo = 0, hi = m->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(ymap_key(m, mid)->u.str, key);

		if (c == 0)
			return ymap_value(m, mid);
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

bool ynode_is_null(const struct ynode *n)
{
	const char *s = n->u.str;

	if (n->kind != YNODE_SCALAR || n->style != YSCALAR_PLAIN)
		return false;
	return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") ||
	       !strcmp(s, "NULL");
}

const char *ynode_type_name(const struct ynode *n)
{
	if (n->kind == YNODE_MAP)
		return "a map";
	if (n->kind == YNODE_SEQ)
		return "a list";
	if (ynode_is_null(n))
		return "null";
	return "a string";
}
