#!/bin/sh
# Build (once) a Raspberry-Pi-OS-shaped image of a real Debian 12 userland,
# for the boot test (tests/e2e/test_node_boot.sh), and print its path.
#
# The image is what a user hands bramble: an MBR disk, partition 1 = FAT32
# boot (config.txt, cmdline.txt, firmware-named files, the kernel and its
# initramfs under the Pi's names), partition 2 = ext4 root, compressed with xz.
# The userland is debootstrap's minbase of bookworm with systemd, openssh,
# sudo, tzdata, the keyboard configuration, overlayroot (for shared roots)
# and an initramfs that mounts its root over NFS the way Raspberry Pi OS's
# does (initramfs-tools, BOOT=nfs, MODULES=netboot, with busybox: overlayroot's
# initramfs script needs grep and other tools that klibc does not have).  The kernel is Debian's amd64 cloud kernel, booted under
# qemu-system-x86_64 (an arm64 systemd boot under TCG would be far too slow);
# it sits where a Pi 4's kernel8.img and initramfs8 would.
#
# Usage: make-debian-image.sh [CACHE_DIR]   (default $BRAMBLE_IMAGE_CACHE or
# /var/cache/bramble-test).  Prints the path of the .img.xz; its SHA-256 is in
# the file beside it (.sha256).  The image is kept under a name made from the
# digest of this recipe (and of the disk-image script it uses), so it is built
# again only when the recipe changes.  Needs root (debootstrap, chroot) and
# Debian's archive (the mirror of apt's sources).  Progress goes to stderr.
set -eu
export PATH="$PATH:/usr/sbin:/sbin" LC_ALL=C.UTF-8
here=$(cd "$(dirname "$0")" && pwd)
disk_script=$here/../e2e/fixtures/make_disk_image.sh
key=$(cat "$0" "$disk_script" | sha256sum | cut -c1-16)
cache=${1:-${BRAMBLE_IMAGE_CACHE:-/var/cache/bramble-test}}
dir=$cache/debian-node-$key
img=$dir/debian-node.img.xz
say() { echo "make-debian-image: $*" >&2; }

if [ -s "$img" ] && [ -s "$img.sha256" ]; then
	echo "$img"
	exit 0
fi
mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9 # another test run may be building it
if [ -s "$img" ] && [ -s "$img.sha256" ]; then
	echo "$img"
	exit 0
fi
work=$(mktemp -d "$cache/build.XXXXXX")
trap 'rm -rf --one-file-system "$work"' EXIT
root=$work/root
boot=$work/boot
start=$(date +%s)

# --- stage 1: the Debian userland -----------------------------------------
# Kept on its own in the cache (keyed by this stage's text), so that a change
# to the later steps does not download and install everything again.
# INITRD=No: the kernel's package makes no initramfs yet (it is made below,
# once, for NFS).  In a private mount namespace: debootstrap's mounts of
# /proc and /sys inside the root end with it, even if it is killed.
mirror=$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
: "${mirror:=http://deb.debian.org/debian}"
pkgs=systemd,systemd-sysv,dbus,openssh-server,sudo,passwd,iproute2,kbd,keyboard-configuration,busybox
pkgs=$pkgs,tzdata,initramfs-tools,klibc-utils,overlayroot,linux-image-cloud-amd64
stage1=$cache/debootstrap-$(sed -n '/^# --- stage 1/,/^# --- end of stage 1/p' "$0" | sha256sum | cut -c1-16)
if [ ! -d "$stage1" ]; then
	say "debootstrap bookworm from $mirror"
	INITRD=No unshare -m --propagation private \
		debootstrap --variant=minbase --include="$pkgs" bookworm "$work/stage1" "$mirror" \
		>"$work/debootstrap.log" 2>&1 || { tail -30 "$work/debootstrap.log" >&2; exit 1; }
	rm -rf "$cache"/debootstrap-*
	mv "$work/stage1" "$stage1"
	say "debootstrap done in $(($(date +%s) - start)) s"
fi
# --- end of stage 1
cp -a "$stage1" "$root"

# An initramfs that mounts the root over NFS, as Raspberry Pi OS's does.
sed -i -e 's/^MODULES=.*/MODULES=netboot/' -e 's/^BOOT=.*/BOOT=nfs/' \
	"$root/etc/initramfs-tools/initramfs.conf"
