#!/bin/bash
# SIGTERM while a pass brings a large file:// disk image into the image store
# (a 460 MiB disk whose ext4 root holds a 128 MiB file of random data and
# 20,000 small files):
# `bramble apply` and `bramble run` each stop within a second, say the pass
# was interrupted (not that the fetch failed), leave nothing in the store's
# staging (the half-made entry is moved to the trash, which the next pass
# empties) and publish nothing; the next apply brings the image and the nodes.
. "$(dirname "$0")/lib.sh"
setup_example
# The output tree and the store on tmpfs when there is one: on a disk busy
# with other work, a write can wait in the kernel for the page cache's
# write-back (dirty throttling) longer than the second this test measures.
out=$W/out
if [ -d /dev/shm ] && shm=$(mktemp -d /dev/shm/bramble-stop-image.XXXXXX); then
	trap 't_cleanup; rm -rf "$shm"' EXIT
	mv "$W/out" "$shm/out"
	out=$shm/out
fi
store=$out/state/images
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# The disk: the demo image's boot and root, the root with the big file and
# the small ones (about 170 MiB of data in a 400 MiB ext4 partition).
root=$W/disk-root
cp -a "$out/images/demo-os/root" "$root"
mkdir -p "$root/var/lib/big" && head -c 128M /dev/urandom >"$root/var/lib/big/random.bin"
python3 "$SRC/tests/e2e/fixtures/many_files.py" "$root/usr/share/many"
sh "$SRC/tests/e2e/fixtures/make_disk_image.sh" "$out/images/demo-os/boot" "$root" \
	"$W/disk.img" 33 400 >/dev/null || { echo "cannot make the disk image"; exit 1; }
chmod 644 "$W/disk.img"
rm -rf "$root"
sed -i "s|^  path: demo-os\$|  url: file://$W/disk.img|" "$W/repo/images.yaml"
args=(--source "$W/repo" --root "$out" --set dhcp.testCommand= --set "$SECRETS"
	--set roots.copyMode=copy --set paths.imageStore="$store")
# A slow disk for the store's staging (the fault shim, counting only, sleeps
# 100 us before each mutating call there): on a quiet machine the 20,000
# files are extracted in 0.3 s, before the signal below could land in the
# middle of them; so slowed, the extraction takes seconds wherever it runs.
slow=$FAULTINJECT
asan=$(ldd "$BRAMBLE" 2>/dev/null | awk '/libasan/ {print $3}')
[ -z "$asan" ] || slow="$asan:$FAULTINJECT"
SLOW=(env LD_PRELOAD="$slow" BRAMBLE_FAULT_PATH="$store/staging" BRAMBLE_FAULT_DELAY_US=100
	ASAN_OPTIONS="${ASAN_OPTIONS:-}:verify_asan_link_order=0")

# stop_during WHAT LOG CMD...: start CMD, SIGTERM it once the ext4 root's
# extraction is under way (the staging holds the root's first files), time
# the exit.  Sets RC and STOP_MS.  Within the second, bramble's own clock
# says it (its backstop did not fire: "still busy" is not logged); the wall
# clock here allows half a second more for a machine under load.
stop_during() {
	local what=$1 log=$2 pid n
	shift 2
	"$@" >"$log" 2>&1 &
	pid=$!
	T_PIDS+=("$pid")
	check "$what: the extraction of the root begins" \
		wait_for 120 sh -c "ls -d '$store'/staging/*/root/usr/share/many/d0* >/dev/null 2>&1"
	sleep 0.2
	# wait, not a polling loop: on a loaded machine each of its sleeps costs
	# a fork; the one-second backstop (and the test's timeout) bound the wait
	t0=$(now_ms)
	kill -TERM "$pid"
	wait "$pid"
	RC=$?
	forget_pid "$pid"
	STOP_MS=$(($(now_ms) - t0))
}
# Nothing in staging, nothing published; the stopped extraction is in the
# trash (one rename: removing it takes seconds), which the next pass empties.
store_clean() {
	test -z "$(ls -A "$store/staging" 2>/dev/null)" && test -z "$(ls -A "$store/sha256" 2>/dev/null)" &&
		test "$(ls -A "$store/trash" | wc -l)" -le 1
}

# --- apply ---------------------------------------------------------------------
stop_during "apply" "$W/apply.log" "${SLOW[@]}" "$BRAMBLE" apply "${args[@]}"
check "apply: SIGTERM during the extraction: exit within 1.5 s (${STOP_MS} ms)" test "$STOP_MS" -le 1500
check "apply: exit 1, not killed by the signal or the backstop (rc $RC)" test "$RC" -eq 1
contains "$W/apply.log" "interrupted" "apply: says the pass was interrupted"
lacks "$W/apply.log" "could not be brought" "apply: does not say the fetch failed"
lacks "$W/apply.log" "still busy" "apply: the extraction stopped by itself, within the second"
check "apply: nothing left in the store's staging, nothing published" store_clean
APPLY_TRASH=$(ls -A "$store/trash")
check "apply: its extraction is in the trash" test -n "$APPLY_TRASH"

# --- run -----------------------------------------------------------------------
stop_during "run" "$W/run.log" "${SLOW[@]}" "$BRAMBLE" run "${args[@]}" --listen 127.0.0.1:0 --interval 1h
check "run: SIGTERM during the extraction: exit within 1.5 s (${STOP_MS} ms)" test "$STOP_MS" -le 1500
check "run: exit 0, not by the backstop (rc $RC)" test "$RC" -eq 0
contains "$W/run.log" "interrupted (bramble is stopping)" "run: says the pass was interrupted"
lacks "$W/run.log" "fetch failed" "run: does not say the fetch failed"
lacks "$W/run.log" "could not be brought" "run: does not say the image could not be brought"
lacks "$W/run.log" "still busy" "run: the extraction stopped by itself, within the second"
check "run: nothing left in the store's staging, nothing published" store_clean
check "run: the trash the stopped apply left was emptied" test ! -e "$store/trash/$APPLY_TRASH"

# --- the next apply completes the image and the nodes -----------------------------
expect_rc 0 "the next apply brings the image and the nodes" "$BRAMBLE" apply "${args[@]}"
lacks "$W/last.err" "File exists" "no conflict"
expect_rc 0 "then nothing is left to change" "$BRAMBLE" plan "${args[@]}"
check "every root holds the image's big file" \
	test "$(find "$out/nfs" -path '*/var/lib/big/random.bin' -size 131072k | wc -l)" -eq 3
check "every root holds the small files" \
	test "$(find "$out/nfs" -path '*/usr/share/many/*' -type f | wc -l)" -eq 60000
check "no staging and no trash left in the store" \
	test -z "$(find "$store/staging" "$store/trash" -mindepth 1 2>/dev/null)"
done_testing
