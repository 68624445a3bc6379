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

#include "noderoot.h"
#include "notify.h"
#include "yaml_tree.h"
#include "../common/buf.h"
#include "../common/fsutil.h"

#define CONFIG_MAX_SIZE	     ((size_t)1 << 20)
#define CONFIG_MAX_DOCUMENTS 16 /* one is used; a second is an error */

enum key_type { KEY_STR, KEY_DURATION, KEY_BOOL, KEY_UINT, KEY_SIZE };

struct config_key {
	const char *section; /* NULL: top level */
	const char *key;
	enum key_type type;
	size_t offset;
};

#define STR(s, k, f)                                              \
	{                                                         \
		s, k, KEY_STR, offsetof(struct bramble_config, f) \
	}
static const struct config_key keys[] = {
	STR("source", "url", source),
	STR("source", "ref", source_ref),
	STR("source", "path", source_path),
	STR("source", "username", source_username),
	STR("source", "tokenFile", source_token_file),
	STR("source", "sshKeyFile", source_ssh_key_file),
	STR("source", "knownHostsFile", source_known_hosts),
	STR("source", "caFile", source_ca_file),
	{"source", "interval", KEY_DURATION, offsetof(struct bramble_config, interval_s)},
	{"source", "timeout", KEY_DURATION, offsetof(struct bramble_config, timeout_s)},
	STR("paths", "tftpRoot", tftp_root),
	STR("paths", "nfsRoot", nfs_root),
	STR("paths", "stateDir", state_dir),
	STR("paths", "imageStore", image_store),
	STR("paths", "secretsDir", secrets_dir),
	STR("dhcp", "configFile", dhcp_conf_file),
	STR("dhcp", "hostsDir", dhcp_hosts_dir),
	STR("dhcp", "leaseFile", dhcp_lease_file),
	STR("dhcp", "logFile", dhcp_log_file),
	STR("dhcp", "reloadCommand", dhcp_reload_cmd),
	STR("dhcp", "restartCommand", dhcp_restart_cmd),
	STR("dhcp", "testCommand", dhcp_test_cmd),
	STR("nfs", "exportsFile", exports_file),
	STR("nfs", "ganeshaFile", ganesha_file),
	STR("nfs", "reloadCommand", nfs_reload_cmd),
	STR("nfs", "restartCommand", nfs_restart_cmd),
	STR("http", "listen", listen),
	STR("webhook", "secretFile", webhook_secret_file),
	STR("webhook", "tokenFile", webhook_token_file),
	{NULL, "allowEmpty", KEY_BOOL, offsetof(struct bramble_config, allow_empty)},
	{"images", "retries", KEY_UINT, offsetof(struct bramble_config, images_retries)},
	{"images", "timeout", KEY_DURATION, offsetof(struct bramble_config, images_timeout_s)},
	{"images", "maxSize", KEY_SIZE, offsetof(struct bramble_config, images_max_size)},
	STR("images", "caFile", images_ca_file),
	{"images", "keepDownloads", KEY_BOOL,
	 offsetof(struct bramble_config, images_keep_downloads)},
	STR("roots", "copyMode", roots_copy_mode),
	{"roots", "atticRetention", KEY_DURATION,
	 offsetof(struct bramble_config, roots_attic_retention_s)},
	{"boot", "deferMax", KEY_DURATION, offsetof(struct bramble_config, boot_defer_max_s)},
	STR("notify", "url", notify_url),
	STR("notify", "urlFile", notify_url_file),
	STR("notify", "tokenFile", notify_token_file),
	STR("notify", "caFile", notify_ca_file),
	{"notify", "timeout", KEY_DURATION, offsetof(struct bramble_config, notify_timeout_s)},
	{"notify", "retries", KEY_UINT, offsetof(struct bramble_config, notify_retries)},
	{"notify", "bootStall", KEY_DURATION, offsetof(struct bramble_config, notify_boot_stall_s)},
	{"watch", "maxWatches", KEY_UINT, offsetof(struct bramble_config, watch_max)},
	{"watch", "fullCheck", KEY_DURATION, offsetof(struct bramble_config, watch_full_check_s)},
};
#undef STR

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

	for (i = 0; r == 0 && i < sizeof(keys) / sizeof(keys[0]); i++) {
		const void *field = (const char *)c + keys[i].offset;
		char v[32];
		const char *s = v;

		switch (keys[i].type) {
		case KEY_STR:
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

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (keys[i].type == KEY_STR)
			free(*(char **)(void *)((char *)c + keys[i].offset));
	memset(c, 0, sizeof(*c));
}

/* Durations are at most a week, but for the attic's retention (ten years). */
#define DURATION_MAX	   (7 * 86400UL)
#define RETENTION_MAX	   (3650 * 86400UL)
#define IS_RETENTION(k)	   ((k)->offset == offsetof(struct bramble_config, roots_attic_retention_s))
#define IS_COPY_MODE(k)	   ((k)->offset == offsetof(struct bramble_config, roots_copy_mode))
#define IS_URL(k)	   ((k)->offset == offsetof(struct bramble_config, notify_url))
#define NOTIFY_RETRIES_MAX 10
#define IS_RETRIES(k)	   ((k)->offset == offsetof(struct bramble_config, notify_retries))
/* boot.deferMax: 0 turns the deferred switch off */
#define ZERO_OK(k)	   ((k)->offset == offsetof(struct bramble_config, boot_defer_max_s))

/* Parse "90", "90s", "5m", "2h", "30d" into seconds, at most max_s; 0 only when zero_ok. */
static int parse_duration(const char *s, unsigned long max_s, bool zero_ok, unsigned *ret)
{
	unsigned long v, mul = 1;
	char *end = NULL;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s)
		return -EINVAL;
	if (*end == 'm')
		mul = 60;
	else if (*end == 'h')
		mul = 3600;
	else if (*end == 'd')
		mul = 86400;
	else if (*end != 's' && *end != '\0')
		return -EINVAL;
	if (*end && end[1])
		return -EINVAL;
	if ((v == 0 && !zero_ok) || v > max_s / mul)
		return -ERANGE;
	*ret = (unsigned)(v * mul);
	return 0;
}

