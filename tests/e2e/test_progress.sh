#!/bin/bash
# Progress on long work: a file:// image big enough to take a moment (a real
# disk image: MBR, FAT boot, ext4 root holding 160 MiB of random bytes,
# zstd-compressed) brought into the store by `bramble apply` under a
# pseudo-terminal (script -qfc) draws a bar with the Image's name, the
# percent and an ETA; piped, it logs periodic lines instead; the three
# private node roots copied from it show "copy roots" lines with roots done
# of three and bytes of the sum; and a daemon's pass shows the current step
# through /status while it runs, and the image by state in /metrics
# (bramble_images) after it.  The decompression's total is the size the
# image file states (exact: xz in one block and in several, gzip, zstd, a
# plain disk), else the partition table's estimate ("~": zstd from a pipe).
. "$(dirname "$0")/lib.sh"
command -v script >/dev/null || skip_test "needs script (util-linux)"
for t in zstd xz gzip; do command -v $t >/dev/null || skip_test "needs $t"; done
cp -r "$SRC/manifests/examples" "$W/repo"
example_secrets "$W/repo"
sh "$SRC/scripts/make-demo-image.sh" "$W/demo" >/dev/null
# A small disk (the demo's files) in every format, for the totals.
sh "$SRC/tests/e2e/fixtures/make_disk_image.sh" "$W/demo/boot" "$W/demo/root" "$W/small.img" 64 192 >/dev/null
check "the small disk is 260 MiB" test "$(stat -c %s "$W/small.img")" -eq $((260 << 20))
xz -T1 -0 -c "$W/small.img" >"$W/small-one.img.xz"
xz -T2 -0 --block-size=16MiB -c "$W/small.img" >"$W/small-blocks.img.xz"
check "xz: one block, and several" test "$(xz -lv "$W/small-one.img.xz" | sed -n 's/^ *Blocks: *//p')" = 1 -a \
	"$(xz -lv "$W/small-blocks.img.xz" | sed -n 's/^ *Blocks: *//p')" -gt 1
gzip -1 -c "$W/small.img" >"$W/small.img.gz"
zstd -q -1 "$W/small.img" -o "$W/small.img.zst"
zstd -q -1 -c <"$W/small.img" >"$W/small-pipe.img.zst" # no content size in its frame
head -c $((160 << 20)) /dev/urandom >"$W/demo/root/big"
parts=$(sh "$SRC/tests/e2e/fixtures/make_disk_image.sh" "$W/demo/boot" "$W/demo/root" "$W/disk.img" 64 192)
check "the disk image is built ($parts)" test -s "$W/disk.img"
zstd -q -1 -T2 "$W/disk.img" -o "$W/disk.img.zst" && rm -f "$W/disk.img"
python3 - "$W/repo/images.yaml" "file://$W/disk.img.zst" <<'EOF'
import re, sys
path, url = sys.argv[1:3]
text = open(path).read()
text, n = re.subn(r"(name: demo-os\n)spec:\n(?:  .*\n)+", r"\g<1>spec:\n  url: %s\n" % url, text, count=1)
assert n == 1
open(path, "w").write(text)
EOF
run_apply() { # run_apply ROOT: apply into ROOT
	"$BRAMBLE" apply --source "$W/repo" --root "$1" --set dhcp.testCommand= --set "$SECRETS"
}

# On a terminal: a bar redrawn in place, named by the Image, with %, a total and an ETA.
export -f run_apply
export BRAMBLE SECRETS W
# BRAMBLE_PROGRESS_INTERVAL_MS=1: a line (and a bar) as often as the meter is
# told, so that a fast machine (this disk decompresses in 0.1 s) still shows them.
# script runs the command with $SHELL (/bin/sh when unset, as under CI), and
# dash drops the exported function: name bash.
BRAMBLE_PROGRESS_INTERVAL_MS=1 SHELL=/bin/bash script -qfc "bash -c 'run_apply $W/tty'" /dev/null >"$W/tty.out" 2>&1
check "apply under a terminal succeeds" test -d "$W/tty/images/sha256"
tr '\r' '\n' <"$W/tty.out" >"$W/tty.lines"
check "the bar names the Image and the step" grep -q '^decompress demo-os  \[' "$W/tty.lines"
check "the bar has a percent, the total and the rate" \
	grep -Eq '^decompress demo-os  \[[# ]{20}\] +[0-9]+%  [0-9.]+ [KMG]iB / 2[0-9.]+ MiB  [0-9.]+ [KMG]?i?B/s' "$W/tty.lines"
