/*
 * fuzz_webhook: arbitrary bytes as a webhook request after the HTTP layer:
 * the first line is the X-Hub-Signature-256 value, the second the
 * X-Gitlab-Token, the third the delivery id, the rest the body; verified
 * against fixed keys and passed through the replay filter.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "webhook.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The next line of [*p, end) as a new string (NULL when out of memory). */
static char *next_line(const char **p, const char *end)
{
	const char *nl = memchr(*p, '\n', (size_t)(end - *p));
	size_t n = nl ? (size_t)(nl - *p) : (size_t)(end - *p);
	char *s = strndup(*p, n);

	*p += n + (nl ? 1 : 0);
	return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct webhook_seen seen;
	static int64_t now;
	char secret[] = "hmac-secret-1", token[] = "gitlab-token-1";
	struct webhook_keys k = {secret, sizeof(secret) - 1, token, sizeof(token) - 1};
	const char *p = (const char *)data, *end = p + size;
	char *sig = next_line(&p, end), *tok = next_line(&p, end), *id = next_line(&p, end);
	enum webhook_verdict v;

	if (sig && tok && id) {
		v = webhook_verify(&k, *sig ? sig : NULL, *tok ? tok : NULL, p, (size_t)(end - p));
		if (v == WEBHOOK_ACCEPTED || size % 2)
			(void)webhook_seen(&seen, id, sig, now++);
		(void)webhook_verdict_name(v);
	}
	free(sig);
	free(tok);
	free(id);
	return 0;
}
