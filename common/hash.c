#include "hash.h"

#include <errno.h>
#include <string.h>
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

/* The digest's 32 bytes into d; releases the context. */
static int sha256_final(struct sha256_ctx *c, struct sha256 *d)
{
	unsigned int n = 0;
	int r = 0;

	memset(d, 0, sizeof(*d));
	if (EVP_DigestFinal_ex(c->md, d->b, &n) != 1 || n != SHA256_LEN)
		r = -EIO;
	d->set = r == 0;
	sha256_release(c);
	return r;
}

int sha256_final_hex(struct sha256_ctx *c, char out[SHA256_HEX_LEN + 1])
{
	struct sha256 d;
	int r = sha256_final(c, &d);

	if (r == 0)
		sha256_to_hex(&d, out);
	return r;
}

void sha256_release(struct sha256_ctx *c)
{
	EVP_MD_CTX_free(c->md);
	c->md = NULL;
}

/* One-shot digest of data into d. */
static int digest_of(const void *data, size_t len, struct sha256 *d)
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
	return sha256_final(&c, d);
}

int sha256_hex(const void *data, size_t len, char out[SHA256_HEX_LEN + 1])
{
	struct sha256 d;
	int r = digest_of(data, len, &d);

	if (r == 0)
		sha256_to_hex(&d, out);
	return r;
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

/* A lowercase hex digit's value, or -1 (uppercase too: a digest is written lowercase). */
static int lower_hex(char c)
{
	return c >= 'A' && c <= 'F' ? -1 : hex_value(c);
}

int sha256_from_hex(const char *hex, struct sha256 *d)
{
	size_t i;
	int hi, lo;

	memset(d, 0, sizeof(*d));
	if (!*hex)
		return 0;
	for (i = 0; i < SHA256_LEN; i++) {
		hi = lower_hex(hex[2 * i]);
		lo = hi < 0 ? -1 : lower_hex(hex[2 * i + 1]);
		if (lo < 0)
			break;
		d->b[i] = (uint8_t)(hi << 4 | lo);
	}
	if (i < SHA256_LEN || hex[SHA256_HEX_LEN]) {
		memset(d, 0, sizeof(*d));
		return -EINVAL;
	}
	d->set = true;
	return 0;
}

void sha256_to_hex(const struct sha256 *d, char out[SHA256_HEX_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	size_t i;

	for (i = 0; d->set && i < SHA256_LEN; i++) {
		out[2 * i] = hex[d->b[i] >> 4];
		out[2 * i + 1] = hex[d->b[i] & 15];
	}
	out[d->set ? SHA256_HEX_LEN : 0] = '\0';
}

int sha256_sum(const void *data, size_t len, struct sha256 *d)
{
	return digest_of(data, len, d);
}

bool sha256_equal(const struct sha256 *a, const struct sha256 *b)
{
	return a->set == b->set && (!a->set || memcmp(a->b, b->b, SHA256_LEN) == 0);
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
