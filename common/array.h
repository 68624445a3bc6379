/*
 * array: growing a heap array of items one at a time.
 *
 *	if (l->n == l->cap) {
 *		v = array_grow(l->v, &l->cap, sizeof(*v), 64);
 *		if (!v)
 *			return -ENOMEM;
 *		l->v = v;
 *	}
 *	l->v[l->n++] = item;
 */
#ifndef BRAMBLE_ARRAY_H
#define BRAMBLE_ARRAY_H

#include <stddef.h>

/*
 * Reallocate v (of *cap items of size bytes) to twice its capacity, or to
 * first items when it has none, and set *cap.  Returns the new array, or
 * NULL on ENOMEM or overflow: then v and *cap are as they were.
 */
void *array_grow(void *v, size_t *cap, size_t size, size_t first);

#endif
