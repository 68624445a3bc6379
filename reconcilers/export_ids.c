/*
 * export_ids: a stable small number per NFS export.  nfs-ganesha puts the
 * Export_Id into every file handle, so renumbering exports when a node is
 * added would break the mounts of running nodes.  Ids are kept in the state
 * directory ("nfs-export-ids": one "key id" per line) and a new key gets the
 * lowest free id from 2 up (1 is left for the operator's own exports).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "reconciler.h"
#include "buf.h"
#include "atomic.h"
#include "fsutil.h"
#include "parse.h"

#define EXPORT_IDS_FILE "nfs-export-ids"
#define EXPORT_ID_MAX	65535
#define EXPORT_IDS_HINT                                                                        \
	"fix or remove the line: a root without an id gets a new one, and the NFS clients of " \
	"that root must mount it again"

static int ids_push(struct export_ids *ids, const char *key, unsigned id)
{
	if (ids->n == ids->cap) {
		size_t cap = ids->cap ? ids->cap * 2 : 64;
		char **k = realloc(ids->key, cap * sizeof(*k));
		unsigned *v;

		if (!k)
			return -ENOMEM;
		ids->key = k;
		v = realloc(ids->id, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		ids->id = v;
		ids->cap = cap;
	}
	ids->key[ids->n] = strdup(key);
	if (!ids->key[ids->n])
		return -ENOMEM;
	ids->id[ids->n++] = id;
	return 0;
}

int export_ids_load(int state_fd, struct export_ids *ids, struct buf *why)
{
	struct state_reader sr;
	char *data = NULL, *line = NULL, *f[2];
	uint64_t id;
	size_t len, n;
	int r;

	if (state_fd < 0) /* no state directory yet (plan on fresh outputs) */
		return 0;
	r = file_read_at(state_fd, EXPORT_IDS_FILE, (size_t)16 << 20, &data, &len);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	state_reader_init(&sr, EXPORT_IDS_FILE, EXPORT_IDS_HINT, data, len, why);
	while ((r = state_next_line(&sr, &line)) > 0) {
		r = state_split(&sr, line, ' ', 2, 2, f, &n, "a path and its export id");
		if (r == 0)
			r = state_u64(&sr, "export id", f[1], 10, EXPORT_ID_MAX, &id);
		if (r == 0 && id < 2)
			r = state_error(&sr, "bad export id \"%s\": expected 2 to %u", f[1],
					EXPORT_ID_MAX);
		if (r == 0)
			r = ids_push(ids, f[0], (unsigned)id);
		if (r < 0)
			break;
	}
	free(data);
	return r == -EINVAL ? -EBADMSG : r;
}

unsigned export_id_get(struct export_ids *ids, const char *key)
{
	unsigned char *used;
	unsigned id;
	size_t i;

	for (i = 0; i < ids->n; i++)
		if (strcmp(ids->key[i], key) == 0)
			return ids->id[i];
	used = calloc(EXPORT_ID_MAX + 1, 1);
	if (!used)
		return 0;
	for (i = 0; i < ids->n; i++)
		used[ids->id[i]] = 1;
	for (id = 2; id <= EXPORT_ID_MAX && used[id]; id++)
		;
	free(used);
	if (id > EXPORT_ID_MAX || ids_push(ids, key, id) < 0)
		return 0;
	ids->dirty = true;
	return id;
}

int export_ids_save(int state_fd, struct export_ids *ids)
{
	struct buf b = BUF_INIT;
	size_t i;
	int r = 0;

	if (!ids->dirty)
		return 0;
	for (i = 0; r == 0 && i < ids->n; i++)
		r = buf_printf(&b, "%s %u\n", ids->key[i], ids->id[i]);
	if (r < 0)
		goto out;
	r = atomic_write_at(state_fd, EXPORT_IDS_FILE, buf_str(&b), b.len, 0600, ATOMIC_SYNC_FILE);
	if (r == 0)
		ids->dirty = false;
out:
	buf_release(&b);
	return r;
}

void export_ids_release(struct export_ids *ids)
{
	size_t i;

	for (i = 0; i < ids->n; i++)
		free(ids->key[i]);
	free(ids->key);
	free(ids->id);
	memset(ids, 0, sizeof(*ids));
}
