/*
 * torture_bootwatch: dnsmasq 2.90's log lines (captured from real runs in
 * network namespaces: tests/unit/bootwatch/, one file per DHCP mode) into boot events and the
 * per-node table: the stage a boot reached, the files served, errors,
 * unknown serials, MAC and model from option 97, addresses tied to nodes;
 * partial lines, garbage and truncated lines; the JSON round trip; and the
 * parser's speed (lines/s, printed).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "bootwatch.h"
#include "bootwatch_follow.h"
#include "config.h"
#include "harness.h"
#include "neigh.h"
#include "../common/fsutil.h"

#define ROOT "/srv/bramble/tftp"

/* 2026-12-05 08:00:00 UTC: the captures were made that morning. */
static const time_t NOW = 1796457600;

static char *fixture(const char *name, size_t *ret_len)
{
	char path[512], *data = NULL;

	snprintf(path, sizeof(path), "%s/tests/unit/bootwatch/%s", BRAMBLE_SOURCE_DIR, name);
	assert_int_equal(file_read(path, 1 << 20, &data, ret_len), 0);
	return data;
}

static struct bootwatch *watch_known(void)
{
	struct boot_known k = {"1234abcd", true, true, {0xdc, 0xa6, 0x32, 0, 0, 1}, 0x0a63002a};
	struct bootwatch *bw = NULL;

	assert_int_equal(bootwatch_new(&bw), 0);
	assert_int_equal(bootwatch_set_tftp_root(bw, ROOT "/"), 0);
	assert_int_equal(bootwatch_set_known(bw, &k, 1), 0);
	return bw;
}

static void parse(const char *line, struct boot_event *ev)
{
	assert_int_equal(boot_line_parse(line, strlen(line), NOW, ev), 0);
}

static void test_parse_tftp(void **state)
{
	struct boot_event ev;

	(void)state;
	parse("Dec  5 07:56:09 dnsmasq-tftp[23396]: sent " ROOT
	      "/1234abcd/start4.elf to 10.99.0.42",
	      &ev);
	assert_int_equal(ev.kind, BOOT_EV_TFTP_SENT);
	assert_int_equal(ev.path_len, strlen(ROOT "/1234abcd/start4.elf"));
	assert_memory_equal(ev.path, ROOT "/1234abcd/start4.elf", ev.path_len);
	assert_true(ev.has_addr);
	assert_int_equal(ev.addr, 0x0a63002a);
	assert_int_equal(ev.time, NOW - 231); /* 07:56:09, TZ=UTC */

	parse("Dec  5 07:56:09 dnsmasq-tftp[23396]: file " ROOT
	      "/9ffefdef/start4.elf not found for 10.99.0.77",
	      &ev);
	assert_int_equal(ev.kind, BOOT_EV_TFTP_NOT_FOUND);
	assert_memory_equal(ev.path, ROOT "/9ffefdef/start4.elf", ev.path_len);
	assert_int_equal(ev.addr, 0x0a63004d);

	parse("Dec  5 07:56:09 dnsmasq-tftp[1]: failed sending " ROOT
	      "/1234abcd/kernel8.img to 10.99.0.42",
	      &ev);
	assert_int_equal(ev.kind, BOOT_EV_TFTP_FAILED);

	parse("Dec  5 07:56:09 dnsmasq-tftp[1]: error 0 Early terminate received from 10.99.0.42",
	      &ev);
	assert_int_equal(ev.kind, BOOT_EV_TFTP_CLIENT_ERROR);
	assert_int_equal(ev.code, 0);
	assert_true(ev.has_addr);

	/* a file name with " to " in it: the address is after the last one */
	parse("Dec  5 07:56:09 dnsmasq-tftp[1]: sent /a to b/x to 10.99.0.1", &ev);
	assert_int_equal(ev.path_len, strlen("/a to b/x"));
}

