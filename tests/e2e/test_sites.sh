#!/bin/bash
# Several netboot servers from one repository (selector: on Node labels):
# two instances, A (rack=shelf-1) and B (rack=shelf-2), follow one git
# repository over file://, each with its own output roots and state.
#   1. they render disjoint node sets (boot trees, roots, exports, dnsmasq);
#      B serves from its own address (server:, over the Cluster's), which
#      must be inside the Cluster's subnet and no node's;
#   2. neither prunes or touches the other's files, and a second pass of
#      each changes nothing;
#   3. an address or a serial clash between nodes of different sites is
#      refused by both, with both positions, and nothing is applied;
#   4. a node moving from A's site to B's: A's next pass removes it (its root
#      to A's attic), B's creates it; and so does A's daemon;
#   5. a changed selector under an existing inventory is refused (apply exits
#      1, plan warns) until --accept-selector-change; a selector that matches
#      nothing is refused even then; a malformed one is a usage error.
. "$(dirname "$0")/lib.sh"
command -v git >/dev/null || skip_test "no git"

mkdir -p "$W/a/images" "$W/b/images" "$W/c/images"
cp -r "$SRC/manifests/examples" "$W/work"
example_secrets "$W/work"
sh "$SRC/scripts/make-demo-image.sh" "$W/a/images/demo-os" >/dev/null
cp -a "$W/a/images/demo-os" "$W/b/images/"
cp -a "$W/a/images/demo-os" "$W/c/images/"
git -C "$W/work" init -q -b main
git -C "$W/work" add -A && git -C "$W/work" -c user.name=t -c user.email=t@t commit -qm initial
git clone -q --bare "$W/work" "$W/src.git"
git -C "$W/work" remote add origin "$W/src.git"
commit() {
	git -C "$W/work" -c user.name=t -c user.email=t@t commit -qam "$1" &&
		git -C "$W/work" push -q origin main 2>/dev/null
}
SEL_A=rack=shelf-1
SEL_B=rack=shelf-2
# site ROOT SELECTOR COMMAND [ARGS...]: bramble as the instance on ROOT.
site() {
	local root=$1 sel=$2 cmd=$3; shift 3
	"$BRAMBLE" "$cmd" --source "file://$W/src.git" --root "$root" --set dhcp.testCommand= \
		--set "$SECRETS" --set "selector=$sel" "$@"
}
a() { site "$W/a" "$SEL_A" "$@"; }
# B's netboot server has its own address (server: over the Cluster's).
bb() { site "$W/b" "$SEL_B" "$@" --set server=10.99.0.11; }
has() { [ -e "$1" ] || [ -L "$1" ]; }
hasnt() { ! has "$1"; }

# --- 1. disjoint renders
expect_rc 0 "A applies its site" a apply
expect_rc 0 "B applies its site" bb apply
check "A serves pi4-a and pi4-b" has "$W/a/tftp/1234abcd"
check "A serves pi4-b" has "$W/a/tftp/2345bcde"
check "A does not serve pi5-a (B's)" hasnt "$W/a/tftp/3456cdef"
check "A has no root for pi5-a" hasnt "$W/a/nfs/3456cdef"
check "B serves pi5-a" has "$W/b/tftp/3456cdef"
check "B serves neither of A's nodes" eval 'hasnt "$W/b/tftp/1234abcd" && hasnt "$W/b/tftp/2345bcde"'
check "B has no root of A's nodes" eval 'hasnt "$W/b/nfs/1234abcd" && hasnt "$W/b/nfs/2345bcde"'
contains "$W/a/exports/bramble.exports" "10.99.0.42" "A exports pi4-a's root"
lacks "$W/a/exports/bramble.exports" "10.99.0.44" "A does not export pi5-a's root"
contains "$W/b/exports/bramble.exports" "10.99.0.44" "B exports pi5-a's root"
lacks "$W/b/exports/bramble.exports" "10.99.0.42" "B does not export pi4-a's root"
lacks "$W/b/exports/bramble.exports" "10.99.0.43" "B does not export pi4-b's root"
contains "$W/a/state/selector" "$SEL_A" "A records its selector"
contains "$W/a/tftp/1234abcd/cmdline.txt" "nfsroot=10.99.0.1:" "A's nodes mount their roots from the Cluster's server"
contains "$W/b/tftp/3456cdef/cmdline.txt" "nfsroot=10.99.0.11:" "B's nodes mount theirs from B's own address"
expect_rc 1 "a server outside the Cluster's subnet is refused" site "$W/b" "$SEL_B" plan --set server=10.98.0.1
contains "$W/last.err" "server 10.98.0.1 (the configuration's) is outside the Cluster's subnet 10.99.0.0/24" "and says why"
expect_rc 1 "a server on a node's address is refused" site "$W/b" "$SEL_B" plan --set server=10.99.0.42
contains "$W/last.err" "server 10.99.0.42 (the configuration's) is the address of node \"pi4-a\"" \
	"also a node of another site, named"
