/*
 * strpool: one copy of each string, for tables that repeat a few names many
 * times (an inventory names each node on five lines, and every node's tree
 * has the same children: 80,000 strings at 10,000 nodes, 10,003 different).
 *
 *	struct strpool pool = STRPOOL_INIT;
 *	const char *a = strpool_get(&pool, "node-1"), *b = strpool_get(&pool, "node-1");
 *	(a == b)
 *	strpool_release(&pool);		(a and b are gone)
 */
#ifndef BRAMBLE_STRPOOL_H
#define BRAMBLE_STRPOOL_H

#include <stddef.h>

struct strpool {
	char **slot; /* open addressing; NULL: free */
	size_t cap;  /* a power of two, or 0 */
	size_t n;
};

#define STRPOOL_INIT       \
	{                  \
		NULL, 0, 0 \
	}

/* The pool's copy of s, made on its first use; NULL on ENOMEM. */
const char *strpool_get(struct strpool *p, const char *s);
/* Free every copy: what strpool_get() returned is gone. */
void strpool_release(struct strpool *p);

#endif
