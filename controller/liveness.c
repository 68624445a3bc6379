/* liveness: the run loop's last sign of progress, for /healthz (liveness.h). */
#include "liveness.h"

#include <errno.h>
#include <stdatomic.h>
#include <time.h>

static atomic_llong last_ms;
static atomic_uint threshold;

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void liveness_start(unsigned threshold_s)
{
	atomic_store(&threshold, threshold_s);
	atomic_store(&last_ms, now_ms());
}

void liveness_beat(void)
{
	atomic_store_explicit(&last_ms, now_ms(), memory_order_relaxed);
}

int liveness_check(struct buf *why)
{
	long long idle = now_ms() - atomic_load(&last_ms);
	unsigned t = atomic_load(&threshold);
	int r;

	if (t == 0 || idle <= (long long)t * 1000)
		return 0;
	r = buf_printf(why,
		       "run loop hung: no progress for %lld s (http.livenessTimeout is %u s)\n",
		       idle / 1000, t);
	return r < 0 ? r : -ETIMEDOUT;
}
