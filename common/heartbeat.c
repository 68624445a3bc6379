/* heartbeat: long steps tell the daemon that they are alive (heartbeat.h). */
#include "heartbeat.h"

#include <stdatomic.h>
#include <stddef.h>

typedef void (*heartbeat_fn)(void);

static _Atomic(heartbeat_fn) hook;
static _Atomic(heartbeat_fn) progress_hook;

void heartbeat_set(void (*fn)(void))
{
	atomic_store(&hook, fn);
}

void heartbeat_set_progress(void (*fn)(void))
{
	atomic_store(&progress_hook, fn);
}

void heartbeat_wait(void)
{
	heartbeat_fn fn = atomic_load_explicit(&hook, memory_order_relaxed);

	if (fn != NULL)
		fn();
}

void heartbeat(void)
{
	heartbeat_fn fn = atomic_load_explicit(&progress_hook, memory_order_relaxed);

	if (fn != NULL)
		fn();
	heartbeat_wait();
}
