#!/bin/bash
# test_images: url Images end to end, with real parts.  A Raspberry Pi OS-like
# disk image (MBR, FAT32 boot, ext4 root) is built with sfdisk, mkfs.vfat,
# mcopy and mkfs.ext4 -d, compressed as .img.xz, .img.zst, .img.gz, .zip and
# left plain, and served by lighttpd and by http_range_server.py (faults) on
# 127.0.0.1.  bramble apply must bring each into the image store exactly as
# mcopy and debugfs extract it, link the nodes' TFTP trees to it, refuse a
# checksum mismatch, resume a killed download with a Range request, give up
# on a failing server, reject hostile images leaving nothing behind, and list
# and prune the store.
. "$(dirname "$0")/lib.sh"
need_root
export PATH="$PATH:/usr/sbin:/sbin" MTOOLS_SKIP_CHECK=1 LC_ALL=C.UTF-8
for t in sfdisk mkfs.vfat mcopy mkfs.ext4 debugfs xz zstd gzip bzip2 zip lighttpd python3 \
	setcap getfattr setfattr; do
	command -v "$t" >/dev/null || { not_ok "$t is installed (scripts/install-deps.sh --test)"; done_testing; exit 1; }
done
COMPARE="python3 $SRC/tests/unit/compare_trees.py"

# --- the image ---------------------------------------------------------------
BT=$W/img/boot RT=$W/img/root
mkdir -p "$BT/overlays" "$RT"
# Fixed sizes (the content is random): start4.elf spans well over the five
# clusters the FAT-loop case below needs, whatever the cluster size.
for f in bootcode.bin:31000 start.elf:42000 fixup.dat:3100 start4.elf:48000 fixup4.dat:5300 \
	bcm2711-rpi-4-b.dtb:52000 bcm2712-rpi-5-b.dtb:77000; do
	head -c "${f#*:}" /dev/urandom > "$BT/${f%%:*}"
done
head -c 3000000 /dev/urandom > "$BT/kernel8.img"
cp "$BT/kernel8.img" "$BT/kernel_2712.img"
printf 'arm_64bit=1\ndtoverlay=vc4-kms-v3d\n' > "$BT/config.txt"
printf 'console=serial0,115200 root=PARTUUID=1234abcd-02 rootfstype=ext4 rootwait\n' > "$BT/cmdline.txt"
for o in vc4-kms-v3d disable-bt; do printf 'overlay %s\n' "$o" > "$BT/overlays/$o.dtbo"; done
printf 'a long name\n' > "$BT/a file name much longer than eight dot three characters.txt"
printf 'not ascii\n' > "$BT/überlänge-Größe.txt"

mkdir -p "$RT/etc" "$RT/usr/bin" "$RT/home/pi" "$RT/var/empty" "$RT/tmp" "$RT/boot/firmware"
printf 'raspberrypi\n' > "$RT/etc/hostname"
printf 'proc /proc proc defaults 0 0\n' > "$RT/etc/fstab"
setfattr -n user.comment -v "kept by bramble" "$RT/etc/hostname"
head -c 100000 /dev/urandom > "$RT/usr/bin/ping" && chmod 0755 "$RT/usr/bin/ping"
setcap cap_net_raw+ep "$RT/usr/bin/ping"
head -c 50000 /dev/urandom > "$RT/usr/bin/sudo" && chmod 4755 "$RT/usr/bin/sudo"
head -c 20000 /dev/urandom > "$RT/usr/bin/wall" && chmod 2755 "$RT/usr/bin/wall"
chmod 1777 "$RT/tmp"
head -c 70000 /dev/urandom > "$RT/usr/bin/python3.11" && chmod 0755 "$RT/usr/bin/python3.11"
ln "$RT/usr/bin/python3.11" "$RT/usr/bin/python3"
ln -s usr/bin "$RT/bin"
ln -s /etc/hostname "$RT/etc/absolute-link"
ln -s "$(printf 'long-target-%.0s' $(seq 12))/end" "$RT/etc/slow-link"
ln -s nowhere "$RT/dangling"
printf 'x\n' > "$RT/$(printf 'n%.0s' $(seq 255))"
printf 'x\n' > "$RT/home/pi/Überraschung ✓ 日本.txt"
d="$RT/deep"
for i in $(seq 40); do d="$d/level$i"; done
mkdir -p "$d" && printf 'bottom\n' > "$d/file"
truncate -s 5M "$RT/var/sparse" && printf 'end' >> "$RT/var/sparse"
mkfifo "$RT/var/fifo"
chown -R 1000:1000 "$RT/home/pi"
chown 12345:54321 "$RT/var/empty"

