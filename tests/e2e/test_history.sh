#!/bin/bash
# History, suspend/resume and `bramble reconcile` (issue 14, items 4 and 5):
# apply and the daemon record each pass (trigger, outcome, revision, counts,
# errors) in state/history, bounded by history.limit, repeats as one entry
# with a count; a damaged history file is named file:line and is not fatal;
# `bramble suspend` makes the daemon skip its start, webhook and SIGHUP passes
# (log, /status, status, bramble_suspended, /readyz still ready) and apply
# and reconcile refuse without --force (exit 75); `bramble resume` lets them
# run again; `bramble reconcile` asks the running daemon (a UNIX socket, peers
# checked with SO_PEERCRED) for a pass and returns its result, success and
# failure; it refuses `nobody`, says when no daemon runs (69), and gives up
# after --timeout (124).  Everything is on loopback; daemons stopped by PID.
. "$(dirname "$0")/lib.sh"
need_root
setup_example
out=$W/out
st=$out/state
printf 'gitlab-token-1\n' >"$W/token"
chmod 600 "$W/token"

# jq_ FILE EXPR: a Python expression over the JSON document d in FILE.
jq_() { python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }
eq() { [ "$1" = "$2" ]; }
hist_json() { b history --json >"$W/h.json" 2>"$W/h.err"; }
# A revision that does not validate (a Node with an unknown field), and back.
break_repo() {
	cat >"$W/repo/broken.yaml" <<'EOF'
apiVersion: bramble/v1alpha1
kind: Node
metadata:
  name: pi-broken
spec:
  serial: 9999abcd
  colour: red
EOF
}
fix_repo() { rm -f "$W/repo/broken.yaml"; }

# --- bramble apply records its passes --------------------------------------
expect_rc 0 "a first apply applies" b apply
check "the pass is in state/history" test -s "$st/history"
expect_rc 0 "bramble history exits 0" b history
contains "$W/last.out" "cli      applied" "history shows the trigger and the outcome"
check "history --json" hist_json
check "the document names its schema" eq "$(jq_ "$W/h.json" 'd["schema"]')" bramble/history/v1
check "one entry, trigger cli" eq "$(jq_ "$W/h.json" '[e["trigger"] for e in d["entries"]]')" "['cli']"
check "its counts say what was created" test "$(jq_ "$W/h.json" 'd["entries"][0]["counts"]["create"]')" -gt 0
check "and the nodes ready" eq "$(jq_ "$W/h.json" 'd["entries"][0]["counts"]["ready"]')" 3
check "the revision is recorded" eq "$(jq_ "$W/h.json" 'd["entries"][0]["revision"].startswith("dir:")')" True

expect_rc 0 "a second apply (nothing to do)" b apply
expect_rc 0 "a third apply (nothing to do)" b apply
check "history --json" hist_json
check "two entries: the repeats of a pass that changed nothing are one" \
	eq "$(jq_ "$W/h.json" 'len(d["entries"])')" 2
check "the newest first, standing for two passes" eq "$(jq_ "$W/h.json" 'd["entries"][0]["times"]')" 2
expect_rc 0 "bramble history" b history
contains "$W/last.out" "x2 (the last at" "the text shows the repeat count"

# A bad revision: invalid, with its first error's file:line:col; repeats are one entry.
break_repo
expect_rc 1 "apply of a bad revision fails" b apply
expect_rc 1 "and again" b apply
check "history --json" hist_json
check "the failure is recorded as invalid" eq "$(jq_ "$W/h.json" 'd["entries"][0]["outcome"]')" invalid
check "with its first error at file:line:col" \
	eq "$(jq_ "$W/h.json" '"broken.yaml:7:3:" in d["entries"][0]["error"]')" True
check "the same errors twice are one entry (times 2)" eq "$(jq_ "$W/h.json" 'd["entries"][0]["times"]')" 2
expect_rc 0 "bramble history -n 1" b history -n 1
check "-n 1 prints one entry (and its error line)" eq "$(grep -c '^20' "$W/last.out")" 1
contains "$W/last.out" "broken.yaml:7:3:" "the text shows the error"
fix_repo

# The bound: history.limit entries, and no line over 1024 bytes.
for i in 1 2 3; do
	break_repo
	b apply --set history.limit=3 >/dev/null 2>&1
	fix_repo
	b apply --set history.limit=3 >/dev/null 2>&1
done
check "history.limit=3 keeps 3 entries" eq "$(grep -vc '^#' "$st/history")" 3
check "no line of the file is over 1024 bytes" test "$(wc -L <"$st/history")" -le 1024
expect_rc 64 "a history.limit over 1000 is refused" b history --set history.limit=1001

