/*
 * download: one libcurl easy handle per call (see download.h).
 *
 * The .part file is opened with O_APPEND and is, at every moment, exactly
 * the bytes that went into the SHA-256 context: an attempt asks for the
 * bytes after them (a Range "N-"), and whatever the server answers is
 * checked when its headers are complete, before one body byte is kept.  A
 * 206 must start where we asked, a 200 starts the file over, an error status
 * ends the attempt without reading the error page.  Beyond download.h:
 * - a 416 whose Content-Range says the file is exactly as long as the .part
 *   means the .part is whole (it is then verified); any other 416 starts over;
 * - when the sum does not match after resuming a .part that an earlier call
 *   left, the file is fetched once more from zero before the mismatch counts
 *   (the old .part may hold the first bytes of another file);
 * - a redirect from https never goes to http;
 * - a failed download keeps a non-empty .part for the next call (except for
 *   -EFBIG and -EBADMSG) and removes an empty one;
 * - messages show the URL without userinfo and with any query as "?***".
 */
#include "download.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fsutil.h"
#include "hash.h"
#include "heartbeat.h"
#include "stop.h"

#define DL_DEFAULT_MAX	   ((uint64_t)64 << 30)
#define DL_DEFAULT_TIMEOUT 60u
#define DL_DEFAULT_BACKOFF 1000u
#define DL_MAX_BACKOFF_MS  60000u /* the longest wait between two attempts */
#define DL_MAX_REDIRS	   10L
#define DL_MAX_RESTARTS	   3u /* starts from zero forced by the server */
#define DL_URL_MAX	   8192u
#define DL_SKIP_MAX	   (1u << 20) /* body of a redirect we read and drop */
#define DL_HEADER_MAX	   256u	      /* longer header lines are not ours */
#define DL_CHUNK	   (64u * 1024)

enum dl_outcome {
	DL_DONE,
	DL_RESTART,   /* the server's answer needs a start from zero */
	DL_TRANSIENT, /* worth another attempt after a pause */
	DL_FATAL,
};

