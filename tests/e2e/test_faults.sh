#!/bin/bash
# The quick form of the crash and fault sweep (tests/fault/sweep.sh): apply
# passes killed, or failed with EIO, ENOSPC or EROFS, at a sample of their
# mutating file-system calls, each followed by a clean re-apply that must
# give exactly a clean pass's tree, leave no temp, staging or orphan
# generation, and have told the NFS server and dnsmasq of the final files;
# and a faulted pass must never exit 0; an image extraction faulted, and a
# daemon killed within several passes, likewise.  The full sweep (every N, every
# scenario and errno) and its figures: docs/faults.md.
. "$(dirname "$0")/lib.sh"
: "${FAULTINJECT:=${BRAMBLE_BINARY_DIR:-$SRC/build}/tests/libfaultinject.so}"
if [ ! -e "$FAULTINJECT" ]; then
	echo "$T_NAME: skipped (no fault-injection shim at $FAULTINJECT)"
	exit 77
fi
export BRAMBLE FAULTINJECT BRAMBLE_SOURCE_DIR
sweep() { # sweep DESCRIPTION VAR=VALUE... -- SCENARIO...
	local d=$1 out=$W/sweep.$RANDOM
	shift
	env "$@" bash "$SRC/tests/fault/sweep.sh" "${SCENARIOS[@]}" >"$out" 2>&1
	local rc=$?
	sed 's/^/    /' "$out"
	if [ "$rc" -eq 0 ] && grep -q '^total: [1-9]' "$out"; then ok "$d"; else not_ok "$d"; fi
}
# One mode per scenario, a prime stride, so that each run lands on other
# kinds of call; about 30 points in all.
SCENARIOS=(cold)
sweep "a cold pass with private roots, killed at every 61st call" MODES=kill STRIDE=61 START=5
SCENARIOS=(remove)
sweep "nodes removed, EIO at every 19th call" MODES=fail:EIO STRIDE=19 START=3
SCENARIOS=(reimage)
sweep "a re-image, killed at every 29th call" MODES=kill STRIDE=29 START=7
SCENARIOS=(shared)
sweep "shared roots, ENOSPC at every 41st call" MODES=fail:ENOSPC STRIDE=41 START=11
SCENARIOS=(change)
sweep "a change, EROFS at every 31st call" MODES=fail:EROFS STRIDE=31 START=2
SCENARIOS=(grow)
sweep "a new node's directory in a shared root, killed at every 23rd call" MODES=kill STRIDE=23 START=4
# (N=181: the close of the raw disk, whose EIO once let the pass exit 0)
SCENARIOS=(extract)
sweep "an image extraction, EIO at every 347th call" MODES=fail:EIO STRIDE=347 START=181
SCENARIOS=(remove)
sweep "the daemon killed at a random time within 2 to 4 passes" MODES=random DAEMON=loop RANDOM_KILLS=1

# --- Reload intents, directly ------------------------------------------------
setup_example
printf '# test_faults\n' >"$W/bramble.yaml"
rl() { # rl ARGS...: bramble with reload commands that log to $W/reloads
	${EXEC:-} "$BRAMBLE" "$@" --config "$W/bramble.yaml" --root "$W/out" --set dhcp.testCommand= --set "$SECRETS" \
		--set nfs.reloadCommand="echo nfs >>$W/reloads" \
		--set dhcp.restartCommand="echo dhcp-restart >>$W/reloads" \
		--set dhcp.reloadCommand="echo dhcp-reload >>$W/reloads"
}
expect_rc 0 "a cold apply" rl apply --source "$W/repo"
contains "$W/reloads" nfs "it reloads the exports"
# A conflict alone: the pass fails, but the reload of what it applied runs.
rm "$W/out/tftp/2345bcde" && echo foreign >"$W/out/tftp/2345bcde"
sed -i 's/ip: 10.99.0.43/ip: 10.99.0.53/' "$W/repo/nodes/pi4.yaml"
: >"$W/reloads"
expect_rc 1 "a pass with a conflict fails" rl apply --source "$W/repo"
contains "$W/reloads" nfs "and still reloads the exports it changed"
rm "$W/out/tftp/2345bcde"
# A failure names the operation and the path.
rm "$W/out/exports/bramble.exports" && mkdir "$W/out/exports/bramble.exports"
echo hand-made >"$W/out/exports/bramble.exports/x"
sed -i 's/ip: 10.99.0.53/ip: 10.99.0.63/' "$W/repo/nodes/pi4.yaml"
expect_rc 1 "a pass that cannot write the exports fails" rl apply --source "$W/repo"
contains "$W/last.err" "cannot rename the temp into place $W/out/exports/bramble.exports" \
	"the failure names the operation and the path"
