#!/bin/bash
# SIGTERM is honoured within a second while a pass copies node roots: the
# copy stops, the daemon exits 0, and the next pass heals what the stopped
# one left (no conflict, the tree of a clean pass).  And SIGTERM while apply
# or run waits for the pass lock.  (A reload command that hangs, and the
# one-second backstop: test_daemon.sh; an image's extraction:
# test_stop_image.sh.)
. "$(dirname "$0")/lib.sh"
setup_example
out=$W/out
now_ms() { echo $(($(date +%s%N) / 1000000)); }
# term_and_time: SIGTERM $PID after a moment, wait for it (the backstop and
# the test's timeout bound the wait); sets RC and STOP_MS.
term_and_time() {
	sleep 0.3
	t0=$(now_ms)
	kill -TERM "$PID"
	wait "$PID"; RC=$?
	forget_pid "$PID"
	STOP_MS=$(($(now_ms) - t0))
}
# An image whose root is 20,000 small files: three private roots to copy.
big=$out/images/big-os
cp -a "$out/images/demo-os" "$big"
python3 "$SRC/tests/e2e/fixtures/many_files.py" "$big/root/usr/share/many"
sed -i 's/^  path: demo-os$/  path: big-os/' "$W/repo/images.yaml"
run_args=(--source "$W/repo" --root "$out" --set dhcp.testCommand= --set "$SECRETS" --set roots.copyMode=copy)

"$BRAMBLE" run "${run_args[@]}" --listen 127.0.0.1:0 --interval 1h >"$W/run.log" 2>&1 &
PID=$!
T_PIDS+=("$PID")
check "the first pass copies the roots" wait_for 30 test -d "$out/nfs/.staging"
term_and_time
check "SIGTERM during the copy: the daemon exits within 1.5 s (${STOP_MS} ms)" test "$STOP_MS" -le 1500
check "exit 0: the copy stopped by itself, not by the backstop (rc $RC)" test "$RC" -eq 0
contains "$W/run.log" "bramble is stopping" "the log says the pass was stopped"
lacks "$W/run.log" "pass (start): applied" "the pass did not complete"
expect_rc 0 "the next pass heals what the stopped one left" \
	"$BRAMBLE" apply "${run_args[@]}"
lacks "$W/last.err" "File exists" "no conflict"
expect_rc 0 "then nothing is left to change" "$BRAMBLE" plan "${run_args[@]}"
check "every root is complete" test "$(find "$out/nfs" -path '*/usr/share/many/*' -type f | wc -l)" -eq 60000
check "no staging left" test -z "$(ls -A "$out/nfs/.staging" 2>/dev/null)"

# --- SIGTERM while waiting for the pass lock another process holds ------------
# The wait polls the stop: apply and run end within a second, not when the
# holder lets go (here: never, within the test), and not by the backstop.
flock "$out/state/lock" sleep 120 &
LOCKER=$!
T_PIDS+=("$LOCKER")
for cmd in apply run; do
	extra=()
	want=1 # apply: interrupted, nothing applied
	[ "$cmd" = apply ] || { extra=(--listen 127.0.0.1:0 --interval 1h); want=0; }
	"$BRAMBLE" "$cmd" "${run_args[@]}" "${extra[@]}" >"$W/lock-$cmd.log" 2>&1 &
	PID=$!
	T_PIDS+=("$PID")
	check "$cmd waits for the lock" wait_for 30 grep -q 'another pass is applying' "$W/lock-$cmd.log"
	term_and_time
	check "$cmd: SIGTERM while waiting for the lock: exit within 1 s (${STOP_MS} ms)" test "$STOP_MS" -le 1000
	check "$cmd: exit $want (rc $RC)" test "$RC" -eq "$want"
	contains "$W/lock-$cmd.log" "interrupted (bramble is stopping) while waiting for the pass lock" \
		"$cmd: says it was interrupted waiting for the lock"
	lacks "$W/lock-$cmd.log" "still busy" "$cmd: not by the backstop"
done
stop_pid "$LOCKER"
expect_rc 0 "with the lock free again, nothing is left to change" "$BRAMBLE" plan "${run_args[@]}"
done_testing
