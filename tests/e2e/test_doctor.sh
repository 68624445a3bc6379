#!/bin/bash
# bramble doctor against real servers, each check shown to catch its fault.
# Topology (namespaces this test creates, 10.99.0.0/24): a switch namespace
# with a bridge; the netboot server S (10.99.0.1, bfdr-s) runs bramble's
# dnsmasq (proxy DHCP + TFTP, rendered by bramble) and rpcbind + nfs-ganesha
# (NFSv3) serving bramble's exports; the Pi's namespace C (bfdr-c, 10.99.0.77);
# a rogue namespace R (10.99.0.253) for a second PXE proxy.  The nodes'
# addresses are also on S's loopback, so that doctor's MNT calls and TFTP
# fetches come from them.  doctor runs in S (ip netns exec), --as-pi in C.
#   all good: exit 0, no FAIL, --json says ok; --as-pi boots pi-a;
#   then one fault at a time, each named by doctor with exit 1: a second
#   PXE proxy; a boot file unreadable by nobody; a boot file edited by hand
#   (drift); cmdline.txt's nfsroot= pointing elsewhere; an export missing in
#   the NFS server; dnsmasq running another configuration; dnsmasq stopped;
#   rpcbind stopped.  Last, --as-pi in full DHCP mode (DHCPREQUEST/ACK).
. "$(dirname "$0")/lib.sh"
need_root
for tool in dnsmasq ganesha.nfsd rpcbind nsenter unshare python3 ip ss; do
	command -v "$tool" >/dev/null || skip_test "no $tool"
done
out=$W/out
repo=$W/repo
chmod 755 "$W" # dnsmasq drops root (to nobody): it must reach OUT/tftp through $W

# --- topology
NS_SW=bfdr-$$-sw NS_S=bfdr-$$-s NS_C=bfdr-$$-c NS_R=bfdr-$$-r
for ns in "$NS_SW" "$NS_S" "$NS_C" "$NS_R"; do netns_add "$ns" || { not_ok "create namespace $ns"; done_testing; exit; }; done
ip -n "$NS_SW" link add bfdr-br type bridge stp_state 0 forward_delay 0
ip -n "$NS_SW" link set bfdr-br up
veth_pair "$NS_S" bfdr-s "$NS_SW" bfdr-ws
veth_pair "$NS_C" bfdr-c "$NS_SW" bfdr-wc dc:a6:32:00:00:01
veth_pair "$NS_R" bfdr-r "$NS_SW" bfdr-wr
for p in bfdr-ws bfdr-wc bfdr-wr; do ip -n "$NS_SW" link set "$p" master bfdr-br; done
ip -n "$NS_S" addr add 10.99.0.1/24 dev bfdr-s
ip -n "$NS_S" addr add 10.99.0.42/32 dev lo
ip -n "$NS_S" addr add 10.99.0.43/32 dev lo
# (not the node's own 10.99.0.42: S has that one, and would drop C's packets from it)
ip -n "$NS_C" addr add 10.99.0.77/24 dev bfdr-c
ip -n "$NS_R" addr add 10.99.0.253/24 dev bfdr-r

# --- bramble: proxy DHCP, ganesha NFS, two Pi 4 nodes
mkdir -p "$out/images"
sh "$SRC/scripts/make-demo-image.sh" "$out/images/demo-os" >/dev/null
cp -r "$SRC/tests/e2e/fixtures/netboot" "$repo"
sed -e 's/pbw-s/bfdr-s/' -e 's/backend: kernel/backend: ganesha/' \
	"$SRC/tests/e2e/fixtures/clusters/proxy.yaml" >"$repo/cluster.yaml"
ba() { "$BRAMBLE" apply --source "$repo" --root "$out" --set dhcp.testCommand= "$@"; }
expect_rc 0 "apply (proxy DHCP, ganesha)" ba
doc() { ip netns exec "$NS_S" "$BRAMBLE" doctor --source "$repo" --root "$out" "$@"; }

# --- servers
listening() { ip netns exec "$NS_S" ss -lnu | grep -q ":$1 "; }
DNS_PID=
dns_start() { # $1: the configuration file
	ip netns exec "$NS_S" dnsmasq -k --conf-file="$1" --pid-file="$W/dnsmasq.run.pid" \
		--log-facility=- >>"$W/dnsmasq.log" 2>&1 &
	DNS_PID=$!
	T_PIDS+=("$DNS_PID")
	wait_for 5 listening 67 && wait_for 5 listening 69
}
dns_stop() { stop_pid "$DNS_PID"; DNS_PID=; }
check "dnsmasq starts with bramble's configuration" dns_start "$out/dnsmasq/bramble.conf"

