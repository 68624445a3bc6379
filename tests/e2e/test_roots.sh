#!/bin/bash
# Node roots with real files: a private root copied from an image root that
# has setuid files, a file capability, hard links, symlinks, numeric owners, a
# FIFO and extended attributes (copy here; reflink on an XFS file system made
# in a private mount namespace when mkfs.xfs and loop devices work); files the
# node writes kept; drift of bramble's files repaired; secrets out of every
# output and readable by root only; a missing secret file refused; re-image
# and node removal through the attic; bramble gc; shared roots; and the
# first-boot script run twice against a root, with stub commands.
. "$(dirname "$0")/lib.sh"
need_root
setup_example
out=$W/out
img=$out/images/demo-os/root
b2() { "$BRAMBLE" "$@" --source "$W/repo" --root "$out" --set dhcp.testCommand= --set "$SECRETS"; }

# --- An image root with everything a real one has ----------------------------
mkdir -p "$img/usr/bin" "$img/usr/lib" "$img/srv" "$img/tmp" "$img/etc/ssh" \
	"$img/usr/share/zoneinfo/Europe" "$img/var/lib/systemd/rfkill" "$img/etc/default"
printf 'suid\n' >"$img/usr/bin/su-like" && chmod 4755 "$img/usr/bin/su-like"
printf 'sgid\n' >"$img/usr/bin/sg-like" && chown 0:42 "$img/usr/bin/sg-like" && chmod 2755 "$img/usr/bin/sg-like"
printf 'ping\n' >"$img/usr/bin/ping" && chmod 0755 "$img/usr/bin/ping"
setcap cap_net_raw+ep "$img/usr/bin/ping"
printf 'perl\n' >"$img/usr/bin/perl" && ln "$img/usr/bin/perl" "$img/usr/bin/perl5.36"
ln -s perl "$img/usr/bin/perl-link"
ln -s /etc/os-release "$img/usr/lib/os-release"
printf 'data\n' >"$img/srv/owned" && chown 1234:5678 "$img/srv/owned" && chmod 0640 "$img/srv/owned"
chown -h 1234:5678 "$img/usr/bin/perl-link"
setfattr -n user.bramble -v kept "$img/srv/owned"
mkfifo "$img/srv/fifo"
chmod 1777 "$img/tmp"
touch -h -d '2020-01-02 03:04:05' "$img/srv/owned" "$img/usr/bin/perl-link"
printf 'image-host-key\n' >"$img/etc/ssh/ssh_host_ed25519_key"
printf 'TZif\n' >"$img/usr/share/zoneinfo/Europe/London"
printf '1\n' >"$img/var/lib/systemd/rfkill/platform-wifi:wlan"
printf 'XKBMODEL="pc105"\nXKBLAYOUT="us"\n' >"$img/etc/default/keyboard"

# A tree listing to compare an image root with a copy: type, mode, owner,
# size, mtime, link target and extended attributes of every path, bramble's
# own files and the directories holding them (whose mtimes they change) left out.
listing() {
	(cd "$1" && find . -path ./etc -prune -o -path ./var -prune -o -path ./usr/local -prune -o \
		-path . -o -path ./usr -o -printf '%p %y %m %U:%G %s %T@ %l\n' | sort
	 cd "$1" && getfattr -h -R -d -m - srv usr/bin 2>/dev/null | grep -v '^$' | sort)
}

# pi4-a's password hash kept out of git too.
hash='$6$T533RErzJ6cdLQZX$9Vxv2dFZ4kuRuGZjYXUcFcgY2r7V5PWWOzWhWFOdCi2/M/M43.8RUeFysShM2feaP/S2oUweV3IwowDQA5aCG0'
(umask 077 && printf '%s\n' "$hash" >"$W/secrets/admin-hash")
sed -i "s|passwordHash: \".*\"|passwordHash: {file: $W/secrets/admin-hash}|" "$W/repo/nodes/pi4.yaml"

