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
	"$BRAMBLE" run --source "$W/repo" --root "$W/out" --set dhcp.testCommand= --set "$SECRETS" \
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
lacks "$W/notify.log" "WATCHDOG=1" "no WATCHDOG=1 without \$WATCHDOG_USEC"
stop_pid "$LPID"

# WatchdogSec=: with $WATCHDOG_USEC (1 s here) and $WATCHDOG_PID naming the
# daemon, WATCHDOG=1 comes every half of it, from the idle loop and from a
# long step of a pass (a reload command that takes 3 s).
watchdog_run() { # LOG WATCHDOG_PID-is-ours
	rm -rf "$W/notify" "$W/wd"
	mkdir -p "$W/wd" && cp -a "$W/out/images" "$W/wd/images"
	python3 "$SRC/tests/e2e/notify_listen.py" "$W/notify" 20 >"$1" &
	LPID=$!
	T_PIDS+=("$LPID")
	wait_for 5 grep -q listening "$1"
	(
		if [ "$2" = yes ]; then export WATCHDOG_PID=$BASHPID; else export WATCHDOG_PID=1; fi
		NOTIFY_SOCKET=$W/notify WATCHDOG_USEC=1000000 exec "$BRAMBLE" run --source "$W/repo" \
			--root "$W/wd" --set dhcp.testCommand= --set "dhcp.restartCommand=sleep 3" \
			--set "$SECRETS" --listen 127.0.0.1:0 --interval 1h 2>"$1.err"
	) &
	DPID=$!
	T_PIDS+=("$DPID")
}
watchdog_run "$W/wd.log" yes
check "the watched daemon applies its first pass" wait_for 30 grep -q "STATUS=last pass (start)" "$W/wd.log"
check "WATCHDOG=1 comes during the pass (the 3 s reload command)" \
	awk '/STATUS=listening/ { on = 1 } /STATUS=last pass/ { exit !(n >= 4) } on && /^WATCHDOG=1$/ { n++ }' "$W/wd.log"
sleep 2.5
check "and while the loop waits: every 0.5 s" \
	awk '/STATUS=last pass/ { on = 1 } on && /^WATCHDOG=1$/ { n++ } END { exit !(n >= 3) }' "$W/wd.log"
contains "$W/wd.log.err" "systemd watchdog: 1.000 s; WATCHDOG=1 every 0.500 s" "the daemon says so"
stop_pid "$DPID"
stop_pid "$LPID"
watchdog_run "$W/wd-other.log" no
check "a daemon whose WATCHDOG_PID is another process's applies" \
	wait_for 30 grep -q "STATUS=last pass (start)" "$W/wd-other.log"
sleep 1.5
lacks "$W/wd-other.log" "WATCHDOG=1" "and sends no WATCHDOG=1"
stop_pid "$DPID"
stop_pid "$LPID"

# systemctl reload = SIGHUP: bramble.yaml is read again, as bgpd does.
mkdir -p "$W/repo2" && cp -r "$W/repo/." "$W/repo2/"
sed -i 's/name: pi4-a$/name: pi4-renamed/' "$W/repo2/nodes/pi4.yaml"
conf() {
	cat >"$W/bramble.yaml" <<CONF
source:
  url: $1
  interval: 1h
paths:
  tftpRoot: $W/out/tftp
  nfsRoot: $W/out/nfs
  stateDir: $W/out/state
  imageStore: $W/out/images
  secretsDir: $W/secrets
dhcp:
  configFile: $W/out/dnsmasq/bramble.conf
  hostsDir: $W/out/dnsmasq/hosts.d
  testCommand: ""
nfs:
  exportsFile: $W/out/exports/bramble.exports
  ganeshaFile: $W/out/exports/ganesha-bramble.conf
http:
  listen: $2
CONF
}
conf "$W/repo" 127.0.0.1:0
"$BRAMBLE" run -c "$W/bramble.yaml" 2>"$W/reload.log" &
DPID=$!
T_PIDS+=("$DPID")
check "the daemon starts from its configuration file" wait_for 30 grep -q "pass (start): applied" "$W/reload.log"
printf 'bogus: 1\n' >>"$W/bramble.yaml"
kill -HUP "$DPID"
check "a configuration with errors is refused on SIGHUP" wait_for 10 grep -q "not reloading" "$W/reload.log"
contains "$W/reload.log" "bramble.yaml:$(wc -l <"$W/bramble.yaml"):1: unknown key \"bogus\"" \
	"with the error's file:line:col"
check "and the pass runs on with the running configuration" \
	wait_for 10 grep -q "pass (SIGHUP): applied dir:$W/repo@" "$W/reload.log"
conf "$W/repo2" 127.0.0.1:9
kill -HUP "$DPID"
check "a good configuration is taken on SIGHUP" wait_for 10 grep -q "configuration reloaded" "$W/reload.log"
check "the next pass reads the new source" wait_for 10 grep -q "pass (SIGHUP): applied dir:$W/repo2@" "$W/reload.log"
contains "$W/reload.log" 'http.listen changed from "127.0.0.1:0" to "127.0.0.1:9": restart bramble to use it' \
	"a key that needs a restart says so"
check "the daemon is still running" kill -0 "$DPID"
stop_pid "$DPID"
done_testing
