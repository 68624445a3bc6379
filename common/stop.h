/*
 * stop: "bramble is stopping".  The daemon points this at the flag its
 * SIGTERM handler raises; the long steps of a pass (a download, an image's
 * extraction, a node root's copy, the staging of an apply, a reload command,
 * the git fetch) poll it and give up with -ECANCELED within a fraction of a
 * second.  What they leave is what a crash at that point leaves, which the
 * next pass recovers (reconcilers/engine/recover.c); a reload cut short stays
 * in state/pending-actions.  The CLI never sets it: a pass run by hand ends.
 */
#ifndef BRAMBLE_STOP_H
#define BRAMBLE_STOP_H

#include <stdatomic.h>
#include <stdbool.h>

/* The flag to poll (non-zero: stop); NULL: never stop. */
void stop_watch(const atomic_int *flag);
/* Whether the flag is up. */
bool stop_requested(void);

#endif
