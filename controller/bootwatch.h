/*
 * bootwatch: what the Pis do on the wire, as dnsmasq logs it.
 *
 * bramble renders `log-dhcp` and `log-facility=<dhcp.logFile>` into dnsmasq's
 * configuration and the daemon follows that file (bootwatch_follow.h).  A log
 * file and not a dhcp-script: dnsmasq calls the script for leases and
 * completed TFTP transfers only, never for proxy-mode DHCP (bramble's
 * default) nor for a file that was not found, which is exactly how an
 * unknown Pi shows itself.  The lines are dnsmasq 2.90's (src/rfc2131.c
 * log_packet() and log_options(), src/tftp.c, src/log.c), e.g.
 *
 *	Dec  5 07:56:06 dnsmasq-dhcp[23396]: 1374486643 PXE(eth0) dc:a6:32:00:00:01 proxy
 *	Dec  5 07:56:13 dnsmasq-dhcp[23868]: 1430746707 DHCPACK(eth0) 10.99.0.42 dc:a6:32:00:00:01 pi-a
 *	Dec  5 07:56:06 dnsmasq-dhcp[23396]: 1374486643 sent size: 17 option: 97 client-machine-id  00:52:50:69:34:...
 *	Dec  5 07:56:09 dnsmasq-tftp[23396]: sent /srv/bramble/tftp/1234abcd/start4.elf to 10.99.0.42
 *	Dec  5 07:56:09 dnsmasq-tftp[23396]: file /srv/bramble/tftp/9ffefdef/start4.elf not found for 10.99.0.77
 *	Dec  5 07:56:09 dnsmasq-tftp[23396]: failed sending /srv/bramble/tftp/1234abcd/kernel8.img to 10.99.0.42
 *
 * dnsmasq prints at most 14 bytes of an option, so option 97 (17 bytes:
 * type, FourCC "RPi4"/"RPi5", board revision, 4 low MAC bytes, serial) shows
 * the model and the MAC but only the serial's first byte: the serial comes
 * from the directory the Pi asks for (`<serial>/start4.elf`), or from the
 * node whose MAC or address it is.
 *
 * Everything here is pure (no I/O, no logging, no clock): a line and the
 * time it is read in, events and a table out, so that it can be tested and
 * fuzzed.  The table is hashed by serial, MAC and address: one line costs a
 * few lookups whatever the number of nodes.
 */
#ifndef BRAMBLE_BOOTWATCH_H
#define BRAMBLE_BOOTWATCH_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* How far a boot got: the furthest stage of the files served since its DHCP. */
enum boot_stage {
	BOOT_STAGE_NONE,
	BOOT_STAGE_DHCP,       /* a DHCP/PXE exchange, no file yet */
	BOOT_STAGE_CONFIG,     /* config.txt */
	BOOT_STAGE_FIRMWARE,   /* bootcode.bin, start*.elf, fixup*.dat */
	BOOT_STAGE_INITRAMFS,  /* initramfs*, initrd* */
	BOOT_STAGE_DEVICETREE, /* *.dtb, overlays/ */
	BOOT_STAGE_CMDLINE,    /* cmdline.txt */
	BOOT_STAGE_KERNEL,     /* kernel*.img: the last file of a Pi 4 boot */
	BOOT_STAGE_COUNT,
};

/* The stage as status shows it: "none", "dhcp", ..., "kernel". */
const char *boot_stage_name(enum boot_stage s);
/* The stage a file belongs to (its name relative to the node directory), or NONE. */
enum boot_stage boot_stage_of_file(const char *name);

/* "dc:a6:32:00:00:01" (sep ':', or '-' as in a MAC TFTP prefix): 6 bytes; false when not one. */
bool boot_mac_parse(const char *s, size_t len, char sep, uint8_t mac[6]);
/* "10.99.0.42" (NULL is fine): the address; false when not one ("10.99.0.300", "1.2.3.4x"). */
bool boot_ipv4_parse(const char *s, uint32_t *ret);

enum boot_event_kind {
	BOOT_EV_NONE,		   /* a line of no interest */
	BOOT_EV_DHCP,		   /* DHCPDISCOVER, DHCPOFFER, DHCPREQUEST, DHCPACK, PXE, ... */
	BOOT_EV_OPT97,		   /* option 97 in a reply: FourCC and MAC of the xid */
	BOOT_EV_TFTP_SENT,	   /* a file sent completely */
	BOOT_EV_TFTP_NOT_FOUND,	   /* "file ... not found for ..." */
	BOOT_EV_TFTP_FAILED,	   /* "failed sending": the client stopped answering */
	BOOT_EV_TFTP_CLIENT_ERROR, /* "error N ... received from": the client aborted */
	BOOT_EV_STARTED,	   /* dnsmasq (re)started */
};

struct boot_event {
	enum boot_event_kind kind;
	time_t time; /* the line's timestamp (local time, year from now), else now */
	bool has_xid, has_mac, has_addr;
	uint32_t xid;
	uint8_t mac[6];
	uint32_t addr;	  /* IPv4, host byte order */
	char what[16];	  /* DHCP: the message type as logged ("DHCPACK", "PXE") */
	const char *path; /* TFTP: the file as logged; points into the line */
	size_t path_len;
	char fourcc[5];	 /* OPT97: "RPi4", "RPi5" */
	uint8_t mac4[4]; /* OPT97: the low MAC bytes it carries */
	uint8_t serial0; /* OPT97: the first byte of the serial (all dnsmasq prints of it) */
	int code;	 /* CLIENT_ERROR: the TFTP error code */
	uint32_t pid;	 /* the dnsmasq process that logged the line (0: none) */
};

