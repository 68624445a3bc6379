/*
 * suspend: `bramble suspend [--reason TEXT]` and `bramble resume`, as Flux
 * suspends a Kustomization.  A suspension is the file state/suspended (who,
 * when, why), made durable with the atomic writer; while it is there the
 * daemon skips its passes (start, timer, retry, SIGHUP, webhook) and says so,
 * `bramble apply` and `bramble reconcile` refuse (exit 75) unless --force,
 * and serving is unaffected (/readyz stays ready).  A damaged file still
 * suspends: an operator asked for it.
 *
 * The file: lines "by\tWHO", "since\tUNIX-SECONDS", "reason\tTEXT".
 */
#ifndef BRAMBLE_SUSPEND_H
#define BRAMBLE_SUSPEND_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"
#include "../common/buf.h"

#define SUSPEND_FILE	   "suspended"
#define SUSPEND_REASON_MAX 200

struct suspension {
	bool on;
	int64_t since; /* Unix seconds; 0 unknown */
	char by[64];
	char reason[SUSPEND_REASON_MAX + 1];
};

/* Read state_dir/suspended into ret (ret->on false: none); err gets a damaged file's message. */
int suspend_load(const char *state_dir, struct suspension *ret, struct buf *err);

/* Whether state_dir is suspended (a file that cannot be read: yes). */
bool suspend_is_on(const char *state_dir);

/* "suspended by root since 2026-12-05T13:47:12Z (reason: ...)" */
int suspend_describe(const struct suspension *s, struct buf *out);

/* {"by", "since", "reason"}, or null when not suspended. */
json_t *suspend_json(const struct suspension *s);

/* `bramble suspend`, `bramble resume`: enum exit_code. */
int suspend_command(const struct bramble_config *cfg, const char *reason);
int resume_command(const struct bramble_config *cfg);

/*
 * The refusal of a pass by hand (apply, reconcile) while suspended: says so
 * on stderr and returns true, unless force (then it says it goes on).
 */
bool suspend_refuses(const struct bramble_config *cfg, const char *cmd, bool force);

/* /status and `status --json`: "suspended". */
void suspend_status_merge(json_t *st, const char *state_dir);
/* `bramble status`: a line when suspended. */
void suspend_status_print(const char *state_dir, FILE *out);

#endif
