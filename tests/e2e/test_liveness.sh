#!/bin/bash
# /healthz reflects a hung run loop: the daemon's first pass runs a dnsmasq
# restart command that sleeps 8 s and ignores SIGTERM (a real hang of the
# loop, as a stuck reload would be); with http.livenessTimeout=2s, /healthz
# turns 503 with the reason within the threshold (plus one probe), while
# /readyz keeps saying what it says about serving; when the command ends the
# loop makes progress again and /healthz answers ok.  The HTTP thread
# answers throughout.  Everything listens on loopback; the daemon is stopped
# by its PID.
. "$(dirname "$0")/lib.sh"
command -v curl >/dev/null || skip_test "no curl"
setup_example
# The hang: ignores TERM (and the daemon's stop request) and sleeps.
cat >"$W/hang.sh" <<EOF
#!/bin/sh
trap '' TERM
date +%s%N >"$W/hang.start"
sleep 8
date +%s%N >"$W/hang.end"
EOF
chmod +x "$W/hang.sh"

# bramble itself in the background (not through the function b, whose subshell
# would take the signal and leave bramble running).
"$BRAMBLE" run --source "$W/repo" --root "$W/out" --set dhcp.testCommand= --set "$SECRETS" \
	--listen 127.0.0.1:0 --interval 1h --set http.livenessTimeout=2s \
	--set "dhcp.restartCommand=$W/hang.sh" >"$W/daemon.log" 2>&1 &
PID=$!
T_PIDS+=("$PID")
check "the daemon listens" wait_for 10 grep -q 'listening on' "$W/daemon.log"
PORT=$(sed -n 's/.*listening on .* (port \([0-9]*\)).*/\1/p' "$W/daemon.log" | head -1)
code() { curl -s -o "$W/body" -w '%{http_code}' --max-time 2 "http://127.0.0.1:$PORT$1"; }
is_code() { [ "$(code "$1")" = "$2" ]; }

check "the hanging restart command starts" wait_for 20 test -e "$W/hang.start"
t0=$(date +%s%N)
check "/healthz turns 503 while the loop hangs" wait_for 4 is_code /healthz 503
t1=$(date +%s%N)
contains "$W/body" "run loop hung: no progress for" "/healthz says why"
contains "$W/body" "http.livenessTimeout is 2 s" "/healthz names the threshold"
# started + threshold (2 s) + one poll: well before the 8 s command ends
elapsed_ms=$(((t1 - $(cat "$W/hang.start")) / 1000000))
echo "# 503 after ${elapsed_ms} ms of the hang (threshold 2000 ms); waited $(((t1 - t0) / 1000000)) ms"
check "503 came within the threshold (plus 1.5 s), before the hang ended" \
	test "$elapsed_ms" -lt 3500 -a ! -e "$W/hang.end"
check "/readyz is about serving, not liveness: no revision applied yet" is_code /readyz 503
lacks "$W/body" "hung" "/readyz does not report the hang"
check "/metrics still answers (the HTTP thread is not the loop)" is_code /metrics 200
check "the hang ends" wait_for 15 test -e "$W/hang.end"
check "/healthz is ok again once the loop moves" wait_for 5 is_code /healthz 200
contains "$W/body" "ok" "/healthz says ok"
check "/readyz: the pass applied" wait_for 10 is_code /readyz 200
sleep 3
check "an idle loop (waiting for its next pass) is not hung" is_code /healthz 200
stop_pid "$PID"
check "the daemon is gone once stopped" bash -c "! kill -0 $PID 2>/dev/null"
contains "$W/daemon.log" "exiting" "it exited on SIGTERM"

# The threshold is checked like every duration; 0 is refused (never hung by mistake).
expect_rc 64 "http.livenessTimeout=0 is refused" b run --listen 127.0.0.1:0 --set http.livenessTimeout=0
contains "$W/last.err" 'bad duration "0" for "livenessTimeout"' "it says which key"
done_testing