static void test_parse_dhcp(void **state)
{
	struct boot_event ev;

	(void)state;
	parse("Dec  5 07:56:06 dnsmasq-dhcp[23396]: 1374486643 PXE(eth0) dc:a6:32:00:00:01 proxy",
	      &ev);
	assert_int_equal(ev.kind, BOOT_EV_DHCP);
	assert_string_equal(ev.what, "PXE");
	assert_true(ev.has_xid && ev.has_mac && !ev.has_addr);
	assert_int_equal(ev.xid, 1374486643u);
	assert_int_equal(ev.mac[5], 1);

	parse("Dec  5 07:56:13 dnsmasq-dhcp[23868]: 1430746707 DHCPACK(eth0) 10.99.0.42 "
	      "dc:a6:32:00:00:01 pi-a",
	      &ev);
	assert_string_equal(ev.what, "DHCPACK");
	assert_true(ev.has_addr);
	assert_int_equal(ev.addr, 0x0a63002a);

	/* without log-dhcp: no xid */
	parse("Dec  5 07:56:13 dnsmasq-dhcp[23868]: DHCPDISCOVER(eth0) dc:a6:32:00:00:09 ", &ev);
	assert_int_equal(ev.kind, BOOT_EV_DHCP);
	assert_false(ev.has_xid);

	parse("Dec  5 07:56:09 dnsmasq-dhcp[23396]: 1419803777 sent size: 17 option: 97 "
	      "client-machine-id  00:52:50:69:35:00:d0:41:70:32:00:00:09:9f...",
	      &ev);
	assert_int_equal(ev.kind, BOOT_EV_OPT97);
	assert_string_equal(ev.fourcc, "RPi5");
	assert_int_equal(ev.mac4[3], 9);
	assert_int_equal(ev.serial0, 0x9f);

	parse("Dec  5 07:56:09 dnsmasq-dhcp[23396]: 1419803777 sent size:  4 option: 54 "
	      "server-identifier  10.99.0.1",
	      &ev);
	assert_int_equal(ev.kind, BOOT_EV_NONE);
	parse("Dec  5 07:56:04 dnsmasq[23396]: started, version 2.90 DNS disabled", &ev);
	assert_int_equal(ev.kind, BOOT_EV_STARTED);
}

/* Garbage, truncations of real lines and long lines never crash or invent events. */
static void test_parse_garbage(void **state)
{
	static const char *const lines[] = {
		"",
		"x",
		"Dec  5 07:56:09 dnsmasq-tftp[23396]: sent ",
		"Dec  5 07:56:09 dnsmasq-tftp[23396]: file  not found for ",
		"Dec  5 07:56:09 dnsmasq-tftp[99999999999]: sent /x to 1.2.3.4",
		"Dec  5 07:56:09 dnsmasq-dhcp[1]: 1 PXE(eth0 dc:a6:32:00:00:01",
		"Dec  5 07:56:09 dnsmasq-dhcp[1]: 1 sent size: 17 option: 97 client-machine-id  "
		"00:5",
		"Foo 99 99:99:99 dnsmasq-tftp[1]: sent /x to 10.0.0.1",
	};
	const char *full = "Dec  5 07:56:09 dnsmasq-tftp[23396]: file " ROOT
			   "/9ffefdef/start4.elf not found for 10.99.0.77";
	struct boot_event ev;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
		(void)boot_line_parse(lines[i], strlen(lines[i]), NOW, &ev);
	/* the garbled stamp: still a line, with the time it was read */
	assert_int_equal(ev.kind, BOOT_EV_NONE);
	for (i = 0; i < strlen(full); i++) {
		char *copy = malloc(i + 1); /* exactly i bytes: ASan sees any over-read */

		assert_non_null(copy);
		memcpy(copy, full, i);
		(void)boot_line_parse(copy, i, NOW, &ev);
		free(copy);
	}
}

static json_t *node_of(json_t *doc, const char *serial)
{
	json_t *n = json_object_get(json_object_get(doc, "nodes"), serial);

	assert_non_null(n);
	return n;
}

static const char *str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "";
}

