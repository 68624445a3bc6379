#include "strpool.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"

/* The slot of s in a table of cap slots: where it is, or the free one it goes to. */
static size_t find(char *const *slot, size_t cap, const char *s)
{
	size_t k = (size_t)fnv1a64(s, strlen(s)) & (cap - 1);

	while (slot[k] && strcmp(slot[k], s) != 0)
		k = (k + 1) & (cap - 1);
	return k;
}

/* Twice the slots (64 at first), the strings moved over. */
static int grow(struct strpool *p)
{
	size_t cap = p->cap ? p->cap * 2 : 64, i;
	char **slot;

	if (p->cap > SIZE_MAX / 2 / sizeof(*slot))
		return -1;
	slot = calloc(cap, sizeof(*slot));
	if (!slot)
		return -1;
	for (i = 0; i < p->cap; i++)
		if (p->slot[i])
			slot[find(slot, cap, p->slot[i])] = p->slot[i];
	free(p->slot);
	p->slot = slot;
	p->cap = cap;
	return 0;
}

const char *strpool_get(struct strpool *p, const char *s)
{
	size_t k;

	/* At most half full: a probe ends soon at a free slot. */
	if ((p->n + 1) * 2 > p->cap && grow(p) < 0)
		return NULL;
	k = find(p->slot, p->cap, s);
	if (!p->slot[k]) {
		p->slot[k] = strdup(s);
		if (!p->slot[k])
			return NULL;
		p->n++;
	}
	return p->slot[k];
}

void strpool_release(struct strpool *p)
{
	size_t i;

	for (i = 0; i < p->cap; i++)
		free(p->slot[i]);
	free(p->slot);
	p->slot = NULL;
	p->cap = p->n = 0;
}