struct dl {
	const struct download_opts *o;
	CURL *curl;
	int fd; /* the .part, O_APPEND */
	struct sha256_ctx sha;
	uint64_t have;	   /* bytes in the .part, every one hashed */
	uint64_t start;	   /* where this attempt's range starts */
	uint64_t max;	   /* o->max_bytes or its default */
	uint64_t total;	   /* size of the whole file once known, else 0 */
	uint64_t received; /* body bytes kept during this call (for the rate) */
	uint64_t skipped;  /* body bytes of redirects, dropped */
	bool is_file, part_ok, was_partial, begun, http_error, restart;
	long status;	  /* of the last response */
	int64_t clen;	  /* its Content-Length, or -1 */
	int64_t cr_start; /* its Content-Range start, or -1 */
	int64_t cr_total; /* its Content-Range complete length, or -1 */
	int err;	  /* a local failure inside a callback */
	int64_t t0;
	const char *name;
	char *safe_url; /* for messages: no userinfo, no query */
	char *password; /* userinfo password, scrubbed out of curl's messages */
	struct buf why; /* what went wrong with the last attempt */
	char errbuf[CURL_ERROR_SIZE];
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_FAILED_INIT;

static void curl_init_once(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Parse leading decimal digits into *ret; NULL when there are none or too many. */
static const char *parse_u64(const char *s, uint64_t *ret)
{
	uint64_t v = 0;
	const char *p = s;

	for (; *p >= '0' && *p <= '9'; p++) {
		unsigned d = (unsigned)(*p - '0');

		if (v > (UINT64_MAX - d) / 10)
			return NULL;
		v = v * 10 + d;
	}
	if (p == s)
		return NULL;
	*ret = v;
	return p;
}

/*
 * The URL as it may appear in a message: the userinfo ("user:password@") is
 * dropped, and a query, which can hold a signature or a token, shows as "?***".
 */
static int url_redact(const char *url, char **ret)
{
	struct buf b = BUF_INIT;
	const char *auth, *end, *at, *query;
	int r;

	auth = strstr(url, "://");
	auth = auth ? auth + 3 : url;
	end = auth + strcspn(auth, "/?#");
	at = memrchr(auth, '@', (size_t)(end - auth));
	query = end + strcspn(end, "?#");
	r = buf_add(&b, url, (size_t)(auth - url));
	if (r == 0)
		r = buf_add(&b, at ? at + 1 : auth, (size_t)(end - (at ? at + 1 : auth)));
	if (r == 0)
		r = buf_add(&b, end, (size_t)(query - end));
	if (r == 0 && *query == '?')
		r = buf_adds(&b, "?***");
	if (r == 0) {
		*ret = buf_detach(&b, NULL);
		r = *ret ? 0 : -ENOMEM;
	}
	buf_release(&b);
	return r;
}

/* Replace every occurrence of secret in b (a message from libcurl) with "***". */
static int scrub(struct buf *b, const char *secret)
{
	struct buf out = BUF_INIT;
	const char *p = buf_str(b), *hit;
	size_t n;
	int r = 0;

	if (!secret || !*secret || !strstr(p, secret))
		return 0;
	n = strlen(secret);
	while (r == 0 && (hit = strstr(p, secret)) != NULL) {
		r = buf_add(&out, p, (size_t)(hit - p));
		if (r == 0)
			r = buf_adds(&out, "***");
		p = hit + n;
	}
	if (r == 0)
		r = buf_adds(&out, p);
	if (r == 0) {
		buf_truncate(b, 0);
		r = buf_add(b, out.data, out.len);
	}
	buf_release(&out);
	return r;
}

static bool name_ok(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	return n > 0 && n + sizeof(".part") <= NAME_MAX && !strchr(name, '/') &&
	       strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
}

static bool sha_ok(const char *s)
{
	size_t i;

	for (i = 0; i < SHA256_HEX_LEN; i++)
		if (hex_value(s[i]) < 0)
			return false;
	return s[SHA256_HEX_LEN] == '\0';
}

/* Printable ASCII without spaces: anything else is no URL we fetch (and no log line we write). */
static bool url_chars_ok(const char *url)
{
	size_t n = 0;

	for (; url[n]; n++)
		if ((unsigned char)url[n] <= 0x20 || (unsigned char)url[n] >= 0x7f)
			return false;
	return n > 0 && n <= DL_URL_MAX;
}

/* Parse the URL with libcurl's parser: its scheme, and the password to keep out of messages. */
static int url_check(struct dl *d, struct buf *err)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *pw = NULL;
	int r = 0;

	if (!u)
		return -ENOMEM;
	if (curl_url_set(u, CURLUPART_URL, d->o->url, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK) {
		r = -EINVAL;
		buf_printf(err, "invalid url \"%s\"", d->safe_url);
		goto out;
	}
	if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0 &&
	    strcmp(scheme, "file") != 0) {
		r = -EINVAL;
		buf_printf(err, "unsupported url scheme \"%s\" in \"%s\" (http, https or file)",
			   scheme, d->safe_url);
		goto out;
	}
	d->is_file = strcmp(scheme, "file") == 0;
	if (curl_url_get(u, CURLUPART_PASSWORD, &pw, 0) == CURLUE_OK) {
		d->password = strdup(pw);
		if (!d->password)
			r = -ENOMEM;
	}
out:
	curl_free(pw);
	curl_free(scheme);
	curl_url_cleanup(u);
	return r;
}

/* Validate the arguments; nothing is opened or created before they pass. */
static int dl_check(struct dl *d, const char *name, struct buf *err)
{
	const struct download_opts *o = d->o;
	int r;

	if (!name_ok(name)) {
		buf_printf(err, "invalid download file name \"%s\"", name ? name : "");
		return -EINVAL;
	}
	if (!o->url || !url_chars_ok(o->url)) {
		buf_adds(err,
			 "invalid url (empty, too long, or with spaces or control characters)");
		return -EINVAL;
	}
	r = url_redact(o->url, &d->safe_url);
	if (r < 0)
		return r;
	r = url_check(d, err);
	if (r < 0)
		return r;
	if (o->sha256 ? !sha_ok(o->sha256) : !d->is_file) {
		buf_printf(err, "%s for \"%s\"",
			   o->sha256 ? "invalid sha256 (64 hex digits expected)"
				     : "a sha256 is required",
			   d->safe_url);
		return -EINVAL;
	}
	return 0;
}

/* Empty the .part and the digest: the download starts over from byte 0. */
static int dl_reset(struct dl *d)
{
	int r;

	if (ftruncate(d->fd, 0) < 0)
		return -errno;
	sha256_release(&d->sha);
	r = sha256_init(&d->sha);
	if (r < 0)
		return r;
	d->have = 0;
	return 0;
}

/* Hash the bytes an earlier, interrupted download left in the .part. */
static int part_hash(struct dl *d, uint64_t len)
{
	char *chunk = malloc(DL_CHUNK);
	uint64_t off = 0;
	int r = 0;

	if (!chunk)
		return -ENOMEM;
	while (r == 0 && off < len) {
		size_t want = len - off < DL_CHUNK ? (size_t)(len - off) : DL_CHUNK;
		ssize_t n = pread(d->fd, chunk, want, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = n < 0 ? -errno : -EIO;
			break;
		}
		r = sha256_update(&d->sha, chunk, (size_t)n);
		off += (uint64_t)n;
	}
	free(chunk);
	if (r == 0)
		d->have = len;
	return r;
}

/* Open (or create) dir_fd/<name>.part and take over what it holds. */
static int part_open(struct dl *d, int dir_fd, const char *part, struct buf *err)
{
	struct stat st;
	int r;

	d->fd = openat(dir_fd, part, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (d->fd < 0 || fstat(d->fd, &st) < 0) {
		r = -errno;
		buf_printf(err, "cannot open \"%s\": %s", part, strerror(errno));
		return r;
	}
	if (!S_ISREG(st.st_mode)) {
		buf_printf(err, "\"%s\" is not a regular file", part);
		return -EINVAL;
	}
	d->part_ok = true;
	r = sha256_init(&d->sha);
	if (r < 0)
		return r;
	if (st.st_size <= 0 || (uint64_t)st.st_size > d->max)
		r = dl_reset(d);
	else
		r = part_hash(d, (uint64_t)st.st_size);
	if (r < 0) {
		buf_printf(err, "cannot read \"%s\": %s", part, strerror(-r));
		return r;
	}
	d->was_partial = d->have > 0;
	return 0;
}

static void fmt_size(uint64_t v, char *out, size_t n)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	double x = (double)v;
	unsigned u = 0;

	while (x >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
		x /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(out, n, "%" PRIu64 " B", v);
	else
		snprintf(out, n, "%.1f %s", x, units[u]);
}

/* Bytes per second over this call, as text. */
static void fmt_rate(const struct dl *d, int64_t now, char *out, size_t n)
{
	double secs = (double)(now - d->t0) / 1e9;

	fmt_size(secs > 0 ? (uint64_t)((double)d->received / secs) : 0, out, n);
}

static void dl_note(const struct dl *d, enum download_note kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Give the caller one line to log, unless quiet (or out of memory: a note is no error). */
static void dl_note(const struct dl *d, enum download_note kind, const char *fmt, ...)
{
	struct buf line = BUF_INIT;
	va_list ap;
	int r;

	if (d->o->quiet || !d->o->note)
		return;
	va_start(ap, fmt);
	r = buf_vprintf(&line, fmt, ap);
	va_end(ap);
	if (r == 0)
		d->o->note(d->o->note_arg, kind, buf_str(&line));
	buf_release(&line);
}

/* The bytes so far and the total, to the caller's sink (progress.h): it shows them. */
static void progress_show(const struct dl *d)
{
	struct progress p = {.step = "download", .done = d->have, .total = d->total};

	progress_report(d->o->progress, &p);
}

/* libcurl calls this at least once a second, also while no byte comes. */
static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		       curl_off_t ulnow)
{
	struct dl *d = arg;

	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	(void)ulnow;
	if (stop_requested())
		return 1; /* CURLE_ABORTED_BY_CALLBACK */
	heartbeat();	  /* curl calls this about once a second, bytes or not */
	if (!d->o->quiet)
		progress_show(d);
	return 0;
}

/* The expected size is known: refuse it now if it is over the limit. */
static bool total_ok(struct dl *d)
{
	if (d->total <= d->max)
		return true;
	d->err = -EFBIG;
	buf_printf(&d->why, "\"%s\" is %" PRIu64 " bytes, more than the limit of %" PRIu64,
		   d->safe_url, d->total, d->max);
	return false;
}

/*
 * The headers of a 2xx answer are complete: decide what its body is.  A 206
 * must continue the .part exactly; a 200 is the whole file, so the .part
 * starts over.
 */
static bool begin_http(struct dl *d)
{
	int r;

	if (d->status == 206) {
		if (d->cr_start < 0 || (uint64_t)d->cr_start != d->start) {
			d->restart = true;
			return false;
		}
		if (d->cr_total >= 0)
			d->total = (uint64_t)d->cr_total;
		else if (d->clen >= 0)
			d->total = d->start + (uint64_t)d->clen;
	} else if (d->status == 200) {
		if (d->have > 0) {
			r = dl_reset(d);
			if (r < 0) {
				d->err = r;
				buf_printf(&d->why, "cannot truncate \"%s.part\": %s", d->name,
					   strerror(-r));
				return false;
			}
		}
		if (d->clen >= 0)
			d->total = (uint64_t)d->clen;
	} else {
		d->http_error = true; /* 204 and the like: no file to keep */
		return false;
	}
	d->begun = true;
	return total_ok(d);
}

/* file:// has no headers: the first body bytes (or the end) start it. */
static bool begin_file(struct dl *d)
{
	curl_off_t cl = -1;

	if (curl_easy_getinfo(d->curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl) == CURLE_OK &&
	    cl >= 0)
		d->total = d->start + (uint64_t)cl;
	d->begun = true;
	return total_ok(d);
}

/* Content-Range: bytes START-END/TOTAL, or bytes * /TOTAL (on a 416). */
static void parse_content_range(struct dl *d, const char *v)
{
	uint64_t a, b, t;
	const char *p;

	if (strncasecmp(v, "bytes ", 6) != 0)
		return;
	v += 6;
	if (*v == '*') {
		p = v + 1;
	} else {
		p = parse_u64(v, &a);
		if (!p || *p != '-')
			return;
		p = parse_u64(p + 1, &b);
		if (!p || b < a || a > INT64_MAX)
			return;
		d->cr_start = (int64_t)a;
	}
	if (*p == '/' && parse_u64(p + 1, &t) && t <= INT64_MAX)
		d->cr_total = (int64_t)t;
}

/* One header line (copied, NUL-terminated, without the line end). */
static bool on_header_line(struct dl *d, char *line)
{
	uint64_t v;
	const char *p;

	if (strncmp(line, "HTTP/", 5) == 0) {
		p = strchr(line, ' ');
		d->status = p && parse_u64(p + 1, &v) && v < 1000 ? (long)v : 0;
		d->clen = d->cr_start = d->cr_total = -1;
	} else if (strncasecmp(line, "content-length:", 15) == 0) {
		p = line + 15 + strspn(line + 15, " \t");
		if (parse_u64(p, &v) && v <= INT64_MAX)
			d->clen = (int64_t)v;
	} else if (strncasecmp(line, "content-range:", 14) == 0) {
		parse_content_range(d, line + 14 + strspn(line + 14, " \t"));
	} else if (line[0] == '\0') {
		/* the end of one response's headers */
		if (d->status >= 400) {
			d->http_error = true;
			return false; /* leave the error page unread */
		}
		if (d->status >= 200 && d->status < 300)
			return begin_http(d);
	}
	return true;
}

static size_t on_header(char *data, size_t size, size_t n, void *arg)
{
	struct dl *d = arg;
	char line[DL_HEADER_MAX];
	size_t len = size * n, l = len;

	if (l >= sizeof(line))
		l = sizeof(line) - 1;
	memcpy(line, data, l);
	while (l > 0 && (line[l - 1] == '\n' || line[l - 1] == '\r'))
		l--;
	line[l] = '\0';
	return on_header_line(d, line) ? len : 0;
}

static size_t on_write(char *data, size_t size, size_t n, void *arg)
{
	struct dl *d = arg;
	size_t len = size * n;
	int r;

	if (!d->begun && !d->is_file) {
		d->skipped += len; /* the body of a redirect */
		return d->skipped > DL_SKIP_MAX ? 0 : len;
	}
	if (!d->begun && !begin_file(d))
		return 0;
	if (len > d->max - d->have) {
		d->err = -EFBIG;
		buf_printf(&d->why, "\"%s\" is larger than the limit of %" PRIu64 " bytes",
			   d->safe_url, d->max);
		return 0;
	}
	r = write_all(d->fd, data, len);
	if (r == 0)
		r = sha256_update(&d->sha, data, len);
	if (r < 0) {
		d->err = r;
		buf_printf(&d->why, "cannot write \"%s.part\": %s", d->name, strerror(-r));
		return 0;
	}
	d->have += len;
	d->received += len;
	return len;
}

/* The options that stay the same over every attempt. */
static int dl_setup(struct dl *d)
{
	const struct download_opts *o = d->o;
	long timeout = (long)(o->timeout_s ? o->timeout_s : DL_DEFAULT_TIMEOUT);
	bool https = strncasecmp(o->url, "https:", 6) == 0;
	CURL *c = curl_easy_init();
	CURLcode rc = CURLE_OK;

	if (!c)
		return -ENOMEM;
	d->curl = c;
	rc |= curl_easy_setopt(c, CURLOPT_URL, o->url);
	rc |= curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https,file");
	/* a redirect never leaves http(s), and never goes from https down to http */
	rc |= curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, https ? "https" : "http,https");
	rc |= curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
	rc |= curl_easy_setopt(c, CURLOPT_MAXREDIRS, DL_MAX_REDIRS);
	rc |= curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	rc |= curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	if (o->ca_file)
		rc |= curl_easy_setopt(c, CURLOPT_CAINFO, o->ca_file);
	rc |= curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	rc |= curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, timeout);
	rc |= curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
	rc |= curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, timeout);
	rc |= curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE,
			       (curl_off_t)(d->max > INT64_MAX ? INT64_MAX : d->max));
	rc |= curl_easy_setopt(c, CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
	rc |= curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
	rc |= curl_easy_setopt(c, CURLOPT_BUFFERSIZE, 128L * 1024);
	rc |= curl_easy_setopt(c, CURLOPT_USERAGENT, "bramble/" BRAMBLE_VERSION);
	rc |= curl_easy_setopt(c, CURLOPT_ERRORBUFFER, d->errbuf);
	rc |= curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	rc |= curl_easy_setopt(c, CURLOPT_HEADERDATA, d);
	rc |= curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
	rc |= curl_easy_setopt(c, CURLOPT_WRITEDATA, d);
	/* Also when quiet: the callback is where a cancel is noticed. */
	rc |= curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
	rc |= curl_easy_setopt(c, CURLOPT_XFERINFODATA, d);
	rc |= curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	return rc == CURLE_OK ? 0 : -ENOMEM;
}

