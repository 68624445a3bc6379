#!/bin/bash
# all: every figure of issue 15 in one run, as ratios, and one Markdown table
# row for docs/benchmarks.md ("Per commit").  Prints figures, asserts nothing.
#
#   cli      bench_reconcile at BENCH_CLI_NODES (default 10000) on the disk
#            (BENCH_DIR, default /tmp) and on tmpfs (/dev/shm): cold / bare
#            writer without fsync, one-node / no-op (wall, and CPU beside it)
#   webhook  bench_webhook.sh (as it is; BENCH_LATENCY_NODES and BENCH_SIZES =
#            BENCH_CLI_NODES, BENCH_ROUNDS default 15): webhook -> served
#            median, p90, worst; the daemon's no-op pass CPU
#   reimage  bench_reimage.sh: decompression / xz -T0 -dc, the roots of a
#            re-image / cp -a --reflink=auto on XFS and on ext4, and the whole
#            re-image / the same work done with the standard tools
#
# Each part's own output is printed as it runs and kept in the scratch
# directory; the ratios are gathered at the end.  The machine's load average
# is printed at each part's start and end: the wall-clock figures of a shared
# machine should be read beside the CPU ones (and re-measured on a quiet one).
#
# Usage: bash tests/bench/all.sh
# Environment: BENCH_PARTS (default "cli webhook reimage"; "" with BENCH_LOGS=DIR:
# only the summary of the logs a run left there, cli-disk.log, cli-tmpfs.log,
# webhook.log, reimage.log), BENCH_CLI_NODES,
# BENCH_BUILD_DIR (Release build, default <source>/build-bench), BENCH_DIR,
# and each part's own (see the scripts).  Run as root (the re-image part).
set -eu
src=$(cd "$(dirname "$0")/../.." && pwd)
build=${BENCH_BUILD_DIR:-$src/build-bench}
parts=${BENCH_PARTS-cli webhook reimage}
nodes=${BENCH_CLI_NODES:-10000}
logs=${BENCH_LOGS:-$(mktemp -d /tmp/bench_all.XXXXXX)}
load() { cut -d' ' -f1-3 /proc/loadavg; }
has() { case " $parts " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

if [ -n "$parts" ]; then
	cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
	cmake --build "$build" --target bramble bench_reconcile -j "$(nproc)" >/dev/null
fi
bramble=$build/controller/bramble
commit=$(git -C "$src" rev-parse --short HEAD 2>/dev/null || echo '?')
git -C "$src" diff --quiet HEAD 2>/dev/null || commit="$commit+"
echo "bench all: commit $commit, $(date -u '+%Y-%m-%d %H:%M') UTC, $(nproc) CPUs, load $(load)"
load0=$(load)

# part NAME CMD...: run one part, its output to the terminal and to a log.
part() {
	local name=$1
	shift
	echo
	echo "=== $name (load $(load)) ==="
	"$@" 2>&1 | tee "$logs/$name.log" || echo "bench all: $name failed"
	echo "=== $name done (load $(load)) ==="
}
if has cli; then
	part cli-disk env BENCH_DIR="${BENCH_DIR:-/tmp}" \
		"$build/tests/bench/bench_reconcile" --bramble "$bramble" --source-dir "$src" "$nodes"
	part cli-tmpfs env BENCH_DIR=/dev/shm \
		"$build/tests/bench/bench_reconcile" --bramble "$bramble" --source-dir "$src" "$nodes"
fi
has webhook && part webhook env BENCH_LATENCY_NODES="$nodes" BENCH_SIZES="$nodes" \
	BENCH_ROUNDS="${BENCH_ROUNDS:-15}" bash "$src/tests/bench/bench_webhook.sh" --bramble "$bramble"
has reimage && part reimage env BRAMBLE="$bramble" bash "$src/tests/bench/bench_reimage.sh"

# pick LOG PATTERN [FIELD]: a figure from a part's log ("?" if not there).
pick() {
	local v
	v=$(awk -v p="$2" -v f="${3:-0}" 'index($0, p) { n = split(substr($0, index($0, p) + length(p)), a, " ");
		print (f ? a[f] : a[1]); exit }' "$logs/$1.log" 2>/dev/null)
	echo "${v:-?}"
}
# The re-image lines come once per file system, XFS first.
pick_fs() {
	awk -v p="$2" -v k="$3" 'index($0, p) { if (++n == k) { print $NF; exit } }' \
		"$logs/$1.log" 2>/dev/null | grep . || echo '?'
}
cfd=$(pick cli-disk "cold / floor ") cfdc=$(pick cli-disk "cold / floor, CPU ")
cft=$(pick cli-tmpfs "cold / floor ") cftc=$(pick cli-tmpfs "cold / floor, CPU ")
ond=$(pick cli-disk "one node / no-op ") ondc=$(pick cli-disk "one node / no-op, CPU ")
ont=$(pick cli-tmpfs "one node / no-op ") ontc=$(pick cli-tmpfs "one node / no-op, CPU ")
med=$(pick webhook "median ") p90=$(pick webhook "p90 ") worst=$(pick webhook "worst ")
dnoop=$(pick webhook "in the daemon (SIGHUP), nothing to change: ")
dec_t0=$(pick reimage "decompression / xz -dc, / xz -T0 -dc " 3)
rx=$(pick_fs reimage "roots alone / floor, wall" 1) re=$(pick_fs reimage "roots alone / floor, wall" 2)
rxc=$(pick_fs reimage "roots alone / cp one at a time, CPU" 1)
rec=$(pick_fs reimage "roots alone / cp one at a time, CPU" 2)
wx=$(pick_fs reimage "re-image / the same work with the tools, wall" 1)
we=$(pick_fs reimage "re-image / the same work with the tools, wall" 2)

echo
echo "bench all: ratios at $nodes nodes (wall; CPU in brackets), load $load0 -> $(load)"
printf '  %-48s %s\n' "cold / bare writer, disk (target <= 1.3)" "$cfd ($cfdc)" \
	"cold / bare writer, tmpfs (target <= 1.3)" "$cft ($cftc)" \
	"one-node / no-op, disk (target <= 1.3)" "$ond ($ondc)" \
	"one-node / no-op, tmpfs (target <= 1.3)" "$ont ($ontc)" \
	"webhook -> served ms: median, p90, worst" "${med%,} ${p90%,} ${worst%,} (150 200 400)" \
	"daemon no-op pass, CPU ms (target <= 50)" "$dnoop" \
	"decompression / xz -T0 -dc (target <= 1.2)" "$dec_t0" \
	"re-image roots / cp -a, XFS (target <= 1.2)" "$rx ($rxc)" \
	"re-image roots / cp -a, ext4 (target <= 1.2)" "$re ($rec)" \
	"whole re-image / the same with the tools, XFS, ext4" "$wx $we (1.2)"
echo
echo "| commit | date | load | cold/writer disk | cold/writer tmpfs | one/no-op disk | one/no-op tmpfs | webhook ms med/p90/worst | daemon no-op CPU ms | decomp/xz -T0 | roots/cp XFS | roots/cp ext4 | re-image/tools XFS, ext4 |"
echo "|---|---|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|"
echo "| $commit | $(date -u +%Y-%m-%d) | $load0 → $(load) | $cfd ($cfdc) | $cft ($cftc) | $ond ($ondc) | $ont ($ontc) | ${med%,}/${p90%,}/${worst%,} | $dnoop | $dec_t0 | $rx ($rxc) | $re ($rec) | $wx, $we |"
echo "(logs of each part: $logs)"
