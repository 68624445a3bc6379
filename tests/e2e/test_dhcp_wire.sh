#!/bin/bash
# DHCP and TFTP on the wire: the real dnsmasq runs bramble's rendered config in
# a server network namespace and pi_dhcp_probe.py asks it for an address the
# way a Pi 4 bootloader does; busybox tftp fetches the boot files.
#   1. full mode: reserved address, option 43 "Raspberry Pi Boot", option 66;
#      an unknown MAC gets a pool address; the boot files over TFTP are
#      byte-identical to OUT/tftp/<serial>/.
#   2. a node changing while it is being fetched: every file is complete and
#      one of the rendered versions; versions never go backwards; the newest
#      is served after the last apply.
#   3. reload semantics: an added node needs nothing (inotify), a removed one
#      or a changed reservation needs dhcp.reloadCommand (SIGHUP), a Cluster
#      change dhcp.restartCommand; each shown to matter on the wire.
#   4. proxy mode next to a "router" dnsmasq: the proxy reply carries the PXE
#      menu and names the netboot server; TFTP still works.
#   5. external mode: a router set up from the plan's instructions boots a
#      simulated Pi 3 (siaddr = next-server) and a Pi 4 (option 66).
# Topology (all inside namespaces this test creates, 10.99.0.0/24): a switch
# namespace with a bridge, and three hosts on it: server S (10.99.0.1, pbw-s,
# bramble's dnsmasq), client C (pbw-c, the "Pi"), router R (10.99.0.254).
. "$(dirname "$0")/lib.sh"
need_root
for tool in dnsmasq busybox python3 ip ss; do
	command -v "$tool" >/dev/null || skip_test "no $tool"
done
FIX=$SRC/tests/e2e/fixtures
PROBE=$SRC/tests/e2e/pi_dhcp_probe.py
out=$W/out
repo=$W/repo
ACT=$W/actions # one line per post-apply command bramble ran
chmod 755 "$W" # dnsmasq drops root (to nobody): it must reach OUT/tftp through $W
touch "$ACT"

# --- topology
NS_SW=pbw-$$-sw NS_S=pbw-$$-s NS_C=pbw-$$-c NS_R=pbw-$$-r
for ns in "$NS_SW" "$NS_S" "$NS_C" "$NS_R"; do netns_add "$ns" || { not_ok "create namespace $ns"; done_testing; exit; }; done
ip -n "$NS_SW" link add br0 type bridge stp_state 0 forward_delay 0
ip -n "$NS_SW" link set br0 up
veth_pair "$NS_S" pbw-s "$NS_SW" sw-s
veth_pair "$NS_C" pbw-c "$NS_SW" sw-c
veth_pair "$NS_R" pbw-r "$NS_SW" sw-r
ip -n "$NS_C" link set pbw-c address dc:a6:32:00:00:01
for p in sw-s sw-c sw-r; do ip -n "$NS_SW" link set "$p" master br0; done
ip -n "$NS_S" addr add 10.99.0.1/24 dev pbw-s
ip -n "$NS_R" addr add 10.99.0.254/24 dev pbw-r
if command -v ping >/dev/null; then
	check "topology: server reaches router over the bridge" wait_for 5 ip netns exec "$NS_S" ping -c1 -W1 10.99.0.254
fi

# --- bramble
mkdir -p "$out/images"
sh "$SRC/scripts/make-demo-image.sh" "$out/images/demo-os" >/dev/null
cp -r "$FIX/netboot" "$repo"
# apply with the real dnsmasq --test and commands that record what they were asked to do
ba() {
	echo "# apply" >>"$ACT"
	"$BRAMBLE" apply --source "$repo" --root "$out" \
		--set dhcp.restartCommand="echo restart >>$ACT" \
		--set dhcp.reloadCommand="echo reload >>$ACT; kill -HUP \$(cat $W/dnsmasq.pid)" \
		--set nfs.reloadCommand="echo nfs >>$ACT" "$@"
}
# the commands the last apply ran, e.g. "reload nfs"
last_acts() { awk '/^# apply/ { s = ""; next } { s = s (s ? " " : "") $0 } END { print s }' "$ACT"; }
# acts_is DESC WANT: the last apply ran exactly the commands WANT
acts_is() { local got; got=$(last_acts); if [ "$got" = "$2" ]; then ok "$1"; else not_ok "$1 (ran \"$got\", expected \"$2\")"; fi; }

