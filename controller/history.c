#include "history.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "state_text.h"
#include "status.h"
#include "../common/fsutil.h"
#include "../common/parse.h"

/* The largest file read: history.limit (at most 1000) full lines, and room. */
#define HISTORY_READ_MAX ((size_t)2 << 20)
#define HISTORY_HINT	 "the line is skipped; the next pass rewrites the file without it"
#define N_FIELDS	 11

static const char *const count_names[HC_COUNT] = {
	"create", "update", "delete", "unchanged", "drift", "failed", "ready", "total",
};

static const char *outcome_word(int outcome)
{
	switch (outcome) {
	case PASS_APPLIED:
		return "applied";
	case PASS_APPLY_FAILED:
		return "apply_failed";
	case PASS_REFUSED:
		return "refused";
	case PASS_FETCH_FAILED:
		return "fetch_failed";
	default:
		return "invalid";
	}
}

static const char *const kind_words[PASS_KIND_COUNT] = {"full", "delta", "sealed"};

/* The first error, as "file:line:col: message" (or the message alone). */
static void first_error(struct history_entry *e, const struct diags *d,
			const struct pass_result *res)
{
	char msg[HISTORY_ERROR_MAX + 1];

	if (d && d->n > 0) {
		const struct diag *g = &d->v[0];

		if (g->file)
			snprintf(msg, sizeof(msg), "%s:%u:%u: %s", g->file, g->line, g->col,
				 g->msg);
		else
			snprintf(msg, sizeof(msg), "%s", g->msg);
	} else if (res->n_failed) {
		snprintf(msg, sizeof(msg), "%zu resource%s could not be applied", res->n_failed,
			 res->n_failed == 1 ? "" : "s");
	} else {
		msg[0] = '\0';
	}
	state_text_copy(e->error, sizeof(e->error), msg);
}

void history_entry_fill(struct history_entry *e, const struct pass_result *res, const char *trigger,
			const struct diags *d, int64_t start)
{
	memset(e, 0, sizeof(*e));
	e->time = e->last = start;
	e->times = 1;
	state_text_copy(e->trigger, sizeof(e->trigger), trigger ? trigger : "cli");
	state_text_copy(e->outcome, sizeof(e->outcome), outcome_word(res->outcome));
	state_text_copy(e->kind, sizeof(e->kind),
			res->kind < PASS_KIND_COUNT ? kind_words[res->kind] : "full");
	state_text_copy(e->revision, sizeof(e->revision), res->revision);
	e->counts[HC_CREATE] = res->n_create;
	e->counts[HC_UPDATE] = res->n_update;
	e->counts[HC_DELETE] = res->n_delete;
	e->counts[HC_UNCHANGED] = res->n_unchanged;
	e->counts[HC_DRIFT] = res->n_drift;
	e->counts[HC_FAILED] = res->n_failed;
	e->counts[HC_READY] = res->nodes_ready;
	e->counts[HC_TOTAL] = res->nodes_total;
	e->duration_ms = res->duration_s > 0 ? (uint64_t)(res->duration_s * 1000 + 0.5) : 0;
	e->n_errors = (d ? d->n + d->dropped : 0) + res->n_failed;
	first_error(e, d, res);
}

