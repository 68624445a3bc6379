/*
 * doctor_dhcp: a Pi's DHCPDISCOVER (or REQUEST) sent on an interface, and
 * every answer collected for a while, for doctor_dhcp.c and doctor_as_pi.c.
 */
#ifndef BRAMBLE_DOCTOR_DHCP_H
#define BRAMBLE_DOCTOR_DHCP_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/pi_wire.h"

#define DHCP_ANSWERS_MAX 16

struct dhcp_answer {
	uint8_t type;	       /* 2 OFFER, 5 ACK, 6 NAK */
	struct in_addr from;   /* the packet's source address */
	struct in_addr server; /* option 54, else from */
	struct in_addr yiaddr; /* 0.0.0.0 in a proxy answer */
	struct in_addr siaddr; /* next server */
	struct in_addr opt66;  /* TFTP server; 0.0.0.0 when absent */
	bool menu;	       /* option 43 has the menu the board wants */
};

/*
 * Send the Pi's packet (type 1 DISCOVER, 3 REQUEST of req_ip from server_id)
 * on iface from port 68, every second, and collect the answers to it for
 * wait_ms.  Needs root (port 68, SO_BINDTODEVICE).  Returns 0 or -errno.
 */
int doctor_dhcp_exchange(const char *iface, const struct pi_id *pi, uint8_t type,
			 const struct in_addr *req_ip, const struct in_addr *server_id,
			 unsigned wait_ms, struct dhcp_answer *v, size_t *ret_n);

#endif
