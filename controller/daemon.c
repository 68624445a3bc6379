#include "daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "bootwatch_follow.h"
#include "control.h"
#include "daemon_notify.h"
#include "diag_log.h"
#include "git_source.h"
#include "ratelimit.h"
#include "history.h"
#include "http.h"
#include "liveness.h"
#include "log.h"
#include "image_step.h"
#include "metrics.h"
#include "sdnotify.h"
#include "status.h"
#include "suspend.h"
#include "watch.h"
#include "webhook.h"
#include "../common/buf.h"
#include "../common/fsutil.h"
#include "../common/heartbeat.h"
#include "../common/stop.h"

#define BACKOFF_FIRST_MS 1000L
#define BOOT_POLL_MS	 500L /* how often dnsmasq's log is read between passes */
/* TFTP activity this recent is a boot in progress (a Pi 4 waits 30 s for a file). */
#define BOOT_WINDOW_S	 30
#define BOOT_RECHECK_MS	 2000L /* the next pass, when a switch waits for a boot */
#define WATCH_SETTLE_MS	 1500L /* the next pass, when one wrote no seal (watch.h) */
#define DEFERRALS_MAX	 4096
#define STATUS_FILE	 "status.json"
#define STATUS_MAX_SIZE	 ((size_t)64 << 20)
#define STOP_GRACE_S	 1 /* SIGTERM to exit, at the latest (the alarm's backstop) */

enum trigger {
	TRIGGER_START,
	TRIGGER_TIMER,
	TRIGGER_RETRY,
	TRIGGER_SIGHUP,
	TRIGGER_WEBHOOK,
	TRIGGER_RECONCILE, /* bramble reconcile, through the control socket (control.h) */
	TRIGGER_WATCH,	   /* inotify saw an outside change of a sealed path (watch.h) */
	TRIGGER_CHECK,	   /* watch.fullCheck is due */
	TRIGGER_NONE,
	TRIGGER_STOP,
};

static const char *const trigger_names[] = {"start",   "timer",	    "retry",   "SIGHUP",
					    "webhook", "reconcile", "inotify", "full check"};

struct daemon {
	const struct bramble_config *cfg;
	struct bramble_config *owned; /* cfg when a SIGHUP made it, else NULL */
	const struct daemon_reload *reload;
	const char *state_dir; /* the HTTP thread's: fixed for the daemon's life */
	struct pass_opts opts;
	struct metrics metrics;
	pthread_mutex_t keys_lock; /* the HTTP thread reads keys, SIGHUP replaces them */
	struct webhook_keys keys;
	/* The HTTP thread's alone: replays refused, refusals logged sparingly. */
	struct webhook_seen seen;
	struct ratelimit refused_log;
	atomic_bool ready;	  /* a revision has been applied */
	atomic_bool hook_pending; /* a verified webhook asked for a pass */
	struct http_server *http;
	bool signals_set;
	unsigned failures;	/* consecutive failed passes */
	struct error_memo memo; /* the last failure's errors: logged once while they repeat */
	uint32_t rng;
	struct boot_follow *boot; /* NULL: boot observation is off */
	struct notify_watch notify;
	struct control control;	 /* the loop thread's alone */
	struct seal_watch watch; /* outside edits of the output trees (watch.h) */
	struct deferral {
		char serial[9];
		time_t since;
		bool asked; /* in the current pass */
	} * deferrals;	    /* nodes whose switch waits for their boot to end */
	size_t n_deferrals;
};

/* Set by the signal handler, read by the loop (lock-free atomics are safe in a handler). */
static atomic_int sig_stop, sig_hup;
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "the signal handler needs lock-free atomic_int");
/* The loop's wake-up pipe: the signal handler and the HTTP thread write a byte to it. */
static int wake_fd[2] = {-1, -1};

static void wake(void)
{
	char c = 1;
	ssize_t n = write(wake_fd[1], &c, 1);

	(void)n; /* a full pipe wakes the loop all the same */
}

/*
 * SIGTERM and SIGINT raise sig_stop, which the loop sees between passes and
 * a running pass polls (common/stop.h: its long steps give up within a
 * fraction of a second, a reload command is killed and stays pending).  The
 * alarm is the backstop for a step that does not poll (a sync of a slow
 * disk, a lock a `bramble apply` by hand holds): STOP_GRACE_S after the
 * signal the process exits wherever it is, which is safe because any prefix
 * of a pass is healed by the next one (reconcilers/engine/recover.c).
 */
static void on_signal(int sig)
{
	int saved = errno;

	if (sig == SIGHUP) {
		atomic_store(&sig_hup, 1);
	} else {
		if (!atomic_exchange(&sig_stop, sig))
			alarm(STOP_GRACE_S);
	}
	wake();
	errno = saved;
}

