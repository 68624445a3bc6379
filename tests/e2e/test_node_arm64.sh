#!/bin/bash
# The arm64 kernel chain (issue 12): Debian's arm64 kernel boots from
# bramble's output under qemu-system-aarch64 (-M virt, TCG) and runs in the
# node's own root over NFS.  tests/images/make-arm64-image.sh builds (once,
# cached) a Raspberry-Pi-OS-shaped .img.xz whose boot partition carries the
# kernel as kernel8.img and a busybox initramfs as initramfs8, and whose root
# is busybox-static; bramble takes it as an Image (file:// url, sha256) from
# a cluster in git.  dnsmasq and nfs-ganesha (NFSv3, rpcbind) run with
# bramble's configuration in a network namespace; the guest's NIC is a tap
# in it.  Two boots:
#   1. the bootloader (the Pi's EEPROM cannot be emulated: the initramfs
#      plays it, bramble.firmware=SERIAL): DHCP with the Pi's options, the
#      node's reserved address, then TFTP from SERIAL/ of config.txt, the
#      initramfs config.txt names, cmdline.txt and kernel8.img, handed to
#      the test on a virtio disk and compared with bramble's tree;
#   2. the kernel: qemu boots what was served, with the served cmdline.txt
#      as the command line (-append), as the firmware would; the initramfs
#      reads root=/dev/nfs, nfsroot= and ip=dhcp from it (Debian's kernel has
#      no CONFIG_IP_PNP, NFS is a module: as on Raspberry Pi OS, the
#      initramfs mounts the root), mounts the node's root and switch_roots;
#      the root's init prints the command line, the host name bramble wrote
#      into that root and its mounts, leaves a mark in the root, powers off.
# The device tree is qemu's, not the Pi's (qemu has no Pi 4 machine).
# Slow (see README.md, "A real boot, tested"): CTest label "slow".
# BRAMBLE_SKIP_BOOT_TEST=1 skips it (exit 77), as the other boot tests.
. "$(dirname "$0")/lib.sh"
need_root
[ -z "${BRAMBLE_SKIP_BOOT_TEST:-}" ] || skip_test "BRAMBLE_SKIP_BOOT_TEST is set"
for tool in qemu-system-aarch64 dnsmasq ganesha.nfsd rpcbind busybox git xz dpkg-deb modinfo \
	mcopy mkfs.vfat sfdisk mkfs.ext4 ip ss nsenter tar; do
	command -v "$tool" >/dev/null || skip_test "no $tool"
done
[ -c /dev/net/tun ] || skip_test "no /dev/net/tun"
. "$SRC/tests/e2e/arm64_lib.sh"
out=$W/out
chmod 755 "$W" # dnsmasq drops root (to nobody): it must reach OUT/tftp
SERIAL=5a64cafe MAC=dc:a6:32:00:0a:64 NODE_IP=10.99.0.42 HOST=orchard-arm

# --- The image ---------------------------------------------------------------
phase "image"
if ! G=$(nice sh "$SRC/tests/images/make-arm64-image.sh" 2>"$W/image.log"); then
	not_ok "the arm64 test image is built"
	sed 's/^/    | /' "$W/image.log" | tail -30
	done_testing
	exit
fi
ok "the arm64 test image is there ($(phase_secs) s)"
sed 's/^/    | /' "$W/image.log"
IMG_SHA=$(cat "$G/arm64-node.img.xz.sha256")

# --- The repository and bramble's apply --------------------------------------
phase "apply"
export HOME=$W/home GIT_CONFIG_NOSYSTEM=1
export GIT_AUTHOR_NAME=test GIT_AUTHOR_EMAIL=test@example.com
export GIT_COMMITTER_NAME=test GIT_COMMITTER_EMAIL=test@example.com
mkdir -p "$HOME" "$W/work/nodes" "$W/git"
cat >"$W/work/cluster.yaml" <<YAML
apiVersion: bramble/v1alpha1
kind: Cluster
metadata:
  name: armlab
spec:
  server: 10.99.0.1
  interface: a64tap
  subnet: 10.99.0.0/24
  router: 10.99.0.1
  dhcp:
    mode: full
    range: {start: 10.99.0.100, end: 10.99.0.150}
  nfs:
    backend: ganesha
    version: 3
---
apiVersion: bramble/v1alpha1
kind: Image
metadata:
  name: arm64-busybox
spec:
  url: file://$G/arm64-node.img.xz
  sha256: $IMG_SHA
YAML
cat >"$W/work/nodes/arm.yaml" <<YAML
apiVersion: bramble/v1alpha1
kind: Node
metadata:
  name: arm
spec:
  serial: "$SERIAL"
  mac: "$MAC"
  ip: $NODE_IP
  hostname: $HOST
  model: pi4
  image: arm64-busybox
  boot:
    # a panic resets the board: qemu (-no-reboot) exits instead of hanging
    cmdline: [panic=-1]
YAML
git -C "$W/work" init -q -b main
git -C "$W/work" add -A && git -C "$W/work" commit -qm "an arm64 node"
git clone -q --bare "$W/work" "$W/git/cluster.git"
expect_rc 0 "bramble applies the cluster from git (image fetched, extracted, root made)" \
	"$BRAMBLE" apply --source "file://$W/git/cluster.git" --set source.ref=main --root "$out" \
	--set dhcp.reloadCommand=true --set dhcp.restartCommand=true --set nfs.reloadCommand=true
