/*
 * pistorm: many simulated Raspberry Pis netbooting at once, in one process.
 *
 * Each Pi has its own interface (a macvlan with its own MAC and the address
 * its manifest gives it) and runs what its boot ROM or EEPROM bootloader
 * does on the wire (NETBOOT.md §1-2):
 *
 *   DHCPDISCOVER with option 60 "PXEClient:Arch:00000:UNDI:002001", 93 = 0,
 *   94 = 1.2.1 and 97 (client GUID); an offer counts only with the PXE menu
 *   "Raspberry Pi Boot" in option 43 (a Pi 3B's ROM gets the length wrong
 *   and needs the text padded to 20 bytes); a Pi 4/5 then sends DHCPREQUEST
 *   and waits for the ACK, a Pi 3 goes straight on.  The TFTP server is
 *   option 66 (else the server identifier) for a Pi 4/5, siaddr for a Pi 3.
 *
 *   The model's TFTP file sequence, one file at a time, each an RRQ with
 *   "blksize 1468" and "tsize 0" (RFC 2347/2348), retransmitted after 1 s of
 *   silence, given up after 30 s (TFTP_FILE_TIMEOUT); a file that fails
 *   fails the boot, which is tried again from DHCP a bounded number of
 *   times, as the bootloader does.
 *
 * Full and external DHCP modes (an offer that carries the Pi's address and
 * the menu); proxy DHCP is not simulated.
 *
 * Packets from a port other than the transfer's (an orphan transfer the
 * server started for a retransmitted RRQ) are ignored, as a ROM that only
 * follows its first answer would; they are counted as "stray".
 *
 * Usage: pistorm [options] PIS  (see usage()); PIS has one Pi a line:
 *   MODEL SERIAL MAC IP IFACE        e.g. pi4 1234abcd dc:a6:32:00:00:01 10.99.0.42 p0
 * Prints one line per Pi and a summary line; exits 0 when every Pi booted,
 * 1 when some did not, 2 on a usage or set-up error.  Run it as root in the
 * client network namespace.  A test tool: it is not installed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "pi_wire.h"

enum model { PI3, PI4, PI5 };
enum phase { PH_DISCOVER, PH_REQUEST, PH_TFTP, PH_WAIT, PH_DONE, PH_FAILED };

#define MAX_FILES 12
#define PKT_MAX	  1600

struct opts {
	double retransmit;   /* s without an answer before a TFTP packet is sent again */
	double file_timeout; /* s for one file (TFTP_FILE_TIMEOUT) */
	double deadline;     /* s for the whole run */
	int boots;	     /* boot attempts per Pi */
	int blksize;
	bool mac_prefix; /* Pi 4/5 with TFTP_PREFIX=2 (a Pi 3 always uses its serial) */
	bool quiet;
};

struct pi {
	enum model model;
	char serial[9];
	uint8_t mac[6];
	struct in_addr ip;
	char ifname[IF_NAMESIZE];
	char dir[18]; /* TFTP prefix directory */
	enum phase phase;
	int dhcp_fd, tftp_fd;
	uint32_t xid;
	struct in_addr server_id, tftp_server;
	double phase_end, next_tx, done_at;
	int attempts;
	/* the current file */
	const char *files[MAX_FILES];
	size_t n_files, file;
	uint16_t block, server_port;
	bool have_tid;
	size_t blksize;
	uint64_t bytes, tsize;
	uint8_t last[PKT_MAX];
	size_t last_len;
	/* counters */
	unsigned retransmits, dhcp_retransmits, stray, file_errors, file_timeouts, bad_offers;
	uint64_t moved; /* every data byte received, of complete files or not */
	uint64_t total_bytes;
	char error[160];
};

static struct opts opt = {1.0, 30.0, 300.0, 3, 1468, false, false};
static int epfd = -1;
static struct pi *pis; /* every Pi; an epoll event names one by index and fd */

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: pistorm [--retransmit S] [--file-timeout S] [--boots N] [--blksize N]\n"
		"               [--deadline S] [--prefix serial|mac] [-q] PIS\n"
		"  PIS: one Pi a line: MODEL(pi3|pi4|pi5) SERIAL MAC IP IFACE\n");
}

/* --- the Pis' files ------------------------------------------------------- */

static enum pi_board board_of(enum model m)
{
	return m == PI3 ? PI_BOARD_3 : m == PI4 ? PI_BOARD_4 : PI_BOARD_5;
}

