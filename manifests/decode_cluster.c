#include <string.h>

#include "check.h"
#include "decode.h"
#include "netaddr.h"

#define LEASE_MIN 120u
#define LEASE_MAX 2147483647u

/* The Cluster being decoded, and the values its checks compare. */
struct cluster_dec {
	struct cluster *cl;
	struct ynode *server, *subnet, *router, *range, *start, *end, *defaults;
	bool subnet_ok;
	uint32_t router_ip, start_ip, end_ip;
};

/* An IPv4 value; reports and returns false when invalid. */
static bool ipv4_value(struct dctx *c, const struct ynode *v, char **ret_s, uint32_t *ret_ip)
{
	char q[QUOTE_MAX];
	char *s = NULL;

	if (!dc_string(c, v, &s))
		return false;
	if (ipv4_parse(s, ret_ip) < 0) {
		str_quote(s, q, sizeof(q));
		dc_error(c, v, "invalid IPv4 address %s; expected a dotted quad such as 10.0.0.1",
			 q);
		return false;
	}
	*ret_s = s;
	return true;
}

static void cl_server(struct dctx *c, struct ynode *v, void *obj)
{
	struct cluster_dec *cd = obj;

	if (ipv4_value(c, v, &cd->cl->server, &cd->cl->server_ip))
		cd->server = v;
}

static void cl_interface(struct dctx *c, struct ynode *v, void *obj)
{
	struct cluster_dec *cd = obj;
	char q[QUOTE_MAX];
	char *s = NULL;

	if (!dc_string(c, v, &s))
		return;
	if (!interface_is_valid(s)) {
		str_quote(s, q, sizeof(q));
		dc_error(c, v, "invalid interface %s; expected 1 to 15 of [A-Za-z0-9_.:-]", q);
		return;
	}
	cd->cl->interface = s;
}

static void cl_subnet(struct dctx *c, struct ynode *v, void *obj)
{
	struct cluster_dec *cd = obj;
	char q[QUOTE_MAX], want[CIDR_STR_MAX];
	uint32_t addr;
	unsigned len;
	char *s = NULL;

	if (!dc_string(c, v, &s))
		return;
	str_quote(s, q, sizeof(q));
	if (cidr_parse(s, &addr, &len) < 0) {
		dc_error(c, v, "invalid subnet %s; expected CIDR notation such as 10.99.0.0/24", q);
		return;
	}
	if (addr & ~ipv4_mask(len)) {
		cidr_format(addr & ipv4_mask(len), len, want);
		dc_error(c, v, "invalid subnet %s: host bits set; expected %s", q, want);
		return;
	}
	if (ipv4_special(addr)) {
		dc_error(c, v, "subnet %s is %s; expected a subnet a Pi's network can have", q,
			 ipv4_special(addr));
		return;
	}
	cd->cl->subnet = s;
	cd->cl->subnet_ip = addr;
	cd->cl->prefix_len = len;
	cd->subnet = v;
	cd->subnet_ok = true;
}

static void cl_router(struct dctx *c, struct ynode *v, void *obj)
{
	struct cluster_dec *cd = obj;

	if (ipv4_value(c, v, &cd->cl->router, &cd->router_ip))
		cd->router = v;
}

static bool dns_ok(struct dctx *c, const struct ynode *item, const char *s)
{
	char q[QUOTE_MAX];
	uint32_t ip;

	str_quote(s, q, sizeof(q));
	if (ipv4_parse(s, &ip) < 0) {
		dc_error(c, item,
			 "invalid IPv4 address %s; expected a dotted quad such as 10.0.0.1", q);
		return false;
	}
	if (ipv4_special(ip)) {
		dc_error(c, item, "dns server %s is %s; expected a server's unicast address", q,
			 ipv4_special(ip));
		return false;
	}
	return true;
}

static void cl_dns(struct dctx *c, struct ynode *v, void *obj)
{
	struct cluster_dec *cd = obj;

	dc_strlist(c, v, &cd->cl->dns, dns_ok);
}

static void dhcp_mode(struct dctx *c, struct ynode *v, void *obj)
{
	static const char *const names[] = {"proxy", "full", "external"};
	struct cluster_dec *cd = obj;
	int m;

	if (dc_enum(c, v, names, 3, &m))
		cd->cl->dhcp_mode = (enum dhcp_mode)m;
}

static void range_start(struct dctx *c, struct ynode *v, void *obj)
{
	struct cluster_dec *cd = obj;

	if (ipv4_value(c, v, &cd->cl->range_start, &cd->start_ip))
		cd->start = v;
}

