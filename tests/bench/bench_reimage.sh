#!/bin/bash
# bench_reimage: a new image for N nodes with private roots (issue 15, item 4).
# Prints figures and ratios; asserts nothing.
#
# The image is a real one: the Debian root the e2e boot tests build and cache
# (/var/cache/bramble-test/debian-node-*/debian-node.img.xz, a 507 MiB disk
# with a FAT boot partition and an ext4 root of about 250 MB in 11,600
# entries; made by `xz -T0`, so multi-block), or BENCH_IMAGE=FILE.img.xz.
# The "new image" is that file with an empty .xz stream after it: another
# sha256 (another image store entry, decompressed and extracted again), the
# same disk.
#
# On each file system (XFS with reflink=1, then ext4; each a sparse loop file
# mounted in a private mount namespace), with BENCH_NODES nodes:
#   cold     bramble apply: image A in, N roots of generation 1 (shown only)
#   re-image the commit: Image url -> image B, root.generation 2; bramble
#            apply, from its start to the last root renamed into place (and
#            synced): wall and CPU; the image step's own lines from its log
#   roots    bramble apply of root.generation 4 of the same image: the N
#            roots alone (the image is in the store)
#   floor    the same N copies of the extracted root with
#            cp -a --reflink=auto, one after the other, then sync -f; and
#            N/nproc at a time (xargs -P); the better of the two is the floor
#            (roots and floor: BENCH_REPEAT rounds, alternating, generation
#            4, 6, 8 ...; the medians are compared)
#   ratio    roots alone / floor, wall and CPU
#   whole    BENCH_REPEAT rounds, alternating, of a re-image to a new image
#            (round k: image B with k+1 more empty streams) and of the same
#            work with the standard tools (sha256sum, xz -T0 -dc into a
#            sparse raw disk, cp -a of its root partition from a read-only
#            loop mount, sync, N copies with cp -a --reflink=auto N/nproc at a
#            time, sync): the medians' ratio
# and once, before: decompression of image B, xz -dc and xz -T0 -dc against
# bramble's own "decompressed" line (ratio).
#
# Usage: bash tests/bench/bench_reimage.sh
# Environment: BRAMBLE (default build/controller/bramble), BENCH_IMAGE,
# BENCH_NODES (default 100 on XFS), BENCH_EXT4_NODES (default 10: each root
# is a full copy there, 2 x N x 250 MB of disk), BENCH_FS ("xfs ext4"),
# BENCH_DIR (parent of the loop files, default /tmp), BENCH_KEEP=1,
# BENCH_BASELINE=PATH (another bramble binary: its roots alone are timed too),
# BENCH_REPEAT (default 3: rounds of the roots alone and the floor, alternating;
# the medians make the ratio).
# Run as root (loop devices, mount namespaces, owners in the roots).
set -eu
src=$(cd "$(dirname "$0")/../.." && pwd)
BRAMBLE=${BRAMBLE:-$src/build/controller/bramble}
NODES=${BENCH_NODES:-100}
EXT4_NODES=${BENCH_EXT4_NODES:-10}
REPEAT=${BENCH_REPEAT:-3}
FSES=${BENCH_FS:-xfs ext4}
export PATH="$PATH:/usr/sbin:/sbin" LC_ALL=C.UTF-8
img=${BENCH_IMAGE:-$(ls /var/cache/bramble-test/debian-node-*/debian-node.img.xz 2>/dev/null |
	head -1)}
if [ -z "$img" ] || [ ! -s "$img" ]; then
	echo "bench_reimage: no image: run test_node_boot once (it caches the Debian image) or set BENCH_IMAGE" >&2
	exit 1
fi
[ "$(id -u)" -eq 0 ] || { echo "bench_reimage: run as root" >&2; exit 1; }
w=$(mktemp -d "${BENCH_DIR:-/tmp}/bench_reimage.XXXXXX")
[ -n "${BENCH_KEEP:-}" ] || trap 'rm -rf "$w"' EXIT
TIMEFORMAT="%R %U %S"
# measure CMD...: stdout and stderr to $w/log; sets WALL and CPU (user + sys).
measure() {
	local t
	t=$({ time "$@" >"$w/log" 2>&1; } 2>&1)
	WALL=${t%% *}
	CPU=$(echo "$t" | awk '{ printf "%.2f", $2 + $3 }')
}
ratio() { echo "$1 $2" | awk '{ printf "%.2f", $1 / $2 }'; }
# median N...: the middle one (the lower middle of an even count).
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
row() { printf '  %-52s %s\n' "$1" "$2"; }
load() { cut -d' ' -f1-3 /proc/loadavg; }

