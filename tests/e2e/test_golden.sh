#!/bin/bash
# Golden rendering: each manifest set under tests/golden/cases/ renders
# exactly tests/golden/expected/<case>.txt.  After a deliberate change of the
# output, refresh with: sh tests/golden/refresh.sh (and review the diff).
. "$(dirname "$0")/lib.sh"
for case in "$SRC"/tests/golden/cases/*/; do
	name=$(basename "$case")
	rm -rf "$W/out" "$W/case"
	sh "$SRC/scripts/make-demo-image.sh" "$W/out/images/demo-os" >/dev/null
	sh "$SRC/tests/golden/secrets.sh" "$case" "$W/case"
	"$BRAMBLE" apply --source "$W/case" --root "$W/out" --set dhcp.testCommand= \
		--set paths.secretsDir="$W/case.secrets" -q >/dev/null 2>"$W/err"
	python3 "$SRC/tests/golden/dump-tree.py" "$W/out" >"$W/$name.txt"
	if diff -u "$SRC/tests/golden/expected/$name.txt" "$W/$name.txt" >"$W/diff"; then
		ok "golden $name"
	else
		not_ok "golden $name differs (refresh: sh tests/golden/refresh.sh)"
		head -60 "$W/diff" | sed 's/^/    | /'
		sed 's/^/    | /' "$W/err"
	fi
done
done_testing
