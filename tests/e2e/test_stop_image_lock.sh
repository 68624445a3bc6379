#!/bin/bash
# SIGTERM while a pass waits for an image's lock (images/locks/<digest>) that
# another process holds, as while another bramble brings the image into the
# store: `bramble apply` and `bramble run` each stop within a second (the
# wait polls the stop flag: not the one-second backstop, not when the holder
# lets go), say the pass was interrupted, and leave the store without the
# image; with the lock free, the next apply brings it.
. "$(dirname "$0")/lib.sh"
setup_example
out=$W/out
store=$out/state/images
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# A small disk image of the demo OS, given by file:// url: its digest is the
# file's sha256, which names its lock.
sh "$SRC/tests/e2e/fixtures/make_disk_image.sh" "$out/images/demo-os/boot" \
	"$out/images/demo-os/root" "$W/disk.img" 33 64 >/dev/null ||
	{ echo "cannot make the disk image"; exit 1; }
sed -i "s|^  path: demo-os\$|  url: file://$W/disk.img|" "$W/repo/images.yaml"
digest=$(sha256sum "$W/disk.img" | cut -c1-64)
args=(--source "$W/repo" --root "$out" --set dhcp.testCommand= --set "$SECRETS"
	--set roots.copyMode=copy --set paths.imageStore="$store")

mkdir -p "$store/locks"
flock "$store/locks/$digest" sleep 120 &
LOCKER=$!
T_PIDS+=("$LOCKER")
check "the test holds the image's lock" wait_for 10 sh -c "! flock -n '$store/locks/$digest' true"
for cmd in apply run; do
	extra=()
	want=1 # apply: interrupted, nothing applied
	[ "$cmd" = apply ] || { extra=(--listen 127.0.0.1:0 --interval 1h); want=0; }
	"$BRAMBLE" "$cmd" "${args[@]}" "${extra[@]}" >"$W/lock-$cmd.log" 2>&1 &
	PID=$!
	T_PIDS+=("$PID")
	check "$cmd waits for the image's lock" \
		wait_for 60 grep -q 'another bramble process is bringing it into the store' "$W/lock-$cmd.log"
	sleep 0.3
	t0=$(now_ms)
	kill -TERM "$PID"
	wait "$PID"
	RC=$?
	forget_pid "$PID"
	STOP_MS=$(($(now_ms) - t0))
	check "$cmd: SIGTERM while waiting for the image's lock: exit within 1 s (${STOP_MS} ms)" \
		test "$STOP_MS" -le 1000
	check "$cmd: exit $want (rc $RC)" test "$RC" -eq "$want"
	contains "$W/lock-$cmd.log" "the wait for the image store's lock stopped (bramble is stopping)" \
		"$cmd: says the wait for the lock was interrupted"
	lacks "$W/lock-$cmd.log" "still busy" "$cmd: not by the backstop"
	lacks "$W/lock-$cmd.log" "nothing was added to the image store" "$cmd: not as a failed image"
	check "$cmd: the image is not in the store" test ! -e "$store/sha256/$digest"
done
stop_pid "$LOCKER"
expect_rc 0 "with the lock free, the next apply brings the image and the nodes" \
	"$BRAMBLE" apply "${args[@]}"
check "the image is in the store" test -d "$store/sha256/$digest"
expect_rc 0 "then nothing is left to change" "$BRAMBLE" plan "${args[@]}"
done_testing
