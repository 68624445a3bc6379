#!/bin/bash
# A shared-root node boots (issue 12, item 4), alone: the setup of
# test_node_boot.sh (node_boot_lib.sh), and node-b, whose root is the image's
# shared root (root.mode: shared), boots it read-only over NFS with a tmpfs
# overlay (the overlayroot package's initramfs hook); bramble-firstboot.service
# copies node-b's first-boot settings from the shared root over the overlay
# and applies them.  The test logs in with the repository's key, checks what
# first boot promises (node_shared_lib.sh), then writes a file on node-b,
# reboots it, and checks that the file is gone, the machine id stayed, the
# host keys are new and the shared root on the server has not changed.
# test_node_shared.sh is the same with node-a booting at the same time (and
# the two nodes' host keys and machine ids compared).
# Slow (one boot and a reboot; see README.md, "A real boot, tested"): CTest
# label "slow".  BRAMBLE_SKIP_BOOT_TEST=1 skips it (see node_boot_lib.sh).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/node_boot_lib.sh"
. "$(dirname "$0")/node_shared_lib.sh"

before_first_boot
snapshot "$rb" >"$W/shared-before.txt"

phase "boot node-b"
shared_b_boot
shared_b_up
phase "node-b"
shared_b_checks
check "node-b: its machine id is not the image's" test "$MID_B" != "$IMG_MID"

phase "reboot node-b"
shared_b_reboot

phase "done"
halt node-b
done_testing
