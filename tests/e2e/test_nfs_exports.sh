#!/bin/bash
# NFS exports, checked by the real NFS servers' own tools.
#   kernel backend: the exports file passes `exportfs -ra` (private mount
#     namespace, so the host's /etc/exports and /var/lib/nfs are untouched)
#     and the resulting etab holds exactly one entry per node root, to the
#     node's IP (a node without ip: the cluster subnet), never to everyone.
#   ganesha backend: nfs-ganesha (with rpcbind, NFSv3 and v4) serves the
#     rendered EXPORT blocks inside a server namespace; a client namespace with
#     the node's IP can list and write its root over v3 and v4, another IP is
#     refused; nodes added/removed in the manifests take effect through
#     nfs.reloadCommand (SIGHUP) without restarting ganesha.
. "$(dirname "$0")/lib.sh"
need_root
for tool in exportfs unshare nsenter ganesha.nfsd rpcbind nfs-ls nfs-cp ip ss; do
	command -v "$tool" >/dev/null || skip_test "no $tool"
done
FIX=$SRC/tests/e2e/fixtures
out=$W/out
repo=$W/repo
ACT=$W/actions
: >"$ACT"
mkdir -p "$out/images"
sh "$SRC/scripts/make-demo-image.sh" "$out/images/demo-os" >/dev/null
cp -r "$FIX/netboot" "$repo"
cp "$FIX/extra-nodes/pi-d.yaml" "$repo/nodes/" # no ip: exported to the subnet
NFS_RELOAD="echo nfs >>$ACT"
ba() {
	echo "# apply" >>"$ACT"
	"$BRAMBLE" apply --source "$repo" --root "$out" --set dhcp.testCommand= \
		--set nfs.reloadCommand="$NFS_RELOAD" "$@"
}
last_acts() { awk '/^# apply/ { s = ""; next } { s = s (s ? " " : "") $0 } END { print s }' "$ACT"; }
acts_is() { local got; got=$(last_acts); if [ "$got" = "$2" ]; then ok "$1"; else not_ok "$1 (ran \"$got\", expected \"$2\")"; fi; }
line() { if grep -qxF -- "$2" "$1"; then ok "$3"; else not_ok "$3 (no line \"$2\" in $1)"; sed 's/^/    | /' "$1" | head -30; fi; }

#############################################################################
# kernel backend
exports=$out/exports/bramble.exports
OPTS="rw,sync,no_subtree_check,no_root_squash"
expect_rc 0 "kernel: apply" ba
acts_is "kernel: the first apply reloads NFS" "nfs"
line "$exports" "$out/nfs/1234abcd 10.99.0.42($OPTS)" "kernel: pi-a exported to its IP only"
line "$exports" "$out/nfs/2345bcde 10.99.0.43($OPTS)" "kernel: pi-b exported to its IP only"
line "$exports" "$out/nfs/4567def0 10.99.0.0/24($OPTS)" "kernel: pi-d (no ip) exported to the subnet"
contains "$W/last.out" "no ip" "kernel: the summary warns that pi-d has no ip"
for s in 1234abcd 2345bcde 4567def0; do check "kernel: root dir of $s exists" test -d "$out/nfs/$s"; done

# etab_check DESC EXPECTED...: exportfs -ra on the current file; etab == EXPECTED ("path client" pairs)
etab_check() {
	local desc=$1; shift
	if [ ! -e /etc/exports ]; then not_ok "$desc (no /etc/exports to bind over; install nfs-kernel-server)"; return; fi
	# A private mount namespace: /var/lib/nfs is a fresh tmpfs, /etc/exports is our
	# file and /etc/exports.d (if any) is hidden, so only bramble's file is read.
	unshare -m --propagation private bash -c '
		mount -t tmpfs tmpfs /var/lib/nfs || exit 90
		mount --bind "$1" /etc/exports || exit 91
		if [ -d /etc/exports.d ]; then mount -t tmpfs tmpfs /etc/exports.d || exit 92; fi
		exportfs -ra 2>"$2/exportfs.err"; rc=$?
		cp /var/lib/nfs/etab "$2/etab" 2>/dev/null
		exit $rc' etab "$exports" "$W" </dev/null
	local rc=$?
	if [ $rc -eq 0 ]; then ok "$desc: exportfs -ra accepts the file"; else
		not_ok "$desc: exportfs -ra accepts the file (rc $rc)"; sed 's/^/    | /' "$W/exportfs.err"; fi
	check "$desc: exportfs prints no warning" test ! -s "$W/exportfs.err"
	[ ! -s "$W/exportfs.err" ] || sed 's/^/    | /' "$W/exportfs.err"
	if python3 - "$W/etab" "$@" <<'PY'; then ok "$desc: etab lists exactly the nodes' roots to their clients, rw/sync/no_root_squash"; else not_ok "$desc: etab lists exactly the nodes' roots"; sed 's/^/    | /' "$W/etab"; fi
import sys
want = sorted(tuple(x.split(" ")) for x in sys.argv[2:])
got, bad = [], []
for l in open(sys.argv[1]):
    path, rest = l.rstrip("\n").split("\t")
    client, opts = rest.split("(", 1)
    opts = opts.rstrip(")").split(",")
    got.append((path, client))
    if client in ("*", "") or not {"rw", "sync", "no_root_squash", "no_subtree_check"} <= set(opts):
        bad.append(l)
if sorted(got) != want or bad:
    print("    | want %s\n    | got  %s\n    | bad %s" % (want, sorted(got), bad))
    sys.exit(1)
PY
	lacks "$W/etab" "	*(" "$desc: nothing exported to everyone (*)"
}
etab_check "kernel" "$out/nfs/1234abcd 10.99.0.42" "$out/nfs/2345bcde 10.99.0.43" "$out/nfs/4567def0 10.99.0.0/24"

