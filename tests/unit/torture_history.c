/*
 * torture_history: the state/history file (history.h) and the suspension
 * file (suspend.h).  An entry made from a pass result survives format and
 * parse unchanged; a revision or error with tabs and newlines stays on one
 * line; a pass that repeats the last one (nothing changed, same errors)
 * counts on the same entry, a change never does; the limit drops the
 * oldest; every damaged line is skipped and the first is named
 * "history:LINE:", the good lines kept; a file written by history_record
 * is read back; a suspension is recorded with its reason, and a damaged
 * suspension file still suspends; bramble_suspended follows.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "history.h"
#include "metrics.h"
#include "status.h"
#include "suspend.h"
#include "../common/fsutil.h"

static struct pass_result result(int outcome, size_t created, const char *rev)
{
	struct pass_result r;

	memset(&r, 0, sizeof(r));
	r.outcome = outcome;
	r.n_create = created;
	r.n_unchanged = 7;
	r.nodes_total = 3;
	r.nodes_ready = 3;
	r.duration_s = 1.25;
	snprintf(r.revision, sizeof(r.revision), "%s", rev);
	return r;
}

static struct history_entry entry(const char *trigger, int outcome, size_t created, int64_t t)
{
	struct pass_result r = result(outcome, created, "main@sha1:0123abcd");
	struct history_entry e;

	history_entry_fill(&e, &r, trigger, NULL, t);
	return e;
}

/* Format h and parse the text back into ret; the parse error, if any, in err. */
static void round_trip(const struct history *h, struct history *ret, struct buf *err)
{
	struct buf text = BUF_INIT;

	assert_int_equal(history_format(h, &text), 0);
	assert_int_equal(history_parse(text.data, text.len, ret, err), 0);
	buf_release(&text);
}

static void test_round_trip(void **state)
{
	struct pass_result r = result(PASS_INVALID, 0, "dir:/srv/m\tx\n@sha256:ab");
	struct diags d = DIAGS_INIT;
	struct history h = {NULL, 0}, back = {NULL, 0};
	struct history_entry e;
	struct buf err = BUF_INIT;

	(void)state;
	assert_int_equal(diags_add(&d, &(struct pos){"nodes/pi4.yaml", 7, 3},
				   "unknown field \"colour\"\tand\na newline"),
			 0);
	history_entry_fill(&e, &r, NULL, &d, 1764940000);
	assert_string_equal(e.trigger, "cli");
	assert_string_equal(e.outcome, "invalid");
	assert_int_equal(e.n_errors, 1);
	assert_non_null(strstr(e.error, "nodes/pi4.yaml:7:3: unknown field"));
	assert_null(strchr(e.error, '\t'));
	assert_null(strchr(e.revision, '\n'));
	assert_int_equal(history_add(&h, &e, 100), 0);
	round_trip(&h, &back, &err);
	assert_int_equal(err.len, 0);
	assert_int_equal(back.n, 1);
	assert_memory_equal(&back.v[0], &e, sizeof(e));
	assert_int_equal(back.v[0].duration_ms, 1250);
	history_release(&h);
	history_release(&back);
	diags_release(&d);
	buf_release(&err);
}

static void test_repeats(void **state)
{
	struct history h = {NULL, 0};
	struct history_entry e;

	(void)state;
	e = entry("timer", PASS_APPLIED, 0, 100);
	assert_int_equal(history_add(&h, &e, 100), 0);
	e = entry("timer", PASS_APPLIED, 0, 160);
	assert_int_equal(history_add(&h, &e, 100), 0);
	assert_int_equal(h.n, 1);
	assert_int_equal(h.v[0].times, 2);
	assert_int_equal(h.v[0].time, 100);
	assert_int_equal(h.v[0].last, 160);
	/* another trigger, a change, another outcome: new entries */
	e = entry("webhook", PASS_APPLIED, 0, 200);
	assert_int_equal(history_add(&h, &e, 100), 0);
	e = entry("webhook", PASS_APPLIED, 2, 260);
	assert_int_equal(history_add(&h, &e, 100), 0);
	e = entry("webhook", PASS_APPLIED, 2, 300);
	assert_int_equal(history_add(&h, &e, 100), 0);
	e = entry("webhook", PASS_APPLY_FAILED, 0, 360);
	assert_int_equal(history_add(&h, &e, 100), 0);
	assert_int_equal(h.n, 5);
	assert_int_equal(h.v[4].times, 1);
	history_release(&h);
}

static void test_limit(void **state)
{
	struct history h = {NULL, 0};
	struct history_entry e;
	int64_t t;

	(void)state;
	for (t = 0; t < 50; t++) {
		e = entry("cli", PASS_APPLIED, 1, t);
		assert_int_equal(history_add(&h, &e, 10), 0);
	}
	assert_int_equal(h.n, 10);
	assert_int_equal(h.v[0].time, 40);
	assert_int_equal(h.v[9].time, 49);
	history_release(&h);
}

static void test_line_bound(void **state)
{
	struct pass_result r = result(PASS_INVALID, 0, "");
	struct diags d = DIAGS_INIT;
	struct history h = {NULL, 0};
	struct history_entry e;
	struct buf text = BUF_INIT;
	char big[4096];

	(void)state;
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	memset(r.revision, 'r', sizeof(r.revision) - 1);
	assert_int_equal(diags_add(&d, NULL, "%s", big), 0);
	history_entry_fill(&e, &r, "a-trigger-name-far-too-long", &d, 1);
	assert_int_equal(history_add(&h, &e, 1), 0);
	assert_int_equal(history_format(&h, &text), 0);
	assert_true(strlen(strchr(text.data, '\n') + 1) <= HISTORY_LINE_MAX + 1);
	history_release(&h);
	assert_int_equal(history_parse(text.data, text.len, &h, NULL), 0);
	assert_int_equal(h.n, 1); /* and it reads back */
	assert_string_equal(h.v[0].trigger, "a-trigger-name-");
	buf_release(&text);
	history_release(&h);
	diags_release(&d);
}