check "the bar has an ETA" grep -Eq '^decompress demo-os .* ETA [0-9]+:[0-9]{2}$' "$W/tty.lines"
check "the bar is redrawn in place (carriage returns)" grep -q $'\r' "$W/tty.out"
check "the total is the disk's size as the zstd frame states it (exact: no ~)" \
	grep -q '/ 260.0 MiB' "$W/tty.lines"
check "no estimated total for the decompression when the file states the size" \
	sh -c "! grep -q '^decompress.*/ ~' '$W/tty.lines'"
check "the root's extraction has its bar, its total estimated from the used blocks" \
	grep -Eq '^extract demo-os  \[[# ]{20}\] +[0-9]+%  [0-9.]+ [KMG]iB / ~[0-9.]+ MiB' "$W/tty.lines"

# Piped: no bar; a log line per interval (BRAMBLE_PROGRESS_INTERVAL_MS, 10 s by default).
BRAMBLE_PROGRESS_INTERVAL_MS=1 run_apply "$W/pipe" >"$W/pipe.out" 2>"$W/pipe.err"
check "apply piped succeeds" test -d "$W/pipe/images/sha256"
lacks "$W/pipe.err" $'\r' "piped: no carriage return (no bar)"
check "piped: periodic lines with the Image's name and a percent" \
	grep -Eq 'bramble: info: decompress demo-os +[0-9]+%  [0-9.]+ [KMG]iB / 260.0 MiB .* ETA ' "$W/pipe.err"
check "piped: more than one line" test "$(grep -c 'bramble: info: decompress demo-os' "$W/pipe.err")" -ge 2
lacks "$W/pipe.err" "decompressing: " "piped: the old line without a total is gone"
check "piped: extract lines with the Image's name, a percent and the estimated total" \
	grep -Eq 'bramble: info: extract demo-os +[0-9]+%  [0-9.]+ [KMG]iB / ~[0-9.]+ MiB .* ETA ' "$W/pipe.err"
# The three private roots: roots done of three, bytes of three image roots (160 MiB and more each).
check "piped: copy roots lines with roots done of three" \
	grep -Eq 'bramble: info: copy roots [0-3]/3 +[0-9]+%  [0-9.]+ [KMG]?i?B / 4[89][0-9.]* MiB .* ETA ' "$W/pipe.err"
check "piped: several copy roots lines" test "$(grep -c 'bramble: info: copy roots' "$W/pipe.err")" -ge 3
check "the three private roots were copied" test -s "$W/pipe/nfs/1234abcd/big" -a -s "$W/pipe/nfs/2345bcde/big" \
	-a -s "$W/pipe/nfs/3456cdef/big"
check "the status has no step left after the pass" python3 -c "
import json, sys; assert 'progress' not in json.load(open(sys.argv[1]))" "$W/pipe/state/status.json"