/* Parse a count: "0" to "1000". */
static int parse_uint(const char *s, unsigned *ret)
{
	unsigned long v;
	char *end = NULL;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || *s == '-' || v > 1000)
		return -EINVAL;
	*ret = (unsigned)v;
	return 0;
}

/* Parse a size: bytes, or with a K, M, G or T suffix (powers of 1024; "GiB" too). */
static int parse_size(const char *s, uint64_t *ret)
{
	static const char units[] = "KMGT";
	unsigned long long v;
	const char *u;
	char *end = NULL;
	unsigned shift = 0;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *s == '-')
		return -EINVAL;
	if (*end) {
		u = strchr(units, *end);
		if (!u || !*u)
			return -EINVAL;
		shift = 10 * (unsigned)(u - units + 1);
		end++;
		if (strcmp(end, "") != 0 && strcmp(end, "i") != 0 && strcmp(end, "iB") != 0 &&
		    strcmp(end, "B") != 0)
			return -EINVAL;
	}
	if (v > (UINT64_MAX >> 24) >> shift || (v << shift) < ((uint64_t)1 << 20))
		return -ERANGE;
	*ret = (uint64_t)v << shift;
	return 0;
}

static const struct config_key *find_key(const char *section, const char *key)
{
	size_t i;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		bool same = section ? keys[i].section && strcmp(section, keys[i].section) == 0
				    : keys[i].section == NULL;

		if (same && strcmp(keys[i].key, key) == 0)
			return &keys[i];
	}
	return NULL;
}

static bool is_section(const char *s)
{
	size_t i;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (keys[i].section && strcmp(keys[i].section, s) == 0)
			return true;
	return false;
}

