#include "json_each.h"

#include <errno.h>

/* data[off...] past JSON whitespace (RFC 8259: space, tab, LF, CR). */
static size_t skip_ws(const char *data, size_t len, size_t off)
{
	while (off < len &&
	       (data[off] == ' ' || data[off] == '\t' || data[off] == '\n' || data[off] == '\r'))
		off++;
	return off;
}

int json_each(const char *data, size_t len, int (*fn)(void *ctx, const json_t *elem), void *ctx)
{
	size_t off = skip_ws(data, len, 0);
	int r;

	if (off == len || data[off] != '[')
		return -EBADMSG;
	off = skip_ws(data, len, off + 1);
	if (off < len && data[off] == ']')
		return skip_ws(data, len, off + 1) == len ? 0 : -EBADMSG;
	for (;;) {
		json_error_t err;
		json_t *elem;

		/* One value, and where it ends: the rest is left for the loop. */
		elem = json_loadb(data + off, len - off, JSON_DECODE_ANY | JSON_DISABLE_EOF_CHECK,
				  &err);
		if (!elem || err.position <= 0 || (size_t)err.position > len - off) {
			json_decref(elem);
			return -EBADMSG;
		}
		off += (size_t)err.position;
		r = fn(ctx, elem);
		json_decref(elem);
		if (r != 0)
			return r;
		off = skip_ws(data, len, off);
		if (off == len)
			return -EBADMSG;
		if (data[off] == ']')
			return skip_ws(data, len, off + 1) == len ? 0 : -EBADMSG;
		if (data[off] != ',')
			return -EBADMSG;
		off++;
	}
}