/* The bootloader's file order for the model (common/pi_wire.c). */
static void pi_plan_files(struct pi *p)
{
	const char *const *v = pi_boot_files(board_of(p->model));

	for (p->n_files = 0; v[p->n_files] && p->n_files < MAX_FILES; p->n_files++)
		p->files[p->n_files] = v[p->n_files];
	if (p->model != PI3 && opt.mac_prefix)
		snprintf(p->dir, sizeof(p->dir), "%02x-%02x-%02x-%02x-%02x-%02x", p->mac[0],
			 p->mac[1], p->mac[2], p->mac[3], p->mac[4], p->mac[5]);
	else
		memcpy(p->dir, p->serial, 9);
}

/* The path to ask for: "/x" at the TFTP root, anything else under the prefix. */
static void pi_file_path(const struct pi *p, char *out, size_t size, bool *optional)
{
	if (pi_boot_file_path(p->files[p->file], p->dir, out, size, optional) < 0)
		snprintf(out, size, "%s", "?");
}

/* --- sockets -------------------------------------------------------------- */

static int watch(int fd, struct pi *p)
{
	struct epoll_event ev = {.events = EPOLLIN};

	ev.data.u64 = (uint64_t)(p - pis) << 32 | (uint32_t)fd;

	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* A UDP socket on the Pi's own interface, bound to addr:port. */
static int pi_socket(const struct pi *p, struct in_addr addr, uint16_t port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr = addr};
	int one = 1, fd;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, p->ifname, strlen(p->ifname)) < 0 ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = -errno;

		close(fd);
		return e;
	}
	return fd;
}

static void pi_fail(struct pi *p, double t, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* --- DHCP ----------------------------------------------------------------- */

static void dhcp_send(struct pi *p, uint8_t type)
{
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(67)};
	struct pi_id id = {.board = board_of(p->model)};
	uint8_t b[PI_DHCP_PKT_MAX];
	size_t n;

	memcpy(id.mac, p->mac, 6);
	id.serial = (uint32_t)strtoul(p->serial, NULL, 16);
	n = pi_dhcp_build(b, &id, p->xid, type, type == 3 ? &p->ip : NULL,
			  type == 3 ? &p->server_id : NULL);
	to.sin_addr.s_addr = htonl(INADDR_BROADCAST);
	sendto(p->dhcp_fd, b, n, 0, (struct sockaddr *)&to, sizeof(to));
}

static void tftp_start_file(struct pi *p, double t);

/* An OFFER or ACK for this Pi: check it, then the next phase. */
static void dhcp_answer(struct pi *p, const uint8_t *b, size_t n, double t)
{
	const uint8_t *type, *o;
	struct in_addr yi, si;
	uint8_t len = 0;
	char ip[16];

	type = dhcp_find_opt(b, n, 53, &len);
	if (!type || len != 1)
		return;
	memcpy(&yi, b + 16, 4);
	memcpy(&si, b + 20, 4);
	if (p->phase == PH_DISCOVER && *type == 2) {
		o = dhcp_find_opt(b, n, 43, &len);
		if (!o || !pi_menu_ok(board_of(p->model), o, len) || yi.s_addr != p->ip.s_addr) {
			p->bad_offers++; /* the bootloader waits for another offer */
			return;
		}
		o = dhcp_find_opt(b, n, 54, &len);
		if (o && len == 4)
			memcpy(&p->server_id, o, 4);
		p->tftp_server = p->model == PI3 ? si : p->server_id;
		o = p->model == PI3 ? NULL : dhcp_find_opt(b, n, 66, &len);
		if (o && len < sizeof(ip)) {
			memcpy(ip, o, len);
			ip[len] = 0;
			inet_pton(AF_INET, ip, &p->tftp_server);
		}
		if (p->model == PI3) { /* no DHCPREQUEST (NETBOOT.md §1) */
			tftp_start_file(p, t);
			return;
		}
		p->phase = PH_REQUEST;
		dhcp_send(p, 3);
		p->next_tx = t + 4; /* DHCP_REQ_TIMEOUT */
	} else if (p->phase == PH_REQUEST && *type == 5) {
		tftp_start_file(p, t);
	} else if (p->phase == PH_REQUEST && *type == 6) {
		pi_fail(p, t, "DHCPNAK for %s", inet_ntoa(p->ip));
	}
}

