/* doctor: the exports bramble rendered, read back from its file. */
#include "doctor.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../common/fsutil.h"

static int add(struct doctor_exports *e, const char *path, size_t pl, const char *client, size_t cl)
{
	char **p = realloc(e->path, (e->n + 1) * sizeof(*p)), **c;

	if (!p)
		return -ENOMEM;
	e->path = p;
	c = realloc(e->client, (e->n + 1) * sizeof(*c));
	if (!c)
		return -ENOMEM;
	e->client = c;
	p[e->n] = strndup(path, pl);
	c[e->n] = strndup(client, cl);
	if (!p[e->n] || !c[e->n]) {
		free(p[e->n]);
		free(c[e->n]);
		return -ENOMEM;
	}
	e->n++;
	return 0;
}

/* Kernel exports: "PATH CLIENT(options)" a line. */
static int parse_kernel(char *data, struct doctor_exports *e)
{
	char *line, *save = NULL;
	int r = 0;

	for (line = strtok_r(data, "\n", &save); line && r == 0;
	     line = strtok_r(NULL, "\n", &save)) {
		size_t pl = strcspn(line, " \t"), cl;
		const char *client;

		if (line[0] == '#' || !line[pl])
			continue;
		client = line + pl + strspn(line + pl, " \t");
		cl = strcspn(client, "( \t");
		r = add(e, line, pl, client, cl);
	}
	return r;
}

/* Value of `key = "v";` or `key = v;` after p (NULL: not found). */
static const char *value_after(const char *p, const char *key, size_t *ret_len)
{
	const char *v = strstr(p, key);

	if (!v)
		return NULL;
	v += strlen(key);
	v += strspn(v, " \t=\"");
	*ret_len = strcspn(v, "\";");
	return v;
}

/* ganesha: EXPORT blocks with Path = "..." and CLIENT { Clients = ...; }. */
static int parse_ganesha(const char *data, struct doctor_exports *e)
{
	const char *b = data, *path, *client;
	size_t pl, cl;
	int r = 0;

	while (r == 0 && (b = strstr(b, "EXPORT {"))) {
		const char *end = strstr(b + 1, "EXPORT {");

		b += 8;
		path = value_after(b, "Path", &pl);
		client = value_after(b, "Clients", &cl);
		if (!path || (end && path > end))
			continue;
		if (!client || (end && client > end))
			client = "", cl = 0;
		r = add(e, path, pl, client, cl);
	}
	return r;
}

int doctor_exports_load(const struct doctor *d, struct doctor_exports *ret)
{
	bool ganesha = d->set->cluster->nfs_backend == NFS_BACKEND_GANESHA;
	const char *file = ganesha ? d->cfg->ganesha_file : d->cfg->exports_file;
	struct doctor_exports e = {NULL, NULL, 0};
	char *data = NULL;
	size_t len = 0;
	int r;

	r = file_read(file, 16 << 20, &data, &len);
	if (r == 0)
		r = ganesha ? parse_ganesha(data, &e) : parse_kernel(data, &e);
	free(data);
	if (r < 0) {
		doctor_exports_release(&e);
		return r;
	}
	*ret = e;
	return 0;
}

void doctor_exports_release(struct doctor_exports *e)
{
	size_t i;

	for (i = 0; i < e->n; i++) {
		free(e->path[i]);
		free(e->client[i]);
	}
	free(e->path);
	free(e->client);
	memset(e, 0, sizeof(*e));
}
