/*
 * progress_sink: a library's progress on the terminal, in the log and in
 * status.json (progress_sink.h).
 */
#include "progress_sink.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "status.h"
#include "../common/parse.h"

#define STATUS_EVERY_S 1.0

void progress_sink_init(struct progress_sink *s, const char *object, const char *state_dir,
			bool quiet)
{
	const char *every = getenv("BRAMBLE_PROGRESS_INTERVAL_MS");
	uint64_t ms = 0;
	double interval;

	if (every && parse_u64(every, 10, 3600000, &ms) < 0)
		ms = 0;
	memset(s, 0, sizeof(*s));
	progress_meter_init(&s->out, isatty(STDERR_FILENO), (double)ms / 1000);
	/* status.json: once a second, or with each line when they come faster */
	interval = s->out.interval_s < STATUS_EVERY_S ? s->out.interval_s : STATUS_EVERY_S;
	progress_meter_init(&s->status, false, interval);
	s->object = object;
	s->state_dir = state_dir;
	s->quiet = quiet;
}

void progress_sink_report(void *arg, const struct progress *p)
{
	struct progress_sink *s = arg;
	struct progress q = *p;
	double now = progress_now();
	char line[200];

	if (!q.object)
		q.object = s->object;
	if (s->drawn && strcmp(s->out.step, q.step) != 0) { /* the next step: a new line */
		fputc('\n', stderr);
		s->drawn = false;
	}
	if (s->state_dir && progress_meter_due(&s->status, &q, now))
		(void)status_mark_progress(s->state_dir, &q,
					   progress_meter_elapsed(&s->status, now));
	if (s->quiet || !progress_meter_due(&s->out, &q, now))
		return;
	progress_format(&q, progress_meter_elapsed(&s->out, now), s->out.tty, line, sizeof(line));
	if (s->out.tty) {
		fprintf(stderr, "\r%-79s", line);
		fflush(stderr);
		s->drawn = true;
	} else {
		log_info("%s", line);
	}
}

void progress_sink_end(struct progress_sink *s)
{
	if (s->drawn)
		fputc('\n', stderr);
	s->drawn = false;
}