static void dhcp_readable(struct pi *p, double t)
{
	uint8_t b[PKT_MAX];
	uint32_t xid;
	ssize_t n;

	while ((n = recv(p->dhcp_fd, b, sizeof(b), 0)) > 0) {
		if (n < 244 || b[0] != 2 || memcmp(b + 236, "\x63\x82\x53\x63", 4) != 0)
			continue;
		memcpy(&xid, b + 4, 4);
		if (ntohl(xid) != p->xid || memcmp(b + 28, p->mac, 6) != 0)
			continue;
		if (p->phase == PH_DISCOVER || p->phase == PH_REQUEST)
			dhcp_answer(p, b, (size_t)n, t);
	}
}

/* Power on (again): a new DHCP exchange.  Pi 4/5: DHCP_TIMEOUT 45 s, a
 * DISCOVER every 4 s; Pi 3: 5 tries 5 s apart (NETBOOT.md §1). */
static void pi_boot(struct pi *p, double t)
{
	p->attempts++;
	p->phase = PH_DISCOVER;
	p->xid = (uint32_t)random();
	p->file = 0;
	close_fd(&p->tftp_fd);
	p->phase_end = t + (p->model == PI3 ? 25 : 45);
	p->next_tx = t + (p->model == PI3 ? 5 : 4);
	dhcp_send(p, 1);
}

/* --- TFTP ----------------------------------------------------------------- */

static void tftp_send_last(struct pi *p, uint16_t port)
{
	struct sockaddr_in to = {
		.sin_family = AF_INET, .sin_port = htons(port), .sin_addr = p->tftp_server};

	sendto(p->tftp_fd, p->last, p->last_len, 0, (struct sockaddr *)&to, sizeof(to));
}

static void tftp_ack(struct pi *p, uint16_t block)
{
	p->last[0] = 0, p->last[1] = 4;
	p->last[2] = (uint8_t)(block >> 8), p->last[3] = (uint8_t)block;
	p->last_len = 4;
	tftp_send_last(p, p->server_port);
}

/* The next file of the sequence (or the end of the boot): a new transfer
 * from a new port, an RRQ with the block size and transfer size options. */
static void tftp_start_file(struct pi *p, double t)
{
	char path[96], bs[8];
	bool optional;
	size_t n;
	int fd;

	close_fd(&p->tftp_fd);
	if (p->file == p->n_files) {
		p->phase = PH_DONE;
		p->done_at = t;
		return;
	}
	fd = pi_socket(p, p->ip, 0);
	if (fd < 0 || watch(fd, p) < 0) {
		if (fd >= 0)
			close(fd);
		pi_fail(p, t, "cannot open a TFTP socket on %s", p->ifname);
		return;
	}
	p->tftp_fd = fd;
	p->phase = PH_TFTP;
	pi_file_path(p, path, sizeof(path), &optional);
	snprintf(bs, sizeof(bs), "%d", opt.blksize);
	p->last[0] = 0, p->last[1] = 1;
	n = 2;
	n += (size_t)snprintf((char *)p->last + n, sizeof(p->last) - n, "%s", path) + 1;
	memcpy(p->last + n, "octet\0blksize\0", 14);
	n += 14;
	n += (size_t)snprintf((char *)p->last + n, sizeof(p->last) - n, "%s", bs) + 1;
	memcpy(p->last + n,
	       "tsize\0"
	       "0\0",
	       8);
	p->last_len = n + 8;
	p->have_tid = false;
	p->block = 0;
	p->blksize = 512;
	p->bytes = p->tsize = 0;
	p->phase_end = t + opt.file_timeout;
	p->next_tx = t + opt.retransmit;
	tftp_send_last(p, 69);
}

/* OACK: the server's option values; acknowledged with block 0. */
static void tftp_oack(struct pi *p, const uint8_t *b, size_t n)
{
	size_t i = 2;

	while (i < n) {
		const char *k = (const char *)b + i, *v;
		size_t kl = strnlen(k, n - i);

		if (i + kl + 1 >= n)
			break;
		v = k + kl + 1;
		if (strcasecmp(k, "blksize") == 0)
			p->blksize = strtoul(v, NULL, 10);
		else if (strcasecmp(k, "tsize") == 0)
			p->tsize = strtoull(v, NULL, 10);
		i += kl + 1 + strnlen(v, n - i - kl - 1) + 1;
	}
	if (p->blksize < 8 || p->blksize > PKT_MAX - 4)
		p->blksize = 512;
	tftp_ack(p, 0);
}

