#!/bin/bash
# A real node's first boot (issue 12): a Debian 12 userland with systemd,
# built by tests/images/make-debian-image.sh into a Raspberry-Pi-OS-shaped
# .img.xz (cached), given to bramble as an Image with a file:// url and its
# sha256.  bramble applies a cluster from a git repository; the dnsmasq
# (full DHCP, TFTP) and nfs-ganesha (NFSv3, rpcbind) configurations it
# renders serve a qemu-system-x86_64 guest (TCG) in network namespaces
# (node_boot_lib.sh):
#   1. the harness plays the Pi's firmware: a DHCP DISCOVER with the node's
#      MAC and the Pi's options, then TFTP of config.txt, cmdline.txt, the
#      kernel and initramfs that config.txt names, from <serial>/; qemu boots
#      them with cmdline.txt as the kernel command line, as the firmware does;
#   2. the guest's initramfs takes its lease, mounts the node's root over
#      NFSv3 from bramble's nfsroot=, and systemd boots to multi-user.target,
#      running bramble-firstboot.service;
#   3. the test logs in over SSH with the repository's key as the
#      repository's user and checks the hostname, the password hash (sudo -S),
#      sudo's policy, the time zone, the keymap, the Wi-Fi connection and
#      country, the SSH host keys and the machine id (the node's own, not the
#      image's) and the service's journal.
# Before the boot it checks what bramble rendered for node-b, which is on
# the image's shared root (root.mode: shared): an empty machine id in the
# shared root, and node-b's command line; test_node_shared.sh boots it.
# Slow (see README.md, "A real boot, tested", for the measured time; the
# first run on a machine also builds the image, about 13 to 18 minutes):
# CTest label "slow".  BRAMBLE_SKIP_BOOT_TEST=1 skips it (see node_boot_lib.sh).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/node_boot_lib.sh"

# --- Before the first boot: no machine id from the image ---------------------
before_first_boot

# --- node-a boots -----------------------------------------------------------
phase "boot node-a"
check "node-a: the firmware gets its files over TFTP" boot node-a 1234abcd dc:a6:32:00:00:01 bntap-a
for f in config.txt cmdline.txt kernel8.img initramfs8; do
	check "node-a: $f over TFTP is bramble's" cmp "$W/fw-1234abcd/$f" "$out/tftp/1234abcd/$f"
done
contains "$W/fw-1234abcd/offer.json" '"yiaddr": "10.99.0.42"' "node-a: the DHCP offer is its reserved address"
if up node-a 10.99.0.42 "$W/id_alice" alice 300; then
	ok "node-a boots from its NFS root and alice logs in with the repository's key"
else
	not_ok "node-a boots and alice logs in"
	console_tail node-a 60
fi
node_a_checks

# --- Host keys: the node's own -----------------------------------------------
IMG_KEY=$(awk '{ print $2 }' "$imgroot/etc/ssh/ssh_host_ed25519_key.pub")
KEY_A=$(keyscan 10.99.0.42)
check "node-a: sshd shows a host key" test -n "$KEY_A"
check "node-a: its host key is not the image's" test "$KEY_A" != "$IMG_KEY"
check "node-a: sshd's key is the one in its root" \
	test "$KEY_A" = "$(awk '{ print $2 }' "$ra/etc/ssh/ssh_host_ed25519_key.pub")"

phase "done"
halt node-a
done_testing