# A damaged file: named file:line, not fatal, and the next pass drops the bad line.
sed -i '2i this is not an entry' "$st/history"
expect_rc 0 "history of a damaged file still exits 0" b history
contains "$W/last.err" "history:2: " "the damage is named file:line"
check "the good entries are still shown" test "$(grep -c '^20' "$W/last.out")" -ge 2
sed -i 's/enable_uart: 1/enable_uart: 0/' "$W/repo/profiles.yaml"
expect_rc 0 "an apply over a damaged history" b apply
contains "$W/last.err" "history:2: " "the apply says what it dropped"
lacks "$st/history" "this is not an entry" "the rewritten file has no bad line"
printf '\x00\x01garbage' >"$st/history"
expect_rc 0 "a history of binary garbage: still exit 0" b history
contains "$W/last.err" "history:1: a NUL byte" "and it is named file:line"
rm -f "$st/history" && mkdir "$st/history"
expect_rc 1 "a history that cannot be written fails the apply, as a status that cannot be" b apply
contains "$W/last.err" "cannot record the pass in $st/history" "and says so"
rmdir "$st/history" && printf '\x00\x01garbage' >"$st/history"
expect_rc 0 "status --json" b status --json
check "the status document has a history (empty: the file is garbage)" \
	eq "$(jq_ "$W/last.out" 'd["history"]')" "[]"
cp "$W/last.out" "$W/status0.json"
check "and says it is not suspended" eq "$(jq_ "$W/status0.json" 'd["suspended"]')" None

# --- suspend and resume, bramble apply --------------------------------------
expect_rc 0 "bramble suspend --reason" b suspend --reason "firmware change on the switch"
check "the suspension is recorded in the state directory" test -s "$st/suspended"
contains "$st/suspended" "firmware change on the switch" "with its reason"
contains "$st/suspended" "by	root" "and who"
expect_rc 75 "apply while suspended is refused (exit 75)" b apply
contains "$W/last.err" "suspended by root" "apply says who suspended"
contains "$W/last.err" "--force" "and how to go past it"
check "the timer's unit (bramble-apply.service) takes that exit as a success, not failed" \
	grep -qx 'SuccessExitStatus=75' "$SRC/deploy/systemd/bramble-apply.service"
expect_rc 0 "apply --force applies all the same" b apply --force
expect_rc 0 "status" b status
contains "$W/last.out" "SUSPENDED: suspended by root" "bramble status says it is suspended"
contains "$W/last.out" "firmware change on the switch" "with the reason"
expect_rc 0 "status --json" b status --json
check "status --json has the suspension" \
	eq "$(jq_ "$W/last.out" 'd["suspended"]["reason"]')" "firmware change on the switch"

# --- the daemon while suspended ---------------------------------------------
# start_daemon LOG: bramble run on loopback, port chosen by the kernel; sets PID, PORT.
start_daemon() {
	local log=$1; shift
	"$BRAMBLE" run --source "$W/repo" --root "$out" --set dhcp.testCommand= --set "$SECRETS" \
		--set webhook.tokenFile="$W/token" --listen 127.0.0.1:0 --interval 1h "$@" >"$log" 2>&1 &
	PID=$!
	T_PIDS+=("$PID")
	wait_for 30 grep -q 'listening on' "$log" || return 1
	PORT=$(sed -n 's/.*listening on .* (port \([0-9]*\)).*/\1/p' "$log" | head -1)
	wait_for 30 test -S "$st/control.sock"
}
metric() { curl -s "http://127.0.0.1:$PORT/metrics" | awk -v n="$1" '$1 == n { print $2 }'; }
metric_is() { [ "$(metric "$1")" = "$2" ]; }
hook() { curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
	-H 'X-Gitlab-Token: gitlab-token-1' --data-binary "{\"after\":\"$(date +%s%N)\"}" \
	"http://127.0.0.1:$PORT/hooks/git"; }
nlines() { grep -c "$2" "$1"; }

check "the daemon starts while suspended" start_daemon "$W/d.log"
check "its start pass is skipped, and it says so" wait_for 30 grep -q 'pass (start): skipped: suspended by root' "$W/d.log"
check "bramble_suspended is 1" metric_is bramble_suspended 1
check "no pass ran" metric_is bramble_reconcile_passes_total 0
check "/readyz stays ready: serving is unaffected" \
	eq "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/readyz")" 200
curl -s "http://127.0.0.1:$PORT/status" >"$W/status.json"
check "/status says suspended, by whom, why" \
	eq "$(jq_ "$W/status.json" 'd["suspended"]["reason"]')" "firmware change on the switch"
check "a webhook is accepted" eq "$(hook)" 202
check "and its pass is skipped, said in the log" wait_for 30 grep -q 'pass (webhook): skipped' "$W/d.log"
kill -HUP "$PID"
check "a SIGHUP's pass is skipped too" wait_for 30 grep -q 'pass (SIGHUP): skipped' "$W/d.log"
check "still no pass ran" metric_is bramble_reconcile_passes_total 0
expect_rc 75 "reconcile while suspended is refused (exit 75)" b reconcile
contains "$W/last.err" "suspended by root" "and says why"
expect_rc 0 "reconcile --force runs a pass anyway" b reconcile --force
contains "$W/last.out" "pass (reconcile): applied" "and prints its pass line"
check "one pass ran" metric_is bramble_reconcile_passes_total 1

