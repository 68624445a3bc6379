#include <string.h>

#include "check.h"
#include "decode.h"

/* The Image being decoded, and its values for the checks between them. */
struct image_dec {
	struct image *img;
	struct ynode *url, *sha256, *path;
};

/* Whether s is an http, https or file URL we can fetch. */
static bool url_ok(const char *s)
{
	const char *rest = NULL;

	if (has_space(s) || has_control(s))
		return false;
	if (has_prefix(s, "https://") || has_prefix(s, "http://")) {
		rest = strstr(s, "://") + 3;
		return *rest && *rest != '/';
	}
	if (has_prefix(s, "file://"))
		return s[strlen("file://")] == '/';
	return false;
}

static void image_url(struct dctx *c, struct ynode *v, void *obj)
{
	struct image_dec *id = obj;
	char q[QUOTE_MAX];
	char *s = NULL;

	id->url = v;
	if (!dc_string(c, v, &s))
		return;
	if (!url_ok(s)) {
		str_quote(s, q, sizeof(q));
		dc_error(c, v, "invalid url %s; expected an http://, https:// or file:/// URL", q);
		return;
	}
	id->img->url = s;
}

static void image_sha256(struct dctx *c, struct ynode *v, void *obj)
{
	struct image_dec *id = obj;
	char q[QUOTE_MAX];
	char *s = NULL;

	id->sha256 = v;
	if (!dc_string(c, v, &s))
		return;
	if (!sha256_is_valid(s)) {
		str_quote(s, q, sizeof(q));
		dc_error(c, v, "invalid sha256 %s; expected 64 lowercase hex digits", q);
		return;
	}
	id->img->sha256 = s;
}

static void image_path(struct dctx *c, struct ynode *v, void *obj)
{
	struct image_dec *id = obj;
	char q[QUOTE_MAX];
	char *s = NULL;

	id->path = v;
	if (!dc_string(c, v, &s))
		return;
	if (!relpath_is_safe(s)) {
		str_quote(s, q, sizeof(q));
		dc_error(c, v,
			 "invalid image path %s; expected a relative path of safe names "
			 "([A-Za-z0-9._-], no \"..\", not absolute) inside the image store",
			 q);
		return;
	}
	id->img->path = s;
}

static void image_check(struct dctx *c, const struct image_dec *id, const struct pos *name_pos)
{
	const struct image *img = id->img;

	if (id->url && id->path)
		dc_error(c, id->path, "image has both url and path; expected exactly one of them");
	else if (!id->url && !id->path)
		dc_error_at(c, name_pos,
			    "image has neither url nor path; expected exactly one "
			    "of them");
	if (id->sha256 && id->path && !id->url)
		dc_error(c, id->sha256,
			 "sha256 is only used with url; expected no sha256 for a "
			 "local path");
	if (img->url && !id->sha256 && !has_prefix(img->url, "file://"))
		dc_error(c, id->url,
			 "missing sha256 for an http or https url; expected spec.sha256 "
			 "with 64 lowercase hex digits");
}

void decode_image_spec(struct dctx *c, struct ynode *spec, const struct pos *name_pos,
		       struct image *img)
{
	static const struct field fields[] = {
		{"url", 0, image_url},
		{"sha256", 0, image_sha256},
		{"path", 0, image_path},
	};
	struct image_dec id = {img, NULL, NULL, NULL};

	dc_map(c, spec, fields, 3, "Image spec", &id);
	if (spec->kind == YNODE_MAP)
		image_check(c, &id, name_pos);
}

void decode_labels(struct dctx *c, struct ynode *v, struct kvlist *ret)
{
	char q[QUOTE_MAX];
	size_t i;

	memset(ret, 0, sizeof(*ret));
	if (!dc_expect_map(c, v))
		return;
	ret->v = arena_calloc(c->out, v->n ? v->n : 1, sizeof(*ret->v));
	if (!ret->v) {
		dc_nomem(c);
		return;
	}
	for (i = 0; i < v->n; i++) {
		struct ynode *k = ymap_key(v, i), *val = ymap_value(v, i);
		struct kv *kv = &ret->v[ret->n];

		if (!k->u.str[0] || has_control(k->u.str)) {
			str_quote(k->u.str, q, sizeof(q));
			dc_error(c, k,
				 "invalid label key %s; expected a non-empty string without "
				 "control characters",
				 q);
			continue;
		}
		if (!dc_string(c, val, &kv->value))
			continue;
		if (has_control(kv->value)) {
			str_quote(k->u.str, q, sizeof(q));
			dc_error(c, val,
				 "invalid value for label %s; expected a string without "
				 "control characters",
				 q);
			continue;
		}
		if (dc_string(c, k, &kv->key))
			ret->n++;
	}
}
