/*
 * neigh: the server's ARP table, read from /proc.  In proxy mode dnsmasq
 * never learns a Pi's address; the kernel that answered the Pi's TFTP
 * request did, and its ARP table ties the address to the Pi's MAC.
 */
#ifndef BRAMBLE_NEIGH_H
#define BRAMBLE_NEIGH_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The complete ARP entry for addr (IPv4, host byte order) in the network
 * namespace of process pid (/proc/<pid>/net/arp: dnsmasq's, wherever it
 * runs), else in bramble's own (/proc/net/arp; pid 0 or not visible):
 * true and its MAC in ret_mac, or false.
 */
bool neigh_lookup(uint32_t pid, uint32_t addr, uint8_t ret_mac[6]);
/* The same, over the text of an ARP table (for tests). */
bool neigh_find(const char *table, size_t len, uint32_t addr, uint8_t ret_mac[6]);
#endif
