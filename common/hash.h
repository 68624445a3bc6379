/*
 * hash: SHA-256 (OpenSSL libcrypto) for content addressing and change
 * detection, and a fast 64-bit FNV-1a for in-memory tables.
 */
#ifndef BRAMBLE_HASH_H
#define BRAMBLE_HASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SHA256_HEX_LEN 64
#define SHA256_LEN     32

/*
 * A SHA-256 kept as its 32 bytes, half its hex text (a 10,000-node plan
 * holds 160,000 of them); set false: there is none (a directory has none).
 */
struct sha256 {
	uint8_t b[SHA256_LEN];
	bool set;
};

struct sha256_ctx {
	void *md; /* EVP_MD_CTX */
};

/* Start a SHA-256 digest (OpenSSL EVP); 0 or -ENOMEM. */
int sha256_init(struct sha256_ctx *c);
/* Feed len bytes of data into the digest. */
int sha256_update(struct sha256_ctx *c, const void *data, size_t len);
/* Write 64 lowercase hex digits and a NUL to out; releases the context. */
int sha256_final_hex(struct sha256_ctx *c, char out[SHA256_HEX_LEN + 1]);
/* Free a context that was not finished (after an error); a released one is fine. */
void sha256_release(struct sha256_ctx *c);
/* One-shot digest of data as hex. */
int sha256_hex(const void *data, size_t len, char out[SHA256_HEX_LEN + 1]);

/*
 * hex as a struct sha256: 64 lowercase hex digits, or "" for none; -EINVAL
 * for anything else (d is then none).
 */
int sha256_from_hex(const char *hex, struct sha256 *d);
/* d as 64 lowercase hex digits, or "" when it is none. */
void sha256_to_hex(const struct sha256 *d, char out[SHA256_HEX_LEN + 1]);
/* One-shot digest of data as bytes. */
int sha256_sum(const void *data, size_t len, struct sha256 *d);
/* Whether a and b are the same digest (two nones are). */
bool sha256_equal(const struct sha256 *a, const struct sha256 *b);

/* FNV-1a, 64 bits: a fast, non-cryptographic hash for hash tables and shards. */
uint64_t fnv1a64(const void *data, size_t len);

/* The value of one hex digit (either case), or -1. */
int hex_value(char c);

#endif
