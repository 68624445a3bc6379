#!/bin/bash
# Boot-storm benchmark (not in CI): N simulated Pis power on at once against
# the real dnsmasq running bramble's configuration, for N = 1, 100, 250 (or
# the sizes given; at most 253, the Pis' addresses are in 10.99.0.0/24), and
# prints per size: Pis booted, time to the last boot and its ratio to a
# single Pi, TFTP retransmits, stray packets (from orphan transfers), files
# that failed, boots retried, and the CPU time of dnsmasq and of the clients.
#   bash tests/bench/bench_storm.sh [--baseline] [--timings ARGS] [SIZES...]
#   --baseline: also run each size with the tftp-max line removed (dnsmasq's
#               default of 50 transfers: what bramble rendered before)
#   --timings "ARGS": extra pistorm options, e.g. "--file-timeout 10"
# Build first (cmake --build build); run as root.  Figures: docs/storm.md.
# Timings on a shared 2-core machine are noisy: compare counts, and each size
# with the single Pi of the same run.
. "$(dirname "$0")/../e2e/lib.sh"
. "$SRC/tests/tools/storm.sh"
BASELINE=
TIMINGS=
SIZES=()
while [ $# -gt 0 ]; do
	case $1 in
	--baseline) BASELINE=1 ;;
	--timings) TIMINGS=$2; shift ;;
	*) SIZES+=("$1") ;;
	esac
	shift
done
[ ${#SIZES[@]} -gt 0 ] || SIZES=(1 100 250)
max=0
for n in "${SIZES[@]}"; do
	[ "$n" -ge 1 ] && [ "$n" -le 253 ] || { echo "bench_storm: sizes are 1..253"; exit 64; }
	[ "$n" -le $max ] || max=$n
done
if ! why=$(storm_can_run); then echo "bench_storm: cannot run: $why"; exit 1; fi
chmod 755 "$W"
storm_net "$max" || { echo "bench_storm: network set-up failed"; exit 1; }
mkdir -p "$STORM_OUT/images"
storm_image "$STORM_OUT/images/storm-os" || exit 1

# cpu_of PID: user+system seconds of a running process
cpu_of() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$1/stat"; }

# one SIZE LABEL [CONF]: boot SIZE Pis against dnsmasq with CONF; one table row
one() {
	local n=$1 label=$2 conf=${3:-} out=$W/run.$1.$2 cpu tdns ratio last
	storm_dns_start "$conf" || { echo "bench_storm: dnsmasq did not start"; return 1; }
	storm_pis "$n" "$W/pis.$n"
	TIMEFORMAT=%U+%S
	# shellcheck disable=SC2086
	cpu=$({ time storm_boot "$W/pis.$n" "$out" -q --deadline 200 $TIMINGS; } 2>&1)
	tdns=$(cpu_of "$STORM_DNS_PID")
	storm_dns_stop
	last=$(storm_field "$out" last_boot)
	[ "$n" -eq 1 ] && [ "$label" = bramble ] && SINGLE=$last
	ratio=$(awk -v a="$last" -v b="${SINGLE:-0}" 'BEGIN { if (b > 0) printf "%.1f", a / b; else print "-" }')
	printf '%-8s %5s %7s/%-4s %9ss %7s %11s %6s %11s %12s %11ss %11ss\n' "$label" "$n" \
		"$(storm_field "$out" booted)" "$n" "$last" "$ratio" "$(storm_field "$out" retransmits)" \
		"$(storm_field "$out" stray)" "$(storm_field "$out" file_errors)" \
		"$(storm_field "$out" boot_retries)" "$tdns" "$(awk -F+ '{ printf "%.2f", $1 + $2 }' <<<"$cpu")"
	grep -v '^pistorm:' "$out" | head -3 | sed 's/^/    | /'
}

echo "# bench_storm: $(date -u +%FT%TZ), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), dnsmasq $(dnsmasq --version | sed -n '1s/.*version \([^ ]*\).*/\1/p')"
echo "# pistorm timings: retransmit 1 s, 30 s a file, 3 boots, blksize 1468 ${TIMINGS:+(+ $TIMINGS)}"
printf '%-8s %5s %12s %10s %7s %11s %6s %11s %12s %12s %12s\n' config pis booted last_boot ratio \
	retransmits stray file_errors boot_retries dnsmasq_cpu clients_cpu
for n in "${SIZES[@]}"; do
	storm_repo "$n"
	storm_apply || { echo "bench_storm: apply failed"; exit 1; }
	one "$n" bramble
	if [ -n "$BASELINE" ]; then
		grep -v '^tftp-max=' "$STORM_OUT/dnsmasq/bramble.conf" >"$W/baseline.conf"
		one "$n" baseline "$W/baseline.conf"
	fi
done