# ganesha serves a copy of bramble's EXPORT blocks, so that the test can take
# one away as a server that was not reloaded would
gconf=$out/exports/ganesha-bramble.conf
cp "$gconf" "$W/served.conf"
ganesha_conf "$W/served.conf"
check "rpcbind listens in the server namespace" rpcbind_start "$NS_S"
check "ganesha listens" ganesha_start "$NS_S"
mountd_up() { doc >"$W/d.out" 2>&1; grep -q "^ok    exports" "$W/d.out"; }
check "ganesha registered with rpcbind" wait_for 10 mountd_up

# has STATUS CHECK TEXT: the last doctor output has a line "STATUS  CHECK: ...TEXT..."
has() { if grep -E "^$1 +$2: " "$W/last.out" | grep -qF -- "$3"; then ok "doctor says $1 $2: ...$3..."; else not_ok "doctor says $1 $2: ...$3..."; sed 's/^/    | /' "$W/last.out" | head -30; fi; }
no_fail() { if grep -q '^FAIL' "$W/last.out"; then not_ok "$1: no FAIL line"; sed 's/^/    | /' "$W/last.out"; else ok "$1: no FAIL line"; fi; }

#############################################################################
# everything good
expect_rc 0 "all good: doctor exits 0" doc --probe-dhcp bfdr-s
no_fail "all good"
has ok dnsmasq "runs $out/dnsmasq/bramble.conf"
has ok "port 67/udp" "bramble's dnsmasq"
has ok "port 4011/udp" "bramble's dnsmasq"
has ok "port 69/udp" "bramble's dnsmasq"
has ok "boot files pi-a" "identical to the tree"
has ok "boot files pi-a" "(from 10.99.0.42)"
has ok "boot files pi-b" "readable by uid 65534"
has ok rpcbind "MOUNT v3"
has ok exports "exactly bramble's 2 exports"
has ok "mount pi-a" "mountable from 10.99.0.42 (MNT granted)"
has ok "mount pi-b" "mountable from 10.99.0.43"
has ok "nfsroot pi-a" "vers=3"
has ok tree "what the repository says"
has ok dhcp "bramble's server 10.99.0.1 answers"
expect_rc 0 "all good: --json exits 0" doc --json
check "all good: --json says ok, every check ok" python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
sys.exit(0 if d["ok"] and d["counts"]["fail"] == 0 and all(c["status"] in ("ok", "warn") for c in d["checks"]) else 1)' "$W/last.out"
expect_rc 0 "--as-pi pi-a from the Pi's namespace boots" \
	ip netns exec "$NS_C" "$BRAMBLE" doctor --source "$repo" --root "$out" --as-pi 1234abcd --interface bfdr-c
has ok "as-pi dhcp" "PXE menu from 10.99.0.1"
has ok "as-pi tftp" "1234abcd/start4.elf"
has ok "as-pi tftp" "1234abcd/kernel8.img"
has ok as-pi "got every boot file"

#############################################################################
# one fault at a time
# a second PXE proxy on the network
cat >"$W/rogue.conf" <<EOF2
port=0
interface=bfdr-r
bind-interfaces
dhcp-range=10.99.0.0,proxy
pxe-service=0,"Raspberry Pi Boot"
dhcp-leasefile=$W/rogue.leases
EOF2
ip netns exec "$NS_R" dnsmasq -k --conf-file="$W/rogue.conf" --pid-file="$W/rogue.pid" --log-facility=- \
	>"$W/rogue.log" 2>&1 &
ROGUE=$!
T_PIDS+=("$ROGUE")
check "the rogue proxy listens" wait_for 5 sh -c "ip netns exec $NS_R ss -lnu | grep -q ':67 '"
expect_rc 1 "second proxy: doctor exits 1" doc --probe-dhcp bfdr-s
has FAIL dhcp "another server, 10.99.0.253, answers"
stop_pid "$ROGUE"

# a boot file dnsmasq (nobody) cannot read
cfg_a=$(readlink -f "$out/tftp/1234abcd/config.txt")
chmod 600 "$cfg_a"
expect_rc 1 "unreadable boot file: doctor exits 1" doc
has FAIL "permissions pi-a" "cannot read $cfg_a"
has FAIL "tftp pi-a" "1234abcd/config.txt"
chmod 644 "$cfg_a"

# a boot file edited by hand: served as is, but not what the repository says
echo "# edited by hand" >>"$cfg_a"
expect_rc 1 "edited boot file: doctor exits 1" doc
has FAIL tree "differ from what bramble wrote"
expect_rc 0 "apply repairs it" ba

# cmdline.txt's nfsroot= pointing at a path the server does not export
cmd_b=$(readlink -f "$out/tftp/2345bcde/cmdline.txt")
sed -i "s|nfsroot=10.99.0.1:[^,]*|nfsroot=10.99.0.1:/srv/elsewhere|" "$cmd_b"
expect_rc 1 "nfsroot elsewhere: doctor exits 1" doc
has FAIL "nfsroot pi-b" "mounts /srv/elsewhere, which the NFS server does not export"
expect_rc 0 "apply repairs it" ba