static void on_stop_timeout(int sig)
{
	static const char msg[] = "bramble: still busy 1 s after the signal to stop: exiting "
				  "now; the next start recovers what the pass left\n";
	ssize_t n = write(STDERR_FILENO, msg, sizeof(msg) - 1);

	(void)sig;
	(void)n;
	_exit(EXIT_FAILED);
}

static void wake_drain(void)
{
	char b[64];

	while (read(wake_fd[0], b, sizeof(b)) > 0)
		;
}

/*
 * Catch SIGTERM, SIGINT, SIGHUP and the stop alarm, and block them in this thread until the
 * HTTP thread has started, so that it inherits them blocked and only the loop
 * thread ever runs the handler.
 */
static int signals_setup(sigset_t *ret_old)
{
	static const int sigs[] = {SIGTERM, SIGINT, SIGHUP, SIGALRM};
	struct sigaction sa;
	sigset_t block;
	size_t i;

	memset(&sa, 0, sizeof(sa));
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigemptyset(&block);
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		sa.sa_handler = sigs[i] == SIGALRM ? on_stop_timeout : on_signal;
		if (sigaction(sigs[i], &sa, NULL) < 0)
			return -errno;
		sigaddset(&block, sigs[i]);
	}
	return -pthread_sigmask(SIG_BLOCK, &block, ret_old);
}

static void signals_reset(void)
{
	alarm(0);
	signal(SIGALRM, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
}

static int key_load(const char *path, const char *what, char **ret, size_t *ret_len)
{
	bool loose = false;
	int r;

	if (!path)
		return 0;
	r = webhook_key_read(path, ret, ret_len, &loose);
	if (r == -ENODATA)
		log_warnx("the webhook %s file \"%s\" is empty", what, path);
	else if (r < 0)
		log_warnx("cannot read the webhook %s file \"%s\": %s", what, path,
			  file_read_strerror(r));
	else if (loose)
		log_warnx("the webhook %s file \"%s\" is open to group or others; make it "
			  "mode 0400 or 0600",
			  what, path);
	return r;
}

/* Read the webhook secret and token; on a reload that fails, keep the old ones. */
static int keys_load(struct daemon *d, bool reload)
{
	struct webhook_keys k = {NULL, 0, NULL, 0};
	bool enabled;
	int r;

	r = key_load(d->cfg->webhook_secret_file, "secret", &k.secret, &k.secret_len);
	if (r == 0)
		r = key_load(d->cfg->webhook_token_file, "token", &k.token, &k.token_len);
	if (r < 0) {
		webhook_keys_release(&k);
		if (reload)
			log_warnx("webhook keys not reloaded: the previous ones stay in use");
		return r;
	}
	enabled = webhook_keys_enabled(&k);
	pthread_mutex_lock(&d->keys_lock);
	webhook_keys_release(&d->keys);
	d->keys = k;
	pthread_mutex_unlock(&d->keys_lock);
	if (!enabled)
		log_info("webhook disabled: no webhook.secretFile or webhook.tokenFile is set, "
			 "so POST /hooks/git answers 401");
	else if (reload)
		log_info("webhook keys reloaded");
	return 0;
}

static double iso_to_unix(const char *s)
{
	struct tm tm;
	const char *end = NULL;

	memset(&tm, 0, sizeof(tm));
	end = s ? strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm) : NULL;
	return end && !*end ? (double)timegm(&tm) : 0;
}

static long json_count(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	return json_is_integer(v) && json_integer_value(v) >= 0 ? (long)json_integer_value(v) : -1;
}

/* What an earlier run recorded: the revision still served makes the daemon ready at once. */
static void seed_from_status(struct daemon *d)
{
	char *path = path_join(d->cfg->state_dir, STATUS_FILE), *data = NULL;
	json_t *st = NULL, *counts = NULL;
	const char *rev = NULL;
	size_t len = 0;

	if (path && file_read(path, STATUS_MAX_SIZE, &data, &len) == 0)
		st = json_loadb(data, len, 0, NULL);
	rev = json_string_value(json_object_get(st, "lastAppliedRevision"));
	counts = json_object_get(st, "nodeCounts");
	if (rev && *rev) {
		metrics_seed(&d->metrics, rev,
			     iso_to_unix(json_string_value(json_object_get(st, "lastAppliedTime"))),
			     json_count(counts, "ready"), json_count(counts, "notReady"));
		atomic_store(&d->ready, true);
		log_info("serving %s, applied before this start", rev);
	}
	json_decref(st);
	free(data);
	free(path);
}

static bool op_ready(void *ctx)
{
	struct daemon *d = ctx;

	return atomic_load(&d->ready);
}