static void tftp_file_done(struct pi *p, double t)
{
	char path[96];
	bool optional;

	if (p->tsize && p->bytes != p->tsize) {
		pi_file_path(p, path, sizeof(path), &optional);
		p->file_errors++;
		pi_fail(p, t, "%s: size differs from tsize", path);
		return;
	}
	p->total_bytes += p->bytes;
	p->file++;
	tftp_start_file(p, t);
}

static void tftp_error(struct pi *p, const uint8_t *b, size_t n, double t)
{
	char path[96], msg[200];
	bool optional;

	pi_file_path(p, path, sizeof(path), &optional);
	if (optional && n >= 4 && b[3] == 1) { /* "not found" is the expected answer */
		p->file++;
		tftp_start_file(p, t);
		return;
	}
	p->file_errors++;
	snprintf(msg, sizeof(msg), "%s: TFTP error %u %.*s", path, b[3],
		 (int)(n > 4 ? strnlen((const char *)b + 4, n - 4) : 0), (const char *)b + 4);
	pi_fail(p, t, "%s", msg);
}

static void tftp_packet(struct pi *p, const uint8_t *b, size_t n, uint16_t port, double t)
{
	uint16_t op = (uint16_t)(b[0] << 8 | b[1]), blk = (uint16_t)(b[2] << 8 | b[3]);

	if (!p->have_tid) { /* the first answer fixes the server's port (RFC 1350) */
		p->have_tid = true;
		p->server_port = port;
	} else if (port != p->server_port) {
		p->stray++;
		return;
	}
	if (op == 5) {
		tftp_error(p, b, n, t);
		return;
	}
	p->next_tx = t + opt.retransmit;
	if (op == 6 && p->block == 0 && p->bytes == 0) {
		tftp_oack(p, b, n);
	} else if (op == 3 && blk == (uint16_t)(p->block + 1)) {
		p->block = blk;
		p->bytes += n - 4;
		p->moved += n - 4;
		tftp_ack(p, blk);
		if (n - 4 < p->blksize)
			tftp_file_done(p, t);
	} else if (op == 3 && blk == p->block) {
		tftp_ack(p, blk); /* our ACK was lost: the server sent the block again */
	}
}

static void tftp_readable(struct pi *p, double t)
{
	struct sockaddr_in from;
	socklen_t fl = sizeof(from);
	uint8_t b[PKT_MAX];
	ssize_t n;

	/* One packet an event (epoll is level-triggered): no extra read to see EAGAIN. */
	n = recvfrom(p->tftp_fd, b, sizeof(b), 0, (struct sockaddr *)&from, &fl);
	if (n >= 4 && from.sin_addr.s_addr == p->tftp_server.s_addr && p->phase == PH_TFTP)
		tftp_packet(p, b, (size_t)n, ntohs(from.sin_port), t);
}

/* --- timers and the loop ---------------------------------------------------- */

/* This boot attempt failed: start over, or give up after opt.boots attempts. */
static void pi_fail(struct pi *p, double t, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(p->error, sizeof(p->error), fmt, ap);
	va_end(ap);
	close_fd(&p->tftp_fd);
	if (p->attempts >= opt.boots) {
		p->phase = PH_FAILED;
		return;
	}
	p->phase = PH_WAIT; /* the bootloader starts over after a short pause */
	p->next_tx = t + 1;
}

static void pi_timer(struct pi *p, double t)
{
	char path[96];
	bool optional;

	if (p->phase == PH_WAIT) {
		if (t >= p->next_tx)
			pi_boot(p, t);
		return;
	}
	if (p->phase == PH_DONE || p->phase == PH_FAILED)
		return;
	if (t >= p->phase_end) {
		if (p->phase == PH_TFTP) {
			pi_file_path(p, path, sizeof(path), &optional);
			p->file_errors++;
			p->file_timeouts++;
			pi_fail(p, t, "%s: not complete within the file's time limit", path);
		} else {
			pi_fail(p, t, "%s", "DHCP: no usable offer or ACK");
		}
		return;
	}
	if (t < p->next_tx)
		return;
	if (p->phase == PH_TFTP) {
		p->retransmits++;
		tftp_send_last(p, p->have_tid ? p->server_port : 69);
		p->next_tx = t + opt.retransmit;
	} else {
		p->dhcp_retransmits++;
		dhcp_send(p, p->phase == PH_DISCOVER ? 1 : 3);
		p->next_tx = t + (p->model == PI3 ? 5 : 4);
	}
}

