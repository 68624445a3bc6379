/*
 * torture_metrics: the Prometheus text the daemon serves.  Every sample
 * belongs to a family announced by HELP and TYPE; histograms are cumulative
 * and end in +Inf, _sum and _count; label values are escaped; a failed pass
 * counts by reason and leaves the served revision and the node counts alone;
 * the output buffer's limit is kept; recording and formatting from two
 * threads at once is safe.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "metrics.h"
#include "resource.h"
#include "status.h"

static char *format(struct metrics *m)
{
	struct buf b = BUF_INIT;
	char *s;

	assert_int_equal(metrics_format(m, &b), 0);
	s = buf_detach(&b, NULL);
	assert_non_null(s);
	return s;
}

static void has_line(const char *text, const char *line)
{
	const char *p = text;
	size_t n = strlen(line);

	while ((p = strstr(p, line)) != NULL) {
		if ((p == text || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\0'))
			return;
		p += n;
	}
	fail_msg("no line \"%s\" in:\n%s", line, text);
}

static void lacks_text(const char *text, const char *needle)
{
	if (strstr(text, needle))
		fail_msg("\"%s\" should not be in:\n%s", needle, text);
}

/* The family of a sample: its name without labels and histogram suffixes. */
static void family_of(const char *line, char *out, size_t size)
{
	static const char *const suffixes[] = {"_bucket", "_sum", "_count"};
	size_t n = strcspn(line, "{ "), i, sl;

	snprintf(out, size, "%.*s", (int)n, line);
	for (i = 0; i < 3; i++) {
		sl = strlen(suffixes[i]);
		n = strlen(out);
		if (n > sl && strcmp(out + n - sl, suffixes[i]) == 0 &&
		    strstr(line, "duration_seconds"))
			out[n - sl] = '\0';
	}
}

/* Every sample line follows "# HELP" and "# TYPE" lines of its family. */
static void check_exposition(const char *text)
{
	char *copy = strdup(text), *save = NULL, *line, fam[128], help[160], type[160];
	int samples = 0;

	assert_non_null(copy);
	for (line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (line[0] == '#') {
			assert_true(strncmp(line, "# HELP bramble_", 15) == 0 ||
				    strncmp(line, "# TYPE bramble_", 15) == 0);
			continue;
		}
		assert_true(strncmp(line, "bramble_", 8) == 0);
		assert_non_null(strchr(line, ' '));
		family_of(line, fam, sizeof(fam));
		snprintf(help, sizeof(help), "# HELP %s ", fam);
		snprintf(type, sizeof(type), "# TYPE %s ", fam);
		if (!strstr(text, help) || !strstr(text, type))
			fail_msg("sample \"%s\" has no HELP or TYPE for %s", line, fam);
		samples++;
	}
	assert_true(samples > 20);
	free(copy);
}

static void test_fresh(void **state)
{
	struct metrics m;
	char *s;

	(void)state;
	assert_int_equal(metrics_init(&m), 0);
	s = format(&m);
	check_exposition(s);
	has_line(s, "# TYPE bramble_reconcile_passes_total counter");
	has_line(s, "bramble_reconcile_passes_total 0");
	has_line(s, "bramble_reconcile_failures_total{reason=\"invalid\"} 0");
	has_line(s, "bramble_reconcile_failures_total{reason=\"fetch_failed\"} 0");
	has_line(s, "# TYPE bramble_reconcile_duration_seconds histogram");
	has_line(s, "bramble_reconcile_duration_seconds_bucket{le=\"+Inf\"} 0");
	has_line(s, "# TYPE bramble_fetch_duration_seconds histogram");
	has_line(s, "bramble_last_success_timestamp_seconds 0.000");
	has_line(s, "# TYPE bramble_applied_revision_info gauge");
	lacks_text(s, "bramble_applied_revision_info{");
	lacks_text(s, "bramble_nodes{");
	has_line(s, "bramble_drift_repairs_total 0");
	has_line(s, "bramble_resources_changed_total{op=\"create\"} 0");
	has_line(s, "bramble_webhook_requests_total{result=\"rejected\"} 0");
	free(s);
	metrics_release(&m);
}

