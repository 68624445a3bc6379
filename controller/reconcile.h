/*
 * reconcile: one pass over one revision, as DESIGN.md's contract says:
 * read and validate everything, render, observe, plan, apply, post-apply
 * actions, record.  Any validation error: nothing is applied or deleted.
 * When the seal of the last pass holds, a pass stops after reading the
 * source; when only files of Nodes changed, it is a delta pass over those
 * (pass_seal.c, reconcilers/seal.h).
 */
#ifndef BRAMBLE_RECONCILE_H
#define BRAMBLE_RECONCILE_H

#include <stdbool.h>
#include <stdio.h>

#include "config.h"

struct buf;
struct seal;
struct seal_entry;

enum pass_mode {
	PASS_MODE_VALIDATE,
	PASS_MODE_PLAN,
	PASS_MODE_APPLY,
};

/*
 * The daemon's memory of the last failure's errors, so that a revision
 * retried with the same errors has them logged once, then "still failing (N
 * times)" until they change.  Zeroed: nothing remembered.
 */
struct error_memo {
	char digest[65]; /* of the message and every error; "" none */
	unsigned times;	 /* passes that failed with them */
};

struct pass_opts {
	enum pass_mode mode;
	bool verbose;
	bool adopt;
	bool accept_selector_change; /* apply under a selector other than the recorded one */
	bool color;   /* plan: + green, ~ yellow, - red, ! bold (a terminal, or --color=always) */
	bool json;    /* validate, plan: the JSON document instead of the text */
	bool offline; /* validate: read neither the image store nor the secret files */
	struct error_memo *memo; /* NULL: every failure's errors are printed */
	FILE *out;		 /* the plan and summaries (stdout) */
	const char *trigger;	 /* apply: the history's trigger (NULL: "cli") */
	/*
	 * The daemon's boot observation: true defers the switch of this node's
	 * boot tree to a new generation (it is in the middle of a boot); the
	 * pass is then not sealed and res->n_deferred counts it.  NULL: never.
	 */
	bool (*defer)(void *ctx, const char *serial, const char *name);
	void *defer_ctx;
	/*
	 * The daemon's check that every path the seal records is as the last
	 * pass left it (watch.h: inotify instead of a stat of each path);
	 * root_path has ROOT_COUNT entries.  NULL: seal_holds(), a stat of each.
	 */
	bool (*seal_check)(void *ctx, const struct seal *s, const char *const *root_path,
			   const struct seal_entry **ret_broken);
	/* Called when a pass has written a seal, with the roots' directories. */
	void (*sealed)(void *ctx, const char *const *root_path);
	/*
	 * The daemon's seal, kept parsed between passes (watch.h): instead of
	 * seal_read(), with its returns; when 1, s is lent for the pass (the
	 * pass never frees it).  NULL: seal_read().
	 */
	int (*seal_load)(void *ctx, int state_fd, struct seal *s, struct buf *why);
	void *seal_check_ctx;
	/* A full pass that applied changes seals them (seal_input.seal_writes). */
	bool seal_writes;
};

/* Exit codes of the commands (documented in README.md). */
enum exit_code {
	EXIT_OK = 0,
	EXIT_FAILED = 1,     /* invalid revision, or an apply that failed */
	EXIT_CHANGES = 2,    /* plan: changes pending */
	EXIT_USAGE = 64,     /* bad command line or configuration */
	EXIT_SUSPENDED = 75, /* apply, reconcile: suspended (suspend.h), nothing done */
};

/* How a pass did its work (seal.h). */
enum pass_kind {
	PASS_KIND_FULL,	  /* every manifest loaded, every path observed */
	PASS_KIND_DELTA,  /* the changed files of Nodes only */
	PASS_KIND_SEALED, /* nothing changed: the seal held */
	PASS_KIND_COUNT,
};

/* The image store's entries by state (bramble_images{state}): a bounded set. */
enum image_state {
	IMAGE_STATE_PRESENT,  /* extracted, used by an Image of the revision */
	IMAGE_STATE_UNUSED,   /* extracted, used by no Image: `images prune` removes it */
	IMAGE_STATE_PARTIAL,  /* downloaded, not extracted (cut short) */
	IMAGE_STATE_FAILED,   /* its extraction failed */
	IMAGE_STATE_MISSING,  /* a url Image nodes use that the store does not hold */
	IMAGE_STATE_FETCHING, /* being downloaded or extracted now (its lock is held) */
	IMAGE_STATE_COUNT,
};

/* What a pass did, for the daemon's log line and metrics. */
struct pass_result {
	int outcome;	    /* enum pass_outcome (status.h); -1 before the end */
	char revision[256]; /* the revision attempted ("" if unreadable) */
	double duration_s;  /* the whole pass */
	double fetch_s;	    /* reading the source (a git fetch) */
	size_t n_create, n_update, n_delete, n_unchanged, n_drift, n_failed;
	size_t nodes_total, nodes_ready;
	bool changed;	   /* something on disk changed */
	size_t n_deferred; /* boot trees whose switch waits for a boot to end (pass_opts.defer) */
	unsigned reloads_failed; /* enum action bits whose command failed in this pass */
	enum pass_kind kind;
	/* A delta pass whose nodes are the seal's, each with its serial, MAC and
	 * address (the daemon's boot observation need not read nodes.json again). */
	bool nodes_same;
	bool have_images; /* images is filled (an applying pass that read the manifests) */
	size_t images[IMAGE_STATE_COUNT]; /* by enum image_state */
};

/*
 * Run the reloads the state directory says are still to do (a pass that was
 * killed, or a reload command that failed), under the pass lock: the
 * daemon does it at start, before its first pass can read the source.
 * Returns 0, or a negative errno: a reload failed again (-EIO; it stays
 * recorded), or the state directory, its record or the lock failed; each
 * error is logged where it happens, naming what failed.
 */
int reconcile_retry_reloads(const struct bramble_config *cfg);

/* Run one pass; returns an enum exit_code.  res (may be NULL) gets the figures. */
int reconcile_pass(const struct bramble_config *cfg, const struct pass_opts *o,
		   struct pass_result *res);

#endif
