#!/bin/bash
# bramble run: the HTTP endpoints (healthz, readyz, status, metrics checked by
# promtool), the webhook (HMAC signature and GitLab token; bad, missing and
# oversized requests trigger nothing), SIGHUP (a pass, and new webhook keys),
# a broken revision (nothing applied, readyz stays up, Stalled with
# file:line:col), backoff without spinning, SIGTERM during a pass (honoured within a
# second: a hanging reload is killed and stays pending, the next start runs it;
# a step that does not poll is cut by the backstop), and start-up errors.
# Everything listens on loopback; each daemon is stopped by its PID.
. "$(dirname "$0")/lib.sh"
setup_example
out=$W/out
printf 'hmac-secret-1\n' >"$W/secret"
printf 'gitlab-token-1\n' >"$W/token"
chmod 600 "$W/secret" "$W/token"

now_ms() { echo $(($(date +%s%N) / 1000000)); }
# stop_daemon SIGNAL: signal PID and wait for it (at most 20 s); sets RC and STOP_MS.
stop_daemon() {
	local t0 n=200
	t0=$(now_ms)
	kill -"$1" "$PID"
	while kill -0 "$PID" 2>/dev/null && [ $n -gt 0 ]; do sleep 0.1; n=$((n - 1)); done
	wait "$PID"; RC=$?
	forget_pid "$PID"
	STOP_MS=$(($(now_ms) - t0))
}
HOST=127.0.0.1
url() { echo "http://$HOST:$PORT$1"; }
# http_code ARGS...: the status code of a request; the body goes to $W/body.
http_code() { curl -s -g -o "$W/body" -w '%{http_code}' "$@"; }
metrics() { curl -s -g "$(url /metrics)"; }
# metric NAME: the value of one sample (labels included in NAME).
metric() { metrics | awk -v n="$1" '$1 == n { print $2 }'; }
passes() { metric bramble_reconcile_passes_total; }
sign() { openssl dgst -sha256 -hmac "$2" "$1" | sed 's/.*= //'; }
# hook FILE [CURL ARGS...]: POST the file to /hooks/git; prints the status code.
hook() { local f=$1; shift; http_code -X POST -H 'Content-Type: application/json' --data-binary "@$f" "$@" "$(url /hooks/git)"; }
# status_field EXPR: a Python expression over st (the status document of $out).
status_field() {
	python3 -c 'import json, sys; st = json.load(open(sys.argv[1])); c = {x["type"]: x for x in st.get("conditions", [])}; print(eval(sys.argv[2]))' \
		"${STATUS_DIR:-$out}/state/status.json" "$1"
}
eq() { [ "$1" = "$2" ]; }
# Conditions that wait_for polls: each evaluates afresh.
metric_is() { [ "$(metric "$1")" = "$2" ]; }
passes_over() { [ "$(passes)" -gt "$1" ]; }
cond_is() { [ "$(status_field "c[\"$1\"][\"status\"]")" = "$2" ]; }
readyz_ok() { curl -sfg "$(url /readyz)" >/dev/null; }

# gate_cmd NAME: a "dnsmasq restart" that waits until the test opens the gate
# (touch $W/gate.NAME), so that a pass is seen running however slow the
# machine is, instead of guessing how long a sleep lasts (ctest -j).
gate_cmd() { echo "while [ ! -e '$W/gate.$1' ]; do sleep 0.05; done"; }

# --- Daemon A: endpoints, webhook, SIGHUP, a broken revision ---------------
# The first pass restarts "dnsmasq" with a command that waits for the gate, so
# readyz can be seen answering 503 before any revision is applied.
check "daemon starts and listens on loopback" daemon_start "$W/a.log" \
	--source "$W/repo" --root "$out" --set webhook.secretFile="$W/secret" \
	--set webhook.tokenFile="$W/token" --set dhcp.restartCommand="$(gate_cmd a)"
check "/healthz answers 200" eq "$(http_code "$(url /healthz)")" 200
check "/healthz says ok" eq "$(cat "$W/body")" ok
check "/readyz answers 503 before the first pass is done" eq "$(http_code "$(url /readyz)")" 503
check "status shows Reconciling=True during the pass" wait_for 20 cond_is Reconciling True
check "no pass is counted before the first one ends" metric_is bramble_reconcile_passes_total 0
touch "$W/gate.a"
check "/readyz answers 200 once the first pass applied" wait_for 20 readyz_ok
contains "$W/a.log" "pass (start): applied dir:$W/repo@sha256:" "a log line for the pass with its revision"
contains "$W/a.log" "created, 0 updated, 0 deleted, 0 unchanged, 0 drift repaired, 0 failed; 3/3 nodes ready" "the log line says what changed"
check "the log line gives the duration" grep -Eq 'pass \(start\): .* [0-9]+\.[0-9]{3} s \(fetch' "$W/a.log"
check "status shows Reconciling=False after the pass" cond_is Reconciling False

curl -s -g "$(url /status)" >"$W/status.http"
b status --json >"$W/status.cli"
check "/status is the same document as bramble status --json" cmp -s "$W/status.http" "$W/status.cli"
check "/status answers 200 with JSON" eq "$(http_code -H 'Accept: */*' "$(url /status)")" 200
rev=$(status_field 'st["lastAppliedRevision"]')

metrics >"$W/metrics"
if command -v promtool >/dev/null; then
	check "promtool check metrics accepts /metrics" promtool check metrics <"$W/metrics"
else
	not_ok "promtool not found: install the Debian package prometheus (scripts/install-deps.sh --test)"
fi
check "/metrics has the Prometheus text content type" \
	sh -c "curl -sI -g '$(url /metrics)' | grep -qi '^Content-Type: text/plain; version=0.0.4'"
for m in bramble_reconcile_passes_total bramble_reconcile_pass_kinds_total bramble_reconcile_failures_total \
	bramble_reconcile_duration_seconds bramble_fetch_duration_seconds \
	bramble_last_success_timestamp_seconds bramble_applied_revision_info bramble_nodes \
	bramble_drift_repairs_total bramble_resources_changed_total; do
	contains "$W/metrics" "# TYPE $m " "/metrics has $m"
done
check "one pass counted" eq "$(passes)" 1
check "the first pass is counted as a full one" eq "$(metric 'bramble_reconcile_pass_kinds_total{kind="full"}')" 1
contains "$W/metrics" "bramble_applied_revision_info{revision=\"$rev\"} 1" "the applied revision is an info metric"
contains "$W/metrics" 'bramble_nodes{state="ready"} 3' "nodes by state"
contains "$W/metrics" 'bramble_reconcile_duration_seconds_bucket{le="+Inf"} 1' "the pass is in the duration histogram"
check "the last success time is recent" \
	test "$(metric bramble_last_success_timestamp_seconds | cut -d. -f1)" -ge $(($(date +%s) - 60))

# Webhook: refused requests trigger nothing.
printf '{"ref":"refs/heads/main","after":"%s"}' "$(date +%s%N)" >"$W/push.json"
good=$(sign "$W/push.json" hmac-secret-1)
bad=$(sign "$W/push.json" hmac-secret-2)
check "a bad signature gets 401" eq "$(hook "$W/push.json" -H "X-Hub-Signature-256: sha256=$bad")" 401
check "a missing signature gets 401" eq "$(hook "$W/push.json")" 401
check "a malformed signature gets 401" eq "$(hook "$W/push.json" -H "X-Hub-Signature-256: $good")" 401
check "a wrong GitLab token gets 401" eq "$(hook "$W/push.json" -H 'X-Gitlab-Token: gitlab-token-2')" 401
head -c $((2 * 1024 * 1024)) /dev/zero >"$W/big.json"
check "an oversized body gets 413" \
	eq "$(hook "$W/big.json" -H "X-Hub-Signature-256: sha256=$(sign "$W/big.json" hmac-secret-1)")" 413
check "GET /hooks/git gets 405" eq "$(http_code "$(url /hooks/git)")" 405
check "POST /metrics gets 405" eq "$(http_code -X POST -d x "$(url /metrics)")" 405
check "an unknown path gets 404" eq "$(http_code "$(url /nope)")" 404
sleep 1
check "refused requests started no pass" eq "$(passes)" 1
contains "$W/metrics" 'bramble_webhook_requests_total{result="rejected"} 0' "no webhook counted before"
check "the refusals are counted" eq "$(metric 'bramble_webhook_requests_total{result="rejected"}')" 4
contains "$W/a.log" "webhook from 127.0.0.1 refused: bad signature" "a refusal is logged with its reason"
lacks "$W/a.log" "hmac-secret-1" "the secret never reaches the log"
lacks "$W/a.log" "refs/heads/main" "request bodies never reach the log"

# A good signature: the change in the repository is applied within a second or two.
sed -i 's/enable_uart: 1/enable_uart: 0/' "$W/repo/profiles.yaml"
t0=$(date +%s%N)
check "a good signature gets 202" eq "$(hook "$W/push.json" -H "X-Hub-Signature-256: sha256=$good")" 202
check "the change is applied within 5 s" wait_for 5 grep -q enable_uart=0 "$out/tftp/1234abcd/config.txt"
echo "# webhook to applied: $((($(date +%s%N) - t0) / 1000000)) ms"
check "the webhook pass is counted" wait_for 5 metric_is bramble_reconcile_passes_total 2
contains "$W/a.log" "pass (webhook): applied" "the pass says the webhook started it"

# The GitLab token.
sed -i 's/enable_uart: 0/enable_uart: 1/' "$W/repo/profiles.yaml"
check "a matching GitLab token gets 202" eq "$(hook "$W/push.json" -H 'X-Gitlab-Token: gitlab-token-1')" 202
check "the token's change is applied within 5 s" wait_for 5 grep -q enable_uart=1 "$out/tftp/1234abcd/config.txt"

# SIGHUP: a pass, and the webhook keys read again.
n=$(passes)
printf 'hmac-secret-2\n' >"$W/secret"
kill -HUP "$PID"
check "SIGHUP starts a pass" wait_for 5 passes_over "$n"
contains "$W/a.log" "pass (SIGHUP): applied" "the pass says SIGHUP started it"
check "after SIGHUP the old secret is refused" eq "$(hook "$W/push.json" -H "X-Hub-Signature-256: sha256=$good")" 401
check "after SIGHUP the new secret is accepted" eq "$(hook "$W/push.json" -H "X-Hub-Signature-256: sha256=$bad")" 202
check "and its pass runs" wait_for 5 passes_over $((n + 1))

# A broken revision: nothing applied, the last good state keeps serving.
served=$(cat "$out/tftp/1234abcd/config.txt")
cat >"$W/repo/broken.yaml" <<'EOF'
apiVersion: bramble/v1alpha1
kind: Node
metadata:
  name: pi-broken
spec:
  serial: 9999abcd
  colour: red
EOF
sed -i 's/enable_uart: 1/enable_uart: 0/' "$W/repo/profiles.yaml"
kill -HUP "$PID"
check "the broken revision fails its pass" wait_for 8 \
	metric_is 'bramble_reconcile_failures_total{reason="invalid"}' 1
check "/readyz stays 200: the last good revision serves" eq "$(http_code "$(url /readyz)")" 200
check "the served files are unchanged" eq "$(cat "$out/tftp/1234abcd/config.txt")" "$served"
check "status: Stalled=True" cond_is Stalled True
check "status: the error has file:line:col" \
	eq "$(status_field '[e for e in st["errors"] if "broken.yaml:7:3:" in e] != []')" True
check "status: lastAppliedRevision is still the good one" \
	eq "$(status_field 'st["lastAppliedRevision"] != st["lastAttemptedRevision"]')" True
contains "$W/a.log" "pass (SIGHUP): invalid" "the log line says the revision is invalid"
contains "$W/a.log" "next attempt in" "the log line says when the next attempt is"
# Retried after 1 s, 2 s, …: the same errors are logged once, then counted.
metric_over() { [ "$(metric "$1")" -ge "$2" ] 2>/dev/null; }
check "the retries fail too" wait_for 15 metric_over 'bramble_reconcile_failures_total{reason="invalid"}' 3
check "the same errors are logged once, not at every retry" \
	test "$(grep -c 'broken.yaml:7:3:' "$W/a.log")" -eq 1
contains "$W/a.log" "still failing (2 times) with the same 1 error: revision" "the first repeat is counted"
contains "$W/a.log" "still failing (3 times)" "and the next"
rm "$W/repo/broken.yaml"
check "the fixed revision is applied on the next retry" wait_for 10 grep -q enable_uart=0 "$out/tftp/1234abcd/config.txt"
check "status: Stalled=False again" wait_for 5 cond_is Stalled False
check "the retry applied it" wait_for 5 grep -q "pass (retry): applied" "$W/a.log"

# Start-up errors, while A holds its port.
expect_rc 64 "a bad listen address is a usage error" \
	"$BRAMBLE" run --source "$W/repo" --root "$W/x" --listen nonsense --set dhcp.testCommand= --set "$SECRETS"
contains "$W/last.err" 'bad listen address "nonsense"' "it says which address"
expect_rc 1 "a port in use fails the start" \
	"$BRAMBLE" run --source "$W/repo" --root "$W/x" --listen "127.0.0.1:$PORT" --set dhcp.testCommand= --set "$SECRETS"
expect_rc 1 "an unreadable secret file fails the start" \
	"$BRAMBLE" run --source "$W/repo" --root "$W/x" --listen 127.0.0.1:0 --set webhook.secretFile="$W/none"
contains "$W/last.err" "cannot read the webhook secret file" "it names the secret file"
expect_rc 64 "a bad --interval is a usage error" "$BRAMBLE" run --interval 5x --source "$W/repo"
check "no pass ran for the failed starts" test ! -e "$W/x/tftp"

stop_daemon TERM
check "SIGTERM: daemon A exits 0" eq "$RC" 0
contains "$W/a.log" "received SIGTERM" "it logs the signal"

# --- Daemon B: a broken source, no webhook keys, IPv6 loopback ------------
# The revision recorded by A keeps /readyz up; failed passes back off
# (1 s, 2 s, 4 s ...) instead of spinning.
mkdir -p "$W/broken"
cp "$W/repo/cluster.yaml" "$W/broken/"
printf 'kind: Node\nnot yaml: [\n' >"$W/broken/nodes.yaml"
if ip -6 addr show lo 2>/dev/null | grep -q '::1/128'; then LISTEN='[::1]:0'; HOST='[::1]'; fi
check "daemon B starts" daemon_start "$W/b.log" --source "$W/broken" --root "$out" --listen "${LISTEN:-127.0.0.1:0}"
[ "$HOST" = '[::1]' ] && check "B listens on [::1]" eq "$(http_code "$(url /healthz)")" 200
check "B is ready at once: status.json records an applied revision" \
	eq "$(http_code "$(url /readyz)")" 200
contains "$W/b.log" "webhook disabled" "no secret or token: the start says the webhook is disabled"
sig=$(sign "$W/push.json" hmac-secret-2)
check "a disabled webhook answers 401" eq "$(hook "$W/push.json" -H "X-Hub-Signature-256: sha256=$sig")" 401
sleep 4
metrics >"$W/metrics.b"
n=$(awk '$1 == "bramble_reconcile_passes_total" { print $2 }' "$W/metrics.b")
check "failed passes back off: 1 to 5 passes in the first 4 s, not hundreds ($n)" \
	test "$n" -ge 1 -a "$n" -le 5
contains "$W/metrics.b" "bramble_reconcile_failures_total{reason=\"invalid\"} $n" "every one of them failed"
contains "$W/b.log" "pass (retry): invalid" "the retries are logged"
stop_daemon INT
check "SIGINT: daemon B exits 0" eq "$RC" 0
LISTEN=127.0.0.1:0
HOST=127.0.0.1

# --- Daemon C: SIGTERM during a reload command that hangs -----------------
# SIGTERM is honoured within a second, also while a pass waits for a reload:
# the command (and what it started) is killed, the reload stays pending, and
# the next start runs it again.
mkdir -p "$W/out2/images"
cp -a "$out/images/demo-os" "$W/out2/images/"
check "daemon C starts" daemon_start "$W/c.log" --source "$W/repo" --root "$W/out2" \
	--set dhcp.restartCommand="echo \$\$ >'$W/c.reload'; $(gate_cmd c)"
STATUS_DIR=$W/out2
check "C's first pass waits in its dnsmasq restart" wait_for 20 test -s "$W/c.reload"
stop_daemon TERM
check "SIGTERM during a reload: the daemon exits within 2 s (${STOP_MS} ms)" test "$STOP_MS" -le 2000
check "SIGTERM during a reload: exit 0" eq "$RC" 0
check "the reload command is killed with it" wait_for 2 sh -c "! kill -0 $(cat "$W/c.reload")"
contains "$W/c.log" "restart dnsmasq: stopped (bramble is stopping)" "the log says the reload was cut short"
check "status after the stop: Ready is not True" \
	eq "$(status_field 'c["Reconciling"]["status"] + c["Ready"]["status"]')" FalseFalse
expect_rc 2 "the reload is still pending: plan says so" \
	"$BRAMBLE" plan --source "$W/repo" --root "$W/out2" --set dhcp.testCommand= --set "$SECRETS"
contains "$W/last.out" "restart dnsmasq (retrying a reload that failed)" "plan names the reload to retry"
check "the next start continues" daemon_start "$W/d.log" --source "$W/repo" --root "$W/out2" \
	--set dhcp.restartCommand="touch '$W/d.reload'"
check "it runs the reload the stopped pass left" wait_for 10 test -e "$W/d.reload"
check "its first pass applies (the tree the stopped pass left is healed)" wait_for 10 \
	grep -q 'pass (start): applied' "$W/d.log"
stop_daemon TERM
check "daemon D exits 0" eq "$RC" 0
expect_rc 0 "the state is consistent: plan finds nothing to change" \
	"$BRAMBLE" plan --source "$W/repo" --root "$W/out2" --set dhcp.testCommand= --set "$SECRETS"

# --- Daemon E: SIGTERM while the pass waits for a lock held elsewhere -------
# The wait for the pass lock (held by a `bramble apply` run by hand) polls
# the stop: the daemon ends within a second, by itself, not by the backstop.
flock "$W/out2/state/lock" sleep 30 &
LOCKER=$!
T_PIDS+=("$LOCKER")
check "daemon E starts" daemon_start "$W/e.log" --source "$W/repo" --root "$W/out2"
check "E waits for the lock" wait_for 10 grep -q 'another pass is applying' "$W/e.log"
stop_daemon TERM
check "SIGTERM while waiting for the lock: exit within 1 s (${STOP_MS} ms, at most 1.5 s with the polling)" test "$STOP_MS" -le 1500
check "it exits 0: the wait stopped by itself" eq "$RC" 0
contains "$W/e.log" "interrupted (bramble is stopping) while waiting for the pass lock" "it says why"
lacks "$W/e.log" "still busy 1 s after the signal to stop" "not by the backstop"
stop_pid "$LOCKER"
expect_rc 0 "the state is consistent: plan finds nothing to change" \
	"$BRAMBLE" plan --source "$W/repo" --root "$W/out2" --set dhcp.testCommand= --set "$SECRETS"

done_testing