static bool status_transient(long status)
{
	return status == 408 || status == 429 || status == 500 || status == 502 || status == 503 ||
	       status == 504;
}

static bool curl_transient(CURLcode rc)
{
	switch (rc) {
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_PARTIAL_FILE:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_SSL_CONNECT_ERROR:
		return true;
	default:
		return false;
	}
}

/* What an error status means; a 416 on a resumed request may mean the .part is whole. */
static enum dl_outcome http_outcome(struct dl *d)
{
	if (d->status == 416 && d->start > 0) {
		if (d->cr_total >= 0 && (uint64_t)d->cr_total == d->start) {
			d->total = d->start;
			return DL_DONE;
		}
		return DL_RESTART;
	}
	buf_printf(&d->why, "HTTP status %ld", d->status);
	return d->status >= 400 && status_transient(d->status) ? DL_TRANSIENT : DL_FATAL;
}

/* The transfer ended without error: is the file whole? */
static enum dl_outcome ok_outcome(struct dl *d)
{
	if (!d->is_file && d->status != 200 && d->status != 206) {
		buf_printf(&d->why, "unexpected HTTP status %ld", d->status);
		return DL_FATAL;
	}
	if (!d->begun && !begin_file(d))
		return DL_FATAL;
	if (d->total > 0 && d->have != d->total) {
		buf_printf(&d->why, "transfer ended at %" PRIu64 " of %" PRIu64 " bytes", d->have,
			   d->total);
		return DL_TRANSIENT;
	}
	return DL_DONE;
}

