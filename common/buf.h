/*
 * buf: a growable byte buffer with a hard maximum size.
 *
 * Every string bramble builds goes through a buf, so nothing is ever written
 * with sprintf/strcat and nothing grows without a limit.  The content is
 * always NUL-terminated (the NUL is not counted in len).
 *
 *	struct buf b = BUF_INIT;
 *	if (buf_printf(&b, "%s=%d\n", key, v) < 0)
 *		goto out;
 *	...
 *	buf_release(&b);
 *
 * All functions return 0 or a negative errno: -ENOMEM when allocation fails,
 * -E2BIG when the buffer would pass its maximum.  On error the buffer keeps
 * its previous content.
 */
#ifndef BRAMBLE_BUF_H
#define BRAMBLE_BUF_H

#include <stdarg.h>
#include <stddef.h>

#define BUF_DEFAULT_MAX ((size_t)1 << 30)

struct buf {
	char *data;
	size_t len;
	size_t cap;
	size_t max; /* 0 means BUF_DEFAULT_MAX */
};

#define BUF_INIT              \
	{                     \
		NULL, 0, 0, 0 \
	}

/* Set the maximum size (content bytes, without the NUL). */
void buf_set_max(struct buf *b, size_t max);
/* Make room for extra more bytes. */
int buf_grow(struct buf *b, size_t extra);
/* Append len bytes of data. */
int buf_add(struct buf *b, const void *data, size_t len);
/* Append a string, without its NUL. */
int buf_adds(struct buf *b, const char *s);
/* Append one byte. */
int buf_addch(struct buf *b, char c);
/* Append formatted text (-E2BIG past the maximum: the content is kept as it was). */
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The same with a va_list. */
int buf_vprintf(struct buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* Truncate to len bytes (len <= b->len). */
void buf_truncate(struct buf *b, size_t len);
/* Return the content (never NULL: "" for an empty buffer). */
const char *buf_str(const struct buf *b);
/* Hand the allocated string to the caller and reset b; NULL on ENOMEM. */
char *buf_detach(struct buf *b, size_t *ret_len);
/* Free the content and reset b to empty. */
void buf_release(struct buf *b);

#endif
