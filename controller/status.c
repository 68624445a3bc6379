/*
 * status: recording what a pass did (status.json, nodes.json); the
 * printing for `bramble status` is in status_print.c.
 */
#include "status.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../common/atomic.h"
#include "../common/buf.h"
#include "../common/fsutil.h"
#include "status_int.h"

#define STATUS_MAX_ERRORS 100

static void now_iso(char out[32])
{
	time_t t = time(NULL);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

json_t *status_json_load(const char *path)
{
	char *data = NULL;
	size_t len = 0;
	json_t *j;

	if (!path || file_read(path, STATUS_MAX_SIZE, &data, &len) < 0)
		return NULL;
	j = json_loadb(data, len, 0, NULL);
	free(data);
	return j;
}

static json_t *status_load(const char *state_dir)
{
	char *data = NULL;
	size_t len = 0;
	json_t *j = NULL;

	if (file_read_beneath(state_dir, STATUS_FILE, STATUS_MAX_SIZE, &data, &len) == 0)
		j = json_loadb(data, len, 0, NULL);
	free(data);
	if (!j || !json_is_object(j)) {
		json_decref(j);
		j = json_object();
	}
	/* Nodes live in nodes.json: the small document is rewritten twice a pass. */
	json_object_del(j, "nodes");
	return j;
}

static void set_condition(json_t *st, const char *type, bool status, const char *reason,
			  const char *message, const char *now)
{
	json_t *conds = json_object_get(st, "conditions"), *c = NULL, *old;
	size_t i;

	if (!json_is_array(conds)) {
		conds = json_array();
		json_object_set_new(st, "conditions", conds);
	}
	json_array_foreach(conds, i, old)
	{
		if (json_is_string(json_object_get(old, "type")) &&
		    strcmp(json_string_value(json_object_get(old, "type")), type) == 0)
			c = old;
	}
	if (!c) {
		c = json_object();
		json_object_set_new(c, "type", json_string(type));
		json_array_append_new(conds, c);
	}
	old = json_object_get(c, "status");
	if (!json_is_string(old) || strcmp(json_string_value(old), status ? "True" : "False") != 0)
		json_object_set_new(c, "lastTransitionTime", json_string(now));
	json_object_set_new(c, "status", json_string(status ? "True" : "False"));
	json_object_set_new(c, "reason", json_string(reason));
	json_object_set_new(c, "message", json_string(message ? message : ""));
}

static json_t *errors_json(const struct diags *d)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; d && i < d->n && i < STATUS_MAX_ERRORS; i++) {
		const struct diag *dg = &d->v[i];
		struct buf b = BUF_INIT;

		if (dg->file && dg->line)
			buf_printf(&b, "%s:%u:%u: %s", dg->file, dg->line, dg->col, dg->msg);
		else if (dg->file)
			buf_printf(&b, "%s: %s", dg->file, dg->msg);
		else
			buf_adds(&b, dg->msg);
		json_array_append_new(a, json_string(buf_str(&b)));
		buf_release(&b);
	}
	return a;
}

/* Whether a plan item is in place once the pass is over, and why not. */
static const char *item_problem(const struct plan_item *it)
{
	if (it->op == PLAN_UNCHANGED || it->op == PLAN_KEEP || it->applied)
		return NULL;
	if (it->op == PLAN_CONFLICT)
		return "conflict: a file not created by bramble is in the way";
	if (it->deferred)
		return "the switch to the new revision waits: the node is booting";
	return it->error ? strerror(-it->error) : "not applied";
}

/* The reconcilers a node's resources come from, in the order status shows them. */
static const char *const owners[] = {"tftp", "rootfs", "nfs", "dhcp"};
#define N_OWNERS (sizeof(owners) / sizeof(owners[0]))

/* Per node (and once for the resources every node shares): what is in place. */
struct node_state {
	unsigned seen, failed;
	const char *problem[N_OWNERS];
	const char *first_owner, *first_path, *first_problem;
};

