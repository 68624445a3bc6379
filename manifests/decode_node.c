#include <string.h>

#include "check.h"
#include "decode.h"
#include "netaddr.h"

/* The node being decoded, with what the field handlers need to share. */
struct node_dec {
	struct node *n;
};

static void node_serial(struct dctx *c, struct ynode *v, void *obj)
{
	struct node *n = ((struct node_dec *)obj)->n;
	char q[QUOTE_MAX];
	char *s = NULL;

	if (!dc_string(c, v, &s))
		return;
	if (!serial_is_valid(s)) {
		str_quote(s, q, sizeof(q));
		dc_error(c, v, "invalid serial %s; expected 8 lowercase hex digits", q);
		return;
	}
	memcpy(n->serial, s, sizeof(n->serial));
	if (c->rec) {
		c->rec->serial_pos = ynode_pos(c->yt, v);
		c->rec->has_serial = true;
	}
}

static void node_mac(struct dctx *c, struct ynode *v, void *obj)
{
	struct node *n = ((struct node_dec *)obj)->n;
	char q[QUOTE_MAX];
	char *s = NULL;

	if (!dc_string(c, v, &s))
		return;
	if (mac_parse(s, n->mac) < 0) {
		str_quote(s, q, sizeof(q));
		dc_error(c, v,
			 "invalid MAC address %s; expected six pairs of hex digits "
			 "separated by \":\" or \"-\"",
			 q);
		return;
	}
	n->has_mac = true;
	mac_format(n->mac, n->mac_str);
	if (!mac_is_unicast(n->mac)) {
		str_quote(s, q, sizeof(q));
		dc_error(c, v,
			 "MAC address %s is %s; expected a Pi's own (unicast: the low bit of "
			 "the first byte clear, not all zero)",
			 q, n->mac[0] & 1 ? "a multicast or broadcast address" : "all zero");
	}
	if (c->rec)
		c->rec->mac_pos = ynode_pos(c->yt, v);
}

static void node_ip(struct dctx *c, struct ynode *v, void *obj)
{
	struct node *n = ((struct node_dec *)obj)->n;
	char q[QUOTE_MAX];
	char *s = NULL;

	if (!dc_string(c, v, &s))
		return;
	if (ipv4_parse(s, &n->ip) < 0) {
		str_quote(s, q, sizeof(q));
		dc_error(c, v, "invalid IPv4 address %s; expected a dotted quad such as 10.0.0.42",
			 q);
		return;
	}
	n->has_ip = true;
	ipv4_format(n->ip, n->ip_str);
	if (c->rec)
		c->rec->ip_pos = ynode_pos(c->yt, v);
}

bool decode_hostname(struct dctx *c, const struct ynode *v, char **ret)
{
	char q[QUOTE_MAX];
	char *s = NULL;

	if (!dc_string(c, v, &s))
		return false;
	if (!hostname_is_valid(s)) {
		str_quote(s, q, sizeof(q));
		dc_error(c, v,
			 "invalid hostname %s; expected 1 to 63 letters, digits and \"-\", "
			 "not starting or ending with \"-\"",
			 q);
		return false;
	}
	*ret = s;
	return true;
}

static void node_hostname(struct dctx *c, struct ynode *v, void *obj)
{
	struct node *n = ((struct node_dec *)obj)->n;

	if (!decode_hostname(c, v, &n->hostname))
		return;
	if (c->rec)
		c->rec->hostname_pos = ynode_pos(c->yt, v);
}

static void node_model(struct dctx *c, struct ynode *v, void *obj)
{
	static const char *const names[] = {"pi3", "pi4", "pi5"};
	struct node *n = ((struct node_dec *)obj)->n;
	int m;

	if (dc_enum(c, v, names, 3, &m))
		n->model = (enum pi_model)m;
}

static bool profile_ok(struct dctx *c, const struct ynode *item, const char *s)
{
	char q[QUOTE_MAX];

	if (refs_profile(c->refs, s))
		return true;
	str_quote(s, q, sizeof(q));
	dc_error(c, item, "unknown profile %s; expected the name of a Profile", q);
	return false;
}

static void node_profiles(struct dctx *c, struct ynode *v, void *obj)
{
	struct node *n = ((struct node_dec *)obj)->n;

	dc_strlist(c, v, &n->profiles, profile_ok);
}

static void node_image(struct dctx *c, struct ynode *v, void *obj)
{
	struct node *n = ((struct node_dec *)obj)->n;
	char q[QUOTE_MAX];
	char *s = NULL;

	if (!dc_string(c, v, &s))
		return;
	n->image = refs_image(c->refs, s);
	if (n->image)
		return;
	str_quote(s, q, sizeof(q));
	dc_error(c, v, "unknown image %s; expected the name of an Image", q);
}

static bool config_line_ok(struct dctx *c, const struct ynode *item, const char *s)
{
	if (!has_newline(s))
		return true;
	dc_error(c, item, "config.txt line contains a line break; expected one line per item");
	return false;
}