static enum dl_outcome curl_outcome(struct dl *d, CURLcode rc)
{
	int r;

	if ((rc == CURLE_BAD_DOWNLOAD_RESUME || rc == CURLE_RANGE_ERROR) && d->start > 0)
		return DL_RESTART; /* a file:// source shorter than the .part */
	if (rc == CURLE_FILESIZE_EXCEEDED) {
		d->err = -EFBIG;
		buf_printf(&d->why, "\"%s\" is larger than the limit of %" PRIu64 " bytes",
			   d->safe_url, d->max);
		return DL_FATAL;
	}
	r = buf_adds(&d->why, d->errbuf[0] ? d->errbuf : curl_easy_strerror(rc));
	while (r == 0 && d->why.len > 0 && d->why.data[d->why.len - 1] == '\n')
		buf_truncate(&d->why, d->why.len - 1);
	if (r == 0)
		r = scrub(&d->why, d->password);
	if (r < 0) {
		d->err = r;
		return DL_FATAL;
	}
	if (rc == CURLE_OPERATION_TIMEDOUT)
		d->err = -ETIMEDOUT;
	return curl_transient(rc) ? DL_TRANSIENT : DL_FATAL;
}

/* One request for the bytes after the .part. */
static enum dl_outcome dl_attempt(struct dl *d)
{
	char range[32];
	CURLcode rc;

