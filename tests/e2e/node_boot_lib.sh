# Shared by the boot tests (test_node_boot.sh, test_node_change.sh), sourced
# after lib.sh: the test image (tests/images/make-debian-image.sh), a cluster
# repository in git with two nodes and first-boot settings, bramble's apply,
# the server namespace (a bridge, dnsmasq and nfs-ganesha with bramble's
# configuration), the Pi firmware played by the harness, and qemu.
# BRAMBLE_SKIP_BOOT_TEST=1 skips these tests (exit 77): the ASan build sets it,
# since the guest does not run bramble and bramble's part (render and apply)
# is covered under ASan by the other tests.
skip() {
	echo "$T_NAME: skipped ($*)"
	exit 77
}
[ "$(id -u)" -eq 0 ] || skip "needs root"
[ -z "${BRAMBLE_SKIP_BOOT_TEST:-}" ] || skip "BRAMBLE_SKIP_BOOT_TEST is set"
for tool in qemu-system-x86_64 dnsmasq ganesha.nfsd rpcbind busybox python3 ssh ssh-keygen \
	ssh-keyscan openssl git debootstrap xz mcopy mkfs.vfat sfdisk mkfs.ext4 ip ss nsenter nfs-ls; do
	command -v "$tool" >/dev/null || skip "no $tool"
done
[ -c /dev/net/tun ] || skip "no /dev/net/tun"
PROBE=$SRC/tests/e2e/pi_dhcp_probe.py
out=$W/out
chmod 755 "$W" # dnsmasq drops root (to nobody): it must reach OUT/tftp
T0=$(date +%s)
phase() { echo "# $(($(date +%s) - T0)) s: $*"; }

# --- The image ---------------------------------------------------------------
phase "image"
t=$(date +%s)
if ! IMG=$(nice sh "$SRC/tests/images/make-debian-image.sh" 2>"$W/image.log"); then
	not_ok "the test image is built"
	sed 's/^/    | /' "$W/image.log" | tail -30
	done_testing
	exit
fi
IMG_SHA=$(cat "$IMG.sha256")
ok "the test image is there ($(($(date +%s) - t)) s; $(du -m "$IMG" | cut -f1) MiB)"
sed 's/^/    | /' "$W/image.log"

# --- The repository --------------------------------------------------------
export HOME=$W/home GIT_CONFIG_NOSYSTEM=1
export GIT_AUTHOR_NAME=test GIT_AUTHOR_EMAIL=test@example.com
export GIT_COMMITTER_NAME=test GIT_COMMITTER_EMAIL=test@example.com
mkdir -p "$HOME" "$W/work/nodes" "$W/git"
ssh-keygen -q -t ed25519 -N '' -C alice@bramble-test -f "$W/id_alice"
ssh-keygen -q -t ed25519 -N '' -C bob@bramble-test -f "$W/id_bob"
ALICE_PW="alice-pw-$$"
ALICE_HASH=$(openssl passwd -6 "$ALICE_PW")
cat >"$W/work/cluster.yaml" <<EOF
apiVersion: bramble/v1alpha1
kind: Cluster
metadata:
  name: bootlab
spec:
  server: 10.99.0.1
  interface: bnbr0
  subnet: 10.99.0.0/24
  router: 10.99.0.1
  dns: [10.99.0.1]
  dhcp:
    mode: full
    range: {start: 10.99.0.100, end: 10.99.0.150}
  nfs:
    backend: ganesha
    version: 3
EOF
cat >"$W/work/image.yaml" <<EOF
apiVersion: bramble/v1alpha1
kind: Image
metadata:
  name: debian
spec:
  url: file://$IMG
  sha256: $IMG_SHA