static int op_metrics(void *ctx, struct buf *out)
{
	struct daemon *d = ctx;

	metrics_suspended(&d->metrics, suspend_is_on(d->state_dir));
	metrics_fetching(&d->metrics, image_step_fetching(d->cfg));
	return metrics_format(&d->metrics, out);
}

/* The same document as `bramble status --json`, through the same function. */
static int op_status(void *ctx, struct buf *out)
{
	struct daemon *d = ctx;
	char *data = NULL;
	size_t len = 0;
	FILE *f = NULL;
	int r;

	f = open_memstream(&data, &len);
	if (!f)
		return -errno;
	r = status_print(d->state_dir, true, f);
	if (fclose(f) != 0 && r == 0)
		r = -EIO;
	if (r == 0)
		r = buf_add(out, data, len);
	free(data);
	return r;
}

static long long mono_ms(void);

/*
 * systemd's watchdog (WatchdogSec=): WATCHDOG=1 every half of $WATCHDOG_USEC,
 * sent by the loop while it waits and, during a pass, by the long steps'
 * heartbeats (heartbeat.h), so that a pass that downloads or copies for an
 * hour keeps it fed while one that hangs does not.  0: no watchdog.
 */
static long long watchdog_every_ms;
static atomic_llong watchdog_last_ms;

/* Send WATCHDOG=1 if it is due; return the ms until it is due again (LONG_MAX: never). */
static long watchdog_tick(void)
{
	long long now, last, left;

	if (watchdog_every_ms == 0)
		return LONG_MAX;
	now = mono_ms();
	last = atomic_load(&watchdog_last_ms);
	left = last + watchdog_every_ms - now;
	if (left > 0)
		return (long)left;
	/* Heartbeats may come from two threads at once: one of them sends. */
	if (atomic_compare_exchange_strong(&watchdog_last_ms, &last, now))
		sd_notify_send("WATCHDOG=1");
	return (long)watchdog_every_ms;
}

static void watchdog_beat(void)
{
	(void)watchdog_tick();
}

/* Read $WATCHDOG_USEC (and $WATCHDOG_PID); feed the watchdog from heartbeats. */
static void watchdog_open(void)
{
	uint64_t usec = 0;
	int r = sd_watchdog_usec(&usec);

	watchdog_every_ms = 0;
	if (r < 0)
		log_warnx("WATCHDOG_USEC or WATCHDOG_PID is malformed: no WATCHDOG=1 is sent");
	if (r <= 0)
		return;
	watchdog_every_ms = (long long)(usec / 2000);
	if (watchdog_every_ms == 0)
		watchdog_every_ms = 1;
	atomic_store(&watchdog_last_ms, mono_ms());
	sd_notify_send("WATCHDOG=1");
	heartbeat_set(watchdog_beat);
	log_info("systemd watchdog: %.3f s; WATCHDOG=1 every %.3f s", (double)usec / 1e6,
		 (double)watchdog_every_ms / 1000);
}

static void watchdog_close(void)
{
	heartbeat_set(NULL);
	watchdog_every_ms = 0;
}

#define HOOK_LOG_BURST	   5
#define HOOK_LOG_WINDOW_MS 5000

/*
 * A refused webhook's log line: at most HOOK_LOG_BURST per HOOK_LOG_WINDOW_MS
 * (anyone who reaches the port can send them), then a count of the rest.
 */
static void hook_log_refused(struct daemon *d, const char *peer, const char *why)
{
	uint64_t left_out = 0;
	bool log_it = ratelimit_take(&d->refused_log, mono_ms(), &left_out);

	if (left_out)
		log_warnx("webhook: … and %llu more refused in the last %d s",
			  (unsigned long long)left_out, HOOK_LOG_WINDOW_MS / 1000);
	if (log_it)
		log_warnx("webhook from %s refused: %s", peer, why);
}

static int op_hook(void *ctx, const struct http_hook *h)
{
	struct daemon *d = ctx;
	enum webhook_verdict v;

	pthread_mutex_lock(&d->keys_lock);
	v = webhook_verify(&d->keys, h->signature, h->token, h->body, h->len);
	pthread_mutex_unlock(&d->keys_lock);
	metrics_hook(&d->metrics, v == WEBHOOK_ACCEPTED);
	if (v != WEBHOOK_ACCEPTED) {
		hook_log_refused(d, h->peer, webhook_verdict_name(v));
		return -EACCES;
	}
	if (webhook_seen(&d->seen, h->delivery, h->signature, mono_ms() / 1000)) {
		hook_log_refused(d, h->peer, "a delivery already seen (replay)");
		return -EALREADY;
	}
	log_info("webhook from %s accepted: a pass starts", h->peer);
	atomic_store(&d->hook_pending, true);
	wake();
	return 0;
}

