/*
 * status_print: `bramble status`: the recorded status (status.c) with the
 * boot observation merged in (boot.json, bootwatch.h), as a table for
 * people or as the JSON document.
 */
#include "status.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "history.h"
#include "suspend.h"
#include "../common/fsutil.h"
#include "status_int.h"

static const char *jstr(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "";
}

static long long jint(json_t *o, const char *key)
{
	return (long long)json_integer_value(json_object_get(o, key));
}

/* The Pis that booted with a serial no manifest names. */
static void print_unknown(json_t *st, FILE *out)
{
	json_t *u;
	size_t i;

	json_array_foreach(json_object_get(st, "unknownPis"), i, u)
	{
		json_t *err = json_object_get(u, "lastError");

		if (i == 0)
			fprintf(out,
				"\nunknown Pis (no manifest names them; `bramble discover` prints "
				"manifests for them):\n%-8s %-17s %-5s %-15s %-20s %-20s %s\n",
				"SERIAL", "MAC", "MODEL", "ADDRESS", "FIRST SEEN", "LAST SEEN",
				"LAST ERROR");
		fprintf(out, "%-8s %-17s %-5s %-15s %-20s %-20s %s%s%s\n", jstr(u, "serial"),
			*jstr(u, "mac") ? jstr(u, "mac") : "-",
			*jstr(u, "model") ? jstr(u, "model") : "-",
			*jstr(u, "address") ? jstr(u, "address") : "-", jstr(u, "firstSeen"),
			jstr(u, "lastSeen"), jstr(err, "file"), json_is_object(err) ? " " : "",
			jstr(err, "kind"));
	}
}

static void print_human(json_t *st, FILE *out)
{
	json_t *conds = json_object_get(st, "conditions"), *c, *n, *e;
	json_t *lp = json_object_get(st, "lastPass");
	size_t i;

	fprintf(out, "applied:   %s%s%s\n",
		*jstr(st, "lastAppliedRevision") ? jstr(st, "lastAppliedRevision")
						 : "(nothing yet)",
		*jstr(st, "lastAppliedTime") ? " at " : "", jstr(st, "lastAppliedTime"));
	fprintf(out, "attempted: %s at %s\n", jstr(st, "lastAttemptedRevision"),
		jstr(st, "lastAttemptTime"));
	if (json_is_object(lp) && *jstr(lp, "pass"))
		fprintf(out,
			"last pass: %s, %lld created, %lld updated, %lld deleted, %lld unchanged, "
			"%.3f s\n",
			jstr(lp, "pass"), jint(lp, "created"), jint(lp, "updated"),
			jint(lp, "deleted"), jint(lp, "unchanged"),
			json_real_value(json_object_get(lp, "durationSeconds")));
	if (json_is_object(json_object_get(st, "progress")))
		fprintf(out, "running:   %s %s since %s\n",
			jstr(json_object_get(st, "progress"), "step"),
			jstr(json_object_get(st, "progress"), "object"),
			jstr(json_object_get(st, "progress"), "since"));
	json_array_foreach(conds, i, c)
		fprintf(out, "%-12s %-5s %s%s%s\n", jstr(c, "type"), jstr(c, "status"),
			jstr(c, "reason"), *jstr(c, "message") ? ": " : "", jstr(c, "message"));
	fprintf(out, "\n%-20s %-8s %-15s %-5s %-9s %-20s %-10s %s\n", "NODE", "SERIAL", "IP",
		"MODEL", "READY", "LAST SEEN", "BOOT", "MESSAGE");
	json_array_foreach(json_object_get(st, "nodes"), i, n)
	{
		json_t *boot = json_object_get(n, "boot");

		fprintf(out, "%-20s %-8s %-15s %-5s %-9s %-20s %-10s %s\n", jstr(n, "name"),
			jstr(n, "serial"), *jstr(n, "ip") ? jstr(n, "ip") : "-", jstr(n, "model"),
			json_is_true(json_object_get(n, "ready")) ? "yes" : "no",
			*jstr(boot, "lastSeen") ? jstr(boot, "lastSeen") : "-",
			*jstr(boot, "stage") ? jstr(boot, "stage") : "-", jstr(n, "message"));
	}
	print_unknown(st, out);
	json_array_foreach(json_object_get(st, "errors"), i, e)
		fprintf(out, "%s%s\n", i == 0 ? "\nerrors of the last attempt:\n  " : "  ",
			json_string_value(e));
}