expect_rc 0 "bramble resume" b resume
check "the suspension is gone" test ! -e "$st/suspended"
check "bramble_suspended is 0" metric_is bramble_suspended 0
check "a webhook is accepted" eq "$(hook)" 202
check "and its pass runs now" wait_for 60 metric_is bramble_reconcile_passes_total 2
curl -s "http://127.0.0.1:$PORT/status" >"$W/status.json"
check "/status: not suspended" eq "$(jq_ "$W/status.json" 'd["suspended"]')" None
check "/status: the last passes, newest first, the webhook's" \
	eq "$(jq_ "$W/status.json" 'd["history"][0]["trigger"]')" webhook
expect_rc 0 "a second resume is harmless" b resume
contains "$W/last.out" "not suspended" "and says there was nothing to resume"

# --- bramble reconcile ------------------------------------------------------
sed -i 's/enable_uart: 0/enable_uart: 1/' "$W/repo/profiles.yaml"
expect_rc 0 "reconcile: a pass now, exit 0 when applied" b reconcile
contains "$W/last.out" "pass (reconcile): applied dir:" "it prints the pass line"
contains "$W/last.out" "updated" "and the counts"
check "the change it applied is in place" grep -q 'enable_uart=1' "$out/tftp/1234abcd/config.txt"
expect_rc 0 "reconcile --json" b reconcile --json
cp "$W/last.out" "$W/r.json"
check "reconcile --json: the history entry of that pass" \
	eq "$(jq_ "$W/r.json" 'd["schema"] + " " + d["entries"][0]["trigger"] + " " + d["entries"][0]["outcome"]')" \
	"bramble/history/v1 reconcile applied"
break_repo
expect_rc 1 "reconcile of a bad revision: exit 1" b reconcile
contains "$W/last.out" "pass (reconcile): invalid" "it says the pass was invalid"
contains "$W/last.out" "broken.yaml:7:3:" "with the first error"
fix_repo
expect_rc 0 "history after the daemon's passes" b history --json
cp "$W/last.out" "$W/h2.json"
# (the failed pass is retried in 1 s, 2 s, ...: those "retry" entries may be there or not)
check "the daemon's passes are recorded with their triggers" \
	eq "$(jq_ "$W/h2.json" '[e["trigger"] for e in d["entries"] if e["trigger"] != "retry"][:4]')" \
	"['reconcile', 'reconcile', 'reconcile', 'webhook']"
check "and their outcomes" \
	eq "$(jq_ "$W/h2.json" '[e["outcome"] for e in d["entries"] if e["trigger"] != "retry"][:2]')" \
	"['invalid', 'applied']"

# Who may ask: root and the daemon's user.  nobody cannot reach the socket
# (0600); with the mode loosened by hand, SO_PEERCRED still refuses it.
check "the socket is mode 0600" eq "$(stat -c %a "$st/control.sock")" 600
# (counted in the log: the bad revision's retries above may still add passes)
n=$(grep -c 'pass (reconcile)' "$W/d.log")
chmod 0711 "$W" "$out" "$st"
expect_rc 77 "nobody is refused (exit 77)" runuser -u nobody -- "$BRAMBLE" reconcile --state-dir "$st"
contains "$W/last.err" "permission denied" "and told why"
chmod 0666 "$st/control.sock"
expect_rc 77 "nobody is refused by the peer check with the mode loosened" \
	runuser -u nobody -- "$BRAMBLE" reconcile --state-dir "$st"
contains "$W/last.err" "the daemon says: permission denied" "the daemon said it"
check "the daemon logs the refused uid" grep -q 'control: refused a request from uid 65534' "$W/d.log"
check "no pass ran for nobody (the client returns only after the daemon answered)" \
	eq "$n" "$(grep -c 'pass (reconcile)' "$W/d.log")"

stop_pid "$PID"
check "the daemon removes its socket when it stops" test ! -e "$st/control.sock"
expect_rc 69 "reconcile with no daemon running: exit 69" b reconcile
contains "$W/last.err" "no daemon answers" "and says so"
contains "$W/last.err" "systemctl start bramble" "with the fix"

# --timeout: a listener that never answers.
mkdir -p "$W/mute"
python3 -c 'import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(1); c, _ = s.accept(); time.sleep(30)' \
	"$W/mute/control.sock" &
MUTE=$!
T_PIDS+=("$MUTE")
wait_for 20 test -S "$W/mute/control.sock"
expect_rc 124 "reconcile --timeout 1s gives up (exit 124)" "$BRAMBLE" reconcile --state-dir "$W/mute" --timeout 1s
contains "$W/last.err" "no result in 1 s" "and says the pass goes on"
stop_pid "$MUTE"
expect_rc 64 "a bad --timeout is refused" "$BRAMBLE" reconcile --timeout 5x
expect_rc 64 "--force means nothing for history" "$BRAMBLE" history --force
expect_rc 64 "--reason means nothing for resume" "$BRAMBLE" resume --reason x

done_testing
