/*
 * torture_wire: the wire clients under bramble doctor (common/pi_wire.c,
 * tftp_client.c, rpc_client.c).  pi_wire: the Pi's DHCP packet carries
 * options 60/93/94/97 as the bootloader sends them, option parsing stops at
 * a truncated option, the PXE menu is found in dnsmasq's real option 43 (a
 * Pi 3 needs it padded), file order and paths.  The TFTP and RPC clients
 * talk to a child process on 127.0.0.1 (an ephemeral port): an OACK and a
 * two-block file, "not found", silence (a bounded timeout); a GETPORT and an
 * export list (groups, several entries), and a reply with another xid.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../common/pi_wire.h"
#include "../../common/rpc_client.h"
#include "../../common/tftp_client.h"

/* dnsmasq 2.90's option 43 for pxe-service=0,"Raspberry Pi Boot" (TESTBED.md §2). */
static const uint8_t opt43[] = {6,   1,	  3,   10,  4,	 0,   'P', 'X', 'E', 9,	  20,
				0,   0,	  17,  'R', 'a', 's', 'p', 'b', 'e', 'r', 'r',
				'y', ' ', 'P', 'i', ' ', 'B', 'o', 'o', 't', 255};

static void test_dhcp_packet(void **state)
{
	struct pi_id pi = {
		.board = PI_BOARD_4, .mac = {0xdc, 0xa6, 0x32, 1, 2, 3}, .serial = 0x1234abcd};
	uint8_t b[PI_DHCP_PKT_MAX], len = 0;
	const uint8_t *o;
	size_t n;

	(void)state;
	n = pi_dhcp_build(b, &pi, 0x01020304, 1, NULL, NULL);
	assert_true(n >= 300 && n <= PI_DHCP_PKT_MAX); /* BOOTP minimum, all options */
	assert_int_equal(b[n - 1], 255);
	assert_int_equal(b[0], 1);
	assert_memory_equal(b + 4, "\x01\x02\x03\x04", 4);
	assert_memory_equal(b + 28, pi.mac, 6);
	o = dhcp_find_opt(b, n, 53, &len);
	assert_non_null(o);
	assert_int_equal(o[0], 1);
	o = dhcp_find_opt(b, n, 60, &len);
	assert_non_null(o);
	assert_int_equal(len, 32);
	assert_memory_equal(o, "PXEClient:Arch:00000:UNDI:002001", 32);
	o = dhcp_find_opt(b, n, 93, &len);
	assert_true(o && len == 2 && o[0] == 0 && o[1] == 0);
	o = dhcp_find_opt(b, n, 97, &len);
	assert_true(o && len == 17);
	assert_memory_equal(o + 1, "RPi4", 4);
	assert_memory_equal(o + 9, "\x32\x01\x02\x03\x12\x34\xab\xcd", 8);
	assert_null(dhcp_find_opt(b, n, 50, &len)); /* a DISCOVER asks for no address */
	n = pi_dhcp_build(b, &pi, 1, 3, &(struct in_addr){htonl(0x0a63002a)},
			  &(struct in_addr){htonl(0x0a630001)});
	o = dhcp_find_opt(b, n, 50, &len);
	assert_true(o && len == 4 && o[3] == 0x2a);
	/* an option running past the end is not found */
	b[240] = 60, b[241] = 200;
	assert_null(dhcp_find_opt(b, 250, 60, &len));
}

static void test_menu(void **state)
{
	uint8_t padded[sizeof(opt43) + 3];

	(void)state;
	assert_true(pi_menu_ok(PI_BOARD_4, opt43, sizeof(opt43)));
	assert_true(pi_menu_ok(PI_BOARD_5, opt43, sizeof(opt43)));
	assert_false(pi_menu_ok(PI_BOARD_3, opt43, sizeof(opt43))); /* not padded to 20 */
	memcpy(padded, opt43, 13);
	padded[10] = 23, padded[13] = 20;
	memcpy(padded + 14, "Raspberry Pi Boot   ", 20);
	padded[34] = 255;
	assert_true(pi_menu_ok(PI_BOARD_3, padded, 35));
	assert_false(pi_menu_ok(PI_BOARD_4, opt43, 20)); /* cut inside the menu */
	assert_false(pi_menu_ok(PI_BOARD_4, (const uint8_t *)"\x09\x05\x00\x00\x40xx", 7));
}

static void test_files(void **state)
{
	const char *const *v = pi_boot_files(PI_BOARD_4);
	char out[32];
	bool optional = false;

	(void)state;
	assert_string_equal(v[0], "config.txt");
	assert_string_equal(v[1], "start4.elf");
	assert_string_equal(v[6], "kernel8.img");
	assert_null(v[7]);
	assert_int_equal(pi_boot_file_path("?/bootsig.bin", "1234abcd", out, 32, &optional), 0);
	assert_string_equal(out, "bootsig.bin");
	assert_true(optional);
	assert_int_equal(pi_boot_file_path("cmdline.txt", "1234abcd", out, 32, &optional), 0);
	assert_string_equal(out, "1234abcd/cmdline.txt");
	assert_false(optional);
	assert_int_equal(pi_boot_file_path("cmdline.txt", "1234abcd", out, 12, &optional),
			 -ENAMETOOLONG);
}

