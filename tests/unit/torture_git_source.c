/*
 * torture_git_source: the parts of the git source that need no server:
 * known_hosts matching, URL redaction and scrubbing, the wire records
 * between the fetch process and bramble.  The fetch itself is tested
 * against real servers in tests/e2e/test_git_source.sh.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "git_known_hosts.h"
#include "git_url.h"
#include "git_wire.h"

/* ssh-ed25519 blobs with the bytes 0..31 and 1..32 as the key. */
#define KEY1_B64 "AAAAC3NzaC1lZDI1NTE5AAAAIAABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4f"
#define KEY2_B64 "AAAAC3NzaC1lZDI1NTE5AAAAIAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8g"
/* "[localhost]:2222" hashed by ssh-keygen -H, with KEY1. */
#define HASHED	 "|1|kXk5y/m+zyMQNeT0E/DY68TY7t4=|81ygO8tjvNycV4+2ixN+iA2t6TU="

static unsigned char key1[51], key2[51];

static void make_key(unsigned char *k, unsigned char first)
{
	static const char type[] = "ssh-ed25519";
	size_t i;

	memset(k, 0, 51);
	k[3] = 11;
	memcpy(k + 4, type, 11);
	k[18] = 32;
	for (i = 0; i < 32; i++)
		k[19 + i] = (unsigned char)(first + i);
}

static enum known_host check(const char *text, const char *host, unsigned port,
			     const unsigned char *key)
{
	enum known_host v = KNOWN_HOST_MATCH;

	assert_int_equal(known_hosts_check(text, strlen(text), host, port, key, 51, &v), 0);
	return v;
}

static void test_known_hosts_plain(void **state)
{
	const char *kh = "# a comment\n\ngit.example.com,10.0.0.1 ssh-ed25519 " KEY1_B64 " c\r\n"
			 "[git.example.com]:2222 ssh-ed25519 " KEY2_B64 "\n";

	(void)state;
	assert_int_equal(check(kh, "git.example.com", 22, key1), KNOWN_HOST_MATCH);
	assert_int_equal(check(kh, "GIT.Example.com", 22, key1), KNOWN_HOST_MATCH);
	assert_int_equal(check(kh, "10.0.0.1", 22, key1), KNOWN_HOST_MATCH);
	assert_int_equal(check(kh, "git.example.com", 22, key2), KNOWN_HOST_MISMATCH);
	assert_int_equal(check(kh, "git.example.com", 2222, key2), KNOWN_HOST_MATCH);
	assert_int_equal(check(kh, "git.example.com", 2222, key1), KNOWN_HOST_MISMATCH);
	assert_int_equal(check(kh, "other.example.com", 22, key1), KNOWN_HOST_UNKNOWN);
	assert_int_equal(check(kh, "git.example.com", 2200, key1), KNOWN_HOST_UNKNOWN);
	assert_int_equal(check("", "git.example.com", 22, key1), KNOWN_HOST_UNKNOWN);
}

static void test_known_hosts_patterns(void **state)
{
	const char *kh = "*.example.com,!bad.example.com ssh-ed25519 " KEY1_B64 "\n"
			 "git?.example.org ssh-rsa " KEY2_B64 "\n"
			 "@revoked * ssh-ed25519 " KEY2_B64 "\n"
			 "@cert-authority *.example.net ssh-ed25519 " KEY1_B64 "\n"
			 "broken line\n"
			 "git.example.edu ssh-ed25519 !!notbase64!!\n";

	(void)state;
	assert_int_equal(check(kh, "a.example.com", 22, key1), KNOWN_HOST_MATCH);
	assert_int_equal(check(kh, "bad.example.com", 22, key1), KNOWN_HOST_UNKNOWN);
	assert_int_equal(check(kh, "example.com", 22, key1), KNOWN_HOST_UNKNOWN);
	assert_int_equal(check(kh, "git1.example.org", 22, key1), KNOWN_HOST_OTHER_TYPE);
	assert_int_equal(check(kh, "a.example.com", 22, key2), KNOWN_HOST_REVOKED);
	assert_int_equal(check(kh, "x.example.net", 22, key1), KNOWN_HOST_UNKNOWN);
	assert_int_equal(check(kh, "git.example.edu", 22, key1), KNOWN_HOST_UNKNOWN);
}

