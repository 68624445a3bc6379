/*
 * bootwatch_map: an open-addressing hash map from a 63-bit key to a 32-bit
 * value, for bootwatch's indexes (serial, MAC, address).  Internal.
 */
#ifndef BRAMBLE_BOOTWATCH_MAP_H
#define BRAMBLE_BOOTWATCH_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct u64map {
	uint64_t *keys; /* key | USED, 0 when empty */
	uint32_t *vals;
	size_t cap, n; /* cap: a power of two, or 0 */
};

/* Set key (< 2^63) to val; returns 0 or -ENOMEM. */
int u64map_put(struct u64map *m, uint64_t key, uint32_t val);
/* The value of key, or false. */
bool u64map_get(const struct u64map *m, uint64_t key, uint32_t *ret);
/* Remove every key, keeping the memory. */
void u64map_clear(struct u64map *m);
/* Free the memory; m is empty and usable again. */
void u64map_release(struct u64map *m);

#endif