static void state_mark(struct node_state *ns, const char *owner, const char *problem,
		       const char *path)
{
	size_t k;

	for (k = 0; k < N_OWNERS && strcmp(owners[k], owner ? owner : "") != 0; k++)
		;
	if (k == N_OWNERS)
		return;
	ns->seen |= 1u << k;
	if (!problem)
		return;
	ns->failed |= 1u << k;
	if (!ns->problem[k])
		ns->problem[k] = problem;
	if (!ns->first_problem) {
		ns->first_owner = owners[k];
		ns->first_path = path;
		ns->first_problem = problem;
	}
}

/* A node outside a delta pass: what it has, from "tftp,rootfs,dhcp". */
static void stub_mark(struct node_state *ns, const char *list)
{
	size_t k, len;

	for (; *list; list += len + (list[len] == ',')) {
		len = strcspn(list, ",");
		for (k = 0; k < N_OWNERS; k++)
			if (strlen(owners[k]) == len && strncmp(owners[k], list, len) == 0)
				ns->seen |= 1u << k;
	}
}

static int json_str(struct buf *b, const char *key, const char *v, bool comma)
{
	int r = comma ? buf_addch(b, ',') : 0;

	r = r ? r : buf_addch(b, '"');
	r = r ? r : buf_adds(b, key);
	r = r ? r : buf_adds(b, "\":\"");
	while (r == 0 && *v) {
		size_t run = 0;
		unsigned char c;

		/* Most values need no escape: add them a run at a time. */
		while (v[run] && (unsigned char)v[run] >= 0x20 && v[run] != '"' && v[run] != '\\')
			run++;
		r = buf_add(b, v, run);
		v += run;
		c = (unsigned char)*v;
		if (r < 0 || !c)
			break;
		r = c == '"' || c == '\\' ? buf_printf(b, "\\%c", c) : buf_printf(b, "\\u%04x", c);
		v++;
	}
	return r ? r : buf_addch(b, '"');
}

static int node_emit(struct buf *b, const struct node *n, const struct node_state *ns,
		     const struct node_state *g, bool *ret_ready)
{
	unsigned seen = ns->seen | g->seen, failed = ns->failed | g->failed;
	const struct node_state *first = ns->first_problem ? ns : g;
	size_t k;
	int r;

	r = buf_addch(b, '{');
	r = r ? r : json_str(b, "name", n->name, false);
	r = r ? r : json_str(b, "serial", n->serial, true);
	r = r || !n->has_mac ? r : json_str(b, "mac", n->mac_str, true);
	r = r || !n->has_ip ? r : json_str(b, "ip", n->ip_str, true);
	r = r ? r : json_str(b, "hostname", n->hostname, true);
	r = r ? r : json_str(b, "model", pi_model_name(n->model), true);
	r = r ? r : json_str(b, "image", n->image->name, true);
	r = r ? r : json_str(b, "rootMode", root_mode_name(n->root_mode), true);
	r = r ? r : buf_adds(b, ",\"resources\":{");
	for (k = 0; r == 0 && k < N_OWNERS; k++) {
		const char *pr = ns->problem[k] ? ns->problem[k] : g->problem[k];

		if (seen & (1u << k))
			r = json_str(b, owners[k], failed & (1u << k) ? pr : "in place",
				     (seen & ((1u << k) - 1)) != 0);
	}
	*ret_ready = failed == 0;
	r = r ? r : buf_printf(b, "},\"ready\":%s", failed ? "false" : "true");
	r = r ? r : json_str(b, "reason", failed ? "NotApplied" : "InPlace", true);
	if (r == 0 && failed) {
		struct buf m = BUF_INIT;

		r = buf_printf(&m, "%s %s: %s", first->first_owner, first->first_path,
			       first->first_problem);
		r = r ? r : json_str(b, "message", buf_str(&m), true);
		buf_release(&m);
	}
	return r ? r : buf_addch(b, '}');
}

