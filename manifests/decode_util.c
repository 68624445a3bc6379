#include <errno.h>
#include <stdarg.h>
#include <string.h>

#include "../common/buf.h"
#include "check.h"
#include "decode.h"

/* Whether a problem at n is for this decoding to report. */
static bool dc_own(const struct dctx *c, const struct ynode *n)
{
	return !c->own_doc_only || n->doc == c->doc;
}

static void dc_vadd(struct dctx *c, const struct pos *p, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

static void dc_vadd(struct dctx *c, const struct pos *p, const char *fmt, va_list ap)
{
	int r = diags_vadd(c->d, p, fmt, ap);

	if (r < 0 && c->err == 0)
		c->err = r;
}

void dc_nomem(struct dctx *c)
{
	if (c->err == 0)
		c->err = -ENOMEM;
}

void dc_error(struct dctx *c, const struct ynode *at, const char *fmt, ...)
{
	struct pos p;
	va_list ap;

	if (!dc_own(c, at))
		return;
	p = ynode_pos(c->yt, at);
	va_start(ap, fmt);
	dc_vadd(c, &p, fmt, ap);
	va_end(ap);
}

void dc_error_merged(struct dctx *c, const struct ynode *at, const char *fmt, ...)
{
	struct pos p = dc_own(c, at) ? ynode_pos(c->yt, at) : c->fallback;
	va_list ap;

	va_start(ap, fmt);
	dc_vadd(c, &p, fmt, ap);
	va_end(ap);
}

void dc_error_at(struct dctx *c, const struct pos *at, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	dc_vadd(c, at, fmt, ap);
	va_end(ap);
}

bool dc_expect_map(struct dctx *c, const struct ynode *v)
{
	if (v->kind == YNODE_MAP)
		return true;
	dc_error(c, v, "expected a map, got %s", ynode_type_name(v));
	return false;
}

bool dc_string(struct dctx *c, const struct ynode *v, char **ret)
{
	char *s = v->u.str;

	if (v->kind != YNODE_SCALAR || ynode_is_null(v)) {
		dc_error(c, v, "expected a string, got %s", ynode_type_name(v));
		return false;
	}
	if (v->flags & YNODE_TRANSIENT) {
		/* A key reused as a value through an alias: it dies with the tree. */
		s = arena_strdup(c->out, s);
		if (!s) {
			dc_nomem(c);
			return false;
		}
	}
	*ret = s;
	return true;
}

/* Parse a decimal number without sign or leading zeros, at most max. */
static bool decimal_parse(const char *s, unsigned max, unsigned *ret)
{
	unsigned long long v = 0;
	size_t i;

	if (!s[0] || (s[0] == '0' && s[1]))
		return false;
	for (i = 0; s[i]; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (unsigned)(s[i] - '0');
		if (v > max)
			return false;
	}
	*ret = (unsigned)v;
	return true;
}

bool dc_uint(struct dctx *c, const struct ynode *v, unsigned max, unsigned *ret)
{
	char q[QUOTE_MAX];

	if (v->kind != YNODE_SCALAR || ynode_is_null(v)) {
		dc_error(c, v, "expected an integer, got %s", ynode_type_name(v));
		return false;
	}
	if (v->style != YSCALAR_PLAIN && v->style != YSCALAR_INT) {
		str_quote(v->u.str, q, sizeof(q));
		dc_error(c, v, "expected an integer without quotes, got the string %s", q);
		return false;
	}
	if (!decimal_parse(v->u.str, max, ret)) {
		str_quote(v->u.str, q, sizeof(q));
		dc_error(c, v, "expected a decimal integer from 0 to %u, got %s", max, q);
		return false;
	}
	return true;
}

bool dc_bool(struct dctx *c, const struct ynode *v, bool *ret)
{
	char q[QUOTE_MAX];

	if (v->kind != YNODE_SCALAR || ynode_is_null(v)) {
		dc_error(c, v, "expected true or false, got %s", ynode_type_name(v));
		return false;
	}
	if ((v->style == YSCALAR_PLAIN || v->style == YSCALAR_BOOL) &&
	    (strcmp(v->u.str, "true") == 0 || strcmp(v->u.str, "false") == 0)) {
		*ret = v->u.str[0] == 't';
		return true;
	}
	str_quote(v->u.str, q, sizeof(q));
	dc_error(c, v, "expected true or false without quotes, got %s", q);
	return false;
}

/* names joined with ", " for "expected one of: ..."; "" on ENOMEM. */
static void names_join(struct buf *b, const char *const *names, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (buf_printf(b, "%s%s", i ? ", " : "", names[i]) < 0)
			break;
	}
}

bool dc_enum(struct dctx *c, const struct ynode *v, const char *const *names, size_t n, int *ret)
{
	struct buf b = BUF_INIT;
	char q[QUOTE_MAX];
	char *s = NULL;
	size_t i;

	if (!dc_string(c, v, &s))
		return false;
	for (i = 0; i < n; i++) {
		if (strcmp(s, names[i]) == 0) {
			*ret = (int)i;
			return true;
		}
	}
	str_quote(s, q, sizeof(q));
	names_join(&b, names, n);
	dc_error(c, v, "invalid value %s; expected one of: %s", q, buf_str(&b));
	buf_release(&b);
	return false;
}

