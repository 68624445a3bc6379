#!/bin/sh
# The README's second command: install, build (warnings are errors), and run
# the whole test suite; then the same suite under ASan+UBSan.
# Set BRAMBLE_SKIP_SANITIZE=1 to run only the first build.
# Left out: tests labelled "full" (long forms, run by hand: ctest -L full),
# and in the ASan build the "slow" ones (qemu boots of real nodes: the guest
# runs no bramble code; bramble's part of them runs under ASan in the others).
set -eu
cd "$(dirname "$0")/.."
./scripts/install-deps.sh --test
jobs=$(nproc)
status=0
cmake -S . -B build-test -DBRAMBLE_WERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-test -j"$jobs"
(cd build-test && ctest --output-on-failure -j1 -LE full) || status=1
if [ -z "${BRAMBLE_SKIP_SANITIZE:-}" ]; then
	cmake -S . -B build-asan -DBRAMBLE_WERROR=ON -DBRAMBLE_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
	cmake --build build-asan -j"$jobs"
	(cd build-asan && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j1 -LE 'slow|full') || status=1
fi
exit $status
