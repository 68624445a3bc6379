#include "pi_wire.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

static size_t put_opt(uint8_t *b, size_t at, uint8_t code, const void *data, uint8_t len)
{
	b[at] = code;
	b[at + 1] = len;
	memcpy(b + at + 2, data, len);
	return at + 2 + len;
}

/* Option 97: type 0 and 16 bytes.  Pi 4/5: FourCC, board revision, low MAC
 * bytes, serial (DHCP_OPTION97); Pi 3B+: the serial four times. */
static void client_guid(const struct pi_id *pi, uint8_t out[17])
{
	uint8_t s[4] = {(uint8_t)(pi->serial >> 24), (uint8_t)(pi->serial >> 16),
			(uint8_t)(pi->serial >> 8), (uint8_t)pi->serial};
	int i;

	out[0] = 0;
	if (pi->board == PI_BOARD_3) {
		for (i = 0; i < 4; i++)
			memcpy(out + 1 + 4 * i, s, 4);
		return;
	}
	memcpy(out + 1, pi->board == PI_BOARD_4 ? "RPi4" : "RPi5", 4);
	memcpy(out + 5, pi->board == PI_BOARD_4 ? "\x00\xc0\x31\x14" : "\x00\xd0\x41\x70", 4);
	memcpy(out + 9, pi->mac + 2, 4);
	memcpy(out + 13, s, 4);
}

size_t pi_dhcp_build(uint8_t b[PI_DHCP_PKT_MAX], const struct pi_id *pi, uint32_t xid, uint8_t type,
		     const struct in_addr *req_ip, const struct in_addr *server_id)
{
	static const uint8_t prl[] = {1,  3,  6,  12,  15,  28,	 43,  51,  54,	58,  59,
				      60, 66, 67, 128, 129, 130, 131, 132, 133, 134, 135};
	static const char vendor[] = "PXEClient:Arch:00000:UNDI:002001";
	uint32_t nxid = htonl(xid);
	uint16_t flags = htons(0x8000); /* broadcast the answer */
	uint8_t guid[17];
	size_t at = 240;

	memset(b, 0, PI_DHCP_PKT_MAX);
	b[0] = 1, b[1] = 1, b[2] = 6;
	memcpy(b + 4, &nxid, 4);
	memcpy(b + 10, &flags, 2);
	memcpy(b + 28, pi->mac, 6);
	memcpy(b + 236, "\x63\x82\x53\x63", 4);
	at = put_opt(b, at, 53, &type, 1);
	if (req_ip)
		at = put_opt(b, at, 50, req_ip, 4);
	if (server_id)
		at = put_opt(b, at, 54, server_id, 4);
	at = put_opt(b, at, 55, prl, sizeof(prl));
	at = put_opt(b, at, 60, vendor, sizeof(vendor) - 1);
	at = put_opt(b, at, 93, "\x00\x00", 2);
	at = put_opt(b, at, 94, "\x01\x02\x01", 3);
	client_guid(pi, guid);
	at = put_opt(b, at, 97, guid, 17);
	b[at++] = 255;
	return at < 300 ? 300 : at;
}

const uint8_t *dhcp_find_opt(const uint8_t *b, size_t n, uint8_t code, uint8_t *ret_len)
{
	size_t i = 240;

	while (i + 1 < n && b[i] != 255) {
		if (b[i] == 0) {
			i++;
			continue;
		}
		if (i + 2 + b[i + 1] > n)
			break;
		if (b[i] == code) {
			*ret_len = b[i + 1];
			return b + i + 2;
		}
		i += 2 + b[i + 1];
	}
	return NULL;
}

/* Whether one menu item (type, type, length, text) is the one the board wants. */
static bool menu_item_ok(enum pi_board board, const uint8_t *item, uint8_t len)
{
	const size_t want = sizeof(PI_PXE_MENU) - 1;

	if (len < want || !memmem(item + 3, len, PI_PXE_MENU, want))
		return false;
	return board != PI_BOARD_3 || (len == 20 && memcmp(item + 20, "   ", 3) == 0);
}

bool pi_menu_ok(enum pi_board board, const uint8_t *o, uint8_t n)
{
	size_t i = 0, j;

	while (i + 1 < n && o[i] != 255) {
		if (o[i] == 0) {
			i++;
			continue;
		}
		for (j = 0; o[i] == 9 && j + 3 <= o[i + 1] && i + 2 + o[i + 1] <= n;) {
			const uint8_t *item = o + i + 2 + j;
			uint8_t len = item[2];

			if (j + 3 + len > o[i + 1])
				break;
			if (menu_item_ok(board, item, len))
				return true;
			j += 3 + (size_t)len;
		}
		i += 2 + (size_t)o[i + 1];
	}
	return false;
}

const char *const *pi_boot_files(enum pi_board board)
{
	static const char *const pi3[] = {
		"/bootcode.bin", "?/bootsig.bin", "start.elf",
		"config.txt",	 "fixup.dat",	  "bcm2710-rpi-3-b-plus.dtb",
		"cmdline.txt",	 "kernel8.img",	  NULL};
	static const char *const pi4[] = {
		"config.txt",	       "start4.elf",  "fixup4.dat",  "config.txt",
		"bcm2711-rpi-4-b.dtb", "cmdline.txt", "kernel8.img", NULL};
	static const char *const pi5[] = {"config.txt", "kernel_2712.img", "bcm2712-rpi-5-b.dtb",
					  "cmdline.txt", NULL};

	return board == PI_BOARD_3 ? pi3 : board == PI_BOARD_4 ? pi4 : pi5;
}

int pi_boot_file_path(const char *entry, const char *dir, char *out, size_t size,
		      bool *ret_optional)
{
	bool optional = entry[0] == '?';
	int n;

	if (optional)
		entry++;
	if (entry[0] == '/')
		n = snprintf(out, size, "%s", entry + 1);
	else
		n = snprintf(out, size, "%s/%s", dir, entry);
	if (n < 0 || (size_t)n >= size)
		return -ENAMETOOLONG;
	*ret_optional = optional;
	return 0;
}
