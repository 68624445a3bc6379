#!/bin/bash
# The rendered dnsmasq configuration, checked by the real dnsmasq: for every
# DHCP mode (full with a pool, full with static leases only, proxy with and
# without an interface, external) `bramble apply` passes its own
# `dnsmasq --test` and the file it wrote passes `dnsmasq --test` again, with
# the lines each mode needs and none it must not have.  A configuration the
# test command rejects is never applied: the served tree stays byte-identical.
# No network traffic: only files and `dnsmasq --test`.
. "$(dirname "$0")/lib.sh"
FIX=$SRC/tests/e2e/fixtures
command -v dnsmasq >/dev/null || skip_test "no dnsmasq; apt-get install dnsmasq-base"

out=$W/out
conf=$out/dnsmasq/bramble.conf
mkdir -p "$out/images"
sh "$SRC/scripts/make-demo-image.sh" "$out/images/demo-os" >/dev/null
cp -r "$FIX/netboot" "$W/repo"
cp "$FIX/extra-nodes/pi-d.yaml" "$W/repo/nodes/" # no mac, no ip
# use_cluster NAME: fixtures/clusters/NAME.yaml as the Cluster ("full": the set's own)
use_cluster() {
	if [ "$1" = full ]; then cp "$FIX/netboot/cluster.yaml" "$W/repo/cluster.yaml"
	else cp "$FIX/clusters/$1.yaml" "$W/repo/cluster.yaml"; fi
}
# apply with the default test command: the real dnsmasq from PATH
ba() { "$BRAMBLE" apply --source "$W/repo" --root "$out" "$@"; }
# line FILE LINE: FILE has LINE as a whole line
line() { if grep -qxF -- "$2" "$1"; then ok "$3"; else not_ok "$3 (no line \"$2\" in $1)"; sed 's/^/    | /' "$1" | head -30; fi; }
no_line() { if grep -qxF -- "$2" "$1"; then not_ok "$3 (line \"$2\" in $1)"; else ok "$3"; fi; }
no_match() { if grep -qE -- "$2" "$1"; then not_ok "$3 (/$2/ matches in $1)"; grep -E -- "$2" "$1" | sed 's/^/    | /'; else ok "$3"; fi; }
# dnsmasq_ok MODE: the written file passes the real syntax check
dnsmasq_ok() {
	expect_rc 0 "$1: dnsmasq --test accepts $conf" dnsmasq --test --conf-file="$conf"
	if grep -q "syntax check OK" "$W/last.out" "$W/last.err"; then ok "$1: dnsmasq says \"syntax check OK\""
	else not_ok "$1: dnsmasq says \"syntax check OK\""; fi
}
common_lines() {
	line "$conf" "port=0" "$1: DNS disabled (port=0)"
	line "$conf" "enable-tftp" "$1: TFTP enabled"
	line "$conf" "tftp-root=$out/tftp" "$1: tftp-root is OUT/tftp"
}
# served OUT: everything a server reads (bramble's own state/ left out)
served() { for d in tftp nfs dnsmasq exports; do echo "== $d"; [ ! -d "$1/$d" ] || snapshot "$1/$d"; done; }
# files and links (not directories) anywhere in OUT but images/ and state/
served_files() { (cd "$1" && find . -path ./images -prune -o -path ./state -prune -o ! -type d -print | sort); }