expect_rc 0 "kernel: unchanged apply" ba
acts_is "kernel: an unchanged apply reloads nothing" ""
cp "$FIX/extra-nodes/pi-c.yaml" "$repo/nodes/"
rm "$repo/nodes/pi-b.yaml"
expect_rc 0 "kernel: apply with pi-c added, pi-b removed" ba
acts_is "kernel: the change ran nfs.reloadCommand" "nfs"
etab_check "kernel after change" "$out/nfs/1234abcd 10.99.0.42" "$out/nfs/3456cdef 10.99.0.44" "$out/nfs/4567def0 10.99.0.0/24"
check "kernel: removed node's root kept in the attic (data is never deleted)" \
	sh -c 'test -d "$1"/nfs/.attic/2345bcde.gen0.*' _ "$out"

# NFSv4-only cluster for ganesha: only the protocol line differs
cp "$FIX/clusters/ganesha-v4.yaml" "$repo/cluster.yaml"
expect_rc 0 "ganesha v4: apply" ba
gconf=$out/exports/ganesha-bramble.conf
check "ganesha v4: EXPORT blocks written" grep -q "^EXPORT {" "$gconf"
check "ganesha v4: every export is NFSv4 only" test "$(grep -c 'Protocols = 4;' "$gconf")" -eq 3 -a "$(grep -c 'Protocols' "$gconf")" -eq 3
check "ganesha: switching backend removes the kernel exports file" test ! -e "$exports"

#############################################################################
# ganesha backend (NFSv3 + v4) on the wire
cp "$FIX/clusters/ganesha.yaml" "$repo/cluster.yaml"
cp "$FIX/netboot/nodes/pi-b.yaml" "$repo/nodes/"
rm "$repo/nodes/pi-c.yaml"
expect_rc 0 "ganesha: apply" ba
acts_is "ganesha: the change ran nfs.reloadCommand" "nfs"
# export_block SERIAL: the EXPORT block whose Path is the node's root
export_block() { awk -v p="Path = \"$out/nfs/$1\";" '/^EXPORT \{/ { b = "" } { b = b $0 "\n" } index($0, p) { f = 1 } /^\}/ { if (f) printf "%s", b; f = 0 }' "$gconf"; }
export_block 1234abcd >"$W/block.a"
contains "$W/block.a" "Pseudo = \"$out/nfs/1234abcd\";" "ganesha: pi-a's Pseudo path is its root path"
contains "$W/block.a" "CLIENT { Clients = 10.99.0.42; Access_Type = RW; }" "ganesha: pi-a's export is RW to its IP only"
contains "$W/block.a" "Access_Type = None;" "ganesha: nobody else gets access"
contains "$W/block.a" "Protocols = 3, 4;" "ganesha: NFSv3 and v4 (default version 3)"
contains "$W/block.a" "Squash = No_Root_Squash;" "ganesha: no root squash"
export_block 4567def0 >"$W/block.d"
contains "$W/block.d" "CLIENT { Clients = 10.99.0.0/24; Access_Type = RW; }" "ganesha: pi-d (no ip) exported to the subnet"
check "ganesha: Export_Ids are unique" test "$(grep -o 'Export_Id = [0-9]*' "$gconf" | sort | uniq -d | wc -l)" -eq 0