expect_rc 64 "a malformed server is a usage error" site "$W/b" "$SEL_B" plan --set server=10.99.0
contains "$W/last.err" 'bad address "10.99.0" for "server"' "and says what was expected"
bb doctor >"$W/doctor.out" 2>&1
contains "$W/doctor.out" "nfsroot pi5-a: cmdline.txt mounts 10.99.0.11:" "B's doctor checks B's node against B's address"
lacks "$W/doctor.out" "pi4-a" "and none of A's nodes"
a validate >"$W/v.out" 2>&1
contains "$W/v.out" "selector $SEL_A: 2 of 3 nodes" "validate says what the selector keeps"
contains "$W/v.out" "configuration OK: 3 nodes" "validate checks the whole repository"

# --- 2. no cross-prune; a second pass changes nothing
snapshot "$W/b" >"$W/b.before"
expect_rc 0 "A's second apply" a apply
contains "$W/last.out" "0 created, 0 updated, 0 deleted" "A's second pass changes nothing"
expect_rc 0 "A's plan: nothing to change" a plan
expect_rc 0 "B's plan: nothing to change" bb plan
snapshot "$W/b" >"$W/b.after"
check "A's passes leave B's files as they were" cmp -s "$W/b.before" "$W/b.after"

# --- 3. clashes across sites are refused by both, with both positions
sed -i 's/ip: 10.99.0.44/ip: 10.99.0.42/' "$W/work/nodes/pi5.yaml"
commit "pi5-a takes pi4-a's address"
snapshot "$W/a" >"$W/a.before"
expect_rc 1 "A refuses an address clash with a node of B's site" a apply
contains "$W/last.err" 'nodes/pi4.yaml:21:7: duplicate IP address "10.99.0.42" (also used by node "pi5-a" at nodes/pi5.yaml:12:7)' \
	"the clash names both positions (A)"
expect_rc 1 "B refuses it too" bb apply
contains "$W/last.err" 'nodes/pi5.yaml:12:7: duplicate IP address "10.99.0.42" (also used by node "pi4-a" at nodes/pi4.yaml:21:7)' \
	"the clash names both positions (B)"
sed -i 's/ip: 10.99.0.42/ip: 10.99.0.44/' "$W/work/nodes/pi5.yaml"
commit "pi5-a has its own address again"
sed -i 's/serial: 3456cdef/serial: 2345bcde/' "$W/work/nodes/pi5.yaml"
commit "pi5-a takes pi4-b's serial"
expect_rc 1 "A refuses a serial clash with a node of B's site" a apply
contains "$W/last.err" 'duplicate serial "2345bcde" (also used by node "pi5-a" at nodes/pi5.yaml:9:11)' \
	"the serial clash names the other site's node and position"
snapshot "$W/a" >"$W/a.after"
check "nothing of A changed while the repository was invalid" cmp -s "$W/a.before" "$W/a.after"
sed -i 's/serial: 2345bcde/serial: 3456cdef/' "$W/work/nodes/pi5.yaml"
commit "pi5-a has its own serial again"
expect_rc 0 "A applies the fixed revision" a apply