static uint32_t rng_next(struct daemon *d)
{
	uint32_t x = d->rng;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	d->rng = x;
	return x;
}

/* ms with ±10% jitter, so that many controllers do not fetch in step. */
static long jitter(struct daemon *d, long ms)
{
	long span = ms / 5;

	return span > 0 ? ms - ms / 10 + (long)(rng_next(d) % ((uint32_t)span + 1)) : ms;
}

/* The wait before the next pass: the interval, or the backoff after failures. */
static long next_delay_ms(struct daemon *d)
{
	long interval = (long)d->cfg->interval_s * 1000, ms = interval;

	if (d->failures > 0) {
		unsigned shift = d->failures - 1 < 20 ? d->failures - 1 : 20;

		ms = BACKOFF_FIRST_MS << shift;
		if (ms > interval)
			ms = interval;
	}
	return jitter(d, ms);
}

static long long mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static double now_unix(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Log each error of a configuration that was refused, then "not reloading". */
static void log_refused(const struct diags *dg)
{
	log_diags(dg);
	log_warnx("the configuration has errors: not reloading; the running one stays");
}

static bool str_same(const char *a, const char *b)
{
	return (a == NULL || b == NULL) ? a == b : strcmp(a, b) == 0;
}

/*
 * Keys the daemon took at start (its listen socket, the state directory that
 * holds its lock and status, the dnsmasq log it follows and the TFTP root it
 * reads that log against) keep their values until a restart; say so.
 */
static int keep_start_keys(const struct bramble_config *old, struct bramble_config *nc)
{
	static const struct {
		const char *key;
		size_t off;
	} keys[] = {
		{"http.listen", offsetof(struct bramble_config, listen)},
		{"paths.stateDir", offsetof(struct bramble_config, state_dir)},
		{"paths.tftpRoot", offsetof(struct bramble_config, tftp_root)},
		{"dhcp.logFile", offsetof(struct bramble_config, dhcp_log_file)},
	};
	size_t i;
	int r = 0;

	for (i = 0; r == 0 && i < sizeof(keys) / sizeof(keys[0]); i++) {
		const char *was = *(char *const *)(const void *)((const char *)old + keys[i].off);
		char **now = (char **)(void *)((char *)nc + keys[i].off);

		if (str_same(was, *now))
			continue;
		log_warnx("%s changed from \"%s\" to \"%s\": restart bramble to use it",
			  keys[i].key, was ? was : "", *now ? *now : "");
		r = config_set(now, was);
	}
	return r;
}

/* SIGHUP: read the configuration again; keep the running one when it has errors. */
static void config_reload(struct daemon *d)
{
	struct diags dg = DIAGS_INIT;
	struct bramble_config *nc;
	int r;

	if (d->reload == NULL)
		return;
	nc = calloc(1, sizeof(*nc));
	r = nc ? d->reload->load(d->reload->arg, nc, &dg) : -ENOMEM;
	if (r == 0)
		r = keep_start_keys(d->cfg, nc);
	if (r < 0) {
		if (dg.n == 0)
			diags_add(&dg, NULL, "cannot make the configuration: %s", strerror(-r));
		log_refused(&dg);
		if (nc)
			config_release(nc);
		free(nc);
	} else {
		if (d->owned) {
			config_release(d->owned);
			free(d->owned);
		}
		d->cfg = d->owned = nc;
		log_info("configuration reloaded");
	}
	diags_release(&dg);
}

/* What woke the loop, if anything; SIGHUP also reloads the webhook keys. */
static enum trigger take_event(struct daemon *d)
{
	if (atomic_load(&sig_stop))
		return TRIGGER_STOP;
	if (atomic_exchange(&sig_hup, 0)) {
		sd_notify_send("RELOADING=1");
		config_reload(d);
		liveness_start(d->cfg->liveness_timeout_s); /* http.livenessTimeout anew */
		keys_load(d, true);
		(void)notify_watch_reload(&d->notify, d->cfg);
		return TRIGGER_SIGHUP;
	}
	if (atomic_exchange(&d->hook_pending, false))
		return TRIGGER_WEBHOOK;
	return TRIGGER_NONE;
}

/*
 * Read what dnsmasq logged since the last look, save the table now and then
 * (boot.json, for `bramble status` and a restart) and publish the counts.
 */
static void boot_tick(struct daemon *d)
{
	struct bootwatch_counts c;

	if (!d->boot)
		return;
	if (boot_follow_poll(d->boot, time(NULL))) {
		bootwatch_counts(boot_follow_table(d->boot), &c);
		metrics_boot(&d->metrics, &c);
		(void)boot_follow_save(d->boot, false);
	}
	notify_watch_boot(&d->notify, d->boot, d->cfg->state_dir, d->cfg->notify_boot_stall_s,
			  time(NULL), false);
}

static struct deferral *deferral_find(struct daemon *d, const char *serial)
{
	size_t i;

	for (i = 0; i < d->n_deferrals; i++)
		if (strcmp(d->deferrals[i].serial, serial) == 0)
			return &d->deferrals[i];
	return NULL;
}

static void deferral_drop(struct daemon *d, struct deferral *df)
{
	*df = d->deferrals[--d->n_deferrals];
}

/*
 * The engine asks before switching a node's boot tree: a node that has read
 * a boot file in the last 30 s and not yet its kernel keeps its generation,
 * so that its boot reads one revision; for at most boot.deferMax, then the
 * switch happens anyway (logged).  The next pass comes in 2 s.
 */
static bool op_defer(void *ctx, const char *serial, const char *name)
{
	struct daemon *d = ctx;
	struct deferral *df = deferral_find(d, serial);
	time_t now = time(NULL);

	if (!d->boot ||
	    !bootwatch_mid_boot(boot_follow_table(d->boot), serial, now, BOOT_WINDOW_S)) {
		if (df) {
			log_info("node %s (%s): its boot is over, switching to the new revision",
				 name, serial);
			deferral_drop(d, df);
		}
		return false;
	}
	if (!df) {
		if (d->n_deferrals == DEFERRALS_MAX)
			return false;
		df = &d->deferrals[d->n_deferrals++];
		snprintf(df->serial, sizeof(df->serial), "%s", serial);
		df->since = now;
		log_info("node %s (%s) is booting: its switch to the new revision waits until the "
			 "boot is over (at most %us)",
			 name, serial, d->cfg->boot_defer_max_s);
	}
	df->asked = true;
	if (now - df->since < (time_t)d->cfg->boot_defer_max_s)
		return true;
	log_warnx("node %s (%s) is still booting after %us: switching to the new revision anyway",
		  name, serial, d->cfg->boot_defer_max_s);
	deferral_drop(d, df);
	return false;
}

/* Forget the waits of nodes the last pass did not ask about (nothing to switch any more). */
static void deferrals_settle(struct daemon *d)
{
	size_t i = 0;

	while (i < d->n_deferrals) {
		if (!d->deferrals[i].asked) {
			deferral_drop(d, &d->deferrals[i]);
			continue;
		}
		d->deferrals[i++].asked = false;
	}
}

/* An outside change inotify reported: a short pause gathers the rest of an edit. */
static enum trigger watch_event(struct daemon *d)
{
	struct timespec settle = {0, 20 * 1000000};

	if (!watch_read(&d->watch))
		return TRIGGER_NONE;
	nanosleep(&settle, NULL);
	watch_read(&d->watch);
	return TRIGGER_WATCH;
}

static enum trigger wait_event(struct daemon *d, long delay_ms)
{
	long long end = mono_ms() + delay_ms, left, check;
	struct pollfd pfd[3];
	enum trigger t;
	long due;

	for (;;) {
		liveness_beat();
		due = watchdog_tick();
		t = take_event(d);
		if (t == TRIGGER_NONE)
			t = watch_event(d);
		if (t != TRIGGER_NONE)
			return t;
		left = end - mono_ms();
		if (left <= 0)
			return d->failures ? TRIGGER_RETRY : TRIGGER_TIMER;
		check = watch_due_ms(&d->watch);
		if (check == 0)
			return TRIGGER_CHECK;
		if (left > check)
			left = check;
		if (d->boot && left > BOOT_POLL_MS)
			left = BOOT_POLL_MS;
		if (left > due)
			left = due;
		pfd[0] = (struct pollfd){wake_fd[0], POLLIN, 0};
		pfd[1] = (struct pollfd){control_fd(&d->control), POLLIN, 0};
		pfd[2] = (struct pollfd){watch_fd(&d->watch), POLLIN, 0}; /* -1: ignored */
		if (poll(pfd, 3, left > INT_MAX ? INT_MAX : (int)left) > 0 && pfd[0].revents)
			wake_drain();
		if (pfd[1].revents && control_accept(&d->control))
			return TRIGGER_RECONCILE;
		boot_tick(d);
	}
}

/* The one log line of a pass: trigger, outcome, revision, what changed, how long. */
static void log_pass(enum trigger t, const struct pass_result *res, long retry_ms)
{
	struct buf b = BUF_INIT;
	bool planned = res->outcome == PASS_APPLIED || res->outcome == PASS_APPLY_FAILED;
	/* A pass that SIGTERM stopped (a download or an extraction) did not fail. */
	bool stopped = atomic_load(&sig_stop) && res->outcome != PASS_APPLIED;

	buf_printf(&b, "pass (%s): %s %s", trigger_names[t],
		   stopped ? "interrupted (bramble is stopping)" : pass_outcome_name(res->outcome),
		   res->revision[0] ? res->revision : "(no revision)");
	if (planned)
		buf_printf(&b,
			   ": %zu created, %zu updated, %zu deleted, %zu unchanged, %zu drift "
			   "repaired, %zu failed; %zu/%zu nodes ready",
			   res->n_create, res->n_update, res->n_delete, res->n_unchanged,
			   res->n_drift, res->n_failed, res->nodes_ready, res->nodes_total);
	else
		buf_adds(&b, ": nothing applied");
	buf_printf(&b, "; %.3f s (fetch %.3f s)", res->duration_s, res->fetch_s);
	if (retry_ms >= 0 && !stopped)
		buf_printf(&b, "; next attempt in %.1f s", (double)retry_ms / 1000);
	if (res->outcome == PASS_APPLIED)
		log_info("%s", buf_str(&b));
	else
		log_warnx("%s", buf_str(&b));
	/* systemctl status shows the last pass; READY=1 ends a reload's RELOADING=1. */
	sd_notify_sendf("READY=1\nSTATUS=last pass %s", buf_str(&b) + strlen("pass "));
	buf_release(&b);
}

/*
 * While suspended (suspend.h) a pass is skipped, and said so; a `bramble
 * reconcile --force` runs all the same.  Returns true when skipped.
 */
static bool skip_suspended(struct daemon *d, enum trigger t)
{
	struct suspension s;
	struct buf err = BUF_INIT, m = BUF_INIT;
	json_t *ans;

	if (t == TRIGGER_RECONCILE && d->control.force)
		return false;
	(void)suspend_load(d->cfg->state_dir, &s, &err);
	if (err.len)
		log_warnx("%s/%s", d->cfg->state_dir, buf_str(&err));
	if (s.on && suspend_describe(&s, &m) == 0) {
		log_info("pass (%s): skipped: %s; bramble resume ends it", trigger_names[t],
			 buf_str(&m));
		sd_notify_sendf("READY=1\nSTATUS=passes %s", buf_str(&m));
		ans = json_pack("{s:b, s:s, s:o}", "ok", 0, "error", buf_str(&m), "suspended",
				suspend_json(&s));
		control_reply(&d->control, ans);
		json_decref(ans);
	}
	buf_release(&err);
	buf_release(&m);
	return s.on;
}

/* Answer `bramble reconcile`: the history entry of the pass that just ran. */
static void reply_pass(struct daemon *d, const struct pass_result *res, int64_t start)
{
	struct history h = {NULL, 0};
	struct history_entry e;
	struct buf err = BUF_INIT;
	json_t *ans;

	if (!control_waiting(&d->control))
		return;
	(void)history_load(d->cfg->state_dir, &h, &err);
	if (h.n && strcmp(h.v[h.n - 1].trigger, "reconcile") == 0 && h.v[h.n - 1].last >= start - 1)
		e = h.v[h.n - 1];
	else /* no history kept (history.limit 0), or it could not be written */
		history_entry_fill(&e, res, "reconcile", NULL, start);
	ans = json_pack("{s:b, s:o}", "ok", 1, "entry", history_entry_json(&e));
	control_reply(&d->control, ans);
	json_decref(ans);
	history_release(&h);
	buf_release(&err);
}

/* After a pass the nodes may have changed: known and unknown serials with them. */
static void boot_after_pass(struct daemon *d, const struct pass_result *res)
{
	struct bootwatch_counts c;

	if (!d->boot)
		return;
	if (!res->nodes_same) /* 10,000 nodes: a 2.8 MB nodes.json to read */
		boot_follow_refresh_known(d->boot);
	else /* rewritten, the same nodes: the next pass need not parse it */
		boot_follow_known_same(d->boot);
	bootwatch_counts(boot_follow_table(d->boot), &c);
	metrics_boot(&d->metrics, &c);
	(void)boot_follow_save(d->boot, true);
}

/* One pass; returns how long to wait before the next one. */
static long run_pass(struct daemon *d, enum trigger t)
{
	struct pass_result res;
	int64_t start = (int64_t)time(NULL);
	long delay;
	int r;

	if (skip_suspended(d, t))
		return jitter(d, (long)d->cfg->interval_s * 1000);
	/* history's trigger is one word */
	d->opts.trigger = t == TRIGGER_SIGHUP  ? "signal"
			  : t == TRIGGER_CHECK ? "check"
					       : trigger_names[t];
	r = status_mark_reconciling(d->cfg->state_dir, trigger_names[t]);
	if (r < 0)
		log_errno(r, "cannot mark the pass in %s", d->cfg->state_dir);
	boot_tick(d); /* the latest boots, for the switches the pass defers */
	reconcile_pass(d->cfg, &d->opts, &res);
	if (res.outcome != PASS_APPLIED && atomic_load(&sig_stop))
		log_info("the pass was stopped (bramble is stopping): the next start heals what "
			 "it left and runs the reloads it owes");
	deferrals_settle(d);
	d->failures = res.outcome == PASS_APPLIED ? 0 : d->failures + 1;
	if (res.outcome == PASS_APPLIED) /* a failure after a success is logged in full */
		memset(&d->memo, 0, sizeof(d->memo));
	delay = next_delay_ms(d);
	if (res.n_deferred && delay > BOOT_RECHECK_MS)
		delay = BOOT_RECHECK_MS;
	/* The log line first: whoever sees the pass in /metrics finds it in the log. */
	log_pass(t, &res, d->failures ? delay : -1);
	reply_pass(d, &res, start);
	/* After the log line: the served files are in place, this is bookkeeping.
	 * The pass's memory goes back first, so that the seal the pass wrote,
	 * read again by the re-arm (after it frees the one the pass started
	 * from), is not on top of it (docs/benchmarks.md, sessions 13 and 14). */
	malloc_trim(0);
	if (watch_rearm(&d->watch, d->cfg->state_dir, res.kind == PASS_KIND_SEALED) &&
	    res.outcome == PASS_APPLIED && delay > WATCH_SETTLE_MS)
		delay = WATCH_SETTLE_MS;
	metrics_pass(&d->metrics, &res, now_unix());
	notify_watch_pass(&d->notify, d->cfg, &res); /* queued: never waits for a receiver */
	if (res.outcome == PASS_APPLIED)
		atomic_store(&d->ready, true);
	boot_after_pass(d, &res);
	/* What the pass freed goes back to the system: the arena is otherwise
	 * left as large as the pass's peak, its free pages pinned between the
	 * few blocks kept (at 10,000 nodes 48 MB of 81, docs/benchmarks.md). */
	malloc_trim(0);
	return delay;
}

static void daemon_loop(struct daemon *d)
{
	enum trigger t = TRIGGER_START;

	while (t != TRIGGER_STOP)
		t = wait_event(d, run_pass(d, t));
	sd_notify_send("STOPPING=1");
	log_info("received %s: no pass is running, exiting",
		 atomic_load(&sig_stop) == SIGINT ? "SIGINT" : "SIGTERM");
}

static int start_http(struct daemon *d)
{
	struct http_ops ops = {d, op_ready, op_metrics, op_status, op_hook, liveness_check};
	const char *listen = d->cfg->listen ? d->cfg->listen : "";
	sigset_t old;
	int r;

	r = signals_setup(&old);
	if (r < 0) {
		log_errno(r, "cannot set up signal handling");
		return EXIT_FAILED;
	}
	d->signals_set = true;
	r = http_start(listen, &ops, &d->http);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r == -EINVAL) {
		log_warnx("bad listen address \"%s\"; expected e.g. 127.0.0.1:9420 or [::1]:9420",
			  listen);
		return EXIT_USAGE;
	}
	if (r < 0) {
		log_errno(r, "cannot listen on %s", listen);
		return EXIT_FAILED;
	}
	log_info("listening on %s (port %u): /healthz /readyz /metrics /status /hooks/git", listen,
		 http_port(d->http));
	r = control_open(&d->control, d->cfg->state_dir);
	if (r < 0)
		log_errno(r, "bramble reconcile is off: cannot make %s/%s", d->cfg->state_dir,
			  CONTROL_SOCKET);
	/* Ready once the endpoints answer; /readyz says whether a revision is applied. */
	sd_notify_sendf("READY=1\nSTATUS=listening on %s, first pass running", listen);
	return EXIT_OK;
}

