/*
 * firstboot: render the first-boot files of a node, and the service that
 * applies them, into a private or a shared root (firstboot.h).
 */
#include "firstboot.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "fsutil.h"
#include "hash.h"

#define SECRET_MAX ((size_t)4096)

static const char unit_text[] =
	"# Managed by bramble: changes here are replaced.\n"
	"[Unit]\n"
	"Description=bramble first-boot settings (SSH host keys, users, SSH, keymap, time zone)\n"
	"After=local-fs.target\n"
	"Before=ssh.service userconfig.service systemd-user-sessions.service "
	"NetworkManager.service regenerate_ssh_host_keys.service\n"
	"ConditionPathExists=|/etc/bramble/firstboot.conf\n"
	"ConditionPathExists=|/etc/bramble/nodes\n"
	"\n"
	"[Service]\n"
	"Type=oneshot\n"
	"ExecStart=/usr/local/sbin/bramble-firstboot\n"
	"\n"
	"[Install]\n"
	"WantedBy=multi-user.target\n";

#define UNIT_PATH "etc/systemd/system/bramble-firstboot.service"

struct fb {
	struct render_ctx *ctx;
	const struct node *n;
	const char
		*dir; /* where the files go: "<serial>", or a node's directory in a shared root */
	struct resource_set *out;
	struct diags *d;
};

static int add_file(struct fb *f, const char *rel, mode_t mode, const struct buf *b, bool secret)
{
	struct buf path = BUF_INIT;
	struct resource *res;
	int r;

	r = buf_printf(&path, "%s/%s", f->dir, rel);
	if (r < 0)
		return r;
	res = resource_set_add_file(f->out, ROOT_NFS, buf_str(&path), mode, b->data ? b->data : "",
				    b->len);
	buf_release(&path);
	if (!res)
		return -ENOMEM;
	res->node = f->n->name;
	if (secret)
		res->flags |= RES_F_SECRET;
	return 0;
}

/*
 * The same text in every node's root (the script, the unit): borrowed, not
 * copied, with its digest computed once, so that 10,000 roots do not hold
 * 10,000 copies of it.
 */
static int add_static_file(struct resource_set *out, const char *root, const struct node *n,
			   const char *rel, mode_t mode, const char *text,
			   char digest[SHA256_HEX_LEN + 1])
{
	struct buf path = BUF_INIT;
	struct resource *res;
	int r;

	if (!digest[0]) {
		r = sha256_hex(text, strlen(text), digest);
		if (r < 0)
			return r;
	}
	r = buf_printf(&path, "%s/%s", root, rel);
	if (r < 0)
		return r;
	res = resource_set_add(out, RES_FILE, ROOT_NFS, buf_str(&path), mode, NULL);
	buf_release(&path);
	if (!res)
		return -ENOMEM;
	res->data = (char *)(uintptr_t)text;
	res->len = (uint32_t)strlen(text);
	res->flags |= RES_F_BORROWED;
	res->digest = digest;
	res->node = n ? n->name : NULL;
	return 0;
}

static int diag(struct fb *f, const struct secret *s, const char *what, const char *why)
{
	int r = diags_add(f->d, &s->pos,
			  "%s of node \"%s\": %s \"%s\"; expected a readable file on the "
			  "controller host holding %s",
			  what, f->n->name, why, s->file,
			  strcmp(what, "passwordHash") == 0 ? "a crypt(3) hash"
							    : "8 to 63 printable characters");

	return r < 0 ? r : -EINVAL;
}

/* A secret file that is not where secrets may be: says which directory that is. */
static int diag_place(struct fb *f, const struct secret *s, const char *what, const char *why)
{
	const char *dir = f->ctx->secrets_dir;
	int r = diags_add(f->d, &s->pos,
			  "%s of node \"%s\": secret file \"%s\" refused: %s; expected a file "
			  "in %s%s%s (paths.secretsDir), with no symlink leading out of it",
			  what, f->n->name, s->file, why, dir ? "\"" : "",
			  dir ? dir : "the secrets directory", dir ? "\"" : "");

	return r < 0 ? r : -EINVAL;
}

static bool passphrase_valid(const char *s)
{
	size_t i, n = strlen(s);

	for (i = 0; i < n; i++)
		if (s[i] < 0x20 || s[i] > 0x7e)
			return false;
	if (n == 64)
		return strspn(s, "0123456789abcdefABCDEF") == 64;
	return n >= 8 && n <= 63;
}

static bool hash_valid(const char *s)
{
	size_t i;

	for (i = 0; s[i]; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f || s[i] == ':' || s[i] == ' ')
			return false;
	return s[0] == '$';
}

/*
 * The value of a secret: given in the manifest, or read now from its file
 * (one trailing newline dropped).  The file is a dependency of the render.
 * Never shows the value in a message.  *ret is NULL when the secret is unset.
 */