static void test_damaged(void **state)
{
	char data[] =
		"# a comment\n"
		"100\t100\t1\tcli\tapplied\tfull\tmain@sha1:ab\t1,0,0,5,0,0,3,3\t900\t0\t-\n"
		"garbage\n"
		"101\t101\t1\tcli\tapplied\tfull\tmain@sha1:ab\t1,0,0,5,0,0,3\t900\t0\t-\n"
		"102\t101\t1\tcli\tapplied\tfull\t-\t1,0,0,5,0,0,3,3\t900\t0\t-\n"
		"103\t103\t0\tcli\tapplied\tfull\t-\t1,0,0,5,0,0,3,3\t900\t0\t-\n"
		"104\t104\t1\tc l i\tapplied\tfull\t-\t1,0,0,5,0,0,3,3\t900\t0\t-\n"
		"105\t105\t2\ttimer\tinvalid\tfull\t-\t0,0,0,0,0,0,0,0\t12\t3\tx.yaml:1:2: bad\n";
	struct history h = {NULL, 0};
	struct buf err = BUF_INIT;

	(void)state;
	assert_int_equal(history_parse(data, strlen(data), &h, &err), 0);
	assert_int_equal(h.n, 2);
	assert_int_equal(h.v[0].time, 100);
	assert_int_equal(h.v[1].time, 105);
	assert_int_equal(h.v[1].times, 2);
	assert_string_equal(h.v[1].error, "x.yaml:1:2: bad");
	assert_string_equal(h.v[1].revision, "");
	assert_true(strncmp(buf_str(&err), "history:3: ", 11) == 0);
	assert_non_null(strstr(buf_str(&err), "next pass rewrites"));
	history_release(&h);
	buf_release(&err);
}

static void test_record(void **state)
{
	char dir[] = "/tmp/torture_history.XXXXXX";
	struct history h = {NULL, 0};
	struct history_entry e;
	struct buf err = BUF_INIT;
	int i;

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_int_equal(history_load(dir, &h, &err), 0); /* none yet: empty */
	assert_int_equal(h.n, 0);
	for (i = 0; i < 5; i++) {
		e = entry(i % 2 ? "timer" : "webhook", PASS_APPLIED, 1, 1000 + i);
		assert_int_equal(history_record(dir, &e, 3, &err), 0);
	}
	e = entry("cli", PASS_APPLIED, 1, 2000);
	assert_int_equal(history_record(dir, &e, 0, &err), 0); /* history.limit 0: none kept */
	assert_int_equal(history_load(dir, &h, &err), 0);
	assert_int_equal(err.len, 0);
	assert_int_equal(h.n, 3);
	assert_int_equal(h.v[2].time, 1004);
	assert_string_equal(h.v[2].trigger, "webhook");
	history_release(&h);
	buf_release(&err);
	assert_int_equal(harness_run("rm -rf %s", dir), 0);
}

static void test_suspend(void **state)
{
	char dir[] = "/tmp/torture_suspend.XXXXXX";
	struct bramble_config cfg;
	struct suspension s;
	struct metrics m;
	struct buf err = BUF_INIT, text = BUF_INIT;
	char *path;

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_int_equal(config_init(&cfg), 0);
	assert_int_equal(config_set(&cfg.state_dir, dir), 0);
	assert_false(suspend_is_on(dir));
	assert_int_equal(suspend_load(dir, &s, &err), 0);
	assert_false(s.on);
	assert_int_equal(suspend_command(&cfg, "switch\tfirmware"), EXIT_OK);
	assert_true(suspend_is_on(dir));
	assert_int_equal(suspend_load(dir, &s, &err), 0);
	assert_true(s.on);
	assert_string_equal(s.reason, "switch firmware");
	assert_true(s.since > 0);
	assert_true(suspend_refuses(&cfg, "apply", false));
	assert_false(suspend_refuses(&cfg, "apply", true));
	assert_int_equal(metrics_init(&m), 0);
	metrics_suspended(&m, true);
	assert_int_equal(metrics_format(&m, &text), 0);
	assert_non_null(strstr(buf_str(&text), "\nbramble_suspended 1\n"));
	metrics_release(&m);
	/* damaged: still suspended, the damage named */
	path = path_join(dir, SUSPEND_FILE);
	assert_int_equal(harness_run("printf 'nonsense\\n' > %s", path), 0);
	assert_int_equal(suspend_load(dir, &s, &err), 0);
	assert_true(s.on);
	assert_true(strncmp(buf_str(&err), "suspended:1: ", 13) == 0);
	assert_int_equal(resume_command(&cfg), EXIT_OK);
	assert_false(suspend_is_on(dir));
	assert_false(suspend_refuses(&cfg, "apply", false));
	free(path);
	buf_release(&err);
	buf_release(&text);
	config_release(&cfg);
	assert_int_equal(harness_run("rm -rf %s", dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip), cmocka_unit_test(test_repeats),
		cmocka_unit_test(test_limit),	   cmocka_unit_test(test_line_bound),
		cmocka_unit_test(test_damaged),	   cmocka_unit_test(test_record),
		cmocka_unit_test(test_suspend),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
