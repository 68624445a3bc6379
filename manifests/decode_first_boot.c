#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "decode.h"

static void fb_hostname(struct dctx *c, struct ynode *v, void *obj)
{
	struct first_boot *fb = obj;

	decode_hostname(c, v, &fb->hostname);
}

static void fb_ssh(struct dctx *c, struct ynode *v, void *obj)
{
	struct first_boot *fb = obj;
	bool b;

	if (dc_bool(c, v, &b))
		fb->ssh = b ? TRI_TRUE : TRI_FALSE;
}

static void fb_timezone(struct dctx *c, struct ynode *v, void *obj)
{
	struct first_boot *fb = obj;
	char q[QUOTE_MAX];
	char *s = NULL;

	if (!dc_string(c, v, &s))
		return;
	if (!timezone_is_valid(s)) {
		str_quote(s, q, sizeof(q));
		dc_error(c, v,
			 "invalid timezone %s; expected a tz database name such as "
			 "Europe/London",
			 q);
		return;
	}
	fb->timezone = s;
}

static void fb_keymap(struct dctx *c, struct ynode *v, void *obj)
{
	struct first_boot *fb = obj;
	char q[QUOTE_MAX];
	char *s = NULL;

	if (!dc_string(c, v, &s))
		return;
	if (!keymap_is_valid(s)) {
		str_quote(s, q, sizeof(q));
		dc_error(c, v,
			 "invalid keymap %s; expected lower-case letters, digits, \"_\" "
			 "and \"-\", such as gb",
			 q);
		return;
	}
	fb->keymap = s;
}

static void user_name(struct dctx *c, struct ynode *v, void *obj)
{
	struct user *u = obj;
	char q[QUOTE_MAX];
	char *s = NULL;

	if (!dc_string(c, v, &s))
		return;
	if (!username_is_valid(s)) {
		str_quote(s, q, sizeof(q));
		dc_error(c, v,
			 "invalid user name %s; expected 1 to 32 of [a-z0-9_-], starting "
			 "with a letter or \"_\"",
			 q);
		return;
	}
	u->name = s;
}

/* Never shows the value: it may be a password typed by mistake. */
static bool password_hash_ok(struct dctx *c, const struct ynode *item, const char *s)
{
	if (s[0] == '$' && !has_control(s))
		return true;
	dc_error(c, item,
		 "passwordHash is not a crypt hash; expected a hash starting with \"$\" "
		 "(plaintext passwords are rejected) or {file: /absolute/path}");
	return false;
}

static void user_password_hash(struct dctx *c, struct ynode *v, void *obj)
{
	struct user *u = obj;

	dc_secret(c, v, &u->password_hash, password_hash_ok);
}

static bool ssh_key_ok(struct dctx *c, const struct ynode *item, const char *s)
{
	char q[QUOTE_MAX];

	if ((has_prefix(s, "ssh-") || has_prefix(s, "ecdsa-") || has_prefix(s, "sk-")) &&
	    !has_control(s))
		return true;
	str_quote(s, q, sizeof(q));
	dc_error(c, item,
		 "invalid SSH key %s; expected one public key line starting with "
		 "ssh-, ecdsa- or sk-",
		 q);
	return false;
}

static void user_ssh_keys(struct dctx *c, struct ynode *v, void *obj)
{
	struct user *u = obj;

	dc_strlist(c, v, &u->ssh_keys, ssh_key_ok);
}

static void user_sudo(struct dctx *c, struct ynode *v, void *obj)
{
	struct user *u = obj;

	dc_bool(c, v, &u->sudo);
}

static const struct ynode *user_name_node(const struct ynode *users, size_t i)
{
	const struct ynode *u = users->u.items[i];

	return u->kind == YNODE_MAP ? ymap_get(u, "name") : NULL;
}

static int user_cmp(const void *a, const void *b)
{
	const struct user *const *x = a, *const *y = b;
	int r = strcmp((*x)->name, (*y)->name);

	if (r)
		return r;
	return *x < *y ? -1 : *x > *y;
}

/* Report users with the same name; the list is small, but sort anyway. */
static void users_unique(struct dctx *c, const struct ynode *v, struct first_boot *fb)
{
	struct user **by_name = calloc(fb->n_users ? fb->n_users : 1, sizeof(*by_name));
	size_t i, n = 0;

	if (!by_name) {
		dc_nomem(c);
		return;
	}
	for (i = 0; i < fb->n_users; i++) {
		if (fb->users[i].name)
			by_name[n++] = &fb->users[i];
	}
	qsort(by_name, n, sizeof(*by_name), user_cmp);
	for (i = 1; i < n; i++) {
		const struct user *u = by_name[i];

		/* Ties are in list order: the later one is the duplicate. */
		if (strcmp(u->name, by_name[i - 1]->name) != 0)
			continue;
		dc_error(c, user_name_node(v, (size_t)(u - fb->users)),
			 "duplicate user \"%s\"; expected each user once", u->name);
	}
	free(by_name);
}

