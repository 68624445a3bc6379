/*
 * config: defaults, --root, and the bramble.yaml reader.  The file is a map
 * of sections (source, paths, dhcp, nfs, http) holding scalars; it is read
 * through the manifests' YAML tree against one table of known keys.
 */
#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "netaddr.h"
#include "noderoot.h"
#include "notify.h"
#include "selector.h"
#include "yaml_tree.h"
#include "../common/buf.h"
#include "../common/fsutil.h"
#include "../common/parse.h"

#define CONFIG_MAX_SIZE	     ((size_t)1 << 20)
#define CONFIG_MAX_DOCUMENTS 16 /* one is used; a second is an error */

/*
 * What a key takes.  KEY_PATH is made absolute (config_absolutize());
 * KEY_FILE names a file read later, which must be a regular one
 * (config_check_files()); KEY_ENUM is one of its names; KEY_URL is checked
 * by notify_url_check().  All these are stored as strings.
 */
enum key_type {
	KEY_STR,
	KEY_PATH,
	KEY_FILE,
	KEY_ENUM,
	KEY_URL,
	KEY_SELECTOR, /* label terms: selector_canonical() */
	KEY_ADDR,     /* an IPv4 address, or empty */
	KEY_DURATION, /* unsigned seconds: "90", "90s", "5m", "2h", "30d" */
	KEY_BOOL,     /* true or false */
	KEY_UINT,     /* unsigned: a count */
	KEY_SIZE,     /* uint64_t bytes: "512M", "64G", "2GiB" */
};

/*
 * One key of bramble.yaml, and the values it takes: a number in [min, max]
 * (seconds, a count, bytes) or, when zero_off, 0 too (which turns the thing
 * off); a KEY_ENUM's names (NULL-terminated).  A new key is one line below.
 */
struct config_key {
	const char *section; /* NULL: top level */
	const char *key;
	enum key_type type;
	size_t offset;
	uint64_t min, max;
	bool zero_off;
	const char *const *names;
};

#define MINUTE 60
#define HOUR   3600
#define DAY    86400
#define MiB    ((uint64_t)1 << 20)
#define TiB    ((uint64_t)1 << 40)

/* clang-format off */
#define FIELD(f)			  offsetof(struct bramble_config, f)
#define STR(s, k, f)			  {s, k, KEY_STR, FIELD(f), 0, 0, false, NULL}
#define PATH(s, k, f)			  {s, k, KEY_PATH, FIELD(f), 0, 0, false, NULL}
#define FILE_(s, k, f)			  {s, k, KEY_FILE, FIELD(f), 0, 0, false, NULL}
#define ENUM(s, k, f, names)		  {s, k, KEY_ENUM, FIELD(f), 0, 0, false, names}
#define URL(s, k, f)			  {s, k, KEY_URL, FIELD(f), 0, 0, false, NULL}
#define SELECTOR(s, k, f)		  {s, k, KEY_SELECTOR, FIELD(f), 0, 0, false, NULL}
#define ADDR(s, k, f)			  {s, k, KEY_ADDR, FIELD(f), 0, 0, false, NULL}
#define BOOL(s, k, f)			  {s, k, KEY_BOOL, FIELD(f), 0, 1, false, NULL}
#define DURATION(s, k, f, lo, hi)	  {s, k, KEY_DURATION, FIELD(f), lo, hi, false, NULL}
#define DURATION_OR_OFF(s, k, f, lo, hi) {s, k, KEY_DURATION, FIELD(f), lo, hi, true, NULL}
#define COUNT(s, k, f, lo, hi)		  {s, k, KEY_UINT, FIELD(f), lo, hi, false, NULL}
#define SIZE(s, k, f, lo, hi)		  {s, k, KEY_SIZE, FIELD(f), lo, hi, false, NULL}