/* configTxt as a map: key=value lines, sorted by key (the map already is). */
static void config_txt_map(struct dctx *c, struct ynode *v, struct config_txt *ct)
{
	char q[QUOTE_MAX];
	size_t i;

	ct->map.v = arena_calloc(c->out, v->n ? v->n : 1, sizeof(*ct->map.v));
	if (!ct->map.v) {
		dc_nomem(c);
		return;
	}
	for (i = 0; i < v->n; i++) {
		struct ynode *k = ymap_key(v, i), *val = ymap_value(v, i);
		struct kv *kv = &ct->map.v[ct->map.n];

		if (!config_key_is_valid(k->u.str)) {
			str_quote(k->u.str, q, sizeof(q));
			dc_error(c, k,
				 "invalid config.txt key %s; expected letters, digits and "
				 "\"_\"",
				 q);
			continue;
		}
		if (!dc_string(c, val, &kv->value) || !config_line_ok(c, val, kv->value))
			continue;
		if (!dc_string(c, k, &kv->key))
			continue;
		ct->map.n++;
	}
}

static void boot_config_txt(struct dctx *c, struct ynode *v, void *obj)
{
	struct config_txt *ct = &((struct node_dec *)obj)->n->config_txt;

	memset(ct, 0, sizeof(*ct));
	if (v->kind == YNODE_SEQ) {
		ct->form = CONFIG_TXT_LINES;
		dc_strlist(c, v, &ct->lines, config_line_ok);
	} else if (v->kind == YNODE_MAP) {
		ct->form = CONFIG_TXT_MAP;
		config_txt_map(c, v, ct);
	} else {
		dc_error(c, v, "expected a list of lines or a map of key: value, got %s",
			 ynode_type_name(v));
	}
}

static bool cmdline_ok(struct dctx *c, const struct ynode *item, const char *s)
{
	bool spaced = !*s || has_space(s);
	bool managed = has_prefix(s, "root=") || has_prefix(s, "nfsroot=");
	bool ip = has_prefix(s, "ip=");
	char q[QUOTE_MAX];

	if (!spaced && !managed && !ip)
		return true;
	str_quote(s, q, sizeof(q));
	if (ip && !spaced)
		dc_error(c, item,
			 "kernel argument %s is set by bramble (ip=dhcp: the kernel would take "
			 "the last ip=, and lose the NFS root if it is not the DHCP one); expected "
			 "spec.ip for a fixed address",
			 q);
	else if (spaced)
		dc_error(c, item,
			 "invalid kernel argument %s; expected one argument without "
			 "white space per item",
			 q);
	else
		dc_error(c, item,
			 "kernel argument %s is set by bramble; expected other "
			 "arguments only",
			 q);
	return false;
}

static void boot_cmdline(struct dctx *c, struct ynode *v, void *obj)
{
	struct node *n = ((struct node_dec *)obj)->n;

	dc_strlist(c, v, &n->cmdline, cmdline_ok);
}

static void node_boot(struct dctx *c, struct ynode *v, void *obj)
{
	static const struct field fields[] = {
		{"configTxt", 0, boot_config_txt},
		{"cmdline", 0, boot_cmdline},
	};

	dc_map(c, v, fields, sizeof(fields) / sizeof(fields[0]), "boot", obj);
}

static void root_mode(struct dctx *c, struct ynode *v, void *obj)
{
	static const char *const names[] = {"private", "shared"};
	struct node *n = ((struct node_dec *)obj)->n;
	int m;

	if (dc_enum(c, v, names, 2, &m))
		n->root_mode = (enum root_mode)m;
}

static void root_generation(struct dctx *c, struct ynode *v, void *obj)
{
	struct node *n = ((struct node_dec *)obj)->n;

	dc_uint(c, v, 2147483647u, &n->root_generation);
}

static void node_root(struct dctx *c, struct ynode *v, void *obj)
{
	static const struct field fields[] = {
		{"mode", 0, root_mode},
		{"generation", 0, root_generation},
	};

	dc_map(c, v, fields, sizeof(fields) / sizeof(fields[0]), "root", obj);
}

static void node_first_boot(struct dctx *c, struct ynode *v, void *obj)
{
	decode_first_boot(c, v, &((struct node_dec *)obj)->n->first_boot);
}

void decode_node_spec(struct dctx *c, struct ynode *spec, const char *what, struct node *n)
{
	static const struct field fields[] = {
		{"serial", FIELD_NODE_ONLY, node_serial},
		{"mac", FIELD_NODE_ONLY, node_mac},
		{"ip", FIELD_NODE_ONLY, node_ip},
		{"hostname", FIELD_NODE_ONLY, node_hostname},
		{"model", 0, node_model},
		{"profiles", FIELD_NO_PROFILE, node_profiles},
		{"image", 0, node_image},
		{"boot", 0, node_boot},
		{"root", 0, node_root},
		{"firstBoot", 0, node_first_boot},
	};
	struct node_dec dec = {n};

	dc_map(c, spec, fields, sizeof(fields) / sizeof(fields[0]), what, &dec);
}