/* A word field: letters, digits, '_' and '-' only, at most size - 1 of them. */
static int word_field(struct state_reader *sr, const char *what, const char *s, char *out,
		      size_t size)
{
	size_t i, n = strlen(s);

	for (i = 0; i < n; i++)
		if (!(s[i] == '_' || s[i] == '-' || (s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9')))
			break;
	if (n == 0 || i < n || n >= size)
		return state_error(sr, "bad %s \"%.40s\": expected a word", what, s);
	memcpy(out, s, n + 1);
	return 0;
}

/* A text field ("-": empty), no longer than size - 1. */
static int text_field(struct state_reader *sr, const char *what, const char *s, char *out,
		      size_t size)
{
	if (strlen(s) >= size)
		return state_error(sr, "%s too long (%zu bytes): at most %zu", what, strlen(s),
				   size - 1);
	snprintf(out, size, "%s", strcmp(s, "-") == 0 ? "" : s);
	return 0;
}

static int parse_counts(struct state_reader *sr, char *s, struct history_entry *e)
{
	char *f[STATE_MAX_FIELDS];
	size_t n, i;
	int r;

	r = state_split(sr, s, ',', HC_COUNT, HC_COUNT, f, &n,
			"counts create,update,delete,unchanged,drift,failed,ready,total");
	for (i = 0; r == 0 && i < HC_COUNT; i++)
		r = state_u64(sr, count_names[i], f[i], 10, UINT32_MAX, &e->counts[i]);
	return r;
}

static int parse_entry(struct state_reader *sr, char *line, struct history_entry *e)
{
	char *f[STATE_MAX_FIELDS];
	size_t n;
	int r;

	memset(e, 0, sizeof(*e));
	if (strlen(line) > HISTORY_LINE_MAX)
		return state_error(sr, "a line of %zu bytes: at most %d", strlen(line),
				   HISTORY_LINE_MAX);
	r = state_split(sr, line, '\t', N_FIELDS, N_FIELDS, f, &n,
			"time, last, times, trigger, outcome, kind, revision, counts, duration_ms, "
			"errors and error, separated by tabs");
	if (r == 0)
		r = state_i64(sr, "time", f[0], 0, INT64_MAX, &e->time);
	if (r == 0)
		r = state_i64(sr, "last", f[1], e->time, INT64_MAX, &e->last);
	if (r == 0)
		r = state_u64(sr, "times", f[2], 10, UINT64_MAX, &e->times);
	if (r == 0 && e->times == 0)
		r = state_error(sr, "bad times \"0\": expected at least 1");
	if (r == 0)
		r = word_field(sr, "trigger", f[3], e->trigger, sizeof(e->trigger));
	if (r == 0)
		r = word_field(sr, "outcome", f[4], e->outcome, sizeof(e->outcome));
	if (r == 0)
		r = word_field(sr, "kind", f[5], e->kind, sizeof(e->kind));
	if (r == 0)
		r = text_field(sr, "revision", f[6], e->revision, sizeof(e->revision));
	if (r == 0)
		r = parse_counts(sr, f[7], e);
	if (r == 0)
		r = state_u64(sr, "duration_ms", f[8], 10, UINT64_MAX, &e->duration_ms);
	if (r == 0)
		r = state_u64(sr, "errors", f[9], 10, UINT64_MAX, &e->n_errors);
	if (r == 0)
		r = text_field(sr, "error", f[10], e->error, sizeof(e->error));
	return r;
}

static int history_push(struct history *h, const struct history_entry *e)
{
	struct history_entry *v = realloc(h->v, (h->n + 1) * sizeof(*v));

	if (!v)
		return -ENOMEM;
	h->v = v;
	h->v[h->n++] = *e;
	return 0;
}

int history_parse(char *data, size_t len, struct history *ret, struct buf *err)
{
	struct state_reader sr;
	struct history_entry e;
	char *line = NULL;
	int r;

	state_reader_init(&sr, HISTORY_FILE, HISTORY_HINT, data, len, err);
	for (;;) {
		r = state_next_line(&sr, &line);
		if (r == 0)
			return 0;
		if (r < 0 || parse_entry(&sr, line, &e) < 0)
			continue; /* said in err (the first); the good lines count */
		r = history_push(ret, &e);
		if (r < 0)
			return r;
	}
}

static int entry_format(const struct history_entry *e, struct buf *out)
{
	size_t i;
	int r;

	r = buf_printf(out, "%" PRId64 "\t%" PRId64 "\t%" PRIu64 "\t%s\t%s\t%s\t%s\t", e->time,
		       e->last, e->times, e->trigger, e->outcome, e->kind,
		       e->revision[0] ? e->revision : "-");
	for (i = 0; r == 0 && i < HC_COUNT; i++)
		r = buf_printf(out, "%s%" PRIu64, i ? "," : "", e->counts[i]);
	if (r == 0)
		r = buf_printf(out, "\t%" PRIu64 "\t%" PRIu64 "\t%s\n", e->duration_ms, e->n_errors,
			       e->error[0] ? e->error : "-");
	return r;
}

int history_format(const struct history *h, struct buf *out)
{
	size_t i;
	int r = buf_adds(out, "# bramble history v1: time last times trigger outcome kind "
			      "revision counts duration_ms errors error\n");

	for (i = 0; r == 0 && i < h->n; i++)
		r = entry_format(&h->v[i], out);
	return r;
}

/* Whether e repeats last: the same pass again, nothing changed. */
static bool is_repeat(const struct history_entry *last, const struct history_entry *e)
{
	size_t i;

	for (i = 0; i <= HC_FAILED; i++)
		if (i != HC_UNCHANGED && (last->counts[i] || e->counts[i]))
			return false;
	return strcmp(last->trigger, e->trigger) == 0 && strcmp(last->outcome, e->outcome) == 0 &&
	       strcmp(last->revision, e->revision) == 0 && strcmp(last->error, e->error) == 0 &&
	       last->n_errors == e->n_errors && last->counts[HC_READY] == e->counts[HC_READY] &&
	       last->counts[HC_TOTAL] == e->counts[HC_TOTAL];
}

int history_add(struct history *h, const struct history_entry *e, size_t limit)
{
	struct history_entry *last = h->n ? &h->v[h->n - 1] : NULL;
	int r;

	if (last && is_repeat(last, e)) {
		last->times++;
		last->last = e->time;
		last->duration_ms = e->duration_ms;
		last->counts[HC_UNCHANGED] = e->counts[HC_UNCHANGED];
		memcpy(last->kind, e->kind, sizeof(last->kind));
	} else {
		r = history_push(h, e);
		if (r < 0)
			return r;
	}
	if (limit && h->n > limit) {
		memmove(h->v, h->v + (h->n - limit), limit * sizeof(*h->v));
		h->n = limit;
	}
	return 0;
}

int history_load(const char *state_dir, struct history *ret, struct buf *err)
{
	char *path = path_join(state_dir, HISTORY_FILE), *data = NULL;
	size_t len = 0;
	int r;

	if (!path)
		return -ENOMEM;
	r = file_read(path, HISTORY_READ_MAX, &data, &len);
	free(path);
	if (r == -ENOENT)
		return 0;
	if (r < 0) {
		(void)buf_printf(err, "%s: cannot read it: %s; %s", HISTORY_FILE,
				 file_read_strerror(r), "the next pass starts a new history");
		return r == -ENOMEM ? r : 0;
	}
	r = history_parse(data, len, ret, err);
	free(data);
	return r;
}

int history_record(const char *state_dir, const struct history_entry *e, unsigned limit,
		   struct buf *err)
{
	struct history h = {NULL, 0};
	struct buf text = BUF_INIT;
	int r;

	if (limit == 0)
		return 0;
	r = history_load(state_dir, &h, err);
	if (r == 0)
		r = history_add(&h, e, limit);
	if (r == 0)
		r = history_format(&h, &text);
	/*
	 * No fsync: a crash may lose the last entries (the rename not yet on
	 * disk) or leave a damaged file, which the reader skips line by line;
	 * a history is not worth a flush per pass.
	 */
	if (r == 0)
		r = state_text_write(state_dir, HISTORY_FILE, &text, ATOMIC_SYNC_NONE);
	buf_release(&text);
	history_release(&h);
	return r;
}

json_t *history_entry_json(const struct history_entry *e)
{
	json_t *o = json_object(), *c = json_object();
	char at[32], last[32];
	size_t i;

	if (!o || !c) {
		json_decref(o);
		json_decref(c);
		return NULL;
	}
	state_text_time(e->time, at);
	state_text_time(e->last, last);
	for (i = 0; i < HC_COUNT; i++)
		json_object_set_new(c, count_names[i], json_integer((json_int_t)e->counts[i]));
	json_object_set_new(o, "time", json_string(at));
	json_object_set_new(o, "lastTime", json_string(last));
	json_object_set_new(o, "times", json_integer((json_int_t)e->times));
	json_object_set_new(o, "trigger", json_string(e->trigger));
	json_object_set_new(o, "outcome", json_string(e->outcome));
	json_object_set_new(o, "kind", json_string(e->kind));
	json_object_set_new(o, "revision", e->revision[0] ? json_string(e->revision) : json_null());
	json_object_set_new(o, "counts", c);
	json_object_set_new(o, "durationSeconds", json_real((double)e->duration_ms / 1000));
	json_object_set_new(o, "errors", json_integer((json_int_t)e->n_errors));
	json_object_set_new(o, "error", e->error[0] ? json_string(e->error) : json_null());
	return o;
}

void history_entry_print(const struct history_entry *e, FILE *out)
{
	const uint64_t *c = e->counts;
	char at[32];

	state_text_time(e->time, at);
	fprintf(out, "%s  %-8s %-12s %s", at, e->trigger, e->outcome,
		e->revision[0] ? e->revision : "(no revision)");
	if (strcmp(e->outcome, "applied") == 0 || strcmp(e->outcome, "apply_failed") == 0)
		fprintf(out,
			": %" PRIu64 " created, %" PRIu64 " updated, %" PRIu64 " deleted, %" PRIu64
			" unchanged, %" PRIu64 " drift repaired, %" PRIu64 " failed; %" PRIu64
			"/%" PRIu64 " nodes ready",
			c[HC_CREATE], c[HC_UPDATE], c[HC_DELETE], c[HC_UNCHANGED], c[HC_DRIFT],
			c[HC_FAILED], c[HC_READY], c[HC_TOTAL]);
	fprintf(out, "; %.3f s", (double)e->duration_ms / 1000);
	if (e->times > 1) {
		char last[32];

		state_text_time(e->last, last);
		fprintf(out, "; x%" PRIu64 " (the last at %s)", e->times, last);
	}
	fputc('\n', out);
	if (e->n_errors)
		fprintf(out, "    %" PRIu64 " error%s: %s\n", e->n_errors,
			e->n_errors == 1 ? "" : "s", e->error);
}

static int print_json(const struct history *h, size_t from, FILE *out)
{
	json_t *doc = json_object(), *arr = json_array();
	size_t i;
	int r = 0;

	if (!doc || !arr) {
		json_decref(doc);
		json_decref(arr);
		return -ENOMEM;
	}
	for (i = h->n; i > from; i--)
		json_array_append_new(arr, history_entry_json(&h->v[i - 1]));
	json_object_set_new(doc, "schema", json_string("bramble/history/v1"));
	json_object_set_new(doc, "entries", arr);
	if (json_dumpf(doc, out, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_REAL_PRECISION(6)) < 0)
		r = -EIO;
	fputc('\n', out);
	json_decref(doc);
	return r;
}

int history_command(const struct bramble_config *cfg, size_t n, bool json, FILE *out)
{
	struct history h = {NULL, 0};
	struct buf err = BUF_INIT;
	size_t from, i;
	int r;

	r = history_load(cfg->state_dir, &h, &err);
	if (err.len)
		fprintf(stderr, "bramble history: %s/%s\n", cfg->state_dir, buf_str(&err));
	from = n && h.n > n ? h.n - n : 0;
	if (r == 0 && json)
		r = print_json(&h, from, out);
	else if (r == 0 && h.n == 0)
		fprintf(stderr, "bramble history: no pass recorded in %s yet\n", cfg->state_dir);
	for (i = h.n; r == 0 && !json && i > from; i--)
		history_entry_print(&h.v[i - 1], out);
	buf_release(&err);
	history_release(&h);
	return r < 0 ? EXIT_FAILED : EXIT_OK;
}

void history_status_merge(json_t *st, const char *state_dir)
{
	struct history h = {NULL, 0};
	struct buf err = BUF_INIT;
	json_t *arr = json_array();
	size_t i;

	if (arr && history_load(state_dir, &h, &err) == 0)
		for (i = h.n; i > 0 && h.n - i < HISTORY_STATUS_MAX; i--)
			json_array_append_new(arr, history_entry_json(&h.v[i - 1]));
	json_object_set_new(st, "history", arr ? arr : json_null());
	buf_release(&err);
	history_release(&h);
}

void history_status_print(const char *state_dir, FILE *out)
{
	struct history h = {NULL, 0};
	struct buf err = BUF_INIT;
	size_t i;

	if (history_load(state_dir, &h, &err) == 0 && h.n) {
		fputs("\nLast passes (newest first; bramble history shows more):\n", out);
		for (i = h.n; i > 0 && h.n - i < HISTORY_STATUS_MAX; i--)
			history_entry_print(&h.v[i - 1], out);
	}
	if (err.len)
		fprintf(out, "  (%s)\n", buf_str(&err));
	buf_release(&err);
	history_release(&h);
}

void history_release(struct history *h)
{
	free(h->v);
	h->v = NULL;
	h->n = 0;
}
