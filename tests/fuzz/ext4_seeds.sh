#!/bin/sh
# Make the small file systems the fuzz_ext4 replay starts from, in DIR: an
# ext4 (extents, 1 KiB blocks), an ext3 and an ext2 (block maps), each made
# by mke2fs -d from a tree with what a root holds: files (one with a hole,
# one of several blocks), a subdirectory, fast and slow symlinks, a hard
# link, a FIFO, an extended attribute when the file system here allows one.
# Each is 64 KiB (64 blocks, 32 inodes of 128 bytes), so that a mutation
# costs little.  Made at test time to keep binaries out of git.  Needs mke2fs.
# Usage: tests/fuzz/ext4_seeds.sh DIR
set -eu
dir=$1
export PATH="$PATH:/usr/sbin:/sbin"
t=$dir/tree
mkdir -p "$t/etc/ssh" "$t/usr/lib"
printf 'pi\n' >"$t/etc/hostname"
printf 'proc /proc proc defaults 0 0\n' >"$t/etc/fstab"
head -c 3000 /dev/zero | tr '\0' 'x' >"$t/usr/lib/several-blocks"
printf 'start' >"$t/usr/lib/sparse" && truncate -s 40960 "$t/usr/lib/sparse"
printf 'end' >>"$t/usr/lib/sparse"
ln -s ../etc/hostname "$t/usr/short-link"
ln -s "$(printf '%0100d' 0)/a/very/long/target/that/does/not/fit/in/the/inode/itself/at/all" \
	"$t/usr/long-link"
ln "$t/etc/hostname" "$t/etc/hostname-again"
mkfifo "$t/usr/fifo"
chmod 4755 "$t/usr/lib/several-blocks"
setfattr -n user.bramble -v seed "$t/etc/fstab" 2>/dev/null || true
for fs in ext4 ext3 ext2; do
	rm -f "$dir/$fs.img"
	truncate -s 64K "$dir/$fs.img" # mke2fs -d fails to fill a file it has to make this small
	mke2fs -q -F -t "$fs" -b 1024 -N 32 -I 128 -m 0 -d "$t" "$dir/$fs.img" 64 >/dev/null 2>&1
done
rm -rf "$t"