bool dc_strlist(struct dctx *c, const struct ynode *v, struct strlist *ret,
		bool (*ok)(struct dctx *c, const struct ynode *item, const char *s))
{
	size_t i;

	ret->n = 0;
	ret->v = NULL;
	if (v->kind != YNODE_SEQ) {
		dc_error(c, v, "expected a list of strings, got %s", ynode_type_name(v));
		return false;
	}
	ret->v = arena_calloc(c->out, v->n ? v->n : 1, sizeof(*ret->v));
	if (!ret->v) {
		dc_nomem(c);
		return false;
	}
	for (i = 0; i < v->n; i++) {
		const struct ynode *item = v->u.items[i];
		char *s = NULL;

		if (!dc_string(c, item, &s))
			continue;
		if (ok && !ok(c, item, s))
			continue;
		ret->v[ret->n++] = s;
	}
	return true;
}

/* The {file: PATH} form of a secret. */
static bool secret_file(struct dctx *c, const struct ynode *v, struct secret *ret)
{
	struct ynode *f = ymap_get(v, "file");
	char q[QUOTE_MAX];
	char *s = NULL;
	size_t i;

	for (i = 0; i < v->n; i++) {
		if (strcmp(ymap_key(v, i)->u.str, "file") == 0)
			continue;
		str_quote(ymap_key(v, i)->u.str, q, sizeof(q));
		dc_error(c, ymap_key(v, i), "unknown key %s in secret; expected one of: file", q);
	}
	if (!f) {
		dc_error(c, v,
			 "expected a secret as a string or {file: /absolute/path}, got a "
			 "map without file");
		return false;
	}
	if (!dc_string(c, f, &s))
		return false;
	if (!abspath_is_valid(s)) {
		str_quote(s, q, sizeof(q));
		dc_error(c, f, "invalid secret file %s; expected an absolute path", q);
		return false;
	}
	ret->file = s;
	return true;
}

bool dc_secret(struct dctx *c, const struct ynode *v, struct secret *ret,
	       bool (*ok)(struct dctx *c, const struct ynode *item, const char *s))
{
	char *s = NULL;

	memset(ret, 0, sizeof(*ret));
	ret->pos = ynode_pos(c->yt, v);
	if (v->kind == YNODE_MAP)
		return secret_file(c, v, ret);
	if (v->kind != YNODE_SCALAR || ynode_is_null(v)) {
		dc_error(c, v, "expected a secret as a string or {file: /absolute/path}, got %s",
			 ynode_type_name(v));
		return false;
	}
	if (!dc_string(c, v, &s) || !ok(c, v, s))
		return false;
	ret->value = s;
	return true;
}

static const struct field *field_find(const struct field *fields, size_t n, const char *key)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (strcmp(fields[i].key, key) == 0)
			return &fields[i];
	}
	return NULL;
}

/* The flags a field must not have in the current mode. */
static unsigned dc_forbidden(const struct dctx *c)
{
	if (c->mode == SPEC_PROFILE)
		return FIELD_NODE_ONLY | FIELD_NO_PROFILE;
	if (c->mode == SPEC_DEFAULTS)
		return FIELD_NODE_ONLY;
	return 0;
}

static void unknown_key(struct dctx *c, const struct ynode *k, const struct field *fields, size_t n,
			const char *what)
{
	struct buf b = BUF_INIT;
	char q[QUOTE_MAX];
	size_t i;

	for (i = 0; i < n; i++) {
		if (fields[i].flags & dc_forbidden(c))
			continue;
		if (buf_printf(&b, "%s%s", b.len ? ", " : "", fields[i].key) < 0)
			break;
	}
	str_quote(k->u.str, q, sizeof(q));
	dc_error(c, k, "unknown key %s in %s; expected one of: %s", q, what, buf_str(&b));
	buf_release(&b);
}

static void forbidden_key(struct dctx *c, const struct ynode *k, const struct field *f,
			  const char *what)
{
	if (f->flags & FIELD_NODE_ONLY & dc_forbidden(c))
		dc_error(c, k,
			 "key \"%s\" is not allowed in %s; it identifies one node, so set it "
			 "in the Node spec",
			 f->key, what);
	else
		dc_error(c, k,
			 "key \"%s\" is not allowed in %s; profiles are listed by Nodes "
			 "and the Cluster defaults",
			 f->key, what);
}

void dc_map(struct dctx *c, struct ynode *v, const struct field *fields, size_t n_fields,
	    const char *what, void *obj)
{
	size_t i;

	if (!dc_expect_map(c, v))
		return;
	for (i = 0; i < v->n && c->err == 0; i++) {
		const struct ynode *k = ymap_key(v, i);
		const struct field *f = field_find(fields, n_fields, k->u.str);

		if (!f)
			unknown_key(c, k, fields, n_fields, what);
		else if (f->flags & dc_forbidden(c))
			forbidden_key(c, k, f, what);
		else
			f->fn(c, ymap_value(v, i), obj);
	}
}

struct image *refs_image(const struct refs *r, const char *name)
{
	size_t lo = 0, hi = r->n_images;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(r->images[mid]->name, name) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < r->n_images && strcmp(r->images[lo]->name, name) == 0)
		return r->images[lo];
	return NULL;
}

struct profile_ref *refs_profile(const struct refs *r, const char *name)
{
	size_t lo = 0, hi = r->n_profiles;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(r->profiles[mid].name, name) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < r->n_profiles && strcmp(r->profiles[lo].name, name) == 0)
		return &r->profiles[lo];
	return NULL;
}
