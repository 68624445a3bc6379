#!/bin/bash
# The delta pass: after a sealed pass, a revision that only adds, changes or
# removes files holding nothing but Node documents is applied by parsing those
# files (and the ones with the Cluster, Images and Profiles), checking the
# changed nodes against the recorded identities of the others, and rendering
# only the changed nodes and the shared files.  Whatever it does, the result
# must be byte for byte what a full pass from scratch makes of the same
# revision, its counts must be a full plan's, an invalid revision must be
# refused exactly as a full pass refuses it, and any doubt (a changed Cluster,
# Image or Profile file, a changed file that holds or held anything but Nodes,
# another configuration, drift) must mean a full pass.
#
# Every step starts sealed (`ready`), then: plan -v (a verbose plan is
# always a full pass: the reference counts), apply -v (the kind of pass shows
# in a debug line), then `equiv`: the output tree is renamed aside, the same revision is applied from
# scratch into the same path with the same image store, the two trees are
# compared, and the first is renamed back for the next step.  (The cold pass
# hard-links the image files, which changes their ctime: the pass after
# `equiv` is a full one, and `ready` settles and seals again.)
. "$(dirname "$0")/lib.sh"
shopt -s extglob
setup_example
out=$W/out
repo=$W/repo
seal=$out/state/seal
FOREIGN=$out/tftp/local-notes.txt # not bramble's: must survive every pass

# --- Set-up: full DHCP mode (so hosts.d has a file per node); one node a file.
sed -i 's/^    mode: proxy$/    mode: full/' "$repo/cluster.yaml"
grep -q '^    mode: full$' "$repo/cluster.yaml" || echo "# set-up: cluster.yaml not switched to full DHCP mode"
awk -v d="$repo/nodes" '/^---$/ { n++; next } { print > (d "/part" n ".yaml") }' "$repo/nodes/pi4.yaml"
rm "$repo/nodes/pi4.yaml"
mv "$repo/nodes/pi5.yaml" "$repo/nodes/part9.yaml"
for f in "$repo"/nodes/part*.yaml; do
	mv "$f" "$repo/nodes/$(sed -n 's/^  name: //p' "$f" | head -1).yaml"
done
# new_node NAME SERIAL MAC IP [SPEC-LINE...]: a node of its own in nodes/NAME.yaml
new_node() {
	local name=$1 serial=$2 mac=$3 ip=$4 l
	shift 4
	{
		printf 'apiVersion: bramble/v1alpha1\nkind: Node\nmetadata:\n  name: %s\n' "$name"
		printf 'spec:\n  serial: %s\n  mac: %s\n  ip: %s\n' "$serial" "$mac" "$ip"
		for l in "$@"; do printf '  %s\n' "$l"; done
	} >"$repo/nodes/$name.yaml"
}
new_node pi4-c 4567abcd dc:a6:32:00:00:05 10.99.0.45 "hostname: node-c" "boot:" "  configTxt:" "    gpu_mem: 64"
new_node pi4-d 5678bcde dc:a6:32:00:00:06 10.99.0.46 "hostname: node-d" "profiles: [base, k3s]"
new_node pi5-b 6789cdef 2c:cf:67:00:00:07 10.99.0.47 "model: pi5"
check "set-up: six node files, each one Node" test "$(grep -l '^kind: Node$' "$repo"/nodes/*.yaml | wc -l)" = 6 \
	-a "$(cat "$repo"/nodes/*.yaml | grep -c '^kind: ')" = 6

