#!/bin/bash
# bench_images: how long bramble takes to bring a Raspberry Pi OS-like
# .img.xz into its image store, against the decompression floor and the
# usual tools.  Not a test: it prints figures (docs/benchmarks.md, "Images").
#
# The disk image (> 1 GiB) is built here: a 256 MiB FAT32 boot partition
# (2 KiB clusters; 4 KiB would leave too few for FAT32) with kernel-, initramfs-, firmware-,
# dtb- and overlay-like files, and an ext4 root holding about 800 MB copied
# from /usr/lib and /usr/share (many small files, some large ones).  It is
# compressed with xz -T2 (XZ_OPT is honoured, e.g. XZ_OPT=-3 for a quicker
# run).  Then BENCH_RUNS rounds of:
#   floor   xz -dc disk.img.xz > /dev/null
#   bramble bramble apply of one node whose Image is file://.../disk.img.xz
#           with its sha256; from its log: the checksum, the decompression,
#           the extraction (decompress + partitions + FAT + ext4 into the
#           store), the durability step; and the whole apply
#   tools   xz -dc > disk.img; mcopy -s -n (boot); debugfs rdump (root)
# The three run one after the other in each round, so that they see the same
# load; wall and CPU (user + system) seconds are printed, the CPU time being
# what other processes on the machine do not change.  Everything is read
# from the page cache (the files were just written).
#
# Usage: bash tests/bench/bench_images.sh
# Environment: BRAMBLE (default build/controller/bramble), BENCH_DIR (scratch
# parent, default /tmp), BENCH_KEEP=1 (keep it; a kept dir can be given as
# BENCH_REUSE=DIR to skip building and compressing), BENCH_RUNS (default 2).
# Run as root (owners are set as in a real extraction).
set -eu
src=$(cd "$(dirname "$0")/../.." && pwd)
BRAMBLE=${BRAMBLE:-$src/build/controller/bramble}
RUNS=${BENCH_RUNS:-2}
export PATH="$PATH:/usr/sbin:/sbin" MTOOLS_SKIP_CHECK=1 LC_ALL=C.UTF-8
if [ -n "${BENCH_REUSE:-}" ]; then
	work=$BENCH_REUSE
else
	work=$(mktemp -d "${BENCH_DIR:-/tmp}/bench_images.XXXXXX")
	[ "${BENCH_KEEP:-0}" = 1 ] || trap 'rm -rf "$work"' EXIT
fi
cd "$work"
now() { date +%s.%N; }
since() { echo "$(now) $1" | awk '{ printf "%.2f", $1 - $2 }'; }
best() { printf '%s\n' "$@" | sort -n | head -1; }
ratio() { echo "$1 $2" | awk '{ printf "%.2f", $1 / $2 }'; }

# --- the image ---------------------------------------------------------------
build_boot() {
	mkdir -p boot/overlays
	llvm=$(ls -S /usr/lib/x86_64-linux-gnu/lib*.so* | head -1)
	big2=$(ls -S /usr/lib/x86_64-linux-gnu/lib*.so* | sed -n 3p)
	i=0
	for k in kernel.img kernel7.img kernel7l.img kernel8.img kernel_2712.img; do
		# a kernel is compressed: gzip of a slice of a large library
		dd if="$llvm" bs=1M skip=$((i * 12)) count=24 status=none | gzip -1 > "boot/$k"
		dd if="$big2" bs=1M skip=$((i * 2)) count=12 status=none > "boot/initramfs${k#kernel}"
		i=$((i + 1))
	done
	for f in start.elf start4.elf start_cd.elf start4cd.elf start_x.elf start4x.elf \
		start_db.elf start4db.elf; do
		dd if="$llvm" bs=64K skip=$((i * 40)) count=45 status=none > "boot/$f"
		i=$((i + 1))
	done
	for f in fixup.dat fixup4.dat fixup_cd.dat fixup4cd.dat bootcode.bin; do
		dd if="$llvm" bs=4K skip=$i count=2 status=none > "boot/$f"
		i=$((i + 1))
	done
	for n in $(seq 60); do
		dd if="$llvm" bs=1K skip=$((n * 97)) count=60 status=none > "boot/bcm27$n-rpi.dtb"
	done
	for n in $(seq 320); do
		dd if="$big2" bs=512 skip=$((n * 13)) count=$((n % 9 + 2)) status=none \
			> "boot/overlays/overlay-$n.dtbo"
	done
	# firmware blobs and the rest of a full boot partition
	dd if="$llvm" bs=1M skip=60 count=40 status=none > boot/firmware-blob.bin
	printf 'arm_64bit=1\ndtoverlay=vc4-kms-v3d\n' > boot/config.txt
	printf 'console=serial0,115200 root=PARTUUID=1234abcd-02 rootfstype=ext4 rootwait\n' \
		> boot/cmdline.txt
}

