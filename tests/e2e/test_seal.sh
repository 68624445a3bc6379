#!/bin/bash
# The steady-state fast path (reconcilers/seal.h): a settled pass seals what
# it found; a later pass with the same inputs checks only signatures.  Every
# kind of change (drift of each kind, the repository, the image, the
# configuration) must still be seen, planned and repaired exactly as without
# a seal, and a sealed pass must report what a full one reports.
. "$(dirname "$0")/lib.sh"
setup_example
out=$W/out
seal=$out/state/seal

settle() { sleep 1.1; }
# sealed: apply twice after settling (the first seals); the second must be sealed.
sealed() {
	settle
	expect_rc 0 "$1: settling apply" b apply -v
	check "$1: the settled pass wrote a seal" test -s "$seal"
	expect_rc 0 "$1: sealed apply" b apply -v
	contains "$W/last.err" "sealed pass" "$1: the pass was a sealed one"
	contains "$W/last.out" "0 created, 0 updated, 0 deleted, $N unchanged" "$1: sealed apply reports the full count"
}

expect_rc 0 "first apply" b apply
check "no seal right after writing (racy)" test ! -e "$seal"
expect_rc 0 "immediate second apply" b apply
check "still no seal: everything changed less than a second ago" test ! -e "$seal"
full=$(b apply 2>/dev/null)
N=$(echo "$full" | sed -n 's/.* \([0-9]*\) unchanged.*/\1/p')
sealed "start"
check "a sealed pass prints what a full one prints" test "$full" = "$(b apply 2>/dev/null)"
expect_rc 0 "plan with a seal: nothing to change" b plan
contains "$W/last.out" "plan: 0 to create, 0 to update, 0 to delete, $N unchanged" "sealed plan summary"
"$BRAMBLE" status --root "$out" --json >"$W/status.json"
contains "$W/status.json" "\"unchanged\": $N" "status after a sealed pass has the counts"
contains "$W/status.json" '"status": "True"' "status after a sealed pass is Ready"

# Drift, each kind; the seal must not hide it.
printf 'hacked=1\n' >>"$out/tftp/1234abcd/config.txt"
expect_rc 2 "seal: plan sees an appended line" b plan
expect_rc 0 "seal: apply repairs it" b apply
lacks "$out/tftp/1234abcd/config.txt" "hacked=1" "appended line removed"
sealed "after append"

# Same size, same inode: only the time tells.
f=$out/tftp/2345bcde/cmdline.txt
off=$(grep -bo rootwait "$f" | head -1 | cut -d: -f1)
printf 'X' | dd of="$f" bs=1 seek=$((off + 7)) conv=notrunc status=none # in place: same inode
expect_rc 2 "seal: plan sees a same-size edit in place" b plan
expect_rc 0 "seal: apply repairs it" b apply
contains "$f" "rootwait" "same-size edit repaired"
sealed "after same-size edit"

ln -sfn /etc "$out/tftp/3456cdef"
expect_rc 2 "seal: plan sees a replaced boot link" b plan
expect_rc 0 "seal: apply repairs the link" b apply
check "link points at a generation again" test "$(readlink "$out/tftp/3456cdef" | cut -c1-10)" = ".3456cdef."
sealed "after link"

rm "$out/tftp/1234abcd/start4.elf"
expect_rc 2 "seal: plan sees a deleted hard link" b plan
expect_rc 0 "seal: apply restores it" b apply
check "hard link restored" test -f "$out/tftp/1234abcd/start4.elf"
sealed "after hard link"

rm "$out/tftp/1234abcd/overlays/vc4-kms-v3d.dtbo"
expect_rc 2 "seal: plan sees a file deleted in a subdirectory" b plan
expect_rc 0 "seal: apply restores it" b apply
sealed "after subdirectory"

chmod 0600 "$out/tftp/1234abcd/config.txt"
expect_rc 2 "seal: plan sees a file's mode changed" b plan
expect_rc 0 "seal: apply repairs it" b apply
check "file mode repaired" test "$(stat -c %a "$out/tftp/1234abcd/config.txt")" = 644
sealed "after chmod"

rm -f "$out/exports/bramble.exports"
expect_rc 2 "seal: plan sees a deleted exports file" b plan
expect_rc 0 "seal: apply restores it" b apply
check "exports file restored" test -s "$out/exports/bramble.exports"
sealed "after exports"

# Inputs: the image, the repository, the configuration.
printf 'new firmware\n' >>"$out/images/demo-os/boot/start4.elf"
expect_rc 2 "seal: plan sees a changed image file" b plan
contains "$W/last.out" "changed in the repository" "image change switches the boot trees"
expect_rc 0 "seal: apply the image change" b apply
sealed "after image"

