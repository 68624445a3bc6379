/*
 * daemon_notify: the daemon's events (daemon_notify.h).
 */
#include "daemon_notify.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diag_log.h"
#include "json_each.h"
#include "log.h"
#include "status.h"
#include "webhook.h"
#include "../common/buf.h"
#include "../common/fsutil.h"

#define STATUS_MAX_SIZE ((size_t)64 << 20)
#define NODES_MAX_SIZE	((size_t)256 << 20)
#define BOOT_LOOK_S	1 /* how often the boot table is searched for news */

/* Read a secret file the way the webhook's are; the error is logged (the path, not the content). */
static int secret_read(const char *path, const char *key, char **ret, size_t *ret_len)
{
	bool loose = false;
	int r = webhook_key_read(path, ret, ret_len, &loose);

	if (r == -ENODATA)
		log_warnx("%s \"%s\" is empty", key, path);
	else if (r < 0)
		log_warnx("cannot read %s \"%s\": %s", key, path, file_read_strerror(r));
	else if (loose)
		log_warnx("%s \"%s\" is open to group or others; make it mode 0400 or 0600", key,
			  path);
	return r;
}

static void wipe_free(char *s, size_t len)
{
	if (s)
		explicit_bzero(s, len);
	free(s);
}

/* The targets of notify.url and notify.urlFile. */
static int targets_load(const struct bramble_config *cfg, struct notify_target **ret, size_t *ret_n)
{
	struct diags dg = DIAGS_INIT;
	struct notify_target *t = NULL;
	char *text = NULL;
	size_t n = 0, len = 0;
	int r = 0;

	if (cfg->notify_url) {
		t = calloc(1, sizeof(*t));
		r = t ? 0 : -ENOMEM;
		if (r == 0)
			t[0].url = strdup(cfg->notify_url);
		r = r == 0 && !t[0].url ? -ENOMEM : r;
		n = r == 0 ? 1 : 0;
	}
	if (r == 0 && cfg->notify_url_file)
		r = secret_read(cfg->notify_url_file, "notify.urlFile", &text, &len);
	if (r == 0 && text)
		r = notify_targets_parse(cfg->notify_url_file, text, len, &t, &n, &dg);
	if (r == -EINVAL)
		log_diags(&dg);
	diags_release(&dg);
	wipe_free(text, len);
	if (r < 0) {
		notify_targets_free(t, n);
		return r;
	}
	*ret = t;
	*ret_n = n;
	return 0;
}

/* Start the notifier, or give the running one the new settings. */
static int watch_setup(struct notify_watch *w, const struct bramble_config *cfg)
{
	struct notify_opts o;
	struct notify_target *t = NULL;
	char *token = NULL;
	size_t n = 0, token_len = 0;
	int r;

	r = targets_load(cfg, &t, &n);
	if (r == 0 && cfg->notify_token_file)
		r = secret_read(cfg->notify_token_file, "notify.tokenFile", &token, &token_len);
	if (r < 0)
		goto out;
	memset(&o, 0, sizeof(o));
	o.targets = t;
	o.n_targets = n;
	o.token = token;
	o.ca_file = cfg->notify_ca_file;
	o.timeout_s = cfg->notify_timeout_s;
	o.retries = cfg->notify_retries;
	if (w->n)
		r = notifier_configure(w->n, &o);
	else if (n > 0)
		r = notifier_start(&o, w->metrics, &w->n);
	if (r < 0)
		log_errno(r, "cannot start the notifications");
	else if (n)
		log_info("notifications: %zu target%s", n, n == 1 ? "" : "s");
out:
	notify_targets_free(t, n);
	wipe_free(token, token_len);
	return r;
}

int notify_watch_open(struct notify_watch *w, const struct bramble_config *cfg, struct metrics *m)
{
	memset(w, 0, sizeof(*w));
	w->metrics = m;
	return watch_setup(w, cfg);
}

int notify_watch_reload(struct notify_watch *w, const struct bramble_config *cfg)
{
	int r = watch_setup(w, cfg);

	if (r < 0)
		log_warnx("notifications not reloaded: the previous targets stay in use");
	return r;
}

int notify_pass_errors(const char *data, size_t len, struct buf *out)
{
	json_t *st = json_loadb(data, len, 0, NULL), *errors, *c;
	const char *first;
	size_t i;
	int r = 0;

	errors = json_object_get(st, "errors");
	first = json_string_value(json_array_get(errors, 0)); /* NULL: none, or not a string */
	if (first) {
		r = buf_adds(out, first);
		if (r == 0 && json_array_size(errors) > 1)
			r = buf_printf(out, " (and %zu more)", json_array_size(errors) - 1);
	}
	json_array_foreach(json_object_get(st, "conditions"), i, c)
	{
		const char *type = json_string_value(json_object_get(c, "type"));
		const char *m = json_string_value(json_object_get(c, "message"));

		if (r == 0 && out->len == 0 && type && strcmp(type, "Stalled") == 0 && m)
			r = buf_adds(out, m);
	}
	json_decref(st);
	return r;
}

/* The errors the pass recorded (status.json): the first, and how many more; or its message. */
static int pass_errors(const char *state_dir, struct buf *out)
{
	char *path = path_join(state_dir, "status.json"), *data = NULL;
	size_t len = 0;
	int r = path ? file_read(path, STATUS_MAX_SIZE, &data, &len) : -ENOMEM;

	if (r == 0)
		r = notify_pass_errors(data, len, out);
	free(data);
	free(path);
	return r;
}

