/*
 * status: what the last passes did, kept as JSON in the state directory
 * (status.json) for `bramble status`, /status and the metrics: revisions,
 * conditions (Ready, Reconciling, Stalled) and per node which of its
 * resources are in place.
 */
#ifndef BRAMBLE_STATUS_H
#define BRAMBLE_STATUS_H

#include <stdbool.h>
#include <stdio.h>

#include "diag.h"
#include "engine.h"
#include "model.h"

enum pass_outcome {
	PASS_APPLIED,	   /* everything in place */
	PASS_INVALID,	   /* the revision did not validate: nothing applied */
	PASS_APPLY_FAILED, /* some resources could not be applied */
	PASS_REFUSED,	   /* e.g. an empty desired set */
	PASS_FETCH_FAILED, /* the source could not be read: nothing applied */
};

struct pass_report {
	enum pass_outcome outcome;
	const char *revision;
	const struct diags *errors;
	const struct manifest_set *set; /* NULL unless validated */
	const struct plan *plan;	/* NULL unless applied */
	const char *message;
	double duration_s;
};

/* Merge this pass into state_dir/status.json (written atomically, mode 0644). */
int status_record(const char *state_dir, const struct pass_report *rep);
/* Print the recorded status: a table for people, or the JSON document. */
int status_print(const char *state_dir, bool json, FILE *out);

#endif
