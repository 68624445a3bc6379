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
# machine id stays, and the shared root on the server has not changed.
# Slow (two boots at once and a reboot): CTest labels "slow" and "full".
# BRAMBLE_SKIP_BOOT_TEST=1 skips it (see node_boot_lib.sh).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/node_boot_lib.sh"

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
check "node-b: the firmware gets its files over TFTP" boot node-b 2345bcde dc:a6:32:00:00:02 bntap-b
check "node-b: cmdline.txt over TFTP is bramble's" cmp "$W/fw-2345bcde/cmdline.txt" "$CMD_B"
for n in a b; do
	ip=10.99.0.42
	[ $n = a ] || ip=10.99.0.43
	if up node-$n $ip "$W/id_alice" alice 600; then
		ok "node-$n boots from its NFS root and alice logs in with the repository's key"
	else
		not_ok "node-$n boots and alice logs in"
		console_tail node-$n 60
	fi
done
phase "node-a"
node_a_checks

phase "node-b"
check "node-b: systemd reached multi-user.target" NB timeout 120 systemctl is-system-running --wait --quiet
NB systemctl --failed --no-legend >"$W/failed-b.txt" 2>&1
check "node-b: no failed unit" test ! -s "$W/failed-b.txt"
sed 's/^/    | /' "$W/failed-b.txt"
NB systemd-analyze 2>/dev/null | sed 's/^/    | /'
NB findmnt -n -o SOURCE,FSTYPE,OPTIONS /media/root-ro >"$W/lower-b.txt" 2>&1
check "node-b: / is an overlay (overlayroot)" test "$(NB findmnt -n -o FSTYPE /)" = overlay
contains "$W/lower-b.txt" "10.99.0.1:$rb nfs ro," "node-b: ... over the shared root, read-only over NFS"
check "node-b: the hostname is firstBoot's" test "$(NB hostname)" = garden-b
check "node-b: alice is root through sudo with her password" test "$(NBS id -u)" = 0
check "node-b: the time zone" test "$(NB readlink /etc/localtime)" = /usr/share/zoneinfo/Asia/Tokyo
check "node-b: the keymap" NB grep -qx 'XKBLAYOUT="fr"' /etc/default/keyboard
NBS sh -c "stat -c %a:%U $NM; cat $NM" >"$W/wifi-b.txt" 2>&1
contains "$W/wifi-b.txt" "psk=lab-passphrase-2345bcde" "node-b: its own Wi-Fi connection (0600 in the shared root)"
NBS journalctl -b -u bramble-firstboot --no-pager -o cat >"$W/journal-b.txt" 2>&1
sed 's/^/    | /' "$W/journal-b.txt"
contains "$W/journal-b.txt" "settings of node 2345bcde copied over the shared root" \
	"node-b: first boot took node-b's settings from the shared root"
contains "$W/journal-b.txt" "new SSH host keys for this node" "node-b: first boot made the node's own host keys"
contains "$W/journal-b.txt" "user alice created" "node-b: first boot created alice"
contains "$W/journal-b.txt" "settings applied" "node-b: first boot applied the settings"
no_errors "$W/journal-b.txt" "node-b: no failed step or error in the first boot's journal"
check "node-b: its machine id is the one on its command line" test "$(NB cat /etc/machine-id)" = "$MID_B"

# --- Host keys and machine ids: each node's own -----------------------------
phase "host keys and machine ids"
IMG_KEY=$(awk '{ print $2 }' "$imgroot/etc/ssh/ssh_host_ed25519_key.pub")
KEY_A=$(keyscan 10.99.0.42)
KEY_B=$(keyscan 10.99.0.43)
check "node-a: sshd shows a host key" test -n "$KEY_A"
check "node-a: its host key is not the image's" test "$KEY_A" != "$IMG_KEY"
check "node-a: sshd's key is the one in its root" \
	test "$KEY_A" = "$(awk '{ print $2 }' "$ra/etc/ssh/ssh_host_ed25519_key.pub")"
check "node-b: sshd shows a host key, not the image's" test -n "$KEY_B" -a "$KEY_B" != "$IMG_KEY"
check "the two nodes' host keys differ" test "$KEY_A" != "$KEY_B"
check "the two nodes' machine ids differ, and neither is the image's" \
	sh -c 'test "$1" != "$2" && test "$2" != "$3"' _ "$MID_A" "$MID_B" "$IMG_MID"

# --- node-b reboots: its overlay is gone, the shared root unchanged --------
phase "reboot node-b"
NBS sh -c 'echo written on node-b >/etc/marker && echo written on node-b >/root/marker'
check "node-b: files written in /etc and /root" NBS test -s /etc/marker -a -s /root/marker
check "node-b: ... in its overlay, not in the shared root" test ! -e "$rb/etc/marker"
shutdown_node node-b reboot NBS
check "node-b: the firmware gets its files again" boot node-b 2345bcde dc:a6:32:00:00:02 bntap-b
if up node-b 10.99.0.43 "$W/id_alice" alice 600; then ok "node-b: back after the reboot"; else
	not_ok "node-b: back after the reboot"; console_tail node-b 40; fi
check "node-b: the files written before the reboot are gone" NBS sh -c '! test -e /etc/marker && ! test -e /root/marker'
check "node-b: the same machine id after the reboot" test "$(NB cat /etc/machine-id)" = "$MID_B"
KEY_B2=$(keyscan 10.99.0.43)
check "node-b: host keys made anew at each boot (the overlay forgot them), not the image's" \
	sh -c 'test -n "$1" && test "$1" != "$2" && test "$1" != "$3"' _ "$KEY_B2" "$KEY_B" "$IMG_KEY"
snapshot "$rb" >"$W/shared-after.txt"
if cmp -s "$W/shared-before.txt" "$W/shared-after.txt"; then
	ok "the shared root on the server is unchanged by two boots of node-b"
else
	not_ok "the shared root on the server is unchanged"
	diff "$W/shared-before.txt" "$W/shared-after.txt" | head -20 | sed 's/^/    | /'
fi

phase "done"
halt node-a
halt node-b
done_testing
