# Notifications out (notify.*): `bramble run` on the example repository
# POSTs events to real HTTP receivers on 127.0.0.1 (notify_receiver.py, which
# records method, path, headers and bodies).  A broken manifest gives one
# pass_failed with its file:line message (the retries send nothing more), the
# fix gives recovered; the Slack, Discord and Matrix bodies go to the targets
# of notify.urlFile; a receiver answering 500 twice gets the event on the
# third try; the bearer token is sent; an unknown Pi in dnsmasq's log gives
# unknown_pi, a boot that stops short of its kernel boot_stalled.  A receiver
# that never answers delays no pass, and SIGTERM still exits at once.  https
# with a self-signed certificate is refused without notify.caFile, and
# delivered with it.  A URL that is not http(s) is refused at load, with its
# position and without the URL.
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || skip_test "no python3"
command -v openssl >/dev/null || skip_test "no openssl"
setup_example
out=$W/out
RECV=$SRC/tests/e2e/notify_receiver.py
mkdir -p "$out/dnsmasq" && : >"$out/dnsmasq/dnsmasq.log" # boot observation on

# receiver NAME [ARGS]: start one; its port in $W/NAME.port, records in $W/NAME.jsonl
receiver() {
	local name=$1; shift
	rm -f "$W/$name.port"
	: >"$W/$name.jsonl"
	python3 "$RECV" "$W/$name.port" "$W/$name.jsonl" "$@" &
	T_PIDS+=("$!")
	eval "${name}_PID=$!"
	wait_for 10 test -s "$W/$name.port" || return 1
	eval "${name}_PORT=$(cat "$W/$name.port")"
}
# q NAME EXPR: EXPR (python, over r: the records of receiver NAME) is true
q() {
	python3 - "$W/$1.jsonl" "$2" <<'EOF'
import json, sys
r = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
ok = [x for x in r if x["status"] == 200]
def ev(kind):
    return [x["body"] for x in ok if isinstance(x["body"], dict) and x["body"].get("event") == kind]
sys.exit(0 if eval(sys.argv[2]) else 1)
EOF
}
# show NAME: the records, for a failure's report
show() { sed 's/^/    | /' "$W/$1.jsonl" | head -20; }
# rund NAME ARGS...: `bramble run` in the background, log in $W/NAME.log
rund() {
	local name=$1; shift
	daemon_start "$W/$name.log" --source "$W/repo" --root "$out" "$@" &&
		wait_for 20 grep -q 'pass (start)' "$W/$name.log"
}
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

# --- A URL that is not http(s) is refused at load -----------------------
printf 'notify:\n  url: "ftp://user:s3cret@example.invalid/x"\n' >"$W/bad.yaml"
expect_rc 64 "notify.url ftp:// is refused" "$BRAMBLE" validate -c "$W/bad.yaml" --source "$W/repo" \
	--root "$out" --set "$SECRETS"
contains "$W/last.err" "bad.yaml:2:3: bad URL for \"url\"" "the error names file:line:col"
lacks "$W/last.err" "s3cret" "the error does not repeat the URL (it may hold a token)"
expect_rc 64 "--set notify.url=file:///etc/passwd is refused" "$BRAMBLE" validate --source "$W/repo" \
	--root "$out" --set "$SECRETS" --set notify.url=file:///etc/passwd
expect_rc 64 "notify.retries past 10 is refused" "$BRAMBLE" validate --source "$W/repo" \
	--root "$out" --set "$SECRETS" --set notify.retries=11
(umask 077 && printf 'json http://127.0.0.1:9/a\ntelegram http://127.0.0.1:9/t\nslack gopher://127.0.0.1/x\n' \
	>"$W/badurls")
"$BRAMBLE" run --source "$W/repo" --root "$out" --set dhcp.testCommand= --set "$SECRETS" \
	--listen 127.0.0.1:0 --set "notify.urlFile=$W/badurls" >"$W/badurls.log" 2>&1 &
T_PIDS+=("$!")
check "a daemon with a bad notify.urlFile does not start" wait_for 10 sh -c "! kill -0 $! 2>/dev/null"
contains "$W/badurls.log" "badurls:2:1: bad line" "the bad format is reported with its position"
contains "$W/badurls.log" "badurls:3:7: expected an http:// or https:// URL" "the bad URL too"
lacks "$W/badurls.log" "gopher" "the urlFile's URLs are never logged"