	buf_truncate(&d->why, 0);
	d->errbuf[0] = '\0';
	d->status = 0;
	d->clen = d->cr_start = d->cr_total = -1;
	d->begun = d->http_error = d->restart = false;
	d->err = 0;
	d->total = 0;
	d->skipped = 0;
	d->start = d->have;
	if (ftruncate(d->fd, (off_t)d->have) < 0) {
		d->err = -errno;
		buf_printf(&d->why, "cannot truncate \"%s.part\": %s", d->name, strerror(errno));
		return DL_FATAL;
	}
	snprintf(range, sizeof(range), "%" PRIu64 "-", d->start);
	if (curl_easy_setopt(d->curl, CURLOPT_RANGE, d->start > 0 ? range : NULL) != CURLE_OK) {
		d->err = -ENOMEM;
		return DL_FATAL;
	}
	rc = curl_easy_perform(d->curl);
	if (d->err)
		return DL_FATAL;
	if (d->restart)
		return DL_RESTART;
	if (d->http_error)
		return http_outcome(d);
	return rc == CURLE_OK ? ok_outcome(d) : curl_outcome(d, rc);
}

/* Sleep ms, in steps short enough to notice a cancel. */
static void sleep_ms(unsigned ms)
{
	while (ms && !stop_requested()) {
		unsigned step = ms < 100 ? ms : 100;
		struct timespec ts = {0, (long)step * 1000000L};

		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
		ms -= step;
	}
}

