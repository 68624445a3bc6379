#include "discover.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bootwatch_follow.h"
#include "log.h"
#include "netaddr.h"
#include "reconcile.h"
#include "source.h"
#include "../common/fsutil.h"

#define DISCOVER_MAX 4096 /* unknown Pis printed at most */

static int u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static bool in_list(const uint32_t *v, size_t n, uint32_t ip)
{
	return bsearch(&ip, v, n, sizeof(*v), u32_cmp) != NULL;
}

/* Every address named by the Cluster and the nodes, and the extra ones, sorted. */
static uint32_t *taken_list(const struct manifest_set *set, const uint32_t *extra, size_t n_extra,
			    size_t *ret_n, uint32_t *ret_highest)
{
	const struct cluster *c = set->cluster;
	uint32_t *v = calloc(set->n_nodes + c->dns.n + n_extra + 2, sizeof(*v)), ip;
	size_t n = 0, i;

	if (!v)
		return NULL;
	*ret_highest = 0;
	v[n++] = c->server_ip;
	if (c->router && ipv4_parse(c->router, &ip) == 0)
		v[n++] = ip;
	for (i = 0; i < c->dns.n; i++)
		if (ipv4_parse(c->dns.v[i], &ip) == 0)
			v[n++] = ip;
	for (i = 0; i < set->n_nodes; i++)
		if (set->nodes[i]->has_ip) {
			v[n++] = set->nodes[i]->ip;
			if (set->nodes[i]->ip > *ret_highest)
				*ret_highest = set->nodes[i]->ip;
		}
	memcpy(v + n, extra, n_extra * sizeof(*v));
	n += n_extra;
	qsort(v, n, sizeof(*v), u32_cmp);
	*ret_n = n;
	return v;
}

static bool in_pool(const struct cluster *c, uint32_t ip)
{
	uint32_t lo, hi;

	return c->dhcp_mode == DHCP_MODE_FULL && c->range_start && c->range_end &&
	       ipv4_parse(c->range_start, &lo) == 0 && ipv4_parse(c->range_end, &hi) == 0 &&
	       ip >= lo && ip <= hi;
}

uint32_t discover_free_address(const struct manifest_set *set, uint32_t *taken, size_t *n_taken,
			       size_t max_taken)
{
	const struct cluster *c = set->cluster;
	uint32_t first = c->subnet_ip + 1, last = ipv4_broadcast(c->subnet_ip, c->prefix_len) - 1;
	uint32_t highest, ip, found = 0, *v;
	uint64_t span, k;
	size_t n = 0;

	if (c->prefix_len > 30 || *n_taken >= max_taken)
		return 0;
	v = taken_list(set, taken, *n_taken, &n, &highest);
	if (!v)
		return 0;
	/* Right after the nodes, so a cluster's addresses stay together. */
	ip = highest >= first && highest < last ? highest + 1 : c->server_ip + 1;
	span = (uint64_t)last - first + 1;
	for (k = 0; k < span && !found; k++) {
		if (ip < first || ip > last)
			ip = first;
		if (!in_list(v, n, ip) && !in_pool(c, ip))
			found = ip;
		ip++;
	}
	free(v);
	if (found)
		taken[(*n_taken)++] = found;
	return found;
}

static const char *jstr(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "";
}

static bool node_has_serial(const struct manifest_set *set, const char *serial)
{
	size_t i;

	for (i = 0; i < set->n_nodes; i++)
		if (strcmp(set->nodes[i]->serial, serial) == 0)
			return true;
	return false;
}

/* The node that has this MAC already, or NULL. */
static const struct node *node_with_mac(const struct manifest_set *set, const char *mac)
{
	size_t i;

	for (i = 0; mac && *mac && i < set->n_nodes; i++)
		if (set->nodes[i]->has_mac && strcmp(set->nodes[i]->mac_str, mac) == 0)
			return set->nodes[i];
	return NULL;
}

/* A name no node has: pi-<serial>, else pi-<serial>-2, -3 ... */
static void free_name(const struct manifest_set *set, const char *serial, char out[32])
{
	unsigned k;
	size_t i;

	for (k = 1; k < 100; k++) {
		bool used = false;

		if (k == 1)
			snprintf(out, 32, "pi-%s", serial);
		else
			snprintf(out, 32, "pi-%s-%u", serial, k);
		for (i = 0; i < set->n_nodes && !used; i++)
			used = strcmp(set->nodes[i]->name, out) == 0 ||
			       strcmp(set->nodes[i]->hostname, out) == 0;
		if (!used)
			return;
	}
}

