/*
 * fuzz_bootlog: arbitrary bytes as the dnsmasq log the daemon follows
 * (controller/bootwatch.c: boot_line_parse() and the boot table behind
 * bootwatch_feed()).  The log is written by dnsmasq, but what it logs comes
 * from the wire: a Pi's or anyone's DHCP options, MAC, the TFTP file names
 * a client asks for.
 *
 * The first byte of the input says where the rest is cut in two, and the
 * two parts are fed one after the other, the unconsumed end of the first
 * (a partial line) before the second, as the follower reads a growing file.
 * The table knows three nodes (one by MAC and address, one by MAC, one by
 * address) and a fake neighbour table answers for odd addresses.  Then each
 * piece of news is read, the counts taken, each known node asked whether it
 * is mid-boot, and the table written as JSON, loaded into a new table and
 * written again: the two documents must be equal (a crash otherwise).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "bootwatch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NOW  1796457600 /* 2026-12-05 08:00 UTC: the seeds' morning */
#define ROOT "/srv/bramble/tftp"

static const struct boot_known known[] = {
	{"1234abcd", true, true, {0xdc, 0xa6, 0x32, 0, 0, 1}, 0x0a63002a},
	{"5678abcd", true, false, {0xb8, 0x27, 0xeb, 0, 0, 5}, 0},
	{"9abc0123", false, true, {0}, 0x0a630033},
};

/* Odd addresses have a neighbour entry, made of the address. */
static bool neigh(void *ctx, uint32_t pid, uint32_t addr, uint8_t ret_mac[6])
{
	(void)ctx;
	(void)pid;
	if (!(addr & 1))
		return false;
	ret_mac[0] = 0xdc;
	ret_mac[1] = 0xa6;
	ret_mac[2] = 0x32;
	ret_mac[3] = (uint8_t)(addr >> 16);
	ret_mac[4] = (uint8_t)(addr >> 8);
	ret_mac[5] = (uint8_t)addr;
	return true;
}

/* Read every field of a piece of news, as the daemon's notification does. */
static void on_news(void *ctx, const struct boot_news *n)
{
	size_t *total = ctx;

	*total += strlen(n->serial) + strlen(n->model) + (size_t)n->stage + (n->has_mac ? 6 : 0);
}

static struct bootwatch *table(void)
{
	struct bootwatch *bw = NULL;

	if (bootwatch_new(&bw) < 0)
		return NULL;
	if (bootwatch_set_tftp_root(bw, ROOT) < 0 ||
	    bootwatch_set_known(bw, known, sizeof(known) / sizeof(known[0])) < 0) {
		bootwatch_free(bw);
		return NULL;
	}
	bootwatch_set_neigh(bw, neigh, NULL);
	return bw;
}

/* Feed data cut at cut, the first part's partial line carried over. */
static void feed(struct bootwatch *bw, const char *data, size_t len, size_t cut)
{
	long used = bootwatch_feed(bw, data, cut, NOW);

	if (used < 0 || (size_t)used > cut)
		abort();
	used = bootwatch_feed(bw, data + used, len - (size_t)used, NOW + 30);
	(void)used;
}

/* The table's JSON, loaded into a new table and written again, is the same. */
static void round_trip(const struct bootwatch *bw)
{
	struct bootwatch *again = table();
	json_t *doc = bootwatch_to_json(bw), *doc2 = NULL;

	if (!again || !doc) {
		json_decref(doc);
		bootwatch_free(again);
		return;
	}
	if (bootwatch_from_json(again, doc) == 0) {
		doc2 = bootwatch_to_json(again);
		if (doc2 && !json_equal(doc, doc2))
			abort();
	}
	json_decref(doc2);
	json_decref(doc);
	bootwatch_free(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bootwatch *bw;
	struct bootwatch_counts c;
	size_t i, cut, news = 0;

	if (size < 1)
		return 0;
	bw = table();
	if (!bw)
		return 0;
	cut = size > 1 ? data[0] % size : 0;
	feed(bw, (const char *)data + 1, size - 1, cut < size - 1 ? cut : size - 1);
	bootwatch_news(bw, NOW + 120, 60, on_news, &news);
	bootwatch_counts(bw, &c);
	for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		news += bootwatch_mid_boot(bw, known[i].serial, NOW + 60, 90);
	round_trip(bw);
	bootwatch_free(bw);
	return news == (size_t)-1; /* keeps news alive; never true */
}
