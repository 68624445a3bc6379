/*
 * plan_print: the plan as a person reads it.  One line per change with its
 * reason; for a text file that changes, a line diff of old and new content.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine_int.h"
#include "noderoot.h"
#include "fsutil.h"
#include "parse.h"

#define DIFF_MAX_LINES 2000
#define DIFF_MAX_BYTES ((size_t)256 << 10)

struct lines {
	const char **s;
	size_t *len;
	size_t n;
};

static int split_lines(const char *data, size_t len, struct lines *l)
{
	size_t i, start = 0, n = 0;

	for (i = 0; i < len; i++)
		n += data[i] == '\n';
	n += len && data[len - 1] != '\n';
	l->s = calloc(n + 1, sizeof(*l->s));
	l->len = calloc(n + 1, sizeof(*l->len));
	if (!l->s || !l->len)
		return -1;
	l->n = 0;
	for (i = 0; i <= len; i++) {
		if (i < len && data[i] != '\n')
			continue;
		if (i == len && start == len)
			break;
		l->s[l->n] = data + start;
		l->len[l->n++] = i - start;
		start = i + 1;
	}
	return 0;
}

static bool line_eq(const struct lines *a, size_t i, const struct lines *b, size_t j)
{
	return a->len[i] == b->len[j] && memcmp(a->s[i], b->s[j], a->len[i]) == 0;
}

/* Print a - / + diff from an LCS table; small inputs only. */
static void print_diff(FILE *f, const struct lines *a, const struct lines *b)
{
	size_t n = a->n, m = b->n, i, j;
	unsigned *t = calloc((n + 1) * (m + 1), sizeof(*t));

	if (!t)
		return;
	for (i = n; i-- > 0;)
		for (j = m; j-- > 0;)
			t[i * (m + 1) + j] =
				line_eq(a, i, b, j)
					? t[(i + 1) * (m + 1) + j + 1] + 1
					: (t[(i + 1) * (m + 1) + j] > t[i * (m + 1) + j + 1]
						   ? t[(i + 1) * (m + 1) + j]
						   : t[i * (m + 1) + j + 1]);
	i = j = 0;
	while (i < n || j < m) {
		if (i < n && j < m && line_eq(a, i, b, j)) {
			i++;
			j++;
		} else if (i < n &&
			   (j == m || t[(i + 1) * (m + 1) + j] >= t[i * (m + 1) + j + 1])) {
			fprintf(f, "      -%.*s\n", (int)a->len[i], a->s[i]);
			i++;
		} else {
			fprintf(f, "      +%.*s\n", (int)b->len[j], b->s[j]);
			j++;
		}
	}
	free(t);
}

static bool is_text(const char *s, size_t len)
{
	return len <= DIFF_MAX_BYTES && memchr(s, '\0', len) == NULL;
}

/* A line diff of the file at path (beneath base_fd) and the desired content. */
static void diff_content(const struct resource *res, int base_fd, const char *path, FILE *f)
{
	struct lines a = {0}, b = {0};
	char *old = NULL;
	size_t olen = 0;

	if (res->type != RES_FILE || !is_text(res->data, res->len))
		return;
	if (file_read_at(base_fd, path, DIFF_MAX_BYTES, &old, &olen) < 0)
		old = NULL;
	if (split_lines(old ? old : "", olen, &a) == 0 &&
	    split_lines(res->data, res->len, &b) == 0 && a.n <= DIFF_MAX_LINES &&
	    b.n <= DIFF_MAX_LINES && (!old || is_text(old, olen)))
		print_diff(f, &a, &b);
	free(a.s);
	free(a.len);
	free(b.s);
	free(b.len);
	free(old);
}

/* In a tree that switches generation: the diff of each text file that changes. */
static void diff_tree(struct engine *e, const struct plan_item *it, FILE *f)
{
	int fd = engine_root_fd(e, it->res->root), gfd;
	size_t i;

	if (!it->inv || !it->inv->gendir ||
	    dir_open_beneath(fd, it->inv->gendir, false, 0, &gfd) < 0)
		return;
	for (i = 0; i < it->n_children; i++) {
		const struct resource *c = it->children[i].res;
		char *old = NULL;
		size_t len = 0;

		if (c->type != RES_FILE)
			continue;
		if (file_read_at(gfd, c->path, DIFF_MAX_BYTES, &old, &len) == 0 && len == c->len &&
		    memcmp(old, c->data, len) == 0) {
			free(old);
			continue;
		}
		free(old);
		fprintf(f, "    %s/%s:\n", it->res->path, c->path);
		diff_content(c, gfd, c->path, f);
	}
	close(gfd);
}

