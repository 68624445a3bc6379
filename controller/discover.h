/*
 * discover: `bramble discover`.  For every Pi that boot observation saw
 * asking for a serial directory no manifest names (bootwatch.h), print a
 * ready-to-commit Node manifest: its serial, its MAC when the requests told
 * it (and no node has it already), its model as far as the requests tell,
 * and a free address of the cluster's subnet.
 */
#ifndef BRAMBLE_DISCOVER_H
#define BRAMBLE_DISCOVER_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

#include "config.h"
#include "model.h"

/*
 * The addresses a new node may not take: the network and broadcast
 * addresses, the server, the router, the DNS servers, every node's address
 * and (full mode) the DHCP pool, plus those in taken (host byte order).
 * Returns the first free one after the highest node address (wrapping
 * around), or 0 when the subnet is full.  Marks it taken.
 */
uint32_t discover_free_address(const struct manifest_set *set, uint32_t *taken, size_t *n_taken,
			       size_t max_taken);

/*
 * Print the manifests of the unknown Pis of boot (boot.json) for set; with
 * pis (not NULL), append one JSON object per Pi to it instead.  0 or -errno.
 */
int discover_print(const struct manifest_set *set, const json_t *boot, json_t *pis, FILE *out);

/*
 * The command: read the manifests and <stateDir>/boot.json, print them (or
 * with json the bramble/discover/v1 document); an enum exit_code.
 */
int discover_command(const struct bramble_config *cfg, bool json, FILE *out);

#endif