# --- Daemon A: events, formats, retries, token, boot events -------------
receiver json --fail 2 || skip_test "cannot start a receiver"
receiver chat
(umask 077 && printf 's3cr3t-token\n' >"$W/token")
cat >"$W/urls" <<EOF
# chat bridges
slack http://127.0.0.1:$chat_PORT/slack?token=hidden
discord  http://127.0.0.1:$chat_PORT/discord

matrix http://127.0.0.1:$chat_PORT/matrix
EOF
chmod 600 "$W/urls"
rund a --set "notify.url=http://127.0.0.1:$json_PORT/hook" --set "notify.urlFile=$W/urls" \
	--set "notify.tokenFile=$W/token" --set notify.bootStall=2s
check "daemon A: the first pass is applied" grep -q 'pass (start): applied' "$W/a.log"
contains "$W/a.log" "notifications: 4 targets" "the four targets are read"
sleep 1
check "an applied pass sends nothing" q json 'len(r) == 0'

break_repo
kill -HUP "$PID"
check "the broken revision's pass_failed reaches the JSON receiver (third try)" \
	wait_for 15 q json 'len(ev("pass_failed")) == 1'
check "it took two 500s and a 200" q json '[x["status"] for x in r] == [500, 500, 200]'
check "the retries waited about 1 s and 2 s" q json 'r[1]["time"]-r[0]["time"] >= 0.8 and r[2]["time"]-r[1]["time"] >= 1.8'
check "the event: schema, kind, revision, file:line message, host" q json "[b for b in ev('pass_failed')
if b['schema'] == 'bramble/event/v1' and b['revision'] and 'broken.yaml:7:3:' in b['message']
and b['host'] == '$(hostname)' and b['time'].endswith('Z')]" || show json
check "POST to the URL's path, as JSON" q json 'all(x["method"] == "POST" and x["path"] == "/hook" and x["headers"]["Content-Type"] == "application/json" for x in r)'
check "the bearer token is sent" q json 'all(x["headers"].get("Authorization") == "Bearer s3cr3t-token" for x in r)'
check "the chat targets get it too" wait_for 5 q chat 'len(ok) == 3'
check "slack: {\"text\"}" q chat "[x['body'] for x in ok if x['path'].startswith('/slack')][0]['text'].startswith('bramble@$(hostname) pass_failed: ')"
check "the slack URL's query reaches the receiver" q chat '[x for x in ok if x["path"] == "/slack?token=hidden"]'
check "discord: {\"content\"}" q chat "'broken.yaml:7:3:' in [x['body'] for x in ok if x['path'] == '/discord'][0]['content']"
check "matrix: {\"msgtype\": \"m.text\", \"body\"}" q chat "[x['body'] for x in ok if x['path'] == '/matrix'][0]['msgtype'] == 'm.text' and 'pass_failed' in [x['body'] for x in ok if x['path'] == '/matrix'][0]['body']"
lacks "$W/a.log" "token=hidden" "no URL is logged whole"
lacks "$W/a.log" "s3cr3t" "the token is never logged"
contains "$W/a.log" "notification pass_failed sent to http://127.0.0.1:$json_PORT " "the log names scheme://host only"
check "the failing pass is retried" wait_for 10 sh -c "[ \$(grep -c 'pass (retry): invalid' '$W/a.log') -ge 2 ]"
check "the retries send no more pass_failed" q json 'len(ev("pass_failed")) == 1'
check "… to any target" q chat 'len(ok) == 3'

rm "$W/repo/broken.yaml"
kill -HUP "$PID" # at once, not after the backoff
check "the fix gives recovered" wait_for 15 q json 'len(ev("recovered")) == 1'
check "recovered names the revision" q json 'ev("recovered")[0]["revision"] and ev("recovered")[0]["message"].startswith("revision ")'
check "… on every chat target" wait_for 5 q chat 'len(ok) == 6'

# an unknown Pi asks for its boot files: DHCP, then a file not found
now() { date '+%b %e %H:%M:%S'; }
{
	echo "$(now) dnsmasq-dhcp[77]: 7 DHCPACK(eth0) 10.99.0.101 dc:a6:32:00:00:09 "
	echo "$(now) dnsmasq-tftp[77]: file $out/tftp/9ffefdef/start4.elf not found for 10.99.0.101"
} >>"$out/dnsmasq/dnsmasq.log"
check "an unknown Pi gives unknown_pi" wait_for 10 q json 'len(ev("unknown_pi")) == 1'
check "unknown_pi: serial and MAC" q json 'ev("unknown_pi")[0]["serial"] == "9ffefdef" and ev("unknown_pi")[0]["mac"] == "dc:a6:32:00:00:09"' || show json
echo "$(now) dnsmasq-tftp[77]: file $out/tftp/9ffefdef/start4.elf not found for 10.99.0.101" \
	>>"$out/dnsmasq/dnsmasq.log"
