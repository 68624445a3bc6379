#include "hash.h"

#include <errno.h>
#include <openssl/evp.h>

/* The algorithm, fetched once: an implicit fetch per digest is costly in OpenSSL 3. */
static const EVP_MD *sha256_md(void)
{
	static EVP_MD *md;

	if (!md)
		md = EVP_MD_fetch(NULL, "SHA256", NULL);
	return md;
}

int sha256_init(struct sha256_ctx *c)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	const EVP_MD *alg = sha256_md();

	c->md = NULL;
	if (!md || !alg) {
		EVP_MD_CTX_free(md);
		return -ENOMEM;
	}
	if (EVP_DigestInit_ex(md, alg, NULL) != 1) {
		EVP_MD_CTX_free(md);
		return -EIO;
	}
	c->md = md;
	return 0;
}

int sha256_update(struct sha256_ctx *c, const void *data, size_t len)
{
	if (EVP_DigestUpdate(c->md, data, len) != 1)
		return -EIO;
	return 0;
}

int sha256_final_hex(struct sha256_ctx *c, char out[SHA256_HEX_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0, i;
	int r = 0;

	if (EVP_DigestFinal_ex(c->md, md, &n) != 1 || n != 32) {
		r = -EIO;
		goto out;
	}
	for (i = 0; i < n; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[SHA256_HEX_LEN] = '\0';
out:
	sha256_release(c);
	return r;
}

void sha256_release(struct sha256_ctx *c)
{
	EVP_MD_CTX_free(c->md);
	c->md = NULL;
}

int sha256_hex(const void *data, size_t len, char out[SHA256_HEX_LEN + 1])
{
	struct sha256_ctx c;
	int r;

	r = sha256_init(&c);
	if (r < 0)
		return r;
	r = sha256_update(&c, data, len);
	if (r < 0) {
		sha256_release(&c);
		return r;
	}
	return sha256_final_hex(&c, out);
}

uint64_t fnv1a64(const void *data, size_t len)
{
	const unsigned char *p = data;
	uint64_t h = 14695981039346656037ULL;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= p[i];
		h *= 1099511628211ULL;
	}
	return h;
}

int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}
