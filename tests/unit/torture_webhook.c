/*
 * torture_webhook: who may start a pass.  GitHub's published example
 * signature, every one-digit change of a signature and every one-bit change
 * of a body refused, malformed headers, tokens of every near-miss length,
 * credentials that disagree, a disabled webhook, and the key files (newline
 * trimming, limits, permissions).
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "ratelimit.h"
#include "webhook.h"

/* The example in GitHub's "Validating webhook deliveries". */
#define GH_SECRET "It's a Secret to Everybody"
#define GH_BODY	  "Hello, World!"
#define GH_SIG	  "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"

static char tmpdir[64];

static void keys_set(struct webhook_keys *k, const char *secret, const char *token)
{
	memset(k, 0, sizeof(*k));
	if (secret) {
		k->secret = strdup(secret);
		k->secret_len = strlen(secret);
		assert_non_null(k->secret);
	}
	if (token) {
		k->token = strdup(token);
		k->token_len = strlen(token);
		assert_non_null(k->token);
	}
}

/* "sha256=<hex>" of body under key, as a sender computes it. */
static void sign(const char *key, const void *body, size_t len, char out[72])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned md_len = 0, i;

	assert_non_null(HMAC(EVP_sha256(), key, (int)strlen(key), body, len, md, &md_len));
	assert_int_equal(md_len, 32);
	memcpy(out, "sha256=", 7);
	for (i = 0; i < md_len; i++)
		snprintf(out + 7 + 2 * i, 3, "%02x", md[i]);
}

static void test_github_example(void **state)
{
	struct webhook_keys k;
	char upper[sizeof(GH_SIG)];
	size_t i;

	(void)state;
	keys_set(&k, GH_SECRET, NULL);
	assert_true(webhook_keys_enabled(&k));
	assert_int_equal(webhook_verify(&k, GH_SIG, NULL, GH_BODY, strlen(GH_BODY)),
			 WEBHOOK_ACCEPTED);
	/* Hex digits in either case. */
	memcpy(upper, GH_SIG, sizeof(GH_SIG));
	for (i = 7; upper[i]; i++)
		if (upper[i] >= 'a' && upper[i] <= 'f')
			upper[i] = (char)(upper[i] - 'a' + 'A');
	assert_int_equal(webhook_verify(&k, upper, NULL, GH_BODY, strlen(GH_BODY)),
			 WEBHOOK_ACCEPTED);
	/* The same body with another secret, and another body. */
	assert_int_equal(webhook_verify(&k, GH_SIG, NULL, "Hello, World?", 13),
			 WEBHOOK_BAD_SIGNATURE);
	webhook_keys_release(&k);
	keys_set(&k, "It's a Secret to Everybody!", NULL);
	assert_int_equal(webhook_verify(&k, GH_SIG, NULL, GH_BODY, strlen(GH_BODY)),
			 WEBHOOK_BAD_SIGNATURE);
	webhook_keys_release(&k);
	webhook_keys_release(&k); /* twice is fine */
}

static void test_every_digit_and_bit(void **state)
{
	static const char hex[] = "0123456789abcdef";
	struct webhook_keys k;
	char sig[72], bad[72];
	unsigned char body[200];
	size_t i, bit;
	int refused = 0;

	(void)state;
	for (i = 0; i < sizeof(body); i++)
		body[i] = (unsigned char)(i * 7 + (i == 5 ? 0 : 1)); /* holds a NUL */
	keys_set(&k, "s3cret", NULL);
	sign("s3cret", body, sizeof(body), sig);
	assert_int_equal(webhook_verify(&k, sig, NULL, body, sizeof(body)), WEBHOOK_ACCEPTED);
	for (i = 7; i < 71; i++) {
		memcpy(bad, sig, sizeof(bad));
		bad[i] = hex[(strchr(hex, sig[i]) - hex + 1) % 16];
		refused +=
			webhook_verify(&k, bad, NULL, body, sizeof(body)) == WEBHOOK_BAD_SIGNATURE;
	}
	assert_int_equal(refused, 64);
	refused = 0;
	for (i = 0; i < sizeof(body); i++)
		for (bit = 0; bit < 8; bit++) {
			body[i] ^= (unsigned char)(1u << bit);
			refused += webhook_verify(&k, sig, NULL, body, sizeof(body)) ==
				   WEBHOOK_BAD_SIGNATURE;
			body[i] ^= (unsigned char)(1u << bit);
		}
	assert_int_equal(refused, (int)sizeof(body) * 8);
	/* A shorter body (the signature covers every byte). */
	assert_int_equal(webhook_verify(&k, sig, NULL, body, sizeof(body) - 1),
			 WEBHOOK_BAD_SIGNATURE);
	webhook_keys_release(&k);
}

