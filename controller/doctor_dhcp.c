/*
 * doctor: who answers a Pi's DHCPDISCOVER on the cluster's network
 * (--probe-dhcp IFACE; it sends traffic there, so only when asked).  In proxy
 * mode the router answers with an address and bramble's dnsmasq with the
 * PXE menu; any other server that offers the menu competes for the Pi.
 */
#include "doctor.h"
#include "doctor_dhcp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int dhcp_socket(const char *iface, int *ret_fd)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(68)};
	int one = 1, fd, r = 0;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, iface, (socklen_t)strlen(iface)) < 0 ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		r = -errno;
	if (r < 0) {
		close(fd);
		return r;
	}
	*ret_fd = fd;
	return 0;
}

/* An answer to our packet (xid and MAC match) into a. */
static bool parse_answer(const uint8_t *b, size_t n, const struct pi_id *pi, uint32_t xid,
			 const struct sockaddr_in *from, struct dhcp_answer *a)
{
	const uint8_t *o;
	uint8_t len = 0;
	uint32_t x;
	char ip[16];

	if (n < 244 || b[0] != 2 || memcmp(b + 236, "\x63\x82\x53\x63", 4) != 0)
		return false;
	memcpy(&x, b + 4, 4);
	if (ntohl(x) != xid || memcmp(b + 28, pi->mac, 6) != 0)
		return false;
	memset(a, 0, sizeof(*a));
	o = dhcp_find_opt(b, n, 53, &len);
	a->type = o && len == 1 ? o[0] : 0;
	a->from = from->sin_addr;
	memcpy(&a->yiaddr, b + 16, 4);
	memcpy(&a->siaddr, b + 20, 4);
	o = dhcp_find_opt(b, n, 54, &len);
	if (o && len == 4)
		memcpy(&a->server, o, 4);
	else
		a->server = a->from;
	o = dhcp_find_opt(b, n, 66, &len);
	if (o && len < sizeof(ip)) {
		memcpy(ip, o, len);
		ip[len] = 0;
		inet_pton(AF_INET, ip, &a->opt66);
	}
	o = dhcp_find_opt(b, n, 43, &len);
	a->menu = o && pi_menu_ok(pi->board, o, len);
	return true;
}

static int send_packet(int fd, const struct pi_id *pi, uint32_t xid, uint8_t type,
		       const struct in_addr *req_ip, const struct in_addr *server_id)
{
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(67)};
	uint8_t b[PI_DHCP_PKT_MAX];
	size_t n;

	to.sin_addr.s_addr = htonl(INADDR_BROADCAST);
	n = pi_dhcp_build(b, pi, xid, type, req_ip, server_id);
	return sendto(fd, b, n, 0, (struct sockaddr *)&to, sizeof(to)) < 0 ? -errno : 0;
}

int doctor_dhcp_exchange(const char *iface, const struct pi_id *pi, uint8_t type,
			 const struct in_addr *req_ip, const struct in_addr *server_id,
			 unsigned wait_ms, struct dhcp_answer *v, size_t *ret_n)
{
	uint32_t xid = (uint32_t)now_ms() ^ (uint32_t)getpid() << 12;
	long long end = now_ms() + wait_ms, next = 0, t;
	uint8_t b[1600];
	size_t n = 0;
	int fd = -1, r;

	r = dhcp_socket(iface, &fd);
	for (t = now_ms(); r == 0 && t < end; t = now_ms()) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		struct sockaddr_in from;
		socklen_t fl = sizeof(from);
		ssize_t k;

		if (t >= next) {
			r = send_packet(fd, pi, xid, type, req_ip, server_id);
			next = t + 1000;
		}
		if (r < 0 || poll(&p, 1, (int)((next < end ? next : end) - t)) <= 0)
			continue;
		k = recvfrom(fd, b, sizeof(b), 0, (struct sockaddr *)&from, &fl);
		if (k > 0 && n < DHCP_ANSWERS_MAX &&
		    parse_answer(b, (size_t)k, pi, xid, &from, &v[n]))
			n++;
	}
	if (fd >= 0)
		close(fd);
	if (r == 0)
		*ret_n = n;
	return r;
}

/* Answers from the same server to retransmitted DISCOVERs count once. */
static bool seen(const struct dhcp_answer *v, size_t i)
{
	size_t j;

	for (j = 0; j < i; j++)
		if (v[j].server.s_addr == v[i].server.s_addr && v[j].menu == v[i].menu)
			return true;
	return false;
}

static void report_answer(struct doctor *d, const struct dhcp_answer *a, bool *ours_menu)
{
	char who[INET_ADDRSTRLEN], yi[INET_ADDRSTRLEN];
	bool ours = a->server.s_addr == d->server.s_addr;

	inet_ntop(AF_INET, &a->server, who, sizeof(who));
	inet_ntop(AF_INET, &a->yiaddr, yi, sizeof(yi));
	if (ours && a->menu)
		*ours_menu = true;
	if (ours)
		doctor_report(d, a->menu ? DOCTOR_OK : DOCTOR_FAIL, "dhcp",
			      a->menu ? NULL : "restart dnsmasq with bramble's configuration",
			      "bramble's server %s answers%s %s the PXE menu", who,
			      a->yiaddr.s_addr ? " with an address," : "",
			      a->menu ? "with" : "without");
	else if (a->menu)
		doctor_report(d, DOCTOR_FAIL, "dhcp",
			      "stop the other PXE or proxy DHCP service (its pxe-service or "
			      "option 43 settings), or move it to another network",
			      "another server, %s, answers a Pi's DISCOVER with a PXE boot menu: "
			      "the Pi may boot from it instead",
			      who);
	else
		doctor_report(d, a->yiaddr.s_addr ? DOCTOR_OK : DOCTOR_WARN, "dhcp", NULL,
			      "%s answers with %s%s, without a PXE menu (a router)", who,
			      a->yiaddr.s_addr ? "the address " : "no address",
			      a->yiaddr.s_addr ? yi : "");
}

void doctor_check_dhcp(struct doctor *d, const char *iface)
{
	struct pi_id pi = {.board = PI_BOARD_4,
			   .mac = {0xdc, 0xa6, 0x32, 0xd0, 0xc7, 0x01},
			   .serial = 0xd0c70001};
	struct dhcp_answer v[DHCP_ANSWERS_MAX];
	bool ours_menu = false;
	size_t n = 0, i;
	int r;

	r = doctor_dhcp_exchange(iface, &pi, 1, NULL, NULL, d->o->wait_ms, v, &n);
	if (r < 0) {
		doctor_report(d, DOCTOR_FAIL, "dhcp",
			      "run doctor as root, with an existing interface",
			      "cannot send a DHCPDISCOVER on %s: %s", iface, strerror(-r));
		return;
	}
	for (i = 0; i < n; i++)
		if (!seen(v, i))
			report_answer(d, &v[i], &ours_menu);
	if (!ours_menu && d->set->cluster->dhcp_mode != DHCP_MODE_EXTERNAL)
		doctor_report(d, DOCTOR_FAIL, "dhcp", "see the dnsmasq lines above",
			      "no PXE answer from bramble's server %s on %s (%zu answers in all)",
			      inet_ntoa(d->server), iface, n);
}