echo "    (apply took $(phase_secs) s)"
tree=$out/tftp/$SERIAL
root=$out/nfs/$SERIAL
check "the node's kernel8.img is Debian's arm64 kernel from the image" cmp -s "$tree/kernel8.img" "$G/vmlinuz"
check "the node's initramfs8 is the image's" cmp -s "$tree/initramfs8" "$G/initramfs8"
CMDLINE=$(cat "$tree/cmdline.txt")
contains "$tree/cmdline.txt" "root=/dev/nfs nfsroot=10.99.0.1:$root,vers=3,tcp rw ip=dhcp rootwait" \
	"cmdline.txt mounts the node's own root over NFSv3"
check "the node's root has the host name bramble wrote" test "$(cat "$root/etc/hostname")" = "$HOST"

# --- The servers ---------------------------------------------------------------
phase "servers"
NS=a64n$$
netns_add "$NS" || { not_ok "namespace"; done_testing; exit; }
ip -n "$NS" tuntap add dev a64tap mode tap
ip -n "$NS" addr add 10.99.0.1/24 dev a64tap
ip -n "$NS" link set a64tap up
check "dnsmasq serves DHCP and TFTP with bramble's configuration" arm64_dnsmasq "$NS"
DLOG=$(sed -n 's/^log-facility=//p' "$out/dnsmasq/bramble.conf")
check "rpcbind and ganesha serve bramble's exports over NFSv3" arm64_nfs "$NS"

# --- Boot 1: the bootloader --------------------------------------------------
phase "boot 1: the bootloader"
fw=$W/fw
truncate -s 64M "$W/fw.disk"
arm64_qemu "$NS" "$W/fw.console" "$G/vmlinuz" "$G/initramfs8" \
	"console=ttyAMA0 panic=-1 bramble.firmware=$SERIAL" \
	-drive "file=$W/fw.disk,format=raw,if=none,id=d0" -device virtio-blk-pci,drive=d0
echo "    (the bootloader's boot took $(phase_secs) s)"
grep -a '^FW:' "$W/fw.console" | sed 's/^/    | /'
contains "$W/fw.console" "FW: lease ip=$NODE_IP server=10.99.0.1 " "the bootloader gets the node's reserved address"
contains "$W/fw.console" " tftp=10.99.0.1 " "... with option 66, the TFTP server"
contains "$W/fw.console" "$(printf 'Raspberry Pi Boot' | od -An -tx1 | tr -d ' \n')" \
	"... and option 43 with the PXE menu a Pi looks for"
contains "$W/fw.console" "FW: done" "the bootloader fetched its files over TFTP from $SERIAL/"
contains "$DLOG" "DHCPACK(a64tap) $NODE_IP $MAC $HOST" "dnsmasq acked the node's reservation"
contains "$DLOG" "sent $tree/kernel8.img to $NODE_IP" "dnsmasq sent the node's kernel8.img over TFTP"
mkdir -p "$fw"
check "the fetched files reach the test" tar -xf "$W/fw.disk" -C "$fw"
for f in config.txt start4.elf initramfs8 cmdline.txt kernel8.img; do
	check "$f over TFTP is bramble's" cmp -s "$fw/$f" "$tree/$f"
done
check "config.txt named kernel8.img and initramfs8 (auto_initramfs)" \
	test "$(cat "$fw/boot.names" 2>/dev/null)" = "$(printf 'kernel=kernel8.img\ninitrd=initramfs8')"
if [ ! -s "$fw/kernel8.img" ] || [ ! -s "$fw/cmdline.txt" ]; then
	grep -a . "$W/fw.console" | tail -30 | sed 's/^/    | /'
fi

# --- Boot 2: the kernel, with the served cmdline.txt --------------------------
phase "boot 2: the kernel"
arm64_qemu "$NS" "$W/node.console" "$fw/kernel8.img" "$fw/initramfs8" "$(cat "$fw/cmdline.txt")"
echo "    (the node's boot took $(phase_secs) s)"
grep -aE '^(INITRD|NODE):' "$W/node.console" | sed 's/^/    | /'
contains "$W/node.console" "INITRD: lease ip=$NODE_IP " "the initramfs takes the node's address (ip=dhcp)"
contains "$W/node.console" "INITRD: mounted 10.99.0.1:$root (vers=3,tcp,rw)" \
	"the initramfs mounts the nfsroot= of bramble's cmdline.txt"
contains "$W/node.console" "NODE: cmdline $CMDLINE" "the kernel ran with bramble's cmdline.txt"
contains "$W/node.console" "NODE: up host=$HOST arch=aarch64 " "the node runs arm64 with the host name bramble wrote"
contains "$W/node.console" " root=10.99.0.1:$root nfs rw," "... in its own root, over NFS, read-write"
boot_id=$(sed -n 's/^NODE: up .* boot=\([^ ]*\) .*/\1/p' "$W/node.console" | tr -d '\r')
check "the node's mark is in its root on the server" \
	test "$(cat "$root/var/lib/arm64-boot" 2>/dev/null)" = "$HOST $boot_id" -a -n "$boot_id"
imgroot=$out/images/sha256/$IMG_SHA/root
check "... and not in the image's root" test -x "$imgroot/sbin/init" -a ! -e "$imgroot/var/lib/arm64-boot"
grep -aqE '^(INITRD|NODE): FAIL|Kernel panic' "$W/node.console" && grep -a . "$W/node.console" | tail -40 | sed 's/^/    | /'

phase "done"
done_testing
