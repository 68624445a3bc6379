/*
 * torture_discover: the address `bramble discover` gives a new node (after
 * the nodes, never the server, router, DNS, a node, the DHCP pool or an
 * address seen in use; wrapping around; none when the subnet is full), and
 * the manifests it prints (unknown serials only; a MAC a node has is left
 * out), which must load as valid manifests with the rest.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "discover.h"
#include "netaddr.h"

static const char cluster_full[] =
	"apiVersion: bramble/v1alpha1\nkind: Cluster\nmetadata: {name: lab}\n"
	"spec:\n  server: 10.99.0.1\n  subnet: 10.99.0.0/24\n  router: 10.99.0.254\n"
	"  dns: [10.99.0.53]\n  dhcp: {mode: full, range: {start: 10.99.0.100, end: "
	"10.99.0.150}}\n  defaults: {image: os}\n---\n"
	"apiVersion: bramble/v1alpha1\nkind: Image\nmetadata: {name: os}\nspec: {path: os}\n";

static struct manifest_set *load(const char *cluster, const char *nodes, const char *extra)
{
	struct manifest_file f[3] = {{"cluster.yaml", cluster, strlen(cluster)},
				     {"nodes.yaml", nodes, strlen(nodes)},
				     {"extra.yaml", extra ? extra : "", extra ? strlen(extra) : 0}};
	struct diags d = DIAGS_INIT;
	struct manifest_set *set = NULL;
	int r = manifests_load_files(f, extra ? 3 : 2, &d, &set);

	if (r < 0)
		diags_print(&d, stderr);
	assert_int_equal(r, 0);
	diags_release(&d);
	return set;
}

static const char *node_at(char *buf, size_t size, const char *serial, const char *ip)
{
	snprintf(buf, size,
		 "apiVersion: bramble/v1alpha1\nkind: Node\nmetadata: {name: n%s}\n"
		 "spec: {serial: \"%s\", mac: \"dc:a6:32:00:00:01\", ip: %s}\n",
		 serial, serial, ip);
	return buf;
}

static uint32_t ip(const char *s)
{
	uint32_t v = 0;

	assert_int_equal(ipv4_parse(s, &v), 0);
	return v;
}

static void test_after_the_nodes_not_the_pool(void **state)
{
	char n[256];
	struct manifest_set *set =
		load(cluster_full, node_at(n, sizeof(n), "1234abcd", "10.99.0.99"), NULL);
	uint32_t taken[8];
	size_t nt = 0;

	(void)state;
	/* .100-.150 is the pool: the next free one after .99 is .151 */
	assert_int_equal(discover_free_address(set, taken, &nt, 8), ip("10.99.0.151"));
	/* and it is taken now, so is one seen in use */
	taken[nt++] = ip("10.99.0.152");
	assert_int_equal(discover_free_address(set, taken, &nt, 8), ip("10.99.0.153"));
	manifest_set_free(set);
}

static void test_wraps_around(void **state)
{
	char n[256];
	struct manifest_set *set =
		load(cluster_full, node_at(n, sizeof(n), "1234abcd", "10.99.0.253"), NULL);
	uint32_t taken[8];
	size_t nt = 0;

	(void)state;
	/* .254 router, .255 broadcast, .0 network, .1 server */
	assert_int_equal(discover_free_address(set, taken, &nt, 8), ip("10.99.0.2"));
	manifest_set_free(set);
}

static void test_full_subnet(void **state)
{
	const char *cluster = "apiVersion: bramble/v1alpha1\nkind: Cluster\nmetadata: {name: x}\n"
			      "spec: {server: 10.99.0.1, subnet: 10.99.0.0/30, defaults: {image: "
			      "os}}\n---\napiVersion: bramble/v1alpha1\nkind: Image\nmetadata: "
			      "{name: os}\nspec: {path: os}\n";
	char n[256];
	struct manifest_set *set =
		load(cluster, node_at(n, sizeof(n), "1234abcd", "10.99.0.2"), NULL);
	uint32_t taken[8];
	size_t nt = 0;

	(void)state;
	assert_int_equal(discover_free_address(set, taken, &nt, 8), 0);
	manifest_set_free(set);
}

/* What discover prints loads, with the repository, as valid manifests. */
static void test_printed_manifest_is_valid(void **state)
{
	char n[256], *text = NULL;
	size_t len = 0;
	struct manifest_set *set = load(cluster_full,
					node_at(n, sizeof(n), "1234abcd", "10.99.0.42"), NULL),
			    *again;
	json_t *boot =
		json_pack("{s:i,s:{s:{s:s,s:s,s:s,s:s},s:{s:s,s:s},s:{s:s}}}", "version", 1,
			  "nodes", "9ffefdef", "mac", "dc:a6:32:00:00:99", "model", "pi5",
			  "address", "10.99.0.120", "firstSeen", "2026-12-05T08:00:00Z", "0000beef",
			  "mac", "dc:a6:32:00:00:01", "model", "pi4", "1234abcd", "model", "pi4");
	FILE *f = open_memstream(&text, &len);

	(void)state;
	assert_non_null(boot);
	assert_non_null(f);
	assert_int_equal(discover_print(set, boot, NULL, f), 0);
	fclose(f);
	assert_non_null(strstr(text, "serial: \"9ffefdef\"\n  mac: \"dc:a6:32:00:00:99\"\n  ip: "
				     "10.99.0.43\n  model: pi5\n"));
	/* 0000beef's MAC is node n1234abcd's: left out, and said */
	assert_non_null(strstr(text, "is node \"n1234abcd\"'s"));
	/* full mode: an address without a MAC would be invalid, so it is a comment */
	assert_non_null(strstr(text, "serial: \"0000beef\"\n  # ip: 10.99.0.44  # full DHCP mode"));
	assert_null(strstr(text, "serial: \"1234abcd\""));
	again = load(cluster_full, n, text);
	assert_int_equal(again->n_nodes, 3);
	manifest_set_free(again);
	free(text);
	json_decref(boot);
	manifest_set_free(set);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_after_the_nodes_not_the_pool),
		cmocka_unit_test(test_wraps_around),
		cmocka_unit_test(test_full_subnet),
		cmocka_unit_test(test_printed_manifest_is_valid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
