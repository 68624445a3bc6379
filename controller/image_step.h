/*
 * image_step: the controller's side of the image store (reconcilers/
 * imgstore.h): bring the url Images that nodes use into the store before a
 * pass renders (apply, run), say which are still to fetch (plan), mention
 * unused store entries, and the `bramble images [prune]` command.
 */
#ifndef BRAMBLE_IMAGE_STEP_H
#define BRAMBLE_IMAGE_STEP_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

#include "config.h"
#include "model.h"
#include "reconcile.h"

/*
 * For every url Image a node of set uses and the store lacks: with fetch,
 * download and extract it (imgstore_ensure; progress is logged); without,
 * print on out that plan would download it and count it in *ret_pending.
 * An image that cannot be brought in is a diag at the Image's position and
 * the return is -EINVAL (the others are still tried); other negative errno
 * values are system errors.
 */
int image_step_run(const struct bramble_config *cfg, const struct manifest_set *set, bool fetch,
		   FILE *out, struct diags *d, size_t *ret_pending);

/*
 * After a pass: print "N unused images in the store (...)" on out when some
 * entries are used by no Image of set; with record (an applied pass),
 * remember which are used, for `bramble status`.  Returns 0, or the error
 * of that record (logged).  out may be NULL: record only.
 */
int image_step_unused(const struct bramble_config *cfg, const struct manifest_set *set, bool record,
		      FILE *out);

/*
 * How many images a bramble process is fetching into the store now (their
 * lock is held), for /metrics at each scrape; 0 when the store cannot be read.
 */
size_t image_step_fetching(const struct bramble_config *cfg);

/*
 * The store's entries by enum image_state for set (the metric
 * bramble_images): states[] is zeroed first.  0, or a negative errno.
 */
int image_step_states(const struct bramble_config *cfg, const struct manifest_set *set,
		      size_t states[IMAGE_STATE_COUNT]);

/* For `bramble status`: the unused line, as of the last applied pass. */
void image_step_status(const struct bramble_config *cfg, FILE *out);

/*
 * `bramble images` (list; json: the bramble/images/v1 document) and `bramble
 * images prune`; returns an exit code.
 */
int image_step_command(const struct bramble_config *cfg, bool prune, bool json, FILE *out);

/*
 * gc --json's "images": the unused store entries, removed unless dry_run:
 * {"store", "usageKnown", "unused": [{"digest", "bytes", "action"}]}
 * (nothing is removed when usage is not known); the text of what was
 * removed goes to text.  *ret_code: an exit code.
 */
json_t *image_step_gc_json(const struct bramble_config *cfg, bool dry_run, FILE *text,
			   int *ret_code);

#endif