# --- servers
DNS_PID=
listening() { ip netns exec "$1" ss -lnu | grep -q ":$2 "; }
dns_start() { # bramble's dnsmasq, as a service would run it (foreground, drops root)
	ip netns exec "$NS_S" dnsmasq -k --conf-file="$out/dnsmasq/bramble.conf" --pid-file="$W/dnsmasq.run.pid" \
		--log-facility=- --log-dhcp >>"$W/dnsmasq.log" 2>&1 &
	DNS_PID=$!
	T_PIDS+=("$DNS_PID")
	echo "$DNS_PID" >"$W/dnsmasq.pid"
	wait_for 5 listening "$NS_S" 67 && wait_for 5 listening "$NS_S" 69
}
dns_stop() { stop_pid "$DNS_PID"; DNS_PID=; }
ROUTER_PID=
router_start() {
	cat >"$W/router.conf" <<EOF
port=0
interface=pbw-r
bind-interfaces
dhcp-range=10.99.0.200,10.99.0.220,255.255.255.0,1h
dhcp-option=option:router,10.99.0.254
dhcp-leasefile=$W/router.leases
no-ping
EOF
	ip netns exec "$NS_R" dnsmasq -k --conf-file="$W/router.conf" --pid-file="$W/router.run.pid" \
		--log-facility=- --log-dhcp >>"$W/router.log" 2>&1 &
	ROUTER_PID=$!
	T_PIDS+=("$ROUTER_PID")
	wait_for 5 listening "$NS_R" 67
}

# probe NAME MAC SERIAL [ARGS]: Pi-like DISCOVER from the client; replies (JSON lines) in $W/NAME.json
probe() {
	local name=$1 mac=$2 serial=$3; shift 3
	ip netns exec "$NS_C" python3 "$PROBE" --iface pbw-c --mac "$mac" --serial "$serial" "$@" \
		>"$W/$name.json" 2>"$W/$name.err"
}
# probe_gets NAME MAC SERIAL IP: the first offer is for IP
probe_gets() {
	probe "$1" "$2" "$3" --first --timeout 1 --tries 1 && grep -q "\"yiaddr\": \"$4\"" "$W/$1.json"
}
# jcheck DESC NAME PYEXPR: PYEXPR holds over the replies of probe NAME
# (rs: every reply, r: the first, ip: ipaddress.ip_address)
jcheck() {
	if python3 - "$W/$2.json" "$3" <<'PY' 2>>"$W/jcheck.err"; then
import ipaddress, json, sys
rs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
r = rs[0] if rs else {}
ip = ipaddress.ip_address
sys.exit(0 if eval(sys.argv[2]) else 1)
PY
		ok "$1"
	else
		not_ok "$1"
		echo "    | expected: $3"
		sed 's/^/    | /' "$W/$2.json" "$W/$2.err" | cut -c1-400
	fi
}
tftp_get() { ip netns exec "$NS_C" busybox tftp -b 1468 -g -r "$1" -l "$2" 10.99.0.1 2>>"$W/tftp.err"; }

#############################################################################
# 1. full mode
expect_rc 0 "full: bramble apply" ba
acts_is "full: the first apply asks to (re)start dnsmasq and reload NFS" "restart nfs"
check "full: dnsmasq starts with the rendered config" dns_start
MAC1=dc:a6:32:00:00:01 MAC2=dc:a6:32:00:00:02 MAC3=dc:a6:32:00:00:03 MAC9=dc:a6:32:00:00:99
probe offer1 $MAC1 1234abcd --first --timeout 2 --tries 3
jcheck "full: pi-a is offered its reserved address" offer1 'r["type"] == "OFFER" and r["yiaddr"] == "10.99.0.42"'
jcheck "full: option 43 carries the \"Raspberry Pi Boot\" menu" offer1 'r["rpi_boot_in_opt43"] and r["pxe_menu"] == ["Raspberry Pi Boot"]'
jcheck "full: option 66 is the netboot server" offer1 'r["opt66"] == "10.99.0.1"'
jcheck "full: server id and siaddr are the netboot server" offer1 'r["server_id"] == "10.99.0.1" and r["siaddr"] == "10.99.0.1"'
jcheck "full: router, netmask, DNS and hostname from the manifests" offer1 \
	'r["router"] == ["10.99.0.254"] and r["subnet_mask"] == "255.255.255.0" and r["dns"] == ["10.99.0.254"] and r["hostname"] == "pi-a"'