/* What discover says of one unknown Pi, for the text and the JSON document. */
struct unknown_pi {
	const char *serial, *mac, *model; /* mac, model: "" when not known */
	const json_t *rec;
	const struct node *owner; /* the node that has its MAC already, or NULL */
	char name[32];
	char ip[IPV4_STR_MAX]; /* "" when the subnet is full */
	bool ip_needs_mac;     /* full mode without a MAC: the ip is commented out */
};

static void unknown_pi_fill(const struct manifest_set *set, const char *serial, const json_t *rec,
			    uint32_t ip, struct unknown_pi *u)
{
	memset(u, 0, sizeof(*u));
	u->serial = serial;
	u->rec = rec;
	u->mac = jstr(rec, "mac");
	u->model = jstr(rec, "model");
	u->owner = node_with_mac(set, u->mac);
	free_name(set, serial, u->name);
	if (ip)
		ipv4_format(ip, u->ip);
	/* Full mode: an address is a static lease, which needs the MAC. */
	u->ip_needs_mac = set->cluster->dhcp_mode == DHCP_MODE_FULL && (!*u->mac || u->owner);
}

/* The Node manifest of an unknown Pi, ready to commit. */
static void print_manifest(const struct unknown_pi *u, FILE *out)
{
	fprintf(out,
		"---\napiVersion: bramble/v1alpha1\nkind: Node\nmetadata:\n  name: %s\nspec:\n"
		"  serial: \"%s\"\n",
		u->name, u->serial);
	if (*u->mac && !u->owner)
		fprintf(out, "  mac: \"%s\"\n", u->mac);
	if (*u->ip)
		fprintf(out, "  %sip: %s%s\n", u->ip_needs_mac ? "# " : "", u->ip,
			u->ip_needs_mac ? "  # full DHCP mode: give the mac too" : "");
	if (*u->model)
		fprintf(out, "  model: %s\n", u->model);
}

static void print_one(const struct unknown_pi *u, FILE *out)
{
	const json_t *err = json_object_get(u->rec, "lastError");

	fprintf(out, "# Pi %s: first seen %s, last seen %s", u->serial, jstr(u->rec, "firstSeen"),
		jstr(u->rec, "lastSeen"));
	if (json_is_object(err))
		fprintf(out, "; last request: %s (%s)", jstr(err, "file"), jstr(err, "kind"));
	fputc('\n', out);
	if (u->owner)
		fprintf(out, "# its MAC %s is node \"%s\"'s: left out (a replaced board?)\n",
			u->mac, u->owner->name);
	if (!*u->model)
		fprintf(out, "# model: the requests did not tell; pi4 is the default\n");
	print_manifest(u, out);
}

/* One entry of bramble/discover/v1's "pis" (README.md, "JSON output"). */
static json_t *unknown_pi_json(const struct unknown_pi *u)
{
	const json_t *err = json_object_get(u->rec, "lastError");
	char *text = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&text, &len);
	json_t *o;

	if (!m)
		return NULL;
	print_manifest(u, m);
	fclose(m);
	o = json_pack("{s:s,s:s,s:s,s:s?,s:s?,s:s?,s:s?,s:b,s:s?,s:s,s:o}", "serial", u->serial,
		      "name", u->name, "firstSeen", jstr(u->rec, "firstSeen"), "lastSeen",
		      jstr(u->rec, "lastSeen"), "mac", *u->mac && !u->owner ? u->mac : NULL,
		      "model", *u->model ? u->model : NULL, "ip", *u->ip ? u->ip : NULL,
		      "ipNeedsMac", u->ip_needs_mac, "macOwner", u->owner ? u->owner->name : NULL,
		      "manifest", text ? text : "", "lastRequest",
		      json_is_object(err) ? json_pack("{s:s,s:s}", "file", jstr(err, "file"),
						      "kind", jstr(err, "kind"))
					  : json_null());
	free(text);
	return o;
}

/* Observed addresses: in proxy mode the router's pool handed them out. */
static size_t observed_addresses(const json_t *recs, uint32_t *v, size_t max)
{
	const char *serial;
	const json_t *rec;
	size_t n = 0;
	uint32_t ip;

	json_object_foreach((json_t *)(uintptr_t)recs, serial,
			    rec) if (n < max && ipv4_parse(jstr(rec, "address"), &ip) == 0) v[n++] =
		ip;
	return n;
}

