#!/bin/bash
# The quick form of the crash and fault sweep (tests/fault/sweep.sh): apply
# passes killed, or failed with EIO, ENOSPC or EROFS, at a sample of their
# mutating file-system calls, each followed by a clean re-apply that must
# give exactly a clean pass's tree, leave no temp, staging or orphan
# generation, and have told the NFS server and dnsmasq of the final files;
# and a faulted pass must never exit 0.  The full sweep (every N, every
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
done_testing
