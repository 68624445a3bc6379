/*
 * pi_wire: what a Raspberry Pi's boot ROM or EEPROM bootloader puts on the
 * wire (NETBOOT.md §1-2), shared by `bramble doctor --as-pi` and the
 * simulated Pis of the tests (tests/tools/pistorm.c): the DHCP packet with
 * options 60, 93, 94 and 97, the PXE menu it looks for in option 43, and the
 * order in which it asks for its boot files over TFTP.
 *
 * Self-contained (libc only), so that a test tool can compile it in.
 */
#ifndef BRAMBLE_PI_WIRE_H
#define BRAMBLE_PI_WIRE_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PI_PXE_MENU	"Raspberry Pi Boot"
#define PI_DHCP_PKT_MAX 548 /* the largest packet pi_dhcp_build writes */

enum pi_board {
	PI_BOARD_3, /* boot ROM: bootcode.bin at the TFTP root, no DHCPREQUEST */
	PI_BOARD_4,
	PI_BOARD_5,
};

/* One Pi as the DHCP server sees it. */
struct pi_id {
	enum pi_board board;
	uint8_t mac[6];
	uint32_t serial; /* the 8 hex digits of the serial number */
};

/*
 * Write the Pi's DHCP packet of the given type (1 DISCOVER, 3 REQUEST; a
 * REQUEST names req_ip and server_id, which may be NULL otherwise) into b,
 * which holds PI_DHCP_PKT_MAX bytes.  Returns the length to send.
 */
size_t pi_dhcp_build(uint8_t b[PI_DHCP_PKT_MAX], const struct pi_id *pi, uint32_t xid, uint8_t type,
		     const struct in_addr *req_ip, const struct in_addr *server_id);

/* Option code of a DHCP packet (b, n bytes): its data and length, or NULL. */
const uint8_t *dhcp_find_opt(const uint8_t *b, size_t n, uint8_t code, uint8_t *ret_len);

/*
 * Whether option 43 (o, n bytes) carries the boot menu the board looks for:
 * sub-option 9 with an item holding "Raspberry Pi Boot" (a Pi 3's ROM
 * compares 20 bytes: the text padded with three spaces).
 */
bool pi_menu_ok(enum pi_board board, const uint8_t *o, uint8_t n);

/*
 * The board's TFTP requests in the bootloader's order, NULL-terminated.  A
 * name starting with '/' is asked for at the TFTP root, any other under the
 * Pi's prefix directory; a leading '?' marks a probe that "not found" may
 * answer (pi_boot_file_path strips both marks).
 */
const char *const *pi_boot_files(enum pi_board board);

/*
 * The path the Pi asks for: entry under dir (its serial or MAC directory),
 * or at the root.  *ret_optional: "not found" is a normal answer.  Returns 0,
 * or -ENAMETOOLONG when out (size bytes) is too small.
 */
int pi_boot_file_path(const char *entry, const char *dir, char *out, size_t size,
		      bool *ret_optional);

#endif
