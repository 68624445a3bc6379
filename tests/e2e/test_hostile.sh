#!/bin/bash
# Hostile input never hangs or starves bramble: a FIFO named as a secret or a
# webhook key is refused at once (plan, apply, and a daemon that still stops on
# SIGTERM); /healthz answers during a slowloris.
# Everything listens on loopback; each daemon is stopped by its PID.
. "$(dirname "$0")/lib.sh"
setup_example
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# start_daemon LOG ARGS...: run bramble in the background; sets PID and PORT.
start_daemon() {
	local log=$1; shift
	"$BRAMBLE" run --set dhcp.testCommand= --listen 127.0.0.1:0 --interval 1h "$@" >"$log" 2>&1 &
	PID=$!
	T_PIDS+=("$PID")
	PORT=
	wait_for 10 grep -q 'listening on' "$log" || return 1
	PORT=$(sed -n 's/.*listening on .* (port \([0-9]*\)).*/\1/p' "$log" | head -1)
	[ -n "$PORT" ]
}
# stop_daemon: SIGTERM to PID, wait at most 10 s; sets RC and STOP_MS.
stop_daemon() {
	local t0 n=100
	t0=$(now_ms)
	kill -TERM "$PID"
	while kill -0 "$PID" 2>/dev/null && [ $n -gt 0 ]; do sleep 0.05; n=$((n - 1)); done
	kill -0 "$PID" 2>/dev/null && kill -KILL "$PID"
	wait "$PID"; RC=$?
	forget_pid "$PID"
	STOP_MS=$(($(now_ms) - t0))
}
lt() { [ "$1" -lt "$2" ]; }

# --- A FIFO secret: refused at once, never read ----------------------------
# (the old reader blocked in open() forever; timeout turns a hang into 124)
mv "$W/secrets/wifi-passphrase" "$W/secrets/real"
mkfifo "$W/secrets/wifi-passphrase"
expect_rc 1 "plan with a FIFO secret fails at once" timeout 10 "$BRAMBLE" plan --source "$W/repo" --root "$W/out" --set dhcp.testCommand=
contains "$W/last.err" 'nodes/pi5.yaml:' "the message names file:line:col"
contains "$W/last.err" 'cannot read the secret file (not a regular file)' "and says why"
expect_rc 1 "apply with a FIFO secret fails at once" timeout 10 "$BRAMBLE" apply --source "$W/repo" --root "$W/out" --set dhcp.testCommand=
contains "$W/last.err" 'not a regular file' "apply says why"

# The daemon: the pass fails, the daemon stays up, and SIGTERM stops it at once.
check "a daemon with a FIFO secret starts" start_daemon "$W/d1.log" \
	--source "$W/repo" --root "$W/out"
check "its first pass ends" wait_for 10 grep -q 'pass (start)' "$W/d1.log"
check "/healthz answers" curl -sf "http://127.0.0.1:$PORT/healthz" -o /dev/null
stop_daemon
check "SIGTERM stops it with exit 0 (rc $RC)" [ "$RC" -eq 0 ]
check "within a second (${STOP_MS} ms)" lt "$STOP_MS" 1000
rm "$W/secrets/wifi-passphrase"
mv "$W/secrets/real" "$W/secrets/wifi-passphrase"

# A FIFO webhook secret: a start-up error, at once.
mkfifo "$W/hook-fifo"
expect_rc 1 "a FIFO webhook secret is refused at start" timeout 10 \
	"$BRAMBLE" run --source "$W/repo" --root "$W/out" --listen 127.0.0.1:0 \
	--set dhcp.testCommand= --set webhook.secretFile="$W/hook-fifo"
contains "$W/last.err" 'not a regular file' "it says why"
# A FIFO configuration file: a usage error, at once.
expect_rc 64 "a FIFO configuration file is refused" timeout 10 "$BRAMBLE" validate --config "$W/hook-fifo"
contains "$W/last.err" 'not a regular file' "it says why"

# --- A slowloris from one client does not starve the probes ---------------
# 100 connections from 127.0.0.2 trickling headers or a webhook body; the
# probes come from 127.0.0.1.  (Before: 64 connections in all filled the
# server and /healthz went unanswered for the whole attack.)
check "a daemon starts" start_daemon "$W/d2.log" --source "$W/repo" --root "$W/out"
check "its first pass applies" wait_for 20 grep -q 'pass (start): applied' "$W/d2.log"
python3 "$SRC/tests/e2e/slowloris.py" "$PORT" 100 4 127.0.0.2 >"$W/loris.out" 2>&1 &
LORIS=$!
T_PIDS+=("$LORIS")
check "the attack is under way" wait_for 10 grep -q ready "$W/loris.out"
probe_ms() { # probe_ms PATH: how long a probe took in ms, or 99999 when it failed
	local t0 t1
	t0=$(now_ms)
	curl -sf -m 3 "http://127.0.0.1:$PORT$1" -o /dev/null || { echo 99999; return; }
	t1=$(now_ms)
	echo $((t1 - t0))
}
for i in 1 2 3; do
	ms=$(probe_ms /healthz)
	check "/healthz answers during the attack, try $i (${ms} ms)" lt "$ms" 1000
	ms=$(probe_ms /readyz)
	check "/readyz answers during the attack, try $i (${ms} ms)" lt "$ms" 1000
	sleep 0.5
done
wait "$LORIS"
forget_pid "$LORIS"
held=$(sed -n 's/^held //p' "$W/loris.out")
check "one client holds at most 16 connections (held ${held:-?})" lt "${held:-999}" 17
stop_daemon
check "the daemon stops on SIGTERM (rc $RC)" [ "$RC" -eq 0 ]

done_testing
