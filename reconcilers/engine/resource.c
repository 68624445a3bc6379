#include "resource.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A new zeroed slot at the end of s (counted by the caller once filled). */
static struct resource *set_push(struct resource_set *s, enum res_type type, enum root_id root,
				 mode_t mode)
{
	struct resource *r;

	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;
		struct resource *v = realloc(s->v, cap * sizeof(*v));

		if (!v)
			return NULL;
		s->v = v;
		s->cap = cap;
	}
	r = &s->v[s->n];
	memset(r, 0, sizeof(*r));
	r->type = type;
	r->root = root;
	r->mode = mode;
	return r;
}

struct resource *resource_set_add(struct resource_set *s, enum res_type type, enum root_id root,
				  const char *path, mode_t mode, const char *data)
{
	struct resource *r = set_push(s, type, root, mode);

	if (!r)
		return NULL;
	r->path = strdup(path);
	if (!r->path)
		return NULL;
	if (data) {
		r->data = strdup(data);
		if (!r->data) {
			free(r->path);
			return NULL;
		}
		r->len = strlen(data);
	}
	s->n++;
	return r;
}

static struct resource *add_file(struct resource_set *s, enum root_id root, const char *path,
				 bool path_borrowed, mode_t mode, const void *data, size_t len)
{
	struct resource *r = len > UINT32_MAX ? NULL : set_push(s, RES_FILE, root, mode);

	if (!r)
		return NULL;
	r->path = path_borrowed ? (char *)(uintptr_t)path : strdup(path);
	r->data = malloc(len + 1);
	if (!r->path || !r->data) {
		if (!path_borrowed)
			free(r->path);
		free(r->data);
		return NULL;
	}
	if (path_borrowed)
		r->flags |= RES_F_BORROWED_PATH;
	if (len)
		memcpy(r->data, data, len);
	r->data[len] = '\0';
	r->len = len;
	s->n++;
	return r;
}

struct resource *resource_set_add_file(struct resource_set *s, enum root_id root, const char *path,
				       mode_t mode, const void *data, size_t len)
{
	return add_file(s, root, path, false, mode, data, len);
}

struct resource *resource_set_add_file_at(struct resource_set *s, enum root_id root,
					  const char *path, mode_t mode, const void *data,
					  size_t len)
{
	return add_file(s, root, path, true, mode, data, len);
}

int resource_tree_attach(struct resource *tree, struct resource_set *children)
{
	int r;
	size_t i;

	r = resource_set_sort(children);
	if (r < 0)
		return r;
	for (i = 0; i < children->n; i++)
		children->v[i].flags |= RES_F_TREE_CHILD;
	if (children->n && children->n < children->cap) {
		struct resource *v = realloc(children->v, children->n * sizeof(*v));

		if (v)
			children->v = v;
	}
	tree->children = children->v;
	tree->n_children = children->n;
	children->v = NULL;
	children->n = children->cap = 0;
	return 0;
}

const struct resource *child_walk_next(struct child_walk *w)
{
	const struct resource *t = w->tree, *a, *b;
	int c;

	a = w->own < t->n_children ? &t->children[w->own] : NULL;
	b = w->shared < t->n_shared ? &t->shared[w->shared] : NULL;
	c = !a ? 1 : !b ? -1 : strcmp(a->path, b->path);
	if (c <= 0)
		w->own++;
	if (c >= 0)
		w->shared++;
	return c <= 0 ? a : b;
}

size_t resource_n_children(const struct resource *tree)
{
	return (size_t)tree->n_children + tree->n_shared;
}

static int res_cmp(const void *a, const void *b)
{
	const struct resource *x = a, *y = b;

	if (x->root != y->root)
		return x->root < y->root ? -1 : 1;
	return strcmp(x->path, y->path);
}

int resource_set_sort(struct resource_set *s)
{
	size_t i;

	if (s->n > 1)
		qsort(s->v, s->n, sizeof(*s->v), res_cmp);
	for (i = 1; i < s->n; i++)
		if (res_cmp(&s->v[i - 1], &s->v[i]) == 0)
			return -EEXIST;
	return 0;
}

static void resource_release(struct resource *r)
{
	size_t i;

	for (i = 0; i < r->n_children; i++)
		resource_release(&r->children[i]);
	free(r->children);
	if (!(r->flags & RES_F_BORROWED_PATH))
		free(r->path);
	if (!(r->flags & RES_F_BORROWED))
		free(r->data);
	free(r->note);
}

void resource_set_release(struct resource_set *s)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		resource_release(&s->v[i]);
	free(s->v);
	s->v = NULL;
	s->n = s->cap = 0;
}

bool res_path_is_safe(const char *path)
{
	const char *p = path;

	if (!*p || *p == '/')
		return false;
	while (*p) {
		const char *c = p;
		size_t n = 0;

		while (*p && *p != '/') {
			unsigned char ch = (unsigned char)*p;

			if (ch < 0x20 || ch == 0x7f || ch == '\\')
				return false;
			p++;
			n++;
		}
		if (n == 0 || n > 255)
			return false;
		if ((n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
			return false;
		if (*p == '/') {
			p++;
			if (!*p)
				return false;
		}
	}
	return true;
}

const char *root_name(enum root_id root)
{
	static const char *const names[ROOT_COUNT] = {
		"tftp", "nfs", "dhcp", "dhcp-hosts", "exports", "images",
	};

	return root < ROOT_COUNT ? names[root] : "?";
}