sleep 2
check "the same unknown Pi again: no second event" q json 'len(ev("unknown_pi")) == 1'

# pi4-a (1234abcd) starts a boot and stops after its firmware
{
	echo "$(now) dnsmasq-dhcp[77]: 9 DHCPACK(eth0) 10.99.0.42 dc:a6:32:00:00:01 pi4-a"
	echo "$(now) dnsmasq-tftp[77]: sent $out/tftp/1234abcd/start4.elf to 10.99.0.42"
} >>"$out/dnsmasq/dnsmasq.log"
check "a boot that stops short of its kernel gives boot_stalled (notify.bootStall=2s)" \
	wait_for 10 q json 'len(ev("boot_stalled")) == 1'
check "boot_stalled: node, serial, message" q json '[b for b in ev("boot_stalled")
if b["node"] == "pi4-a" and b["serial"] == "1234abcd" and "firmware" in b["message"]]' || show json
sleep 2
check "once per boot" q json 'len(ev("boot_stalled")) == 1'
echo "$(now) dnsmasq-tftp[77]: sent $out/tftp/1234abcd/kernel8.img to 10.99.0.42" >>"$out/dnsmasq/dnsmasq.log"
PORT=$(sed -n 's/.*listening on .* (port \([0-9]*\)).*/\1/p' "$W/a.log" | head -1)
curl -sf "http://127.0.0.1:$PORT/metrics" >"$W/metrics.txt"
contains "$W/metrics.txt" 'bramble_notifications_total{result="sent"} 16' "/metrics: 16 sent (4 events to 4 targets)"
contains "$W/metrics.txt" 'bramble_notifications_total{result="failed"} 0' "/metrics: none failed"
contains "$W/metrics.txt" 'bramble_notifications_total{result="dropped"} 0' "/metrics: none dropped"
stop_pid "$PID"
stop_pid "$json_PID"
stop_pid "$chat_PID"

# --- Daemon B: a receiver that never answers ----------------------------
receiver hang --hang
rund b --set "notify.url=http://127.0.0.1:$hang_PORT/x" --set notify.timeout=60s
break_repo
kill -HUP "$PID"
check "the hanging receiver got the event" wait_for 10 q hang 'len(r) == 1'
check "the next passes are not delayed (retries at 1 s, 2 s)" \
	wait_for 6 sh -c "[ \$(grep -c 'pass (retry): invalid' '$W/b.log') -ge 2 ]"
t0=$(date +%s%N)
kill "$PID"
wait "$PID"
rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
forget_pid "$PID"
check "SIGTERM exits 0 with a delivery in flight" test "$rc" -eq 0
check "… at once (${ms} ms)" test "$ms" -lt 1000
contains "$W/b.log" "not sent (stopping)" "the delivery in flight is given up"
stop_pid "$hang_PID"
rm "$W/repo/broken.yaml"

# --- Daemon C: https with a self-signed certificate ---------------------
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 \
	-addext subjectAltName=IP:127.0.0.1 -keyout "$W/key.pem" -out "$W/cert.pem" 2>/dev/null ||
	skip_test "openssl cannot make a certificate"
receiver tls --tls "$W/cert.pem" "$W/key.pem"
cat >"$W/c.yaml" <<EOF
notify:
  url: https://127.0.0.1:$tls_PORT/tls
  retries: 0
EOF
rund c -c "$W/c.yaml"
break_repo
kill -HUP "$PID"
check "without notify.caFile the self-signed receiver is refused" \
	wait_for 10 grep -q "notification pass_failed to https://127.0.0.1:$tls_PORT not sent" "$W/c.log"
grep 'notification pass_failed' "$W/c.log" | sed 's/^/    | /'
check "… nothing reached it" q tls 'len(r) == 0'
printf '  caFile: %s\n' "$W/cert.pem" >>"$W/c.yaml"
rm "$W/repo/broken.yaml"
kill -HUP "$PID" # the configuration again, with caFile, and a pass that recovers
check "with notify.caFile it is delivered (recovered)" wait_for 10 q tls 'len(ev("recovered")) == 1'
stop_pid "$PID"
stop_pid "$tls_PID"
done_testing
