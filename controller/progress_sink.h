/*
 * progress_sink: where the controller shows the progress of a long step
 * (progress.h) that a library reports: a bar on stderr when it is a
 * terminal, else a log line every interval (BRAMBLE_PROGRESS_INTERVAL_MS,
 * 10 s by default), and the step in status.json (/status shows it) at most
 * once a second.  Both are rate-limited by a struct progress_meter each.
 * The image step (image_step.c) and the node root copies (reconcile.c)
 * report through it.  Not thread-safe: one thread reports at a time.
 */
#ifndef BRAMBLE_PROGRESS_SINK_H
#define BRAMBLE_PROGRESS_SINK_H

#include <stdbool.h>

#include "../common/progress.h"

struct progress_sink {
	struct progress_meter out;    /* the bar or the lines */
	struct progress_meter status; /* status.json */
	const char *object;	      /* for a report without one (the Image's name) */
	const char *state_dir;	      /* where status.json is; NULL: not written */
	bool quiet;		      /* -q: no bar and no lines */
	bool drawn;		      /* a bar is on the terminal's last line */
};

/*
 * A sink for the steps of one object (may be NULL) whose status goes to
 * state_dir (may be NULL); quiet shows nothing but the status.
 */
void progress_sink_init(struct progress_sink *s, const char *object, const char *state_dir,
			bool quiet);

/* The callback of a struct progress_cb whose arg is a struct progress_sink. */
void progress_sink_report(void *arg, const struct progress *p);

/* The steps are over: end the bar's line, if one is drawn. */
void progress_sink_end(struct progress_sink *s);

#endif
