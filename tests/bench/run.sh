#!/bin/sh
# Build bramble and bench_reconcile in Release and run the benchmark.
# Usage: sh tests/bench/run.sh [sizes...]      (default: 100 1000 10000)
# Environment: BENCH_BUILD_DIR (default <source>/build-bench), BENCH_DIR
# (scratch parent, default /tmp), BENCH_KEEP=1 (keep the scratch directory).
set -eu
src=$(cd "$(dirname "$0")/../.." && pwd)
build=${BENCH_BUILD_DIR:-$src/build-bench}
cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" --target bramble bench_reconcile -j "$(nproc)" >/dev/null
[ $# -gt 0 ] || set -- 100 1000 10000
exec "$build/tests/bench/bench_reconcile" --bramble "$build/controller/bramble" \
	--source-dir "$src" "$@"