static const struct config_key keys[] = {
	STR("source", "url", source),
	STR("source", "ref", source_ref),
	STR("source", "path", source_path),
	STR("source", "username", source_username),
	FILE_("source", "tokenFile", source_token_file),
	FILE_("source", "sshKeyFile", source_ssh_key_file),
	FILE_("source", "knownHostsFile", source_known_hosts),
	FILE_("source", "caFile", source_ca_file),
	DURATION("source", "interval", interval_s, 1, 7 * DAY),
	DURATION("source", "timeout", timeout_s, 1, 7 * DAY),
	PATH("paths", "tftpRoot", tftp_root),
	PATH("paths", "nfsRoot", nfs_root),
	PATH("paths", "stateDir", state_dir),
	PATH("paths", "imageStore", image_store),
	PATH("paths", "secretsDir", secrets_dir),
	PATH("dhcp", "configFile", dhcp_conf_file),
	PATH("dhcp", "hostsDir", dhcp_hosts_dir),
	PATH("dhcp", "leaseFile", dhcp_lease_file),
	PATH("dhcp", "logFile", dhcp_log_file),
	STR("dhcp", "reloadCommand", dhcp_reload_cmd),
	STR("dhcp", "restartCommand", dhcp_restart_cmd),
	STR("dhcp", "testCommand", dhcp_test_cmd),
	PATH("nfs", "exportsFile", exports_file),
	PATH("nfs", "ganeshaFile", ganesha_file),
	STR("nfs", "reloadCommand", nfs_reload_cmd),
	STR("nfs", "restartCommand", nfs_restart_cmd),
	STR("http", "listen", listen),
	DURATION("http", "livenessTimeout", liveness_timeout_s, 1, 7 * DAY),
	FILE_("webhook", "secretFile", webhook_secret_file),
	FILE_("webhook", "tokenFile", webhook_token_file),
	BOOL(NULL, "allowEmpty", allow_empty),
	SELECTOR(NULL, "selector", selector),
	ADDR(NULL, "server", server),
	COUNT("images", "retries", images_retries, 0, 1000),
	DURATION("images", "timeout", images_timeout_s, 1, 7 * DAY),
	SIZE("images", "maxSize", images_max_size, MiB, TiB),
	FILE_("images", "caFile", images_ca_file),
	BOOL("images", "keepDownloads", images_keep_downloads),
	ENUM("roots", "copyMode", roots_copy_mode, copy_mode_names),
	DURATION("roots", "atticRetention", roots_attic_retention_s, 1, 3650 * DAY),
	DURATION_OR_OFF("boot", "deferMax", boot_defer_max_s, 1, 7 * DAY),
	COUNT("history", "limit", history_limit, 0, 1000),
	URL("notify", "url", notify_url),
	FILE_("notify", "urlFile", notify_url_file),
	FILE_("notify", "tokenFile", notify_token_file),
	FILE_("notify", "caFile", notify_ca_file),
	DURATION("notify", "timeout", notify_timeout_s, 1, 7 * DAY),
	COUNT("notify", "retries", notify_retries, 0, 10),
	DURATION("notify", "bootStall", notify_boot_stall_s, 1, 7 * DAY),
	COUNT("watch", "maxWatches", watch_max, 0, 4194304),
	DURATION("watch", "fullCheck", watch_full_check_s, 1, 7 * DAY),
	BOOL("watch", "testDropEvents", watch_test_drop), /* the test suite's (watch.h) */
};
/* clang-format on */

#define N_KEYS (sizeof(keys) / sizeof(keys[0]))

/* A key stored as a string (char *), freed by config_release(). */
static bool is_string(const struct config_key *k)
{
	return k->type == KEY_STR || k->type == KEY_PATH || k->type == KEY_FILE ||
	       k->type == KEY_ENUM || k->type == KEY_URL || k->type == KEY_SELECTOR ||
	       k->type == KEY_ADDR;
}

int config_set(char **field, const char *value)
{
	char *v = NULL;

	if (value && *value) {
		v = strdup(value);
		if (!v)
			return -ENOMEM;
	}
	free(*field);
	*field = v;
	return 0;
}