/*
 * Boot observation: absent until the daemon follows a log, then a fixed set
 * of series (one per stage, no node label) however many nodes there are.
 */
static void test_boot(void **state)
{
	struct bootwatch_counts c;
	struct metrics m;
	char *s;

	(void)state;
	assert_int_equal(metrics_init(&m), 0);
	s = format(&m);
	lacks_text(s, "bramble_boot_");
	lacks_text(s, "bramble_unknown_pis");
	free(s);
	memset(&c, 0, sizeof(c));
	c.events = 12345;
	c.by_stage[BOOT_STAGE_KERNEL] = 9998;
	c.by_stage[BOOT_STAGE_CONFIG] = 2;
	c.unknown = 3;
	metrics_boot(&m, &c);
	s = format(&m);
	check_exposition(s);
	has_line(s, "# TYPE bramble_boot_events_total counter");
	has_line(s, "bramble_boot_events_total 12345");
	has_line(s, "# TYPE bramble_boot_nodes gauge");
	has_line(s, "bramble_boot_nodes{stage=\"kernel\"} 9998");
	has_line(s, "bramble_boot_nodes{stage=\"config\"} 2");
	has_line(s, "bramble_boot_nodes{stage=\"dhcp\"} 0");
	lacks_text(s, "stage=\"none\"");
	has_line(s, "bramble_unknown_pis 3");
	free(s);
	metrics_release(&m);
}

static void pass_fill(struct pass_result *r, int outcome, const char *rev, double dur)
{
	memset(r, 0, sizeof(*r));
	r->outcome = outcome;
	snprintf(r->revision, sizeof(r->revision), "%s", rev);
	r->duration_s = dur;
	r->fetch_s = dur / 10;
}

static void test_passes(void **state)
{
	struct metrics m;
	struct pass_result r;
	char *s;

	(void)state;
	assert_int_equal(metrics_init(&m), 0);
	pass_fill(&r, PASS_APPLIED, "main@sha1:abc", 0.3);
	r.n_create = 5;
	r.n_update = 2;
	r.n_delete = 1;
	r.n_drift = 3;
	r.nodes_total = 10;
	r.nodes_ready = 9;
	metrics_pass(&m, &r, 1700000000.5);
	pass_fill(&r, PASS_INVALID, "main@sha1:bad", 0.004);
	r.kind = PASS_KIND_DELTA;
	metrics_pass(&m, &r, 1700000100.0);
	pass_fill(&r, PASS_FETCH_FAILED, "", 45);
	metrics_pass(&m, &r, 1700000200.0);
	pass_fill(&r, PASS_APPLY_FAILED, "main@sha1:half", 1000);
	r.n_update = 4;
	r.nodes_total = 10;
	r.nodes_ready = 7;
	metrics_pass(&m, &r, 1700000300.0);
	s = format(&m);
	check_exposition(s);
	has_line(s, "bramble_reconcile_passes_total 4");
	has_line(s, "bramble_reconcile_pass_kinds_total{kind=\"full\"} 3");
	has_line(s, "bramble_reconcile_pass_kinds_total{kind=\"delta\"} 1");
	has_line(s, "bramble_reconcile_pass_kinds_total{kind=\"sealed\"} 0");
	has_line(s, "bramble_reconcile_failures_total{reason=\"invalid\"} 1");
	has_line(s, "bramble_reconcile_failures_total{reason=\"fetch_failed\"} 1");
	has_line(s, "bramble_reconcile_failures_total{reason=\"apply_failed\"} 1");
	has_line(s, "bramble_reconcile_failures_total{reason=\"refused\"} 0");
	/* 0.004 -> 0.01; 0.3 -> 0.5; 45 -> 60; 1000 -> +Inf only. */
	has_line(s, "bramble_reconcile_duration_seconds_bucket{le=\"0.01\"} 1");
	has_line(s, "bramble_reconcile_duration_seconds_bucket{le=\"0.25\"} 1");
	has_line(s, "bramble_reconcile_duration_seconds_bucket{le=\"0.5\"} 2");
	has_line(s, "bramble_reconcile_duration_seconds_bucket{le=\"30\"} 2");
	has_line(s, "bramble_reconcile_duration_seconds_bucket{le=\"60\"} 3");
	has_line(s, "bramble_reconcile_duration_seconds_bucket{le=\"300\"} 3");
	has_line(s, "bramble_reconcile_duration_seconds_bucket{le=\"+Inf\"} 4");
	has_line(s, "bramble_reconcile_duration_seconds_count 4");
	has_line(s, "bramble_reconcile_duration_seconds_sum 1045.304000");
	has_line(s, "bramble_fetch_duration_seconds_count 4");
	/* The last success and the revision are the applied pass's. */
	has_line(s, "bramble_last_success_timestamp_seconds 1700000000.500");
	has_line(s, "bramble_applied_revision_info{revision=\"main@sha1:abc\"} 1");
	lacks_text(s, "sha1:bad");
	lacks_text(s, "sha1:half");
	/* Node counts from the last pass that carried out a plan. */
	has_line(s, "bramble_nodes{state=\"ready\"} 7");
	has_line(s, "bramble_nodes{state=\"not_ready\"} 3");
	has_line(s, "bramble_drift_repairs_total 3");
	has_line(s, "bramble_resources_changed_total{op=\"create\"} 5");
	has_line(s, "bramble_resources_changed_total{op=\"update\"} 6");
	has_line(s, "bramble_resources_changed_total{op=\"delete\"} 1");
	free(s);
	metrics_release(&m);
}

