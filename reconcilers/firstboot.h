/*
 * firstboot: the first-boot configuration of a node, as files rendered into
 * its root like any other resource (in the inventory, repaired on drift,
 * shown in plan):
 *
 *	etc/bramble/firstboot.conf            the settings (0600: password hashes)
 *	usr/local/sbin/bramble-firstboot      the script that applies them
 *	etc/systemd/system/bramble-firstboot.service (+ its multi-user.target.wants link)
 *	etc/ssh/sshd_config.d/bramble.conf    AuthorizedKeysFile: also bramble's key files
 *	etc/ssh/bramble/authorized_keys/<user>  each user's keys from the repository
 *	etc/sudoers.d/bramble                 users with sudo
 *	etc/NetworkManager/system-connections/bramble-wifi.nmconnection  (0600)
 *
 * In a private root they sit where they act.  A shared root holds the
 * script and the unit once, and each node's files (with its /etc/hostname
 * and /etc/hosts) under etc/bramble/nodes/<serial>/, laid out like the root:
 * at boot the script copies the node's own (bramble.serial= on its kernel
 * command line) over the root's tmpfs overlay.
 *
 * The script runs at every boot and does its work only when the settings
 * changed (so the first boot, and a boot after a change in the repository;
 * on a shared root, whose overlay forgets everything, every boot):
 * SSH host keys once per root, users and their password hashes, SSH on or
 * off, time zone, keymap, the Wi-Fi radio.  Secrets given as {file: PATH}
 * are read here, at render time, and never shown (RES_F_SECRET).
 */
#ifndef BRAMBLE_FIRSTBOOT_H
#define BRAMBLE_FIRSTBOOT_H

#include "reconciler.h"

/*
 * Render the first-boot files of node n beneath dir of the NFS root: the
 * root itself ("<serial>") for a private root, the node's directory
 * ("shared/<image>/etc/bramble/nodes/<serial>") in a shared one.  A secret
 * file that cannot be read, or whose content is not valid, is an error in d
 * at the secret's position (-EINVAL).
 */
int firstboot_render(struct render_ctx *ctx, const struct node *n, const char *dir,
		     struct resource_set *out, struct diags *d);

/*
 * Render the script and its systemd unit (enabled) into the root at root:
 * node n's for a private root, shared by its nodes when n is NULL.
 */
int firstboot_render_service(const char *root, const struct node *n, struct resource_set *out);

/* The script's text (static), for the tests. */
extern const char firstboot_script[];

#endif