static int node_cmp(const void *key, const void *elem)
{
	return strcmp(key, (*(struct node *const *)elem)->name);
}

/*
 * The per-node status of the last pass (nodes.json as nodes_emit() wrote it:
 * one line, objects in name order, each starting {"name":"...), read by a
 * delta pass for the nodes outside it, which are as they were.
 */
struct old_nodes {
	char *data;
	const char *p, *end;
};

#define OBJ_START "{\"name\":\""
#define OBJ_NEXT  "},{\"name\":\""

/* The last pass's object of the node name, in place and ready: start and length, or false. */
static bool old_object(struct old_nodes *o, const char *name, const char **ret, size_t *ret_len)
{
	size_t want = strlen(name);

	while (o->p && o->p < o->end && strncmp(o->p, OBJ_START, strlen(OBJ_START)) == 0) {
		const char *nm = o->p + strlen(OBJ_START),
			   *q = memchr(nm, '"', (size_t)(o->end - nm));
		const char *next =
			memmem(o->p, (size_t)(o->end - o->p), OBJ_NEXT, strlen(OBJ_NEXT));
		const char *stop = next ? next : o->end - 3; /* its '}'; the last one ends "}]\n" */
		size_t len = q ? (size_t)(q - nm) : 0;
		int c = q ? strncmp(nm, name, len < want ? len : want) : 1;

		if (c == 0)
			c = len < want ? -1 : len > want;
		if (c > 0 || !q || stop < o->p || *stop != '}')
			return false;
		*ret = o->p;
		*ret_len = (size_t)(stop + 1 - o->p);
		o->p = next ? next + 2 : o->end;
		if (c < 0)
			continue;
		return memmem(*ret, *ret_len, "\"ready\":true", strlen("\"ready\":true")) != NULL;
	}
	return false;
}

/* Each plan item's problem, on its node's state (ns, by node index) or on global. */
static void nodes_mark(const struct manifest_set *set, const struct plan *p, struct node_state *ns,
		       struct node_state *global)
{
	size_t i;

	memset(global, 0, sizeof(*global));
	for (i = 0; i < p->n_items; i++) {
		const struct plan_item *it = &p->items[i];
		struct node *const *n;

		if (!it->res)
			continue;
		if (!it->res->node) {
			state_mark(global, it->res->owner, item_problem(it), it->res->path);
			continue;
		}
		n = bsearch(it->res->node, set->nodes, set->n_nodes, sizeof(*set->nodes), node_cmp);
		if (n)
			state_mark(&ns[n - set->nodes], it->res->owner, item_problem(it),
				   it->res->path);
	}
}

/*
 * Write the per-node status as a JSON array to fd, straight from the plan
 * and a node at a time (no tree of JSON values, no whole document in
 * memory: at 10,000 nodes those were 30 MB and 3 MB); count the ready.
 * A node outside a delta pass keeps its object from old when it was ready.
 */
static int nodes_emit(const struct manifest_set *set, const struct plan *p, int fd,
		      struct old_nodes *old, size_t *ret_ready)
{
	struct node_state *ns = calloc(set->n_nodes + 1, sizeof(*ns)), global;
	struct buf out = BUF_INIT, *b = &out;
	size_t i, ready = 0;
	int r = 0;

	if (!ns)
		return -ENOMEM;
	nodes_mark(set, p, ns, &global);
	r = buf_addch(b, '[');
	for (i = 0; r == 0 && i < set->n_nodes; i++) {
		bool ok = false;

		const char *was;
		size_t len;

		r = i ? buf_addch(b, ',') : 0;
		if (set->nodes[i]->stub && !global.failed && old &&
		    old_object(old, set->nodes[i]->name, &was, &len)) {
			r = r ? r : buf_add(b, was, len);
			ok = true;
		} else {
			if (set->nodes[i]->stub) /* in place, as the last pass recorded */
				stub_mark(&ns[i], set->nodes[i]->stub_owners);
			r = r ? r : node_emit(b, set->nodes[i], &ns[i], &global, &ok);
		}
		ready += ok;
		if (r == 0 && b->len >= 65536) {
			r = write_all(fd, b->data, b->len);
			buf_truncate(b, 0);
		}
	}
	r = r ? r : buf_adds(b, "]\n");
	r = r ? r : write_all(fd, b->data, b->len);
	buf_release(b);
	free(ns);
	*ret_ready = ready;
	return r;
}