printf 'virtio_pci\nvirtio_net\nnfsv3\n' >>"$root/etc/initramfs-tools/modules"
kver=$(ls "$root/lib/modules")
unshare -m --propagation private sh -c '
	mount -t proc proc "$1/proc" && mount --rbind /dev "$1/dev" &&
	rm -f "$1/boot/initrd.img-$2" && chroot "$1" update-initramfs -c -k "$2"' mkimage "$root" "$kver" >"$work/initramfs.log" 2>&1 ||
	{ cat "$work/initramfs.log" >&2; exit 1; }
say "initramfs for $kver (BOOT=nfs, MODULES=netboot)"

# The root as an image ships it: no SD card in fstab yet (bramble replaces
# fstab), the image's own host name and SSH host keys, and a machine id, as
# an image booted once before it was published carries (and D-Bus's copy of
# it as a file, not a symlink): bramble must give each root a fresh one.
printf 'debian-image\n' >"$root/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\tdebian-image\n' >"$root/etc/hosts"
cat >"$root/etc/fstab" <<'FSTAB'
proc            /proc           proc    defaults          0       0
PARTUUID=1234abcd-01  /boot/firmware  vfat    defaults          0       2
PARTUUID=1234abcd-02  /               ext4    defaults,noatime  0       1
FSTAB
printf '0123456789abcdef0123456789abcdef\n' >"$root/etc/machine-id"
mkdir -p "$root/var/lib/dbus"
rm -f "$root/var/lib/dbus/machine-id"
cp "$root/etc/machine-id" "$root/var/lib/dbus/machine-id"
mkdir -p "$root/boot/firmware"

# The boot partition: firmware-named files, the kernel and its initramfs
# under the names a Pi 4 loads (kernel8.img; initramfs8 with auto_initramfs).
mkdir -p "$boot/overlays"
for f in bootcode.bin start4.elf fixup4.dat start.elf fixup.dat bcm2711-rpi-4-b.dtb \
	bcm2710-rpi-3-b-plus.dtb; do
	printf 'stand-in for %s (this image boots under qemu)\n' "$f" >"$boot/$f"
done
printf 'stand-in overlay\n' >"$boot/overlays/vc4-kms-v3d.dtbo"
cp "$root/boot/vmlinuz-$kver" "$boot/kernel8.img"
cp "$root/boot/initrd.img-$kver" "$boot/initramfs8"
cat >"$boot/config.txt" <<'CFG'
# config.txt of the bramble test image (Raspberry Pi OS's shape)
arm_64bit=1
auto_initramfs=1
dtoverlay=vc4-kms-v3d

[all]
CFG
printf 'console=ttyS0,115200 root=PARTUUID=1234abcd-02 rootfstype=ext4 fsck.repair=yes rootwait\n' \
	>"$boot/cmdline.txt"

# What an image does not carry.
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/usr/share/doc/* \
	"$root"/usr/share/man/* "$root"/usr/share/locale/* "$root"/boot/vmlinuz-* "$root"/boot/initrd.img-* \
	"$root"/var/log/*.log "$root"/dev/* "$root"/run/* "$root"/tmp/*
mb=$(du -sm "$root" | cut -f1)
root_mib=$((mb + mb / 4 + 64))
sh "$disk_script" "$boot" "$root" "$work/debian-node.img" 128 "$root_mib" 1 >/dev/null
say "disk image: $(du -m --apparent-size "$work/debian-node.img" | cut -f1) MiB (root ${mb} MiB)"
xz -T2 -3 "$work/debian-node.img"
sha256sum "$work/debian-node.img.xz" | cut -d' ' -f1 >"$work/debian-node.img.xz.sha256"
# Images of other recipes: removed a day after they were made (another
# branch's test may be using one now).
find "$cache" -maxdepth 1 -name 'debian-node-*' -mtime +0 -exec rm -rf {} +
mkdir -p "$dir"
mv "$work/debian-node.img.xz" "$work/debian-node.img.xz.sha256" "$dir/"
say "built $img ($(du -m "$img" | cut -f1) MiB) in $(($(date +%s) - start)) s"
echo "$img"
