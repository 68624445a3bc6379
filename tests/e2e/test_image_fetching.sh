#!/bin/bash
# test_image_fetching: an image being downloaded is "fetching".  A daemon's
# pass fetches its url Image from a loopback HTTP server that stalls before
# the body (http_range_server.py, stall_s); while the download runs,
# /metrics has bramble_images{state="fetching"} 1 (the other states are
# those of the last pass: none has ended yet), and `bramble images` lists the digest as being fetched, in text
# and in --json.  Once the pass is over, the image is present and nothing
# is fetching.
. "$(dirname "$0")/lib.sh"
for t in python3 curl zstd sfdisk; do
	PATH="$PATH:/usr/sbin:/sbin" command -v $t >/dev/null || skip_test "needs $t"
done
cp -r "$SRC/manifests/examples" "$W/repo"
example_secrets "$W/repo"
sh "$SRC/scripts/make-demo-image.sh" "$W/demo" >/dev/null
mkdir -p "$W/www"
sh "$SRC/tests/e2e/fixtures/make_disk_image.sh" "$W/demo/boot" "$W/demo/root" "$W/disk.img" 64 64 >/dev/null
zstd -q "$W/disk.img" -o "$W/www/disk.img.zst"
SHA=$(sha256sum "$W/www/disk.img.zst" | cut -c1-64)
echo '{"/disk.img.zst": {"stall_s": 8}}' >"$W/faults.json"
python3 "$SRC/tests/e2e/fixtures/http_range_server.py" --root "$W/www" --port-file "$W/py.port" \
	--faults "$W/faults.json" --log "$W/py.log" 2>"$W/py.err" &
T_PIDS+=("$!")
check "http_range_server.py serves on 127.0.0.1" wait_for 10 test -s "$W/py.port"
python3 - "$W/repo/images.yaml" "http://127.0.0.1:$(cat "$W/py.port")/disk.img.zst" "$SHA" <<'PY'
import re, sys
path, url, sha = sys.argv[1:4]
text = open(path).read()
text, n = re.subn(r"(name: demo-os\n)spec:\n(?:  .*\n)+",
                  r"\g<1>spec:\n  url: %s\n  sha256: %s\n" % (url, sha), text, count=1)
assert n == 1
open(path, "w").write(text)
PY
b() { "$BRAMBLE" "$@" --source "$W/repo" --root "$W/root" --set dhcp.testCommand= --set "$SECRETS"; }

"$BRAMBLE" run --source "$W/repo" --root "$W/root" --set dhcp.testCommand= --set "$SECRETS" \
	--listen 127.0.0.1:0 --interval 1h >"$W/run.log" 2>&1 &
T_PIDS+=("$!")
check "the daemon listens" wait_for 10 grep -q 'listening on' "$W/run.log"
PORT=$(sed -n 's/.*listening on .* (port \([0-9]*\)).*/\1/p' "$W/run.log" | head -1)
metrics() { curl -sf "http://127.0.0.1:$PORT/metrics" >"$W/metrics.txt"; }
fetching() { metrics && grep -qx 'bramble_images{state="fetching"} 1' "$W/metrics.txt"; }

# While the server stalls: fetching, in /metrics and in `bramble images`.
check "/metrics: the image is fetching while it downloads" wait_for 20 fetching
check "/metrics: before any pass has ended, fetching is the only image state" \
	test "$(grep -c '^bramble_images{' "$W/metrics.txt")" -eq 1
b images >"$W/images.txt" 2>&1
b images --json >"$W/images.json" 2>&1
lacks "$W/run.log" "pass (start): applied" "the download was still running (the listings are of it)"
contains "$W/images.txt" "$SHA" "images: the digest being downloaded is listed"
check "images: it is being fetched, used by demo-os" grep -Eq "^$SHA .* demo-os \(.*\) \(being fetched\)$" "$W/images.txt"
check "images --json: fetching, not extracted, used by demo-os" python3 -c "
import json, sys
d = json.load(open(sys.argv[1]))
e = [e for e in d['images'] if e['digest'] == sys.argv[2]]
assert len(e) == 1, d
e = e[0]
assert e['fetching'] is True and e['extracted'] is False and e['failed'] is False, e
assert e['usedBy'] == ['demo-os'], e
" "$W/images.json" "$SHA"

# After the pass: present, nothing fetching.
check "the pass applies" wait_for 120 grep -q 'pass (start): applied' "$W/run.log"
metrics
contains "$W/metrics.txt" 'bramble_images{state="fetching"} 0' "/metrics: nothing fetching after the pass"
contains "$W/metrics.txt" 'bramble_images{state="present"} 1' "/metrics: the image is present"
contains "$W/metrics.txt" 'bramble_images{state="missing"} 0' "/metrics: none missing"
b images --json >"$W/images2.json" 2>&1
check "images --json: not fetching once extracted" python3 -c "
import json, sys
e = [e for e in json.load(open(sys.argv[1]))['images'] if e['digest'] == sys.argv[2]][0]
assert e['fetching'] is False and e['extracted'] is True, e
" "$W/images2.json" "$SHA"
done_testing