# About 800 MB from /usr/lib and /usr/share: symlinks kept, files copied.
build_root() {
	python3 - root 800000000 <<'EOF'
import os, shutil, sys
dst, budget = sys.argv[1], int(sys.argv[2])
total = 0
for base in ("/usr/share", "/usr/lib"):
    for dirpath, dirnames, filenames in os.walk(base):
        dirnames.sort()
        rel = os.path.relpath(dirpath, "/")
        os.makedirs(os.path.join(dst, rel), exist_ok=True)
        for name in sorted(filenames):
            s, d = os.path.join(dirpath, name), os.path.join(dst, rel, name)
            if os.path.islink(s):
                os.symlink(os.readlink(s), d)
            elif os.path.isfile(s):
                size = os.path.getsize(s)
                if size > 130 << 20 or total + size > budget:
                    continue
                shutil.copy2(s, d)
                total += size
        if total >= budget * 0.995:
            sys.exit(0)
EOF
	mkdir -p root/etc root/home/pi
	printf 'raspberrypi\n' > root/etc/hostname
}

if [ ! -s disk.img.xz ]; then
	echo "bench_images: building the image in $work"
	build_boot
	build_root
	sh "$src/tests/e2e/fixtures/make_disk_image.sh" boot root disk.img 256 1100 4 > parts
	rm -rf boot root
	t=$(now)
	xz -T2 -k disk.img
	echo "bench_images: xz -T2 ${XZ_OPT:-} took $(since "$t") s"
	rm -f disk.img
fi
P1=$(sed 's/p1=\([0-9]*\).*/\1/' parts)
P2=$(sed 's/.*p2=\([0-9]*\)/\1/' parts)
SHA=$(sha256sum disk.img.xz | cut -c1-64)
XZ_MB=$(($(stat -c %s disk.img.xz) / 1048576))