# --- 4. pi4-b moves from shelf-1 (A) to shelf-2 (B)
# move_pi4b FROM TO: relabel pi4-b (the second Node of nodes/pi4.yaml).
move_pi4b() {
	python3 - "$W/work/nodes/pi4.yaml" "rack: $1" "rack: $2" <<'EOF'
import sys
p, old, new = sys.argv[1:]
s = open(p).read()
i = s.index("name: pi4-b")
open(p, "w").write(s[:i] + s[i:].replace(old, new, 1))
EOF
}
move_pi4b shelf-1 shelf-2
commit "pi4-b moves to shelf-2"
expect_rc 0 "A's pass after the move" a apply
contains "$W/last.out" "deleted" "A's pass deletes the node that left its site"
check "A no longer serves pi4-b" hasnt "$W/a/tftp/2345bcde"
check "A's root of pi4-b went to its attic" eval 'ls "$W/a/nfs/.attic" | grep -q 2345bcde'
check "A's live roots no longer hold pi4-b" hasnt "$W/a/nfs/2345bcde"
lacks "$W/a/exports/bramble.exports" "10.99.0.43" "A no longer exports pi4-b's root"
check "A still serves pi4-a" has "$W/a/tftp/1234abcd/config.txt"
expect_rc 0 "B's pass after the move" bb apply
check "B serves pi4-b now" has "$W/b/tftp/2345bcde/config.txt"
check "B made pi4-b's root" has "$W/b/nfs/2345bcde/etc/hostname"
contains "$W/b/exports/bramble.exports" "10.99.0.43" "B exports pi4-b's root"
expect_rc 0 "A: nothing left to change" a plan

# ... and back, followed by A's daemon (its passes are full ones under a selector)
start_daemon() {
	"$BRAMBLE" run --source "file://$W/src.git" --root "$W/a" --set dhcp.testCommand= \
		--set "$SECRETS" --set "selector=$SEL_A" --listen 127.0.0.1:0 --interval 1s \
		>"$W/daemon.log" 2>&1 &
	PID=$!
	T_PIDS+=("$PID")
	wait_for 10 grep -q 'listening on' "$W/daemon.log"
}
check "A's daemon starts" start_daemon
move_pi4b shelf-2 shelf-1
commit "pi4-b back to shelf-1"
check "A's daemon brings pi4-b back" wait_for 30 test -e "$W/a/tftp/2345bcde/config.txt"
move_pi4b shelf-1 shelf-2
commit "pi4-b to shelf-2 again"
check "A's daemon removes pi4-b again" wait_for 30 eval '! test -e "$W/a/tftp/2345bcde"'
stop_pid "$PID"

# --- 5. a changed selector is refused without confirmation
C=$W/c
expect_rc 0 "C applies shelf-1" site "$C" "$SEL_A" apply
snapshot "$C" >"$W/c.before"
expect_rc 1 "C refuses a changed selector" site "$C" "$SEL_B" apply
contains "$W/last.err" "refusing to apply: the selector changed from $SEL_A to $SEL_B" \
	"the refusal names the old and the new selector"
contains "$W/last.err" "--accept-selector-change" "the refusal says how to confirm"
expect_rc 1 "a selector with a typo is refused the same way" site "$C" "rack=shelf1" apply
expect_rc 1 "no selector at all (every node) is a change too" site "$C" "" apply
snapshot "$C" >"$W/c.after"
check "the refused passes changed nothing" cmp -s "$W/c.before" "$W/c.after"
contains "$C/state/selector" "$SEL_A" "the recorded selector is still the old one"
expect_rc 2 "plan under the new selector shows the changes" site "$C" "$SEL_B" plan
contains "$W/last.out" "warning: the selector changed from $SEL_A to $SEL_B" "plan warns"
expect_rc 1 "a selector that matches nothing is refused even when confirmed" \
	site "$C" "rack=nowhere" apply --accept-selector-change
contains "$W/last.err" "the selector matches no node" "it says the selector matches nothing"
contains "$C/state/selector" "$SEL_A" "a refused pass does not record its selector"
expect_rc 0 "confirmed, the new selector applies" site "$C" "$SEL_B" apply --accept-selector-change
check "C now serves shelf-2's nodes" eval 'has "$C/tftp/3456cdef" && hasnt "$C/tftp/1234abcd"'
check "the old site's roots went to the attic" eval 'ls "$C/nfs/.attic" | grep -q 1234abcd'
contains "$C/state/selector" "$SEL_B" "the new selector is recorded"
expect_rc 0 "and stays accepted without the flag" site "$C" "$SEL_B" apply
expect_rc 64 "a malformed selector is a usage error" site "$C" "rack" plan
contains "$W/last.err" 'bad selector "rack"; expected LABEL=VALUE terms separated by commas' \
	"it says what was expected"
done_testing
