#include "netaddr.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "../common/hash.h"

/* One decimal octet without leading zeros; advances *s. */
static int octet_parse(const char **s, uint32_t *ret)
{
	const char *p = *s;
	uint32_t v = 0;
	size_t n = 0;

	while (p[n] >= '0' && p[n] <= '9') {
		if (n == 3)
			return -EINVAL;
		v = v * 10 + (uint32_t)(p[n] - '0');
		n++;
	}
	if (n == 0 || v > 255 || (n > 1 && p[0] == '0'))
		return -EINVAL;
	*s = p + n;
	*ret = v;
	return 0;
}

/* Parse a dotted quad at the start of s; *end points after it. */
static int ipv4_parse_prefix(const char *s, uint32_t *ret, const char **end)
{
	uint32_t ip = 0, o;
	int i;

	for (i = 0; i < 4; i++) {
		if (i > 0) {
			if (*s != '.')
				return -EINVAL;
			s++;
		}
		if (octet_parse(&s, &o) < 0)
			return -EINVAL;
		ip = ip << 8 | o;
	}
	*ret = ip;
	*end = s;
	return 0;
}

int ipv4_parse(const char *s, uint32_t *ret)
{
	const char *end = NULL;
	uint32_t ip;

	if (ipv4_parse_prefix(s, &ip, &end) < 0 || *end != '\0')
		return -EINVAL;
	*ret = ip;
	return 0;
}

void ipv4_format(uint32_t ip, char out[IPV4_STR_MAX])
{
	snprintf(out, IPV4_STR_MAX, "%u.%u.%u.%u", (unsigned)(ip >> 24), (unsigned)(ip >> 16 & 255),
		 (unsigned)(ip >> 8 & 255), (unsigned)(ip & 255));
}

int cidr_parse(const char *s, uint32_t *ret_addr, unsigned *ret_len)
{
	const char *p = NULL;
	uint32_t ip, len;

	if (ipv4_parse_prefix(s, &ip, &p) < 0 || *p != '/')
		return -EINVAL;
	p++;
	if (*p < '0' || *p > '9' || (p[0] == '0' && p[1] != '\0'))
		return -EINVAL;
	len = (uint32_t)(*p++ - '0');
	if (*p >= '0' && *p <= '9')
		len = len * 10 + (uint32_t)(*p++ - '0');
	if (*p != '\0' || len > 32)
		return -EINVAL;
	*ret_addr = ip;
	*ret_len = len;
	return 0;
}

void cidr_format(uint32_t net, unsigned len, char out[CIDR_STR_MAX])
{
	char ip[IPV4_STR_MAX];

	ipv4_format(net, ip);
	snprintf(out, CIDR_STR_MAX, "%s/%u", ip, len);
}

uint32_t ipv4_mask(unsigned len)
{
	return len == 0 ? 0 : len >= 32 ? UINT32_MAX : ~(UINT32_MAX >> len);
}

bool ipv4_in_subnet(uint32_t ip, uint32_t net, unsigned len)
{
	uint32_t m = ipv4_mask(len);

	return (ip & m) == (net & m);
}

uint32_t ipv4_broadcast(uint32_t net, unsigned len)
{
	return (net & ipv4_mask(len)) | ~ipv4_mask(len);
}

int mac_parse(const char *s, uint8_t mac[6])
{
	uint8_t v[6];
	char sep;
	int i, hi, lo;

	if (strnlen(s, MAC_STR_MAX) != MAC_STR_MAX - 1)
		return -EINVAL;
	sep = s[2];
	if (sep != ':' && sep != '-')
		return -EINVAL;
	for (i = 0; i < 6; i++) {
		const char *p = s + i * 3;

		hi = hex_value(p[0]);
		lo = hi < 0 ? -1 : hex_value(p[1]);
		if (lo < 0)
			return -EINVAL;
		if (p[2] != (i == 5 ? '\0' : sep))
			return -EINVAL;
		v[i] = (uint8_t)(hi << 4 | lo);
	}
	for (i = 0; i < 6; i++)
		mac[i] = v[i];
	return 0;
}

void mac_format(const uint8_t mac[6], char out[MAC_STR_MAX])
{
	static const char hex[] = "0123456789abcdef";
	int i;

	for (i = 0; i < 6; i++) {
		out[i * 3] = hex[mac[i] >> 4];
		out[i * 3 + 1] = hex[mac[i] & 15];
		out[i * 3 + 2] = i == 5 ? '\0' : ':';
	}
}

const char *ipv4_special(uint32_t ip)
{
	switch (ip >> 24) {
	case 0:
		return "\"this network\" (0.0.0.0/8)";
	case 127:
		return "loopback (127.0.0.0/8)";
	default:
		break;
	}
	if ((ip >> 28) == 0xe)
		return "multicast (224.0.0.0/4)";
	if ((ip >> 28) == 0xf)
		return "reserved (240.0.0.0/4, broadcast)";
	return NULL;
}

bool mac_is_unicast(const uint8_t mac[6])
{
	static const uint8_t zero[6];

	return !(mac[0] & 1) && memcmp(mac, zero, sizeof(zero)) != 0;
}