static int store(struct bramble_config *c, const struct config_key *k, const char *v,
		 const struct pos *pos, struct diags *d)
{
	void *field = (char *)c + k->offset;
	enum copy_mode mode;

	switch (k->type) {
	case KEY_STR:
		if (IS_COPY_MODE(k) && copy_mode_parse(v, &mode) < 0)
			return diags_add(
				d, pos,
				"bad value \"%s\" for \"%s\"; expected auto, reflink or copy", v,
				k->key);
		/* the URL may hold a token: the message does not repeat it */
		if (IS_URL(k) && *v && notify_url_check(v) < 0)
			return diags_add(d, pos,
					 "bad URL for \"%s\"; expected http://HOST/... or "
					 "https://HOST/...",
					 k->key);
		return config_set(field, v);
	case KEY_DURATION:
		if (parse_duration(v, IS_RETENTION(k) ? RETENTION_MAX : DURATION_MAX, ZERO_OK(k),
				   field) == 0)
			return 0;
		return diags_add(
			d, pos, "bad duration \"%s\" for \"%s\"; expected e.g. 60s, 5m, 1h%s%s", v,
			k->key, IS_RETENTION(k) ? ", 30d (at most 3650d)" : " (at most 7d)",
			ZERO_OK(k) ? ", or 0 (off)" : "");
	case KEY_BOOL:
		if (strcmp(v, "true") == 0 || strcmp(v, "false") == 0) {
			*(bool *)field = v[0] == 't';
			return 0;
		}
		return diags_add(d, pos, "bad value \"%s\" for \"%s\"; expected true or false", v,
				 k->key);
	case KEY_UINT:
		if (parse_uint(v, field) == 0 &&
		    (!IS_RETRIES(k) || *(unsigned *)field <= NOTIFY_RETRIES_MAX))
			return 0;
		return diags_add(d, pos, "bad value \"%s\" for \"%s\"; expected 0 to %d", v, k->key,
				 IS_RETRIES(k) ? NOTIFY_RETRIES_MAX : 1000);
	case KEY_SIZE:
		if (parse_size(v, field) == 0)
			return 0;
		return diags_add(d, pos,
				 "bad size \"%s\" for \"%s\"; expected e.g. 64G, 512M (1M to 1T)",
				 v, k->key);
	}
	return -EINVAL;
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
	static const struct {
		const char *key;
		size_t offset;
	} files[] = {
		{"source.tokenFile", offsetof(struct bramble_config, source_token_file)},
		{"source.sshKeyFile", offsetof(struct bramble_config, source_ssh_key_file)},
		{"source.knownHostsFile", offsetof(struct bramble_config, source_known_hosts)},
		{"source.caFile", offsetof(struct bramble_config, source_ca_file)},
		{"webhook.secretFile", offsetof(struct bramble_config, webhook_secret_file)},
		{"webhook.tokenFile", offsetof(struct bramble_config, webhook_token_file)},
		{"images.caFile", offsetof(struct bramble_config, images_ca_file)},
		{"notify.urlFile", offsetof(struct bramble_config, notify_url_file)},
		{"notify.tokenFile", offsetof(struct bramble_config, notify_token_file)},
		{"notify.caFile", offsetof(struct bramble_config, notify_ca_file)},
	};
	size_t i;
	int r = 0, q;

	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		const char *path =
			*(char *const *)(const void *)((const char *)c + files[i].offset);

		if (!path || file_check_regular(path) != -EINVAL)
			continue; /* a missing file is reported by its reader */
		q = diags_add(d, NULL, "%s \"%s\" is not a regular file; expected a file",
			      files[i].key, path);
		r = q < 0 ? q : -EINVAL;
	}
	return r;
}

int config_absolutize(struct bramble_config *c)
{
	char **fields[] = {&c->tftp_root,	&c->nfs_root,	    &c->state_dir,
			   &c->image_store,	&c->dhcp_conf_file, &c->dhcp_hosts_dir,
			   &c->dhcp_lease_file, &c->exports_file,   &c->ganesha_file,
			   &c->dhcp_log_file,	&c->secrets_dir};
	size_t i;
	int r = 0;

	for (i = 0; r == 0 && i < sizeof(fields) / sizeof(fields[0]); i++)
		r = absolutize(fields[i]);
	if (r == 0 && c->source && !strstr(c->source, "://"))
		r = absolutize(&c->source);
	return r;
}