rm -rf "$W/out/exports/bramble.exports"
# The intent of a pass killed before its reloads: the daemon runs it at start,
# before (and whether or not) it can read the source.
printf '4\n' >"$W/out/state/pending-actions"
: >"$W/reloads"
# exec: $! is the daemon itself, which stop_pid stops (not a subshell around it).
EXEC=exec rl run --source "$W/nowhere" --listen 127.0.0.1:0 --interval 1h >"$W/d.log" 2>&1 &
dpid=$!
T_PIDS+=("$dpid")
check "the daemon runs a reload a killed pass left, at start" wait_for 20 grep -q nfs "$W/reloads"
stop_pid "$dpid"
check "and records it done" test ! -e "$W/out/state/pending-actions"
# The close() of state/lock after those reloads fails (EIO: the shim, on the
# lock file only, at its second call: open, then close): an error, named.
printf '4\n' >"$W/out/state/pending-actions"
: >"$W/reloads"
preload=$FAULTINJECT
asan=$(ldd "$BRAMBLE" 2>/dev/null | awk '/libasan/ {print $3}')
[ -z "$asan" ] || preload="$asan:$FAULTINJECT"
EXEC="exec env LD_PRELOAD=$preload BRAMBLE_FAULT_PATH=$W/out/state/lock BRAMBLE_FAULT_N=2 \
BRAMBLE_FAULT_MODE=fail BRAMBLE_FAULT_ERRNO=EIO BRAMBLE_FAULT_LOG=$W/fault.log" \
	rl run --source "$W/nowhere" --listen 127.0.0.1:0 --interval 1h >"$W/d2.log" 2>&1 &
dpid=$!
T_PIDS+=("$dpid")
check "the daemon runs the reload left again" wait_for 20 grep -q nfs "$W/reloads"
check "the lock's close failed (the shim's log)" wait_for 20 grep -q "^hit 2 close $W/out/state/lock" "$W/fault.log"
check "the close error of the pass lock is named" \
	wait_for 20 grep -q "cannot close the pass lock $W/out/state/lock" "$W/d2.log"
stop_pid "$dpid"
lacks "$W/d2.log" "failed again" "and no reload is said to have failed (they all ran)"
# A reload that fails again at start: said so, and it stays recorded.
printf '4\n' >"$W/out/state/pending-actions"
"$BRAMBLE" run --source "$W/nowhere" --listen 127.0.0.1:0 --interval 1h --config "$W/bramble.yaml" \
	--root "$W/out" --set dhcp.testCommand= --set "$SECRETS" --set nfs.reloadCommand="exit 3" \
	>"$W/d3.log" 2>&1 &
dpid=$!
T_PIDS+=("$dpid")
check "a reload left that fails again at start is said to" \
	wait_for 20 grep -q "a reload left by an earlier pass failed again" "$W/d3.log"
stop_pid "$dpid"
contains "$W/d3.log" "reload NFS exports: command exited with status 3" "the command is named"
check "and it stays recorded" grep -qx 4 "$W/out/state/pending-actions"
done_testing