# the NFS server without pi-b's export (not reloaded after an apply)
awk '/^EXPORT \{/ { b = "" } { b = b $0 "\n" } /^\}/ { if (b !~ /2345bcde/) printf "%s", b; b = "" }' "$gconf" >"$W/served.conf"
kill -HUP "$GAN"
gone() { doc >"$W/d.out" 2>&1; grep -q "^FAIL  exports" "$W/d.out"; }
check "ganesha reloads without pi-b's export" wait_for 10 gone
expect_rc 1 "export missing: doctor exits 1" doc
has FAIL exports "does not export $out/nfs/2345bcde"
has FAIL "nfsroot pi-b" "which the NFS server does not export"
cp "$gconf" "$W/served.conf"
kill -HUP "$GAN"
check "ganesha reloads with every export" wait_for 10 mountd_up

# bramble's file read through --conf-dir (as Debian's dnsmasq service does with
# /etc/dnsmasq.d) is bramble's configuration too
dns_stop
ip netns exec "$NS_S" dnsmasq -k --conf-file=/dev/null --conf-dir="$out/dnsmasq/,*.conf" \
	--pid-file="$W/dnsmasq.run.pid" --log-facility=- >>"$W/dnsmasq.log" 2>&1 &
DNS_PID=$!
T_PIDS+=("$DNS_PID")
check "dnsmasq starts with --conf-dir" wait_for 5 listening 69
expect_rc 0 "--conf-dir: doctor exits 0" doc
has ok dnsmasq "runs $out/dnsmasq/bramble.conf"

# dnsmasq running another configuration (another TFTP root)
dns_stop
mkdir -p "$W/other-tftp/1234abcd"
sed "s|^tftp-root=.*|tftp-root=$W/other-tftp|" "$out/dnsmasq/bramble.conf" >"$W/other.conf"
check "dnsmasq starts with another configuration" dns_start "$W/other.conf"
expect_rc 1 "other configuration: doctor exits 1" doc
has FAIL dnsmasq "runs $W/other.conf, not bramble's $out/dnsmasq/bramble.conf"
has FAIL "tftp pi-a" "1234abcd/config.txt"
dns_stop

# dnsmasq stopped
expect_rc 1 "dnsmasq stopped: doctor exits 1" doc
has FAIL dnsmasq "no dnsmasq"
has FAIL "port 69/udp" "nothing listens for TFTP"
has FAIL "port 67/udp" "nothing listens for DHCP"

# rpcbind stopped (last: ganesha cannot register again without it)
check "dnsmasq starts again" dns_start "$out/dnsmasq/bramble.conf"
stop_pid "$RPCB"
expect_rc 1 "rpcbind stopped: doctor exits 1" doc
has FAIL rpcbind "connection refused"
lacks "$W/last.out" "FAIL  dnsmasq" "rpcbind stopped: the other checks still pass"

# --as-pi in full DHCP mode: the offer carries the node's reserved address, so
# the Pi 4 sends a DHCPREQUEST and waits for the ACK before its TFTP requests
sed -e 's/pbw-s/bfdr-s/' -e 's/backend: kernel/backend: ganesha/' \
	"$SRC/tests/e2e/fixtures/netboot/cluster.yaml" >"$repo/cluster.yaml"
expect_rc 0 "apply (full DHCP)" ba
dns_stop
check "dnsmasq starts with the full-mode configuration" dns_start "$out/dnsmasq/bramble.conf"
expect_rc 0 "--as-pi pi-b in full mode boots" \
	ip netns exec "$NS_C" "$BRAMBLE" doctor --source "$repo" --root "$out" --as-pi 2345bcde --interface bfdr-c
has ok "as-pi dhcp" "address 10.99.0.43 from 10.99.0.1"
has ok "as-pi dhcp" "REQUEST 10.99.0.43: ACK"
has ok "as-pi tftp" "2345bcde/kernel8.img"
expect_rc 1 "--as-pi with an unknown serial exits 1" \
	ip netns exec "$NS_C" "$BRAMBLE" doctor --source "$repo" --root "$out" --as-pi 0badc0de --interface bfdr-c
has FAIL as-pi "no node has the serial"

# Off the server: the fix names where the address came from (no network check runs).
expect_rc 1 "doctor where spec.server is not an address exits 1" \
	ip netns exec "$NS_C" "$BRAMBLE" doctor --source "$repo" --root "$out"
has FAIL server "10.99.0.1 is not an address of this host"
contains "$W/last.out" "correct spec.server in the Cluster" "the fix names the Cluster's spec.server"
expect_rc 1 "doctor where bramble.yaml's server: is not an address exits 1" doc --set server=10.99.0.250
has FAIL server "10.99.0.250 is not an address of this host"
contains "$W/last.out" "correct server: in bramble.yaml" "the fix names bramble.yaml's server:"

stop_pid "$GAN"
if [ "$T_FAIL" -ne 0 ]; then echo "# ganesha log (tail):"; grep -v -e dbus -e krb5 "$W/ganesha.log" | tail -20 | sed 's/^/    | /'; fi
done_testing
