#!/bin/sh
# Make the disk images the fuzz_image replay starts from, in DIR: an MBR
# disk and a GPT disk, each with a small FAT16 boot partition holding a few
# files (long names, a subdirectory), as the Raspberry Pi OS images have.
# Needs sfdisk, mkfs.vfat and mcopy; made at test time to keep them out of git.
# Usage: tests/fuzz/image_seeds.sh DIR
set -eu
dir=$1
mkdir -p "$dir/files/overlays"
printf 'arm_64bit=1\n' >"$dir/files/config.txt"
printf 'console=serial0,115200 root=/dev/nfs\n' >"$dir/files/cmdline.txt"
printf 'overlay\n' >"$dir/files/overlays/a long overlay name.dtbo"
export MTOOLS_SKIP_CHECK=1
for label in dos gpt; do
	img=$dir/$label-fat16.img
	rm -f "$img"
	truncate -s 4M "$img"
	printf 'label: %s\nunit: sectors\nstart=2048, size=6110, type=%s\n' "$label" \
		"$([ $label = dos ] && echo e || echo EBD0A0A2-B9E5-4433-87C0-68B6B72699C7)" |
		sfdisk -q "$img" >/dev/null
	mkfs.vfat -F 16 -s 1 -n BOOT --offset 2048 "$img" 3055 >/dev/null 2>&1
	mcopy -s -i "$img@@1048576" "$dir/files/config.txt" "$dir/files/cmdline.txt" \
		"$dir/files/overlays" ::/
done
rm -rf "$dir/files"
