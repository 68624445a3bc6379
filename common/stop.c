#include "stop.h"

#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include "atomic.h"

static const atomic_int *stop_flag;

void stop_watch(const atomic_int *flag)
{
	stop_flag = flag;
}

bool stop_requested(void)
{
	return stop_flag && atomic_load(stop_flag);
}

static atomic_int own_flag;

/* The backstop, and a second signal: what a crash leaves, less the temps. */
static void stop_now(void)
{
	static const char msg[] = "bramble: still busy 1 s after the signal to stop: exiting "
				  "now; the next pass recovers what this one left\n";
	ssize_t n = write(STDERR_FILENO, msg, sizeof(msg) - 1);

	(void)n;
	atomic_signal_cleanup();
	_exit(1);
}

static void on_stop_signal(int sig)
{
	int saved = errno;

	if (sig == SIGALRM || atomic_exchange(&own_flag, sig))
		stop_now();
	alarm(1);
	errno = saved;
}

int stop_on_signals(void)
{
	static const int sigs[] = {SIGTERM, SIGINT, SIGALRM};
	struct sigaction sa;
	size_t i;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop_signal;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaddset(&sa.sa_mask, sigs[i]);
	atomic_store(&own_flag, 0);
	stop_watch(&own_flag);
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		if (sigaction(sigs[i], &sa, NULL) < 0)
			return -errno;
	return 0;
}
