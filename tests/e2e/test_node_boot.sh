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
check "the image carries a machine id (as one booted before it was published does)" \
	test -s "$imgroot/etc/machine-id"
IMG_MID=$(cat "$imgroot/etc/machine-id")
for r in "$ra" "$rb"; do
	check "${r#"$out"/}: /etc/machine-id is empty before the first boot" \
		sh -c 'test -f "$1" && test ! -s "$1"' _ "$r/etc/machine-id"
	check "${r#"$out"/}: D-Bus's machine id is a symlink to it" \
		test "$(readlink "$r/var/lib/dbus/machine-id")" = /etc/machine-id
done
CMD_B=$out/tftp/2345bcde/cmdline.txt
contains "$CMD_B" "nfsroot=10.99.0.1:$rb,vers=3,tcp ro ip=dhcp rootwait overlayroot=tmpfs bramble.serial=2345bcde systemd.machine_id=" \
	"node-b: cmdline.txt mounts the shared root read-only, with a tmpfs overlay, its serial and machine id"
MID_B=$(sed -n 's/.*systemd\.machine_id=\([0-9a-f]*\).*/\1/p' "$CMD_B")
check "node-b: its machine id is 32 hex digits" test "${#MID_B}" -eq 32
check "the shared root holds node-b's first-boot settings (0600)" \
	test "$(stat -c %a "$rb/etc/bramble/nodes/2345bcde/etc/bramble/firstboot.conf")" = 600

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
check "node-a: systemd reached multi-user.target" A timeout 120 systemctl is-system-running --wait --quiet
A systemctl --failed --no-legend >"$W/failed-a.txt" 2>&1
check "node-a: no failed unit" test ! -s "$W/failed-a.txt"
sed 's/^/    | /' "$W/failed-a.txt"
A systemd-analyze 2>/dev/null | sed 's/^/    | /'
check "node-a: / is its root over NFS" test "$(A findmnt -n -o SOURCE,FSTYPE /)" = "10.99.0.1:$ra nfs"
check "node-a: the hostname is firstBoot's" test "$(A hostname)" = garden-a
check "node-a: alice is root through sudo with her password" test "$(AS id -u)" = 0
A sudo -n true >"$W/sudo-n.out" 2>&1
contains "$W/sudo-n.out" "password is required" "node-a: sudo asks alice for her password (she has a hash)"
check "node-a: the time zone" test "$(A readlink /etc/localtime)" = /usr/share/zoneinfo/Europe/Paris
check "node-a: the time zone is in effect" test "$(A date +%Z)" = "$(TZ=Europe/Paris date +%Z)"
check "node-a: the keymap" A grep -qx 'XKBLAYOUT="de"' /etc/default/keyboard
check "node-a: the Wi-Fi country is on the kernel command line" A grep -q 'cfg80211.ieee80211_regdom=FR' /proc/cmdline
NM=/etc/NetworkManager/system-connections/bramble-wifi.nmconnection
AS sh -c "stat -c %a:%U $NM; cat $NM" >"$W/wifi-a.txt" 2>&1
contains "$W/wifi-a.txt" "600:root" "node-a: the Wi-Fi connection is 0600 root"
contains "$W/wifi-a.txt" "ssid=bramble lab" "node-a: the Wi-Fi connection names the network"
contains "$W/wifi-a.txt" "psk=lab-passphrase-1234abcd" "node-a: ... with its passphrase"
check "node-a: ssh.service is enabled" test "$(A systemctl is-enabled ssh.service)" = enabled
# (as root: journald cannot set the ACLs that let adm read the journal on NFS)
AS journalctl -b -u bramble-firstboot --no-pager -o cat >"$W/journal-a.txt" 2>&1
sed 's/^/    | /' "$W/journal-a.txt"
contains "$W/journal-a.txt" "new SSH host keys for this node" "node-a: first boot made the node's own host keys"
contains "$W/journal-a.txt" "user alice created" "node-a: first boot created alice"
contains "$W/journal-a.txt" "settings applied" "node-a: first boot applied the settings"
no_errors "$W/journal-a.txt" "node-a: no failed step or error in the first boot's journal"
check "node-a: the first-boot service succeeded" \
	test "$(A systemctl show -p Result --value bramble-firstboot.service)" = success
MID_A=$(A cat /etc/machine-id)
check "node-a: a machine id of its own (not the image's)" \
	sh -c 'test "${#1}" -eq 32 && test "$1" != "$2"' _ "$MID_A" "$IMG_MID"
check "node-a: systemd wrote it into its root" test "$(cat "$ra/etc/machine-id")" = "$MID_A"

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