# --- Helpers -----------------------------------------------------------------
settle() { sleep 1.1; }
# kind_of FILE: the kind of pass the stderr of `apply -v` in FILE tells.
kind_of() {
	if grep -q 'delta pass:' "$1"; then echo delta
	elif grep -q 'sealed pass:' "$1"; then echo sealed
	else echo full; fi
}
# plan_counts FILE: a plan's summary as an apply prints it.
plan_counts() {
	sed -n 's/^plan: \([0-9]*\) to create, \([0-9]*\) to update, \([0-9]*\) to delete, \([0-9]*\) unchanged.*/\1 created, \2 updated, \3 deleted, \4 unchanged/p' "$1"
}
last_pass() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["lastPass"].get("pass"))' "$out/state/status.json" 2>/dev/null; }
# snap DIR: lib.sh's snapshot minus what a from-scratch pass cannot have: the
# attic (roots of removed nodes) and the foreign file.
snap() { snapshot "$1" | grep -v -e '^\./nfs/\.attic' -e '  \./nfs/\.attic' -e 'tftp/local-notes\.txt'; }
# ready NAME: settle, apply (seals if it has to), then the next apply must be sealed.
ready() {
	settle
	b apply -v >"$W/ready.out" 2>"$W/ready.err" || echo "# $1: settling apply failed"
	echo "# $1: settling apply was a $(kind_of "$W/ready.err") pass"
	expect_rc 0 "$1: starts sealed" b apply -v
	contains "$W/last.err" "sealed pass:" "$1: the pass before the change is a sealed one"
}
# count_match "C created, U updated, D deleted" PATTERN: PATTERN may say "any" for a number.
# shellcheck disable=SC2053 # the right-hand side is a pattern
count_match() { [ -n "$1" ] && [[ $1 == ${2//any/+([0-9])} ]]; }
# step NAME KIND C U D: plan (a full pass), then apply -v.  The plan must count
# C created, U updated, D deleted; the apply must report the plan's counts and
# be a KIND pass: delta, full (neither sealed nor delta), or any.
step() {
	local name=$1 kind=$2 want="$3 created, $4 updated, $5 deleted" ref prc=2 got
	[ "$3$4$5" != 000 ] || prc=0
	expect_rc "$prc" "$name: plan -v (full) exits $prc" b plan -v
	ref=$(plan_counts "$W/last.out")
	echo "# $name: plan: $ref"
	check "$name: plan counts $want" count_match "${ref%, * unchanged}" "$want"
	expect_rc 0 "$name: apply" b apply -v
	cp "$W/last.out" "$W/apply.out"
	cp "$W/last.err" "$W/apply.err"
	got=$(kind_of "$W/apply.err")
	case $kind in
	delta)
		contains "$W/apply.err" "delta pass:" "$name: a delta pass"
		check "$name: status.json lastPass.pass is \"delta\"" test "$(last_pass)" = delta ;;
	full)
		check "$name: a full pass, not a delta or sealed one (was $got)" test "$got" = full
		check "$name: status.json lastPass.pass is \"full\"" test "$(last_pass)" = full ;;
	*) echo "# $name: the apply was a $got pass" ;;
	esac
	contains "$W/apply.out" ": $ref" "$name: apply reports the full plan's counts"
	check "$name: the foreign file in tftp/ is still there" test "$(cat "$FOREIGN")" = "not bramble's"
}
# equiv NAME: the output tree is what a full pass from scratch makes of the revision.
equiv() {
	local name=$1 rc
	b plan -v >"$W/last.out" 2>"$W/last.err"; rc=$?
	if [ "$rc" = 0 ]; then ok "$name: plan -v (full) on the result: nothing to do"; else
		not_ok "$name: plan -v (full) on the result: nothing to do (exit $rc)"
		grep -hE '^[-+~>!]|^plan:' "$W/last.out" "$W/last.err" | sed 's/^/    | /' | head -20
	fi
	rm -rf "$W/delta"
	snap "$out" >"$W/snap.delta"
	mv "$out" "$W/delta"
	# the same image store (the same inodes: image files are known by their
	# signatures, which name the boot generations), moved in and back out
	mkdir "$out"
	mv "$W/delta/images" "$out/images"
	b apply >"$W/cold.out" 2>"$W/cold.err"; rc=$?
	check "$name: cold apply of the same revision (exit $rc)" test "$rc" = 0
	snap "$out" >"$W/snap.cold"
	if cmp -s "$W/snap.cold" "$W/snap.delta"; then ok "$name: result equals a full pass from scratch"; else
		not_ok "$name: result equals a full pass from scratch"
		diff "$W/snap.cold" "$W/snap.delta" | sed 's/^/    | /' | head -20
	fi
	if cmp -s "$out/state/nodes.json" "$W/delta/state/nodes.json"; then
		ok "$name: per-node status (state/nodes.json) equals a full pass's"
	else
		not_ok "$name: per-node status (state/nodes.json) equals a full pass's"
		diff <(tr '}' '\n' <"$out/state/nodes.json") <(tr '}' '\n' <"$W/delta/state/nodes.json") | sed 's/^/    | /' | head -10
	fi
	mv "$out/images" "$W/delta/images"
	rm -rf "$out"
	mv "$W/delta" "$out"
}
# errors FILE: the file:line:col error lines of a run's stderr.
errors() { grep -E '^[^ ]+:[0-9]+:[0-9]+: ' "$1"; }
# at FILE TEXT: "nodes/FILE:LINE:COL" of the first TEXT in the node file.
at() {
	awk -v t="$2" -v f="nodes/$1" 'index($0, t) { print f ":" NR ":" index($0, t); exit }' "$repo/nodes/$1"
}
# rejected NAME WHERE WHAT: the revision must be refused as a full pass refuses
# it: exit 1, an error at WHERE naming WHAT, the same errors as plan, nothing
# touched.  The caller reverts the change and calls `reverted`.
rejected() {
	local name=$1 where=$2 what=$3
	snapshot "$out" >"$W/rej.before"
	expect_rc 1 "$name: apply refuses the revision" b apply -v
	cp "$W/last.err" "$W/rej.err"
	echo "# $name: $(errors "$W/rej.err" | head -1)"
	contains "$W/rej.err" "$where" "$name: the error is at $where"
	contains "$W/rej.err" "$what" "$name: the error names $what"
	lacks "$W/rej.err" "delta pass:" "$name: not reported as a delta pass"
	b plan >/dev/null 2>"$W/rej.plan.err"
	if [ "$(errors "$W/rej.err")" = "$(errors "$W/rej.plan.err")" ] && [ -n "$(errors "$W/rej.err")" ]; then
		ok "$name: the same errors as a full pass (plan)"; else
		not_ok "$name: the same errors as a full pass (plan)"
		diff <(errors "$W/rej.plan.err") <(errors "$W/rej.err") | sed 's/^/    | /' | head -20
	fi
	snapshot "$out" >"$W/rej.after"
	check "$name: nothing in the output tree touched" cmp -s "$W/rej.before" "$W/rej.after"
}
reverted() {
	expect_rc 0 "$1: reverted: apply" b apply -v
	contains "$W/last.out" "0 created, 0 updated, 0 deleted, " "$1: reverted: nothing to do"
	check "$1: reverted: not a full pass (was $(kind_of "$W/last.err"))" test "$(kind_of "$W/last.err")" != full
}

# --- Start: cold apply, then settle and seal --------------------------------
expect_rc 0 "cold apply" b apply
printf "not bramble's\n" >"$FOREIGN"
ready "start"
N=$(sed -n 's/.*, \([0-9]*\) unchanged.*/\1/p' "$W/last.out")
equiv "start"

# 1. One node's config.txt.
ready "s1 config"
sed -i 's/gpu_mem: 16/gpu_mem: 32/' "$repo/nodes/pi4-b.yaml"
step "s1 config" delta 0 1 0
contains "$W/apply.out" ": 0 created, 1 updated, 0 deleted, $((N - 1)) unchanged" "s1 config: summary is 0/1/0 and the rest unchanged"
contains "$out/tftp/2345bcde/config.txt" "gpu_mem=32" "s1 config: the new setting is served"
"$BRAMBLE" status --root "$out" --json >"$W/status.json"
check "s16 status: after a delta pass: 6 nodes, Ready True" python3 -c '
import json, sys
s = json.load(open(sys.argv[1]))
ready = [c for c in s["conditions"] if c["type"] == "Ready"]
sys.exit(not (s["nodeCounts"]["total"] == 6 and ready and ready[0]["status"] == "True"))' "$W/status.json"
contains "$W/status.json" '"total": 6' "s16 status: \"total\": 6"
check "s16 status: state/status.json lastPass.pass is delta" test "$(last_pass)" = delta
"$BRAMBLE" status --root "$out" >"$W/status.txt"
contains "$W/status.txt" "last pass: delta, 0 created, 1 updated, 0 deleted" "s16 status: bramble status names the delta pass"

# 2. Right after a delta pass: the next pass is not a full one.
expect_rc 0 "s2 again: immediate apply" b apply -v
contains "$W/last.out" ": 0 created, 0 updated, 0 deleted, $N unchanged" "s2 again: nothing to do"
check "s2 again: not a full pass (was $(kind_of "$W/last.err"))" test "$(kind_of "$W/last.err")" != full
settle
expect_rc 0 "s2 again: apply after settling" b apply -v
contains "$W/last.out" ": 0 created, 0 updated, 0 deleted, $N unchanged" "s2 again: still nothing to do"
check "s2 again: not a full pass (was $(kind_of "$W/last.err"))" test "$(kind_of "$W/last.err")" != full
equiv "s1/s2"

# 3. One node's IP.
ready "s3 ip"
sed -i 's/ip: 10.99.0.45$/ip: 10.99.0.55/' "$repo/nodes/pi4-c.yaml"
step "s3 ip" delta 0 2 0
contains "$out/dnsmasq/hosts.d/4567abcd" "10.99.0.55" "s3 ip: the host reservation has the new IP"
contains "$out/exports/bramble.exports" "nfs/4567abcd 10.99.0.55(" "s3 ip: the export has the new IP"
lacks "$out/exports/bramble.exports" "10.99.0.45(" "s3 ip: the old IP is not exported"
equiv "s3 ip"

# 4. A new node in a new file.
ready "s4 add"
new_node pi4-e 789abcde dc:a6:32:00:00:08 10.99.0.48 "hostname: node-e"
step "s4 add" delta 10 1 0
check "s4 add: its boot tree is there" test -L "$out/tftp/789abcde" -a -f "$out/tftp/789abcde/config.txt"
check "s4 add: its root is there" test -f "$out/nfs/789abcde/etc/hostname"
contains "$out/dnsmasq/hosts.d/789abcde" "10.99.0.48" "s4 add: its reservation is there"
contains "$out/exports/bramble.exports" "nfs/789abcde 10.99.0.48(" "s4 add: it is exported"
equiv "s4 add"

# 5. A node file removed.
ready "s5 remove"
rm "$repo/nodes/pi4-e.yaml"
step "s5 remove" delta 0 1 2
check "s5 remove: its boot tree is gone" test ! -e "$out/tftp/789abcde" -a ! -L "$out/tftp/789abcde"
check "s5 remove: no generation of it left" test -z "$(find "$out/tftp" -maxdepth 1 -name '*789abcde*')"
check "s5 remove: its reservation is gone" test ! -e "$out/dnsmasq/hosts.d/789abcde"
lacks "$out/exports/bramble.exports" "789abcde" "s5 remove: not exported"
check "s5 remove: its root went to the attic" sh -c 'test ! -e "$1/nfs/789abcde" && test -d "$1"/nfs/.attic/789abcde.*/etc' _ "$out"
equiv "s5 remove"

# 6. A node document moved into another node file; a node file renamed.
ready "s6 move"
{ echo ---; cat "$repo/nodes/pi4-d.yaml"; } >>"$repo/nodes/pi4-c.yaml"
rm "$repo/nodes/pi4-d.yaml"
step "s6 move" delta 0 0 0
ready "s6 rename"
mv "$repo/nodes/pi4-c.yaml" "$repo/nodes/pi4-cd.yaml"
step "s6 rename" delta 0 0 0
# and back: one node a file again
ready "s6 back"
awk -v d="$repo/nodes" '/^---$/ { n++; next } { print > (d "/split" n ".yaml") }' "$repo/nodes/pi4-cd.yaml"
rm "$repo/nodes/pi4-cd.yaml"
mv "$repo/nodes/split.yaml" "$repo/nodes/pi4-c.yaml"
mv "$repo/nodes/split1.yaml" "$repo/nodes/pi4-d.yaml"
step "s6 back" delta 0 0 0
equiv "s6"

# 7, 8, 9. Invalid revisions: refused exactly as a full pass refuses them.
ready "s7 invalid"
cp "$repo/nodes/pi4-d.yaml" "$W/pi4-d.keep"
cp "$repo/nodes/pi5-b.yaml" "$W/pi5-b.keep"
sed -i 's/serial: 5678bcde/serial: 2345bcde/' "$repo/nodes/pi4-d.yaml"
rejected "s7 dup serial" "$(at pi4-d.yaml 2345bcde): " '"pi4-b"'
contains "$W/rej.err" "$(at pi4-b.yaml 2345bcde)" "s7 dup serial: the other node's place is named too"
cp "$W/pi4-d.keep" "$repo/nodes/pi4-d.yaml" && reverted "s7 dup serial"

sed -i 's/ip: 10.99.0.46/ip: 10.99.0.42/' "$repo/nodes/pi4-d.yaml"
rejected "s8 dup ip" "$(at pi4-d.yaml 10.99.0.42): " '"pi4-a"'
cp "$W/pi4-d.keep" "$repo/nodes/pi4-d.yaml" && reverted "s8 dup ip"

sed -i 's/mac: dc:a6:32:00:00:06/mac: DC:A6:32:00:00:02/' "$repo/nodes/pi4-d.yaml"
rejected "s8 dup mac" "$(at pi4-d.yaml DC:A6): " '"pi4-b"'
cp "$W/pi4-d.keep" "$repo/nodes/pi4-d.yaml" && reverted "s8 dup mac"

sed -i 's/hostname: node-d/hostname: NODE-C/' "$repo/nodes/pi4-d.yaml"
rejected "s8 dup hostname (case)" "$(at pi4-d.yaml NODE-C): " '"pi4-c"'
cp "$W/pi4-d.keep" "$repo/nodes/pi4-d.yaml" && reverted "s8 dup hostname (case)"

# pi4-a has no hostname: its name is its hostname
sed -i 's/hostname: node-d/hostname: PI4-A/' "$repo/nodes/pi4-d.yaml"
rejected "s8 dup hostname (default)" "$(at pi4-d.yaml PI4-A): " '"pi4-a"'
cp "$W/pi4-d.keep" "$repo/nodes/pi4-d.yaml" && reverted "s8 dup hostname (default)"

sed -i 's/^  name: pi4-d$/  name: pi5-a/' "$repo/nodes/pi4-d.yaml"
rejected "s8 dup name" "nodes/pi4-d.yaml:" "pi5-a"
contains "$W/rej.err" "nodes/pi4-d.yaml:" "s8 dup name: the changed file is named"
contains "$W/rej.err" "nodes/pi5-a.yaml:" "s8 dup name: the unchanged file is named"
cp "$W/pi4-d.keep" "$repo/nodes/pi4-d.yaml" && reverted "s8 dup name"

# two changed files that clash with each other
sed -i 's/ip: 10.99.0.46/ip: 10.99.0.49/' "$repo/nodes/pi4-d.yaml"
sed -i 's/ip: 10.99.0.47/ip: 10.99.0.49/' "$repo/nodes/pi5-b.yaml"
rejected "s8 dup ip (two changed files)" "$(at pi5-b.yaml 10.99.0.49): " '"pi4-d"'
cp "$W/pi4-d.keep" "$repo/nodes/pi4-d.yaml" && cp "$W/pi5-b.keep" "$repo/nodes/pi5-b.yaml" && reverted "s8 dup ip (two changed files)"

# a node of a changed file refers to what does not exist
sed -i 's/profiles: \[base, k3s\]/profiles: [base, k3sx]/' "$repo/nodes/pi4-d.yaml"
rejected "s8 unknown profile" "$(at pi4-d.yaml k3sx): " '"k3sx"'
cp "$W/pi4-d.keep" "$repo/nodes/pi4-d.yaml" && reverted "s8 unknown profile"

sed -i 's/ip: 10.99.0.46/ip: [10.99.0.46/' "$repo/nodes/pi4-d.yaml"
rejected "s9 bad yaml (bracket)" "nodes/pi4-d.yaml:" "pi4-d.yaml"
check "s9 bad yaml (bracket): the error is at file:line:col" grep -qE '^nodes/pi4-d\.yaml:[0-9]+:[0-9]+: ' "$W/rej.err"
cp "$W/pi4-d.keep" "$repo/nodes/pi4-d.yaml" && reverted "s9 bad yaml (bracket)"

sed -i 's/^  ip: 10.99.0.46/\tip: 10.99.0.46/' "$repo/nodes/pi4-d.yaml"
rejected "s9 bad yaml (tab)" "nodes/pi4-d.yaml:" "pi4-d.yaml"
check "s9 bad yaml (tab): the error is at file:line:col" grep -qE '^nodes/pi4-d\.yaml:[0-9]+:[0-9]+: ' "$W/rej.err"
cp "$W/pi4-d.keep" "$repo/nodes/pi4-d.yaml" && reverted "s9 bad yaml (tab)"

# 10. A Profile or Cluster file changed: never a delta pass.
ready "s10 profile"
sed -i 's/timezone: Europe\/London/timezone: Europe\/Paris/' "$repo/profiles.yaml"
step "s10 profile" full 0 6 0
contains "$out/nfs/1234abcd/etc/bramble/firstboot.conf" "Europe/Paris" "s10 profile: applied"
equiv "s10 profile"
ready "s10 profile+node"
sed -i 's/enable_uart: 1/enable_uart: 0/' "$repo/profiles.yaml"
sed -i 's/gpu_mem: 64/gpu_mem: 128/' "$repo/nodes/pi4-c.yaml"
step "s10 profile+node" full 0 5 0
equiv "s10 profile+node"
ready "s10 cluster"
sed -i 's/leaseTime: 1h/leaseTime: 2h/' "$repo/cluster.yaml"
step "s10 cluster" full 0 1 0
equiv "s10 cluster"

# 11. Drift of an unchanged node and a change of another: the drift is repaired too.
ready "s11 drift"
printf 'hacked=1\n' >>"$out/tftp/2345bcde/config.txt"
sed -i 's/gpu_mem: 128/gpu_mem: 96/' "$repo/nodes/pi4-c.yaml"
step "s11 drift" full 0 2 0
lacks "$out/tftp/2345bcde/config.txt" "hacked=1" "s11 drift: the appended line is gone"
contains "$out/tftp/4567abcd/config.txt" "gpu_mem=96" "s11 drift: the other node changed"
equiv "s11 drift"

# 13. plan after a one-node edit names that node, twice; then apply.
ready "s13 plan"
sed -i 's/gpu_mem: 96/gpu_mem: 48/' "$repo/nodes/pi4-c.yaml"
cp "$seal" "$W/seal.before"
expect_rc 2 "s13 plan: plan sees the change" b plan
contains "$W/last.out" "[node pi4-c]" "s13 plan: names the node"
lacks "$W/last.out" "[node pi4-b]" "s13 plan: names no other node"
expect_rc 2 "s13 plan: a second plan sees it too" b plan
contains "$W/last.out" "[node pi4-c]" "s13 plan: names the node again"
check "s13 plan: plans leave the seal alone" cmp -s "$seal" "$W/seal.before"
step "s13 plan" delta 0 1 0
equiv "s13 plan"

# 14. A node file that holds a Profile is not a node-only file.
ready "s14 mixed"
printf -- '---\napiVersion: bramble/v1alpha1\nkind: Profile\nmetadata:\n  name: extra\nspec:\n  boot:\n    configTxt:\n      dtoverlay: disable-bt\n' >>"$repo/nodes/pi4-c.yaml"
sed -i 's/profiles: \[base, k3s\]/profiles: [base, k3s, extra]/' "$repo/nodes/pi4-d.yaml"
step "s14 mixed" full 0 1 0
contains "$out/tftp/5678bcde/config.txt" "dtoverlay=disable-bt" "s14 mixed: the new profile is used"
equiv "s14 mixed"
# another node file changes: the mixed file is read as a Profile file
ready "s14 other"
sed -i 's/^  ip: 10.99.0.47$/  ip: 10.99.0.57/' "$repo/nodes/pi5-b.yaml"
step "s14 other" delta 0 2 0
equiv "s14 other"
# the node of the mixed file changes: not a delta
ready "s14 node of mixed"
sed -i 's/gpu_mem: 48/gpu_mem: 40/' "$repo/nodes/pi4-c.yaml"
step "s14 node of mixed" full 0 1 0
equiv "s14 node of mixed"
# the Profile goes, leaving a node-only file, while an unchanged file still uses it
ready "s14 profile gone"
cp "$repo/nodes/pi4-c.yaml" "$W/pi4-c.keep"
sed -i '/^---$/,$d' "$repo/nodes/pi4-c.yaml"
rejected "s14 profile gone" "$(at pi4-d.yaml extra): " '"extra"'
cp "$W/pi4-c.keep" "$repo/nodes/pi4-c.yaml" && reverted "s14 profile gone"
sed -i '/^---$/,$d' "$repo/nodes/pi4-c.yaml"
sed -i 's/profiles: \[base, k3s, extra\]/profiles: [base, k3s]/' "$repo/nodes/pi4-d.yaml"
step "s14 profile gone" full 0 1 0
equiv "s14 profile gone"

# More ways identities move inside one revision.
ready "s17 swap ips"
sed -i 's/^  ip: 10.99.0.55$/  ip: 10.99.0.46/' "$repo/nodes/pi4-c.yaml"
sed -i 's/^  ip: 10.99.0.46$/  ip: 10.99.0.55/' "$repo/nodes/pi4-d.yaml"
step "s17 swap ips" delta 0 3 0
contains "$out/exports/bramble.exports" "nfs/4567abcd 10.99.0.46(" "s17 swap ips: pi4-c has pi4-d's IP"
contains "$out/exports/bramble.exports" "nfs/5678bcde 10.99.0.55(" "s17 swap ips: pi4-d has pi4-c's IP"
equiv "s17 swap ips"

ready "s18 reuse"
new_node pi4-e 789abcde dc:a6:32:00:00:08 10.99.0.48 "hostname: node-e"
step "s18 reuse: add" delta 10 1 0
ready "s18 reuse"
rm "$repo/nodes/pi4-e.yaml"
mkdir -p "$repo/nodes/rack2"
new_node pi4-f 89abcdef dc:a6:32:00:00:08 10.99.0.48 "hostname: node-e"
mv "$repo/nodes/pi4-f.yaml" "$repo/nodes/rack2/pi4-f.yaml"
step "s18 reuse" delta 10 1 2
contains "$out/dnsmasq/hosts.d/89abcdef" "10.99.0.48" "s18 reuse: the new node has the removed one's IP"
check "s18 reuse: the removed node's reservation is gone" test ! -e "$out/dnsmasq/hosts.d/789abcde"
equiv "s18 reuse"

# Inputs outside the repository, changed with a node file.
ready "s19 secret+node"
printf 'another-passphrase\n' >"$W/secrets/wifi-passphrase"
sed -i 's/gpu_mem: 40/gpu_mem: 24/' "$repo/nodes/pi4-c.yaml"
step "s19 secret+node" any 0 2 0
contains "$out/nfs/3456cdef/etc/NetworkManager/system-connections/bramble-wifi.nmconnection" "another-passphrase" "s19 secret+node: the secret is re-read"
equiv "s19 secret+node"

ready "s20 image+node"
printf 'new firmware\n' >>"$out/images/demo-os/boot/start4.elf"
sed -i 's/gpu_mem: 24/gpu_mem: 20/' "$repo/nodes/pi4-c.yaml"
step "s20 image+node" any 0 7 0
check "s20 image+node: an unchanged node serves the new firmware" cmp -s "$out/images/demo-os/boot/start4.elf" "$out/tftp/1234abcd/start4.elf"
equiv "s20 image+node"

# Another controller configuration is another base: never a delta pass.
ready "s21 config+node"
sed -i 's/gpu_mem: 20/gpu_mem: 28/' "$repo/nodes/pi4-c.yaml"
expect_rc 0 "s21 config+node: apply with another setting" \
	"$BRAMBLE" apply -v --source "$repo" --root "$out" --set dhcp.testCommand=true --set "$SECRETS"
check "s21 config+node: a full pass (was $(kind_of "$W/last.err"))" test "$(kind_of "$W/last.err")" = full
contains "$W/last.out" ": 0 created, 1 updated, 0 deleted, " "s21 config+node: the node changed"
expect_rc 0 "s21 config+node: back to the first setting" b apply -v
check "s21 config+node: a full pass again (was $(kind_of "$W/last.err"))" test "$(kind_of "$W/last.err")" = full
equiv "s21 config+node"

# 12. The foreign file was checked after every apply above (step); and a
# last one-node change for good measure.
ready "s12 last"
sed -i 's/gpu_mem: 32/gpu_mem: 16/' "$repo/nodes/pi4-b.yaml"
step "s12 last" delta 0 1 0
check "s12 last: the foreign file in tftp/ survived all of it" test "$(cat "$FOREIGN")" = "not bramble's"
equiv "s12 last"

# 15. A node renamed: same serial, new name (its default hostname with it).
# Last, so that what it may leave behind disturbs no other step.
ready "s15 rename"
sed -i 's/^  name: pi5-b$/  name: pi5-z/' "$repo/nodes/pi5-b.yaml"
step "s15 rename" any 0 6 0
contains "$out/nfs/6789cdef/etc/hostname" "pi5-z" "s15 rename: the new name is the hostname"
contains "$out/dnsmasq/hosts.d/6789cdef" "pi5-z" "s15 rename: and in the reservation"
equiv "s15 rename"
expect_rc 0 "s15 rename: the next apply" b apply
contains "$W/last.out" ": 0 created, 0 updated, 0 deleted, " "s15 rename: the next apply changes nothing"
check "s15 rename: the renamed node keeps its boot tree" test -L "$out/tftp/6789cdef"
check "s15 rename: and its root (never moved to the attic)" \
	sh -c 'test -d "$1/nfs/6789cdef/etc" && ! ls -d "$1"/nfs/.attic/6789cdef.* >/dev/null 2>&1' _ "$out"

done_testing
