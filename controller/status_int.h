/*
 * status_int: what status.c (recording) and status_print.c (printing) share:
 * the files in the state directory and how they are read.
 */
#ifndef BRAMBLE_STATUS_INT_H
#define BRAMBLE_STATUS_INT_H

#include <jansson.h>

#define STATUS_FILE	"status.json"
#define NODES_FILE	"nodes.json"
#define STATUS_MAX_SIZE ((size_t)64 << 20)
#define BOOT_FILE	"boot.json" /* bootwatch_follow.h */

/*
 * A JSON file of the state directory, or NULL when it is missing, too large
 * or not JSON.  Not json_load_file(): that opens without O_CLOEXEC, and the
 * daemon runs commands meanwhile.
 */
json_t *status_json_load(const char *path);

#endif