int discover_print(const struct manifest_set *set, const json_t *boot, json_t *pis, FILE *out)
{
	const json_t *recs = json_object_get(boot, "nodes"), *rec;
	size_t max = json_object_size(recs) * 2 + 1, n_taken, printed = 0;
	uint32_t *taken = calloc(max, sizeof(*taken)), ip;
	const char *serial;
	char net[CIDR_STR_MAX];
	struct unknown_pi u;

	if (!taken)
		return -ENOMEM;
	n_taken = observed_addresses(recs, taken, max / 2);
	cidr_format(set->cluster->subnet_ip, set->cluster->prefix_len, net);
	json_object_foreach((json_t *)(uintptr_t)recs, serial, rec)
	{
		if (node_has_serial(set, serial) || printed >= DISCOVER_MAX)
			continue;
		ip = discover_free_address(set, taken, &n_taken, max);
		unknown_pi_fill(set, serial, rec, ip, &u);
		if (pis) {
			printed++;
			if (json_array_append_new(pis, unknown_pi_json(&u)) < 0) {
				free(taken);
				return -ENOMEM;
			}
			continue;
		}
		if (printed++ == 0)
			fprintf(out,
				"# Nodes for the Pis that booted with a serial no manifest names.\n"
				"# Addresses: free in %s (not the server, router, DNS, a "
				"node%s)%s.\n",
				net,
				set->cluster->dhcp_mode == DHCP_MODE_FULL ? " or the DHCP pool"
									  : "",
				set->cluster->dhcp_mode == DHCP_MODE_FULL
					? ""
					: "; check that they are outside your router's DHCP pool");
		print_one(&u, out);
	}
	if (!printed && !pis)
		fprintf(out,
			"# no unknown Pis: every Pi seen booting is a node of the manifests\n");
	free(taken);
	return 0;
}

/* bramble/discover/v1 on out: observed false when no boot was recorded yet. */
static int discover_json(const struct manifest_set *set, const json_t *boot, FILE *out)
{
	json_t *doc, *pis = json_array();
	char net[CIDR_STR_MAX];
	int r = pis ? 0 : -ENOMEM;

	if (r == 0 && set && boot)
		r = discover_print(set, boot, pis, out);
	if (set)
		cidr_format(set->cluster->subnet_ip, set->cluster->prefix_len, net);
	doc = r == 0 ? json_pack("{s:s,s:b,s:s?,s:O}", "schema", "bramble/discover/v1", "observed",
				 boot != NULL, "subnet", set ? net : NULL, "pis", pis)
		     : NULL;
	json_decref(pis);
	if (!doc || json_dumpf(doc, out, JSON_INDENT(2) | JSON_SORT_KEYS) < 0)
		r = r < 0 ? r : -EIO;
	else
		fputc('\n', out);
	json_decref(doc);
	return r;
}

int discover_command(const struct bramble_config *cfg, bool json, FILE *out)
{
	struct manifest_set *set = NULL;
	char *path = path_join(cfg->state_dir, BOOT_STATE_FILE), *data = NULL;
	json_t *boot = NULL;
	size_t len = 0;
	int r, code = EXIT_FAILED;

	r = path ? file_read(path, (size_t)64 << 20, &data, &len) : -ENOMEM;
	if (r == -ENOENT) {
		fprintf(stderr,
			"bramble: no boot observed yet (%s): `bramble run` records the Pis it sees "
			"in dnsmasq's log (dhcp.logFile)\n",
			path);
		code = EXIT_OK;
		if (json && source_load_set(cfg, &set) < 0)
			set = NULL; /* said; the document has no subnet then */
		if (json && discover_json(set, NULL, out) < 0)
			code = EXIT_FAILED;
		goto out;
	}
	boot = r == 0 ? json_loadb(data, len, 0, NULL) : NULL;
	if (!boot) {
		log_warnx("cannot read %s", path);
		goto out;
	}
	if (source_load_set(cfg, &set) < 0)
		goto out;
	r = json ? discover_json(set, boot, out) : discover_print(set, boot, NULL, out);
	code = r < 0 ? EXIT_FAILED : EXIT_OK;
out:
	manifest_set_free(set);
	json_decref(boot);
	free(data);
	free(path);
	return code;
}