static int secret_value(struct fb *f, const struct secret *s, const char *what, char **ret)
{
	char why[96];
	size_t len = 0;
	char *v = NULL;
	int r;

	*ret = NULL;
	if (s->value) {
		*ret = strdup(s->value);
		return *ret ? 0 : -ENOMEM;
	}
	if (!s->file)
		return 0;
	if (!f->ctx->secrets_dir)
		return diag_place(f, s, what, "no secrets directory is configured");
	if (f->ctx->lenient & RENDER_NO_SECRET_FILES) { /* validate --offline: a stand-in */
		*ret = strdup(strcmp(what, "passwordHash") == 0 ? "$unchecked" : "unchecked");
		return *ret ? 0 : -ENOMEM;
	}
	r = render_read_secret(f->ctx, f->n, s->file, SECRET_MAX, &v, &len);
	if (r == -ENOMEM)
		return r;
	if (r == -EXDEV)
		return diag_place(f, s, what, "the file is not in the secrets directory");
	if (r < 0) {
		snprintf(why, sizeof(why),
			 "cannot read the secret file (%s):", file_read_strerror(r));
		return diag(f, s, what, why);
	}
	if (len && v[len - 1] == '\n')
		v[--len] = '\0';
	if (len && v[len - 1] == '\r')
		v[--len] = '\0';
	if (strlen(v) != len ||
	    !(strcmp(what, "passwordHash") == 0 ? hash_valid(v) : passphrase_valid(v))) {
		explicit_bzero(v, len);
		free(v);
		return diag(f, s, what, "not a valid value in the secret file");
	}
	*ret = v;
	return 0;
}

static void secret_free(char *v)
{
	if (v) {
		explicit_bzero(v, strlen(v));
		free(v);
	}
}

/* The settings file, with the password hashes (hence 0600 and secret). */
static int render_conf(struct fb *f)
{
	const struct first_boot *fb = &f->n->first_boot;
	struct buf b = BUF_INIT;
	bool secret = false;
	size_t i;
	int r;

	r = buf_printf(&b,
		       "# bramble first-boot settings of node %s, from the repository: changes "
		       "here are replaced.\n# /usr/local/sbin/bramble-firstboot applies them at "
		       "boot when they change.\n",
		       f->n->name);
	if (r == 0 && fb->ssh != TRI_UNSET)
		r = buf_printf(&b, "ssh %s\n", fb->ssh == TRI_TRUE ? "on" : "off");
	if (r == 0 && fb->timezone)
		r = buf_printf(&b, "timezone %s\n", fb->timezone);
	if (r == 0 && fb->keymap)
		r = buf_printf(&b, "keymap %s\n", fb->keymap);
	if (r == 0 && fb->wifi.ssid)
		r = buf_printf(&b, "wifi %s\n", fb->wifi.country ? fb->wifi.country : "-");
	for (i = 0; r == 0 && i < fb->n_users; i++) {
		const struct user *u = &fb->users[i];
		char *hash = NULL;

		r = buf_printf(&b, "user %s\n", u->name);
		if (r == 0)
			r = secret_value(f, &u->password_hash, "passwordHash", &hash);
		if (r == 0 && hash) {
			r = buf_printf(&b, "password %s %s\n", u->name, hash);
			secret = true;
		}
		secret_free(hash);
	}
	if (r == 0)
		r = add_file(f, "etc/bramble/firstboot.conf", 0600, &b, secret);
	if (b.data)
		explicit_bzero(b.data, b.len);
	buf_release(&b);
	return r;
}

/* Keys of each user in a file of bramble's, besides the user's own ~/.ssh. */
static int render_keys(struct fb *f)
{
	const struct first_boot *fb = &f->n->first_boot;
	struct buf b = BUF_INIT, path = BUF_INIT;
	bool any = false;
	size_t i, k;
	int r = 0;

	for (i = 0; r == 0 && i < fb->n_users; i++) {
		const struct user *u = &fb->users[i];

		if (!u->ssh_keys.n)
			continue;
		any = true;
		buf_truncate(&b, 0);
		buf_truncate(&path, 0);
		r = buf_printf(&b, "# Managed by bramble: SSH keys of %s from the repository.\n",
			       u->name);
		for (k = 0; r == 0 && k < u->ssh_keys.n; k++)
			r = buf_printf(&b, "%s\n", u->ssh_keys.v[k]);
		if (r == 0)
			r = buf_printf(&path, "etc/ssh/bramble/authorized_keys/%s", u->name);
		if (r == 0)
			r = add_file(f, buf_str(&path), 0644, &b, false);
	}
	buf_truncate(&b, 0);
	if (r == 0 && any)
		r = buf_adds(&b,
			     "# Managed by bramble: the users' own keys, and the repository's.\n"
			     "AuthorizedKeysFile .ssh/authorized_keys "
			     "/etc/ssh/bramble/authorized_keys/%u\n");
	if (r == 0 && any)
		r = add_file(f, "etc/ssh/sshd_config.d/bramble.conf", 0644, &b, false);
	buf_release(&b);
	buf_release(&path);
	return r;
}