static void fb_users(struct dctx *c, struct ynode *v, void *obj)
{
	static const struct field fields[] = {
		{"name", 0, user_name},
		{"passwordHash", 0, user_password_hash},
		{"sshKeys", 0, user_ssh_keys},
		{"sudo", 0, user_sudo},
	};
	struct first_boot *fb = obj;
	size_t i;

	if (v->kind != YNODE_SEQ) {
		dc_error(c, v, "expected a list of users, got %s", ynode_type_name(v));
		return;
	}
	fb->users = arena_calloc(c->out, v->n ? v->n : 1, sizeof(*fb->users));
	if (!fb->users) {
		dc_nomem(c);
		return;
	}
	fb->n_users = v->n;
	for (i = 0; i < v->n; i++) {
		struct ynode *u = v->u.items[i];

		dc_map(c, u, fields, sizeof(fields) / sizeof(fields[0]), "user", &fb->users[i]);
		if (u->kind == YNODE_MAP && !ymap_get(u, "name"))
			dc_error(c, u, "missing required key \"name\" in user");
	}
	users_unique(c, v, fb);
}

static void wifi_ssid(struct dctx *c, struct ynode *v, void *obj)
{
	struct wifi *w = obj;
	char *s = NULL;

	if (!dc_string(c, v, &s))
		return;
	if (!*s || strlen(s) > 32 || has_control(s)) {
		dc_error(c, v,
			 "invalid wifi ssid; expected 1 to 32 bytes without control "
			 "characters");
		return;
	}
	w->ssid = s;
}

static bool wpa_passphrase_ok(const char *s)
{
	size_t i, n = strlen(s);

	for (i = 0; i < n; i++) {
		if (s[i] < 0x20 || s[i] > 0x7e)
			return false;
	}
	if (n == 64)
		return strspn(s, "0123456789abcdefABCDEF") == 64;
	return n >= 8 && n <= 63;
}

/* Never shows the value. */
static bool passphrase_ok(struct dctx *c, const struct ynode *item, const char *s)
{
	if (wpa_passphrase_ok(s))
		return true;
	dc_error(c, item,
		 "invalid wifi passphrase; expected 8 to 63 printable ASCII characters "
		 "(or 64 hex digits) or {file: /absolute/path}");
	return false;
}

static void wifi_passphrase(struct dctx *c, struct ynode *v, void *obj)
{
	struct wifi *w = obj;

	dc_secret(c, v, &w->passphrase, passphrase_ok);
}

static void wifi_country(struct dctx *c, struct ynode *v, void *obj)
{
	struct wifi *w = obj;
	char q[QUOTE_MAX];
	char *s = NULL;

	if (!dc_string(c, v, &s))
		return;
	if (!country_is_valid(s)) {
		str_quote(s, q, sizeof(q));
		dc_error(c, v,
			 "invalid wifi country %s; expected two upper-case letters such as "
			 "GB",
			 q);
		return;
	}
	w->country = s;
}

static void fb_wifi(struct dctx *c, struct ynode *v, void *obj)
{
	static const struct field fields[] = {
		{"ssid", 0, wifi_ssid},
		{"passphrase", 0, wifi_passphrase},
		{"country", 0, wifi_country},
	};
	struct first_boot *fb = obj;

	dc_map(c, v, fields, sizeof(fields) / sizeof(fields[0]), "wifi", &fb->wifi);
	if (c->mode != SPEC_NODE || v->kind != YNODE_MAP || ymap_get(v, "ssid"))
		return;
	if (ymap_get(v, "passphrase") || ymap_get(v, "country"))
		dc_error_merged(c, v,
				"wifi has no ssid; expected ssid with passphrase and "
				"country");
}

void decode_first_boot(struct dctx *c, struct ynode *v, struct first_boot *fb)
{
	static const struct field fields[] = {
		{"hostname", 0, fb_hostname}, {"users", 0, fb_users},
		{"ssh", 0, fb_ssh},	      {"wifi", 0, fb_wifi},
		{"timezone", 0, fb_timezone}, {"keymap", 0, fb_keymap},
	};

	dc_map(c, v, fields, sizeof(fields) / sizeof(fields[0]), "firstBoot", fb);
}