# --- full DHCP with a dynamic pool
expect_rc 0 "full: apply (with the real dnsmasq --test)" ba
dnsmasq_ok full
common_lines full
line "$conf" "interface=pbw-s" "full: bound to the cluster interface"
line "$conf" "bind-interfaces" "full: bind-interfaces"
line "$conf" "dhcp-range=10.99.0.100,10.99.0.150,255.255.255.0,3600s" "full: the pool with mask and lease time"
line "$conf" "dhcp-option=option:router,10.99.0.254" "full: router option"
line "$conf" "dhcp-option=option:dns-server,10.99.0.254" "full: DNS server option"
line "$conf" 'dhcp-option=66,"10.99.0.1"' "full: option 66 names the netboot server"
line "$conf" "dhcp-hostsdir=$out/dnsmasq/hosts.d" "full: reservations from OUT/dnsmasq/hosts.d"
line "$conf" "dhcp-leasefile=$out/dnsmasq/leases" "full: lease file under OUT"
# pi-d is a Pi 3: the menu text is padded for the Pi 3B's ROM (reconcilers/dhcp.c)
line "$conf" 'pxe-service=0,"Raspberry Pi Boot   "' "full: PXE menu for the Pi bootloader (padded: a Pi 3)"
line "$conf" "tftp-max=64" "full: TFTP transfers for a boot storm (4 a node, for at least 16 nodes)"
check "full: a reservation per node with a mac" test -f "$out/dnsmasq/hosts.d/1234abcd" -a -f "$out/dnsmasq/hosts.d/2345bcde"
check "full: reservation is mac,ip,hostname" test "$(cat "$out/dnsmasq/hosts.d/1234abcd")" = "dc:a6:32:00:00:01,10.99.0.42,pi-a"
check "full: no reservation for the node without a mac" test ! -e "$out/dnsmasq/hosts.d/4567def0"
check "full: bootcode.bin at the TFTP root for the pi3 node" test -f "$out/tftp/bootcode.bin"
expect_rc 0 "full: second apply" ba
lacks "$W/last.out" "restart dnsmasq" "full: an unchanged config asks for no restart"

# --- full DHCP, static leases only
use_cluster full-static
expect_rc 0 "static: apply" ba
contains "$W/last.out" "restart dnsmasq" "static: a changed main config asks for a dnsmasq restart"
dnsmasq_ok static
common_lines static
line "$conf" "dhcp-range=10.99.0.0,static,255.255.255.0,3600s" "static: static-only range on the subnet"
no_match "$conf" '^dhcp-range=10\.99\.0\.100' "static: no dynamic pool"
line "$conf" 'dhcp-option=66,"10.99.0.1"' "static: option 66"
line "$conf" "dhcp-hostsdir=$out/dnsmasq/hosts.d" "static: reservations kept"
check "static: reservation still there" test -f "$out/dnsmasq/hosts.d/1234abcd"

# --- proxy DHCP
use_cluster proxy
expect_rc 0 "proxy: apply" ba
contains "$W/last.out" "restart dnsmasq" "proxy: mode change asks for a restart"
dnsmasq_ok proxy
common_lines proxy
line "$conf" "interface=pbw-s" "proxy: bound to the cluster interface"
line "$conf" "dhcp-range=10.99.0.0,proxy,255.255.255.0" "proxy: proxy range on the subnet"
line "$conf" 'pxe-service=0,"Raspberry Pi Boot   "' "proxy: PXE menu"
no_match "$conf" '^dhcp-(hostsdir|leasefile|option)=' "proxy: no addresses, options or leases of our own"
check "proxy: reservations pruned" test -z "$(ls -A "$out/dnsmasq/hosts.d" 2>/dev/null)"

# --- proxy DHCP without an interface
use_cluster proxy-any
expect_rc 0 "proxy-any: apply" ba
dnsmasq_ok proxy-any
no_match "$conf" '^(interface=|bind-interfaces)' "proxy-any: no interface binding when the cluster names none"
line "$conf" "dhcp-range=10.99.0.0,proxy,255.255.255.0" "proxy-any: proxy range"

# --- external DHCP: TFTP only
use_cluster external
expect_rc 0 "external: apply" ba
dnsmasq_ok external
common_lines external
no_match "$conf" '^(dhcp-|pxe-)' "external: no DHCP or PXE lines"
grep -v -e '^#' -e '^$' -e '^tftp-max=[0-9]*$' "$conf" | grep -vxF -e "port=0" -e "interface=pbw-s" -e "bind-interfaces" \
	-e "enable-tftp" -e "tftp-root=$out/tftp" -e "log-facility=$out/dnsmasq/dnsmasq.log" >"$W/extra" || true
