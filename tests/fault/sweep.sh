#!/bin/bash
# The crash and fault sweep (issue 11): for each scenario, run one
# `bramble apply` with a fault at the N-th mutating file-system call under
# the output tree (tests/fault/faultinject.c), for every N in turn until a
# pass completes without reaching N; after each, a clean re-apply; then
# check the tree against a clean pass's, byte for byte, and the leftovers.
#
#   BRAMBLE=build/controller/bramble FAULTINJECT=build/tests/libfaultinject.so \
#     bash tests/fault/sweep.sh [SCENARIO...]
#
# Scenarios: cold change remove shared grow reimage extract (default: all).
# MODES="kill fail:EIO fail:ENOSPC fail:EROFS" (default), STRIDE=k tries every
# k-th N only, START=n starts at the n-th, KEEP_WORK=1 keeps the work directory,
# VERBOSE=1 (or 2) prints each failed point (and its output), POINTS_LOG=FILE
# appends one line per point ("SCENARIO MODE N ok" or its kinds), so that a
# sweep stopped before its end still tells what it ran.  MODES=random:
# RANDOM_KILLS (30) passes SIGKILLed at a random time instead (STRIDE=1);
# with DAEMON=1, the daemon (`bramble run`) is killed during its first pass;
# with DAEMON=loop, the daemon runs 2 to 4 passes (its source switched
# between the scenario's two repositories, SIGHUP for each) and is killed at
# a random time within them (the attic, whose history differs then, is not
# compared).
# Each point is classified (a point may have several):
#   conflict  the re-apply refused a path ("conflict", "File exists")
#   reapply   the re-apply failed for another reason
#   diff      the tree after the re-apply differs from a clean pass's
#   temp      a temp, staging or half-written state file is left
#   orphan    a tftp generation directory no symlink points to is left
#   reload    the NFS server or dnsmasq did not see the final files
#   exit0     the faulted pass exited 0 although the fault was hit (mode fail)
# Prints one line per scenario and mode, then the totals; exits 1 when any
# point failed.
set -u
: "${BRAMBLE_SOURCE_DIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${BRAMBLE:=$BRAMBLE_SOURCE_DIR/build/controller/bramble}"
: "${FAULTINJECT:=$BRAMBLE_SOURCE_DIR/build/tests/libfaultinject.so}"
: "${MODES:=kill fail:EIO fail:ENOSPC fail:EROFS}"
: "${STRIDE:=1}"
: "${START:=1}"
SRC=$BRAMBLE_SOURCE_DIR
W=$(mktemp -d "${SWEEP_TMP:-/dev/shm}/bramble-sweep.XXXXXX" 2>/dev/null || mktemp -d /tmp/bramble-sweep.XXXXXX)
trap '[ -n "${KEEP_WORK:-}" ] || rm -rf "$W"' EXIT
RUN=$W/run
OUT=$RUN/out
LOG=$RUN/reload.log
RELOAD="sh $SRC/tests/fault/reload.sh"

# A program built with ASan needs its runtime first in the preload list.
PRELOAD=$FAULTINJECT
asan=$(ldd "$BRAMBLE" 2>/dev/null | awk '/libasan/ {print $3}')
[ -z "$asan" ] || PRELOAD="$asan:$FAULTINJECT"

FAULTENV=()
CMD=(apply)
b() {
	${EXEC:-} "${FAULTENV[@]}" "$BRAMBLE" "${CMD[@]}" --config "$W/bramble.yaml" --source "$1" --root "$OUT" \
		--set dhcp.testCommand= --set paths.secretsDir="$W/secrets" \
		--set roots.copyMode=copy \
		--set dhcp.reloadCommand="$RELOAD dhcp-reload $OUT $LOG" \
		--set dhcp.restartCommand="$RELOAD dhcp-restart $OUT $LOG" \
		--set nfs.reloadCommand="$RELOAD nfs $OUT $LOG"
}

# Every path of the tree with type, mode, size, link and content; the attic's
# time stamps and the generation directories' digests (which name the image
# files' inodes) made alike; bramble's state directory left out (its inventory
# holds inode numbers).
snap() {
	(cd "$1" && find . -path ./state -prune -o -printf '%p %y %m %s %l\n' | sort &&
		find . -path ./state -prune -o -type f -print0 | sort -z | xargs -0 -r sha256sum) |
		sed -E -e 's/[0-9]{8}T[0-9]{6}Z(\.[0-9]+)?/STAMP/g' -e 's/(\.[0-9a-f]{8})\.[0-9a-f]{16}/\1.GEN/g'
}