static void test_known_hosts_hashed(void **state)
{
	const char *kh = HASHED " ssh-ed25519 " KEY1_B64 "\n";

	(void)state;
	assert_int_equal(check(kh, "localhost", 2222, key1), KNOWN_HOST_MATCH);
	assert_int_equal(check(kh, "localhost", 2222, key2), KNOWN_HOST_MISMATCH);
	assert_int_equal(check(kh, "localhost", 22, key1), KNOWN_HOST_UNKNOWN);
	assert_int_equal(check(kh, "otherhost", 2222, key1), KNOWN_HOST_UNKNOWN);
}

static void test_key_type(void **state)
{
	char type[64];

	(void)state;
	known_hosts_key_type(key1, sizeof(key1), type, sizeof(type));
	assert_string_equal(type, "ssh-ed25519");
	known_hosts_key_type(key1, 3, type, sizeof(type));
	assert_string_equal(type, "");
	known_hosts_key_type(key1, 10, type, sizeof(type));
	assert_string_equal(type, "");
}

static void redacts(const char *url, const char *want)
{
	char *got = NULL;

	assert_int_equal(git_url_redact(url, &got), 0);
	assert_string_equal(got, want);
	free(got);
}

static void test_url(void **state)
{
	char *pw = NULL;

	(void)state;
	redacts("https://u:s3cret@host/x.git", "https://u:***@host/x.git");
	redacts("https://u@host/x.git", "https://u@host/x.git");
	redacts("https://host/a@b", "https://host/a@b");
	redacts("git@host:x.git", "git@host:x.git");
	redacts("/srv/repo", "/srv/repo");
	assert_int_equal(git_url_password("https://u:s3cret@host/x", &pw), 0);
	assert_string_equal(pw, "s3cret");
	free(pw);
	assert_int_equal(git_url_password("https://u@host/x", &pw), 0);
	assert_null(pw);
	assert_int_equal(git_url_ssh_port("ssh://git@host:2222/x.git"), 2222);
	assert_int_equal(git_url_ssh_port("ssh://[::1]:2200/x.git"), 2200);
	assert_int_equal(git_url_ssh_port("ssh://host/x.git"), 22);
	assert_int_equal(git_url_ssh_port("ssh://host:99999/x.git"), 22);
	assert_int_equal(git_url_ssh_port("git@host:x.git"), 22);
	assert_true(git_url_is_ssh("git@host:x.git"));
	assert_true(git_url_is_ssh("ssh://host/x"));
	assert_false(git_url_is_ssh("https://host/x"));
	assert_false(git_url_is_ssh("/srv/a:b"));
}

static void test_scrub(void **state)
{
	struct buf b = BUF_INIT;

	(void)state;
	assert_int_equal(buf_adds(&b, "tok and tok again; tok"), 0);
	assert_int_equal(git_url_scrub(&b, "tok", "***"), 0);
	assert_string_equal(buf_str(&b), "*** and *** again; ***");
	assert_int_equal(git_url_scrub(&b, NULL, "x"), 0);
	assert_int_equal(git_url_scrub(&b, "", "x"), 0);
	assert_string_equal(buf_str(&b), "*** and *** again; ***");
	buf_release(&b);
}

