/*
 * rpc_client: the few ONC RPC calls (RFC 5531) a netboot check needs, over
 * TCP: the portmapper's GETPORT (RFC 1833, version 2) and the NFSv3 MOUNT
 * protocol's EXPORT and MNT/UMNT (RFC 1813 appendix I).  Blocking, bounded
 * in time and in reply size, AUTH_SYS as root; no logging.
 */
#ifndef BRAMBLE_RPC_CLIENT_H
#define BRAMBLE_RPC_CLIENT_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

#define RPC_PROG_PORTMAP 100000u
#define RPC_PROG_NFS	 100003u
#define RPC_PROG_MOUNT	 100005u
#define MNT3_OK		 0u
#define MNT3ERR_ACCES	 13u

/* Where a call goes, and from which address. */
struct rpc_target {
	struct in_addr server;
	uint16_t port;	       /* host byte order */
	struct in_addr source; /* INADDR_ANY: the kernel chooses */
	unsigned timeout_ms;   /* connect, send and each read; 0: 3000 */
};

/* One entry of the server's export list: the path and who may mount it. */
struct rpc_export {
	char *path;
	char **groups; /* host names, addresses or networks, as the server says */
	size_t n_groups;
};

/*
 * PMAPPROC_GETPORT for (prog, vers) over TCP, asked at t->server port 111
 * (or t->port when it is not 0).  *ret_port is 0 when the program is not registered.
 * Returns 0, -ECONNREFUSED (nothing listens), -ETIMEDOUT, -EADDRNOTAVAIL
 * (t->source is not an address of this host), -EPROTO or another -errno.
 */
int rpc_pmap_getport(const struct rpc_target *t, uint32_t prog, uint32_t vers, uint16_t *ret_port);

/* MOUNTPROC3_EXPORT: the server's export list (rpc_exports_free). */
int rpc_mount_exports(const struct rpc_target *t, struct rpc_export **ret_v, size_t *ret_n);
void rpc_exports_free(struct rpc_export *v, size_t n);

/*
 * MOUNTPROC3_MNT of path, then UMNT when it was granted: *ret_status is the
 * server's mountstat3 (MNT3_OK, MNT3ERR_ACCES, ...).  Returns 0 when the
 * server answered, else as rpc_pmap_getport.
 */
int rpc_mount_mnt(const struct rpc_target *t, const char *path, uint32_t *ret_status);

#endif