static void summary(json_t *st, size_t total, size_t ready)
{
	json_object_set_new(st, "nodeCounts",
			    json_pack("{s:I,s:I,s:I}", "total", (json_int_t)total, "ready",
				      (json_int_t)ready, "notReady", (json_int_t)(total - ready)));
}

static void counter_add(json_t *st, const char *key, size_t n)
{
	json_int_t v = json_integer_value(json_object_get(st, key));

	json_object_set_new(st, key, json_integer(v + (json_int_t)n));
}

/*
 * Write a file into the state directory atomically (mode 0644), as fill
 * produces it, through the one writer (atomic.h), relative to the state
 * directory's fd.  The daemon writes status.json before it takes the pass
 * lock (Reconciling=True), so a hand-run `bramble apply` may write it at the
 * same time: each process writes its own temp (named after its pid, made
 * with O_EXCL) and renames it, so the file is always one writer's whole
 * document, the last rename's.  A status lost that way is a report, not
 * state: the next pass writes it again.  No fsync, for the same reason.
 */
static int state_file_write(const char *state_dir, const char *name,
			    int (*fill)(int fd, const void *arg), const void *arg)
{
	struct atomic_file af = ATOMIC_FILE_INIT;
	int dfd, r;

	dfd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	r = atomic_open(&af, dfd, name, 0644, ATOMIC_SYNC_NONE);
	if (r == 0)
		r = fill(af.fd, arg);
	if (r == 0)
		r = atomic_commit(&af);
	else
		atomic_abort(&af);
	close(dfd);
	return r;
}

int status_forget(const char *state_dir)
{
	int dfd, r = 0;

	dfd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return errno == ENOENT ? 0 : -errno;
	if (unlinkat(dfd, STATUS_FILE, 0) < 0 && errno != ENOENT)
		r = -errno;
	close(dfd);
	return r;
}

static int fill_text(int fd, const void *arg)
{
	const char *text = arg;

	return write_all(fd, text, strlen(text));
}

struct nodes_fill {
	const struct manifest_set *set;
	const struct plan *plan;
	struct old_nodes *old;
	size_t ready;
};

static int fill_nodes(int fd, const void *arg)
{
	struct nodes_fill *nf = (struct nodes_fill *)(uintptr_t)arg;

	return nodes_emit(nf->set, nf->plan, fd, nf->old, &nf->ready);
}

/* Whether the last pass applied this very revision completely. */
static bool same_as_last(json_t *st, const struct pass_report *rep)
{
	const char *last = json_string_value(json_object_get(st, "lastAppliedRevision"));
	json_t *conds = json_object_get(st, "conditions"), *c;
	size_t i;

	if (!last || !rep->revision || strcmp(last, rep->revision) != 0)
		return false;
	json_array_foreach(conds, i, c)
	{
		const char *type = json_string_value(json_object_get(c, "type"));
		const char *status = json_string_value(json_object_get(c, "status"));

		if (type && status && strcmp(type, "Ready") == 0)
			return strcmp(status, "True") == 0;
	}
	return false;
}

/*
 * Ready after an apply.  A deferred switch (boot.deferMax) keeps Ready true:
 * the files are in place and the switch follows within the bound, but the
 * reason and message say which nodes still serve the previous revision.
 */
