/*
 * torture_progress: the progress text (common/progress.c): the bar, the
 * percent, the estimate's "~" and 99% cap, the rate and the ETA; and the
 * meter's rate limit (the first report of a step is silent).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "progress.h"

#define MIB ((uint64_t)1 << 20)

static void test_bar_percent_rate_eta(void **state)
{
	struct progress p = {"download", "raspios", 50 * MIB, 200 * MIB, false, false, 0, 0};
	char out[200];

	(void)state;
	/* 50 MiB in 10 s: 5 MiB/s, 150 MiB left: 30 s */
	progress_format(&p, 10, true, out, sizeof(out));
	assert_string_equal(out,
			    "download raspios  [#####               ]  25%  50.0 MiB / 200.0 MiB"
			    "  5.0 MiB/s  ETA 0:30");
	progress_format(&p, 10, false, out, sizeof(out));
	assert_string_equal(out,
			    "download raspios   25%  50.0 MiB / 200.0 MiB  5.0 MiB/s  ETA 0:30");
}

static void test_estimate_and_unknown_total(void **state)
{
	struct progress p = {"decompress", "os", 300 * MIB, 260 * MIB, true, false, 0, 0};
	char out[200];

	(void)state;
	/* past the estimate: 99%, never 100% before the end */
	progress_format(&p, 3, false, out, sizeof(out));
	assert_string_equal(out,
			    "decompress os   99%  300.0 MiB / ~260.0 MiB  100.0 MiB/s  ETA 0:00");
	p.total = 0; /* unknown: no percent, no ETA */
	progress_format(&p, 3, true, out, sizeof(out));
	assert_string_equal(out, "decompress os  300.0 MiB  100.0 MiB/s");
	p.done = 7200 * MIB;
	p.total = 14400 * MIB;
	p.estimate = false;
	progress_format(&p, 3600, false, out, sizeof(out));
	assert_non_null(strstr(out, "ETA 1:00:00"));
}

static void test_meter(void **state)
{
	struct progress p = {"decompress", "os", 1, 2, false, false, 0, 0};
	struct progress_meter m;

	(void)state;
	progress_meter_init(&m, false, 10);
	assert_false(progress_meter_due(&m, &p, 100.0)); /* the step starts */
	assert_false(progress_meter_due(&m, &p, 105.0));
	assert_true(progress_meter_due(&m, &p, 110.5));
	assert_false(progress_meter_due(&m, &p, 111.0));
	assert_true(progress_meter_elapsed(&m, 111.0) > 10.9);
	p.step = "extract"; /* a new step restarts the clock */
	assert_false(progress_meter_due(&m, &p, 130.0));
	assert_true(progress_meter_elapsed(&m, 130.0) == 0);
	progress_meter_init(&m, true, 10); /* a bar: five a second */
	assert_false(progress_meter_due(&m, &p, 1.0));
	assert_true(progress_meter_due(&m, &p, 1.25));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bar_percent_rate_eta),
		cmocka_unit_test(test_estimate_and_unknown_total),
		cmocka_unit_test(test_meter),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
