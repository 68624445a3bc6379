# shellcheck shell=bash
# For test_node_arm64.sh, sourced after lib.sh: phases with their times, the
# servers with bramble's configuration in a namespace, and qemu-system-aarch64.
T0=$(date +%s)
T_PHASE=$T0
# phase NAME: say where the test is (seconds since it started)
phase() {
	T_PHASE=$(date +%s)
	echo "# $((T_PHASE - T0)) s: $*"
}
# phase_secs: seconds since the current phase began
phase_secs() { echo $(($(date +%s) - T_PHASE)); }

# arm64_dnsmasq NS: dnsmasq with bramble's rendered configuration ($out), as
# its service runs it (its log: the file that configuration names), until it
# listens on ports 67 and 69.
arm64_dnsmasq() {
	ip netns exec "$1" dnsmasq -k --conf-file="$out/dnsmasq/bramble.conf" --pid-file="$W/dnsmasq.pid" \
		>>"$W/dnsmasq.out" 2>&1 </dev/null &
	T_PIDS+=("$!")
	wait_for 10 sh -c "ip netns exec $1 ss -lnu | grep -q ':67 ' && ip netns exec $1 ss -lnu | grep -q ':69 '"
}

# arm64_nfs NS: rpcbind (with a private /run) and nfs-ganesha with bramble's
# exports in its namespaces, until ganesha listens on port 2049.
arm64_nfs() {
	ganesha_conf "$out/exports/ganesha-bramble.conf" 3
	rpcbind_start "$1" && ganesha_start "$1"
}

# arm64_qemu NS CONSOLE KERNEL INITRD CMDLINE [QEMU ARGS]: boot the arm64
# guest (TCG: -enable-kvm hangs on these machines) on the tap a64tap with the
# node's MAC, its serial console in CONSOLE, until it powers off (at most
# ARM64_BOOT_TIMEOUT seconds, 900: a loaded machine slows TCG down
# tenfold).
arm64_qemu() {
	local ns=$1 console=$2 kernel=$3 initrd=$4 cmdline=$5 t=${ARM64_BOOT_TIMEOUT:-900}
	shift 5
	timeout "$t" ip netns exec "$ns" qemu-system-aarch64 -M virt -cpu cortex-a57 -accel tcg -smp 2 \
		-m 512 -nodefaults -display none -no-reboot -serial "file:$console" \
		-kernel "$kernel" -initrd "$initrd" -append "$cmdline" \
		-netdev tap,id=n0,ifname=a64tap,script=no,downscript=no \
		-device "virtio-net-pci,netdev=n0,mac=$MAC,romfile=" "$@" >>"$W/qemu.log" 2>&1 </dev/null ||
		echo "    (qemu: exit $? (124: the guest did not power off in $t s))"
}