int config_init(struct bramble_config *c)
{
	int r = 0;

	memset(c, 0, sizeof(*c));
	c->interval_s = 60;
	c->timeout_s = 60;
	r |= config_set(&c->source_ref, "main");
	r |= config_set(&c->tftp_root, "/srv/bramble/tftp");
	r |= config_set(&c->nfs_root, "/srv/bramble/nfs");
	r |= config_set(&c->state_dir, "/var/lib/bramble");
	r |= config_set(&c->image_store, "/var/lib/bramble/images");
	r |= config_set(&c->secrets_dir, "/etc/bramble/secrets");
	r |= config_set(&c->dhcp_conf_file, "/etc/dnsmasq.d/bramble.conf");
	r |= config_set(&c->dhcp_hosts_dir, "/etc/bramble/dnsmasq-hosts.d");
	r |= config_set(&c->dhcp_test_cmd, "dnsmasq");
	r |= config_set(&c->dhcp_log_file, "/var/log/bramble-dnsmasq.log");
	r |= config_set(&c->exports_file, "/etc/exports.d/bramble.exports");
	r |= config_set(&c->ganesha_file, "/etc/exports.d/bramble-ganesha.conf");
	r |= config_set(&c->listen, "127.0.0.1:9420");
	r |= config_set(&c->roots_copy_mode, "auto");
	c->roots_attic_retention_s = 30 * 86400;
	c->boot_defer_max_s = 60;
	c->history_limit = 100;
	c->liveness_timeout_s = 300; /* WatchdogSec=5min: the same bound as systemd's */
	c->notify_timeout_s = 10;
	c->notify_retries = 3;
	c->notify_boot_stall_s = 120;
	c->watch_max = 131072;
	c->watch_full_check_s = 3600;
	c->images_retries = 3;
	c->images_timeout_s = 60;
	c->images_max_size = (uint64_t)64 << 30;
	return r ? -ENOMEM : 0;
}

static int set_under(char **field, const char *dir, const char *rel)
{
	char *p = path_join(dir, rel);

	if (!p)
		return -ENOMEM;
	free(*field);
	*field = p;
	return 0;
}

int config_set_root(struct bramble_config *c, const char *dir)
{
	int r = 0;

	r |= set_under(&c->tftp_root, dir, "tftp");
	r |= set_under(&c->nfs_root, dir, "nfs");
	r |= set_under(&c->state_dir, dir, "state");
	r |= set_under(&c->image_store, dir, "images");
	r |= set_under(&c->dhcp_conf_file, dir, "dnsmasq/bramble.conf");
	r |= set_under(&c->dhcp_hosts_dir, dir, "dnsmasq/hosts.d");
	r |= set_under(&c->dhcp_lease_file, dir, "dnsmasq/leases");
	r |= set_under(&c->dhcp_log_file, dir, "dnsmasq/dnsmasq.log");
	r |= set_under(&c->exports_file, dir, "exports/bramble.exports");
	r |= set_under(&c->ganesha_file, dir, "exports/ganesha-bramble.conf");
	return r ? -ENOMEM : 0;
}

int config_digest(const struct bramble_config *c, struct sha256_ctx *ctx)
{
	size_t i;
	int r = 0;

	for (i = 0; r == 0 && i < N_KEYS; i++) {
		const void *field = (const char *)c + keys[i].offset;
		char v[32];
		const char *s = v;

		switch (keys[i].type) {
		case KEY_STR:
		case KEY_PATH:
		case KEY_FILE:
		case KEY_ENUM:
		case KEY_URL:
		case KEY_SELECTOR:
		case KEY_ADDR:
			s = *(char *const *)field;
			break;
		case KEY_DURATION:
			snprintf(v, sizeof(v), "%u", *(const unsigned *)field);
			break;
		case KEY_BOOL:
			snprintf(v, sizeof(v), "%d", *(const bool *)field);
			break;
		case KEY_UINT:
			snprintf(v, sizeof(v), "%u", *(const unsigned *)field);
			break;
		case KEY_SIZE:
			snprintf(v, sizeof(v), "%llu",
				 (unsigned long long)*(const uint64_t *)field);
			break;
		}
		r = sha256_update(ctx, keys[i].key, strlen(keys[i].key) + 1);
		if (r == 0)
			r = sha256_update(ctx, s ? s : "\x01", s ? strlen(s) + 1 : 2);
	}
	return r;
}

