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
# example_secrets DIR: the examples keep pi5-a's Wi-Fi passphrase in a file on
# the controller host (/etc/bramble/secrets/...): make it in $W/secrets and
# point the copy of the examples in DIR at it.  Secret files must be in the
# secrets directory: run bramble with --set "$SECRETS" (b does).
SECRETS="paths.secretsDir=$W/secrets"
example_secrets() {
	mkdir -p "$W/secrets"
	(umask 077 && printf 'example-passphrase\n' >"$W/secrets/wifi-passphrase")
	sed -i "s|/etc/bramble/secrets/wifi-passphrase|$W/secrets/wifi-passphrase|" "$1/nodes/pi5.yaml"
}
setup_example() {
	mkdir -p "$W/out/images"
	cp -r "$SRC/manifests/examples" "$W/repo"
	example_secrets "$W/repo"
	sh "$SRC/scripts/make-demo-image.sh" "$W/out/images/demo-os" >/dev/null
}
b() { "$BRAMBLE" "$@" --source "$W/repo" --root "$W/out" --set dhcp.testCommand= --set "$SECRETS"; }
# Snapshot of an output tree: every path with type, mode, size and content
# digest; bramble's own records (state/) are left out.
snapshot() {
	(cd "$1" && find . -path ./state -prune -o -printf '%p %y %m %s %l\n' | sort &&
		find . -path ./state -prune -o -type f -print0 | sort -z | xargs -0 -r sha256sum)
}
# skip_test REASON: the whole test cannot run here: say why and exit 77, which
# CTest reports as skipped (never as passed) and scripts/test.sh refuses.
skip_test() { echo "$T_NAME: skipped ($1)"; exit 77; }
need_root() { [ "$(id -u)" -eq 0 ] || skip_test "needs root"; }

# --- Network namespaces and servers (used by the wire tests) ---------------
# netns_add NAME: a new network namespace with lo up; deleted at exit.
netns_add() {
	ip netns add "$1" || return 1
	T_NETNS+=("$1")
	ip -n "$1" link set lo up
}
# veth_pair NS1 IF1 NS2 IF2 [MAC2]: a veth pair created directly inside the two
# namespaces (no name ever appears in the host namespace), both ends up.
veth_pair() {
	ip link add "$2" netns "$1" type veth peer name "$4" netns "$3" || return 1
	[ -z "${5:-}" ] || ip -n "$3" link set "$4" address "$5"
	ip -n "$1" link set "$2" up && ip -n "$3" link set "$4" up
}
# wait_for SECONDS COMMAND...: poll every 0.1 s until COMMAND succeeds.
wait_for() {
	local n=$(($1 * 10)); shift
	while ! "$@" >/dev/null 2>&1; do
		n=$((n - 1))
		[ "$n" -gt 0 ] || return 1
		sleep 0.1
	done
}
# stop_pid PID: stop a process this test started (TERM, then wait for it) and
# forget it, so the exit trap never signals a recycled PID.
stop_pid() {
	kill "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	forget_pid "$1"
}
# forget_pid PID: drop PID from T_PIDS once the test has waited for it itself.
forget_pid() {
	local p keep=()
	for p in "${T_PIDS[@]:-}"; do [ -z "$p" ] || [ "$p" = "$1" ] || keep+=("$p"); done
	T_PIDS=("${keep[@]:-}")
}
# ganesha_conf INCLUDE [PROTOCOLS]: write $W/ganesha.conf, nfs-ganesha on
# 10.99.0.1 (NFS PROTOCOLS, default "3, 4"; no NLM, RQUOTA or UDP) serving the
# EXPORT blocks of INCLUDE, its recovery state under $W/ganesha.
ganesha_conf() {
	mkdir -p "$W/ganesha/recov"
	cat >"$W/ganesha.conf" <<CONF
NFS_CORE_PARAM { Protocols = ${2:-3, 4}; Bind_addr = 10.99.0.1; Enable_NLM = false; Enable_RQUOTA = false; Enable_UDP = false; }
NFSV4 { Graceless = true; RecoveryBackend = fs; RecoveryRoot = "$W/ganesha/recov"; Only_Numeric_Owners = true; }
LOG { Default_Log_Level = EVENT; }
%include "$1"
CONF
}
# rpcbind_start NS: rpcbind in namespace NS, in a private mount namespace whose
# /run is a tmpfs (its socket and lock never touch the host's); sets RPCB (in
# T_PIDS) and returns once it listens on port 111.
rpcbind_start() {
	ip netns exec "$1" unshare -m --propagation private sh -c 'mount -t tmpfs tmpfs /run && exec rpcbind -f' \
		>>"$W/rpcbind.log" 2>&1 </dev/null &
	RPCB=$!
	T_PIDS+=("$RPCB")
	wait_for 5 sh -c "ip netns exec $1 ss -ltn | grep -q ':111 '"
}
# ganesha_start NS: nfs-ganesha with $W/ganesha.conf in rpcbind's namespaces
# (again, for a restart); sets GAN (in T_PIDS, stopped before rpcbind) and
# returns once it listens on port 2049.
ganesha_start() {
	nsenter -t "$RPCB" -m -n ganesha.nfsd -F -L "$W/ganesha.log" -f "$W/ganesha.conf" -p "$W/ganesha.pid" \
		-N NIV_EVENT >>"$W/ganesha.out" 2>&1 </dev/null &
	GAN=$!
	T_PIDS=("$GAN" "${T_PIDS[@]}")
	wait_for 10 sh -c "ip netns exec $1 ss -ltn | grep -q ':2049 '"
}
# daemon_start LOG ARGS...: start `bramble run` in the background, its output
# in LOG: on loopback (an ephemeral port), without dnsmasq --test, with the
# example's secrets ($SECRETS, when set) and a pass an hour; ARGS come after
# these (a later --listen or --interval wins).  Sets PID (kept in T_PIDS) and
# PORT once the log says it listens, within DAEMON_WAIT seconds (60); else
# shows the log and returns 1.
daemon_start() {
	local log=$1 wait=${DAEMON_WAIT:-60} secrets=()
	shift
	[ -z "${SECRETS:-}" ] || secrets=(--set "$SECRETS")
	# emptied here, not by the background job's redirection: the wait below
	# must not find the last run's "listening on" in a log reused
	: >"$log"
	"$BRAMBLE" run --set dhcp.testCommand= "${secrets[@]}" --listen 127.0.0.1:0 --interval 1h \
		"$@" >"$log" 2>&1 &
	PID=$!
	T_PIDS+=("$PID")
	PORT=
	if wait_for "$wait" grep -q 'listening on' "$log"; then
		PORT=$(sed -n 's/.*listening on .* (port \([0-9]*\)).*/\1/p' "$log" | head -1)
		[ -z "$PORT" ] || return 0
	fi
	echo "    | bramble run did not say it listens within $wait s; its log ($log):"
	tail -n 20 "$log" | sed 's/^/    | /'
	return 1
}
