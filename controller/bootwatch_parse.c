/*
 * bootwatch_parse: one dnsmasq log line into a boot event (bootwatch.h).
 * The formats are dnsmasq 2.90's: "<Mmm dd hh:mm:ss> dnsmasq-<dhcp|tftp>[<pid>]: "
 * (src/log.c), then the messages of src/rfc2131.c and src/tftp.c.
 */
#include "bootwatch.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "../common/hash.h"

/* A cursor over the bytes of one line. */
struct cur {
	const char *p, *end;
};

static bool cur_lit(struct cur *c, const char *s)
{
	size_t n = strlen(s);

	if ((size_t)(c->end - c->p) < n || memcmp(c->p, s, n) != 0)
		return false;
	c->p += n;
	return true;
}

static void cur_spaces(struct cur *c)
{
	while (c->p < c->end && *c->p == ' ')
		c->p++;
}

/* The next run of non-space bytes. */
static size_t cur_word(struct cur *c, const char **ret)
{
	const char *s = c->p;

	while (c->p < c->end && *c->p != ' ')
		c->p++;
	*ret = s;
	return (size_t)(c->p - s);
}

/* A decimal number of at most 10 digits that fits in 32 bits. */
static bool cur_u32(struct cur *c, uint32_t *ret)
{
	uint64_t v = 0;
	size_t n = 0;

	while (c->p < c->end && *c->p >= '0' && *c->p <= '9' && n < 10) {
		v = v * 10 + (uint64_t)(*c->p - '0');
		c->p++;
		n++;
	}
	if (n == 0 || v > UINT32_MAX)
		return false;
	*ret = (uint32_t)v;
	return true;
}

static bool parse_ipv4(const char *s, size_t len, uint32_t *ret)
{
	struct cur c = {s, s + len};
	uint32_t v = 0, part;
	int i;

	for (i = 0; i < 4; i++) {
		if ((i && !cur_lit(&c, ".")) || !cur_u32(&c, &part) || part > 255)
			return false;
		v = v << 8 | part;
	}
	*ret = v;
	return c.p == c.end;
}

bool boot_mac_parse(const char *s, size_t len, char sep, uint8_t mac[6])
{
	size_t i;

	if (len != 17)
		return false;
	for (i = 0; i < 6; i++) {
		int hi = hex_value(s[3 * i]), lo = hex_value(s[3 * i + 1]);

		if (hi < 0 || lo < 0 || (i < 5 && s[3 * i + 2] != sep))
			return false;
		mac[i] = (uint8_t)(hi << 4 | lo);
	}
	return true;
}

bool boot_ipv4_parse(const char *s, uint32_t *ret)
{
	unsigned a, b, c, d;
	char tail;

	if (!s || sscanf(s, "%3u.%3u.%3u.%3u%c", &a, &b, &c, &d, &tail) != 4 || a > 255 ||
	    b > 255 || c > 255 || d > 255)
		return false;
	*ret = a << 24 | b << 16 | c << 8 | d;
	return true;
}

static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
				     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

static bool two_digits(const char *s, int *ret)
{
	int a = s[0] == ' ' ? 0 : s[0] - '0', b = s[1] - '0';

	if (a < 0 || a > 9 || b < 0 || b > 9)
		return false;
	*ret = a * 10 + b;
	return true;
}

/*
 * "Dec  5 07:56:04 " (ctime's, local time, no year): the year is now's, or
 * the one before when that would put the line more than a day ahead.
 */