# --- Private roots, copied --------------------------------------------------
expect_rc 2 "plan lists the roots to make" b2 plan --set roots.copyMode=copy
contains "$W/last.out" "+ nfs        1234abcd/  (missing)  [node pi4-a]" "plan: pi4-a's root is made"
contains "$W/last.out" "copied from the image root demo-os/root" "plan says where it is copied from"
expect_rc 0 "apply makes the roots (copyMode copy)" b2 apply --set roots.copyMode=copy
cp "$W/last.out" "$W/apply1.out"
cp "$W/last.err" "$W/apply1.err"
r=$out/nfs/1234abcd
check "the copy has the image's files, modes, owners, times, links and attributes" \
	test "$(listing "$img")" = "$(listing "$r")"
check "setuid kept" test "$(stat -c %a "$r/usr/bin/su-like")" = 4755
check "setgid and group kept" test "$(stat -c %a:%g "$r/usr/bin/sg-like")" = 2755:42
check "file capability kept" sh -c "getcap '$r/usr/bin/ping' | grep -q cap_net_raw=ep"
check "numeric owner kept" test "$(stat -c %u:%g "$r/srv/owned")" = 1234:5678
check "hard link kept within the root" \
	test "$(stat -c %i "$r/usr/bin/perl")" = "$(stat -c %i "$r/usr/bin/perl5.36")"
check "hard link is the root's own, not the image's" \
	test "$(stat -c %i "$r/usr/bin/perl")" != "$(stat -c %i "$img/usr/bin/perl")"
check "symlinks kept" test "$(readlink "$r/usr/lib/os-release")" = /etc/os-release
check "FIFO kept" test -p "$r/srv/fifo"
check "sticky directory kept" test "$(stat -c %a "$r/tmp")" = 1777
check "no staging left" test ! -e "$out/nfs/.staging"
contains "$out/state/roots/1234abcd" "generation 0" "the record says the generation"
contains "$out/state/roots/1234abcd" "image demo-os" "the record says the image"
check "the record is in the state directory, not in the root" test ! -e "$r/state"
check "hostname is the node's" test "$(cat "$r/etc/hostname")" = pi4-a
contains "$r/etc/hosts" "127.0.1.1	pi4-a" "hosts names the node"
lacks "$r/etc/fstab" "PARTUUID" "fstab has no SD card line"
check "fstab does not mount /boot/firmware" sh -c "! grep -q '^[^#].*/boot/firmware' '$r/etc/fstab'"
check "first-boot unit enabled" test "$(readlink "$r/etc/systemd/system/multi-user.target.wants/bramble-firstboot.service")" = /etc/systemd/system/bramble-firstboot.service
contains "$r/etc/ssh/bramble/authorized_keys/admin" "ssh-ed25519 AAAAC3" "the user's SSH key"
contains "$r/etc/sudoers.d/bramble" "admin ALL=(ALL:ALL) ALL" "sudo for admin"
check "sudoers file is 0440" test "$(stat -c %a "$r/etc/sudoers.d/bramble")" = 440
contains "$out/tftp/3456cdef/cmdline.txt" "cfg80211.ieee80211_regdom=GB" "Wi-Fi country on the kernel command line"