static void check_capture(const char *name, const char *dhcp_type)
{
	struct bootwatch *bw = watch_known();
	struct bootwatch_counts c;
	size_t len = 0;
	char *data = fixture(name, &len);
	json_t *doc, *n, *u;

	assert_int_equal(bootwatch_feed(bw, data, len, NOW), (long)len);
	doc = bootwatch_to_json(bw);
	n = node_of(doc, "1234abcd");
	assert_true(json_is_true(json_object_get(n, "known")));
	/* the captures end with a second config.txt fetch after the kernel */
	assert_string_equal(str(n, "stage"), "kernel");
	assert_string_equal(str(n, "mac"), "dc:a6:32:00:00:01");
	assert_string_equal(str(n, "model"), "pi4"); /* option 97 FourCC "RPi4" */
	assert_string_equal(str(n, "address"), "10.99.0.42");
	assert_string_equal(str(json_object_get(n, "lastDhcp"), "type"), dhcp_type);
	assert_int_equal(json_array_size(json_object_get(n, "files")), 5);
	assert_string_equal(json_string_value(json_array_get(json_object_get(n, "files"), 0)),
			    "config.txt");

	u = node_of(doc, "9ffefdef");
	assert_true(json_is_false(json_object_get(u, "known")));
	/* option 97 gave "RPi5" and the serial's first byte 9f for dc:a6:32:00:00:09 */
	assert_string_equal(str(u, "mac"), "dc:a6:32:00:00:09");
	assert_string_equal(str(json_object_get(u, "lastError"), "kind"), "not found");
	assert_string_equal(str(json_object_get(u, "lastError"), "file"), "start.elf");
	assert_string_equal(str(u, "model"), "pi5"); /* option 97 outranks the files */

	bootwatch_counts(bw, &c);
	assert_int_equal(c.unknown, 1);
	assert_int_equal(c.nodes_seen, 1);
	assert_int_equal(c.by_stage[BOOT_STAGE_KERNEL], 1);
	assert_true(c.events >= 10);
	json_decref(doc);
	bootwatch_free(bw);
	free(data);
}

static void test_capture_proxy(void **state)
{
	(void)state;
	check_capture("dnsmasq-2.90-proxy.log", "PXE");
}

static void test_capture_full(void **state)
{
	(void)state;
	check_capture("dnsmasq-2.90-full.log", "DHCPACK");
}

static void feed(struct bootwatch *bw, const char *text)
{
	assert_int_equal(bootwatch_feed(bw, text, strlen(text), NOW), (long)strlen(text));
}

/* Lines may arrive cut anywhere: only whole lines are consumed. */
static void test_partial_lines(void **state)
{
	const char *l = "Dec  5 07:56:09 dnsmasq-tftp[1]: sent " ROOT "/1234abcd/config.txt to "
			"10.99.0.42\n";
	struct bootwatch *bw = watch_known();
	struct bootwatch_counts c;

	(void)state;
	assert_int_equal(bootwatch_feed(bw, l, 20, NOW), 0);
	assert_int_equal(bootwatch_feed(bw, l, strlen(l) - 1, NOW), 0);
	assert_int_equal(bootwatch_feed(bw, l, strlen(l), NOW), (long)strlen(l));
	bootwatch_counts(bw, &c);
	assert_int_equal(c.by_stage[BOOT_STAGE_CONFIG], 1);
	bootwatch_free(bw);
}

/*
 * A Pi 3 asks for bootcode.bin at the root: its address ties it to the node;
 * an unknown Pi whose address did DHCP (full mode) gets its MAC; the MAC
 * prefix directory finds a node by MAC.
 */
static void test_attribution(void **state)
{
	struct boot_known k[2] = {
		{"1234abcd", true, true, {0xb8, 0x27, 0xeb, 0, 0, 1}, 0x0a63002a},
		{"5678abcd", true, false, {0xdc, 0xa6, 0x32, 0, 0, 5}, 0},
	};
	struct bootwatch *bw = NULL;
	json_t *doc;

	(void)state;
	assert_int_equal(bootwatch_new(&bw), 0);
	assert_int_equal(bootwatch_set_tftp_root(bw, ROOT), 0);
	assert_int_equal(bootwatch_set_known(bw, k, 2), 0);
	feed(bw, "Dec  5 07:56:09 dnsmasq-tftp[1]: sent " ROOT "/bootcode.bin to 10.99.0.42\n"
		 "Dec  5 07:56:10 dnsmasq-dhcp[1]: 7 DHCPACK(eth0) 10.99.0.101 dc:a6:32:00:00:09 \n"
		 "Dec  5 07:56:11 dnsmasq-tftp[1]: file " ROOT
		 "/9ffefdef/start4.elf not found for 10.99.0.101\n"
		 "Dec  5 07:56:12 dnsmasq-tftp[1]: sent " ROOT
		 "/dc-a6-32-00-00-05/config.txt to 10.99.0.60\n");
	doc = bootwatch_to_json(bw);
	assert_string_equal(str(node_of(doc, "1234abcd"), "model"), "pi3");
	assert_string_equal(str(node_of(doc, "1234abcd"), "stage"), "firmware");
	assert_string_equal(str(node_of(doc, "9ffefdef"), "mac"), "dc:a6:32:00:00:09");
	assert_string_equal(str(node_of(doc, "5678abcd"), "stage"), "config");
	json_decref(doc);
	bootwatch_free(bw);
}

