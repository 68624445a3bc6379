#!/bin/bash
# bench_roots: how long `bramble apply` takes to make 10 private node roots
# from an image root of a few hundred MB (prints figures, asserts nothing):
#
#   copy     on the scratch file system (ext4 here): copy_file_range
#   copy     on XFS (reflink=1), roots.copyMode=copy, for comparison
#   reflink  on XFS (reflink=1), roots.copyMode=reflink: FICLONE
#
# The XFS file system is a sparse file mounted with a loop device in a
# private mount namespace (unshare -m); without mkfs.xfs, loop devices or
# root, only the first figure is printed.  Each figure is one apply of a
# fresh output tree (the image store on the same file system), including the
# syncfs that makes the roots durable before they are renamed into place,
# and the space the roots took (df) beside it.
#
# Usage: bash tests/bench/bench_roots.sh [--bramble PATH]
#   Environment: BENCH_DIR (scratch parent, default /tmp), BENCH_MB (image
#   root size, default 300), BENCH_NODES (default 10), BENCH_KEEP=1.
set -eu
src=$(cd "$(dirname "$0")/../.." && pwd)
bramble=${BRAMBLE:-$src/build/controller/bramble}
[ "${1:-}" = "--bramble" ] && bramble=$2
mb=${BENCH_MB:-300}
nodes=${BENCH_NODES:-10}
w=$(mktemp -d "${BENCH_DIR:-/tmp}/bench_roots.XXXXXX")
[ -n "${BENCH_KEEP:-}" ] || trap 'umount "$w/xfs" 2>/dev/null; rm -rf "$w"' EXIT

# The repository: one image, $nodes private roots.
mkdir -p "$w/repo"
cat >"$w/repo/cluster.yaml" <<EOF
apiVersion: bramble/v1alpha1
kind: Cluster
metadata: {name: bench}
spec: {server: 10.98.0.1, subnet: 10.98.0.0/16}
---
apiVersion: bramble/v1alpha1
kind: Image
metadata: {name: os}
spec: {path: os}
EOF
for i in $(seq 1 "$nodes"); do
	printf -- '---\napiVersion: bramble/v1alpha1\nkind: Node\nmetadata: {name: n%d}\nspec: {serial: "%08x", image: os, ip: 10.98.1.%d}\n' \
		"$i" "$((0x10000000 + i))" "$i" >>"$w/repo/cluster.yaml"
done

# An image root of about $mb MB: a few thousand files of mixed sizes, with
# directories, symlinks and a hard link, like a root file system.
make_image() {
	local dir=$1/os
	sh "$src/scripts/make-demo-image.sh" "$dir" >/dev/null
	head -c $((mb * 1024 * 1024)) /dev/urandom >"$1/blob"
	local d f i=0 off=0 size
	for d in $(seq 1 40); do
		mkdir -p "$dir/root/usr/lib/pkg$d"
		for f in $(seq 1 60); do
			size=$(((i * 7919) % 180000 + 4096))
			[ $((off + size)) -le $((mb * 1024 * 1024)) ] || off=0
			dd if="$1/blob" of="$dir/root/usr/lib/pkg$d/f$f" bs=4096 skip=$((off / 4096)) \
				count=$((size / 4096)) status=none
			off=$((off + size))
			i=$((i + 1))
		done
		ln -s "pkg$d/f1" "$dir/root/usr/lib/link$d"
	done
	# The rest in a few big files (libraries, firmware).
	for f in 1 2 3 4; do
		dd if="$1/blob" of="$dir/root/usr/lib/big$f" bs=1M count=$((mb / 6)) status=none
	done
	ln "$dir/root/usr/lib/big1" "$dir/root/usr/lib/big1.hardlink"
	rm -f "$1/blob"
}

# run LABEL DIR [--set ...]: one apply into DIR/out; prints time and space.
run() {
	local label=$1 dir=$2 t0 t1 used0 used1
	shift 2
	rm -rf "$dir/out/nfs" "$dir/out/state" "$dir/out/tftp"
	sync
	used0=$(df -k --output=used "$dir" | tail -1)
	t0=$(date +%s.%N)
	"$bramble" apply --source "$w/repo" --root "$dir/out" --set dhcp.testCommand= -q "$@" >/dev/null
	t1=$(date +%s.%N)
	sync
	used1=$(df -k --output=used "$dir" | tail -1)
	printf '%-34s %7.2f s   %6d MB written for %d roots\n' "$label" "$(echo "$t1 - $t0" | bc)" \
		$(((used1 - used0) / 1024)) "$nodes"
}

mkdir -p "$w/plain/out/images"
make_image "$w/plain/out/images"
size=$(du -sm "$w/plain/out/images/os/root" | cut -f1)
files=$(find "$w/plain/out/images/os/root" -type f | wc -l)
echo "bench_roots: $nodes private roots from an image root of $size MB ($files files); $(nproc) CPUs"
run "copy, $(findmnt -no FSTYPE -T "$w") (copyMode copy)" "$w/plain" --set roots.copyMode=copy
rm -rf "$w/plain"

xfs_part() {
	mkdir -p "$w/xfs"
	truncate -s $((mb * (nodes + 3) + 1024))M "$w/xfs.img"
	mkfs.xfs -q -m reflink=1 "$w/xfs.img" && mount -o loop "$w/xfs.img" "$w/xfs" || return 2
	mkdir -p "$w/xfs/out/images"
	make_image "$w/xfs/out/images"
	run "copy, xfs (copyMode copy)" "$w/xfs" --set roots.copyMode=copy
	run "reflink, xfs (copyMode reflink)" "$w/xfs" --set roots.copyMode=reflink
	umount "$w/xfs"
}
if [ "$(id -u)" -eq 0 ] && command -v mkfs.xfs >/dev/null && command -v unshare >/dev/null; then
	export -f xfs_part make_image run
	export w mb nodes src bramble
	unshare -m bash -c 'mount --make-rprivate / && xfs_part' ||
		echo "xfs: cannot make or mount an XFS file system here: reflink not measured"
else
	echo "xfs: needs root, mkfs.xfs (xfsprogs) and unshare: reflink not measured"
fi
