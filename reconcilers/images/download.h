/*
 * download: fetch an image file by URL (https, http, file) with libcurl into
 * a directory, verified by SHA-256 before it is given its final name.
 *
 * The bytes go to "<name>.part" beside the target.  An interrupted download
 * (a killed process, a dropped connection) resumes from the length of the
 * .part file with an HTTP Range request; a server that ignores the Range
 * (answers 200) restarts from zero.  Transient failures (connection errors,
 * timeouts, HTTP 408/429/5xx) are retried with exponential backoff; other
 * HTTP errors (404, 403, ...) fail at once.  TLS peers are always verified.
 * Only when the whole file is there and its SHA-256 equals the expected one
 * is it renamed to <name> (and fsynced); a mismatch removes the .part and
 * fails with a message that names both sums.  A partial or failed download
 * is never renamed, so <name> existing means verified content.
 *
 * Progress goes to the caller's sink (progress.h), which draws the bar or logs
 * the lines; the retries and the final line go to its note function (this
 * library neither prints nor logs; the controller does).  URLs are shown
 * without userinfo.
 */
#ifndef BRAMBLE_DOWNLOAD_H
#define BRAMBLE_DOWNLOAD_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "progress.h"

/* What a line given to download_opts.note is about. */
enum download_note {
	DOWNLOAD_RETRY, /* "download of <url>: <why>; trying again in 1000 ms" */
	DOWNLOAD_DONE,	/* "downloaded <url>: 90 MiB in 21.5 s (4 MiB/s)" */
};

struct download_opts {
	const char *url;
	const char *sha256;  /* 64 lowercase hex; NULL only for file:// (then computed) */
	uint64_t max_bytes;  /* larger files fail with -EFBIG (0: 64 GiB) */
	unsigned timeout_s;  /* per attempt: no byte for this long is a failure (0: 60) */
	unsigned retries;    /* attempts after the first (0: none) */
	unsigned backoff_ms; /* first retry delay, doubled each time (0: 1000) */
	const char *ca_file; /* extra CA bundle, or NULL for the system's */
	bool quiet;	     /* no progress, and no notes */
	/* Each line above, without secrets, for the caller to log.  NULL: none. */
	void (*note)(void *arg, enum download_note kind, const char *line);
	void *note_arg;
	/* The bytes so far and the total, at least once a second (progress.h).
	 * NULL: no progress. */
	const struct progress_cb *progress;
};

/*
 * Download o->url into dir_fd/name (see above).  On success returns 0 and
 * writes the file's SHA-256 in hex to sha256_out.  Errors: -EBADMSG checksum
 * mismatch, -EFBIG over max_bytes, -ETIMEDOUT, -EIO for HTTP/transport errors
 * after the retries, -EINVAL for a bad URL or scheme, other negative errno
 * for local failures; a one-line message (no secrets) is appended to err.
 */
int download_file(int dir_fd, const char *name, const struct download_opts *o, char sha256_out[65],
		  struct buf *err);

#endif
