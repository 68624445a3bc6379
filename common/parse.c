/*
 * parse: checked numbers and the state-file reader (parse.h).
 */
#include <errno.h>
#include <stdarg.h>
#include <string.h>

#include "parse.h"

static int digit(char c, int base)
{
	int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : 99;

	return v < base ? v : -1;
}

int parse_u64(const char *s, int base, uint64_t max, uint64_t *ret)
{
	uint64_t v = 0;
	int d;

	if (!s || !*s)
		return -EINVAL;
	for (; *s; s++) {
		d = digit(*s, base);
		if (d < 0)
			return -EINVAL;
		if ((uint64_t)d > max || v > (max - (uint64_t)d) / (uint64_t)base)
			return -ERANGE;
		v = v * (uint64_t)base + (uint64_t)d;
	}
	*ret = v;
	return 0;
}

int parse_i64(const char *s, int64_t min, int64_t max, int64_t *ret)
{
	bool neg = s && *s == '-';
	uint64_t v, lim;
	int64_t x;
	int r;

	if (neg)
		lim = min < 0 ? (uint64_t)(-(min + 1)) + 1 : 0;
	else
		lim = max > 0 ? (uint64_t)max : 0;
	r = parse_u64(neg ? s + 1 : s, 10, lim, &v);
	if (r < 0)
		return r;
	x = !neg ? (int64_t)v : v ? -(int64_t)(v - 1) - 1 : 0;
	if (x < min || x > max)
		return -ERANGE;
	*ret = x;
	return 0;
}

void state_reader_init(struct state_reader *sr, const char *file, const char *hint, char *data,
		       size_t len, struct buf *err)
{
	memset(sr, 0, sizeof(*sr));
	sr->file = file;
	sr->hint = hint;
	sr->data = data;
	sr->len = data ? len : 0;
	sr->err = err;
}

int state_error(struct state_reader *sr, const char *fmt, ...)
{
	va_list ap;

	if (!sr->err || sr->err->len)
		return -EINVAL;
	if (buf_printf(sr->err, "%s:%u: ", sr->file, sr->line) < 0)
		return -EINVAL;
	va_start(ap, fmt);
	(void)buf_vprintf(sr->err, fmt, ap);
	va_end(ap);
	if (sr->hint)
		(void)buf_printf(sr->err, "; %s", sr->hint);
	return -EINVAL;
}

int state_next_line(struct state_reader *sr, char **ret_line)
{
	while (sr->pos < sr->len) {
		char *line = sr->data + sr->pos;
		char *nl = memchr(line, '\n', sr->len - sr->pos);
		size_t n = nl ? (size_t)(nl - line) : sr->len - sr->pos;

		sr->pos += n + (nl ? 1 : 0);
		sr->line++;
		if (memchr(line, '\0', n))
			return state_error(sr, "a NUL byte: expected a line of text");
		line[n] = '\0'; /* the '\n', or the NUL past len the readers add */
		if (n == 0 || line[0] == '#')
			continue;
		*ret_line = line;
		return 1;
	}
	return 0;
}

int state_split(struct state_reader *sr, char *line, char sep, size_t min, size_t max,
		char **fields, size_t *ret_n, const char *expected)
{
	size_t n = 0;
	char *p = line;

	if (max > STATE_MAX_FIELDS)
		max = STATE_MAX_FIELDS;
	for (;;) {
		char *s = strchr(p, sep);

		if (n == max)
			return state_error(sr, "more than %zu fields: expected %s", max, expected);
		fields[n++] = p;
		if (!s)
			break;
		*s = '\0';
		p = s + 1;
	}
	if (n < min)
		return state_error(sr, "%zu field%s: expected %s", n, n == 1 ? "" : "s", expected);
	*ret_n = n;
	return 0;
}

static const char *base_name(int base)
{
	return base == 8    ? "an octal number"
	       : base == 16 ? "a hexadecimal number"
			    : "a decimal number";
}

/* The message of a number's parse result r, or 0. */
static int number_result(struct state_reader *sr, int r, const char *what, const char *s,
			 const char *expected)
{
	if (r == -ERANGE)
		return state_error(sr, "bad %s \"%.40s\": out of range", what, s);
	if (r < 0)
		return state_error(sr, "bad %s \"%.40s\": expected %s", what, s, expected);
	return 0;
}

int state_u64(struct state_reader *sr, const char *what, const char *s, int base, uint64_t max,
	      uint64_t *ret)
{
	return number_result(sr, parse_u64(s, base, max, ret), what, s, base_name(base));
}

int state_i64(struct state_reader *sr, const char *what, const char *s, int64_t min, int64_t max,
	      int64_t *ret)
{
	return number_result(sr, parse_i64(s, min, max, ret), what, s, "a decimal number");
}
