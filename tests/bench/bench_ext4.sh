#!/bin/sh
# bench_ext4: time imgfs_ext4_extract() on a ~1 GiB ext4 image holding
# ~800 MB of files (40,000 small ones in 400 directories, six large ones),
# beside `debugfs -R 'rdump / …'` on the same image and, for scale, beside
# decompressing the image with zstd and xz.  Not a test: it prints figures.
#
# Usage: sh tests/bench/bench_ext4.sh
# Environment: BENCH_DIR (scratch parent, default /tmp), BENCH_LOOP=0 (do
# not use a loop-mounted scratch file system), BENCH_KEEP=1 (keep the
# scratch directory; without the loop mount only), CC (default cc).  Needs
# mkfs.ext4, debugfs and python3; zstd and xz are optional; about 8 GB of
# disk.  Run it as root, so that owners are set as in a real extraction.
# The image is read from the page cache (it was just written), as it is
# right after bramble decompressed it.
set -eu
src=$(cd "$(dirname "$0")/../.." && pwd)
PATH="$PATH:/usr/sbin:/sbin"

# As root, run on a fresh ext4 file system of its own (a loop mount in a
# private mount namespace): the host file system's state (ext4 skips
# recently deleted inodes for minutes, and other users delete files) would
# otherwise dominate the figures.  BENCH_LOOP=0 runs in BENCH_DIR instead.
if [ "${BENCH_INNER:-0}" != 1 ] && [ "${BENCH_LOOP:-1}" = 1 ] && [ "$(id -u)" = 0 ] &&
	command -v unshare >/dev/null; then
	scratch=$(mktemp -d "${BENCH_DIR:-/tmp}/bench_ext4_fs.XXXXXX")
	trap 'rm -rf "$scratch"' EXIT
	truncate -s 16G "$scratch/fs.img"
	mkfs.ext4 -q -F "$scratch/fs.img"
	mkdir "$scratch/mnt"
	BENCH_INNER=1 unshare -m sh -c 'mount -o loop "$1/fs.img" "$1/mnt" &&
		BENCH_DIR="$1/mnt" exec sh "$2"' sh "$scratch" "$0"
	exit
fi
work=$(mktemp -d "${BENCH_DIR:-/tmp}/bench_ext4.XXXXXX")
[ "${BENCH_KEEP:-0}" = 1 ] || [ "${BENCH_INNER:-0}" = 1 ] || trap 'rm -rf "$work"' EXIT
cd "$work"
echo "working in $(df -P . | awk 'NR == 2 { print $1 " mounted on " $6 }')"

# A driver that extracts one image into one directory and prints the stats.
cat > extract.c <<'EOF'
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "imgfs_ext4.h"

int main(int argc, char **argv)
{
	struct imgfs_ext4_stats st = {0};
	struct buf err = BUF_INIT;
	struct stat sb;
	int img, dir, r;

	if (argc != 3)
		return 2;
	img = open(argv[1], O_RDONLY | O_CLOEXEC);
	dir = open(argv[2], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (img < 0 || dir < 0 || fstat(img, &sb) < 0)
		return 2;
	r = imgfs_ext4_extract(img, 0, (uint64_t)sb.st_size, dir, NULL, &st, &err);
	if (r < 0) {
		fprintf(stderr, "extract: %s (%s)\n", buf_str(&err), strerror(-r));
		return 1;
	}
	printf("files %llu dirs %llu symlinks %llu hardlinks %llu bytes %llu\n",
	       (unsigned long long)st.files, (unsigned long long)st.dirs,
	       (unsigned long long)st.symlinks, (unsigned long long)st.hardlinks,
	       (unsigned long long)st.bytes);
	buf_release(&err);
	return 0;
}
EOF
${CC:-cc} -std=c11 -D_GNU_SOURCE -O2 -I"$src/common" -I"$src/reconcilers" -o extract extract.c \
	"$src/reconcilers/imgfs_ext4.c" "$src/common/buf.c" "$src/common/fsutil.c" -lext2fs -lcom_err

echo "building the tree and the image..."
python3 - tree <<'EOF'
import os, random, sys
random.seed(42)
root = sys.argv[1]
blob = os.urandom(1 << 20)
def data(n):
    # Half random, half repeated: compresses about 2:1, like a root file system.
    half = blob[random.randrange(0, len(blob) - n // 2 - 1):][: n // 2]
    return (half + half + b"x")[:n]
for d in range(400):
    os.makedirs(f"{root}/usr/lib/pkg{d:03d}")
    for f in range(100):
        size = int(2 ** random.uniform(6, 16))
        with open(f"{root}/usr/lib/pkg{d:03d}/file{f:03d}.so", "wb") as fp:
            fp.write(data(size))
os.makedirs(f"{root}/var/big")
for b in range(6):
    with open(f"{root}/var/big/blob{b}", "wb") as fp:
        for _ in range(70):
            fp.write(data(1 << 20))
EOF
du -sh tree | sed 's/^/content: /'
mkfs.ext4 -q -F -b 4096 -d tree disk.img 1G 2>/dev/null
sync && sleep 10 # let the writeback of tree and image settle before timing

# Nothing is deleted until the end: ext4 makes file creation slow for a few
# minutes after many deletions (it skips recently freed inodes), which would
# penalise whichever tool runs next.
now() {
	python3 -c 'import time; print(time.monotonic())'
}
since() {
	python3 -c 'import sys, time; print(f"{time.monotonic() - float(sys.argv[1]):.2f}")' "$1"
}
time_extract() {
	mkdir "$1" && sync
	t=$(now)
	./extract disk.img "$1" >/dev/null
	echo "imgfs_ext4_extract $(since "$t") s"
}
time_debugfs() {
	mkdir "$1" && sync
	t=$(now)
	debugfs -R "rdump / $1" disk.img >/dev/null 2>&1
	echo "debugfs rdump      $(since "$t") s"
}
for round in 1 2 3; do
	echo "round $round:"
	if [ $((round % 2)) = 1 ]; then
		time_extract "out$round"; time_debugfs "ref$round"
	else
		time_debugfs "ref$round"; time_extract "out$round"
	fi
done
mkdir check && ./extract disk.img check | sed 's/^/stats: /'
for tool in zstd xz; do
	command -v $tool >/dev/null || continue
	$tool -q -T2 -1 -k -c disk.img > disk.img.$tool
	t=$(now)
	$tool -q -d -T2 -c disk.img.$tool > decompressed.img
	echo "$tool -d of the image $(since "$t") s ($(du -h disk.img.$tool | cut -f1) compressed)"
	rm -f decompressed.img
done
