/*
 * status: what the last passes did, kept as JSON in the state directory
 * for `bramble status`, /status and the metrics: status.json holds the
 * revisions, conditions (Ready, Reconciling, Stalled) and counters; nodes.json
 * holds, per node, which of its resources are in place (written only by an
 * applied pass, so the small document can be rewritten cheaply).
 */
#ifndef BRAMBLE_STATUS_H
#define BRAMBLE_STATUS_H

#include <stdbool.h>
#include <stdio.h>

#include "../common/progress.h"

#include "diag.h"
#include "engine.h"
#include "model.h"
#include "seal.h"

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
	const struct manifest_set *set;	  /* NULL unless validated */
	const struct plan *plan;	  /* NULL unless applied */
	const struct seal_counts *sealed; /* a sealed pass (no set, no plan): its figures */
	bool delta;			  /* a delta pass (seal.h): the set has stubs */
	size_t n_deferred;		  /* boot trees whose switch waits for a boot to end */
	const char *message;
	double duration_s;
	bool nodes_file_present; /* filled by status_record() */
};

/* Merge this pass into state_dir/status.json (written atomically, mode 0644). */
int status_record(const char *state_dir, const struct pass_report *rep);
/*
 * Remove status.json: when a pass cannot record its status, the last one's
 * (Ready=True, say) must not stay behind as if it were this pass's.
 */
int status_forget(const char *state_dir);
/*
 * Mark a pass as started (condition Reconciling=True, reason Progressing, the
 * trigger in its message) so that /status shows it while it runs;
 * status_record sets it back to False at the end of the pass.
 */
int status_mark_reconciling(const char *state_dir, const char *trigger);
/*
 * The current step of a running pass (step, object, done/total, since: the
 * step's start, seconds ago), as "progress" in status.json and in the
 * Reconciling condition's message, for /status and `bramble status`; the
 * caller rate-limits (once a second), status_record removes it.
 */
int status_mark_progress(const char *state_dir, const struct progress *p, double elapsed_s);
/*
 * Print the recorded status: a table for people, or the JSON document.
 * -ENOENT: none recorded; -EBADMSG: status.json is not a JSON object.
 */
int status_print(const char *state_dir, bool json, FILE *out);

#endif
