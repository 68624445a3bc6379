#include "metrics.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "resource.h"
#include "status.h"

/* Upper bounds of the duration buckets, in seconds (+Inf is implied). */
static const double bucket_le[METRICS_N_BUCKETS] = {
	0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300,
};

static const char *const reasons[METRICS_N_REASONS] = {
	"invalid",
	"apply_failed",
	"refused",
	"fetch_failed",
};

/* By the bit index of enum action (resource.h), the reload commands. */
_Static_assert(ACTION_DHCP_RELOAD == 1 << 0 && ACTION_DHCP_RESTART == 1 << 1 &&
		       ACTION_NFS_RELOAD == 1 << 2 && ACTION_NFS_RESTART == 1 << 3,
	       "reloads[] follows the bits of enum action");
static const char *const reloads[METRICS_N_RELOADS] = {
	"dnsmasq_reload",
	"dnsmasq_restart",
	"nfs_reload",
	"nfs_restart",
};

/* The index in reasons[] of a pass's enum pass_outcome; -1 for success. */
static int reason_index(int outcome)
{
	switch (outcome) {
	case PASS_APPLIED:
		return -1;
	case PASS_APPLY_FAILED:
		return 1;
	case PASS_REFUSED:
		return 2;
	case PASS_FETCH_FAILED:
		return 3;
	default:
		return 0;
	}
}

int metrics_init(struct metrics *m)
{
	memset(m, 0, sizeof(*m));
	return -pthread_mutex_init(&m->lock, NULL);
}

void metrics_release(struct metrics *m)
{
	pthread_mutex_destroy(&m->lock);
}

void metrics_seed(struct metrics *m, const char *revision, double last_success, long ready,
		  long not_ready)
{
	pthread_mutex_lock(&m->lock);
	snprintf(m->revision, sizeof(m->revision), "%s", revision ? revision : "");
	m->last_success = last_success;
	if (ready >= 0 && not_ready >= 0) {
		m->have_nodes = true;
		m->nodes_ready = (uint64_t)ready;
		m->nodes_not_ready = (uint64_t)not_ready;
	}
	pthread_mutex_unlock(&m->lock);
}

static void histogram_observe(struct histogram *h, double v)
{
	size_t i;

	for (i = 0; i < METRICS_N_BUCKETS && v > bucket_le[i]; i++)
		;
	if (i < METRICS_N_BUCKETS)
		h->counts[i]++;
	h->count++;
	h->sum += v;
}

/* The plan was carried out (fully or in part): count what it changed. */
static void count_changes(struct metrics *m, const struct pass_result *res)
{
	m->created += res->n_create;
	m->updated += res->n_update;
	m->deleted += res->n_delete;
	m->drift_repairs += res->n_drift;
	m->have_nodes = true;
	m->nodes_ready = res->nodes_ready;
	m->nodes_not_ready = res->nodes_total - res->nodes_ready;
}

void metrics_pass(struct metrics *m, const struct pass_result *res, double now)
{
	int reason = reason_index(res->outcome);
	size_t i;

	pthread_mutex_lock(&m->lock);
	m->passes++;
	if ((unsigned)res->kind < PASS_KIND_COUNT)
		m->kinds[res->kind]++;
	histogram_observe(&m->duration, res->duration_s);
	histogram_observe(&m->fetch, res->fetch_s);
	if (res->have_images) {
		m->have_images = true;
		for (i = 0; i < IMAGE_STATE_COUNT; i++)
			m->images[i] = res->images[i];
	}
	if (reason >= 0)
		m->failures[reason]++;
	if (res->outcome == PASS_APPLIED || res->outcome == PASS_APPLY_FAILED)
		count_changes(m, res);
	for (i = 0; i < METRICS_N_RELOADS; i++)
		m->reload_failures[i] += (res->reloads_failed >> i) & 1;
	if (res->outcome == PASS_APPLIED) {
		m->deferred = res->n_deferred;
		m->last_success = now;
		snprintf(m->revision, sizeof(m->revision), "%s", res->revision);
	}
	pthread_mutex_unlock(&m->lock);
}

