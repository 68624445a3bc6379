#include "git_known_hosts.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "../common/buf.h"

/* What one pass over the file found for the host and key. */
struct kh_scan {
	const char *target; /* "host" or "[host]:port", lower case */
	const unsigned char *key;
	size_t key_len;
	char type[64];
	bool host_seen;
	bool type_seen;
	bool matched;
	bool revoked;
};

/* Decode standard base64 (as in known_hosts) into a new buffer. */
static int b64_decode(const char *s, unsigned char **ret, size_t *ret_len)
{
	size_t n = strlen(s), pad = 0;
	unsigned char *out = NULL;
	int len;

	if (n == 0 || n % 4 != 0 || n > (1 << 20))
		return -EINVAL;
	out = malloc(n / 4 * 3 + 1);
	if (!out)
		return -ENOMEM;
	len = EVP_DecodeBlock(out, (const unsigned char *)s, (int)n);
	if (len < 0) {
		free(out);
		return -EINVAL;
	}
	pad = (s[n - 1] == '=') + (s[n - 2] == '=');
	*ret = out;
	*ret_len = (size_t)len - pad;
	return 0;
}

/* OpenSSH host patterns: '*' and '?' only, case-insensitive. */
static bool glob_match(const char *p, const char *s)
{
	const char *star = NULL, *back = NULL;

	while (*s) {
		if (*p == '*') {
			star = ++p;
			back = s;
		} else if (*p && (*p == '?' || tolower((unsigned char)*p) == *s)) {
			p++;
			s++;
		} else if (star) {
			p = star;
			s = ++back;
		} else {
			return false;
		}
	}
	while (*p == '*')
		p++;
	return *p == '\0';
}

/* A hashed entry "|1|salt|hash": HMAC-SHA1(salt, target) == hash. */
static int hashed_match(char *field, const char *target, bool *ret)
{
	unsigned char *salt = NULL, *hash = NULL, md[EVP_MAX_MD_SIZE];
	size_t salt_len = 0, hash_len = 0;
	unsigned md_len = 0;
	char *bar = strchr(field + 3, '|');
	int r;

	*ret = false;
	if (!bar)
		return 0;
	*bar = '\0';
	r = b64_decode(field + 3, &salt, &salt_len);
	if (r == 0)
		r = b64_decode(bar + 1, &hash, &hash_len);
	if (r == 0 && HMAC(EVP_sha1(), salt, (int)salt_len, (const unsigned char *)target,
			   strlen(target), md, &md_len))
		*ret = md_len == hash_len && memcmp(md, hash, md_len) == 0;
	free(salt);
	free(hash);
	return r == -ENOMEM ? r : 0;
}

/* Whether the comma-separated patterns (or one hashed entry) name target. */
static int hosts_match(char *hosts, const char *target, bool *ret)
{
	char *save = NULL, *tok = NULL;
	bool hit = false;

	if (strncmp(hosts, "|1|", 3) == 0)
		return hashed_match(hosts, target, ret);
	for (tok = strtok_r(hosts, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		bool neg = tok[0] == '!';

		if (!glob_match(neg ? tok + 1 : tok, target))
			continue;
		if (neg) {
			hit = false;
			break;
		}
		hit = true;
	}
	*ret = hit;
	return 0;
}

/* One line: [marker] hosts type base64-key [comment]. */
static int scan_line(struct kh_scan *k, char *line)
{
	char *save = NULL, *hosts = NULL, *type = NULL, *b64 = NULL;
	unsigned char *key = NULL;
	size_t key_len = 0;
	bool revoked = false, same = false, host = false;
	int r;

	hosts = strtok_r(line, " \t\r", &save);
	if (!hosts || hosts[0] == '#')
		return 0;
	if (hosts[0] == '@') {
		if (strcmp(hosts, "@revoked") != 0)
			return 0; /* @cert-authority: no certificates here */
		revoked = true;
		hosts = strtok_r(NULL, " \t\r", &save);
	}
	type = hosts ? strtok_r(NULL, " \t\r", &save) : NULL;
	b64 = type ? strtok_r(NULL, " \t\r", &save) : NULL;
	if (!b64)
		return 0;
	r = b64_decode(b64, &key, &key_len);
	if (r < 0)
		return r == -ENOMEM ? r : 0; /* a malformed line matches nothing */
	same = key_len == k->key_len && memcmp(key, k->key, key_len) == 0;
	free(key);
	r = hosts_match(hosts, k->target, &host);
	if (r < 0 || !host)
		return r;
	if (revoked) {
		k->revoked = k->revoked || same;
		return 0;
	}
	k->host_seen = true;
	k->type_seen = k->type_seen || strcmp(type, k->type) == 0;
	k->matched = k->matched || same;
	return 0;
}

void known_hosts_key_type(const unsigned char *key, size_t key_len, char *out, size_t size)
{
	size_t n;

	out[0] = '\0';
	if (key_len < 4 || size == 0)
		return;
	n = (size_t)key[0] << 24 | (size_t)key[1] << 16 | (size_t)key[2] << 8 | key[3];
	if (n > key_len - 4 || n >= size)
		return;
	memcpy(out, key + 4, n);
	out[n] = '\0';
}

/* "host" or "[host]:port", lower case, as OpenSSH writes it. */
static int make_target(const char *host, unsigned port, struct buf *b)
{
	int r = port == 22 ? buf_adds(b, host) : buf_printf(b, "[%s]:%u", host, port);
	size_t i;

	for (i = 0; r == 0 && i < b->len; i++)
		b->data[i] = (char)tolower((unsigned char)b->data[i]);
	return r;
}

static enum known_host verdict(const struct kh_scan *k)
{
	if (k->revoked)
		return KNOWN_HOST_REVOKED;
	if (k->matched)
		return KNOWN_HOST_MATCH;
	if (k->type_seen)
		return KNOWN_HOST_MISMATCH;
	return k->host_seen ? KNOWN_HOST_OTHER_TYPE : KNOWN_HOST_UNKNOWN;
}

int known_hosts_check(const char *text, size_t len, const char *host, unsigned port,
		      const unsigned char *key, size_t key_len, enum known_host *ret)
{
	struct buf target = BUF_INIT, line = BUF_INIT;
	struct kh_scan k;
	size_t off = 0;
	int r;

	memset(&k, 0, sizeof(k));
	k.key = key;
	k.key_len = key_len;
	known_hosts_key_type(key, key_len, k.type, sizeof(k.type));
	r = make_target(host, port, &target);
	k.target = buf_str(&target);
	while (r == 0 && off < len) {
		const char *nl = memchr(text + off, '\n', len - off);
		size_t n = nl ? (size_t)(nl - (text + off)) : len - off;

		buf_truncate(&line, 0);
		if (n > 0)
			r = buf_add(&line, text + off, n);
		if (r == 0 && n > 0)
			r = scan_line(&k, line.data);
		off += n + 1;
	}
	if (r == 0)
		*ret = verdict(&k);
	buf_release(&target);
	buf_release(&line);
	return r;
}
