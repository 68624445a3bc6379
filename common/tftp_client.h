/*
 * tftp_client: fetch one file over TFTP (RFC 1350) with the block size
 * option (RFC 2347/2348), as a Pi's bootloader does: a check that a file is
 * served, and served whole, not a transfer tool.  Blocking, bounded in time
 * and in size; no logging.
 */
#ifndef BRAMBLE_TFTP_CLIENT_H
#define BRAMBLE_TFTP_CLIENT_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

struct tftp_get {
	struct in_addr server; /* asked on port 69, or port */
	uint16_t port;	       /* 0: 69 */
	struct in_addr source; /* INADDR_ANY: the kernel chooses */
	const char *ifname;    /* NULL: any interface */
	unsigned blksize;      /* 0: 1468, as the bootloader asks */
	unsigned timeout_ms;   /* for the whole file; 0: 5000 */
	size_t max;	       /* largest file accepted; 0: 256 MiB */
	char error[128];       /* out: the server's error text, or what went wrong */
	unsigned error_code;   /* out: the TFTP error code (1 not found, 2 access) */
	unsigned blksize_used; /* out: after the server's OACK (512 without one) */
};

/*
 * Fetch path into data (appended).  Returns 0; -ENOENT (TFTP error 1),
 * -EACCES (error 2), -EPROTO (another TFTP error or a malformed answer),
 * -ETIMEDOUT, -E2BIG (over max), or the errno of a socket call; g->error
 * says which in words.
 */
int tftp_get_file(struct tftp_get *g, const char *path, struct buf *data);

#endif
