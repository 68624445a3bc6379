#!/bin/sh
# A long fuzzing run, target after target, with the figures docs/fuzzing.md
# keeps: one line per target (time, executions, exec/s, coverage at the start
# and the end, crashes, leaks and timeouts, peak RSS, load at the start and
# the end).  Each target's corpus lives in $WORK/corpus-<target>, kept from
# one run to the next, so that a run continues the one before it; the seeds
# committed in tests/fuzz/ (and made by image_seeds.sh and ext4_seeds.sh) are
# read beside it.  Whatever libFuzzer finds is left in $WORK/artifacts-<target>.
#
# Usage: tests/fuzz/campaign.sh [TARGET...]     (default: every target)
#   BUILD=build-fuzz   the build of -DBRAMBLE_FUZZ=ON -DCMAKE_C_COMPILER=clang
#   WORK=/var/tmp/bramble-fuzz
#   RUNS=10000000      stop a target after this many executions ...
#   TIME=3600          ... or after this many seconds
#   NICE=19
#   ASAN_OPTIONS=quarantine_size_mb=16   (ASan's default is 256: see below)
# Exit status: 1 if any target crashed, leaked or timed out.
# Kill a campaign to stop it, never SIGSTOP it: libFuzzer's -timeout counts
# wall time, and the unit running while stopped is reported as a timeout.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
build=${BUILD:-$top/build-fuzz}
work=${WORK:-/var/tmp/bramble-fuzz}
runs=${RUNS:-10000000}
time=${TIME:-3600}
nice=${NICE:-19}
# A smaller quarantine than ASan's 256 MB: freed memory is reused sooner, so
# fewer fresh pages are faulted in, which on this paravirtualised guest costs
# a TLB flush on every CPU.  fuzz_nodes and fuzz_ext4 run 1.6 times as fast
# (20,000 executions: 16 s -> 10 s, 36 s -> 23 s); 16 MB still holds the frees
# of many executions, so a use after free within one is still caught.
export ASAN_OPTIONS=${ASAN_OPTIONS:-quarantine_size_mb=16}
targets=${*:-config manifests webhook state seal status nodes bootlog image ext4}
mkdir -p "$work"

# seeds TARGET: the read-only seed directories of a target
seeds() {
	case $1 in
	manifests) echo "$here/corpus $top/manifests/examples $top/tests/bad $top/tests/golden/cases" ;;
	image)
		[ -d "$work/seeds-image" ] || sh "$here/image_seeds.sh" "$work/seeds-image" >/dev/null
		echo "$here/corpus_image $work/seeds-image" ;;
	ext4)
		[ -d "$work/seeds-ext4" ] || sh "$here/ext4_seeds.sh" "$work/seeds-ext4" >/dev/null
		echo "$here/corpus_ext4 $work/seeds-ext4" ;;
	*) echo "$here/corpus_$1" ;;
	esac
}

failed=0
printf '| target | time | executions | exec/s | coverage (edges; at start) | crashes | leaks, timeouts | peak RSS | load |\n'
printf '|---|---:|---:|---:|---:|---:|---:|---:|---|\n'
for t in $targets; do
	bin=$build/tests/fuzz_$t
	[ -x "$bin" ] || { echo "campaign: no $bin (build with -DBRAMBLE_FUZZ=ON)" >&2; exit 2; }
	maxlen=65536
	[ "$t" = image ] && maxlen=131072
	corpus=$work/corpus-$t
	art=$work/artifacts-$t
	log=$work/log-$t
	mkdir -p "$corpus" "$art"
	load0=$(cut -d' ' -f1 /proc/loadavg)
	stamp=$work/started-$t
	: >"$stamp"
	start=$(date +%s)
	# shellcheck disable=SC2046 # the seed directories are words
	nice -n "$nice" "$bin" -runs="$runs" -max_total_time="$time" -max_len="$maxlen" \
		-rss_limit_mb=1024 -timeout=20 -print_final_stats=1 \
		-artifact_prefix="$art/" "$corpus" $(seeds "$t") >"$log" 2>&1 || true
	end=$(date +%s)
	load1=$(cut -d' ' -f1 /proc/loadavg)
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
	rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -n 1)
	cov0=$(sed -n 's/.*INITED cov: \([0-9]*\).*/\1/p' "$log" | head -n 1)
	cov1=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' "$log" | tail -n 1)
	# Only this run's findings: the directory keeps those of earlier runs.
	crashes=$(find "$art" -name 'crash-*' -newer "$stamp" | wc -l)
	leaks=$(find "$art" -name 'leak-*' -newer "$stamp" | wc -l)
	timeouts=$(find "$art" \( -name 'timeout-*' -o -name 'oom-*' \) -newer "$stamp" | wc -l)
	[ -n "$execs" ] || { echo "campaign: fuzz_$t ended without its figures; see $log" >&2; failed=1; }
	[ "$crashes$leaks$timeouts" = 000 ] || failed=1
	printf '| `fuzz_%s` | %s s | %s | %s | %s (%s) | %s | %s, %s | %s MB | %s → %s |\n' \
		"$t" "$((end - start))" "${execs:-?}" "${rate:-?}" "${cov1:-?}" "${cov0:-?}" \
		"$crashes" "$leaks" "$timeouts" "${rss:-?}" "$load0" "$load1"
done
exit "$failed"