void config_release(struct bramble_config *c)
{
	size_t i;

	for (i = 0; i < N_KEYS; i++)
		if (is_string(&keys[i]))
			free(*(char **)(void *)((char *)c + keys[i].offset));
	memset(c, 0, sizeof(*c));
}

/* Parse "90", "90s", "5m", "2h", "30d" into seconds (any number; the caller checks the range). */
static int parse_duration(const char *s, uint64_t *ret)
{
	static const struct {
		char suffix;
		unsigned mul;
	} units[] = {{'s', 1}, {'m', MINUTE}, {'h', HOUR}, {'d', DAY}};
	char num[24];
	size_t n = strspn(s, "0123456789"), i;
	uint64_t v;
	unsigned mul = 1;

	if (n == 0 || n >= sizeof(num) || (s[n] && s[n + 1]))
		return -EINVAL;
	for (i = 0; s[n] && i < sizeof(units) / sizeof(units[0]); i++)
		if (units[i].suffix == s[n])
			mul = units[i].mul;
	if (s[n] && mul == 1 && s[n] != 's')
		return -EINVAL;
	memcpy(num, s, n);
	num[n] = '\0';
	if (parse_u64(num, 10, UINT64_MAX / mul, &v) < 0)
		return -ERANGE;
	*ret = v * mul;
	return 0;
}

/* Parse a size: bytes, or with a K, M, G or T suffix (powers of 1024; "GiB" too). */
static int parse_size(const char *s, uint64_t *ret)
{
	static const char units[] = "KMGT";
	char num[24];
	const char *u;
	size_t n = strspn(s, "0123456789");
	unsigned shift = 0;
	uint64_t v;

	if (n == 0 || n >= sizeof(num))
		return -EINVAL;
	if (s[n]) {
		u = strchr(units, s[n]);
		if (!u || !*u)
			return -EINVAL;
		shift = 10 * (unsigned)(u - units + 1);
		if (strcmp(s + n + 1, "") != 0 && strcmp(s + n + 1, "i") != 0 &&
		    strcmp(s + n + 1, "iB") != 0 && strcmp(s + n + 1, "B") != 0)
			return -EINVAL;
	}
	memcpy(num, s, n);
	num[n] = '\0';
	if (parse_u64(num, 10, UINT64_MAX >> shift, &v) < 0)
		return -ERANGE;
	*ret = v << shift;
	return 0;
}

/* A duration or a size as the messages say it: "7d", "90s"; "1T", "512M". */
static void human(uint64_t v, bool size, char *out, size_t len)
{
	static const struct {
		const char *unit;
		uint64_t mul;
	} durations[] = {{"d", DAY}, {"h", HOUR}, {"m", MINUTE}, {"s", 1}},
	  sizes[] = {{"T", TiB}, {"G", (uint64_t)1 << 30}, {"M", MiB}, {"K", 1024}, {"", 1}};
	size_t i, n = size ? sizeof(sizes) / sizeof(sizes[0])
			   : sizeof(durations) / sizeof(durations[0]);

	for (i = 0; i < n; i++) {
		uint64_t mul = size ? sizes[i].mul : durations[i].mul;

		if (v && v % mul == 0) {
			snprintf(out, len, "%llu%s", (unsigned long long)(v / mul),
				 size ? sizes[i].unit : durations[i].unit);
			return;
		}
	}
	snprintf(out, len, "%llu", (unsigned long long)v);
}

