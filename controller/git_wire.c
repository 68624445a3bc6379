#include "git_wire.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

int git_wire_add(struct buf *b, enum git_wire_type type, const char *text, const void *data,
		 size_t len)
{
	size_t text_len = strlen(text), payload = text_len + 1 + len;
	unsigned char head[GIT_WIRE_HEADER];
	size_t old = b->len;
	int r;

	if (payload < len || payload > UINT32_MAX)
		return -E2BIG;
	head[0] = (unsigned char)type;
	head[1] = (unsigned char)(payload & 0xff);
	head[2] = (unsigned char)((payload >> 8) & 0xff);
	head[3] = (unsigned char)((payload >> 16) & 0xff);
	head[4] = (unsigned char)((payload >> 24) & 0xff);
	r = buf_add(b, head, sizeof(head));
	if (r == 0)
		r = buf_add(b, text, text_len + 1);
	if (r == 0 && len > 0)
		r = buf_add(b, data, len);
	if (r < 0)
		buf_truncate(b, old);
	return r;
}

int git_wire_next(const char *stream, size_t len, size_t *off, struct git_wire_rec *ret)
{
	const unsigned char *h = (const unsigned char *)stream + *off;
	const char *payload = NULL, *nul = NULL;
	size_t n;

	if (*off == len)
		return -ENOENT;
	if (len - *off < GIT_WIRE_HEADER)
		return -EBADMSG;
	n = (size_t)h[1] | (size_t)h[2] << 8 | (size_t)h[3] << 16 | (size_t)h[4] << 24;
	if (n == 0 || n > len - *off - GIT_WIRE_HEADER)
		return -EBADMSG;
	payload = stream + *off + GIT_WIRE_HEADER;
	nul = memchr(payload, '\0', n);
	if (!nul)
		return -EBADMSG;
	ret->type = (enum git_wire_type)h[0];
	ret->text = payload;
	ret->data = nul + 1;
	ret->len = n - (size_t)(nul + 1 - payload);
	*off += GIT_WIRE_HEADER + n;
	return 0;
}

int git_wire_scan(const char *stream, size_t len, size_t *off, enum git_wire_type last)
{
	struct git_wire_rec rec;
	const unsigned char *h;
	size_t n;
	int r;

	for (;;) {
		if (len - *off < GIT_WIRE_HEADER)
			return 0;
		h = (const unsigned char *)stream + *off;
		n = (size_t)h[1] | (size_t)h[2] << 8 | (size_t)h[3] << 16 | (size_t)h[4] << 24;
		if (n > len - *off - GIT_WIRE_HEADER)
			return 0;
		r = git_wire_next(stream, len, off, &rec);
		if (r < 0)
			return r;
		if (rec.type == last)
			return 1;
	}
}

bool git_wire_is_oid(const char *s, size_t len)
{
	size_t i;

	if (len != GIT_WIRE_OID_HEX)
		return false;
	for (i = 0; i < len; i++)
		if (!s[i] || !strchr("0123456789abcdef", s[i]))
			return false;
	return true;
}
