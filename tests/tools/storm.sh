# Boot-storm helpers, sourced after tests/e2e/lib.sh by tests/e2e/test_storm.sh
# and tests/bench/bench_storm.sh.  A server namespace runs the real dnsmasq
# from bramble's rendered configuration; a client namespace holds one macvlan
# per simulated Pi (its own MAC and address) on its veth, and pistorm
# (tests/tools/pistorm.c) boots them all at once.
#   STORM_NS_S, STORM_NS_C: the namespaces (bstorm<pid>-s, -c)
#   STORM_OUT: bramble's output root; STORM_REPO: the generated repository
: "${BRAMBLE_BINARY_DIR:=$SRC/build}"
PISTORM=${PISTORM:-$BRAMBLE_BINARY_DIR/tests/tools/pistorm}
STORM_NS_S=bstorm$$-s
STORM_NS_C=bstorm$$-c
STORM_OUT=$W/out
STORM_REPO=$W/repo
STORM_DNS_PID=

# storm_can_run: root, the tools and the pistorm binary are there
storm_can_run() {
	local t
	[ "$(id -u)" -eq 0 ] || { echo "needs root"; return 1; }
	for t in dnsmasq ip; do command -v "$t" >/dev/null || { echo "no $t"; return 1; }; done
	[ -x "$PISTORM" ] || { echo "no $PISTORM (build the tests)"; return 1; }
}

# storm_image DIR: the demo image with firmware and kernels of realistic sizes
# (Raspberry Pi OS Bookworm's boot partition, rounded): every byte is served.
storm_image() {
	local boot=$1/boot f size
	sh "$SRC/scripts/make-demo-image.sh" "$1" >/dev/null || return 1
	while read -r f size; do
		head -c "$size" /dev/urandom >"$boot/$f" || return 1
	done <<-EOF
		bootcode.bin 52456
		start.elf 2981376
		fixup.dat 7314
		start4.elf 2252736
		fixup4.dat 5446
		kernel8.img 8388608
		kernel_2712.img 9437184
		bcm2710-rpi-3-b-plus.dtb 34228
		bcm2711-rpi-4-b.dtb 54707
		bcm2712-rpi-5-b.dtb 78549
	EOF
}

# storm_node I: "MODEL SERIAL MAC IP" of Pi number I (0-based): 20% Pi 3,
# 50% Pi 4, 30% Pi 5, each with its model's MAC prefix; addresses from .2 up
# (at most 253 Pis in 10.99.0.0/24).
storm_node() {
	local i=$1 m model pre
	m=$((i % 10))
	if [ $m -lt 2 ]; then model=pi3 pre=b8:27:eb
	elif [ $m -lt 7 ]; then model=pi4 pre=dc:a6:32
	else model=pi5 pre=2c:cf:67; fi
	printf '%s %08x %s:%02x:%02x:%02x 10.99.0.%d\n' $model $((0x5a000000 + i)) $pre \
		$((i >> 16 & 255)) $((i >> 8 & 255)) $((i & 255)) $((2 + i))
}

# storm_repo N [PREFIX]: a repository of N nodes in full DHCP mode with static
# leases (every Pi's address from its manifest), tftp prefix PREFIX (serial)
storm_repo() {
	local n=$1 prefix=${2:-serial} i model serial mac ip
	rm -rf "$STORM_REPO" && mkdir -p "$STORM_REPO"
	cat >"$STORM_REPO/cluster.yaml" <<-EOF
		apiVersion: bramble/v1alpha1
		kind: Cluster
		metadata: {name: storm}
		spec:
		  server: 10.99.0.1
		  interface: bs-s
		  subnet: 10.99.0.0/24
		  dhcp: {mode: full}
		  tftp: {prefix: $prefix}
		  defaults: {image: storm-os}
		---
		apiVersion: bramble/v1alpha1
		kind: Image
		metadata: {name: storm-os}
		spec: {path: storm-os}
	EOF
	for i in $(seq 0 $((n - 1))); do
		read -r model serial mac ip <<<"$(storm_node "$i")"
		printf -- '---\napiVersion: bramble/v1alpha1\nkind: Node\nmetadata: {name: pi-%s}\nspec: {serial: "%s", mac: "%s", ip: %s, model: %s, root: {mode: shared}}\n' \
			"$serial" "$serial" "$mac" "$ip" "$model"
	done >"$STORM_REPO/nodes.yaml"
}