static void set_ready(json_t *st, const struct pass_report *rep, const char *now)
{
	char msg[160];

	if (rep->outcome != PASS_APPLIED) {
		set_condition(st, "Ready", false, "ApplyFailed", rep->message, now);
		return;
	}
	if (!rep->n_deferred) {
		set_condition(st, "Ready", true, "Applied", "every resource is in place", now);
		return;
	}
	snprintf(msg, sizeof(msg),
		 "every resource is in place; %zu node%s switch%s to this revision when %s "
		 "boot is over (at most boot.deferMax)",
		 rep->n_deferred, rep->n_deferred == 1 ? "" : "s", rep->n_deferred == 1 ? "es" : "",
		 rep->n_deferred == 1 ? "its" : "their");
	set_condition(st, "Ready", true, "SwitchDeferred", msg, now);
}

static int record_applied(json_t *st, const struct pass_report *rep, const char *now,
			  const char *state_dir)
{
	const struct plan *p = rep->plan;
	bool ok = rep->outcome == PASS_APPLIED;
	size_t ready = 0;
	int r;

	/* Nothing changed since a complete pass over the same revision: the
	 * per-node status (nodes.json) is already what it would be. */
	if (!(ok && !plan_has_changes(p) && same_as_last(st, rep) && rep->nodes_file_present)) {
		struct nodes_fill nf = {rep->set, p, NULL, 0};
		struct old_nodes old = {NULL, NULL, NULL};
		size_t len = 0;

		if (rep->set->n_stubs &&
		    file_read_beneath(state_dir, NODES_FILE, (size_t)256 << 20, &old.data, &len) ==
			    0 &&
		    len > 3) {
			old.p = old.data + 1; /* past '[' */
			old.end = old.data + len;
			nf.old = &old;
		}

		r = state_file_write(state_dir, NODES_FILE, fill_nodes, &nf);
		free(old.data);
		ready = nf.ready;
		if (r < 0)
			return r;
		summary(st, rep->set->n_nodes, ready);
	}
	if (ok) {
		json_object_set_new(st, "lastAppliedRevision", json_string(rep->revision));
		json_object_set_new(st, "lastAppliedTime", json_string(now));
	}
	json_object_set_new(
		st, "lastPass",
		json_pack("{s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:f}", "pass",
			  rep->delta ? "delta" : "full", "created", (json_int_t)p->n_create,
			  "updated", (json_int_t)p->n_update, "deleted", (json_int_t)p->n_delete,
			  "unchanged", (json_int_t)p->n_unchanged, "kept", (json_int_t)p->n_keep,
			  "drift", (json_int_t)p->n_drift, "durationSeconds", rep->duration_s));
	counter_add(st, "driftRepairs", p->n_drift);
	set_ready(st, rep, now);
	set_condition(st, "Stalled", !ok, ok ? "Applied" : "ApplyFailed", ok ? "" : rep->message,
		      now);
	return 0;
}

/* A sealed pass: the last one again, nothing changed (nodes.json stays as it is). */
static void record_sealed(json_t *st, const struct pass_report *rep, const char *now)
{
	json_object_set_new(st, "lastAppliedRevision", json_string(rep->revision));
	json_object_set_new(st, "lastAppliedTime", json_string(now));
	json_object_set_new(st, "lastPass",
			    json_pack("{s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:f}", "pass", "sealed",
				      "created", (json_int_t)0, "updated", (json_int_t)0, "deleted",
				      (json_int_t)0, "unchanged",
				      (json_int_t)rep->sealed->unchanged, "kept", (json_int_t)0,
				      "drift", (json_int_t)0, "durationSeconds", rep->duration_s));
	summary(st, rep->sealed->nodes_total, rep->sealed->nodes_ready);
	set_condition(st, "Ready", true, "Applied", "every resource is in place", now);
	set_condition(st, "Stalled", false, "Applied", "", now);
}

/* Write a JSON document into the state directory atomically. */
static int json_write(const char *state_dir, const char *name, json_t *doc, size_t flags)
{
	char *text = json_dumps(doc, flags);
	int r;

	if (!text)
		return -ENOMEM;
	r = state_file_write(state_dir, name, fill_text, text);
	free(text);
	return r;
}