static void test_malformed_signatures(void **state)
{
	static const char *const bad[] = {
		"",
		"sha256=",
		"sha256",
		"sha1=757107ea0eb2509fc211221cce984b8a37570b6d",
		"SHA256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
		"757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
		"sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e1",
		"sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e177",
		"sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e1g",
		"sha256= 757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
		"sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17 ",
		"sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17\n",
		" sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
	};
	struct webhook_keys k;
	size_t i;

	(void)state;
	keys_set(&k, GH_SECRET, NULL);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(webhook_verify(&k, bad[i], NULL, GH_BODY, strlen(GH_BODY)),
				 WEBHOOK_MALFORMED);
	assert_int_equal(webhook_verify(&k, NULL, NULL, GH_BODY, strlen(GH_BODY)), WEBHOOK_MISSING);
	webhook_keys_release(&k);
}

static void test_empty_body(void **state)
{
	struct webhook_keys k;
	char sig[72];

	(void)state;
	keys_set(&k, "k", NULL);
	sign("k", "", 0, sig);
	assert_int_equal(webhook_verify(&k, sig, NULL, NULL, 0), WEBHOOK_ACCEPTED);
	assert_int_equal(webhook_verify(&k, sig, NULL, "", 0), WEBHOOK_ACCEPTED);
	assert_int_equal(webhook_verify(&k, sig, NULL, "x", 1), WEBHOOK_BAD_SIGNATURE);
	webhook_keys_release(&k);
}

static void test_tokens(void **state)
{
	static const char *const bad[] = {
		"",	      "t",	    "T0KEN-ABC",   "t0ken-ab",	"t0ken-abcd",
		" t0ken-abc", "t0ken-abc ", "t0ken-abc\n", "t0ken-abd",
	};
	struct webhook_keys k;
	size_t i;

	(void)state;
	keys_set(&k, NULL, "t0ken-abc");
	assert_true(webhook_keys_enabled(&k));
	assert_int_equal(webhook_verify(&k, NULL, "t0ken-abc", "{}", 2), WEBHOOK_ACCEPTED);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (webhook_verify(&k, NULL, bad[i], "{}", 2) != WEBHOOK_BAD_TOKEN)
			fail_msg("token \"%s\" not refused", bad[i]);
	/* A signature cannot be checked without a secret: it is no credential here. */
	assert_int_equal(webhook_verify(&k, GH_SIG, NULL, GH_BODY, strlen(GH_BODY)),
			 WEBHOOK_MISSING);
	webhook_keys_release(&k);
}

static void test_both_and_disabled(void **state)
{
	struct webhook_keys k;
	char sig[72];

	(void)state;
	keys_set(&k, NULL, NULL);
	assert_false(webhook_keys_enabled(&k));
	assert_int_equal(webhook_verify(&k, GH_SIG, "x", GH_BODY, strlen(GH_BODY)),
			 WEBHOOK_DISABLED);
	assert_int_equal(webhook_verify(&k, NULL, NULL, NULL, 0), WEBHOOK_DISABLED);
	keys_set(&k, "sec", "tok");
	sign("sec", "{}", 2, sig);
	assert_int_equal(webhook_verify(&k, sig, NULL, "{}", 2), WEBHOOK_ACCEPTED);
	assert_int_equal(webhook_verify(&k, NULL, "tok", "{}", 2), WEBHOOK_ACCEPTED);
	assert_int_equal(webhook_verify(&k, sig, "tok", "{}", 2), WEBHOOK_ACCEPTED);
	/* A wrong credential refuses even beside a right one. */
	assert_int_equal(webhook_verify(&k, sig, "tok2", "{}", 2), WEBHOOK_BAD_TOKEN);
	assert_int_equal(webhook_verify(&k, GH_SIG, "tok", "{}", 2), WEBHOOK_BAD_SIGNATURE);
	assert_int_equal(webhook_verify(&k, NULL, NULL, "{}", 2), WEBHOOK_MISSING);
	webhook_keys_release(&k);
	assert_null(k.secret);
	assert_null(k.token);
	assert_string_equal(webhook_verdict_name(WEBHOOK_BAD_TOKEN), "bad token");
	assert_non_null(strstr(webhook_verdict_name(WEBHOOK_DISABLED), "disabled"));
}