probe dora1 $MAC1 1234abcd --request --timeout 2 --tries 3
jcheck "full: DHCPREQUEST for the reserved address is ACKed" dora1 'rs[-1]["type"] == "ACK" and rs[-1]["yiaddr"] == "10.99.0.42"'
check "full: the lease is recorded in OUT/dnsmasq/leases" grep -q "$MAC1 10.99.0.42 " "$out/dnsmasq/leases"
probe offer9 $MAC9 99999999 --first --timeout 5 --tries 1 # dnsmasq pings a pool address first (~3 s)
jcheck "full: an unknown MAC gets an address from the pool" offer9 \
	'r["type"] == "OFFER" and ip("10.99.0.100") <= ip(r["yiaddr"]) <= ip("10.99.0.150")'
jcheck "full: ... with the PXE menu too" offer9 'r["rpi_boot_in_opt43"]'

ip -n "$NS_C" addr add 10.99.0.42/24 dev pbw-c
for f in config.txt cmdline.txt start4.elf; do
	if tftp_get "1234abcd/$f" "$W/got.$f"; then
		check "tftp: 1234abcd/$f is byte-identical to OUT/tftp/1234abcd/$f" cmp "$W/got.$f" "$out/tftp/1234abcd/$f"
	else
		not_ok "tftp: fetch 1234abcd/$f"; sed 's/^/    | /' "$W/tftp.err" | tail -3
	fi
done
contains "$W/got.cmdline.txt" "nfsroot=10.99.0.1:$out/nfs/1234abcd,vers=3,tcp" "tftp: the served cmdline mounts the node's root"
tftp_missing() { : >"$W/tftp.err"; ! tftp_get "$1" "$W/got.none" && grep -q "not found" "$W/tftp.err"; }
check "tftp: a file that does not exist is a TFTP \"not found\" error" tftp_missing 1234abcd/no-such-file

#############################################################################
# 2. a node changing while the Pi fetches its boot files
# Each version k puts the token vk in BOTH files: a config.txt line and a
# kernel argument.  TFTP reads the two files in separate requests, so a pair
# may straddle a switch; what must hold is that each file is complete (exactly
# one of the rendered versions, never missing, empty or cut), versions never
# go backwards, and the newest pair is served after the last apply.
set_version() {
	cp "$FIX/netboot/nodes/pi-a.yaml" "$repo/nodes/pi-a.yaml"
	printf '  boot:\n    configTxt:\n      - bramble_token=v%s\n    cmdline:\n      - bramble.token=v%s\n' "$1" "$1" >>"$repo/nodes/pi-a.yaml"
}
mkdir -p "$W/known" "$W/fetch"
keep_version() { cp "$out/tftp/1234abcd/config.txt" "$W/known/config.v$1"; cp "$out/tftp/1234abcd/cmdline.txt" "$W/known/cmdline.v$1"; }
set_version 0
expect_rc 0 "mid-flight: apply version 0" ba
keep_version 0
contains "$W/known/config.v0" "bramble_token=v0" "mid-flight: token in config.txt"
contains "$W/known/cmdline.v0" "bramble.token=v0" "mid-flight: token in cmdline.txt"
n_act=$(grep -vc '^#' "$ACT")
ip netns exec "$NS_C" bash -c '
	i=0
	while [ ! -e "$1/stop" ]; do
		i=$((i + 1)); n=$(printf %05d $i)
		for f in config cmdline; do
			busybox tftp -b 1468 -g -r 1234abcd/$f.txt -l "$1/fetch/$n.$f" 10.99.0.1 2>/dev/null
			echo $? >"$1/fetch/$n.$f.rc"
		done
	done' fetch-loop "$W" </dev/null &
