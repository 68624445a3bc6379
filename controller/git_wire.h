/*
 * git_wire: the records between bramble and its fetch process (git_mirror.h):
 * the settings it reads on its stdin, and what it sends back over a pipe.  A record is a type byte, a 32-bit little-endian
 * payload length, and the payload: a NUL-terminated text, then data bytes.
 * The stream ends with one GIT_WIRE_RESULT record; a stream without one
 * means the process died.
 */
#ifndef BRAMBLE_GIT_WIRE_H
#define BRAMBLE_GIT_WIRE_H

#include <stdbool.h>
#include <stddef.h>

#include "../common/buf.h"

enum git_wire_type {
	GIT_WIRE_FILE = 'F',	 /* text: name; data: content */
	GIT_WIRE_LARGE = 'L',	 /* text: name of a blob over MANIFEST_MAX_FILE_SIZE */
	GIT_WIRE_DIAG = 'D',	 /* text: a message for the user */
	GIT_WIRE_REVISION = 'V', /* text: "<ref>@sha1:<commit>" */
	GIT_WIRE_RESULT = 'X',	 /* text: "0" or a negative errno; always last */
	GIT_WIRE_SETTING = 'S',	 /* to the fetch process; text: "section.key=value" */
	/* To the fetch process, after the settings: a blob the parent holds.
	 * text: the file's name; data: the blob's id (GIT_WIRE_OID_HEX bytes). */
	GIT_WIRE_HAVE = 'H',
	/* The next GIT_WIRE_FILE's blob id; text: GIT_WIRE_OID_HEX hex digits. */
	GIT_WIRE_OID = 'O',
	/* A file whose blob is one the parent said it has (GIT_WIRE_HAVE): its
	 * content is not sent.  text: the name; data: the blob's id. */
	GIT_WIRE_KNOWN = 'K',
	/* To the fetch process: the end of a request (it serves one after another). */
	GIT_WIRE_END = 'E',
};

#define GIT_WIRE_OID_HEX 40 /* a SHA-1 object id in hex */

struct git_wire_rec {
	enum git_wire_type type;
	const char *text; /* points into the stream */
	const char *data;
	size_t len;
};

#define GIT_WIRE_HEADER 5

/* Append one record to b. */
int git_wire_add(struct buf *b, enum git_wire_type type, const char *text, const void *data,
		 size_t len);

/*
 * Decode the record at *off of stream and advance *off.  Returns 0,
 * -ENOENT at the end of the stream, or -EBADMSG for a malformed record.
 */
int git_wire_next(const char *stream, size_t len, size_t *off, struct git_wire_rec *ret);

/*
 * Scan the complete records of a stream still arriving, from *off (advanced
 * past each): 1 once a record of type last is complete, 0 while more bytes
 * are needed, -EBADMSG for a malformed record.
 */
int git_wire_scan(const char *stream, size_t len, size_t *off, enum git_wire_type last);

/* Whether s (len bytes) is a blob id as the wire carries it: GIT_WIRE_OID_HEX lowercase hex digits. */
bool git_wire_is_oid(const char *s, size_t len);

#endif
