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

/*
 * For a pass run by hand (`bramble apply`): SIGTERM and SIGINT raise a flag
 * of this module's and watch it, so that the pass stops as the daemon's does
 * (cleanly, within a fraction of a second, "interrupted").  A step that does
 * not poll is cut one second after the first signal: the atomic writer's
 * temps removed, a message, exit 1; a second signal exits at once the same
 * way.  0, or a negative errno.
 */
int stop_on_signals(void);

#endif
