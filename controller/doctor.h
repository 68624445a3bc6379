/*
 * doctor: `bramble doctor`, for the user whose Pi "will not boot".  On the
 * netboot server (in the network namespace it runs in) it checks what a Pi
 * needs, one concern a file:
 *   doctor_dnsmasq.c  dnsmasq runs bramble's configuration and owns its ports
 *   doctor_files.c    each node's boot files: served over TFTP, identical to
 *                     the tree, readable by the user dnsmasq runs as
 *   doctor_nfs.c      rpcbind, the export list, each node's root mountable
 *                     from its address, cmdline.txt's nfsroot= served
 *   doctor_dhcp.c     who answers a Pi's DHCPDISCOVER (--probe-dhcp), and
 *   doctor_as_pi.c    a whole Pi boot played on the wire (--as-pi)
 * Each check reports one line: ok, warn or FAIL, the reason, and the fix.
 */
#ifndef BRAMBLE_DOCTOR_H
#define BRAMBLE_DOCTOR_H

#include <jansson.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

#include "config.h"
#include "model.h"

enum doctor_level {
	DOCTOR_OK,
	DOCTOR_WARN,
	DOCTOR_FAIL,
};

struct doctor_opts {
	bool json;
	const char *probe_iface; /* --probe-dhcp IFACE: send a Pi's DISCOVER there */
	const char *as_pi;	 /* --as-pi SERIAL */
	const char *iface;	 /* --interface for --as-pi */
	unsigned wait_ms;	 /* how long to collect DHCP answers */
};

/* One run: what the checks share, and what they found. */
struct doctor {
	const struct bramble_config *cfg;
	const struct manifest_set *set;
	const struct doctor_opts *o;
	struct in_addr server; /* the cluster's server address */
	bool server_set;       /* from bramble.yaml's server:, not the Cluster's spec.server */
	json_t *checks;	       /* array of {check, status, message, fix} */
	FILE *out;
	size_t n[3]; /* reports per level */
	/* What doctor_dnsmasq found, for the later checks. */
	pid_t dnsmasq_pid; /* 0: none runs bramble's configuration here */
	bool tftp_listening;
	uid_t dns_uid; /* who dnsmasq reads files as */
	gid_t dns_gids[32];
	size_t n_dns_gids;
	/* What doctor_nfs found: the paths the NFS server exports. */
	bool served_known;
	char **served;
	size_t n_served;
};

/* The exports bramble rendered (nfs.exportsFile or nfs.ganeshaFile). */
struct doctor_exports {
	char **path;
	char **client; /* an address or a network, as rendered */
	size_t n;
};

/* Read the rendered exports of the cluster's NFS backend; 0 or -errno. */
int doctor_exports_load(const struct doctor *d, struct doctor_exports *ret);
void doctor_exports_release(struct doctor_exports *e);

/*
 * Report one check: check names it ("dnsmasq", "tftp pi-a", ...), fix
 * (NULL for ok) says what to do, in plain words.
 */
void doctor_report(struct doctor *d, enum doctor_level level, const char *check, const char *fix,
		   const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* dnsmasq runs bramble's configuration here and owns its ports; sets dnsmasq_pid, dns_uid. */
void doctor_check_dnsmasq(struct doctor *d);
/* Each node's boot files: in the tree, readable by dns_uid, served over TFTP, identical. */
void doctor_check_files(struct doctor *d);
/* rpcbind, the export list against bramble's, MNT from each node's address; sets served. */
void doctor_check_nfs(struct doctor *d);
/* Each node's cmdline.txt: nfsroot= names this server and a served export. */
void doctor_check_cmdlines(struct doctor *d);
/* A Pi's DHCPDISCOVER on iface: every answer; another PXE server fails. */
void doctor_check_dhcp(struct doctor *d, const char *iface);
/* The node's bootloader played on iface, each step a report. */
void doctor_as_pi(struct doctor *d, const char *serial, const char *iface);

/* The node's TFTP prefix directory (its serial, or its MAC in the mac mode). */
void doctor_node_dir(const struct doctor *d, const struct node *n, char out[18]);
/* An address of the node this host can send from (INADDR_ANY: none). */
struct in_addr doctor_node_source(const struct node *n);

/*
 * `bramble doctor`: run every check and print the report (text, or JSON with
 * o->json).  Returns 0 when a Pi would boot, EXIT_FAILED otherwise.
 */
int doctor_command(const struct bramble_config *cfg, const struct doctor_opts *o, FILE *out);

#endif