check "external: nothing but port/interface/TFTP lines (and the TFTP log)" test ! -s "$W/extra"
[ ! -s "$W/extra" ] || sed 's/^/    | /' "$W/extra"

# --- back to full: hosts come back, restart asked
use_cluster full
expect_rc 0 "full again: apply" ba
dnsmasq_ok "full again"
check "full again: reservations recreated" test -f "$out/dnsmasq/hosts.d/2345bcde"

# --- a configuration the test command rejects is never applied
cat >"$W/fake-dnsmasq" <<EOF
#!/bin/sh
# stands in for dnsmasq: records its arguments and the file it was asked to check
echo "\$*" >>"$W/fake.args"
for a; do case \$a in --conf-file=*) cp "\${a#--conf-file=}" "$W/tested.conf";; esac; done
echo "dnsmasq: bad dhcp-range at line 5 of the test file" >&2
exit 1
EOF
chmod 755 "$W/fake-dnsmasq"

# (a) on a fresh output tree: nothing is created
out2=$W/out2
mkdir -p "$out2/images"
cp -al "$out/images/demo-os" "$out2/images/demo-os"
expect_rc 1 "rejected config: first apply exits 1" "$BRAMBLE" apply --source "$W/repo" --root "$out2" --set dhcp.testCommand="$W/fake-dnsmasq"
contains "$W/last.err" "dnsmasq --test" "rejected config: the error names dnsmasq --test"
contains "$W/last.err" "bad dhcp-range at line 5" "rejected config: the error shows what dnsmasq said"
contains "$W/fake.args" "--test" "rejected config: the test command got --test"
contains "$W/fake.args" "--conf-file=" "rejected config: the test command got --conf-file="
# (bramble may create its empty root directories; no file or link may appear)
check "rejected config: no file or link created outside state/" test -z "$(served_files "$out2")"
[ -z "$(served_files "$out2")" ] || served_files "$out2" | sed 's/^/    | /'
check "rejected config: no boot generation created" test -z "$(ls -A "$out2/tftp" 2>/dev/null)"
check "rejected config: no dnsmasq config written" test ! -e "$out2/dnsmasq/bramble.conf"
check "rejected config: no boot tree written" test ! -e "$out2/tftp/1234abcd"

# (b) on an applied tree: a change (new router) is refused, the old one stays
sed -i 's/router: 10.99.0.254/router: 10.99.0.253/' "$W/repo/cluster.yaml"
rm -f "$W/tested.conf"
before=$(served "$out")
cp "$conf" "$W/conf.before"
expect_rc 1 "rejected change: apply exits 1" ba --set dhcp.testCommand="$W/fake-dnsmasq" \
	--set dhcp.restartCommand="echo restart >>$W/actions"
contains "$W/last.err" "dnsmasq --test" "rejected change: the error names dnsmasq --test"
line "$W/tested.conf" "dhcp-option=option:router,10.99.0.253" "rejected change: the NEW rendering was the one tested"
check "rejected change: served tree byte-identical" test "$before" = "$(served "$out")"
check "rejected change: bramble.conf unchanged" cmp -s "$W/conf.before" "$conf"
check "rejected change: no restart command run" test ! -e "$W/actions"
expect_rc 2 "rejected change: plan still shows it pending" "$BRAMBLE" plan --source "$W/repo" --root "$out" --set dhcp.testCommand=
# (c) the gate follows the exit status: a test command that accepts lets it through
printf '#!/bin/sh\nexit 0\n' >"$W/accept-dnsmasq"; chmod 755 "$W/accept-dnsmasq"
expect_rc 0 "accepted change: apply exits 0" ba --set dhcp.testCommand="$W/accept-dnsmasq" \
	--set dhcp.restartCommand="echo restart >>$W/actions"
line "$conf" "dhcp-option=option:router,10.99.0.253" "accepted change: new router applied"
check "accepted change: restart command run once" test "$(cat "$W/actions" 2>/dev/null)" = "restart"
dnsmasq_ok "after rejection"
done_testing