LOOP=$!
T_PIDS+=("$LOOP")
wait_for 5 test -e "$W/fetch/00003.cmdline.rc"
LAST=6
for v in $(seq 1 $LAST); do
	set_version "$v"
	if ! ba >"$W/apply.$v.out" 2>&1; then not_ok "mid-flight: apply version $v"; sed 's/^/    | /' "$W/apply.$v.out"; fi
	keep_version "$v"
	sleep 0.25
done
touch "$W/stop"
wait "$LOOP"
forget_pid "$LOOP"
python3 - "$W/fetch" "$W/known" "$LAST" >"$W/midflight.txt" <<'PY'
import glob, os, sys
fetch, known, last = sys.argv[1], sys.argv[2], int(sys.argv[3])
ver = {k: {open(os.path.join(known, "%s.v%d" % (k, v)), "rb").read(): v for v in range(last + 1)}
       for k in ("config", "cmdline")}
failed, unknown, backwards, seen, pairs, mixed = [], [], [], {"config": set(), "cmdline": set()}, 0, 0
prev = {"config": -1, "cmdline": -1}
for rc in sorted(glob.glob(os.path.join(fetch, "*.cmdline.rc"))):
    n = os.path.basename(rc).split(".")[0]
    pairs += 1
    got = {}
    for k in ("config", "cmdline"):
        code = open(os.path.join(fetch, "%s.%s.rc" % (n, k))).read().strip()
        path = os.path.join(fetch, "%s.%s" % (n, k))
        data = open(path, "rb").read() if os.path.exists(path) else None
        if code != "0":
            failed.append("%s.%s rc=%s" % (n, k, code)); continue
        if data not in ver[k]:
            unknown.append("%s.%s (%d bytes)" % (n, k, len(data or b""))); continue
        v = got[k] = ver[k][data]
        seen[k].add(v)
        if v < prev[k]:
            backwards.append("%s.%s v%d after v%d" % (n, k, v, prev[k]))
        prev[k] = v
    if len(got) == 2 and got["config"] != got["cmdline"]:
        mixed += 1
print("pairs=%d" % pairs)
print("failed=%d %s" % (len(failed), " ".join(failed[:5])))
print("unknown=%d %s" % (len(unknown), " ".join(unknown[:5])))
print("backwards=%d %s" % (len(backwards), " ".join(backwards[:5])))
print("versions_config=%d" % len(seen["config"]))
print("versions_cmdline=%d" % len(seen["cmdline"]))
print("mixed=%d" % mixed)
PY
val() { sed -n "s/^$1=\([0-9]*\).*/\1/p" "$W/midflight.txt"; }
echo "# mid-flight: $(tr '\n' ' ' <"$W/midflight.txt")"
check "mid-flight: the loop fetched while applying (>= 20 pairs)" test "$(val pairs)" -ge 20
check "mid-flight: no fetch failed (file never missing)" test "$(val failed)" -eq 0
check "mid-flight: every file is complete: exactly one rendered version" test "$(val unknown)" -eq 0
check "mid-flight: versions never go backwards" test "$(val backwards)" -eq 0
check "mid-flight: the switches happened during the loop (>= 3 config versions seen)" test "$(val versions_config)" -ge 3
check "mid-flight: ... and >= 3 cmdline versions seen" test "$(val versions_cmdline)" -ge 3
tftp_get 1234abcd/config.txt "$W/final.config" && tftp_get 1234abcd/cmdline.txt "$W/final.cmdline"
check "mid-flight: after the last apply config.txt is the newest" cmp "$W/final.config" "$W/known/config.v$LAST"
check "mid-flight: after the last apply cmdline.txt is the newest" cmp "$W/final.cmdline" "$W/known/cmdline.v$LAST"
check "mid-flight: one generation of 1234abcd left" test "$(ls -A "$out/tftp" | grep -c '^\.1234abcd\.')" -eq 1
check "mid-flight: a boot-file change runs no command" test "$(grep -vc '^#' "$ACT")" -eq "$n_act"

