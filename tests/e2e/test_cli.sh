#!/bin/bash
# The reconcile contract through the command line: apply, idempotency, drift
# repair, prune, foreign files, node data kept, empty set refused, status.
. "$(dirname "$0")/lib.sh"
setup_example
out=$W/out

expect_rc 0 "validate accepts the examples" b validate
contains "$W/last.out" "configuration OK: 3 nodes" "validate reports the node count"
expect_rc 2 "plan on an empty output says changes are pending" b plan
contains "$W/last.out" "+ tftp       1234abcd/" "plan lists the new boot tree of pi4-a"
check "plan changes nothing: no output directory made" \
	test ! -e "$out/tftp" -a ! -e "$out/nfs" -a ! -e "$out/state" -a ! -e "$out/dnsmasq" -a ! -e "$out/exports"
# A revision that cannot be rendered (a secret file missing) makes nothing.
mv "$W/secrets/wifi-passphrase" "$W/secrets/away"
expect_rc 1 "apply of a revision whose render fails is refused" b apply
check "a refused apply makes no output directory" \
	test ! -e "$out/tftp" -a ! -e "$out/nfs" -a ! -e "$out/dnsmasq" -a ! -e "$out/exports"
mv "$W/secrets/away" "$W/secrets/wifi-passphrase"
expect_rc 0 "first apply succeeds" b apply
check "boot dir is a symlink to a generation" test -L "$out/tftp/1234abcd"
check "boot dir holds the firmware (prefix kept)" test -f "$out/tftp/1234abcd/start4.elf"
check "firmware is hard-linked, not copied" \
	test "$(stat -c %i "$out/tftp/1234abcd/start4.elf")" = "$(stat -c %i "$out/images/demo-os/boot/start4.elf")"
contains "$out/tftp/1234abcd/cmdline.txt" "root=/dev/nfs nfsroot=10.99.0.1:$out/nfs/1234abcd,vers=3,tcp rw ip=dhcp rootwait" "cmdline points at the node's NFS root"
lacks "$out/tftp/1234abcd/cmdline.txt" "init=" "image init= is dropped"
lacks "$out/tftp/1234abcd/cmdline.txt" "PARTUUID" "image root= is dropped"
contains "$out/tftp/1234abcd/config.txt" "[all]" "config.txt gets an [all] section for node settings"
check "node root directory exists" test -d "$out/nfs/1234abcd"
contains "$out/exports/bramble.exports" "$out/nfs/1234abcd 10.99.0.42(rw,sync,no_subtree_check,no_root_squash)" "export only to the node's address"
lacks "$out/exports/bramble.exports" "*(" "no export to everyone"
contains "$out/dnsmasq/bramble.conf" 'pxe-service=0,"Raspberry Pi Boot"' "dnsmasq PXE menu"

# Idempotency: a second pass changes nothing and says so.
before=$(snapshot "$out/tftp")
expect_rc 0 "second apply succeeds" b apply
contains "$W/last.out" "0 created, 0 updated, 0 deleted" "second apply changes nothing"
expect_rc 0 "plan after apply: nothing to change (exit 0)" b plan
check "second apply leaves the tree byte-identical" test "$before" = "$(snapshot "$out/tftp")"

# Drift: an edited file, a deleted host entry, a replaced link.
echo "hacked=1" >>"$out/tftp/1234abcd/config.txt"
rm -f "$out/exports/bramble.exports"
expect_rc 2 "plan sees drift" b plan
contains "$W/last.out" "files inside changed outside bramble" "plan says the boot tree was edited"
contains "$W/last.out" "config.txt  (content differs (edited outside bramble))" "plan names the edited file and the reason"
contains "$W/last.out" "bramble.exports  (missing (deleted outside bramble)" "plan names the deleted export file"
expect_rc 0 "apply repairs drift" b apply
contains "$W/last.out" "drift repaired" "apply reports the drift it repaired"
lacks "$out/tftp/1234abcd/config.txt" "hacked=1" "edited config.txt restored"
check "deleted exports file restored" test -f "$out/exports/bramble.exports"
expect_rc 0 "plan after repair: nothing to change" b plan