EOF
# node NAME SERIAL MAC IP HOSTNAME TZ KEYMAP GENERATION MODE: a node document,
# with alice (password hash, key, sudo) and, in $EXTRA_USERS, more users.
node_yaml() {
	cat <<EOF
apiVersion: bramble/v1alpha1
kind: Node
metadata:
  name: $1
spec:
  serial: "$2"
  mac: "$3"
  ip: $4
  model: pi4
  image: debian
  boot:
    # a guest's kernel under qemu on a busy host: its check of the emulated
    # timer at start-up panics when the host is slow (IO-APIC + timer)
    cmdline: [no_timer_check]
  root:
    mode: $9
    generation: $8
  firstBoot:
    hostname: $5
    ssh: true
    timezone: $6
    keymap: $7
    wifi:
      ssid: bramble lab
      passphrase: lab-passphrase-$2
      country: FR
    users:
      - name: alice
        passwordHash: "$ALICE_HASH"
        sshKeys:
          - $(cat "$W/id_alice.pub")
        sudo: true
${EXTRA_USERS:-}
EOF
}
EXTRA_USERS=
GEN_A=0
write_nodes() {
	node_yaml node-a 1234abcd dc:a6:32:00:00:01 10.99.0.42 garden-a Europe/Paris de "$GEN_A" \
		private >"$W/work/nodes/node-a.yaml"
	node_yaml node-b 2345bcde dc:a6:32:00:00:02 10.99.0.43 garden-b Asia/Tokyo fr 0 \
		shared >"$W/work/nodes/node-b.yaml"
}
write_nodes
git -C "$W/work" init -q -b main
git -C "$W/work" add -A && git -C "$W/work" commit -qm "two nodes: node-a private, node-b shared"
git clone -q --bare "$W/work" "$W/git/cluster.git"
git -C "$W/work" remote add origin "$W/git/cluster.git"
push_commit() { git -C "$W/work" add -A && git -C "$W/work" commit -qm "$1" && git -C "$W/work" push -q origin main; }

ba() {
	"$BRAMBLE" apply --source "file://$W/git/cluster.git" --set source.ref=main --root "$out" \
		--set dhcp.reloadCommand="test ! -s $W/dnsmasq.pid || kill -HUP \$(cat $W/dnsmasq.pid)" \
		--set dhcp.restartCommand=true \
		--set nfs.reloadCommand="test ! -s $W/ganesha.pid || kill -HUP \$(cat $W/ganesha.pid)" "$@"
}
phase "apply"
t=$(date +%s)
expect_rc 0 "bramble applies the cluster from git (image fetched, extracted, roots made)" ba
echo "    (apply took $(($(date +%s) - t)) s)"
sed 's/^/    | /' "$W/last.err" | grep -E 'decompressed|extracted' || true
ra=$out/nfs/1234abcd
rb=$out/nfs/shared/debian # node-b's root, shared by the nodes of the image
check "node-a's root is made" test -x "$ra/usr/local/sbin/bramble-firstboot"
check "node-a's kernel and initramfs are served from its boot directory" \
	test -s "$out/tftp/1234abcd/kernel8.img" -a -s "$out/tftp/1234abcd/initramfs8"

# --- The network: a switch (bridge) in the server namespace --------------
phase "servers"
NS_S=bnode$$-s NS_C=bnode$$-c
netns_add "$NS_S" && netns_add "$NS_C" || { not_ok "namespaces"; done_testing; exit; }
ip -n "$NS_S" link add bnbr0 type bridge stp_state 0 forward_delay 0
ip -n "$NS_S" addr add 10.99.0.1/24 dev bnbr0
ip -n "$NS_S" link set bnbr0 up
veth_pair "$NS_S" bnsw-c "$NS_C" bnc # the "firmware" (the harness) plugs in here
ip -n "$NS_S" link set bnsw-c master bnbr0
ip -n "$NS_C" addr add 10.99.0.9/24 dev bnc
for tap in bntap-a bntap-b; do
	ip -n "$NS_S" tuntap add dev "$tap" mode tap
	ip -n "$NS_S" link set "$tap" master bnbr0
	ip -n "$NS_S" link set "$tap" up
done

# dnsmasq with bramble's configuration, as a service runs it
listening() { ip netns exec "$1" ss -ln"$3" | grep -q ":$2 "; }
ip netns exec "$NS_S" dnsmasq -k --conf-file="$out/dnsmasq/bramble.conf" --pid-file="$W/dnsmasq.run.pid" \
	--log-facility=- --log-dhcp >>"$W/dnsmasq.log" 2>&1 &
