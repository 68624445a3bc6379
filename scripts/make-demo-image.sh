#!/bin/sh
# Build a small stand-in OS image as a local directory (boot/ and root/), the
# layout bramble expects of an Image with `path:`.  The firmware and kernels
# are dummy files: enough to exercise every path bramble renders and serves.
# Usage: scripts/make-demo-image.sh DIR
set -eu
dir=${1:?usage: make-demo-image.sh DIR}
boot="$dir/boot"
root="$dir/root"
mkdir -p "$boot/overlays" "$root/etc" "$root/bin" "$root/boot/firmware" "$root/home" "$root/root"
fake() { printf '%s\n' "demo $1 (not a real binary)" > "$boot/$1"; }
for f in bootcode.bin start.elf fixup.dat start4.elf fixup4.dat kernel8.img kernel_2712.img \
	bcm2710-rpi-3-b-plus.dtb bcm2711-rpi-4-b.dtb bcm2712-rpi-5-b.dtb; do
	fake "$f"
done
for f in vc4-kms-v3d.dtbo disable-bt.dtbo README; do
	printf 'demo overlay %s\n' "$f" > "$boot/overlays/$f"
done
cat > "$boot/config.txt" <<'CFG'
# Demo image config.txt (as shipped by the image)
arm_64bit=1
dtoverlay=vc4-kms-v3d
auto_initramfs=1

[pi4]
arm_boost=1

[all]
CFG
printf 'console=serial0,115200 console=tty1 root=PARTUUID=1234abcd-02 rootfstype=ext4 fsck.repair=yes rootwait quiet init=/usr/lib/raspberrypi-sys-mods/firstboot\n' > "$boot/cmdline.txt"
printf 'raspberrypi\n' > "$root/etc/hostname"
printf 'proc /proc proc defaults 0 0\nPARTUUID=1234abcd-01 /boot/firmware vfat defaults 0 2\nPARTUUID=1234abcd-02 / ext4 defaults,noatime 0 1\n' > "$root/etc/fstab"
printf 'PRETTY_NAME="bramble demo OS"\nID=demo\n' > "$root/etc/os-release"
printf '#!/bin/sh\necho demo\n' > "$root/bin/hello"
chmod 0755 "$root/bin/hello"
echo "make-demo-image: built $dir"