static void boot_open(struct daemon *d)
{
	struct bootwatch_counts c;
	int r = boot_follow_open(d->cfg, &d->boot);

	if (r == -ENOENT) {
		log_info("boot observation off: no dhcp.logFile");
	} else if (r < 0) {
		log_errno(r, "boot observation off: cannot start it");
	} else {
		bootwatch_counts(boot_follow_table(d->boot), &c);
		metrics_boot(&d->metrics, &c);
		/* what boot.json already holds was seen before this start: no news */
		notify_watch_boot(&d->notify, d->boot, d->cfg->state_dir,
				  d->cfg->notify_boot_stall_s, time(NULL), true);
		if (d->cfg->boot_defer_max_s) {
			d->deferrals = calloc(DEFERRALS_MAX, sizeof(*d->deferrals));
			d->opts.defer = d->deferrals ? op_defer : NULL;
			d->opts.defer_ctx = d;
		}
	}
}

static int daemon_open(struct daemon *d)
{
	int r;

	/* The seal kept between passes and each pass's big arrays (13 MB and
	 * more at 10,000 nodes) are their own mappings, returned to the system
	 * when freed: the daemon's RSS is what it holds, not its peak. */
	mallopt(M_MMAP_THRESHOLD, 256 << 10);
	/* The next fetch sends only the manifest files whose blob changed. */
	git_source_keep(true);
	if (getrandom(&d->rng, sizeof(d->rng), GRND_NONBLOCK) != sizeof(d->rng))
		d->rng = (uint32_t)mono_ms() ^ (uint32_t)getpid();
	d->rng |= 1;
	r = mkdir_p(d->cfg->state_dir, 0700);
	if (r < 0) {
		log_errno(r, "cannot create the state directory %s", d->cfg->state_dir);
		return EXIT_FAILED;
	}
	d->opts.out = fopen("/dev/null", "we");
	if (!d->opts.out || pipe2(wake_fd, O_CLOEXEC | O_NONBLOCK) < 0) {
		log_warn("cannot set up the run loop");
		return EXIT_FAILED;
	}
	log_info("bramble %s: reconciling %s every %us (+/-10%%), at once on a webhook or SIGHUP",
		 BRAMBLE_VERSION, d->cfg->source ? d->cfg->source : "(no source)",
		 d->cfg->interval_s);
	if (keys_load(d, false) < 0)
		return EXIT_FAILED;
	if (notify_watch_open(&d->notify, d->cfg, &d->metrics) < 0)
		return EXIT_FAILED;
	seed_from_status(d);
	boot_open(d);
	if (watch_open(&d->watch, d->cfg) == 0 && watch_fd(&d->watch) >= 0) {
		d->opts.seal_check = watch_check;
		d->opts.sealed = watch_sealed;
	}
	/* The seal stays parsed between passes, with the watch or without. */
	d->opts.seal_load = watch_seal_load;
	d->opts.seal_check_ctx = &d->watch;
	return start_http(d);
}

