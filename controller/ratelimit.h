/*
 * ratelimit: at most a burst of log lines per window for a kind of event
 * that a client can cause at will (a refused webhook), and a count of the
 * lines left out, so that 58,701 refused requests in 5 s give a handful of
 * lines and "… and 58,696 more in the last 5 s", not 58,701 lines.
 * Not thread-safe: one per thread, or under the caller's lock.
 */
#ifndef BRAMBLE_RATELIMIT_H
#define BRAMBLE_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

struct ratelimit {
	unsigned burst;	     /* lines per window */
	int64_t window_ms;   /* length of a window */
	int64_t start_ms;    /* when the current window began */
	unsigned used;	     /* lines logged in it */
	uint64_t suppressed; /* events not logged in it */
};

#define RATELIMIT_INIT(burst, window_ms)              \
	{                                             \
		(burst), (window_ms), INT64_MIN, 0, 0 \
	}

/*
 * An event at now_ms (a monotonic clock): whether to log it.  When a new
 * window begins with events left out of the last one, *ret_report is their
 * count (else 0), for the caller to log first.
 */
bool ratelimit_take(struct ratelimit *rl, int64_t now_ms, uint64_t *ret_report);

#endif
