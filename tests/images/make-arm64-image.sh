#!/bin/sh
# Build (once) the arm64 test image of the kernel-chain test
# (tests/e2e/test_node_arm64.sh) and print the directory that holds it.
#
# Debian's arm64 kernel (linux-image-*-arm64) and busybox-static (arm64),
# downloaded with apt-get from the mirror of apt's sources, with apt state of
# their own (no dpkg --add-architecture).  The kernel has no CONFIG_IP_PNP and
# builds virtio-net and NFS as modules, so, as on Raspberry Pi OS, an
# initramfs mounts the NFS root: arm64/init, a busybox initramfs with the
# modules it needs in dependency order (modinfo), which also plays the Pi's
# bootloader when the command line says bramble.firmware=SERIAL.
#
# The directory holds:
#   arm64-node.img.xz (+ .sha256)  a Raspberry-Pi-OS-shaped disk image: FAT32
#       boot (config.txt with auto_initramfs=1, cmdline.txt, stand-ins for the
#       firmware, kernel8.img = Debian's vmlinuz, initramfs8) and an ext4 root
#       of busybox-static whose /sbin/init is arm64/node-init;
#   vmlinuz, initramfs8             the same kernel and initramfs, for the
#       test's bootloader stage (what a Pi's EEPROM would be).
#
# Usage: make-arm64-image.sh [CACHE_DIR]  (default $BRAMBLE_IMAGE_CACHE or
# /var/cache/bramble-test).  Kept under a name made from the digest of this
# recipe (this script, arm64/ and the disk-image script); the .debs are kept
# apart, keyed by the download stage's text.  Needs modinfo, dpkg-deb,
# busybox (cpio), gzip, xz and the tools of make_disk_image.sh.
set -eu
export PATH="$PATH:/usr/sbin:/sbin" LC_ALL=C.UTF-8
here=$(cd "$(dirname "$0")" && pwd)
disk_script=$here/../e2e/fixtures/make_disk_image.sh
key=$(cat "$0" "$disk_script" "$here"/arm64/* | sha256sum | cut -c1-16)
cache=${1:-${BRAMBLE_IMAGE_CACHE:-/var/cache/bramble-test}}
dir=$cache/arm64-node-$key
say() { echo "make-arm64-image: $*" >&2; }

[ -s "$dir/arm64-node.img.xz.sha256" ] && { echo "$dir"; exit 0; }
mkdir -p "$cache"
exec 9>"$cache/.lock-arm64"
flock 9 # another test run may be building it
[ -s "$dir/arm64-node.img.xz.sha256" ] && { echo "$dir"; exit 0; }
work=$(mktemp -d "$cache/build-arm64.XXXXXX")
trap 'rm -rf --one-file-system "$work"' EXIT
start=$(date +%s)

# --- stage 1: the .debs -----------------------------------------------------
# The kernel package's exact name comes from linux-image-arm64's Depends.
debs=$cache/arm64-debs-$(sed -n '/^# --- stage 1/,/^# --- end of stage 1/p' "$0" | sha256sum | cut -c1-16)
if [ ! -d "$debs" ]; then
	mkdir -p "$work/apt/lists/partial" "$work/apt/cache/archives/partial" "$work/debs"
	set -- -o APT::Architecture=arm64 -o APT::Architectures::=arm64 \
		-o Dir::State::Lists="$work/apt/lists" -o Dir::Cache="$work/apt/cache" \
		-o Dir::State::status=/dev/null -o APT::Sandbox::User=root
	apt-get "$@" -qq update >&2
	kpkg=$(apt-cache "$@" show linux-image-arm64 | awk '/^Depends:/ && !k { k = 1
		if (match($0, /linux-image-6[^ ,]*/)) print substr($0, RSTART, RLENGTH) }')
	[ -n "$kpkg" ] || { say "no kernel package in linux-image-arm64's Depends"; exit 1; }
	say "downloading $kpkg and busybox-static (arm64)"
	(cd "$work/debs" && apt-get "$@" -qq download "$kpkg" busybox-static >&2)
	rm -rf "$cache"/arm64-debs-*
	mv "$work/debs" "$debs"
	say "downloaded in $(($(date +%s) - start)) s"
