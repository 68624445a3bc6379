/*
 * arena: a bump allocator for the loader.
 *
 * The YAML trees of a revision and the model built from them are made of
 * hundreds of thousands of small objects that all die together, so they are
 * carved out of large chunks and freed in one go.  Memory is aligned for any
 * object type.  Nothing is ever freed individually.
 */
#ifndef BRAMBLE_ARENA_H
#define BRAMBLE_ARENA_H

#include <stddef.h>

struct arena_chunk;

struct arena {
	struct arena_chunk *head;
	size_t total; /* bytes allocated from the system, for accounting */
};

#define ARENA_INIT      \
	{               \
		NULL, 0 \
	}

/* A point to roll an arena back to. */
struct arena_mark {
	struct arena_chunk *chunk;
	size_t used;
};

/* size bytes of uninitialised memory; NULL on ENOMEM. */
void *arena_alloc(struct arena *a, size_t size);
/* n zeroed objects of size bytes each; NULL on ENOMEM or overflow. */
void *arena_calloc(struct arena *a, size_t n, size_t size);
/* A NUL-terminated copy of the len bytes at s; NULL on ENOMEM. */
char *arena_strndup(struct arena *a, const char *s, size_t len);
/* A copy of the string s; NULL on ENOMEM. */
char *arena_strdup(struct arena *a, const char *s);
/* The current end of the arena. */
struct arena_mark arena_mark(const struct arena *a);
/* Forget everything allocated since mark m was taken. */
void arena_rollback(struct arena *a, struct arena_mark m);
/* Forget every allocation but keep one chunk for reuse. */
void arena_reset(struct arena *a);
/* Free every chunk and make a empty again. */
void arena_release(struct arena *a);

#endif
