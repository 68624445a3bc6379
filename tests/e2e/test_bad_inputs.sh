#!/bin/bash
# Every bad input of the corpus (tests/bad/cases) is rejected by `bramble apply`
# with the expected file:line:col, and the output tree is byte-for-byte what
# the last good revision left.
. "$(dirname "$0")/lib.sh"
base=$SRC/tests/bad/base
out=$W/out
sh "$SRC/scripts/make-demo-image.sh" "$out/images/demo-os" >/dev/null
expect_rc 0 "the base repository applies" "$BRAMBLE" apply --source "$base" --root "$out" --set dhcp.testCommand=
good=$(snapshot "$out")

run_case() {
	local name=$1 repo=$2 expect=$3 line want
	expect_rc 1 "$name: rejected" "$BRAMBLE" apply --source "$repo" --root "$out" --set dhcp.testCommand=
	while IFS= read -r line; do
		want=${line#*expect: }
		# "file:line:col: substring": the position must match exactly, the message by substring
		local pos=${want%%: *} msg=${want#*: }
		if grep -F -- "$pos: " "$W/last.err" | grep -qF -- "$msg"; then
			ok "$name: reports $pos"
		else
			not_ok "$name: expected \"$want\""
			sed 's/^/    | /' "$W/last.err" | head -10
		fi
	done < <(grep '^# expect: ' "$expect")
	if [ "$(snapshot "$out")" = "$good" ]; then ok "$name: output unchanged"; else not_ok "$name: output changed"; fi
}

n=0
for c in "$SRC"/tests/bad/cases/*; do
	name=$(basename "$c")
	rm -rf "$W/repo"
	if [ -d "$c" ]; then
		cp -r "$c" "$W/repo"
		rm -f "$W/repo/expect"
		run_case "$name" "$W/repo" "$c/expect"
	else
		cp -r "$base" "$W/repo"
		cp "$c" "$W/repo/"
		run_case "$name" "$W/repo" "$c"
	fi
	n=$((n + 1))
done
check "the corpus has at least 30 cases ($n)" test "$n" -ge 30

# A file past the size limit (generated: too big to commit).
rm -rf "$W/repo"; cp -r "$base" "$W/repo"
{ echo "# expect: huge.yaml:1:1: larger than"; } >"$W/huge.expect"
python3 -c "
import sys
sys.stdout.write('# ' + 'x' * (9 << 20) + '\n')" >"$W/repo/huge.yaml"
run_case "oversized-file" "$W/repo" "$W/huge.expect"
done_testing
