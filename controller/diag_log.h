/*
 * diag_log: collected diagnostics (manifests/diag.h) as the controller's log
 * lines, for what the daemon reads and refuses while it runs.
 */
#ifndef BRAMBLE_DIAG_LOG_H
#define BRAMBLE_DIAG_LOG_H

#include "diag.h"

/*
 * Log each error of dg as a warning line, as diags_print() words it: a
 * refused configuration, a urlFile (positions and reasons only: its lines
 * are secret and never part of a message).
 */
void log_diags(const struct diags *dg);

#endif
