/*
 * notify_body: the pure half of notifications: the event bodies, the URL
 * checks and the notify.urlFile reader.  No I/O, no logging.
 */
#include "notify.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const kind_names[NOTIFY_KIND_COUNT] = {"pass_failed", "recovered",
							  "boot_stalled", "unknown_pi"};
static const char *const format_names[] = {"json", "slack", "discord", "matrix"};

const char *notify_kind_name(enum notify_kind k)
{
	return k < NOTIFY_KIND_COUNT ? kind_names[k] : "unknown";
}

int notify_format_parse(const char *s, size_t len, enum notify_format *ret)
{
	size_t i;

	for (i = 0; i < sizeof(format_names) / sizeof(format_names[0]); i++)
		if (strlen(format_names[i]) == len && strncmp(s, format_names[i], len) == 0) {
			*ret = (enum notify_format)i;
			return 0;
		}
	return -EINVAL;
}

/* The length of "http://" or "https://" at the start of url (any case), else 0. */
static size_t scheme_len(const char *url)
{
	if (strncasecmp(url, "http://", 7) == 0)
		return 7;
	if (strncasecmp(url, "https://", 8) == 0)
		return 8;
	return 0;
}

int notify_url_check(const char *url)
{
	size_t s = scheme_len(url), i;

	if (s == 0 || strlen(url) > NOTIFY_URL_MAX)
		return -EINVAL;
	for (i = 0; url[i]; i++)
		if ((unsigned char)url[i] <= ' ' || url[i] == 0x7f)
			return -EINVAL;
	/* a host: something before the path that is not only user information */
	i = strcspn(url + s, "/?#");
	if (i == 0 || url[s + i - 1] == '@')
		return -EINVAL;
	return 0;
}

int notify_url_origin(const char *url, struct buf *out)
{
	size_t s = scheme_len(url), auth, i;
	const char *host;
	int r;

	if (s == 0)
		return buf_adds(out, "(not a url)");
	auth = strcspn(url + s, "/?#");
	host = url + s;
	for (i = 0; i < auth; i++) /* user information ends at the last '@' */
		if (url[s + i] == '@')
			host = url + s + i + 1;
	r = buf_add(out, url, s - 3);
	if (r == 0)
		r = buf_adds(out, "://");
	if (r == 0)
		r = buf_add(out, host, (size_t)(url + s + auth - host));
	return r;
}

static int set_str(json_t *o, const char *key, const char *v)
{
	if (!v)
		return 0;
	return json_object_set_new(o, key, json_string(v)) == 0 ? 0 : -ENOMEM;
}

/* The message, cut at NOTIFY_MESSAGE_MAX bytes on a UTF-8 boundary. */
static char *message_cut(const char *m)
{
	size_t len = strlen(m), n = len;
	char *s;

	if (len <= NOTIFY_MESSAGE_MAX)
		return strdup(m);
	n = NOTIFY_MESSAGE_MAX;
	while (n > 0 && ((unsigned char)m[n] & 0xc0) == 0x80)
		n--;
	s = malloc(n + sizeof("…"));
	if (!s)
		return NULL;
	memcpy(s, m, n);
	memcpy(s + n, "…", sizeof("…"));
	return s;
}