static void daemon_close(struct daemon *d)
{
	size_t i;

	http_stop(d->http);
	control_close(&d->control);
	notify_watch_close(&d->notify); /* aborts a delivery in flight */
	boot_follow_close(d->boot);
	d->boot = NULL;
	watch_close(&d->watch);
	git_source_keep(false);
	free(d->deferrals);
	if (d->signals_set)
		signals_reset();
	for (i = 0; i < 2; i++) {
		if (wake_fd[i] >= 0)
			close(wake_fd[i]);
		wake_fd[i] = -1;
	}
	if (d->opts.out)
		fclose(d->opts.out);
	webhook_keys_release(&d->keys);
	pthread_mutex_destroy(&d->keys_lock);
	metrics_release(&d->metrics);
	if (d->owned) {
		config_release(d->owned);
		free(d->owned);
	}
}

int daemon_run(const struct bramble_config *cfg, const struct pass_opts *opts,
	       const struct daemon_reload *reload)
{
	struct daemon d;
	int code;

	memset(&d, 0, sizeof(d));
	d.control = (struct control)CONTROL_INIT;
	d.cfg = cfg;
	d.reload = reload;
	d.state_dir = cfg->state_dir;
	d.opts = *opts;
	d.opts.mode = PASS_MODE_APPLY;
	d.opts.out = NULL;
	d.opts.memo = &d.memo;
	d.opts.seal_writes = true; /* the next webhook's pass is then a delta one */
	d.watch.fd = -1;
	atomic_init(&d.ready, false);
	atomic_init(&d.hook_pending, false);
	d.refused_log = (struct ratelimit)RATELIMIT_INIT(HOOK_LOG_BURST, HOOK_LOG_WINDOW_MS);
	atomic_store(&sig_stop, 0);
	atomic_store(&sig_hup, 0);
	if (metrics_init(&d.metrics) < 0)
		return EXIT_FAILED;
	if (pthread_mutex_init(&d.keys_lock, NULL) != 0) {
		metrics_release(&d.metrics);
		return EXIT_FAILED;
	}
	/* SIGTERM stops a pass in progress (common/stop.h), not only the loop. */
	stop_watch(&sig_stop);
	watchdog_open();
	liveness_start(cfg->liveness_timeout_s);
	heartbeat_set_progress(liveness_beat);
	code = daemon_open(&d);
	if (code == EXIT_OK) {
		/* Reloads a killed pass left: before anything else, source or not (errors logged). */
		(void)reconcile_retry_reloads(cfg);
		daemon_loop(&d);
	}
	daemon_close(&d);
	watchdog_close();
	heartbeat_set_progress(NULL);
	stop_watch(NULL);
	return code;
}