static void write_file(const char *name, const void *data, size_t len, mode_t mode, char *path)
{
	int fd;

	snprintf(path, 128, "%s/%s", tmpdir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

/* Read a key from a file holding data; returns the result, the key in *key. */
static int read_key(const void *data, size_t len, mode_t mode, char **key, size_t *klen,
		    bool *loose)
{
	char path[128];

	write_file("key", data, len, mode, path);
	*key = NULL;
	return webhook_key_read(path, key, klen, loose);
}

static void expect_key(const char *data, const char *want)
{
	char *key = NULL;
	size_t len = 0;
	bool loose = true;

	assert_int_equal(read_key(data, strlen(data), 0600, &key, &len, &loose), 0);
	assert_string_equal(key, want);
	assert_int_equal(len, strlen(want));
	assert_false(loose);
	free(key);
}

static void test_key_files(void **state)
{
	char *key = NULL, *big = NULL, fifo[96];
	size_t len = 0;
	bool loose = false;

	(void)state;
	expect_key("secret\n", "secret");
	expect_key("secret\r\n", "secret");
	expect_key("secret", "secret");
	expect_key("two\n\n", "two\n");
	expect_key(" spaced ", " spaced ");
	assert_int_equal(read_key("", 0, 0600, &key, &len, &loose), -ENODATA);
	assert_int_equal(read_key("\n", 1, 0600, &key, &len, &loose), -ENODATA);
	assert_int_equal(read_key("\r\n", 2, 0600, &key, &len, &loose), -ENODATA);
	assert_int_equal(read_key("a\0b", 3, 0600, &key, &len, &loose), -ENODATA);
	assert_null(key);
	assert_int_equal(read_key("open\n", 5, 0644, &key, &len, &loose), 0);
	assert_true(loose);
	free(key);
	assert_int_equal(read_key("open\n", 5, 0640, &key, &len, &loose), 0);
	assert_true(loose);
	free(key);
	assert_int_equal(read_key("shut\n", 5, 0400, &key, &len, &loose), 0);
	assert_false(loose);
	free(key);
	big = malloc(WEBHOOK_MAX_KEY + 1);
	assert_non_null(big);
	memset(big, 'k', WEBHOOK_MAX_KEY + 1);
	assert_int_equal(read_key(big, WEBHOOK_MAX_KEY, 0600, &key, &len, &loose), 0);
	assert_int_equal(len, WEBHOOK_MAX_KEY);
	free(key);
	assert_int_equal(read_key(big, WEBHOOK_MAX_KEY + 1, 0600, &key, &len, &loose), -EFBIG);
	free(big);
	assert_int_equal(webhook_key_read("/nonexistent/key", &key, &len, &loose), -ENOENT);
	assert_int_equal(webhook_key_read(tmpdir, &key, &len, &loose), -EINVAL);
	/* A FIFO is refused at once: the old reader blocked in open() (alarm). */
	snprintf(fifo, sizeof(fifo), "%s/fifo", tmpdir);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	alarm(5);
	assert_int_equal(webhook_key_read(fifo, &key, &len, &loose), -EINVAL);
	alarm(0);
	unlink(fifo);
}

/* A delivery id or a signature seen within the window is a replay. */
static void test_replays(void **state)
{
	static struct webhook_seen s; /* 40 KiB: not on the stack */
	char id[32];
	int i;

	(void)state;
	memset(&s, 0, sizeof(s));
	assert_false(webhook_seen(&s, "guid-1", "sha256=aa", 100));
	assert_true(webhook_seen(&s, "guid-1", "sha256=bb", 101)); /* same id */
	assert_true(webhook_seen(&s, "guid-2", "sha256=aa", 102)); /* same body */
	assert_false(webhook_seen(&s, "guid-3", "sha256=cc", 103));
	assert_false(webhook_seen(&s, NULL, NULL, 104));
	assert_false(webhook_seen(&s, NULL, NULL, 104));
	/* Past the window, the same delivery is new again. */
	assert_false(webhook_seen(&s, "guid-3", "sha256=cc", 103 + WEBHOOK_SEEN_WINDOW_S));
	/* The oldest are forgotten past WEBHOOK_SEEN_MAX. */
	for (i = 0; i < WEBHOOK_SEEN_MAX; i++) {
		snprintf(id, sizeof(id), "flood-%d", i);
		assert_false(webhook_seen(&s, id, NULL, 200));
	}
	assert_false(webhook_seen(&s, "guid-1", NULL, 201));
}

/* 58,701 refusals in 5 s: 5 lines, then one count. */
static void test_ratelimit(void **state)
{
	struct ratelimit rl = RATELIMIT_INIT(5, 5000);
	uint64_t left = 0;
	unsigned logged = 0;
	int i;

	(void)state;
	for (i = 0; i < 58701; i++) {
		logged += ratelimit_take(&rl, 1000 + i / 20, &left);
		assert_int_equal(left, 0);
	}
	assert_int_equal(logged, 5);
	assert_true(ratelimit_take(&rl, 1000 + 5000, &left));
	assert_int_equal(left, 58696);
	assert_true(ratelimit_take(&rl, 1000 + 5001, &left));
	assert_int_equal(left, 0);
}

static int setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/torture_webhook.XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	return 0;
}

static int teardown(void **state)
{
	char path[128];

	(void)state;
	snprintf(path, sizeof(path), "%s/key", tmpdir);
	unlink(path);
	assert_int_equal(rmdir(tmpdir), 0);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_github_example),
		cmocka_unit_test(test_every_digit_and_bit),
		cmocka_unit_test(test_malformed_signatures),
		cmocka_unit_test(test_empty_body),
		cmocka_unit_test(test_tokens),
		cmocka_unit_test(test_both_and_disabled),
		cmocka_unit_test(test_key_files),
		cmocka_unit_test(test_replays),
		cmocka_unit_test(test_ratelimit),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