# --- Secrets -----------------------------------------------------------------
nm=$out/nfs/3456cdef/etc/NetworkManager/system-connections/bramble-wifi.nmconnection
check "Wi-Fi passphrase is in the node's connection" grep -q '^psk=example-passphrase$' "$nm"
check "connection file is 0600 root" test "$(stat -c %a:%u "$nm")" = 600:0
check "first-boot settings are 0600 root" test "$(stat -c %a:%u "$r/etc/bramble/firstboot.conf")" = 600:0
contains "$r/etc/bramble/firstboot.conf" "password admin $hash" "the hash from the secret file"
expect_rc 0 "status" b2 status --json
cat "$W/last.out" >>"$W/all.out"
expect_rc 0 "plan -v" b2 plan -v
cat "$W/apply1.out" "$W/apply1.err" "$W/last.out" "$W/last.err" >>"$W/all.out"
cat "$out/state/status.json" "$out/state/nodes.json" >>"$W/all.out" 2>/dev/null
lacks "$W/all.out" "example-passphrase" "the passphrase is in no output, log or status"
lacks "$W/all.out" "T533RErzJ6cdLQZX" "the password hash is in no output, log or status"
printf 'a-new-passphrase\n' >"$W/secrets/wifi-passphrase"
expect_rc 2 "a changed secret file is a change" b2 plan
contains "$W/last.out" "bramble-wifi.nmconnection  (changed in the repository)" "plan names the file"
contains "$W/last.out" "(secret)" "plan shows (secret) instead of a diff"
lacks "$W/last.out" "a-new-passphrase" "the new passphrase is not shown"
mv "$W/secrets/wifi-passphrase" "$W/secrets/moved"
before=$(snapshot "$out")
expect_rc 1 "a missing secret file applies nothing" b2 apply
contains "$W/last.err" "pi5.yaml:27:19: wifi.passphrase of node \"pi5-a\": cannot read the secret file" "the error names the manifest position"
check "nothing changed" test "$before" = "$(snapshot "$out")"
mv "$W/secrets/moved" "$W/secrets/wifi-passphrase"
expect_rc 0 "apply the new passphrase" b2 apply
lacks "$W/last.out" "a-new-passphrase" "apply does not show it either"
check "the connection has the new passphrase" grep -q '^psk=a-new-passphrase$' "$nm"

# --- The node's files are its own; bramble's are repaired ------------------
echo "node data" >"$r/home/notes"
echo "changed by the node" >"$r/etc/os-release"
echo "hacked" >"$r/etc/hostname"
expect_rc 2 "plan sees the edited hostname" b2 plan
contains "$W/last.out" "1234abcd/etc/hostname  (content differs (edited outside bramble); drift)" "drift of /etc/hostname"
lacks "$W/last.out" "notes" "a file the node wrote is not bramble's business"
lacks "$W/last.out" "os-release" "nor is an image file the node changed"
expect_rc 0 "apply repairs the drift" b2 apply
check "hostname repaired" test "$(cat "$r/etc/hostname")" = pi4-a
check "the node's file survives" test "$(cat "$r/home/notes")" = "node data"
check "the node's change survives" test "$(cat "$r/etc/os-release")" = "changed by the node"
expect_rc 0 "then nothing to do" b2 plan

# --- The first-boot script, run against a root with stub commands ----------
fb=$W/fbroot
cp -a "$r" "$fb"
check "first-boot script: sh -n" sh -n "$fb/usr/local/sbin/bramble-firstboot"
check "first-boot script: bash -n" bash -n "$fb/usr/local/sbin/bramble-firstboot"
mkdir -p "$W/stubs"
printf 'root:x:0:0::/root:/bin/sh\n' >"$fb/etc/passwd"
for c in useradd usermod chpasswd systemctl rfkill setupcon; do
	printf '#!/bin/sh\necho "%s $*" >>"$STUB_LOG"\n' "$c" >"$W/stubs/$c"
