#!/bin/bash
# bramble run learns about outside edits of the output trees from inotify
# (controller/watch.h): a hand edit of a served config.txt is repaired within
# seconds, with no timer pass (interval 1h), and the log says why; a sealed
# pass with the watch armed stats no path; an edit the watch misses (events
# dropped by the test-only key watch.testDropEvents) is repaired by the slow
# full check (watch.fullCheck, short here); with watch.maxWatches: 0 every
# pass checks each path.  A webhook's pass after a change is a delta pass
# (the daemon seals what a full pass wrote).  Loopback only; each daemon is
# stopped by its PID.
. "$(dirname "$0")/lib.sh"
setup_example
out=$W/out
printf 'watch-secret\n' >"$W/secret"
chmod 600 "$W/secret"
cfg=$out/tftp/1234abcd/config.txt

# start LOG ARGS...: the daemon (interval 1h: no timer pass in this test); sets PID, PORT.
start() {
	local log=$1; shift
	"$BRAMBLE" run --source "$W/repo" --root "$out" --set dhcp.testCommand= --set "$SECRETS" \
		--listen 127.0.0.1:0 --interval 1h -v "$@" >"$log" 2>&1 &
	PID=$!
	T_PIDS+=("$PID")
	wait_for 10 grep -q 'listening on' "$log" || return 1
	PORT=$(sed -n 's/.*listening on .* (port \([0-9]*\)).*/\1/p' "$log" | head -1)
	wait_for 30 grep -q 'pass (start)' "$log"
}
count() { grep -c -- "$2" "$1"; }
count_is() { [ "$(count "$1" "$2")" -ge "$3" ]; }
armed() { grep -q 'sealed by inotify' "$1"; }

# 1. An outside edit, seen by inotify.
check "daemon starts" start "$W/d1.log"
# The start pass wrote everything: it seals what it wrote (seal_writes), and
# the watch is armed for that seal after the pass.
check "the start pass sealed what it wrote" wait_for 10 test -s "$out/state/seal"
kill -HUP "$PID"
check "a SIGHUP pass" wait_for 20 count_is "$W/d1.log" 'pass (SIGHUP)' 1
contains "$W/d1.log" "sealed by inotify" "the SIGHUP pass trusted the watch: no stat of each path"
grep -q 'arm_64bit=1' "$cfg" || not_ok "the example's config.txt has arm_64bit=1"
sed -i 's/arm_64bit=1/arm_64bit=0/' "$cfg"
check "the hand edit is repaired without a timer pass" wait_for 10 grep -q 'arm_64bit=1' "$cfg"
check "by a pass inotify started" wait_for 10 grep -q 'pass (inotify): applied' "$W/d1.log"
contains "$W/d1.log" "an outside change (inotify: $out/tftp/.1234abcd." "the log says what inotify saw"
contains "$W/d1.log" "1 drift repaired" "the pass repaired one drift"
lacks "$W/d1.log" "pass (timer)" "no timer pass ran"
# The pass's own writes are no news: no second pass follows.
sleep 1
check "one inotify pass for one edit" test "$(count "$W/d1.log" 'pass (inotify)')" = 1
# Something in a watched directory that is not a sealed path starts nothing.
touch "$out/dnsmasq/unrelated.txt"
sleep 1
check "an unrelated file in a watched directory starts no pass" test "$(count "$W/d1.log" 'pass (inotify)')" = 1
# A commit through the webhook: a delta pass (the seal was written by the passes before).
sed -i 's/gpu_mem: 16/gpu_mem: 32/; s/gpu_mem: 64/gpu_mem: 32/' "$W/repo/nodes/pi4.yaml"
kill -HUP "$PID"
check "the change applies" wait_for 20 count_is "$W/d1.log" 'pass (SIGHUP)' 2
contains "$W/d1.log" "delta pass:" "a change after a sealed pass is a delta pass"
# The seal that pass wrote is kept parsed, and the watch re-armed from the one
# before: only the paths whose record changed are checked, not every one.
check "the re-arm after the delta pass" wait_for 10 grep -q 'armed the new seal:' "$W/d1.log"
line=$(grep 'armed the new seal:' "$W/d1.log" | tail -1)
checked=$(printf '%s\n' "$line" | sed -n 's/.*: \([0-9]*\) of \([0-9]*\) paths checked.*/\1/p')
total=$(printf '%s\n' "$line" | sed -n 's/.*: \([0-9]*\) of \([0-9]*\) paths checked.*/\2/p')
check "it checked fewer paths than the seal holds ($checked of $total)" \
	test -n "$checked" -a "${checked:-0}" -gt 0 -a "${checked:-0}" -lt "${total:-0}"