static int first_seen_cmp(const void *a, const void *b)
{
	json_t *const *x = a, *const *y = b;
	int c = strcmp(jstr(*x, "firstSeen"), jstr(*y, "firstSeen"));

	return c ? c : strcmp(jstr(*x, "serial"), jstr(*y, "serial"));
}

/* Sort an array of unknown Pis by first seen (ISO times sort as strings), then serial. */
static void sort_first_seen(json_t *a)
{
	size_t n = json_array_size(a), i;
	json_t **v = calloc(n ? n : 1, sizeof(*v));

	if (!v)
		return;
	for (i = 0; i < n; i++)
		v[i] = json_incref(json_array_get(a, i));
	qsort(v, n, sizeof(*v), first_seen_cmp);
	json_array_clear(a);
	for (i = 0; i < n; i++)
		json_array_append_new(a, v[i]);
	free(v);
}

/* An unknown Pi as status shows it: what the requests told of it. */
static json_t *unknown_json(const char *serial, json_t *rec)
{
	static const char *const keys[] = {"mac",	"model",    "address",
					   "firstSeen", "lastSeen", "lastError"};
	json_t *u = json_pack("{s:s}", "serial", serial);
	size_t i;

	for (i = 0; u && i < sizeof(keys) / sizeof(keys[0]); i++)
		if (json_object_get(rec, keys[i]))
			json_object_set(u, keys[i], json_object_get(rec, keys[i]));
	return u;
}

/*
 * Boot observation (bootwatch.h), from boot.json: each node gets "boot"
 * (last seen, stage, files, last DHCP and error), and the serials that no
 * node of the last pass has are listed as "unknownPis", oldest first seen
 * first.  Known and unknown are decided here, against the nodes shown.
 */
static void boot_merge(json_t *st, const char *state_dir)
{
	char *path = path_join(state_dir, BOOT_FILE);
	json_t *boot = path ? status_json_load(path) : NULL, *recs, *n, *rec, *unknown, *serials;
	const char *serial;
	size_t i;

	free(path);
	recs = json_object_get(boot, "nodes");
	if (!json_is_object(recs)) {
		json_decref(boot);
		return;
	}
	serials = json_object();
	json_array_foreach(json_object_get(st, "nodes"), i, n)
	{
		serial = json_string_value(json_object_get(n, "serial"));
		rec = serial ? json_object_get(recs, serial) : NULL;
		if (serial)
			json_object_set_new(serials, serial, json_true());
		if (json_is_object(rec)) {
			json_object_del(rec, "known");
			json_object_set(n, "boot", rec);
		}
	}
	unknown = json_array();
	json_object_foreach(recs, serial, rec) if (!json_object_get(serials, serial))
		json_array_append_new(unknown, unknown_json(serial, rec));
	sort_first_seen(unknown);
	json_object_set_new(st, "unknownPis", unknown);
	json_object_set_new(st, "bootEvents",
			    json_integer(json_integer_value(json_object_get(boot, "events"))));
	json_decref(serials);
	json_decref(boot);
}

int status_print(const char *state_dir, bool json, FILE *out)
{
	char *path = path_join(state_dir, STATUS_FILE);
	json_t *st, *nodes;

	if (!path)
		return -ENOMEM;
	st = status_json_load(path);
	free(path);
	if (!st)
		return -ENOENT;
	if (!json_is_object(st)) { /* damaged: what follows sets members of it */
		json_decref(st);
		return -EBADMSG;
	}
	path = path_join(state_dir, NODES_FILE);
	nodes = path ? status_json_load(path) : NULL;
	free(path);
	if (!json_is_array(nodes)) {
		json_decref(nodes);
		nodes = json_array();
	}
	json_object_set_new(st, "nodes", nodes);
	boot_merge(st, state_dir);
	suspend_status_merge(st, state_dir);
	history_status_merge(st, state_dir);
	/* The document's version (README.md, "JSON output"); /status is the same document. */
	json_object_set_new(st, "schema", json_string("bramble/status/v1"));
	if (json)
		json_dumpf(st, out, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_REAL_PRECISION(6));
	else
		print_human(st, out);
	if (json)
		fputc('\n', out);
	json_decref(st);
	return 0;
}