static bool all_settled(const struct pi *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (v[i].phase != PH_DONE && v[i].phase != PH_FAILED)
			return false;
	return true;
}

static int run(struct pi *v, size_t n, double t0)
{
	struct epoll_event ev[256];
	double t = t0, last_scan = 0;
	size_t i;
	int k, m;

	while (!all_settled(v, n) && t - t0 < opt.deadline) {
		m = epoll_wait(epfd, ev, 256, 20);
		if (m < 0 && errno != EINTR)
			return -errno;
		t = now();
		for (k = 0; k < m; k++) {
			struct pi *p = &v[ev[k].data.u64 >> 32];
			int fd = (int)(uint32_t)ev[k].data.u64;

			if (fd == p->dhcp_fd)
				dhcp_readable(p, t);
			else if (fd == p->tftp_fd)
				tftp_readable(p, t);
		}
		if (t - last_scan >= 0.02) {
			for (i = 0; i < n; i++)
				pi_timer(&v[i], t);
			last_scan = t;
		}
	}
	return 0;
}

/* --- set-up and report ------------------------------------------------------ */

static int parse_mac(const char *s, uint8_t mac[6])
{
	unsigned x[6];
	int i;

	if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x", &x[0], &x[1], &x[2], &x[3], &x[4], &x[5]) != 6)
		return -EINVAL;
	for (i = 0; i < 6; i++)
		mac[i] = (uint8_t)x[i];
	return 0;
}

static int parse_line(const char *line, struct pi *p)
{
	char model[8], serial[16], mac[24], ip[20], ifname[IF_NAMESIZE + 1];

	memset(p, 0, sizeof(*p));
	if (sscanf(line, "%7s %15s %23s %19s %16s", model, serial, mac, ip, ifname) != 5 ||
	    strlen(serial) != 8 || strspn(serial, "0123456789abcdef") != 8 ||
	    strlen(ifname) >= IF_NAMESIZE || parse_mac(mac, p->mac) < 0 ||
	    inet_pton(AF_INET, ip, &p->ip) != 1)
		return -EINVAL;
	if (strcmp(model, "pi3") == 0)
		p->model = PI3;
	else if (strcmp(model, "pi4") == 0)
		p->model = PI4;
	else if (strcmp(model, "pi5") == 0)
		p->model = PI5;
	else
		return -EINVAL;
	memcpy(p->serial, serial, 9);
	memcpy(p->ifname, ifname, strlen(ifname) + 1);
	p->dhcp_fd = p->tftp_fd = -1;
	return 0;
}

static int load_pis(const char *file, struct pi **ret, size_t *ret_n)
{
	char line[256];
	struct pi *v = NULL, *nv;
	size_t n = 0, cap = 0;
	FILE *f = fopen(file, "re");

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (line[strspn(line, " \t")] == '#' || line[strspn(line, " \t\n")] == 0)
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			nv = realloc(v, cap * sizeof(*v));
			if (!nv)
				break;
			v = nv;
		}
		if (parse_line(line, &v[n]) < 0) {
			fprintf(stderr, "pistorm: %s: bad line: %s", file, line);
			fclose(f);
			free(v);
			return -EINVAL;
		}
		n++;
	}
	fclose(f);
	*ret = v;
	*ret_n = n;
	return n ? 0 : -EINVAL;
}

static const char *model_name(enum model m)
{
	return m == PI3 ? "pi3" : m == PI4 ? "pi4" : "pi5";
}