/* A fake ARP table for test_neighbour: two Pis, and how often it was asked. */
static const char arp_table[] =
	"IP address       HW type     Flags       HW address            Mask     Device\n"
	"10.99.0.91       0x1         0x2         dc:a6:32:00:00:91     *        e\n"
	"10.99.0.92       0x1         0x2         dc:a6:32:00:00:92     *        e\n"
	"10.99.0.93       0x1         0x0         00:00:00:00:00:00     *        e\n";
static unsigned neigh_calls;

static bool fake_neigh(void *ctx, uint32_t pid, uint32_t addr, uint8_t ret_mac[6])
{
	(void)ctx;
	neigh_calls++;
	assert_int_equal(pid, 77);
	return neigh_find(arp_table, strlen(arp_table), addr, ret_mac);
}

/*
 * Proxy mode, two unknown Pis whose serials start with the same byte: option
 * 97 cannot tell them apart, the ARP table can; it is asked once a boot, and
 * an incomplete entry ties nothing.
 */
static void test_neighbour(void **state)
{
	const char *lines =
		"Dec  5 07:56:06 dnsmasq-dhcp[77]: 1 PXE(eth0) dc:a6:32:00:00:91 proxy\n"
		"Dec  5 07:56:06 dnsmasq-dhcp[77]: 1 sent size: 17 option: 97 client-machine-id  "
		"00:52:50:69:34:00:c0:31:14:32:00:00:91:9f...\n"
		"Dec  5 07:56:06 dnsmasq-dhcp[77]: 2 PXE(eth0) dc:a6:32:00:00:92 proxy\n"
		"Dec  5 07:56:06 dnsmasq-dhcp[77]: 2 sent size: 17 option: 97 client-machine-id  "
		"00:52:50:69:34:00:c0:31:14:32:00:00:92:9f...\n"
		"Dec  5 07:56:07 dnsmasq-tftp[77]: file " ROOT
		"/9f000002/start4.elf not found for 10.99.0.92\n"
		"Dec  5 07:56:07 dnsmasq-tftp[77]: file " ROOT
		"/9f000001/start4.elf not found for 10.99.0.91\n"
		"Dec  5 07:56:08 dnsmasq-tftp[77]: file " ROOT
		"/9f000001/start4.elf not found for 10.99.0.91\n"
		"Dec  5 07:56:08 dnsmasq-tftp[77]: file " ROOT
		"/9f000003/start4.elf not found for 10.99.0.93\n";
	struct bootwatch *bw = watch_known();
	json_t *doc;

	(void)state;
	feed(bw, lines);
	doc = bootwatch_to_json(bw);
	/* without the table: two candidates with serial byte 0x9f, no guess */
	assert_null(json_object_get(node_of(doc, "9f000001"), "mac"));
	json_decref(doc);
	bootwatch_free(bw);

	bw = watch_known();
	neigh_calls = 0;
	bootwatch_set_neigh(bw, fake_neigh, NULL);
	feed(bw, lines);
	doc = bootwatch_to_json(bw);
	assert_string_equal(str(node_of(doc, "9f000001"), "mac"), "dc:a6:32:00:00:91");
	assert_string_equal(str(node_of(doc, "9f000002"), "mac"), "dc:a6:32:00:00:92");
	assert_string_equal(str(node_of(doc, "9f000001"), "model"), "pi4");
	assert_null(json_object_get(node_of(doc, "9f000003"), "mac"));
	assert_int_equal(neigh_calls, 3); /* 9f000001's second request asks nothing */
	json_decref(doc);
	bootwatch_free(bw);
}