done
cat >>"$W/stubs/useradd" <<'EOF'
for a; do n=$a; done
echo "$n:x:1001:1001::/home/$n:/bin/bash" >>"$BRAMBLE_FIRSTBOOT_ROOT/etc/passwd"
EOF
cat >>"$W/stubs/chpasswd" <<'EOF'
cat >>"$STUB_LOG"
EOF
cat >"$W/stubs/getent" <<'EOF'
#!/bin/sh
[ "$1" = passwd ] && grep "^$2:" "$BRAMBLE_FIRSTBOOT_ROOT/etc/passwd"
EOF
chmod +x "$W/stubs"/*
runfb() {
	STUB_LOG=$W/stub.log BRAMBLE_FIRSTBOOT_ROOT=$1 PATH="$W/stubs:$PATH" \
		sh "$1/usr/local/sbin/bramble-firstboot" >>"$W/firstboot.log" 2>&1
}
: >"$W/stub.log"
check "first-boot script runs" runfb "$fb"
check "the image's SSH host key is replaced" test "$(cat "$fb/etc/ssh/ssh_host_ed25519_key")" != image-host-key
check "new host keys are there" test -s "$fb/etc/ssh/ssh_host_ed25519_key.pub"
contains "$W/stub.log" "useradd -m -s /bin/bash admin" "the user is created"
contains "$W/stub.log" "admin:$hash" "its password hash is set (chpasswd -e)"
contains "$W/stub.log" "systemctl enable ssh.service" "SSH is enabled"
check "time zone set" test "$(readlink "$fb/etc/localtime")" = /usr/share/zoneinfo/Europe/London
contains "$fb/etc/default/keyboard" 'XKBLAYOUT="gb"' "keymap set"
keys1=$(cat "$fb/etc/ssh/ssh_host_ed25519_key.pub")
: >"$W/stub.log"
check "second run succeeds" runfb "$fb"
check "second run does nothing (settings unchanged)" test ! -s "$W/stub.log"
check "host keys made once only" test "$keys1" = "$(cat "$fb/etc/ssh/ssh_host_ed25519_key.pub")"
fb5=$W/fbroot5
cp -a "$out/nfs/3456cdef" "$fb5"
printf 'root:x:0:0::/root:/bin/sh\n' >"$fb5/etc/passwd"
: >"$W/stub.log"
check "first-boot script on pi5-a" runfb "$fb5"
contains "$W/stub.log" "rfkill unblock wifi" "the Wi-Fi radio is unblocked"
check "rfkill state saved unblocked" test "$(cat "$fb5/var/lib/systemd/rfkill/platform-wifi:wlan")" = 0
check "each root gets its own host keys" test "$keys1" != "$(cat "$fb5/etc/ssh/ssh_host_ed25519_key.pub")"

# --- Re-image: a new generation, the old root to the attic -------------------
sed -i 's/generation: 0/generation: 1/' "$W/repo/nodes/pi4.yaml"
expect_rc 2 "plan shows the re-image" b2 plan
contains "$W/last.out" "~ nfs        1234abcd/  (re-image: root.generation changed)" "plan: the root is re-imaged"
contains "$W/last.out" "root of pi4-a → attic (re-image to generation 1)" "plan: the old root goes to the attic"
plan_counts=$(sed -n 's/^plan: \([0-9]*\) to create, \([0-9]*\) to update, \([0-9]*\) to delete, \([0-9]*\) unchanged.*/\1 \2 \3 \4/p' "$W/last.out")
old_ino=$(stat -c %i "$r")
expect_rc 0 "apply the re-image" b2 apply
apply_counts=$(sed -n 's/^applied .*: \([0-9]*\) created, \([0-9]*\) updated, \([0-9]*\) deleted, \([0-9]*\) unchanged.*/\1 \2 \3 \4/p' "$W/last.out")
check "plan and apply count a re-image the same way ($plan_counts / $apply_counts)" \
	test -n "$plan_counts" -a "$plan_counts" = "$apply_counts"
check "a new root" test "$(stat -c %i "$r")" != "$old_ino"
check "the new root is the image's" test ! -e "$r/home/notes"
check "the old root is in the attic with the node's data" \
	sh -c 'test "$(cat "$1"/nfs/.attic/1234abcd.gen0.*/home/notes)" = "node data"' _ "$out"
check "bramble's files are in the new root" test "$(cat "$r/etc/hostname")" = pi4-a
check "the first-boot files too" test -s "$r/etc/bramble/firstboot.conf"
contains "$out/state/roots/1234abcd" "generation 1" "the record says generation 1"
expect_rc 0 "then nothing to do" b2 plan