static char op_mark(enum plan_op op)
{
	static const char marks[] = " +~-=!";

	return marks[op];
}

/*
 * What happens to a node root beyond the plan line: a re-image or a removal
 * moves the old one to the attic; a new root is copied from the image.
 */
/* The generation number at the start of s (up to its line's end); 0 if none. */
static unsigned generation_of(const char *s)
{
	char digits[16];
	uint64_t v = 0;

	snprintf(digits, sizeof(digits), "%.*s", (int)strcspn(s, "\n"), s);
	return parse_u64(digits, 10, UINT_MAX, &v) == 0 ? (unsigned)v : 0;
}

static void print_root(const struct plan_item *it, FILE *f)
{
	const char *node = it->res ? it->res->node : it->inv->node;
	const char *gen = it->res ? strstr(it->res->data, "generation ") : NULL;
	const char *src = it->res ? strstr(it->res->data, "source ") : NULL;

	if (it->op == PLAN_DELETE && !strchr(it->inv->path, '/'))
		fprintf(f, "      root of %s \u2192 attic (node removed from the repository)\n",
			node ? node : it->inv->path);
	else if (it->op == PLAN_DELETE)
		fprintf(f, "      the shared copy of the image is removed\n");
	else if (it->op == PLAN_UPDATE && gen)
		fprintf(f,
			"      root of %s \u2192 attic (re-image to generation %u); bramble's "
			"files are made in the new root\n",
			node ? node : it->res->path, generation_of(gen + 11));
	else if (it->op == PLAN_UPDATE)
		fprintf(f,
			"      a new copy of the image replaces it (nodes using it must reboot)\n");
	else if (it->op == PLAN_CREATE && src)
		fprintf(f, "      copied from the image root %.*s\n", (int)strcspn(src + 7, "\n"),
			src + 7);
}

/* Whether item is a file inside a root that goes to the attic: it goes along, unlisted. */
static bool moves_with_root(const struct plan *p, size_t i)
{
	const struct plan_item *it = &p->items[i];
	size_t len;

	if (it->op != PLAN_DELETE || it->inv->root != ROOT_NFS || it->inv->type == RES_ROOT)
		return false;
	len = noderoot_prefix(it->inv->path);
	/* Back to the root's own item: everything in between sorts after it. */
	while (len && i-- > 0) {
		const struct plan_item *r = &p->items[i];
		enum root_id rr = r->res ? r->res->root : r->inv->root;
		const char *rp = r->res ? r->res->path : r->inv->path;

		if (rr != ROOT_NFS || strncmp(rp, it->inv->path, len) < 0)
			break;
		if (strlen(rp) == len && strncmp(rp, it->inv->path, len) == 0)
			return r->op == PLAN_DELETE && r->inv && r->inv->type == RES_ROOT;
	}
	return false;
}

/* The colour of a change's mark: the way terraform and git colour theirs. */
static const char *op_color(char mark)
{
	switch (mark) {
	case '+':
		return "\033[32m";
	case '~':
	case '>':
		return "\033[33m";
	case '-':
		return "\033[31m";
	case '!':
		return "\033[1m";
	}
	return NULL;
}

/* An item's line: its mark (coloured), output root, path, reason and node. */
static void print_head(const struct plan_item *it, FILE *f, unsigned flags)
{
	const char *path = it->res ? it->res->path : it->inv->path;
	enum root_id root = it->res ? it->res->root : it->inv->root;
	const char *node = it->res ? it->res->node : it->inv->node;
	enum res_type type = it->res ? it->res->type : it->inv->type;
	bool dir = type == RES_TREE || type == RES_DIR || type == RES_ROOT;
	const char *color;
	char mark;

	/* '>': a node root moving to the attic, not deleted. */
	mark = type == RES_ROOT && it->op == PLAN_DELETE && !strchr(path, '/') ? '>'
									       : op_mark(it->op);
	color = flags & PLAN_PRINT_COLOR ? op_color(mark) : NULL;
	fprintf(f, "%s%c %-10s %s%s%s", color ? color : "", mark, root_name(root), path,
		dir ? "/" : "", color ? "\033[0m" : "");
	if (it->op != PLAN_UNCHANGED)
		fprintf(f, "  (%s%s)", it->reason, it->drift ? "; drift" : "");
	if (node)
		fprintf(f, "  [node %s]", node);
	fputc('\n', f);
}