/* Made-up serials from anyone on the LAN: at most 1024 unknown ones are kept. */
static void test_unknown_flood(void **state)
{
	struct bootwatch *bw = watch_known();
	struct bootwatch_counts c;
	char line[160];
	unsigned i;

	(void)state;
	for (i = 0; i < 3000; i++) {
		int n = snprintf(line, sizeof(line),
				 "Dec  5 07:56:09 dnsmasq-tftp[1]: file " ROOT
				 "/%08x/start4.elf not found for 10.99.%u.%u\n",
				 0xa0000000 + i, i >> 8, i & 255);

		assert_int_equal(bootwatch_feed(bw, line, (size_t)n, NOW), n);
	}
	feed(bw,
	     "Dec  5 07:56:10 dnsmasq-tftp[1]: sent " ROOT "/1234abcd/config.txt to 10.99.0.42\n");
	bootwatch_counts(bw, &c);
	assert_int_equal(c.unknown, 1024);
	assert_int_equal(c.by_stage[BOOT_STAGE_CONFIG], 1); /* a node is still recorded */
	bootwatch_free(bw);
}

/* A boot that read config.txt but not its kernel is mid-boot, for a while. */
static void test_mid_boot(void **state)
{
	struct bootwatch *bw = watch_known();
	time_t t = NOW - 231; /* 07:56:09 */

	(void)state;
	assert_false(bootwatch_mid_boot(bw, "1234abcd", t, 30));
	feed(bw, "Dec  5 07:56:09 dnsmasq-dhcp[1]: 1 PXE(eth0) dc:a6:32:00:00:01 proxy\n");
	assert_false(bootwatch_mid_boot(bw, "1234abcd", t, 30));
	feed(bw, "Dec  5 07:56:09 dnsmasq-tftp[1]: sent " ROOT "/1234abcd/config.txt to "
		 "10.99.0.42\n");
	assert_true(bootwatch_mid_boot(bw, "1234abcd", t + 5, 30));
	assert_false(bootwatch_mid_boot(bw, "1234abcd", t + 31, 30));
	feed(bw, "Dec  5 07:56:10 dnsmasq-tftp[1]: sent " ROOT "/1234abcd/kernel8.img to "
		 "10.99.0.42\n");
	assert_false(bootwatch_mid_boot(bw, "1234abcd", t + 2, 30));
	/* a new boot (DHCP again) starts over */
	feed(bw, "Dec  5 07:56:20 dnsmasq-dhcp[1]: 2 PXE(eth0) dc:a6:32:00:00:01 proxy\n"
		 "Dec  5 07:56:21 dnsmasq-tftp[1]: sent " ROOT "/1234abcd/start4.elf to "
		 "10.99.0.42\n");
	assert_true(bootwatch_mid_boot(bw, "1234abcd", t + 13, 30));
	bootwatch_free(bw);
}

static void test_json_round_trip(void **state)
{
	struct bootwatch *bw = watch_known(), *again = watch_known();
	size_t len = 0;
	char *data = fixture("dnsmasq-2.90-proxy.log", &len), *a, *b;
	json_t *doc, *doc2;

	(void)state;
	assert_int_equal(bootwatch_feed(bw, data, len, NOW), (long)len);
	doc = bootwatch_to_json(bw);
	assert_int_equal(bootwatch_from_json(again, doc), 0);
	doc2 = bootwatch_to_json(again);
	a = json_dumps(doc, JSON_SORT_KEYS);
	b = json_dumps(doc2, JSON_SORT_KEYS);
	assert_string_equal(a, b);
	json_decref(doc2);
	doc2 = json_object();
	assert_int_equal(bootwatch_from_json(again, doc2), -EINVAL); /* no version: not ours */
	json_decref(doc2);
	free(a);
	free(b);
	json_decref(doc);
	bootwatch_free(bw);
	bootwatch_free(again);
	free(data);
}

/* The files of serial's record in the table's JSON, as one string. */
static char *files_of(const struct bootwatch *bw, const char *serial)
{
	json_t *doc = bootwatch_to_json(bw);
	json_t *files =
		json_object_get(json_object_get(json_object_get(doc, "nodes"), serial), "files");
	char *s = json_dumps(files, JSON_COMPACT | JSON_ENCODE_ANY);

	json_decref(doc);
	assert_non_null(s);
	return s;
}