static int report(const struct pi *v, size_t n, double t0, double t_end)
{
	unsigned ok = 0, retx = 0, dretx = 0, stray = 0, ferr = 0, fto = 0, retries = 0, bad = 0;
	double last = 0, sum = 0;
	uint64_t bytes = 0, moved = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		const struct pi *p = &v[i];
		bool done = p->phase == PH_DONE;

		if (!opt.quiet && done)
			printf("pi %s %s ok boot=%.2fs attempts=%d bytes=%llu retransmits=%u "
			       "stray=%u\n",
			       p->serial, model_name(p->model), p->done_at - t0, p->attempts,
			       (unsigned long long)p->total_bytes, p->retransmits, p->stray);
		else if (!opt.quiet || !done)
			printf("pi %s %s FAILED attempts=%d retransmits=%u stray=%u error=\"%s\"\n",
			       p->serial, model_name(p->model), p->attempts, p->retransmits,
			       p->stray, p->error[0] ? p->error : "run deadline");
		if (done) {
			ok++;
			sum += p->done_at - t0;
			last = p->done_at - t0 > last ? p->done_at - t0 : last;
		}
		retx += p->retransmits, dretx += p->dhcp_retransmits, stray += p->stray;
		ferr += p->file_errors, fto += p->file_timeouts, bad += p->bad_offers;
		retries += (unsigned)(p->attempts - 1);
		bytes += p->total_bytes, moved += p->moved;
	}
	printf("pistorm: pis=%zu booted=%u failed=%zu last_boot=%.2fs mean_boot=%.2fs "
	       "retransmits=%u dhcp_retransmits=%u stray=%u file_errors=%u file_timeouts=%u "
	       "boot_retries=%u bad_offers=%u bytes=%llu moved=%llu wall=%.2fs\n",
	       n, ok, n - ok, last, ok ? sum / ok : 0.0, retx, dretx, stray, ferr, fto, retries,
	       bad, (unsigned long long)bytes, (unsigned long long)moved, t_end - t0);
	return ok == n ? 0 : 1;
}

static int parse_args(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc - 1; i++) {
		const char *a = argv[i], *v = argv[i + 1];

		if (strcmp(a, "-q") == 0) {
			opt.quiet = true;
			continue;
		}
		if (strcmp(a, "--retransmit") == 0)
			opt.retransmit = atof(v);
		else if (strcmp(a, "--file-timeout") == 0)
			opt.file_timeout = atof(v);
		else if (strcmp(a, "--deadline") == 0)
			opt.deadline = atof(v);
		else if (strcmp(a, "--boots") == 0)
			opt.boots = atoi(v);
		else if (strcmp(a, "--blksize") == 0)
			opt.blksize = atoi(v);
		else if (strcmp(a, "--prefix") == 0 && (!strcmp(v, "mac") || !strcmp(v, "serial")))
			opt.mac_prefix = strcmp(v, "mac") == 0;
		else
			return -EINVAL;
		i++;
	}
	if (i != argc - 1 || opt.retransmit <= 0 || opt.file_timeout <= 0 || opt.boots < 1 ||
	    opt.blksize < 8 || opt.blksize > PKT_MAX - 4 || opt.deadline <= 0)
		return -EINVAL;
	return i;
}

int main(int argc, char **argv)
{
	struct rlimit rl;
	struct pi *v = NULL;
	size_t n = 0, i;
	double t0;
	int a, r;

	a = parse_args(argc, argv);
	if (a < 0) {
		usage();
		return 2;
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) { /* two sockets a Pi */
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	r = load_pis(argv[a], &v, &n);
	pis = v;
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (r < 0 || epfd < 0) {
		fprintf(stderr, "pistorm: cannot load %s: %s\n", argv[a],
			strerror(r < 0 ? -r : errno));
		return 2;
	}
	srandom((unsigned)getpid());
	for (i = 0; i < n; i++) {
		struct in_addr any = {INADDR_ANY};

		pi_plan_files(&v[i]);
		v[i].dhcp_fd = pi_socket(&v[i], any, 68);
		if (v[i].dhcp_fd < 0 || watch(v[i].dhcp_fd, &v[i]) < 0) {
			fprintf(stderr, "pistorm: DHCP socket on %s: %s\n", v[i].ifname,
				strerror(v[i].dhcp_fd < 0 ? -v[i].dhcp_fd : errno));
			return 2;
		}
	}
	t0 = now(); /* every Pi powers on at once */
	for (i = 0; i < n; i++)
		pi_boot(&v[i], t0);
	r = run(v, n, t0);
	if (r < 0)
		fprintf(stderr, "pistorm: %s\n", strerror(-r));
	r = report(v, n, t0, now());
	for (i = 0; i < n; i++) {
		close_fd(&v[i].dhcp_fd);
		close_fd(&v[i].tftp_fd);
	}
	free(v);
	close(epfd);
	return r;
}
