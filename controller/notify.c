/*
 * notify: the delivery of notifications (notify.h), one worker thread.
 *
 * The run loop formats the bodies (cheap) and queues one job per target;
 * the worker takes them in order and POSTs each, with retries.  Nothing the
 * run loop calls waits for the network: notifier_send() takes the lock for
 * a queue operation only.  notifier_stop() sets the stop flag, which the
 * transfer's loop (woken by curl_multi_wakeup), its progress callback and
 * the backoff wait all check, so that the daemon exits at once whatever the
 * receiver does.
 */
#include "notify.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

#define BACKOFF_SHIFT_MAX 3 /* 1, 2, 4, 8, 8, ... s */

struct job {
	enum notify_kind kind;
	char *url;
	char *body;
};

struct notifier {
	pthread_mutex_t lock;
	pthread_cond_t cond; /* a job queued, or stop */
	pthread_t thread;
	bool started;
	atomic_bool stop;
	CURLM *multi; /* the worker's; notifier_stop() wakes its poll */
	struct metrics *metrics;
	char host[256];
	/* under lock: the settings and the queue (a ring) */
	struct notify_target *targets;
	size_t n_targets;
	char *token, *ca_file;
	unsigned timeout_s, retries, backoff_ms;
	struct job queue[NOTIFY_QUEUE_MAX];
	size_t head, count;
};

static void job_release(struct job *j)
{
	free(j->url);
	free(j->body);
	memset(j, 0, sizeof(*j));
}

static void count(struct notifier *n, enum metrics_notify_result r)
{
	if (n->metrics)
		metrics_notify(n->metrics, r);
}

/* Replace the settings; the caller holds the lock. */
static int settings_set(struct notifier *n, const struct notify_opts *o)
{
	struct notify_target *t = calloc(o->n_targets ? o->n_targets : 1, sizeof(*t));
	char *token = o->token ? strdup(o->token) : NULL;
	char *ca = o->ca_file ? strdup(o->ca_file) : NULL;
	size_t i, made = 0;
	int r = -ENOMEM;

	if (!t || (o->token && !token) || (o->ca_file && !ca))
		goto out;
	for (made = 0; made < o->n_targets; made++) {
		t[made].format = o->targets[made].format;
		t[made].url = strdup(o->targets[made].url);
		if (!t[made].url)
			goto out;
	}
	notify_targets_free(n->targets, n->n_targets);
	if (n->token)
		explicit_bzero(n->token, strlen(n->token));
	free(n->token);
	free(n->ca_file);
	n->targets = t;
	n->n_targets = o->n_targets;
	n->token = token;
	n->ca_file = ca;
	n->timeout_s = o->timeout_s ? o->timeout_s : 10;
	n->retries = o->retries;
	n->backoff_ms = o->backoff_ms ? o->backoff_ms : 1000;
	t = NULL;
	token = NULL;
	ca = NULL;
	r = 0;
out:
	for (i = 0; t && i < made; i++)
		free(t[i].url);
	free(t);
	if (token)
		explicit_bzero(token, strlen(token));
	free(token);
	free(ca);
	return r;
}

/* Wait ms, or less when the notifier stops; true when it stopped.  Lock held. */
static bool wait_stop(struct notifier *n, unsigned ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	while (!atomic_load(&n->stop))
		if (pthread_cond_timedwait(&n->cond, &n->lock, &ts) == ETIMEDOUT)
			break;
	return atomic_load(&n->stop);
}

static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		       curl_off_t ulnow)
{
	struct notifier *n = arg;

	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	(void)ulnow;
	return atomic_load(&n->stop) ? 1 : 0;
}

static size_t on_write(char *data, size_t size, size_t nmemb, void *arg)
{
	(void)data;
	(void)arg;
	return size * nmemb; /* the answer's body is not needed */
}

/*
 * Run one transfer through the multi handle, so that notifier_stop() can
 * wake its poll (curl_multi_wakeup) and abort it at once; the progress
 * callback checks the stop flag too.
 */