static void print_item(struct engine *e, const struct plan_item *it, FILE *f, unsigned flags)
{
	bool verbose = flags & PLAN_PRINT_VERBOSE;
	const char *path = it->res ? it->res->path : it->inv->path;
	enum root_id root = it->res ? it->res->root : it->inv->root;
	enum res_type type = it->res ? it->res->type : it->inv->type;
	bool secret = it->res && (it->res->flags & RES_F_SECRET);
	const char *color;
	size_t i;

	/* A root's note (a warning) shows even when the root itself is unchanged. */
	if (it->op == PLAN_UNCHANGED && !verbose && !(type == RES_ROOT && it->res && it->res->note))
		return;
	/* bramble's files made with a new root: the root's line says it (-v lists them). */
	if (it->with_root && !verbose)
		return;
	print_head(it, f, flags);
	if (type == RES_ROOT)
		print_root(it, f);
	if (it->res && it->res->note && (it->op != PLAN_UNCHANGED || type == RES_ROOT))
		fprintf(f, "      note: %s\n", it->res->note);
	if (secret && (it->op == PLAN_UPDATE || (it->op == PLAN_CREATE && verbose)))
		fprintf(f, "      (secret)\n");
	else if (it->res && it->res->type == RES_FILE &&
		 (it->op == PLAN_UPDATE || (it->op == PLAN_CREATE && verbose)))
		diff_content(it->res, engine_root_fd(e, root), path, f);
	for (i = 0; i < it->n_children; i++) {
		const struct plan_item *c = &it->children[i];

		if (it->op == PLAN_CREATE || (!it->in_place && !verbose))
			break;
		if (c->op == PLAN_UNCHANGED)
			continue;
		color = flags & PLAN_PRINT_COLOR ? op_color(op_mark(c->op)) : NULL;
		fprintf(f, "    %s%c %s/%s%s  (%s)\n", color ? color : "", op_mark(c->op), path,
			c->res->path, color ? "\033[0m" : "", c->reason);
	}
	if (it->op == PLAN_UPDATE && !it->in_place && it->inv && it->inv->gendir) {
		fprintf(f, "      boot tree switches from %s to %s\n", it->inv->gendir, it->gendir);
		diff_tree(e, it, f);
	}
}

static bool to_attic(const struct plan_item *it)
{
	return it->op == PLAN_DELETE && it->inv->type == RES_ROOT && !strchr(it->inv->path, '/');
}

void plan_delete_counts(const struct plan *p, size_t *ret_deleted, size_t *ret_attic)
{
	size_t i, n_along = 0, n_attic = 0;

	for (i = 0; i < p->n_items; i++) {
		n_attic += to_attic(&p->items[i]);
		n_along += moves_with_root(p, i);
	}
	*ret_deleted = p->n_delete - n_along - n_attic;
	*ret_attic = n_attic;
}

void plan_print(struct engine *e, const struct plan *p, FILE *f, bool verbose)
{
	plan_print_flags(e, p, f, verbose ? PLAN_PRINT_VERBOSE : 0);
}

void plan_print_flags(struct engine *e, const struct plan *p, FILE *f, unsigned flags)
{
	size_t i, n_deleted, n_attic;

	for (i = 0; i < p->n_items; i++)
		if (!moves_with_root(p, i))
			print_item(e, &p->items[i], f, flags);
	plan_delete_counts(p, &n_deleted, &n_attic);
	fprintf(f, "plan: %zu to create, %zu to update, %zu to delete, %zu unchanged", p->n_create,
		p->n_update, n_deleted, p->n_unchanged);
	if (n_attic)
		fprintf(f, ", %zu root%s to the attic", n_attic, n_attic == 1 ? "" : "s");
	if (p->n_keep)
		fprintf(f, ", %zu kept", p->n_keep);
	if (p->n_conflict)
		fprintf(f, ", %zu in conflict", p->n_conflict);
	if (p->n_drift)
		fprintf(f, " (%zu drifted)", p->n_drift);
	fputc('\n', f);
}

bool plan_change_at(const struct plan *p, size_t i, struct plan_change *ret)
{
	const struct plan_item *it = &p->items[i];
	enum res_type type = it->res ? it->res->type : it->inv->type;

	if (it->op == PLAN_UNCHANGED || moves_with_root(p, i))
		return false;
	ret->op = to_attic(it) ? "attic" : plan_op_name(it->op);
	ret->output = root_name(it->res ? it->res->root : it->inv->root);
	ret->path = it->res ? it->res->path : it->inv->path;
	ret->dir = type == RES_TREE || type == RES_DIR || type == RES_ROOT;
	ret->reason = it->reason;
	ret->node = it->res ? it->res->node : it->inv->node;
	ret->drift = it->drift;
	return true;
}
