/*
 * notify: events out.  On a failed pass, a recovery, a boot that stalls and
 * an unknown Pi, the daemon POSTs a small versioned JSON event (schema
 * "bramble/event/v1") to the URLs of notify.url and notify.urlFile, or a
 * Slack-, Discord- or Matrix-compatible body ({"text"}, {"content"},
 * {"msgtype": "m.text", "body"}).
 *
 * The bodies, the URL checks and the urlFile reader are pure (notify_body.c,
 * unit-tested); the delivery (notify.c) is one worker thread with a bounded
 * queue, so that a slow or dead receiver never delays a pass: the oldest
 * event is dropped when the queue is full.  Each delivery is a libcurl easy
 * handle: TLS verification on, http and https only (no redirects), a timeout,
 * retries after 1, 2 and 4 s (a 4xx other than 408 and 429 is final), and an
 * abort of the transfer in flight when the daemon stops.  URLs may hold a
 * token: only scheme://host ever reaches a log line.
 */
#ifndef BRAMBLE_NOTIFY_H
#define BRAMBLE_NOTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "diag.h"
#include "metrics.h"
#include "../common/buf.h"

#define NOTIFY_SCHEMA	   "bramble/event/v1"
#define NOTIFY_TARGETS_MAX 16
#define NOTIFY_URL_MAX	   2048
#define NOTIFY_QUEUE_MAX   64
#define NOTIFY_MESSAGE_MAX 1024 /* longer messages are cut (with "…") */

enum notify_kind {
	NOTIFY_PASS_FAILED,
	NOTIFY_RECOVERED,
	NOTIFY_BOOT_STALLED,
	NOTIFY_UNKNOWN_PI,
	NOTIFY_KIND_COUNT,
};

enum notify_format {
	NOTIFY_FORMAT_JSON,
	NOTIFY_FORMAT_SLACK,
	NOTIFY_FORMAT_DISCORD,
	NOTIFY_FORMAT_MATRIX,
};

/* One event; a NULL string is left out of the body. */
struct notify_event {
	enum notify_kind kind;
	time_t time;
	const char *revision;
	const char *message; /* one line for people; the chat bodies' text */
	const char *node;
	const char *serial;
	const char *mac;
	const char *model;
};

struct notify_target {
	enum notify_format format;
	char *url;
};

/* "pass_failed", "recovered", "boot_stalled", "unknown_pi". */
const char *notify_kind_name(enum notify_kind k);
/* "json", "slack", "discord", "matrix" into ret; -EINVAL for another word. */
int notify_format_parse(const char *s, size_t len, enum notify_format *ret);

/*
 * Whether url is one bramble may POST to: http:// or https:// (any case), a
 * host, at most NOTIFY_URL_MAX bytes, no space or control character.
 * 0 or -EINVAL.
 */
int notify_url_check(const char *url);
/* Append "scheme://host[:port]" of a checked url: what a log line may show of it. */
int notify_url_origin(const char *url, struct buf *out);

/*
 * Append the body of ev for a target of format f; host is the controller's
 * name (gethostname), sent in the JSON event and in the chat text.
 */
int notify_body(enum notify_format f, const struct notify_event *ev, const char *host,
		struct buf *out);

/*
 * Parse the text of a notify.urlFile (name for the messages): one target a
 * line, "FORMAT URL", FORMAT json, slack, discord or matrix; blank lines and
 * lines starting with '#' are skipped.  Errors go to d with their line and
 * column (and never the URL: it is a secret), -EINVAL.  The targets are
 * appended to *targets (grown with realloc; at most NOTIFY_TARGETS_MAX in
 * all), *n updated.
 */
int notify_targets_parse(const char *name, const char *text, size_t len,
			 struct notify_target **targets, size_t *n, struct diags *d);
/* Free n targets and the array. */
void notify_targets_free(struct notify_target *t, size_t n);

/* What the notifier delivers with; the notifier copies all of it. */
struct notify_opts {
	const struct notify_target *targets;
	size_t n_targets;
	const char *token; /* Authorization: Bearer; NULL: none */
	const char *ca_file;
	unsigned timeout_s;
	unsigned retries;
	/* the first retry's wait, doubled each time (the tests shorten nothing: 1000) */
	unsigned backoff_ms;
};

struct notifier;

/*
 * Start the worker thread; metrics (may be NULL) counts what was sent, failed
 * for good or dropped.  With no target the notifier takes events and drops
 * nothing, sends nothing.
 */
int notifier_start(const struct notify_opts *o, struct metrics *m, struct notifier **ret);
/* Replace the targets and settings (a SIGHUP); deliveries in flight finish with the old. */
int notifier_configure(struct notifier *n, const struct notify_opts *o);
/* Whether any target is configured. */
bool notifier_enabled(struct notifier *n);
/*
 * Queue ev for every target: never blocks on the network; when the queue is
 * full the oldest event is dropped (counted).  -ENOMEM.
 */
int notifier_send(struct notifier *n, const struct notify_event *ev);
/* Abort a transfer in flight, join the thread, free everything (NULL is fine). */
void notifier_stop(struct notifier *n);

#endif
