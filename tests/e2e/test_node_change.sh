#!/bin/bash
# A change reaches a real node (issue 12, item 3), with the setup of
# test_node_boot.sh (node_boot_lib.sh): node-a boots for the first time, then
#   1. a reboot with nothing changed: the first-boot service says there is
#      nothing to do, and none of the files it manages changes;
#   2. a second user (bob, a key, sudo without a password) committed and
#      applied while the node runs: after a reboot bob logs in;
#   3. a re-image (root.generation bumped): a fresh root, the attic keeps the
#      old one with what the node wrote, and the node boots the fresh root.
# Slow (four boots, several minutes): CTest label "slow".
# BRAMBLE_SKIP_BOOT_TEST=1 skips it (see node_boot_lib.sh).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/node_boot_lib.sh"

phase "boot node-a"
check "node-a: the firmware gets its files over TFTP" boot node-a 1234abcd dc:a6:32:00:00:01 bntap-a
if up node-a 10.99.0.42 "$W/id_alice" alice 300; then ok "node-a: first boot, alice logs in"; else
	not_ok "node-a: first boot, alice logs in"; console_tail node-a 60; fi
A timeout 120 systemctl is-system-running --wait >/dev/null
KEY_A=$(keyscan 10.99.0.42)
check "node-a: its own host key" test -n "$KEY_A" -a "$KEY_A" != "$(awk '{ print $2 }' "$imgroot/etc/ssh/ssh_host_ed25519_key.pub")"

# --- A reboot with nothing changed: the service says so, no file changes --
phase "reboot node-a, nothing changed"
fb_files "$ra" >"$W/files-boot1.txt"
shutdown_node node-a reboot
check "node-a: the firmware gets its files again" boot node-a 1234abcd dc:a6:32:00:00:01 bntap-a
if up node-a 10.99.0.42 "$W/id_alice" alice 300; then ok "node-a: back after the reboot"; else
	not_ok "node-a: back after the reboot"; console_tail node-a 40; fi
A timeout 120 systemctl is-system-running --wait >/dev/null
AS journalctl -b -u bramble-firstboot --no-pager -o cat >"$W/journal-a2.txt" 2>&1
sed 's/^/    | /' "$W/journal-a2.txt"
contains "$W/journal-a2.txt" "settings unchanged since they were applied: nothing to do" \
	"node-a: after a reboot with nothing changed, the service says there is nothing to do"
lacks "$W/journal-a2.txt" "settings applied" "node-a: ... and applies nothing"
lacks "$W/journal-a2.txt" "new SSH host keys" "node-a: ... and keeps its host keys"
fb_files "$ra" >"$W/files-boot2.txt"
if cmp -s "$W/files-boot1.txt" "$W/files-boot2.txt"; then
	ok "node-a: the reboot changed none of the files first boot manages (inode, size, mtime, ctime, mode)"
else
	not_ok "node-a: the reboot changed none of the files first boot manages"
	diff "$W/files-boot1.txt" "$W/files-boot2.txt" | sed 's/^/    | /'
fi
check "node-a: the same host key after the reboot" test "$(keyscan 10.99.0.42)" = "$KEY_A"

# --- A change reaches the node: bob, committed, applied, then a reboot ----
phase "bob committed; apply; reboot node-a"
EXTRA_USERS="      - name: bob
        sshKeys:
          - $(cat "$W/id_bob.pub")
        sudo: true"
write_nodes
push_commit "bob"
expect_rc 0 "apply the commit that adds bob, node-a running" ba
contains "$W/last.out" "1234abcd/etc/ssh/bramble/authorized_keys/bob" "the plan adds bob's keys to node-a's root"
bob_refused() { ! on 10.99.0.42 "$W/id_bob" bob true </dev/null 2>/dev/null; }
check "bob cannot log in before the node applied the change" bob_refused
shutdown_node node-a reboot
check "node-a: the firmware gets its files again" boot node-a 1234abcd dc:a6:32:00:00:01 bntap-a
if up node-a 10.99.0.42 "$W/id_bob" bob 300; then ok "node-a: bob logs in with his key after the reboot"; else
	not_ok "node-a: bob logs in with his key after the reboot"; console_tail node-a 40; fi