# An outside edit after that incremental re-arm is still seen by inotify.
sed -i 's/arm_64bit=1/arm_64bit=0/' "$cfg"
check "an edit after the delta pass is repaired" wait_for 10 grep -q 'arm_64bit=1' "$cfg"
check "by a second inotify pass" wait_for 10 count_is "$W/d1.log" 'pass (inotify): applied' 2
# A seal another process wrote (bramble apply by hand writes a new file and
# renames it over the old one): the daemon does not use the one it kept, reads
# the file again and checks every path once.  The repair pass may not have
# sealed (a path changed during it): the one after it, 1.5 s later, does.
check "a seal after the repair" wait_for 15 test -s "$out/state/seal"
sleep 2
check "still there (no pass since)" test -s "$out/state/seal"
cp "$out/state/seal" "$out/state/seal.new"
mv "$out/state/seal.new" "$out/state/seal"
lines=$(wc -l <"$W/d1.log")
n=$(count "$W/d1.log" 'pass (SIGHUP)')
kill -HUP "$PID"
check "the SIGHUP pass after it" wait_for 20 count_is "$W/d1.log" 'pass (SIGHUP)' $((n + 1))
tail -n +$((lines + 1)) "$W/d1.log" >"$W/d1.after"
contains "$W/d1.after" "checking every sealed path: a new seal" "the seal written by another is read and checked, not trusted"
contains "$W/d1.after" "sealed pass:" "and found to hold: no full pass"
lacks "$W/d1.after" "sealed by inotify" "the watch armed for the kept seal vouches nothing for it"
stop_pid "$PID"

# 2. An edit inotify missed: the slow full check repairs it.
sleep 1.1 # every path a second old: the start pass seals what it finds
check "daemon starts (events dropped, full check every 3s)" start "$W/d2.log" --set watch.fullCheck=3s \
	--set watch.testDropEvents=true
contains "$W/d2.log" "watch.testDropEvents is set" "the log says events are dropped"
check "its first pass" wait_for 30 grep -q 'pass (start)' "$W/d2.log"
sleep 1.2
sed -i 's/arm_64bit=1/arm_64bit=0/' "$cfg"
sleep 0.5
check "inotify did not see it (dropped)" test "$(count "$W/d2.log" 'pass (inotify)')" = 0
check "the full check repairs it" wait_for 15 grep -q 'arm_64bit=1' "$cfg"
check "by a full-check pass" wait_for 10 grep -q 'pass (full check): applied' "$W/d2.log"
contains "$W/d2.log" "checking every sealed path: the periodic full check (watch.fullCheck)" "the log says why"
contains "$W/d2.log" "1 drift repaired" "the full check's pass repaired the drift"
stop_pid "$PID"

# 3. Many passes of each kind in one daemon (in the ASan build, its leak check
# at exit): outside edits, SIGHUPs, changes; then SIGTERM, exit 0, no leak.
check "daemon starts (leak loop)" start "$W/d4.log"
check "a seal is armed (a pass follows one that left none)" wait_for 20 test -s "$out/state/seal"
sleep 0.5
n=0
for i in $(seq 1 10); do
	sed -i 's/arm_64bit=1/arm_64bit=0/' "$cfg"
	# inotify repairs it when a seal is armed; a SIGHUP pass does otherwise (a
	# pass that could not seal leaves the watch unarmed until one seals).
	wait_for 3 grep -q 'arm_64bit=1' "$cfg" || { n=$((n + 1)); kill -HUP "$PID"; }
	wait_for 20 grep -q 'arm_64bit=1' "$cfg" || break
	sed -i "s/gpu_mem: [0-9]*/gpu_mem: $((32 + i))/" "$W/repo/nodes/pi4.yaml"
	n=$((n + 1))
	kill -HUP "$PID"
	wait_for 20 count_is "$W/d4.log" 'pass (SIGHUP)' "$n" || break
done
check "every edit repaired" grep -q 'arm_64bit=1' "$cfg"
check "ten changes applied by SIGHUP passes" count_is "$W/d4.log" 'pass (SIGHUP): applied' 10
check "inotify passes among them" count_is "$W/d4.log" 'pass (inotify): applied' 2
kill -TERM "$PID"
wait "$PID"
check "exit 0 after SIGTERM (no leak found by an ASan build)" test $? = 0
forget_pid "$PID"
lacks "$W/d4.log" "LeakSanitizer" "no leak reported"

# 4. watch.maxWatches: 0 turns inotify off: every pass checks each path.
check "daemon starts without inotify" start "$W/d3.log" --set watch.maxWatches=0
kill -HUP "$PID"
check "a SIGHUP pass" wait_for 20 count_is "$W/d3.log" 'pass (SIGHUP)' 1
lacks "$W/d3.log" "sealed by inotify" "no pass trusts a watch that is off"
stop_pid "$PID"

done_testing