static int status_write(const char *state_dir, json_t *st)
{
	return json_write(state_dir, STATUS_FILE, st,
			  JSON_INDENT(2) | JSON_SORT_KEYS | JSON_REAL_PRECISION(6));
}

/* Whether the state directory holds a file of that name. */
static bool state_file_exists(const char *state_dir, const char *name)
{
	struct stat sb;
	int dfd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	bool yes;

	if (dfd < 0)
		return false;
	yes = fstatat(dfd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0;
	close(dfd);
	return yes;
}

int status_record(const char *state_dir, const struct pass_report *rep)
{
	json_t *st = status_load(state_dir);
	struct pass_report r2 = *rep;
	char now[32];
	int r;

	r2.nodes_file_present = state_file_exists(state_dir, NODES_FILE);
	rep = &r2;
	now_iso(now);
	json_object_del(st, "progress"); /* the pass is over */
	json_object_set_new(st, "lastAttemptedRevision",
			    json_string(rep->revision ? rep->revision : ""));
	json_object_set_new(st, "lastAttemptTime", json_string(now));
	json_object_set_new(st, "errors", errors_json(rep->errors));
	counter_add(st, "passes", 1);
	if (rep->outcome != PASS_APPLIED)
		counter_add(st, "failures", 1);
	set_condition(st, "Reconciling", false, "Idle", "", now);
	r = 0;
	if (rep->plan && rep->set) {
		r = record_applied(st, rep, now, state_dir);
	} else if (rep->sealed) {
		record_sealed(st, rep, now);
	} else {
		const char *reason = rep->outcome == PASS_INVALID	 ? "ValidationFailed"
				     : rep->outcome == PASS_FETCH_FAILED ? "FetchFailed"
									 : "Refused";

		set_condition(st, "Ready", false, reason, rep->message, now);
		set_condition(st, "Stalled", true, reason, rep->message, now);
	}
	if (r == 0)
		r = status_write(state_dir, st);
	json_decref(st);
	return r;
}

int status_mark_reconciling(const char *state_dir, const char *trigger)
{
	json_t *st = status_load(state_dir);
	struct buf m = BUF_INIT;
	char now[32];
	int r;

	now_iso(now);
	r = buf_printf(&m, "pass started (%s)", trigger);
	if (r == 0) {
		set_condition(st, "Reconciling", true, "Progressing", buf_str(&m), now);
		r = status_write(state_dir, st);
	}
	buf_release(&m);
	json_decref(st);
	return r;
}

int status_mark_progress(const char *state_dir, const struct progress *p, double elapsed_s)
{
	json_t *st = status_load(state_dir);
	time_t t = time(NULL) - (time_t)elapsed_s;
	struct buf m = BUF_INIT;
	char since[32], line[200];
	json_t *pr;
	struct tm tm;
	int r;

	gmtime_r(&t, &tm);
	strftime(since, sizeof(since), "%Y-%m-%dT%H:%M:%SZ", &tm);
	progress_format(p, elapsed_s, false, line, sizeof(line));
	pr = json_pack("{s:s,s:s?,s:I,s:I,s:b,s:s,s:s}", "step", p->step, "object", p->object,
		       "done", (json_int_t)p->done, "total", (json_int_t)p->total, "estimate",
		       p->estimate, "unit", p->files ? "files" : "bytes", "since", since);
	/* A step over items (copy roots): how many are done of how many. */
	if (pr && p->items_total)
		json_object_update_new(pr, json_pack("{s:I,s:I}", "itemsDone",
						     (json_int_t)p->items_done, "itemsTotal",
						     (json_int_t)p->items_total));
	r = json_object_set_new(st, "progress", pr) < 0 ? -ENOMEM : 0;
	if (r == 0)
		r = buf_printf(&m, "pass running: %s", line);
	if (r == 0) {
		set_condition(st, "Reconciling", true, "Progressing", buf_str(&m), since);
		r = status_write(state_dir, st);
	}
	buf_release(&m);
	json_decref(st);
	return r;
}