static int render_sudoers(struct fb *f)
{
	const struct first_boot *fb = &f->n->first_boot;
	struct buf b = BUF_INIT;
	size_t i, n = 0;
	int r;

	/* Without a password hash, sudo could not ask for one. */
	r = buf_adds(&b, "# Managed by bramble: users with sudo in the repository.\n");
	for (i = 0; r == 0 && i < fb->n_users; i++) {
		const struct user *u = &fb->users[i];
		bool has_pw = u->password_hash.value || u->password_hash.file;

		if (!u->sudo)
			continue;
		r = buf_printf(&b, "%s ALL=(ALL:ALL) %sALL\n", u->name, has_pw ? "" : "NOPASSWD: ");
		n++;
	}
	if (r == 0 && n)
		r = add_file(f, "etc/sudoers.d/bramble", 0440, &b, false);
	buf_release(&b);
	return r;
}

/* Escape a value for a GKeyFile (NetworkManager's keyfile format). */
static int keyfile_value(struct buf *b, const char *s)
{
	int r = 0;

	if (*s == ' ') {
		r = buf_adds(b, "\\s");
		s++;
	}
	for (; r == 0 && *s; s++)
		r = *s == '\\' ? buf_adds(b, "\\\\") : buf_addch(b, *s);
	return r;
}

static int render_wifi(struct fb *f)
{
	const struct wifi *w = &f->n->first_boot.wifi;
	char id[SHA256_HEX_LEN + 1], *psk = NULL;
	struct buf b = BUF_INIT, key = BUF_INIT;
	int r;

	if (!w->ssid)
		return 0;
	r = secret_value(f, &w->passphrase, "wifi.passphrase", &psk);
	/* A stable connection UUID, from the node and the network. */
	if (r == 0)
		r = buf_printf(&key, "%s\n%s", f->n->serial, w->ssid);
	if (r == 0)
		r = sha256_hex(key.data, key.len, id);
	if (r == 0)
		r = buf_printf(&b,
			       "# Managed by bramble (node %s): changes here are replaced.\n"
			       "[connection]\nid=bramble-wifi\nuuid=%.8s-%.4s-4%.3s-8%.3s-%.12s\n"
			       "type=wifi\nautoconnect=true\n\n[wifi]\nmode=infrastructure\nssid=",
			       f->n->name, id, id + 8, id + 12, id + 15, id + 18);
	if (r == 0)
		r = keyfile_value(&b, w->ssid);
	if (r == 0 && psk)
		r = buf_adds(&b, "\n\n[wifi-security]\nkey-mgmt=wpa-psk\npsk=");
	if (r == 0 && psk)
		r = keyfile_value(&b, psk);
	if (r == 0)
		r = buf_adds(&b, "\n\n[ipv4]\nmethod=auto\n\n[ipv6]\nmethod=auto\n");
	if (r == 0)
		r = add_file(f, "etc/NetworkManager/system-connections/bramble-wifi.nmconnection",
			     0600, &b, psk != NULL);
	secret_free(psk);
	if (b.data)
		explicit_bzero(b.data, b.len);
	buf_release(&b);
	buf_release(&key);
	return r;
}

int firstboot_render_service(const char *root, const struct node *n, struct resource_set *out)
{
	static char script_digest[SHA256_HEX_LEN + 1], unit_digest[SHA256_HEX_LEN + 1];
	struct buf link = BUF_INIT;
	struct resource *res;
	int r;

	r = add_static_file(out, root, n, "usr/local/sbin/bramble-firstboot", 0755,
			    firstboot_script, script_digest);
	if (r == 0)
		r = add_static_file(out, root, n, UNIT_PATH, 0644, unit_text, unit_digest);
	if (r == 0)
		r = buf_printf(&link,
			       "%s/etc/systemd/system/multi-user.target.wants/"
			       "bramble-firstboot.service",
			       root);
	res = r == 0 ? resource_set_add(out, RES_SYMLINK, ROOT_NFS, buf_str(&link), 0777,
					"/" UNIT_PATH)
		     : NULL;
	if (r == 0 && !res)
		r = -ENOMEM;
	if (res)
		res->node = n ? n->name : NULL;
	buf_release(&link);
	return r;
}

int firstboot_render(struct render_ctx *ctx, const struct node *n, const char *dir,
		     struct resource_set *out, struct diags *d)
{
	struct fb f = {ctx, n, dir, out, d};
	int r, bad = 0;

	/* Secret problems of every node are reported, not only the first. */
	r = render_conf(&f);
	bad |= r == -EINVAL;
	if (r < 0 && r != -EINVAL)
		return r;
	r = render_wifi(&f);
	bad |= r == -EINVAL;
	if (r < 0 && r != -EINVAL)
		return r;
	r = render_keys(&f);
	if (r == 0)
		r = render_sudoers(&f);
	return r < 0 ? r : bad ? -EINVAL : 0;
}