# The quietest drift: same size, same inode, the mtime put back; only the ctime
# tells.  plan -v is always a full pass (never the sealed one).
f=$out/tftp/2345bcde/cmdline.txt
mt=$(stat -c %y "$f")
off=$(grep -bo rootwait "$f" | head -1 | cut -d: -f1)
printf 'X' | dd of="$f" bs=1 seek=$((off + 7)) conv=notrunc status=none
touch -d "$mt" "$f"
check "the edit kept the size and the mtime" test "$(stat -c %y "$f")" = "$mt"
expect_rc 2 "a full plan sees an edit in place with the mtime put back" b plan -v
contains "$W/last.out" "cmdline.txt  (content differs (edited outside bramble))" "the plan names the file"
expect_rc 0 "apply repairs it" b apply
contains "$f" "rootwait" "the edit in place is repaired"

# A change in the repository switches the boot tree to a new generation.
old_gen=$(readlink "$out/tftp/1234abcd")
sed -i 's/enable_uart: 1/enable_uart: 0/' "$W/repo/profiles.yaml"
expect_rc 2 "plan sees the profile change" b plan
contains "$W/last.out" "changed in the repository" "reason: changed in the repository"
contains "$W/last.out" "-enable_uart=1" "plan shows the removed line" 
expect_rc 0 "apply the profile change" b apply
new_gen=$(readlink "$out/tftp/1234abcd")
check "boot tree switched to a new generation" test "$old_gen" != "$new_gen"
check "old generation removed" test ! -e "$out/tftp/$old_gen"
contains "$out/tftp/1234abcd/config.txt" "enable_uart=0" "new config.txt served"

# Moving a node to another image with the same file names is a new
# generation (switched atomically), not an in-place repair.
cp -a "$out/images/demo-os" "$out/images/demo-os-2"
cat >>"$W/repo/images.yaml" <<'EOF2'
---
apiVersion: bramble/v1alpha1
kind: Image
metadata: {name: demo-os-2}
spec: {path: demo-os-2}
EOF2
sed -i '0,/serial: 1234abcd/s//serial: 1234abcd\n  image: demo-os-2/' "$W/repo/nodes/pi4.yaml"
old_gen=$(readlink "$out/tftp/1234abcd")
expect_rc 2 "plan sees the image change" b plan
contains "$W/last.out" "1234abcd/  (changed in the repository)" "an image change is a repository change"
lacks "$W/last.out" "drift" "an image change is not drift"
expect_rc 0 "apply the image change" b apply
check "image change switched the generation" test "$old_gen" != "$(readlink "$out/tftp/1234abcd")"
check "kernel now linked from the new image" \
	test "$(stat -c %i "$out/tftp/1234abcd/kernel8.img")" = "$(stat -c %i "$out/images/demo-os-2/boot/kernel8.img")"

# Prune: a node removed from the repository.
echo "not ours" >"$out/tftp/foreign.txt"
echo "node data" >"$out/nfs/2345bcde/precious"
python3 - "$W/repo/nodes/pi4.yaml" <<'PY'
import sys
p = sys.argv[1]
docs = open(p).read().split("\n---\n")
open(p, "w").write("\n---\n".join(d for d in docs if "2345bcde" not in d))
PY
expect_rc 0 "repository without pi4-b still validates" b validate
expect_rc 2 "plan shows the removal" b plan
contains "$W/last.out" "- tftp       2345bcde/  (not in the repository any more)" "plan: boot tree deleted"
contains "$W/last.out" "> nfs        2345bcde/" "plan: node root moves to the attic"
contains "$W/last.out" "root of pi4-b → attic (node removed from the repository)" "plan says where the root goes"
expect_rc 0 "apply the removal" b apply
check "removed node's boot dir gone" test ! -e "$out/tftp/2345bcde"
check "removed node's generation dir gone" test -z "$(ls -A "$out/tftp" | grep '^\.2345bcde')"
lacks "$out/exports/bramble.exports" "2345bcde" "removed node's export gone"
check "foreign file in the TFTP root untouched" test "$(cat "$out/tftp/foreign.txt")" = "not ours"
check "removed node's NFS root kept with its data, in the attic" \
	sh -c 'test -f "$1"/nfs/.attic/2345bcde.gen0.*/precious' _ "$out"
