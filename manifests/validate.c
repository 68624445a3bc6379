#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "check.h"
#include "loader.h"
#include "netaddr.h"
#include "../common/hash.h"

/* "file:line:col" of p, for "also used at ..." */
static void pos_format(const struct pos *p, char *out, size_t n)
{
	char *file = p->file ? diag_file_escape(p->file) : NULL;

	snprintf(out, n, "%s:%u:%u", file ? file : "?", p->line, p->col);
	free(file);
}

static int report(struct loader *l, const struct pos *p, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int report(struct loader *l, const struct pos *p, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = diags_vadd(l->d, p, fmt, ap);
	va_end(ap);
	return r;
}

/*
 * Exactly one Cluster.  When there are several, each is reported with
 * another's place: which one is meant is for the user to say, not the order
 * of the files.
 */
int validate_cluster_count(struct loader *l)
{
	struct object **v = l->of_kind[KIND_CLUSTER];
	size_t i, n = l->n_of_kind[KIND_CLUSTER];
	struct pos top = {l->first_file, 1, 1};
	char where[512], q[QUOTE_MAX];
	int r = 0;

	if (n == 0)
		return report(l, l->first_file ? &top : NULL,
			      "no Cluster found; expected exactly one document of kind Cluster");
	for (i = 0; n > 1 && i < n && r == 0; i++) {
		const struct object *other = v[i == 0 ? 1 : 0];

		pos_format(&other->pos, where, sizeof(where));
		str_quote(other->name ? other->name : "", q, sizeof(q));
		r = report(l, &v[i]->pos,
			   "more than one Cluster; expected exactly one (another is %s at %s)", q,
			   where);
	}
	return r;
}

static int object_name_cmp(const void *a, const void *b)
{
	struct object *const *x = a, *const *y = b;
	int c = strcmp((*x)->name, (*y)->name);

	if (c)
		return c;
	return (*x)->seq < (*y)->seq ? -1 : (*x)->seq > (*y)->seq;
}

/* Report one object of a group with the same name, naming another of the group. */
static int report_name(struct loader *l, enum kind kind, const struct object *o,
		       const struct object *other)
{
	char where[512], q[QUOTE_MAX];

	pos_format(&other->pos, where, sizeof(where));
	str_quote(o->name, q, sizeof(q));
	return report(l, &o->pos, "duplicate %s name %s (also defined at %s)", kind_names[kind], q,
		      where);
}

/*
 * Names are unique per kind.  Every object of a group of equal names is
 * reported, so each place shows up whichever file sorts first.
 */
int validate_names(struct loader *l, enum kind kind)
{
	struct object **v = calloc(l->n_of_kind[kind] + 1, sizeof(*v));
	size_t i, n = 0, first = 0;
	int r = 0;

	if (!v)
		return -ENOMEM;
	for (i = 0; i < l->n_of_kind[kind]; i++) {
		if (l->of_kind[kind][i]->name)
			v[n++] = l->of_kind[kind][i];
	}
	qsort(v, n, sizeof(*v), object_name_cmp);
	for (i = 1; i < n && r == 0; i++) {
		if (strcmp(v[i]->name, v[first]->name) != 0) {
			first = i;
			continue;
		}
		if (i == first + 1)
			r = report_name(l, kind, v[first], v[i]);
		if (r == 0)
			r = report_name(l, kind, v[i], v[first]);
	}
	free(v);
	return r;
}

/* One unique key of nodes: which nodes have it, how to compare, where it is. */
struct unique_key {
	const char *what;
	bool (*has)(const struct node_rec *r);
	int (*cmp)(const struct node_rec *a, const struct node_rec *b);
	uint64_t (*hash)(const struct node_rec *r); /* equal by cmp: equal hash */
	const struct pos *(*pos)(const struct node_rec *r);
	void (*show)(const struct node_rec *r, char *out, size_t n);
};

static bool has_serial(const struct node_rec *r)
{
	return r->has_serial;
}

static int serial_cmp(const struct node_rec *a, const struct node_rec *b)
{
	return strcmp(a->node->serial, b->node->serial);
}

static const struct pos *serial_pos(const struct node_rec *r)
{
	return &r->serial_pos;
}

static void serial_show(const struct node_rec *r, char *out, size_t n)
{
	snprintf(out, n, "\"%s\"", r->node->serial);
}

static bool has_mac(const struct node_rec *r)
{
	return r->node->has_mac;
}

static int mac_cmp(const struct node_rec *a, const struct node_rec *b)
{
	return memcmp(a->node->mac, b->node->mac, sizeof(a->node->mac));
}

static const struct pos *mac_pos(const struct node_rec *r)
{
	return &r->mac_pos;
}

static void mac_show(const struct node_rec *r, char *out, size_t n)
{
	snprintf(out, n, "\"%s\"", r->node->mac_str);
}

static bool has_ip(const struct node_rec *r)
{
	return r->node->has_ip;
}

static int ip_cmp(const struct node_rec *a, const struct node_rec *b)
{
	return a->node->ip < b->node->ip ? -1 : a->node->ip > b->node->ip;
}

static const struct pos *ip_pos(const struct node_rec *r)
{
	return &r->ip_pos;
}

static void ip_show(const struct node_rec *r, char *out, size_t n)
{
	snprintf(out, n, "\"%s\"", r->node->ip_str);
}

static bool has_hostname(const struct node_rec *r)
{
	return r->node->hostname != NULL;
}

static int hostname_cmp(const struct node_rec *a, const struct node_rec *b)
{
	return strcasecmp(a->node->hostname, b->node->hostname);
}

static const struct pos *hostname_pos(const struct node_rec *r)
{
	return &r->hostname_pos;
}

static void hostname_show(const struct node_rec *r, char *out, size_t n)
{
	str_quote(r->node->hostname, out, n);
}

static uint64_t serial_hash(const struct node_rec *r)
{
	return fnv1a64(r->node->serial, strlen(r->node->serial));
}

static uint64_t mac_hash(const struct node_rec *r)
{
	return fnv1a64(r->node->mac, sizeof(r->node->mac));
}

static uint64_t ip_hash(const struct node_rec *r)
{
	return fnv1a64(&r->node->ip, sizeof(r->node->ip));
}

static uint64_t hostname_hash(const struct node_rec *r) /* without case, as compared */
{
	const char *h = r->node->hostname;
	char lower[256];
	size_t i;

	for (i = 0; h[i] && i + 1 < sizeof(lower); i++)
		lower[i] = (char)(h[i] >= 'A' && h[i] <= 'Z' ? h[i] | 0x20 : h[i]);
	return fnv1a64(lower, i);
}

static struct unique_key unique_keys[] = {
	{"serial", has_serial, serial_cmp, serial_hash, serial_pos, serial_show},
	{"MAC address", has_mac, mac_cmp, mac_hash, mac_pos, mac_show},
	{"IP address", has_ip, ip_cmp, ip_hash, ip_pos, ip_show},
	{"hostname", has_hostname, hostname_cmp, hostname_hash, hostname_pos, hostname_show},
};

/* Node names are unique too (validate_names() reports them in a full load). */
static bool has_name(const struct node_rec *r)
{
	return r->node->name != NULL;
}

static int name_cmp(const struct node_rec *a, const struct node_rec *b)
{
	return strcmp(a->node->name, b->node->name);
}

static uint64_t name_hash(const struct node_rec *r)
{
	return fnv1a64(r->node->name, strlen(r->node->name));
}

static struct unique_key name_key = {"name", has_name, name_cmp, name_hash, NULL, NULL};

/* Whether a key of k is used twice: a hash table, not a sort. */
static bool quick_dup(struct loader *l, const struct unique_key *k, struct node_rec **slot,
		      size_t cap)
{
	size_t i, h;

	memset(slot, 0, cap * sizeof(*slot));
	for (i = 0; i < l->n_recs; i++) {
		struct node_rec *r = &l->recs[i];

		if (!r->node || !k->has(r))
			continue;
		for (h = k->hash(r) & (cap - 1); slot[h]; h = (h + 1) & (cap - 1))
			if (k->cmp(slot[h], r) == 0)
				return true;
		slot[h] = r;
	}
	return false;
}

/*
 * A delta load (stubs): whether any name or unique key of nodes is used
 * twice.  The answer is all a delta pass needs: with any duplicate, a full
 * load reports them all with their places.
 */
int validate_nodes_quick(struct loader *l)
{
	size_t cap = 16, k;
	struct node_rec **slot;
	bool dup;

	while (cap < 2 * l->n_recs + 2)
		cap *= 2;
	slot = calloc(cap, sizeof(*slot));
	if (!slot)
		return -ENOMEM;
	dup = quick_dup(l, &name_key, slot, cap);
	for (k = 0; !dup && k < sizeof(unique_keys) / sizeof(unique_keys[0]); k++)
		dup = quick_dup(l, &unique_keys[k], slot, cap);
	free(slot);
	if (dup && diags_add(l->d, NULL, "two nodes share a name or a unique key") < 0)
		return -ENOMEM;
	return 0;
}

static int rec_cmp(const void *a, const void *b, void *arg)
{
	const struct node_rec *const *x = a, *const *y = b;
	const struct unique_key *k = arg;
	int c = k->cmp(*x, *y);

	if (c)
		return c;
	return *x < *y ? -1 : *x > *y;
}

/* Report one node of a group sharing a key, naming another of the group. */
static int report_dup(struct loader *l, const struct unique_key *k, const struct node_rec *rec,
		      const struct node_rec *other)
{
	char where[512], shown[QUOTE_MAX], q[QUOTE_MAX];

	pos_format(k->pos(other), where, sizeof(where));
	k->show(rec, shown, sizeof(shown));
	str_quote(other->node->name ? other->node->name : "", q, sizeof(q));
	return report(l, k->pos(rec), "duplicate %s %s (also used by node %s at %s)", k->what,
		      shown, q, where);
}

/*
 * Sort the nodes on one key and report every node of a group of equals:
 * the first names the second, the others name the first.
 */
static int check_unique(struct loader *l, struct unique_key *k, struct node_rec **v)
{
	size_t i, n = 0, first = 0;
	int r = 0;

	for (i = 0; i < l->n_recs; i++) {
		if (l->recs[i].node && k->has(&l->recs[i]))
			v[n++] = &l->recs[i];
	}
	qsort_r(v, n, sizeof(*v), rec_cmp, k);
	for (i = 1; i < n && r == 0; i++) {
		if (k->cmp(v[i], v[first]) != 0) {
			first = i;
			continue;
		}
		if (i == first + 1)
			r = report_dup(l, k, v[first], v[i]);
		if (r == 0)
			r = report_dup(l, k, v[i], v[first]);
	}
	return r;
}

/* An address a node may not have: outside the subnet, or the server's own. */
static int check_ip(struct loader *l, const struct node_rec *rec)
{
	const struct cluster *cl = l->cluster;
	const struct node *n = rec->node;
	const struct pos *p = &rec->ip_pos;

	if (!ipv4_in_subnet(n->ip, cl->subnet_ip, cl->prefix_len))
		return report(l, p, "ip %s is outside subnet %s; expected an address inside it",
			      n->ip_str, cl->subnet);
	if (cl->prefix_len <= 30 &&
	    (n->ip == cl->subnet_ip || n->ip == ipv4_broadcast(cl->subnet_ip, cl->prefix_len)))
		return report(l, p,
			      "ip %s is the network or broadcast address of %s; expected a "
			      "host address",
			      n->ip_str, cl->subnet);
	if (cl->server && n->ip == cl->server_ip)
		return report(l, p, "ip %s is the server's address; expected another address",
			      n->ip_str);
	if (cl->router && strcmp(n->ip_str, cl->router) == 0)
		return report(l, p, "ip %s is the router's address; expected another address",
			      n->ip_str);
	return 0;
}

/* What the Cluster asks of every node: addresses, and a MAC where it is needed. */
static int check_node_cluster(struct loader *l, const struct node_rec *rec)
{
	const struct cluster *cl = l->cluster;
	const struct node *n = rec->node;
	int r = 0;

	if (n->has_ip && cl->subnet)
		r = check_ip(l, rec);
	if (r == 0 && cl->dhcp_mode == DHCP_MODE_FULL && n->has_ip && !n->has_mac)
		r = report(l, &rec->ip_pos,
			   "mac is required for a static lease in full mode; "
			   "expected spec.mac with the ip");
	if (r == 0 && cl->tftp_prefix == TFTP_PREFIX_MAC && !n->has_mac)
		r = report(l, &rec->name_pos,
			   "mac is required when tftp.prefix is mac; expected "
			   "spec.mac");
	return r;
}

int validate_nodes(struct loader *l)
{
	struct node_rec **v = calloc(l->n_recs + 1, sizeof(*v));
	size_t i;
	int r = 0;

	if (!v)
		return -ENOMEM;
	for (i = 0; i < sizeof(unique_keys) / sizeof(unique_keys[0]) && r == 0 && !l->n_stubs; i++)
		r = check_unique(l, &unique_keys[i], v);
	/* With several Clusters, which one the nodes belong to is unknown. */
	for (i = 0; l->cluster && l->n_of_kind[KIND_CLUSTER] == 1 && i < l->n_recs && r == 0; i++) {
		if (l->recs[i].node && !l->recs[i].node->stub) /* a stub was checked before */
			r = check_node_cluster(l, &l->recs[i]);
	}
	free(v);
	return r;
}
