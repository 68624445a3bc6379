/*
 * progress: how far a long step is (a download, a decompression, an
 * extraction, a node root copy), for people and for /status.
 *
 * A library reports through a struct progress_cb and nothing else: it never
 * prints or logs (the controller does).  The callback is called often (per
 * block), so it must be cheap: the controller's sink rate-limits with a
 * struct progress_meter, which says when a bar is due (a terminal, a few
 * times a second) or a log line (otherwise, every interval), and formats
 * either with the name, the amounts, the percent, the rate and the ETA.
 */
#ifndef BRAMBLE_PROGRESS_H
#define BRAMBLE_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One report: step "download", "decompress", ...; object the Image's name. */
struct progress {
	const char *step;
	const char *object;
	uint64_t done;
	uint64_t total; /* 0: not known */
	bool estimate;	/* total is an estimate (shown with "~"); done may pass it */
	bool files;	/* counts files, not bytes */
	/* A step over several items (copy roots): how many are done of how
	 * many, shown after the object ("copy roots 1/3"); items_total 0: none. */
	uint64_t items_done, items_total;
};

struct progress_cb {
	void (*fn)(void *arg, const struct progress *p);
	void *arg;
};

/* Report p through cb; nothing when cb or cb->fn is NULL. */
void progress_report(const struct progress_cb *cb, const struct progress *p);

/* The rate limiter and clock of one step, kept by the sink. */
struct progress_meter {
	char step[32], object[96]; /* the step being timed: a new one restarts the clock */
	double start, last;	   /* CLOCK_MONOTONIC seconds; last: the last output */
	bool tty;		   /* draw a bar; else a line every interval_s */
	double interval_s;	   /* between lines; bars: 0.2 s, or interval_s if shorter */
};

/* A meter for a terminal (tty) or a log; interval_s 0: 10 s. */
void progress_meter_init(struct progress_meter *m, bool tty, double interval_s);

/*
 * Whether output is due for p at time now (seconds, CLOCK_MONOTONIC): the
 * first report of a step is not (a step shorter than the interval says
 * nothing), then one every interval.  Restarts the clock on a new step.
 */
bool progress_meter_due(struct progress_meter *m, const struct progress *p, double now);

/* Seconds since the meter's step started. */
double progress_meter_elapsed(const struct progress_meter *m, double now);

/*
 * The text of p after elapsed seconds: with bar, "decompress raspios
 * [#####     ]  45%  1.2 GiB / ~2.6 GiB  85.3 MiB/s  ETA 0:17", else the same
 * without the bar; a step over items has them after the object ("copy roots
 * 1/3  [...").  The percent and ETA only with a total.
 */
void progress_format(const struct progress *p, double elapsed, bool bar, char *out, size_t size);

/* The time now for the meter (CLOCK_MONOTONIC, seconds). */
double progress_now(void);

#endif