/* Reload commands that failed count by action; the deferred switches are the last applied pass's. */
/*
 * bramble_images: fetching is counted at each scrape, the rest as of the
 * last applying pass, less the images being fetched that it counted as
 * missing; before any pass, fetching alone.
 */
static void test_images(void **state)
{
	struct pass_result r;
	struct metrics m;
	char *t;

	(void)state;
	assert_int_equal(metrics_init(&m), 0);
	metrics_fetching(&m, 1);
	t = format(&m);
	has_line(t, "bramble_images{state=\"fetching\"} 1");
	lacks_text(t, "bramble_images{state=\"missing\"}");
	free(t);
	pass_fill(&r, PASS_FETCH_FAILED, "abc", 1);
	r.have_images = true;
	r.images[IMAGE_STATE_MISSING] = 2;
	r.images[IMAGE_STATE_PARTIAL] = 1;
	r.images[IMAGE_STATE_PRESENT] = 3;
	metrics_pass(&m, &r, 100);
	t = format(&m); /* one of the two missing is being fetched */
	has_line(t, "bramble_images{state=\"fetching\"} 1");
	has_line(t, "bramble_images{state=\"missing\"} 1");
	has_line(t, "bramble_images{state=\"partial\"} 1");
	has_line(t, "bramble_images{state=\"present\"} 3");
	free(t);
	metrics_fetching(&m, 3); /* both missing, then the partial one */
	t = format(&m);
	has_line(t, "bramble_images{state=\"fetching\"} 3");
	has_line(t, "bramble_images{state=\"missing\"} 0");
	has_line(t, "bramble_images{state=\"partial\"} 0");
	free(t);
	metrics_fetching(&m, 0);
	t = format(&m);
	has_line(t, "bramble_images{state=\"fetching\"} 0");
	has_line(t, "bramble_images{state=\"missing\"} 2");
	free(t);
	metrics_release(&m);
}