const char *pass_outcome_name(int outcome)
{
	switch (outcome) {
	case PASS_APPLIED:
		return "applied";
	case PASS_APPLY_FAILED:
		return "apply failed";
	case PASS_REFUSED:
		return "refused";
	case PASS_FETCH_FAILED:
		return "fetch failed";
	default:
		return "invalid";
	}
}

static void send_event(struct notify_watch *w, const struct notify_event *ev)
{
	if (notifier_send(w->n, ev) < 0)
		log_warnx("notification %s not queued: out of memory", notify_kind_name(ev->kind));
}

void notify_watch_pass(struct notify_watch *w, const struct bramble_config *cfg,
		       const struct pass_result *res)
{
	struct notify_event ev;
	struct buf reason = BUF_INIT, msg = BUF_INIT;
	const char *rev = res->revision[0] ? res->revision : NULL;

	if (!notifier_enabled(w->n))
		return;
	memset(&ev, 0, sizeof(ev));
	ev.time = time(NULL);
	ev.revision = rev;
	if (res->outcome == PASS_APPLIED) {
		if (w->failing) {
			buf_printf(&msg, "revision %s applied: the failure is over",
				   rev ? rev : "(unknown)");
			ev.kind = NOTIFY_RECOVERED;
			ev.message = buf_str(&msg);
			send_event(w, &ev);
		}
		w->failing = false;
		goto out;
	}
	buf_printf(&reason, "%s: ", pass_outcome_name(res->outcome));
	(void)pass_errors(cfg->state_dir, &reason);
	if (w->failing && w->reason && strcmp(w->reason, buf_str(&reason)) == 0)
		goto out; /* a retry that fails the same way: told already */
	free(w->reason);
	w->reason = strdup(buf_str(&reason));
	w->failing = true;
	buf_printf(&msg, "pass %s at revision %s", buf_str(&reason), rev ? rev : "(unreadable)");
	ev.kind = NOTIFY_PASS_FAILED;
	ev.message = buf_str(&msg);
	send_event(w, &ev);
out:
	buf_release(&reason);
	buf_release(&msg);
}

struct name_find {
	const char *serial;
	char *ret;
	size_t size;
};

static int name_match(void *ctx, const json_t *o)
{
	struct name_find *f = ctx;
	const char *s = json_string_value(json_object_get(o, "serial"));
	const char *name = json_string_value(json_object_get(o, "name"));

	if (!s || !name || strcmp(s, f->serial) != 0)
		return 0;
	if (!f->ret[0])
		snprintf(f->ret, f->size, "%s", name);
	return 0;
}

void notify_node_name(const char *data, size_t len, const char *serial, char *ret, size_t size)
{
	struct name_find f = {serial, ret, size};

	ret[0] = '\0';
	/* A node at a time (json_each.h); a damaged file names no node. */
	if (json_each(data, len, name_match, &f) != 0)
		ret[0] = '\0';
}

/* The name of the node with this serial in nodes.json (the last applied pass's), or "". */
static void node_name(const char *state_dir, const char *serial, char *ret, size_t size)
{
	char *path = path_join(state_dir, "nodes.json"), *data = NULL;
	size_t len = 0;

	ret[0] = '\0';
	if (path && file_read(path, NODES_MAX_SIZE, &data, &len) == 0)
		notify_node_name(data, len, serial, ret, size);
	free(data);
	free(path);
}

struct news_ctx {
	struct notify_watch *w;
	const char *state_dir;
	time_t now;
};

static void on_news(void *arg, const struct boot_news *nw)
{
	struct news_ctx *c = arg;
	struct notify_event ev;
	struct buf msg = BUF_INIT;
	char mac[18], name[256];

	memset(&ev, 0, sizeof(ev));
	ev.time = c->now;
	ev.serial = nw->serial;
	ev.model = nw->model[0] ? nw->model : NULL;
	snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", nw->mac[0], nw->mac[1],
		 nw->mac[2], nw->mac[3], nw->mac[4], nw->mac[5]);
	ev.mac = nw->has_mac ? mac : NULL;
	if (nw->kind == BOOT_NEWS_UNKNOWN) {
		ev.kind = NOTIFY_UNKNOWN_PI;
		buf_printf(&msg, "a Pi no manifest names asks to boot: serial %s%s%s%s%s",
			   nw->serial, ev.mac ? ", MAC " : "", ev.mac ? ev.mac : "",
			   ev.model ? ", model " : "", ev.model ? ev.model : "");
	} else {
		node_name(c->state_dir, nw->serial, name, sizeof(name));
		ev.kind = NOTIFY_BOOT_STALLED;
		ev.node = name[0] ? name : NULL;
		buf_printf(&msg,
			   "node %s (%s) started booting %lld s ago and has not reached its "
			   "kernel (last stage: %s)",
			   name[0] ? name : "?", nw->serial, (long long)(c->now - nw->since),
			   boot_stage_name(nw->stage));
	}
	ev.message = buf_str(&msg);
	log_info("%s", ev.message);
	send_event(c->w, &ev);
	buf_release(&msg);
}

void notify_watch_boot(struct notify_watch *w, struct boot_follow *f, const char *state_dir,
		       unsigned stall_s, time_t now, bool seed)
{
	struct news_ctx c = {w, state_dir, now};

	if (!f || (!seed && now - w->booted < BOOT_LOOK_S && now >= w->booted))
		return;
	w->booted = now;
	boot_follow_news(f, now, stall_s, seed || !notifier_enabled(w->n) ? NULL : on_news, &c);
}

void notify_watch_close(struct notify_watch *w)
{
	notifier_stop(w->n);
	free(w->reason);
	memset(w, 0, sizeof(*w));
}