/*
 * An empty file name ("" in a hand-edited boot.json, or a "sent" line that
 * names the serial's directory itself, which dnsmasq 2.90 does not write:
 * it fails such a request) is no file served: it once made the list of
 * files loop for ever (strstr() finds "" everywhere), at start, reading
 * boot.json, or on the line.
 */
static void test_empty_file_name(void **state)
{
	const char *lines =
		"Dec  5 07:56:09 dnsmasq-tftp[1]: sent " ROOT "/1234abcd/config.txt to 10.99.0.42\n"
		"Dec  5 07:56:10 dnsmasq-tftp[1]: sent " ROOT "/1234abcd/ to 10.99.0.42\n";
	struct bootwatch *bw = watch_known(), *again = watch_known();
	json_t *doc = json_loads("{\"version\":1,\"nodes\":{\"1234abcd\":"
				 "{\"files\":[\"config.txt\",\"\"]}}}",
				 0, NULL);
	char *a, *b;

	(void)state;
	assert_non_null(doc);
	alarm(20); /* the old loop: SIGALRM ends the test, failed */
	assert_int_equal(bootwatch_feed(bw, lines, strlen(lines), NOW), (long)strlen(lines));
	assert_int_equal(bootwatch_from_json(again, doc), 0);
	alarm(0);
	a = files_of(bw, "1234abcd");
	b = files_of(again, "1234abcd");
	assert_string_equal(a, "[\"config.txt\"]");
	assert_string_equal(b, "[\"config.txt\"]");
	free(a);
	free(b);
	json_decref(doc);
	bootwatch_free(bw);
	bootwatch_free(again);
}

/*
 * 10,000 known nodes, each with a DHCP exchange and nine files: the lines/s
 * the table takes (printed; the README quotes it).  Counted, not timed, is
 * what the test checks.
 */