# --- A node removed: its root to the attic ------------------------------------
python3 - "$W/repo/nodes/pi4.yaml" <<'PY'
import sys
p = sys.argv[1]
docs = open(p).read().split("\n---\n")
open(p, "w").write("\n---\n".join(d for d in docs if "2345bcde" not in d))
PY
expect_rc 2 "plan shows the removal" b2 plan
contains "$W/last.out" "> nfs        2345bcde/  (not in the repository any more; the root moves to the attic)" "plan: to the attic"
contains "$W/last.out" "root of pi4-b → attic (node removed from the repository)" "plan: says why"
lacks "$W/last.out" "2345bcde/etc/hostname" "the root's files go with it, unlisted"
expect_rc 0 "apply the removal" b2 apply
contains "$W/last.out" ", 1 root to the attic" "the apply summary counts the move as a move"
check "removed node's root is gone from the NFS root" test ! -e "$out/nfs/2345bcde"
check "and in the attic" sh -c 'test -d "$1"/nfs/.attic/2345bcde.gen0.*/etc' _ "$out"
check "with bramble's files as they were" sh -c 'test "$(cat "$1"/nfs/.attic/2345bcde.gen0.*/etc/hostname)" = pi4-b' _ "$out"
lacks "$out/exports/bramble.exports" "2345bcde" "not exported"
check "its record is gone" test ! -e "$out/state/roots/2345bcde"

# --- gc ----------------------------------------------------------------------
touch -d '40 days ago' "$out"/nfs/.attic/1234abcd.gen0.*
expect_rc 0 "gc --dry-run" b2 gc --dry-run
contains "$W/last.out" "would remove  1234abcd.gen0." "dry run lists the expired entry"
contains "$W/last.out" "(moved to the attic 40 days ago; past the retention of 30 days)" "with its age, for people"
check "and keeps the recent one, moved just now" grep -Eq "kept +2345bcde.gen0.[0-9TZ]+  \(moved to the attic just now; removed after 30 days\)" "$W/last.out"
check "dry run removes nothing" sh -c 'ls -d "$1"/nfs/.attic/1234abcd.gen0.* >/dev/null' _ "$out"
expect_rc 0 "gc --dry-run --json" b2 gc --dry-run --json
check "gc --json: bramble/gc/v1, each attic entry with its action and age" python3 -c "
import json, sys
d = json.load(open(sys.argv[1]))
assert d['schema'] == 'bramble/gc/v1' and d['ok'] is True and d['dryRun'] is True, d
assert d['atticRetentionSeconds'] == 30 * 86400, d
a = {e['name'].split('.')[0]: e for e in d['attic']}
assert a['1234abcd']['action'] == 'wouldRemove' and a['1234abcd']['expired'] is True, a
assert a['1234abcd']['ageSeconds'] >= 40 * 86400 - 60 and a['1234abcd']['movedAt'].endswith('Z'), a
assert a['2345bcde']['action'] == 'kept' and a['2345bcde']['expired'] is False, a
assert d['images']['usageKnown'] is True and d['images']['unused'] == [], d['images']
" "$W/last.out"
check "gc --dry-run --json removes nothing either" sh -c 'ls -d "$1"/nfs/.attic/1234abcd.gen0.* >/dev/null' _ "$out"
expect_rc 0 "gc" b2 gc
check "gc removes the expired entry" grep -Eq "removed +1234abcd.gen0." "$W/last.out"
check "it is gone" sh -c '! ls -d "$1"/nfs/.attic/1234abcd.gen0.* 2>/dev/null' _ "$out"
check "the recent one is kept" sh -c 'ls -d "$1"/nfs/.attic/2345bcde.gen0.* >/dev/null' _ "$out"
expect_rc 0 "gc with a retention of 1d keeps it" b2 gc --set roots.atticRetention=1d
touch -d '3 days ago' "$out"/nfs/.attic/2345bcde.gen0.*
expect_rc 0 "gc --json removes it past a retention of 1d" b2 gc --json --set roots.atticRetention=1d
check "gc --json: the entry removed, the document alone on stdout" python3 -c "
import json, sys
d = json.load(open(sys.argv[1]))
assert d['dryRun'] is False and d['ok'] is True, d
assert [e['action'] for e in d['attic']] == ['removed'] and d['attic'][0]['name'].startswith('2345bcde.gen0.'), d
" "$W/last.out"
check "it is gone" sh -c '! ls -d "$1"/nfs/.attic/2345bcde.gen0.* 2>/dev/null' _ "$out"
expect_rc 64 "a bad retention is refused" b2 gc --set roots.atticRetention=soon
expect_rc 64 "a bad copy mode is refused" b2 plan --set roots.copyMode=fast

