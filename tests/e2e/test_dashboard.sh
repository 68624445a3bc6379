# The Grafana dashboard (deploy/grafana/bramble.json) against the metrics a
# real `bramble run` serves: every bramble_* name a panel queries is a family
# /metrics exports (histograms through _bucket/_sum/_count), every family is
# on some panel, every label value a query selects on is one the daemon
# emits, and the JSON is a dashboard Grafana imports (unique panel ids, every
# query on the data source variable, grid positions inside 24 columns).
. "$(dirname "$0")/lib.sh"
DASH=$SRC/deploy/grafana/bramble.json
setup_example
b() { "$BRAMBLE" "$@" --source "$W/repo" --root "$W/out" --set dhcp.testCommand= --set "$SECRETS"; }
expect_rc 0 "apply renders the example" b apply -q
mkdir -p "$W/out/dnsmasq" && : >"$W/out/dnsmasq/dnsmasq.log" # boot observation on
check "the daemon starts" daemon_start "$W/run.log" --source "$W/repo" --root "$W/out"
wait_for 10 grep -q 'pass (start)' "$W/run.log"
check "the daemon serves /metrics" curl -sf -o "$W/metrics.txt" "http://127.0.0.1:$PORT/metrics"
check "boot observation is on (its families are exported)" grep -q '^bramble_boot_nodes{' "$W/metrics.txt"

python3 "$SRC/tests/e2e/dashboard_check.py" "$DASH" "$W/metrics.txt" >"$W/check.out" 2>&1
rc=$?
check "the dashboard matches the exported metrics ($(grep -c '^ok' "$W/check.out") checks)" test "$rc" -eq 0
[ "$rc" -eq 0 ] || grep -v '^ok' "$W/check.out" | sed 's/^/    | /'
# The check can fail: a misspelt name, and a family left off every panel
sed 's/bramble_unknown_pis{/bramble_unknown_pies{/g' "$DASH" >"$W/bad.json"
python3 "$SRC/tests/e2e/dashboard_check.py" "$W/bad.json" "$W/metrics.txt" >"$W/bad.out" 2>&1
check "a misspelt metric fails the check" sh -c "test $? -ne 0 && grep -q 'FAIL .*bramble_unknown_pies is exported' '$W/bad.out' && grep -q 'FAIL bramble_unknown_pis is on a panel' '$W/bad.out'"
done_testing