static void range_end(struct dctx *c, struct ynode *v, void *obj)
{
	struct cluster_dec *cd = obj;

	if (ipv4_value(c, v, &cd->cl->range_end, &cd->end_ip))
		cd->end = v;
}

static void dhcp_range(struct dctx *c, struct ynode *v, void *obj)
{
	static const struct field fields[] = {
		{"start", 0, range_start},
		{"end", 0, range_end},
	};
	struct cluster_dec *cd = obj;

	cd->range = v;
	dc_map(c, v, fields, 2, "dhcp.range", obj);
	if (v->kind == YNODE_MAP && (!ymap_get(v, "start") || !ymap_get(v, "end")))
		dc_error(c, v, "dhcp.range needs both start and end");
}

/* "3600", or a number with a unit: 90s, 30m, 12h, 7d. */
static bool duration_parse(const struct ynode *v, unsigned *ret)
{
	const char *s = v->u.str;
	unsigned long long n = 0, unit = 1;
	size_t i;

	for (i = 0; s[i] >= '0' && s[i] <= '9' && n <= LEASE_MAX; i++)
		n = n * 10 + (unsigned)(s[i] - '0');
	if (i == 0 || (s[0] == '0' && i > 1))
		return false;
	if (s[i] == '\0' && v->style != YSCALAR_PLAIN && v->style != YSCALAR_INT)
		return false;
	if (s[i] && s[i + 1])
		return false;
	if (s[i] == 's' || s[i] == '\0')
		unit = 1;
	else if (s[i] == 'm')
		unit = 60;
	else if (s[i] == 'h')
		unit = 3600;
	else if (s[i] == 'd')
		unit = 86400;
	else
		return false;
	if (n > LEASE_MAX / unit)
		return false;
	*ret = (unsigned)(n * unit);
	return true;
}

static void dhcp_lease_time(struct dctx *c, struct ynode *v, void *obj)
{
	struct cluster_dec *cd = obj;
	char q[QUOTE_MAX];
	unsigned secs;

	if (v->kind != YNODE_SCALAR || ynode_is_null(v)) {
		dc_error(c, v, "expected a duration, got %s", ynode_type_name(v));
		return;
	}
	str_quote(v->u.str, q, sizeof(q));
	if (!duration_parse(v, &secs)) {
		dc_error(c, v,
			 "invalid leaseTime %s; expected seconds or a duration such as 90m, "
			 "12h or 7d",
			 q);
		return;
	}
	if (secs < LEASE_MIN) {
		dc_error(c, v, "leaseTime %s is too short; expected at least %u seconds", q,
			 LEASE_MIN);
		return;
	}
	cd->cl->lease_seconds = secs;
}

static void cl_dhcp(struct dctx *c, struct ynode *v, void *obj)
{
	static const struct field fields[] = {
		{"mode", 0, dhcp_mode},
		{"range", 0, dhcp_range},
		{"leaseTime", 0, dhcp_lease_time},
	};

	dc_map(c, v, fields, sizeof(fields) / sizeof(fields[0]), "dhcp", obj);
}

static void nfs_version(struct dctx *c, struct ynode *v, void *obj)
{
	struct cluster_dec *cd = obj;
	unsigned ver;

	if (!dc_uint(c, v, 1000, &ver))
		return;
	if (ver != 3 && ver != 4) {
		dc_error(c, v, "unsupported NFS version %u; expected 3 or 4", ver);
		return;
	}
	cd->cl->nfs_version = ver;
}

static void nfs_backend(struct dctx *c, struct ynode *v, void *obj)
{
	static const char *const names[] = {"kernel", "ganesha"};
	struct cluster_dec *cd = obj;
	int b;

	if (dc_enum(c, v, names, 2, &b))
		cd->cl->nfs_backend = (enum nfs_backend)b;
}

static void cl_nfs(struct dctx *c, struct ynode *v, void *obj)
{
	static const struct field fields[] = {
		{"version", 0, nfs_version},
		{"backend", 0, nfs_backend},
	};

	dc_map(c, v, fields, 2, "nfs", obj);
}

static void tftp_prefix(struct dctx *c, struct ynode *v, void *obj)
{
	static const char *const names[] = {"serial", "mac"};
	struct cluster_dec *cd = obj;
	int p;

	if (dc_enum(c, v, names, 2, &p))
		cd->cl->tftp_prefix = (enum tftp_prefix)p;
}

static void cl_tftp(struct dctx *c, struct ynode *v, void *obj)
{
	static const struct field fields[] = {
		{"prefix", 0, tftp_prefix},
	};

	dc_map(c, v, fields, 1, "tftp", obj);
}

