#include "arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_CHUNK_SIZE ((size_t)64 << 10)
#define ARENA_ALIGN	 ((size_t)8) /* enough for every object the loader makes */

struct arena_chunk {
	struct arena_chunk *next;
	size_t used;
	size_t size;
	_Alignas(16) unsigned char data[];
};

/*
 * Start a new chunk big enough for size bytes; large requests get their own.
 * Chunks stay in allocation order (newest first), so that a mark can be
 * rolled back to.
 */
static struct arena_chunk *arena_chunk_new(struct arena *a, size_t size)
{
	struct arena_chunk *c = NULL;
	size_t cap = size > ARENA_CHUNK_SIZE / 4 ? size : ARENA_CHUNK_SIZE;

	c = malloc(sizeof(*c) + cap);
	if (!c)
		return NULL;
	c->used = 0;
	c->size = cap;
	c->next = a->head;
	a->head = c;
	a->total += cap;
	return c;
}

/* Carve size bytes aligned to align (a power of two no larger than ARENA_ALIGN). */
static void *arena_alloc_aligned(struct arena *a, size_t size, size_t align)
{
	struct arena_chunk *c = a->head;
	size_t start = 0;
	void *p = NULL;

	if (size > SIZE_MAX - ARENA_ALIGN)
		return NULL;
	if (c)
		start = (c->used + align - 1) & ~(align - 1);
	if (!c || start > c->size || c->size - start < size) {
		c = arena_chunk_new(a, size);
		if (!c)
			return NULL;
		start = 0;
	}
	p = c->data + start;
	c->used = start + size;
	return p;
}

void *arena_alloc(struct arena *a, size_t size)
{
	return arena_alloc_aligned(a, size, ARENA_ALIGN);
}

void *arena_calloc(struct arena *a, size_t n, size_t size)
{
	void *p = NULL;

	if (size && n > SIZE_MAX / size)
		return NULL;
	p = arena_alloc(a, n * size);
	if (p)
		memset(p, 0, n * size);
	return p;
}

char *arena_strndup(struct arena *a, const char *s, size_t len)
{
	char *p = NULL;

	if (len == SIZE_MAX)
		return NULL;
	p = arena_alloc_aligned(a, len + 1, 1);
	if (!p)
		return NULL;
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

char *arena_strdup(struct arena *a, const char *s)
{
	return arena_strndup(a, s, strlen(s));
}

void arena_release(struct arena *a)
{
	struct arena_chunk *c = a->head;

	while (c) {
		struct arena_chunk *next = c->next;

		free(c);
		c = next;
	}
	a->head = NULL;
	a->total = 0;
}

void arena_reset(struct arena *a)
{
	struct arena_chunk *keep = a->head;

	if (!keep)
		return;
	a->head = keep->next;
	arena_release(a);
	keep->next = NULL;
	keep->used = 0;
	a->head = keep;
	a->total = keep->size;
}

struct arena_mark arena_mark(const struct arena *a)
{
	struct arena_mark m = {a->head, a->head ? a->head->used : 0};

	return m;
}

void arena_rollback(struct arena *a, struct arena_mark m)
{
	while (a->head && a->head != m.chunk) {
		struct arena_chunk *c = a->head;

		a->head = c->next;
		a->total -= c->size;
		free(c);
	}
	if (a->head)
		a->head->used = m.used;
}
