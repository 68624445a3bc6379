/*
 * diag: validation errors with their position.
 *
 * The loader and the validator never stop at the first problem: they add one
 * diag per problem, and the caller prints them all, sorted by file, line and
 * column, as "file:line:col: message".  Messages are lower case, without a
 * full stop, and say what was expected.
 */
#ifndef BRAMBLE_DIAG_H
#define BRAMBLE_DIAG_H

#include <stdarg.h>
#include <stdio.h>

/* A position in a manifest file; lines and columns count from 1. */
struct pos {
	const char *file; /* interned by the manifest set; may be NULL */
	unsigned line;
	unsigned col;
};

struct diag {
	char *file;
	unsigned line;
	unsigned col;
	char *msg;
};

struct diags {
	struct diag *v;
	size_t n;
	size_t cap;
	size_t max; /* stop collecting after this many (0: 1000) */
	size_t dropped;
};

#define DIAGS_INIT               \
	{                        \
		NULL, 0, 0, 0, 0 \
	}

/*
 * A file name as it may be shown (a new string; NULL on ENOMEM): control
 * bytes, DEL, C1 controls, bytes that are not UTF-8 and backslashes become
 * \xNN, as in values, so that a name holding a newline or a terminal escape
 * cannot forge a line (such as "configuration OK") or drive the terminal.
 * Every diag's file is stored this way.
 */
char *diag_file_escape(const char *name);

/* Add a diagnostic at pos (NULL: no position).  Returns 0 or -ENOMEM. */
int diags_add(struct diags *d, const struct pos *pos, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The same with a va_list. */
int diags_vadd(struct diags *d, const struct pos *pos, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));
/* Sort by file, line, column, then message; drop exact duplicates. */
void diags_sort(struct diags *d);
/* Print every diagnostic as "file:line:col: message\n". */
void diags_print(const struct diags *d, FILE *f);
/* Free every diagnostic; d is empty and usable again. */
void diags_release(struct diags *d);

#endif
