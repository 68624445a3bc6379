#!/bin/bash
# Shared roots boot (issue 12, item 4), and two nodes are not one (item 2),
# with the setup of test_node_boot.sh (node_boot_lib.sh): node-a boots from
# its private root and, at the same time, node-b from the image's shared root
# (root.mode: shared): read-only over NFS with a tmpfs overlay (the
# overlayroot package's initramfs hook), its first-boot settings copied from
# the shared root over the overlay by bramble-firstboot.service.  The test
# logs into both with the repository's key and checks what first boot
# promises on each, that their SSH host keys and machine ids differ (and are
# not the image's); then a file written on node-b is gone after a reboot, its
# machine id stays, and the shared root on the server has not changed
# (node_shared_lib.sh; test_node_shared_boot.sh boots node-b alone).
# Slow (two boots at once and a reboot): CTest labels "slow" and "full".
# BRAMBLE_SKIP_BOOT_TEST=1 skips it (see node_boot_lib.sh).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/node_boot_lib.sh"
. "$(dirname "$0")/node_shared_lib.sh"

# --- Before the first boot: no machine id from the image ---------------------
before_first_boot
snapshot "$rb" >"$W/shared-before.txt"

# --- node-a (private root) and node-b (shared root) boot --------------------
phase "boot node-a and node-b"
check "node-a: the firmware gets its files over TFTP" boot node-a 1234abcd dc:a6:32:00:00:01 bntap-a
for f in config.txt cmdline.txt kernel8.img initramfs8; do
	check "node-a: $f over TFTP is bramble's" cmp "$W/fw-1234abcd/$f" "$out/tftp/1234abcd/$f"
done
contains "$W/fw-1234abcd/offer.json" '"yiaddr": "10.99.0.42"' "node-a: the DHCP offer is its reserved address"
shared_b_boot
if up node-a 10.99.0.42 "$W/id_alice" alice 900; then
	ok "node-a boots from its NFS root and alice logs in with the repository's key"
else
	not_ok "node-a boots and alice logs in"
	console_tail node-a 60
fi
shared_b_up
phase "node-a"
node_a_checks

phase "node-b"
shared_b_checks

# --- Host keys and machine ids: each node's own -----------------------------
phase "host keys and machine ids"
KEY_A=$(keyscan 10.99.0.42)
check "node-a: sshd shows a host key" test -n "$KEY_A"
check "node-a: its host key is not the image's" test "$KEY_A" != "$IMG_KEY"
check "node-a: sshd's key is the one in its root" \
	test "$KEY_A" = "$(awk '{ print $2 }' "$ra/etc/ssh/ssh_host_ed25519_key.pub")"
check "the two nodes' host keys differ" test "$KEY_A" != "$KEY_B"
check "the two nodes' machine ids differ, and neither is the image's" \
	sh -c 'test "$1" != "$2" && test "$2" != "$3"' _ "$MID_A" "$MID_B" "$IMG_MID"

# --- node-b reboots: its overlay is gone, the shared root unchanged --------
phase "reboot node-b"
shared_b_reboot

phase "done"
halt node-a
halt node-b
done_testing
