/*
 * progress: the reports of long steps and their text (progress.h).
 */
#include "progress.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define BAR_EVERY_S 0.2
#define BAR_WIDTH   20

void progress_report(const struct progress_cb *cb, const struct progress *p)
{
	if (cb && cb->fn)
		cb->fn(cb->arg, p);
}

double progress_now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

void progress_meter_init(struct progress_meter *m, bool tty, double interval_s)
{
	memset(m, 0, sizeof(*m));
	m->tty = tty;
	m->interval_s = interval_s > 0 ? interval_s : 10;
}

bool progress_meter_due(struct progress_meter *m, const struct progress *p, double now)
{
	/* a bar 5 times a second, or as often as lines when they are asked faster */
	double every = m->tty && m->interval_s > BAR_EVERY_S ? BAR_EVERY_S : m->interval_s;

	if (strncmp(m->step, p->step, sizeof(m->step) - 1) != 0 ||
	    strncmp(m->object, p->object ? p->object : "", sizeof(m->object) - 1) != 0) {
		snprintf(m->step, sizeof(m->step), "%s", p->step);
		snprintf(m->object, sizeof(m->object), "%s", p->object ? p->object : "");
		m->start = m->last = now;
		return false;
	}
	if (now - m->last < every)
		return false;
	m->last = now;
	return true;
}

double progress_meter_elapsed(const struct progress_meter *m, double now)
{
	return now - m->start;
}

/* "1.2 GiB", "512 B"; files: "1234 files". */
static void amount(uint64_t v, bool files, char *out, size_t n)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	double x = (double)v;
	unsigned u = 0;

	if (files) {
		snprintf(out, n, "%" PRIu64 " files", v);
		return;
	}
	while (x >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
		x /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(out, n, "%" PRIu64 " B", v);
	else
		snprintf(out, n, "%.1f %s", x, units[u]);
}

/* "[#########           ] " for a fraction f in [0, 1]. */
static void bar_text(double f, char *out, size_t n)
{
	char b[BAR_WIDTH + 1];
	int i, full = (int)(f * BAR_WIDTH);

	for (i = 0; i < BAR_WIDTH; i++)
		b[i] = i < full ? '#' : ' ';
	b[BAR_WIDTH] = '\0';
	snprintf(out, n, "[%s] ", b);
}

/* "  ETA 0:17" (or h:mm:ss) for what is left at this rate. */
static void eta_text(const struct progress *p, double rate, char *out, size_t n)
{
	double left = p->done >= p->total ? 0 : (double)(p->total - p->done) / rate;
	unsigned s = left > 359999 ? 359999 : (unsigned)(left + 0.5);

	if (s >= 3600)
		snprintf(out, n, "  ETA %u:%02u:%02u", s / 3600, s / 60 % 60, s % 60);
	else
		snprintf(out, n, "  ETA %u:%02u", s / 60, s % 60);
}

void progress_format(const struct progress *p, double elapsed, bool bar, char *out, size_t size)
{
	char done[32], t[32], total[40] = "", r[32], rate[40] = "", eta[32] = "", pct[16] = "";
	char b[BAR_WIDTH + 8] = "", items[48] = "";
	double rate_v = elapsed > 0 ? (double)p->done / elapsed : 0, f = 0;

	amount(p->done, p->files, done, sizeof(done));
	if (p->total) {
		amount(p->total, p->files, t, sizeof(t));
		snprintf(total, sizeof(total), " / %s%s", p->estimate ? "~" : "", t);
		/* An estimate is never 100% before the end. */
		f = p->done >= p->total ? (p->estimate ? 0.99 : 1.0)
					: (double)p->done / (double)p->total;
		snprintf(pct, sizeof(pct), "%3u%%  ", (unsigned)(f * 100));
		if (bar)
			bar_text(f, b, sizeof(b));
	}
	if (rate_v > 0) {
		amount((uint64_t)rate_v, p->files, r, sizeof(r));
		snprintf(rate, sizeof(rate), "  %s/s", r);
	}
	if (p->total && rate_v > 0)
		eta_text(p, rate_v, eta, sizeof(eta));
	if (p->items_total)
		snprintf(items, sizeof(items), "%s%" PRIu64 "/%" PRIu64, p->object ? " " : "",
			 p->items_done, p->items_total);
	snprintf(out, size, "%s %s%s  %s%s%s%s%s%s", p->step, p->object ? p->object : "", items, b,
		 pct, done, total, rate, eta);
}