# --- Shared roots ------------------------------------------------------------
python3 - "$W/repo/nodes/pi5.yaml" <<'PY'
import sys
p = sys.argv[1]
s = open(p).read()
open(p, "w").write(s.replace("  model: pi5\n", "  model: pi5\n  root: {mode: shared}\n"))
PY
expect_rc 2 "plan: pi5-a moves to a shared root" b2 plan
contains "$W/last.out" "+ nfs        shared/demo-os/" "plan: the shared copy is made"
contains "$W/last.out" "no overlayroot" "plan warns the image lacks overlayroot"
contains "$W/last.out" "+ nfs        shared/demo-os/etc/bramble/nodes/3456cdef/etc/bramble/firstboot.conf" \
	"plan: pi5-a's first-boot settings go into its directory in the shared root"
expect_rc 0 "apply the shared root" b2 apply
s=$out/nfs/shared/demo-os
check "the shared root has the first-boot service" test -x "$s/usr/local/sbin/bramble-firstboot"
check "... enabled" test -L "$s/etc/systemd/system/multi-user.target.wants/bramble-firstboot.service"
check "pi5-a's settings there are 0600" \
	test "$(stat -c %a "$s/etc/bramble/nodes/3456cdef/etc/bramble/firstboot.conf")" = 600
check "the shared root's own /etc/bramble/firstboot.conf is not there (each node has its own)" \
	test ! -e "$s/etc/bramble/firstboot.conf"
# The script on a copy of the shared root (as on the node's overlay), with
# pi5-a's kernel command line; then with a serial the root does not know.
fbs=$W/fbshared
cp -a "$s" "$fbs"
printf 'root:x:0:0::/root:/bin/sh\n' >"$fbs/etc/passwd"
cp "$out/tftp/3456cdef/cmdline.txt" "$W/cmdline-pi5"
: >"$W/stub.log" && : >"$W/firstboot.log"
runfb_cmdline() { (export BRAMBLE_FIRSTBOOT_CMDLINE=$1 && runfb "$2"); }
check "first-boot script on a shared root" runfb_cmdline "$W/cmdline-pi5" "$fbs"
contains "$W/firstboot.log" "settings of node 3456cdef copied over the shared root" "it takes pi5-a's settings"
check "pi5-a's settings are in place" cmp "$fbs/etc/bramble/firstboot.conf" \
	"$s/etc/bramble/nodes/3456cdef/etc/bramble/firstboot.conf"
check "pi5-a's host name is in place" test "$(cat "$fbs/etc/hostname")" = "$(cat "$s/etc/bramble/nodes/3456cdef/etc/hostname")"
contains "$W/firstboot.log" "new SSH host keys for this node" "the node's own host keys"
contains "$W/firstboot.log" "settings applied" "the settings applied"
contains "$W/stub.log" "rfkill unblock wifi" "the node's Wi-Fi radio is unblocked"
contains "$W/cmdline-pi5" "systemd.machine_id=" "pi5-a's command line gives its machine id"
fbs2=$W/fbshared2
cp -a "$s" "$fbs2"
echo "console=ttyS0 bramble.serial=99999999" >"$W/cmdline-x"
: >"$W/firstboot.log"
expect_rc 1 "the script fails for a serial the shared root does not know" \
	runfb_cmdline "$W/cmdline-x" "$fbs2"