/* Store a number of k's range in its field: 0, or -ERANGE when outside it. */
static int store_number(struct bramble_config *c, const struct config_key *k, uint64_t v)
{
	void *field = (char *)c + k->offset;

	if ((v < k->min || v > k->max) && !(v == 0 && k->zero_off))
		return -ERANGE;
	if (k->type == KEY_SIZE)
		*(uint64_t *)field = v;
	else if (k->type == KEY_BOOL)
		*(bool *)field = v != 0;
	else
		*(unsigned *)field = (unsigned)v;
	return 0;
}

/* "1s to 7d", "0 (off), or 1s to 7d", "1M to 1T", "0 to 10": k's range, for a message. */
static void range_text(const struct config_key *k, char *out, size_t len)
{
	bool size = k->type == KEY_SIZE;
	char lo[32], hi[32];

	if (k->type == KEY_UINT) {
		snprintf(lo, sizeof(lo), "%llu", (unsigned long long)k->min);
		snprintf(hi, sizeof(hi), "%llu", (unsigned long long)k->max);
	} else {
		human(k->min, size, lo, sizeof(lo));
		human(k->max, size, hi, sizeof(hi));
	}
	snprintf(out, len, "%s%s to %s", k->zero_off ? "0 (off), or " : "", lo, hi);
}

/* k's names as a message lists them: "auto, reflink or copy". */
static int names_text(const struct config_key *k, struct buf *b)
{
	size_t i;
	int r = 0;

	for (i = 0; r == 0 && k->names[i]; i++)
		r = buf_printf(b, "%s%s",
			       i == 0		 ? ""
			       : k->names[i + 1] ? ", "
						 : " or ",
			       k->names[i]);
	return r;
}

static bool is_name(const struct config_key *k, const char *v)
{
	size_t i;

	for (i = 0; k->names[i]; i++)
		if (strcmp(k->names[i], v) == 0)
			return true;
	return false;
}

/* A string key's value: checked (an enum's names, a URL) and stored. */
static int store_string(struct bramble_config *c, const struct config_key *k, const char *v,
			const struct pos *pos, struct diags *d)
{
	struct buf names = BUF_INIT;
	const char *why = NULL;
	uint32_t ip;
	int r;

	if (k->type == KEY_SELECTOR && selector_canonical(v, NULL, &why) < 0)
		return diags_add(d, pos, "bad selector \"%s\"; expected %s", v, why);
	if (k->type == KEY_ADDR && *v && ipv4_parse(v, &ip) < 0)
		return diags_add(d, pos, "bad address \"%s\" for \"%s\"; expected an IPv4 address",
				 v, k->key);
	if (k->type == KEY_ENUM && !is_name(k, v)) {
		r = names_text(k, &names);
		if (r == 0)
			r = diags_add(d, pos, "bad value \"%s\" for \"%s\"; expected %s", v, k->key,
				      buf_str(&names));
		buf_release(&names);
		return r;
	}
	/* the URL may hold a token: the message does not repeat it */
	if (k->type == KEY_URL && *v && notify_url_check(v) < 0)
		return diags_add(d, pos,
				 "bad URL for \"%s\"; expected http://HOST/... or https://HOST/...",
				 k->key);
	return config_set((char **)(void *)((char *)c + k->offset), v);
}

/* Parse a number of k's type: 0, -EINVAL (not one), -ERANGE (too big to hold). */
static int parse_number(const struct config_key *k, const char *v, uint64_t *ret)
{
	switch (k->type) {
	case KEY_DURATION:
		return parse_duration(v, ret);
	case KEY_SIZE:
		return parse_size(v, ret);
	case KEY_BOOL:
		if (strcmp(v, "true") != 0 && strcmp(v, "false") != 0)
			return -EINVAL;
		*ret = v[0] == 't';
		return 0;
	default:
		return parse_u64(v, 10, UINT64_MAX, ret);
	}
}