/* A socket on 127.0.0.1 with an ephemeral port. */
static int loopback_socket(int type, uint16_t *ret_port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	*ret_port = ntohs(sa.sin_port);
	return fd;
}

/* The child's TFTP server: RRQ "a" gets an OACK and 600 bytes in two blocks, "b" error 1, "c" silence. */
static void tftp_server(int fd)
{
	uint8_t b[2048], data[600];
	struct sockaddr_in from;
	socklen_t fl;
	ssize_t n;
	int k;

	memset(data, 'x', sizeof(data));
	for (k = 0; k < 3; k++) {
		fl = sizeof(from);
		n = recvfrom(fd, b, sizeof(b), 0, (struct sockaddr *)&from, &fl);
		if (n < 4)
			_exit(1);
		if (b[2] == 'b')
			sendto(fd, "\0\5\0\1no such file\0", 18, 0, (struct sockaddr *)&from, fl);
		if (b[2] != 'a')
			continue;
		sendto(fd,
		       "\0\6blksize\0"
		       "512\0",
		       14, 0, (struct sockaddr *)&from, fl);
		recv(fd, b, sizeof(b), 0); /* ACK 0 */
		memcpy(b, "\0\3\0\1", 4), memcpy(b + 4, data, 512);
		sendto(fd, b, 516, 0, (struct sockaddr *)&from, fl);
		recv(fd, b, sizeof(b), 0);
		memcpy(b, "\0\3\0\2", 4), memcpy(b + 4, data + 512, 88);
		sendto(fd, b, 92, 0, (struct sockaddr *)&from, fl);
		recv(fd, b, sizeof(b), 0);
	}
	_exit(0);
}

static void test_tftp(void **state)
{
	struct tftp_get g = {.timeout_ms = 2000};
	struct buf data = BUF_INIT;
	uint16_t port;
	int fd = loopback_socket(SOCK_DGRAM, &port), st;
	pid_t pid;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		tftp_server(fd);
	close(fd);
	g.server.s_addr = htonl(INADDR_LOOPBACK);
	g.port = port;
	assert_int_equal(tftp_get_file(&g, "a", &data), 0);
	assert_int_equal(data.len, 600);
	assert_int_equal(g.blksize_used, 512);
	assert_int_equal(tftp_get_file(&g, "b", &data), -ENOENT);
	assert_int_equal(g.error_code, 1);
	assert_non_null(strstr(g.error, "no such file"));
	g.timeout_ms = 300;
	assert_int_equal(tftp_get_file(&g, "c", &data), -ETIMEDOUT);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	buf_release(&data);
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* One accepted connection: read the call, answer body (after the accepted header). */
static void rpc_answer(int lfd, const uint32_t *body, size_t n, bool wrong_xid)
{
	uint8_t in[4096], out[512];
	int c = accept(lfd, NULL, NULL);
	size_t i;

	if (c < 0 || read(c, in, sizeof(in)) < 12)
		_exit(1);
	put32(out, 0x80000000u | (uint32_t)(24 + 4 * n));
	memcpy(out + 4, in + 4, 4); /* the xid */
	if (wrong_xid)
		out[7] ^= 1;
	put32(out + 8, 1), put32(out + 12, 0), put32(out + 16, 0), put32(out + 20, 0);
	put32(out + 24, 0);
	for (i = 0; i < n; i++)
		put32(out + 28 + 4 * i, body[i]);
	if (write(c, out, 28 + 4 * n) < 0)
		_exit(1);
	close(c);
}

static void test_rpc(void **state)
{
	/* two exports: "/a" to 10.99.0.42, "/bb" to nobody listed */
	static const uint32_t exports[] = {1,	       2,	   0x2f610000, 1, 10,
					   0x31302e39, 0x392e302e, 0x34320000, 0, 1,
					   3,	       0x2f626200, 0,	       0};
	static const uint32_t port[] = {2049};
	struct rpc_target t = {.timeout_ms = 2000};
	struct rpc_export *v = NULL;
	size_t n = 0;
	uint16_t got = 0, lport;
	int lfd = loopback_socket(SOCK_STREAM, &lport), st;
	pid_t pid;

	(void)state;
	assert_int_equal(listen(lfd, 4), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		rpc_answer(lfd, port, 1, false);
		rpc_answer(lfd, exports, sizeof(exports) / 4, false);
		rpc_answer(lfd, port, 1, true);
		_exit(0);
	}
	close(lfd);
	t.server.s_addr = htonl(INADDR_LOOPBACK);
	t.port = lport;
	assert_int_equal(rpc_pmap_getport(&t, RPC_PROG_MOUNT, 3, &got), 0);
	assert_int_equal(got, 2049);
	assert_int_equal(rpc_mount_exports(&t, &v, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(v[0].path, "/a");
	assert_int_equal(v[0].n_groups, 1);
	assert_string_equal(v[0].groups[0], "10.99.0.42");
	assert_string_equal(v[1].path, "/bb");
	assert_int_equal(v[1].n_groups, 0);
	rpc_exports_free(v, n);
	assert_int_equal(rpc_pmap_getport(&t, RPC_PROG_MOUNT, 3, &got), -EPROTO);
	assert_int_equal(waitpid(pid, &st, 0), pid);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dhcp_packet), cmocka_unit_test(test_menu),
		cmocka_unit_test(test_files),	    cmocka_unit_test(test_tftp),
		cmocka_unit_test(test_rpc),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