NS_S=pbn-$$-s NS_C=pbn-$$-c
netns_add "$NS_S" && netns_add "$NS_C" && veth_pair "$NS_S" pbn-s "$NS_C" pbn-c
ip -n "$NS_S" addr add 10.99.0.1/24 dev pbn-s
client_ip() { ip -n "$NS_C" addr flush dev pbn-c && ip -n "$NS_C" addr add "$1/24" dev pbn-c; }

ganesha_conf "$gconf"
check "rpcbind listens in the server namespace" rpcbind_start "$NS_S"
check "ganesha listens" ganesha_start "$NS_S"
NFS_RELOAD="echo nfs >>$ACT; kill -HUP $GAN"

# nfs_ok VERSION SERIAL: list the node's root from the client namespace
nfs_url() { if [ "$1" = 4 ]; then echo "nfs://10.99.0.1$out/nfs/$2${3:-}?version=4"; else echo "nfs://10.99.0.1$out/nfs/$2${3:-}"; fi; }
nfs_ok() { ip netns exec "$NS_C" nfs-ls "$(nfs_url "$1" "$2")" >"$W/nfs-ls.out" 2>&1; local rc=$?; cat "$W/nfs-ls.out" >>"$W/nfs-ls.all"; return $rc; }
nfs_put() { ip netns exec "$NS_C" nfs-cp "$3" "$(nfs_url "$1" "$2" "/$4")" >"$W/nfs-cp.out" 2>&1; }
# nfs_denied VERSION SERIAL: the server answers, and refuses (not merely unreachable)
DENIED='NFS4ERR_NOENT|NFS4ERR_ACCESS|NFS4ERR_PERM|NFS4ERR_WRONGSEC|MNT3ERR_ACCES|MNT3ERR_PERM'
nfs_denied() { ! nfs_ok "$1" "$2" && grep -qE "$DENIED" "$W/nfs-ls.out"; }
nfs_put_denied() { ! nfs_put "$@" && grep -qE "$DENIED" "$W/nfs-cp.out"; }
client_ip 10.99.0.42
check "ganesha: serving (v4 listing from pi-a's IP)" wait_for 10 nfs_ok 4 1234abcd
check "ganesha: v3 listing from pi-a's IP (mount protocol via rpcbind)" nfs_ok 3 1234abcd
echo "written over v4 by $T_NAME" >"$W/hello4.txt"
echo "written over v3 by $T_NAME" >"$W/hello3.txt"
check "ganesha: v4 write from pi-a's IP" nfs_put 4 1234abcd "$W/hello4.txt" hello4.txt
check "ganesha: ... lands in OUT/nfs/1234abcd" cmp "$W/hello4.txt" "$out/nfs/1234abcd/hello4.txt"
check "ganesha: v3 write from pi-a's IP" nfs_put 3 1234abcd "$W/hello3.txt" hello3.txt
check "ganesha: ... lands in OUT/nfs/1234abcd" cmp "$W/hello3.txt" "$out/nfs/1234abcd/hello3.txt"
check "ganesha: written as root (no root squash)" test "$(stat -c %u "$out/nfs/1234abcd/hello4.txt")" -eq 0
check "ganesha: pi-a's IP cannot list pi-b's root (v4)" nfs_denied 4 2345bcde
check "ganesha: the subnet export (pi-d) is reachable from pi-a's IP" nfs_ok 4 4567def0

client_ip 10.99.0.77
check "ganesha: another IP cannot list pi-a's root (v4)" nfs_denied 4 1234abcd
check "ganesha: another IP cannot list pi-a's root (v3)" nfs_denied 3 1234abcd
echo intruder >"$W/intruder.txt"
check "ganesha: another IP cannot write pi-a's root" nfs_put_denied 4 1234abcd "$W/intruder.txt" intruder.txt
check "ganesha: ... nothing written" test ! -e "$out/nfs/1234abcd/intruder.txt"
check "ganesha: another IP in the subnet reaches pi-d's subnet export" nfs_ok 4 4567def0

