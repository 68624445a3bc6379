#!/bin/bash
# bramble's own state files (state/: inventory.d/<shard>, pending-actions,
# nfs-export-ids, seal) are read by one checked parser: a damaged line is
# refused with the file, the line, what was expected and what to do, never
# an errno; a damaged seal (a cache) is ignored and the pass runs in full;
# a temp a dead writer left is removed by the next pass.
. "$(dirname "$0")/lib.sh"
setup_example
st=$W/out/state

expect_rc 0 "first apply" b apply
shard=$(cd "$st/inventory.d" && grep -l '^F' ./* | head -1)
shard=${shard#./}
check "an inventory shard with a file in it" test -n "$shard"
cp "$st/inventory.d/$shard" "$W/shard.good"

# The inode (6th field) of the second line of the shard: a word.
awk -F'\t' 'BEGIN { OFS = "\t" } NR == 2 { $6 = "x" } { print }' "$W/shard.good" \
	>"$st/inventory.d/$shard"
expect_rc 1 "a damaged inventory shard fails the plan" b plan
contains "$W/last.err" "inventory.d/$shard:2: bad inode \"x\": expected a decimal number" \
	"the message names the file, the line and what was expected"
contains "$W/last.err" "bramble apply --adopt" "the message says what to do"
lacks "$W/last.err" "Invalid argument" "no bare errno"
expect_rc 1 "and the apply" b apply
contains "$W/last.err" "inventory.d/$shard:2: bad inode" "apply names the line too"
# Too few fields, a bad mode, a path out of the root.
printf '# bramble inventory 1\nF\t0\t644\n' >"$st/inventory.d/$shard"
expect_rc 1 "a short line" b plan
contains "$W/last.err" "inventory.d/$shard:2: 3 fields: expected 12 or 13" "short line named"
awk -F'\t' 'BEGIN { OFS = "\t" } NR == 2 { $3 = "9z" } { print }' "$W/shard.good" \
	>"$st/inventory.d/$shard"
expect_rc 1 "a bad mode" b plan
contains "$W/last.err" "bad mode \"9z\": expected an octal number" "bad mode named"
awk -F'\t' 'BEGIN { OFS = "\t" } NR == 2 { $4 = "../etc/passwd" } { print }' "$W/shard.good" \
	>"$st/inventory.d/$shard"
expect_rc 1 "a path leaving the root" b plan
contains "$W/last.err" "bad path \"../etc/passwd\"" "bad path named"
# What the message says to do works.
mv "$st/inventory.d/$shard" "$W/shard.bad"
expect_rc 0 "the shard moved away: apply --adopt" b apply --adopt
expect_rc 0 "then a plan" b plan
contains "$W/last.out" "0 to create, 0 to update, 0 to delete" "nothing left to do"

# A node-root record (state/roots/<root>): read when the inventory does not
# vouch for the root (here: no inventory); a bad number names its line.
rec=$(cd "$st/roots" && ls | head -1)
check "a node-root record" test -n "$rec"
cp "$st/roots/$rec" "$W/rec.good"
mv "$st/inventory.d" "$W/inventory.good"
sed -i 's/^ino .*/ino 12x/' "$st/roots/$rec"
line=$(grep -n '^ino ' "$st/roots/$rec" | cut -d: -f1)
expect_rc 1 "a damaged node-root record fails the plan" b plan
contains "$W/last.err" "roots/$rec:$line: bad ino \"12x\": expected a decimal number" \
	"the message names the record, the line and what was expected"
contains "$W/last.err" "bramble apply --adopt" "the message says what to do"
lacks "$W/last.err" "Invalid argument" "no bare errno"
sed -i 's/^ino .*/ino 1\nshared 1/' "$st/roots/$rec"
expect_rc 1 "a flag with a value" b plan
contains "$W/last.err" "roots/$rec:$((line + 1)): \"shared\" with a value" "the flag named"
cp "$W/rec.good" "$st/roots/$rec"
rm -rf "$st/inventory.d"
mv "$W/inventory.good" "$st/inventory.d"
expect_rc 0 "the record back: a plan" b plan

# nfs-export-ids (written when exports need ids): a bad id.
[ -e "$st/nfs-export-ids" ] && cp "$st/nfs-export-ids" "$W/ids.good"
printf 'nodes/a 3\nnodes/b 7x\n' >"$st/nfs-export-ids"
expect_rc 1 "a damaged export id fails the pass" b plan
contains "$W/last.err" "nfs-export-ids:2: bad export id \"7x\": expected a decimal number" \
	"the export ids' message"
printf 'nodes/a 1\n' >"$st/nfs-export-ids"
expect_rc 1 "an export id out of range" b plan
contains "$W/last.err" "nfs-export-ids:1: bad export id \"1\": expected 2 to 65535" "range named"
rm "$st/nfs-export-ids"
[ -e "$W/ids.good" ] && cp "$W/ids.good" "$st/nfs-export-ids"

# pending-actions: read as everything owed (the reloads run again), loudly.
printf 'lots\n' >"$st/pending-actions"
expect_rc 0 "a damaged pending-actions record: the pass runs" b apply
contains "$W/last.err" "pending-actions:1: bad actions \"lots\": expected a decimal number" \
	"the pending-actions message"
check "the record is cleared by the pass" test ! -e "$st/pending-actions"

# The seal is a cache: a damaged one is ignored, and the pass runs in full.
sleep 1.1
expect_rc 0 "settling apply" b apply
expect_rc 0 "settled apply (seals)" b apply
check "a seal" test -s "$st/seal"
sed -i '5s/^/garbage /' "$st/seal"
expect_rc 0 "a damaged seal: the pass still runs" b apply -v
lacks "$W/last.err" "sealed pass" "and it is a full pass"
contains "$W/last.err" "a full pass: the seal is damaged: seal:5: bad entry \"garbage " \
	"the log says where the seal is damaged"

# A temp of a writer that died (a pid that is not running) goes with the next
# full pass (a sealed one touches nothing).
rm "$st/seal"
touch "$st/.status.json.2147483646.tmp"
expect_rc 0 "apply after a dead writer" b apply
check "its temp in state/ is removed" test ! -e "$st/.status.json.2147483646.tmp"
check "no temp of this pass stays" test -z "$(find "$st" -maxdepth 1 -name ".*.tmp" ! -name '.status.json.2147483646.tmp')"

# status.json that is JSON but not an object (found by fuzz_status: its nodes
# were set into it, freed, then read): refused by name, and the next pass
# writes it again.
cp "$st/status.json" "$W/status.good"
printf '[] ' >"$st/status.json"
expect_rc 1 "status of a status.json that is not an object" b status
contains "$W/last.err" "status.json is damaged (not a JSON object)" "status says it is damaged"
expect_rc 1 "status --json of it" b status --json
expect_rc 0 "apply writes it again" b apply
expect_rc 0 "then status reads it" b status
done_testing
