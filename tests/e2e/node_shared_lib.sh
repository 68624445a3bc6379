# Shared by the shared-root boot tests (test_node_shared.sh, with node-a at
# the same time; test_node_shared_boot.sh, node-b alone), sourced after
# node_boot_lib.sh: node-b (root.mode: shared) boots, what first boot
# promises on it, and its reboot.

# shared_b_boot: node-b's firmware and kernel, then alice logs in
shared_b_boot() {
	check "node-b: the firmware gets its files over TFTP" boot node-b 2345bcde dc:a6:32:00:00:02 bntap-b
	check "node-b: cmdline.txt over TFTP is bramble's" cmp "$W/fw-2345bcde/cmdline.txt" "$CMD_B"
}
# shared_b_up: wait until alice logs into node-b
shared_b_up() {
	if up node-b 10.99.0.43 "$W/id_alice" alice 900; then
		ok "node-b boots from the shared root and alice logs in with the repository's key"
	else
		not_ok "node-b boots and alice logs in"
		console_tail node-b 60
	fi
}
# shared_b_checks: what first boot promises on node-b once alice logged in
# (KEY_B: its SSH host key)
shared_b_checks() {
	check "node-b: systemd reached multi-user.target" NB timeout 120 systemctl is-system-running --wait --quiet
	NB systemctl --failed --no-legend >"$W/failed-b.txt" 2>&1
	check "node-b: no failed unit" test ! -s "$W/failed-b.txt"
	sed 's/^/    | /' "$W/failed-b.txt"
	NB systemd-analyze 2>/dev/null | sed 's/^/    | /'
	NB findmnt -n -r -o SOURCE,FSTYPE,OPTIONS /media/root-ro >"$W/lower-b.txt" 2>&1
	check "node-b: / is an overlay (overlayroot)" test "$(NB findmnt -n -o FSTYPE /)" = overlay
	check "node-b: ... mounted read-write" test "$(NB findmnt -n -o OPTIONS / | cut -d, -f1)" = rw
	contains "$W/lower-b.txt" "10.99.0.1:$rb nfs ro," "node-b: ... over the shared root, read-only over NFS"
	check "node-b: the hostname is firstBoot's" test "$(NB hostname)" = garden-b
	check "node-b: alice is root through sudo with her password" test "$(NBS id -u)" = 0
	check "node-b: the time zone" test "$(NB readlink /etc/localtime)" = /usr/share/zoneinfo/Asia/Tokyo
	check "node-b: the keymap" NB grep -qx 'XKBLAYOUT="fr"' /etc/default/keyboard
	NM=/etc/NetworkManager/system-connections/bramble-wifi.nmconnection
	NBS sh -c "stat -c %a:%U $NM; cat $NM" >"$W/wifi-b.txt" 2>&1
	contains "$W/wifi-b.txt" "600:root" "node-b: the Wi-Fi connection is 0600 root"
	contains "$W/wifi-b.txt" "psk=lab-passphrase-2345bcde" "node-b: its own Wi-Fi connection"
	NBS journalctl -b -u bramble-firstboot --no-pager -o cat >"$W/journal-b.txt" 2>&1
	sed 's/^/    | /' "$W/journal-b.txt"
	contains "$W/journal-b.txt" "settings of node 2345bcde copied over the shared root" \
		"node-b: first boot took node-b's settings from the shared root"
	contains "$W/journal-b.txt" "new SSH host keys for this node" "node-b: first boot made the node's own host keys"
	contains "$W/journal-b.txt" "user alice created" "node-b: first boot created alice"
	contains "$W/journal-b.txt" "settings applied" "node-b: first boot applied the settings"
	no_errors "$W/journal-b.txt" "node-b: no failed step or error in the first boot's journal"
	check "node-b: the first-boot service succeeded" \
		test "$(NB systemctl show -p Result --value bramble-firstboot.service)" = success
	check "node-b: its machine id is the one on its command line" test "$(NB cat /etc/machine-id)" = "$MID_B"
	IMG_KEY=$(awk '{ print $2 }' "$imgroot/etc/ssh/ssh_host_ed25519_key.pub")
	KEY_B=$(keyscan 10.99.0.43)
	check "node-b: sshd shows a host key, not the image's" test -n "$KEY_B" -a "$KEY_B" != "$IMG_KEY"
}
# shared_b_reboot: a file written on node-b is gone after a reboot, its
# machine id stays, its host keys are new, and the shared root on the server
# is as it was ($W/shared-before.txt)
shared_b_reboot() {
	NBS sh -c 'echo written on node-b >/etc/marker && echo written on node-b >/root/marker'
	check "node-b: files written in /etc and /root" NBS test -s /etc/marker -a -s /root/marker
	check "node-b: ... in its overlay, not in the shared root" test ! -e "$rb/etc/marker"
	shutdown_node node-b reboot NBS
	check "node-b: the firmware gets its files again" boot node-b 2345bcde dc:a6:32:00:00:02 bntap-b
	if up node-b 10.99.0.43 "$W/id_alice" alice 900; then ok "node-b: back after the reboot"; else
		not_ok "node-b: back after the reboot"
		console_tail node-b 40
	fi
	check "node-b: the files written before the reboot are gone" \
		NBS sh -c '! test -e /etc/marker && ! test -e /root/marker'
	check "node-b: the same machine id after the reboot" test "$(NB cat /etc/machine-id)" = "$MID_B"
	KEY_B2=$(keyscan 10.99.0.43)
	check "node-b: host keys made anew at each boot (the overlay forgot them), not the image's" \
		sh -c 'test -n "$1" && test "$1" != "$2" && test "$1" != "$3"' _ "$KEY_B2" "$KEY_B" "$IMG_KEY"
	snapshot "$rb" >"$W/shared-after.txt"
	if cmp -s "$W/shared-before.txt" "$W/shared-after.txt"; then
		ok "the shared root on the server is unchanged by node-b's boots"
	else
		not_ok "the shared root on the server is unchanged"
		diff "$W/shared-before.txt" "$W/shared-after.txt" | head -20 | sed 's/^/    | /'
	fi
}