#############################################################################
# 3. reload semantics
check "reload: pi-b has its reservation before" wait_for 3 probe_gets b0 $MAC2 2345bcde 10.99.0.43
cp "$FIX/extra-nodes/pi-c.yaml" "$repo/nodes/"
expect_rc 0 "reload: apply with pi-c added" ba
acts_is "reload: adding a node runs no dnsmasq command (only the NFS reload)" "nfs"
lacks "$W/last.out" "restart dnsmasq" "reload: the summary asks for no dnsmasq restart"
lacks "$W/last.out" "reload dnsmasq" "reload: ... nor a reload"
check "reload: hosts.d/3456cdef written" test -f "$out/dnsmasq/hosts.d/3456cdef"
check "reload: the new node gets its reserved address (inotify, no signal)" wait_for 3 probe_gets c1 $MAC3 3456cdef 10.99.0.44
check "reload: dnsmasq was not restarted" kill -0 "$DNS_PID"

rm "$repo/nodes/pi-b.yaml"
expect_rc 0 "reload: apply with pi-b removed" ba
acts_is "reload: removing a node ran dhcp.reloadCommand, no restart" "reload nfs"
contains "$W/last.out" "reload dnsmasq hosts" "reload: the summary says it reloaded"
check "reload: hosts.d/2345bcde removed" test ! -e "$out/dnsmasq/hosts.d/2345bcde"
probe b1 $MAC2 2345bcde --first --timeout 5 --tries 1
jcheck "reload: the removed MAC no longer gets its reserved address" b1 'r.get("yiaddr") not in (None, "10.99.0.43")'
jcheck "reload: ... it gets a pool address instead" b1 'ip("10.99.0.100") <= ip(r["yiaddr"]) <= ip("10.99.0.150")'
check "reload: SIGHUP, not a restart (same dnsmasq process)" kill -0 "$DNS_PID"
check "reload: the other nodes keep their reservations" probe_gets a1 $MAC1 1234abcd 10.99.0.42

# A node's board replaced (new MAC, same serial and IP).  dnsmasq reads a
# changed hosts.d file through inotify but keeps the records it had read
# (`dhcp-hostsdir` in dnsmasq(8): records are only added dynamically), so the
# new line is rejected as a "duplicate dhcp-host IP address" and the old MAC
# keeps the address: a changed host file needs the SIGHUP too.
MAC5=dc:a6:32:00:00:05
sed -i "s/$MAC3/$MAC5/" "$repo/nodes/pi-c.yaml"
expect_rc 0 "reload: apply with pi-c's MAC changed" ba
acts_is "reload: a changed reservation ran dhcp.reloadCommand" "reload"
check "reload: the new MAC gets pi-c's reserved address" wait_for 3 probe_gets c5 $MAC5 3456cdef 10.99.0.44
probe c3 $MAC3 3456cdef --first --timeout 5 --tries 1
jcheck "reload: the old MAC no longer gets pi-c's reserved address" c3 'r.get("yiaddr") not in (None, "10.99.0.44")'

# Cluster change: a new router and no dynamic pool.  dnsmasq reads its main
# file only at start, so bramble must ask for a restart.
cp "$FIX/clusters/full-static.yaml" "$repo/cluster.yaml"
sed -i 's/router: 10.99.0.254/router: 10.99.0.253/' "$repo/cluster.yaml"
expect_rc 0 "restart: apply the Cluster change" ba
acts_is "restart: a Cluster change ran dhcp.restartCommand only" "restart"
contains "$W/last.out" "restart dnsmasq" "restart: the summary says restart"
probe r0 $MAC1 1234abcd --first --timeout 2 --tries 2
jcheck "restart: (the running dnsmasq still sends the old router: a restart is needed)" r0 'r["router"] == ["10.99.0.254"]'
dns_stop
check "restart: dnsmasq restarts with the new config" dns_start
probe r1 $MAC1 1234abcd --first --timeout 2 --tries 3
jcheck "restart: the new router is sent" r1 'r["yiaddr"] == "10.99.0.42" and r["router"] == ["10.99.0.253"]'
probe r9 $MAC9 99999999 --first --timeout 1.5 --tries 1
jcheck "restart: without a pool an unknown MAC gets no offer" r9 'not rs'

