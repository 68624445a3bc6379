/*
 * parse: checked number parsing, and the one reader of bramble's line-based
 * state files (inventory.d/<shard>, seal, pending-actions, export ids, the
 * image store's records).
 *
 * A number is the whole string: no sign where none is allowed, no space, no
 * trailing byte, nothing empty, nothing past max.  A state file's error
 * names the file and the line, says what was expected and what to do:
 *
 *	inventory.d/6b:2: bad inode "x": expected a decimal number; remove the
 *	file and run `bramble apply --adopt`
 */
#ifndef BRAMBLE_PARSE_H
#define BRAMBLE_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* Parse s (all of it) as an unsigned number in base (8, 10 or 16) up to max. */
int parse_u64(const char *s, int base, uint64_t max, uint64_t *ret);
/* Parse s (all of it) as a decimal number, optionally negative, in [min, max]. */
int parse_i64(const char *s, int64_t min, int64_t max, int64_t *ret);

#define STATE_MAX_FIELDS 16

struct state_reader {
	const char *file; /* as the message names it: "inventory.d/6b" */
	const char *hint; /* what to do about a bad line, or NULL */
	char *data;	  /* borrowed, split in place */
	size_t len, pos;
	unsigned line;	 /* the number of the line last returned */
	struct buf *err; /* receives the message of the first error; may be NULL */
};

/*
 * Read data (len bytes and a writable NUL after them, as file_read_at()
 * gives; modified in place, kept by the caller) as the state file named
 * file; hint says what to do when it is bad.
 */
void state_reader_init(struct state_reader *sr, const char *file, const char *hint, char *data,
		       size_t len, struct buf *err);

/*
 * The next line, NUL-terminated, empty lines and '#' comments skipped: 1,
 * or 0 at the end.  A NUL byte inside a line is an error (-EINVAL).
 */
int state_next_line(struct state_reader *sr, char **ret_line);

/*
 * Split line in place at sep into between min and max fields (max at most
 * STATE_MAX_FIELDS); otherwise an error naming what the line should hold.
 */
int state_split(struct state_reader *sr, char *line, char sep, size_t min, size_t max,
		char **fields, size_t *ret_n, const char *expected);

/* A checked unsigned field: an error names what (e.g. "inode") and the value. */
int state_u64(struct state_reader *sr, const char *what, const char *s, int base, uint64_t max,
	      uint64_t *ret);
/* A checked signed decimal field. */
int state_i64(struct state_reader *sr, const char *what, const char *s, int64_t min, int64_t max,
	      int64_t *ret);

/*
 * Record "file:line: <message>; <hint>" in sr->err (the first error only)
 * and return -EINVAL.
 */
int state_error(struct state_reader *sr, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