static CURLcode perform(struct notifier *n, CURL *c)
{
	CURLcode rc = CURLE_FAILED_INIT;
	CURLMsg *msg;
	int running = 1, left;

	if (curl_multi_add_handle(n->multi, c) != CURLM_OK)
		return rc;
	while (running) {
		if (curl_multi_perform(n->multi, &running) != CURLM_OK)
			break;
		if (running && atomic_load(&n->stop)) {
			rc = CURLE_ABORTED_BY_CALLBACK;
			break;
		}
		if (running && curl_multi_poll(n->multi, NULL, 0, 1000, NULL) != CURLM_OK)
			break;
	}
	msg = running ? NULL : curl_multi_info_read(n->multi, &left);
	while (msg) {
		if (msg->msg == CURLMSG_DONE && msg->easy_handle == c)
			rc = msg->data.result;
		msg = curl_multi_info_read(n->multi, &left);
	}
	curl_multi_remove_handle(n->multi, c);
	return rc;
}

/* What one delivery needs of the settings, copied so that a reload may replace them. */
struct attempt {
	char *token, *ca_file;
	unsigned timeout_s;
	char err[CURL_ERROR_SIZE];
	long status;
};

/* The options of one POST: TLS verified, http(s) only, no redirect, a timeout, abortable. */
static CURLcode handle_setup(struct notifier *n, CURL *c, const struct job *j, struct attempt *a,
			     struct curl_slist *h)
{
	CURLcode rc = CURLE_OK;

	rc |= curl_easy_setopt(c, CURLOPT_URL, j->url);
	rc |= curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	rc |= curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	rc |= curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	rc |= curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	if (a->ca_file)
		rc |= curl_easy_setopt(c, CURLOPT_CAINFO, a->ca_file);
	rc |= curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	rc |= curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)a->timeout_s);
	rc |= curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	rc |= curl_easy_setopt(c, CURLOPT_POSTFIELDS, j->body);
	rc |= curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(j->body));
	rc |= curl_easy_setopt(c, CURLOPT_USERAGENT, "bramble/" BRAMBLE_VERSION);
	rc |= curl_easy_setopt(c, CURLOPT_ERRORBUFFER, a->err);
	rc |= curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
	rc |= curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
	rc |= curl_easy_setopt(c, CURLOPT_XFERINFODATA, n);
	rc |= curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	return rc;
}

/* Free a header list, wiping the token it holds first. */
static void headers_free(struct curl_slist *h)
{
	struct curl_slist *i;

	for (i = h; i; i = i->next)
		explicit_bzero(i->data, strlen(i->data));
	curl_slist_free_all(h);
}

/* One POST; 0 (any HTTP answer: a.status), or -EIO with a.err, -ECANCELED on stop. */
static int post_once(struct notifier *n, const struct job *j, struct attempt *a)
{
	struct curl_slist *h = NULL, *h2 = NULL;
	struct buf auth = BUF_INIT;
	CURL *c = curl_easy_init();
	CURLcode rc;
	int r = -ENOMEM;

	snprintf(a->err, sizeof(a->err), "out of memory");
	a->status = 0;
	h = curl_slist_append(NULL, "Content-Type: application/json");
	if (h && a->token && buf_printf(&auth, "Authorization: Bearer %s", a->token) == 0) {
		h2 = curl_slist_append(h, buf_str(&auth));
		h = h2 ? h2 : h;
	}
	if (!c || !h || (a->token && !h2))
		goto out;
	a->err[0] = '\0';
	rc = handle_setup(n, c, j, a, h);
	if (rc == CURLE_OK)
		rc = perform(n, c);
	if (rc == CURLE_OK) {
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &a->status);
		r = 0;
	} else {
		if (!a->err[0])
			snprintf(a->err, sizeof(a->err), "%s", curl_easy_strerror(rc));
		r = rc == CURLE_ABORTED_BY_CALLBACK ? -ECANCELED : -EIO;
	}