check "removed node's root is no longer exported" test ! -e "$out/nfs/2345bcde"
check "other nodes still served" test -f "$out/tftp/1234abcd/config.txt"

# Empty repository: refused unless allowed.
mkdir -p "$W/empty"
cp "$W/repo"/*.yaml "$W/empty/"   # everything but nodes/
before=$(snapshot "$out")
expect_rc 1 "apply of a repository with no nodes is refused" "$BRAMBLE" apply --source "$W/empty" --root "$out" --set dhcp.testCommand= --set "$SECRETS"
contains "$W/last.err" "refusing to apply" "the refusal says why"
check "refused apply changed nothing" test "$before" = "$(snapshot "$out")"

# Status.
expect_rc 0 "status prints" b status
contains "$W/last.out" "pi4-a" "status lists nodes"
expect_rc 0 "status --json prints" b status --json
check "status JSON has the applied revision" python3 -c "
import json,sys; s=json.load(open('$W/last.out'))
assert s['lastAppliedRevision'].startswith('dir:'), s
assert s['nodeCounts']['ready'] == 2, s['nodeCounts']
assert any(c['type']=='Ready' for c in s['conditions'])
"
# The shipped controller configurations load (every key known, every value valid).
for cfg in "$SRC/deploy/bramble.yaml" "$SRC/deploy/kubernetes/base/bramble.yaml"; do
	expect_rc 0 "$(basename "$(dirname "$cfg")")/$(basename "$cfg") loads" "$BRAMBLE" validate --config "$cfg" --source "$W/repo" --path "" --set "$SECRETS"
done
printf 'paths:\n  tftpRoot: /x\n  colour: blue\n' >"$W/bad.yaml"
expect_rc 64 "a bad controller configuration is a usage error" "$BRAMBLE" validate --config "$W/bad.yaml" --source "$W/repo"
contains "$W/last.err" "bad.yaml:3:3: unknown key \"paths.colour\"" "it names file, line and column"
# A resource that cannot be put in place makes the nodes that need it not ready, and says why.
rm -f "$out/exports/bramble.exports"
mkdir "$out/exports/bramble.exports"
expect_rc 1 "apply fails when a directory is in the way of the exports file" b apply
expect_rc 0 "status --json after the failure" b status --json
check "nodes not ready, with the reason" python3 -c "
import json; s=json.load(open('$W/last.out'))
assert all(not n['ready'] for n in s['nodes']), s['nodes']
assert 'bramble.exports' in s['nodes'][0]['message'], s['nodes'][0]
assert s['nodes'][0]['resources']['nfs'] != 'in place'
assert s['nodeCounts']['ready'] == 0"
rmdir "$out/exports/bramble.exports"
expect_rc 0 "apply recovers once the way is clear" b apply
expect_rc 0 "status --json after recovery" b status --json
check "nodes ready again" python3 -c "
import json; s=json.load(open('$W/last.out')); assert all(n['ready'] for n in s['nodes'])"

# A pass that changes nothing keeps the per-node status; a lost nodes.json is rewritten.
rm -f "$out/state/nodes.json"
expect_rc 0 "apply after losing nodes.json" b apply
check "nodes.json rewritten" test -s "$out/state/nodes.json"
expect_rc 0 "status --json after a no-op pass" b status --json
check "no-op pass kept every node's status" python3 -c "
import json; s=json.load(open('$W/last.out')); assert len(s['nodes']) == 2, s['nodes']"
expect_rc 64 "unknown option is a usage error" "$BRAMBLE" apply --bogus
expect_rc 0 "version" "$BRAMBLE" version

# The command line keeps its word: an option that means nothing for a command,
# an extra argument, a missing source and a bad flag value are usage errors
# (64) that say why, before anything is done.
expect_rc 64 "an option that means nothing for the command is refused" b validate --dry-run
contains "$W/last.err" "bramble validate: --dry-run means nothing for validate" "it says why"
expect_rc 64 "status takes no --adopt" b status --adopt
contains "$W/last.err" "--adopt means nothing for status" "status says why"
expect_rc 64 "version takes no argument" "$BRAMBLE" version extra
contains "$W/last.err" 'unexpected argument "extra"' "version names the extra argument"
expect_rc 64 "an extra argument to plan is refused" b plan extra
for cmd in plan validate; do
	expect_rc 64 "$cmd without a source is a usage error" "$BRAMBLE" "$cmd" --root "$W/nowhere"
	check "$cmd without a source says so once" test "$(grep -c 'no source' "$W/last.err")" -eq 1
	lacks "$W/last.err" "nothing applied" "$cmd without a source does not speak of applying"
done
expect_rc 64 "-c naming a directory is a usage error" b plan -c "$W"
contains "$W/last.err" "not a regular file" "it says why"
expect_rc 64 "-c /dev/null is a usage error" b plan -c /dev/null
contains "$W/last.err" '"/dev/null": not a regular file' "it says why"
expect_rc 64 "run --interval 5x is a usage error" "$BRAMBLE" run --source "$W/repo" --root "$W/r5x" --interval 5x
contains "$W/last.err" '--interval: bad duration "5x": expected' "it names the flag, not --set"
contains "$W/last.err" '1h (1s to 7d)' "it gives source.interval's range from the key table"
expect_rc 64 "run --listen nonsense is a usage error" "$BRAMBLE" run --source "$W/repo" --root "$W/rlisten" --listen nonsense
contains "$W/last.err" 'bad listen address "nonsense"' "it says which address"
lacks "$W/last.err" "reconciling" "it refuses before the start-up lines"
check "it refuses before making the state directory" test ! -e "$W/rlisten/state"
"$BRAMBLE" plan --help >"$W/plan-help.out"
expect_rc 0 "help plan" "$BRAMBLE" help plan
check "help plan is plan --help" cmp -s "$W/last.out" "$W/plan-help.out"
lacks "$W/last.out" "--dry-run" "plan's help lists only plan's options"
expect_rc 64 "help of an unknown command is a usage error" "$BRAMBLE" help nonsense
# -q prints only errors; a plan never says "nothing applied".
sed -i 's/enable_uart: 0/enable_uart: 1/' "$W/repo/profiles.yaml"
expect_rc 0 "validate -q" b validate -q
check "validate -q prints nothing" test ! -s "$W/last.out" -a ! -s "$W/last.err"
expect_rc 2 "plan -q still exits 2 on pending changes" b plan -q
check "plan -q prints nothing" test ! -s "$W/last.out" -a ! -s "$W/last.err"
expect_rc 0 "apply -q" b apply -q
check "apply -q prints nothing" test ! -s "$W/last.out" -a ! -s "$W/last.err"
printf 'apiVersion: bramble/v1alpha1\nkind: Profile\nmetadata: {name: bad}\nspec: {bogus: 1}\n' >"$W/repo/bad.yaml"
expect_rc 1 "plan of an invalid revision fails" b plan -q
contains "$W/last.err" "bad.yaml:4:" "plan -q still prints the errors, with positions"
expect_rc 1 "plan of an invalid revision fails" b plan
lacks "$W/last.err" "nothing applied" "a plan never says nothing applied"
expect_rc 1 "apply of an invalid revision fails" b apply
contains "$W/last.err" "nothing applied; the last applied state keeps serving" "an apply says nothing was applied"
rm -f "$W/repo/bad.yaml"

# Colour: + green, ~ yellow, - red, ! bold, on a terminal only (script gives
# one), never when piped, never with NO_COLOR set; --color=always|never.
echo "hacked=1" >>"$out/tftp/1234abcd/config.txt"
esc=$(printf '\033')
tty_plan() { # tty_plan ENV OPTIONS: plan on a terminal
	script -qec "env -u NO_COLOR $1 '$BRAMBLE' plan $2 --source '$W/repo' --root '$out' --set dhcp.testCommand= --set '$SECRETS'" /dev/null
}
expect_rc 2 "plan on a terminal" tty_plan "" ""
contains "$W/last.out" "${esc}[33m~ tftp       1234abcd/${esc}[0m" "a change is yellow on a terminal"
expect_rc 2 "plan piped" b plan
lacks "$W/last.out" "${esc}[" "no colour when piped"
contains "$W/last.out" "~ tftp       1234abcd/" "the same plan, plain"
expect_rc 2 "plan on a terminal with NO_COLOR" tty_plan NO_COLOR=1 ""
lacks "$W/last.out" "${esc}[" "no colour with NO_COLOR set"
expect_rc 2 "plan --color=never on a terminal" tty_plan "" --color=never
lacks "$W/last.out" "${esc}[" "no colour with --color=never"
expect_rc 2 "plan --color=always piped" b plan --color=always
contains "$W/last.out" "${esc}[33m~ tftp" "--color=always colours a pipe"
expect_rc 64 "a bad --color is a usage error" b plan --color=sometimes
expect_rc 64 "--color means nothing for status" b status --color=always

# --json: a versioned document on stdout, alone.
expect_rc 0 "validate --json" b validate --json
check "validate --json: schema, valid, counts" python3 -c "
import json; s=json.load(open('$W/last.out'))
assert s['schema'] == 'bramble/validate/v1' and s['valid'] is True and s['errors'] == [], s
assert s['counts']['nodes'] == 2 and set(s['counts']) == {'nodes', 'images', 'profiles'}, s['counts']"
expect_rc 2 "plan --json" b plan --json
check "plan --json: schema, changes, counts" python3 -c "
import json; s=json.load(open('$W/last.out'))
assert s['schema'] == 'bramble/plan/v1' and s['complete'] is True, s
c = s['changes']
assert len(c) == 1 and c[0]['op'] == 'update' and c[0]['path'] == '1234abcd' and c[0]['drift'], c
assert s['counts']['update'] == 1 and s['counts']['drift'] == 1, s['counts']"
printf 'apiVersion: bramble/v1alpha1\nkind: Profile\nmetadata: {name: bad}\nspec: {bogus: 1}\n' >"$W/repo/bad.yaml"
for cmd in validate plan; do
	expect_rc 1 "$cmd --json of an invalid revision" b $cmd --json
	check "$cmd --json: the errors with their positions" python3 -c "
import json; s=json.load(open('$W/last.out'))
e = s['errors'][0]
assert e['file'] == 'bad.yaml' and e['line'] == 4 and e['column'] > 0 and e['message'], e"
done
rm -f "$W/repo/bad.yaml"
expect_rc 0 "status --json" b status --json
check "status --json names its schema" python3 -c "
import json; assert json.load(open('$W/last.out'))['schema'] == 'bramble/status/v1'"
expect_rc 64 "apply --json is refused (no document yet), not ignored" b apply --json
contains "$W/last.err" "apply has no JSON document yet" "it says why"
expect_rc 0 "gc --dry-run --json" b gc --dry-run --json
check "gc --json names its schema" python3 -c "
import json; s=json.load(open('$W/last.out'))
assert s['schema'] == 'bramble/gc/v1' and s['dryRun'] is True and isinstance(s['attic'], list), s"
expect_rc 0 "discover --json with no boot observed yet" b discover --json
check "discover --json: observed false, no Pis" python3 -c "
import json; s=json.load(open('$W/last.out'))
assert s['schema'] == 'bramble/discover/v1' and s['observed'] is False and s['pis'] == [], s"
expect_rc 0 "images --json" b images --json
check "images --json names its schema" python3 -c "
import json; s=json.load(open('$W/last.out')); assert s['schema'] == 'bramble/images/v1' and s['images'] == [], s"
done_testing
