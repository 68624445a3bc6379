#include "ratelimit.h"

bool ratelimit_take(struct ratelimit *rl, int64_t now_ms, uint64_t *ret_report)
{
	*ret_report = 0;
	if (rl->start_ms == INT64_MIN || now_ms - rl->start_ms >= rl->window_ms) {
		*ret_report = rl->suppressed;
		rl->start_ms = now_ms;
		rl->used = 0;
		rl->suppressed = 0;
	}
	if (rl->used < rl->burst) {
		rl->used++;
		return true;
	}
	rl->suppressed++;
	return false;
}
