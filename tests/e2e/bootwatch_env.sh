# Shared by test_bootwatch.sh and test_boot_switch.sh (sourced after lib.sh):
# a server and a client namespace joined by a veth pair, the example
# repository in proxy mode on the server's interface, and helpers to run
# dnsmasq from bramble's configuration, `bramble run`, and a simulated Pi.
# bootwatch_up runs the first three and checks each.
skip() { echo "$T_NAME: skipped ($1)"; exit 77; }
[ "$(id -u)" -eq 0 ] || skip "needs root for network namespaces"
for tool in dnsmasq busybox python3 ip curl; do
	command -v "$tool" >/dev/null || skip "no $tool"
done
PROBE=$SRC/tests/e2e/pi_dhcp_probe.py
out=$W/out
repo=$W/repo
chmod 755 "$W" # dnsmasq drops root: it must reach OUT/tftp through $W
NS_S=bobserve$$-s NS_C=bobserve$$-c IF_S=bobs$$s IF_C=bobs$$c
KNOWN_MAC=dc:a6:32:00:00:01 UNKNOWN_MAC=dc:a6:32:00:00:99
netns_add "$NS_S" && netns_add "$NS_C" || skip "cannot create network namespaces"
# Each Pi sends from its own MAC, as on separate hosts: the known one from the
# veth's end, the unknown one from a macvlan; a macvlan answers ARP only for
# its own address (arp_ignore=1) and asks from it (arp_announce=2).
veth_pair "$NS_S" "$IF_S" "$NS_C" "$IF_C" "$KNOWN_MAC" || skip "cannot create a veth pair"
for k in all.arp_ignore=1 all.arp_announce=2 all.rp_filter=0 default.rp_filter=0; do
	ip netns exec "$NS_C" sysctl -qw "net.ipv4.conf.$k"
done
# pi_mac I MAC ADDR: a macvlan (bobs<pid>mI) for a Pi with this MAC and address
pi_mac() {
	ip -n "$NS_C" link add link "$IF_C" name "bobs$$m$1" address "$2" type macvlan mode bridge &&
		ip -n "$NS_C" addr add "$3/24" dev "bobs$$m$1" && ip -n "$NS_C" link set "bobs$$m$1" up
}
ip -n "$NS_S" addr add 10.99.0.1/24 dev "$IF_S"
ip -n "$NS_C" addr add 10.99.0.42/24 dev "$IF_C"
pi_mac 0 "$UNKNOWN_MAC" 10.99.0.77 || skip "cannot create a macvlan"

setup_example
sed -i "s/interface: eth0/interface: $IF_S/" "$repo/cluster.yaml"
b() { "$BRAMBLE" "$@" --source "$repo" --root "$out" --set dhcp.testCommand= --set "$SECRETS"; }

DNS_PID=
dns_start() {
	ip netns exec "$NS_S" dnsmasq -k --conf-file="$out/dnsmasq/bramble.conf" \
		--pid-file="$W/dnsmasq.run.pid" >>"$W/dnsmasq.stderr" 2>&1 &
	DNS_PID=$!
	T_PIDS+=("$DNS_PID")
	wait_for 5 grep -q 'TFTP root is' "$out/dnsmasq/dnsmasq.log"
}

BR_PID= PORT=
# bw_daemon_start ARGS...: the daemon on this repository, its log in
# $W/run.log; sets BR_PID and PORT, and waits for its first pass to start.
bw_daemon_start() {
	daemon_start "$W/run.log" --source "$repo" --root "$out" "$@" || return 1
	BR_PID=$PID
	wait_for 10 grep -q 'pass (start)' "$W/run.log"
}
url() { echo "http://127.0.0.1:$PORT$1"; }
# within SECONDS COMMAND...: like wait_for, but bounded in time (each try runs python)
within() {
	local end=$(($(date +%s) + $1)); shift
	until "$@" >/dev/null 2>&1; do
		[ "$(date +%s)" -lt "$end" ] || return 1
		sleep 0.2
	done
}

# A Pi: DHCP as the bootloader does it (proxy reply), then TFTP from ADDR.
pi_dhcp() { ip netns exec "$NS_C" python3 "$PROBE" --iface "$IF_C" --mac "$1" --serial "$2" \
	--timeout 2 --tries 2 --first >/dev/null; }
pi_get() { # ADDR FILE: from the interface that has ADDR
	local dev
	dev=$(ip -n "$NS_C" -o addr show to "$1/32" | awk '{print $2; exit}')
	ip -n "$NS_C" route replace 10.99.0.1/32 dev "${dev%@*}" src "$1"
	ip netns exec "$NS_C" busybox tftp -b 1468 -g -r "$2" -l "$W/fetched" 10.99.0.1 2>/dev/null
}
# status_has PYTHON-EXPR: /status (as d) satisfies it; KNOWN: node 1234abcd's boot record
jq_py() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if ($2) else 1)" "$1"; }
status_has() { curl -sf "$(url /status)" >"$W/status.json" && jq_py "$W/status.json" "$1"; }
KNOWN='[n for n in d["nodes"] if n["serial"]=="1234abcd"][0].get("boot",{})'

bootwatch_up() {
	expect_rc 0 "apply renders the dnsmasq configuration" b apply -q
	contains "$out/dnsmasq/bramble.conf" "log-facility=$out/dnsmasq/dnsmasq.log" \
		"the configuration logs to the file the daemon follows"
	check "dnsmasq starts with bramble's configuration" dns_start
	check "bramble run starts" bw_daemon_start
}
