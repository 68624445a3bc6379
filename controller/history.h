/*
 * history: the last passes, kept in the state directory (state/history) for
 * `bramble history`, /status and `bramble reconcile`.  Both `bramble apply`
 * and the daemon record each applying pass, under the pass lock, through the
 * atomic writer; the file is bounded (history.limit entries, default 100,
 * and HISTORY_LINE_MAX bytes an entry).
 *
 * Passes that repeat the last one exactly (same trigger, outcome, revision
 * and errors, nothing changed) are one entry with a count ("times"), so a
 * timer that finds nothing to do, or a bad commit retried, does not push the
 * real changes out of the history.
 *
 * The file is one line an entry, oldest first, fields separated by tabs:
 *
 *	time last times trigger outcome kind revision counts duration_ms errors error
 *
 * time and last: Unix seconds of the first and the last pass the entry
 * stands for; counts: "create,update,delete,unchanged,drift,failed,ready,
 * total"; revision and error "-" when none.  A damaged line is reported as
 * "history:LINE: ..." and skipped (it is dropped at the next write): never
 * fatal.
 */
#ifndef BRAMBLE_HISTORY_H
#define BRAMBLE_HISTORY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"
#include "diag.h"
#include "reconcile.h"
#include "../common/buf.h"

#define HISTORY_FILE	   "history"
#define HISTORY_DEFAULT	   100
#define HISTORY_LINE_MAX   1024 /* an entry's line, at most */
#define HISTORY_ERROR_MAX  240	/* the first error, cut here */
#define HISTORY_STATUS_MAX 5	/* entries in /status and `bramble status` */

enum history_count {
	HC_CREATE,
	HC_UPDATE,
	HC_DELETE,
	HC_UNCHANGED,
	HC_DRIFT,
	HC_FAILED,
	HC_READY,
	HC_TOTAL,
	HC_COUNT,
};

struct history_entry {
	int64_t time;	/* Unix seconds: the start of the first pass */
	int64_t last;	/* the start of the last repeat (== time when times is 1) */
	uint64_t times; /* passes this entry stands for */
	char trigger[16];
	char outcome[16]; /* applied, invalid, apply_failed, refused, fetch_failed */
	char kind[8];	  /* full, delta, sealed */
	char revision[256];
	uint64_t counts[HC_COUNT];
	uint64_t duration_ms; /* of the last repeat */
	uint64_t n_errors;
	char error[HISTORY_ERROR_MAX + 1]; /* the first error, "" none */
};

struct history {
	struct history_entry *v; /* oldest first */
	size_t n;
};

/*
 * Make the entry of a pass from its result: trigger (NULL: "cli"), the
 * errors of the pass (may be NULL), its start in Unix seconds.
 */
void history_entry_fill(struct history_entry *e, const struct pass_result *res, const char *trigger,
			const struct diags *d, int64_t start);

/*
 * Parse a history file's data (modified in place; a NUL after len): the
 * good entries go to ret, a damaged line is skipped and the first such
 * error ("history:3: ...") goes to err.  0, or -ENOMEM.
 */
int history_parse(char *data, size_t len, struct history *ret, struct buf *err);

/* The file's text of h (its entries as lines). */
int history_format(const struct history *h, struct buf *out);

/*
 * Add e to h, as a repeat of the last entry when it is one, and drop the
 * oldest entries past limit (limit >= 1).
 */
int history_add(struct history *h, const struct history_entry *e, size_t limit);

/* Read state_dir/history; a missing file is an empty history; err as history_parse. */
int history_load(const char *state_dir, struct history *ret, struct buf *err);

/*
 * Add e to state_dir/history (limit entries; 0: keep no history) with the
 * atomic writer: the caller holds the pass lock.  err gets the damage found
 * in the old file, if any (its good lines are kept).
 */
int history_record(const char *state_dir, const struct history_entry *e, unsigned limit,
		   struct buf *err);

/* The entry as the JSON object of bramble/history/v1. */
json_t *history_entry_json(const struct history_entry *e);

/* "2026-12-05T13:47:12Z  timer  applied  REV: 1 created, ... (×3)" */
void history_entry_print(const struct history_entry *e, FILE *out);

/* `bramble history [-n N] [--json]`: an enum exit_code. */
int history_command(const struct bramble_config *cfg, size_t n, bool json, FILE *out);

/* /status and `bramble status --json`: "history", the last few entries (newest first). */
void history_status_merge(json_t *st, const char *state_dir);

/* `bramble status`: the last few passes, newest first. */
void history_status_print(const char *state_dir, FILE *out);

void history_release(struct history *h);

#endif