# --- the rounds --------------------------------------------------------------
rm -rf repo && mkdir repo
cat > repo/cluster.yaml <<EOF
apiVersion: bramble/v1alpha1
kind: Cluster
metadata: {name: bench}
spec: {server: 10.99.0.1, subnet: 10.99.0.0/24}
---
apiVersion: bramble/v1alpha1
kind: Image
metadata: {name: bench-os}
spec: {url: "file://$work/disk.img.xz", sha256: $SHA}
---
apiVersion: bramble/v1alpha1
kind: Node
metadata: {name: pi-1}
spec: {serial: 1234abcd, image: bench-os}
EOF
TIMEFORMAT="%R %U %S"
# measure OUT CMD...: run CMD with stdout to OUT and stderr to log; sets WALL
# and CPU (user + system seconds).
measure() {
	local out=$1 t
	shift
	t=$({ time "$@" >"$out" 2>log; } 2>&1)
	WALL=${t%% *}
	CPU=$(echo "$t" | awk '{ printf "%.2f", $2 + $3 }')
}
num() { sed -n "s/.*$1 \([0-9.]*\) s.*/\1/p" log | head -1; }
row() { printf '  %-46s %s\n' "$1" "$2"; }
floors= fcpus= applies= acpus= extracts= checks= decomps= boots= roots= syncs=
tools= tcpus= txz= tmc= tdf=
# Each round in new directories: on a disk file system, creating files right
# after deleting as many is slower (ext4 avoids reusing recently freed inodes).
rm -rf out* tool-*
for i in $(seq "$RUNS"); do
	measure /dev/null xz -dc disk.img.xz
	floors="$floors $WALL" fcpus="$fcpus $CPU"

	measure /dev/null "$BRAMBLE" apply --source repo --root "out$i" --set dhcp.testCommand=
	applies="$applies $WALL" acpus="$acpus $CPU"
	checks="$checks $(num 'checked the sha256 of [0-9.]* [KMG]iB in')"
	decomps="$decomps $(num 'decompressed [0-9.]* [KMG]iB in')"
	boots="$boots $(num 'extracted boot ([0-9]* files) in')"
	roots="$roots $(sed -n 's/.*and root ([0-9]* files, [0-9.]* [KMG]iB) in \([0-9.]*\) s.*/\1/p' log)"
	extracts="$extracts $(num 'extracted in')"
	syncs="$syncs $(num 'made durable in')"
	cp log bramble.log

	mkdir "tool-boot$i" "tool-root$i"
	measure tool.img xz -dc disk.img.xz
	w1=$WALL c1=$CPU
	measure /dev/null mcopy -s -n -i "tool.img@@$P1" ::/ "tool-boot$i/"
	w2=$WALL c2=$CPU
	measure /dev/null debugfs -R "rdump / $work/tool-root$i" "tool.img?offset=$P2"
	txz="$txz $w1" tmc="$tmc $w2" tdf="$tdf $WALL"
	tools="$tools $(echo "$w1 $w2 $WALL" | awk '{ printf "%.2f", $1 + $2 + $3 }')"
	tcpus="$tcpus $(echo "$c1 $c2 $CPU" | awk '{ printf "%.2f", $1 + $2 + $3 }')"
	rm -f tool.img
done
grep 'image "bench-os"' bramble.log | sed 's/^.*info: /  /'
check_same=$(diff -r tool-boot1 "out1/images/sha256/$SHA/boot" >/dev/null &&
	echo "boot/ identical to mcopy's" || echo "boot/ DIFFERS from mcopy's")
rm -rf tool-* out*
FLOOR=$(best $floors) EXTRACT=$(best $extracts) TOOLS=$(best $tools)
DISK=$(sed -n 's/.*decompressed \([0-9.]* [KMG]iB\) in.*/\1/p' bramble.log | head -1)

echo
echo "bench_images: disk $DISK (boot 256 MiB FAT32, root 1100 MiB ext4), $XZ_MB MiB as .img.xz"
echo "  $RUNS rounds; seconds, one figure per round"
row "floor   xz -dc > /dev/null, wall" "$floors"
row "        CPU (user + system)" "$fcpus"
row "bramble sha256 check of the .img.xz" "$checks"
row "        decompress into a sparse disk.img" "$decomps"
row "        boot (FAT, alongside the decompression)" "$boots"
row "        root (ext4, after it)" "$roots"
row "        extraction in all, wall" "$extracts"
row "        syncfs + rename (durable)" "$syncs"
row "        whole apply (with the node's root), wall" "$applies"
row "        whole apply, CPU" "$acpus"
row "tools   xz -dc > disk.img" "$txz"
row "        mcopy -s -n (boot)" "$tmc"
row "        debugfs rdump (root)" "$tdf"
row "        in all, wall" "$tools"
row "        in all, CPU" "$tcpus"
row "best    floor / extraction / tools, wall" "$FLOOR / $EXTRACT / $TOOLS"
row "ratios  extraction / floor (target <= 1.2)" "$(ratio "$EXTRACT" "$FLOOR")"
row "        extraction / tools (target < 1)" "$(ratio "$EXTRACT" "$TOOLS")"
row "" "$check_same"
