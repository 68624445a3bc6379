#include "diag.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../common/buf.h"
#include "../common/array.h"

/* Length of the valid UTF-8 sequence at p that is not a C1 control, else 0. */
static size_t utf8_printable(const unsigned char *p)
{
	size_t n, i;
	uint32_t cp;

	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2, cp = p[0] & 0x1fu;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3, cp = p[0] & 0x0fu;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4, cp = p[0] & 0x07u;
	else
		return 0;
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3fu);
	}
	if (cp < 0xa0 || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff ||
	    (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000))
		return 0;
	return n;
}

char *diag_file_escape(const char *name)
{
	struct buf b = BUF_INIT;
	const unsigned char *p = (const unsigned char *)name;
	size_t n;
	int r = buf_adds(&b, "");

	while (*p && r == 0) {
		n = *p >= 0x80 ? utf8_printable(p) : (*p >= 0x20 && *p != 0x7f && *p != '\\');
		if (n) {
			r = buf_add(&b, p, n);
			p += n;
		} else {
			r = buf_printf(&b, "\\x%02x", *p++);
		}
	}
	if (r < 0) {
		buf_release(&b);
		return NULL;
	}
	return buf_detach(&b, NULL);
}

int diags_add(struct diags *d, const struct pos *pos, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = diags_vadd(d, pos, fmt, ap);
	va_end(ap);
	return r;
}

int diags_vadd(struct diags *d, const struct pos *pos, const char *fmt, va_list ap)
{
	struct buf b = BUF_INIT;
	struct diag *dg;
	size_t max = d->max ? d->max : 1000;
	int r;

	if (d->n >= max) {
		d->dropped++;
		return 0;
	}
	if (d->n == d->cap) {
		struct diag *v = array_grow(d->v, &d->cap, sizeof(*v), 16);

		if (!v)
			return -ENOMEM;
		d->v = v;
	}
	buf_set_max(&b, 4096);
	r = buf_vprintf(&b, fmt, ap);
	if (r < 0 && r != -E2BIG)
		return r;
	dg = &d->v[d->n];
	memset(dg, 0, sizeof(*dg));
	if (pos && pos->file) {
		dg->file = diag_file_escape(pos->file);
		if (!dg->file) {
			buf_release(&b);
			return -ENOMEM;
		}
	}
	if (pos) {
		dg->line = pos->line;
		dg->col = pos->col;
	}
	dg->msg = buf_detach(&b, NULL);
	if (!dg->msg) {
		free(dg->file);
		return -ENOMEM;
	}
	d->n++;
	return 0;
}

static int diag_cmp(const void *a, const void *b)
{
	const struct diag *x = a, *y = b;
	int c = strcmp(x->file ? x->file : "", y->file ? y->file : "");

	if (c)
		return c;
	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	if (x->col != y->col)
		return x->col < y->col ? -1 : 1;
	return strcmp(x->msg, y->msg);
}

void diags_sort(struct diags *d)
{
	size_t i, o = 0;

	if (d->n < 2)
		return;
	qsort(d->v, d->n, sizeof(*d->v), diag_cmp);
	for (i = 0; i < d->n; i++) {
		if (o > 0 && diag_cmp(&d->v[o - 1], &d->v[i]) == 0) {
			free(d->v[i].file);
			free(d->v[i].msg);
			continue;
		}
		d->v[o++] = d->v[i];
	}
	d->n = o;
}

void diags_print(const struct diags *d, FILE *f)
{
	size_t i;

	for (i = 0; i < d->n; i++) {
		const struct diag *dg = &d->v[i];

		if (dg->file && dg->line)
			fprintf(f, "%s:%u:%u: %s\n", dg->file, dg->line, dg->col, dg->msg);
		else if (dg->file)
			fprintf(f, "%s: %s\n", dg->file, dg->msg);
		else
			fprintf(f, "%s\n", dg->msg);
	}
	if (d->dropped)
		fprintf(f, "(%zu more errors not shown)\n", d->dropped);
}

void diags_release(struct diags *d)
{
	size_t i;

	for (i = 0; i < d->n; i++) {
		free(d->v[i].file);
		free(d->v[i].msg);
	}
	free(d->v);
	d->v = NULL;
	d->n = d->cap = 0;
	d->dropped = 0;
}