static json_t *event_json(const struct notify_event *ev, const char *host, const char *message)
{
	json_t *o = json_object();
	char when[32];
	struct tm tm;
	int r = o ? 0 : -ENOMEM;

	if (!gmtime_r(&ev->time, &tm) ||
	    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		when[0] = '\0';
	r = r ? r : set_str(o, "schema", NOTIFY_SCHEMA);
	r = r ? r : set_str(o, "event", notify_kind_name(ev->kind));
	r = r ? r : set_str(o, "time", when);
	r = r ? r : set_str(o, "revision", ev->revision);
	r = r ? r : set_str(o, "message", message);
	r = r ? r : set_str(o, "node", ev->node);
	r = r ? r : set_str(o, "serial", ev->serial);
	r = r ? r : set_str(o, "mac", ev->mac);
	r = r ? r : set_str(o, "model", ev->model);
	r = r ? r : set_str(o, "host", host);
	if (r < 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* The chat formats' one line: "bramble@HOST pass_failed: MESSAGE". */
static json_t *chat_json(enum notify_format f, const struct notify_event *ev, const char *host,
			 const char *message)
{
	struct buf t = BUF_INIT;
	json_t *o = NULL;

	if (buf_printf(&t, "bramble@%s %s: %s", host, notify_kind_name(ev->kind), message) < 0)
		goto out;
	if (f == NOTIFY_FORMAT_SLACK)
		o = json_pack("{s:s}", "text", buf_str(&t));
	else if (f == NOTIFY_FORMAT_DISCORD)
		o = json_pack("{s:s}", "content", buf_str(&t));
	else
		o = json_pack("{s:s,s:s}", "msgtype", "m.text", "body", buf_str(&t));
out:
	buf_release(&t);
	return o;
}

int notify_body(enum notify_format f, const struct notify_event *ev, const char *host,
		struct buf *out)
{
	char *message = message_cut(ev->message ? ev->message : "");
	json_t *o = NULL;
	char *text = NULL;
	int r = -ENOMEM;

	if (!message)
		goto out;
	o = f == NOTIFY_FORMAT_JSON ? event_json(ev, host, message)
				    : chat_json(f, ev, host, message);
	text = o ? json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
	if (text)
		r = buf_adds(out, text);
out:
	free(text);
	json_decref(o);
	free(message);
	return r;
}

void notify_targets_free(struct notify_target *t, size_t n)
{
	size_t i;

	for (i = 0; t && i < n; i++)
		free(t[i].url);
	free(t);
}

/* Append one target; the url is copied. */
static int target_add(struct notify_target **targets, size_t *n, enum notify_format f,
		      const char *url, size_t len)
{
	struct notify_target *t = realloc(*targets, (*n + 1) * sizeof(**targets));

	if (!t)
		return -ENOMEM;
	*targets = t;
	t[*n].format = f;
	t[*n].url = strndup(url, len);
	if (!t[*n].url)
		return -ENOMEM;
	(*n)++;
	return 0;
}

/* One line "FORMAT URL" (no newline, no leading blank) at line lineno, column col. */
static int parse_line(const char *name, unsigned lineno, unsigned col, const char *s, size_t len,
		      struct notify_target **targets, size_t *n, struct diags *d)
{
	struct pos pos = {name, lineno, col};
	size_t w = 0, u;
	enum notify_format f;
	char url[NOTIFY_URL_MAX + 1];

	while (w < len && s[w] != ' ' && s[w] != '\t')
		w++;
	u = w;
	while (u < len && (s[u] == ' ' || s[u] == '\t'))
		u++;
	while (len > u && (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\r'))
		len--;
	if (notify_format_parse(s, w, &f) < 0)
		return diags_add(d, &pos,
				 "bad line; expected \"FORMAT URL\", FORMAT json, slack, discord "
				 "or matrix");
	pos.col = col + (unsigned)u;
	if (len - u > NOTIFY_URL_MAX || u == len)
		return diags_add(d, &pos, "expected an http:// or https:// URL after \"%s\"",
				 format_names[f]);
	memcpy(url, s + u, len - u);
	url[len - u] = '\0';
	if (notify_url_check(url) < 0)
		return diags_add(d, &pos, "expected an http:// or https:// URL after \"%s\"",
				 format_names[f]);
	if (*n >= NOTIFY_TARGETS_MAX)
		return diags_add(d, &pos, "more than %d notification targets", NOTIFY_TARGETS_MAX);
	return target_add(targets, n, f, s + u, len - u);
}

int notify_targets_parse(const char *name, const char *text, size_t len,
			 struct notify_target **targets, size_t *n, struct diags *d)
{
	size_t before = d->n, i = 0, end, s;
	unsigned lineno = 0;
	int r = 0;

	while (r == 0 && i < len) {
		const char *nl = memchr(text + i, '\n', len - i);

		end = nl ? (size_t)(nl - text) : len;
		lineno++;
		s = i;
		while (s < end && (text[s] == ' ' || text[s] == '\t'))
			s++;
		if (s < end && text[s] != '#' && text[s] != '\r')
			r = parse_line(name, lineno, (unsigned)(s - i) + 1, text + s, end - s,
				       targets, n, d);
		i = end + 1;
	}
	if (r < 0)
		return r;
	return d->n > before ? -EINVAL : 0;
}