DNS_PID=$!
T_PIDS+=("$DNS_PID")
echo "$DNS_PID" >"$W/dnsmasq.pid"
check "dnsmasq serves DHCP and TFTP" wait_for 5 sh -c "ip netns exec $NS_S ss -lnu | grep -q ':67 ' && ip netns exec $NS_S ss -lnu | grep -q ':69 '"

# rpcbind and ganesha with bramble's exports (a private /run for rpcbind)
ganesha_conf "$out/exports/ganesha-bramble.conf"
check "rpcbind listens" rpcbind_start "$NS_S"
check "ganesha serves NFS" ganesha_start "$NS_S"

# --- The Pi's firmware, played by the harness -----------------------------
# firmware SERIAL MAC: DHCP like the bootloader, then TFTP of the files a
# Pi 4 loads, into $W/fw-SERIAL/ (config.txt names the kernel and initramfs).
firmware() {
	local s=$1 mac=$2 d=$W/fw-$1 kernel=kernel8.img initrd=
	rm -rf "$d" && mkdir -p "$d"
	ip netns exec "$NS_C" python3 "$PROBE" --iface bnc --mac "$mac" --serial "$s" --first \
		--timeout 2 --tries 3 >"$d/offer.json" 2>"$d/offer.err" || return 1
	local tftp
	tftp=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r.get("opt66") or r["siaddr"])' "$d/offer.json") ||
		return 1
	fetch() { ip netns exec "$NS_C" busybox tftp -b 1468 -g -r "$s/$1" -l "$d/$1" "$tftp" 2>>"$d/tftp.log"; }
	fetch config.txt || return 1
	kernel=$(sed -n 's/^kernel=//p' "$d/config.txt" | tail -1)
	: "${kernel:=kernel8.img}"
	initrd=$(sed -n 's/^initramfs \([^ ]*\).*/\1/p' "$d/config.txt" | tail -1)
	if [ -z "$initrd" ] && grep -qx 'auto_initramfs=1' "$d/config.txt"; then
		initrd=$(echo "$kernel" | sed 's/^kernel/initramfs/; s/\.img$//')
	fi
	fetch cmdline.txt && fetch "$kernel" && { [ -z "$initrd" ] || fetch "$initrd"; } || return 1
	ln -sf "$kernel" "$d/kernel" && ln -sf "${initrd:-/dev/null}" "$d/initrd"
}
# boot NAME SERIAL MAC TAP: the firmware's part, then the kernel in qemu
# (TCG: -enable-kvm hangs on these machines) with cmdline.txt as its command
# line.  The guest's console goes to $W/NAME.console; its PID to QPID_<NAME>,
# the time it started to BOOTED_<NAME>.
boot() {
	local d=$W/fw-$2 q
	firmware "$2" "$3" || { sed 's/^/    | /' "$d"/offer.* 2>/dev/null; return 1; }
	echo "--- boot $(date +%T)" >>"$W/$1.console"
	ip netns exec "$NS_S" qemu-system-x86_64 -M pc -accel tcg -m 1024 -smp 1 -nodefaults \
		-display none -no-reboot -serial "file:$W/$1.console.cur" \
		-kernel "$d/kernel" -initrd "$d/initrd" -append "$(cat "$d/cmdline.txt")" \
		-netdev "tap,id=n0,ifname=$4,script=no,downscript=no" \
		-device "virtio-net-pci,netdev=n0,mac=$3,romfile=" >>"$W/qemu.log" 2>&1 </dev/null &
	q=$!
	T_PIDS=("$q" "${T_PIDS[@]}")
	printf -v "QPID_${1//-/_}" %s "$q"
	printf -v "BOOTED_${1//-/_}" %s "$(date +%s)"
}
qpid() { local v="QPID_${1//-/_}"; echo "${!v:-}"; }
# halt NAME: stop the guest (its root is the test's) and keep its console
halt() {
	local q
	q=$(qpid "$1")
	[ -n "$q" ] && stop_pid "$q"
	cat "$W/$1.console.cur" >>"$W/$1.console" 2>/dev/null
	rm -f "$W/$1.console.cur"
}
# on IP KEY USER CMD...: run CMD (its words quoted for the remote shell) on the
# node over SSH, from the server namespace (stdin: the test's, for sudo -S)
on() {
	local ip=$1 key=$2 user=$3
	shift 3
	ip netns exec "$NS_S" ssh -F /dev/null -i "$key" -o BatchMode=yes -o ConnectTimeout=5 \
		-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR \
		"$user@$ip" "$(printf '%q ' "$@")"
}
# up NAME IP KEY USER SECONDS: wait until USER logs in with KEY
up() {
	local n=$(($5 / 2)) q v="BOOTED_${1//-/_}"
	q=$(qpid "$1")
	while ! on "$2" "$3" "$4" true </dev/null 2>/dev/null; do
		n=$((n - 1))
		[ "$n" -gt 0 ] && kill -0 "$q" 2>/dev/null || return 1
		sleep 2
	done
	echo "    ($1: logged in $(($(date +%s) - ${!v})) s after qemu started)"
}
console_tail() { sed 's/^/    | /' "$W/$1.console.cur" 2>/dev/null | tail -"${2:-40}"; }