static void cl_defaults(struct dctx *c, struct ynode *v, void *obj)
{
	struct cluster_dec *cd = obj;

	(void)c;
	cd->defaults = v;
}

/* An address of the cluster must be a host of its subnet. */
static void check_inside(struct dctx *c, const struct cluster_dec *cd, const struct ynode *v,
			 uint32_t ip, const char *what)
{
	const struct cluster *cl = cd->cl;
	char s[IPV4_STR_MAX];

	ipv4_format(ip, s);
	if (!ipv4_in_subnet(ip, cl->subnet_ip, cl->prefix_len))
		dc_error(c, v, "%s %s is outside subnet %s; expected an address inside it", what, s,
			 cl->subnet);
	else if (cl->prefix_len <= 30 &&
		 (ip == cl->subnet_ip || ip == ipv4_broadcast(cl->subnet_ip, cl->prefix_len)))
		dc_error(c, v,
			 "%s %s is the network or broadcast address of %s; expected a host "
			 "address",
			 what, s, cl->subnet);
}

static void check_range(struct dctx *c, const struct cluster_dec *cd)
{
	if (cd->cl->dhcp_mode != DHCP_MODE_FULL) {
		dc_error(c, cd->range,
			 "dhcp.range is only used in full mode; expected mode: full "
			 "or no range");
		return;
	}
	if (!cd->start || !cd->end)
		return;
	if (cd->subnet_ok) {
		check_inside(c, cd, cd->start, cd->start_ip, "dhcp.range start");
		check_inside(c, cd, cd->end, cd->end_ip, "dhcp.range end");
	}
	if (cd->start_ip > cd->end_ip) {
		dc_error(c, cd->end, "dhcp.range end is before its start; expected start <= end");
		return;
	}
	if (cd->server && cd->cl->server_ip >= cd->start_ip && cd->cl->server_ip <= cd->end_ip)
		dc_error(c, cd->range,
			 "dhcp.range %s to %s holds the server's address %s; expected a range "
			 "without it",
			 cd->cl->range_start, cd->cl->range_end, cd->cl->server);
	if (cd->router && cd->router_ip >= cd->start_ip && cd->router_ip <= cd->end_ip)
		dc_error(c, cd->range,
			 "dhcp.range %s to %s holds the router's address %s; expected a range "
			 "without it",
			 cd->cl->range_start, cd->cl->range_end, cd->cl->router);
}

static void cluster_check(struct dctx *c, struct ynode *spec, struct cluster_dec *cd)
{
	if (spec->kind != YNODE_MAP)
		return;
	if (!ymap_get(spec, "server"))
		dc_error_at(c, &c->fallback,
			    "missing required key \"server\" in Cluster spec; "
			    "expected the netboot server's IPv4 address");
	if (!ymap_get(spec, "subnet"))
		dc_error_at(c, &c->fallback,
			    "missing required key \"subnet\" in Cluster spec; "
			    "expected CIDR notation such as 10.99.0.0/24");
	if (cd->subnet_ok && cd->server)
		check_inside(c, cd, cd->server, cd->cl->server_ip, "server");
	if (cd->subnet_ok && cd->router)
		check_inside(c, cd, cd->router, cd->router_ip, "router");
	if (cd->range)
		check_range(c, cd);
}

void decode_cluster_spec(struct dctx *c, struct ynode *spec, struct cluster *cl,
			 struct ynode **ret_defaults)
{
	static const struct field fields[] = {
		{"server", 0, cl_server},     {"interface", 0, cl_interface},
		{"subnet", 0, cl_subnet},     {"router", 0, cl_router},
		{"dns", 0, cl_dns},	      {"dhcp", 0, cl_dhcp},
		{"nfs", 0, cl_nfs},	      {"tftp", 0, cl_tftp},
		{"defaults", 0, cl_defaults},
	};
	struct cluster_dec cd;

	memset(&cd, 0, sizeof(cd));
	cd.cl = cl;
	cl->dhcp_mode = DHCP_MODE_PROXY;
	cl->lease_seconds = 3600;
	cl->nfs_version = 3;
	cl->nfs_backend = NFS_BACKEND_KERNEL;
	cl->tftp_prefix = TFTP_PREFIX_SERIAL;
	dc_map(c, spec, fields, sizeof(fields) / sizeof(fields[0]), "Cluster spec", &cd);
	cluster_check(c, spec, &cd);
	*ret_defaults = cd.defaults;
}
