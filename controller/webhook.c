#include "webhook.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../common/fsutil.h"
#include "../common/hash.h"

#define SIG_PREFIX     "sha256="
#define SIG_DIGEST_LEN 32

/* Drop one trailing "\n" or "\r\n", as `echo` and editors leave it. */
static size_t trim_newline(const char *s, size_t len)
{
	if (len > 0 && s[len - 1] == '\n')
		len--;
	if (len > 0 && s[len - 1] == '\r')
		len--;
	return len;
}

int webhook_key_read(const char *path, char **ret_key, size_t *ret_len, bool *ret_loose)
{
	struct stat st;
	char *data = NULL;
	size_t len = 0;
	int r;

	r = file_read(path, WEBHOOK_MAX_KEY, &data, &len);
	if (r < 0)
		goto out;
	len = trim_newline(data, len);
	if (len == 0 || memchr(data, '\0', len)) {
		r = -ENODATA;
		goto out;
	}
	data[len] = '\0';
	*ret_loose = stat(path, &st) == 0 && (st.st_mode & (S_IRWXG | S_IRWXO)) != 0;
	*ret_key = data;
	*ret_len = len;
	data = NULL;
out:
	if (data)
		OPENSSL_cleanse(data, len);
	free(data);
	return r;
}

bool webhook_keys_enabled(const struct webhook_keys *k)
{
	return k->secret || k->token;
}

void webhook_keys_release(struct webhook_keys *k)
{
	if (k->secret)
		OPENSSL_cleanse(k->secret, k->secret_len);
	if (k->token)
		OPENSSL_cleanse(k->token, k->token_len);
	free(k->secret);
	free(k->token);
	memset(k, 0, sizeof(*k));
}

/* Parse "sha256=<64 hex digits>" into the digest it names. */
static int parse_signature(const char *sig, unsigned char out[SIG_DIGEST_LEN])
{
	size_t i, plen = strlen(SIG_PREFIX);

	if (strncmp(sig, SIG_PREFIX, plen) != 0 || strlen(sig + plen) != 2 * SIG_DIGEST_LEN)
		return -EINVAL;
	sig += plen;
	for (i = 0; i < SIG_DIGEST_LEN; i++) {
		int hi = hex_value(sig[2 * i]), lo = hex_value(sig[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

static enum webhook_verdict check_signature(const struct webhook_keys *k, const char *sig,
					    const void *body, size_t len)
{
	static const unsigned char empty[1];
	unsigned char want[SIG_DIGEST_LEN], got[EVP_MAX_MD_SIZE];
	unsigned got_len = 0;

	if (parse_signature(sig, want) < 0)
		return WEBHOOK_MALFORMED;
	if (!HMAC(EVP_sha256(), k->secret, (int)k->secret_len, body ? body : empty, len, got,
		  &got_len) ||
	    got_len != SIG_DIGEST_LEN)
		return WEBHOOK_BAD_SIGNATURE;
	return CRYPTO_memcmp(want, got, SIG_DIGEST_LEN) == 0 ? WEBHOOK_ACCEPTED
							     : WEBHOOK_BAD_SIGNATURE;
}

/*
 * Compare digests of the two tokens rather than the tokens, so that neither
 * the time taken nor an early length check says how long the token is.
 */
static enum webhook_verdict check_token(const struct webhook_keys *k, const char *token)
{
	unsigned char want[EVP_MAX_MD_SIZE], got[EVP_MAX_MD_SIZE];
	unsigned want_len = 0, got_len = 0;

	if (!EVP_Digest(k->token, k->token_len, want, &want_len, EVP_sha256(), NULL) ||
	    !EVP_Digest(token, strlen(token), got, &got_len, EVP_sha256(), NULL) ||
	    want_len != got_len)
		return WEBHOOK_BAD_TOKEN;
	return CRYPTO_memcmp(want, got, want_len) == 0 ? WEBHOOK_ACCEPTED : WEBHOOK_BAD_TOKEN;
}

/* Whether the digest of "kind:value" is among the recent ones; remember it. */
static bool seen_one(struct webhook_seen *s, char kind, const char *value, int64_t now_s)
{
	unsigned char md[32];
	unsigned md_len = 0;
	bool found = false;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	size_t i;

	if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) ||
	    !EVP_DigestUpdate(ctx, &kind, 1) || !EVP_DigestUpdate(ctx, value, strlen(value)) ||
	    !EVP_DigestFinal_ex(ctx, md, &md_len) || md_len != sizeof(md)) {
		EVP_MD_CTX_free(ctx);
		return false; /* cannot tell: let it through, as before this check */
	}
	EVP_MD_CTX_free(ctx);
	for (i = 0; i < s->n && !found; i++)
		found = now_s - s->at[i] < WEBHOOK_SEEN_WINDOW_S &&
			memcmp(s->digest[i], md, sizeof(md)) == 0;
	memcpy(s->digest[s->next], md, sizeof(md));
	s->at[s->next] = now_s;
	s->next = (s->next + 1) % WEBHOOK_SEEN_MAX;
	if (s->n < WEBHOOK_SEEN_MAX)
		s->n++;
	return found;
}

bool webhook_seen(struct webhook_seen *s, const char *delivery, const char *signature,
		  int64_t now_s)
{
	bool by_id = delivery && *delivery && seen_one(s, 'd', delivery, now_s);
	bool by_sig = signature && *signature && seen_one(s, 's', signature, now_s);

	return by_id || by_sig;
}

enum webhook_verdict webhook_verify(const struct webhook_keys *k, const char *signature,
				    const char *token, const void *body, size_t len)
{
	enum webhook_verdict sig_v = WEBHOOK_MISSING, tok_v = WEBHOOK_MISSING;

	if (!webhook_keys_enabled(k))
		return WEBHOOK_DISABLED;
	if (signature && k->secret)
		sig_v = check_signature(k, signature, body, len);
	if (token && k->token)
		tok_v = check_token(k, token);
	if (sig_v != WEBHOOK_ACCEPTED && sig_v != WEBHOOK_MISSING)
		return sig_v;
	if (tok_v != WEBHOOK_ACCEPTED && tok_v != WEBHOOK_MISSING)
		return tok_v;
	return sig_v == WEBHOOK_ACCEPTED || tok_v == WEBHOOK_ACCEPTED ? WEBHOOK_ACCEPTED
								      : WEBHOOK_MISSING;
}

const char *webhook_verdict_name(enum webhook_verdict v)
{
	switch (v) {
	case WEBHOOK_ACCEPTED:
		return "accepted";
	case WEBHOOK_DISABLED:
		return "webhook disabled (no secret or token configured)";
	case WEBHOOK_MISSING:
		return "no signature or token";
	case WEBHOOK_MALFORMED:
		return "malformed signature";
	case WEBHOOK_BAD_SIGNATURE:
		return "bad signature";
	case WEBHOOK_BAD_TOKEN:
		return "bad token";
	}
	return "?";
}