client_ip 10.99.0.43
check "ganesha: pi-b's IP lists pi-b's root before the change" nfs_ok 4 2345bcde
client_ip 10.99.0.44
check "ganesha: pi-c (not yet in the manifests) is not exported" nfs_denied 4 3456cdef
cp "$FIX/extra-nodes/pi-c.yaml" "$repo/nodes/"
rm "$repo/nodes/pi-b.yaml"
expect_rc 0 "ganesha reload: apply with pi-c added, pi-b removed" ba
acts_is "ganesha reload: nfs.reloadCommand ran" "nfs"
check "ganesha reload: pi-c's new export usable after SIGHUP (v4)" wait_for 5 nfs_ok 4 3456cdef
check "ganesha reload: ... and over v3" nfs_ok 3 3456cdef
check "ganesha reload: pi-c can write its root" nfs_put 4 3456cdef "$W/hello4.txt" hello4.txt
check "ganesha reload: ganesha was not restarted (same process)" kill -0 "$GAN"
client_ip 10.99.0.43
check "ganesha reload: pi-b's export is gone" wait_for 5 nfs_denied 4 2345bcde
client_ip 10.99.0.42
check "ganesha reload: pi-a still served after the reload" nfs_ok 4 1234abcd
check "ganesha reload: ganesha logged the reread" grep -q "Reread exports complete" "$W/ganesha.log"

# A file bramble replaces in a served root (temp and rename) is served new at
# once: ganesha caches a directory's entries, and without Attr_Expiration_Time
# = 0 in the export it served the replaced file for up to a minute (a node
# rebooted right after a settings change booted with the old settings).
nfs_cat() { ip netns exec "$NS_C" nfs-cat "$(nfs_url 4 1234abcd "/$1")" 2>&1; }
check "ganesha: pi-a reads its etc/hostname" sh -c "test \"\$(ip netns exec $NS_C nfs-cat '$(nfs_url 4 1234abcd /etc/hostname)')\" = pi-a"
check "ganesha: every export revalidates what it caches" \
	test "$(grep -c 'Attr_Expiration_Time = 0;' "$gconf")" -eq "$(grep -c '^EXPORT {' "$gconf")"
sed -i 's/name: pi-a$/name: pi-a2/' "$repo/nodes/pi-a.yaml"
expect_rc 0 "ganesha: apply pi-a renamed pi-a2 (its etc/hostname replaced)" ba
got=$(nfs_cat etc/hostname)
if [ "$got" = pi-a2 ]; then ok "ganesha: the replaced etc/hostname is served at once"; else
	not_ok "ganesha: the replaced etc/hostname is served at once (read \"$got\")"; fi
sed -i 's/name: pi-a2$/name: pi-a/' "$repo/nodes/pi-a.yaml"
expect_rc 0 "ganesha: apply pi-a named back" ba
got=$(nfs_cat etc/hostname)
if [ "$got" = pi-a ]; then ok "ganesha: ... and back at once"; else
	not_ok "ganesha: ... and back at once (read \"$got\")"; fi

# Re-image (root.generation bump): the export line does not change, but the
# directory behind it is a new one.  ganesha keeps the old directory's handle
# across a SIGHUP, so bramble asks for nfs.restartCommand; the test plays the
# service manager that restarts ganesha.
NFS_RELOAD="echo nfs >>$ACT; kill -HUP $GAN"
printf '  root: {generation: 2}\n' >>"$repo/nodes/pi-a.yaml"
expect_rc 0 "ganesha re-image: apply with pi-a's root.generation bumped" \
	ba --set nfs.restartCommand="echo nfs-restart >>$ACT"
acts_is "ganesha re-image: bramble asks for the NFS restart (the export line is unchanged)" "nfs-restart"
check "ganesha re-image: the old root (with what pi-a wrote) is in the attic" \
	sh -c "ls '$out'/nfs/.attic/*/hello4.txt"
check "ganesha re-image: the new root has none of it" test ! -e "$out/nfs/1234abcd/hello4.txt"
client_ip 10.99.0.42
nfs_ok 4 1234abcd
check "ganesha re-image: before the restart ganesha still serves the replaced root" grep -q hello4.txt "$W/nfs-ls.out"
stop_pid "$GAN"
check "ganesha re-image: ganesha restarts" ganesha_start "$NS_S"
check "ganesha re-image: after the restart pi-a's export is served" wait_for 10 nfs_ok 4 1234abcd
lacks "$W/nfs-ls.out" hello4.txt "ganesha re-image: ... and it is the new root"
check "ganesha re-image: ... over v3 too" nfs_ok 3 1234abcd
lacks "$W/nfs-ls.out" hello4.txt "ganesha re-image: ... the new root over v3"
expect_rc 0 "ganesha re-image: apply again" ba --set nfs.restartCommand="echo nfs-restart >>$ACT"
acts_is "ganesha re-image: nothing to restart when nothing was replaced" ""

stop_pid "$GAN" # before rpcbind, or unregistering takes seconds
stop_pid "$RPCB"
if [ "$T_FAIL" -ne 0 ]; then echo "# ganesha log (tail):"; grep -v -e dbus -e krb5 "$W/ganesha.log" | tail -20 | sed 's/^/    | /'; fi
done_testing