static const struct config_key *find_key(const char *section, const char *key)
{
	size_t i;

	for (i = 0; i < N_KEYS; i++) {
		bool same = section ? keys[i].section && strcmp(section, keys[i].section) == 0
				    : keys[i].section == NULL;

		if (same && strcmp(keys[i].key, key) == 0)
			return &keys[i];
	}
	return NULL;
}

int config_key_range(const char *section, const char *key, char *out, size_t len)
{
	const struct config_key *k = find_key(section, key);

	if (!k || is_string(k) || k->type == KEY_BOOL)
		return -ENOENT;
	range_text(k, out, len);
	return 0;
}

static bool is_section(const char *s)
{
	size_t i;

	for (i = 0; i < N_KEYS; i++)
		if (keys[i].section && strcmp(keys[i].section, s) == 0)
			return true;
	return false;
}

/* Check v against k and store it; a bad value is a message in d, with k's range. */
static int store(struct bramble_config *c, const struct config_key *k, const char *v,
		 const struct pos *pos, struct diags *d)
{
	char range[96];
	uint64_t n;

	if (is_string(k))
		return store_string(c, k, v, pos, d);
	if (parse_number(k, v, &n) == 0 && store_number(c, k, n) == 0)
		return 0;
	range_text(k, range, sizeof(range));
	switch (k->type) {
	case KEY_DURATION:
		return diags_add(d, pos,
				 "bad duration \"%s\" for \"%s\"; expected e.g. 60s, 5m, 1h (%s)",
				 v, k->key, range);
	case KEY_SIZE:
		return diags_add(d, pos, "bad size \"%s\" for \"%s\"; expected e.g. 64G, 512M (%s)",
				 v, k->key, range);
	case KEY_BOOL:
		return diags_add(d, pos, "bad value \"%s\" for \"%s\"; expected true or false", v,
				 k->key);
	default:
		return diags_add(d, pos, "bad value \"%s\" for \"%s\"; expected %s", v, k->key,
				 range);
	}
}

int config_set_key(struct bramble_config *c, const char *assignment, struct diags *d)
{
	const char *eq = strchr(assignment, '=');
	const char *dot;
	char *section = NULL, *key = NULL;
	const struct config_key *k = NULL;
	struct pos pos = {"--set", 1, 1};
	int r;

	if (!eq)
		return diags_add(d, NULL, "bad --set \"%s\"; expected section.key=value",
				 assignment) < 0
			       ? -ENOMEM
			       : -EINVAL;
	dot = memchr(assignment, '.', (size_t)(eq - assignment));
	if (dot) {
		section = strndup(assignment, (size_t)(dot - assignment));
		key = strndup(dot + 1, (size_t)(eq - dot - 1));
	} else {
		key = strndup(assignment, (size_t)(eq - assignment));
	}
	if (key && (!dot || section))
		k = find_key(section, key);
	if (!k)
		r = diags_add(d, NULL,
			      "unknown setting \"%.*s\" in --set; see deploy/bramble.yaml for the "
			      "keys",
			      (int)(eq - assignment), assignment) < 0
			    ? -ENOMEM
			    : -EINVAL;
	else {
		size_t before = d->n;

		r = store(c, k, eq + 1, &pos, d) < 0 ? -ENOMEM : d->n > before ? -EINVAL : 0;
	}
	free(section);
	free(key);
	return r;
}

/* Read a map of settings (a section, or the top level when section is NULL). */
static int read_map(struct bramble_config *c, const struct ytree *t, const char *section,
		    const struct ynode *m, struct diags *d)
{
	const struct config_key *k = NULL;
	const struct ynode *key, *v;
	struct pos pos;
	size_t i;
	int r = 0;

	for (i = 0; r == 0 && i < m->n; i++) {
		key = ymap_key(m, i);
		v = ymap_value(m, i);
		pos = ynode_pos(t, key);
		if (!section && v->kind == YNODE_MAP && is_section(key->u.str)) {
			r = read_map(c, t, key->u.str, v, d);
			continue;
		}
		k = find_key(section, key->u.str);
		if (!k)
			r = diags_add(
				d, &pos,
				"unknown key \"%s%s%s\"; see deploy/bramble.yaml for the keys",
				section ? section : "", section ? "." : "", key->u.str);
		else if (v->kind != YNODE_SCALAR)
			r = diags_add(d, &pos, "expected a scalar value for \"%s\"", key->u.str);
		else
			r = store(c, k, v->u.str, &pos, d);
	}
	return r;
}