/* The message for a failed download, and the errno it returns. */
static int dl_fail(struct dl *d, struct buf *err, unsigned attempts)
{
	int r = d->err ? d->err : -EIO;

	if (d->err == -EFBIG) {
		buf_adds(err, buf_str(&d->why));
		return r;
	}
	buf_printf(err, "cannot download \"%s\": %s", d->safe_url, buf_str(&d->why));
	if (attempts > 1)
		buf_printf(err, " (%u attempts)", attempts);
	return r;
}

/*
 * Attempts until the file is whole: a transient failure waits and tries
 * again (at most o->retries times), resuming from what is on disk; a server
 * that forces a start from zero does not use up a retry, but may do so
 * only DL_MAX_RESTARTS times.
 */
static int dl_run(struct dl *d, struct buf *err)
{
	unsigned backoff = d->o->backoff_ms ? d->o->backoff_ms : DL_DEFAULT_BACKOFF;
	unsigned attempts = 0, restarts = 0;
	enum dl_outcome res;
	int r;

	for (;;) {
		res = dl_attempt(d);
		attempts++;
		if (res == DL_DONE)
			return 0;
		if (stop_requested()) {
			buf_printf(err,
				   "download of \"%s\" stopped (bramble is stopping); what "
				   "came is kept, to resume from",
				   d->safe_url);
			return -ECANCELED;
		}
		if (res == DL_RESTART && restarts++ < DL_MAX_RESTARTS) {
			r = dl_reset(d);
			if (r < 0)
				return r;
			continue;
		}
		if (res == DL_RESTART)
			buf_adds(&d->why, "the server keeps answering with the wrong range");
		if (res != DL_TRANSIENT || attempts > d->o->retries + restarts)
			return dl_fail(d, err, attempts);
		dl_note(d, DOWNLOAD_RETRY, "download of %s: %s; trying again in %u ms", d->safe_url,
			buf_str(&d->why), backoff);
		sleep_ms(backoff);
		backoff = backoff > DL_MAX_BACKOFF_MS / 2 ? DL_MAX_BACKOFF_MS : backoff * 2;
	}
}