# --- Scenarios ---------------------------------------------------------------
mkrepo() { # mkrepo DIR: the example cluster, with its secrets in $W/secrets
	rm -rf "$1"
	cp -r "$SRC/manifests/examples" "$1"
	sed -i "s|/etc/bramble/secrets/wifi-passphrase|$W/secrets/wifi|" "$1/nodes/pi5.yaml"
	sed -i 's/mode: proxy/mode: full/' "$1/cluster.yaml"
}
fresh_out() {
	rm -rf "$RUN"
	mkdir -p "$OUT/images"
	cp -a "$W/image" "$OUT/images/demo-os"
	: >"$LOG"
}
# A scenario is a base tree (the state before the pass, made afresh for each
# point: node roots are known by their inode, which a copy would change) and
# the repository the pass applies.
base() { # base SCENARIO: make the tree before the pass at $OUT
	fresh_out
	case $1 in
	cold | shared | extract) ;;
	*) b "$W/repoA-$1" >/dev/null 2>&1 || return 1 ;;
	esac
	[ "$1" != reimage ] || echo "the node's own data" >"$OUT/nfs/1234abcd/root/data"
}
make_disk() { # $W/disk.img: the demo image as a Pi OS-like disk (MBR, FAT32 boot, ext4 root)
	[ -s "$W/disk.img" ] && return 0
	sh "$SRC/tests/e2e/fixtures/make_disk_image.sh" "$W/image/boot" "$W/image/root" \
		"$W/disk.img" 33 8 >/dev/null 2>"$W/disk.err" || { cat "$W/disk.err" >&2; return 1; }
	chmod 644 "$W/disk.img"
}
setup() { # setup SCENARIO: $W/repoA-S (the base), $W/repo-S (the pass), the clean tree
	local s=$1 r=$W/repo-$1
	mkrepo "$W/repoA-$s"
	mkrepo "$r"
	case $s in
	cold) ;;
	shared) sed -i 's/mode: private/mode: shared/' "$r/cluster.yaml" ;;
	change)
		sed -i 's/gpu_mem: 16/gpu_mem: 32/' "$r/nodes/pi4.yaml"
		sed -i 's/^  name: pi4-a$/  name: pi4-x/' "$r/nodes/pi4.yaml"
		sed -i 's/enable_uart: 1/enable_uart: 0/' "$r/profiles.yaml" ;;
	remove)
		rm "$r/nodes/pi5.yaml"
		sed -i '/^---$/,$d' "$r/nodes/pi4.yaml" ;;
	reimage) sed -i '0,/generation: 0/s//generation: 1/' "$r/nodes/pi4.yaml" ;;
	grow) # shared roots, and a new node: its directory in the shared root is new
		sed -i 's/mode: private/mode: shared/' "$W/repoA-$s/cluster.yaml" "$r/cluster.yaml"
		printf '%s\n' --- 'apiVersion: bramble/v1alpha1' 'kind: Node' 'metadata:' \
			'  name: pi4-c' 'spec:' '  serial: 5678ef01' '  mac: dc:a6:32:00:00:09' \
			'  ip: 10.99.0.49' >>"$r/nodes/pi4.yaml" ;;
	extract) # the nodes' image is a disk image file: brought into the store by the pass
		make_disk || return 1
		sed -i "s|^  path: demo-os\$|  url: file://$W/disk.img|" "$r/images.yaml" ;;
	*) echo "unknown scenario $s" >&2; return 1 ;;
	esac
	base "$s" || return 1
	# The clean pass: what every interrupted one must end up as.
	local t0=$(date +%s%N)
	b "$r" >"$W/clean-$s.out" 2>&1 || { cat "$W/clean-$s.out" >&2; return 1; }
	CLEAN_MS[$s]=$((($(date +%s%N) - t0) / 1000000))
	[ "${CLEAN_MS[$s]}" -lt 1000 ] || CLEAN_MS[$s]=999
	snap "$OUT" >"$W/expect-$s"
}