#############################################################################
# 4. proxy mode next to the router's DHCP server
dns_stop
cp "$FIX/clusters/proxy.yaml" "$repo/cluster.yaml"
expect_rc 0 "proxy: apply" ba
acts_is "proxy: the mode change ran dhcp.restartCommand" "restart"
check "proxy: the router's dnsmasq starts" router_start
check "proxy: bramble's dnsmasq starts in proxy mode" dns_start
probe px $MAC1 1234abcd --timeout 2 --tries 2 # every reply, not just the first
jcheck "proxy: the router offers an address from its pool" px \
	'any(x["server_id"] == "10.99.0.254" and ip("10.99.0.200") <= ip(x["yiaddr"]) <= ip("10.99.0.220") for x in rs)'
jcheck "proxy: the router's offer has no PXE menu" px 'not any(x["server_id"] == "10.99.0.254" and x["rpi_boot_in_opt43"] for x in rs)'
jcheck "proxy: a proxy reply names the netboot server (server id 10.99.0.1)" px \
	'any(x["server_id"] == "10.99.0.1" for x in rs)'
jcheck "proxy: the proxy reply carries option 43 \"Raspberry Pi Boot\"" px \
	'all(x["rpi_boot_in_opt43"] and x["pxe_menu"] == ["Raspberry Pi Boot"] for x in rs if x["server_id"] == "10.99.0.1") and any(x["server_id"] == "10.99.0.1" for x in rs)'
jcheck "proxy: the proxy reply hands out no address" px \
	'all(x["yiaddr"] == "0.0.0.0" for x in rs if x["server_id"] == "10.99.0.1")'
