/*
 * json_each: the elements of a JSON array, decoded one at a time.
 *
 * nodes.json holds an object for each node: 2.8 MB at 10,000 nodes, which
 * json_loadb() makes into 28 MB of jansson's values.  The daemon read it so
 * after every pass that changed the nodes (the known serials of the boot
 * observation), and that was its peak.  Decoded an element at a time, only
 * one element's values are held.
 */
#ifndef BRAMBLE_JSON_EACH_H
#define BRAMBLE_JSON_EACH_H

#include <jansson.h>
#include <stddef.h>

/*
 * Call fn(ctx, element) for each element of the JSON array in data (len
 * bytes), in order; the element is freed after.  Returns 0 when the whole
 * text is one array and every element was visited, fn's return when it is
 * not 0 (the walk stops there), or -EBADMSG when the text is not one JSON
 * array (the elements before the fault were visited).
 */
int json_each(const char *data, size_t len, int (*fn)(void *ctx, const json_t *elem), void *ctx);

#endif