static bool parse_stamp(struct cur *c, time_t now, time_t *ret)
{
	struct tm tm, nowtm;
	int mon, day, h, m, s;
	time_t t;

	if (c->end - c->p < 16 || c->p[3] != ' ' || c->p[6] != ' ' || c->p[9] != ':' ||
	    c->p[12] != ':' || c->p[15] != ' ')
		return false;
	for (mon = 0; mon < 12 && memcmp(c->p, months[mon], 3) != 0; mon++)
		;
	if (mon == 12 || !two_digits(c->p + 4, &day) || !two_digits(c->p + 7, &h) ||
	    !two_digits(c->p + 10, &m) || !two_digits(c->p + 13, &s))
		return false;
	localtime_r(&now, &nowtm);
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = nowtm.tm_year;
	tm.tm_mon = mon;
	tm.tm_mday = day;
	tm.tm_hour = h;
	tm.tm_min = m;
	tm.tm_sec = s;
	tm.tm_isdst = -1;
	t = mktime(&tm);
	if (t != (time_t)-1 && t > now + 86400) {
		tm.tm_year--;
		tm.tm_isdst = -1;
		t = mktime(&tm);
	}
	if (t == (time_t)-1)
		return false;
	c->p += 16;
	*ret = t;
	return true;
}

/*
 * "dnsmasq-dhcp[123]: " → 'd', "dnsmasq-tftp[..]: " → 't', "dnsmasq[..]: " → 'm';
 * the process id goes to *pid.
 */
static char parse_tag(struct cur *c, uint32_t *pid)
{
	char which;

	if (!cur_lit(c, "dnsmasq"))
		return 0;
	if (cur_lit(c, "-dhcp"))
		which = 'd';
	else if (cur_lit(c, "-tftp"))
		which = 't';
	else
		which = 'm';
	if (!cur_lit(c, "[") || !cur_u32(c, pid) || !cur_lit(c, "]: "))
		return 0;
	return which;
}

static const char *const dhcp_types[] = {"DHCPDISCOVER", "DHCPOFFER",  "DHCPREQUEST", "DHCPACK",
					 "DHCPNAK",	 "DHCPINFORM", "DHCPRELEASE", "DHCPDECLINE",
					 "PXE",		 "BOOTP"};

/* "TYPE(iface) [addr ]mac[ rest]" */
static int parse_packet(struct cur *c, struct boot_event *ev)
{
	const char *w;
	size_t i, n;

	for (i = 0; i < sizeof(dhcp_types) / sizeof(dhcp_types[0]); i++) {
		n = strlen(dhcp_types[i]);
		if ((size_t)(c->end - c->p) > n && memcmp(c->p, dhcp_types[i], n) == 0 &&
		    c->p[n] == '(')
			break;
	}
	if (i == sizeof(dhcp_types) / sizeof(dhcp_types[0]))
		return 0;
	memcpy(ev->what, dhcp_types[i], strlen(dhcp_types[i]) + 1);
	c->p += strlen(dhcp_types[i]);
	while (c->p < c->end && *c->p != ')')
		c->p++;
	if (!cur_lit(c, ") "))
		return -EINVAL;
	n = cur_word(c, &w);
	if (parse_ipv4(w, n, &ev->addr)) {
		ev->has_addr = true;
		cur_spaces(c);
		n = cur_word(c, &w);
	}
	/* A MAC of another hardware type ("01:...", longer) is not a Pi. */
	if (!boot_mac_parse(w, n, ':', ev->mac))
		return 0;
	ev->has_mac = true;
	ev->kind = BOOT_EV_DHCP;
	return 0;
}

/*
 * "sent size: 17 option: 97 client-machine-id  00:52:50:69:34:00:c0:31:14:32:00:00:01:12..."
 * dnsmasq prints 14 of the 17 bytes (option_string() in src/dhcp-common.c).
 */
static int parse_opt97(struct cur *c, struct boot_event *ev)
{
	uint8_t b[14];
	size_t i;

	if (!cur_lit(c, "sent size: 17 option: 97 client-machine-id  "))
		return 0;
	for (i = 0; i < sizeof(b); i++) {
		int hi, lo;

		if (c->end - c->p < 3)
			return -EINVAL;
		hi = hex_value(c->p[0]);
		lo = hex_value(c->p[1]);
		if (hi < 0 || lo < 0 || c->p[2] != (i + 1 < sizeof(b) ? ':' : '.'))
			return -EINVAL;
		b[i] = (uint8_t)(hi << 4 | lo);
		c->p += 3;
	}
	if (b[0] != 0 || b[1] != 'R' || b[2] != 'P' || b[3] != 'i')
		return 0; /* a GUID, but not a Raspberry Pi's */
	memcpy(ev->fourcc, b + 1, 4);
	ev->fourcc[4] = 0;
	memcpy(ev->mac4, b + 9, 4);
	ev->serial0 = b[13];
	ev->kind = BOOT_EV_OPT97;
	return 0;
}

