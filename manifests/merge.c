#include "merge.h"

#include <errno.h>
#include <string.h>

/* Append one pair to a map under construction, counting its size. */
static void pair_put(struct ynode *m, struct ynode *k, struct ynode *v)
{
	uint64_t w = (uint64_t)m->weight + k->weight + v->weight;

	m->u.items[2 * m->n] = k;
	m->u.items[2 * m->n + 1] = v;
	m->n++;
	m->weight = w > UINT32_MAX ? UINT32_MAX : (uint32_t)w;
}

/* Both maps are sorted by key, so this is one linear merge. */
static struct ynode *map_merge(struct arena *a, struct ynode *lo, struct ynode *hi)
{
	struct ynode *m = arena_alloc(a, sizeof(*m));
	size_t i = 0, j = 0;

	if (!m)
		return NULL;
	*m = *hi;
	m->n = 0;
	m->weight = 1;
	m->u.items = arena_alloc(a, 2 * ((size_t)lo->n + hi->n + 1) * sizeof(*m->u.items));
	if (!m->u.items)
		return NULL;
	while (i < lo->n || j < hi->n) {
		int c = i == lo->n   ? 1
			: j == hi->n ? -1
				     : strcmp(ymap_key(lo, i)->u.str, ymap_key(hi, j)->u.str);
		struct ynode *v = NULL;

		if (c < 0) {
			pair_put(m, ymap_key(lo, i), ymap_value(lo, i));
			i++;
			continue;
		}
		v = ymap_value(hi, j);
		if (c == 0) {
			v = ymerge(a, ymap_value(lo, i), v);
			if (!v)
				return NULL;
			i++;
		}
		pair_put(m, ymap_key(hi, j), v);
		j++;
	}
	return m;
}

struct ynode *ymerge(struct arena *a, struct ynode *lo, struct ynode *hi)
{
	if (lo->kind == YNODE_MAP && hi->kind == YNODE_MAP)
		return map_merge(a, lo, hi);
	return hi;
}

int ymerge_layers(struct arena *a, struct ynode *const *layers, size_t n, uint64_t *work,
		  uint64_t max, struct ynode **ret)
{
	struct ynode *acc = layers[0];
	size_t i;

	for (i = 1; i < n; i++) {
		*work += (uint64_t)acc->weight + layers[i]->weight;
		if (*work > max)
			return -E2BIG;
		acc = ymerge(a, acc, layers[i]);
		if (!acc)
			return -ENOMEM;
	}
	*work += acc->weight; /* what decoding the result will visit */
	if (*work > max)
		return -E2BIG;
	*ret = acc;
	return 0;
}