# The total of each format: exact where the file states it, the estimate (~) where not.
total_of() { # total_of FILE NAME EXPECTED_TOTAL: apply FILE into a root of its own
	sed -i "s|^  url: .*|  url: file://$1|" "$W/repo/images.yaml"
	BRAMBLE_PROGRESS_INTERVAL_MS=1 run_apply "$W/fmt-$2" >"$W/fmt-$2.out" 2>"$W/fmt-$2.err"
	check "$2: applied" test -d "$W/fmt-$2/images/sha256"
	check "$2: the decompression's total is $3" \
		grep -Eq "bramble: info: decompress demo-os +[0-9]+%  [0-9.]+ [KMG]?i?B / $3 " "$W/fmt-$2.err"
}
total_of "$W/small-one.img.xz" xz-one-block "260.0 MiB"
total_of "$W/small-blocks.img.xz" xz-blocks "260.0 MiB"
total_of "$W/small.img.gz" gzip "260.0 MiB"
total_of "$W/small.img.zst" zstd "260.0 MiB"
total_of "$W/small.img" plain "260.0 MiB"
total_of "$W/small-pipe.img.zst" zstd-no-size "~260.0 MiB"
for f in xz-one-block xz-blocks gzip zstd plain; do
	check "$f: no estimate for the decompression" sh -c "! grep -q 'decompress.*/ ~' '$W/fmt-$f.err'"
done
sed -i "s|^  url: .*|  url: file://$W/disk.img.zst|" "$W/repo/images.yaml"

# The daemon: /status shows the step while it runs, /metrics the image by state after it.
BRAMBLE_PROGRESS_INTERVAL_MS=1 "$BRAMBLE" run --source "$W/repo" --root "$W/daemon" --set dhcp.testCommand= \
	--set "$SECRETS" --listen 127.0.0.1:0 --interval 1h >"$W/run.log" 2>&1 &
T_PIDS+=("$!")
wait_for 10 grep -q 'listening on' "$W/run.log"
PORT=$(sed -n 's/.*listening on .* (port \([0-9]*\)).*/\1/p' "$W/run.log" | head -1)
# step_seen STEP OUT: /status shows STEP (saved in OUT) before the pass ends (60 s at most).
step_seen() {
	local i
	for i in $(seq 1200); do
		curl -sf "http://127.0.0.1:$PORT/status" >"$2" 2>/dev/null &&
			grep -q "\"step\": \"$1\"" "$2" && return 0
		grep -q 'pass (start): ' "$W/run.log" && return 1
		sleep 0.05
	done
	return 1
}
check "/status shows the step while the pass runs" step_seen decompress "$W/status.json"
check "/status: step, object, done of total, since, and the Reconciling message" python3 -c "
import json, sys
d = json.load(open(sys.argv[1]))
p = d['progress']
assert p['step'] == 'decompress' and p['object'] == 'demo-os' and p['unit'] == 'bytes', p
assert 0 < p['done'] and p['total'] == 260 << 20 and p['estimate'] is False and p['since'].endswith('Z'), p
c = [c for c in d['conditions'] if c['type'] == 'Reconciling'][0]
assert c['status'] == 'True' and c['message'].startswith('pass running: decompress demo-os'), c
" "$W/status.json"
check "/status shows the root copies while the pass runs" step_seen "copy roots" "$W/status-roots.json"
check "/status: copy roots, roots done of three, bytes of the three image roots" python3 -c "
import json, sys
d = json.load(open(sys.argv[1]))
p = d['progress']
assert p['step'] == 'copy roots' and p['itemsTotal'] == 3 and 0 <= p['itemsDone'] <= 3, p
assert p['unit'] == 'bytes' and p['estimate'] is False and p['total'] > 3 * (160 << 20), p
c = [c for c in d['conditions'] if c['type'] == 'Reconciling'][0]
assert c['message'].startswith('pass running: copy roots %d/3' % p['itemsDone']), c
" "$W/status-roots.json"
check "the pass applies" wait_for 120 grep -q 'pass (start): applied' "$W/run.log"
curl -sf "http://127.0.0.1:$PORT/status" >"$W/status2.json"
check "/status: no step once the pass is over" python3 -c "
import json, sys; assert 'progress' not in json.load(open(sys.argv[1]))" "$W/status2.json"
curl -sf "http://127.0.0.1:$PORT/metrics" >"$W/metrics.txt"
contains "$W/metrics.txt" 'bramble_images{state="present"} 1' "/metrics: the image is present"
contains "$W/metrics.txt" 'bramble_images{state="missing"} 0' "/metrics: none missing"
contains "$W/metrics.txt" 'bramble_images{state="failed"} 0' "/metrics: none failed"
done_testing
