/*
 * gc: `bramble gc`, the only way anything leaves the attic.  A reconcile
 * never deletes a node's data: it moves a retired root into <nfs>/.attic
 * (reconcilers/engine/noderoot.h); gc removes the attic entries older than
 * roots.atticRetention, staging directories left by a pass that died, and
 * then prunes the images no Image uses from the image store.
 */
#ifndef BRAMBLE_GC_H
#define BRAMBLE_GC_H

#include <stdbool.h>
#include <stdio.h>

#include "config.h"

/* Collect (or with dry_run, only list) what is past its retention; returns an exit code. */
int gc_run(const struct bramble_config *cfg, bool dry_run, FILE *out);

/* The same, said as the bramble/gc/v1 document on out (README.md, "JSON output"). */
int gc_json(const struct bramble_config *cfg, bool dry_run, FILE *out);

#endif
