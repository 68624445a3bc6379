/*
 * webhook: who may start a pass over HTTP.  A push notification is accepted
 * when it carries the HMAC-SHA256 of its body under the shared secret
 * ("X-Hub-Signature-256: sha256=<hex>", as GitHub and Gitea send it) or the
 * shared token ("X-Gitlab-Token", as GitLab sends it).  Both comparisons take
 * a time that does not depend on how much of the value matched.  With neither
 * a secret nor a token configured the webhook is disabled: nothing is
 * accepted.  This module does not log; the daemon does.
 */
#ifndef BRAMBLE_WEBHOOK_H
#define BRAMBLE_WEBHOOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WEBHOOK_MAX_BODY ((size_t)1 << 20) /* a larger push notification gets 413 */
#define WEBHOOK_MAX_KEY	 4096		   /* the largest secret or token file */

struct webhook_keys {
	char *secret; /* HMAC key; NULL when not configured */
	size_t secret_len;
	char *token; /* GitLab token; NULL when not configured */
	size_t token_len;
};

/*
 * Deliveries seen lately, to refuse a replay: a verified request whose
 * delivery id (X-GitHub-Delivery, X-Gitea-Delivery, X-Gitlab-Event-UUID) or
 * signature (the HMAC of its body) was seen within WEBHOOK_SEEN_WINDOW_S
 * starts no pass.  The last WEBHOOK_SEEN_MAX are remembered, as digests.
 */
#define WEBHOOK_SEEN_MAX      1024
#define WEBHOOK_SEEN_WINDOW_S 600

struct webhook_seen {
	unsigned char digest[WEBHOOK_SEEN_MAX][32];
	int64_t at[WEBHOOK_SEEN_MAX];
	size_t next, n;
};

/*
 * Whether the delivery (its id and its signature, either may be NULL) was
 * seen within the window before now_s (monotonic seconds); either way it is
 * remembered from now on.
 */
bool webhook_seen(struct webhook_seen *s, const char *delivery, const char *signature,
		  int64_t now_s);

enum webhook_verdict {
	WEBHOOK_ACCEPTED,
	WEBHOOK_DISABLED,      /* no secret and no token configured */
	WEBHOOK_MISSING,       /* no signature or token that could be checked */
	WEBHOOK_MALFORMED,     /* a signature that is not "sha256=" and 64 hex digits */
	WEBHOOK_BAD_SIGNATURE, /* the HMAC does not match */
	WEBHOOK_BAD_TOKEN,     /* the token does not match */
};

/*
 * Read a secret or token from a file (a mounted Kubernetes Secret, a file
 * only root reads).  One trailing "\n" or "\r\n" is dropped; an empty key is
 * -ENODATA (an empty HMAC key is no secret), a file past WEBHOOK_MAX_KEY is
 * -EFBIG.  ret_loose says whether group or others may read or write the file,
 * for the caller to warn about.  The key is handed to the caller on success.
 */
int webhook_key_read(const char *path, char **ret_key, size_t *ret_len, bool *ret_loose);

/* Whether a secret or a token is configured. */
bool webhook_keys_enabled(const struct webhook_keys *k);

/* Wipe and free the keys; k is left empty (safe to call twice). */
void webhook_keys_release(struct webhook_keys *k);

/*
 * Decide on one request: signature is the X-Hub-Signature-256 header value and
 * token the X-Gitlab-Token value (either may be NULL), body the raw request
 * body.  A credential that is present and wrong refuses the request even when
 * the other one matches.
 */
enum webhook_verdict webhook_verify(const struct webhook_keys *k, const char *signature,
				    const char *token, const void *body, size_t len);

/* A short name for a verdict, for log lines ("bad signature"). */
const char *webhook_verdict_name(enum webhook_verdict v);

#endif
