/*
 * selector: the Node label selector of the controller configuration, and
 * its record in the state directory (selector.h).
 */
#include "selector.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/atomic.h"
#include "../common/fsutil.h"

#define SELECTOR_MAX_LEN 4096

struct term {
	const char *key, *value;
	size_t key_len, value_len;
};

static int term_cmp(const void *a, const void *b)
{
	const struct term *x = a, *y = b;
	size_t n = x->key_len < y->key_len ? x->key_len : y->key_len;
	int c = memcmp(x->key, y->key, n);

	if (c)
		return c;
	return x->key_len < y->key_len ? -1 : x->key_len > y->key_len;
}

/* One "key=value" of s (up to the next ',' or the end) into t; the end, or NULL. */
static const char *term_parse(const char *s, struct term *t, const char **why)
{
	const char *end = strchr(s, ','), *eq;
	const char *p;

	if (!end)
		end = s + strlen(s);
	for (p = s; p < end; p++)
		if ((unsigned char)*p < 0x21 || *p == 0x7f) {
			*why = "no spaces or control characters";
			return NULL;
		}
	eq = memchr(s, '=', (size_t)(end - s));
	if (!eq || eq == s || memchr(eq + 1, '=', (size_t)(end - eq - 1))) {
		*why = "LABEL=VALUE terms separated by commas, e.g. site=rack-b";
		return NULL;
	}
	t->key = s;
	t->key_len = (size_t)(eq - s);
	t->value = eq + 1;
	t->value_len = (size_t)(end - eq - 1);
	return end;
}

/* Split s into terms, sorted by key; -EINVAL with why. */
static int terms_parse(const char *s, struct term *v, size_t *ret_n, const char **why)
{
	size_t n = 0, i;

	*ret_n = 0;
	if (!s || !*s)
		return 0;
	if (strlen(s) > SELECTOR_MAX_LEN) {
		*why = "at most 4096 characters";
		return -EINVAL;
	}
	for (;;) {
		if (n == SELECTOR_MAX_TERMS) {
			*why = "at most 16 terms";
			return -EINVAL;
		}
		s = term_parse(s, &v[n++], why);
		if (!s)
			return -EINVAL;
		if (!*s)
			break;
		s++;
	}
	qsort(v, n, sizeof(*v), term_cmp);
	for (i = 1; i < n; i++)
		if (term_cmp(&v[i - 1], &v[i]) == 0) {
			*why = "each label named once";
			return -EINVAL;
		}
	*ret_n = n;
	return 0;
}

int selector_canonical(const char *s, struct buf *ret, const char **why)
{
	struct term v[SELECTOR_MAX_TERMS];
	size_t n, i;
	int r;

	*why = NULL;
	r = terms_parse(s, v, &n, why);
	for (i = 0; r == 0 && ret && i < n; i++)
		r = buf_printf(ret, "%s%.*s=%.*s", i ? "," : "", (int)v[i].key_len, v[i].key,
			       (int)v[i].value_len, v[i].value);
	return r;
}

/* The value of label key (key_len bytes) on n, or NULL. */
static const char *label_of(const struct node *n, const char *key, size_t key_len)
{
	size_t i;

	for (i = 0; i < n->labels.n; i++)
		if (strlen(n->labels.v[i].key) == key_len &&
		    memcmp(n->labels.v[i].key, key, key_len) == 0)
			return n->labels.v[i].value;
	return NULL;
}

bool selector_match(const char *s, const struct node *n)
{
	struct term v[SELECTOR_MAX_TERMS];
	const char *why = NULL, *value;
	size_t k, i;

	if (terms_parse(s, v, &k, &why) < 0)
		return false;
	for (i = 0; i < k; i++) {
		value = label_of(n, v[i].key, v[i].key_len);
		if (!value || strlen(value) != v[i].value_len ||
		    memcmp(value, v[i].value, v[i].value_len) != 0)
			return false;
	}
	return true;
}

size_t selector_apply(const char *s, struct manifest_set *set)
{
	size_t i, kept = 0;

	if (!s || !*s)
		return 0;
	for (i = 0; i < set->n_nodes; i++)
		if (selector_match(s, set->nodes[i]))
			set->nodes[kept++] = set->nodes[i];
	i = set->n_nodes - kept;
	set->n_nodes = kept;
	return i;
}

int selector_recorded(int state_fd, struct buf *ret)
{
	char *data = NULL;
	size_t len = 0;
	int r;

	if (state_fd < 0)
		return 0;
	r = file_read_at(state_fd, SELECTOR_FILE, SELECTOR_MAX_LEN + 2, &data, &len);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	while (len && data[len - 1] == '\n')
		len--;
	r = buf_add(ret, data, len);
	free(data);
	return r;
}

int selector_record(int state_fd, const char *canonical)
{
	struct buf b = BUF_INIT;
	int r;

	if (!*canonical) {
		if (unlinkat(state_fd, SELECTOR_FILE, 0) < 0 && errno != ENOENT)
			return -errno;
		return fsync(state_fd) < 0 ? -errno : 0;
	}
	r = buf_printf(&b, "%s\n", canonical);
	if (r == 0)
		r = atomic_write_at(state_fd, SELECTOR_FILE, buf_str(&b), strlen(buf_str(&b)), 0644,
				    ATOMIC_SYNC_DIR);
	buf_release(&b);
	return r;
}