void metrics_suspended(struct metrics *m, bool suspended)
{
	pthread_mutex_lock(&m->lock);
	m->suspended = suspended;
	pthread_mutex_unlock(&m->lock);
}

void metrics_fetching(struct metrics *m, size_t n)
{
	pthread_mutex_lock(&m->lock);
	m->fetching_now = n;
	pthread_mutex_unlock(&m->lock);
}

void metrics_hook(struct metrics *m, bool accepted)
{
	pthread_mutex_lock(&m->lock);
	if (accepted)
		m->hooks_accepted++;
	else
		m->hooks_rejected++;
	pthread_mutex_unlock(&m->lock);
}

/* A label value with \, " and newline escaped, as the text format wants. */
static int add_label_value(struct buf *out, const char *v)
{
	int r = 0;

	for (; r == 0 && *v; v++) {
		if (*v == '\\')
			r = buf_adds(out, "\\\\");
		else if (*v == '"')
			r = buf_adds(out, "\\\"");
		else if (*v == '\n')
			r = buf_adds(out, "\\n");
		else
			r = buf_addch(out, *v);
	}
	return r;
}

static int add_header(struct buf *out, const char *name, const char *type, const char *help)
{
	return buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static int add_histogram(struct buf *out, const char *name, const char *help,
			 const struct histogram *h)
{
	uint64_t cum = 0;
	size_t i;
	int r;

	r = add_header(out, name, "histogram", help);
	for (i = 0; r == 0 && i < METRICS_N_BUCKETS; i++) {
		cum += h->counts[i];
		r = buf_printf(out, "%s_bucket{le=\"%g\"} %llu\n", name, bucket_le[i],
			       (unsigned long long)cum);
	}
	if (r == 0)
		r = buf_printf(out, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.6f\n%s_count %llu\n",
			       name, (unsigned long long)h->count, name, h->sum, name,
			       (unsigned long long)h->count);
	return r;
}

static int add_counter(struct buf *out, const char *name, const char *help, uint64_t v)
{
	int r = add_header(out, name, "counter", help);

	return r ? r : buf_printf(out, "%s %llu\n", name, (unsigned long long)v);
}

static int add_passes(struct buf *out, const struct metrics *m)
{
	static const char *const kind_names[PASS_KIND_COUNT] = {"full", "delta", "sealed"};
	const char *name = "bramble_reconcile_failures_total";
	const char *kinds = "bramble_reconcile_pass_kinds_total";
	size_t i;
	int r;

	r = add_counter(out, "bramble_reconcile_passes_total", "Reconcile passes run.", m->passes);
	if (r == 0)
		r = add_header(out, kinds, "counter",
			       "Reconcile passes by how they worked: every manifest (full), the "
			       "changed files of Nodes (delta), or nothing changed (sealed).");
	for (i = 0; r == 0 && i < PASS_KIND_COUNT; i++)
		r = buf_printf(out, "%s{kind=\"%s\"} %llu\n", kinds, kind_names[i],
			       (unsigned long long)m->kinds[i]);
	if (r == 0)
		r = add_header(out, name, "counter",
			       "Passes that did not apply their revision, by reason.");
	for (i = 0; r == 0 && i < METRICS_N_REASONS; i++)
		r = buf_printf(out, "%s{reason=\"%s\"} %llu\n", name, reasons[i],
			       (unsigned long long)m->failures[i]);
	if (r == 0)
		r = add_histogram(out, "bramble_reconcile_duration_seconds",
				  "How long a reconcile pass took.", &m->duration);
	if (r == 0)
		r = add_histogram(out, "bramble_fetch_duration_seconds",
				  "How long reading the source took in a pass.", &m->fetch);
	if (r == 0)
		r = add_header(out, "bramble_last_success_timestamp_seconds", "gauge",
			       "Unix time of the last pass that applied its revision (0: none).");
	if (r == 0)
		r = buf_printf(out, "bramble_last_success_timestamp_seconds %.3f\n",
			       m->last_success);
	return r;
}

/*
 * The image store by state: a fixed set of labels, none naming an image.
 * fetching is now; the rest as of the last applying pass, less the images
 * being fetched, which that pass counted as missing (or partial: a download
 * cut short, resumed now).  Before any pass: fetching alone.
 */
static int add_images(struct buf *out, const struct metrics *m)
{
	static const char *const states[IMAGE_STATE_COUNT] = {
		[IMAGE_STATE_PRESENT] = "present", [IMAGE_STATE_UNUSED] = "unused",
		[IMAGE_STATE_PARTIAL] = "partial", [IMAGE_STATE_FAILED] = "failed",
		[IMAGE_STATE_MISSING] = "missing", [IMAGE_STATE_FETCHING] = "fetching",
	};
	uint64_t v[IMAGE_STATE_COUNT], left = m->fetching_now, take;
	size_t i;
	int r;

	memcpy(v, m->images, sizeof(v));
	v[IMAGE_STATE_FETCHING] = m->fetching_now;
	take = left < v[IMAGE_STATE_MISSING] ? left : v[IMAGE_STATE_MISSING];
	v[IMAGE_STATE_MISSING] -= take;
	left -= take;
	v[IMAGE_STATE_PARTIAL] -= left < v[IMAGE_STATE_PARTIAL] ? left : v[IMAGE_STATE_PARTIAL];
	r = add_header(out, "bramble_images", "gauge",
		       "Image store entries by state (missing: url Images in use not in the "
		       "store; fetching: being downloaded or extracted now), as of the last "
		       "applying pass, fetching as of now.");
	for (i = 0; r == 0 && i < IMAGE_STATE_COUNT; i++)
		if (m->have_images || i == IMAGE_STATE_FETCHING)
			r = buf_printf(out, "bramble_images{state=\"%s\"} %llu\n", states[i],
				       (unsigned long long)v[i]);
	return r;
}

static int add_state(struct buf *out, const struct metrics *m)
{
	const char *nodes = "bramble_nodes", *chg = "bramble_resources_changed_total";
	int r;

	r = add_header(out, "bramble_applied_revision_info", "gauge",
		       "The revision being served, as a label.");
	if (r == 0 && m->revision[0]) {
		r = buf_adds(out, "bramble_applied_revision_info{revision=\"");
		if (r == 0)
			r = add_label_value(out, m->revision);
		if (r == 0)
			r = buf_adds(out, "\"} 1\n");
	}
	if (r == 0)
		r = add_header(out, nodes, "gauge", "Nodes of the applied revision, by state.");
	if (r == 0 && m->have_nodes)
		r = buf_printf(out, "%s{state=\"ready\"} %llu\n%s{state=\"not_ready\"} %llu\n",
			       nodes, (unsigned long long)m->nodes_ready, nodes,
			       (unsigned long long)m->nodes_not_ready);
	if (r == 0)
		r = add_header(
			out, "bramble_suspended", "gauge",
			"1 while bramble suspend holds the passes (serving goes on), else 0.");
	if (r == 0)
		r = buf_printf(out, "bramble_suspended %d\n", m->suspended ? 1 : 0);
	if (r == 0)
		r = add_images(out, m);
	if (r == 0)
		r = add_counter(out, "bramble_drift_repairs_total",
				"Managed files edited or deleted outside bramble, then repaired.",
				m->drift_repairs);
	if (r == 0)
		r = add_header(out, chg, "counter", "Resources created, updated or deleted.");
	if (r == 0)
		r = buf_printf(out,
			       "%s{op=\"create\"} %llu\n%s{op=\"update\"} %llu\n"
			       "%s{op=\"delete\"} %llu\n",
			       chg, (unsigned long long)m->created, chg,
			       (unsigned long long)m->updated, chg, (unsigned long long)m->deleted);
	return r;
}

static int add_hooks(struct buf *out, const struct metrics *m)
{
	const char *name = "bramble_webhook_requests_total";
	int r;

	r = add_header(out, name, "counter", "Requests to POST /hooks/git, by result.");
	if (r == 0)
		r = buf_printf(out, "%s{result=\"accepted\"} %llu\n%s{result=\"rejected\"} %llu\n",
			       name, (unsigned long long)m->hooks_accepted, name,
			       (unsigned long long)m->hooks_rejected);
	return r;
}

/* The reload commands that failed (each is retried: state/pending-actions). */
static int add_reloads(struct buf *out, const struct metrics *m)
{
	const char *name = "bramble_reload_failures_total";
	size_t i;
	int r;

	r = add_header(
		out, name, "counter",
		"Reload commands that failed after a pass (retried at the next), by action.");
	for (i = 0; r == 0 && i < METRICS_N_RELOADS; i++)
		r = buf_printf(out, "%s{action=\"%s\"} %llu\n", name, reloads[i],
			       (unsigned long long)m->reload_failures[i]);
	if (r == 0)
		r = add_header(out, "bramble_deferred_switches", "gauge",
			       "Nodes whose switch to the applied revision waits for their boot "
			       "to end (boot.deferMax).");
	if (r == 0)
		r = buf_printf(out, "bramble_deferred_switches %llu\n",
			       (unsigned long long)m->deferred);
	return r;
}

void metrics_boot(struct metrics *m, const struct bootwatch_counts *c)
{
	size_t i;

	pthread_mutex_lock(&m->lock);
	m->have_boot = true;
	m->boot_events = c->events;
	m->boot_unknown = c->unknown;
	for (i = 0; i < BOOT_STAGE_COUNT; i++)
		m->boot_stage[i] = c->by_stage[i];
	pthread_mutex_unlock(&m->lock);
}

static int add_boot(struct buf *out, const struct metrics *m)
{
	const char *stages = "bramble_boot_nodes";
	size_t i;
	int r;

	if (!m->have_boot)
		return 0;
	r = add_counter(out, "bramble_boot_events_total",
			"DHCP and TFTP events of Pis read from dnsmasq's log.", m->boot_events);
	if (r == 0)
		r = add_header(
			out, stages, "gauge",
			"Nodes of the manifests seen booting, by how far their last boot got.");
	for (i = 1; r == 0 && i < BOOT_STAGE_COUNT; i++)
		r = buf_printf(out, "%s{stage=\"%s\"} %llu\n", stages,
			       boot_stage_name((enum boot_stage)i),
			       (unsigned long long)m->boot_stage[i]);
	if (r == 0)
		r = add_header(
			out, "bramble_unknown_pis", "gauge",
			"Pis seen booting whose serial no manifest names (bramble discover).");
	if (r == 0)
		r = buf_printf(out, "bramble_unknown_pis %llu\n",
			       (unsigned long long)m->boot_unknown);
	return r;
}

void metrics_notify(struct metrics *m, enum metrics_notify_result result)
{
	pthread_mutex_lock(&m->lock);
	if ((unsigned)result < METRICS_N_NOTIFY)
		m->notifications[result]++;
	pthread_mutex_unlock(&m->lock);
}

static int add_notify(struct buf *out, const struct metrics *m)
{
	static const char *const results[METRICS_N_NOTIFY] = {"sent", "failed", "dropped"};
	const char *name = "bramble_notifications_total";
	size_t i;
	int r;

	r = add_header(out, name, "counter",
		       "Notifications to each target (notify.url, notify.urlFile), by result.");
	for (i = 0; r == 0 && i < METRICS_N_NOTIFY; i++)
		r = buf_printf(out, "%s{result=\"%s\"} %llu\n", name, results[i],
			       (unsigned long long)m->notifications[i]);
	return r;
}

int metrics_format(struct metrics *m, struct buf *out)
{
	int r;

	pthread_mutex_lock(&m->lock);
	r = add_passes(out, m);
	if (r == 0)
		r = add_state(out, m);
	if (r == 0)
		r = add_hooks(out, m);
	if (r == 0)
		r = add_reloads(out, m);
	if (r == 0)
		r = add_boot(out, m);
	if (r == 0)
		r = add_notify(out, m);
	pthread_mutex_unlock(&m->lock);
	return r;
}