cp "$img" "$w/a.img.xz"
cp "$img" "$w/b.img.xz"
xz -c </dev/null >>"$w/b.img.xz"
SHA_A=$(sha256sum "$w/a.img.xz" | cut -c1-64)
SHA_B=$(sha256sum "$w/b.img.xz" | cut -c1-64)
echo "bench_reimage: $(basename "$img") ($(($(stat -c %s "$img") >> 20)) MiB, $(xz -l "$img" |
	awk 'NR == 2 { print $2 }') blocks); $(nproc) CPUs; load $(load)"

# --- decompression, in the page cache ------------------------------------------
measure xz -dc "$w/b.img.xz"
xz1=$WALL xz1c=$CPU
measure xz -T0 -dc "$w/b.img.xz"
xzt=$WALL xztc=$CPU
row "decompression  xz -dc > /dev/null, wall (CPU)" "$xz1 ($xz1c) s"
row "               xz -T0 -dc > /dev/null, wall (CPU)" "$xzt ($xztc) s"

# repo DIR NODES URL SHA GEN: a cluster of NODES private roots of one url Image.
repo() {
	local d=$1 i
	mkdir -p "$d"
	cat >"$d/cluster.yaml" <<EOF
apiVersion: bramble/v1alpha1
kind: Cluster
metadata: {name: bench}
spec:
  server: 10.97.0.1
  subnet: 10.97.0.0/16
  defaults: {image: os, root: {mode: private, generation: $5}}
---
apiVersion: bramble/v1alpha1
kind: Image
metadata: {name: os}
spec: {url: "file://$3", sha256: $4}
EOF
	for i in $(seq 1 "$2"); do
		printf -- '---\napiVersion: bramble/v1alpha1\nkind: Node\nmetadata: {name: n%d}\nspec: {serial: "%08x", ip: 10.97.%d.%d}\n' \
			"$i" "$((0x20000000 + i))" "$((i / 250 + 1))" "$((i % 250 + 1))" >>"$d/cluster.yaml"
	done
}
num() { sed -n "s/.*$1 \([0-9.]*\) s.*/\1/p" "$w/log" | head -1; }

# whole_floor DIR IMAGE CPDIR NODES: what a re-image does, with the standard
# tools: check the sha256, decompress into a sparse raw disk, copy its root
# partition out of a read-only loop mount into a store, remove the raw disk,
# make the store durable, then NODES copies of the root N/nproc at a time and
# make them durable.  (The boot partition's dozen files are left out: this
# kernel may have no vfat to mount them with, and bramble extracts them while
# it decompresses.)
whole_floor() {
	local d=$1 start sectors
	sha256sum "$2" >/dev/null
	xz -T0 -dc "$2" >"$d/disk.img"
	# No udev here to make the loop device's partitions: mount at the offset.
	read -r start sectors < <(partx -g -o START,SECTORS -n 2 "$d/disk.img")
	mount -o ro,loop,offset=$((start * 512)),sizelimit=$((sectors * 512)) "$d/disk.img" "$d/mnt"
	cp -a "$d/mnt/." "$d/store/root/"
	umount "$d/mnt"
	rm "$d/disk.img"
	sync -f "$d/store"
	seq 1 "$4" | xargs -P "$(nproc)" -I@ cp -a --reflink=auto "$d/store/root" "$3/@"
	sync -f "$3"
}

