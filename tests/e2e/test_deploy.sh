#!/bin/bash
# The systemd way of running bramble, checked without a running systemd:
# every unit in deploy/systemd passes `systemd-analyze verify`, scores at most
# 3.0 in `systemd-analyze security --offline`, and the daemon speaks the
# notify protocol those units expect (Type=notify: READY, RELOADING on SIGHUP,
# STATUS, STOPPING) and logs with syslog priorities and no second timestamp
# when its stderr is journald's stream. The man pages pass `mandoc -T lint`.
. "$(dirname "$0")/lib.sh"
need_root

U=$SRC/deploy/systemd
# verify wants the binary the units name: point a copy of each unit at this build.
mkdir -p "$W/units"
for u in "$U"/*.service "$U"/*.timer; do
	sed "s#/usr/bin/bramble#$BRAMBLE#" "$u" >"$W/units/$(basename "$u")"
done
expect_rc 0 "systemd-analyze verify accepts every unit" \
	systemd-analyze verify --man=no "$W"/units/*.service "$W"/units/*.timer
lacks "$W/last.err" "bramble" "verify says nothing about bramble's units"
for u in "$U"/*.service; do
	name=$(basename "$u")
	score=$(systemd-analyze security --offline=true "$W/units/$name" 2>&1 |
		sed -n 's/.*Overall exposure level for .*: \([0-9.]*\) .*/\1/p')
	check "$name: security exposure $score is at most 3.0" \
		awk -v s="$score" 'BEGIN { exit !(s != "" && s <= 3.0) }'
done
contains "$U/bramble.service" "Type=notify" "the daemon's unit waits for READY=1"
contains "$U/bramble-apply.timer" "Persistent=true" "the timer catches up a missed pass"
check "the packaged configuration and the dnsmasq unit name one file" \
	grep -q "conf-file=$(sed -n 's/^  configFile: //p' "$SRC/deploy/bramble.yaml")" "$U/bramble-dnsmasq.service"

for m in "$SRC"/docs/man/*.[0-9]; do
	expect_rc 0 "mandoc -T lint: $(basename "$m")" mandoc -T lint -W warning "$m"
done

# The notify protocol, with a stand-in for systemd's socket.
mkdir -p "$W/repo" && cp -r "$SRC/manifests/examples/." "$W/repo/" && example_secrets "$W/repo"
mkdir -p "$W/out/images" && sh "$SRC/scripts/make-demo-image.sh" "$W/out/images/demo-os" >/dev/null
python3 "$SRC/tests/e2e/notify_listen.py" "$W/notify" 20 >"$W/notify.log" &
LPID=$!
T_PIDS+=("$LPID")
wait_for 5 grep -q listening "$W/notify.log"
touch "$W/daemon.log"
NOTIFY_SOCKET=$W/notify JOURNAL_STREAM=$(stat -c '%d:%i' "$W/daemon.log") \
	"$BRAMBLE" run --source "$W/repo" --root "$W/out" --set dhcp.testCommand= \
	--listen 127.0.0.1:0 --interval 1h 2>"$W/daemon.log" &
DPID=$!
T_PIDS+=("$DPID")
check "READY=1 once the endpoints listen" wait_for 10 grep -q "READY=1 | STATUS=listening on" "$W/notify.log"
check "STATUS after the first pass" wait_for 30 grep -q "STATUS=last pass (start): applied" "$W/notify.log"
kill -HUP "$DPID"
check "RELOADING=1 on SIGHUP" wait_for 10 grep -q "RELOADING=1" "$W/notify.log"
check "READY=1 again after the reload's pass" wait_for 30 grep -q "STATUS=last pass (SIGHUP)" "$W/notify.log"
stop_pid "$DPID"
check "STOPPING=1 on SIGTERM" wait_for 5 grep -q "STOPPING=1" "$W/notify.log"
check "journald lines carry a syslog priority" grep -q '^<6>bramble: info: ' "$W/daemon.log"
lacks "$W/daemon.log" "Z bramble:" "and no timestamp of their own"
stop_pid "$LPID"
done_testing
