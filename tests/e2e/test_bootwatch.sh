# Boot observation on the wire: the real dnsmasq runs bramble's rendered
# configuration (proxy mode, log-dhcp, log-facility=OUT/dnsmasq/dnsmasq.log)
# in a network namespace; `bramble run` follows that log.  Two simulated Pis
# in a client namespace do the bootloader's DHCP (pi_dhcp_probe.py: options
# 60/93/94/97) and TFTP (busybox tftp): a node of the manifests (1234abcd,
# 10.99.0.42) fetches its boot files; an unknown Pi (9ffefdef, 10.99.0.77)
# asks for 9ffefdef/start4.elf and is refused.  Checked: `bramble status`,
# /status, /metrics, `bramble discover` (its manifest validates and, added to
# the repository, makes the Pi a node), a log rotation (moved away, a new
# file, SIGUSR2 to dnsmasq) and a daemon restart that keeps the observations
# without counting a line twice.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/bootwatch_env.sh"
bootwatch_up
contains "$out/dnsmasq/bramble.conf" "log-dhcp" "... with the DHCP details (option 97)"

check "the known Pi gets the proxy PXE reply" pi_dhcp "$KNOWN_MAC" 1234abcd
for f in config.txt start4.elf fixup4.dat config.txt bcm2711-rpi-4-b.dtb cmdline.txt kernel8.img; do
	pi_get 10.99.0.42 "1234abcd/$f" || not_ok "the known Pi fetches 1234abcd/$f"
done
check "the unknown Pi gets the proxy PXE reply" pi_dhcp "$UNKNOWN_MAC" 9ffefdef
if pi_get 10.99.0.77 9ffefdef/start4.elf; then not_ok "the unknown Pi is refused 9ffefdef/start4.elf"; else
	ok "the unknown Pi is refused 9ffefdef/start4.elf"; fi

# /status: the same document as bramble status --json (boot.json is written within 2 s)
check "/status: the known node's boot got to its kernel" \
	within 10 status_has "$KNOWN.get('stage')=='kernel'"
check "/status: ... with its MAC, model, address and last DHCP (the proxy PXE reply)" \
	status_has "$KNOWN['mac']=='$KNOWN_MAC' and $KNOWN['model']=='pi4' and $KNOWN['address']=='10.99.0.42' and $KNOWN['lastDhcp']['type']=='PXE'"
check "/status: ... and the files served, in order" \
	status_has "$KNOWN['files']==['config.txt','start4.elf','fixup4.dat','bcm2711-rpi-4-b.dtb','cmdline.txt','kernel8.img']"
UNK='[u for u in d["unknownPis"] if u["serial"]=="9ffefdef"]'
check "/status: the unknown Pi is listed with its MAC (option 97), model and refused file" within 10 \
	status_has "len($UNK)==1 and $UNK[0]['mac']=='$UNKNOWN_MAC' and $UNK[0]['model']=='pi4' and $UNK[0]['lastError']=={'kind':'not found','file':'start4.elf','time':$UNK[0]['lastError']['time']}"
check "/status: no other node was seen" status_has "all('boot' not in n for n in d['nodes'] if n['serial']!='1234abcd')"

b status >"$W/status.txt"
check "bramble status: the node's row has last seen and stage" \
	grep -Eq '^pi4-a +1234abcd +10\.99\.0\.42 +pi4 +yes +20[0-9-]+T[0-9:]+Z +kernel' "$W/status.txt"
status_row() { b status >"$W/status.txt" && grep -Eq "$1" "$W/status.txt"; }
check "bramble status: the unknown Pi's row" \
	within 10 status_row "^9ffefdef +$UNKNOWN_MAC +pi4 +10\.99\.0\.77 .*start4\.elf not found"

curl -sf "$(url /metrics)" >"$W/metrics.txt"
contains "$W/metrics.txt" 'bramble_unknown_pis 1' "/metrics: one unknown Pi"
contains "$W/metrics.txt" 'bramble_boot_nodes{stage="kernel"} 1' "/metrics: one node's boot reached its kernel"
check "/metrics: boot events counted" grep -Eq '^bramble_boot_events_total [1-9][0-9]*$' "$W/metrics.txt"
check "/metrics: no label names a node" sh -c "! grep -E '^bramble_(boot|unknown)' '$W/metrics.txt' | grep -q -e 1234abcd -e 9ffefdef"