printf 'extra\n' >"$out/images/demo-os/boot/overlays/new.dtbo"
expect_rc 2 "seal: plan sees a file added to the image" b plan
expect_rc 0 "seal: apply it" b apply
check "new image file linked" test -f "$out/tftp/1234abcd/overlays/new.dtbo"
sealed "after image add"

sed -i 's/enable_uart: 1/enable_uart: 0/' "$W/repo/profiles.yaml"
expect_rc 2 "seal: plan sees a repository change" b plan
expect_rc 0 "seal: apply it" b apply
contains "$out/tftp/1234abcd/config.txt" "enable_uart=0" "repository change applied"
sealed "after repository"

expect_rc 2 "seal: another setting is another key (full pass)" \
	"$BRAMBLE" plan --source "$W/repo" --root "$out" --set dhcp.testCommand= --set "$SECRETS" --set nfs.exportsFile="$out/exports/other.exports"
contains "$W/last.out" "other.exports" "the changed setting shows in the plan"

# A broken repository is still rejected, never reported as sealed.
printf 'kind: Node\n  bad: [\n' >"$W/repo/broken.yaml"
expect_rc 1 "seal: an invalid revision fails" b apply
rm "$W/repo/broken.yaml"
expect_rc 0 "seal: back to the sealed revision" b apply
contains "$W/last.out" "0 created, 0 updated, 0 deleted, $N unchanged" "back to the good revision: nothing to do"

# A torn or foreign seal is ignored.
settle
b apply >/dev/null 2>&1
head -c 200 "$seal" >"$seal.x" && mv "$seal.x" "$seal"
printf 'hacked=2\n' >>"$out/tftp/1234abcd/config.txt"
expect_rc 0 "seal: a torn seal means a full pass" b apply
lacks "$out/tftp/1234abcd/config.txt" "hacked=2" "torn seal: drift still repaired"

# Applies started at once take turns (a lock in the state directory).
sed -i 's/enable_uart: 0/enable_uart: 1/' "$W/repo/profiles.yaml"
pids=()
for i in 1 2 3 4; do
	b apply >"$W/par.$i" 2>&1 &
	pids+=($!)
done
rc=0
for pid in "${pids[@]}"; do wait "$pid" || rc=1; done
check "four applies at once all succeed" test "$rc" = 0
cat "$W"/par.* >"$W/par.all"
contains "$W/par.all" "2 updated" "one of them did the change"
expect_rc 0 "after them: nothing to change" b plan

# A reload that fails is remembered and retried by the next pass, even one
# that changes nothing; until then status is not Ready and nothing is sealed.
sed -i 's/ip: 10.99.0.42/ip: 10.99.0.52/' "$W/repo/nodes/pi4.yaml" # a new export
expect_rc 1 "a failing reload fails the apply" b apply --set nfs.reloadCommand=false
contains "$W/last.err" "reload NFS exports failed; it is tried again at the next pass" "it says which reload failed"
check "the failed reload is remembered" test -s "$out/state/pending-actions"
"$BRAMBLE" status --root "$out" >"$W/status.txt"
contains "$W/status.txt" "reload NFS exports failed" "status shows the failed reload"
expect_rc 2 "plan: the reload is still to do" b plan --set nfs.reloadCommand=false
contains "$W/last.out" "retrying a reload that failed" "plan says the reload is retried"
settle
rm -f "$W/reloaded"
expect_rc 0 "the next pass retries it, with nothing else to change" b apply --set nfs.reloadCommand="touch $W/reloaded"
check "the reload ran" test -e "$W/reloaded"
check "nothing is pending any more" test ! -e "$out/state/pending-actions"

# A node removed: a temp of its boot link that a dead pass left goes with it;
# a file that only looks like one is not bramble's and stays.
ln -s .3456cdef.0000000000000000 "$out/tftp/.3456cdef.bramble-tmp"
printf 'x' >"$out/tftp/.other.bramble-tmp"
rm "$W/repo/nodes/pi5.yaml"
expect_rc 0 "the node's removal applies" b apply --set nfs.reloadCommand=true
check "its boot link is gone" test ! -e "$out/tftp/3456cdef" -a ! -L "$out/tftp/3456cdef"
check "the dead pass's temp of it is gone" test ! -L "$out/tftp/.3456cdef.bramble-tmp"
check "a temp-like file of no resource stays" test -f "$out/tftp/.other.bramble-tmp"

done_testing