# one_fs FS NODES: the cold apply, the re-image and the cp floor on a fresh FS.
one_fs() {
	local fs=$1 n=$2 m=$w/mnt out rd store floor img_s roots
	mkdir -p "$m"
	truncate -s $((n * 300 * 2 + 6144))M "$w/fs.img"
	if [ "$fs" = xfs ]; then
		mkfs.xfs -q -f -m reflink=1 "$w/fs.img"
	else
		mkfs.ext4 -q -F "$w/fs.img"
	fi
	mount -o loop "$w/fs.img" "$m"
	out=$m/out
	rd=$w/repo-$fs
	repo "$rd" "$n" "$w/a.img.xz" "$SHA_A" 1
	measure "$BRAMBLE" apply --source "$rd" --root "$out" --set dhcp.testCommand=
	echo "$fs, $n nodes; cold apply (image A, $n roots): $WALL s wall, $CPU s CPU; load $(load)"
	rm -rf "$rd" && repo "$rd" "$n" "$w/b.img.xz" "$SHA_B" 2
	rm -rf "$out/nfs/.attic" && sync
	measure "$BRAMBLE" apply --source "$rd" --root "$out" --set dhcp.testCommand=
	local rw=$WALL rc=$CPU
	cp "$w/log" "$w/reimage-$fs.log"
	img_s=$(echo "$(num 'checked the sha256 of [0-9.]* [KMG]iB in') $(num 'extracted in') \
		$(num 'made durable in')" | awk '{ printf "%.2f", $1 + $2 + $3 }')
	local DECOMP
	DECOMP=$(num 'decompressed [0-9.]* [KMG]iB in')
	roots=$(echo "$rw $img_s" | awk '{ printf "%.2f", $1 - $2 }')
	row "re-image  bramble apply, wall (CPU)" "$rw ($rc) s; load $(load)"
	row "          of which the image step (sha256, extraction, sync)" "$img_s s"
	row "          of which decompression" "$DECOMP s"
	row "          decompression / xz -dc, / xz -T0 -dc" \
		"$(ratio "$DECOMP" "$xz1") / $(ratio "$DECOMP" "$xzt")"
	row "          the $n roots (the rest)" "$roots s"
	# The roots alone (root.generation 3, 4, ... of the same image, already in
	# the store) and the floor (the same copies of the extracted root with cp),
	# BENCH_REPEAT rounds of each, alternating: the disk's own speed moves by a
	# quarter between two runs a minute apart, so each figure is the median.
	local k gen ows="" ocs="" bws="" bcs="" css="" cscs="" cpars="" ow oc cs csc cpar
	store=$(ls -d "$out/images/sha256/$SHA_B/root")
	for k in $(seq 1 "$REPEAT"); do
		gen=$((2 + 2 * k))
		rm -rf "$rd" "$out/nfs/.attic" "$m/cp" && repo "$rd" "$n" "$w/b.img.xz" "$SHA_B" "$gen" && sync
		measure "$BRAMBLE" apply --source "$rd" --root "$out" --set dhcp.testCommand=
		row "roots     bramble apply of generation $gen alone, wall (CPU)" "$WALL ($CPU) s; load $(load)"
		ows="$ows $WALL" ocs="$ocs $CPU"
		if [ -n "${BENCH_BASELINE:-}" ]; then # another bramble, e.g. an older commit's
			rm -rf "$rd" "$out/nfs/.attic" && repo "$rd" "$n" "$w/b.img.xz" "$SHA_B" $((gen + 1)) && sync
			measure "$BENCH_BASELINE" apply --source "$rd" --root "$out" --set dhcp.testCommand=
			row "          the same with BENCH_BASELINE (generation $((gen + 1)))" "$WALL ($CPU) s; load $(load)"
			bws="$bws $WALL" bcs="$bcs $CPU"
		fi
		rm -rf "$out/nfs/.attic" && mkdir -p "$m/cp" && sync
		measure sh -c "for i in \$(seq 1 $n); do cp -a --reflink=auto '$store' '$m/cp/'\$i || exit; done; sync -f '$m/cp'"
		row "floor     cp -a --reflink=auto x $n, one at a time, wall (CPU)" "$WALL ($CPU) s; load $(load)"
		css="$css $WALL" cscs="$cscs $CPU"
		rm -rf "$m/cp" && mkdir -p "$m/cp" && sync
		measure sh -c "seq 1 $n | xargs -P $(nproc) -I@ cp -a --reflink=auto '$store' '$m/cp/@' && sync -f '$m/cp'"
		row "          the same, $(nproc) at a time, wall (CPU)" "$WALL ($CPU) s; load $(load)"
		cpars="$cpars $WALL"
	done
	ow=$(median $ows) oc=$(median $ocs) cs=$(median $css) csc=$(median $cscs) cpar=$(median $cpars)
	row "medians of $REPEAT: roots alone, wall (CPU)" "$ow ($oc) s"
	row "          cp one at a time, wall (CPU); $(nproc) at a time, wall" "$cs ($csc) s; $cpar s"
	floor=$(printf '%s\n%s\n' "$cs" "$cpar" | sort -n | head -1)
	row "ratio     roots alone / floor, wall (target <= 1.2)" "$(ratio "$ow" "$floor")"
	row "          roots alone / cp one at a time, CPU" "$(ratio "$oc" "$csc")"
	if [ -n "${BENCH_BASELINE:-}" ]; then
		row "          BENCH_BASELINE's roots / floor, wall" "$(ratio "$(median $bws)" "$floor")"
		row "          BENCH_BASELINE's roots / cp one at a time, CPU" "$(ratio "$(median $bcs)" "$csc")"
	fi
	row "          re-image / (xz -T0 -dc + floor), wall" \
		"$(ratio "$rw" "$(echo "$xzt $floor" | awk '{ print $1 + $2 }')")"
	row "          (cp's roots: $(du -sm "$m/cp" | cut -f1) MB by du; the file system" \
		"$(df -m --output=used "$m" | tail -1 | tr -d ' ') MB used)"
	# The whole re-image against the same work done with the standard tools
	# (whole_floor), BENCH_REPEAT rounds of each, alternating, each bramble
	# round a new image (another empty .xz stream: another sha256) and a new
	# generation.  Both must be measured in the same position: the first
	# re-image above runs right after the cold apply, into memory the guest
	# has not touched for a while, and on this VM (virtio-balloon with free
	# page reporting) that alone makes the same copies take twice as long
	# (docs/benchmarks.md, session 13).
	local wfs="" wbs="" k2 x i
	for k2 in $(seq 1 "$REPEAT"); do
		for x in $([ $((k2 % 2)) = 1 ] && echo "tools bramble" || echo "bramble tools"); do
			rm -rf "$m/cp" "$m/wf" "$out/nfs/.attic" && sync
			if [ "$x" = tools ]; then
				mkdir -p "$m/wf/store/root" "$m/wf/mnt" "$m/cp"
				measure bash -c "whole_floor '$m/wf' '$w/b.img.xz' '$m/cp' $n"
				row "whole     the same work with the tools (round $k2)" "$WALL ($CPU) s; load $(load)"
				wfs="$wfs $WALL"
			else
				cp "$w/b.img.xz" "$w/c.img.xz"
				for i in $(seq 0 "$k2"); do xz -c </dev/null >>"$w/c.img.xz"; done
				rm -rf "$rd" && repo "$rd" "$n" "$w/c.img.xz" \
					"$(sha256sum "$w/c.img.xz" | cut -c1-64)" $((100 + k2)) && sync
				measure "$BRAMBLE" apply --source "$rd" --root "$out" --set dhcp.testCommand=
				row "          bramble's re-image to a new image (round $k2)" "$WALL ($CPU) s; load $(load)"
				wbs="$wbs $WALL"
				"$BRAMBLE" images prune --source "$rd" --root "$out" --set dhcp.testCommand= >/dev/null
			fi
		done
	done
	rm -rf "$m/cp" "$m/wf"
	row "medians of $REPEAT: re-image; the same work with the tools" "$(median $wbs) s; $(median $wfs) s"
	row "ratio     re-image / the same work with the tools, wall (target <= 1.2)" \
		"$(ratio "$(median $wbs)" "$(median $wfs)")"
	umount "$m"
	rm -f "$w/fs.img"
}

export -f one_fs whole_floor repo measure ratio median row load num
export w BRAMBLE SHA_A SHA_B xz1 xzt TIMEFORMAT REPEAT
for fs in $FSES; do
	n=$NODES
	[ "$fs" = ext4 ] && n=$EXT4_NODES
	unshare -m bash -c "mount --make-rprivate / && one_fs $fs $n"
done