# bramble discover reads the saved observations (state/boot.json, written within 2 s)
check "the unknown Pi is saved" within 10 grep -q 9ffefdef "$out/state/boot.json"
# bramble discover: a Node manifest with a free address; committed, it makes the Pi a node
expect_rc 0 "bramble discover" b discover
cp "$W/last.out" "$W/discovered.yaml"
contains "$W/discovered.yaml" 'serial: "9ffefdef"' "discover: the unknown serial"
contains "$W/discovered.yaml" "mac: \"$UNKNOWN_MAC\"" "discover: its MAC"
contains "$W/discovered.yaml" 'model: pi4' "discover: its model"
# the examples use .42-.44, the server .1, the router .254; .77 was seen (the router's pool)
contains "$W/discovered.yaml" 'ip: 10.99.0.45' "discover: the first free address after the nodes"
expect_rc 0 "bramble discover --json" b discover --json
check "discover --json: bramble/discover/v1, the Pi and its manifest" python3 -c "
import json, sys
d = json.load(open(sys.argv[1]))
assert d['schema'] == 'bramble/discover/v1' and d['observed'] is True and d['subnet'] == '10.99.0.0/24', d
p = [x for x in d['pis'] if x['serial'] == '9ffefdef']
assert len(p) == 1, d
p = p[0]
assert p['mac'] == sys.argv[2] and p['model'] == 'pi4' and p['ip'] == '10.99.0.45' and p['ipNeedsMac'] is False, p
assert p['name'] and p['firstSeen'] and p['lastSeen'] and p['macOwner'] is None, p
assert p['lastRequest'] == {'file': 'start4.elf', 'kind': 'not found'}, p
assert p['manifest'] in open(sys.argv[3]).read(), p['manifest']
" "$W/last.out" "$UNKNOWN_MAC" "$W/discovered.yaml"
cp "$W/discovered.yaml" "$repo/nodes/discovered.yaml"
expect_rc 0 "the discovered manifest validates" b validate
kill -HUP "$BR_PID"
check "after a pass, the Pi is a node and no longer unknown" \
	within 15 status_has "any(n['serial']=='9ffefdef' and n.get('boot',{}).get('lastError',{}).get('file')=='start4.elf' for n in d['nodes']) and d['unknownPis']==[]"
check "/metrics: no unknown Pi left" within 5 sh -c "curl -sf '$(url /metrics)' | grep -qx 'bramble_unknown_pis 0'"

# Log rotation as logrotate does it: move, create (owned by dnsmasq's user), SIGUSR2
owner=$(stat -c %U "$out/dnsmasq/dnsmasq.log")
mv "$out/dnsmasq/dnsmasq.log" "$out/dnsmasq/dnsmasq.log.1"
install -m 0640 -o "$owner" /dev/null "$out/dnsmasq/dnsmasq.log"
kill -USR2 "$DNS_PID"
check "rotation: the known Pi boots again" pi_dhcp "$KNOWN_MAC" 1234abcd
pi_get 10.99.0.42 1234abcd/config.txt
check "rotation: dnsmasq writes the new file" wait_for 5 grep -q 'sent .*1234abcd/config.txt' "$out/dnsmasq/dnsmasq.log"
check "rotation: the daemon follows it (a second boot, at config.txt)" \
	within 10 status_has "$KNOWN.get('boots')==2 and $KNOWN.get('stage')=='config'"
grep -q 'was rotated' "$W/run.log" && ok "rotation: the daemon says so" || not_ok "rotation: the daemon says so"

# Restart: the observations survive, and no line is read twice
wait_for 5 test -s "$out/state/boot.json"
stop_pid "$BR_PID"
events_before=$(python3 -c "import json; print(json.load(open('$out/state/boot.json'))['events'])")
check "restart: the daemon starts again" bw_daemon_start
check "restart: the observations are still there" status_has "$KNOWN.get('boots')==2"
pi_get 10.99.0.42 1234abcd/start4.elf
check "restart: a new request is seen" within 10 status_has "$KNOWN.get('stage')=='firmware'"
events_after=$(python3 -c "import json; print(json.load(open('$out/state/boot.json'))['events'])")
check "restart: only the new line was counted ($events_before -> $events_after)" \
	test "$events_after" -eq $((events_before + 1))
grep -q 'where the last run stopped' "$W/run.log" && ok "restart: it went on from the saved position" ||
	not_ok "restart: it went on from the saved position"

# Two unknown Pis whose serials start with the same byte (all that option 97
# shows of a serial in dnsmasq's log), each with its own MAC: only the
# server's ARP table ties each one's TFTP request to its MAC.
pi_mac 1 dc:a6:32:00:00:91 10.99.0.91
pi_mac 2 dc:a6:32:00:00:92 10.99.0.92
pi_dhcp dc:a6:32:00:00:91 9f000001 && pi_dhcp dc:a6:32:00:00:92 9f000002
check "arp: both Pis get the proxy PXE reply" test $? -eq 0
pi_get 10.99.0.92 9f000002/start4.elf
pi_get 10.99.0.91 9f000001/start4.elf
UNK1='[u for u in d["unknownPis"] if u["serial"]=="9f000001"]'
UNK2='[u for u in d["unknownPis"] if u["serial"]=="9f000002"]'
check "arp: each unknown Pi is listed with its own MAC (from the ARP table)" \
	within 10 status_has "len($UNK1)==1 and $UNK1[0].get('mac')=='dc:a6:32:00:00:91' and len($UNK2)==1 and $UNK2[0].get('mac')=='dc:a6:32:00:00:92'"

stop_pid "$BR_PID"
stop_pid "$DNS_PID"
if [ "$T_FAIL" -ne 0 ]; then
	echo "# bramble run log:"; tail -20 "$W/run.log" | sed 's/^/    | /'
	echo "# dnsmasq log:"; tail -20 "$out/dnsmasq/dnsmasq.log" | sed 's/^/    | /'
fi
done_testing