# Commands on node-a: as alice (A), as root through sudo with alice's password,
# the hash from the repository (AS); on node-b: NB, NBS.
A() { on 10.99.0.42 "$W/id_alice" alice "$@" </dev/null; }
AS() { printf '%s\n' "$ALICE_PW" | on 10.99.0.42 "$W/id_alice" alice sudo -S -p '' "$@"; }
NB() { on 10.99.0.43 "$W/id_alice" alice "$@" </dev/null; }
NBS() { printf '%s\n' "$ALICE_PW" | on 10.99.0.43 "$W/id_alice" alice sudo -S -p '' "$@"; }
imgroot=$out/images/sha256/$IMG_SHA/root
keyscan() { ip netns exec "$NS_S" ssh-keyscan -T 5 -t ed25519 "$1" 2>/dev/null | awk '{ print $3 }'; }
exited() { ! kill -0 "$1" 2>/dev/null || [ "$(ps -o stat= -p "$1" | cut -c1)" = Z ]; }
# shutdown_node NAME HOW [AS]: reboot or poweroff the node from inside (as
# alice, through sudo: AS for node-a, NBS for node-b); qemu (-no-reboot)
# exits as the board would reset.
shutdown_node() {
	local q
	q=$(qpid "$1")
	"${3:-AS}" systemctl "$2" >/dev/null 2>&1
	wait_for 120 exited "$q" || echo "    ($1 did not $2 in 120 s: stopped)"
	halt "$1"
}
# fb_files ROOT: what first boot manages in ROOT, with inode, size, times, mode
fb_files() {
	(cd "$1" && stat -c '%n %i %s %Y %Z %a' etc/passwd etc/shadow etc/group etc/gshadow \
		etc/ssh/ssh_host_*_key etc/ssh/ssh_host_*_key.pub etc/localtime etc/timezone \
		etc/default/keyboard var/lib/bramble-firstboot var/lib/bramble-firstboot/* \
		etc/systemd/system/multi-user.target.wants/ssh.service home/alice 2>&1)
}
# no_errors FILE DESC: no line of FILE says error or fail (any case)
no_errors() {
	if grep -qiE 'error|fail' "$1"; then
		not_ok "$2"
		grep -iE 'error|fail' "$1" | sed 's/^/    | /'
	else ok "$2"; fi
}
# todo DESC COMMAND...: a check of a known bug, reported but not counted
todo() {
	local d=$1
	shift
	if "$@"; then echo "ok - $d # TODO passes now: make it a check"; else echo "not ok - $d # TODO known bug"; fi
}

# before_first_boot: what bramble made before any node booted: no machine id
# from the image in the roots, node-b's command line (IMG_MID, CMD_B, MID_B)
before_first_boot() {
	local r
	check "the image carries a machine id (as one booted before it was published does)" \
		test -s "$imgroot/etc/machine-id"
	IMG_MID=$(cat "$imgroot/etc/machine-id")
	for r in "$ra" "$rb"; do
		check "${r#"$out"/}: /etc/machine-id is empty before the first boot" \
			sh -c 'test -f "$1" && test ! -s "$1"' _ "$r/etc/machine-id"
		check "${r#"$out"/}: D-Bus's machine id is a symlink to it" \
			test "$(readlink "$r/var/lib/dbus/machine-id")" = /etc/machine-id
	done
	CMD_B=$out/tftp/2345bcde/cmdline.txt
	contains "$CMD_B" "nfsroot=10.99.0.1:$rb,vers=3,tcp ro ip=dhcp rootwait overlayroot=tmpfs bramble.serial=2345bcde systemd.machine_id=" \
		"node-b: cmdline.txt mounts the shared root read-only, with a tmpfs overlay, its serial and machine id"
	MID_B=$(sed -n 's/.*systemd\.machine_id=\([0-9a-f]*\).*/\1/p' "$CMD_B")
	check "node-b: its machine id is 32 hex digits" test "${#MID_B}" -eq 32
	check "the shared root holds node-b's first-boot settings (0600)" \
		test "$(stat -c %a "$rb/etc/bramble/nodes/2345bcde/etc/bramble/firstboot.conf")" = 600
}
# node_a_checks: what first boot promises, on node-a once alice logged in
# (MID_A: its machine id)
node_a_checks() {
	check "node-a: systemd reached multi-user.target" A timeout 120 systemctl is-system-running --wait --quiet
	A systemctl --failed --no-legend >"$W/failed-a.txt" 2>&1
	check "node-a: no failed unit" test ! -s "$W/failed-a.txt"
	sed 's/^/    | /' "$W/failed-a.txt"
	A systemd-analyze 2>/dev/null | sed 's/^/    | /'
	check "node-a: / is its root over NFS" test "$(A findmnt -n -o SOURCE,FSTYPE /)" = "10.99.0.1:$ra nfs"
	check "node-a: the hostname is firstBoot's" test "$(A hostname)" = garden-a
	check "node-a: alice is root through sudo with her password" test "$(AS id -u)" = 0
	A sudo -n true >"$W/sudo-n.out" 2>&1
	contains "$W/sudo-n.out" "password is required" "node-a: sudo asks alice for her password (she has a hash)"
	check "node-a: the time zone" test "$(A readlink /etc/localtime)" = /usr/share/zoneinfo/Europe/Paris
	check "node-a: the time zone is in effect" test "$(A date +%Z)" = "$(TZ=Europe/Paris date +%Z)"
	check "node-a: the keymap" A grep -qx 'XKBLAYOUT="de"' /etc/default/keyboard
	check "node-a: the Wi-Fi country is on the kernel command line" A grep -q 'cfg80211.ieee80211_regdom=FR' /proc/cmdline
	NM=/etc/NetworkManager/system-connections/bramble-wifi.nmconnection
	AS sh -c "stat -c %a:%U $NM; cat $NM" >"$W/wifi-a.txt" 2>&1
	contains "$W/wifi-a.txt" "600:root" "node-a: the Wi-Fi connection is 0600 root"
	contains "$W/wifi-a.txt" "ssid=bramble lab" "node-a: the Wi-Fi connection names the network"
	contains "$W/wifi-a.txt" "psk=lab-passphrase-1234abcd" "node-a: ... with its passphrase"
	check "node-a: ssh.service is enabled" test "$(A systemctl is-enabled ssh.service)" = enabled
	# (as root: journald cannot set the ACLs that let adm read the journal on NFS)
	AS journalctl -b -u bramble-firstboot --no-pager -o cat >"$W/journal-a.txt" 2>&1
	sed 's/^/    | /' "$W/journal-a.txt"
	contains "$W/journal-a.txt" "new SSH host keys for this node" "node-a: first boot made the node's own host keys"
	contains "$W/journal-a.txt" "user alice created" "node-a: first boot created alice"
	contains "$W/journal-a.txt" "settings applied" "node-a: first boot applied the settings"
	no_errors "$W/journal-a.txt" "node-a: no failed step or error in the first boot's journal"
	check "node-a: the first-boot service succeeded" \
		test "$(A systemctl show -p Result --value bramble-firstboot.service)" = success
	MID_A=$(A cat /etc/machine-id)
	check "node-a: a machine id of its own (not the image's)" \
		sh -c 'test "${#1}" -eq 32 && test "$1" != "$2"' _ "$MID_A" "$IMG_MID"
	check "node-a: systemd wrote it into its root" test "$(cat "$ra/etc/machine-id")" = "$MID_A"
}