fi
# --- end of stage 1

dpkg-deb -x "$debs"/linux-image-*_arm64.deb "$work/k"
dpkg-deb -x "$debs"/busybox-static_*_arm64.deb "$work/bb"
kver=$(ls "$work/k/lib/modules")

# The initramfs: busybox, the modules in dependency order, /init.
init=$work/initramfs
mkdir -p "$init/bin" "$init/proc" "$init/sys" "$init/dev" "$init/tmp" "$init/mods"
cp "$work/bb/bin/busybox" "$init/bin/"
cp "$here/arm64/init" "$init/init"
cp "$here/arm64/dhcp.sh" "$init/dhcp.sh"
chmod 755 "$init/init" "$init/dhcp.sh"
find "$work/k/lib/modules/$kver/kernel" -name '*.ko' >"$work/modules"
mod_path() { grep "/$1\.ko\$" "$work/modules" | head -1; }
mod_add() { # (sh has no local variables: nothing is kept across the recursion)
	grep -qx "$1" "$init/mods/order" 2>/dev/null && return 0
	[ -n "$(mod_path "$1")" ] || { say "no module $1 in $kver"; exit 1; }
	for d in $(modinfo -F depends "$(mod_path "$1")" | tr ',' ' '); do mod_add "$d"; done
	cp "$(mod_path "$1")" "$init/mods/"
	echo "$1" >>"$init/mods/order"
}
for m in virtio_pci virtio_net virtio_blk nfsv3; do mod_add "$m"; done
(cd "$init" && find . | busybox cpio -o -H newc 2>/dev/null) | gzip -9 >"$work/initramfs8"
say "initramfs: $(tr '\n' ' ' <"$init/mods/order")"

# The root: busybox-static, its init, the image's own host name.
root=$work/root
mkdir -p "$root/bin" "$root/sbin" "$root/etc" "$root/proc" "$root/sys" "$root/dev" "$root/tmp" \
	"$root/var/lib" "$root/root" "$root/boot/firmware"
cp "$work/bb/bin/busybox" "$root/bin/"
ln -s busybox "$root/bin/sh"
cp "$here/arm64/node-init" "$root/sbin/init"
chmod 755 "$root/sbin/init"
printf 'arm64-image\n' >"$root/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\tarm64-image\n' >"$root/etc/hosts"
printf 'proc /proc proc defaults 0 0\nPARTUUID=1234abcd-02 / ext4 defaults,noatime 0 1\n' >"$root/etc/fstab"

# The boot partition, as a Pi 4 image has it.
boot=$work/boot
mkdir -p "$boot/overlays"
for f in bootcode.bin start4.elf fixup4.dat bcm2711-rpi-4-b.dtb; do
	printf 'stand-in for %s (this image boots under qemu)\n' "$f" >"$boot/$f"
done
cp "$work/k/boot/vmlinuz-$kver" "$boot/kernel8.img"
cp "$work/initramfs8" "$boot/initramfs8"
printf '# config.txt of the bramble arm64 test image\narm_64bit=1\nauto_initramfs=1\n\n[all]\n' \
	>"$boot/config.txt"
printf 'console=ttyAMA0,115200 root=PARTUUID=1234abcd-02 rootfstype=ext4 fsck.repair=yes rootwait\n' \
	>"$boot/cmdline.txt"
sh "$disk_script" "$boot" "$root" "$work/arm64-node.img" 64 16 >/dev/null
xz -T2 -3 "$work/arm64-node.img"
sha256sum "$work/arm64-node.img.xz" | cut -d' ' -f1 >"$work/arm64-node.img.xz.sha256"
cp "$work/k/boot/vmlinuz-$kver" "$work/vmlinuz"
# Images of other recipes: removed a day after they were made (another
# branch's test may be using one now).
find "$cache" -maxdepth 1 -name 'arm64-node-*' -mtime +0 -exec rm -rf {} +
mkdir -p "$dir"
mv "$work/vmlinuz" "$work/initramfs8" "$work/arm64-node.img.xz" "$work/arm64-node.img.xz.sha256" "$dir/"
say "built $dir ($kver, $(du -sm "$dir" | cut -f1) MiB) in $(($(date +%s) - start)) s"
echo "$dir"