/* The file's one document: a map of settings, or nothing at all. */
static int read_document(struct bramble_config *c, const struct ytree *t, struct diags *d)
{
	const struct ynode *root = t->n_docs > 0 ? t->docs[0].root : NULL;
	struct pos pos;

	if (t->n_docs > 1 && t->docs[1].root) {
		pos = ynode_pos(t, t->docs[1].root);
		return diags_add(d, &pos, "a second document; expected one mapping of settings");
	}
	if (!root || (root->kind == YNODE_SCALAR && root->u.str[0] == '\0'))
		return 0;
	if (root->kind != YNODE_MAP) {
		pos = ynode_pos(t, root);
		return diags_add(d, &pos, "expected a mapping of settings");
	}
	return read_map(c, t, NULL, root, d);
}

/*
 * The file goes through the manifests' YAML tree (yaml_tree.h): the same
 * positions, limits (depth, size, aliases), byte order mark and escaping of
 * the file name in messages as a manifest.
 */
int config_load(struct bramble_config *c, const char *path, struct diags *d)
{
	struct arena values = ARENA_INIT;
	struct ytree t;
	char *data = NULL;
	size_t len = 0, before = d->n;
	int r;

	r = file_read(path, CONFIG_MAX_SIZE, &data, &len);
	if (r == -EINVAL || r == -EFBIG) {
		r = diags_add(d, NULL, "cannot read \"%s\": %s", path, file_read_strerror(r));
		return r < 0 ? r : -EINVAL;
	}
	if (r < 0)
		return r;
	ytree_init(&t, &values, CONFIG_MAX_DOCUMENTS);
	r = ytree_parse(&t, path, data, len, d, NULL);
	if (r == 0)
		r = read_document(c, &t, d);
	ytree_release(&t);
	arena_release(&values);
	free(data);
	if (r < 0 && r != -EINVAL)
		return r;
	/* the tree's maps are sorted by key: put the messages back in file order */
	diags_sort(d);
	return d->n > before ? -EINVAL : 0;
}

static int absolutize(char **field)
{
	char cwd[4096];
	char *p;

	if (!*field || (*field)[0] == '/')
		return 0;
	if (!getcwd(cwd, sizeof(cwd)))
		return -errno;
	p = path_join(cwd, *field);
	if (!p)
		return -ENOMEM;
	free(*field);
	*field = p;
	return 0;
}

int config_check_files(const struct bramble_config *c, struct diags *d)
{
	size_t i;
	int r = 0, q;

	for (i = 0; i < N_KEYS; i++) {
		const char *path;

		if (keys[i].type != KEY_FILE)
			continue;
		path = *(char *const *)(const void *)((const char *)c + keys[i].offset);
		if (!path || file_check_regular(path) != -EINVAL)
			continue; /* a missing file is reported by its reader */
		q = diags_add(d, NULL, "%s.%s \"%s\" is not a regular file; expected a file",
			      keys[i].section, keys[i].key, path);
		r = q < 0 ? q : -EINVAL;
	}
	return r;
}

int config_absolutize(struct bramble_config *c)
{
	size_t i;
	int r = 0;

	for (i = 0; r == 0 && i < N_KEYS; i++)
		if (keys[i].type == KEY_PATH)
			r = absolutize((char **)(void *)((char *)c + keys[i].offset));
	if (r == 0 && c->source && !strstr(c->source, "://"))
		r = absolutize(&c->source);
	return r;
}
