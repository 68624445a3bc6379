# Shared helpers for the end-to-end tests (sourced by tests/e2e/test_*.sh).
# Each test runs with $BRAMBLE (the binary) and $BRAMBLE_SOURCE_DIR set by
# CTest; run by hand: BRAMBLE=build/controller/bramble bash tests/e2e/test_x.sh
set -u
: "${BRAMBLE_SOURCE_DIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${BRAMBLE:=$BRAMBLE_SOURCE_DIR/build/controller/bramble}"
SRC=$BRAMBLE_SOURCE_DIR
T_PASS=0
T_FAIL=0
T_NAME=$(basename "$0" .sh)
W=$(mktemp -d "/tmp/bramble-$T_NAME.XXXXXX")
T_PIDS=()
T_NETNS=()

t_cleanup() {
	local pid ns
	for pid in "${T_PIDS[@]:-}"; do
		[ -n "$pid" ] || continue
		kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	done
	for ns in "${T_NETNS[@]:-}"; do
		[ -n "$ns" ] && ip netns del "$ns" 2>/dev/null
	done
	[ -n "${KEEP_WORK:-}" ] || rm -rf "$W"
}
trap t_cleanup EXIT

ok() { T_PASS=$((T_PASS + 1)); echo "ok - $*"; }
not_ok() { T_FAIL=$((T_FAIL + 1)); echo "not ok - $*"; }
# check DESCRIPTION COMMAND...: passes when the command succeeds
check() { local d=$1; shift; if "$@"; then ok "$d"; else not_ok "$d"; fi; }
# expect_rc RC DESCRIPTION COMMAND...: passes when the command exits with RC
expect_rc() {
	local want=$1 d=$2 rc; shift 2
	"$@" >"$W/last.out" 2>"$W/last.err"; rc=$?
	if [ "$rc" -eq "$want" ]; then ok "$d"; else
		not_ok "$d (exit $rc, expected $want)"; sed 's/^/    | /' "$W/last.out" "$W/last.err" | head -40
	fi
}
# contains FILE STRING DESCRIPTION
contains() { if grep -qF -- "$2" "$1"; then ok "$3"; else not_ok "$3 (no \"$2\" in $1)"; sed 's/^/    | /' "$1" | head -20; fi; }
lacks() { if grep -qF -- "$2" "$1"; then not_ok "$3 (\"$2\" in $1)"; else ok "$3"; fi; }
done_testing() {
	echo "$T_NAME: $T_PASS passed, $T_FAIL failed"
	[ "$T_FAIL" -eq 0 ]
}
# A copy of the example manifests and a demo image, in $W/repo and $W/out.
setup_example() {
	mkdir -p "$W/out/images"
	cp -r "$SRC/manifests/examples" "$W/repo"
	sh "$SRC/scripts/make-demo-image.sh" "$W/out/images/demo-os" >/dev/null
}
b() { "$BRAMBLE" "$@" --source "$W/repo" --root "$W/out" --set dhcp.testCommand=; }
# Snapshot of a tree: every path with type, mode, size and content digest.
snapshot() {
	(cd "$1" && find . -printf '%p %y %m %s %l\n' | sort &&
		find . -type f -print0 | sort -z | xargs -0 -r sha256sum)
}
need_root() { [ "$(id -u)" -eq 0 ] || { echo "$T_NAME: skipped (needs root)"; echo "0 passed, 0 failed"; exit 0; }; }