WWW=$W/www
mkdir -p "$WWW"
parts=$(sh "$SRC/tests/e2e/fixtures/make_disk_image.sh" "$BT" "$RT" "$WWW/disk.img" 64 64)
check "the disk image is built" test -s "$WWW/disk.img"
P1=${parts#p1=}; P1=${P1%% *}; P2=${parts##*p2=}
(cd "$WWW" && xz -T2 -k disk.img && zstd -q -k disk.img && gzip -k disk.img && bzip2 -k disk.img &&
	zip -q disk.zip disk.img && xz -T2 -1 -c disk.img > disk-slow.img.xz)
sha() { sha256sum "$1" | cut -c1-64; }
SHA_XZ=$(sha "$WWW/disk.img.xz")
mkdir -p "$W/ref-boot" "$W/ref-root"
mcopy -s -n -i "$WWW/disk.img@@$P1" ::/ "$W/ref-boot/" 2>/dev/null
debugfs -R "rdump / $W/ref-root" "$WWW/disk.img?offset=$P2" 2>/dev/null
check "the reference extractions are there" test -s "$W/ref-boot/start4.elf" -a -s "$W/ref-root/etc/hostname"

# --- servers -----------------------------------------------------------------
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
start_lighttpd() {
	local try
	for try in 1 2 3 4 5; do
		LT_PORT=$(free_port)
		cat > "$W/lighttpd.conf" <<EOF
server.modules = ("mod_accesslog")
server.document-root = "$WWW"
server.bind = "127.0.0.1"
server.port = $LT_PORT
server.errorlog = "$W/lighttpd.err"
accesslog.filename = "$W/access.log"
mimetype.assign = ("" => "application/octet-stream")
EOF
		lighttpd -D -f "$W/lighttpd.conf" >"$W/lighttpd.out" 2>&1 &
		LT_PID=$!
		T_PIDS+=("$LT_PID")
		# Connected, and to this lighttpd: one that lost the port to another
		# test's server has exited by then.
		if wait_for 5 python3 -c "import socket; socket.create_connection(('127.0.0.1', $LT_PORT), 1)" &&
			sleep 0.2 && kill -0 "$LT_PID" 2>/dev/null; then
			return 0
		fi
		stop_pid "$LT_PID"
	done
	return 1
}
check "lighttpd serves on 127.0.0.1" start_lighttpd
LT=http://127.0.0.1:$LT_PORT
echo '{}' > "$W/faults.json"
python3 "$SRC/tests/e2e/fixtures/http_range_server.py" --root "$WWW" --port-file "$W/py.port" \
	--faults "$W/faults.json" --log "$W/py.log" 2>"$W/py.err" &
PY_PID=$!
T_PIDS+=("$PY_PID")
check "http_range_server.py serves on 127.0.0.1" wait_for 10 test -s "$W/py.port"
PY=http://127.0.0.1:$(cat "$W/py.port")

# --- manifests ---------------------------------------------------------------
cp -r "$SRC/manifests/examples" "$W/repo"
mkdir -p "$W/secrets"
(umask 077 && printf 'example-passphrase\n' >"$W/secrets/wifi-passphrase")
sed -i "s|/etc/bramble/secrets/wifi-passphrase|$W/secrets/wifi-passphrase|" "$W/repo/nodes/pi5.yaml"
# set_image URL [SHA256]: the example's demo-os Image becomes a url Image.
set_image() {
	python3 - "$W/repo/images.yaml" "$1" "${2:-}" <<'EOF'
import re, sys
path, url, sha = sys.argv[1:4]
text = open(path).read()
spec = "spec:\n  url: %s\n" % url + ("  sha256: %s\n" % sha if sha else "")
text, n = re.subn(r"(name: demo-os\n)spec:\n(?:  .*\n)+", r"\g<1>" + spec.replace("\\", r"\\"), text, count=1)
assert n == 1
open(path, "w").write(text)
EOF
}
b() { "$BRAMBLE" "$@" --source "$W/repo" --root "$W/out" --set dhcp.testCommand= --set "$SECRETS"; }
S=$W/out/images
count() { find "$1" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
tftp_snapshot() { (cd "$W/out/tftp" && find . -printf '%p %y %i %l\n' | sort); }

# --- plan, then apply over lighttpd (xz) -------------------------------------
set_image "$LT/disk.img.xz" "$SHA_XZ"
expect_rc 2 "plan: a url image not in the store is pending (exit 2)" b plan
contains "$W/last.out" "image \"demo-os\": would download and extract $LT/disk.img.xz" "plan says what it would download"
contains "$W/last.out" "nodes that cannot be planned until then: pi4-a" "plan names the nodes waiting for the image"
check "plan downloads nothing" test ! -e "$S/sha256"
expect_rc 0 "apply downloads and extracts the .img.xz" b apply
cp "$W/last.err" "$W/apply1.err"
contains "$W/apply1.err" "decompressed 132 MiB in" "a log line for the decompression, with size and time"
contains "$W/apply1.err" "extracted boot (" "a log line for the extraction"
E=$S/sha256/$SHA_XZ
check "the store holds sha256/<digest>/boot and root" test -d "$E/boot" -a -d "$E/root"
check "nothing left in staging/" test "$(count "$S/staging")" -eq 0
check "the download is not kept (images.keepDownloads: false)" test "$(count "$S/downloads")" -eq 0
check "boot/ is what mcopy extracts (diff -r)" diff -r "$W/ref-boot" "$E/boot"
check "boot/: long and non-ASCII names" test -f "$E/boot/überlänge-Größe.txt" -a -f "$E/boot/a file name much longer than eight dot three characters.txt"
check "root/ is what debugfs rdump extracts (type, mode, owner, size, content, target)" \
	$COMPARE --fields type,mode,uid,gid,size,digest,target --mode-mask 0777 --allow-padded 60 --skip-special --no-root \
	"$W/ref-root" "$E/root"
check "root/ is the source tree (links, xattrs, modes, owners, targets)" \
	$COMPARE --fields type,mode,uid,gid,size,digest,target,links,xattrs --no-root --ignore lost+found \
	"$RT" "$E/root"
check "security.capability is kept on usr/bin/ping" \
	test "$(getfattr --absolute-names -d -m security.capability -e hex "$E/root/usr/bin/ping" | tail -n +2)" = \
	"$(getfattr --absolute-names -d -m security.capability -e hex "$RT/usr/bin/ping" | tail -n +2)"
check "setuid, setgid and sticky modes" test "$(stat -c %a "$E/root/usr/bin/sudo" "$E/root/usr/bin/wall" "$E/root/tmp" | tr '\n' ' ')" = "4755 2755 1777 "
check "hard links share an inode" test "$(stat -c %i "$E/root/usr/bin/python3")" = "$(stat -c %i "$E/root/usr/bin/python3.11")"
check "numeric owners" test "$(stat -c %u:%g "$E/root/var/empty" "$E/root/home/pi" | tr '\n' ' ')" = "12345:54321 1000:1000 "
check "the FIFO is there" test -p "$E/root/var/fifo"
check "the sparse file keeps its hole" test "$(stat -c %b "$E/root/var/sparse")" -lt 1000
check "node pi4-a's TFTP tree links the image's start4.elf" \
	test "$(stat -c %i "$W/out/tftp/1234abcd/start4.elf")" = "$(stat -c %i "$E/boot/start4.elf")"
check "node pi4-a's TFTP tree links the kernel" \
	test "$(stat -c %i "$W/out/tftp/1234abcd/kernel8.img")" = "$(stat -c %i "$E/boot/kernel8.img")"
check "node pi4-a's config.txt starts with the image's" grep -q '^dtoverlay=vc4-kms-v3d' "$W/out/tftp/1234abcd/config.txt"
expect_rc 0 "a second apply is a no-op" b apply
lacks "$W/last.err" "downloading" "the second apply downloads nothing"
expect_rc 0 "plan after apply: nothing to change" b plan

# --- every other format ------------------------------------------------------
same_as_xz() {
	diff -r "$E/boot" "$S/sha256/$1/boot" >/dev/null &&
		$COMPARE --fields type,mode,uid,gid,size,digest,target,links,xattrs "$E/root" "$S/sha256/$1/root" >/dev/null
}
for f in "$LT/disk.img.zst" "$PY/disk.img.gz" "file://$WWW/disk.zip" "file://$WWW/disk.img"; do
	name=${f##*/}
	s=$(sha "$WWW/$name")
	if [ "$name" = disk.img ]; then set_image "$f"; else set_image "$f" "$s"; fi
	expect_rc 0 "apply brings $name into the store" b apply
	check "$name: the same boot and root as the .img.xz" same_as_xz "$s"
	check "$name: node pi4-a's start4.elf is linked from it" \
		test "$(stat -c %i "$W/out/tftp/1234abcd/start4.elf")" = "$(stat -c %i "$S/sha256/$s/boot/start4.elf")"
done
check "a file:// url without sha256 is hashed once and recorded" test "$(count "$S/urls")" -eq 1
expect_rc 0 "apply again: the recorded digest is used" b apply
contains "$W/last.out" "0 created, 0 updated, 0 deleted" "nothing changes"
contains "$W/last.out" "4 unused images in the store" "apply mentions the unused images"
expect_rc 0 "bramble status" b status
contains "$W/last.out" "4 unused images in the store" "status mentions the unused images"
expect_rc 0 "bramble images lists the store" b images
contains "$W/last.out" "$(sha "$WWW/disk.img")" "the plain image is listed"
contains "$W/last.out" "demo-os (images.yaml:" "with the Image that uses it"
check "four entries are unused" test "$(grep -c ' unused$' "$W/last.out")" -eq 4
expect_rc 0 "bramble images --json" b images --json
check "images --json: schema, each entry with its users" python3 -c "
import json; s=json.load(open('$W/last.out'))
assert s['schema'] == 'bramble/images/v1' and s['usageKnown'] is True, s
e = {i['digest']: i for i in s['images']}
assert len(e) == 5 and sum(1 for i in e.values() if not i['usedBy']) == 4, e
assert e['$(sha "$WWW/disk.img")']['usedBy'] == ['demo-os'] and e['$(sha "$WWW/disk.img")']['bytes'] > 0"
expect_rc 64 "images prune --json is refused" b images prune --json
expect_rc 0 "bramble images prune" b images prune
contains "$W/last.out" "removed 4 unused images" "prune removes the four unused entries"
check "one entry is left" test "$(count "$S/sha256")" -eq 1 -a -d "$S/sha256/$(sha "$WWW/disk.img")"
check "the nodes still boot from it" test -s "$W/out/tftp/1234abcd/start4.elf"

# Back to the .img.xz over lighttpd: the good state the failures must keep.
set_image "$LT/disk.img.xz" "$SHA_XZ"
expect_rc 0 "apply the .img.xz again" b apply
GOOD=$(tftp_snapshot)
entries() { count "$S/sha256"; }
N_GOOD=$(entries)
# fails NAME RC-DESCRIPTION: an apply that must fail and leave the good state
fails() {
	expect_rc 1 "$1: apply fails" b apply
	cp "$W/last.err" "$W/fail.err"
	check "$1: nothing new under sha256/" test "$(entries)" -eq "$N_GOOD"
	check "$1: nothing left in staging/" test "$(count "$S/staging")" -eq 0
	check "$1: the last good state keeps serving" test "$(tftp_snapshot)" = "$GOOD"
}

# --- checksum mismatch -------------------------------------------------------
WRONG=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
set_image "$LT/disk.img.zst" "$WRONG"
fails "checksum mismatch"
contains "$W/fail.err" "$WRONG" "the message has the expected sum"
contains "$W/fail.err" "$(sha "$WWW/disk.img.zst")" "and the actual one"
contains "$W/fail.err" "images.yaml:" "at the Image's position"
check "checksum mismatch: no download is left" test ! -e "$S/downloads/$WRONG" -a ! -e "$S/downloads/$WRONG.part"
b status >"$W/status.out" 2>&1
contains "$W/status.out" "FetchFailed" "status shows the failed pass"

# --- a server that keeps failing: retried, then given up ---------------------
set_image "$PY/disk.img.bz2" "$(sha "$WWW/disk.img.bz2")"
echo '{"/disk.img.bz2": {"fail_first": -1, "status": 503}}' > "$W/faults.json"
: > "$W/py.log"
expect_rc 1 "a failing server: apply fails" b apply --set images.retries=2
# (the server logs a request once its answer is sent: give it a moment)
check "the request was tried 3 times (retries: 2)" \
	wait_for 5 sh -c "test \$(grep -c '\"path\":\"/disk.img.bz2\".*\"status\":503' '$W/py.log') -eq 3"
contains "$W/last.err" "503" "the message says what the server answered"
check "a failing server: the last good state keeps serving" test "$(tftp_snapshot)" = "$GOOD"

# --- a download killed in the middle resumes with a Range request ------------
SLOW_SHA=$(sha "$WWW/disk-slow.img.xz")
set_image "$PY/disk-slow.img.xz" "$SLOW_SHA"
echo '{"/disk-slow.img.xz": {"truncate_after": 300000, "truncate_always": true}}' > "$W/faults.json"
: > "$W/py.log"
"$BRAMBLE" apply --source "$W/repo" --root "$W/out" --set dhcp.testCommand= --set "$SECRETS" \
	--set images.retries=50 >"$W/kill.out" 2>&1 &
BPID=$!
T_PIDS+=("$BPID")
check "the slow download is under way" wait_for 30 sh -c "test \$(grep -c disk-slow '$W/py.log') -ge 2"
{ kill -KILL "$BPID" && wait "$BPID"; } 2>/dev/null
forget_pid "$BPID"
PART=$S/downloads/$SLOW_SHA.part
check "a .part is left by the killed process" test -s "$PART"
HAVE=$(stat -c %s "$PART" 2>/dev/null || echo 0)
echo '{}' > "$W/faults.json"
: > "$W/py.log"
expect_rc 0 "the next apply succeeds" b apply
check "it resumed with Range: bytes=$HAVE-, answered with 206" \
	wait_for 5 grep -q "\"range\":\"bytes=$HAVE-\",\"status\":206" "$W/py.log"
check "the resumed image is in the store" test -d "$S/sha256/$SLOW_SHA/root/etc"

# --- SIGTERM stops the daemon's download at once ----------------------------
# An image the store does not have (other bytes), from a server that sends the
# headers and then nothing for a minute; the daemon must stop within 3 s.
cp "$WWW/disk-slow.img.xz" "$WWW/disk-stop.img.xz" && printf 'x' >>"$WWW/disk-stop.img.xz"
set_image "$PY/disk-stop.img.xz" "$(sha "$WWW/disk-stop.img.xz")"
echo '{"/disk-stop.img.xz": {"stall_s": 60}}' > "$W/faults.json"
: > "$W/py.log"
"$BRAMBLE" run --source "$W/repo" --root "$W/out" --set dhcp.testCommand= --set "$SECRETS" --listen 127.0.0.1:0 \
	--interval 1h --set images.timeout=120s >"$W/stop.log" 2>&1 &
BPID=$!
T_PIDS+=("$BPID")
check "the daemon's download is under way" wait_for 20 grep -q 'downloading' "$W/stop.log"
sleep 0.5
t0=$(date +%s%N)
kill -TERM "$BPID"
for _ in $(seq 60); do kill -0 "$BPID" 2>/dev/null || break; sleep 0.1; done
wait "$BPID" 2>/dev/null
rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
forget_pid "$BPID"
echo "# SIGTERM to exit during a stalled download: $ms ms (exit $rc)"
check "SIGTERM stops the daemon during a download within 3 s ($ms ms)" test "$ms" -lt 3000
check "the daemon exits 0 on SIGTERM" test "$rc" = 0
contains "$W/stop.log" "stopped (bramble is stopping)" "the log says the download was stopped"
contains "$W/stop.log" "pass (start): interrupted (bramble is stopping)" "the pass is logged as interrupted"
lacks "$W/stop.log" "fetch failed" "not as a failed fetch"
echo '{}' > "$W/faults.json"
set_image "$LT/disk.img.xz" "$SHA_XZ"
expect_rc 0 "back to the good image" b apply
GOOD=$(tftp_snapshot)
N_GOOD=$(entries)

# --- hostile images ----------------------------------------------------------
head -c $(($(stat -c %s "$WWW/disk.img") - 20 * 1048576)) "$WWW/disk.img" > "$WWW/short.img"
xz -T2 "$WWW/short.img"
set_image "file://$WWW/short.img.xz"
fails "a partition past the end"
contains "$W/fail.err" "image \"demo-os\": partition 2: extends past the end of the image" "the message names the image and the problem"

# The FAT of the boot partition made to loop: start4.elf's fifth cluster
# points back to its first.
cp "$WWW/disk.img" "$WWW/loop.img"
python3 - "$WWW/loop.img" "$P1" <<'EOF' || not_ok "the FAT-loop image is made (start4.elf has 5 clusters)"
import struct, sys
path, p1 = sys.argv[1], int(sys.argv[2])
with open(path, "r+b") as f:
    f.seek(p1); bs = f.read(512)
    bps, spc, rsvd, nfats = struct.unpack_from("<HBHB", bs, 11)
    fatsz, root_clus = struct.unpack_from("<I", bs, 36)[0], struct.unpack_from("<I", bs, 44)[0]
    fat = p1 + rsvd * bps
    data = fat + nfats * fatsz * bps
    def fat_next(c):
        f.seek(fat + 4 * c)
        return struct.unpack("<I", f.read(4))[0] & 0x0FFFFFFF
    d, c = b"", root_clus
    while 2 <= c < 0x0FFFFFF8:
        f.seek(data + (c - 2) * spc * bps); d += f.read(spc * bps)
        c = fat_next(c)
    for i in range(0, len(d), 32):
        if d[i:i + 11] == b"START4  ELF":
            first = struct.unpack_from("<H", d, i + 20)[0] << 16 | struct.unpack_from("<H", d, i + 26)[0]
            break
    else:
        sys.exit("START4.ELF not in the root directory")
    c, n = first, 0
    while 2 <= c < 0x0FFFFFF8:
        c, n = fat_next(c), n + 1
    if n < 5:
        sys.exit("START4.ELF has %d clusters: too few to make its fifth loop" % n)
    for k in range(nfats):
        f.seek(fat + k * fatsz * bps + 4 * (first + 4)); f.write(struct.pack("<I", first))
EOF
gzip "$WWW/loop.img"
set_image "file://$WWW/loop.img.gz"
fails "a FAT cluster loop"
contains "$W/fail.err" "used twice" "the message says the cluster chain loops"
contains "$W/fail.err" "image \"demo-os\"" "and names the image"
expect_rc 1 "the same broken image again: apply fails at once" b apply
contains "$W/last.err" "found by an earlier pass" "the failure was remembered: it is not decompressed again"

head -c $(($(stat -c %s "$WWW/disk.img.xz") / 2)) "$WWW/disk.img.xz" > "$WWW/trunc.img.xz"
set_image "file://$WWW/trunc.img.xz"
fails "a truncated .xz"
contains "$W/fail.err" "cannot decompress the image" "the message says the stream is broken"

printf 'not a disk image at all\n' > "$WWW/text.img"
set_image "file://$WWW/text.img"
fails "no partition table"
contains "$W/fail.err" "partition table" "the message says there is no partition table"

# An image larger than images.maxSize stops at the limit (it cannot fill the disk).
set_image "file://$WWW/disk.img.bz2"
expect_rc 1 "an image over images.maxSize: apply fails" b apply --set images.maxSize=100M
contains "$W/last.err" "larger than the limit (100 MiB; images.maxSize)" "the message names the limit"
check "over the limit: nothing left in staging/" test "$(count "$S/staging")" -eq 0
expect_rc 0 "the same image within the limit applies" b apply --set images.maxSize=1G
set_image "$LT/disk.img.xz" "$SHA_XZ"
expect_rc 0 "the good image applies again" b apply --set images.maxSize=1G
expect_rc 0 "bramble images prune" b images prune
check "only the image in use is left" test "$(entries)" -eq 1
check "prune forgets the failed images too" test "$(count "$S/failed")" -eq 0

done_testing
