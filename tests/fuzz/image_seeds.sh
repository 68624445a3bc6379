#!/bin/sh
# Make the disk images the fuzz_image replay and campaigns start from, in
# DIR: MBR and GPT disks, each with a small FAT16 or FAT32 boot partition
# holding a few files (long names, a subdirectory), as the Raspberry Pi OS
# images have.  Each disk is 4 MiB, but only its first tens of KiB hold
# anything but zeros (the tables, the boot sector, the FATs' first entries,
# the root directory and the files, right after one another): the file is
# cut after its last non-zero sector (a GPT's backup, at the end, left out:
# bramble does not read it), and fuzz_image pads its input with zeros to
# 4 MiB, so that a mutation costs tens of KiB, not 4 MiB.
# A FAT32 this small has fewer clusters than the type's minimum, which
# neither mkfs.vfat nor mtools will fill; bramble reads the type the boot
# sector says, so the FAT32 is made full size (65,600 clusters), filled,
# then shrunk: its FATs cut to their first 48 sectors and its first
# clusters moved after them.
# Needs sfdisk, mkfs.vfat, mcopy and python3; made at test time to keep them
# out of git.
# Usage: tests/fuzz/image_seeds.sh DIR
set -eu
dir=$1
export PATH="$PATH:/usr/sbin:/sbin" MTOOLS_SKIP_CHECK=1
mkdir -p "$dir/files/overlays"
printf 'arm_64bit=1\n' >"$dir/files/config.txt"
printf 'console=serial0,115200 root=/dev/nfs\n' >"$dir/files/cmdline.txt"
printf 'overlay\n' >"$dir/files/overlays/a long overlay name.dtbo"
files="$dir/files/config.txt $dir/files/cmdline.txt $dir/files/overlays"
# make LABEL FAT: a 4 MiB disk, one partition at sector 40 of 6110 sectors
make() {
	img=$dir/$1-fat$2.img
	part=$dir/part.img
	rm -f "$img" "$part"
	truncate -s 4M "$img"
	if [ "$1" = dos ]; then type=$([ "$2" = 16 ] && echo e || echo c); else
		type=EBD0A0A2-B9E5-4433-87C0-68B6B72699C7; fi
	printf 'label: %s\nunit: sectors\nstart=40, size=6110, type=%s\n' "$1" "$type" |
		sfdisk -q "$img" >/dev/null 2>&1
	if [ "$2" = 16 ]; then # -r 16: a one-sector root directory
		truncate -s 3055K "$part"
		mkfs.vfat -F 16 -s 1 -r 16 -n BOOT "$part" >/dev/null 2>&1
	else
		truncate -s 33M "$part"
		mkfs.vfat -F 32 -s 1 -n BOOT "$part" >/dev/null 2>&1
	fi
	# shellcheck disable=SC2086
	mcopy -s -i "$part" $files ::/
	python3 - "$img" "$part" <<'PY'
import os, struct, sys
img, part = sys.argv[1], sys.argv[2]
with open(part, "rb") as f:
    p = bytearray(f.read())
u16 = lambda o: struct.unpack_from("<H", p, o)[0]
u32 = lambda o: struct.unpack_from("<I", p, o)[0]
if u16(22) == 0:  # FAT32: shrink to 6110 sectors, 48-sector FATs
    rsvd, nfats, fatsz = u16(14), p[16], u32(36)
    new_fatsz, keep = 48, 64 * 512  # the first 64 clusters hold every file
    old_data, new_data = (rsvd + nfats * fatsz) * 512, (rsvd + nfats * new_fatsz) * 512
    fat = p[rsvd * 512:(rsvd + new_fatsz) * 512]
    data = p[old_data:old_data + keep]
    q = bytearray(6110 * 512)
    q[:rsvd * 512] = p[:rsvd * 512]
    for i in range(nfats):
        o = (rsvd + i * new_fatsz) * 512
        q[o:o + len(fat)] = fat
    q[new_data:new_data + keep] = data
    for bs in (0, u16(50) * 512):  # the boot sector and its backup
        struct.pack_into("<I", q, bs + 32, 6110)
        struct.pack_into("<I", q, bs + 36, new_fatsz)
    fsinfo = u16(48) * 512
    struct.pack_into("<II", q, fsinfo + 488, 0xFFFFFFFF, 0xFFFFFFFF)  # free: unknown
    p = q
with open(img, "r+b") as f:
    f.seek(40 * 512)
    f.write(p[:6110 * 512])
    f.seek(0)
    d = f.read()
end = len(d) - 33 * 512  # a GPT's backup: the last 33 sectors
while end > 0 and not any(d[end - 512:end]):
    end -= 512
os.truncate(img, end)
PY
	rm -f "$part"
}
for label in dos gpt; do
	make "$label" 16
	make "$label" 32
done
rm -rf "$dir/files"
