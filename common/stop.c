#include "stop.h"

#include <stddef.h>

static const atomic_int *stop_flag;

void stop_watch(const atomic_int *flag)
{
	stop_flag = flag;
}

bool stop_requested(void)
{
	return stop_flag && atomic_load(stop_flag);
}
