/* heartbeat: long steps tell the daemon that they are alive (heartbeat.h). */
#include "heartbeat.h"

#include <stdatomic.h>
#include <stddef.h>

typedef void (*heartbeat_fn)(void);

static _Atomic(heartbeat_fn) hook;

void heartbeat_set(void (*fn)(void))
{
	atomic_store(&hook, fn);
}

void heartbeat(void)
{
	heartbeat_fn fn = atomic_load_explicit(&hook, memory_order_relaxed);

	if (fn != NULL)
		fn();
}
