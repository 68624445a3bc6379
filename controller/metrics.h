/*
 * metrics: the daemon's figures in the Prometheus text format (version
 * 0.0.4): passes and failures by reason, pass and fetch durations as
 * histograms, the time of the last success, the applied revision as an info
 * metric, nodes by state, drift repairs, resources changed, webhook requests,
 * reload commands that failed, switches deferred for a boot, boot observation,
 * notifications sent.
 * deploy/grafana/bramble.json is the dashboard of these (test_dashboard.sh
 * checks that it uses only names this exports, and every family).
 *
 * The run loop records, the HTTP thread formats: every function takes the
 * lock, so one struct metrics is shared by both without more care.
 */
#ifndef BRAMBLE_METRICS_H
#define BRAMBLE_METRICS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "bootwatch.h"
#include "reconcile.h"
#include "../common/buf.h"

#define METRICS_N_BUCKETS 14
#define METRICS_N_REASONS 4 /* invalid, apply_failed, refused, fetch_failed */
#define METRICS_N_RELOADS 4 /* dnsmasq_reload, dnsmasq_restart, nfs_reload, nfs_restart */

/* What became of a notification (notify.h): bramble_notifications_total{result}. */
enum metrics_notify_result {
	METRICS_NOTIFY_SENT,
	METRICS_NOTIFY_FAILED,	/* every attempt failed, or a final 4xx */
	METRICS_NOTIFY_DROPPED, /* the queue was full: the oldest went */
	METRICS_N_NOTIFY,
};

struct histogram {
	uint64_t counts[METRICS_N_BUCKETS]; /* not cumulative: formatting adds them up */
	uint64_t count;
	double sum;
};

struct metrics {
	pthread_mutex_t lock;
	uint64_t passes;
	uint64_t kinds[PASS_KIND_COUNT]; /* passes by enum pass_kind */
	uint64_t failures[METRICS_N_REASONS];
	struct histogram duration, fetch;
	double last_success; /* Unix time; 0 before the first success */
	char revision[256];  /* the applied revision; "" before one */
	bool have_nodes;
	uint64_t nodes_ready, nodes_not_ready;
	uint64_t drift_repairs;
	uint64_t created, updated, deleted;
	uint64_t hooks_accepted, hooks_rejected;
	uint64_t reload_failures[METRICS_N_RELOADS]; /* by the action bit's index */
	uint64_t deferred;			     /* the last applied pass's waiting switches */
	/* boot observation; have_boot: it is on */
	bool have_boot;
	uint64_t boot_events, boot_unknown;
	uint64_t boot_stage[BOOT_STAGE_COUNT];
	uint64_t notifications[METRICS_N_NOTIFY]; /* by enum metrics_notify_result */
	bool suspended;				  /* bramble suspend (suspend.h) */
	bool have_images;			  /* images is known (an applying pass) */
	uint64_t images[IMAGE_STATE_COUNT];	  /* store entries by enum image_state */
	uint64_t fetching_now; /* images being fetched at the scrape (metrics_fetching) */
};

/* Zero the counters and set up the lock; metrics_release() destroys the lock. */
int metrics_init(struct metrics *m);
void metrics_release(struct metrics *m);

/*
 * What the daemon finds in status.json at start: the revision still being
 * served, when it was applied, and the node counts then.  ready < 0 leaves
 * the node counts unknown.
 */
void metrics_seed(struct metrics *m, const char *revision, double last_success, long ready,
		  long not_ready);

/* Count one pass; now is the Unix time at its end. */
void metrics_pass(struct metrics *m, const struct pass_result *res, double now);

/* Whether passes are suspended (bramble_suspended). */
void metrics_suspended(struct metrics *m, bool suspended);

/*
 * The images being fetched now (image_step_fetching()), at each scrape:
 * bramble_images{state="fetching"}, taken out of the last pass's missing
 * (then partial) count, which is where such an image was counted.
 */
void metrics_fetching(struct metrics *m, size_t n);

/* Count one request to the webhook. */
void metrics_hook(struct metrics *m, bool accepted);

/*
 * The boot observation's figures: events seen, nodes by the stage of their
 * last boot, unknown Pis.  No label names a node: the cardinality is fixed.
 */
void metrics_boot(struct metrics *m, const struct bootwatch_counts *c);

/* Count one notification to one target by what became of it (the notifier's thread). */
void metrics_notify(struct metrics *m, enum metrics_notify_result result);

/* Append the whole exposition to out. */
int metrics_format(struct metrics *m, struct buf *out);

#endif