out:
	curl_easy_cleanup(c);
	headers_free(h);
	if (auth.data)
		explicit_bzero(auth.data, auth.len);
	buf_release(&auth);
	return r;
}

/* Whether an answer (or a transfer error, status 0) is worth another try. */
static bool retryable(long status)
{
	return status == 0 || status == 408 || status == 429 || status >= 500;
}

/* The attempts of one job; the lock is not held but for the waits. */
static void deliver(struct notifier *n, const struct job *j, struct attempt *a, unsigned retries,
		    unsigned backoff_ms)
{
	struct buf origin = BUF_INIT;
	unsigned i, wait_ms;
	int r = 0;

	(void)notify_url_origin(j->url, &origin);
	for (i = 0; i <= retries; i++) {
		r = post_once(n, j, a);
		if (r == -ECANCELED)
			break;
		if (r == 0 && a->status >= 200 && a->status < 300) {
			log_info("notification %s sent to %s (HTTP %ld)", notify_kind_name(j->kind),
				 buf_str(&origin), a->status);
			count(n, METRICS_NOTIFY_SENT);
			goto out;
		}
		if (r == 0)
			snprintf(a->err, sizeof(a->err), "HTTP %ld", a->status);
		if (r == 0 && !retryable(a->status))
			break;
		if (i == retries)
			break;
		wait_ms = backoff_ms << (i < BACKOFF_SHIFT_MAX ? i : BACKOFF_SHIFT_MAX);
		log_debug("notification %s to %s: %s; again in %u ms", notify_kind_name(j->kind),
			  buf_str(&origin), a->err, wait_ms);
		pthread_mutex_lock(&n->lock);
		r = wait_stop(n, wait_ms) ? -ECANCELED : 0;
		pthread_mutex_unlock(&n->lock);
		if (r < 0)
			break;
	}
	log_warnx("notification %s to %s not sent%s: %s", notify_kind_name(j->kind),
		  buf_str(&origin), r == -ECANCELED ? " (stopping)" : "", a->err);
	count(n, METRICS_NOTIFY_FAILED);
out:
	buf_release(&origin);
}

static void *worker(void *arg)
{
	struct notifier *n = arg;
	struct attempt a;
	struct job j;
	unsigned retries, backoff;

	pthread_mutex_lock(&n->lock);
	for (;;) {
		while (!atomic_load(&n->stop) && n->count == 0)
			pthread_cond_wait(&n->cond, &n->lock);
		if (atomic_load(&n->stop))
			break;
		j = n->queue[n->head];
		memset(&n->queue[n->head], 0, sizeof(j));
		n->head = (n->head + 1) % NOTIFY_QUEUE_MAX;
		n->count--;
		memset(&a, 0, sizeof(a));
		a.token = n->token ? strdup(n->token) : NULL;
		a.ca_file = n->ca_file ? strdup(n->ca_file) : NULL;
		a.timeout_s = n->timeout_s;
		retries = n->retries;
		backoff = n->backoff_ms;
		pthread_mutex_unlock(&n->lock);
		deliver(n, &j, &a, retries, backoff);
		if (a.token)
			explicit_bzero(a.token, strlen(a.token));
		free(a.token);
		free(a.ca_file);
		job_release(&j);
		pthread_mutex_lock(&n->lock);
	}
	pthread_mutex_unlock(&n->lock);
	return NULL;
}

static int lock_init(struct notifier *n)
{
	pthread_condattr_t ca;
	int r;

	r = pthread_mutex_init(&n->lock, NULL);
	if (r)
		return -r;
	r = pthread_condattr_init(&ca);
	if (r == 0) {
		r = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		if (r == 0)
			r = pthread_cond_init(&n->cond, &ca);
		pthread_condattr_destroy(&ca);
	}
	if (r)
		pthread_mutex_destroy(&n->lock);
	return -r;
}

