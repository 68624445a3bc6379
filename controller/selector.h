/*
 * selector: which Nodes this instance serves (the top-level "selector" key of
 * bramble.yaml), so that one repository drives several netboot servers, one
 * per site.  The form is kubectl's equality selector: "site=rack-b", or
 * "site=rack-b,role=worker" (every term must hold).  No selector: every node.
 *
 * The whole repository is loaded and validated whatever the selector (an
 * address or serial clash between sites is refused); the pass then keeps only
 * the selected nodes, and renders, serves and prunes for them alone.
 *
 * The selector an instance last applied is recorded in its state directory
 * (<stateDir>/selector, absent when none): an apply under a different one
 * would prune every node the old one selected, so it is refused while the
 * inventory holds anything, unless the operator confirms it
 * (--accept-selector-change).
 */
#ifndef BRAMBLE_SELECTOR_H
#define BRAMBLE_SELECTOR_H

#include <stdbool.h>
#include <stddef.h>

#include "model.h"
#include "../common/buf.h"

#define SELECTOR_MAX_TERMS 16
#define SELECTOR_FILE	   "selector"

/*
 * Check s and write its canonical form (terms sorted by key) to ret, which
 * may be NULL; NULL or "" is the empty selector.  -EINVAL with what was
 * expected in why (a static string), -ENOMEM.
 */
int selector_canonical(const char *s, struct buf *ret, const char **why);
/* Whether node n carries every label s names (s valid; NULL or "": true). */
bool selector_match(const char *s, const struct node *n);
/*
 * Keep in set only the nodes s selects (in their order); returns how many
 * were left out.  The set's other members stay as loaded.
 */
size_t selector_apply(const char *s, struct manifest_set *set);
/*
 * The selector recorded in state_fd (NULL: no state directory yet): its
 * canonical form in ret ("" when none is recorded).  0 or -errno.
 */
int selector_recorded(int state_fd, struct buf *ret);
/* Record canonical (atomically, durably) in state_fd; "" removes the record. */
int selector_record(int state_fd, const char *canonical);

#endif