contains "$W/firstboot.log" "no settings for node 99999999 in this shared root" "... and says so"
check "shared root copied with setuid" test "$(stat -c %a "$s/usr/bin/su-like")" = 4755
check "shared root has the capability" sh -c "getcap '$s/usr/bin/ping' | grep -q cap_net_raw=ep"
lacks "$s/etc/fstab" "PARTUUID" "shared fstab has no SD card line"
contains "$out/tftp/3456cdef/cmdline.txt" "nfsroot=10.99.0.1:$out/nfs/shared/demo-os,vers=3,tcp ro ip=dhcp rootwait overlayroot=tmpfs" "cmdline: read-only root with a tmpfs overlay"
contains "$out/exports/bramble.exports" "$out/nfs/shared/demo-os 10.99.0.44(ro,sync,no_subtree_check,no_root_squash)" "shared export is read-only"
check "pi5-a's private root went to the attic" sh -c 'ls -d "$1"/nfs/.attic/3456cdef.gen0.* >/dev/null' _ "$out"
shared_ino=$(stat -c %i "$s")
touch "$img"    # a new version of the image (a local directory: by inode and mtime)
mkdir -p "$img/opt" && echo v2 >"$img/opt/version"
expect_rc 2 "plan: the image changed" b2 plan
contains "$W/last.out" "~ nfs        shared/demo-os/  (the image changed: a new copy replaces it)" "plan: the shared copy is replaced"
contains "$W/last.out" "made from an older version of image \"demo-os\"" "plan warns pi4-a's private root is older than its image"
expect_rc 0 "apply the new shared copy" b2 apply
check "a new shared copy" test "$(stat -c %i "$s")" != "$shared_ino"
check "with the new file" test "$(cat "$s/opt/version")" = v2
check "its fstab is bramble's again" grep -q "Managed by bramble" "$s/etc/fstab"
check "pi4-a's private root was not touched" test ! -e "$r/opt/version"
expect_rc 0 "then nothing to do" b2 plan
contains "$W/last.out" "bump root.generation to re-image" "the warning stays until the node is re-imaged"

# --- reflink: copyMode reflink refused where the file system has none ---------
sed -i 's/generation: 1/generation: 2/' "$W/repo/nodes/pi4.yaml"
ino=$(stat -c %i "$r")
if [ "$(stat -f -c %T "$out/nfs")" != xfs ] && [ "$(stat -f -c %T "$out/nfs")" != btrfs ]; then
	expect_rc 1 "copyMode reflink fails on a file system without reflinks" b2 apply --set roots.copyMode=reflink
	check "the root in place is untouched" test "$(stat -c %i "$r")" = "$ino"
	check "no half-made root is left" test ! -e "$out/nfs/.staging"
fi

# --- reflink: on XFS with reflink=1, in a private mount namespace ---------------
reflink_test() {
	local x=$W/xfs
	mkdir -p "$x" && truncate -s 600M "$W/xfs.img" && mkfs.xfs -q -m reflink=1 "$W/xfs.img" || return 2
	mount -o loop "$W/xfs.img" "$x" || return 2
	mkdir -p "$x/out/images" && cp -a "$out/images/demo-os" "$x/out/images/"
	head -c 32M /dev/urandom >"$x/out/images/demo-os/root/usr/lib/big"
	"$BRAMBLE" apply --source "$W/repo" --root "$x/out" --set dhcp.testCommand= --set "$SECRETS" \
		--set roots.copyMode=reflink -q >"$W/xfs.out" 2>&1 || { cat "$W/xfs.out"; umount "$x"; return 1; }
	local rc=0
	cmp -s "$x/out/images/demo-os/root/usr/lib/big" "$x/out/nfs/1234abcd/usr/lib/big" || rc=1
	filefrag -v "$x/out/nfs/1234abcd/usr/lib/big" | grep -q shared || rc=1
	getcap "$x/out/nfs/1234abcd/usr/bin/ping" | grep -q cap_net_raw=ep || rc=1
	[ "$(stat -c %a "$x/out/nfs/1234abcd/usr/bin/su-like")" = 4755 ] || rc=1
	umount "$x"
	return $rc
}
if command -v mkfs.xfs >/dev/null && command -v unshare >/dev/null; then
	export -f reflink_test
	export W out BRAMBLE SECRETS
	unshare -m bash -c 'mount --make-rprivate / && reflink_test'
	case $? in
	0) ok "reflinked roots on XFS: same content, shared extents, capability and setuid kept" ;;
	2) echo "# reflink test skipped: cannot make or mount an XFS file system here" ;;
	*) not_ok "reflinked roots on XFS" ;;
	esac
else
	echo "# reflink test skipped: no mkfs.xfs (xfsprogs) or unshare"
fi
done_testing
