/*
 * netaddr: strict parsing of the network addresses manifests contain.
 *
 * Only the canonical spellings are accepted: dotted quads with decimal octets
 * and no leading zeros ("10.0.0.1", not "010.0.0.1" or "10.1"), CIDR as
 * "a.b.c.d/n", and MACs as six pairs of hex digits separated by ':' or '-'
 * (one separator throughout, any case).  Addresses are in host byte order.
 */
#ifndef BRAMBLE_NETADDR_H
#define BRAMBLE_NETADDR_H

#include <stdbool.h>
#include <stdint.h>

#define IPV4_STR_MAX 16 /* "255.255.255.255" + NUL */
#define CIDR_STR_MAX 19 /* "255.255.255.255/32" + NUL */
#define MAC_STR_MAX  18 /* "dc:a6:32:01:36:c2" + NUL */

/* Parse a dotted quad; 0 or -EINVAL. */
int ipv4_parse(const char *s, uint32_t *ret);
/* Write ip as a dotted quad. */
void ipv4_format(uint32_t ip, char out[IPV4_STR_MAX]);

/*
 * Parse "a.b.c.d/n" into the address as written and the prefix length;
 * 0 or -EINVAL.  Host bits are not checked here: see ipv4_mask().
 */
int cidr_parse(const char *s, uint32_t *ret_addr, unsigned *ret_len);
/* Write "a.b.c.d/n". */
void cidr_format(uint32_t net, unsigned len, char out[CIDR_STR_MAX]);

/* The netmask of a prefix length (0..32). */
uint32_t ipv4_mask(unsigned len);
/* Whether ip is inside net/len. */
bool ipv4_in_subnet(uint32_t ip, uint32_t net, unsigned len);
/* The broadcast address of a subnet. */
uint32_t ipv4_broadcast(uint32_t net, unsigned len);
/*
 * What no Pi's network can use for a host or a server: "this network"
 * (0.0.0.0/8), loopback (127.0.0.0/8), multicast (224.0.0.0/4) and the
 * reserved 240.0.0.0/4 with the limited broadcast.  Returns the name of the
 * block ip is in, or NULL.
 */
const char *ipv4_special(uint32_t ip);
/* Whether a MAC address can be a Pi's: not a group (multicast, broadcast) one, not all zero. */
bool mac_is_unicast(const uint8_t mac[6]);

/* Parse a MAC address; 0 or -EINVAL. */
int mac_parse(const char *s, uint8_t mac[6]);
/* Lower case, colon separated. */
void mac_format(const uint8_t mac[6], char out[MAC_STR_MAX]);

#endif