/*
 * Parse one log line (without its newline).  Returns 0 and fills ret (kind
 * BOOT_EV_NONE for a line of no interest), or -EINVAL for a line that starts
 * like one of interest but is malformed (ret is then NONE too).  now gives
 * the year of the timestamp and is used when the line has none.
 */
int boot_line_parse(const char *line, size_t len, time_t now, struct boot_event *ret);

/* A node of the manifests, to attribute events to it. */
struct boot_known {
	const char *serial; /* 8 lowercase hex */
	bool has_mac, has_ip;
	uint8_t mac[6];
	uint32_t ip; /* host byte order */
};

struct bootwatch;

struct bootwatch_counts {
	uint64_t events;		   /* events attributed or not, since the state began */
	size_t by_stage[BOOT_STAGE_COUNT]; /* known nodes seen, by the stage of their last boot */
	size_t unknown;			   /* serials no manifest names */
	size_t nodes_seen;		   /* known nodes seen at all */
};

/* An empty table of boots; bootwatch_free() frees it (NULL is fine). */
int bootwatch_new(struct bootwatch **ret);
void bootwatch_free(struct bootwatch *bw);

/*
 * The neighbour lookup: the MAC the server's ARP table gives for an IPv4
 * address (host byte order), as seen by the dnsmasq process pid (0: unknown),
 * or false.  In proxy mode dnsmasq never learns a Pi's address, so this is
 * what ties the serial directory an unknown Pi asks for to the MAC of its
 * DHCP exchange; the table asks it at most once a boot of a record with no
 * MAC yet.  The table stays pure: the caller does the I/O.
 */
typedef bool (*bootwatch_neigh_fn)(void *ctx, uint32_t pid, uint32_t addr, uint8_t ret_mac[6]);
void bootwatch_set_neigh(struct bootwatch *bw, bootwatch_neigh_fn fn, void *ctx);
/* The TFTP root dnsmasq serves: logged paths are relative to it. */
int bootwatch_set_tftp_root(struct bootwatch *bw, const char *root);
/* Replace the index of the manifests' nodes (serial, MAC, address). */
int bootwatch_set_known(struct bootwatch *bw, const struct boot_known *nodes, size_t n);

/*
 * Feed log bytes: every complete line is parsed and applied; returns the
 * number of bytes consumed (up to and including the last newline), or a
 * negative errno (-ENOMEM).
 */
long bootwatch_feed(struct bootwatch *bw, const char *data, size_t len, time_t now);
/* Apply one parsed event. */
int bootwatch_apply(struct bootwatch *bw, const struct boot_event *ev);

/* Whether anything changed since the last bootwatch_clear_dirty(). */
bool bootwatch_dirty(const struct bootwatch *bw);
/* Note that the current table was saved. */
void bootwatch_clear_dirty(struct bootwatch *bw);

/* The totals of the table, for metrics and status. */
void bootwatch_counts(const struct bootwatch *bw, struct bootwatch_counts *ret);

/*
 * Whether the node with this serial is in the middle of a boot at now: TFTP
 * activity within window seconds and its kernel not sent yet.
 */
bool bootwatch_mid_boot(const struct bootwatch *bw, const char *serial, time_t now,
			unsigned window);

/* What bootwatch_news() reports, once each. */
enum boot_news_kind {
	BOOT_NEWS_UNKNOWN, /* a serial no manifest names (with its MAC, or 10 s after) */
	/* a known node's network boot (a file read or refused) not at its kernel in time */
	BOOT_NEWS_STALLED,
};
#define BOOT_NEWS_MAC_WAIT_S 10

struct boot_news {
	enum boot_news_kind kind;
	const char *serial; /* valid during the call */
	const char *model;  /* "pi4" or "" */
	bool has_mac;
	uint8_t mac[6];
	enum boot_stage stage; /* how far the boot got */
	time_t since;	       /* UNKNOWN: first seen; STALLED: the boot's start */
};
typedef void (*bootwatch_news_fn)(void *ctx, const struct boot_news *n);

/*
 * Call fn for each unknown serial not reported yet, and for each boot of a
 * known node that started stall_s or more before now without reaching its
 * kernel, once a boot; the records remember it (not in the JSON: a restart
 * calls this with fn NULL first, to mark the old news as told).
 */
void bootwatch_news(struct bootwatch *bw, time_t now, unsigned stall_s, bootwatch_news_fn fn,
		    void *ctx);

/*
 * The state as JSON: {"events": N, "nodes": {"<serial>": {...}}}, each
 * record with "known" set from the index.  The caller owns the result.
 */
json_t *bootwatch_to_json(const struct bootwatch *bw);
/* Load what bootwatch_to_json() wrote (records replace the table's). */
int bootwatch_from_json(struct bootwatch *bw, const json_t *j);

#endif
