/*
 * pass: one reconcile pass's state, shared by reconcile.c (the pass) and
 * pass_seal.c (the sealed and delta passes, seal.h).  Not an interface of
 * the controller: reconcile.h is.
 */
#ifndef BRAMBLE_PASS_H
#define BRAMBLE_PASS_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "config.h"
#include "reconcile.h"
#include "reconciler.h"
#include "source.h"
#include "../common/hash.h"

struct buf;
struct pass_report;

struct pass {
	const struct bramble_config *cfg;
	struct pass_result *res;
	const struct pass_opts *o;
	struct source_rev rev;
	struct diags d;
	struct diags notes; /* validate: what was not checked, and why */
	struct manifest_set *set;
	struct engine *engine;
	struct render_ctx ctx;
	struct export_ids ids;
	struct resource_set desired;
	struct plan *plan;
	struct seal_deps deps;
	char key[SHA256_HEX_LEN + 1];  /* of every input: the seal's */
	char base[SHA256_HEX_LEN + 1]; /* of every input but the manifests */
	int state_fd;
	bool is_sealed; /* done by the fast path: sealed holds its figures */
	struct seal_counts sealed;
	struct seal seal;	 /* the last pass's, when it holds */
	bool seal_lent;		 /* seal is the daemon's (pass_opts.seal_load): not freed */
	bool delta;		 /* the seal allows a delta pass (seal.h) */
	struct seal_file *files; /* the revision's manifest files, by name */
	size_t n_files;
	const char **scope; /* a delta pass: the nodes outside it (the stubs), by name */
	size_t n_scope;
	struct timespec start;
	char *dhcp_dir, *dhcp_name, *exports_dir, *exports_name, *ganesha_name;
};

/* reconcile.c */
/* Seconds since start (CLOCK_MONOTONIC). */
double pass_elapsed(const struct timespec *start);
/* Split dhcp.configFile and nfs.exportsFile/ganeshaFile into directory and name (once). */
int pass_split_paths(struct pass *p);
/* The directory of each managed root, for the engine. */
void pass_root_paths(const struct pass *p, const char *path[ROOT_COUNT]);
/* The render context of the pass's set and paths (no image store: images_fd -1). */
void pass_render_ctx(struct pass *p);
/* Check the rendered output with each reconciler's validate(), before applying it. */
int pass_check_rendered(struct pass *p);
/* The nodes whose every resource (and every shared one) is in place. */
size_t pass_nodes_ready(const struct plan *pl, const struct manifest_set *set);
/* "applied REV: N created, N updated, ..." */
void pass_print_summary(struct pass *p, const struct plan *pl, const char *verb);
/* Record the pass's status; on failure say so, and leave no stale status behind. */
int pass_report_record(struct pass *p, const struct pass_report *rep);

/* pass_validate.c: render in memory as plan does; 0, -EINVAL (errors in p->d) or -errno. */
int pass_validate(struct pass *p);

/* pass_json.c: the --json documents on stdout; 0 or -errno. */
int pass_json_validate(const struct pass *p, bool valid);
/* after_apply: the reloads apply would run (NULL: none); images_pending: to download first. */
int pass_json_plan(const struct pass *p, const char *after_apply, size_t images_pending);

/* pass_select.c: a pass under a Node selector (selector.h) */
/* Keep only the selected nodes in p->set; returns how many were left out. */
size_t pass_select_nodes(struct pass *p);
/* pass_select_nodes, and the configuration's server over the Cluster's: 0, -EINVAL (in p->d). */
int pass_select(struct pass *p);
/* 0: go on; 1: an apply refused (why says so) for a changed selector; -errno. */
int pass_select_check(struct pass *p, struct buf *why);
/* Record the selector of this apply in the state directory; 0 or -errno. */
int pass_select_record(struct pass *p);

/* pass_seal.c */
/* The sealed fast path; notes in p->delta that a delta pass can follow. */
bool pass_sealed(struct pass *p);
/* A delta pass's load: 0 (p->set), 1 (a full load must follow), or -errno. */
int pass_load_delta(struct pass *p);
/* A delta pass: the nodes outside it and the inventory shards it needs. */
int pass_delta_scope(struct pass *p);
/* A delta plan's unchanged count, as a full pass would have it. */
void pass_delta_count(struct pass *p);
/* The revision's manifest files and their digests (p->files). */
int pass_files_digest(struct pass *p);
/* Free p->files. */
void pass_files_release(struct pass *p);
/* Seal a pass that left everything in place. */
int pass_seal(struct pass *p);
/* A delta pass: whether its nodes are the seal's, with the same serial, MAC and address. */
bool pass_delta_nodes_same(const struct pass *p);
/* Let go of p->seal (freed unless the daemon lent it). */
void pass_seal_drop(struct pass *p);

#endif