static void test_ten_thousand(void **state)
{
	struct boot_known *k = calloc(10000, sizeof(*k));
	char(*serials)[9] = calloc(10000, sizeof(*serials));
	static const char *const files[] = {"config.txt",  "start4.elf",	  "fixup4.dat",
					    "config.txt",  "bcm2711-rpi-4-b.dtb", "cmdline.txt",
					    "kernel8.img", "overlays/x.dtbo",	  "initramfs8"};
	struct bootwatch *bw = NULL;
	struct bootwatch_counts c;
	char line[256];
	struct timespec t0, t1;
	size_t i, j, n = 0;
	double s;

	(void)state;
	assert_non_null(k);
	assert_non_null(serials);
	for (i = 0; i < 10000; i++) {
		snprintf(serials[i], 9, "%08zx", 0x10000000 + i);
		k[i].serial = serials[i];
		k[i].has_mac = k[i].has_ip = true;
		k[i].mac[0] = 0xdc;
		k[i].mac[4] = (uint8_t)(i >> 8);
		k[i].mac[5] = (uint8_t)i;
		k[i].ip = 0x0a000000 + (uint32_t)i;
	}
	assert_int_equal(bootwatch_new(&bw), 0);
	assert_int_equal(bootwatch_set_tftp_root(bw, ROOT), 0);
	assert_int_equal(bootwatch_set_known(bw, k, 10000), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < 10000; i++) {
		int len = snprintf(line, sizeof(line),
				   "Dec  5 07:56:06 dnsmasq-dhcp[1]: %zu PXE(eth0) "
				   "dc:00:00:00:%02x:%02x proxy\n",
				   i, (unsigned)(i >> 8 & 255), (unsigned)(i & 255));

		assert_int_equal(bootwatch_feed(bw, line, (size_t)len, NOW), len);
		n++;
		for (j = 0; j < sizeof(files) / sizeof(files[0]); j++) {
			len = snprintf(line, sizeof(line),
				       "Dec  5 07:56:07 dnsmasq-tftp[1]: sent " ROOT
				       "/%s/%s to 10.0.%zu.%zu\n",
				       serials[i], files[j], i >> 8, i & 255);
			assert_int_equal(bootwatch_feed(bw, line, (size_t)len, NOW), len);
			n++;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	bootwatch_counts(bw, &c);
	assert_int_equal(c.by_stage[BOOT_STAGE_KERNEL], 10000);
	assert_int_equal(c.unknown, 0);
	printf("bootwatch: %zu lines for 10,000 nodes in %.3f s: %.0f lines/s\n", n, s,
	       (double)n / s);
	bootwatch_free(bw);
	free(k);
	free(serials);
}

static void append(const char *path, const char *text, const char *mode)
{
	FILE *f = fopen(path, mode);

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static unsigned events_of(struct boot_follow *f)
{
	struct bootwatch_counts c;

	bootwatch_counts(boot_follow_table(f), &c);
	return (unsigned)c.events;
}

/*
 * The follower: only new bytes are read; a truncated log (copytruncate) is
 * read again from its start; a rotated one (moved, a new file) is finished,
 * then the new one read; a reopened follower goes on from the saved offset.
 */
static void test_follow(void **state)
{
	char dir[] = "/tmp/torture_bootwatch.XXXXXX", log[300], moved[300];
	const char *l1 = "Dec  5 07:56:09 dnsmasq-tftp[1]: sent " ROOT "/1234abcd/config.txt to "
			 "10.99.0.42\n";
	struct bramble_config cfg;
	struct boot_follow *f = NULL;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(log, sizeof(log), "%s/dnsmasq.log", dir);
	snprintf(moved, sizeof(moved), "%s/dnsmasq.log.1", dir);
	assert_int_equal(config_init(&cfg), 0);
	assert_int_equal(config_set(&cfg.state_dir, dir), 0);
	assert_int_equal(config_set(&cfg.tftp_root, ROOT), 0);
	assert_int_equal(config_set(&cfg.dhcp_log_file, log), 0);
	assert_int_equal(boot_follow_open(&cfg, &f), 0);
	assert_false(boot_follow_poll(f, NOW)); /* no log yet */
	append(log, l1, "w");
	append(log, "Dec  5 07:56:09 dnsmasq-tftp[1]: sent " ROOT "/1234abcd/start", "a");
	assert_true(boot_follow_poll(f, NOW));
	assert_int_equal(events_of(f), 1);
	append(log, "4.elf to 10.99.0.42\n", "a"); /* the rest of the line */
	boot_follow_poll(f, NOW);
	assert_int_equal(events_of(f), 2);
	boot_follow_poll(f, NOW);
	assert_int_equal(events_of(f), 2);     /* nothing new: nothing read twice */
	assert_int_equal(truncate(log, 0), 0); /* copytruncate */
	append(log, l1, "a");
	boot_follow_poll(f, NOW);
	assert_int_equal(events_of(f), 3);
	append(log, l1, "a");
	assert_int_equal(rename(log, moved), 0); /* rotation: the old file got one more line */
	append(log, l1, "w");
	boot_follow_poll(f, NOW);
	assert_int_equal(events_of(f), 5);
	assert_int_equal(boot_follow_save(f, true), 0);
	boot_follow_close(f);
	f = NULL;
	/* a restart: from the saved position, on the same file */
	assert_int_equal(boot_follow_open(&cfg, &f), 0);
	assert_int_equal(events_of(f), 5);
	append(log, l1, "a");
	boot_follow_poll(f, NOW);
	assert_int_equal(events_of(f), 6);
	boot_follow_close(f);
	config_release(&cfg);
	assert_int_equal(harness_run("rm -rf '%s'", dir), 0);
}

/*
 * The known nodes as the follower reads them from nodes.json: an address or
 * a MAC not as bramble writes it is none ("10.99.0.298" once stood for
 * 10.99.0.42, whose boots went to the wrong node).
 */
static void test_known_strict(void **state)
{
	char dir[] = "/tmp/torture_bootwatch.XXXXXX", path[300];
	struct bramble_config cfg;
	struct boot_follow *f = NULL;
	json_t *doc;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/nodes.json", dir);
	append(path,
	       "[{\"serial\":\"1234abcd\",\"ip\":\"10.99.0.298\",\"mac\":\"dc:a6:32:00:00:1\"},"
	       "{\"serial\":\"2345bcde\",\"ip\":\"10.99.0.43\",\"mac\":\"dc:a6:32:00:00:02\"}]",
	       "w");
	snprintf(path, sizeof(path), "%s/dnsmasq.log", dir);
	append(path,
	       "Dec  5 07:56:09 dnsmasq-tftp[1]: sent " ROOT "/bootcode.bin to 10.99.0.42\n"
	       "Dec  5 07:56:09 dnsmasq-tftp[1]: sent " ROOT "/bootcode.bin to 10.99.0.43\n",
	       "w");
	assert_int_equal(config_init(&cfg), 0);
	assert_int_equal(config_set(&cfg.state_dir, dir), 0);
	assert_int_equal(config_set(&cfg.tftp_root, ROOT), 0);
	assert_int_equal(config_set(&cfg.dhcp_log_file, path), 0);
	assert_int_equal(boot_follow_open(&cfg, &f), 0);
	assert_true(boot_follow_poll(f, NOW));
	doc = bootwatch_to_json(boot_follow_table(f));
	assert_null(json_object_get(json_object_get(doc, "nodes"), "1234abcd"));
	assert_string_equal(str(node_of(doc, "2345bcde"), "stage"), "firmware");
	json_decref(doc);
	boot_follow_close(f);
	config_release(&cfg);
	assert_int_equal(harness_run("rm -rf '%s'", dir), 0);
}

/*
 * nodes.json read a node at a time (json_each.h): a file cut short is no
 * list of nodes, and the known nodes stay those of the last whole one.
 */
static void test_known_damaged(void **state)
{
	char dir[] = "/tmp/torture_bootwatch.XXXXXX", path[300], log[300];
	struct bramble_config cfg;
	struct boot_follow *f = NULL;
	json_t *doc;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/nodes.json", dir);
	snprintf(log, sizeof(log), "%s/dnsmasq.log", dir);
	append(path, "[{\"serial\":\"2345bcde\",\"ip\":\"10.99.0.43\"}]", "w");
	assert_int_equal(config_init(&cfg), 0);
	assert_int_equal(config_set(&cfg.state_dir, dir), 0);
	assert_int_equal(config_set(&cfg.tftp_root, ROOT), 0);
	assert_int_equal(config_set(&cfg.dhcp_log_file, log), 0);
	assert_int_equal(boot_follow_open(&cfg, &f), 0);
	/* Replaced by a file cut short that names another node first. */
	append(path, "[{\"serial\":\"1234abcd\",\"ip\":\"10.99.0.42\"},{\"serial\":\"34", "w");
	boot_follow_refresh_known(f);
	append(log,
	       "Dec  5 07:56:09 dnsmasq-tftp[1]: sent " ROOT "/bootcode.bin to 10.99.0.42\n"
	       "Dec  5 07:56:09 dnsmasq-tftp[1]: sent " ROOT "/bootcode.bin to 10.99.0.43\n",
	       "w");
	assert_true(boot_follow_poll(f, NOW));
	doc = bootwatch_to_json(boot_follow_table(f));
	assert_null(json_object_get(json_object_get(doc, "nodes"), "1234abcd"));
	assert_string_equal(str(node_of(doc, "2345bcde"), "stage"), "firmware");
	json_decref(doc);
	/* Whole again: the new list is taken. */
	append(path, "[{\"serial\":\"1234abcd\",\"ip\":\"10.99.0.42\"}]", "w");
	boot_follow_refresh_known(f);
	append(log, "Dec  5 07:56:10 dnsmasq-tftp[1]: sent " ROOT "/bootcode.bin to 10.99.0.42\n",
	       "a");
	assert_true(boot_follow_poll(f, NOW));
	doc = bootwatch_to_json(boot_follow_table(f));
	assert_string_equal(str(node_of(doc, "1234abcd"), "stage"), "firmware");
	json_decref(doc);
	boot_follow_close(f);
	config_release(&cfg);
	assert_int_equal(harness_run("rm -rf '%s'", dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_tftp),	cmocka_unit_test(test_parse_dhcp),
		cmocka_unit_test(test_parse_garbage),	cmocka_unit_test(test_capture_proxy),
		cmocka_unit_test(test_capture_full),	cmocka_unit_test(test_partial_lines),
		cmocka_unit_test(test_attribution),	cmocka_unit_test(test_mid_boot),
		cmocka_unit_test(test_unknown_flood),	cmocka_unit_test(test_neighbour),
		cmocka_unit_test(test_follow),		cmocka_unit_test(test_json_round_trip),
		cmocka_unit_test(test_empty_file_name), cmocka_unit_test(test_known_strict),
		cmocka_unit_test(test_known_damaged),	cmocka_unit_test(test_ten_thousand),
	};

	setenv("TZ", "UTC", 1);
	tzset();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