# storm_pis N FILE [FIRST]: pistorm's list: N Pis from number FIRST (0)
storm_pis() {
	local n=$1 first=${3:-0} i
	for i in $(seq "$first" $((first + n - 1))); do echo "$(storm_node "$i") p$i"; done >"$2"
}

# storm_net N: the two namespaces, a veth between them (server 10.99.0.1) and
# N macvlans (p0 ... p<N-1>) on the client's end, each with its Pi's MAC and
# address.  ARP as on separate hosts: a macvlan answers only for its own
# address (arp_ignore=1) and asks from it (arp_announce=2); no reverse-path
# filter on the shared subnet.
storm_net() {
	local n=$1 i model serial mac ip k
	netns_add "$STORM_NS_S" && netns_add "$STORM_NS_C" || return 1
	veth_pair "$STORM_NS_S" bs-s "$STORM_NS_C" bs-c || return 1
	ip -n "$STORM_NS_S" addr add 10.99.0.1/24 dev bs-s || return 1
	for k in all.arp_ignore=1 all.arp_announce=2 all.rp_filter=0 default.rp_filter=0; do
		ip netns exec "$STORM_NS_C" sysctl -qw "net.ipv4.conf.$k" || return 1
	done
	for i in $(seq 0 $((n - 1))); do
		read -r model serial mac ip <<<"$(storm_node "$i")"
		echo "link add link bs-c name p$i address $mac type macvlan mode bridge"
		echo "addr add $ip/24 dev p$i"
		echo "link set p$i up"
	done >"$W/macvlans.batch"
	ip -n "$STORM_NS_C" -batch "$W/macvlans.batch"
}

# storm_apply: bramble apply of the repository (with the real dnsmasq --test);
# its output in $W/apply.out
storm_apply() {
	"$BRAMBLE" apply --source "$STORM_REPO" --root "$STORM_OUT" "$@" >"$W/apply.out" 2>&1
}

# The Pis' timeouts run on the wall clock, so the simulation must keep up in
# real time: dnsmasq and pistorm run at a higher priority than whatever else
# shares the machine (a dedicated netboot server is not a busy build box).
STORM_NICE=${STORM_NICE:--10}

# storm_dns_start [CONF]: bramble's dnsmasq in the server namespace, with the
# open-file limit of deploy/systemd/bramble-dnsmasq.service
storm_dns_start() {
	local conf=${1:-$STORM_OUT/dnsmasq/bramble.conf} n=50
	(ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec nice -n "$STORM_NICE" ip netns exec "$STORM_NS_S" dnsmasq -k --conf-file="$conf" \
		--pid-file="$W/dnsmasq.run.pid" --log-facility="$W/dnsmasq.log") &
	STORM_DNS_PID=$!
	T_PIDS+=("$STORM_DNS_PID")
	while [ $n -gt 0 ] && ! ip netns exec "$STORM_NS_S" ss -lnu | grep -q ':69 '; do
		sleep 0.1; n=$((n - 1))
	done
	[ $n -gt 0 ]
}
storm_dns_stop() { [ -z "$STORM_DNS_PID" ] || stop_pid "$STORM_DNS_PID"; STORM_DNS_PID=; }

# storm_boot FILE OUT [ARGS]: every Pi of FILE powers on at once; pistorm's
# report in OUT; its exit status
storm_boot() {
	local pis=$1 out=$2; shift 2
	ip netns exec "$STORM_NS_C" nice -n "$STORM_NICE" "$PISTORM" "$@" "$pis" >"$out" 2>&1
}
# storm_field OUT KEY: a value of pistorm's summary line (booted, last_boot, ...)
storm_field() { sed -n "s/^pistorm: .*[ ]$2=\([^ ]*\).*/\1/p" "$1" | sed 's/s$//'; }
