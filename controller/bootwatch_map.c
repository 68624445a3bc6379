#include "bootwatch_map.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define USED ((uint64_t)1 << 63)

static size_t slot_of(uint64_t key, size_t cap)
{
	key ^= key >> 33;
	key *= 0xff51afd7ed558ccdULL;
	key ^= key >> 33;
	return (size_t)key & (cap - 1);
}

static void insert(uint64_t *keys, uint32_t *vals, size_t cap, uint64_t k, uint32_t v)
{
	size_t i = slot_of(k & ~USED, cap);

	while (keys[i] && keys[i] != k)
		i = (i + 1) & (cap - 1);
	keys[i] = k;
	vals[i] = v;
}

/* Keep the load under one half: lookups stay at one or two probes. */
static int grow(struct u64map *m)
{
	size_t cap = m->cap ? m->cap * 2 : 64, i;
	uint64_t *keys = calloc(cap, sizeof(*keys));
	uint32_t *vals = calloc(cap, sizeof(*vals));

	if (!keys || !vals) {
		free(keys);
		free(vals);
		return -ENOMEM;
	}
	for (i = 0; i < m->cap; i++)
		if (m->keys[i])
			insert(keys, vals, cap, m->keys[i], m->vals[i]);
	free(m->keys);
	free(m->vals);
	m->keys = keys;
	m->vals = vals;
	m->cap = cap;
	return 0;
}

int u64map_put(struct u64map *m, uint64_t key, uint32_t val)
{
	uint32_t old;
	int r;

	if (u64map_get(m, key, &old)) {
		insert(m->keys, m->vals, m->cap, key | USED, val);
		return 0;
	}
	if ((m->n + 1) * 2 > m->cap) {
		r = grow(m);
		if (r < 0)
			return r;
	}
	insert(m->keys, m->vals, m->cap, key | USED, val);
	m->n++;
	return 0;
}

bool u64map_get(const struct u64map *m, uint64_t key, uint32_t *ret)
{
	size_t i;

	if (!m->cap)
		return false;
	key |= USED;
	for (i = slot_of(key & ~USED, m->cap); m->keys[i]; i = (i + 1) & (m->cap - 1))
		if (m->keys[i] == key) {
			*ret = m->vals[i];
			return true;
		}
	return false;
}

void u64map_clear(struct u64map *m)
{
	if (m->cap)
		memset(m->keys, 0, m->cap * sizeof(*m->keys));
	m->n = 0;
}

void u64map_release(struct u64map *m)
{
	free(m->keys);
	free(m->vals);
	memset(m, 0, sizeof(*m));
}