addr=$(python3 -c 'import json,sys
for l in open(sys.argv[1]):
    x = json.loads(l)
    if x["server_id"] == "10.99.0.254": print(x["yiaddr"]); break' "$W/px.json")
ip -n "$NS_C" addr flush dev pbw-c
ip -n "$NS_C" addr add "${addr:-10.99.0.200}/24" dev pbw-c
if tftp_get 1234abcd/start4.elf "$W/px.start4.elf"; then
	check "proxy: TFTP from the router-given address (${addr:-?}) serves the node's files" cmp "$W/px.start4.elf" "$out/tftp/1234abcd/start4.elf"
else
	not_ok "proxy: TFTP fetch from the router-given address"
fi
dns_stop
stop_pid "$ROUTER_PID"

#############################################################################
# 5. external mode: the router, set up from the plan's instructions, boots a
# Pi 3 and a Pi 4 (pistorm: DHCP, then the TFTP file sequence).  A Pi 3's ROM
# fetches from siaddr (next-server), not from option 66: without the
# instruction's dhcp-boot line the router names itself and the Pi 3 fails.
PISTORM=${BRAMBLE_BINARY_DIR:-$SRC/build}/tests/tools/pistorm
cp "$FIX/clusters/external.yaml" "$repo/cluster.yaml"
cp "$FIX/extra-nodes/pi-d.yaml" "$repo/nodes/" # a Pi 3, serial 4567def0
"$BRAMBLE" plan --source "$repo" --root "$out" >"$W/ext.plan" 2>&1
contains "$W/ext.plan" "next-server (siaddr) to 10.99.0.1" "external: the plan tells the router next-server = the netboot server"
contains "$W/ext.plan" 'pxe-service=0,"Raspberry Pi Boot   "' "external: ... and the PXE menu padded for the Pi 3"
# the dnsmasq lines of the instructions, one a line
sed -n 's/.*(dnsmasq: \(.*\); ISC dhcpd.*/\1/p' "$W/ext.plan" |
	sed 's/, \([a-z-]*=\)/\n\1/g; s/ and \([a-z-]*=\)/\n\1/g' >"$W/router.lines"
check "external: three dnsmasq lines for the router" test "$(wc -l <"$W/router.lines")" -eq 3
expect_rc 0 "external: apply" ba
ext_router_start() { # the router with the instructions' lines (minus those matching $1)
	{
		printf 'port=0\ninterface=pbw-r\nbind-interfaces\nno-ping\n'
		printf 'dhcp-range=10.99.0.200,10.99.0.220,255.255.255.0,1h\ndhcp-leasefile=%s\n' "$W/router2.leases"
		printf 'dhcp-option=option:router,10.99.0.254\n'
		printf 'dhcp-host=b8:27:eb:00:00:0d,10.99.0.46\ndhcp-host=dc:a6:32:00:00:11,10.99.0.47\n'
		grep -v -e "${1:-^\$}" "$W/router.lines"
	} >"$W/router2.conf"
	ip netns exec "$NS_R" dnsmasq -k --conf-file="$W/router2.conf" --pid-file="$W/router2.pid" \
		--log-facility=- >>"$W/router2.log" 2>&1 &
	ROUTER_PID=$!
	T_PIDS+=("$ROUTER_PID")
	wait_for 5 listening "$NS_R" 67
}
ext_tftp_start() { # bramble's dnsmasq in external mode: TFTP only
	ip netns exec "$NS_S" dnsmasq -k --conf-file="$out/dnsmasq/bramble.conf" --pid-file="$W/dnsmasq.run.pid" \
		--log-facility=- >>"$W/dnsmasq.log" 2>&1 &
	DNS_PID=$!
	T_PIDS+=("$DNS_PID")
	wait_for 5 listening "$NS_S" 69
}
if [ ! -x "$PISTORM" ]; then
	echo "# external: skipped the boots ($PISTORM not built)"
else
	check "external: bramble's dnsmasq serves TFTP" ext_tftp_start
	check "external: the router starts with the instructions' lines" ext_router_start
	probe ext4 dc:a6:32:00:00:11 1234abcd --first --timeout 2 --tries 2
	jcheck "external: a Pi 4 probe sees \"Raspberry Pi Boot\" in the router's option 43" ext4 \
		'r["rpi_boot_in_opt43"] and r["opt66"] == "10.99.0.1" and r["siaddr"] == "10.99.0.1"'
	ip -n "$NS_C" addr flush dev pbw-c
	for k in all.arp_ignore=1 all.arp_announce=2 all.rp_filter=0 default.rp_filter=0; do
		ip netns exec "$NS_C" sysctl -qw "net.ipv4.conf.$k"
	done
	ip -n "$NS_C" -batch - <<-EOF
		link add link pbw-c name m3 address b8:27:eb:00:00:0d type macvlan mode bridge
		addr add 10.99.0.46/24 dev m3
		link set m3 up
		link add link pbw-c name m4 address dc:a6:32:00:00:11 type macvlan mode bridge
		addr add 10.99.0.47/24 dev m4
		link set m4 up
	EOF
	printf 'pi3 4567def0 b8:27:eb:00:00:0d 10.99.0.46 m3\npi4 1234abcd dc:a6:32:00:00:11 10.99.0.47 m4\n' >"$W/ext.pis"
	ext_boot() { ip netns exec "$NS_C" "$PISTORM" --boots 1 --file-timeout 3 --deadline 30 "$@" >"$W/ext.out" 2>&1; }
	if ext_boot "$W/ext.pis"; then ok "external: a Pi 3 and a Pi 4 boot through the router"; else
		not_ok "external: a Pi 3 and a Pi 4 boot through the router"; sed 's/^/    | /' "$W/ext.out"; fi
	stop_pid "$ROUTER_PID"
	check "external: the router without next-server (dhcp-boot) starts" ext_router_start '^dhcp-boot='
	ext_boot "$W/ext.pis"
	contains "$W/ext.out" "pi 4567def0 pi3 FAILED" "external: ... without next-server the Pi 3 cannot boot (siaddr = the router)"
	contains "$W/ext.out" "pi 1234abcd pi4 ok" "external: ... while the Pi 4 still does (option 66)"
	stop_pid "$ROUTER_PID"
	dns_stop
fi
if [ "$T_FAIL" -ne 0 ]; then
	echo "# dnsmasq log (tail):"; tail -25 "$W/dnsmasq.log" | sed 's/^/    | /'
fi
done_testing