# --- The checks after a faulted pass and a clean re-apply -------------------
leftovers() { # temps, staging, half-written state
	find "$OUT" -path "$OUT/images" -prune -o \( -name '*.bramble-tmp' -o -name '*.tmp' \
		-o -name '.staging' -o -name '*.tmp.*' \) -print | grep -q .
}
orphans() { # a generation directory that no symlink points to
	local d base
	for d in "$OUT"/tftp/.*.*; do
		[ -d "$d" ] || continue
		base=${d##*/}
		base=${base#.}
		base=${base%.*}
		[ "$(readlink "$OUT/tftp/$base" 2>/dev/null)" = "${d##*/}" ] || return 0
	done
	return 1
}
reload_lost() { # the last reload of each kind did not see the final files
	local last cur hosts h
	cur=$(cat "$OUT"/exports/* 2>/dev/null | sha256sum | cut -c1-16)
	last=$(grep '^nfs ' "$LOG" | tail -1 | cut -d' ' -f2)
	[ "$last" = "$cur" ] || { echo nfs; return 0; }
	cur=$(sha256sum <"$OUT/dnsmasq/bramble.conf" | cut -c1-16)
	last=$(grep '^dhcp-restart ' "$LOG" | tail -1 | cut -d' ' -f2)
	[ "$last" = "$cur" ] || { echo dhcp-restart; return 0; }
	hosts=$(grep '^dhcp-re' "$LOG" | tail -1 | cut -d' ' -f3)
	for h in ${hosts//,/ }; do
		[ "$h" = - ] || [ -e "$OUT/dnsmasq/hosts.d/$h" ] || { echo dhcp-reload; return 0; }
	done
	return 1
}

declare -A TOTAL
KINDS="conflict reapply diff temp orphan reload exit0"
for k in $KINDS; do TOTAL[$k]=0; done
TOTAL_POINTS=0

# point SCENARIO MODE N: one faulted pass and its checks; returns 2 when the
# pass completed without reaching N (the sweep of this mode is over).
point() {
	local s=$1 mode=$2 n=$3 rc err=EIO fails="" k
	base "$s" || { echo "$s: base failed"; return 2; }
	[ "$mode" = kill ] || err=${mode#fail:}
	rm -f "$W/fi.log"
	if [ "$mode" = random ]; then
		random_kill "$s" "$n" || return 2
		grep -q '^hit ' "$W/fi.log" 2>/dev/null || return 3 # done before the kill
	else
		FAULTENV=(env LD_PRELOAD="$PRELOAD" BRAMBLE_FAULT_PATH="$OUT" BRAMBLE_FAULT_N="$n"
			BRAMBLE_FAULT_MODE="${mode%%:*}" BRAMBLE_FAULT_ERRNO="$err"
			BRAMBLE_FAULT_LOG="$W/fi.log"
			ASAN_OPTIONS="${ASAN_OPTIONS:-}:verify_asan_link_order=0")
		b "$W/repo-$s" >"$W/faulted.out" 2>&1
		rc=$?
		FAULTENV=()
	fi
	grep -q '^hit ' "$W/fi.log" 2>/dev/null || return 2
	[ "$mode" = kill ] || [ "$rc" -ne 0 ] || fails+=" exit0"
	b "$W/repo-$s" >"$W/reapply.out" 2>&1 ||
		if grep -qiE 'conflict|File exists' "$W/reapply.out"; then fails+=" conflict"; else fails+=" reapply"; fi
	snap "$OUT" >"$W/got"
	if [ "${DAEMON:-}" = loop ]; then
		# passes back and forth leave more history in the attic than one pass: not compared
		# (nor the size of nfs/ itself, which holds the attic or not)
		grep -v -e '^\./nfs/\.attic' -e ' \./nfs/\.attic' "$W/expect-$s" |
			sed -E 's|^(\./nfs d [0-7]+) [0-9]+ |\1 SIZE |' >"$W/expect-cmp"
		grep -v -e '^\./nfs/\.attic' -e ' \./nfs/\.attic' "$W/got" |
			sed -E 's|^(\./nfs d [0-7]+) [0-9]+ |\1 SIZE |' >"$W/got-cmp"
		cmp -s "$W/got-cmp" "$W/expect-cmp" || fails+=" diff"
	else
		cmp -s "$W/got" "$W/expect-$s" || fails+=" diff"
	fi
	leftovers && fails+=" temp"
	orphans && fails+=" orphan"
	reload_lost >/dev/null && fails+=" reload"
	for k in $fails; do
		POINT_FAIL[$k]=$((POINT_FAIL[$k] + 1))
	done
	[ -z "${POINTS_LOG:-}" ] || echo "$s $mode $n${fails:- ok}" >>"$POINTS_LOG"
	if [ -n "$fails" ] && [ -n "${VERBOSE:-}" ]; then
		echo "  $s $mode N=$n:$fails ($(sed -n 's/^hit [0-9]* //p' "$W/fi.log"); exit $rc)"
		[ "${VERBOSE:-}" != 2 ] || sed 's/^/    | /' "$W/faulted.out" "$W/reapply.out" | head -30
		[ "${VERBOSE:-}" != 2 ] || diff "$W/expect-$s" "$W/got" | head -10
	fi
	return 0
}
# random_kill SCENARIO N: the N-th of RANDOM_KILLS passes, SIGKILLed after a
# random time within the clean pass's duration (no shim: any instruction);
# "hit" when it was still running (a pass done before is not a point).
# Fails after RANDOM_KILLS passes.
# With DAEMON set, `bramble run` (its first pass) is killed instead, within
# the clean pass's duration and the daemon's start.
random_kill() {
	local pid ms=${CLEAN_MS[$1]}
	[ "$2" -le "${RANDOM_KILLS:-30}" ] || return 1
	[ "${DAEMON:-}" != loop ] || { daemon_loop_kill "$1"; return 0; }
	[ -z "${DAEMON:-}" ] || ms=$((ms + 300))
	ms=$((RANDOM % (ms + 1)))
	[ -z "${DAEMON:-}" ] || CMD=(run --listen 127.0.0.1:0 --interval 1h)
	# exec: $! is bramble itself, not a subshell around it.
	EXEC=exec b "$W/repo-$1" >"$W/faulted.out" 2>&1 &
	pid=$!
	CMD=(apply)
	sleep "$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))"
	kill -KILL "$pid" 2>/dev/null && echo "hit $2 SIGKILL after $ms ms" >"$W/fi.log"
	wait "$pid"
	rc=$?
	return 0
}
# daemon_loop_kill SCENARIO: `bramble run` on $W/live, a symlink switched
# between the scenario's repository and its base's (a SIGHUP after each
# switch), through 2 to 4 passes; SIGKILLed at a random time within them.
# The source ends at either; the re-apply then brings the scenario's tree.
daemon_loop_kill() {
	local pid step=$((CLEAN_MS[$1] + 200)) passes=$((2 + RANDOM % 3)) at t=0 i=0 repo
	at=$((RANDOM % (passes * step + 1)))
	ln -sfn "$W/repo-$1" "$W/live"
	CMD=(run --listen 127.0.0.1:0 --interval 1h)
	EXEC=exec b "$W/live" >"$W/faulted.out" 2>&1 &
	pid=$!
	CMD=(apply)
	# SIGHUP only once the daemon handles it (before, it would end it)
	while ! grep -q 'listening on' "$W/faulted.out" 2>/dev/null && [ $i -lt 100 ]; do
		sleep 0.05
		i=$((i + 1))
	done
	i=1
	while [ $((t + step)) -lt "$at" ]; do
		sleep "$(printf '%d.%03d' $((step / 1000)) $((step % 1000)))"
		t=$((t + step))
		i=$((i + 1))
		repo=$W/repo-$1
		[ $((i % 2)) -eq 1 ] || repo=$W/repoA-$1
		ln -sfn "$repo" "$W/live"
		kill -HUP "$pid" 2>/dev/null
	done
	sleep "$(printf '%d.%03d' $(((at - t) / 1000)) $(((at - t) % 1000)))"
	kill -KILL "$pid" 2>/dev/null && echo "hit SIGKILL after $at ms, pass $i of $passes" >"$W/fi.log"
	wait "$pid"
	rc=$?
}
declare -A CLEAN_MS
# A configuration of its own: not /etc/bramble/bramble.yaml, if there is one.
printf '# the fault sweep: every setting is a flag\n' >"$W/bramble.yaml"
mkdir -p "$W/secrets" && (umask 077 && printf 'example-passphrase\n' >"$W/secrets/wifi")
sh "$SRC/scripts/make-demo-image.sh" "$W/image" >/dev/null
failed=0
scenarios=${*:-cold change remove shared grow reimage extract}
for s in $scenarios; do
	setup "$s" || { echo "$s: setup failed"; failed=1; continue; }
	for mode in $MODES; do
		declare -A POINT_FAIL=()
		for k in $KINDS; do POINT_FAIL[$k]=0; done
		n=$START points=0
		while :; do
			point "$s" "$mode" "$n"
			case $? in
			2) break ;;
			3) ;; # a random kill that came after the pass: not a point
			*) points=$((points + 1)) ;;
			esac
			n=$((n + STRIDE))
		done
		line="$s $mode: $points points (last N $((n - STRIDE)))"
		for k in $KINDS; do
			line+=", ${POINT_FAIL[$k]} $k"
			TOTAL[$k]=$((TOTAL[$k] + POINT_FAIL[$k]))
			[ "${POINT_FAIL[$k]}" -eq 0 ] || failed=1
		done
		TOTAL_POINTS=$((TOTAL_POINTS + points))
		echo "$line"
	done
done
line="total: $TOTAL_POINTS points"
for k in $KINDS; do line+=", ${TOTAL[$k]} $k"; done
echo "$line"
exit $failed