B() { on 10.99.0.42 "$W/id_bob" bob "$@" </dev/null; }
check "node-a: bob has sudo without a password (no hash in the repository)" B sudo -n true
check "node-a: alice still logs in" A true
AS journalctl -b -u bramble-firstboot --no-pager -o cat >"$W/journal-a3.txt" 2>&1
sed 's/^/    | /' "$W/journal-a3.txt"
contains "$W/journal-a3.txt" "user bob created" "node-a: the service created bob"
contains "$W/journal-a3.txt" "settings applied" "node-a: ... and applied the new settings"
lacks "$W/journal-a3.txt" "new SSH host keys" "node-a: ... keeping its host keys"
no_errors "$W/journal-a3.txt" "node-a: no failed step or error"
check "node-a: still the same host key" test "$(keyscan 10.99.0.42)" = "$KEY_A"

# --- Re-image: a fresh root, the attic keeps the old one -------------------
phase "re-image node-a"
A sh -c 'echo "written by alice in generation 0" >note'
shutdown_node node-a poweroff
old_ino=$(stat -c %i "$ra")
GEN_A=1
write_nodes
push_commit "re-image node-a"
expect_rc 0 "apply the re-image" ba
contains "$W/last.out" "re-image" "the plan says node-a is re-imaged"
check "node-a: a new root" test "$(stat -c %i "$ra")" != "$old_ino"
check "node-a: the new root is the image's (no home of alice yet)" test ! -e "$ra/home/alice"
check "the attic keeps generation 0 with alice's note" \
	sh -c 'grep -q "generation 0" "$1"/nfs/.attic/1234abcd.gen0.*/home/alice/note' _ "$out"
# What the export serves, seen from node-a's address while node-a is off.
served_fresh() {
	ip -n "$NS_C" addr flush dev bnc && ip -n "$NS_C" addr add 10.99.0.42/24 dev bnc
	ip netns exec "$NS_C" nfs-ls "nfs://10.99.0.1$ra/home" >"$W/home.ls" 2>&1
	local rc=$?
	ip -n "$NS_C" addr flush dev bnc && ip -n "$NS_C" addr add 10.99.0.9/24 dev bnc
	[ $rc -eq 0 ] && ! grep -q alice "$W/home.ls"
}
# KNOWN BUG (the NFS reload after a re-image; reported, not first boot's):
# a re-image renames the old root away and a fresh one into its place, but
# changes no export line, so nothing is reloaded; and nfs-ganesha keeps
# serving the renamed directory (now in the attic) for an unchanged export
# even after a SIGHUP.  The node would boot its old root.  Until bramble
# restarts ganesha after a re-image, the test does, as an operator must.
todo "ganesha serves node-a's fresh root after bramble's re-image" served_fresh
stop_pid "$GAN"
check "ganesha restarted" ganesha_start "$NS_S"
check "after the restart, ganesha serves the fresh root" served_fresh
check "node-a: the firmware gets its files" boot node-a 1234abcd dc:a6:32:00:00:01 bntap-a
if up node-a 10.99.0.42 "$W/id_alice" alice 300; then
	ok "node-a: the re-imaged node boots its fresh root and alice logs in"
else
	not_ok "node-a: the re-imaged node boots its fresh root and alice logs in"; console_tail node-a 40
fi
check "node-a: the fresh root is the one mounted (no note)" A test ! -e note
KEY_A1=$(keyscan 10.99.0.42)
check "node-a: the fresh root has its own host key (not generation 0's, not the image's)" \
	sh -c 'test -n "$1" && test "$1" != "$2" && test "$1" != "$3"' _ "$KEY_A1" "$KEY_A" \
	"$(awk '{ print $2 }' "$imgroot/etc/ssh/ssh_host_ed25519_key.pub")"

phase "done"
halt node-a
done_testing