static int parse_dhcp(struct cur *c, struct boot_event *ev)
{
	struct cur save;

	if (cur_u32(c, &ev->xid)) {
		ev->has_xid = true;
		if (!cur_lit(c, " "))
			return 0;
	}
	save = *c;
	if (cur_lit(c, "sent size: "))
		return parse_opt97(&save, ev);
	return parse_packet(c, ev);
}

/* The path ends at the last " to " / " not found for " before the address. */
static int tftp_path_addr(struct cur *c, const char *sep, struct boot_event *ev)
{
	size_t n = strlen(sep);
	const char *q;

	for (q = c->end - n; q > c->p; q--)
		if (memcmp(q, sep, n) == 0)
			break;
	if (q <= c->p)
		return -EINVAL;
	ev->path = c->p;
	ev->path_len = (size_t)(q - c->p);
	if (parse_ipv4(q + n, (size_t)(c->end - q - n), &ev->addr))
		ev->has_addr = true;
	/* An IPv6 client (or an unparsable one) keeps the path, without an address. */
	return 0;
}

static int parse_tftp(struct cur *c, struct boot_event *ev)
{
	int r;

	if (cur_lit(c, "sent ")) {
		r = tftp_path_addr(c, " to ", ev);
		ev->kind = r == 0 ? BOOT_EV_TFTP_SENT : BOOT_EV_NONE;
	} else if (cur_lit(c, "failed sending ")) {
		r = tftp_path_addr(c, " to ", ev);
		ev->kind = r == 0 ? BOOT_EV_TFTP_FAILED : BOOT_EV_NONE;
	} else if (cur_lit(c, "file ")) {
		r = tftp_path_addr(c, " not found for ", ev);
		ev->kind = r == 0 ? BOOT_EV_TFTP_NOT_FOUND : BOOT_EV_NONE;
		if (r < 0 && c->end - c->p > 10 && memcmp(c->end - 10, " not found", 10) == 0) {
			/* dnsmasq before 2.80: no client address */
			ev->path = c->p;
			ev->path_len = (size_t)(c->end - 10 - c->p);
			ev->kind = BOOT_EV_TFTP_NOT_FOUND;
			r = 0;
		}
	} else if (cur_lit(c, "error ")) {
		uint32_t code;

		if (!cur_u32(c, &code) || code > 65535)
			return -EINVAL;
		ev->code = (int)code;
		/* "error %d %s received from %s": the message may contain spaces */
		r = tftp_path_addr(c, " received from ", ev);
		ev->path = NULL;
		ev->path_len = 0;
		ev->kind = r == 0 ? BOOT_EV_TFTP_CLIENT_ERROR : BOOT_EV_NONE;
	} else {
		r = 0;
	}
	return r;
}

int boot_line_parse(const char *line, size_t len, time_t now, struct boot_event *ret)
{
	struct cur c = {line, line + len};
	char which;
	int r = 0;

	memset(ret, 0, sizeof(*ret));
	ret->time = now;
	if (len && line[len - 1] == '\r')
		c.end--;
	/* log-facility=-, or a file of a dnsmasq run in the foreground, may have no stamp */
	if (!parse_stamp(&c, now, &ret->time))
		ret->time = now;
	which = parse_tag(&c, &ret->pid);
	if (which == 'd')
		r = parse_dhcp(&c, ret);
	else if (which == 't')
		r = parse_tftp(&c, ret);
	else if (which == 'm' && cur_lit(&c, "started, version "))
		ret->kind = BOOT_EV_STARTED;
	if (r < 0)
		ret->kind = BOOT_EV_NONE;
	return r;
}
