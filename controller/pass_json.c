/*
 * pass_json: `bramble validate --json` and `bramble plan --json`, the
 * documents a program reads instead of the text (README.md, "JSON output").
 * Each names its schema ("bramble/validate/v1", "bramble/plan/v1"): a field
 * may be added within a version; one renamed, removed or changed in meaning
 * is a new version.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>

#include "pass.h"

/* Every error (or note) with its position: [{"file", "line", "column", "message"}]. */
static json_t *errors_json(const struct diags *d)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; a && i < d->n; i++) {
		const struct diag *g = &d->v[i];

		json_array_append_new(a, json_pack("{s:s?,s:I,s:I,s:s}", "file", g->file, "line",
						   (json_int_t)g->line, "column",
						   (json_int_t)g->col, "message", g->msg));
	}
	return a;
}

/* The document's common part: schema, revision, errors. */
static json_t *doc_new(const struct pass *p, const char *schema)
{
	return json_pack("{s:s,s:s?,s:o}", "schema", schema, "revision", p->rev.revision, "errors",
			 errors_json(&p->d));
}

static int doc_print(json_t *doc)
{
	int r;

	if (!doc)
		return -ENOMEM;
	r = json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_SORT_KEYS) < 0 ? -EIO : 0;
	fputc('\n', stdout);
	json_decref(doc);
	return r;
}

int pass_json_validate(const struct pass *p, bool valid)
{
	json_t *doc = doc_new(p, "bramble/validate/v1");

	if (doc)
		json_object_set_new(doc, "valid", json_boolean(valid));
	/* What the render could not check (an Image not fetched yet, --offline). */
	if (doc)
		json_object_set_new(doc, "notes", errors_json(&p->notes));
	if (doc && valid && p->set)
		json_object_set_new(doc, "counts",
				    json_pack("{s:I,s:I,s:I}", "nodes", (json_int_t)p->set->n_nodes,
					      "images", (json_int_t)p->set->n_images, "profiles",
					      (json_int_t)p->set->n_profiles));
	return doc_print(doc);
}

/* The plan's changes, as the text plan lists them. */
static json_t *changes_json(const struct plan *pl)
{
	json_t *a = json_array();
	struct plan_change c;
	size_t i;

	for (i = 0; a && pl && i < pl->n_items; i++) {
		if (!plan_change_at(pl, i, &c))
			continue;
		json_array_append_new(a, json_pack("{s:s,s:s,s:s,s:b,s:s,s:s?,s:b}", "op", c.op,
						   "output", c.output, "path", c.path, "directory",
						   c.dir, "reason", c.reason, "node", c.node,
						   "drift", c.drift));
	}
	return a;
}

static json_t *counts_json(const struct plan *pl)
{
	size_t n_deleted = 0, n_attic = 0;

	if (!pl)
		return json_null();
	plan_delete_counts(pl, &n_deleted, &n_attic);
	return json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "create", (json_int_t)pl->n_create,
			 "update", (json_int_t)pl->n_update, "delete", (json_int_t)n_deleted,
			 "attic", (json_int_t)n_attic, "unchanged", (json_int_t)pl->n_unchanged,
			 "keep", (json_int_t)pl->n_keep, "conflict", (json_int_t)pl->n_conflict,
			 "drift", (json_int_t)pl->n_drift);
}

int pass_json_plan(const struct pass *p, const char *after_apply, size_t images_pending)
{
	json_t *doc = doc_new(p, "bramble/plan/v1");

	if (!doc)
		return -ENOMEM;
	/* complete: every node planned (no error, no image still to download). */
	json_object_set_new(doc, "complete",
			    json_boolean(p->plan && !images_pending && p->d.n == 0));
	json_object_set_new(doc, "changes", changes_json(p->plan));
	json_object_set_new(doc, "counts", counts_json(p->plan));
	json_object_set_new(doc, "afterApply",
			    after_apply ? json_string(after_apply) : json_null());
	json_object_set_new(doc, "imagesToDownload", json_integer((json_int_t)images_pending));
	return doc_print(doc);
}