static void test_wire(void **state)
{
	struct git_wire_rec rec;
	struct buf b = BUF_INIT;
	size_t off = 0, cut;

	(void)state;
	assert_int_equal(git_wire_add(&b, GIT_WIRE_FILE, "nodes/a.yaml", "x: 1\n", 5), 0);
	assert_int_equal(git_wire_add(&b, GIT_WIRE_LARGE, "big.yaml", NULL, 0), 0);
	assert_int_equal(git_wire_add(&b, GIT_WIRE_RESULT, "0", NULL, 0), 0);
	assert_int_equal(git_wire_next(b.data, b.len, &off, &rec), 0);
	assert_int_equal(rec.type, GIT_WIRE_FILE);
	assert_string_equal(rec.text, "nodes/a.yaml");
	assert_int_equal(rec.len, 5);
	assert_memory_equal(rec.data, "x: 1\n", 5);
	assert_int_equal(git_wire_next(b.data, b.len, &off, &rec), 0);
	assert_int_equal(rec.type, GIT_WIRE_LARGE);
	assert_int_equal(rec.len, 0);
	cut = off;
	assert_int_equal(git_wire_next(b.data, b.len, &off, &rec), 0);
	assert_string_equal(rec.text, "0");
	assert_int_equal(git_wire_next(b.data, b.len, &off, &rec), -ENOENT);
	/* a stream cut short, or a record without its NUL, is malformed */
	off = cut;
	assert_int_equal(git_wire_next(b.data, b.len - 1, &off, &rec), -EBADMSG);
	off = 0;
	assert_int_equal(git_wire_next(b.data, 3, &off, &rec), -EBADMSG);
	b.data[GIT_WIRE_HEADER + 12] = 'x'; /* the NUL after "nodes/a.yaml" */
	b.data[1] = 12;
	b.data[2] = b.data[3] = b.data[4] = 0;
	off = 0;
	assert_int_equal(git_wire_next(b.data, b.len, &off, &rec), -EBADMSG);
	buf_release(&b);
}

/* A stream read piece by piece: complete only once the record of the type asked for is whole. */
static void test_wire_scan(void **state)
{
	struct buf b = BUF_INIT;
	size_t off = 0, len;

	(void)state;
	assert_int_equal(
		git_wire_add(&b, GIT_WIRE_OID, "0123456789abcdef0123456789abcdef01234567", NULL, 0),
		0);
	assert_int_equal(git_wire_add(&b, GIT_WIRE_FILE, "nodes/a.yaml", "x: 1\n", 5), 0);
	assert_int_equal(git_wire_add(&b, GIT_WIRE_RESULT, "0", NULL, 0), 0);
	for (len = 0; len < b.len; len++) { /* every prefix: more is needed */
		off = 0;
		assert_int_equal(git_wire_scan(b.data, len, &off, GIT_WIRE_RESULT), 0);
		assert_true(off <= len);
	}
	/* read in two parts: the scan goes on from where it stopped */
	off = 0;
	assert_int_equal(git_wire_scan(b.data, b.len - 2, &off, GIT_WIRE_RESULT), 0);
	assert_true(off > 0);
	assert_int_equal(git_wire_scan(b.data, b.len, &off, GIT_WIRE_RESULT), 1);
	assert_int_equal(off, b.len);
	/* a record of another type does not end it; a malformed one is an error */
	off = 0;
	assert_int_equal(git_wire_scan(b.data, b.len, &off, GIT_WIRE_END), 0);
	b.data[0 + 1] = 0;
	b.data[2] = b.data[3] = b.data[4] = 0; /* a zero-length payload */
	off = 0;
	assert_int_equal(git_wire_scan(b.data, b.len, &off, GIT_WIRE_RESULT), -EBADMSG);
	buf_release(&b);
	/* a blob id: 40 lowercase hex digits, nothing else */
	assert_true(git_wire_is_oid("0123456789abcdef0123456789abcdef01234567", 40));
	assert_false(git_wire_is_oid("0123456789abcdef0123456789abcdef0123456", 39));
	assert_false(git_wire_is_oid("0123456789ABCDEF0123456789abcdef01234567", 40));
	assert_false(git_wire_is_oid("0123456789abcdef0123456789abcdef0123456\0", 40));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known_hosts_plain),
		cmocka_unit_test(test_known_hosts_patterns),
		cmocka_unit_test(test_known_hosts_hashed),
		cmocka_unit_test(test_key_type),
		cmocka_unit_test(test_url),
		cmocka_unit_test(test_scrub),
		cmocka_unit_test(test_wire),
		cmocka_unit_test(test_wire_scan),
	};

	make_key(key1, 0);
	make_key(key2, 1);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
