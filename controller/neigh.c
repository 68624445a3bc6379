/*
 * neigh: see neigh.h.  /proc/net/arp, one entry a line after a header:
 *
 *	IP address       HW type     Flags       HW address            Mask     Device
 *	10.99.0.77       0x1         0x2         dc:a6:32:00:00:99     *        eth0
 *
 * Flags 0x2 (ATF_COM) marks a complete entry; an incomplete one has a zero MAC.
 */
#include "neigh.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bootwatch.h"
#include "fsutil.h"

#define ARP_MAX	 ((size_t)4 << 20) /* a table of about 50,000 entries */
#define ATF_COM_ 0x2

/* One line: its address, flags and MAC; false when it is not an entry. */
static bool parse_entry(const char *p, const char *end, uint32_t *ret_addr, uint8_t ret_mac[6])
{
	char ip[16], flags[8], mac[18];
	char line[128];
	struct in_addr a;
	size_t n = (size_t)(end - p);
	unsigned long f;
	char *e = NULL;

	if (n >= sizeof(line))
		return false;
	memcpy(line, p, n);
	line[n] = 0;
	if (sscanf(line, "%15s %*s %7s %17s", ip, flags, mac) != 3 ||
	    inet_pton(AF_INET, ip, &a) != 1)
		return false;
	f = strtoul(flags, &e, 16);
	if (!e || *e || !(f & ATF_COM_) || !boot_mac_parse(mac, strlen(mac), ':', ret_mac))
		return false;
	*ret_addr = ntohl(a.s_addr);
	return true;
}

bool neigh_find(const char *table, size_t len, uint32_t addr, uint8_t ret_mac[6])
{
	const char *p = table, *end = table + len, *nl;
	uint8_t mac[6];
	uint32_t a;

	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			nl = end;
		if (parse_entry(p, nl, &a, mac) && a == addr) {
			memcpy(ret_mac, mac, 6);
			return true;
		}
		p = nl + 1;
	}
	return false;
}

static bool lookup_in(const char *path, uint32_t addr, uint8_t ret_mac[6])
{
	char *data = NULL;
	size_t len = 0;
	bool found;

	if (file_read(path, ARP_MAX, &data, &len) < 0)
		return false;
	found = neigh_find(data, len, addr, ret_mac);
	free(data);
	return found;
}

bool neigh_lookup(uint32_t pid, uint32_t addr, uint8_t ret_mac[6])
{
	char path[40];

	if (pid) {
		snprintf(path, sizeof(path), "/proc/%u/net/arp", (unsigned)pid);
		if (lookup_in(path, addr, ret_mac))
			return true;
	}
	return lookup_in("/proc/net/arp", addr, ret_mac);
}