/* Make the complete .part durable and compute its digest. */
static int dl_digest(struct dl *d, char hex[SHA256_HEX_LEN + 1], struct buf *err)
{
	int r;

	if (fsync(d->fd) < 0) {
		r = -errno;
		buf_printf(err, "cannot sync \"%s.part\": %s", d->name, strerror(errno));
		return r;
	}
	r = sha256_final_hex(&d->sha, hex);
	if (r == 0)
		r = sha256_init(&d->sha);
	return r;
}

/* Give the verified .part its name, durably. */
static int dl_commit(struct dl *d, int dir_fd, const char *part, struct buf *err)
{
	int r;

	if (renameat(dir_fd, part, dir_fd, d->name) < 0) {
		r = -errno;
		buf_printf(err, "cannot rename \"%s\" to \"%s\": %s", part, d->name,
			   strerror(errno));
		return r;
	}
	if (fsync(dir_fd) < 0) {
		r = -errno;
		buf_printf(err, "cannot sync the directory of \"%s\": %s", d->name,
			   strerror(errno));
		return r;
	}
	return 0;
}

static void dl_report(struct dl *d)
{
	int64_t now = mono_ns();
	char size[32], rate[32];

	fmt_size(d->have, size, sizeof(size));
	fmt_rate(d, now, rate, sizeof(rate));
	dl_note(d, DOWNLOAD_DONE, "downloaded %s: %s in %.1f s (%s/s)", d->safe_url, size,
		(double)(now - d->t0) / 1e9, rate);
}

/*
 * Download, then verify.  A mismatch after resuming a .part that an earlier
 * call left behind may come from that old .part (another version of the
 * file under the same name): the file is fetched once more from zero before
 * the mismatch counts.
 */
static int dl_fetch_verified(struct dl *d, int dir_fd, const char *part,
			     char hex[SHA256_HEX_LEN + 1], struct buf *err)
{
	int r;

	for (;;) {
		r = dl_run(d, err);
		if (r == 0)
			r = dl_digest(d, hex, err);
		if (r < 0 || !d->o->sha256 || strcasecmp(hex, d->o->sha256) == 0)
			break;
		if (!d->was_partial) {
			buf_printf(err,
				   "checksum mismatch for %s: expected sha256:%s, got sha256:%s",
				   d->safe_url, d->o->sha256, hex);
			return -EBADMSG;
		}
		d->was_partial = false;
		r = dl_reset(d);
		if (r < 0)
			return r;
	}
	if (r == 0)
		r = dl_commit(d, dir_fd, part, err);
	return r;
}

int download_file(int dir_fd, const char *name, const struct download_opts *o, char sha256_out[65],
		  struct buf *err)
{
	struct dl d = {.o = o, .fd = -1, .why = BUF_INIT, .name = name};
	struct buf part = BUF_INIT;
	char hex[SHA256_HEX_LEN + 1];
	int r;

	d.max = o->max_bytes ? o->max_bytes : DL_DEFAULT_MAX;
	d.t0 = mono_ns();
	r = dl_check(&d, name, err);
	if (r < 0)
		goto out;
	pthread_once(&curl_once, curl_init_once);
	if (curl_init_rc != CURLE_OK) {
		r = -ENOMEM;
		buf_adds(err, "cannot initialise libcurl");
		goto out;
	}
	r = buf_printf(&part, "%s.part", name);
	if (r == 0)
		r = part_open(&d, dir_fd, buf_str(&part), err);
	if (r == 0)
		r = dl_setup(&d);
	if (r == 0)
		r = dl_fetch_verified(&d, dir_fd, buf_str(&part), hex, err);
	if (r == 0) {
		dl_report(&d);
		memcpy(sha256_out, hex, sizeof(hex));
	}
out:
	if (r < 0 && d.part_ok && (r == -EFBIG || r == -EBADMSG || d.have == 0))
		unlinkat(dir_fd, buf_str(&part), 0);
	if (d.fd >= 0)
		close(d.fd);
	curl_easy_cleanup(d.curl);
	sha256_release(&d.sha);
	buf_release(&d.why);
	buf_release(&part);
	free(d.safe_url);
	free(d.password);
	return r;
}