int notifier_start(const struct notify_opts *o, struct metrics *m, struct notifier **ret)
{
	struct notifier *n = calloc(1, sizeof(*n));
	int r;

	if (!n)
		return -ENOMEM;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		free(n);
		return -EIO;
	}
	n->multi = curl_multi_init();
	r = n->multi ? lock_init(n) : -ENOMEM;
	if (r < 0) {
		curl_multi_cleanup(n->multi);
		free(n);
		curl_global_cleanup();
		return r;
	}
	atomic_init(&n->stop, false);
	n->metrics = m;
	if (gethostname(n->host, sizeof(n->host) - 1) < 0)
		snprintf(n->host, sizeof(n->host), "localhost");
	r = settings_set(n, o);
	if (r == 0)
		r = -pthread_create(&n->thread, NULL, worker, n);
	n->started = r == 0;
	if (r < 0) {
		notifier_stop(n);
		return r;
	}
	*ret = n;
	return 0;
}

int notifier_configure(struct notifier *n, const struct notify_opts *o)
{
	int r;

	pthread_mutex_lock(&n->lock);
	r = settings_set(n, o);
	pthread_mutex_unlock(&n->lock);
	return r;
}

bool notifier_enabled(struct notifier *n)
{
	bool on;

	if (!n)
		return false;
	pthread_mutex_lock(&n->lock);
	on = n->n_targets > 0;
	pthread_mutex_unlock(&n->lock);
	return on;
}

/* Queue one job (the lock held): the oldest goes when the queue is full. */
static void enqueue(struct notifier *n, struct job *j)
{
	size_t tail;

	if (n->count == NOTIFY_QUEUE_MAX) {
		log_warnx("notification %s dropped: %d are waiting for a slow receiver",
			  notify_kind_name(n->queue[n->head].kind), NOTIFY_QUEUE_MAX);
		job_release(&n->queue[n->head]);
		n->head = (n->head + 1) % NOTIFY_QUEUE_MAX;
		n->count--;
		count(n, METRICS_NOTIFY_DROPPED);
	}
	tail = (n->head + n->count) % NOTIFY_QUEUE_MAX;
	n->queue[tail] = *j;
	n->count++;
	memset(j, 0, sizeof(*j));
}

int notifier_send(struct notifier *n, const struct notify_event *ev)
{
	struct buf body = BUF_INIT;
	struct job j;
	size_t i;
	int r = 0;

	if (!n)
		return 0;
	pthread_mutex_lock(&n->lock);
	for (i = 0; r == 0 && i < n->n_targets; i++) {
		memset(&j, 0, sizeof(j));
		buf_truncate(&body, 0);
		r = notify_body(n->targets[i].format, ev, n->host, &body);
		j.kind = ev->kind;
		j.url = r == 0 ? strdup(n->targets[i].url) : NULL;
		j.body = j.url ? buf_detach(&body, NULL) : NULL;
		if (!j.body) {
			job_release(&j);
			r = -ENOMEM;
			break;
		}
		enqueue(n, &j);
	}
	pthread_cond_broadcast(&n->cond);
	pthread_mutex_unlock(&n->lock);
	buf_release(&body);
	return r;
}

void notifier_stop(struct notifier *n)
{
	size_t i;

	if (!n)
		return;
	pthread_mutex_lock(&n->lock);
	atomic_store(&n->stop, true);
	pthread_cond_broadcast(&n->cond);
	pthread_mutex_unlock(&n->lock);
	curl_multi_wakeup(n->multi); /* a transfer in flight sees the flag now */
	if (n->started)
		pthread_join(n->thread, NULL);
	curl_multi_cleanup(n->multi);
	for (i = 0; i < n->count; i++)
		job_release(&n->queue[(n->head + i) % NOTIFY_QUEUE_MAX]);
	notify_targets_free(n->targets, n->n_targets);
	if (n->token)
		explicit_bzero(n->token, strlen(n->token));
	free(n->token);
	free(n->ca_file);
	pthread_cond_destroy(&n->cond);
	pthread_mutex_destroy(&n->lock);
	curl_global_cleanup();
	free(n);
}