static void test_reloads(void **state)
{
	struct metrics m;
	struct pass_result r;
	char *s;

	(void)state;
	assert_int_equal(metrics_init(&m), 0);
	pass_fill(&r, PASS_APPLY_FAILED, "main@sha1:a", 0.1);
	r.reloads_failed = ACTION_DHCP_RESTART | ACTION_NFS_RELOAD;
	metrics_pass(&m, &r, 1700000000.0);
	pass_fill(&r, PASS_APPLIED, "main@sha1:b", 0.1);
	r.reloads_failed = ACTION_NFS_RELOAD;
	r.n_deferred = 2;
	metrics_pass(&m, &r, 1700000010.0);
	s = format(&m);
	check_exposition(s);
	has_line(s, "bramble_reload_failures_total{action=\"dnsmasq_reload\"} 0");
	has_line(s, "bramble_reload_failures_total{action=\"dnsmasq_restart\"} 1");
	has_line(s, "bramble_reload_failures_total{action=\"nfs_reload\"} 2");
	has_line(s, "bramble_reload_failures_total{action=\"nfs_restart\"} 0");
	has_line(s, "bramble_deferred_switches 2");
	free(s);
	pass_fill(&r, PASS_APPLIED, "main@sha1:c", 0.1);
	metrics_pass(&m, &r, 1700000020.0);
	s = format(&m);
	has_line(s, "bramble_deferred_switches 0");
	free(s);
	metrics_release(&m);
}

static void test_seed_and_escaping(void **state)
{
	struct metrics m;
	char *s;

	(void)state;
	assert_int_equal(metrics_init(&m), 0);
	metrics_seed(&m, "dir:/a \"b\"\\c\nd@sha256:1", 1600000000, 4, 1);
	metrics_hook(&m, true);
	metrics_hook(&m, false);
	metrics_hook(&m, false);
	s = format(&m);
	check_exposition(s);
	has_line(
		s,
		"bramble_applied_revision_info{revision=\"dir:/a \\\"b\\\"\\\\c\\nd@sha256:1\"} 1");
	has_line(s, "bramble_last_success_timestamp_seconds 1600000000.000");
	has_line(s, "bramble_nodes{state=\"ready\"} 4");
	has_line(s, "bramble_nodes{state=\"not_ready\"} 1");
	has_line(s, "bramble_webhook_requests_total{result=\"accepted\"} 1");
	has_line(s, "bramble_webhook_requests_total{result=\"rejected\"} 2");
	has_line(s, "bramble_reconcile_passes_total 0");
	free(s);
	/* Unknown node counts stay unknown. */
	metrics_release(&m);
	assert_int_equal(metrics_init(&m), 0);
	metrics_seed(&m, "r", 0, -1, -1);
	s = format(&m);
	lacks_text(s, "bramble_nodes{");
	has_line(s, "bramble_applied_revision_info{revision=\"r\"} 1");
	free(s);
	metrics_release(&m);
}

static void test_limit(void **state)
{
	struct metrics m;
	struct buf b = BUF_INIT;

	(void)state;
	assert_int_equal(metrics_init(&m), 0);
	buf_set_max(&b, 200);
	assert_int_equal(metrics_format(&m, &b), -E2BIG);
	assert_true(b.len <= 200);
	buf_release(&b);
	metrics_release(&m);
}

static void *hammer(void *arg)
{
	struct metrics *m = arg;
	struct pass_result r;
	int i;

	pass_fill(&r, PASS_APPLIED, "rev", 0.1);
	for (i = 0; i < 2000; i++) {
		metrics_pass(m, &r, 1.0);
		metrics_hook(m, i % 2);
	}
	return NULL;
}

static void test_threads(void **state)
{
	struct metrics m;
	pthread_t t;
	char *s;
	int i;

	(void)state;
	assert_int_equal(metrics_init(&m), 0);
	assert_int_equal(pthread_create(&t, NULL, hammer, &m), 0);
	for (i = 0; i < 50; i++) {
		s = format(&m);
		free(s);
	}
	assert_int_equal(pthread_join(t, NULL), 0);
	s = format(&m);
	has_line(s, "bramble_reconcile_passes_total 2000");
	has_line(s, "bramble_reconcile_duration_seconds_bucket{le=\"+Inf\"} 2000");
	has_line(s, "bramble_webhook_requests_total{result=\"accepted\"} 1000");
	free(s);
	metrics_release(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fresh),	cmocka_unit_test(test_passes),
		cmocka_unit_test(test_reloads), cmocka_unit_test(test_seed_and_escaping),
		cmocka_unit_test(test_limit),	cmocka_unit_test(test_threads),
		cmocka_unit_test(test_boot),	cmocka_unit_test(test_images),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
