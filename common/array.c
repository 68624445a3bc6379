#include "array.h"

#include <stdint.h>
#include <stdlib.h>

void *array_grow(void *v, size_t *cap, size_t size, size_t first)
{
	size_t n = *cap ? *cap * 2 : first;
	void *p = NULL;

	if (*cap > SIZE_MAX / 2 || n == 0 || size == 0 || n > SIZE_MAX / size)
		return NULL;
	p = realloc(v, n * size);
	if (p)
		*cap = n;
	return p;
}
