#!/bin/sh
# The README's second command: install, build (warnings are errors), and run
# the whole test suite; then the same suite under ASan+UBSan.
# Set BRAMBLE_SKIP_SANITIZE=1 to run only the first build.
# A skipped test fails the run (CI has root and every package: nothing should
# skip); BRAMBLE_TEST_ALLOW_SKIP="name1 name2" lists the tests allowed to skip.
set -eu
cd "$(dirname "$0")/.."
./scripts/install-deps.sh --test
jobs=$(nproc)
status=0

# run_suite DIR [ENV...]: ctest in DIR; 1 when a test failed or a test skipped
# that BRAMBLE_TEST_ALLOW_SKIP does not name.
run_suite() {
	dir=$1
	shift
	log=$dir/ctest.log
	rc=0
	(cd "$dir" && env "$@" ctest --output-on-failure -j1) >"$log" 2>&1 || rc=1
	cat "$log"
	skipped=$(sed -n 's/^[[:space:]]*[0-9]* - \([^ ]*\) (Skipped)$/\1/p' "$log")
	for t in $skipped; do
		case " ${BRAMBLE_TEST_ALLOW_SKIP:-} " in
		*" $t "*) echo "test.sh: $t skipped (allowed by BRAMBLE_TEST_ALLOW_SKIP)" ;;
		*)
			echo "test.sh: $t was skipped: a test CI is expected to run did not run" >&2
			rc=1
			;;
		esac
	done
	return $rc
}

cmake -S . -B build-test -DBRAMBLE_WERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-test -j"$jobs"
run_suite build-test || status=1
if [ -z "${BRAMBLE_SKIP_SANITIZE:-}" ]; then
	cmake -S . -B build-asan -DBRAMBLE_WERROR=ON -DBRAMBLE_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
	cmake --build build-asan -j"$jobs"
	run_suite build-asan ASAN_OPTIONS=detect_leaks=1 || status=1
fi
exit $status
